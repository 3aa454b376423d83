//! Deterministic states for the TUI's tests: fixed ids, sizes and times.

use std::time::{Duration, Instant};

use crate::azure::models::{
    AllocationState, NodeState, PoolState, StartTaskState, TaskExecutionResult, TaskState,
};
use crate::tui::app::{App, Msg, RunIds, Target};
use crate::workflow::events::{Event, NodeView, PoolView, Resource, Step, TaskCounts, TaskView};

pub fn ids() -> RunIds {
    RunIds {
        pool_id: "PythonTutorialPool".into(),
        job_id: "PythonTutorialJob".into(),
        containers: vec!["application".into(), "input".into(), "output".into()],
    }
}

pub fn target() -> Target {
    Target {
        batch_endpoint: "http://127.0.0.1:40123".into(),
        storage_endpoint: "http://127.0.0.1:40124/devstoreaccount1".into(),
        embedded: true,
    }
}

/// A session in a 120x36 terminal (the size of most snapshots).
pub fn new_app(t0: Instant) -> App {
    let mut app = App::new(target(), ids(), false, t0);
    app.update(Msg::Resize(120, 36));
    app
}

/// A session watching existing work (`batchdeck watch`), in a 120x36 terminal.
pub fn new_watching_app(t0: Instant) -> App {
    let mut app = App::watching(target(), ids(), false, t0);
    app.update(Msg::Resize(120, 36));
    app
}

pub fn at(app: &mut App, t0: Instant, secs: f64, e: Event) {
    app.clock(t0 + Duration::from_secs_f64(secs));
    app.update(Msg::Event(e));
}

pub fn node(i: usize, state: NodeState) -> NodeView {
    let failed = state == NodeState::StartTaskFailed;
    NodeView {
        id: format!("tvmps_{i:08x}aaaaaaaaaaaaaaaaaaaaaaaa_d"),
        start_task_state: Some(if state == NodeState::WaitingForStartTask {
            StartTaskState::Running
        } else {
            StartTaskState::Completed
        }),
        start_task_exit_code: Some(if failed { 3 } else { 0 }),
        start_task_retries: u32::from(failed),
        start_task_failure: failed
            .then(|| "FailureExitCode The task process exited with an unexpected exit code".into()),
        running_tasks: u32::from(state == NodeState::Running),
        ip: Some(format!("10.0.0.{}", 4 + i % 250)),
        vm_size: Some("standard_d1_v2".into()),
        scheduling: Some(crate::azure::models::SchedulingState::Enabled),
        state,
    }
}

pub fn task(i: usize, state: TaskState, exit: Option<i32>) -> TaskView {
    let queued = state == TaskState::Active;
    TaskView {
        id: format!("task{i}"),
        state,
        node_id: (!queued).then(|| node(i % 2, NodeState::Idle).id),
        exit_code: exit,
        retries: 0,
        requeues: 0,
        result: exit.map(|c| {
            if c == 0 {
                TaskExecutionResult::Success
            } else {
                TaskExecutionResult::Failure
            }
        }),
        failure: exit.filter(|c| *c != 0).map(|_| {
            "FailureExitCode: The task process exited with an unexpected exit code".into()
        }),
        duration_ms: (!queued).then_some(1200 + i as u64 * 10),
        started: None,
        waits: None,
    }
}

pub fn pool(current: u32, target: u32) -> PoolView {
    PoolView {
        id: "PythonTutorialPool".into(),
        state: PoolState::Active,
        allocation_state: if current == target {
            AllocationState::Steady
        } else {
            AllocationState::Resizing
        },
        vm_size: "STANDARD_D2S_V3".into(),
        target_dedicated: target,
        current_dedicated: current,
        target_low_priority: 0,
        current_low_priority: 0,
        autoscale: None,
    }
}

/// `step` finished in half a second.
pub fn done(step: Step) -> Event {
    Event::StepFinished {
        step,
        elapsed: Duration::from_millis(500),
        note: String::new(),
    }
}

/// The error of [`failed_run`]'s step 3, as the service words it.
pub const FAILED_STEP_ERROR: &str = "Batch service error 409 PoolExists: The specified pool \
     already exists.\nRequestId:0f3c9d1e-7a52-4c5b-9a8e-1d2f3b4c5d6e\n\
     Time:2026-11-30T01:02:03.0000000Z";

/// A run whose step 3 failed (a multi-line error), then cleaned up and ended.
pub fn failed_run(t0: Instant) -> App {
    let mut app = new_app(t0);
    at(
        &mut app,
        t0,
        0.0,
        Event::StepStarted(Step::CreateContainers),
    );
    at(&mut app, t0, 0.5, done(Step::CreateContainers));
    at(&mut app, t0, 0.5, Event::StepStarted(Step::Upload));
    at(&mut app, t0, 1.0, done(Step::Upload));
    at(&mut app, t0, 1.0, Event::StepStarted(Step::CreatePool));
    at(
        &mut app,
        t0,
        1.5,
        Event::StepFailed {
            step: Step::CreatePool,
            error: FAILED_STEP_ERROR.into(),
        },
    );
    at(&mut app, t0, 1.5, Event::StepStarted(Step::Cleanup));
    at(&mut app, t0, 2.0, done(Step::Cleanup));
    at(
        &mut app,
        t0,
        2.0,
        Event::Finished {
            ok: false,
            elapsed: Duration::from_secs(2),
            remaining: Vec::new(),
        },
    );
    app
}

/// A run of the tutorial in the middle of step 6: uploads done, two nodes, three tasks in
/// three states. Events arrive in time order, as they do from the workflow, which names its
/// workload first.
pub fn mid_run(t0: Instant) -> App {
    let mut app = new_app(t0);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tutorial = crate::workflow::spec::WorkloadSpec::tutorial(root).expect("the tutorial");
    at(
        &mut app,
        t0,
        0.0,
        Event::Workload(crate::workflow::plan::view(&tutorial)),
    );
    at(
        &mut app,
        t0,
        0.0,
        Event::StepStarted(Step::CreateContainers),
    );
    for c in ["application", "input", "output"] {
        at(
            &mut app,
            t0,
            0.2,
            Event::Created(Resource::Container(c.into())),
        );
    }
    at(&mut app, t0, 0.5, done(Step::CreateContainers));
    at(&mut app, t0, 1.0, Event::StepStarted(Step::Upload));
    let files = [
        ("topwords.py", 2256u64, "application"),
        ("taskdata1.txt", 1397, "input"),
        ("taskdata2.txt", 1341, "input"),
        ("taskdata3.txt", 1450, "input"),
    ];
    for (i, (file, size, container)) in files.into_iter().enumerate() {
        let s = 1.0 + i as f64 * 0.1;
        let progress = |d| Event::UploadProgress {
            file: file.into(),
            bytes_done: d,
            bytes_total: size,
        };
        at(&mut app, t0, s, progress(0));
        at(&mut app, t0, s + 0.05, progress(size / 2));
        at(
            &mut app,
            t0,
            s + 0.1,
            Event::Uploaded {
                file: file.into(),
                container: container.into(),
                blob: file.into(),
                bytes: size,
            },
        );
    }
    at(&mut app, t0, 1.5, done(Step::Upload));
    at(&mut app, t0, 2.0, Event::StepStarted(Step::CreatePool));
    at(
        &mut app,
        t0,
        2.1,
        Event::Created(Resource::Pool("PythonTutorialPool".into())),
    );
    at(&mut app, t0, 2.5, done(Step::CreatePool));
    at(&mut app, t0, 3.0, Event::StepStarted(Step::CreateJob));
    at(
        &mut app,
        t0,
        3.1,
        Event::Created(Resource::Job("PythonTutorialJob".into())),
    );
    at(&mut app, t0, 3.5, done(Step::CreateJob));
    at(&mut app, t0, 4.0, Event::StepStarted(Step::AddTasks));
    at(&mut app, t0, 4.5, done(Step::AddTasks));
    at(&mut app, t0, 5.0, Event::StepStarted(Step::Monitor));
    at(&mut app, t0, 5.1, Event::Pool(pool(2, 2)));
    at(
        &mut app,
        t0,
        5.1,
        Event::Nodes(vec![node(0, NodeState::Running), node(1, NodeState::Idle)]),
    );
    at(
        &mut app,
        t0,
        5.2,
        Event::Tasks(vec![
            task(1, TaskState::Completed, Some(0)),
            task(2, TaskState::Running, None),
            task(3, TaskState::Active, None),
        ]),
    );
    at(
        &mut app,
        t0,
        5.2,
        Event::TaskCounts(TaskCounts {
            active: 1,
            running: 1,
            completed: 1,
            succeeded: 1,
            failed: 0,
        }),
    );
    app.clock(t0 + Duration::from_secs(12));
    app
}

/// The screen drawn in a `w` x `h` terminal, as text.
pub fn screen(app: &mut App, w: u16, h: u16) -> String {
    app.update(Msg::Resize(w, h));
    let mut t =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| crate::tui::views::render(app, f)).expect("draw");
    t.backend().to_string()
}

/// A key press's actions.
pub fn press(app: &mut App, c: crossterm::event::KeyCode) -> Vec<crate::tui::app::Action> {
    app.update(Msg::Key(crossterm::event::KeyEvent::new(
        c,
        crossterm::event::KeyModifiers::NONE,
    )))
}

/// A character key's actions.
pub fn ch(app: &mut App, c: char) -> Vec<crate::tui::app::Action> {
    press(app, crossterm::event::KeyCode::Char(c))
}

/// The last notice's text ("" when there is none).
pub fn last_notice(app: &App) -> String {
    app.notices
        .back()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

pub fn key(app: &mut App, c: crossterm::event::KeyCode) {
    press(app, c);
}

/// An insta snapshot of a screen, with node ids, clocks and ports scrubbed.
macro_rules! snap {
    ($name:expr, $screen:expr) => {
        insta::with_settings!({
            filters => vec![
                // Node ids keep their width, so that columns stay aligned.
                (r"tvmps_[0-9a-f]{8}…d", "tvmps_XXXXXXXX…d"),
                (r"tvmps_[0-9a-f]{32}_d", "tvmps_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX_d"),
                (r"\b\d+:\d\d:\d\d\b", "[clock]"),
                (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
            ],
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $screen);
        });
    };
}
pub(crate) use snap;
