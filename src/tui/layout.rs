//! The screen's layout, a pure function of the terminal's size. `App::update` keeps the last
//! known size (`Msg::Resize`) and derives from it what must be remembered between frames (the
//! task table's scroll offset, its page size, the preview's height); the views draw into the
//! same rectangles. Nothing here is stored by a view.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Block;

/// The smallest terminal the layout works in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Where each panel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    pub steps: Rect,
    pub pool: Rect,
    pub uploads: Rect,
    pub tasks: Rect,
    pub preview: Rect,
    pub status: Rect,
}

/// Rows of keys the help shows at once in a terminal of `area` (its borders and last line
/// take the rest); more scroll.
pub fn help_rows_fit(area: Rect) -> usize {
    area.height.saturating_sub(4) as usize
}

/// The panels of a terminal of `area`, or `None` when it is smaller than the minimum. A run
/// has a left column (steps, uploads); watching existing work (`run` false) does not, and the
/// pool and tasks get the whole width.
pub fn screen(area: Rect, run: bool) -> Option<Screen> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let preview_h = (area.height / 4).clamp(5, 14);
    let [top, middle, bottom, status] = Layout::vertical([
        Constraint::Length(11),
        Constraint::Fill(1),
        Constraint::Length(preview_h),
        Constraint::Length(1),
    ])
    .areas(area);
    // The left column (steps, uploads) gives way on narrow screens.
    let left = if run {
        (area.width * 3 / 10).clamp(30, 38)
    } else {
        0
    };
    let [steps, pool] =
        Layout::horizontal([Constraint::Length(left), Constraint::Fill(1)]).areas(top);
    let [uploads, tasks] =
        Layout::horizontal([Constraint::Length(left), Constraint::Fill(1)]).areas(middle);
    Some(Screen {
        steps,
        pool,
        uploads,
        tasks,
        preview: bottom,
        status,
    })
}

/// Browsing's screen: a view's panel and the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrowseScreen {
    pub body: Rect,
    pub status: Rect,
}

/// Browsing's screen in a terminal of `area`, or `None` when it is smaller than the minimum.
/// (A job's tasks are shown in the layout of [`screen`] without the run's column.)
pub fn browse_screen(area: Rect) -> Option<BrowseScreen> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let [body, status] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    Some(BrowseScreen { body, status })
}

/// Inside a list's border: the table (header and rows) and the filter being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPanel {
    pub table: Rect,
    pub entry: Rect,
}

/// The list panel of `area` (its outer rectangle), with a line for the filter when one is
/// being typed.
pub fn list_panel(area: Rect, filtering: bool) -> ListPanel {
    let [table, entry] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(u16::from(filtering)),
    ])
    .areas(inside_border(area));
    ListPanel { table, entry }
}

/// Inside the tasks panel's border: the sparkline, the table (header and rows), and the
/// filter being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TasksPanel {
    pub spark: Rect,
    pub table: Rect,
    pub entry: Rect,
}

/// The tasks panel of `area` (its outer rectangle), with a line for the filter when one is
/// being typed.
pub fn tasks_panel(area: Rect, filtering: bool) -> TasksPanel {
    let [spark, table, entry] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(u16::from(filtering)),
    ])
    .areas(inside_border(area));
    TasksPanel {
        spark,
        table,
        entry,
    }
}

/// Task rows the table shows (its height less the header).
pub fn task_rows(table: Rect) -> usize {
    table.height.saturating_sub(1) as usize
}

/// Lines of text the preview panel of `area` shows.
pub fn preview_rows(area: Rect) -> usize {
    inside_border(area).height as usize
}

/// A bordered panel's inside.
pub fn inside_border(area: Rect) -> Rect {
    Block::bordered().inner(area)
}

/// The first row to show so that `selected` is visible, moving as little as possible from
/// `offset`, with `visible` rows out of `total`.
pub fn scroll_into_view(
    offset: usize,
    selected: Option<usize>,
    visible: usize,
    total: usize,
) -> usize {
    let mut offset = offset.min(total.saturating_sub(visible));
    if let Some(s) = selected {
        if s < offset {
            offset = s;
        } else if visible > 0 && s >= offset + visible {
            offset = s + 1 - visible;
        }
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_small_has_no_layout_and_panels_tile_the_screen() {
        assert!(screen(Rect::new(0, 0, 79, 40), true).is_none());
        assert!(screen(Rect::new(0, 0, 120, 23), true).is_none());
        let s = screen(Rect::new(0, 0, 120, 36), true).expect("big enough");
        assert_eq!(s.status, Rect::new(0, 35, 120, 1));
        assert_eq!(s.steps.height + s.uploads.height + s.preview.height + 1, 36);
        assert_eq!(s.uploads.width + s.tasks.width, 120);
        let p = tasks_panel(s.tasks, true);
        assert_eq!(p.entry.height, 1);
        assert_eq!(p.spark.height + p.table.height + 1, s.tasks.height - 2);
        // Watching existing work: no left column, the pool and the tasks get the whole width.
        let w = screen(Rect::new(0, 0, 120, 36), false).expect("big enough");
        assert_eq!((w.steps.width, w.uploads.width), (0, 0));
        assert_eq!((w.pool.width, w.tasks.width), (120, 120));
    }

    #[test]
    fn browsing_lists_take_the_screen_above_the_status_line() {
        assert!(browse_screen(Rect::new(0, 0, 79, 24)).is_none());
        let s = browse_screen(Rect::new(0, 0, 80, 24)).expect("big enough");
        assert_eq!(s.status, Rect::new(0, 23, 80, 1));
        assert_eq!(s.body, Rect::new(0, 0, 80, 23));
        // 23 rows less the border (2) and the header (1); one less while filtering.
        assert_eq!(task_rows(list_panel(s.body, false).table), 20);
        assert_eq!(task_rows(list_panel(s.body, true).table), 19);
    }

    #[test]
    fn scrolling_keeps_the_selection_in_view() {
        assert_eq!(scroll_into_view(0, Some(3), 10, 100), 0);
        assert_eq!(scroll_into_view(0, Some(10), 10, 100), 1);
        assert_eq!(scroll_into_view(50, Some(20), 10, 100), 20);
        // The last page is full.
        assert_eq!(scroll_into_view(95, None, 10, 100), 90);
        assert_eq!(scroll_into_view(5, None, 10, 3), 0);
    }
}
