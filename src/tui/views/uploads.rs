//! Upload progress: a gauge per file (bytes and rate) and the total.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, Upload};
use crate::tui::theme;
use crate::tui::views::{panel, truncate};

/// A one-line bar of `width` cells, `ratio` of it filled.
fn bar(ratio: f64, width: usize) -> (String, String) {
    let filled = ((ratio.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    ("━".repeat(filled), "─".repeat(width - filled))
}

fn ratio(done: u64, total: u64) -> f64 {
    if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    }
}

fn gauge_line<'a>(name: &str, done: u64, total: u64, rate: f64, w: usize) -> Line<'a> {
    let name_w = 13.min(w / 3);
    let label = if w >= 34 {
        format!(
            " {:>6} {:>8}",
            fmt_compact(done),
            format!("{}/s", fmt_compact(rate as u64))
        )
    } else {
        format!(" {:>6}", fmt_compact(done))
    };
    let bar_w = w.saturating_sub(name_w + 1 + label.chars().count()).max(3);
    let (full, empty) = bar(ratio(done, total), bar_w);
    let color = if total > 0 && done >= total {
        theme::OK
    } else {
        theme::ACCENT
    };
    Line::from(vec![
        Span::raw(format!("{:<name_w$} ", truncate(name, name_w))),
        Span::styled(full, Style::new().fg(color)),
        Span::styled(empty, theme::dim()),
        Span::styled(
            truncate(&label, w.saturating_sub(name_w + 1 + bar_w)),
            theme::dim(),
        ),
    ])
}

/// `812B`, `1.4K`, `12M`, `3.2G`: sizes in at most five characters.
pub fn fmt_compact(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else if v < 10.0 {
        format!("{v:.1}{}", UNITS[u])
    } else {
        format!("{v:.0}{}", UNITS[u])
    }
}

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let w = area.width.saturating_sub(2) as usize;
    let rows = area.height.saturating_sub(2) as usize;
    let done: u64 = app.uploads.iter().map(|u| u.done).sum();
    let total: u64 = app.uploads.iter().map(|u| u.total).sum();
    let finished = app.uploads.iter().filter(|u| u.finished.is_some()).count();
    let mut lines = Vec::new();
    if app.uploads.is_empty() {
        lines.push(Line::styled("waiting for step 2", theme::dim()));
    } else {
        let first = app.uploads.iter().map(|u| u.started).min();
        let last = app
            .uploads
            .iter()
            .map(|u| u.finished.unwrap_or(app.now))
            .max();
        let rate = match (first, last) {
            (Some(a), Some(b)) if b > a => done as f64 / b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        lines.push(gauge_line("Total", done, total, rate, w));
        // In-progress files first, then the most recent ones, as many as fit.
        let mut shown: Vec<&Upload> = app
            .uploads
            .iter()
            .filter(|u| u.finished.is_none())
            .collect();
        shown.extend(app.uploads.iter().rev().filter(|u| u.finished.is_some()));
        for u in shown.into_iter().take(rows.saturating_sub(1)) {
            lines.push(gauge_line(&u.file, u.done, u.total, u.rate(app.now), w));
        }
    }
    let mut title = vec![
        Span::styled(" Uploads ", theme::title()),
        Span::styled(
            format!("{finished}/{} files ", app.uploads.len()),
            theme::dim(),
        ),
    ];
    // Where to, once the run named its workload (last: a narrow panel cuts it first).
    if let Some(w) = &app.workload {
        title.push(Span::styled(
            format!("to {} ", w.upload_containers()),
            theme::title(),
        ));
    }
    let title = Line::from(title);
    f.render_widget(Paragraph::new(lines).block(panel(title, false)), area);
}
