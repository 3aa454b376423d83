//! The nine steps, each with its state and duration. A failed step shows its error below it,
//! in the rows of the steps that will not run; Enter on the panel shows all of it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::tui::app::{App, Panel, StepState};
use crate::tui::layout;
use crate::tui::theme;
use crate::tui::views::{fmt_dur, panel, truncate};
use crate::workflow::events::Step;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Panel::Steps;
    let mut title = vec![Span::styled(" Steps ", theme::title())];
    if let Some(w) = &app.workload {
        title.push(Span::raw(format!("· {} ", w.name)));
    }
    let title = Line::from(title);
    f.render_widget(panel(title, focused), area);
    let inner = layout::inside_border(area);
    let width = inner.width as usize;
    let failed_at = app
        .steps
        .iter()
        .position(|(_, s)| matches!(s, StepState::Failed { .. }));
    // The rows up to the failed step (all of them if none failed), and the steps after it
    // that run all the same (the cleanup); those that never will are left out.
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for (i, (step, state)) in app.steps.iter().enumerate() {
        let line = step_line(app, *step, state, width, focused && i == app.selected_step);
        match failed_at {
            Some(f) if i > f && *state == StepState::Pending => {}
            Some(f) if i > f => after.push(line),
            _ => before.push(line),
        }
    }
    let h = inner.height as usize;
    let Some((_, error)) = app.failure() else {
        f.render_widget(Paragraph::new(before), inner);
        return;
    };
    let error = Paragraph::new(
        error
            .lines()
            .map(|l| Line::styled(l.to_string(), theme::error()))
            .collect::<Vec<_>>(),
    )
    .wrap(Wrap { trim: true });
    let indent = 2u16;
    let need = error.line_count(inner.width.saturating_sub(indent));
    // At least three lines of the error: the first steps give way if needed.
    let mut room = h.saturating_sub(before.len() + after.len());
    let short = need.min(3).saturating_sub(room);
    let drop = short.min(before.len().saturating_sub(1));
    before.drain(..drop);
    room += drop;
    let row = |y: usize, height: usize| Rect {
        x: inner.x,
        y: inner.y + y as u16,
        width: inner.width,
        height: height as u16,
    };
    let (b, r) = (before.len(), room.min(h.saturating_sub(before.len())));
    f.render_widget(Paragraph::new(before), row(0, b));
    let mut err_area = row(b, r);
    err_area.x += indent;
    err_area.width = err_area.width.saturating_sub(indent);
    f.render_widget(error, err_area);
    if need > r && r > 0 {
        let hint = Line::styled(
            truncate("… Enter on this panel shows all", width.saturating_sub(2)),
            theme::dim(),
        );
        let mut last = row(b + r - 1, 1);
        last.x += indent;
        last.width = last.width.saturating_sub(indent);
        f.render_widget(Paragraph::new(hint), last);
    }
    let rest = h.saturating_sub(b + r);
    f.render_widget(Paragraph::new(after), row(b + r, rest.min(h)));
}

fn step_line<'a>(
    app: &App,
    step: Step,
    state: &StepState,
    width: usize,
    selected: bool,
) -> Line<'a> {
    let (mark, style, right) = match state {
        StepState::Pending => ("·", theme::dim(), String::new()),
        StepState::Running { since } => (
            "▶",
            Style::new().fg(theme::ACCENT),
            fmt_dur(app.now.saturating_duration_since(*since)),
        ),
        // The last step says when it kept something (the pool panel shows what).
        StepState::Done { note, .. } if step == Step::Cleanup && note.contains("kept") => {
            ("✓", Style::new().fg(theme::WARN), "kept".to_string())
        }
        StepState::Done { elapsed, .. } => ("✓", Style::new().fg(theme::OK), fmt_dur(*elapsed)),
        StepState::Failed { .. } => ("✗", theme::error(), "failed".into()),
    };
    let label = format!("{mark} {} {}", step.number(), app.step_title(step));
    let room = width.saturating_sub(right.chars().count() + 1);
    let label = truncate(&label, room);
    let pad = width.saturating_sub(label.chars().count() + right.chars().count());
    let line = Line::from(vec![
        Span::styled(label, style),
        Span::raw(" ".repeat(pad)),
        Span::styled(right, theme::dim()),
    ]);
    if selected {
        line.style(theme::selected())
    } else {
        line
    }
}
