//! The TUI's state and `App::update`: plain code with no I/O. Messages come in (keys, the
//! workflow's events, questions, ticks); actions go out (commands for the controller, answers
//! to the workflow, quit). `views` draws the state.
//!
//! `update` dispatches: keys to [`input`], the workflow's events to [`events`], questions and
//! confirmations to [`dialogs`]; the task table's model is [`tasks`], the preview's [`preview`].

mod browse;
mod dialogs;
mod events;
mod input;
mod preview;
mod tasks;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

use crate::tui::browse::View;
use crate::tui::layout;
use crate::workflow::controller::Command;
use crate::workflow::events::{
    Event, NodeView, PoolView, Resource, Step, TaskCounts, TaskView, WorkloadView,
};

pub use browse::Browse;
pub(crate) use dialogs::button;
pub use dialogs::{Button, DetailsOf, Dialog, Outcome, Overlay};
pub use input::Entry;
pub use preview::{CACHED_PREVIEWS, Preview, PreviewLine, Previews, Scroll, Tail};
pub use tasks::{SortKey, Tasks, natural_cmp, task_failed};

/// A message to the state.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Event(Event),
    /// The workflow asks whether to delete a resource at the end of the run (step 9); the
    /// answer goes back as [`Action::Answer`].
    Ask(Resource),
    /// Time passes (only sent while something on screen moves with it).
    Tick(Instant),
    /// The terminal's size (columns, rows): sent once at the start and on every change.
    Resize(u16, u16),
    /// The user's changes in flight (`delete pool X`, ...), as the controller reports them.
    Working(Vec<String>),
    /// News of the log viewer's search `id` over the whole file.
    Search {
        id: u64,
        news: crate::tui::browse::search::News,
    },
}

/// What the state asks the main loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run(Command),
    /// Answer the workflow's pending question.
    Answer(bool),
    /// Stop the workflow where it is (the user quits while it runs).
    CancelWorkflow,
    Quit,
}

/// Where the session talks to, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub batch_endpoint: String,
    pub storage_endpoint: String,
    /// The embedded local Azure (nothing costs money) rather than Azure or another service.
    pub embedded: bool,
}

/// What the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A run: the steps, the uploads, then the same session stays open.
    Run,
    /// Watching existing work (`batchdeck watch`): no steps, no uploads.
    Watch,
    /// Browsing the account (`batchdeck browse`): its views over the watch's panels.
    Browse,
}

/// A run's outputs: the container the service uploads them to and each task's blob, so that a
/// task retried after the downloads gets its output downloaded when it completes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOutputs {
    pub container: String,
    pub blobs: HashMap<String, String>,
}

/// Ids of what the run works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunIds {
    pub pool_id: String,
    pub job_id: String,
    pub containers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepState {
    Pending,
    Running { since: Instant },
    Done { elapsed: Duration, note: String },
    Failed { error: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub file: String,
    pub container: String,
    pub done: u64,
    pub total: u64,
    pub started: Instant,
    pub finished: Option<Instant>,
}

impl Upload {
    /// Bytes per second so far.
    pub fn rate(&self, now: Instant) -> f64 {
        let end = self.finished.unwrap_or(now);
        let secs = end.duration_since(self.started).as_secs_f64();
        if secs <= 0.0 {
            0.0
        } else {
            self.done as f64 / secs
        }
    }
}

/// Whether a resource is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Present,
    Deleting,
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Steps,
    Nodes,
    Tasks,
    Preview,
}

impl Panel {
    /// Tab's order: as the panels read, left to right and top to bottom.
    const ORDER: [Panel; 4] = [Panel::Steps, Panel::Nodes, Panel::Tasks, Panel::Preview];

    fn step(self, by: isize) -> Panel {
        let i = Panel::ORDER.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Panel::ORDER[(i + by).rem_euclid(Panel::ORDER.len() as isize) as usize]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub at: Instant,
    pub text: String,
    pub error: bool,
}

/// How many of the run's `Info` lines the session keeps (a step's details show its own).
pub const STEP_LOG: usize = 500;

/// How long a notice stays on the status line.
pub const NOTICE_TTL: Duration = Duration::from_secs(8);

/// `text` on one line (an error's lines joined), for the status line.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole view state.
pub struct App {
    pub target: Target,
    pub ids: RunIds,
    pub readonly: bool,
    pub started: Instant,
    pub now: Instant,
    /// The wall clock at `now`: running tasks' durations are drawn from their start time.
    pub wall: chrono::DateTime<chrono::Utc>,
    /// The watcher cannot reach the Batch service: (failed attempts in a row, last error).
    pub reconnecting: Option<(u32, String)>,
    pub steps: Vec<(Step, StepState)>,
    /// The workload the run runs, named (its steps' titles among them), once the run said.
    pub workload: Option<WorkloadView>,
    /// What the run said as it went (its `Info` lines), by step, the last [`STEP_LOG`] kept:
    /// a step's details show them.
    pub step_log: VecDeque<(Step, String)>,
    pub uploads: Vec<Upload>,
    pub pool: Option<PoolView>,
    /// The pool was deleted since the last `Event::Pool` (the service no longer lists it).
    pub pool_deleted: bool,
    pub nodes: Vec<NodeView>,
    pub node_stderr: HashMap<String, String>,
    pub tasks: Tasks,
    pub counts: Option<TaskCounts>,
    /// (time since start, tasks completed then), one entry per change.
    pub completions: Vec<(Duration, u64)>,
    /// The previews of the tasks looked at last (a small cache).
    pub previews: Previews,
    /// Where each task's output file was downloaded (its text is read again when needed).
    pub outputs: HashMap<String, PathBuf>,
    pub resources: Vec<(Resource, Presence)>,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    pub entry: Option<Entry>,
    pub focus: Panel,
    pub overlay: Option<Overlay>,
    pub selected_task: Option<String>,
    pub selected_node: usize,
    /// The step Enter shows on the steps panel (the failed one once a step fails).
    pub selected_step: usize,
    /// First visible row of the task table, kept by `update` so that the selection is in view.
    pub task_offset: usize,
    pub preview_scroll: Scroll,
    /// The terminal's last known size (the layout is computed from it); the minimum size
    /// until the first `Msg::Resize`.
    pub area: Rect,
    /// The user's changes in flight, for the "working" sign.
    pub working: Vec<String>,
    pub notices: VecDeque<Notice>,
    /// The run ended: whether it succeeded and how long it took.
    pub finished: Option<(bool, Duration)>,
    /// The workflow asked about this resource and waits for the answer.
    pub asking: Option<Resource>,
    /// Quitting once these deletions were accepted.
    pub quit_after: Option<Vec<Resource>>,
    pub quit: bool,
    /// The user left with Ctrl-C (everything kept, the run stopped where it was).
    pub interrupted: bool,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// The whole second of elapsed time last drawn (the clock redraws once a second).
    drawn_second: u64,
    pub mode: Mode,
    /// Where `d` writes a task's files (and a run its outputs).
    pub output_dir: std::path::PathBuf,
    /// In a run: where its outputs come from.
    pub run_outputs: Option<RunOutputs>,
    /// Tasks retried in this session that have not completed again yet.
    pub retried: std::collections::HashSet<String>,
    /// Browsing the account: its views and lists.
    pub browse: Option<Browse>,
}

impl App {
    pub fn new(target: Target, ids: RunIds, readonly: bool, now: Instant) -> App {
        App {
            target,
            ids,
            readonly,
            started: now,
            now,
            wall: chrono::Utc::now(),
            reconnecting: None,
            steps: Step::ALL.iter().map(|s| (*s, StepState::Pending)).collect(),
            workload: None,
            step_log: VecDeque::new(),
            uploads: Vec::new(),
            pool: None,
            pool_deleted: false,
            nodes: Vec::new(),
            node_stderr: HashMap::new(),
            tasks: Tasks::default(),
            counts: None,
            completions: Vec::new(),
            previews: Previews::default(),
            outputs: HashMap::new(),
            resources: Vec::new(),
            sort: SortKey::Id,
            descending: false,
            filter: String::new(),
            entry: None,
            focus: Panel::Tasks,
            overlay: None,
            selected_task: None,
            selected_node: 0,
            selected_step: 0,
            task_offset: 0,
            preview_scroll: Scroll::Natural,
            area: Rect::new(0, 0, layout::MIN_WIDTH, layout::MIN_HEIGHT),
            working: Vec::new(),
            notices: VecDeque::new(),
            finished: None,
            asking: None,
            quit_after: None,
            quit: false,
            interrupted: false,
            dirty: true,
            drawn_second: 0,
            mode: Mode::Run,
            output_dir: "batchdeck-output".into(),
            run_outputs: None,
            retried: Default::default(),
            browse: None,
        }
    }

    /// A session watching existing work (`batchdeck watch`): no steps, no uploads.
    pub fn watching(target: Target, ids: RunIds, readonly: bool, now: Instant) -> App {
        App {
            mode: Mode::Watch,
            steps: Vec::new(),
            ..App::new(target, ids, readonly, now)
        }
    }

    /// A session browsing the account (`batchdeck browse`), starting on `first`.
    pub fn browsing(target: Target, readonly: bool, now: Instant, first: View) -> App {
        let ids = RunIds {
            pool_id: String::new(),
            job_id: String::new(),
            containers: Vec::new(),
        };
        let mut app = App {
            mode: Mode::Browse,
            steps: Vec::new(),
            browse: Some(Browse::new(View::Pools)),
            ..App::new(target, ids, readonly, now)
        };
        app.go(first, true);
        app
    }

    /// The panels' rectangles in the last known terminal size.
    pub fn screen(&self) -> Option<layout::Screen> {
        layout::screen(self.area, self.mode == Mode::Run)
    }

    /// Moves the clock without redrawing (the main loop calls it before each batch of
    /// messages, so that events are stamped with the time they arrived).
    pub fn clock(&mut self, now: Instant) {
        if now > self.now {
            self.wall += chrono::Duration::from_std(now - self.now).unwrap_or_default();
            self.now = now;
        }
    }

    /// Time since the session started, frozen when the run ended.
    pub fn elapsed(&self) -> Duration {
        match self.finished {
            Some((_, d)) => d,
            None => self.now.duration_since(self.started),
        }
    }

    /// A run is going (watching existing work runs nothing).
    pub fn running(&self) -> bool {
        self.mode == Mode::Run && self.finished.is_none()
    }

    /// The step that failed and its error, if one did.
    pub fn failure(&self) -> Option<(Step, &str)> {
        self.steps.iter().find_map(|(s, st)| match st {
            StepState::Failed { error } => Some((*s, error.as_str())),
            _ => None,
        })
    }

    /// Whether the terminal is smaller than the layout needs (only `q` and Ctrl-C act then).
    pub fn too_small(&self) -> bool {
        self.screen().is_none()
    }

    /// `step`'s title: in the workload's words once the run named them.
    pub fn step_title(&self, step: Step) -> &str {
        match &self.workload {
            Some(w) => w.title(step),
            None => step.title(),
        }
    }

    /// What the run said during `step`, oldest first.
    pub fn step_lines(&self, step: Step) -> impl Iterator<Item = &str> {
        self.step_log
            .iter()
            .filter(move |(s, _)| *s == step)
            .map(|(_, l)| l.as_str())
    }

    /// The step running now, if any.
    pub fn current_step(&self) -> Option<Step> {
        self.steps
            .iter()
            .find(|(_, s)| matches!(s, StepState::Running { .. }))
            .map(|(s, _)| *s)
    }

    /// Resources that still exist (present or on their way out).
    pub fn present(&self) -> Vec<&Resource> {
        self.resources
            .iter()
            .filter(|(_, p)| *p == Presence::Present)
            .map(|(r, _)| r)
            .collect()
    }

    pub fn presence(&self, r: &Resource) -> Option<Presence> {
        self.resources.iter().find(|(x, _)| x == r).map(|(_, p)| *p)
    }

    fn set_presence(&mut self, r: Resource, p: Presence) {
        match self.resources.iter_mut().find(|(x, _)| *x == r) {
            Some(e) => e.1 = p,
            None => self.resources.push((r, p)),
        }
    }

    /// Whether the main loop should send ticks (something on screen moves with time).
    pub fn wants_ticks(&self) -> bool {
        self.running()
            || !self.notices.is_empty()
            || self.quit_after.is_some()
            || !self.working.is_empty()
            || self.tasks.ticking > 0
    }

    /// Brings derived state up to date (`update` does it after every message, so that a
    /// frame can be drawn at any time): the task order, the selection, the table's scroll.
    pub(super) fn settle(&mut self) {
        if self.tasks.stale {
            self.tasks.reorder(self.sort, self.descending, &self.filter);
        }
        if self.selected_task.is_none()
            && let Some(&i) = self.tasks.order.first()
        {
            self.selected_task = Some(self.tasks.rows[i].id.clone());
        }
        self.selected_node = self.selected_node.min(self.nodes.len().saturating_sub(1));
        self.settle_browse();
        self.task_offset = layout::scroll_into_view(
            self.task_offset,
            self.selected_index(),
            self.page(),
            self.tasks.order.len(),
        );
    }

    /// Task rows the table shows in the last known terminal size (what page up/down move by).
    pub fn page(&self) -> usize {
        let filtering = matches!(self.entry, Some(Entry::Filter(_)));
        self.screen().map_or(0, |s| {
            layout::task_rows(layout::tasks_panel(s.tasks, filtering).table)
        })
    }

    /// Position of the selected task in the shown order.
    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected_task.as_deref()?;
        let &row = self.tasks.index.get(id)?;
        self.tasks.order.iter().position(|&i| i == row)
    }

    pub fn selected_task_view(&self) -> Option<&TaskView> {
        self.tasks.get(self.selected_task.as_deref()?)
    }

    pub fn selected_node_view(&self) -> Option<&NodeView> {
        self.nodes.get(self.selected_node)
    }

    pub fn notify(&mut self, text: impl Into<String>, error: bool) {
        self.notices.push_back(Notice {
            at: self.now,
            text: text.into(),
            error,
        });
        while self.notices.len() > 4 {
            self.notices.pop_front();
        }
    }

    /// Handles one message; returns what the main loop must do.
    pub fn update(&mut self, msg: Msg) -> Vec<Action> {
        let mut actions = Vec::new();
        match msg {
            Msg::Tick(now) => {
                self.clock(now);
                let before = self.notices.len();
                self.notices
                    .retain(|n| now.duration_since(n.at) < NOTICE_TTL);
                // The clock moves while the run does; running tasks' durations while any runs.
                let second = if self.tasks.ticking > 0 {
                    self.now.duration_since(self.started).as_secs()
                } else {
                    self.elapsed().as_secs()
                };
                if second != self.drawn_second
                    || before != self.notices.len()
                    || !self.working.is_empty()
                {
                    self.drawn_second = second;
                    self.dirty = true;
                }
            }
            Msg::Resize(width, height) => {
                self.area = Rect::new(0, 0, width, height);
                self.dirty = true;
            }
            Msg::Working(working) => {
                if working != self.working {
                    self.working = working;
                    self.dirty = true;
                }
            }
            Msg::Event(e) => {
                self.apply(e, &mut actions);
                self.dirty = true;
            }
            Msg::Search { id, news } => {
                self.search_news(id, news);
                self.dirty = true;
            }
            Msg::Ask(r) => {
                self.dirty = true;
                if self.presence(&r) != Some(Presence::Present) {
                    // Already deleted by hand: the answer changes nothing.
                    actions.push(Action::Answer(self.presence(&r).is_some()));
                } else if self.readonly {
                    actions.push(Action::Answer(false));
                } else {
                    self.asking = Some(r);
                }
            }
            Msg::Key(k) => {
                self.dirty = true;
                self.key(k, &mut actions);
            }
        }
        self.surface_question();
        if let Some(waiting) = &self.quit_after
            && waiting
                .iter()
                .all(|r| self.presence(r) != Some(Presence::Present))
        {
            self.quit_after = None;
            self.quit = true;
            actions.push(Action::Quit);
        }
        self.settle();
        actions
    }
}

#[cfg(test)]
mod tests;
