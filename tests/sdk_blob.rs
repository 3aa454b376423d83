//! The blob emulator driven by Microsoft's azure-storage-blob 12.31.1, installed beside each
//! azure-batch version (15.1.0, 14.2.0, 12.0.0) as a user installs them together.
mod common;

use common::{EmulatorProcess, run_sdk_script};

fn run(venv: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let out = run_sdk_script(venv, "blob_sdk.py", &emu, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn azure_storage_blob_drives_every_operation_sdk15_venv() {
    run("sdk15");
}

#[test]
fn azure_storage_blob_drives_every_operation_sdk14_venv() {
    run("sdk14");
}

#[test]
fn azure_storage_blob_drives_every_operation_sdk12_venv() {
    run("sdk12");
}
