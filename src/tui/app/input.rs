//! Keys: text entry (the filter, the resize prompt), the main keymap's inputs, moving the
//! selection.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tui::app::{
    Action, App, DetailsOf, Overlay, Panel, Presence, Scroll, SortKey, task_failed,
};
use crate::tui::keys::{self, Input};
use crate::tui::layout;
use crate::workflow::controller::Command;
use crate::workflow::events::Resource;

/// A line of text being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Filter(String),
    Resize(String),
    /// Browsing: the `:` command line.
    Command(String),
}

impl App {
    pub(super) fn key(&mut self, k: KeyEvent, actions: &mut Vec<Action>) {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return;
        }
        let input = keys::lookup(&k, self.scope());
        if self.too_small() {
            self.key_too_small(k, input, actions);
            return;
        }
        if let Some(entry) = self.entry.take() {
            self.key_entry(entry, k, actions);
            return;
        }
        if input == Some(Input::QuitNow) {
            self.quit_now(actions);
            return;
        }
        match self.overlay.take() {
            Some(Overlay::Dialog(d)) => self.key_dialog(d, k, input, actions),
            Some(Overlay::Help(top)) => {
                let fit = layout::help_rows_fit(self.area);
                let last = keys::help_rows(self.scope()).count().saturating_sub(fit);
                let top = match input {
                    Some(Input::Back | Input::Help | Input::Quit) => return,
                    Some(Input::Down) => top + 1,
                    Some(Input::Up) => top.saturating_sub(1),
                    Some(Input::PageDown) => top + fit.max(1),
                    Some(Input::PageUp) => top.saturating_sub(fit.max(1)),
                    Some(Input::Top) => 0,
                    Some(Input::Bottom) => last,
                    _ => top,
                };
                self.overlay = Some(Overlay::Help(top.min(last)));
            }
            Some(Overlay::Details(what)) => match input {
                Some(Input::Back | Input::Details | Input::Open) => {}
                Some(Input::Quit) => self.ask_quit(actions),
                _ => self.overlay = Some(Overlay::Details(what)),
            },
            None => {
                if let Some(i) = input
                    && !self.key_browse(i, actions)
                {
                    self.key_main(i, actions);
                }
            }
        }
    }

    /// Below the minimum size nothing else is visible, so only Ctrl-C and `q` act: `q` sets
    /// aside what was open (a question from the workflow stays asked, for later) and opens the
    /// quit dialog, which the small screen shows; its keys answer it.
    fn key_too_small(&mut self, k: KeyEvent, input: Option<Input>, actions: &mut Vec<Action>) {
        if input == Some(Input::QuitNow) {
            self.quit_now(actions);
            return;
        }
        match self.overlay.take() {
            Some(Overlay::Dialog(d)) if d.is_quit() => self.key_dialog(d, k, input, actions),
            other if input == Some(Input::Quit) => {
                drop(other);
                self.entry = None;
                self.ask_quit(actions);
            }
            other => self.overlay = other,
        }
    }

    /// Ctrl-C: stop the run where it is and leave, keeping everything.
    fn quit_now(&mut self, actions: &mut Vec<Action>) {
        if self.running() {
            actions.push(Action::CancelWorkflow);
        }
        actions.push(Action::Quit);
        self.quit = true;
        self.interrupted = true;
    }

    fn key_entry(&mut self, entry: Entry, k: KeyEvent, actions: &mut Vec<Action>) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        let (mut text, is_filter) = match entry {
            Entry::Filter(t) => (t, true),
            Entry::Resize(t) => (t, false),
            Entry::Command(_) if ctrl && k.code == KeyCode::Char('c') => {
                self.quit_now(actions);
                return;
            }
            Entry::Command(t) => {
                self.key_command(t, k);
                return;
            }
        };
        match k.code {
            KeyCode::Esc => {
                if is_filter {
                    self.set_filter(String::new());
                }
                return;
            }
            KeyCode::Enter => {
                if is_filter {
                    self.set_filter(text);
                } else {
                    self.submit_resize(&text, actions);
                }
                return;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('c') if ctrl => {
                self.quit_now(actions);
                return;
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char(c)
                if !ctrl && (is_filter || c.is_ascii_digit() || c == ' ') && text.len() < 64 =>
            {
                text.push(c)
            }
            _ => {}
        }
        if is_filter {
            // Filter as you type.
            self.set_filter(text.clone());
            self.entry = Some(Entry::Filter(text));
        } else {
            self.entry = Some(Entry::Resize(text));
        }
    }

    pub(super) fn set_filter(&mut self, f: String) {
        if self.set_list_filter(f.clone()) {
            return;
        }
        if self.filter != f {
            self.filter = f;
            self.tasks.stale = true;
            self.task_offset = 0;
        }
    }

    /// Enter in the resize form: `DEDICATED [SPOT]` (spot 0 when left out).
    fn submit_resize(&mut self, text: &str, actions: &mut Vec<Action>) {
        let counts: Result<Vec<u32>, _> = text.split_whitespace().map(str::parse).collect();
        let (dedicated, spot) = match counts.as_deref() {
            Ok([d]) if *d <= 1000 => (*d, 0),
            Ok([d, s]) if *d <= 1000 && *s <= 1000 => (*d, *s),
            _ => {
                return self.notify(
                    format!(
                        "{text:?} is not a node count: type 0 to 1000 (dedicated), optionally a space and 0 to 1000 (spot), then Enter"
                    ),
                    true,
                );
            }
        };
        if self.browse.is_some() {
            self.confirm_act(crate::tui::browse::actions::Act::ResizePool { dedicated, spot });
        } else {
            actions.push(Action::Run(Command::ResizePool {
                pool_id: self.ids.pool_id.clone(),
                target: dedicated,
                spot,
            }));
        }
    }

    pub(super) fn key_main(&mut self, input: Input, actions: &mut Vec<Action>) {
        match input {
            Input::Help => self.overlay = Some(Overlay::Help(0)),
            Input::Quit => self.ask_quit(actions),
            Input::QuitNow => {}
            Input::NextPanel => self.focus = self.next_panel(1),
            Input::PrevPanel => self.focus = self.next_panel(-1),
            Input::Up => self.move_by(-1, actions),
            Input::Down => self.move_by(1, actions),
            Input::PageUp => self.move_by(-(self.focused_page().max(1) as isize), actions),
            Input::PageDown => self.move_by(self.focused_page().max(1) as isize, actions),
            // In the preview, as in a pager: the start, or the end and follow it.
            Input::Top if self.focus == Panel::Preview => self.preview_scroll = Scroll::Line(0),
            Input::Bottom if self.focus == Panel::Preview => self.preview_scroll = Scroll::Follow,
            Input::Top => self.move_by(isize::MIN / 2, actions),
            Input::Bottom => self.move_by(isize::MAX / 2, actions),
            Input::Details => match self.focus {
                Panel::Steps => {
                    if let Some((step, _)) = self.steps.get(self.selected_step) {
                        self.overlay = Some(Overlay::Details(DetailsOf::Step(*step)));
                    }
                }
                Panel::Nodes => {
                    if let Some(n) = self.selected_node_view() {
                        self.overlay = Some(Overlay::Details(DetailsOf::Node(n.id.clone())));
                    }
                }
                Panel::Tasks | Panel::Preview => {
                    if let Some(t) = &self.selected_task {
                        self.overlay = Some(Overlay::Details(DetailsOf::Task(t.clone())));
                    }
                }
            },
            Input::Back => {
                if !self.filter.is_empty() {
                    self.set_filter(String::new());
                }
            }
            Input::Filter => {
                self.focus = Panel::Tasks;
                self.entry = Some(Entry::Filter(self.filter.clone()));
            }
            Input::Sort => {
                let i = SortKey::ALL
                    .iter()
                    .position(|k| *k == self.sort)
                    .unwrap_or(0);
                self.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
                self.tasks.stale = true;
            }
            Input::Reverse => {
                self.descending = !self.descending;
                self.tasks.stale = true;
            }
            Input::DeleteJob => {
                self.confirm_delete("job", vec![Resource::Job(self.ids.job_id.clone())])
            }
            Input::DeletePool => {
                self.confirm_delete("pool", vec![Resource::Pool(self.ids.pool_id.clone())])
            }
            Input::DeleteContainers => {
                let rs = self
                    .ids
                    .containers
                    .iter()
                    .map(|c| Resource::Container(c.clone()))
                    .collect();
                self.confirm_delete("containers", rs)
            }
            Input::ResizePool => {
                if self.readonly {
                    self.notify("Read-only session (--readonly): resizing is disabled", true);
                } else if self.presence(&Resource::Pool(self.ids.pool_id.clone()))
                    != Some(Presence::Present)
                {
                    self.notify("No pool to resize", true);
                } else {
                    self.entry = Some(Entry::Resize(String::new()));
                }
            }
            Input::RetryTask => self.retry_selected(actions),
            Input::RetryFailed => self.confirm_retry_failed(),
            Input::Download => self.download_selected(actions),
            Input::Left | Input::Right | Input::Yes | Input::No => {}
            // Browsing's own keys (handled before these).
            Input::Open
            | Input::Command
            | Input::NextMatch
            | Input::PrevMatch
            | Input::Wrap
            | Input::Toggle
            | Input::Mark
            | Input::StopResize
            | Input::Terminate
            | Input::Disable
            | Input::Enable
            | Input::Reboot
            | Input::Reimage
            | Input::Deallocate
            | Input::StartNode
            | Input::Remove
            | Input::NodeOption => {}
        }
    }

    /// The next panel Tab goes to (a session with no steps has no steps panel).
    fn next_panel(&self, by: isize) -> Panel {
        let mut p = self.focus.step(by);
        if p == Panel::Steps && self.steps.is_empty() {
            p = p.step(by);
        }
        p
    }

    /// `d`: the selected task's files (its output files and stdout/stderr) to the output
    /// directory.
    fn download_selected(&mut self, actions: &mut Vec<Action>) {
        let Some(t) = self.selected_task_view() else {
            self.notify("No task selected", true);
            return;
        };
        let (task_id, dir) = (t.id.clone(), self.output_dir.join(&t.id));
        self.notify(
            format!(
                "Downloading the files of task {task_id} to {}...",
                dir.display()
            ),
            false,
        );
        actions.push(Action::Run(Command::DownloadTaskFiles {
            job_id: self.ids.job_id.clone(),
            task_id,
            dir,
        }));
    }

    fn retry_selected(&mut self, actions: &mut Vec<Action>) {
        if self.readonly {
            self.notify("Read-only session (--readonly): retrying is disabled", true);
            return;
        }
        match self.selected_task_view() {
            Some(t) if task_failed(t) => {
                let task_id = t.id.clone();
                actions.push(Action::Run(Command::ReactivateTask {
                    job_id: self.ids.job_id.clone(),
                    task_id,
                }));
            }
            Some(t) => {
                let msg = format!(
                    "Task {} did not fail: only failed tasks can be retried",
                    t.id
                );
                self.notify(msg, true)
            }
            None => self.notify("No task selected", true),
        }
    }

    /// Rows a page moves in the focused panel.
    fn focused_page(&self) -> usize {
        match self.focus {
            Panel::Preview => self.preview_rows(),
            _ => self.page(),
        }
    }

    fn move_by(&mut self, by: isize, actions: &mut Vec<Action>) {
        match self.focus {
            Panel::Steps => {
                self.selected_step = clamp_add(self.selected_step, by, self.steps.len())
            }
            Panel::Nodes => {
                let n = self.nodes.len();
                if n > 0 {
                    self.selected_node = clamp_add(self.selected_node, by, n);
                }
            }
            Panel::Tasks => {
                self.settle();
                let n = self.tasks.order.len();
                if n == 0 {
                    return;
                }
                let cur = self.selected_index().unwrap_or(0);
                let next = clamp_add(cur, by, n);
                let id = self.tasks.rows[self.tasks.order[next]].id.clone();
                if self.selected_task.as_deref() != Some(&id) {
                    self.selected_task = Some(id);
                    self.preview_scroll = Scroll::Natural;
                    self.refresh_preview(actions, true);
                }
            }
            // Down is towards the end of the text (newer lines of a log), as in a pager.
            Panel::Preview => self.scroll_preview(by),
        }
    }
}

fn clamp_add(cur: usize, by: isize, len: usize) -> usize {
    (cur as isize).saturating_add(by).clamp(0, len as isize - 1) as usize
}
