//! Replays the fuzz corpus in plain `cargo test` (no libFuzzer, stable toolchain): every file
//! of `fuzz/corpus/<target>/` goes through the same function `cargo fuzz run <target>` calls
//! (`batchdeck::fuzzing`). A panic on any file fails the test and names the file; so does a
//! target whose corpus directory is missing or empty, so that this cannot pass by reading
//! nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use batchdeck::fuzzing::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = corpus_dir(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus of {target}: {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "corpus of {target} ({}) holds no file",
        dir.display()
    );
    files
}

#[test]
fn every_target_has_a_corpus_directory_and_no_other_directory_is_there() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for entry in std::fs::read_dir(&root).expect("fuzz/corpus exists") {
        let name = entry.expect("a readable entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/corpus/{name} belongs to no target of batchdeck::fuzzing::TARGETS"
        );
    }
    for (target, _) in TARGETS {
        corpus_files(target);
    }
}

#[test]
fn every_corpus_file_replays_without_a_panic() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (target, run) in TARGETS {
        for file in corpus_files(target) {
            let data = std::fs::read(&file).expect("a readable corpus file");
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{target}: {}: {msg}", file.display()));
            }
            replayed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} corpus files panic:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("replayed {replayed} corpus files");
}
