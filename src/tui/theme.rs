//! Colours and styles, in one place.

use ratatui::style::{Color, Modifier, Style};

use crate::azure::models::{JobState, NodeState, PoolState, StartTaskState, TaskState};
use crate::workflow::events::{TaskView, Waits};

pub const ACCENT: Color = Color::Cyan;
pub const DIM: Color = Color::DarkGray;
pub const OK: Color = Color::Green;
pub const WARN: Color = Color::Yellow;
pub const BAD: Color = Color::Red;

pub fn border(focused: bool) -> Style {
    if focused {
        Style::new().fg(ACCENT)
    } else {
        Style::new().fg(DIM)
    }
}

pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn dim() -> Style {
    Style::new().fg(DIM)
}

pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

pub fn error() -> Style {
    Style::new().fg(BAD)
}

/// The colour of a pool's state; `deleted` is the session's own knowledge (the pool is gone).
pub fn pool_state(state: &PoolState, deleted: bool) -> Color {
    match state {
        _ if deleted => WARN,
        PoolState::Active => OK,
        PoolState::Deleting => WARN,
        PoolState::Unknown(_) => DIM,
    }
}

/// The colour of a job's state.
pub fn job_state(state: &JobState) -> Color {
    use JobState as J;
    match state {
        J::Active => ACCENT,
        J::Completed => OK,
        J::Disabling | J::Disabled | J::Enabling | J::Terminating | J::Deleting => WARN,
        J::Unknown(_) => DIM,
    }
}

/// The colour of a compute node state.
pub fn node_state(state: &NodeState) -> Color {
    use NodeState as N;
    match state {
        N::Idle => OK,
        N::Running => ACCENT,
        N::Creating | N::Starting | N::WaitingForStartTask | N::Rebooting | N::Reimaging => WARN,
        N::StartTaskFailed | N::Unusable | N::LostContact => BAD,
        N::LeavingPool | N::Offline | N::Preempted | N::Deallocated | N::Deallocating => {
            Color::Magenta
        }
        N::UpgradingOs | N::Unknown(_) => DIM,
    }
}

/// The colour of a task's state (failed tasks in red).
pub fn task_state(t: &TaskView) -> Color {
    match &t.waits {
        Some(Waits::Blocked { .. }) => return BAD,
        Some(Waits::On(_)) | None => {}
    }
    match t.state {
        TaskState::Active => WARN,
        TaskState::Preparing | TaskState::Running => ACCENT,
        TaskState::Completed if crate::tui::app::task_failed(t) => BAD,
        TaskState::Completed => OK,
        TaskState::Unknown(_) => DIM,
    }
}

/// The colour of a start task's state.
pub fn start_task_state(state: Option<&StartTaskState>, exit_code: Option<i32>) -> Color {
    match (state, exit_code) {
        (Some(StartTaskState::Completed), Some(0)) => OK,
        (Some(StartTaskState::Completed), _) => BAD,
        (Some(StartTaskState::Running), _) => ACCENT,
        _ => DIM,
    }
}
