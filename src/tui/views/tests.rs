//! Screen snapshots of every panel and overlay (TestBackend + insta). States are built from
//! fixed events; node ids, times and ports are scrubbed all the same, so that a snapshot shows
//! layout and content, not the clock.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::azure::models::{NodeState, TaskState};
use crate::tui::app::{App, Msg};
use crate::tui::testing::*;
use crate::workflow::events::{AutoscaleView, Event, Resource, Step, TaskCounts, TaskFile};

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
fn autoscale_evaluation_in_the_pool_panel() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let mut p = pool(2, 2);
    p.autoscale = Some(AutoscaleView {
        evaluated: "14:30:00".into(),
        results: "$TargetDedicatedNodes=2;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;tasks=5".into(),
        error: Some("InsufficientSampleData: Line 1, Col 41: Insufficient data from data set: $CPUPercent wanted 10%, received 5%".into()),
    });
    at(&mut app, t0, 6.0, Event::Pool(p));
    snap!("autoscale_evaluation", screen(&mut app, 120, 36));
    // Enter on the pool panel: the details show every value and the whole error.
    app.focus = crate::tui::app::Panel::Nodes;
    key(&mut app, KeyCode::Enter);
    snap!("autoscale_details", screen(&mut app, 120, 36));
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

fn shift(app: &mut App, c: char) {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::SHIFT,
    )));
}

/// The status line (the last row) of a `w`-column screen.
fn status_line(app: &mut App, w: u16) -> String {
    let s = screen(app, w, 36);
    s.lines().last().expect("rows").to_string()
}

#[test]
fn notices_are_never_dropped_for_the_hints() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    // r on a completed task (task1 is selected).
    key(&mut app, KeyCode::Char('r'));
    let s = status_line(&mut app, 120);
    assert!(
        s.contains("Task task1 did not fail: only failed tasks can be retried"),
        "{s}"
    );
    assert!(!s.contains("? help"), "the hints gave way: {s}");
    // R, a count, Enter: the service accepted it.
    shift(&mut app, 'R');
    key(&mut app, KeyCode::Char('5'));
    key(&mut app, KeyCode::Enter);
    at(
        &mut app,
        t0,
        13.0,
        Event::Resized {
            pool_id: "PythonTutorialPool".into(),
            target: 5,
        },
    );
    let s = status_line(&mut app, 120);
    assert!(
        s.contains("Pool PythonTutorialPool resizing to 5 nodes"),
        "{s}"
    );
    // A read-only session's refusals, even at the minimum width (cut, not dropped).
    app.readonly = true;
    shift(&mut app, 'J');
    let s = status_line(&mut app, 120);
    assert!(
        s.contains("Read-only session (--readonly): deleting the job is disabled"),
        "{s}"
    );
    shift(&mut app, 'R');
    let s = status_line(&mut app, 80);
    assert!(s.contains("Read-only session (--reado"), "{s}");
    // With no notice the hints are back.
    app.update(Msg::Tick(t0 + Duration::from_secs(60)));
    assert!(status_line(&mut app, 120).contains("? help  q quit"));
}

#[test]
fn changes_in_flight_show_on_the_status_line() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.update(Msg::Working(vec!["delete pool PythonTutorialPool".into()]));
    let s = status_line(&mut app, 120);
    assert!(
        s.contains("working: delete pool PythonTutorialPool…"),
        "{s}"
    );
    app.update(Msg::Working(Vec::new()));
    assert!(!status_line(&mut app, 120).contains("working"));
}

#[test]
fn a_failed_step_shows_its_error_on_the_panel_and_the_status_line() {
    let t0 = Instant::now();
    let mut app = failed_run(t0);
    let s = screen(&mut app, 120, 36);
    assert!(s.contains("PoolExists: The specified"), "{s}");
    assert!(
        s.lines()
            .last()
            .unwrap()
            .contains("Run FAILED at step 3 (Create pool): Batch service error 409 PoolExists"),
        "{s}"
    );
    snap!("failed_step", s);
    // Once the notice is gone, the status line still carries the error.
    app.update(Msg::Tick(t0 + Duration::from_secs(60)));
    let s = status_line(&mut app, 120);
    assert!(
        s.contains("Create pool failed: Batch service error 409 PoolExists"),
        "{s}"
    );
    // Enter on the steps panel shows all of it.
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 120, 36);
    assert!(s.contains("Time:2026-11-30T01:02:03.0000000Z"), "{s}");
    snap!("failed_step_details", s);
}

#[test]
fn too_small_with_the_quit_dialog() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.update(Msg::Resize(60, 16));
    key(&mut app, KeyCode::Char('q'));
    let s = screen(&mut app, 60, 16);
    assert!(
        s.contains("Quit batchdeck?") && s.contains("[k] Keep them and quit"),
        "{s}"
    );
    snap!("too_small_quit", s);
}

#[test]
fn the_preview_shows_the_lines_scrolled_to() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    key(&mut app, KeyCode::Char('j')); // task2, running
    let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    at(
        &mut app,
        t0,
        13.0,
        Event::TaskFileTail {
            task_id: "task2".into(),
            file: TaskFile::Stdout,
            from: 0,
            len: text.len() as u64,
            text,
        },
    );
    let s = screen(&mut app, 120, 36);
    assert!(
        s.contains("line 100") && s.contains("end, following"),
        "{s}"
    );
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('g'));
    let s = screen(&mut app, 120, 36);
    assert!(s.contains("line 1 ") && !s.contains("line 100"), "{s}");
    assert!(s.contains("lines 1-7 of 100"), "{s}");
}

#[test]
fn reconnecting_on_the_status_line() {
    use crate::workflow::events::Health;
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        10.0,
        Event::Health(Health::Reconnecting {
            attempt: 4,
            error: "Connection refused (os error 111)".into(),
            retry_in: Duration::from_secs(4),
        }),
    );
    let s = screen(&mut app, 170, 36);
    let status = s.lines().nth(35).unwrap();
    assert!(
        status.contains(
            "reconnecting to Batch (attempt 4, last error Connection refused (os error 111))"
        ),
        "{status}"
    );
    // Narrower: the short form stays.
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("reconnecting to Batch (attempt 4)"), "{s}");
}

#[test]
fn the_preview_expands_tabs() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        7.2,
        Event::Output {
            task_id: "task1".into(),
            path: "batchdeck-output/counts/a.counts".into(),
            text: "the\t47\nand\t6\nwhale\t\t1\n".into(),
        },
    );
    let s = screen(&mut app, 120, 36);
    // To the next stop of every 8 columns: a cell cannot hold a tab (it was dropped: "and6").
    assert!(s.contains("│the     47"), "{s}");
    assert!(s.contains("│and     6 "), "{s}");
    assert!(s.contains("│whale           1"), "{s}");
}

/// A run names its steps and the steps panel from its workload, and Enter on a step shows
/// what the run said during it.
#[test]
fn the_steps_are_named_from_the_workload_and_show_what_the_run_said() {
    use crate::workflow::events::WorkloadView;
    let t0 = Instant::now();
    let mut app = new_app(t0);
    let steps: Vec<String> = Step::ALL.iter().map(|s| s.title().to_string()).collect();
    let mut steps = steps;
    steps[2] = "Create pool WordCountPool".into();
    steps[4] = "Add count ×5, total".into();
    at(
        &mut app,
        t0,
        0.0,
        Event::Workload(WorkloadView {
            name: "wordcount".into(),
            pool_id: "WordCountPool".into(),
            job_id: "WordCountJob".into(),
            containers: vec!["wc-app".into(), "wc-input".into(), "wc-output".into()],
            groups: vec![("count".into(), 5), ("total".into(), 1)],
            steps,
        }),
    );
    at(
        &mut app,
        t0,
        0.1,
        Event::StepStarted(Step::CreateContainers),
    );
    at(
        &mut app,
        t0,
        0.2,
        Event::Info("Container [wc-app] created".into()),
    );
    at(&mut app, t0, 0.3, done(Step::CreateContainers));
    at(&mut app, t0, 0.4, Event::StepStarted(Step::Upload));
    at(
        &mut app,
        t0,
        0.5,
        Event::Info("Uploading file data/a.txt...".into()),
    );
    let s = screen(&mut app, 120, 36);
    assert!(s.contains("┌ Steps · wordcount "), "{s}");
    // The uploads and tasks panels too: where step 2 uploads (as much as the panel has room
    // for), whose tasks and which groups.
    assert!(s.contains("┌ Uploads 0/0 files to wc-app, w"), "{s}");
    assert!(
        s.contains("┌ Tasks 0 · WordCountJob: count ×5, total "),
        "{s}"
    );
    assert!(s.contains("· 3 Create pool WordCountPool"), "{s}");
    assert!(s.contains("· 5 Add count ×5, total"), "{s}");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab); // the steps panel, on step 1
    key(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 120, 36);
    assert!(s.contains("what it said:"), "{s}");
    assert!(s.contains("Container [wc-app] created"), "{s}");
    assert!(
        !s.contains("Uploading file"),
        "step 2's line is step 2's: {s}"
    );
}
