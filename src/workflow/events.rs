//! What the workflow and the monitor tell their consumers (the TUI, the headless printer).
//! The views are the workflow's own small types, decoupled from the REST models.

use std::path::PathBuf;
use std::time::Duration;

use crate::azure::models::{
    AllocationState, JobState, NodeState, PoolState, SchedulingState, StartTaskState,
    TaskExecutionResult, TaskState,
};

/// The nine steps of the tutorial, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    CreateContainers,
    Upload,
    CreatePool,
    CreateJob,
    AddTasks,
    Monitor,
    Download,
    DeleteContainers,
    Cleanup,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::CreateContainers,
        Step::Upload,
        Step::CreatePool,
        Step::CreateJob,
        Step::AddTasks,
        Step::Monitor,
        Step::Download,
        Step::DeleteContainers,
        Step::Cleanup,
    ];

    pub fn number(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }

    pub fn title(self) -> &'static str {
        match self {
            Step::CreateContainers => "Create containers",
            Step::Upload => "Upload script and inputs",
            Step::CreatePool => "Create pool",
            Step::CreateJob => "Create job",
            Step::AddTasks => "Add tasks",
            Step::Monitor => "Wait for tasks",
            Step::Download => "Download outputs",
            Step::DeleteContainers => "Delete containers",
            Step::Cleanup => "Delete job and pool",
        }
    }
}

/// The workload a run runs, as the panels and lines name it (`workflow::plan`): sent once,
/// before step 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadView {
    pub name: String,
    pub pool_id: String,
    pub job_id: String,
    /// The application, input and output containers.
    pub containers: Vec<String>,
    /// Its task groups (one a `[[tasks]]` entry) in order, and how many tasks each has.
    pub groups: Vec<(String, usize)>,
    /// Each step's title in the workload's words, in the order of [`Step::ALL`].
    pub steps: Vec<String>,
}

impl WorkloadView {
    /// Its tasks by group: `6 tasks (count ×5, total)`.
    pub fn tasks_text(&self) -> String {
        let all = self.tasks_count();
        match self.named_groups() {
            Some(g) => format!("{all} ({g})"),
            None => all,
        }
    }

    /// `6 tasks`.
    fn tasks_count(&self) -> String {
        let total: usize = self.groups.iter().map(|(_, n)| n).sum();
        crate::util::count(total, "task")
    }

    /// Its task groups by name (`count ×5, total`), or None when one group that only a
    /// placeholder names (the tutorial's) makes them all: nothing to add to the count.
    pub fn named_groups(&self) -> Option<String> {
        let g = crate::workflow::plan::groups_text(&self.groups);
        (g != self.tasks_count()).then_some(g)
    }

    /// The containers step 2 uploads to (application and input, once each): `app, input`.
    pub fn upload_containers(&self) -> String {
        let mut to: Vec<&str> = Vec::new();
        for c in self.containers.iter().take(2) {
            if !to.contains(&c.as_str()) {
                to.push(c);
            }
        }
        to.join(", ")
    }

    /// `step`'s title in the workload's words.
    pub fn title(&self, step: Step) -> &str {
        self.steps
            .get(step.number() - 1)
            .map_or(step.title(), String::as_str)
    }
}

/// A node as the panels show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub id: String,
    pub state: NodeState,
    pub start_task_state: Option<StartTaskState>,
    pub start_task_exit_code: Option<i32>,
    pub start_task_retries: u32,
    pub start_task_failure: Option<String>,
    pub running_tasks: u32,
    /// What browsing a pool's nodes shows besides (empty or `None` when not asked for).
    pub ip: Option<String>,
    pub vm_size: Option<String>,
    pub scheduling: Option<SchedulingState>,
}

/// A pool as the panels show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolView {
    pub id: String,
    /// Empty (`Unknown("")`) when the service left it out.
    pub state: PoolState,
    pub allocation_state: AllocationState,
    pub vm_size: String,
    pub target_dedicated: u32,
    pub current_dedicated: u32,
    pub target_low_priority: u32,
    pub current_low_priority: u32,
    /// The last autoscale evaluation, when the pool autoscales.
    pub autoscale: Option<AutoscaleView>,
}

/// A row of the account's pools (`batchdeck browse`): the pool's panel view and more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRow {
    pub pool: PoolView,
    pub task_slots: u32,
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    /// Its nodes (dedicated and Spot) by state, from the account's node counts.
    pub nodes: Option<crate::azure::models::NodeCounts>,
}

/// A row of the account's jobs (`batchdeck browse`); `counts` once they were asked for (only
/// the jobs on screen are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: String,
    pub state: JobState,
    pub pool_id: Option<String>,
    pub priority: i32,
    pub created: Option<chrono::DateTime<chrono::Utc>>,
    pub counts: Option<TaskCounts>,
}

/// Whose files (the Batch files API of a task or of a node).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FilesOf {
    Task { job: String, task: String },
    Node { pool: String, node: String },
}

impl std::fmt::Display for FilesOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilesOf::Task { task, .. } => write!(f, "task {task}"),
            FilesOf::Node { node, .. } => write!(f, "node {node}"),
        }
    }
}

/// An entity of the account whose properties browsing's details view shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entity {
    Pool(String),
    Job(String),
    Node { pool: String, node: String },
    Task { job: String, task: String },
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entity::Pool(id) => write!(f, "pool {id}"),
            Entity::Job(id) => write!(f, "job {id}"),
            Entity::Node { node, .. } => write!(f, "node {node}"),
            Entity::Task { task, .. } => write!(f, "task {task}"),
        }
    }
}

/// An entity's properties as the service returned them, with every SAS signature redacted
/// (the only way to make one redacts them, so none reaches the screen or a log).
#[derive(Debug, Clone, PartialEq)]
pub struct Properties(serde_json::Value);

impl Properties {
    pub fn from_service(json: serde_json::Value) -> Properties {
        Properties(crate::azure::auth::redact_json(json))
    }

    pub fn json(&self) -> &serde_json::Value {
        &self.0
    }
}

/// A file of a task or a node, as the files view lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// A pool's last autoscale evaluation: when, the variables' values, and its error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoscaleView {
    /// `HH:MM:SS` UTC, or empty before the first evaluation.
    pub evaluated: String,
    /// `$name=value;...` as the service reports them.
    pub results: String,
    /// `code: message` and the detail, when the evaluation failed.
    pub error: Option<String>,
}

/// A task as the panels show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub id: String,
    pub state: TaskState,
    pub node_id: Option<String>,
    pub exit_code: Option<i32>,
    pub retries: u32,
    pub requeues: u32,
    pub result: Option<TaskExecutionResult>,
    pub failure: Option<String>,
    /// Milliseconds from start to end, once it ended.
    pub duration_ms: Option<u64>,
    /// When its last run started: a running task's duration is drawn from it, so it ticks.
    pub started: Option<chrono::DateTime<chrono::Utc>>,
    /// An active task held by the tasks it depends on (the service says only `active`).
    pub waits: Option<Waits>,
}

/// Why an active task does not run yet, from the tasks it depends on (`dependsOn`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Waits {
    /// On this many of them: they have not completed yet (nor satisfied it).
    On(u32),
    /// For ever: `by` (or a task it waits for itself) failed with the dependency action
    /// `block`, so the service never runs it.
    Blocked { by: String },
}

impl TaskView {
    /// Its state as the panels and lines name it: `waiting` or `blocked` for an active task
    /// that its dependencies hold, else the service's.
    pub fn state_name(&self) -> &str {
        match &self.waits {
            Some(Waits::On(_)) => "waiting",
            Some(Waits::Blocked { .. }) => "blocked",
            None => self.state.as_str(),
        }
    }

    /// What holds it, for a line: `on 5 tasks`, `by count-a`.
    pub fn held_by(&self) -> Option<String> {
        match &self.waits {
            Some(Waits::On(1)) => Some("on 1 task".into()),
            Some(Waits::On(n)) => Some(format!("on {n} tasks")),
            Some(Waits::Blocked { by }) => Some(format!("by {by}")),
            None => None,
        }
    }

    /// Whether it ended badly (non-zero exit or a failure the service reported).
    pub fn failed(&self) -> bool {
        self.state == TaskState::Completed
            && (self.result == Some(TaskExecutionResult::Failure)
                || self.exit_code.unwrap_or(0) != 0
                || self.failure.is_some())
    }

    /// How long it ran, or has been running at `now`.
    pub fn duration_at(&self, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
        self.duration_ms.or_else(|| {
            self.started
                .filter(|_| self.state == TaskState::Running)
                .map(|s| crate::watch::convert::running_ms(s, now))
        })
    }
}

/// Totals from the service's task counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub active: u64,
    pub running: u64,
    pub completed: u64,
    pub succeeded: u64,
    pub failed: u64,
}

impl TaskCounts {
    pub fn total(&self) -> u64 {
        self.active + self.running + self.completed
    }
}

/// A billable or stored resource that may still exist when the run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Pool(String),
    Job(String),
    Container(String),
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::Pool(id) => write!(f, "pool {id}"),
            Resource::Job(id) => write!(f, "job {id}"),
            Resource::Container(c) => write!(f, "container {c}"),
        }
    }
}

impl Resource {
    /// What keeping it costs, for the end-of-run summary.
    pub fn cost_note(&self) -> &'static str {
        match self {
            Resource::Pool(_) => "compute nodes are billed until the pool is deleted",
            Resource::Job(_) => "no charge, but it keeps its tasks and their files",
            Resource::Container(_) => "storage is billed for its blobs",
        }
    }
}

/// The files of a task that can be tailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskFile {
    Stdout,
    Stderr,
}

impl TaskFile {
    pub fn name(self) -> &'static str {
        match self {
            TaskFile::Stdout => "stdout.txt",
            TaskFile::Stderr => "stderr.txt",
        }
    }
}

/// How the watcher's connection to the Batch service is.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// Requests fail with transient errors; the watcher tries again after `retry_in`.
    Reconnecting {
        attempt: u32,
        error: String,
        retry_in: Duration,
    },
    /// The service answers again after an outage of `after`; the watcher catches up.
    Reconnected { after: Duration },
}

/// What became of a change asked while another for the same target was in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// The same change is in flight: this one is dropped.
    InProgress,
    /// The same change waits already: this one is dropped.
    AlreadyWaiting,
    /// It runs once `behind` (in flight) ended; `replaced`, which waited, no longer runs.
    Waiting {
        behind: String,
        replaced: Option<String>,
    },
}

impl Held {
    /// The notice that says it of `what`: `resize pool p to 5 ...: waits for resize pool p
    /// to 3 ...`.
    pub fn notice(&self, what: &str) -> String {
        match self {
            Held::InProgress => format!("{what}: already in progress"),
            Held::AlreadyWaiting => format!("{what}: already waiting"),
            Held::Waiting {
                behind,
                replaced: None,
            } => format!("{what}: waits for {behind}"),
            Held::Waiting {
                behind,
                replaced: Some(r),
            } => format!("{what}: waits for {behind}, instead of {r}"),
        }
    }

    /// Its name in JSON lines.
    pub fn name(&self) -> &'static str {
        match self {
            Held::InProgress => "in_progress",
            Held::AlreadyWaiting => "already_waiting",
            Held::Waiting { .. } => "waiting",
        }
    }
}

/// Everything the workflow, the watcher and the controller report.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// What the run runs, named (sent once, first).
    Workload(WorkloadView),
    StepStarted(Step),
    StepFinished {
        step: Step,
        elapsed: Duration,
        note: String,
    },
    StepFailed {
        step: Step,
        error: String,
    },
    /// Free-form progress line, e.g. "Creating pool [x]...".
    Info(String),
    UploadProgress {
        file: String,
        bytes_done: u64,
        bytes_total: u64,
    },
    Uploaded {
        file: String,
        container: String,
        blob: String,
        bytes: u64,
    },
    Pool(PoolView),
    Nodes(Vec<NodeView>),
    /// Tasks that changed since the last report (or all of them the first time).
    Tasks(Vec<TaskView>),
    /// Tasks reported before that the job no longer has (deleted, here or by another client).
    TasksGone(Vec<String>),
    TaskCounts(TaskCounts),
    /// Every pool of the account (browsing), when the list changed.
    Pools(Vec<PoolRow>),
    /// Every job of the account (browsing), when the list changed; counts for those asked.
    Jobs(Vec<JobRow>),
    /// The files of a task or a node (browsing), when the list changed.
    Files(Vec<FileRow>),
    /// An entity's properties as the service returned them (browsing's details view), when
    /// they changed; `None`: it does not exist (any more).
    Details {
        of: Entity,
        properties: Option<Properties>,
    },
    /// Bytes of a file read from `from` (browsing's log viewer); the file was `len` long.
    FileChunk {
        path: String,
        from: u64,
        len: u64,
        text: String,
    },
    Downloaded {
        blob: String,
        container: String,
        path: PathBuf,
        bytes: u64,
    },
    /// The beginning of a task's downloaded output file, for the preview pane.
    Output {
        task_id: String,
        path: PathBuf,
        text: String,
    },
    /// Bytes appended to a task's `stdout.txt` or `stderr.txt` since `from`, read by range.
    TaskFileTail {
        task_id: String,
        file: TaskFile,
        from: u64,
        /// The file's length when it was read: where the next read starts.
        len: u64,
        text: String,
    },
    /// The end of a node's start task stderr (read when its start task failed).
    NodeStderr {
        node_id: String,
        text: String,
    },
    /// The run created (or adopted) a resource that may cost money until it is deleted.
    Created(Resource),
    /// The service accepted a delete; the resource is going away (pools and jobs take a while).
    Deleting(Resource),
    /// The resource is gone.
    Deleted(Resource),
    /// A pool resize was accepted.
    Resized {
        pool_id: String,
        target: u32,
    },
    /// The service accepted what the user asked (`what` describes it: "terminate job j1").
    Done {
        what: String,
    },
    /// A change the user asked for met another for the same target in flight (the controller
    /// runs one at a time a target): `what` was dropped, or waits, as `how` says.
    Held {
        what: String,
        how: Held,
    },
    /// Failed tasks were put back in the queue.
    Reactivated {
        task_ids: Vec<String>,
    },
    /// A task's files were downloaded (`d`).
    TaskFilesDownloaded {
        task_id: String,
        dir: PathBuf,
        files: usize,
        bytes: u64,
    },
    /// A file of a task or a node was downloaded (browsing's `d`).
    FileDownloaded {
        path: String,
        dest: PathBuf,
        bytes: u64,
    },
    /// Something the user asked for failed; `what` says what it was.
    CommandFailed {
        what: String,
        error: String,
    },
    /// The watcher's connection to the Batch service changed.
    Health(Health),
    /// The watcher found that a watched pool or job no longer exists.
    Gone(Resource),
    /// The watch ended on an error that waiting cannot fix (the service refused the account).
    WatchFailed {
        error: String,
    },
    /// The run ended; `remaining` lists what still exists (and may cost money).
    Finished {
        ok: bool,
        elapsed: Duration,
        remaining: Vec<Resource>,
    },
}
