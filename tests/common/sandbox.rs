//! A sandbox to run the binary in as a user would (its own home, data and working
//! directories, none of the developer's Azure settings), and checks of what a run left.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::azure::storage::StorageClient;
use url::Url;

use super::{EmulatorProcess, STORAGE_ACCOUNT, STORAGE_KEY};

/// A sandbox for one run: its own home, config, data and working directories, and none of
/// the developer's Azure settings.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["home", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Sandbox { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    pub fn output_dir(&self) -> PathBuf {
        self.path("out")
    }

    /// `batchdeck ARGS` in `work/`, with the sandbox's home and data directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_batchdeck"));
        c.args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .current_dir(self.path("work"))
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("home/.config"))
            .env("XDG_DATA_HOME", self.path("home/.local/share"))
            .env_remove("BATCHDECK_DATA_DIR")
            .env_remove("BATCHDECK_LOG")
            .stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("AZURE_") {
                c.env_remove(k);
            }
        }
        c
    }

    /// A headless run with zero emulator delays, writing outputs to `out/`.
    pub fn run(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let out = self.output_dir();
        let mut args = vec![
            "run",
            "--headless",
            "--node-boot-delay",
            "0",
            "--allocation-delay",
            "0",
            "--timeout",
            "5m",
            "--output-dir",
            out.to_str().expect("utf-8 temp path"),
        ];
        args.extend_from_slice(extra);
        let mut c = self.command(&args);
        c.envs(env.iter().copied());
        let started = Instant::now();
        let o = c.output().expect("run batchdeck");
        eprintln!(
            "batchdeck {args:?} took {:.1}s, {}\n--- stdout\n{}\n--- stderr\n{}",
            started.elapsed().as_secs_f64(),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("logs/batchdeck.log")).unwrap_or_default()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What an emulator holds, through batchdeck's own clients.
pub struct Inventory {
    pub pools: Vec<String>,
    pub jobs: Vec<String>,
    pub containers: Vec<String>,
}

pub fn inventory(batch_endpoint: &str, blob_endpoint: &str) -> Inventory {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let batch = super::batch_client(batch_endpoint);
        let pools: Vec<serde_json::Value> = batch
            .list_all("list pools", batch.url(&["pools"], &[]))
            .await
            .unwrap();
        let jobs: Vec<serde_json::Value> = batch
            .list_all("list jobs", batch.url(&["jobs"], &[]))
            .await
            .unwrap();
        let storage = StorageClient::new(
            Url::parse(blob_endpoint).unwrap(),
            SharedKeyCredential::new(STORAGE_ACCOUNT, STORAGE_KEY).unwrap(),
        )
        .unwrap();
        let mut containers = Vec::new();
        for c in ["application", "input", "output"] {
            if storage.container_exists(c).await.unwrap() {
                containers.push(c.to_string());
            }
        }
        let ids = |v: Vec<serde_json::Value>| {
            v.iter()
                .map(|p| p["id"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        Inventory {
            pools: ids(pools),
            jobs: ids(jobs),
            containers,
        }
    })
}

pub fn assert_empty(inv: &Inventory, why: &str) {
    assert!(
        inv.pools.is_empty() && inv.jobs.is_empty() && inv.containers.is_empty(),
        "{why}: left pools {:?}, jobs {:?}, containers {:?}",
        inv.pools,
        inv.jobs,
        inv.containers
    );
}

/// A bad run fails with one line on stderr, a non-zero exit, and leaves nothing behind: no
/// output directory and no container, pool or job on the service it talked to.
pub fn assert_refused(o: &Output, needles: &[&str], sb: &Sandbox, emu: Option<&EmulatorProcess>) {
    assert!(!o.status.success(), "expected a failure");
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got:\n{err}");
    assert!(lines[0].starts_with("batchdeck: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    assert!(!sb.output_dir().exists(), "output directory was created");
    if let Some(emu) = emu {
        assert_empty(
            &inventory(&emu.batch_endpoint, &emu.blob_endpoint),
            "after a refused run",
        );
    }
}

pub fn emulator(sb: &Sandbox) -> EmulatorProcess {
    EmulatorProcess::start(&sb.path("emu"), &[])
}
