//! Colours and styles, in one place.

use ratatui::style::{Color, Modifier, Style};

use crate::workflow::events::TaskView;

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

/// The colour of a compute node state.
pub fn node_state(state: &str) -> Color {
    match state {
        "idle" => OK,
        "running" => ACCENT,
        "creating" | "starting" | "waitingforstarttask" | "rebooting" | "reimaging" => WARN,
        "starttaskfailed" | "unusable" | "unknown" => BAD,
        "leavingpool" | "offline" | "preempted" | "deallocated" | "deallocating" => Color::Magenta,
        _ => DIM,
    }
}

/// The colour of a task's state (failed tasks in red).
pub fn task_state(t: &TaskView) -> Color {
    match t.state.as_str() {
        "active" => WARN,
        "preparing" | "running" => ACCENT,
        "completed" if crate::tui::app::task_failed(t) => BAD,
        "completed" => OK,
        _ => DIM,
    }
}

/// The colour of a start task's state.
pub fn start_task_state(state: Option<&str>, exit_code: Option<i32>) -> Color {
    match (state, exit_code) {
        (Some("completed"), Some(0)) => OK,
        (Some("completed"), _) => BAD,
        (Some("running"), _) => ACCENT,
        _ => DIM,
    }
}
