//! Task placement: active tasks onto free slots of ready nodes, within each job's limit,
//! and the run (command line, environment, directories) of each placed task.

use chrono::{DateTime, Utc};

use super::dependencies;
use super::job_tasks::{self, Gate};
use super::launch::{auto_sas, job_task_env, push_dir_env};
use super::multi::{place_multi, start_multi};
use super::passes::wall_clock;
use super::states::{set_node_state, set_task_state};
use super::{Effects, Launch};
use crate::azure::models::{
    JobState, NodeState, PoolState, SchedulingState, TaskExecutionInfo, TaskNodeInfo, TaskState,
};
use crate::emulator::batch::BatchService;
use crate::emulator::batch::agent::RunSpec;
use crate::emulator::batch::state::{NodeRec, State, TaskRec, key};

pub(super) fn schedule_step(
    svc: &BatchService,
    st: &mut State,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    // Free slots per ready node.
    let mut free: std::collections::BTreeMap<(String, String), i32> = Default::default();
    for (nk, n) in &st.nodes {
        let Some(pool) = st.pools.get(&nk.0) else {
            continue;
        };
        let ready = matches!(n.node.state, NodeState::Idle | NodeState::Running)
            && n.node.scheduling_state != Some(SchedulingState::Disabled)
            && n.pending_reboot.is_none()
            && pool.pool.state == Some(PoolState::Active);
        if ready {
            free.insert(
                nk.clone(),
                pool.pool.task_slots_per_node.unwrap_or(1).max(1),
            );
        }
    }
    preparations_step(svc, st, now, fx);
    if free.is_empty() {
        return;
    }
    let mut per_job_running: std::collections::HashMap<String, i32> = Default::default();
    for t in st.tasks.values() {
        let mut placed = t.placements();
        // A task waiting on its nodes for the job's preparation task holds their slots.
        placed.extend(t.waiting_on());
        for n in &placed {
            if let Some(f) = free.get_mut(*n) {
                *f -= t.slots();
            }
        }
        if !placed.is_empty() {
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
        // An auto pool's id is in the job's execution info.
        let pool_key = key(job
            .execution_info
            .as_ref()
            .and_then(|i| i.pool_id.as_deref())
            .or(job.pool_info.pool_id.as_deref())
            .unwrap_or(""));
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
        let uses_dependencies = job
            .extra
            .get("usesTaskDependencies")
            .and_then(serde_json::Value::as_bool)
            == Some(true);
        let task_keys: Vec<(String, String)> = st
            .tasks
            .range((jk.clone(), String::new())..)
            .take_while(|(k, _)| k.0 == jk)
            .filter(|(_, t)| *t.state() == TaskState::Active && t.run.is_none())
            .map(|(k, _)| k.clone())
            // A task waiting for its dependencies stays active and is passed over.
            .filter(|k| !uses_dependencies || dependencies::ready(st, k))
            .take(room.max(0) as usize)
            .collect();
        for tk in task_keys {
            if limit > 0 && per_job_running.get(&jk).copied().unwrap_or(0) >= limit {
                break;
            }
            let Some(slots) = st.tasks.get(&tk).map(TaskRec::slots) else {
                continue;
            };
            // A multi-instance task takes as many distinct nodes as it has instances, at once.
            if st
                .tasks
                .get(&tk)
                .is_some_and(|t| t.task.multi_instance_settings.is_some())
            {
                if place_multi(svc, st, &pool, &job, &tk, &mut free, &pool_key, now, fx) {
                    *per_job_running.entry(jk.clone()).or_default() += 1;
                }
                continue;
            }
            let Some(job_rec) = st.jobs.get(&jk) else {
                break;
            };
            let Some(nk) = free
                .iter()
                .filter(|(k, f)| {
                    k.0 == pool_key && **f >= slots && job_tasks::gate(job_rec, k) != Gate::Closed
                })
                .max_by_key(|(_, f)| **f)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            let gate = job_tasks::gate(job_rec, &nk);
            if let Some(f) = free.get_mut(&nk) {
                *f -= slots;
            }
            *per_job_running.entry(jk.clone()).or_default() += 1;
            if gate == Gate::Preparing {
                // The task waits on the node, `preparing`, for the job's preparation task.
                job_tasks::start_preparation(svc, st, &jk, &nk, now, fx);
                if let Some(t) = st.tasks.get_mut(&tk) {
                    t.node = Some(nk.clone());
                    set_task_state(t, TaskState::Preparing, now);
                    fx.tx.task(&tk, t);
                }
                continue;
            }
            let (Some(node), Some(t)) = (st.nodes.get_mut(&nk), st.tasks.get_mut(&tk)) else {
                continue;
            };
            start_task_run(svc, &pool, &job, &nk, node, &tk, t, now, fx);
        }
    }
}

/// Tasks waiting on their nodes for the job's preparation task (a multi-instance task on each
/// node its instances take): started once it has done its part on every one, back to the queue
/// when it failed on one (or the job is no longer active); a preparation to retry is started
/// again.
fn preparations_step(svc: &BatchService, st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
    type Key = (String, String);
    let waiting: Vec<(Key, Vec<Key>)> = st
        .tasks
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                t.waiting_on().into_iter().cloned().collect::<Vec<_>>(),
            )
        })
        .filter(|(_, nodes)| !nodes.is_empty())
        .collect();
    for (tk, nodes) in waiting {
        let Some(job_rec) = st.jobs.get(&tk.0) else {
            continue;
        };
        let active = job_rec.job.state == Some(JobState::Active);
        let gates: Vec<Gate> = nodes
            .iter()
            .map(|nk| job_tasks::gate(job_rec, nk))
            .collect();
        let restart: Vec<(String, String)> = nodes
            .iter()
            .filter(|nk| job_tasks::needs_restart(job_rec, nk))
            .cloned()
            .collect();
        let job = job_rec.job.clone();
        let pool = st.pools.get(&nodes[0].0).map(|p| p.pool.clone());
        let multi = st
            .tasks
            .get(&tk)
            .is_some_and(|t| t.task.multi_instance_settings.is_some());
        match (active, pool) {
            (true, Some(pool)) if gates.iter().all(|g| *g == Gate::Open) => {
                if multi {
                    start_multi(svc, st, &pool, &job, &tk, &nodes, now, fx);
                    continue;
                }
                let nk = &nodes[0];
                let (Some(node), Some(t)) = (st.nodes.get_mut(nk), st.tasks.get_mut(&tk)) else {
                    continue;
                };
                start_task_run(svc, &pool, &job, nk, node, &tk, t, now, fx);
            }
            (true, Some(_)) if !gates.contains(&Gate::Closed) => {
                for nk in &restart {
                    job_tasks::start_preparation(svc, st, &tk.0, nk, now, fx);
                }
            }
            _ => {
                if let Some(t) = st.tasks.get_mut(&tk) {
                    t.node = None;
                    t.subtasks.clear();
                    set_task_state(t, TaskState::Active, now);
                    fx.tx.task(&tk, t);
                }
            }
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
    fresh_output(svc, nk, &job.id, &t.task.id);
    begin_run(pool, job, node, t, run_id, now);
    t.node = Some(nk.clone());
    fx.tx.task(tk, t);
    occupy(nk, node, t.slots(), now, fx);
    let spec = task_run_spec(svc, pool, job, nk, node, t, run_id);
    fx.launches.push(Launch::Task(tk.clone(), spec));
}

/// Makes the task's directory on this node with an empty stdout.txt and stderr.txt, under the
/// state's lock, before the task (or a job's preparation or release task) shows as running: a
/// reader who sees the run (its state, its start time) finds both files at once, even while the
/// agent still fetches resource files and has not started the command, and never reads a last
/// run's bytes as this run's.
pub(super) fn fresh_output(svc: &BatchService, nk: &(String, String), job: &str, task: &str) {
    let dir = svc.task_dir(&nk.0, &nk.1, job, task);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        // The agent fails the run when it cannot make the directory either.
        tracing::warn!(dir = %dir.display(), error = %e, "cannot make a task's directory");
        return;
    }
    for name in ["stdout.txt", "stderr.txt"] {
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(dir.join(name));
    }
}

/// The task's record as it starts a run on `node`.
pub(super) fn begin_run(
    pool: &crate::azure::models::Pool,
    job: &crate::azure::models::Job,
    node: &NodeRec,
    t: &mut TaskRec,
    run_id: u64,
    now: DateTime<Utc>,
) {
    t.run = Some(run_id);
    let info = t
        .task
        .execution_info
        .get_or_insert_with(TaskExecutionInfo::default);
    info.start_time = Some(now);
    info.end_time = None;
    info.exit_code = None;
    info.failure_info = None;
    info.result = None;
    t.task.node_info = Some(node_info(pool, job, node, t));
    set_task_state(t, TaskState::Running, now);
}

/// Where a task (or one of its subtasks) runs.
pub(super) fn node_info(
    pool: &crate::azure::models::Pool,
    job: &crate::azure::models::Job,
    node: &NodeRec,
    t: &TaskRec,
) -> TaskNodeInfo {
    TaskNodeInfo {
        affinity_id: node.node.affinity_id.clone(),
        node_url: None,
        pool_id: Some(pool.id.clone()),
        node_id: Some(node.node.id.clone()),
        task_root_directory: Some(format!("workitems/{}/job-1/{}", job.id, t.task.id)),
        task_root_directory_url: None,
    }
}

/// A run takes `slots` of the node's slots.
pub(super) fn occupy(
    nk: &(String, String),
    node: &mut NodeRec,
    slots: i32,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    node.node.running_tasks_count += 1;
    node.node.running_task_slots_count += slots;
    set_node_state(&mut node.node, NodeState::Running, now);
    fx.tx.node(nk, node);
}

/// What a task runs on a node: its command line, directory, environment, files and limit.
pub(super) fn task_run_spec(
    svc: &BatchService,
    pool: &crate::azure::models::Pool,
    job: &crate::azure::models::Job,
    nk: &(String, String),
    node: &NodeRec,
    t: &TaskRec,
    run_id: u64,
) -> RunSpec {
    let dir = svc.task_dir(&nk.0, &nk.1, &job.id, &t.task.id);
    let mut env = job_task_env(svc, &pool.id, job, nk, node, &t.task.id);
    push_dir_env(&mut env, &dir, &t.task.environment_settings);
    let limit = wall_clock(
        t.task
            .constraints
            .as_ref()
            .and_then(|c| c.max_wall_clock_time.as_deref()),
    );
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
        keep_group: false,
        append_output: false,
    }
}
