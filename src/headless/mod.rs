//! Headless mode: the workflow's and the watcher's events as plain lines, in the spirit of
//! the tutorial's console output. Used with `--headless` or when stdout is not a terminal.
//! `--output json` writes them as JSON lines instead ([`json`]); `watch.rs` is
//! `batchdeck watch --headless`.

pub mod json;
pub mod watch;

use std::collections::HashMap;
use std::io::Write;

use chrono::Local;

use crate::azure::models::{NodeState, TaskState};
use crate::workflow::events::{Event, Health, Step, TaskView, Waits, WorkloadView};
use crate::workflow::steps::fmt_duration;

/// Formats events as lines; keeps just enough state to avoid flooding (progress per file is
/// printed at most every 25%, task changes only when they complete or fail).
#[derive(Debug, Default)]
pub struct Printer {
    upload_quarters: HashMap<String, u64>,
    last_counts: Option<(u64, u64)>,
    /// Resources whose deletion was already reported (the watcher then finds them gone).
    deleted: Vec<crate::workflow::events::Resource>,
    /// When watching (`batchdeck watch`): each task's last state (and what held it), so that
    /// every change is a line (a run prints completions, and what holds tasks, only).
    transitions: Option<HashMap<String, (TaskState, Option<Waits>)>>,
    /// In a run: the tasks their dependencies hold, as last printed.
    held: HashMap<String, Waits>,
    /// The workload a run runs (its steps' titles), once the run said.
    workload: Option<WorkloadView>,
}

impl Printer {
    /// A printer for `batchdeck watch`: every task's state changes after the first sight.
    pub fn watching() -> Printer {
        Printer {
            transitions: Some(HashMap::new()),
            ..Printer::default()
        }
    }

    /// The line for a task that changed to its state `t.state`.
    fn task_line(t: &TaskView) -> String {
        let node = t.node_id.as_deref().unwrap_or("?");
        match t.state {
            TaskState::Completed => format!(
                "  Task [{}] completed on {node} with exit code {}{}",
                t.id,
                t.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                t.failure
                    .as_ref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            ),
            TaskState::Active => match &t.waits {
                Some(Waits::On(_)) => format!(
                    "  Task [{}] waits {} it depends on",
                    t.id,
                    t.held_by().unwrap_or_default()
                ),
                Some(Waits::Blocked { by }) => format!(
                    "  Task [{}] is blocked by [{by}], which failed and blocks what depends on it: it will never run",
                    t.id
                ),
                None => format!("  Task [{}] is waiting for a node", t.id),
            },
            _ => format!("  Task [{}] {} on {node}", t.id, t.state),
        }
    }

    /// `step`'s title: in the workload's words once the run named them.
    fn title(&self, step: Step) -> &str {
        match &self.workload {
            Some(w) => w.title(step),
            None => step.title(),
        }
    }

    /// The lines for one event (possibly none).
    pub fn lines(&mut self, e: &Event) -> Vec<String> {
        let ts = Local::now().format("%H:%M:%S");
        let line = |s: String| vec![format!("{ts} {s}")];
        match e {
            Event::Workload(w) => {
                self.workload = Some(w.clone());
                line(format!(
                    "Workload [{}]: pool [{}], job [{}], {}; containers [{}]",
                    w.name,
                    w.pool_id,
                    w.job_id,
                    w.tasks_text(),
                    w.containers.join("], [")
                ))
            }
            Event::StepStarted(step) => {
                line(format!("[{}/9] {}", step.number(), self.title(*step)))
            }
            Event::StepFinished {
                step,
                elapsed,
                note,
            } => {
                let note = if note.is_empty() {
                    String::new()
                } else {
                    format!(": {note}")
                };
                line(format!(
                    "[{}/9] {} done in {:.1}s{note}",
                    step.number(),
                    self.title(*step),
                    elapsed.as_secs_f64()
                ))
            }
            Event::StepFailed { step, error } => line(format!(
                "[{}/9] {} FAILED: {error}",
                step.number(),
                self.title(*step)
            )),
            Event::Info(s) => line(s.clone()),
            Event::UploadProgress {
                file,
                bytes_done,
                bytes_total,
            } => {
                let q = if *bytes_total == 0 {
                    4
                } else {
                    bytes_done * 4 / bytes_total
                };
                let last = self.upload_quarters.insert(file.clone(), q);
                if q > 0 && q < 4 && last != Some(q) {
                    line(format!("  {file}: {bytes_done} of {bytes_total} bytes"))
                } else {
                    Vec::new()
                }
            }
            Event::Uploaded {
                file,
                container,
                bytes,
                ..
            } => line(format!(
                "  Uploaded {file} to container [{container}] ({bytes} bytes)"
            )),
            Event::Pool(p) => line(format!(
                "  Pool [{}]: {}, allocation {}, {} of {} dedicated nodes",
                p.id, p.state, p.allocation_state, p.current_dedicated, p.target_dedicated
            )),
            Event::Nodes(nodes) => {
                let mut by_state: Vec<(&NodeState, usize)> = Vec::new();
                for n in nodes {
                    match by_state.iter_mut().find(|(s, _)| **s == n.state) {
                        Some(x) => x.1 += 1,
                        None => by_state.push((&n.state, 1)),
                    }
                }
                let desc = by_state
                    .iter()
                    .map(|(s, c)| format!("{c} {s}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                line(format!("  Nodes: {desc}"))
            }
            Event::Tasks(tasks) => match &mut self.transitions {
                // A run: completions, and what holds a task each time it changes.
                None => tasks
                    .iter()
                    .filter(|t| {
                        let before = match &t.waits {
                            Some(w) => self.held.insert(t.id.clone(), w.clone()),
                            None => self.held.remove(&t.id),
                        };
                        t.state == TaskState::Completed
                            || (t.waits.is_some() && before != t.waits)
                            || (t.state == TaskState::Active && before.is_some())
                    })
                    .map(|t| format!("{ts} {}", Self::task_line(t)))
                    .collect(),
                // Watching: the first sight of a task is its starting point (said only when
                // its dependencies hold it), then each change.
                Some(last) => tasks
                    .iter()
                    .filter_map(|t| {
                        let now = (t.state.clone(), t.waits.clone());
                        let before = last.insert(t.id.clone(), now.clone());
                        let news = match before {
                            Some(b) => b != now,
                            None => t.waits.is_some(),
                        };
                        news.then(|| format!("{ts} {}", Self::task_line(t)))
                    })
                    .collect(),
            },
            Event::TaskCounts(c) => {
                let key = (c.completed, c.total());
                if self.last_counts == Some(key) {
                    return Vec::new();
                }
                self.last_counts = Some(key);
                line(format!(
                    "  Tasks: {} active, {} running, {} completed ({} succeeded, {} failed)",
                    c.active, c.running, c.completed, c.succeeded, c.failed
                ))
            }
            Event::Downloaded { .. }
            | Event::Output { .. }
            | Event::TaskFileTail { .. }
            | Event::NodeStderr { .. }
            | Event::Created(_)
            | Event::Pools(_)
            | Event::Jobs(_)
            | Event::Files(_)
            | Event::Details { .. }
            | Event::FileChunk { .. } => Vec::new(),
            Event::Health(Health::Reconnecting {
                attempt,
                error,
                retry_in,
            }) => line(format!(
                "  reconnecting to Batch (attempt {attempt}, last error: {error}); next try in {:.1}s",
                retry_in.as_secs_f64()
            )),
            Event::Health(Health::Reconnected { after }) => line(format!(
                "  reconnected to Batch after {:.1}s; catching up",
                after.as_secs_f64()
            )),
            Event::TasksGone(ids) => {
                line(format!("  Tasks no longer in the job: {}", ids.join(", ")))
            }
            Event::Gone(r) if self.deleted.contains(r) => Vec::new(),
            Event::Gone(r) => line(format!("  {r} no longer exists")),
            Event::WatchFailed { error } => line(format!("  watching stopped: {error}")),
            Event::Deleting(r) => line(format!("  Deleting {r}...")),
            Event::Deleted(r) => {
                self.deleted.push(r.clone());
                line(format!("  Deleted {r}"))
            }
            Event::Resized { pool_id, target } => {
                let nodes = crate::util::count(*target, "node");
                line(format!("  Pool [{pool_id}] resizing to {nodes}"))
            }
            Event::Done { what } => line(format!("  {what}: accepted")),
            Event::Held { what, how } => line(format!("  {}", how.notice(what))),
            Event::Reactivated { task_ids } => task_ids
                .iter()
                .map(|t| format!("{ts}   Task [{t}] reactivated"))
                .collect(),
            Event::TaskFilesDownloaded {
                task_id,
                dir,
                files,
                bytes,
            } => line(format!(
                "  Downloaded {} ({bytes} bytes) of task [{task_id}] to {}",
                crate::util::count(*files, "file"),
                dir.display()
            )),
            Event::FileDownloaded { path, dest, bytes } => line(format!(
                "  Downloaded {path} ({bytes} bytes) to {}",
                dest.display()
            )),
            Event::CommandFailed { what, error } => line(format!("  {what} FAILED: {error}")),
            Event::Finished {
                ok,
                elapsed,
                remaining,
            } => {
                let mut out = vec![format!(
                    "{ts} {} Elapsed time: {}",
                    if *ok { "Run complete." } else { "Run FAILED." },
                    fmt_duration(*elapsed)
                )];
                if remaining.is_empty() {
                    out.push(format!("{ts} Nothing the run created is left behind."));
                } else {
                    out.push(format!(
                        "{ts} Still present (delete them when you no longer need them):"
                    ));
                    for r in remaining {
                        out.push(format!("{ts}   {r} ({})", r.cost_note()));
                    }
                }
                out
            }
        }
    }
}

/// What headless output writes on stdout: lines for people, or one JSON object per event
/// ([`json`], schema version 1). `run` and `watch` print through it alike.
#[derive(Debug)]
pub enum Format {
    Text(Box<Printer>),
    Json,
}

impl Format {
    /// `--output json` or text; a watch's text printer prints every task's change.
    pub fn new(json: bool, watching: bool) -> Format {
        match (json, watching) {
            (true, _) => Format::Json,
            (false, true) => Format::Text(Box::new(Printer::watching())),
            (false, false) => Format::Text(Box::default()),
        }
    }

    pub fn is_json(&self) -> bool {
        matches!(self, Format::Json)
    }

    /// The lines for one event (possibly none).
    pub fn lines(&mut self, e: &Event) -> Vec<String> {
        match self {
            Format::Text(p) => p.lines(e),
            Format::Json => vec![json::line(e)],
        }
    }
}

/// Prints every event in `format` until the channel closes.
pub async fn print_events(mut rx: tokio::sync::mpsc::UnboundedReceiver<Event>, mut format: Format) {
    while let Some(e) = rx.recv().await {
        let mut out = std::io::stdout().lock();
        for l in format.lines(&e) {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }
}

/// The step titles, for `--help` text and tests.
pub fn step_titles() -> Vec<&'static str> {
    Step::ALL.iter().map(|s| s.title()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::events::{Resource, TaskCounts};
    use std::time::Duration;

    #[test]
    fn progress_is_throttled_and_summary_lists_leftovers() {
        let mut p = Printer::default();
        let prog = |d| Event::UploadProgress {
            file: "f".into(),
            bytes_done: d,
            bytes_total: 100,
        };
        assert_eq!(p.lines(&prog(10)).len(), 0);
        assert_eq!(p.lines(&prog(30)).len(), 1);
        assert_eq!(p.lines(&prog(40)).len(), 0);
        assert_eq!(p.lines(&prog(100)).len(), 0);
        let c = TaskCounts {
            completed: 1,
            active: 2,
            ..TaskCounts::default()
        };
        assert_eq!(p.lines(&Event::TaskCounts(c)).len(), 1);
        assert_eq!(p.lines(&Event::TaskCounts(c)).len(), 0);
        let fin = p.lines(&Event::Finished {
            ok: true,
            elapsed: Duration::from_secs(62),
            remaining: vec![Resource::Pool("p".into())],
        });
        assert!(fin[0].ends_with("Elapsed time: 0:01:02"), "{fin:?}");
        assert!(fin.iter().any(|l| l.contains("pool p")));
        assert_eq!(step_titles().len(), 9);
    }
}
