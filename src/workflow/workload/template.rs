//! Templates: `{name}` placeholders in a workload's strings. `{{` and `}}` stand for braces;
//! `${...}` is left to the shell (so `${AZ_BATCH_NODE_SHARED_DIR}` passes through).

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(std::borrow::Cow<'a, str>),
    /// A placeholder's name, and the byte offset of its `{` in the template.
    Placeholder(&'a str, usize),
}

/// Why a template cannot be read: the byte offset and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// Splits a template into text and placeholders.
pub fn parse(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut text = String::new();
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                text.push('{');
                i += 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                text.push('}');
                i += 2;
            }
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                // A shell parameter expansion: copied as it is, up to its closing brace.
                let end = template[i..]
                    .find('}')
                    .map(|e| i + e + 1)
                    .ok_or(TemplateError {
                        offset: i,
                        message: "\"${\" is not closed: close it with \"}\"".into(),
                    })?;
                text.push_str(&template[i..end]);
                i = end;
            }
            b'{' => {
                let close = template[i + 1..].find('}').map(|e| i + 1 + e);
                let name = close.map(|c| &template[i + 1..c]);
                match (close, name) {
                    (Some(c), Some(name)) if is_name(name) => {
                        if !text.is_empty() {
                            out.push(Piece::Text(std::mem::take(&mut text).into()));
                        }
                        out.push(Piece::Placeholder(name, i));
                        i = c + 1;
                    }
                    _ => {
                        return Err(TemplateError {
                            offset: i,
                            message: "\"{\" does not start a placeholder such as {stem}: write \"{{\" for a literal brace".into(),
                        });
                    }
                }
            }
            _ => {
                let next = template[i..]
                    .find(['{', '}', '$'])
                    .map(|n| if n == 0 { 1 } else { n })
                    .unwrap_or(template.len() - i);
                text.push_str(&template[i..i + next]);
                i += next;
            }
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text.into()));
    }
    Ok(out)
}

/// A placeholder name: a letter or `_`, then letters, digits and `_`.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Fills a template in; `value` answers each placeholder or says it is unknown (`Err(offset,
/// name)`).
pub fn render<'a>(
    template: &'a str,
    value: &dyn Fn(&str) -> Option<String>,
) -> Result<String, RenderError<'a>> {
    let mut out = String::with_capacity(template.len());
    for p in parse(template).map_err(RenderError::Syntax)? {
        match p {
            Piece::Text(t) => out.push_str(&t),
            Piece::Placeholder(name, offset) => match value(name) {
                Some(v) => out.push_str(&v),
                None => return Err(RenderError::Unknown { name, offset }),
            },
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError<'a> {
    Syntax(TemplateError),
    Unknown { name: &'a str, offset: usize },
}

/// Whether a template names no placeholder.
pub fn is_plain(template: &str) -> bool {
    parse(template).is_ok_and(|p| p.iter().all(|p| matches!(p, Piece::Text(_))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "stem" => Some("a".into()),
            "input" => Some("d/a.txt".into()),
            _ => None,
        }
    }

    #[test]
    fn placeholders_braces_and_shell_expansions() {
        assert_eq!(
            render("x {input} > {stem}.out", &vars).unwrap(),
            "x d/a.txt > a.out"
        );
        assert_eq!(
            render(
                "awk '{{print $1}}' ${AZ_BATCH_NODE_SHARED_DIR}/{stem}",
                &vars
            )
            .unwrap(),
            "awk '{print $1}' ${AZ_BATCH_NODE_SHARED_DIR}/a"
        );
        assert_eq!(
            render("run {stme}", &vars),
            Err(RenderError::Unknown {
                name: "stme",
                offset: 4
            })
        );
        let RenderError::Syntax(e) = render("awk '{print $1}'", &vars).unwrap_err() else {
            panic!("a syntax error")
        };
        assert_eq!(e.offset, 5);
        assert!(e.message.contains("{{"), "{}", e.message);
        assert!(render("echo ${X", &vars).is_err());
        assert!(is_plain("plain $HOME {{x}}"));
        assert!(!is_plain("{stem}"));
        assert_eq!(render("a}b", &vars).unwrap(), "a}b");
    }
}
