//! MD5 of many request bodies at once, in the lanes of SIMD registers (multi-buffer MD5: one
//! message per 32-bit lane, 16 with AVX-512, 8 with AVX2, chosen at run time by `md5-many`).
//!
//! One MD5 is a chain from each 64-byte block to the next, so a single stream cannot go faster
//! than one core's scalar MD5 (about 0.6 GB/s); the Put Blobs in flight are independent
//! messages, so one core can hash 8 or 16 of them together at several GB/s. The hasher of each
//! body hands its chunks to [`Lanes`], whose one thread takes every stream's pending chunks
//! and hashes them together in one round, while the hashers queue their next chunks for the
//! next round (the more bodies arrive at once, the fuller the rounds). It never waits for more
//! streams to come: a body alone is hashed alone, at scalar speed. A stream has at most one
//! batch of chunks waiting and one being hashed (each batch at most what its queue from the
//! request holds), so memory stays bounded; its MD5 is read once all of them are hashed.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use axum::body::Bytes;
use md5_many::{Md5Many, Md5State};

/// Streams hashed in one call. `md5-many` is fast with exactly 8 or 16 streams of equal,
/// block-aligned lengths (3-5 GB/s on one core here) and far slower with other counts (5-7
/// streams: about 0.15 GB/s in total), so a group is padded with copies of its first stream
/// up to 8 or 16 (the lanes run anyway).
const GROUP: usize = 16;
const HALF_GROUP: usize = 8;

/// How often an idle hashing thread checks whether its lanes are still used (it ends once
/// they are dropped; the process-wide ones never are).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// A stream's hashing was lost: hashing its chunks panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

/// The streams being hashed, shared by the hashers of the bodies in flight, and the thread
/// hashing them.
pub struct Lanes {
    engine: Md5Many,
    shared: Mutex<Shared>,
    /// Chunks were queued (the hashing thread waits on it).
    queued: Condvar,
    /// A round ended (the hashers wait on it).
    hashed: Condvar,
}

#[derive(Default)]
struct Shared {
    /// Open streams by id (`None`: a free id, kept in `free`).
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
}

struct Slot {
    md5: Md5State,
    /// Chunks handed in and not yet taken for hashing.
    queue: Vec<Bytes>,
    /// Taken by the round running now.
    in_flight: bool,
    lost: bool,
}

impl Lanes {
    /// New lanes and their hashing thread (which ends once they are dropped).
    pub fn new() -> Arc<Lanes> {
        let lanes = Arc::new(Lanes {
            engine: Md5Many::new(),
            shared: Mutex::default(),
            queued: Condvar::new(),
            hashed: Condvar::new(),
        });
        let weak = Arc::downgrade(&lanes);
        std::thread::Builder::new()
            .name("md5-lanes".into())
            .spawn(move || Lanes::work(weak))
            .expect("start the MD5 hashing thread");
        lanes
    }

    /// The lanes shared by every body of the process.
    pub fn global() -> &'static Arc<Lanes> {
        static LANES: OnceLock<Arc<Lanes>> = OnceLock::new();
        LANES.get_or_init(Lanes::new)
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new, empty message.
    pub fn open(self: &Arc<Self>) -> Md5Stream {
        let mut s = self.lock();
        let slot = Slot {
            md5: Md5State::new(),
            queue: Vec::new(),
            in_flight: false,
            lost: false,
        };
        let id = match s.free.pop() {
            Some(id) => {
                s.slots[id] = Some(slot);
                id
            }
            None => {
                s.slots.push(Some(slot));
                s.slots.len() - 1
            }
        };
        Md5Stream {
            lanes: self.clone(),
            id,
        }
    }

    /// The hashing thread: round after round, every stream's pending chunks at once.
    fn work(weak: Weak<Lanes>) {
        while let Some(lanes) = weak.upgrade() {
            let mut s = lanes.lock();
            let mut ids = Vec::new();
            let mut work = Vec::new();
            for (id, slot) in s.slots.iter_mut().enumerate() {
                if let Some(slot) = slot
                    && !slot.queue.is_empty()
                {
                    slot.in_flight = true;
                    ids.push(id);
                    work.push((slot.md5, std::mem::take(&mut slot.queue)));
                }
            }
            if work.is_empty() {
                let _ = lanes.queued.wait_timeout(s, IDLE_CHECK);
                continue;
            }
            drop(s);
            let hashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                hash(lanes.engine, &mut work);
            }));
            let mut s = lanes.lock();
            for (id, (md5, _)) in ids.into_iter().zip(work) {
                let slot = slot(&mut s, id);
                slot.md5 = md5;
                slot.in_flight = false;
                slot.lost |= hashed.is_err();
            }
            lanes.hashed.notify_all();
        }
    }

    fn wait<'a>(&'a self, s: MutexGuard<'a, Shared>) -> MutexGuard<'a, Shared> {
        self.hashed.wait(s).unwrap_or_else(|p| p.into_inner())
    }
}

/// One message being hashed (a request body). Dropping it forgets the message.
pub struct Md5Stream {
    lanes: Arc<Lanes>,
    id: usize,
}

impl Md5Stream {
    /// Appends `chunks` to the message. Returns once they are queued for the next round,
    /// after the stream's previous chunks were taken: a stream has at most one batch waiting
    /// and one being hashed.
    pub fn update(&mut self, chunks: Vec<Bytes>) -> Result<(), Lost> {
        let mut s = self.when(|mine| mine.queue.is_empty())?;
        slot(&mut s, self.id).queue = chunks;
        self.lanes.queued.notify_one();
        Ok(())
    }

    /// The MD5 of everything handed in, once it is hashed.
    pub fn finish(self) -> Result<[u8; 16], Lost> {
        let mut s = self.when(|mine| mine.queue.is_empty() && !mine.in_flight)?;
        Ok(slot(&mut s, self.id).md5.finalize())
    }

    /// The lock, once `ready` holds for this stream's slot (rounds end until it does); `Lost`
    /// if hashing its chunks panicked.
    fn when(&self, ready: impl Fn(&Slot) -> bool) -> Result<MutexGuard<'_, Shared>, Lost> {
        let mut s = self.lanes.lock();
        loop {
            let mine = slot(&mut s, self.id);
            if mine.lost {
                return Err(Lost);
            }
            if ready(mine) {
                return Ok(s);
            }
            s = self.lanes.wait(s);
        }
    }
}

impl Drop for Md5Stream {
    fn drop(&mut self) {
        let mut s = self.lanes.lock();
        // Not while its chunks are hashed (it writes the state back to this slot).
        while s.slots[self.id].as_ref().is_some_and(|m| m.in_flight) {
            s = self.lanes.wait(s);
        }
        s.slots[self.id] = None;
        s.free.push(self.id);
    }
}

fn slot(s: &mut Shared, id: usize) -> &mut Slot {
    s.slots[id].as_mut().expect("an open stream has a slot")
}

/// Where a stream is in its chunks.
#[derive(Clone, Copy, Default)]
struct Cursor {
    chunk: usize,
    offset: usize,
}

/// Hashes each stream's chunks into its state: the streams whose next bytes are block-aligned
/// step together by the length all of them have at hand (whole blocks), in groups of 8 or 16;
/// the few bytes around chunk ends that break the alignment are hashed one stream at a time.
/// Returns the number of 64-byte blocks hashed in groups of two streams or more.
fn hash(engine: Md5Many, work: &mut [(Md5State, Vec<Bytes>)]) -> u64 {
    let mut at = vec![Cursor::default(); work.len()];
    let front = |work: &[(Md5State, Vec<Bytes>)], at: &[Cursor], i: usize| -> Option<Bytes> {
        let c = at[i];
        work[i].1.get(c.chunk).map(|b| b.slice(c.offset..))
    };
    let advance = |work: &[(Md5State, Vec<Bytes>)], at: &mut [Cursor], i: usize, n: usize| {
        let c = &mut at[i];
        c.offset += n;
        while c.chunk < work[i].1.len() && c.offset == work[i].1[c.chunk].len() {
            c.chunk += 1;
            c.offset = 0;
        }
    };
    for i in 0..work.len() {
        advance(work, &mut at, i, 0);
    }
    let mut in_lanes = 0u64;
    let mut ready: Vec<(usize, Bytes)> = Vec::with_capacity(work.len());
    loop {
        ready.clear();
        for i in 0..work.len() {
            while let Some(f) = front(work, &at, i) {
                let partial = (work[i].0.bytes_hashed() % 64) as usize;
                let n = if partial != 0 {
                    (64 - partial).min(f.len())
                } else if f.len() < 64 {
                    f.len()
                } else {
                    ready.push((i, f));
                    break;
                };
                work[i].0.update(&f[..n]);
                advance(work, &mut at, i, n);
            }
        }
        if ready.is_empty() {
            return in_lanes;
        }
        for group in ready.chunks(GROUP) {
            let len = group.iter().map(|(_, f)| f.len()).min().unwrap_or(0) & !63;
            if let [(i, f)] = group {
                work[*i].0.update(&f[..len]);
            } else {
                let width = if group.len() <= HALF_GROUP {
                    HALF_GROUP
                } else {
                    GROUP
                };
                let mut states = [Md5State::new(); GROUP];
                let mut inputs: [&[u8]; GROUP] = [&group[0].1[..len]; GROUP];
                for (k, (i, f)) in group.iter().enumerate() {
                    states[k] = work[*i].0;
                    inputs[k] = &f[..len];
                }
                engine.update_many(&mut states[..width], &inputs[..width]);
                for (k, (i, _)) in group.iter().enumerate() {
                    work[*i].0 = states[k];
                }
                in_lanes += (group.len() * len / 64) as u64;
            }
            for (i, _) in group {
                advance(work, &mut at, *i, len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn xorshift(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// `data` cut into chunks of random sizes (some empty, some under a block, some large).
    fn chunked(data: &Bytes, seed: &mut u64) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let most =
                [1, 63, 64, 65, 1000, 16 << 10, 64 << 10, 300 << 10][(xorshift(seed) % 8) as usize];
            let n = (xorshift(seed) as usize % (most + 1)).min(data.len() - at);
            out.push(data.slice(at..at + n));
            at += n;
        }
        out
    }

    fn body(len: usize, seed: &mut u64) -> Bytes {
        (0..len)
            .map(|_| xorshift(seed) as u8)
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn streams_hashed_together_hash_as_md5_does_whatever_their_sizes_and_chunks() {
        let engine = Md5Many::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let mut together = 0;
        // 1 stream, under a half group, a half group, a group, over a group.
        for streams in [1, 2, 3, 5, 8, 9, 13, 16, 17, 40] {
            for _ in 0..2 {
                let bodies: Vec<Bytes> = (0..streams)
                    .map(|k| {
                        let n = match k % 5 {
                            0 => xorshift(&mut seed) as usize % 130,
                            1 => 1 << 20,
                            _ => xorshift(&mut seed) as usize % (200 << 10),
                        };
                        body(n, &mut seed)
                    })
                    .collect();
                let mut work: Vec<(Md5State, Vec<Bytes>)> = bodies
                    .iter()
                    .map(|_| (Md5State::new(), Vec::new()))
                    .collect();
                // Handed in several rounds, each stream a random part of its chunks per round.
                let mut pending: Vec<Vec<Bytes>> =
                    bodies.iter().map(|b| chunked(b, &mut seed)).collect();
                while pending.iter().any(|p| !p.is_empty()) {
                    for (w, p) in work.iter_mut().zip(&mut pending) {
                        let n = (xorshift(&mut seed) as usize % 4).min(p.len());
                        w.1 = p.drain(..n).collect();
                    }
                    together += hash(engine, &mut work);
                }
                for (b, (md5, _)) in bodies.iter().zip(&work) {
                    let want: [u8; 16] = Md5::digest(b).into();
                    assert_eq!(md5.finalize(), want, "{} bytes of {streams}", b.len());
                }
            }
        }
        assert!(together > 0, "streams were hashed in lanes together");
    }

    #[test]
    fn bodies_hashed_at_once_on_many_threads_get_their_own_md5() {
        let lanes = Lanes::new();
        let threads: Vec<_> = (0..20u64)
            .map(|t| {
                let lanes = lanes.clone();
                std::thread::spawn(move || {
                    let mut seed = 0x2545_f491_4f6c_dd1d ^ (t + 1);
                    for round in 0..3 {
                        let len = match (t + round) % 4 {
                            0 => 0,
                            1 => 65,
                            _ => xorshift(&mut seed) as usize % (1 << 20),
                        };
                        let data = body(len, &mut seed);
                        let mut s = lanes.open();
                        let chunks = chunked(&data, &mut seed);
                        for batch in chunks.chunks(1 + (xorshift(&mut seed) % 5) as usize) {
                            s.update(batch.to_vec()).unwrap();
                        }
                        let want: [u8; 16] = Md5::digest(&data).into();
                        assert_eq!(s.finish().unwrap(), want, "thread {t} round {round}");
                    }
                })
            })
            .collect();
        // A stream left waiting is a failure, not a hang of the test run.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !threads.iter().all(|t| t.is_finished()) {
            assert!(
                std::time::Instant::now() < deadline,
                "a hasher waits forever"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for t in threads {
            t.join().unwrap();
        }
        let s = lanes.lock();
        assert!(s.slots.iter().all(Option::is_none), "every stream closed");
    }
}
