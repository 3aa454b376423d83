//! The pollers: each reads one resource (a pool, its nodes, a job's tasks, a task's stdout and
//! stderr), sends what changed as `Event`s, and tells the engine whether anything moved.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedSender;

use crate::azure::batch::{BatchClient, BatchError};
use crate::azure::models::{Task, TaskState};
use crate::watch::convert::{
    JOB_ROW_SELECT, POOL_ROW_SELECT, POOL_SELECT, TASK_SELECT, fingerprint, job_row, node_view,
    pool_row, pool_view, task_view,
};
use crate::watch::waits::Dependencies;
use crate::workflow::controller::{file_len, read_range};
use crate::workflow::events::{
    Entity, Event, FileRow, FilesOf, JobRow, NodeView, PoolRow, PoolView, Properties, TaskCounts,
    TaskFile, TaskView,
};

/// Most bytes read from the end of a task file at once.
pub const TAIL_BYTES: u64 = 16 * 1024;

/// Every how many polls finding a job's task counts unchanged its tasks are listed all the
/// same: a task deleted and another added between two polls show within this many (`JobTasks`).
pub const CHECK_EVERY: u32 = 3;

/// What a poll learned, for the engine's schedule and the session's snapshot.
#[derive(Debug)]
pub(crate) enum Learned {
    Pool(PoolView),
    Nodes(Vec<NodeView>),
    Job {
        counts: TaskCounts,
        /// The previewed task, if this poll saw it change.
        previewed: Option<TaskView>,
    },
    /// The account's pools or jobs, or a task's or node's files (browsing).
    Lists,
    /// A window of a file was read; `done` when nothing more is to be read (not following).
    File {
        done: bool,
    },
    Tail {
        /// The task as its first read found it (a task just chosen: the session's view of
        /// it may be older than the watcher's).
        task: Option<TaskView>,
    },
}

#[derive(Debug)]
pub(crate) struct Polled {
    /// Something on screen changed.
    pub changed: bool,
    pub learned: Learned,
}

/// Sends `now` (as `event` makes it) when it differs from `last`, and keeps it; returns
/// whether it changed.
fn report<T: PartialEq + Clone>(
    last: &mut Option<T>,
    now: &T,
    tx: &UnboundedSender<Event>,
    event: fn(T) -> Event,
) -> bool {
    let changed = last.as_ref() != Some(now);
    if changed {
        let _ = tx.send(event(now.clone()));
        *last = Some(now.clone());
    }
    changed
}

/// A pool's properties.
#[derive(Debug)]
pub(crate) struct PoolPoller {
    pub id: String,
    last: Option<PoolView>,
}

impl PoolPoller {
    pub fn new(id: String) -> PoolPoller {
        PoolPoller { id, last: None }
    }

    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
    ) -> Result<Polled, BatchError> {
        let v = pool_view(&batch.get_pool(&self.id, Some(POOL_SELECT)).await?);
        let changed = self.last.as_ref() != Some(&v);
        if changed {
            let _ = tx.send(Event::Pool(v.clone()));
            self.last = Some(v.clone());
        }
        Ok(Polled {
            changed,
            learned: Learned::Pool(v),
        })
    }
}

/// A pool's nodes.
#[derive(Debug)]
pub(crate) struct NodesPoller {
    pub pool_id: String,
    /// The nodes' properties asked for (the panels', or browsing's which shows more).
    select: &'static str,
    last: Option<Vec<NodeView>>,
}

impl NodesPoller {
    pub fn new(pool_id: String, select: &'static str) -> NodesPoller {
        NodesPoller {
            pool_id,
            select,
            last: None,
        }
    }

    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
    ) -> Result<Polled, BatchError> {
        let mut nodes: Vec<NodeView> = batch
            .list_nodes(&self.pool_id, Some(self.select))
            .await?
            .iter()
            .map(node_view)
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let changed = report(&mut self.last, &nodes, tx, Event::Nodes);
        Ok(Polled {
            changed,
            learned: Learned::Nodes(nodes),
        })
    }
}

/// The account's pools (browsing): the list, sent when it changed.
#[derive(Debug, Default)]
pub(crate) struct PoolsPoller {
    last: Option<Vec<PoolRow>>,
}

impl PoolsPoller {
    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
    ) -> Result<Polled, BatchError> {
        let mut rows: Vec<PoolRow> = batch
            .list_pools(Some(POOL_ROW_SELECT))
            .await?
            .iter()
            .map(pool_row)
            .collect();
        rows.sort_by(|a, b| a.pool.id.cmp(&b.pool.id));
        // The nodes by state of every pool, in one request (a service that does not serve it
        // leaves the bars empty).
        match batch.pool_node_counts().await {
            Ok(counts) => {
                for c in counts {
                    if let Ok(i) = rows.binary_search_by(|r| r.pool.id.as_str().cmp(&c.pool_id)) {
                        rows[i].nodes = Some(c.all());
                    }
                }
            }
            Err(e) if matches!(e.status(), Some(400 | 404 | 501)) => {}
            Err(e) => return Err(e),
        }
        Ok(Polled {
            changed: report(&mut self.last, &rows, tx, Event::Pools),
            learned: Learned::Lists,
        })
    }
}

/// The account's jobs (browsing): the list, and the task counts of the jobs on screen (one
/// request each: only those rows are asked).
#[derive(Debug, Default)]
pub(crate) struct JobsPoller {
    /// The jobs whose counts are shown.
    pub counts_for: Vec<String>,
    last: Option<Vec<JobRow>>,
}

impl JobsPoller {
    pub fn new(counts_for: Vec<String>) -> JobsPoller {
        JobsPoller {
            counts_for,
            last: None,
        }
    }

    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
    ) -> Result<Polled, BatchError> {
        let mut rows: Vec<JobRow> = batch
            .list_jobs(Some(JOB_ROW_SELECT))
            .await?
            .iter()
            .map(job_row)
            .collect();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        for id in &self.counts_for {
            let Ok(i) = rows.binary_search_by(|r| r.id.as_str().cmp(id)) else {
                continue;
            };
            match batch.task_counts(id).await {
                Ok(c) => rows[i].counts = Some(counts_of(&c.task_counts)),
                // Deleted since it was listed: its row goes with the next listing.
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Polled {
            changed: report(&mut self.last, &rows, tx, Event::Jobs),
            learned: Learned::Lists,
        })
    }
}

/// The service's task counts as the panels show them.
fn counts_of(c: &crate::azure::models::TaskCounts) -> TaskCounts {
    TaskCounts {
        active: c.active.max(0) as u64,
        running: c.running.max(0) as u64,
        completed: c.completed.max(0) as u64,
        succeeded: c.succeeded.max(0) as u64,
        failed: c.failed.max(0) as u64,
    }
}

/// The files of a task or a node (browsing), listed recursively.
#[derive(Debug)]
pub(crate) struct FilesPoller {
    pub of: FilesOf,
    last: Option<Vec<FileRow>>,
}

impl FilesPoller {
    pub fn new(of: FilesOf) -> FilesPoller {
        FilesPoller { of, last: None }
    }

    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
    ) -> Result<Polled, BatchError> {
        let files = match &self.of {
            FilesOf::Task { job, task } => batch.list_task_files(job, task, true).await?,
            FilesOf::Node { pool, node } => batch.list_node_files(pool, node, true).await?,
        };
        let mut rows: Vec<FileRow> = files
            .into_iter()
            .map(|f| FileRow {
                path: f.name,
                is_dir: f.is_directory,
                size: f.properties.as_ref().map_or(0, |p| p.content_length),
                modified: f.properties.map(|p| p.last_modified),
            })
            .collect();
        rows.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Polled {
            changed: report(&mut self.last, &rows, tx, Event::Files),
            learned: Learned::Lists,
        })
    }
}

/// An entity's properties as the service returns them (browsing's details view), sent when
/// they changed; one that does not exist is said so.
#[derive(Debug)]
pub(crate) struct DetailsPoller {
    pub of: Entity,
    last: Option<Option<Properties>>,
}

impl DetailsPoller {
    pub fn new(of: Entity) -> DetailsPoller {
        DetailsPoller { of, last: None }
    }

    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
    ) -> Result<Polled, BatchError> {
        let url = match &self.of {
            Entity::Pool(id) => batch.url(&["pools", id], &[]),
            Entity::Job(id) => batch.url(&["jobs", id], &[]),
            Entity::Node { pool, node } => batch.url(&["pools", pool, "nodes", node], &[]),
            Entity::Task { job, task } => batch.url(&["jobs", job, "tasks", task], &[]),
        };
        let now = match batch.get_json(&format!("get {}", self.of), url).await {
            Ok(json) => Some(Properties::from_service(json)),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        };
        let changed = self.last.as_ref() != Some(&now);
        if changed {
            let _ = tx.send(Event::Details {
                of: self.of.clone(),
                properties: now.clone(),
            });
            self.last = Some(now);
        }
        Ok(Polled {
            changed,
            learned: Learned::Lists,
        })
    }
}

/// A window of a file, read by byte range (browsing's log viewer): from a place, or its
/// end; then, when following, only what is appended.
#[derive(Debug)]
pub(crate) struct FilePoller {
    pub of: FilesOf,
    pub path: String,
    /// Where the next read starts (`None`: the last window of the file).
    from: Option<u64>,
    follow: bool,
    window: u64,
}

impl FilePoller {
    pub fn new(of: FilesOf, path: String, from: Option<u64>, follow: bool, window: u64) -> Self {
        FilePoller {
            of,
            path,
            from,
            follow,
            window,
        }
    }

    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
    ) -> Result<Polled, BatchError> {
        let len = file_len(batch, &self.of, &self.path).await?;
        // A file that shrank (written again) is read from its start.
        let from = match self.from {
            Some(f) if f <= len => f,
            Some(_) => 0,
            None => len.saturating_sub(self.window),
        };
        let end = len.min(from + self.window);
        let text = if end > from {
            let bytes = read_range(batch, &self.of, &self.path, from, end).await?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            String::new()
        };
        let first = self.from.is_none() || !self.follow || end > from;
        if first {
            let _ = tx.send(Event::FileChunk {
                path: self.path.clone(),
                from,
                len,
                text,
            });
        }
        self.from = Some(end);
        Ok(Polled {
            changed: end > from,
            learned: Learned::File { done: !self.follow },
        })
    }
}

/// What one poll of a job learns, as it learns it.
#[derive(Debug)]
pub enum JobNews {
    /// The task counts moved (they come first).
    Counts(TaskCounts),
    /// A page of tasks that changed.
    Tasks(Vec<TaskView>),
    /// Tasks seen before that the job no longer has (deleted, by anyone).
    Gone(Vec<String>),
}

/// A job's tasks, at a cost proportional to what changed.
///
/// Each poll reads the job's task counts (one small response). Only when they moved does it
/// list tasks, and then only those whose state changed since the newest transition already
/// seen (`$filter=stateTransitionTime ge ...`), with `$select` limited to what the panels show.
/// Each task's view is kept as a fingerprint, enough to tell what changed at a tenth of the
/// memory of the views themselves (the session keeps those). A deleted task is never listed
/// again: when more tasks have been seen than the counts total, one listing of the ids alone
/// tells which are gone, and the tasks that depend on them are worked out again.
///
/// A task deleted and another added in the same state between two polls leave the counts as
/// they were: so every [`CHECK_EVERY`]th poll that finds the counts unchanged lists with the
/// transition filter all the same. It returns the added task (and the newest ones already
/// seen, unchanged: no news, a few hundred bytes); then more tasks seen than the counts total
/// names the deleted one as above.
#[derive(Debug, Default)]
pub struct JobTasks {
    seen: HashMap<String, u64>,
    /// Polls in a row that found the counts unchanged and listed nothing.
    unchanged: u32,
    /// What holds the active tasks that depend on others (set on their views as `waits`).
    dependencies: Dependencies,
    newest_transition: Option<DateTime<Utc>>,
    counts: Option<TaskCounts>,
    /// Set when the service refuses the transition-time filter: list with `$select` only.
    no_time_filter: bool,
}

impl JobTasks {
    /// One poll: the counts, then (if they moved) the tasks that changed, handed to `on_page`
    /// a page at a time. Returns the counts and whether they moved.
    pub async fn poll(
        &mut self,
        batch: &BatchClient,
        job_id: &str,
        mut on: impl FnMut(JobNews),
    ) -> Result<(TaskCounts, bool), BatchError> {
        let counts = counts_of(&batch.task_counts(job_id).await?.task_counts);
        let moved = self.counts != Some(counts);
        if !moved {
            // Listing everything again to check would cost what the filter saves.
            let can_check = self.newest_transition.is_some() && !self.no_time_filter;
            self.unchanged += 1;
            if !can_check || self.unchanged < CHECK_EVERY {
                return Ok((counts, false));
            }
        }
        self.unchanged = 0;
        // The totals first: a panel can show them while the tasks come a page at a time.
        if moved {
            on(JobNews::Counts(counts));
        }
        let mut news = false;
        let mut on = |n: JobNews| {
            news = true;
            on(n)
        };
        let mut on_page = |page| on(JobNews::Tasks(page));
        let filter = match (self.newest_transition, self.no_time_filter) {
            (Some(t), false) => Some(format!(
                "stateTransitionTime ge datetime'{}'",
                t.format("%Y-%m-%dT%H:%M:%S%.fZ")
            )),
            _ => None,
        };
        // The newest transition moves only once the whole listing arrived: pages come in id
        // order, so a listing cut off half-way must be asked again from the same time.
        let mut newest = self.newest_transition;
        match self
            .list(batch, job_id, filter.as_deref(), &mut newest, &mut on_page)
            .await
        {
            Err(e) if e.status() == Some(400) && filter.is_some() => {
                tracing::info!(error = %e, "the service refused a stateTransitionTime filter; listing all tasks");
                self.no_time_filter = true;
                self.list(batch, job_id, None, &mut newest, &mut on_page)
                    .await?;
            }
            r => r?,
        }
        if self.seen.len() as u64 > counts.total() {
            let (gone, waits) = self.drop_deleted(batch, job_id).await?;
            if !gone.is_empty() {
                on(JobNews::Gone(gone));
            }
            if !waits.is_empty() {
                on(JobNews::Tasks(waits));
            }
        }
        self.newest_transition = newest;
        self.counts = Some(counts);
        Ok((counts, moved || news))
    }

    /// Lists the job's task ids and forgets the seen tasks not among them (`forget_all_but`).
    async fn drop_deleted(
        &mut self,
        batch: &BatchClient,
        job_id: &str,
    ) -> Result<(Vec<String>, Vec<TaskView>), BatchError> {
        let mut ids = std::collections::HashSet::new();
        batch
            .list_task_pages(job_id, None, Some("id"), |page| {
                ids.extend(page.into_iter().map(|t| t.id));
            })
            .await?;
        Ok(self.forget_all_but(&ids))
    }

    /// Forgets the seen tasks that are not in `ids`; returns them, sorted, and the views of
    /// the tasks whose dependencies they were, worked out again (see [`Dependencies::gone`]).
    fn forget_all_but(
        &mut self,
        ids: &std::collections::HashSet<String>,
    ) -> (Vec<String>, Vec<TaskView>) {
        let mut gone: Vec<String> = self
            .seen
            .keys()
            .filter(|id| !ids.contains(*id))
            .cloned()
            .collect();
        gone.sort();
        for id in &gone {
            self.seen.remove(id);
        }
        let mut waits = Vec::new();
        if !gone.is_empty() {
            self.dependencies.gone(&gone);
            self.dependencies.settle(&mut waits, &self.seen);
        }
        (gone, waits)
    }

    async fn list(
        &mut self,
        batch: &BatchClient,
        job_id: &str,
        filter: Option<&str>,
        newest: &mut Option<DateTime<Utc>>,
        on_page: &mut impl FnMut(Vec<TaskView>),
    ) -> Result<(), BatchError> {
        batch
            .list_task_pages(job_id, filter, Some(TASK_SELECT), |page| {
                let changed = self.absorb_page(&page, newest);
                if !changed.is_empty() {
                    on_page(changed);
                }
            })
            .await
    }

    fn absorb_page(&mut self, tasks: &[Task], newest: &mut Option<DateTime<Utc>>) -> Vec<TaskView> {
        let mut changed = Vec::new();
        for t in tasks {
            if let Some(ts) = t.state_transition_time
                && newest.is_none_or(|n| ts > n)
            {
                *newest = Some(ts);
            }
            let v = task_view(t);
            self.dependencies.take(t, &v);
            let print = fingerprint(&v);
            if self.seen.get(&v.id) != Some(&print) {
                self.seen.insert(v.id.clone(), print);
                changed.push(v);
            }
        }
        self.dependencies.settle(&mut changed, &self.seen);
        changed
    }

    /// Merges listed tasks; returns the ones whose view changed.
    pub fn absorb(&mut self, tasks: &[Task]) -> Vec<TaskView> {
        let mut newest = self.newest_transition;
        let changed = self.absorb_page(tasks, &mut newest);
        self.newest_transition = newest;
        changed
    }

    /// The newest state transition seen.
    pub fn newest_transition(&self) -> Option<DateTime<Utc>> {
        self.newest_transition
    }

    /// How many tasks have been seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// A job's counts and changed tasks.
#[derive(Debug)]
pub(crate) struct JobPoller {
    pub id: String,
    tasks: JobTasks,
}

impl JobPoller {
    pub fn new(id: String) -> JobPoller {
        JobPoller {
            id,
            tasks: JobTasks::default(),
        }
    }

    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
        previewed: Option<&str>,
    ) -> Result<Polled, BatchError> {
        let mut seen_previewed = None;
        let (counts, moved) = self
            .tasks
            .poll(batch, &self.id, |news| match news {
                JobNews::Counts(c) => {
                    let _ = tx.send(Event::TaskCounts(c));
                }
                JobNews::Tasks(page) => {
                    if let Some(p) = previewed
                        && let Some(t) = page.iter().find(|t| t.id == p)
                    {
                        seen_previewed = Some(t.clone());
                    }
                    let _ = tx.send(Event::Tasks(page));
                }
                JobNews::Gone(ids) => {
                    let _ = tx.send(Event::TasksGone(ids));
                }
            })
            .await?;
        Ok(Polled {
            changed: moved,
            learned: Learned::Job {
                counts,
                previewed: seen_previewed,
            },
        })
    }
}

/// The end of a task's stdout and stderr, read by byte range: only appended bytes.
#[derive(Debug, Clone)]
pub(crate) struct TailPoller {
    pub job_id: String,
    pub task_id: String,
    /// Where the next read of stdout and of stderr starts.
    pub from: [u64; 2],
    /// Something was reported for this task (an empty file included).
    reported: bool,
    /// Its state is to be read first (it was just chosen).
    check: bool,
}

impl TailPoller {
    pub fn new(job_id: String, task_id: String, from: [u64; 2]) -> TailPoller {
        TailPoller {
            job_id,
            task_id,
            from,
            reported: false,
            check: true,
        }
    }

    async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
    ) -> Result<Polled, BatchError> {
        let mut task = None;
        if self.check {
            self.check = false;
            match batch.get_task(&self.job_id, &self.task_id).await {
                Ok(t) => {
                    let v = task_view(&t);
                    // Waiting for a node: no files yet; they are read once it runs.
                    if v.state == TaskState::Active {
                        return Ok(Polled {
                            changed: false,
                            learned: Learned::Tail { task: Some(v) },
                        });
                    }
                    task = Some(v);
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    self.check = true;
                    return Err(e);
                }
            }
        }
        let mut changed = false;
        for (i, file) in [TaskFile::Stdout, TaskFile::Stderr].into_iter().enumerate() {
            let from = self.from[i];
            let len = match batch
                .task_file_len(&self.job_id, &self.task_id, file.name())
                .await
            {
                Ok(len) => len,
                // Not written yet (the task has not started on a node).
                Err(e) if e.is_not_found() => from,
                Err(e) => return Err(e),
            };
            if len == from {
                if !self.reported {
                    let _ = tx.send(Event::TaskFileTail {
                        task_id: self.task_id.clone(),
                        file,
                        from,
                        len,
                        text: String::new(),
                    });
                }
                continue;
            }
            if len == 0 {
                // Emptied: the task runs again (a retry, a requeue) and has written nothing yet.
                let _ = tx.send(Event::TaskFileTail {
                    task_id: self.task_id.clone(),
                    file,
                    from: 0,
                    len: 0,
                    text: String::new(),
                });
                self.from[i] = 0;
                changed = true;
                continue;
            }
            // Shorter than what was read: the task ran again, so its files started over.
            let base = if len < from { 0 } else { from };
            let start = base.max(len.saturating_sub(TAIL_BYTES));
            let bytes = batch
                .task_file(
                    &self.job_id,
                    &self.task_id,
                    file.name(),
                    Some((start, len - 1)),
                )
                .await?;
            let end = start + bytes.len() as u64;
            let _ = tx.send(Event::TaskFileTail {
                task_id: self.task_id.clone(),
                file,
                from: start,
                len: end,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            });
            self.from[i] = end;
            changed = true;
        }
        self.reported = true;
        Ok(Polled {
            changed,
            learned: Learned::Tail { task },
        })
    }
}

/// One poller of any kind, moved into its request while it is in flight.
#[derive(Debug)]
pub(crate) enum Poller {
    Pool(PoolPoller),
    Nodes(NodesPoller),
    Job(JobPoller),
    Tail(TailPoller),
    Pools(PoolsPoller),
    Jobs(JobsPoller),
    Files(FilesPoller),
    File(FilePoller),
    Details(DetailsPoller),
}

impl Poller {
    pub async fn poll(
        &mut self,
        batch: &BatchClient,
        tx: &UnboundedSender<Event>,
        previewed: Option<&str>,
    ) -> Result<Polled, BatchError> {
        match self {
            Poller::Pool(p) => p.poll(batch, tx).await,
            Poller::Nodes(p) => p.poll(batch, tx).await,
            Poller::Job(p) => p.poll(batch, tx, previewed).await,
            Poller::Tail(p) => p.poll(batch, tx).await,
            Poller::Pools(p) => p.poll(batch, tx).await,
            Poller::Jobs(p) => p.poll(batch, tx).await,
            Poller::Files(p) => p.poll(batch, tx).await,
            Poller::File(p) => p.poll(batch, tx).await,
            Poller::Details(p) => p.poll(batch, tx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::azure::models::TaskState;
    use crate::workflow::events::Waits;

    fn task(id: &str, state: TaskState, at: &str) -> Task {
        Task {
            id: id.into(),
            state: Some(state),
            state_transition_time: Some(
                DateTime::parse_from_rfc3339(at)
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            ..Task::default()
        }
    }

    #[test]
    fn tasks_are_reported_only_when_they_change_and_the_newest_transition_is_kept() {
        let mut w = JobTasks::default();
        let first = w.absorb(&[
            task("a", TaskState::Active, "2026-01-01T00:00:01Z"),
            task("b", TaskState::Active, "2026-01-01T00:00:02Z"),
        ]);
        assert_eq!(first.len(), 2);
        let again = w.absorb(&[task("b", TaskState::Active, "2026-01-01T00:00:02Z")]);
        assert!(again.is_empty());
        let moved = w.absorb(&[task("b", TaskState::Running, "2026-01-01T00:00:05Z")]);
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].state, TaskState::Running);
        assert_eq!(
            w.newest_transition().unwrap().to_rfc3339(),
            "2026-01-01T00:00:05+00:00"
        );
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn tasks_not_listed_any_more_are_forgotten_and_named() {
        let mut w = JobTasks::default();
        w.absorb(&[
            task("a", TaskState::Active, "2026-01-01T00:00:01Z"),
            task("b", TaskState::Active, "2026-01-01T00:00:02Z"),
            task("c", TaskState::Active, "2026-01-01T00:00:03Z"),
        ]);
        let listed = ["b".to_string()].into_iter().collect();
        assert_eq!(w.forget_all_but(&listed).0, ["a", "c"]);
        assert_eq!(w.len(), 1);
        // Seen again (an id used anew): reported again.
        assert_eq!(
            w.absorb(&[task("a", TaskState::Active, "2026-01-01T00:00:04Z")])
                .len(),
            1
        );
    }

    /// A deleted task no longer satisfies, blocks or counts: what named it by id waits for it
    /// (the service schedules it only once a task of that id exists and completed), what
    /// covered it by a range goes on without it; each is reported again as it changed.
    #[test]
    fn the_tasks_that_depend_on_a_deleted_task_are_worked_out_again() {
        let t = |v: serde_json::Value| serde_json::from_value::<Task>(v).unwrap();
        let mut w = JobTasks::default();
        let first = w.absorb(&[
            t(
                serde_json::json!({ "id": "a", "commandLine": "x", "state": "completed",
                "executionInfo": { "exitCode": 0, "retryCount": 0, "requeueCount": 0,
                    "result": "success" } }),
            ),
            t(
                serde_json::json!({ "id": "2", "commandLine": "x", "state": "completed",
                "executionInfo": { "exitCode": 1, "retryCount": 0, "requeueCount": 0,
                    "result": "failure" } }),
            ),
            t(serde_json::json!({ "id": "3", "commandLine": "x", "state": "running" })),
            t(
                serde_json::json!({ "id": "by-id", "commandLine": "x", "state": "active",
                "dependsOn": { "taskIds": ["a"] } }),
            ),
            t(
                serde_json::json!({ "id": "ranged", "commandLine": "x", "state": "active",
                "dependsOn": { "taskIdRanges": [{ "start": 1, "end": 3 }] } }),
            ),
            t(
                serde_json::json!({ "id": "late", "commandLine": "x", "state": "active",
                "dependsOn": { "taskIdRanges": [{ "start": 3, "end": 3 }] } }),
            ),
        ]);
        let waits = |views: &[TaskView]| -> Vec<(String, Option<Waits>)> {
            let mut w: Vec<_> = views
                .iter()
                .map(|v| (v.id.clone(), v.waits.clone()))
                .collect();
            w.sort_by(|a, b| a.0.cmp(&b.0));
            w
        };
        assert_eq!(
            waits(&first[3..]),
            [
                ("by-id".into(), None),
                ("late".into(), Some(Waits::On(1))),
                ("ranged".into(), Some(Waits::Blocked { by: "2".into() })),
            ]
        );
        // a, 2 and 3 deleted.
        let listed = ["by-id", "ranged", "late"]
            .map(String::from)
            .into_iter()
            .collect();
        let (gone, changed) = w.forget_all_but(&listed);
        assert_eq!(gone, ["2", "3", "a"]);
        assert_eq!(
            waits(&changed),
            [
                ("by-id".into(), Some(Waits::On(1))),
                ("late".into(), None),
                ("ranged".into(), None),
            ]
        );
    }
}
