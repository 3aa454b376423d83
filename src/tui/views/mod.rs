//! Drawing: `render(&App, &mut Frame)` draws the panels and overlays into the rectangles of
//! [`layout`](crate::tui::layout). Views read the state and never change it: what must be
//! remembered between frames (the task table's scroll offset) is kept by `App::update`.

pub(crate) mod dialog;
pub(crate) mod pool;
pub(crate) mod preview;
pub(crate) mod status;
mod steps;
pub(crate) mod tasks;
mod uploads;

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::tui::app::{App, Mode, Overlay};
use crate::tui::layout::{self, MIN_HEIGHT, MIN_WIDTH};
use crate::tui::theme;

/// Draws the whole screen.
pub fn render(app: &App, f: &mut Frame) {
    let area = f.area();
    let Some(s) = layout::screen(area, app.mode == Mode::Run) else {
        too_small(app, f, area);
        return;
    };
    if app.browse.is_some() {
        crate::tui::browse::views::render(app, f, s);
        return;
    }
    steps::render(app, f, s.steps);
    pool::render(app, f, s.pool);
    uploads::render(app, f, s.uploads);
    tasks::render(app, f, s.tasks);
    preview::render(app, f, s.preview);
    status::render(app, f, s.status);
    dialog::render_overlay(app, f, area);
}

/// Says the terminal is too small; the quit dialog (the only thing `q` opens here) is shown
/// over it, as compact as it gets.
pub(crate) fn too_small(app: &App, f: &mut Frame, area: Rect) {
    let text = vec![
        Line::from(Span::styled("Terminal too small", theme::title())),
        Line::from(format!(
            "{}x{}: batchdeck needs at least {MIN_WIDTH}x{MIN_HEIGHT}.",
            area.width, area.height
        )),
        Line::from("Enlarge the window; q quits."),
    ];
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().border_style(theme::border(false))),
        area,
    );
    if let Some(Overlay::Dialog(d)) = &app.overlay
        && d.is_quit()
    {
        dialog::dialog(d, f, area);
    }
}

/// `0.4s`, `12s`, `3m05s`, `2h01m`.
pub fn fmt_dur(d: Duration) -> String {
    let s = d.as_secs();
    if s < 10 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s / 60) % 60)
    }
}

/// `h:mm:ss`, as the tutorial prints elapsed time.
pub fn fmt_clock(d: Duration) -> String {
    crate::workflow::steps::fmt_duration(d)
}

/// A line of a file as a terminal shows it: each tab becomes the spaces to the next tab stop
/// (every 8 columns), so `and\t6` reads `and     6` rather than `and6` (a cell cannot hold a
/// tab), and other control characters are left out.
pub fn expand_tabs(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains(|c: char| c.is_control()) {
        return line.into();
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut column = 0;
    for c in line.chars() {
        match c {
            '\t' => {
                let to = (column / 8 + 1) * 8;
                out.extend(std::iter::repeat_n(' ', to - column));
                column = to;
            }
            c if c.is_control() => {}
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    out.into()
}

/// Cuts `s` to `width` characters, marking the cut with `…`.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// A short form of a node id for tables: Azure's are long (`tvmps_<64 hex>_d`).
pub fn short_node(id: &str) -> String {
    match id.strip_prefix("tvmps_") {
        Some(rest) if rest.len() > 12 => {
            let suffix = rest.rsplit_once('_').map(|(_, s)| s).unwrap_or("");
            format!("tvmps_{}…{suffix}", &rest[..8])
        }
        _ => id.to_string(),
    }
}

/// The filter being typed, on its line under a table.
pub fn filter_entry(text: &str) -> Paragraph<'static> {
    Paragraph::new(Line::from(vec![
        Span::styled("/", ratatui::style::Style::new().fg(theme::ACCENT)),
        Span::raw(text.to_string()),
        Span::styled("█", ratatui::style::Style::new().fg(theme::ACCENT)),
        Span::styled("  Enter keep · Esc clear", theme::dim()),
    ]))
}

/// A panel's frame: its title, focused or not.
pub fn panel<'a>(title: Line<'a>, focused: bool) -> Block<'a> {
    Block::bordered()
        .title(title)
        .border_style(theme::border(focused))
}

/// A rectangle of `w` x `h` centred in `area` (clipped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

#[cfg(test)]
mod tests;
