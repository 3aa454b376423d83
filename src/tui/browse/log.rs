//! The log viewer's model: a window of a file, read by byte range, so that a 1 GiB stdout
//! opens with one read of its end (or start) and pages without loading the whole file. The
//! viewer keeps at most [`KEEP`] bytes; moving past them asks the watcher for another window
//! ([`Log::want`]); following a file that grows reads only its new bytes.

use crate::tui::browse::search::{self, Needle};
use crate::workflow::events::FilesOf;

/// Bytes one read asks for.
pub const WINDOW: u64 = 64 * 1024;
/// Most bytes the viewer keeps (a followed file drops its oldest lines past this).
pub const KEEP: usize = 4 * WINDOW as usize;

/// What the viewer asks the watcher to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub of: FilesOf,
    pub path: String,
    /// Where the window starts; `None`: its last [`WINDOW`] bytes.
    pub from: Option<u64>,
    /// Keep reading what is appended.
    pub follow: bool,
}

/// A file on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub of: FilesOf,
    pub path: String,
    /// The file's length when last read.
    pub len: Option<u64>,
    /// The byte offset of `text` in the file.
    pub start: u64,
    /// The lines held (whole lines: a window that starts mid-line drops its first part).
    pub text: String,
    /// Where each line of `text` starts.
    lines: Vec<usize>,
    /// The first line on screen (an index into the lines held).
    pub top: usize,
    /// The file offset the top line should be at once the window asked for arrives.
    anchor: Option<u64>,
    /// Following the end as it grows.
    pub follow: bool,
    pub wrap: bool,
    pub search: String,
    /// The search over the file running now (`n` / `N` past the lines held).
    pub searching: Option<Searching>,
    /// The window asked of the watcher.
    pub want: Want,
}

/// A search over the file by byte ranges (the watcher runs it; Esc cancels it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Searching {
    pub ask: search::Ask,
    /// Bytes searched so far, of `total` (unknown until the file's length is read).
    pub searched: u64,
    pub total: Option<u64>,
}

/// What `n` / `N` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The top line is the next match now.
    Moved,
    /// The lines held have none: a search of the file past them started.
    Searching,
    /// No match to the end (forward) or the start of the file.
    Nowhere,
    /// No search text.
    NoSearch,
}

impl Log {
    /// A file opened at its end, followed.
    pub fn open(of: FilesOf, path: String) -> Log {
        let want = Want {
            of: of.clone(),
            path: path.clone(),
            from: None,
            follow: true,
        };
        Log {
            of,
            path,
            len: None,
            start: 0,
            text: String::new(),
            lines: vec![0],
            top: 0,
            anchor: None,
            follow: true,
            wrap: false,
            search: String::new(),
            searching: None,
            want,
        }
    }

    pub fn line_count(&self) -> usize {
        if self.text.is_empty() {
            0
        } else {
            self.lines.len() - usize::from(self.text.ends_with('\n'))
        }
    }

    /// Line `i` of those held, without its newline.
    pub fn line(&self, i: usize) -> &str {
        let a = self.lines[i];
        let b = self.lines.get(i + 1).copied().unwrap_or(self.text.len());
        self.text[a..b].trim_end_matches(['\n', '\r'])
    }

    /// Bytes read from `from`; the file was `len` long then.
    pub fn apply(&mut self, from: u64, len: u64, text: &str) {
        self.len = Some(len);
        let end = self.start + self.text.len() as u64;
        if from == end && !self.text.is_empty() {
            // Appended bytes (following).
            self.text.push_str(text);
            if self.text.len() > KEEP {
                let cut = self.text.len() - KEEP;
                let cut = self.text[cut..].find('\n').map_or(cut, |i| cut + i + 1);
                self.text.drain(..cut);
                self.start += cut as u64;
            }
        } else {
            self.start = from;
            self.text = text.to_string();
            if from > 0 {
                // A window that starts mid-line: from the next line on, unless the line to
                // show on top is that one (a match far into a long line, or a line the window
                // was asked from): then from where the window starts.
                let cut = self.text.find('\n').map_or(self.text.len(), |i| i + 1);
                if self.anchor.is_none_or(|at| at >= from + cut as u64) {
                    self.text.drain(..cut);
                    self.start += cut as u64;
                }
            }
        }
        self.index();
        if let Some(at) = self.anchor.take() {
            self.top = self.line_at(at);
        }
        if self.follow {
            self.top = usize::MAX;
        }
        // What is asked stays as it is: a followed file's poller reads on from where it is.
    }

    fn index(&mut self) {
        self.lines = std::iter::once(0)
            .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
    }

    /// The line that holds file offset `at` (the first or last held when outside).
    fn line_at(&self, at: u64) -> usize {
        let rel = at.saturating_sub(self.start) as usize;
        match self.lines.binary_search(&rel) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    /// Keeps the top line within what `rows` lines on screen can show: the last page is full
    /// at the end of the file (as `less` shows a match near the end). When fewer than a page
    /// of lines are held below the top line and the file goes on past them, the window from
    /// the top line is asked instead, so that the line (a match, say) stays on top.
    pub fn settle(&mut self, rows: usize) {
        let n = self.line_count();
        let end = self.start + self.text.len() as u64;
        if self.top < n
            && self.top + rows > n
            && !self.follow
            && self.anchor.is_none()
            && self.len.is_some_and(|l| end < l)
        {
            let at = self.start + self.lines[self.top] as u64;
            if self.want.from != Some(at) {
                self.anchor = Some(at);
                self.want.from = Some(at);
                return;
            }
        }
        self.top = self.top.min(n.saturating_sub(rows));
    }

    /// Moves by `by` lines, `rows` on screen; past what is held, asks for the window there.
    pub fn scroll(&mut self, by: isize, rows: usize) {
        self.follow = false;
        self.want.follow = false;
        let n = self.line_count() as isize;
        let to = self.top as isize + by;
        let end = self.start + self.text.len() as u64;
        if to < 0 && self.start > 0 {
            // Before the window: the one that ends where this one starts.
            let at = self.start.saturating_sub((-to) as u64 * 80);
            self.anchor = Some(at);
            self.want.from = Some(at.saturating_sub(WINDOW / 2));
            self.top = 0;
        } else if to + rows as isize > n && self.len.is_some_and(|l| end < l) {
            // Past the window: the one that starts at the new top line.
            let line = to.clamp(0, n.max(1) - 1) as usize;
            let at = self.start + self.lines[line] as u64;
            self.anchor = Some(at);
            self.want.from = Some(at);
        } else {
            self.top = to.clamp(0, (n - rows as isize).max(0)) as usize;
        }
    }

    /// `g`: the start of the file.
    pub fn start_of_file(&mut self) {
        self.follow = false;
        self.want.follow = false;
        self.top = 0;
        if self.start > 0 {
            self.anchor = Some(0);
            self.want.from = Some(0);
        }
    }

    /// `G`: the end of the file, followed as it grows.
    pub fn end_of_file(&mut self) {
        self.follow = true;
        self.top = usize::MAX;
        self.want.follow = true;
        self.want.from = None;
    }

    /// The lines held that contain the search text (ASCII case-insensitive).
    pub fn matches(&self) -> Vec<usize> {
        let Some(needle) = Needle::new(&self.search) else {
            return Vec::new();
        };
        (0..self.line_count())
            .filter(|&i| needle.is_in(self.line(i)))
            .collect()
    }

    /// `n` / `N`: the next or previous line that matches after (before) the top line among
    /// those held; when none is, a search of the file from the end (start) of what is held
    /// to the end (start) of the file. No wrap-around, as in `less`.
    pub fn next_match(&mut self, forward: bool) -> Step {
        let Some(needle) = Needle::new(&self.search) else {
            return Step::NoSearch;
        };
        self.searching = None;
        let m = self.matches();
        let found = if forward {
            m.iter().find(|&&i| i > self.top)
        } else {
            m.iter().rev().find(|&&i| i < self.top)
        };
        if let Some(&i) = found {
            self.follow = false;
            self.want.follow = false;
            self.top = i;
            return Step::Moved;
        }
        let end = self.start + self.text.len() as u64;
        let from = if forward {
            // A match held whole was found above: one that starts in the last
            // `len - 1` bytes may go on past them.
            match self.len {
                Some(len) if end < len => end.saturating_sub(needle.len() as u64 - 1),
                _ => return Step::Nowhere,
            }
        } else if self.start > 0 {
            // The window starts a line: no match crosses its start.
            self.start
        } else {
            return Step::Nowhere;
        };
        self.searching = Some(Searching {
            ask: search::Ask::new(
                self.of.clone(),
                self.path.clone(),
                self.search.clone(),
                from,
                forward,
            ),
            searched: 0,
            total: None,
        });
        Step::Searching
    }

    /// The search found a match at file offset `at`: the window there, that line on top.
    pub fn found(&mut self, at: u64) {
        self.searching = None;
        self.follow = false;
        self.want.follow = false;
        let end = self.start + self.text.len() as u64;
        if (self.start..end).contains(&at) {
            self.top = self.line_at(at);
        } else {
            self.anchor = Some(at);
            // From a little before, so that the line the match is on is held whole.
            self.want.from = Some(at.saturating_sub(WINDOW / 4));
        }
    }

    /// stdout.txt and stderr.txt of the same task or node: the other one.
    pub fn sibling(&self) -> Option<String> {
        let (dir, name) = match self.path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), self.path.as_str()),
        };
        match name {
            "stdout.txt" => Some(format!("{dir}stderr.txt")),
            "stderr.txt" => Some(format!("{dir}stdout.txt")),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Log {
        let of = FilesOf::Task {
            job: "j".into(),
            task: "t".into(),
        };
        let mut l = Log::open(of, "stdout.txt".into());
        l.start_of_file();
        l
    }

    /// The window of `file` from `from`, as the watcher reads it.
    fn window(l: &mut Log, file: &str, from: u64) {
        let to = file.len().min(from as usize + WINDOW as usize);
        l.apply(from, file.len() as u64, &file[from as usize..to]);
    }

    fn numbered(n: usize) -> String {
        (0..n).map(|i| format!("line {i:05}\n")).collect()
    }

    /// A match in the last page of the lines held, the file going on past them: the window from
    /// its line is asked, and the match is on the top line. A match within a page of the
    /// file's end: the last page, full, with the match on it (as `less` shows it).
    #[test]
    fn a_match_is_on_the_top_line_unless_the_file_ends_within_a_page() {
        let file = numbered(20_000);
        let mut l = open();
        window(&mut l, &file, 0);
        l.search = "line 05950".into();
        assert_eq!(l.next_match(true), Step::Moved);
        l.settle(20);
        assert_eq!(
            l.want.from,
            Some(5950 * 11),
            "the window from the match's line"
        );
        window(&mut l, &file, 5950 * 11);
        l.settle(20);
        assert_eq!(l.line(l.top), "line 05950");
        // Near the end: found past the lines held, the last page.
        l.search = "line 19995".into();
        assert_eq!(l.next_match(true), Step::Searching);
        l.found(19_995 * 11);
        let from = l.want.from.unwrap();
        window(&mut l, &file, from);
        l.settle(20);
        let n = l.line_count();
        assert_eq!((l.top, l.line(n - 1)), (n - 20, "line 19999"));
        assert!((l.top..n).any(|i| l.line(i) == "line 19995"));
    }

    /// A match more than a quarter window into its line: the window asked starts inside that
    /// line, which is kept (from there to its end) and on top, not dropped as a partial line.
    #[test]
    fn a_match_far_into_a_long_line_keeps_its_line() {
        let head = numbered(10_000);
        let long = format!("{}needle{}\n", "x".repeat(40_000), "y".repeat(100));
        let file = format!("{head}{long}{}", "tail\n".repeat(10_000));
        let at = file.find("needle").unwrap() as u64;
        let mut l = open();
        window(&mut l, &file, 0);
        l.found(at);
        let from = l.want.from.unwrap();
        assert!(from > head.len() as u64 && from < at, "{from}");
        window(&mut l, &file, from);
        l.settle(20);
        let top = l.line(l.top);
        assert!(top.starts_with('x') && top.contains("needle"), "{top:.40}");
        // A window that starts mid-line with no line to keep drops the partial one.
        window(&mut l, &file, from);
        assert!(l.line(0).starts_with("tail"));
    }
}
