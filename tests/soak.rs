//! Soak: many tutorial runs of the real binary against `batchdeck emulator` injecting faults
//! into 20% of requests (half answered 500/503/429, half cut off mid-response after they took
//! effect), killing nodes under running tasks and failing start tasks. Every run must pass with
//! correct outputs, exactly one task per input, and nothing left behind.
//!
//! `BATCHDECK_SOAK_RUNS` sets the number of runs (default 50), `BATCHDECK_SOAK_PARALLEL` how
//! many run at once (default 5). It prints `N passed, N failed`.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::azure::batch::BatchClient;
use batchdeck::azure::models::{Task, TaskState};
use batchdeck::azure::storage::StorageClient;
use common::outputs::{check_outputs, repo_inputs};
use common::{BATCH_ACCOUNT, BATCH_KEY, EmulatorProcess, STORAGE_ACCOUNT, STORAGE_KEY};
use url::Url;

/// Run number, requeues seen (or why it failed), and how long it took.
type RunResult = (usize, Result<u32, String>, Duration);

const FAULTS: &str = "error=0.1,reset=0.1,latency=5ms,node-death=0.2,start-task=0.2";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Clients {
    batch: BatchClient,
    storage: StorageClient,
    rt: tokio::runtime::Runtime,
}

impl Clients {
    fn new(emu: &EmulatorProcess) -> Clients {
        Clients {
            batch: BatchClient::new(
                Url::parse(&emu.batch_endpoint).unwrap(),
                SharedKeyCredential::new(BATCH_ACCOUNT, BATCH_KEY).unwrap(),
            )
            .unwrap(),
            storage: StorageClient::new(
                Url::parse(&emu.blob_endpoint).unwrap(),
                SharedKeyCredential::new(STORAGE_ACCOUNT, STORAGE_KEY).unwrap(),
            )
            .unwrap(),
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }
}

/// One run: the binary, then its outputs, its tasks (once each), and its cleanup.
fn one_run(i: usize, emu: &EmulatorProcess, dir: &Path, clients: &Clients) -> Result<u32, String> {
    let (pool, job) = (format!("soakpool{i}"), format!("soakjob{i}"));
    let out = dir.join(format!("out{i}"));
    let containers = [format!("app{i}"), format!("in{i}"), format!("out{i}")];
    let o = Command::new(env!("CARGO_BIN_EXE_batchdeck"))
        .args([
            "run",
            "--headless",
            "--timeout",
            "5m",
            "--keep-job",
            "--delete-pool",
        ])
        .args(["--batch-endpoint", &emu.batch_endpoint])
        .args(["--storage-endpoint", &emu.blob_endpoint])
        .args(["--pool-id", &pool, "--job-id", &job])
        .args(["--application-container", &containers[0]])
        .args(["--input-container", &containers[1]])
        .args(["--output-container", &containers[2]])
        .arg("--output-dir")
        .arg(&out)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("BATCHDECK_EMULATOR_FAULTS")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run batchdeck: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "exit {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    // The job was kept: exactly one task per input, each completed once with exit code 0
    // (checked first: it says more about a failure than a missing output does).
    let tasks: Vec<Task> = clients
        .rt
        .block_on(clients.batch.list_tasks(&job, None, None))
        .map_err(|e| format!("listing tasks: {e}"))?;
    let mut ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    ids.sort();
    if ids != ["taskdata1", "taskdata2", "taskdata3"] {
        return Err(format!("tasks {ids:?}"));
    }
    let mut requeues = 0;
    for t in &tasks {
        let e = t.execution_info.as_ref().ok_or("no execution info")?;
        if t.state != Some(TaskState::Completed) || e.exit_code != Some(0) {
            return Err(format!(
                "task {} is {:?} with exit code {:?}, result {:?}, failure {:?}, {} requeues, {} retries",
                t.id,
                t.state,
                e.exit_code,
                e.result,
                e.failure_info,
                e.requeue_count,
                e.retry_count
            ));
        }
        requeues += e.requeue_count.max(0) as u32;
    }
    check_outputs(&out, &repo_inputs(), 3, &job, &pool).map_err(|e| {
        format!(
            "{e}; the run printed:\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    })?;
    clients
        .rt
        .block_on(clients.batch.delete_job(&job))
        .map_err(|e| format!("deleting job: {e}"))?;
    // The run deleted its containers and (asked to) its pool.
    for c in &containers {
        if clients
            .rt
            .block_on(clients.storage.container_exists(c))
            .map_err(|e| format!("checking {c}: {e}"))?
        {
            return Err(format!("container {c} left behind"));
        }
    }
    Ok(requeues)
}

fn wait_until_empty(clients: &Clients) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pools: Vec<serde_json::Value> = clients
            .rt
            .block_on(
                clients
                    .batch
                    .list_all("list pools", clients.batch.url(&["pools"], &[])),
            )
            .map_err(|e| e.to_string())?;
        let jobs: Vec<serde_json::Value> = clients
            .rt
            .block_on(
                clients
                    .batch
                    .list_all("list jobs", clients.batch.url(&["jobs"], &[])),
            )
            .map_err(|e| e.to_string())?;
        if pools.is_empty() && jobs.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "left behind: {} pools, {} jobs",
                pools.len(),
                jobs.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn runs_under_injected_faults_all_pass_with_nothing_left_behind() {
    let runs = env_usize("BATCHDECK_SOAK_RUNS", 50);
    let parallel = env_usize("BATCHDECK_SOAK_PARALLEL", 5).max(1);
    let dir = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(&dir.path().join("emu"), &["--faults", FAULTS]);
    let started = Instant::now();
    let results: Arc<Mutex<Vec<RunResult>>> = Arc::default();
    let next = Arc::new(Mutex::new(0usize));
    std::thread::scope(|s| {
        for _ in 0..parallel {
            let (results, next, emu, dir) = (results.clone(), next.clone(), &emu, dir.path());
            s.spawn(move || {
                let clients = Clients::new(emu);
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n
                    };
                    if i > runs {
                        return;
                    }
                    let t = Instant::now();
                    let r = one_run(i, emu, dir, &clients);
                    results.lock().unwrap().push((i, r, t.elapsed()));
                }
            });
        }
    });
    let clients = Clients::new(&emu);
    let leftovers = wait_until_empty(&clients);
    let results = results.lock().unwrap();
    let failed: Vec<&RunResult> = results.iter().filter(|r| r.1.is_err()).collect();
    let requeues: u32 = results.iter().filter_map(|r| r.1.as_ref().ok()).sum();
    let slowest = results.iter().map(|r| r.2).max().unwrap_or_default();
    for (i, r, _) in &failed {
        eprintln!("run {i} FAILED: {}", r.as_ref().unwrap_err());
    }
    // Straight to stderr, not through the test harness's capture: CI's log shows the figure.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "soak: {} passed, {} failed ({runs} runs, {parallel} at once, faults {FAULTS}, {requeues} tasks requeued by node deaths, slowest run {:.1}s, {:.1}s in all)",
        results.len() - failed.len(),
        failed.len(),
        slowest.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let faults_seen = emu.stderr_so_far();
    assert!(
        faults_seen.contains("emulator injects faults") || faults_seen.contains("injecting faults")
    );
    assert!(failed.is_empty(), "{} of {runs} runs failed", failed.len());
    assert_eq!(results.len(), runs);
    assert!(
        requeues > 0,
        "no node death happened: the fault injection did not work"
    );
    leftovers.unwrap();
}
