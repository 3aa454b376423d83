use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::samples::{History, Metric, Sample, set};
use super::*;

/// Wednesday 2025-01-15 14:30:00 UTC.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 15, 14, 30, 0).unwrap()
}

/// A history of `n` samples every 30 s ending now, with pending = 2 * i (i = 0.. oldest
/// first), running 3, active pending - 3, cpu 50, and current dedicated nodes 4.
fn history(n: usize) -> History {
    let mut h = History::default();
    for i in 0..n {
        let mut s: Sample = [0.0; 20];
        set(&mut s, Metric::PendingTasks, 2.0 * i as f64);
        set(&mut s, Metric::RunningTasks, 3.0);
        set(&mut s, Metric::ActiveTasks, (2.0 * i as f64 - 3.0).max(0.0));
        set(&mut s, Metric::CpuPercent, 50.0);
        set(&mut s, Metric::CurrentDedicatedNodes, 4.0);
        set(&mut s, Metric::TaskSlotsPerNode, 2.0);
        let at = now() - Duration::seconds(30 * (n - 1 - i) as i64);
        h.push(at, s);
    }
    h
}

fn run_with(formula: &str, h: &History) -> Run {
    let f = compile(formula).unwrap_or_else(|e| panic!("{formula}: {e:?}"));
    let inputs = Inputs {
        now: now(),
        history: h,
        target_dedicated: 4.0,
        target_low_priority: 0.0,
        speedup: 1,
        period: StdDuration::from_secs(30),
    };
    evaluate(&f, &inputs)
}

fn run(formula: &str) -> Run {
    run_with(formula, &history(21))
}

/// Formulas with the `$TargetDedicatedNodes` they must produce, on the history above.
#[test]
fn formulas_produce_their_targets() {
    let table: &[(&str, i32)] = &[
        ("$TargetDedicatedNodes = 2", 2),
        ("$TargetDedicatedNodes=2;", 2),
        ("$targetdedicatednodes = 7;", 7),
        ("$TargetDedicated = 3;", 3),
        ("$TargetDedicated = 3; $TargetDedicatedNodes = 5;", 5),
        ("$TargetDedicatedNodes = 5; $TargetDedicated = 3;", 5),
        ("", 4),
        ("x = 1;", 4),
        ("$TargetDedicatedNodes = 1 + 2 * 3;", 7),
        ("$TargetDedicatedNodes = (1 + 2) * 3;", 9),
        ("$TargetDedicatedNodes = 10 - 2 - 3;", 5),
        ("$TargetDedicatedNodes = 2.9;", 2),
        ("$TargetDedicatedNodes = -3;", 0),
        ("$TargetDedicatedNodes = -(-3);", 3),
        ("$TargetDedicatedNodes = 7 / 2;", 3),
        ("$TargetDedicatedNodes = 1 < 2 ? 6 : 1;", 6),
        ("$TargetDedicatedNodes = 1 > 2 ? 6 : 1;", 1),
        ("$TargetDedicatedNodes = 0 ? 1 : 0 ? 2 : 3;", 3),
        (
            "$TargetDedicatedNodes = (1 == 1) + (1 != 1) + (2 >= 2) + (2 <= 1);",
            2,
        ),
        ("$TargetDedicatedNodes = 1 && 0 || 1;", 1),
        ("$TargetDedicatedNodes = !0 + !5;", 1),
        ("$TargetDedicatedNodes = \"b\" > \"a\";", 1),
        ("$TargetDedicatedNodes = min(5, 2, 9);", 2),
        ("$TargetDedicatedNodes = max(5, 2, 9);", 9),
        ("$TargetDedicatedNodes = sum(1, 2, 3);", 6),
        ("$TargetDedicatedNodes = avg(2, 4, 9);", 5),
        ("$TargetDedicatedNodes = len(vec(1, 2), 3);", 3),
        ("$TargetDedicatedNodes = range(3, 10, 4);", 7),
        ("$TargetDedicatedNodes = norm(3, 4);", 5),
        (
            "$TargetDedicatedNodes = std(2, 4, 4, 4, 5, 5, 7, 9) * 100;",
            213,
        ),
        (
            "$TargetDedicatedNodes = percentile(vec(15, 20, 35, 40, 50), 40);",
            20,
        ),
        ("$TargetDedicatedNodes = val(vec(4, 5, 6), 2);", 6),
        ("$TargetDedicatedNodes = lg(8) + ln(1) + log(100);", 5),
        ("$TargetDedicatedNodes = sum(lg(vec(2, 4)));", 3),
        ("$TargetDedicatedNodes = rand() < 1 && rand() >= 0;", 1),
        ("$TargetDedicatedNodes = $CurrentDedicatedNodes * 1.5;", 6),
        ("$TargetDedicatedNodes = $CurrentDedicated + 1;", 5),
        ("$TargetDedicatedNodes = $TaskSlotsPerNode;", 2),
        ("$TargetDedicatedNodes = $TargetDedicatedNodes + 1;", 5),
        // The sample methods, over 21 samples 30 s apart (10 minutes).
        (
            "$TargetDedicatedNodes = val($PendingTasks.GetSample(1), 0);",
            40,
        ),
        (
            "$TargetDedicatedNodes = len($PendingTasks.GetSample(3));",
            3,
        ),
        (
            "$TargetDedicatedNodes = max($PendingTasks.GetSample(TimeInterval_Minute * 5));",
            40,
        ),
        (
            "$TargetDedicatedNodes = len($PendingTasks.GetSample(TimeInterval_Minute * 5));",
            11,
        ),
        (
            "$TargetDedicatedNodes = len($PendingTasks.GetSample(TimeInterval_Minute, TimeInterval_Minute * 2));",
            3,
        ),
        (
            "$TargetDedicatedNodes = min($PendingTasks.GetSample(TimeInterval_Minute * 2, TimeInterval_Minute, 50));",
            32,
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 10);",
            100,
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 20);",
            52,
        ),
        ("$TargetDedicatedNodes = $PendingTasks.Count();", 21),
        (
            "t = (time() - $PendingTasks.HistoryBeginTime()); $TargetDedicatedNodes = t == TimeInterval_Minute * 10;",
            1,
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks.GetSamplePeriod() == 30 * TimeInterval_Second;",
            1,
        ),
        (
            "$TargetDedicatedNodes = avg($RunningTasks.GetSample(TimeInterval_Minute * 10)) + 1;",
            4,
        ),
        (
            "$TargetDedicatedNodes = avg($CPUPercent.GetSample(TimeInterval_Minute * 10)) / 10;",
            5,
        ),
        ("$TargetDedicatedNodes = time().hour;", 14),
        ("$TargetDedicatedNodes = time().weekday;", 3),
        (
            "$TargetDedicatedNodes = time(\"2024-03-02T05:06:07Z\").day;",
            2,
        ),
        (
            "$TargetDedicatedNodes = time(\"Sat, 02 Mar 2024 05:06:07 GMT\").hour;",
            5,
        ),
        (
            "$TargetDedicatedNodes = (time() + TimeInterval_Hour * 10).day;",
            16,
        ),
        // The documentation's examples.
        (
            "startingNumberOfVMs = 1;\nmaxNumberofVMs = 25;\npendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);\npendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs : avg($PendingTasks.GetSample(180 * TimeInterval_Second));\n$TargetDedicatedNodes=min(maxNumberofVMs, pendingTaskSamples);\n$NodeDeallocationOption = taskcompletion;",
            25,
        ),
        (
            "// Get pending tasks for the past 15 minutes.\n$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);\n// fewer than 70 percent: the last sample\n$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));\n$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);\n$TargetDedicatedNodes = max(0, min($targetVMs, 20));\n$NodeDeallocationOption = taskcompletion;",
            20,
        ),
        (
            "$curTime = time();\n$workHours = $curTime.hour >= 8 && $curTime.hour < 18;\n$isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;\n$isWorkingWeekdayHour = $workHours && $isWeekday;\n$TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;\n$NodeDeallocationOption = taskcompletion;",
            20,
        ),
        (
            "$x = 3; /* a block\n comment */ $TargetDedicatedNodes = $x; stop(); $TargetDedicatedNodes = 9;",
            3,
        ),
        ("$TargetDedicatedNodes = 1 ? 2 : stop();", 2),
    ];
    for (formula, want) in table {
        let r = run(formula);
        assert_eq!(r.error, None, "{formula}: {r:?}");
        let t = r.targets.unwrap_or_else(|| panic!("{formula}: no targets"));
        assert_eq!(t.dedicated, *want, "{formula}: {}", r.results);
    }
}

/// Formulas the service refuses before running them, with the place it names.
#[test]
fn invalid_formulas_name_the_line_and_column() {
    let table: &[(&str, &str)] = &[
        (
            "$TargetDedicatedNodes = ",
            "Line 1, Col 25: unexpected end of formula",
        ),
        (
            "$TargetDedicatedNodes = 1 +;",
            "Line 1, Col 28: unexpected ';'",
        ),
        (
            "$TargetDedicatedNodes = (1 + 2;",
            "Line 1, Col 31: expected ')' but found ';'",
        ),
        (
            "$TargetDedicatedNodes = 1 2;",
            "Line 1, Col 27: unexpected number 2",
        ),
        (
            "$TargetDedicatedNodes = foo(1);",
            "Line 1, Col 25: unknown function 'foo'",
        ),
        (
            "$TargetDedicatedNodes = min();",
            "Line 1, Col 25: function 'min' takes at least 1 argument(s), not 0",
        ),
        (
            "$TargetDedicatedNodes = val(1);",
            "Line 1, Col 25: function 'val' takes 2 argument(s), not 1",
        ),
        (
            "a = 1;\n$TargetDedicatedNodes = b;",
            "Line 2, Col 25: undefined variable 'b'",
        ),
        (
            "$TargetDedicatedNodes = $x; $x = 1;",
            "Line 1, Col 25: undefined variable '$x'",
        ),
        (
            "$PendingTasks = 3;",
            "Line 1, Col 1: $PendingTasks is read-only and cannot be assigned",
        ),
        (
            "$CurrentDedicatedNodes = 3;",
            "Line 1, Col 1: $CurrentDedicatedNodes is read-only and cannot be assigned",
        ),
        (
            "requeue = 3;",
            "Line 1, Col 1: 'requeue' is a constant and cannot be assigned",
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks.GetSamples(1);",
            "Line 1, Col 39: unknown method 'GetSamples'",
        ),
        (
            "$TargetDedicatedNodes = time().hours;",
            "Line 1, Col 32: unknown field 'hours'; a timestamp has year, month, day, weekday, hour, minute, second",
        ),
        (
            "$TargetDedicatedNodes = 1 % 2;",
            "Line 1, Col 27: unexpected character '%'",
        ),
        (
            "$TargetDedicatedNodes = \"abc;",
            "Line 1, Col 25: unterminated string",
        ),
        (
            "$TargetDedicatedNodes = 1; /* open",
            "Line 1, Col 28: unterminated comment",
        ),
        (
            "$TargetDedicatedNodes = 1 ? 2;",
            "Line 1, Col 30: expected ':' but found ';'",
        ),
    ];
    for (formula, want) in table {
        match compile(formula) {
            Err(Invalid::Syntax(e)) => assert_eq!(e.to_string(), *want, "{formula}"),
            other => panic!("{formula}: {other:?}"),
        }
    }
    let long = "$TargetDedicatedNodes = 1;".repeat(400);
    assert_eq!(compile(&long).unwrap_err(), Invalid::TooLong(long.len()));
    let many = "x = 1;".repeat(101);
    assert!(
        matches!(compile(&many), Err(Invalid::Syntax(e)) if e.message.contains("101 statements"))
    );
}

/// Formulas that run and fail, with the service's error code and the detail it reports.
#[test]
fn evaluation_errors_have_the_service_codes() {
    let table: &[(&str, &str, &str)] = &[
        (
            "$TargetDedicatedNodes = avg($CPUPercent.GetSample(TimeInterval_Minute * 180));",
            "InsufficientSampleData",
            "Line 1, Col 41: Insufficient data from data set: $CPUPercent wanted 10%, received 5%",
        ),
        (
            "$TargetDedicatedNodes = (time() - $PendingTasks.HistoryBeginTime()) / TimeInterval_Minute;",
            "FormulaEvaluationError",
            "Line 1, Col 69: '/' cannot apply to a timeinterval and a timeinterval",
        ),
        (
            "$TargetDedicatedNodes = avg($PendingTasks.GetSample(TimeInterval_Minute * 15, 100));",
            "InsufficientSampleData",
            "Line 1, Col 43: Insufficient data from data set: $PendingTasks wanted 100%, received 70%",
        ),
        (
            "$TargetDedicatedNodes = avg($PendingTasks.GetSample(50));",
            "InsufficientSampleData",
            "Line 1, Col 43: Insufficient data from data set: $PendingTasks wanted 50 samples, received 21",
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks + 1;",
            "FormulaEvaluationError",
            "Line 1, Col 39: '+' cannot apply to a sample set and a double",
        ),
        (
            "$TargetDedicatedNodes = 1 / 0;",
            "FormulaEvaluationError",
            "Line 1, Col 27: division by zero",
        ),
        (
            "$TargetDedicatedNodes = \"a\" + 1;",
            "FormulaEvaluationError",
            "Line 1, Col 29: '+' cannot apply to a string and a double",
        ),
        (
            "$TargetDedicatedNodes = $PendingTasks.GetSample(2) + vec(1, 2, 3);",
            "FormulaEvaluationError",
            "Line 1, Col 52: '+' needs vectors of the same length, not 2 and 3",
        ),
        (
            "$TargetDedicatedNodes = val(vec(1), 4);",
            "FormulaEvaluationError",
            "Line 1, Col 25: val(): index 4 is outside a vector of 1 values",
        ),
        (
            "$TargetDedicatedNodes = 3; $NodeDeallocationOption = \"later\";",
            "FormulaEvaluationError",
            "$NodeDeallocationOption must be one of requeue, terminate, taskcompletion, retaineddata, not later",
        ),
        (
            "$TargetDedicatedNodes = time();",
            "FormulaEvaluationError",
            "$TargetDedicatedNodes must be a finite double, not 2025-01-15T14:30:00.000Z",
        ),
        (
            "$TargetDedicatedNodes = time(\"yesterday\");",
            "FormulaEvaluationError",
            "Line 1, Col 25: time(\"yesterday\"): not a W3C-DTF or RFC 1123 date and time",
        ),
    ];
    for (formula, code, detail) in table {
        let r = run(formula);
        let e = r
            .error
            .clone()
            .unwrap_or_else(|| panic!("{formula}: no error: {r:?}"));
        assert_eq!(
            (e.code.as_str(), e.detail.as_str()),
            (*code, *detail),
            "{formula}"
        );
        assert!(
            r.targets.is_none(),
            "{formula}: targets applied despite the error"
        );
    }
}

#[test]
fn results_list_service_variables_then_user_variables_by_name() {
    let r = run(
        "$TargetDedicated = 2; zeta = 1.5; $alpha = time(\"2016-10-13T19:18:47.805Z\"); v = vec(1, 2); i = 90 * TimeInterval_Minute;",
    );
    assert_eq!(
        r.results,
        "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;$alpha=2016-10-13T19:18:47.805Z;i=01:30:00;v=[1,2];zeta=1.5"
    );
    // Partial results are kept beside the error, as the service reports them.
    let r = run("a = 1; $TargetDedicatedNodes = 1 / 0; b = 2;");
    assert_eq!(
        r.results,
        "$TargetDedicatedNodes=4;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;a=1"
    );
}

#[test]
fn an_empty_history_fails_sample_reads_and_passes_percent_checks() {
    let empty = History::default();
    let r = run_with(
        "p = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5); $TargetDedicatedNodes = p < 70 ? 1 : 9;",
        &empty,
    );
    assert_eq!(r.targets.map(|t| t.dedicated), Some(1), "{:?}", r.error);
    let r = run_with(
        "$TargetDedicatedNodes = max($PendingTasks.GetSample(1));",
        &empty,
    );
    assert_eq!(
        r.error.map(|e| e.code),
        Some("InsufficientSampleData".to_string())
    );
}
