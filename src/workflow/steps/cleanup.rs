//! Step 9 (the job and the pool, as the flags or the user say), and what a failed run must keep
//! instead: work whose tasks may still run, with how to attach to it.

use crate::workflow::events::{Event, Resource, Step};
use crate::workflow::spec::Disposal;
use crate::workflow::wait::WaitError;

use super::{Asker, Question, Run, WorkflowError};

/// Why the job and pool of a failed run must be kept: tasks still active or running (unless
/// none can ever run, every node having failed its start task), or no way to tell.
pub(super) async fn work_in_progress(run: &Run<'_>, failure: &WorkflowError) -> Option<String> {
    let job = &run.spec.job_id;
    if !run.existing.contains(&Resource::Job(job.clone())) {
        return None;
    }
    match run.clients.batch.task_counts(job).await {
        Ok(c) => {
            let (active, running) = (c.task_counts.active, c.task_counts.running);
            let stuck = matches!(
                failure,
                WorkflowError::Wait(WaitError::StartTaskFailed { .. })
            );
            (running > 0 || (active > 0 && !stuck))
                .then(|| format!("{active} tasks active and {running} running"))
        }
        Err(e) => Some(format!(
            "the Batch service does not say whether tasks still run ({})",
            e.brief()
        )),
    }
}

/// How to come back to kept work.
pub fn attach_hint(job_id: &str, pool_id: &str) -> String {
    format!("batchdeck watch --job {job_id} --pool {pool_id}")
}

pub(super) async fn cleanup(
    run: &mut Run<'_>,
    ask: &mut Asker,
    busy: Option<String>,
) -> Result<(), WorkflowError> {
    let spec = run.spec;
    let batch = &run.clients.batch;
    if !run
        .existing
        .iter()
        .any(|r| matches!(r, Resource::Job(_) | Resource::Pool(_)))
    {
        return Ok(());
    }
    // 9. Job and pool.
    run.step(Step::Cleanup, async |run| {
        if let Some(why) = &busy {
            run.info(format!(
                "Keeping job [{}] and pool [{}]: {why}. Attach with `{}`, and delete them there (J, P) once their tasks are done.",
                spec.job_id,
                spec.pool_id,
                attach_hint(&spec.job_id, &spec.pool_id)
            ));
            return Ok(((), "job and pool kept: tasks may still run".to_string()));
        }
        let mut notes = Vec::new();
        for (r, disposal) in [
            (Resource::Job(spec.job_id.clone()), spec.delete_job),
            (Resource::Pool(spec.pool_id.clone()), spec.delete_pool),
        ] {
            if !run.existing.contains(&r) {
                continue;
            }
            let delete = match disposal {
                Disposal::Delete => true,
                Disposal::Keep => false,
                Disposal::Ask => {
                    ask(Question {
                        resource: r.clone(),
                        reused: run.reused.contains(&r),
                    })
                    .await
                }
            };
            let what = match r {
                Resource::Job(_) => "job",
                _ => "pool",
            };
            if !delete {
                notes.push(format!("{what} kept"));
                continue;
            }
            match &r {
                Resource::Job(id) => batch.delete_job(id).await?,
                Resource::Pool(id) => batch.delete_pool(id).await?,
                Resource::Container(_) => continue,
            };
            run.forget(&r);
            run.send(Event::Deleted(r.clone()));
            notes.push(format!("{what} deleted"));
        }
        Ok(((), notes.join(", ")))
    })
    .await
}
