//! The passes over pools, nodes and jobs: allocation and resizing, node boot, job deletion,
//! termination and completion, and the retention of task files.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Effects;
use super::job_tasks as prep_release;
use super::launch::launch_start;
use super::states::{
    drain_node, requeue, set_job_state, set_node_state, set_task_state, terminate_run,
};
use crate::azure::models::{
    AllocationState, ComputeNode, FailureInfo, JobState, NodeAgentInfo, NodeDeallocationOption,
    NodeState, OnAllTasksComplete, PoolState, SchedulingState, StartTaskInfo, StartTaskState,
    TaskExecutionInfo, TaskExecutionResult, TaskState,
};
use crate::emulator::EmulatorConfig;
use crate::emulator::batch::BatchService;
use crate::emulator::batch::state::{NodeRec, State, TaskRec, key};

/// Parses an ISO 8601 duration (`PT1H30M`, `P7D`, `P10675199DT2H48M5.4775807S`) as the
/// service does; a negative one counts as zero.
pub fn parse_duration(s: &str) -> Option<Duration> {
    crate::emulator::batch::wire::Duration::parse(s).map(|d| d.to_std())
}

/// A wall-clock limit, unless it is the service's "unlimited" (about 29 000 years).
pub(super) fn wall_clock(limit: Option<&str>) -> Option<Duration> {
    limit
        .and_then(parse_duration)
        .filter(|d| *d < Duration::from_secs(100 * 365 * 86400))
}

/// The directories a node starts with (under its own).
pub(super) const NODE_DIRS: [&str; 3] = ["shared", "startup/wd", "workitems"];

fn new_node(
    svc: &BatchService,
    pool: &crate::azure::models::Pool,
    dedicated: bool,
    now: DateTime<Utc>,
) -> ComputeNode {
    let id = format!(
        "tvmps_{}_{}",
        uuid::Uuid::new_v4().simple(),
        if dedicated { "d" } else { "p" }
    );
    let _ = svc;
    ComputeNode {
        affinity_id: Some(format!("TVM:{id}")),
        id,
        url: None,
        state: NodeState::Creating,
        scheduling_state: Some(SchedulingState::Enabled),
        state_transition_time: Some(now),
        last_boot_time: None,
        allocation_time: Some(now),
        ip_address: Some("127.0.0.1".into()),
        vm_size: pool.vm_size.clone(),
        start_task: pool.start_task.clone(),
        is_dedicated: Some(dedicated),
        ..ComputeNode::default()
    }
}

pub(super) fn pools_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
    let pool_keys: Vec<String> = st.pools.keys().cloned().collect();
    for pk in pool_keys {
        let Some(prec) = st.pools.get(&pk).cloned() else {
            continue;
        };
        let node_keys: Vec<(String, String)> =
            st.nodes.keys().filter(|(p, _)| *p == pk).cloned().collect();
        if prec.pool.state == Some(PoolState::Deleting) {
            for nk in &node_keys {
                remove_node(svc, st, nk, now, fx);
            }
            fx.remove_dirs.push(svc.root.join("nodes").join(&pk));
            st.pools.remove(&pk);
            fx.tx.del_pool(&pk);
            continue;
        }
        if prec.pool.allocation_state == Some(AllocationState::Stopping) {
            // A stopped resize keeps the nodes it has: the targets become the counts.
            if let Some(p) = st.pools.get_mut(&pk) {
                p.pool.allocation_state = Some(AllocationState::Steady);
                p.pool.allocation_state_transition_time = Some(now);
                fx.tx.pool(&pk, p);
            }
            continue;
        }
        if prec.pool.allocation_state != Some(AllocationState::Resizing) {
            continue;
        }
        let delay = chrono::Duration::from_std(svc.config.allocation_delay).unwrap_or_default();
        if now < prec.resize_since + delay {
            continue;
        }
        let mut leaving = false;
        for dedicated in [true, false] {
            let target = if dedicated {
                prec.pool.target_dedicated_nodes
            } else {
                prec.pool.target_low_priority_nodes
            }
            .unwrap_or(0)
            .max(0) as usize;
            let mut mine: Vec<(String, String)> = node_keys
                .iter()
                .filter(|k| st.nodes.get(*k).and_then(|n| n.node.is_dedicated) == Some(dedicated))
                .cloned()
                .collect();
            while mine.len() < target {
                let node = new_node(svc, &prec.pool, dedicated, now);
                let k = (pk.clone(), node.id.clone());
                let dir = svc.node_dir(&pk, &node.id);
                for sub in NODE_DIRS {
                    fx.create_dirs.push(dir.join(sub));
                }
                let rec = NodeRec {
                    pool_key: pk.clone(),
                    node,
                    phase_since: now,
                    start_run: None,
                    start_pgid: None,
                    users: Vec::new(),
                    pending_reboot: None,
                    pending_action: Default::default(),
                };
                fx.tx.node(&k, &rec);
                st.nodes.insert(k.clone(), rec);
                mine.push(k);
            }
            // Shrink: nodes already leaving go first, then idle ones. With taskcompletion or
            // retaineddata a busy node leaves once its tasks end (and, for retaineddata, their
            // files' retention): until then the pool stays resizing and the node, leaving,
            // takes no new task.
            let dealloc = prec
                .deallocation
                .clone()
                .unwrap_or(NodeDeallocationOption::Requeue);
            mine.sort_by_key(|k| {
                st.nodes
                    .get(k)
                    .map(|n| {
                        (
                            n.node.state != NodeState::LeavingPool,
                            n.node.running_tasks_count,
                        )
                    })
                    .unwrap_or((false, 0))
            });
            while mine.len() > target {
                let k = mine.remove(0);
                if drain_node(
                    st,
                    &k,
                    &dealloc,
                    REMOVAL_ENDED,
                    now,
                    &mut fx.kills,
                    &mut fx.tx,
                ) {
                    remove_node(svc, st, &k, now, fx);
                } else {
                    if let Some(n) = st.nodes.get_mut(&k) {
                        set_node_state(&mut n.node, NodeState::LeavingPool, now);
                        fx.tx.node(&k, n);
                    }
                    leaving = true;
                }
            }
        }
        if let Some(prec) = st.pools.get_mut(&pk) {
            let count = |d: bool| {
                st.nodes
                    .iter()
                    .filter(|(k, n)| k.0 == pk && n.node.is_dedicated == Some(d))
                    .count() as i32
            };
            prec.pool.current_dedicated_nodes = Some(count(true));
            prec.pool.current_low_priority_nodes = Some(count(false));
            if !leaving {
                prec.pool.allocation_state = Some(AllocationState::Steady);
                prec.pool.allocation_state_transition_time = Some(now);
                prec.deallocation = None;
            }
            fx.tx.pool(&pk, prec);
        }
    }
}

/// The failure message of a task a node removal with `terminate` ends.
const REMOVAL_ENDED: &str = "The task was ended because its node was removed from the pool";

/// Removes a node: kills what runs on it and requeues its tasks.
fn remove_node(
    svc: &BatchService,
    st: &mut State,
    nk: &(String, String),
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    if let Some(rec) = st.nodes.remove(nk) {
        if let Some(r) = rec.start_run {
            fx.kills.push(r);
        }
        fx.tx.del_node(nk);
        fx.remove_dirs.push(svc.node_dir(&nk.0, &nk.1));
    }
    for (tk, t) in st.tasks.iter_mut() {
        if t.on_node(nk) {
            fx.kills.extend(t.runs());
            requeue(t, now);
            fx.tx.task(tk, t);
        }
    }
}

/// Half the node boot delay: the time of each of a node's two boot phases (`creating` or
/// `reimaging`, then `starting` or `rebooting`; `deallocating` takes one too).
fn half_boot(config: &EmulatorConfig) -> chrono::Duration {
    chrono::Duration::from_std(config.node_boot_delay / 2).unwrap_or_default()
}

/// When node `rec`'s current boot phase ends (none outside them): the phase began at
/// `phase_since` and lasts `half`.
fn phase_due(rec: &NodeRec, half: chrono::Duration) -> Option<DateTime<Utc>> {
    matches!(
        rec.node.state,
        NodeState::Creating
            | NodeState::Reimaging
            | NodeState::Deallocating
            | NodeState::Starting
            | NodeState::Rebooting
    )
    .then(|| rec.phase_since + half)
}

/// When the next pool allocation or node boot phase falls due after `after` (the time of the
/// pass that just ran, which advanced what was due by then), so that the loop wakes for it.
pub(super) fn next_boot_due(
    config: &EmulatorConfig,
    st: &State,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let delay = chrono::Duration::from_std(config.allocation_delay).unwrap_or_default();
    let half = half_boot(config);
    let allocations = st
        .pools
        .values()
        .filter(|p| p.pool.allocation_state == Some(AllocationState::Resizing))
        .map(|p| p.resize_since + delay);
    let phases = st.nodes.values().filter_map(|n| phase_due(n, half));
    allocations.chain(phases).filter(|due| *due > after).min()
}

pub(super) fn nodes_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
    let half = half_boot(&svc.config);
    if st.nodes.is_empty() {
        return;
    }
    // Running task counts, from the tasks.
    let mut running: std::collections::HashMap<(String, String), (i32, i32)> = Default::default();
    for t in st.tasks.values() {
        for n in t.placements() {
            let e = running.entry(n.clone()).or_default();
            e.0 += 1;
            e.1 += t.slots();
        }
    }
    for (nk, rec) in st.nodes.iter_mut() {
        let Some(pool) = st.pools.get(&nk.0) else {
            continue;
        };
        let before = serde_json::to_string(&rec.node).unwrap_or_default();
        // Every phase that is due ends in this pass, each where the previous one was due to
        // end, so that a node reaches idle on its configured times, not on the passes'.
        while let Some(due) = phase_due(rec, half).filter(|due| *due <= now) {
            rec.phase_since = due;
            match rec.node.state {
                NodeState::Creating | NodeState::Reimaging => {
                    set_node_state(&mut rec.node, NodeState::Starting, now);
                }
                NodeState::Deallocating => {
                    set_node_state(&mut rec.node, NodeState::Deallocated, now);
                }
                _ => boot(svc, nk, rec, &pool.pool, now, fx),
            }
        }
        if let NodeState::Idle | NodeState::Running | NodeState::Offline = rec.node.state {
            let (count, slots) = running.get(nk).copied().unwrap_or((0, 0));
            rec.node.running_tasks_count = count;
            rec.node.running_task_slots_count = slots;
            // A node whose scheduling is disabled goes offline once nothing runs on it.
            let disabled = rec.node.scheduling_state == Some(SchedulingState::Disabled);
            set_node_state(
                &mut rec.node,
                match (count > 0, disabled) {
                    (true, _) => NodeState::Running,
                    (false, true) => NodeState::Offline,
                    (false, false) => NodeState::Idle,
                },
                now,
            );
        }
        if serde_json::to_string(&rec.node).unwrap_or_default() != before {
            fx.tx.node(nk, rec);
        }
    }
}

/// The end of a node's boot (`starting` or `rebooting`): its start task runs (the node waits
/// for it, `waitingforstarttask`, unless told not to), or it is idle.
fn boot(
    svc: &BatchService,
    nk: &(String, String),
    rec: &mut NodeRec,
    pool: &crate::azure::models::Pool,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    rec.node.last_boot_time = Some(now);
    // The node agent is batchdeck's own, installed when the node first boots.
    rec.node
        .node_agent_info
        .get_or_insert_with(|| NodeAgentInfo {
            version: concat!("batchdeck ", env!("CARGO_PKG_VERSION")).into(),
            last_update_time: now,
        });
    rec.node.start_task = pool.start_task.clone();
    match pool.start_task.clone() {
        Some(start) => {
            let wait = start.wait_for_success.unwrap_or(true);
            set_node_state(
                &mut rec.node,
                if wait {
                    NodeState::WaitingForStartTask
                } else {
                    NodeState::Idle
                },
                now,
            );
            rec.node.start_task_info = Some(StartTaskInfo {
                state: StartTaskState::Running,
                start_time: now,
                ..StartTaskInfo::default()
            });
            launch_start(svc, nk, rec, &start, &pool.id, fx);
        }
        None => set_node_state(&mut rec.node, NodeState::Idle, now),
    }
}

pub(super) fn jobs_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
    let job_keys: Vec<String> = st.jobs.keys().cloned().collect();
    for jk in job_keys {
        let Some(state) = st.jobs.get(&jk).and_then(|j| j.job.state.clone()) else {
            continue;
        };
        let job_tasks = |st: &State| -> Vec<(String, String)> {
            st.tasks
                .range((jk.clone(), String::new())..)
                .take_while(|(k, _)| k.0 == jk)
                .map(|(k, _)| k.clone())
                .collect()
        };
        match state {
            JobState::Deleting => {
                // What runs is killed first; the release tasks run, then the job goes.
                for tk in &job_tasks(st) {
                    if let Some(t) = st.tasks.get_mut(tk) {
                        fx.kills.extend(t.runs());
                        t.run = None;
                        t.end_instances();
                    }
                }
                if prep_release::releases_pending(svc, st, &jk, now, fx) {
                    continue;
                }
                for tk in &job_tasks(st) {
                    if let Some(mut t) = st.tasks.remove(tk) {
                        fx.kills.extend(t.runs());
                        t.end_instances();
                        fx.tx.del_task(tk);
                    }
                }
                let job_id = st
                    .jobs
                    .get(&jk)
                    .map(|j| j.job.id.clone())
                    .unwrap_or_default();
                for nk in st.nodes.keys() {
                    fx.remove_dirs
                        .push(svc.node_dir(&nk.0, &nk.1).join("workitems").join(&job_id));
                }
                st.jobs.remove(&jk);
                fx.tx.del_job(&jk);
            }
            JobState::Terminating => {
                for tk in &job_tasks(st) {
                    if let Some(t) = st.tasks.get_mut(tk)
                        && *t.state() != TaskState::Completed
                        && t.run.is_some()
                    {
                        fx.kills.extend(t.runs());
                        terminate_run(t, now);
                        fx.tx.task(tk, t);
                    }
                }
                if prep_release::releases_pending(svc, st, &jk, now, fx) {
                    continue;
                }
                complete_job(st, &jk, now, None, fx);
            }
            JobState::Disabling => {
                // Disabled once none of its tasks runs (with `wait`, when they have ended).
                let running = st
                    .tasks
                    .range((jk.clone(), String::new())..)
                    .take_while(|(k, _)| k.0 == jk)
                    .any(|(_, t)| t.run.is_some());
                if !running {
                    move_job(st, &jk, JobState::Disabled, now, fx);
                }
            }
            JobState::Enabling => move_job(st, &jk, JobState::Active, now, fx),
            JobState::Active => {
                let terminate = st
                    .jobs
                    .get(&jk)
                    .and_then(|j| j.job.on_all_tasks_complete.as_ref())
                    == Some(&OnAllTasksComplete::TerminateJob);
                if !terminate {
                    continue;
                }
                let mut tasks = st
                    .tasks
                    .range((jk.clone(), String::new())..)
                    .take_while(|(k, _)| k.0 == jk)
                    .peekable();
                let all_done = tasks.peek().is_some()
                    && tasks.all(|(_, t)| *t.state() == TaskState::Completed);
                if all_done {
                    complete_job(st, &jk, now, Some("AllTasksComplete"), fx);
                }
            }
            _ => {}
        }
    }
}

fn move_job(st: &mut State, jk: &str, new: JobState, now: DateTime<Utc>, fx: &mut Effects) {
    if let Some(j) = st.jobs.get_mut(jk) {
        set_job_state(&mut j.job, new, now);
        fx.tx.job(jk, j);
    }
}

fn complete_job(
    st: &mut State,
    jk: &str,
    now: DateTime<Utc>,
    reason: Option<&str>,
    fx: &mut Effects,
) {
    if let Some(j) = st.jobs.get_mut(jk) {
        let job = &mut j.job;
        set_job_state(job, JobState::Completed, now);
        if let Some(info) = job.execution_info.as_mut() {
            info.end_time = Some(now);
            if info.terminate_reason.is_none() {
                info.terminate_reason = Some(reason.unwrap_or("UserTerminate").to_string());
            }
        }
        fx.tx.job(jk, j);
    }
}

/// Records the end of a task's last attempt.
pub(super) fn end_task(
    t: &mut TaskRec,
    exit_code: Option<i32>,
    failure: Option<FailureInfo>,
    now: DateTime<Utc>,
) {
    let info = t
        .task
        .execution_info
        .get_or_insert_with(TaskExecutionInfo::default);
    info.end_time = Some(now);
    info.exit_code = exit_code;
    info.result = Some(if failure.is_none() {
        TaskExecutionResult::Success
    } else {
        TaskExecutionResult::Failure
    });
    info.failure_info = failure;
    t.run = None;
    t.pgid = None;
    t.node = None;
    t.end_instances();
    super::multi::end_subtasks(t, now);
    set_task_state(t, TaskState::Completed, now);
}

/// When a completed task's files on its node are past their retention time (from its end).
pub(super) fn files_expire_at(t: &TaskRec) -> Option<DateTime<Utc>> {
    let retention = t
        .task
        .constraints
        .as_ref()
        .and_then(|c| c.retention_time.as_deref())
        .and_then(parse_duration)
        .and_then(|d| chrono::Duration::from_std(d).ok())?;
    let end = t.task.execution_info.as_ref().and_then(|i| i.end_time)?;
    Some(
        end.checked_add_signed(retention)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    )
}

pub(super) fn retention_step(
    svc: &BatchService,
    st: &mut State,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    // Retention times are minutes to days: once a second is often enough to look.
    {
        let mut last = svc
            .last_retention_pass
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| now - t < chrono::Duration::seconds(1)) {
            return;
        }
        *last = Some(now);
    }
    for (tk, t) in st.tasks.iter_mut() {
        if t.files_removed || *t.state() != TaskState::Completed {
            continue;
        }
        let (Some(expiry), Some(ni)) = (files_expire_at(t), t.task.node_info.as_ref()) else {
            continue;
        };
        if now < expiry {
            continue;
        }
        if let (Some(pool), Some(node)) = (&ni.pool_id, &ni.node_id) {
            let job_id = st
                .jobs
                .get(&tk.0)
                .map(|j| j.job.id.clone())
                .unwrap_or_default();
            fx.remove_dirs
                .push(svc.task_dir(&key(pool), node, &job_id, &t.task.id));
        }
        t.files_removed = true;
        fx.tx.task(tk, t);
    }
}
