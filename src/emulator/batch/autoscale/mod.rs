//! Autoscale formulas: the language Batch uses to size a pool (statements over service-defined
//! variables, user variables, arithmetic, comparisons, logical and ternary operators, the
//! documented functions and the sample methods), checked as the service checks a formula
//! before accepting it, and evaluated over the pool's own metric history.
//!
//! - `lex`, `parse`: tokens and the statements' syntax tree, with line and column.
//! - `check`: what makes a formula invalid before it runs (a syntax error for the service).
//! - `eval`: values, operators, functions and sample methods.
//! - `samples`: the metric series of a pool.

mod check;
mod eval;
mod lex;
mod parse;
pub mod samples;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

use self::check::{
    DEALLOCATION, DEALLOCATION_OPTIONS, TARGET_DEDICATED, TARGET_DEDICATED_ALIAS, TARGET_LOW,
    TARGET_LOW_ALIAS,
};
pub use self::eval::Inputs;
use self::eval::{EvalError, FAILED, Flow, Machine, Value};
use self::parse::{Pos, Stmt};

/// The service refuses longer formulas.
pub const MAX_FORMULA_CHARS: usize = 8192;

/// A mistake at a place in the formula, written as the service writes it:
/// `Line 1, Col 5: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormulaError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl FormulaError {
    pub fn at(line: u32, col: u32, message: &str) -> FormulaError {
        FormulaError {
            line,
            col,
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for FormulaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Line {}, Col {}: {}", self.line, self.col, self.message)
    }
}

/// Why a formula was refused before it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    TooLong(usize),
    Syntax(FormulaError),
}

/// A formula that passed the service's checks.
#[derive(Debug, Clone)]
pub struct Formula {
    stmts: Vec<Stmt>,
}

/// Parses and checks a formula.
pub fn compile(src: &str) -> Result<Formula, Invalid> {
    let n = src.chars().count();
    if n > MAX_FORMULA_CHARS {
        return Err(Invalid::TooLong(n));
    }
    let end = src
        .lines()
        .enumerate()
        .last()
        .map(|(i, l)| Pos {
            line: i as u32 + 1,
            col: l.chars().count() as u32 + 1,
        })
        .unwrap_or(Pos { line: 1, col: 1 });
    let toks = lex::lex(src).map_err(Invalid::Syntax)?;
    let stmts = parse::parse(toks, end).map_err(Invalid::Syntax)?;
    check::check(&stmts).map_err(Invalid::Syntax)?;
    Ok(Formula { stmts })
}

/// What an evaluation produced: the `autoScaleRun` the service reports, and the targets to
/// apply when it succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub timestamp: DateTime<Utc>,
    /// `$variable=value` pairs separated by `;`: the three read-write service variables, then
    /// the user's variables by name.
    pub results: String,
    pub error: Option<RunError>,
    /// Node counts to apply (set only when the evaluation succeeded).
    pub targets: Option<Targets>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub dedicated: i32,
    pub low_priority: i32,
    pub deallocation: String,
}

/// `autoScaleRun.error`: a code, a message, and the detail as the `Message` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    pub code: String,
    pub message: String,
    pub detail: String,
}

impl From<EvalError> for RunError {
    fn from(e: EvalError) -> RunError {
        RunError {
            code: e.code.to_string(),
            message: e.message.to_string(),
            detail: e.detail,
        }
    }
}

/// Runs a formula on a pool's inputs.
pub fn evaluate(f: &Formula, inputs: &Inputs) -> Run {
    let mut m = Machine::new(inputs);
    let mut error: Option<RunError> = None;
    for s in &f.stmts {
        match m.run(s) {
            Ok(Flow::Next) => {}
            Ok(Flow::Stop) => break,
            Err(e) => {
                error = Some(e.into());
                break;
            }
        }
    }
    // A fully named variable the formula set wins over its alias.
    let pick = |full: &'static str, alias: &'static str| -> Value {
        let set = |k| m.assigned.get(k).copied().unwrap_or(false);
        let key = if !set(full) && set(alias) {
            alias
        } else {
            full
        };
        m.vars.get(key).cloned().unwrap_or(Value::Double(0.0))
    };
    let dedicated = pick(TARGET_DEDICATED, TARGET_DEDICATED_ALIAS);
    let low = pick(TARGET_LOW, TARGET_LOW_ALIAS);
    let dealloc = m
        .vars
        .get(DEALLOCATION)
        .cloned()
        .unwrap_or(Value::Str("requeue".into()));
    let mut results = vec![
        format!("{TARGET_DEDICATED}={}", dedicated.render()),
        format!("{TARGET_LOW}={}", low.render()),
        format!("{DEALLOCATION}={}", dealloc.render()),
    ];
    for (k, v) in &m.vars {
        if ![
            TARGET_DEDICATED,
            TARGET_LOW,
            DEALLOCATION,
            TARGET_DEDICATED_ALIAS,
            TARGET_LOW_ALIAS,
        ]
        .contains(&k.as_str())
        {
            results.push(format!("{k}={}", v.render()));
        }
    }
    let targets = if error.is_none() {
        match targets(&dedicated, &low, &dealloc) {
            Ok(t) => Some(t),
            Err(e) => {
                error = Some(e);
                None
            }
        }
    } else {
        None
    };
    Run {
        timestamp: inputs.now,
        results: results.join(";"),
        error,
        targets,
    }
}

fn targets(dedicated: &Value, low: &Value, dealloc: &Value) -> Result<Targets, RunError> {
    let wrong = |what: String| RunError {
        code: FAILED.to_string(),
        message: "Autoscale evaluation failed due to an error in the formula".to_string(),
        detail: what,
    };
    let count = |name: &str, v: &Value| -> Result<i32, RunError> {
        match v {
            // Targets are whole nodes: the fraction is dropped, and no count is below zero.
            Value::Double(d) if d.is_finite() => Ok(d.trunc().clamp(0.0, i32::MAX as f64) as i32),
            other => Err(wrong(format!(
                "{name} must be a finite double, not {}",
                other.render()
            ))),
        }
    };
    let deallocation = match dealloc {
        Value::Str(s)
            if DEALLOCATION_OPTIONS
                .iter()
                .any(|o| o.eq_ignore_ascii_case(s)) =>
        {
            s.to_ascii_lowercase()
        }
        other => {
            return Err(wrong(format!(
                "{DEALLOCATION} must be one of {}, not {}",
                DEALLOCATION_OPTIONS.join(", "),
                other.render()
            )));
        }
    };
    Ok(Targets {
        dedicated: count(TARGET_DEDICATED, dedicated)?,
        low_priority: count(TARGET_LOW, low)?,
        deallocation,
    })
}
