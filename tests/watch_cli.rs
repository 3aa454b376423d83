//! `batchdeck watch --headless` against `batchdeck emulator`: a job followed to its end, the
//! followed task's stdout as it grows, the exit by how the tasks ended (0, or 1 naming the
//! failed ones), and the clear errors that end a watch (exit 3): a job that does not exist,
//! `--timeout`, a refused key, a `--follow` task the job does not have; a headless watch
//! without `--job` is a usage error (exit 2). Tasks held by their dependencies are shown
//! waiting or blocked, and a job with only blocked tasks left ends the watch (exit 1).

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
    watch_command(sb, emu, args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// As [`watch`], running `then` once the watch printed its first `Tasks:` line (it has
/// looked at the job once): what happens after is what it must report as it happens.
fn watch_then(sb: &Sandbox, emu: &EmulatorProcess, args: &[&str], then: impl FnOnce()) -> Output {
    use std::io::BufRead;
    let mut child = watch_command(sb, emu, args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (mut seen, mut then) = (String::new(), Some(then));
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if line.contains("  Tasks: ")
            && let Some(f) = then.take()
        {
            f();
        }
        seen.push_str(&line);
        line.clear();
    }
    let mut o = child.wait_with_output().unwrap();
    o.stdout = seen.into_bytes();
    o
}

fn watch_command(sb: &Sandbox, emu: &EmulatorProcess, args: &[&str]) -> std::process::Command {
    let mut all = vec![
        "watch",
        "--headless",
        "--batch-endpoint",
        &emu.batch_endpoint,
        "--storage-endpoint",
        &emu.blob_endpoint,
    ];
    all.extend_from_slice(args);
    sb.command(&all)
}

#[test]
fn a_job_is_followed_to_its_end_and_the_exit_says_how_its_tasks_ended() {
    let sb = Sandbox::new();
    let emu = EmulatorProcess::start(&sb.path("emu"), &[]);
    // t2 fails once the watch has looked at the job (at most 30 s on), so that its end is
    // news however slowly the watch starts.
    let go = sb.path("go");
    let t2 = format!(
        "/bin/sh -c 'i=0; while [ ! -f {go} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo broken >&2; exit 3'",
        go = go.display()
    );
    setup(
        &emu,
        1,
        &[
            (
                "t1",
                "/bin/sh -c 'for i in 1 2 3; do echo line $i; sleep 0.3; done; echo final line'",
            ),
            ("t2", &t2),
        ],
    );
    let o = watch_then(&sb, &emu, &["--job", "j", "--follow", "t1"], || {
        std::fs::write(&go, "").unwrap()
    });
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
    assert!(stdout(&o).contains("All 1 task of job [ok] completed successfully."));
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

/// Makes job `job` on pool `p` with task dependencies: each task (id, command line, the ids
/// it depends on).
fn job_with_dependencies(emu: &EmulatorProcess, job: &str, tasks: &[(&str, &str, &[&str])]) {
    use batchdeck::azure::models::{Job, PoolInfo, Task};
    use serde_json::json;
    let b = emu.batch_client();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut j = Job {
            id: job.into(),
            pool_info: PoolInfo {
                pool_id: Some("p".into()),
                ..PoolInfo::default()
            },
            ..Job::default()
        };
        j.extra.insert("usesTaskDependencies".into(), json!(true));
        b.create_job(&j).await.expect("create the job");
        let tasks: Vec<Task> = tasks
            .iter()
            .map(|(id, cmd, deps)| {
                let mut t = Task {
                    id: id.to_string(),
                    command_line: cmd.to_string(),
                    ..Task::default()
                };
                if !deps.is_empty() {
                    t.extra
                        .insert("dependsOn".into(), json!({ "taskIds": deps }));
                }
                t
            })
            .collect();
        b.add_tasks(job, &tasks).await.expect("add the tasks");
    });
}

/// A task its dependencies hold is shown as waiting on them, as text and JSON; one a failed
/// dependency blocks is shown blocked, and when every task left is blocked (nothing can run
/// any more) the watch ends there, as a run does: exit 1 naming the failed and blocked tasks,
/// and the JSON `finished` line lists them. `--timeout` only stops a watch that would hang.
#[test]
fn waiting_and_blocked_tasks_are_shown_and_a_job_only_blocked_tasks_are_left_in_ends_the_watch() {
    let sb = Sandbox::new();
    let emu = EmulatorProcess::start(&sb.path("emu"), &[]);
    setup(&emu, 1, &[("warm", "/bin/true")]);
    // Waiting: `total` waits on two map tasks (2, then 1), then runs.
    job_with_dependencies(
        &emu,
        "w",
        &[
            ("m1", "/bin/sh -c 'sleep 1'", &[]),
            // Long enough for a poll (every 1 s to 5 s) to see m1 completed and m2 not.
            ("m2", "/bin/sh -c 'sleep 8'", &[]),
            ("total", "/bin/true", &["m1", "m2"]),
        ],
    );
    let o = watch(&sb, &emu, &["--job", "w", "--timeout", "60s"], &[]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    for needle in [
        "Task [total] waits on 2 tasks it depends on",
        "Task [total] waits on 1 task it depends on",
        "Task [total] completed on ",
        "All 3 tasks of job [w] completed successfully.",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
    // Blocked: `bad` fails with the action `block`, so `sum` and `after` (which waits on
    // `sum`) never run; `ok` completes. The watch ends without --timeout's help.
    let blocked_job = |id: &str| {
        job_with_dependencies(
            &emu,
            id,
            &[
                ("bad", "/bin/sh -c 'sleep 1; exit 2'", &[]),
                ("ok", "/bin/true", &[]),
                ("sum", "/bin/true", &["bad", "ok"]),
                ("after", "/bin/true", &["sum"]),
            ],
        )
    };
    blocked_job("b");
    let o = watch(&sb, &emu, &["--job", "b", "--timeout", "60s"], &[]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert_eq!(
        err.trim(),
        "batchdeck: 1 of 4 tasks of job b failed: bad; 2 will never run (blocked by a failed task they depend on): after, sum",
        "{out}"
    );
    for needle in [
        "Task [sum] is blocked by [bad], which failed and blocks what depends on it: it will never run",
        "Task [after] is blocked by [",
        "2 of 4 tasks of job [b] completed (1 failed); 2 will never run: blocked by a failed task they depend on.",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
    // Watching the same job again, now that it is settled: the blocked tasks are said at
    // first sight, and the watch ends at once the same way.
    let o = watch(&sb, &emu, &["--job", "b", "--timeout", "60s"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Task [sum] is blocked by [bad]"),
        "{}",
        stdout(&o)
    );
    // As JSON: `waiting_on`, then `blocked_by`, and the `finished` line names them.
    blocked_job("bj");
    let o = watch(
        &sb,
        &emu,
        &["--job", "bj", "--timeout", "60s", "--output", "json"],
        &[],
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let sum: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "tasks")
        .flat_map(|e| e["tasks"].as_array().unwrap())
        .filter(|t| t["id"] == "sum")
        .collect();
    assert!(
        sum.iter()
            .any(|t| t["waiting_on"].as_u64().is_some_and(|n| n >= 1)),
        "{out}"
    );
    assert!(sum.iter().any(|t| t["blocked_by"] == "bad"), "{out}");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished", "{last}");
    assert_eq!(last["ok"], false);
    assert_eq!(last["total"], 4);
    assert_eq!(last["failed"], serde_json::json!(["bad"]));
    assert_eq!(last["blocked"], serde_json::json!(["after", "sum"]));
    assert_eq!(last["error"], serde_json::Value::Null);
}
