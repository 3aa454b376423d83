//! What the service checks before it accepts a formula (on pool creation, enableautoscale and
//! evaluateautoscale): known functions, methods and fields with the right number of
//! arguments, no assignment to a read-only variable, no user variable read before it is
//! assigned, at most 100 statements.

use std::collections::HashSet;

use super::FormulaError;
use super::parse::{Expr, Pos, Stmt};
use super::samples::Metric;

/// The read-write service-defined variables and their aliases.
pub const TARGET_DEDICATED: &str = "$TargetDedicatedNodes";
pub const TARGET_LOW: &str = "$TargetLowPriorityNodes";
pub const DEALLOCATION: &str = "$NodeDeallocationOption";
pub const TARGET_DEDICATED_ALIAS: &str = "$TargetDedicated";
pub const TARGET_LOW_ALIAS: &str = "$TargetLowPriority";

/// The documented node deallocation options, usable as bare words.
pub const DEALLOCATION_OPTIONS: [&str; 4] =
    ["requeue", "terminate", "taskcompletion", "retaineddata"];

/// Time interval constants, in seconds.
pub const INTERVALS: [(&str, f64); 10] = [
    ("TimeInterval_Zero", 0.0),
    ("TimeInterval_100ns", 1e-7),
    ("TimeInterval_Microsecond", 1e-6),
    ("TimeInterval_Millisecond", 1e-3),
    ("TimeInterval_Second", 1.0),
    ("TimeInterval_Minute", 60.0),
    ("TimeInterval_Hour", 3600.0),
    ("TimeInterval_Day", 86400.0),
    ("TimeInterval_Week", 7.0 * 86400.0),
    ("TimeInterval_Year", 365.0 * 86400.0),
];

pub const FIELDS: [&str; 7] = [
    "year", "month", "day", "weekday", "hour", "minute", "second",
];

/// What a name in a formula refers to.
#[derive(Debug, Clone, PartialEq)]
pub enum Name {
    /// A read-write service variable, by its canonical name.
    ReadWrite(&'static str),
    Metric(Metric),
    Interval(f64),
    Option(&'static str),
    User(String),
}

pub fn resolve(name: &str) -> Name {
    for rw in [
        TARGET_DEDICATED,
        TARGET_LOW,
        DEALLOCATION,
        TARGET_DEDICATED_ALIAS,
        TARGET_LOW_ALIAS,
    ] {
        if rw.eq_ignore_ascii_case(name) {
            return Name::ReadWrite(rw);
        }
    }
    if name.starts_with('$') {
        return match Metric::by_name(name) {
            Some(m) => Name::Metric(m),
            None => Name::User(name.to_string()),
        };
    }
    if let Some((_, s)) = INTERVALS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Name::Interval(*s);
    }
    if let Some(o) = DEALLOCATION_OPTIONS
        .iter()
        .find(|o| o.eq_ignore_ascii_case(name))
    {
        return Name::Option(o);
    }
    Name::User(name.to_string())
}

/// (name, least, most) arguments of each function.
const FUNCTIONS: [(&str, usize, usize); 17] = [
    ("avg", 1, usize::MAX),
    ("len", 1, usize::MAX),
    ("lg", 1, 1),
    ("ln", 1, 1),
    ("log", 1, 1),
    ("max", 1, usize::MAX),
    ("min", 1, usize::MAX),
    ("norm", 1, usize::MAX),
    ("percentile", 2, 2),
    ("rand", 0, 0),
    ("range", 1, usize::MAX),
    ("std", 1, usize::MAX),
    ("stop", 0, 0),
    ("sum", 1, usize::MAX),
    ("time", 0, 1),
    ("val", 2, 2),
    ("vec", 1, usize::MAX),
];

const METHODS: [(&str, usize, usize); 5] = [
    ("GetSample", 1, 3),
    ("GetSamplePercent", 1, 2),
    ("GetSamplePeriod", 0, 0),
    ("Count", 0, 0),
    ("HistoryBeginTime", 0, 0),
];

pub const MAX_STATEMENTS: usize = 100;

fn arity(
    table: &[(&'static str, usize, usize)],
    kind: &str,
    name: &str,
    n: usize,
    pos: Pos,
) -> Result<(), FormulaError> {
    let Some((_, least, most)) = table.iter().find(|(f, _, _)| f.eq_ignore_ascii_case(name)) else {
        return Err(FormulaError::at(
            pos.line,
            pos.col,
            &format!("unknown {kind} '{name}'"),
        ));
    };
    if n < *least || n > *most {
        let want = if least == most {
            format!("{least}")
        } else if *most == usize::MAX {
            format!("at least {least}")
        } else {
            format!("{least} to {most}")
        };
        return Err(FormulaError::at(
            pos.line,
            pos.col,
            &format!("{kind} '{name}' takes {want} argument(s), not {n}"),
        ));
    }
    Ok(())
}

pub fn check(stmts: &[Stmt]) -> Result<(), FormulaError> {
    if stmts.len() > MAX_STATEMENTS {
        return Err(FormulaError::at(
            1,
            1,
            &format!(
                "the formula has {} statements; at most {MAX_STATEMENTS} are allowed",
                stmts.len()
            ),
        ));
    }
    let mut defined: HashSet<String> = HashSet::new();
    for s in stmts {
        match s {
            Stmt::Assign(name, pos, e) => {
                expr(e, &defined)?;
                match resolve(name) {
                    Name::ReadWrite(_) => {}
                    Name::User(n) => {
                        defined.insert(n);
                    }
                    Name::Metric(m) => {
                        return Err(FormulaError::at(
                            pos.line,
                            pos.col,
                            &format!("{} is read-only and cannot be assigned", m.name()),
                        ));
                    }
                    Name::Interval(_) | Name::Option(_) => {
                        return Err(FormulaError::at(
                            pos.line,
                            pos.col,
                            &format!("'{name}' is a constant and cannot be assigned"),
                        ));
                    }
                }
            }
            Stmt::Expr(e) => expr(e, &defined)?,
        }
    }
    Ok(())
}

fn expr(e: &Expr, defined: &HashSet<String>) -> Result<(), FormulaError> {
    match e {
        Expr::Num(_) | Expr::Str(_) => Ok(()),
        Expr::Var(n, pos) => match resolve(n) {
            Name::User(u) if !defined.contains(&u) => Err(FormulaError::at(
                pos.line,
                pos.col,
                &format!("undefined variable '{u}'"),
            )),
            _ => Ok(()),
        },
        Expr::Unary(_, a, _) => expr(a, defined),
        Expr::Binary(_, a, b, _) => {
            expr(a, defined)?;
            expr(b, defined)
        }
        Expr::Ternary(c, a, b) => {
            expr(c, defined)?;
            expr(a, defined)?;
            expr(b, defined)
        }
        Expr::Call(f, args, pos) => {
            arity(&FUNCTIONS, "function", f, args.len(), *pos)?;
            args.iter().try_for_each(|a| expr(a, defined))
        }
        Expr::Method(target, m, args, pos) => {
            expr(target, defined)?;
            arity(&METHODS, "method", m, args.len(), *pos)?;
            args.iter().try_for_each(|a| expr(a, defined))
        }
        Expr::Field(target, f, pos) => {
            expr(target, defined)?;
            if FIELDS.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                Ok(())
            } else {
                Err(FormulaError::at(
                    pos.line,
                    pos.col,
                    &format!("unknown field '{f}'; a timestamp has {}", FIELDS.join(", ")),
                ))
            }
        }
    }
}
