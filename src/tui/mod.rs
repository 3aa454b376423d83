//! The full-screen session: one loop `select!`s over terminal input, the workflow's and the
//! controller's events, the workflow's questions, signals and a slow tick; it drains what is
//! ready, updates the state, and draws at most one frame per 16 ms, and only when something
//! changed. The terminal is restored on every way out: quit, error, panic, Ctrl-C, SIGTERM,
//! SIGINT, SIGHUP, and a terminal that goes away.

pub mod app;
pub mod browse;
pub mod keys;
pub mod layout;
#[cfg(test)]
pub mod testing;
pub mod theme;
pub mod views;

use std::io::{self, Stdout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream};
use crossterm::{cursor, execute, terminal};
use futures::StreamExt as _;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::{mpsc, oneshot};

use crate::watch::{Cadences, PreviewTarget, Watch};
use crate::workflow::controller::Controller;
use crate::workflow::events::Resource;
use crate::workflow::spec::WorkloadSpec;
use crate::workflow::steps::{self, Asker, Clients};
use app::{Action, App, Msg, RunIds, RunOutputs, Target};

/// Shortest time between two frames.
const FRAME: Duration = Duration::from_millis(16);
/// How often time moves the screen while something runs (the clock, the spinner).
const TICK: Duration = Duration::from_millis(250);

/// Session options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// No deleting, resizing or retrying from the keyboard.
    pub readonly: bool,
    /// The embedded local Azure's changes, which the watcher polls on (see
    /// [`Watch::spawn_nudged`]).
    pub changes: Option<tokio::sync::watch::Receiver<u64>>,
}

/// How the session ended, for what `main` prints once the terminal is back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `Some(ok)` if the workflow ran to its end.
    pub finished: Option<bool>,
    /// The workflow's error, if it failed.
    pub error: Option<String>,
    /// How the tasks ended, if the workflow watched them to the end.
    pub tasks: Option<crate::workflow::wait::Outcome>,
    /// A signal or Ctrl-C ended the session.
    pub interrupted: bool,
    /// What still exists, checked against the services after the session.
    pub remaining: Vec<Resource>,
}

static PANICKED: AtomicBool = AtomicBool::new(false);

/// Whether the session holds the terminal (raw mode, alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Restores the terminal: cooked mode, the main screen, a visible cursor. Does it once: a
/// second "leave the alternate screen" would move the cursor back to where the session
/// started, and what is printed next (a panic's message) would be written over.
pub fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
    }
}

/// Owns the terminal's raw mode and alternate screen; dropping it restores both.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = |e: io::Error| {
            restore_terminal();
            e
        };
        execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide).map_err(guard)?;
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout())).map_err(guard)?;
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// A panic anywhere (the loop, the workflow, the controller) first gives the terminal back,
/// then reports as usual; the loop sees the flag and ends.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            restore_terminal();
            previous(info);
        }));
    });
}

/// Debug builds only: with `BATCHDECK_TEST_PANIC` set, F12 panics inside the session, so that
/// the terminal tests can show that a panic gives the terminal back.
#[cfg(debug_assertions)]
fn test_panic(k: &crossterm::event::KeyEvent) {
    if k.code == crossterm::event::KeyCode::F(12)
        && std::env::var_os("BATCHDECK_TEST_PANIC").is_some()
    {
        panic!("panic injected by BATCHDECK_TEST_PANIC");
    }
}

/// The workflow's questions, answered by the session's dialogs.
fn asker(tx: mpsc::UnboundedSender<(Resource, oneshot::Sender<bool>)>) -> Asker {
    Box::new(move |q| {
        let r = q.resource;
        let tx = tx.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            if tx.send((r, reply)).is_err() {
                return false;
            }
            answer.await.unwrap_or(false)
        })
    })
}

/// Runs the workflow in a full-screen session until the user quits.
/// What a full-screen session does.
#[derive(Debug, Clone)]
pub enum Session {
    /// The workflow, then the same session stays open.
    Run(Box<WorkloadSpec>),
    /// Existing work (`batchdeck watch`): a job (and its pool), or a pool.
    Watch {
        job_id: Option<String>,
        pool_id: Option<String>,
        /// Where `d` downloads a task's files.
        output_dir: std::path::PathBuf,
    },
    /// The whole account (`batchdeck browse`), starting on a view.
    Browse {
        first: browse::View,
        /// Where `d` downloads a task's files.
        output_dir: std::path::PathBuf,
    },
}

/// Runs `session` full screen until the user quits.
pub async fn run(
    clients: Arc<Clients>,
    session: Session,
    target: Target,
    opts: Options,
) -> io::Result<Report> {
    let mut first_view = None;
    let (spec, ids, output_dir) = match session {
        Session::Run(mut spec) => {
            // A task that fails can be retried from the session: its input must stay.
            spec.keep_containers_for_retries = true;
            let ids = RunIds {
                pool_id: spec.pool_id.clone(),
                job_id: spec.job_id.clone(),
                containers: spec
                    .containers
                    .all()
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
            };
            let dir = spec.output_dir.clone();
            (Some(*spec), ids, dir)
        }
        Session::Watch {
            job_id,
            pool_id,
            output_dir,
        } => {
            let ids = RunIds {
                pool_id: pool_id.unwrap_or_default(),
                job_id: job_id.unwrap_or_default(),
                containers: Vec::new(),
            };
            (None, ids, output_dir)
        }
        Session::Browse { first, output_dir } => {
            first_view = Some(first);
            let ids = RunIds {
                pool_id: String::new(),
                job_id: String::new(),
                containers: Vec::new(),
            };
            (None, ids, output_dir)
        }
    };
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let (ask_tx, mut ask_rx) = mpsc::unbounded_channel();
    // The session's watcher: from the first step (or the attach) to the end of the session.
    let watch = Watch::spawn_nudged(
        &clients.batch,
        ev_tx.clone(),
        Cadences::for_service(target.embedded),
        opts.changes.clone(),
    );
    let controller = Controller::new(clients.clone(), ev_tx.clone()).with_watch(watch.clone());

    let mut guard = TerminalGuard::enter()?;
    // The workflow is polled by this loop (not spawned): cancelling it is dropping it.
    let mut workflow = spec
        .as_ref()
        .map(|spec| Box::pin(steps::run(&clients, spec, ev_tx, asker(ask_tx), &watch)));
    let mut previewed: Option<PreviewTarget> = None;

    // Browsing: the watcher of the view on screen (one per view).
    let mut view_watch = browse::watcher::ViewWatch::new(clients.batch.clone());
    let mut app = match &spec {
        _ if first_view.is_some() => {
            let first = first_view.take().unwrap_or(browse::View::Pools);
            App::browsing(target, opts.readonly, Instant::now(), first)
        }
        Some(spec) => {
            let mut app = App::new(target, ids.clone(), opts.readonly, Instant::now());
            app.run_outputs = Some(RunOutputs {
                container: spec.containers.output.clone(),
                // Each task's first output file (a pattern's blobs are not known ahead).
                blobs: spec.output_blobs().into_iter().fold(
                    std::collections::HashMap::new(),
                    |mut m, (blob, task)| {
                        m.entry(task).or_insert(blob);
                        m
                    },
                ),
            });
            app
        }
        None => {
            if !ids.pool_id.is_empty() {
                watch.pool(&ids.pool_id);
            }
            if !ids.job_id.is_empty() {
                watch.job(&ids.job_id);
            }
            App::watching(target, ids.clone(), opts.readonly, Instant::now())
        }
    };
    app.output_dir = output_dir;
    let size = guard.terminal.size()?;
    app.update(Msg::Resize(size.width, size.height));
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut signals = Signals::new();
    let mut pending_answer: Option<oneshot::Sender<bool>> = None;
    let mut report = Report {
        finished: None,
        error: None,
        tasks: None,
        interrupted: false,
        remaining: Vec::new(),
    };
    let mut last_draw: Option<Instant> = None;
    let mut frames: u64 = 0;
    view_watch.sync(app.browse_watching(), None);

    loop {
        if PANICKED.load(Ordering::SeqCst) {
            break;
        }
        let mut frame_wait = None;
        if app.dirty {
            let since = last_draw.map_or(FRAME, |t| t.elapsed());
            if since >= FRAME {
                guard.terminal.draw(|f| views::render(&app, f))?;
                app.dirty = false;
                last_draw = Some(Instant::now());
                frames += 1;
                tracing::trace!(target: "batchdeck::tui::frames", frames, "frame drawn");
            } else {
                frame_wait = Some(FRAME - since);
            }
        }
        if app.quit {
            break;
        }
        let msgs: Vec<Msg> = tokio::select! {
            _ = signals.next() => {
                report.interrupted = true;
                break;
            }
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => {
                    #[cfg(debug_assertions)]
                    test_panic(&k);
                    vec![Msg::Key(k)]
                }
                Some(Ok(TermEvent::Resize(w, h))) => vec![Msg::Resize(w, h)],
                Some(Ok(_)) => Vec::new(),
                // The terminal went away: nobody is left to ask.
                Some(Err(_)) | None => {
                    report.interrupted = true;
                    break;
                }
            },
            Some(e) = ev_rx.recv() => {
                // Browsing: what the user did shows at the view watcher's next poll, now.
                view_watch.hurry();
                let mut v = vec![Msg::Event(e)];
                while v.len() < 4096 {
                    match ev_rx.try_recv() {
                        Ok(e) => v.push(Msg::Event(e)),
                        Err(_) => break,
                    }
                }
                v
            }
            v = view_watch.recv() => v,
            Some((r, reply)) = ask_rx.recv() => {
                pending_answer = Some(reply);
                vec![Msg::Ask(r)]
            }
            done = poll_some(&mut workflow) => {
                workflow = None;
                match done {
                    Ok(summary) => {
                        report.finished = Some(summary.ok);
                        report.tasks = summary.tasks;
                    }
                    Err(e) => {
                        report.finished = Some(false);
                        report.error = Some(e.to_string());
                    }
                }
                Vec::new()
            }
            _ = tick.tick(), if app.wants_ticks() => vec![Msg::Tick(Instant::now())],
            _ = tokio::time::sleep(frame_wait.unwrap_or(FRAME)), if frame_wait.is_some() => Vec::new(),
        };
        app.clock(Instant::now());
        for m in msgs {
            for a in app.update(m) {
                match a {
                    Action::Run(c) => controller.submit(c),
                    Action::Answer(yes) => {
                        if let Some(reply) = pending_answer.take() {
                            let _ = reply.send(yes);
                        }
                    }
                    Action::CancelWorkflow => {
                        if workflow.take().is_some() {
                            // A question it was waiting on has nobody to answer it now.
                            pending_answer = None;
                        }
                    }
                    Action::Quit => {}
                }
            }
        }
        // The "working" sign: what the controller is doing for the user now.
        app.update(Msg::Working(controller.busy()));
        // The selected task's files are the watcher's to read (debounced there; a target it
        // already has changes nothing).
        let target = app.preview_target();
        if app.browse.is_some() {
            view_watch.sync(app.browse_watching(), target);
            view_watch.search(app.log_search());
        } else if target != previewed {
            watch.preview(target.clone());
            previewed = target;
        }
    }
    watch.stop();
    view_watch.stop();
    drop(workflow);
    drop(guard);
    tracing::info!(frames, "session ended");
    report.interrupted |= app.interrupted;
    if PANICKED.load(Ordering::SeqCst) {
        return Err(io::Error::other(
            "batchdeck panicked; the terminal was restored",
        ));
    }
    // Tasks retried after the run count as they ended last.
    if report.tasks.is_some()
        && let Some(c) = app.counts
        && c.total() > 0
        && c.completed == c.total()
    {
        report.tasks = Some(crate::workflow::wait::Outcome {
            succeeded: c.succeeded,
            failed: c.failed,
            // Every task completed: none is left waiting on a failed one.
            blocked: 0,
        });
    }
    // Browsing creates nothing: what the account holds is not the session's to report.
    if app.browse.is_none() {
        report.remaining = remaining(&clients, &app, &ids).await;
    }
    Ok(report)
}

/// What still exists, asked of the services (the session may have been cut off in the middle
/// of a create): the job, the pool and the containers the session knew of or may have made.
async fn remaining(clients: &Clients, app: &App, ids: &RunIds) -> Vec<Resource> {
    use crate::tui::app::Presence;
    use crate::workflow::events::Step;
    // What the session knew of, and what it may have made without hearing so (a create cut
    // off by the end of the session).
    let reached = |step: Step| {
        app.steps
            .iter()
            .any(|(s, st)| *s == step && *st != app::StepState::Pending)
    };
    let mut candidates = Vec::new();
    let mut consider = |r: Resource, step: Step| match app.presence(&r) {
        Some(Presence::Gone) => {}
        Some(_) => candidates.push(r),
        None if reached(step) => candidates.push(r),
        None => {}
    };
    consider(Resource::Job(ids.job_id.clone()), Step::CreateJob);
    consider(Resource::Pool(ids.pool_id.clone()), Step::CreatePool);
    for c in &ids.containers {
        consider(Resource::Container(c.clone()), Step::CreateContainers);
    }
    let believed: Vec<Resource> = app
        .resources
        .iter()
        .filter(|(_, p)| *p != Presence::Gone)
        .map(|(r, _)| r.clone())
        .collect();
    crate::workflow::remaining::still_present(clients, &candidates, &believed).await
}

/// The output of `f` when there is one to poll; otherwise never.
async fn poll_some<F: std::future::Future + Unpin>(f: &mut Option<F>) -> F::Output {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// SIGTERM, SIGINT and SIGHUP (Ctrl-C in raw mode arrives as a key instead).
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    hup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        }
    }

    async fn next(&mut self) {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.term) => {}
            _ = recv(&mut self.int) => {}
            _ = recv(&mut self.hup) => {}
        }
    }
}
