//! Watching a job of 10,000 and of 100,000 tasks: batchdeck's watcher against the watcher a
//! good user of azure-batch 15 writes (`bench/peers/sdk_watch.py`: the pool and its nodes,
//! the task counts, then only the tasks whose state changed since the newest transition seen,
//! all with `$select`), every request of both sides counted by the emulator (pool, nodes,
//! counts, tasks), per refresh: one refresh a second, the peer's pace.
//!
//! - while 1% of the tasks change between refreshes;
//! - while nothing changes (a minute of refreshes);
//! - attaching to the job with the full-screen session's state: the time to the first full
//!   screen (counts, pool, a screenful of rows), and to every task listed.
//!
//! batchdeck's watcher runs on simulated time here (`Watcher::round`), a refresh a second, so
//! that a minute of watching takes seconds; the peer refreshes when told.
//!
//! cargo bench --bench watch

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use batchdeck::emulator::Emulator;
use batchdeck::tui::app::{App, Msg, RunIds, Target};
use batchdeck::watch::{Watch, Watcher};
use batchdeck::workflow::events::Event;

/// One refresh a second: the peer's pace, and batchdeck's quickest.
const REFRESH: Duration = Duration::from_secs(1);

/// Requests and response bytes of the Batch service during `f`.
fn counted<T>(emu: &Emulator, f: impl FnOnce() -> T) -> (T, (u64, u64)) {
    let before = emu.stats.batch.snapshot();
    let v = f();
    let after = emu.stats.batch.snapshot();
    (v, (after.0 - before.0, after.1 - before.1))
}

struct Peer {
    child: std::process::Child,
    to: std::process::ChildStdin,
    from: BufReader<std::process::ChildStdout>,
}

impl Peer {
    fn start(emu: &Emulator, pool: &str, job: &str) -> Peer {
        let mut child = Command::new(common::python("sdk15"))
            .arg(format!("{}/bench/peers/sdk_watch.py", common::ROOT))
            .envs(common::peer_env(emu))
            .env("POOL_ID", pool)
            .env("JOB_ID", job)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the Python peer");
        let to = child.stdin.take().expect("stdin");
        let from = BufReader::new(child.stdout.take().expect("stdout"));
        Peer { child, to, from }
    }

    /// One refresh; the tasks it listed.
    fn poll(&mut self) -> usize {
        writeln!(self.to, "poll").expect("write to the peer");
        let mut line = String::new();
        self.from.read_line(&mut line).expect("read the peer");
        line.trim()
            .strip_prefix("changed ")
            .unwrap_or_else(|| panic!("the peer answers: {line:?}"))
            .parse()
            .expect("a count")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sums of requests and bytes over rounds.
#[derive(Default, Clone, Copy)]
struct Tally {
    requests: u64,
    bytes: u64,
    rounds: u64,
}

impl Tally {
    fn add(&mut self, (r, b): (u64, u64)) {
        self.requests += r;
        self.bytes += b;
        self.rounds += 1;
    }
    fn per(&self) -> (f64, f64) {
        let n = self.rounds.max(1) as f64;
        (self.requests as f64 / n, self.bytes as f64 / n)
    }
}

fn main() {
    let bench = common::benchmarking();
    let sizes: &[usize] = if bench { &[10_000, 100_000] } else { &[200] };
    // A minute of idle refreshes in the smoke run too: the watcher backs off over the first
    // few, so 5 of them said 1.2 requests per refresh where a minute says under 0.5.
    let (changing_rounds, idle_rounds) = if bench { (10, 60) } else { (2, 60) };
    let rt = tokio::runtime::Runtime::new().unwrap();
    for &tasks in sizes {
        let dir = tempfile::tempdir().unwrap();
        let emu = rt.block_on(common::emulator(dir.path()));
        let batch = common::batch_client(&emu);
        rt.block_on(async {
            // No nodes: the tasks stay active until the benchmark terminates them.
            common::pool_and_job(&batch, "watchpool", "watchjob", 0, 1).await;
            for chunk in common::trivial_tasks(tasks).chunks(10_000) {
                batch.add_tasks("watchjob", chunk).await.unwrap();
            }
        });
        let n = format!("{tasks}")
            .replace("00000", "00,000")
            .replace("0000", "0,000");
        attach(&rt, &emu, tasks, &n);

        // batchdeck's watcher on simulated time, and the peer, each from its first refresh.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut w = Watcher::new(
            batch
                .clone()
                .with_retry_policy(batchdeck::watch::poll_retry_policy()),
            tx,
        );
        let mut now = Instant::now();
        w.watch_pool("watchpool", now);
        w.watch_job("watchjob", now);
        let mut peer = Peer::start(&emu, "watchpool", "watchjob");
        let ((), first_ours) = counted(&emu, || rt.block_on(w.round(now)));
        let (listed, first_peer) = counted(&emu, || peer.poll());
        assert_eq!(listed, tasks);
        let mut seen = 0;
        while let Ok(e) = rx.try_recv() {
            if let Event::Tasks(t) = e {
                seen += t.len();
            }
        }
        assert_eq!(seen, tasks, "batchdeck listed every task once");
        println!(
            "first refresh ({n} tasks): batchdeck {} requests, {} bytes; SDK watcher {} requests, {} bytes",
            first_ours.0, first_ours.1, first_peer.0, first_peer.1
        );

        // 1% of the tasks change between refreshes.
        let changed = tasks / 100;
        let (mut ours, mut theirs) = (Tally::default(), Tally::default());
        for round in 0..changing_rounds {
            rt.block_on(async {
                use futures::StreamExt as _;
                futures::stream::iter(0..changed)
                    .map(|k| {
                        let (b, id) = (&batch, format!("t{:05}", round * changed + k));
                        async move { b.terminate_task("watchjob", &id).await.unwrap() }
                    })
                    .buffer_unordered(16)
                    .collect::<Vec<()>>()
                    .await;
            });
            now += REFRESH;
            let ((), o) = counted(&emu, || rt.block_on(w.round(now)));
            let mut seen = 0;
            while let Ok(e) = rx.try_recv() {
                if let Event::Tasks(t) = e {
                    seen += t.len();
                }
            }
            assert_eq!(seen, changed, "batchdeck saw every change, once");
            let (listed, p) = counted(&emu, || peer.poll());
            assert!(listed >= changed, "the peer saw the changes");
            ours.add(o);
            theirs.add(p);
        }
        report(
            &n,
            &format!("{changed} changed per refresh"),
            ours,
            theirs,
            false,
        );

        // Nothing changes for a minute of refreshes.
        let (mut ours, mut theirs) = (Tally::default(), Tally::default());
        for _ in 0..idle_rounds {
            now += REFRESH;
            let ((), o) = counted(&emu, || rt.block_on(w.round(now)));
            let (_, p) = counted(&emu, || peer.poll());
            ours.add(o);
            theirs.add(p);
        }
        while rx.try_recv().is_ok() {}
        report(&n, "nothing changes", ours, theirs, true);
        drop(peer);
        rt.block_on(emu.shutdown());
    }
}

/// Prints the rows of one scenario: requests and bytes per refresh against the peer's; while
/// nothing changes also against the absolute goal (one request, 1 KB).
fn report(n: &str, scenario: &str, ours: Tally, theirs: Tally, idle: bool) {
    let (o, t) = (ours.per(), theirs.per());
    println!(
        "watch {n} tasks, {scenario}, per refresh over {} refreshes: batchdeck {:.2} requests, {:.0} bytes; SDK watcher {:.2} requests, {:.0} bytes",
        ours.rounds, o.0, o.1, t.0, t.1
    );
    let what = format!("watch {n} tasks, {scenario}");
    common::result(
        "1",
        &format!("{what}: requests per refresh (vs the SDK watcher)"),
        format!("{:.2}", o.0),
        format!("{:.2}", t.0),
        t.0 / o.0.max(1e-9),
        ">= 1 (no more requests)",
        o.0 <= t.0,
    );
    common::result(
        "1",
        &format!("{what}: response bytes per refresh (vs the SDK watcher)"),
        format!("{:.0} B", o.1),
        format!("{:.0} B", t.1),
        t.1 / o.1.max(1e-9),
        ">= 1 (no more bytes)",
        o.1 <= t.1,
    );
    if idle {
        common::result(
            "1",
            &format!("{what}: requests and bytes per refresh (vs 1 request and 1 KB)"),
            format!("{:.2} req, {:.0} B", o.0, o.1),
            "1 req, 1024 B".into(),
            (o.0).max(o.1 / 1024.0),
            "<= 1 request and < 1 KB",
            o.0 <= 1.0 && o.1 < 1024.0,
        );
    }
}

/// Attaching as `batchdeck watch` does: the session's watcher and state, timed to the first
/// full screen (counts, pool, a screenful of rows of a 200x60 terminal) and to every task.
fn attach(rt: &tokio::runtime::Runtime, emu: &Emulator, tasks: usize, n: &str) {
    let batch = common::batch_client(emu);
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let t0 = Instant::now();
        let watch = Watch::spawn(&batch, tx);
        watch.pool("watchpool");
        watch.job("watchjob");
        let mut app = App::watching(
            Target {
                batch_endpoint: emu.batch_endpoint.clone(),
                storage_endpoint: emu.blob_endpoint.clone(),
                embedded: true,
            },
            RunIds {
                pool_id: "watchpool".into(),
                job_id: "watchjob".into(),
                containers: Vec::new(),
            },
            false,
            t0,
        );
        app.update(Msg::Resize(200, 60));
        let rows = app.page();
        let mut full = None;
        let mut all = None;
        while full.is_none() || all.is_none() {
            let e = tokio::time::timeout(Duration::from_secs(300), rx.recv())
                .await
                .expect("the watcher lists the job")
                .expect("events");
            app.update(Msg::Event(e));
            if full.is_none()
                && app.counts.is_some()
                && app.pool.is_some()
                && app.tasks.rows.len() >= rows
            {
                full = Some(t0.elapsed());
            }
            if all.is_none() && app.tasks.rows.len() == tasks {
                all = Some(t0.elapsed());
            }
        }
        let all = all.expect("every task");
        watch.stop();
        let full = full.expect("a full screen");
        println!(
            "attach to {n} tasks: first full screen ({rows} rows, counts, pool) in {:.3} s, every task in {:.3} s",
            full.as_secs_f64(),
            all.as_secs_f64()
        );
        common::result(
            "1",
            &format!("attach to {n} tasks: first full screen (vs 3 s)"),
            common::secs(full),
            "3 s".into(),
            full.as_secs_f64() / 3.0,
            "< 1.00 (within 3 s)",
            full < Duration::from_secs(3),
        );
    });
}
