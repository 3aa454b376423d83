//! Durable state: every pool, node, job and task as JSON in an embedded redb database, mirrored
//! in memory. A change is committed (fsync) before the request that caused it is answered.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::azure::models::{
    ComputeNode, Job, JobSchedule, NodeDeallocationOption, Pool, PoolLifetimeOption, Subtask,
    SubtaskState, Task, TaskExecutionResult, TaskState,
};

const POOLS: TableDefinition<&str, &[u8]> = TableDefinition::new("pools");
const NODES: TableDefinition<&str, &[u8]> = TableDefinition::new("nodes");
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
const SCHEDULES: TableDefinition<&str, &[u8]> = TableDefinition::new("jobschedules");

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// A pool and what the emulator needs to drive it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolRec {
    pub pool: Pool,
    /// When the current resize started (allocation delay counts from here).
    #[serde(with = "crate::azure::models::timestamp")]
    pub resize_since: DateTime<Utc>,
    /// When autoscale next evaluates the formula (set while it is enabled).
    #[serde(
        default,
        with = "crate::azure::models::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_autoscale: Option<DateTime<Utc>>,
    /// When autoscale was last enabled (the service allows one enable per 30 s).
    #[serde(
        default,
        with = "crate::azure::models::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_autoscale_enable: Option<DateTime<Utc>>,
    /// The job or job schedule an auto pool was created for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_owner: Option<AutoPoolOwner>,
    /// What happens to the tasks of nodes the current resize removes (requeue by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deallocation: Option<NodeDeallocationOption>,
}

/// What an auto pool lives for: a job or a job schedule (by key), and whether it outlives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AutoPoolOwner {
    pub lifetime: PoolLifetimeOption,
    pub key: String,
    pub keep_alive: bool,
}

impl PoolRec {
    pub fn new(pool: Pool, now: DateTime<Utc>) -> PoolRec {
        PoolRec {
            pool,
            resize_since: now,
            next_autoscale: None,
            last_autoscale_enable: None,
            auto_owner: None,
            deallocation: None,
        }
    }
}

/// A user account added to a node. Its password is not kept: nothing reads it back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeUserRec {
    pub name: String,
    pub is_admin: bool,
    #[serde(with = "crate::azure::models::timestamp")]
    pub expiry_time: DateTime<Utc>,
    pub has_password: bool,
    #[serde(default)]
    pub ssh_public_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRec {
    pub pool_key: String,
    pub node: ComputeNode,
    /// When the node entered its current boot phase.
    #[serde(with = "crate::azure::models::timestamp")]
    pub phase_since: DateTime<Utc>,
    /// The start task run in flight, if any, and its process group.
    #[serde(default)]
    pub start_run: Option<u64>,
    #[serde(default)]
    pub start_pgid: Option<i32>,
    /// User accounts added to the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<NodeUserRec>,
    /// A reboot (reimage, deallocation: `pending_action`) asked with `taskcompletion` or
    /// `retaineddata`, waiting for the node's tasks (and their files' retention) to end:
    /// meanwhile the node takes no new task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_reboot: Option<NodeDeallocationOption>,
    /// What the node does once `pending_reboot` may happen.
    #[serde(default, skip_serializing_if = "NodeAction::is_reboot")]
    pub pending_action: NodeAction,
}

/// What a user's node operation does to the node once its tasks allow (`drain_node`): boot
/// again; reinstall its operating system (its disk wiped), then boot; or stop, deallocated,
/// until started again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeAction {
    #[default]
    Reboot,
    Reimage,
    Deallocate,
}

impl NodeAction {
    pub fn is_reboot(&self) -> bool {
        *self == NodeAction::Reboot
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRec {
    pub job: Job,
    /// The job schedule that created the job (its key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The job preparation and release tasks on each node they ran on, by node key
    /// (`(pool key, node id)` as `pool/node`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_tasks: BTreeMap<String, crate::emulator::batch::scheduler::job_tasks::NodeJobTasks>,
}

/// A job schedule and where its recurrence stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleRec {
    pub schedule: JobSchedule,
    /// The number of the next job (`<schedule id>:job-<n>`).
    pub next_job: u32,
    /// When the current run became due; no job is created after the start window from here.
    #[serde(default, with = "crate::azure::models::timestamp::option")]
    pub due_since: Option<DateTime<Utc>>,
    /// The schedule's job that is not yet completed, if any (its key).
    #[serde(default)]
    pub active_job: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRec {
    pub job_key: String,
    pub task: Task,
    /// The node the task runs on: (pool key, node id).
    #[serde(default)]
    pub node: Option<(String, String)>,
    /// The run in flight, if any, and its process group.
    #[serde(default)]
    pub run: Option<u64>,
    #[serde(default)]
    pub pgid: Option<i32>,
    /// The task directory was removed after its retention time.
    #[serde(default)]
    pub files_removed: bool,
    /// A multi-instance task's subtasks (the primary is the task itself), with each run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtasks: Vec<SubtaskRec>,
    /// Process groups that coordination commands left running (their background services),
    /// ended with the task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_groups: Vec<i32>,
}

/// A subtask of a multi-instance task: what the service reports, and its run on its node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubtaskRec {
    pub subtask: Subtask,
    /// (pool key, node id).
    pub node: (String, String),
    #[serde(default)]
    pub run: Option<u64>,
    #[serde(default)]
    pub pgid: Option<i32>,
}

impl TaskRec {
    /// The task's state; a record without one (none are written so) counts as active.
    pub fn state(&self) -> &TaskState {
        const ACTIVE: &TaskState = &TaskState::Active;
        self.task.state.as_ref().unwrap_or(ACTIVE)
    }

    pub fn slots(&self) -> i32 {
        self.task.required_slots.unwrap_or(1).max(1)
    }

    /// Every run of the task in flight: its own, and its subtasks'.
    pub fn runs(&self) -> Vec<u64> {
        self.run
            .into_iter()
            .chain(self.subtasks.iter().filter_map(|s| s.run))
            .collect()
    }

    /// The nodes the task occupies now (its own and its running subtasks').
    pub fn placements(&self) -> Vec<&(String, String)> {
        let own = self.node.as_ref().filter(|_| self.run.is_some());
        own.into_iter()
            .chain(
                self.subtasks
                    .iter()
                    .filter(|s| s.run.is_some())
                    .map(|s| &s.node),
            )
            .collect()
    }

    /// Whether the task, or one of its subtasks, is on the node (running, or waiting there for
    /// the job's preparation task).
    pub fn on_node(&self, nk: &(String, String)) -> bool {
        self.node.as_ref() == Some(nk)
            || self
                .subtasks
                .iter()
                .any(|s| s.run.is_some() && &s.node == nk)
            || self.waiting_on().contains(&nk)
    }

    /// The nodes a task waits on, `preparing`, for the job's preparation task: its own, and
    /// its subtasks' for a multi-instance task. Empty unless it so waits.
    pub fn waiting_on(&self) -> Vec<&(String, String)> {
        if *self.state() != TaskState::Preparing || self.run.is_some() {
            return Vec::new();
        }
        self.node
            .iter()
            .chain(
                self.subtasks
                    .iter()
                    .filter(|s| s.subtask.state == Some(SubtaskState::Preparing))
                    .map(|s| &s.node),
            )
            .collect()
    }

    /// Ends what the task's coordination commands left running, and forgets its subtasks'
    /// runs (they end with the task).
    pub fn end_instances(&mut self) {
        for g in self.kept_groups.drain(..) {
            crate::emulator::batch::agent::kill_group(g);
        }
        for s in &mut self.subtasks {
            if let Some(g) = s.pgid.take() {
                crate::emulator::batch::agent::kill_group(g);
            }
            s.run = None;
        }
    }

    /// Whether the task's last run succeeded (a completed task either succeeded or failed).
    pub fn succeeded(&self) -> bool {
        self.task
            .execution_info
            .as_ref()
            .and_then(|i| i.result.as_ref())
            == Some(&TaskExecutionResult::Success)
    }
}

/// Keys are lowercase ids: Batch ids are case-insensitive and case-preserving.
pub fn key(id: &str) -> String {
    id.to_ascii_lowercase()
}

#[derive(Debug, Default)]
pub struct State {
    pub pools: BTreeMap<String, PoolRec>,
    pub nodes: BTreeMap<(String, String), NodeRec>,
    pub jobs: BTreeMap<String, JobRec>,
    pub tasks: BTreeMap<(String, String), TaskRec>,
    pub schedules: BTreeMap<String, ScheduleRec>,
    /// The last time handed out by [`State::now`].
    last_now: Option<DateTime<Utc>>,
}

impl State {
    /// The time of a change being made under the lock: later than every time handed out
    /// before, so that a change seen later never carries an earlier time (a client that lists
    /// what changed since the newest time it saw then misses nothing).
    pub fn now(&mut self) -> DateTime<Utc> {
        let mut now = Utc::now();
        if let Some(last) = self.last_now
            && now <= last
        {
            now = last + chrono::Duration::nanoseconds(100);
        }
        self.last_now = Some(now);
        now
    }
}

enum Op {
    Put(
        TableDefinition<'static, &'static str, &'static [u8]>,
        String,
        Vec<u8>,
    ),
    Del(
        TableDefinition<'static, &'static str, &'static [u8]>,
        String,
    ),
}

/// Changes to commit together.
#[derive(Default)]
pub struct Tx {
    ops: Vec<Op>,
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing these plain structs to JSON cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

impl Tx {
    pub fn pool(&mut self, k: &str, r: &PoolRec) {
        self.ops.push(Op::Put(POOLS, k.to_string(), encode(r)));
    }
    pub fn del_pool(&mut self, k: &str) {
        self.ops.push(Op::Del(POOLS, k.to_string()));
    }
    pub fn node(&mut self, k: &(String, String), r: &NodeRec) {
        self.ops
            .push(Op::Put(NODES, format!("{}/{}", k.0, k.1), encode(r)));
    }
    pub fn del_node(&mut self, k: &(String, String)) {
        self.ops.push(Op::Del(NODES, format!("{}/{}", k.0, k.1)));
    }
    pub fn job(&mut self, k: &str, r: &JobRec) {
        self.ops.push(Op::Put(JOBS, k.to_string(), encode(r)));
    }
    pub fn del_job(&mut self, k: &str) {
        self.ops.push(Op::Del(JOBS, k.to_string()));
    }
    pub fn task(&mut self, k: &(String, String), r: &TaskRec) {
        self.ops
            .push(Op::Put(TASKS, format!("{}/{}", k.0, k.1), encode(r)));
    }
    pub fn del_task(&mut self, k: &(String, String)) {
        self.ops.push(Op::Del(TASKS, format!("{}/{}", k.0, k.1)));
    }
    pub fn schedule(&mut self, k: &str, r: &ScheduleRec) {
        self.ops.push(Op::Put(SCHEDULES, k.to_string(), encode(r)));
    }
    pub fn del_schedule(&mut self, k: &str) {
        self.ops.push(Op::Del(SCHEDULES, k.to_string()));
    }
}

/// The durable store. Changes are queued in the order the in-memory state took them (under
/// its lock, which no one holds across I/O) and written by group commits: whoever needs its
/// changes durable writes everything queued so far in one redb transaction, while requests
/// that only read never wait for a disk.
pub struct Store {
    db: Database,
    /// Changes queued and not yet written, with the sequence number of the last one.
    queue: std::sync::Mutex<Queue>,
    /// Held while a group commit writes; `durable` says how far the disk has got.
    writer: std::sync::Mutex<()>,
    durable: std::sync::atomic::AtomicU64,
    /// A slow disk, for tests and fault injection: each durable write takes this much longer.
    slow_disk: std::time::Duration,
    /// The sequence number of the last change queued, for whoever wants to know at once that
    /// the state changed (a watcher in the same process).
    changes: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
struct Queue {
    ops: Vec<Op>,
    last: u64,
}

thread_local! {
    /// The last change this thread queued: what [`Store::sync_mine`] waits for.
    static MINE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Store {
    #[cfg(test)]
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, std::time::Duration::ZERO)
    }

    /// As [`Store::open`], with every durable write delayed by `slow_disk`.
    pub fn open_with(path: &Path, slow_disk: std::time::Duration) -> Result<Store, StoreError> {
        let db = Database::create(path).map_err(err)?;
        // Make sure every table exists so that reads never fail on a fresh file.
        let w = db.begin_write().map_err(err)?;
        for t in [POOLS, NODES, JOBS, TASKS, SCHEDULES] {
            w.open_table(t).map_err(err)?;
        }
        w.commit().map_err(err)?;
        Ok(Store {
            db,
            queue: std::sync::Mutex::new(Queue::default()),
            writer: std::sync::Mutex::new(()),
            durable: std::sync::atomic::AtomicU64::new(0),
            slow_disk,
            changes: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Queues changes that the in-memory state already shows, in the order it took them
    /// (call it under the state's lock), without touching the disk. The calling thread's
    /// [`Store::sync_mine`] then makes them durable; otherwise the next durable commit does,
    /// at the latest the scheduler's next pass. A crash before that loses them, and recovery
    /// then treats tasks recorded as ended as still running (they are requeued, as after a
    /// node failure).
    pub fn enqueue(&self, tx: Tx) -> u64 {
        if tx.ops.is_empty() {
            return self.durable.load(std::sync::atomic::Ordering::SeqCst);
        }
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.ops.extend(tx.ops);
        q.last += 1;
        let seq = q.last;
        MINE.with(|m| m.set(m.get().max(seq)));
        self.changes.send_replace(seq);
        seq
    }

    /// Changes each time a change is queued (the state in memory already shows it).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Makes durable what this thread queued (and everything queued before it), if anything.
    /// What the service acknowledges to a client goes through here before the answer is sent.
    pub fn sync_mine(&self) -> Result<(), StoreError> {
        let mine = MINE.with(|m| m.replace(0));
        if mine == 0 {
            return Ok(());
        }
        self.sync_to(mine)
    }

    /// Makes durable everything queued until now.
    pub fn sync_all(&self) -> Result<(), StoreError> {
        let last = self.queue.lock().unwrap_or_else(|p| p.into_inner()).last;
        self.sync_to(last)
    }

    /// Queues the changes and makes them durable at once (for startup and tests).
    pub fn commit(&self, tx: Tx) -> Result<(), StoreError> {
        let seq = self.enqueue(tx);
        MINE.with(|m| m.set(0));
        self.sync_to(seq)
    }

    fn sync_to(&self, seq: u64) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        if self.durable.load(SeqCst) >= seq {
            return Ok(());
        }
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Another group commit may have written ours while we waited.
        if self.durable.load(SeqCst) >= seq {
            return Ok(());
        }
        let (ops, last) = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            (std::mem::take(&mut q.ops), q.last)
        };
        if !self.slow_disk.is_zero() {
            std::thread::sleep(self.slow_disk);
        }
        match self.write(&ops) {
            Ok(()) => {
                self.durable.store(last, SeqCst);
                Ok(())
            }
            Err(e) => {
                // Keep them, in order, before what was queued meanwhile: the next commit
                // tries again, so that the disk never misses what memory shows.
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                let later = std::mem::replace(&mut q.ops, ops);
                q.ops.extend(later);
                Err(e)
            }
        }
    }

    fn write(&self, ops: &[Op]) -> Result<(), StoreError> {
        let mut w = self.db.begin_write().map_err(err)?;
        w.set_durability(redb::Durability::Immediate).map_err(err)?;
        for op in ops {
            match op {
                Op::Put(t, k, v) => {
                    w.open_table(*t)
                        .map_err(err)?
                        .insert(k.as_str(), v.as_slice())
                        .map_err(err)?;
                }
                Op::Del(t, k) => {
                    w.open_table(*t)
                        .map_err(err)?
                        .remove(k.as_str())
                        .map_err(err)?;
                }
            }
        }
        w.commit().map_err(err)
    }

    fn load<T: DeserializeOwned>(
        &self,
        t: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let r = self.db.begin_read().map_err(err)?;
        let table = r.open_table(t).map_err(err)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(err)? {
            let (k, v) = row.map_err(err)?;
            let rec = serde_json::from_slice(v.value()).map_err(err)?;
            out.push((k.value().to_string(), rec));
        }
        Ok(out)
    }

    pub fn load_all(&self) -> Result<State, StoreError> {
        let split = |k: &str| -> (String, String) {
            let (a, b) = k.split_once('/').unwrap_or((k, ""));
            (a.to_string(), b.to_string())
        };
        let mut s = State::default();
        for (k, v) in self.load::<PoolRec>(POOLS)? {
            s.pools.insert(k, v);
        }
        for (k, v) in self.load::<NodeRec>(NODES)? {
            s.nodes.insert(split(&k), v);
        }
        for (k, v) in self.load::<JobRec>(JOBS)? {
            s.jobs.insert(k, v);
        }
        for (k, v) in self.load::<TaskRec>(TASKS)? {
            s.tasks.insert(split(&k), v);
        }
        for (k, v) in self.load::<ScheduleRec>(SCHEDULES)? {
            s.schedules.insert(k, v);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_changes_are_durable_after_a_sync_and_written_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        {
            let store = Store::open(&path).unwrap();
            let put = |v: &[u8]| Tx {
                ops: vec![Op::Put(JOBS, "j".into(), v.to_vec())],
            };
            // Queued on another thread: this thread has nothing to wait for.
            std::thread::scope(|s| {
                s.spawn(|| store.enqueue(put(b"{\"v\":1}")));
            });
            store.sync_mine().unwrap();
            assert_eq!(store.durable.load(std::sync::atomic::Ordering::SeqCst), 0);
            let seq = store.enqueue(put(b"{\"v\":2}"));
            assert_eq!(seq, 2);
            store.sync_mine().unwrap();
            assert_eq!(store.durable.load(std::sync::atomic::Ordering::SeqCst), 2);
            // Nothing queued: no commit at all.
            store.sync_mine().unwrap();
            store.sync_all().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let r = store.db.begin_read().unwrap();
        let t = r.open_table(JOBS).unwrap();
        // The later change won: both were written, in the order they were queued.
        assert_eq!(t.get("j").unwrap().unwrap().value(), b"{\"v\":2}");
    }

    /// A database written before states were typed (by 4af40f0, with string fields; see
    /// `tests/fixtures/emulator-data-string-states/README.md`) loads into the typed records,
    /// and each record written back is the very JSON that was stored.
    #[test]
    fn a_database_written_with_string_states_loads_and_writes_back_the_same() {
        use crate::azure::models::{JobState, NodeState, StartTaskState, TaskExecutionResult};
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/emulator-data-string-states/batch/batch.redb");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.redb");
        std::fs::copy(&fixture, &path).unwrap();
        let store = Store::open(&path).unwrap();
        let s = store.load_all().unwrap();

        let node = |pool: &str| {
            s.nodes
                .iter()
                .find(|(k, _)| k.0 == pool)
                .map(|(_, n)| &n.node)
                .unwrap()
        };
        assert_eq!(node("okpool").state, NodeState::Idle);
        let bad = node("badpool");
        assert_eq!(bad.state, NodeState::StartTaskFailed);
        let info = bad.start_task_info.as_ref().unwrap();
        assert_eq!(info.state, StartTaskState::Completed);
        assert_eq!(info.result, Some(TaskExecutionResult::Failure));
        assert_eq!(s.jobs["donejob"].job.state, Some(JobState::Completed));
        assert_eq!(s.jobs["waitjob"].job.state, Some(JobState::Active));
        let task = |j: &str, t: &str| &s.tasks[&(j.to_string(), t.to_string())];
        assert_eq!(*task("donejob", "ok").state(), TaskState::Completed);
        assert_eq!(*task("waitjob", "queued").state(), TaskState::Active);
        let states = |j: &str, t: &str| {
            let x = task(j, t).task.execution_info.as_ref().unwrap();
            (
                x.result.clone(),
                x.failure_info.as_ref().map(|f| f.category.clone()),
            )
        };
        assert_eq!(
            states("donejob", "bad"),
            (
                Some(TaskExecutionResult::Failure),
                Some(crate::azure::models::ErrorCategory::UserError)
            )
        );
        assert_eq!(
            states("donejob", "ok"),
            (Some(TaskExecutionResult::Success), None)
        );

        // Written back, every record is what was stored, states as the same strings; only a
        // failure category moves to the service's spelling (`usererror` -> `UserError`).
        fn recased(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, x) in m.iter_mut() {
                        match (k.as_str(), x.as_str()) {
                            ("category", Some("usererror")) => *x = "UserError".into(),
                            ("category", Some("servererror")) => *x = "ServerError".into(),
                            _ => recased(x),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter_mut().for_each(recased),
                _ => {}
            }
        }
        fn same<T: Serialize + DeserializeOwned>(store: &Store, t: TableDefinition<&str, &[u8]>) {
            let r = store.db.begin_read().unwrap();
            let table = r.open_table(t).unwrap();
            let mut n = 0;
            for row in table.iter().unwrap() {
                let (k, v) = row.unwrap();
                let mut stored: serde_json::Value = serde_json::from_slice(v.value()).unwrap();
                recased(&mut stored);
                let rec: T = serde_json::from_slice(v.value()).unwrap();
                assert_eq!(serde_json::to_value(&rec).unwrap(), stored, "{}", k.value());
                n += 1;
            }
            assert!(n > 0);
        }
        same::<PoolRec>(&store, POOLS);
        same::<NodeRec>(&store, NODES);
        same::<JobRec>(&store, JOBS);
        same::<TaskRec>(&store, TASKS);
    }

    #[test]
    fn committed_records_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.redb");
        {
            let store = Store::open(&path).unwrap();
            let mut tx = Tx::default();
            let job = JobRec {
                job: Job {
                    id: "Job1".into(),
                    ..Job::default()
                },
                schedule: None,
                node_tasks: BTreeMap::new(),
            };
            tx.job("job1", &job);
            let task = TaskRec {
                job_key: "job1".into(),
                task: Task {
                    id: "t".into(),
                    command_line: "true".into(),
                    ..Task::default()
                },
                node: None,
                run: None,
                pgid: None,
                files_removed: false,
                subtasks: Vec::new(),
                kept_groups: Vec::new(),
            };
            tx.task(&("job1".into(), "t".into()), &task);
            store.commit(tx).unwrap();
            let mut tx = Tx::default();
            tx.del_task(&("job1".into(), "t".into()));
            tx.task(&("job1".into(), "u".into()), &task);
            store.commit(tx).unwrap();
        }
        let store = Store::open(&path).unwrap();
        let s = store.load_all().unwrap();
        assert_eq!(s.jobs["job1"].job.id, "Job1");
        assert_eq!(s.tasks.len(), 1);
        assert!(s.tasks.contains_key(&("job1".to_string(), "u".to_string())));
    }
}
