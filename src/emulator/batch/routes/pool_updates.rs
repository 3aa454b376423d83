//! Changing a pool: update (PATCH), update properties (replace), stop a resize, remove nodes.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{Ctx, Reply, Res, accepted, node_option};
use crate::azure::auth::http_date;
use crate::azure::models::{
    AllocationState, NodeDeallocationOption, NodeState, Pool, PoolState, StartTask,
};
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::scheduler::set_node_state;
use crate::emulator::batch::state::{PoolRec, Tx, key};
use crate::emulator::batch::{BatchService, etag};

pub(super) fn pool_being_deleted() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "PoolBeingDeleted",
        "The specified pool has been marked for deletion and is being reclaimed.",
    )
}

fn pool_being_resized() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "PoolBeingResized",
        "The specified pool is being resized; wait until its allocation state is steady.",
    )
}

/// A start task as given in a request: its command line is required.
pub(super) fn check_start_task(st: Option<&StartTask>) -> Result<(), ApiError> {
    if let Some(st) = st {
        if st.command_line.trim().is_empty() {
            return Err(ApiError::missing_property("startTask.commandLine"));
        }
        if st.max_task_retry_count.is_some_and(|r| r < -1) {
            return Err(ApiError::invalid_property(
                "startTask.maxTaskRetryCount",
                st.max_task_retry_count.unwrap_or(0).to_string(),
            ));
        }
    }
    Ok(())
}

/// A start task with the service's defaults.
pub(super) fn start_task_defaults(mut st: StartTask) -> StartTask {
    st.max_task_retry_count.get_or_insert(0);
    st.wait_for_success.get_or_insert(true);
    st
}

/// Properties a pool update may carry beyond the start task, on any pool.
const PATCHABLE: &[&str] = &[
    "applicationPackageReferences",
    "metadata",
    "targetNodeCommunicationMode",
    "certificateReferences",
];

/// Properties that only an empty pool may change (2025-06-01's pool update).
const EMPTY_POOL_ONLY: &[&str] = &[
    "displayName",
    "vmSize",
    "enableInterNodeCommunication",
    "taskSlotsPerNode",
    "taskSchedulingPolicy",
    "networkConfiguration",
    "resourceTags",
    "userAccounts",
    "mountConfiguration",
    "upgradePolicy",
    "virtualMachineConfiguration",
];

fn updated(pool: &mut Pool, now: DateTime<Utc>, status: StatusCode) -> Reply {
    pool.last_modified = Some(now);
    let tag = etag(now);
    pool.e_tag = Some(tag.clone());
    Reply::empty(status)
        .header("etag", tag)
        .header("last-modified", http_date(now))
        .header("content-length", "0")
}

fn live_pool<'a>(
    st: &'a mut crate::emulator::batch::state::State,
    k: &str,
) -> Result<&'a mut PoolRec, ApiError> {
    let rec = st.pools.get_mut(k).ok_or_else(ApiError::pool_not_found)?;
    if rec.pool.state == Some(PoolState::Deleting) {
        return Err(pool_being_deleted());
    }
    Ok(rec)
}

/// `PATCH /pools/{id}`: the properties given replace the pool's (a start task given replaces
/// the whole start task); the others stay. Nodes take a new start task when they next boot.
pub(super) fn patch_pool(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let body: serde_json::Map<String, Value> = c.json()?;
    let start: Option<StartTask> = match body.get("startTask") {
        Some(v) if !v.is_null() => Some(super::common::from_json_value(v.clone())?),
        _ => None,
    };
    check_start_task(start.as_ref())?;
    let k = key(p);
    let (mut guard, now) = svc.lock_at();
    let st = &mut *guard;
    let has_nodes = st.nodes.keys().any(|n| n.0 == k);
    let rec = live_pool(st, &k)?;
    if has_nodes && let Some(name) = EMPTY_POOL_ONLY.iter().find(|n| body.contains_key(**n)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "OperationInvalidForCurrentState",
            "This property of a pool can be changed only while the pool has no nodes.",
        )
        .with("PropertyName", *name));
    }
    let mut pool = rec.pool.clone();
    if let Some(s) = start {
        pool.start_task = Some(start_task_defaults(s));
    }
    for (name, v) in body {
        let known = PATCHABLE.contains(&name.as_str()) || EMPTY_POOL_ONLY.contains(&name.as_str());
        if !known || v.is_null() {
            continue;
        }
        match name.as_str() {
            "vmSize" => pool.vm_size = v.as_str().map(str::to_string),
            "taskSlotsPerNode" => pool.task_slots_per_node = v.as_i64().map(|n| n as i32),
            "virtualMachineConfiguration" => pool.virtual_machine_configuration = Some(v),
            _ => {
                pool.extra.insert(name, v);
            }
        }
    }
    let reply = updated(&mut pool, now, StatusCode::OK);
    rec.pool = pool;
    let mut tx = Tx::default();
    tx.pool(&k, rec);
    svc.commit(tx)?;
    Ok(reply)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplaceBody {
    start_task: Option<StartTask>,
    application_package_references: Option<Value>,
    metadata: Option<Value>,
    certificate_references: Option<Value>,
    target_node_communication_mode: Option<Value>,
}

/// `POST /pools/{id}/updateproperties`: the start task, application packages, metadata (and
/// certificates, before 2025-06-01) are replaced; a start task omitted is removed.
pub(super) fn update_pool_properties(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let body: ReplaceBody = c.json()?;
    let Some(apps) = body.application_package_references else {
        return Err(ApiError::missing_property("applicationPackageReferences"));
    };
    let Some(metadata) = body.metadata else {
        return Err(ApiError::missing_property("metadata"));
    };
    let with_certs = !c.version().at_least("2025-06-01");
    if with_certs && body.certificate_references.is_none() {
        return Err(ApiError::missing_property("certificateReferences"));
    }
    check_start_task(body.start_task.as_ref())?;
    let k = key(p);
    let (mut st, now) = svc.lock_at();
    let rec = live_pool(&mut st, &k)?;
    let mut pool = rec.pool.clone();
    pool.start_task = body.start_task.map(start_task_defaults);
    let mut set = |name: &str, v: Option<Value>| match v {
        Some(v) if !v.is_null() && v != json!([]) => {
            pool.extra.insert(name.to_string(), v);
        }
        _ => {
            pool.extra.remove(name);
        }
    };
    set("applicationPackageReferences", Some(apps));
    set("metadata", Some(metadata));
    if with_certs {
        set("certificateReferences", body.certificate_references);
    }
    set(
        "targetNodeCommunicationMode",
        body.target_node_communication_mode,
    );
    let reply = updated(&mut pool, now, StatusCode::NO_CONTENT);
    rec.pool = pool;
    let mut tx = Tx::default();
    tx.pool(&k, rec);
    svc.commit(tx)?;
    Ok(reply)
}

/// `POST /pools/{id}/stopresize`: the pool keeps the nodes it has (allocation state
/// `stopping`, then `steady`), and says why it has fewer than asked.
pub(super) fn stop_resize(svc: &Arc<BatchService>, p: &str) -> Res {
    let k = key(p);
    let (mut guard, now) = svc.lock_at();
    let st = &mut *guard;
    let count = |dedicated: bool| {
        st.nodes
            .iter()
            .filter(|(nk, n)| nk.0 == k && n.node.is_dedicated == Some(dedicated))
            .count() as i32
    };
    let (dedicated, spot) = (count(true), count(false));
    let rec = live_pool(st, &k)?;
    if rec.pool.allocation_state == Some(AllocationState::Resizing) {
        let short = rec.pool.target_dedicated_nodes.unwrap_or(0) > dedicated
            || rec.pool.target_low_priority_nodes.unwrap_or(0) > spot;
        rec.pool.target_dedicated_nodes = Some(dedicated);
        rec.pool.target_low_priority_nodes = Some(spot);
        rec.pool.allocation_state = Some(AllocationState::Stopping);
        rec.pool.allocation_state_transition_time = Some(now);
        if short {
            rec.pool.extra.insert(
                "resizeErrors".into(),
                json!([{
                    "code": "ResizeStopped",
                    "message": "Desired number of dedicated nodes could not be allocated due to a stop resize operation",
                }]),
            );
        }
        rec.pool.last_modified = Some(now);
        rec.pool.e_tag = Some(etag(now));
        let mut tx = Tx::default();
        tx.pool(&k, rec);
        svc.commit(tx)?;
    }
    drop(guard);
    svc.wake.notify_one();
    Ok(accepted(None))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoveBody {
    node_list: Option<Vec<String>>,
    resize_timeout: Option<String>,
    node_deallocation_option: Option<NodeDeallocationOption>,
}

/// `POST /pools/{id}/removenodes`: the named nodes leave the pool (its targets go down by
/// them), their tasks requeued, terminated, or let finish, as `nodeDeallocationOption` says.
pub(super) fn remove_nodes(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let body: RemoveBody = c.json()?;
    let Some(list) = body.node_list.filter(|l| !l.is_empty()) else {
        return Err(ApiError::missing_property("nodeList"));
    };
    if list.len() > 100 {
        return Err(
            ApiError::invalid_property("nodeList", list.len().to_string())
                .with("Reason", "At most 100 nodes can be removed per request."),
        );
    }
    let option = node_option(
        "nodeDeallocationOption",
        body.node_deallocation_option.as_ref().map(|o| o.as_str()),
    )?;
    let k = key(p);
    let (mut guard, now) = svc.lock_at();
    let st = &mut *guard;
    let rec = live_pool(st, &k)?;
    if rec.pool.allocation_state != Some(AllocationState::Steady) {
        return Err(pool_being_resized());
    }
    let mut ids: Vec<(String, String)> = Vec::new();
    let (mut dedicated, mut spot) = (0, 0);
    for id in &list {
        let nk = (k.clone(), id.clone());
        let node = st.nodes.get(&nk).ok_or_else(ApiError::node_not_found)?;
        if !ids.contains(&nk) {
            if node.node.is_dedicated == Some(false) {
                spot += 1;
            } else {
                dedicated += 1;
            }
            ids.push(nk);
        }
    }
    let mut tx = Tx::default();
    let rec = live_pool(st, &k)?;
    let pool = &mut rec.pool;
    pool.target_dedicated_nodes =
        Some((pool.target_dedicated_nodes.unwrap_or(0) - dedicated).max(0));
    pool.target_low_priority_nodes =
        Some((pool.target_low_priority_nodes.unwrap_or(0) - spot).max(0));
    pool.allocation_state = Some(AllocationState::Resizing);
    pool.allocation_state_transition_time = Some(now);
    if let Some(t) = body.resize_timeout {
        pool.resize_timeout = Some(t);
    }
    pool.last_modified = Some(now);
    pool.e_tag = Some(etag(now));
    rec.resize_since = now;
    rec.deallocation = Some(option);
    tx.pool(&k, rec);
    for nk in ids {
        // Leaving nodes go first when the pool sheds nodes.
        if let Some(n) = st.nodes.get_mut(&nk) {
            set_node_state(&mut n.node, NodeState::LeavingPool, now);
            tx.node(&nk, n);
        }
    }
    svc.commit(tx)?;
    drop(guard);
    svc.wake.notify_one();
    Ok(accepted(None))
}
