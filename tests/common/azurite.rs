//! Azurite, Microsoft's storage emulator, as a child process of a test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Azurite's blob service as a child process on a free loopback port; killed on drop.
pub struct Azurite {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

/// The azurite-blob binary: `$BATCHDECK_AZURITE_BLOB`, or what `scripts/install-azurite`
/// installs (it is idempotent and prints the path).
fn azurite_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BATCHDECK_AZURITE_BLOB") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/install-azurite"))
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/install-azurite");
    assert!(
        out.status.success(),
        "scripts/install-azurite failed ({}); it needs node and npm",
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout
        .lines()
        .last()
        .expect("install-azurite prints the binary's path")
        .trim();
    PathBuf::from(path)
}

impl Azurite {
    /// Starts azurite-blob on port 0 and reads the port it chose from its ready line
    /// ("... successfully listens on http://127.0.0.1:PORT"), so that parallel tests never
    /// race for a port.
    pub fn start() -> Azurite {
        use std::io::{BufRead, BufReader};
        static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        let bin = BIN.get_or_init(azurite_bin);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0"])
            .arg("--location")
            .arg(dir.path())
            .args(["--silent", "--skipApiVersionCheck", "--loose"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start azurite-blob");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if let Some((_, url)) = line.split_once("successfully listens on ") {
                    let _ = tx.send(url.trim().to_string());
                    break;
                }
            }
            // Keep draining so that Azurite never blocks on a full pipe.
            for _ in lines {}
        });
        let mut az = Azurite {
            child: Some(child),
            endpoint: String::new(),
            _dir: dir,
        };
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("azurite-blob printed its listening line within 60 s");
        az.endpoint = format!("{}/devstoreaccount1", base.trim_end_matches('/'));
        az
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}
