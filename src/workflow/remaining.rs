//! What still exists when a session ends: the one place that asks the services, used by
//! headless runs, full-screen sessions and `batchdeck watch` alike, so that every exit summary
//! says the same thing.

use std::time::Duration;

use crate::azure::models::{JobState, PoolState};
use crate::workflow::events::Resource;
use crate::workflow::steps::Clients;

/// How long the services get to answer before the summary says what the session believed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);

/// Which of `candidates` still exist (a pool or job being deleted no longer counts), asked of
/// the services. One that cannot be checked (the service does not answer) is listed: better a
/// line too many than a pool billed in silence. If the services do not answer within
/// [`CHECK_TIMEOUT`], the answer is `believed`.
pub async fn still_present(
    clients: &Clients,
    candidates: &[Resource],
    believed: &[Resource],
) -> Vec<Resource> {
    let check = async {
        let mut out = Vec::new();
        for r in candidates {
            if out.contains(r) {
                continue;
            }
            let present = match r {
                Resource::Job(id) => match clients.batch.get_job(id).await {
                    Ok(j) => j.state != Some(JobState::Deleting),
                    Err(e) => !e.is_not_found(),
                },
                Resource::Pool(id) => match clients.batch.get_pool(id, Some("id,state")).await {
                    Ok(p) => p.state != Some(PoolState::Deleting),
                    Err(e) => !e.is_not_found(),
                },
                Resource::Container(c) => clients.storage.container_exists(c).await.unwrap_or(true),
            };
            if present {
                out.push(r.clone());
            }
        }
        out
    };
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(v) => v,
        Err(_) => {
            tracing::warn!(
                "the services did not say in time what remains; reporting what the session believed"
            );
            believed.to_vec()
        }
    }
}
