//! What else a node offers: user accounts (create, replace, delete), remote login settings,
//! VM extensions (list, get) of pools that declare them, uploading its logs to a container,
//! and disabling and enabling its scheduling.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::common::{Ctx, Reply, Res, list_reply, seg, with_meta};
use crate::azure::models::{
    DisableSchedulingOption, NodeState, NodeUser, RemoteLoginSettings, SchedulingState,
};
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata;
use crate::emulator::batch::scheduler::{disable_scheduling, node_ready};
use crate::emulator::batch::state::{NodeRec, NodeUserRec, State, Tx, key};
use crate::emulator::batch::{BatchService, agent};

/// A node user expires a day after it is made or replaced, unless told otherwise.
const USER_LIFETIME: chrono::Duration = chrono::Duration::days(1);

fn user_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NodeUserNotFound",
        "The specified node user does not exist.",
    )
}

/// The node, if the pool and the node exist.
fn node<'a>(st: &'a mut State, p: &str, n: &str) -> Result<&'a mut NodeRec, ApiError> {
    if !st.pools.contains_key(&key(p)) {
        return Err(ApiError::pool_not_found());
    }
    st.nodes
        .get_mut(&(key(p), n.to_string()))
        .ok_or_else(ApiError::node_not_found)
}

fn user_rec(name: String, u: &NodeUser, now: DateTime<Utc>) -> NodeUserRec {
    NodeUserRec {
        name,
        is_admin: u.is_admin.unwrap_or(false),
        expiry_time: u.expiry_time.unwrap_or(now + USER_LIFETIME),
        has_password: u.password.is_some(),
        ssh_public_key: u.ssh_public_key.clone(),
    }
}

pub(super) fn add_user(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
    let u: NodeUser = c.json()?;
    if u.name.is_empty() {
        return Err(ApiError::missing_property("name"));
    }
    let now = Utc::now();
    let mut st = svc.lock();
    let rec = node(&mut st, p, n)?;
    node_ready(&rec.node)?;
    if rec
        .users
        .iter()
        .any(|x| x.name.eq_ignore_ascii_case(&u.name))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "NodeUserExists",
            "The specified node user already exists.",
        ));
    }
    rec.users.push(user_rec(u.name.clone(), &u, now));
    let mut tx = Tx::default();
    tx.node(&(key(p), n.to_string()), rec);
    svc.commit(tx)?;
    let path = format!("pools/{}/nodes/{}/users/{}", seg(p), seg(n), seg(&u.name));
    let url = format!("{}/{path}", c.base);
    Ok(Reply::empty(StatusCode::CREATED)
        .header("location", url.clone())
        .header("dataserviceid", url)
        .header("content-length", "0"))
}

/// Replaces every updatable property: what the body leaves out takes its default.
pub(super) fn replace_user(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str, user: &str) -> Res {
    let u: NodeUser = c.json()?;
    let now = Utc::now();
    let mut st = svc.lock();
    let rec = node(&mut st, p, n)?;
    node_ready(&rec.node)?;
    let Some(existing) = rec
        .users
        .iter_mut()
        .find(|x| x.name.eq_ignore_ascii_case(user))
    else {
        return Err(user_not_found());
    };
    let name = existing.name.clone();
    let is_admin = existing.is_admin;
    *existing = user_rec(name, &u, now);
    existing.is_admin = is_admin;
    let mut tx = Tx::default();
    tx.node(&(key(p), n.to_string()), rec);
    svc.commit(tx)?;
    let url = format!(
        "{}/pools/{}/nodes/{}/users/{}",
        c.base,
        seg(p),
        seg(n),
        seg(user)
    );
    Ok(Reply::empty(StatusCode::OK)
        .header("dataserviceid", url)
        .header("content-length", "0"))
}

pub(super) fn delete_user(svc: &Arc<BatchService>, p: &str, n: &str, user: &str) -> Res {
    let mut st = svc.lock();
    let rec = node(&mut st, p, n)?;
    node_ready(&rec.node)?;
    let before = rec.users.len();
    rec.users.retain(|x| !x.name.eq_ignore_ascii_case(user));
    if rec.users.len() == before {
        return Err(user_not_found());
    }
    let mut tx = Tx::default();
    tx.node(&(key(p), n.to_string()), rec);
    svc.commit(tx)?;
    Ok(Reply::empty(StatusCode::OK).header("content-length", "0"))
}

/// The nodes are processes of this machine: remote login reaches it on its SSH port.
pub(super) fn remote_login_settings(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
    let mut st = svc.lock();
    let rec = node(&mut st, p, n)?;
    let settings = RemoteLoginSettings {
        remote_login_ip_address: rec
            .node
            .ip_address
            .clone()
            .unwrap_or_else(|| "127.0.0.1".into()),
        remote_login_port: 22,
    };
    let v = with_meta(
        serde_json::to_value(settings).unwrap_or_default(),
        format!(
            "{}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.RemoteLoginSettings",
            c.base
        ),
    );
    Ok(Reply::json(StatusCode::OK, &v))
}

/// A pool's declared extensions as a node reports them (`BatchNodeVMExtension`). The emulator
/// records them and installs nothing; protected settings are never returned.
fn extensions(st: &State, p: &str) -> Vec<(String, Value)> {
    let Some(pool) = st.pools.get(&key(p)) else {
        return Vec::new();
    };
    let declared = pool
        .pool
        .virtual_machine_configuration
        .as_ref()
        .and_then(|v| v.get("extensions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    declared
        .into_iter()
        .filter_map(|mut ext| {
            let name = ext.get("name")?.as_str()?.to_string();
            if let Some(o) = ext.as_object_mut() {
                o.remove("protectedSettings");
                o.remove("protectedSettingsFromKeyVault");
            }
            let v = json!({
                "provisioningState": "Succeeded",
                "instanceView": {
                    "name": name,
                    "statuses": [{
                        "code": "ProvisioningState/succeeded",
                        "level": 0,
                        "displayStatus": "Provisioning succeeded",
                        "message": "Recorded by the batchdeck emulator; extensions are not installed on its nodes",
                    }],
                },
                "vmExtension": ext,
            });
            Some((name, v))
        })
        .collect()
}

pub(super) fn list_extensions(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
    let items = {
        let mut st = svc.lock();
        node(&mut st, p, n)?;
        extensions(&st, p)
    };
    list_reply(c, "extensions", items)
}

pub(super) fn get_extension(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str, name: &str) -> Res {
    let mut st = svc.lock();
    node(&mut st, p, n)?;
    let (_, v) = extensions(&st, p)
        .into_iter()
        .find(|(x, _)| x.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                "The specified resource does not exist.",
            )
        })?;
    let v = odata::select(v, c.q("$select").map(odata::parse_select).as_deref());
    Ok(Reply::json(
        StatusCode::OK,
        &with_meta(v, format!("{}/$metadata#extensions/@Element", c.base)),
    ))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadLogsBody {
    container_url: Option<String>,
    #[serde(default, with = "crate::azure::models::timestamp::option")]
    start_time: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::azure::models::timestamp::option")]
    end_time: Option<DateTime<Utc>>,
}

/// The node's logs: there are no service logs beside its processes, so these are the start
/// task's output (the files written within the time range) and the node's own record.
pub(super) fn upload_logs(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
    let body: UploadLogsBody = c.json()?;
    let Some(container) = body.container_url else {
        return Err(ApiError::missing_property("containerUrl"));
    };
    if url::Url::parse(&container).is_err() {
        return Err(ApiError::invalid_property("containerUrl", "not a URL"));
    }
    let Some(start) = body.start_time else {
        return Err(ApiError::missing_property("startTime"));
    };
    if body.end_time.is_some_and(|e| e < start) {
        return Err(ApiError::invalid_property(
            "endTime",
            "earlier than startTime",
        ));
    }
    let end = body.end_time.unwrap_or(DateTime::<Utc>::MAX_UTC);
    let (dir, record, pool_id) = {
        let mut st = svc.lock();
        let pool_id = st
            .pools
            .get(&key(p))
            .map(|x| x.pool.id.clone())
            .unwrap_or_default();
        let rec = node(&mut st, p, n)?;
        (
            svc.node_dir(&key(p), n),
            serde_json::to_vec_pretty(&rec.node).unwrap_or_default(),
            pool_id,
        )
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for rel in ["startup/stdout.txt", "startup/stderr.txt"] {
        let path = dir.join(rel);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let modified: DateTime<Utc> = meta.modified().map(Into::into).unwrap_or_default();
        if modified >= start
            && modified <= end
            && let Ok(data) = std::fs::read(&path)
        {
            files.push((rel.replace('/', "-"), data));
        }
    }
    files.push(("node.json".into(), record));
    let directory = format!("{pool_id}/{n}/{}", uuid::Uuid::new_v4());
    let count = files.len();
    // The service answers at once and uploads after; so does the emulator.
    let http = svc.http.clone();
    let prefix = directory.clone();
    tokio::spawn(async move {
        for (name, data) in files {
            let blob = format!("{prefix}/{name}");
            if let Err(e) = agent::put_blob_bytes(&http, &container, &blob, data.into()).await {
                tracing::warn!(error = %e, "node log upload failed");
            }
        }
    });
    let v = with_meta(
        json!({"virtualDirectoryName": directory, "numberOfFilesUploaded": count}),
        format!(
            "{}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.UploadBatchServiceLogsResult",
            c.base
        ),
    );
    Ok(Reply::json(StatusCode::OK, &v))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DisableSchedulingBody {
    node_disable_scheduling_option: Option<DisableSchedulingOption>,
}

pub(super) fn set_scheduling(
    svc: &Arc<BatchService>,
    c: &Ctx,
    p: &str,
    n: &str,
    enable: bool,
) -> Res {
    let option = if enable || c.body.is_empty() {
        DisableSchedulingOption::Requeue
    } else {
        c.json::<DisableSchedulingBody>()?
            .node_disable_scheduling_option
            .unwrap_or(DisableSchedulingOption::Requeue)
    };
    let now = Utc::now();
    let nk = (key(p), n.to_string());
    {
        let mut st = svc.lock();
        let rec = node(&mut st, p, n)?;
        let want = if enable {
            SchedulingState::Enabled
        } else {
            SchedulingState::Disabled
        };
        if rec.node.scheduling_state.as_ref() == Some(&want) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "NodeAlreadyInTargetSchedulingState",
                "The specified node is already in the target scheduling state.",
            ));
        }
        // An offline node (scheduling disabled, nothing running) can be enabled again.
        if rec.node.state != NodeState::Offline {
            node_ready(&rec.node)?;
        }
    }
    disable_scheduling(svc, &nk, enable, &option, now)?;
    let op = if enable {
        "enablescheduling"
    } else {
        "disablescheduling"
    };
    let url = format!("{}/pools/{}/nodes/{}/{op}", c.base, seg(p), seg(n));
    Ok(Reply::empty(StatusCode::OK)
        .header("dataserviceid", url)
        .header("content-length", "0"))
}
