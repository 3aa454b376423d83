//! The emulator driven by Microsoft's JavaScript SDKs as `npm install` gives them (pinned in
//! tests/conformance/js/package-lock.json): @azure/batch 10.2.0 at its default api-version,
//! 2022-10-01.16.0, and @azure/storage-blob.
mod common;

use std::process::Command;

use common::{EmulatorProcess, installed, run_conformance};

fn node(emu: &EmulatorProcess, script: &str) -> String {
    let mut cmd = Command::new("node");
    cmd.env(
        "JS_MODULES",
        installed("BATCHDECK_JS_MODULES", ".tools/js/node_modules"),
    );
    let out = run_conformance(cmd, script, emu, &[]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn azure_batch_js_drives_every_operation_at_its_default_api_version() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let out = node(&emu, "js/batch.mjs");
    assert!(out.contains("api-version: 2022-10-01.16.0"), "{out}");
    assert!(out.contains("all checks passed"), "{out}");
}

#[test]
fn azure_storage_blob_js_drives_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    assert!(node(&emu, "js/blob.mjs").contains("all checks passed"));
}
