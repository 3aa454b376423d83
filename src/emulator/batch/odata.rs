//! The OData subset Batch list operations take: `$filter` (comparisons, `and`/`or`/`not`,
//! parentheses, `startswith`), `$select`, and `maxresults` paging with `$skiptoken`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A property path: `state`, `executionInfo/exitCode`.
    Path(Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Cmp(Operand, Op, Operand),
    StartsWith(Operand, Operand),
    /// `a and b and ...`: one node however long the chain, so that nothing recurses along it.
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

/// How deep `not` and parentheses may nest. Deeper filters are refused: parsing and
/// evaluating recurse once per level, and a `$filter` of thousands of `(` would otherwise
/// overflow the stack of the thread serving the request and abort the emulator.
pub const MAX_NESTING: usize = 100;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Time(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FilterError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let (lit, next) = quoted(&chars, i)?;
                out.push(Tok::Str(lit));
                i = next;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse::<f64>()
                    .map_err(|_| FilterError(format!("bad number {text:?}")))?;
                out.push(Tok::Num(n));
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '/' | '.' | '$'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word.eq_ignore_ascii_case("datetime") && chars.get(i) == Some(&'\'') {
                    let (lit, next) = quoted(&chars, i)?;
                    out.push(Tok::Time(lit));
                    i = next;
                } else {
                    out.push(Tok::Ident(word));
                }
            }
            other => return Err(FilterError(format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}

/// Reads a `'...'` literal starting at `chars[i]` (`''` is a quote); returns it and the next index.
fn quoted(chars: &[char], mut i: usize) -> Result<(String, usize), FilterError> {
    i += 1;
    let mut lit = String::new();
    loop {
        match chars.get(i) {
            None => return Err(FilterError("unterminated string literal".into())),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                lit.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((lit, i + 1)),
            Some(c) => {
                lit.push(*c);
                i += 1;
            }
        }
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// `not`s and parentheses open around the current position.
    depth: usize,
}

/// `terms` joined by `and`/`or` (`many`), or the single term itself.
fn chain(mut terms: Vec<Filter>, many: fn(Vec<Filter>) -> Filter) -> Filter {
    if terms.len() == 1 {
        terms.swap_remove(0)
    } else {
        many(terms)
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, t: Tok) -> Result<(), FilterError> {
        match self.next() {
            Some(got) if got == t => Ok(()),
            got => Err(FilterError(format!("expected {t:?}, found {got:?}"))),
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut terms = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            terms.push(self.and()?);
        }
        Ok(chain(terms, Filter::Or))
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut terms = vec![self.unary()?];
        while self.keyword("and") {
            self.pos += 1;
            terms.push(self.unary()?);
        }
        Ok(chain(terms, Filter::And))
    }

    /// Enters one more level of `not` or parentheses.
    fn nest(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(FilterError(format!(
                "the filter nests not and parentheses more than {MAX_NESTING} deep"
            )));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            self.pos += 1;
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            self.nest()?;
            let inner = self.or()?;
            self.expect(Tok::RParen)?;
            self.depth -= 1;
            return Ok(inner);
        }
        if self.keyword("startswith") {
            self.pos += 1;
            self.expect(Tok::LParen)?;
            let a = self.operand()?;
            self.expect(Tok::Comma)?;
            let b = self.operand()?;
            self.expect(Tok::RParen)?;
            return Ok(Filter::StartsWith(a, b));
        }
        let left = self.operand()?;
        let op = match self.next() {
            Some(Tok::Ident(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                _ => return Err(FilterError(format!("unknown operator {w:?}"))),
            },
            other => {
                return Err(FilterError(format!(
                    "expected an operator, found {other:?}"
                )));
            }
        };
        let right = self.operand()?;
        Ok(Filter::Cmp(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, FilterError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Str(s)),
            Some(Tok::Num(n)) => Ok(Operand::Num(n)),
            Some(Tok::Time(s)) => parse_time(&s)
                .map(Operand::Time)
                .ok_or_else(|| FilterError(format!("bad datetime literal {s:?}"))),
            Some(Tok::Ident(w)) => Ok(match w.to_ascii_lowercase().as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "null" => Operand::Null,
                _ => Operand::Path(w.split('/').map(str::to_string).collect()),
            }),
            other => Err(FilterError(format!("expected a value, found {other:?}"))),
        }
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses a `$filter` expression.
pub fn parse_filter(s: &str) -> Result<Filter, FilterError> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(FilterError("empty filter".into()));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let f = p.or()?;
    if p.pos != p.toks.len() {
        return Err(FilterError(format!(
            "unexpected {:?} after the expression",
            p.peek()
        )));
    }
    Ok(f)
}

/// A property of `v` by OData path; names match case-insensitively, as the service's do.
fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        let obj = cur.as_object()?;
        cur = obj.get(seg).or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                .map(|x| x.1)
        })?;
    }
    Some(cur)
}

fn resolve(o: &Operand, v: &Value) -> Operand {
    match o {
        Operand::Path(p) => match lookup(v, p) {
            None | Some(Value::Null) => Operand::Null,
            Some(Value::String(s)) => match parse_time(s) {
                Some(t) if s.len() >= 20 && s.contains('T') => Operand::Time(t),
                _ => Operand::Str(s.clone()),
            },
            Some(Value::Number(n)) => Operand::Num(n.as_f64().unwrap_or(0.0)),
            Some(Value::Bool(b)) => Operand::Bool(*b),
            Some(other) => Operand::Str(other.to_string()),
        },
        other => other.clone(),
    }
}

fn compare(a: &Operand, b: &Operand) -> Option<std::cmp::Ordering> {
    use Operand::*;
    match (a, b) {
        (Str(x), Str(y)) => Some(x.cmp(y)),
        (Num(x), Num(y)) => x.partial_cmp(y),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Time(x), Time(y)) => Some(x.cmp(y)),
        (Time(x), Str(y)) | (Str(y), Time(x)) => {
            let y = parse_time(y)?;
            let o = x.cmp(&y);
            Some(if matches!(a, Time(_)) { o } else { o.reverse() })
        }
        (Null, Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

impl Filter {
    /// Whether the JSON entity `v` passes the filter.
    pub fn matches(&self, v: &Value) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(v)),
            Filter::Or(any) => any.iter().any(|f| f.matches(v)),
            Filter::Not(a) => !a.matches(v),
            Filter::StartsWith(a, b) => match (resolve(a, v), resolve(b, v)) {
                (Operand::Str(x), Operand::Str(y)) => x.starts_with(&y),
                _ => false,
            },
            Filter::Cmp(a, op, b) => {
                let ord = compare(&resolve(a, v), &resolve(b, v));
                match (op, ord) {
                    (Op::Eq, Some(o)) => o == Equal,
                    (Op::Ne, Some(o)) => o != Equal,
                    (Op::Ne, None) => true,
                    (Op::Gt, Some(o)) => o == Greater,
                    (Op::Ge, Some(o)) => o != Less,
                    (Op::Lt, Some(o)) => o == Less,
                    (Op::Le, Some(o)) => o != Greater,
                    _ => false,
                }
            }
        }
    }
}

/// Keeps only the `$select`ed top-level properties of an entity.
pub fn select(v: Value, select: Option<&[String]>) -> Value {
    let Some(names) = select else { return v };
    match v {
        Value::Object(obj) => {
            let kept: Map<String, Value> = obj
                .into_iter()
                .filter(|(k, _)| names.iter().any(|n| n.eq_ignore_ascii_case(k)))
                .collect();
            Value::Object(kept)
        }
        other => other,
    }
}

/// Splits `$select=id,state` into names.
pub fn parse_select(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// One page of `items` (in key order) that `keep` keeps: those after `skip_token`, at most
/// `max`; returns them and the key to continue after, if more remain. Lazy: it stops taking
/// (and so rendering) items once the page is full and one more is known, so that a page of a
/// job of 100,000 tasks costs a page, not the job.
pub fn page<T>(
    items: impl IntoIterator<Item = (String, T)>,
    skip_token: Option<&str>,
    max: usize,
    mut keep: impl FnMut(&T) -> bool,
) -> (Vec<T>, Option<String>) {
    let mut out: Vec<(String, T)> = Vec::new();
    let mut more = false;
    for (k, v) in items {
        if skip_token.is_some_and(|s| k.as_str() <= s) || !keep(&v) {
            continue;
        }
        if out.len() == max {
            more = true;
            break;
        }
        out.push((k, v));
    }
    let next = if more {
        out.last().map(|(k, _)| k.clone())
    } else {
        None
    };
    (out.into_iter().map(|(_, v)| v).collect(), next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(filter: &str, v: &Value) -> bool {
        parse_filter(filter).unwrap().matches(v)
    }

    #[test]
    fn state_equality_and_combinations() {
        let done = json!({"id": "t1", "state": "completed", "executionInfo": {"exitCode": 3}});
        let run = json!({"id": "t2", "state": "running"});
        assert!(m("state eq 'completed'", &done));
        assert!(!m("state eq 'completed'", &run));
        assert!(m("state ne 'completed'", &run));
        assert!(m("state eq 'running' or state eq 'completed'", &done));
        assert!(m(
            "(state eq 'completed') and executionInfo/exitCode gt 0",
            &done
        ));
        assert!(!m(
            "state eq 'completed' and executionInfo/exitCode eq 0",
            &done
        ));
        assert!(m("not (state eq 'running')", &done));
        assert!(m("startswith(id, 't')", &run));
        assert!(m("id ge 'a+b'", &run));
        assert!(m("executionInfo/exitCode eq null", &run));
    }

    #[test]
    fn datetimes_and_quotes() {
        let v = json!({"id": "it's", "creationTime": "2024-10-24T01:15:18.9955081Z"});
        assert!(m("creationTime gt datetime'2024-01-01T00:00:00Z'", &v));
        assert!(!m("creationTime lt datetime'2024-01-01T00:00:00Z'", &v));
        assert!(m("id eq 'it''s'", &v));
    }

    #[test]
    fn bad_filters_are_rejected() {
        assert!(parse_filter("state eq").is_err());
        assert!(parse_filter("state is 'x'").is_err());
        assert!(parse_filter("state eq 'x").is_err());
        assert!(parse_filter("(state eq 'x'").is_err());
        assert!(parse_filter("").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_and_long_chains_are_flat() {
        let deep = |n: usize| format!("{}id eq 'a'{}", "(".repeat(n), ")".repeat(n));
        assert!(parse_filter(&deep(MAX_NESTING)).is_ok());
        let e = parse_filter(&deep(MAX_NESTING + 1)).unwrap_err();
        assert!(e.0.contains("deep"), "{e}");
        assert!(parse_filter(&"(".repeat(100_000)).is_err());
        assert!(parse_filter(&"not ".repeat(100_000)).is_err());
        let long = vec!["id eq 'b'"; 20_000].join(" or ") + " or id eq 'a'";
        assert!(m(&long, &json!({"id": "a"})));
        assert!(matches!(parse_filter(&long).unwrap(), Filter::Or(v) if v.len() == 20_001));
    }

    #[test]
    fn select_keeps_named_properties() {
        let v = json!({"id": "a", "state": "active", "url": "u"});
        let s = parse_select("id, state");
        assert_eq!(select(v, Some(&s)), json!({"id": "a", "state": "active"}));
    }

    #[test]
    fn paging_continues_after_the_token() {
        let items: Vec<(String, u32)> = (0..5).map(|i| (format!("k{i}"), i)).collect();
        let (p1, next) = page(items.clone(), None, 2, |_| true);
        assert_eq!(p1, vec![0, 1]);
        assert_eq!(next.as_deref(), Some("k1"));
        let (p2, next) = page(items.clone(), next.as_deref(), 2, |_| true);
        assert_eq!(p2, vec![2, 3]);
        let (p3, next) = page(items.clone(), next.as_deref(), 2, |_| true);
        assert_eq!(p3, vec![4]);
        assert_eq!(next, None);
        // Filtered lazily: what is left out does not count; nothing past the page is taken.
        let (odd, next) = page(items.clone(), None, 1, |v| v % 2 == 1);
        assert_eq!((odd, next.as_deref()), (vec![1], Some("k1")));
        let mut taken = 0;
        let counted = items.into_iter().inspect(|_| taken += 1);
        page(counted, None, 2, |_| true);
        assert_eq!(taken, 3, "two for the page, one to know there is more");
    }
}
