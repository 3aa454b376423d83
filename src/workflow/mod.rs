//! The workflow (steps 1-9) of a workload, what it waits on, and the user's commands. They
//! only send `Event`s; they never touch the terminal.
pub mod blocked;
pub mod bodies;
pub mod check;
pub mod controller;
pub mod events;
pub mod journal;
pub mod plan;
pub mod remaining;
pub mod spec;
pub mod steps;
pub mod wait;
pub mod workload;

use std::time::Duration;

use crate::azure::auth::Credential;
use crate::azure::batch::{BatchClient, BatchError};
use crate::azure::storage::{StorageClient, StorageError};
use crate::config::{Config, Endpoint};
use crate::emulator::{Emulator, EmulatorConfig, EmulatorError};
use steps::Clients;

/// How to start the embedded emulator when the configuration asks for it.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub allocation_delay: Duration,
    pub node_boot_delay: Duration,
    /// Faults the embedded emulator injects (`BATCHDECK_EMULATOR_FAULTS`; none by default).
    pub faults: crate::emulator::faults::FaultSpec,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            allocation_delay: Duration::from_millis(500),
            node_boot_delay: Duration::from_secs(1),
            faults: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("starting the embedded local Azure: {0}")]
    Emulator(#[from] EmulatorError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The clients, and the embedded emulator when one was started for them.
pub struct Connection {
    pub clients: Clients,
    pub emulator: Option<Emulator>,
}

impl Connection {
    /// Whether the Batch client talks to the embedded emulator.
    pub fn batch_is_embedded(&self) -> bool {
        self.emulator.as_ref().is_some_and(|e| {
            e.batch_endpoint == self.clients.batch.endpoint().as_str().trim_end_matches('/')
        })
    }

    /// The embedded Batch service's changes, when the Batch client talks to it (a watcher
    /// polls on them: [`crate::watch::Watch::spawn_nudged`]).
    pub fn batch_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.emulator
            .as_ref()
            .filter(|_| self.batch_is_embedded())
            .map(Emulator::batch_changes)
    }

    /// Where the Batch client talks to, for the status line.
    pub fn batch_label(&self) -> String {
        match &self.emulator {
            Some(e) if self.batch_is_embedded() => {
                format!("{} (embedded local Azure)", e.batch_endpoint)
            }
            _ => self.clients.batch.endpoint().to_string(),
        }
    }

    pub async fn shutdown(self) {
        if let Some(e) = self.emulator {
            e.shutdown().await;
        }
    }
}

/// Builds the clients for `config`, starting the embedded emulator if either service is
/// embedded.
pub async fn connect(
    config: &Config,
    embedded: &EmbeddedOptions,
) -> Result<Connection, ConnectError> {
    let emulator = if config.batch.is_embedded() || config.storage.is_embedded() {
        let mut ec = EmulatorConfig::new(config.paths.emulator_dir());
        ec.allocation_delay = embedded.allocation_delay;
        ec.node_boot_delay = embedded.node_boot_delay;
        ec.faults = embedded.faults.clone();
        Some(Emulator::start(ec).await?)
    } else {
        None
    };
    let (batch_url, batch_account, batch_cred) = match (&config.batch, &emulator) {
        (
            Endpoint::Remote {
                url,
                account,
                credential,
            },
            _,
        ) => (url.clone(), account.clone(), credential.clone()),
        (Endpoint::Embedded, Some(e)) => (
            url::Url::parse(&e.batch_endpoint).expect("the emulator's endpoint is a URL"),
            e.config.batch_account.account().to_string(),
            Credential::SharedKey(e.config.batch_account.clone()),
        ),
        (Endpoint::Embedded, None) => unreachable!("an embedded endpoint starts the emulator"),
    };
    let (storage_url, storage_account, storage_cred) = match (&config.storage, &emulator) {
        (
            Endpoint::Remote {
                url,
                account,
                credential,
            },
            _,
        ) => (url.clone(), account.clone(), credential.clone()),
        (Endpoint::Embedded, Some(e)) => (
            url::Url::parse(&e.blob_endpoint).expect("the emulator's endpoint is a URL"),
            e.config.storage_account.account().to_string(),
            Credential::SharedKey(e.config.storage_account.clone()),
        ),
        (Endpoint::Embedded, None) => unreachable!("an embedded endpoint starts the emulator"),
    };
    let service = match (&config.batch, &emulator) {
        (Endpoint::Embedded, Some(e)) => format!("embedded {}", e.config.data_dir.display()),
        _ => batch_url.to_string(),
    };
    let clients = Clients {
        batch: BatchClient::with_credential(batch_url, batch_account, batch_cred)?,
        storage: StorageClient::with_credential(storage_url, storage_account, storage_cred)?,
        service,
    };
    Ok(Connection { clients, emulator })
}
