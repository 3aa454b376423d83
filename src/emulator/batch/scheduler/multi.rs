//! Multi-instance tasks: placed at once on as many distinct nodes as they have instances, the
//! primary (the task itself) on the first and one subtask on each other. Every instance
//! downloads the common resource files into its task directory and runs the coordination
//! command (what it starts in the background lives as long as the task); once every
//! coordination command has ended well, the primary runs the task's command line. The task
//! ends with its primary: subtasks still running are ended, and a failed subtask fails it.
//! The job's preparation task has run on every node the instances take: until it has, the task
//! (the primary and each subtask) waits `preparing` on the nodes it took, as a task does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::job_tasks::{self, Gate};
use super::launch::{finish_task, record_task_pgid};
use super::placement::{begin_run, fresh_output, node_info, occupy, task_run_spec};
use super::states::{set_node_state, set_task_state};
use super::{Effects, Launch};
use crate::azure::models::{
    Job, NodeState, Pool, Subtask, SubtaskState, TaskExecutionResult, TaskState,
};
use crate::emulator::batch::BatchService;
use crate::emulator::batch::agent::{self, RunOutcome, RunSpec, fetch_resource_files};
use crate::emulator::batch::state::{State, SubtaskRec, TaskRec, Tx};

/// What a multi-instance task runs: the primary's two commands, and each subtask's.
pub struct MultiRun {
    pub coordination: RunSpec,
    pub main: RunSpec,
    pub common_files: Vec<crate::azure::models::ResourceFile>,
    /// (subtask id, its run).
    pub subtasks: Vec<(i32, RunSpec)>,
}

/// The port the primary is reachable on for MPI-style coordination, as the service sets it.
const MASTER_PORT: u16 = 6000;

/// Places a multi-instance task if enough nodes of its pool are free (`false`: it waits,
/// active): it runs, or waits `preparing` on them while the job's preparation task runs on some.
#[allow(clippy::too_many_arguments)]
pub(super) fn place_multi(
    svc: &BatchService,
    st: &mut State,
    pool: &Pool,
    job: &Job,
    tk: &(String, String),
    free: &mut BTreeMap<(String, String), i32>,
    pool_key: &str,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> bool {
    let Some(t) = st.tasks.get(tk) else {
        return false;
    };
    let slots = t.slots();
    let Some(settings) = t.task.multi_instance_settings.clone() else {
        return false;
    };
    let n = settings.number_of_instances.unwrap_or(1).max(1) as usize;
    let Some(job_rec) = st.jobs.get(&tk.0) else {
        return false;
    };
    // The job's preparation task runs on a node before any instance runs there: nodes where it
    // has done its part first (the primary on one of them), then nodes where it must run.
    let (mut nodes, mut preparing) = (Vec::new(), Vec::new());
    for (k, _) in free.iter().filter(|(k, f)| k.0 == pool_key && **f >= slots) {
        match job_tasks::gate(job_rec, k) {
            Gate::Open => nodes.push(k.clone()),
            Gate::Preparing => preparing.push(k.clone()),
            Gate::Closed => {}
        }
    }
    if nodes.len() + preparing.len() < n {
        return false;
    }
    nodes.truncate(n);
    let prepare: Vec<_> = preparing.into_iter().take(n - nodes.len()).collect();
    nodes.extend_from_slice(&prepare);
    for nk in &nodes {
        if let Some(f) = free.get_mut(nk) {
            *f -= slots;
        }
    }
    if prepare.is_empty() {
        return start_multi(svc, st, pool, job, tk, &nodes, now, fx);
    }
    for nk in &prepare {
        job_tasks::start_preparation(svc, st, &tk.0, nk, now, fx);
    }
    // It waits, `preparing`, on every node it took: the primary on the first, a subtask on each
    // other (preparations_step starts it once the preparation has done its part on all).
    let Some(t) = st.tasks.get_mut(tk) else {
        return false;
    };
    t.node = Some(nodes[0].clone());
    t.subtasks = nodes[1..]
        .iter()
        .enumerate()
        .map(|(i, nk)| SubtaskRec {
            subtask: Subtask {
                id: i as i32 + 1,
                state: Some(SubtaskState::Preparing),
                state_transition_time: Some(now),
                ..Subtask::default()
            },
            node: nk.clone(),
            run: None,
            pgid: None,
        })
        .collect();
    set_task_state(t, TaskState::Preparing, now);
    fx.tx.task(tk, t);
    true
}

/// Starts every instance of a multi-instance task on `nodes` (the primary on the first).
#[allow(clippy::too_many_arguments)]
pub(super) fn start_multi(
    svc: &BatchService,
    st: &mut State,
    pool: &Pool,
    job: &Job,
    tk: &(String, String),
    nodes: &[(String, String)],
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> bool {
    let n = nodes.len();
    let Some(settings) = st
        .tasks
        .get(tk)
        .and_then(|t| t.task.multi_instance_settings.clone())
    else {
        return false;
    };
    let slots = st.tasks.get(tk).map_or(1, |t| t.slots());
    let ips: Vec<String> = nodes
        .iter()
        .map(|nk| {
            st.nodes
                .get(nk)
                .and_then(|n| n.node.ip_address.clone())
                .unwrap_or_else(|| "127.0.0.1".into())
        })
        .collect();
    let mut specs: Vec<RunSpec> = Vec::with_capacity(n);
    let mut subtasks = Vec::with_capacity(n - 1);
    for (i, nk) in nodes.iter().enumerate() {
        let run_id = svc.next_run_id();
        let (Some(node), Some(t)) = (st.nodes.get_mut(nk), st.tasks.get_mut(tk)) else {
            return false;
        };
        // Every instance's stdout.txt and stderr.txt exist once it shows as running.
        fresh_output(svc, nk, &job.id, &t.task.id);
        if i == 0 {
            begin_run(pool, job, node, t, run_id, now);
            t.node = Some(nk.clone());
        } else {
            // A subtask that waited for the job's preparation task was `preparing`.
            let waited = t
                .subtasks
                .iter()
                .find(|s| {
                    s.subtask.id == i as i32 && s.subtask.state == Some(SubtaskState::Preparing)
                })
                .and_then(|s| s.subtask.state_transition_time);
            subtasks.push(SubtaskRec {
                subtask: Subtask {
                    id: i as i32,
                    node_info: Some(node_info(pool, job, node, t)),
                    start_time: Some(now),
                    state: Some(SubtaskState::Running),
                    state_transition_time: Some(now),
                    previous_state: waited.map(|_| SubtaskState::Preparing),
                    previous_state_transition_time: waited,
                    ..Subtask::default()
                },
                node: nk.clone(),
                run: Some(run_id),
                pgid: None,
            });
        }
        occupy(nk, node, slots, now, fx);
        let mut spec = task_run_spec(svc, pool, job, nk, node, t, run_id);
        spec.env.extend([
            ("AZ_BATCH_HOST_LIST".into(), ips.join(",")),
            ("AZ_BATCH_NODE_LIST".into(), ips.join(";")),
            (
                "AZ_BATCH_MASTER_NODE".into(),
                format!("{}:{MASTER_PORT}", ips[0]),
            ),
            (
                "AZ_BATCH_IS_CURRENT_NODE_MASTER".into(),
                (i == 0).to_string(),
            ),
            (
                "AZ_BATCH_TASK_SHARED_DIR".into(),
                spec.task_dir.to_string_lossy().into_owned(),
            ),
        ]);
        specs.push(spec);
    }
    let Some(t) = st.tasks.get_mut(tk) else {
        return false;
    };
    t.subtasks = subtasks;
    fx.tx.task(tk, t);
    let coordination = |s: &RunSpec, run_id: u64| RunSpec {
        run_id,
        command_line: settings.coordination_command_line.clone(),
        resource_files: Vec::new(),
        output_files: Vec::new(),
        keep_group: true,
        ..s.clone()
    };
    let mut specs = specs.into_iter();
    let Some(main) = specs.next() else {
        return false;
    };
    let subtask_runs = t
        .subtasks
        .iter()
        .zip(specs)
        .map(|(s, spec)| (s.subtask.id, coordination(&spec, spec.run_id)))
        .collect();
    fx.launches.push(Launch::Multi(
        tk.clone(),
        Box::new(MultiRun {
            coordination: coordination(&main, main.run_id),
            main: RunSpec {
                append_output: true,
                ..main
            },
            common_files: settings.common_resource_files,
            subtasks: subtask_runs,
        }),
    ));
    true
}

/// Runs every instance of a multi-instance task, and records how each ended.
pub(super) async fn run(svc: Arc<BatchService>, tk: (String, String), m: MultiRun) {
    for (id, spec) in m.subtasks {
        let svc = svc.clone();
        let tk = tk.clone();
        let files = m.common_files.clone();
        tokio::spawn(async move {
            let run_id = spec.run_id;
            let outcome = instance(&svc, &tk, spec, &files, Some(id)).await;
            svc.procs.end(run_id);
            finish_subtask(&svc, &tk, id, run_id, outcome);
            svc.wake.notify_one();
        });
    }
    let run_id = m.main.run_id;
    let mut outcome = instance(&svc, &tk, m.coordination, &m.common_files, None).await;
    if outcome.succeeded() {
        outcome = match subtasks_done(&svc, &tk, run_id).await {
            Some(failed) => failed,
            None => {
                let s2 = svc.clone();
                let k2 = tk.clone();
                agent::run(m.main, &svc.http, &svc.procs, move |pgid| {
                    record_task_pgid(&s2, &k2, run_id, pgid)
                })
                .await
            }
        };
    }
    svc.procs.end(run_id);
    finish_task(&svc, &tk, run_id, outcome);
    svc.wake.notify_one();
}

/// One instance's coordination command, after the common resource files; the process group
/// it leaves is recorded so that the task's end ends it.
async fn instance(
    svc: &Arc<BatchService>,
    tk: &(String, String),
    spec: RunSpec,
    files: &[crate::azure::models::ResourceFile],
    subtask: Option<i32>,
) -> RunOutcome {
    if let Err(f) = tokio::fs::create_dir_all(spec.task_dir.join("wd"))
        .await
        .map_err(|e| agent::failure("DiskFull", &e.to_string()))
        .and(Ok(()))
    {
        return RunOutcome {
            exit_code: None,
            failure: Some(f),
            killed: false,
        };
    }
    if let Err(f) = fetch_resource_files(&svc.http, &spec, files, &spec.task_dir).await {
        return RunOutcome {
            exit_code: None,
            failure: Some(f),
            killed: false,
        };
    }
    let s2 = svc.clone();
    let k2 = tk.clone();
    let run_id = spec.run_id;
    agent::run(spec, &svc.http, &svc.procs, move |pgid| {
        record_group(&s2, &k2, run_id, subtask, pgid)
    })
    .await
}

fn record_group(
    svc: &BatchService,
    tk: &(String, String),
    run_id: u64,
    subtask: Option<i32>,
    pgid: i32,
) {
    let mut tx = Tx::default();
    {
        let mut st = svc.lock();
        let Some(t) = st.tasks.get_mut(tk) else {
            return;
        };
        match subtask {
            Some(id) => match t
                .subtasks
                .iter_mut()
                .find(|s| s.subtask.id == id && s.run == Some(run_id))
            {
                Some(s) => s.pgid = Some(pgid),
                None => return,
            },
            None if t.run == Some(run_id) => t.kept_groups.push(pgid),
            None => return,
        }
        tx.task(tk, t);
        // Queued under the lock, so that the disk takes changes in the order memory did.
        svc.store.enqueue(tx);
    }
}

/// Waits until every subtask of the primary's run has ended: `None` when all succeeded, the
/// outcome that fails the task when one did not, and a killed outcome when the primary's run
/// was ended meanwhile.
async fn subtasks_done(
    svc: &Arc<BatchService>,
    tk: &(String, String),
    run_id: u64,
) -> Option<RunOutcome> {
    loop {
        {
            let st = svc.lock();
            let Some(t) = st.tasks.get(tk).filter(|t| t.run == Some(run_id)) else {
                return Some(RunOutcome {
                    exit_code: None,
                    failure: None,
                    killed: true,
                });
            };
            let failed = t
                .subtasks
                .iter()
                .find(|s| s.subtask.result.as_ref() == Some(&TaskExecutionResult::Failure));
            if let Some(f) = failed {
                let why = f
                    .subtask
                    .failure_info
                    .as_ref()
                    .and_then(|i| i.message.clone())
                    .unwrap_or_default();
                return Some(RunOutcome {
                    exit_code: f.subtask.exit_code,
                    failure: Some(agent::failure(
                        "FailureExitCode",
                        &format!("subtask {} failed: {why}", f.subtask.id),
                    )),
                    killed: false,
                });
            }
            if t.subtasks
                .iter()
                .all(|s| s.subtask.state == Some(SubtaskState::Completed))
            {
                return None;
            }
        }
        tokio::select! {
            () = svc.procs.until_killed(run_id) => {}
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// Records how a subtask's coordination command ended; its node's slot is free again.
fn finish_subtask(
    svc: &BatchService,
    tk: &(String, String),
    id: i32,
    run_id: u64,
    outcome: RunOutcome,
) {
    let mut tx = Tx::default();
    {
        let (mut guard, now) = svc.lock_at();
        let st = &mut *guard;
        let Some(t) = st.tasks.get_mut(tk) else {
            return;
        };
        let slots = t.slots();
        let Some(s) = t
            .subtasks
            .iter_mut()
            .find(|s| s.subtask.id == id && s.run == Some(run_id))
        else {
            return;
        };
        s.run = None;
        let sub = &mut s.subtask;
        complete(sub, now);
        sub.exit_code = outcome.exit_code;
        sub.result = Some(if outcome.succeeded() {
            TaskExecutionResult::Success
        } else {
            TaskExecutionResult::Failure
        });
        sub.failure_info = outcome.failure;
        let nk = s.node.clone();
        tx.task(tk, t);
        if let Some(n) = st.nodes.get_mut(&nk) {
            n.node.running_tasks_count = (n.node.running_tasks_count - 1).max(0);
            n.node.running_task_slots_count = (n.node.running_task_slots_count - slots).max(0);
            if n.node.running_tasks_count == 0 && n.node.state == NodeState::Running {
                set_node_state(&mut n.node, NodeState::Idle, now);
            }
            tx.node(&nk, n);
        }
        svc.store.enqueue(tx);
    }
}

/// A subtask ends: `completed`, keeping the state it leaves.
fn complete(sub: &mut Subtask, now: DateTime<Utc>) {
    sub.previous_state = sub.state.take();
    sub.previous_state_transition_time = sub.state_transition_time;
    sub.state = Some(SubtaskState::Completed);
    sub.state_transition_time = Some(now);
    sub.end_time = Some(now);
}

/// The subtasks of a task that ended (terminated, or ended with its primary) that had not:
/// `completed` too, as the service shows them (`SubtaskState.completed`: "A subtask is also
/// marked as completed ... when the subtask has been terminated"; Terminate Task: "For
/// multi-instance Tasks, the terminate Task operation applies synchronously to the primary
/// task; subtasks are then terminated asynchronously in the background"), whether they ran
/// or waited `preparing` for the job's preparation task. Their runs are ended by the caller.
pub(super) fn end_subtasks(t: &mut TaskRec, now: DateTime<Utc>) {
    for s in &mut t.subtasks {
        if s.subtask.state != Some(SubtaskState::Completed) {
            complete(&mut s.subtask, now);
        }
    }
}
