//! The watcher's engine: one slot per kind of poller (pool, nodes, job, tail), each with at most
//! one request in flight and its own adaptive schedule; transient failures put the whole
//! watcher in an outage, probed by one request at a time with backoff until the service
//! answers, then every poller catches up at once.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};

use crate::azure::batch::{BatchClient, BatchError};
use crate::azure::models::TaskState;
use crate::watch::FileWindow;
use crate::watch::convert::{BROWSE_NODE_SELECT, NODE_SELECT};
use crate::watch::convert::{node_in_transition, pool_in_transition};
use crate::watch::pollers::{
    DetailsPoller, FilePoller, FilesPoller, JobPoller, JobsPoller, Learned, NodesPoller, Polled,
    Poller, PoolPoller, PoolsPoller, TailPoller,
};
use crate::watch::schedule::{Backoff, Cadence, Schedule};
use crate::watch::{PreviewTarget, Snapshot};
use crate::workflow::events::{Entity, FilesOf};
use crate::workflow::events::{Event, Health, Resource};

const SEC: Duration = Duration::from_secs(1);

/// How often each poller runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadences {
    /// A pool that is steady, and its nodes when none is changing state.
    pub pool_steady: Cadence,
    /// A pool that is resizing or being deleted, or nodes that boot.
    pub pool_moving: Cadence,
    /// A job with active or running tasks.
    pub job_busy: Cadence,
    /// A job whose tasks all completed (or that has none).
    pub job_idle: Cadence,
    /// The stdout and stderr of a running task on screen.
    pub tail: Cadence,
    /// How long the selection must stay on a task before its files are read.
    pub debounce: Duration,
}

impl Default for Cadences {
    fn default() -> Self {
        Cadences {
            pool_steady: Cadence::new(SEC, 15 * SEC),
            pool_moving: Cadence::new(SEC, 2 * SEC),
            job_busy: Cadence::new(SEC, 5 * SEC),
            job_idle: Cadence::new(SEC, 15 * SEC),
            tail: Cadence::new(SEC, SEC * 3 / 2),
            debounce: Duration::from_millis(150),
        }
    }
}

impl Cadences {
    /// The pace for a Batch service: the default one, or, for the embedded local Azure (in
    /// this process, on loopback, where a poll costs well under a millisecond), a quickest
    /// pace ten times as quick (a task that ends is seen within 0.1 s, not 1 s). The slow
    /// bounds are the same: a session that nothing moves in polls as rarely.
    pub fn for_service(embedded: bool) -> Cadences {
        let default = Cadences::default();
        if !embedded {
            return default;
        }
        let quick = |c: Cadence| Cadence::new(c.quick / 10, c.slow);
        Cadences {
            pool_steady: quick(default.pool_steady),
            pool_moving: quick(default.pool_moving),
            job_busy: quick(default.job_busy),
            job_idle: quick(default.job_idle),
            tail: Cadence::new(default.tail.quick / 4, default.tail.slow),
            debounce: default.debounce,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pool = 0,
    Nodes = 1,
    Job = 2,
    Tail = 3,
    Pools = 4,
    Jobs = 5,
    Files = 6,
    File = 7,
    Details = 8,
}

const KINDS: [Kind; 9] = [
    Kind::Job,
    Kind::Pool,
    Kind::Nodes,
    Kind::Tail,
    Kind::Pools,
    Kind::Jobs,
    Kind::Files,
    Kind::File,
    Kind::Details,
];

#[derive(Debug)]
struct Slot {
    /// The poller, when no request of it is in flight.
    poller: Option<Poller>,
    /// A request is in flight.
    busy: bool,
    /// Waits until something wakes it (a task that has not started, a tail read to its end).
    parked: bool,
    /// The service said something changed while a request was in flight, maybe after it read.
    nudged: bool,
    schedule: Schedule,
    /// Bumped when the slot gets a new target while a request of the old one is in flight.
    generation: u64,
}

impl Slot {
    fn new(poller: Poller, cadence: Cadence, at: Instant) -> Slot {
        Slot {
            poller: Some(poller),
            busy: false,
            parked: false,
            nudged: false,
            schedule: Schedule::starting(cadence, at),
            generation: 0,
        }
    }
}

struct Done {
    kind: Kind,
    generation: u64,
    poller: Poller,
    result: Result<Polled, BatchError>,
    /// A probe's events, held back until the reconnection is reported.
    held: Option<mpsc::UnboundedReceiver<Event>>,
}

/// The service does not answer: one request at a time probes it, with backoff.
#[derive(Debug)]
struct Outage {
    since: Instant,
    backoff: Backoff,
    retry_at: Instant,
    /// The probe in flight, if any.
    probe: Option<Kind>,
}

/// What an error means for a watch.
enum Failure {
    /// The resource no longer exists.
    Gone,
    /// Waiting cannot fix it (the account's key is refused): the watch ends.
    Fatal,
    /// Wait and try again.
    Transient,
}

fn classify(e: &BatchError) -> Failure {
    match e.status() {
        Some(404) => Failure::Gone,
        Some(401 | 403) => Failure::Fatal,
        // Connections refused or reset, timeouts, 408/429/5xx, and anything else the service
        // may stop saying: waited out, never acted on.
        _ => Failure::Transient,
    }
}

/// The previewed task and what is known of its state.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Previewed {
    job_id: String,
    task_id: String,
    state: Option<TaskState>,
    /// When its last run started, once known: a new start is a new run even when no poll
    /// saw it between two completions.
    started: Option<chrono::DateTime<chrono::Utc>>,
    /// Its files were read after it completed: nothing more will come.
    final_read: bool,
}

/// The watcher: pollers for what is on screen. [`crate::watch::Watch::spawn`] runs it on a
/// task; benchmarks and tests drive it round by round with [`Watcher::round`].
pub struct Watcher {
    batch: BatchClient,
    tx: mpsc::UnboundedSender<Event>,
    snapshot: watch::Sender<Snapshot>,
    slots: [Option<Slot>; 9],
    inflight: FuturesUnordered<BoxFuture<'static, Done>>,
    outage: Option<Outage>,
    previewed: Option<Previewed>,
    pub cadences: Cadences,
    /// The watched job and pool, for `Gone` events.
    job_id: Option<String>,
    pool_id: Option<String>,
    /// The nodes' properties asked for: the panels', or browsing's (which shows more).
    node_select: &'static str,
    /// Changes when the service's state changes, if the service says so (the embedded
    /// local Azure, in this process).
    nudges: Option<watch::Receiver<u64>>,
}

impl Watcher {
    pub fn new(batch: BatchClient, tx: mpsc::UnboundedSender<Event>) -> Watcher {
        let (snapshot, _) = watch::channel(Snapshot::default());
        Watcher {
            batch,
            tx,
            snapshot,
            slots: Default::default(),
            inflight: FuturesUnordered::new(),
            outage: None,
            previewed: None,
            cadences: Cadences::default(),
            job_id: None,
            pool_id: None,
            node_select: NODE_SELECT,
            nudges: None,
        }
    }

    /// Polls soon after each change `changes` reports (see [`Schedule::nudge`]) rather than
    /// only on the timer: for the embedded local Azure, whose state changes are known here.
    pub fn nudged_by(&mut self, changes: watch::Receiver<u64>) {
        self.nudges = Some(changes);
    }

    /// The service's state changed: every poller runs a quick interval after its last poll;
    /// one in flight runs again a quick interval after it returns.
    pub fn nudge(&mut self, now: Instant) {
        for s in self.slots.iter_mut().flatten() {
            if s.busy {
                s.nudged = true;
            } else if !s.parked {
                s.schedule.nudge(now);
            }
        }
    }

    /// Takes a change reported since the last look, if any.
    fn take_nudge(&mut self, now: Instant) {
        if let Some(rx) = &mut self.nudges
            && rx.has_changed().unwrap_or(false)
        {
            rx.borrow_and_update();
            self.nudge(now);
        }
    }

    /// What the watcher knows, updated after each poll.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.subscribe()
    }

    fn slot(&mut self, k: Kind) -> &mut Option<Slot> {
        &mut self.slots[k as usize]
    }

    /// Replaces what a slot watches; a request of the old target still in flight is dropped
    /// when it returns.
    fn put(&mut self, k: Kind, poller: Poller, cadence: Cadence, at: Instant) {
        match self.slot(k) {
            Some(s) => {
                s.generation += 1;
                s.poller = Some(poller);
                s.parked = false;
                s.schedule = Schedule::starting(cadence, at);
            }
            None => *self.slot(k) = Some(Slot::new(poller, cadence, at)),
        }
    }

    /// Watch pool `id` and its nodes (from `now`).
    pub fn watch_pool(&mut self, id: &str, now: Instant) {
        if self.pool_id.as_deref() == Some(id) && self.slots[Kind::Pool as usize].is_some() {
            return;
        }
        self.pool_id = Some(id.to_string());
        let c = self.cadences.pool_moving;
        self.put(Kind::Pool, Poller::Pool(PoolPoller::new(id.into())), c, now);
        self.put(
            Kind::Nodes,
            Poller::Nodes(NodesPoller::new(id.into(), self.node_select)),
            c,
            now,
        );
        self.publish(|s| s.pool_gone = false);
    }

    /// Watch job `id`'s counts and tasks (from `now`).
    pub fn watch_job(&mut self, id: &str, now: Instant) {
        if self.job_id.as_deref() == Some(id) && self.slots[Kind::Job as usize].is_some() {
            return;
        }
        self.job_id = Some(id.to_string());
        let c = self.cadences.job_busy;
        self.put(Kind::Job, Poller::Job(JobPoller::new(id.into())), c, now);
        self.publish(|s| s.job_gone = false);
    }

    /// Browsing: the nodes' rows show their address, size and scheduling state too.
    pub fn browsing(&mut self) {
        self.node_select = BROWSE_NODE_SELECT;
    }

    /// Watch the account's pools (from `now`).
    pub fn watch_pools(&mut self, now: Instant) {
        if self.slots[Kind::Pools as usize].is_some() {
            return;
        }
        let c = self.cadences.job_busy;
        self.put(Kind::Pools, Poller::Pools(PoolsPoller::default()), c, now);
    }

    /// Watch the account's jobs, with the task counts of `counts_for` (the rows on screen).
    pub fn watch_jobs(&mut self, counts_for: Vec<String>, now: Instant) {
        let c = self.cadences.job_busy;
        self.put(
            Kind::Jobs,
            Poller::Jobs(JobsPoller::new(counts_for)),
            c,
            now,
        );
    }

    /// Watch the files of a task or a node (browsing).
    pub fn watch_files(&mut self, of: FilesOf, now: Instant) {
        let c = self.cadences.job_busy;
        self.put(Kind::Files, Poller::Files(FilesPoller::new(of)), c, now);
    }

    /// Read a window of a file (browsing's log viewer), and what is appended when following.
    pub fn watch_file(&mut self, w: FileWindow, now: Instant) {
        let c = self.cadences.tail;
        let p = FilePoller::new(w.of, w.path, w.from, w.follow, w.window);
        self.put(Kind::File, Poller::File(p), c, now);
    }

    /// Read an entity's properties, again as they change (browsing's details view).
    pub fn watch_details(&mut self, of: Entity, now: Instant) {
        let c = self.cadences.pool_steady;
        self.put(
            Kind::Details,
            Poller::Details(DetailsPoller::new(of)),
            c,
            now,
        );
    }

    /// Read the end of a task's stdout and stderr: after the debounce, then while it runs,
    /// and once more when it completes. `None` stops.
    pub fn preview(&mut self, target: Option<PreviewTarget>, now: Instant) {
        let Some(t) = target else {
            self.previewed = None;
            if let Some(s) = self.slot(Kind::Tail) {
                s.generation += 1;
                s.poller = None;
            }
            return;
        };
        if self
            .previewed
            .as_ref()
            .is_some_and(|p| p.task_id == t.task_id && p.job_id == t.job_id)
        {
            // Already on screen: its reads go on as they were.
            return;
        }
        let at = now + self.cadences.debounce;
        self.publish(|s| s.preview_done = false);
        self.previewed = Some(Previewed {
            job_id: t.job_id.clone(),
            task_id: t.task_id.clone(),
            state: t.state.clone(),
            started: None,
            final_read: false,
        });
        let c = self.cadences.tail;
        self.put(
            Kind::Tail,
            Poller::Tail(TailPoller::new(t.job_id, t.task_id, t.from)),
            c,
            at,
        );
        // Its first read (after the debounce) asks the task's state: one waiting for a node
        // has no files yet, and they are read once it runs.
    }

    /// The user acted (or the workflow did): every poller runs again at once.
    pub fn hurry(&mut self, now: Instant) {
        for s in self.slots.iter_mut().flatten() {
            if !s.parked {
                s.schedule.hurry(now);
            }
        }
    }

    /// Starts every poller that is due (during an outage, one probe once its wait is over).
    fn start_due(&mut self, now: Instant) {
        self.take_nudge(now);
        if let Some(o) = &self.outage {
            if !self.inflight.is_empty() || now < o.retry_at {
                return;
            }
            let probe = KINDS.into_iter().find(|k| {
                self.slots[*k as usize]
                    .as_ref()
                    .is_some_and(|s| !s.busy && !s.parked && s.poller.is_some())
            });
            if let Some(k) = probe {
                if let Some(o) = &mut self.outage {
                    o.probe = Some(k);
                }
                self.start(k, true);
            }
            return;
        }
        for k in KINDS {
            let due = self.slots[k as usize]
                .as_ref()
                .is_some_and(|s| !s.busy && !s.parked && s.poller.is_some() && s.schedule.due(now));
            if due {
                self.start(k, false);
            }
        }
    }

    /// Sends one request of slot `k`. A probe's events wait until the reconnection is
    /// reported, so that what it learned reads as the catching up it is.
    fn start(&mut self, k: Kind, probe: bool) {
        let previewed = self.previewed.as_ref().map(|p| p.task_id.clone());
        let batch = self.batch.clone();
        let (tx, held) = if probe {
            let (tx, rx) = mpsc::unbounded_channel();
            (tx, Some(rx))
        } else {
            (self.tx.clone(), None)
        };
        let Some(s) = self.slot(k) else { return };
        let Some(mut poller) = s.poller.take() else {
            return;
        };
        s.busy = true;
        let generation = s.generation;
        self.inflight.push(Box::pin(async move {
            let result = poller.poll(&batch, &tx, previewed.as_deref()).await;
            Done {
                kind: k,
                generation,
                poller,
                result,
                held,
            }
        }));
    }

    /// When the next poller is due (or the outage's next probe), if any is waiting.
    pub fn next_due(&self) -> Option<Instant> {
        if let Some(o) = &self.outage {
            return self.inflight.is_empty().then_some(o.retry_at);
        }
        self.slots
            .iter()
            .flatten()
            .filter(|s| !s.busy && !s.parked && s.poller.is_some())
            .map(|s| s.schedule.next)
            .min()
    }

    /// One round at `now`: starts what is due and waits for all of it (benchmarks and tests
    /// drive the watcher on their own clock with this).
    pub async fn round(&mut self, now: Instant) {
        self.start_due(now);
        while let Some(done) = self.inflight.next().await {
            self.finish(done, now);
        }
    }

    /// Runs until every handle is dropped or [`Cmd::Stop`] arrives.
    pub(crate) async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<crate::watch::Cmd>) {
        use crate::watch::Cmd;
        loop {
            self.start_due(Instant::now());
            let wake = self.next_due();
            tokio::select! {
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => {
                    self.finish(done, Instant::now());
                }
                cmd = cmds.recv() => {
                    let now = Instant::now();
                    match cmd {
                        None | Some(Cmd::Stop) => break,
                        Some(Cmd::Pool(id)) => self.watch_pool(&id, now),
                        Some(Cmd::Job(id)) => self.watch_job(&id, now),
                        Some(Cmd::Preview(t)) => self.preview(t, now),
                        Some(Cmd::Hurry) => self.hurry(now),
                        Some(Cmd::Pools) => self.watch_pools(now),
                        Some(Cmd::Jobs(counts_for)) => self.watch_jobs(counts_for, now),
                        Some(Cmd::Files(of)) => self.watch_files(of, now),
                        Some(Cmd::File(w)) => self.watch_file(w, now),
                        Some(Cmd::Details(of)) => self.watch_details(of, now),
                    }
                }
                changed = changed(&mut self.nudges) => match changed {
                    true => self.nudge(Instant::now()),
                    // The service stopped: nothing more to hear.
                    false => self.nudges = None,
                },
                _ = sleep_until(wake), if wake.is_some() => {}
            }
        }
    }

    fn finish(&mut self, done: Done, now: Instant) {
        let Done {
            kind,
            generation,
            poller,
            result,
            held,
        } = done;
        let probe = self.outage.as_ref().and_then(|o| o.probe) == Some(kind);
        {
            let Some(s) = self.slot(kind) else { return };
            s.busy = false;
            if s.generation != generation {
                // Its target changed meanwhile: what it read is not what is on screen.
                return;
            }
            s.poller = Some(poller);
        }
        match result {
            Ok(polled) => {
                if let Some(o) = self.outage.take() {
                    let after = now.saturating_duration_since(o.since);
                    tracing::info!(?after, "the Batch service answers again");
                    let _ = self.tx.send(Event::Health(Health::Reconnected { after }));
                    self.publish(|s| s.reconnecting = None);
                    self.hurry(now);
                }
                if let Some(mut held) = held {
                    while let Ok(e) = held.try_recv() {
                        let _ = self.tx.send(e);
                    }
                }
                if let Some(s) = self.slot(kind) {
                    s.schedule.polled(now, polled.changed);
                    if std::mem::take(&mut s.nudged) {
                        s.schedule.nudge(now);
                    }
                }
                self.learn(kind, polled, now);
            }
            Err(e) => match classify(&e) {
                Failure::Gone => self.gone(kind),
                Failure::Fatal => {
                    let error = e.to_string();
                    tracing::warn!(%error, "the watch ends");
                    let _ = self.tx.send(Event::WatchFailed {
                        error: error.clone(),
                    });
                    self.slots = Default::default();
                    self.publish(|s| s.fatal = Some(error));
                }
                Failure::Transient => self.failed(kind, &e, probe, now),
            },
        }
    }

    fn failed(&mut self, kind: Kind, e: &BatchError, probe: bool, now: Instant) {
        let new = self.outage.is_none();
        let o = self.outage.get_or_insert(Outage {
            since: now,
            backoff: Backoff::default(),
            retry_at: now,
            probe: None,
        });
        if new || probe {
            let wait = o.backoff.failed(rand::random::<f64>());
            o.retry_at = now + wait;
            o.probe = None;
            let attempt = o.backoff.attempt;
            tracing::warn!(attempt, error = %e, ?wait, "cannot reach the Batch service; waiting");
            let error = e.brief();
            let _ = self.tx.send(Event::Health(Health::Reconnecting {
                attempt,
                error,
                retry_in: wait,
            }));
            self.publish(|s| s.reconnecting = Some(attempt));
        }
        let retry_at = self.outage.as_ref().map(|o| o.retry_at).unwrap_or(now);
        if let Some(s) = self.slot(kind) {
            s.schedule.next = retry_at;
        }
    }

    /// A watched resource is gone: stop polling it and say so once.
    fn gone(&mut self, kind: Kind) {
        match kind {
            Kind::Pool | Kind::Nodes => {
                if self.slots[Kind::Pool as usize].is_none() {
                    return;
                }
                self.slots[Kind::Pool as usize] = None;
                self.slots[Kind::Nodes as usize] = None;
                if let Some(id) = &self.pool_id {
                    let _ = self.tx.send(Event::Gone(Resource::Pool(id.clone())));
                }
                self.publish(|s| {
                    s.pool_gone = true;
                    s.pool = None;
                    s.nodes = None;
                });
            }
            Kind::Job => {
                self.slots[Kind::Job as usize] = None;
                self.slots[Kind::Tail as usize] = None;
                if let Some(id) = &self.job_id {
                    let _ = self.tx.send(Event::Gone(Resource::Job(id.clone())));
                }
                self.publish(|s| s.job_gone = true);
            }
            // An account's lists are always there.
            Kind::Pools | Kind::Jobs => {}
            // A task with no files yet (waiting for a node), a file not written yet: asked
            // again at the next poll.
            Kind::Files | Kind::File => {}
            // The details poller says itself that its entity is not there.
            Kind::Details => {}
            // A task file that is not there yet is read as empty by the poller; a task that
            // is gone has nothing more to show.
            Kind::Tail => {
                if let Some(s) = self.slot(Kind::Tail) {
                    s.parked = true;
                }
            }
        }
    }

    /// Adapts the schedules to what a poll learned and updates the snapshot.
    fn learn(&mut self, kind: Kind, polled: Polled, now: Instant) {
        let c = self.cadences;
        match polled.learned {
            Learned::Pool(v) => {
                let cadence = if pool_in_transition(&v) {
                    c.pool_moving
                } else {
                    c.pool_steady
                };
                if let Some(s) = self.slot(Kind::Pool) {
                    s.schedule.set_cadence(cadence, now);
                }
                if polled.changed
                    && let Some(s) = self.slot(Kind::Nodes)
                {
                    s.schedule.hurry(now);
                }
                self.publish(|s| s.pool = Some(v));
            }
            Learned::Nodes(nodes) => {
                let cadence = if nodes.iter().any(node_in_transition) {
                    c.pool_moving
                } else {
                    c.pool_steady
                };
                if let Some(s) = self.slot(Kind::Nodes) {
                    s.schedule.set_cadence(cadence, now);
                }
                self.publish(|s| s.nodes = Some(nodes));
            }
            Learned::Job { counts, previewed } => {
                let cadence = if counts.active + counts.running > 0 {
                    c.job_busy
                } else {
                    c.job_idle
                };
                if let Some(s) = self.slot(Kind::Job) {
                    s.schedule.set_cadence(cadence, now);
                }
                // Nodes go idle or busy as tasks move.
                if polled.changed
                    && let Some(s) = self.slot(Kind::Nodes)
                {
                    s.schedule.hurry(now);
                }
                if let Some(t) = previewed {
                    self.previewed_state(t.state, t.started, now);
                }
                self.publish(|s| s.counts = Some(counts));
            }
            Learned::Lists => {}
            Learned::File { done } => {
                if done && let Some(s) = self.slot(Kind::File) {
                    s.parked = true;
                }
            }
            Learned::Tail { task } => {
                // Its first read found it in this state: files read after it completed are
                // its last; one waiting for a node waits (parked) until it runs.
                if let Some(t) = task {
                    if let Some(p) = self.previewed.as_mut().filter(|p| p.task_id == t.id) {
                        p.state = Some(t.state.clone());
                        p.started = p.started.or(t.started);
                    }
                    if t.state == TaskState::Active
                        && let Some(s) = self.slot(Kind::Tail)
                    {
                        s.parked = true;
                    }
                }
                let done = self
                    .previewed
                    .as_mut()
                    .filter(|p| p.state == Some(TaskState::Completed))
                    .map(|p| p.final_read = true)
                    .is_some();
                if done {
                    if let Some(s) = self.slot(Kind::Tail) {
                        s.parked = true;
                    }
                    self.publish(|s| s.preview_done = true);
                }
                let _ = kind;
            }
        }
    }

    /// The previewed task moved: read its files while it runs, once more when it ends.
    fn previewed_state(
        &mut self,
        state: TaskState,
        started: Option<chrono::DateTime<chrono::Utc>>,
        now: Instant,
    ) {
        let Some(p) = &mut self.previewed else { return };
        // Retried and run again between two polls: completed both times, started anew.
        let restarted = p.started.is_some() && started.is_some() && p.started != started;
        if started.is_some() {
            p.started = started;
        }
        if p.state.as_ref() == Some(&state) && !restarted {
            return;
        }
        // A new run (a retry after it completed, a requeue while it ran) writes its files
        // from the start: they are read from the start again.
        let rerun = restarted
            || matches!(
                (&p.state, &state),
                (Some(TaskState::Completed), s) if *s != TaskState::Completed
            )
            || matches!(
                (&p.state, &state),
                (
                    Some(TaskState::Running | TaskState::Preparing),
                    TaskState::Active
                )
            );
        p.state = Some(state.clone());
        p.final_read = false;
        self.publish(|s| s.preview_done = false);
        let fresh = rerun.then(|| {
            let p = self.previewed.as_ref().expect("checked above");
            TailPoller::new(p.job_id.clone(), p.task_id.clone(), [0, 0])
        });
        let Some(s) = self.slot(Kind::Tail) else {
            return;
        };
        if let Some(poller) = fresh {
            s.generation += 1;
            s.poller = Some(Poller::Tail(poller));
        }
        match state {
            TaskState::Active => s.parked = true,
            _ => {
                // Running: read now and keep reading; completed: read the last bytes now.
                s.parked = false;
                s.schedule.hurry(now);
            }
        }
    }

    fn publish(&self, f: impl FnOnce(&mut Snapshot)) {
        self.snapshot.send_modify(|s| {
            f(s);
            s.version += 1;
        });
    }
}

/// Whether `rx` reports a change (`false`: its sender is gone); never, without one.
async fn changed(rx: &mut Option<watch::Receiver<u64>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_local_azure_is_polled_ten_times_as_quickly_and_as_rarely_when_idle() {
        let default = Cadences::default();
        assert_eq!(Cadences::for_service(false), default);
        let local = Cadences::for_service(true);
        let pairs = [
            (local.pool_steady, default.pool_steady),
            (local.pool_moving, default.pool_moving),
            (local.job_busy, default.job_busy),
            (local.job_idle, default.job_idle),
        ];
        for (l, d) in pairs {
            assert_eq!(l.quick, Duration::from_millis(100), "{l:?}");
            assert_eq!(l.slow, d.slow, "{l:?}");
        }
        assert!(local.tail.quick < default.tail.quick);
        assert_eq!(local.tail.slow, default.tail.slow);
    }
}
