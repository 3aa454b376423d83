//! The log viewer's search over the whole file: `n` reads on from where the viewer is to the
//! end of the file by byte ranges of [`RANGE`], `N` back to its start, each range overlapping
//! the one before by the pattern's length less one so that a match across a boundary is
//! found. At most one range is held at a time. Matching is ASCII case-insensitive, as the
//! viewer's own lines are matched ([`Needle::is_in`]). No wrap-around, as in `less`: at the end
//! (or start) of the file the search says the pattern is not found.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::workflow::events::FilesOf;

/// Bytes each read of a search asks for.
pub const RANGE: u64 = 4 * 1024 * 1024;

/// A search the log viewer asks the watcher to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// Each search its own, so that news of one cancelled never reaches the next.
    pub id: u64,
    pub of: FilesOf,
    pub path: String,
    pub pattern: String,
    /// Forward: from this byte on; backward: for a match that starts before it.
    pub from: u64,
    pub forward: bool,
}

impl Ask {
    pub fn new(of: FilesOf, path: String, pattern: String, from: u64, forward: bool) -> Ask {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Ask {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            of,
            path,
            pattern,
            from,
            forward,
        }
    }
}

/// What a search running in the watcher tells the viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum News {
    /// Bytes searched so far, of `total`.
    Progress { searched: u64, total: u64 },
    /// It ended (or failed: the error, to show).
    Done(Result<Found, String>),
}

/// A search pattern, lower-cased (ASCII) once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle(Vec<u8>);

impl Needle {
    /// `None` for an empty pattern.
    pub fn new(pattern: &str) -> Option<Needle> {
        (!pattern.is_empty()).then(|| Needle(pattern.as_bytes().to_ascii_lowercase()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `line` contains it (ASCII case-insensitive).
    pub fn is_in(&self, line: &str) -> bool {
        self.find(&mut line.as_bytes().to_vec(), true).is_some()
    }

    /// The first (`forward`) or last match in `hay`, lower-cased in place.
    fn find(&self, hay: &mut [u8], forward: bool) -> Option<usize> {
        hay.make_ascii_lowercase();
        if forward {
            memchr::memmem::find(hay, &self.0)
        } else {
            memchr::memmem::rfind(hay, &self.0)
        }
    }
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A match starts at this byte offset.
    At(u64),
    /// None between where it started and the end (or start) of the file.
    Nowhere,
    /// `progress` asked to stop.
    Cancelled,
}

/// A search of a file: what, where from, which way, by reads of what size.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub needle: &'a Needle,
    /// The file's length when the search starts.
    pub len: u64,
    /// Forward: for the first match that starts at or after this byte; backward: for the last
    /// one that starts before it.
    pub from: u64,
    pub forward: bool,
    /// Bytes each read asks for at most.
    pub range: u64,
}

/// Runs `req`: `read(a, b)` reads the bytes `a..b`, at most `req.range` of them;
/// `progress(bytes searched)` is told after each read and stops the search when it returns
/// false (bytes searched: from `from` on). Forward, at the end `len_now()` is asked the file's
/// length again, if anything was read since it was last known: a file that grew meanwhile (a
/// followed task's output) is searched on to its new end.
pub async fn search<R, F, L, G, E>(
    req: Request<'_>,
    mut read: R,
    mut len_now: L,
    mut progress: impl FnMut(u64) -> bool,
) -> Result<Found, E>
where
    R: FnMut(u64, u64) -> F,
    F: Future<Output = Result<Vec<u8>, E>>,
    L: FnMut() -> G,
    G: Future<Output = Result<u64, E>>,
{
    let Request {
        needle,
        len,
        from,
        forward,
        range,
    } = req;
    let overlap = needle.len() as u64 - 1;
    // Each read moves on by at least one byte, however long the pattern.
    let range = range.max(overlap + 1);
    let from = from.min(len);
    if forward {
        let (mut a, mut len) = (from, len);
        loop {
            let mut read_since_len = false;
            while a + overlap < len {
                read_since_len = true;
                let b = len.min(a + range);
                let mut chunk = read(a, b).await?;
                if let Some(i) = needle.find(&mut chunk, true) {
                    return Ok(Found::At(a + i as u64));
                }
                if !progress(b - from) {
                    return Ok(Found::Cancelled);
                }
                if b == len {
                    break;
                }
                a = b - overlap;
            }
            // With nothing read since, the length known is as new as another answer would be.
            if !read_since_len {
                break;
            }
            let now = len_now().await?;
            if now <= len {
                break;
            }
            // On from the old end (less what a match across it may have there).
            a = a.max(len.saturating_sub(overlap));
            len = now;
        }
    } else {
        // A match that starts before `from` may end up to `overlap` bytes after it.
        let mut b = len.min(from + overlap);
        while b > overlap {
            let a = b.saturating_sub(range);
            let mut chunk = read(a, b).await?;
            if let Some(i) = needle.find(&mut chunk, false) {
                return Ok(Found::At(a + i as u64));
            }
            if !progress(from - a.min(from)) {
                return Ok(Found::Cancelled);
            }
            if a == 0 {
                break;
            }
            b = a + overlap;
        }
    }
    Ok(Found::Nowhere)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Searches `text` by ranges of `range` bytes, recording each read; `stop_after` reads,
    /// progress asks to stop.
    fn run(
        text: &str,
        from: u64,
        forward: bool,
        pattern: &str,
        range: u64,
        stop_after: usize,
    ) -> (Found, Vec<(u64, u64)>, Vec<u64>) {
        let mut reads = Vec::new();
        let mut told = Vec::new();
        let needle = Needle::new(pattern).unwrap();
        let len = text.len() as u64;
        let req = Request {
            needle: &needle,
            len,
            from,
            forward,
            range,
        };
        let found = futures_lite_block_on(search(
            req,
            |a, b| {
                reads.push((a, b));
                assert!(b - a <= range, "read {a}..{b} is more than {range} bytes");
                let chunk = text.as_bytes()[a as usize..b as usize].to_vec();
                async move { Ok::<_, ()>(chunk) }
            },
            || async move { Ok(len) },
            |n| {
                told.push(n);
                told.len() < stop_after
            },
        ))
        .unwrap();
        (found, reads, told)
    }

    fn futures_lite_block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_match_across_a_range_boundary_is_found() {
        // 10-byte ranges; "needle" spans bytes 7..13, across the first boundary.
        let text = "abcdefgNEEDLExxxxxxxxxxxxxxxxxxx";
        let (found, reads, _) = run(text, 0, true, "needle", 10, usize::MAX);
        assert_eq!(found, Found::At(7));
        // The second range starts pattern length - 1 bytes before the first one's end.
        assert_eq!(reads, vec![(0, 10), (5, 15)]);
        // Backward from the end, the same.
        let (found, reads, _) = run(text, text.len() as u64, false, "needle", 10, usize::MAX);
        assert_eq!(found, Found::At(7));
        assert_eq!(reads.first(), Some(&(22, 32)));
        assert!(reads.iter().all(|(a, b)| b - a <= 10));
    }

    #[test]
    fn forward_finds_the_first_match_from_where_it_starts() {
        let text = "one x\ntwo x\nthree x\nfour x\n";
        let (found, _, _) = run(text, 0, true, "X", 4, usize::MAX);
        assert_eq!(found, Found::At(4));
        let (found, _, _) = run(text, 5, true, "x", 4, usize::MAX);
        assert_eq!(found, Found::At(10));
    }

    #[test]
    fn backward_finds_the_last_match_before_where_it_starts() {
        let text = "one x\ntwo x\nthree x\nfour x\n";
        let (found, _, _) = run(text, text.len() as u64, false, "x", 4, usize::MAX);
        assert_eq!(found, Found::At(25));
        // The last of several in one range.
        let (found, _, _) = run(text, text.len() as u64, false, "x", 100, usize::MAX);
        assert_eq!(found, Found::At(25));
        // Before offset 18 ("three x" has its x at 18): two's x.
        let (found, _, _) = run(text, 18, false, "x", 4, usize::MAX);
        assert_eq!(found, Found::At(10));
        // A match that starts before `from` and ends after it is found.
        let (found, _, _) = run(text, 13, false, "three", 8, usize::MAX);
        assert_eq!(found, Found::At(12));
        let (found, _, _) = run(text, 12, false, "three", 8, usize::MAX);
        assert_eq!(found, Found::Nowhere);
    }

    #[test]
    fn no_match_reads_to_the_end_once_and_says_so() {
        let text = "a".repeat(95);
        let (found, reads, told) = run(&text, 0, true, "ab", 10, usize::MAX);
        assert_eq!(found, Found::Nowhere);
        assert_eq!(reads.last().map(|r| r.1), Some(95));
        assert_eq!(told.last(), Some(&95));
        let (found, reads, told) = run(&text, 95, false, "ab", 10, usize::MAX);
        assert_eq!(found, Found::Nowhere);
        assert_eq!(reads.last().map(|r| r.0), Some(0));
        assert_eq!(told.last(), Some(&95));
        // Nothing to search past the end.
        let (found, reads, _) = run(&text, 95, true, "ab", 10, usize::MAX);
        assert_eq!((found, reads.len()), (Found::Nowhere, 0));
    }

    #[test]
    fn a_cancelled_search_stops_reading() {
        let text = format!("{}needle", "a".repeat(100));
        let (found, reads, told) = run(&text, 0, true, "needle", 10, 3);
        assert_eq!(found, Found::Cancelled);
        assert_eq!(reads.len(), 3);
        assert_eq!(told, vec![10, 15, 20]);
    }

    /// A file that grows while it is searched (a followed task's output): at its old end the
    /// search reads its length again and goes on to the new end, where the match is.
    #[test]
    fn a_growing_file_is_searched_to_its_length_at_the_end() {
        let text = format!("{}needle\n", "a".repeat(40));
        let first = 20;
        let mut reads = Vec::new();
        let mut asked = 0;
        let needle = Needle::new("needle").unwrap();
        let req = Request {
            needle: &needle,
            len: first,
            from: 0,
            forward: true,
            range: 8,
        };
        let found = futures_lite_block_on(search(
            req,
            |a, b| {
                reads.push((a, b));
                let chunk = text.as_bytes()[a as usize..b as usize].to_vec();
                async move { Ok::<_, ()>(chunk) }
            },
            || {
                asked += 1;
                // Longer once, then no longer growing.
                let now = if asked == 1 { 30 } else { text.len() as u64 };
                async move { Ok(now) }
            },
            |_| true,
        ))
        .unwrap();
        assert_eq!(found, Found::At(40));
        // The old end, read on from with the pattern's overlap, then the newer one.
        assert_eq!(reads[..3], [(0, 8), (3, 11), (6, 14)]);
        assert!(reads.contains(&(12, 20)) && reads.contains(&(15, 23)));
        assert_eq!(asked, 2);
    }

    /// `n` where nothing is left to read (at the end, or within the pattern's length of it)
    /// asks no length: the one the search started with is as new. Once it has read, it asks
    /// once (the file may have grown meanwhile).
    #[test]
    fn the_length_is_asked_again_only_after_a_read() {
        let text = "a".repeat(20);
        let needle = Needle::new("ab").unwrap();
        for (from, want_reads, want_asked) in [(20, 0, 0), (19, 0, 0), (12, 1, 1)] {
            let (mut reads, mut asked) = (0, 0);
            let req = Request {
                needle: &needle,
                len: 20,
                from,
                forward: true,
                range: 8,
            };
            let found = futures_lite_block_on(search(
                req,
                |a, b| {
                    reads += 1;
                    let chunk = text.as_bytes()[a as usize..b as usize].to_vec();
                    async move { Ok::<_, ()>(chunk) }
                },
                || {
                    asked += 1;
                    async move { Ok(20) }
                },
                |_| true,
            ))
            .unwrap();
            assert_eq!(
                (found, reads, asked),
                (Found::Nowhere, want_reads, want_asked),
                "from {from}"
            );
        }
    }

    #[test]
    fn case_is_ignored_as_in_the_viewer_s_lines() {
        let n = Needle::new("Error").unwrap();
        assert!(n.is_in("an ERROR here"));
        assert!(!n.is_in("an err or"));
        assert!(Needle::new("").is_none());
    }
}
