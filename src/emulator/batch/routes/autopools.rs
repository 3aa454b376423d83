//! Auto pools: `poolInfo.autoPoolSpecification` on a job or a job schedule. The pool is created
//! with the job (or with a schedule's first job, when it lives as long as the schedule) and the
//! scheduler deletes it when its job or schedule is done, unless `keepAlive` is set.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::pools::new_pool_rec;
use crate::azure::models::{
    AutoPoolSpecification, FailureInfo, Pool, PoolInfo, PoolLifetimeOption,
};
use crate::emulator::batch::BatchService;
use crate::emulator::batch::agent::failure_detail;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::state::{AutoPoolOwner, State, Tx, key};

/// The service's limit on `autoPoolIdPrefix`.
const MAX_PREFIX: usize = 20;

/// A job's (or a schedule's job specification's) pool: an existing pool's id, or an auto pool
/// specification, exactly one of them.
pub(crate) fn check_pool_info(info: &PoolInfo, for_schedule: bool) -> Result<(), ApiError> {
    match (&info.pool_id, &info.auto_pool_specification) {
        (Some(_), Some(_)) => Err(ApiError::invalid_property(
            "poolInfo",
            "both poolId and autoPoolSpecification",
        )),
        (None, None) => Err(ApiError::missing_property("poolInfo")),
        (Some(_), None) => Ok(()),
        (None, Some(spec)) => check_spec(spec, for_schedule),
    }
}

fn check_spec(spec: &AutoPoolSpecification, for_schedule: bool) -> Result<(), ApiError> {
    const AT: &str = "poolInfo.autoPoolSpecification";
    match &spec.pool_lifetime_option {
        PoolLifetimeOption::Job => {}
        PoolLifetimeOption::JobSchedule if for_schedule => {}
        other => {
            return Err(ApiError::invalid_property(
                &format!("{AT}.poolLifetimeOption"),
                other.as_str(),
            ));
        }
    }
    if let Some(p) = &spec.auto_pool_id_prefix
        && (p.len() > MAX_PREFIX
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(ApiError::invalid_property(
            &format!("{AT}.autoPoolIdPrefix"),
            p.clone(),
        ));
    }
    let Some(pool) = &spec.pool else {
        return Err(ApiError::missing_property(&format!("{AT}.pool")));
    };
    if pool
        .get("vmSize")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::missing_property(&format!("{AT}.pool.vmSize")));
    }
    Ok(())
}

/// The pool a job runs on: its `poolId`, the auto pool its schedule already has, or a new auto
/// pool. `Err` is the scheduling error that completes the job instead (as when the service
/// cannot create the auto pool).
pub(crate) fn job_pool(
    svc: &BatchService,
    st: &mut State,
    info: &PoolInfo,
    job_key: &str,
    schedule: Option<&str>,
    now: DateTime<Utc>,
    tx: &mut Tx,
) -> Result<String, FailureInfo> {
    if let Some(p) = &info.pool_id {
        return Ok(p.clone());
    }
    let Some(spec) = &info.auto_pool_specification else {
        return Err(failure_detail(
            "InvalidAutoPoolSettings",
            "The specified autopool settings are not valid.",
            "the job names no pool",
        ));
    };
    let owner = match (&spec.pool_lifetime_option, schedule) {
        (PoolLifetimeOption::JobSchedule, Some(s)) => AutoPoolOwner {
            lifetime: PoolLifetimeOption::JobSchedule,
            key: s.to_string(),
            keep_alive: spec.keep_alive.unwrap_or(false),
        },
        _ => AutoPoolOwner {
            lifetime: PoolLifetimeOption::Job,
            key: job_key.to_string(),
            keep_alive: spec.keep_alive.unwrap_or(false),
        },
    };
    // A schedule's pool serves every job of the schedule.
    if owner.lifetime == PoolLifetimeOption::JobSchedule
        && let Some(p) = st
            .pools
            .values()
            .find(|p| p.auto_owner.as_ref() == Some(&owner))
    {
        return Ok(p.pool.id.clone());
    }
    let id = match &spec.auto_pool_id_prefix {
        Some(prefix) => format!(
            "{prefix}_{}",
            uuid::Uuid::new_v4().to_string().to_uppercase()
        ),
        None => uuid::Uuid::new_v4().to_string().to_uppercase(),
    };
    let mut body: Map<String, Value> = spec.pool.clone().unwrap_or_default();
    body.insert("id".into(), Value::String(id.clone()));
    let pool: Pool = serde_json::from_value(Value::Object(body)).map_err(|e| {
        failure_detail(
            "InvalidAutoPoolSettings",
            "The specified autopool settings are not valid.",
            &e.to_string(),
        )
    })?;
    let mut rec = new_pool_rec(svc, pool, now).map_err(|e| {
        let code = match e.code {
            c if c.starts_with("AutoScal") || c == "InvalidAutoScalingSettings" => {
                "InvalidAutoScaleFormulaInAutoPool"
            }
            "InvalidApplicationPackageReferences" => {
                "InvalidApplicationPackageReferencesInAutoPool"
            }
            _ => "InvalidAutoPoolSettings",
        };
        let detail = e
            .values
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("; ");
        failure_detail(code, &e.message, &detail)
    })?;
    rec.auto_owner = Some(owner);
    let k = key(&id);
    tx.pool(&k, &rec);
    st.pools.insert(k, rec);
    svc.wake.notify_one();
    Ok(id)
}
