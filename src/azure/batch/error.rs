//! What a Batch request can end with: the service's status, code and message, a transport
//! failure named by its innermost cause, or a body that does not decode (with its JSON path).

use std::time::Duration;

use crate::azure::retry::{RetryDecision, Retryable};

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

    /// What went wrong, in a few words (for a status line): `Connection refused (os error
    /// 111)`, `503 ServerBusy`.
    pub fn brief(&self) -> String {
        match self {
            BatchError::Service { status, code, .. } => format!("{status} {code}"),
            BatchError::Transport { message, .. } => message.clone(),
            BatchError::Decode { path, .. } => format!("unexpected response at {path}"),
        }
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

/// What went wrong on the wire, without reqwest's wrapping (the endpoint is named by the
/// caller): the innermost cause, e.g. "Connection refused (os error 111)".
pub(super) fn transport_message(e: &reqwest::Error) -> String {
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
