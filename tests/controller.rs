//! The controller against the in-process emulator: a change in flight is listed by `busy()`
//! (the TUI's "working" sign) until it ends, reads are not; a downloaded output file is read
//! again for the preview; requests on two jobs' tasks of one id both run; a change asked
//! while another for its target is in flight waits (the latest stands) or, the same, is sent
//! once, and either is said. The emulator's node reboot through batchdeck's client, with each
//! `nodeRebootOption`; its reimage, deallocation and start.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use batchdeck::azure::batch::BatchClient;
use batchdeck::azure::models::{
    ComputeNode, NodeDeallocationOption, NodeRebootOption, NodeState, TaskState,
};
use batchdeck::azure::storage::StorageClient;
use batchdeck::emulator::{Emulator, EmulatorConfig};
use batchdeck::workflow::controller::{Command, Controller, NodeOp};
use batchdeck::workflow::events::{Event, Held, Resource};
use batchdeck::workflow::steps::Clients;
use tokio::sync::mpsc;

async fn controller(
    dir: &std::path::Path,
) -> (Emulator, Controller, mpsc::UnboundedReceiver<Event>) {
    let emu = Emulator::start(EmulatorConfig::new(dir))
        .await
        .expect("emulator");
    let (c, rx) = controller_on(&emu);
    (emu, c, rx)
}

/// A controller with batchdeck's clients of `emu`, and its events.
fn controller_on(emu: &Emulator) -> (Controller, mpsc::UnboundedReceiver<Event>) {
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
    (Controller::new(Arc::new(clients), tx), rx)
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
    use batchdeck::azure::models::{AllocationState, JobState, SchedulingState};
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
    // A node is rebooted only when idle or running (the resize may have added it).
    until("the node idle or running", || async {
        let n = b.list_nodes("p", None).await.unwrap();
        n.iter()
            .any(|n| n.id == n1 && matches!(n.state, NodeState::Idle | NodeState::Running))
    })
    .await;
    c.submit(Command::Node {
        pool_id: "p".into(),
        node_id: n1.clone(),
        op: NodeOp::Reboot(NodeRebootOption::Requeue),
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
        option: NodeDeallocationOption::Requeue,
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
                    error.starts_with("409 JobCompleted: ") && !error.contains('\n'),
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

/// An emulator whose nodes take 3 s to boot (each boot phase half of it, so that a test sees
/// `rebooting`), pool `p` of one node with two task slots whose start task takes a second,
/// and job `j` whose task `long` (`sleep SECS`, files kept for `retention`) runs on the node.
async fn a_node_running_a_task(
    dir: &std::path::Path,
    secs: u32,
    retention: Option<&str>,
) -> (Emulator, BatchClient, String) {
    use batchdeck::azure::models::{Pool, StartTask, Task, TaskConstraints};
    let mut config = EmulatorConfig::new(dir);
    config.node_boot_delay = Duration::from_secs(3);
    let emu = Emulator::start(config).await.expect("emulator");
    let b = common::batch_client(&emu.batch_endpoint);
    b.create_pool(&Pool {
        id: "p".into(),
        vm_size: Some("standard_d2s_v3".into()),
        target_dedicated_nodes: Some(1),
        task_slots_per_node: Some(2),
        start_task: Some(StartTask {
            command_line: "/bin/sh -c 'sleep 1'".into(),
            wait_for_success: Some(true),
            ..StartTask::default()
        }),
        ..Pool::default()
    })
    .await
    .expect("create the pool");
    common::create_job_with_tasks(&b, "j", "p", &[]).await;
    let long = Task {
        id: "long".into(),
        command_line: format!("/bin/sh -c 'sleep {secs}'"),
        constraints: retention.map(|r| TaskConstraints {
            retention_time: Some(r.into()),
            ..TaskConstraints::default()
        }),
        ..Task::default()
    };
    b.add_tasks("j", &[long]).await.expect("add the task");
    until("the task running", || async {
        b.get_task("j", "long").await.unwrap().state == Some(TaskState::Running)
    })
    .await;
    let node = b.list_nodes("p", None).await.unwrap()[0].id.clone();
    (emu, b, node)
}

/// Adds task `next` (`sleep 30`) to job `j`.
async fn add_next(b: &BatchClient) {
    let next = batchdeck::azure::models::Task {
        id: "next".into(),
        command_line: "/bin/sh -c 'sleep 30'".into(),
        ..Default::default()
    };
    b.add_tasks("j", &[next]).await.expect("add the task");
}

/// The node's states, each change once, from now until it is back from a reboot (a reimage,
/// a start) begun after `since` (booted again, its start task run again and done).
async fn states_until_rebooted(
    b: &BatchClient,
    node: &str,
    since: DateTime<Utc>,
) -> (Vec<NodeState>, ComputeNode) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen: Vec<NodeState> = Vec::new();
    loop {
        let n = b
            .list_nodes("p", None)
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.id == node)
            .expect("the node is still in the pool");
        if seen.last() != Some(&n.state) {
            seen.push(n.state.clone());
        }
        let start_done = n.start_task_info.as_ref().is_some_and(|s| {
            s.start_time >= since && s.state == batchdeck::azure::models::StartTaskState::Completed
        });
        if n.last_boot_time.is_some_and(|t| t >= since)
            && start_done
            && matches!(n.state, NodeState::Idle | NodeState::Running)
        {
            return (seen, n);
        }
        assert!(
            Instant::now() < deadline,
            "the node is not back from its reboot in 30 s: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the node is back from a reimage begun after `since`: it went through
/// `reimaging`, `starting` and `waitingforstarttask`, and its `shared` directory (where the
/// test left a file) was wiped and made again.
async fn reimaged(
    b: &BatchClient,
    node: &str,
    since: DateTime<Utc>,
    shared: &std::path::Path,
) -> ComputeNode {
    let (states, n) = states_until_rebooted(b, node, since).await;
    let want = [
        NodeState::Reimaging,
        NodeState::Starting,
        NodeState::WaitingForStartTask,
    ];
    assert!(went_through(&states, &want), "{states:?}");
    assert!(shared.is_dir(), "the shared directory is made again");
    assert!(!shared.join("left-behind").exists(), "the disk was wiped");
    n
}

/// Whether `states` holds `want` in this order (others may come between).
fn went_through(states: &[NodeState], want: &[NodeState]) -> bool {
    let mut it = states.iter();
    want.iter().all(|w| it.any(|s| s == w))
}

fn info(t: &batchdeck::azure::models::Task) -> batchdeck::azure::models::TaskExecutionInfo {
    t.execution_info.clone().unwrap_or_default()
}

/// What a reboot with an option did: the node's state and task `long` right after the
/// request, the node's
/// states until it was back (through `rebooting` and `waitingforstarttask`: its start task
/// ran again), and the node then. Task `next` was added right after the request.
struct Rebooted {
    emu: Emulator,
    b: BatchClient,
    node_at_once: NodeState,
    at_once: batchdeck::azure::models::Task,
    states: Vec<NodeState>,
    node: ComputeNode,
}

async fn reboot_with(
    dir: &std::path::Path,
    option: NodeRebootOption,
    secs: u32,
    retention: Option<&str>,
) -> Rebooted {
    let (emu, b, node) = a_node_running_a_task(dir, secs, retention).await;
    let since = Utc::now();
    b.reboot_node("p", &node, option).await.unwrap();
    let node_at_once = b.list_nodes("p", None).await.unwrap()[0].state.clone();
    let at_once = b.get_task("j", "long").await.unwrap();
    add_next(&b).await;
    let (states, node) = states_until_rebooted(&b, &node, since).await;
    assert!(
        went_through(
            &states,
            &[NodeState::Rebooting, NodeState::WaitingForStartTask]
        ),
        "{states:?}"
    );
    Rebooted {
        emu,
        b,
        node_at_once,
        at_once,
        states,
        node,
    }
}

/// Waits for task `id` of job `j` to run, and returns when it started.
async fn started(b: &BatchClient, id: &str) -> DateTime<Utc> {
    until(&format!("{id} running"), || async {
        b.get_task("j", id).await.unwrap().state == Some(TaskState::Running)
    })
    .await;
    info(&b.get_task("j", id).await.unwrap())
        .start_time
        .unwrap()
}

/// `requeue` (the default): the running task goes back to the queue at once, and the node
/// reboots at once and runs it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_with_requeue_requeues_the_running_task_and_reboots_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = reboot_with(dir.path(), NodeRebootOption::Requeue, 60, None).await;
    assert_eq!(r.at_once.state, Some(TaskState::Active), "requeued at once");
    assert_eq!(info(&r.at_once).requeue_count, 1);
    assert_eq!(r.node_at_once, NodeState::Rebooting);
    started(&r.b, "long").await;
    r.emu.shutdown().await;
}

/// `terminate`: the running task completes at once with the service's failure info (no exit
/// code, `TaskEnded`) and does not run again; the node reboots at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_with_terminate_ends_the_running_task_with_a_failure() {
    use batchdeck::azure::models::TaskExecutionResult;
    let dir = tempfile::tempdir().unwrap();
    let r = reboot_with(dir.path(), NodeRebootOption::Terminate, 60, None).await;
    assert_eq!(r.at_once.state, Some(TaskState::Completed));
    let i = info(&r.at_once);
    assert_eq!(i.result, Some(TaskExecutionResult::Failure));
    assert_eq!((i.exit_code, i.requeue_count), (None, 0));
    let failure = i.failure_info.expect("failure info");
    assert_eq!(failure.code.as_deref(), Some("TaskEnded"));
    assert_eq!(r.node_at_once, NodeState::Rebooting);
    started(&r.b, "next").await;
    assert_eq!(
        r.b.get_task("j", "long").await.unwrap().state,
        Some(TaskState::Completed),
        "it does not run again"
    );
    r.emu.shutdown().await;
}

/// `taskcompletion`: the running task finishes (success), the node takes no new task
/// meanwhile though it has a free slot, then reboots and runs the waiting one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_with_taskcompletion_lets_the_task_finish_first() {
    use batchdeck::azure::models::TaskExecutionResult;
    let dir = tempfile::tempdir().unwrap();
    let r = reboot_with(dir.path(), NodeRebootOption::TaskCompletion, 3, None).await;
    assert_eq!(r.node_at_once, NodeState::Running, "no reboot yet");
    let long = info(&r.b.get_task("j", "long").await.unwrap());
    assert_eq!(
        (long.result, long.exit_code, long.requeue_count),
        (Some(TaskExecutionResult::Success), Some(0), 0)
    );
    let booted = r.node.last_boot_time.unwrap();
    assert!(long.end_time.unwrap() <= booted, "rebooted after the task");
    assert!(
        started(&r.b, "next").await >= booted,
        "no task started on the node before its reboot"
    );
    r.emu.shutdown().await;
}

/// `retaineddata`: the running task finishes, then the node waits until its files are past
/// their retention time (3 s), taking no new task, and only then reboots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_with_retaineddata_waits_for_the_task_s_files_retention() {
    use batchdeck::azure::models::TaskExecutionResult;
    let dir = tempfile::tempdir().unwrap();
    let r = reboot_with(dir.path(), NodeRebootOption::RetainedData, 1, Some("PT3S")).await;
    assert!(
        went_through(
            &r.states,
            &[NodeState::Running, NodeState::Idle, NodeState::Rebooting]
        ),
        "{:?}",
        r.states
    );
    let long = info(&r.b.get_task("j", "long").await.unwrap());
    assert_eq!(long.result, Some(TaskExecutionResult::Success));
    let booted = r.node.last_boot_time.unwrap();
    assert!(
        booted >= long.end_time.unwrap() + chrono::Duration::seconds(3),
        "rebooted at {booted}, before the retention of a task ended at {:?} ran out",
        long.end_time
    );
    assert!(started(&r.b, "next").await >= booted);
    r.emu.shutdown().await;
}

/// A reboot option the service does not document is refused as the service refuses a bad
/// property value (400 `InvalidPropertyValue`), and the node is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_reboot_option_is_refused_and_the_node_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, b, node) = a_node_running_a_task(dir.path(), 60, None).await;
    let e = b
        .reboot_node("p", &node, NodeRebootOption::Unknown("later".into()))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(400), Some("InvalidPropertyValue")),
        "{e}"
    );
    assert_eq!(task_state(&b, "long").await, Some(TaskState::Running));
    let n = b.list_nodes("p", None).await.unwrap();
    assert_eq!(n[0].state, NodeState::Running);
    emu.shutdown().await;
}

/// The state of pool p's (first) node.
async fn node_state(b: &BatchClient) -> NodeState {
    b.list_nodes("p", None).await.unwrap()[0].state.clone()
}

/// The state of task `id` of job j.
async fn task_state(b: &BatchClient, id: &str) -> Option<TaskState> {
    b.get_task("j", id).await.unwrap().state
}

/// The node's state, once it is `state` (polled every 20 ms for up to 30 s).
async fn node_in(b: &BatchClient, node: &str, state: NodeState) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = b.list_nodes("p", None).await.unwrap();
        if n.iter().any(|n| n.id == node && n.state == state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the node is not {state:?}: {n:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A reboot is accepted only while the node is idle or running, as the service documents
/// ("You can restart a Compute Node only if it is in an idle or running state"): a node
/// rebooting already, or starting again after, is refused with the service's 409 for its
/// state, and browse (the controller) says so in one line; back, it reboots again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_is_refused_while_the_node_reboots_or_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, b, node) = a_node_running_a_task(dir.path(), 60, None).await;
    let (c, mut rx) = controller_on(&emu);
    let refused = |want: &'static str| {
        let (b, node) = (&b, &node);
        async move {
            let e = b
                .reboot_node("p", node, NodeRebootOption::Requeue)
                .await
                .unwrap_err();
            assert_eq!((e.status(), e.code()), (Some(409), Some(want)), "{e}");
        }
    };
    let since = Utc::now();
    b.reboot_node("p", &node, NodeRebootOption::Requeue)
        .await
        .unwrap();
    refused("NodeBeingRebooted").await;
    c.submit(Command::Node {
        pool_id: "p".into(),
        node_id: node.clone(),
        op: NodeOp::Reboot(NodeRebootOption::Requeue),
    });
    let error = loop {
        match next_event(&mut rx).await {
            Event::CommandFailed { what, error } => {
                assert_eq!(what, format!("reboot node {node}"));
                break error;
            }
            Event::Done { what } => panic!("{what} accepted on a rebooting node"),
            _ => {}
        }
    };
    // One line, the operation named once (by the notice: `reboot node N failed: 409 ...`).
    assert_eq!(
        error,
        "409 NodeBeingRebooted: The specified node is being rebooted"
    );
    node_in(&b, &node, NodeState::WaitingForStartTask).await;
    refused("NodeBeingStarted").await;
    states_until_rebooted(&b, &node, since).await;
    b.reboot_node("p", &node, NodeRebootOption::Requeue)
        .await
        .expect("a reboot once the node is back");
    emu.shutdown().await;
}

/// A reimage (here with `terminate`, sent by the controller as browse does: the running task
/// ends with `TaskEnded`) reinstalls the
/// node: while `reimaging` it is refused another reimage or a reboot (409
/// `NodeBeingReimaged`); then it starts as a new node does (`starting`,
/// `waitingforstarttask`: its start task runs again), its directories wiped and made again
/// (a file left in its shared directory is gone, and so are the files of the task that ran
/// there), and it takes tasks again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reimage_wipes_the_node_and_starts_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, b, node) = a_node_running_a_task(dir.path(), 60, None).await;
    let shared = dir.path().join("batch/nodes/p").join(&node).join("shared");
    std::fs::write(shared.join("left-behind"), b"x").expect("the node's shared directory");
    let files = b.list_node_files("p", &node, true).await.unwrap();
    assert!(
        files.iter().any(|f| f.name == "shared/left-behind"),
        "{files:?}"
    );
    let since = Utc::now();
    // Through the controller, as browse's `I` sends it.
    let (c, mut rx) = controller_on(&emu);
    c.submit(Command::Node {
        pool_id: "p".into(),
        node_id: node.clone(),
        op: NodeOp::Reimage(NodeRebootOption::Terminate),
    });
    accepted(&mut rx, &format!("reimage node {node} (terminate)")).await;
    assert_eq!(node_state(&b).await, NodeState::Reimaging);
    let long = info(&b.get_task("j", "long").await.unwrap());
    assert_eq!(
        long.failure_info.and_then(|f| f.code).as_deref(),
        Some("TaskEnded")
    );
    for again in [
        b.reimage_node("p", &node, NodeRebootOption::Requeue).await,
        b.reboot_node("p", &node, NodeRebootOption::Requeue).await,
    ] {
        let e = again.unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(409), Some("NodeBeingReimaged")),
            "{e}"
        );
    }
    add_next(&b).await;
    let n = reimaged(&b, &node, since, &shared).await;
    let files = b.list_node_files("p", &node, true).await.unwrap();
    assert!(
        !files.iter().any(|f| f.name == "shared/left-behind"),
        "{files:?}"
    );
    let gone = b
        .list_task_files("j", "long", true)
        .await
        .unwrap_or_default();
    assert!(
        gone.is_empty(),
        "the task's files went with the disk: {gone:?}"
    );
    assert!(started(&b, "next").await >= n.last_boot_time.unwrap());
    emu.shutdown().await;
}

/// A deallocation (sent by the controller as browse does; the default option, requeue: the
/// running task goes back to the queue)
/// takes the node through `deallocating` to `deallocated`, where it takes no task and is
/// refused a reboot, a reimage or another deallocation (409 `OperationNotValidOnNode`); a
/// start is refused on a running node, and on the deallocated one starts it as a new node
/// (`starting`, refused a second start with 409 `NodeBeingStarted`; its start task runs
/// again), and the task runs on it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deallocated_node_takes_no_task_until_started() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, b, node) = a_node_running_a_task(dir.path(), 60, None).await;
    let refused = |r: Result<(), batchdeck::azure::batch::BatchError>, want: &str| {
        let e = r.unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(409), Some(want)), "{e}");
    };
    refused(b.start_node("p", &node).await, "OperationNotValidOnNode");
    // Through the controller, as browse's `A` sends it.
    let (c, mut rx) = controller_on(&emu);
    c.submit(Command::Node {
        pool_id: "p".into(),
        node_id: node.clone(),
        op: NodeOp::Deallocate(NodeRebootOption::Requeue),
    });
    accepted(&mut rx, &format!("deallocate node {node}")).await;
    let long = b.get_task("j", "long").await.unwrap();
    assert_eq!(long.state, Some(TaskState::Active), "requeued at once");
    assert_eq!(info(&long).requeue_count, 1);
    node_in(&b, &node, NodeState::Deallocated).await;
    let n = b.list_nodes("p", None).await.unwrap();
    assert_eq!(n[0].running_tasks_count, 0, "{n:?}");
    refused(
        b.reboot_node("p", &node, NodeRebootOption::Requeue).await,
        "OperationNotValidOnNode",
    );
    refused(
        b.reimage_node("p", &node, NodeRebootOption::Requeue).await,
        "OperationNotValidOnNode",
    );
    refused(
        b.deallocate_node("p", &node, NodeRebootOption::Requeue)
            .await,
        "OperationNotValidOnNode",
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        task_state(&b, "long").await,
        Some(TaskState::Active),
        "no task runs on a deallocated node"
    );
    let since = Utc::now();
    b.start_node("p", &node).await.unwrap();
    assert_eq!(node_state(&b).await, NodeState::Starting);
    refused(b.start_node("p", &node).await, "NodeBeingStarted");
    let (states, n) = states_until_rebooted(&b, &node, since).await;
    assert!(
        went_through(
            &states,
            &[NodeState::Starting, NodeState::WaitingForStartTask]
        ),
        "{states:?}"
    );
    assert!(started(&b, "long").await >= n.last_boot_time.unwrap());
    emu.shutdown().await;
}

/// A reimage or a deallocation asked with `taskcompletion` waits for the node's running task;
/// the emulator stopped meanwhile and started again on the same data, the action is not
/// dropped: the node is reimaged (`reimaging`, its disk wiped, then back with its start task
/// run again) or deallocated (and stays so, taking no task).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_reimage_or_deallocation_survives_a_restart() {
    for reimage in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let (emu, b, node) = a_node_running_a_task(dir.path(), 60, None).await;
        let shared = dir.path().join("batch/nodes/p").join(&node).join("shared");
        std::fs::write(shared.join("left-behind"), b"x").expect("the node's shared directory");
        let wait = NodeRebootOption::TaskCompletion;
        if reimage {
            b.reimage_node("p", &node, wait).await.unwrap();
        } else {
            b.deallocate_node("p", &node, wait).await.unwrap();
        }
        // It waits for the task, which runs on.
        assert_eq!(node_state(&b).await, NodeState::Running);
        emu.shutdown().await;

        let since = Utc::now();
        let mut config = EmulatorConfig::new(dir.path());
        config.node_boot_delay = Duration::from_secs(3);
        let emu = Emulator::start(config).await.expect("emulator again");
        let b = common::batch_client(&emu.batch_endpoint);
        if reimage {
            reimaged(&b, &node, since, &shared).await;
        } else {
            node_in(&b, &node, NodeState::Deallocated).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert_eq!(node_state(&b).await, NodeState::Deallocated);
            assert_ne!(
                task_state(&b, "long").await,
                Some(TaskState::Running),
                "no task runs on a deallocated node"
            );
        }
        emu.shutdown().await;
    }
}

/// Browse's reboot and removal send the option chosen in their question (`o`): a reboot with
/// `terminate` ends the running task (requeue, the default, would put it back in the queue),
/// and a removal with `taskcompletion` lets the next task run on while its node leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_s_reboot_and_removal_send_the_option_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, b, node) = a_node_running_a_task(dir.path(), 60, None).await;
    let (c, mut rx) = controller_on(&emu);
    let since = Utc::now();
    c.submit(Command::Node {
        pool_id: "p".into(),
        node_id: node.clone(),
        op: NodeOp::Reboot(NodeRebootOption::Terminate),
    });
    accepted(&mut rx, &format!("reboot node {node} (terminate)")).await;
    let long = info(&b.get_task("j", "long").await.unwrap());
    assert_eq!(
        long.failure_info.and_then(|f| f.code).as_deref(),
        Some("TaskEnded"),
        "the task ended, not requeued"
    );
    states_until_rebooted(&b, &node, since).await;
    add_next(&b).await;
    started(&b, "next").await;
    c.submit(Command::RemoveNodes {
        pool_id: "p".into(),
        node_ids: vec![node.clone()],
        option: NodeDeallocationOption::TaskCompletion,
    });
    accepted(
        &mut rx,
        &format!("remove node {node} from pool p (taskcompletion)"),
    )
    .await;
    assert_eq!(node_state(&b).await, NodeState::LeavingPool);
    assert_eq!(
        task_state(&b, "next").await,
        Some(TaskState::Running),
        "the task runs on while its node leaves"
    );
    emu.shutdown().await;
}

/// How a test makes the pool shed its node.
enum Shed {
    Remove,
    Resize,
}

/// Sheds the node that runs task `long` (`sleep SECS`, files kept for `retention`) as `how`
/// says with `option`, and returns the node's states until it is gone, when it was seen gone,
/// and the task then.
async fn shed(
    dir: &std::path::Path,
    how: Shed,
    option: NodeDeallocationOption,
    secs: u32,
    retention: Option<&str>,
) -> (
    Vec<NodeState>,
    DateTime<Utc>,
    batchdeck::azure::models::Task,
) {
    let (emu, b, node) = a_node_running_a_task(dir, secs, retention).await;
    match how {
        Shed::Remove => b.remove_nodes("p", &[node], option).await.unwrap(),
        Shed::Resize => b.resize_pool("p", 0, 0, Some(option)).await.unwrap(),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen: Vec<NodeState> = Vec::new();
    let gone = loop {
        match b.list_nodes("p", None).await.unwrap().first() {
            None => break Utc::now(),
            Some(n) if seen.last() != Some(&n.state) => seen.push(n.state.clone()),
            Some(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "the node did not leave: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let t = b.get_task("j", "long").await.unwrap();
    emu.shutdown().await;
    (seen, gone, t)
}

/// Task `long` (`sleep 60`) after its node was shed as `how` says with `option` (a requeue or
/// a termination: the node leaves at once).
async fn shed_a_long_task(
    dir: &std::path::Path,
    how: Shed,
    option: NodeDeallocationOption,
) -> batchdeck::azure::models::Task {
    shed(dir, how, option, 60, None).await.2
}

/// Remove Nodes with `requeue` puts the running task back in the queue and the node leaves
/// at once; with `retaineddata` the node leaves once its task ended and that task's files
/// are past their retention time (3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_nodes_requeue_or_wait_for_their_tasks_files_as_asked() {
    use batchdeck::azure::models::TaskExecutionResult;
    let dir = tempfile::tempdir().unwrap();
    let t = shed_a_long_task(
        &dir.path().join("requeue"),
        Shed::Remove,
        NodeDeallocationOption::Requeue,
    )
    .await;
    assert_eq!(t.state, Some(TaskState::Active));
    assert_eq!(info(&t).requeue_count, 1);
    let (states, gone, t) = shed(
        &dir.path().join("retained"),
        Shed::Remove,
        NodeDeallocationOption::RetainedData,
        1,
        Some("PT3S"),
    )
    .await;
    assert_eq!(states, [NodeState::LeavingPool]);
    let i = info(&t);
    assert_eq!(i.result, Some(TaskExecutionResult::Success));
    assert!(
        gone >= i.end_time.unwrap() + chrono::Duration::seconds(3),
        "gone at {gone}, before the retention of a task ended at {:?} ran out",
        i.end_time
    );
}

/// A pool resized down with `terminate` ends the task of the node it removes (`TaskEnded`);
/// with `taskcompletion` the node, leaving, lets its task finish first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_shrunk_terminates_or_lets_tasks_finish_as_asked() {
    use batchdeck::azure::models::TaskExecutionResult;
    let dir = tempfile::tempdir().unwrap();
    let t = shed_a_long_task(
        &dir.path().join("terminate"),
        Shed::Resize,
        NodeDeallocationOption::Terminate,
    )
    .await;
    assert_eq!(t.state, Some(TaskState::Completed));
    let i = info(&t);
    assert_eq!(
        (i.result, i.requeue_count),
        (Some(TaskExecutionResult::Failure), 0)
    );
    assert_eq!(
        i.failure_info.and_then(|f| f.code).as_deref(),
        Some("TaskEnded")
    );
    let (states, gone, t) = shed(
        &dir.path().join("completion"),
        Shed::Resize,
        NodeDeallocationOption::TaskCompletion,
        2,
        None,
    )
    .await;
    assert!(states.contains(&NodeState::LeavingPool), "{states:?}");
    let i = info(&t);
    assert_eq!(
        (i.result, i.exit_code),
        (Some(TaskExecutionResult::Success), Some(0))
    );
    assert!(gone >= i.end_time.unwrap());
}

/// `F` on the jobs: every failed task of the job is reactivated (and runs again), a task that
/// succeeded is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_tasks_reactivates_the_failed_ones_only() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(dir.path()).await;
    let b = common::batch_client(&emu.batch_endpoint);
    common::create_pool(&b, "p", 1, 3).await;
    let fail = "/bin/sh -c 'exit 3'";
    common::create_job_with_tasks(
        &b,
        "j",
        "p",
        &[("bad1", fail), ("ok", "/bin/true"), ("bad2", fail)],
    )
    .await;
    until("two failed tasks and a succeeded one", || async {
        let c = b.task_counts("j").await.unwrap().task_counts;
        c.failed == 2 && c.succeeded == 1
    })
    .await;
    let before = |id: &'static str| {
        let b = &b;
        async move { b.get_task("j", id).await.unwrap() }
    };
    let ok = before("ok").await;
    let first_ends = [
        info(&before("bad1").await).end_time.unwrap(),
        info(&before("bad2").await).end_time.unwrap(),
    ];
    c.submit(Command::RetryFailedTasks {
        job_ids: vec!["j".into()],
    });
    accepted(&mut rx, "retry 2 failed tasks of job j").await;
    for (id, first_end) in ["bad1", "bad2"].into_iter().zip(first_ends) {
        until(&format!("{id} run again"), || async {
            let t = b.get_task("j", id).await.unwrap();
            info(&t).start_time.is_some_and(|s| s > first_end)
        })
        .await;
    }
    let after = b.get_task("j", "ok").await.unwrap();
    assert_eq!(after.e_tag, ok.e_tag, "the succeeded task is untouched");
    // Not even tried: reactivating it would have been refused, and said so.
    while !c.busy().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while let Ok(e) = rx.try_recv() {
        assert!(!matches!(e, Event::CommandFailed { .. }), "{e:?}");
    }
    assert_eq!(after.state, Some(TaskState::Completed));
    emu.shutdown().await;
}

/// Waits until nothing is in flight or waiting, and returns the events sent meanwhile.
async fn events_until_idle(c: &Controller, rx: &mut mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        while let Ok(e) = rx.try_recv() {
            seen.push(e);
        }
        if c.busy().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still busy: {:?}", c.busy());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What the last command sent before it ended.
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    seen
}

// One thread (as below): what `submit` spawns runs only once the test awaits, so every
// request is submitted while the first for its target is still in flight.

/// Two jobs may share task ids: a task's requests name its job too, so downloading the files
/// of task `t` of two jobs, then reactivating both, runs all four at once (a key of the task
/// id alone dropped the second of each, or would hold it behind the first).
#[tokio::test(flavor = "current_thread")]
async fn two_jobs_tasks_of_one_id_are_both_acted_on() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(&dir.path().join("emu")).await;
    let b = common::batch_client(&emu.batch_endpoint);
    common::create_pool(&b, "p", 1, 2).await;
    let jobs = ["j1", "j2"];
    for j in jobs {
        let cmd = format!("/bin/sh -c 'echo {j}; exit 3'");
        common::create_job_with_tasks(&b, j, "p", &[("t", cmd.as_str())]).await;
    }
    until("both tasks failed", || async {
        let mut failed = 0;
        for j in jobs {
            failed += b.task_counts(j).await.unwrap().task_counts.failed;
        }
        failed == 2
    })
    .await;
    for j in jobs {
        c.submit(Command::DownloadTaskFiles {
            job_id: j.into(),
            task_id: "t".into(),
            dir: dir.path().join(j),
        });
    }
    let events = events_until_idle(&c, &mut rx).await;
    let downloaded = events
        .iter()
        .filter(|e| matches!(e, Event::TaskFilesDownloaded { .. }))
        .count();
    assert_eq!(downloaded, 2, "{events:?}");
    let held = |events: &[Event]| events.iter().any(|e| matches!(e, Event::Held { .. }));
    assert!(!held(&events), "neither waited for the other: {events:?}");
    for j in jobs {
        let out = std::fs::read_to_string(dir.path().join(j).join("stdout.txt")).unwrap();
        assert_eq!(out, format!("{j}\n"));
    }
    for j in jobs {
        c.submit(Command::ReactivateTask {
            job_id: j.into(),
            task_id: "t".into(),
        });
    }
    let events = events_until_idle(&c, &mut rx).await;
    let reactivated: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Reactivated { .. }))
        .collect();
    assert_eq!(reactivated.len(), 2, "{events:?}");
    assert!(!held(&events), "neither waited for the other: {events:?}");
    emu.shutdown().await;
}

/// A change asked while another for the same target is in flight waits and runs after it; a
/// later one replaces the one waiting; each is said. Resize to 2, 4 and 5 sends 2 then 5 and
/// ends with 5; scheduling off then on ends on.
#[tokio::test(flavor = "current_thread")]
async fn a_differing_change_waits_and_the_latest_stands() {
    use batchdeck::azure::models::SchedulingState;
    let dir = tempfile::tempdir().unwrap();
    let (emu, c, mut rx) = controller(dir.path()).await;
    let b = common::batch_client(&emu.batch_endpoint);
    common::create_pool(&b, "p", 1, 1).await;
    until("an idle node", || async {
        let n = b.list_nodes("p", None).await.unwrap();
        n.iter().any(|n| n.state == NodeState::Idle)
    })
    .await;
    let node = b.list_nodes("p", None).await.unwrap()[0].id.clone();
    let resize = |target| Command::ResizePool {
        pool_id: "p".into(),
        target,
        spot: 0,
    };
    let sched = |enable| Command::NodeScheduling {
        pool_id: "p".into(),
        node_id: node.clone(),
        enable,
    };
    for cmd in [resize(2), resize(4), resize(5), sched(false), sched(true)] {
        c.submit(cmd);
    }
    let what = |c: Command| c.describe();
    let mut want_busy = vec![
        what(resize(2)),
        what(resize(5)),
        what(sched(false)),
        what(sched(true)),
    ];
    want_busy.sort();
    assert_eq!(c.busy(), want_busy, "in flight and waiting");
    let events = events_until_idle(&c, &mut rx).await;
    let held: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Held { .. }))
        .collect();
    let waits = |cmd, behind, replaced: Option<Command>| Event::Held {
        what: what(cmd),
        how: Held::Waiting {
            behind: what(behind),
            replaced: replaced.map(what),
        },
    };
    assert_eq!(
        held,
        [
            &waits(resize(4), resize(2), None),
            &waits(resize(5), resize(2), Some(resize(4))),
            &waits(sched(true), sched(false), None),
        ]
    );
    let resized: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Resized { target, .. } => Some(*target),
            _ => None,
        })
        .collect();
    assert_eq!(resized, [2, 5], "4 was replaced before it was sent");
    let done: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Done { what } => Some(what.as_str()),
            Event::CommandFailed { what, error } => panic!("{what} failed: {error}"),
            _ => None,
        })
        .collect();
    assert_eq!(done, [what(sched(false)), what(sched(true))]);
    let p = b.get_pool("p", None).await.unwrap();
    assert_eq!(p.target_dedicated_nodes, Some(5));
    let n = b.list_nodes("p", None).await.unwrap();
    let n = n.iter().find(|n| n.id == node).expect("the node");
    assert_eq!(n.scheduling_state, Some(SchedulingState::Enabled));
    emu.shutdown().await;
}

/// The same change asked again while it is in flight is sent once, and the second is said
/// (`already in progress`), never dropped silently: `P` twice deletes the pool once.
#[tokio::test(flavor = "current_thread")]
async fn a_change_asked_twice_is_sent_once_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, mut c, mut rx) = controller(dir.path()).await;
    c.gone_poll = Duration::from_millis(50);
    let b = common::batch_client(&emu.batch_endpoint);
    common::create_pool(&b, "p", 0, 1).await;
    c.submit(Command::DeletePool("p".into()));
    c.submit(Command::DeletePool("p".into()));
    assert_eq!(c.busy(), ["delete pool p"]);
    let events = events_until_idle(&c, &mut rx).await;
    let said: Vec<&Event> = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Held { .. }
                    | Event::Deleting(_)
                    | Event::Deleted(_)
                    | Event::CommandFailed { .. }
            )
        })
        .collect();
    let pool = Resource::Pool("p".into());
    assert_eq!(
        said,
        [
            &Event::Held {
                what: "delete pool p".into(),
                how: Held::InProgress,
            },
            &Event::Deleting(pool.clone()),
            &Event::Deleted(pool),
        ]
    );
    emu.shutdown().await;
}
