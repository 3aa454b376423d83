use std::time::Duration;

use chrono::Utc;

use super::passes::{end_task, parse_duration, wall_clock};
use super::states::recover;
use super::states::requeue;
use crate::azure::models::{ComputeNode, NodeState, TaskExecutionResult, TaskState};
use crate::emulator::batch::agent;
use crate::emulator::batch::state::{NodeRec, State, TaskRec};

#[test]
fn iso_durations() {
    assert_eq!(parse_duration("PT1H30M"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("P7D"), Some(Duration::from_secs(7 * 86400)));
    assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("1H"), None);
    assert_eq!(parse_duration("PT5X"), None);
    assert!(wall_clock(Some("P10675199DT2H48M5.4775807S")).is_none());
    assert_eq!(wall_clock(Some("PT2S")), Some(Duration::from_secs(2)));
}

fn task(state: TaskState) -> TaskRec {
    TaskRec {
        job_key: "j".into(),
        task: crate::azure::models::Task {
            id: "t".into(),
            state: Some(state),
            command_line: "true".into(),
            ..Default::default()
        },
        node: Some(("p".into(), "n".into())),
        run: Some(7),
        pgid: None,
        files_removed: false,
        subtasks: Vec::new(),
        kept_groups: Vec::new(),
    }
}

#[test]
fn requeue_returns_a_running_task_to_active() {
    let now = Utc::now();
    let mut t = task(TaskState::Running);
    requeue(&mut t, now);
    assert_eq!(*t.state(), TaskState::Active);
    assert_eq!(t.task.previous_state, Some(TaskState::Running));
    assert_eq!(t.task.execution_info.as_ref().unwrap().requeue_count, 1);
    assert!(t.run.is_none() && t.node.is_none());
}

#[test]
fn end_task_records_result() {
    let now = Utc::now();
    let mut t = task(TaskState::Running);
    end_task(
        &mut t,
        Some(3),
        Some(agent::failure("FailureExitCode", "x")),
        now,
    );
    assert_eq!(*t.state(), TaskState::Completed);
    let info = t.task.execution_info.unwrap();
    assert_eq!(info.result, Some(TaskExecutionResult::Failure));
    assert_eq!(info.exit_code, Some(3));
}

#[test]
fn recovery_requeues_running_tasks_and_reboots_nodes() {
    let mut st = State::default();
    st.tasks
        .insert(("j".into(), "t".into()), task(TaskState::Running));
    st.tasks
        .insert(("j".into(), "u".into()), task(TaskState::Completed));
    if let Some(t) = st.tasks.get_mut(&("j".to_string(), "u".to_string())) {
        t.run = None;
    }
    st.nodes.insert(
        ("p".into(), "n".into()),
        NodeRec {
            pool_key: "p".into(),
            node: ComputeNode {
                id: "n".into(),
                state: NodeState::Idle,
                ..Default::default()
            },
            phase_since: Utc::now(),
            start_run: None,
            start_pgid: None,
            users: Vec::new(),
            pending_reboot: None,
            pending_action: Default::default(),
        },
    );
    recover(&mut st, Utc::now());
    assert_eq!(
        *st.tasks[&("j".to_string(), "t".to_string())].state(),
        TaskState::Active
    );
    assert_eq!(
        *st.tasks[&("j".to_string(), "u".to_string())].state(),
        TaskState::Completed
    );
    assert_eq!(
        st.nodes[&("p".to_string(), "n".to_string())].node.state,
        NodeState::Rebooting
    );
}
