//! The TUI's state and `App::update`: plain code with no I/O. Messages come in (keys, the
//! workflow's events, questions, ticks); actions go out (commands for the controller, answers
//! to the workflow, quit). `views` draws the state.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tui::keys::{self, Input};
use crate::workflow::controller::{Command, TAIL_BYTES};
use crate::workflow::events::{
    Event, NodeView, PoolView, Resource, Step, TaskCounts, TaskFile, TaskView,
};

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
    Resize,
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
    Nodes,
    Tasks,
    Preview,
}

impl Panel {
    const ORDER: [Panel; 3] = [Panel::Nodes, Panel::Tasks, Panel::Preview];

    fn step(self, by: isize) -> Panel {
        let i = Panel::ORDER.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Panel::ORDER[(i + by).rem_euclid(3) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Id,
    State,
    Node,
    ExitCode,
    Duration,
    Retries,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Id,
        SortKey::State,
        SortKey::Node,
        SortKey::ExitCode,
        SortKey::Duration,
        SortKey::Retries,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortKey::Id => "Task",
            SortKey::State => "State",
            SortKey::Node => "Node",
            SortKey::ExitCode => "Exit",
            SortKey::Duration => "Duration",
            SortKey::Retries => "Retries",
        }
    }
}

/// The task table: every task once, and the filtered, sorted order the view shows.
#[derive(Debug, Default)]
pub struct Tasks {
    pub rows: Vec<TaskView>,
    index: HashMap<String, usize>,
    /// Indices into `rows`, filtered and sorted; valid when `stale` is false.
    pub order: Vec<usize>,
    stale: bool,
    /// Each row's place in natural id order (ids never change: recomputed only when rows are
    /// added), so that sorting compares integers.
    id_rank: Vec<u32>,
}

impl Tasks {
    fn upsert(&mut self, t: TaskView) {
        match self.index.get(&t.id) {
            Some(&i) => self.rows[i] = t,
            None => {
                self.index.insert(t.id.clone(), self.rows.len());
                self.rows.push(t);
            }
        }
        self.stale = true;
    }

    pub fn get(&self, id: &str) -> Option<&TaskView> {
        self.index.get(id).map(|&i| &self.rows[i])
    }

    fn reorder(&mut self, key: SortKey, descending: bool, filter: &str) {
        let needle = filter.to_lowercase();
        let rows = &self.rows;
        let keep = |i: usize| {
            needle.is_empty() || {
                let t = &rows[i];
                t.id.to_lowercase().contains(&needle)
                    || t.state.contains(&needle)
                    || t.node_id
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&needle))
                    || (needle == "failed" && task_failed(t))
            }
        };
        // Start from the last order (plus new rows): after a few changes it is nearly sorted,
        // which the stable sort handles in close to linear time.
        let mut seen = vec![false; rows.len()];
        let mut order: Vec<usize> = Vec::with_capacity(rows.len());
        for &i in &self.order {
            if i < rows.len() && !seen[i] {
                seen[i] = true;
                if keep(i) {
                    order.push(i);
                }
            }
        }
        order.extend((0..rows.len()).filter(|&i| !seen[i] && keep(i)));
        if self.id_rank.len() != rows.len() {
            let mut by_id: Vec<usize> = (0..rows.len()).collect();
            by_id.sort_by(|&a, &b| natural_cmp(&rows[a].id, &rows[b].id));
            self.id_rank = vec![0; rows.len()];
            for (rank, &i) in by_id.iter().enumerate() {
                self.id_rank[i] = rank as u32;
            }
        }
        let id_rank = &self.id_rank;
        // The state's rank costs string comparisons: once per row, not once per comparison.
        let ranks: Vec<u8> = match key {
            SortKey::State => rows.iter().map(state_rank).collect(),
            _ => Vec::new(),
        };
        order.sort_by(|&a, &b| {
            let (x, y) = (&rows[a], &rows[b]);
            let o = match key {
                SortKey::Id => std::cmp::Ordering::Equal,
                SortKey::State => ranks[a].cmp(&ranks[b]),
                SortKey::Node => x.node_id.cmp(&y.node_id),
                SortKey::ExitCode => x.exit_code.cmp(&y.exit_code),
                SortKey::Duration => x.duration_ms.cmp(&y.duration_ms),
                SortKey::Retries => (x.retries + x.requeues).cmp(&(y.retries + y.requeues)),
            }
            .then_with(|| id_rank[a].cmp(&id_rank[b]));
            if descending { o.reverse() } else { o }
        });
        self.order = order;
        self.stale = false;
    }
}

/// Whether a task ended badly (non-zero exit or a failure the service reported).
pub fn task_failed(t: &TaskView) -> bool {
    t.state == "completed"
        && (t.result.as_deref() == Some("failure")
            || t.exit_code.unwrap_or(0) != 0
            || t.failure.is_some())
}

fn state_rank(t: &TaskView) -> u8 {
    match t.state.as_str() {
        "running" => 0,
        "preparing" => 1,
        "active" => 2,
        "completed" if task_failed(t) => 3,
        "completed" => 4,
        _ => 5,
    }
}

/// Compares ids so that `task9` sorts before `task10` (numbers by value, then by length, so
/// `task10` < `task010`), without allocating.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let trim = |s: &[u8]| {
                    let z = s.iter().take_while(|c| **c == b'0').count();
                    s.len() - z
                };
                let (p, q) = (&x[n - trim(&x[..n])..n], &y[m - trim(&y[..m])..m]);
                let o = p
                    .len()
                    .cmp(&q.len())
                    .then_with(|| p.cmp(q))
                    .then_with(|| n.cmp(&m));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// The end of a task file, as far as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    /// Where the next read starts (the file's length when last read).
    pub len: u64,
    pub text: String,
    pub read_once: bool,
}

impl Tail {
    fn append(&mut self, from: u64, len: u64, text: &str) {
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

/// A choice in a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    /// The key that picks it directly.
    pub key: char,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Cancel,
    Run(Command),
    Answer(bool),
    QuitKeep,
    QuitDelete,
}

/// A modal question. The focused button starts on the first one, which is always the safe
/// choice (Cancel or Keep): Enter alone never deletes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub title: String,
    pub lines: Vec<String>,
    pub buttons: Vec<Button>,
    pub focused: usize,
    pub danger: bool,
}

/// What a details overlay shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailsOf {
    Task(String),
    Node(String),
}

/// A line of text being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Filter(String),
    Resize(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    Dialog(Dialog),
    Details(DetailsOf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub at: Instant,
    pub text: String,
    pub error: bool,
}

/// How long a notice stays on the status line.
pub const NOTICE_TTL: Duration = Duration::from_secs(8);
/// How often the preview of a running task is refreshed.
const TAIL_EVERY: Duration = Duration::from_secs(2);

/// The whole view state.
pub struct App {
    pub target: Target,
    pub ids: RunIds,
    pub readonly: bool,
    pub started: Instant,
    pub now: Instant,
    pub steps: Vec<(Step, StepState)>,
    pub uploads: Vec<Upload>,
    pub pool: Option<PoolView>,
    pub nodes: Vec<NodeView>,
    pub node_stderr: HashMap<String, String>,
    pub tasks: Tasks,
    pub counts: Option<TaskCounts>,
    /// (time since start, tasks completed then), one entry per change.
    pub completions: Vec<(Duration, u64)>,
    pub previews: HashMap<String, Preview>,
    pub resources: Vec<(Resource, Presence)>,
    pub sort: SortKey,
    pub descending: bool,
    pub filter: String,
    pub entry: Option<Entry>,
    pub focus: Panel,
    pub overlay: Option<Overlay>,
    pub selected_task: Option<String>,
    pub selected_node: usize,
    /// First visible row of the task table (kept by the view so the selection stays visible).
    pub task_offset: Cell<usize>,
    pub preview_scroll: u16,
    /// Rows the task table showed last frame (for page up/down).
    pub page: Cell<usize>,
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
}

impl App {
    pub fn new(target: Target, ids: RunIds, readonly: bool, now: Instant) -> App {
        App {
            target,
            ids,
            readonly,
            started: now,
            now,
            steps: Step::ALL.iter().map(|s| (*s, StepState::Pending)).collect(),
            uploads: Vec::new(),
            pool: None,
            nodes: Vec::new(),
            node_stderr: HashMap::new(),
            tasks: Tasks::default(),
            counts: None,
            completions: Vec::new(),
            previews: HashMap::new(),
            resources: Vec::new(),
            sort: SortKey::Id,
            descending: false,
            filter: String::new(),
            entry: None,
            focus: Panel::Tasks,
            overlay: None,
            selected_task: None,
            selected_node: 0,
            task_offset: Cell::new(0),
            preview_scroll: 0,
            page: Cell::new(10),
            notices: VecDeque::new(),
            finished: None,
            asking: None,
            quit_after: None,
            quit: false,
            interrupted: false,
            dirty: true,
            drawn_second: 0,
        }
    }

    /// Moves the clock without redrawing (the main loop calls it before each batch of
    /// messages, so that events are stamped with the time they arrived).
    pub fn clock(&mut self, now: Instant) {
        self.now = now.max(self.now);
    }

    /// Time since the session started, frozen when the run ended.
    pub fn elapsed(&self) -> Duration {
        match self.finished {
            Some((_, d)) => d,
            None => self.now.duration_since(self.started),
        }
    }

    pub fn running(&self) -> bool {
        self.finished.is_none()
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
            || self.previewed_task_is_running()
    }

    /// Brings derived state up to date before a frame: the task order and the selection.
    pub fn prepare(&mut self) {
        if self.tasks.stale {
            self.tasks.reorder(self.sort, self.descending, &self.filter);
        }
        if self.selected_task.is_none()
            && let Some(&i) = self.tasks.order.first()
        {
            self.selected_task = Some(self.tasks.rows[i].id.clone());
        }
        self.selected_node = self.selected_node.min(self.nodes.len().saturating_sub(1));
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

    fn previewed_task_is_running(&self) -> bool {
        self.selected_task_view()
            .is_some_and(|t| t.state == "running" && self.preview_output(&t.id).is_none())
    }

    fn preview_output(&self, task: &str) -> Option<&(PathBuf, String)> {
        self.previews.get(task).and_then(|p| p.output.as_ref())
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
                self.now = now;
                let before = self.notices.len();
                self.notices
                    .retain(|n| now.duration_since(n.at) < NOTICE_TTL);
                let second = self.elapsed().as_secs();
                if second != self.drawn_second || before != self.notices.len() {
                    self.drawn_second = second;
                    self.dirty = true;
                }
                self.refresh_preview(&mut actions, false);
            }
            Msg::Resize => self.dirty = true,
            Msg::Event(e) => {
                self.apply(e, &mut actions);
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
        actions
    }

    /// Shows the workflow's question once nothing else is on top.
    fn surface_question(&mut self) {
        if self.overlay.is_some() || self.entry.is_some() {
            return;
        }
        if let Some(r) = &self.asking {
            let lines = vec![
                format!("The run is over. Delete {r}?"),
                format!("Keeping it: {}.", r.cost_note()),
            ];
            self.overlay = Some(Overlay::Dialog(Dialog {
                title: format!("Delete {r}?"),
                lines,
                buttons: vec![
                    button("Keep", 'n', Outcome::Answer(false)),
                    button("Delete", 'y', Outcome::Answer(true)),
                ],
                focused: 0,
                danger: true,
            }));
        }
    }

    fn apply(&mut self, e: Event, actions: &mut Vec<Action>) {
        let now = self.now;
        match e {
            Event::StepStarted(step) => self.set_step(step, StepState::Running { since: now }),
            Event::StepFinished {
                step,
                elapsed,
                note,
            } => self.set_step(step, StepState::Done { elapsed, note }),
            Event::StepFailed { step, error } => {
                self.notify(format!("{} failed: {error}", step.title()), true);
                self.set_step(step, StepState::Failed { error });
            }
            Event::Info(_) => {}
            Event::UploadProgress {
                file,
                bytes_done,
                bytes_total,
            } => {
                let u = self.upload(&file);
                u.done = bytes_done;
                u.total = bytes_total;
            }
            Event::Uploaded {
                file,
                container,
                bytes,
                ..
            } => {
                let u = self.upload(&file);
                u.container = container;
                u.done = bytes;
                u.total = bytes;
                u.finished = Some(now);
            }
            Event::Pool(p) => self.pool = Some(p),
            Event::Nodes(nodes) => {
                for n in &nodes {
                    if n.state == "starttaskfailed" && !self.node_stderr.contains_key(&n.id) {
                        self.node_stderr.insert(n.id.clone(), String::new());
                        actions.push(Action::Run(Command::NodeStderr {
                            pool_id: self.ids.pool_id.clone(),
                            node_id: n.id.clone(),
                        }));
                    }
                }
                self.nodes = nodes;
            }
            Event::Tasks(tasks) => {
                for t in tasks {
                    self.tasks.upsert(t);
                }
                self.refresh_preview(actions, false);
            }
            Event::TaskCounts(c) => {
                let last = self.completions.last().map(|x| x.1);
                if last != Some(c.completed) {
                    self.completions
                        .push((now.duration_since(self.started), c.completed));
                }
                self.counts = Some(c);
            }
            Event::Downloaded { .. } => {}
            Event::Output {
                task_id,
                path,
                text,
            } => {
                self.previews.entry(task_id).or_default().output = Some((path, text));
            }
            Event::TaskFileTail {
                task_id,
                file,
                from,
                len,
                text,
            } => {
                let p = self.previews.entry(task_id).or_default();
                match file {
                    TaskFile::Stdout => p.stdout.append(from, len, &text),
                    TaskFile::Stderr => p.stderr.append(from, len, &text),
                }
            }
            Event::NodeStderr { node_id, text } => {
                self.node_stderr.insert(node_id, text);
            }
            Event::Created(r) => self.set_presence(r, Presence::Present),
            Event::Deleting(r) => {
                self.notify(format!("Deleting {r}..."), false);
                if let (Resource::Pool(_), Some(p)) = (&r, &mut self.pool) {
                    p.state = "deleting".into();
                }
                self.set_presence(r, Presence::Deleting);
            }
            Event::Deleted(r) => {
                self.notify(format!("Deleted {r}"), false);
                if matches!(r, Resource::Pool(_)) {
                    if let Some(p) = &mut self.pool {
                        p.state = "deleted".into();
                        p.current_dedicated = 0;
                        p.current_low_priority = 0;
                    }
                    self.nodes.clear();
                }
                self.set_presence(r, Presence::Gone);
            }
            Event::Resized { pool_id, target } => {
                self.notify(format!("Pool {pool_id} resizing to {target} nodes"), false);
            }
            Event::Reactivated { task_id } => {
                self.notify(format!("Task {task_id} reactivated"), false);
            }
            Event::CommandFailed { what, error } => {
                if self.quit_after.take().is_some() {
                    self.notify("Not quitting: a deletion failed", true);
                }
                self.notify(format!("{what} failed: {error}"), true);
            }
            Event::Finished {
                ok,
                elapsed,
                remaining,
            } => {
                self.finished = Some((ok, elapsed));
                for (r, p) in &mut self.resources {
                    if *p == Presence::Present && !remaining.contains(r) {
                        *p = Presence::Gone;
                    }
                }
                for r in remaining {
                    if self.presence(&r).is_none() {
                        self.set_presence(r, Presence::Present);
                    }
                }
                self.notify(
                    if ok {
                        "Run complete: browse, clean up with J/P/C, q to quit"
                    } else {
                        "Run FAILED: see the steps; clean up with J/P/C, q to quit"
                    },
                    !ok,
                );
            }
        }
    }

    fn set_step(&mut self, step: Step, state: StepState) {
        if let Some(s) = self.steps.iter_mut().find(|(s, _)| *s == step) {
            s.1 = state;
        }
    }

    fn upload(&mut self, file: &str) -> &mut Upload {
        let now = self.now;
        let i = match self.uploads.iter().position(|u| u.file == file) {
            Some(i) => i,
            None => {
                self.uploads.push(Upload {
                    file: file.to_string(),
                    container: String::new(),
                    done: 0,
                    total: 0,
                    started: now,
                    finished: None,
                });
                self.uploads.len() - 1
            }
        };
        &mut self.uploads[i]
    }

    /// Asks for the selected task's stdout/stderr tail when it has no output file yet:
    /// at once when the selection changed (`force`), then every few seconds while it runs.
    fn refresh_preview(&mut self, actions: &mut Vec<Action>, force: bool) {
        let Some(t) = self.selected_task_view() else {
            return;
        };
        if t.state == "active" || self.preview_output(&t.id).is_some() {
            return;
        }
        let (id, running) = (t.id.clone(), t.state != "completed");
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

    fn key(&mut self, k: KeyEvent, actions: &mut Vec<Action>) {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return;
        }
        if let Some(entry) = self.entry.take() {
            self.key_entry(entry, k, actions);
            return;
        }
        let input = keys::lookup(&k);
        if input == Some(Input::QuitNow) {
            self.quit_now(actions);
            return;
        }
        match self.overlay.take() {
            Some(Overlay::Dialog(d)) => self.key_dialog(d, k, input, actions),
            Some(Overlay::Help) => {
                if !matches!(input, Some(Input::Back | Input::Help | Input::Quit)) {
                    self.overlay = Some(Overlay::Help);
                }
            }
            Some(Overlay::Details(what)) => match input {
                Some(Input::Back | Input::Details) => {}
                Some(Input::Quit) => self.ask_quit(actions),
                _ => self.overlay = Some(Overlay::Details(what)),
            },
            None => {
                if let Some(i) = input {
                    self.key_main(i, actions);
                }
            }
        }
    }

    /// Ctrl-C: stop the run where it is and leave, keeping everything.
    fn quit_now(&mut self, actions: &mut Vec<Action>) {
        if self.running() {
            actions.push(Action::CancelWorkflow);
        }
        actions.push(Action::Quit);
        self.quit = true;
        self.interrupted = true;
    }

    fn key_entry(&mut self, entry: Entry, k: KeyEvent, actions: &mut Vec<Action>) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let (mut text, is_filter) = match entry {
            Entry::Filter(t) => (t, true),
            Entry::Resize(t) => (t, false),
        };
        match k.code {
            KeyCode::Esc => {
                if is_filter {
                    self.set_filter(String::new());
                }
                return;
            }
            KeyCode::Enter => {
                if is_filter {
                    self.set_filter(text);
                } else {
                    self.submit_resize(&text, actions);
                }
                return;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('c') if ctrl => {
                self.quit_now(actions);
                return;
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char(c) if !ctrl && (is_filter || c.is_ascii_digit()) && text.len() < 64 => {
                text.push(c)
            }
            _ => {}
        }
        if is_filter {
            // Filter as you type.
            self.set_filter(text.clone());
            self.entry = Some(Entry::Filter(text));
        } else {
            self.entry = Some(Entry::Resize(text));
        }
    }

    fn set_filter(&mut self, f: String) {
        if self.filter != f {
            self.filter = f;
            self.tasks.stale = true;
            self.task_offset.set(0);
        }
    }

    fn submit_resize(&mut self, text: &str, actions: &mut Vec<Action>) {
        match text.parse::<u32>() {
            Ok(n) if n <= 1000 => actions.push(Action::Run(Command::ResizePool {
                pool_id: self.ids.pool_id.clone(),
                target: n,
            })),
            _ => self.notify(
                format!("{text:?} is not a node count: type 0 to 1000, then Enter"),
                true,
            ),
        }
    }

    fn key_dialog(
        &mut self,
        mut d: Dialog,
        k: KeyEvent,
        input: Option<Input>,
        actions: &mut Vec<Action>,
    ) {
        let direct = match k.code {
            KeyCode::Char(c) => d.buttons.iter().position(|b| b.key == c),
            _ => None,
        };
        let chosen = match (direct, input) {
            (Some(i), _) => Some(i),
            (None, Some(Input::Back | Input::Quit)) => Some(0),
            (None, Some(Input::Details)) => Some(d.focused),
            (None, Some(Input::Left | Input::PrevPanel | Input::Up)) => {
                d.focused = d.focused.checked_sub(1).unwrap_or(d.buttons.len() - 1);
                None
            }
            (None, Some(Input::Right | Input::NextPanel | Input::Down)) => {
                d.focused = (d.focused + 1) % d.buttons.len();
                None
            }
            _ => None,
        };
        let Some(i) = chosen else {
            self.overlay = Some(Overlay::Dialog(d));
            return;
        };
        match d.buttons[i].outcome.clone() {
            Outcome::Cancel => {}
            Outcome::Run(c) => {
                if let Command::DeleteContainers(names) = &c {
                    for n in names {
                        self.set_presence(Resource::Container(n.clone()), Presence::Deleting);
                    }
                }
                actions.push(Action::Run(c));
            }
            Outcome::Answer(yes) => {
                self.asking = None;
                actions.push(Action::Answer(yes));
            }
            Outcome::QuitKeep => {
                actions.push(Action::CancelWorkflow);
                actions.push(Action::Quit);
                self.quit = true;
            }
            Outcome::QuitDelete => {
                actions.push(Action::CancelWorkflow);
                let present: Vec<Resource> = self.present().into_iter().cloned().collect();
                if let Some(r) = self.asking.take() {
                    let _ = r;
                    actions.push(Action::Answer(false));
                }
                for c in self.delete_commands(&present) {
                    actions.push(Action::Run(c));
                }
                self.notify("Deleting what remains, then quitting...", false);
                self.quit_after = Some(present);
            }
        }
    }

    /// The commands that delete `resources`: the job first, then the pool, then containers.
    fn delete_commands(&self, resources: &[Resource]) -> Vec<Command> {
        let mut out = Vec::new();
        let mut containers = Vec::new();
        for r in resources {
            match r {
                Resource::Job(id) => out.insert(0, Command::DeleteJob(id.clone())),
                Resource::Pool(id) => out.push(Command::DeletePool(id.clone())),
                Resource::Container(c) => containers.push(c.clone()),
            }
        }
        if !containers.is_empty() {
            out.push(Command::DeleteContainers(containers));
        }
        out
    }

    fn ask_quit(&mut self, actions: &mut Vec<Action>) {
        let present: Vec<Resource> = self.present().into_iter().cloned().collect();
        if present.is_empty() && !self.running() {
            self.quit = true;
            actions.push(Action::Quit);
            return;
        }
        let mut lines = Vec::new();
        if let Some(step) = self.current_step() {
            lines.push(format!(
                "The run is still at step {}/9 ({}); quitting stops it.",
                step.number(),
                step.title()
            ));
        }
        if present.is_empty() {
            lines.push("Nothing it created is left.".into());
        } else {
            lines.push(if self.target.embedded {
                "Still present (on the embedded local Azure, at no cost):".into()
            } else {
                "Still present:".into()
            });
            for r in &present {
                lines.push(format!("  {r}: {}", r.cost_note()));
            }
        }
        let mut buttons = vec![
            button("Cancel", 'n', Outcome::Cancel),
            button("Keep them and quit", 'k', Outcome::QuitKeep),
        ];
        if present.is_empty() {
            buttons[1].label = "Quit".into();
        } else if !self.readonly {
            buttons.push(button("Delete them and quit", 'd', Outcome::QuitDelete));
        }
        self.overlay = Some(Overlay::Dialog(Dialog {
            title: "Quit batchdeck?".into(),
            lines,
            buttons,
            focused: 0,
            danger: !present.is_empty(),
        }));
    }

    /// Opens the confirmation for deleting `r`, if it is there and the session may.
    fn confirm_delete(&mut self, what: &str, rs: Vec<Resource>) {
        if self.readonly {
            self.notify(
                format!("Read-only session (--readonly): deleting the {what} is disabled"),
                true,
            );
            return;
        }
        let present: Vec<Resource> = rs
            .into_iter()
            .filter(|r| self.presence(r) == Some(Presence::Present))
            .collect();
        if present.is_empty() {
            self.notify(format!("No {what} to delete"), true);
            return;
        }
        let mut lines = Vec::new();
        for r in &present {
            lines.push(format!("Delete {r}?"));
        }
        let cost = present[0].cost_note();
        lines.push(format!("Keeping it: {cost}."));
        if matches!(present[0], Resource::Job(_) | Resource::Pool(_)) && self.running() {
            lines.push("The run is still going: it will fail when this is gone.".into());
        }
        if matches!(present[0], Resource::Pool(_)) {
            lines.push("Tasks running on its nodes are killed.".into());
        }
        let cmd = self
            .delete_commands(&present)
            .into_iter()
            .next()
            .expect("one command for a non-empty list");
        self.overlay = Some(Overlay::Dialog(Dialog {
            title: format!("Delete the {what}?"),
            lines,
            buttons: vec![
                button("Cancel", 'n', Outcome::Cancel),
                button("Delete", 'y', Outcome::Run(cmd)),
            ],
            focused: 0,
            danger: true,
        }));
    }

    fn key_main(&mut self, input: Input, actions: &mut Vec<Action>) {
        match input {
            Input::Help => self.overlay = Some(Overlay::Help),
            Input::Quit => self.ask_quit(actions),
            Input::QuitNow => {}
            Input::NextPanel => self.focus = self.focus.step(1),
            Input::PrevPanel => self.focus = self.focus.step(-1),
            Input::Up => self.move_by(-1, actions),
            Input::Down => self.move_by(1, actions),
            Input::PageUp => self.move_by(-(self.page.get().max(1) as isize), actions),
            Input::PageDown => self.move_by(self.page.get().max(1) as isize, actions),
            Input::Top => self.move_by(isize::MIN / 2, actions),
            Input::Bottom => self.move_by(isize::MAX / 2, actions),
            Input::Details => match self.focus {
                Panel::Nodes => {
                    if let Some(n) = self.selected_node_view() {
                        self.overlay = Some(Overlay::Details(DetailsOf::Node(n.id.clone())));
                    }
                }
                Panel::Tasks | Panel::Preview => {
                    if let Some(t) = &self.selected_task {
                        self.overlay = Some(Overlay::Details(DetailsOf::Task(t.clone())));
                    }
                }
            },
            Input::Back => {
                if !self.filter.is_empty() {
                    self.set_filter(String::new());
                }
            }
            Input::Filter => {
                self.focus = Panel::Tasks;
                self.entry = Some(Entry::Filter(self.filter.clone()));
            }
            Input::Sort => {
                let i = SortKey::ALL
                    .iter()
                    .position(|k| *k == self.sort)
                    .unwrap_or(0);
                self.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
                self.tasks.stale = true;
            }
            Input::Reverse => {
                self.descending = !self.descending;
                self.tasks.stale = true;
            }
            Input::DeleteJob => {
                self.confirm_delete("job", vec![Resource::Job(self.ids.job_id.clone())])
            }
            Input::DeletePool => {
                self.confirm_delete("pool", vec![Resource::Pool(self.ids.pool_id.clone())])
            }
            Input::DeleteContainers => {
                let rs = self
                    .ids
                    .containers
                    .iter()
                    .map(|c| Resource::Container(c.clone()))
                    .collect();
                self.confirm_delete("containers", rs)
            }
            Input::ResizePool => {
                if self.readonly {
                    self.notify("Read-only session (--readonly): resizing is disabled", true);
                } else if self.presence(&Resource::Pool(self.ids.pool_id.clone()))
                    != Some(Presence::Present)
                {
                    self.notify("No pool to resize", true);
                } else {
                    self.entry = Some(Entry::Resize(String::new()));
                }
            }
            Input::RetryTask => self.retry_selected(actions),
            Input::Left | Input::Right | Input::Yes | Input::No => {}
        }
    }

    fn retry_selected(&mut self, actions: &mut Vec<Action>) {
        if self.readonly {
            self.notify("Read-only session (--readonly): retrying is disabled", true);
            return;
        }
        match self.selected_task_view() {
            Some(t) if task_failed(t) => {
                let task_id = t.id.clone();
                actions.push(Action::Run(Command::ReactivateTask {
                    job_id: self.ids.job_id.clone(),
                    task_id,
                }));
            }
            Some(t) => {
                let msg = format!(
                    "Task {} did not fail: only failed tasks can be retried",
                    t.id
                );
                self.notify(msg, true)
            }
            None => self.notify("No task selected", true),
        }
    }

    fn move_by(&mut self, by: isize, actions: &mut Vec<Action>) {
        match self.focus {
            Panel::Nodes => {
                let n = self.nodes.len();
                if n > 0 {
                    self.selected_node = clamp_add(self.selected_node, by, n);
                }
            }
            Panel::Tasks => {
                self.prepare();
                let n = self.tasks.order.len();
                if n == 0 {
                    return;
                }
                let cur = self.selected_index().unwrap_or(0);
                let next = clamp_add(cur, by, n);
                let id = self.tasks.rows[self.tasks.order[next]].id.clone();
                if self.selected_task.as_deref() != Some(&id) {
                    self.selected_task = Some(id);
                    self.preview_scroll = 0;
                    self.refresh_preview(actions, true);
                }
            }
            Panel::Preview => {
                let v = self.preview_scroll as isize + by;
                self.preview_scroll = v.clamp(0, u16::MAX as isize) as u16;
            }
        }
    }
}

fn clamp_add(cur: usize, by: isize, len: usize) -> usize {
    (cur as isize).saturating_add(by).clamp(0, len as isize - 1) as usize
}

fn button(label: &str, key: char, outcome: Outcome) -> Button {
    Button {
        label: label.into(),
        key,
        outcome,
    }
}

#[cfg(test)]
mod tests;
