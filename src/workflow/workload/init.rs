//! `batchdeck init [DIR]`: the built-in workload (the tutorial) written out as a starting point,
//! with its script and inputs, so that it runs as it is and can be edited into one's own.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::util::{AtomicFile, FileAccess};
use crate::workflow::spec::{BUILT_IN, SpecError, TUTORIAL_WORKLOAD};

/// The workload file `init` writes in its folder.
pub const WORKLOAD_FILE: &str = "workload.toml";

/// Writes `workload.toml`, `assets/topwords.py` and `data/*.txt` under `dir` (made if
/// missing), each atomically. Refuses, writing nothing, if any of them exists.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, SpecError> {
    if dir.exists() && !dir.is_dir() {
        return Err(SpecError(format!(
            "{} is a file, not a folder: choose a folder for the workload",
            dir.display()
        )));
    }
    let files: Vec<(PathBuf, &str)> = std::iter::once((dir.join(WORKLOAD_FILE), TUTORIAL_WORKLOAD))
        .chain(BUILT_IN.iter().map(|(rel, text)| (dir.join(rel), *text)))
        .collect();
    let taken: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.symlink_metadata().is_ok())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !taken.is_empty() {
        return Err(SpecError(format!(
            "{} already exists: nothing was written; choose a new or empty folder (batchdeck init DIR)",
            taken.join(", ")
        )));
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let write = || -> std::io::Result<()> {
            let f = AtomicFile::create(&path, FileAccess::Default)?;
            f.file().write_all(text.as_bytes())?;
            f.commit_new()
        };
        write().map_err(|e| SpecError(format!("cannot write {}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::spec::WorkloadOverrides;

    #[test]
    fn init_writes_a_workload_that_resolves_and_refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("mine");
        let written = init(&dir).unwrap();
        assert_eq!(written.len(), 1 + BUILT_IN.len());
        let spec = crate::workflow::workload::load(
            &dir.join(WORKLOAD_FILE),
            &WorkloadOverrides::default(),
        )
        .unwrap();
        spec.validate().unwrap();
        assert_eq!(spec.tasks.len(), 3);
        assert!(spec.uploads.iter().all(|u| u.local.starts_with(&dir)));
        // A second time: refused, and nothing is changed.
        std::fs::write(dir.join("data/taskdata1.txt"), "mine now").unwrap();
        let e = init(&dir).unwrap_err().0;
        assert!(
            e.contains("already exists") && e.contains("nothing was written"),
            "{e}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("data/taskdata1.txt")).unwrap(),
            "mine now"
        );
        let f = d.path().join("file");
        std::fs::write(&f, "x").unwrap();
        assert!(init(&f).unwrap_err().0.contains("not a folder"));
    }
}
