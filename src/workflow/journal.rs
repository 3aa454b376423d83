//! The run journal: what a run is about to create, written to disk before each create, so that
//! a run killed mid-way (kill -9, a lost terminal, a reboot) can be resumed by the next run with
//! the same ids, which then knows that the pool and job it finds are its own and carries on
//! instead of failing or duplicating work.
//!
//! One file per (Batch endpoint, account, job id) under `<data dir>/runs/`, written atomically;
//! removed when a run ends with nothing left behind, marked finished when something was kept.

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
}

impl Entry {
    pub fn created(&self, r: &Resource) -> bool {
        self.created.contains(&key(r))
    }
}

fn key(r: &Resource) -> String {
    match r {
        Resource::Pool(id) => format!("pool:{id}"),
        Resource::Job(id) => format!("job:{id}"),
        Resource::Container(c) => format!("container:{c}"),
    }
}

/// The journal of one run.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// What an earlier, unfinished run of these ids left, if anything.
    pub previous: Option<Entry>,
    pub current: Entry,
}

impl Journal {
    /// Opens the journal of `job_id` on this Batch account in `dir`, reading what an earlier
    /// run of the same ids recorded.
    pub fn open(
        dir: &Path,
        batch_service: &str,
        batch_account: &str,
        pool_id: &str,
        job_id: &str,
    ) -> Journal {
        let tag = sha2::Sha256::digest(format!("{batch_service}\n{batch_account}").as_bytes());
        let path = dir.join(format!(
            "{job_id}-{:02x}{:02x}{:02x}{:02x}.json",
            tag[0], tag[1], tag[2], tag[3]
        ));
        let previous = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
            .filter(|e| {
                !e.finished
                    && e.batch_service == batch_service
                    && e.batch_account == batch_account
                    && e.job_id == job_id
            });
        Journal {
            path,
            previous,
            current: Entry {
                run_id: uuid::Uuid::new_v4().to_string(),
                started: chrono::Utc::now(),
                batch_service: batch_service.to_string(),
                batch_account: batch_account.to_string(),
                pool_id: pool_id.to_string(),
                job_id: job_id.to_string(),
                created: Vec::new(),
                finished: false,
            },
        }
    }

    /// Whether the interrupted run before this one created `r`.
    pub fn previously_created(&self, r: &Resource) -> bool {
        self.previous.as_ref().is_some_and(|p| p.created(r))
    }

    /// Adopts what the interrupted run created, so that this run owns it in turn.
    pub fn adopt(&mut self, r: &Resource) -> std::io::Result<()> {
        self.record(r)
    }

    /// Records, before the request goes out, that this run is about to create `r`.
    pub fn record(&mut self, r: &Resource) -> std::io::Result<()> {
        let k = key(r);
        if !self.current.created.contains(&k) {
            self.current.created.push(k);
        }
        self.save()
    }

    /// The run ended: forget it if nothing is left, else mark it finished.
    pub fn finish(&mut self, remaining: &[Resource]) -> std::io::Result<()> {
        if remaining.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        self.current.finished = true;
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.current).map_err(std::io::Error::other)?;
        crate::util::write_atomic(&self.path, &bytes)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_run_is_found_by_the_next_one_and_forgotten_when_done() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Resource::Pool("p".into());
        let job = Resource::Job("j".into());
        let mut first = Journal::open(dir.path(), "http://b", "acct", "p", "j");
        assert!(first.previous.is_none());
        first.record(&pool).unwrap();
        first.record(&pool).unwrap();
        // Killed here. The next run finds the pool, not the job.
        let mut second = Journal::open(dir.path(), "http://b", "acct", "p", "j");
        assert!(second.previously_created(&pool));
        assert!(!second.previously_created(&job));
        assert_eq!(second.previous.as_ref().unwrap().created, ["pool:p"]);
        // Another account or endpoint has its own journal.
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
        // A run that ends keeping something is finished: not resumed.
        second.adopt(&pool).unwrap();
        second.finish(std::slice::from_ref(&pool)).unwrap();
        assert!(
            Journal::open(dir.path(), "http://b", "acct", "p", "j")
                .previous
                .is_none()
        );
        // A run that leaves nothing removes its journal.
        let mut third = Journal::open(dir.path(), "http://b", "acct", "p", "j");
        third.record(&job).unwrap();
        assert!(third.path().exists());
        third.finish(&[]).unwrap();
        assert!(!third.path().exists());
    }
}
