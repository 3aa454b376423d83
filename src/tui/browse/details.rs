//! The details view's model: an entity's properties as the service returned them (its SAS
//! signatures already redacted, see [`Properties`]), as lines: its error or failure info
//! first when it has one, then the whole JSON, pretty-printed. The lines are built once per
//! change; a frame draws only those on screen.

use serde_json::Value;

use crate::workflow::events::{Entity, Properties};

/// How a line of the details reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Heading,
    Error,
    Plain,
}

/// An entity on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Details {
    pub of: Entity,
    /// Its properties were read (`Some(false)`: it does not exist).
    pub found: Option<bool>,
    pub lines: Vec<(Tone, String)>,
    /// The first line on screen.
    pub top: usize,
    pub wrap: bool,
    /// Lines of error or failure info at the top (0 when it has none).
    pub problems: usize,
}

impl Details {
    pub fn open(of: Entity) -> Details {
        Details {
            of,
            found: None,
            lines: Vec::new(),
            top: 0,
            wrap: false,
            problems: 0,
        }
    }

    /// Its properties, read again (`None`: it is gone).
    pub fn apply(&mut self, properties: Option<&Properties>) {
        self.lines.clear();
        self.problems = 0;
        let Some(p) = properties else {
            self.found = Some(false);
            return;
        };
        self.found = Some(true);
        let json = p.json();
        let mut problems = Vec::new();
        problems_of(&self.of, json, &mut problems);
        if !problems.is_empty() {
            self.lines.push((Tone::Heading, "Errors".into()));
            self.lines
                .extend(problems.into_iter().map(|l| (Tone::Error, l)));
            self.problems = self.lines.len();
            self.lines.push((Tone::Plain, String::new()));
        }
        self.lines.push((Tone::Heading, "Properties".into()));
        let pretty = serde_json::to_string_pretty(json).unwrap_or_default();
        self.lines
            .extend(pretty.lines().map(|l| (Tone::Plain, l.to_string())));
    }

    /// Keeps the top line within what `rows` lines on screen can show.
    pub fn settle(&mut self, rows: usize) {
        self.top = self.top.min(self.lines.len().saturating_sub(rows));
    }

    /// Moves by `by` lines (clamped when settled).
    pub fn scroll(&mut self, by: isize) {
        self.top = self.top.saturating_add_signed(by);
    }
}

/// The error or failure info of an entity, one line each (a detail indented under its error).
fn problems_of(of: &Entity, v: &Value, out: &mut Vec<String>) {
    let each = |key: &str, label: &str, out: &mut Vec<String>| {
        for e in v[key].as_array().into_iter().flatten() {
            error_lines(label, e, out);
        }
    };
    match of {
        Entity::Pool(_) => {
            each("resizeErrors", "resize error", out);
            error_lines("autoscale error", &v["autoScaleRun"]["error"], out);
        }
        Entity::Node { .. } => {
            each("errors", "node error", out);
            error_lines("start task failed", &v["startTaskInfo"]["failureInfo"], out);
        }
        Entity::Job(_) => {
            error_lines("job failed", &v["executionInfo"]["failureInfo"], out);
            error_lines(
                "scheduling error",
                &v["executionInfo"]["schedulingError"],
                out,
            );
        }
        Entity::Task { .. } => {
            let info = &v["executionInfo"];
            let before = out.len();
            error_lines("task failed", &info["failureInfo"], out);
            if out.len() > before
                && let Some(code) = info["exitCode"].as_i64()
            {
                out.insert(before + 1, format!("  exit code: {code}"));
            }
        }
    }
}

/// `label: code: message`, then each of its details as `  name: value` (the service names
/// them `details`, `values` or `errorDetails` by where the error comes from).
fn error_lines(label: &str, e: &Value, out: &mut Vec<String>) {
    if !e.is_object() {
        return;
    }
    let text = |k: &str| e[k].as_str().unwrap_or("").to_string();
    let (code, message) = (text("code"), text("message"));
    let category = text("category");
    let mut head = format!("{label}: {code}");
    if !category.is_empty() {
        head.push_str(&format!(" ({category} error)"));
    }
    if !message.is_empty() {
        head.push_str(&format!(": {message}"));
    }
    out.push(head);
    for key in ["details", "values", "errorDetails"] {
        for d in e[key].as_array().into_iter().flatten() {
            let name = d["name"].as_str().unwrap_or("");
            let value = d["value"].as_str().map_or_else(
                || d["value"].to_string(),
                |s| s.trim_end().replace('\n', " ⏎ "),
            );
            out.push(format!("  {name}: {value}"));
        }
    }
}
