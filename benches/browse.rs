//! `batchdeck browse` at scale: a frame of each view (1,000 jobs, a pool of 1,000 nodes, a job
//! of 100,000 tasks, the details of a task; 200x60, ratatui's TestBackend) with nothing changed and while scrolling,
//! the peak RSS of the session holding all of it, and opening a 1 GiB stdout in the log viewer
//! (its length and its last window read by byte range from the embedded emulator, as the
//! view's watcher reads them), then searching it (`n`) for a match at its end, by ranges of 4
//! MiB as the view's watcher searches. Prints figures and the RESULT lines bench/run collects.
//!
//! cargo bench --bench browse

mod common;

use std::time::{Duration, Instant};

use batchdeck::azure::models::{JobState, NodeCounts, NodeState, PoolState, TaskState};
use batchdeck::tui::app::{App, Msg, Target};
use batchdeck::tui::browse::View;
use batchdeck::tui::browse::log::{Log, WINDOW};
use batchdeck::tui::browse::search::{Ask, Found, RANGE};
use batchdeck::tui::browse::watcher::run_search;
use batchdeck::workflow::events::{
    Event, FilesOf, JobRow, NodeView, PoolRow, PoolView, Properties, TaskCounts, TaskView,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use common::{benchmarking, frame, report, rss_kib};

fn target() -> Target {
    Target {
        batch_endpoint: "http://127.0.0.1:40123".into(),
        storage_endpoint: "http://127.0.0.1:40124/devstoreaccount1".into(),
        embedded: true,
    }
}

fn pool_view(id: &str, nodes: u32) -> PoolView {
    PoolView {
        id: id.into(),
        state: PoolState::Active,
        allocation_state: batchdeck::azure::models::AllocationState::Steady,
        vm_size: "STANDARD_D2S_V3".into(),
        target_dedicated: nodes,
        current_dedicated: nodes,
        target_low_priority: 0,
        current_low_priority: 0,
        autoscale: None,
    }
}

fn node(i: usize) -> NodeView {
    NodeView {
        id: format!("tvmps_{i:032x}_d"),
        state: if i.is_multiple_of(3) {
            NodeState::Running
        } else {
            NodeState::Idle
        },
        start_task_state: None,
        start_task_exit_code: None,
        start_task_retries: 0,
        start_task_failure: None,
        running_tasks: u32::from(i.is_multiple_of(3)),
        ip: Some(format!("10.0.{}.{}", i / 250, i % 250)),
        vm_size: Some("standard_d2s_v3".into()),
        scheduling: None,
    }
}

fn task(i: usize) -> TaskView {
    TaskView {
        id: format!("task-{i:06}"),
        state: TaskState::Completed,
        node_id: Some(node(i % 1000).id),
        exit_code: Some(i32::from(i.is_multiple_of(17))),
        retries: 0,
        requeues: 0,
        result: None,
        failure: None,
        duration_ms: Some(1000 + i as u64),
        started: None,
        waits: None,
    }
}

fn key(c: KeyCode) -> Option<Msg> {
    Some(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

/// Frames of the view on screen: unchanged, then scrolled a row at a time; the mean of both.
fn frames(term: &mut Terminal<TestBackend>, app: &mut App, what: &str, n: usize) -> Duration {
    for _ in 0..10 {
        frame(term, app, None);
    }
    let still = report(
        &format!("{what}: nothing changed"),
        (0..n).map(|_| frame(term, app, None)).collect(),
    );
    let scrolled = report(
        &format!("{what}: a row scrolled"),
        (0..n)
            .map(|_| frame(term, app, key(KeyCode::Down)))
            .collect(),
    );
    still.max(scrolled)
}

fn main() {
    let bench = benchmarking();
    // `cargo test --all-targets` runs this once, small, as a smoke test.
    let (jobs, nodes, tasks, file_mib, n) = if bench {
        (1_000, 1_000, 100_000, 1024, 200)
    } else {
        (100, 100, 1_000, 1, 3)
    };
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let before = rss_kib().0;
    let mut app = App::browsing(target(), false, Instant::now(), View::Jobs);
    app.update(Msg::Resize(200, 60));
    app.update(Msg::Event(Event::Jobs(
        (0..jobs)
            .map(|i| JobRow {
                id: format!("job-{i:04}"),
                state: JobState::Active,
                pool_id: Some("bigpool".into()),
                priority: 0,
                created: None,
                counts: Some(TaskCounts {
                    active: 1,
                    running: 2,
                    completed: 3,
                    succeeded: 2,
                    failed: 1,
                }),
            })
            .collect(),
    )));
    app.update(Msg::Event(Event::Pools(vec![PoolRow {
        pool: pool_view("bigpool", nodes as u32),
        task_slots: 4,
        created: None,
        nodes: Some(NodeCounts {
            running: nodes as u32 / 3,
            idle: nodes as u32 - nodes as u32 / 3,
            total: nodes as u32,
            ..NodeCounts::default()
        }),
    }])));
    let mut worst = Vec::new();
    worst.push(frames(&mut term, &mut app, &format!("{jobs} jobs"), n));

    // A pool of 1,000 nodes (the heatmap).
    let command = |app: &mut App, line: &str| {
        app.update(key(KeyCode::Char(':')).expect("key"));
        for c in line.chars() {
            app.update(key(KeyCode::Char(c)).expect("key"));
        }
        app.update(key(KeyCode::Enter).expect("key"));
    };
    command(&mut app, "pool bigpool");
    app.update(Msg::Event(Event::Pool(pool_view("bigpool", nodes as u32))));
    app.update(Msg::Event(Event::Nodes((0..nodes).map(node).collect())));
    worst.push(frames(
        &mut term,
        &mut app,
        &format!("a pool of {nodes} nodes"),
        n,
    ));

    // A job of 100,000 tasks.
    command(&mut app, "job job-0000");
    for chunk in (0..tasks).collect::<Vec<_>>().chunks(1000) {
        app.update(Msg::Event(Event::Tasks(
            chunk.iter().map(|&i| task(i)).collect(),
        )));
    }
    app.update(Msg::Event(Event::Nodes((0..nodes).map(node).collect())));
    worst.push(frames(
        &mut term,
        &mut app,
        &format!("a job of {tasks} tasks"),
        n,
    ));
    // The details of one of its tasks (i): 200 resource files behind SAS URLs, scrolled.
    app.update(key(KeyCode::Char('i')).expect("key"));
    let Some(View::Details(of)) = app.view().cloned() else {
        panic!("i did not open the details: {:?}", app.view());
    };
    let files: Vec<serde_json::Value> = (0..200)
        .map(|i| {
            serde_json::json!({
                "httpUrl": format!("https://acct.blob.core.windows.net/input/part-{i:04}.txt?sv=2022-11-02&sr=b&sp=r&sig=c2VjcmV0{i}"),
                "filePath": format!("in/part-{i:04}.txt"),
            })
        })
        .collect();
    let json = serde_json::json!({
        "id": of.to_string(),
        "state": "completed",
        "commandLine": "/bin/sh -c 'python3 work.py in/ out/'",
        "resourceFiles": files,
        "executionInfo": {"exitCode": 1, "result": "failure", "failureInfo": {
            "category": "UserError", "code": "FailureExitCode",
            "message": "The task exited with an exit code representing a failure",
            "details": [{"name": "Message", "value": "The task exited with exit code 1"}]}},
    });
    app.update(Msg::Event(Event::Details {
        of,
        properties: Some(Properties::from_service(json)),
    }));
    worst.push(frames(
        &mut term,
        &mut app,
        "the details of a task (200 resource files)",
        n,
    ));
    let (rss, peak) = rss_kib();
    println!(
        "memory of the browse session ({jobs} jobs, {nodes} nodes, {tasks} tasks): RSS {} MiB, peak {} MiB ({} MiB before)",
        rss / 1024,
        peak / 1024,
        before / 1024
    );
    let mean = worst.into_iter().max().unwrap_or_default();
    result(
        "browse: the slowest view's mean frame (1,000 jobs, 1,000 nodes, 100,000 tasks; vs 2 ms)",
        format!("{:.3} ms", mean.as_secs_f64() * 1e3),
        "2 ms",
        mean.as_secs_f64() * 1e3 / 2.0,
        "< 1.00 (under 2 ms)",
        mean < Duration::from_millis(2),
    );
    let peak_mb = peak as f64 * 1024.0 / 1e6;
    result(
        "browse: peak RSS of the session (vs 150 MB)",
        format!("{peak_mb:.1} MB"),
        "150 MB",
        peak_mb / 150.0,
        "< 1.00 (under 150 MB)",
        peak_mb < 150.0,
    );
    drop(app);

    // A 1 GiB stdout, opened in the log viewer.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = rt.block_on(async {
        let emu = common::emulator(dir.path()).await;
        let b = common::batch_client(&emu);
        common::pool_and_job(&b, "logpool", "logjob", 1, 1).await;
        let bytes = file_mib * 1024 * 1024;
        // Whole lines, then one line that only the search at the end finds.
        let bytes = bytes / 42 * 42;
        let cmd = format!(
            "/bin/sh -c 'yes \"a line of a long log, as tasks write them\" | head -c {bytes}; \
             echo The End Mark'"
        );
        b.add_tasks(
            "logjob",
            &[batchdeck::azure::models::Task {
                id: "big".into(),
                command_line: cmd,
                ..Default::default()
            }],
        )
        .await
        .expect("add the task");
        let deadline = Instant::now() + Duration::from_secs(300);
        while b
            .task_counts("logjob")
            .await
            .expect("counts")
            .task_counts
            .completed
            < 1
        {
            assert!(Instant::now() < deadline, "the task did not complete");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // What the viewer does: the length, then the last window by byte range.
        let t = Instant::now();
        let of = FilesOf::Task {
            job: "logjob".into(),
            task: "big".into(),
        };
        let mut log = Log::open(of.clone(), "stdout.txt".into());
        let len = b
            .task_file_len("logjob", "big", "stdout.txt")
            .await
            .expect("length");
        assert_eq!(len, bytes as u64 + 13);
        let from = len.saturating_sub(WINDOW);
        let text = b
            .task_file("logjob", "big", "stdout.txt", Some((from, len - 1)))
            .await
            .expect("read");
        log.apply(from, len, &String::from_utf8_lossy(&text));
        let opened = t.elapsed();
        assert!(log.line_count() > 100, "{} lines", log.line_count());
        // `n` from the start of the file for the line at its end.
        let ask = Ask::new(of, "stdout.txt".into(), "the end mark".into(), 0, true);
        let rss_before = rss_kib().0;
        let t = Instant::now();
        let found = run_search(&b, &ask, |_, _| true).await.expect("search");
        let searched = t.elapsed();
        assert_eq!(found, Found::At(len - 13));
        let rss_after = rss_kib().0;
        emu.shutdown().await;
        (opened, searched, len, rss_before, rss_after)
    });
    let (opened, searched, len, rss_before, rss_after) = opened;
    println!(
        "opening a {file_mib} MiB stdout: {:.3} s",
        opened.as_secs_f64()
    );
    println!(
        "searching a {file_mib} MiB stdout for a match at its end (n, by ranges of {} MiB): \
         {:.2} s, {:.0} MB/s; RSS {:.1} MB before, {:.1} MB after (emulator included)",
        RANGE >> 20,
        searched.as_secs_f64(),
        len as f64 / 1e6 / searched.as_secs_f64(),
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
    );
    result(
        "browse: open a 1 GiB stdout in the log viewer (vs 1 s)",
        format!("{:.3} s", opened.as_secs_f64()),
        "1 s",
        opened.as_secs_f64(),
        "< 1.00 (under 1 s)",
        opened < Duration::from_secs(1),
    );
}

fn result(what: &str, ours: String, budget: &str, ratio: f64, goal: &str, met: bool) {
    common::result("12", what, ours, budget.into(), ratio, goal, met);
}
