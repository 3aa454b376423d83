//! The preview pane's model: the end of each task's stdout and stderr, read by byte range, or
//! its downloaded output file; and when to ask for more.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::azure::models::TaskState;
use crate::tui::app::{Action, App};
use crate::workflow::controller::{Command, TAIL_BYTES};
use crate::workflow::events::TaskFile;

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
    pub last_request: Option<Instant>,
}

/// How often the preview of a running task is refreshed.
const TAIL_EVERY: Duration = Duration::from_secs(2);

impl App {
    pub(super) fn previewed_task_is_running(&self) -> bool {
        self.selected_task_view()
            .is_some_and(|t| t.state == TaskState::Running && self.preview_output(&t.id).is_none())
    }

    pub(super) fn preview_output(&self, task: &str) -> Option<&(PathBuf, String)> {
        self.previews.get(task).and_then(|p| p.output.as_ref())
    }

    /// at once when the selection changed (`force`), then every few seconds while it runs.
    pub(super) fn refresh_preview(&mut self, actions: &mut Vec<Action>, force: bool) {
        let Some(t) = self.selected_task_view() else {
            return;
        };
        if t.state == TaskState::Active || self.preview_output(&t.id).is_some() {
            return;
        }
        let (id, running) = (t.id.clone(), t.state != TaskState::Completed);
        let now = self.now;
        let p = self.previews.entry(id.clone()).or_default();
        let due = match p.last_request {
            None => true,
            Some(at) => force || (running && now.duration_since(at) >= TAIL_EVERY),
        };
        if !due || (!running && p.stdout.read_once && p.stderr.read_once && !force) {
            return;
        }
        p.last_request = Some(now);
        for (file, tail) in [(TaskFile::Stdout, &p.stdout), (TaskFile::Stderr, &p.stderr)] {
            actions.push(Action::Run(Command::TailTaskFile {
                job_id: self.ids.job_id.clone(),
                task_id: id.clone(),
                file,
                from: tail.len,
            }));
        }
    }
}
