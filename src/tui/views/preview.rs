//! The selected task: its output file once downloaded, else the end of its stdout and
//! stderr, read by byte range (only appended bytes are fetched). Scrolled as in a pager.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::azure::models::TaskState;
use crate::tui::app::{App, Panel, PreviewLine, Scroll};
use crate::tui::layout;
use crate::tui::theme;
use crate::tui::views::{expand_tabs, panel, truncate};

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Panel::Preview;
    let rows = layout::preview_rows(area);
    let w = area.width.saturating_sub(2) as usize;
    let mut title = vec![Span::styled(" Preview ", theme::title())];
    let Some(t) = app.selected_task_view() else {
        let p = Paragraph::new(Line::styled("select a task", theme::dim()));
        f.render_widget(p.block(panel(Line::from(title), focused)), area);
        return;
    };
    title.push(Span::raw(format!("{} ", t.id)));
    let preview = app.previews.get(&t.id);
    let read = preview.and_then(|p| p.lines().map(|(lines, log)| (p, lines, log)));
    let (lines, log): (Vec<Line>, bool) = match read {
        Some((p, lines, log)) => {
            title.push(Span::styled(
                match &p.output {
                    Some((path, _)) => format!("· {} ", path.display()),
                    None => "· stdout.txt / stderr.txt (end) ".into(),
                },
                theme::dim(),
            ));
            let lines = lines
                .into_iter()
                .map(|l| match l {
                    PreviewLine::Text(s) => Line::raw(expand_tabs(s).into_owned()),
                    PreviewLine::Note(s) => Line::styled(s, theme::dim()),
                    PreviewLine::StderrRule => Line::styled(
                        format!("── stderr {}", "─".repeat(w.saturating_sub(10))),
                        theme::error(),
                    ),
                    PreviewLine::Stderr(s) => {
                        Line::styled(expand_tabs(s).into_owned(), Style::new().fg(theme::BAD))
                    }
                })
                .collect();
            (lines, log)
        }
        None => {
            let msg = match (&t.state, t.held_by()) {
                (TaskState::Active, Some(held)) => {
                    format!("{} {held} (the tasks it depends on)", t.state_name())
                }
                (TaskState::Active, None) => "waiting for a node".into(),
                _ if app.outputs.contains_key(&t.id) => "reading the output file...".into(),
                _ => "reading stdout.txt and stderr.txt...".into(),
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
    let top = app.preview_scroll.top(lines.len(), rows, log);
    if lines.len() > rows {
        title.push(Span::styled(
            if top + rows >= lines.len() && app.preview_scroll != Scroll::Line(top) {
                "· end, following ".to_string()
            } else {
                format!("· lines {}-{} of {} ", top + 1, top + rows, lines.len())
            },
            theme::dim(),
        ));
    }
    let shown: Vec<Line> = lines.into_iter().skip(top).take(rows).collect();
    f.render_widget(
        Paragraph::new(shown).block(panel(Line::from(title), focused)),
        area,
    );
}
