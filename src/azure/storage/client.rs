//! The blob service client: construction and options, the SDK clients it builds per
//! container and blob, containers and listings.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use azure_core::http::policies::Policy;
use azure_core::http::{ClientOptions, HttpClientOptions, Transport, Url, new_http_client};
use azure_storage_blob::{
    BlobClient, BlobContainerClient, BlobContainerClientOptions, BlockBlobClient,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::TryStreamExt as _;

use super::connection_string::normalize_endpoint;
use super::error::{Op, key_error};
use super::policy::BearerPolicy;
use super::policy::{ExtraHeadersPolicy, ResponseTimeoutPolicy, ServerHeaderPolicy};
use super::sas::SAS_VERSION;
use super::{AuthKind, ConnectionString, Result, SharedKeyPolicy, StorageError};
use crate::azure::auth::entra::{EntraCredential, STORAGE_SCOPE};
use crate::azure::auth::{Credential as AccountCredential, DelegationKey, SharedKeyCredential};
use crate::azure::retry::RetryPolicy;

/// Azure's limit on one block (4000 MiB).
const MAX_BLOCK_SIZE: u64 = 4000 * 1024 * 1024;

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

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobItem {
    pub name: String,
    pub size: u64,
    /// Base64 Content-MD5, when the blob has one.
    pub content_md5: Option<String>,
}

/// Sizes and concurrency of transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOptions {
    /// Block size of multi-block uploads (default 16 MiB: one 1 GiB file went up 10-20% faster
    /// than in blocks of 8 MiB, `cargo bench --bench upload`), and partition size of downloads
    /// (at most 4 MiB).
    pub block_size: u64,
    /// Files up to this size go up in one Put Blob.
    pub max_single_put: u64,
    /// Blocks (or download ranges) in flight at once, per file (default 8: one 1 GiB file to
    /// the emulator went up 10-25% faster than with 4 in flight on a quiet machine, `cargo
    /// bench --bench upload` with `BATCHDECK_BENCH_OURS`; the disk's queue stays full while
    /// blocks are received. Memory: `parallel × block_size`, 128 MiB).
    pub parallel: usize,
    /// `maxresults` of each listing page (None: the service's default, 5000).
    pub list_page_size: Option<u32>,
    /// Hash each file uploaded in blocks with MD5 as it is read and store that as the blob's
    /// Content-MD5 (`x-ms-blob-content-md5`), for readers that check it. Off by default: MD5
    /// runs at about 0.6 GB/s on one core and held back large uploads, while every Put Block
    /// and Put Blob carries a CRC64 that the service checks (and a single Put Blob gets its
    /// Content-MD5 from the service anyway).
    pub content_md5: bool,
    /// The checksum each Put Block and Put Blob carries for the service to check in transit.
    pub checksum: TransferChecksum,
}

/// The transactional checksum of each Put Block and Put Blob (the Azure SDKs call it the
/// upload's checksum algorithm; theirs send none unless asked, and their `Auto` means CRC64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferChecksum {
    /// The one the service checks at no cost: CRC64 (`x-ms-content-crc64`) for Azure and
    /// batchdeck's emulator, which compute it with hardware instructions; for Azurite, which
    /// computes CRC64 in JavaScript a byte at a time (a third of its speed on a Put Blob) but
    /// MD5 natively, Content-MD5 on each Put Block (which it hashes with CRC64 when it carries
    /// no MD5) and none on a Put Blob (which it hashes with MD5 whatever it carries, for the
    /// blob's Content-MD5). The service is known by the `Server` header of its answers
    /// (`Azurite-Blob/…`); before the first answer, CRC64.
    #[default]
    Auto,
    /// Always CRC64.
    Crc64,
    /// Always Content-MD5 (MD5 runs at about 0.6 GB/s on one core).
    Md5,
}

/// The checksum a request carries once [`TransferChecksum::Auto`] is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyChecksum {
    Crc64,
    Md5,
}

/// What the blob service said it is, in the `Server` header of its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ServiceSeen {
    /// No answer yet.
    Unknown = 0,
    /// Azure, batchdeck's emulator (which answers as Azure does) or anything else.
    Other = 1,
    /// Azurite (`Server: Azurite-Blob/<version>`).
    Azurite = 2,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            block_size: 16 * 1024 * 1024,
            max_single_put: 8 * 1024 * 1024,
            parallel: 8,
            list_page_size: None,
            content_md5: false,
            checksum: TransferChecksum::Auto,
        }
    }
}

#[derive(Clone)]
pub(super) enum Credential {
    SharedKey(SharedKeyCredential),
    /// A SAS query string (without `?`), sent on every request.
    Sas(String),
    /// Microsoft Entra ID tokens; SAS URLs are user delegation SAS.
    Entra(EntraCredential),
}

/// A blob service client for one storage account.
#[derive(Clone)]
pub struct StorageClient {
    pub(super) endpoint: Url,
    pub(super) account: String,
    pub(super) credential: Credential,
    /// The container a container SAS was issued for.
    sas_container: Option<String>,
    transport: Transport,
    pub(super) retry: RetryPolicy,
    pub(super) transfer: TransferOptions,
    response_timeout: Duration,
    pub(super) sas_version: String,
    client_options: ClientOptions,
    /// The user delegation key SAS URLs are signed with (Entra ID only), shared by clones and
    /// asked for again when it nears its end.
    pub(super) delegation_key: Arc<tokio::sync::Mutex<Option<DelegationKey>>>,
    /// A [`ServiceSeen`], set from each answer's `Server` header (shared by clones).
    service_seen: Arc<AtomicU8>,
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

    /// A client for `account` at `endpoint` with any credential; Entra ID tokens must be for
    /// the Storage scope.
    pub fn with_credential(
        endpoint: Url,
        account: String,
        cred: AccountCredential,
    ) -> Result<Self> {
        match cred {
            AccountCredential::SharedKey(k) => Self::new(endpoint, k),
            AccountCredential::Entra(e) => {
                if e.scope() != STORAGE_SCOPE {
                    return Err(StorageError::Config(format!(
                        "a storage client needs tokens for {STORAGE_SCOPE}, not {}",
                        e.scope()
                    )));
                }
                let endpoint = normalize_endpoint(endpoint)?;
                Ok(Self::build(endpoint, account, Credential::Entra(e), None))
            }
        }
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

    pub(super) fn build(
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
            delegation_key: Arc::default(),
            service_seen: Arc::new(AtomicU8::new(ServiceSeen::Unknown as u8)),
        };
        client.rebuild_options();
        client
    }

    fn rebuild_options(&mut self) {
        let mut per_try: Vec<Arc<dyn Policy>> = Vec::new();
        match &self.credential {
            Credential::SharedKey(cred) => {
                per_try.push(Arc::new(SharedKeyPolicy::new(cred.clone())));
            }
            Credential::Entra(cred) => per_try.push(Arc::new(BearerPolicy::new(cred.clone()))),
            Credential::Sas(_) => {}
        }
        per_try.push(Arc::new(ResponseTimeoutPolicy {
            timeout: self.response_timeout,
        }));
        self.client_options = ClientOptions {
            per_call_policies: vec![
                Arc::new(ExtraHeadersPolicy),
                Arc::new(ServerHeaderPolicy {
                    seen: self.service_seen.clone(),
                }),
            ],
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
            Credential::Entra(_) => AuthKind::Entra,
        }
    }

    /// The container of a container-SAS client.
    pub fn sas_container(&self) -> Option<&str> {
        self.sas_container.as_deref()
    }

    pub fn transfer_options(&self) -> &TransferOptions {
        &self.transfer
    }

    /// The checksum the next Put Block carries (see [`TransferChecksum`]).
    pub(super) fn body_checksum(&self) -> BodyChecksum {
        match self.transfer.checksum {
            TransferChecksum::Crc64 => BodyChecksum::Crc64,
            TransferChecksum::Md5 => BodyChecksum::Md5,
            TransferChecksum::Auto => {
                if self.service_seen.load(Ordering::Relaxed) == ServiceSeen::Azurite as u8 {
                    BodyChecksum::Md5
                } else {
                    BodyChecksum::Crc64
                }
            }
        }
    }

    /// The checksum the next Put Blob carries: [`StorageClient::body_checksum`]'s, except that
    /// with [`TransferChecksum::Auto`] a Put Blob to Azurite carries none. Azurite hashes every
    /// Put Blob with MD5 whatever it carries (to store the blob's Content-MD5, which it answers
    /// with), so a Content-MD5 from here only cost this side an MD5 of every byte (256 x 4 MiB
    /// files went up at 0.60 of Azurite's raw Put Blob ceiling with it, 1.01 without); the
    /// blob's MD5 is still there for every download to check.
    pub(super) fn put_blob_checksum(&self) -> Option<BodyChecksum> {
        let azurite = self.service_seen.load(Ordering::Relaxed) == ServiceSeen::Azurite as u8;
        match self.transfer.checksum {
            TransferChecksum::Auto if azurite => None,
            _ => Some(self.body_checksum()),
        }
    }

    // ----- URL and SDK client construction

    /// The client options every SDK client of this storage client is built with.
    pub(super) fn client_options(&self) -> &ClientOptions {
        &self.client_options
    }

    pub(super) fn container_url(&self, container: &str) -> Result<Url> {
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

    pub(super) fn blob_url(&self, container: &str, blob: &str) -> Result<Url> {
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

    pub(super) fn blob_client(
        &self,
        container: &str,
        blob: &str,
        op: &Op<'_>,
    ) -> Result<BlobClient> {
        Ok(self.container_client(container, op)?.blob_client(blob))
    }

    pub(super) fn block_blob_client(
        &self,
        container: &str,
        blob: &str,
        op: &Op<'_>,
    ) -> Result<BlockBlobClient> {
        Ok(self.blob_client(container, blob, op)?.block_blob_client())
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
                    // Azure lists a blob without one as an empty `<Content-MD5 />`.
                    content_md5: props
                        .content_md5
                        .filter(|m| !m.is_empty())
                        .map(|m| B64.encode(m)),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
