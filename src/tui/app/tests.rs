//! `App::update` without a terminal: keys in, actions out.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::azure::models::{NodeState, TaskState};
use crate::tui::testing::*;
use crate::watch::{PreviewTarget, TAIL_BYTES};
use crate::workflow::events::TaskFile;

fn shift(app: &mut App, c: char) -> Vec<Action> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::SHIFT,
    )))
}

fn dialog(app: &App) -> &Dialog {
    match &app.overlay {
        Some(Overlay::Dialog(d)) => d,
        other => panic!("expected a dialog, got {other:?}"),
    }
}

fn pool_r() -> Resource {
    Resource::Pool("PythonTutorialPool".into())
}

fn job_r() -> Resource {
    Resource::Job("PythonTutorialJob".into())
}

#[test]
fn delete_dialogs_start_on_cancel_and_only_an_explicit_choice_deletes() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    assert!(shift(&mut app, 'P').is_empty(), "a key alone never deletes");
    let d = dialog(&app);
    assert_eq!(d.focused, 0);
    assert_eq!(d.buttons[0].outcome, Outcome::Cancel);
    // Enter takes the focused button: Cancel.
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert!(app.overlay.is_none());
    // Esc and q cancel too.
    shift(&mut app, 'P');
    assert!(press(&mut app, KeyCode::Esc).is_empty());
    shift(&mut app, 'P');
    assert!(ch(&mut app, 'q').is_empty());
    assert!(
        app.overlay.is_none(),
        "q in a dialog cancels it, it does not quit"
    );
    // Moving to Delete and pressing Enter deletes; so does y.
    shift(&mut app, 'P');
    press(&mut app, KeyCode::Right);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Action::Run(Command::DeletePool(
            "PythonTutorialPool".into()
        ))]
    );
    shift(&mut app, 'J');
    assert_eq!(
        ch(&mut app, 'y'),
        vec![Action::Run(Command::DeleteJob("PythonTutorialJob".into()))]
    );
    shift(&mut app, 'C');
    assert_eq!(
        ch(&mut app, 'y'),
        vec![Action::Run(Command::DeleteContainers(vec![
            "application".into(),
            "input".into(),
            "output".into()
        ]))]
    );
    // Containers being deleted are not offered again.
    shift(&mut app, 'C');
    assert!(app.overlay.is_none());
    assert!(
        app.notices
            .back()
            .unwrap()
            .text
            .contains("No containers to delete")
    );
}

#[test]
fn readonly_sessions_refuse_every_change() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.readonly = true;
    for c in ['J', 'P', 'C', 'R'] {
        assert!(shift(&mut app, c).is_empty());
        assert!(
            app.overlay.is_none() && app.entry.is_none(),
            "{c} opened something"
        );
        assert!(app.notices.back().unwrap().text.contains("--readonly"));
    }
    at(
        &mut app,
        t0,
        6.0,
        Event::Tasks(vec![task(1, TaskState::Completed, Some(2))]),
    );
    assert!(ch(&mut app, 'r').is_empty());
    // The run's own question is answered "keep" at once.
    assert_eq!(app.update(Msg::Ask(pool_r())), vec![Action::Answer(false)]);
    // Quitting offers no deletion.
    ch(&mut app, 'q');
    assert!(
        dialog(&app)
            .buttons
            .iter()
            .all(|b| b.outcome != Outcome::QuitDelete)
    );
}

#[test]
fn deleting_nothing_says_so() {
    let t0 = Instant::now();
    let mut app = new_app(t0);
    shift(&mut app, 'P');
    assert!(app.overlay.is_none());
    assert!(
        app.notices
            .back()
            .unwrap()
            .text
            .contains("No pool to delete")
    );
}

#[test]
fn the_workflow_question_is_asked_with_keep_first_and_answered() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    assert!(app.update(Msg::Ask(job_r())).is_empty());
    assert_eq!(dialog(&app).buttons[0].outcome, Outcome::Answer(false));
    assert_eq!(press(&mut app, KeyCode::Enter), vec![Action::Answer(false)]);
    app.update(Msg::Ask(pool_r()));
    assert_eq!(ch(&mut app, 'y'), vec![Action::Answer(true)]);
    // A question about something already deleted by hand needs no dialog.
    at(&mut app, t0, 7.0, Event::Deleted(job_r()));
    assert_eq!(app.update(Msg::Ask(job_r())), vec![Action::Answer(true)]);
    assert!(app.overlay.is_none());
}

#[test]
fn a_question_waits_until_the_help_is_closed() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    ch(&mut app, '?');
    app.update(Msg::Ask(pool_r()));
    assert_eq!(app.overlay, Some(Overlay::Help(0)));
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.overlay, Some(Overlay::Dialog(_))));
}

#[test]
fn quitting_with_resources_left_asks_and_keep_quits_at_once() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    assert!(ch(&mut app, 'q').is_empty());
    let d = dialog(&app);
    assert_eq!(d.buttons[0].outcome, Outcome::Cancel);
    assert!(
        d.lines
            .iter()
            .any(|l| l.contains("pool PythonTutorialPool"))
    );
    assert!(d.lines[0].contains("step 6/9"), "{:?}", d.lines);
    assert_eq!(
        ch(&mut app, 'k'),
        vec![Action::CancelWorkflow, Action::Quit]
    );
    assert!(app.quit);
}

#[test]
fn delete_and_quit_waits_for_every_deletion_to_be_accepted() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    ch(&mut app, 'q');
    let actions = ch(&mut app, 'd');
    assert_eq!(actions[0], Action::CancelWorkflow);
    assert_eq!(
        actions[1..].to_vec(),
        vec![
            Action::Run(Command::DeleteJob("PythonTutorialJob".into())),
            Action::Run(Command::DeletePool("PythonTutorialPool".into())),
            Action::Run(Command::DeleteContainers(vec![
                "application".into(),
                "input".into(),
                "output".into()
            ])),
        ]
    );
    assert!(!app.quit);
    at(&mut app, t0, 7.0, Event::Deleting(job_r()));
    at(&mut app, t0, 7.0, Event::Deleting(pool_r()));
    assert!(!app.quit, "containers are not gone yet");
    for c in ["application", "input", "output"] {
        app.clock(t0 + Duration::from_secs(8));
        let a = app.update(Msg::Event(Event::Deleted(Resource::Container(c.into()))));
        if c == "output" {
            assert_eq!(a, vec![Action::Quit]);
        }
    }
    assert!(app.quit);
}

/// A change the controller held behind another for its target, or dropped as the same, is a
/// notice, not silence; the run's screen shows it.
#[test]
fn a_held_change_is_a_notice() {
    use crate::workflow::events::Held;
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let resize =
        |n: u32| format!("resize pool PythonTutorialPool to {n} dedicated and 0 spot nodes");
    at(
        &mut app,
        t0,
        7.0,
        Event::Held {
            what: resize(5),
            how: Held::Waiting {
                behind: resize(3),
                replaced: Some(resize(4)),
            },
        },
    );
    let n = app.notices.back().expect("a notice");
    assert_eq!(
        n.text,
        format!(
            "{}: waits for {}, instead of {}",
            resize(5),
            resize(3),
            resize(4)
        )
    );
    assert!(!n.error);
    at(
        &mut app,
        t0,
        8.0,
        Event::Held {
            what: "delete pool PythonTutorialPool".into(),
            how: Held::InProgress,
        },
    );
    let text = "delete pool PythonTutorialPool: already in progress";
    assert_eq!(last_notice(&app), text);
    assert!(screen(&mut app, 120, 36).contains(text));
}

#[test]
fn a_failed_deletion_cancels_the_quit() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    ch(&mut app, 'q');
    ch(&mut app, 'd');
    at(
        &mut app,
        t0,
        7.0,
        Event::CommandFailed {
            what: "delete pool PythonTutorialPool".into(),
            error: "403 AuthorizationFailure".into(),
        },
    );
    assert!(app.quit_after.is_none() && !app.quit);
    assert!(app.notices.iter().any(|n| n.text.contains("Not quitting")));
}

#[test]
fn quitting_after_everything_is_gone_needs_no_dialog() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        9.0,
        Event::Finished {
            ok: true,
            elapsed: Duration::from_secs(9),
            remaining: Vec::new(),
        },
    );
    assert!(app.present().is_empty());
    assert_eq!(ch(&mut app, 'q'), vec![Action::Quit]);
}

#[test]
fn ctrl_c_stops_the_run_and_quits_at_once_even_while_typing() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    ch(&mut app, '/');
    let a = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert_eq!(a, vec![Action::CancelWorkflow, Action::Quit]);
    assert!(app.quit && app.interrupted);
}

#[test]
fn filter_sort_and_selection() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let tasks = (1..=30)
        .map(|i| {
            task(
                i,
                if i % 3 == 0 {
                    TaskState::Completed
                } else {
                    TaskState::Running
                },
                (i % 3 == 0).then_some(i as i32 % 2),
            )
        })
        .collect();
    at(&mut app, t0, 6.0, Event::Tasks(tasks));
    assert_eq!(app.tasks.order.len(), 30);
    // Natural order: task2 before task10.
    let ids: Vec<&str> = app
        .tasks
        .order
        .iter()
        .map(|&i| app.tasks.rows[i].id.as_str())
        .collect();
    assert_eq!(&ids[..3], ["task1", "task2", "task3"]);
    // Typing filters as you go; Esc clears.
    ch(&mut app, '/');
    for c in "task2".chars() {
        ch(&mut app, c);
    }
    assert_eq!(app.tasks.order.len(), 11, "task2 and task20-29");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.tasks.order.len(), 30);
    // "failed" finds failed tasks.
    ch(&mut app, '/');
    for c in "failed".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    assert!(
        app.tasks
            .order
            .iter()
            .all(|&i| task_failed(&app.tasks.rows[i]))
    );
    assert_eq!(app.tasks.order.len(), 5);
    press(&mut app, KeyCode::Esc);
    // Sort by state, then reverse.
    ch(&mut app, 's');
    assert_eq!(app.sort, SortKey::State);
    assert_eq!(app.tasks.rows[app.tasks.order[0]].state, TaskState::Running);
    ch(&mut app, 'S');
    assert_eq!(
        app.tasks.rows[app.tasks.order[0]].state,
        TaskState::Completed
    );
    // The selection follows the task, not the row, when the order changes.
    press(&mut app, KeyCode::Home);
    let first = app.selected_task.clone();
    ch(&mut app, 'S');
    assert_eq!(app.selected_task, first);
    assert_eq!(app.selected_index(), Some(29));
    // j/k and End move within bounds.
    press(&mut app, KeyCode::End);
    ch(&mut app, 'j');
    assert_eq!(app.selected_index(), Some(29));
    ch(&mut app, 'k');
    assert_eq!(app.selected_index(), Some(28));
}

#[test]
fn the_selected_task_is_the_preview_target_from_where_its_files_were_read() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    // task1 (completed, no output file yet) is selected; moving to task2 (running) makes it
    // the watcher's preview target from byte 0 of both files, and asks nothing else.
    let a = ch(&mut app, 'j');
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(
        app.preview_target(),
        Some(PreviewTarget {
            job_id: "PythonTutorialJob".into(),
            task_id: "task2".into(),
            from: [0, 0],
            state: Some(TaskState::Running),
        })
    );
    at(
        &mut app,
        t0,
        12.5,
        Event::TaskFileTail {
            task_id: "task2".into(),
            file: TaskFile::Stdout,
            from: 0,
            len: 6,
            text: "hello\n".into(),
        },
    );
    at(
        &mut app,
        t0,
        15.5,
        Event::TaskFileTail {
            task_id: "task2".into(),
            file: TaskFile::Stdout,
            from: 6,
            len: 12,
            text: "world\n".into(),
        },
    );
    assert_eq!(
        app.previews.get("task2").unwrap().stdout.text,
        "hello\nworld\n"
    );
    // Coming back to it later starts where the preview stopped.
    ch(&mut app, 'k');
    ch(&mut app, 'j');
    assert_eq!(app.preview_target().unwrap().from, [12, 0]);
    // Ticks never ask for files (the watcher reads them).
    assert!(
        app.update(Msg::Tick(t0 + Duration::from_secs(16)))
            .is_empty()
    );
    // Once the output file is downloaded it is shown instead: nothing to read.
    at(
        &mut app,
        t0,
        16.5,
        Event::Output {
            task_id: "task2".into(),
            path: "out/task2_OUTPUT.txt".into(),
            text: "the 3\n".into(),
        },
    );
    assert_eq!(app.preview_target(), None);
}

#[test]
fn tails_stay_bounded_and_survive_gaps() {
    let mut t = Tail::default();
    let chunk = "x".repeat(10_000);
    let mut at = 0;
    for _ in 0..10 {
        t.append(at, at + 10_000, &chunk);
        at += 10_000;
    }
    assert!(t.text.len() as u64 <= TAIL_BYTES);
    assert_eq!(t.len, 100_000);
    // A read that does not start where the last one ended replaces the text.
    t.append(150_000, 150_005, "fresh");
    assert_eq!(t.text, "fresh");
    // Multi-byte text is cut on a character boundary.
    let mut u = Tail::default();
    u.append(0, 3 * 20_000, &"é".repeat(20_000));
    assert!(u.text.chars().all(|c| c == 'é'));
}

#[test]
fn a_failed_start_task_fetches_its_stderr_once() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.clock(t0 + Duration::from_secs(13));
    let a = app.update(Msg::Event(Event::Nodes(vec![
        node(0, NodeState::StartTaskFailed),
        node(1, NodeState::Idle),
    ])));
    assert_eq!(
        a,
        vec![Action::Run(Command::NodeStderr {
            pool_id: "PythonTutorialPool".into(),
            node_id: node(0, NodeState::Idle).id,
        })]
    );
    let again = app.update(Msg::Event(Event::Nodes(vec![node(
        0,
        NodeState::StartTaskFailed,
    )])));
    assert!(again.is_empty());
}

#[test]
fn retry_only_failed_tasks() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    // task1 succeeded.
    assert!(ch(&mut app, 'r').is_empty());
    at(
        &mut app,
        t0,
        6.0,
        Event::Tasks(vec![task(1, TaskState::Completed, Some(3))]),
    );
    assert_eq!(
        ch(&mut app, 'r'),
        vec![Action::Run(Command::ReactivateTask {
            job_id: "PythonTutorialJob".into(),
            task_id: "task1".into(),
        })]
    );
}

#[test]
fn resize_takes_a_number() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    shift(&mut app, 'R');
    for c in ['x', '1', '2'] {
        ch(&mut app, c);
    }
    assert_eq!(
        app.entry,
        Some(Entry::Resize("12".into())),
        "letters are ignored"
    );
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Action::Run(Command::ResizePool {
            pool_id: "PythonTutorialPool".into(),
            target: 12,
            spot: 0,
        })]
    );
    shift(&mut app, 'R');
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert!(app.notices.back().unwrap().error);
}

#[test]
fn idle_ticks_do_not_ask_for_frames() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        9.0,
        Event::Finished {
            ok: true,
            elapsed: Duration::from_secs(9),
            remaining: vec![pool_r()],
        },
    );
    app.update(Msg::Tick(t0 + Duration::from_secs(60)));
    app.dirty = false;
    assert!(!app.wants_ticks(), "nothing moves: no ticks needed");
    app.update(Msg::Tick(t0 + Duration::from_secs(61)));
    assert!(!app.dirty, "a tick that changes nothing draws nothing");
    // While running, the clock redraws once a second, not on every tick.
    let mut running = mid_run(t0);
    running.update(Msg::Tick(t0 + Duration::from_millis(20_100)));
    running.dirty = false;
    running.update(Msg::Tick(t0 + Duration::from_millis(20_350)));
    assert!(!running.dirty);
    running.update(Msg::Tick(t0 + Duration::from_millis(21_000)));
    assert!(running.dirty);
}

#[test]
fn natural_order_of_ids() {
    let mut v = vec![
        "task10", "task9", "task1", "a", "task010", "task2b", "task2a",
    ];
    v.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(
        v,
        [
            "a", "task1", "task2a", "task2b", "task9", "task10", "task010"
        ]
    );
}

#[test]
fn the_table_scroll_and_page_follow_the_terminal_size() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let tasks = (1..=100)
        .map(|i| task(i, TaskState::Running, None))
        .collect();
    at(&mut app, t0, 6.0, Event::Tasks(tasks));
    app.update(Msg::Resize(120, 36));
    let page = app.page();
    assert!(page > 5, "{page} rows at 120x36");
    // Page down moves by the rows the table shows, and the offset keeps the selection in view.
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected_index(), Some(page));
    assert_eq!(app.task_offset, 1);
    press(&mut app, KeyCode::End);
    assert_eq!(app.task_offset, 100 - page);
    // A taller terminal shows more rows: the offset moves back so that the last page is full.
    app.update(Msg::Resize(120, 60));
    assert!(app.page() > page);
    assert_eq!(app.task_offset, 100 - app.page());
    // Too small: no table, nothing to page by.
    app.update(Msg::Resize(60, 20));
    assert_eq!(app.page(), 0);
}

#[test]
fn a_question_waits_while_the_user_types_and_takes_none_of_the_keys() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    ch(&mut app, '/');
    ch(&mut app, 't');
    assert!(app.update(Msg::Ask(pool_r())).is_empty());
    assert!(app.overlay.is_none(), "no dialog while a filter is typed");
    // Keys that would answer the dialog (y, n, Enter's neighbours) go into the filter.
    for c in "yn".chars() {
        assert!(ch(&mut app, c).is_empty());
    }
    assert_eq!(app.entry, Some(Entry::Filter("tyn".into())));
    assert!(app.overlay.is_none());
    // Enter keeps the filter; only then is the question asked, and nothing answered yet.
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.filter, "tyn");
    assert!(matches!(app.overlay, Some(Overlay::Dialog(_))));
    assert!(app.asking.is_some());
    // The same in the resize prompt: digits and Enter go to it, the question comes after.
    assert_eq!(ch(&mut app, 'n'), vec![Action::Answer(false)]);
    shift(&mut app, 'R');
    app.update(Msg::Ask(job_r()));
    assert!(app.overlay.is_none());
    ch(&mut app, '3');
    let a = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(a[..], [Action::Run(Command::ResizePool { target: 3, .. })]),
        "{a:?}"
    );
    assert!(matches!(app.overlay, Some(Overlay::Dialog(_))));
    assert_eq!(app.asking, Some(job_r()));
}

/// The first line the preview shows of the selected task, and how many lines it has.
fn preview_top(app: &App) -> (usize, usize) {
    let id = app.selected_task.as_deref().expect("a task is selected");
    let (lines, log) = app
        .previews
        .get(id)
        .expect("previewed")
        .lines()
        .expect("read");
    (
        app.preview_scroll.top(lines.len(), app.preview_rows(), log),
        lines.len(),
    )
}

fn stdout_lines(app: &mut App, t0: Instant, task: &str, from: u64, lines: std::ops::Range<u32>) {
    let text: String = lines.map(|i| format!("line {i}\n")).collect();
    let len = from + text.len() as u64;
    at(
        app,
        t0,
        13.0,
        Event::TaskFileTail {
            task_id: task.into(),
            file: TaskFile::Stdout,
            from,
            len,
            text,
        },
    );
}

#[test]
fn the_preview_scrolls_as_a_pager() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    ch(&mut app, 'j'); // task2, running
    stdout_lines(&mut app, t0, "task2", 0, 1..101);
    let rows = app.preview_rows();
    assert!(rows > 3, "{rows}");
    // A log starts at its end.
    assert_eq!(preview_top(&app), (100 - rows, 100));
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Panel::Preview);
    // k: older lines; j: newer; reaching the end follows it.
    ch(&mut app, 'k');
    ch(&mut app, 'k');
    assert_eq!(preview_top(&app).0, 100 - rows - 2);
    ch(&mut app, 'j');
    assert_eq!(preview_top(&app).0, 100 - rows - 1);
    ch(&mut app, 'j');
    assert_eq!(app.preview_scroll, Scroll::Follow);
    // Scrolled back, new lines do not move the text; following, they do.
    ch(&mut app, 'k');
    let len = app.previews.get("task2").unwrap().stdout.len;
    stdout_lines(&mut app, t0, "task2", len, 101..111);
    assert_eq!(preview_top(&app), (100 - rows - 1, 110));
    // G: the end, following; g: the start; PgDn: a page of the preview.
    ch(&mut app, 'G');
    assert_eq!(app.preview_scroll, Scroll::Follow);
    assert_eq!(preview_top(&app).0, 110 - rows);
    ch(&mut app, 'g');
    assert_eq!(preview_top(&app).0, 0);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(preview_top(&app).0, rows);
    press(&mut app, KeyCode::PageUp);
    ch(&mut app, 'k');
    assert_eq!(preview_top(&app).0, 0, "no scrolling above the start");
    // An output file starts at its beginning.
    press(&mut app, KeyCode::BackTab);
    ch(&mut app, 'k'); // task1
    at(
        &mut app,
        t0,
        14.0,
        Event::Output {
            task_id: "task1".into(),
            path: "out/task1.txt".into(),
            text: (1..50).map(|i| format!("word {i}\n")).collect(),
        },
    );
    assert_eq!(preview_top(&app), (0, 49));
}

#[test]
fn the_preview_cache_keeps_only_the_tasks_looked_at_last() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let tasks = (10..50)
        .map(|i| task(i, TaskState::Running, None))
        .collect();
    at(&mut app, t0, 6.0, Event::Tasks(tasks));
    // task1..3, then task10..task49 in natural order: look at each running one.
    press(&mut app, KeyCode::End);
    for _ in 0..40 {
        let id = app.selected_task.clone().unwrap();
        stdout_lines(&mut app, t0, &id, 0, 1..3);
        assert!(app.previews.get(&id).is_some_and(|p| p.stdout.read_once));
        assert!(app.previews.len() <= CACHED_PREVIEWS);
        ch(&mut app, 'k');
    }
    assert_eq!(app.previews.len(), CACHED_PREVIEWS);
    assert!(
        app.previews.get("task49").is_none(),
        "the oldest went first"
    );
    assert!(app.previews.get("task10").is_some());
    // A tail that arrives for a task the cache let go is not kept...
    stdout_lines(&mut app, t0, "task49", 0, 1..3);
    assert!(app.previews.get("task49").is_none());
    // ...and looking at it again has the watcher read it from the start.
    press(&mut app, KeyCode::End);
    assert_eq!(app.selected_task.as_deref(), Some("task49"));
    let target = app.preview_target().unwrap();
    assert_eq!((target.task_id.as_str(), target.from), ("task49", [0, 0]));
    // Output files of tasks not looked at are remembered by path and read when looked at.
    at(
        &mut app,
        t0,
        20.0,
        Event::Output {
            task_id: "task3".into(),
            path: "out/task3.txt".into(),
            text: "the 3\n".into(),
        },
    );
    assert!(app.previews.get("task3").is_none());
    press(&mut app, KeyCode::Home);
    ch(&mut app, 'j');
    let a = ch(&mut app, 'j');
    assert_eq!(app.selected_task.as_deref(), Some("task3"));
    assert_eq!(
        a,
        vec![Action::Run(Command::ReadOutput {
            task_id: "task3".into(),
            path: "out/task3.txt".into(),
        })]
    );
}

#[test]
fn a_failed_step_is_selected_and_enter_on_the_steps_panel_shows_it() {
    let t0 = Instant::now();
    let mut app = failed_run(t0);
    assert_eq!(app.failure(), Some((Step::CreatePool, FAILED_STEP_ERROR)));
    assert_eq!(app.selected_step, 2);
    assert_eq!(
        app.notices.back().unwrap().text,
        "Run FAILED at step 3 (Create pool): Batch service error 409 PoolExists: The specified \
         pool already exists. RequestId:0f3c9d1e-7a52-4c5b-9a8e-1d2f3b4c5d6e \
         Time:2026-11-30T01:02:03.0000000Z"
    );
    // Tab reaches the steps panel (after the preview); Enter shows the failed step.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Panel::Steps);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.overlay,
        Some(Overlay::Details(DetailsOf::Step(Step::CreatePool)))
    );
    press(&mut app, KeyCode::Esc);
    ch(&mut app, 'k');
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.overlay,
        Some(Overlay::Details(DetailsOf::Step(Step::Upload)))
    );
}

#[test]
fn q_on_a_too_small_terminal_quits_through_the_quit_dialog_and_answers_nothing_hidden() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.update(Msg::Ask(pool_r()));
    assert!(matches!(app.overlay, Some(Overlay::Dialog(_))));
    app.update(Msg::Resize(60, 20));
    assert!(app.too_small());
    // Keys that would answer the hidden question do nothing.
    for c in ['n', 'y'] {
        assert!(ch(&mut app, c).is_empty());
    }
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.asking, Some(pool_r()));
    // q sets the question aside (still asked) and opens the quit dialog.
    assert!(ch(&mut app, 'q').is_empty());
    assert!(dialog(&app).is_quit());
    assert_eq!(app.asking, Some(pool_r()));
    // Its keys answer it: Cancel brings the question back, later.
    assert!(ch(&mut app, 'n').is_empty());
    assert!(!dialog(&app).is_quit(), "the question is back");
    ch(&mut app, 'q');
    assert_eq!(
        ch(&mut app, 'k'),
        vec![Action::CancelWorkflow, Action::Quit]
    );
    assert!(app.quit);
}

#[test]
fn changes_in_flight_show_until_they_end() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    app.update(Msg::Event(Event::Finished {
        ok: true,
        elapsed: Duration::from_secs(5),
        remaining: vec![pool_r()],
    }));
    app.notices.clear();
    assert!(!app.wants_ticks());
    app.dirty = false;
    app.update(Msg::Working(vec!["delete pool PythonTutorialPool".into()]));
    assert!(app.dirty && app.wants_ticks(), "the spinner moves");
    app.dirty = false;
    app.update(Msg::Tick(t0 + Duration::from_secs(20)));
    assert!(app.dirty, "each tick turns the spinner");
    app.dirty = false;
    app.update(Msg::Working(vec!["delete pool PythonTutorialPool".into()]));
    assert!(!app.dirty, "nothing changed");
    app.update(Msg::Working(Vec::new()));
    assert!(app.dirty && !app.wants_ticks());
}

#[test]
fn a_running_task_s_duration_ticks_from_its_start_time() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        9.0,
        Event::Finished {
            ok: true,
            elapsed: Duration::from_secs(9),
            remaining: vec![pool_r()],
        },
    );
    app.update(Msg::Tick(t0 + Duration::from_secs(30)));
    assert!(!app.wants_ticks());
    // Attached to a task started a minute ago (by the service's clock) that still runs.
    let started = app.wall - chrono::Duration::seconds(60);
    let running = TaskView {
        duration_ms: None,
        started: Some(started),
        ..task(7, TaskState::Running, None)
    };
    at(&mut app, t0, 31.0, Event::Tasks(vec![running]));
    assert!(app.wants_ticks(), "a running duration moves with the clock");
    let shown = |app: &App| {
        app.tasks
            .get("task7")
            .unwrap()
            .duration_at(app.wall)
            .unwrap()
    };
    let before = shown(&app);
    app.dirty = false;
    app.update(Msg::Tick(t0 + Duration::from_secs(33)));
    assert!(app.dirty);
    assert_eq!(
        shown(&app) - before,
        2000,
        "two seconds later, two seconds longer"
    );
    app.dirty = false;
    app.update(Msg::Tick(t0 + Duration::from_millis(33_300)));
    assert!(!app.dirty, "redrawn once a second, not on every tick");
    // Once it completed, its duration is the service's and nothing ticks any more.
    let done = TaskView {
        duration_ms: Some(61_000),
        ..task(7, TaskState::Completed, Some(0))
    };
    at(&mut app, t0, 34.0, Event::Tasks(vec![done]));
    assert!(!app.wants_ticks());
    assert_eq!(shown(&app), 61_000);
}

#[test]
fn an_outage_shows_until_the_service_answers_again() {
    use crate::workflow::events::Health;
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    at(
        &mut app,
        t0,
        10.0,
        Event::Health(Health::Reconnecting {
            attempt: 3,
            error: "Connection refused (os error 111)".into(),
            retry_in: Duration::from_secs(2),
        }),
    );
    assert_eq!(
        app.reconnecting,
        Some((3, "Connection refused (os error 111)".into()))
    );
    at(
        &mut app,
        t0,
        25.0,
        Event::Health(Health::Reconnected {
            after: Duration::from_secs(15),
        }),
    );
    assert_eq!(app.reconnecting, None);
    assert!(
        app.notices
            .back()
            .unwrap()
            .text
            .contains("Reconnected to Batch after 15s")
    );
    // A watched resource that disappears is gone, with a word if it was there.
    at(&mut app, t0, 26.0, Event::Gone(pool_r()));
    assert_eq!(app.presence(&pool_r()), Some(Presence::Gone));
    assert!(app.nodes.is_empty());
    assert!(app.notices.back().unwrap().error);
}

#[test]
fn f_retries_every_failed_task_after_a_confirmation_and_d_downloads_a_task_s_files() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    assert!(shift(&mut app, 'F').is_empty());
    assert_eq!(app.notices.back().unwrap().text, "No failed task to retry");
    // One failed task is one, not "1 failed tasks".
    let one = vec![task(10, TaskState::Completed, Some(2))];
    at(&mut app, t0, 5.5, Event::Tasks(one));
    assert!(shift(&mut app, 'F').is_empty());
    let d = dialog(&app).clone();
    assert!(
        d.lines[0].starts_with("Retry 1 failed task of job"),
        "{:?}",
        d.lines
    );
    assert!(ch(&mut app, 'n').is_empty());
    let failed = (10..13)
        .map(|i| task(i, TaskState::Completed, Some(2)))
        .chain([task(1, TaskState::Completed, Some(0))])
        .collect();
    at(&mut app, t0, 6.0, Event::Tasks(failed));
    assert!(shift(&mut app, 'F').is_empty(), "asks first");
    let d = dialog(&app).clone();
    assert_eq!(d.focused, 0, "Cancel first");
    assert!(d.lines[0].contains("Retry 3 failed tasks"), "{:?}", d.lines);
    assert_eq!(
        ch(&mut app, 'y'),
        vec![Action::Run(Command::ReactivateTasks {
            job_id: "PythonTutorialJob".into(),
            task_ids: vec!["task10".into(), "task11".into(), "task12".into()],
        })]
    );
    // Once reactivated they are followed: a run's output is downloaded when one succeeds.
    app.run_outputs = Some(RunOutputs {
        container: "output".into(),
        blobs: [("task10".to_string(), "task10_OUTPUT.txt".to_string())].into(),
    });
    app.output_dir = "out".into();
    at(
        &mut app,
        t0,
        7.0,
        Event::Reactivated {
            task_ids: vec!["task10".into(), "task11".into()],
        },
    );
    assert_eq!(app.notices.back().unwrap().text, "2 tasks reactivated");
    let a = app.update(Msg::Event(Event::StepFinished {
        step: Step::Download,
        elapsed: Duration::from_millis(100),
        note: String::new(),
    }));
    assert!(a.is_empty());
    let a = app.update(Msg::Event(Event::Tasks(vec![task(
        10,
        TaskState::Running,
        None,
    )])));
    assert!(a.is_empty(), "{a:?}");
    let a = app.update(Msg::Event(Event::Tasks(vec![
        task(10, TaskState::Completed, Some(0)),
        task(11, TaskState::Completed, Some(2)),
    ])));
    assert_eq!(
        a,
        vec![Action::Run(Command::DownloadOutput {
            task_id: "task10".into(),
            container: "output".into(),
            blob: "task10_OUTPUT.txt".into(),
            dest: "out/task10_OUTPUT.txt".into(),
        })],
        "only the one that succeeded"
    );
    // Read-only: no retries.
    app.readonly = true;
    assert!(shift(&mut app, 'F').is_empty());
    assert!(app.overlay.is_none());
    // d: the selected task's files, into the output directory.
    assert_eq!(
        ch(&mut app, 'd'),
        vec![Action::Run(Command::DownloadTaskFiles {
            job_id: "PythonTutorialJob".into(),
            task_id: app.selected_task.clone().unwrap(),
            dir: std::path::Path::new("out").join(app.selected_task.clone().unwrap()),
        })]
    );
}

#[test]
fn watching_has_no_steps_panel_and_quits_at_once() {
    let t0 = Instant::now();
    let mut app = new_watching_app(t0);
    assert!(!app.running());
    at(&mut app, t0, 1.0, Event::Pool(pool(2, 2)));
    at(&mut app, t0, 1.0, Event::TaskCounts(TaskCounts::default()));
    // What the watcher found is there (J and P act on it).
    assert_eq!(app.presence(&pool_r()), Some(Presence::Present));
    assert_eq!(app.presence(&job_r()), Some(Presence::Present));
    // Tab skips the steps panel it does not have.
    for _ in 0..8 {
        press(&mut app, KeyCode::Tab);
        assert_ne!(app.focus, Panel::Steps);
    }
    assert_eq!(ch(&mut app, 'q'), vec![Action::Quit]);
    assert!(app.quit);
}

#[test]
fn tasks_that_no_longer_exist_leave_the_table() {
    let t0 = Instant::now();
    let mut app = mid_run(t0);
    let tasks: Vec<TaskView> = (1..=12)
        .map(|i| task(i, TaskState::Running, None))
        .collect();
    at(&mut app, t0, 6.0, Event::Tasks(tasks));
    assert_eq!(app.tasks.order.len(), 12);
    let gone = vec!["task2".to_string(), "task10".to_string()];
    at(&mut app, t0, 7.0, Event::TasksGone(gone));
    let ids: Vec<&str> = (app.tasks.order.iter())
        .map(|&i| app.tasks.rows[i].id.as_str())
        .collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(&ids[..3], ["task1", "task3", "task4"]);
    assert!(app.tasks.get("task10").is_none());
    assert_eq!(
        app.tasks.get("task11").map(|t| t.id.as_str()),
        Some("task11")
    );
    // A task seen again later comes back.
    at(
        &mut app,
        t0,
        8.0,
        Event::Tasks(vec![task(2, TaskState::Active, None)]),
    );
    assert_eq!(app.tasks.order.len(), 11);
}
