//! Blob content on disk: request bodies streamed into new content files (hashed on the way),
//! and ranges of a blob's segments streamed back out.

use std::io::{SeekFrom, Write};
use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt as _;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::BlobError;
use super::store::Segment;
use crate::azure::crc64::Crc64;

/// Chunks handed from the request to the writer thread at once (bounded: back-pressure).
const WRITE_QUEUE: usize = 16;
/// Write buffer of the content file. Buffers here stay under glibc's initial mmap threshold
/// (128 KiB): larger ones, allocated per request on many threads, scattered freed memory over
/// the allocator's arenas and raised a run's resident memory with the size of its blobs.
const WRITE_BUFFER: usize = 64 << 10;
/// Read size when streaming content out (kept small for the same reason).
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

/// Streams `body` into a new file in `dir`, computing the checksums `sums` asks; fails with 413 past
/// `cap` bytes. The file and `dir` are fsynced before this returns; on any error the file is
/// gone.
pub async fn write_body(
    dir: PathBuf,
    body: Body,
    cap: u64,
    sums: Sums,
) -> Result<Written, BlobError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let path = dir.join(&id);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| BlobError::internal(format!("create {}: {e}", path.display())))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer_path = path.clone();
    type Summed = (u64, Option<[u8; 16]>, Option<u64>);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<Summed> {
        let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut md5 = sums.md5.then(Md5::new);
        let mut crc64 = sums.crc64.then(Crc64::new);
        let mut len = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            if let Some(md5) = md5.as_mut() {
                md5.update(&chunk);
            }
            if let Some(crc64) = crc64.as_mut() {
                crc64.update(&chunk);
            }
            out.write_all(&chunk)?;
            len += chunk.len() as u64;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        if let Some(dir) = writer_path.parent() {
            crate::util::sync_dir(dir)?;
        }
        Ok((
            len,
            md5.map(|m| m.finalize().into()),
            crc64.map(|c| c.value()),
        ))
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
        (None, Ok(Ok((len, md5, crc64)))) => Ok(Written {
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
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let w = write_body(
            d.path().to_path_buf(),
            Body::from(data.clone()),
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
            d.path().to_path_buf(),
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
        let e = write_body(
            d.path().to_path_buf(),
            Body::from(vec![0u8; 11]),
            10,
            Sums::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "RequestBodyTooLarge");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
