//! The metric histories a formula reads (`$PendingTasks.GetSample(...)` and the others): one
//! series per service-defined read-only variable, sampled from the emulator's own pool every
//! 30 seconds (divided by the emulator's speed-up), kept for a day of samples.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

/// The read-only service-defined variables, each a sample series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    CpuPercent,
    WallClockSeconds,
    MemoryBytes,
    DiskBytes,
    DiskReadBytes,
    DiskWriteBytes,
    DiskReadOps,
    DiskWriteOps,
    NetworkInBytes,
    NetworkOutBytes,
    SampleNodeCount,
    ActiveTasks,
    RunningTasks,
    PendingTasks,
    SucceededTasks,
    FailedTasks,
    TaskSlotsPerNode,
    CurrentDedicatedNodes,
    CurrentLowPriorityNodes,
    PreemptedNodeCount,
}

impl Metric {
    pub const ALL: [Metric; 20] = [
        Metric::CpuPercent,
        Metric::WallClockSeconds,
        Metric::MemoryBytes,
        Metric::DiskBytes,
        Metric::DiskReadBytes,
        Metric::DiskWriteBytes,
        Metric::DiskReadOps,
        Metric::DiskWriteOps,
        Metric::NetworkInBytes,
        Metric::NetworkOutBytes,
        Metric::SampleNodeCount,
        Metric::ActiveTasks,
        Metric::RunningTasks,
        Metric::PendingTasks,
        Metric::SucceededTasks,
        Metric::FailedTasks,
        Metric::TaskSlotsPerNode,
        Metric::CurrentDedicatedNodes,
        Metric::CurrentLowPriorityNodes,
        Metric::PreemptedNodeCount,
    ];

    /// The variable's name as the documentation writes it.
    pub fn name(self) -> &'static str {
        match self {
            Metric::CpuPercent => "$CPUPercent",
            Metric::WallClockSeconds => "$WallClockSeconds",
            Metric::MemoryBytes => "$MemoryBytes",
            Metric::DiskBytes => "$DiskBytes",
            Metric::DiskReadBytes => "$DiskReadBytes",
            Metric::DiskWriteBytes => "$DiskWriteBytes",
            Metric::DiskReadOps => "$DiskReadOps",
            Metric::DiskWriteOps => "$DiskWriteOps",
            Metric::NetworkInBytes => "$NetworkInBytes",
            Metric::NetworkOutBytes => "$NetworkOutBytes",
            Metric::SampleNodeCount => "$SampleNodeCount",
            Metric::ActiveTasks => "$ActiveTasks",
            Metric::RunningTasks => "$RunningTasks",
            Metric::PendingTasks => "$PendingTasks",
            Metric::SucceededTasks => "$SucceededTasks",
            Metric::FailedTasks => "$FailedTasks",
            Metric::TaskSlotsPerNode => "$TaskSlotsPerNode",
            Metric::CurrentDedicatedNodes => "$CurrentDedicatedNodes",
            Metric::CurrentLowPriorityNodes => "$CurrentLowPriorityNodes",
            Metric::PreemptedNodeCount => "$PreemptedNodeCount",
        }
    }

    /// The metric a `$Name` denotes (case-insensitive, with the documented aliases).
    pub fn by_name(name: &str) -> Option<Metric> {
        let aliases = [
            ("$CurrentDedicated", Metric::CurrentDedicatedNodes),
            ("$CurrentLowPriority", Metric::CurrentLowPriorityNodes),
        ];
        Metric::ALL
            .iter()
            .map(|m| (m.name(), *m))
            .chain(aliases)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, m)| m)
    }

    /// Variables that also read as their current value where a number is wanted (the
    /// documentation's own formulas multiply `$CurrentDedicatedNodes`); the others are sample
    /// sets that only their methods read.
    pub fn is_current_value(self) -> bool {
        matches!(
            self,
            Metric::CurrentDedicatedNodes
                | Metric::CurrentLowPriorityNodes
                | Metric::TaskSlotsPerNode
        )
    }

    fn index(self) -> usize {
        Metric::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}

/// One sample of every metric, taken at the same moment.
pub type Sample = [f64; 20];

/// Samples kept per pool: a day's worth at the service's period.
pub const KEPT: usize = 2880;

/// A pool's metric history, oldest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    samples: VecDeque<(DateTime<Utc>, Sample)>,
}

impl History {
    pub fn push(&mut self, at: DateTime<Utc>, s: Sample) {
        self.samples.push_back((at, s));
        while self.samples.len() > KEPT {
            self.samples.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn first_at(&self) -> Option<DateTime<Utc>> {
        self.samples.front().map(|(t, _)| *t)
    }

    /// The last `n` values of `m`, oldest first.
    pub fn last(&self, m: Metric, n: usize) -> Vec<f64> {
        let skip = self.samples.len().saturating_sub(n);
        self.samples
            .iter()
            .skip(skip)
            .map(|(_, s)| s[m.index()])
            .collect()
    }

    /// The values of `m` taken within `[from, to]`, oldest first.
    pub fn between(&self, m: Metric, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, s)| s[m.index()])
            .collect()
    }

    /// The most recent value of `m`.
    pub fn current(&self, m: Metric) -> Option<f64> {
        self.samples.back().map(|(_, s)| s[m.index()])
    }
}

/// Sets one metric of a sample.
pub fn set(s: &mut Sample, m: Metric, v: f64) {
    s[m.index()] = v;
}
