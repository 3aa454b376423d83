//! The Batch service emulator: the data-plane REST API over an embedded database, a scheduler
//! that drives pools, nodes and tasks through the service's states, and a node agent that runs
//! the command lines as local processes in the Batch directory layout.
//!
//! - `routes/`: HTTP dispatch over the raw path, Shared Key, OData, one file per resource.
//! - `state`: the records and their durable store (redb).
//! - `scheduler/`: the loop and its passes (allocation, boot, jobs, retention, placement)
//!   apart from process handling (`launch`: runs, process groups, how runs ended).
//! - `agent/`: a run and its process (`mod.rs`), runs in flight (`procs`), resource files
//!   (`resources`), output files (`outputs`), their storage requests (`http`).
//! - `files`: the task and node file APIs.
//! - `versions`: the api-versions the service serves and how their shapes differ.
//! - `wire`: request bodies read as the service's OData reader reads them; durations.

mod agent;
pub(crate) mod autoscale;
pub(crate) mod error;
mod files;
pub(crate) mod odata;
pub(crate) mod routes;
mod scheduler;
mod state;
pub(crate) mod versions;
pub(crate) mod wire;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::{EmulatorConfig, EmulatorError};
use crate::azure::auth::{SharedKeyCredential, sign_service_sas};
pub use routes::router;
use state::{State, Store, Tx};

/// The Batch service of the embedded local Azure.
pub struct BatchService {
    config: EmulatorConfig,
    blob_endpoint: String,
    root: PathBuf,
    store: Store,
    state: Mutex<State>,
    procs: agent::Procs,
    http: reqwest::Client,
    wake: Notify,
    stop: watch::Sender<bool>,
    scheduler: Mutex<Option<JoinHandle<()>>>,
    next_run: AtomicU64,
    /// The account URL (the endpoint the emulator listens on), for AZ_BATCH_ACCOUNT_URL.
    account_url: String,
    /// Node deaths and start task failures to inject (off by default).
    faults: Arc<super::faults::Faults>,
    /// When the scheduler last looked for task files past their retention time.
    last_retention_pass: Mutex<Option<DateTime<Utc>>>,
    /// Each pool's autoscale metric history (by pool key), in memory only.
    metrics: Mutex<std::collections::HashMap<String, autoscale::samples::History>>,
    /// What each process of the nodes had used at the last sample (by pid).
    usage_last: Mutex<std::collections::HashMap<i32, scheduler::ProcUsage>>,
    /// When the metrics were last sampled.
    last_sample: Mutex<Option<DateTime<Utc>>>,
    /// The emulator's Entra ID, whose bearer tokens the service accepts.
    entra: std::sync::OnceLock<Arc<crate::emulator::entra::EntraService>>,
}

impl BatchService {
    /// Opens (or creates) the state in `config.batch_dir()` and starts the scheduler. Tasks
    /// that were running when the emulator stopped are requeued and nodes reboot.
    pub async fn open(
        config: &EmulatorConfig,
        batch_endpoint: &str,
        blob_endpoint: &str,
        faults: Arc<super::faults::Faults>,
    ) -> Result<Arc<BatchService>, EmulatorError> {
        let root = config.batch_dir();
        std::fs::create_dir_all(root.join("nodes")).map_err(|source| EmulatorError::DataDir {
            path: root.clone(),
            source,
        })?;
        let db_path = root.join("batch.redb");
        let db_err = |message: String| EmulatorError::Database {
            path: db_path.clone(),
            message,
        };
        let store = Store::open_with(&db_path, config.faults.slow_disk).map_err(|e| db_err(e.0))?;
        // The state is ours (its lock is held): end what a killed emulator on it left running.
        agent::kill_orphans(&root);
        let mut state = store.load_all().map_err(|e| db_err(e.0))?;
        let tx = scheduler::recover(&mut state, Utc::now());
        store.commit(tx).map_err(|e| db_err(e.0))?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .map_err(|e| db_err(format!("HTTP client: {e}")))?;
        let (stop, _) = watch::channel(false);
        let procs = agent::Procs::owned_by(&root);
        let svc = Arc::new(BatchService {
            config: config.clone(),
            blob_endpoint: blob_endpoint.trim_end_matches('/').to_string(),
            root,
            store,
            state: Mutex::new(state),
            procs,
            http,
            wake: Notify::new(),
            stop,
            scheduler: Mutex::new(None),
            next_run: AtomicU64::new(1),
            account_url: batch_endpoint.trim_end_matches('/').to_string(),
            entra: std::sync::OnceLock::new(),
            faults,
            last_retention_pass: Mutex::new(None),
            metrics: Mutex::new(Default::default()),
            usage_last: Mutex::new(Default::default()),
            last_sample: Mutex::new(None),
        });
        let handle = tokio::spawn(scheduler::run(svc.clone()));
        if let Ok(mut s) = svc.scheduler.lock() {
            *s = Some(handle);
        }
        Ok(svc)
    }

    /// Changes each time a change of the state is queued.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.store.changes()
    }

    /// Stops the scheduler and kills every process the nodes run, by process group.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.wake.notify_one();
        let handle = self.scheduler.lock().ok().and_then(|mut s| s.take());
        if let Some(h) = handle {
            let _ = h.await;
        }
        self.procs.kill_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every change is one
        // assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the changes the in-memory state just took (call it under the state's lock).
    /// They are made durable before the request is answered (`routes` syncs what its thread
    /// queued, once every lock is released), so that no lock is held across a disk write.
    /// The state's lock and the time of the changes made under it ([`State::now`]).
    fn lock_at(&self) -> (MutexGuard<'_, State>, DateTime<Utc>) {
        let mut guard = self.lock();
        let now = guard.now();
        (guard, now)
    }

    fn commit(&self, tx: Tx) -> Result<(), error::ApiError> {
        self.store.enqueue(tx);
        Ok(())
    }

    fn credential(&self) -> &SharedKeyCredential {
        &self.config.batch_account
    }

    /// A new run's id. The run can be killed from this moment on (its state records the id
    /// under the same lock), before its process exists.
    fn next_run_id(&self) -> u64 {
        let id = self.next_run.fetch_add(1, Ordering::Relaxed);
        self.procs.begin(id);
        id
    }

    fn node_dir(&self, pool_key: &str, node_id: &str) -> PathBuf {
        self.root.join("nodes").join(pool_key).join(node_id)
    }

    fn task_dir(&self, pool_key: &str, node_id: &str, job_id: &str, task_id: &str) -> PathBuf {
        self.node_dir(pool_key, node_id)
            .join("workitems")
            .join(job_id)
            .join("job-1")
            .join(task_id)
    }

    /// A read+list SAS for the storage account, for autoStorageContainerName resource files.
    fn auto_storage_sas(&self, container: &str) -> String {
        let expiry = Utc::now() + chrono::Duration::hours(12);
        sign_service_sas(
            &self.config.storage_account,
            container,
            None,
            "rl",
            None,
            expiry,
            "2023-11-03",
        )
        .to_query()
    }

    /// Accepts the bearer tokens of `entra` from now on.
    pub fn trust(&self, entra: Arc<crate::emulator::entra::EntraService>) {
        let _ = self.entra.set(entra);
    }

    fn account_url(&self) -> String {
        self.account_url.clone()
    }
}

/// An entity tag in the service's style (`0x` and hex ticks of the change time).
fn etag(t: DateTime<Utc>) -> String {
    let ticks = t.timestamp_micros() * 10 + 621_355_968_000_000_000;
    format!("0x{ticks:X}")
}
