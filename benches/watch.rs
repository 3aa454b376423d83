//! Target 1: watching a job of 10,000 tasks in which 1% change between refreshes. batchdeck's
//! monitor (task counts, then only the tasks that changed, with `$select`) against the
//! tutorial's approach (list every task with every property on each poll, as azure-batch does
//! it), counted by the emulator: requests and response bytes per refresh.
//!
//! cargo bench --bench watch

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use batchdeck::watch::JobTasks;

const TASKS: usize = 10_000;

fn main() {
    let (tasks, rounds) = if common::benchmarking() {
        (TASKS, 10)
    } else {
        (200, 1)
    };
    let changed = tasks / 100;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let emu = rt.block_on(common::emulator(dir.path()));
    let batch = common::batch_client(&emu);
    rt.block_on(async {
        // No nodes: the tasks stay active until the benchmark terminates them.
        common::pool_and_job(&batch, "watchpool", "watchjob", 0, 1).await;
        let all = common::trivial_tasks(tasks);
        batch.add_tasks("watchjob", &all).await.unwrap();
    });

    let mut peer = Command::new(common::python("sdk14"))
        .arg(format!("{}/bench/peers/tutorial_poll.py", common::ROOT))
        .envs(common::peer_env(&emu))
        .env("JOB_ID", "watchjob")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python peer");
    let mut to_peer = peer.stdin.take().unwrap();
    let mut from_peer = BufReader::new(peer.stdout.take().unwrap());
    let mut peer_poll = || {
        writeln!(to_peer, "poll").unwrap();
        let mut line = String::new();
        from_peer.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix("incomplete ")
            .expect("the peer answers")
            .parse::<usize>()
            .unwrap()
    };
    let counted = |f: &mut dyn FnMut()| {
        let before = emu.stats.batch.snapshot();
        f();
        let after = emu.stats.batch.snapshot();
        (after.0 - before.0, after.1 - before.1)
    };

    // The first refresh lists the whole job for both.
    let mut watcher = JobTasks::default();
    let first_ours = counted(&mut || {
        rt.block_on(watcher.poll(&batch, "watchjob", |_| {}))
            .unwrap();
    });
    let first_peer = counted(&mut || {
        assert_eq!(peer_poll(), tasks);
    });
    println!(
        "first refresh ({tasks} tasks): batchdeck {} requests, {} bytes; tutorial {} requests, {} bytes",
        first_ours.0, first_ours.1, first_peer.0, first_peer.1
    );

    let (mut ours, mut theirs) = ((0u64, 0u64), (0u64, 0u64));
    for round in 0..rounds {
        rt.block_on(async {
            for k in 0..changed {
                let id = format!("t{:05}", round * changed + k);
                batch.terminate_task("watchjob", &id).await.unwrap();
            }
        });
        let mut seen = 0;
        let o = counted(&mut || {
            let (counts, _) = rt
                .block_on(watcher.poll(&batch, "watchjob", |page| seen += page.len()))
                .unwrap();
            assert_eq!(counts.completed as usize, (round + 1) * changed);
        });
        assert_eq!(seen, changed, "batchdeck saw every change, once");
        let p = counted(&mut || {
            assert_eq!(peer_poll(), tasks - (round + 1) * changed);
        });
        ours = (ours.0 + o.0, ours.1 + o.1);
        theirs = (theirs.0 + p.0, theirs.1 + p.1);
    }
    drop(to_peer);
    let _ = peer.wait();
    let per = |v: (u64, u64)| (v.0 as f64 / rounds as f64, v.1 as f64 / rounds as f64);
    let (o, t) = (per(ours), per(theirs));
    println!(
        "per refresh with {changed} of {tasks} tasks changed: batchdeck {:.1} requests, {:.0} bytes; tutorial {:.1} requests, {:.0} bytes",
        o.0, o.1, t.0, t.1
    );
    let bytes_ratio = t.1 / o.1;
    let req_ratio = t.0 / o.0;
    common::result(
        "1",
        &format!("watch {tasks} tasks, {changed} changed per refresh: response bytes per refresh"),
        format!("{:.0} B", o.1),
        format!("{:.0} B", t.1),
        bytes_ratio,
        ">= 50 (1/50 of the bytes)",
        bytes_ratio >= 50.0,
    );
    common::result(
        "1",
        &format!("watch {tasks} tasks, {changed} changed per refresh: requests per refresh"),
        format!("{:.1}", o.0),
        format!("{:.1}", t.0),
        req_ratio,
        ">= 50 (1/50 of the requests)",
        req_ratio >= 50.0,
    );
    rt.block_on(emu.shutdown());
}
