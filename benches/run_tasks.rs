//! Target 4: the emulator runs 10,000 trivial tasks (`/bin/true`) on 4 nodes of 8 slots, from
//! the add to the last completion, against `xargs -P 32` starting the same 10,000 processes.
//!
//! cargo bench --bench run_tasks

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One run on a fresh emulator in `dir`: from the add to the last completion.
fn emulator_run(n: usize, dir: &std::path::Path) -> Duration {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = rt.block_on(common::emulator(dir));
    let batch = common::batch_client(&emu);
    let elapsed = rt.block_on(async {
        common::pool_and_job(&batch, "runpool", "", 4, 8).await;
        // Wait for the nodes, so that only running the tasks is timed.
        loop {
            let nodes = batch.list_nodes("runpool", Some("id,state")).await.unwrap();
            if nodes.len() == 4
                && nodes
                    .iter()
                    .all(|n| n.state == batchdeck::azure::models::NodeState::Idle)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        common::create_job(&batch, "runpool", "runjob").await;
        let tasks = common::trivial_tasks(n);
        let t = Instant::now();
        batch.add_tasks("runjob", &tasks).await.unwrap();
        loop {
            let c = batch.task_counts("runjob").await.unwrap().task_counts;
            if c.completed as usize == n {
                assert_eq!(c.succeeded as usize, n, "every task succeeded");
                break t.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    rt.block_on(emu.shutdown());
    elapsed
}

fn xargs_run(n: usize) -> Duration {
    let t = Instant::now();
    let mut xargs = Command::new("xargs")
        .args(["-P", "32", "-n", "1", "/bin/true"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("xargs");
    {
        use std::io::Write;
        let mut stdin = xargs.stdin.take().unwrap();
        for i in 0..n {
            writeln!(stdin, "{i}").unwrap();
        }
    }
    assert!(xargs.wait().unwrap().success());
    t.elapsed()
}

fn main() {
    let n = std::env::var("BATCHDECK_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if common::benchmarking() { 10_000 } else { 64 });
    let runs = if common::benchmarking() { 3 } else { 1 };
    // Every run's directories are kept until the end: ext4 skips inodes deleted in the last
    // 30 s when it allocates new ones, and 40,000 just-deleted inodes (4 per task: its
    // directory, wd/, stdout.txt, stderr.txt) would slow the next run's allocations.
    let dirs: Vec<tempfile::TempDir> = (0..runs).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    for d in &dirs {
        ours.push(emulator_run(n, d.path()));
        peer.push(xargs_run(n));
    }
    println!(
        "{n} trivial tasks: emulator (4 nodes x 8 slots) {:?}, xargs -P 32 {:?}",
        ours.iter().map(|d| common::secs(*d)).collect::<Vec<_>>(),
        peer.iter().map(|d| common::secs(*d)).collect::<Vec<_>>()
    );
    let (elapsed, peer) = (common::median(ours), common::median(peer));
    let ratio = elapsed.as_secs_f64() / peer.as_secs_f64();
    common::result(
        "4",
        &format!(
            "run {n} trivial tasks on 4 nodes x 8 slots, median of {runs} (time vs xargs -P 32)"
        ),
        common::secs(elapsed),
        common::secs(peer),
        ratio,
        "<= 2x the time",
        ratio <= 2.0,
    );
}
