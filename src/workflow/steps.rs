//! Steps 1-9 of a workload (by default the tutorial's), run in order by one async task that
//! reports `Event`s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::azure::batch::{BatchClient, BatchError, Created};
use crate::azure::models::{Task, TaskAddStatus};
use crate::azure::storage::{
    ContainerCreated, MAX_SAS_TTL, SasPermissions, SecretUrl, StorageClient, StorageError,
};
use crate::watch::Watch;
use crate::workflow::bodies::{Urls, job_body, pool_body, task_body};
use crate::workflow::events::{Event, Resource, Step};
use crate::workflow::journal::Journal;
use crate::workflow::spec::{Role, WorkloadSpec, safe_relative_path};
use crate::workflow::wait::{self, Outcome, WaitError, WaitOptions};

mod cleanup;
mod preflight;

pub use cleanup::attach_hint;
use cleanup::{cleanup, work_in_progress};
use preflight::preflight;

/// How long the SAS URLs handed to the service stay valid: the run's timeout plus margin.
fn sas_ttl(spec: &WorkloadSpec) -> Duration {
    (spec.timeout + Duration::from_secs(60 * 60)).min(MAX_SAS_TTL)
}

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Spec(#[from] crate::workflow::spec::SpecError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Wait(#[from] WaitError),
    #[error(
        "pool {id} already exists{why}: watch it with `batchdeck watch --pool {id}`, pass --reuse-pool to run on it, or choose another --pool-id"
    )]
    PoolExists { id: String, why: String },
    #[error(
        "job {id} already exists{why}: watch it with `{attach}`, delete it there (J) to run again, or choose another --job-id"
    )]
    JobExists {
        id: String,
        why: String,
        attach: String,
    },
    #[error(
        "job {job} is being run by another batchdeck session (pid {pid}, started {started}): watch it with `{attach}`, or wait until it ends"
    )]
    InUse {
        job: String,
        pid: u32,
        started: String,
        attach: String,
    },
    #[error("{what} is being deleted: wait until it is gone, or choose another id")]
    BeingDeleted { what: String },
    #[error("{count} task(s) could not be added, first {task}: {code}: {message}")]
    TasksRejected {
        count: usize,
        task: String,
        code: String,
        message: String,
    },
    #[error(
        "{path} exists and differs from blob {blob}: pass --force to overwrite, or choose another --output-dir"
    )]
    OutputExists { path: PathBuf, blob: String },
}

/// The clients the workflow uses.
#[derive(Clone)]
pub struct Clients {
    pub batch: BatchClient,
    pub storage: StorageClient,
    /// What the Batch service is, independent of the port it listens on this time: its URL,
    /// or the embedded emulator's data directory. Run journals are kept per service.
    pub service: String,
}

/// What the run leaves behind and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub ok: bool,
    pub elapsed: Duration,
    pub downloaded: Vec<PathBuf>,
    pub remaining: Vec<Resource>,
    /// How the tasks ended, once every one completed (None if the run stopped before).
    pub tasks: Option<Outcome>,
}

/// Answers "delete the job/pool?" when the spec says `Ask`: a prompt on stdin in headless
/// runs, a dialog in the TUI. Async so that the workflow never blocks a runtime thread on it.
pub type Asker = Box<dyn FnMut(Question) -> futures::future::BoxFuture<'static, bool> + Send>;

/// Step 9's question about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub resource: Resource,
    /// It was there before the run (`--reuse-pool`): not the run's to delete unless asked.
    pub reused: bool,
}

struct Run<'a> {
    clients: &'a Clients,
    /// The session's watcher: told what to watch as the run creates it.
    watch: &'a Watch,
    spec: &'a WorkloadSpec,
    tx: mpsc::UnboundedSender<Event>,
    /// Resources this run created or found, in creation order.
    existing: Vec<Resource>,
    downloaded: Vec<PathBuf>,
    tasks: Option<Outcome>,
    journal: Option<Journal>,
    /// The pool and job of an interrupted run this run carries on with.
    adopted: Vec<Resource>,
    /// What the run uses but found already there (`--reuse-pool`).
    reused: Vec<Resource>,
}

impl Run<'_> {
    fn send(&self, e: Event) {
        let _ = self.tx.send(e);
    }

    fn info(&self, s: impl Into<String>) {
        self.send(Event::Info(s.into()));
    }

    async fn step<T, F>(&mut self, step: Step, f: F) -> Result<T, WorkflowError>
    where
        F: AsyncFnOnce(&mut Self) -> Result<(T, String), WorkflowError>,
    {
        self.send(Event::StepStarted(step));
        let t = Instant::now();
        match f(self).await {
            Ok((v, note)) => {
                self.send(Event::StepFinished {
                    step,
                    elapsed: t.elapsed(),
                    note,
                });
                Ok(v)
            }
            Err(e) => {
                self.send(Event::StepFailed {
                    step,
                    error: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// Records a resource the run created or adopted, says so, and watches it.
    fn created(&mut self, r: Resource) {
        match &r {
            Resource::Pool(id) => self.watch.pool(id),
            Resource::Job(id) => self.watch.job(id),
            Resource::Container(_) => {}
        }
        self.send(Event::Created(r.clone()));
        self.existing.push(r);
    }

    /// Notes in the journal, before the request goes out, that this run creates `r`.
    fn intend(&mut self, r: &Resource) {
        let Some(j) = &mut self.journal else { return };
        if let Err(e) = j.record(r) {
            let path = j.path().display().to_string();
            tracing::warn!(error = %e, %path, "cannot write the run journal");
            self.info(format!(
                "Warning: cannot write the run journal {path}: {e} (a killed run could not be resumed)"
            ));
        }
    }

    /// Carries on with what the interrupted run created.
    fn adopt(&mut self, r: Resource) {
        let since = self
            .journal
            .as_ref()
            .and_then(|j| j.previous.as_ref())
            .map(|p| {
                p.started
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default();
        self.info(format!(
            "Resuming: {r} was created by the run started at {since}, which did not finish"
        ));
        if let Some(j) = &mut self.journal
            && let Err(e) = j.adopt(&r)
        {
            tracing::warn!(error = %e, "cannot write the run journal");
        }
        self.adopted.push(r);
    }

    /// Whether the interrupted run before this one created `r`.
    fn resumes(&self, r: &Resource) -> bool {
        self.journal
            .as_ref()
            .is_some_and(|j| j.previously_created(r))
    }

    fn forget(&mut self, r: &Resource) {
        self.existing.retain(|x| x != r);
    }
}

/// Runs the whole tutorial. Whatever happens, the last event is `Finished` with what still
/// exists, so nothing that costs money is left behind silently.
pub async fn run(
    clients: &Clients,
    spec: &WorkloadSpec,
    tx: mpsc::UnboundedSender<Event>,
    ask: Asker,
    watch: &Watch,
) -> Result<Summary, WorkflowError> {
    let started = Instant::now();
    let journal = spec.journal_dir.as_ref().map(|dir| {
        Journal::open(
            dir,
            &clients.service,
            clients.batch.account(),
            &spec.pool_id,
            &spec.job_id,
        )
    });
    let mut run = Run {
        clients,
        watch,
        spec,
        tx,
        existing: Vec::new(),
        downloaded: Vec::new(),
        tasks: None,
        journal,
        adopted: Vec::new(),
        reused: Vec::new(),
    };
    run.send(Event::Workload(crate::workflow::plan::view(spec)));
    let mut ask = ask;
    let mut result = run_steps(&mut run).await;
    if let Err(failure) = &result {
        // A failed run still settles the job and the pool as the user asked, so that a
        // failure never leaves billable nodes behind without a word; but it never deletes
        // work that may still run (an outage, a timeout): that is kept, with how to attach.
        let busy = work_in_progress(&run, failure).await;
        if let Err(e) = cleanup(&mut run, &mut ask, busy).await {
            tracing::warn!(error = %e, "cleanup after a failed run failed too");
        }
    } else {
        result = cleanup(&mut run, &mut ask, None).await;
    }
    // What remains is asked of the services (a create whose answer was lost may have landed),
    // by the same code as every other exit summary.
    let mut candidates = run.existing.clone();
    if let Some(j) = &run.journal {
        candidates.extend(j.recorded());
    }
    let remaining =
        crate::workflow::remaining::still_present(clients, &candidates, &run.existing).await;
    if let Some(j) = &mut run.journal
        && let Err(e) = j.finish(&remaining)
    {
        tracing::warn!(error = %e, "cannot update the run journal");
    }
    let summary = Summary {
        ok: result.is_ok(),
        elapsed: started.elapsed(),
        downloaded: run.downloaded.clone(),
        remaining,
        tasks: run.tasks,
    };
    run.send(Event::Finished {
        ok: summary.ok,
        elapsed: summary.elapsed,
        remaining: summary.remaining.clone(),
    });
    result.map(|()| summary)
}

async fn run_steps(run: &mut Run<'_>) -> Result<(), WorkflowError> {
    let spec = run.spec;
    spec.validate()?;
    let storage = &run.clients.storage;
    let batch = &run.clients.batch;

    // 1. Containers, after checking that both accounts answer and that the pool and job ids
    // are free, so that a wrong key or a taken id fails before anything is created.
    run.step(Step::CreateContainers, async |run| {
        preflight(run).await?;
        for c in spec.containers.all() {
            run.intend(&Resource::Container(c.to_string()));
            let created = storage.create_container(c).await?;
            run.created(Resource::Container(c.to_string()));
            run.info(format!(
                "Container [{c}] {}",
                if created == ContainerCreated::Created {
                    "created"
                } else {
                    "already existed"
                }
            ));
        }
        Ok(((), String::new()))
    })
    .await?;

    // 2. Uploads: resource files (scripts) to the application container, then the inputs.
    let upload_urls = run
        .step(Step::Upload, async |run| {
            let mut urls: Vec<Option<SecretUrl>> = vec![None; spec.uploads.len()];
            let mut total = 0u64;
            for role in [Role::Application, Role::Input] {
                let container = spec.containers.of(role);
                let mine: Vec<usize> = (0..spec.uploads.len())
                    .filter(|i| spec.uploads[*i].role == role)
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let files: Vec<(String, PathBuf)> = mine
                    .iter()
                    .map(|i| {
                        (
                            spec.uploads[*i].blob.clone(),
                            spec.uploads[*i].local.clone(),
                        )
                    })
                    .collect();
                for (_, path) in &files {
                    run.info(format!(
                        "Uploading file {} to container [{container}]...",
                        path.display()
                    ));
                }
                let tx = run.tx.clone();
                let progress = move |file: &str, p: crate::azure::storage::UploadProgress| {
                    let _ = tx.send(Event::UploadProgress {
                        file: file.to_string(),
                        bytes_done: p.bytes_done,
                        bytes_total: p.bytes_total,
                    });
                };
                let run_ref: &Run<'_> = run;
                let uploaded = storage
                    .upload_files(container, &files, progress, |u| {
                        run_ref.send(Event::Uploaded {
                            file: u.name.clone(),
                            container: container.to_string(),
                            blob: u.name.clone(),
                            bytes: u.size,
                        })
                    })
                    .await?;
                total += uploaded.iter().map(|u| u.size).sum::<u64>();
                for i in mine {
                    urls[i] = Some(
                        storage
                            .blob_sas(
                                container,
                                &spec.uploads[i].blob,
                                SasPermissions::READ,
                                sas_ttl(spec),
                            )
                            .await?,
                    );
                }
            }
            let urls: Vec<SecretUrl> = urls.into_iter().flatten().collect();
            Ok((urls, format!("{total} bytes")))
        })
        .await?;
    // What the nodes read: uploaded files, and containers by SAS (read and list).
    let mut container_urls = BTreeMap::new();
    for role in spec.read_containers() {
        container_urls.insert(
            role,
            storage
                .container_sas(
                    spec.containers.of(role),
                    SasPermissions::READ_LIST,
                    sas_ttl(spec),
                )
                .await?,
        );
    }
    let urls = Urls {
        uploads: &upload_urls,
        containers: &container_urls,
    };

    // 3. Pool.
    run.step(Step::CreatePool, async |run| {
        let r = Resource::Pool(spec.pool_id.clone());
        if run.adopted.contains(&r) {
            run.created(r);
            return Ok(((), "carried on with the interrupted run's pool".into()));
        }
        run.info(format!("Creating pool [{}]...", spec.pool_id));
        run.intend(&r);
        let pool = pool_body(spec, &urls);
        match batch.create_pool(&pool).await? {
            Created::Created => {
                run.created(r);
                Ok(((), "created".into()))
            }
            Created::AlreadyExisted if spec.reuse_pool => {
                // Not this run's: a killed run must not make it the next run's to delete.
                if let Some(j) = &mut run.journal
                    && let Err(e) = j.forget(&r)
                {
                    tracing::warn!(error = %e, "cannot write the run journal");
                }
                run.reused.push(r.clone());
                run.created(r);
                Ok(((), "reusing the existing pool".into()))
            }
            Created::AlreadyExisted => Err(WorkflowError::PoolExists {
                id: spec.pool_id.clone(),
                why: String::new(),
            }),
        }
    })
    .await?;

    // 4. Job.
    run.step(Step::CreateJob, async |run| {
        let r = Resource::Job(spec.job_id.clone());
        if run.adopted.contains(&r) {
            run.created(r);
            return Ok(((), "carried on with the interrupted run's job".into()));
        }
        run.info(format!("Creating job [{}]...", spec.job_id));
        run.intend(&r);
        let job = job_body(spec);
        match batch.create_job(&job).await? {
            Created::Created => {
                run.created(Resource::Job(spec.job_id.clone()));
                Ok(((), "created".into()))
            }
            // Someone else's job: not ours to clean up.
            Created::AlreadyExisted => Err(WorkflowError::JobExists {
                id: spec.job_id.clone(),
                why: String::new(),
                attach: attach_hint(&spec.job_id, &spec.pool_id),
            }),
        }
    })
    .await?;

    // 5. Tasks.
    let output_url = storage
        .container_sas(
            &spec.containers.output,
            SasPermissions::WRITE,
            sas_ttl(spec),
        )
        .await?;
    run.step(Step::AddTasks, async |run| {
        run.info(format!(
            "Adding {} to job [{}]...",
            crate::util::count(spec.tasks.len(), "task"),
            spec.job_id
        ));
        let tasks: Vec<Task> = spec
            .tasks
            .iter()
            .map(|t| task_body(t, &urls, output_url.expose()))
            .collect();
        let results = batch.add_tasks(&spec.job_id, &tasks).await?;
        let failed: Vec<_> = results
            .iter()
            .filter(|r| r.status != TaskAddStatus::Success)
            .collect();
        if let Some(first) = failed.first() {
            let (code, message) = first
                .error
                .as_ref()
                .map(|e| {
                    (
                        e.code.clone(),
                        e.message
                            .as_ref()
                            .map(|m| m.value.lines().next().unwrap_or("").to_string())
                            .unwrap_or_default(),
                    )
                })
                .unwrap_or_default();
            return Err(WorkflowError::TasksRejected {
                count: failed.len(),
                task: first.task_id.clone(),
                code,
                message,
            });
        }
        // What the panels show as active, these wait for: said once, for each.
        for t in spec.tasks.iter().filter(|t| t.has_dependencies()) {
            run.info(format!(
                "  Task [{}] waits for {}",
                t.id,
                t.dependencies_summary()
            ));
        }
        let existed = results.iter().filter(|r| r.already_existed).count();
        Ok((
            (),
            if existed > 0 {
                format!(
                    "{} ({existed} were already there)",
                    crate::util::count(results.len(), "task")
                )
            } else {
                crate::util::count(results.len(), "task")
            },
        ))
    })
    .await?;

    // 6. Wait for the tasks, on what the session's watcher learns.
    run.watch.hurry();
    run.step(Step::Monitor, async |run| {
        run.info(format!(
            "Monitoring all tasks for 'Completed' state, timeout in {}...",
            fmt_duration(spec.timeout)
        ));
        let opts = WaitOptions {
            job_id: spec.job_id.clone(),
            pool_id: Some(spec.pool_id.clone()),
            timeout: spec.timeout,
        };
        let outcome = wait::wait_for_tasks(run.watch, batch, &opts).await?;
        run.tasks = Some(outcome);
        if outcome.blocked > 0 {
            run.info(format!(
                "  Tasks that will never run: {} (each waits on a task that failed, whose on_failure dependency_action is block); every other task reached the 'Completed' state.",
                outcome.blocked
            ));
            return Ok((
                (),
                format!(
                    "{} succeeded, {} failed, {} blocked",
                    outcome.succeeded, outcome.failed, outcome.blocked
                ),
            ));
        }
        run.info("  Success! All tasks reached the 'Completed' state within the specified timeout period.");
        Ok(((), format!("{} succeeded, {} failed", outcome.succeeded, outcome.failed)))
    })
    .await?;

    // 7. Downloads.
    run.step(Step::Download, async |run| {
        let container = &spec.containers.output;
        run.info(format!(
            "Downloading all files from container [{container}]..."
        ));
        std::fs::create_dir_all(&spec.output_dir).map_err(|e| {
            WorkflowError::Spec(crate::workflow::spec::SpecError(format!(
                "cannot create output directory {}: {e}",
                spec.output_dir.display()
            )))
        })?;
        let blobs = storage.list_blobs(container, None).await?;
        let task_of_output = spec.output_blobs();
        // Refuse before writing anything if a different file is in the way.
        let mut plan = BTreeMap::new();
        for b in &blobs {
            let dest = spec.output_dir.join(safe_relative_path(&b.name));
            if dest.exists()
                && !spec.force
                && !same_content(&dest, b.size, b.content_md5.as_deref())
            {
                return Err(WorkflowError::OutputExists {
                    path: dest,
                    blob: b.name.clone(),
                });
            }
            plan.insert(b.name.clone(), dest);
        }
        for (name, dest) in plan {
            let task = task_of_output.get(name.as_str()).map(String::as_str);
            download_output(storage, container, &name, &dest, task, &run.tx).await?;
            run.info(format!(
                "  Downloaded blob [{name}] from container [{container}] to {}",
                dest.display()
            ));
            run.downloaded.push(dest);
        }
        run.info("  Download complete!");
        Ok(((), crate::util::count(run.downloaded.len(), "file")))
    })
    .await?;

    // 8. Containers.
    run.step(Step::DeleteContainers, async |run| {
        let failed = run.tasks.map_or(0, |t| t.failed);
        if failed > 0 && spec.keep_containers_for_retries {
            run.info(format!(
                "Keeping the containers: {} failed, and a retry needs its input (r retries a task, C deletes the containers)",
                crate::util::count(failed, "task")
            ));
            return Ok(((), format!("kept for retries ({failed} failed)")));
        }
        run.info("Deleting containers...");
        for c in spec.containers.all() {
            storage.delete_container(c).await?;
            let r = Resource::Container(c.to_string());
            run.forget(&r);
            run.send(Event::Deleted(r));
        }
        Ok(((), String::new()))
    })
    .await?;

    Ok(())
}

/// How much of an output file the preview shows.
const PREVIEW_BYTES: usize = 16 * 1024;

/// The beginning of a downloaded output file, as the preview shows it.
/// Downloads one output blob to `dest` (atomically, verified) and reports it: `Downloaded`, and
/// `Output` for the preview when it is `task`'s. Step 7 and a task retried after it use this.
pub async fn download_output(
    storage: &StorageClient,
    container: &str,
    blob: &str,
    dest: &Path,
    task: Option<&str>,
    tx: &mpsc::UnboundedSender<Event>,
) -> Result<u64, StorageError> {
    let got = storage
        .download_to_file(container, blob, dest, true)
        .await?;
    let _ = tx.send(Event::Downloaded {
        blob: blob.to_string(),
        container: container.to_string(),
        path: dest.to_path_buf(),
        bytes: got.bytes,
    });
    if let Some(task_id) = task {
        let path = dest.to_path_buf();
        let text = tokio::task::spawn_blocking(move || read_output_head(&path))
            .await
            .unwrap_or_default();
        let _ = tx.send(Event::Output {
            task_id: task_id.to_string(),
            path: dest.to_path_buf(),
            text,
        });
    }
    Ok(got.bytes)
}

pub(crate) fn read_output_head(path: &Path) -> String {
    read_head(path, PREVIEW_BYTES)
}

/// The first `max` bytes of a text file (lossy UTF-8); empty if it cannot be read.
fn read_head(path: &Path, max: usize) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(max as u64).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn same_content(path: &Path, size: u64, md5_b64: Option<&str>) -> bool {
    use base64::Engine as _;
    use md5::Digest as _;
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    if bytes.len() as u64 != size {
        return false;
    }
    match md5_b64 {
        Some(m) => base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&bytes)) == m,
        None => false,
    }
}

/// `0:20:00`, as the tutorial prints durations.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_the_tutorial_does() {
        assert_eq!(fmt_duration(Duration::from_secs(1200)), "0:20:00");
    }
}
