//! Retries for Azure REST calls: exponential backoff with full jitter, a fixed set of
//! retryable statuses (408, 429, 500, 502, 503, 504) plus connection errors, and the services'
//! `Retry-After` / `x-ms-retry-after-ms` / `retry-after-ms` hints.
//!
//! One [`RetryPolicy`] describes the behaviour for every client:
//! - [`with_retry`] runs any async operation under it (the Batch client, operation-level
//!   resumes such as a blob download whose body broke off);
//! - [`RetryPolicy::for_azure_core`] turns the same policy into `azure_core`'s retry options,
//!   so each request the blob SDK sends (including the ones it issues internally for
//!   partitioned downloads and list pages) is retried with the same backoff, statuses and
//!   headers. The SDK's own default (200 ms × 2ⁿ + up to 256 ms, 8 retries) is replaced, never
//!   stacked with ours: a request is retried by exactly one loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Statuses that are worth another try: timeouts, throttling and transient server errors.
pub const RETRYABLE_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// Headers that say how long to wait, in the order they are consulted.
pub const RETRY_AFTER_HEADERS: [&str; 3] = ["x-ms-retry-after-ms", "retry-after-ms", "retry-after"];

/// Whether `status` is one of [`RETRYABLE_STATUSES`].
pub fn is_retryable_status(status: u16) -> bool {
    RETRYABLE_STATUSES.contains(&status)
}

/// Exponential backoff with full jitter: before retry `n` (1-based) it sleeps a uniformly
/// random time in `[0, min(cap, base * 2^(n-1))]`, or at least what the service asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Upper bound of the first delay.
    pub base: Duration,
    /// No computed delay exceeds this.
    pub cap: Duration,
    /// Total attempts, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Attempts that could not connect at all (refused, no such host) end the retrying
    /// sooner: an endpoint that is not there is reported in seconds, not minutes.
    pub max_connect_attempts: u32,
    /// A service asking for a longer wait than this is not retried: the error is returned
    /// at once so that the caller can tell the user instead of hanging.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(20),
            // As azure-core's default (10 retries): a busy service gets time to recover.
            max_attempts: 11,
            max_connect_attempts: 4,
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// What an error says about trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Do not retry: the request was wrong, unauthorised, or the error is final.
    Fail,
    /// Transient: retry after the backoff, or at least `retry_after` when the service said so.
    Retry { retry_after: Option<Duration> },
    /// Could not connect at all: retried, up to `max_connect_attempts`.
    RetryConnect,
}

/// Errors that know whether they are transient.
pub trait Retryable {
    fn retry_decision(&self) -> RetryDecision;
}

impl RetryDecision {
    /// The decision for a response status and the service's wait hint.
    pub fn for_status(status: u16, retry_after: Option<Duration>) -> Self {
        if is_retryable_status(status) {
            RetryDecision::Retry { retry_after }
        } else {
            RetryDecision::Fail
        }
    }
}

impl Retryable for reqwest::Error {
    fn retry_decision(&self) -> RetryDecision {
        if let Some(status) = self.status() {
            return RetryDecision::for_status(status.as_u16(), None);
        }
        if self.is_connect() {
            RetryDecision::RetryConnect
        } else if self.is_timeout() || self.is_request() || self.is_body() {
            RetryDecision::Retry { retry_after: None }
        } else {
            RetryDecision::Fail
        }
    }
}

impl RetryPolicy {
    /// A policy that tries once.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The ceiling of the jittered delay before retry `retry` (1-based).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        self.base
            .checked_mul(1u32 << exp)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// The delay before retry `retry` (1-based) for a jitter `unit` in `[0, 1)`.
    pub fn backoff_with(&self, retry: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.ceiling(retry).mul_f64(unit)
    }

    /// The randomised delay before retry `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff_with(retry, rand::random::<f64>())
    }

    /// How long to wait before retry `retry`, honouring the service's hint: the larger of the
    /// jittered backoff and `retry_after`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff(retry);
        match retry_after {
            Some(ra) => ra.max(backoff),
            None => backoff,
        }
    }

    /// `azure_core` retry options that follow this policy (see the module documentation).
    pub fn for_azure_core(&self) -> azure_core::http::RetryOptions {
        azure_core::http::RetryOptions::custom(Arc::new(AzureCoreRetry::new(self.clone())))
    }
}

/// Runs `f` until it succeeds, fails with a non-retryable error, or `policy.max_attempts` is
/// reached. `f` receives the attempt number (1-based). Sleeps with `tokio::time::sleep`.
pub async fn with_retry<T, E, F, Fut>(policy: &RetryPolicy, op_name: &str, f: F) -> Result<T, E>
where
    E: Retryable + std::fmt::Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    with_retry_sleeping(policy, op_name, f, tokio::time::sleep).await
}

/// [`with_retry`] with an injectable sleep (tests use a recording fake clock).
pub async fn with_retry_sleeping<T, E, F, Fut, S, SFut>(
    policy: &RetryPolicy,
    op_name: &str,
    mut f: F,
    mut sleep: S,
) -> Result<T, E>
where
    E: Retryable + std::fmt::Display,
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    S: FnMut(Duration) -> SFut,
    SFut: Future<Output = ()>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 1u32;
    let mut connect_failures = 0u32;
    loop {
        let err = match f(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let retry_after = match err.retry_decision() {
            RetryDecision::Fail => return Err(err),
            RetryDecision::Retry { retry_after } => retry_after,
            RetryDecision::RetryConnect => {
                connect_failures += 1;
                if connect_failures >= policy.max_connect_attempts.max(1) {
                    tracing::warn!(op = op_name, attempts = attempt, error = %err, "cannot connect; giving up");
                    return Err(err);
                }
                None
            }
        };
        if attempt >= max_attempts {
            tracing::warn!(op = op_name, attempts = attempt, error = %err, "giving up after retries");
            return Err(err);
        }
        if retry_after.is_some_and(|ra| ra > policy.max_retry_after) {
            tracing::warn!(op = op_name, ?retry_after, error = %err, "service asks to wait too long; not retrying");
            return Err(err);
        }
        let wait = policy.delay(attempt, retry_after);
        tracing::debug!(op = op_name, attempt, ?wait, error = %err, "retrying");
        sleep(wait).await;
        attempt += 1;
    }
}

/// Parses a wait hint from response headers (looked up case-insensitively by `get`):
/// `x-ms-retry-after-ms` / `retry-after-ms` in milliseconds, or `Retry-After` in seconds or
/// as an HTTP date (relative to `now`; a date in the past means "now").
pub fn parse_retry_after<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    for name in RETRY_AFTER_HEADERS {
        let Some(v) = get(name) else { continue };
        let v = v.trim();
        if name == "retry-after" {
            if let Ok(secs) = v.parse::<u64>() {
                return Some(Duration::from_secs(secs));
            }
            if let Some(at) = crate::azure::auth::parse_http_date(v) {
                return Some((at - now).to_std().unwrap_or(Duration::ZERO));
            }
        } else if let Ok(ms) = v.parse::<u64>() {
            return Some(Duration::from_millis(ms));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// azure_core adapter

/// Our policy in `azure_core`'s retry loop. That loop retries connection errors and the
/// statuses below, and waits the larger of our jittered backoff and the `Retry-After` family
/// of headers (it reads them on 429 and 503 responses).
#[derive(Debug)]
struct AzureCoreRetry {
    policy: RetryPolicy,
    headers: azure_core::http::policies::RetryHeaders,
    statuses: Vec<azure_core::http::StatusCode>,
}

impl AzureCoreRetry {
    fn new(policy: RetryPolicy) -> Self {
        use azure_core::http::headers::{RETRY_AFTER, RETRY_AFTER_MS, X_MS_RETRY_AFTER_MS};
        Self {
            policy,
            // The same names and order as RETRY_AFTER_HEADERS; `RETRY_AFTER` is the standard
            // header (seconds or an HTTP date), the other two are milliseconds.
            headers: azure_core::http::policies::RetryHeaders {
                retry_headers: vec![X_MS_RETRY_AFTER_MS, RETRY_AFTER_MS, RETRY_AFTER],
            },
            statuses: RETRYABLE_STATUSES
                .iter()
                .map(|s| azure_core::http::StatusCode::from(*s))
                .collect(),
        }
    }
}

impl azure_core::http::policies::RetryPolicy for AzureCoreRetry {
    fn is_expired(&self, _since_start: azure_core::time::Duration, retry_count: u32) -> bool {
        // `retry_count` retries have been made, so `retry_count + 1` attempts.
        retry_count.saturating_add(1) >= self.policy.max_attempts.max(1)
    }

    fn retry_headers(&self) -> Option<&azure_core::http::policies::RetryHeaders> {
        Some(&self.headers)
    }

    fn retry_status_codes(&self) -> &[azure_core::http::StatusCode] {
        &self.statuses
    }

    fn sleep_duration(&self, retry_count: u32) -> azure_core::time::Duration {
        azure_core::time::Duration::try_from(self.policy.backoff(retry_count))
            .unwrap_or(azure_core::time::Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug)]
    struct FakeError {
        status: u16,
        retry_after: Option<Duration>,
    }

    impl std::fmt::Display for FakeError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "status {}", self.status)
        }
    }

    impl Retryable for FakeError {
        fn retry_decision(&self) -> RetryDecision {
            // Status 0 stands for a connection that could not be made.
            if self.status == 0 {
                return RetryDecision::RetryConnect;
            }
            RetryDecision::for_status(self.status, self.retry_after)
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_attempts: 4,
            max_connect_attempts: 4,
            max_retry_after: Duration::from_secs(30),
        }
    }

    /// Runs `with_retry_sleeping` with a fake clock; returns the result, the number of calls
    /// and the sleeps requested.
    async fn run(
        policy: &RetryPolicy,
        mut outcomes: Vec<Result<u32, FakeError>>,
    ) -> (Result<u32, FakeError>, u32, Vec<Duration>) {
        outcomes.reverse();
        let outcomes = Mutex::new(outcomes);
        let calls = Mutex::new(0u32);
        let slept = Mutex::new(Vec::new());
        let r = with_retry_sleeping(
            policy,
            "test op",
            |attempt| {
                let mut c = calls.lock().unwrap();
                *c += 1;
                assert_eq!(attempt, *c, "attempt numbers count from 1");
                let next = outcomes.lock().unwrap().pop().expect("an outcome per call");
                async move { next }
            },
            |d| {
                slept.lock().unwrap().push(d);
                async {}
            },
        )
        .await;
        (r, calls.into_inner().unwrap(), slept.into_inner().unwrap())
    }

    fn fail(status: u16) -> Result<u32, FakeError> {
        Err(FakeError {
            status,
            retry_after: None,
        })
    }

    #[test]
    fn classification() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 404, 409, 412, 416, 501, 505] {
            assert!(!is_retryable_status(s), "{s}");
        }
        assert_eq!(
            RetryDecision::for_status(503, Some(Duration::from_secs(2))),
            RetryDecision::Retry {
                retry_after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(RetryDecision::for_status(403, None), RetryDecision::Fail);
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        let p = fast();
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_secs(1), "capped");
        assert_eq!(p.ceiling(1000), Duration::from_secs(1), "no overflow");
        assert_eq!(
            p.backoff_with(3, 0.0),
            Duration::ZERO,
            "full jitter reaches 0"
        );
        assert_eq!(p.backoff_with(3, 0.5), Duration::from_millis(200));
        assert_eq!(
            p.backoff_with(3, 7.0),
            Duration::from_millis(400),
            "unit clamped"
        );
        assert_eq!(p.backoff_with(3, f64::NAN), Duration::ZERO);
        for retry in 1..40 {
            for _ in 0..50 {
                let d = p.backoff(retry);
                assert!(d <= p.ceiling(retry) && d <= p.cap, "{retry}: {d:?}");
            }
        }
        // The service's hint is a floor.
        let hint = Duration::from_secs(5);
        assert!(p.delay(1, Some(hint)) >= hint);
    }

    #[test]
    fn retry_after_headers() {
        let now = crate::azure::auth::parse_http_date("Wed, 01 Jan 2025 00:00:00 GMT").unwrap();
        let hdrs = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| *v)
            }
        };
        assert_eq!(
            parse_retry_after(hdrs(&[("Retry-After", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(
                hdrs(&[("Retry-After", "Wed, 01 Jan 2025 00:00:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after(
                hdrs(&[("Retry-After", "Tue, 31 Dec 2024 23:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO),
            "a past date means now"
        );
        // The millisecond header wins over Retry-After.
        assert_eq!(
            parse_retry_after(
                hdrs(&[("Retry-After", "9"), ("x-ms-retry-after-ms", "1500")]),
                now
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after(hdrs(&[("retry-after-ms", "20")]), now),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            parse_retry_after(hdrs(&[("Retry-After", "soon")]), now),
            None
        );
        assert_eq!(parse_retry_after(hdrs(&[]), now), None);
    }

    #[tokio::test]
    async fn retries_transient_errors_then_succeeds() {
        let p = fast();
        let (r, calls, slept) = run(&p, vec![fail(503), fail(500), Ok(42)]).await;
        assert_eq!(r.unwrap(), 42);
        assert_eq!(calls, 3);
        assert_eq!(slept.len(), 2);
        assert!(slept[0] <= p.ceiling(1) && slept[1] <= p.ceiling(2));
    }

    #[tokio::test]
    async fn does_not_retry_final_errors() {
        let (r, calls, slept) = run(&fast(), vec![fail(403)]).await;
        assert_eq!(r.unwrap_err().status, 403);
        assert_eq!(calls, 1);
        assert!(slept.is_empty());
    }

    #[tokio::test]
    async fn stops_after_max_attempts() {
        let p = fast();
        let (r, calls, slept) = run(&p, vec![fail(429), fail(429), fail(502), fail(504)]).await;
        assert_eq!(r.unwrap_err().status, 504);
        assert_eq!(calls, p.max_attempts);
        assert_eq!(slept.len() as u32, p.max_attempts - 1);
        let (r, calls, _) = run(&RetryPolicy::never(), vec![fail(500)]).await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn waits_at_least_retry_after() {
        let hint = Duration::from_secs(3);
        let outcomes = vec![
            Err(FakeError {
                status: 429,
                retry_after: Some(hint),
            }),
            Ok(1),
        ];
        let (r, calls, slept) = run(&fast(), outcomes).await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(calls, 2);
        assert_eq!(slept.len(), 1);
        assert!(slept[0] >= hint, "{:?} < Retry-After {hint:?}", slept[0]);
    }

    #[tokio::test]
    async fn an_endpoint_that_cannot_be_reached_is_given_up_on_sooner() {
        let policy = RetryPolicy {
            max_attempts: 10,
            max_connect_attempts: 3,
            ..fast()
        };
        let refused = || FakeError {
            status: 0,
            retry_after: None,
        };
        let (r, calls, _) = run(&policy, (0..10).map(|_| Err(refused())).collect()).await;
        assert!(r.is_err());
        assert_eq!(calls, 3);
        // Server errors still get every attempt.
        let busy = || FakeError {
            status: 503,
            retry_after: None,
        };
        let (r, calls, _) = run(&policy, (0..10).map(|_| Err(busy())).collect()).await;
        assert!(r.is_err());
        assert_eq!(calls, 10);
    }

    #[tokio::test]
    async fn gives_up_when_asked_to_wait_too_long() {
        let outcomes = vec![Err(FakeError {
            status: 503,
            retry_after: Some(Duration::from_secs(3600)),
        })];
        let (r, calls, slept) = run(&fast(), outcomes).await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
        assert!(slept.is_empty());
    }

    #[tokio::test]
    async fn real_sleep_is_short_with_tiny_delays() {
        let p = RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            max_attempts: 3,
            max_connect_attempts: 3,
            max_retry_after: Duration::from_secs(1),
        };
        let calls = Mutex::new(0);
        let r: Result<(), FakeError> = with_retry(&p, "tiny", |_| {
            *calls.lock().unwrap() += 1;
            async {
                Err(FakeError {
                    status: 500,
                    retry_after: None,
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(*calls.lock().unwrap(), 3);
    }

    #[test]
    fn azure_core_adapter_follows_the_policy() {
        use azure_core::http::policies::RetryPolicy as _;
        let p = fast();
        let a = AzureCoreRetry::new(p.clone());
        let zero = azure_core::time::Duration::ZERO;
        assert!(!a.is_expired(zero, 0));
        assert!(!a.is_expired(zero, 2));
        assert!(a.is_expired(zero, 3), "4 attempts made");
        let codes: Vec<u16> = a
            .retry_status_codes()
            .iter()
            .map(|s| u16::from(*s))
            .collect();
        assert_eq!(codes, RETRYABLE_STATUSES);
        let names: Vec<&str> = a
            .retry_headers()
            .unwrap()
            .retry_headers
            .iter()
            .map(|h| h.as_str())
            .collect();
        assert_eq!(names, RETRY_AFTER_HEADERS);
        for n in 1..10 {
            let d = a.sleep_duration(n);
            assert!(d >= zero);
            assert!(d.whole_milliseconds() <= p.ceiling(n).as_millis() as i128);
        }
    }
}
