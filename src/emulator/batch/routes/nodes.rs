//! Compute nodes: list, get, reboot, reimage, deallocate, start.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;

use super::common::{Ctx, Reply, Res, accepted, list_reply, node_option, seg, with_meta};
use crate::azure::models::NodeDeallocationOption;
use crate::emulator::batch::BatchService;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata;
use crate::emulator::batch::scheduler;
use crate::emulator::batch::state::{NodeAction, NodeRec, key};

fn render_node(base: &str, pool_id: &str, n: &NodeRec) -> Value {
    let mut node = n.node.clone();
    node.url = Some(format!(
        "{base}/pools/{}/nodes/{}",
        seg(pool_id),
        seg(&node.id)
    ));
    serde_json::to_value(node).unwrap_or_default()
}

pub(super) fn list_nodes(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let pk = key(p);
    let items: Vec<(String, Value)> = {
        let st = svc.lock();
        let pool = st.pools.get(&pk).ok_or_else(ApiError::pool_not_found)?;
        st.nodes
            .iter()
            .filter(|(k, _)| k.0 == pk)
            .map(|(k, n)| (k.1.clone(), render_node(&c.base, &pool.pool.id, n)))
            .collect()
    };
    list_reply(c, "nodes", items)
}

pub(super) fn get_node(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
    let st = svc.lock();
    let pool = st.pools.get(&key(p)).ok_or_else(ApiError::pool_not_found)?;
    let node = st
        .nodes
        .get(&(key(p), n.to_string()))
        .ok_or_else(ApiError::node_not_found)?;
    let v = odata::select(
        render_node(&c.base, &pool.pool.id, node),
        c.q("$select").map(odata::parse_select).as_deref(),
    );
    Ok(Reply::json(
        StatusCode::OK,
        &with_meta(v, format!("{}/$metadata#nodes/@Element", c.base)),
    ))
}

/// The option a node operation's body names in property `name` (`nodeRebootOption`,
/// `nodeReimageOption`, `nodeDeallocateOption`): requeue when the body or the property is
/// absent; 400 for a value the service does not document.
fn option_in(c: &Ctx, name: &str) -> Result<NodeDeallocationOption, ApiError> {
    let body: serde_json::Map<String, Value> = if c.body.is_empty() {
        serde_json::Map::new()
    } else {
        c.json()?
    };
    let value = match body.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v.as_str()),
        Some(other) => return Err(ApiError::invalid_property(name, other.to_string())),
    };
    node_option(name, value)
}

/// `POST /pools/{id}/nodes/{node}/reboot`, `.../reimage` and `.../deallocate`: the node's
/// tasks are ended as the body's option (`option`) says, requeue by default, and the node
/// reboots, is reimaged or is deallocated, at once or once they may end; only an idle or
/// running node (else the service's 409 for its state).
pub(super) fn act_on_node(
    svc: &Arc<BatchService>,
    c: &Ctx,
    p: &str,
    n: &str,
    action: NodeAction,
) -> Res {
    let name = match action {
        NodeAction::Reboot => "nodeRebootOption",
        NodeAction::Reimage => "nodeReimageOption",
        NodeAction::Deallocate => "nodeDeallocateOption",
    };
    let option = option_in(c, name)?;
    let nk = (key(p), n.to_string());
    if !svc.lock().pools.contains_key(&nk.0) {
        return Err(ApiError::pool_not_found());
    }
    if !scheduler::node_action(svc, &nk, action, &option, true)? {
        return Err(ApiError::node_not_found());
    }
    Ok(accepted(None))
}

/// `POST /pools/{id}/nodes/{node}/start`: a deallocated node boots again (else the service's
/// 409 for its state).
pub(super) fn start_node(svc: &Arc<BatchService>, p: &str, n: &str) -> Res {
    let nk = (key(p), n.to_string());
    if !svc.lock().pools.contains_key(&nk.0) {
        return Err(ApiError::pool_not_found());
    }
    if !scheduler::start_node(svc, &nk)? {
        return Err(ApiError::node_not_found());
    }
    Ok(accepted(None))
}
