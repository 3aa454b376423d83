//! Tasks: totals from the service's task counts, a sparkline of completions, and a table
//! (id, state, node, exit code, duration, retries), sorted and filtered. Only the visible rows
//! are built, so 10,000 tasks cost what 30 do.

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table};

use crate::tui::app::{App, Entry, Panel, SortKey};
use crate::tui::layout;
use crate::tui::theme;
use crate::tui::views::{filter_entry, fmt_dur, panel, short_node, truncate};

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Panel::Tasks;
    let mut title = vec![Span::styled(
        format!(" Tasks {} ", app.tasks.rows.len()),
        theme::title(),
    )];
    if let Some(c) = &app.counts {
        title.push(Span::styled(
            format!("active {} · ", c.active),
            Style::new().fg(theme::WARN),
        ));
        title.push(Span::styled(
            format!("running {} · ", c.running),
            Style::new().fg(theme::ACCENT),
        ));
        title.push(Span::raw(format!("completed {} (", c.completed)));
        title.push(Span::styled(
            format!("✓{}", c.succeeded),
            Style::new().fg(theme::OK),
        ));
        title.push(Span::raw(" "));
        title.push(Span::styled(
            format!("✗{}", c.failed),
            if c.failed > 0 {
                theme::error()
            } else {
                theme::dim()
            },
        ));
        title.push(Span::raw(") "));
    }
    if !app.filter.is_empty() {
        title.push(Span::styled(
            format!(
                "filter \"{}\": {} shown ",
                app.filter,
                app.tasks.order.len()
            ),
            Style::new().fg(theme::WARN),
        ));
    }
    // Whose tasks and which groups, once the run named its workload (last: a narrow panel
    // cuts them first): `· WordCountJob: count ×5, total`.
    if let Some(w) = &app.workload {
        let groups = w
            .named_groups()
            .map(|g| format!(": {g}"))
            .unwrap_or_default();
        title.push(Span::styled(
            format!("· {}{groups} ", w.job_id),
            theme::dim(),
        ));
    }
    f.render_widget(panel(Line::from(title), focused), area);
    let inside = layout::tasks_panel(area, matches!(app.entry, Some(Entry::Filter(_))));

    sparkline(app, f, inside.spark);
    table(app, f, inside.table, focused);
    if let Some(Entry::Filter(text)) = &app.entry {
        f.render_widget(filter_entry(text), inside.entry);
    }
}

/// Completions per column over the run so far (at least the last minute).
fn completion_buckets(app: &App, width: usize) -> Vec<u64> {
    let mut buckets = vec![0u64; width.max(1)];
    let span = app.elapsed().max(Duration::from_secs(60)).as_secs_f64();
    let mut prev = 0u64;
    for (t, done) in &app.completions {
        let delta = done.saturating_sub(prev);
        prev = *done;
        let i = ((t.as_secs_f64() / span) * width as f64) as usize;
        buckets[i.min(width.saturating_sub(1))] += delta;
    }
    buckets
}

fn sparkline(app: &App, f: &mut Frame, area: Rect) {
    let label = "completions ";
    let [l, s] = Layout::horizontal([Constraint::Length(label.len() as u16), Constraint::Fill(1)])
        .areas(area);
    f.render_widget(Paragraph::new(Span::styled(label, theme::dim())), l);
    let data = completion_buckets(app, s.width as usize);
    f.render_widget(
        Sparkline::default()
            .data(&data)
            .style(Style::new().fg(theme::OK)),
        s,
    );
}

fn table(app: &App, f: &mut Frame, area: Rect, focused: bool) {
    let visible = layout::task_rows(area);
    let total = app.tasks.order.len();
    let selected = app.selected_index();
    // Kept by `App::update` for this area (it cannot pass the end of a shorter list).
    let offset = app.task_offset.min(total);

    // Narrow screens drop the node and retries columns.
    let wide = area.width >= 70;
    let columns: Vec<SortKey> = SortKey::ALL
        .into_iter()
        .filter(|k| wide || !matches!(k, SortKey::Node | SortKey::Retries))
        .collect();
    let arrow = if app.descending { "▼" } else { "▲" };
    let header = Row::new(columns.iter().map(|k| {
        if *k == app.sort {
            Cell::from(format!("{}{arrow}", k.title())).style(Style::new().fg(theme::ACCENT))
        } else {
            Cell::from(k.title())
        }
    }))
    .style(theme::title());

    let fixed: usize = columns.iter().map(|k| width_of(*k) as usize + 1).sum();
    let id_w = (area.width as usize).saturating_sub(fixed).clamp(8, 40);
    let rows = app.tasks.order[offset..(offset + visible).min(total)]
        .iter()
        .enumerate()
        .map(|(i, &row)| {
            let t = &app.tasks.rows[row];
            let cells = columns.iter().map(|k| match k {
                SortKey::Id if app.is_marked(&t.id) => {
                    Cell::from(format!("● {}", truncate(&t.id, id_w.saturating_sub(2))))
                }
                SortKey::Id => Cell::from(truncate(&t.id, id_w)),
                SortKey::State => Cell::from(t.state_name().to_string())
                    .style(Style::new().fg(theme::task_state(t))),
                // A task its dependencies hold has no node: what holds it reads on from its
                // state ("waiting" "on 5 tasks", "blocked" "by count-a").
                SortKey::Node => match (t.held_by(), t.node_id.as_deref()) {
                    (Some(held), _) => {
                        Cell::from(truncate(&held, width_of(SortKey::Node) as usize))
                            .style(Style::new().fg(theme::task_state(t)))
                    }
                    (None, node) => Cell::from(node.map(short_node).unwrap_or_else(|| "-".into())),
                },
                SortKey::ExitCode => Cell::from(
                    t.exit_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "-".into()),
                ),
                SortKey::Duration => Cell::from(
                    t.duration_at(app.wall)
                        .map(|ms| fmt_dur(Duration::from_millis(ms)))
                        .unwrap_or_else(|| "-".into()),
                ),
                SortKey::Retries => Cell::from(if t.requeues > 0 {
                    format!("{}+{}rq", t.retries, t.requeues)
                } else {
                    t.retries.to_string()
                }),
            });
            let r = Row::new(cells);
            if Some(offset + i) == selected {
                r.style(if focused {
                    theme::selected()
                } else {
                    Style::new().fg(theme::ACCENT)
                })
            } else if app.is_marked(&t.id) {
                r.style(Style::new().fg(theme::WARN))
            } else {
                r
            }
        });
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|k| match k {
            SortKey::Id => Constraint::Length(id_w as u16),
            k => Constraint::Length(width_of(*k)),
        })
        .collect();
    if total == 0 {
        let msg = if app.tasks.rows.is_empty() {
            "no tasks yet (step 5 adds them)"
        } else {
            "no task matches the filter (Esc clears it)"
        };
        f.render_widget(Paragraph::new(Line::styled(msg, theme::dim())), area);
        return;
    }
    f.render_widget(Table::new(rows, widths).header(header), area);
}

/// Column widths other than the id's.
fn width_of(k: SortKey) -> u16 {
    match k {
        SortKey::Id => 8,
        SortKey::State => 10,
        SortKey::Node => 16,
        SortKey::ExitCode => 5,
        SortKey::Duration => 9,
        SortKey::Retries => 7,
    }
}
