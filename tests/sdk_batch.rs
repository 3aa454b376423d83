//! The Batch emulator driven by Microsoft's Python SDKs (azure-batch 15.x, 14.2.0 and 12.0.0).
mod common;

use common::{EmulatorProcess, run_sdk_script};

#[test]
fn azure_batch_15_drives_every_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let out = run_sdk_script("sdk15", "batch_sdk15.py", &emu, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}

#[test]
fn azure_batch_14_drives_every_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let out = run_sdk_script("sdk14", "batch_sdk14.py", &emu, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}

/// azure-batch 12.0.0 (api-version 2022-01-01.15.0): also pool patch, update properties, stop
/// resize, remove nodes, node counts, supported images, job patch/update/disable/enable, task
/// dependencies, job preparation and release tasks, exit conditions, file deletion.
#[test]
fn azure_batch_12_drives_every_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let out = run_sdk_script("sdk12", "batch_sdk12.py", &emu, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}
