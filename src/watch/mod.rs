//! The session's watcher: pollers for what is on screen (a pool and its nodes, a job's counts
//! and changed tasks, the selected task's stdout and stderr), each with one request in flight
//! and an interval that adapts to change, and a backoff that waits out transient failures
//! without ever ending the watch. What it learns flows as `Event`s to the TUI and to headless
//! output; [`Snapshot`] gives the same to code that waits on it (step 6, `batchdeck watch`).
//!
//! It runs from the first step until the session ends: during and after a run, and when
//! attached to existing work.

pub mod convert;
mod engine;
pub mod pollers;
pub mod schedule;
pub mod waits;

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::azure::batch::BatchClient;
use crate::azure::models::TaskState;
use crate::azure::retry::RetryPolicy;
use crate::workflow::events::{Entity, Event, FilesOf, NodeView, PoolView, TaskCounts};

pub use engine::{Cadences, Watcher};
pub use pollers::{CHECK_EVERY, JobNews, JobTasks, TAIL_BYTES};

/// The task whose files the preview shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewTarget {
    pub job_id: String,
    pub task_id: String,
    /// Where the next read of stdout and of stderr starts (what the preview already holds).
    pub from: [u64; 2],
    /// Its state as the session knows it, if it does.
    pub state: Option<TaskState>,
}

/// A window of a file for browsing's log viewer to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWindow {
    pub of: FilesOf,
    pub path: String,
    /// Where it starts; `None`: the last `window` bytes of the file.
    pub from: Option<u64>,
    /// Then read what is appended, as it is.
    pub follow: bool,
    pub window: u64,
}

/// What the watcher knows, for code that waits on it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub pool: Option<PoolView>,
    pub nodes: Option<Vec<NodeView>>,
    pub counts: Option<TaskCounts>,
    pub pool_gone: bool,
    pub job_gone: bool,
    /// Failed attempts in a row while the service does not answer.
    pub reconnecting: Option<u32>,
    /// The watch ended on this error (the service refused the account).
    pub fatal: Option<String>,
    /// The previewed task completed and its files were read to their end.
    pub preview_done: bool,
    /// Bumped on every change.
    pub version: u64,
}

pub(crate) enum Cmd {
    Pool(String),
    Job(String),
    Preview(Option<PreviewTarget>),
    Hurry,
    /// Browsing: the account's pools.
    Pools,
    /// Browsing: the account's jobs, with the task counts of these.
    Jobs(Vec<String>),
    /// Browsing: the files of a task or a node.
    Files(FilesOf),
    /// Browsing: a window of a file.
    File(FileWindow),
    /// Browsing: an entity's properties.
    Details(Entity),
    Stop,
}

/// A handle on the session's watcher. The watcher stops when every handle is dropped.
#[derive(Clone)]
pub struct Watch {
    cmds: mpsc::UnboundedSender<Cmd>,
    snapshot: watch::Receiver<Snapshot>,
}

/// The retries inside one poll: a blip is absorbed, an outage is the watcher's to wait out
/// (its backoff goes up to 30 s and never gives up).
pub fn poll_retry_policy() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(100),
        cap: Duration::from_millis(400),
        max_attempts: 3,
        max_connect_attempts: 2,
        max_retry_after: Duration::from_secs(30),
    }
}

impl Watch {
    /// Starts a watcher on the current runtime; it reports on `events`.
    pub fn spawn(batch: &BatchClient, events: mpsc::UnboundedSender<Event>) -> Watch {
        Self::spawn_with(batch, events, Cadences::default())
    }

    /// As [`Watch::spawn`], with other intervals (tests use short ones).
    pub fn spawn_with(
        batch: &BatchClient,
        events: mpsc::UnboundedSender<Event>,
        cadences: Cadences,
    ) -> Watch {
        Self::spawn_nudged(batch, events, cadences, None)
    }

    /// As [`Watch::spawn_with`], also polling soon after each change `changes` reports (the
    /// embedded local Azure's [`crate::emulator::Emulator::batch_changes`]).
    pub fn spawn_nudged(
        batch: &BatchClient,
        events: mpsc::UnboundedSender<Event>,
        cadences: Cadences,
        changes: Option<watch::Receiver<u64>>,
    ) -> Watch {
        let batch = batch.clone().with_retry_policy(poll_retry_policy());
        let mut w = Watcher::new(batch, events);
        if let Some(c) = changes {
            w.nudged_by(c);
        }
        Self::start(w, cadences)
    }

    /// A watcher for browsing the account: its lists, and nodes with their address, size
    /// and scheduling state.
    pub fn spawn_browsing(batch: &BatchClient, events: mpsc::UnboundedSender<Event>) -> Watch {
        let batch = batch.clone().with_retry_policy(poll_retry_policy());
        let mut w = Watcher::new(batch, events);
        w.browsing();
        Self::start(w, Cadences::default())
    }

    fn start(mut w: Watcher, cadences: Cadences) -> Watch {
        w.cadences = cadences;
        let snapshot = w.subscribe();
        let (cmds, rx) = mpsc::unbounded_channel();
        tokio::spawn(w.run(rx));
        Watch { cmds, snapshot }
    }

    /// Watch pool `id` and its nodes.
    pub fn pool(&self, id: &str) {
        let _ = self.cmds.send(Cmd::Pool(id.to_string()));
    }

    /// Watch job `id`: its task counts and the tasks that change.
    pub fn job(&self, id: &str) {
        let _ = self.cmds.send(Cmd::Job(id.to_string()));
    }

    /// Show this task's stdout and stderr (debounced: a selection that keeps moving reads
    /// nothing), or nothing.
    pub fn preview(&self, target: Option<PreviewTarget>) {
        let _ = self.cmds.send(Cmd::Preview(target));
    }

    /// Watch the account's pools (browsing).
    pub fn pools(&self) {
        let _ = self.cmds.send(Cmd::Pools);
    }

    /// Watch the account's jobs, with the task counts of `counts_for` (browsing: the rows
    /// on screen).
    pub fn jobs(&self, counts_for: Vec<String>) {
        let _ = self.cmds.send(Cmd::Jobs(counts_for));
    }

    /// Watch the files of a task or a node (browsing).
    pub fn files(&self, of: FilesOf) {
        let _ = self.cmds.send(Cmd::Files(of));
    }

    /// Read a window of a file (browsing's log viewer).
    pub fn file(&self, w: FileWindow) {
        let _ = self.cmds.send(Cmd::File(w));
    }

    /// Read an entity's properties, again as they change (browsing's details view).
    pub fn details(&self, of: Entity) {
        let _ = self.cmds.send(Cmd::Details(of));
    }

    /// Something was done to the watched resources: poll everything again now.
    pub fn hurry(&self) {
        let _ = self.cmds.send(Cmd::Hurry);
    }

    /// Stops the watcher (also when the last handle is dropped).
    pub fn stop(&self) {
        let _ = self.cmds.send(Cmd::Stop);
    }

    /// What the watcher knows; `changed()` wakes on each update.
    pub fn snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }
}
