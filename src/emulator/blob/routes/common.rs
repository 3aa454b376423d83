//! What every operation shares: the request context and replies, request bodies (capped),
//! metadata and blob properties headers, listing parameters, and store work off the async
//! threads.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;

use crate::azure::auth::http_date;
use crate::emulator::blob::BlobService;
use crate::emulator::blob::auth::Grant;
use crate::emulator::blob::content::Written;
use crate::emulator::blob::error::BlobError;
use crate::emulator::blob::store::{BlobProps, Store};

/// Largest Put Blob or Put Block body the emulator takes (the service allows 5000/4000 MiB).
pub const MAX_PUT_BYTES: u64 = 256 * 1024 * 1024;

/// Largest XML request body (a block list of 50,000 ids fits easily).
pub(super) const MAX_XML_BYTES: u64 = 8 * 1024 * 1024;

/// The service's limit on the names and values of a resource's metadata.
const MAX_METADATA_BYTES: usize = 8 * 1024;

pub(super) const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

pub(super) const XML_TYPE: &str = "application/xml";

pub(super) const SERVER: &str = "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0";

/// What a handler needs of the request.
pub(super) struct Ctx {
    pub(super) method: Method,
    pub(super) headers: HeaderMap,
    pub(super) query: Vec<(String, String)>,
    /// Decoded names; empty when the path has none.
    pub(super) container: String,
    pub(super) blob: String,
    pub(super) grant: Grant,
    /// `http://host:port/account/`, as the client addressed us.
    pub(super) endpoint: String,
}

impl Ctx {
    pub(super) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A successful answer.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Body,
}

impl Reply {
    pub(super) fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::empty(),
        }
    }

    pub(super) fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    pub(super) fn set(&mut self, k: &str, v: impl Into<String>) {
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

    pub(super) fn version(self, etag: &str, modified: DateTime<Utc>) -> Reply {
        self.header("ETag", etag)
            .header("Last-Modified", http_date(modified))
    }

    pub(super) fn xml(self, body: String) -> Reply {
        let mut r = self.header("Content-Type", XML_TYPE);
        r.body = Body::from(body);
        r
    }
}

pub(super) type Res = Result<Reply, BlobError>;

/// Runs store work (fsyncs, file removal) off the async threads.
pub(super) async fn blocking<T, F>(svc: &Arc<BlobService>, f: F) -> Result<T, BlobError>
where
    F: FnOnce(&Store) -> Result<T, BlobError> + Send + 'static,
    T: Send + 'static,
{
    let svc = svc.clone();
    tokio::task::spawn_blocking(move || f(&svc.store))
        .await
        .map_err(|e| BlobError::internal(format!("blocking task: {e}")))?
}

pub(super) async fn remove_files(svc: &Arc<BlobService>, files: Vec<String>) {
    if files.is_empty() {
        return;
    }
    let _ = blocking(svc, move |s| {
        s.remove_files(&files);
        Ok(())
    })
    .await;
}

pub(super) fn take_body(body: &mut Option<Body>) -> Result<Body, BlobError> {
    body.take()
        .ok_or_else(|| BlobError::internal("the request body was already taken"))
}

pub(super) fn check_length(h: &HeaderMap, cap: u64) -> Result<(), BlobError> {
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
pub(super) async fn read_small_body(
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
pub(super) fn metadata(h: &HeaderMap) -> Result<Vec<(String, String)>, BlobError> {
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

pub(super) fn meta_headers(mut r: Reply, md: &[(String, String)]) -> Reply {
    for (k, v) in md {
        r = r.header(&format!("x-ms-meta-{k}"), v.clone());
    }
    r
}

/// A Content-MD5 style header: base64 of 16 bytes.
pub(super) fn md5_header(h: &HeaderMap, name: &str) -> Result<Option<[u8; 16]>, BlobError> {
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

/// The checksums a Put Blob or Put Block carries for its body.
#[derive(Debug, Clone, Copy)]
pub(super) struct SentSums {
    pub(super) md5: Option<[u8; 16]>,
    pub(super) crc64: Option<u64>,
}

/// `Content-MD5` and `x-ms-content-crc64`; the service takes one or the other, not both.
pub(super) fn sent_sums(h: &HeaderMap) -> Result<SentSums, BlobError> {
    let md5 = md5_header(h, "content-md5")?;
    let crc64 = match h.get("x-ms-content-crc64") {
        None => None,
        Some(v) => {
            let s = v.to_str().unwrap_or("");
            Some(
                crate::azure::crc64::from_header(s)
                    .ok_or_else(|| BlobError::invalid_header("x-ms-content-crc64", s))?,
            )
        }
    };
    if md5.is_some() && crc64.is_some() {
        // The documented 400; the code is Azurite's (none was recorded from Azure).
        return Err(BlobError::new(
            StatusCode::BAD_REQUEST,
            "BothCrc64AndMd5HeaderPresent",
            "Both x-ms-content-crc64 header and Content-MD5 header are present.",
        ));
    }
    Ok(SentSums { md5, crc64 })
}

/// Checks what was written against what the request sent (the caller removes the file).
pub(super) fn check_sums(sent: &SentSums, w: &Written) -> Result<(), BlobError> {
    if let Some(md5) = sent.md5
        && Some(md5) != w.md5
    {
        return Err(BlobError::md5_mismatch(
            &B64.encode(md5),
            &w.md5_b64().unwrap_or_default(),
        ));
    }
    if let Some(crc) = sent.crc64
        && Some(crc) != w.crc64
    {
        return Err(BlobError::crc64_mismatch(
            &crate::azure::crc64::to_header(crc),
            &crate::azure::crc64::to_header(w.crc64.unwrap_or_default()),
        ));
    }
    Ok(())
}

/// The blob's HTTP properties from `x-ms-blob-*` headers; for Put Blob (`standard`), the
/// request's own Content-Type/-Encoding/-Language and Cache-Control are the fallback.
pub(super) fn blob_props(h: &HeaderMap, standard: bool) -> Result<BlobProps, BlobError> {
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

/// `maxresults`: 1..=5000 (larger values are capped, as the service does).
pub(super) fn max_results(v: Option<&str>) -> Result<usize, BlobError> {
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
pub(super) fn encode_marker(name: &str) -> String {
    B64URL.encode(name.as_bytes())
}

pub(super) fn decode_marker(v: Option<&str>) -> Result<Option<String>, BlobError> {
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
pub(super) fn include_metadata(v: Option<&str>, known: &[&str]) -> Result<bool, BlobError> {
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
