//! The workflow's and the controller's events, applied to the state.

use crate::azure::models::{NodeState, PoolState};
use crate::tui::app::{Action, App, Presence, StepState, Upload, one_line};
use crate::workflow::controller::Command;
use crate::workflow::events::{Event, Health, Resource, Step, TaskFile};

impl App {
    pub(super) fn apply(&mut self, e: Event, actions: &mut Vec<Action>) {
        let now = self.now;
        match e {
            Event::StepStarted(step) => self.set_step(step, StepState::Running { since: now }),
            Event::StepFinished {
                step,
                elapsed,
                note,
            } => self.set_step(step, StepState::Done { elapsed, note }),
            Event::StepFailed { step, error } => {
                self.notify(
                    format!("{} failed: {}", step.title(), one_line(&error)),
                    true,
                );
                self.set_step(step, StepState::Failed { error });
                self.selected_step = self.steps.iter().position(|(s, _)| *s == step).unwrap_or(0);
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
            Event::Pool(p) => {
                self.pool = Some(p);
                self.pool_deleted = false;
            }
            Event::Nodes(nodes) => {
                for n in &nodes {
                    if n.state == NodeState::StartTaskFailed
                        && !self.node_stderr.contains_key(&n.id)
                    {
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
                // Kept in the preview cache only for a task there or selected; the path is
                // enough to read it again later.
                let preview = if self.selected_task.as_deref() == Some(task_id.as_str()) {
                    Some(self.previews.look_at(&task_id))
                } else {
                    self.previews.get_mut(&task_id)
                };
                if let Some(p) = preview {
                    p.output = Some((path.clone(), text));
                }
                self.outputs.insert(task_id, path);
            }
            Event::TaskFileTail {
                task_id,
                file,
                from,
                len,
                text,
            } => {
                // A task the cache let go meanwhile is read again from the start if looked at;
                // the selected one's are kept (it may have waited for a node until now).
                let preview = if self.selected_task.as_deref() == Some(task_id.as_str()) {
                    Some(self.previews.look_at(&task_id))
                } else {
                    self.previews.get_mut(&task_id)
                };
                if let Some(p) = preview {
                    match file {
                        TaskFile::Stdout => p.stdout.append(from, len, &text),
                        TaskFile::Stderr => p.stderr.append(from, len, &text),
                    }
                }
            }
            Event::NodeStderr { node_id, text } => {
                self.node_stderr.insert(node_id, text);
            }
            Event::Created(r) => self.set_presence(r, Presence::Present),
            Event::Deleting(r) => {
                self.notify(format!("Deleting {r}..."), false);
                if let (Resource::Pool(_), Some(p)) = (&r, &mut self.pool) {
                    p.state = PoolState::Deleting;
                }
                self.set_presence(r, Presence::Deleting);
            }
            Event::Deleted(r) => {
                self.notify(format!("Deleted {r}"), false);
                if matches!(r, Resource::Pool(_)) {
                    if let Some(p) = &mut self.pool {
                        self.pool_deleted = true;
                        p.current_dedicated = 0;
                        p.current_low_priority = 0;
                    }
                    self.nodes.clear();
                }
                self.set_presence(r, Presence::Gone);
            }
            Event::Health(Health::Reconnecting { attempt, error, .. }) => {
                self.reconnecting = Some((attempt, error));
            }
            Event::Health(Health::Reconnected { after }) => {
                self.reconnecting = None;
                self.notify(
                    format!(
                        "Reconnected to Batch after {}; caught up",
                        crate::tui::views::fmt_dur(after)
                    ),
                    false,
                );
            }
            Event::Gone(r) => {
                if self.presence(&r) == Some(Presence::Present) {
                    self.notify(format!("{r} no longer exists"), true);
                }
                if matches!(r, Resource::Pool(_)) {
                    if let Some(p) = &mut self.pool {
                        self.pool_deleted = true;
                        p.current_dedicated = 0;
                        p.current_low_priority = 0;
                    }
                    self.nodes.clear();
                }
                if self.presence(&r).is_some() {
                    self.set_presence(r, Presence::Gone);
                }
            }
            Event::WatchFailed { error } => {
                self.reconnecting = None;
                self.notify(format!("Watching stopped: {error}"), true);
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
                let text = match (ok, self.failure()) {
                    (true, _) => "Run complete: browse, clean up with J/P/C, q to quit".into(),
                    (false, Some((step, error))) => format!(
                        "Run FAILED at step {} ({}): {}",
                        step.number(),
                        step.title(),
                        one_line(error)
                    ),
                    (false, None) => "Run FAILED: clean up with J/P/C, q to quit".into(),
                };
                self.notify(text, !ok);
            }
        }
    }

    pub(super) fn set_step(&mut self, step: Step, state: StepState) {
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
}
