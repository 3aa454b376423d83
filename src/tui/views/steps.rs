//! The nine steps, each with its state and duration.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, StepState};
use crate::tui::theme;
use crate::tui::views::{fmt_dur, panel, truncate};
use crate::workflow::events::Step;

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let lines: Vec<Line> = app
        .steps
        .iter()
        .map(|(step, state)| {
            let (mark, style, right) = match state {
                StepState::Pending => ("·", theme::dim(), String::new()),
                StepState::Running { since } => (
                    "▶",
                    Style::new().fg(theme::ACCENT),
                    fmt_dur(app.now.saturating_duration_since(*since)),
                ),
                // The last step says when it kept something (the pool panel shows what).
                StepState::Done { note, .. } if *step == Step::Cleanup && note.contains("kept") => {
                    ("✓", Style::new().fg(theme::WARN), "kept".to_string())
                }
                StepState::Done { elapsed, .. } => {
                    ("✓", Style::new().fg(theme::OK), fmt_dur(*elapsed))
                }
                StepState::Failed { .. } => ("✗", theme::error(), "failed".into()),
            };
            let label = format!("{mark} {} {}", step.number(), step.title());
            let room = inner_w.saturating_sub(right.chars().count() + 1);
            let label = truncate(&label, room);
            let pad = inner_w.saturating_sub(label.chars().count() + right.chars().count());
            Line::from(vec![
                Span::styled(label, style),
                Span::raw(" ".repeat(pad)),
                Span::styled(right, theme::dim()),
            ])
        })
        .collect();
    let title = Line::from(vec![Span::styled(" Steps ", theme::title())]);
    f.render_widget(Paragraph::new(lines).block(panel(title, false)), area);
}
