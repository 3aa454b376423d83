//! The selected task: its output file once downloaded, else the end of its stdout and
//! stderr, read by byte range (only appended bytes are fetched).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::azure::models::TaskState;
use crate::tui::app::{App, Panel};
use crate::tui::theme;
use crate::tui::views::{panel, truncate};

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Panel::Preview;
    let h = area.height.saturating_sub(2) as usize;
    let w = area.width.saturating_sub(2) as usize;
    let mut title = vec![Span::styled(" Preview ", theme::title())];
    let Some(t) = app.selected_task_view() else {
        let p = Paragraph::new(Line::styled("select a task", theme::dim()));
        f.render_widget(p.block(panel(Line::from(title), focused)), area);
        return;
    };
    title.push(Span::raw(format!("{} ", t.id)));
    let preview = app.previews.get(&t.id);
    // (lines, show the end rather than the beginning)
    let (lines, from_end): (Vec<Line>, bool) = match preview {
        Some(p) if p.output.is_some() => {
            let (path, text) = p.output.as_ref().expect("checked");
            title.push(Span::styled(format!("· {} ", path.display()), theme::dim()));
            (
                text.lines().map(|l| Line::raw(l.to_string())).collect(),
                false,
            )
        }
        Some(p) if p.stdout.read_once || p.stderr.read_once => {
            title.push(Span::styled(
                "· stdout.txt / stderr.txt (end) ",
                theme::dim(),
            ));
            let mut lines: Vec<Line> = Vec::new();
            if p.stdout.text.is_empty() {
                lines.push(Line::styled("(stdout is empty)", theme::dim()));
            }
            lines.extend(p.stdout.text.lines().map(|l| Line::raw(l.to_string())));
            if !p.stderr.text.is_empty() {
                lines.push(Line::styled(
                    format!("── stderr {}", "─".repeat(w.saturating_sub(10))),
                    theme::error(),
                ));
                lines.extend(
                    p.stderr
                        .text
                        .lines()
                        .map(|l| Line::styled(l.to_string(), Style::new().fg(theme::BAD))),
                );
            }
            (lines, true)
        }
        _ => {
            let msg = match t.state {
                TaskState::Active => "waiting for a node",
                _ => "reading stdout.txt and stderr.txt...",
            };
            (vec![Line::styled(msg, theme::dim())], false)
        }
    };
    if let Some(failure) = &t.failure {
        title.push(Span::styled(
            truncate(&format!("· {failure} "), w / 2),
            theme::error(),
        ));
    }
    let scroll = app.preview_scroll as usize;
    let start = if from_end {
        lines.len().saturating_sub(h + scroll)
    } else {
        scroll.min(lines.len().saturating_sub(1))
    };
    let shown: Vec<Line> = lines.into_iter().skip(start).take(h).collect();
    f.render_widget(
        Paragraph::new(shown).block(panel(Line::from(title), focused)),
        area,
    );
}
