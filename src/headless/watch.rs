//! `batchdeck watch --headless`: existing work followed as plain lines (state changes of the
//! pool, its nodes and the job's tasks, and with `--follow TASK` that task's stdout as it
//! grows) until every task of the job completed or is blocked for ever by a failed dependency
//! (nothing can run any more), or `--timeout`, a refused key, or the job disappearing ends it. Outages are waited out like in every session. `--output json`
//! writes the same events as JSON lines (the schema of `run --output json`), the last one
//! `finished`.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use chrono::Local;
use tokio::sync::mpsc;

use crate::azure::batch::BatchClient;
use crate::headless::{Format, json};
use crate::watch::{Cadences, PreviewTarget, Snapshot, Watch};
use crate::workflow::events::{Event, TaskFile, Waits};

/// What to watch.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub job_id: String,
    pub pool_id: Option<String>,
    /// A task whose stdout is printed as it grows.
    pub follow: Option<String>,
    pub timeout: Option<Duration>,
    /// How often to poll (quicker on the embedded local Azure).
    pub cadences: Cadences,
    /// The embedded local Azure's changes, which the watcher polls on.
    pub changes: Option<tokio::sync::watch::Receiver<u64>>,
}

/// How the job's tasks ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub total: u64,
    /// The tasks that failed, in id order.
    pub failed: Vec<String>,
    /// The tasks that will never run (active, held by a failed dependency), in id order.
    pub blocked: Vec<String>,
}

impl Ended {
    /// Whether every task succeeded.
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.blocked.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "job {0} does not exist on this Batch account: check the id (batchdeck watch follows existing work)"
    )]
    NoSuchJob(String),
    #[error("job {0} was deleted while it was watched")]
    JobDeleted(String),
    #[error("task {task} is not in job {job}: check --follow")]
    NoSuchTask { job: String, task: String },
    #[error(
        "the tasks of job {job} did not all complete within --timeout {timeout:?} ({completed} of {total} completed); watch longer with a larger --timeout"
    )]
    Timeout {
        job: String,
        timeout: Duration,
        completed: u64,
        total: u64,
    },
    #[error("{0}")]
    Refused(String),
}

/// Follows `opts.job_id` (and its pool) until every task completed; prints to `out` in
/// `format` (as JSON, the last line is `finished`, however the watch ended).
pub async fn run(
    batch: &BatchClient,
    opts: &Options,
    format: Format,
    out: &mut (impl Write + Send),
) -> Result<Ended, WatchError> {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watch = Watch::spawn_nudged(batch, tx, opts.cadences, opts.changes.clone());
    let json = format.is_json();
    let result = follow(&watch, &mut rx, opts, format, out).await;
    watch.stop();
    if json {
        say(out, vec![finished_line(result.as_ref(), started.elapsed())]);
    }
    result
}

/// The JSON `finished` line of a watch: `ok` (every task succeeded), `elapsed_s`, `remaining`
/// (always empty: a watch creates nothing), `total`, `failed` (the failed tasks' ids),
/// `blocked` (the ids of those that will never run), and `error` when the watch could not
/// reach the end.
pub fn finished_line(result: Result<&Ended, &WatchError>, elapsed: Duration) -> String {
    let (ok, total, failed, blocked, error) = match result {
        Ok(e) => (
            e.ok(),
            Some(e.total),
            e.failed.clone(),
            e.blocked.clone(),
            None,
        ),
        Err(e) => (false, None, Vec::new(), Vec::new(), Some(e.to_string())),
    };
    json::stamped(serde_json::json!({
        "event": "finished",
        "ok": ok,
        "elapsed_s": elapsed.as_secs_f64(),
        "remaining": [],
        "total": total,
        "failed": failed,
        "blocked": blocked,
        "error": error,
    }))
}

async fn follow(
    watch: &Watch,
    rx: &mut mpsc::UnboundedReceiver<Event>,
    opts: &Options,
    mut format: Format,
    out: &mut (impl Write + Send),
) -> Result<Ended, WatchError> {
    let printer = &mut format;
    let job = &opts.job_id;
    if let Some(p) = &opts.pool_id {
        watch.pool(p);
    }
    watch.job(job);
    if let Some(t) = &opts.follow {
        watch.preview(Some(PreviewTarget {
            job_id: job.clone(),
            task_id: t.clone(),
            from: [0, 0],
            state: None,
        }));
    }
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut snap = watch.snapshot();
    let mut news = News::default();
    let mut ever_listed = false;
    loop {
        tokio::select! {
            Some(e) = rx.recv() => news.take(&e, opts, printer, out),
            changed = snap.changed() => {
                if changed.is_err() {
                    return Err(WatchError::Refused("the watch stopped".into()));
                }
            }
            _ = sleep_until(deadline) => {
                let c = snap.borrow().counts.unwrap_or_default();
                return Err(WatchError::Timeout {
                    job: job.clone(),
                    timeout: opts.timeout.unwrap_or_default(),
                    completed: c.completed,
                    total: c.total(),
                });
            }
        }
        // Every event sent so far is in (whichever branch woke), then what the watcher knows:
        // the snapshot is updated after the events of a poll are sent.
        while let Ok(e) = rx.try_recv() {
            news.take(&e, opts, printer, out);
        }
        let s: Snapshot = snap.borrow().clone();
        if let Some(e) = s.fatal {
            return Err(WatchError::Refused(e));
        }
        if s.job_gone {
            return Err(if ever_listed {
                WatchError::JobDeleted(job.clone())
            } else {
                WatchError::NoSuchJob(job.clone())
            });
        }
        let Some(c) = s.counts else { continue };
        ever_listed = true;
        if let Some(t) = &opts.follow
            && !news.seen.contains(t)
            && c.total() as usize <= news.seen.len()
        {
            return Err(WatchError::NoSuchTask {
                job: job.clone(),
                task: t.clone(),
            });
        }
        // Done when every task completed, or when those left are all blocked for ever: the
        // service keeps them active, but nothing can run any more.
        let blocked = news.blocked.len() as u64;
        let all_done = c.total() > 0 && c.completed + blocked == c.total();
        let followed_done = match &opts.follow {
            None => true,
            Some(t) => s.preview_done || news.blocked.contains(t),
        };
        if all_done && followed_done {
            let ended = Ended {
                total: c.total(),
                failed: news.failed.into_iter().collect(),
                blocked: news.blocked.into_iter().collect(),
            };
            if printer.is_json() {
                return Ok(ended);
            }
            if !news.partial.is_empty() {
                let t = opts.follow.as_deref().unwrap_or("");
                say(out, vec![format!("  {t}| {}", news.partial)]);
            }
            let ts = Local::now().format("%H:%M:%S");
            let summary = if ended.ok() {
                format!(
                    "{ts} All {} of job [{job}] completed successfully.",
                    crate::util::count(c.total(), "task")
                )
            } else if !ended.blocked.is_empty() {
                format!(
                    "{ts} {} of {} of job [{job}] completed ({} failed); {} will never run: blocked by a failed task they depend on.",
                    c.completed,
                    crate::util::count(c.total(), "task"),
                    ended.failed.len(),
                    ended.blocked.len()
                )
            } else {
                format!(
                    "{ts} All {} of job [{job}] completed; {} failed.",
                    crate::util::count(c.total(), "task"),
                    ended.failed.len()
                )
            };
            say(out, vec![summary]);
            return Ok(ended);
        }
    }
}

/// What the events told so far: the tasks seen, the failed ones, those blocked for ever by a
/// failed dependency, and the followed task's stdout after its last full line.
#[derive(Default)]
struct News {
    seen: HashSet<String>,
    failed: BTreeSet<String>,
    blocked: BTreeSet<String>,
    partial: String,
}

impl News {
    /// Takes one event in and prints what it says.
    fn take(
        &mut self,
        e: &Event,
        opts: &Options,
        printer: &mut Format,
        out: &mut (impl Write + Send),
    ) {
        match e {
            Event::Tasks(ts) => {
                for t in ts {
                    self.seen.insert(t.id.clone());
                    if t.failed() {
                        self.failed.insert(t.id.clone());
                    } else {
                        self.failed.remove(&t.id);
                    }
                    if matches!(t.waits, Some(Waits::Blocked { .. })) {
                        self.blocked.insert(t.id.clone());
                    } else {
                        self.blocked.remove(&t.id);
                    }
                }
            }
            Event::TasksGone(ids) => {
                for id in ids {
                    self.seen.remove(id);
                    self.failed.remove(id);
                }
            }
            Event::TaskFileTail {
                task_id,
                file: TaskFile::Stdout,
                text,
                ..
            } if opts.follow.as_deref() == Some(task_id.as_str()) && !printer.is_json() => {
                self.partial.push_str(text);
                let mut lines = Vec::new();
                while let Some(i) = self.partial.find('\n') {
                    let line: String = self.partial.drain(..=i).collect();
                    lines.push(format!(
                        "  {task_id}| {}",
                        line.trim_end_matches(['\n', '\r'])
                    ));
                }
                say(out, lines);
            }
            _ => {}
        }
        say(out, printer.lines(e));
    }
}

fn say(out: &mut (impl Write + Send), lines: Vec<String>) {
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
