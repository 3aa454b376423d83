//! The scheduler: one loop that moves pools, nodes, jobs and tasks through the service's
//! states, starts start tasks and tasks on free node slots, and records how runs ended.
//!
//! - `mod.rs`: the loop, and one pass (`tick`) that runs the passes under the state's lock and
//!   then applies their effects (commit, kills, directories, launches) outside it.
//! - `states`: state changes the routes share (task and node states, requeue, reboot, what a
//!   node that reboots or leaves does with its tasks: `drain_node`), and
//!   recovery after a restart.
//! - `passes`: allocation and boot (pools, nodes), jobs (deletion, termination, completion),
//!   retention of task files.
//! - `placement`: tasks onto free node slots, and the run of each.
//! - `job_tasks`: job preparation and release tasks on each node.
//! - `dependencies`: task dependencies and exit conditions (dependency and job actions).
//! - `launch`: process handling: start tasks and tasks run by the node agent, their process
//!   groups, injected faults, and how each run ended.

mod autoscale;
pub(crate) mod dependencies;
pub(crate) mod job_tasks;
mod launch;
mod multi;
mod passes;
mod placement;
mod schedules;
mod states;
#[cfg(test)]
mod tests;
mod usage;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use self::passes::{jobs_step, nodes_step, pools_step, retention_step};
use self::placement::schedule_step;
use crate::azure::models::{AllocationState, JobState, NodeState, PoolState, TaskState};
use crate::emulator::batch::BatchService;
use crate::emulator::batch::agent::RunSpec;
use crate::emulator::batch::state::{State, Tx};

pub use autoscale::{
    apply as apply_autoscale, evaluate as evaluate_autoscale, interval_of, run_model, scaled,
};
pub use passes::parse_duration;
pub use states::{
    disable_scheduling, node_action, node_ready, recover, requeue, set_job_state, set_node_state,
    set_task_state, start_node, terminate_run,
};
pub use usage::ProcUsage;

/// How long a pass waits after being woken, so that changes arriving together share it.
const PASS_GATHER: Duration = Duration::from_millis(2);

/// The scheduler loop: runs a pass whenever something changed, every 200 ms while anything
/// is in motion (allocation, boot, tasks, deletions), and every few seconds when all is idle
/// (for retention), so that an idle emulator costs no CPU.
pub async fn run(svc: Arc<BatchService>) {
    let mut stop = svc.stop.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        // A pass holds the state's lock for its in-memory work and then waits for the disk:
        // neither may stall the runtime's threads, which serve both services.
        let s = svc.clone();
        let passed = match tokio::task::spawn_blocking(move || tick(&s)).await {
            Ok(now) => now,
            Err(e) => {
                tracing::error!(error = %e, "scheduler pass panicked");
                Utc::now()
            }
        };
        let pause = {
            let st = svc.lock();
            let pause = if in_motion(&st) {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            };
            // Pools are sampled every sample period for their autoscale metrics.
            let pause = if st.pools.is_empty() {
                pause
            } else {
                pause.min(autoscale::sample_period(&svc))
            };
            next_due(&svc.config, &st, passed).map_or(pause, |t| {
                pause.min((t - Utc::now()).to_std().unwrap_or_default())
            })
        };
        tokio::select! {
            _ = svc.wake.notified() => {
                // Let a burst of changes (many tasks ending at once) gather into one pass:
                // a pass costs time in the number of tasks, not in the number of changes.
                tokio::time::sleep(PASS_GATHER).await;
            }
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}

/// When the state next needs a pass that nobody asks for, after the pass at `passed` (which
/// did what was due by then): a schedule's next job is created on time, a pool allocates its
/// nodes and a node ends each boot phase on time, and a node that waits for its tasks' files to
/// expire reboots on time.
fn next_due(
    config: &crate::emulator::EmulatorConfig,
    st: &State,
    passed: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    [
        schedules::next_due(st),
        passes::next_boot_due(config, st, passed),
        states::next_reboot_due(st, passed),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Whether a later pass may change something without anyone asking: a pool resizing or being
/// deleted, a node booting or working, a task waiting or running, a job being deleted or
/// terminated.
fn in_motion(st: &State) -> bool {
    st.pools.values().any(|p| {
        p.pool.allocation_state == Some(AllocationState::Resizing)
            || p.pool.state == Some(PoolState::Deleting)
    }) || st.nodes.values().any(|n| {
        !matches!(
            n.node.state,
            NodeState::Idle
                | NodeState::StartTaskFailed
                | NodeState::Unusable
                | NodeState::Offline
                | NodeState::Deallocated
        )
    }) || st.tasks.values().any(|t| {
        matches!(
            t.state(),
            TaskState::Active | TaskState::Preparing | TaskState::Running
        )
    }) || st.jobs.values().any(|j| {
        matches!(
            j.job.state,
            Some(
                JobState::Deleting
                    | JobState::Terminating
                    | JobState::Disabling
                    | JobState::Enabling
            )
        )
    })
}

enum Launch {
    Start((String, String), RunSpec),
    Task((String, String), RunSpec),
    Multi((String, String), Box<multi::MultiRun>),
    /// A job's preparation (`true`) or release task on a node.
    JobTask(String, (String, String), bool, RunSpec),
}

#[derive(Default)]
struct Effects {
    tx: Tx,
    kills: Vec<u64>,
    remove_dirs: Vec<PathBuf>,
    create_dirs: Vec<PathBuf>,
    launches: Vec<Launch>,
}

impl Effects {
    /// What changes did outside the state, once it is committed and its lock released:
    /// processes killed, then directories removed, then directories made.
    fn settle(&mut self, svc: &BatchService) {
        for r in self.kills.drain(..) {
            svc.procs.kill(r);
        }
        for d in self.remove_dirs.drain(..) {
            let _ = std::fs::remove_dir_all(d);
        }
        for d in self.create_dirs.drain(..) {
            let _ = std::fs::create_dir_all(d);
        }
    }
}

/// One pass; returns its time.
fn tick(svc: &Arc<BatchService>) -> DateTime<Utc> {
    let mut fx = Effects::default();
    let (sample, now) = {
        let (mut guard, now) = svc.lock_at();
        let st = &mut *guard;
        let sample = autoscale::autoscale_step(svc, st, now, &mut fx);
        schedules::schedules_step(svc, st, now, &mut fx);
        pools_step(svc, st, now, &mut fx);
        states::pending_reboots(svc, st, now, &mut fx);
        nodes_step(svc, st, now, &mut fx);
        jobs_step(svc, st, now, &mut fx);
        schedule_step(svc, st, now, &mut fx);
        retention_step(svc, st, now, &mut fx);
        // Queued under the lock, so that the disk takes changes in the order memory did.
        svc.store.enqueue(std::mem::take(&mut fx.tx));
        (sample, now)
    };
    // Processes and directories are read for the metrics without the state's lock.
    if let Some(plan) = sample {
        autoscale::take_samples(svc, plan);
    }
    // One durable commit per pass, which also makes durable what processes recorded lazily
    // since the last one.
    if let Err(e) = svc.store.sync_all() {
        tracing::error!(error = %e, "scheduler could not commit");
    }
    fx.settle(svc);
    for l in fx.launches {
        launch::launch(svc.clone(), l);
    }
    now
}
