//! batchdeck's command line: parsing and wiring only.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::config::{Config, Overrides, Paths, ProcessEnv};
use batchdeck::emulator::faults::FaultSpec;
use batchdeck::emulator::{self, Emulator, EmulatorConfig};
use batchdeck::workflow::spec::{Disposal, WorkloadOverrides, WorkloadSpec};
use batchdeck::workflow::{EmbeddedOptions, connect, steps, workload};

mod args;

use args::*;

fn default_data_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "batchdeck")
        .context("cannot find a home directory for batchdeck's data; pass --data-dir")?;
    Ok(dirs.data_dir().join("emulator"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Emulator(args)) => run_emulator(args).map(|()| ExitCode::SUCCESS),
        Some(Command::Run(args)) => run_workflow(*args),
        Some(Command::Watch(args)) => watch(args),
        Some(Command::Browse(args)) => browse(args),
        Some(Command::Info(args)) => info(args),
        Some(Command::Profile(ProfileCommand::Save {
            name,
            default,
            target,
        })) => save_profile(&name, default, &target).map(|()| ExitCode::SUCCESS),
        Some(Command::Init { dir }) => init(&dir).map(|()| ExitCode::SUCCESS),
        Some(Command::Completions { shell }) => {
            completions(shell);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man) => man().map(|()| ExitCode::SUCCESS),
        None => run_workflow(*cli.run),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("batchdeck: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line. Library errors already include their cause's text,
/// so a cause is added only when it says something new.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn init(dir: &std::path::Path) -> Result<()> {
    let written = workload::init::init(dir)?;
    for p in &written {
        println!("wrote {}", p.display());
    }
    println!(
        "run it with: batchdeck run -w {}",
        dir.join(workload::init::WORKLOAD_FILE).display()
    );
    Ok(())
}

fn completions(shell: CompletionShell) {
    use clap::CommandFactory;
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "batchdeck",
        &mut std::io::stdout(),
    );
}

fn man() -> Result<()> {
    use clap::CommandFactory;
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("writing the man page")?;
    out.flush()?;
    Ok(())
}

fn run_emulator(args: EmulatorArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BATCHDECK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        // Colours only for a terminal: a log redirected to a file stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    config.speedup = args.speedup;
    config.authority_port = args.authority_port;
    config.token_lifetime = args.token_lifetime;
    config.request_log = args.request_log;
    for s in &args.disable_shared_key {
        match s.as_str() {
            "batch" => config.batch_shared_key = false,
            "storage" => config.storage_shared_key = false,
            _ => {
                config.batch_shared_key = false;
                config.storage_shared_key = false;
            }
        }
    }
    if let Some(f) = args.faults {
        eprintln!("batchdeck: warning: injecting faults: {f}");
        config.faults = f;
    }
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
                "ready batch_endpoint={} blob_endpoint={} batch_account={} storage_account={} data_dir={} authority_host={} tenant_id={} ca_cert={}",
                emu.batch_endpoint,
                emu.blob_endpoint,
                emu.config.batch_account.account(),
                emu.config.storage_account.account(),
                emu.config.data_dir.display(),
                emu.authority_host,
                emulator::entra::DEV_TENANT_ID,
                emu.entra.ca_pem().display()
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

fn resolve_config(t: &TargetArgs) -> Result<Config> {
    let mut paths = Paths::from_os()?;
    if let Some(d) = &t.data_dir {
        paths.data_dir = d.clone();
        paths.log_dir = d.join("logs");
    }
    let overrides = Overrides {
        profile: t.profile.clone(),
        batch_endpoint: t.batch_endpoint.clone(),
        storage_endpoint: t.storage_endpoint.clone(),
        auth: t.auth,
    };
    Ok(Config::resolve(&overrides, &ProcessEnv, paths)?)
}

/// Logs go to a file, never to the terminal (the TUI owns it); secrets are never logged.
fn init_file_logging(paths: &Paths) -> Result<PathBuf> {
    std::fs::create_dir_all(&paths.log_dir)
        .with_context(|| format!("creating the log directory {}", paths.log_dir.display()))?;
    let file = paths.log_dir.join("batchdeck.log");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .with_context(|| format!("opening the log file {}", file.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BATCHDECK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(f))
        .init();
    Ok(file)
}

fn save_profile(name: &str, make_default: bool, t: &TargetArgs) -> Result<()> {
    let mut paths = Paths::from_os()?;
    if let Some(d) = &t.data_dir {
        paths.data_dir = d.clone();
    }
    let overrides = Overrides {
        profile: None,
        batch_endpoint: t.batch_endpoint.clone(),
        storage_endpoint: t.storage_endpoint.clone(),
        auth: t.auth,
    };
    let path =
        batchdeck::config::save_profile(&paths, name, &ProcessEnv, &overrides, make_default)?;
    println!(
        "saved profile {name}{} to {} (mode 0600; keys not shown)",
        if make_default { " (the default)" } else { "" },
        path.display()
    );
    Ok(())
}

fn info(args: InfoArgs) -> Result<ExitCode> {
    let c = resolve_config(&args.target)?;
    println!("configuration from: {}", c.source);
    println!("config file:        {}", c.paths.config_file.display());
    println!("data directory:     {}", c.paths.data_dir.display());
    println!(
        "log file:           {}",
        c.paths.log_dir.join("batchdeck.log").display()
    );
    println!("emulator state:     {}", c.paths.emulator_dir().display());
    println!("batch:              {}", c.batch);
    println!("batch credential:   {}", credential_line(&c.batch));
    println!("storage:            {}", c.storage);
    println!("storage credential: {}", credential_line(&c.storage));
    if !args.check {
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let conn = connect(&c, &EmbeddedOptions::default()).await?;
        let report = batchdeck::workflow::check::check(&conn.clients).await;
        conn.shutdown().await;
        let mut code = ExitCode::SUCCESS;
        for (name, r) in [("batch", report.batch), ("storage", report.storage)] {
            match r {
                Ok(line) => println!("check {name}: {line}"),
                Err(reason) => {
                    println!("check {name}: failed: {reason}");
                    code = ExitCode::FAILURE;
                }
            }
        }
        anyhow::Ok(code)
    })
}

/// Which credential a service uses, for `batchdeck info`.
fn credential_line(e: &batchdeck::config::Endpoint) -> String {
    match e {
        batchdeck::config::Endpoint::Embedded => {
            "Shared Key (the embedded local Azure's well-known keys)".into()
        }
        batchdeck::config::Endpoint::Remote { credential, .. } => credential.describe(),
    }
}

fn run_workflow(args: RunArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let config = resolve_config(&args.target)?;
    let log_file = init_file_logging(&config.paths)?;
    let mut overrides = WorkloadOverrides {
        params: args.set,
        inputs: args.inputs,
        task_script: args.task_script,
    };
    if let Some(n) = args.numwords {
        if n == 0 {
            anyhow::bail!("--numwords must be at least 1");
        }
        overrides.params.push(("numwords".into(), n.to_string()));
    }
    let mut spec = match &args.workload {
        Some(path) => workload::load(path, &overrides)?,
        None => {
            let root = std::env::current_dir().context("reading the current directory")?;
            WorkloadSpec::tutorial_or_built_in(
                &root,
                &config.paths.data_dir.join("tutorial"),
                &overrides,
            )?
        }
    };
    if let Some(c) = args.application_container {
        spec.containers.application = c;
    }
    if let Some(c) = args.input_container {
        spec.containers.input = c;
    }
    if let Some(c) = args.output_container {
        spec.containers.output = c;
    }
    if let Some(id) = args.pool_id {
        spec.pool_id = id;
    }
    if let Some(id) = args.job_id {
        spec.job_id = id;
    }
    if let Some(n) = args.nodes {
        spec.pool.dedicated_nodes = n;
        spec.pool.spot_nodes = 0;
    }
    if let Some(v) = args.vm_size {
        spec.pool.vm_size = v;
    }
    if let Some(v) = args.node_agent_sku {
        spec.pool.image.node_agent_sku_id = v;
    }
    if let Some(d) = args.output_dir {
        spec.output_dir = d;
    }
    spec.force = args.force;
    spec.timeout = args.timeout;
    spec.reuse_pool |= args.reuse_pool;
    spec.journal_dir = Some(config.paths.data_dir.join("runs"));
    spec.delete_job = disposal(args.delete_job, args.keep_job);
    spec.delete_pool = disposal(args.delete_pool, args.keep_pool);
    // Fail on bad input before anything is created or started.
    spec.validate()?;
    tracing::info!(source = %config.source, batch = %config.batch, storage = %config.storage, "run starting");

    let full_screen = !args.headless
        && args.output == OutputFormat::Text
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    let faults = match std::env::var("BATCHDECK_EMULATOR_FAULTS") {
        Ok(s) if !s.trim().is_empty() => s
            .parse()
            .map_err(|e| anyhow::anyhow!("BATCHDECK_EMULATOR_FAULTS: {e}"))?,
        _ => FaultSpec::default(),
    };
    let embedded = EmbeddedOptions {
        allocation_delay: args.allocation_delay,
        node_boot_delay: args.node_boot_delay,
        faults,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let conn = connect(&config, &embedded).await?;
        let code = if full_screen {
            run_tui(
                &conn,
                batchdeck::tui::Session::Run(Box::new(spec)),
                args.readonly,
            )
            .await
        } else {
            let json = args.output == OutputFormat::Json;
            run_headless(&conn, &spec, config.batch.is_embedded(), &log_file, json).await
        };
        conn.shutdown().await;
        code
    })
}

async fn run_headless(
    conn: &batchdeck::workflow::Connection,
    spec: &WorkloadSpec,
    embedded_batch: bool,
    log_file: &std::path::Path,
    json: bool,
) -> Result<ExitCode> {
    use batchdeck::headless;
    use std::io::IsTerminal;
    // A script reading JSON is never asked anything: the flags (or the embedded default) say.
    let interactive = !json && std::io::stdin().is_terminal();
    if json {
        println!(
            "{}",
            headless::json::stamped(serde_json::json!({
                "event": "run_started",
                "workload": spec.name,
                "batch": conn.batch_label(),
                "storage": conn.clients.storage.endpoint().to_string(),
                "log": log_file.display().to_string(),
            }))
        );
    } else {
        println!(
            "{} batchdeck run: batch {}, storage {}, log {}",
            chrono::Local::now().format("%H:%M:%S"),
            conn.batch_label(),
            conn.clients.storage.endpoint(),
            log_file.display()
        );
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let printer = tokio::spawn(headless::print_events(
        rx,
        headless::Format::new(json, false),
    ));
    let ask: steps::Asker = Box::new(move |q| {
        Box::pin(async move {
            let r = q.resource;
            if interactive {
                // What the run found already there is kept unless the answer is yes.
                let (text, default) = if q.reused {
                    (
                        format!("Delete {r} (it was there before this run)? [y/N] "),
                        false,
                    )
                } else {
                    (format!("Delete {r}? [Y/n] "), true)
                };
                tokio::task::spawn_blocking(move || prompt_yes_no(&text, default))
                    .await
                    .unwrap_or(false)
            } else {
                // Nothing on the embedded emulator costs money: clean up what the run made,
                // so that reruns work; never what it found.
                embedded_batch && !q.reused
            }
        })
    });
    let watch = batchdeck::watch::Watch::spawn_nudged(
        &conn.clients.batch,
        tx.clone(),
        batchdeck::watch::Cadences::for_service(embedded_batch),
        conn.batch_changes(),
    );
    let outcome = steps::run(&conn.clients, spec, tx, ask, &watch).await;
    watch.stop();
    drop(watch);
    let _ = printer.await;
    Ok(if tasks_failed(outcome?.tasks) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every step ran, but a script must not carry on as if the tasks had succeeded: says how many
/// failed, if any.
fn tasks_failed(tasks: Option<batchdeck::workflow::wait::Outcome>) -> bool {
    match tasks {
        Some(t) if t.failed > 0 => {
            let blocked = if t.blocked > 0 {
                format!(
                    " and {} more never ran (they depend on a failed task)",
                    t.blocked
                )
            } else {
                String::new()
            };
            eprintln!(
                "batchdeck: {} of {} failed{blocked}; their stdout.txt and stderr.txt tell why (keep the job, with --keep-job, to read them)",
                t.failed,
                batchdeck::util::count(t.failed + t.succeeded + t.blocked, "task")
            );
            true
        }
        _ => false,
    }
}

/// `batchdeck watch`: the job's pool is watched too when --pool does not say otherwise.
fn watch(args: WatchArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let headless = args.headless
        || args.output == OutputFormat::Json
        || !std::io::stdout().is_terminal()
        || !std::io::stdin().is_terminal();
    if headless && args.job.is_none() {
        // A usage mistake, found before anything is read or opened (exit 2, as clap's).
        eprintln!("batchdeck: {HEADLESS_NEEDS_JOB}");
        return Ok(ExitCode::from(2));
    }
    let config = resolve_config(&args.target)?;
    init_file_logging(&config.paths)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        // With no configuration: the embedded local Azure, opened on its persisted state.
        let conn = connect(&config, &EmbeddedOptions::default()).await?;
        let code = watch_on(&conn, &args, headless).await;
        conn.shutdown().await;
        code
    })
}

const HEADLESS_NEEDS_JOB: &str = "watching headless needs --job (it ends once the job's tasks completed); watch a pool alone full screen, in a terminal";

/// `batchdeck browse`: the configured account, or the embedded local Azure on its persisted
/// state.
fn browse(args: BrowseArgs) -> Result<ExitCode> {
    use std::io::IsTerminal;
    let config = resolve_config(&args.target)?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "batchdeck browse needs a terminal (stdin and stdout); for plain lines use `batchdeck watch --job ID --headless`"
        );
    }
    init_file_logging(&config.paths)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let conn = connect(&config, &EmbeddedOptions::default()).await?;
        let session = batchdeck::tui::Session::Browse {
            first: batchdeck::tui::browse::View::Pools,
            output_dir: args.output_dir.clone(),
        };
        let code = run_tui(&conn, session, args.readonly).await;
        conn.shutdown().await;
        code
    })
}

/// Exit code when a watch cannot reach its end (timeout, refused key, no such job).
const WATCH_FAILED: u8 = 3;

async fn watch_on(
    conn: &batchdeck::workflow::Connection,
    args: &WatchArgs,
    headless: bool,
) -> Result<ExitCode> {
    use batchdeck::headless::watch::{self as hw, WatchError};
    let batch = &conn.clients.batch;
    let json = headless && args.output == OutputFormat::Json;
    let stop = |e: WatchError| {
        if json {
            println!("{}", hw::finished_line(Err(&e), std::time::Duration::ZERO));
        }
        eprintln!("batchdeck: {e}");
        Ok(ExitCode::from(WATCH_FAILED))
    };
    let pool = match (&args.pool, &args.job) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(j)) => match batch.get_job(j).await {
            Ok(job) => job.pool_info.pool_id,
            Err(e) if e.is_not_found() => return stop(WatchError::NoSuchJob(j.clone())),
            Err(e) => return stop(WatchError::Refused(e.to_string())),
        },
        (None, None) => None,
    };
    if !headless {
        let session = batchdeck::tui::Session::Watch {
            job_id: args.job.clone(),
            pool_id: pool,
            output_dir: args.output_dir.clone(),
        };
        return run_tui(conn, session, args.readonly).await;
    }
    let Some(job) = &args.job else {
        anyhow::bail!(HEADLESS_NEEDS_JOB);
    };
    let opts = hw::Options {
        job_id: job.clone(),
        pool_id: pool,
        follow: args.follow.clone(),
        timeout: args.timeout,
        cadences: batchdeck::watch::Cadences::for_service(conn.batch_is_embedded()),
        changes: conn.batch_changes(),
    };
    if json {
        println!(
            "{}",
            batchdeck::headless::json::stamped(serde_json::json!({
                "event": "watch_started",
                "job": job,
                "pool": opts.pool_id,
                "batch": conn.batch_label(),
            }))
        );
    } else {
        println!(
            "{} batchdeck watch: job {job} on {}",
            chrono::Local::now().format("%H:%M:%S"),
            conn.batch_label()
        );
    }
    let format = batchdeck::headless::Format::new(json, true);
    let mut out = std::io::stdout();
    match hw::run(batch, &opts, format, &mut out).await {
        Ok(end) if end.ok() => Ok(ExitCode::SUCCESS),
        Ok(end) => {
            // The first 20 ids, then how many more.
            let names = |ids: &[String]| {
                const SHOWN: usize = 20;
                let mut names = ids[..ids.len().min(SHOWN)].join(", ");
                if ids.len() > SHOWN {
                    names.push_str(&format!(" and {} more", ids.len() - SHOWN));
                }
                names
            };
            let mut line = format!(
                "batchdeck: {} of {} of job {job} failed",
                end.failed.len(),
                batchdeck::util::count(end.total, "task")
            );
            if !end.failed.is_empty() {
                line.push_str(&format!(": {}", names(&end.failed)));
            }
            if !end.blocked.is_empty() {
                line.push_str(&format!(
                    "; {} will never run (blocked by a failed task they depend on): {}",
                    end.blocked.len(),
                    names(&end.blocked)
                ));
            }
            eprintln!("{line}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            // As JSON, the watch's `finished` line already said why.
            eprintln!("batchdeck: {e}");
            Ok(ExitCode::from(WATCH_FAILED))
        }
    }
}

async fn run_tui(
    conn: &batchdeck::workflow::Connection,
    session: batchdeck::tui::Session,
    readonly: bool,
) -> Result<ExitCode> {
    use batchdeck::tui;
    let watching = matches!(session, tui::Session::Watch { .. });
    let browsing = matches!(session, tui::Session::Browse { .. });
    let target = tui::app::Target {
        batch_endpoint: conn
            .clients
            .batch
            .endpoint()
            .as_str()
            .trim_end_matches('/')
            .to_string(),
        storage_endpoint: conn.clients.storage.endpoint().to_string(),
        embedded: conn.batch_is_embedded(),
    };
    let clients = Arc::new(conn.clients.clone());
    let report = tui::run(
        clients,
        session,
        target,
        tui::Options {
            readonly,
            changes: conn.batch_changes(),
        },
    )
    .await?;
    // The terminal is back: say how it ended and what is still there (browsing made nothing).
    if browsing {
        return Ok(if report.interrupted {
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        });
    }
    if report.remaining.is_empty() {
        println!(
            "batchdeck: nothing the {} is left behind.",
            if watching {
                "session watched"
            } else {
                "run created"
            }
        );
    } else {
        let place = if conn.batch_is_embedded() {
            " (on the embedded local Azure: nothing is billed)"
        } else {
            ""
        };
        println!("batchdeck: still present{place}:");
        for r in &report.remaining {
            println!("  {r}: {}", r.cost_note());
        }
    }
    if let Some(e) = report.error {
        anyhow::bail!("{e}");
    }
    Ok(match (report.interrupted, report.finished) {
        (true, _) if watching => ExitCode::from(130),
        (false, _) if watching => ExitCode::SUCCESS,
        (true, None) => {
            eprintln!("batchdeck: interrupted before the run finished");
            ExitCode::from(130)
        }
        (true, Some(_)) => ExitCode::from(130),
        (false, Some(true)) if tasks_failed(report.tasks) => ExitCode::FAILURE,
        (false, Some(true)) => ExitCode::SUCCESS,
        (false, _) => ExitCode::FAILURE,
    })
}

fn disposal(delete: bool, keep: bool) -> Disposal {
    match (delete, keep) {
        (true, _) => Disposal::Delete,
        (_, true) => Disposal::Keep,
        _ => Disposal::Ask,
    }
}

fn prompt_yes_no(question: &str, default: bool) -> bool {
    use std::io::BufRead;
    print!("{question}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    match line.trim().to_ascii_lowercase().as_str() {
        "" => default,
        "y" | "yes" => true,
        _ => false,
    }
}
