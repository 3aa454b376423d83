//! Uploads: a file to a block blob, in one Put Blob when small, else in blocks read from disk
//! block by block, several in flight, with ids that let a second attempt skip the blocks the
//! service already holds.

use std::num::NonZero;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use azure_core::http::{ClientMethodOptions, Context, RequestContent};
use azure_storage_blob::BlockBlobClient;
use azure_storage_blob::models::{
    BlockBlobClientCommitBlockListOptions, BlockBlobClientStageBlockOptions,
    BlockBlobClientUploadOptions, BlockListType, BlockLookupList,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt as _;
use md5::{Digest as _, Md5};

use super::client::BodyChecksum;
use super::error::Op;
use super::policy::ExtraHeaders;
use super::{AuthKind, Result, StorageClient, StorageError};
use crate::azure::crc64;

/// The budget of `upload_files`: this many requests in flight of up to [`SLOT`] bytes each
/// (a larger request counts as several), so 16 small files go up at once and memory stays
/// under 128 MiB of bodies.
const SLOTS: u32 = 16;
/// The bytes of one slot of `upload_files`' budget.
const SLOT: u64 = 8 * 1024 * 1024;
/// Azure's limit on the blocks of one block blob.
const MAX_BLOCKS: u64 = 50_000;

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

impl StorageClient {
    /// Uploads several files (`(blob name, path)`) into `container`, each as
    /// [`StorageClient::upload_file`] does, within one budget of bodies in flight (and so of
    /// memory): 16 requests of up to 8 MiB, a larger one counting as several. A file sent in
    /// one Put Blob holds its request, a file sent in blocks its blocks in flight (`parallel`,
    /// or fewer if it has fewer). So 16 small files go up at once, or one large one in blocks of
    /// 16 MiB, 8 in flight (the whole budget); a file needing more than the budget goes alone.
    /// `progress` hears each file's progress by blob name, and `done` each finished upload, as
    /// it finishes. Stops at the first failure.
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
        let slots = &tokio::sync::Semaphore::new(SLOTS as usize);
        // A buffer per request in flight at most, read into again from file to file.
        let buffers = &Buffers::new(SLOTS as usize);
        let mut uploads = futures::stream::iter(files.iter().map(|(name, path)| async move {
            // A file that cannot be read holds one slot until `upload_one` says why.
            let meta = tokio::fs::metadata(path).await;
            let held = meta
                .as_ref()
                .map_or(1, |m| self.transfer.slots_held(m.len()));
            let _held = slots
                .acquire_many(held)
                .await
                .expect("the semaphore is never closed");
            let file = Source { path, meta };
            self.upload_one(container, name, file, buffers, move |p| progress(name, p))
                .await
        }))
        .buffer_unordered(SLOTS as usize);
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
    /// service already holds. Every request carries a checksum of its body that the service
    /// checks (CRC64, or on Azurite Content-MD5 on each Put Block and none on a Put Blob: see
    /// [`TransferChecksum`](super::TransferChecksum));
    /// with `content_md5` (see [`TransferOptions`](super::TransferOptions)) a blob uploaded in
    /// blocks also gets the file's MD5 as its Content-MD5.
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
        let file = Source {
            path,
            meta: tokio::fs::metadata(path).await,
        };
        let buffers = Buffers::new(self.transfer.parallel.max(1));
        self.upload_one(container, blob_name, file, &buffers, progress)
            .await
    }

    /// [`StorageClient::upload_file`] of a file already looked at, reading its bodies into
    /// `buffers`.
    async fn upload_one<P>(
        &self,
        container: &str,
        blob_name: &str,
        file: Source<'_>,
        buffers: &Arc<Buffers>,
        progress: P,
    ) -> Result<UploadedBlob>
    where
        P: Fn(UploadProgress) + Send + Sync,
    {
        let op = Op::blob("upload blob", container, blob_name);
        let path = file.path;
        let meta = file.meta.map_err(StorageError::file("read", path))?;
        if !meta.is_file() {
            return Err(StorageError::file("upload", path)(std::io::Error::other(
                "not a regular file",
            )));
        }
        let size = meta.len();
        progress(UploadProgress {
            bytes_done: 0,
            bytes_total: size,
        });
        let client = self.block_blob_client(container, blob_name, &op)?;

        if size <= self.transfer.max_single_put {
            // One Put Blob: the service computes the blob's Content-MD5 from what it received
            // (as Azure does for Put Blob), so this side does not hash it for that; the body
            // carries the checksum the service checks in transit (none to Azurite, which
            // hashes it with MD5 anyway: see `put_blob_checksum`). The SDK's upload has no
            // option for it: the header goes through the call's context.
            let checksum = self.put_blob_checksum();
            let (path_buf, reader) = (path.to_path_buf(), buffers.clone());
            let (data, sum) = read_off_runtime(path, size, move || {
                let data = read_whole(&path_buf, size, &reader)?;
                let sum = checksum.map(|c| Sum::of(c, &data));
                Ok((data, sum))
            })
            .await?;
            let options = BlockBlobClientUploadOptions {
                partition_size: NonZero::new(size.max(1)),
                method_options: ClientMethodOptions {
                    context: Context::new()
                        .with_value(ExtraHeaders(sum.iter().map(Sum::header).collect())),
                },
                ..Default::default()
            };
            let content: RequestContent<azure_core::Bytes, azure_core::http::NoFormat> =
                data.clone().into();
            let put = client
                .upload(content, Some(options))
                .await
                .map_err(|e| self.sdk_error(&op, e))?;
            buffers.give_back(data);
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

        let file = std::fs::File::open(path).map_err(StorageError::file("open", path))?;
        let reader = Arc::new(std::sync::Mutex::new(BlockReader::new(
            file,
            self.transfer.content_md5,
            buffers.clone(),
        )));
        // Known by now: the block list was asked for.
        let checksum = self.body_checksum();
        // Owned by each read: a future that borrows the path is not Send for every lifetime
        // (a limit of the compiler with streams of async blocks).
        let path_buf = path.to_path_buf();
        let reads = futures::stream::iter(0..n_blocks).then(|index| {
            let (reader, path) = (reader.clone(), path_buf.clone());
            async move {
                let len = block_size.min(size - index * block_size);
                let (data, sum) = read_off_runtime(&path, size, move || {
                    let data = reader
                        .lock()
                        .map_err(|_| std::io::Error::other("block reader poisoned"))?
                        .read_block(len)?;
                    // Outside the reader's lock: blocks in flight are summed in parallel.
                    let sum = Sum::of(checksum, &data);
                    Ok((data, sum))
                })
                .await?;
                Ok((index, data, sum))
            }
        });
        let ids_ref = &ids;
        let existing_ref = &existing;
        let client_ref = &client;
        let op_ref = &op;
        let staged = reads
            .map(|read| async move {
                let (index, data, sum) = read?;
                let id = ids_ref.id(index);
                let len = data.len() as u64;
                if existing_ref
                    .iter()
                    .any(|(eid, esize)| *eid == id && *esize == len)
                {
                    buffers.give_back(data);
                    return Ok::<_, StorageError>((len, true));
                }
                // The service checks the block's checksum and refuses it (400 Crc64Mismatch
                // or Md5Mismatch) if the bytes changed on the way.
                let options = match sum {
                    Sum::Crc64(crc) => BlockBlobClientStageBlockOptions {
                        transactional_content_crc64: Some(crc.to_le_bytes().to_vec()),
                        ..Default::default()
                    },
                    Sum::Md5(md5) => BlockBlobClientStageBlockOptions {
                        transactional_content_md5: Some(md5.to_vec()),
                        ..Default::default()
                    },
                };
                client_ref
                    .stage_block(&id, len, data.clone().into(), Some(options))
                    .await
                    .map_err(|e| self.sdk_error(op_ref, e))?;
                buffers.give_back(data);
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

        let whole = reader
            .lock()
            .map_err(|_| StorageError::Config("block reader poisoned".into()))?
            .whole
            .take()
            .map(|md5| md5.finalize().to_vec());
        let list = BlockLookupList {
            latest: Some((0..n_blocks).map(|i| ids.id(i)).collect()),
            ..Default::default()
        };
        let body = list.try_into().map_err(|e| self.sdk_error(&op, e))?;
        let options = BlockBlobClientCommitBlockListOptions {
            blob_content_md5: whole.clone(),
            ..Default::default()
        };
        client
            .commit_block_list(body, Some(options))
            .await
            .map_err(|e| self.sdk_error(&op, e))?;
        Ok(UploadedBlob {
            name: blob_name.to_string(),
            size,
            md5: whole.map(|m| B64.encode(m)),
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
}

impl super::TransferOptions {
    /// The slots of `upload_files`' budget that a file of `size` bytes holds while it goes up:
    /// its Put Blob, or its blocks in flight, each counting one slot per 8 MiB or part of it;
    /// never more than the whole budget.
    fn slots_held(&self, size: u64) -> u32 {
        let slots = |bytes: u64| bytes.div_ceil(SLOT).max(1);
        let held = if size <= self.max_single_put {
            slots(size)
        } else {
            let blocks = size.div_ceil(self.block_size.max(1));
            blocks.min(self.parallel.max(1) as u64) * slots(self.block_size)
        };
        held.min(u64::from(SLOTS)) as u32
    }
}

/// The transactional checksum of one request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sum {
    Crc64(u64),
    Md5([u8; 16]),
}

impl Sum {
    fn of(kind: BodyChecksum, data: &[u8]) -> Sum {
        match kind {
            BodyChecksum::Crc64 => Sum::Crc64(crc64::checksum(data)),
            BodyChecksum::Md5 => Sum::Md5(Md5::digest(data).into()),
        }
    }

    /// Its request header.
    fn header(&self) -> (&'static str, String) {
        match self {
            Sum::Crc64(crc) => ("x-ms-content-crc64", crc64::to_header(*crc)),
            Sum::Md5(md5) => ("content-md5", B64.encode(md5)),
        }
    }
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

/// A file to upload, and what looking at it said.
struct Source<'a> {
    path: &'a Path,
    meta: std::io::Result<std::fs::Metadata>,
}

/// Buffers that bodies are read into, given back once their request is done and read into
/// again (by the next block, or with `upload_files` the next file). A fresh allocation per
/// body (4-8 MiB) is zero-filled by the kernel page by page as it is read into: those page
/// faults were some 5% of an upload's CPU (`perf record -e page-faults` on
/// `cargo bench --bench upload`, 256 x 4 MiB files); and freeing one lets glibc's allocator
/// raise its mmap threshold and scatter the next ones over its arenas, so that resident memory
/// grew with the size of the upload instead of staying near the requests in flight times
/// their size.
struct Buffers {
    spare: std::sync::Mutex<Vec<bytes::BytesMut>>,
    /// Kept at most (the requests in flight).
    keep: usize,
}

impl Buffers {
    fn new(keep: usize) -> Arc<Buffers> {
        Arc::new(Buffers {
            spare: std::sync::Mutex::default(),
            keep,
        })
    }

    /// A buffer of `len` bytes: one given back that is large enough, if any, holding what it
    /// held (it is read over, not zeroed: only the part past its old length is), else a new
    /// one.
    fn take(&self, len: usize) -> bytes::BytesMut {
        let mut buf = {
            let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
            match spare.iter().position(|b| b.capacity() >= len) {
                Some(i) => spare.swap_remove(i),
                None => bytes::BytesMut::new(),
            }
        };
        if buf.len() >= len {
            buf.truncate(len);
        } else {
            buf.resize(len, 0);
        }
        buf
    }

    /// Takes back a body's buffer once nothing else holds it.
    fn give_back(&self, body: azure_core::Bytes) {
        if let Ok(buf) = body.try_into_mut() {
            let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
            if spare.len() < self.keep {
                spare.push(buf);
            }
        }
    }
}

/// Runs `read` (of the file at `path`, `size` bytes when looked at) on the blocking thread
/// pool; a file that is no longer that size (`UnexpectedEof`) is `FileChanged`.
async fn read_off_runtime<T: Send + 'static>(
    path: &Path,
    size: u64,
    read: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(read)) => Ok(read),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(StorageError::FileChanged {
                path: path.to_path_buf(),
                expected: size,
            })
        }
        Ok(Err(e)) => Err(StorageError::file("read", path)(e)),
        Err(e) => Err(StorageError::file("read", path)(std::io::Error::other(e))),
    }
}

/// The whole file at `path`, `size` bytes, read into one of `buffers`; `UnexpectedEof` if it
/// is no longer `size` bytes long (shorter or longer).
fn read_whole(path: &Path, size: u64, buffers: &Buffers) -> std::io::Result<azure_core::Bytes> {
    use std::io::Read as _;
    let len = usize::try_from(size).map_err(|_| std::io::Error::other("file too large"))?;
    let mut file = std::fs::File::open(path)?;
    let mut buf = buffers.take(len);
    file.read_exact(&mut buf)?;
    if file.read(&mut [0u8])? != 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(buf.freeze())
}

/// Reads a file block by block, in order, into `buffers`, feeding the whole file's MD5 when
/// asked.
struct BlockReader {
    file: std::fs::File,
    whole: Option<Md5>,
    buffers: Arc<Buffers>,
}

impl BlockReader {
    fn new(file: std::fs::File, md5: bool, buffers: Arc<Buffers>) -> Self {
        BlockReader {
            file,
            whole: md5.then(Md5::new),
            buffers,
        }
    }

    /// The next `len` bytes of the file, added to the whole file's hash.
    fn read_block(&mut self, len: u64) -> std::io::Result<azure_core::Bytes> {
        use std::io::Read as _;
        let len = usize::try_from(len).map_err(|_| std::io::Error::other("block too large"))?;
        let mut buf = self.buffers.take(len);
        self.file.read_exact(&mut buf)?;
        if let Some(whole) = &mut self.whole {
            whole.update(&buf);
        }
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_buffers_are_read_into_again_once_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut r = BlockReader::new(std::fs::File::open(&path).unwrap(), true, Buffers::new(4));
        let first = r.read_block(4000).unwrap();
        let at = first.as_ptr();
        let held = first.clone();
        r.buffers.give_back(first);
        assert!(
            r.buffers.spare.lock().unwrap().is_empty(),
            "a buffer still held elsewhere is not reused"
        );
        r.buffers.give_back(held);
        let second = r.read_block(4000).unwrap();
        assert_eq!(second.as_ptr(), at, "the given-back buffer is read into");
        assert_eq!(&second[..], &data[4000..8000]);
        // A shorter last block is read into the start of a longer buffer given back.
        r.buffers.give_back(second);
        let last = r.read_block(2000).unwrap();
        assert_eq!(
            last.as_ptr(),
            at,
            "the given-back buffer is read into again"
        );
        assert_eq!(&last[..], &data[8000..]);
        assert_eq!(
            r.whole.take().unwrap().finalize()[..],
            Md5::digest(&data)[..]
        );
    }

    #[test]
    fn whole_files_are_read_into_buffers_given_back_and_only_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, len: usize, seed: u8| {
            let data: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed)
                .collect();
            let path = dir.path().join(name);
            std::fs::write(&path, &data).unwrap();
            (path, data)
        };
        let (a, a_data) = file("a", 4000, 1);
        let (b, b_data) = file("b", 1000, 2);
        let (c, c_data) = file("c", 6000, 3);
        let buffers = Buffers::new(2);
        let first = read_whole(&a, 4000, &buffers).unwrap();
        assert_eq!(&first[..], &a_data[..]);
        let at = first.as_ptr();
        buffers.give_back(first);
        // A shorter file in the longer one's buffer: its own bytes, no more.
        let second = read_whole(&b, 1000, &buffers).unwrap();
        assert_eq!(second.as_ptr(), at, "the given-back buffer is read into");
        assert_eq!(&second[..], &b_data[..]);
        buffers.give_back(second);
        // A longer one than any buffer given back gets a new one.
        let third = read_whole(&c, 6000, &buffers).unwrap();
        assert_eq!(&third[..], &c_data[..]);
        buffers.give_back(third);
        // A file that is no longer the size it had: shorter or longer.
        for size in [3999, 4001] {
            let e = read_whole(&a, size, &buffers).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{size}");
        }
        // No more are kept than asked.
        let held: Vec<_> = (0..4)
            .map(|_| read_whole(&b, 1000, &buffers).unwrap())
            .collect();
        for h in held {
            buffers.give_back(h);
        }
        assert_eq!(buffers.spare.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_file_holds_a_slot_per_8_mib_of_each_body_in_flight_within_the_budget() {
        const MIB: u64 = 1024 * 1024;
        let t = crate::azure::storage::TransferOptions::default();
        assert_eq!(
            (t.block_size, t.max_single_put, t.parallel),
            (16 * MIB, 8 * MIB, 8)
        );
        // One Put Blob: a slot per 8 MiB or part of it (an empty file holds one).
        assert_eq!(t.slots_held(0), 1);
        assert_eq!(t.slots_held(4 * MIB), 1);
        assert_eq!(t.slots_held(8 * MIB), 1);
        // In blocks of 16 MiB, two slots each, as many in flight as it has, up to 8: a large
        // file holds the whole budget.
        assert_eq!(t.slots_held(8 * MIB + 1), 2);
        assert_eq!(t.slots_held(17 * MIB), 4);
        assert_eq!(t.slots_held(100 * MIB), 14);
        assert_eq!(t.slots_held(1 << 30), SLOTS);
        // Never more than the whole budget: a file whose blocks in flight exceed it goes alone.
        let huge = crate::azure::storage::TransferOptions {
            block_size: 100 * MIB,
            ..t.clone()
        };
        assert_eq!(huge.slots_held(1 << 30), SLOTS);
        let small_blocks = crate::azure::storage::TransferOptions {
            block_size: MIB,
            max_single_put: MIB,
            ..t
        };
        assert_eq!(small_blocks.slots_held(4 * MIB), 4);
        assert_eq!(small_blocks.slots_held(2 * MIB), 2);
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
}
