//! Target 3: uploading 1 GiB of inputs, as many files (256 x 4 MiB) and as one big file,
//! batchdeck's blob client against azure-storage-blob (its defaults) on the same service, and
//! against a plain local copy of the same bytes (with and without fsync: the services make
//! every acknowledged write durable). On batchdeck's emulator (in-process) and on Azurite.
//!
//! cargo bench --bench upload

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use batchdeck::azure::storage::StorageClient;

const MIB: usize = 1024 * 1024;

/// Deterministic text-like bytes (incompressible enough, cheap to make).
fn write_file(path: &Path, size: usize, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = seed | 1;
    let mut buf = vec![0u8; MIB];
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = b'a' + ((x >> (i * 8)) % 26) as u8;
            }
        }
        let n = left.min(MIB);
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
}

struct Azurite(Child);

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Azurite's blob service on an OS-chosen port: (process, endpoint).
fn azurite(dir: &Path) -> (Azurite, String) {
    let bin = Path::new(common::ROOT).join(".tools/azurite/node_modules/.bin/azurite-blob");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-test-deps (bench/run does)",
        bin.display()
    );
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
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start azurite");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("azurite's listening line").unwrap();
        if let Some((_, u)) = line.split_once("successfully listens on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Azurite(child), format!("{url}/devstoreaccount1"))
}

fn ours(
    rt: &tokio::runtime::Runtime,
    client: &StorageClient,
    container: &str,
    files: &[PathBuf],
) -> Duration {
    rt.block_on(async {
        client.create_container(container).await.unwrap();
        let t = Instant::now();
        let named: Vec<(String, PathBuf)> = files
            .iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    p.clone(),
                )
            })
            .collect();
        client
            .upload_files(container, &named, |_, _| {}, |_| {})
            .await
            .unwrap();
        t.elapsed()
    })
}

fn peer(
    rt: &tokio::runtime::Runtime,
    env: Vec<(String, String)>,
    endpoint: &str,
    container: &str,
    files: &[PathBuf],
) -> Duration {
    let mut cmd = Command::new(common::python("sdk15"));
    cmd.arg(format!("{}/bench/peers/upload.py", common::ROOT))
        .args(files)
        .envs(env)
        .env("BLOB_ENDPOINT", endpoint)
        .env("CONTAINER", container);
    common::run_peer(rt, cmd)
}

/// A plain copy of the files into `dest`, optionally fsyncing each.
fn local_copy(files: &[PathBuf], dest: &Path, fsync: bool) -> Duration {
    std::fs::create_dir_all(dest).unwrap();
    let t = Instant::now();
    for f in files {
        let to = dest.join(f.file_name().unwrap());
        std::fs::copy(f, &to).unwrap();
        if fsync {
            std::fs::File::open(&to).unwrap().sync_all().unwrap();
        }
    }
    let e = t.elapsed();
    std::fs::remove_dir_all(dest).unwrap();
    e
}

fn mb_s(bytes: usize, d: Duration) -> String {
    format!("{:.0} MB/s", bytes as f64 / 1e6 / d.as_secs_f64())
}

fn main() {
    let (total, small, runs) = if common::benchmarking() {
        (1024 * MIB, 4 * MIB, 3)
    } else {
        (8 * MIB, MIB, 1)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let many: Vec<PathBuf> = (0..total / small)
        .map(|i| {
            let p = work.path().join(format!("part{i:04}.txt"));
            write_file(&p, small, i as u64 + 1);
            p
        })
        .collect();
    let big = vec![work.path().join("big.txt")];
    write_file(&big[0], total, 99);

    let emu_dir = tempfile::tempdir().unwrap();
    let emu = rt.block_on(common::emulator(emu_dir.path()));
    let az_dir = tempfile::tempdir().unwrap();
    let (_az, az_endpoint) = azurite(az_dir.path());
    let env = common::peer_env(&emu);

    // BATCHDECK_BENCH_ONLY=emulator (or Azurite) measures one service, e.g. for a profile.
    let only = std::env::var("BATCHDECK_BENCH_ONLY").ok();
    for (set, files) in [("256 x 4 MiB files", &many), ("one 1 GiB file", &big)] {
        let set = if common::benchmarking() {
            set.to_string()
        } else {
            format!("{} files", files.len())
        };
        let copy = common::median(
            (0..runs)
                .map(|_| local_copy(files, &work.path().join("copy"), false))
                .collect(),
        );
        let copy_sync = common::median(
            (0..runs)
                .map(|_| local_copy(files, &work.path().join("copy"), true))
                .collect(),
        );
        println!(
            "{set}: local copy {} ({}), with fsync {} ({})",
            common::secs(copy),
            mb_s(total, copy),
            common::secs(copy_sync),
            mb_s(total, copy_sync)
        );
        for (service, endpoint) in [
            ("emulator", emu.blob_endpoint.clone()),
            ("Azurite", az_endpoint.clone()),
        ] {
            if only.as_deref().is_some_and(|o| o != service) {
                continue;
            }
            let client = common::storage_client(&endpoint, &emu);
            let tag = if files.len() > 1 { "many" } else { "big" };
            // Alternating, each into a fresh container; the medians.
            let (mut os, mut ps) = (Vec::new(), Vec::new());
            for r in 0..runs {
                let (oc, pc) = (format!("ours-{tag}-{r}"), format!("sdk-{tag}-{r}"));
                os.push(ours(&rt, &client, &oc, files));
                ps.push(peer(&rt, env.clone(), &endpoint, &pc, files));
                rt.block_on(async {
                    for c in [oc, pc] {
                        client.delete_container(&c).await.unwrap();
                    }
                });
            }
            let (o, p) = (common::median(os), common::median(ps));
            println!(
                "{set} to {service}: batchdeck {} ({}), azure-storage-blob {} ({})",
                common::secs(o),
                mb_s(total, o),
                common::secs(p),
                mb_s(total, p)
            );
            let r = p.as_secs_f64() / o.as_secs_f64();
            common::result(
                "3",
                &format!("upload {set} to {service}, median of {runs} (vs azure-storage-blob)"),
                mb_s(total, o),
                mb_s(total, p),
                r,
                ">= 1.5x the throughput",
                r >= 1.5,
            );
            let c = copy_sync.as_secs_f64() / o.as_secs_f64();
            common::result(
                "3",
                &format!(
                    "upload {set} to {service}, median of {runs} (vs a local copy with fsync)"
                ),
                mb_s(total, o),
                mb_s(total, copy_sync),
                c,
                ">= 0.70 of the copy's throughput",
                c >= 0.7,
            );
        }
    }
    rt.block_on(emu.shutdown());
}
