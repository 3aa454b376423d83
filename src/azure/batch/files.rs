//! The files of a task and of a node: listings, lengths, and ranged reads.

use reqwest::Method;

use super::{BatchClient, BatchError};
use crate::azure::models::NodeFile;

impl BatchClient {
    pub async fn list_task_files(
        &self,
        job_id: &str,
        task_id: &str,
        recursive: bool,
    ) -> Result<Vec<NodeFile>, BatchError> {
        let q = [("recursive", recursive.to_string())];
        self.list_all(
            &format!("list files of task {task_id}"),
            self.url(&["jobs", job_id, "tasks", task_id, "files"], &q),
        )
        .await
    }

    pub async fn list_node_files(
        &self,
        pool_id: &str,
        node_id: &str,
        recursive: bool,
    ) -> Result<Vec<NodeFile>, BatchError> {
        let q = [("recursive", recursive.to_string())];
        self.list_all(
            &format!("list files of node {node_id}"),
            self.url(&["pools", pool_id, "nodes", node_id, "files"], &q),
        )
        .await
    }

    /// Length of a file (HEAD) at `segments` (a task's or a node's files API path).
    async fn file_len(&self, op: String, segments: &[&str]) -> Result<u64, BatchError> {
        let answer = self
            .send(&op, Method::HEAD, self.url(segments, &[]), None, &[])
            .await?;
        answer
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| BatchError::Decode {
                operation: op,
                path: "content-length".into(),
                message: "missing".into(),
            })
    }

    /// Reads a file, or the byte range `[start, end]` (inclusive) of it.
    async fn file(
        &self,
        op: String,
        segments: &[&str],
        range: Option<(u64, u64)>,
    ) -> Result<bytes::Bytes, BatchError> {
        let headers: Vec<(&str, String)> = range
            .map(|(a, b)| ("ocp-range", format!("bytes={a}-{b}")))
            .into_iter()
            .collect();
        let answer = self
            .send(&op, Method::GET, self.url(segments, &[]), None, &headers)
            .await?;
        Ok(answer.body)
    }

    /// Length of a task file, e.g. to read only its tail.
    pub async fn task_file_len(
        &self,
        job: &str,
        task: &str,
        path: &str,
    ) -> Result<u64, BatchError> {
        let op = format!("get properties of {path} of task {task}");
        self.file_len(op, &["jobs", job, "tasks", task, "files", path])
            .await
    }

    /// Reads a task file (`stdout.txt`, `wd/...`), or a byte range of it.
    pub async fn task_file(
        &self,
        job: &str,
        task: &str,
        path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<bytes::Bytes, BatchError> {
        let op = format!("read {path} of task {task}");
        self.file(op, &["jobs", job, "tasks", task, "files", path], range)
            .await
    }

    /// Length of a node file (`startup/stderr.txt`, ...).
    pub async fn node_file_len(
        &self,
        pool: &str,
        node: &str,
        path: &str,
    ) -> Result<u64, BatchError> {
        let op = format!("get properties of {path} of node {node}");
        self.file_len(op, &["pools", pool, "nodes", node, "files", path])
            .await
    }

    /// Reads a node file, or a byte range of it.
    pub async fn node_file(
        &self,
        pool: &str,
        node: &str,
        path: &str,
        range: Option<(u64, u64)>,
    ) -> Result<bytes::Bytes, BatchError> {
        let op = format!("read {path} of node {node}");
        self.file(op, &["pools", pool, "nodes", node, "files", path], range)
            .await
    }
}
