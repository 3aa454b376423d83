//! The workflow's and the controller's events, applied to the state.

use crate::azure::models::{NodeState, PoolState, TaskState};
use crate::tui::app::{Action, App, Presence, STEP_LOG, StepState, Upload, one_line};
use crate::workflow::controller::Command;
use crate::workflow::events::{Event, Health, Resource, Step, TaskFile, TaskView};

impl App {
    pub(super) fn apply(&mut self, e: Event, actions: &mut Vec<Action>) {
        let now = self.now;
        match e {
            Event::Workload(w) => self.workload = Some(w),
            Event::StepStarted(step) => self.set_step(step, StepState::Running { since: now }),
            Event::StepFinished {
                step,
                elapsed,
                note,
            } => self.set_step(step, StepState::Done { elapsed, note }),
            Event::StepFailed { step, error } => {
                self.notify(
                    format!("{} failed: {}", self.step_title(step), one_line(&error)),
                    true,
                );
                self.set_step(step, StepState::Failed { error });
                self.selected_step = self.steps.iter().position(|(s, _)| *s == step).unwrap_or(0);
            }
            Event::Info(line) => {
                // Said during the step that runs (before the first: the first step's).
                let step = self.current_step().unwrap_or(Step::CreateContainers);
                self.step_log.push_back((step, line.trim().to_string()));
                while self.step_log.len() > STEP_LOG {
                    self.step_log.pop_front();
                }
            }
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
                // Watching existing work: what the watcher finds is there.
                let r = Resource::Pool(self.ids.pool_id.clone());
                if self.presence(&r).is_none() {
                    self.set_presence(r, Presence::Present);
                }
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
                    self.retried_task_moved(&t, actions);
                    self.tasks.upsert(t);
                }
            }
            Event::TasksGone(ids) => {
                if let Some(b) = self.browse.as_mut() {
                    for id in &ids {
                        b.marked.remove(id);
                    }
                }
                self.tasks.remove(&ids);
            }
            Event::TaskCounts(c) => {
                let last = self.completions.last().map(|x| x.1);
                if last != Some(c.completed) {
                    self.completions
                        .push((now.duration_since(self.started), c.completed));
                }
                self.counts = Some(c);
                let r = Resource::Job(self.ids.job_id.clone());
                if self.presence(&r).is_none() {
                    self.set_presence(r, Presence::Present);
                }
            }
            Event::Pools(rows) => self.set_pools(rows),
            Event::Jobs(rows) => self.set_jobs(rows),
            Event::Files(rows) => self.set_files(rows),
            Event::Details { of, properties } => self.set_details(&of, properties.as_ref()),
            Event::FileChunk {
                path,
                from,
                len,
                text,
            } => self.file_chunk(&path, from, len, &text),
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
                let nodes = crate::util::count(target, "node");
                self.notify(format!("Pool {pool_id} resizing to {nodes}"), false);
            }
            Event::Done { what } => self.notify(format!("Accepted: {what}"), false),
            Event::Held { what, how } => self.notify(how.notice(&what), false),
            Event::Reactivated { task_ids } => {
                match task_ids.as_slice() {
                    [one] => self.notify(format!("Task {one} reactivated"), false),
                    many => self.notify(format!("{} tasks reactivated", many.len()), false),
                }
                // Shown again as they run; a run's output is downloaded when one succeeds.
                self.retried.extend(task_ids);
            }
            Event::TaskFilesDownloaded {
                task_id,
                dir,
                files,
                bytes,
            } => self.notify(
                format!(
                    "Downloaded {} ({bytes} bytes) of task {task_id} to {}",
                    crate::util::count(files, "file"),
                    dir.display()
                ),
                false,
            ),
            Event::FileDownloaded { path, dest, bytes } => self.notify(
                format!("Downloaded {path} ({bytes} bytes) to {}", dest.display()),
                false,
            ),
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
                        self.step_title(step),
                        one_line(error)
                    ),
                    (false, None) => "Run FAILED: clean up with J/P/C, q to quit".into(),
                };
                self.notify(text, !ok);
            }
        }
    }

    /// A task retried in this session completed: if it succeeded in a run whose outputs were
    /// already downloaded, its output is downloaded too.
    fn retried_task_moved(&mut self, t: &TaskView, actions: &mut Vec<Action>) {
        if t.state != TaskState::Completed || !self.retried.remove(&t.id) || t.failed() {
            return;
        }
        let downloaded = self
            .steps
            .iter()
            .any(|(s, st)| *s == Step::Download && matches!(st, StepState::Done { .. }));
        let Some(outputs) = &self.run_outputs else {
            return;
        };
        if let (true, Some(blob)) = (downloaded, outputs.blobs.get(&t.id)) {
            actions.push(Action::Run(Command::DownloadOutput {
                task_id: t.id.clone(),
                container: outputs.container.clone(),
                blob: blob.clone(),
                dest: self
                    .output_dir
                    .join(crate::workflow::spec::safe_relative_path(blob)),
            }));
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
