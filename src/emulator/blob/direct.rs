//! Content files written with direct I/O (`O_DIRECT`): a body's bytes go from an aligned
//! buffer to the disk without being copied into the page cache first. Copying each byte into
//! newly allocated page-cache pages (and later writing them back and freeing them) was the
//! largest single cost of a large upload to the emulator (28% of its CPU samples, `perf record`
//! on `cargo bench --bench upload`); a copy into a reused buffer in user space is several
//! times cheaper. Where the file system refuses direct I/O, the same buffers are written the
//! ordinary way. The last piece of a file (shorter than the alignment) is always written the
//! ordinary way, so that a file has exactly its body's length. Durability is unchanged: the
//! caller still fsyncs the file and its directory.

use std::fs::File;
use std::io::{ErrorKind, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// Alignment of direct I/O's memory, file offsets and lengths (the largest logical block size
/// of common disks).
const ALIGN: usize = 4096;
/// One write: the size of a buffer. Large enough that a direct write (which waits for the
/// disk) moves a good share of a block at once, small enough that the bodies in flight hold
/// little memory.
pub const DIRECT_WRITE: usize = 1 << 20;
/// Buffers kept for the next bodies once written. Freed buffers of this size would raise
/// glibc's mmap threshold and come back from its arenas, scattered over threads (resident
/// memory then grew with the size of the blobs written): they are kept and reused instead,
/// at most this many.
const SPARE_BUFFERS: usize = 16;

/// A `DIRECT_WRITE`-byte buffer aligned for direct I/O (inside an allocation one alignment
/// larger), and how much of it is filled.
struct Buffer {
    bytes: Box<[u8]>,
    /// Where the aligned part starts.
    start: usize,
    filled: usize,
}

impl Buffer {
    fn new() -> Buffer {
        let bytes = vec![0u8; DIRECT_WRITE + ALIGN].into_boxed_slice();
        let start = (ALIGN - bytes.as_ptr().addr() % ALIGN) % ALIGN;
        Buffer {
            bytes,
            start,
            filled: 0,
        }
    }

    /// Copies as much of `data` as fits; returns how much did.
    fn fill(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(DIRECT_WRITE - self.filled);
        let at = self.start + self.filled;
        self.bytes[at..at + n].copy_from_slice(&data[..n]);
        self.filled += n;
        n
    }

    fn filled(&self) -> &[u8] {
        &self.bytes[self.start..self.start + self.filled]
    }
}

/// The buffers of the bodies being written, reused from one body to the next.
#[derive(Default)]
pub struct Buffers {
    spare: Mutex<Vec<Buffer>>,
}

impl Buffers {
    fn take(&self) -> Buffer {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        spare.unwrap_or_else(Buffer::new)
    }

    fn give_back(&self, mut buffer: Buffer) {
        buffer.filled = 0;
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_BUFFERS {
            spare.push(buffer);
        }
    }

    #[cfg(test)]
    fn spare(&self) -> usize {
        self.spare.lock().unwrap().len()
    }
}

/// Creates the new file `path` for writing, with direct I/O when its file system takes it;
/// says whether it does.
pub fn create(path: &Path) -> std::io::Result<(File, bool)> {
    let direct = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(OFlag::O_DIRECT.bits())
        .open(path);
    match direct {
        Ok(file) => Ok((file, true)),
        // A file system without direct I/O refuses it once the file is created.
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            Ok((file, false))
        }
        Err(e) => Err(e),
    }
}

/// A buffer lent to one writer, given back to its pool when dropped.
struct Lease {
    buffer: Option<Buffer>,
    buffers: Arc<Buffers>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.buffers.give_back(buffer);
        }
    }
}

/// Writes a file from start to end through one aligned buffer: each full buffer in one write,
/// direct when the file was opened so (and the file system takes the write), the rest when
/// finished.
pub struct ContentWriter {
    file: File,
    direct: bool,
    lease: Lease,
}

impl ContentWriter {
    /// `direct`: `file` was opened with `O_DIRECT` (see [`create`]).
    pub fn new(file: File, direct: bool, buffers: Arc<Buffers>) -> ContentWriter {
        ContentWriter {
            file,
            direct,
            lease: Lease {
                buffer: Some(buffers.take()),
                buffers,
            },
        }
    }

    fn buffer(&mut self) -> &mut Buffer {
        self.lease.buffer.as_mut().expect("a buffer until dropped")
    }

    /// Appends `data`.
    pub fn write(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let buffer = self.buffer();
            let n = buffer.fill(data);
            data = &data[n..];
            if buffer.filled == DIRECT_WRITE {
                self.write_buffer()?;
            }
        }
        Ok(())
    }

    /// Writes what is buffered and returns the file (not yet fsynced).
    pub fn finish(mut self) -> std::io::Result<File> {
        let left = self.buffer().filled;
        if !left.is_multiple_of(ALIGN) && self.direct {
            // Direct I/O writes whole aligned blocks only: the end goes the ordinary way.
            self.direct = false;
            set_direct(&self.file, false)?;
        }
        if left > 0 {
            self.write_buffer()?;
        }
        Ok(self.file)
    }

    /// Writes the buffer out and empties it.
    fn write_buffer(&mut self) -> std::io::Result<()> {
        let buffer = self.lease.buffer.as_mut().expect("a buffer until dropped");
        let mut done = 0;
        while done < buffer.filled {
            match self.file.write(&buffer.filled()[done..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The file system took O_DIRECT at open but not this write (or a short write
                // left the rest unaligned): the rest goes the ordinary way.
                Err(e) if e.kind() == ErrorKind::InvalidInput && self.direct => {
                    self.direct = false;
                    set_direct(&self.file, false)?;
                }
                Err(e) => return Err(e),
            }
        }
        buffer.filled = 0;
        Ok(())
    }
}

/// Turns `O_DIRECT` on or off on an open file.
fn set_direct(file: &File, on: bool) -> std::io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(file, FcntlArg::F_GETFL)?);
    let flags = if on {
        flags | OFlag::O_DIRECT
    } else {
        flags - OFlag::O_DIRECT
    };
    fcntl(file, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_direct(file: &File) -> bool {
        let flags = fcntl(file, FcntlArg::F_GETFL).unwrap();
        OFlag::from_bits_truncate(flags).contains(OFlag::O_DIRECT)
    }

    /// Every length (empty, under, at and past the alignment and the buffer) comes out whole,
    /// in whatever pieces it came, with direct I/O or without; direct I/O stays on for the
    /// whole buffers when the file system takes it.
    #[test]
    fn files_have_exactly_their_bytes_whatever_the_pieces() {
        let d = tempfile::tempdir().unwrap();
        let buffers = Arc::new(Buffers::default());
        let lens = [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            DIRECT_WRITE - 1,
            DIRECT_WRITE,
            DIRECT_WRITE + 1,
            3 * DIRECT_WRITE + 12_345,
        ];
        for (i, &len) in lens.iter().enumerate() {
            let data: Vec<u8> = (0..len).map(|j| (j * 7 % 251) as u8).collect();
            for piece in [1, 65_000, DIRECT_WRITE + 3] {
                if piece == 1 && len > 2 * ALIGN + 1 {
                    continue;
                }
                for try_direct in [true, false] {
                    let path = d.path().join(format!("{i}-{piece}-{try_direct}"));
                    let (file, direct) = if try_direct {
                        create(&path).unwrap()
                    } else {
                        let f = std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&path)
                            .unwrap();
                        (f, false)
                    };
                    let mut w = ContentWriter::new(file, direct, buffers.clone());
                    for c in data.chunks(piece) {
                        w.write(c).unwrap();
                    }
                    if direct {
                        assert!(
                            is_direct(&w.file) && w.direct,
                            "the whole buffers went direct"
                        );
                    }
                    let file = w.finish().unwrap();
                    file.sync_all().unwrap();
                    drop(file);
                    let got = std::fs::read(&path).unwrap();
                    assert_eq!(got.len(), len, "{path:?}");
                    assert!(got == data, "{path:?} has other bytes");
                }
            }
        }
        assert_eq!(
            buffers.spare(),
            1,
            "one writer at a time: one buffer, reused"
        );
    }

    #[test]
    fn buffers_are_reused_and_at_most_a_few_kept() {
        let buffers = Arc::new(Buffers::default());
        let d = tempfile::tempdir().unwrap();
        let writers: Vec<ContentWriter> = (0..SPARE_BUFFERS + 4)
            .map(|i| {
                let (f, direct) = create(&d.path().join(i.to_string())).unwrap();
                ContentWriter::new(f, direct, buffers.clone())
            })
            .collect();
        let held: Vec<*const u8> = writers
            .iter()
            .map(|w| w.lease.buffer.as_ref().unwrap().filled().as_ptr())
            .collect();
        drop(writers);
        assert_eq!(buffers.spare(), SPARE_BUFFERS);
        let (f, direct) = create(&d.path().join("again")).unwrap();
        let mut w = ContentWriter::new(f, direct, buffers.clone());
        let at = w.buffer().filled().as_ptr();
        assert!(held.contains(&at), "a kept buffer is lent again");
        assert_eq!(w.buffer().filled, 0, "empty when lent again");
    }
}
