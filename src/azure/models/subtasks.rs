//! Multi-instance tasks: their settings and the subtasks the service reports for them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    FailureInfo, ResourceFile, SubtaskState, TaskExecutionResult, TaskNodeInfo, timestamp,
};

/// `MultiInstanceSettings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiInstanceSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_instances: Option<i32>,
    #[serde(default)]
    pub coordination_command_line: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub common_resource_files: Vec<ResourceFile>,
}

/// `BatchSubtask`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subtask {
    pub id: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_info: Option<TaskNodeInfo>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<SubtaskState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<SubtaskState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskExecutionResult>,
}
