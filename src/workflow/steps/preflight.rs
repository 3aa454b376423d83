//! Before step 1 creates anything: both services answer with these credentials, and the pool
//! and job ids are free, carried on with (an interrupted run's) or reused (`--reuse-pool`).

use crate::azure::models::{JobState, PoolState};
use crate::workflow::events::Resource;

use super::{Run, WorkflowError, attach_hint};

/// Both services answer with these credentials, and the ids are free (or the pool may be
/// reused).
pub(super) async fn preflight(run: &mut Run<'_>) -> Result<(), WorkflowError> {
    let spec = run.spec;
    let (storage, batch) = (&run.clients.storage, &run.clients.batch);
    run.info(format!(
        "Checking access to storage account [{}] and Batch account [{}]...",
        storage.account(),
        batch.account()
    ));
    storage
        .container_exists(&spec.containers.application)
        .await?;
    let (pool, job) = (
        Resource::Pool(spec.pool_id.clone()),
        Resource::Job(spec.job_id.clone()),
    );
    // A run of these ids still going in another session is not this one's to touch.
    if let Some(live) = run.journal.as_ref().and_then(|j| j.live.clone()) {
        return Err(WorkflowError::InUse {
            job: spec.job_id.clone(),
            pid: live.pid,
            started: live.started_local(),
            attach: attach_hint(&live.job_id, &live.pool_id),
        });
    }
    // Why an id may be taken: an earlier run kept it.
    let kept_by = |run: &Run<'_>, r: &Resource| {
        run.journal
            .as_ref()
            .and_then(|j| j.kept.iter().find(|e| e.created(r)))
            .map(|e| format!(" (the run started at {} kept it)", e.started_local()))
            .unwrap_or_default()
    };
    // What an interrupted run of these ids created is this run's to carry on with.
    match batch.get_pool(&spec.pool_id, Some("id,state")).await {
        Ok(p) if p.state == Some(PoolState::Deleting) => {
            return Err(WorkflowError::BeingDeleted {
                what: format!("pool {}", spec.pool_id),
            });
        }
        Ok(_) if run.resumes(&pool) => run.adopt(pool),
        Ok(_) if !spec.reuse_pool => {
            return Err(WorkflowError::PoolExists {
                id: spec.pool_id.clone(),
                why: kept_by(run, &pool),
            });
        }
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    match batch.get_job(&spec.job_id).await {
        Ok(j) if j.state == Some(JobState::Deleting) => {
            return Err(WorkflowError::BeingDeleted {
                what: format!("job {}", spec.job_id),
            });
        }
        Ok(_) if run.resumes(&job) => run.adopt(job),
        Ok(j) => {
            let on = j.pool_info.pool_id.unwrap_or_else(|| spec.pool_id.clone());
            return Err(WorkflowError::JobExists {
                id: spec.job_id.clone(),
                why: kept_by(run, &job),
                attach: attach_hint(&spec.job_id, &on),
            });
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    // What the interrupted runs left and this run does not carry on with is gone.
    if let Some(j) = &mut run.journal {
        j.carry_on();
    }
    Ok(())
}
