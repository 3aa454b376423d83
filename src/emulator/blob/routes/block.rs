//! Block blobs built from blocks: Put Block, Put Block List, Get Block List.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::common::{
    Ctx, DEFAULT_CONTENT_TYPE, MAX_PUT_BYTES, MAX_XML_BYTES, Reply, Res, blob_props, blocking,
    check_length, check_sums, md5_header, metadata, read_small_body, remove_files, sent_sums,
    take_body,
};
use super::conditions::{Conditions, create_only};
use crate::emulator::blob::BlobService;
use crate::emulator::blob::content::{self, Sums};
use crate::emulator::blob::error::BlobError;
use crate::emulator::blob::store::{BlockRec, NewBlob};
use crate::emulator::blob::xml;

/// A block id: base64 of at most 64 bytes.
pub(super) fn block_id(ctx: &Ctx) -> Result<String, BlobError> {
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

pub(super) async fn put_block(svc: &Arc<BlobService>, ctx: &Ctx, body: &mut Option<Body>) -> Res {
    let id = block_id(ctx)?;
    let sent = sent_sums(&ctx.headers)?;
    check_length(&ctx.headers, MAX_PUT_BYTES)?;
    if svc.store.container(&ctx.container)?.is_none() {
        return Err(BlobError::container_not_found());
    }
    // As the service since version 2019-02-02: a block's MD5 is computed (and returned) only
    // when the request carried a Content-MD5 (hashing every block was half of the emulator's
    // CPU in a large upload); otherwise its CRC64, which is cheap, is returned, and checked
    // against the one the request carried.
    let w = content::write_body(
        svc.store.content_dir(),
        take_body(body)?,
        MAX_PUT_BYTES,
        Sums {
            md5: sent.md5.is_some(),
            crc64: sent.md5.is_none(),
        },
    )
    .await?;
    if let Err(e) = check_sums(&sent, &w) {
        remove_files(svc, vec![w.file.clone()]).await;
        return Err(e);
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
            if let Some(crc) = w.crc64 {
                reply.set("x-ms-content-crc64", crate::azure::crc64::to_header(crc));
            }
            Ok(reply)
        }
    }
}

pub(super) async fn put_block_list(
    svc: &Arc<BlobService>,
    ctx: &Ctx,
    body: &mut Option<Body>,
) -> Res {
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

pub(super) fn get_block_list(svc: &Arc<BlobService>, ctx: &Ctx) -> Res {
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
