//! Downloads: a blob to a file, written atomically, in ranges checked against their CRC64 and
//! the whole against the blob's Content-MD5, resumed when a body breaks off.

use std::fmt;
use std::num::NonZero;
use std::path::Path;

use azure_core::http::Etag;
use azure_storage_blob::BlobClient;
use azure_storage_blob::models::BlobClientDownloadOptions;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt as _;
use md5::{Digest as _, Md5};

use super::error::Op;
use super::{Result, StorageClient, StorageError};
use crate::azure::crc64::{self, Crc64};
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
    /// True when every response carried the CRC64 of its bytes (`x-ms-content-crc64`, asked
    /// for with `x-ms-range-get-content-crc64`) and each matched.
    pub crc64_verified: bool,
}

impl StorageClient {
    /// Downloads `container/blob` to `dest`: into a temporary file in `dest`'s directory,
    /// fsynced, then renamed into place; on any error no file is left behind. Ranges of at
    /// most 4 MiB are fetched `parallel` at a time, each asking for the CRC64 of its bytes,
    /// which is checked when the service sends it (Azure does; Azurite does not), and the
    /// whole file is checked against the blob's Content-MD5 when it has one. Every range is
    /// locked to the blob's ETag. A body that breaks off is resumed from where it stopped when
    /// the blob's MD5 covers the bytes already received, else its range is fetched again, so
    /// that every byte is checked by one of the two.
    pub async fn download_to_file(
        &self,
        container: &str,
        blob: &str,
        dest: &Path,
        overwrite: bool,
    ) -> Result<DownloadedBlob> {
        use tokio::io::AsyncWriteExt as _;
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
        let mut file = tokio::fs::File::from_std(
            atomic
                .file()
                .try_clone()
                .map_err(StorageError::file("write", &tmp_path))?,
        );
        let client = self.blob_client(container, blob, &op)?;
        let part = self.transfer.block_size.clamp(1, DOWNLOAD_PARTITION_MAX);

        // The first range tells the blob's size, ETag and MD5.
        let first = self.fetch_range(&client, &op, 0..part, None).await?;
        let blob_props = first.blob.clone().ok_or_else(|| StorageError::Unexpected {
            target: self.target(&op),
            message: "the first answer described no blob".into(),
        })?;
        let mut md5 = blob_props.md5.as_ref().map(|_| Md5::new());
        let mut crc64_verified = true;
        let mut written = 0u64;
        let mut write = async |got: Range| -> Result<()> {
            file.write_all(&got.data)
                .await
                .map_err(StorageError::file("write", &tmp_path))?;
            if let Some(md5) = &mut md5 {
                md5.update(&got.data);
            }
            crc64_verified &= got.crc64_verified;
            written += got.data.len() as u64;
            Ok(())
        };
        write(first).await?;
        let total = blob_props.total;
        let starts: Vec<u64> = std::iter::successors(Some(part), |s| Some(s + part))
            .take_while(|s| *s < total)
            .collect();
        let client_ref = &client;
        let op_ref = &op;
        let etag = &blob_props.etag;
        let mut rest = futures::stream::iter(starts)
            .map(|start| {
                self.fetch_range(
                    client_ref,
                    op_ref,
                    start..(start + part).min(total),
                    Some(etag),
                )
            })
            .buffered(self.transfer.parallel);
        while let Some(got) = rest.next().await {
            write(got?).await?;
        }
        drop(rest);
        file.flush()
            .await
            .map_err(StorageError::file("write", &tmp_path))?;
        drop(file);
        if written != total {
            return Err(StorageError::LengthMismatch {
                account: self.account.clone(),
                container: container.to_string(),
                blob: blob.to_string(),
                expected: total,
                actual: written,
            });
        }
        let md5_verified = match (blob_props.md5, md5) {
            (Some(expected), Some(md5)) => {
                let actual = md5.finalize().to_vec();
                if expected != actual {
                    return Err(StorageError::Md5Mismatch {
                        account: self.account.clone(),
                        container: container.to_string(),
                        blob: blob.to_string(),
                        expected: B64.encode(expected),
                        actual: B64.encode(&actual),
                    });
                }
                true
            }
            _ => false,
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
            bytes: written,
            md5_verified,
            crc64_verified: crc64_verified && total > 0,
        })
    }

    /// The bytes of `range` (clipped to the blob's end), with retries: a body that breaks off
    /// is resumed (see [`Self::download_to_file`]). Without `etag`, this is the first range
    /// and its answer describes the blob.
    async fn fetch_range(
        &self,
        client: &BlobClient,
        op: &Op<'_>,
        range: std::ops::Range<u64>,
        etag: Option<&Etag>,
    ) -> Result<Range> {
        match self
            .fetch_range_asking(client, op, range.clone(), etag, true)
            .await
        {
            // An empty blob has no first range: the SDK asks for it whole, and the service
            // refuses a range's CRC64 without a range (400). Ask again without it.
            Err(e) if etag.is_none() && e.status() == Some(400) => {
                self.fetch_range_asking(client, op, range, etag, false)
                    .await
            }
            other => other,
        }
    }

    async fn fetch_range_asking(
        &self,
        client: &BlobClient,
        op: &Op<'_>,
        range: std::ops::Range<u64>,
        etag: Option<&Etag>,
        crc64: bool,
    ) -> Result<Range> {
        let got = tokio::sync::Mutex::new(Range {
            data: Vec::new(),
            crc64_verified: true,
            blob: None,
        });
        with_retry(&self.retry, "download blob", |_attempt| {
            let got = &got;
            let range = range.clone();
            async move {
                let mut got = got.lock().await;
                self.range_attempt(client, op, range, etag, crc64, &mut got)
                    .await
            }
        })
        .await
        .map_err(Attempt::into_inner)?;
        Ok(got.into_inner())
    }

    /// One request for what `got` still lacks of `range`, and its body.
    async fn range_attempt(
        &self,
        client: &BlobClient,
        op: &Op<'_>,
        range: std::ops::Range<u64>,
        etag: Option<&Etag>,
        crc64: bool,
        got: &mut Range,
    ) -> Result<(), Attempt> {
        let kept = got.data.len();
        let from = range.start + kept as u64;
        let len = usize::try_from(range.end - from)
            .unwrap_or(usize::MAX)
            .max(1);
        let etag = etag.or(got.blob.as_ref().map(|b| &b.etag)).cloned();
        let options = BlobClientDownloadOptions {
            range: Some((from..range.end).into()),
            if_match: etag,
            parallel: NonZero::new(1),
            partition_size: NonZero::new(len),
            range_get_content_crc64: crc64.then_some(true),
            ..Default::default()
        };
        // The request itself was already retried by the pipeline: do not retry it again.
        let response = client
            .download(Some(options))
            .await
            .map_err(|e| Attempt::Final(self.sdk_error(op, e)))?;
        let props = &response.properties;
        if got.blob.is_none() {
            // A ranged answer's Content-MD5 covers the range only; the blob's own MD5 is
            // x-ms-blob-content-md5. An empty blob is answered whole (no Content-Range), with
            // its MD5 as Content-MD5.
            let ranged = total_length(&response.headers);
            got.blob = Some(BlobProps {
                etag: props.etag.clone().unwrap_or_else(|| Etag::from("")),
                total: ranged.or(props.content_length).unwrap_or(0),
                md5: props.blob_content_md5.clone().or_else(|| {
                    ranged
                        .is_none()
                        .then(|| props.content_md5.clone())
                        .flatten()
                }),
            });
        }
        let expected_crc = props.content_crc64.clone();
        let mut crc = Crc64::new();
        let mut body = response.body;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    // A body that broke off. Its bytes can be kept only where the blob's MD5
                    // will check them: this answer's CRC64 covers all of it or nothing.
                    let md5_covers = got.blob.as_ref().is_some_and(|b| b.md5.is_some());
                    if expected_crc.is_some() && !md5_covers {
                        got.data.truncate(kept);
                    } else if expected_crc.is_some() {
                        got.crc64_verified = false;
                    }
                    return Err(Attempt::Resumable(self.sdk_error(op, e)));
                }
            };
            crc.update(&chunk);
            got.data.extend_from_slice(&chunk);
        }
        match expected_crc {
            Some(expected) if expected != crc.value().to_le_bytes() => {
                Err(Attempt::Final(StorageError::Crc64Mismatch {
                    target: self.target(op),
                    offset: from,
                    expected: B64.encode(expected),
                    actual: crc64::to_header(crc.value()),
                }))
            }
            Some(_) => Ok(()),
            None => {
                got.crc64_verified = false;
                Ok(())
            }
        }
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

/// What the first answer says of the blob.
#[derive(Debug, Clone)]
struct BlobProps {
    etag: Etag,
    total: u64,
    /// The blob's Content-MD5, when it has one.
    md5: Option<Vec<u8>>,
}

/// The bytes of one range, as far as they arrived.
struct Range {
    data: Vec<u8>,
    /// False once a response came without a CRC64, or was cut and kept unchecked.
    crc64_verified: bool,
    /// Set by the first answer of the first range.
    blob: Option<BlobProps>,
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
