//! The status line: where the session talks to, elapsed time, the current step or the
//! outcome, the latest notice, and key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::App;
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
    // Segments by priority: the endpoint and clock always; then the state, the hints, the
    // notice, and finally the step's title, dropped in reverse order when space runs out.
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
    let (state, state_long) = match (app.finished, app.current_step()) {
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
                    format!("│ {spin} {}/9 {} ", step.number(), step.title()),
                    style,
                ),
            )
        }
        (None, None) => {
            let s = Span::styled("│ starting ", theme::dim());
            (s.clone(), s)
        }
    };
    let notice = app.notices.back().map(|n| {
        Span::styled(
            format!("│ {} ", n.text),
            if n.error {
                theme::error()
            } else {
                Style::new().fg(theme::WARN)
            },
        )
    });
    let hints = Span::styled(" ? help  q quit ", theme::dim());
    let len = |v: &[Span]| v.iter().map(|s| s.content.chars().count()).sum::<usize>();
    let candidates = [
        (true, true, true),
        (false, true, true),
        (false, false, true),
        (false, false, false),
    ];
    for (long, with_notice, with_hints) in candidates {
        let mut left: Vec<Span> = target.iter().chain(&clock).cloned().collect();
        left.push(if long {
            state_long.clone()
        } else {
            state.clone()
        });
        if with_notice && let Some(n) = &notice {
            left.push(n.clone());
        }
        let right = if with_hints {
            len(std::slice::from_ref(&hints))
        } else {
            0
        };
        let used = len(&left);
        if used + right <= w || !with_hints && !with_notice && !long {
            if with_hints {
                left.push(Span::raw(" ".repeat(w.saturating_sub(used + right))));
                left.push(hints.clone());
            } else if used > w {
                // Not even the essentials fit: cut them.
                let text: String = left.iter().map(|s| s.content.to_string()).collect();
                left = vec![Span::raw(truncate(&text, w))];
            }
            f.render_widget(Paragraph::new(Line::from(left)), area);
            return;
        }
    }
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
