//! Watching a job: pool, nodes and tasks, at a cost proportional to what changed.
//!
//! Each poll reads the job's task counts (one small response). Only when they moved does it
//! list tasks, and then only those whose state changed since the newest transition already
//! seen (`$filter=stateTransitionTime ge ...`), with `$select` limited to what the panels show.
//! The tutorial's approach, listing every task with every property on every poll, costs the
//! whole job on each refresh.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::azure::batch::{BatchClient, BatchError};
use crate::azure::models::{AllocationState, ComputeNode, NodeState, Pool, Task, TaskState};
use crate::workflow::events::{Event, NodeView, PoolView, TaskCounts, TaskView};

/// Properties the task panel needs.
pub const TASK_SELECT: &str = "id,state,stateTransitionTime,executionInfo,nodeInfo";
const NODE_SELECT: &str = "id,state,startTaskInfo,runningTasksCount";
pub const POOL_SELECT: &str = "id,state,allocationState,vmSize,currentDedicatedNodes,targetDedicatedNodes,currentLowPriorityNodes,targetLowPriorityNodes";

#[derive(Debug, Clone)]
pub struct MonitorOptions {
    pub job_id: String,
    pub pool_id: String,
    pub timeout: Duration,
    pub poll_interval: Duration,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            job_id: String::new(),
            pool_id: String::new(),
            timeout: Duration::from_secs(30 * 60),
            poll_interval: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(
        "ERROR: tasks did not reach 'Completed' state within the timeout of {timeout:?} ({completed} of {total} completed); raise --timeout or check the pool's nodes"
    )]
    Timeout {
        timeout: Duration,
        completed: u64,
        total: u64,
    },
    #[error(
        "the start task failed on every node of pool {pool} (node {node}: {failure}); fix the start task and run again"
    )]
    StartTaskFailed {
        pool: String,
        node: String,
        failure: String,
    },
}

/// How the watched tasks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub succeeded: u64,
    pub failed: u64,
}

/// Keeps what was last seen, and turns service snapshots into deltas.
#[derive(Debug, Default)]
pub struct Watcher {
    /// A fingerprint of the last view of each task: enough to tell what changed, at a tenth
    /// of the memory of the views themselves (the session keeps those).
    tasks: HashMap<String, u64>,
    newest_transition: Option<DateTime<Utc>>,
    counts: Option<TaskCounts>,
    /// Set when the service refuses the transition-time filter: list with `$select` only.
    no_time_filter: bool,
}

impl Watcher {
    /// One poll of the tasks. Returns the tasks that changed and the current counts.
    pub async fn poll_tasks(
        &mut self,
        batch: &BatchClient,
        job_id: &str,
    ) -> Result<(Vec<TaskView>, TaskCounts), BatchError> {
        let c = batch.task_counts(job_id).await?.task_counts;
        let counts = TaskCounts {
            active: c.active.max(0) as u64,
            running: c.running.max(0) as u64,
            completed: c.completed.max(0) as u64,
            succeeded: c.succeeded.max(0) as u64,
            failed: c.failed.max(0) as u64,
        };
        if self.counts == Some(counts) {
            return Ok((Vec::new(), counts));
        }
        let tasks = match (self.newest_transition, self.no_time_filter) {
            (Some(t), false) => {
                let filter = format!(
                    "stateTransitionTime ge datetime'{}'",
                    t.format("%Y-%m-%dT%H:%M:%S%.fZ")
                );
                match batch
                    .list_tasks(job_id, Some(&filter), Some(TASK_SELECT))
                    .await
                {
                    Ok(t) => t,
                    Err(e) if e.status() == Some(400) => {
                        tracing::info!(error = %e, "the service refused a stateTransitionTime filter; listing all tasks");
                        self.no_time_filter = true;
                        batch.list_tasks(job_id, None, Some(TASK_SELECT)).await?
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => batch.list_tasks(job_id, None, Some(TASK_SELECT)).await?,
        };
        let changed = self.absorb(&tasks);
        self.counts = Some(counts);
        Ok((changed, counts))
    }

    /// Merges listed tasks; returns the ones whose view changed.
    pub fn absorb(&mut self, tasks: &[Task]) -> Vec<TaskView> {
        let mut changed = Vec::new();
        for t in tasks {
            if let Some(ts) = t.state_transition_time
                && self.newest_transition.is_none_or(|n| ts > n)
            {
                self.newest_transition = Some(ts);
            }
            let v = task_view(t);
            let print = fingerprint(&v);
            if self.tasks.get(&v.id) != Some(&print) {
                self.tasks.insert(v.id.clone(), print);
                changed.push(v);
            }
        }
        changed
    }

    /// How many tasks have been seen.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// A hash of everything a view shows, except its running duration (which moves on its own).
fn fingerprint(v: &TaskView) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &v.state,
        &v.node_id,
        v.exit_code,
        v.retries,
        v.requeues,
        &v.result,
        &v.failure,
    )
        .hash(&mut h);
    // A completed task's duration is final; a running one's is not worth a report.
    if v.state == TaskState::Completed {
        v.duration_ms.hash(&mut h);
    }
    h.finish()
}

pub fn task_view(t: &Task) -> TaskView {
    let exec = t.execution_info.as_ref();
    let duration_ms = exec.and_then(|e| {
        let start = e.start_time?;
        let end = e.end_time.unwrap_or_else(Utc::now);
        (end - start).num_milliseconds().try_into().ok()
    });
    TaskView {
        id: t.id.clone(),
        state: t.state.clone().unwrap_or_default(),
        node_id: t.node_info.as_ref().and_then(|n| n.node_id.clone()),
        exit_code: exec.and_then(|e| e.exit_code),
        retries: exec.map(|e| e.retry_count.max(0) as u32).unwrap_or(0),
        requeues: exec.map(|e| e.requeue_count.max(0) as u32).unwrap_or(0),
        result: exec.and_then(|e| e.result.clone()),
        failure: exec.and_then(|e| e.failure_info.as_ref()).map(|f| {
            format!(
                "{}: {}",
                f.code.clone().unwrap_or_default(),
                f.message.clone().unwrap_or_default()
            )
        }),
        duration_ms,
    }
}

pub fn node_view(n: &ComputeNode) -> NodeView {
    let st = n.start_task_info.as_ref();
    NodeView {
        id: n.id.clone(),
        state: n.state.clone(),
        start_task_state: st.map(|s| s.state.clone()),
        start_task_exit_code: st.and_then(|s| s.exit_code),
        start_task_retries: st.map(|s| s.retry_count.max(0) as u32).unwrap_or(0),
        start_task_failure: st.and_then(|s| s.failure_info.as_ref()).map(|f| {
            format!(
                "{} {}",
                f.code.clone().unwrap_or_default(),
                f.message.clone().unwrap_or_default()
            )
            .trim()
            .to_string()
        }),
        running_tasks: n.running_tasks_count.max(0) as u32,
    }
}

pub fn pool_view(p: &Pool) -> PoolView {
    let n = |v: Option<i32>| v.unwrap_or(0).max(0) as u32;
    PoolView {
        id: p.id.clone(),
        state: p.state.clone().unwrap_or_default(),
        allocation_state: p.allocation_state.clone().unwrap_or_default(),
        vm_size: p.vm_size.clone().unwrap_or_default(),
        target_dedicated: n(p.target_dedicated_nodes),
        current_dedicated: n(p.current_dedicated_nodes),
        target_low_priority: n(p.target_low_priority_nodes),
        current_low_priority: n(p.current_low_priority_nodes),
    }
}

/// Whether a node can never run tasks without someone acting on it.
fn node_is_stuck(n: &NodeView) -> bool {
    matches!(n.state, NodeState::StartTaskFailed | NodeState::Unusable)
}

/// Polls until every task completed, the timeout passes, or the start task failed on every
/// node (reported at once, with the node's failure info and the tail of its stderr).
pub async fn wait_for_tasks(
    batch: &BatchClient,
    opts: &MonitorOptions,
    tx: &mpsc::UnboundedSender<Event>,
) -> Result<Outcome, MonitorError> {
    let deadline = Instant::now() + opts.timeout;
    let mut watcher = Watcher::default();
    let mut last_pool: Option<PoolView> = None;
    let mut last_nodes: Option<Vec<NodeView>> = None;
    loop {
        let pool = pool_view(&batch.get_pool(&opts.pool_id, Some(POOL_SELECT)).await?);
        if last_pool.as_ref() != Some(&pool) {
            let _ = tx.send(Event::Pool(pool.clone()));
            last_pool = Some(pool.clone());
        }
        let mut nodes: Vec<NodeView> = batch
            .list_nodes(&opts.pool_id, Some(NODE_SELECT))
            .await?
            .iter()
            .map(node_view)
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        if last_nodes.as_ref() != Some(&nodes) {
            let _ = tx.send(Event::Nodes(nodes.clone()));
            last_nodes = Some(nodes.clone());
        }
        let (changed, counts) = watcher.poll_tasks(batch, &opts.job_id).await?;
        if !changed.is_empty() {
            let _ = tx.send(Event::Tasks(changed));
        }
        let _ = tx.send(Event::TaskCounts(counts));

        if counts.total() > 0 && counts.completed == counts.total() {
            return Ok(Outcome {
                succeeded: counts.succeeded,
                failed: counts.failed,
            });
        }
        let target = (pool.target_dedicated + pool.target_low_priority) as usize;
        if target > 0
            && pool.allocation_state == AllocationState::Steady
            && nodes.len() >= target
            && nodes.iter().all(node_is_stuck)
        {
            let node = &nodes[0];
            let mut failure = node
                .start_task_failure
                .clone()
                .unwrap_or_else(|| format!("node state {}", node.state));
            if let Some(code) = node.start_task_exit_code {
                failure = format!("exit code {code}, {failure}");
            }
            if let Ok(tail) = node_stderr_tail(batch, &opts.pool_id, &node.id, 512).await
                && let Some(last) = tail.lines().rev().map(str::trim).find(|l| !l.is_empty())
            {
                failure = format!("{failure}; stderr: {last}");
            }
            return Err(MonitorError::StartTaskFailed {
                pool: opts.pool_id.clone(),
                node: node.id.clone(),
                failure,
            });
        }
        if Instant::now() >= deadline {
            return Err(MonitorError::Timeout {
                timeout: opts.timeout,
                completed: counts.completed,
                total: counts.total(),
            });
        }
        tokio::time::sleep(
            opts.poll_interval
                .min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
    }
}

/// The end (at most `max` bytes) of a node's start task stderr, read by byte range.
pub async fn node_stderr_tail(
    batch: &BatchClient,
    pool: &str,
    node: &str,
    max: u64,
) -> Result<String, BatchError> {
    let path = "startup/stderr.txt";
    let len = batch.node_file_len(pool, node, path).await?;
    if len == 0 {
        return Ok(String::new());
    }
    let start = len.saturating_sub(max);
    let bytes = batch
        .node_file(pool, node, path, Some((start, len - 1)))
        .await?;
    Ok(String::from_utf8_lossy(&bytes).trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, state: TaskState, at: &str) -> Task {
        Task {
            id: id.into(),
            state: Some(state),
            state_transition_time: Some(
                DateTime::parse_from_rfc3339(at)
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            ..Task::default()
        }
    }

    #[test]
    fn watcher_reports_only_changes_and_tracks_the_newest_transition() {
        let mut w = Watcher::default();
        let first = w.absorb(&[
            task("a", TaskState::Active, "2026-01-01T00:00:01Z"),
            task("b", TaskState::Active, "2026-01-01T00:00:02Z"),
        ]);
        assert_eq!(first.len(), 2);
        let again = w.absorb(&[task("b", TaskState::Active, "2026-01-01T00:00:02Z")]);
        assert!(again.is_empty());
        let moved = w.absorb(&[task("b", TaskState::Running, "2026-01-01T00:00:05Z")]);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].state, TaskState::Running);
        assert_eq!(
            w.newest_transition.unwrap().to_rfc3339(),
            "2026-01-01T00:00:05+00:00"
        );
    }
}
