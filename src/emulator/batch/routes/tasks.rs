//! Tasks: add (one, or a collection), list, get, delete, terminate, reactivate.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::common::{
    Ctx, Reply, Res, UNLIMITED, created, from_json_value, list_reply, seg, valid_id, with_meta,
};
use super::job_updates::constraint_error;
use crate::azure::models::{
    self, DependencyAction, ExitConditions, Job, JobAction, JobState, OnTaskFailure, Task,
    TaskAddResult, TaskAddStatus, TaskConstraints, TaskDependencies, TaskExecutionInfo,
    TaskExecutionResult, TaskState,
};
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata;
use crate::emulator::batch::scheduler::{dependencies, job_tasks, set_task_state, terminate_run};
use crate::emulator::batch::state::{State, TaskRec, Tx, key};
use crate::emulator::batch::{BatchService, etag};

/// The service refuses task collections larger than this.
const MAX_TASK_COLLECTION_BYTES: usize = 1024 * 1024;

fn render_task(base: &str, job_id: &str, t: &TaskRec) -> Value {
    let mut task = t.task.clone();
    let url = format!("{base}/jobs/{}/tasks/{}", seg(job_id), seg(&task.id));
    if let Some(ni) = task.node_info.as_mut() {
        node_urls(base, ni);
    }
    task.url = Some(url);
    serde_json::to_value(task).unwrap_or_default()
}

/// The node's URL and the task directory's, in a task's (or subtask's) node info.
pub(super) fn node_urls(base: &str, ni: &mut models::TaskNodeInfo) {
    if let (Some(p), Some(n)) = (&ni.pool_id, &ni.node_id) {
        let node_url = format!("{base}/pools/{}/nodes/{}", seg(p), seg(n));
        ni.task_root_directory_url = ni
            .task_root_directory
            .as_ref()
            .map(|d| format!("{node_url}/files/{d}"));
        ni.node_url = Some(node_url);
    }
}

/// Validates a task add body and fills the service's defaults; `Err` is the client error.
pub(crate) fn new_task(job: &Job, v: Value, now: DateTime<Utc>) -> Result<Task, ApiError> {
    let mut task: Task = from_json_value(v)?;
    if task.id.is_empty() {
        return Err(ApiError::missing_property("id"));
    }
    if !valid_id(&task.id) {
        return Err(ApiError::invalid_property("id", task.id));
    }
    if task.command_line.trim().is_empty() {
        return Err(ApiError::missing_property("commandLine"));
    }
    if let Some(m) = task.multi_instance_settings.as_mut() {
        if m.coordination_command_line.trim().is_empty() {
            return Err(ApiError::missing_property(
                "multiInstanceSettings.coordinationCommandLine",
            ));
        }
        let n = m.number_of_instances.get_or_insert(1);
        if *n < 1 {
            return Err(ApiError::invalid_property(
                "multiInstanceSettings.numberOfInstances",
                n.to_string(),
            ));
        }
    }
    if task.required_slots.is_some_and(|s| s < 1) {
        return Err(ApiError::invalid_property(
            "requiredSlots",
            task.required_slots.unwrap_or(0).to_string(),
        ));
    }
    task.constraints = Some(task_constraints(job, task.constraints.take())?);
    check_dependencies(job, &task)?;
    let same = |id: Option<String>, default: &str| {
        id.unwrap_or_else(|| default.into())
            .eq_ignore_ascii_case(&task.id)
    };
    if job_tasks::preparation(job).is_some_and(|p| same(p.id, job_tasks::PREPARATION_ID)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "TaskIdSameAsJobPreparationTask",
            "The task id is the same as that of the job preparation task.",
        ));
    }
    if job_tasks::release(job).is_some_and(|r| same(r.id, job_tasks::RELEASE_ID)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "TaskIdSameAsJobReleaseTask",
            "The task id is the same as that of the job release task.",
        ));
    }
    task.required_slots.get_or_insert(1);
    task.user_identity.get_or_insert_with(
        || json!({"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}),
    );
    task.url = None;
    task.creation_time = Some(now);
    task.last_modified = Some(now);
    task.e_tag = Some(etag(now));
    task.state = Some(TaskState::Active);
    task.state_transition_time = Some(now);
    task.previous_state = None;
    task.execution_info = Some(TaskExecutionInfo::default());
    task.node_info = None;
    Ok(task)
}

fn job_for_tasks(st: &State, jk: &str) -> Result<Job, ApiError> {
    let job = st.jobs.get(jk).ok_or_else(ApiError::job_not_found)?;
    match job.job.state {
        Some(JobState::Completed | JobState::Terminating) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobCompleted",
            "The specified job is already in a completed state.",
        )),
        Some(JobState::Deleting) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobBeingDeleted",
            "The specified job has been marked for deletion and is being garbage collected.",
        )),
        _ => Ok(job.job.clone()),
    }
}

fn task_exists() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "TaskExists",
        "The specified task already exists.",
    )
}

pub(super) fn add_task(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let v: Value = c.json()?;
    let jk = key(j);
    let (mut st, now) = svc.lock_at();
    let job = job_for_tasks(&st, &jk)?;
    let task = new_task(&job, v, now)?;
    let tk = (jk.clone(), key(&task.id));
    if st.tasks.contains_key(&tk) {
        return Err(task_exists());
    }
    let tag = task.e_tag.clone().unwrap_or_default();
    let path = format!("jobs/{}/tasks/{}", seg(&job.id), seg(&task.id));
    let rec = TaskRec {
        job_key: jk,
        task,
        node: None,
        run: None,
        pgid: None,
        files_removed: false,
        subtasks: Vec::new(),
        kept_groups: Vec::new(),
    };
    let mut tx = Tx::default();
    tx.task(&tk, &rec);
    svc.commit(tx)?;
    st.tasks.insert(tk, rec);
    drop(st);
    svc.wake.notify_one();
    Ok(created(c, path, &tag, now))
}

pub(super) fn add_task_collection(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
        )
    };
    if c.body.len() > MAX_TASK_COLLECTION_BYTES {
        return Err(too_large().with("MaxLimit", MAX_TASK_COLLECTION_BYTES.to_string()));
    }
    let body: models::TaskCollection = c.json()?;
    if body.value.len() > 100 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The number of tasks in the request exceeds the maximum of 100 per call.",
        )
        .with("MaxLimit", "100"));
    }
    let jk = key(j);
    let mut st = svc.lock();
    let job = job_for_tasks(&st, &jk)?;
    let mut results = Vec::new();
    let mut added = Vec::new();
    let mut tx = Tx::default();
    for v in body.value {
        // Each task gets its own creation time, as the service adds them one after the other:
        // a `stateTransitionTime ge` filter then returns only tasks that are new to it.
        let now = st.now();
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let outcome = new_task(&job, v, now).and_then(|t| {
            let tk = (jk.clone(), key(&t.id));
            if st.tasks.contains_key(&tk) || added.iter().any(|(k, _)| *k == tk) {
                Err(task_exists())
            } else {
                Ok((tk, t))
            }
        });
        match outcome {
            Ok((tk, task)) => {
                results.push(TaskAddResult {
                    status: TaskAddStatus::Success,
                    task_id: task.id.clone(),
                    e_tag: task.e_tag.clone(),
                    last_modified: Some(now),
                    location: Some(format!(
                        "{}/jobs/{}/tasks/{}",
                        c.base,
                        seg(&job.id),
                        seg(&task.id)
                    )),
                    error: None,
                    already_existed: false,
                });
                let rec = TaskRec {
                    job_key: jk.clone(),
                    task,
                    node: None,
                    run: None,
                    pgid: None,
                    files_removed: false,
                    subtasks: Vec::new(),
                    kept_groups: Vec::new(),
                };
                tx.task(&tk, &rec);
                added.push((tk, rec));
            }
            Err(e) => {
                let mut body = e.body(&c.base, &uuid::Uuid::new_v4().to_string());
                body.odata_metadata = None;
                results.push(TaskAddResult {
                    status: if e.status.is_server_error() {
                        TaskAddStatus::ServerError
                    } else {
                        TaskAddStatus::ClientError
                    },
                    task_id: id,
                    e_tag: None,
                    last_modified: None,
                    location: None,
                    error: Some(body),
                    already_existed: false,
                })
            }
        }
    }
    svc.commit(tx)?;
    for (k, r) in added {
        st.tasks.insert(k, r);
    }
    drop(st);
    svc.wake.notify_one();
    let out = json!({
        "odata.metadata": format!("{}/$metadata#taskaddresult", c.base),
        "value": results,
    });
    Ok(Reply::json(StatusCode::OK, &out))
}

pub(super) fn list_tasks(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    use std::ops::Bound;
    let jk = key(j);
    let st = svc.lock();
    let job = st.jobs.get(&jk).ok_or_else(ApiError::job_not_found)?;
    // From where the last page stopped, rendered only as far as this page goes.
    let from = match c.q("$skiptoken") {
        Some(t) => Bound::Excluded((jk.clone(), t.to_string())),
        None => Bound::Included((jk.clone(), String::new())),
    };
    let items = st
        .tasks
        .range((from, Bound::Unbounded))
        .take_while(|(k, _)| k.0 == jk)
        .map(|(k, t)| (k.1.clone(), render_task(&c.base, &job.job.id, t)));
    list_reply(c, "tasks", items)
}

pub(super) fn get_task(svc: &Arc<BatchService>, c: &Ctx, j: &str, t: &str) -> Res {
    let st = svc.lock();
    let job = st.jobs.get(&key(j)).ok_or_else(ApiError::job_not_found)?;
    let rec = st
        .tasks
        .get(&(key(j), key(t)))
        .ok_or_else(ApiError::task_not_found)?;
    let v = odata::select(
        render_task(&c.base, &job.job.id, rec),
        c.q("$select").map(odata::parse_select).as_deref(),
    );
    Ok(Reply::json(
        StatusCode::OK,
        &with_meta(v, format!("{}/$metadata#tasks/@Element", c.base)),
    )
    .entity(rec.task.e_tag.as_ref(), rec.task.last_modified))
}

pub(super) fn delete_task(svc: &Arc<BatchService>, j: &str, t: &str) -> Res {
    let tk = (key(j), key(t));
    let runs = {
        let mut st = svc.lock();
        st.jobs.get(&tk.0).ok_or_else(ApiError::job_not_found)?;
        let rec = st.tasks.get(&tk).ok_or_else(ApiError::task_not_found)?;
        let runs = rec.runs();
        let mut tx = Tx::default();
        tx.del_task(&tk);
        svc.commit(tx)?;
        if let Some(mut rec) = st.tasks.remove(&tk) {
            rec.end_instances();
        }
        runs
    };
    for r in runs {
        svc.procs.kill(r);
    }
    svc.wake.notify_one();
    Ok(Reply::empty(StatusCode::OK).header("content-length", "0"))
}

pub(super) fn terminate_task(svc: &Arc<BatchService>, j: &str, t: &str) -> Res {
    let tk = (key(j), key(t));
    let runs = {
        let (mut st, now) = svc.lock_at();
        st.jobs.get(&tk.0).ok_or_else(ApiError::job_not_found)?;
        let rec = st.tasks.get_mut(&tk).ok_or_else(ApiError::task_not_found)?;
        if *rec.state() == TaskState::Completed {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "TaskCompleted",
                "The specified task is already completed.",
            ));
        }
        let runs = rec.runs();
        terminate_run(rec, now);
        let mut tx = Tx::default();
        tx.task(&tk, rec);
        svc.commit(tx)?;
        runs
    };
    for r in runs {
        svc.procs.kill(r);
    }
    svc.wake.notify_one();
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

pub(super) fn reactivate_task(svc: &Arc<BatchService>, j: &str, t: &str) -> Res {
    let tk = (key(j), key(t));
    let (mut st, now) = svc.lock_at();
    st.jobs.get(&tk.0).ok_or_else(ApiError::job_not_found)?;
    let rec = st.tasks.get_mut(&tk).ok_or_else(ApiError::task_not_found)?;
    let failed = *rec.state() == TaskState::Completed
        && rec
            .task
            .execution_info
            .as_ref()
            .and_then(|i| i.result.as_ref())
            == Some(&TaskExecutionResult::Failure);
    if !failed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "TaskNotFailed",
            "The specified task did not fail and cannot be reactivated.",
        ));
    }
    if let Some(info) = rec.task.execution_info.as_mut() {
        info.retry_count = 0;
        info.exit_code = None;
        info.failure_info = None;
        info.result = None;
        info.end_time = None;
    }
    set_task_state(rec, TaskState::Active, now);
    let mut tx = Tx::default();
    tx.task(&tk, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskUpdate {
    constraints: Option<TaskConstraints>,
}

/// A task's constraints with the service's defaults for what is not given (the retry count
/// is the job's).
fn task_constraints(job: &Job, c: Option<TaskConstraints>) -> Result<TaskConstraints, ApiError> {
    let mut c = c.unwrap_or_default();
    if let Some(r) = c.max_task_retry_count
        && r < -1
    {
        return Err(constraint_error("constraints.maxTaskRetryCount", r));
    }
    let job_retries = job
        .constraints
        .as_ref()
        .and_then(|c| c.max_task_retry_count)
        .unwrap_or(0);
    c.max_wall_clock_time
        .get_or_insert_with(|| UNLIMITED.into());
    c.retention_time.get_or_insert_with(|| "P7D".into());
    c.max_task_retry_count.get_or_insert(job_retries);
    Ok(c)
}

/// `PUT /jobs/{job}/tasks/{task}`: the task's constraints are replaced; omitted, they are the
/// defaults.
pub(super) fn update_task(svc: &Arc<BatchService>, c: &Ctx, j: &str, t: &str) -> Res {
    let body: TaskUpdate = c.json()?;
    let tk = (key(j), key(t));
    let (mut guard, now) = svc.lock_at();
    let st = &mut *guard;
    let job = st
        .jobs
        .get(&tk.0)
        .ok_or_else(ApiError::job_not_found)?
        .job
        .clone();
    let rec = st.tasks.get_mut(&tk).ok_or_else(ApiError::task_not_found)?;
    rec.task.constraints = Some(task_constraints(&job, body.constraints)?);
    rec.task.last_modified = Some(now);
    let tag = etag(now);
    rec.task.e_tag = Some(tag.clone());
    let mut tx = Tx::default();
    tx.task(&tk, rec);
    svc.commit(tx)?;
    drop(guard);
    svc.wake.notify_one();
    Ok(Reply::empty(StatusCode::OK)
        .header("etag", tag)
        .header("last-modified", crate::azure::auth::http_date(now))
        .header("content-length", "0"))
}

/// The checks of `dependsOn` and `exitConditions` at add time: dependencies only in a job that
/// uses them, ranges in order, actions the service knows, job actions only in a job whose
/// `onTaskFailure` performs them.
fn check_dependencies(job: &Job, task: &Task) -> Result<(), ApiError> {
    // Their shapes first, strictly (the scheduler reads them leniently later).
    if let Some(v) = task.extra.get("dependsOn").filter(|v| !v.is_null()) {
        from_json_value::<TaskDependencies>(v.clone())
            .map_err(|e| e.with("PropertyName", "dependsOn"))?;
    }
    if let Some(v) = task.extra.get("exitConditions").filter(|v| !v.is_null()) {
        from_json_value::<ExitConditions>(v.clone())
            .map_err(|e| e.with("PropertyName", "exitConditions"))?;
    }
    if let Some(deps) = dependencies::depends_on(task) {
        let uses = job
            .extra
            .get("usesTaskDependencies")
            .and_then(Value::as_bool)
            == Some(true);
        if !uses {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "TaskDependenciesNotSpecifiedOnJob",
                "The specified task has dependencies, but the job does not use task dependencies (usesTaskDependencies).",
            ));
        }
        if let Some(r) = deps.task_id_ranges.iter().find(|r| r.start > r.end) {
            return Err(ApiError::invalid_property(
                "dependsOn.taskIdRanges",
                format!("{}-{}", r.start, r.end),
            ));
        }
        let listed: usize = deps.task_ids.iter().map(String::len).sum();
        if listed > 64_000 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "TaskDependencyListTooLong",
                "The list of task ids the task depends on is too long; use taskIdRanges.",
            ));
        }
    }
    if let Some(cond) = dependencies::exit_conditions(task) {
        let performs = job.on_task_failure == Some(OnTaskFailure::PerformExitOptionsJobAction);
        for o in dependencies::all_options(&cond) {
            if let Some(DependencyAction::Unknown(a)) = &o.dependency_action {
                return Err(ApiError::invalid_property(
                    "exitConditions.dependencyAction",
                    a.clone(),
                ));
            }
            match &o.job_action {
                Some(JobAction::Unknown(a)) => {
                    return Err(ApiError::invalid_property(
                        "exitConditions.jobAction",
                        a.clone(),
                    ));
                }
                Some(a @ (JobAction::Disable | JobAction::Terminate)) if !performs => {
                    return Err(ApiError::invalid_property("exitConditions.jobAction", a.as_str())
                        .with("Reason", "The job's onTaskFailure is noaction: set it to performexitoptionsjobaction to use job actions."));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
