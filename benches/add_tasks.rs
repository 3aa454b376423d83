//! Target 2: adding 10,000 tasks to a job, batchdeck (collections of 100, 8 at once) against
//! azure-batch 15's create_tasks (its default, sequential, and with max_concurrency=8), on the
//! same in-process emulator. Each side adds to a fresh job; the median of three runs.
//!
//! cargo bench --bench add_tasks

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

fn main() {
    let (n, runs) = if common::benchmarking() {
        (10_000, 3)
    } else {
        (150, 1)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let emu = rt.block_on(common::emulator(dir.path()));
    let batch = common::batch_client(&emu);
    // No nodes: only adding is timed.
    rt.block_on(common::pool_and_job(&batch, "addpool", "", 0, 1));
    let tasks = common::trivial_tasks(n);
    let mut ours = Vec::new();
    for r in 0..runs {
        let id = format!("ours{r}");
        rt.block_on(common::create_job(&batch, "addpool", &id));
        let t = Instant::now();
        let added = rt.block_on(batch.add_tasks(&id, &tasks)).unwrap();
        ours.push(t.elapsed());
        assert!(
            added
                .iter()
                .all(|a| a.status == batchdeck::azure::models::TaskAddStatus::Success)
                && added.len() == n
        );
    }
    let peer = |concurrency: u32| -> Duration {
        let mut v = Vec::new();
        for r in 0..runs {
            let id = format!("sdk{concurrency}x{r}");
            rt.block_on(common::create_job(&batch, "addpool", &id));
            let mut cmd = Command::new(common::python("sdk15"));
            cmd.arg(format!("{}/bench/peers/add_tasks.py", common::ROOT))
                .envs(common::peer_env(&emu))
                .env("JOB_ID", &id)
                .env("TASKS", n.to_string())
                .env("CONCURRENCY", concurrency.to_string());
            v.push(common::run_peer(&rt, cmd));
        }
        common::median(v)
    };
    let sequential = peer(0);
    let threaded = peer(8);
    let ours = common::median(ours);
    println!(
        "add {n} tasks: batchdeck {}, azure-batch create_tasks {} (default) / {} (max_concurrency=8)",
        common::secs(ours),
        common::secs(sequential),
        common::secs(threaded)
    );
    let best_peer = sequential.min(threaded);
    let ratio = best_peer.as_secs_f64() / ours.as_secs_f64();
    common::result(
        "2",
        &format!("add {n} tasks (vs the faster of create_tasks default and max_concurrency=8)"),
        common::secs(ours),
        common::secs(best_peer),
        ratio,
        ">= 3x faster",
        ratio >= 3.0,
    );
    rt.block_on(emu.shutdown());
}
