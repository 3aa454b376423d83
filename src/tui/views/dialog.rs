//! Overlays: the help, confirmation dialogs, details of a node or task, and the resize prompt.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::tui::app::{App, DetailsOf, Dialog, Entry, Overlay, StepState};
use crate::tui::theme;
use crate::tui::views::{centered, fmt_dur};
use crate::tui::{keys, layout};

pub fn render_overlay(app: &App, f: &mut Frame, area: Rect) {
    match &app.overlay {
        Some(Overlay::Help(top)) => help(app, *top, f, area),
        Some(Overlay::Dialog(d)) => dialog(d, f, area),
        Some(Overlay::Details(what)) => details(app, what, f, area),
        None => {}
    }
    if let Some(Entry::Resize(text)) = &app.entry {
        let r = centered(area, 52, 5);
        f.render_widget(Clear, r);
        let lines = vec![
            Line::from(app.resize_prompt()),
            Line::from(vec![
                Span::styled("> ", Style::new().fg(theme::ACCENT)),
                Span::raw(text.clone()),
                Span::styled("█", Style::new().fg(theme::ACCENT)),
            ]),
            Line::styled("DEDICATED [SPOT] · Enter resize · Esc cancel", theme::dim()),
        ];
        f.render_widget(
            Paragraph::new(lines).block(overlay_block(" Resize pool ", false)),
            r,
        );
    }
}

fn overlay_block(title: &str, danger: bool) -> Block<'_> {
    Block::bordered()
        .title(Span::styled(title, theme::title()))
        .border_style(Style::new().fg(if danger { theme::BAD } else { theme::ACCENT }))
}

/// The keys of the view on screen from row `top`, as many as fit; the last line says which
/// when not all do.
fn help(app: &App, top: usize, f: &mut Frame, area: Rect) {
    let rows: Vec<&keys::Binding> = keys::help_rows(app.scope()).collect();
    let fit = layout::help_rows_fit(area);
    let top = top.min(rows.len().saturating_sub(fit));
    let shown = &rows[top..rows.len().min(top + fit)];
    let r = centered(area, 72, shown.len() as u16 + 4);
    f.render_widget(Clear, r);
    let mut lines: Vec<Line> = shown
        .iter()
        .map(|b| {
            Line::from(vec![
                Span::styled(format!("{:>10}  ", b.label), Style::new().fg(theme::ACCENT)),
                Span::raw(b.help),
            ])
        })
        .collect();
    let last = if shown.len() < rows.len() {
        format!(
            "Keys {}-{} of {} (↑ ↓ PgUp PgDn scroll). Actions ask first. Esc closes.",
            top + 1,
            top + shown.len(),
            rows.len()
        )
    } else {
        "Actions ask first; their dialog starts on Cancel. Esc closes this help.".into()
    };
    lines.push(Line::styled(last, theme::dim()));
    f.render_widget(
        Paragraph::new(lines).block(overlay_block(" Keys ", false)),
        r,
    );
}

pub fn dialog(d: &Dialog, f: &mut Frame, area: Rect) {
    let natural = d
        .lines
        .iter()
        .map(|l| l.chars().count())
        .chain(std::iter::once(
            d.buttons.iter().map(|b| b.label.len() + 8).sum::<usize>(),
        ))
        .max()
        .unwrap_or(20)
        .max(30) as u16;
    // On a small screen (the quit dialog below the minimum size) it wraps to fit.
    let width = natural.saturating_add(4).min(area.width);
    let mut lines: Vec<Line> = d.lines.iter().map(|l| Line::raw(l.clone())).collect();
    lines.push(Line::raw(""));
    let mut buttons = Vec::new();
    for (i, b) in d.buttons.iter().enumerate() {
        let style = if i == d.focused {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::new()
        };
        buttons.push(Span::styled(format!(" [{}] {} ", b.key, b.label), style));
        buttons.push(Span::raw("  "));
    }
    lines.push(Line::from(buttons));
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    // The borders and a blank row under the buttons.
    let height = text.line_count(width.saturating_sub(2)) as u16 + 3;
    let r = centered(area, width, height);
    f.render_widget(Clear, r);
    f.render_widget(
        text.block(overlay_block(&format!(" {} ", d.title), d.danger)),
        r,
    );
}

fn kv<'a>(k: &str, v: String) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{k:>16}  "), theme::dim()),
        Span::raw(v),
    ])
}

fn details(app: &App, what: &DetailsOf, f: &mut Frame, area: Rect) {
    let dash = || "-".to_string();
    let (title, lines) = match what {
        DetailsOf::Step(step) => {
            let state = app.steps.iter().find(|(s, _)| s == step).map(|(_, st)| st);
            let mut lines = Vec::new();
            match state {
                Some(StepState::Pending) | None => lines.push(kv("state", "pending".into())),
                Some(StepState::Running { since }) => {
                    lines.push(kv("state", "running".into()));
                    lines.push(kv(
                        "for",
                        fmt_dur(app.now.saturating_duration_since(*since)),
                    ));
                }
                Some(StepState::Done { elapsed, note }) => {
                    lines.push(kv("state", "done".into()));
                    lines.push(kv("took", fmt_dur(*elapsed)));
                    if !note.is_empty() {
                        lines.push(kv("note", note.clone()));
                    }
                }
                Some(StepState::Failed { error }) => {
                    lines.push(kv("state", "failed".into()));
                    lines.push(Line::styled("error:", theme::dim()));
                    lines.extend(
                        error
                            .lines()
                            .map(|l| Line::styled(l.to_string(), theme::error())),
                    );
                }
            }
            // What the run said during it (its headless lines), the last of them.
            let said: Vec<&str> = app.step_lines(*step).collect();
            if !said.is_empty() {
                lines.push(Line::styled("what it said:", theme::dim()));
                for l in &said[said.len().saturating_sub(12)..] {
                    lines.push(Line::raw(l.to_string()));
                }
            }
            (
                format!(" Step {}/9 {} ", step.number(), app.step_title(*step)),
                lines,
            )
        }
        DetailsOf::Task(id) => {
            let mut lines = Vec::new();
            if let Some(t) = app.tasks.get(id) {
                lines.push(kv("task", t.id.clone()));
                lines.push(kv(
                    "state",
                    match t.held_by() {
                        Some(held) => format!("{} ({} {held})", t.state, t.state_name()),
                        None => t.state.to_string(),
                    },
                ));
                lines.push(kv(
                    "result",
                    t.result
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(dash),
                ));
                lines.push(kv(
                    "exit code",
                    t.exit_code.map(|c| c.to_string()).unwrap_or_else(dash),
                ));
                lines.push(kv("node", t.node_id.clone().unwrap_or_else(dash)));
                lines.push(kv(
                    "duration",
                    t.duration_at(app.wall)
                        .map(|ms| fmt_dur(std::time::Duration::from_millis(ms)))
                        .unwrap_or_else(dash),
                ));
                lines.push(kv("retries", t.retries.to_string()));
                lines.push(kv("requeues", t.requeues.to_string()));
                lines.push(kv("failure", t.failure.clone().unwrap_or_else(dash)));
                lines.push(kv("job", app.ids.job_id.clone()));
            } else {
                lines.push(Line::raw("this task is no longer listed"));
            }
            (format!(" Task {id} "), lines)
        }
        DetailsOf::Node(id) => {
            let mut lines = Vec::new();
            if let Some(n) = app.nodes.iter().find(|n| &n.id == id) {
                lines.push(kv("node", n.id.clone()));
                lines.push(kv("state", n.state.to_string()));
                lines.push(kv("running tasks", n.running_tasks.to_string()));
                lines.push(kv(
                    "start task",
                    n.start_task_state
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(dash),
                ));
                lines.push(kv(
                    "exit code",
                    n.start_task_exit_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(dash),
                ));
                lines.push(kv("retries", n.start_task_retries.to_string()));
                lines.push(kv(
                    "failure",
                    n.start_task_failure.clone().unwrap_or_else(dash),
                ));
                if let Some(tail) = app.node_stderr.get(id).filter(|t| !t.is_empty()) {
                    lines.push(Line::styled("start task stderr (end):", theme::dim()));
                    let tail: Vec<&str> = tail.lines().collect();
                    for l in &tail[tail.len().saturating_sub(8)..] {
                        lines.push(Line::styled(l.to_string(), theme::error()));
                    }
                }
            } else {
                lines.push(Line::raw("this node is no longer listed"));
            }
            // The pool's last autoscale evaluation, one variable a line, and its error.
            if let Some(a) = app.pool.as_ref().and_then(|p| p.autoscale.as_ref()) {
                lines.push(kv("autoscale", a.evaluated.clone()));
                for v in a.results.split(';').filter(|v| !v.is_empty()) {
                    lines.push(kv("", v.to_string()));
                }
                if let Some(e) = &a.error {
                    lines.push(Line::styled(
                        format!("autoscale failed: {e}"),
                        theme::error(),
                    ));
                }
            }
            (" Node ".to_string(), lines)
        }
    };
    let mut lines = lines;
    lines.push(Line::styled("Esc back", theme::dim()));
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    // Long lines (an error) wrap: the box is as tall as the wrapped text.
    let width = area.width.saturating_sub(10).min(100);
    let rows = text.line_count(width.saturating_sub(2));
    let r = centered(area, width, rows as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(text.block(overlay_block(&title, false)), r);
}
