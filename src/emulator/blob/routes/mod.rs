//! The Blob REST API over HTTP: one fallback handler that authenticates over the raw
//! request, recognises the operation from method + `restype`/`comp`, and answers in the
//! service's shapes. Paths are kept raw for signatures and percent-decoded for container and
//! blob names.
//!
//! - `common`: the request context, replies, bodies, metadata and properties headers,
//!   listing parameters (`maxresults`, markers, `include`).
//! - `conditions`: conditional requests (`If-Match`, `If-None-Match`, `If-(Un)Modified-Since`).
//! - `service`, `container`, `blob`, `block`: the operations on each resource.

mod blob;
mod block;
mod common;
mod conditions;
mod container;
mod service;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use futures::StreamExt as _;
use percent_encoding::percent_decode_str;

use self::blob::{delete_blob, get_blob, put_blob, set_blob_metadata, set_blob_properties};
use self::block::{get_block_list, put_block, put_block_list};
use self::common::{Ctx, Reply, Res, SERVER, XML_TYPE};
use self::container::{
    create_container, delete_container, get_container_properties, list_blobs,
    set_container_metadata,
};
use self::service::{
    get_service_properties, get_user_delegation_key, list_containers, set_service_properties,
};
use crate::azure::auth::{decode_query, http_date, redact_url};
use crate::emulator::blob::BlobService;
use crate::emulator::blob::auth::{self, AuthRequest};
use crate::emulator::blob::error::BlobError;
use crate::emulator::blob::names;
use crate::emulator::blob::ops::Op;

/// Answered when the request names no `x-ms-version`.
pub(super) const DEFAULT_VERSION: &str = "2026-10-06";

/// A refused request's body is read and dropped up to this size, so that the client gets
/// the answer rather than a reset connection.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

pub fn router(svc: Arc<BlobService>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(svc)
}

async fn handle(State(svc): State<Arc<BlobService>>, req: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let https = req
        .extensions()
        .get::<crate::emulator::entra::tls::Tls>()
        .is_some_and(|t| t.0);
    let (parts, body) = req.into_parts();
    let mut body = Some(body);
    let result = serve(&svc, &parts, &mut body, peer, https).await;
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
    if let Some(c) = &e.challenge {
        b = b.header(header::WWW_AUTHENTICATE, c.as_str());
    }
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
    https: bool,
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
    let grant = auth::authenticate_with(
        &svc.credential,
        svc.authority(),
        &AuthRequest {
            method: parts.method.as_str(),
            raw_path,
            raw_query,
            headers: header_list,
            query: &query,
            container: container.as_deref(),
            blob: blob.as_deref(),
            peer,
            https,
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
        endpoint: format!(
            "{}://{host}/{account}/",
            if https { "https" } else { "http" }
        ),
    };
    match op {
        Op::ListContainers => list_containers(svc, &ctx),
        Op::GetServiceProperties => get_service_properties(svc),
        Op::SetServiceProperties => set_service_properties(svc, &ctx, body).await,
        Op::GetUserDelegationKey => get_user_delegation_key(svc, &ctx, body).await,
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
