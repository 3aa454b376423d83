//! kill -9 of batchdeck in the middle of a run, then the same command again: the second run
//! finds the containers, the pool, the job and the tasks the first one made, carries on with
//! them instead of failing or duplicating work, and ends with correct outputs and nothing left.
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::EmulatorProcess;
use common::outputs::{assert_outputs, repo_inputs};

fn batchdeck(dir: &Path, boot_delay: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_batchdeck"));
    c.args(["run", "--headless", "--allocation-delay", "0"])
        .args(["--node-boot-delay", boot_delay])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--output-dir")
        .arg(dir.join("out"))
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env_remove("AZURE_BATCH_ACCOUNT")
        .env_remove("AZURE_STORAGE_ACCOUNT")
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .env_remove("BATCHDECK_EMULATOR_FAULTS")
        .stdin(Stdio::null());
    c
}

/// Starts `cmd` and kills it (SIGKILL) as soon as a line of its output contains `marker`.
fn kill_9_at(mut cmd: Command, marker: &str) -> String {
    let mut child: Child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        eprintln!("first run: {line}");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(marker) {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert!(
        seen.contains(marker),
        "the first run ended before {marker:?}:\n{seen}"
    );
    seen
}

#[test]
fn a_run_killed_while_it_waits_for_its_tasks_is_resumed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Nodes take 3 s to boot: the first run is killed while its tasks wait for them.
    kill_9_at(
        batchdeck(d, "3s", &["--delete-job", "--delete-pool"]),
        "Monitoring all tasks",
    );
    let o = batchdeck(d, "0", &["--delete-job", "--delete-pool"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    eprintln!("second run:\n{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success());
    for needle in [
        "Resuming: pool PythonTutorialPool was created by the run started at",
        "Resuming: job PythonTutorialJob was created by the run started at",
        "Container [input] already existed",
        "3 tasks (3 were already there)",
        "Nothing the run created is left behind.",
    ] {
        assert!(out.contains(needle), "{needle:?} missing");
    }
    assert_outputs(
        &d.join("out"),
        &repo_inputs(),
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
    // The emulator's state agrees: nothing is left, and the journal is gone.
    let emu = EmulatorProcess::start(&d.join("data/emulator"), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batch = common::batch_client(&emu.batch_endpoint);
    let pools: Vec<serde_json::Value> = rt
        .block_on(batch.list_all("list pools", batch.url(&["pools"], &[])))
        .unwrap();
    let jobs: Vec<serde_json::Value> = rt
        .block_on(batch.list_all("list jobs", batch.url(&["jobs"], &[])))
        .unwrap();
    assert!(
        pools.iter().all(|p| p["state"] == "deleting") && jobs.is_empty(),
        "{pools:?} {jobs:?}"
    );
    // Its journal and lock, and the killed run's, are gone (the directory's own lock stays).
    let journals: Vec<String> = std::fs::read_dir(d.join("data/runs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".journals.lock")
        .collect();
    assert!(
        journals.is_empty(),
        "the finished run's journal is removed: {journals:?}"
    );
}

#[test]
fn a_run_killed_after_its_tasks_were_added_does_not_add_them_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let emu = EmulatorProcess::start(&d.join("emu"), &["--node-boot-delay", "2s"]);
    let target = [
        "--batch-endpoint",
        emu.batch_endpoint.as_str(),
        "--storage-endpoint",
        emu.blob_endpoint.as_str(),
        "--keep-job",
        "--delete-pool",
    ];
    kill_9_at(batchdeck(d, "0", &target), "[5/9] Add 3 tasks done");
    let o = batchdeck(d, "0", &target).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    eprintln!("second run:\n{out}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success());
    assert!(out.contains("3 tasks (3 were already there)"), "{out}");
    assert_outputs(
        &d.join("out"),
        &repo_inputs(),
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
    // Each task ran to completion once per add: no duplicates, none requeued twice.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batch = common::batch_client(&emu.batch_endpoint);
    let tasks = rt
        .block_on(batch.list_tasks("PythonTutorialJob", None, None))
        .unwrap();
    let mut ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["taskdata1", "taskdata2", "taskdata3"]);
    // The kept job is the finished run's, not an interrupted one's: a third run with the same
    // ids is refused (once the deleted pool is gone).
    for _ in 0..100 {
        if rt
            .block_on(batch.get_pool("PythonTutorialPool", None))
            .is_err_and(|e| e.is_not_found())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut third = target.to_vec();
    third.push("--force");
    let o = batchdeck(d, "0", &third).output().unwrap();
    assert!(!o.status.success());
    // Never a bare refusal: it says which run kept it and how to attach.
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in [
        "job PythonTutorialJob already exists (the run started at ",
        "kept it): watch it with `batchdeck watch --job PythonTutorialJob --pool PythonTutorialPool`",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
}

/// A second session with the same ids while the first still runs is refused with how to
/// watch it, and never touches the first's journal: the first ends as usual.
#[test]
fn a_second_session_with_the_same_ids_is_told_how_to_watch_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let emu = EmulatorProcess::start(&d.join("emu"), &["--node-boot-delay", "4s"]);
    let target = [
        "--batch-endpoint",
        emu.batch_endpoint.as_str(),
        "--storage-endpoint",
        emu.blob_endpoint.as_str(),
        "--delete-job",
        "--delete-pool",
    ];
    let mut first = batchdeck(d, "0", &target)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("Monitoring all tasks") {
            break;
        }
    }
    assert!(seen.contains("Monitoring all tasks"), "{seen}");
    let o = batchdeck(d, "0", &target).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    for needle in [
        "job PythonTutorialJob is being run by another batchdeck session (pid ",
        &format!("pid {}", first.id()),
        "watch it with `batchdeck watch --job PythonTutorialJob --pool PythonTutorialPool`",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    // The first run carries on to its end, and its journal is its own to remove.
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    assert!(first.wait().unwrap().success(), "{seen}");
    assert!(
        seen.contains("Nothing the run created is left behind."),
        "{seen}"
    );
    let journals: Vec<_> = std::fs::read_dir(d.join("data/runs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".journals.lock")
        .collect();
    assert!(journals.is_empty(), "{journals:?}");
}
