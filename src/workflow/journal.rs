//! Run journals: what a run is about to create, written to disk before each create, so that a
//! run killed mid-way (kill -9, a lost terminal, a reboot, an outage) can be resumed by the next
//! run with the same ids, which then knows that the pool and job it finds are its own and
//! carries on instead of failing or duplicating work.
//!
//! One journal per run, `<data dir>/runs/<job>-<service tag>-<run>.json` (written atomically),
//! beside a `.lock` file that the run holds locked while it lives: a second session never
//! writes or removes another run's journal, and can tell a run that is still going (locked)
//! from one that was interrupted (unlocked, unfinished) or that ended keeping something
//! (finished). A journal is removed when its run ends with nothing left behind; the journals of
//! interrupted runs are removed by the run that carried on with them.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::workflow::events::Resource;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub run_id: String,
    #[serde(with = "crate::azure::models::timestamp")]
    pub started: chrono::DateTime<chrono::Utc>,
    /// The Batch service's URL, or the embedded emulator's data directory.
    pub batch_service: String,
    pub batch_account: String,
    pub pool_id: String,
    pub job_id: String,
    /// What the run created, or was about to create when it stopped.
    pub created: Vec<String>,
    /// The run reached its end (what it kept is no longer "its own" to resume).
    pub finished: bool,
    /// The process that ran it.
    #[serde(default)]
    pub pid: u32,
}

impl Entry {
    pub fn created(&self, r: &Resource) -> bool {
        self.created.contains(&key(r))
    }

    /// When it started, in local time, for messages.
    pub fn started_local(&self) -> String {
        self.started
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }
}

/// The resource a journal key names.
fn resource(key: &str) -> Option<Resource> {
    let (kind, id) = key.split_once(':')?;
    let id = id.to_string();
    match kind {
        "pool" => Some(Resource::Pool(id)),
        "job" => Some(Resource::Job(id)),
        "container" => Some(Resource::Container(id)),
        _ => None,
    }
}

fn key(r: &Resource) -> String {
    match r {
        Resource::Pool(id) => format!("pool:{id}"),
        Resource::Job(id) => format!("job:{id}"),
        Resource::Container(c) => format!("container:{c}"),
    }
}

/// A journal file and its lock file.
#[derive(Debug)]
struct Held {
    json: PathBuf,
    lock: PathBuf,
    /// Open and locked: the lock lasts as long as this handle.
    _file: File,
}

impl Held {
    fn remove(self) -> std::io::Result<()> {
        for p in [&self.json, &self.lock] {
            match std::fs::remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The journal of one run.
#[derive(Debug)]
pub struct Journal {
    /// Ours, locked while the run lives (None if the directory cannot be written).
    ours: Option<Held>,
    json: PathBuf,
    /// What interrupted runs of these ids left, merged (what they created, any of them).
    pub previous: Option<Entry>,
    /// Their journals, locked by this run; removed once it carried on with them.
    interrupted: Vec<Held>,
    carried_on: bool,
    /// A run of these ids that another session is running now.
    pub live: Option<Entry>,
    /// Earlier runs of these ids that ended keeping something.
    pub kept: Vec<Entry>,
    pub current: Entry,
}

/// Locks `path` (creating it) without waiting: `None` if another process holds it.
fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

impl Journal {
    /// Opens a new journal for a run of `job_id` on this Batch account in `dir`, and reads what
    /// earlier runs of the same ids left: interrupted ones (to resume), one still going (to
    /// refuse), finished ones that kept something (to say so).
    pub fn open(
        dir: &Path,
        batch_service: &str,
        batch_account: &str,
        pool_id: &str,
        job_id: &str,
    ) -> Journal {
        let tag = sha2::Sha256::digest(format!("{batch_service}\n{batch_account}").as_bytes());
        let stem = format!(
            "{job_id}-{:02x}{:02x}{:02x}{:02x}",
            tag[0], tag[1], tag[2], tag[3]
        );
        let current = Entry {
            run_id: uuid::Uuid::new_v4().to_string(),
            started: chrono::Utc::now(),
            batch_service: batch_service.to_string(),
            batch_account: batch_account.to_string(),
            pool_id: pool_id.to_string(),
            job_id: job_id.to_string(),
            created: Vec::new(),
            finished: false,
            pid: std::process::id(),
        };
        let name = format!("{stem}-{}", &current.run_id[..8]);
        let mut j = Journal {
            ours: None,
            json: dir.join(format!("{name}.json")),
            previous: None,
            interrupted: Vec::new(),
            carried_on: false,
            live: None,
            kept: Vec::new(),
            current,
        };
        if let Err(e) = j.scan_and_claim(dir, &stem, &name) {
            tracing::warn!(error = %e, dir = %dir.display(), "run journals unavailable");
        }
        j
    }

    fn scan_and_claim(&mut self, dir: &Path, stem: &str, name: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        // One session at a time looks and claims, so that two starting together see each other.
        let guard = File::create(dir.join(".journals.lock"))?;
        guard.lock()?;
        for e in std::fs::read_dir(dir)? {
            let path = e?.path();
            let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !file.starts_with(stem) || !file.ends_with(".json") {
                continue;
            }
            let Some(entry) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
                .filter(|e| {
                    e.batch_service == self.current.batch_service
                        && e.batch_account == self.current.batch_account
                        && e.job_id == self.current.job_id
                })
            else {
                continue;
            };
            let lock = path.with_extension("lock");
            match try_lock(&lock)? {
                None => self.live = Some(entry),
                Some(f) if !entry.finished => {
                    let prev = self.previous.get_or_insert_with(|| Entry {
                        created: Vec::new(),
                        ..entry.clone()
                    });
                    for k in &entry.created {
                        if !prev.created.contains(k) {
                            prev.created.push(k.clone());
                        }
                    }
                    if entry.started < prev.started {
                        prev.started = entry.started;
                    }
                    self.interrupted.push(Held {
                        json: path,
                        lock,
                        _file: f,
                    });
                }
                Some(_) => self.kept.push(entry),
            }
        }
        let lock = dir.join(format!("{name}.lock"));
        if let Some(f) = try_lock(&lock)? {
            self.ours = Some(Held {
                json: self.json.clone(),
                lock,
                _file: f,
            });
        }
        drop(guard);
        Ok(())
    }

    /// Whether an interrupted run before this one created `r`.
    pub fn previously_created(&self, r: &Resource) -> bool {
        self.previous.as_ref().is_some_and(|p| p.created(r))
    }

    /// Adopts what the interrupted run created, so that this run owns it in turn.
    pub fn adopt(&mut self, r: &Resource) -> std::io::Result<()> {
        self.record(r)
    }

    /// This run decided what to carry on with: the interrupted runs' journals are its to
    /// remove when it ends.
    pub fn carry_on(&mut self) {
        self.carried_on = true;
    }

    /// Records, before the request goes out, that this run is about to create `r`.
    pub fn record(&mut self, r: &Resource) -> std::io::Result<()> {
        let k = key(r);
        if !self.current.created.contains(&k) {
            self.current.created.push(k);
        }
        self.save()
    }

    /// What this run recorded it was about to create (it may exist even if the answer was
    /// lost).
    pub fn recorded(&self) -> Vec<Resource> {
        self.current
            .created
            .iter()
            .filter_map(|k| resource(k))
            .collect()
    }

    /// `r` turned out not to be the run's (it was there already).
    pub fn forget(&mut self, r: &Resource) -> std::io::Result<()> {
        let k = key(r);
        self.current.created.retain(|c| *c != k);
        self.save()
    }

    /// The run ended: forget it if nothing is left, else mark it finished. The journals of
    /// the interrupted runs it carried on with go too.
    pub fn finish(&mut self, remaining: &[Resource]) -> std::io::Result<()> {
        if self.carried_on {
            for h in self.interrupted.drain(..) {
                h.remove()?;
            }
        }
        if remaining.is_empty() {
            return match self.ours.take() {
                Some(h) => h.remove(),
                None => Ok(()),
            };
        }
        self.current.finished = true;
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        if self.ours.is_none() {
            return Err(std::io::Error::other("the journal could not be locked"));
        }
        let bytes = serde_json::to_vec_pretty(&self.current).map_err(std::io::Error::other)?;
        crate::util::write_atomic(&self.json, &bytes)
    }

    pub fn path(&self) -> &Path {
        &self.json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Journal {
        Journal::open(dir, "http://b", "acct", "p", "j")
    }

    #[test]
    fn an_unfinished_run_is_found_by_the_next_one_and_forgotten_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Resource::Pool("p".into());
        let job = Resource::Job("j".into());
        let mut first = open(dir.path());
        assert!(first.previous.is_none());
        first.record(&pool).unwrap();
        first.record(&pool).unwrap();
        // Killed here (its lock goes with it). The next run finds the pool, not the job.
        drop(first);
        let mut second = open(dir.path());
        assert!(second.previously_created(&pool));
        assert!(!second.previously_created(&job));
        assert_eq!(second.previous.as_ref().unwrap().created, ["pool:p"]);
        assert!(second.live.is_none());
        // Another account or endpoint has its own journals.
        assert!(
            Journal::open(dir.path(), "http://b", "other", "p", "j")
                .previous
                .is_none()
        );
        assert!(
            Journal::open(dir.path(), "http://c", "acct", "p", "j")
                .previous
                .is_none()
        );
        // A run that ends keeping something is finished: not resumed, but known as kept.
        second.adopt(&pool).unwrap();
        second.carry_on();
        second.finish(std::slice::from_ref(&pool)).unwrap();
        drop(second);
        let third = open(dir.path());
        assert!(third.previous.is_none());
        assert_eq!(third.kept.len(), 1);
        assert_eq!(third.kept[0].created, ["pool:p"]);
        drop(third);
        // A run that leaves nothing removes its journal, and the ones it carried on with.
        let mut fourth = open(dir.path());
        fourth.record(&job).unwrap();
        assert!(fourth.path().exists());
        fourth.finish(&[]).unwrap();
        assert!(!fourth.path().exists());
    }

    #[test]
    fn a_second_session_sees_a_live_run_and_never_touches_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Resource::Pool("p".into());
        let mut first = open(dir.path());
        first.record(&pool).unwrap();
        // The first run still lives: the second sees it as live, not as interrupted.
        let mut second = open(dir.path());
        assert!(second.previous.is_none());
        let live = second.live.as_ref().expect("the first run is live");
        assert_eq!(live.run_id, first.current.run_id);
        assert_eq!(live.pid, std::process::id());
        // Whatever the second does, the first's journal stays.
        second.record(&Resource::Job("j".into())).unwrap();
        second.finish(&[]).unwrap();
        assert!(first.path().exists());
        assert_ne!(first.path(), second.path());
        // A run that did not carry on (it stopped before deciding) leaves the interrupted
        // journals for the next one.
        drop(first);
        let mut third = open(dir.path());
        assert!(third.previously_created(&pool));
        third.finish(&[]).unwrap();
        drop(third);
        let fourth = open(dir.path());
        assert!(fourth.previously_created(&pool), "still there to resume");
    }
}
