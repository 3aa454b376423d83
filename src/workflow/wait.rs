//! Waiting for a job's tasks, on what the session's watcher learns: until every task
//! completed, the timeout passes, the job disappears, the service refuses the account, or the
//! start task failed on every node (reported at once, with the node's failure info and the end
//! of its stderr). An outage is waited out by the watcher: it never ends the wait.

use std::time::{Duration, Instant};

use crate::azure::batch::{BatchClient, BatchError};
use crate::azure::models::{AllocationState, TaskExecutionResult, TaskState};
use crate::watch::convert::node_is_stuck;
use crate::watch::{Snapshot, Watch};

#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub job_id: String,
    /// The pool whose nodes run the tasks, if it is watched (start task failures end the wait).
    pub pool_id: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
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
    #[error("job {0} does not exist (any more)")]
    JobGone(String),
    #[error("{0}")]
    Refused(String),
}

/// How the watched tasks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub succeeded: u64,
    pub failed: u64,
    /// Tasks that will never run: each waits on a task that failed and blocks its dependents
    /// (or on a task so blocked). The wait ends without them.
    pub blocked: u64,
}

/// Waits on `watch` (which must watch `opts.job_id`, and the pool if one is given).
pub async fn wait_for_tasks(
    watch: &Watch,
    batch: &BatchClient,
    opts: &WaitOptions,
) -> Result<Outcome, WaitError> {
    let deadline = Instant::now() + opts.timeout;
    let mut rx = watch.snapshot();
    let mut recheck: Option<Instant>;
    loop {
        let snap: Snapshot = rx.borrow_and_update().clone();
        if let Some(e) = snap.fatal {
            return Err(WaitError::Refused(e));
        }
        if snap.job_gone {
            return Err(WaitError::JobGone(opts.job_id.clone()));
        }
        if let Some(c) = snap.counts
            && c.total() > 0
            && c.completed == c.total()
        {
            return Ok(Outcome {
                succeeded: c.succeeded,
                failed: c.failed,
                blocked: 0,
            });
        }
        // Nothing runs, something failed and tasks are still waiting: maybe on that failure,
        // for ever. Asked of the service, and again a little later if not (yet) so.
        recheck = None;
        if let Some(c) = snap.counts
            && c.failed > 0
            && c.running == 0
            && c.active > 0
        {
            match only_blocked_left(batch, &opts.job_id).await {
                Ok(Some(blocked)) => {
                    return Ok(Outcome {
                        succeeded: c.succeeded,
                        failed: c.failed,
                        blocked,
                    });
                }
                Ok(None) | Err(_) => recheck = Some(Instant::now() + BLOCKED_RECHECK),
            }
        }
        if let Some(pool) = &opts.pool_id
            && let Some(e) = start_task_failed_everywhere(batch, pool, &snap).await
        {
            return Err(e);
        }
        let now = Instant::now();
        if now >= deadline {
            let c = snap.counts.unwrap_or_default();
            return Err(WaitError::Timeout {
                timeout: opts.timeout,
                completed: c.completed,
                total: c.total(),
            });
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    // The watcher stopped: nothing more will be learned.
                    return Err(WaitError::Refused("the watch stopped".into()));
                }
            }
            _ = tokio::time::sleep_until(deadline.min(recheck.unwrap_or(deadline)).into()) => {}
        }
    }
}

/// How soon to ask again whether the tasks left are all blocked, when they were not (yet).
const BLOCKED_RECHECK: Duration = Duration::from_secs(2);

/// How many tasks are left, if every task of the job not completed is active and blocked by
/// a failed dependency (so none of them will ever run).
async fn only_blocked_left(batch: &BatchClient, job_id: &str) -> Result<Option<u64>, BatchError> {
    let waiting = batch
        .list_tasks(
            job_id,
            Some("state ne 'completed'"),
            Some("id,state,dependsOn"),
        )
        .await?;
    if waiting.is_empty() || waiting.iter().any(|t| t.state != Some(TaskState::Active)) {
        return Ok(None);
    }
    let failed: Vec<_> = batch
        .list_tasks(
            job_id,
            Some("state eq 'completed'"),
            Some("id,executionInfo,exitConditions"),
        )
        .await?
        .into_iter()
        .filter(|t| {
            t.execution_info.as_ref().and_then(|e| e.result.as_ref())
                == Some(&TaskExecutionResult::Failure)
        })
        .collect();
    let blocked = crate::workflow::blocked::blocked(&waiting, &failed);
    Ok((blocked.len() == waiting.len()).then_some(blocked.len() as u64))
}

/// The error to end with when every node of a steady pool is stuck on its start task.
async fn start_task_failed_everywhere(
    batch: &BatchClient,
    pool_id: &str,
    snap: &Snapshot,
) -> Option<WaitError> {
    let (pool, nodes) = (snap.pool.as_ref()?, snap.nodes.as_ref()?);
    let target = (pool.target_dedicated + pool.target_low_priority) as usize;
    if target == 0
        || pool.allocation_state != AllocationState::Steady
        || nodes.len() < target
        || !nodes.iter().all(node_is_stuck)
    {
        return None;
    }
    let node = &nodes[0];
    let mut failure = node
        .start_task_failure
        .clone()
        .unwrap_or_else(|| format!("node state {}", node.state));
    if let Some(code) = node.start_task_exit_code {
        failure = format!("exit code {code}, {failure}");
    }
    if let Ok(tail) = node_stderr_tail(batch, pool_id, &node.id, 512).await
        && let Some(last) = tail.lines().rev().map(str::trim).find(|l| !l.is_empty())
    {
        failure = format!("{failure}; stderr: {last}");
    }
    Some(WaitError::StartTaskFailed {
        pool: pool_id.to_string(),
        node: node.id.clone(),
        failure,
    })
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
