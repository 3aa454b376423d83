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
    },
    #[error(
        "cannot reach the Batch service at {endpoint} ({operation}): {message}; check AZURE_BATCH_ENDPOINT or --batch-endpoint and your network"
    )]
    Transport {
        operation: String,
        endpoint: String,
        message: String,
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

/// A Batch account's data-plane client.
#[derive(Clone)]
pub struct BatchClient {
    http: reqwest::Client,
    base: Url,
    cred: SharedKeyCredential,
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
            })?;
        Ok(BatchClient {
            http,
            base,
            cred,
            stats: Arc::default(),
        })
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
        })
    }

    /// Sends a request and fails on a non-success status with the service's error.
    pub async fn send(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        extra_headers: &[(&str, String)],
    ) -> Result<reqwest::Response, BatchError> {
        let resp = self
            .send_raw(operation, method, url, body, extra_headers)
            .await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self.error_from(operation, resp).await)
    }

    async fn error_from(&self, operation: &str, resp: reqwest::Response) -> BatchError {
        let status = resp.status().as_u16();
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
                String::new(),
            ),
        };
        BatchError::Service {
            operation: operation.to_string(),
            account: self.cred.account().to_string(),
            status,
            code,
            message,
        }
    }

    /// GET and decode JSON.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        operation: &str,
        url: Url,
    ) -> Result<T, BatchError> {
        let resp = self.send(operation, Method::GET, url, None, &[]).await?;
        self.decode(operation, resp).await
    }

    /// POST a JSON body; returns the response for the caller to inspect.
    pub async fn post_json<B: Serialize>(
        &self,
        operation: &str,
        url: Url,
        body: &B,
    ) -> Result<reqwest::Response, BatchError> {
        let bytes = serde_json::to_vec(body).map_err(|e| BatchError::Decode {
            operation: operation.to_string(),
            path: ".".into(),
            message: e.to_string(),
        })?;
        self.send(operation, Method::POST, url, Some(bytes), &[])
            .await
    }

    pub async fn decode<T: DeserializeOwned>(
        &self,
        operation: &str,
        resp: reqwest::Response,
    ) -> Result<T, BatchError> {
        let bytes = resp.bytes().await.map_err(|e| BatchError::Transport {
            operation: operation.to_string(),
            endpoint: self.base.to_string(),
            message: transport_message(&e),
        })?;
        self.stats
            .response_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
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

fn transport_message(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// The Batch service's JSON error body.
#[derive(Debug, serde::Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: String,
    pub message: Option<ErrorMessage>,
}

#[derive(Debug, serde::Deserialize)]
pub struct ErrorMessage {
    #[serde(default)]
    pub value: String,
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
        };
        let s = e.to_string();
        assert!(
            s.contains("'acct'") && s.contains("AZURE_BATCH_ACCESS_KEY"),
            "{s}"
        );
        assert!(!s.contains('\n'));
    }
}
