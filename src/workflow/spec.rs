//! The workload: what the tutorial runs, with its defaults, validated before anything is
//! created so that bad input fails fast with nothing half-done.

use std::path::{Path, PathBuf};
use std::time::Duration;

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

#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub pool_id: String,
    pub job_id: String,
    pub node_count: u32,
    pub vm_size: String,
    pub image: Image,
    pub num_words: u32,
    pub task_script: PathBuf,
    pub input_files: Vec<PathBuf>,
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
}

impl WorkloadSpec {
    /// The tutorial's defaults, with inputs and script taken from `root` (`data/`, `assets/`).
    pub fn tutorial(root: &Path) -> WorkloadSpec {
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(root.join("data"))
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "txt"))
                    .collect()
            })
            .unwrap_or_default();
        inputs.sort();
        WorkloadSpec {
            pool_id: "PythonTutorialPool".into(),
            job_id: "PythonTutorialJob".into(),
            node_count: 2,
            vm_size: "STANDARD_D2S_V3".into(),
            image: Image::default(),
            num_words: 3,
            task_script: root.join("assets/topwords.py"),
            input_files: inputs,
            containers: Containers::default(),
            output_dir: PathBuf::from("batchdeck-output"),
            force: false,
            timeout: Duration::from_secs(30 * 60),
            reuse_pool: false,
            journal_dir: None,
            delete_job: Disposal::Ask,
            delete_pool: Disposal::Ask,
        }
    }

    /// The tutorial as [`WorkloadSpec::tutorial`] finds it in `root` (a checkout has
    /// `assets/topwords.py` and `data/*.txt`); anywhere else, the copies built into the binary,
    /// written once under `scratch`, so that `batchdeck` runs from any directory.
    pub fn tutorial_or_built_in(root: &Path, scratch: &Path) -> Result<WorkloadSpec, SpecError> {
        let spec = WorkloadSpec::tutorial(root);
        if spec.task_script.is_file() && !spec.input_files.is_empty() {
            return Ok(spec);
        }
        for (rel, text) in BUILT_IN {
            write_if_changed(&scratch.join(rel), text.as_bytes()).map_err(|e| {
                SpecError(format!(
                    "cannot write the built-in tutorial files to {}: {e}; pass --data-dir, or --task-script and --input",
                    scratch.display()
                ))
            })?;
        }
        Ok(WorkloadSpec::tutorial(scratch))
    }

    /// Checks every input before anything is created; the error says what to fix.
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
        if self.node_count == 0 || self.node_count > 1000 {
            return Err(SpecError(format!(
                "node count {} is out of range: use 1 to 1000 (--nodes)",
                self.node_count
            )));
        }
        if self.num_words == 0 {
            return Err(SpecError("--numwords must be at least 1".into()));
        }
        if self.input_files.is_empty() {
            return Err(SpecError(
                "no input files: pass --input FILE (one or more .txt files)".into(),
            ));
        }
        check_text_file(&self.task_script, "task script")?;
        check_file_name(&self.task_script, "task script")?;
        check_output_dir(&self.output_dir)?;
        let mut names = std::collections::HashSet::new();
        let mut task_ids = std::collections::HashMap::new();
        for f in &self.input_files {
            check_text_file(f, "input file")?;
            check_file_name(f, "input file")?;
            let name = blob_name(f);
            if !names.insert(name.clone()) {
                return Err(SpecError(format!(
                    "two input files are both named {name}: blob names must be unique; rename one"
                )));
            }
            // One task per input: two inputs must not make the same task id (a.txt, a.log).
            if let Some(other) = task_ids.insert(WorkloadSpec::task_id(f), name.clone()) {
                return Err(SpecError(format!(
                    "input files {other} and {name} would both be task {}: task ids come from file names without their extension; rename one",
                    WorkloadSpec::task_id(f)
                )));
            }
            // Found now rather than after the whole Batch run: an output in the way.
            let out = self.output_dir.join(WorkloadSpec::output_name(f));
            if !self.force && out.exists() {
                return Err(SpecError(format!(
                    "{} already exists: pass --force to overwrite it, or choose another --output-dir",
                    out.display()
                )));
            }
        }
        Ok(())
    }

    /// The task id for an input file: its stem, made a valid Batch id.
    pub fn task_id(input: &Path) -> String {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "task".into());
        let id: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if id.is_empty() { "task".into() } else { id }
    }

    /// The output blob a task writes: `<stem>_OUTPUT.txt`.
    pub fn output_name(input: &Path) -> String {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{stem}_OUTPUT.txt")
    }
}

/// The tutorial's task script and input texts, as the repository has them.
const BUILT_IN: [(&str, &str); 4] = [
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

/// File names go into blob names and command lines: keep them to a safe alphabet.
fn check_file_name(path: &Path, what: &str) -> Result<(), SpecError> {
    let name = blob_name(path);
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

fn check_text_file(path: &Path, what: &str) -> Result<(), SpecError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| SpecError(format!("{what} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(SpecError(format!(
            "{what} {} is not a file",
            path.display()
        )));
    }
    // Validate UTF-8 in a bounded buffer so that big inputs stay cheap in memory.
    use std::io::Read;
    let mut f = std::fs::File::open(path)
        .map_err(|e| SpecError(format!("{what} {}: {e}", path.display())))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut carry: Vec<u8> = Vec::new();
    let mut offset: u64 = 0;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| SpecError(format!("{what} {}: {e}", path.display())))?;
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
                    path.display(),
                    offset + e.valid_up_to() as u64
                )));
            }
        }
    }
    if !carry.is_empty() {
        return Err(SpecError(format!(
            "{what} {} is not UTF-8 text (it ends inside a character): convert it to UTF-8 or leave it out",
            path.display()
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

    #[test]
    fn tutorial_defaults_validate() {
        let s = WorkloadSpec::tutorial(&root());
        assert!(s.input_files.len() >= 3);
        s.validate().unwrap();
        assert_eq!(
            WorkloadSpec::task_id(Path::new("data/taskdata1.txt")),
            "taskdata1"
        );
        assert_eq!(
            WorkloadSpec::output_name(Path::new("data/taskdata1.txt")),
            "taskdata1_OUTPUT.txt"
        );
    }

    #[test]
    fn the_built_in_tutorial_is_used_outside_a_checkout_and_matches_the_repository() {
        let elsewhere = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let s = WorkloadSpec::tutorial_or_built_in(elsewhere.path(), scratch.path()).unwrap();
        assert!(s.task_script.starts_with(scratch.path()));
        assert_eq!(
            s.input_files.len(),
            WorkloadSpec::tutorial(&root()).input_files.len(),
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
        let s = WorkloadSpec::tutorial_or_built_in(&root(), scratch.path()).unwrap();
        assert!(s.task_script.starts_with(root()));
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
    fn missing_and_non_utf8_inputs_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut s = WorkloadSpec::tutorial(&root());
        s.input_files = vec![d.path().join("nope.txt")];
        assert!(s.validate().unwrap_err().0.contains("nope.txt"));
        let bin = d.path().join("bin.txt");
        let mut bytes = "ok text ".repeat(20_000).into_bytes();
        bytes.push(0xff);
        std::fs::write(&bin, &bytes).unwrap();
        s.input_files = vec![bin];
        let e = s.validate().unwrap_err().0;
        assert!(e.contains("not UTF-8") && e.contains("160000"), "{e}");
        // Names that would need quoting in a command line are refused.
        let odd = d.path().join("it's.txt");
        std::fs::write(&odd, "text").unwrap();
        s.input_files = vec![odd];
        assert!(s.validate().unwrap_err().0.contains("not supported"));
        // A multi-byte character split across read buffers is fine.
        let ok = d.path().join("ok.txt");
        let mut text = "a".repeat((1 << 16) - 1);
        text.push('é');
        std::fs::write(&ok, text).unwrap();
        s.input_files = vec![ok];
        s.validate().unwrap();
    }
}
