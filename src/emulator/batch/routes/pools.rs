//! Pools: add, list, get, delete, resize.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;

use super::autoscale;
use super::common::{Ctx, Reply, Res, accepted, created, list_reply, seg, valid_id, with_meta};
use crate::azure::models::{AllocationState, Pool, PoolState};
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata;
use crate::emulator::batch::state::{PoolRec, Tx, key};
use crate::emulator::batch::{BatchService, etag};

fn render_pool(base: &str, p: &PoolRec) -> Value {
    let mut pool = p.pool.clone();
    pool.url = Some(format!("{base}/pools/{}", seg(&pool.id)));
    serde_json::to_value(pool).unwrap_or_default()
}

pub(super) fn add_pool(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let pool: Pool = c.json()?;
    let (mut st, now) = svc.lock_at();
    let rec = new_pool_rec(svc, pool, now)?;
    let k = key(&rec.pool.id);
    if st.pools.contains_key(&k) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PoolExists",
            "The specified pool already exists.",
        ));
    }
    let tag = rec.pool.e_tag.clone().unwrap_or_default();
    let path = format!("pools/{}", seg(&rec.pool.id));
    let mut tx = Tx::default();
    tx.pool(&k, &rec);
    svc.commit(tx)?;
    st.pools.insert(k, rec);
    drop(st);
    svc.wake.notify_one();
    Ok(created(c, path, &tag, now))
}

/// Checks a pool add body (or an auto pool's specification with its id) and fills the
/// service's defaults; an autoscaling pool's formula runs once.
pub(super) fn new_pool_rec(
    svc: &BatchService,
    mut pool: Pool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PoolRec, ApiError> {
    if pool.id.is_empty() {
        return Err(ApiError::missing_property("id"));
    }
    if !valid_id(&pool.id) {
        return Err(ApiError::invalid_property("id", pool.id));
    }
    if pool.vm_size.as_deref().unwrap_or("").is_empty() {
        return Err(ApiError::missing_property("vmSize"));
    }
    if let Some(st) = &pool.start_task
        && st.command_line.trim().is_empty()
    {
        return Err(ApiError::missing_property("startTask.commandLine"));
    }
    check_named_resources(&pool)?;
    let tag = etag(now);
    pool.url = None;
    pool.e_tag = Some(tag);
    pool.last_modified = Some(now);
    pool.creation_time = Some(now);
    pool.state = Some(PoolState::Active);
    pool.state_transition_time = Some(now);
    pool.allocation_state = Some(AllocationState::Steady);
    pool.allocation_state_transition_time = Some(now);
    pool.current_dedicated_nodes = Some(0);
    pool.current_low_priority_nodes = Some(0);
    pool.task_slots_per_node.get_or_insert(1);
    pool.resize_timeout.get_or_insert_with(|| "PT15M".into());
    pool.auto_scale_run = None;
    if let Some(s) = pool.start_task.as_mut() {
        s.max_task_retry_count.get_or_insert(0);
        s.wait_for_success.get_or_insert(true);
    }
    let mut rec = PoolRec::new(pool, now);
    autoscale::new_pool(svc, &mut rec, now)?;
    let pool = &mut rec.pool;
    pool.enable_auto_scale.get_or_insert(false);
    pool.target_dedicated_nodes.get_or_insert(0);
    pool.target_low_priority_nodes.get_or_insert(0);
    let targets =
        pool.target_dedicated_nodes.unwrap_or(0) + pool.target_low_priority_nodes.unwrap_or(0);
    if targets > 0 {
        pool.allocation_state = Some(AllocationState::Resizing);
    }
    Ok(rec)
}

/// What a pool names that the service looks up: its user accounts (one of each name), the
/// account its start task runs as (one of them), and application packages (the emulated
/// account has none).
fn check_named_resources(pool: &Pool) -> Result<(), ApiError> {
    let users: Vec<&str> = pool
        .extra
        .get("userAccounts")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|u| u.get("name")?.as_str()).collect())
        .unwrap_or_default();
    for (i, u) in users.iter().enumerate() {
        if users[..i].iter().any(|v| v.eq_ignore_ascii_case(u)) {
            return Err(ApiError::invalid_property("userAccounts.name", *u));
        }
    }
    if let Some(name) = pool
        .start_task
        .as_ref()
        .and_then(|s| s.user_identity.as_ref())
        .and_then(|u| u.get("userName"))
        .and_then(Value::as_str)
        && !users.iter().any(|u| u.eq_ignore_ascii_case(name))
    {
        return Err(ApiError::invalid_property(
            "startTask.userIdentity.userName",
            name,
        ));
    }
    let apps = pool
        .extra
        .get("applicationPackageReferences")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    if let Some(apps) = apps {
        let names: Vec<&str> = apps
            .iter()
            .filter_map(|a| a.get("applicationId")?.as_str())
            .collect();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "InvalidApplicationPackageReferences",
            "One or more application package references could not be satisfied.",
        )
        .with("Reason", "the account has no application packages")
        .with("ApplicationIds", names.join(",")));
    }
    Ok(())
}

pub(super) fn list_pools(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let items: Vec<(String, Value)> = {
        let st = svc.lock();
        st.pools
            .iter()
            .map(|(k, p)| (k.clone(), render_pool(&c.base, p)))
            .collect()
    };
    list_reply(c, "pools", items)
}

pub(super) fn get_pool(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let st = svc.lock();
    let rec = st.pools.get(&key(p)).ok_or_else(ApiError::pool_not_found)?;
    let v = odata::select(
        render_pool(&c.base, rec),
        c.q("$select").map(odata::parse_select).as_deref(),
    );
    Ok(Reply::json(
        StatusCode::OK,
        &with_meta(v, format!("{}/$metadata#pools/@Element", c.base)),
    )
    .entity(rec.pool.e_tag.as_ref(), rec.pool.last_modified))
}

pub(super) fn delete_pool(svc: &Arc<BatchService>, p: &str) -> Res {
    let k = key(p);
    let (mut st, now) = svc.lock_at();
    let rec = st.pools.get_mut(&k).ok_or_else(ApiError::pool_not_found)?;
    if rec.pool.state == Some(PoolState::Deleting) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PoolBeingDeleted",
            "The specified pool has been marked for deletion and is being reclaimed.",
        ));
    }
    rec.pool.state = Some(PoolState::Deleting);
    rec.pool.state_transition_time = Some(now);
    rec.pool.last_modified = Some(now);
    rec.pool.e_tag = Some(etag(now));
    let mut tx = Tx::default();
    tx.pool(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResizeBody {
    target_dedicated_nodes: Option<i32>,
    target_low_priority_nodes: Option<i32>,
    resize_timeout: Option<String>,
    node_deallocation_option: Option<crate::azure::models::NodeDeallocationOption>,
}

pub(super) fn resize_pool(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let body: ResizeBody = c.json()?;
    let option = super::common::node_option(
        "nodeDeallocationOption",
        body.node_deallocation_option.as_ref().map(|o| o.as_str()),
    )?;
    let k = key(p);
    let (mut st, now) = svc.lock_at();
    let rec = st.pools.get_mut(&k).ok_or_else(ApiError::pool_not_found)?;
    if rec.pool.state == Some(PoolState::Deleting) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PoolBeingDeleted",
            "The specified pool has been marked for deletion and is being reclaimed.",
        ));
    }
    autoscale::refuse_resize(&rec.pool)?;
    for (name, v) in [
        ("targetDedicatedNodes", body.target_dedicated_nodes),
        ("targetLowPriorityNodes", body.target_low_priority_nodes),
    ] {
        if v.is_some_and(|v| v < 0) {
            return Err(ApiError::invalid_property(name, v.unwrap_or(0).to_string()));
        }
    }
    if let Some(d) = body.target_dedicated_nodes {
        rec.pool.target_dedicated_nodes = Some(d);
    }
    if let Some(l) = body.target_low_priority_nodes {
        rec.pool.target_low_priority_nodes = Some(l);
    }
    if let Some(t) = body.resize_timeout {
        rec.pool.resize_timeout = Some(t);
    }
    rec.pool.allocation_state = Some(AllocationState::Resizing);
    rec.pool.allocation_state_transition_time = Some(now);
    rec.pool.last_modified = Some(now);
    rec.pool.e_tag = Some(etag(now));
    rec.resize_since = now;
    // What happens to the tasks of the nodes a shrink removes.
    rec.deallocation = Some(option);
    let mut tx = Tx::default();
    tx.pool(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}
