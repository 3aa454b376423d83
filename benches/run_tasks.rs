//! Target 4: the emulator runs 10,000 trivial tasks (`/bin/true`) on 4 nodes of 8 slots, from
//! the add to the last completion, against `xargs -P 32` starting the same 10,000 processes.
//!
//! cargo bench --bench run_tasks

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let n = if common::benchmarking() { 10_000 } else { 64 };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let emu = rt.block_on(common::emulator(dir.path()));
    let batch = common::batch_client(&emu);
    let elapsed = rt.block_on(async {
        common::pool_and_job(&batch, "runpool", "", 4, 8).await;
        // Wait for the nodes, so that only running the tasks is timed.
        loop {
            let nodes = batch.list_nodes("runpool", Some("id,state")).await.unwrap();
            if nodes.len() == 4 && nodes.iter().all(|n| n.state == "idle") {
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
    let peer = t.elapsed();
    println!(
        "{n} trivial tasks: emulator (4 nodes x 8 slots) {}, xargs -P 32 {}",
        common::secs(elapsed),
        common::secs(peer)
    );
    let ratio = elapsed.as_secs_f64() / peer.as_secs_f64();
    common::result(
        "4",
        &format!("run {n} trivial tasks on 4 nodes x 8 slots (time vs xargs -P 32)"),
        common::secs(elapsed),
        common::secs(peer),
        ratio,
        "<= 2x the time",
        ratio <= 2.0,
    );
}
