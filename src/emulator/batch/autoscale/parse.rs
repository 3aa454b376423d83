//! The formula's grammar: statements separated by `;`, each an assignment (`name = expr`) or an
//! expression (`stop()`), with C's operator precedence: `?:`, `||`, `&&`, `== !=`,
//! `< <= > >=`, `+ -`, `* /`, unary `- !`, then calls, methods (`$X.GetSample(...)`) and
//! fields (`time().hour`).

use super::FormulaError;
use super::lex::{Tok, Token};

/// Where a construct starts in the formula (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Str(String),
    Var(String, Pos),
    Unary(&'static str, Box<Expr>, Pos),
    Binary(&'static str, Box<Expr>, Box<Expr>, Pos),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>, Pos),
    Method(Box<Expr>, String, Vec<Expr>, Pos),
    Field(Box<Expr>, String, Pos),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Assign(String, Pos, Expr),
    Expr(Expr),
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
    /// Where the formula ends, for "unexpected end" errors.
    end: Pos,
}

pub fn parse(toks: Vec<Token>, end: Pos) -> Result<Vec<Stmt>, FormulaError> {
    let mut p = Parser { toks, at: 0, end };
    let mut out = Vec::new();
    loop {
        while p.eat(";") {}
        if p.peek().is_none() {
            break;
        }
        out.push(p.statement()?);
        match p.peek() {
            None => break,
            Some(t) if t.tok == Tok::Punct(";") => {}
            Some(t) => return Err(p.unexpected(t.clone())),
        }
    }
    Ok(out)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Token { tok: Tok::Punct(q), .. }) if *q == p) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn pos(&self) -> Pos {
        self.peek()
            .map(|t| Pos {
                line: t.line,
                col: t.col,
            })
            .unwrap_or(self.end)
    }

    fn unexpected(&self, t: Token) -> FormulaError {
        let what = match &t.tok {
            Tok::Num(n) => format!("unexpected number {n}"),
            Tok::Str(s) => format!("unexpected string \"{s}\""),
            Tok::Name(n) => format!("unexpected name '{n}'"),
            Tok::Punct(p) => format!("unexpected '{p}'"),
        };
        FormulaError::at(t.line, t.col, &what)
    }

    fn expect(&mut self, p: &str) -> Result<(), FormulaError> {
        if self.eat(p) {
            return Ok(());
        }
        match self.peek().cloned() {
            Some(t) => Err(FormulaError::at(
                t.line,
                t.col,
                &format!("expected '{p}' but found {}", describe(&t.tok)),
            )),
            None => Err(FormulaError::at(
                self.end.line,
                self.end.col,
                &format!("expected '{p}' but the formula ends"),
            )),
        }
    }

    fn statement(&mut self) -> Result<Stmt, FormulaError> {
        if let (
            Some(Token {
                tok: Tok::Name(n),
                line,
                col,
            }),
            Some(eq),
        ) = (self.peek().cloned(), self.toks.get(self.at + 1))
            && eq.tok == Tok::Punct("=")
        {
            self.at += 2;
            let e = self.expr()?;
            return Ok(Stmt::Assign(n, Pos { line, col }, e));
        }
        Ok(Stmt::Expr(self.expr()?))
    }

    fn expr(&mut self) -> Result<Expr, FormulaError> {
        let c = self.binary(0)?;
        if self.eat("?") {
            let a = self.expr()?;
            self.expect(":")?;
            let b = self.expr()?;
            return Ok(Expr::Ternary(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }

    /// Binary operators by precedence level, lowest first.
    fn binary(&mut self, level: usize) -> Result<Expr, FormulaError> {
        const LEVELS: [&[&str]; 6] = [
            &["||"],
            &["&&"],
            &["==", "!="],
            &["<", "<=", ">", ">="],
            &["+", "-"],
            &["*", "/"],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        loop {
            let pos = self.pos();
            let op = match self.peek() {
                Some(Token {
                    tok: Tok::Punct(p), ..
                }) if LEVELS[level].contains(p) => *p,
                _ => return Ok(left),
            };
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right), pos);
        }
    }

    fn unary(&mut self) -> Result<Expr, FormulaError> {
        let pos = self.pos();
        for op in ["-", "!", "+"] {
            if self.eat(op) {
                let e = self.unary()?;
                return Ok(if op == "+" {
                    e
                } else {
                    Expr::Unary(op, Box::new(e), pos)
                });
            }
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, FormulaError> {
        let mut e = self.primary()?;
        while self.eat(".") {
            let pos = self.pos();
            let name = match self.next() {
                Some(Token {
                    tok: Tok::Name(n), ..
                }) if !n.starts_with('$') => n,
                Some(t) => return Err(self.unexpected(t)),
                None => return Err(self.ended()),
            };
            if self.eat("(") {
                let args = self.args()?;
                e = Expr::Method(Box::new(e), name, args, pos);
            } else {
                e = Expr::Field(Box::new(e), name, pos);
            }
        }
        Ok(e)
    }

    fn args(&mut self) -> Result<Vec<Expr>, FormulaError> {
        let mut args = Vec::new();
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn ended(&self) -> FormulaError {
        FormulaError::at(self.end.line, self.end.col, "unexpected end of formula")
    }

    fn primary(&mut self) -> Result<Expr, FormulaError> {
        let Some(t) = self.next() else {
            return Err(self.ended());
        };
        let pos = Pos {
            line: t.line,
            col: t.col,
        };
        match t.tok {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Name(n) => {
                if !n.starts_with('$') && self.eat("(") {
                    let args = self.args()?;
                    Ok(Expr::Call(n, args, pos))
                } else {
                    Ok(Expr::Var(n, pos))
                }
            }
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Punct(_) => Err(self.unexpected(t)),
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Str(s) => format!("string \"{s}\""),
        Tok::Name(n) => format!("'{n}'"),
        Tok::Punct(p) => format!("'{p}'"),
    }
}
