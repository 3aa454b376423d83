//! The pool: allocation, target vs current nodes, a row per node (state, start task, exit
//! code, retries), a heatmap once there are more nodes than rows, and a failed start task's
//! failure and stderr; an autoscaling pool's last evaluation (values, or its error).

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use crate::azure::models::{NodeState, PoolState, SchedulingState, StartTaskState};
use crate::tui::app::{App, Panel};
use crate::tui::theme;
use crate::tui::views::{panel, short_node, truncate};
use crate::workflow::events::{AutoscaleView, NodeView};

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let focused = app.focus == Panel::Nodes;
    let mut title = vec![Span::styled(" Pool ", theme::title())];
    let Some(p) = &app.pool else {
        title.push(Span::raw(format!("{} ", app.ids.pool_id)));
        let wait = match (&app.browse, app.ids.pool_id.is_empty()) {
            (None, _) => "waiting for step 3",
            (Some(_), true) => "the job names no pool",
            (Some(_), false) => "reading the pool...",
        };
        let body = Paragraph::new(Line::styled(wait, theme::dim()));
        f.render_widget(body.block(panel(Line::from(title), focused)), area);
        return;
    };
    title.push(Span::raw(format!("{} ", p.id)));
    let deleted = app.pool_deleted;
    let state = if deleted { "deleted" } else { p.state.as_str() };
    title.push(Span::styled(
        format!("{state} "),
        Style::new().fg(theme::pool_state(&p.state, deleted)),
    ));
    title.push(Span::styled(
        format!(
            "· {} · {}/{} nodes{} · {} ",
            p.allocation_state,
            p.current_dedicated + p.current_low_priority,
            p.target_dedicated + p.target_low_priority,
            if p.target_low_priority > 0 {
                format!(" ({} spot)", p.current_low_priority)
            } else {
                String::new()
            },
            p.vm_size
        ),
        theme::dim(),
    ));
    let block = panel(Line::from(title), focused);
    let inner = block.inner(area);
    f.render_widget(block, area);

    let failed: Option<&NodeView> = app
        .selected_node_view()
        .filter(|n| n.state == NodeState::StartTaskFailed)
        .or_else(|| {
            app.nodes
                .iter()
                .find(|n| n.state == NodeState::StartTaskFailed)
        });
    let mut failure_lines = failed.map(|n| failure_lines(app, n, inner.width as usize));
    if let Some(a) = &p.autoscale {
        failure_lines
            .get_or_insert_with(Vec::new)
            .extend(autoscale_lines(a, inner.width as usize));
    }
    let reserved = failure_lines.as_ref().map_or(0, |l| l.len() as u16);
    let list = Rect {
        height: inner.height.saturating_sub(reserved),
        ..inner
    };
    if app.nodes.is_empty() {
        let msg = match p.state {
            _ if deleted => "the pool is deleted".to_string(),
            PoolState::Deleting => "the pool is being deleted".to_string(),
            _ => format!("no nodes yet (allocation {})", p.allocation_state),
        };
        f.render_widget(Paragraph::new(Line::styled(msg, theme::dim())), list);
    } else if app.nodes.len() < list.height as usize {
        node_table(app, f, list, focused);
    } else {
        heatmap(app, f, list);
    }
    if let Some(lines) = failure_lines {
        let at = Rect {
            y: list.y + list.height,
            height: reserved,
            ..inner
        };
        f.render_widget(Paragraph::new(lines), at);
    }
}

fn failure_lines<'a>(app: &App, n: &NodeView, w: usize) -> Vec<Line<'a>> {
    let mut what = format!("✗ start task failed on {}", short_node(&n.id));
    if let Some(c) = n.start_task_exit_code {
        what.push_str(&format!(": exit code {c}"));
    }
    if let Some(fi) = &n.start_task_failure {
        what.push_str(&format!(", {fi}"));
    }
    let mut lines = vec![Line::styled(truncate(&what, w), theme::error())];
    if let Some(tail) = app.node_stderr.get(&n.id)
        && let Some(last) = tail.lines().rev().map(str::trim).find(|l| !l.is_empty())
    {
        lines.push(Line::styled(
            truncate(&format!("  stderr: {last}"), w),
            theme::error(),
        ));
    }
    lines
}

/// The last autoscale evaluation: the variables' values, and its error in full.
fn autoscale_lines<'a>(a: &AutoscaleView, w: usize) -> Vec<Line<'a>> {
    let when = if a.evaluated.is_empty() {
        "not evaluated yet".to_string()
    } else {
        a.evaluated.clone()
    };
    let mut lines = vec![Line::styled(
        truncate(&format!("autoscale {when}: {}", a.results), w),
        theme::dim(),
    )];
    if let Some(e) = &a.error {
        lines.push(Line::styled(
            truncate(&format!("✗ autoscale failed: {e}"), w),
            theme::error(),
        ));
    }
    lines
}

fn node_table(app: &App, f: &mut Frame, area: Rect, focused: bool) {
    // Narrow screens drop the retries and running-task columns.
    let wide = area.width >= 62;
    let mut titles = vec!["Node", "State", "Start task", "Exit"];
    let mut widths = vec![
        Constraint::Length(16),
        Constraint::Length(15),
        Constraint::Length(10),
        Constraint::Length(4),
    ];
    if wide {
        titles.extend(["Retry", "Tasks"]);
        widths.extend([Constraint::Length(5), Constraint::Length(5)]);
    }
    // Browsing a pool's nodes: where each is, its size, whether it takes tasks.
    let more = app.browse.is_some() && area.width >= 110;
    if more {
        titles.extend(["IP", "VM size", "Scheduling"]);
        widths.extend([
            Constraint::Length(15),
            Constraint::Length(16),
            Constraint::Length(10),
        ]);
    }
    let header = Row::new(titles).style(theme::title());
    let rows = app.nodes.iter().enumerate().map(|(i, n)| {
        let st = n.start_task_state.as_ref();
        let mut cells = vec![
            Cell::from(if app.is_marked(&n.id) {
                format!("● {}", short_node(&n.id))
            } else {
                short_node(&n.id)
            }),
            Cell::from(n.state.to_string()).style(Style::new().fg(theme::node_state(&n.state))),
            Cell::from(st.map_or("-", StartTaskState::as_str).to_string())
                .style(Style::new().fg(theme::start_task_state(st, n.start_task_exit_code))),
            Cell::from(
                n.start_task_exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
        ];
        if wide {
            cells.push(Cell::from(n.start_task_retries.to_string()));
            cells.push(Cell::from(n.running_tasks.to_string()));
        }
        if more {
            let or_dash = |s: Option<&str>| s.unwrap_or("-").to_string();
            cells.push(Cell::from(or_dash(n.ip.as_deref())));
            cells.push(Cell::from(or_dash(n.vm_size.as_deref())));
            cells.push(Cell::from(or_dash(
                n.scheduling.as_ref().map(SchedulingState::as_str),
            )));
        }
        let row = Row::new(cells);
        if focused && i == app.selected_node {
            row.style(theme::selected())
        } else if app.is_marked(&n.id) {
            row.style(Style::new().fg(theme::WARN))
        } else {
            row
        }
    });
    f.render_widget(Table::new(rows, widths).header(header), area);
}

/// One cell per node, coloured by state, with counts per state.
fn heatmap(app: &App, f: &mut Frame, area: Rect) {
    // Keyed by the state's text, so that the legend lists states in that order.
    let mut by_state: BTreeMap<&str, (&NodeState, usize)> = BTreeMap::new();
    for n in &app.nodes {
        by_state.entry(n.state.as_str()).or_insert((&n.state, 0)).1 += 1;
    }
    let mut legend: Vec<Span> = Vec::new();
    for (s, (state, c)) in &by_state {
        legend.push(Span::styled(
            "■ ",
            Style::new().fg(theme::node_state(state)),
        ));
        legend.push(Span::raw(format!("{c} {s}  ")));
    }
    let mut lines = vec![Line::from(legend)];
    let per_row = (area.width as usize / 2).max(1);
    for (i, chunk) in app.nodes.chunks(per_row).enumerate() {
        if lines.len() >= area.height as usize {
            break;
        }
        let spans: Vec<Span> = chunk
            .iter()
            .enumerate()
            .map(|(j, n)| {
                let selected = app.focus == Panel::Nodes && i * per_row + j == app.selected_node;
                let style = Style::new().fg(theme::node_state(&n.state));
                Span::styled(
                    if selected { "▣ " } else { "■ " },
                    if selected {
                        style.patch(theme::selected())
                    } else {
                        style
                    },
                )
            })
            .collect();
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines), area);
}
