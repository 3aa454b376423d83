//! The Batch service's string enums (resource states and the like) as types, shared by the
//! client, the emulator and the views: one variant per value of the REST specification's
//! `x-ms-enum`, plus `Unknown(String)` for a value the service adds later.

use serde::{Deserialize, Serialize};

/// Defines a Batch string enum: one variant per documented value, written and read as exactly
/// the service's string, plus `Unknown(String)` that keeps any other value as it came, so that
/// a value the service adds later parses and round-trips unchanged.
macro_rules! service_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know, kept as the service wrote it.
            Unknown(String),
        }

        impl $name {
            /// Every documented value, in the order of the REST specification.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The service's string for this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(s) => s,
                }
            }

            /// Reads a value. The service writes lowercase; clients may send other cases
            /// (azure-batch 14 sends `taskSuccess`), which the service accepts, and so does this.
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )+
                    other => Self::KNOWN
                        .iter()
                        .find(|v| v.as_str().eq_ignore_ascii_case(other))
                        .cloned()
                        .unwrap_or_else(|| $name::Unknown(other.to_string())),
                }
            }
        }

        /// An empty `Unknown`, as the empty string was before: what a `$select` left out.
        impl Default for $name {
            fn default() -> Self {
                $name::Unknown(String::new())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::parse(s))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

service_enum! {
    /// `BatchPoolState`: the pool's lifecycle.
    PoolState {
        Active = "active",
        Deleting = "deleting",
    }
}

service_enum! {
    /// `AllocationState`: whether the pool is resizing.
    AllocationState {
        Steady = "steady",
        Resizing = "resizing",
        Stopping = "stopping",
    }
}

service_enum! {
    /// `BatchNodeState`: a compute node's state.
    NodeState {
        Idle = "idle",
        Rebooting = "rebooting",
        Reimaging = "reimaging",
        Running = "running",
        Unusable = "unusable",
        Creating = "creating",
        Starting = "starting",
        WaitingForStartTask = "waitingforstarttask",
        StartTaskFailed = "starttaskfailed",
        /// `unknown` on the wire: the service lost contact with the node and does not know
        /// its state (not to be confused with [`NodeState::Unknown`], a value not listed here).
        LostContact = "unknown",
        LeavingPool = "leavingpool",
        Offline = "offline",
        Preempted = "preempted",
        UpgradingOs = "upgradingos",
        Deallocated = "deallocated",
        Deallocating = "deallocating",
    }
}

service_enum! {
    /// `SchedulingState`: whether a node takes new tasks.
    SchedulingState {
        Enabled = "enabled",
        Disabled = "disabled",
    }
}

service_enum! {
    /// `BatchStartTaskState`.
    StartTaskState {
        Running = "running",
        Completed = "completed",
    }
}

service_enum! {
    /// `BatchJobState`.
    JobState {
        Active = "active",
        Disabling = "disabling",
        Disabled = "disabled",
        Enabling = "enabling",
        Terminating = "terminating",
        Completed = "completed",
        Deleting = "deleting",
    }
}

service_enum! {
    /// `BatchTaskState`.
    TaskState {
        Active = "active",
        Preparing = "preparing",
        Running = "running",
        Completed = "completed",
    }
}

service_enum! {
    /// `BatchJobPreparationTaskState` (and `BatchJobReleaseTaskState`, with the same values):
    /// a job preparation or release task on one node.
    JobPreparationTaskState {
        Running = "running",
        Completed = "completed",
    }
}

service_enum! {
    /// `BatchTaskExecutionResult`: how a (start) task's last run ended.
    TaskExecutionResult {
        Success = "success",
        Failure = "failure",
    }
}

service_enum! {
    /// `BatchErrorSourceCategory`: whose fault a task failure was. The specification lists
    /// `usererror` and `servererror`, but the service writes `UserError` (recorded in
    /// tests/fixtures/recorded/task_get_completed.json), so these are written as it writes them.
    ErrorCategory {
        UserError = "UserError",
        ServerError = "ServerError",
    }
}

service_enum! {
    /// `BatchTaskAddStatus`: the outcome of one task of an add-collection. The specification
    /// lists `success`, `clienterror`, `servererror`, but the service writes `Success`,
    /// `ClientError`, `ServerError` (recorded), and azure-batch 15 tells the two apart (its
    /// enum reads the lowercase ones), so these are written as the service writes them.
    TaskAddStatus {
        Success = "Success",
        ClientError = "ClientError",
        ServerError = "ServerError",
    }
}

service_enum! {
    /// `OutputFileUploadCondition`: when an output file is uploaded.
    UploadCondition {
        TaskSuccess = "tasksuccess",
        TaskFailure = "taskfailure",
        TaskCompletion = "taskcompletion",
    }
}

service_enum! {
    /// `BatchAllTasksCompleteMode`: what happens to a job when all its tasks are complete.
    OnAllTasksComplete {
        NoAction = "noaction",
        TerminateJob = "terminatejob",
    }
}

service_enum! {
    /// `BatchTaskFailureMode`: what happens to a job when one of its tasks fails.
    OnTaskFailure {
        NoAction = "noaction",
        PerformExitOptionsJobAction = "performexitoptionsjobaction",
    }
}

service_enum! {
    /// `BatchJobScheduleState`.
    JobScheduleState {
        Active = "active",
        Completed = "completed",
        Disabled = "disabled",
        Terminating = "terminating",
        Deleting = "deleting",
    }
}

service_enum! {
    /// `BatchPoolLifetimeOption`: how long an auto pool lives, and which jobs share it.
    PoolLifetimeOption {
        JobSchedule = "jobschedule",
        Job = "job",
    }
}

service_enum! {
    /// `BatchSubtaskState`: a subtask of a multi-instance task.
    SubtaskState {
        Preparing = "preparing",
        Running = "running",
        Completed = "completed",
    }
}

service_enum! {
    /// `BatchNodeDeallocationOption`: what happens to the tasks of nodes a pool sheds.
    NodeDeallocationOption {
        Requeue = "requeue",
        Terminate = "terminate",
        TaskCompletion = "taskcompletion",
        RetainedData = "retaineddata",
    }
}

service_enum! {
    /// `BatchNodeDisableSchedulingOption`: what happens to a node's running tasks when its
    /// scheduling is disabled.
    DisableSchedulingOption {
        Requeue = "requeue",
        Terminate = "terminate",
        TaskCompletion = "taskcompletion",
    }
}

service_enum! {
    /// `BatchNodeRebootOption`: what happens to a node's running tasks when it reboots.
    NodeRebootOption {
        Requeue = "requeue",
        Terminate = "terminate",
        TaskCompletion = "taskcompletion",
        RetainedData = "retaineddata",
    }
}

/// `BatchNodeReimageOption`: what happens to a node's running tasks when it is reimaged (the
/// same four values, with the same meanings, as a reboot's).
pub type NodeReimageOption = NodeRebootOption;

/// `BatchNodeDeallocateOption`: what happens to a node's running tasks when it is deallocated
/// (the same four values, with the same meanings, as a reboot's).
pub type NodeDeallocateOption = NodeRebootOption;

service_enum! {
    /// `DisableBatchJobOption`: what happens to a job's running tasks when it is disabled.
    DisableJobOption {
        Requeue = "requeue",
        Terminate = "terminate",
        Wait = "wait",
    }
}

service_enum! {
    /// `DependencyAction`: what a task's end does to the tasks that depend on it.
    DependencyAction {
        Satisfy = "satisfy",
        Block = "block",
    }
}

service_enum! {
    /// `BatchJobAction` (of exit options): what a task's end does to its job.
    JobAction {
        None = "none",
        Disable = "disable",
        Terminate = "terminate",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Checks one enum: every documented value reads from and writes to exactly its string,
    /// through serde, `FromStr` and `Display`; other cases of it read as the same value; and a
    /// value it does not know survives a round trip unchanged.
    fn check_enum<T>(wire: &[&str], unknown: fn(&T) -> Option<&str>)
    where
        T: Serialize
            + serde::de::DeserializeOwned
            + std::str::FromStr<Err = std::convert::Infallible>
            + std::fmt::Display
            + std::fmt::Debug
            + PartialEq,
    {
        for &w in wire {
            let v: T = serde_json::from_value(Value::String(w.into())).unwrap();
            assert_eq!(unknown(&v), None, "{w} read as an unknown value");
            assert_eq!(serde_json::to_value(&v).unwrap(), Value::String(w.into()));
            assert_eq!(v.to_string(), w);
            assert_eq!(w.parse::<T>().unwrap(), v);
            let upper: T = serde_json::from_value(Value::String(w.to_uppercase())).unwrap();
            assert_eq!(upper, v, "{w} in capitals");
        }
        for odd in ["somethingnew", "", "Idle Soon"] {
            let v: T = serde_json::from_value(Value::String(odd.into())).unwrap();
            assert_eq!(unknown(&v), Some(odd));
            assert_eq!(serde_json::to_value(&v).unwrap(), Value::String(odd.into()));
        }
    }

    #[test]
    fn every_state_round_trips_and_unknown_values_are_kept() {
        macro_rules! check {
            ($t:ident, [$($w:literal),+ $(,)?]) => {{
                // The list here is the REST specification's (x-ms-enum of 2025-06-01; for
                // TaskAddStatus and ErrorCategory the service's recorded spelling), written out again so that a
                // changed or missing mapping fails.
                let wire = [$($w),+];
                assert_eq!(
                    $t::KNOWN.iter().map($t::as_str).collect::<Vec<_>>(),
                    wire,
                    stringify!($t)
                );
                check_enum::<$t>(&wire, |v| match v {
                    $t::Unknown(s) => Some(s.as_str()),
                    _ => None,
                });
            }};
        }
        check!(PoolState, ["active", "deleting"]);
        check!(AllocationState, ["steady", "resizing", "stopping"]);
        check!(
            NodeState,
            [
                "idle",
                "rebooting",
                "reimaging",
                "running",
                "unusable",
                "creating",
                "starting",
                "waitingforstarttask",
                "starttaskfailed",
                "unknown",
                "leavingpool",
                "offline",
                "preempted",
                "upgradingos",
                "deallocated",
                "deallocating",
            ]
        );
        check!(SchedulingState, ["enabled", "disabled"]);
        check!(StartTaskState, ["running", "completed"]);
        check!(
            JobState,
            [
                "active",
                "disabling",
                "disabled",
                "enabling",
                "terminating",
                "completed",
                "deleting",
            ]
        );
        check!(TaskState, ["active", "preparing", "running", "completed"]);
        check!(JobPreparationTaskState, ["running", "completed"]);
        check!(TaskExecutionResult, ["success", "failure"]);
        check!(ErrorCategory, ["UserError", "ServerError"]);
        check!(TaskAddStatus, ["Success", "ClientError", "ServerError"]);
        check!(
            UploadCondition,
            ["tasksuccess", "taskfailure", "taskcompletion"]
        );
        check!(OnAllTasksComplete, ["noaction", "terminatejob"]);
        check!(OnTaskFailure, ["noaction", "performexitoptionsjobaction"]);
        check!(
            JobScheduleState,
            ["active", "completed", "disabled", "terminating", "deleting"]
        );
        check!(PoolLifetimeOption, ["jobschedule", "job"]);
        check!(
            NodeDeallocationOption,
            ["requeue", "terminate", "taskcompletion", "retaineddata"]
        );
        check!(SubtaskState, ["preparing", "running", "completed"]);
        check!(
            DisableSchedulingOption,
            ["requeue", "terminate", "taskcompletion"]
        );
        check!(
            NodeRebootOption,
            ["requeue", "terminate", "taskcompletion", "retaineddata"]
        );
        check!(DisableJobOption, ["requeue", "terminate", "wait"]);
        check!(DependencyAction, ["satisfy", "block"]);
        check!(JobAction, ["none", "disable", "terminate"]);
        // The service's own `unknown` node state is a known value, not an unknown one.
        assert_eq!(NodeState::parse("unknown"), NodeState::LostContact);
    }
}
