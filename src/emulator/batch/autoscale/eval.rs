//! Evaluation: the formula's statements in order, over the documented types (double,
//! doubleVec, string, timestamp, timeinterval) and operations, with the sample methods reading
//! the pool's metric history.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::RngExt as _;

use super::check::{
    DEALLOCATION, Name, TARGET_DEDICATED, TARGET_DEDICATED_ALIAS, TARGET_LOW, TARGET_LOW_ALIAS,
    resolve,
};
use super::parse::{Expr, Pos, Stmt};
use super::samples::{History, Metric};

/// A value of the formula language.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Double(f64),
    Vec(Vec<f64>),
    Str(String),
    Time(DateTime<Utc>),
    Interval(Duration),
    /// A read-only service variable: a sample set (its methods read it).
    Metric(Metric),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Double(_) => "double",
            Value::Vec(_) => "doubleVec",
            Value::Str(_) => "string",
            Value::Time(_) => "timestamp",
            Value::Interval(_) => "timeinterval",
            Value::Metric(_) => "sample set",
        }
    }

    /// The value as the service writes it in `autoScaleRun.results`.
    pub fn render(&self) -> String {
        match self {
            Value::Double(d) => fmt_double(*d),
            Value::Vec(v) => format!(
                "[{}]",
                v.iter()
                    .map(|d| fmt_double(*d))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Value::Str(s) => s.clone(),
            Value::Time(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            Value::Interval(d) => fmt_interval(*d),
            Value::Metric(m) => m.name().to_string(),
        }
    }
}

fn fmt_double(d: f64) -> String {
    if d == d.trunc() && d.abs() < 1e15 {
        format!("{}", d as i64)
    } else {
        format!("{d}")
    }
}

/// A time interval as .NET writes a TimeSpan: `[-][d.]hh:mm:ss[.fffffff]`.
fn fmt_interval(d: Duration) -> String {
    let neg = d < Duration::zero();
    let d = if neg { -d } else { d };
    let ticks = d.num_microseconds().map(|us| us * 10).unwrap_or(i64::MAX);
    let secs = ticks / 10_000_000;
    let frac = ticks % 10_000_000;
    let (days, h, m, s) = (
        secs / 86400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if frac > 0 {
        out.push_str(&format!(".{frac:07}"));
    }
    out
}

/// Why an evaluation stopped: a code and message of the service, and the detail with its
/// place in the formula.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    pub code: &'static str,
    pub message: &'static str,
    pub detail: String,
}

pub const INSUFFICIENT: &str = "InsufficientSampleData";
const INSUFFICIENT_MSG: &str = "Autoscale evaluation failed due to insufficient sample data";
pub const FAILED: &str = "FormulaEvaluationError";
const FAILED_MSG: &str = "Autoscale evaluation failed due to an error in the formula";

fn fail(pos: Pos, what: String) -> EvalError {
    EvalError {
        code: FAILED,
        message: FAILED_MSG,
        detail: format!("Line {}, Col {}: {what}", pos.line, pos.col),
    }
}

/// What a formula reads of its pool.
pub struct Inputs<'a> {
    pub now: DateTime<Utc>,
    pub history: &'a History,
    pub target_dedicated: f64,
    pub target_low_priority: f64,
    /// How many times faster than the service the emulator runs its timers (sample windows
    /// given as intervals shrink by this factor).
    pub speedup: u32,
    /// The sampling period, already divided by the speed-up.
    pub period: std::time::Duration,
}

/// The interpreter's variables.
pub struct Machine<'a> {
    inputs: &'a Inputs<'a>,
    /// Service read-write variables by canonical name, user variables by name.
    pub vars: BTreeMap<String, Value>,
    /// Whether each read-write variable was assigned.
    pub assigned: BTreeMap<&'static str, bool>,
}

/// Evaluation of one statement: go on, or `stop()` was called.
pub enum Flow {
    Next,
    Stop,
}

impl<'a> Machine<'a> {
    pub fn new(inputs: &'a Inputs<'a>) -> Self {
        let mut vars = BTreeMap::new();
        for (name, v) in [
            (TARGET_DEDICATED, inputs.target_dedicated),
            (TARGET_DEDICATED_ALIAS, inputs.target_dedicated),
            (TARGET_LOW, inputs.target_low_priority),
            (TARGET_LOW_ALIAS, inputs.target_low_priority),
        ] {
            vars.insert(name.to_string(), Value::Double(v));
        }
        vars.insert(DEALLOCATION.to_string(), Value::Str("requeue".into()));
        Machine {
            inputs,
            vars,
            assigned: BTreeMap::new(),
        }
    }

    pub fn run(&mut self, s: &Stmt) -> Result<Flow, EvalError> {
        let (e, target) = match s {
            Stmt::Assign(n, _, e) => (e, Some(n)),
            Stmt::Expr(e) => (e, None),
        };
        let v = match self.eval(e)? {
            Some(v) => self.number_or_self(v, Pos { line: 1, col: 1 })?,
            None => return Ok(Flow::Stop),
        };
        if let Some(n) = target {
            let key = match resolve(n) {
                Name::ReadWrite(rw) => {
                    self.assigned.insert(rw, true);
                    rw.to_string()
                }
                _ => n.clone(),
            };
            self.vars.insert(key, v);
        }
        Ok(Flow::Next)
    }

    /// `None` when `stop()` was reached.
    fn eval(&self, e: &Expr) -> Result<Option<Value>, EvalError> {
        macro_rules! sub {
            ($x:expr) => {
                match self.eval($x)? {
                    Some(v) => v,
                    None => return Ok(None),
                }
            };
        }
        Ok(Some(match e {
            Expr::Num(n) => Value::Double(*n),
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Var(n, pos) => match resolve(n) {
                Name::ReadWrite(rw) => self.vars.get(rw).cloned().unwrap_or(Value::Double(0.0)),
                Name::Metric(m) => Value::Metric(m),
                Name::Interval(s) => Value::Interval(secs(s)),
                Name::Option(o) => Value::Str(o.to_string()),
                Name::User(u) => self
                    .vars
                    .get(&u)
                    .cloned()
                    .ok_or_else(|| fail(*pos, format!("undefined variable '{u}'")))?,
            },
            Expr::Unary(op, a, pos) => {
                let a = self.number_or_self(sub!(a), *pos)?;
                match (*op, a) {
                    ("-", Value::Double(d)) => Value::Double(-d),
                    ("-", Value::Interval(d)) => Value::Interval(-d),
                    ("-", Value::Vec(v)) => Value::Vec(v.into_iter().map(|d| -d).collect()),
                    ("!", Value::Double(d)) => Value::Double(bool_d(d == 0.0)),
                    (op, v) => {
                        return Err(fail(*pos, format!("'{op}' cannot apply to a {}", v.kind())));
                    }
                }
            }
            Expr::Binary(op, a, b, pos) => {
                if matches!(*op, "&&" | "||") {
                    let l = self.truth(sub!(a), *pos)?;
                    if (*op == "&&" && !l) || (*op == "||" && l) {
                        return Ok(Some(Value::Double(bool_d(l))));
                    }
                    let r = self.truth(sub!(b), *pos)?;
                    return Ok(Some(Value::Double(bool_d(r))));
                }
                let l = self.number_or_self(sub!(a), *pos)?;
                let r = self.number_or_self(sub!(b), *pos)?;
                binary(op, l, r, *pos)?
            }
            Expr::Ternary(c, a, b) => {
                let pos = expr_pos(c);
                if self.truth(sub!(c), pos)? {
                    sub!(a)
                } else {
                    sub!(b)
                }
            }
            Expr::Call(f, args, pos) => {
                if f.eq_ignore_ascii_case("stop") {
                    return Ok(None);
                }
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    let v = sub!(a);
                    vals.push(self.number_or_self(v, *pos)?);
                }
                call(f, vals, *pos, self.inputs)?
            }
            Expr::Method(target, m, args, pos) => {
                let t = sub!(target);
                let Value::Metric(metric) = t else {
                    return Err(fail(
                        *pos,
                        format!("'{m}' is a method of a sample set, not of a {}", t.kind()),
                    ));
                };
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    let v = sub!(a);
                    vals.push(self.number_or_self(v, *pos)?);
                }
                method(metric, m, vals, *pos, self.inputs)?
            }
            Expr::Field(target, f, pos) => {
                let Value::Time(t) = sub!(target) else {
                    return Err(fail(*pos, format!("'{f}' is a field of a timestamp")));
                };
                let v = match f.to_ascii_lowercase().as_str() {
                    "year" => t.year() as f64,
                    "month" => t.month() as f64,
                    "day" => t.day() as f64,
                    "weekday" => t.weekday().num_days_from_sunday() as f64,
                    "hour" => t.hour() as f64,
                    "minute" => t.minute() as f64,
                    _ => t.second() as f64,
                };
                Value::Double(v)
            }
        }))
    }

    /// A read-only variable that has a current value reads as it where a number is wanted.
    fn number_or_self(&self, v: Value, _pos: Pos) -> Result<Value, EvalError> {
        match v {
            Value::Metric(m) if m.is_current_value() => {
                Ok(Value::Double(self.inputs.history.current(m).unwrap_or(0.0)))
            }
            v => Ok(v),
        }
    }

    fn truth(&self, v: Value, pos: Pos) -> Result<bool, EvalError> {
        match self.number_or_self(v, pos)? {
            Value::Double(d) => Ok(d != 0.0),
            v => Err(fail(
                pos,
                format!("a {} is not a condition (a double is)", v.kind()),
            )),
        }
    }
}

fn expr_pos(e: &Expr) -> Pos {
    match e {
        Expr::Var(_, p)
        | Expr::Unary(_, _, p)
        | Expr::Binary(_, _, _, p)
        | Expr::Call(_, _, p)
        | Expr::Method(_, _, _, p)
        | Expr::Field(_, _, p) => *p,
        Expr::Ternary(c, _, _) => expr_pos(c),
        Expr::Num(_) | Expr::Str(_) => Pos { line: 1, col: 1 },
    }
}

fn bool_d(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn secs(s: f64) -> Duration {
    Duration::microseconds((s * 1e6).round() as i64)
}

fn interval_secs(d: Duration) -> f64 {
    d.num_microseconds()
        .map(|us| us as f64 / 1e6)
        .unwrap_or(f64::MAX)
}

fn binary(op: &str, l: Value, r: Value, pos: Pos) -> Result<Value, EvalError> {
    use Value::*;
    let arith = |a: f64, b: f64| -> Result<f64, EvalError> {
        match op {
            "+" => Ok(a + b),
            "-" => Ok(a - b),
            "*" => Ok(a * b),
            "/" if b == 0.0 => Err(fail(pos, "division by zero".into())),
            _ => Ok(a / b),
        }
    };
    let cmp = |o: std::cmp::Ordering| {
        use std::cmp::Ordering::*;
        bool_d(match op {
            "<" => o == Less,
            "<=" => o != Greater,
            ">" => o == Greater,
            ">=" => o != Less,
            "==" => o == Equal,
            _ => o != Equal,
        })
    };
    let is_cmp = matches!(op, "<" | "<=" | ">" | ">=" | "==" | "!=");
    let bad = |l: &Value, r: &Value| {
        fail(
            pos,
            format!("'{op}' cannot apply to a {} and a {}", l.kind(), r.kind()),
        )
    };
    Ok(match (l, r) {
        (Double(a), Double(b)) if is_cmp => Double(cmp(a.total_cmp(&b))),
        (Double(a), Double(b)) => Double(arith(a, b)?),
        (Str(a), Str(b)) if is_cmp => Double(cmp(a.cmp(&b))),
        (Time(a), Time(b)) if is_cmp => Double(cmp(a.cmp(&b))),
        (Interval(a), Interval(b)) if is_cmp => Double(cmp(a.cmp(&b))),
        (l, r) if is_cmp => return Err(bad(&l, &r)),
        (Vec(a), Double(b)) => Vec(a.iter().map(|x| arith(*x, b)).collect::<Result<_, _>>()?),
        (Double(a), Vec(b)) if matches!(op, "+" | "*") => {
            Vec(b.iter().map(|x| arith(a, *x)).collect::<Result<_, _>>()?)
        }
        (Vec(a), Vec(b)) => {
            if a.len() != b.len() {
                return Err(fail(
                    pos,
                    format!(
                        "'{op}' needs vectors of the same length, not {} and {}",
                        a.len(),
                        b.len()
                    ),
                ));
            }
            Vec(a
                .iter()
                .zip(&b)
                .map(|(x, y)| arith(*x, *y))
                .collect::<Result<_, _>>()?)
        }
        (Double(a), Interval(b)) | (Interval(b), Double(a)) if op == "*" => {
            Interval(secs(a * interval_secs(b)))
        }
        (Interval(a), Double(b)) if op == "/" => Interval(secs(arith(interval_secs(a), b)?)),
        (Interval(a), Interval(b)) if op == "+" => Interval(a + b),
        (Interval(a), Interval(b)) if op == "-" => Interval(a - b),
        (Interval(a), Time(b)) | (Time(b), Interval(a)) if op == "+" => Time(b + a),
        (Time(a), Interval(b)) if op == "-" => Time(a - b),
        (Time(a), Time(b)) if op == "-" => Interval(a - b),
        (l, r) => return Err(bad(&l, &r)),
    })
}

/// A doubleVecList: every argument a double or a doubleVec, flattened.
fn flatten(f: &str, args: Vec<Value>, pos: Pos) -> Result<Vec<f64>, EvalError> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Value::Double(d) => out.push(d),
            Value::Vec(v) => out.extend(v),
            v => {
                return Err(fail(
                    pos,
                    format!("{f}() takes doubles and doubleVecs, not a {}", v.kind()),
                ));
            }
        }
    }
    Ok(out)
}

fn call(f: &str, args: Vec<Value>, pos: Pos, inputs: &Inputs) -> Result<Value, EvalError> {
    let f = f.to_ascii_lowercase();
    let nonempty = |v: Vec<f64>| -> Result<Vec<f64>, EvalError> {
        if v.is_empty() {
            Err(fail(pos, format!("{f}() of an empty list")))
        } else {
            Ok(v)
        }
    };
    Ok(match f.as_str() {
        "avg" => {
            let v = nonempty(flatten(&f, args, pos)?)?;
            Value::Double(v.iter().sum::<f64>() / v.len() as f64)
        }
        "len" => Value::Double(flatten(&f, args, pos)?.len() as f64),
        "max" => Value::Double(
            nonempty(flatten(&f, args, pos)?)?
                .into_iter()
                .fold(f64::MIN, f64::max),
        ),
        "min" => Value::Double(
            nonempty(flatten(&f, args, pos)?)?
                .into_iter()
                .fold(f64::MAX, f64::min),
        ),
        "sum" => Value::Double(flatten(&f, args, pos)?.iter().sum()),
        "norm" => Value::Double(
            flatten(&f, args, pos)?
                .iter()
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt(),
        ),
        "range" => {
            let v = nonempty(flatten(&f, args, pos)?)?;
            let (lo, hi) = v
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
            Value::Double(hi - lo)
        }
        "std" => {
            let v = flatten(&f, args, pos)?;
            if v.len() < 2 {
                return Err(fail(pos, "std() needs at least two values".into()));
            }
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            Value::Double(var.sqrt())
        }
        "vec" => Value::Vec(flatten(&f, args, pos)?),
        "lg" | "ln" | "log" => {
            let g = |x: f64| match f.as_str() {
                "lg" => x.log2(),
                "ln" => x.ln(),
                _ => x.log10(),
            };
            match args.into_iter().next() {
                Some(Value::Double(d)) => Value::Double(g(d)),
                Some(Value::Vec(v)) => Value::Vec(v.into_iter().map(g).collect()),
                Some(v) => return Err(fail(pos, format!("{f}() of a {}", v.kind()))),
                None => return Err(fail(pos, format!("{f}() needs an argument"))),
            }
        }
        "percentile" => {
            let mut it = args.into_iter();
            let (Some(Value::Vec(mut v)), Some(Value::Double(p))) = (it.next(), it.next()) else {
                return Err(fail(
                    pos,
                    "percentile() takes a doubleVec and a double".into(),
                ));
            };
            if v.is_empty() || !(0.0..=100.0).contains(&p) {
                return Err(fail(
                    pos,
                    "percentile() needs a non-empty vector and a percentage from 0 to 100".into(),
                ));
            }
            v.sort_by(f64::total_cmp);
            let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
            Value::Double(v[rank.clamp(1, v.len()) - 1])
        }
        "rand" => Value::Double(rand::rng().random::<f64>()),
        "time" => match args.into_iter().next() {
            None => Value::Time(inputs.now),
            Some(Value::Str(s)) => Value::Time(parse_time(&s).ok_or_else(|| {
                fail(
                    pos,
                    format!("time(\"{s}\"): not a W3C-DTF or RFC 1123 date and time"),
                )
            })?),
            Some(v) => {
                return Err(fail(
                    pos,
                    format!("time() takes a string, not a {}", v.kind()),
                ));
            }
        },
        "val" => {
            let mut it = args.into_iter();
            let (Some(Value::Vec(v)), Some(Value::Double(i))) = (it.next(), it.next()) else {
                return Err(fail(pos, "val() takes a doubleVec and a double".into()));
            };
            if i < 0.0 || i as usize >= v.len() {
                return Err(fail(
                    pos,
                    format!("val(): index {i} is outside a vector of {} values", v.len()),
                ));
            }
            Value::Double(v[i as usize])
        }
        other => return Err(fail(pos, format!("unknown function '{other}'"))),
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// A point in time from a method argument: a look-back interval (scaled by the speed-up)
/// or an absolute timestamp.
fn instant(v: &Value, inputs: &Inputs, pos: Pos) -> Result<DateTime<Utc>, EvalError> {
    match v {
        Value::Interval(d) => Ok(inputs.now - *d / inputs.speedup.max(1) as i32),
        Value::Time(t) => Ok(*t),
        v => Err(fail(
            pos,
            format!("a timestamp or timeinterval is wanted, not a {}", v.kind()),
        )),
    }
}

fn method(
    m: Metric,
    name: &str,
    args: Vec<Value>,
    pos: Pos,
    inputs: &Inputs,
) -> Result<Value, EvalError> {
    let h = inputs.history;
    let insufficient = |what: String| EvalError {
        code: INSUFFICIENT,
        message: INSUFFICIENT_MSG,
        detail: format!(
            "Line {}, Col {}: Insufficient data from data set: {} {what}",
            pos.line,
            pos.col,
            m.name()
        ),
    };
    // The window of a time-range call, and the share of the samples expected in it that
    // the history holds (0-100).
    let window = |args: &[Value]| -> Result<(Vec<f64>, f64), EvalError> {
        let a = instant(&args[0], inputs, pos)?;
        let b = match args.get(1) {
            Some(v @ (Value::Interval(_) | Value::Time(_))) => instant(v, inputs, pos)?,
            _ => inputs.now,
        };
        let (from, to) = if a <= b { (a, b) } else { (b, a) };
        let values = h.between(m, from, to);
        let span = (to - from).num_milliseconds().max(0) as f64;
        let period = inputs.period.as_millis().max(1) as f64;
        let expected = (span / period).floor().max(1.0);
        let percent = (values.len() as f64 * 100.0 / expected).min(100.0);
        Ok((values, percent))
    };
    match name.to_ascii_lowercase().as_str() {
        "getsample" => {
            if let Value::Double(count) = args[0] {
                if args.len() > 1 {
                    return Err(fail(pos, "GetSample(count) takes one argument".into()));
                }
                let n = count.max(0.0) as usize;
                let v = h.last(m, n);
                if v.len() < n {
                    return Err(insufficient(format!(
                        "wanted {n} samples, received {}",
                        v.len()
                    )));
                }
                return Ok(Value::Vec(v));
            }
            let wanted = match args.last() {
                Some(Value::Double(p)) if args.len() > 1 => *p,
                _ => 10.0,
            };
            let (values, percent) = window(&args)?;
            if percent < wanted {
                return Err(insufficient(format!(
                    "wanted {}%, received {}%",
                    fmt_double(wanted),
                    fmt_double(percent.floor())
                )));
            }
            Ok(Value::Vec(values))
        }
        "getsamplepercent" => {
            let (_, percent) = window(&args)?;
            Ok(Value::Double(percent.floor()))
        }
        "getsampleperiod" => Ok(Value::Interval(secs(30.0))),
        "count" => Ok(Value::Double(h.len() as f64)),
        _ => match h.first_at() {
            Some(t) => Ok(Value::Time(t)),
            None => Err(insufficient("has no samples".into())),
        },
    }
}
