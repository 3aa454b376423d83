//! Browsing's views: the account's pools and jobs as tables (only the rows on screen are
//! built), a pool's nodes and a job's tasks as the session's own panels, the status line with
//! the breadcrumb, and the `:` command line over it. They only draw.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table};

use crate::tui::app::{App, Entry};
use crate::tui::browse::details::{Details, Tone};
use crate::tui::browse::log::Log;
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
    f.render_widget(panel(Line::from(title), true), area);
    let inside = layout::list_panel(area, filtering);
    let cols = columns(inside.table.width);
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
        rest.push(("Slots", 5, Some(6)));
        rest.push(("Created", 16, Some(7)));
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
            "Slots" => Cell::from(p.task_slots.to_string()),
            _ => Cell::from(created(p.created)),
        })
        .collect()
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
    let mut title = vec![
        Span::styled(format!(" {} ", l.path), theme::title()),
        Span::styled(format!("of {} ", l.of), theme::dim()),
    ];
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
    if !l.search.is_empty() {
        title.push(Span::styled(
            format!("· /{} ({} lines) ", l.search, l.matches().len()),
            Style::new().fg(theme::WARN),
        ));
    }
    f.render_widget(panel(Line::from(title), true), area);
    let inside = layout::list_panel(area, filtering);
    let rows = inside.table.height as usize;
    let needle = l.search.to_lowercase();
    let end = (l.top + rows).min(l.line_count());
    let lines: Vec<Line> = (l.top.min(end)..end)
        .map(|i| {
            let text = l.line(i);
            if !needle.is_empty() && text.to_lowercase().contains(&needle) {
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
