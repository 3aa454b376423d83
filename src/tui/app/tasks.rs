//! The task table's model: every task once, filtered and sorted for the view.

use std::collections::HashMap;

use crate::azure::models::TaskState;
use crate::workflow::events::{TaskView, Waits};

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
    pub(super) index: HashMap<String, usize>,
    /// Indices into `rows`, filtered and sorted; valid when `stale` is false.
    pub order: Vec<usize>,
    pub(super) stale: bool,
    /// Each row's place in natural id order (ids never change: recomputed only when rows are
    /// added), so that sorting compares integers.
    id_rank: Vec<u32>,
    /// Rows whose duration is drawn from their start time (running tasks).
    pub(super) ticking: usize,
}

/// Whether a row's duration is drawn from its start time (a running task's): the clock moves it.
fn ticks(t: &TaskView) -> bool {
    t.duration_ms.is_none() && t.started.is_some() && t.state == TaskState::Running
}

impl Tasks {
    pub(super) fn upsert(&mut self, t: TaskView) {
        if ticks(&t) {
            self.ticking += 1;
        }
        match self.index.get(&t.id) {
            Some(&i) => {
                if ticks(&self.rows[i]) {
                    self.ticking -= 1;
                }
                self.rows[i] = t
            }
            None => {
                self.index.insert(t.id.clone(), self.rows.len());
                self.rows.push(t);
            }
        }
        self.stale = true;
    }

    /// Drops the rows of `ids` (tasks that no longer exist).
    pub(super) fn remove(&mut self, ids: &[String]) {
        let gone: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let before = self.rows.len();
        self.rows.retain(|t| !gone.contains(t.id.as_str()));
        if self.rows.len() == before {
            return;
        }
        self.index = (self.rows.iter().enumerate())
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        self.ticking = self.rows.iter().filter(|t| ticks(t)).count();
        // Indices moved: the order and the id ranks are made again.
        self.order.clear();
        self.id_rank.clear();
        self.stale = true;
    }

    pub fn get(&self, id: &str) -> Option<&TaskView> {
        self.index.get(id).map(|&i| &self.rows[i])
    }

    pub(super) fn reorder(&mut self, key: SortKey, descending: bool, filter: &str) {
        let needle = filter.to_lowercase();
        let rows = &self.rows;
        let keep = |i: usize| {
            needle.is_empty() || {
                let t = &rows[i];
                t.id.to_lowercase().contains(&needle)
                    || t.state.as_str().contains(&needle)
                    || t.state_name().contains(&needle)
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
        // The state's rank (which looks at the result too): once per row, not per comparison.
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
    t.failed()
}

fn state_rank(t: &TaskView) -> u8 {
    match (&t.state, &t.waits) {
        (TaskState::Running, _) => 0,
        (TaskState::Preparing, _) => 1,
        (TaskState::Active, None) => 2,
        (TaskState::Active, Some(Waits::On(_))) => 3,
        (TaskState::Active, Some(Waits::Blocked { .. })) => 4,
        (TaskState::Completed, _) if task_failed(t) => 5,
        (TaskState::Completed, _) => 6,
        (TaskState::Unknown(_), _) => 7,
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
