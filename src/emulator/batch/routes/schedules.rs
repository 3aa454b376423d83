//! Job schedules: create, get, exists, list, update (PATCH), replace (PUT), disable, enable,
//! terminate, delete, and the jobs a schedule created. The scheduler creates the jobs
//! (`scheduler/schedules.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::autopools::check_pool_info;
use super::common::{
    Ctx, Reply, Res, accepted, created, from_json_value, list_reply, seg, updated, valid_id,
    with_meta,
};
use super::job_updates::{check_job_values, with_defaults};
use super::jobs::check_job_tasks;
use super::jobs::render_job;
use crate::azure::models::{
    JobConstraints, JobSchedule, JobScheduleExecutionInfo, JobScheduleState, JobSpecification,
    Schedule,
};
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata;
use crate::emulator::batch::scheduler::{parse_duration, scaled};
use crate::emulator::batch::state::{ScheduleRec, State, Tx, key};
use crate::emulator::batch::{BatchService, etag};

/// The service refuses recurrence intervals and start windows under a minute.
const MIN_SCHEDULE_DURATION: Duration = Duration::from_secs(60);

pub fn schedule_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "JobScheduleNotFound",
        "The specified job schedule does not exist.",
    )
}

fn being_deleted() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "JobScheduleBeingDeleted",
        "The specified job schedule has been marked for deletion and is being reclaimed.",
    )
}

fn being_terminated() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "JobScheduleBeingTerminated",
        "The specified job schedule is being terminated.",
    )
}

fn completed() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "JobScheduleCompleted",
        "The specified job schedule is already in completed state.",
    )
}

fn render(base: &str, r: &ScheduleRec) -> Value {
    let mut s = r.schedule.clone();
    s.url = Some(format!("{base}/jobschedules/{}", seg(&s.id)));
    if let Some(j) = s
        .execution_info
        .as_mut()
        .and_then(|i| i.recent_job.as_mut())
    {
        j.url = Some(format!("{base}/jobs/{}", seg(&j.id)));
    }
    serde_json::to_value(s).unwrap_or_default()
}

/// A duration property of a schedule, at least a minute.
fn schedule_duration(name: &str, v: &Option<String>) -> Result<(), ApiError> {
    if let Some(v) = v {
        match parse_duration(v) {
            Some(d) if d >= MIN_SCHEDULE_DURATION => {}
            _ => return Err(ApiError::invalid_property(name, v.clone())),
        }
    }
    Ok(())
}

fn check_schedule(s: &Schedule) -> Result<(), ApiError> {
    schedule_duration("schedule.startWindow", &s.start_window)?;
    schedule_duration("schedule.recurrenceInterval", &s.recurrence_interval)?;
    if let (Some(until), Some(after)) = (s.do_not_run_until, s.do_not_run_after)
        && after < until
    {
        return Err(ApiError::invalid_property(
            "schedule.doNotRunAfter",
            crate::azure::models::timestamp::format(&after),
        ));
    }
    Ok(())
}

/// Checks a job specification and fills the defaults the service shows on it.
fn check_spec(spec: &mut JobSpecification) -> Result<(), ApiError> {
    check_pool_info(&spec.pool_info, true)?;
    check_job_tasks(&spec.extra)?;
    let x = &mut spec.extra;
    x.entry("priority").or_insert(Value::from(0));
    x.entry("usesTaskDependencies")
        .or_insert(Value::Bool(false));
    x.entry("onAllTasksComplete")
        .or_insert(Value::from("noaction"));
    x.entry("onTaskFailure").or_insert(Value::from("noaction"));
    // The same checks and constraint defaults as a job's.
    let int = |name: &str| x.get(name).and_then(Value::as_i64).map(|v| v as i32);
    let cons: JobConstraints = match x.get("constraints").filter(|v| !v.is_null()) {
        Some(v) => from_json_value(v.clone())?,
        None => JobConstraints::default(),
    };
    check_job_values(int("priority"), int("maxParallelTasks"), Some(&cons))?;
    let cons = serde_json::to_value(with_defaults(cons)).unwrap_or_default();
    x.insert("constraints".into(), cons);
    Ok(())
}

/// When a schedule's first job is due: at once, or at doNotRunUntil.
fn first_run(s: &Schedule, now: DateTime<Utc>) -> DateTime<Utc> {
    s.do_not_run_until.filter(|t| *t > now).unwrap_or(now)
}

pub(super) fn add_schedule(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let mut js: JobSchedule = c.json()?;
    if js.id.is_empty() {
        return Err(ApiError::missing_property("id"));
    }
    if !valid_id(&js.id) {
        return Err(ApiError::invalid_property("id", js.id));
    }
    let Some(schedule) = js.schedule.as_ref() else {
        return Err(ApiError::missing_property("schedule"));
    };
    check_schedule(schedule)?;
    let Some(spec) = js.job_specification.as_mut() else {
        return Err(ApiError::missing_property("jobSpecification"));
    };
    check_spec(spec)?;
    let now = Utc::now();
    let k = key(&js.id);
    let mut st = svc.lock();
    if st.schedules.contains_key(&k) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobScheduleExists",
            "The specified job schedule already exists.",
        ));
    }
    if st.jobs.contains_key(&k) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobWithSameIdExists",
            "A job with the specified job schedule id exists. Job and job schedule cannot have the same id.",
        ));
    }
    let tag = etag(now);
    js.url = None;
    js.e_tag = Some(tag.clone());
    js.last_modified = Some(now);
    js.creation_time = Some(now);
    js.state = Some(JobScheduleState::Active);
    js.state_transition_time = Some(now);
    js.previous_state = None;
    js.previous_state_transition_time = None;
    js.execution_info = Some(JobScheduleExecutionInfo {
        next_run_time: Some(first_run(schedule_of(&js), now)),
        ..JobScheduleExecutionInfo::default()
    });
    let path = format!("jobschedules/{}", seg(&js.id));
    let rec = ScheduleRec {
        schedule: js,
        next_job: 1,
        due_since: None,
        active_job: None,
    };
    let mut tx = Tx::default();
    tx.schedule(&k, &rec);
    svc.commit(tx)?;
    st.schedules.insert(k, rec);
    drop(st);
    svc.wake.notify_one();
    Ok(created(c, path, &tag, now))
}

fn schedule_of(js: &JobSchedule) -> &Schedule {
    const NONE: &Schedule = &Schedule {
        do_not_run_until: None,
        do_not_run_after: None,
        start_window: None,
        recurrence_interval: None,
    };
    js.schedule.as_ref().unwrap_or(NONE)
}

pub(super) fn list_schedules(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let items: Vec<(String, Value)> = {
        let st = svc.lock();
        st.schedules
            .iter()
            .map(|(k, s)| (k.clone(), render(&c.base, s)))
            .collect()
    };
    list_reply(c, "jobschedules", items)
}

pub(super) fn get_schedule(svc: &Arc<BatchService>, c: &Ctx, s: &str) -> Res {
    let st = svc.lock();
    let rec = st.schedules.get(&key(s)).ok_or_else(schedule_not_found)?;
    let v = odata::select(
        render(&c.base, rec),
        c.q("$select").map(odata::parse_select).as_deref(),
    );
    Ok(Reply::json(
        StatusCode::OK,
        &with_meta(v, format!("{}/$metadata#jobschedules/@Element", c.base)),
    )
    .entity(rec.schedule.e_tag.as_ref(), rec.schedule.last_modified))
}

/// The jobs a schedule created.
pub(super) fn list_schedule_jobs(svc: &Arc<BatchService>, c: &Ctx, s: &str) -> Res {
    let sk = key(s);
    let items: Vec<(String, Value)> = {
        let st = svc.lock();
        st.schedules.get(&sk).ok_or_else(schedule_not_found)?;
        st.jobs
            .iter()
            .filter(|(_, j)| j.schedule.as_deref() == Some(sk.as_str()))
            .map(|(k, j)| (k.clone(), render_job(&c.base, j)))
            .collect()
    };
    list_reply(c, "jobs", items)
}

/// A schedule that can be changed, or the service's 409 for one that is going away.
fn changeable<'a>(st: &'a mut State, s: &str) -> Result<&'a mut ScheduleRec, ApiError> {
    let rec = st
        .schedules
        .get_mut(&key(s))
        .ok_or_else(schedule_not_found)?;
    match rec.schedule.state {
        Some(JobScheduleState::Deleting) => Err(being_deleted()),
        Some(JobScheduleState::Terminating) => Err(being_terminated()),
        _ => Ok(rec),
    }
}

fn touch(rec: &mut ScheduleRec, now: DateTime<Utc>) -> String {
    let tag = etag(now);
    rec.schedule.e_tag = Some(tag.clone());
    rec.schedule.last_modified = Some(now);
    tag
}

fn set_state(rec: &mut ScheduleRec, new: JobScheduleState, now: DateTime<Utc>) {
    let js = &mut rec.schedule;
    if js.state.as_ref() != Some(&new) {
        js.previous_state = js.state.take();
        js.previous_state_transition_time = js.state_transition_time;
        js.state = Some(new);
        js.state_transition_time = Some(now);
    }
}

/// A schedule whose timing changed runs next by the new timing, from now.
fn reschedule(rec: &mut ScheduleRec, svc: &BatchService, now: DateTime<Utc>) {
    let s = schedule_of(&rec.schedule).clone();
    let next = if rec.next_job == 1 {
        Some(first_run(&s, now))
    } else {
        s.recurrence_interval
            .as_deref()
            .and_then(parse_duration)
            .map(|d| {
                s.do_not_run_until
                    .filter(|t| *t > now)
                    .unwrap_or(now + scaled(svc, d))
            })
    };
    rec.due_since = None;
    if let Some(info) = rec.schedule.execution_info.as_mut() {
        info.next_run_time = next;
    }
}

/// PATCH changes the properties given; PUT replaces them all (what it leaves out is removed).
pub(super) fn update_schedule(svc: &Arc<BatchService>, c: &Ctx, s: &str, replace: bool) -> Res {
    let body: Value = c.json()?;
    let new_schedule: Option<Schedule> = body
        .get("schedule")
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| ApiError::bad_body(format!("{e} at schedule")))?;
    let new_spec: Option<JobSpecification> = body
        .get("jobSpecification")
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| ApiError::bad_body(format!("{e} at jobSpecification")))?;
    if replace && new_spec.is_none() {
        return Err(ApiError::missing_property("jobSpecification"));
    }
    if let Some(sch) = &new_schedule {
        check_schedule(sch)?;
    }
    let mut new_spec = new_spec;
    if let Some(spec) = new_spec.as_mut() {
        check_spec(spec)?;
    }
    let now = Utc::now();
    let mut st = svc.lock();
    let rec = changeable(&mut st, s)?;
    if rec.schedule.state == Some(JobScheduleState::Completed) {
        return Err(completed());
    }
    let timing = new_schedule.is_some() || replace;
    if replace {
        rec.schedule.schedule = Some(new_schedule.unwrap_or_default());
        rec.schedule.job_specification = new_spec;
        match body.get("metadata") {
            Some(m) => rec.schedule.extra.insert("metadata".into(), m.clone()),
            None => rec.schedule.extra.remove("metadata"),
        };
    } else {
        if let Some(sch) = new_schedule {
            rec.schedule.schedule = Some(sch);
        }
        if let Some(spec) = new_spec {
            rec.schedule.job_specification = Some(spec);
        }
        if let Some(m) = body.get("metadata") {
            rec.schedule.extra.insert("metadata".into(), m.clone());
        }
    }
    if timing {
        reschedule(rec, svc, now);
    }
    let tag = touch(rec, now);
    let path = format!("jobschedules/{}", seg(&rec.schedule.id));
    let mut tx = Tx::default();
    tx.schedule(&key(s), rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(updated(c, path, &tag, now))
}

pub(super) fn disable_schedule(svc: &Arc<BatchService>, c: &Ctx, s: &str) -> Res {
    enable_or_disable(svc, c, s, false)
}

pub(super) fn enable_schedule(svc: &Arc<BatchService>, c: &Ctx, s: &str) -> Res {
    enable_or_disable(svc, c, s, true)
}

fn enable_or_disable(svc: &Arc<BatchService>, c: &Ctx, s: &str, enable: bool) -> Res {
    let now = Utc::now();
    let mut st = svc.lock();
    let rec = changeable(&mut st, s)?;
    if rec.schedule.state == Some(JobScheduleState::Completed) {
        return Err(completed());
    }
    set_state(
        rec,
        if enable {
            JobScheduleState::Active
        } else {
            JobScheduleState::Disabled
        },
        now,
    );
    let tag = touch(rec, now);
    let op = if enable { "enable" } else { "disable" };
    let path = format!("jobschedules/{}/{op}", seg(&rec.schedule.id));
    let mut tx = Tx::default();
    tx.schedule(&key(s), rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    let r = updated(c, path, &tag, now);
    Ok(Reply {
        status: StatusCode::NO_CONTENT,
        ..r
    })
}

pub(super) fn terminate_schedule(svc: &Arc<BatchService>, c: &Ctx, s: &str) -> Res {
    let now = Utc::now();
    let mut st = svc.lock();
    let rec = changeable(&mut st, s)?;
    if rec.schedule.state == Some(JobScheduleState::Completed) {
        return Err(completed());
    }
    set_state(rec, JobScheduleState::Terminating, now);
    let tag = touch(rec, now);
    let path = format!(
        "{}/jobschedules/{}/terminate",
        c.base,
        seg(&rec.schedule.id)
    );
    let mut tx = Tx::default();
    tx.schedule(&key(s), rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(Some(path))
        .header("etag", tag)
        .header("last-modified", crate::azure::auth::http_date(now)))
}

pub(super) fn delete_schedule(svc: &Arc<BatchService>, s: &str) -> Res {
    let now = Utc::now();
    let mut st = svc.lock();
    let rec = st
        .schedules
        .get_mut(&key(s))
        .ok_or_else(schedule_not_found)?;
    if rec.schedule.state == Some(JobScheduleState::Deleting) {
        return Err(being_deleted());
    }
    set_state(rec, JobScheduleState::Deleting, now);
    touch(rec, now);
    let mut tx = Tx::default();
    tx.schedule(&key(s), rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}
