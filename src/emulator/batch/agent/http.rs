//! Storage requests of the agent (resource files in, output files out): the service version
//! it speaks, and retries as the service's retry policy says.

use std::time::Duration;

use crate::azure::retry::{RetryDecision, RetryPolicy, Retryable, parse_retry_after, with_retry};

/// The storage service version the agent speaks to blob endpoints.
pub(super) const STORAGE_VERSION: &str = "2023-11-03";

/// A storage request that failed: by status (with the service's wait hint), on the wire, or
/// on this side (a file that cannot be written: not worth another try).
#[derive(Debug)]
pub(super) enum HttpFailure {
    Status(u16, Option<Duration>),
    Transport(String),
    Local(String),
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpFailure::Status(s, _) => write!(f, "answered {s}"),
            HttpFailure::Transport(m) | HttpFailure::Local(m) => f.write_str(m),
        }
    }
}

impl Retryable for HttpFailure {
    fn retry_decision(&self) -> RetryDecision {
        match self {
            HttpFailure::Status(s, after) => RetryDecision::for_status(*s, *after),
            HttpFailure::Transport(_) => RetryDecision::Retry { retry_after: None },
            HttpFailure::Local(_) => RetryDecision::Fail,
        }
    }
}

pub(super) fn transport(e: reqwest::Error) -> HttpFailure {
    HttpFailure::Transport(e.without_url().to_string())
}

/// Sends the request `make` builds and hands a successful response to `read`, retrying
/// throttling, server errors and broken connections (a body cut off included), as the node
/// agent does.
pub(super) async fn request_with_retry<T, R, RFut>(
    what: &str,
    make: impl Fn() -> reqwest::RequestBuilder,
    read: R,
) -> Result<T, HttpFailure>
where
    R: Fn(reqwest::Response) -> RFut,
    RFut: std::future::Future<Output = Result<T, HttpFailure>>,
{
    let policy = RetryPolicy {
        base: Duration::from_millis(200),
        cap: Duration::from_secs(5),
        max_attempts: 10,
        max_connect_attempts: 4,
        max_retry_after: Duration::from_secs(60),
    };
    with_retry(&policy, what, |_| async {
        let resp = make().send().await.map_err(transport)?;
        if !resp.status().is_success() {
            let after = parse_retry_after(
                |n| resp.headers().get(n).and_then(|v| v.to_str().ok()),
                chrono::Utc::now(),
            );
            return Err(HttpFailure::Status(resp.status().as_u16(), after));
        }
        read(resp).await
    })
    .await
}

/// [`request_with_retry`] for small answers, read whole.
pub(super) async fn send_with_retry(
    what: &str,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<bytes::Bytes, HttpFailure> {
    request_with_retry(
        what,
        make,
        |r| async move { r.bytes().await.map_err(transport) },
    )
    .await
}

/// What a blob name keeps unescaped in a URL path (its `/` included).
pub(super) const BLOB_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
