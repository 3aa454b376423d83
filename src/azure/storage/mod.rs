//! Blob Storage client: containers, uploads, listings, downloads and SAS URLs.
//!
//! Every request goes through Microsoft's `azure_storage_blob` 1.x crate. That crate knows only
//! Entra ID tokens, so batchdeck gives it an account-key credential: [`SharedKeyPolicy`] is an
//! `azure_core` per-try policy that stamps `x-ms-date` and signs each attempt (retries get a
//! fresh date) with [`crate::azure::auth`], the same Shared Key code the emulator verifies
//! with. A client built from a SAS URL sends no signature; the SAS rides in the query.
//!
//! Retries: the SDK's retry loop runs *our* [`RetryPolicy`](crate::azure::retry::RetryPolicy), so
//! every request, including the ranged requests the SDK issues for a partitioned download, is
//! retried with one backoff. A download whose body breaks off mid-way resumes from the bytes
//! already written (a ranged request locked to the blob's ETag) under the same policy.
//!
//! The endpoint is configuration: `https://<account>.blob.core.windows.net` on Azure,
//! `http://127.0.0.1:<port>/devstoreaccount1` (path style) on the emulator or Azurite.
//!
//! Where each concern lives:
//! - `client.rs`: the [`StorageClient`], its construction and options, containers and listings;
//! - `error.rs`: [`StorageError`] and the mapping of the SDK's errors to it (scrubbed of secrets);
//! - `connection_string.rs`: connection strings and blob endpoints;
//! - `policy.rs`: the Shared Key signing policy, the per-attempt response timeout, a call's
//!   extra headers, and what the service says it is (its `Server` header);
//! - `sas.rs`: SAS permissions, [`SecretUrl`], signing SAS URLs and clients built from one;
//! - `upload.rs`: files to block blobs (block reading, resumable block ids);
//! - `download.rs`: blobs to files (verified, resumed, written atomically).

mod client;
mod connection_string;
mod download;
mod error;
mod policy;
mod sas;
mod upload;

pub use client::{
    BlobItem, ContainerCreated, ContainerDeleted, StorageClient, TransferChecksum, TransferOptions,
};
pub use connection_string::{ConnectionString, account_from_endpoint as account_of_endpoint};
pub use download::DownloadedBlob;
pub use error::{AuthKind, StorageError, Target};
pub use policy::{BearerPolicy, SharedKeyPolicy};
pub use sas::{MAX_SAS_TTL, SAS_VERSION, SasPermissions, SecretUrl};
pub use upload::{UploadProgress, UploadedBlob};

/// The storage emulators' well-known account (Azurite's; the emulator uses it too).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
/// Its well-known, public key.
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Azurite's default blob endpoint, used by `UseDevelopmentStorage=true`.
pub const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
