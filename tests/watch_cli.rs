//! `batchdeck watch --headless` against `batchdeck emulator`: a job followed to its end, the
//! followed task's stdout as it grows, the exit by how the tasks ended (0, or 1 naming the
//! failed ones), and the clear errors that end a watch (exit 3): a job that does not exist,
//! `--timeout`, a refused key, a `--follow` task the job does not have; a headless watch
//! without `--job` is a usage error (exit 2).

mod common;

use std::process::Output;

use common::EmulatorProcess;
use common::sandbox::{Sandbox, stderr, stdout};

fn setup(emu: &EmulatorProcess, nodes: i32, tasks: &[(&str, &str)]) {
    let b = emu.batch_client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        common::create_pool(&b, "p", nodes, 4).await;
        common::create_job_with_tasks(&b, "j", "p", tasks).await;
    });
}

fn watch(sb: &Sandbox, emu: &EmulatorProcess, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec![
        "watch",
        "--headless",
        "--batch-endpoint",
        &emu.batch_endpoint,
        "--storage-endpoint",
        &emu.blob_endpoint,
    ];
    all.extend_from_slice(args);
    sb.command(&all).envs(env.iter().copied()).output().unwrap()
}

#[test]
fn a_job_is_followed_to_its_end_and_the_exit_says_how_its_tasks_ended() {
    let sb = Sandbox::new();
    let emu = EmulatorProcess::start(&sb.path("emu"), &[]);
    setup(
        &emu,
        1,
        &[
            (
                "t1",
                "/bin/sh -c 'for i in 1 2 3; do echo line $i; sleep 0.3; done; echo final line'",
            ),
            ("t2", "/bin/sh -c 'sleep 0.5; echo broken >&2; exit 3'"),
        ],
    );
    let o = watch(&sb, &emu, &["--job", "j", "--follow", "t1"], &[]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert_eq!(
        err.trim(),
        "batchdeck: 1 of 2 tasks of job j failed: t2",
        "one line naming the failed task"
    );
    for needle in [
        "batchdeck watch: job j on ",
        "  Pool [p]: active",
        "t1| line 1",
        "t1| line 3",
        "t1| final line",
        "Task [t2] completed on ",
        "with exit code 3",
        "All 2 tasks of job [j] completed; 1 failed.",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
    // The followed stdout is in order, each line once.
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("t1| ")).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    // Watching again, now that everything completed: it ends at once, and nothing was
    // deleted by watching.
    let o = watch(&sb, &emu, &["--job", "j"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = emu.batch_client();
    rt.block_on(b.get_job("j")).expect("the job is kept");
    rt.block_on(b.get_pool("p", None))
        .expect("the pool is kept");
    // A job whose tasks all succeed: exit 0.
    rt.block_on(common::create_job_with_tasks(
        &b,
        "ok",
        "p",
        &[("a", "/bin/true")],
    ));
    let o = watch(&sb, &emu, &["--job", "ok"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("All 1 tasks of job [ok] completed successfully."));
}

/// `--output json`: every line of a whole watched job is one object of the run's schema
/// (version 1), from `watch_started` to `finished`, with the followed task's stdout as
/// `task_file_tail` events and no text lines at all.
#[test]
fn json_output_follows_a_whole_watched_job_as_one_object_per_event() {
    let sb = Sandbox::new();
    let emu = EmulatorProcess::start(&sb.path("emu"), &[]);
    setup(
        &emu,
        1,
        &[
            ("t1", "/bin/sh -c 'echo line 1; sleep 0.3; echo line 2'"),
            ("t2", "/bin/sh -c 'sleep 0.3; exit 3'"),
        ],
    );
    let o = watch(
        &sb,
        &emu,
        &["--job", "j", "--follow", "t1", "--output", "json"],
        &[],
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert_eq!(err.trim(), "batchdeck: 1 of 2 tasks of job j failed: t2");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &events {
        assert_eq!(e["v"], 1, "{e}");
        assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    }
    let first = &events[0];
    assert_eq!(first["event"], "watch_started", "{first}");
    assert_eq!((&first["job"], &first["pool"]), (&"j".into(), &"p".into()));
    let named = |n: &'static str| events.iter().filter(move |e| e["event"] == n);
    assert!(named("pool").any(|p| p["id"] == "p"), "{out}");
    let completed: Vec<(String, i64)> = named("tasks")
        .flat_map(|e| e["tasks"].as_array().unwrap().clone())
        .filter(|t| t["state"] == "completed")
        .map(|t| {
            (
                t["id"].as_str().unwrap().into(),
                t["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(completed.contains(&("t1".into(), 0)), "{out}");
    assert!(completed.contains(&("t2".into(), 3)), "{out}");
    let stdout_t1: String = named("task_file_tail")
        .filter(|e| e["task_id"] == "t1" && e["file"] == "stdout.txt")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(stdout_t1, "line 1\nline 2\n", "{out}");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished", "{last}");
    assert_eq!(last["ok"], false);
    assert_eq!(last["total"], 2);
    assert_eq!(last["failed"], serde_json::json!(["t2"]));
    assert_eq!(last["remaining"], serde_json::json!([]));
    // A watch that cannot reach its end says why in its last line too.
    let o = watch(&sb, &emu, &["--job", "nope", "--output", "json"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        (&last["event"], &last["ok"]),
        (&"finished".into(), &false.into())
    );
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("job nope does not exist"),
        "{out}"
    );
}

#[test]
fn a_missing_job_a_timeout_and_a_refused_key_end_the_watch_with_one_line() {
    let sb = Sandbox::new();
    let emu = EmulatorProcess::start(&sb.path("emu"), &[]);
    // No nodes: the task never runs.
    setup(&emu, 0, &[("t1", "/bin/true")]);
    let o = watch(&sb, &emu, &["--job", "nope"], &[]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stderr(&o).trim(),
        "batchdeck: job nope does not exist on this Batch account: check the id (batchdeck watch follows existing work)"
    );
    let o = watch(&sb, &emu, &["--job", "j", "--timeout", "2s"], &[]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "the tasks of job j did not all complete within --timeout 2s (0 of 1 completed)"
        ),
        "{err}"
    );
    // Following a task the job does not have.
    let o = watch(
        &sb,
        &emu,
        &["--job", "j", "--follow", "nope", "--timeout", "20s"],
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "batchdeck: task nope is not in job j: check --follow"
    );
    // Nothing to watch: clap's usage error.
    let o = sb.command(&["watch"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("required arguments were not provided") && stderr(&o).contains("--job"),
        "{}",
        stderr(&o)
    );
    // Headless with a pool alone: it could never end; a usage error before any connection.
    let o = sb
        .command(&["watch", "--headless", "--pool", "p"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "batchdeck: watching headless needs --job (it ends once the job's tasks completed); watch a pool alone full screen, in a terminal"
    );
    assert!(
        !sb.path("home/.local/share/batchdeck/emulator").exists(),
        "no emulator state opened"
    );
    let env = [
        ("AZURE_BATCH_ACCOUNT", common::BATCH_ACCOUNT),
        ("AZURE_BATCH_ACCESS_KEY", "d3Jvbmcga2V5"),
        ("AZURE_BATCH_ENDPOINT", emu.batch_endpoint.as_str()),
    ];
    let o = sb
        .command(&["watch", "--headless", "--job", "j"])
        .envs(env)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("rejected the request (403 AuthenticationFailed)"),
        "{err}"
    );
    assert!(!err.contains("d3Jvbmcga2V5"));
}
