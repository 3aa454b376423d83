//! The node agent: runs a start task or task as Batch does on a Linux node. Resource files are
//! downloaded first, the command line is split into arguments and executed directly in its own
//! process group (no shell unless the command line calls one), stdout/stderr go to files in the
//! task directory, and output files are uploaded afterwards per their upload condition.
//!
//! - `mod.rs`: a run (what to run, how it ended) and the process it executes.
//! - `procs`: the runs in flight and their process groups, to kill one.
//! - `resources`: resource files in (HTTP URLs, container URLs and prefixes), paths kept
//!   inside the task directory.
//! - `outputs`: output files out (patterns, upload conditions, Put Blob).
//! - `http`: storage requests with the service's retry policy.

mod http;
mod outputs;
mod procs;
mod resources;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

pub use self::outputs::put_blob_bytes;
use self::outputs::upload_output_files;
pub use self::procs::{OWNER_VAR, Procs, kill_group, kill_orphans};
use self::resources::download_resource_file;
pub use self::resources::safe_join;
use crate::azure::models::{ErrorCategory, FailureInfo, NameValue, OutputFile, ResourceFile};

/// Splits a command line as Batch does on Linux: shell-style words, no expansion.
pub fn split_command_line(line: &str) -> Result<Vec<String>, String> {
    let words = shell_words::split(line).map_err(|e| format!("{e}"))?;
    if words.is_empty() {
        return Err("the command line is empty".into());
    }
    Ok(words)
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub run_id: u64,
    pub command_line: String,
    /// The task directory (stdout.txt, stderr.txt) and its `wd`.
    pub task_dir: PathBuf,
    pub env: Vec<(String, String)>,
    pub resource_files: Vec<ResourceFile>,
    pub output_files: Vec<OutputFile>,
    pub max_wall_clock: Option<Duration>,
    /// For autoStorageContainerName: the blob endpoint and a function of the container to a
    /// SAS query (read + list).
    pub blob_endpoint: String,
    pub auto_storage_sas: Option<String>,
    /// Leave what the command started in its process group running after it exits (a
    /// multi-instance task's coordination command starts services the task then uses).
    pub keep_group: bool,
    /// Append to stdout.txt and stderr.txt instead of starting them afresh (the second
    /// command of a multi-instance task's primary).
    pub append_output: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub exit_code: Option<i32>,
    pub failure: Option<FailureInfo>,
    pub killed: bool,
}

impl RunOutcome {
    pub fn succeeded(&self) -> bool {
        self.failure.is_none() && self.exit_code == Some(0)
    }
}

pub fn failure(code: &str, message: &str) -> FailureInfo {
    failure_detail(code, message, message)
}

/// A user error whose `Message` detail says more than its message.
pub fn failure_detail(code: &str, message: &str, detail: &str) -> FailureInfo {
    FailureInfo {
        category: ErrorCategory::UserError,
        code: Some(code.into()),
        message: Some(message.into()),
        details: vec![NameValue {
            name: "Message".into(),
            value: detail.into(),
        }],
    }
}

/// Downloads resource files into `dest` (a multi-instance task's common resource files go to
/// the task directory, not its working directory).
pub async fn fetch_resource_files(
    http: &reqwest::Client,
    spec: &RunSpec,
    files: &[ResourceFile],
    dest: &Path,
) -> Result<(), FailureInfo> {
    for rf in files {
        download_resource_file(http, spec, rf, dest).await?;
    }
    Ok(())
}

/// Runs `spec` to its end; `on_spawn` receives the process group id once it exists.
pub async fn run(
    spec: RunSpec,
    http: &reqwest::Client,
    procs: &Procs,
    on_spawn: impl FnOnce(i32),
) -> RunOutcome {
    let killed = RunOutcome {
        exit_code: None,
        failure: None,
        killed: true,
    };
    let wd = spec.task_dir.join("wd");
    if procs.killed(spec.run_id) {
        return killed;
    }
    if let Err(e) = tokio::fs::create_dir_all(&wd).await {
        return RunOutcome {
            exit_code: None,
            failure: Some(failure(
                "DiskFull",
                &format!("cannot create {}: {e}", wd.display()),
            )),
            killed: false,
        };
    }
    // Downloads (and uploads, below) stop where they are when the run is killed: a run whose
    // node died must not write beside the attempt that replaced it.
    let downloads = async {
        for rf in &spec.resource_files {
            download_resource_file(http, &spec, rf, &wd).await?;
        }
        Ok(())
    };
    tokio::select! {
        biased;
        () = procs.until_killed(spec.run_id) => return killed,
        fetched = downloads => {
            if let Err(f) = fetched {
                return RunOutcome {
                    exit_code: None,
                    failure: Some(f),
                    killed: false,
                };
            }
        }
    }
    if procs.killed(spec.run_id) {
        return killed;
    }
    let outcome = execute(&spec, &wd, procs, on_spawn).await;
    if procs.killed(spec.run_id) {
        // Its node died, or it was terminated or deleted: it uploads nothing.
        return killed;
    }
    if outcome.killed && outcome.failure.is_none() {
        return outcome;
    }
    let mut outcome = outcome;
    let uploaded = tokio::select! {
        biased;
        () = procs.until_killed(spec.run_id) => return killed,
        uploaded = upload_output_files(http, &spec, &wd, outcome.succeeded()) => uploaded,
    };
    if let Err(f) = uploaded
        && outcome.failure.is_none()
    {
        outcome.failure = Some(f);
    }
    outcome
}

async fn execute(
    spec: &RunSpec,
    wd: &Path,
    procs: &Procs,
    on_spawn: impl FnOnce(i32),
) -> RunOutcome {
    let fail = |code: &str, msg: String| RunOutcome {
        exit_code: None,
        failure: Some(failure(code, &msg)),
        killed: false,
    };
    let words = match split_command_line(&spec.command_line) {
        Ok(w) => w,
        Err(e) => {
            return fail(
                "CommandLineInvalid",
                format!("The command line is invalid: {e}"),
            );
        }
    };
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(spec.append_output)
            .truncate(!spec.append_output)
            .open(spec.task_dir.join(name))
    };
    let (stdout, stderr) = match (open("stdout.txt"), open("stderr.txt")) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => return fail("DiskFull", format!("cannot create output: {e}")),
    };
    let mut cmd = tokio::process::Command::new(&words[0]);
    cmd.args(&words[1..])
        .current_dir(wd)
        .env_clear()
        .envs(
            ["PATH", "LANG", "LC_ALL", "TZ"]
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))),
        )
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(procs.owner().map(|o| (OWNER_VAR, o)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                "CommandProgramNotFound",
                format!("The specified command program is not found: {}", words[0]),
            );
        }
        Err(e) => {
            return fail(
                "CommandProgramNotFound",
                format!("cannot start {}: {e}", words[0]),
            );
        }
    };
    let pgid = child.id().map(|p| p as i32).unwrap_or(0);
    if !procs.set_pgid(spec.run_id, pgid) {
        // Killed while the process was being started: it ends at once.
        kill_group(pgid);
    }
    on_spawn(pgid);
    let waited = match spec.max_wall_clock {
        Some(limit) => tokio::time::timeout(limit, child.wait()).await.ok(),
        None => Some(child.wait().await),
    };
    procs.clear_pgid(spec.run_id);
    match waited {
        None => {
            kill_group(pgid);
            let _ = child.wait().await;
            RunOutcome {
                exit_code: None,
                failure: Some(failure(
                    "MaxWallClockTimeExceeded",
                    "The task exceeded its maximum wall clock time and was terminated",
                )),
                killed: true,
            }
        }
        Some(Err(e)) => fail("TaskEnded", format!("waiting for the process failed: {e}")),
        Some(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            // Kill what the command left behind in its group, as the node agent does (unless
            // the group is to live on: its owner ends it).
            if !spec.keep_group {
                kill_group(pgid);
            }
            match (status.code(), status.signal()) {
                (Some(0), _) => RunOutcome {
                    exit_code: Some(0),
                    failure: None,
                    killed: false,
                },
                (Some(code), _) => RunOutcome {
                    exit_code: Some(code),
                    failure: Some(failure(
                        "FailureExitCode",
                        "The task process exited with an unexpected exit code",
                    )),
                    killed: false,
                },
                (None, sig) => RunOutcome {
                    exit_code: Some(128 + sig.unwrap_or(9)),
                    failure: None,
                    killed: true,
                },
            }
        }
    }
}
