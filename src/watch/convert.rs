//! From the service's REST models to the small views the panels and headless lines show, and
//! the `$select` lists that ask only for what those views need.

use chrono::Utc;

use crate::azure::models::{AllocationState, ComputeNode, Job, NodeState, Pool, PoolState, Task};
use crate::workflow::events::{AutoscaleView, JobRow, NodeView, PoolRow, PoolView, TaskView};

/// Properties the task panel needs.
/// (`dependsOn` and `exitConditions`: what an active task waits for, and whether a failed
/// task blocks the tasks that depend on it.)
pub const TASK_SELECT: &str =
    "id,state,stateTransitionTime,executionInfo,nodeInfo,dependsOn,exitConditions";
/// Properties the node rows need.
pub const NODE_SELECT: &str = "id,state,startTaskInfo,runningTasksCount";
/// Properties browsing a pool's nodes needs: the node rows' and the node's address, size and
/// scheduling state.
pub const BROWSE_NODE_SELECT: &str =
    "id,state,startTaskInfo,runningTasksCount,ipAddress,vmSize,schedulingState";
/// Properties a row of the account's pools needs.
pub const POOL_ROW_SELECT: &str = "id,state,allocationState,vmSize,currentDedicatedNodes,targetDedicatedNodes,currentLowPriorityNodes,targetLowPriorityNodes,enableAutoScale,autoScaleRun,taskSlotsPerNode,creationTime";
/// Properties a row of the account's jobs needs.
pub const JOB_ROW_SELECT: &str = "id,state,poolInfo,priority,creationTime";
/// Properties the pool panel's title (and an autoscaling pool's last evaluation) needs.
pub const POOL_SELECT: &str = "id,state,allocationState,vmSize,currentDedicatedNodes,targetDedicatedNodes,currentLowPriorityNodes,targetLowPriorityNodes,enableAutoScale,autoScaleRun";

pub fn task_view(t: &Task) -> TaskView {
    let exec = t.execution_info.as_ref();
    let started = exec.and_then(|e| e.start_time);
    // Final once the task ended; a running task's duration is computed when it is drawn.
    let duration_ms = exec.and_then(|e| {
        let (start, end) = (e.start_time?, e.end_time?);
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
        started,
        // What holds it comes from the other tasks: `watch::waits` sets it.
        waits: None,
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
        ip: n.ip_address.clone(),
        vm_size: n.vm_size.clone(),
        scheduling: n.scheduling_state.clone(),
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
        autoscale: (p.enable_auto_scale == Some(true)).then(|| autoscale_view(p)),
    }
}

pub fn pool_row(p: &Pool) -> PoolRow {
    PoolRow {
        pool: pool_view(p),
        task_slots: p.task_slots_per_node.unwrap_or(1).max(0) as u32,
        created: p.creation_time,
        nodes: None,
    }
}

pub fn job_row(j: &Job) -> JobRow {
    JobRow {
        id: j.id.clone(),
        state: j.state.clone().unwrap_or_default(),
        pool_id: j.pool_info.pool_id.clone(),
        priority: j.priority.unwrap_or(0),
        created: j.creation_time,
        counts: None,
    }
}

/// The pool's last autoscale evaluation: when, the values, and the error with its details.
fn autoscale_view(p: &Pool) -> AutoscaleView {
    let run = p.auto_scale_run.as_ref();
    AutoscaleView {
        evaluated: run
            .map(|r| r.timestamp.format("%H:%M:%S").to_string())
            .unwrap_or_default(),
        results: run.and_then(|r| r.results.clone()).unwrap_or_default(),
        error: run.and_then(|r| r.error.as_ref()).map(|e| {
            let detail: Vec<&str> = e.values.iter().map(|v| v.value.as_str()).collect();
            let what = if detail.is_empty() {
                e.message.clone().unwrap_or_default()
            } else {
                detail.join("; ")
            };
            format!("{}: {what}", e.code.as_deref().unwrap_or("error"))
        }),
    }
}

/// A hash of everything a task's view shows (a running task's duration moves on its own and is
/// drawn from its start time).
pub fn fingerprint(v: &TaskView) -> u64 {
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
        v.duration_ms,
        v.started.map(|t| t.timestamp_millis()),
    )
        .hash(&mut h);
    h.finish()
}

/// Whether a node is between states (booting, running its start task, rebooting): its next
/// state comes soon, so its pool is polled quickly.
pub fn node_in_transition(n: &NodeView) -> bool {
    matches!(
        n.state,
        NodeState::Creating
            | NodeState::Starting
            | NodeState::WaitingForStartTask
            | NodeState::Rebooting
            | NodeState::Reimaging
            | NodeState::LeavingPool
            | NodeState::Deallocating
            | NodeState::UpgradingOs
    )
}

/// Whether a node can never run tasks without someone acting on it.
pub fn node_is_stuck(n: &NodeView) -> bool {
    matches!(n.state, NodeState::StartTaskFailed | NodeState::Unusable)
}

/// Whether a pool is changing size or state.
pub fn pool_in_transition(p: &PoolView) -> bool {
    p.allocation_state != AllocationState::Steady
        || p.state == PoolState::Deleting
        || p.current_dedicated != p.target_dedicated
        || p.current_low_priority != p.target_low_priority
}

/// Milliseconds since `started`, for a task that still runs (never negative when the clocks
/// of this machine and the service disagree).
pub fn running_ms(started: chrono::DateTime<Utc>, now: chrono::DateTime<Utc>) -> u64 {
    (now - started).num_milliseconds().max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded autoscaling pool shows its last evaluation; an error brings its detail.
    #[test]
    fn an_autoscaling_pool_shows_its_last_evaluation() {
        let path = format!(
            "{}/tests/fixtures/recorded/pool_get_autoscale.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut p: Pool = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let a = pool_view(&p).autoscale.unwrap();
        assert_eq!(a.evaluated, "20:30:20");
        assert_eq!(
            a.results,
            "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
        );
        assert_eq!(a.error, None);
        p.auto_scale_run.as_mut().unwrap().error = Some(crate::azure::models::AutoScaleRunError {
            code: Some("InsufficientSampleData".into()),
            message: Some("Autoscale evaluation failed due to insufficient sample data".into()),
            values: vec![crate::azure::models::NameValue {
                name: "Message".into(),
                value: "Line 1, Col 37: Insufficient data from data set: $CPUPercent wanted 10%, received 0%".into(),
            }],
        });
        assert_eq!(
            pool_view(&p).autoscale.unwrap().error.as_deref(),
            Some(
                "InsufficientSampleData: Line 1, Col 37: Insufficient data from data set: $CPUPercent wanted 10%, received 0%"
            )
        );
        p.enable_auto_scale = Some(false);
        assert_eq!(pool_view(&p).autoscale, None);
    }
}
