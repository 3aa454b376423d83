//! One frame of the full-screen view with 10,000 tasks and 100 nodes: the time to build and
//! diff it (ratatui's TestBackend, 200x60), for an unchanged state, after 1% of the tasks
//! changed (re-sort included), and while scrolling. Prints figures; asserts nothing.
//!
//! cargo bench --bench render

use std::time::{Duration, Instant};

use batchdeck::azure::models::{AllocationState, NodeState, PoolState, StartTaskState, TaskState};
use batchdeck::tui::app::{App, Msg, RunIds, Target};
use batchdeck::workflow::events::{Event, NodeView, PoolView, Step, TaskCounts, TaskView};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

mod common;
use common::{frame, report, rss_kib};

const TASKS: usize = 10_000;
const NODES: usize = 100;

fn node(i: usize) -> NodeView {
    let states = [
        NodeState::Idle,
        NodeState::Running,
        NodeState::Running,
        NodeState::Starting,
    ];
    NodeView {
        id: format!("tvmps_{i:032x}_d"),
        state: states[i % 4].clone(),
        start_task_state: Some(StartTaskState::Completed),
        start_task_exit_code: Some(0),
        start_task_retries: 0,
        start_task_failure: None,
        running_tasks: u32::from(!i.is_multiple_of(4)),
        ip: None,
        vm_size: None,
        scheduling: None,
    }
}

fn task(i: usize, round: usize) -> TaskView {
    let state = match (i + round) % 10 {
        0..=5 => TaskState::Completed,
        6..=7 => TaskState::Running,
        _ => TaskState::Active,
    };
    let (queued, done) = (state == TaskState::Active, state == TaskState::Completed);
    TaskView {
        id: format!("task-{i:06}"),
        state,
        node_id: (!queued).then(|| node(i % NODES).id),
        exit_code: done.then_some(i32::from(i.is_multiple_of(17))),
        retries: 0,
        requeues: 0,
        result: None,
        failure: None,
        duration_ms: (!queued).then_some(1000 + i as u64),
        started: None,
        waits: None,
    }
}

fn big_app() -> App {
    app_with(TASKS)
}

fn app_with(tasks: usize) -> App {
    let t0 = Instant::now();
    let mut app = App::new(
        Target {
            batch_endpoint: "http://127.0.0.1:40123".into(),
            storage_endpoint: "http://127.0.0.1:40124/devstoreaccount1".into(),
            embedded: true,
        },
        RunIds {
            pool_id: "BigPool".into(),
            job_id: "BigJob".into(),
            containers: vec!["application".into(), "input".into(), "output".into()],
        },
        false,
        t0,
    );
    app.update(Msg::Resize(200, 60));
    let mut send = |e| {
        app.update(Msg::Event(e));
    };
    send(Event::StepStarted(Step::Monitor));
    send(Event::Pool(PoolView {
        id: "BigPool".into(),
        state: PoolState::Active,
        allocation_state: AllocationState::Steady,
        vm_size: "STANDARD_D2S_V3".into(),
        target_dedicated: NODES as u32,
        current_dedicated: NODES as u32,
        target_low_priority: 0,
        current_low_priority: 0,
        autoscale: None,
    }));
    send(Event::Nodes((0..NODES).map(node).collect()));
    send(Event::Tasks((0..tasks).map(|i| task(i, 0)).collect()));
    send(Event::TaskCounts(TaskCounts {
        active: 2000,
        running: 2000,
        completed: 6000,
        succeeded: 5600,
        failed: 400,
    }));
    app
}

fn result(what: &str, ours: String, budget: String, ratio: f64, goal: &str, met: bool) {
    println!(
        "RESULT|5|{what}|{ours}|{budget}|{ratio:.2}|{goal}|{}",
        if met { "yes" } else { "no" }
    );
}

fn main() {
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    // `cargo test --all-targets` runs this too (without --bench): one frame as a smoke test.
    if !std::env::args().any(|a| a == "--bench") {
        frame(&mut term, &mut big_app(), None);
        return;
    }
    // Memory first, in a fresh process: 100,000 tasks held by the monitor (its last view of
    // each task) and by the session, and drawn.
    let before = rss_kib().0;
    let mut watcher = batchdeck::watch::JobTasks::default();
    for chunk in (0..100_000).collect::<Vec<usize>>().chunks(1000) {
        let page: Vec<batchdeck::azure::models::Task> = chunk
            .iter()
            .map(|&i| {
                let v = task(i, 0);
                batchdeck::azure::models::Task {
                    id: v.id,
                    state: Some(v.state),
                    state_transition_time: Some(chrono::Utc::now()),
                    ..Default::default()
                }
            })
            .collect();
        watcher.absorb(&page);
    }
    let mut huge = app_with(100_000);
    frame(&mut term, &mut huge, None);
    let (rss, peak) = rss_kib();
    println!(
        "memory with 100000 tasks (monitor + session): RSS {} MiB (peak {} MiB; {} MiB before)",
        rss / 1024,
        peak / 1024,
        before / 1024
    );
    result(
        "memory of the monitor and session state and a frame with 100,000 tasks (peak RSS vs 100 MB)",
        format!("{:.1} MB", peak as f64 * 1024.0 / 1e6),
        "100 MB".into(),
        peak as f64 * 1024.0 / 1e8,
        "< 1.00 (under 100 MB)",
        (peak as f64 * 1024.0) < 1e8,
    );
    drop(huge);
    drop(watcher);
    let mut app = big_app();
    for _ in 0..20 {
        frame(&mut term, &mut app, None);
    }
    println!("render: {TASKS} tasks, {NODES} nodes, 200x60 cells");

    let v = (0..500).map(|_| frame(&mut term, &mut app, None)).collect();
    report("frame, nothing changed", v);

    // 1% of the tasks change state between frames (re-sorted by state).
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('s'),
        KeyModifiers::NONE,
    )));
    let mut v = Vec::new();
    for round in 1..=200 {
        let changed = (0..TASKS / 100)
            .map(|k| task((k * 97 + round * 13) % TASKS, round))
            .collect();
        let msg = Msg::Event(Event::Tasks(changed));
        v.push(frame(&mut term, &mut app, Some(msg)));
    }
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    report("frame after 1% of tasks changed (sorted)", v);
    result(
        "render a frame of 10,000 tasks and 100 nodes after 1% changed, mean (vs a 2 ms budget)",
        format!("{:.3} ms", mean.as_secs_f64() * 1e3),
        "2 ms".into(),
        mean.as_secs_f64() * 1e3 / 2.0,
        "< 1.00 (under 2 ms)",
        mean < Duration::from_millis(2),
    );

    // Scrolling: one row down per frame, then page down.
    let down = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
    let v = (0..500)
        .map(|_| frame(&mut term, &mut app, Some(Msg::Key(down))))
        .collect();
    report("frame per row scrolled", v);
    let pgdn = KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE);
    let v = (0..200)
        .map(|_| frame(&mut term, &mut app, Some(Msg::Key(pgdn))))
        .collect();
    report("frame per page scrolled", v);
    drop(app);

    // Attached to a job of 100,000 tasks (`batchdeck watch`): the frames of that session.
    const HUGE: usize = 100_000;
    let mut app = app_with(HUGE);
    app.mode = batchdeck::tui::app::Mode::Watch;
    app.steps.clear();
    for _ in 0..20 {
        frame(&mut term, &mut app, None);
    }
    let v: Vec<Duration> = (0..200).map(|_| frame(&mut term, &mut app, None)).collect();
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    report("watching 100,000 tasks: frame, nothing changed", v);
    result(
        "render a frame of a session watching 100,000 tasks, nothing changed, mean (vs a 2 ms budget)",
        format!("{:.3} ms", mean.as_secs_f64() * 1e3),
        "2 ms".into(),
        mean.as_secs_f64() * 1e3 / 2.0,
        "< 1.00 (under 2 ms)",
        mean < Duration::from_millis(2),
    );
    let v = (0..200)
        .map(|_| frame(&mut term, &mut app, Some(Msg::Key(down))))
        .collect();
    report("watching 100,000 tasks: frame per row scrolled", v);
    // 100 tasks change between frames, as a refresh of a busy job brings them.
    let v = (1..=100)
        .map(|round| {
            let changed = (0..100)
                .map(|k| task((k * 997 + round * 13) % HUGE, round))
                .collect();
            frame(&mut term, &mut app, Some(Msg::Event(Event::Tasks(changed))))
        })
        .collect();
    report("watching 100,000 tasks: frame after 100 changed", v);
}
