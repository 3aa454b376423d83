//! The service: its properties, and the list of containers.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;

use super::common::{
    Ctx, MAX_XML_BYTES, Reply, Res, blocking, decode_marker, encode_marker, include_metadata,
    max_results, read_small_body,
};
use crate::emulator::blob::BlobService;
use crate::emulator::blob::xml::{self, ListEcho};

pub(super) fn get_service_properties(svc: &Arc<BlobService>) -> Res {
    let body = match svc.store.service_properties()? {
        Some(b) => String::from_utf8_lossy(&b).into_owned(),
        None => xml::default_service_properties(),
    };
    Ok(Reply::new(StatusCode::OK).xml(body))
}

pub(super) async fn set_service_properties(
    svc: &Arc<BlobService>,
    ctx: &Ctx,
    body: &mut Option<Body>,
) -> Res {
    let doc = read_small_body(body, &ctx.headers, MAX_XML_BYTES).await?;
    xml::check_service_properties(&doc)?;
    blocking(svc, move |s| s.set_service_properties(&doc)).await?;
    Ok(Reply::new(StatusCode::ACCEPTED))
}

pub(super) fn list_containers(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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

/// Get User Delegation Key: `<KeyInfo><Start>?</Start><Expiry>..</Expiry></KeyInfo>`, for
/// the identity of the bearer token (authorized before), at most 7 days ahead; the key's
/// value is derived from its signed fields (see `EntraService::delegation_key_value`).
pub(super) async fn get_user_delegation_key(
    svc: &Arc<BlobService>,
    ctx: &Ctx,
    body: &mut Option<Body>,
) -> Res {
    use crate::azure::auth::{parse_sas_time, sas_time};
    use crate::emulator::blob::auth::Grant;
    use crate::emulator::blob::error::BlobError;
    let (Grant::Entra { oid, tid, .. }, Some(entra)) = (&ctx.grant, svc.authority().entra) else {
        return Err(BlobError::auth_failed(
            "Get User Delegation Key is authorized with a Microsoft Entra ID bearer token only.",
        ));
    };
    let doc = read_small_body(body, &ctx.headers, MAX_XML_BYTES).await?;
    let text = String::from_utf8_lossy(&doc);
    let node = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(text[start..end].trim().to_string())
    };
    let bad = |name: &str, value: &str| {
        BlobError::new(
            StatusCode::BAD_REQUEST,
            "InvalidXmlNodeValue",
            "The value for one of the XML nodes is not in the correct format.",
        )
        .with("XmlNodeName", name.to_string())
        .with("XmlNodeValue", value.to_string())
    };
    let now = chrono::Utc::now();
    let start = match node("Start") {
        Some(s) if !s.is_empty() => parse_sas_time(&s).ok_or_else(|| bad("Start", &s))?,
        _ => now,
    };
    let expiry_text = node("Expiry").ok_or_else(|| bad("Expiry", ""))?;
    let expiry = parse_sas_time(&expiry_text).ok_or_else(|| bad("Expiry", &expiry_text))?;
    if expiry <= start || expiry <= now || expiry > now + chrono::Duration::days(7) {
        return Err(bad("Expiry", &expiry_text));
    }
    let version = ctx
        .headers
        .get("x-ms-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(super::DEFAULT_VERSION)
        .to_string();
    let (start, expiry) = (sas_time(start), sas_time(expiry));
    let value = entra.delegation_key_value(oid, tid, &start, &expiry, "b", &version);
    use base64::Engine as _;
    let value = base64::engine::general_purpose::STANDARD.encode(value);
    Ok(Reply::new(StatusCode::OK).xml(format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><UserDelegationKey><SignedOid>{oid}</SignedOid><SignedTid>{tid}</SignedTid><SignedStart>{start}</SignedStart><SignedExpiry>{expiry}</SignedExpiry><SignedService>b</SignedService><SignedVersion>{version}</SignedVersion><Value>{value}</Value></UserDelegationKey>"
    )))
}
