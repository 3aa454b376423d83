//! Batch service emulator. Being built.
use std::sync::Arc;

use super::{EmulatorConfig, EmulatorError};

pub struct BatchService {}

impl BatchService {
    pub async fn open(
        _config: &EmulatorConfig,
        _blob_endpoint: &str,
    ) -> Result<Arc<BatchService>, EmulatorError> {
        Ok(Arc::new(BatchService {}))
    }

    pub async fn shutdown(&self) {}
}

pub fn router(_svc: Arc<BatchService>) -> axum::Router {
    axum::Router::new()
}
