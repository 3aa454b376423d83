//! Autoscale in the scheduler: every sample period (30 s, divided by the speed-up) a sample of
//! each pool's metrics, from its own tasks, nodes and processes; each autoscaling pool's
//! formula evaluated when its interval comes round; and the targets applied as a resize.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Effects;
use super::usage::{ProcUsage, TICKS_PER_SEC, by_group, dir_bytes};
use crate::azure::models::{
    AllocationState, AutoScaleRun, AutoScaleRunError, JobState, NameValue, NodeDeallocationOption,
    NodeState, TaskState,
};
use crate::emulator::batch::BatchService;
use crate::emulator::batch::autoscale::samples::{History, Metric, Sample, set};
use crate::emulator::batch::autoscale::{self, Formula, Inputs, Run};
use crate::emulator::batch::state::{PoolRec, State, key};

/// The service samples its metrics every 30 seconds.
const SERVICE_PERIOD: Duration = Duration::from_secs(30);

/// The sample period of this emulator.
pub fn sample_period(svc: &BatchService) -> Duration {
    SERVICE_PERIOD / svc.config.speedup.max(1)
}

/// A service duration (an evaluation interval, a recurrence) as this emulator runs it.
pub fn scaled(svc: &BatchService, d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d / svc.config.speedup.max(1)).unwrap_or(chrono::Duration::MAX)
}

/// Evaluates the formulas that are due; returns the sample to take once the state's lock is
/// released, when one is due.
pub(super) fn autoscale_step(
    svc: &BatchService,
    st: &mut State,
    now: DateTime<Utc>,
    fx: &mut Effects,
) -> Option<SamplePlan> {
    let due_sample = {
        let last = svc.last_sample.lock().unwrap_or_else(|e| e.into_inner());
        last.is_none_or(|t| {
            now - t >= chrono::Duration::from_std(sample_period(svc)).unwrap_or_default()
        })
    };
    let plan = due_sample.then(|| plan_samples(svc, st, now));
    let due: Vec<String> = st
        .pools
        .iter()
        .filter(|(_, p)| {
            p.pool.enable_auto_scale == Some(true) && p.next_autoscale.is_some_and(|t| t <= now)
        })
        .map(|(k, _)| k.clone())
        .collect();
    for pk in due {
        let Some(rec) = st.pools.get(&pk) else {
            continue;
        };
        let formula = rec.pool.auto_scale_formula.clone().unwrap_or_default();
        let run = match autoscale::compile(&formula) {
            Ok(f) => evaluate(svc, rec, &f, now),
            // Only formulas that compiled are stored; a failure here is an emulator fault.
            Err(e) => {
                tracing::error!(pool = %pk, error = ?e, "stored autoscale formula does not compile");
                continue;
            }
        };
        if let Some(rec) = st.pools.get_mut(&pk) {
            apply(rec, run, now);
            let interval = interval_of(rec);
            rec.next_autoscale = Some(now + scaled(svc, interval));
            fx.tx.pool(&pk, rec);
        }
    }
    plan
}

/// The pool's evaluation interval (15 minutes unless set).
pub fn interval_of(rec: &PoolRec) -> Duration {
    rec.pool
        .auto_scale_evaluation_interval
        .as_deref()
        .and_then(super::passes::parse_duration)
        .unwrap_or(Duration::from_secs(15 * 60))
}

/// Evaluates a formula on a pool as it is now.
pub fn evaluate(svc: &BatchService, rec: &PoolRec, f: &Formula, now: DateTime<Utc>) -> Run {
    let pk = key(&rec.pool.id);
    let mut histories = svc.metrics.lock().unwrap_or_else(|e| e.into_inner());
    // A pool has at least the sample taken when it was created.
    let history = histories.entry(pk).or_insert_with(|| {
        let mut h = History::default();
        h.push(now, first_sample(rec));
        h
    });
    let inputs = Inputs {
        now,
        history,
        target_dedicated: rec.pool.target_dedicated_nodes.unwrap_or(0) as f64,
        target_low_priority: rec.pool.target_low_priority_nodes.unwrap_or(0) as f64,
        speedup: svc.config.speedup.max(1),
        period: sample_period(svc),
    };
    autoscale::evaluate(f, &inputs)
}

/// The `autoScaleRun` of an evaluation.
pub fn run_model(run: &Run) -> AutoScaleRun {
    AutoScaleRun {
        timestamp: run.timestamp,
        results: Some(run.results.clone()),
        error: run.error.as_ref().map(|e| AutoScaleRunError {
            code: Some(e.code.clone()),
            message: Some(e.message.clone()),
            values: vec![NameValue {
                name: "Message".into(),
                value: e.detail.clone(),
            }],
        }),
    }
}

/// Records an evaluation on its pool and, when it succeeded, resizes the pool to its targets.
pub fn apply(rec: &mut PoolRec, run: Run, now: DateTime<Utc>) {
    rec.pool.auto_scale_run = Some(run_model(&run));
    let Some(t) = run.targets else {
        return;
    };
    let pool = &mut rec.pool;
    if pool.target_dedicated_nodes == Some(t.dedicated)
        && pool.target_low_priority_nodes == Some(t.low_priority)
    {
        return;
    }
    pool.target_dedicated_nodes = Some(t.dedicated);
    pool.target_low_priority_nodes = Some(t.low_priority);
    pool.allocation_state = Some(AllocationState::Resizing);
    pool.allocation_state_transition_time = Some(now);
    rec.deallocation = Some(NodeDeallocationOption::parse(&t.deallocation));
    rec.resize_since = now;
}

/// The sample of a pool that has no nodes and no tasks yet.
pub fn first_sample(rec: &PoolRec) -> Sample {
    let mut s: Sample = [0.0; 20];
    set(
        &mut s,
        Metric::TaskSlotsPerNode,
        rec.pool.task_slots_per_node.unwrap_or(1) as f64,
    );
    s
}

#[derive(Default)]
struct Acc {
    active: f64,
    running: f64,
    succeeded: f64,
    failed: f64,
}

/// A sample in the making: what it needs of the state, gathered under the state's lock; the
/// processes and directories are read after it is released (`take_samples`).
pub(super) struct SamplePlan {
    at: DateTime<Utc>,
    /// Seconds since the last sample.
    dt: f64,
    pools: Vec<PoolPlan>,
}

struct PoolPlan {
    key: String,
    /// The sample with the state's counts in it.
    sample: Sample,
    /// Each node's directory and the process groups running on it.
    nodes: Vec<(std::path::PathBuf, Vec<i32>)>,
}

/// What a sample of every pool needs of the state.
fn plan_samples(svc: &BatchService, st: &State, now: DateTime<Utc>) -> SamplePlan {
    let dt = {
        let mut last = svc.last_sample.lock().unwrap_or_else(|e| e.into_inner());
        let dt = last.map(|t| (now - t).num_milliseconds().max(1) as f64 / 1000.0);
        *last = Some(now);
        dt.unwrap_or_else(|| sample_period(svc).as_secs_f64())
    };
    // Tasks by pool: the job's pool (an auto pool's id is in its execution info).
    let mut job_pool: HashMap<&str, String> = HashMap::new();
    for (jk, j) in &st.jobs {
        if matches!(j.job.state, Some(JobState::Deleting)) {
            continue;
        }
        let pool = j
            .job
            .execution_info
            .as_ref()
            .and_then(|i| i.pool_id.clone())
            .or_else(|| j.job.pool_info.pool_id.clone());
        if let Some(p) = pool {
            job_pool.insert(jk.as_str(), key(&p));
        }
    }
    let mut per_pool: HashMap<String, Acc> = HashMap::new();
    // Process groups per node.
    let mut node_groups: HashMap<(String, String), Vec<i32>> = HashMap::new();
    for t in st.tasks.values() {
        let Some(pk) = job_pool.get(t.job_key.as_str()) else {
            continue;
        };
        let a = per_pool.entry(pk.clone()).or_default();
        let instances = t
            .task
            .multi_instance_settings
            .as_ref()
            .and_then(|m| m.number_of_instances)
            .unwrap_or(1)
            .max(1) as f64;
        match t.state() {
            TaskState::Active => a.active += instances,
            TaskState::Running | TaskState::Preparing => a.running += 1.0,
            TaskState::Completed if t.succeeded() => a.succeeded += 1.0,
            TaskState::Completed => a.failed += 1.0,
            TaskState::Unknown(_) => {}
        }
        if let Some(n) = &t.node {
            let groups = node_groups.entry(n.clone()).or_default();
            groups.extend(t.pgid);
            groups.extend(&t.kept_groups);
        }
        for s in &t.subtasks {
            if let Some(g) = s.pgid {
                node_groups.entry(s.node.clone()).or_default().push(g);
            }
        }
    }
    for (nk, n) in &st.nodes {
        if let Some(g) = n.start_pgid {
            node_groups.entry(nk.clone()).or_default().push(g);
        }
    }
    // The histories of pools that are gone go with them.
    svc.metrics
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|pk, _| st.pools.contains_key(pk));
    let speedup = svc.config.speedup.max(1) as f64;
    let pools = st
        .pools
        .iter()
        .map(|(pk, rec)| {
            let mut s = first_sample(rec);
            let a = per_pool.remove(pk).unwrap_or_default();
            let nodes: Vec<_> = st.nodes.iter().filter(|(k, _)| k.0 == *pk).collect();
            let count = |dedicated: bool| {
                nodes
                    .iter()
                    .filter(|(_, n)| n.node.is_dedicated == Some(dedicated))
                    .count() as f64
            };
            let preempted = nodes
                .iter()
                .filter(|(_, n)| n.node.state == NodeState::Preempted)
                .count() as f64;
            for (m, v) in [
                (Metric::WallClockSeconds, a.running * dt * speedup),
                (Metric::SampleNodeCount, nodes.len() as f64),
                (Metric::ActiveTasks, a.active),
                (Metric::RunningTasks, a.running),
                (Metric::PendingTasks, a.active + a.running),
                (Metric::SucceededTasks, a.succeeded),
                (Metric::FailedTasks, a.failed),
                (Metric::CurrentDedicatedNodes, count(true)),
                (Metric::CurrentLowPriorityNodes, count(false)),
                (Metric::PreemptedNodeCount, preempted),
            ] {
                set(&mut s, m, v);
            }
            PoolPlan {
                key: pk.clone(),
                sample: s,
                nodes: nodes
                    .iter()
                    .map(|(nk, _)| {
                        (
                            svc.node_dir(&nk.0, &nk.1),
                            node_groups.remove(*nk).unwrap_or_default(),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    SamplePlan { at: now, dt, pools }
}

/// Completes a sample with what the nodes' processes used since the last one and what their
/// directories hold, and records it; without the state's lock.
pub(super) fn take_samples(svc: &BatchService, plan: SamplePlan) {
    let groups = by_group();
    let mut seen: HashMap<i32, ProcUsage> = HashMap::new();
    let mut finished = Vec::with_capacity(plan.pools.len());
    {
        let last = svc.usage_last.lock().unwrap_or_else(|e| e.into_inner());
        for mut p in plan.pools {
            let (mut ticks, mut rss, mut rb, mut wb, mut ro, mut wo) = (0u64, 0u64, 0, 0, 0, 0);
            let mut disk = 0u64;
            for (dir, node_groups) in &p.nodes {
                for g in node_groups {
                    for (pid, u) in groups.get(g).into_iter().flatten() {
                        let before = last.get(pid).copied().unwrap_or_default();
                        ticks += u.cpu_ticks.saturating_sub(before.cpu_ticks);
                        rb += u.read_bytes.saturating_sub(before.read_bytes);
                        wb += u.write_bytes.saturating_sub(before.write_bytes);
                        ro += u.read_ops.saturating_sub(before.read_ops);
                        wo += u.write_ops.saturating_sub(before.write_ops);
                        rss += u.rss_bytes;
                        seen.insert(*pid, *u);
                    }
                }
                disk += dir_bytes(dir);
            }
            let n = (p.nodes.len() as f64).max(1.0);
            for (m, v) in [
                (
                    Metric::CpuPercent,
                    ticks as f64 / TICKS_PER_SEC / plan.dt * 100.0 / n,
                ),
                (Metric::MemoryBytes, rss as f64 / n / 1_048_576.0),
                (Metric::DiskBytes, disk as f64 / n / 1_073_741_824.0),
                (Metric::DiskReadBytes, rb as f64),
                (Metric::DiskWriteBytes, wb as f64),
                (Metric::DiskReadOps, ro as f64),
                (Metric::DiskWriteOps, wo as f64),
            ] {
                set(&mut p.sample, m, v);
            }
            finished.push((p.key, p.sample));
        }
    }
    *svc.usage_last.lock().unwrap_or_else(|e| e.into_inner()) = seen;
    let mut histories = svc.metrics.lock().unwrap_or_else(|e| e.into_inner());
    for (k, s) in finished {
        histories.entry(k).or_default().push(plan.at, s);
    }
}
