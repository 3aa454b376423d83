//! What a Batch request can end with: the service's status, code and message, a transport
//! failure named by its innermost cause, or a body that does not decode (with its JSON path).

use std::time::Duration;

use crate::azure::auth::AuthMode;
use crate::azure::auth::entra::{BATCH_SCOPE, Refusal};
use crate::azure::retry::{RetryDecision, Retryable};

/// How the refused request was authenticated, and what the service said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    pub mode: AuthMode,
    /// The error body's `AuthenticationErrorDetail`, if any.
    pub detail: String,
    /// The `WWW-Authenticate` header, if any.
    pub challenge: Option<String>,
}

impl Default for AuthContext {
    fn default() -> Self {
        AuthContext {
            mode: AuthMode::Key,
            detail: String::new(),
            challenge: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The service answered with an error status.
    #[error("{}", service_message(*.status, code, message, account, operation, auth, true))]
    Service {
        operation: String,
        account: String,
        status: u16,
        code: String,
        message: String,
        /// The service's wait hint (Retry-After and friends), for the retry loop.
        retry_after: Option<Duration>,
        auth: Box<AuthContext>,
    },
    /// No Microsoft Entra ID token could be had for the request.
    #[error("cannot authenticate to Batch account '{account}': {message}")]
    Credential { account: String, message: String },
    #[error("{}", transport_line(endpoint, Some(operation), message))]
    Transport {
        operation: String,
        endpoint: String,
        message: String,
        /// No connection could be made at all (refused, no such host).
        connect: bool,
    },
    #[error("{}", decode_line(Some(operation), path, message))]
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
    auth: &AuthContext,
    with_operation: bool,
) -> String {
    let first_line = message.lines().next().unwrap_or("").trim();
    let shared_key_refused = auth.detail.contains("SharedKey is not allowed");
    match (status, auth.mode) {
        (401 | 403, AuthMode::Key) if shared_key_refused => format!(
            "Batch account '{account}' does not allow Shared Key authentication ({status} {code}): use --auth entra (or auth = \"entra\" in the profile) and sign in with `az login` or a service principal"
        ),
        (401 | 403, AuthMode::Key) => format!(
            "Batch account '{account}' rejected the request ({status} {code}): {first_line} Check AZURE_BATCH_ACCESS_KEY (or the profile's batch_key) and the machine's clock"
        ),
        (401, AuthMode::Entra) => format!(
            "Batch account '{account}' refused the Microsoft Entra ID token ({status} {code}): {}",
            Refusal::read(&auth.detail, auth.challenge.as_deref()).advice(BATCH_SCOPE)
        ),
        (403, AuthMode::Entra) => format!(
            "the signed-in identity may not {operation} in Batch account '{account}' ({status} {code}): {first_line} Assign it a Batch data role on the account (e.g. Azure Batch Data Contributor)"
        ),
        _ if with_operation => format!("{operation}: {status} {code}: {first_line}"),
        _ => format!("{status} {code}: {first_line}"),
    }
}

fn transport_line(endpoint: &str, operation: Option<&str>, message: &str) -> String {
    let operation = operation.map(|o| format!(" ({o})")).unwrap_or_default();
    format!(
        "cannot reach the Batch service at {endpoint}{operation}: {message}; check AZURE_BATCH_ENDPOINT or --batch-endpoint and your network"
    )
}

fn decode_line(operation: Option<&str>, path: &str, message: &str) -> String {
    let operation = operation.map(|o| format!(" to {o}")).unwrap_or_default();
    format!("unexpected response{operation}: {path}: {message}")
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

    /// What went wrong, for a message that names the operation already (`reboot node n1
    /// failed: 409 NodeBeingRebooted: ...`): the error's line without its operation.
    pub fn reason(&self) -> String {
        match self {
            BatchError::Service {
                operation,
                account,
                status,
                code,
                message,
                auth,
                ..
            } => service_message(*status, code, message, account, operation, auth, false),
            BatchError::Transport {
                endpoint, message, ..
            } => transport_line(endpoint, None, message),
            BatchError::Decode { path, message, .. } => decode_line(None, path, message),
            BatchError::Credential { .. } => self.to_string(),
        }
    }

    /// What went wrong, in a few words (for a status line): `Connection refused (os error
    /// 111)`, `503 ServerBusy`.
    pub fn brief(&self) -> String {
        match self {
            BatchError::Service { status, code, .. } => format!("{status} {code}"),
            BatchError::Transport { message, .. } => message.clone(),
            BatchError::Credential { .. } => "no Microsoft Entra ID token".into(),
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
            BatchError::Decode { .. } | BatchError::Credential { .. } => RetryDecision::Fail,
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
