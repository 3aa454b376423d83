//! HTTP: one fallback handler that authenticates over the raw request, recognises the
//! operation from method + `restype`/`comp`, and answers in the service's shapes.
//! Paths are kept raw for signatures and percent-decoded for container and blob names.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use percent_encoding::percent_decode_str;

use super::BlobService;
use super::auth::{self, AuthRequest, Grant};
use super::content::{self, ByteRange, parse_range};
use super::error::BlobError;
use super::names;
use super::ops::Op;
use super::store::{BlobProps, BlobRec, BlockRec, NewBlob, Segment, Store};
use super::xml::{self, ListEcho};
use crate::azure::auth::{decode_query, http_date, parse_http_date, redact_url};

/// Answered when the request names no `x-ms-version`.
const DEFAULT_VERSION: &str = "2026-10-06";
/// Largest Put Blob or Put Block body the emulator takes (the service allows 5000/4000 MiB).
pub const MAX_PUT_BYTES: u64 = 256 * 1024 * 1024;
/// Largest XML request body (a block list of 50,000 ids fits easily).
const MAX_XML_BYTES: u64 = 8 * 1024 * 1024;
/// A refused request's body is read and dropped up to this size, so that the client gets
/// the answer rather than a reset connection.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// The service's limit on the names and values of a resource's metadata.
const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Largest range for which a client may ask the MD5 (`x-ms-range-get-content-md5`).
const MAX_RANGE_MD5: u64 = 4 * 1024 * 1024;
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
const XML_TYPE: &str = "application/xml";
const SERVER: &str = "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0";

pub fn router(svc: Arc<BlobService>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(svc)
}

/// What a handler needs of the request.
struct Ctx {
    method: Method,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    /// Decoded names; empty when the path has none.
    container: String,
    blob: String,
    grant: Grant,
    /// `http://host:port/account/`, as the client addressed us.
    endpoint: String,
}

impl Ctx {
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A successful answer.
struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Reply {
    fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::empty(),
        }
    }

    fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    fn set(&mut self, k: &str, v: impl Into<String>) {
        let v = v.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
        {
            Some(slot) => slot.1 = v,
            None => self.headers.push((k.to_string(), v)),
        }
    }

    fn version(self, etag: &str, modified: DateTime<Utc>) -> Reply {
        self.header("ETag", etag)
            .header("Last-Modified", http_date(modified))
    }

    fn xml(self, body: String) -> Reply {
        let mut r = self.header("Content-Type", XML_TYPE);
        r.body = Body::from(body);
        r
    }
}

type Res = Result<Reply, BlobError>;

async fn handle(State(svc): State<Arc<BlobService>>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let result = serve(&svc, &parts, &mut body, peer).await;
    if result.is_err()
        && let Some(b) = body.take()
    {
        drain(b, &parts.headers).await;
    }
    let is_head = parts.method == Method::HEAD;
    let (mut resp, code) = match result {
        Ok(r) => (success_response(r, is_head), None),
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(code = e.code, "blob request failed");
            }
            (error_response(&e, &request_id, is_head), Some(e.code))
        }
    };
    let h = resp.headers_mut();
    let version = parts
        .headers
        .get("x-ms-version")
        .cloned()
        .unwrap_or(HeaderValue::from_static(DEFAULT_VERSION));
    h.insert("x-ms-version", version);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-ms-request-id", v);
    }
    if let Some(c) = parts.headers.get("x-ms-client-request-id") {
        h.insert("x-ms-client-request-id", c.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(Utc::now())) {
        h.insert(header::DATE, v);
    }
    h.insert(header::SERVER, HeaderValue::from_static(SERVER));
    tracing::debug!(
        method = %parts.method,
        url = %redact_url(&parts.uri.to_string()),
        status = resp.status().as_u16(),
        code = code.unwrap_or(""),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "blob request"
    );
    resp
}

fn header_pairs(r: &Reply) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
    r.headers.iter().filter_map(|(k, v)| {
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            (Ok(k), Ok(v)) => Some((k, v)),
            _ => {
                tracing::warn!(header = %k, "dropping a response header that is not valid HTTP");
                None
            }
        }
    })
}

fn success_response(r: Reply, is_head: bool) -> Response {
    let mut b = Response::builder().status(r.status);
    for (k, v) in header_pairs(&r) {
        b = b.header(k, v);
    }
    let body = if is_head { Body::empty() } else { r.body };
    b.body(body).unwrap_or_default()
}

fn error_response(e: &BlobError, request_id: &str, is_head: bool) -> Response {
    let mut b = Response::builder()
        .status(e.status)
        .header("x-ms-error-code", e.code);
    if e.status == StatusCode::RANGE_NOT_SATISFIABLE
        && let Some((_, size)) = e.details.iter().find(|(k, _)| *k == "RangeSize")
    {
        b = b.header(header::CONTENT_RANGE, format!("bytes */{size}"));
    }
    let body = if is_head || e.status == StatusCode::NOT_MODIFIED {
        Body::empty()
    } else {
        b = b.header(header::CONTENT_TYPE, XML_TYPE);
        Body::from(e.xml_body(request_id))
    };
    b.body(body).unwrap_or_default()
}

/// Reads and drops what is left of a refused request's body (bounded in size and time).
async fn drain(body: Body, headers: &HeaderMap) {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|l| l > DRAIN_LIMIT) {
        return;
    }
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(chunk)) = stream.next().await {
            total += chunk.len() as u64;
            if total > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
}

/// `/account[/container[/blob...]]`, decoded; empty parts are `None`.
pub(crate) fn split_path(
    raw_path: &str,
) -> Result<(String, Option<String>, Option<String>), BlobError> {
    let decode = |s: &str| -> Result<String, BlobError> {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                BlobError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidUri",
                    "The requested URI does not represent any resource on the server: it is not UTF-8 once percent-decoded.",
                )
            })
    };
    let p = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let (account, rest) = p.split_once('/').unwrap_or((p, ""));
    let (container, blob) = rest.split_once('/').unwrap_or((rest, ""));
    let opt = |s: String| if s.is_empty() { None } else { Some(s) };
    Ok((
        decode(account)?,
        opt(decode(container)?),
        opt(decode(blob)?),
    ))
}

async fn serve(
    svc: &Arc<BlobService>,
    parts: &axum::http::request::Parts,
    body: &mut Option<Body>,
    peer: Option<IpAddr>,
) -> Res {
    let raw_path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or("");
    let (account, container, blob) = split_path(raw_path)?;
    if account.is_empty() {
        return Err(BlobError::new(
            StatusCode::BAD_REQUEST,
            "InvalidUri",
            "The requested URI does not represent any resource on the server: the path must start with the account name.",
        ));
    }
    if account != svc.account() {
        return Err(BlobError::auth_failed(format!(
            "The account '{account}' does not exist here: this emulator serves '{}' only.",
            svc.account()
        )));
    }
    let query = decode_query(raw_query);
    let header_list: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let grant = auth::authenticate(
        &svc.credential,
        &AuthRequest {
            method: parts.method.as_str(),
            raw_path,
            raw_query,
            headers: header_list,
            query: &query,
            container: container.as_deref(),
            blob: blob.as_deref(),
            peer,
            https: false,
        },
        Utc::now(),
    )?;
    let q = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let op = Op::classify(
        &parts.method,
        container.is_some(),
        blob.is_some(),
        q("restype"),
        q("comp"),
        parts.headers.contains_key("x-ms-copy-source"),
    )?;
    auth::authorize(&grant, op)?;
    if let Some(c) = &container {
        names::check_container(c)?;
    }
    if let Some(b) = &blob {
        names::check_blob(b)?;
    }
    if parts.headers.contains_key("x-ms-lease-id") && op != Op::GetAccountInfo {
        return Err(BlobError::new(
            StatusCode::PRECONDITION_FAILED,
            "LeaseNotPresentWithBlobOperation",
            "There is currently no lease on the blob (the emulator does not implement leases).",
        ));
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let ctx = Ctx {
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        query: query.clone(),
        container: container.unwrap_or_default(),
        blob: blob.unwrap_or_default(),
        grant,
        endpoint: format!("http://{host}/{account}/"),
    };
    match op {
        Op::ListContainers => list_containers(svc, &ctx),
        Op::GetServiceProperties => get_service_properties(svc),
        Op::SetServiceProperties => set_service_properties(svc, &ctx, body).await,
        Op::GetAccountInfo => Ok(Reply::new(StatusCode::OK)
            .header("x-ms-sku-name", "Standard_LRS")
            .header("x-ms-account-kind", "StorageV2")
            .header("x-ms-is-hns-enabled", "false")),
        Op::CreateContainer => create_container(svc, &ctx).await,
        Op::GetContainerProperties => get_container_properties(svc, &ctx),
        Op::SetContainerMetadata => set_container_metadata(svc, &ctx).await,
        Op::DeleteContainer => delete_container(svc, &ctx).await,
        Op::ListBlobs => list_blobs(svc, &ctx),
        Op::PutBlob => put_blob(svc, &ctx, body).await,
        Op::PutBlock => put_block(svc, &ctx, body).await,
        Op::PutBlockList => put_block_list(svc, &ctx, body).await,
        Op::GetBlockList => get_block_list(svc, &ctx),
        Op::GetBlob => get_blob(svc, &ctx, false).await,
        Op::GetBlobProperties => get_blob(svc, &ctx, true).await,
        Op::SetBlobMetadata => set_blob_metadata(svc, &ctx).await,
        Op::SetBlobProperties => set_blob_properties(svc, &ctx).await,
        Op::DeleteBlob => delete_blob(svc, &ctx).await,
    }
}

/// Runs store work (fsyncs, file removal) off the async threads.
async fn blocking<T, F>(svc: &Arc<BlobService>, f: F) -> Result<T, BlobError>
where
    F: FnOnce(&Store) -> Result<T, BlobError> + Send + 'static,
    T: Send + 'static,
{
    let svc = svc.clone();
    tokio::task::spawn_blocking(move || f(&svc.store))
        .await
        .map_err(|e| BlobError::internal(format!("blocking task: {e}")))?
}

async fn remove_files(svc: &Arc<BlobService>, files: Vec<String>) {
    if files.is_empty() {
        return;
    }
    let _ = blocking(svc, move |s| {
        s.remove_files(&files);
        Ok(())
    })
    .await;
}

fn take_body(body: &mut Option<Body>) -> Result<Body, BlobError> {
    body.take()
        .ok_or_else(|| BlobError::internal("the request body was already taken"))
}

fn check_length(h: &HeaderMap, cap: u64) -> Result<(), BlobError> {
    let declared = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(l) if l > cap => Err(BlobError::too_large(cap)),
        _ => Ok(()),
    }
}

/// Reads a small (XML) body whole, or 413 past `cap`.
async fn read_small_body(
    body: &mut Option<Body>,
    h: &HeaderMap,
    cap: u64,
) -> Result<Vec<u8>, BlobError> {
    check_length(h, cap)?;
    let mut stream = take_body(body)?.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            BlobError::new(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                format!("The request body could not be read: {e}"),
            )
        })?;
        if (out.len() + chunk.len()) as u64 > cap {
            return Err(BlobError::too_large(cap));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `x-ms-meta-*` headers: names must be C# identifiers; 8 KiB in all.
fn metadata(h: &HeaderMap) -> Result<Vec<(String, String)>, BlobError> {
    let invalid = || {
        BlobError::new(
            StatusCode::BAD_REQUEST,
            "InvalidMetadata",
            "The metadata specified is invalid. It has characters that are not permitted.",
        )
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in h {
        let Some(name) = k.as_str().strip_prefix("x-ms-meta-") else {
            continue;
        };
        let ident = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(invalid());
        }
        let value = v.to_str().map_err(|_| invalid())?.trim().to_string();
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1.push(',');
                slot.1.push_str(&value);
            }
            None => out.push((name.to_string(), value)),
        }
    }
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_METADATA_BYTES {
        return Err(BlobError::new(
            StatusCode::BAD_REQUEST,
            "MetadataTooLarge",
            "The size of the specified metadata exceeds the maximum size permitted (8 KiB).",
        ));
    }
    Ok(out)
}

fn meta_headers(mut r: Reply, md: &[(String, String)]) -> Reply {
    for (k, v) in md {
        r = r.header(&format!("x-ms-meta-{k}"), v.clone());
    }
    r
}

/// A Content-MD5 style header: base64 of 16 bytes.
fn md5_header(h: &HeaderMap, name: &str) -> Result<Option<[u8; 16]>, BlobError> {
    let Some(v) = h.get(name) else {
        return Ok(None);
    };
    let bad = || {
        BlobError::new(
            StatusCode::BAD_REQUEST,
            "InvalidMd5",
            "The MD5 value specified in the request is invalid. The MD5 value must be 128 bits and Base64-encoded.",
        )
        .with("HeaderName", name)
    };
    let s = v.to_str().map_err(|_| bad())?;
    let bytes = B64.decode(s.trim()).map_err(|_| bad())?;
    let arr: [u8; 16] = bytes.try_into().map_err(|_| bad())?;
    Ok(Some(arr))
}

/// The blob's HTTP properties from `x-ms-blob-*` headers; for Put Blob (`standard`), the
/// request's own Content-Type/-Encoding/-Language and Cache-Control are the fallback.
fn blob_props(h: &HeaderMap, standard: bool) -> Result<BlobProps, BlobError> {
    let get = |x: &str, std_name: &str| {
        h.get(x)
            .or_else(|| if standard { h.get(std_name) } else { None })
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let md5 = md5_header(h, "x-ms-blob-content-md5")?.map(|m| B64.encode(m));
    Ok(BlobProps {
        content_type: get("x-ms-blob-content-type", "content-type"),
        content_encoding: get("x-ms-blob-content-encoding", "content-encoding"),
        content_language: get("x-ms-blob-content-language", "content-language"),
        content_disposition: get(
            "x-ms-blob-content-disposition",
            "x-ms-blob-content-disposition",
        ),
        cache_control: get("x-ms-blob-cache-control", "cache-control"),
        content_md5: md5,
    })
}

// ---------------------------------------------------------------------------------------------
// Conditional requests

#[derive(Debug, Clone, Default)]
struct Conditions {
    if_match: Option<String>,
    if_none_match: Option<String>,
    if_modified_since: Option<DateTime<Utc>>,
    if_unmodified_since: Option<DateTime<Utc>>,
}

fn etag_listed(list: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    list.split(',').map(str::trim).any(|t| {
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

impl Conditions {
    fn from_headers(h: &HeaderMap) -> Conditions {
        let s = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        Conditions {
            if_match: s("if-match"),
            if_none_match: s("if-none-match"),
            // Dates that do not parse are ignored, as HTTP says.
            if_modified_since: s("if-modified-since").and_then(|d| parse_http_date(&d)),
            if_unmodified_since: s("if-unmodified-since").and_then(|d| parse_http_date(&d)),
        }
    }

    /// Modified after `t`, at the one-second resolution of HTTP dates.
    fn modified_after(modified: DateTime<Utc>, t: DateTime<Utc>) -> bool {
        modified.timestamp() > t.timestamp()
    }

    /// GET/HEAD: 412 for If-Match / If-Unmodified-Since, 304 for If-None-Match /
    /// If-Modified-Since.
    fn check_read(&self, etag: &str, modified: DateTime<Utc>) -> Result<(), BlobError> {
        if self
            .if_match
            .as_deref()
            .is_some_and(|l| !etag_listed(l, etag))
            || self
                .if_unmodified_since
                .is_some_and(|t| Self::modified_after(modified, t))
        {
            return Err(BlobError::condition_not_met());
        }
        if self
            .if_none_match
            .as_deref()
            .is_some_and(|l| etag_listed(l, etag))
            || self
                .if_modified_since
                .is_some_and(|t| !Self::modified_after(modified, t))
        {
            return Err(BlobError::not_modified());
        }
        Ok(())
    }

    /// Writes: 412 when a condition fails; `If-None-Match: *` on an existing blob is 409
    /// BlobAlreadyExists when the write would create it (`creating`).
    fn check_write(&self, rec: Option<&BlobRec>, creating: bool) -> Result<(), BlobError> {
        let Some(rec) = rec else {
            return match self.if_match {
                Some(_) => Err(BlobError::condition_not_met()),
                None => Ok(()),
            };
        };
        if let Some(l) = &self.if_none_match {
            if creating && l.trim() == "*" {
                return Err(BlobError::blob_exists());
            }
            if etag_listed(l, &rec.etag) {
                return Err(BlobError::condition_not_met());
            }
        }
        if self
            .if_match
            .as_deref()
            .is_some_and(|l| !etag_listed(l, &rec.etag))
            || self
                .if_unmodified_since
                .is_some_and(|t| Self::modified_after(rec.modified, t))
            || self
                .if_modified_since
                .is_some_and(|t| !Self::modified_after(rec.modified, t))
        {
            return Err(BlobError::condition_not_met());
        }
        Ok(())
    }
}

/// A SAS with `c` but not `w` may create a blob, not overwrite one.
fn create_only(grant: &Grant, existing: Option<&BlobRec>) -> Result<(), BlobError> {
    if existing.is_some() && !grant.allows('w') {
        return Err(BlobError::forbidden(
            "AuthorizationPermissionMismatch",
            "permission",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Service

fn get_service_properties(svc: &Arc<BlobService>) -> Res {
    let body = match svc.store.service_properties()? {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => xml::default_service_properties(),
    };
    Ok(Reply::new(StatusCode::OK).xml(body))
}

async fn set_service_properties(svc: &Arc<BlobService>, ctx: &Ctx, body: &mut Option<Body>) -> Res {
    let doc = read_small_body(body, &ctx.headers, MAX_XML_BYTES).await?;
    xml::check_service_properties(&doc)?;
    blocking(svc, move |s| s.set_service_properties(&doc)).await?;
    Ok(Reply::new(StatusCode::ACCEPTED))
}

/// `maxresults`: 1..=5000 (larger values are capped, as the service does).
fn max_results(v: Option<&str>) -> Result<usize, BlobError> {
    match v {
        None => Ok(5000),
        Some(s) => {
            let n: i64 = s
                .trim()
                .parse()
                .map_err(|_| BlobError::invalid_query("maxresults", s, "not an integer"))?;
            if n <= 0 {
                return Err(BlobError::out_of_range("maxresults", s));
            }
            Ok(n.min(5000) as usize)
        }
    }
}

/// Continuation markers are opaque to clients: the next name, base64url-encoded.
fn encode_marker(name: &str) -> String {
    B64URL.encode(name.as_bytes())
}

fn decode_marker(v: Option<&str>) -> Result<Option<String>, BlobError> {
    match v {
        None | Some("") => Ok(None),
        Some(m) => B64URL
            .decode(m.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| {
                BlobError::invalid_query("marker", m, "not a marker this service returned")
            }),
    }
}

/// The `include` list: which values are known, and whether `metadata` is among them.
fn include_metadata(v: Option<&str>, known: &[&str]) -> Result<bool, BlobError> {
    let mut md = false;
    for item in v
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let lower = item.to_ascii_lowercase();
        if !known.contains(&lower.as_str()) {
            return Err(BlobError::invalid_query("include", item, "unknown value"));
        }
        md |= lower == "metadata";
    }
    Ok(md)
}

fn list_containers(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    let prefix = ctx.q("prefix").unwrap_or("");
    let from = decode_marker(ctx.q("marker"))?;
    let max = max_results(ctx.q("maxresults"))?;
    let md = include_metadata(ctx.q("include"), &["metadata", "deleted", "system"])?;
    let (items, next) = svc.store.list_containers(prefix, from.as_deref(), max)?;
    let echo = ListEcho {
        prefix: ctx.q("prefix"),
        marker: ctx.q("marker"),
        max_results: ctx.q("maxresults"),
        delimiter: None,
    };
    let next = next.map(|n| encode_marker(&n));
    Ok(Reply::new(StatusCode::OK).xml(xml::render_containers(
        &ctx.endpoint,
        &echo,
        &items,
        md,
        next.as_deref(),
    )))
}

// ---------------------------------------------------------------------------------------------
// Containers

async fn create_container(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    if ctx.header("x-ms-blob-public-access").is_some() {
        return Err(BlobError::new(
            StatusCode::CONFLICT,
            "PublicAccessNotPermitted",
            "Public access is not permitted on this storage account.",
        ));
    }
    let md = metadata(&ctx.headers)?;
    let name = ctx.container.clone();
    let rec = blocking(svc, move |s| s.create_container(&name, md)).await?;
    Ok(Reply::new(StatusCode::CREATED).version(&rec.etag, rec.modified))
}

fn get_container_properties(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    let rec = svc
        .store
        .container(&ctx.container)?
        .ok_or_else(BlobError::container_not_found)?;
    let r = Reply::new(StatusCode::OK)
        .version(&rec.etag, rec.modified)
        .header("x-ms-lease-status", "unlocked")
        .header("x-ms-lease-state", "available")
        .header("x-ms-has-immutability-policy", "false")
        .header("x-ms-has-legal-hold", "false")
        .header("x-ms-default-encryption-scope", "$account-encryption-key")
        .header("x-ms-deny-encryption-scope-override", "false")
        .header("x-ms-immutable-storage-with-versioning-enabled", "false");
    Ok(meta_headers(r, &rec.metadata))
}

async fn set_container_metadata(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    let md = metadata(&ctx.headers)?;
    let name = ctx.container.clone();
    let rec = blocking(svc, move |s| s.set_container_metadata(&name, md)).await?;
    Ok(Reply::new(StatusCode::OK).version(&rec.etag, rec.modified))
}

async fn delete_container(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    for h in ["if-match", "if-none-match"] {
        if ctx.headers.contains_key(h) {
            return Err(BlobError::unsupported_header(
                h,
                "containers take If-Modified-Since and If-Unmodified-Since only",
            ));
        }
    }
    let conds = Conditions::from_headers(&ctx.headers);
    let name = ctx.container.clone();
    let files = blocking(svc, move |s| {
        s.delete_container(&name, &|rec| {
            let failed = conds
                .if_modified_since
                .is_some_and(|t| !Conditions::modified_after(rec.modified, t))
                || conds
                    .if_unmodified_since
                    .is_some_and(|t| Conditions::modified_after(rec.modified, t));
            if failed {
                Err(BlobError::condition_not_met())
            } else {
                Ok(())
            }
        })
    })
    .await?;
    remove_files(svc, files).await;
    Ok(Reply::new(StatusCode::ACCEPTED))
}

fn list_blobs(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    let prefix = ctx.q("prefix").unwrap_or("");
    let delimiter = ctx.q("delimiter").filter(|d| !d.is_empty());
    let from = decode_marker(ctx.q("marker"))?;
    let max = max_results(ctx.q("maxresults"))?;
    let md = include_metadata(
        ctx.q("include"),
        &[
            "snapshots",
            "metadata",
            "uncommittedblobs",
            "copy",
            "deleted",
            "tags",
            "versions",
            "deletedwithversions",
            "immutabilitypolicy",
            "legalhold",
            "permissions",
        ],
    )?;
    let (items, next) =
        svc.store
            .list_blobs(&ctx.container, prefix, delimiter, from.as_deref(), max)?;
    let echo = ListEcho {
        prefix: ctx.q("prefix"),
        marker: ctx.q("marker"),
        max_results: ctx.q("maxresults"),
        delimiter,
    };
    let next = next.map(|n| encode_marker(&n));
    Ok(Reply::new(StatusCode::OK).xml(xml::render_blobs(
        &ctx.endpoint,
        &ctx.container,
        &echo,
        &items,
        md,
        next.as_deref(),
    )))
}

// ---------------------------------------------------------------------------------------------
// Blobs

fn check_blob_type(ctx: &Ctx) -> Result<(), BlobError> {
    match ctx.header("x-ms-blob-type") {
        None => Err(BlobError::missing_header("x-ms-blob-type")),
        Some("BlockBlob") => Ok(()),
        Some("PageBlob") => Err(BlobError::not_implemented("page blobs")),
        Some("AppendBlob") => Err(BlobError::not_implemented("append blobs")),
        Some(v) => Err(BlobError::invalid_header("x-ms-blob-type", v)),
    }
}

async fn put_blob(svc: &Arc<BlobService>, ctx: &Ctx, body: &mut Option<Body>) -> Res {
    check_blob_type(ctx)?;
    let mut props = blob_props(&ctx.headers, true)?;
    props
        .content_type
        .get_or_insert_with(|| DEFAULT_CONTENT_TYPE.to_string());
    let md = metadata(&ctx.headers)?;
    let sent_md5 = md5_header(&ctx.headers, "content-md5")?;
    let conds = Conditions::from_headers(&ctx.headers);
    check_length(&ctx.headers, MAX_PUT_BYTES)?;
    // Refuse before taking the body when the answer is already known.
    let existing = svc.store.blob(&ctx.container, &ctx.blob)?;
    conds.check_write(existing.as_ref(), true)?;
    create_only(&ctx.grant, existing.as_ref())?;

    // The service computes a Put Blob's MD5 and keeps it as the blob's Content-MD5.
    let w = content::write_body(
        svc.store.files_dir().to_path_buf(),
        take_body(body)?,
        MAX_PUT_BYTES,
        true,
    )
    .await?;
    let computed = w.md5_b64().unwrap_or_default();
    if let Some(sent) = sent_md5
        && Some(sent) != w.md5
    {
        remove_files(svc, vec![w.file.clone()]).await;
        return Err(BlobError::md5_mismatch(&B64.encode(sent), &computed));
    }
    props.content_md5.get_or_insert_with(|| computed.clone());
    let seg = Segment {
        file: w.file.clone(),
        len: w.len,
        block_id: None,
    };
    let (c, b, grant) = (ctx.container.clone(), ctx.blob.clone(), ctx.grant.clone());
    let new = NewBlob {
        props,
        metadata: md,
    };
    let result = blocking(svc, move |s| {
        s.put_blob(&c, &b, seg, new, &|e| {
            conds.check_write(e, true)?;
            create_only(&grant, e)
        })
    })
    .await;
    match result {
        Err(e) => {
            remove_files(svc, vec![w.file.clone()]).await;
            Err(e)
        }
        Ok((rec, garbage)) => {
            remove_files(svc, garbage).await;
            Ok(Reply::new(StatusCode::CREATED)
                .version(&rec.etag, rec.modified)
                .header("Content-MD5", computed)
                .header("x-ms-request-server-encrypted", "true"))
        }
    }
}

/// A block id: base64 of at most 64 bytes.
fn block_id(ctx: &Ctx) -> Result<String, BlobError> {
    let Some(id) = ctx.q("blockid") else {
        return Err(BlobError::new(
            StatusCode::BAD_REQUEST,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
        )
        .with("QueryParameterName", "blockid"));
    };
    match B64.decode(id.as_bytes()) {
        Ok(raw) if !raw.is_empty() && raw.len() <= 64 => Ok(id.to_string()),
        _ => Err(BlobError::invalid_query(
            "blockid",
            id,
            "a block id is base64 of 1 to 64 bytes",
        )),
    }
}

async fn put_block(svc: &Arc<BlobService>, ctx: &Ctx, body: &mut Option<Body>) -> Res {
    let id = block_id(ctx)?;
    let sent_md5 = md5_header(&ctx.headers, "content-md5")?;
    check_length(&ctx.headers, MAX_PUT_BYTES)?;
    if svc.store.container(&ctx.container)?.is_none() {
        return Err(BlobError::container_not_found());
    }
    // A block is hashed only to check a Content-MD5 the client sent: since version 2019-02-02
    // the service returns a block's Content-MD5 only when the request carried one (hashing
    // every block was half of the emulator's CPU in a large upload).
    let w = content::write_body(
        svc.store.files_dir().to_path_buf(),
        take_body(body)?,
        MAX_PUT_BYTES,
        sent_md5.is_some(),
    )
    .await?;
    if let Some(sent) = sent_md5
        && Some(sent) != w.md5
    {
        remove_files(svc, vec![w.file.clone()]).await;
        let computed = w.md5_b64().unwrap_or_default();
        return Err(BlobError::md5_mismatch(&B64.encode(sent), &computed));
    }
    let (c, b) = (ctx.container.clone(), ctx.blob.clone());
    let block = BlockRec {
        file: w.file.clone(),
        len: w.len,
    };
    match blocking(svc, move |s| s.put_block(&c, &b, &id, block)).await {
        Err(e) => {
            remove_files(svc, vec![w.file.clone()]).await;
            Err(e)
        }
        Ok(garbage) => {
            remove_files(svc, garbage).await;
            let mut reply =
                Reply::new(StatusCode::CREATED).header("x-ms-request-server-encrypted", "true");
            if let Some(md5) = w.md5_b64() {
                reply.set("Content-MD5", md5);
            }
            Ok(reply)
        }
    }
}

async fn put_block_list(svc: &Arc<BlobService>, ctx: &Ctx, body: &mut Option<Body>) -> Res {
    let mut props = blob_props(&ctx.headers, false)?;
    props
        .content_type
        .get_or_insert_with(|| DEFAULT_CONTENT_TYPE.to_string());
    let md = metadata(&ctx.headers)?;
    let sent_md5 = md5_header(&ctx.headers, "content-md5")?;
    let conds = Conditions::from_headers(&ctx.headers);
    let doc = read_small_body(body, &ctx.headers, MAX_XML_BYTES).await?;
    let doc_md5 = content::md5_b64(&doc);
    if let Some(sent) = sent_md5
        && B64.encode(sent) != doc_md5
    {
        return Err(BlobError::md5_mismatch(&B64.encode(sent), &doc_md5));
    }
    let list = xml::parse_block_list(&doc)?;
    let (c, b, grant) = (ctx.container.clone(), ctx.blob.clone(), ctx.grant.clone());
    let new = NewBlob {
        props,
        metadata: md,
    };
    let (rec, garbage) = blocking(svc, move |s| {
        s.commit_blocks(&c, &b, &list, new, &|e| {
            conds.check_write(e, true)?;
            create_only(&grant, e)
        })
    })
    .await?;
    remove_files(svc, garbage).await;
    Ok(Reply::new(StatusCode::CREATED)
        .version(&rec.etag, rec.modified)
        .header("Content-MD5", doc_md5)
        .header("x-ms-request-server-encrypted", "true"))
}

fn get_block_list(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    let kind = ctx
        .q("blocklisttype")
        .unwrap_or("committed")
        .to_ascii_lowercase();
    let (committed, uncommitted) = match kind.as_str() {
        "committed" => (true, false),
        "uncommitted" => (false, true),
        "all" => (true, true),
        _ => {
            return Err(BlobError::invalid_query(
                "blocklisttype",
                &kind,
                "use committed, uncommitted or all",
            ));
        }
    };
    let (blob, blocks) = svc.store.block_lists(&ctx.container, &ctx.blob)?;
    if blob.is_none() && blocks.is_empty() {
        return Err(BlobError::blob_not_found());
    }
    let committed_list = blob
        .as_ref()
        .map(|b| b.committed_blocks())
        .unwrap_or_default();
    let body = xml::render_block_list(
        committed.then_some(committed_list.as_slice()),
        uncommitted.then_some(blocks.as_slice()),
    );
    let mut r = Reply::new(StatusCode::OK);
    if let Some(b) = &blob {
        r = r
            .version(&b.etag, b.modified)
            .header("x-ms-blob-content-length", b.size.to_string());
    }
    Ok(r.xml(body))
}

/// The headers Get Blob and Get Blob Properties share.
fn blob_headers(rec: &BlobRec, properties: bool) -> Reply {
    let p = &rec.props;
    let mut r = Reply::new(StatusCode::OK)
        .version(&rec.etag, rec.modified)
        .header("x-ms-creation-time", http_date(rec.created))
        .header(
            "Content-Type",
            p.content_type
                .clone()
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
        )
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-lease-status", "unlocked")
        .header("x-ms-lease-state", "available")
        .header("x-ms-server-encrypted", "true")
        .header("Accept-Ranges", "bytes");
    for (name, v) in [
        ("Content-Encoding", &p.content_encoding),
        ("Content-Language", &p.content_language),
        ("Content-Disposition", &p.content_disposition),
        ("Cache-Control", &p.cache_control),
    ] {
        if let Some(v) = v {
            r = r.header(name, v.clone());
        }
    }
    if properties {
        r = r
            .header("x-ms-access-tier", "Hot")
            .header("x-ms-access-tier-inferred", "true");
    }
    meta_headers(r, &rec.metadata)
}

/// A service SAS may override response headers (`rsct`, `rsce`, ...).
fn sas_overrides(r: &mut Reply, grant: &Grant) {
    let Some(f) = grant.sas() else {
        return;
    };
    for (name, v) in [
        ("Content-Type", &f.content_type),
        ("Content-Encoding", &f.content_encoding),
        ("Content-Language", &f.content_language),
        ("Content-Disposition", &f.content_disposition),
        ("Cache-Control", &f.cache_control),
    ] {
        if let Some(v) = v {
            r.set(name, v.clone());
        }
    }
}

async fn get_blob(svc: &Arc<BlobService>, ctx: &Ctx, head: bool) -> Res {
    let spec = match (ctx.header("x-ms-range"), ctx.header("range")) {
        (Some(v), _) => {
            Some(parse_range(v).ok_or_else(|| BlobError::invalid_header("x-ms-range", v))?)
        }
        // An unusable Range header is ignored, as HTTP says.
        (None, Some(v)) => parse_range(v),
        (None, None) => None,
    };
    let want_md5 = ctx
        .header("x-ms-range-get-content-md5")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if want_md5 && spec.is_none() && !head {
        return Err(
            BlobError::invalid_header("x-ms-range-get-content-md5", "true")
                .with("Reason", "it needs a range"),
        );
    }
    let conds = Conditions::from_headers(&ctx.headers);
    let path = svc.store.files_dir();
    // A concurrent overwrite may remove the files of the version just read: read again.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let rec = svc
            .store
            .blob(&ctx.container, &ctx.blob)?
            .ok_or_else(BlobError::blob_not_found)?;
        conds.check_read(&rec.etag, rec.modified)?;
        let mut r = blob_headers(&rec, head);
        if head || ctx.method == Method::HEAD {
            r = r.header("Content-Length", rec.size.to_string());
            if let Some(m) = &rec.props.content_md5 {
                r = r.header("Content-MD5", m.clone());
            }
            sas_overrides(&mut r, &ctx.grant);
            return Ok(r);
        }
        let range = spec.map(|s| s.resolve(rec.size)).transpose()?;
        let read = match range {
            Some(rg) => {
                r.status = StatusCode::PARTIAL_CONTENT;
                r = r.header("Content-Length", rg.len().to_string()).header(
                    "Content-Range",
                    format!("bytes {}-{}/{}", rg.start, rg.end, rec.size),
                );
                if let Some(m) = &rec.props.content_md5 {
                    r = r.header("x-ms-blob-content-md5", m.clone());
                }
                if want_md5 {
                    if rg.len() > MAX_RANGE_MD5 {
                        return Err(BlobError::new(
                            StatusCode::BAD_REQUEST,
                            "OutOfRangeInput",
                            "One of the request inputs is out of range: x-ms-range-get-content-md5 takes ranges of at most 4 MiB.",
                        ));
                    }
                    match content::read_to_vec(&rec.segments, rg, path).await {
                        Ok(bytes) => {
                            r = r.header("Content-MD5", content::md5_b64(&bytes));
                            Ok(Body::from(bytes))
                        }
                        Err(e) => Err(e),
                    }
                } else {
                    content::read_range(&rec.segments, rg, path).await
                }
            }
            None => {
                r = r.header("Content-Length", rec.size.to_string());
                if let Some(m) = &rec.props.content_md5 {
                    r = r.header("Content-MD5", m.clone());
                }
                if rec.size == 0 {
                    Ok(Body::empty())
                } else {
                    let all = ByteRange {
                        start: 0,
                        end: rec.size - 1,
                    };
                    content::read_range(&rec.segments, all, path).await
                }
            }
        };
        match read {
            Ok(body) => {
                r.body = body;
                sas_overrides(&mut r, &ctx.grant);
                return Ok(r);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => continue,
            Err(e) => {
                return Err(BlobError::internal(format!(
                    "read content of {}/{}: {e}",
                    ctx.container, ctx.blob
                )));
            }
        }
    }
}

async fn delete_blob(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    let conds = Conditions::from_headers(&ctx.headers);
    let snapshots = ctx.header("x-ms-delete-snapshots");
    match snapshots {
        None | Some("include") => {}
        Some("only") => {
            // There are never snapshots here: nothing to delete, but the blob must exist.
            let rec = svc
                .store
                .blob(&ctx.container, &ctx.blob)?
                .ok_or_else(BlobError::blob_not_found)?;
            conds.check_write(Some(&rec), false)?;
            return Ok(Reply::new(StatusCode::ACCEPTED));
        }
        Some(v) => return Err(BlobError::invalid_header("x-ms-delete-snapshots", v)),
    }
    let (c, b) = (ctx.container.clone(), ctx.blob.clone());
    let files = blocking(svc, move |s| {
        s.delete_blob(&c, &b, &|e| conds.check_write(e, false))
    })
    .await?;
    remove_files(svc, files).await;
    Ok(Reply::new(StatusCode::ACCEPTED).header("x-ms-delete-type-permanent", "true"))
}

async fn set_blob_metadata(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    let md = metadata(&ctx.headers)?;
    let conds = Conditions::from_headers(&ctx.headers);
    let (c, b) = (ctx.container.clone(), ctx.blob.clone());
    let rec = blocking(svc, move |s| {
        s.update_blob(&c, &b, &|e| conds.check_write(e, false), &|r| {
            r.metadata = md.clone();
        })
    })
    .await?;
    Ok(Reply::new(StatusCode::OK)
        .version(&rec.etag, rec.modified)
        .header("x-ms-request-server-encrypted", "true"))
}

async fn set_blob_properties(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    for h in ["x-ms-blob-content-length", "x-ms-sequence-number-action"] {
        if ctx.headers.contains_key(h) {
            return Err(BlobError::not_implemented("page blob properties"));
        }
    }
    // Properties not sent are cleared, as the service does.
    let props = blob_props(&ctx.headers, false)?;
    let conds = Conditions::from_headers(&ctx.headers);
    let (c, b) = (ctx.container.clone(), ctx.blob.clone());
    let rec = blocking(svc, move |s| {
        s.update_blob(&c, &b, &|e| conds.check_write(e, false), &|r| {
            r.props = props.clone();
        })
    })
    .await?;
    Ok(Reply::new(StatusCode::OK).version(&rec.etag, rec.modified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_and_decode() {
        let (a, c, b) = split_path("/devstoreaccount1/c1/dir/blocks%20bin%2Bx.dat").unwrap();
        assert_eq!(a, "devstoreaccount1");
        assert_eq!(c.as_deref(), Some("c1"));
        assert_eq!(b.as_deref(), Some("dir/blocks bin+x.dat"));
        let (_, c, b) = split_path("/devstoreaccount1/c1/a%2Fb+c").unwrap();
        assert_eq!((c.as_deref(), b.as_deref()), (Some("c1"), Some("a/b+c")));
        let (_, c, b) = split_path("/devstoreaccount1/").unwrap();
        assert_eq!((c, b), (None, None));
        let (_, c, b) = split_path("/devstoreaccount1").unwrap();
        assert_eq!((c, b), (None, None));
        let (_, _, b) = split_path("/devstoreaccount1/c1/%2e%2e").unwrap();
        assert_eq!(b.as_deref(), Some(".."));
        assert!(split_path("/devstoreaccount1/c1/%ff").is_err());
    }

    #[test]
    fn markers_round_trip() {
        let m = encode_marker("dir/a b+c");
        assert_eq!(
            decode_marker(Some(&m)).unwrap().as_deref(),
            Some("dir/a b+c")
        );
        assert_eq!(
            decode_marker(Some("!!")).unwrap_err().code,
            "InvalidQueryParameterValue"
        );
        assert_eq!(decode_marker(Some("")).unwrap(), None);
    }

    #[test]
    fn max_results_bounds() {
        assert_eq!(max_results(None).unwrap(), 5000);
        assert_eq!(max_results(Some("7")).unwrap(), 7);
        assert_eq!(max_results(Some("99999")).unwrap(), 5000);
        assert_eq!(max_results(Some("0")).unwrap_err().code, "OutOfRangeInput");
        assert_eq!(
            max_results(Some("x")).unwrap_err().code,
            "InvalidQueryParameterValue"
        );
    }

    #[test]
    fn metadata_rules() {
        let mut h = HeaderMap::new();
        h.insert("x-ms-meta-good_1", HeaderValue::from_static("v"));
        assert_eq!(
            metadata(&h).unwrap(),
            vec![("good_1".to_string(), "v".to_string())]
        );
        h.insert("x-ms-meta-1bad", HeaderValue::from_static("v"));
        assert_eq!(metadata(&h).unwrap_err().code, "InvalidMetadata");
        let mut h = HeaderMap::new();
        h.insert(
            "x-ms-meta-big",
            HeaderValue::from_str(&"x".repeat(9000)).unwrap(),
        );
        assert_eq!(metadata(&h).unwrap_err().code, "MetadataTooLarge");
    }

    fn rec(etag: &str, modified: DateTime<Utc>) -> BlobRec {
        BlobRec {
            created: modified,
            modified,
            etag: etag.into(),
            size: 0,
            props: BlobProps::default(),
            metadata: vec![],
            segments: vec![],
        }
    }

    #[test]
    fn conditional_headers() {
        let t = parse_http_date("Tue, 24 Nov 2026 14:44:20 GMT").unwrap();
        let r = rec("\"0x1\"", t);
        let c = |k: &str, v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
            Conditions::from_headers(&h)
        };
        assert!(c("if-match", "\"0x1\"").check_read(&r.etag, t).is_ok());
        assert_eq!(
            c("if-match", "\"0x2\"")
                .check_read(&r.etag, t)
                .unwrap_err()
                .status,
            412
        );
        assert_eq!(
            c("if-none-match", "\"0x1\"")
                .check_read(&r.etag, t)
                .unwrap_err()
                .status,
            304
        );
        assert_eq!(
            c("if-none-match", "*")
                .check_write(Some(&r), true)
                .unwrap_err()
                .code,
            "BlobAlreadyExists"
        );
        assert_eq!(
            c("if-none-match", "*")
                .check_write(Some(&r), false)
                .unwrap_err()
                .status,
            412
        );
        assert!(c("if-none-match", "*").check_write(None, true).is_ok());
        assert_eq!(
            c("if-match", "*")
                .check_write(None, true)
                .unwrap_err()
                .status,
            412
        );
        let before = "Tue, 24 Nov 2026 14:44:19 GMT";
        assert!(
            c("if-modified-since", before)
                .check_read(&r.etag, t)
                .is_ok()
        );
        assert_eq!(
            c("if-modified-since", "Tue, 24 Nov 2026 14:44:20 GMT")
                .check_read(&r.etag, t)
                .unwrap_err()
                .status,
            304
        );
        assert_eq!(
            c("if-unmodified-since", before)
                .check_write(Some(&r), false)
                .unwrap_err()
                .status,
            412
        );
        assert!(
            c("if-modified-since", "garbage")
                .check_read(&r.etag, t)
                .is_ok()
        );
    }
}
