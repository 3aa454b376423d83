//! Workload files: a TOML description of the pool, the job, the tasks (one by one, or one per
//! input file of a glob) and where files go, read into a [`WorkloadSpec`]. Everything is
//! checked before anything is created, and every error names the file, the line and the
//! column, and what to fix (an unknown key with the nearest known one).

mod deps;
mod files;
pub mod init;
mod inputs;
pub mod raw;
mod resolve;
pub mod template;

use std::ops::Range;
use std::path::Path;

use crate::workflow::spec::{SpecError, WorkloadOverrides, WorkloadSpec};

/// Reads and resolves the workload file at `path`: its relative paths are relative to its
/// directory.
pub fn load(path: &Path, overrides: &WorkloadOverrides) -> Result<WorkloadSpec, SpecError> {
    let bytes = std::fs::read(path).map_err(|e| {
        SpecError(format!(
            "workload file {}: {e}; pass the path of a workload file (`batchdeck init` writes one)",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        SpecError(format!(
            "workload file {} is not UTF-8 text (invalid byte at offset {}): save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let base = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    resolve(&text, &path.display().to_string(), base, overrides)
}

/// Resolves a workload's text; `origin` names it in errors, `base` is the directory its
/// relative paths start from.
pub fn resolve(
    text: &str,
    origin: &str,
    base: &Path,
    overrides: &WorkloadOverrides,
) -> Result<WorkloadSpec, SpecError> {
    let src = Source { text, origin };
    let raw: raw::RawWorkload = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
    resolve::Resolver::new(&src, base, overrides).run(raw)
}

/// The text of a workload and its name, to point at places in it.
pub(crate) struct Source<'a> {
    pub text: &'a str,
    pub origin: &'a str,
}

impl Source<'_> {
    /// `origin:line:column` of a byte offset (columns count characters, from 1).
    pub fn position(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{col}", self.origin)
    }

    /// An error at the start of `span`.
    pub fn err(&self, span: &Range<usize>, message: impl std::fmt::Display) -> SpecError {
        SpecError(format!("{}: {message}", self.position(span.start)))
    }

    /// An error at byte `offset` of the string value written at `span` (exact when the value
    /// is written without escapes before that point, else at the value's start).
    pub fn err_in(
        &self,
        span: &Range<usize>,
        value: &str,
        offset: usize,
        message: impl std::fmt::Display,
    ) -> SpecError {
        let written = self.text.get(span.clone()).unwrap_or("");
        let quote = if written.starts_with("\"\"\"") || written.starts_with("'''") {
            3
        } else if written.starts_with(['"', '\'']) {
            1
        } else {
            0
        };
        let at = match value.get(..offset) {
            Some(prefix) if quote > 0 && written[quote..].starts_with(prefix) => {
                span.start + quote + offset
            }
            _ => span.start,
        };
        SpecError(format!("{}: {message}", self.position(at)))
    }

    /// A TOML or shape error as one line: where, what, and what to fix.
    fn toml_error(&self, e: &toml::de::Error) -> SpecError {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        let place = key_path_at(self.text, at);
        let msg = e.message().trim().replace('\n', " ");
        let text = if toml::de::DeTable::parse(self.text).is_err() {
            format!("invalid TOML: {msg}")
        } else if let Some((field, known)) = parse_unknown_field(&msg) {
            let table = describe_table(place.as_deref().map(parent_path).unwrap_or(""));
            match nearest(&field, &known) {
                Some(best) => format!(
                    "unknown key `{field}` in {table}: did you mean `{best}`? (keys there: {})",
                    known.join(", ")
                ),
                None if known.is_empty() => {
                    format!("unknown key `{field}` in {table}: it takes no keys")
                }
                None => format!(
                    "unknown key `{field}` in {table}: use one of {}",
                    known.join(", ")
                ),
            }
        } else if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            let table = describe_table(place.as_deref().unwrap_or(""));
            let add = match (place.as_deref().unwrap_or(""), field) {
                ("", "pool" | "job") => format!("add a [{field}] table with its id"),
                _ => format!("add {field} = ..."),
            };
            format!("{table} has no `{field}`: {add} (see the README's Workload files)")
        } else if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
            let what = place
                .as_deref()
                .map(|p| format!("`{p}`: "))
                .unwrap_or_default();
            format!("{what}{}", plain_types(&msg))
        } else {
            let what = place
                .as_deref()
                .map(|p| format!("`{p}`: "))
                .unwrap_or_default();
            format!("{what}{msg}")
        };
        SpecError(format!("{}: {text}", self.position(at)))
    }
}

/// `unknown field `x`, expected one of `a`, `b`` -> (x, [a, b]).
fn parse_unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let known = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((field.to_string(), known))
}

/// The nearest of `known` to `word`, if any is near enough to be what was meant.
pub(crate) fn nearest<'a>(word: &str, known: &'a [String]) -> Option<&'a str> {
    let edits = (word.chars().count() / 4).max(1);
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(word, k), k))
        .filter(|(score, k)| *score >= 0.75 || strsim::damerau_levenshtein(word, k) <= edits)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.as_str())
}

/// Serde's type names in words a workload's author knows.
fn plain_types(msg: &str) -> String {
    let mut s = msg.to_string();
    for (from, to) in [
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected i32", "expected a whole number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array [...]"),
        ("expected a map", "expected a table"),
        (
            "expected a tuple of size 2",
            "expected an array of two numbers, [first, last]",
        ),
    ] {
        s = s.replace(from, to);
    }
    if let Some(i) = s.find("expected struct ") {
        s = format!("{}expected a table", &s[..i]);
    }
    s
}

fn parent_path(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(p, _)| p)
}

/// How a table is named in messages: `[pool]`, `[[tasks]] #2`, the top level.
fn describe_table(path: &str) -> String {
    if path.is_empty() {
        return "the top level".into();
    }
    // tasks[1].outputs[0] -> [[tasks]] #2, outputs #1
    let mut out = Vec::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((name, idx)) => {
                let n: usize = idx.trim_end_matches(']').parse().unwrap_or(0);
                if out.is_empty() {
                    out.push(format!("[[{name}]] #{}", n + 1));
                } else {
                    out.push(format!("{name} #{}", n + 1));
                }
            }
            None if out.is_empty() => out.push(format!("[{part}]")),
            None => out.push(part.to_string()),
        }
    }
    out.join(" ")
}

/// The dotted path of the key or value at byte `at` (`pool.vm_size`, `tasks[1].outputs[0]`),
/// if the text is valid TOML.
fn key_path_at(text: &str, at: usize) -> Option<String> {
    let table = toml::de::DeTable::parse(text).ok()?;
    let mut path = String::new();
    walk_table(table.get_ref(), at, &mut path).then_some(path)
}

fn walk_table(t: &toml::de::DeTable<'_>, at: usize, path: &mut String) -> bool {
    for (k, v) in t {
        let hit_key = k.span().contains(&at);
        let hit_value = v.span().contains(&at);
        if hit_key || hit_value || inside(v.get_ref(), at) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k.get_ref());
            if !hit_key {
                walk_value(v.get_ref(), at, path);
            }
            return true;
        }
    }
    false
}

fn walk_value(v: &toml::de::DeValue<'_>, at: usize, path: &mut String) {
    match v {
        toml::de::DeValue::Table(t) => {
            walk_table(t, at, path);
        }
        toml::de::DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                if item.span().contains(&at) || inside(item.get_ref(), at) {
                    path.push_str(&format!("[{i}]"));
                    walk_value(item.get_ref(), at, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Whether any key or value nested in `v` covers `at` (tables of `[[x]]` headers have spans
/// that do not cover their keys).
fn inside(v: &toml::de::DeValue<'_>, at: usize) -> bool {
    match v {
        toml::de::DeValue::Table(t) => t.iter().any(|(k, v)| {
            k.span().contains(&at) || v.span().contains(&at) || inside(v.get_ref(), at)
        }),
        toml::de::DeValue::Array(a) => a
            .iter()
            .any(|i| i.span().contains(&at) || inside(i.get_ref(), at)),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
