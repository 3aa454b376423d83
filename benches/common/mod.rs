//! Shared by the benchmarks: an in-process emulator with request counters, the pinned SDK
//! venvs as peers, and the result lines `bench/run` collects into bench/RESULTS.md.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use batchdeck::azure::batch::BatchClient;
use batchdeck::azure::storage::StorageClient;
use batchdeck::emulator::{Emulator, EmulatorConfig};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Whether cargo runs this as a benchmark (`cargo bench`) rather than as a smoke test
/// (`cargo test --all-targets` runs bench targets without `--bench`).
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The embedded emulator on a fresh data directory, with zero delays.
pub async fn emulator(dir: &Path) -> Emulator {
    Emulator::start(EmulatorConfig::new(dir))
        .await
        .expect("start the emulator")
}

pub fn batch_client(emu: &Emulator) -> BatchClient {
    BatchClient::new(
        url::Url::parse(&emu.batch_endpoint).expect("url"),
        emu.config.batch_account.clone(),
    )
    .expect("batch client")
}

pub fn storage_client(endpoint: &str, emu: &Emulator) -> StorageClient {
    StorageClient::new(
        url::Url::parse(endpoint).expect("url"),
        emu.config.storage_account.clone(),
    )
    .expect("storage client")
}

/// The Python of a pinned SDK venv (`sdk15`, `sdk14`), installed by `scripts/install-test-deps`.
pub fn python(venv: &str) -> PathBuf {
    let p = Path::new(ROOT).join(".venv").join(venv).join("bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-test-deps (bench/run does)",
        p.display()
    );
    p
}

/// Environment for the Python peers: endpoints and the well-known keys of the emulator.
pub fn peer_env(emu: &Emulator) -> Vec<(String, String)> {
    use batchdeck::emulator::{
        DEV_BATCH_ACCOUNT, DEV_BATCH_KEY, DEV_STORAGE_ACCOUNT, DEV_STORAGE_KEY,
    };
    vec![
        ("BATCH_ENDPOINT".into(), emu.batch_endpoint.clone()),
        ("BATCH_ACCOUNT".into(), DEV_BATCH_ACCOUNT.into()),
        ("BATCH_KEY".into(), DEV_BATCH_KEY.into()),
        ("BLOB_ENDPOINT".into(), emu.blob_endpoint.clone()),
        ("STORAGE_ACCOUNT".into(), DEV_STORAGE_ACCOUNT.into()),
        ("STORAGE_KEY".into(), DEV_STORAGE_KEY.into()),
    ]
}

/// Prints a figure line, and the `RESULT|...` line bench/run collects:
/// target, what was measured, batchdeck's figure, the peer's, the ratio, the goal, met or not.
pub fn result(
    target: &str,
    what: &str,
    ours: String,
    peer: String,
    ratio: f64,
    goal: &str,
    met: bool,
) {
    println!(
        "{what}: batchdeck {ours}, peer {peer}, ratio {ratio:.2} (goal {goal}): {}",
        if met { "met" } else { "NOT met" }
    );
    println!(
        "RESULT|{target}|{what}|{ours}|{peer}|{ratio:.2}|{goal}|{}",
        if met { "yes" } else { "no" }
    );
}

pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// The median of a few timings.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs a Python peer to its end while this process's runtime keeps serving the emulator, and
/// returns the seconds it reported (`seconds N` on stdout; interpreter start-up excluded).
pub fn run_peer(rt: &tokio::runtime::Runtime, mut cmd: std::process::Command) -> Duration {
    let out = rt.block_on(async {
        tokio::task::spawn_blocking(move || cmd.output().expect("run the Python peer"))
            .await
            .expect("the peer's thread")
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
        .expect("seconds");
    Duration::from_secs_f64(secs)
}

/// A pool of `nodes` nodes with `slots` task slots each, and its job.
pub async fn pool_and_job(batch: &BatchClient, pool: &str, job: &str, nodes: i32, slots: i32) {
    use batchdeck::azure::models::Pool;
    batch
        .create_pool(&Pool {
            id: pool.into(),
            vm_size: Some("STANDARD_D8S_V3".into()),
            target_dedicated_nodes: Some(nodes),
            task_slots_per_node: Some(slots),
            ..Pool::default()
        })
        .await
        .expect("create the pool");
    if !job.is_empty() {
        create_job(batch, pool, job).await;
    }
}

pub async fn create_job(batch: &BatchClient, pool: &str, job: &str) {
    use batchdeck::azure::models::{Job, PoolInfo};
    batch
        .create_job(&Job {
            id: job.into(),
            pool_info: PoolInfo {
                pool_id: Some(pool.into()),
                ..PoolInfo::default()
            },
            ..Job::default()
        })
        .await
        .expect("create the job");
}

/// `n` trivial tasks (`/bin/true`) with ids of a fixed width.
pub fn trivial_tasks(n: usize) -> Vec<batchdeck::azure::models::Task> {
    (0..n)
        .map(|i| batchdeck::azure::models::Task {
            id: format!("t{i:05}"),
            command_line: "/bin/true".into(),
            ..Default::default()
        })
        .collect()
}

/// Handles `msg` (which brings what the views need up to date) and draws a frame of `app`.
pub fn frame(
    term: &mut ratatui::Terminal<ratatui::backend::TestBackend>,
    app: &mut batchdeck::tui::app::App,
    msg: Option<batchdeck::tui::app::Msg>,
) -> Duration {
    let t = std::time::Instant::now();
    if let Some(m) = msg {
        app.update(m);
    }
    term.draw(|f| batchdeck::tui::views::render(app, f))
        .expect("draw");
    t.elapsed()
}

/// Resident and peak memory of this process, in KiB.
pub fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Prints the mean, median, 99th percentile and maximum of frame times; returns the mean.
pub fn report(what: &str, mut v: Vec<Duration>) -> Duration {
    v.sort();
    let n = v.len();
    let mean = v.iter().sum::<Duration>() / n as u32;
    let pct = |p: f64| v[((n as f64 * p) as usize).min(n - 1)];
    println!(
        "{what:<44} n={n:<5} mean {:>8.3} ms  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        mean.as_secs_f64() * 1e3,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        v[n - 1].as_secs_f64() * 1e3
    );
    mean
}
