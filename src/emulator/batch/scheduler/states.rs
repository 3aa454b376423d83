//! State changes shared by the routes and the passes (a task's or a node's state with its
//! transition time, a requeue, a reboot), and recovery after a restart.

use chrono::{DateTime, Utc};

use crate::azure::models::{
    ComputeNode, DisableSchedulingOption, Job, JobState, NodeDeallocationOption, NodeState,
    SchedulingState, TaskExecutionInfo, TaskState,
};
use crate::emulator::batch::agent;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::state::{State, TaskRec, Tx, key};
use crate::emulator::batch::{BatchService, etag};

/// Moves an entity's state, keeping the previous one as the service does.
pub fn set_task_state(rec: &mut TaskRec, new: TaskState, now: DateTime<Utc>) {
    let t = &mut rec.task;
    if t.state.as_ref() != Some(&new) {
        t.previous_state = t.state.take();
        t.previous_state_transition_time = t.state_transition_time;
        t.state = Some(new);
        t.state_transition_time = Some(now);
    }
    t.last_modified = Some(now);
    t.e_tag = Some(etag(now));
}

/// Moves a job's state, keeping the previous one as the service does.
pub fn set_job_state(job: &mut Job, new: JobState, now: DateTime<Utc>) {
    job.previous_state = job.state.take();
    job.previous_state_transition_time = job.state_transition_time;
    job.state = Some(new);
    job.state_transition_time = Some(now);
    job.last_modified = Some(now);
    job.e_tag = Some(etag(now));
}

/// The one check of the node operations the service allows only on an idle or running node
/// (reboot, and a node user's create, replace and delete; disabling or enabling scheduling,
/// which an offline node also takes): otherwise the service's 409 for the state the node is in,
/// from the REST reference's "Batch Status and Error Codes" (`NodeBeingCreated`,
/// `NodeBeingStarted`, `NodeBeingRebooted`, `NodeBeingReimaged`, `NodeStateUnusable`, else
/// `OperationNotValidOnNode`), naming the state.
pub fn node_ready(n: &ComputeNode) -> Result<(), ApiError> {
    let (code, msg) = match n.state {
        NodeState::Idle | NodeState::Running => return Ok(()),
        NodeState::Creating => ("NodeBeingCreated", "The specified node is being created"),
        NodeState::Starting | NodeState::WaitingForStartTask => {
            ("NodeBeingStarted", "The specified node is being started")
        }
        NodeState::Rebooting => ("NodeBeingRebooted", "The specified node is being rebooted"),
        NodeState::Reimaging => ("NodeBeingReimaged", "The specified node is being reimaged"),
        NodeState::Unusable => (
            "NodeStateUnusable",
            "The state of the specified node is unusable",
        ),
        _ => (
            "OperationNotValidOnNode",
            "The specified operation is not valid on the node.",
        ),
    };
    Err(ApiError::new(axum::http::StatusCode::CONFLICT, code, msg)
        .with("NodeState", n.state.as_str()))
}

pub fn set_node_state(node: &mut ComputeNode, new: NodeState, now: DateTime<Utc>) {
    if node.state != new {
        node.state = new;
        node.state_transition_time = Some(now);
    }
}

/// Puts a task that was running back in the queue (its node went away).
pub fn requeue(rec: &mut TaskRec, now: DateTime<Utc>) {
    let info = rec
        .task
        .execution_info
        .get_or_insert_with(TaskExecutionInfo::default);
    info.requeue_count += 1;
    info.last_requeue_time = Some(now);
    rec.node = None;
    rec.run = None;
    rec.pgid = None;
    rec.end_instances();
    rec.subtasks.clear();
    set_task_state(rec, TaskState::Active, now);
}

/// Ends a task's run at a user's request (terminate, or a job disabled with `terminate`): the
/// task completes with the service's failure info `TaskEnded`. The caller kills the run.
pub fn terminate_run(rec: &mut TaskRec, now: DateTime<Utc>) {
    super::passes::end_task(
        rec,
        None,
        Some(agent::failure(
            "TaskEnded",
            "Task Was Ended by User Request",
        )),
        now,
    );
}

/// What a node that reboots or leaves its pool does with the tasks it runs, as `option` says
/// (`nodeRebootOption` and `nodeDeallocationOption` name the same four, with one meaning):
/// `requeue` puts them back in the queue and `terminate` completes them with a failure (both
/// at once, the node may go now); `taskcompletion` lets them finish and `retaineddata` also
/// waits until the files of the tasks that ran there are past their retention time. Returns
/// whether the node may go now; what runs is killed through `kills`. `why` is the failure
/// message of a terminated task.
pub fn drain_node(
    st: &mut State,
    nk: &(String, String),
    option: &NodeDeallocationOption,
    why: &'static str,
    now: DateTime<Utc>,
    kills: &mut Vec<u64>,
    tx: &mut Tx,
) -> bool {
    match option {
        NodeDeallocationOption::TaskCompletion => !st.tasks.values().any(|t| t.on_node(nk)),
        NodeDeallocationOption::RetainedData => !st
            .tasks
            .values()
            .any(|t| t.on_node(nk) || retains_files_on(t, nk, now)),
        NodeDeallocationOption::Requeue
        | NodeDeallocationOption::Terminate
        | NodeDeallocationOption::Unknown(_) => {
            for (tk, t) in st.tasks.iter_mut() {
                if !t.on_node(nk) {
                    continue;
                }
                kills.extend(t.runs());
                if *option == NodeDeallocationOption::Terminate {
                    super::passes::end_task(t, None, Some(agent::failure("TaskEnded", why)), now);
                } else {
                    requeue(t, now);
                }
                tx.task(tk, t);
            }
            true
        }
    }
}

/// Whether a completed task's files are still kept on node `nk` (its retention time, from its
/// end, has not passed).
fn retains_files_on(t: &TaskRec, nk: &(String, String), now: DateTime<Utc>) -> bool {
    files_kept_on(t, nk).is_some_and(|expiry| now < expiry)
}

/// When a completed task's files kept on node `nk` expire (none if they are not there).
fn files_kept_on(t: &TaskRec, nk: &(String, String)) -> Option<DateTime<Utc>> {
    if t.files_removed || *t.state() != TaskState::Completed {
        return None;
    }
    let ni = t.task.node_info.as_ref()?;
    let here = ni.pool_id.as_deref().map(key).as_deref() == Some(nk.0.as_str())
        && ni.node_id.as_deref() == Some(nk.1.as_str());
    here.then(|| super::passes::files_expire_at(t)).flatten()
}

/// When the next reboot waiting for files' retention may happen (the last expiry, still to
/// come, of the files kept on its node), so that the loop wakes for it without passing while
/// it waits. (A node waiting for running tasks is woken by their end.)
pub(super) fn next_reboot_due(st: &State, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    st.nodes
        .iter()
        .filter(|(_, n)| n.pending_reboot == Some(NodeDeallocationOption::RetainedData))
        .filter_map(|(nk, _)| st.tasks.values().filter_map(|t| files_kept_on(t, nk)).max())
        .filter(|due| *due > now)
        .min()
}

/// The failure message of a task a reboot with `terminate` ends.
const REBOOT_ENDED: &str = "The task was ended because its node was rebooted";

/// Reboots a node at a user's request (`nodeRebootOption`, requeue by default, see
/// [`drain_node`]), or as a node failure does (requeue): what runs on it is ended as the
/// option says and it boots again, start task included, at once; with `taskcompletion` or
/// `retaineddata` it takes no new task and reboots once it may ([`pending_reboots`]). A user's
/// reboot (`asked`) is refused unless the node is idle or running ([`node_ready`]), as the
/// service refuses it. Returns false if there is no such node.
pub fn reboot(
    svc: &BatchService,
    nk: &(String, String),
    option: &NodeDeallocationOption,
    asked: bool,
) -> Result<bool, ApiError> {
    let mut kills = Vec::new();
    let mut tx = Tx::default();
    {
        let (mut guard, now) = svc.lock_at();
        let st = &mut *guard;
        let Some(node) = st.nodes.get(nk) else {
            return Ok(false);
        };
        if asked {
            node_ready(&node.node)?;
        }
        if drain_node(st, nk, option, REBOOT_ENDED, now, &mut kills, &mut tx) {
            restart(st, nk, now, &mut kills, &mut tx);
        } else if let Some(node) = st.nodes.get_mut(nk) {
            node.pending_reboot = Some(option.clone());
            tx.node(nk, node);
        }
        svc.commit(tx)?;
    }
    for r in kills {
        svc.procs.kill(r);
    }
    svc.wake.notify_one();
    Ok(true)
}

/// Reboots the nodes that waited for their tasks (and their files' retention) to end.
pub(super) fn pending_reboots(
    st: &mut State,
    now: DateTime<Utc>,
    kills: &mut Vec<u64>,
    tx: &mut Tx,
) {
    let waiting: Vec<((String, String), NodeDeallocationOption)> = st
        .nodes
        .iter()
        .filter_map(|(k, n)| n.pending_reboot.clone().map(|o| (k.clone(), o)))
        .collect();
    for (nk, option) in waiting {
        if drain_node(st, &nk, &option, REBOOT_ENDED, now, kills, tx) {
            restart(st, &nk, now, kills, tx);
        }
    }
}

/// The reboot itself: the start task's run is killed, tasks still placed there are requeued,
/// and the node is `rebooting` (then boots as a new one does, start task included).
fn restart(
    st: &mut State,
    nk: &(String, String),
    now: DateTime<Utc>,
    kills: &mut Vec<u64>,
    tx: &mut Tx,
) {
    let Some(node) = st.nodes.get_mut(nk) else {
        return;
    };
    if let Some(r) = node.start_run.take() {
        kills.push(r);
    }
    node.start_pgid = None;
    node.pending_reboot = None;
    set_node_state(&mut node.node, NodeState::Rebooting, now);
    node.phase_since = now;
    node.node.running_tasks_count = 0;
    node.node.running_task_slots_count = 0;
    tx.node(nk, node);
    super::job_tasks::node_rebooted(st, nk, tx);
    for (tk, t) in st.tasks.iter_mut() {
        if t.on_node(nk) {
            kills.extend(t.runs());
            requeue(t, now);
            tx.task(tk, t);
        }
    }
}

/// Disables or enables task scheduling on a node. Disabling requeues its running tasks,
/// terminates them, or lets them complete, as `option` says; the node is `offline` once none
/// runs. Enabling makes it take tasks again.
pub fn disable_scheduling(
    svc: &BatchService,
    nk: &(String, String),
    enable: bool,
    option: &DisableSchedulingOption,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut kills = Vec::new();
    let mut tx = Tx::default();
    {
        let mut guard = svc.lock();
        let st = &mut *guard;
        let Some(node) = st.nodes.get_mut(nk) else {
            return Err(ApiError::node_not_found());
        };
        node.node.scheduling_state = Some(if enable {
            SchedulingState::Enabled
        } else {
            SchedulingState::Disabled
        });
        if !enable && *option != DisableSchedulingOption::TaskCompletion {
            node.node.running_tasks_count = 0;
            node.node.running_task_slots_count = 0;
            for (tk, t) in st.tasks.iter_mut() {
                if !t.on_node(nk) {
                    continue;
                }
                kills.extend(t.runs());
                if *option == DisableSchedulingOption::Terminate {
                    super::passes::end_task(
                        t,
                        None,
                        Some(agent::failure(
                            "TaskEnded",
                            "The task was ended because scheduling was disabled on its node",
                        )),
                        now,
                    );
                } else {
                    requeue(t, now);
                }
                tx.task(tk, t);
            }
        }
        let busy = st.tasks.values().any(|t| t.on_node(nk));
        if let Some(node) = st.nodes.get_mut(nk) {
            let next = match (enable, busy) {
                (true, true) => NodeState::Running,
                (true, false) => NodeState::Idle,
                (false, true) => node.node.state.clone(),
                (false, false) => NodeState::Offline,
            };
            set_node_state(&mut node.node, next, now);
            tx.node(nk, node);
        }
        svc.commit(tx)?;
    }
    for r in kills {
        svc.procs.kill(r);
    }
    svc.wake.notify_one();
    Ok(())
}

/// After a restart: processes of the previous run are gone (or are killed now), running tasks
/// are requeued and every node reboots, so that its start task runs again.
pub fn recover(state: &mut State, now: DateTime<Utc>) -> Tx {
    let mut tx = Tx::default();
    for (k, rec) in state.tasks.iter_mut() {
        if let Some(pgid) = rec.pgid {
            agent::kill_group(pgid);
        }
        if rec.run.is_some() || matches!(rec.state(), TaskState::Running | TaskState::Preparing) {
            requeue(rec, now);
            tx.task(k, rec);
        }
    }
    for (k, rec) in state.nodes.iter_mut() {
        if let Some(pgid) = rec.start_pgid.take() {
            agent::kill_group(pgid);
        }
        rec.start_run = None;
        rec.pending_reboot = None;
        rec.node.running_tasks_count = 0;
        rec.node.running_task_slots_count = 0;
        if rec.node.state != NodeState::Creating {
            set_node_state(&mut rec.node, NodeState::Rebooting, now);
        }
        rec.phase_since = now;
        tx.node(k, rec);
    }
    tx
}
