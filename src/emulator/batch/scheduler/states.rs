//! State changes shared by the routes and the passes (a task's or a node's state with its
//! transition time, a requeue, a reboot), and recovery after a restart.

use chrono::{DateTime, Utc};

use super::Effects;
use crate::azure::models::{
    ComputeNode, DisableSchedulingOption, Job, JobState, NodeDeallocationOption, NodeState,
    SchedulingState, TaskExecutionInfo, TaskState,
};
use crate::emulator::batch::agent;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::state::{NodeAction, State, TaskRec, Tx, key};
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
/// (reboot, reimage, deallocate, and a node user's create, replace and delete; disabling or
/// enabling scheduling, which an offline node also takes): see [`node_in`].
pub fn node_ready(n: &ComputeNode) -> Result<(), ApiError> {
    node_in(n, &[NodeState::Idle, NodeState::Running])
}

/// Whether node `n` is in one of the states an operation needs (`allowed`): otherwise the
/// service's 409 for the state the node is in, from the REST reference's "Batch Status and
/// Error Codes" (`NodeBeingCreated`, `NodeBeingStarted`, `NodeBeingRebooted`,
/// `NodeBeingReimaged`, `NodeStateUnusable`, else `OperationNotValidOnNode`), naming the state.
pub fn node_in(n: &ComputeNode, allowed: &[NodeState]) -> Result<(), ApiError> {
    if allowed.contains(&n.state) {
        return Ok(());
    }
    let (code, msg) = match n.state {
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

/// When a completed task's files kept on node `nk` expire (none if they are not there, or
/// are kept for good).
fn files_kept_on(t: &TaskRec, nk: &(String, String)) -> Option<DateTime<Utc>> {
    files_on(t, nk)
        .then(|| super::passes::files_expire_at(t))
        .flatten()
}

/// Whether a completed task's files are still on node `nk`.
fn files_on(t: &TaskRec, nk: &(String, String)) -> bool {
    if t.files_removed || *t.state() != TaskState::Completed {
        return false;
    }
    t.task.node_info.as_ref().is_some_and(|ni| {
        ni.pool_id.as_deref().map(key).as_deref() == Some(nk.0.as_str())
            && ni.node_id.as_deref() == Some(nk.1.as_str())
    })
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

/// The failure message of a task that a reboot, reimage or deallocation with `terminate`
/// ends.
fn ended_by(action: NodeAction) -> &'static str {
    match action {
        NodeAction::Reboot => "The task was ended because its node was rebooted",
        NodeAction::Reimage => "The task was ended because its node was reimaged",
        NodeAction::Deallocate => "The task was ended because its node was deallocated",
    }
}

/// Reboots, reimages or deallocates a node at a user's request (`asked`: the option of the
/// request, requeue by default, see [`drain_node`]), or reboots it as a node failure does
/// (requeue): what runs on it is ended as the option says and the action begins
/// ([`begin`]) at once; with `taskcompletion` or `retaineddata` the node takes no new task
/// and the action begins once it may ([`pending_reboots`]). A user's request is refused unless
/// the node is idle or running ([`node_ready`]), as the service refuses it. Returns false if
/// there is no such node.
pub fn node_action(
    svc: &BatchService,
    nk: &(String, String),
    action: NodeAction,
    option: &NodeDeallocationOption,
    asked: bool,
) -> Result<bool, ApiError> {
    let mut fx = Effects::default();
    {
        let (mut guard, now) = svc.lock_at();
        let st = &mut *guard;
        let Some(node) = st.nodes.get(nk) else {
            return Ok(false);
        };
        if asked {
            node_ready(&node.node)?;
        }
        let why = ended_by(action);
        if drain_node(st, nk, option, why, now, &mut fx.kills, &mut fx.tx) {
            begin(svc, st, nk, action, now, &mut fx);
        } else if let Some(node) = st.nodes.get_mut(nk) {
            node.pending_reboot = Some(option.clone());
            node.pending_action = action;
            fx.tx.node(nk, node);
        }
        svc.commit(std::mem::take(&mut fx.tx))?;
    }
    fx.settle(svc);
    svc.wake.notify_one();
    Ok(true)
}

/// Starts a deallocated node again (the service's Start Node): it boots as a new node does,
/// start task included. Refused unless the node is `deallocated` ([`node_in`]). Returns false
/// if there is no such node.
pub fn start_node(svc: &BatchService, nk: &(String, String)) -> Result<bool, ApiError> {
    {
        let (mut guard, now) = svc.lock_at();
        let Some(node) = guard.nodes.get_mut(nk) else {
            return Ok(false);
        };
        node_in(&node.node, &[NodeState::Deallocated])?;
        set_node_state(&mut node.node, NodeState::Starting, now);
        node.phase_since = now;
        let mut tx = Tx::default();
        tx.node(nk, node);
        svc.commit(tx)?;
    }
    svc.wake.notify_one();
    Ok(true)
}

/// Begins the actions of the nodes that waited for their tasks (and their files' retention)
/// to end.
pub(super) fn pending_reboots(
    svc: &BatchService,
    st: &mut State,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    let waiting: Vec<((String, String), NodeDeallocationOption, NodeAction)> = st
        .nodes
        .iter()
        .filter_map(|(k, n)| {
            n.pending_reboot
                .clone()
                .map(|o| (k.clone(), o, n.pending_action))
        })
        .collect();
    for (nk, option, action) in waiting {
        let why = ended_by(action);
        if drain_node(st, &nk, &option, why, now, &mut fx.kills, &mut fx.tx) {
            begin(svc, st, &nk, action, now, fx);
        }
    }
}

/// The action itself: the start task's run is killed, tasks still placed there are requeued,
/// and the node is `rebooting` (then boots as a new one does, start task included),
/// `reimaging` (its directories, user accounts, start task information and the files of the
/// tasks that ran there are gone; then it starts as a new one does) or `deallocating` (then
/// `deallocated`, its files kept, until started again).
fn begin(
    svc: &BatchService,
    st: &mut State,
    nk: &(String, String),
    action: NodeAction,
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    let Some(node) = st.nodes.get_mut(nk) else {
        return;
    };
    if let Some(r) = node.start_run.take() {
        fx.kills.push(r);
    }
    node.start_pgid = None;
    node.pending_reboot = None;
    node.pending_action = NodeAction::Reboot;
    let state = match action {
        NodeAction::Reboot => NodeState::Rebooting,
        NodeAction::Reimage => NodeState::Reimaging,
        NodeAction::Deallocate => NodeState::Deallocating,
    };
    set_node_state(&mut node.node, state, now);
    node.phase_since = now;
    node.node.running_tasks_count = 0;
    node.node.running_task_slots_count = 0;
    let wiped = action == NodeAction::Reimage;
    if wiped {
        node.users.clear();
        node.node.start_task_info = None;
        let dir = svc.node_dir(&nk.0, &nk.1);
        fx.remove_dirs.push(dir.clone());
        fx.create_dirs
            .extend(super::passes::NODE_DIRS.iter().map(|d| dir.join(d)));
    }
    fx.tx.node(nk, node);
    super::job_tasks::node_rebooted(st, nk, wiped, &mut fx.tx);
    for (tk, t) in st.tasks.iter_mut() {
        if t.on_node(nk) {
            fx.kills.extend(t.runs());
            requeue(t, now);
            fx.tx.task(tk, t);
        } else if wiped && files_on(t, nk) {
            t.files_removed = true;
            fx.tx.task(tk, t);
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
/// are requeued and every node reboots, so that its start task runs again (a deallocated one
/// stays deallocated). A reimage or deallocation that waited for the node's tasks is kept: the
/// first pass begins it once they allow (`pending_reboots`), as it would have without the
/// restart; a waiting reboot is the one the restart does.
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
        if rec.pending_action == NodeAction::Reboot {
            rec.pending_reboot = None;
        }
        rec.node.running_tasks_count = 0;
        rec.node.running_task_slots_count = 0;
        match rec.node.state {
            NodeState::Creating => {}
            // A deallocated node stays so until started.
            NodeState::Deallocating | NodeState::Deallocated => {
                set_node_state(&mut rec.node, NodeState::Deallocated, now)
            }
            _ => set_node_state(&mut rec.node, NodeState::Rebooting, now),
        }
        rec.phase_since = now;
        tx.node(k, rec);
    }
    tx
}
