//! The scheduler: one loop that moves pools, nodes, jobs and tasks through the service's
//! states, starts start tasks and tasks on free node slots, and records how runs ended.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::agent::{self, RunOutcome, RunSpec};
use super::state::{NodeRec, State, TaskRec, Tx};
use super::{BatchService, etag};
use crate::azure::models::{
    AllocationState, ComputeNode, FailureInfo, JobState, NodeState, OnAllTasksComplete, PoolState,
    SchedulingState, StartTask, StartTaskInfo, StartTaskState, TaskExecutionInfo,
    TaskExecutionResult, TaskNodeInfo, TaskState,
};

/// Parses an ISO 8601 duration (`PT1H30M`, `P7D`, `P10675199DT2H48M5.4775807S`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('P')?;
    let (date, time) = s.split_once('T').unwrap_or((s, ""));
    let mut secs = 0f64;
    let mut num = String::new();
    for (part, is_time) in [(date, false), (time, true)] {
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let n: f64 = num.parse().ok()?;
            num.clear();
            secs += n * match (c, is_time) {
                ('Y', false) => 365.0 * 86400.0,
                ('M', false) => 30.0 * 86400.0,
                ('W', false) => 7.0 * 86400.0,
                ('D', false) => 86400.0,
                ('H', true) => 3600.0,
                ('M', true) => 60.0,
                ('S', true) => 1.0,
                _ => return None,
            };
        }
        if !num.is_empty() {
            return None;
        }
    }
    Some(Duration::from_secs_f64(secs))
}

/// A wall-clock limit, unless it is the service's "unlimited" (about 29 000 years).
fn wall_clock(limit: Option<&str>) -> Option<Duration> {
    limit
        .and_then(parse_duration)
        .filter(|d| *d < Duration::from_secs(100 * 365 * 86400))
}

/// Moves an entity's state, keeping the previous one as the service does.
pub fn set_task_state(rec: &mut TaskRec, new: TaskState, now: DateTime<Utc>) {
    let t = &mut rec.task;
    if t.state.as_ref() != Some(&new) {
        t.previous_state = t.state.take();
        t.previous_state_transition_time = t.state_transition_time;
        t.state = Some(new);
        t.state_transition_time = Some(now);
    }
    t.last_modified = Some(now);
    t.e_tag = Some(etag(now));
}

pub fn set_node_state(node: &mut ComputeNode, new: NodeState, now: DateTime<Utc>) {
    if node.state != new {
        node.state = new;
        node.state_transition_time = Some(now);
    }
}

/// Puts a task that was running back in the queue (its node went away).
pub fn requeue(rec: &mut TaskRec, now: DateTime<Utc>) {
    let info = rec
        .task
        .execution_info
        .get_or_insert_with(TaskExecutionInfo::default);
    info.requeue_count += 1;
    info.last_requeue_time = Some(now);
    rec.node = None;
    rec.run = None;
    rec.pgid = None;
    set_task_state(rec, TaskState::Active, now);
}

/// Reboots a node, as a reboot request or a node failure does: what runs on it is killed, its
/// tasks are requeued (`requeueCount` + 1) and it boots again, start task included. Returns
/// false if there is no such node.
pub fn reboot(svc: &BatchService, nk: &(String, String)) -> Result<bool, super::error::ApiError> {
    let now = Utc::now();
    let mut kills = Vec::new();
    let mut tx = Tx::default();
    {
        let mut guard = svc.lock();
        let st = &mut *guard;
        let Some(node) = st.nodes.get_mut(nk) else {
            return Ok(false);
        };
        if let Some(r) = node.start_run.take() {
            kills.push(r);
        }
        node.start_pgid = None;
        set_node_state(&mut node.node, NodeState::Rebooting, now);
        node.phase_since = now;
        node.node.running_tasks_count = 0;
        node.node.running_task_slots_count = 0;
        tx.node(nk, node);
        for (tk, t) in st.tasks.iter_mut() {
            if t.node.as_ref() == Some(nk) {
                if let Some(r) = t.run {
                    kills.push(r);
                }
                requeue(t, now);
                tx.task(tk, t);
            }
        }
        svc.commit(tx)?;
    }
    for r in kills {
        svc.procs.kill(r);
    }
    svc.wake.notify_one();
    Ok(true)
}

/// After a restart: processes of the previous run are gone (or are killed now), running tasks
/// are requeued and every node reboots, so that its start task runs again.
pub fn recover(state: &mut State, now: DateTime<Utc>) -> Tx {
    let mut tx = Tx::default();
    for (k, rec) in state.tasks.iter_mut() {
        if let Some(pgid) = rec.pgid {
            agent::kill_group(pgid);
        }
        if rec.run.is_some() || matches!(rec.state(), TaskState::Running | TaskState::Preparing) {
            requeue(rec, now);
            tx.task(k, rec);
        }
    }
    for (k, rec) in state.nodes.iter_mut() {
        if let Some(pgid) = rec.start_pgid.take() {
            agent::kill_group(pgid);
        }
        rec.start_run = None;
        rec.node.running_tasks_count = 0;
        rec.node.running_task_slots_count = 0;
        if rec.node.state != NodeState::Creating {
            set_node_state(&mut rec.node, NodeState::Rebooting, now);
        }
        rec.phase_since = now;
        tx.node(k, rec);
    }
    tx
}

/// How long a pass waits after being woken, so that changes arriving together share it.
const PASS_GATHER: Duration = Duration::from_millis(2);

/// The scheduler loop: runs a pass whenever something changed, every 200 ms while anything
/// is in motion (allocation, boot, tasks, deletions), and every few seconds when all is idle
/// (for retention), so that an idle emulator costs no CPU.
pub async fn run(svc: Arc<BatchService>) {
    let mut stop = svc.stop.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        tick(&svc);
        let pause = if in_motion(&svc.lock()) {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        tokio::select! {
            _ = svc.wake.notified() => {
                // Let a burst of changes (many tasks ending at once) gather into one pass:
                // a pass costs time in the number of tasks, not in the number of changes.
                tokio::time::sleep(PASS_GATHER).await;
            }
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Whether a later pass may change something without anyone asking: a pool resizing or being
/// deleted, a node booting or working, a task waiting or running, a job being deleted or
/// terminated.
fn in_motion(st: &State) -> bool {
    st.pools.values().any(|p| {
        p.pool.allocation_state == Some(AllocationState::Resizing)
            || p.pool.state == Some(PoolState::Deleting)
    }) || st.nodes.values().any(|n| {
        !matches!(
            n.node.state,
            NodeState::Idle | NodeState::StartTaskFailed | NodeState::Unusable | NodeState::Offline
        )
    }) || st.tasks.values().any(|t| {
        matches!(
            t.state(),
            TaskState::Active | TaskState::Preparing | TaskState::Running
        )
    }) || st.jobs.values().any(|j| {
        matches!(
            j.job.state,
            Some(JobState::Deleting | JobState::Terminating | JobState::Disabling)
        )
    })
}

enum Launch {
    Start((String, String), RunSpec),
    Task((String, String), RunSpec),
}

#[derive(Default)]
struct Effects {
    tx: Tx,
    kills: Vec<u64>,
    remove_dirs: Vec<PathBuf>,
    create_dirs: Vec<PathBuf>,
    launches: Vec<Launch>,
}

fn tick(svc: &Arc<BatchService>) {
    let now = Utc::now();
    let mut fx = Effects::default();
    {
        let mut guard = svc.lock();
        let st = &mut *guard;
        pools_step(svc, st, now, &mut fx);
        nodes_step(svc, st, now, &mut fx);
        jobs_step(svc, st, now, &mut fx);
        schedule_step(svc, st, now, &mut fx);
        retention_step(svc, st, now, &mut fx);
    }
    // One durable commit per pass, which also makes durable what processes recorded lazily
    // since the last one.
    if let Err(e) = svc.store.commit(fx.tx).and_then(|()| svc.store.flush()) {
        tracing::error!(error = %e, "scheduler could not commit");
    }
    for r in fx.kills {
        svc.procs.kill(r);
    }
    for d in fx.remove_dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    for d in fx.create_dirs {
        let _ = std::fs::create_dir_all(d);
    }
    for l in fx.launches {
        launch(svc.clone(), l);
    }
}

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

fn pools_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
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
        if prec.pool.allocation_state != Some(AllocationState::Resizing) {
            continue;
        }
        let delay = chrono::Duration::from_std(svc.config.allocation_delay).unwrap_or_default();
        if now < prec.resize_since + delay {
            continue;
        }
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
                for sub in ["shared", "startup/wd", "workitems"] {
                    fx.create_dirs.push(dir.join(sub));
                }
                let rec = NodeRec {
                    pool_key: pk.clone(),
                    node,
                    phase_since: now,
                    start_run: None,
                    start_pgid: None,
                };
                fx.tx.node(&k, &rec);
                st.nodes.insert(k.clone(), rec);
                mine.push(k);
            }
            // Shrink: idle nodes go first.
            mine.sort_by_key(|k| {
                st.nodes
                    .get(k)
                    .map(|n| n.node.running_tasks_count)
                    .unwrap_or(0)
            });
            while mine.len() > target {
                let k = mine.remove(0);
                remove_node(svc, st, &k, now, fx);
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
            prec.pool.allocation_state = Some(AllocationState::Steady);
            prec.pool.allocation_state_transition_time = Some(now);
            fx.tx.pool(&pk, prec);
        }
    }
}

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
        if t.node.as_ref() == Some(nk) {
            if let Some(r) = t.run {
                fx.kills.push(r);
            }
            requeue(t, now);
            fx.tx.task(tk, t);
        }
    }
}

fn nodes_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
    let half = chrono::Duration::from_std(svc.config.node_boot_delay / 2).unwrap_or_default();
    if st.nodes.is_empty() {
        return;
    }
    // Running task counts, from the tasks.
    let mut running: std::collections::HashMap<(String, String), (i32, i32)> = Default::default();
    for t in st.tasks.values() {
        if let (Some(n), Some(_)) = (&t.node, t.run) {
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
        match rec.node.state {
            NodeState::Creating if now >= rec.phase_since + half => {
                set_node_state(&mut rec.node, NodeState::Starting, now);
                rec.phase_since = now;
            }
            NodeState::Starting | NodeState::Rebooting if now >= rec.phase_since + half => {
                rec.node.last_boot_time = Some(now);
                rec.node.start_task = pool.pool.start_task.clone();
                match pool.pool.start_task.clone() {
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
                        launch_start(svc, nk, rec, &start, &pool.pool.id, fx);
                    }
                    None => set_node_state(&mut rec.node, NodeState::Idle, now),
                }
            }
            NodeState::Idle | NodeState::Running => {
                let (count, slots) = running.get(nk).copied().unwrap_or((0, 0));
                rec.node.running_tasks_count = count;
                rec.node.running_task_slots_count = slots;
                set_node_state(
                    &mut rec.node,
                    if count > 0 {
                        NodeState::Running
                    } else {
                        NodeState::Idle
                    },
                    now,
                );
            }
            _ => {}
        }
        if serde_json::to_string(&rec.node).unwrap_or_default() != before {
            fx.tx.node(nk, rec);
        }
    }
}

fn node_env(
    svc: &BatchService,
    pool_id: &str,
    nk: &(String, String),
    rec: &NodeRec,
) -> Vec<(String, String)> {
    let root = svc.node_dir(&nk.0, &nk.1);
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    vec![
        (
            "AZ_BATCH_ACCOUNT_NAME".into(),
            svc.credential().account().to_string(),
        ),
        ("AZ_BATCH_ACCOUNT_URL".into(), svc.account_url()),
        ("AZ_BATCH_POOL_ID".into(), pool_id.to_string()),
        ("AZ_BATCH_NODE_ID".into(), rec.node.id.clone()),
        (
            "AZ_BATCH_NODE_IS_DEDICATED".into(),
            rec.node.is_dedicated.unwrap_or(true).to_string(),
        ),
        ("AZ_BATCH_NODE_ROOT_DIR".into(), s(root.clone())),
        ("AZ_BATCH_NODE_SHARED_DIR".into(), s(root.join("shared"))),
        ("AZ_BATCH_NODE_STARTUP_DIR".into(), s(root.join("startup"))),
        (
            "AZ_BATCH_NODE_STARTUP_WORKING_DIR".into(),
            s(root.join("startup").join("wd")),
        ),
    ]
}

fn launch_start(
    svc: &BatchService,
    nk: &(String, String),
    rec: &mut NodeRec,
    start: &StartTask,
    pool_id: &str,
    fx: &mut Effects,
) {
    let run_id = svc.next_run_id();
    let dir = svc.node_dir(&nk.0, &nk.1).join("startup");
    let mut env = node_env(svc, pool_id, nk, rec);
    env.push((
        "AZ_BATCH_TASK_DIR".into(),
        dir.to_string_lossy().into_owned(),
    ));
    env.push((
        "AZ_BATCH_TASK_WORKING_DIR".into(),
        dir.join("wd").to_string_lossy().into_owned(),
    ));
    env.push(("HOME".into(), dir.join("wd").to_string_lossy().into_owned()));
    env.extend(
        start
            .environment_settings
            .iter()
            .map(|e| (e.name.clone(), e.value.clone())),
    );
    rec.start_run = Some(run_id);
    fx.launches.push(Launch::Start(
        nk.clone(),
        RunSpec {
            run_id,
            command_line: start.command_line.clone(),
            task_dir: dir,
            env,
            resource_files: start.resource_files.clone(),
            output_files: Vec::new(),
            max_wall_clock: None,
            blob_endpoint: svc.blob_endpoint.clone(),
            auto_storage_sas: auto_sas(svc, &start.resource_files),
        },
    ));
}

fn auto_sas(svc: &BatchService, files: &[crate::azure::models::ResourceFile]) -> Option<String> {
    files
        .iter()
        .find_map(|f| f.auto_storage_container_name.as_deref())
        .map(|c| svc.auto_storage_sas(c))
}

fn jobs_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
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
                for tk in &job_tasks(st) {
                    if let Some(t) = st.tasks.remove(tk) {
                        if let Some(r) = t.run {
                            fx.kills.push(r);
                        }
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
                        && let Some(r) = t.run.take()
                    {
                        {
                            {
                                fx.kills.push(r);
                                end_task(
                                    t,
                                    None,
                                    Some(agent::failure(
                                        "TaskEnded",
                                        "Task Was Ended by User Request",
                                    )),
                                    now,
                                );
                                fx.tx.task(tk, t);
                            }
                        }
                    }
                }
                complete_job(st, &jk, now, None, fx);
            }
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

fn complete_job(
    st: &mut State,
    jk: &str,
    now: DateTime<Utc>,
    reason: Option<&str>,
    fx: &mut Effects,
) {
    if let Some(j) = st.jobs.get_mut(jk) {
        let job = &mut j.job;
        job.previous_state = job.state.take();
        job.previous_state_transition_time = job.state_transition_time;
        job.state = Some(JobState::Completed);
        job.state_transition_time = Some(now);
        job.last_modified = Some(now);
        job.e_tag = Some(etag(now));
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
fn end_task(
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
    set_task_state(t, TaskState::Completed, now);
}

fn schedule_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
    // Free slots per ready node.
    let mut free: std::collections::BTreeMap<(String, String), i32> = Default::default();
    for (nk, n) in &st.nodes {
        let Some(pool) = st.pools.get(&nk.0) else {
            continue;
        };
        let ready = matches!(n.node.state, NodeState::Idle | NodeState::Running)
            && n.node.scheduling_state != Some(SchedulingState::Disabled)
            && pool.pool.state == Some(PoolState::Active);
        if ready {
            free.insert(
                nk.clone(),
                pool.pool.task_slots_per_node.unwrap_or(1).max(1),
            );
        }
    }
    if free.is_empty() {
        return;
    }
    let mut per_job_running: std::collections::HashMap<String, i32> = Default::default();
    for t in st.tasks.values() {
        if let (Some(n), Some(_)) = (&t.node, t.run) {
            if let Some(f) = free.get_mut(n) {
                *f -= t.slots();
            }
            *per_job_running.entry(t.job_key.clone()).or_default() += 1;
        }
    }
    if free.values().all(|f| *f <= 0) {
        return;
    }
    let mut jobs: Vec<(i32, String)> = st
        .jobs
        .iter()
        .filter(|(_, j)| j.job.state == Some(JobState::Active))
        .map(|(k, j)| (-j.job.priority.unwrap_or(0), k.clone()))
        .collect();
    jobs.sort();
    for (_, jk) in jobs {
        let Some(job) = st.jobs.get(&jk).map(|j| j.job.clone()) else {
            continue;
        };
        let pool_key = super::state::key(job.pool_info.pool_id.as_deref().unwrap_or(""));
        let Some(pool) = st.pools.get(&pool_key).map(|p| p.pool.clone()) else {
            continue;
        };
        let limit = job.max_parallel_tasks.unwrap_or(-1);
        // No more candidates than there are free slots in the job's pool.
        let room: i32 = free
            .iter()
            .filter(|(k, _)| k.0 == pool_key)
            .map(|(_, f)| (*f).max(0))
            .sum();
        let task_keys: Vec<(String, String)> = st
            .tasks
            .range((jk.clone(), String::new())..)
            .take_while(|(k, _)| k.0 == jk)
            .filter(|(_, t)| *t.state() == TaskState::Active && t.run.is_none())
            .map(|(k, _)| k.clone())
            .take(room.max(0) as usize)
            .collect();
        for tk in task_keys {
            if limit > 0 && per_job_running.get(&jk).copied().unwrap_or(0) >= limit {
                break;
            }
            let Some(slots) = st.tasks.get(&tk).map(TaskRec::slots) else {
                continue;
            };
            let Some(nk) = free
                .iter()
                .filter(|(k, f)| k.0 == pool_key && **f >= slots)
                .max_by_key(|(_, f)| **f)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(f) = free.get_mut(&nk) {
                *f -= slots;
            }
            *per_job_running.entry(jk.clone()).or_default() += 1;
            let (Some(node), Some(t)) = (st.nodes.get_mut(&nk), st.tasks.get_mut(&tk)) else {
                continue;
            };
            start_task_run(svc, &pool, &job, &nk, node, &tk, t, now, fx);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn start_task_run(
    svc: &BatchService,
    pool: &crate::azure::models::Pool,
    job: &crate::azure::models::Job,
    nk: &(String, String),
    node: &mut NodeRec,
    tk: &(String, String),
    t: &mut TaskRec,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    let run_id = svc.next_run_id();
    let dir = svc.task_dir(&nk.0, &nk.1, &job.id, &t.task.id);
    t.run = Some(run_id);
    t.node = Some(nk.clone());
    let info = t
        .task
        .execution_info
        .get_or_insert_with(TaskExecutionInfo::default);
    info.start_time = Some(now);
    info.end_time = None;
    info.exit_code = None;
    info.failure_info = None;
    info.result = None;
    t.task.node_info = Some(TaskNodeInfo {
        affinity_id: node.node.affinity_id.clone(),
        node_url: None,
        pool_id: Some(pool.id.clone()),
        node_id: Some(node.node.id.clone()),
        task_root_directory: Some(format!("workitems/{}/job-1/{}", job.id, t.task.id)),
        task_root_directory_url: None,
    });
    set_task_state(t, TaskState::Running, now);
    fx.tx.task(tk, t);
    node.node.running_tasks_count += 1;
    node.node.running_task_slots_count += t.slots();
    set_node_state(&mut node.node, NodeState::Running, now);
    fx.tx.node(nk, node);

    let mut env = node_env(svc, &pool.id, nk, node);
    env.push(("AZ_BATCH_JOB_ID".into(), job.id.clone()));
    if let Some(common) = job.extra.get("commonEnvironmentSettings") {
        let common: Vec<crate::azure::models::NameValue> =
            serde_json::from_value(common.clone()).unwrap_or_default();
        env.extend(common.into_iter().map(|e| (e.name, e.value)));
    }
    env.push(("AZ_BATCH_TASK_ID".into(), t.task.id.clone()));
    env.push((
        "AZ_BATCH_TASK_DIR".into(),
        dir.to_string_lossy().into_owned(),
    ));
    env.push((
        "AZ_BATCH_TASK_WORKING_DIR".into(),
        dir.join("wd").to_string_lossy().into_owned(),
    ));
    env.push(("HOME".into(), dir.join("wd").to_string_lossy().into_owned()));
    env.extend(
        t.task
            .environment_settings
            .iter()
            .map(|e| (e.name.clone(), e.value.clone())),
    );
    let limit = wall_clock(
        t.task
            .constraints
            .as_ref()
            .and_then(|c| c.max_wall_clock_time.as_deref()),
    );
    fx.launches.push(Launch::Task(
        tk.clone(),
        RunSpec {
            run_id,
            command_line: t.task.command_line.clone(),
            task_dir: dir,
            env,
            resource_files: t.task.resource_files.clone(),
            output_files: t.task.output_files.clone(),
            max_wall_clock: limit,
            blob_endpoint: svc.blob_endpoint.clone(),
            auto_storage_sas: auto_sas(svc, &t.task.resource_files),
        },
    ));
}

fn retention_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
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
        let retention = t
            .task
            .constraints
            .as_ref()
            .and_then(|c| c.retention_time.as_deref())
            .and_then(parse_duration);
        let end = t.task.execution_info.as_ref().and_then(|i| i.end_time);
        let (Some(retention), Some(end), Some(ni)) = (retention, end, t.task.node_info.as_ref())
        else {
            continue;
        };
        let Ok(retention) = chrono::Duration::from_std(retention) else {
            continue;
        };
        if now < end + retention {
            continue;
        }
        if let (Some(pool), Some(node)) = (&ni.pool_id, &ni.node_id) {
            let job_id = st
                .jobs
                .get(&tk.0)
                .map(|j| j.job.id.clone())
                .unwrap_or_default();
            fx.remove_dirs
                .push(svc.task_dir(&super::state::key(pool), node, &job_id, &t.task.id));
        }
        t.files_removed = true;
        fx.tx.task(tk, t);
    }
}

fn launch(svc: Arc<BatchService>, l: Launch) {
    tokio::spawn(async move {
        match l {
            Launch::Task(tk, spec) => {
                let run_id = spec.run_id;
                if svc.faults.roll(svc.faults.spec.node_death) {
                    tokio::spawn(node_dies_during(svc.clone(), tk.clone(), run_id));
                }
                let s2 = svc.clone();
                let k2 = tk.clone();
                let outcome = agent::run(spec, &svc.http, &svc.procs, move |pgid| {
                    record_task_pgid(&s2, &k2, run_id, pgid)
                })
                .await;
                svc.procs.end(run_id);
                finish_task(&svc, &tk, run_id, outcome);
            }
            Launch::Start(nk, spec) => {
                let run_id = spec.run_id;
                let outcome = if svc.faults.roll(svc.faults.spec.start_task) {
                    injected_start_failure(&spec).await
                } else {
                    let s2 = svc.clone();
                    let k2 = nk.clone();
                    agent::run(spec, &svc.http, &svc.procs, move |pgid| {
                        record_start_pgid(&s2, &k2, run_id, pgid)
                    })
                    .await
                };
                svc.procs.end(run_id);
                finish_start(&svc, &nk, run_id, outcome);
            }
        }
        svc.wake.notify_one();
    });
}

/// Fault injection: the node running `tk` dies a moment after the task started (if it still
/// runs that task), and reboots; the task is requeued.
async fn node_dies_during(svc: Arc<BatchService>, tk: (String, String), run_id: u64) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let node = {
        let st = svc.lock();
        st.tasks
            .get(&tk)
            .filter(|t| t.run == Some(run_id))
            .and_then(|t| t.node.clone())
    };
    if let Some(nk) = node {
        tracing::info!(node = %nk.1, task = %tk.1, "fault: node dies while its task runs");
        if let Err(e) = reboot(&svc, &nk) {
            tracing::error!(error = ?e, "fault: node death not recorded");
        }
    }
}

/// Fault injection: a start task attempt that fails as a failing command would.
async fn injected_start_failure(spec: &RunSpec) -> RunOutcome {
    let _ = tokio::fs::create_dir_all(&spec.task_dir).await;
    let _ = tokio::fs::write(
        spec.task_dir.join("stderr.txt"),
        "injected fault: the start task failed\n",
    )
    .await;
    let _ = tokio::fs::write(spec.task_dir.join("stdout.txt"), "").await;
    RunOutcome {
        exit_code: Some(1),
        failure: Some(agent::failure(
            "FailureExitCode",
            "The task process exited with an unexpected exit code",
        )),
        killed: false,
    }
}

fn record_task_pgid(svc: &BatchService, tk: &(String, String), run_id: u64, pgid: i32) {
    let mut tx = Tx::default();
    {
        let mut st = svc.lock();
        if let Some(t) = st.tasks.get_mut(tk).filter(|t| t.run == Some(run_id)) {
            t.pgid = Some(pgid);
            tx.task(tk, t);
        }
    }
    let _ = svc.store.commit_lazy(tx);
}

fn record_start_pgid(svc: &BatchService, nk: &(String, String), run_id: u64, pgid: i32) {
    let mut tx = Tx::default();
    {
        let mut st = svc.lock();
        if let Some(n) = st.nodes.get_mut(nk).filter(|n| n.start_run == Some(run_id)) {
            n.start_pgid = Some(pgid);
            tx.node(nk, n);
        }
    }
    let _ = svc.store.commit_lazy(tx);
}

/// Records how a task run ended: retried while retries remain, otherwise completed.
fn finish_task(svc: &BatchService, tk: &(String, String), run_id: u64, outcome: RunOutcome) {
    let now = Utc::now();
    let mut tx = Tx::default();
    {
        let mut guard = svc.lock();
        let st = &mut *guard;
        let Some(t) = st.tasks.get_mut(tk).filter(|t| t.run == Some(run_id)) else {
            return;
        };
        let success = outcome.succeeded();
        if let Some(nk) = &t.node
            && let Some(n) = st.nodes.get_mut(nk)
        {
            {
                n.node.running_tasks_count = (n.node.running_tasks_count - 1).max(0);
                n.node.running_task_slots_count =
                    (n.node.running_task_slots_count - t.slots()).max(0);
                n.node.total_tasks_run += 1;
                if success {
                    n.node.total_tasks_succeeded += 1;
                }
                if n.node.running_tasks_count == 0 && n.node.state == NodeState::Running {
                    set_node_state(&mut n.node, NodeState::Idle, now);
                }
                tx.node(nk, n);
            }
        }
        let max_retries = t
            .task
            .constraints
            .as_ref()
            .and_then(|c| c.max_task_retry_count)
            .unwrap_or(0);
        let retries = t
            .task
            .execution_info
            .as_ref()
            .map(|i| i.retry_count)
            .unwrap_or(0);
        if !success && (max_retries == -1 || retries < max_retries) {
            let info = t
                .task
                .execution_info
                .get_or_insert_with(TaskExecutionInfo::default);
            info.retry_count += 1;
            info.last_retry_time = Some(now);
            info.exit_code = outcome.exit_code;
            info.failure_info = outcome.failure;
            info.result = Some(TaskExecutionResult::Failure);
            t.run = None;
            t.pgid = None;
            t.node = None;
            set_task_state(t, TaskState::Active, now);
        } else {
            end_task(t, outcome.exit_code, outcome.failure, now);
        }
        tx.task(tk, t);
    }
    if let Err(e) = svc.store.commit_lazy(tx) {
        tracing::error!(error = %e, "cannot record a task's end");
    }
}

fn finish_start(svc: &Arc<BatchService>, nk: &(String, String), run_id: u64, outcome: RunOutcome) {
    let now = Utc::now();
    let mut tx = Tx::default();
    let mut relaunch = None;
    {
        let mut guard = svc.lock();
        let st = &mut *guard;
        let Some(rec) = st.nodes.get_mut(nk).filter(|n| n.start_run == Some(run_id)) else {
            return;
        };
        rec.start_run = None;
        rec.start_pgid = None;
        let start = rec.node.start_task.clone().unwrap_or_default();
        let wait = start.wait_for_success.unwrap_or(true);
        let max_retries = start.max_task_retry_count.unwrap_or(0);
        let success = outcome.succeeded();
        let info = rec
            .node
            .start_task_info
            .get_or_insert_with(StartTaskInfo::default);
        info.exit_code = outcome.exit_code;
        if !success && (max_retries == -1 || info.retry_count < max_retries) {
            info.retry_count += 1;
            info.last_retry_time = Some(now);
            info.start_time = now;
            let pool_id = st
                .pools
                .get(&nk.0)
                .map(|p| p.pool.id.clone())
                .unwrap_or_default();
            let mut fx = Effects::default();
            launch_start(svc, nk, rec, &start, &pool_id, &mut fx);
            relaunch = fx.launches.pop();
        } else {
            info.state = StartTaskState::Completed;
            info.end_time = Some(now);
            info.result = Some(if success {
                TaskExecutionResult::Success
            } else {
                TaskExecutionResult::Failure
            });
            info.failure_info = outcome.failure;
            if rec.node.state == NodeState::WaitingForStartTask {
                let next = if success || !wait {
                    NodeState::Idle
                } else {
                    NodeState::StartTaskFailed
                };
                set_node_state(&mut rec.node, next, now);
            }
        }
        tx.node(nk, rec);
    }
    if let Err(e) = svc.store.commit_lazy(tx) {
        tracing::error!(error = %e, "cannot record a start task's end");
    }
    if let Some(l) = relaunch {
        launch(svc.clone(), l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        assert_eq!(parse_duration("PT1H30M"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("P7D"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1H"), None);
        assert_eq!(parse_duration("PT5X"), None);
        assert!(wall_clock(Some("P10675199DT2H48M5.4775807S")).is_none());
        assert_eq!(wall_clock(Some("PT2S")), Some(Duration::from_secs(2)));
    }

    fn task(state: TaskState) -> TaskRec {
        TaskRec {
            job_key: "j".into(),
            task: crate::azure::models::Task {
                id: "t".into(),
                state: Some(state),
                command_line: "true".into(),
                ..Default::default()
            },
            node: Some(("p".into(), "n".into())),
            run: Some(7),
            pgid: None,
            files_removed: false,
        }
    }

    #[test]
    fn requeue_returns_a_running_task_to_active() {
        let now = Utc::now();
        let mut t = task(TaskState::Running);
        requeue(&mut t, now);
        assert_eq!(*t.state(), TaskState::Active);
        assert_eq!(t.task.previous_state, Some(TaskState::Running));
        assert_eq!(t.task.execution_info.as_ref().unwrap().requeue_count, 1);
        assert!(t.run.is_none() && t.node.is_none());
    }

    #[test]
    fn end_task_records_result() {
        let now = Utc::now();
        let mut t = task(TaskState::Running);
        end_task(
            &mut t,
            Some(3),
            Some(agent::failure("FailureExitCode", "x")),
            now,
        );
        assert_eq!(*t.state(), TaskState::Completed);
        let info = t.task.execution_info.unwrap();
        assert_eq!(info.result, Some(TaskExecutionResult::Failure));
        assert_eq!(info.exit_code, Some(3));
    }

    #[test]
    fn recovery_requeues_running_tasks_and_reboots_nodes() {
        let mut st = State::default();
        st.tasks
            .insert(("j".into(), "t".into()), task(TaskState::Running));
        st.tasks
            .insert(("j".into(), "u".into()), task(TaskState::Completed));
        if let Some(t) = st.tasks.get_mut(&("j".to_string(), "u".to_string())) {
            t.run = None;
        }
        st.nodes.insert(
            ("p".into(), "n".into()),
            NodeRec {
                pool_key: "p".into(),
                node: ComputeNode {
                    id: "n".into(),
                    state: NodeState::Idle,
                    ..Default::default()
                },
                phase_since: Utc::now(),
                start_run: None,
                start_pgid: None,
            },
        );
        recover(&mut st, Utc::now());
        assert_eq!(
            *st.tasks[&("j".to_string(), "t".to_string())].state(),
            TaskState::Active
        );
        assert_eq!(
            *st.tasks[&("j".to_string(), "u".to_string())].state(),
            TaskState::Completed
        );
        assert_eq!(
            st.nodes[&("p".to_string(), "n".to_string())].node.state,
            NodeState::Rebooting
        );
    }
}
