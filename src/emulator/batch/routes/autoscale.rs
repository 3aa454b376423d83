//! Autoscale on pools: the settings at pool creation (`enableAutoScale`, `autoScaleFormula`,
//! `autoScaleEvaluationInterval`), enableautoscale, disableautoscale and evaluateautoscale.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::common::{Ctx, Reply, Res, seg, updated};
use crate::azure::models::{AllocationState, Pool, PoolState};
use crate::emulator::batch::autoscale::{self, Formula, Invalid, MAX_FORMULA_CHARS};
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::scheduler::{
    self, apply_autoscale, evaluate_autoscale, interval_of, run_model, scaled,
};
use crate::emulator::batch::state::{PoolRec, Tx, key};
use crate::emulator::batch::{BatchService, etag};

/// The service evaluates every 15 minutes unless told otherwise, and no more often than every
/// 5 minutes nor less often than every 168 hours.
const DEFAULT_INTERVAL: &str = "PT15M";
const MIN_INTERVAL: Duration = Duration::from_secs(5 * 60);
const MAX_INTERVAL: Duration = Duration::from_secs(168 * 3600);
/// One enableautoscale per pool per 30 seconds.
const ENABLE_COOLDOWN: Duration = Duration::from_secs(30);

fn invalid_settings(reason: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidAutoScalingSettings",
        "The specified auto-scaling settings are not valid.",
    )
    .with("Reason", reason)
}

/// A formula the service accepts, or its 400.
pub(super) fn compile(formula: &str) -> Result<Formula, ApiError> {
    autoscale::compile(formula).map_err(|e| match e {
        Invalid::TooLong(n) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "AutoScaleFormulaTooLong",
            "The specified auto-scaling formula exceeds lengths limit.",
        )
        .with("Length", n.to_string())
        .with("MaxLength", MAX_FORMULA_CHARS.to_string()),
        Invalid::Syntax(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "AutoScalingFormulaSyntaxError",
            "The specified auto-scaling formula has a syntax error.",
        )
        .with("Message", e.to_string()),
    })
}

/// An evaluation interval within the service's bounds.
fn interval(v: &str) -> Result<Duration, ApiError> {
    match scheduler::parse_duration(v) {
        Some(d) if (MIN_INTERVAL..=MAX_INTERVAL).contains(&d) => Ok(d),
        _ => Err(ApiError::invalid_property("autoScaleEvaluationInterval", v)),
    }
}

/// Checks a new pool's autoscale settings and, when it autoscales, runs its formula once so
/// that it starts at the formula's size (as the service does). `Ok(false)`: a fixed-size
/// pool.
pub(super) fn new_pool(
    svc: &BatchService,
    rec: &mut PoolRec,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let pool = &mut rec.pool;
    if pool.enable_auto_scale != Some(true) {
        if pool.auto_scale_formula.is_some() || pool.auto_scale_evaluation_interval.is_some() {
            return Err(invalid_settings(
                "autoScaleFormula and autoScaleEvaluationInterval need enableAutoScale set to true",
            ));
        }
        return Ok(());
    }
    if pool.target_dedicated_nodes.is_some() || pool.target_low_priority_nodes.is_some() {
        return Err(invalid_settings(
            "targetDedicatedNodes and targetLowPriorityNodes must not be given when enableAutoScale is true",
        ));
    }
    let Some(formula) = pool.auto_scale_formula.clone() else {
        return Err(ApiError::missing_property("autoScaleFormula"));
    };
    let f = compile(&formula)?;
    let every = interval(
        pool.auto_scale_evaluation_interval
            .get_or_insert_with(|| DEFAULT_INTERVAL.into()),
    )?;
    pool.target_dedicated_nodes = Some(0);
    pool.target_low_priority_nodes = Some(0);
    let run = evaluate_autoscale(svc, rec, &f, now);
    apply_autoscale(rec, run, now);
    rec.next_autoscale = Some(now + scaled(svc, every));
    rec.last_autoscale_enable = Some(now);
    Ok(())
}

fn pool_for_autoscale<'a>(
    pools: &'a mut std::collections::BTreeMap<String, PoolRec>,
    p: &str,
) -> Result<&'a mut PoolRec, ApiError> {
    let rec = pools
        .get_mut(&key(p))
        .ok_or_else(ApiError::pool_not_found)?;
    if rec.pool.state == Some(PoolState::Deleting) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PoolBeingDeleted",
            "The specified pool has been marked for deletion and is being reclaimed.",
        ));
    }
    Ok(rec)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnableBody {
    auto_scale_formula: Option<String>,
    auto_scale_evaluation_interval: Option<String>,
}

pub(super) fn enable_autoscale(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let body: EnableBody = c.json()?;
    let now = Utc::now();
    let mut st = svc.lock();
    let rec = pool_for_autoscale(&mut st.pools, p)?;
    let enabled = rec.pool.enable_auto_scale == Some(true);
    if !enabled && rec.pool.allocation_state == Some(AllocationState::Resizing) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PoolBeingResized",
            "The specified pool is being resized",
        ));
    }
    if let Some(last) = rec.last_autoscale_enable
        && now - last < scaled(svc, ENABLE_COOLDOWN)
    {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TooManyEnableAutoScaleRequests",
            "Too many Enable Pool AutoScale requests are issued on the pool.",
        ));
    }
    let formula = match (body.auto_scale_formula, enabled) {
        (Some(f), _) => f,
        (None, true) if body.auto_scale_evaluation_interval.is_some() => {
            rec.pool.auto_scale_formula.clone().unwrap_or_default()
        }
        (None, _) => return Err(ApiError::missing_property("autoScaleFormula")),
    };
    let f = compile(&formula)?;
    let new_interval = match &body.auto_scale_evaluation_interval {
        Some(v) => Some(interval(v)?),
        None => None,
    };
    rec.pool.enable_auto_scale = Some(true);
    rec.pool.auto_scale_formula = Some(formula);
    if let Some(v) = body.auto_scale_evaluation_interval {
        rec.pool.auto_scale_evaluation_interval = Some(v);
    } else if !enabled {
        rec.pool.auto_scale_evaluation_interval = Some(DEFAULT_INTERVAL.into());
    }
    let run = evaluate_autoscale(svc, rec, &f, now);
    apply_autoscale(rec, run, now);
    // A new interval starts a new schedule from now; otherwise the current one goes on.
    if new_interval.is_some() || !enabled || rec.next_autoscale.is_none() {
        rec.next_autoscale = Some(now + scaled(svc, interval_of(rec)));
    }
    rec.last_autoscale_enable = Some(now);
    rec.pool.last_modified = Some(now);
    let tag = etag(now);
    rec.pool.e_tag = Some(tag.clone());
    let mut tx = Tx::default();
    tx.pool(&key(p), rec);
    svc.commit(tx)?;
    let path = format!("pools/{}/enableautoscale", seg(&rec.pool.id));
    drop(st);
    svc.wake.notify_one();
    Ok(updated(c, path, &tag, now))
}

pub(super) fn disable_autoscale(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let now = Utc::now();
    let mut st = svc.lock();
    let rec = pool_for_autoscale(&mut st.pools, p)?;
    let pool = &mut rec.pool;
    pool.enable_auto_scale = Some(false);
    pool.auto_scale_formula = None;
    pool.auto_scale_evaluation_interval = None;
    pool.auto_scale_run = None;
    rec.next_autoscale = None;
    pool.last_modified = Some(now);
    let tag = etag(now);
    pool.e_tag = Some(tag.clone());
    let path = format!("pools/{}/disableautoscale", seg(&pool.id));
    let mut tx = Tx::default();
    tx.pool(&key(p), rec);
    svc.commit(tx)?;
    Ok(updated(c, path, &tag, now))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EvaluateBody {
    auto_scale_formula: Option<String>,
}

pub(super) fn evaluate(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let body: EvaluateBody = c.json()?;
    let Some(formula) = body.auto_scale_formula else {
        return Err(ApiError::missing_property("autoScaleFormula"));
    };
    let now = Utc::now();
    let st = svc.lock();
    let rec = st.pools.get(&key(p)).ok_or_else(ApiError::pool_not_found)?;
    if rec.pool.enable_auto_scale != Some(true) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "OperationInvalidForCurrentState",
            "The specified operation is not valid for the current state of the resource.",
        )
        .with("Reason", "Automatic scaling is not enabled on the pool"));
    }
    let f = compile(&formula)?;
    let run = run_model(&evaluate_autoscale(svc, rec, &f, now));
    let mut body = json!({
        "odata.metadata": format!(
            "{}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.AutoScaleRun",
            c.base
        ),
    });
    if let (Some(o), Ok(serde_json::Value::Object(r))) =
        (body.as_object_mut(), serde_json::to_value(&run))
    {
        o.extend(r);
    }
    let id = format!("{}/pools/{}/evaluateautoscale", c.base, seg(&rec.pool.id));
    Ok(Reply::json(StatusCode::OK, &body).header("dataserviceid", id))
}

/// A resize of an autoscaling pool is refused, as the service refuses it.
pub(super) fn refuse_resize(pool: &Pool) -> Result<(), ApiError> {
    if pool.enable_auto_scale == Some(true) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "OperationInvalidForCurrentState",
            "The specified operation is not valid for the current state of the resource.",
        )
        .with(
            "Reason",
            "The pool has automatic scaling enabled; disable it to resize the pool",
        ));
    }
    Ok(())
}
