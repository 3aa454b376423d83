//! kill -9 of the emulator in the middle of a job, then a restart on the same data directory:
//! nothing acknowledged is lost, running tasks are requeued and run again, and no process of
//! the first emulator survives.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::azure::batch::BatchClient;
use batchdeck::azure::models::{
    AllocationState, ErrorCategory, Job, JobState, NameValue, NodeState, OnAllTasksComplete,
    OnTaskFailure, Pool, PoolInfo, PoolState, SchedulingState, StartTask, StartTaskState, Task,
    TaskAddStatus, TaskExecutionResult, TaskState, UploadCondition,
};
use batchdeck::azure::storage::StorageClient;

fn clients(emu: &common::EmulatorProcess) -> (BatchClient, StorageClient) {
    let b = BatchClient::new(
        url::Url::parse(&emu.batch_endpoint).unwrap(),
        SharedKeyCredential::new(common::BATCH_ACCOUNT, common::BATCH_KEY).unwrap(),
    )
    .unwrap();
    let s = StorageClient::new(
        url::Url::parse(&emu.blob_endpoint).unwrap(),
        SharedKeyCredential::new(common::STORAGE_ACCOUNT, common::STORAGE_KEY).unwrap(),
    )
    .unwrap();
    (b, s)
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn process_group_alive(pgid: i32) -> bool {
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_ok()
}

/// A task that, the first time, records its pid and sleeps; run again, it finishes at once.
fn long_task(id: &str, markers: &Path) -> Task {
    Task {
        id: id.into(),
        command_line: "/bin/sh -c 'if [ -f \"$MARKER_DIR/$AZ_BATCH_TASK_ID.again\" ]; then echo second run; else echo $$ > \"$MARKER_DIR/$AZ_BATCH_TASK_ID.pid\"; touch \"$MARKER_DIR/$AZ_BATCH_TASK_ID.again\"; sleep 60; fi'".into(),
        environment_settings: vec![NameValue {
            name: "MARKER_DIR".into(),
            value: markers.display().to_string(),
        }],
        ..Task::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_job_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emu");
    let markers = dir.path().join("markers");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&markers).unwrap();
    std::fs::create_dir_all(&files).unwrap();

    // Blobs: two small ones and one of several blocks.
    let mut big = Vec::with_capacity(9 << 20);
    let mut x: u32 = 12345;
    while big.len() < 9 << 20 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        big.extend_from_slice(&x.to_le_bytes());
    }
    let blobs: Vec<(&str, Vec<u8>)> = vec![
        ("a.txt", b"first".to_vec()),
        ("dir/b.txt", b"second blob".to_vec()),
        ("big.bin", big),
    ];

    let mut emu = common::EmulatorProcess::start(&data, &[]);
    let (b, s) = clients(&emu);
    s.create_container("keep").await.unwrap();
    for (name, bytes) in &blobs {
        let p = files.join(name.replace('/', "_"));
        std::fs::write(&p, bytes).unwrap();
        s.upload_file("keep", name, &p, |_| {}).await.unwrap();
    }
    b.create_pool(&Pool {
        id: "p".into(),
        vm_size: Some("standard_d1_v2".into()),
        target_dedicated_nodes: Some(2),
        task_slots_per_node: Some(2),
        start_task: Some(StartTask {
            command_line: "/bin/true".into(),
            wait_for_success: Some(true),
            ..StartTask::default()
        }),
        ..Pool::default()
    })
    .await
    .unwrap();
    b.create_job(&Job {
        id: "j".into(),
        pool_info: PoolInfo {
            pool_id: Some("p".into()),
            ..PoolInfo::default()
        },
        ..Job::default()
    })
    .await
    .unwrap();
    let quick = Task {
        id: "quick".into(),
        command_line: "/bin/sh -c 'echo done'".into(),
        ..Task::default()
    };
    let added = b
        .add_tasks(
            "j",
            &[
                quick,
                long_task("long1", &markers),
                long_task("long2", &markers),
            ],
        )
        .await
        .unwrap();
    assert!(added.iter().all(|r| r.status == TaskAddStatus::Success));

    wait_for(
        "quick to complete and both long tasks to run",
        Duration::from_secs(30),
        || async {
            let state = |id: &'static str| {
                let b = b.clone();
                async move { b.get_task("j", id).await.unwrap().state.unwrap_or_default() }
            };
            state("quick").await == TaskState::Completed
                && state("long1").await == TaskState::Running
                && state("long2").await == TaskState::Running
                && markers.join("long1.pid").exists()
                && markers.join("long2.pid").exists()
        },
    )
    .await;
    let pids: Vec<i32> = ["long1", "long2"]
        .iter()
        .map(|t| {
            std::fs::read_to_string(markers.join(format!("{t}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(pids.iter().all(|p| process_group_alive(*p)));

    emu.kill9();
    let emu2 = common::EmulatorProcess::start(&data, &[]);
    let (b, s) = clients(&emu2);

    // The first emulator's task processes do not outlive it.
    wait_for(
        "the old task processes to end",
        Duration::from_secs(20),
        || async { pids.iter().all(|p| !process_group_alive(*p)) },
    )
    .await;

    // Every acknowledged blob is there, byte for byte.
    for (name, bytes) in &blobs {
        let dest = files.join(format!("back_{}", name.replace('/', "_")));
        s.download_to_file("keep", name, &dest, true).await.unwrap();
        assert_eq!(&std::fs::read(&dest).unwrap(), bytes, "blob {name}");
    }

    // The pool, the job and the tasks are there; the completed task kept its result.
    assert_eq!(b.get_pool("p", None).await.unwrap().id, "p");
    assert_eq!(b.get_job("j").await.unwrap().id, "j");
    let q = b.get_task("j", "quick").await.unwrap();
    assert_eq!(q.state, Some(TaskState::Completed));
    let qe = q.execution_info.unwrap();
    assert_eq!(qe.exit_code, Some(0));
    assert_eq!(qe.requeue_count, 0);
    let out = b.task_file("j", "quick", "stdout.txt", None).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out).trim(), "done");

    // The tasks that were running were requeued and run again to completion.
    for id in ["long1", "long2"] {
        wait_for(
            &format!("{id} to complete after the restart"),
            Duration::from_secs(60),
            || async { b.get_task("j", id).await.unwrap().state == Some(TaskState::Completed) },
        )
        .await;
        let t = b.get_task("j", id).await.unwrap();
        let e = t.execution_info.unwrap();
        assert!(
            e.requeue_count >= 1,
            "{id} requeueCount {}",
            e.requeue_count
        );
        assert_eq!(e.exit_code, Some(0), "{id}");
        let out = b.task_file("j", id, "stdout.txt", None).await.unwrap();
        assert!(
            String::from_utf8_lossy(&out).contains("second run"),
            "{id} stdout: {}",
            String::from_utf8_lossy(&out)
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A data directory written by the emulator when states were strings (see the fixture's
/// README) opens: every state reads back typed, and the emulator carries on with it (the
/// nodes reboot and rerun their start tasks, a new job runs a task on the good pool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_written_with_string_states_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emu");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/emulator-data-string-states"),
        &data,
    );
    let emu = common::EmulatorProcess::start(&data, &[]);
    let (b, _) = clients(&emu);

    let done = b.get_job("donejob").await.unwrap();
    assert_eq!(done.state, Some(JobState::Completed));
    assert_eq!(done.previous_state, Some(JobState::Active));
    assert_eq!(
        done.on_all_tasks_complete,
        Some(OnAllTasksComplete::TerminateJob)
    );
    let waiting = b.get_job("waitjob").await.unwrap();
    assert_eq!(waiting.state, Some(JobState::Active));
    assert_eq!(
        waiting.on_task_failure,
        Some(OnTaskFailure::PerformExitOptionsJobAction)
    );
    let ok = b.get_task("donejob", "ok").await.unwrap();
    assert_eq!(ok.state, Some(TaskState::Completed));
    assert_eq!(ok.previous_state, Some(TaskState::Running));
    assert_eq!(
        ok.execution_info.unwrap().result,
        Some(TaskExecutionResult::Success)
    );
    assert_eq!(
        ok.output_files[0].upload_options.upload_condition,
        UploadCondition::TaskFailure
    );
    let bad = b.get_task("donejob", "bad").await.unwrap();
    let x = bad.execution_info.unwrap();
    assert_eq!(
        (x.result, x.failure_info.map(|f| f.category)),
        (
            Some(TaskExecutionResult::Failure),
            Some(ErrorCategory::UserError)
        )
    );
    let queued = b.get_task("waitjob", "queued").await.unwrap();
    assert_eq!(queued.state, Some(TaskState::Active));
    let pool = b.get_pool("okpool", None).await.unwrap();
    assert_eq!(
        (pool.state, pool.allocation_state),
        (Some(PoolState::Active), Some(AllocationState::Steady))
    );

    // After the restart every node boots again: the good one ends idle, the bad one fails its
    // start task again.
    for (pool, want) in [
        ("okpool", NodeState::Idle),
        ("badpool", NodeState::StartTaskFailed),
    ] {
        wait_for(
            &format!("{pool}'s node {want}"),
            Duration::from_secs(30),
            || {
                let (b, want) = (b.clone(), want.clone());
                async move {
                    let nodes = b.list_nodes(pool, None).await.unwrap();
                    nodes.len() == 1
                        && nodes[0].state == want
                        && nodes[0].scheduling_state == Some(SchedulingState::Enabled)
                        && nodes[0]
                            .start_task_info
                            .as_ref()
                            .is_some_and(|i| i.state == StartTaskState::Completed)
                }
            },
        )
        .await;
    }
    b.create_job(&Job {
        id: "again".into(),
        pool_info: PoolInfo {
            pool_id: Some("okpool".into()),
            ..PoolInfo::default()
        },
        ..Job::default()
    })
    .await
    .unwrap();
    let added = b
        .add_tasks(
            "again",
            &[Task {
                id: "t".into(),
                command_line: "/bin/true".into(),
                ..Task::default()
            }],
        )
        .await
        .unwrap();
    assert_eq!(added[0].status, TaskAddStatus::Success);
    wait_for(
        "the new task to complete",
        Duration::from_secs(30),
        || async { b.get_task("again", "t").await.unwrap().state == Some(TaskState::Completed) },
    )
    .await;
}
