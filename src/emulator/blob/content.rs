//! Blob content on disk: request bodies streamed into new content files (hashed on the way),
//! and ranges of a blob's segments streamed back out.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt as _;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::direct::{self, Buffers, ContentWriter};
use super::error::BlobError;
use super::hashing::{Lanes, Lost};
use super::store::Segment;
use crate::azure::crc64::Crc64;

/// Chunks handed from the request to the writer thread at once (bounded: back-pressure).
const WRITE_QUEUE: usize = 16;
/// Read size when streaming content out. Buffers here stay under glibc's initial mmap
/// threshold (128 KiB): larger ones, allocated per request on many threads, scattered freed
/// memory over the allocator's arenas and raised a run's resident memory with the size of its
/// blobs (the writers' larger buffers are kept and reused: see [`Buffers`]).
const READ_CHUNK: usize = 64 << 10;

/// Which checksums of a body to compute while it is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sums {
    pub md5: bool,
    /// Azure's CRC64 (`x-ms-content-crc64`; SIMD, about 20 times cheaper than MD5).
    pub crc64: bool,
}

/// A content file written, fsynced and ready to be referenced by the index.
#[derive(Debug, Clone)]
pub struct Written {
    pub file: String,
    pub len: u64,
    /// The body's MD5, when it was asked for.
    pub md5: Option<[u8; 16]>,
    /// The body's CRC64, when it was asked for.
    pub crc64: Option<u64>,
}

impl Written {
    pub fn md5_b64(&self) -> Option<String> {
        self.md5.map(|m| B64.encode(m))
    }
}

/// The directory of content files and its fsyncs, shared by the writes in flight (a group
/// commit): a write whose file is fsynced waits for a directory fsync that started after it
/// asked, and one such fsync serves every write that asked before it started (one in flight
/// at a time), instead of one directory fsync per write.
pub struct ContentDir {
    path: PathBuf,
    /// The writers' aligned buffers, reused.
    buffers: Arc<Buffers>,
    state: std::sync::Mutex<DirSyncs>,
    finished: std::sync::Condvar,
}

#[derive(Default)]
struct DirSyncs {
    /// Directory fsyncs started so far (the running one, if any, is number `started`).
    started: u64,
    /// The last one that finished without error.
    done: u64,
    running: bool,
    /// Directory fsyncs run, and calls (for tests: writes share them).
    #[cfg(test)]
    runs: u64,
    #[cfg(test)]
    calls: u64,
}

impl ContentDir {
    pub fn new(path: PathBuf) -> ContentDir {
        ContentDir {
            path,
            buffers: Default::default(),
            state: Default::default(),
            finished: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn buffers(&self) -> Arc<Buffers> {
        self.buffers.clone()
    }

    /// Returns once a directory fsync that started after this call has finished without
    /// error: one this thread runs, or one run by another writer meanwhile.
    pub fn sync(&self) -> std::io::Result<()> {
        let lock = || self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = lock();
        #[cfg(test)]
        {
            s.calls += 1;
        }
        // The one running (if any) started before this call: the next one is needed.
        let needed = s.started + 1;
        loop {
            if s.done >= needed {
                return Ok(());
            }
            if !s.running {
                s.running = true;
                s.started += 1;
                let number = s.started;
                #[cfg(test)]
                {
                    s.runs += 1;
                }
                drop(s);
                let result = crate::util::sync_dir(&self.path);
                let mut s = lock();
                s.running = false;
                if result.is_ok() {
                    s.done = number;
                }
                // On an error the waiters try again themselves.
                self.finished.notify_all();
                return result;
            }
            s = self.finished.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Streams `body` into a new file in `dir`, computing the checksums `sums` asks; fails with 413
/// past `cap` bytes. The file and the directory are fsynced before this returns (the directory
/// by a group commit, see [`ContentDir`]); on any error the file is gone. MD5 runs on a thread
/// of its own beside the writer, on the same chunks (no copy), so that hashing and writing
/// overlap rather than add up, and hashes them in SIMD lanes together with the other bodies in
/// flight (see [`super::hashing`]); CRC64 is cheap and computed by the writer.
pub async fn write_body(
    dir: Arc<ContentDir>,
    body: Body,
    cap: u64,
    sums: Sums,
) -> Result<Written, BlobError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let path = dir.path().join(&id);
    let (file, direct) = direct::create(&path)
        .map_err(|e| BlobError::internal(format!("create {}: {e}", path.display())))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, Option<u64>)> {
        // Direct I/O where the file system takes it (see `direct`).
        let mut out = ContentWriter::new(file, direct, dir.buffers());
        let mut crc64 = sums.crc64.then(Crc64::new);
        let mut len = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            if let Some(crc64) = crc64.as_mut() {
                crc64.update(&chunk);
            }
            out.write(&chunk)?;
            len += chunk.len() as u64;
        }
        let file = out.finish()?;
        file.sync_all()?;
        dir.sync()?;
        Ok((len, crc64.map(|c| c.value())))
    });
    let mut hasher = sums.md5.then(|| {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let task = tokio::task::spawn_blocking(move || -> Result<[u8; 16], Lost> {
            let mut md5 = Lanes::global().open();
            while let Some(chunk) = rx.blocking_recv() {
                // With what else has come meanwhile (at most the queue's worth).
                let mut chunks = vec![chunk];
                while let Ok(more) = rx.try_recv() {
                    chunks.push(more);
                }
                md5.update(chunks)?;
            }
            md5.finish()
        });
        (tx, task)
    });

    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    let mut failure: Option<BlobError> = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                total += chunk.len() as u64;
                if total > cap {
                    failure = Some(BlobError::too_large(cap));
                    break;
                }
                if let Some((htx, _)) = &hasher
                    && htx.send(chunk.clone()).await.is_err()
                {
                    failure = Some(BlobError::internal("content hasher stopped"));
                    break;
                }
                if tx.send(chunk).await.is_err() {
                    // The writer stopped: its error is reported below.
                    break;
                }
            }
            Err(e) => {
                failure = Some(BlobError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    format!("The request body could not be read: {e}"),
                ));
                break;
            }
        }
    }
    drop(tx);
    let md5 = match hasher.take() {
        Some((htx, task)) => {
            drop(htx);
            match task.await {
                Ok(Ok(m)) => Some(m),
                Ok(Err(Lost)) => {
                    failure.get_or_insert(BlobError::internal("content hasher lost its stream"));
                    None
                }
                Err(e) => {
                    failure.get_or_insert(BlobError::internal(format!("content hasher: {e}")));
                    None
                }
            }
        }
        None => None,
    };
    let written = writer
        .await
        .map_err(|e| BlobError::internal(format!("content writer: {e}")));
    let result = match (failure, written) {
        (Some(f), _) => Err(f),
        (None, Err(e)) => Err(e),
        (None, Ok(Err(e))) => Err(BlobError::internal(format!(
            "write {}: {e}",
            path.display()
        ))),
        (None, Ok(Ok((len, crc64)))) => Ok(Written {
            file: id,
            len,
            md5,
            crc64,
        }),
    };
    if result.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    result
}

/// A byte range `[start, end]` (inclusive) of a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// A range as requested: `bytes=a-b` or `bytes=a-` (the service does not take suffix ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSpec {
    pub start: u64,
    pub end: Option<u64>,
}

/// Parses `bytes=a-b` / `bytes=a-`; `None` when it is not one of those.
pub fn parse_range(v: &str) -> Option<RangeSpec> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => None,
        b => Some(b.parse::<u64>().ok()?),
    };
    if end.is_some_and(|e| e < start) {
        return None;
    }
    Some(RangeSpec { start, end })
}

impl RangeSpec {
    /// The satisfiable part of the range for a blob of `size` bytes, or 416.
    pub fn resolve(&self, size: u64) -> Result<ByteRange, BlobError> {
        if self.start >= size {
            return Err(BlobError::invalid_range(size));
        }
        let end = self.end.map_or(size - 1, |e| e.min(size - 1));
        Ok(ByteRange {
            start: self.start,
            end,
        })
    }
}

/// The pieces of the segment files that make up `range`: (path, offset in file, length).
fn pieces(segments: &[Segment], range: ByteRange, dir: &Path) -> Vec<(PathBuf, u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    for s in segments {
        let (seg_start, seg_end) = (pos, pos + s.len);
        pos = seg_end;
        if s.len == 0 || seg_end <= range.start || seg_start > range.end {
            continue;
        }
        let from = range.start.max(seg_start);
        let to = (range.end + 1).min(seg_end);
        out.push((dir.join(&s.file), from - seg_start, to - from));
    }
    out
}

/// Content files opened up front by a read; later ones open as the stream reaches them.
const OPEN_AHEAD: usize = 64;

enum Source {
    Open(tokio::fs::File),
    Closed(PathBuf),
}

/// Opens the files of `range` (so that a missing file fails now, not mid-response) and
/// returns a body streaming them.
pub async fn read_range(
    segments: &[Segment],
    range: ByteRange,
    dir: &Path,
) -> std::io::Result<Body> {
    let mut parts = Vec::new();
    for (i, (p, offset, len)) in pieces(segments, range, dir).into_iter().enumerate() {
        let src = if i < OPEN_AHEAD {
            Source::Open(tokio::fs::File::open(&p).await?)
        } else {
            Source::Closed(p)
        };
        parts.push((src, offset, len));
    }
    let stream = futures::stream::unfold(
        (parts.into_iter(), None::<(tokio::fs::File, u64)>),
        |(mut rest, mut current)| async move {
            loop {
                if let Some((mut file, left)) = current.take() {
                    if left == 0 {
                        continue;
                    }
                    let n = left.min(READ_CHUNK as u64) as usize;
                    let mut buf = vec![0u8; n];
                    return match file.read_exact(&mut buf).await {
                        Ok(_) => {
                            Some((Ok(Bytes::from(buf)), (rest, Some((file, left - n as u64)))))
                        }
                        Err(e) => Some((Err(e), (rest, None))),
                    };
                }
                let (src, offset, len) = rest.next()?;
                let opened = match src {
                    Source::Open(f) => Ok(f),
                    Source::Closed(p) => tokio::fs::File::open(&p).await,
                };
                let mut file = match opened {
                    Ok(f) => f,
                    Err(e) => return Some((Err(e), (rest, None))),
                };
                if let Err(e) = file.seek(SeekFrom::Start(offset)).await {
                    return Some((Err(e), (rest, None)));
                }
                current = Some((file, len));
            }
        },
    );
    Ok(Body::from_stream(stream))
}

/// Reads `range` fully (for the small ranges whose MD5 a client asks for).
pub async fn read_to_vec(
    segments: &[Segment],
    range: ByteRange,
    dir: &Path,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(range.len() as usize);
    for (p, offset, len) in pieces(segments, range, dir) {
        let mut f = tokio::fs::File::open(&p).await?;
        f.seek(SeekFrom::Start(offset)).await?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf).await?;
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

pub fn md5_b64(bytes: &[u8]) -> String {
    B64.encode(Md5::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_resolve() {
        assert_eq!(
            parse_range("bytes=2-4"),
            Some(RangeSpec {
                start: 2,
                end: Some(4)
            })
        );
        assert_eq!(
            parse_range("bytes=5-"),
            Some(RangeSpec {
                start: 5,
                end: None
            })
        );
        for bad in [
            "bytes=-5",
            "bytes=4-2",
            "bytes=a-b",
            "2-4",
            "bytes=1-2,4-5",
            "",
        ] {
            assert_eq!(parse_range(bad), None, "{bad}");
        }
        let r = parse_range("bytes=2-100").unwrap().resolve(10).unwrap();
        assert_eq!((r.start, r.end, r.len()), (2, 9, 8));
        assert_eq!(
            parse_range("bytes=10-")
                .unwrap()
                .resolve(10)
                .unwrap_err()
                .code,
            "InvalidRange"
        );
        assert_eq!(
            parse_range("bytes=0-")
                .unwrap()
                .resolve(0)
                .unwrap_err()
                .status,
            416
        );
    }

    #[test]
    fn ranges_map_onto_segments() {
        let seg = |f: &str, len| Segment {
            file: f.into(),
            len,
            block_id: None,
        };
        let segs = [seg("a", 3), seg("z", 0), seg("b", 4), seg("c", 2)];
        let p = Path::new("");
        let got = pieces(&segs, ByteRange { start: 2, end: 7 }, p);
        assert_eq!(
            got,
            vec![
                (PathBuf::from("a"), 2, 1),
                (PathBuf::from("b"), 0, 4),
                (PathBuf::from("c"), 0, 1)
            ]
        );
        assert_eq!(
            pieces(&segs, ByteRange { start: 3, end: 3 }, p),
            vec![(PathBuf::from("b"), 0, 1)]
        );
    }

    #[tokio::test]
    async fn bodies_round_trip_through_files() {
        let d = tempfile::tempdir().unwrap();
        let dir = Arc::new(ContentDir::new(d.path().to_path_buf()));
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        // In many chunks, as a request body comes: the hasher and the writer see them all.
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(65_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let w = write_body(
            dir.clone(),
            Body::from_stream(futures::stream::iter(chunks)),
            10_000_000,
            Sums {
                md5: true,
                crc64: true,
            },
        )
        .await
        .unwrap();
        assert_eq!(w.len, data.len() as u64);
        assert_eq!(w.md5_b64(), Some(md5_b64(&data)));
        assert_eq!(w.crc64, Some(crate::azure::crc64::checksum(&data)));
        // Not asked for: no hash, the same bytes.
        let unhashed = write_body(
            dir.clone(),
            Body::from(data.clone()),
            10_000_000,
            Sums::default(),
        )
        .await
        .unwrap();
        assert_eq!((unhashed.md5, unhashed.crc64), (None, None));
        assert_eq!(std::fs::read(d.path().join(&unhashed.file)).unwrap(), data);
        std::fs::remove_file(d.path().join(&unhashed.file)).unwrap();
        let segs = [Segment {
            file: w.file.clone(),
            len: w.len,
            block_id: None,
        }];
        let body = read_range(
            &segs,
            ByteRange {
                start: 100,
                end: 2_000_000,
            },
            d.path(),
        )
        .await
        .unwrap();
        let got = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(&got[..], &data[100..=2_000_000]);
        // Over the cap: 413 and no file left behind.
        for sums in [
            Sums::default(),
            Sums {
                md5: true,
                crc64: true,
            },
        ] {
            let e = write_body(dir.clone(), Body::from(vec![0u8; 11]), 10, sums)
                .await
                .unwrap_err();
            assert_eq!(e.code, "RequestBodyTooLarge");
            assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn directory_fsyncs_are_shared_and_never_stale() {
        let d = tempfile::tempdir().unwrap();
        let dir = Arc::new(ContentDir::new(d.path().to_path_buf()));
        // Alone: every call runs one of its own.
        dir.sync().unwrap();
        dir.sync().unwrap();
        assert_eq!(dir.state.lock().unwrap().runs, 2);
        // While one runs, the callers that came meanwhile share the next one: it started after
        // they asked (the running one may have missed their files).
        {
            let mut s = dir.state.lock().unwrap();
            s.running = true;
            s.started += 1;
        }
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || dir.sync().unwrap())
            })
            .collect();
        while dir.state.lock().unwrap().calls < 10 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // None returned on the running one's account.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(waiters.iter().all(|w| !w.is_finished()));
        {
            let mut s = dir.state.lock().unwrap();
            s.running = false;
            s.done = s.started;
            dir.finished.notify_all();
        }
        for w in waiters {
            w.join().unwrap();
        }
        let s = dir.state.lock().unwrap();
        assert_eq!(
            (s.runs, s.started, s.done),
            (3, 4, 4),
            "one shared by the eight"
        );
    }
}
