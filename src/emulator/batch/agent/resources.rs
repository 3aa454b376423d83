//! Resource files in: an HTTP URL, or a container URL (with a blob prefix) listed and
//! fetched blob by blob, each written below the task directory and never outside it.

use std::path::{Component, Path, PathBuf};

use super::http::{
    BLOB_PATH, HttpFailure, STORAGE_VERSION, request_with_retry, send_with_retry, transport,
};
use super::{RunSpec, failure};
use crate::azure::auth::redact_url;
use crate::azure::models::{FailureInfo, ResourceFile};

fn download_failure(msg: String) -> FailureInfo {
    failure("BlobDownloadMiscError", &msg)
}

/// Resolves `rel` below `base`, refusing absolute paths and `..` that would leave it.
pub fn safe_join(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    let mut depth = 0usize;
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => {
                out.push(p);
                depth += 1;
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

pub(super) async fn download_resource_file(
    http: &reqwest::Client,
    spec: &RunSpec,
    rf: &ResourceFile,
    wd: &Path,
) -> Result<(), FailureInfo> {
    if let Some(url) = &rf.http_url {
        let name = rf
            .file_path
            .clone()
            .or_else(|| {
                url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.path_segments()?.next_back().map(str::to_string))
            })
            .unwrap_or_default();
        let dest = safe_join(wd, &name)
            .ok_or_else(|| download_failure(format!("invalid filePath {name:?}")))?;
        return fetch_to(http, spec.run_id, url, &dest, rf.file_mode.as_deref()).await;
    }
    let container_url = match (&rf.storage_container_url, &rf.auto_storage_container_name) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => format!(
            "{}/{}?{}",
            spec.blob_endpoint,
            c,
            spec.auto_storage_sas.clone().unwrap_or_default()
        ),
        (None, None) => {
            return Err(download_failure(
                "the resource file names no httpUrl, storageContainerUrl or autoStorageContainerName"
                    .into(),
            ));
        }
    };
    let (base, query) = match container_url.split_once('?') {
        Some((b, q)) => (b.trim_end_matches('/').to_string(), q.to_string()),
        None => (
            container_url.trim_end_matches('/').to_string(),
            String::new(),
        ),
    };
    let names = list_blobs(http, &base, &query, rf.blob_prefix.as_deref().unwrap_or("")).await?;
    let dir = rf.file_path.clone().unwrap_or_default();
    for name in names {
        let rel = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        let dest = safe_join(wd, &rel)
            .ok_or_else(|| download_failure(format!("invalid blob path {name:?}")))?;
        let enc = percent_encoding::utf8_percent_encode(&name, BLOB_PATH).to_string();
        let url = if query.is_empty() {
            format!("{base}/{enc}")
        } else {
            format!("{base}/{enc}?{query}")
        };
        fetch_to(http, spec.run_id, &url, &dest, rf.file_mode.as_deref()).await?;
    }
    Ok(())
}

async fn list_blobs(
    http: &reqwest::Client,
    base: &str,
    query: &str,
    prefix: &str,
) -> Result<Vec<String>, FailureInfo> {
    let mut names = Vec::new();
    let mut marker = String::new();
    loop {
        let mut url = format!(
            "{base}?restype=container&comp=list&prefix={}",
            percent_encoding::utf8_percent_encode(prefix, percent_encoding::NON_ALPHANUMERIC)
        );
        if !marker.is_empty() {
            url.push_str("&marker=");
            url.push_str(
                &percent_encoding::utf8_percent_encode(&marker, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        if !query.is_empty() {
            url.push('&');
            url.push_str(query);
        }
        let shown = redact_url(base);
        let body = send_with_retry(&format!("list {shown}"), || {
            http.get(&url).header("x-ms-version", STORAGE_VERSION)
        })
        .await
        .map_err(|e| download_failure(format!("listing {shown}: {e}")))?;
        let body = String::from_utf8_lossy(&body);
        names.extend(xml_elements(&body, "Name"));
        marker = xml_elements(&body, "NextMarker")
            .into_iter()
            .next()
            .unwrap_or_default();
        if marker.is_empty() {
            return Ok(names);
        }
    }
}

/// The text of every `<tag>...</tag>` of a small XML document, unescaped.
fn xml_elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        let raw = &after[..j];
        out.push(
            quick_xml::escape::unescape(raw)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| raw.to_string()),
        );
        rest = &after[j + close.len()..];
    }
    out
}

/// Downloads `url` to `dest`, streaming (a resource file may be bigger than memory) into a
/// temporary file that is renamed when complete; a broken-off download starts again.
async fn fetch_to(
    http: &reqwest::Client,
    run_id: u64,
    url: &str,
    dest: &Path,
    mode: Option<&str>,
) -> Result<(), FailureInfo> {
    use futures::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    let shown = redact_url(url);
    let dir = dest.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| download_failure(format!("creating {}: {e}", dir.display())))?;
    // Named by the run, so that no other attempt of the task can touch it.
    let tmp = dir.join(format!(
        ".{}.{run_id}.download",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let local = |what: &str, e: std::io::Error| {
        HttpFailure::Local(format!("{what} {}: {e}", tmp.display()))
    };
    let fetched = request_with_retry(
        &format!("download {shown}"),
        || http.get(url).header("x-ms-version", STORAGE_VERSION),
        |resp| async {
            let mut f = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| local("creating", e))?;
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                f.write_all(&chunk.map_err(transport)?)
                    .await
                    .map_err(|e| local("writing", e))?;
            }
            f.flush().await.map_err(|e| local("writing", e))
        },
    )
    .await;
    if let Err(e) = fetched {
        let _ = tokio::fs::remove_file(&tmp).await;
        let code = match e {
            HttpFailure::Status(404, _) => "BlobNotFound",
            HttpFailure::Status(403, _) => "BlobAccessDenied",
            _ => "BlobDownloadMiscError",
        };
        return Err(failure(code, &format!("downloading {shown}: {e}")));
    }
    tokio::fs::rename(&tmp, dest)
        .await
        .map_err(|e| download_failure(format!("writing {}: {e}", dest.display())))?;
    let mode = mode
        .and_then(|m| u32::from_str_radix(m.trim_start_matches("0o"), 8).ok())
        .unwrap_or(0o770);
    use std::os::unix::fs::PermissionsExt;
    let _ = tokio::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode)).await;
    tracing::debug!(url = %shown, dest = %dest.display(), "resource file downloaded");
    Ok(())
}
