//! Blob Storage emulator (path style: `/<account>/<container>/<blob>`). Being built.
use std::sync::Arc;

use super::{EmulatorConfig, EmulatorError};

pub struct BlobService {}

impl BlobService {
    pub fn open(_config: &EmulatorConfig) -> Result<Arc<BlobService>, EmulatorError> {
        Ok(Arc::new(BlobService {}))
    }
}

pub fn router(_svc: Arc<BlobService>) -> axum::Router {
    axum::Router::new()
}
