use std::time::Duration;

use chrono::{DateTime, Utc};

use super::next_due;
use super::passes::{end_task, parse_duration, wall_clock};
use super::states::recover;
use super::states::requeue;
use crate::azure::models::{
    AllocationState, ComputeNode, NodeState, Pool, TaskExecutionResult, TaskState,
};
use crate::emulator::EmulatorConfig;
use crate::emulator::batch::agent;
use crate::emulator::batch::state::{NodeRec, PoolRec, State, TaskRec};

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

/// Node `n` of pool `p`, in `state` since `since`.
fn node(state: NodeState, since: DateTime<Utc>) -> NodeRec {
    NodeRec {
        pool_key: "p".into(),
        node: ComputeNode {
            id: "n".into(),
            state,
            ..Default::default()
        },
        phase_since: since,
        start_run: None,
        start_pgid: None,
        users: Vec::new(),
        pending_reboot: None,
        pending_action: Default::default(),
    }
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
    st.nodes
        .insert(("p".into(), "n".into()), node(NodeState::Idle, Utc::now()));
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

/// The loop wakes when a pool's allocation or a node's boot phase falls due (half the boot
/// delay each: `creating`, then `starting`), not on its next tick; what was due by the last
/// pass (which advanced it) and nodes out of their boot phases do not count.
#[test]
fn the_next_pass_is_due_when_an_allocation_or_a_boot_phase_is() {
    let ms = chrono::Duration::milliseconds;
    let t = Utc::now();
    let mut config = EmulatorConfig::new("unused");
    config.allocation_delay = Duration::from_millis(500);
    config.node_boot_delay = Duration::from_secs(2);
    let mut st = State::default();
    let mut pool = PoolRec::new(Pool::default(), t);
    pool.pool.allocation_state = Some(AllocationState::Resizing);
    st.pools.insert("p".into(), pool);
    st.nodes.insert(
        ("p".into(), "idle".into()),
        node(NodeState::Idle, t - ms(5000)),
    );
    assert_eq!(next_due(&config, &st, t), Some(t + ms(500)));
    st.nodes.insert(
        ("p".into(), "n".into()),
        node(NodeState::Creating, t - ms(900)),
    );
    assert_eq!(next_due(&config, &st, t), Some(t + ms(100)));
    assert_eq!(next_due(&config, &st, t + ms(100)), Some(t + ms(500)));
    assert_eq!(next_due(&config, &st, t + ms(500)), None);
    st.nodes.insert(
        ("p".into(), "n".into()),
        node(NodeState::Starting, t + ms(100)),
    );
    assert_eq!(next_due(&config, &st, t + ms(500)), Some(t + ms(1100)));
}
