//! Blob Storage client: containers, uploads, listings, downloads and SAS URLs.
//!
//! Every request goes through Microsoft's `azure_storage_blob` 1.x crate. That crate knows only
//! Entra ID tokens, so batchdeck gives it an account-key credential: [`SharedKeyPolicy`] is an
//! `azure_core` per-try policy that stamps `x-ms-date` and signs each attempt (retries get a
//! fresh date) with [`crate::azure::auth`], the same Shared Key code the emulator verifies
//! with. A client built from a SAS URL sends no signature; the SAS rides in the query.
//!
//! Retries: the SDK's retry loop runs *our* [`RetryPolicy`] (see [`crate::azure::retry`]), so
//! every request, including the ranged requests the SDK issues for a partitioned download, is
//! retried with one backoff. A download whose body breaks off mid-way resumes from the bytes
//! already written (a ranged request locked to the blob's ETag) under the same policy.
//!
//! The endpoint is configuration: `https://<account>.blob.core.windows.net` on Azure,
//! `http://127.0.0.1:<port>/devstoreaccount1` (path style) on the emulator or Azurite.

use std::fmt;
use std::future::Future;
use std::num::NonZero;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{
    ClientOptions, Context, HttpClientOptions, Request, RequestContent, Transport, Url,
    new_http_client,
};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlockBlobClientCommitBlockListOptions, BlockBlobClientUploadOptions,
    BlockListType, BlockLookupList,
};
use azure_storage_blob::{
    BlobClient, BlobContainerClient, BlobContainerClientOptions, BlockBlobClient,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use futures::{StreamExt as _, TryStreamExt as _};
use md5::{Digest as _, Md5};

use crate::azure::auth::{
    self, AuthError, RequestParts, Service, SharedKeyCredential, http_date, sign_service_sas,
};
use crate::azure::retry::{RetryDecision, RetryPolicy, Retryable, parse_retry_after, with_retry};

/// The SAS version batchdeck signs (the one azure-storage-blob 12.31 uses; Azurite 3.37 and
/// the emulator accept it: both verify versions from 2020-12-06 on with the same layout).
pub const SAS_VERSION: &str = "2026-10-06";
/// SAS URLs batchdeck signs never live longer than this.
pub const MAX_SAS_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The storage emulators' well-known account (Azurite's; the emulator uses it too).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
/// Its well-known, public key.
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Azurite's default blob endpoint, used by `UseDevelopmentStorage=true`.
pub const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// Files uploaded at once by `upload_files` (each with its own block parallelism).
const FILES_IN_FLIGHT: usize = 4;
/// Azure's limit on the blocks of one block blob.
const MAX_BLOCKS: u64 = 50_000;
/// Largest range a download asks for at once.
const DOWNLOAD_PARTITION_MAX: u64 = 4 * 1024 * 1024;
/// Azure's limit on one block (4000 MiB).
const MAX_BLOCK_SIZE: u64 = 4000 * 1024 * 1024;

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// Errors

/// How the client authenticates; errors use it to say what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    SharedKey,
    Sas,
}

/// Errors of the storage client. None carries a key or a SAS signature: service messages and
/// transport errors are scrubbed of `sig=` values before they are kept.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The service answered with an error status.
    #[error("{}", service_line(*status, code, message, target, *auth))]
    Service {
        target: Box<Target>,
        auth: AuthKind,
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

fn service_line(status: u16, code: &str, message: &str, target: &Target, auth: AuthKind) -> String {
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
struct Op<'a> {
    operation: &'a str,
    container: Option<&'a str>,
    blob: Option<&'a str>,
}

impl<'a> Op<'a> {
    fn container(operation: &'a str, container: &'a str) -> Self {
        Op {
            operation,
            container: Some(container),
            blob: None,
        }
    }
    fn blob(operation: &'a str, container: &'a str, blob: &'a str) -> Self {
        Op {
            operation,
            container: Some(container),
            blob: Some(blob),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Public value types

/// Outcome of [`StorageClient::create_container`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerCreated {
    Created,
    AlreadyExisted,
}

/// Outcome of [`StorageClient::delete_container`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerDeleted {
    Deleted,
    NotFound,
}

/// Progress of one file's upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// A finished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedBlob {
    pub name: String,
    pub size: u64,
    /// Base64 MD5 of the content, stored as the blob's Content-MD5.
    pub md5: Option<String>,
    /// Blocks the blob was assembled from (0 for a single put).
    pub blocks: u64,
    /// Blocks already staged (or committed) by an earlier attempt, not sent again.
    pub blocks_reused: u64,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobItem {
    pub name: String,
    pub size: u64,
    /// Base64 Content-MD5, when the blob has one.
    pub content_md5: Option<String>,
}

/// A finished download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadedBlob {
    pub bytes: u64,
    /// True when the service reported the blob's Content-MD5 and the bytes matched it.
    pub md5_verified: bool,
}

/// SAS permissions, narrowest first. Letters are emitted in the service's canonical order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SasPermissions {
    pub read: bool,
    pub add: bool,
    pub create: bool,
    pub write: bool,
    pub delete: bool,
    pub list: bool,
}

impl SasPermissions {
    /// Read one blob (resource files).
    pub const READ: SasPermissions = SasPermissions {
        read: true,
        add: false,
        create: false,
        write: false,
        delete: false,
        list: false,
    };
    /// Write blobs into a container, nothing else (task output files).
    pub const WRITE: SasPermissions = SasPermissions {
        read: false,
        add: false,
        create: false,
        write: true,
        delete: false,
        list: false,
    };
    /// Read and list a container.
    pub const READ_LIST: SasPermissions = SasPermissions {
        read: true,
        add: false,
        create: false,
        write: false,
        delete: false,
        list: true,
    };

    /// The `sp` value, e.g. `rl`.
    pub fn letters(&self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.read, 'r'),
            (self.add, 'a'),
            (self.create, 'c'),
            (self.write, 'w'),
            (self.delete, 'd'),
            (self.list, 'l'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// A URL that carries a secret (a SAS). `Debug` and `Display` show it with `sig` redacted;
/// [`SecretUrl::expose`] gives the real URL, for the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    pub fn new(url: Url) -> Self {
        SecretUrl(url)
    }

    pub fn parse(s: &str) -> Result<Self> {
        Url::parse(s)
            .map(SecretUrl)
            .map_err(|e| StorageError::Config(format!("not a URL ({e}): {}", auth::redact_url(s))))
    }

    /// The real URL, signature included. Never log it.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    pub fn expose_url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretUrl")
            .field(&auth::redact_url(self.0.as_str()))
            .finish()
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&auth::redact_url(self.0.as_str()))
    }
}

/// Sizes and concurrency of transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOptions {
    /// Block size of multi-block uploads and partition size of downloads.
    pub block_size: u64,
    /// Files up to this size go up in one Put Blob.
    pub max_single_put: u64,
    /// Blocks (or download ranges) in flight at once, per file.
    pub parallel: usize,
    /// `maxresults` of each listing page (None: the service's default, 5000).
    pub list_page_size: Option<u32>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            block_size: 8 * 1024 * 1024,
            max_single_put: 8 * 1024 * 1024,
            parallel: 4,
            list_page_size: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connection strings

/// A parsed storage connection string. `Debug` never shows the key or the SAS.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    pub account: String,
    key: Option<String>,
    sas: Option<String>,
    /// The blob service URL (no trailing slash).
    pub blob_endpoint: Url,
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("account", &self.account)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("sas", &self.sas.as_ref().map(|s| auth::redact_url(s)))
            .field("blob_endpoint", &self.blob_endpoint.as_str())
            .finish()
    }
}

impl ConnectionString {
    /// Parses `Key=Value;...` as the Azure SDKs do (keys case-insensitive): `AccountName`,
    /// `AccountKey`, `BlobEndpoint`, `DefaultEndpointsProtocol`, `EndpointSuffix`,
    /// `SharedAccessSignature`, and `UseDevelopmentStorage=true` (Azurite's defaults).
    pub fn parse(s: &str) -> Result<ConnectionString> {
        let bad = |m: String| StorageError::Config(format!("connection string: {m}"));
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                let name: String = part.chars().take(24).collect();
                return Err(bad(format!(
                    "'{name}' is not Key=Value; copy the whole string from the portal (Access keys)"
                )));
            };
            pairs.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let get = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let endpoint = match get("developmentstorageproxyuri") {
                Some(proxy) => format!("{}/{DEV_ACCOUNT}", proxy.trim_end_matches('/')),
                None => DEV_BLOB_ENDPOINT.to_string(),
            };
            return Ok(ConnectionString {
                account: DEV_ACCOUNT.to_string(),
                key: Some(DEV_KEY.to_string()),
                sas: None,
                blob_endpoint: parse_endpoint(&endpoint)?,
            });
        }
        let account = get("accountname");
        let key = get("accountkey");
        let sas = get("sharedaccesssignature").map(|s| s.trim_start_matches('?').to_string());
        let blob_endpoint = match get("blobendpoint") {
            Some(e) => parse_endpoint(&e)?,
            None => {
                let Some(account) = account.as_deref() else {
                    return Err(bad(
                        "it has neither AccountName nor BlobEndpoint".to_string()
                    ));
                };
                let protocol = get("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
                if protocol != "https" && protocol != "http" {
                    return Err(bad(format!(
                        "DefaultEndpointsProtocol must be https or http, not '{protocol}'"
                    )));
                }
                let suffix =
                    get("endpointsuffix").unwrap_or_else(|| "core.windows.net".to_string());
                parse_endpoint(&format!("{protocol}://{account}.blob.{suffix}"))?
            }
        };
        let account = match account {
            Some(a) => a,
            None => account_from_endpoint(&blob_endpoint).ok_or_else(|| {
                bad("it has no AccountName and the BlobEndpoint does not name one".into())
            })?,
        };
        if key.is_none() && sas.is_none() {
            return Err(bad(format!(
                "it has no AccountKey (or SharedAccessSignature) for account '{account}'"
            )));
        }
        Ok(ConnectionString {
            account,
            key,
            sas,
            blob_endpoint,
        })
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The account-key credential, when the string carries a key.
    pub fn credential(&self) -> Option<Result<SharedKeyCredential, auth::AuthError>> {
        self.key
            .as_deref()
            .map(|k| SharedKeyCredential::new(self.account.clone(), k))
    }

    pub fn has_sas(&self) -> bool {
        self.sas.is_some()
    }
}

/// Parses and normalises a blob service URL (http or https, no query, no trailing slash).
fn parse_endpoint(s: &str) -> Result<Url> {
    let shown = auth::redact_url(s);
    let url = Url::parse(s.trim())
        .map_err(|e| StorageError::Config(format!("blob endpoint '{shown}' is not a URL: {e}")))?;
    normalize_endpoint(url)
}

fn normalize_endpoint(mut url: Url) -> Result<Url> {
    let shown = auth::redact_url(url.as_str());
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(StorageError::Config(format!(
            "blob endpoint '{shown}' must start with https:// (or http:// for a local emulator)"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(StorageError::Config(format!(
            "blob endpoint '{shown}' has no host"
        )));
    }
    if url.query().is_some() {
        return Err(StorageError::Config(format!(
            "blob endpoint '{shown}' must not carry a query; pass a SAS URL to StorageClient::from_sas_url instead"
        )));
    }
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// `acct` from `https://acct.blob.core.windows.net`, or from the first path segment of a
/// path-style URL (`http://127.0.0.1:10000/acct`).
fn account_from_endpoint(url: &Url) -> Option<String> {
    let first_segment = url
        .path_segments()
        .and_then(|mut s| s.next().map(str::to_string))
        .filter(|s| !s.is_empty());
    match url.host() {
        Some(url::Host::Domain(d)) if d.contains(".blob.") => {
            d.split('.').next().map(str::to_string)
        }
        _ => first_segment,
    }
}

// ---------------------------------------------------------------------------------------------
// The Shared Key policy

/// Signs each attempt of a request with Storage Shared Key: sets `x-ms-date` (fresh on every
/// retry), `Content-Length` of a non-empty body, and `Authorization`.
#[derive(Debug)]
pub struct SharedKeyPolicy {
    cred: SharedKeyCredential,
}

impl SharedKeyPolicy {
    pub fn new(cred: SharedKeyCredential) -> Self {
        Self { cred }
    }

    /// Adds `x-ms-date`, `content-length` and `authorization` to `request`.
    pub fn sign(&self, request: &mut Request) {
        request.insert_header("x-ms-date", http_date(Utc::now()));
        if let Some(len) = request.body().len()
            && len > 0
        {
            request.insert_header("content-length", len.to_string());
        }
        let method = request.method().to_string();
        let url = request.url().clone();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter(|(k, _)| !k.as_str().eq_ignore_ascii_case("authorization"))
            .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
            .collect();
        let parts = RequestParts {
            method: &method,
            raw_path: url.path(),
            raw_query: url.query().unwrap_or(""),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        };
        let value = self.cred.authorization(Service::Blob, &parts);
        request.insert_header("authorization", value);
    }
}

// `Policy` is declared with `#[async_trait]`; this is the signature that macro produces, written
// out so that batchdeck does not need the macro crate.
impl Policy for SharedKeyPolicy {
    fn send<'life0, 'life1, 'life2, 'life3, 'async_trait>(
        &'life0 self,
        ctx: &'life1 Context<'_>,
        request: &'life2 mut Request,
        next: &'life3 [Arc<dyn Policy>],
    ) -> Pin<Box<dyn Future<Output = PolicyResult> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.sign(request);
            match next.split_first() {
                Some((first, rest)) => first.send(ctx, request, rest).await,
                None => Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    "the signing policy must not be the last one in a pipeline",
                )),
            }
        })
    }
}

/// Bounds the wait for a response's headers on each attempt; a timeout counts as an I/O
/// error, which the retry loop retries.
#[derive(Debug)]
struct ResponseTimeoutPolicy {
    timeout: Duration,
}

impl Policy for ResponseTimeoutPolicy {
    fn send<'life0, 'life1, 'life2, 'life3, 'async_trait>(
        &'life0 self,
        ctx: &'life1 Context<'_>,
        request: &'life2 mut Request,
        next: &'life3 [Arc<dyn Policy>],
    ) -> Pin<Box<dyn Future<Output = PolicyResult> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let Some((first, rest)) = next.split_first() else {
                return Err(azure_core::Error::with_message(
                    ErrorKind::Other,
                    "the timeout policy must not be the last one in a pipeline",
                ));
            };
            match tokio::time::timeout(self.timeout, first.send(ctx, request, rest)).await {
                Ok(r) => r,
                Err(_) => Err(azure_core::Error::with_message(
                    ErrorKind::Io,
                    format!("no response within {} s", self.timeout.as_secs()),
                )),
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The client

#[derive(Clone)]
enum Credential {
    SharedKey(SharedKeyCredential),
    /// A SAS query string (without `?`), sent on every request.
    Sas(String),
}

/// A blob service client for one storage account.
#[derive(Clone)]
pub struct StorageClient {
    endpoint: Url,
    account: String,
    credential: Credential,
    /// The container a container SAS was issued for.
    sas_container: Option<String>,
    transport: Transport,
    retry: RetryPolicy,
    transfer: TransferOptions,
    response_timeout: Duration,
    sas_version: String,
    client_options: ClientOptions,
}

impl fmt::Debug for StorageClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("account", &self.account)
            .field("auth", &self.auth_kind())
            .field("sas_container", &self.sas_container)
            .finish()
    }
}

impl StorageClient {
    /// A client for the blob service at `endpoint` (e.g. `https://acct.blob.core.windows.net`
    /// or `http://127.0.0.1:PORT/devstoreaccount1`), signing with the account key.
    pub fn new(endpoint: Url, cred: SharedKeyCredential) -> Result<Self> {
        let endpoint = normalize_endpoint(endpoint)?;
        let account = cred.account().to_string();
        Ok(Self::build(
            endpoint,
            account,
            Credential::SharedKey(cred),
            None,
        ))
    }

    /// A client from a storage connection string (see [`ConnectionString::parse`]). With both
    /// an AccountKey and a SharedAccessSignature, the key is used.
    pub fn from_connection_string(s: &str) -> Result<Self> {
        let cs = ConnectionString::parse(s)?;
        match (cs.key, cs.sas) {
            (Some(key), _) => {
                let cred = SharedKeyCredential::new(cs.account.clone(), &key)
                    .map_err(|e| key_error(&cs.account, e))?;
                Self::new(cs.blob_endpoint, cred)
            }
            (None, Some(sas)) => Ok(Self::build(
                cs.blob_endpoint,
                cs.account,
                Credential::Sas(sas),
                None,
            )),
            (None, None) => Err(StorageError::Config(
                "connection string has no AccountKey".into(),
            )),
        }
    }

    /// A client that authenticates with a SAS only: a container URL carrying a container SAS
    /// (`.../container?sv=...&sr=c&sig=...`) or a service URL carrying an account SAS.
    pub fn from_sas_url(url: &SecretUrl) -> Result<Self> {
        let mut url = url.expose_url().clone();
        let query = url.query().unwrap_or("").to_string();
        let pairs = auth::decode_query(&query);
        let Some(fields) = auth::SasFields::from_query(&pairs) else {
            return Err(StorageError::Config(format!(
                "'{}' carries no SAS (no sig parameter)",
                auth::redact_url(url.as_str())
            )));
        };
        url.set_query(None);
        url.set_fragment(None);
        let mut sas_container = None;
        if !fields.is_account_sas() {
            if fields.resource != "c" {
                return Err(StorageError::Config(format!(
                    "'{}' is not a container SAS (sr={}); a client needs a container or account SAS",
                    auth::redact_url(url.as_str()),
                    fields.resource
                )));
            }
            let path = url.path().trim_end_matches('/').to_string();
            let Some((parent, container)) = path.rsplit_once('/') else {
                return Err(StorageError::Config(
                    "the SAS URL names no container".into(),
                ));
            };
            if container.is_empty() {
                return Err(StorageError::Config(
                    "the SAS URL names no container".into(),
                ));
            }
            sas_container = Some(
                percent_encoding::percent_decode_str(container)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
            url.set_path(parent);
        }
        let endpoint = normalize_endpoint(url)?;
        let account = account_from_endpoint(&endpoint)
            .unwrap_or_else(|| endpoint.host_str().unwrap_or("unknown").to_string());
        Ok(Self::build(
            endpoint,
            account,
            Credential::Sas(query),
            sas_container,
        ))
    }

    fn build(
        endpoint: Url,
        account: String,
        credential: Credential,
        sas_container: Option<String>,
    ) -> Self {
        let transport = Transport::new(new_http_client(Some(HttpClientOptions {
            // Partitioned downloads need the bytes as stored.
            automatic_decompression: false,
        })));
        let mut client = StorageClient {
            endpoint,
            account,
            credential,
            sas_container,
            transport,
            retry: RetryPolicy::default(),
            transfer: TransferOptions::default(),
            response_timeout: Duration::from_secs(120),
            sas_version: SAS_VERSION.to_string(),
            client_options: ClientOptions::default(),
        };
        client.rebuild_options();
        client
    }

    fn rebuild_options(&mut self) {
        let mut per_try: Vec<Arc<dyn Policy>> = Vec::new();
        if let Credential::SharedKey(cred) = &self.credential {
            per_try.push(Arc::new(SharedKeyPolicy::new(cred.clone())));
        }
        per_try.push(Arc::new(ResponseTimeoutPolicy {
            timeout: self.response_timeout,
        }));
        self.client_options = ClientOptions {
            per_try_policies: per_try,
            retry: self.retry.for_azure_core(),
            transport: Some(self.transport.clone()),
            ..ClientOptions::default()
        };
    }

    /// Replaces the retry policy (every request and download resumes follow it).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self.rebuild_options();
        self
    }

    /// Replaces block size, single-put limit, parallelism and listing page size.
    pub fn with_transfer_options(mut self, transfer: TransferOptions) -> Result<Self> {
        if transfer.block_size == 0 || transfer.block_size > MAX_BLOCK_SIZE {
            return Err(StorageError::Config(format!(
                "block size {} is out of range (1 byte to 4000 MiB)",
                transfer.block_size
            )));
        }
        if transfer.parallel == 0 {
            return Err(StorageError::Config(
                "parallel transfers must be at least 1".into(),
            ));
        }
        self.transfer = transfer;
        Ok(self)
    }

    /// How long each attempt may wait for a response's headers (default 120 s).
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self.rebuild_options();
        self
    }

    /// The SAS version [`Self::blob_sas_url`] and [`Self::container_sas_url`] sign.
    pub fn with_sas_version(mut self, version: impl Into<String>) -> Self {
        self.sas_version = version.into();
        self
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn auth_kind(&self) -> AuthKind {
        match self.credential {
            Credential::SharedKey(_) => AuthKind::SharedKey,
            Credential::Sas(_) => AuthKind::Sas,
        }
    }

    /// The container of a container-SAS client.
    pub fn sas_container(&self) -> Option<&str> {
        self.sas_container.as_deref()
    }

    pub fn transfer_options(&self) -> &TransferOptions {
        &self.transfer
    }

    // ----- URL and SDK client construction

    fn container_url(&self, container: &str) -> Result<Url> {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .map_err(|_| {
                StorageError::Config(format!(
                    "blob endpoint '{}' cannot take a path",
                    self.endpoint
                ))
            })?
            .pop_if_empty()
            .push(container);
        Ok(url)
    }

    fn blob_url(&self, container: &str, blob: &str) -> Result<Url> {
        let mut url = self.container_url(container)?;
        url.path_segments_mut()
            .map_err(|_| StorageError::Config("blob URL cannot take a path".into()))?
            .push(blob);
        Ok(url)
    }

    fn container_client(&self, container: &str, op: &Op<'_>) -> Result<BlobContainerClient> {
        let mut url = self.container_url(container)?;
        if let Credential::Sas(q) = &self.credential {
            url.set_query(Some(q));
        }
        let options = BlobContainerClientOptions {
            client_options: self.client_options.clone(),
            ..Default::default()
        };
        BlobContainerClient::new(url, None, Some(options)).map_err(|e| self.sdk_error(op, e))
    }

    fn blob_client(&self, container: &str, blob: &str, op: &Op<'_>) -> Result<BlobClient> {
        Ok(self.container_client(container, op)?.blob_client(blob))
    }

    fn block_blob_client(
        &self,
        container: &str,
        blob: &str,
        op: &Op<'_>,
    ) -> Result<BlockBlobClient> {
        Ok(self.blob_client(container, blob, op)?.block_blob_client())
    }

    /// Maps an SDK error to a [`StorageError`] that names what was being done.
    fn sdk_error(&self, op: &Op<'_>, e: azure_core::Error) -> StorageError {
        let target = Box::new(Target {
            operation: op.operation.to_string(),
            account: self.account.clone(),
            container: op.container.map(str::to_string),
            blob: op.blob.map(str::to_string),
        });
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
                    let (body_code, body_message) = parse_error_body(raw.body());
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
                    status,
                    code: scrub(&code),
                    message: scrub(message.lines().next().unwrap_or("").trim()),
                    retry_after,
                }
            }
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

    // ----- containers

    /// Creates `container`; an existing one is not an error.
    pub async fn create_container(&self, container: &str) -> Result<ContainerCreated> {
        let op = Op::container("create container", container);
        let cc = self.container_client(container, &op)?;
        match cc.create(None).await {
            Ok(_) => Ok(ContainerCreated::Created),
            Err(e) => match self.sdk_error(&op, e) {
                err if err.code() == Some("ContainerAlreadyExists") => {
                    Ok(ContainerCreated::AlreadyExisted)
                }
                err => Err(err),
            },
        }
    }

    /// Deletes `container` and everything in it; a missing one is not an error.
    pub async fn delete_container(&self, container: &str) -> Result<ContainerDeleted> {
        let op = Op::container("delete container", container);
        let cc = self.container_client(container, &op)?;
        match cc.delete(None).await {
            Ok(_) => Ok(ContainerDeleted::Deleted),
            Err(e) => match self.sdk_error(&op, e) {
                err if err.code() == Some("ContainerNotFound") => Ok(ContainerDeleted::NotFound),
                err => Err(err),
            },
        }
    }

    pub async fn container_exists(&self, container: &str) -> Result<bool> {
        let op = Op::container("check container", container);
        let cc = self.container_client(container, &op)?;
        match cc.get_properties(None).await {
            Ok(_) => Ok(true),
            Err(e) => match self.sdk_error(&op, e) {
                err if err.status() == Some(404) => Ok(false),
                err => Err(err),
            },
        }
    }

    // ----- listing

    /// Every blob in `container` whose name starts with `prefix`, following `NextMarker`.
    pub async fn list_blobs(&self, container: &str, prefix: Option<&str>) -> Result<Vec<BlobItem>> {
        let op = Op::container("list blobs", container);
        let cc = self.container_client(container, &op)?;
        let options = azure_storage_blob::models::BlobContainerClientListBlobsOptions {
            prefix: prefix.filter(|p| !p.is_empty()).map(str::to_string),
            maxresults: self
                .transfer
                .list_page_size
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        let mut pages = cc
            .list_blobs(Some(options))
            .map_err(|e| self.sdk_error(&op, e))?
            .into_pages();
        let mut out = Vec::new();
        while let Some(page) = pages.try_next().await.map_err(|e| self.sdk_error(&op, e))? {
            let page = page.into_model().map_err(|e| self.sdk_error(&op, e))?;
            for item in page.blob_items {
                let Some(name) = item.name else { continue };
                let props = item.properties.unwrap_or_default();
                out.push(BlobItem {
                    name,
                    size: props.content_length.unwrap_or(0),
                    content_md5: props.content_md5.map(|m| B64.encode(m)),
                });
            }
        }
        Ok(out)
    }

    // ----- upload

    /// Uploads several files (`(blob name, path)`) into `container`, a few at once, each as
    /// [`StorageClient::upload_file`] does; `progress` hears each file's progress by blob name,
    /// and `done` each finished upload, as it finishes. Stops at the first failure.
    pub async fn upload_files<P, D>(
        &self,
        container: &str,
        files: &[(String, PathBuf)],
        progress: P,
        mut done: D,
    ) -> Result<Vec<UploadedBlob>>
    where
        P: Fn(&str, UploadProgress) + Send + Sync,
        D: FnMut(&UploadedBlob),
    {
        use futures::StreamExt as _;
        let progress = &progress;
        let mut uploads = futures::stream::iter(files.iter().map(|(name, path)| async move {
            self.upload_file(container, name, path, move |p| progress(name, p))
                .await
        }))
        .buffer_unordered(FILES_IN_FLIGHT);
        let mut out = Vec::with_capacity(files.len());
        while let Some(r) = uploads.next().await {
            let u = r?;
            done(&u);
            out.push(u);
        }
        Ok(out)
    }

    /// Uploads the file at `path` as block blob `container/blob_name`, calling `progress`
    /// as bytes reach the service. Small files go up in one request; larger ones in blocks of
    /// `block_size`, `parallel` at a time, read from disk block by block (memory stays near
    /// `parallel × block_size`). Block ids are derived from the block index and the file's
    /// size and modification time, so a second attempt after a failure skips the blocks the
    /// service already holds. The blob's Content-MD5 is set from the file's bytes.
    pub async fn upload_file<P>(
        &self,
        container: &str,
        blob_name: &str,
        path: &Path,
        progress: P,
    ) -> Result<UploadedBlob>
    where
        P: Fn(UploadProgress) + Send + Sync,
    {
        let op = Op::blob("upload blob", container, blob_name);
        let file_err = |operation: &str| {
            let path = path.to_path_buf();
            let operation = operation.to_string();
            move |source| StorageError::File {
                operation,
                path,
                source,
            }
        };
        let meta = tokio::fs::metadata(path).await.map_err(file_err("read"))?;
        if !meta.is_file() {
            return Err(StorageError::File {
                operation: "upload".into(),
                path: path.to_path_buf(),
                source: std::io::Error::other("not a regular file"),
            });
        }
        let size = meta.len();
        progress(UploadProgress {
            bytes_done: 0,
            bytes_total: size,
        });
        let client = self.block_blob_client(container, blob_name, &op)?;

        if size <= self.transfer.max_single_put {
            let data = tokio::fs::read(path).await.map_err(file_err("read"))?;
            if data.len() as u64 != size {
                return Err(StorageError::FileChanged {
                    path: path.to_path_buf(),
                    expected: size,
                });
            }
            // One Put Blob: the service computes the blob's Content-MD5 from what it received
            // (as Azure does for Put Blob), so this side does not hash it a second time.
            let options = BlockBlobClientUploadOptions {
                partition_size: NonZero::new(size.max(1)),
                ..Default::default()
            };
            let content: RequestContent<azure_core::Bytes, azure_core::http::NoFormat> =
                azure_core::Bytes::from(data).into();
            let put = client
                .upload(content, Some(options))
                .await
                .map_err(|e| self.sdk_error(&op, e))?;
            progress(UploadProgress {
                bytes_done: size,
                bytes_total: size,
            });
            return Ok(UploadedBlob {
                name: blob_name.to_string(),
                size,
                md5: put.content_md5.map(|m| B64.encode(m)),
                blocks: 0,
                blocks_reused: 0,
            });
        }

        let block_size = self.transfer.block_size;
        let n_blocks = size.div_ceil(block_size);
        if n_blocks > MAX_BLOCKS {
            return Err(StorageError::Config(format!(
                "{} needs {n_blocks} blocks of {block_size} bytes, over Azure's {MAX_BLOCKS}; use a larger block size",
                path.display()
            )));
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let ids = BlockIds::new(block_size, size, mtime);
        let existing = self.existing_blocks(&client, &op).await?;

        let file = std::fs::File::open(path).map_err(file_err("open"))?;
        let reader = Arc::new(std::sync::Mutex::new(BlockReader::new(file)));
        let path_buf = path.to_path_buf();
        let reads = futures::stream::iter(0..n_blocks).then(|index| {
            let reader = reader.clone();
            let path_buf = path_buf.clone();
            async move {
                let len = block_size.min(size - index * block_size);
                let joined = tokio::task::spawn_blocking(move || {
                    reader
                        .lock()
                        .map_err(|_| std::io::Error::other("block reader poisoned"))?
                        .read_block(len)
                })
                .await
                .map_err(|e| StorageError::File {
                    operation: "read".into(),
                    path: path_buf.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
                match joined {
                    Ok(data) => Ok((index, data)),
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        Err(StorageError::FileChanged {
                            path: path_buf,
                            expected: size,
                        })
                    }
                    Err(source) => Err(StorageError::File {
                        operation: "read".into(),
                        path: path_buf,
                        source,
                    }),
                }
            }
        });
        let ids_ref = &ids;
        let existing_ref = &existing;
        let client_ref = &client;
        let op_ref = &op;
        let reader_ref = &reader;
        let give_back = |data| {
            if let Ok(mut r) = reader_ref.lock() {
                r.give_back(data);
            }
        };
        let staged = reads
            .map(|read| async move {
                let (index, data) = read?;
                let id = ids_ref.id(index);
                let len = data.len() as u64;
                if existing_ref
                    .iter()
                    .any(|(eid, esize)| *eid == id && *esize == len)
                {
                    give_back(data);
                    return Ok::<_, StorageError>((len, true));
                }
                // No per-block MD5: hashing each block again would cost a third of the
                // upload's CPU. The bytes travel over TCP (TLS on Azure), and the blob's
                // Content-MD5, from the whole file, is checked on every download.
                client_ref
                    .stage_block(&id, len, data.clone().into(), None)
                    .await
                    .map_err(|e| self.sdk_error(op_ref, e))?;
                give_back(data);
                Ok((len, false))
            })
            .buffer_unordered(self.transfer.parallel);
        let mut staged = std::pin::pin!(staged);
        let mut done = 0u64;
        let mut reused = 0u64;
        while let Some(r) = staged.next().await {
            let (len, was_there) = r?;
            done += len;
            reused += u64::from(was_there);
            progress(UploadProgress {
                bytes_done: done,
                bytes_total: size,
            });
        }

        let whole = {
            let r = reader
                .lock()
                .map_err(|_| StorageError::Config("block reader poisoned".into()))?;
            r.whole.clone().finalize().to_vec()
        };
        let list = BlockLookupList {
            latest: Some((0..n_blocks).map(|i| ids.id(i)).collect()),
            ..Default::default()
        };
        let body = list.try_into().map_err(|e| self.sdk_error(&op, e))?;
        let options = BlockBlobClientCommitBlockListOptions {
            blob_content_md5: Some(whole.clone()),
            ..Default::default()
        };
        client
            .commit_block_list(body, Some(options))
            .await
            .map_err(|e| self.sdk_error(&op, e))?;
        Ok(UploadedBlob {
            name: blob_name.to_string(),
            size,
            md5: Some(B64.encode(whole)),
            blocks: n_blocks,
            blocks_reused: reused,
        })
    }

    /// Ids and sizes of the blocks the service holds for a blob (committed and uncommitted).
    /// A missing blob has none; a SAS that may not read the block list means "unknown", and
    /// every block is sent.
    async fn existing_blocks(
        &self,
        client: &BlockBlobClient,
        op: &Op<'_>,
    ) -> Result<Vec<(Vec<u8>, u64)>> {
        let list = match client.get_block_list(BlockListType::All, None).await {
            Ok(r) => r.into_model().map_err(|e| self.sdk_error(op, e))?,
            Err(e) => {
                let err = self.sdk_error(op, e);
                return match err.status() {
                    Some(404) => Ok(Vec::new()),
                    Some(403) if self.auth_kind() == AuthKind::Sas => Ok(Vec::new()),
                    _ => Err(err),
                };
            }
        };
        let mut out = Vec::new();
        for block in list
            .uncommitted_blocks
            .into_iter()
            .flatten()
            .chain(list.committed_blocks.into_iter().flatten())
        {
            if let (Some(name), Some(size)) = (block.name, block.size) {
                out.push((name, u64::try_from(size).unwrap_or(0)));
            }
        }
        Ok(out)
    }

    // ----- download

    /// Downloads `container/blob` to `dest`: into a temporary file in `dest`'s directory,
    /// checked against the blob's Content-MD5 when the service reports one, fsynced, then
    /// renamed into place. On any error no file is left behind. A body that breaks off is
    /// resumed from where it stopped (locked to the blob's ETag).
    pub async fn download_to_file(
        &self,
        container: &str,
        blob: &str,
        dest: &Path,
        overwrite: bool,
    ) -> Result<DownloadedBlob> {
        let op = Op::blob("download blob", container, blob);
        if !overwrite && tokio::fs::try_exists(dest).await.unwrap_or(false) {
            return Err(StorageError::DestinationExists {
                path: dest.to_path_buf(),
            });
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_err = |operation: &str, path: &Path| {
            let path = path.to_path_buf();
            let operation = operation.to_string();
            move |source| StorageError::File {
                operation,
                path,
                source,
            }
        };
        let dir_for_tmp = dir.clone();
        let (tmp_path, file) =
            tokio::task::spawn_blocking(move || crate::util::tempfile_in(&dir_for_tmp))
                .await
                .map_err(|e| StorageError::File {
                    operation: "create a temporary file in".into(),
                    path: dir.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?
                .map_err(file_err("create a temporary file in", &dir))?;
        let guard = TempFileGuard(Some(tmp_path.clone()));
        let client = self.blob_client(container, blob, &op)?;

        let state = tokio::sync::Mutex::new(DownloadState {
            file: tokio::fs::File::from_std(file),
            offset: 0,
            hasher: Md5::new(),
            etag: None,
            expected_md5: None,
            total: None,
        });
        let outcome = with_retry(&self.retry, "download blob", |_attempt| {
            let state = &state;
            let client = &client;
            let op = &op;
            let tmp_path = &tmp_path;
            async move {
                let mut st = state.lock().await;
                self.download_attempt(client, op, &mut st, tmp_path).await
            }
        })
        .await;
        if let Err(e) = outcome {
            return Err(e.into_inner());
        }
        let st = state.into_inner();
        let mut file = st.file;
        use tokio::io::AsyncWriteExt as _;
        file.flush().await.map_err(file_err("write", &tmp_path))?;
        file.sync_all()
            .await
            .map_err(file_err("write", &tmp_path))?;
        drop(file);
        if let Some(total) = st.total
            && total != st.offset
        {
            return Err(StorageError::LengthMismatch {
                account: self.account.clone(),
                container: container.to_string(),
                blob: blob.to_string(),
                expected: total,
                actual: st.offset,
            });
        }
        let actual = st.hasher.finalize().to_vec();
        let md5_verified = match &st.expected_md5 {
            Some(expected) if *expected != actual => {
                return Err(StorageError::Md5Mismatch {
                    account: self.account.clone(),
                    container: container.to_string(),
                    blob: blob.to_string(),
                    expected: B64.encode(expected),
                    actual: B64.encode(&actual),
                });
            }
            Some(_) => true,
            None => false,
        };
        let dest_buf = dest.to_path_buf();
        let tmp_for_move = tmp_path.clone();
        tokio::task::spawn_blocking(move || place_file(&tmp_for_move, &dest_buf, overwrite))
            .await
            .map_err(|e| StorageError::File {
                operation: "move the download to".into(),
                path: dest.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })??;
        guard.disarm();
        let _ = crate::util::sync_dir(&dir);
        Ok(DownloadedBlob {
            bytes: st.offset,
            md5_verified,
        })
    }

    /// One request (and its body) of a download, from `st.offset` on.
    async fn download_attempt(
        &self,
        client: &BlobClient,
        op: &Op<'_>,
        st: &mut DownloadState,
        tmp_path: &Path,
    ) -> Result<(), Attempt> {
        use tokio::io::AsyncWriteExt as _;
        let first = st.etag.is_none() && st.offset == 0;
        // The SDK buffers up to 2 × parallel partitions: keep them at 4 MiB at most.
        let partition = self.transfer.block_size.min(DOWNLOAD_PARTITION_MAX);
        let partition = usize::try_from(partition).unwrap_or(usize::MAX);
        let options = BlobClientDownloadOptions {
            range: (!first).then(|| (st.offset..).into()),
            if_match: st.etag.clone(),
            parallel: NonZero::new(self.transfer.parallel),
            partition_size: NonZero::new(partition),
            ..Default::default()
        };
        // The request itself was already retried by the pipeline: do not retry it again.
        let response = client
            .download(Some(options))
            .await
            .map_err(|e| Attempt::Final(self.sdk_error(op, e)))?;
        if first {
            let props = &response.properties;
            st.etag = props.etag.clone();
            // A ranged answer's Content-MD5 covers the range only; the blob's own MD5 is
            // x-ms-blob-content-md5. A whole-blob answer (no Content-Range) carries it as
            // Content-MD5.
            let ranged = total_length(&response.headers);
            st.expected_md5 = props.blob_content_md5.clone().or_else(|| {
                if ranged.is_none() {
                    props.content_md5.clone()
                } else {
                    None
                }
            });
            st.total = ranged.or(props.content_length);
        }
        let mut body = response.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                // A body that broke off: resume from what was written.
                Attempt::Resumable(self.sdk_error(op, e))
            })?;
            st.file.write_all(&chunk).await.map_err(|source| {
                Attempt::Final(StorageError::File {
                    operation: "write".into(),
                    path: tmp_path.to_path_buf(),
                    source,
                })
            })?;
            st.hasher.update(&chunk);
            st.offset += chunk.len() as u64;
        }
        Ok(())
    }

    // ----- SAS

    /// A URL granting `perms` on one blob for `ttl` (at most [`MAX_SAS_TTL`]), signed with
    /// the account key.
    pub fn blob_sas_url(
        &self,
        container: &str,
        blob: &str,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        let url = self.blob_url(container, blob)?;
        self.sign_sas(url, container, Some(blob), perms, ttl)
    }

    /// A URL granting `perms` on a container for `ttl` (at most [`MAX_SAS_TTL`]).
    pub fn container_sas_url(
        &self,
        container: &str,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        let url = self.container_url(container)?;
        self.sign_sas(url, container, None, perms, ttl)
    }

    fn sign_sas(
        &self,
        mut url: Url,
        container: &str,
        blob: Option<&str>,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        let Credential::SharedKey(cred) = &self.credential else {
            return Err(StorageError::NeedsAccountKey {
                operation: "signing a SAS URL".into(),
            });
        };
        let letters = perms.letters();
        if letters.is_empty() {
            return Err(StorageError::Config(
                "a SAS needs at least one permission".into(),
            ));
        }
        if ttl.is_zero() || ttl > MAX_SAS_TTL {
            return Err(StorageError::Config(format!(
                "SAS lifetime {} s is out of range (1 s to {} s)",
                ttl.as_secs(),
                MAX_SAS_TTL.as_secs()
            )));
        }
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|_| StorageError::Config("SAS lifetime too large".into()))?;
        let expiry = Utc::now() + ttl;
        let fields = sign_service_sas(
            cred,
            container,
            blob,
            &letters,
            None,
            expiry,
            &self.sas_version,
        );
        url.set_query(Some(&fields.to_query()));
        Ok(SecretUrl(url))
    }
}

fn key_error(account: &str, e: AuthError) -> StorageError {
    StorageError::Config(format!(
        "the key of storage account '{account}': {e} (AZURE_STORAGE_KEY or the connection string's AccountKey)"
    ))
}

/// `total` of a `Content-Range: bytes a-b/total` header.
fn total_length(headers: &azure_core::http::headers::Headers) -> Option<u64> {
    headers
        .iter()
        .find(|(k, _)| k.as_str().eq_ignore_ascii_case("content-range"))
        .and_then(|(_, v)| {
            v.as_str()
                .rsplit_once('/')
                .map(|(_, t)| t.trim().to_string())
        })
        .and_then(|t| t.parse().ok())
}

/// `<Error><Code>..</Code><Message>..</Message></Error>`: the code and message, if present.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut current: Option<String> = None;
    let mut text = String::new();
    let (mut code, mut message) = (None, None);
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
                    _ => {}
                }
                current = None;
                text.clear();
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    (code, message)
}

/// Deterministic block ids: `bd1-<block size>-<file size>-<mtime>-<index>`, all fields fixed
/// width so every id of a blob has the same length (as the service requires).
struct BlockIds {
    prefix: String,
}

impl BlockIds {
    fn new(block_size: u64, file_size: u64, mtime_secs: u64) -> Self {
        BlockIds {
            prefix: format!("bd1-{block_size:010x}-{file_size:012x}-{mtime_secs:010x}"),
        }
    }

    fn id(&self, index: u64) -> Vec<u8> {
        format!("{}-{index:06}", self.prefix).into_bytes()
    }
}

/// Reads a file block by block, in order, feeding the whole file's hash. Block buffers that
/// come back from the service calls are read into again: a fresh block-sized allocation per
/// block lets glibc's allocator raise its mmap threshold and scatter the blocks over its
/// arenas, so that resident memory grew with the file's size instead of staying near
/// `parallel × block_size`.
struct BlockReader {
    file: std::fs::File,
    whole: Md5,
    spare: Vec<bytes::BytesMut>,
}

impl BlockReader {
    fn new(file: std::fs::File) -> Self {
        BlockReader {
            file,
            whole: Md5::new(),
            spare: Vec::new(),
        }
    }

    /// The next `len` bytes of the file, added to the whole file's hash.
    fn read_block(&mut self, len: u64) -> std::io::Result<azure_core::Bytes> {
        use std::io::Read as _;
        let len = usize::try_from(len).map_err(|_| std::io::Error::other("block too large"))?;
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        self.file.read_exact(&mut buf)?;
        self.whole.update(&buf);
        Ok(buf.freeze())
    }

    /// Takes back a block's buffer once nothing else holds it.
    fn give_back(&mut self, block: azure_core::Bytes) {
        if let Ok(buf) = block.try_into_mut() {
            self.spare.push(buf);
        }
    }
}

struct DownloadState {
    file: tokio::fs::File,
    offset: u64,
    hasher: Md5,
    etag: Option<azure_core::http::Etag>,
    expected_md5: Option<Vec<u8>>,
    total: Option<u64>,
}

/// A download attempt's error: `Final` errors were already retried (or cannot be).
#[derive(Debug)]
enum Attempt {
    Final(StorageError),
    Resumable(StorageError),
}

impl Attempt {
    fn into_inner(self) -> StorageError {
        match self {
            Attempt::Final(e) | Attempt::Resumable(e) => e,
        }
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Final(e) | Attempt::Resumable(e) => e.fmt(f),
        }
    }
}

impl Retryable for Attempt {
    fn retry_decision(&self) -> RetryDecision {
        match self {
            Attempt::Final(_) => RetryDecision::Fail,
            Attempt::Resumable(e) => e.retry_decision(),
        }
    }
}

impl From<StorageError> for Attempt {
    fn from(e: StorageError) -> Self {
        Attempt::Final(e)
    }
}

/// Removes a temporary file on drop (errors, cancellation) unless disarmed.
struct TempFileGuard(Option<PathBuf>);

impl TempFileGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempFileGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Moves `tmp` to `dest`; without `overwrite`, fails if `dest` exists (atomically where the
/// file system supports hard links).
fn place_file(tmp: &Path, dest: &Path, overwrite: bool) -> Result<()> {
    let io_err = |source| StorageError::File {
        operation: "move the download to".into(),
        path: dest.to_path_buf(),
        source,
    };
    if overwrite {
        return std::fs::rename(tmp, dest).map_err(io_err);
    }
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StorageError::DestinationExists {
                path: dest.to_path_buf(),
            })
        }
        Err(_) => {
            if dest.exists() {
                return Err(StorageError::DestinationExists {
                    path: dest.to_path_buf(),
                });
            }
            std::fs::rename(tmp, dest).map_err(io_err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_with_key_and_defaults() {
        let cs = ConnectionString::parse(
            "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=a2V5a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(cs.account, "myacct");
        assert_eq!(
            cs.blob_endpoint.as_str(),
            "https://myacct.blob.core.windows.net/"
        );
        assert!(cs.has_key() && !cs.has_sas());
        // Other clouds and http.
        let cs = ConnectionString::parse(
            "accountname=a1;accountkey=a2V5;defaultendpointsprotocol=http;endpointsuffix=core.chinacloudapi.cn;",
        )
        .unwrap();
        assert_eq!(
            cs.blob_endpoint.as_str(),
            "http://a1.blob.core.chinacloudapi.cn/"
        );
    }

    #[test]
    fn connection_string_with_blob_endpoint() {
        let cs = ConnectionString::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(
            cs.blob_endpoint.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        // The key may end with '=' padding, which must stay part of the value.
        let cs = ConnectionString::parse(&format!(
            "AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:1/devstoreaccount1"
        ))
        .unwrap();
        assert_eq!(cs.key.as_deref(), Some(DEV_KEY));
        // An account SAS without a key; the account comes from the endpoint.
        let cs = ConnectionString::parse(
            "BlobEndpoint=https://acct9.blob.core.windows.net;SharedAccessSignature=?sv=2026-10-06&ss=b&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&sig=SECRETSIG",
        )
        .unwrap();
        assert_eq!(cs.account, "acct9");
        assert!(!cs.has_key() && cs.has_sas());
        assert!(!format!("{cs:?}").contains("SECRETSIG"));
    }

    #[test]
    fn connection_string_development_storage() {
        let cs = ConnectionString::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(cs.account, DEV_ACCOUNT);
        assert_eq!(cs.blob_endpoint.as_str(), DEV_BLOB_ENDPOINT);
        assert_eq!(cs.key.as_deref(), Some(DEV_KEY));
        let client = StorageClient::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(client.account(), DEV_ACCOUNT);
        assert_eq!(client.auth_kind(), AuthKind::SharedKey);
        assert!(!format!("{client:?}").contains(DEV_KEY));
    }

    #[test]
    fn connection_string_errors_name_the_problem_without_the_key() {
        let e = ConnectionString::parse("AccountName=acct")
            .unwrap_err()
            .to_string();
        assert!(e.contains("AccountKey") && e.contains("acct"), "{e}");
        let e = ConnectionString::parse("AccountKey=c2VjcmV0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("AccountName"), "{e}");
        assert!(!e.contains("c2VjcmV0"), "{e}");
        let e = ConnectionString::parse("garbage-without-equals")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Key=Value"), "{e}");
        let e = ConnectionString::parse("AccountName=a;AccountKey=k;DefaultEndpointsProtocol=ftp")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ftp"), "{e}");
        let e = StorageClient::from_connection_string("AccountName=a;AccountKey=not base64!")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AZURE_STORAGE_KEY") && !e.contains("not base64"),
            "{e}"
        );
    }

    #[test]
    fn secret_url_redacts_signature() {
        let u = SecretUrl::parse(
            "https://a.blob.core.windows.net/c/b?sv=2026-10-06&sr=b&sp=r&sig=TOPSECRET%2Bx%3D",
        )
        .unwrap();
        assert!(!format!("{u}").contains("TOPSECRET"));
        assert!(!format!("{u:?}").contains("TOPSECRET"));
        assert!(format!("{u}").contains("sig=REDACTED"));
        assert!(u.expose().contains("sig=TOPSECRET%2Bx%3D"));
    }

    #[test]
    fn sas_urls_are_narrow_bounded_and_signed() {
        let cred = SharedKeyCredential::new(DEV_ACCOUNT, DEV_KEY).unwrap();
        let client = StorageClient::new(
            Url::parse("http://127.0.0.1:9/devstoreaccount1").unwrap(),
            cred.clone(),
        )
        .unwrap();
        let url = client
            .blob_sas_url(
                "in",
                "dir/a b.txt",
                SasPermissions::READ,
                Duration::from_secs(600),
            )
            .unwrap();
        let u = url.expose_url();
        assert_eq!(u.path(), "/devstoreaccount1/in/dir%2Fa%20b.txt");
        let fields = auth::SasFields::from_query(&auth::decode_query(u.query().unwrap())).unwrap();
        assert_eq!(fields.permissions, "r");
        assert_eq!(fields.resource, "b");
        assert_eq!(fields.version, SAS_VERSION);
        let expiry = auth::parse_sas_time(&fields.expiry).unwrap();
        let left = expiry - Utc::now();
        assert!(left <= chrono::Duration::seconds(601) && left >= chrono::Duration::seconds(590));
        let sts = fields.service_string_to_sign("/blob/devstoreaccount1/in/dir/a b.txt");
        assert_eq!(cred.sign(&sts), fields.signature);
        assert!(!format!("{url}").contains(&fields.signature));

        let c = client
            .container_sas_url("out", SasPermissions::WRITE, Duration::from_secs(60))
            .unwrap();
        let f = auth::SasFields::from_query(&auth::decode_query(c.expose_url().query().unwrap()))
            .unwrap();
        assert_eq!((f.permissions.as_str(), f.resource.as_str()), ("w", "c"));
        assert!(
            client
                .container_sas_url(
                    "out",
                    SasPermissions::WRITE,
                    MAX_SAS_TTL + Duration::from_secs(1)
                )
                .is_err()
        );
        assert!(
            client
                .container_sas_url("out", SasPermissions::default(), Duration::from_secs(1))
                .is_err()
        );
        assert_eq!(
            SasPermissions {
                list: true,
                write: true,
                read: true,
                create: true,
                ..Default::default()
            }
            .letters(),
            "rcwl"
        );
    }

    #[test]
    fn sas_client_from_container_url() {
        let url = SecretUrl::parse(
            "http://127.0.0.1:9/devstoreaccount1/outputs?sv=2026-10-06&sr=c&sp=w&se=2030-01-01T00%3A00%3A00Z&sig=abc",
        )
        .unwrap();
        let c = StorageClient::from_sas_url(&url).unwrap();
        assert_eq!(c.endpoint().as_str(), "http://127.0.0.1:9/devstoreaccount1");
        assert_eq!(c.sas_container(), Some("outputs"));
        assert_eq!(c.account(), "devstoreaccount1");
        assert_eq!(c.auth_kind(), AuthKind::Sas);
        assert!(!format!("{c:?}").contains("sig=abc"));
        let e = c
            .blob_sas_url("outputs", "x", SasPermissions::READ, Duration::from_secs(5))
            .unwrap_err();
        assert!(matches!(e, StorageError::NeedsAccountKey { .. }));
        let no_sig = SecretUrl::parse("http://127.0.0.1:9/devstoreaccount1/outputs?sv=1").unwrap();
        assert!(StorageClient::from_sas_url(&no_sig).is_err());
        let azure = SecretUrl::parse(
            "https://acct.blob.core.windows.net/c1?sv=2026-10-06&sr=c&sp=r&se=2030-01-01T00%3A00%3A00Z&sig=abc",
        )
        .unwrap();
        assert_eq!(
            StorageClient::from_sas_url(&azure).unwrap().account(),
            "acct"
        );
    }

    #[test]
    fn endpoints_are_validated() {
        let cred = SharedKeyCredential::new("a", "a2V5").unwrap();
        for bad in ["ftp://x/", "https://a.blob.core.windows.net/?sig=x"] {
            let e = StorageClient::new(Url::parse(bad).unwrap(), cred.clone()).unwrap_err();
            assert!(!e.to_string().contains("sig=x"), "{e}");
        }
        let c = StorageClient::new(
            Url::parse("https://a.blob.core.windows.net/").unwrap(),
            cred,
        )
        .unwrap();
        assert_eq!(
            c.container_url("c1").unwrap().as_str(),
            "https://a.blob.core.windows.net/c1"
        );
    }

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
        let (code, message) = parse_error_body(body);
        assert_eq!(code.as_deref(), Some("BlobNotFound"));
        assert!(
            message
                .unwrap()
                .starts_with("The specified blob does not exist.")
        );
        assert_eq!(parse_error_body(b""), (None, None));
    }

    #[test]
    fn block_buffers_are_read_into_again_once_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut r = BlockReader::new(std::fs::File::open(&path).unwrap());
        let first = r.read_block(4000).unwrap();
        let at = first.as_ptr();
        let held = first.clone();
        r.give_back(first);
        assert!(
            r.spare.is_empty(),
            "a buffer still held elsewhere is not reused"
        );
        r.give_back(held);
        let second = r.read_block(4000).unwrap();
        assert_eq!(second.as_ptr(), at, "the given-back buffer is read into");
        assert_eq!(&second[..], &data[4000..8000]);
        let last = r.read_block(2000).unwrap();
        assert_eq!(&last[..], &data[8000..]);
        assert_eq!(r.whole.clone().finalize()[..], Md5::digest(&data)[..]);
    }

    #[test]
    fn block_ids_have_one_length() {
        let ids = BlockIds::new(4 << 20, 20 << 20, 1_700_000_000);
        let a = ids.id(0);
        let b = ids.id(49_999);
        assert_eq!(a.len(), b.len());
        assert!(a.len() <= 64);
        assert_ne!(a, b);
        assert_ne!(
            BlockIds::new(4 << 20, 20 << 20, 1).id(0),
            a,
            "a changed file gets new ids"
        );
    }

    #[test]
    fn signing_policy_signs_what_is_sent() {
        let cred = SharedKeyCredential::new(DEV_ACCOUNT, DEV_KEY).unwrap();
        let policy = SharedKeyPolicy::new(cred.clone());
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/c/b?comp=block&blockid=YWJj%2B%2F%3D",
        )
        .unwrap();
        let mut req = Request::new(url.clone(), azure_core::http::Method::Put);
        req.insert_header("x-ms-version", "2026-04-06");
        req.set_body(azure_core::Bytes::from_static(b"hello"));
        policy.sign(&mut req);
        let hdr = |name: &str| {
            req.headers()
                .iter()
                .find(|(k, _)| k.as_str() == name)
                .map(|(_, v)| v.as_str().to_string())
        };
        assert_eq!(hdr("content-length").as_deref(), Some("5"));
        assert!(hdr("x-ms-date").is_some());
        let authz = hdr("authorization").unwrap();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
            .collect();
        let parts = RequestParts {
            method: "PUT",
            raw_path: url.path(),
            raw_query: url.query().unwrap(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect(),
        };
        assert!(cred.verify_authorization(Service::Blob, &parts, &authz));
        // Signing again (a retry) replaces the header rather than adding a second one.
        policy.sign(&mut req);
        assert_eq!(
            req.headers()
                .iter()
                .filter(|(k, _)| k.as_str() == "authorization")
                .count(),
            1
        );
    }
}
