//! Workloads run end to end by the binary on the embedded local Azure: the workload that
//! `batchdeck init` writes runs as it is (the tutorial as a workload file, with one's own
//! input added).
mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::outputs::assert_outputs;
use common::sandbox::{Sandbox, stderr, stdout};

fn txt_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    v.sort();
    v
}

#[test]
fn the_workload_init_writes_runs_as_it_is() {
    let sb = Sandbox::new();
    let o = Command::new(env!("CARGO_BIN_EXE_batchdeck"))
        .args(["init", "mine"])
        .current_dir(sb.path("work"))
        .env("HOME", sb.path("home"))
        .env("XDG_CONFIG_HOME", sb.path("home/.config"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("workload.toml"), "{}", stdout(&o));
    // One's own input next to the tutorial's: the workload's glob takes it in.
    let mine = sb.path("work/mine");
    std::fs::write(
        mine.join("data/extra.txt"),
        "tide moon tide star moon tide harbour\n",
    )
    .unwrap();
    let o = sb.run(&["-w", "mine/workload.toml"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Task [extra] completed"), "{out}");
    assert!(
        out.contains("Nothing the run created is left behind."),
        "{out}"
    );
    let inputs = txt_files(&mine.join("data"));
    assert_eq!(inputs.len(), 4, "{inputs:?}");
    assert_outputs(
        &sb.output_dir(),
        &inputs,
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
}
