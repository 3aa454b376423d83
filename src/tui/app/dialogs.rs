//! Modal questions: confirmations of deletes, the quit dialog, the workflow's end-of-run
//! question; and what a choice in them does.

use crossterm::event::{KeyCode, KeyEvent};

use crate::tui::app::{Action, App, Mode, Presence, natural_cmp, task_failed};
use crate::tui::browse::actions::ActOn;
use crate::tui::keys::Input;
use crate::workflow::controller::Command;
use crate::workflow::events::{Resource, Step};

/// A choice in a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub label: String,
    /// The key that picks it directly.
    pub key: char,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Cancel,
    Run(Command),
    /// Several commands (browsing: an action on the marked rows).
    RunAll(Vec<Command>),
    Answer(bool),
    QuitKeep,
    QuitDelete,
}

/// A modal question. The focused button starts on the first one, which is always the safe
/// choice (Cancel or Keep): Enter alone never deletes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub title: String,
    pub lines: Vec<String>,
    pub buttons: Vec<Button>,
    pub focused: usize,
    pub danger: bool,
    /// A browsing action's confirmation: what it asks, so that `o` can change its option.
    pub act: Option<ActOn>,
}

impl Dialog {
    /// Whether it is the quit dialog.
    pub fn is_quit(&self) -> bool {
        self.buttons.iter().any(|b| b.outcome == Outcome::QuitKeep)
    }
}

/// What a details overlay shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailsOf {
    Step(Step),
    Task(String),
    Node(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// The keys of the view, from this row on (the help scrolls when they do not fit).
    Help(usize),
    Dialog(Dialog),
    Details(DetailsOf),
}

impl App {
    /// Shows the workflow's question once nothing else is on top.
    pub(super) fn surface_question(&mut self) {
        if self.overlay.is_some() || self.entry.is_some() {
            return;
        }
        if let Some(r) = &self.asking {
            let lines = vec![
                format!("The run is over. Delete {r}?"),
                format!("Keeping it: {}.", r.cost_note()),
            ];
            self.overlay = Some(Overlay::Dialog(Dialog {
                title: format!("Delete {r}?"),
                lines,
                buttons: vec![
                    button("Keep", 'n', Outcome::Answer(false)),
                    button("Delete", 'y', Outcome::Answer(true)),
                ],
                focused: 0,
                danger: true,
                act: None,
            }));
        }
    }

    pub(super) fn key_dialog(
        &mut self,
        mut d: Dialog,
        k: KeyEvent,
        input: Option<Input>,
        actions: &mut Vec<Action>,
    ) {
        let direct = match k.code {
            KeyCode::Char(c) => d.buttons.iter().position(|b| b.key == c),
            _ => None,
        };
        // `o` in a reboot's or a removal's confirmation: the same question, the next option.
        if direct.is_none() && input == Some(Input::NodeOption) {
            if let Some(on) = &d.act
                && let Some(next) = on.act.next_option()
            {
                let focused = d.focused;
                d = next.dialog(&on.parent, &on.ids);
                d.focused = focused;
            }
            self.overlay = Some(Overlay::Dialog(d));
            return;
        }
        let chosen = match (direct, input) {
            (Some(i), _) => Some(i),
            (None, Some(Input::Back | Input::Quit)) => Some(0),
            // Enter (which browsing's lists read as "open").
            (None, Some(Input::Details | Input::Open)) if k.code == KeyCode::Enter => {
                Some(d.focused)
            }
            (None, Some(Input::Left | Input::PrevPanel | Input::Up)) => {
                d.focused = d.focused.checked_sub(1).unwrap_or(d.buttons.len() - 1);
                None
            }
            (None, Some(Input::Right | Input::NextPanel | Input::Down)) => {
                d.focused = (d.focused + 1) % d.buttons.len();
                None
            }
            _ => None,
        };
        let Some(i) = chosen else {
            self.overlay = Some(Overlay::Dialog(d));
            return;
        };
        match d.buttons[i].outcome.clone() {
            Outcome::Cancel => {}
            Outcome::Run(c) => {
                if let Command::DeleteContainers(names) = &c {
                    for n in names {
                        self.set_presence(Resource::Container(n.clone()), Presence::Deleting);
                    }
                }
                actions.push(Action::Run(c));
            }
            Outcome::RunAll(cs) => {
                self.clear_marks();
                actions.extend(cs.into_iter().map(Action::Run))
            }
            Outcome::Answer(yes) => {
                self.asking = None;
                actions.push(Action::Answer(yes));
            }
            Outcome::QuitKeep => {
                actions.push(Action::CancelWorkflow);
                actions.push(Action::Quit);
                self.quit = true;
            }
            Outcome::QuitDelete => {
                actions.push(Action::CancelWorkflow);
                let present: Vec<Resource> = self.present().into_iter().cloned().collect();
                if let Some(r) = self.asking.take() {
                    let _ = r;
                    actions.push(Action::Answer(false));
                }
                for c in self.delete_commands(&present) {
                    actions.push(Action::Run(c));
                }
                self.notify("Deleting what remains, then quitting...", false);
                self.quit_after = Some(present);
            }
        }
    }

    /// The commands that delete `resources`: the job first, then the pool, then containers.
    pub(super) fn delete_commands(&self, resources: &[Resource]) -> Vec<Command> {
        let mut out = Vec::new();
        let mut containers = Vec::new();
        for r in resources {
            match r {
                Resource::Job(id) => out.insert(0, Command::DeleteJob(id.clone())),
                Resource::Pool(id) => out.push(Command::DeletePool(id.clone())),
                Resource::Container(c) => containers.push(c.clone()),
            }
        }
        if !containers.is_empty() {
            out.push(Command::DeleteContainers(containers));
        }
        out
    }

    pub(super) fn ask_quit(&mut self, actions: &mut Vec<Action>) {
        let present: Vec<Resource> = self.present().into_iter().cloned().collect();
        // Watching existing work: the session made nothing, so there is nothing to ask (the
        // exit summary still says what exists).
        if self.mode != Mode::Run || (present.is_empty() && !self.running()) {
            self.quit = true;
            actions.push(Action::Quit);
            return;
        }
        let mut lines = Vec::new();
        if let Some(step) = self.current_step() {
            lines.push(format!(
                "The run is still at step {}/9 ({}); quitting stops it.",
                step.number(),
                self.step_title(step)
            ));
        }
        if present.is_empty() {
            lines.push("Nothing it created is left.".into());
        } else {
            lines.push(if self.target.embedded {
                "Still present (on the embedded local Azure, at no cost):".into()
            } else {
                "Still present:".into()
            });
            for r in &present {
                lines.push(format!("  {r}: {}", r.cost_note()));
            }
        }
        let mut buttons = vec![
            button("Cancel", 'n', Outcome::Cancel),
            button("Keep them and quit", 'k', Outcome::QuitKeep),
        ];
        if present.is_empty() {
            buttons[1].label = "Quit".into();
        } else if !self.readonly {
            buttons.push(button("Delete them and quit", 'd', Outcome::QuitDelete));
        }
        self.overlay = Some(Overlay::Dialog(Dialog {
            title: "Quit batchdeck?".into(),
            lines,
            buttons,
            focused: 0,
            danger: !present.is_empty(),
            act: None,
        }));
    }

    /// `F`: every failed task of the job back in the queue, after a confirmation.
    pub(super) fn confirm_retry_failed(&mut self) {
        if self.readonly {
            self.notify("Read-only session (--readonly): retrying is disabled", true);
            return;
        }
        let mut failed: Vec<String> = self
            .tasks
            .rows
            .iter()
            .filter(|t| task_failed(t))
            .map(|t| t.id.clone())
            .collect();
        if failed.is_empty() {
            self.notify("No failed task to retry", true);
            return;
        }
        failed.sort_by(|a, b| natural_cmp(a, b));
        let shown: Vec<&str> = failed.iter().take(5).map(String::as_str).collect();
        let more = if failed.len() > shown.len() {
            format!(" and {} more", failed.len() - shown.len())
        } else {
            String::new()
        };
        let lines = vec![
            format!(
                "Retry {} of job {}?",
                crate::util::count(failed.len(), "failed task"),
                self.ids.job_id
            ),
            format!("{}{more}", shown.join(", ")),
            "They run again from the start, on the pool's nodes.".to_string(),
        ];
        self.overlay = Some(Overlay::Dialog(Dialog {
            title: "Retry the failed tasks?".into(),
            lines,
            buttons: vec![
                button("Cancel", 'n', Outcome::Cancel),
                button(
                    "Retry",
                    'y',
                    Outcome::Run(Command::ReactivateTasks {
                        job_id: self.ids.job_id.clone(),
                        task_ids: failed,
                    }),
                ),
            ],
            focused: 0,
            danger: false,
            act: None,
        }));
    }

    /// Opens the confirmation for deleting `r`, if it is there and the session may.
    pub(super) fn confirm_delete(&mut self, what: &str, rs: Vec<Resource>) {
        if self.readonly {
            self.notify(
                format!("Read-only session (--readonly): deleting the {what} is disabled"),
                true,
            );
            return;
        }
        let present: Vec<Resource> = rs
            .into_iter()
            .filter(|r| self.presence(r) == Some(Presence::Present))
            .collect();
        if present.is_empty() {
            self.notify(format!("No {what} to delete"), true);
            return;
        }
        let mut lines = Vec::new();
        for r in &present {
            lines.push(format!("Delete {r}?"));
        }
        let cost = present[0].cost_note();
        lines.push(format!("Keeping it: {cost}."));
        if matches!(present[0], Resource::Job(_) | Resource::Pool(_)) && self.running() {
            lines.push("The run is still going: it will fail when this is gone.".into());
        }
        if matches!(present[0], Resource::Pool(_)) {
            lines.push("Tasks running on its nodes are killed.".into());
        }
        let cmd = self
            .delete_commands(&present)
            .into_iter()
            .next()
            .expect("one command for a non-empty list");
        self.overlay = Some(Overlay::Dialog(Dialog {
            title: format!("Delete the {what}?"),
            lines,
            buttons: vec![
                button("Cancel", 'n', Outcome::Cancel),
                button("Delete", 'y', Outcome::Run(cmd)),
            ],
            focused: 0,
            danger: true,
            act: None,
        }));
    }
}

pub(crate) fn button(label: &str, key: char, outcome: Outcome) -> Button {
    Button {
        label: label.into(),
        key,
        outcome,
    }
}
