//! HTTP: one fallback handler that checks Shared Key and the api-version over the raw request,
//! dispatches on the percent-decoded path segments, and answers in the service's shapes.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::error::ApiError;
use super::odata::{self, Filter};
use super::scheduler::{self, set_task_state};
use super::state::{JobRec, PoolRec, TaskRec, Tx, key};
use super::{BatchService, etag, files};
use crate::azure::auth::{RequestParts, Service, decode_query, http_date, parse_http_date};
use crate::azure::models::{
    self, AllocationState, Job, JobConstraints, JobExecutionInfo, JobState, OnAllTasksComplete,
    OnTaskFailure, Pool, PoolState, Task, TaskAddResult, TaskAddStatus, TaskConstraints,
    TaskCounts, TaskExecutionInfo, TaskExecutionResult, TaskState,
};

/// API versions the emulator answers: azure-batch 15.x and 14.2.0, and the ones between.
const API_VERSIONS: &[&str] = &[
    "2025-06-01",
    "2024-07-01.20.0",
    "2024-02-01.19.0",
    "2023-11-01.18.0",
    "2023-05-01.17.0",
];
const UNLIMITED: &str = "P10675199DT2H48M5.4775807S";
const JSON_TYPE: &str = "application/json;odata=minimalmetadata";
const MAX_BODY: usize = 64 * 1024 * 1024;
/// The service refuses task collections larger than this.
const MAX_TASK_COLLECTION_BYTES: usize = 1024 * 1024;
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn router(svc: Arc<BatchService>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(svc)
}

/// What a handler needs of the request.
struct Ctx {
    method: Method,
    segs: Vec<String>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    /// `http://host:port`, as the client addressed us.
    base: String,
}

impl Ctx {
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json_body(&self.body)
    }
}

/// Reads a JSON request body as `T`; the error names the path of the bad property.
pub(crate) fn parse_json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ApiError::bad_body(format!("{} at {}", e.inner(), e.path())))?;
    // Nothing but whitespace may follow the document (`{"id":"p"} x` is not a body).
    de.end().map_err(|e| ApiError::bad_body(e.to_string()))?;
    Ok(value)
}

/// A successful answer.
struct Reply {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: Option<Body>,
    json: bool,
}

impl Reply {
    fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            json: false,
        }
    }

    fn json(status: StatusCode, v: &impl Serialize) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(Body::from(serde_json::to_vec(v).unwrap_or_default())),
            json: true,
        }
    }

    fn header(mut self, k: &'static str, v: impl Into<String>) -> Reply {
        self.headers.push((k, v.into()));
        self
    }

    /// ETag and Last-Modified of an entity.
    fn entity(self, etag: Option<&String>, modified: Option<DateTime<Utc>>) -> Reply {
        let mut r = self;
        if let Some(e) = etag {
            r = r.header("etag", e.clone());
        }
        if let Some(m) = modified {
            r = r.header("last-modified", http_date(m));
        }
        r
    }
}

type Res = Result<Reply, ApiError>;

async fn handle(State(svc): State<Arc<BatchService>>, req: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let base = format!("http://{host}");
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
                    if let Ok(mut u) = svc.account_url.lock() {
                        u.clone_from(&base);
                    }
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
                    check_api_version(&ctx).and_then(|()| dispatch(&svc, &ctx))
                }
            }
        }
    };
    let mut resp = match result {
        Ok(r) => {
            let mut b = Response::builder().status(r.status);
            if r.json {
                b = b.header(header::CONTENT_TYPE, JSON_TYPE);
            }
            for (k, v) in &r.headers {
                b = b.header(*k, v.as_str());
            }
            let body = if is_head {
                Body::empty()
            } else {
                r.body.unwrap_or_else(Body::empty)
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
            Response::builder()
                .status(e.status)
                .header(header::CONTENT_TYPE, JSON_TYPE)
                .body(body)
                .unwrap_or_default()
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

fn auth_failed(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
    )
    .with("AuthenticationErrorDetail", detail)
}

/// Shared Key over the raw path and query, with `ocp-date` (or `Date`) within 15 minutes.
fn authorize(
    svc: &BatchService,
    method: &Method,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let get = |n: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| *v)
    };
    let Some(auth) = get("authorization") else {
        return Err(auth_failed("The Authorization header was not found."));
    };
    let date = get("ocp-date")
        .or_else(|| get("date"))
        .ok_or_else(|| auth_failed("The request has no ocp-date or Date header."))?;
    let when = parse_http_date(date)
        .ok_or_else(|| auth_failed("The ocp-date or Date header is not a valid HTTP date."))?;
    if (Utc::now() - when).num_seconds().abs() > 15 * 60 {
        return Err(auth_failed(
            "The request time is more than 15 minutes away from the server time.",
        ));
    }
    let parts = RequestParts {
        method: method.as_str(),
        raw_path,
        raw_query,
        headers: pairs.clone(),
    };
    if svc
        .credential()
        .verify_authorization(Service::Batch, &parts, auth)
    {
        Ok(())
    } else {
        Err(auth_failed(
            "The MAC signature found in the HTTP request is not the same as any computed signature.",
        ))
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
        Some(v) if API_VERSIONS.contains(&v) => Ok(()),
        Some(v) => Err(ApiError::invalid_query(
            "api-version",
            v,
            "The specified api-version is not supported by the emulator.",
        )),
    }
}

fn dispatch(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let s: Vec<&str> = c.segs.iter().map(String::as_str).collect();
    let m = &c.method;
    let not_allowed = || {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnsupportedHttpVerb",
            "The resource doesn't support specified Http Verb.",
        ))
    };
    match (s.as_slice(), m.as_str()) {
        (["pools"], "POST") => add_pool(svc, c),
        (["pools"], "GET") => list_pools(svc, c),
        (["pools", p], "GET" | "HEAD") => get_pool(svc, c, p),
        (["pools", p], "DELETE") => delete_pool(svc, p),
        (["pools", p, "resize"], "POST") => resize_pool(svc, c, p),
        (["pools", p, "nodes"], "GET") => list_nodes(svc, c, p),
        (["pools", p, "nodes", n], "GET") => get_node(svc, c, p, n),
        (["pools", p, "nodes", n, "reboot"], "POST") => reboot_node(svc, p, n),
        (["pools", p, "nodes", n, "files"], "GET") => node_files(svc, c, p, n),
        (["pools", p, "nodes", n, "files", rest @ ..], "GET" | "HEAD") => {
            node_file(svc, c, p, n, &rest.join("/"))
        }
        (["jobs"], "POST") => add_job(svc, c),
        (["jobs"], "GET") => list_jobs(svc, c),
        (["jobs", j], "GET") => get_job(svc, c, j),
        (["jobs", j], "PATCH" | "PUT") => update_job(svc, c, j),
        (["jobs", j], "DELETE") => delete_job(svc, j),
        (["jobs", j, "terminate"], "POST") => terminate_job(svc, c, j),
        (["jobs", j, "taskcounts"], "GET") => task_counts(svc, c, j),
        (["jobs", j, "tasks"], "POST") => add_task(svc, c, j),
        (["jobs", j, "tasks"], "GET") => list_tasks(svc, c, j),
        (["jobs", j, "addtaskcollection"], "POST") => add_task_collection(svc, c, j),
        (["jobs", j, "tasks", t], "GET") => get_task(svc, c, j, t),
        (["jobs", j, "tasks", t], "DELETE") => delete_task(svc, j, t),
        (["jobs", j, "tasks", t, "terminate"], "POST") => terminate_task(svc, j, t),
        (["jobs", j, "tasks", t, "reactivate"], "POST") => reactivate_task(svc, j, t),
        (["jobs", j, "tasks", t, "files"], "GET") => task_files(svc, c, j, t),
        (["jobs", j, "tasks", t, "files", rest @ ..], "GET" | "HEAD") => {
            task_file(svc, c, j, t, &rest.join("/"))
        }
        (["pools", ..] | ["jobs", ..], _) if known_path(&s) => not_allowed(),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "InvalidUri",
            "The requested URI does not represent any resource on the server.",
        )),
    }
}

fn known_path(s: &[&str]) -> bool {
    matches!(
        s,
        ["pools"]
            | ["pools", _]
            | ["jobs"]
            | ["jobs", _]
            | ["jobs", _, "tasks"]
            | ["jobs", _, "tasks", _]
    )
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

fn with_meta(mut v: Value, meta: String) -> Value {
    if let Value::Object(o) = &mut v {
        let mut out = serde_json::Map::new();
        out.insert("odata.metadata".into(), Value::String(meta));
        out.append(o);
        return Value::Object(out);
    }
    v
}

fn render_pool(base: &str, p: &PoolRec) -> Value {
    let mut pool = p.pool.clone();
    pool.url = Some(format!("{base}/pools/{}", seg(&pool.id)));
    serde_json::to_value(pool).unwrap_or_default()
}

fn render_node(base: &str, pool_id: &str, n: &super::state::NodeRec) -> Value {
    let mut node = n.node.clone();
    node.url = Some(format!(
        "{base}/pools/{}/nodes/{}",
        seg(pool_id),
        seg(&node.id)
    ));
    serde_json::to_value(node).unwrap_or_default()
}

fn render_job(base: &str, j: &JobRec) -> Value {
    let mut job = j.job.clone();
    job.url = Some(format!("{base}/jobs/{}", seg(&job.id)));
    serde_json::to_value(job).unwrap_or_default()
}

fn render_task(base: &str, job_id: &str, t: &TaskRec) -> Value {
    let mut task = t.task.clone();
    let url = format!("{base}/jobs/{}/tasks/{}", seg(job_id), seg(&task.id));
    if let Some(ni) = task.node_info.as_mut()
        && let (Some(p), Some(n)) = (&ni.pool_id, &ni.node_id)
    {
        {
            let node_url = format!("{base}/pools/{}/nodes/{}", seg(p), seg(n));
            ni.task_root_directory_url = ni
                .task_root_directory
                .as_ref()
                .map(|d| format!("{node_url}/files/{d}"));
            ni.node_url = Some(node_url);
        }
    }
    task.url = Some(url);
    serde_json::to_value(task).unwrap_or_default()
}

/// Filters, selects and pages rendered entities, keyed for paging.
fn list_reply(c: &Ctx, kind: &str, items: Vec<(String, Value)>) -> Res {
    let filter: Option<Filter> = match c.q("$filter") {
        Some(f) if !f.trim().is_empty() => {
            Some(odata::parse_filter(f).map_err(|e| ApiError::invalid_query("$filter", f, &e.0))?)
        }
        _ => None,
    };
    let max = match c.q("maxresults") {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_query("maxresults", v, "must be between 1 and 1000")
            })?,
        None => 1000,
    };
    let select = c.q("$select").map(odata::parse_select);
    let items: Vec<(String, Value)> = items
        .into_iter()
        .filter(|(_, v)| filter.as_ref().is_none_or(|f| f.matches(v)))
        .collect();
    let (page, next) = odata::page(items, c.q("$skiptoken"), max);
    let value: Vec<Value> = page
        .into_iter()
        .map(|v| odata::select(v, select.as_deref()))
        .collect();
    let mut out = json!({
        "odata.metadata": format!("{}/$metadata#{kind}", c.base),
        "value": value,
    });
    if let Some(token) = next {
        let path: Vec<String> = c.segs.iter().map(|s| seg(s)).collect();
        let mut q: Vec<(String, String)> = c
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        q.push(("$skiptoken".into(), token));
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", seg(k).replace("%24", "$"), seg(v)))
            .collect();
        out["odata.nextLink"] =
            Value::String(format!("{}/{}?{}", c.base, path.join("/"), qs.join("&")));
    }
    Ok(Reply::json(StatusCode::OK, &out))
}

fn created(c: &Ctx, path: String, etag_v: &str, now: DateTime<Utc>) -> Reply {
    let url = format!("{}/{path}", c.base);
    Reply::empty(StatusCode::CREATED)
        .header("location", url.clone())
        .header("dataserviceid", url)
        .header("etag", etag_v.to_string())
        .header("last-modified", http_date(now))
        .header("content-length", "0")
}

fn accepted(path: Option<String>) -> Reply {
    let r = Reply::empty(StatusCode::ACCEPTED).header("content-length", "0");
    match path {
        Some(p) => r.header("dataserviceid", p),
        None => r,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

// ---------------------------------------------------------------------------------------------
// Pools

fn add_pool(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let mut pool: Pool = c.json()?;
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
    let now = Utc::now();
    let k = key(&pool.id);
    let mut st = svc.lock();
    if st.pools.contains_key(&k) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PoolExists",
            "The specified pool already exists.",
        ));
    }
    let tag = etag(now);
    pool.url = None;
    pool.e_tag = Some(tag.clone());
    pool.last_modified = Some(now);
    pool.creation_time = Some(now);
    pool.state = Some(PoolState::Active);
    pool.state_transition_time = Some(now);
    let targets =
        pool.target_dedicated_nodes.unwrap_or(0) + pool.target_low_priority_nodes.unwrap_or(0);
    pool.allocation_state = Some(if targets > 0 {
        AllocationState::Resizing
    } else {
        AllocationState::Steady
    });
    pool.allocation_state_transition_time = Some(now);
    pool.target_dedicated_nodes.get_or_insert(0);
    pool.target_low_priority_nodes.get_or_insert(0);
    pool.current_dedicated_nodes = Some(0);
    pool.current_low_priority_nodes = Some(0);
    pool.enable_auto_scale.get_or_insert(false);
    pool.task_slots_per_node.get_or_insert(1);
    pool.resize_timeout.get_or_insert_with(|| "PT15M".into());
    if let Some(s) = pool.start_task.as_mut() {
        s.max_task_retry_count.get_or_insert(0);
        s.wait_for_success.get_or_insert(true);
    }
    let path = format!("pools/{}", seg(&pool.id));
    let rec = PoolRec {
        pool,
        resize_since: now,
    };
    let mut tx = Tx::default();
    tx.pool(&k, &rec);
    svc.commit(tx)?;
    st.pools.insert(k, rec);
    drop(st);
    svc.wake.notify_one();
    Ok(created(c, path, &tag, now))
}

fn list_pools(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let items = {
        let st = svc.lock();
        st.pools
            .iter()
            .map(|(k, p)| (k.clone(), render_pool(&c.base, p)))
            .collect()
    };
    list_reply(c, "pools", items)
}

fn get_pool(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
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

fn delete_pool(svc: &Arc<BatchService>, p: &str) -> Res {
    let now = Utc::now();
    let k = key(p);
    let mut st = svc.lock();
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
}

fn resize_pool(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let body: ResizeBody = c.json()?;
    let now = Utc::now();
    let k = key(p);
    let mut st = svc.lock();
    let rec = st.pools.get_mut(&k).ok_or_else(ApiError::pool_not_found)?;
    if rec.pool.state == Some(PoolState::Deleting) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PoolBeingDeleted",
            "The specified pool has been marked for deletion and is being reclaimed.",
        ));
    }
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
    let mut tx = Tx::default();
    tx.pool(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}

// ---------------------------------------------------------------------------------------------
// Nodes

fn list_nodes(svc: &Arc<BatchService>, c: &Ctx, p: &str) -> Res {
    let pk = key(p);
    let items = {
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

fn get_node(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
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

fn reboot_node(svc: &Arc<BatchService>, p: &str, n: &str) -> Res {
    let nk = (key(p), n.to_string());
    if !svc.lock().pools.contains_key(&nk.0) {
        return Err(ApiError::pool_not_found());
    }
    if !scheduler::reboot(svc, &nk)? {
        return Err(ApiError::node_not_found());
    }
    Ok(accepted(None))
}

// ---------------------------------------------------------------------------------------------
// Jobs

fn add_job(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let mut job: Job = c.json()?;
    if job.id.is_empty() {
        return Err(ApiError::missing_property("id"));
    }
    if !valid_id(&job.id) {
        return Err(ApiError::invalid_property("id", job.id));
    }
    let Some(pool_id) = job.pool_info.pool_id.clone() else {
        return Err(ApiError::missing_property("poolInfo"));
    };
    let now = Utc::now();
    let k = key(&job.id);
    let mut st = svc.lock();
    if st.jobs.contains_key(&k) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobExists",
            "The specified job already exists.",
        ));
    }
    let tag = etag(now);
    job.url = None;
    job.e_tag = Some(tag.clone());
    job.last_modified = Some(now);
    job.creation_time = Some(now);
    job.state = Some(JobState::Active);
    job.state_transition_time = Some(now);
    job.priority.get_or_insert(0);
    job.max_parallel_tasks.get_or_insert(-1);
    let cons = job.constraints.get_or_insert_with(JobConstraints::default);
    cons.max_wall_clock_time
        .get_or_insert_with(|| UNLIMITED.into());
    cons.max_task_retry_count.get_or_insert(0);
    job.execution_info = Some(JobExecutionInfo {
        start_time: now,
        pool_id: Some(pool_id),
        ..JobExecutionInfo::default()
    });
    job.on_all_tasks_complete
        .get_or_insert(OnAllTasksComplete::NoAction);
    job.on_task_failure.get_or_insert(OnTaskFailure::NoAction);
    for (name, v) in [
        ("usesTaskDependencies", false),
        ("allowTaskPreemption", false),
    ] {
        job.extra.entry(name).or_insert(Value::Bool(v));
    }
    let path = format!("jobs/{}", seg(&job.id));
    let rec = JobRec { job };
    let mut tx = Tx::default();
    tx.job(&k, &rec);
    svc.commit(tx)?;
    st.jobs.insert(k, rec);
    drop(st);
    svc.wake.notify_one();
    Ok(created(c, path, &tag, now))
}

fn list_jobs(svc: &Arc<BatchService>, c: &Ctx) -> Res {
    let items = {
        let st = svc.lock();
        st.jobs
            .iter()
            .map(|(k, j)| (k.clone(), render_job(&c.base, j)))
            .collect()
    };
    list_reply(c, "jobs", items)
}

fn get_job(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let st = svc.lock();
    let rec = st.jobs.get(&key(j)).ok_or_else(ApiError::job_not_found)?;
    let v = odata::select(
        render_job(&c.base, rec),
        c.q("$select").map(odata::parse_select).as_deref(),
    );
    Ok(Reply::json(
        StatusCode::OK,
        &with_meta(v, format!("{}/$metadata#jobs/@Element", c.base)),
    )
    .entity(rec.job.e_tag.as_ref(), rec.job.last_modified))
}

fn update_job(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let body: Value = c.json()?;
    let now = Utc::now();
    let k = key(j);
    let mut st = svc.lock();
    let rec = st.jobs.get_mut(&k).ok_or_else(ApiError::job_not_found)?;
    let job = &mut rec.job;
    if let Some(v) = body.get("onAllTasksComplete").and_then(Value::as_str) {
        job.on_all_tasks_complete = Some(OnAllTasksComplete::parse(v));
    }
    if let Some(v) = body.get("priority").and_then(Value::as_i64) {
        job.priority = Some(v as i32);
    }
    if let Some(v) = body.get("maxParallelTasks").and_then(Value::as_i64) {
        job.max_parallel_tasks = Some(v as i32);
    }
    if let Some(v) = body.get("constraints") {
        let cons: JobConstraints =
            serde_json::from_value(v.clone()).map_err(|e| ApiError::bad_body(e.to_string()))?;
        job.constraints = Some(JobConstraints {
            max_wall_clock_time: cons.max_wall_clock_time.or_else(|| Some(UNLIMITED.into())),
            max_task_retry_count: cons.max_task_retry_count.or(Some(0)),
        });
    }
    if let Some(v) = body.get("metadata") {
        job.extra.insert("metadata".into(), v.clone());
    }
    job.last_modified = Some(now);
    let tag = etag(now);
    job.e_tag = Some(tag.clone());
    let mut tx = Tx::default();
    tx.job(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(Reply::empty(StatusCode::OK)
        .header("etag", tag)
        .header("last-modified", http_date(now))
        .header("content-length", "0"))
}

fn delete_job(svc: &Arc<BatchService>, j: &str) -> Res {
    let now = Utc::now();
    let k = key(j);
    let mut st = svc.lock();
    let rec = st.jobs.get_mut(&k).ok_or_else(ApiError::job_not_found)?;
    if rec.job.state == Some(JobState::Deleting) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobBeingDeleted",
            "The specified job has been marked for deletion and is being garbage collected.",
        ));
    }
    let job = &mut rec.job;
    job.previous_state = job.state.take();
    job.previous_state_transition_time = job.state_transition_time;
    job.state = Some(JobState::Deleting);
    job.state_transition_time = Some(now);
    job.last_modified = Some(now);
    job.e_tag = Some(etag(now));
    let mut tx = Tx::default();
    tx.job(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}

fn terminate_job(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let reason = if c.body.is_empty() {
        None
    } else {
        c.json::<Value>()?
            .get("terminateReason")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let now = Utc::now();
    let k = key(j);
    let mut st = svc.lock();
    let rec = st.jobs.get_mut(&k).ok_or_else(ApiError::job_not_found)?;
    match rec.job.state {
        Some(JobState::Completed | JobState::Terminating) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "JobCompleted",
                "The specified job is already in a completed state.",
            ));
        }
        Some(JobState::Deleting) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "JobBeingDeleted",
                "The specified job has been marked for deletion and is being garbage collected.",
            ));
        }
        _ => {}
    }
    let job = &mut rec.job;
    job.previous_state = job.state.take();
    job.previous_state_transition_time = job.state_transition_time;
    job.state = Some(JobState::Terminating);
    job.state_transition_time = Some(now);
    job.last_modified = Some(now);
    job.e_tag = Some(etag(now));
    if let Some(info) = job.execution_info.as_mut() {
        info.terminate_reason = Some(reason.unwrap_or_else(|| "UserTerminate".into()));
    }
    let mut tx = Tx::default();
    tx.job(&k, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(accepted(None))
}

fn task_counts(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let jk = key(j);
    let st = svc.lock();
    st.jobs.get(&jk).ok_or_else(ApiError::job_not_found)?;
    let mut counts = TaskCounts::default();
    let mut slots = TaskCounts::default();
    for t in st
        .tasks
        .range((jk.clone(), String::new())..)
        .take_while(|(k, _)| k.0 == jk)
        .map(|(_, t)| t)
    {
        let n = t.slots();
        let bump = |c: &mut TaskCounts, n: i32| match t.state() {
            TaskState::Completed => {
                c.completed += n;
                let ok = t
                    .task
                    .execution_info
                    .as_ref()
                    .and_then(|i| i.result.as_ref())
                    == Some(&TaskExecutionResult::Success);
                if ok {
                    c.succeeded += n;
                } else {
                    c.failed += n;
                }
            }
            TaskState::Running | TaskState::Preparing => c.running += n,
            _ => c.active += n,
        };
        bump(&mut counts, 1);
        bump(&mut slots, n);
    }
    let body = json!({
        "odata.metadata": format!("{}/$metadata#taskcountsresult/@Element", c.base),
        "taskCounts": counts,
        "taskSlotCounts": slots,
    });
    Ok(Reply::json(StatusCode::OK, &body))
}

// ---------------------------------------------------------------------------------------------
// Tasks

/// Validates a task add body and fills the service's defaults; `Err` is the client error.
pub(crate) fn new_task(job: &Job, v: Value, now: DateTime<Utc>) -> Result<Task, ApiError> {
    let mut task: Task = serde_path_to_error::deserialize(v)
        .map_err(|e| ApiError::bad_body(format!("{} at {}", e.inner(), e.path())))?;
    if task.id.is_empty() {
        return Err(ApiError::missing_property("id"));
    }
    if !valid_id(&task.id) {
        return Err(ApiError::invalid_property("id", task.id));
    }
    if task.command_line.trim().is_empty() {
        return Err(ApiError::missing_property("commandLine"));
    }
    if task.required_slots.is_some_and(|s| s < 1) {
        return Err(ApiError::invalid_property(
            "requiredSlots",
            task.required_slots.unwrap_or(0).to_string(),
        ));
    }
    let job_retries = job
        .constraints
        .as_ref()
        .and_then(|c| c.max_task_retry_count)
        .unwrap_or(0);
    let cons = task
        .constraints
        .get_or_insert_with(TaskConstraints::default);
    cons.max_wall_clock_time
        .get_or_insert_with(|| UNLIMITED.into());
    cons.retention_time.get_or_insert_with(|| "P7D".into());
    cons.max_task_retry_count.get_or_insert(job_retries);
    task.required_slots.get_or_insert(1);
    task.user_identity.get_or_insert_with(
        || json!({"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}),
    );
    task.url = None;
    task.creation_time = Some(now);
    task.last_modified = Some(now);
    task.e_tag = Some(etag(now));
    task.state = Some(TaskState::Active);
    task.state_transition_time = Some(now);
    task.previous_state = None;
    task.execution_info = Some(TaskExecutionInfo::default());
    task.node_info = None;
    Ok(task)
}

fn job_for_tasks(st: &super::state::State, jk: &str) -> Result<Job, ApiError> {
    let job = st.jobs.get(jk).ok_or_else(ApiError::job_not_found)?;
    match job.job.state {
        Some(JobState::Completed | JobState::Terminating) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobCompleted",
            "The specified job is already in a completed state.",
        )),
        Some(JobState::Deleting) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "JobBeingDeleted",
            "The specified job has been marked for deletion and is being garbage collected.",
        )),
        _ => Ok(job.job.clone()),
    }
}

fn task_exists() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "TaskExists",
        "The specified task already exists.",
    )
}

fn add_task(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let v: Value = c.json()?;
    let now = Utc::now();
    let jk = key(j);
    let mut st = svc.lock();
    let job = job_for_tasks(&st, &jk)?;
    let task = new_task(&job, v, now)?;
    let tk = (jk.clone(), key(&task.id));
    if st.tasks.contains_key(&tk) {
        return Err(task_exists());
    }
    let tag = task.e_tag.clone().unwrap_or_default();
    let path = format!("jobs/{}/tasks/{}", seg(&job.id), seg(&task.id));
    let rec = TaskRec {
        job_key: jk,
        task,
        node: None,
        run: None,
        pgid: None,
        files_removed: false,
    };
    let mut tx = Tx::default();
    tx.task(&tk, &rec);
    svc.commit(tx)?;
    st.tasks.insert(tk, rec);
    drop(st);
    svc.wake.notify_one();
    Ok(created(c, path, &tag, now))
}

fn add_task_collection(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The request body is too large and exceeds the maximum permissible limit.",
        )
    };
    if c.body.len() > MAX_TASK_COLLECTION_BYTES {
        return Err(too_large().with("MaxLimit", MAX_TASK_COLLECTION_BYTES.to_string()));
    }
    let body: models::TaskCollection = c.json()?;
    if body.value.len() > 100 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            "The number of tasks in the request exceeds the maximum of 100 per call.",
        )
        .with("MaxLimit", "100"));
    }
    let jk = key(j);
    let mut st = svc.lock();
    let job = job_for_tasks(&st, &jk)?;
    let mut results = Vec::new();
    let mut added = Vec::new();
    let mut tx = Tx::default();
    for v in body.value {
        // Each task gets its own creation time, as the service adds them one after the other:
        // a `stateTransitionTime ge` filter then returns only tasks that are new to it.
        let now = Utc::now();
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let outcome = new_task(&job, v, now).and_then(|t| {
            let tk = (jk.clone(), key(&t.id));
            if st.tasks.contains_key(&tk) || added.iter().any(|(k, _)| *k == tk) {
                Err(task_exists())
            } else {
                Ok((tk, t))
            }
        });
        match outcome {
            Ok((tk, task)) => {
                results.push(TaskAddResult {
                    status: TaskAddStatus::Success,
                    task_id: task.id.clone(),
                    e_tag: task.e_tag.clone(),
                    last_modified: Some(now),
                    location: Some(format!(
                        "{}/jobs/{}/tasks/{}",
                        c.base,
                        seg(&job.id),
                        seg(&task.id)
                    )),
                    error: None,
                    already_existed: false,
                });
                let rec = TaskRec {
                    job_key: jk.clone(),
                    task,
                    node: None,
                    run: None,
                    pgid: None,
                    files_removed: false,
                };
                tx.task(&tk, &rec);
                added.push((tk, rec));
            }
            Err(e) => {
                let mut body = e.body(&c.base, &uuid::Uuid::new_v4().to_string());
                body.odata_metadata = None;
                results.push(TaskAddResult {
                    status: if e.status.is_server_error() {
                        TaskAddStatus::ServerError
                    } else {
                        TaskAddStatus::ClientError
                    },
                    task_id: id,
                    e_tag: None,
                    last_modified: None,
                    location: None,
                    error: Some(body),
                    already_existed: false,
                })
            }
        }
    }
    svc.commit(tx)?;
    for (k, r) in added {
        st.tasks.insert(k, r);
    }
    drop(st);
    svc.wake.notify_one();
    let out = json!({
        "odata.metadata": format!("{}/$metadata#taskaddresult", c.base),
        "value": results,
    });
    Ok(Reply::json(StatusCode::OK, &out))
}

fn list_tasks(svc: &Arc<BatchService>, c: &Ctx, j: &str) -> Res {
    let jk = key(j);
    let items = {
        let st = svc.lock();
        let job = st.jobs.get(&jk).ok_or_else(ApiError::job_not_found)?;
        st.tasks
            .range((jk.clone(), String::new())..)
            .take_while(|(k, _)| k.0 == jk)
            .map(|(k, t)| (k.1.clone(), render_task(&c.base, &job.job.id, t)))
            .collect()
    };
    list_reply(c, "tasks", items)
}

fn get_task(svc: &Arc<BatchService>, c: &Ctx, j: &str, t: &str) -> Res {
    let st = svc.lock();
    let job = st.jobs.get(&key(j)).ok_or_else(ApiError::job_not_found)?;
    let rec = st
        .tasks
        .get(&(key(j), key(t)))
        .ok_or_else(ApiError::task_not_found)?;
    let v = odata::select(
        render_task(&c.base, &job.job.id, rec),
        c.q("$select").map(odata::parse_select).as_deref(),
    );
    Ok(Reply::json(
        StatusCode::OK,
        &with_meta(v, format!("{}/$metadata#tasks/@Element", c.base)),
    )
    .entity(rec.task.e_tag.as_ref(), rec.task.last_modified))
}

fn delete_task(svc: &Arc<BatchService>, j: &str, t: &str) -> Res {
    let tk = (key(j), key(t));
    let run = {
        let mut st = svc.lock();
        st.jobs.get(&tk.0).ok_or_else(ApiError::job_not_found)?;
        let rec = st.tasks.get(&tk).ok_or_else(ApiError::task_not_found)?;
        let run = rec.run;
        let mut tx = Tx::default();
        tx.del_task(&tk);
        svc.commit(tx)?;
        st.tasks.remove(&tk);
        run
    };
    if let Some(r) = run {
        svc.procs.kill(r);
    }
    svc.wake.notify_one();
    Ok(Reply::empty(StatusCode::OK).header("content-length", "0"))
}

fn terminate_task(svc: &Arc<BatchService>, j: &str, t: &str) -> Res {
    let now = Utc::now();
    let tk = (key(j), key(t));
    let run = {
        let mut st = svc.lock();
        st.jobs.get(&tk.0).ok_or_else(ApiError::job_not_found)?;
        let rec = st.tasks.get_mut(&tk).ok_or_else(ApiError::task_not_found)?;
        if *rec.state() == TaskState::Completed {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "TaskCompleted",
                "The specified task is already completed.",
            ));
        }
        let run = rec.run.take();
        let info = rec
            .task
            .execution_info
            .get_or_insert_with(TaskExecutionInfo::default);
        info.end_time = Some(now);
        info.result = Some(TaskExecutionResult::Failure);
        info.failure_info = Some(super::agent::failure(
            "TaskEnded",
            "Task Was Ended by User Request",
        ));
        rec.pgid = None;
        rec.node = None;
        set_task_state(rec, TaskState::Completed, now);
        let mut tx = Tx::default();
        tx.task(&tk, rec);
        svc.commit(tx)?;
        run
    };
    if let Some(r) = run {
        svc.procs.kill(r);
    }
    svc.wake.notify_one();
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

fn reactivate_task(svc: &Arc<BatchService>, j: &str, t: &str) -> Res {
    let now = Utc::now();
    let tk = (key(j), key(t));
    let mut st = svc.lock();
    st.jobs.get(&tk.0).ok_or_else(ApiError::job_not_found)?;
    let rec = st.tasks.get_mut(&tk).ok_or_else(ApiError::task_not_found)?;
    let failed = *rec.state() == TaskState::Completed
        && rec
            .task
            .execution_info
            .as_ref()
            .and_then(|i| i.result.as_ref())
            == Some(&TaskExecutionResult::Failure);
    if !failed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "TaskNotFailed",
            "The specified task did not fail and cannot be reactivated.",
        ));
    }
    if let Some(info) = rec.task.execution_info.as_mut() {
        info.retry_count = 0;
        info.exit_code = None;
        info.failure_info = None;
        info.result = None;
        info.end_time = None;
    }
    set_task_state(rec, TaskState::Active, now);
    let mut tx = Tx::default();
    tx.task(&tk, rec);
    svc.commit(tx)?;
    drop(st);
    svc.wake.notify_one();
    Ok(Reply::empty(StatusCode::NO_CONTENT))
}

// ---------------------------------------------------------------------------------------------
// Files

fn file_list_reply(c: &Ctx, root: Option<std::path::PathBuf>, url_prefix: &str) -> Res {
    let recursive = c
        .q("recursive")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let entries = root.map(|r| files::list(&r, recursive)).unwrap_or_default();
    let items = entries
        .into_iter()
        .map(|e| {
            let enc: Vec<String> = e.name.split('/').map(seg).collect();
            let v = serde_json::to_value(models::NodeFile {
                url: Some(format!("{url_prefix}/{}", enc.join("/"))),
                name: e.name.clone(),
                is_directory: e.is_dir,
                properties: Some(e.properties),
            })
            .unwrap_or_default();
            (e.name, v)
        })
        .collect();
    list_reply(c, "files", items)
}

fn file_reply(c: &Ctx, path: &std::path::Path, url: String) -> Res {
    let props = files::properties(path).ok_or_else(ApiError::file_not_found)?;
    let is_dir = path.is_dir();
    let mut r = Reply::empty(StatusCode::OK)
        .header("content-type", "application/octet-stream")
        .header(
            "ocp-creation-time",
            http_date(props.creation_time.unwrap_or(props.last_modified)),
        )
        .header("ocp-batch-file-isdirectory", is_dir.to_string())
        .header("ocp-batch-file-url", url)
        .header(
            "ocp-batch-file-mode",
            props.file_mode.clone().unwrap_or_default(),
        )
        .header("last-modified", http_date(props.last_modified));
    if is_dir || c.method == Method::HEAD {
        return Ok(r.header("content-length", props.content_length.to_string()));
    }
    let data =
        std::fs::read(path).map_err(|e| ApiError::internal(format!("reading a file: {e}")))?;
    let len = data.len() as u64;
    let (start, end) = match c.header("ocp-range") {
        Some(h) => files::parse_range(h, len).ok_or_else(|| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The range specified is invalid for the current size of the resource.",
            )
        })?,
        None => (0, len),
    };
    let slice = data[start as usize..end as usize].to_vec();
    r = r.header("content-length", slice.len().to_string());
    r.body = Some(Body::from(slice));
    Ok(r)
}

/// The directory of a task on its node, if the task has run somewhere.
fn task_root(
    svc: &BatchService,
    j: &str,
    t: &str,
) -> Result<(Option<std::path::PathBuf>, String), ApiError> {
    let st = svc.lock();
    let job = st.jobs.get(&key(j)).ok_or_else(ApiError::job_not_found)?;
    let rec = st
        .tasks
        .get(&(key(j), key(t)))
        .ok_or_else(ApiError::task_not_found)?;
    let root = rec
        .task
        .node_info
        .as_ref()
        .and_then(|ni| Some((ni.pool_id.clone()?, ni.node_id.clone()?)))
        .map(|(p, n)| svc.task_dir(&key(&p), &n, &job.job.id, &rec.task.id))
        .filter(|_| !rec.files_removed);
    Ok((root, job.job.id.clone()))
}

fn task_files(svc: &Arc<BatchService>, c: &Ctx, j: &str, t: &str) -> Res {
    let (root, job_id) = task_root(svc, j, t)?;
    let prefix = format!("{}/jobs/{}/tasks/{}/files", c.base, seg(&job_id), seg(t));
    file_list_reply(c, root, &prefix)
}

fn task_file(svc: &Arc<BatchService>, c: &Ctx, j: &str, t: &str, rel: &str) -> Res {
    let (root, job_id) = task_root(svc, j, t)?;
    let root = root.ok_or_else(ApiError::file_not_found)?;
    let path = files::resolve(&root, rel)?;
    let url = format!(
        "{}/jobs/{}/tasks/{}/files/{}",
        c.base,
        seg(&job_id),
        seg(t),
        seg(rel)
    );
    file_reply(c, &path, url)
}

fn node_root(svc: &BatchService, p: &str, n: &str) -> Result<std::path::PathBuf, ApiError> {
    let st = svc.lock();
    st.pools.get(&key(p)).ok_or_else(ApiError::pool_not_found)?;
    st.nodes
        .get(&(key(p), n.to_string()))
        .ok_or_else(ApiError::node_not_found)?;
    Ok(svc.node_dir(&key(p), n))
}

fn node_files(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
    let root = node_root(svc, p, n)?;
    let prefix = format!("{}/pools/{}/nodes/{}/files", c.base, seg(p), seg(n));
    file_list_reply(c, Some(root), &prefix)
}

fn node_file(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str, rel: &str) -> Res {
    let root = node_root(svc, p, n)?;
    let path = files::resolve(&root, rel)?;
    let url = format!(
        "{}/pools/{}/nodes/{}/files/{}",
        c.base,
        seg(p),
        seg(n),
        seg(rel)
    );
    file_reply(c, &path, url)
}
