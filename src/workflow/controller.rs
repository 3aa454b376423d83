//! Executes what the user asks for (delete the job, the pool or the containers, resize the pool,
//! reactivate a task, read a node's start task stderr) against the clients, and reports the
//! results as `Event`s. (Task files are the watcher's: see `crate::watch`.)
//!
//! Requests are coalesced per target: while one is in flight for a target, a second read of the
//! same file replaces any waiting one (at most one waits), and a second delete of the same
//! resource is dropped. Nothing here touches the terminal.

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
use crate::workflow::events::{Event, FilesOf, Resource};
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

impl Command {
    /// Requests with the same key are coalesced.
    fn key(&self) -> String {
        match self {
            Command::DeleteJob(id) => format!("job {id}"),
            Command::DeletePool(id) => format!("pool {id}"),
            Command::DeleteContainers(_) => "containers".into(),
            Command::ResizePool { pool_id, .. } => format!("resize {pool_id}"),
            Command::StopResize(id) => format!("stop resize {id}"),
            Command::TerminateJob(id) => format!("terminate job {id}"),
            Command::DisableJob(id) => format!("disable job {id}"),
            Command::EnableJob(id) => format!("enable job {id}"),
            Command::Node { node_id, op, .. } => format!("{} {node_id}", op.name()),
            Command::RemoveNodes { pool_id, .. } => format!("remove nodes {pool_id}"),
            Command::NodeScheduling { node_id, .. } => format!("scheduling {node_id}"),
            Command::TerminateTask { job_id, task_id } => format!("terminate {job_id}/{task_id}"),
            Command::DeleteTask { job_id, task_id } => format!("delete {job_id}/{task_id}"),
            Command::ReactivateTask { task_id, .. } => format!("reactivate {task_id}"),
            Command::ReactivateTasks { .. } => "reactivate failed".into(),
            Command::RetryFailedTasks { job_ids } => format!("retry failed {}", job_ids.join(",")),
            Command::DownloadTaskFiles { task_id, .. } => format!("files {task_id}"),
            Command::DownloadOutput { task_id, .. } => format!("download output {task_id}"),
            Command::DownloadFile { of, path, .. } => format!("file {path} of {of}"),
            Command::NodeStderr { node_id, .. } => format!("stderr {node_id}"),
            Command::ReadOutput { task_id, .. } => format!("output {task_id}"),
        }
    }

    /// Whether a newer request replaces a waiting one (reads) or is dropped (changes).
    fn replaces(&self) -> bool {
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
#[derive(Default)]
struct Slot {
    /// What the change in flight does (`None` for reads), for the "working" sign. A change is
    /// never queued behind another, so it describes the slot until it ends.
    change: Option<String>,
    /// The one read waiting behind the one in flight.
    waiting: Option<Command>,
}

/// Runs commands in the background.
#[derive(Clone)]
pub struct Controller {
    clients: Arc<Clients>,
    tx: mpsc::UnboundedSender<Event>,
    /// Keys in flight, each with the one request waiting behind it, if any.
    slots: Arc<Mutex<HashMap<String, Slot>>>,
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

    /// The changes in flight (`delete pool X`, ...), sorted, for the "working" sign; reads
    /// (tails, a node's stderr) are not listed.
    pub fn busy(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .slots
            .lock()
            .map(|s| s.values().filter_map(|s| s.change.clone()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Starts `cmd`, or queues/drops it behind one in flight for the same target.
    pub fn submit(&self, cmd: Command) {
        let key = cmd.key();
        {
            let Ok(mut slots) = self.slots.lock() else {
                return;
            };
            if let Some(slot) = slots.get_mut(&key) {
                if cmd.replaces() {
                    slot.waiting = Some(cmd);
                }
                return;
            }
            let change = (!cmd.replaces()).then(|| cmd.describe());
            slots.insert(
                key.clone(),
                Slot {
                    change,
                    waiting: None,
                },
            );
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut next = Some(cmd);
            while let Some(cmd) = next.take() {
                this.execute(&cmd).await;
                next = match this.slots.lock() {
                    Ok(mut slots) => match slots.get_mut(&key).and_then(|s| s.waiting.take()) {
                        Some(c) => Some(c),
                        None => {
                            slots.remove(&key);
                            None
                        }
                    },
                    Err(_) => None,
                };
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
