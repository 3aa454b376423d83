//! The Batch REST API over HTTP: one fallback handler that checks Shared Key and the
//! api-version over the raw request, dispatches on the percent-decoded path segments to the
//! resource's handlers, and answers in the service's shapes.
//!
//! - `auth`: Shared Key over the raw request, with the request time.
//! - `common`: the request context, replies, listings (OData filter, select, paging), ids.
//! - `pools`, `nodes`, `jobs`, `tasks`, `files`: the operations on each resource.

mod account;
mod auth;
mod autopools;
mod autoscale;
mod common;
mod files;
mod job_updates;
mod jobs;
mod node_extras;
mod nodes;
mod pool_updates;
mod pools;
mod schedules;
mod subtasks;
mod tasks;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use percent_encoding::percent_decode_str;

use self::account::{list_pool_node_counts, list_supported_images};
use self::auth::authorize;
use self::common::{Ctx, Res};
use self::files::{
    delete_node_file, delete_task_file, node_file, node_files, task_file, task_files,
};
use self::job_updates::{disable_job, enable_job, patch_job, replace_job};
use self::jobs::{
    add_job, delete_job, get_job, list_jobs, list_prep_release_status, task_counts, terminate_job,
};
use self::nodes::{act_on_node, get_node, list_nodes, start_node};
use self::pool_updates::{patch_pool, remove_nodes, stop_resize, update_pool_properties};
use self::pools::{add_pool, delete_pool, get_pool, list_pools, resize_pool};
use self::tasks::{
    add_task, add_task_collection, delete_task, get_task, list_tasks, reactivate_task,
    terminate_task, update_task,
};
use crate::azure::auth::decode_query;
use crate::emulator::batch::BatchService;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::state::NodeAction;
use crate::emulator::batch::versions::ApiVersion;

// For the fuzz targets (src/fuzzing.rs, feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) use common::parse_json_body;
#[cfg(feature = "fuzzing")]
pub(crate) use tasks::new_task;

pub(crate) use jobs::new_job_rec;

const JSON_TYPE: &str = "application/json;odata=minimalmetadata";

const MAX_BODY: usize = 64 * 1024 * 1024;

/// The first api-version with Start Node and Deallocate Node (the REST specification's
/// `stable/2024-07-01.20.0/BatchService.json` has `ComputeNode_Start` and
/// `ComputeNode_Deallocate`; azure-batch 14.2.0, of 2024-02-01.19.0, has neither).
const NODE_START_SINCE: &str = "2024-07-01.20.0";

pub fn router(svc: Arc<BatchService>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(svc)
}

async fn handle(State(svc): State<Arc<BatchService>>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let tls = parts
        .extensions
        .get::<crate::emulator::entra::tls::Tls>()
        .is_some_and(|t| t.0);
    let base = format!("{}://{host}", if tls { "https" } else { "http" });
    let echo = parts
        .headers
        .get("return-client-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let client_request_id = parts
        .headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let is_head = parts.method == Method::HEAD;
    let result = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(_) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
        )),
        Ok(body) => {
            let raw_path = parts.uri.path().to_string();
            let raw_query = parts.uri.query().unwrap_or("").to_string();
            match authorize(&svc, &parts.method, &raw_path, &raw_query, &parts.headers) {
                Err(e) => Err(e),
                Ok(()) => {
                    let ctx = Ctx {
                        method: parts.method.clone(),
                        segs: raw_path
                            .split('/')
                            .filter(|s| !s.is_empty())
                            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                            .collect(),
                        query: decode_query(&raw_query),
                        headers: parts.headers.clone(),
                        body,
                        base: base.clone(),
                    };
                    // Handlers take the state's lock and wait for the disk: on the blocking
                    // pool, so that neither stalls the runtime's threads (both services').
                    let svc = svc.clone();
                    tokio::task::spawn_blocking(move || serve(&svc, &ctx))
                        .await
                        .unwrap_or_else(|e| Err(ApiError::internal(format!("handler: {e}"))))
                }
            }
        }
    };
    let mut resp = match result {
        Ok(r) => {
            let mut b = Response::builder().status(r.status);
            if r.json.is_some() {
                b = b.header(header::CONTENT_TYPE, JSON_TYPE);
            }
            for (k, v) in &r.headers {
                b = b.header(*k, v.as_str());
            }
            let body = match (is_head, r.json, r.body) {
                (true, _, _) => Body::empty(),
                (false, Some(v), _) => Body::from(serde_json::to_vec(&v).unwrap_or_default()),
                (false, None, Some(b)) => b,
                (false, None, None) => Body::empty(),
            };
            b.body(body).unwrap_or_default()
        }
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(code = e.code, "request failed");
            } else {
                tracing::debug!(code = e.code, status = %e.status, "request refused");
            }
            let body = if is_head {
                Body::empty()
            } else {
                Body::from(serde_json::to_vec(&e.body(&base, &request_id)).unwrap_or_default())
            };
            let mut b = Response::builder()
                .status(e.status)
                .header(header::CONTENT_TYPE, JSON_TYPE);
            if let Some(c) = &e.challenge {
                b = b.header(header::WWW_AUTHENTICATE, c.as_str());
            }
            b.body(body).unwrap_or_default()
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("request-id", v);
    }
    h.insert("dataserviceversion", HeaderValue::from_static("3.0"));
    if let (true, Some(c)) = (echo, client_request_id)
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        h.insert("client-request-id", v);
    }
    resp
}

/// One request on a blocking thread: dispatched, then what it changed made durable (every
/// lock released by then, so readers never wait for the disk) before it is answered.
fn serve(svc: &Arc<BatchService>, ctx: &Ctx) -> Res {
    let result = check_api_version(ctx)
        .and_then(|()| dispatch(svc, ctx))
        .map(|mut r| {
            if let Some(v) = r.json.as_mut() {
                ctx.version().response_from_latest(&ctx.segs, v);
            }
            r
        });
    let synced = svc
        .store
        .sync_mine()
        .map_err(|e| ApiError::internal(format!("database commit: {e}")));
    match (result, synced) {
        (Ok(_), Err(e)) => Err(e),
        (r, _) => r,
    }
}

fn check_api_version(ctx: &Ctx) -> Result<(), ApiError> {
    match ctx.q("api-version") {
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
        )
        .with("QueryParameterName", "api-version")),
        Some(v) if ApiVersion::parse(v).is_some() => Ok(()),
        Some(v) => Err(ApiError::invalid_query(
            "api-version",
            v,
            "The specified api-version is invalid or not supported.",
        )),
    }
}

fn dispatch(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let s: Vec<&str> = c.segs.iter().map(String::as_str).collect();
    let m = &c.method;
    match (s.as_slice(), m.as_str()) {
        (["pools"], "POST") => add_pool(svc, c),
        (["pools"], "GET") => list_pools(svc, c),
        (["pools", p], "GET" | "HEAD") => get_pool(svc, c, p),
        (["pools", p], "DELETE") => delete_pool(svc, p),
        (["pools", p], "PATCH") => patch_pool(svc, c, p),
        (["pools", p, "resize"], "POST") => resize_pool(svc, c, p),
        (["pools", p, "enableautoscale"], "POST") => autoscale::enable_autoscale(svc, c, p),
        (["pools", p, "disableautoscale"], "POST") => autoscale::disable_autoscale(svc, c, p),
        (["pools", p, "evaluateautoscale"], "POST") => autoscale::evaluate(svc, c, p),
        (["pools", p, "stopresize"], "POST") => stop_resize(svc, p),
        (["pools", p, "updateproperties"], "POST") => update_pool_properties(svc, c, p),
        (["pools", p, "removenodes"], "POST") => remove_nodes(svc, c, p),
        (["pools", p, "nodes"], "GET") => list_nodes(svc, c, p),
        (["pools", p, "nodes", n], "GET") => get_node(svc, c, p, n),
        (["pools", p, "nodes", n, "reboot"], "POST") => {
            act_on_node(svc, c, p, n, NodeAction::Reboot)
        }
        (["pools", p, "nodes", n, "reimage"], "POST") => {
            act_on_node(svc, c, p, n, NodeAction::Reimage)
        }
        // Start and Deallocate are in the REST specification from 2024-07-01.20.0 on; an older
        // version's request names no operation (`unserved`).
        (["pools", p, "nodes", n, "deallocate"], "POST")
            if c.version().at_least(NODE_START_SINCE) =>
        {
            act_on_node(svc, c, p, n, NodeAction::Deallocate)
        }
        (["pools", p, "nodes", n, "start"], "POST") if c.version().at_least(NODE_START_SINCE) => {
            start_node(svc, p, n)
        }
        (["pools", p, "nodes", n, "users"], "POST") => node_extras::add_user(svc, c, p, n),
        (["pools", p, "nodes", n, "users", u], "PUT") => node_extras::replace_user(svc, c, p, n, u),
        (["pools", p, "nodes", n, "users", u], "DELETE") => node_extras::delete_user(svc, p, n, u),
        (["pools", p, "nodes", n, "remoteloginsettings"], "GET") => {
            node_extras::remote_login_settings(svc, c, p, n)
        }
        (["pools", p, "nodes", n, "extensions"], "GET") => {
            node_extras::list_extensions(svc, c, p, n)
        }
        (["pools", p, "nodes", n, "extensions", e], "GET") => {
            node_extras::get_extension(svc, c, p, n, e)
        }
        (["pools", p, "nodes", n, "uploadbatchservicelogs"], "POST") => {
            node_extras::upload_logs(svc, c, p, n)
        }
        (["pools", p, "nodes", n, "disablescheduling"], "POST") => {
            node_extras::set_scheduling(svc, c, p, n, false)
        }
        (["pools", p, "nodes", n, "enablescheduling"], "POST") => {
            node_extras::set_scheduling(svc, c, p, n, true)
        }
        (["pools", p, "nodes", n, "files"], "GET") => node_files(svc, c, p, n),
        (["pools", p, "nodes", n, "files", rest @ ..], "GET" | "HEAD") => {
            node_file(svc, c, p, n, &rest.join("/"))
        }
        (["jobschedules"], "POST") => schedules::add_schedule(svc, c),
        (["jobschedules"], "GET") => schedules::list_schedules(svc, c),
        (["jobschedules", s], "GET" | "HEAD") => schedules::get_schedule(svc, c, s),
        (["jobschedules", s], "PATCH") => schedules::update_schedule(svc, c, s, false),
        (["jobschedules", s], "PUT") => schedules::update_schedule(svc, c, s, true),
        (["jobschedules", s], "DELETE") => schedules::delete_schedule(svc, s),
        (["jobschedules", s, "disable"], "POST") => schedules::disable_schedule(svc, c, s),
        (["jobschedules", s, "enable"], "POST") => schedules::enable_schedule(svc, c, s),
        (["jobschedules", s, "terminate"], "POST") => schedules::terminate_schedule(svc, c, s),
        (["jobschedules", s, "jobs"], "GET") => schedules::list_schedule_jobs(svc, c, s),
        (["pools", p, "nodes", n, "files", rest @ ..], "DELETE") => {
            delete_node_file(svc, c, p, n, &rest.join("/"))
        }
        (["nodecounts"], "GET") => list_pool_node_counts(svc, c),
        (["supportedimages"], "GET") => list_supported_images(c),
        (["jobs"], "POST") => add_job(svc, c),
        (["jobs"], "GET") => list_jobs(svc, c),
        (["jobs", j], "GET") => get_job(svc, c, j),
        (["jobs", j], "PATCH") => patch_job(svc, c, j),
        (["jobs", j], "PUT") => replace_job(svc, c, j),
        (["jobs", j], "DELETE") => delete_job(svc, j),
        (["jobs", j, "disable"], "POST") => disable_job(svc, c, j),
        (["jobs", j, "enable"], "POST") => enable_job(svc, j),
        (["jobs", j, "terminate"], "POST") => terminate_job(svc, c, j),
        (["jobs", j, "taskcounts"], "GET") => task_counts(svc, c, j),
        (["jobs", j, "jobpreparationandreleasetaskstatus"], "GET") => {
            list_prep_release_status(svc, c, j)
        }
        (["jobs", j, "tasks"], "POST") => add_task(svc, c, j),
        (["jobs", j, "tasks"], "GET") => list_tasks(svc, c, j),
        (["jobs", j, "addtaskcollection"], "POST") => add_task_collection(svc, c, j),
        (["jobs", j, "tasks", t], "GET") => get_task(svc, c, j, t),
        (["jobs", j, "tasks", t], "PUT") => update_task(svc, c, j, t),
        (["jobs", j, "tasks", t], "DELETE") => delete_task(svc, j, t),
        (["jobs", j, "tasks", t, "terminate"], "POST") => terminate_task(svc, j, t),
        (["jobs", j, "tasks", t, "reactivate"], "POST") => reactivate_task(svc, j, t),
        (["jobs", j, "tasks", t, "subtasksinfo"], "GET") => subtasks::list_subtasks(svc, c, j, t),
        (["jobs", j, "tasks", t, "files"], "GET") => task_files(svc, c, j, t),
        (["jobs", j, "tasks", t, "files", rest @ ..], "GET" | "HEAD") => {
            task_file(svc, c, j, t, &rest.join("/"))
        }
        (["jobs", j, "tasks", t, "files", rest @ ..], "DELETE") => {
            delete_task_file(svc, c, j, t, &rest.join("/"))
        }
        _ => Err(unserved(&s, m.as_str())),
    }
}

/// What a request the dispatch above does not serve gets: for an operation of the service's
/// API that the emulator does not implement, 501 `NotImplemented` naming it (as the blob
/// side does); for a known resource with a method it does not take, 405; for a URL that
/// means nothing to the service, 404 `InvalidUri`.
fn unserved(s: &[&str], method: &str) -> ApiError {
    if let Some(op) = unimplemented_operation(s, method) {
        return ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("The emulator does not implement the operation {op}."),
        )
        .with("Operation", op);
    }
    if known_resource(s) {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnsupportedHttpVerb",
            "The resource doesn't support specified Http Verb.",
        );
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "InvalidUri",
        "The requested URI does not represent any resource on the server.",
    )
}

/// The operations of the Batch REST API (2025-06-01 and earlier) that the emulator does not
/// implement, by method and path, named as the REST reference names them.
fn unimplemented_operation(s: &[&str], m: &str) -> Option<&'static str> {
    Some(match (s, m) {
        (["applications"], "GET") => "Application - List",
        (["applications", _], "GET") => "Application - Get",
        (["poolusagemetrics"], "GET") => "Pool - List Usage Metrics",
        (["nodeagentskus"], "GET") => "Account - List Node Agent Skus",
        (["lifetimepoolstats"], "GET") => "Pool - Get All Lifetime Statistics",
        (["lifetimejobstats"], "GET") => "Job - Get All Lifetime Statistics",
        (["certificates"], "GET" | "POST") => "Certificate",
        ([c, ..], _) if c.starts_with("certificates(") => "Certificate",
        (["pools", _, "upgradeos"], "POST") => "Pool - Upgrade OS",
        (["pools", _, "nodes", _, "rdp"], "GET") => "Compute Node - Get Remote Desktop",
        _ => return None,
    })
}

/// A resource the service has, whatever the method.
fn known_resource(s: &[&str]) -> bool {
    matches!(
        s,
        ["pools"]
            | ["pools", _]
            | ["pools", _, "nodes"]
            | ["pools", _, "nodes", _]
            | ["pools", _, "nodes", _, "files", ..]
            | ["jobs"]
            | ["jobs", _]
            | ["jobs", _, "tasks"]
            | ["jobs", _, "tasks", _]
            | ["jobschedules"]
            | ["jobschedules", _]
            | ["jobs", _, "tasks", _, "files", ..]
            | ["nodecounts"]
            | ["supportedimages"]
    )
}
