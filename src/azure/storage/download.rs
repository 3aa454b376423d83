//! Downloads: a blob to a file, written atomically, verified against the blob's Content-MD5,
//! resumed from the bytes already written when a body breaks off.

use std::fmt;
use std::num::NonZero;
use std::path::Path;

use azure_storage_blob::BlobClient;
use azure_storage_blob::models::BlobClientDownloadOptions;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt as _;
use md5::{Digest as _, Md5};

use super::error::Op;
use super::{Result, StorageClient, StorageError};
use crate::azure::retry::{RetryDecision, Retryable, with_retry};
use crate::util::{AtomicFile, FileAccess};

/// Largest range a download asks for at once.
const DOWNLOAD_PARTITION_MAX: u64 = 4 * 1024 * 1024;

/// A finished download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadedBlob {
    pub bytes: u64,
    /// True when the service reported the blob's Content-MD5 and the bytes matched it.
    pub md5_verified: bool,
}

impl StorageClient {
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
        let dest_buf = dest.to_path_buf();
        let atomic = blocking("create a temporary file for", dest, move || {
            AtomicFile::create(&dest_buf, FileAccess::Default)
        })
        .await?;
        let tmp_path = atomic.temp_path().to_path_buf();
        let file = atomic
            .file()
            .try_clone()
            .map_err(StorageError::file("write", &tmp_path))?;
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
        file.flush()
            .await
            .map_err(StorageError::file("write", &tmp_path))?;
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
        blocking("move the download to", dest, move || {
            if overwrite {
                atomic.commit()
            } else {
                atomic.commit_new()
            }
        })
        .await
        .map_err(|e| match e {
            StorageError::File { source, .. }
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                StorageError::DestinationExists {
                    path: dest.to_path_buf(),
                }
            }
            e => e,
        })?;
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
            st.file
                .write_all(&chunk)
                .await
                .map_err(|source| Attempt::Final(StorageError::file("write", tmp_path)(source)))?;
            st.hasher.update(&chunk);
            st.offset += chunk.len() as u64;
        }
        Ok(())
    }
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

/// Runs file work off the async threads; an error names `operation` and `path`.
async fn blocking<T: Send + 'static>(
    operation: &str,
    path: &Path,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(StorageError::file(operation, path))
}
