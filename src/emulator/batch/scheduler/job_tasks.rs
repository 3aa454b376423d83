//! Job preparation and release tasks. Before the first task of a job runs on a node, the
//! job's preparation task runs there (the task waits, `preparing`, on that node); a node
//! where it failed (with `waitForSuccess`) takes no task of the job. When the job is
//! terminated or deleted, its release task runs on every node where the preparation ran, and
//! the job completes (or goes) once they have ended.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::launch::{auto_sas, job_task_env, push_dir_env};
use super::passes::wall_clock;
use super::placement::fresh_output;
use super::{Effects, Launch};
use crate::azure::models::{
    FailureInfo, Job, JobPreparationTaskState, NameValue, Pool, ResourceFile, TaskConstraints,
    TaskExecutionResult,
};
use crate::emulator::batch::BatchService;
use crate::emulator::batch::agent::{RunOutcome, RunSpec};
use crate::emulator::batch::state::{JobRec, NodeRec, State};

/// The service's default ids of the two tasks.
pub const PREPARATION_ID: &str = "jobpreparation";
pub const RELEASE_ID: &str = "jobrelease";

/// `jobPreparationTask` of a job.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreparationSpec {
    pub id: Option<String>,
    #[serde(default)]
    pub command_line: String,
    #[serde(default)]
    pub resource_files: Vec<ResourceFile>,
    #[serde(default)]
    pub environment_settings: Vec<NameValue>,
    pub constraints: Option<TaskConstraints>,
    pub wait_for_success: Option<bool>,
    pub rerun_on_node_reboot_after_success: Option<bool>,
}

/// `jobReleaseTask` of a job.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSpec {
    pub id: Option<String>,
    #[serde(default)]
    pub command_line: String,
    #[serde(default)]
    pub resource_files: Vec<ResourceFile>,
    #[serde(default)]
    pub environment_settings: Vec<NameValue>,
    pub max_wall_clock_time: Option<String>,
}

pub fn preparation(job: &Job) -> Option<PreparationSpec> {
    preparation_in(&job.extra)
}

pub fn release(job: &Job) -> Option<ReleaseSpec> {
    release_in(&job.extra)
}

/// The preparation task of a job's (or a job specification's) properties.
pub fn preparation_in(
    props: &serde_json::Map<String, serde_json::Value>,
) -> Option<PreparationSpec> {
    props
        .get("jobPreparationTask")
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The release task of a job's (or a job specification's) properties.
pub fn release_in(props: &serde_json::Map<String, serde_json::Value>) -> Option<ReleaseSpec> {
    props
        .get("jobReleaseTask")
        .filter(|v| !v.is_null())
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// `BatchJobPreparationTaskExecutionInfo` / `BatchJobReleaseTaskExecutionInfo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTaskInfo {
    #[serde(with = "crate::azure::models::timestamp")]
    pub start_time: DateTime<Utc>,
    #[serde(
        default,
        with = "crate::azure::models::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<DateTime<Utc>>,
    pub state: JobPreparationTaskState,
    pub task_root_directory: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_root_directory_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_info: Option<FailureInfo>,
    #[serde(default)]
    pub retry_count: i32,
    #[serde(
        default,
        with = "crate::azure::models::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_retry_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskExecutionResult>,
}

/// The preparation and release task of one job on one node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeJobTasks {
    pub pool_id: String,
    pub node_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preparation: Option<JobTaskInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preparation_run: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<JobTaskInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_run: Option<u64>,
    /// The node rebooted: the preparation runs again before the job's next task there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rerun: bool,
}

/// The key of a node in [`JobRec::node_tasks`].
pub fn node_key(nk: &(String, String)) -> String {
    format!("{}/{}", nk.0, nk.1)
}

/// What a node offers a job's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// No preparation task, or it has done its part: tasks run.
    Open,
    /// The preparation task runs (or must be started): tasks wait, `preparing`.
    Preparing,
    /// It failed and the job waits for its success: no task of the job runs here.
    Closed,
}

pub fn gate(job: &JobRec, nk: &(String, String)) -> Gate {
    let Some(spec) = preparation(&job.job) else {
        return Gate::Open;
    };
    let entry = job.node_tasks.get(&node_key(nk));
    if entry.is_some_and(|e| e.rerun) {
        return Gate::Preparing;
    }
    let Some(info) = entry.and_then(|e| e.preparation.as_ref()) else {
        return Gate::Preparing;
    };
    match (&info.state, &info.result) {
        (JobPreparationTaskState::Completed, Some(TaskExecutionResult::Success)) => Gate::Open,
        (JobPreparationTaskState::Completed, _) if !spec.wait_for_success.unwrap_or(true) => {
            Gate::Open
        }
        (JobPreparationTaskState::Completed, _) => Gate::Closed,
        _ => Gate::Preparing,
    }
}

fn dir_name(job: &Job, id: &str) -> String {
    format!("workitems/{}/job-1/{id}", job.id)
}

/// The run of a preparation or release task on a node.
#[allow(clippy::too_many_arguments)]
fn spec(
    svc: &BatchService,
    pool: &Pool,
    job: &Job,
    nk: &(String, String),
    node: &NodeRec,
    id: &str,
    command_line: &str,
    resource_files: &[ResourceFile],
    env_settings: &[NameValue],
    max_wall_clock: Option<&str>,
) -> RunSpec {
    let dir = svc.task_dir(&nk.0, &nk.1, &job.id, id);
    let mut env = job_task_env(svc, &pool.id, job, nk, node, id);
    push_dir_env(&mut env, &dir, env_settings);
    RunSpec {
        run_id: svc.next_run_id(),
        command_line: command_line.to_string(),
        task_dir: dir,
        env,
        resource_files: resource_files.to_vec(),
        output_files: Vec::new(),
        max_wall_clock: wall_clock(max_wall_clock),
        blob_endpoint: svc.blob_endpoint.clone(),
        auto_storage_sas: auto_sas(svc, resource_files),
        keep_group: false,
        append_output: false,
    }
}

/// What every task of a job with a preparation task is told of it.
pub fn job_env(svc: &BatchService, job: &Job, nk: &(String, String)) -> Vec<(String, String)> {
    let Some(p) = preparation(job) else {
        return Vec::new();
    };
    let dir = svc.task_dir(
        &nk.0,
        &nk.1,
        &job.id,
        p.id.as_deref().unwrap_or(PREPARATION_ID),
    );
    vec![
        (
            "AZ_BATCH_JOB_PREP_DIR".into(),
            dir.to_string_lossy().into_owned(),
        ),
        (
            "AZ_BATCH_JOB_PREP_WORKING_DIR".into(),
            dir.join("wd").to_string_lossy().into_owned(),
        ),
    ]
}

fn running_info(job: &Job, id: &str, now: DateTime<Utc>) -> JobTaskInfo {
    JobTaskInfo {
        start_time: now,
        state: JobPreparationTaskState::Running,
        task_root_directory: dir_name(job, id),
        ..JobTaskInfo::default()
    }
}

/// Starts the job's preparation task on a node (once: a node where it runs or ran is left).
pub(super) fn start_preparation(
    svc: &BatchService,
    st: &mut State,
    jk: &str,
    nk: &(String, String),
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    let (Some(job), Some(node), Some(pool)) =
        (st.jobs.get_mut(jk), st.nodes.get(nk), st.pools.get(&nk.0))
    else {
        return;
    };
    let Some(p) = preparation(&job.job) else {
        return;
    };
    let key = node_key(nk);
    let entry = job.node_tasks.entry(key).or_insert_with(|| NodeJobTasks {
        pool_id: pool.pool.id.clone(),
        node_id: nk.1.clone(),
        ..NodeJobTasks::default()
    });
    if entry.preparation_run.is_some()
        || (!entry.rerun
            && entry
                .preparation
                .as_ref()
                .is_some_and(|i| i.state == JobPreparationTaskState::Completed))
    {
        return;
    }
    entry.rerun = false;
    let id = p.id.clone().unwrap_or_else(|| PREPARATION_ID.into());
    let limit = p
        .constraints
        .as_ref()
        .and_then(|c| c.max_wall_clock_time.clone());
    let run = spec(
        svc,
        &pool.pool,
        &job.job,
        nk,
        node,
        &id,
        &p.command_line,
        &p.resource_files,
        &p.environment_settings,
        limit.as_deref(),
    );
    let retries = entry
        .preparation
        .as_ref()
        .map(|i| i.retry_count)
        .unwrap_or(0);
    let mut info = running_info(&job.job, &id, now);
    info.retry_count = retries;
    entry.preparation = Some(info);
    entry.preparation_run = Some(run.run_id);
    fresh_output(svc, nk, &job.job.id, &id);
    fx.create_dirs.push(run.task_dir.join("wd"));
    fx.launches
        .push(Launch::JobTask(jk.to_string(), nk.clone(), true, run));
    fx.tx.job(jk, job);
}

/// Starts the release task on every node where the preparation ran and the release has not;
/// returns whether any release task is still to end (the job waits for them).
pub(super) fn releases_pending(
    svc: &BatchService,
    st: &mut State,
    jk: &str,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> bool {
    let Some(job) = st.jobs.get_mut(jk) else {
        return false;
    };
    let Some(r) = release(&job.job) else {
        return false;
    };
    let id = r.id.clone().unwrap_or_else(|| RELEASE_ID.into());
    let limit = r
        .max_wall_clock_time
        .clone()
        .unwrap_or_else(|| "PT15M".into());
    let mut pending = false;
    let mut changed = false;
    for entry in job.node_tasks.values_mut() {
        if entry.preparation.is_none() {
            continue;
        }
        let nk = (
            crate::emulator::batch::state::key(&entry.pool_id),
            entry.node_id.clone(),
        );
        let (Some(node), Some(pool)) = (st.nodes.get(&nk), st.pools.get(&nk.0)) else {
            continue;
        };
        match &entry.release {
            Some(i) if i.state == JobPreparationTaskState::Completed => continue,
            Some(_) => {
                pending = true;
                continue;
            }
            None => {}
        }
        let run = spec(
            svc,
            &pool.pool,
            &job.job,
            &nk,
            node,
            &id,
            &r.command_line,
            &r.resource_files,
            &r.environment_settings,
            Some(&limit),
        );
        entry.release = Some(running_info(&job.job, &id, now));
        entry.release_run = Some(run.run_id);
        fresh_output(svc, &nk, &job.job.id, &id);
        fx.create_dirs.push(run.task_dir.join("wd"));
        fx.launches
            .push(Launch::JobTask(jk.to_string(), nk, false, run));
        pending = true;
        changed = true;
    }
    if changed {
        fx.tx.job(jk, job);
    }
    pending
}

/// Records how a preparation (`prep`) or release task ended on a node; a failed preparation
/// is retried up to its `maxTaskRetryCount`. Returns whether the job record changed.
pub fn finish(
    job: &mut JobRec,
    nk: &(String, String),
    prep: bool,
    run_id: u64,
    outcome: RunOutcome,
    now: DateTime<Utc>,
) -> bool {
    let max_retries = preparation(&job.job)
        .and_then(|p| p.constraints)
        .and_then(|c| c.max_task_retry_count)
        .unwrap_or(0);
    let Some(entry) = job.node_tasks.get_mut(&node_key(nk)) else {
        return false;
    };
    let (run, info) = if prep {
        (&mut entry.preparation_run, &mut entry.preparation)
    } else {
        (&mut entry.release_run, &mut entry.release)
    };
    if *run != Some(run_id) {
        return false;
    }
    *run = None;
    let Some(info) = info.as_mut() else {
        return true;
    };
    let success = outcome.succeeded();
    info.exit_code = outcome.exit_code;
    info.failure_info = outcome.failure;
    if prep && !success && (max_retries == -1 || info.retry_count < max_retries) {
        // Started again by the next pass (`needs_restart`): still running, no run in flight.
        info.retry_count += 1;
        info.last_retry_time = Some(now);
        return true;
    }
    info.state = JobPreparationTaskState::Completed;
    info.end_time = Some(now);
    info.result = Some(if success {
        TaskExecutionResult::Success
    } else {
        TaskExecutionResult::Failure
    });
    true
}

/// Whether a preparation is marked to start again (a retry after a failure).
pub(super) fn needs_restart(job: &JobRec, nk: &(String, String)) -> bool {
    job.node_tasks.get(&node_key(nk)).is_some_and(|e| {
        e.preparation_run.is_none()
            && (e.rerun
                || e.preparation
                    .as_ref()
                    .is_some_and(|i| i.state == JobPreparationTaskState::Running))
    })
}

/// After a node rebooted: its preparation runs again before the job's next task there
/// (unless `rerunOnNodeRebootAfterSuccess` is false and it had succeeded, and the node's disk
/// was not `wiped` by a reimage).
pub(super) fn node_rebooted(
    st: &mut State,
    nk: &(String, String),
    wiped: bool,
    fx_tx: &mut crate::emulator::batch::state::Tx,
) {
    let key = node_key(nk);
    for (jk, job) in st.jobs.iter_mut() {
        let rerun = preparation(&job.job)
            .and_then(|p| p.rerun_on_node_reboot_after_success)
            .unwrap_or(true);
        let Some(entry) = job.node_tasks.get_mut(&key) else {
            continue;
        };
        let succeeded = entry
            .preparation
            .as_ref()
            .is_some_and(|i| i.result == Some(TaskExecutionResult::Success));
        if rerun || !succeeded || wiped {
            // What it did is kept (the release still runs here); it runs again first.
            entry.rerun = true;
            entry.preparation_run = None;
            fx_tx.job(jk, job);
        }
    }
}
