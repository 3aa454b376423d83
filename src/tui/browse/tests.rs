//! Browsing without a terminal: the lists' model, the command line, navigation through
//! `App::update`, what the watcher is asked to watch, and snapshots of every view at 80x24
//! and 160x48.

use std::time::Instant;

use chrono::TimeZone;
use crossterm::event::KeyCode;

use super::*;
use crate::azure::models::{JobState, NodeCounts, NodeState, PoolState, TaskState};
use crate::tui::app::{App, Msg};
use crate::tui::keys::Scope;
use crate::tui::testing::*;
use crate::workflow::events::{Event, FileRow, FilesOf, TaskCounts};

fn when(min: u32) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 30, 5, min, 0)
        .single()
}

fn pool_row(id: &str, nodes: u32, state: PoolState, created: u32) -> PoolRow {
    let mut p = pool(nodes, nodes);
    p.id = id.into();
    p.state = state;
    // Half of its nodes run tasks, the other half idle; one more boots.
    let nodes = NodeCounts {
        running: nodes / 2,
        idle: nodes - nodes / 2,
        starting: u32::from(nodes > 0),
        total: nodes + u32::from(nodes > 0),
        ..NodeCounts::default()
    };
    PoolRow {
        pool: p,
        task_slots: 4,
        created: when(created),
        nodes: Some(nodes),
    }
}

fn job_row(id: &str, pool: &str, state: JobState, counts: Option<TaskCounts>) -> JobRow {
    JobRow {
        id: id.into(),
        state,
        pool_id: Some(pool.into()),
        priority: 0,
        created: when(10),
        counts,
    }
}

fn counts(active: u64, running: u64, succeeded: u64, failed: u64) -> TaskCounts {
    TaskCounts {
        active,
        running,
        completed: succeeded + failed,
        succeeded,
        failed,
    }
}

/// A session browsing an account of three pools and three jobs, on the pools.
pub(super) fn browsing(t0: Instant) -> App {
    let mut app = App::browsing(target(), false, t0, View::Pools);
    app.update(Msg::Resize(120, 36));
    app.update(Msg::Event(Event::Pools(vec![
        pool_row("bigpool", 2, PoolState::Active, 1),
        pool_row("smallpool", 1, PoolState::Active, 2),
        pool_row("oldpool", 0, PoolState::Deleting, 0),
    ])));
    app.update(Msg::Event(Event::Jobs(vec![
        job_row(
            "bigjob",
            "bigpool",
            JobState::Active,
            Some(counts(0, 0, 1800, 200)),
        ),
        job_row(
            "tickjob",
            "smallpool",
            JobState::Active,
            Some(counts(0, 1, 0, 0)),
        ),
        job_row("idlejob", "smallpool", JobState::Completed, None),
    ])));
    app
}

pub(super) fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

pub(super) fn command(app: &mut App, line: &str) {
    key(app, KeyCode::Char(':'));
    typed(app, line);
    key(app, KeyCode::Enter);
}

fn shown(app: &App) -> Vec<String> {
    let b = app.browse.as_ref().expect("browsing");
    match b.view() {
        View::Pools => b
            .pools
            .order
            .iter()
            .map(|&i| b.pools.rows[i].pool.id.clone())
            .collect(),
        _ => b
            .jobs
            .order
            .iter()
            .map(|&i| b.jobs.rows[i].id.clone())
            .collect(),
    }
}

#[test]
fn lists_sort_by_each_column_and_filter() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    assert_eq!(shown(&app), ["bigpool", "oldpool", "smallpool"]);
    // s: by state (active before deleting), ids breaking ties; S reverses.
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(shown(&app), ["bigpool", "smallpool", "oldpool"]);
    key(&mut app, KeyCode::Char('S'));
    assert_eq!(shown(&app), ["oldpool", "smallpool", "bigpool"]);
    // Filtered as typed; Esc clears the filter before it goes back.
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "small");
    assert_eq!(shown(&app), ["smallpool"]);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.browse.as_ref().unwrap().pools.filter, "small");
    key(&mut app, KeyCode::Esc);
    assert_eq!(shown(&app).len(), 3);
    // The jobs filter by state too.
    command(&mut app, "jobs");
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "completed");
    assert_eq!(shown(&app), ["idlejob"]);
}

#[test]
fn enter_drills_down_esc_goes_back_and_the_breadcrumb_follows() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    assert_eq!(app.browse_watching(), Some(Watching::Pools));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), Some(&View::Nodes("smallpool".into())));
    assert_eq!(app.ids.pool_id, "smallpool");
    assert_eq!(
        app.browse.as_ref().unwrap().crumbs(),
        "pools › smallpool › nodes"
    );
    assert_eq!(
        app.browse_watching(),
        Some(Watching::Pool("smallpool".into()))
    );
    assert_eq!(app.scope(), Scope::NODES);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), Some(&View::Pools));
    // The selection stayed where it was.
    assert_eq!(
        app.browse.as_ref().unwrap().pools.selected.as_deref(),
        Some("smallpool")
    );

    // A job's tasks: the session's task table, its pool's nodes watched too.
    command(&mut app, "jobs");
    assert_eq!(
        app.browse_watching(),
        Some(Watching::Jobs(vec![
            "bigjob".into(),
            "idlejob".into(),
            "tickjob".into()
        ]))
    );
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), Some(&View::Tasks("bigjob".into())));
    assert_eq!(
        app.browse_watching(),
        Some(Watching::Job {
            job: "bigjob".into(),
            pool: Some("bigpool".into())
        })
    );
    app.update(Msg::Event(Event::Tasks(vec![
        task(1, TaskState::Completed, Some(0)),
        task(2, TaskState::Completed, Some(3)),
    ])));
    assert_eq!(app.tasks.rows.len(), 2);
    // Filtering the tasks, then Esc twice: the filter, then back to the jobs.
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "failed");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.tasks.order.len(), 1);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.tasks.order.len(), 2);
    assert_eq!(app.view(), Some(&View::Tasks("bigjob".into())));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), Some(&View::Jobs));
    // Another job starts from nothing: the first one's tasks are not shown as its own.
    key(&mut app, KeyCode::Char('G'));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), Some(&View::Tasks("tickjob".into())));
    assert!(app.tasks.rows.is_empty());
    assert_eq!(app.ids.pool_id, "smallpool");
}

#[test]
fn the_command_line_completes_and_goes_anywhere() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    // Completion: command words, then ids.
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "t");
    key(&mut app, KeyCode::Tab);
    assert_eq!(
        app.entry,
        Some(crate::tui::app::Entry::Command("tasks ".into()))
    );
    typed(&mut app, "ti");
    key(&mut app, KeyCode::Tab);
    assert_eq!(
        app.entry,
        Some(crate::tui::app::Entry::Command("tasks tickjob".into()))
    );
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), Some(&View::Tasks("tickjob".into())));
    assert_eq!(
        app.browse.as_ref().unwrap().crumbs(),
        "jobs › tickjob › tasks"
    );
    // Ambiguous: the common part, and the candidates offered.
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "pool ");
    key(&mut app, KeyCode::Tab);
    assert_eq!(
        app.browse.as_ref().unwrap().candidates,
        ["bigpool", "smallpool", "oldpool"]
    );
    typed(&mut app, "o");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), Some(&View::Nodes("oldpool".into())));
    // `nodes` alone: the pool on screen; a bad command says what is understood.
    command(&mut app, "pools");
    command(&mut app, "nodes");
    assert_eq!(app.view(), Some(&View::Nodes("bigpool".into())));
    command(&mut app, "frobnicate");
    assert_eq!(app.view(), Some(&View::Nodes("bigpool".into())));
    let n = app.notices.back().expect("a notice");
    assert!(
        n.error && n.text.contains("unknown command \"frobnicate\""),
        "{n:?}"
    );
    assert!(parse("job").is_err());
    assert!(parse("pools x").is_err());
    assert_eq!(parse("job j1"), Ok(Command::Job("j1".into())));
}

#[test]
fn the_help_lists_the_keys_of_the_view_on_screen_and_they_dispatch() {
    use crate::tui::keys::{self, Input};
    use crossterm::event::{KeyEvent, KeyModifiers};
    let ev = |c| KeyEvent::new(c, KeyModifiers::NONE);
    // Lists: Enter opens, `i` shows details, `:` commands; no task keys.
    let lists: Vec<_> = keys::help_rows(Scope::LISTS).map(|b| b.input).collect();
    assert!(lists.contains(&Input::Open) && lists.contains(&Input::Command));
    assert!(lists.contains(&Input::Details) && !lists.contains(&Input::RetryTask));
    assert_eq!(
        keys::lookup(&ev(KeyCode::Enter), Scope::LISTS),
        Some(Input::Open)
    );
    assert_eq!(keys::lookup(&ev(KeyCode::Char('r')), Scope::LISTS), None);
    // A job's tasks: the session's task keys, and `:`; not the run's containers.
    let tasks: Vec<_> = keys::help_rows(Scope::TASKS).map(|b| b.input).collect();
    assert!(tasks.contains(&Input::RetryTask) && tasks.contains(&Input::Command));
    assert!(!tasks.contains(&Input::DeleteContainers));
    assert_eq!(keys::lookup(&ev(KeyCode::Char('C')), Scope::TASKS), None);
    // A run has no command line.
    assert_eq!(keys::lookup(&ev(KeyCode::Char(':')), Scope::SESSION), None);
    // `r` on the pools does nothing at all (no notice, no action).
    let t0 = Instant::now();
    let mut app = browsing(t0);
    let a = app.update(Msg::Key(ev(KeyCode::Char('r'))));
    assert!(a.is_empty() && app.notices.is_empty());
}

#[test]
fn a_list_builds_only_the_rows_on_screen_and_keeps_the_selection_in_view() {
    let mut l: Listing<JobRow> = Listing::default();
    l.set_rows(
        (0..1000)
            .map(|i| job_row(&format!("job{i}"), "p", JobState::Active, None))
            .collect(),
    );
    l.settle(20);
    assert_eq!(l.visible(20).count(), 20);
    l.move_by(500);
    l.settle(20);
    assert_eq!(l.selected.as_deref(), Some("job500"));
    assert_eq!(l.offset, 481);
    let ids: Vec<&str> = l.visible(20).map(|(_, j)| j.id.as_str()).collect();
    assert_eq!(ids.first(), Some(&"job481"));
    assert_eq!(ids.last(), Some(&"job500"));
    // Natural order: job9 before job10.
    assert_eq!(l.rows[l.order[9]].id, "job9");
    assert_eq!(l.rows[l.order[10]].id, "job10");
}

#[test]
fn watching_a_list_asks_the_counts_of_the_jobs_on_screen_only() {
    let t0 = Instant::now();
    let mut app = App::browsing(target(), false, t0, View::Jobs);
    app.update(Msg::Resize(80, 24));
    app.update(Msg::Event(Event::Jobs(
        (0..100)
            .map(|i| job_row(&format!("job{i}"), "p", JobState::Active, None))
            .collect(),
    )));
    let Some(Watching::Jobs(ids)) = app.browse_watching() else {
        panic!("watching the jobs")
    };
    assert_eq!(ids.len(), app.list_page());
    assert_eq!(ids.len(), 20);
    key(&mut app, KeyCode::PageDown);
    key(&mut app, KeyCode::PageDown);
    let Some(Watching::Jobs(ids)) = app.browse_watching() else {
        panic!("watching the jobs")
    };
    assert!(ids.contains(&"job40".to_string()), "{ids:?}");
    assert!(!ids.contains(&"job0".to_string()), "{ids:?}");
    assert!(!Watching::Jobs(vec![]).needs_new_watcher(&Watching::Jobs(ids)));
    assert!(Watching::Pools.needs_new_watcher(&Watching::Jobs(vec![])));
}

/// Each view at the smallest size and a large one.
pub(super) fn both_sizes(name: &str, app: &mut App) {
    snap!(format!("{name}_80x24"), screen(app, 80, 24));
    snap!(format!("{name}_160x48"), screen(app, 160, 48));
}

#[test]
fn snapshots_of_the_pools() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    both_sizes("browse_pools", &mut app);
    key(&mut app, KeyCode::Char('?'));
    both_sizes("browse_pools_help", &mut app);
}

#[test]
fn snapshots_of_the_jobs_filtered_and_the_command_line() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    command(&mut app, "jobs");
    both_sizes("browse_jobs", &mut app);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "smallpool");
    both_sizes("browse_jobs_filtering", &mut app);
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "pool ");
    key(&mut app, KeyCode::Tab);
    both_sizes("browse_command_line", &mut app);
}

#[test]
fn snapshots_of_a_pools_nodes() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    command(&mut app, "pool bigpool");
    let mut p = pool(3, 3);
    p.id = "bigpool".into();
    app.update(Msg::Event(Event::Pool(p)));
    app.update(Msg::Event(Event::Nodes(vec![
        node(0, NodeState::Running),
        node(1, NodeState::Idle),
        node(2, NodeState::StartTaskFailed),
    ])));
    both_sizes("browse_nodes", &mut app);
    // Past a screenful: the heatmap.
    app.update(Msg::Event(Event::Nodes(
        (0..1000)
            .map(|i| {
                node(
                    i,
                    if i % 7 == 0 {
                        NodeState::Running
                    } else {
                        NodeState::Idle
                    },
                )
            })
            .collect(),
    )));
    both_sizes("browse_nodes_heatmap", &mut app);
}

#[test]
fn snapshots_of_a_jobs_tasks() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    command(&mut app, "job bigjob");
    let mut p = pool(2, 2);
    p.id = "bigpool".into();
    at(&mut app, t0, 1.0, Event::Pool(p));
    at(
        &mut app,
        t0,
        1.0,
        Event::Nodes(vec![node(0, NodeState::Idle), node(1, NodeState::Idle)]),
    );
    at(&mut app, t0, 1.0, Event::TaskCounts(counts(0, 0, 18, 2)));
    at(
        &mut app,
        t0,
        1.0,
        Event::Tasks(
            (1..=20)
                .map(|i| {
                    task(
                        i,
                        TaskState::Completed,
                        Some(if i % 10 == 0 { 3 } else { 0 }),
                    )
                })
                .collect(),
        ),
    );
    both_sizes("browse_tasks", &mut app);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "failed");
    key(&mut app, KeyCode::Enter);
    both_sizes("browse_tasks_failed", &mut app);
}

pub(super) fn ticker_files() -> Vec<FileRow> {
    let f = |path: &str, size: u64, is_dir: bool| FileRow {
        path: path.into(),
        is_dir,
        size,
        modified: when(12),
    };
    vec![
        f("stderr.txt", 0, false),
        f("stdout.txt", 1_536, false),
        f("wd", 0, true),
        f("wd/out.txt", 3 * 1024 * 1024, false),
    ]
}

/// The tasks of tickjob, then Enter: its files; Enter on stdout.txt: the log viewer.
pub(super) fn in_the_log_viewer(t0: Instant) -> App {
    let mut app = browsing(t0);
    command(&mut app, "job tickjob");
    at(
        &mut app,
        t0,
        1.0,
        Event::Tasks(vec![task(1, TaskState::Running, None)]),
    );
    key(&mut app, KeyCode::Enter);
    let of = FilesOf::Task {
        job: "tickjob".into(),
        task: "task1".into(),
    };
    assert_eq!(app.view(), Some(&View::Files(of.clone())));
    assert_eq!(app.browse_watching(), Some(Watching::Files(of.clone())));
    app.update(Msg::Event(Event::Files(ticker_files())));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), Some(&View::Log(of, "stdout.txt".into())));
    app
}

fn lines(from: usize, to: usize) -> String {
    (from..=to).map(|i| format!("line {i}\n")).collect()
}

#[test]
fn a_tasks_files_open_in_the_log_viewer_which_follows_and_pages_by_byte_range() {
    let t0 = Instant::now();
    let mut app = in_the_log_viewer(t0);
    let want = |app: &App| match app.browse_watching() {
        Some(Watching::File(w)) => w,
        other => panic!("watching {other:?}"),
    };
    // Opened at its end, following.
    assert_eq!((want(&app).from, want(&app).follow), (None, true));
    // A 1 GiB file: its last window arrives (starting mid-line: that part is dropped).
    let len: u64 = 1 << 30;
    let from = len - 64 * 1024;
    let tail = format!("ne 999\n{}", lines(1000, 1100));
    app.update(Msg::Event(Event::FileChunk {
        path: "stdout.txt".into(),
        from,
        len,
        text: tail.clone(),
    }));
    let log = app.browse.as_ref().unwrap().log.clone().unwrap();
    assert_eq!(log.start, from + 7);
    assert_eq!(log.line(0), "line 1000");
    // Following: the last lines on screen; the watcher's read goes on where it is.
    let rows = app.log_rows();
    assert_eq!(log.top, 101 - rows);
    assert_eq!((want(&app).from, want(&app).follow), (None, true));
    // Appended bytes are added.
    app.update(Msg::Event(Event::FileChunk {
        path: "stdout.txt".into(),
        from: from + tail.len() as u64,
        len: len + 9,
        text: "line 1101\n".into(),
    }));
    let log = app.browse.as_ref().unwrap().log.clone().unwrap();
    assert_eq!(log.line(log.line_count() - 1), "line 1101");
    // g: the start of the file is asked for (a window from byte 0), and shown when it comes.
    key(&mut app, KeyCode::Char('g'));
    assert_eq!((want(&app).from, want(&app).follow), (Some(0), false));
    app.update(Msg::Event(Event::FileChunk {
        path: "stdout.txt".into(),
        from: 0,
        len: len + 9,
        text: lines(1, 900),
    }));
    let log = app.browse.as_ref().unwrap().log.clone().unwrap();
    assert_eq!((log.top, log.line(0)), (0, "line 1"));
    // Paging down past what is held asks for the window at the new top line.
    for _ in 0..60 {
        key(&mut app, KeyCode::PageDown);
    }
    let w = want(&app);
    assert!(w.from.is_some_and(|f| f > 0 && f < 900 * 9), "{w:?}");
    // Search and n/N among the lines held.
    key(&mut app, KeyCode::Char('g'));
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "line 50");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('n'));
    let log = app.browse.as_ref().unwrap().log.clone().unwrap();
    assert_eq!(log.line(log.top), "line 50");
    key(&mut app, KeyCode::Char('n'));
    let log = app.browse.as_ref().unwrap().log.clone().unwrap();
    assert_eq!(log.line(log.top), "line 500");
    key(&mut app, KeyCode::Char('N'));
    let log = app.browse.as_ref().unwrap().log.clone().unwrap();
    assert_eq!(log.line(log.top), "line 50");
    // w wraps; t goes to stderr.txt; Esc clears the search, then goes back to the files.
    key(&mut app, KeyCode::Char('w'));
    assert!(app.browse.as_ref().unwrap().log.as_ref().unwrap().wrap);
    key(&mut app, KeyCode::Char('t'));
    assert!(matches!(app.view(), Some(View::Log(_, p)) if p == "stderr.txt"));
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.view(), Some(View::Files(_))));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), Some(&View::Tasks("tickjob".into())));
}

/// `n` / `N` past the lines held: a search of the file by byte ranges, asked of the watcher
/// (its news moves the viewer to the match's window); Esc cancels it; no wrap-around.
#[test]
fn n_and_n_past_the_lines_held_search_the_file_and_esc_cancels() {
    use crate::tui::browse::search::{Found, News};
    let t0 = Instant::now();
    let mut app = in_the_log_viewer(t0);
    let len: u64 = 1 << 30;
    let log = |app: &App| app.browse.as_ref().unwrap().log.clone().unwrap();
    let want = |app: &App| match app.browse_watching() {
        Some(Watching::File(w)) => w,
        other => panic!("watching {other:?}"),
    };
    let notice = |app: &App| app.notices.back().unwrap().text.clone();
    // The file's first 900 lines held (from g).
    key(&mut app, KeyCode::Char('g'));
    app.update(Msg::Event(Event::FileChunk {
        path: "stdout.txt".into(),
        from: 0,
        len,
        text: lines(1, 900),
    }));
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "Needle");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.log_search(), None);
    // n: none held, so the file from the end of what is held on (less the pattern's length
    // less one, for a match that starts in the last bytes held).
    key(&mut app, KeyCode::Char('n'));
    let ask = app.log_search().cloned().expect("n searches the file");
    let held = lines(1, 900).len() as u64;
    assert_eq!(
        (ask.from, ask.forward, ask.pattern.as_str()),
        (held - 5, true, "Needle")
    );
    // Its progress is on screen; news of another search is dropped.
    let news = |app: &mut App, id, news| app.update(Msg::Search { id, news });
    news(
        &mut app,
        ask.id,
        News::Progress {
            searched: 300 << 20,
            total: len - held + 5,
        },
    );
    news(&mut app, ask.id + 1000, News::Done(Ok(Found::At(7))));
    assert_eq!(
        log(&app).searching.as_ref().map(|s| s.searched),
        Some(300 << 20)
    );
    both_sizes("browse_log_searching", &mut app);
    // Found near the end: the window from a little before the match, its line on top.
    let at = len - 1000;
    news(&mut app, ask.id, News::Done(Ok(Found::At(at))));
    assert_eq!(app.log_search(), None);
    let w = want(&app);
    assert_eq!((w.from, w.follow), (Some(at - 16 * 1024), false));
    let before = "x".repeat(16 * 1024 - 10);
    app.update(Msg::Event(Event::FileChunk {
        path: "stdout.txt".into(),
        from: at - 16 * 1024,
        len,
        text: format!("{before}\nline one\nthe NEEDLE here\n{}", lines(1, 100)),
    }));
    assert_eq!(log(&app).line(log(&app).top), "the NEEDLE here");
    // n again: searched on to the end, "not found"; the viewer stays.
    key(&mut app, KeyCode::Char('n'));
    let ask = app.log_search().cloned().expect("n searches on");
    news(&mut app, ask.id, News::Done(Ok(Found::Nowhere)));
    assert!(notice(&app).starts_with("Pattern not found"));
    assert_eq!(log(&app).line(log(&app).top), "the NEEDLE here");
    // N: the line before is held, no match there: backward from where the window starts.
    key(&mut app, KeyCode::Char('N'));
    let ask = app.log_search().cloned().expect("N searches back");
    assert_eq!((ask.from, ask.forward), (log(&app).start, false));
    // Another pattern typed stops it; Esc cancels a search (the search text stays), Esc
    // again clears it.
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "x");
    assert_eq!(app.log_search(), None);
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('N'));
    let ask = app.log_search().cloned().expect("N searches back again");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.log_search(), None);
    assert_eq!(notice(&app), "Search cancelled");
    news(&mut app, ask.id, News::Done(Ok(Found::At(5))));
    assert_eq!(log(&app).line(log(&app).top), "the NEEDLE here");
    assert_eq!(log(&app).search, "Needle");
    key(&mut app, KeyCode::Esc);
    assert_eq!(log(&app).search, "");
    // The whole file held: no search, "not found" at once.
    app.update(Msg::Event(Event::FileChunk {
        path: "stdout.txt".into(),
        from: 0,
        len: held,
        text: lines(1, 900),
    }));
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "nowhere");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('n'));
    assert_eq!(app.log_search(), None);
    assert!(notice(&app).starts_with("Pattern not found"));
}

#[test]
fn snapshots_of_files_and_the_log_viewer() {
    let t0 = Instant::now();
    let mut app = in_the_log_viewer(t0);
    app.update(Msg::Event(Event::FileChunk {
        path: "stdout.txt".into(),
        from: 0,
        len: 60 * 8,
        text: lines(1, 60),
    }));
    both_sizes("browse_log_following", &mut app);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "line 4");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('g'));
    both_sizes("browse_log_search", &mut app);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    both_sizes("browse_files", &mut app);
}

#[test]
fn space_marks_rows_and_deleting_them_asks_first_cancel_by_default() {
    use crate::tui::app::{Action, Overlay};
    use crate::workflow::controller::Command as Work;
    let t0 = Instant::now();
    let mut app = browsing(t0);
    // Space marks bigpool and moves on; Space again marks oldpool.
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    let marked: Vec<&str> = app
        .browse
        .as_ref()
        .unwrap()
        .pools
        .marked
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(marked, ["bigpool", "oldpool"]);
    both_sizes("browse_pools_marked", &mut app);
    // P asks about both; Enter on the first button (Cancel) does nothing.
    key(&mut app, KeyCode::Char('P'));
    assert!(matches!(app.overlay, Some(Overlay::Dialog(_))));
    both_sizes("browse_delete_pools", &mut app);
    let a = app.update(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Enter,
        crossterm::event::KeyModifiers::NONE,
    )));
    assert!(a.is_empty() && app.overlay.is_none(), "{a:?}");
    // y deletes both.
    key(&mut app, KeyCode::Char('P'));
    let a = app.update(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('y'),
        crossterm::event::KeyModifiers::NONE,
    )));
    assert_eq!(
        a,
        [
            Action::Run(Work::DeletePool("bigpool".into())),
            Action::Run(Work::DeletePool("oldpool".into()))
        ]
    );
    // Nothing marked: the selected job. J on the pools says where it acts.
    key(&mut app, KeyCode::Char('J'));
    assert!(
        app.notices
            .back()
            .unwrap()
            .text
            .contains(":jobs lists them")
    );
    command(&mut app, "jobs");
    key(&mut app, KeyCode::Char('J'));
    let a = app.update(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('y'),
        crossterm::event::KeyModifiers::NONE,
    )));
    assert_eq!(a, [Action::Run(Work::DeleteJob("bigjob".into()))]);
    // Read-only: refused with a notice, no dialog.
    let mut ro = App::browsing(target(), true, t0, View::Pools);
    ro.update(Msg::Resize(120, 36));
    ro.update(Msg::Event(Event::Pools(vec![pool_row(
        "bigpool",
        2,
        PoolState::Active,
        1,
    )])));
    key(&mut ro, KeyCode::Char('P'));
    assert!(ro.overlay.is_none());
    assert!(
        ro.notices
            .back()
            .unwrap()
            .text
            .contains("Read-only session")
    );
}

/// `k` then `y`: the commands the confirmation runs (checking first that it opened on Cancel
/// and that Enter there runs nothing).
fn confirmed(app: &mut App, k: char) -> Vec<crate::workflow::controller::Command> {
    use crate::tui::app::Overlay;
    assert!(press(app, KeyCode::Char(k)).is_empty());
    match &app.overlay {
        Some(Overlay::Dialog(d)) => assert_eq!(d.buttons[d.focused].label, "Cancel", "{k}"),
        other => panic!("{k}: no confirmation but {other:?}"),
    }
    assert!(
        press(app, KeyCode::Enter).is_empty(),
        "{k}: Enter on Cancel"
    );
    assert!(app.overlay.is_none());
    press(app, KeyCode::Char(k));
    answered(app)
}

/// `y` in the question open: the commands it runs (anything else fails the test).
fn answered(app: &mut App) -> Vec<crate::workflow::controller::Command> {
    press(app, KeyCode::Char('y'))
        .into_iter()
        .map(|a| match a {
            crate::tui::app::Action::Run(c) => c,
            other => panic!("{other:?}"),
        })
        .collect()
}

/// `o` in B's or X's question picks what becomes of the nodes' running tasks: the next of
/// requeue (the first), terminate, taskcompletion and retaineddata, and round again; the
/// question says which and what follows, stays on Cancel, and yes sends it. Elsewhere in the
/// nodes view `o` says where it acts.
#[test]
fn the_reboot_and_removal_questions_choose_their_option_with_o() {
    use crate::azure::models::{NodeDeallocationOption, NodeRebootOption};
    use crate::workflow::controller::{Command as Work, NodeOp};
    let mut app = on_nodes(false);
    let n0 = node(0, NodeState::Running).id;
    key(&mut app, KeyCode::Char('B'));
    asks(
        &app,
        "Running tasks (o): [requeue] terminate taskcompletion retaineddata",
        "They reboot now; tasks running on them are requeued.",
    );
    key(&mut app, KeyCode::Char('o'));
    both_sizes("browse_reboot_option", &mut app);
    key(&mut app, KeyCode::Char('o'));
    asks(
        &app,
        "Running tasks (o): requeue terminate [taskcompletion] retaineddata",
        "They reboot once their running tasks end, taking no new task.",
    );
    assert_eq!(
        answered(&mut app),
        [Work::Node {
            pool_id: "bigpool".into(),
            node_id: n0.clone(),
            op: NodeOp::Reboot(NodeRebootOption::TaskCompletion),
        }]
    );
    // Each option in turn, then requeue again.
    let removal = |option| Work::RemoveNodes {
        pool_id: "bigpool".into(),
        node_ids: vec![n0.clone()],
        option,
    };
    for (os, want) in [
        (1, NodeDeallocationOption::Terminate),
        (3, NodeDeallocationOption::RetainedData),
        (4, NodeDeallocationOption::Requeue),
    ] {
        key(&mut app, KeyCode::Char('X'));
        for _ in 0..os {
            key(&mut app, KeyCode::Char('o'));
        }
        assert!(question(&app)[2].starts_with("The pool shrinks by them. They leave "));
        assert_eq!(answered(&mut app), [removal(want)]);
    }
    // `o` with no question open: where it acts.
    key(&mut app, KeyCode::Char('o'));
    assert!(app.overlay.is_none());
    assert!(last_notice(&app).starts_with("o chooses, in B's, I's, X's or A's question"));
}

/// The lines of the question on screen, which has Cancel focused.
fn question(app: &App) -> Vec<String> {
    match &app.overlay {
        Some(crate::tui::app::Overlay::Dialog(d)) => {
            assert_eq!(d.buttons[d.focused].label, "Cancel");
            d.lines.clone()
        }
        other => panic!("no question but {other:?}"),
    }
}

/// The question on screen offers `option` (its line of choices) and says what `follows`.
fn asks(app: &App, option: &str, follows: &str) {
    assert_eq!(question(app)[1..], [option, follows]);
}

/// `I` and `A` on the nodes ask to reimage or deallocate them with the reboot's `o` option
/// cycle and send what was chosen; `U` asks to start them (no option: `o` leaves the question
/// as it is) and sends a start. The help lists them from the keymap.
#[test]
fn reimage_deallocate_and_start_ask_first_and_send_their_operation() {
    use crate::azure::models::NodeRebootOption;
    use crate::workflow::controller::{Command as Work, NodeOp};
    let mut app = on_nodes(false);
    let n0 = node(0, NodeState::Running).id;
    let sent = |op| {
        [Work::Node {
            pool_id: "bigpool".into(),
            node_id: n0.clone(),
            op,
        }]
    };
    key(&mut app, KeyCode::Char('I'));
    assert_eq!(
        question(&app),
        [
            format!("Reimage 1 node of pool bigpool: {n0}?"),
            "Running tasks (o): [requeue] terminate taskcompletion retaineddata".into(),
            "They are reimaged now; tasks running on them are requeued. Their disks are wiped; their start task runs again.".into(),
        ]
    );
    key(&mut app, KeyCode::Char('o'));
    both_sizes("browse_reimage_option", &mut app);
    assert_eq!(
        answered(&mut app),
        sent(NodeOp::Reimage(NodeRebootOption::Terminate))
    );
    key(&mut app, KeyCode::Char('A'));
    key(&mut app, KeyCode::Char('o'));
    key(&mut app, KeyCode::Char('o'));
    asks(
        &app,
        "Running tasks (o): requeue terminate [taskcompletion] retaineddata",
        "They are deallocated once their running tasks end, taking no new task. They take no task until started (U).",
    );
    assert_eq!(
        answered(&mut app),
        sent(NodeOp::Deallocate(NodeRebootOption::TaskCompletion))
    );
    key(&mut app, KeyCode::Char('U'));
    let start = [
        format!("Start 1 node of pool bigpool: {n0}?"),
        "They boot again and run their start task.".into(),
    ];
    assert_eq!(question(&app), start);
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(question(&app), start);
    assert_eq!(answered(&mut app), sent(NodeOp::Start));
    key(&mut app, KeyCode::Char('?'));
    both_sizes("browse_nodes_help", &mut app);
}

/// A session on bigpool's nodes (three of them).
fn on_nodes(readonly: bool) -> App {
    let mut app = App::browsing(target(), readonly, Instant::now(), View::Pools);
    app.update(Msg::Resize(120, 36));
    command(&mut app, "pool bigpool");
    let mut p = pool(3, 3);
    p.id = "bigpool".into();
    app.update(Msg::Event(Event::Pool(p)));
    app.update(Msg::Event(Event::Nodes(vec![
        node(0, NodeState::Running),
        node(1, NodeState::Idle),
        node(2, NodeState::Idle),
    ])));
    app
}

/// A session on bigjob's tasks (task1..task4, task2 failed).
fn on_tasks(readonly: bool) -> App {
    let t0 = Instant::now();
    let mut app = App::browsing(target(), readonly, t0, View::Pools);
    app.update(Msg::Resize(120, 36));
    command(&mut app, "job bigjob");
    at(
        &mut app,
        t0,
        1.0,
        Event::Tasks(
            (1..=4)
                .map(|i| task(i, TaskState::Completed, Some(if i == 2 { 1 } else { 0 })))
                .collect(),
        ),
    );
    app
}

#[test]
fn every_action_asks_first_on_cancel_and_applies_to_the_selected_or_marked_rows() {
    use crate::workflow::controller::{Command as Work, NodeOp};
    let s = |v: &str| v.to_string();
    // Pools: R opens the form (dedicated, then spot), whose Enter asks.
    let mut app = browsing(Instant::now());
    key(&mut app, KeyCode::Char('R'));
    assert_eq!(
        app.resize_prompt(),
        "Target nodes of pool bigpool (now 2 + 0 spot):"
    );
    typed(&mut app, "3 1");
    key(&mut app, KeyCode::Enter);
    both_sizes("browse_resize_pool", &mut app);
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    key(&mut app, KeyCode::Char('R'));
    typed(&mut app, "3 1");
    key(&mut app, KeyCode::Enter);
    let a = press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        a,
        [crate::tui::app::Action::Run(Work::ResizePool {
            pool_id: s("bigpool"),
            target: 3,
            spot: 1
        })]
    );
    // A count that is not one: said, nothing asked.
    key(&mut app, KeyCode::Char('R'));
    typed(&mut app, "1 2 3");
    key(&mut app, KeyCode::Enter);
    assert!(app.overlay.is_none());
    assert!(
        app.notices
            .back()
            .unwrap()
            .text
            .contains("is not a node count")
    );
    assert_eq!(confirmed(&mut app, 'H'), [Work::StopResize(s("bigpool"))]);
    assert_eq!(confirmed(&mut app, 'P'), [Work::DeletePool(s("bigpool"))]);
    // Jobs: T, D, E on the selected job, then on the two marked.
    command(&mut app, "jobs");
    assert_eq!(confirmed(&mut app, 'T'), [Work::TerminateJob(s("bigjob"))]);
    assert_eq!(confirmed(&mut app, 'D'), [Work::DisableJob(s("bigjob"))]);
    assert_eq!(confirmed(&mut app, 'E'), [Work::EnableJob(s("bigjob"))]);
    assert_eq!(
        confirmed(&mut app, 'F'),
        [Work::RetryFailedTasks {
            job_ids: vec![s("bigjob")]
        }]
    );
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    assert_eq!(
        confirmed(&mut app, 'T'),
        [
            Work::TerminateJob(s("bigjob")),
            Work::TerminateJob(s("idlejob"))
        ]
    );
    // Nodes: B, D, E on the selected node; X removes the marked ones in one request.
    let mut app = on_nodes(false);
    let (n0, n1) = (node(0, NodeState::Idle).id, node(1, NodeState::Idle).id);
    let on = |id: &str| (s("bigpool"), id.to_string());
    let reboot = |(pool_id, node_id)| Work::Node {
        pool_id,
        node_id,
        op: NodeOp::Reboot(crate::azure::models::NodeRebootOption::Requeue),
    };
    let sched = |(pool_id, node_id), enable| Work::NodeScheduling {
        pool_id,
        node_id,
        enable,
    };
    assert_eq!(confirmed(&mut app, 'B'), [reboot(on(&n0))]);
    assert_eq!(confirmed(&mut app, 'D'), [sched(on(&n0), false)]);
    assert_eq!(confirmed(&mut app, 'E'), [sched(on(&n0), true)]);
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Char(' '));
    both_sizes("browse_nodes_marked", &mut app);
    assert_eq!(confirmed(&mut app, 'B'), [reboot(on(&n0)), reboot(on(&n1))]);
    // Done on the marked rows: they are no longer marked; X removes the selected one.
    assert!(app.browse.as_ref().unwrap().marked.is_empty());
    assert_eq!(
        confirmed(&mut app, 'X'),
        [Work::RemoveNodes {
            pool_id: s("bigpool"),
            node_ids: vec![node(2, NodeState::Idle).id],
            option: crate::azure::models::NodeDeallocationOption::Requeue,
        }]
    );
    // Tasks: T, r, X on the selected task, then on the marked ones; F asks about the failed.
    let mut app = on_tasks(false);
    let t = |task: &str| (s("bigjob"), task.to_string());
    let terminate = |(job_id, task_id)| Work::TerminateTask { job_id, task_id };
    let reactivate = |(job_id, task_id)| Work::ReactivateTask { job_id, task_id };
    let delete = |(job_id, task_id)| Work::DeleteTask { job_id, task_id };
    assert_eq!(confirmed(&mut app, 'T'), [terminate(t("task1"))]);
    assert_eq!(confirmed(&mut app, 'r'), [reactivate(t("task1"))]);
    assert_eq!(confirmed(&mut app, 'X'), [delete(t("task1"))]);
    assert_eq!(
        confirmed(&mut app, 'F'),
        [Work::ReactivateTasks {
            job_id: s("bigjob"),
            task_ids: vec![s("task2")]
        }]
    );
    key(&mut app, KeyCode::Char(' '));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char(' '));
    both_sizes("browse_tasks_marked", &mut app);
    assert_eq!(
        confirmed(&mut app, 'X'),
        [delete(t("task1")), delete(t("task3"))]
    );
    // Done: no longer marked. Another view forgets the marks too.
    assert!(app.browse.as_ref().unwrap().marked.is_empty());
    // A selected task the filter hides is not acted on; g selects the first one shown.
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "task2");
    key(&mut app, KeyCode::Enter);
    assert!(press(&mut app, KeyCode::Char('T')).is_empty() && app.overlay.is_none());
    assert!(
        app.notices
            .back()
            .unwrap()
            .text
            .contains("No task selected")
    );
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(confirmed(&mut app, 'T'), [terminate(t("task2"))]);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(' '));
    assert!(!app.browse.as_ref().unwrap().marked.is_empty());
    command(&mut app, "job tickjob");
    assert!(app.browse.as_ref().unwrap().marked.is_empty());
}

/// Browsing shows what the controller says of a change held or dropped, as the run does.
#[test]
fn a_held_change_is_a_notice_while_browsing() {
    use crate::workflow::events::Held;
    let mut app = on_nodes(false);
    app.update(Msg::Event(Event::Held {
        what: "enable scheduling on node tvm-1".into(),
        how: Held::AlreadyWaiting,
    }));
    let text = "enable scheduling on node tvm-1: already waiting";
    assert_eq!(last_notice(&app), text);
    assert!(screen(&mut app, 120, 36).contains(text));
}

#[test]
fn read_only_refuses_every_action_with_a_notice() {
    let refused = |app: &mut App, k: char| {
        let before = app.notices.len();
        assert!(press(app, KeyCode::Char(k)).is_empty(), "{k}");
        assert!(app.overlay.is_none() && app.entry.is_none(), "{k} asked");
        let n = app.notices.back().expect("a notice");
        assert!(
            n.error && n.text.contains("Read-only session (--readonly): "),
            "{k}: {}",
            n.text
        );
        assert!(app.notices.len() > before || before == 4);
    };
    let mut app = App::browsing(target(), true, Instant::now(), View::Pools);
    app.update(Msg::Resize(120, 36));
    app.update(Msg::Event(Event::Pools(vec![pool_row(
        "bigpool",
        2,
        PoolState::Active,
        1,
    )])));
    app.update(Msg::Event(Event::Jobs(vec![job_row(
        "bigjob",
        "bigpool",
        JobState::Active,
        None,
    )])));
    for k in ['P', 'R', 'H'] {
        refused(&mut app, k);
    }
    command(&mut app, "jobs");
    for k in ['J', 'T', 'D', 'E', 'F'] {
        refused(&mut app, k);
    }
    let mut app = on_nodes(true);
    for k in ['B', 'I', 'X', 'A', 'U', 'D', 'E', 'P', 'R'] {
        refused(&mut app, k);
    }
    let mut app = on_tasks(true);
    for k in ['T', 'r', 'X', 'F', 'J'] {
        refused(&mut app, k);
    }
}

#[test]
fn each_action_key_is_in_the_help_of_its_view_only() {
    use crate::tui::keys::{self, Input};
    use crossterm::event::{KeyEvent, KeyModifiers};
    let ev = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let cases = [
        (Scope::LISTS, 'R', Input::ResizePool),
        (Scope::LISTS, 'H', Input::StopResize),
        (Scope::LISTS, 'T', Input::Terminate),
        (Scope::LISTS, 'D', Input::Disable),
        (Scope::LISTS, 'E', Input::Enable),
        (Scope::LISTS, 'F', Input::RetryFailed),
        (Scope::NODES, 'B', Input::Reboot),
        (Scope::NODES, 'I', Input::Reimage),
        (Scope::NODES, 'X', Input::Remove),
        (Scope::NODES, 'A', Input::Deallocate),
        (Scope::NODES, 'U', Input::StartNode),
        (Scope::NODES, 'D', Input::Disable),
        (Scope::NODES, 'E', Input::Enable),
        (Scope::NODES, ' ', Input::Mark),
        (Scope::TASKS, 'T', Input::Terminate),
        (Scope::TASKS, 'X', Input::Remove),
        (Scope::TASKS, 'r', Input::RetryTask),
        (Scope::TASKS, ' ', Input::Mark),
    ];
    for (scope, c, input) in cases {
        assert_eq!(keys::lookup(&ev(c), scope), Some(input), "{c}");
        // Listed in the help, on its own row or its group's ("J/T/D/E").
        assert!(
            keys::help_rows(scope).any(|b| b.input == input || b.label.contains(c)),
            "{c}"
        );
        // Not in a run's session.
        if !['r', 'R', 'F'].contains(&c) {
            assert_eq!(keys::lookup(&ev(c), Scope::SESSION), None, "{c}");
        }
    }
}

/// `?` on a job's tasks at 80x24: the keys that fit, which of how many, and the rest by
/// scrolling (the last key reached with G); nothing cut off the screen.
#[test]
fn the_tasks_view_s_help_fits_80x24_and_scrolls_to_its_last_key() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    command(&mut app, "job tickjob");
    app.update(Msg::Resize(80, 24));
    key(&mut app, KeyCode::Char('?'));
    let rows: Vec<_> = crate::tui::keys::help_rows(app.scope()).collect();
    assert!(rows.len() > 20, "{} rows fit anyway", rows.len());
    let first = screen(&mut app, 80, 24);
    snap!("browse_tasks_help_80x24", first.clone());
    assert!(
        first.contains(&format!("Keys 1-20 of {}", rows.len())),
        "{first}"
    );
    assert!(first.contains("Esc closes"), "{first}");
    key(&mut app, KeyCode::Char('G'));
    let last = screen(&mut app, 80, 24);
    snap!("browse_tasks_help_end_80x24", last.clone());
    let n = rows.len();
    assert!(
        last.contains(&format!("Keys {}-{n} of {n}", n - 19)),
        "{last}"
    );
    let end = rows[n - 1];
    assert!(last.contains(&end.help[..end.help.len().min(40)]), "{last}");
    // Up scrolls back one; Esc closes.
    key(&mut app, KeyCode::Up);
    let up = screen(&mut app, 80, 24);
    assert!(
        up.contains(&format!("Keys {}-{} of {n}", n - 20, n - 1)),
        "{up}"
    );
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, None);
}
