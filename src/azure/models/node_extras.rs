//! What a node reports beside its state: the agent (`BatchNodeAgentInfo`), remote login
//! settings, and the user accounts added to it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::timestamp;

/// `BatchNodeAgentInfo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeAgentInfo {
    pub version: String,
    #[serde(with = "timestamp")]
    pub last_update_time: DateTime<Utc>,
}

/// `BatchNodeRemoteLoginSettings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RemoteLoginSettings {
    #[serde(rename = "remoteLoginIPAddress")]
    pub remote_login_ip_address: String,
    #[serde(rename = "remoteLoginPort")]
    pub remote_login_port: u16,
}

/// `BatchNodeUserCreateOptions` and, without a name, `BatchNodeUserUpdateOptions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeUser {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_admin: Option<bool>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiry_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
}
