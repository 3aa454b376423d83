//! Output files out: patterns matched in the working directory, uploaded with Put Blob to
//! the destination container per their upload condition, with a log of what was uploaded.

use std::path::{Path, PathBuf};

use super::http::{BLOB_PATH, STORAGE_VERSION, send_with_retry};
use super::{RunSpec, failure};
use crate::azure::auth::redact_url;
use crate::azure::models::{FailureInfo, UploadCondition};

pub use crate::util::glob_match;

/// The files an output file pattern names: (file, blob name suffix).
pub fn expand_pattern(task_dir: &Path, wd: &Path, pattern: &str) -> Vec<(PathBuf, String)> {
    let has_glob = |s: &str| s.contains(['*', '?', '[']);
    // Resolve against the working directory, allowing `..` up to the task directory.
    let rel_to_task = match Path::new(pattern).is_absolute() {
        true => return Vec::new(),
        false => {
            let mut parts: Vec<String> = vec!["wd".into()];
            for c in pattern.split('/') {
                match c {
                    "" | "." => {}
                    ".." => {
                        if parts.pop().is_none() {
                            return Vec::new();
                        }
                    }
                    other => parts.push(other.to_string()),
                }
            }
            parts
        }
    };
    let _ = wd;
    let split = rel_to_task.iter().position(|p| has_glob(p));
    match split {
        None => {
            let file = task_dir.join(rel_to_task.join("/"));
            if file.is_file() {
                let name = rel_to_task.last().cloned().unwrap_or_default();
                vec![(file, name)]
            } else {
                Vec::new()
            }
        }
        Some(i) => {
            let root = task_dir.join(rel_to_task[..i].join("/"));
            let glob = rel_to_task[i..].join("/");
            let mut out = Vec::new();
            walk(&root, &root, &mut |file, rel| {
                if glob_match(&glob, rel) {
                    out.push((file.to_path_buf(), rel.to_string()));
                }
            });
            out.sort();
            out
        }
    }
}

fn walk(root: &Path, dir: &Path, f: &mut dyn FnMut(&Path, &str)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, f);
        } else if let Ok(rel) = p.strip_prefix(root) {
            f(&p, &rel.to_string_lossy());
        }
    }
}

pub(super) async fn upload_output_files(
    http: &reqwest::Client,
    spec: &RunSpec,
    wd: &Path,
    succeeded: bool,
) -> Result<(), FailureInfo> {
    let mut log = String::new();
    let mut first_error = None;
    for of in &spec.output_files {
        let wanted = match of.upload_options.upload_condition {
            UploadCondition::TaskSuccess => succeeded,
            UploadCondition::TaskFailure => !succeeded,
            _ => true,
        };
        if !wanted {
            continue;
        }
        let Some(dest) = &of.destination.container else {
            continue;
        };
        let single = !of.file_pattern.contains(['*', '?', '[']);
        for (file, suffix) in expand_pattern(&spec.task_dir, wd, &of.file_pattern) {
            let blob = match (&dest.path, single) {
                (Some(p), true) if !p.is_empty() => p.clone(),
                (Some(p), false) if !p.is_empty() => {
                    format!("{}/{}", p.trim_end_matches('/'), suffix)
                }
                _ => suffix.clone(),
            };
            match put_blob(http, &dest.container_url, &blob, &file).await {
                Ok(()) => log.push_str(&format!("uploaded {} to {blob}\n", file.display())),
                Err(e) => {
                    log.push_str(&format!("failed to upload {}: {e}\n", file.display()));
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    if !log.is_empty() {
        let _ = tokio::fs::write(spec.task_dir.join("fileuploadout.txt"), &log).await;
    }
    match first_error {
        None => Ok(()),
        Some(e) => {
            let _ = tokio::fs::write(spec.task_dir.join("fileuploaderr.txt"), &e).await;
            Err(failure("FileUploadMiscError", &e))
        }
    }
}

async fn put_blob(
    http: &reqwest::Client,
    container_url: &str,
    blob: &str,
    file: &Path,
) -> Result<(), String> {
    let data = bytes::Bytes::from(
        tokio::fs::read(file)
            .await
            .map_err(|e| format!("reading {}: {e}", file.display()))?,
    );
    put_blob_bytes(http, container_url, blob, data).await
}

/// Puts `data` as the block blob `blob` of the container at `container_url` (with its SAS),
/// retried as the agent retries.
pub async fn put_blob_bytes(
    http: &reqwest::Client,
    container_url: &str,
    blob: &str,
    data: bytes::Bytes,
) -> Result<(), String> {
    let (base, query) = container_url.split_once('?').unwrap_or((container_url, ""));
    let enc = percent_encoding::utf8_percent_encode(blob, BLOB_PATH).to_string();
    let url = if query.is_empty() {
        format!("{}/{enc}", base.trim_end_matches('/'))
    } else {
        format!("{}/{enc}?{query}", base.trim_end_matches('/'))
    };
    let shown = redact_url(&url);
    send_with_retry(&format!("upload {shown}"), || {
        http.put(&url)
            .header("x-ms-version", STORAGE_VERSION)
            .header("x-ms-blob-type", "BlockBlob")
            .header(
                "x-ms-date",
                crate::azure::auth::http_date(chrono::Utc::now()),
            )
            .body(data.clone())
    })
    .await
    .map_err(|e| format!("PUT {shown}: {e}"))?;
    tracing::debug!(url = %shown, "blob uploaded");
    Ok(())
}
