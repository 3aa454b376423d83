//! The session's watcher against the emulator: it follows a job to its end with each task
//! reported once per change, ends a wait at once when the start task fails everywhere, waits out
//! an outage (the emulator killed and restarted on its ports) and catches up, ends on a refused
//! key or a deleted job, reads a running task's output as it grows and its last bytes when it
//! completes, and reads nothing while the selection keeps moving.

mod common;

use std::time::{Duration, Instant};

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::azure::batch::BatchClient;
use batchdeck::azure::models::{
    Job, NodeState, Pool, PoolInfo, StartTask, Task, TaskAddStatus, TaskState,
};
use batchdeck::watch::schedule::Cadence;
use batchdeck::watch::{CHECK_EVERY, Cadences, JobNews, JobTasks, PreviewTarget, Watch};
use batchdeck::workflow::events::{Event, Health, Resource, TaskFile};
use batchdeck::workflow::wait::{WaitError, WaitOptions, wait_for_tasks};
use common::quick_cadences as quick;
use tokio::sync::mpsc::UnboundedReceiver;

fn client(endpoint: &str) -> BatchClient {
    common::batch_client(endpoint)
}

fn pool(id: &str, nodes: i32, start: &str) -> Pool {
    Pool {
        id: id.into(),
        vm_size: Some("standard_d1_v2".into()),
        target_dedicated_nodes: Some(nodes),
        task_slots_per_node: Some(4),
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

/// An emulator on `data` with a pool `p` of `nodes` nodes (start task `/bin/true`) and a job
/// `j` on it, and a client of it.
async fn emulator_with_job(
    data: &std::path::Path,
    nodes: i32,
) -> (common::EmulatorProcess, BatchClient) {
    let emu = common::EmulatorProcess::start(data, &[]);
    let b = client(&emu.batch_endpoint);
    b.create_pool(&pool("p", nodes, "/bin/true")).await.unwrap();
    b.create_job(&job("j", "p")).await.unwrap();
    (emu, b)
}

/// The emulator in this process (so that a test can read its request counters), on `data`,
/// and a client of it.
async fn in_process_emulator(
    data: &std::path::Path,
) -> (batchdeck::emulator::Emulator, BatchClient) {
    let emu = batchdeck::emulator::Emulator::start(batchdeck::emulator::EmulatorConfig::new(data))
        .await
        .unwrap();
    let b = client(&emu.batch_endpoint);
    (emu, b)
}

fn drain(rx: &mut UnboundedReceiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// The file tails among the events received so far: (file, from, len, text).
fn tails_in(rx: &mut UnboundedReceiver<Event>) -> Vec<(TaskFile, u64, u64, String)> {
    drain(rx)
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskFileTail {
                file,
                from,
                len,
                text,
                ..
            } => Some((file, from, len, text)),
            _ => None,
        })
        .collect()
}

fn opts(job: &str, pool: &str, secs: u64) -> WaitOptions {
    WaitOptions {
        job_id: job.into(),
        pool_id: Some(pool.into()),
        timeout: Duration::from_secs(secs),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_task_failing_everywhere_ends_the_wait_at_once_with_its_failure() {
    let dir = tempfile::tempdir().unwrap();
    let emu = common::EmulatorProcess::start(dir.path(), &[]);
    let b = client(&emu.batch_endpoint);
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
    let watch = Watch::spawn_with(&b, tx, quick());
    watch.pool("badpool");
    watch.job("j");
    let t = Instant::now();
    let err = wait_for_tasks(&watch, &b, &opts("j", "badpool", 120))
        .await
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    match &err {
        WaitError::StartTaskFailed { pool, failure, .. } => {
            assert_eq!(pool, "badpool");
            assert!(failure.contains("exit code 3"), "{failure}");
            assert!(failure.contains("cannot install the runtime"), "{failure}");
        }
        other => panic!("expected StartTaskFailed, got {other:?}"),
    }
    assert!(!err.to_string().contains('\n'));
    // The panels saw the nodes fail.
    let saw_failed_node = drain(&mut rx).iter().any(
        |e| matches!(e, Event::Nodes(nodes) if nodes.iter().any(|n| n.state == NodeState::StartTaskFailed)),
    );
    assert!(saw_failed_node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_watched_to_completion_and_each_task_is_reported_once_per_change() {
    let dir = tempfile::tempdir().unwrap();
    let (_emu, b) = emulator_with_job(dir.path(), 2).await;
    let tasks: Vec<Task> = (0..40)
        .map(|i| {
            task(
                &format!("t{i:03}"),
                &format!("/bin/sh -c 'exit {}'", if i % 10 == 0 { 1 } else { 0 }),
            )
        })
        .collect();
    let added = b.add_tasks("j", &tasks).await.unwrap();
    assert!(added.iter().all(|r| r.status == TaskAddStatus::Success));
    // Adding the same tasks again (a retried or resumed run) is not an error.
    let again = b.add_tasks("j", &tasks).await.unwrap();
    assert!(again.iter().all(|r| r.status == TaskAddStatus::Success));

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::spawn_with(&b, tx, quick());
    watch.pool("p");
    watch.job("j");
    let outcome = wait_for_tasks(&watch, &b, &opts("j", "p", 120))
        .await
        .unwrap();
    assert_eq!((outcome.succeeded, outcome.failed), (36, 4));
    watch.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut completed = std::collections::BTreeMap::new();
    let mut counts_events = Vec::new();
    for e in drain(&mut rx) {
        match e {
            Event::Tasks(ts) => {
                for t in ts.into_iter().filter(|t| t.state == TaskState::Completed) {
                    assert!(
                        completed.insert(t.id.clone(), t.exit_code).is_none(),
                        "task {} reported completed twice",
                        t.id
                    );
                }
            }
            Event::TaskCounts(c) => counts_events.push(c),
            _ => {}
        }
    }
    assert_eq!(completed.len(), 40);
    assert_eq!(completed["t010"], Some(1));
    assert_eq!(completed["t011"], Some(0));
    // Counts are reported when they move, not on every poll.
    assert!(
        counts_events.windows(2).all(|w| w[0] != w[1]),
        "{counts_events:?}"
    );

    // The delta query the watcher relies on is understood by the service.
    let select = Some(batchdeck::watch::convert::TASK_SELECT);
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

/// A task deleted and another added in the same state between two polls leave the task
/// counts as they were; the watcher still names the deleted one and shows the added one
/// within `CHECK_EVERY` polls, at one request a poll until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_deleted_and_another_added_between_two_polls_show_within_a_few_polls() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, b) = in_process_emulator(dir.path()).await;
    // No nodes: the tasks stay active.
    b.create_pool(&pool("p", 0, "/bin/true")).await.unwrap();
    b.create_job(&job("j", "p")).await.unwrap();
    b.add_tasks("j", &[task("a", "/bin/true"), task("b", "/bin/true")])
        .await
        .unwrap();
    let mut w = JobTasks::default();
    let poll = async |w: &mut JobTasks| {
        let mut news = Vec::new();
        let before = emu.stats.batch.snapshot().0;
        w.poll(&b, "j", |n| news.push(n)).await.unwrap();
        (news, emu.stats.batch.snapshot().0 - before)
    };
    let (news, _) = poll(&mut w).await;
    assert!(
        matches!(&news[..], [JobNews::Counts(c), JobNews::Tasks(t)] if c.active == 2 && t.len() == 2)
    );

    b.delete_task("j", "a").await.unwrap();
    b.add_tasks("j", &[task("c", "/bin/true")]).await.unwrap();
    let (mut gone, mut added) = (Vec::new(), Vec::new());
    let mut polls = 0;
    while gone.is_empty() || added.is_empty() {
        polls += 1;
        assert!(polls <= CHECK_EVERY, "not shown within {CHECK_EVERY} polls");
        let (news, requests) = poll(&mut w).await;
        if polls < CHECK_EVERY {
            assert_eq!(requests, 1, "only the counts until then");
        }
        for n in news {
            match n {
                JobNews::Counts(c) => panic!("the counts did not move: {c:?}"),
                JobNews::Tasks(t) => added.extend(t.into_iter().map(|t| t.id)),
                JobNews::Gone(ids) => gone.extend(ids),
            }
        }
    }
    assert_eq!(
        (gone, added),
        (vec!["a".to_string()], vec!["c".to_string()])
    );
    assert_eq!(w.len(), 2);
    // The check lists what changed since the newest transition seen: the newest task again,
    // unchanged, which is no news.
    for _ in 0..CHECK_EVERY {
        let (news, _) = poll(&mut w).await;
        assert!(news.is_empty(), "{news:?}");
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_waited_out_and_the_watch_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emu");
    let mut emu = common::EmulatorProcess::start(&data, &[]);
    let b = client(&emu.batch_endpoint);
    b.create_pool(&pool("p", 1, "/bin/true")).await.unwrap();
    b.create_job(&job("j", "p")).await.unwrap();
    b.add_tasks("j", &[task("t1", "/bin/sh -c 'sleep 2; echo done'")])
        .await
        .unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::spawn_with(&b, tx, quick());
    watch.pool("p");
    watch.job("j");
    let waiting = tokio::spawn({
        let (watch, b) = (watch.clone(), b.clone());
        async move { wait_for_tasks(&watch, &b, &opts("j", "p", 120)).await }
    });
    // The service goes away for 4 s (longer than any request's own retries), then comes back
    // on the same ports with its state.
    let mut snap = watch.snapshot();
    snap.wait_for(|s| s.counts.is_some()).await.unwrap();
    emu.kill9();
    snap.wait_for(|s| s.reconnecting.is_some()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!waiting.is_finished(), "an outage ended the wait");
    let emu2 = common::EmulatorProcess::start(&data, &[]);
    assert_eq!(emu2.batch_endpoint, emu.batch_endpoint, "same ports");
    let outcome = tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the wait ends once the task completes")
        .unwrap()
        .unwrap();
    assert_eq!((outcome.succeeded, outcome.failed), (1, 0));

    let events = drain(&mut rx);
    let attempts: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Health(Health::Reconnecting { attempt, error, .. }) => {
                assert!(error.contains("Connection refused"), "{error}");
                Some(*attempt)
            }
            _ => None,
        })
        .collect();
    assert!(attempts.len() >= 2, "{attempts:?}");
    assert!(
        attempts.windows(2).all(|w| w[1] == w[0] + 1),
        "{attempts:?}"
    );
    let back = events
        .iter()
        .position(|e| matches!(e, Event::Health(Health::Reconnected { .. })))
        .expect("reconnected");
    // It caught up: the task's completion came after the reconnection.
    assert!(events[back..].iter().any(|e| matches!(e,
        Event::Tasks(ts) if ts.iter().any(|t| t.id == "t1" && t.state == TaskState::Completed))));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Gone(_) | Event::WatchFailed { .. }))
    );
    // Nothing was deleted.
    b.get_pool("p", None).await.unwrap();
    b.get_job("j").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_ends_the_watch_and_a_deleted_job_ends_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, b) = emulator_with_job(dir.path(), 0).await;
    b.add_tasks("j", &[task("t1", "/bin/true")]).await.unwrap();

    let wrong = BatchClient::new(
        url::Url::parse(&emu.batch_endpoint).unwrap(),
        SharedKeyCredential::new(common::BATCH_ACCOUNT, "d3Jvbmcga2V5").unwrap(),
    )
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::spawn_with(&wrong, tx, quick());
    watch.job("j");
    let err = wait_for_tasks(&watch, &wrong, &opts("j", "p", 60))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WaitError::Refused(m) if m.contains("AuthenticationFailed")),
        "{err}"
    );
    assert!(
        drain(&mut rx)
            .iter()
            .any(|e| matches!(e, Event::WatchFailed { .. }))
    );

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::spawn_with(&b, tx, quick());
    watch.job("j");
    let waiting = tokio::spawn({
        let (watch, b) = (watch.clone(), b.clone());
        async move { wait_for_tasks(&watch, &b, &opts("j", "p", 60)).await }
    });
    watch
        .snapshot()
        .wait_for(|s| s.counts.is_some())
        .await
        .unwrap();
    b.delete_job("j").await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(&err, WaitError::JobGone(j) if j == "j"), "{err}");
    assert!(
        drain(&mut rx)
            .iter()
            .any(|e| *e == Event::Gone(Resource::Job("j".into())))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_task_is_read_as_it_grows_and_its_last_bytes_when_it_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (_emu, b) = emulator_with_job(&dir.path().join("emu"), 1).await;
    // The task writes a line, then a second one once it is told to go on, then ends: what the
    // preview shows while it is blocked was read while it ran, whatever the machine's load.
    let (go, more) = (dir.path().join("go"), dir.path().join("more"));
    let cmd = format!(
        "/bin/sh -c 'echo line 1; while [ ! -f {more} ]; do sleep 0.05; done; echo line 2; while [ ! -f {go} ]; do sleep 0.05; done; echo final line; echo oops >&2'",
        more = more.display(),
        go = go.display()
    );
    b.add_tasks("j", &[task("t1", &cmd)]).await.unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The files are read every 10 s while the task runs, so that the read its completion
    // brings (at once) cannot be mistaken for a periodic one.
    let cadences = Cadences {
        tail: Cadence::new(Duration::from_secs(10), Duration::from_secs(10)),
        ..quick()
    };
    let watch = Watch::spawn_with(&b, tx, cadences);
    watch.job("j");
    // Selected before it starts: nothing is read until it runs, then it is read as it grows,
    // and once more when it completes, with no further word from the session.
    watch.preview(Some(PreviewTarget {
        job_id: "j".into(),
        task_id: "t1".into(),
        from: [0, 0],
        state: Some(TaskState::Active),
    }));
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut read = |rx: &mut UnboundedReceiver<Event>| {
        for e in drain(rx) {
            if let Event::TaskFileTail {
                task_id,
                file,
                from,
                len,
                text,
            } = e
            {
                assert_eq!(task_id, "t1");
                let buf = match file {
                    TaskFile::Stdout => &mut stdout,
                    TaskFile::Stderr => &mut stderr,
                };
                assert_eq!(
                    from as usize,
                    buf.len(),
                    "reads continue where they stopped"
                );
                buf.push_str(&text);
                assert_eq!(len as usize, buf.len());
            }
        }
        (stdout.clone(), stderr.clone())
    };
    let until = async |rx: &mut UnboundedReceiver<Event>,
                       read: &mut dyn FnMut(&mut UnboundedReceiver<Event>) -> (String, String),
                       want: &str,
                       within: Duration| {
        let deadline = Instant::now() + within;
        loop {
            let (out, _) = read(rx);
            if out == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "stdout {out:?}, waiting for {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let long = Duration::from_secs(60);
    until(&mut rx, &mut read, "line 1\n", long).await;
    std::fs::write(&more, "").unwrap();
    until(&mut rx, &mut read, "line 1\nline 2\n", long).await;
    std::fs::write(&go, "").unwrap();
    wait_for_tasks(&watch, &b, &opts("j", "p", 60))
        .await
        .unwrap();
    // The last bytes come with the completion, well before the next periodic read.
    let soon = Duration::from_secs(5);
    until(&mut rx, &mut read, "line 1\nline 2\nfinal line\n", soon).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(read(&mut rx).1, "oops\n");
}

/// The session's idea of a task may be older than the service's (it thought the task waited
/// for a node): the first read asks the task itself, so its output shows all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_the_session_thinks_waiting_is_read_once_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (_emu, b) = emulator_with_job(&dir.path().join("emu"), 1).await;
    let go = dir.path().join("go");
    let cmd = format!(
        "/bin/sh -c 'echo line 1; while [ ! -f {go} ]; do sleep 0.05; done'",
        go = go.display()
    );
    b.add_tasks("j", &[task("t1", &cmd)]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.get_task("j", "t1").await.unwrap().state != Some(TaskState::Running) {
        assert!(Instant::now() < deadline, "the task did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No job is watched: nothing else would tell the watcher that the task runs.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::spawn_with(&b, tx, quick());
    watch.preview(Some(PreviewTarget {
        job_id: "j".into(),
        task_id: "t1".into(),
        from: [0, 0],
        state: Some(TaskState::Active),
    }));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = drain(&mut rx).into_iter().any(|e| {
            matches!(e, Event::TaskFileTail { file: TaskFile::Stdout, text, .. } if text == "line 1\n")
        });
        if got {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the running task's output was never read"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The task ends before its directory goes with the test: else it would wait for `go`
    // forever, outliving the test.
    std::fs::write(&go, "").unwrap();
    task_until(&b, |t| t.state == Some(TaskState::Completed)).await;
}

/// Adds `t` to job j with one resource file, `input.txt`, fetched from `url`.
async fn add_with_input_from(b: &BatchClient, mut t: Task, url: String) {
    t.resource_files = vec![batchdeck::azure::models::ResourceFile {
        http_url: Some(url),
        file_path: Some("input.txt".into()),
        ..Default::default()
    }];
    b.add_tasks("j", &[t]).await.unwrap();
}

/// A resource-file server whose answers wait, once `hold` is set, until `release` turns true:
/// a task's run stays between "running" and its command for as long as the test wants.
async fn holding_file_server(
    hold: std::sync::Arc<std::sync::atomic::AtomicBool>,
    release: tokio::sync::watch::Receiver<bool>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (hold, mut release) = (hold.clone(), release.clone());
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                if hold.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = release.wait_for(|go| *go).await;
                }
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    format!("http://{addr}/input.txt")
}

async fn task_until(b: &BatchClient, done: impl Fn(&Task) -> bool) -> Task {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = b.get_task("j", "t1").await.unwrap();
        if done(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "task never got there: {t:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A task run again shows as running only once its last run's stdout.txt and stderr.txt are
/// empty: while its new run still fetches its resource files (here held by the test), reading
/// them gives nothing of the last run (a watcher that sees the new start time reads from byte 0
/// and would take the old bytes for the new run's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_run_again_shows_running_only_with_its_last_run_s_files_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let (_emu, b) = emulator_with_job(&dir.path().join("emu"), 1).await;
    let hold = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (release, released) = tokio::sync::watch::channel(false);
    let url = holding_file_server(hold.clone(), released).await;
    let marker = dir.path().join("ran");
    let t = task(
        "t1",
        &format!(
            "/bin/sh -c 'if [ -f {m} ]; then echo second; else touch {m}; echo first; echo boom >&2; exit 3; fi'",
            m = marker.display()
        ),
    );
    add_with_input_from(&b, t, url).await;
    let first = task_until(&b, |t| t.state == Some(TaskState::Completed)).await;
    let read = |name: &'static str| {
        let b = &b;
        async move { b.task_file("j", "t1", name, None).await.unwrap() }
    };
    assert_eq!(&read("stdout.txt").await[..], b"first\n");
    assert_eq!(&read("stderr.txt").await[..], b"boom\n");
    let started = first.execution_info.as_ref().and_then(|i| i.start_time);

    hold.store(true, std::sync::atomic::Ordering::SeqCst);
    b.reactivate_task("j", "t1").await.unwrap();
    task_until(&b, |t| {
        t.state == Some(TaskState::Running)
            && t.execution_info.as_ref().and_then(|i| i.start_time) != started
    })
    .await;
    // The new run is visible and its agent waits on the held resource file.
    assert_eq!(&read("stdout.txt").await[..], b"", "the last run's stdout");
    assert_eq!(&read("stderr.txt").await[..], b"", "the last run's stderr");

    release.send_replace(true);
    task_until(&b, |t| t.state == Some(TaskState::Completed)).await;
    assert_eq!(&read("stdout.txt").await[..], b"second\n");
}

/// A task shows as running only once its stdout.txt and stderr.txt exist: while its first run
/// still fetches its resource file (held by the test), Get Task File answers 200 with nothing,
/// both files are in the task's listing, and Get Node File finds them on its node (a script that
/// polls stdout.txt once the task runs, and the watch's preview, get no 404).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_task_s_stdout_and_stderr_exist_before_its_command_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (_emu, b) = emulator_with_job(&dir.path().join("emu"), 1).await;
    let hold = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (release, released) = tokio::sync::watch::channel(false);
    let url = holding_file_server(hold, released).await;
    let t = task("t1", "/bin/echo done");
    add_with_input_from(&b, t, url).await;
    let running = task_until(&b, |t| t.state == Some(TaskState::Running)).await;
    // The agent waits on the held resource file: the command has not started.
    for name in ["stdout.txt", "stderr.txt"] {
        let body = b.task_file("j", "t1", name, None).await;
        assert_eq!(&body.unwrap()[..], b"", "{name} of the running task");
    }
    let files = b.list_task_files("j", "t1", false).await.unwrap();
    for name in ["stdout.txt", "stderr.txt"] {
        let f = files.iter().find(|f| f.name == name);
        assert!(f.is_some_and(|f| !f.is_directory), "{name} in {files:?}");
    }
    let node = running.node_info.and_then(|n| n.node_id).unwrap();
    let on_node = b
        .node_file("p", &node, "workitems/j/job-1/t1/stdout.txt", None)
        .await;
    assert_eq!(&on_node.unwrap()[..], b"");

    release.send_replace(true);
    task_until(&b, |t| t.state == Some(TaskState::Completed)).await;
    let out = b.task_file("j", "t1", "stdout.txt", None).await.unwrap();
    assert_eq!(&out[..], b"done\n");
}

/// The same for a job's preparation and release tasks: while the preparation fetches its
/// resource file (held), the task that waits for it is `preparing` and the preparation's
/// stdout.txt and stderr.txt are on the node, empty; once released, the task runs after it.
/// The job terminated, the release task's two files appear while its own resource file is
/// held (they do not before its command starts without the fix), and it ends the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_preparation_task_s_output_files_exist_before_its_command_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (_emu, b) = emulator_with_job(&dir.path().join("emu"), 1).await;
    let hold = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (release, released) = tokio::sync::watch::channel(false);
    let url = holding_file_server(hold.clone(), released).await;
    let (release_end, end_released) = tokio::sync::watch::channel(false);
    let end_url = holding_file_server(hold, end_released).await;
    let mut j = job("jp", "p");
    j.extra.insert(
        "jobPreparationTask".into(),
        serde_json::json!({"commandLine": "/bin/echo prepared",
            "resourceFiles": [{"httpUrl": url, "filePath": "input.txt"}]}),
    );
    j.extra.insert(
        "jobReleaseTask".into(),
        serde_json::json!({"commandLine": "/bin/echo released",
            "resourceFiles": [{"httpUrl": end_url, "filePath": "input.txt"}]}),
    );
    b.create_job(&j).await.unwrap();
    b.add_tasks("jp", &[task("t1", "/bin/echo ran")])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.get_task("jp", "t1").await.unwrap().state != Some(TaskState::Preparing) {
        assert!(
            Instant::now() < deadline,
            "the task never waited, preparing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let node = b.list_nodes("p", None).await.unwrap()[0].id.clone();
    for name in ["stdout.txt", "stderr.txt"] {
        let path = format!("workitems/jp/job-1/jobpreparation/{name}");
        let body = b.node_file("p", &node, &path, None).await;
        assert_eq!(&body.unwrap()[..], b"", "{path} of the running preparation");
    }

    release.send_replace(true);
    while b.get_task("jp", "t1").await.unwrap().state != Some(TaskState::Completed) {
        assert!(Instant::now() < deadline, "the task never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let path = "workitems/jp/job-1/jobpreparation/stdout.txt";
    let out = b.node_file("p", &node, path, None).await.unwrap();
    assert_eq!(&out[..], b"prepared\n");

    b.terminate_job("jp").await.unwrap();
    let release_file = |name: &str| format!("workitems/jp/job-1/jobrelease/{name}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Ok(body) = b
            .node_file("p", &node, &release_file("stdout.txt"), None)
            .await
        {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the release task's stdout.txt never appeared while its resource file was held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(&first[..], b"", "the running release task's stdout");
    let err = b
        .node_file("p", &node, &release_file("stderr.txt"), None)
        .await;
    assert_eq!(&err.unwrap()[..], b"", "the running release task's stderr");
    release_end.send_replace(true);
    let done = Some(batchdeck::azure::models::JobState::Completed);
    while b.get_job("jp").await.unwrap().state != done {
        assert!(Instant::now() < deadline, "the job never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = b
        .node_file("p", &node, &release_file("stdout.txt"), None)
        .await;
    assert_eq!(&out.unwrap()[..], b"released\n");
}

/// A task run again (reactivated after it failed) starts its files over: the preview follows
/// the new, shorter files (an empty one included) from their start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_run_again_is_read_from_the_start_of_its_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let (_emu, b) = emulator_with_job(&dir.path().join("emu"), 1).await;
    // The first run fails with a line on stderr; the second prints on stdout only.
    let marker = dir.path().join("ran");
    let cmd = format!(
        "/bin/sh -c 'if [ -f {m} ]; then echo second; else touch {m}; echo first; echo boom >&2; exit 3; fi'",
        m = marker.display()
    );
    b.add_tasks("j", &[task("t1", &cmd)]).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::spawn_with(&b, tx, quick());
    watch.job("j");
    watch.preview(Some(PreviewTarget {
        job_id: "j".into(),
        task_id: "t1".into(),
        from: [0, 0],
        state: Some(TaskState::Active),
    }));
    wait_for_tasks(&watch, &b, &opts("j", "p", 60))
        .await
        .unwrap();
    // The preview shows the failed run: read it all.
    let mut tails = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tails
        .iter()
        .any(|(f, _, _, t): &(TaskFile, u64, u64, String)| {
            *f == TaskFile::Stderr && t.contains("boom")
        })
    {
        assert!(Instant::now() < deadline, "{tails:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        tails.extend(tails_in(&mut rx));
    }
    b.reactivate_task("j", "t1").await.unwrap();
    watch.hurry();
    let mut snap = watch.snapshot();
    snap.wait_for(|s| {
        s.counts
            .is_some_and(|c| c.completed == 1 && c.succeeded == 1)
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = Vec::new();
    loop {
        after.extend(tails_in(&mut rx));
        // The new stdout from its first byte: one read, or several if a read came while the
        // task was still writing it.
        let stdout_again = after
            .iter()
            .position(|(f, from, _, _)| *f == TaskFile::Stdout && *from == 0)
            .is_some_and(|i| {
                after[i..]
                    .iter()
                    .filter(|(f, _, _, _)| *f == TaskFile::Stdout)
                    .map(|(_, _, _, t)| t.as_str())
                    .collect::<String>()
                    == "second\n"
            });
        let stderr_emptied = after
            .iter()
            .any(|(f, from, len, _)| *f == TaskFile::Stderr && *from == 0 && *len == 0);
        if stdout_again && stderr_emptied {
            break;
        }
        assert!(Instant::now() < deadline, "after the retry: {after:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Holding `j` over 1,000 tasks for 3 s (a key every 33 ms, as a terminal repeats it) reads
/// only the files of the task the selection stops on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holding_j_over_a_thousand_tasks_reads_the_files_of_the_last_one_only() {
    use batchdeck::tui::app::{App, Msg, RunIds, Target};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    let dir = tempfile::tempdir().unwrap();
    let (emu, b) = in_process_emulator(dir.path()).await;
    b.create_pool(&Pool {
        task_slots_per_node: Some(32),
        ..pool("p", 2, "/bin/true")
    })
    .await
    .unwrap();
    b.create_job(&job("j", "p")).await.unwrap();
    let tasks: Vec<Task> = (0..1000)
        .map(|i| task(&format!("t{i:04}"), &format!("/bin/echo out {i}")))
        .collect();
    b.add_tasks("j", &tasks).await.unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::spawn_with(&b, tx, quick());
    watch.job("j");
    wait_for_tasks(&watch, &b, &opts("j", "p", 120))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut app = App::new(
        Target {
            batch_endpoint: emu.batch_endpoint.clone(),
            storage_endpoint: emu.blob_endpoint.clone(),
            embedded: true,
        },
        RunIds {
            pool_id: "p".into(),
            job_id: "j".into(),
            containers: Vec::new(),
        },
        false,
        Instant::now(),
    );
    for e in drain(&mut rx) {
        app.update(Msg::Event(e));
    }
    assert_eq!(app.tasks.rows.len(), 1000);
    // As the session's loop does after each batch of messages.
    let follow = |app: &App| watch.preview(app.preview_target());
    follow(&app);
    // The first selection's files read (on a loaded machine that takes a while): the file
    // requests stop.
    let files = || emu.stats.batch_files.snapshot().0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let was = files();
        tokio::time::sleep(Duration::from_millis(500)).await;
        if was > 0 && files() == was {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first selection was not read"
        );
    }

    let before = files();
    let start = Instant::now();
    let j = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
    // A key later than the debounce after the one before (the test starved on a loaded
    // machine) lets the selection settle, and be read, as a user pausing would.
    let (mut last_key, mut pauses) = (Instant::now(), 0);
    while start.elapsed() < Duration::from_secs(3) {
        if last_key.elapsed() > Duration::from_millis(100) {
            pauses += 1;
        }
        last_key = Instant::now();
        app.update(Msg::Key(j));
        follow(&app);
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
    let during = files() - before;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = emu.stats.batch_files.snapshot().0 - before;
    let last = app.selected_task.clone().unwrap();
    assert!(last.as_str() > "t0050", "the selection moved: {last}");
    assert!(
        during <= 4 * pauses,
        "{during} files read while the selection moved ({pauses} pauses)"
    );
    assert!(
        after <= 4,
        "{after} file requests for one settled selection"
    );
    // And what was read is the settled task's output, shown in the preview.
    for e in drain(&mut rx) {
        app.update(Msg::Event(e));
    }
    let n: usize = last[1..].parse().unwrap();
    assert_eq!(
        app.previews.get(&last).unwrap().stdout.text,
        format!("out {n}\n")
    );
    watch.stop();
    emu.shutdown().await;
}

/// Against the embedded local Azure the watcher hears of each change of the service's state:
/// a change after a long quiet is polled a quick interval after the last poll, not after the
/// wait that doubled while nothing moved (the tutorial's last task was seen up to 0.4 s late).
/// Driven round by round on the test's own clock: no poll happens unless the change was heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_the_embedded_service_is_polled_at_the_quick_pace_after_a_long_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, b) = in_process_emulator(dir.path()).await;
    // No nodes: the task stays active, and nothing moves.
    b.create_pool(&pool("p", 0, "/bin/true")).await.unwrap();
    b.create_job(&job("j", "p")).await.unwrap();
    b.add_tasks("j", &[task("t1", "/bin/true")]).await.unwrap();
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let mut w = batchdeck::watch::Watcher::new(b.clone(), tx);
    let s = Duration::from_secs(1);
    w.cadences = Cadences {
        job_busy: Cadence::new(s, 3600 * s),
        job_idle: Cadence::new(s, 3600 * s),
        ..quick()
    };
    w.nudged_by(emu.batch_changes());
    let snapshot = w.subscribe();
    let active = || snapshot.borrow().counts.map(|c| c.active);
    let mut now = Instant::now();
    w.watch_job("j", now);
    // Rounds at each due time until the wait has grown past a minute.
    let mut last = now;
    for _ in 0..20 {
        w.round(now).await;
        last = now;
        now = w.next_due().expect("the job is watched");
        if now - last >= 60 * s {
            break;
        }
    }
    assert!(now - last >= 60 * s, "the wait grew to {:?}", now - last);
    assert_eq!(active(), Some(1));

    b.add_tasks("j", &[task("t2", "/bin/true")]).await.unwrap();
    // A quick interval after the last poll, long before the grown wait is over.
    w.round(last + s).await;
    assert_eq!(active(), Some(2), "the change was not polled");
}
