//! The emulator driven by the Azure CLI 2.91 as users install it (`pip install azure-cli`,
//! pinned in tests/conformance/requirements-azcli.txt): `az batch` pool, node, job, task, file
//! and task-counts commands with the flags whose numbers and booleans the CLI sends as JSON
//! strings, and `az storage container`/`blob` with a connection string, upload-batch and
//! download-batch included (tests/conformance/azure_cli.py).
mod common;

use std::process::Command;

use common::{EmulatorProcess, installed, run_conformance, sdk_python};

fn az(emu: &EmulatorProcess, part: &str) {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(sdk_python("azcli"));
    cmd.env("AZ", installed("BATCHDECK_AZ", ".venv/azcli/bin/az"))
        .env("WORK", work.path());
    let out = run_conformance(cmd, "azure_cli.py", emu, &[part]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}

#[test]
fn az_batch_drives_pools_nodes_jobs_tasks_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    az(&emu, "batch");
}

#[test]
fn az_storage_drives_containers_and_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    az(&emu, "storage");
}
