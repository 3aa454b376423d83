//! Process handling: a node's environment, the start task and task runs handed to the node
//! agent, their process groups, injected node deaths and start task failures, and the
//! records of how each run ended.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::passes::end_task;
use super::states::{node_action, requeue, set_job_state, set_node_state, set_task_state};
use super::{Effects, Launch};
use super::{dependencies, job_tasks};
use crate::azure::models::{
    JobAction, JobState, NameValue, NodeDeallocationOption, NodeState, OnTaskFailure, StartTask,
    StartTaskInfo, StartTaskState, TaskExecutionInfo, TaskExecutionResult, TaskState,
};
use crate::emulator::batch::BatchService;
use crate::emulator::batch::agent::{self, RunOutcome, RunSpec};
use crate::emulator::batch::state::{NodeAction, NodeRec, State, Tx};

pub(super) fn node_env(
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

/// The variables of a job's task on a node (the node's, the job's, the job's preparation
/// task's and its common environment settings) for the task `task_id`.
pub(super) fn job_task_env(
    svc: &BatchService,
    pool_id: &str,
    job: &crate::azure::models::Job,
    nk: &(String, String),
    node: &NodeRec,
    task_id: &str,
) -> Vec<(String, String)> {
    let mut env = node_env(svc, pool_id, nk, node);
    env.push(("AZ_BATCH_JOB_ID".into(), job.id.clone()));
    env.extend(job_tasks::job_env(svc, job, nk));
    if let Some(common) = job.extra.get("commonEnvironmentSettings") {
        let common: Vec<NameValue> = serde_json::from_value(common.clone()).unwrap_or_default();
        env.extend(common.into_iter().map(|e| (e.name, e.value)));
    }
    env.push(("AZ_BATCH_TASK_ID".into(), task_id.to_string()));
    env
}

/// Adds the variables of a run in `dir` (its directory, working directory and home) and the
/// run's own environment settings, which come last and so win.
pub(super) fn push_dir_env(env: &mut Vec<(String, String)>, dir: &Path, settings: &[NameValue]) {
    env.push((
        "AZ_BATCH_TASK_DIR".into(),
        dir.to_string_lossy().into_owned(),
    ));
    env.push((
        "AZ_BATCH_TASK_WORKING_DIR".into(),
        dir.join("wd").to_string_lossy().into_owned(),
    ));
    env.push(("HOME".into(), dir.join("wd").to_string_lossy().into_owned()));
    env.extend(settings.iter().map(|e| (e.name.clone(), e.value.clone())));
}

pub(super) fn launch_start(
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
    push_dir_env(&mut env, &dir, &start.environment_settings);
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
            keep_group: false,
            append_output: false,
        },
    ));
}

pub(super) fn auto_sas(
    svc: &BatchService,
    files: &[crate::azure::models::ResourceFile],
) -> Option<String> {
    files
        .iter()
        .find_map(|f| f.auto_storage_container_name.as_deref())
        .map(|c| svc.auto_storage_sas(c))
}

pub(super) fn launch(svc: Arc<BatchService>, l: Launch) {
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
            Launch::Multi(tk, m) => super::multi::run(svc.clone(), tk, *m).await,
            Launch::JobTask(jk, nk, prep, spec) => {
                let run_id = spec.run_id;
                let outcome = agent::run(spec, &svc.http, &svc.procs, |_| {}).await;
                svc.procs.end(run_id);
                let mut guard = svc.lock();
                let st = &mut *guard;
                let now = st.now();
                if let Some(job) = st.jobs.get_mut(&jk)
                    && job_tasks::finish(job, &nk, prep, run_id, outcome, now)
                {
                    let mut tx = Tx::default();
                    tx.job(&jk, job);
                    svc.store.enqueue(tx);
                }
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
pub(super) async fn node_dies_during(svc: Arc<BatchService>, tk: (String, String), run_id: u64) {
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
        if let Err(e) = node_action(
            &svc,
            &nk,
            NodeAction::Reboot,
            &NodeDeallocationOption::Requeue,
            false,
        ) {
            tracing::error!(error = ?e, "fault: node death not recorded");
        }
    }
}

/// Fault injection: a start task attempt that fails as a failing command would.
pub(super) async fn injected_start_failure(spec: &RunSpec) -> RunOutcome {
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

pub(super) fn record_task_pgid(svc: &BatchService, tk: &(String, String), run_id: u64, pgid: i32) {
    let mut tx = Tx::default();
    {
        let mut st = svc.lock();
        if let Some(t) = st.tasks.get_mut(tk).filter(|t| t.run == Some(run_id)) {
            t.pgid = Some(pgid);
            tx.task(tk, t);
        }
        // Queued under the lock, so that the disk takes changes in the order memory did.
        svc.store.enqueue(tx);
    }
}

fn record_start_pgid(svc: &BatchService, nk: &(String, String), run_id: u64, pgid: i32) {
    let mut tx = Tx::default();
    {
        let mut st = svc.lock();
        if let Some(n) = st.nodes.get_mut(nk).filter(|n| n.start_run == Some(run_id)) {
            n.start_pgid = Some(pgid);
            tx.node(nk, n);
        }
        svc.store.enqueue(tx);
    }
}

/// Records how a task run ended: retried while retries remain, otherwise completed.
pub(super) fn finish_task(
    svc: &BatchService,
    tk: &(String, String),
    run_id: u64,
    outcome: RunOutcome,
) {
    let mut tx = Tx::default();
    let mut kills = Vec::new();
    {
        let (mut guard, now) = svc.lock_at();
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
            t.end_instances();
            t.subtasks.clear();
            set_task_state(t, TaskState::Active, now);
            tx.task(tk, t);
        } else {
            end_task(t, outcome.exit_code, outcome.failure, now);
            tx.task(tk, t);
            kills = job_action_after(st, tk, now, &mut tx);
        }
        svc.store.enqueue(tx);
    }
    for r in kills {
        svc.procs.kill(r);
    }
}

/// After a task ended for good: when its job's `onTaskFailure` is
/// `performexitoptionsjobaction`, the job action its exit conditions name (disable, as with
/// requeue; terminate, with the reason `TaskFailed`). Returns the runs to kill.
fn job_action_after(
    st: &mut State,
    tk: &(String, String),
    now: DateTime<Utc>,
    tx: &mut Tx,
) -> Vec<u64> {
    let mut kills = Vec::new();
    let Some(task) = st.tasks.get(tk).map(|t| t.task.clone()) else {
        return kills;
    };
    let Some(job) = st.jobs.get_mut(&tk.0) else {
        return kills;
    };
    if job.job.on_task_failure != Some(OnTaskFailure::PerformExitOptionsJobAction)
        || job.job.state != Some(JobState::Active)
    {
        return kills;
    }
    match dependencies::outcome_options(&task).job_action {
        JobAction::Terminate => {
            set_job_state(&mut job.job, JobState::Terminating, now);
            if let Some(info) = job.job.execution_info.as_mut() {
                info.terminate_reason = Some("TaskFailed".into());
            }
            tx.job(&tk.0, job);
        }
        JobAction::Disable => {
            set_job_state(&mut job.job, JobState::Disabling, now);
            tx.job(&tk.0, job);
            let jk = tk.0.clone();
            for (k, t) in st
                .tasks
                .range_mut((jk.clone(), String::new())..)
                .take_while(|(k, _)| k.0 == jk)
            {
                if let Some(r) = t.run {
                    kills.push(r);
                    requeue(t, now);
                    tx.task(k, t);
                }
            }
        }
        _ => {}
    }
    kills
}

fn finish_start(svc: &Arc<BatchService>, nk: &(String, String), run_id: u64, outcome: RunOutcome) {
    let mut tx = Tx::default();
    let mut relaunch = None;
    {
        let (mut guard, now) = svc.lock_at();
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
        svc.store.enqueue(tx);
    }
    if let Some(l) = relaunch {
        launch(svc.clone(), l);
    }
}
