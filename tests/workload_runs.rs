//! Workloads run end to end by the binary on the embedded local Azure: the workload that
//! `batchdeck init` writes runs as it is (the tutorial as a workload file, with one's own
//! input added), and `--output json` writes one JSON object per event that a script can
//! follow through a whole run.
mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::outputs::{assert_outputs, repo_inputs};
use common::sandbox::{Sandbox, stderr, stdout};
use serde_json::Value;

fn txt_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    v.sort();
    v
}

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
    let inputs = txt_files(&mine.join("data"));
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
