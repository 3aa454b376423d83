//! batchdeck's command line: parsing and wiring only.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::emulator::{self, Emulator, EmulatorConfig};
use batchdeck::util::parse_duration;

#[derive(Parser, Debug)]
#[command(
    name = "batchdeck",
    version,
    about = "Drive and watch Azure Batch work from a terminal"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the embedded local Azure (Batch + Blob Storage) on loopback until Ctrl-C.
    #[command(long_about = EMULATOR_HELP)]
    Emulator(EmulatorArgs),
}

const EMULATOR_HELP: &str = "\
Serve the embedded local Azure: a Batch service and a Blob Storage service that speak the real
REST APIs, for batchdeck and for any Azure SDK.

Once both listeners are up it prints one line to stdout, for scripts to parse:
  ready batch_endpoint=http://127.0.0.1:PORT blob_endpoint=http://127.0.0.1:PORT/devstoreaccount1 ...
then serves until Ctrl-C or SIGTERM.

Well-known accounts (public values: they protect only local data):
  Blob Storage: account devstoreaccount1, the key every Azure storage emulator uses:
    Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
  Batch: account devbatch, key
    ZGV2YmF0Y2hrZXkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=
Override them with --batch-account/--batch-key and --storage-account/--storage-key
(or the environment variables named below).

Point an SDK at it with Shared Key credentials and the printed endpoints, e.g. in Python:
  BatchClient(batch_endpoint, AzureNamedKeyCredential('devbatch', KEY))
  BlobServiceClient(blob_endpoint, credential={'account_name': 'devstoreaccount1', 'account_key': KEY})";

#[derive(clap::Args, Debug)]
struct EmulatorArgs {
    /// Address to listen on. Anything but loopback exposes the emulator to the network.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port of the Batch service (0: chosen by the OS).
    #[arg(long, default_value_t = 0)]
    batch_port: u16,
    /// Port of the Blob service (0: chosen by the OS).
    #[arg(long, default_value_t = 0)]
    blob_port: u16,
    /// Where state is kept (blobs, Batch entities, node directories).
    #[arg(long, env = "BATCHDECK_EMULATOR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Time a pool takes to allocate its nodes, e.g. 1s or 0.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    allocation_delay: Duration,
    /// Time a node takes to boot (creating, starting) before its start task, e.g. 2s or 0.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    node_boot_delay: Duration,
    /// Batch account name.
    #[arg(long, env = "BATCHDECK_EMULATOR_BATCH_ACCOUNT", default_value = emulator::DEV_BATCH_ACCOUNT)]
    batch_account: String,
    /// Batch account key (base64).
    #[arg(long, env = "BATCHDECK_EMULATOR_BATCH_KEY", hide_env_values = true, hide_default_value = true, default_value = emulator::DEV_BATCH_KEY)]
    batch_key: String,
    /// Storage account name.
    #[arg(long, env = "BATCHDECK_EMULATOR_STORAGE_ACCOUNT", default_value = emulator::DEV_STORAGE_ACCOUNT)]
    storage_account: String,
    /// Storage account key (base64).
    #[arg(long, env = "BATCHDECK_EMULATOR_STORAGE_KEY", hide_env_values = true, hide_default_value = true, default_value = emulator::DEV_STORAGE_KEY)]
    storage_key: String,
}

fn default_data_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "batchdeck")
        .context("cannot find a home directory for batchdeck's data; pass --data-dir")?;
    Ok(dirs.data_dir().join("emulator"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Emulator(args)) => run_emulator(args),
        None => {
            eprintln!("batchdeck: the terminal UI is not built yet; run `batchdeck emulator`");
            return std::process::ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("batchdeck: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_emulator(args: EmulatorArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BATCHDECK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    let mut config = EmulatorConfig::new(data_dir);
    config.bind = args.bind;
    config.batch_port = args.batch_port;
    config.blob_port = args.blob_port;
    config.allocation_delay = args.allocation_delay;
    config.node_boot_delay = args.node_boot_delay;
    config.batch_account = SharedKeyCredential::new(args.batch_account, &args.batch_key)
        .context("--batch-key (or BATCHDECK_EMULATOR_BATCH_KEY)")?;
    config.storage_account = SharedKeyCredential::new(args.storage_account, &args.storage_key)
        .context("--storage-key (or BATCHDECK_EMULATOR_STORAGE_KEY)")?;
    if !config.bind.is_loopback() {
        eprintln!(
            "batchdeck: warning: listening on {}, not loopback: anyone who can reach this machine \
             and knows the account keys can use the emulator",
            config.bind
        );
    }

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let emu = Emulator::start(config).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "ready batch_endpoint={} blob_endpoint={} batch_account={} storage_account={} data_dir={}",
                emu.batch_endpoint,
                emu.blob_endpoint,
                emu.config.batch_account.account(),
                emu.config.storage_account.account(),
                emu.config.data_dir.display()
            )?;
            out.flush()?;
        }
        wait_for_stop_signal().await;
        emu.shutdown().await;
        anyhow::Ok(())
    })
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}
