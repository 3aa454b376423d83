//! Workloads run end to end by the binary on the embedded local Azure: the workload that
//! `batchdeck init` writes runs as it is (the tutorial as a workload file, with one's own
//! input added), and `--output json` writes one JSON object per event that a script can
//! follow through a whole run.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::outputs::{assert_outputs, repo_inputs, top_words};
use common::sandbox::{Sandbox, stderr, stdout};
use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_workload_init_writes_runs_as_it_is() {
    let sb = Sandbox::new();
    let o = Command::new(env!("CARGO_BIN_EXE_batchdeck"))
        .args(["init", "mine"])
        .current_dir(sb.path("work"))
        .env("HOME", sb.path("home"))
        .env("XDG_CONFIG_HOME", sb.path("home/.config"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("workload.toml"), "{}", stdout(&o));
    // One's own input next to the tutorial's: the workload's glob takes it in.
    let mine = sb.path("work/mine");
    std::fs::write(
        mine.join("data/extra.txt"),
        "tide moon tide star moon tide harbour\n",
    )
    .unwrap();
    let o = sb.run(&["-w", "mine/workload.toml"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Task [extra] completed"), "{out}");
    assert!(
        out.contains("Nothing the run created is left behind."),
        "{out}"
    );
    let inputs = common::outputs::txt_files(&mine.join("data"));
    assert_eq!(inputs.len(), 4, "{inputs:?}");
    assert_outputs(
        &sb.output_dir(),
        &inputs,
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
}

#[test]
fn json_output_is_one_object_per_event_through_a_whole_run() {
    let sb = Sandbox::new();
    let o = sb.run(&["--output", "json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &events {
        assert_eq!(e["v"], 1, "{e}");
        assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
        assert!(e["event"].is_string(), "{e}");
    }
    let named = |n: &'static str| events.iter().filter(move |e| e["event"] == n);
    assert_eq!(events[0]["event"], "run_started", "{}", events[0]);
    assert!(
        events[0]["batch"]
            .as_str()
            .unwrap()
            .contains("embedded local Azure")
    );
    // Every step started and finished, in order.
    let started: Vec<u64> = named("step_started")
        .map(|e| e["step"].as_u64().unwrap())
        .collect();
    let finished: Vec<u64> = named("step_finished")
        .map(|e| e["step"].as_u64().unwrap())
        .collect();
    assert_eq!(started, (1..=9).collect::<Vec<_>>());
    assert_eq!(finished, (1..=9).collect::<Vec<_>>());
    assert_eq!(named("step_failed").count(), 0);
    // Each task reported completed with exit code 0, each output downloaded.
    let mut completed: Vec<String> = named("tasks")
        .flat_map(|e| e["tasks"].as_array().unwrap().clone())
        .filter(|t| t["state"] == "completed")
        .map(|t| {
            assert_eq!(t["exit_code"], 0, "{t}");
            t["id"].as_str().unwrap().to_string()
        })
        .collect();
    completed.sort();
    completed.dedup();
    assert_eq!(completed, ["taskdata1", "taskdata2", "taskdata3"]);
    let mut blobs: Vec<&str> = named("downloaded")
        .map(|e| e["blob"].as_str().unwrap())
        .collect();
    blobs.sort();
    assert_eq!(
        blobs,
        [
            "taskdata1_OUTPUT.txt",
            "taskdata2_OUTPUT.txt",
            "taskdata3_OUTPUT.txt"
        ]
    );
    assert!(named("uploaded").count() >= 4);
    assert!(named("pool").any(|p| p["id"] == "PythonTutorialPool"));
    // The last line says how it ended and that nothing is left.
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished", "{last}");
    assert_eq!(last["ok"], true);
    assert_eq!(last["remaining"], serde_json::json!([]));
    assert!(named("deleted").any(|e| e["kind"] == "pool" && e["id"] == "PythonTutorialPool"));
    assert_outputs(
        &sb.output_dir(),
        &repo_inputs(),
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
}

#[test]
fn the_word_count_example_reduces_every_map_task_s_counts() {
    let sb = Sandbox::new();
    let wc = Path::new(ROOT).join("examples/wordcount/workload.toml");
    let o = sb.run(&["-w", wc.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let inputs = common::outputs::txt_files(&Path::new(ROOT).join("examples/wordcount/data"));
    assert_eq!(inputs.len(), 5);
    // The lines name the workload, and each step in its words.
    for line in [
        "Workload [wordcount]: pool [WordCountPool], job [WordCountJob], 6 tasks (count ×5, total); containers [wordcount-app], [wordcount-input], [wordcount-output]",
        "[2/9] Upload wordcount.py and 5 inputs",
        "[3/9] Create pool WordCountPool",
        "[4/9] Create job WordCountJob",
        "[5/9] Add count ×5, total",
        "[6/9] Wait for 6 tasks",
        "[7/9] Download wordcount-output",
    ] {
        assert!(out.contains(line), "{line:?} not in:\n{out}");
    }
    // Each map task's counts came back under counts/, and the reduce task's total.
    for input in &inputs {
        let stem = input.file_stem().unwrap().to_str().unwrap();
        assert!(
            out.contains(&format!("Task [count-{stem}] completed")),
            "{out}"
        );
        let counts = sb.output_dir().join(format!("counts/{stem}.counts"));
        assert!(counts.is_file(), "{} is missing", counts.display());
    }
    assert!(
        out.contains("Task [total] waits for 5 tasks (count-harbour, count-lighthouse, "),
        "{out}"
    );
    assert!(out.contains("Task [total] completed"), "{out}");
    // The total, checked against a count of all inputs made here: it can only be right if the
    // reduce task started after every map task had uploaded its counts.
    let all: String = inputs
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap() + "\n")
        .collect();
    let want: Vec<String> = top_words(&all, 10)
        .into_iter()
        .map(|(w, c)| format!("{w} {c}"))
        .collect();
    let got = std::fs::read_to_string(sb.output_dir().join("total_OUTPUT.txt")).unwrap();
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
}

#[test]
fn a_failed_map_task_satisfies_or_blocks_the_reduce_task_as_its_action_says() {
    let dir = Path::new(ROOT).join("tests/fixtures/workloads/failing_map");
    // satisfy: the reduce task runs, on what the other map tasks counted.
    let sb = Sandbox::new();
    let o = sb.run(&["-w", dir.join("satisfy.toml").to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("batchdeck: 1 of 4 tasks failed;"),
        "{}",
        stderr(&o)
    );
    let out = stdout(&o);
    assert!(out.contains("Task [sum] completed"), "{out}");
    assert!(out.contains("Task [map-bad] completed"), "{out}");
    let total = std::fs::read_to_string(sb.output_dir().join("total.txt")).unwrap();
    let mut counts: Vec<u32> = total.lines().map(|l| l.trim().parse().unwrap()).collect();
    counts.sort();
    assert_eq!(counts, [2, 5]);
    // block (the default for a failure): it never runs, and the run does not wait for it.
    let sb = Sandbox::new();
    let started = Instant::now();
    let o = sb.run(&["-w", dir.join("block.toml").to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("batchdeck: 1 of 4 tasks failed and 1 more never ran"),
        "{}",
        stderr(&o)
    );
    let out = stdout(&o);
    assert!(out.contains("Tasks that will never run: 1"), "{out}");
    assert!(
        out.contains("Task [sum] is blocked by [map-bad], which failed and blocks what depends on it: it will never run"),
        "{out}"
    );
    assert!(out.contains("2 succeeded, 1 failed, 1 blocked"), "{out}");
    assert!(!out.contains("Task [sum] completed"), "{out}");
    assert!(
        out.contains("Nothing the run created is left behind."),
        "{out}"
    );
    assert!(sb.output_dir().join("n/good1.n").is_file());
    assert!(!sb.output_dir().join("total.txt").exists());
    assert!(started.elapsed() < Duration::from_secs(120));
}

/// The reduce task is shown waiting on the map tasks it depends on, in the text lines and in
/// the JSON stream: on all five at first (each map task sleeps 2 s first), then on fewer as
/// they complete, and only then does it run.
#[test]
fn the_reduce_task_is_shown_waiting_on_the_map_tasks_in_text_and_json() {
    let sb = Sandbox::new();
    let wl = common::outputs::slow_word_count(&sb.path("wc"), 2);
    let o = sb.run(&["-w", wl.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let waits: Vec<(usize, u32)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let n = l.split("Task [total] waits on ").nth(1)?;
            Some((i, n.split(' ').next()?.parse().unwrap()))
        })
        .collect();
    assert_eq!(waits.first().map(|w| w.1), Some(5), "{out}");
    assert!(
        out.contains("Task [total] waits on 5 tasks it depends on"),
        "{out}"
    );
    assert!(
        waits.windows(2).all(|w| w[0].1 > w[1].1),
        "fewer each time: {waits:?}"
    );
    let completed = lines
        .iter()
        .position(|l| l.contains("Task [total] completed"))
        .expect("the reduce task completed");
    assert!(waits.iter().all(|(i, _)| *i < completed), "{out}");
    // The same as JSON: the service's state (active) and what holds it.
    let sb = Sandbox::new();
    let o = sb.run(&["-w", wl.to_str().unwrap(), "--output", "json"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // The workload, named, after run_started; the step events keep the step's own title.
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let w = &events[1];
    assert_eq!(
        (&w["event"], &w["name"]),
        (&"workload".into(), &"wordcount".into()),
        "{w}"
    );
    assert_eq!(
        w["groups"],
        serde_json::json!([{ "name": "count", "tasks": 5 }, { "name": "total", "tasks": 1 }])
    );
    assert_eq!(w["steps"][2], "Create pool WordCountPool");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_started" && e["title"] == "Create pool")
    );
    let total: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "tasks")
        .flat_map(|e| e["tasks"].as_array().unwrap().clone())
        .filter(|t| t["id"] == "total")
        .collect();
    let first = &total[0];
    assert_eq!(
        (&first["state"], &first["waiting_on"], &first["blocked_by"]),
        (&"active".into(), &5.into(), &Value::Null),
        "{out}"
    );
    let held: Vec<u64> = total
        .iter()
        .filter_map(|t| t["waiting_on"].as_u64())
        .collect();
    assert!(held.windows(2).all(|w| w[0] > w[1]), "{held:?}");
    let last = total.last().unwrap();
    assert_eq!(
        (&last["state"], &last["waiting_on"]),
        (&"completed".into(), &Value::Null)
    );
}
