//! Executes what the user asks for (delete the job, the pool or the containers, resize the pool,
//! reactivate a task, read a node's start task stderr) against the clients, and reports the
//! results as `Event`s. (Task files are the watcher's: see `crate::watch`.)
//!
//! Requests are coalesced per target (`Command::key`): one is in flight for a target at a time,
//! and at most one waits behind it. A read (a node's stderr, an output file) replaces the one
//! waiting. A change (delete, resize, scheduling, ...) the same as the one in flight, or as the
//! one waiting, is dropped; one that differs waits, replacing a change that waited, and runs
//! once the one in flight ended: the user's latest change is the one that stands. Dropping or
//! holding a change is said (`Event::Held`), never silent. Nothing here touches the terminal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::azure::batch::BatchError;
use crate::azure::models::{
    DisableJobOption, NodeDeallocateOption, NodeDeallocationOption, NodeRebootOption,
    NodeReimageOption,
};
use crate::watch::Watch;
use crate::watch::convert::{POOL_SELECT, TASK_SELECT, pool_view, task_view};
use crate::workflow::events::{Event, FilesOf, Held, Resource};
use crate::workflow::steps::{self, Clients};
use crate::workflow::wait::node_stderr_tail;

/// Something the user asked the services to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    DeleteJob(String),
    DeletePool(String),
    DeleteContainers(Vec<String>),
    /// Resize to `target` dedicated and `spot` spot nodes.
    ResizePool {
        pool_id: String,
        target: u32,
        spot: u32,
    },
    /// Stop a pool's resize (it keeps the nodes it has).
    StopResize(String),
    TerminateJob(String),
    /// Disable a job (its running tasks requeued).
    DisableJob(String),
    EnableJob(String),
    /// Reboot, reimage, deallocate or start a node (`op`).
    Node {
        pool_id: String,
        node_id: String,
        op: NodeOp,
    },
    /// Remove nodes from their pool; their running tasks are ended as `option` says.
    RemoveNodes {
        pool_id: String,
        node_ids: Vec<String>,
        option: NodeDeallocationOption,
    },
    /// Enable or disable task scheduling on a node (disabling requeues its running tasks).
    NodeScheduling {
        pool_id: String,
        node_id: String,
        enable: bool,
    },
    TerminateTask {
        job_id: String,
        task_id: String,
    },
    DeleteTask {
        job_id: String,
        task_id: String,
    },
    ReactivateTask {
        job_id: String,
        task_id: String,
    },
    /// Put several failed tasks back in the queue (`F`: every failed task of the job).
    ReactivateTasks {
        job_id: String,
        task_ids: Vec<String>,
    },
    /// Put every failed task of these jobs back in the queue (`F` on the jobs).
    RetryFailedTasks {
        job_ids: Vec<String>,
    },
    /// Download a task's files (its output files, stdout, stderr) into `dir` (`d`).
    DownloadTaskFiles {
        job_id: String,
        task_id: String,
        dir: std::path::PathBuf,
    },
    /// Download one file of a task or a node (browsing's `d`) to `dest`, by byte ranges.
    DownloadFile {
        of: FilesOf,
        path: String,
        dest: std::path::PathBuf,
    },
    /// Download a run's output blob of a task (one retried after step 7 completed again).
    DownloadOutput {
        task_id: String,
        container: String,
        blob: String,
        dest: std::path::PathBuf,
    },
    /// Read the end of a node's start task stderr.
    NodeStderr {
        pool_id: String,
        node_id: String,
    },
    /// Read the beginning of a task's downloaded output file again (the preview's cache let
    /// it go).
    ReadOutput {
        task_id: String,
        path: std::path::PathBuf,
    },
}

/// An operation on one node, with what becomes of the tasks running on it (none for a
/// start, which only a deallocated node takes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOp {
    Reboot(NodeRebootOption),
    Reimage(NodeReimageOption),
    Deallocate(NodeDeallocateOption),
    Start,
}

impl NodeOp {
    /// The service's name for it (the last segment of its URL).
    pub fn name(&self) -> &'static str {
        match self {
            NodeOp::Reboot(_) => "reboot",
            NodeOp::Reimage(_) => "reimage",
            NodeOp::Deallocate(_) => "deallocate",
            NodeOp::Start => "start",
        }
    }

    fn option(&self) -> Option<&NodeRebootOption> {
        match self {
            NodeOp::Reboot(o) | NodeOp::Reimage(o) | NodeOp::Deallocate(o) => Some(o),
            NodeOp::Start => None,
        }
    }
}

/// What a request acts on (a kind and the ids that name its target fully, each a part of its
/// own, so that no id can run into another): requests with the same key are coalesced.
type Key = (&'static str, Vec<String>);

impl Command {
    /// Its target, named fully: a task by its job and id (two jobs may share task ids), a node
    /// by its pool and id, containers by their names. Changes that set one property of a target
    /// share a key (a resize and its stop, a job's enabling, disabling and termination, a node's
    /// operations, its scheduling on and off), so that they run in the order they were asked.
    fn key(&self) -> Key {
        let ids = |ids: &[&String]| -> Vec<String> { ids.iter().map(|s| s.to_string()).collect() };
        match self {
            Command::DeleteJob(id) => ("delete job", ids(&[id])),
            Command::DeletePool(id) => ("delete pool", ids(&[id])),
            Command::DeleteContainers(names) => ("delete containers", names.clone()),
            Command::ResizePool { pool_id: id, .. } | Command::StopResize(id) => {
                ("size of pool", ids(&[id]))
            }
            Command::TerminateJob(id) | Command::DisableJob(id) | Command::EnableJob(id) => {
                ("state of job", ids(&[id]))
            }
            Command::Node {
                pool_id, node_id, ..
            } => ("node", ids(&[pool_id, node_id])),
            Command::RemoveNodes { pool_id, .. } => ("remove nodes of pool", ids(&[pool_id])),
            Command::NodeScheduling {
                pool_id, node_id, ..
            } => ("scheduling of node", ids(&[pool_id, node_id])),
            Command::TerminateTask { job_id, task_id } => {
                ("terminate task", ids(&[job_id, task_id]))
            }
            Command::DeleteTask { job_id, task_id } => ("delete task", ids(&[job_id, task_id])),
            Command::ReactivateTask { job_id, task_id } => {
                ("reactivate task", ids(&[job_id, task_id]))
            }
            Command::ReactivateTasks { job_id, .. } => {
                ("reactivate failed tasks of job", ids(&[job_id]))
            }
            Command::RetryFailedTasks { job_ids } => {
                ("retry failed tasks of jobs", job_ids.clone())
            }
            Command::DownloadTaskFiles {
                job_id, task_id, ..
            } => ("download files of task", ids(&[job_id, task_id])),
            Command::DownloadOutput {
                container, blob, ..
            } => ("download blob", ids(&[container, blob])),
            Command::DownloadFile { of, path, .. } => match of {
                FilesOf::Task { job, task } => ("download task file", ids(&[job, task, path])),
                FilesOf::Node { pool, node } => ("download node file", ids(&[pool, node, path])),
            },
            Command::NodeStderr { pool_id, node_id } => {
                ("stderr of node", ids(&[pool_id, node_id]))
            }
            Command::ReadOutput { path, .. } => {
                ("read output", vec![path.to_string_lossy().into_owned()])
            }
        }
    }

    /// Whether it only reads: a newer read replaces a waiting one, unsaid.
    fn is_read(&self) -> bool {
        matches!(
            self,
            Command::NodeStderr { .. } | Command::ReadOutput { .. }
        )
    }

    /// What it is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Command::DeleteJob(id) => format!("delete job {id}"),
            Command::DeletePool(id) => format!("delete pool {id}"),
            Command::DeleteContainers(c) => format!("delete containers {}", c.join(", ")),
            Command::ResizePool {
                pool_id,
                target,
                spot,
            } => {
                format!("resize pool {pool_id} to {target} dedicated and {spot} spot nodes")
            }
            Command::StopResize(id) => format!("stop resizing pool {id}"),
            Command::TerminateJob(id) => format!("terminate job {id}"),
            Command::DisableJob(id) => format!("disable job {id}"),
            Command::EnableJob(id) => format!("enable job {id}"),
            Command::Node { node_id, op, .. } => {
                let how = match op.option() {
                    None | Some(NodeRebootOption::Requeue) => String::new(),
                    Some(o) => format!(" ({})", o.as_str()),
                };
                format!("{} node {node_id}{how}", op.name())
            }
            Command::RemoveNodes {
                pool_id,
                node_ids,
                option,
            } => {
                let how = match option {
                    NodeDeallocationOption::Requeue => String::new(),
                    o => format!(" ({})", o.as_str()),
                };
                let nodes = match node_ids.as_slice() {
                    [one] => format!("node {one}"),
                    many => format!("{} nodes", many.len()),
                };
                format!("remove {nodes} from pool {pool_id}{how}")
            }
            Command::NodeScheduling {
                node_id, enable, ..
            } => format!(
                "{} scheduling on node {node_id}",
                if *enable { "enable" } else { "disable" }
            ),
            Command::TerminateTask { task_id, .. } => format!("terminate task {task_id}"),
            Command::DeleteTask { task_id, .. } => format!("delete task {task_id}"),
            Command::ReactivateTask { task_id, .. } => format!("reactivate task {task_id}"),
            Command::ReactivateTasks { task_ids, .. } => {
                format!(
                    "reactivate {}",
                    crate::util::count(task_ids.len(), "failed task")
                )
            }
            Command::RetryFailedTasks { job_ids } => match job_ids.as_slice() {
                [one] => format!("retry the failed tasks of job {one}"),
                many => format!("retry the failed tasks of {} jobs", many.len()),
            },
            Command::DownloadTaskFiles { task_id, dir, .. } => {
                format!("download the files of task {task_id} to {}", dir.display())
            }
            Command::DownloadOutput { task_id, .. } => format!("download the output of {task_id}"),
            Command::DownloadFile { of, path, dest } => {
                format!("download {path} of {of} to {}", dest.display())
            }
            Command::NodeStderr { node_id, .. } => {
                format!("read the start task's stderr of node {node_id}")
            }
            Command::ReadOutput { path, .. } => format!("read {}", path.display()),
        }
    }
}

/// A target with work in flight.
struct Slot {
    /// The request in flight.
    running: Command,
    /// The one request waiting behind it: the latest read, or the latest change asked that
    /// differs from the one in flight.
    waiting: Option<Command>,
}

impl Slot {
    /// Puts `cmd` (of this slot's key) behind the request in flight, or drops it: a read
    /// replaces the read waiting; a change the same as the one waiting, or as the one in flight
    /// with none waiting, is dropped; any other change waits, instead of the one that waited
    /// (so a change asked again after another was asked runs again, last). Returns what the
    /// user is told of a change (nothing of a read).
    fn hold(&mut self, cmd: Command) -> Option<Event> {
        if cmd.is_read() {
            self.waiting = Some(cmd);
            return None;
        }
        let what = cmd.describe();
        let how = if self.waiting.as_ref() == Some(&cmd) {
            Held::AlreadyWaiting
        } else if self.waiting.is_none() && self.running == cmd {
            Held::InProgress
        } else {
            Held::Waiting {
                behind: self.running.describe(),
                replaced: self.waiting.replace(cmd).map(|c| c.describe()),
            }
        };
        Some(Event::Held { what, how })
    }

    /// The changes it holds (in flight, then waiting), for the "working" sign.
    fn changes(&self) -> impl Iterator<Item = String> + '_ {
        std::iter::once(&self.running)
            .chain(&self.waiting)
            .filter(|c| !c.is_read())
            .map(Command::describe)
    }
}

/// Runs commands in the background.
#[derive(Clone)]
pub struct Controller {
    clients: Arc<Clients>,
    tx: mpsc::UnboundedSender<Event>,
    /// Keys in flight, each with the one request waiting behind it, if any.
    slots: Arc<Mutex<HashMap<Key, Slot>>>,
    /// How often a deleted pool or job is checked until it is gone.
    pub gone_poll: Duration,
    /// The session's watcher, told to look again once a command changed something.
    watch: Option<Watch>,
}

impl Controller {
    pub fn new(clients: Arc<Clients>, tx: mpsc::UnboundedSender<Event>) -> Controller {
        Controller {
            clients,
            tx,
            slots: Arc::default(),
            gone_poll: Duration::from_secs(2),
            watch: None,
        }
    }

    /// Hurries `watch` after each command, so that its effect shows at once.
    pub fn with_watch(mut self, watch: Watch) -> Controller {
        self.watch = Some(watch);
        self
    }

    /// The changes in flight or waiting (`delete pool X`, ...), sorted, for the "working"
    /// sign; reads (tails, a node's stderr) are not listed.
    pub fn busy(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .slots
            .lock()
            .map(|s| s.values().flat_map(Slot::changes).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Starts `cmd`, or holds or drops it behind the one in flight for the same target (see
    /// [`Slot::hold`]), and says so.
    pub fn submit(&self, cmd: Command) {
        let key = cmd.key();
        {
            let Ok(mut slots) = self.slots.lock() else {
                return;
            };
            if let Some(slot) = slots.get_mut(&key) {
                let said = slot.hold(cmd);
                drop(slots);
                if let Some(e) = said {
                    self.send(e);
                }
                return;
            }
            slots.insert(
                key.clone(),
                Slot {
                    running: cmd.clone(),
                    waiting: None,
                },
            );
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut next = Some(cmd);
            while let Some(cmd) = next.take() {
                this.execute(&cmd).await;
                let Ok(mut slots) = this.slots.lock() else {
                    return;
                };
                let Some(slot) = slots.get_mut(&key) else {
                    return;
                };
                match slot.waiting.take() {
                    Some(c) => {
                        slot.running = c.clone();
                        next = Some(c);
                    }
                    None => {
                        slots.remove(&key);
                    }
                }
            }
        });
    }

    fn send(&self, e: Event) {
        let _ = self.tx.send(e);
    }

    /// Says that `cmd` was accepted (the session looks again at once), or returns its error.
    fn done(&self, cmd: &Command, r: Result<(), BatchError>) -> Result<(), Refused> {
        r.map_err(Refused::from)?;
        self.send(Event::Done {
            what: cmd.describe(),
        });
        Ok(())
    }

    async fn execute(&self, cmd: &Command) {
        let result = self.try_execute(cmd).await;
        if let Some(w) = &self.watch {
            w.hurry();
        }
        if let Err(error) = result {
            tracing::warn!(command = %cmd.describe(), %error, "command failed");
            self.send(Event::CommandFailed {
                what: cmd.describe(),
                error: error.to_string(),
            });
        }
    }

    async fn try_execute(
        &self,
        cmd: &Command,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let batch = &self.clients.batch;
        match cmd {
            Command::DeleteJob(id) => {
                batch.delete_job(id).await.map_err(Refused::from)?;
                let r = Resource::Job(id.clone());
                self.send(Event::Deleting(r.clone()));
                while batch.get_job(id).await.map(|_| true).or_else(gone)? {
                    tokio::time::sleep(self.gone_poll).await;
                }
                self.send(Event::Deleted(r));
            }
            Command::DeletePool(id) => {
                batch.delete_pool(id).await.map_err(Refused::from)?;
                let r = Resource::Pool(id.clone());
                self.send(Event::Deleting(r.clone()));
                loop {
                    match batch.get_pool(id, Some(POOL_SELECT)).await {
                        Ok(p) => self.send(Event::Pool(pool_view(&p))),
                        Err(e) if e.is_not_found() => break,
                        Err(e) => return Err(e.into()),
                    }
                    tokio::time::sleep(self.gone_poll).await;
                }
                self.send(Event::Deleted(r));
            }
            Command::DeleteContainers(names) => {
                for c in names {
                    self.clients.storage.delete_container(c).await?;
                    self.send(Event::Deleted(Resource::Container(c.clone())));
                }
            }
            Command::ResizePool {
                pool_id,
                target,
                spot,
            } => {
                batch
                    .resize_pool(pool_id, *target, *spot, None)
                    .await
                    .map_err(Refused::from)?;
                self.send(Event::Resized {
                    pool_id: pool_id.clone(),
                    target: *target,
                });
            }
            Command::StopResize(id) => self.done(cmd, batch.stop_resize_pool(id).await)?,
            Command::TerminateJob(id) => self.done(cmd, batch.terminate_job(id).await)?,
            Command::DisableJob(id) => {
                let r = batch.disable_job(id, DisableJobOption::Requeue).await;
                self.done(cmd, r)?
            }
            Command::EnableJob(id) => self.done(cmd, batch.enable_job(id).await)?,
            Command::Node {
                pool_id,
                node_id,
                op,
            } => {
                let (p, n) = (pool_id.as_str(), node_id.as_str());
                let r = match op {
                    NodeOp::Reboot(o) => batch.reboot_node(p, n, o.clone()).await,
                    NodeOp::Reimage(o) => batch.reimage_node(p, n, o.clone()).await,
                    NodeOp::Deallocate(o) => batch.deallocate_node(p, n, o.clone()).await,
                    NodeOp::Start => batch.start_node(p, n).await,
                };
                self.done(cmd, r)?
            }
            Command::RemoveNodes {
                pool_id,
                node_ids,
                option,
            } => {
                let r = batch.remove_nodes(pool_id, node_ids, option.clone()).await;
                self.done(cmd, r)?
            }
            Command::NodeScheduling {
                pool_id,
                node_id,
                enable,
            } => {
                let r = batch.set_node_scheduling(pool_id, node_id, *enable).await;
                self.done(cmd, r)?
            }
            Command::TerminateTask { job_id, task_id } => {
                self.done(cmd, batch.terminate_task(job_id, task_id).await)?
            }
            Command::DeleteTask { job_id, task_id } => {
                self.done(cmd, batch.delete_task(job_id, task_id).await)?;
                // Its row goes at once (the watcher would notice within a refresh).
                self.send(Event::TasksGone(vec![task_id.clone()]));
            }
            Command::ReactivateTask { job_id, task_id } => {
                batch
                    .reactivate_task(job_id, task_id)
                    .await
                    .map_err(Refused::from)?;
                self.send(Event::Reactivated {
                    task_ids: vec![task_id.clone()],
                });
            }
            Command::ReactivateTasks { job_id, task_ids } => {
                let (done, first_error) = reactivate_tasks(batch, job_id, task_ids).await;
                if !done.is_empty() {
                    self.send(Event::Reactivated { task_ids: done });
                }
                if let Some((t, e)) = first_error {
                    return Err(format!("task {t}: {}", e.reason()).into());
                }
            }
            Command::RetryFailedTasks { job_ids } => {
                for job_id in job_ids {
                    let failed: Vec<String> = batch
                        .list_tasks(job_id, Some("state eq 'completed'"), Some(TASK_SELECT))
                        .await?
                        .iter()
                        .map(task_view)
                        .filter(|t| t.failed())
                        .map(|t| t.id)
                        .collect();
                    let (done, first_error) = reactivate_tasks(batch, job_id, &failed).await;
                    let n = done.len();
                    self.send(Event::Done {
                        what: format!(
                            "retry {} of job {job_id}",
                            crate::util::count(n, "failed task")
                        ),
                    });
                    if let Some((t, e)) = first_error {
                        return Err(format!("task {t} of job {job_id}: {}", e.reason()).into());
                    }
                }
            }
            Command::DownloadTaskFiles {
                job_id,
                task_id,
                dir,
            } => {
                let (files, bytes) = download_task_files(batch, job_id, task_id, dir).await?;
                self.send(Event::TaskFilesDownloaded {
                    task_id: task_id.clone(),
                    dir: dir.clone(),
                    files,
                    bytes,
                });
            }
            Command::DownloadFile { of, path, dest } => {
                let bytes = download_file(batch, of, path, dest).await?;
                self.send(Event::FileDownloaded {
                    path: path.clone(),
                    dest: dest.clone(),
                    bytes,
                });
            }
            Command::DownloadOutput {
                task_id,
                container,
                blob,
                dest,
            } => {
                steps::download_output(
                    &self.clients.storage,
                    container,
                    blob,
                    dest,
                    Some(task_id),
                    &self.tx,
                )
                .await?;
            }
            Command::NodeStderr { pool_id, node_id } => {
                let text = node_stderr_tail(batch, pool_id, node_id, 4096).await?;
                self.send(Event::NodeStderr {
                    node_id: node_id.clone(),
                    text,
                });
            }
            Command::ReadOutput { task_id, path } => {
                let p = path.clone();
                let text = tokio::task::spawn_blocking(move || steps::read_output_head(&p)).await?;
                self.send(Event::Output {
                    task_id: task_id.clone(),
                    path: path.clone(),
                    text,
                });
            }
        }
        Ok(())
    }
}

/// The refusal of the request a command is: its line leaves out the operation, which the
/// notice names already (`reboot node n1 failed: 409 NodeBeingRebooted: ...`, not `reboot node
/// n1 failed: reboot node n1: 409 ...`). Errors of the other requests a command makes (the
/// polls that follow a deletion, the listing before a retry) keep theirs.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.reason())]
struct Refused(Box<BatchError>);

impl From<BatchError> for Refused {
    fn from(e: BatchError) -> Refused {
        Refused(Box::new(e))
    }
}

/// Reactivates `task_ids` of `job_id`, eight requests at a time: the ones reactivated (in
/// order) and the first refusal (`F` in a job's tasks, and on the jobs).
async fn reactivate_tasks(
    batch: &crate::azure::batch::BatchClient,
    job_id: &str,
    task_ids: &[String],
) -> (Vec<String>, Option<(String, BatchError)>) {
    use futures::StreamExt as _;
    let results: Vec<(String, Result<(), BatchError>)> =
        futures::stream::iter(task_ids.iter().cloned())
            .map(|t| async move {
                let r = batch.reactivate_task(job_id, &t).await;
                (t, r)
            })
            .buffer_unordered(8)
            .collect()
            .await;
    let mut done = Vec::new();
    let mut first_error = None;
    for (t, r) in results {
        match r {
            Ok(()) => done.push(t),
            Err(e) => {
                first_error.get_or_insert((t, e));
            }
        }
    }
    done.sort();
    (done, first_error)
}

/// Downloads every file of a task (recursively: `wd/...`, `stdout.txt`, `stderr.txt`) into
/// `dir`, each written atomically. Paths come from the service: one that would leave `dir`
/// is refused. Returns the number of files and bytes.
async fn download_task_files(
    batch: &crate::azure::batch::BatchClient,
    job_id: &str,
    task_id: &str,
    dir: &std::path::Path,
) -> Result<(usize, u64), Box<dyn std::error::Error + Send + Sync>> {
    let mut files = 0;
    let mut bytes = 0u64;
    for f in batch.list_task_files(job_id, task_id, true).await? {
        if f.is_directory {
            continue;
        }
        let rel = inside(&f.name, "the task")?;
        let body = batch.task_file(job_id, task_id, &f.name, None).await?;
        let dest = dir.join(rel);
        let data = body.to_vec();
        tokio::task::spawn_blocking(move || crate::util::write_atomic(&dest, &data)).await??;
        files += 1;
        bytes += body.len() as u64;
    }
    Ok((files, bytes))
}

/// A file's name as the service gave it, as a path under the task's or node's directory;
/// refused when it would lead outside it (absolute, or with `..`).
fn inside<'a>(name: &'a str, of: &str) -> Result<&'a std::path::Path, String> {
    let rel = std::path::Path::new(name);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!("the service named a file {name:?} outside {of}"));
    }
    Ok(rel)
}

/// The length of a task's or node's file.
pub async fn file_len(
    batch: &crate::azure::batch::BatchClient,
    of: &FilesOf,
    path: &str,
) -> Result<u64, BatchError> {
    match of {
        FilesOf::Task { job, task } => batch.task_file_len(job, task, path).await,
        FilesOf::Node { pool, node } => batch.node_file_len(pool, node, path).await,
    }
}

/// The bytes `from..to` of a task's or node's file, by one ranged read (the log viewer's
/// windows and search, and downloads, read through it).
pub async fn read_range(
    batch: &crate::azure::batch::BatchClient,
    of: &FilesOf,
    path: &str,
    from: u64,
    to: u64,
) -> Result<bytes::Bytes, BatchError> {
    let range = Some((from, to.max(from + 1) - 1));
    match of {
        FilesOf::Task { job, task } => batch.task_file(job, task, path, range).await,
        FilesOf::Node { pool, node } => batch.node_file(pool, node, path, range).await,
    }
}

/// Bytes each ranged read of a downloaded file asks for.
pub const DOWNLOAD_RANGE: u64 = 4 * 1024 * 1024;

/// Downloads a task's or node's file to `dest` by byte ranges of [`DOWNLOAD_RANGE`] (its
/// length as it was when the download began), into a temporary file beside `dest` that is
/// renamed over it at the end: an error, or a download cancelled (the task dropped when the
/// session quits), leaves no partial file. Returns the bytes written.
pub async fn download_file(
    batch: &crate::azure::batch::BatchClient,
    of: &FilesOf,
    path: &str,
    dest: &std::path::Path,
) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    use tokio::io::AsyncWriteExt as _;
    inside(path, &of.to_string())?;
    let len = file_len(batch, of, path).await?;
    let file = crate::util::AtomicFile::create(dest, crate::util::FileAccess::Default)?;
    let mut out = tokio::fs::File::from_std(file.file().try_clone()?);
    let mut at = 0;
    while at < len {
        let chunk = read_range(batch, of, path, at, (at + DOWNLOAD_RANGE).min(len)).await?;
        if chunk.is_empty() {
            return Err(format!("{path} of {of} ended at byte {at} of {len}").into());
        }
        out.write_all(&chunk).await?;
        at += chunk.len() as u64;
    }
    out.flush().await?;
    drop(out);
    tokio::task::spawn_blocking(move || file.commit()).await??;
    Ok(at)
}

/// A 404 means the entity is gone; anything else is an error.
fn gone(e: BatchError) -> Result<bool, BatchError> {
    if e.is_not_found() { Ok(false) } else { Err(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize(pool_id: &str, target: u32) -> Command {
        Command::ResizePool {
            pool_id: pool_id.into(),
            target,
            spot: 0,
        }
    }

    fn scheduling(pool_id: &str, node_id: &str, enable: bool) -> Command {
        Command::NodeScheduling {
            pool_id: pool_id.into(),
            node_id: node_id.into(),
            enable,
        }
    }

    /// Requests on different targets never share a key (one would be held behind the other):
    /// two jobs' tasks of one id, two pools' nodes of one id, other containers, other jobs.
    #[test]
    fn keys_name_their_target_fully() {
        let task = |job: &str| Command::ReactivateTask {
            job_id: job.into(),
            task_id: "t".into(),
        };
        let tasks = |job: &str| Command::ReactivateTasks {
            job_id: job.into(),
            task_ids: vec!["t".into()],
        };
        let files = |job: &str| Command::DownloadTaskFiles {
            job_id: job.into(),
            task_id: "t".into(),
            dir: "out/t".into(),
        };
        let file = |job: &str| Command::DownloadFile {
            of: FilesOf::Task {
                job: job.into(),
                task: "t".into(),
            },
            path: "stdout.txt".into(),
            dest: "stdout.txt".into(),
        };
        let output = |container: &str| Command::DownloadOutput {
            task_id: "t".into(),
            container: container.into(),
            blob: "t_OUTPUT.txt".into(),
            dest: "t_OUTPUT.txt".into(),
        };
        let read = |path: &str| Command::ReadOutput {
            task_id: "t".into(),
            path: path.into(),
        };
        let node = |pool: &str| Command::Node {
            pool_id: pool.into(),
            node_id: "n".into(),
            op: NodeOp::Start,
        };
        let stderr = |pool: &str| Command::NodeStderr {
            pool_id: pool.into(),
            node_id: "n".into(),
        };
        let containers = |names: &[&str]| {
            Command::DeleteContainers(names.iter().map(|s| s.to_string()).collect())
        };
        let different = [
            (task("j1"), task("j2")),
            (tasks("j1"), tasks("j2")),
            (files("j1"), files("j2")),
            (file("j1"), file("j2")),
            (output("out1"), output("out2")),
            (read("a/t_OUTPUT.txt"), read("b/t_OUTPUT.txt")),
            (node("p1"), node("p2")),
            (scheduling("p1", "n", true), scheduling("p2", "n", true)),
            (stderr("p1"), stderr("p2")),
            (containers(&["a"]), containers(&["b"])),
            (resize("p1", 3), resize("p2", 3)),
            (
                Command::DisableJob("j1".into()),
                Command::DisableJob("j2".into()),
            ),
        ];
        for (a, b) in different {
            assert_ne!(a.key(), b.key(), "{a:?} and {b:?}");
        }
    }

    /// Changes of one property of one target share a key, so that they run in order.
    #[test]
    fn changes_of_one_property_share_a_key() {
        let same = [
            (resize("p", 3), resize("p", 5)),
            (resize("p", 3), Command::StopResize("p".into())),
            (scheduling("p", "n", true), scheduling("p", "n", false)),
            (
                Command::DisableJob("j".into()),
                Command::EnableJob("j".into()),
            ),
        ];
        for (a, b) in same {
            assert_eq!(a.key(), b.key(), "{a:?} and {b:?}");
        }
    }

    /// A change the same as the one in flight is dropped, and said; one that differs waits,
    /// replacing the one that waited; asking again for the change in flight after another
    /// was asked puts it last again. Reads replace the waiting read, unsaid.
    #[test]
    fn a_slot_holds_the_latest_differing_change_and_says_so() {
        let mut slot = Slot {
            running: resize("p", 3),
            waiting: None,
        };
        let what = |c: &Command| c.describe();
        let held = |cmd: &Command, how| {
            Some(Event::Held {
                what: what(cmd),
                how,
            })
        };
        assert_eq!(
            slot.hold(resize("p", 3)),
            held(&resize("p", 3), Held::InProgress)
        );
        assert_eq!(slot.waiting, None);
        assert_eq!(
            slot.hold(resize("p", 4)),
            held(
                &resize("p", 4),
                Held::Waiting {
                    behind: what(&resize("p", 3)),
                    replaced: None
                }
            )
        );
        assert_eq!(
            slot.hold(resize("p", 5)),
            held(
                &resize("p", 5),
                Held::Waiting {
                    behind: what(&resize("p", 3)),
                    replaced: Some(what(&resize("p", 4)))
                }
            )
        );
        assert_eq!(
            slot.hold(resize("p", 5)),
            held(&resize("p", 5), Held::AlreadyWaiting)
        );
        assert_eq!(
            slot.hold(resize("p", 3)),
            held(
                &resize("p", 3),
                Held::Waiting {
                    behind: what(&resize("p", 3)),
                    replaced: Some(what(&resize("p", 5)))
                }
            )
        );
        assert_eq!(slot.waiting, Some(resize("p", 3)));
        assert_eq!(
            slot.changes().collect::<Vec<_>>(),
            [what(&resize("p", 3)), what(&resize("p", 3))]
        );
        let stderr = |node: &str| Command::NodeStderr {
            pool_id: "p".into(),
            node_id: node.into(),
        };
        let mut read = Slot {
            running: stderr("n"),
            waiting: None,
        };
        assert_eq!(read.hold(stderr("n")), None);
        assert_eq!(read.waiting, Some(stderr("n")));
        assert_eq!(read.changes().count(), 0, "reads are not listed");
    }
}
