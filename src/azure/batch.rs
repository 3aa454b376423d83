//! A typed client of the Batch data-plane REST API (Shared Key auth over reqwest).
//!
//! Shaped like octocrab: typed requests, a pager that follows `odata.nextLink`, errors that
//! keep the service's status, code and message, decode errors that name the JSON path, and an
//! injectable base URL (Azure or the emulator: the client cannot tell them apart).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::azure::auth::{RequestParts, Service, SharedKeyCredential, http_date};
use crate::azure::models::{
    ComputeNode, ErrorBody, Job, NodeFile, Pool, Task, TaskAddCollectionResult, TaskAddResult,
    TaskAddStatus, TaskCountsResult,
};
use crate::azure::retry::{RetryDecision, RetryPolicy, Retryable, parse_retry_after, with_retry};

/// The REST API version batchdeck speaks (the one azure-batch 15.x uses).
pub const API_VERSION: &str = "2025-06-01";

/// Characters left as they are in a path segment or query value; everything else is
/// percent-encoded (spaces as %20, never `+`).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Query values may keep a few more characters readable, as the SDKs send them.
const QUERY_ENCODE: &AsciiSet = &ENCODE.remove(b',').remove(b'$');

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The service answered with an error status.
    #[error("{}", service_message(*.status, code, message, account, operation))]
    Service {
        operation: String,
        account: String,
        status: u16,
        code: String,
        message: String,
        /// The service's wait hint (Retry-After and friends), for the retry loop.
        retry_after: Option<Duration>,
    },
    #[error(
        "cannot reach the Batch service at {endpoint} ({operation}): {message}; check AZURE_BATCH_ENDPOINT or --batch-endpoint and your network"
    )]
    Transport {
        operation: String,
        endpoint: String,
        message: String,
        /// No connection could be made at all (refused, no such host).
        connect: bool,
    },
    #[error("unexpected response to {operation}: {path}: {message}")]
    Decode {
        operation: String,
        path: String,
        message: String,
    },
}

fn service_message(
    status: u16,
    code: &str,
    message: &str,
    account: &str,
    operation: &str,
) -> String {
    let first_line = message.lines().next().unwrap_or("").trim();
    match status {
        401 | 403 => format!(
            "Batch account '{account}' rejected the request ({status} {code}): {first_line} Check AZURE_BATCH_ACCESS_KEY (or the profile's batch_key) and the machine's clock"
        ),
        _ => format!("{operation}: {status} {code}: {first_line}"),
    }
}

impl BatchError {
    /// The service's error code (e.g. `PoolExists`), if the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            BatchError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            BatchError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl Retryable for BatchError {
    fn retry_decision(&self) -> RetryDecision {
        match self {
            BatchError::Service {
                status,
                retry_after,
                ..
            } => RetryDecision::for_status(*status, *retry_after),
            BatchError::Transport { connect: true, .. } => RetryDecision::RetryConnect,
            BatchError::Transport { .. } => RetryDecision::Retry { retry_after: None },
            BatchError::Decode { .. } => RetryDecision::Fail,
        }
    }
}

/// Counts of requests and response bytes, for benchmarks and the status line.
#[derive(Debug, Default)]
pub struct RequestStats {
    pub requests: AtomicU64,
    pub response_bytes: AtomicU64,
}

/// One page of a list response.
#[derive(Debug, serde::Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "odata.nextLink")]
    pub next_link: Option<String>,
}

/// A successful answer, read to its end.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

/// A Batch account's data-plane client.
#[derive(Clone)]
pub struct BatchClient {
    http: reqwest::Client,
    base: Url,
    cred: SharedKeyCredential,
    retry: RetryPolicy,
    pub stats: Arc<RequestStats>,
}

impl std::fmt::Debug for BatchClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchClient")
            .field("base", &self.base.as_str())
            .field("account", &self.cred.account())
            .finish()
    }
}

/// A query parameter list; values are encoded when the URL is built.
pub type Query<'a> = &'a [(&'a str, String)];

impl BatchClient {
    pub fn new(base: Url, cred: SharedKeyCredential) -> Result<BatchClient, BatchError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| BatchError::Transport {
                operation: "create HTTP client".into(),
                endpoint: base.to_string(),
                message: e.to_string(),
                connect: false,
            })?;
        Ok(BatchClient {
            http,
            base,
            cred,
            retry: RetryPolicy::default(),
            stats: Arc::default(),
        })
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.base
    }

    pub fn account(&self) -> &str {
        self.cred.account()
    }

    /// Builds `base/seg1/seg2?api-version=...&k=v` with each segment percent-encoded.
    pub fn url(&self, segments: &[&str], query: Query<'_>) -> Url {
        let mut s = self.base.as_str().trim_end_matches('/').to_string();
        for seg in segments {
            s.push('/');
            s.extend(utf8_percent_encode(seg, ENCODE));
        }
        s.push_str("?api-version=");
        s.push_str(API_VERSION);
        for (k, v) in query {
            s.push('&');
            s.push_str(k);
            s.push('=');
            s.extend(utf8_percent_encode(v, QUERY_ENCODE));
        }
        Url::parse(&s).expect("a valid base URL with encoded segments stays valid")
    }

    /// Sends one signed request and returns the raw response (any status).
    pub async fn send_raw(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        extra_headers: &[(&str, String)],
    ) -> Result<reqwest::Response, BatchError> {
        let date = http_date(Utc::now());
        let has_body =
            body.is_some() || matches!(method, Method::POST | Method::PUT | Method::PATCH);
        let body = body.unwrap_or_default();
        let content_length = body.len().to_string();
        let mut headers: Vec<(&str, String)> = vec![("ocp-date", date)];
        if has_body {
            headers.push(("content-length", content_length));
            headers.push((
                "content-type",
                "application/json; odata=minimalmetadata".into(),
            ));
        }
        headers.extend(extra_headers.iter().cloned());
        let parts = RequestParts {
            method: method.as_str(),
            raw_path: url.path(),
            raw_query: url.query().unwrap_or(""),
            headers: headers.iter().map(|(k, v)| (*k, v.as_str())).collect(),
        };
        let auth = self.cred.authorization(Service::Batch, &parts);
        let mut req = self.http.request(method.clone(), url.clone());
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        req = req.header("authorization", auth);
        if has_body {
            req = req.body(body);
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        req.send().await.map_err(|e| BatchError::Transport {
            operation: operation.to_string(),
            endpoint: self.base.to_string(),
            message: transport_message(&e),
            connect: e.is_connect(),
        })
    }

    /// Sends a request and reads the whole answer, retrying transient failures (a body that
    /// breaks off included); fails on a non-success status with the service's error.
    pub async fn send(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        extra_headers: &[(&str, String)],
    ) -> Result<Answer, BatchError> {
        with_retry(&self.retry, operation, |_| {
            let (method, url, body) = (method.clone(), url.clone(), body.clone());
            async move {
                let resp = self
                    .send_raw(operation, method, url, body, extra_headers)
                    .await?;
                if !resp.status().is_success() {
                    return Err(self.error_from(operation, resp).await);
                }
                let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
                let body = resp.bytes().await.map_err(|e| BatchError::Transport {
                    operation: operation.to_string(),
                    endpoint: self.base.to_string(),
                    message: transport_message(&e),
                    connect: false,
                })?;
                self.stats
                    .response_bytes
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            }
        })
        .await
    }

    async fn error_from(&self, operation: &str, resp: reqwest::Response) -> BatchError {
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(
            |name| resp.headers().get(name).and_then(|v| v.to_str().ok()),
            Utc::now(),
        );
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.unwrap_or_default();
        self.stats
            .response_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let (code, message) = match serde_json::from_slice::<crate::azure::batch::ErrorBody>(&bytes)
        {
            Ok(b) => (b.code, b.message.map(|m| m.value).unwrap_or_default()),
            Err(_) => (
                reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Error")
                    .replace(' ', ""),
                // Something answered, but not as the Batch service does.
                if bytes.is_empty() {
                    String::new()
                } else {
                    format!(
                        "the answer is not a Batch service error ({}): is {} the Batch account URL?",
                        if content_type.is_empty() {
                            "no content type"
                        } else {
                            &content_type
                        },
                        self.base.as_str().trim_end_matches('/')
                    )
                },
            ),
        };
        BatchError::Service {
            operation: operation.to_string(),
            account: self.cred.account().to_string(),
            status,
            code,
            message,
            retry_after,
        }
    }

    /// GET and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        operation: &str,
        url: Url,
    ) -> Result<T, BatchError> {
        let answer = self.send(operation, Method::GET, url, None, &[]).await?;
        self.decode(operation, &answer.body)
    }

    /// POST a JSON body; returns the answer for the caller to inspect.
    pub async fn post_json<B: Serialize>(
        &self,
        operation: &str,
        url: Url,
        body: &B,
    ) -> Result<Answer, BatchError> {
        let bytes = serde_json::to_vec(body).map_err(|e| BatchError::Decode {
            operation: operation.to_string(),
            path: ".".into(),
            message: e.to_string(),
        })?;
        self.send(operation, Method::POST, url, Some(bytes), &[])
            .await
    }

    /// Decodes a JSON body; errors name the JSON path that did not fit.
    pub fn decode<T: DeserializeOwned>(
        &self,
        operation: &str,
        body: &[u8],
    ) -> Result<T, BatchError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|e| BatchError::Decode {
            operation: operation.to_string(),
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }

    /// Lists every item, following `odata.nextLink` until the last page.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        operation: &str,
        first: Url,
    ) -> Result<Vec<T>, BatchError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let page: Page<T> = self.get_json(operation, url).await?;
            out.extend(page.value);
            next = match page.next_link {
                Some(link) => Some(self.next_url(operation, &link)?),
                None => None,
            };
        }
        Ok(out)
    }

    /// `odata.nextLink` is absolute; it must point at our own endpoint.
    fn next_url(&self, operation: &str, link: &str) -> Result<Url, BatchError> {
        let url = Url::parse(link).map_err(|e| BatchError::Decode {
            operation: operation.to_string(),
            path: "odata.nextLink".into(),
            message: e.to_string(),
        })?;
        if url.host_str() != self.base.host_str()
            || url.port_or_known_default() != self.base.port_or_known_default()
        {
            return Err(BatchError::Decode {
                operation: operation.to_string(),
                path: "odata.nextLink".into(),
                message: format!("points away from {}", self.base),
            });
        }
        Ok(url)
    }
}

/// The outcome of a create that may find the entity already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExisted,
}

/// The outcome of a delete that may find the entity already gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    NotFound,
}

/// Most tasks the service accepts in one addtaskcollection call.
pub const TASKS_PER_COLLECTION: usize = 100;
/// Collections sent at once when adding many tasks.
pub const COLLECTIONS_IN_FLIGHT: usize = 8;

impl BatchClient {
    /// Sends a create or delete under the retry policy and remembers whether an attempt may
    /// have taken effect without us hearing so: a response cut off, a timeout, or a server
    /// error (which Azure may return after committing). A throttled (429) or refused
    /// connection was not applied.
    async fn send_noting_ambiguity(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> (Result<(), BatchError>, bool) {
        let ambiguous = std::sync::atomic::AtomicBool::new(false);
        let r = with_retry(&self.retry, operation, |_| {
            let (method, url, body, ambiguous) =
                (method.clone(), url.clone(), body.clone(), &ambiguous);
            async move {
                let resp = match self.send_raw(operation, method, url, body, &[]).await {
                    Ok(r) => r,
                    Err(e) => {
                        // No connection: nothing was sent, so nothing can have landed.
                        if !matches!(&e, BatchError::Transport { connect: true, .. }) {
                            ambiguous.store(true, Ordering::Relaxed);
                        }
                        return Err(e);
                    }
                };
                if resp.status().is_success() {
                    // Read the body: a response cut off mid-way is an ambiguous failure.
                    return match resp.bytes().await {
                        Ok(_) => Ok(()),
                        Err(e) => {
                            ambiguous.store(true, Ordering::Relaxed);
                            Err(BatchError::Transport {
                                operation: operation.to_string(),
                                endpoint: self.base.to_string(),
                                message: transport_message(&e),
                                connect: false,
                            })
                        }
                    };
                }
                let e = self.error_from(operation, resp).await;
                if e.status().is_some_and(|s| s >= 500) {
                    ambiguous.store(true, Ordering::Relaxed);
                }
                Err(e)
            }
        })
        .await;
        (r, ambiguous.load(Ordering::Relaxed))
    }

    /// A create that finds the entity already there reports it, unless an earlier attempt of
    /// this same call may have created it: then the entity is ours, and it counts as created
    /// (a retried add that finds the entity is a success).
    async fn create(
        &self,
        operation: &str,
        url: Url,
        body: &impl Serialize,
        exists_code: &str,
    ) -> Result<Created, BatchError> {
        let bytes = serde_json::to_vec(body).map_err(|e| BatchError::Decode {
            operation: operation.to_string(),
            path: ".".into(),
            message: e.to_string(),
        })?;
        match self
            .send_noting_ambiguity(operation, Method::POST, url, Some(bytes))
            .await
        {
            (Ok(()), _) => Ok(Created::Created),
            (Err(e), true) if e.code() == Some(exists_code) => {
                tracing::info!(%operation, "an earlier attempt created it");
                Ok(Created::Created)
            }
            (Err(e), false) if e.code() == Some(exists_code) => Ok(Created::AlreadyExisted),
            (Err(e), _) => Err(e),
        }
    }

    /// A delete of something already gone, or already being deleted, is done.
    async fn delete(&self, operation: &str, url: Url) -> Result<Deleted, BatchError> {
        match self
            .send_noting_ambiguity(operation, Method::DELETE, url, None)
            .await
        {
            (Ok(()), _) => Ok(Deleted::Deleted),
            (Err(e), _) if matches!(e.code(), Some("PoolBeingDeleted" | "JobBeingDeleted")) => {
                Ok(Deleted::Deleted)
            }
            (Err(e), ambiguous) if e.is_not_found() => Ok(if ambiguous {
                Deleted::Deleted
            } else {
                Deleted::NotFound
            }),
            (Err(e), _) => Err(e),
        }
    }

    /// Adds a pool; finding one of that id is reported, not an error.
    pub async fn create_pool(&self, pool: &Pool) -> Result<Created, BatchError> {
        let url = self.url(&["pools"], &[]);
        self.create(&format!("create pool {}", pool.id), url, pool, "PoolExists")
            .await
    }

    pub async fn get_pool(&self, id: &str, select: Option<&str>) -> Result<Pool, BatchError> {
        let q: Vec<(&str, String)> = select
            .map(|s| ("$select", s.to_string()))
            .into_iter()
            .collect();
        self.get_json(&format!("get pool {id}"), self.url(&["pools", id], &q))
            .await
    }

    pub async fn pool_exists(&self, id: &str) -> Result<bool, BatchError> {
        let op = format!("check pool {id}");
        match self
            .send(&op, Method::HEAD, self.url(&["pools", id], &[]), None, &[])
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_pool(&self, id: &str) -> Result<Deleted, BatchError> {
        self.delete(&format!("delete pool {id}"), self.url(&["pools", id], &[]))
            .await
    }

    pub async fn resize_pool(
        &self,
        id: &str,
        target_dedicated: u32,
        target_low_priority: u32,
    ) -> Result<(), BatchError> {
        let body = serde_json::json!({
            "targetDedicatedNodes": target_dedicated,
            "targetLowPriorityNodes": target_low_priority,
        });
        self.post_json(
            &format!("resize pool {id}"),
            self.url(&["pools", id, "resize"], &[]),
            &body,
        )
        .await
        .map(|_| ())
    }

    pub async fn list_nodes(
        &self,
        pool_id: &str,
        select: Option<&str>,
    ) -> Result<Vec<ComputeNode>, BatchError> {
        let q: Vec<(&str, String)> = select
            .map(|s| ("$select", s.to_string()))
            .into_iter()
            .collect();
        self.list_all(
            &format!("list nodes of pool {pool_id}"),
            self.url(&["pools", pool_id, "nodes"], &q),
        )
        .await
    }

    pub async fn create_job(&self, job: &Job) -> Result<Created, BatchError> {
        let url = self.url(&["jobs"], &[]);
        self.create(&format!("create job {}", job.id), url, job, "JobExists")
            .await
    }

    pub async fn get_job(&self, id: &str) -> Result<Job, BatchError> {
        self.get_json(&format!("get job {id}"), self.url(&["jobs", id], &[]))
            .await
    }

    pub async fn delete_job(&self, id: &str) -> Result<Deleted, BatchError> {
        self.delete(&format!("delete job {id}"), self.url(&["jobs", id], &[]))
            .await
    }

    /// Adds tasks in collections of at most 100, several collections at once. A task that
    /// already exists (a retried add that had in fact succeeded, or a resumed run) counts as
    /// added. Returns one result per task; client errors are returned, not raised.
    pub async fn add_tasks(
        &self,
        job_id: &str,
        tasks: &[Task],
    ) -> Result<Vec<TaskAddResult>, BatchError> {
        use futures::StreamExt;
        let url = self.url(&["jobs", job_id, "addtaskcollection"], &[]);
        let op = format!("add tasks to job {job_id}");
        let chunks: Vec<&[Task]> = tasks.chunks(TASKS_PER_COLLECTION).collect();
        let results: Vec<Result<TaskAddCollectionResult, BatchError>> =
            futures::stream::iter(chunks)
                .map(|chunk| {
                    let (url, op) = (url.clone(), op.clone());
                    async move {
                        let body = serde_json::json!({ "value": chunk });
                        let answer = self.post_json(&op, url, &body).await?;
                        self.decode::<TaskAddCollectionResult>(&op, &answer.body)
                    }
                })
                .buffer_unordered(COLLECTIONS_IN_FLIGHT)
                .collect()
                .await;
        let mut out = Vec::with_capacity(tasks.len());
        for r in results {
            for mut one in r?.value {
                // The service writes `Success`, `ClientError`, `ServerError` (recorded), which
                // `TaskAddStatus` reads whatever their case.
                if one.status != TaskAddStatus::Success
                    && one.error.as_ref().is_some_and(|e| e.code == "TaskExists")
                {
                    one.status = TaskAddStatus::Success;
                    one.error = None;
                    one.already_existed = true;
                }
                out.push(one);
            }
        }
        Ok(out)
    }

    /// Lists a job's tasks; `filter` and `select` are OData, e.g. `state eq 'completed'`.
    pub async fn list_tasks(
        &self,
        job_id: &str,
        filter: Option<&str>,
        select: Option<&str>,
    ) -> Result<Vec<Task>, BatchError> {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(f) = filter {
            q.push(("$filter", f.to_string()));
        }
        if let Some(s) = select {
            q.push(("$select", s.to_string()));
        }
        q.push(("maxresults", "1000".into()));
        self.list_all(
            &format!("list tasks of job {job_id}"),
            self.url(&["jobs", job_id, "tasks"], &q),
        )
        .await
    }

    pub async fn get_task(&self, job_id: &str, task_id: &str) -> Result<Task, BatchError> {
        self.get_json(
            &format!("get task {task_id}"),
            self.url(&["jobs", job_id, "tasks", task_id], &[]),
        )
        .await
    }

    pub async fn task_counts(&self, job_id: &str) -> Result<TaskCountsResult, BatchError> {
        self.get_json(
            &format!("get task counts of job {job_id}"),
            self.url(&["jobs", job_id, "taskcounts"], &[]),
        )
        .await
    }

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

    pub async fn terminate_task(&self, job_id: &str, task_id: &str) -> Result<(), BatchError> {
        self.task_action(job_id, task_id, "terminate").await
    }

    pub async fn reactivate_task(&self, job_id: &str, task_id: &str) -> Result<(), BatchError> {
        self.task_action(job_id, task_id, "reactivate").await
    }

    /// `POST /jobs/{job}/tasks/{task}/{action}` with an empty body.
    async fn task_action(
        &self,
        job_id: &str,
        task_id: &str,
        action: &str,
    ) -> Result<(), BatchError> {
        self.send(
            &format!("{action} task {task_id}"),
            Method::POST,
            self.url(&["jobs", job_id, "tasks", task_id, action], &[]),
            Some(Vec::new()),
            &[],
        )
        .await
        .map(|_| ())
    }
}

/// What went wrong on the wire, without reqwest's wrapping (the endpoint is named by the
/// caller): the innermost cause, e.g. "Connection refused (os error 111)".
fn transport_message(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".into();
    }
    let mut innermost = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        innermost = s.to_string();
        src = s.source();
    }
    innermost
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> BatchClient {
        BatchClient::new(
            Url::parse("http://127.0.0.1:1/").unwrap(),
            SharedKeyCredential::new("devbatch", "a2V5").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn urls_encode_ids_and_filters_like_the_sdks() {
        let c = client();
        let u = c.url(
            &[
                "jobs",
                "job 2",
                "tasks",
                "task0",
                "files",
                "wd/my file+x.txt",
            ],
            &[],
        );
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/jobs/job%202/tasks/task0/files/wd%2Fmy%20file%2Bx.txt?api-version=2025-06-01"
        );
        let u = c.url(
            &["jobs", "j", "tasks"],
            &[
                ("$filter", "state eq 'completed'".into()),
                ("$select", "id,state".into()),
            ],
        );
        assert_eq!(
            u.query().unwrap(),
            "api-version=2025-06-01&$filter=state%20eq%20%27completed%27&$select=id,state"
        );
    }

    #[test]
    fn errors_name_the_account_and_the_variable_but_no_key() {
        let e = BatchError::Service {
            operation: "get pool".into(),
            account: "acct".into(),
            status: 403,
            code: "AuthenticationFailed".into(),
            message: "Server failed to authenticate the request.\nRequestId:x".into(),
            retry_after: None,
        };
        let s = e.to_string();
        assert!(
            s.contains("'acct'") && s.contains("AZURE_BATCH_ACCESS_KEY"),
            "{s}"
        );
        assert!(!s.contains('\n'));
    }
}
