//! The subtasks of a multi-instance task (`subtasksinfo`): where each ran and how it ended.
//! Any other task has none.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::common::{Ctx, Reply, Res};
use super::tasks::node_urls;
use crate::emulator::batch::BatchService;
use crate::emulator::batch::error::ApiError;
use crate::emulator::batch::odata;
use crate::emulator::batch::state::key;

pub(super) fn list_subtasks(svc: &Arc<BatchService>, c: &Ctx, j: &str, t: &str) -> Res {
    let st = svc.lock();
    st.jobs.get(&key(j)).ok_or_else(ApiError::job_not_found)?;
    let rec = st
        .tasks
        .get(&(key(j), key(t)))
        .ok_or_else(ApiError::task_not_found)?;
    let select = c.q("$select").map(odata::parse_select);
    let value: Vec<Value> = rec
        .subtasks
        .iter()
        .map(|s| {
            let mut sub = s.subtask.clone();
            if let Some(ni) = sub.node_info.as_mut() {
                node_urls(&c.base, ni);
            }
            odata::select(
                serde_json::to_value(sub).unwrap_or_default(),
                select.as_deref(),
            )
        })
        .collect();
    let body = json!({
        "odata.metadata": format!("{}/$metadata#subtaskinfo", c.base),
        "value": value,
    });
    Ok(Reply::json(StatusCode::OK, &body))
}
