//! The client core: requests signed with Shared Key or carrying a Microsoft Entra ID token,
//! sent under the retry policy, errors
//! read from the service's answers, JSON bodies, the pager that follows `odata.nextLink`,
//! and creates and deletes that tolerate an earlier attempt having taken effect.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::error::AuthContext;
use super::error::transport_message;
use super::{API_VERSION, BatchError};
use crate::azure::auth::entra::BATCH_SCOPE;
use crate::azure::auth::{Credential, RequestParts, Service, SharedKeyCredential, http_date};
use crate::azure::models::ErrorBody;
use crate::azure::retry::{RetryPolicy, parse_retry_after, with_retry};

/// Characters left as they are in a path segment or query value; everything else is
/// percent-encoded (spaces as %20, never `+`).
pub(super) const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Query values may keep a few more characters readable, as the SDKs send them.
pub(super) const QUERY_ENCODE: &AsciiSet = &ENCODE.remove(b',').remove(b'$');

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
    account: String,
    cred: Credential,
    retry: RetryPolicy,
    pub stats: Arc<RequestStats>,
}

impl std::fmt::Debug for BatchClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchClient")
            .field("base", &self.base.as_str())
            .field("account", &self.account)
            .field("auth", &self.cred.mode())
            .finish()
    }
}

/// A query parameter list; values are encoded when the URL is built.
pub type Query<'a> = &'a [(&'a str, String)];

/// The query of a request that asks only for `select`'s properties (all when `None`).
pub fn select_query(select: Option<&str>) -> Vec<(&'static str, String)> {
    select
        .map(|s| ("$select", s.to_string()))
        .into_iter()
        .collect()
}

impl BatchClient {
    /// A client that signs with the account key.
    pub fn new(base: Url, cred: SharedKeyCredential) -> Result<BatchClient, BatchError> {
        let account = cred.account().to_string();
        Self::with_credential(base, account, Credential::SharedKey(cred))
    }

    /// A client for `account` at `base` with any credential; an Entra ID credential must be
    /// for the Batch scope.
    pub fn with_credential(
        base: Url,
        account: String,
        cred: Credential,
    ) -> Result<BatchClient, BatchError> {
        if let Credential::Entra(e) = &cred
            && e.scope() != BATCH_SCOPE
        {
            return Err(BatchError::Credential {
                account,
                message: format!(
                    "a Batch client needs tokens for {BATCH_SCOPE}, not {}",
                    e.scope()
                ),
            });
        }
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
            account,
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
        &self.account
    }

    /// How requests are authenticated.
    pub fn credential(&self) -> &Credential {
        &self.cred
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
        let auth = match &self.cred {
            Credential::SharedKey(k) => k.authorization(Service::Batch, &parts),
            Credential::Entra(e) => e
                .token()
                .await
                .map_err(|err| BatchError::Credential {
                    account: self.account.clone(),
                    message: err.to_string(),
                })?
                .authorization(),
        };
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
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.unwrap_or_default();
        self.stats
            .response_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let mut detail = String::new();
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => {
                detail = b
                    .values
                    .iter()
                    .find(|v| v.key == "AuthenticationErrorDetail")
                    .map(|v| v.value.clone())
                    .unwrap_or_default();
                (b.code, b.message.map(|m| m.value).unwrap_or_default())
            }
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
        if let (401, Credential::Entra(e)) = (status, &self.cred) {
            // The next request fetches a new token rather than send this one again.
            e.forget().await;
        }
        BatchError::Service {
            operation: operation.to_string(),
            account: self.account.clone(),
            status,
            code,
            message,
            retry_after,
            auth: Box::new(AuthContext {
                mode: self.cred.mode(),
                detail,
                challenge,
            }),
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

    /// POST with an empty body (an action that takes no options).
    pub async fn post_empty(&self, operation: &str, url: Url) -> Result<(), BatchError> {
        self.send(operation, Method::POST, url, Some(Vec::new()), &[])
            .await
            .map(|_| ())
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
        self.for_each_page(operation, first, |page| out.extend(page))
            .await?;
        Ok(out)
    }

    /// Hands each page to `f` as it arrives, following `odata.nextLink` until the last one.
    pub async fn for_each_page<T: DeserializeOwned>(
        &self,
        operation: &str,
        first: Url,
        mut f: impl FnMut(Vec<T>),
    ) -> Result<(), BatchError> {
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let page: Page<T> = self.get_json(operation, url).await?;
            f(page.value);
            next = match page.next_link {
                Some(link) => Some(self.next_url(operation, &link)?),
                None => None,
            };
        }
        Ok(())
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
    pub(super) async fn create(
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
    pub(super) async fn delete(&self, operation: &str, url: Url) -> Result<Deleted, BatchError> {
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
}
