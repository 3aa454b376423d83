//! The command line's shape: subcommands, their flags and how each value is read (clap).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use batchdeck::emulator::{self, faults::FaultSpec};
use batchdeck::util::parse_duration;

#[derive(Parser, Debug)]
#[command(
    name = "batchdeck",
    version,
    about = "Drive and watch Azure Batch work from a terminal"
)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// With no subcommand, batchdeck runs the workflow (as `batchdeck run`).
    #[command(flatten)]
    pub(crate) run: Box<RunArgs>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run a workload (-w FILE; by default the built-in tutorial): containers, uploads, pool,
    /// job, tasks, wait, download, clean up.
    Run(Box<RunArgs>),
    /// Attach to existing work (a job and its pool, or a pool) and watch it: full screen, or
    /// headless lines until every task of the job completed.
    Watch(WatchArgs),
    /// Browse the whole account full screen, k9s-style: pools, jobs, a pool's nodes, a job's
    /// tasks (`:` commands, `?` keys).
    Browse(BrowseArgs),
    /// Print every path, endpoint and credential batchdeck would use (secrets redacted);
    /// with --check, call both services with them.
    Info(InfoArgs),
    /// Serve the embedded local Azure (Batch + Blob Storage) on loopback until Ctrl-C.
    #[command(long_about = EMULATOR_HELP)]
    Emulator(EmulatorArgs),
    /// Manage the named profiles of the config file.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Write the built-in workload (the tutorial) to DIR as a starting point: workload.toml,
    /// commented, with its script (assets/) and inputs (data/). Run it with
    /// `batchdeck run -w DIR/workload.toml`.
    Init {
        /// The folder to write to (made if missing; default: the current one).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Print a shell completion script, e.g. `batchdeck completions bash > ~/.local/share/bash-completion/completions/batchdeck`.
    Completions {
        /// The shell.
        shell: CompletionShell,
    },
    /// Print the man page (roff), e.g. `batchdeck man > ~/.local/share/man/man1/batchdeck.1`.
    Man,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ProfileCommand {
    /// Save what the Azure CLI's environment variables (and the endpoint flags) configure as a
    /// named profile, in a config file only you can read (mode 0600). Keys are never printed.
    Save {
        /// The profile's name.
        name: String,
        /// Also make it the default profile.
        #[arg(long)]
        default: bool,
        #[command(flatten)]
        target: TargetArgs,
    },
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
  BlobServiceClient(blob_endpoint, credential={'account_name': 'devstoreaccount1', 'account_key': KEY})

It also speaks Microsoft Entra ID: a token endpoint at authority_host (HTTPS, printed on the
ready line, with ca_cert: the local CA to trust, e.g. SSL_CERT_FILE or REQUESTS_CA_BUNDLE),
tenant bdecb000-0000-4000-8000-00000000000a, and these registered apps (public values):
  batchdeck-local   client id bdecb001-0000-4000-8000-000000000001, secret batchdeck-local-secret
                    (Storage Blob Data Contributor)
  batchdeck-reader  client id bdecb002-0000-4000-8000-000000000002, secret batchdeck-reader-secret
                    (Storage Blob Data Reader)
Both services accept their bearer tokens (over http, or https on the same ports), and Blob
Storage user delegation SAS. --disable-shared-key refuses account keys as accounts whose keys
are disabled do.";

#[derive(clap::Args, Debug)]
pub(crate) struct EmulatorArgs {
    /// Address to listen on. Anything but loopback exposes the emulator to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) bind: IpAddr,
    /// Port of the Batch service (0: chosen by the OS).
    #[arg(long, default_value_t = 0)]
    pub(crate) batch_port: u16,
    /// Port of the Blob service (0: chosen by the OS).
    #[arg(long, default_value_t = 0)]
    pub(crate) blob_port: u16,
    /// Where state is kept (blobs, Batch entities, node directories).
    #[arg(long, env = "BATCHDECK_EMULATOR_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Time a pool takes to allocate its nodes, e.g. 1s or 0.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub(crate) allocation_delay: Duration,
    /// Time a node takes to boot (creating, starting) before its start task, e.g. 2s or 0.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) node_boot_delay: Duration,
    /// Batch account name.
    #[arg(long, env = "BATCHDECK_EMULATOR_BATCH_ACCOUNT", default_value = emulator::DEV_BATCH_ACCOUNT)]
    pub(crate) batch_account: String,
    /// Batch account key (base64).
    #[arg(long, env = "BATCHDECK_EMULATOR_BATCH_KEY", hide_env_values = true, hide_default_value = true, default_value = emulator::DEV_BATCH_KEY)]
    pub(crate) batch_key: String,
    /// Storage account name.
    #[arg(long, env = "BATCHDECK_EMULATOR_STORAGE_ACCOUNT", default_value = emulator::DEV_STORAGE_ACCOUNT)]
    pub(crate) storage_account: String,
    /// Storage account key (base64).
    #[arg(long, env = "BATCHDECK_EMULATOR_STORAGE_KEY", hide_env_values = true, hide_default_value = true, default_value = emulator::DEV_STORAGE_KEY)]
    pub(crate) storage_key: String,
    /// Port of the Microsoft Entra ID authority, served over HTTPS (0: chosen by the OS).
    #[arg(long, default_value_t = 0)]
    pub(crate) authority_port: u16,
    /// Refuse account keys, as accounts whose keys are disabled do: `batch`, `storage`, or
    /// both (the default when no service is named).
    #[arg(long, value_name = "SERVICE", num_args = 0..=1, default_missing_value = "all", value_delimiter = ',', value_parser = ["all", "batch", "storage"])]
    pub(crate) disable_shared_key: Vec<String>,
    /// How long the tokens of the local Entra ID live, e.g. 1h or 10m.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub(crate) token_lifetime: Duration,
    /// Append one JSON line per request (method, path, how it authenticated, status; never
    /// a secret) to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) request_log: Option<PathBuf>,
    /// Faults to inject, e.g. error=0.1,reset=0.1,latency=20ms,node-death=0.1,start-task=0.2,seed=7
    /// (error: 500/503/429 answers; reset: responses cut off; shares between 0 and 1).
    #[arg(long, env = "BATCHDECK_EMULATOR_FAULTS", value_parser = parse_faults)]
    pub(crate) faults: Option<FaultSpec>,
    /// Run the service's long timers N times faster, for tests: job schedule recurrences and
    /// start windows, autoscale evaluation intervals and metric samples (every 30 s), the 30 s
    /// between enableautoscale calls. Times read back stay as given.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub(crate) speedup: u32,
}

pub(crate) fn parse_faults(s: &str) -> Result<FaultSpec, String> {
    s.parse()
}

#[derive(clap::Args, Debug)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Get the tokens (or sign a request) and call both services: `ok` or the reason, per
    /// service; exits 1 if either fails.
    #[arg(long)]
    pub(crate) check: bool,
}

/// How `run --headless` and `watch --headless` report on stdout.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputFormat {
    /// Lines for people, in the spirit of the tutorial's output.
    Text,
    /// One JSON object per event per line (schema version 1).
    Json,
}

pub(crate) fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not NAME=VALUE, e.g. numwords=5")),
    }
}

/// Where to talk to: flags override the environment and the config file.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct TargetArgs {
    /// Named profile of the config file.
    #[arg(long)]
    pub(crate) profile: Option<String>,
    /// Batch account URL of any compatible service (e.g. `batchdeck emulator`'s).
    #[arg(long)]
    pub(crate) batch_endpoint: Option<String>,
    /// Blob service URL of any compatible service (e.g. Azurite's http://127.0.0.1:10000/devstoreaccount1).
    #[arg(long)]
    pub(crate) storage_endpoint: Option<String>,
    /// Directory for batchdeck's data (logs, the embedded emulator's state).
    #[arg(long, env = "BATCHDECK_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// How to authenticate: `key` (the account keys) or `entra` (Microsoft Entra ID: a
    /// service principal from the environment, managed identity, or `az login`). Default: a
    /// configured key means key, an account endpoint without one means entra.
    #[arg(long, value_name = "key|entra")]
    pub(crate) auth: Option<batchdeck::azure::auth::AuthMode>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// Plain log lines instead of the full-screen view (also when stdout is not a terminal).
    #[arg(long)]
    pub(crate) headless: bool,
    /// What headless mode writes on stdout: `text` (lines for people) or `json` (one JSON
    /// object per event per line, schema version 1, described in the README); json implies
    /// --headless and asks no questions.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    /// Full-screen view without deleting, resizing or retrying (the run's own step 9 keeps
    /// the job and pool unless --delete-job/--delete-pool say otherwise).
    #[arg(long)]
    pub(crate) readonly: bool,
    /// The workload file to run (TOML; `batchdeck init` writes one). Without it, the built-in
    /// tutorial runs.
    #[arg(short = 'w', long, value_name = "FILE")]
    pub(crate) workload: Option<PathBuf>,
    /// Set a parameter of the workload (one of its [params]), e.g. --set numwords=5.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub(crate) set: Vec<(String, String)>,
    /// Pool id (default: the workload's; the tutorial's is PythonTutorialPool).
    #[arg(long)]
    pub(crate) pool_id: Option<String>,
    /// Job id (default: the workload's; the tutorial's is PythonTutorialJob).
    #[arg(long)]
    pub(crate) job_id: Option<String>,
    /// Dedicated nodes in the pool (default: the workload's; the tutorial's is 2).
    #[arg(long)]
    pub(crate) nodes: Option<u32>,
    /// VM size of the pool's nodes (Azure; default: the workload's).
    #[arg(long)]
    pub(crate) vm_size: Option<String>,
    /// Node agent SKU of the pool's image (Azure; default: the workload's).
    #[arg(long)]
    pub(crate) node_agent_sku: Option<String>,
    /// How many top words each task reports (the built-in tutorial only: --set numwords=N).
    #[arg(long, conflicts_with = "workload")]
    pub(crate) numwords: Option<u32>,
    /// Input files of the workload's generated tasks, instead of its glob (the tutorial's:
    /// data/*.txt).
    #[arg(long = "input", value_name = "FILE")]
    pub(crate) inputs: Vec<PathBuf>,
    /// The script the tutorial's start task copies to the nodes (default: assets/topwords.py;
    /// the built-in tutorial only).
    #[arg(long, conflicts_with = "workload")]
    pub(crate) task_script: Option<PathBuf>,
    /// Container for the task script and other resource files (default: the workload's).
    #[arg(long, help_heading = "Storage")]
    pub(crate) application_container: Option<String>,
    /// Container for the input files (default: the workload's).
    #[arg(long, help_heading = "Storage")]
    pub(crate) input_container: Option<String>,
    /// Container the tasks' outputs are uploaded to (default: the workload's).
    #[arg(long, help_heading = "Storage")]
    pub(crate) output_container: Option<String>,
    /// Where the outputs are downloaded (default: the workload's, else batchdeck-output).
    #[arg(long)]
    pub(crate) output_dir: Option<PathBuf>,
    /// Overwrite outputs already in --output-dir (without it, batchdeck refuses to start).
    #[arg(long)]
    pub(crate) force: bool,
    /// How long to wait for the tasks, e.g. 30m.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// Run on an existing pool of --pool-id instead of failing.
    #[arg(long)]
    pub(crate) reuse_pool: bool,
    /// Delete the job at the end without asking.
    #[arg(long, conflicts_with = "keep_job")]
    pub(crate) delete_job: bool,
    /// Keep the job at the end without asking.
    #[arg(long)]
    pub(crate) keep_job: bool,
    /// Delete the pool at the end without asking.
    #[arg(long, conflicts_with = "keep_pool")]
    pub(crate) delete_pool: bool,
    /// Keep the pool at the end without asking.
    #[arg(long)]
    pub(crate) keep_pool: bool,
    /// Embedded emulator: time a node takes to boot, e.g. 0 or 2s.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub(crate) node_boot_delay: Duration,
    /// Embedded emulator: time a pool takes to allocate its nodes.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub(crate) allocation_delay: Duration,
}

#[derive(clap::Args, Debug)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// The job to watch: its tasks, and its pool's nodes unless --pool names another pool.
    #[arg(long, required_unless_present = "pool")]
    pub(crate) job: Option<String>,
    /// The pool to watch: its state and nodes.
    #[arg(long)]
    pub(crate) pool: Option<String>,
    /// Plain lines instead of the full screen (also when stdout is not a terminal); exits
    /// once every task of the job completed: 0 if all succeeded, 1 if some failed.
    #[arg(long)]
    pub(crate) headless: bool,
    /// What headless mode writes on stdout: `text` (lines for people) or `json` (one JSON
    /// object per event per line, the schema of `run --output json`, the last line
    /// `finished`); json implies --headless.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    /// Headless: print this task's stdout as it grows.
    #[arg(long, value_name = "TASK", requires = "job")]
    pub(crate) follow: Option<String>,
    /// Headless: give up (exit 3) if the tasks have not all completed after this long, e.g. 30m.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
    /// No deleting, resizing or retrying from the keyboard.
    #[arg(long)]
    pub(crate) readonly: bool,
    /// Where `d` downloads the selected task's files.
    #[arg(long, default_value = "batchdeck-output")]
    pub(crate) output_dir: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(crate) struct BrowseArgs {
    #[command(flatten)]
    pub(crate) target: TargetArgs,
    /// No deleting, resizing or retrying from the keyboard.
    #[arg(long)]
    pub(crate) readonly: bool,
    /// Where `d` downloads a file, or a task's files (under the task's or node's id).
    #[arg(long, default_value = ".")]
    pub(crate) output_dir: PathBuf,
}
