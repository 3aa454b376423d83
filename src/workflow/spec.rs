//! The workload, resolved from its file (`workflow::workload`): the pool, job, tasks and
//! files a run creates, validated before anything is created so that bad input fails fast with
//! nothing half-done.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::azure::models::{
    ExitOptions, OnAllTasksComplete, OnTaskFailure, TaskDependencies, UploadCondition,
};

/// What to do with a billable resource at the end of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    Delete,
    Keep,
    /// Ask the user (interactive runs); headless runs without a terminal keep and report.
    Ask,
}

/// A marketplace image and the node agent that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
    pub node_agent_sku_id: String,
}

impl Default for Image {
    fn default() -> Self {
        Image {
            publisher: "canonical".into(),
            offer: "0001-com-ubuntu-server-jammy".into(),
            sku: "22_04-lts".into(),
            version: "latest".into(),
            node_agent_sku_id: "batch.node.ubuntu 22.04".into(),
        }
    }
}

/// The three containers of the tutorial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containers {
    pub application: String,
    pub input: String,
    pub output: String,
}

impl Default for Containers {
    fn default() -> Self {
        Containers {
            application: "application".into(),
            input: "input".into(),
            output: "output".into(),
        }
    }
}

impl Containers {
    pub fn all(&self) -> [&str; 3] {
        [&self.application, &self.input, &self.output]
    }
}

/// Which of the workload's containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Application,
    Input,
    Output,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Application, Role::Input, Role::Output];

    /// How a workload file names it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Application => "application",
            Role::Input => "input",
            Role::Output => "output",
        }
    }
}

impl Containers {
    /// The container that plays `role`.
    pub fn of(&self, role: Role) -> &str {
        match role {
            Role::Application => &self.application,
            Role::Input => &self.input,
            Role::Output => &self.output,
        }
    }
}

/// A local file the run uploads before it creates the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub local: PathBuf,
    pub role: Role,
    /// Its blob name: its path under the glob's folder for inputs, its path on the node for
    /// resource files.
    pub blob: String,
    /// What it is, for messages: "input file", "resource file", "task script".
    pub what: &'static str,
    /// It must be UTF-8 text (checked before anything is created).
    pub text: bool,
    /// Already checked where the workload file names it (see [`Upload::check`]).
    pub checked: bool,
    /// The path as the workload file writes it (relative to the file's folder): errors name
    /// it so, after the file, line and column; else they name `local`.
    pub written: Option<String>,
}

impl Upload {
    /// The file exists, is a file with a usable name, and is UTF-8 text if it must be.
    pub fn check(&self) -> Result<(), SpecError> {
        let shown = self
            .written
            .as_deref()
            .map_or(self.local.as_path(), Path::new);
        if self.text {
            check_text_file(&self.local, shown, self.what)?;
        } else {
            check_file(&self.local, shown, self.what)?;
        }
        check_file_name(&self.local, self.what)?;
        for part in self.blob.split('/') {
            check_name(part, self.what)?;
        }
        Ok(())
    }
}

/// Where a resource file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// One of [`WorkloadSpec::uploads`], by index.
    Upload(usize),
    /// An HTTP(S) URL the node can read.
    Url(String),
    /// The blobs of one of the workload's containers whose names start with `prefix`.
    Container { role: Role, prefix: String },
}

/// A file a task (or the start task) finds in its working directory when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSpec {
    pub source: FileSource,
    /// Where it goes, relative to the working directory (for a container: the folder).
    pub path: Option<String>,
}

/// Files the service uploads to the output container after a task ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    /// A file, or a pattern with `*`, `?`, `**`, relative to the working directory.
    pub pattern: String,
    /// The blob name (a file) or the folder the matches go under (a pattern).
    pub path: Option<String>,
    pub upload: UploadCondition,
}

impl OutputSpec {
    /// The blob a single-file output becomes (none for a pattern).
    pub fn blob(&self) -> Option<String> {
        if self.pattern.contains(['*', '?', '[']) {
            return None;
        }
        Some(match &self.path {
            Some(p) if !p.is_empty() => p.clone(),
            _ => blob_name(Path::new(&self.pattern)),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartTaskSpec {
    pub command_line: String,
    pub resource_files: Vec<ResourceSpec>,
    pub environment: Vec<(String, String)>,
    pub wait_for_success: bool,
    pub max_retries: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub vm_size: String,
    pub image: Image,
    pub dedicated_nodes: u32,
    pub spot_nodes: u32,
    pub task_slots_per_node: u32,
    pub start_task: Option<StartTaskSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobSpec {
    pub priority: Option<i32>,
    pub max_wall_clock_time: Option<Duration>,
    pub max_task_retries: Option<i32>,
    pub on_all_tasks_complete: Option<OnAllTasksComplete>,
    pub on_task_failure: Option<OnTaskFailure>,
}

/// One task, as the run adds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub id: String,
    /// The `[[tasks]]` entry it comes from: its id, or for generated tasks the literal start
    /// of the id template (`count` for `count-{stem}`).
    pub group: String,
    pub command_line: String,
    pub resource_files: Vec<ResourceSpec>,
    pub environment: Vec<(String, String)>,
    pub outputs: Vec<OutputSpec>,
    pub max_retries: Option<i32>,
    pub max_wall_clock_time: Option<Duration>,
    pub retention_time: Option<Duration>,
    pub required_slots: Option<u32>,
    pub depends_on: TaskDependencies,
    /// What its failure does to the tasks that depend on it and to the job.
    pub on_failure: Option<ExitOptions>,
}

impl TaskSpec {
    pub fn has_dependencies(&self) -> bool {
        !self.depends_on.task_ids.is_empty() || !self.depends_on.task_id_ranges.is_empty()
    }

    /// What it waits for, for a line: `3 tasks (a, b, c)`, at most five ids, ranges as `1-9`.
    pub fn dependencies_summary(&self) -> String {
        let d = &self.depends_on;
        let mut names: Vec<String> = d.task_ids.iter().take(5).cloned().collect();
        names.extend(
            d.task_id_ranges
                .iter()
                .map(|r| format!("{}-{}", r.start, r.end)),
        );
        let ranged: i64 = d.task_id_ranges.iter().map(|r| r.end - r.start + 1).sum();
        let total = d.task_ids.len() as i64 + ranged;
        let more = d.task_ids.len().saturating_sub(5);
        let more = if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        };
        format!(
            "{} ({}{more})",
            crate::util::count(total, "task"),
            names.join(", ")
        )
    }
}

/// The workload, resolved: what the run creates, uploads and adds, and how it ends.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    /// Its name, shown in the steps panel and the headless lines.
    pub name: String,
    pub pool_id: String,
    pub job_id: String,
    pub pool: PoolSpec,
    pub job: JobSpec,
    pub tasks: Vec<TaskSpec>,
    /// Local files uploaded in step 2, in order (resource files first, then inputs).
    pub uploads: Vec<Upload>,
    pub containers: Containers,
    pub output_dir: PathBuf,
    /// Overwrite existing, different files in `output_dir`.
    pub force: bool,
    pub timeout: Duration,
    /// Use an existing pool of `pool_id` instead of failing when it exists.
    pub reuse_pool: bool,
    /// Where runs keep their journals (see `journal`); none: no resuming.
    pub journal_dir: Option<PathBuf>,
    pub delete_job: Disposal,
    pub delete_pool: Disposal,
    /// When a task failed, step 8 keeps the containers, so that the task can be retried
    /// (its input and the script are there) and its output downloaded (full-screen sessions).
    pub keep_containers_for_retries: bool,
}

/// The built-in workload: the tutorial, as `batchdeck init` writes it.
pub const TUTORIAL_WORKLOAD: &str = include_str!("../../tutorial.toml");

/// What the command line changes in a workload before it is resolved.
#[derive(Debug, Clone, Default)]
pub struct WorkloadOverrides {
    /// `--set NAME=VALUE`: parameters (each must be one of the workload's).
    pub params: Vec<(String, String)>,
    /// `--input FILE`: the inputs of the workload's generated tasks, instead of their glob.
    pub inputs: Vec<PathBuf>,
    /// `--task-script FILE`: the file of the start task's first local resource file (it keeps
    /// its name on the node).
    pub task_script: Option<PathBuf>,
}

impl WorkloadSpec {
    /// The tutorial's workload, with inputs and script taken from `root` (`data/`, `assets/`).
    pub fn tutorial(root: &Path) -> Result<WorkloadSpec, SpecError> {
        Self::tutorial_with(root, &WorkloadOverrides::default())
    }

    /// The tutorial's workload with `overrides`.
    pub fn tutorial_with(
        root: &Path,
        overrides: &WorkloadOverrides,
    ) -> Result<WorkloadSpec, SpecError> {
        crate::workflow::workload::resolve(
            TUTORIAL_WORKLOAD,
            "built-in tutorial workload",
            root,
            overrides,
        )
    }

    /// The tutorial as [`WorkloadSpec::tutorial`] finds it in `root` (a checkout has
    /// `assets/topwords.py` and `data/*.txt`); anywhere else, the copies built into the binary,
    /// written once under `scratch`, so that `batchdeck` runs from any directory.
    pub fn tutorial_or_built_in(
        root: &Path,
        scratch: &Path,
        overrides: &WorkloadOverrides,
    ) -> Result<WorkloadSpec, SpecError> {
        if has_tutorial_files(root) {
            return Self::tutorial_with(root, overrides);
        }
        write_tutorial_files(scratch).map_err(|e| {
            SpecError(format!(
                "cannot write the built-in tutorial files to {}: {e}; pass --data-dir, or --task-script and --input",
                scratch.display()
            ))
        })?;
        Self::tutorial_with(scratch, overrides)
    }

    /// Every task's expected output blobs (single files), with the task that writes each.
    pub fn output_blobs(&self) -> BTreeMap<String, String> {
        self.tasks
            .iter()
            .flat_map(|t| {
                t.outputs
                    .iter()
                    .filter_map(|o| o.blob())
                    .map(|b| (b, t.id.clone()))
            })
            .collect()
    }

    /// Whether any task waits for others (the job must then use task dependencies).
    pub fn uses_dependencies(&self) -> bool {
        self.tasks.iter().any(TaskSpec::has_dependencies)
    }

    /// Checks what the command line may have changed, and every local file, before anything
    /// is created; the error says what to fix. (What the workload file says was checked
    /// when it was read, with its line and column.)
    pub fn validate(&self) -> Result<(), SpecError> {
        validate_batch_id("pool id", &self.pool_id)?;
        validate_batch_id("job id", &self.job_id)?;
        let mut seen = std::collections::HashSet::new();
        for c in self.containers.all() {
            validate_container_name(c)?;
            if !seen.insert(c) {
                return Err(SpecError(format!(
                    "container {c:?} is named twice: the application, input and output containers must differ"
                )));
            }
        }
        let nodes = self.pool.dedicated_nodes + self.pool.spot_nodes;
        if nodes == 0 || nodes > 1000 {
            return Err(SpecError(format!(
                "node count {nodes} is out of range: use 1 to 1000 (--nodes)"
            )));
        }
        if self.tasks.is_empty() {
            return Err(SpecError(
                "the workload has no tasks: add a [[tasks]] table, or pass --input FILE".into(),
            ));
        }
        check_output_dir(&self.output_dir)?;
        for u in self.uploads.iter().filter(|u| !u.checked) {
            u.check()?;
        }
        // Found now rather than after the whole Batch run: an output in the way.
        if !self.force {
            for blob in self.output_blobs().keys() {
                let out = self.output_dir.join(safe_relative_path(blob));
                if out.exists() {
                    return Err(SpecError(format!(
                        "{} already exists: pass --force to overwrite it, or choose another --output-dir",
                        out.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Whether `root` holds the tutorial's script and at least one input.
fn has_tutorial_files(root: &Path) -> bool {
    root.join("assets/topwords.py").is_file()
        && std::fs::read_dir(root.join("data")).is_ok_and(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.path().extension().is_some_and(|x| x == "txt"))
        })
}

/// Writes the tutorial's script and inputs under `dir` (unchanged files are left alone).
pub fn write_tutorial_files(dir: &Path) -> std::io::Result<()> {
    for (rel, text) in BUILT_IN {
        write_if_changed(&dir.join(rel), text.as_bytes())?;
    }
    Ok(())
}

/// The tutorial's task script and input texts, as the repository has them.
pub const BUILT_IN: [(&str, &str); 4] = [
    (
        "assets/topwords.py",
        include_str!("../../assets/topwords.py"),
    ),
    (
        "data/taskdata1.txt",
        include_str!("../../data/taskdata1.txt"),
    ),
    (
        "data/taskdata2.txt",
        include_str!("../../data/taskdata2.txt"),
    ),
    (
        "data/taskdata3.txt",
        include_str!("../../data/taskdata3.txt"),
    ),
];

/// A blob name as a relative path under a directory: only its normal components, so that no
/// name can reach outside it (`..`, `.`, empty parts and backslash-separated parts dropped).
pub fn safe_relative_path(blob: &str) -> PathBuf {
    let parts: Vec<&str> = blob
        .split(['/', '\\'])
        .filter(|c| !matches!(*c, "" | "." | ".."))
        .collect();
    if parts.is_empty() {
        return PathBuf::from("_");
    }
    parts.iter().collect()
}

/// Writes `bytes` to `path` unless it already holds them: to a temporary file, then renamed,
/// so that a crash never leaves half a file.
fn write_if_changed(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp-{}", blob_name(path), std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The blob name of a local file: its file name.
pub fn blob_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A workload that cannot run as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// Batch ids: 1-64 characters, letters, digits, hyphens and underscores.
pub fn validate_batch_id(what: &str, id: &str) -> Result<(), SpecError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SpecError(format!(
            "invalid {what} {id:?}: use 1 to 64 letters, digits, hyphens or underscores"
        )))
    }
}

/// Container names: 3-63 lowercase letters, digits and single hyphens, starting and ending
/// with a letter or digit.
pub fn validate_container_name(name: &str) -> Result<(), SpecError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(SpecError(format!(
            "invalid container name {name:?}: use 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
        )))
    }
}

/// The outputs can be written: `dir` is a directory, or can be made in the nearest existing
/// one, which must be writable. Nothing is created here.
fn check_output_dir(dir: &Path) -> Result<(), SpecError> {
    let mut at = dir;
    loop {
        match std::fs::metadata(at) {
            Ok(m) if m.is_dir() => {
                return nix::unistd::access(at, nix::unistd::AccessFlags::W_OK).map_err(|e| {
                    SpecError(format!(
                        "cannot write the outputs to {}: {} is not writable ({e}); choose another --output-dir",
                        dir.display(),
                        at.display()
                    ))
                });
            }
            Ok(_) => {
                return Err(SpecError(format!(
                    "cannot write the outputs to {}: {} is a file, not a directory; choose another --output-dir",
                    dir.display(),
                    at.display()
                )));
            }
            Err(_) => match at.parent() {
                Some(p) if !p.as_os_str().is_empty() => at = p,
                _ => return Ok(()),
            },
        }
    }
}

/// File names go into blob names and command lines: keep them (and the folders of a path
/// kept under a glob's folder) to a safe alphabet.
fn check_file_name(path: &Path, what: &str) -> Result<(), SpecError> {
    check_name(&blob_name(path), what)
}

fn check_name(name: &str, what: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(SpecError(format!(
            "{what} name {name:?} is not supported: use letters, digits, '.', '_' and '-' (rename or copy the file)"
        )))
    }
}

/// The file exists and is a file (`shown`: how errors name it).
fn check_file(path: &Path, shown: &Path, what: &str) -> Result<(), SpecError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| SpecError(format!("{what} {}: {e}", shown.display())))?;
    if !meta.is_file() {
        return Err(SpecError(format!(
            "{what} {} is not a file",
            shown.display()
        )));
    }
    Ok(())
}

fn check_text_file(path: &Path, shown: &Path, what: &str) -> Result<(), SpecError> {
    check_file(path, shown, what)?;
    // Validate UTF-8 in a bounded buffer so that big inputs stay cheap in memory.
    use std::io::Read;
    let mut f = std::fs::File::open(path)
        .map_err(|e| SpecError(format!("{what} {}: {e}", shown.display())))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut carry: Vec<u8> = Vec::new();
    let mut offset: u64 = 0;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| SpecError(format!("{what} {}: {e}", shown.display())))?;
        if n == 0 {
            break;
        }
        carry.extend_from_slice(&buf[..n]);
        match std::str::from_utf8(&carry) {
            Ok(_) => {
                offset += carry.len() as u64;
                carry.clear();
            }
            Err(e) if e.error_len().is_none() => {
                // An incomplete character at the end: keep it for the next read.
                let valid = e.valid_up_to();
                offset += valid as u64;
                carry.drain(..valid);
            }
            Err(e) => {
                return Err(SpecError(format!(
                    "{what} {} is not UTF-8 text (invalid byte at offset {}): convert it to UTF-8 or leave it out",
                    shown.display(),
                    offset + e.valid_up_to() as u64
                )));
            }
        }
    }
    if !carry.is_empty() {
        return Err(SpecError(format!(
            "{what} {} is not UTF-8 text (it ends inside a character): convert it to UTF-8 or leave it out",
            shown.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn inputs(s: &WorkloadSpec) -> Vec<PathBuf> {
        s.uploads
            .iter()
            .filter(|u| u.role == Role::Input)
            .map(|u| u.local.clone())
            .collect()
    }

    #[test]
    fn the_tutorial_is_the_built_in_workload() {
        let s = WorkloadSpec::tutorial(&root()).unwrap();
        s.validate().unwrap();
        assert_eq!(s.name, "tutorial");
        assert_eq!(s.pool_id, "PythonTutorialPool");
        assert_eq!(s.job_id, "PythonTutorialJob");
        assert_eq!(s.pool.dedicated_nodes, 2);
        assert_eq!(s.pool.image, Image::default());
        assert_eq!(inputs(&s).len(), 3);
        let ids: Vec<&str> = s.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["taskdata1", "taskdata2", "taskdata3"]);
        assert_eq!(s.uploads[0].blob, "topwords.py");
        assert_eq!(s.uploads[0].role, Role::Application);
        assert_eq!(
            s.output_blobs()
                .get("taskdata2_OUTPUT.txt")
                .map(String::as_str),
            Some("taskdata2")
        );
        assert!(!s.uses_dependencies());
    }

    #[test]
    fn the_built_in_tutorial_is_used_outside_a_checkout_and_matches_the_repository() {
        let elsewhere = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let o = WorkloadOverrides::default();
        let s = WorkloadSpec::tutorial_or_built_in(elsewhere.path(), scratch.path(), &o).unwrap();
        assert!(s.uploads[0].local.starts_with(scratch.path()));
        assert_eq!(
            inputs(&s).len(),
            inputs(&WorkloadSpec::tutorial(&root()).unwrap()).len(),
            "every data/*.txt is built in"
        );
        s.validate().unwrap();
        for (rel, _) in BUILT_IN {
            assert_eq!(
                std::fs::read(scratch.path().join(rel)).unwrap(),
                std::fs::read(root().join(rel)).unwrap(),
                "{rel}"
            );
        }
        // A checkout's own files win.
        let s = WorkloadSpec::tutorial_or_built_in(&root(), scratch.path(), &o).unwrap();
        assert!(s.uploads[0].local.starts_with(root()));
    }

    #[test]
    fn the_command_line_changes_params_inputs_and_the_script() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.txt");
        std::fs::write(&a, "x").unwrap();
        let o = WorkloadOverrides {
            params: vec![("numwords".into(), "7".into())],
            inputs: vec![a.clone()],
            task_script: Some(d.path().join("picky.py")),
        };
        let s = WorkloadSpec::tutorial_with(&root(), &o).unwrap();
        assert_eq!(s.tasks.len(), 1);
        assert!(s.tasks[0].command_line.contains("--numwords 7"));
        assert_eq!(inputs(&s), [a]);
        assert_eq!(s.uploads[0].local, d.path().join("picky.py"));
        assert_eq!(
            s.uploads[0].blob, "topwords.py",
            "the script keeps its name on the node"
        );
        assert_eq!(s.uploads[0].what, "task script");
        let bad = WorkloadOverrides {
            params: vec![("numword".into(), "7".into())],
            ..WorkloadOverrides::default()
        };
        let e = WorkloadSpec::tutorial_with(&root(), &bad).unwrap_err().0;
        assert!(
            e.contains("no parameter `numword`") && e.contains("did you mean `numwords`"),
            "{e}"
        );
    }

    #[test]
    fn bad_ids_and_names_are_explained() {
        assert!(
            validate_batch_id("pool id", "bad id!")
                .unwrap_err()
                .0
                .contains("pool id")
        );
        assert!(validate_batch_id("job id", &"x".repeat(65)).is_err());
        assert!(validate_container_name("Input").is_err());
        assert!(validate_container_name("a--b").is_err());
        assert!(validate_container_name("ab").is_err());
        validate_container_name("out-put1").unwrap();
    }

    #[test]
    fn blob_names_cannot_escape_the_output_directory() {
        assert_eq!(
            safe_relative_path("../../etc/passwd"),
            Path::new("etc/passwd")
        );
        assert_eq!(safe_relative_path("a\\..\\b"), Path::new("a/b"));
        assert_eq!(safe_relative_path(".."), Path::new("_"));
        assert_eq!(safe_relative_path("/abs/x"), Path::new("abs/x"));
        assert_eq!(
            safe_relative_path("counts/a.counts"),
            Path::new("counts/a.counts")
        );
        assert_eq!(
            safe_relative_path("x_OUTPUT.txt"),
            Path::new("x_OUTPUT.txt")
        );
    }

    #[test]
    fn missing_and_non_utf8_inputs_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let with = |f: PathBuf| {
            let o = WorkloadOverrides {
                inputs: vec![f],
                ..WorkloadOverrides::default()
            };
            WorkloadSpec::tutorial_with(&root(), &o).unwrap()
        };
        let e = with(d.path().join("nope.txt")).validate().unwrap_err().0;
        assert!(e.contains("nope.txt"), "{e}");
        let bin = d.path().join("bin.txt");
        let mut bytes = "ok text ".repeat(20_000).into_bytes();
        bytes.push(0xff);
        std::fs::write(&bin, &bytes).unwrap();
        let e = with(bin).validate().unwrap_err().0;
        assert!(e.contains("not UTF-8") && e.contains("160000"), "{e}");
        // Names that would need quoting in a command line are refused.
        let odd = d.path().join("it's.txt");
        std::fs::write(&odd, "text").unwrap();
        assert!(
            with(odd)
                .validate()
                .unwrap_err()
                .0
                .contains("not supported")
        );
        // A multi-byte character split across read buffers is fine.
        let ok = d.path().join("ok.txt");
        let mut text = "a".repeat((1 << 16) - 1);
        text.push('é');
        std::fs::write(&ok, text).unwrap();
        with(ok).validate().unwrap();
    }
}
