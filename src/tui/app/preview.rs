//! The preview pane's model: the end of each task's stdout and stderr, read by byte range by
//! the session's watcher, or its downloaded output file; how far it is scrolled (as in a
//! pager); and a small cache of the tasks looked at last.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use crate::azure::models::TaskState;
use crate::tui::app::{Action, App};
use crate::tui::layout;
use crate::watch::{PreviewTarget, TAIL_BYTES};
use crate::workflow::controller::Command;

/// The end of a task file, as far as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    /// Where the next read starts (the file's length when last read).
    pub len: u64,
    pub text: String,
    pub read_once: bool,
}

impl Tail {
    pub(super) fn append(&mut self, from: u64, len: u64, text: &str) {
        if from != self.len {
            // A gap (the file grew by more than one read) or a restart: keep only the new end.
            self.text.clear();
        }
        self.text.push_str(text);
        if self.text.len() as u64 > TAIL_BYTES {
            let cut = self.text.len() - TAIL_BYTES as usize;
            let cut = (cut..self.text.len())
                .find(|&i| self.text.is_char_boundary(i))
                .unwrap_or(self.text.len());
            self.text.drain(..cut);
        }
        self.len = len;
        self.read_once = true;
    }
}

/// What the preview pane can show of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    pub output: Option<(PathBuf, String)>,
    pub stdout: Tail,
    pub stderr: Tail,
    /// When its output file was last asked for.
    pub last_request: Option<Instant>,
}

/// A line of the preview, by what it is (the view gives each kind its style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewLine<'a> {
    Text(&'a str),
    /// Said about the text, not part of it (`(stdout is empty)`).
    Note(&'static str),
    /// The rule between stdout and stderr.
    StderrRule,
    Stderr(&'a str),
}

impl Preview {
    /// The lines shown, and whether they are a log (read from its end) rather than an output
    /// file (read from its beginning); `None` before anything was read.
    pub fn lines(&self) -> Option<(Vec<PreviewLine<'_>>, bool)> {
        if let Some((_, text)) = &self.output {
            return Some((text.lines().map(PreviewLine::Text).collect(), false));
        }
        if !self.stdout.read_once && !self.stderr.read_once {
            return None;
        }
        let mut lines = Vec::new();
        if self.stdout.text.is_empty() {
            lines.push(PreviewLine::Note("(stdout is empty)"));
        }
        lines.extend(self.stdout.text.lines().map(PreviewLine::Text));
        if !self.stderr.text.is_empty() {
            lines.push(PreviewLine::StderrRule);
            lines.extend(self.stderr.text.lines().map(PreviewLine::Stderr));
        }
        Some((lines, true))
    }
}

/// Where the preview is scrolled to, as in a pager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scroll {
    /// Where a new selection starts: the beginning of an output file, the end of a log
    /// (following it as it grows).
    #[default]
    Natural,
    /// This line at the top.
    Line(usize),
    /// The end, following new lines (`G`).
    Follow,
}

impl Scroll {
    /// The first line shown of `total` in `rows` rows (`log`: the text is a log).
    pub fn top(self, total: usize, rows: usize, log: bool) -> usize {
        let last_page = total.saturating_sub(rows);
        match self {
            Scroll::Natural if log => last_page,
            Scroll::Natural => 0,
            Scroll::Line(n) => n.min(last_page),
            Scroll::Follow => last_page,
        }
    }
}

/// How many tasks' previews are kept (each holds at most two tails of `TAIL_BYTES` and the
/// beginning of its output file): the ones looked at last.
pub const CACHED_PREVIEWS: usize = 16;

/// The previews of the tasks looked at last, least recent evicted first. Output files stay
/// known by their path (`App::outputs`) and are read again when their task is looked at.
#[derive(Debug, Default)]
pub struct Previews {
    map: HashMap<String, Preview>,
    /// Task ids, least recently looked at first.
    used: VecDeque<String>,
}

impl Previews {
    pub fn get(&self, task: &str) -> Option<&Preview> {
        self.map.get(task)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The preview of a task in the cache, without counting it as looked at.
    pub(super) fn get_mut(&mut self, task: &str) -> Option<&mut Preview> {
        self.map.get_mut(task)
    }

    /// The preview of `task`, added if needed, now the most recently looked at; the least
    /// recent one goes when there are too many.
    pub(super) fn look_at(&mut self, task: &str) -> &mut Preview {
        if let Some(i) = self.used.iter().position(|t| t == task) {
            if let Some(id) = self.used.remove(i) {
                self.used.push_back(id);
            }
        } else {
            self.used.push_back(task.to_string());
            while self.used.len() > CACHED_PREVIEWS {
                if let Some(old) = self.used.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
        self.map.entry(task.to_string()).or_default()
    }
}

impl App {
    /// The lines of the selected task's preview and whether they are a log, if any were read.
    fn preview_lines_count(&self) -> Option<(usize, bool)> {
        let p = self.previews.get(self.selected_task.as_deref()?)?;
        p.lines().map(|(lines, log)| (lines.len(), log))
    }

    /// Rows the preview shows in the last known terminal size.
    pub(super) fn preview_rows(&self) -> usize {
        self.screen().map_or(0, |s| layout::preview_rows(s.preview))
    }

    /// Scrolls the preview by `by` lines (positive: towards the end, newer lines); reaching
    /// the end follows it.
    pub(super) fn scroll_preview(&mut self, by: isize) {
        let Some((total, log)) = self.preview_lines_count() else {
            return;
        };
        let rows = self.preview_rows();
        let top = self.preview_scroll.top(total, rows, log);
        let next = top.saturating_add_signed(by);
        self.preview_scroll = if by > 0 && next >= total.saturating_sub(rows) {
            Scroll::Follow
        } else {
            Scroll::Line(next)
        };
    }

    /// Asks for the selected task's output file's beginning if it was downloaded but is not
    /// in the cache (its stdout and stderr are the watcher's to read: [`App::preview_target`]),
    /// and counts the task as looked at.
    pub(super) fn refresh_preview(&mut self, actions: &mut Vec<Action>, force: bool) {
        let Some(t) = self.selected_task_view() else {
            return;
        };
        // A task waiting for a node has nothing to show yet: it takes no place in the cache.
        if t.state == TaskState::Active && !self.outputs.contains_key(&t.id) {
            return;
        }
        let id = t.id.clone();
        let now = self.now;
        let p = self.previews.look_at(&id);
        if let Some(path) = self.outputs.get(&id)
            && p.output.is_none()
            && (force || p.last_request.is_none())
        {
            p.last_request = Some(now);
            actions.push(Action::Run(Command::ReadOutput {
                task_id: id,
                path: path.clone(),
            }));
        }
    }

    /// What the preview wants the watcher to read: the selected task's stdout and stderr,
    /// unless its output file was downloaded. (The watcher debounces, reads while the task
    /// runs and once more when it completes.)
    pub fn preview_target(&self) -> Option<PreviewTarget> {
        let t = self.selected_task_view()?;
        if self.outputs.contains_key(&t.id) {
            return None;
        }
        let p = self.previews.get(&t.id);
        Some(PreviewTarget {
            job_id: self.ids.job_id.clone(),
            task_id: t.id.clone(),
            from: [p.map_or(0, |p| p.stdout.len), p.map_or(0, |p| p.stderr.len)],
            state: Some(t.state.clone()),
        })
    }
}
