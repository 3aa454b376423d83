//! The controller against the in-process emulator: a change in flight is listed by `busy()`
//! (the TUI's "working" sign) until it ends, reads are not; a downloaded output file is read
//! again for the preview.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use batchdeck::azure::batch::BatchClient;
use batchdeck::azure::storage::StorageClient;
use batchdeck::emulator::{Emulator, EmulatorConfig};
use batchdeck::workflow::controller::{Command, Controller};
use batchdeck::workflow::events::Event;
use batchdeck::workflow::steps::Clients;
use tokio::sync::mpsc;

async fn controller(
    dir: &std::path::Path,
) -> (Emulator, Controller, mpsc::UnboundedReceiver<Event>) {
    let emu = Emulator::start(EmulatorConfig::new(dir))
        .await
        .expect("emulator");
    let clients = Clients {
        batch: BatchClient::new(
            url::Url::parse(&emu.batch_endpoint).unwrap(),
            emu.config.batch_account.clone(),
        )
        .unwrap(),
        storage: StorageClient::new(
            url::Url::parse(&emu.blob_endpoint).unwrap(),
            emu.config.storage_account.clone(),
        )
        .unwrap(),
        service: "test".into(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    (emu, Controller::new(Arc::new(clients), tx), rx)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("the channel is open")
}

// One thread: what `submit` spawns runs only once the test awaits, so `busy()` right after
// `submit` sees both requests in flight.
#[tokio::test(flavor = "current_thread")]
async fn busy_lists_the_changes_in_flight_until_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(dir.path()).await;
    assert!(c.busy().is_empty());
    c.submit(Command::NodeStderr {
        pool_id: "nopool".into(),
        node_id: "n".into(),
    });
    c.submit(Command::DeleteJob("nojob".into()));
    assert_eq!(
        c.busy(),
        vec!["delete job nojob".to_string()],
        "reads are not listed"
    );
    // It ends (the job does not exist: a failure, or "deleted" where a 404 counts as gone),
    // and then it is no longer in flight.
    loop {
        match next_event(&mut rx).await {
            Event::CommandFailed { what, .. } if what == "delete job nojob" => break,
            Event::Deleted(r) if r.to_string().contains("nojob") => break,
            _ => {}
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.busy().is_empty() {
        assert!(Instant::now() < deadline, "still busy: {:?}", c.busy());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_file_is_read_again_for_the_preview() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(&dir.path().join("emu")).await;
    let path = dir.path().join("task1_OUTPUT.txt");
    std::fs::write(&path, "the 47\nand 17\n").unwrap();
    c.submit(Command::ReadOutput {
        task_id: "task1".into(),
        path: path.clone(),
    });
    loop {
        if let Event::Output {
            task_id,
            path: p,
            text,
        } = next_event(&mut rx).await
        {
            assert_eq!(
                (task_id.as_str(), p, text.as_str()),
                ("task1", path, "the 47\nand 17\n")
            );
            break;
        }
    }
    emu.shutdown().await;
}

/// `F` and `d`: failed tasks reactivated together; a task's files (its working directory's
/// included) downloaded into a directory, each named as the service names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_tasks_are_reactivated_together_and_a_task_s_files_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(&dir.path().join("emu")).await;
    let b = common::batch_client(&emu.batch_endpoint);
    common::create_pool(&b, "p", 1, 2).await;
    let cmd = "/bin/sh -c 'echo out; echo err >&2; mkdir -p res; echo data > res/r.txt; exit 3'";
    common::create_job_with_tasks(&b, "j", "p", &[("a", cmd), ("b", cmd)]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.task_counts("j").await.unwrap().task_counts.failed < 2 {
        assert!(Instant::now() < deadline, "the tasks did not fail in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = dir.path().join("files/b");
    c.submit(Command::DownloadTaskFiles {
        job_id: "j".into(),
        task_id: "b".into(),
        dir: out.clone(),
    });
    loop {
        if let Event::TaskFilesDownloaded { task_id, files, .. } = next_event(&mut rx).await {
            assert_eq!(task_id, "b");
            assert!(files >= 3, "{files} files");
            break;
        }
    }
    assert_eq!(
        std::fs::read_to_string(out.join("stdout.txt")).unwrap(),
        "out\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("stderr.txt")).unwrap(),
        "err\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("wd/res/r.txt")).unwrap(),
        "data\n"
    );
    c.submit(Command::ReactivateTasks {
        job_id: "j".into(),
        task_ids: vec!["a".into(), "b".into()],
    });
    loop {
        if let Event::Reactivated { task_ids } = next_event(&mut rx).await {
            assert_eq!(task_ids, ["a", "b"]);
            break;
        }
    }
    emu.shutdown().await;
}

/// Waits for `what` to be accepted (`Event::Done`), failing on the command's error.
async fn accepted(rx: &mut mpsc::UnboundedReceiver<Event>, what: &str) {
    loop {
        match next_event(rx).await {
            Event::Done { what: w } if w == what => return,
            Event::CommandFailed { what: w, error } => panic!("{w} failed: {error}"),
            _ => {}
        }
    }
}

/// Polls `check` every 50 ms for up to 20 s.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not in 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Browsing's actions, as the controller runs them: each reaches the service with the body it
/// documents and is seen in the entity's state afterwards; an error is one line, and says what.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_actions_change_pools_nodes_jobs_and_tasks() {
    use batchdeck::azure::models::{AllocationState, JobState, SchedulingState, TaskState};
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(dir.path()).await;
    let b = common::batch_client(&emu.batch_endpoint);
    common::create_pool(&b, "p", 2, 1).await;
    common::create_job_with_tasks(
        &b,
        "j",
        "p",
        &[("long", "/bin/sh -c 'sleep 60'"), ("short", "/bin/true")],
    )
    .await;
    until("a running task and a completed one", || async {
        let c = b.task_counts("j").await.unwrap().task_counts;
        c.running == 1 && c.completed == 1
    })
    .await;
    // Pools: resize to dedicated and spot targets, then stop.
    c.submit(Command::ResizePool {
        pool_id: "p".into(),
        target: 4,
        spot: 1,
    });
    until("the new targets", || async {
        let p = b.get_pool("p", None).await.unwrap();
        p.target_dedicated_nodes == Some(4) && p.target_low_priority_nodes == Some(1)
    })
    .await;
    c.submit(Command::StopResize("p".into()));
    accepted(&mut rx, "stop resizing pool p").await;
    until("a steady pool", || async {
        let p = b.get_pool("p", None).await.unwrap();
        // Stopped, or done already: either way it keeps the nodes it has.
        p.allocation_state == Some(AllocationState::Steady)
            && p.target_dedicated_nodes == p.current_dedicated_nodes
    })
    .await;
    // Jobs: disable (running tasks requeued), enable.
    c.submit(Command::DisableJob("j".into()));
    accepted(&mut rx, "disable job j").await;
    until("a disabled job", || async {
        b.get_job("j").await.unwrap().state == Some(JobState::Disabled)
    })
    .await;
    c.submit(Command::EnableJob("j".into()));
    accepted(&mut rx, "enable job j").await;
    until("an active job", || async {
        b.get_job("j").await.unwrap().state == Some(JobState::Active)
    })
    .await;
    // Tasks: terminate the long one, delete the short one.
    until("the long task running again", || async {
        b.get_task("j", "long").await.unwrap().state == Some(TaskState::Running)
    })
    .await;
    c.submit(Command::TerminateTask {
        job_id: "j".into(),
        task_id: "long".into(),
    });
    accepted(&mut rx, "terminate task long").await;
    until("a terminated task", || async {
        b.get_task("j", "long").await.unwrap().state == Some(TaskState::Completed)
    })
    .await;
    c.submit(Command::DeleteTask {
        job_id: "j".into(),
        task_id: "short".into(),
    });
    accepted(&mut rx, "delete task short").await;
    assert!(b.get_task("j", "short").await.unwrap_err().is_not_found());
    // Nodes: scheduling off and on, a reboot, a removal.
    let nodes = b.list_nodes("p", None).await.unwrap();
    let (n0, n1) = (nodes[0].id.clone(), nodes[1].id.clone());
    let sched = |node_id: &str, enable| Command::NodeScheduling {
        pool_id: "p".into(),
        node_id: node_id.into(),
        enable,
    };
    let scheduling = |id: String| {
        let b = &b;
        async move {
            b.list_nodes("p", None)
                .await
                .unwrap()
                .into_iter()
                .find(|n| n.id == id)
                .and_then(|n| n.scheduling_state)
        }
    };
    c.submit(sched(&n0, false));
    accepted(&mut rx, &format!("disable scheduling on node {n0}")).await;
    assert_eq!(
        scheduling(n0.clone()).await,
        Some(SchedulingState::Disabled)
    );
    c.submit(sched(&n0, true));
    accepted(&mut rx, &format!("enable scheduling on node {n0}")).await;
    assert_eq!(scheduling(n0.clone()).await, Some(SchedulingState::Enabled));
    c.submit(Command::RebootNode {
        pool_id: "p".into(),
        node_id: n1.clone(),
    });
    accepted(&mut rx, &format!("reboot node {n1}")).await;
    until("the node back from its reboot", || async {
        let n = b.list_nodes("p", None).await.unwrap();
        n.iter().any(|n| n.id == n1)
    })
    .await;
    until("a steady pool", || async {
        let p = b.get_pool("p", None).await.unwrap();
        p.allocation_state == Some(AllocationState::Steady)
    })
    .await;
    // The pool's targets fall by the node removed: its dedicated one, or its spot one when
    // the node removed is a spot node (the stopped resize may have left one).
    let targets = |p: &batchdeck::azure::models::Pool| {
        p.target_dedicated_nodes.unwrap_or(0) + p.target_low_priority_nodes.unwrap_or(0)
    };
    let before = targets(&b.get_pool("p", None).await.unwrap());
    c.submit(Command::RemoveNodes {
        pool_id: "p".into(),
        node_ids: vec![n0.clone()],
    });
    accepted(&mut rx, &format!("remove node {n0} from pool p")).await;
    let p = b.get_pool("p", None).await.unwrap();
    assert_eq!(targets(&p), before - 1);
    // The job terminated; terminating it again is the service's one-line error.
    c.submit(Command::TerminateJob("j".into()));
    accepted(&mut rx, "terminate job j").await;
    until("a completed job", || async {
        b.get_job("j").await.unwrap().state == Some(JobState::Completed)
    })
    .await;
    c.submit(Command::TerminateJob("j".into()));
    loop {
        match next_event(&mut rx).await {
            Event::CommandFailed { what, error } => {
                assert_eq!(what, "terminate job j");
                assert!(
                    error.contains("JobCompleted") && !error.contains('\n'),
                    "{error}"
                );
                break;
            }
            Event::Done { what } => panic!("{what} accepted twice"),
            _ => {}
        }
    }
    emu.shutdown().await;
}
