//! Jobs: add, list, get, update, delete, terminate, and their task counts.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::autopools::{check_pool_info, job_pool};
use super::common::{Ctx, Reply, Res, accepted, created, list_reply, seg, valid_id, with_meta};
use super::job_updates::{check_job_values, with_defaults};
use crate::azure::models::{
    Job, JobExecutionInfo, JobState, OnAllTasksComplete, OnTaskFailure, TaskCounts, TaskState,
};
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata;
use crate::emulator::batch::scheduler::{job_tasks, set_job_state};
use crate::emulator::batch::state::{JobRec, State, Tx, key};
use crate::emulator::batch::{BatchService, etag};

pub(super) fn render_job(base: &str, j: &JobRec) -> Value {
    let mut job = j.job.clone();
    job.url = Some(format!("{base}/jobs/{}", seg(&job.id)));
    serde_json::to_value(job).unwrap_or_default()
}

pub(super) fn add_job(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let job: Job = c.json()?;
    if job.id.is_empty() {
        return Err(ApiError::missing_property("id"));
    }
    if !valid_id(&job.id) {
        return Err(ApiError::invalid_property("id", job.id));
    }
    check_pool_info(&job.pool_info, false)?;
    check_job_values(
        job.priority,
        job.max_parallel_tasks,
        job.constraints.as_ref(),
    )?;
    check_job_tasks(&job.extra)?;
    let k = key(&job.id);
    let (mut st, now) = svc.lock_at();
    if st.jobs.contains_key(&k) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobExists",
            "The specified job already exists.",
        ));
    }
    if st.schedules.contains_key(&k) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobScheduleWithSameIdExists",
            "A job schedule with the specified job id exists. Job and job schedule cannot have the same id.",
        ));
    }
    let mut tx = Tx::default();
    let rec = new_job_rec(svc, &mut st, job, now, None, &mut tx);
    let tag = rec.job.e_tag.clone().unwrap_or_default();
    let path = format!("jobs/{}", seg(&rec.job.id));
    tx.job(&k, &rec);
    svc.commit(tx)?;
    st.jobs.insert(k, rec);
    drop(st);
    svc.wake.notify_one();
    Ok(created(c, path, &tag, now))
}

/// A new job with the service's defaults, on its pool: the one it names, or an auto pool made
/// for it (into `st` and `tx`). A job whose auto pool cannot be made completes at once with the
/// scheduling error, as the service does.
pub(crate) fn new_job_rec(
    svc: &BatchService,
    st: &mut State,
    mut job: Job,
    now: DateTime<Utc>,
    schedule: Option<String>,
    tx: &mut Tx,
) -> JobRec {
    job.url = None;
    job.e_tag = Some(etag(now));
    job.last_modified = Some(now);
    job.creation_time = Some(now);
    job.state = Some(JobState::Active);
    job.state_transition_time = Some(now);
    job.previous_state = None;
    job.previous_state_transition_time = None;
    job.priority.get_or_insert(0);
    job.max_parallel_tasks.get_or_insert(-1);
    job.constraints = Some(with_defaults(job.constraints.take().unwrap_or_default()));
    job.on_all_tasks_complete
        .get_or_insert(OnAllTasksComplete::NoAction);
    job.on_task_failure.get_or_insert(OnTaskFailure::NoAction);
    for (name, v) in [
        ("usesTaskDependencies", false),
        ("allowTaskPreemption", false),
    ] {
        job.extra.entry(name).or_insert(Value::Bool(v));
    }
    let mut info = JobExecutionInfo {
        start_time: now,
        ..JobExecutionInfo::default()
    };
    match job_pool(
        svc,
        st,
        &job.pool_info,
        &key(&job.id),
        schedule.as_deref(),
        now,
        tx,
    ) {
        Ok(pool) => info.pool_id = Some(pool),
        Err(failure) => {
            info.end_time = Some(now);
            info.extra.insert(
                "schedulingError".into(),
                serde_json::to_value(failure).unwrap_or_default(),
            );
            job.state = Some(JobState::Completed);
        }
    }
    job.execution_info = Some(info);
    JobRec {
        job,
        schedule,
        node_tasks: Default::default(),
    }
}

pub(super) fn list_jobs(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let items: Vec<(String, Value)> = {
        let st = svc.lock();
        st.jobs
            .iter()
            .map(|(k, j)| (k.clone(), render_job(&c.base, j)))
            .collect()
    };
    list_reply(c, "jobs", items)
}

pub(super) fn get_job(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let st = svc.lock();
    let rec = st.jobs.get(&key(j)).ok_or_else(ApiError::job_not_found)?;
    let v = odata::select(
        render_job(&c.base, rec),
        c.q("$select").map(odata::parse_select).as_deref(),
    );
    Ok(Reply::json(
        StatusCode::OK,
        &with_meta(v, format!("{}/$metadata#jobs/@Element", c.base)),
    )
    .entity(rec.job.e_tag.as_ref(), rec.job.last_modified))
}

pub(super) fn delete_job(svc: &Arc<BatchService>, j: &str) -> Res {
    let k = key(j);
    let (mut st, now) = svc.lock_at();
    let rec = st.jobs.get_mut(&k).ok_or_else(ApiError::job_not_found)?;
    if rec.job.state == Some(JobState::Deleting) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobBeingDeleted",
            "The specified job has been marked for deletion and is being garbage collected.",
        ));
    }
    set_job_state(&mut rec.job, JobState::Deleting, now);
    let mut tx = Tx::default();
    tx.job(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}

pub(super) fn terminate_job(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let reason = if c.body.is_empty() {
        None
    } else {
        c.json::<Value>()?
            .get("terminateReason")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let k = key(j);
    let (mut st, now) = svc.lock_at();
    let rec = st.jobs.get_mut(&k).ok_or_else(ApiError::job_not_found)?;
    match rec.job.state {
        Some(JobState::Completed | JobState::Terminating) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "JobCompleted",
                "The specified job is already in a completed state.",
            ));
        }
        Some(JobState::Deleting) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "JobBeingDeleted",
                "The specified job has been marked for deletion and is being garbage collected.",
            ));
        }
        _ => {}
    }
    let job = &mut rec.job;
    set_job_state(job, JobState::Terminating, now);
    if let Some(info) = job.execution_info.as_mut() {
        info.terminate_reason = Some(reason.unwrap_or_else(|| "UserTerminate".into()));
    }
    let mut tx = Tx::default();
    tx.job(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}

pub(super) fn task_counts(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let jk = key(j);
    let st = svc.lock();
    st.jobs.get(&jk).ok_or_else(ApiError::job_not_found)?;
    let mut counts = TaskCounts::default();
    let mut slots = TaskCounts::default();
    for t in st
        .tasks
        .range((jk.clone(), String::new())..)
        .take_while(|(k, _)| k.0 == jk)
        .map(|(_, t)| t)
    {
        let n = t.slots();
        let bump = |c: &mut TaskCounts, n: i32| match t.state() {
            TaskState::Completed => {
                c.completed += n;
                if t.succeeded() {
                    c.succeeded += n;
                } else {
                    c.failed += n;
                }
            }
            TaskState::Running | TaskState::Preparing => c.running += n,
            _ => c.active += n,
        };
        bump(&mut counts, 1);
        bump(&mut slots, n);
    }
    let body = json!({
        "odata.metadata": format!("{}/$metadata#taskcountsresult/@Element", c.base),
        "taskCounts": counts,
        "taskSlotCounts": slots,
    });
    Ok(Reply::json(StatusCode::OK, &body))
}

/// The checks of a job's preparation and release tasks at add time, on the job's properties
/// (or a job schedule's job specification's: the same checks).
pub(super) fn check_job_tasks(props: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    for (name, default) in [
        ("jobPreparationTask", job_tasks::PREPARATION_ID),
        ("jobReleaseTask", job_tasks::RELEASE_ID),
    ] {
        let Some(v) = props.get(name).filter(|v| !v.is_null()) else {
            continue;
        };
        let line = v.get("commandLine").and_then(Value::as_str).unwrap_or("");
        if line.trim().is_empty() {
            return Err(ApiError::missing_property(&format!("{name}.commandLine")));
        }
        let id = v.get("id").and_then(Value::as_str).unwrap_or(default);
        if !valid_id(id) {
            return Err(ApiError::invalid_property(&format!("{name}.id"), id));
        }
    }
    let (prep, release) = (
        job_tasks::preparation_in(props),
        job_tasks::release_in(props),
    );
    if release.is_some() && prep.is_none() {
        return Err(ApiError::invalid_property("jobReleaseTask", "")
            .with("Reason", "A job release task needs a job preparation task."));
    }
    let prep = prep.and_then(|p| p.id);
    if let Some(release) = release
        && prep
            .as_deref()
            .unwrap_or(job_tasks::PREPARATION_ID)
            .eq_ignore_ascii_case(release.id.as_deref().unwrap_or(job_tasks::RELEASE_ID))
    {
        return Err(ApiError::invalid_property(
            "jobReleaseTask.id",
            release.id.unwrap_or_default(),
        ));
    }
    Ok(())
}

/// `GET /jobs/{id}/jobpreparationandreleasetaskstatus`: per node, how the job's preparation
/// and release tasks ran there.
pub(super) fn list_prep_release_status(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let items: Vec<(String, Value)> = {
        let st = svc.lock();
        let rec = st.jobs.get(&key(j)).ok_or_else(ApiError::job_not_found)?;
        if job_tasks::preparation(&rec.job).is_none() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "JobPreparationTaskNotSpecified",
                "The specified job does not have a job preparation task.",
            ));
        }
        rec.node_tasks
            .iter()
            .map(|(k, e)| {
                let node_url = format!(
                    "{}/pools/{}/nodes/{}",
                    c.base,
                    seg(&e.pool_id),
                    seg(&e.node_id)
                );
                let with_url = |i: &Option<job_tasks::JobTaskInfo>| {
                    i.clone().map(|mut i| {
                        i.task_root_directory_url =
                            Some(format!("{node_url}/files/{}", i.task_root_directory));
                        i
                    })
                };
                let mut v = json!({
                    "poolId": e.pool_id,
                    "nodeId": e.node_id,
                    "nodeUrl": node_url,
                });
                if let Some(p) = with_url(&e.preparation) {
                    v["jobPreparationTaskExecutionInfo"] =
                        serde_json::to_value(p).unwrap_or_default();
                }
                if let Some(r) = with_url(&e.release) {
                    v["jobReleaseTaskExecutionInfo"] = serde_json::to_value(r).unwrap_or_default();
                }
                (k.clone(), v)
            })
            .collect()
    };
    list_reply(c, "jobpreparationandreleasetaskstatuslist", items)
}
