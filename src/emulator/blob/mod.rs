//! Blob Storage emulator, path style: `http://host:port/<account>/<container>/<blob>`.
//!
//! Block blobs with Put Blob, Put Block / Put Block List, ranged reads, listings with
//! prefixes, delimiters and paging, metadata and properties, conditional requests, and
//! Shared Key / SAS authorisation as the service checks them. State lives under
//! `EmulatorConfig::blob_dir()`: a redb index plus one content file per block or Put Blob
//! body (see `store`).

pub(crate) mod auth;
mod content;
mod direct;
mod error;
mod hashing;
pub(crate) mod names;
pub(crate) mod ops;
pub(crate) mod routes;
mod store;
pub(crate) mod xml;

use std::sync::Arc;

use super::{EmulatorConfig, EmulatorError};
use crate::azure::auth::SharedKeyCredential;

pub use error::BlobError;
pub use routes::router;

/// The Blob service of the emulator: its account credential and its durable store.
pub struct BlobService {
    credential: SharedKeyCredential,
    store: store::Store,
    /// Whether Shared Key and key-signed SAS are accepted (`--disable-shared-key`).
    shared_key: bool,
    /// The emulator's Entra ID, for bearer tokens and user delegation SAS.
    entra: std::sync::OnceLock<Arc<crate::emulator::entra::EntraService>>,
}

impl BlobService {
    /// Opens (or creates) the state in `config.blob_dir()`, removing content files that no
    /// acknowledged write refers to (left by a crash mid-upload).
    pub fn open(config: &EmulatorConfig) -> Result<Arc<BlobService>, EmulatorError> {
        let dir = config.blob_dir();
        std::fs::create_dir_all(&dir).map_err(|source| EmulatorError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let store = store::Store::open(&dir)?;
        Ok(Arc::new(BlobService {
            credential: config.storage_account.clone(),
            store,
            shared_key: config.storage_shared_key,
            entra: std::sync::OnceLock::new(),
        }))
    }

    /// Accepts the tokens and user delegation SAS of `entra` from now on.
    pub fn trust(&self, entra: Arc<crate::emulator::entra::EntraService>) {
        let _ = self.entra.set(entra);
    }

    pub(crate) fn authority(&self) -> auth::Authority<'_> {
        auth::Authority {
            shared_key: self.shared_key,
            entra: self.entra.get().map(|e| e.as_ref()),
        }
    }

    pub fn account(&self) -> &str {
        self.credential.account()
    }
}
