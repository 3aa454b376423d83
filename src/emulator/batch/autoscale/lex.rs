//! Tokens of the autoscale formula language, each with the line and column it starts at
//! (1-based, as the service's messages count them).

use super::FormulaError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Num(f64),
    Str(String),
    /// A name, with its `$` if it has one.
    Name(String),
    Punct(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    pub col: u32,
}

const PUNCTS: [&str; 21] = [
    "&&", "||", "<=", ">=", "==", "!=", "(", ")", ",", ";", ".", "=", "+", "-", "*", "/", "<", ">",
    "!", "?", ":",
];

/// Splits a formula into tokens; `//` and `/* */` comments and all whitespace are skipped.
pub fn lex(src: &str) -> Result<Vec<Token>, FormulaError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let advance = |i: &mut usize, line: &mut u32, col: &mut u32, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let (l, co) = (line, col);
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            advance(&mut i, &mut line, &mut col, 2);
            loop {
                if i >= chars.len() {
                    return Err(FormulaError::at(l, co, "unterminated comment"));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    advance(&mut i, &mut line, &mut col, 2);
                    break;
                }
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                advance(&mut i, &mut line, &mut col, 1);
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if matches!(chars.get(j), Some('+' | '-')) {
                    j += 1;
                }
                if chars.get(j).is_some_and(char::is_ascii_digit) {
                    let n = j - i;
                    advance(&mut i, &mut line, &mut col, n);
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        advance(&mut i, &mut line, &mut col, 1);
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let n: f64 = text
                .parse()
                .map_err(|_| FormulaError::at(l, co, &format!("invalid number '{text}'")))?;
            out.push(Token {
                tok: Tok::Num(n),
                line: l,
                col: co,
            });
            continue;
        }
        if c == '$' || c == '_' || c.is_alphabetic() {
            let start = i;
            advance(&mut i, &mut line, &mut col, 1);
            while i < chars.len() && (chars[i] == '_' || chars[i].is_alphanumeric()) {
                advance(&mut i, &mut line, &mut col, 1);
            }
            let name: String = chars[start..i].iter().collect();
            if name == "$" {
                return Err(FormulaError::at(l, co, "'$' must start a variable name"));
            }
            out.push(Token {
                tok: Tok::Name(name),
                line: l,
                col: co,
            });
            continue;
        }
        if c == '"' || c == '\'' {
            advance(&mut i, &mut line, &mut col, 1);
            let start = i;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\n' {
                    return Err(FormulaError::at(l, co, "unterminated string"));
                }
                advance(&mut i, &mut line, &mut col, 1);
            }
            if i >= chars.len() {
                return Err(FormulaError::at(l, co, "unterminated string"));
            }
            let s: String = chars[start..i].iter().collect();
            advance(&mut i, &mut line, &mut col, 1);
            out.push(Token {
                tok: Tok::Str(s),
                line: l,
                col: co,
            });
            continue;
        }
        let rest: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) else {
            return Err(FormulaError::at(
                l,
                co,
                &format!("unexpected character '{c}'"),
            ));
        };
        advance(&mut i, &mut line, &mut col, p.len());
        out.push(Token {
            tok: Tok::Punct(p),
            line: l,
            col: co,
        });
    }
    Ok(out)
}
