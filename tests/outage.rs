//! Outages are waited out, never acted on: a headless run whose Batch service goes away for
//! 15 s while its tasks run (the emulator killed, then restarted on its ports) carries on, and
//! with `--delete-job --delete-pool` deletes nothing until its tasks are done; a run that fails
//! while its tasks still run keeps the job and the pool and says how to attach.
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use batchdeck::azure::models::{JobState, PoolState};
use common::EmulatorProcess;
use common::outputs::write_slow_script;

fn run(dir: &Path, emu: &EmulatorProcess, extra: &[&str]) -> Command {
    let script = dir.join("slow.py");
    // Longer than the watcher's wait after the restart: its probes are 8 s, then 14 s apart by
    // the end of a 15 s outage, and the requeued tasks must still run when it reconnects.
    write_slow_script(&script, 20);
    let mut c = Command::new(env!("CARGO_BIN_EXE_batchdeck"));
    c.args(["run", "--headless"])
        .args(["--batch-endpoint", &emu.batch_endpoint])
        .args(["--storage-endpoint", &emu.blob_endpoint])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--output-dir")
        .arg(dir.join("out"))
        .arg("--task-script")
        .arg(&script)
        .args(["--delete-job", "--delete-pool"])
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

/// Whether the pool and the job exist and are not being deleted.
fn both_there(emu_endpoint: &str) -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = common::batch_client(emu_endpoint);
    rt.block_on(async {
        let p = b.get_pool("PythonTutorialPool", Some("id,state")).await;
        let j = b.get_job("PythonTutorialJob").await;
        matches!((p, j), (Ok(p), Ok(j))
            if p.state == Some(PoolState::Active) && j.state == Some(JobState::Active))
    })
}

#[test]
fn a_headless_run_waits_out_an_outage_and_deletes_nothing_while_its_tasks_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("emu");
    let mut emu = EmulatorProcess::start(&data, &[]);
    let endpoint = emu.batch_endpoint.clone();
    let mut child = run(d, &emu, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(out).lines() {
            let line = line.unwrap();
            eprintln!("run: {line}");
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let wait_line = |needle: &str, secs: u64| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!("no line with {needle:?} within {secs} s"),
            }
        }
    };
    wait_line("Monitoring all tasks", 60);
    std::thread::sleep(Duration::from_secs(2));
    // The service goes away for 15 s while the tasks run.
    emu.kill9();
    wait_line("reconnecting to Batch (attempt 1", 20);
    std::thread::sleep(Duration::from_secs(15));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the outage ended the run"
    );
    let emu = EmulatorProcess::start(&data, &[]);
    assert_eq!(emu.batch_endpoint, endpoint, "same ports");
    assert!(
        both_there(&endpoint),
        "the pool and job were kept through the outage"
    );
    wait_line("reconnected to Batch after", 60);
    // Still there until the tasks are done (they run again: the outage requeued them).
    assert!(both_there(&endpoint));
    let status = child.wait().unwrap();
    let all = reader.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{all}\n{err}");
    let done = all
        .find("Success! All tasks reached the 'Completed' state")
        .expect("tasks done");
    let deleted = all
        .find("Deleted pool PythonTutorialPool")
        .expect("pool deleted as asked");
    assert!(
        done < deleted,
        "deleted only after the tasks completed:\n{all}"
    );
    assert!(all.contains("Deleted job PythonTutorialJob"), "{all}");
    for f in ["taskdata1", "taskdata2", "taskdata3"] {
        let p = d.join(format!("out/{f}_OUTPUT.txt"));
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "ok\n",
            "{}",
            p.display()
        );
    }
    drop(emu);
}

#[test]
fn a_run_that_fails_while_its_tasks_run_keeps_them_and_says_how_to_attach() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let emu = EmulatorProcess::start(&d.join("emu"), &[]);
    // The wait times out while the tasks still run: nothing of theirs is deleted, even with
    // --delete-job --delete-pool.
    let o = run(d, &emu, &["--timeout", "2s"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{out}");
    assert!(
        err.contains("did not reach 'Completed' state within the timeout"),
        "{err}"
    );
    for needle in [
        "Keeping job [PythonTutorialJob] and pool [PythonTutorialPool]: ",
        "running. Attach with `batchdeck watch --job PythonTutorialJob --pool PythonTutorialPool`",
        "Still present",
        "  pool PythonTutorialPool (",
        "  job PythonTutorialJob (",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
    assert!(!out.contains("Deleted job"), "{out}");
    assert!(both_there(&emu.batch_endpoint));
}
