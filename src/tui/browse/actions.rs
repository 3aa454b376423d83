//! Browsing's actions on the service: what each key does to the rows it applies to (the
//! marked rows of the view on screen, else the selected one), the confirmation it asks first
//! (Cancel focused), and the commands a yes runs. No I/O: the controller runs the commands,
//! and their result comes back as an event that makes the view's watcher look again.

use std::collections::BTreeSet;

use crate::azure::models::{NodeDeallocationOption, NodeRebootOption};
use crate::tui::app::{App, Dialog, Outcome, Overlay, button};
use crate::tui::browse::View;
use crate::tui::keys::Input;
use crate::workflow::controller::{Command, NodeOp};

/// An action on pools, jobs, nodes or tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    DeletePool,
    /// Resize to these dedicated and spot targets (entered in the resize form).
    ResizePool {
        dedicated: u32,
        spot: u32,
    },
    StopResize,
    DeleteJob,
    TerminateJob,
    DisableJob,
    EnableJob,
    /// Every failed task of the jobs run again (the tasks view's `F`, for whole jobs).
    RetryFailedTasks,
    /// Reboot, reimage, deallocate nodes, or remove them from their pool, ending their running
    /// tasks as the option chosen in the confirmation says.
    RebootNode(NodeOption),
    ReimageNode(NodeOption),
    DeallocateNode(NodeOption),
    RemoveNode(NodeOption),
    /// Start deallocated nodes.
    StartNode,
    DisableScheduling,
    EnableScheduling,
    TerminateTask,
    ReactivateTask,
    DeleteTask,
}

/// What a reboot, reimage, deallocation or removal does with the tasks running on the nodes:
/// the service's `nodeRebootOption`, `nodeReimageOption`, `nodeDeallocateOption` and
/// `nodeDeallocationOption` (the same four, with one meaning), chosen in the confirmation with
/// `o`; requeue (the service's default) unless changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeOption {
    #[default]
    Requeue,
    Terminate,
    TaskCompletion,
    RetainedData,
}

impl NodeOption {
    pub const ALL: [NodeOption; 4] = [
        NodeOption::Requeue,
        NodeOption::Terminate,
        NodeOption::TaskCompletion,
        NodeOption::RetainedData,
    ];

    /// The service's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeOption::Requeue => "requeue",
            NodeOption::Terminate => "terminate",
            NodeOption::TaskCompletion => "taskcompletion",
            NodeOption::RetainedData => "retaineddata",
        }
    }

    /// The one `o` goes to: the next, and from the last back to the first.
    pub fn next(self) -> NodeOption {
        let i = Self::ALL.iter().position(|o| *o == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    pub fn reboot(self) -> NodeRebootOption {
        NodeRebootOption::parse(self.as_str())
    }

    pub fn deallocation(self) -> NodeDeallocationOption {
        NodeDeallocationOption::parse(self.as_str())
    }

    /// When nodes that `go` (reboot, leave, are reimaged, are deallocated) do so, and what
    /// becomes of their tasks.
    fn when(self, go: &str) -> String {
        match self {
            NodeOption::Requeue => format!("They {go} now; tasks running on them are requeued."),
            NodeOption::Terminate => {
                format!("They {go} now; tasks running on them end, as failed.")
            }
            NodeOption::TaskCompletion => {
                format!("They {go} once their running tasks end, taking no new task.")
            }
            NodeOption::RetainedData => {
                format!("They {go} once their tasks end and those tasks' files are past retention.")
            }
        }
    }

    /// The confirmation's line of the four, this one in brackets.
    fn choice(self) -> String {
        let all: Vec<String> = Self::ALL
            .iter()
            .map(|&o| {
                if o == self {
                    format!("[{}]", o.as_str())
                } else {
                    o.as_str().to_string()
                }
            })
            .collect();
        format!("Running tasks (o): {}", all.join(" "))
    }
}

/// An action's confirmation: the action, on which rows, so that `o` can ask it again with
/// another option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActOn {
    pub act: Act,
    pub parent: String,
    pub ids: Vec<String>,
}

impl Act {
    /// The action `input` asks for in `view`, if it is one there.
    pub fn of(input: Input, view: &View) -> Option<Act> {
        Some(match (view, input) {
            (View::Pools, Input::DeletePool) => Act::DeletePool,
            (View::Pools, Input::StopResize) => Act::StopResize,
            (View::Jobs, Input::DeleteJob) => Act::DeleteJob,
            (View::Jobs, Input::Terminate) => Act::TerminateJob,
            (View::Jobs, Input::Disable) => Act::DisableJob,
            (View::Jobs, Input::Enable) => Act::EnableJob,
            (View::Jobs, Input::RetryFailed) => Act::RetryFailedTasks,
            (View::Nodes(_), Input::Reboot) => Act::RebootNode(NodeOption::default()),
            (View::Nodes(_), Input::Reimage) => Act::ReimageNode(NodeOption::default()),
            (View::Nodes(_), Input::Deallocate) => Act::DeallocateNode(NodeOption::default()),
            (View::Nodes(_), Input::StartNode) => Act::StartNode,
            (View::Nodes(_), Input::Remove) => Act::RemoveNode(NodeOption::default()),
            (View::Nodes(_), Input::Disable) => Act::DisableScheduling,
            (View::Nodes(_), Input::Enable) => Act::EnableScheduling,
            (View::Tasks(_), Input::Terminate) => Act::TerminateTask,
            (View::Tasks(_), Input::RetryTask) => Act::ReactivateTask,
            (View::Tasks(_), Input::Remove) => Act::DeleteTask,
            _ => return None,
        })
    }

    /// What it acts on.
    pub fn noun(self) -> &'static str {
        match self {
            Act::DeletePool | Act::ResizePool { .. } | Act::StopResize => "pool",
            Act::DeleteJob
            | Act::TerminateJob
            | Act::DisableJob
            | Act::EnableJob
            | Act::RetryFailedTasks => "job",
            Act::RebootNode(_)
            | Act::ReimageNode(_)
            | Act::DeallocateNode(_)
            | Act::RemoveNode(_)
            | Act::StartNode
            | Act::DisableScheduling
            | Act::EnableScheduling => "node",
            Act::TerminateTask | Act::ReactivateTask | Act::DeleteTask => "task",
        }
    }

    /// The verb, as the dialog's button and question start.
    pub fn verb(self) -> &'static str {
        match self {
            Act::DeletePool | Act::DeleteJob | Act::DeleteTask => "Delete",
            Act::ResizePool { .. } => "Resize",
            Act::StopResize => "Stop resizing",
            Act::TerminateJob | Act::TerminateTask => "Terminate",
            Act::DisableJob => "Disable",
            Act::EnableJob => "Enable",
            Act::RetryFailedTasks => "Retry the failed tasks of",
            Act::RebootNode(_) => "Reboot",
            Act::ReimageNode(_) => "Reimage",
            Act::DeallocateNode(_) => "Deallocate",
            Act::StartNode => "Start",
            Act::RemoveNode(_) => "Remove",
            Act::DisableScheduling => "Disable scheduling on",
            Act::EnableScheduling => "Enable scheduling on",
            Act::ReactivateTask => "Reactivate",
        }
    }

    /// What follows from it, under the question.
    fn consequence(self) -> String {
        match self {
            Act::DeletePool => "Their nodes go, and the tasks running on them are killed.".into(),
            Act::ResizePool { dedicated, spot } => format!(
                "Target: {dedicated} dedicated and {spot} spot nodes. Nodes that go end the tasks they run (requeued)."
            ),
            Act::StopResize => "They keep the nodes they have now.".into(),
            Act::DeleteJob => "Their tasks go with them, and the tasks' files.".into(),
            Act::TerminateJob => "Their running tasks are ended; no task starts again.".into(),
            Act::DisableJob => "No task starts; running tasks are requeued.".into(),
            Act::EnableJob => "Their tasks are scheduled again.".into(),
            Act::RetryFailedTasks => {
                "Every failed task of theirs runs again from the start.".into()
            }
            Act::RebootNode(o) => o.when("reboot"),
            Act::ReimageNode(o) => format!(
                "{} Their disks are wiped; their start task runs again.",
                o.when("are reimaged")
            ),
            Act::DeallocateNode(o) => format!(
                "{} They take no task until started (U).",
                o.when("are deallocated")
            ),
            Act::StartNode => "They boot again and run their start task.".into(),
            Act::RemoveNode(o) => format!("The pool shrinks by them. {}", o.when("leave")),
            Act::DisableScheduling => "No task starts on them; running tasks are requeued.".into(),
            Act::EnableScheduling => "They take tasks again.".into(),
            Act::TerminateTask => "They end now, as failed if they were running.".into(),
            Act::ReactivateTask => "They run again from the start.".into(),
            Act::DeleteTask => "Their files on the nodes go with them.".into(),
        }
    }

    /// Whether it loses work or resources (the dialog says so in red).
    fn danger(self) -> bool {
        !matches!(
            self,
            Act::EnableJob
                | Act::EnableScheduling
                | Act::ReactivateTask
                | Act::RetryFailedTasks
                | Act::StopResize
                | Act::StartNode
        )
    }

    /// The option chosen, for an action that takes one.
    fn option(self) -> Option<NodeOption> {
        match self {
            Act::RebootNode(o)
            | Act::ReimageNode(o)
            | Act::DeallocateNode(o)
            | Act::RemoveNode(o) => Some(o),
            _ => None,
        }
    }

    /// The same action with the next option (`o` in its confirmation), if it takes one.
    pub fn next_option(self) -> Option<Act> {
        match self {
            Act::RebootNode(o) => Some(Act::RebootNode(o.next())),
            Act::ReimageNode(o) => Some(Act::ReimageNode(o.next())),
            Act::DeallocateNode(o) => Some(Act::DeallocateNode(o.next())),
            Act::RemoveNode(o) => Some(Act::RemoveNode(o.next())),
            _ => None,
        }
    }

    /// The commands that do it to `ids`, whose pool or job (for nodes and tasks) is `parent`.
    pub fn commands(self, parent: &str, ids: &[String]) -> Vec<Command> {
        let p = parent.to_string();
        match self {
            Act::RemoveNode(o) => {
                return vec![Command::RemoveNodes {
                    pool_id: p,
                    node_ids: ids.to_vec(),
                    option: o.deallocation(),
                }];
            }
            Act::RetryFailedTasks => {
                return vec![Command::RetryFailedTasks {
                    job_ids: ids.to_vec(),
                }];
            }
            _ => {}
        }
        ids.iter()
            .cloned()
            .map(|id| match self {
                Act::DeletePool => Command::DeletePool(id),
                Act::ResizePool { dedicated, spot } => Command::ResizePool {
                    pool_id: id,
                    target: dedicated,
                    spot,
                },
                Act::StopResize => Command::StopResize(id),
                Act::DeleteJob => Command::DeleteJob(id),
                Act::TerminateJob => Command::TerminateJob(id),
                Act::DisableJob => Command::DisableJob(id),
                Act::EnableJob => Command::EnableJob(id),
                Act::RebootNode(o) | Act::ReimageNode(o) | Act::DeallocateNode(o) => {
                    let o = o.reboot();
                    Command::Node {
                        pool_id: p.clone(),
                        node_id: id,
                        op: match self {
                            Act::ReimageNode(_) => NodeOp::Reimage(o),
                            Act::DeallocateNode(_) => NodeOp::Deallocate(o),
                            _ => NodeOp::Reboot(o),
                        },
                    }
                }
                Act::StartNode => Command::Node {
                    pool_id: p.clone(),
                    node_id: id,
                    op: NodeOp::Start,
                },
                Act::DisableScheduling | Act::EnableScheduling => Command::NodeScheduling {
                    pool_id: p.clone(),
                    node_id: id,
                    enable: self == Act::EnableScheduling,
                },
                Act::TerminateTask => Command::TerminateTask {
                    job_id: p.clone(),
                    task_id: id,
                },
                Act::ReactivateTask => Command::ReactivateTask {
                    job_id: p.clone(),
                    task_id: id,
                },
                Act::DeleteTask => Command::DeleteTask {
                    job_id: p.clone(),
                    task_id: id,
                },
                Act::RemoveNode(_) | Act::RetryFailedTasks => {
                    unreachable!("one command for all of them")
                }
            })
            .collect()
    }

    /// The confirmation: the rows it applies to (the first five, and how many more), what
    /// follows, Cancel (focused) and the verb.
    pub fn dialog(self, parent: &str, ids: &[String]) -> Dialog {
        let noun = self.noun();
        let plural = if ids.len() == 1 { "" } else { "s" };
        let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
        let more = match ids.len() - shown.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        let of = match self.noun() {
            "node" => format!(" of pool {parent}"),
            "task" => format!(" of job {parent}"),
            _ => String::new(),
        };
        let mut lines = vec![format!(
            "{} {}{of}: {}{more}?",
            self.verb(),
            crate::util::count(ids.len(), noun),
            shown.join(", ")
        )];
        lines.extend(self.option().map(NodeOption::choice));
        lines.push(self.consequence());
        let label = self.verb().split(' ').next().unwrap_or("Yes");
        Dialog {
            title: format!("{} {noun}{plural}?", self.verb()),
            lines,
            buttons: vec![
                button("Cancel", 'n', Outcome::Cancel),
                button(label, 'y', Outcome::RunAll(self.commands(parent, ids))),
            ],
            focused: 0,
            danger: self.danger(),
            act: Some(ActOn {
                act: self,
                parent: parent.to_string(),
                ids: ids.to_vec(),
            }),
        }
    }
}

/// Space on a pool's nodes or a job's tasks: marks or unmarks `id`.
pub fn toggle(marked: &mut BTreeSet<String>, id: &str) {
    if !marked.remove(id) {
        marked.insert(id.to_string());
    }
}

impl App {
    /// Asks to do `act` to the rows it applies to, unless the session is read-only or none is
    /// selected.
    pub(crate) fn confirm_act(&mut self, act: Act) {
        if self.readonly {
            let what = format!("{} {}s", act.verb().to_lowercase(), act.noun());
            self.notify(
                format!("Read-only session (--readonly): cannot {what}"),
                true,
            );
            return;
        }
        let (parent, ids) = self.act_targets(act);
        if ids.is_empty() {
            self.notify(format!("No {} selected", act.noun()), true);
            return;
        }
        self.overlay = Some(Overlay::Dialog(act.dialog(&parent, &ids)));
    }

    /// A confirmed action on the marked rows: they are no longer marked.
    pub(crate) fn clear_marks(&mut self) {
        if let Some(b) = self.browse.as_mut() {
            b.marked.clear();
            b.pools.marked.clear();
            b.jobs.marked.clear();
        }
    }

    /// The selected task, unless the filter hides it (an action never applies to a row that
    /// is not on screen).
    pub(crate) fn shown_selected_task(&self) -> Option<String> {
        self.selected_index().and(self.selected_task.clone())
    }

    /// Whether a node or task of the view on screen is marked (Space).
    pub fn is_marked(&self, id: &str) -> bool {
        self.browse.as_ref().is_some_and(|b| b.marked.contains(id))
    }

    /// The resize form's question: which pools, and their targets now.
    pub fn resize_prompt(&self) -> String {
        let pools = match self.view() {
            Some(View::Pools) => self.act_targets(Act::StopResize).1,
            _ => vec![self.ids.pool_id.clone()],
        };
        let rows = self.browse.as_ref().map(|b| &b.pools.rows);
        let now = |id: &str| {
            let p = rows
                .and_then(|r| r.iter().find(|r| r.pool.id == id).map(|r| &r.pool))
                .or(self.pool.as_ref().filter(|p| p.id == id));
            p.map_or(String::new(), |p| {
                format!(
                    " (now {} + {} spot)",
                    p.target_dedicated, p.target_low_priority
                )
            })
        };
        match pools.as_slice() {
            [one] => format!("Target nodes of pool {one}{}:", now(one)),
            many => format!("Target nodes of {} pools:", many.len()),
        }
    }

    /// The rows `act` applies to in the view on screen (the marked ones, else the selected
    /// one), and their pool or job.
    pub(crate) fn act_targets(&self, act: Act) -> (String, Vec<String>) {
        let Some(b) = self.browse.as_ref() else {
            return (String::new(), Vec::new());
        };
        match act.noun() {
            "pool" => (String::new(), b.pools.targets()),
            "job" => (String::new(), b.jobs.targets()),
            noun => {
                let (parent, selected) = if noun == "node" {
                    (
                        &self.ids.pool_id,
                        self.selected_node_view().map(|n| n.id.clone()),
                    )
                } else {
                    (&self.ids.job_id, self.shown_selected_task())
                };
                let ids = if b.marked.is_empty() {
                    selected.into_iter().collect()
                } else {
                    b.marked.iter().cloned().collect()
                };
                (parent.clone(), ids)
            }
        }
    }
}
