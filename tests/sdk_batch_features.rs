//! The rest of the Batch API through Microsoft's azure-batch 15.x: autoscale, job schedules,
//! auto pools, node users and settings, multi-instance tasks. Each script's header says what
//! it checks; the emulator runs with `--speedup 60` where the service's timers are minutes
//! long (schedule recurrences, autoscale intervals), so each test takes seconds.
mod common;

use common::{EmulatorProcess, run_sdk_script};

fn run(script: &str, emulator_args: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), emulator_args);
    let out = run_sdk_script("sdk15", script, &emu, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}

#[test]
fn azure_batch_15_autoscale() {
    run("batch_sdk15_autoscale.py", &["--speedup", "60"]);
}

#[test]
fn azure_batch_15_job_schedules_and_auto_pools() {
    run("batch_sdk15_schedules.py", &["--speedup", "60"]);
}

#[test]
fn azure_batch_15_node_operations() {
    run("batch_sdk15_nodes.py", &[]);
}

#[test]
fn azure_batch_15_multi_instance_tasks() {
    run("batch_sdk15_multi.py", &[]);
}
