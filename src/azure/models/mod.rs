//! Serde models of the Batch data-plane REST shapes (api-version 2025-06-01, also read by
//! 2024-02-01.19.0 clients). One type per shape, shared by batchdeck's client and the emulator.
//!
//! Fields the code reasons about are typed; everything else a client sent or the service
//! returned is kept in `extra`, so that a round trip loses nothing.

mod autoscale;
mod node_counts;
mod node_extras;
mod requests;
mod schedules;
mod states;
mod subtasks;

pub use autoscale::{AutoScaleRun, AutoScaleRunError};
use chrono::{DateTime, Utc};
pub use node_counts::{NodeCounts, PoolNodeCounts};
pub use node_extras::{NodeAgentInfo, NodeUser, RemoteLoginSettings};
pub use requests::{
    JobDisable, JobTerminate, NodeDeallocate, NodeDisableScheduling, NodeReboot, NodeReimage,
    NodeRemoval, PoolResize,
};
pub use schedules::{
    AutoPoolSpecification, JobSchedule, JobScheduleExecutionInfo, JobSpecification, RecentJob,
    Schedule,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
pub use states::{
    AllocationState, DependencyAction, DisableJobOption, DisableSchedulingOption, ErrorCategory,
    JobAction, JobPreparationTaskState, JobScheduleState, JobState, NodeDeallocateOption,
    NodeDeallocationOption, NodeRebootOption, NodeReimageOption, NodeState, OnAllTasksComplete,
    OnTaskFailure, PoolLifetimeOption, PoolState, SchedulingState, StartTaskState, SubtaskState,
    TaskAddStatus, TaskExecutionResult, TaskState, UploadCondition,
};
pub use subtasks::{MultiInstanceSettings, Subtask};

/// Batch timestamps: RFC 3339 in UTC with seven fractional digits, as the service writes them.
pub mod timestamp {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(t: &DateTime<Utc>) -> String {
        // In a leap second (`:60`) chrono counts the nanoseconds from 1_000_000_000 on.
        format!(
            "{}.{:07}Z",
            t.format("%Y-%m-%dT%H:%M:%S"),
            t.timestamp_subsec_nanos() % 1_000_000_000 / 100
        )
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }

    /// The same for optional fields.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::format(t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
        }
    }
}

/// Batch int64 fields: written as JSON strings, as the service does; read from a string or
/// a number.
pub mod int64_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Int64 {
            Number(u64),
            Text(String),
        }
        match Int64::deserialize(d)? {
            Int64::Number(n) => Ok(n),
            Int64::Text(t) => t.trim().parse().map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NameValue {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_storage_container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_container_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blob_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFile {
    pub file_pattern: String,
    pub destination: OutputFileDestination,
    pub upload_options: OutputFileUploadOptions,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFileDestination {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<OutputFileBlobContainerDestination>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFileBlobContainerDestination {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub container_url: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFileUploadOptions {
    pub upload_condition: UploadCondition,
}

/// A start task as sent and as returned (`StartTask`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTask {
    pub command_line: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_files: Vec<ResourceFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_settings: Vec<NameValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_task_retry_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_for_success: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `BatchPool` (pool get/list) and, with fewer fields set, the pool add body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pool {
    /// Empty when a `$select` left it out: the service then omits it (recorded).
    #[serde(default)]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "eTag", skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<PoolState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_state: Option<AllocationState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub allocation_state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_dedicated_nodes: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_low_priority_nodes: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_dedicated_nodes: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_low_priority_nodes: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_auto_scale: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scale_formula: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scale_evaluation_interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_scale_run: Option<AutoScaleRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_slots_per_node: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_task: Option<StartTask>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine_configuration: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `StartTaskInformation` of a node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTaskInfo {
    pub state: StartTaskState,
    #[serde(with = "timestamp")]
    pub start_time: DateTime<Utc>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_info: Option<FailureInfo>,
    #[serde(default)]
    pub retry_count: i32,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_retry_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskExecutionResult>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `TaskFailureInformation`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailureInfo {
    pub category: ErrorCategory,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<NameValue>,
}

/// `BatchNode` (compute node get/list).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeNode {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub state: NodeState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduling_state: Option<SchedulingState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_transition_time: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_boot_time: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub allocation_time: Option<DateTime<Utc>>,
    #[serde(rename = "ipAddress", skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<String>,
    #[serde(default)]
    pub total_tasks_run: i32,
    #[serde(default)]
    pub running_tasks_count: i32,
    #[serde(default)]
    pub running_task_slots_count: i32,
    #[serde(default)]
    pub total_tasks_succeeded: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_task: Option<StartTask>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_task_info: Option<StartTaskInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_dedicated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_agent_info: Option<NodeAgentInfo>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_pool_specification: Option<AutoPoolSpecification>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_wall_clock_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_task_retry_count: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExecutionInfo {
    #[serde(with = "timestamp")]
    pub start_time: DateTime<Utc>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminate_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `BatchJob` (job get/list) and the job add body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "eTag", skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<JobState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<JobState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallel_tasks: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<JobConstraints>,
    #[serde(default)]
    pub pool_info: PoolInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_info: Option<JobExecutionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_all_tasks_complete: Option<OnAllTasksComplete>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_task_failure: Option<OnTaskFailure>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_wall_clock_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_task_retry_count: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskExecutionInfo {
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_info: Option<FailureInfo>,
    #[serde(default)]
    pub retry_count: i32,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_retry_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub requeue_count: i32,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_requeue_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskExecutionResult>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskNodeInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_root_directory_url: Option<String>,
}

/// `BatchTask` (task get/list) and the task add body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(rename = "eTag", skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<TaskState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_state_transition_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub command_line: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_files: Vec<ResourceFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_files: Vec<OutputFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment_settings: Vec<NameValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<TaskConstraints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_slots: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_instance_settings: Option<MultiInstanceSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_info: Option<TaskExecutionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_info: Option<TaskNodeInfo>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `BatchTaskDependencies` (a task's `dependsOn`): the tasks it waits for, by id and by ranges
/// of integer ids (both ends included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDependencies {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_id_ranges: Vec<TaskIdRange>,
}

/// `BatchTaskIdRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskIdRange {
    pub start: i64,
    pub end: i64,
}

/// `ExitOptions`: what a task's end does to its job and to the tasks that depend on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_action: Option<JobAction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependency_action: Option<DependencyAction>,
}

/// `ExitCodeMapping`: the exit options of one exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitCodeMapping {
    pub code: i64,
    pub exit_options: ExitOptions,
}

/// `ExitCodeRangeMapping`: the exit options of a range of exit codes (both ends included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitCodeRangeMapping {
    pub start: i64,
    pub end: i64,
    pub exit_options: ExitOptions,
}

/// `ExitConditions` of a task (the workload sets `default`, any failure, only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitConditions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_codes: Vec<ExitCodeMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exit_code_ranges: Vec<ExitCodeRangeMapping>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_processing_error: Option<ExitOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_upload_error: Option<ExitOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<ExitOptions>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /jobs/{id}/addtaskcollection`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskCollection {
    pub value: Vec<Value>,
}

/// One entry of the addtaskcollection answer (`BatchTaskCreateResult`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAddResult {
    pub status: TaskAddStatus,
    pub task_id: String,
    #[serde(rename = "eTag", skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// Set by the client, not the service: the task was already there (a retried add that had
    /// in fact succeeded, or a resumed run), which counts as added.
    #[serde(skip)]
    pub already_existed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskAddCollectionResult {
    pub value: Vec<TaskAddResult>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskCounts {
    pub active: i32,
    pub running: i32,
    pub completed: i32,
    pub succeeded: i32,
    pub failed: i32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCountsResult {
    pub task_counts: TaskCounts,
    pub task_slot_counts: TaskCounts,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileProperties {
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub creation_time: Option<DateTime<Utc>>,
    #[serde(with = "timestamp")]
    pub last_modified: DateTime<Utc>,
    /// An int64 the service writes as a JSON string (`"contentLength":"1813"`).
    #[serde(with = "int64_string")]
    pub content_length: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<String>,
}

/// `BatchNodeFile` of a file list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFile {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub is_directory: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<FileProperties>,
}

/// The `message` of an error body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorMessage {
    pub lang: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorValue {
    pub key: String,
    pub value: String,
}

/// The service's error body (`BatchError`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "odata.metadata", skip_serializing_if = "Option::is_none")]
    pub odata_metadata: Option<String>,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<ErrorMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ErrorValue>,
}

/// A page of a list operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListPage<T> {
    #[serde(rename = "odata.metadata", skip_serializing_if = "Option::is_none")]
    pub odata_metadata: Option<String>,
    pub value: Vec<T>,
    #[serde(rename = "odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/recorded/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// The recorded bodies are the reference: every model reads them.
    #[test]
    fn models_read_recorded_responses() {
        let nodes: ListPage<ComputeNode> =
            serde_json::from_value(fixture("node_list.json")).unwrap();
        assert!(!nodes.value.is_empty());
        assert!(
            nodes
                .value
                .iter()
                .all(|n| !matches!(n.state, NodeState::Unknown(_)))
        );
        let job: Job = serde_json::from_value(fixture("job_get.json")).unwrap();
        assert!(job.pool_info.pool_id.is_some());
        assert!(job.creation_time.is_some());
        let tasks: ListPage<Task> = serde_json::from_value(fixture("task_list.json")).unwrap();
        assert!(!tasks.value.is_empty());
        let err: ErrorBody = serde_json::from_value(fixture("error_body.json")).unwrap();
        assert!(!err.code.is_empty());
        assert_eq!(err.message.unwrap().lang, "en-US");
    }

    /// Every typed state of every recorded body: each must be a value this version knows
    /// (an `Unknown` here means a variant is missing or mis-spelled).
    #[test]
    fn recorded_states_are_all_known_values() {
        fn known<T: std::fmt::Debug>(what: &str, v: &T, is_unknown: bool, seen: &mut usize) {
            assert!(!is_unknown, "{what}: {v:?} is not a known value");
            *seen += 1;
        }
        let mut seen = 0;
        for name in [
            "pool_get.json",
            "pool_get_basic.json",
            "pool_get_select.json",
        ] {
            let p: Pool = serde_json::from_value(fixture(name)).unwrap();
            if let Some(s) = &p.state {
                known(name, s, matches!(s, PoolState::Unknown(_)), &mut seen);
            }
            if let Some(s) = &p.allocation_state {
                known(name, s, matches!(s, AllocationState::Unknown(_)), &mut seen);
            }
        }
        for name in ["node_list.json", "node_list_idle.json"] {
            let nodes: ListPage<ComputeNode> = serde_json::from_value(fixture(name)).unwrap();
            for n in &nodes.value {
                known(
                    name,
                    &n.state,
                    matches!(n.state, NodeState::Unknown(_)),
                    &mut seen,
                );
                if let Some(s) = &n.scheduling_state {
                    known(name, s, matches!(s, SchedulingState::Unknown(_)), &mut seen);
                }
                if let Some(i) = &n.start_task_info {
                    known(
                        name,
                        &i.state,
                        matches!(i.state, StartTaskState::Unknown(_)),
                        &mut seen,
                    );
                    if let Some(r) = &i.result {
                        known(
                            name,
                            r,
                            matches!(r, TaskExecutionResult::Unknown(_)),
                            &mut seen,
                        );
                    }
                }
            }
        }
        for name in ["job_get.json", "job_get_completed.json"] {
            let j: Job = serde_json::from_value(fixture(name)).unwrap();
            for s in [&j.state, &j.previous_state].into_iter().flatten() {
                known(name, s, matches!(s, JobState::Unknown(_)), &mut seen);
            }
            if let Some(s) = &j.on_all_tasks_complete {
                known(
                    name,
                    s,
                    matches!(s, OnAllTasksComplete::Unknown(_)),
                    &mut seen,
                );
            }
            if let Some(s) = &j.on_task_failure {
                known(name, s, matches!(s, OnTaskFailure::Unknown(_)), &mut seen);
            }
        }
        let mut tasks: Vec<Task> =
            serde_json::from_value::<ListPage<Task>>(fixture("task_list.json"))
                .unwrap()
                .value;
        tasks.push(serde_json::from_value(fixture("task_get_completed.json")).unwrap());
        for t in &tasks {
            for s in [&t.state, &t.previous_state].into_iter().flatten() {
                known(&t.id, s, matches!(s, TaskState::Unknown(_)), &mut seen);
            }
            if let Some(x) = &t.execution_info {
                if let Some(r) = &x.result {
                    known(
                        &t.id,
                        r,
                        matches!(r, TaskExecutionResult::Unknown(_)),
                        &mut seen,
                    );
                }
                if let Some(f) = &x.failure_info {
                    let c = &f.category;
                    known(&t.id, c, matches!(c, ErrorCategory::Unknown(_)), &mut seen);
                }
            }
        }
        for name in ["task_add_collection.json", "task_add_collection_mixed.json"] {
            let r: TaskAddCollectionResult = serde_json::from_value(fixture(name)).unwrap();
            for one in &r.value {
                let s = &one.status;
                known(name, s, matches!(s, TaskAddStatus::Unknown(_)), &mut seen);
            }
        }
        assert!(seen >= 30, "only {seen} states in the recorded bodies");
    }

    /// A whole model keeps an unknown state through a read and a write, beside known ones.
    #[test]
    fn a_model_with_a_new_state_value_round_trips() {
        let body = serde_json::json!({
            "id": "n1",
            "state": "hibernating",
            "schedulingState": "enabled",
            "startTaskInfo": {
                "state": "completed",
                "startTime": "2025-01-01T00:00:00.0000000Z",
                "result": "partialsuccess",
                "retryCount": 0,
            },
            "totalTasksRun": 0,
            "runningTasksCount": 0,
            "runningTaskSlotsCount": 0,
            "totalTasksSucceeded": 0,
        });
        let n: ComputeNode = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(n.state, NodeState::Unknown("hibernating".into()));
        assert_eq!(n.scheduling_state, Some(SchedulingState::Enabled));
        let info = n.start_task_info.as_ref().unwrap();
        assert_eq!(info.state, StartTaskState::Completed);
        assert_eq!(
            info.result,
            Some(TaskExecutionResult::Unknown("partialsuccess".into()))
        );
        assert_eq!(serde_json::to_value(&n).unwrap(), body);
    }

    #[test]
    fn timestamps_have_seven_fraction_digits() {
        let t = DateTime::parse_from_rfc3339("2024-10-24T01:15:18.9955081Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp::format(&t), "2024-10-24T01:15:18.9955081Z");
        let leap = DateTime::parse_from_rfc3339("2016-12-31T23:59:60.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp::format(&leap), "2016-12-31T23:59:60.5000000Z");
    }
}
