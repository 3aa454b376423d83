//! The status line: where the session talks to, elapsed time, the current step or the
//! outcome, the changes in flight, the latest notice (or the failure that ended the run), and
//! key hints, which give way first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, Mode, one_line};
use crate::tui::theme;
use crate::tui::views::{fmt_clock, truncate};

const SPINNER: [char; 4] = ['◐', '◓', '◑', '◒'];

pub fn render(app: &App, f: &mut Frame, area: Rect) {
    let w = area.width as usize;
    let (badge, color) = if app.target.embedded {
        (" embedded local Azure ", theme::OK)
    } else if is_azure(&app.target.batch_endpoint) {
        (" Azure ", theme::ACCENT)
    } else {
        (" Batch service ", theme::WARN)
    };
    // The badge, the clock and the state always; a message (a notice, the run's failure, the
    // changes in flight) never gives way to the rest (see `candidates` below).
    let target = [
        Span::styled(
            badge,
            Style::new().fg(color).add_modifier(Modifier::REVERSED),
        ),
        Span::raw(format!(" {} ", app.target.batch_endpoint)),
    ];
    let mut clock = vec![Span::styled(
        format!("│ {} ", fmt_clock(app.elapsed())),
        theme::dim(),
    )];
    if app.readonly {
        clock.push(Span::styled("read-only ", Style::new().fg(theme::WARN)));
    }
    let (state, state_long) = match (&app.reconnecting, app.finished, app.current_step()) {
        (Some((attempt, error)), _, _) => {
            let style = Style::new().fg(theme::WARN);
            (
                Span::styled(
                    format!("│ reconnecting to Batch (attempt {attempt}) "),
                    style,
                ),
                Span::styled(
                    format!("│ reconnecting to Batch (attempt {attempt}, last error {error}) "),
                    style,
                ),
            )
        }
        (None, _, _) if app.browse.is_some() => {
            // Browsing: where, as a breadcrumb.
            let crumbs = app.browse.as_ref().map(|b| b.crumbs()).unwrap_or_default();
            let s = Span::styled(format!("│ {crumbs} "), Style::new().fg(theme::ACCENT));
            (s.clone(), s)
        }
        (None, _, _) if app.mode == Mode::Watch => {
            // Watching: what, and whether the job's tasks are all done.
            let what = match (app.ids.job_id.as_str(), app.ids.pool_id.as_str()) {
                ("", pool) => format!("pool {pool}"),
                (job, _) => format!("job {job}"),
            };
            let done = app
                .counts
                .is_some_and(|c| c.total() > 0 && c.completed == c.total());
            let (text, style) = if done {
                (
                    format!("│ watching {what}: all tasks completed "),
                    Style::new().fg(theme::OK),
                )
            } else {
                (
                    format!("│ watching {what} "),
                    Style::new().fg(theme::ACCENT),
                )
            };
            let s = Span::styled(text, style);
            (s.clone(), s)
        }
        (None, finished, step) => match (finished, step) {
            (Some((true, _)), _) => {
                let s = Span::styled("│ run complete ", Style::new().fg(theme::OK));
                (s.clone(), s)
            }
            (Some((false, _)), _) => {
                let s = Span::styled("│ run FAILED ", theme::error());
                (s.clone(), s)
            }
            (None, Some(step)) => {
                let spin = SPINNER[(app.elapsed().as_secs() % 4) as usize];
                let style = Style::new().fg(theme::ACCENT);
                (
                    Span::styled(format!("│ {spin} {}/9 ", step.number()), style),
                    Span::styled(
                        format!("│ {spin} {}/9 {} ", step.number(), app.step_title(step)),
                        style,
                    ),
                )
            }
            (None, None) => {
                let s = Span::styled("│ starting ", theme::dim());
                (s.clone(), s)
            }
        },
    };
    // The message: the latest notice, else the failure that ended the run (it stays).
    let message = match (app.notices.back(), app.failure()) {
        (Some(n), _) => Some(Span::styled(
            format!("│ {} ", n.text),
            if n.error {
                theme::error()
            } else {
                Style::new().fg(theme::WARN)
            },
        )),
        (None, Some((step, error))) => Some(Span::styled(
            format!(
                "│ {} failed: {} (Tab to Steps, Enter: all of it) ",
                app.step_title(step),
                one_line(error)
            ),
            theme::error(),
        )),
        (None, None) => None,
    };
    let working = (!app.working.is_empty()).then(|| {
        let spin = SPINNER[(app.now.duration_since(app.started).as_millis() / 250 % 4) as usize];
        Span::styled(
            format!("│ {spin} working: {}… ", app.working.join(", ")),
            Style::new().fg(theme::ACCENT),
        )
    });
    let hints = Span::styled(" ? help  q quit ", theme::dim());
    let len = |v: &[Span]| v.iter().map(|s| s.content.chars().count()).sum::<usize>();
    // (the step's title, the endpoint, the hints), richest first. A message never gives way:
    // the hints go first, then the step's title, then the endpoint; then the message is cut.
    let candidates: &[(bool, bool, bool)] = if message.is_some() || working.is_some() {
        &[
            (true, true, true),
            (true, true, false),
            (false, true, false),
            (false, false, false),
        ]
    } else {
        &[
            (true, true, true),
            (false, true, true),
            (false, true, false),
            (false, false, false),
        ]
    };
    let line = |long: bool, url: bool| -> Vec<Span> {
        let mut left: Vec<Span> = vec![target[0].clone()];
        if url {
            left.push(target[1].clone());
        } else {
            left.push(Span::raw(" "));
        }
        left.extend(clock.iter().cloned());
        left.push(if long {
            state_long.clone()
        } else {
            state.clone()
        });
        left.extend(working.iter().cloned());
        left.extend(message.iter().cloned());
        left
    };
    let hints_w = len(std::slice::from_ref(&hints));
    for &(long, url, with_hints) in candidates {
        let mut left = line(long, url);
        let used = len(&left);
        let right = if with_hints { hints_w } else { 0 };
        if used + right <= w {
            if with_hints {
                left.push(Span::raw(" ".repeat(w - used - right)));
                left.push(hints.clone());
            }
            f.render_widget(Paragraph::new(Line::from(left)), area);
            return;
        }
    }
    // Not even that fits: cut the end (the message), keeping each span's style.
    let mut room = w;
    let cut: Vec<Span> = line(false, false)
        .into_iter()
        .filter_map(|s| {
            let n = s.content.chars().count();
            if room == 0 {
                None
            } else if n <= room {
                room -= n;
                Some(s)
            } else {
                let t = truncate(&s.content, room);
                room = 0;
                Some(Span::styled(t, s.style))
            }
        })
        .collect();
    f.render_widget(Paragraph::new(Line::from(cut)), area);
}

/// Whether an endpoint is one of Azure's clouds (public, China, US Government).
fn is_azure(endpoint: &str) -> bool {
    url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| {
            [".azure.com", ".azure.cn", ".usgovcloudapi.net"]
                .iter()
                .any(|s| h.ends_with(s))
        })
}
