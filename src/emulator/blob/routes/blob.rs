//! Blobs: Put Blob, Get Blob (ranges, SAS overrides), properties, metadata, delete.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};

use super::common::{
    Ctx, DEFAULT_CONTENT_TYPE, MAX_PUT_BYTES, Reply, Res, blob_props, blocking, check_length,
    check_sums, meta_headers, metadata, remove_files, sent_sums, take_body,
};
use super::conditions::{Conditions, create_only};
use crate::azure::auth::http_date;
use crate::emulator::blob::BlobService;
use crate::emulator::blob::auth::Grant;
use crate::emulator::blob::content::{self, ByteRange, Sums, parse_range};
use crate::emulator::blob::error::BlobError;
use crate::emulator::blob::store::{BlobRec, NewBlob, Segment};

/// Largest range for which a client may ask its MD5 or CRC64 (`x-ms-range-get-content-md5`,
/// `x-ms-range-get-content-crc64`).
const MAX_RANGE_SUM: u64 = 4 * 1024 * 1024;

fn check_blob_type(ctx: &Ctx) -> Result<(), BlobError> {
    match ctx.header("x-ms-blob-type") {
        None => Err(BlobError::missing_header("x-ms-blob-type")),
        Some("BlockBlob") => Ok(()),
        Some("PageBlob") => Err(BlobError::not_implemented("page blobs")),
        Some("AppendBlob") => Err(BlobError::not_implemented("append blobs")),
        Some(v) => Err(BlobError::invalid_header("x-ms-blob-type", v)),
    }
}

pub(super) async fn put_blob(svc: &Arc<BlobService>, ctx: &Ctx, body: &mut Option<Body>) -> Res {
    check_blob_type(ctx)?;
    let mut props = blob_props(&ctx.headers, true)?;
    props
        .content_type
        .get_or_insert_with(|| DEFAULT_CONTENT_TYPE.to_string());
    let md = metadata(&ctx.headers)?;
    let sent = sent_sums(&ctx.headers)?;
    let conds = Conditions::from_headers(&ctx.headers);
    check_length(&ctx.headers, MAX_PUT_BYTES)?;
    // Refuse before taking the body when the answer is already known.
    let existing = svc.store.blob(&ctx.container, &ctx.blob)?;
    conds.check_write(existing.as_ref(), true)?;
    create_only(&ctx.grant, existing.as_ref())?;

    // The service computes a Put Blob's MD5 and keeps it as the blob's Content-MD5, and its
    // CRC64; both are answered whatever the request carried (a recorded real Put Blob sent
    // with neither got both, see tests/fixtures/recorded/SOURCE.md), and a checksum the client
    // sent is checked against them.
    let w = content::write_body(
        svc.store.content_dir(),
        take_body(body)?,
        MAX_PUT_BYTES,
        Sums {
            md5: true,
            crc64: true,
        },
    )
    .await?;
    if let Err(e) = check_sums(&sent, &w) {
        remove_files(svc, vec![w.file.clone()]).await;
        return Err(e);
    }
    let computed = w.md5_b64().unwrap_or_default();
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
            let mut reply = Reply::new(StatusCode::CREATED)
                .version(&rec.etag, rec.modified)
                .header("Content-MD5", computed)
                .header("x-ms-request-server-encrypted", "true");
            if let Some(crc) = w.crc64 {
                reply.set("x-ms-content-crc64", crate::azure::crc64::to_header(crc));
            }
            Ok(reply)
        }
    }
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

pub(super) async fn get_blob(svc: &Arc<BlobService>, ctx: &Ctx, head: bool) -> Res {
    let spec = match (ctx.header("x-ms-range"), ctx.header("range")) {
        (Some(v), _) => {
            Some(parse_range(v).ok_or_else(|| BlobError::invalid_header("x-ms-range", v))?)
        }
        // An unusable Range header is ignored, as HTTP says.
        (None, Some(v)) => parse_range(v),
        (None, None) => None,
    };
    let wants = |name: &str| {
        ctx.header(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    let (want_md5, want_crc64) = (
        wants("x-ms-range-get-content-md5"),
        wants("x-ms-range-get-content-crc64"),
    );
    if want_md5 && want_crc64 {
        return Err(BlobError::new(
            StatusCode::BAD_REQUEST,
            "InvalidHeaderValue",
            "x-ms-range-get-content-md5 and x-ms-range-get-content-crc64 cannot both be true.",
        ));
    }
    for (wanted, name) in [
        (want_md5, "x-ms-range-get-content-md5"),
        (want_crc64, "x-ms-range-get-content-crc64"),
    ] {
        if wanted && spec.is_none() && !head {
            return Err(BlobError::invalid_header(name, "true").with("Reason", "it needs a range"));
        }
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
                if want_md5 || want_crc64 {
                    if rg.len() > MAX_RANGE_SUM {
                        return Err(BlobError::new(
                            StatusCode::BAD_REQUEST,
                            "OutOfRangeInput",
                            "One of the request inputs is out of range: x-ms-range-get-content-md5 and x-ms-range-get-content-crc64 take ranges of at most 4 MiB.",
                        ));
                    }
                    match content::read_to_vec(&rec.segments, rg, path).await {
                        Ok(bytes) => {
                            r = if want_md5 {
                                r.header("Content-MD5", content::md5_b64(&bytes))
                            } else {
                                r.header(
                                    "x-ms-content-crc64",
                                    crate::azure::crc64::to_header(crate::azure::crc64::checksum(
                                        &bytes,
                                    )),
                                )
                            };
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

pub(super) async fn delete_blob(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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

pub(super) async fn set_blob_metadata(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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

pub(super) async fn set_blob_properties(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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
