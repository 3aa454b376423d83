//! Containers: create, properties, metadata, delete, and the list of their blobs.

use std::sync::Arc;

use axum::http::StatusCode;

use super::common::{
    Ctx, Reply, Res, blocking, decode_marker, encode_marker, include_metadata, max_results,
    meta_headers, metadata, remove_files,
};
use super::conditions::Conditions;
use crate::emulator::blob::BlobService;
use crate::emulator::blob::error::BlobError;
use crate::emulator::blob::xml::{self, ListEcho};

pub(super) async fn create_container(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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

pub(super) fn get_container_properties(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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

pub(super) async fn set_container_metadata(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
    let md = metadata(&ctx.headers)?;
    let name = ctx.container.clone();
    let rec = blocking(svc, move |s| s.set_container_metadata(&name, md)).await?;
    Ok(Reply::new(StatusCode::OK).version(&rec.etag, rec.modified))
}

pub(super) async fn delete_container(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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

pub(super) fn list_blobs(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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
