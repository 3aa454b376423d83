//! Account-level reads: the node counts of every pool, and the images the emulator's nodes
//! stand in for.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::common::{Ctx, Res, list_reply};
use crate::azure::models::{NodeState, PoolState};
use crate::emulator::batch::BatchService;

/// The per-state counters of `BatchNodeCounts`, in the newest version's set (`versions`
/// leaves out what an older version does not know).
const COUNTERS: &[(&str, NodeState)] = &[
    ("creating", NodeState::Creating),
    ("idle", NodeState::Idle),
    ("offline", NodeState::Offline),
    ("preempted", NodeState::Preempted),
    ("rebooting", NodeState::Rebooting),
    ("reimaging", NodeState::Reimaging),
    ("running", NodeState::Running),
    ("starting", NodeState::Starting),
    ("startTaskFailed", NodeState::StartTaskFailed),
    ("leavingPool", NodeState::LeavingPool),
    ("unknown", NodeState::LostContact),
    ("unusable", NodeState::Unusable),
    ("waitingForStartTask", NodeState::WaitingForStartTask),
    ("deallocated", NodeState::Deallocated),
    ("deallocating", NodeState::Deallocating),
    ("upgradingOS", NodeState::UpgradingOs),
];

fn counts<'a>(states: impl Iterator<Item = &'a NodeState>) -> Value {
    let mut o = Map::new();
    for (name, _) in COUNTERS {
        o.insert((*name).into(), json!(0));
    }
    let mut total = 0;
    for s in states {
        if let Some((name, _)) = COUNTERS.iter().find(|(_, st)| st == s)
            && let Some(Value::Number(n)) = o.get(*name)
        {
            let n = n.as_i64().unwrap_or(0) + 1;
            o.insert((*name).into(), json!(n));
        }
        total += 1;
    }
    o.insert("total".into(), json!(total));
    Value::Object(o)
}

/// `GET /nodecounts`: per pool, how many dedicated and Spot/low-priority nodes are in each
/// state (pools being deleted are left out), with `$filter` and paging as any list.
pub(super) fn list_pool_node_counts(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let items: Vec<(String, Value)> = {
        let st = svc.lock();
        let mut per_pool: BTreeMap<&str, (Vec<&NodeState>, Vec<&NodeState>)> = BTreeMap::new();
        for (k, p) in &st.pools {
            if p.pool.state != Some(PoolState::Deleting) {
                per_pool.insert(k.as_str(), Default::default());
            }
        }
        for ((pk, _), n) in &st.nodes {
            if let Some(e) = per_pool.get_mut(pk.as_str()) {
                if n.node.is_dedicated == Some(false) {
                    e.1.push(&n.node.state);
                } else {
                    e.0.push(&n.node.state);
                }
            }
        }
        per_pool
            .into_iter()
            .map(|(k, (d, l))| {
                let id = st
                    .pools
                    .get(k)
                    .map(|p| p.pool.id.clone())
                    .unwrap_or_default();
                let v = json!({
                    "poolId": id,
                    "dedicated": counts(d.into_iter()),
                    "lowPriority": counts(l.into_iter()),
                });
                (k.to_string(), v)
            })
            .collect()
    };
    list_reply(c, "poolnodecounts", items)
}

/// The images whose node agent the emulator stands in for: its nodes run tasks as local
/// processes of this (Linux) machine, so pools of Linux images run as they would on Azure.
/// Pools of other images are accepted as well; this list is what `az batch pool
/// supported-images list` and the SDKs show to pick one.
const IMAGES: &[(&str, &str, &str, &str)] = &[
    (
        "batch.node.ubuntu 22.04",
        "canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts",
    ),
    (
        "batch.node.ubuntu 24.04",
        "canonical",
        "ubuntu-24_04-lts",
        "server",
    ),
    ("batch.node.el 9", "almalinux", "almalinux-x86_64", "9-gen2"),
    ("batch.node.debian 12", "debian", "debian-12", "12"),
];

/// `GET /supportedimages`.
pub(super) fn list_supported_images(c: &Ctx) -> Res {
    let items: Vec<(String, Value)> = IMAGES
        .iter()
        .map(|(sku, publisher, offer, image_sku)| {
            let v = json!({
                "nodeAgentSKUId": sku,
                "imageReference": {
                    "publisher": publisher,
                    "offer": offer,
                    "sku": image_sku,
                    "version": "latest",
                },
                "verificationType": "verified",
                "osType": "linux",
            });
            (format!("{sku}/{publisher}/{offer}/{image_sku}"), v)
        })
        .collect();
    list_reply(c, "supportedimages", items)
}
