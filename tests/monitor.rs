//! The monitor against the emulator: a start task that fails on every node ends the wait at
//! once with the node's failure info; a normal job is watched to completion with deltas.

mod common;

use std::time::{Duration, Instant};

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::azure::batch::BatchClient;
use batchdeck::azure::models::{
    Job, NodeState, Pool, PoolInfo, StartTask, Task, TaskAddStatus, TaskState,
};
use batchdeck::workflow::events::Event;
use batchdeck::workflow::monitor::{MonitorError, MonitorOptions, wait_for_tasks};

fn client(emu: &common::EmulatorProcess) -> BatchClient {
    BatchClient::new(
        url::Url::parse(&emu.batch_endpoint).unwrap(),
        SharedKeyCredential::new(common::BATCH_ACCOUNT, common::BATCH_KEY).unwrap(),
    )
    .unwrap()
}

fn pool(id: &str, nodes: i32, start: &str) -> Pool {
    Pool {
        id: id.into(),
        vm_size: Some("standard_d1_v2".into()),
        target_dedicated_nodes: Some(nodes),
        start_task: Some(StartTask {
            command_line: start.into(),
            wait_for_success: Some(true),
            ..StartTask::default()
        }),
        ..Pool::default()
    }
}

fn job(id: &str, pool: &str) -> Job {
    Job {
        id: id.into(),
        pool_info: PoolInfo {
            pool_id: Some(pool.into()),
            ..PoolInfo::default()
        },
        ..Job::default()
    }
}

fn task(id: &str, cmd: &str) -> Task {
    Task {
        id: id.into(),
        command_line: cmd.into(),
        ..Task::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_task_failing_everywhere_ends_the_wait_at_once_with_its_failure() {
    let dir = tempfile::tempdir().unwrap();
    let emu = common::EmulatorProcess::start(dir.path(), &[]);
    let b = client(&emu);
    b.create_pool(&pool(
        "badpool",
        2,
        "/bin/sh -c 'echo cannot install the runtime >&2; exit 3'",
    ))
    .await
    .unwrap();
    b.create_job(&job("j", "badpool")).await.unwrap();
    b.add_tasks("j", &[task("t1", "/bin/true")]).await.unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = MonitorOptions {
        job_id: "j".into(),
        pool_id: "badpool".into(),
        timeout: Duration::from_secs(120),
        poll_interval: Duration::from_millis(100),
    };
    let t = Instant::now();
    let err = wait_for_tasks(&b, &opts, &tx).await.unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t.elapsed()
    );
    match &err {
        MonitorError::StartTaskFailed { pool, failure, .. } => {
            assert_eq!(pool, "badpool");
            assert!(failure.contains("exit code 3"), "{failure}");
            assert!(failure.contains("cannot install the runtime"), "{failure}");
        }
        other => panic!("expected StartTaskFailed, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    // The panels saw the nodes fail.
    drop(tx);
    let mut saw_failed_node = false;
    while let Some(e) = rx.recv().await {
        if let Event::Nodes(nodes) = e {
            saw_failed_node |= nodes.iter().any(|n| n.state == NodeState::StartTaskFailed);
        }
    }
    assert!(saw_failed_node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_watched_to_completion_and_each_task_is_reported_once_per_change() {
    let dir = tempfile::tempdir().unwrap();
    let emu = common::EmulatorProcess::start(dir.path(), &[]);
    let b = client(&emu);
    b.create_pool(&pool("p", 2, "/bin/true")).await.unwrap();
    b.create_job(&job("j", "p")).await.unwrap();
    let tasks: Vec<Task> = (0..40)
        .map(|i| {
            task(
                &format!("t{i:03}"),
                &format!("/bin/sh -c 'exit {}'", if i % 10 == 0 { 1 } else { 0 }),
            )
        })
        .collect();
    let added = b.add_tasks("j", &tasks).await.unwrap();
    assert_eq!(added.len(), 40);
    assert!(added.iter().all(|r| r.status == TaskAddStatus::Success));
    // Adding the same tasks again (a retried or resumed run) is not an error.
    let again = b.add_tasks("j", &tasks).await.unwrap();
    assert!(again.iter().all(|r| r.status == TaskAddStatus::Success));

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = MonitorOptions {
        job_id: "j".into(),
        pool_id: "p".into(),
        timeout: Duration::from_secs(120),
        poll_interval: Duration::from_millis(50),
    };
    let outcome = wait_for_tasks(&b, &opts, &tx).await.unwrap();
    assert_eq!((outcome.succeeded, outcome.failed), (36, 4));
    drop(tx);
    let mut completed = std::collections::BTreeMap::new();
    while let Some(e) = rx.recv().await {
        if let Event::Tasks(ts) = e {
            for t in ts.into_iter().filter(|t| t.state == TaskState::Completed) {
                assert!(
                    completed.insert(t.id.clone(), t.exit_code).is_none(),
                    "task {} reported completed twice",
                    t.id
                );
            }
        }
    }
    assert_eq!(completed.len(), 40);
    assert_eq!(completed["t010"], Some(1));
    assert_eq!(completed["t011"], Some(0));

    // The delta query the watcher relies on is understood by the service.
    let select = Some(batchdeck::workflow::monitor::TASK_SELECT);
    let future = "stateTransitionTime ge datetime'2999-01-01T00:00:00Z'";
    assert!(
        b.list_tasks("j", Some(future), select)
            .await
            .unwrap()
            .is_empty()
    );
    let past = "stateTransitionTime ge datetime'2000-01-01T00:00:00Z'";
    let all = b.list_tasks("j", Some(past), select).await.unwrap();
    assert_eq!(all.len(), 40);
    assert!(
        all.iter().all(|t| t.command_line.is_empty()),
        "$select trims"
    );
}
