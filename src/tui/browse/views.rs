//! Browsing's views: the account's pools and jobs as tables (only the rows on screen are
//! built), a pool's nodes and a job's tasks as the session's own panels, the status line with
//! the breadcrumb, and the `:` command line over it. They only draw.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table};

use crate::azure::models::{NodeCounts, NodeState};
use crate::tui::app::{App, Entry};
use crate::tui::browse::details::{Details, Tone};
use crate::tui::browse::log::Log;
use crate::tui::browse::search::Needle;
use crate::tui::browse::{Listing, Row as ListRow, View};
use crate::tui::layout::{self, Screen};
use crate::tui::theme;
use crate::tui::views::{dialog, filter_entry, panel, pool, preview, status, tasks, truncate};
use crate::workflow::events::{FileRow, JobRow, PoolRow, TaskCounts};

/// Draws the view on top of the stack; `dashboard` is the session's layout (a job's tasks
/// use it as `batchdeck watch` does).
pub fn render(app: &App, f: &mut Frame, dashboard: Screen) {
    let area = f.area();
    let Some(b) = &app.browse else { return };
    let Some(s) = layout::browse_screen(area) else {
        return;
    };
    match b.view() {
        View::Pools => list(
            app,
            f,
            s.body,
            &b.pools,
            " Pools ",
            pool_columns,
            pool_cells,
        ),
        View::Jobs => list(app, f, s.body, &b.jobs, " Jobs ", job_columns, job_cells),
        View::Nodes(_) => pool::render(app, f, s.body),
        View::Tasks(_) => {
            pool::render(app, f, dashboard.pool);
            tasks::render(app, f, dashboard.tasks);
            preview::render(app, f, dashboard.preview);
        }
        View::Files(_) => list(
            app,
            f,
            s.body,
            &b.files,
            " Files ",
            file_columns,
            file_cells,
        ),
        View::Log(..) => {
            if let Some(l) = &b.log {
                log_view(app, l, f, s.body);
            }
        }
        View::Details(_) => {
            if let Some(d) = &b.details {
                details_view(d, f, s.body);
            }
        }
    }
    status::render(app, f, s.status);
    if let Some(Entry::Command(text)) = &app.entry {
        command_line(text, &b.candidates, f, s.status);
    }
    dialog::render_overlay(app, f, area);
}

/// A column: its title, width, and the sort column it shows (an index into `Row::COLUMNS`).
type Column = (&'static str, u16, Option<usize>);

fn list<T: ListRow>(
    app: &App,
    f: &mut Frame,
    area: Rect,
    l: &Listing<T>,
    name: &str,
    columns: fn(u16) -> Vec<Column>,
    cells: fn(&T, &[Column]) -> Vec<Cell<'static>>,
) {
    let filtering = matches!(app.entry, Some(Entry::Filter(_)));
    let mut title = vec![Span::styled(
        format!("{name}{} ", l.rows.len()),
        theme::title(),
    )];
    if !l.filter.is_empty() {
        title.push(Span::styled(
            format!("filter \"{}\": {} shown ", l.filter, l.order.len()),
            Style::new().fg(theme::WARN),
        ));
    }
    if !l.marked.is_empty() {
        title.push(Span::styled(
            format!("· {} marked ", l.marked.len()),
            Style::new().fg(theme::WARN),
        ));
    }
    let inside = layout::list_panel(area, filtering);
    let cols = columns(inside.table.width);
    if cols.iter().any(|c| c.0 == "Nodes") && area.width >= 100 {
        title.extend(node_legend());
    }
    f.render_widget(panel(Line::from(title), true), area);
    let arrow = if l.descending { "▼" } else { "▲" };
    let header = Row::new(cols.iter().map(|(t, _, sort)| {
        if *sort == Some(l.sort) {
            Cell::from(format!("{t}{arrow}")).style(Style::new().fg(theme::ACCENT))
        } else {
            Cell::from(*t)
        }
    }))
    .style(theme::title());
    let page = layout::task_rows(inside.table);
    let selected = l.selected_index();
    let rows = l.visible(page).map(|(i, r)| {
        let marked = l.marked.contains(r.id());
        let mut c = cells(r, &cols);
        if marked {
            c[0] = Cell::from(format!("● {}", truncate(r.id(), cols[0].1 as usize - 2)));
        }
        let row = Row::new(c);
        if Some(i) == selected {
            row.style(theme::selected())
        } else if marked {
            row.style(Style::new().fg(theme::WARN))
        } else {
            row
        }
    });
    if l.order.is_empty() {
        let msg = match (l.loaded, l.rows.is_empty()) {
            (false, _) => "listing...".to_string(),
            (true, true) => format!("no {} on this account", name.trim().to_lowercase()),
            (true, false) => "no row matches the filter (Esc clears it)".to_string(),
        };
        f.render_widget(
            Paragraph::new(Line::styled(msg, theme::dim())),
            inside.table,
        );
    } else {
        let widths: Vec<Constraint> = cols.iter().map(|c| Constraint::Length(c.1)).collect();
        f.render_widget(Table::new(rows, widths).header(header), inside.table);
    }
    if let Some(Entry::Filter(text)) = &app.entry {
        f.render_widget(filter_entry(text), inside.entry);
    }
}

/// The id column takes what the others leave (within bounds).
fn with_id(title: &'static str, width: u16, rest: Vec<Column>) -> Vec<Column> {
    let fixed: u16 = rest.iter().map(|c| c.1 + 1).sum();
    let id = width.saturating_sub(fixed + 1).clamp(10, 40);
    let mut v = vec![(title, id, Some(0))];
    v.extend(rest);
    v
}

fn pool_columns(width: u16) -> Vec<Column> {
    let mut rest: Vec<Column> = vec![
        ("State", 8, Some(1)),
        ("Alloc", 9, Some(2)),
        ("VM size", 16, Some(3)),
        ("Dedicated", 9, Some(4)),
        ("Spot", 7, Some(5)),
    ];
    if width >= 100 {
        rest.push(("Nodes", 20, None));
        rest.push(("Slots", 5, Some(6)));
        rest.push(("Created", 16, Some(7)));
    } else {
        rest.push(("Nodes", 8, None));
    }
    with_id("Pool", width, rest)
}

fn pool_cells(p: &PoolRow, cols: &[Column]) -> Vec<Cell<'static>> {
    let v = &p.pool;
    cols.iter()
        .map(|(t, w, _)| match *t {
            "Pool" => Cell::from(truncate(&v.id, *w as usize)),
            "State" => Cell::from(v.state.to_string())
                .style(Style::new().fg(theme::pool_state(&v.state, false))),
            "Alloc" => Cell::from(v.allocation_state.to_string()),
            "VM size" => Cell::from(truncate(&v.vm_size, *w as usize)),
            "Dedicated" => Cell::from(format!("{}/{}", v.current_dedicated, v.target_dedicated)),
            "Spot" => Cell::from(format!(
                "{}/{}",
                v.current_low_priority, v.target_low_priority
            )),
            "Nodes" => match &p.nodes {
                Some(c) if c.total > 0 => Cell::from(Line::from(node_bar(c, *w as usize))),
                _ => Cell::from(Span::styled("-", theme::dim())),
            },
            "Slots" => Cell::from(p.task_slots.to_string()),
            _ => Cell::from(created(p.created)),
        })
        .collect()
}

/// A pool's nodes by state as a bar `width` cells wide, coloured as the heatmap colours the
/// states (running, idle, booting, failed, leaving, other): a cell a node while they fit, else
/// each group its share (at least a cell when it has a node).
fn node_bar(c: &NodeCounts, width: usize) -> Vec<Span<'static>> {
    let groups = [
        (NodeState::Running, c.running),
        (NodeState::Idle, c.idle),
        (
            NodeState::Starting,
            c.creating + c.starting + c.waiting_for_start_task + c.rebooting + c.reimaging,
        ),
        (
            NodeState::StartTaskFailed,
            c.start_task_failed + c.unusable + c.unknown,
        ),
        (
            NodeState::LeavingPool,
            c.leaving_pool + c.offline + c.preempted + c.deallocated + c.deallocating,
        ),
        (NodeState::UpgradingOs, c.upgrading_os),
    ];
    let total: u32 = groups.iter().map(|g| g.1).sum();
    let cells = shares(&groups.clone().map(|g| g.1), total, width);
    groups
        .iter()
        .zip(cells)
        .filter(|(_, n)| *n > 0)
        .map(|((state, _), n)| {
            Span::styled("█".repeat(n), Style::new().fg(theme::node_state(state)))
        })
        .collect()
}

/// What the node bar's colours mean, for the title.
fn node_legend() -> Vec<Span<'static>> {
    let mut v = vec![Span::styled("· nodes: ", theme::dim())];
    for (state, name) in [
        (NodeState::Running, "running"),
        (NodeState::Idle, "idle"),
        (NodeState::Starting, "starting"),
        (NodeState::StartTaskFailed, "failed/unusable"),
        (NodeState::LeavingPool, "leaving/offline"),
    ] {
        v.push(Span::styled(
            "█",
            Style::new().fg(theme::node_state(&state)),
        ));
        v.push(Span::styled(format!("{name} "), theme::dim()));
    }
    v
}

/// `counts` (of `total`) as cells of a bar at most `width` wide: one per count while they fit,
/// else proportional by largest remainder, each non-zero count getting at least one.
fn shares(counts: &[u32], total: u32, width: usize) -> Vec<usize> {
    if total as usize <= width {
        return counts.iter().map(|&n| n as usize).collect();
    }
    let nonzero = counts.iter().filter(|&&n| n > 0).count();
    let room = width.saturating_sub(nonzero);
    // Each non-zero count has its cell; the rest of the room goes by share.
    let exact: Vec<f64> = counts
        .iter()
        .map(|&n| n as f64 * room as f64 / total as f64)
        .collect();
    let mut cells: Vec<usize> = counts
        .iter()
        .zip(&exact)
        .map(|(&n, e)| usize::from(n > 0) + *e as usize)
        .collect();
    let mut left = width.saturating_sub(cells.iter().sum());
    let mut order: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] > 0).collect();
    order.sort_by(|&a, &b| (exact[b].fract()).total_cmp(&exact[a].fract()));
    for i in order {
        if left == 0 {
            break;
        }
        cells[i] += 1;
        left -= 1;
    }
    cells
}

fn job_columns(width: u16) -> Vec<Column> {
    let mut rest: Vec<Column> = vec![
        ("State", 11, Some(1)),
        ("Pool", 16, Some(2)),
        ("Active", 6, None),
        ("Running", 7, None),
        ("✓", 6, None),
        ("✗", 6, None),
    ];
    if width >= 100 {
        rest.insert(2, ("Prio", 5, Some(3)));
        rest.push(("Created", 16, Some(4)));
    }
    with_id("Job", width, rest)
}

fn job_cells(j: &JobRow, cols: &[Column]) -> Vec<Cell<'static>> {
    let count = |f: fn(&TaskCounts) -> u64| j.counts.map_or("-".to_string(), |c| f(&c).to_string());
    cols.iter()
        .map(|(t, w, _)| match *t {
            "Job" => Cell::from(truncate(&j.id, *w as usize)),
            "State" => {
                Cell::from(j.state.to_string()).style(Style::new().fg(theme::job_state(&j.state)))
            }
            "Pool" => Cell::from(truncate(j.pool_id.as_deref().unwrap_or("-"), *w as usize)),
            "Prio" => Cell::from(j.priority.to_string()),
            "Active" => Cell::from(count(|c| c.active)),
            "Running" => Cell::from(count(|c| c.running)),
            "✓" => Cell::from(count(|c| c.succeeded)).style(Style::new().fg(theme::OK)),
            "✗" => {
                let failed = j.counts.is_some_and(|c| c.failed > 0);
                Cell::from(count(|c| c.failed)).style(if failed {
                    theme::error()
                } else {
                    theme::dim()
                })
            }
            _ => Cell::from(created(j.created)),
        })
        .collect()
}

fn file_columns(width: u16) -> Vec<Column> {
    with_id(
        "File",
        width,
        vec![("Size", 10, Some(1)), ("Modified", 16, Some(2))],
    )
}

fn file_cells(r: &FileRow, cols: &[Column]) -> Vec<Cell<'static>> {
    cols.iter()
        .map(|(t, w, _)| match *t {
            "File" if r.is_dir => {
                Cell::from(truncate(&format!("{}/", r.path), *w as usize)).style(theme::dim())
            }
            "File" => Cell::from(truncate(&r.path, *w as usize)),
            "Size" if r.is_dir => Cell::from(""),
            "Size" => Cell::from(bytes(r.size)),
            _ => Cell::from(created(r.modified)),
        })
        .collect()
}

/// `812 B`, `1.4 KiB`, `1.0 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// The log viewer: the lines held from the top line, long ones cut or wrapped, the search's
/// matches marked; the title says which bytes of how many are held and whether it follows.
fn log_view(app: &App, l: &Log, f: &mut Frame, area: Rect) {
    let filtering = matches!(app.entry, Some(Entry::Filter(_)));
    let mut title = vec![Span::styled(format!(" {} ", l.path), theme::title())];
    if let Some(s) = &l.searching {
        let how_far = match s.total {
            Some(total) => format!("{} of {}", bytes(s.searched), bytes(total)),
            None => "...".into(),
        };
        title.push(Span::styled(
            format!(
                "· searching {}/{}: {how_far}, Esc cancels ",
                if s.ask.forward { "" } else { "back " },
                s.ask.pattern
            ),
            Style::new().fg(theme::ACCENT),
        ));
    }
    title.push(Span::styled(format!("of {} ", l.of), theme::dim()));
    match l.len {
        None => title.push(Span::styled("reading... ", theme::dim())),
        Some(len) => title.push(Span::styled(
            format!(
                "· bytes {}-{} of {} ",
                l.start,
                l.start + l.text.len() as u64,
                bytes(len)
            ),
            theme::dim(),
        )),
    }
    if l.follow {
        title.push(Span::styled("· following ", Style::new().fg(theme::ACCENT)));
    }
    if l.wrap {
        title.push(Span::styled("· wrap ", theme::dim()));
    }
    // A search running is said after the path (where 80 columns show it).
    if l.searching.is_none() && !l.search.is_empty() {
        title.push(Span::styled(
            format!("· /{} ({} lines) ", l.search, l.matches().len()),
            Style::new().fg(theme::WARN),
        ));
    }
    f.render_widget(panel(Line::from(title), true), area);
    let inside = layout::list_panel(area, filtering);
    let rows = inside.table.height as usize;
    let needle = Needle::new(&l.search);
    let end = (l.top + rows).min(l.line_count());
    let lines: Vec<Line> = (l.top.min(end)..end)
        .map(|i| {
            let text = l.line(i);
            if needle.as_ref().is_some_and(|n| n.is_in(text)) {
                Line::styled(text.to_string(), Style::new().fg(theme::WARN))
            } else {
                Line::raw(text.to_string())
            }
        })
        .collect();
    if lines.is_empty() {
        let msg = if l.len == Some(0) {
            "the file is empty"
        } else {
            "reading..."
        };
        f.render_widget(
            Paragraph::new(Line::styled(msg, theme::dim())),
            inside.table,
        );
    } else {
        let p = Paragraph::new(lines);
        let p = if l.wrap {
            p.wrap(ratatui::widgets::Wrap { trim: false })
        } else {
            p
        };
        f.render_widget(p, inside.table);
    }
    if let Some(Entry::Filter(text)) = &app.entry {
        f.render_widget(filter_entry(text), inside.entry);
    }
}

/// The details view: the lines from the top one (errors first, in red), long ones cut or
/// wrapped; the title says whose they are and whether it has errors.
fn details_view(d: &Details, f: &mut Frame, area: Rect) {
    let mut title = vec![Span::styled(format!(" {} ", d.of), theme::title())];
    if d.problems > 0 {
        title.push(Span::styled("· has errors ", theme::error()));
    }
    if d.wrap {
        title.push(Span::styled("· wrap ", theme::dim()));
    }
    f.render_widget(panel(Line::from(title), true), area);
    let inside = layout::list_panel(area, false).table;
    let msg = match d.found {
        None => Some("reading..."),
        Some(false) => Some("it does not exist (any more)"),
        Some(true) => None,
    };
    if let Some(msg) = msg {
        f.render_widget(Paragraph::new(Line::styled(msg, theme::dim())), inside);
        return;
    }
    let rows = inside.height as usize;
    let end = (d.top + rows).min(d.lines.len());
    let lines: Vec<Line> = d.lines[d.top.min(end)..end]
        .iter()
        .map(|(tone, text)| match tone {
            Tone::Heading => Line::styled(text.clone(), theme::title()),
            Tone::Error => Line::styled(text.clone(), theme::error()),
            Tone::Plain => Line::raw(text.clone()),
        })
        .collect();
    let p = Paragraph::new(lines);
    let p = if d.wrap {
        p.wrap(ratatui::widgets::Wrap { trim: false })
    } else {
        p
    };
    f.render_widget(p, inside);
}

fn created(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// The `:` command line, over the status line, with what Tab offered last.
fn command_line(text: &str, candidates: &[String], f: &mut Frame, area: Rect) {
    f.render_widget(Clear, area);
    let mut spans = vec![
        Span::styled(":", Style::new().fg(theme::ACCENT)),
        Span::raw(text.to_string()),
        Span::styled("█", Style::new().fg(theme::ACCENT)),
    ];
    let hint = if candidates.len() > 1 {
        format!("  {}", candidates.join(" "))
    } else {
        "  Tab completes · Enter goes · Esc cancels".to_string()
    };
    spans.push(Span::styled(
        truncate(&hint, (area.width as usize).saturating_sub(text.len() + 2)),
        theme::dim(),
    ));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_give_a_cell_a_node_while_they_fit_else_each_state_its_share() {
        assert_eq!(shares(&[2, 1, 0], 3, 8), [2, 1, 0]);
        // 1,000 nodes in 20 cells: proportional, the 3 that fail still seen.
        let s = shares(&[600, 397, 3, 0], 1000, 20);
        assert_eq!(s.iter().sum::<usize>(), 20);
        assert_eq!(s, [11, 8, 1, 0]);
        assert_eq!(shares(&[1, 1, 1, 1, 1, 995], 1000, 8), [1, 1, 1, 1, 1, 3]);
    }

    #[test]
    fn the_node_bar_colours_each_state_as_the_heatmap_does() {
        let c = NodeCounts {
            running: 2,
            idle: 1,
            waiting_for_start_task: 1,
            start_task_failed: 1,
            leaving_pool: 1,
            total: 6,
            ..NodeCounts::default()
        };
        let bar: Vec<(String, Option<ratatui::style::Color>)> = node_bar(&c, 20)
            .into_iter()
            .map(|s| (s.content.to_string(), s.style.fg))
            .collect();
        let colour = |s| Some(theme::node_state(&s));
        assert_eq!(
            bar,
            [
                ("██".to_string(), colour(NodeState::Running)),
                ("█".to_string(), colour(NodeState::Idle)),
                ("█".to_string(), colour(NodeState::WaitingForStartTask)),
                ("█".to_string(), colour(NodeState::StartTaskFailed)),
                ("█".to_string(), colour(NodeState::LeavingPool)),
            ]
        );
    }
}
