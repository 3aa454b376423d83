//! A typed client of the Batch data-plane REST API (Shared Key auth over reqwest).
//!
//! Shaped like octocrab: typed requests, a pager that follows `odata.nextLink`, errors that
//! keep the service's status, code and message, decode errors that name the JSON path, and an
//! injectable base URL (Azure or the emulator: the client cannot tell them apart).
//!
//! - `client`: the client core (signing, retries, errors from answers, JSON, paging).
//! - `error`: `BatchError`.
//! - `pools`, `jobs`, `tasks`, `files`: the operations on each resource.

mod client;
mod error;
mod files;
mod jobs;
mod pools;
mod tasks;
#[cfg(test)]
mod tests;

pub use client::{Answer, BatchClient, Created, Deleted, Page, Query, RequestStats};
pub use error::{AuthContext, BatchError};
pub use tasks::{COLLECTIONS_IN_FLIGHT, TASKS_PER_COLLECTION};

/// The REST API version batchdeck speaks (the one azure-batch 15.x uses).
pub const API_VERSION: &str = "2025-06-01";
