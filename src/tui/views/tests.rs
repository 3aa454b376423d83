//! Screen snapshots of every panel and overlay (TestBackend + insta). States are built from
//! fixed events; node ids, times and ports are scrubbed all the same, so that a snapshot shows
//! layout and content, not the clock.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::azure::models::{NodeState, TaskState};
use crate::tui::app::{App, Msg};
use crate::tui::testing::*;
use crate::tui::views::render;
use crate::workflow::events::{Event, Resource, Step, TaskCounts, TaskFile};

fn screen(app: &mut App, w: u16, h: u16) -> String {
    app.update(Msg::Resize(w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| render(app, f)).expect("draw");
    t.backend().to_string()
}

fn key(app: &mut App, c: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

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

#[test]
fn mid_run_full_screen() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    snap!("mid_run", screen(&mut app, 120, 36));
}

#[test]
fn finished_run_with_output_preview() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        6.0,
        Event::Tasks(vec![
            task(2, TaskState::Completed, Some(0)),
            task(3, TaskState::Completed, Some(1)),
        ]),
    );
    at(
        &mut app,
        t0,
        6.0,
        Event::TaskCounts(TaskCounts {
            active: 0,
            running: 0,
            completed: 3,
            succeeded: 2,
            failed: 1,
        }),
    );
    for s in [
        Step::Monitor,
        Step::Download,
        Step::DeleteContainers,
        Step::Cleanup,
    ] {
        at(&mut app, t0, 7.0, Event::StepStarted(s));
        at(
            &mut app,
            t0,
            7.5,
            Event::StepFinished {
                step: s,
                elapsed: Duration::from_millis(300),
                note: if s == Step::Cleanup {
                    "job kept, pool kept".into()
                } else {
                    String::new()
                },
            },
        );
    }
    at(&mut app, t0, 7.2, Event::Output {
        task_id: "task1".into(),
        path: "batchdeck-output/task1_OUTPUT.txt".into(),
        text: "node n\ntask task1\njob PythonTutorialJob\npool PythonTutorialPool\nthe 47\nand 17\nships 9\n".into(),
    });
    at(
        &mut app,
        t0,
        8.0,
        Event::Finished {
            ok: true,
            elapsed: Duration::from_secs(8),
            remaining: vec![
                Resource::Job("PythonTutorialJob".into()),
                Resource::Pool("PythonTutorialPool".into()),
            ],
        },
    );
    snap!("finished", screen(&mut app, 120, 36));
}

#[test]
fn failed_task_tail_of_stdout_and_stderr() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        6.0,
        Event::Tasks(vec![task(3, TaskState::Completed, Some(2))]),
    );
    key(&mut app, KeyCode::End); // select task3
    at(
        &mut app,
        t0,
        6.5,
        Event::TaskFileTail {
            task_id: "task3".into(),
            file: TaskFile::Stdout,
            from: 0,
            len: 24,
            text: "reading taskdata3.txt\n".into(),
        },
    );
    at(
        &mut app,
        t0,
        6.5,
        Event::TaskFileTail {
            task_id: "task3".into(),
            file: TaskFile::Stderr,
            from: 0,
            len: 60,
            text: "topwords: taskdata3.txt is not UTF-8 text (invalid start byte at byte 3)\n"
                .into(),
        },
    );
    key(&mut app, KeyCode::Tab); // focus the preview
    snap!("failed_task_preview", screen(&mut app, 120, 36));
}

#[test]
fn start_task_failure_with_stderr() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        6.0,
        Event::Nodes(vec![
            node(0, NodeState::StartTaskFailed),
            node(1, NodeState::StartTaskFailed),
        ]),
    );
    at(
        &mut app,
        t0,
        6.5,
        Event::NodeStderr {
            node_id: node(0, NodeState::Idle).id,
            text: "cp: cannot stat 'topwords.py': No such file or directory\n".into(),
        },
    );
    snap!("start_task_failed", screen(&mut app, 120, 36));
}

#[test]
fn many_nodes_become_a_heatmap() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let states = [
        NodeState::Idle,
        NodeState::Running,
        NodeState::Starting,
        NodeState::StartTaskFailed,
    ];
    let nodes = (0..100)
        .map(|i| node(i, states[(i * 7 / 5) % 4].clone()))
        .collect();
    at(&mut app, t0, 6.0, Event::Pool(pool(100, 100)));
    at(&mut app, t0, 6.0, Event::Nodes(nodes));
    snap!("heatmap", screen(&mut app, 120, 36));
}

#[test]
fn tasks_sorted_and_filtered() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let tasks = (1..=40)
        .map(|i| match i % 4 {
            0 => task(i, TaskState::Completed, Some(1)),
            1 => task(i, TaskState::Completed, Some(0)),
            2 => task(i, TaskState::Running, None),
            _ => task(i, TaskState::Active, None),
        })
        .collect();
    at(&mut app, t0, 6.0, Event::Tasks(tasks));
    key(&mut app, KeyCode::Char('s')); // sort by state
    key(&mut app, KeyCode::Char('/'));
    for c in "task1".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    snap!("tasks_filter_typing", screen(&mut app, 120, 36));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('S'));
    snap!("tasks_filtered_sorted_desc", screen(&mut app, 120, 36));
}

#[test]
fn help_overlay() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    key(&mut app, KeyCode::Char('?'));
    snap!("help", screen(&mut app, 120, 40));
}

#[test]
fn delete_pool_confirmation() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('P'),
        KeyModifiers::SHIFT,
    )));
    snap!("confirm_delete_pool", screen(&mut app, 100, 30));
}

#[test]
fn quit_dialog_lists_what_remains() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    key(&mut app, KeyCode::Char('q'));
    snap!("quit_dialog", screen(&mut app, 100, 30));
}

#[test]
fn end_of_run_question() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.update(Msg::Ask(Resource::Pool("PythonTutorialPool".into())));
    snap!("ask_delete_pool", screen(&mut app, 100, 30));
}

#[test]
fn details_of_a_task_and_a_node() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    key(&mut app, KeyCode::Enter);
    snap!("task_details", screen(&mut app, 100, 30));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::BackTab); // the nodes panel
    at(
        &mut app,
        t0,
        6.0,
        Event::Nodes(vec![
            node(0, NodeState::StartTaskFailed),
            node(1, NodeState::Idle),
        ]),
    );
    at(
        &mut app,
        t0,
        6.5,
        Event::NodeStderr {
            node_id: node(0, NodeState::Idle).id,
            text: "line one\ndisk quota exceeded\n".into(),
        },
    );
    key(&mut app, KeyCode::Enter);
    snap!("node_details", screen(&mut app, 100, 30));
}

#[test]
fn resize_prompt() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('R'),
        KeyModifiers::SHIFT,
    )));
    key(&mut app, KeyCode::Char('4'));
    snap!("resize_prompt", screen(&mut app, 100, 30));
}

#[test]
fn terminal_too_small() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    snap!("too_small", screen(&mut app, 60, 16));
}

#[test]
fn the_minimum_size_still_shows_every_panel() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let s = screen(&mut app, 80, 24);
    for title in ["Steps", "Pool", "Uploads", "Tasks", "Preview", "? help"] {
        assert!(s.contains(title), "{title} missing at 80x24:\n{s}");
    }
    snap!("minimum_size", s);
}
