//! Shared helpers of the integration tests: the emulator as a child process, and Microsoft's
//! Python SDKs in the venvs that `scripts/test` installs.
#![allow(dead_code)]

pub mod azurite;
pub mod batch_raw;
pub mod outputs;
pub mod sandbox;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const STORAGE_ACCOUNT: &str = "devstoreaccount1";
pub const STORAGE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const BATCH_ACCOUNT: &str = "devbatch";
pub const BATCH_KEY: &str = "ZGV2YmF0Y2hrZXkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=";

/// `batchdeck emulator` running as a child process on OS-chosen loopback ports.
pub struct EmulatorProcess {
    child: Option<Child>,
    pub batch_endpoint: String,
    pub blob_endpoint: String,
    pub data_dir: PathBuf,
    /// The Entra ID authority (`https://127.0.0.1:PORT`), its tenant, and the CA to trust.
    pub authority_host: String,
    pub tenant_id: String,
    pub ca_cert: PathBuf,
    /// Everything it wrote to stderr so far (also echoed to the test's stderr).
    stderr: Arc<Mutex<String>>,
}

impl EmulatorProcess {
    /// Starts the emulator on `data_dir` with zero delays plus `extra_args`, and waits for its
    /// ready line.
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> EmulatorProcess {
        Self::start_with(
            Command::new(env!("CARGO_BIN_EXE_batchdeck")),
            data_dir,
            extra_args,
        )
    }

    /// As [`EmulatorProcess::start`], from a prepared command (working directory, environment).
    pub fn start_with(mut cmd: Command, data_dir: &Path, extra_args: &[&str]) -> EmulatorProcess {
        let mut child = cmd
            .arg("emulator")
            .arg("--data-dir")
            .arg(data_dir)
            .args(zero_delays_unless_given(extra_args))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start batchdeck emulator");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the child never blocks on a full pipe.
            for _ in lines {}
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                eprintln!("[emulator] {line}");
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("emulator printed its ready line within 30 s");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("ready line {line:?} has no {name}"))
                .to_string()
        };
        assert!(line.starts_with("ready "), "unexpected first line {line:?}");
        EmulatorProcess {
            batch_endpoint: field("batch_endpoint"),
            blob_endpoint: field("blob_endpoint"),
            child: Some(child),
            data_dir: PathBuf::from(field("data_dir")),
            authority_host: field("authority_host"),
            tenant_id: field("tenant_id"),
            ca_cert: PathBuf::from(field("ca_cert")),
            stderr,
        }
    }

    /// batchdeck's Batch client for this emulator, with the well-known account.
    pub fn batch_client(&self) -> batchdeck::azure::batch::BatchClient {
        batch_client(&self.batch_endpoint)
    }

    /// What the emulator wrote to stderr until now.
    pub fn stderr_so_far(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// SIGKILL: no chance to flush anything that was not already durable.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("emulator still running");
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = c.try_wait().expect("wait emulator") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("emulator did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Environment for the Python conformance scripts.
    pub fn sdk_env(&self) -> Vec<(String, String)> {
        vec![
            ("BATCH_ENDPOINT".into(), self.batch_endpoint.clone()),
            ("BATCH_ACCOUNT".into(), BATCH_ACCOUNT.into()),
            ("BATCH_KEY".into(), BATCH_KEY.into()),
            ("BLOB_ENDPOINT".into(), self.blob_endpoint.clone()),
            ("STORAGE_ACCOUNT".into(), STORAGE_ACCOUNT.into()),
            ("STORAGE_KEY".into(), STORAGE_KEY.into()),
            ("AUTHORITY_HOST".into(), self.authority_host.clone()),
            ("TENANT_ID".into(), self.tenant_id.clone()),
            ("CA_CERT".into(), self.ca_cert.display().to_string()),
            (
                "CLIENT_CERTIFICATE_PATH".into(),
                self.data_dir
                    .join("entra")
                    .join(format!("{}.pem", batchdeck::emulator::entra::APPS[0].name))
                    .display()
                    .to_string(),
            ),
            (
                "CLIENT_ID".into(),
                batchdeck::emulator::entra::APPS[0].client_id.into(),
            ),
            (
                "CLIENT_SECRET".into(),
                batchdeck::emulator::entra::APPS[0].client_secret.into(),
            ),
            (
                "READER_CLIENT_ID".into(),
                batchdeck::emulator::entra::APPS[1].client_id.into(),
            ),
            (
                "READER_CLIENT_SECRET".into(),
                batchdeck::emulator::entra::APPS[1].client_secret.into(),
            ),
        ]
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port where connections are refused, reserved for as long as the returned socket
/// lives: the socket is bound but never listens, so no other test can take the port meanwhile
/// (as one can a port that was bound and released to learn a free number).
pub fn refused_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind a loopback port");
    let port = socket.local_addr().expect("its address").port();
    (socket, port)
}

/// batchdeck's Batch client for `endpoint`, with the well-known account.
pub fn batch_client(endpoint: &str) -> batchdeck::azure::batch::BatchClient {
    batchdeck::azure::batch::BatchClient::new(
        url::Url::parse(endpoint).expect("endpoint URL"),
        batchdeck::azure::auth::SharedKeyCredential::new(BATCH_ACCOUNT, BATCH_KEY)
            .expect("well-known key"),
    )
    .expect("batch client")
}

/// `--allocation-delay 0 --node-boot-delay 0`, but for the ones `args` set themselves.
fn zero_delays_unless_given(args: &[&str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for flag in ["--allocation-delay", "--node-boot-delay"] {
        if !args.contains(&flag) {
            out.extend([flag, "0"]);
        }
    }
    out
}

/// The Python interpreter of one of the SDK venvs (`sdk15`: azure-batch 15.x, `sdk14`:
/// azure-batch 14.2.0; both with azure-storage-blob 12.x; `identity`: azure-identity with
/// azure-batch 15 and azure-storage-blob), installed by `scripts/test`.
pub fn sdk_python(venv: &str) -> PathBuf {
    let var = format!("BATCHDECK_PY_{}", venv.to_uppercase());
    if let Ok(p) = std::env::var(&var) {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv")
        .join(venv)
        .join("bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/test (it installs the pinned SDKs), or set {var}",
        p.display()
    );
    p
}

/// Runs `tests/conformance/<script>` with the venv's Python against `emu`; panics with the
/// script's output unless it exits 0. Returns its output.
pub fn run_sdk_script(venv: &str, script: &str, emu: &EmulatorProcess, args: &[&str]) -> Output {
    run_conformance(Command::new(sdk_python(venv)), script, emu, args)
}

/// Runs `tests/conformance/<script>` with `program` against `emu` (its endpoints and accounts
/// in the environment); panics with the script's output unless it exits 0.
pub fn run_conformance(
    mut program: Command,
    script: &str,
    emu: &EmulatorProcess,
    args: &[&str],
) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(script);
    let shown = format!("{:?}", program.get_program());
    let out = program
        .arg(&path)
        .args(args)
        .envs(emu.sdk_env())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the conformance script");
    if !out.status.success() {
        panic!(
            "{script} ({shown}) failed with {}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// A tool `scripts/test` installs below the checkout (`.venv/...`, `.tools/...`), unless the
/// environment variable `var` names another.
pub fn installed(var: &str, rel: &str) -> PathBuf {
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-test-deps (scripts/test does), or set {var}",
        p.display()
    );
    p
}

/// The watcher's intervals made short, so that tests do not wait on the defaults.
pub fn quick_cadences() -> batchdeck::watch::Cadences {
    use batchdeck::watch::schedule::Cadence;
    let ms = std::time::Duration::from_millis;
    batchdeck::watch::Cadences {
        pool_steady: Cadence::new(ms(50), ms(200)),
        pool_moving: Cadence::new(ms(50), ms(100)),
        job_busy: Cadence::new(ms(50), ms(200)),
        job_idle: Cadence::new(ms(50), ms(200)),
        tail: Cadence::new(ms(100), ms(200)),
        debounce: ms(150),
    }
}

/// A pool of `nodes` nodes with `slots` task slots each (no start task).
pub async fn create_pool(
    b: &batchdeck::azure::batch::BatchClient,
    id: &str,
    nodes: i32,
    slots: i32,
) {
    b.create_pool(&batchdeck::azure::models::Pool {
        id: id.into(),
        vm_size: Some("standard_d2s_v3".into()),
        target_dedicated_nodes: Some(nodes),
        task_slots_per_node: Some(slots),
        ..Default::default()
    })
    .await
    .expect("create the pool");
}

/// A job on `pool` with `tasks` (id, command line).
pub async fn create_job_with_tasks(
    b: &batchdeck::azure::batch::BatchClient,
    job: &str,
    pool: &str,
    tasks: &[(&str, &str)],
) {
    use batchdeck::azure::models::{Job, PoolInfo, Task};
    b.create_job(&Job {
        id: job.into(),
        pool_info: PoolInfo {
            pool_id: Some(pool.into()),
            ..PoolInfo::default()
        },
        ..Job::default()
    })
    .await
    .expect("create the job");
    let tasks: Vec<Task> = tasks
        .iter()
        .map(|(id, cmd)| Task {
            id: id.to_string(),
            command_line: cmd.to_string(),
            ..Task::default()
        })
        .collect();
    b.add_tasks(job, &tasks).await.expect("add the tasks");
}
