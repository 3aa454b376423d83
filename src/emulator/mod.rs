//! The embedded local Azure: a Batch and a Blob Storage service on loopback that speak the
//! real REST APIs, so that batchdeck's clients and Microsoft's SDKs use them as they use Azure.
//!
//! `Emulator::start` opens both services on their data directories, binds two listeners
//! (ports chosen by the OS unless given) and serves until `Emulator::shutdown`.

pub mod batch;
pub mod blob;
pub mod entra;
pub mod faults;
mod request_log;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::azure::auth::SharedKeyCredential;

/// The storage account every Azure storage emulator uses (Azurite's, documented by Microsoft).
pub const DEV_STORAGE_ACCOUNT: &str = "devstoreaccount1";
/// Its well-known key (public: it only ever protects local data).
pub const DEV_STORAGE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// batchdeck's well-known local Batch account.
pub const DEV_BATCH_ACCOUNT: &str = "devbatch";
/// Its well-known key: base64 of `devbatchkey012345678901234567890123456789012`.
pub const DEV_BATCH_KEY: &str = "ZGV2YmF0Y2hrZXkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=";

/// Errors starting or running the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}: {source}; choose another port or stop what uses it")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("emulator database {path}: {message}")]
    Database { path: PathBuf, message: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Root of all state: `blob/` and `batch/` below it.
    pub data_dir: PathBuf,
    /// Address both listeners bind to; loopback unless told otherwise.
    pub bind: IpAddr,
    /// 0 lets the OS choose.
    pub batch_port: u16,
    pub blob_port: u16,
    pub batch_account: SharedKeyCredential,
    pub storage_account: SharedKeyCredential,
    /// Time from a pool's resize to its nodes existing (allocation state `resizing`).
    pub allocation_delay: Duration,
    /// Time a node spends in `creating` and `starting` before its start task runs.
    pub node_boot_delay: Duration,
    /// Faults to inject (none by default).
    pub faults: faults::FaultSpec,
    /// How many times faster than the service the emulator runs its long timers: job
    /// schedule recurrences and start windows, autoscale evaluation intervals and metric
    /// samples, the 30 s between enableautoscale calls (1: as the service does).
    pub speedup: u32,
    /// Port of the Entra ID authority (HTTPS; 0 lets the OS choose).
    pub authority_port: u16,
    /// Whether each service accepts Shared Key (and, for Storage, key-signed SAS); off
    /// with `--disable-shared-key`, as on accounts whose keys are disabled.
    pub batch_shared_key: bool,
    pub storage_shared_key: bool,
    /// How long the tokens of the emulator's Entra ID live.
    pub token_lifetime: Duration,
    /// A file to append one JSON line per request to (method, path, how it authenticated,
    /// status; never a secret).
    pub request_log: Option<PathBuf>,
}

impl EmulatorConfig {
    /// Loopback, OS-chosen ports, the well-known accounts, and no delays.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            batch_port: 0,
            blob_port: 0,
            batch_account: SharedKeyCredential::new(DEV_BATCH_ACCOUNT, DEV_BATCH_KEY)
                .expect("the well-known Batch key is valid base64"),
            storage_account: SharedKeyCredential::new(DEV_STORAGE_ACCOUNT, DEV_STORAGE_KEY)
                .expect("the well-known storage key is valid base64"),
            allocation_delay: Duration::ZERO,
            node_boot_delay: Duration::ZERO,
            faults: faults::FaultSpec::default(),
            speedup: 1,
            authority_port: 0,
            batch_shared_key: true,
            storage_shared_key: true,
            token_lifetime: entra::DEFAULT_TOKEN_LIFETIME,
            request_log: None,
        }
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blob")
    }

    pub fn batch_dir(&self) -> PathBuf {
        self.data_dir.join("batch")
    }

    /// Where the Entra ID keys and the TLS certificates are kept.
    pub fn entra_dir(&self) -> PathBuf {
        self.data_dir.join("entra")
    }
}

/// What one service answered: requests, and bytes of response bodies (as declared by their
/// `Content-Length`), for benchmarks and the request counts they compare.
#[derive(Debug, Default)]
pub struct ServiceStats {
    pub requests: std::sync::atomic::AtomicU64,
    pub response_bytes: std::sync::atomic::AtomicU64,
    /// When the first request of the current window arrived and the last one was answered
    /// (nanoseconds since the Unix epoch, 0 for none): the service's own view of how long a
    /// client took, for benchmarks of clients whose wall time includes their own pauses.
    first_request_ns: std::sync::atomic::AtomicU64,
    last_answer_ns: std::sync::atomic::AtomicU64,
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(1)
        .max(1)
}

impl ServiceStats {
    /// Starts a new window (see [`ServiceStats::window`]).
    pub fn reset_window(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.first_request_ns.store(0, SeqCst);
        self.last_answer_ns.store(0, SeqCst);
    }

    /// From the arrival of the window's first request to the answer of its last, if any.
    pub fn window(&self) -> Option<std::time::Duration> {
        use std::sync::atomic::Ordering::SeqCst;
        let (first, last) = (
            self.first_request_ns.load(SeqCst),
            self.last_answer_ns.load(SeqCst),
        );
        (first > 0 && last >= first).then(|| std::time::Duration::from_nanos(last - first))
    }

    /// (requests, response bytes) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.requests.load(Relaxed),
            self.response_bytes.load(Relaxed),
        )
    }
}

/// Counters of both services.
#[derive(Debug, Default)]
pub struct Stats {
    pub batch: ServiceStats,
    pub blob: ServiceStats,
    /// The Batch requests for task and node files (`.../files/...`), a part of `batch`.
    pub batch_files: ServiceStats,
}

async fn count(
    axum::extract::State(stats): axum::extract::State<Arc<Stats>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use std::sync::atomic::Ordering::Relaxed;
    let batch = req.extensions().get::<faults::Service>() == Some(&faults::Service::Batch);
    let files = batch && req.uri().path().contains("/files");
    let s = if batch { &stats.batch } else { &stats.blob };
    let _ = s
        .first_request_ns
        .compare_exchange(0, now_ns(), Relaxed, Relaxed);
    let resp = next.run(req).await;
    s.last_answer_ns.fetch_max(now_ns(), Relaxed);
    s.requests.fetch_add(1, Relaxed);
    if files {
        stats.batch_files.requests.fetch_add(1, Relaxed);
    }
    use axum::body::HttpBody as _;
    // The declared length, else the body's known size (hyper adds the header later).
    let len = resp
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| resp.body().size_hint().exact())
        .unwrap_or(0);
    s.response_bytes.fetch_add(len, Relaxed);
    resp
}

/// Tags requests with the service they reached (for the counters).
async fn tag(
    axum::extract::State(service): axum::extract::State<faults::Service>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    req.extensions_mut().insert(service);
    next.run(req).await
}

/// A running emulator. Drop without `shutdown` stops serving when the runtime ends.
pub struct Emulator {
    /// `http://127.0.0.1:PORT`: the Batch account URL.
    pub batch_endpoint: String,
    /// `http://127.0.0.1:PORT/devstoreaccount1`: the blob service URL (path style).
    pub blob_endpoint: String,
    /// `https://127.0.0.1:PORT`: the Entra ID authority (`AZURE_AUTHORITY_HOST`).
    pub authority_host: String,
    /// The emulator's Entra ID (its tenant, apps, keys and CA certificate).
    pub entra: Arc<entra::EntraService>,
    pub config: EmulatorConfig,
    /// Requests and response bytes per service since the start.
    pub stats: Arc<Stats>,
    batch: Arc<batch::BatchService>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// Opens the state in `config.data_dir`, binds both listeners and starts serving.
    pub async fn start(mut config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        // Node directories reach tasks as `AZ_BATCH_*` paths, which are absolute on Azure;
        // a relative data directory would make them depend on each process's cwd.
        config.data_dir =
            std::path::absolute(&config.data_dir).map_err(|source| EmulatorError::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
        for dir in [
            config.data_dir.clone(),
            config.blob_dir(),
            config.batch_dir(),
        ] {
            std::fs::create_dir_all(&dir).map_err(|source| EmulatorError::DataDir {
                path: dir.clone(),
                source,
            })?;
        }
        // Ports the OS chose last time are taken again when free, so that the URLs the state
        // holds (SAS URLs of resource files in pools and tasks) stay valid across restarts.
        let last = RememberedPorts::load(&config.data_dir);
        let blob_listener = bind_preferring(config.bind, config.blob_port, last.blob).await?;
        let batch_listener = bind_preferring(config.bind, config.batch_port, last.batch).await?;
        let authority_listener =
            bind_preferring(config.bind, config.authority_port, last.authority).await?;
        RememberedPorts {
            batch: batch_listener.local_addr()?.port(),
            blob: blob_listener.local_addr()?.port(),
            authority: authority_listener.local_addr()?.port(),
        }
        .save(&config.data_dir);
        let host = |l: &tokio::net::TcpListener| -> Result<String, EmulatorError> {
            let a = l.local_addr()?;
            Ok(match a.ip() {
                IpAddr::V6(ip) => format!("[{ip}]:{}", a.port()),
                IpAddr::V4(ip) => format!("{ip}:{}", a.port()),
            })
        };
        let blob_endpoint = format!(
            "http://{}/{}",
            host(&blob_listener)?,
            config.storage_account.account()
        );
        let batch_endpoint = format!("http://{}", host(&batch_listener)?);
        let authority_host = format!("https://{}", host(&authority_listener)?);
        let entra = Arc::new(entra::EntraService::open(
            &config.entra_dir(),
            config.token_lifetime,
        )?);
        entra.set_authority_host(authority_host.clone());

        let blob = blob::BlobService::open(&config)?;
        blob.trust(entra.clone());
        let injector = Arc::new(faults::Faults::new(config.faults.clone()));
        let batch =
            batch::BatchService::open(&config, &batch_endpoint, &blob_endpoint, injector.clone())
                .await?;
        batch.trust(entra.clone());
        let log = request_log::RequestLog::open(config.request_log.as_deref())?;

        let (stop, stop_rx) = watch::channel(false);
        let stats = Arc::new(Stats::default());
        let with_faults = |router: axum::Router, service| {
            // Outermost first: tag, count what the client gets, then inject faults.
            let router = if config.faults.is_off() {
                router
            } else {
                router.layer(axum::middleware::from_fn_with_state(
                    (injector.clone(), service),
                    faults::inject,
                ))
            };
            router
                .layer(axum::middleware::from_fn_with_state(
                    log.clone(),
                    request_log::record,
                ))
                .layer(axum::middleware::from_fn_with_state(stats.clone(), count))
                .layer(axum::middleware::from_fn_with_state(service, tag))
        };
        let tls = Some(entra.certificates.server.clone());
        let servers = vec![
            entra::tls::serve(
                blob_listener,
                with_faults(blob::router(blob), faults::Service::Blob),
                tls.clone(),
                stop_rx.clone(),
            ),
            entra::tls::serve(
                batch_listener,
                with_faults(batch::router(batch.clone()), faults::Service::Batch),
                tls.clone(),
                stop_rx.clone(),
            ),
            entra::tls::serve(
                authority_listener,
                entra::router(entra.clone()),
                tls,
                stop_rx,
            ),
        ];
        if !config.faults.is_off() {
            tracing::warn!(faults = %config.faults, "emulator injects faults");
        }
        tracing::info!(%batch_endpoint, %blob_endpoint, %authority_host, "emulator listening");
        Ok(Emulator {
            batch_endpoint,
            blob_endpoint,
            authority_host,
            entra,
            config,
            stats,
            batch,
            stop,
            servers,
        })
    }

    /// Changes each time the Batch service's state changes (a request, a scheduler pass, a
    /// process ending): a watcher in this process polls on it at once rather than on its
    /// timer. Only a hint of when to look: what changed is read through the REST API.
    pub fn batch_changes(&self) -> watch::Receiver<u64> {
        self.batch.changes()
    }

    /// Stops accepting requests, ends the processes the nodes run and waits for all of it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.batch.shutdown().await;
        for s in self.servers {
            let _ = s.await;
        }
    }
}

/// The ports of the last start, in `<data dir>/ports.json`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct RememberedPorts {
    batch: u16,
    blob: u16,
    #[serde(default)]
    authority: u16,
}

impl RememberedPorts {
    fn path(dir: &std::path::Path) -> PathBuf {
        dir.join("ports.json")
    }

    fn load(dir: &std::path::Path) -> RememberedPorts {
        std::fs::read(Self::path(dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, dir: &std::path::Path) {
        if let Ok(b) = serde_json::to_vec(self)
            && let Err(e) = crate::util::write_atomic(&Self::path(dir), &b)
        {
            tracing::warn!(error = %e, "cannot remember the emulator's ports");
        }
    }
}

/// Binds `port`; when it is 0 (any), tries `remembered` first and falls back to any port.
async fn bind_preferring(
    ip: IpAddr,
    port: u16,
    remembered: u16,
) -> Result<tokio::net::TcpListener, EmulatorError> {
    if port == 0
        && remembered != 0
        && let Ok(l) = tokio::net::TcpListener::bind(SocketAddr::new(ip, remembered)).await
    {
        return Ok(l);
    }
    bind(SocketAddr::new(ip, port)).await
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, EmulatorError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind { addr, source })
}
