//! The files of a task and of a node over HTTP: listing, properties, ranged reads.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};

use super::common::{Ctx, Reply, Res, list_reply, seg};
use crate::azure::auth::http_date;
use crate::azure::models;
use crate::emulator::batch::BatchService;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::files as on_disk;
use crate::emulator::batch::state::key;

fn file_list_reply(c: &Ctx, root: Option<std::path::PathBuf>, url_prefix: &str) -> Res {
    let entries = root
        .map(|r| on_disk::list(&r, recursive(c)))
        .unwrap_or_default();
    let items: Vec<(String, serde_json::Value)> = entries
        .into_iter()
        .map(|e| {
            let enc: Vec<String> = e.name.split('/').map(seg).collect();
            let v = serde_json::to_value(models::NodeFile {
                url: Some(format!("{url_prefix}/{}", enc.join("/"))),
                name: e.name.clone(),
                is_directory: e.is_dir,
                properties: Some(e.properties),
            })
            .unwrap_or_default();
            (e.name, v)
        })
        .collect();
    list_reply(c, "files", items)
}

fn file_reply(c: &Ctx, path: &std::path::Path, url: String) -> Res {
    let props = on_disk::properties(path).ok_or_else(ApiError::file_not_found)?;
    let is_dir = path.is_dir();
    let mut r = Reply::empty(StatusCode::OK)
        .header("content-type", "application/octet-stream")
        .header(
            "ocp-creation-time",
            http_date(props.creation_time.unwrap_or(props.last_modified)),
        )
        .header("ocp-batch-file-isdirectory", is_dir.to_string())
        .header("ocp-batch-file-url", url)
        .header(
            "ocp-batch-file-mode",
            props.file_mode.clone().unwrap_or_default(),
        )
        .header("last-modified", http_date(props.last_modified));
    if is_dir || c.method == Method::HEAD {
        return Ok(r.header("content-length", props.content_length.to_string()));
    }
    let len = props.content_length;
    let (start, end) = match c.header("ocp-range") {
        Some(h) => on_disk::parse_range(h, len).ok_or_else(|| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The range specified is invalid for the current size of the resource.",
            )
        })?,
        None => (0, len),
    };
    let slice = read_range(path, start, end)
        .map_err(|e| ApiError::internal(format!("reading a file: {e}")))?;
    r = r.header("content-length", slice.len().to_string());
    r.body = Some(Body::from(slice));
    Ok(r)
}

/// Bytes `start..end` of a file, read without reading the rest (a range of a 1 GiB stdout
/// costs what it holds).
fn read_range(path: &std::path::Path, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity(end.saturating_sub(start) as usize);
    f.take(end.saturating_sub(start)).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The directory of a task on its node, if the task has run somewhere.
fn task_root(
    svc: &BatchService,
    j: &str,
    t: &str,
) -> Result<(Option<std::path::PathBuf>, String), ApiError> {
    let st = svc.lock();
    let job = st.jobs.get(&key(j)).ok_or_else(ApiError::job_not_found)?;
    let rec = st
        .tasks
        .get(&(key(j), key(t)))
        .ok_or_else(ApiError::task_not_found)?;
    let root = rec
        .task
        .node_info
        .as_ref()
        .and_then(|ni| Some((ni.pool_id.clone()?, ni.node_id.clone()?)))
        .map(|(p, n)| svc.task_dir(&key(&p), &n, &job.job.id, &rec.task.id))
        .filter(|_| !rec.files_removed);
    Ok((root, job.job.id.clone()))
}

pub(super) fn task_files(svc: &Arc<BatchService>, c: &Ctx, j: &str, t: &str) -> Res {
    let (root, job_id) = task_root(svc, j, t)?;
    let prefix = format!("{}/jobs/{}/tasks/{}/files", c.base, seg(&job_id), seg(t));
    file_list_reply(c, root, &prefix)
}

pub(super) fn task_file(svc: &Arc<BatchService>, c: &Ctx, j: &str, t: &str, rel: &str) -> Res {
    let (root, job_id) = task_root(svc, j, t)?;
    let root = root.ok_or_else(ApiError::file_not_found)?;
    let path = on_disk::resolve(&root, rel)?;
    let url = format!(
        "{}/jobs/{}/tasks/{}/files/{}",
        c.base,
        seg(&job_id),
        seg(t),
        seg(rel)
    );
    file_reply(c, &path, url)
}

fn node_root(svc: &BatchService, p: &str, n: &str) -> Result<std::path::PathBuf, ApiError> {
    let st = svc.lock();
    st.pools.get(&key(p)).ok_or_else(ApiError::pool_not_found)?;
    st.nodes
        .get(&(key(p), n.to_string()))
        .ok_or_else(ApiError::node_not_found)?;
    Ok(svc.node_dir(&key(p), n))
}

pub(super) fn node_files(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str) -> Res {
    let root = node_root(svc, p, n)?;
    let prefix = format!("{}/pools/{}/nodes/{}/files", c.base, seg(p), seg(n));
    file_list_reply(c, Some(root), &prefix)
}

pub(super) fn node_file(svc: &Arc<BatchService>, c: &Ctx, p: &str, n: &str, rel: &str) -> Res {
    let root = node_root(svc, p, n)?;
    let path = on_disk::resolve(&root, rel)?;
    let url = format!(
        "{}/pools/{}/nodes/{}/files/{}",
        c.base,
        seg(p),
        seg(n),
        seg(rel)
    );
    file_reply(c, &path, url)
}

fn recursive(c: &Ctx) -> bool {
    c.q("recursive")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `DELETE /jobs/{job}/tasks/{task}/files/{path}` (`recursive` for a directory).
pub(super) fn delete_task_file(
    svc: &Arc<BatchService>,
    c: &Ctx,
    j: &str,
    t: &str,
    rel: &str,
) -> Res {
    let (root, _) = task_root(svc, j, t)?;
    let root = root.ok_or_else(ApiError::file_not_found)?;
    on_disk::remove(&root, rel, recursive(c))?;
    Ok(Reply::empty(StatusCode::OK).header("content-length", "0"))
}

/// `DELETE /pools/{pool}/nodes/{node}/files/{path}` (`recursive` for a directory).
pub(super) fn delete_node_file(
    svc: &Arc<BatchService>,
    c: &Ctx,
    p: &str,
    n: &str,
    rel: &str,
) -> Res {
    let root = node_root(svc, p, n)?;
    on_disk::remove(&root, rel, recursive(c))?;
    Ok(Reply::empty(StatusCode::OK).header("content-length", "0"))
}
