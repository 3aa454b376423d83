//! Compute nodes: list, get, reboot.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;

use super::common::{Ctx, Reply, Res, accepted, list_reply, node_option, seg, with_meta};
use crate::azure::models::NodeRebootOption;
use crate::emulator::batch::BatchService;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata;
use crate::emulator::batch::scheduler;
use crate::emulator::batch::state::{NodeRec, key};

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

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RebootBody {
    node_reboot_option: Option<NodeRebootOption>,
}

/// `POST /pools/{id}/nodes/{node}/reboot`: the node's tasks are ended as `nodeRebootOption`
/// says (requeue by default) and it reboots, at once or once they may end; only an idle or
/// running node (else the service's 409 for its state).
pub(super) fn reboot_node(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
    let body: RebootBody = if c.body.is_empty() {
        RebootBody::default()
    } else {
        c.json()?
    };
    let option = node_option(
        "nodeRebootOption",
        body.node_reboot_option.as_ref().map(|o| o.as_str()),
    )?;
    let nk = (key(p), n.to_string());
    if !svc.lock().pools.contains_key(&nk.0) {
        return Err(ApiError::pool_not_found());
    }
    if !scheduler::reboot(svc, &nk, &option, true)? {
        return Err(ApiError::node_not_found());
    }
    Ok(accepted(None))
}
