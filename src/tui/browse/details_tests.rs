//! The details view: `i` on any entity, its errors first, its SAS signatures redacted, its
//! keys; snapshots at 80x24 and 160x48.

use std::time::Instant;

use crossterm::event::KeyCode;
use serde_json::{Value, json};

use super::details::Tone;
use super::tests::{both_sizes, browsing, command};
use super::*;
use crate::azure::models::{NodeState, TaskState};
use crate::tui::app::{App, Msg};
use crate::tui::keys::{self, Input, Scope};
use crate::tui::testing::*;
use crate::workflow::events::{Event, Properties};

/// A task that failed, as the service returned it (tests/fixtures/recorded, see SOURCE.md).
fn failed_task() -> Value {
    serde_json::from_str(include_str!(
        "../../../tests/fixtures/recorded/task_get_completed.json"
    ))
    .unwrap()
}

fn details(app: &App) -> &details::Details {
    app.browse
        .as_ref()
        .and_then(|b| b.details.as_ref())
        .expect("a details view")
}

fn deliver(app: &mut App, of: Entity, json: Value) {
    app.update(Msg::Event(Event::Details {
        of,
        properties: Some(Properties::from_service(json)),
    }));
}

/// The tasks of tickjob with task1 in `state`, then `i`: task1's details, being read.
fn task_details(state: TaskState, exit: Option<i32>) -> (App, Entity) {
    let mut app = browsing(Instant::now());
    command(&mut app, "job tickjob");
    app.update(Msg::Event(Event::Tasks(vec![task(1, state, exit)])));
    key(&mut app, KeyCode::Char('i'));
    let of = Entity::Task {
        job: "tickjob".into(),
        task: "task1".into(),
    };
    assert_eq!(app.view(), Some(&View::Details(of.clone())));
    (app, of)
}

#[test]
fn i_shows_the_details_of_a_pool_job_node_or_task_and_esc_goes_back() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    key(&mut app, KeyCode::Char('i'));
    let pool = Entity::Pool("bigpool".into());
    assert_eq!(app.view(), Some(&View::Details(pool.clone())));
    assert_eq!(app.browse_watching(), Some(Watching::Details(pool.clone())));
    assert_eq!(
        app.browse.as_ref().unwrap().crumbs(),
        "pools › bigpool › details"
    );
    assert_eq!(app.scope(), Scope::DETAILS);
    // Enter does not drill down from here; Esc goes back to the list.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view(), Some(&View::Details(pool)));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), Some(&View::Pools));

    command(&mut app, "jobs");
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('i'));
    assert_eq!(
        app.view(),
        Some(&View::Details(Entity::Job("idlejob".into())))
    );
    key(&mut app, KeyCode::Esc);

    command(&mut app, "pool bigpool");
    app.update(Msg::Event(Event::Nodes(vec![node(0, NodeState::Idle)])));
    key(&mut app, KeyCode::Char('i'));
    let Some(View::Details(Entity::Node { pool, node })) = app.view().cloned() else {
        panic!("node details: {:?}", app.view());
    };
    assert_eq!(pool, "bigpool");
    assert!(node.starts_with("tvmps_00000000"));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), Some(&View::Nodes("bigpool".into())));

    command(&mut app, "job tickjob");
    app.update(Msg::Event(Event::Tasks(vec![task(
        1,
        TaskState::Running,
        None,
    )])));
    key(&mut app, KeyCode::Char('i'));
    assert_eq!(
        app.view(),
        Some(&View::Details(Entity::Task {
            job: "tickjob".into(),
            task: "task1".into()
        }))
    );
    // The keys listed by ? are those that dispatch here: the pager's and w, not the lists'.
    let help: Vec<Input> = keys::help_rows(app.scope()).map(|b| b.input).collect();
    assert!(help.contains(&Input::Wrap) && help.contains(&Input::PageUp));
    assert!(!help.contains(&Input::Details) && !help.contains(&Input::Sort));
    key(&mut app, KeyCode::Char('w'));
    assert!(details(&app).wrap);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), Some(&View::Tasks("tickjob".into())));
}

#[test]
fn details_come_from_the_service_and_scroll() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    command(&mut app, "jobs");
    key(&mut app, KeyCode::Char('i'));
    let of = Entity::Job("bigjob".into());
    assert_eq!(details(&app).found, None);
    // Another entity's properties (a view left since) are not taken.
    deliver(
        &mut app,
        Entity::Job("tickjob".into()),
        json!({"id": "tickjob"}),
    );
    assert_eq!(details(&app).found, None);
    let many: serde_json::Map<String, Value> =
        (0..100).map(|i| (format!("k{i:03}"), json!(i))).collect();
    deliver(&mut app, of.clone(), Value::Object(many));
    let d = details(&app);
    assert_eq!((d.found, d.problems), (Some(true), 0));
    assert_eq!(d.lines[0], (Tone::Heading, "Properties".into()));
    assert_eq!(d.lines[2].1, "  \"k000\": 0,");
    app.update(Msg::Resize(80, 24));
    key(&mut app, KeyCode::PageDown);
    let top = details(&app).top;
    assert!(top > 10, "{top}");
    key(&mut app, KeyCode::Char('G'));
    let rows = app.log_rows();
    assert_eq!(details(&app).top, details(&app).lines.len() - rows);
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(details(&app).top, 0);
    // Gone: said so.
    app.update(Msg::Event(Event::Details {
        of,
        properties: None,
    }));
    assert!(screen(&mut app, 80, 24).contains("it does not exist (any more)"));
}

/// The failure info of each kind of entity, at the top, before its properties.
#[test]
fn the_error_or_failure_info_comes_first() {
    let (mut app, of) = task_details(TaskState::Completed, Some(1));
    deliver(&mut app, of, failed_task());
    let d = details(&app);
    let texts: Vec<&str> = d.lines.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        texts[..4],
        [
            "Errors",
            "task failed: CommandProgramNotFound (UserError error): The specified command program is not found",
            "  Message: The system cannot find the file specified",
            "",
        ]
    );
    assert_eq!(d.problems, 3);
    assert_eq!(d.lines[1].0, Tone::Error);
    assert_eq!(texts[4], "Properties");
    let screen = screen(&mut app, 160, 48);
    let first = screen.find("CommandProgramNotFound").unwrap();
    assert!(first < screen.find("\"commandLine\"").unwrap());
    assert!(screen.contains("has errors"));

    // A pool's resize errors and autoscale error, a node's errors and start task failure, a
    // job's scheduling error.
    let cases = [
        (
            Entity::Pool("p".into()),
            json!({"id": "p", "resizeErrors": [{"code": "AccountCoreQuotaReached",
                "message": "The cores quota was reached", "values": [{"name": "CoreQuota", "value": "20"}]}],
                "autoScaleRun": {"error": {"code": "InvalidFormula", "message": "bad"}}}),
            vec![
                "resize error: AccountCoreQuotaReached: The cores quota was reached",
                "  CoreQuota: 20",
                "autoscale error: InvalidFormula: bad",
            ],
        ),
        (
            Entity::Node {
                pool: "p".into(),
                node: "n".into(),
            },
            json!({"id": "n", "errors": [{"code": "DiskFull", "message": "disk full",
                "errorDetails": [{"name": "Path", "value": "/mnt"}]}],
                "startTaskInfo": {"exitCode": 2, "failureInfo": {"category": "UserError",
                "code": "FailureExitCode", "message": "The task exited with an exit code representing a failure"}}}),
            vec![
                "node error: DiskFull: disk full",
                "  Path: /mnt",
                "start task failed: FailureExitCode (UserError error): The task exited with an exit code representing a failure",
            ],
        ),
        (
            Entity::Job("j".into()),
            json!({"id": "j", "executionInfo": {"schedulingError": {"category": "UserError",
                "code": "JobPreparationTaskFailed", "message": "prep failed"}}}),
            vec!["scheduling error: JobPreparationTaskFailed (UserError error): prep failed"],
        ),
    ];
    for (of, json, want) in cases {
        let mut d = details::Details::open(of);
        d.apply(Some(&Properties::from_service(json)));
        let got: Vec<&str> = d.lines[1..=want.len()]
            .iter()
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(got, want);
        assert_eq!(d.lines[0].1, "Errors");
    }
}

#[test]
fn sas_signatures_are_redacted_from_the_details() {
    let (mut app, of) = task_details(TaskState::Running, None);
    let mut json = failed_task();
    json["resourceFiles"] = json!([{"httpUrl":
        "https://acct.blob.core.windows.net/input/a.txt?sv=2022-11-02&se=2026-12-01T00%3A00%3A00Z&sr=b&sp=r&sig=SeCrEtSiGnAtUrE%2B1%3D",
        "filePath": "a.txt"}]);
    json["outputFiles"] = json!([{"filePattern": "out*", "destination": {"container": {
        "containerUrl": "https://acct.blob.core.windows.net/output?sp=cw&sig=AnOtHeRsEcReT", "path": "o"}},
        "uploadOptions": {"uploadCondition": "taskcompletion"}}]);
    deliver(&mut app, of, json);
    app.update(Msg::Key(crossterm::event::KeyEvent::new(
        KeyCode::Char('w'),
        crossterm::event::KeyModifiers::NONE,
    )));
    let mut all = String::new();
    for _ in 0..4 {
        all.push_str(&screen(&mut app, 160, 48));
        key(&mut app, KeyCode::PageDown);
    }
    assert!(all.contains("sig=REDACTED"), "{all}");
    assert!(all.contains("sp=cw&sig=REDACTED"), "{all}");
    assert!(!all.contains("SeCrEt") && !all.contains("AnOtHeR"), "{all}");
}

#[test]
fn snapshots_of_the_details_of_a_failed_task() {
    let (mut app, of) = task_details(TaskState::Completed, Some(1));
    both_sizes("browse_details_reading", &mut app);
    deliver(&mut app, of, failed_task());
    both_sizes("browse_details_task", &mut app);
    key(&mut app, KeyCode::Char('?'));
    both_sizes("browse_details_help", &mut app);
}
