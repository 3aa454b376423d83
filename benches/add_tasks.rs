//! Target 2: adding 10,000 tasks to a job, batchdeck (collections of 100, 8 at once) against
//! azure-batch 15's create_tasks (its default, sequential, and with max_concurrency=8), on the
//! same in-process emulator. Each side adds to a fresh job; the median of three runs.
//!
//! cargo bench --bench add_tasks

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use batchdeck::azure::models::{Job, Pool, PoolInfo, Task};

fn job(batch: &batchdeck::azure::batch::BatchClient, rt: &tokio::runtime::Runtime, id: &str) {
    rt.block_on(batch.create_job(&Job {
        id: id.into(),
        pool_info: PoolInfo {
            pool_id: Some("addpool".into()),
            ..PoolInfo::default()
        },
        ..Job::default()
    }))
    .unwrap();
}

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
    rt.block_on(batch.create_pool(&Pool {
        id: "addpool".into(),
        vm_size: Some("STANDARD_D2S_V3".into()),
        target_dedicated_nodes: Some(0),
        ..Pool::default()
    }))
    .unwrap();

    let tasks: Vec<Task> = (0..n)
        .map(|i| Task {
            id: format!("t{i:05}"),
            command_line: "/bin/true".into(),
            ..Task::default()
        })
        .collect();
    let mut ours = Vec::new();
    for r in 0..runs {
        let id = format!("ours{r}");
        job(&batch, &rt, &id);
        let t = Instant::now();
        let added = rt.block_on(batch.add_tasks(&id, &tasks)).unwrap();
        ours.push(t.elapsed());
        assert!(added.iter().all(|a| a.status == "success") && added.len() == n);
    }
    let peer = |concurrency: u32| -> Duration {
        let mut v = Vec::new();
        for r in 0..runs {
            let id = format!("sdk{concurrency}x{r}");
            job(&batch, &rt, &id);
            // The emulator serves from this process's runtime while the peer runs.
            let out = rt.block_on(async {
                tokio::task::spawn_blocking({
                    let env = common::peer_env(&emu);
                    move || {
                        Command::new(common::python("sdk15"))
                            .arg(format!("{}/bench/peers/add_tasks.py", common::ROOT))
                            .envs(env)
                            .env("JOB_ID", &id)
                            .env("TASKS", n.to_string())
                            .env("CONCURRENCY", concurrency.to_string())
                            .output()
                            .expect("run the Python peer")
                    }
                })
                .await
                .unwrap()
            });
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let secs: f64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .strip_prefix("seconds ")
                .expect("the peer prints its time")
                .parse()
                .unwrap();
            v.push(Duration::from_secs_f64(secs));
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
