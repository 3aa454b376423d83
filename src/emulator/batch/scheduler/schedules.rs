//! Job schedules in the scheduler: each active schedule creates its next job
//! (`<schedule>:job-<n>`) when it is due and no job of it is active, within its start window;
//! recurs by its interval; completes after doNotRunAfter, or once the job of a schedule
//! without recurrence is done; terminating and deleting schedules take their jobs along. Auto
//! pools whose job or schedule is done are deleted here too.

use chrono::{DateTime, Utc};

use super::Effects;
use super::autoscale::scaled;
use super::passes::parse_duration;
use crate::azure::models::{
    Job, JobScheduleState, JobState, PoolLifetimeOption, PoolState, RecentJob, Schedule,
};
use crate::emulator::batch::routes::new_job_rec;
use crate::emulator::batch::state::{ScheduleRec, State, key};
use crate::emulator::batch::{BatchService, etag};

pub(super) fn schedules_step(
    svc: &BatchService,
    st: &mut State,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    let keys: Vec<String> = st.schedules.keys().cloned().collect();
    for sk in keys {
        let Some(state) = st.schedules.get(&sk).and_then(|s| s.schedule.state.clone()) else {
            continue;
        };
        // The schedule's job that is not done yet, if it still exists.
        let active = st
            .schedules
            .get(&sk)
            .and_then(|s| s.active_job.clone())
            .filter(|jk| {
                st.jobs
                    .get(jk)
                    .is_some_and(|j| j.job.state != Some(JobState::Completed))
            });
        match state {
            JobScheduleState::Deleting => {
                let mine: Vec<String> = st
                    .jobs
                    .iter()
                    .filter(|(_, j)| j.schedule.as_deref() == Some(sk.as_str()))
                    .map(|(k, _)| k.clone())
                    .collect();
                if mine.is_empty() {
                    st.schedules.remove(&sk);
                    fx.tx.del_schedule(&sk);
                    continue;
                }
                for jk in mine {
                    set_job_state(st, &jk, JobState::Deleting, now, fx);
                }
            }
            JobScheduleState::Terminating => match active {
                Some(jk) => {
                    if st.jobs.get(&jk).and_then(|j| j.job.state.clone()) == Some(JobState::Active)
                    {
                        set_job_state(st, &jk, JobState::Terminating, now, fx);
                    }
                }
                None => complete(st, &sk, now, fx),
            },
            JobScheduleState::Active => active_step(svc, st, &sk, active, now, fx),
            _ => {}
        }
    }
    retire_auto_pools(st, now, fx);
}

fn schedule_of(rec: &ScheduleRec) -> Schedule {
    rec.schedule.schedule.clone().unwrap_or_default()
}

fn active_step(
    svc: &BatchService,
    st: &mut State,
    sk: &str,
    active: Option<String>,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    let Some(rec) = st.schedules.get_mut(sk) else {
        return;
    };
    let was_active = rec.active_job.is_some();
    if active.is_none() && was_active {
        rec.active_job = None;
        fx.tx.schedule(sk, rec);
    }
    let sched = schedule_of(rec);
    let recurrence = sched
        .recurrence_interval
        .as_deref()
        .and_then(parse_duration);
    let next = rec
        .schedule
        .execution_info
        .as_ref()
        .and_then(|i| i.next_run_time);
    let past_deadline = sched.do_not_run_after.is_some_and(|t| now >= t);
    // A schedule without recurrence is done once its one job is; any schedule is done once
    // its deadline passed and no job of it runs.
    let ran_once = rec.next_job > 1 && recurrence.is_none();
    if active.is_none() && (past_deadline || (ran_once && next.is_none())) {
        complete(st, sk, now, fx);
        return;
    }
    let Some(due) = next else {
        return;
    };
    if now < due || past_deadline {
        return;
    }
    // Due: create the job within the start window, or lose this run (also while the previous
    // job still runs: a run is not carried forward).
    let window = sched
        .start_window
        .as_deref()
        .and_then(parse_duration)
        .map(|w| scaled(svc, w));
    let missed = window.is_some_and(|w| now > due + w);
    let later = recurrence.map(|r| {
        let step = scaled(svc, r);
        let mut t = due + step;
        // Runs missed while a job was still active are not carried forward.
        while t <= now {
            t += step;
        }
        t
    });
    if missed {
        if let Some(info) = rec.schedule.execution_info.as_mut() {
            info.next_run_time = later;
        }
        fx.tx.schedule(sk, rec);
        if later.is_none() && active.is_none() {
            complete(st, sk, now, fx);
        }
        return;
    }
    if active.is_some() {
        return;
    }
    let job_id = format!("{}:job-{}", rec.schedule.id, rec.next_job);
    let spec = rec.schedule.job_specification.clone().unwrap_or_default();
    let mut body = serde_json::to_value(&spec).unwrap_or_default();
    if let Some(o) = body.as_object_mut() {
        o.insert("id".into(), job_id.clone().into());
    }
    let job: Job = match serde_json::from_value(body) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(schedule = %sk, error = %e, "job specification does not make a job");
            return;
        }
    };
    let jk = key(&job_id);
    let job_rec = new_job_rec(svc, st, job, now, Some(sk.to_string()), &mut fx.tx);
    fx.tx.job(&jk, &job_rec);
    st.jobs.insert(jk.clone(), job_rec);
    let Some(rec) = st.schedules.get_mut(sk) else {
        return;
    };
    rec.next_job += 1;
    rec.active_job = Some(jk);
    if let Some(info) = rec.schedule.execution_info.as_mut() {
        info.recent_job = Some(RecentJob {
            id: job_id,
            url: None,
        });
        info.next_run_time = later;
    }
    fx.tx.schedule(sk, rec);
}

fn complete(st: &mut State, sk: &str, now: DateTime<Utc>, fx: &mut Effects) {
    let Some(rec) = st.schedules.get_mut(sk) else {
        return;
    };
    let js = &mut rec.schedule;
    js.previous_state = js.state.take();
    js.previous_state_transition_time = js.state_transition_time;
    js.state = Some(JobScheduleState::Completed);
    js.state_transition_time = Some(now);
    if let Some(info) = js.execution_info.as_mut() {
        info.end_time = Some(now);
        info.next_run_time = None;
    }
    rec.active_job = None;
    fx.tx.schedule(sk, rec);
}

/// A job moved to deleting or terminating, as the job operations move it; the job pass does
/// the rest.
fn set_job_state(st: &mut State, jk: &str, new: JobState, now: DateTime<Utc>, fx: &mut Effects) {
    let Some(j) = st.jobs.get_mut(jk) else {
        return;
    };
    let job = &mut j.job;
    if job.state == Some(new.clone()) || job.state == Some(JobState::Deleting) {
        return;
    }
    if new == JobState::Terminating && job.state == Some(JobState::Completed) {
        return;
    }
    job.previous_state = job.state.take();
    job.previous_state_transition_time = job.state_transition_time;
    job.state = Some(new.clone());
    job.state_transition_time = Some(now);
    job.last_modified = Some(now);
    job.e_tag = Some(etag(now));
    if new == JobState::Terminating
        && let Some(info) = job.execution_info.as_mut()
    {
        info.terminate_reason
            .get_or_insert_with(|| "UserTerminate".into());
    }
    fx.tx.job(jk, j);
}

/// Deletes auto pools whose job is done (completed or gone), or whose schedule is, unless they
/// are kept alive.
fn retire_auto_pools(st: &mut State, now: DateTime<Utc>, fx: &mut Effects) {
    let done: Vec<String> = st
        .pools
        .iter()
        .filter(|(_, p)| p.pool.state == Some(PoolState::Active))
        .filter(|(_, p)| {
            let Some(o) = &p.auto_owner else {
                return false;
            };
            if o.keep_alive {
                return false;
            }
            match o.lifetime {
                PoolLifetimeOption::JobSchedule => st.schedules.get(&o.key).is_none_or(|s| {
                    matches!(
                        s.schedule.state,
                        Some(JobScheduleState::Completed | JobScheduleState::Deleting)
                    )
                }),
                _ => st.jobs.get(&o.key).is_none_or(|j| {
                    matches!(j.job.state, Some(JobState::Completed | JobState::Deleting))
                }),
            }
        })
        .map(|(k, _)| k.clone())
        .collect();
    for pk in done {
        if let Some(p) = st.pools.get_mut(&pk) {
            p.pool.state = Some(PoolState::Deleting);
            p.pool.state_transition_time = Some(now);
            p.pool.last_modified = Some(now);
            p.pool.e_tag = Some(etag(now));
            fx.tx.pool(&pk, p);
        }
    }
}

/// When a schedule needs the scheduler next: its next run, if it is active.
pub(super) fn next_due(st: &State) -> Option<DateTime<Utc>> {
    st.schedules
        .values()
        .filter(|s| s.schedule.state == Some(JobScheduleState::Active))
        .filter_map(|s| s.schedule.execution_info.as_ref()?.next_run_time)
        .min()
}
