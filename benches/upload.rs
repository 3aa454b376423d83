//! Target 3 (issue 13): uploading 1 GiB of inputs, as many files (256 x 4 MiB) and as one big
//! file, to batchdeck's emulator (in-process) and to Azurite, against the best peers used the
//! way their best users use them, measured alternately in the same run:
//! - azure-storage-blob with files and blocks in flight (`bench/peers/upload.py`): a few
//!   settings of FILES_IN_FLIGHT x max_concurrency (x max_block_size, for the large file) are
//!   tried once, the best is kept;
//! - AzCopy 10.32 (`bench/peers/install-azcopy`), its defaults and the settings its users
//!   change for large files (`--block-size-mb`, `AZCOPY_CONCURRENCY_VALUE`) tried once, the
//!   best kept; timed by the server: from the arrival of its first request to the answer of
//!   its last (the emulator's own window; Azurite's debug log), so that its 2-second progress
//!   tick does not count against it, while batchdeck and the SDK are timed by their wall
//!   clock;
//! - the limit: a local copy of the same files with each file fsynced (`cp` + `sync`);
//! - on Azurite, the ceiling of Azurite itself: a raw loop of signed 4 MiB Put Blob requests
//!   from memory, the best of a few concurrencies tried once, then measured alternately with
//!   the others.
//!
//! cargo bench --bench upload    (bench/run upload installs AzCopy first)
//!
//! To measure some rows only: BATCHDECK_BENCH_ONLY=emulator (or azurite; Azurite is started
//! only when measured), BATCHDECK_BENCH_SETS=many (or big), BATCHDECK_BENCH_SDK=16x1 (the
//! SDK's setting, FILESxCONCURRENCY or FILESxCONCURRENCYxBLOCK_MIB, without trying the
//! others), BATCHDECK_BENCH_AZCOPY=default (or BLOCK_MIBxCONCURRENCY, e.g. 16x32: AzCopy's
//! setting, without trying the others), BATCHDECK_BENCH_RUNS=5 (runs per median;
//! default 3). To tune batchdeck's own transfer options: BATCHDECK_BENCH_OURS=8x16 (blocks in
//! flight per file x block size in MiB) uploads with those instead of the defaults.
//! BATCHDECK_BENCH_PEERS=none times batchdeck's uploads alone (no peer, no ratio: for a
//! profile of its side). Names are matched in any case; a value not understood stops the
//! bench at once with one line naming the valid ones.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use batchdeck::azure::storage::{SasPermissions, StorageClient};

const MIB: usize = 1024 * 1024;

/// Deterministic text-like bytes (incompressible enough, cheap to make), `size` of them from
/// `seed`.
fn text(size: usize, seed: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut x = seed | 1;
    let mut left = size;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; left.min(MIB)];
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = b'a' + ((x >> (i * 8)) % 26) as u8;
            }
        }
        left -= buf.len();
        Some(buf)
    })
}

fn write_file(path: &Path, size: usize, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for piece in text(size, seed) {
        f.write_all(&piece).unwrap();
    }
}

/// Azurite's blob service, started afresh (new data directory) before each upload measured on
/// it: deleting a container does not give Azurite's extents back until its periodic collection,
/// and one run of this benchmark writes some 40 GiB to it (a run once filled the disk).
struct Azurite {
    child: Child,
    /// Its data directory, debug log and pid file (for bench/run to stop it if this process
    /// is killed); removed with it.
    dir: tempfile::TempDir,
    debug_log: PathBuf,
    endpoint: String,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    /// Azurite on an OS-chosen port, in a new directory under the temporary directory,
    /// logging each request with its time (the window AzCopy is timed by).
    fn start() -> Azurite {
        let bin = Path::new(common::ROOT).join(".tools/azurite/node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-test-deps (bench/run does)",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("bench-azurite")
            .tempdir()
            .unwrap();
        let debug_log = dir.path().join("debug.log");
        let mut child = Command::new(bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--silent",
                "--loose",
            ])
            .args(["--skipApiVersionCheck", "--location"])
            .arg(dir.path().join("data"))
            .arg("--debug")
            .arg(&debug_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite");
        std::fs::write(dir.path().join("azurite.pid"), child.id().to_string()).unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("azurite's listening line").unwrap();
            if let Some((_, u)) = line.split_once("successfully listens on ") {
                break u.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Azurite {
            child,
            dir,
            debug_log,
            endpoint: format!("{url}/devstoreaccount1"),
        }
    }

    /// Stops this one and removes its data; a new one in its place.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Azurite::start();
    }

    /// Bytes in its directory (data, log).
    fn disk_bytes(&self) -> u64 {
        fn size(p: &Path) -> u64 {
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => std::fs::read_dir(p)
                    .map(|d| d.flatten().map(|e| size(&e.path())).sum())
                    .unwrap_or(0),
                Ok(m) => m.len(),
                Err(_) => 0,
            }
        }
        size(self.dir.path())
    }
}

/// From Azurite's debug log: the first request naming `container` to the end of the last
/// one (`<ISO time> <request id> <level>: BlobStorageContextMiddleware: ... RequestURL=...`,
/// then `... EndMiddleware: End response`).
fn azurite_window(log: &Path, container: &str) -> Duration {
    use std::collections::HashSet;
    let text = std::fs::read_to_string(log).unwrap();
    let needle = format!("/devstoreaccount1/{container}");
    let mut ids = HashSet::new();
    let (mut first, mut last) = (None, None);
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(time), Some(id), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Ok(t) = chrono::DateTime::parse_from_rfc3339(time) else {
            continue;
        };
        if rest.contains("BlobStorageContextMiddleware: RequestMethod=") && rest.contains(&needle) {
            ids.insert(id.to_string());
            first = first.or(Some(t));
        } else if rest.contains("EndMiddleware: End response") && ids.contains(id) {
            last = Some(t);
        }
    }
    let (first, last) = (
        first.expect("AzCopy's first request"),
        last.expect("its last"),
    );
    (last - first).to_std().unwrap()
}

fn named(files: &[PathBuf]) -> Vec<(String, PathBuf)> {
    files
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                p.clone(),
            )
        })
        .collect()
}

/// The BATCHDECK_BENCH_* settings (the module's header), read and checked before anything is
/// written or started: a value not understood ends the bench with one line naming the valid
/// ones, instead of measuring something else (or nothing). Names are matched in any case.
struct Options {
    /// Runs per median.
    runs: usize,
    /// The services measured (`emulator`, `azurite`), every one when unset.
    only: Option<Vec<String>>,
    /// The uploads measured (`many`, `big`), both when unset.
    sets: Option<Vec<String>>,
    /// The SDK's setting, instead of a trial of several.
    sdk: Option<SdkSetting>,
    /// AzCopy's setting, instead of a trial of several.
    azcopy: Option<AzcopySetting>,
    /// batchdeck's blocks in flight per file x block size in MiB, instead of its defaults.
    ours: Option<(usize, usize)>,
    /// Whether peers are measured beside batchdeck (`BATCHDECK_BENCH_PEERS=none`: not).
    peers: bool,
}

impl Options {
    fn read() -> Options {
        let runs = var("BATCHDECK_BENCH_RUNS").map_or(3, |v| match v.parse() {
            Ok(n) if n > 0 => n,
            _ => refuse("BATCHDECK_BENCH_RUNS", &v, "a number of runs, 1 or more"),
        });
        let peers = names("BATCHDECK_BENCH_PEERS", &["all", "none"], false);
        Options {
            runs,
            only: names("BATCHDECK_BENCH_ONLY", &["emulator", "azurite"], true),
            sets: names("BATCHDECK_BENCH_SETS", &["many", "big"], true),
            sdk: var("BATCHDECK_BENCH_SDK").map(|v| {
                let wanted =
                    "FILESxCONCURRENCY or FILESxCONCURRENCYxBLOCK_MIB, e.g. 16x1 or 1x8x16";
                match numbers(&v).as_deref() {
                    Some(&[files, concurrency]) => SdkSetting {
                        files,
                        concurrency,
                        block_mib: 0,
                    },
                    Some(&[files, concurrency, block_mib]) => SdkSetting {
                        files,
                        concurrency,
                        block_mib,
                    },
                    _ => refuse("BATCHDECK_BENCH_SDK", &v, wanted),
                }
            }),
            azcopy: var("BATCHDECK_BENCH_AZCOPY").map(|v| {
                if v.trim().eq_ignore_ascii_case("default") {
                    return AzcopySetting::default();
                }
                match numbers(&v).as_deref() {
                    Some(&[block_mib, concurrency]) => AzcopySetting {
                        block_mib,
                        concurrency,
                    },
                    _ => refuse(
                        "BATCHDECK_BENCH_AZCOPY",
                        &v,
                        "default or BLOCK_MIBxCONCURRENCY, e.g. 16x32",
                    ),
                }
            }),
            ours: pair("BATCHDECK_BENCH_OURS", "PARALLELxBLOCK_MIB, e.g. 8x8"),
            peers: peers.is_none_or(|p| !p.iter().any(|p| p == "none")),
        }
    }
}

/// Whether `name` (a service or a set) is measured: every one when none was chosen.
fn wanted(chosen: &Option<Vec<String>>, name: &str) -> bool {
    chosen.as_ref().is_none_or(|c| c.iter().any(|c| c == name))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// One of `valid` (any case), or a comma-separated list of them where `list`, lower-cased.
fn names(name: &str, valid: &[&str], list: bool) -> Option<Vec<String>> {
    let v = var(name)?;
    let lower = v.to_ascii_lowercase();
    let chosen: Vec<String> = match list {
        true => lower.split(',').map(|s| s.trim().to_string()).collect(),
        false => vec![lower.trim().to_string()],
    };
    if chosen.iter().any(|n| !valid.contains(&n.as_str())) {
        let many = if list {
            " (or several, comma-separated)"
        } else {
            ""
        };
        refuse(name, &v, &format!("one of {}{many}", valid.join(", ")));
    }
    Some(chosen)
}

/// Two positive numbers as `AxB`.
fn pair(name: &str, wanted: &str) -> Option<(usize, usize)> {
    let v = var(name)?;
    match numbers(&v).as_deref() {
        Some(&[a, b]) => Some((a, b)),
        _ => refuse(name, &v, wanted),
    }
}

/// Positive numbers as `AxBx...`, or None.
fn numbers(v: &str) -> Option<Vec<usize>> {
    v.to_ascii_lowercase()
        .split('x')
        .map(|n| n.trim().parse().ok().filter(|&n: &usize| n > 0))
        .collect()
}

fn refuse(name: &str, value: &str, wanted: &str) -> ! {
    eprintln!("{name}={value} is not understood: use {wanted}");
    std::process::exit(2)
}

fn ours(
    rt: &tokio::runtime::Runtime,
    client: &StorageClient,
    container: &str,
    files: &[PathBuf],
    tuned: Option<(usize, usize)>,
) -> Duration {
    // BATCHDECK_BENCH_OURS=PARALLELxBLOCK_MIB (e.g. 8x8) tries other transfer options than
    // batchdeck's defaults (to tune them; the rows use the defaults).
    let tuned = tuned.map(|(p, b)| {
        let mut t = client.transfer_options().clone();
        t.parallel = p;
        t.block_size = (b * MIB) as u64;
        client
            .clone()
            .with_transfer_options(t)
            .expect("transfer options")
    });
    let client = tuned.as_ref().unwrap_or(client);
    rt.block_on(async {
        client.create_container(container).await.unwrap();
        let named = named(files);
        let t = Instant::now();
        client
            .upload_files(container, &named, |_, _| {}, |_| {})
            .await
            .unwrap();
        t.elapsed()
    })
}

/// A setting of azure-storage-blob: files in flight x max_concurrency (blocks of each file
/// in flight) x max_block_size in MiB (0: its default, 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct SdkSetting {
    files: usize,
    concurrency: usize,
    block_mib: usize,
}

impl std::fmt::Display for SdkSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.files, self.concurrency)?;
        match self.block_mib {
            0 => Ok(()),
            b => write!(f, " ({b} MiB blocks)"),
        }
    }
}

/// azure-storage-blob with `setting`'s files in flight, blocks in flight and block size.
fn sdk(
    rt: &tokio::runtime::Runtime,
    env: &[(String, String)],
    endpoint: &str,
    container: &str,
    files: &[PathBuf],
    setting: SdkSetting,
) -> Duration {
    let mut cmd = Command::new(common::python("sdk15"));
    cmd.arg(format!("{}/bench/peers/upload.py", common::ROOT))
        .args(files)
        .envs(env.iter().cloned())
        .env("BLOB_ENDPOINT", endpoint)
        .env("CONTAINER", container)
        .env("FILES_IN_FLIGHT", setting.files.to_string())
        .env("CONCURRENCY", setting.concurrency.to_string())
        .env("BLOCK_MIB", setting.block_mib.to_string());
    common::run_peer(rt, cmd)
}

/// One upload timed: a container's name, whether the server's window times it, the upload
/// (given the endpoint and a client of it).
type Measure<'a> =
    dyn FnMut(&str, bool, &mut dyn FnMut(&str, &StorageClient) -> Duration) -> Duration + 'a;

/// The AzCopy binary: installed by `bench/peers/install-azcopy` (bench/run upload runs it).
fn azcopy_bin() -> Option<PathBuf> {
    let p = Path::new(common::ROOT)
        .join(".tools/azcopy/node_modules/@azure-tools/azcopy-linux/dist/bin/azcopy_linux_amd64");
    p.exists().then_some(p)
}

/// A setting of AzCopy: `--block-size-mb` and `AZCOPY_CONCURRENCY_VALUE` (0: its default,
/// 8 MiB blocks and 32 connections on 2 cores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct AzcopySetting {
    block_mib: usize,
    concurrency: usize,
}

impl std::fmt::Display for AzcopySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.block_mib, self.concurrency) {
            (0, 0) => write!(f, "defaults"),
            (b, 0) => write!(f, "{b} MiB blocks"),
            (0, c) => write!(f, "{c} at once"),
            (b, c) => write!(f, "{b} MiB blocks, {c} at once"),
        }
    }
}

/// AzCopy with `setting`, `files` (all in one directory, or one file) into `container`
/// through a container SAS; returns when it has exited.
fn azcopy(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    client: &StorageClient,
    container: &str,
    files: &[PathBuf],
    scratch: &Path,
    setting: AzcopySetting,
) {
    let sas = client
        .container_sas_url(
            container,
            SasPermissions {
                read: true,
                create: true,
                write: true,
                list: true,
                ..SasPermissions::default()
            },
            Duration::from_secs(3600),
        )
        .unwrap();
    rt.block_on(client.create_container(container)).unwrap();
    let source = if files.len() == 1 {
        files[0].to_string_lossy().into_owned()
    } else {
        format!("{}/*", files[0].parent().unwrap().display())
    };
    std::fs::create_dir_all(scratch).unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["copy", &source, sas.expose(), "--from-to", "LocalBlob"])
        .env("AZCOPY_LOG_LOCATION", scratch)
        .env("AZCOPY_JOB_PLAN_LOCATION", scratch)
        .stdin(Stdio::null());
    if setting.block_mib > 0 {
        cmd.args(["--block-size-mb", &setting.block_mib.to_string()]);
    }
    if setting.concurrency > 0 {
        cmd.env("AZCOPY_CONCURRENCY_VALUE", setting.concurrency.to_string());
    }
    let out = rt.block_on(async {
        tokio::task::spawn_blocking(move || cmd.output().expect("run azcopy"))
            .await
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains(&format!(
                "Number of File Transfers Completed: {}",
                files.len()
            )),
        "azcopy failed: {stdout}"
    );
}

/// The ceiling of a blob service's ingest: `count` signed Put Blob requests of `body`, from
/// memory, `concurrency` at once, with nothing else done.
fn raw_put_loop(
    rt: &tokio::runtime::Runtime,
    endpoint: &str,
    cred: &batchdeck::azure::auth::SharedKeyCredential,
    container: &str,
    body: &bytes::Bytes,
    count: usize,
    concurrency: usize,
) -> Duration {
    use batchdeck::azure::auth::{RequestParts, Service, http_date};
    use futures::StreamExt as _;
    let http = reqwest::Client::new();
    rt.block_on(async {
        let t = Instant::now();
        futures::stream::iter(0..count)
            .map(|i| {
                let http = http.clone();
                let body = body.clone();
                async move {
                    let url =
                        url::Url::parse(&format!("{endpoint}/{container}/raw{i:05}")).unwrap();
                    let headers = [
                        ("content-length".to_string(), body.len().to_string()),
                        ("x-ms-blob-type".to_string(), "BlockBlob".to_string()),
                        ("x-ms-date".to_string(), http_date(chrono::Utc::now())),
                        ("x-ms-version".to_string(), "2026-10-06".to_string()),
                    ];
                    let authorization = cred.authorization(
                        Service::Blob,
                        &RequestParts {
                            method: "PUT",
                            raw_path: url.path(),
                            raw_query: "",
                            headers: headers
                                .iter()
                                .map(|(k, v)| (k.as_str(), v.as_str()))
                                .collect(),
                        },
                    );
                    let mut req = http.put(url.clone()).body(body);
                    for (k, v) in &headers {
                        req = req.header(k, v);
                    }
                    let resp = req
                        .header("authorization", authorization)
                        .send()
                        .await
                        .unwrap();
                    assert!(resp.status().is_success(), "{}", resp.status());
                }
            })
            .buffer_unordered(concurrency)
            .collect::<Vec<()>>()
            .await;
        t.elapsed()
    })
}

/// A plain copy of the files into `dest`, each file fsynced (`cp` + `sync`).
fn copy_and_sync(files: &[PathBuf], dest: &Path) -> Duration {
    std::fs::create_dir_all(dest).unwrap();
    let t = Instant::now();
    for f in files {
        let to = dest.join(f.file_name().unwrap());
        std::fs::copy(f, &to).unwrap();
        std::fs::File::open(&to).unwrap().sync_all().unwrap();
    }
    let e = t.elapsed();
    std::fs::remove_dir_all(dest).unwrap();
    e
}

/// CPU seconds used so far by this process (the emulator, and batchdeck's client when it is
/// the one measured) and by its children that have ended (a peer), from `/proc/self/stat`
/// (in clock ticks: 100 a second on Linux).
fn cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command's name, from the state (field 3 of proc_pid_stat(5)).
    let f: Vec<f64> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').map(|x| x.parse().unwrap_or(0.0)).collect())
        .unwrap_or_default();
    let ticks = |from: usize| f.get(from - 3).unwrap_or(&0.0) + f.get(from - 2).unwrap_or(&0.0);
    (ticks(14) / 100.0, ticks(16) / 100.0)
}

fn mb_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// `median MB/s (min-max)` of a few timings.
fn rate(bytes: usize, runs: &[Duration]) -> String {
    let mut r: Vec<f64> = runs.iter().map(|d| mb_s(bytes, *d)).collect();
    r.sort_by(f64::total_cmp);
    format!(
        "{:.0} MB/s ({:.0}-{:.0})",
        r[r.len() / 2],
        r[0],
        r[r.len() - 1]
    )
}

/// The services uploaded to: the in-process emulator, or Azurite.
enum Target<'a> {
    Emulator(&'a batchdeck::emulator::Emulator),
    Azurite(Azurite),
}

impl Target<'_> {
    fn name(&self) -> &'static str {
        match self {
            Target::Emulator(_) => "emulator",
            Target::Azurite(_) => "Azurite",
        }
    }

    /// The endpoint to measure one upload on, empty of what earlier uploads left: the
    /// emulator frees a deleted container's files at once; Azurite is started afresh when
    /// `restart` (benchmarking; the test run's smoke run uploads 8 MiB).
    fn fresh_endpoint(&mut self, restart: bool) -> String {
        match self {
            Target::Emulator(emu) => emu.blob_endpoint.clone(),
            Target::Azurite(az) => {
                if restart {
                    az.restart();
                }
                az.endpoint.clone()
            }
        }
    }
}

fn main() {
    let opts = Options::read();
    let (total, small, runs) = if common::benchmarking() {
        (1024 * MIB, 4 * MIB, opts.runs)
    } else {
        (8 * MIB, MIB, 1)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::Builder::new()
        .prefix("bench-upload")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(work.path().join("many")).unwrap();
    std::fs::create_dir_all(work.path().join("big")).unwrap();
    // Only the sets measured are written (1 GiB each).
    let many: Vec<PathBuf> = (0..total / small)
        .filter(|_| wanted(&opts.sets, "many"))
        .map(|i| {
            let p = work.path().join("many").join(format!("part{i:04}.txt"));
            write_file(&p, small, i as u64 + 1);
            p
        })
        .collect();
    let big: Vec<PathBuf> = [work.path().join("big").join("big.txt")]
        .into_iter()
        .filter(|_| wanted(&opts.sets, "big"))
        .inspect(|p| write_file(p, total, 99))
        .collect();
    let azcopy_bin = azcopy_bin();
    assert!(
        azcopy_bin.is_some() || !common::benchmarking(),
        "AzCopy is missing: run bench/peers/install-azcopy (bench/run upload does)"
    );

    let emu_dir = tempfile::Builder::new()
        .prefix("bench-emulator")
        .tempdir()
        .unwrap();
    let emu = rt.block_on(common::emulator(emu_dir.path()));
    let env = common::peer_env(&emu);
    // The peers' settings tried for each set: for many files, files in flight (each file
    // goes up in one Put Blob); for one large file, blocks in flight and their size.
    let sdk_settings = |tag: &str| -> Vec<SdkSetting> {
        let s = |files, concurrency, block_mib| SdkSetting {
            files,
            concurrency,
            block_mib,
        };
        match (common::benchmarking(), tag) {
            (false, _) => vec![s(2, 2, 0)],
            (true, "many") => vec![s(4, 2, 0), s(8, 1, 0), s(8, 2, 0), s(16, 1, 0)],
            _ => vec![s(1, 8, 0), s(1, 16, 0), s(1, 8, 16), s(1, 16, 16)],
        }
    };
    let azcopy_settings = |tag: &str| -> Vec<AzcopySetting> {
        let s = |block_mib, concurrency| AzcopySetting {
            block_mib,
            concurrency,
        };
        match (common::benchmarking(), tag) {
            (false, _) => vec![s(0, 0)],
            (true, "many") => vec![s(0, 0), s(0, 16), s(0, 64)],
            _ => vec![s(0, 0), s(16, 0), s(16, 16), s(32, 0)],
        }
    };
    let cred = batchdeck::azure::auth::SharedKeyCredential::new(
        batchdeck::emulator::DEV_STORAGE_ACCOUNT,
        batchdeck::emulator::DEV_STORAGE_KEY,
    )
    .unwrap();
    // The raw loop's body: the bytes of the first of the many files.
    let body = bytes::Bytes::from(text(small, 1).flatten().collect::<Vec<u8>>());

    // BATCHDECK_BENCH_ONLY=emulator (or azurite) measures one service, e.g. for a profile:
    // Azurite is started only when it is measured. (The in-process emulator always runs: the
    // peers' credentials and the clients come from it; unmeasured, it stays idle.)
    let mut targets = Vec::new();
    if wanted(&opts.only, "emulator") {
        targets.push(Target::Emulator(&emu));
    }
    if wanted(&opts.only, "azurite") {
        targets.push(Target::Azurite(Azurite::start()));
    }
    // BATCHDECK_BENCH_SDK=16x1 (files in flight x max_concurrency) skips the trial of the SDK's
    // settings and uses that one (from an earlier full run's trial).
    let sdk_fixed = opts.sdk;
    // BATCHDECK_BENCH_PEERS=none: batchdeck's uploads only (for a profile of our side).
    let peers = opts.peers;
    for (tag, set, files) in [
        ("many", "256 x 4 MiB files", &many),
        ("big", "one 1 GiB file", &big),
    ] {
        // BATCHDECK_BENCH_SETS=many (or big) measures one of the two uploads.
        if !wanted(&opts.sets, tag) {
            continue;
        }
        let set = if common::benchmarking() {
            set.to_string()
        } else {
            format!("{} files", files.len())
        };
        for target in targets.iter_mut() {
            let service = target.name();
            // One upload into a fresh container of a fresh service, timed by its wall clock
            // or (AzCopy) by the server's window; the container is deleted after it (on the
            // emulator, that frees its files).
            let mut measure =
                |c: &str,
                 by_server: bool,
                 upload: &mut dyn FnMut(&str, &StorageClient) -> Duration| {
                    let endpoint = target.fresh_endpoint(common::benchmarking());
                    let client = common::storage_client(&endpoint, &emu);
                    emu.stats.blob.reset_window();
                    let before = cpu_secs();
                    let d = upload(&endpoint, &client);
                    let after = cpu_secs();
                    // Batchdeck's client runs in this process; a peer in a child (its CPU
                    // counts its interpreter's start too); the service in this process or
                    // (Azurite) in one not waited for.
                    println!(
                        "  ({c}: CPU {:.2} s in this process, {:.2} s in the peer's)",
                        after.0 - before.0,
                        after.1 - before.1
                    );
                    let window = match &*target {
                        Target::Azurite(az) if by_server => Some(azurite_window(&az.debug_log, c)),
                        Target::Emulator(_) if by_server => {
                            Some(emu.stats.blob.window().expect("AzCopy's requests"))
                        }
                        _ => None,
                    };
                    if let Target::Azurite(az) = &*target {
                        println!(
                            "  ({c}: Azurite's directory {:.1} GiB before it is removed)",
                            az.disk_bytes() as f64 / (1u64 << 30) as f64
                        );
                    }
                    rt.block_on(client.delete_container(c)).unwrap();
                    window.unwrap_or(d)
                };
            if !peers {
                let os: Vec<Duration> = (0..runs)
                    .map(|r| {
                        let oc = format!("ours-{tag}-{r}");
                        measure(&oc, false, &mut |_, client| {
                            ours(&rt, client, &oc, files, opts.ours)
                        })
                    })
                    .collect();
                println!("{set} to {service}: batchdeck {}", rate(total, &os));
                continue;
            }
            // Each peer's best setting, from one run of each (unless one was given).
            let settings = match sdk_fixed {
                Some(s) => vec![s],
                None => sdk_settings(tag),
            };
            let mut tried = Vec::new();
            for (i, s) in settings.iter().enumerate().filter(|_| settings.len() > 1) {
                let c = format!("try-{tag}-{i}");
                let d = measure(&c, false, &mut |ep, _| sdk(&rt, &env, ep, &c, files, *s));
                tried.push((d, *s));
            }
            tried.sort();
            let best = tried.first().map_or(settings[0], |t| t.1);
            if !tried.is_empty() {
                println!(
                    "{set} to {service}: azure-storage-blob settings (files in flight x max_concurrency): {}",
                    tried
                        .iter()
                        .map(|(d, s)| format!("{s} {:.0} MB/s", mb_s(total, *d)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let settings = match opts.azcopy {
                Some(s) => vec![s],
                None => azcopy_settings(tag),
            };
            let mut tried = Vec::new();
            for (i, s) in settings.iter().enumerate().filter(|_| settings.len() > 1) {
                let Some(bin) = &azcopy_bin else { break };
                let c = format!("try-azcopy-{tag}-{i}");
                let d = measure(&c, true, &mut |_, client| {
                    azcopy(&rt, bin, client, &c, files, &work.path().join("azcopy"), *s);
                    Duration::ZERO
                });
                tried.push((d, *s));
            }
            tried.sort();
            let best_azcopy = tried.first().map_or(settings[0], |t| t.1);
            if !tried.is_empty() {
                println!(
                    "{set} to {service}: AzCopy settings (server's window): {}",
                    tried
                        .iter()
                        .map(|(d, s)| format!("{s} {:.0} MB/s", mb_s(total, *d)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            // Azurite's own ceiling: the best of a few concurrencies, from one run of each.
            let count = total / small;
            let put_loop = |measure: &mut Measure, conc: usize, i: usize| {
                let c = format!("raw-{tag}-{i}");
                measure(&c, false, &mut |ep, client| {
                    rt.block_on(client.create_container(&c)).unwrap();
                    raw_put_loop(&rt, ep, &cred, &c, &body, count, conc)
                })
            };
            let ceiling_conc = (service != "emulator").then(|| {
                let mut by_conc: Vec<(Duration, usize)> = [2, 4, 8, 16]
                    .iter()
                    .map(|&n| (put_loop(&mut measure, n, n), n))
                    .collect();
                by_conc.sort();
                by_conc[0].1
            });
            // Alternating, each into a fresh container of a fresh service.
            let (mut os, mut ps, mut zs) = (Vec::new(), Vec::new(), Vec::new());
            // The local copy (the limit) alternates with them too, beside the emulator; so
            // does Azurite's ceiling beside Azurite.
            let (mut copies, mut ceilings) = (Vec::new(), Vec::new());
            for r in 0..runs {
                if service == "emulator" {
                    copies.push(copy_and_sync(files, &work.path().join("copy")));
                }
                if let Some(conc) = ceiling_conc {
                    ceilings.push(put_loop(&mut measure, conc, 100 + r));
                }
                let oc = format!("ours-{tag}-{r}");
                os.push(measure(&oc, false, &mut |_, client| {
                    ours(&rt, client, &oc, files, opts.ours)
                }));
                let pc = format!("sdk-{tag}-{r}");
                ps.push(measure(&pc, false, &mut |ep, _| {
                    sdk(&rt, &env, ep, &pc, files, best)
                }));
                if let Some(bin) = &azcopy_bin {
                    let zc = format!("azcopy-{tag}-{r}");
                    zs.push(measure(&zc, true, &mut |_, client| {
                        azcopy(
                            &rt,
                            bin,
                            client,
                            &zc,
                            files,
                            &work.path().join("azcopy"),
                            best_azcopy,
                        );
                        Duration::ZERO
                    }));
                }
            }
            let o = common::median(os.clone());
            let p = common::median(ps.clone());
            println!(
                "{set} to {service}: batchdeck {}, azure-storage-blob {best} {}{}",
                rate(total, &os),
                rate(total, &ps),
                if zs.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", AzCopy {best_azcopy} (server's window) {}",
                        rate(total, &zs)
                    )
                }
            );
            let (peer_name, peer, peer_runs) = match zs.is_empty() {
                false if common::median(zs.clone()) < p => {
                    ("AzCopy", common::median(zs.clone()), &zs)
                }
                _ => ("azure-storage-blob", p, &ps),
            };
            let r = peer.as_secs_f64() / o.as_secs_f64();
            // On Azurite the target is either of two: 1.2x the best peer, or 0.9 of Azurite's
            // own ceiling (when Azurite is the bound); both rows say whether it is met.
            let c = ceiling_conc
                .map(|_| common::median(ceilings.clone()).as_secs_f64() / o.as_secs_f64());
            let met = r >= 1.2 || c.is_some_and(|c| c >= 0.9);
            common::result(
                "3",
                &format!(
                    "upload {set} to {service}, median of {runs} (vs the best peer: {peer_name})"
                ),
                rate(total, &os),
                rate(total, peer_runs),
                r,
                if c.is_some() {
                    ">= 1.2x the throughput (or 0.90 of Azurite's ceiling)"
                } else {
                    ">= 1.2x the throughput"
                },
                met,
            );
            if service == "emulator" {
                println!("{set}: cp + sync {}", rate(total, &copies));
                let copy = common::median(copies.clone());
                let c = copy.as_secs_f64() / o.as_secs_f64();
                common::result(
                    "3",
                    &format!("upload {set} to {service}, median of {runs} (vs cp + sync)"),
                    rate(total, &os),
                    rate(total, &copies),
                    c,
                    ">= 0.70 of its throughput",
                    c >= 0.7,
                );
            } else if let (Some(conc), Some(c)) = (ceiling_conc, c) {
                println!(
                    "{set} to {service}: raw Put Blob loop of {count} x {} MiB, {conc} at once: {}",
                    small / MIB,
                    rate(total, &ceilings)
                );
                common::result(
                    "3",
                    &format!(
                        "upload {set} to {service}, median of {runs} (vs Azurite's raw PUT ceiling)"
                    ),
                    rate(total, &os),
                    rate(total, &ceilings),
                    c,
                    ">= 0.90 of it (or 1.2x the best peer)",
                    met,
                );
            }
        }
    }
    drop(targets);
    rt.block_on(emu.shutdown());
}
