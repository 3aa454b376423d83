//! The runs in flight and their process groups: a run can be killed before its process
//! starts, while it runs, or after the emulator restarted (by process group).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The runs (task and start task attempts) that are live, by run id: their process group once
/// it exists, and whether they were killed. A run is killed in any phase, also before its
/// process exists (while its resource files download): it then stops at its next step, so a
/// run whose node died never goes on beside the attempt that replaced it.
#[derive(Default)]
pub struct Procs {
    runs: Mutex<HashMap<u64, RunEntry>>,
    /// The value of [`OWNER_VAR`] in every process the runs start.
    owner: Option<OsString>,
}

/// Every process the nodes start carries this variable, naming the emulator's data directory,
/// so that after a kill -9 of the emulator its next start finds and ends what it left, even a
/// process whose group had not reached the disk yet (it is recorded lazily).
pub const OWNER_VAR: &str = "BATCHDECK_EMULATOR_DATA_DIR";

struct RunEntry {
    pgid: Option<i32>,
    killed: tokio::sync::watch::Sender<bool>,
}

impl Default for RunEntry {
    fn default() -> Self {
        RunEntry {
            pgid: None,
            killed: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Procs {
    /// The runs of the emulator whose data directory is `dir`: their processes carry it.
    pub fn owned_by(dir: &Path) -> Procs {
        Procs {
            owner: Some(owner_value(dir)),
            ..Procs::default()
        }
    }

    /// The value of [`OWNER_VAR`] for the processes of these runs.
    pub(super) fn owner(&self) -> Option<&OsStr> {
        self.owner.as_deref()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, RunEntry>) -> T) -> T {
        // Every change is one assignment: a poisoned lock still holds consistent data.
        f(&mut self.runs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A run starts to exist (its id was handed out): from now on it can be killed.
    pub fn begin(&self, run: u64) {
        self.with(|r| r.insert(run, RunEntry::default()));
    }

    /// A run is over.
    pub fn end(&self, run: u64) {
        self.with(|r| r.remove(&run));
    }

    /// Records a run's process group; false if the run was killed meanwhile (the caller kills
    /// the group it just started).
    pub(super) fn set_pgid(&self, run: u64, pgid: i32) -> bool {
        self.with(|r| match r.get_mut(&run) {
            Some(e) => {
                e.pgid = Some(pgid);
                !*e.killed.borrow()
            }
            None => true,
        })
    }

    pub(super) fn clear_pgid(&self, run: u64) {
        self.with(|r| {
            if let Some(e) = r.get_mut(&run) {
                e.pgid = None;
            }
        });
    }

    /// Whether a run was killed.
    pub fn killed(&self, run: u64) -> bool {
        self.with(|r| r.get(&run).is_some_and(|e| *e.killed.borrow()))
    }

    /// Resolves once a run is killed (never, for a run that is not live).
    pub async fn until_killed(&self, run: u64) {
        let rx = self.with(|r| r.get(&run).map(|e| e.killed.subscribe()));
        if let Some(mut rx) = rx
            && rx.wait_for(|k| *k).await.is_ok()
        {
            return;
        }
        std::future::pending::<()>().await
    }

    /// Kills a run: its process group if it has one, and whatever step it would take next.
    pub fn kill(&self, run: u64) {
        let pgid = self.with(|r| {
            r.get_mut(&run).and_then(|e| {
                e.killed.send_replace(true);
                e.pgid
            })
        });
        if let Some(pgid) = pgid {
            kill_group(pgid);
        }
    }

    pub fn kill_all(&self) {
        let all: Vec<i32> = self.with(|r| {
            r.values_mut()
                .filter_map(|e| {
                    e.killed.send_replace(true);
                    e.pgid
                })
                .collect()
        });
        for pgid in all {
            kill_group(pgid);
        }
    }
}

pub fn kill_group(pgid: i32) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

fn owner_value(dir: &Path) -> OsString {
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .into_os_string()
}

/// Ends every process (and its process group) that an emulator on `dir` started and that still
/// runs: what a killed emulator left. Called once the state is open (its lock held), before the
/// scheduler starts anything. Returns how many processes were found.
pub fn kill_orphans(dir: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt as _;
    let mut want = OWNER_VAR.as_bytes().to_vec();
    want.push(b'=');
    want.extend_from_slice(owner_value(dir).as_bytes());
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut found = 0;
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Other users' processes cannot be read: they are not ours.
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if !env.split(|b| *b == 0).any(|v| v == want.as_slice()) {
            continue;
        }
        found += 1;
        let pid = Pid::from_raw(pid as i32);
        if let Ok(group) = nix::unistd::getpgid(Some(pid)) {
            kill_group(group.as_raw());
        }
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    }
    if found > 0 {
        tracing::info!(
            found,
            "ended the processes a previous emulator on this data directory left"
        );
    }
    found
}
