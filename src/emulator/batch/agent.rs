//! The node agent: runs a start task or task as Batch does on a Linux node. Resource files are
//! downloaded first, the command line is split into arguments and executed directly in its own
//! process group (no shell unless the command line calls one), stdout/stderr go to files in the
//! task directory, and output files are uploaded afterwards per their upload condition.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::azure::auth::redact_url;
use crate::azure::models::{
    ErrorCategory, FailureInfo, NameValue, OutputFile, ResourceFile, UploadCondition,
};
use crate::azure::retry::{RetryDecision, RetryPolicy, Retryable, parse_retry_after, with_retry};

/// The storage service version the agent speaks to blob endpoints.
const STORAGE_VERSION: &str = "2023-11-03";

/// A storage request that failed: by status (with the service's wait hint), on the wire, or
/// on this side (a file that cannot be written: not worth another try).
#[derive(Debug)]
enum HttpFailure {
    Status(u16, Option<Duration>),
    Transport(String),
    Local(String),
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpFailure::Status(s, _) => write!(f, "answered {s}"),
            HttpFailure::Transport(m) | HttpFailure::Local(m) => f.write_str(m),
        }
    }
}

impl Retryable for HttpFailure {
    fn retry_decision(&self) -> RetryDecision {
        match self {
            HttpFailure::Status(s, after) => RetryDecision::for_status(*s, *after),
            HttpFailure::Transport(_) => RetryDecision::Retry { retry_after: None },
            HttpFailure::Local(_) => RetryDecision::Fail,
        }
    }
}

fn transport(e: reqwest::Error) -> HttpFailure {
    HttpFailure::Transport(e.without_url().to_string())
}

/// Sends the request `make` builds and hands a successful response to `read`, retrying
/// throttling, server errors and broken connections (a body cut off included), as the node
/// agent does.
async fn request_with_retry<T, R, RFut>(
    what: &str,
    make: impl Fn() -> reqwest::RequestBuilder,
    read: R,
) -> Result<T, HttpFailure>
where
    R: Fn(reqwest::Response) -> RFut,
    RFut: std::future::Future<Output = Result<T, HttpFailure>>,
{
    let policy = RetryPolicy {
        base: Duration::from_millis(200),
        cap: Duration::from_secs(5),
        max_attempts: 10,
        max_connect_attempts: 4,
        max_retry_after: Duration::from_secs(60),
    };
    with_retry(&policy, what, |_| async {
        let resp = make().send().await.map_err(transport)?;
        if !resp.status().is_success() {
            let after = parse_retry_after(
                |n| resp.headers().get(n).and_then(|v| v.to_str().ok()),
                chrono::Utc::now(),
            );
            return Err(HttpFailure::Status(resp.status().as_u16(), after));
        }
        read(resp).await
    })
    .await
}

/// [`request_with_retry`] for small answers, read whole.
async fn send_with_retry(
    what: &str,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<bytes::Bytes, HttpFailure> {
    request_with_retry(
        what,
        make,
        |r| async move { r.bytes().await.map_err(transport) },
    )
    .await
}

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
    FailureInfo {
        category: ErrorCategory::UserError,
        code: Some(code.into()),
        message: Some(message.into()),
        details: vec![NameValue {
            name: "Message".into(),
            value: message.into(),
        }],
    }
}

/// The runs (task and start task attempts) that are live, by run id: their process group once
/// it exists, and whether they were killed. A run is killed in any phase, also before its
/// process exists (while its resource files download): it then stops at its next step, so a
/// run whose node died never goes on beside the attempt that replaced it.
#[derive(Default)]
pub struct Procs {
    runs: Mutex<HashMap<u64, RunEntry>>,
}

struct RunEntry {
    pgid: Option<i32>,
    killed: tokio::sync::watch::Sender<bool>,
}

impl Default for RunEntry {
    fn default() -> Self {
        RunEntry {
            pgid: None,
            killed: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Procs {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<u64, RunEntry>) -> T) -> T {
        // Every change is one assignment: a poisoned lock still holds consistent data.
        f(&mut self.runs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A run starts to exist (its id was handed out): from now on it can be killed.
    pub fn begin(&self, run: u64) {
        self.with(|r| r.insert(run, RunEntry::default()));
    }

    /// A run is over.
    pub fn end(&self, run: u64) {
        self.with(|r| r.remove(&run));
    }

    /// Records a run's process group; false if the run was killed meanwhile (the caller kills
    /// the group it just started).
    fn set_pgid(&self, run: u64, pgid: i32) -> bool {
        self.with(|r| match r.get_mut(&run) {
            Some(e) => {
                e.pgid = Some(pgid);
                !*e.killed.borrow()
            }
            None => true,
        })
    }

    fn clear_pgid(&self, run: u64) {
        self.with(|r| {
            if let Some(e) = r.get_mut(&run) {
                e.pgid = None;
            }
        });
    }

    /// Whether a run was killed.
    pub fn killed(&self, run: u64) -> bool {
        self.with(|r| r.get(&run).is_some_and(|e| *e.killed.borrow()))
    }

    /// Resolves once a run is killed (never, for a run that is not live).
    async fn until_killed(&self, run: u64) {
        let rx = self.with(|r| r.get(&run).map(|e| e.killed.subscribe()));
        if let Some(mut rx) = rx
            && rx.wait_for(|k| *k).await.is_ok()
        {
            return;
        }
        std::future::pending::<()>().await
    }

    /// Kills a run: its process group if it has one, and whatever step it would take next.
    pub fn kill(&self, run: u64) {
        let pgid = self.with(|r| {
            r.get_mut(&run).and_then(|e| {
                e.killed.send_replace(true);
                e.pgid
            })
        });
        if let Some(pgid) = pgid {
            kill_group(pgid);
        }
    }

    pub fn kill_all(&self) {
        let all: Vec<i32> = self.with(|r| {
            r.values_mut()
                .filter_map(|e| {
                    e.killed.send_replace(true);
                    e.pgid
                })
                .collect()
        });
        for pgid in all {
            kill_group(pgid);
        }
    }
}

pub fn kill_group(pgid: i32) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
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
    let open = |name: &str| std::fs::File::create(spec.task_dir.join(name));
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
            // Kill what the command left behind in its group, as the node agent does.
            kill_group(pgid);
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

/// Resolves `rel` below `base`, refusing absolute paths and `..` that would leave it.
pub fn safe_join(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    let mut depth = 0usize;
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => {
                out.push(p);
                depth += 1;
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn download_failure(msg: String) -> FailureInfo {
    failure("BlobDownloadMiscError", &msg)
}

async fn download_resource_file(
    http: &reqwest::Client,
    spec: &RunSpec,
    rf: &ResourceFile,
    wd: &Path,
) -> Result<(), FailureInfo> {
    if let Some(url) = &rf.http_url {
        let name = rf
            .file_path
            .clone()
            .or_else(|| {
                url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.path_segments()?.next_back().map(str::to_string))
            })
            .unwrap_or_default();
        let dest = safe_join(wd, &name)
            .ok_or_else(|| download_failure(format!("invalid filePath {name:?}")))?;
        return fetch_to(http, spec.run_id, url, &dest, rf.file_mode.as_deref()).await;
    }
    let container_url = match (&rf.storage_container_url, &rf.auto_storage_container_name) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => format!(
            "{}/{}?{}",
            spec.blob_endpoint,
            c,
            spec.auto_storage_sas.clone().unwrap_or_default()
        ),
        (None, None) => {
            return Err(download_failure(
                "the resource file names no httpUrl, storageContainerUrl or autoStorageContainerName"
                    .into(),
            ));
        }
    };
    let (base, query) = match container_url.split_once('?') {
        Some((b, q)) => (b.trim_end_matches('/').to_string(), q.to_string()),
        None => (
            container_url.trim_end_matches('/').to_string(),
            String::new(),
        ),
    };
    let names = list_blobs(http, &base, &query, rf.blob_prefix.as_deref().unwrap_or("")).await?;
    let dir = rf.file_path.clone().unwrap_or_default();
    for name in names {
        let rel = if dir.is_empty() {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        let dest = safe_join(wd, &rel)
            .ok_or_else(|| download_failure(format!("invalid blob path {name:?}")))?;
        let enc = percent_encoding::utf8_percent_encode(&name, BLOB_PATH).to_string();
        let url = if query.is_empty() {
            format!("{base}/{enc}")
        } else {
            format!("{base}/{enc}?{query}")
        };
        fetch_to(http, spec.run_id, &url, &dest, rf.file_mode.as_deref()).await?;
    }
    Ok(())
}

const BLOB_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

async fn list_blobs(
    http: &reqwest::Client,
    base: &str,
    query: &str,
    prefix: &str,
) -> Result<Vec<String>, FailureInfo> {
    let mut names = Vec::new();
    let mut marker = String::new();
    loop {
        let mut url = format!(
            "{base}?restype=container&comp=list&prefix={}",
            percent_encoding::utf8_percent_encode(prefix, percent_encoding::NON_ALPHANUMERIC)
        );
        if !marker.is_empty() {
            url.push_str("&marker=");
            url.push_str(
                &percent_encoding::utf8_percent_encode(&marker, percent_encoding::NON_ALPHANUMERIC)
                    .to_string(),
            );
        }
        if !query.is_empty() {
            url.push('&');
            url.push_str(query);
        }
        let shown = redact_url(base);
        let body = send_with_retry(&format!("list {shown}"), || {
            http.get(&url).header("x-ms-version", STORAGE_VERSION)
        })
        .await
        .map_err(|e| download_failure(format!("listing {shown}: {e}")))?;
        let body = String::from_utf8_lossy(&body);
        names.extend(xml_elements(&body, "Name"));
        marker = xml_elements(&body, "NextMarker")
            .into_iter()
            .next()
            .unwrap_or_default();
        if marker.is_empty() {
            return Ok(names);
        }
    }
}

/// The text of every `<tag>...</tag>` of a small XML document, unescaped.
fn xml_elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        let raw = &after[..j];
        out.push(
            quick_xml::escape::unescape(raw)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| raw.to_string()),
        );
        rest = &after[j + close.len()..];
    }
    out
}

/// Downloads `url` to `dest`, streaming (a resource file may be bigger than memory) into a
/// temporary file that is renamed when complete; a broken-off download starts again.
async fn fetch_to(
    http: &reqwest::Client,
    run_id: u64,
    url: &str,
    dest: &Path,
    mode: Option<&str>,
) -> Result<(), FailureInfo> {
    use futures::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    let shown = redact_url(url);
    let dir = dest.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| download_failure(format!("creating {}: {e}", dir.display())))?;
    // Named by the run, so that no other attempt of the task can touch it.
    let tmp = dir.join(format!(
        ".{}.{run_id}.download",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let local = |what: &str, e: std::io::Error| {
        HttpFailure::Local(format!("{what} {}: {e}", tmp.display()))
    };
    let fetched = request_with_retry(
        &format!("download {shown}"),
        || http.get(url).header("x-ms-version", STORAGE_VERSION),
        |resp| async {
            let mut f = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| local("creating", e))?;
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                f.write_all(&chunk.map_err(transport)?)
                    .await
                    .map_err(|e| local("writing", e))?;
            }
            f.flush().await.map_err(|e| local("writing", e))
        },
    )
    .await;
    if let Err(e) = fetched {
        let _ = tokio::fs::remove_file(&tmp).await;
        let code = match e {
            HttpFailure::Status(404, _) => "BlobNotFound",
            HttpFailure::Status(403, _) => "BlobAccessDenied",
            _ => "BlobDownloadMiscError",
        };
        return Err(failure(code, &format!("downloading {shown}: {e}")));
    }
    tokio::fs::rename(&tmp, dest)
        .await
        .map_err(|e| download_failure(format!("writing {}: {e}", dest.display())))?;
    let mode = mode
        .and_then(|m| u32::from_str_radix(m.trim_start_matches("0o"), 8).ok())
        .unwrap_or(0o770);
    use std::os::unix::fs::PermissionsExt;
    let _ = tokio::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode)).await;
    tracing::debug!(url = %shown, dest = %dest.display(), "resource file downloaded");
    Ok(())
}

/// Matches a path (components joined with `/`) against a glob with `*`, `?` and `**`.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    fn seg_match(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => seg_match(&p[1..], s) || (!s.is_empty() && seg_match(p, &s[1..])),
            (Some('?'), Some(_)) => seg_match(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => seg_match(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn parts_match(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => {
                parts_match(&p[1..], s) || (!s.is_empty() && parts_match(p, &s[1..]))
            }
            (Some(pp), Some(ss)) => {
                let pc: Vec<char> = pp.chars().collect();
                let sc: Vec<char> = ss.chars().collect();
                seg_match(&pc, &sc) && parts_match(&p[1..], &s[1..])
            }
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('/').filter(|x| !x.is_empty()).collect();
    let s: Vec<&str> = path.split('/').filter(|x| !x.is_empty()).collect();
    parts_match(&p, &s)
}

/// The files an output file pattern names: (file, blob name suffix).
pub fn expand_pattern(task_dir: &Path, wd: &Path, pattern: &str) -> Vec<(PathBuf, String)> {
    let has_glob = |s: &str| s.contains(['*', '?', '[']);
    // Resolve against the working directory, allowing `..` up to the task directory.
    let rel_to_task = match Path::new(pattern).is_absolute() {
        true => return Vec::new(),
        false => {
            let mut parts: Vec<String> = vec!["wd".into()];
            for c in pattern.split('/') {
                match c {
                    "" | "." => {}
                    ".." => {
                        if parts.pop().is_none() {
                            return Vec::new();
                        }
                    }
                    other => parts.push(other.to_string()),
                }
            }
            parts
        }
    };
    let _ = wd;
    let split = rel_to_task.iter().position(|p| has_glob(p));
    match split {
        None => {
            let file = task_dir.join(rel_to_task.join("/"));
            if file.is_file() {
                let name = rel_to_task.last().cloned().unwrap_or_default();
                vec![(file, name)]
            } else {
                Vec::new()
            }
        }
        Some(i) => {
            let root = task_dir.join(rel_to_task[..i].join("/"));
            let glob = rel_to_task[i..].join("/");
            let mut out = Vec::new();
            walk(&root, &root, &mut |file, rel| {
                if glob_match(&glob, rel) {
                    out.push((file.to_path_buf(), rel.to_string()));
                }
            });
            out.sort();
            out
        }
    }
}

fn walk(root: &Path, dir: &Path, f: &mut dyn FnMut(&Path, &str)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, f);
        } else if let Ok(rel) = p.strip_prefix(root) {
            f(&p, &rel.to_string_lossy());
        }
    }
}

async fn upload_output_files(
    http: &reqwest::Client,
    spec: &RunSpec,
    wd: &Path,
    succeeded: bool,
) -> Result<(), FailureInfo> {
    let mut log = String::new();
    let mut first_error = None;
    for of in &spec.output_files {
        let wanted = match of.upload_options.upload_condition {
            UploadCondition::TaskSuccess => succeeded,
            UploadCondition::TaskFailure => !succeeded,
            _ => true,
        };
        if !wanted {
            continue;
        }
        let Some(dest) = &of.destination.container else {
            continue;
        };
        let single = !of.file_pattern.contains(['*', '?', '[']);
        for (file, suffix) in expand_pattern(&spec.task_dir, wd, &of.file_pattern) {
            let blob = match (&dest.path, single) {
                (Some(p), true) if !p.is_empty() => p.clone(),
                (Some(p), false) if !p.is_empty() => {
                    format!("{}/{}", p.trim_end_matches('/'), suffix)
                }
                _ => suffix.clone(),
            };
            match put_blob(http, &dest.container_url, &blob, &file).await {
                Ok(()) => log.push_str(&format!("uploaded {} to {blob}\n", file.display())),
                Err(e) => {
                    log.push_str(&format!("failed to upload {}: {e}\n", file.display()));
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    if !log.is_empty() {
        let _ = tokio::fs::write(spec.task_dir.join("fileuploadout.txt"), &log).await;
    }
    match first_error {
        None => Ok(()),
        Some(e) => {
            let _ = tokio::fs::write(spec.task_dir.join("fileuploaderr.txt"), &e).await;
            Err(failure("FileUploadMiscError", &e))
        }
    }
}

async fn put_blob(
    http: &reqwest::Client,
    container_url: &str,
    blob: &str,
    file: &Path,
) -> Result<(), String> {
    let (base, query) = container_url.split_once('?').unwrap_or((container_url, ""));
    let enc = percent_encoding::utf8_percent_encode(blob, BLOB_PATH).to_string();
    let url = if query.is_empty() {
        format!("{}/{enc}", base.trim_end_matches('/'))
    } else {
        format!("{}/{enc}?{query}", base.trim_end_matches('/'))
    };
    let shown = redact_url(&url);
    let data = bytes::Bytes::from(
        tokio::fs::read(file)
            .await
            .map_err(|e| format!("reading {}: {e}", file.display()))?,
    );
    send_with_retry(&format!("upload {shown}"), || {
        http.put(&url)
            .header("x-ms-version", STORAGE_VERSION)
            .header("x-ms-blob-type", "BlockBlob")
            .header(
                "x-ms-date",
                crate::azure::auth::http_date(chrono::Utc::now()),
            )
            .body(data.clone())
    })
    .await
    .map_err(|e| format!("PUT {shown}: {e}"))?;
    tracing::debug!(url = %shown, "output file uploaded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_without_expansion() {
        assert_eq!(
            split_command_line("/bin/sh -c 'echo $AZ_BATCH_TASK_ID'").unwrap(),
            vec!["/bin/sh", "-c", "echo $AZ_BATCH_TASK_ID"]
        );
        assert_eq!(
            split_command_line("echo $AZ_BATCH_TASK_ID \"a b\"").unwrap(),
            vec!["echo", "$AZ_BATCH_TASK_ID", "a b"]
        );
        assert_eq!(
            split_command_line("python3 x.py --n 3 a\\ b").unwrap(),
            vec!["python3", "x.py", "--n", "3", "a b"]
        );
        assert!(split_command_line("   ").is_err());
        assert!(split_command_line("echo 'unterminated").is_err());
    }

    /// A run killed while its resource file downloads (as when its node dies) neither starts
    /// its command nor leaves the download behind it: it must not go on beside the attempt
    /// that replaces it, in the same task directory.
    #[tokio::test]
    async fn a_run_killed_before_its_process_starts_stops_there() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let dir = tempfile::tempdir().unwrap();
        // A file server that answers only when told to.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/input.txt", listener.local_addr().unwrap());
        let (answer_tx, answer_rx) = tokio::sync::oneshot::channel::<()>();
        let (asked_tx, asked_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = asked_tx.send(());
            let _ = answer_rx.await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                .await;
        });
        // A run that would leave ran.txt in its working directory.
        let spec = |run_id, task_dir: PathBuf, resource_files| RunSpec {
            run_id,
            command_line: "/bin/sh -c 'echo ran > ran.txt'".into(),
            task_dir,
            env: Vec::new(),
            resource_files,
            output_files: Vec::new(),
            max_wall_clock: None,
            blob_endpoint: String::new(),
            auto_storage_sas: None,
        };
        let procs = Procs::default();
        let run_id = 7;
        procs.begin(run_id);
        let input = ResourceFile {
            auto_storage_container_name: None,
            storage_container_url: None,
            http_url: Some(url),
            blob_prefix: None,
            file_path: Some("input.txt".into()),
            file_mode: None,
            extra: Default::default(),
        };
        let http = reqwest::Client::new();
        let spawned = std::sync::atomic::AtomicBool::new(false);
        let attempt = run(
            spec(run_id, dir.path().join("task"), vec![input]),
            &http,
            &procs,
            |_| spawned.store(true, std::sync::atomic::Ordering::SeqCst),
        );
        let killer = async {
            asked_rx.await.unwrap();
            procs.kill(run_id);
            answer_tx.send(()).unwrap();
        };
        let (outcome, ()) = tokio::join!(attempt, killer);
        assert!(outcome.killed, "{outcome:?}");
        assert_eq!(outcome.exit_code, None);
        assert!(!spawned.load(std::sync::atomic::Ordering::SeqCst));
        assert!(!dir.path().join("task/wd/ran.txt").exists());
        procs.end(run_id);
        assert!(!procs.killed(run_id));

        // Killed before it began at all: nothing is created.
        let procs = Procs::default();
        procs.begin(8);
        procs.kill(8);
        let outcome = run(
            spec(8, dir.path().join("task8"), Vec::new()),
            &http,
            &procs,
            |_| {},
        )
        .await;
        assert!(outcome.killed);
        assert!(!dir.path().join("task8").exists());
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("**/*.txt", "d/e/a.txt"));
        assert!(glob_match("**/*.txt", "a.txt"));
        assert!(glob_match("std???.txt", "stdout.txt"));
        assert!(!glob_match("out/*", "a/b"));
    }

    #[test]
    fn paths_stay_inside() {
        let b = Path::new("/base");
        assert_eq!(
            safe_join(b, "wd/a.txt"),
            Some(PathBuf::from("/base/wd/a.txt"))
        );
        assert_eq!(safe_join(b, "wd/../x"), Some(PathBuf::from("/base/x")));
        assert_eq!(safe_join(b, "../x"), None);
        assert_eq!(safe_join(b, "/etc/passwd"), None);
    }

    #[test]
    fn output_patterns_expand_relative_to_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let task = dir.path();
        std::fs::create_dir_all(task.join("wd/out/sub")).unwrap();
        std::fs::write(task.join("stdout.txt"), "o").unwrap();
        std::fs::write(task.join("wd/out/a.txt"), "a").unwrap();
        std::fs::write(task.join("wd/out/sub/b.txt"), "b").unwrap();
        let wd = task.join("wd");
        let names = |p: &str| {
            expand_pattern(task, &wd, p)
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("../std*.txt"), vec!["stdout.txt"]);
        assert_eq!(names("out/**/*.txt"), vec!["a.txt", "sub/b.txt"]);
        assert_eq!(names("out/a.txt"), vec!["a.txt"]);
        assert!(names("../../escape").is_empty());
    }
}
