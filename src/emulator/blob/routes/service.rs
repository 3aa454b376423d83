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
