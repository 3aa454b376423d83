//! Task and node files: listing (optionally recursive) and reading, below a root directory
//! that a client's path may never leave.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::agent::safe_join;
use super::error::ApiError;
use crate::azure::models::FileProperties;

/// One entry of a file list: its path below the root (with `/`), and its metadata.
pub struct Entry {
    pub name: String,
    pub is_dir: bool,
    pub properties: FileProperties,
}

/// The metadata the service reports for a file.
pub fn properties(path: &Path) -> Option<FileProperties> {
    let md = std::fs::metadata(path).ok()?;
    let modified: DateTime<Utc> = md.modified().ok()?.into();
    let created: DateTime<Utc> = md.created().map(Into::into).unwrap_or(modified);
    use std::os::unix::fs::PermissionsExt;
    Some(FileProperties {
        creation_time: Some(created),
        last_modified: modified,
        content_length: if md.is_dir() { 0 } else { md.len() },
        content_type: Some("application/octet-stream".into()),
        file_mode: Some(format!("0o{:o}", md.permissions().mode())),
    })
}

/// Lists `root`: its direct entries, or with `recursive` everything below it.
pub fn list(root: &Path, recursive: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    collect(root, root, recursive, &mut out);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn collect(root: &Path, dir: &Path, recursive: bool, out: &mut Vec<Entry>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(rel) = p.strip_prefix(root) else {
            continue;
        };
        let Some(props) = properties(&p) else {
            continue;
        };
        let is_dir = p.is_dir();
        out.push(Entry {
            name: rel.to_string_lossy().into_owned(),
            is_dir,
            properties: props,
        });
        if is_dir && recursive {
            collect(root, &p, recursive, out);
        }
    }
}

/// The file a client's (decoded) path names below `root`; traversal is refused.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, ApiError> {
    let p = safe_join(root, rel).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidUri",
            "The requested URI does not represent any resource on the server.",
        )
    })?;
    if !p.exists() {
        return Err(ApiError::file_not_found());
    }
    Ok(p)
}

/// Deletes the file or directory a client's path names below `root` (a directory that is not
/// empty only with `recursive`); the root itself is not a file to delete.
pub fn remove(root: &Path, rel: &str, recursive: bool) -> Result<(), ApiError> {
    let p = resolve(root, rel)?;
    if p == root {
        return Err(ApiError::file_not_found());
    }
    let io = |e: std::io::Error| ApiError::internal(format!("deleting a file: {e}"));
    if p.is_dir() {
        let empty = std::fs::read_dir(&p).map_err(io)?.next().is_none();
        if !empty && !recursive {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "OperationInvalidForCurrentState",
                "The directory is not empty: pass recursive=true to delete it and its contents.",
            ));
        }
        std::fs::remove_dir_all(&p).map_err(io)
    } else {
        std::fs::remove_file(&p).map_err(io)
    }
}

/// Parses `bytes=a-b` (or `bytes=a-`) for a file of `len` bytes into a half-open range.
pub fn parse_range(h: &str, len: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        return Some((len.saturating_sub(n), len));
    }
    let start: u64 = a.parse().ok()?;
    let end = if b.is_empty() {
        len
    } else {
        (b.parse::<u64>().ok()? + 1).min(len)
    };
    if start > end || start > len {
        return None;
    }
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-5", 100), Some((0, 6)));
        assert_eq!(parse_range("bytes=10-", 100), Some((10, 100)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 100)));
        assert_eq!(parse_range("bytes=50-10", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn listing_and_traversal() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("wd/sub")).unwrap();
        std::fs::write(d.path().join("stdout.txt"), "hi").unwrap();
        std::fs::write(d.path().join("wd/sub/f.txt"), "x").unwrap();
        let top: Vec<String> = list(d.path(), false).into_iter().map(|e| e.name).collect();
        assert_eq!(top, vec!["stdout.txt", "wd"]);
        let all: Vec<String> = list(d.path(), true).into_iter().map(|e| e.name).collect();
        assert_eq!(all, vec!["stdout.txt", "wd", "wd/sub", "wd/sub/f.txt"]);
        assert!(resolve(d.path(), "wd/sub/f.txt").is_ok());
        assert_eq!(resolve(d.path(), "../x").unwrap_err().code, "InvalidUri");
        assert_eq!(resolve(d.path(), "nope").unwrap_err().code, "FileNotFound");
        assert_eq!(
            remove(d.path(), "wd", false).unwrap_err().code,
            "OperationInvalidForCurrentState"
        );
        remove(d.path(), "stdout.txt", false).unwrap();
        assert!(!d.path().join("stdout.txt").exists());
        remove(d.path(), "wd", true).unwrap();
        assert!(!d.path().join("wd").exists());
        assert_eq!(remove(d.path(), "", true).unwrap_err().code, "FileNotFound");
        assert_eq!(
            remove(d.path(), "../x", true).unwrap_err().code,
            "InvalidUri"
        );
    }
}
