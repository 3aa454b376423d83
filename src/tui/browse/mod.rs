//! `batchdeck browse`: the account's pools and jobs as tables, and a navigation stack over
//! them, as in k9s. A pool drills down to its nodes and a job to its tasks, which are the run
//! session's own panels (the node table and heatmap, the task table) fed by the same watcher.
//!
//! This module holds the models (no I/O): [`Listing`], a table that keeps every row once and
//! the filtered, sorted order the view shows; the views of the stack ([`View`]); and the `:`
//! command line's parsing and completion. `App` drives them (`tui/app/browse.rs`); `views`
//! draws them.

pub mod actions;
pub mod details;
pub mod log;
pub mod search;
pub mod views;
pub mod watcher;

use std::cmp::Ordering;

use crate::tui::app::natural_cmp;
use crate::workflow::events::{Entity, FileRow, FilesOf, JobRow, PoolRow};

/// A view of the navigation stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    Pools,
    Jobs,
    /// The nodes of a pool.
    Nodes(String),
    /// The tasks of a job.
    Tasks(String),
    /// The files of a task or a node.
    Files(FilesOf),
    /// A file, in the log viewer.
    Log(FilesOf, String),
    /// An entity's properties.
    Details(Entity),
}

impl View {
    /// Its part of the breadcrumb.
    pub fn crumb(&self) -> String {
        match self {
            View::Pools => "pools".into(),
            View::Jobs => "jobs".into(),
            View::Nodes(p) => format!("{p} › nodes"),
            View::Tasks(j) => format!("{j} › tasks"),
            View::Files(FilesOf::Task { task, .. }) => format!("{task} › files"),
            View::Files(FilesOf::Node { node, .. }) => format!("{node} › files"),
            View::Log(_, path) => path.clone(),
            View::Details(
                Entity::Pool(id)
                | Entity::Job(id)
                | Entity::Node { node: id, .. }
                | Entity::Task { task: id, .. },
            ) => format!("{id} › details"),
        }
    }

    /// Whether the view is one of the account's lists.
    pub fn is_list(&self) -> bool {
        matches!(self, View::Pools | View::Jobs | View::Files(_))
    }
}

/// What the watcher must watch for the view on top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watching {
    Pools,
    /// The jobs, with the task counts of those on screen.
    Jobs(Vec<String>),
    /// A pool and its nodes.
    Pool(String),
    /// A job's tasks, and its pool's nodes.
    Job {
        job: String,
        pool: Option<String>,
    },
    /// The files of a task or a node.
    Files(FilesOf),
    /// A window of a file (the log viewer).
    File(log::Want),
    /// An entity's properties.
    Details(Entity),
}

impl Watching {
    /// Whether going from `self` to `next` needs another watcher (rather than new counts).
    pub fn needs_new_watcher(&self, next: &Watching) -> bool {
        !matches!(
            (self, next),
            (Watching::Jobs(_), Watching::Jobs(_)) | (Watching::File(_), Watching::File(_))
        ) && self != next
    }
}

/// A row of a [`Listing`]: its id, the columns it sorts by, what a filter matches.
pub trait Row {
    /// The columns' titles, in the order `s` goes through them.
    const COLUMNS: &'static [&'static str];
    fn id(&self) -> &str;
    /// Compares by column `col` (ids break ties).
    fn cmp_by(&self, other: &Self, col: usize) -> Ordering;
    /// The texts a filter looks in (lower case).
    fn matches(&self, needle: &str) -> bool;
}

/// A table of the account: every row once, and the order shown (filtered, sorted).
#[derive(Debug)]
pub struct Listing<T> {
    pub rows: Vec<T>,
    /// Indices into `rows`, filtered and sorted.
    pub order: Vec<usize>,
    pub filter: String,
    /// The column sorted by (an index into `T::COLUMNS`).
    pub sort: usize,
    pub descending: bool,
    /// The selected row's id.
    pub selected: Option<String>,
    /// The first row on screen, kept by `settle` so that the selection is in view.
    pub offset: usize,
    /// The rows have been listed at least once.
    pub loaded: bool,
    /// The ids of the rows marked (Space): actions apply to them.
    pub marked: std::collections::BTreeSet<String>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            rows: Vec::new(),
            order: Vec::new(),
            filter: String::new(),
            sort: 0,
            descending: false,
            selected: None,
            offset: 0,
            loaded: false,
            marked: Default::default(),
        }
    }
}

impl<T: Row> Listing<T> {
    /// Replaces the rows (a new listing) and reorders.
    pub fn set_rows(&mut self, rows: Vec<T>) {
        self.rows = rows;
        self.loaded = true;
        self.reorder();
    }

    /// Filters and sorts again (after the rows, the filter or the sort changed).
    pub fn reorder(&mut self) {
        let needle = self.filter.to_lowercase();
        let rows = &self.rows;
        let mut order: Vec<usize> = (0..rows.len())
            .filter(|&i| needle.is_empty() || rows[i].matches(&needle))
            .collect();
        let (col, desc) = (self.sort, self.descending);
        order.sort_by(|&a, &b| {
            let o = rows[a]
                .cmp_by(&rows[b], col)
                .then_with(|| natural_cmp(rows[a].id(), rows[b].id()));
            if desc { o.reverse() } else { o }
        });
        self.order = order;
    }

    pub fn set_filter(&mut self, f: String) {
        if self.filter != f {
            self.filter = f;
            self.offset = 0;
            self.reorder();
        }
    }

    /// `s`: the next column.
    pub fn next_sort(&mut self) {
        self.sort = (self.sort + 1) % T::COLUMNS.len();
        self.reorder();
    }

    /// `S`: the other direction.
    pub fn reverse(&mut self) {
        self.descending = !self.descending;
        self.reorder();
    }

    /// Position of the selected row in the order shown.
    pub fn selected_index(&self) -> Option<usize> {
        let id = self.selected.as_deref()?;
        self.order.iter().position(|&i| self.rows[i].id() == id)
    }

    pub fn selected_row(&self) -> Option<&T> {
        self.selected_index().map(|i| &self.rows[self.order[i]])
    }

    /// Space: marks or unmarks the selected row, and moves to the next.
    pub fn toggle_mark(&mut self) {
        if let Some(id) = self.selected.clone() {
            if !self.marked.remove(&id) {
                self.marked.insert(id);
            }
            self.move_by(1);
        }
    }

    /// What an action applies to: the marked rows still listed, else the selected one.
    pub fn targets(&self) -> Vec<String> {
        let marked: Vec<String> = self
            .rows
            .iter()
            .map(|r| r.id().to_string())
            .filter(|id| self.marked.contains(id))
            .collect();
        if marked.is_empty() {
            self.selected.iter().cloned().collect()
        } else {
            marked
        }
    }

    /// Moves the selection by `by` rows (clamped).
    pub fn move_by(&mut self, by: isize) {
        if self.order.is_empty() {
            return;
        }
        let cur = self.selected_index().unwrap_or(0) as isize;
        let next = cur
            .saturating_add(by)
            .clamp(0, self.order.len() as isize - 1) as usize;
        self.selected = Some(self.rows[self.order[next]].id().to_string());
    }

    /// Keeps a selection (the first row when the selected one went away) and the scroll
    /// offset that shows it, for `page` rows on screen.
    pub fn settle(&mut self, page: usize) {
        if self.selected_index().is_none() {
            self.selected = self
                .order
                .get(self.offset.min(self.order.len().saturating_sub(1)))
                .map(|&i| self.rows[i].id().to_string());
        }
        self.offset = crate::tui::layout::scroll_into_view(
            self.offset,
            self.selected_index(),
            page,
            self.order.len(),
        );
    }

    /// The rows on screen: `page` rows from the offset.
    pub fn visible(&self, page: usize) -> impl Iterator<Item = (usize, &T)> {
        let end = (self.offset + page).min(self.order.len());
        self.order[self.offset.min(end)..end]
            .iter()
            .enumerate()
            .map(move |(i, &r)| (self.offset + i, &self.rows[r]))
    }
}

impl Row for PoolRow {
    const COLUMNS: &'static [&'static str] = &[
        "Pool",
        "State",
        "Allocation",
        "VM size",
        "Dedicated",
        "Spot",
        "Slots",
        "Created",
    ];

    fn id(&self) -> &str {
        &self.pool.id
    }

    fn cmp_by(&self, o: &Self, col: usize) -> Ordering {
        let (a, b) = (&self.pool, &o.pool);
        match col {
            1 => a.state.as_str().cmp(b.state.as_str()),
            2 => a.allocation_state.as_str().cmp(b.allocation_state.as_str()),
            3 => a.vm_size.cmp(&b.vm_size),
            4 => (a.current_dedicated, a.target_dedicated)
                .cmp(&(b.current_dedicated, b.target_dedicated)),
            5 => (a.current_low_priority, a.target_low_priority)
                .cmp(&(b.current_low_priority, b.target_low_priority)),
            6 => self.task_slots.cmp(&o.task_slots),
            7 => self.created.cmp(&o.created),
            _ => Ordering::Equal,
        }
    }

    fn matches(&self, needle: &str) -> bool {
        let p = &self.pool;
        p.id.to_lowercase().contains(needle)
            || p.state.as_str().contains(needle)
            || p.allocation_state.as_str().contains(needle)
            || p.vm_size.to_lowercase().contains(needle)
    }
}

impl Row for JobRow {
    const COLUMNS: &'static [&'static str] = &["Job", "State", "Pool", "Priority", "Created"];

    fn id(&self) -> &str {
        &self.id
    }

    fn cmp_by(&self, o: &Self, col: usize) -> Ordering {
        match col {
            1 => self.state.as_str().cmp(o.state.as_str()),
            2 => self.pool_id.cmp(&o.pool_id),
            3 => self.priority.cmp(&o.priority),
            4 => self.created.cmp(&o.created),
            _ => Ordering::Equal,
        }
    }

    fn matches(&self, needle: &str) -> bool {
        self.id.to_lowercase().contains(needle)
            || self.state.as_str().contains(needle)
            || self
                .pool_id
                .as_deref()
                .is_some_and(|p| p.to_lowercase().contains(needle))
    }
}

impl Row for FileRow {
    const COLUMNS: &'static [&'static str] = &["File", "Size", "Modified"];

    fn id(&self) -> &str {
        &self.path
    }

    fn cmp_by(&self, o: &Self, col: usize) -> Ordering {
        match col {
            1 => self.size.cmp(&o.size),
            2 => self.modified.cmp(&o.modified),
            _ => Ordering::Equal,
        }
    }

    fn matches(&self, needle: &str) -> bool {
        self.path.to_lowercase().contains(needle)
    }
}

/// A `:` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Pools,
    Jobs,
    /// `nodes [POOL]` (the selected or current pool when none is named).
    Nodes(Option<String>),
    /// `tasks [JOB]`.
    Tasks(Option<String>),
    /// `pool ID`: that pool's nodes.
    Pool(String),
    /// `job ID`: that job's tasks.
    Job(String),
}

/// The command words, in the order completion offers them.
pub const COMMANDS: &[&str] = &["pools", "jobs", "nodes", "tasks", "pool", "job"];

/// Parses a command line; the error says what is understood.
pub fn parse(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let arg = words.next().map(str::to_string);
    if words.next().is_some() {
        return Err(format!("{line:?}: one argument at most ({})", usage()));
    }
    match (verb, arg) {
        ("pools", None) => Ok(Command::Pools),
        ("jobs", None) => Ok(Command::Jobs),
        ("nodes", a) => Ok(Command::Nodes(a)),
        ("tasks", a) => Ok(Command::Tasks(a)),
        ("pool", Some(id)) => Ok(Command::Pool(id)),
        ("job", Some(id)) => Ok(Command::Job(id)),
        ("pool" | "job", None) => Err(format!(":{verb} needs an id ({})", usage())),
        ("pools" | "jobs", Some(_)) => Err(format!(":{verb} takes no argument ({})", usage())),
        _ => Err(format!("unknown command {verb:?} ({})", usage())),
    }
}

fn usage() -> &'static str {
    "commands: pools, jobs, nodes [POOL], tasks [JOB], pool ID, job ID"
}

/// Tab on a command line: the longest completion of its last word shared by every candidate
/// (command words first; then pool ids after `nodes`/`pool`, job ids after `tasks`/`job`), and
/// the candidates, for the line's hint.
pub fn complete<'a>(
    line: &str,
    pools: impl Iterator<Item = &'a str>,
    jobs: impl Iterator<Item = &'a str>,
) -> (String, Vec<String>) {
    let (head, word) = match line.rfind(' ') {
        Some(i) => (&line[..=i], &line[i + 1..]),
        None => ("", line),
    };
    let candidates: Vec<String> = match head.split_whitespace().next() {
        None => COMMANDS
            .iter()
            .filter(|c| c.starts_with(word))
            .map(|c| c.to_string())
            .collect(),
        Some("nodes" | "pool") => pools
            .filter(|p| p.starts_with(word))
            .map(str::to_string)
            .collect(),
        Some("tasks" | "job") => jobs
            .filter(|j| j.starts_with(word))
            .map(str::to_string)
            .collect(),
        Some(_) => Vec::new(),
    };
    let completed = match candidates.as_slice() {
        [] => line.to_string(),
        [one] => {
            let space = if head.is_empty() && !matches!(one.as_str(), "pools" | "jobs") {
                " "
            } else {
                ""
            };
            format!("{head}{one}{space}")
        }
        many => format!("{head}{}", common_prefix(many)),
    };
    (completed, candidates)
}

fn common_prefix(words: &[String]) -> String {
    let first = &words[0];
    let mut n = first.len();
    for w in &words[1..] {
        n = n.min(
            first
                .char_indices()
                .zip(w.chars())
                .take_while(|((_, a), b)| a == b)
                .count(),
        );
    }
    first.chars().take(n).collect()
}

#[cfg(test)]
mod details_tests;
#[cfg(test)]
mod download_tests;
#[cfg(test)]
mod tests;
