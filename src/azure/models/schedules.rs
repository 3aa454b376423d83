//! Job schedules (`BatchJobSchedule` and its parts) and auto pools
//! (`BatchAutoPoolSpecification`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{JobScheduleState, PoolInfo, PoolLifetimeOption, timestamp};

/// `BatchJobScheduleConfiguration`: when jobs are created. Durations are ISO 8601.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub do_not_run_until: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub do_not_run_after: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence_interval: Option<String>,
}

/// `BatchJobSpecification`: what each job of a schedule is; the job add body without an id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpecification {
    #[serde(default)]
    pub pool_info: PoolInfo,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `RecentBatchJob`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecentJob {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `BatchJobScheduleExecutionInfo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobScheduleExecutionInfo {
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_run_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_job: Option<RecentJob>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<DateTime<Utc>>,
}

/// `BatchJobSchedule` (get/list) and, with fewer fields, the create body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSchedule {
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
    pub state: Option<JobScheduleState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_state: Option<JobScheduleState>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub previous_state_transition_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_specification: Option<JobSpecification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_info: Option<JobScheduleExecutionInfo>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `BatchAutoPoolSpecification`: a pool the service creates for a job or a schedule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoPoolSpecification {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_pool_id_prefix: Option<String>,
    pub pool_lifetime_option: PoolLifetimeOption,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<bool>,
    /// `BatchPoolSpecification`: a pool add body without an id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<Map<String, Value>>,
}
