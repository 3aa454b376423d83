//! Changing a job: update (PATCH: what is given replaces, the rest stays), replace (PUT: every
//! updatable property replaced, omitted ones back to their defaults), disable and enable.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::common::{Ctx, Reply, Res, UNLIMITED, accepted};
use crate::azure::auth::http_date;
use crate::azure::models::{
    DisableJobOption, Job, JobConstraints, JobState, NameValue, OnAllTasksComplete, PoolInfo,
    TaskState,
};
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::scheduler::{requeue, set_job_state, terminate_run};
use crate::emulator::batch::state::{Tx, key};
use crate::emulator::batch::{BatchService, etag};

/// The updatable properties of a job, as PATCH and PUT bodies carry them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobChanges {
    priority: Option<i32>,
    max_parallel_tasks: Option<i32>,
    allow_task_preemption: Option<bool>,
    constraints: Option<JobConstraints>,
    pool_info: Option<PoolInfo>,
    on_all_tasks_complete: Option<OnAllTasksComplete>,
    metadata: Option<Vec<NameValue>>,
}

/// The errors of an operation on a job that is completing, completed or being deleted.
pub(super) fn job_settled(state: Option<&JobState>) -> Result<(), ApiError> {
    match state {
        Some(JobState::Completed) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobCompleted",
            "The specified job is already in a completed state.",
        )),
        Some(JobState::Terminating) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobBeingTerminated",
            "The specified job is being terminated.",
        )),
        Some(JobState::Deleting) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobBeingDeleted",
            "The specified job has been marked for deletion and is being garbage collected.",
        )),
        _ => Ok(()),
    }
}

/// A job or task constraint out of range.
pub(super) fn constraint_error(name: &str, value: impl ToString) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidConstraintValue",
        "One of the specified constraint values is out of range.",
    )
    .with("PropertyName", name)
    .with("PropertyValue", value.to_string())
}

/// The checks of a job's priority, parallelism and constraints, at add and at update.
pub(super) fn check_job_values(
    priority: Option<i32>,
    max_parallel_tasks: Option<i32>,
    constraints: Option<&JobConstraints>,
) -> Result<(), ApiError> {
    if let Some(p) = priority
        && !(-1000..=1000).contains(&p)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "OutOfRangePriority",
            "The specified job priority is outside the range -1000 to 1000.",
        )
        .with("PropertyName", "priority")
        .with("PropertyValue", p.to_string()));
    }
    if let Some(m) = max_parallel_tasks
        && m != -1
        && m < 1
    {
        return Err(ApiError::invalid_property(
            "maxParallelTasks",
            m.to_string(),
        ));
    }
    if let Some(c) = constraints {
        if let Some(r) = c.max_task_retry_count
            && r < -1
        {
            return Err(constraint_error("constraints.maxTaskRetryCount", r));
        }
        if let Some(w) = &c.max_wall_clock_time
            && w.starts_with('-')
        {
            return Err(constraint_error("constraints.maxWallClockTime", w));
        }
    }
    Ok(())
}

/// Checks the values as the service does and applies them; `replace` resets what is omitted.
fn apply(job: &mut Job, ch: JobChanges, replace: bool) -> Result<(), ApiError> {
    if replace && ch.pool_info.is_none() {
        return Err(ApiError::missing_property("poolInfo"));
    }
    check_job_values(ch.priority, ch.max_parallel_tasks, ch.constraints.as_ref())?;
    let completion = match (ch.on_all_tasks_complete, replace) {
        (Some(OnAllTasksComplete::Unknown(v)), _) => {
            return Err(ApiError::invalid_property("onAllTasksComplete", v));
        }
        (Some(v), _) => Some(v),
        (None, true) => Some(OnAllTasksComplete::NoAction),
        (None, false) => None,
    };
    if job.on_all_tasks_complete == Some(OnAllTasksComplete::TerminateJob)
        && completion == Some(OnAllTasksComplete::NoAction)
    {
        return Err(
            ApiError::invalid_property("onAllTasksComplete", "noaction").with(
                "Reason",
                "A job's completion behavior cannot change from terminatejob to noaction.",
            ),
        );
    }
    if let Some(pool) = &ch.pool_info {
        let Some(id) = pool.pool_id.as_deref().filter(|p| !p.is_empty()) else {
            return Err(ApiError::missing_property("poolInfo.poolId"));
        };
        let same = job
            .pool_info
            .pool_id
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(id));
        // PATCH may name the pool only on a disabled job; PUT must name it, and may change it
        // only then.
        let disabled = job.state == Some(JobState::Disabled);
        if !disabled && (!replace || !same) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "OperationInvalidForCurrentState",
                "The pool of a job can be changed only while the job is disabled.",
            )
            .with("PropertyName", "poolInfo"));
        }
    }

    if let Some(pool) = ch.pool_info {
        job.pool_info = pool;
        if let Some(info) = job.execution_info.as_mut() {
            info.pool_id = job.pool_info.pool_id.clone();
        }
    }
    if let Some(v) = completion {
        job.on_all_tasks_complete = Some(v);
    }
    match (ch.priority, replace) {
        (Some(p), _) => job.priority = Some(p),
        (None, true) => job.priority = Some(0),
        (None, false) => {}
    }
    match (ch.max_parallel_tasks, replace) {
        (Some(m), _) => job.max_parallel_tasks = Some(m),
        (None, true) => job.max_parallel_tasks = Some(-1),
        (None, false) => {}
    }
    match (ch.allow_task_preemption, replace) {
        (Some(a), _) => {
            job.extra
                .insert("allowTaskPreemption".into(), Value::Bool(a));
        }
        (None, true) => {
            job.extra
                .insert("allowTaskPreemption".into(), Value::Bool(false));
        }
        (None, false) => {}
    }
    match (ch.constraints, replace) {
        (Some(c), _) => job.constraints = Some(with_defaults(c)),
        (None, true) => job.constraints = Some(with_defaults(JobConstraints::default())),
        (None, false) => {}
    }
    match (ch.metadata, replace) {
        (Some(m), _) if !m.is_empty() => {
            job.extra.insert(
                "metadata".into(),
                serde_json::to_value(m).unwrap_or_default(),
            );
        }
        (Some(_), _) | (None, true) => {
            job.extra.remove("metadata");
        }
        (None, false) => {}
    }
    Ok(())
}

/// Job constraints with the service's defaults for what is not given.
pub(super) fn with_defaults(c: JobConstraints) -> JobConstraints {
    JobConstraints {
        max_wall_clock_time: c.max_wall_clock_time.or_else(|| Some(UNLIMITED.into())),
        max_task_retry_count: c.max_task_retry_count.or(Some(0)),
    }
}

fn updated(job: &mut Job, now: DateTime<Utc>) -> Reply {
    job.last_modified = Some(now);
    let tag = etag(now);
    job.e_tag = Some(tag.clone());
    Reply::empty(StatusCode::OK)
        .header("etag", tag)
        .header("last-modified", http_date(now))
        .header("content-length", "0")
}

fn change(svc: &Arc<BatchService>, c: &Ctx, j: &str, replace: bool) -> Res {
    let changes: JobChanges = c.json()?;
    let k = key(j);
    let (mut st, now) = svc.lock_at();
    let rec = st.jobs.get_mut(&k).ok_or_else(ApiError::job_not_found)?;
    job_settled(rec.job.state.as_ref())?;
    let mut job = rec.job.clone();
    apply(&mut job, changes, replace)?;
    let reply = updated(&mut job, now);
    rec.job = job;
    let mut tx = Tx::default();
    tx.job(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(reply)
}

/// `PATCH /jobs/{id}`: the properties given replace the job's; the others stay.
pub(super) fn patch_job(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    change(svc, c, j, false)
}

/// `PUT /jobs/{id}`: every updatable property replaced; omitted ones get their defaults
/// (priority 0, no constraints, no metadata, ...).
pub(super) fn replace_job(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    change(svc, c, j, true)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DisableBody {
    disable_tasks: Option<DisableJobOption>,
}

/// `POST /jobs/{id}/disable`: no new task starts; running ones are requeued, terminated, or
/// left to finish (`disableTasks`), after which the job is `disabled`.
pub(super) fn disable_job(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let body: DisableBody = c.json()?;
    let Some(how) = body.disable_tasks else {
        return Err(ApiError::missing_property("disableTasks"));
    };
    if let DisableJobOption::Unknown(v) = how {
        return Err(ApiError::invalid_property("disableTasks", v));
    }
    let jk = key(j);
    let mut kills = Vec::new();
    {
        let (mut guard, now) = svc.lock_at();
        let st = &mut *guard;
        let rec = st.jobs.get_mut(&jk).ok_or_else(ApiError::job_not_found)?;
        job_settled(rec.job.state.as_ref())?;
        if matches!(
            rec.job.state,
            Some(JobState::Disabled | JobState::Disabling)
        ) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "JobDisabled",
                "The specified job is already disabled.",
            ));
        }
        if rec.job.state != Some(JobState::Active) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "JobNotActive",
                "The specified job is not in an active state.",
            ));
        }
        set_job_state(&mut rec.job, JobState::Disabling, now);
        let mut tx = Tx::default();
        tx.job(&jk, rec);
        if how != DisableJobOption::Wait {
            for (tk, t) in st
                .tasks
                .range_mut((jk.clone(), String::new())..)
                .take_while(|(k, _)| k.0 == jk)
            {
                if !matches!(t.state(), TaskState::Running | TaskState::Preparing) {
                    continue;
                }
                kills.extend(t.runs());
                if how == DisableJobOption::Requeue {
                    requeue(t, now);
                } else {
                    terminate_run(t, now);
                }
                tx.task(tk, t);
            }
        }
        svc.commit(tx)?;
    }
    for r in kills {
        svc.procs.kill(r);
    }
    svc.wake.notify_one();
    Ok(accepted(None))
}

/// `POST /jobs/{id}/enable`: a disabled (or disabling) job becomes active again.
pub(super) fn enable_job(svc: &Arc<BatchService>, j: &str) -> Res {
    let jk = key(j);
    let (mut st, now) = svc.lock_at();
    let rec = st.jobs.get_mut(&jk).ok_or_else(ApiError::job_not_found)?;
    job_settled(rec.job.state.as_ref())?;
    if !matches!(
        rec.job.state,
        Some(JobState::Disabled | JobState::Disabling)
    ) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "OperationInvalidForCurrentState",
            "The specified job is not disabled.",
        ));
    }
    set_job_state(&mut rec.job, JobState::Enabling, now);
    let mut tx = Tx::default();
    tx.job(&jk, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}
