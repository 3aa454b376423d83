//! The storage client's errors: one line each, naming the account, what was being done and
//! what to fix; service messages and transport errors scrubbed of SAS signatures. The SDK's
//! errors are mapped here ([`StorageClient::sdk_error`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use azure_core::error::ErrorKind;
use chrono::Utc;

use super::StorageClient;
use crate::azure::auth::AuthError;
use crate::azure::auth::entra::{Refusal, STORAGE_SCOPE};
use crate::azure::retry::{RetryDecision, Retryable, parse_retry_after};

/// How the client authenticates; errors use it to say what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    SharedKey,
    Sas,
    /// Microsoft Entra ID tokens.
    Entra,
}

/// Errors of the storage client. None carries a key or a SAS signature: service messages and
/// transport errors are scrubbed of `sig=` values before they are kept.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The service answered with an error status.
    #[error("{}", service_line(*status, code, message, target, *auth, refusal.as_ref()))]
    Service {
        target: Box<Target>,
        auth: AuthKind,
        /// Why a token was refused (401 to a client with Entra ID tokens).
        refusal: Option<Refusal>,
        status: u16,
        /// The service's error code (`x-ms-error-code` / `<Code>`), e.g. `BlobNotFound`.
        code: String,
        /// The first line of the service's message.
        message: String,
        /// The service's wait hint, for retryable statuses.
        retry_after: Option<Duration>,
    },
    #[error(
        "cannot reach blob storage of account '{}' at {endpoint} to {}{}: {message}; check the blob endpoint (AZURE_STORAGE_CONNECTION_STRING's BlobEndpoint or the profile) and the network",
        target.account, target.operation, target.suffix()
    )]
    Transport {
        target: Box<Target>,
        endpoint: String,
        message: String,
    },
    #[error("cannot {operation} {}: {source}", path.display())]
    File {
        operation: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "blob '{container}/{blob}' of storage account '{account}' arrived corrupted: its Content-MD5 is {expected} but the downloaded bytes hash to {actual}; download it again"
    )]
    Md5Mismatch {
        account: String,
        container: String,
        blob: String,
        expected: String,
        actual: String,
    },
    #[error(
        "blob{} of storage account '{}' arrived corrupted: the bytes from offset {offset} have CRC64 {actual} but the service sent {expected}; download it again",
        target.suffix(), target.account
    )]
    Crc64Mismatch {
        target: Box<Target>,
        offset: u64,
        expected: String,
        actual: String,
    },
    #[error(
        "blob '{container}/{blob}' of storage account '{account}' has {actual} bytes but the service announced {expected}; download it again"
    )]
    LengthMismatch {
        account: String,
        container: String,
        blob: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "{} already exists; choose another destination or allow overwriting",
        path.display()
    )]
    DestinationExists { path: PathBuf },
    #[error("{path} changed while it was being uploaded (expected {expected} bytes); upload it again", path = path.display())]
    FileChanged { path: PathBuf, expected: u64 },
    #[error("storage configuration: {0}")]
    Config(String),
    /// No Microsoft Entra ID token could be had for the request.
    #[error("cannot authenticate to storage account '{account}': {message}")]
    Credential { account: String, message: String },
    #[error(
        "{operation} needs the storage account key, but this client only has a SAS; set AZURE_STORAGE_KEY or use a connection string with AccountKey"
    )]
    NeedsAccountKey { operation: String },
    #[error(
        "unexpected answer from storage account '{}' to {}{}: {message}",
        target.account, target.operation, target.suffix()
    )]
    Unexpected {
        target: Box<Target>,
        message: String,
    },
}

/// What a failed request was about: the operation, the account and the container or blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub operation: String,
    pub account: String,
    pub container: Option<String>,
    pub blob: Option<String>,
}

impl Target {
    fn suffix(&self) -> String {
        target_suffix(self.container.as_deref(), self.blob.as_deref())
    }
}

fn target_suffix(container: Option<&str>, blob: Option<&str>) -> String {
    match (container, blob) {
        (Some(c), Some(b)) => format!(" '{c}/{b}'"),
        (Some(c), None) => format!(" '{c}'"),
        _ => String::new(),
    }
}

fn service_line(
    status: u16,
    code: &str,
    message: &str,
    target: &Target,
    auth: AuthKind,
    refusal: Option<&Refusal>,
) -> String {
    let account = target.account.as_str();
    let operation = target.operation.as_str();
    let (container, blob) = (target.container.as_deref(), target.blob.as_deref());
    let target = target_suffix(container, blob);
    let c = container.unwrap_or("");
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    // Azure answers a bad signature with AuthenticationFailed; Azurite with
    // AuthorizationFailure, but with the same "Server failed to authenticate" message.
    let signature_rejected = matches!(code, "AuthenticationFailed" | "InvalidAuthenticationInfo")
        || message.starts_with("Server failed to authenticate");
    match (status, code, auth) {
        (403, "KeyBasedAuthenticationNotPermitted", _) => format!(
            "storage account '{account}' does not allow key-based authentication ({status} {code}) to {operation}{target}: use --auth entra (or auth = \"entra\" in the profile) and sign in with `az login` or a service principal"
        ),
        (401, _, AuthKind::Entra) => format!(
            "storage account '{account}' refused the Microsoft Entra ID token ({status} {code}) to {operation}{target}: {}",
            refusal.unwrap_or(&Refusal::Other).advice(STORAGE_SCOPE)
        ),
        (403, "AuthorizationPermissionMismatch" | "AuthorizationFailure", AuthKind::Entra) => {
            format!(
                "the signed-in identity lacks a data role on storage account '{account}' to {operation}{target} ({status} {code}): assign it Storage Blob Data Contributor on the account (az role assignment create --role \"Storage Blob Data Contributor\" ...)"
            )
        }
        (401, _, AuthKind::SharedKey) | (403, _, AuthKind::SharedKey) if signature_rejected => {
            format!(
                "storage account '{account}' rejected the key ({status} {code}) to {operation}{target}: check AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING, and the machine's clock"
            )
        }
        (401 | 403, _, AuthKind::Sas) if signature_rejected => format!(
            "storage account '{account}' rejected the SAS ({status} {code}) to {operation}{target}: it is malformed, expired or signed with another key; create a new SAS URL"
        ),
        (401 | 403, _, AuthKind::Sas) => format!(
            "storage account '{account}' refused to {operation}{target} ({status} {code}): the SAS does not grant it; use a SAS with the needed permissions (or the account key)"
        ),
        (403, _, AuthKind::SharedKey) => format!(
            "storage account '{account}' refused to {operation}{target} ({status} {code}){detail}; check the account's network rules and access settings"
        ),
        (404, "ContainerNotFound", _) => format!(
            "container '{c}' does not exist in storage account '{account}' ({status} {code}): create it first or check the name"
        ),
        (404, "BlobNotFound", _) => format!(
            "blob '{}' does not exist in container '{c}' of storage account '{account}' ({status} {code}): check the name or list the container",
            blob.unwrap_or("")
        ),
        (409, "ContainerBeingDeleted", _) => format!(
            "container '{c}' of storage account '{account}' is still being deleted ({status} {code}): wait about 30 seconds and try again"
        ),
        (412, _, _) => format!(
            "blob{target} of storage account '{account}' changed during {operation} ({status} {code}): try again"
        ),
        _ => format!(
            "{operation}{target} in storage account '{account}' failed ({status} {code}){detail}"
        ),
    }
}

impl StorageError {
    /// For `map_err`: an I/O error while doing `operation` (e.g. "read") on `path`.
    pub(super) fn file(operation: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let (operation, path) = (operation.to_string(), path.to_path_buf());
        move |source| StorageError::File {
            operation,
            path,
            source,
        }
    }

    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            StorageError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The service's error code (e.g. `ContainerNotFound`), when the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            StorageError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The service's message (first line), when the service answered.
    pub fn message(&self) -> Option<&str> {
        match self {
            StorageError::Service { message, .. } => Some(message),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

impl Retryable for StorageError {
    fn retry_decision(&self) -> RetryDecision {
        match self {
            StorageError::Service {
                status,
                retry_after,
                ..
            } => RetryDecision::for_status(*status, *retry_after),
            StorageError::Transport { .. } => RetryDecision::Retry { retry_after: None },
            _ => RetryDecision::Fail,
        }
    }
}

/// Replaces the value of every `sig=` in `s` (URLs inside error messages) with `REDACTED`.
fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.to_ascii_lowercase().find("sig=") {
        let after = i + 4;
        out.push_str(&rest[..after]);
        out.push_str("REDACTED");
        let tail = &rest[after..];
        let end = tail
            .find(|c: char| {
                c == '&' || c == '#' || c == '"' || c == '\'' || c.is_whitespace() || c == ')'
            })
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The message of the innermost source of `e`.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        message = s.to_string();
        cur = s.source();
    }
    message
}

/// The message of an error and its sources, scrubbed.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        cur = s.source();
    }
    scrub(&parts.join(": "))
}

/// What a request was about, for error messages.
#[derive(Clone)]
pub(super) struct Op<'a> {
    pub(super) operation: &'a str,
    pub(super) container: Option<&'a str>,
    pub(super) blob: Option<&'a str>,
}

impl<'a> Op<'a> {
    pub(super) fn container(operation: &'a str, container: &'a str) -> Self {
        Op {
            operation,
            container: Some(container),
            blob: None,
        }
    }
    pub(super) fn blob(operation: &'a str, container: &'a str, blob: &'a str) -> Self {
        Op {
            operation,
            container: Some(container),
            blob: Some(blob),
        }
    }
}

pub(super) fn key_error(account: &str, e: AuthError) -> StorageError {
    StorageError::Config(format!(
        "the key of storage account '{account}': {e} (AZURE_STORAGE_KEY or the connection string's AccountKey)"
    ))
}

/// `<Error><Code>..</Code><Message>..</Message></Error>`: the code and message, if present.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut current: Option<String> = None;
    let mut text = String::new();
    let (mut code, mut message, mut detail) = (None, None, None);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                current = Some(e.name().as_ref().to_string());
                text.clear();
            }
            Ok(Event::Text(t)) => text.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) => text.push_str(match r.xml10_content().as_ref() {
                "amp" => "&",
                "lt" => "<",
                "gt" => ">",
                "quot" => "\"",
                "apos" => "'",
                _ => "",
            }),
            Ok(Event::End(_)) => {
                match current.as_deref() {
                    Some("Code") if code.is_none() => code = Some(text.clone()),
                    Some("Message") if message.is_none() => message = Some(text.clone()),
                    Some("AuthenticationErrorDetail") if detail.is_none() => {
                        detail = Some(text.clone())
                    }
                    _ => {}
                }
                current = None;
                text.clear();
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    (code, message, detail)
}

impl StorageClient {
    /// What `op` was about, for an error.
    pub(super) fn target(&self, op: &Op<'_>) -> Box<Target> {
        Box::new(Target {
            operation: op.operation.to_string(),
            account: self.account.clone(),
            container: op.container.map(str::to_string),
            blob: op.blob.map(str::to_string),
        })
    }

    /// Maps an SDK error to a [`StorageError`] that names what was being done.
    pub(super) fn sdk_error(&self, op: &Op<'_>, e: azure_core::Error) -> StorageError {
        let target = self.target(op);
        match e.kind() {
            ErrorKind::HttpResponse {
                status,
                error_code,
                raw_response,
            } => {
                let status = u16::from(*status);
                // Without `x-ms-error-code` the SDK puts the bare status here (it reads only
                // JSON bodies): let the XML body's `<Code>` win over that.
                let mut code = error_code
                    .clone()
                    .filter(|c| *c != status.to_string())
                    .unwrap_or_default();
                let mut message = String::new();
                let mut retry_after = None;
                let mut refusal = None;
                if let Some(raw) = raw_response {
                    let headers: Vec<(String, String)> = raw
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_str().to_string()))
                        .collect();
                    let get = |name: &str| {
                        headers
                            .iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| v.as_str())
                    };
                    if let Some(c) = get("x-ms-error-code") {
                        code = c.to_string();
                    }
                    if crate::azure::retry::is_retryable_status(status) {
                        retry_after = parse_retry_after(get, Utc::now());
                    }
                    let (body_code, body_message, detail) = parse_error_body(raw.body());
                    if status == 401 && self.auth_kind() == AuthKind::Entra {
                        refusal = Some(Refusal::read(
                            &detail.unwrap_or_default(),
                            get("www-authenticate"),
                        ));
                    }
                    if code.is_empty() {
                        code = body_code.unwrap_or_default();
                    }
                    message = body_message.unwrap_or_default();
                }
                if code.is_empty() {
                    code = azure_core::http::StatusCode::from(status)
                        .canonical_reason()
                        .replace(' ', "");
                }
                StorageError::Service {
                    target,
                    auth: self.auth_kind(),
                    refusal,
                    status,
                    code: scrub(&code),
                    message: scrub(message.lines().next().unwrap_or("").trim()),
                    retry_after,
                }
            }
            ErrorKind::Credential => StorageError::Credential {
                account: self.account.clone(),
                // The token source's own words, under the retry loop's wrapping.
                message: scrub(&innermost(&e)),
            },
            ErrorKind::Io | ErrorKind::Connection => StorageError::Transport {
                target,
                endpoint: self.endpoint.to_string(),
                message: error_chain(&e),
            },
            _ => StorageError::Unexpected {
                target,
                message: error_chain(&e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_name_the_account_and_the_fix() {
        let e = StorageError::Service {
            target: Box::new(Target {
                operation: "create container".into(),
                account: "acct".into(),
                container: Some("in".into()),
                blob: None,
            }),
            auth: AuthKind::SharedKey,
            refusal: None,
            status: 403,
            code: "AuthenticationFailed".into(),
            message: "Server failed to authenticate the request.".into(),
            retry_after: None,
        };
        let s = e.to_string();
        assert!(
            s.starts_with("storage account 'acct' rejected the key (403 AuthenticationFailed)"),
            "{s}"
        );
        assert!(s.contains("AZURE_STORAGE_KEY") && s.contains("'in'"), "{s}");
        assert!(!s.contains('\n'));
        assert_eq!(e.retry_decision(), RetryDecision::Fail);
        let nf = StorageError::Service {
            target: Box::new(Target {
                operation: "download blob".into(),
                account: "acct".into(),
                container: Some("c".into()),
                blob: Some("b.txt".into()),
            }),
            auth: AuthKind::SharedKey,
            refusal: None,
            status: 404,
            code: "BlobNotFound".into(),
            message: String::new(),
            retry_after: None,
        };
        assert!(
            nf.to_string()
                .contains("blob 'b.txt' does not exist in container 'c'")
        );
        assert!(nf.is_not_found());
        let busy = StorageError::Service {
            target: Box::new(Target {
                operation: "list blobs".into(),
                account: "acct".into(),
                container: Some("c".into()),
                blob: None,
            }),
            auth: AuthKind::SharedKey,
            refusal: None,
            status: 503,
            code: "ServerBusy".into(),
            message: "busy".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            busy.retry_decision(),
            RetryDecision::Retry {
                retry_after: Some(Duration::from_secs(2))
            }
        );
    }

    #[test]
    fn scrub_removes_signatures() {
        assert_eq!(
            scrub("error sending request for url (http://h/c/b?sv=1&sig=abc%2B&sp=r)"),
            "error sending request for url (http://h/c/b?sv=1&sig=REDACTED&sp=r)"
        );
        assert_eq!(scrub("SIG=xyz end"), "SIG=REDACTED end");
        assert_eq!(scrub("no secrets"), "no secrets");
    }

    #[test]
    fn error_bodies_parse() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.
RequestId:1
Time:2025</Message></Error>"#;
        let (code, message, _) = parse_error_body(body);
        assert_eq!(code.as_deref(), Some("BlobNotFound"));
        assert!(
            message
                .unwrap()
                .starts_with("The specified blob does not exist.")
        );
        assert_eq!(parse_error_body(b""), (None, None, None));
    }
}
