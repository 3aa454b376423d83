//! Browsing the account (`batchdeck browse`): the navigation stack, its keys and the `:`
//! command line. A pool's nodes and a job's tasks are the session's own panels: going there
//! points the session's ids at that pool or job and starts their models afresh, so every key
//! of those panels (and its confirmation, and `--readonly`) works as in `batchdeck watch`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tui::app::{Action, App, Entry, Panel, Previews, Scroll, Tasks};
use crate::tui::browse::actions::{self, Act};
use crate::tui::browse::details::Details;
use crate::tui::browse::log::{Log, Step};
use crate::tui::browse::search::{self, Found, News};
use crate::tui::browse::{self, Command, Listing, View, Watching};
use crate::tui::keys::{Input, Scope};
use crate::tui::layout;
use crate::workflow::events::{Entity, FileRow, FilesOf, JobRow, PoolRow, Properties};

/// What browsing adds to the session: the views' stack and the account's lists.
#[derive(Debug, Default)]
pub struct Browse {
    /// The views, the one on screen last; never empty.
    pub stack: Vec<View>,
    pub pools: Listing<PoolRow>,
    pub jobs: Listing<JobRow>,
    /// The files of the task or node on screen.
    pub files: Listing<FileRow>,
    /// The file in the log viewer.
    pub log: Option<Log>,
    /// The entity in the details view.
    pub details: Option<Details>,
    /// What Tab on the command line offered last (shown under it).
    pub candidates: Vec<String>,
    /// The nodes or tasks marked (Space) on a pool's nodes or a job's tasks; actions apply to
    /// them. Cleared when another view opens.
    pub marked: std::collections::BTreeSet<String>,
}

impl Browse {
    pub fn new(first: View) -> Browse {
        Browse {
            stack: vec![first],
            ..Browse::default()
        }
    }

    pub fn view(&self) -> &View {
        self.stack.last().unwrap_or(&View::Pools)
    }

    /// The breadcrumb: the views from the first to the one on screen.
    pub fn crumbs(&self) -> String {
        self.stack
            .iter()
            .map(View::crumb)
            .collect::<Vec<_>>()
            .join(" › ")
    }
}

impl App {
    /// The view on screen when browsing.
    pub fn view(&self) -> Option<&View> {
        self.browse.as_ref().map(Browse::view)
    }

    /// The views whose keys act now (the help lists them).
    pub fn scope(&self) -> Scope {
        match self.view() {
            None => Scope::SESSION,
            Some(View::Pools | View::Jobs | View::Files(_)) => Scope::LISTS,
            Some(View::Log(..)) => Scope::LOG,
            Some(View::Details(_)) => Scope::DETAILS,
            Some(View::Nodes(_)) => Scope::NODES,
            Some(View::Tasks(_)) => Scope::TASKS,
        }
    }

    /// What the watcher must watch for the view on screen (`None` outside browsing).
    pub fn browse_watching(&self) -> Option<Watching> {
        let b = self.browse.as_ref()?;
        Some(match b.view() {
            View::Pools => Watching::Pools,
            View::Jobs => {
                let page = self.list_page();
                Watching::Jobs(b.jobs.visible(page).map(|(_, j)| j.id.clone()).collect())
            }
            View::Nodes(p) => Watching::Pool(p.clone()),
            View::Tasks(j) => Watching::Job {
                job: j.clone(),
                pool: (!self.ids.pool_id.is_empty()).then(|| self.ids.pool_id.clone()),
            },
            View::Files(of) => Watching::Files(of.clone()),
            View::Log(..) => Watching::File(b.log.as_ref()?.want.clone()),
            View::Details(of) => Watching::Details(of.clone()),
        })
    }

    /// Rows a list view shows in the last known terminal size.
    pub fn list_page(&self) -> usize {
        let filtering = matches!(self.entry, Some(Entry::Filter(_)));
        layout::browse_screen(self.area).map_or(0, |s| {
            layout::task_rows(layout::list_panel(s.body, filtering).table)
        })
    }

    /// Lines the log viewer shows in the last known terminal size.
    pub fn log_rows(&self) -> usize {
        layout::browse_screen(self.area).map_or(0, |s| {
            let filtering = matches!(self.entry, Some(Entry::Filter(_)));
            layout::list_panel(s.body, filtering).table.height as usize
        })
    }

    /// The filter of the list on screen (the search of the log viewer), if one is.
    fn list_filter_mut(&mut self) -> Option<&mut String> {
        let b = self.browse.as_mut()?;
        match b.stack.last()? {
            View::Pools => Some(&mut b.pools.filter),
            View::Jobs => Some(&mut b.jobs.filter),
            View::Files(_) => Some(&mut b.files.filter),
            View::Log(..) => b.log.as_mut().map(|l| &mut l.search),
            _ => None,
        }
    }

    /// Sets the filter of the list on screen; false when no list is.
    pub(super) fn set_list_filter(&mut self, f: String) -> bool {
        let Some(b) = self.browse.as_mut() else {
            return false;
        };
        match b.view() {
            View::Pools => b.pools.set_filter(f),
            View::Jobs => b.jobs.set_filter(f),
            View::Files(_) => b.files.set_filter(f),
            View::Log(..) => match b.log.as_mut() {
                Some(l) if l.search != f => {
                    // A search of the file for the pattern before stops.
                    l.searching = None;
                    l.search = f;
                }
                Some(_) => {}
                None => return false,
            },
            _ => return false,
        }
        true
    }

    /// The filter being edited starts from the one in force (the list's, or the tasks').
    pub(super) fn current_filter(&mut self) -> String {
        match self.list_filter_mut() {
            Some(f) => f.clone(),
            None => self.filter.clone(),
        }
    }

    /// Keys that browsing handles itself; the rest go to the session's panels.
    pub(super) fn key_browse(&mut self, input: Input, actions: &mut Vec<Action>) -> bool {
        match self.view() {
            None => return false,
            Some(View::Log(..)) if input == Input::Download => {
                self.download_file(actions);
                return true;
            }
            Some(View::Log(..)) => return self.key_log(input),
            Some(View::Details(_)) => return self.key_details(input),
            _ => {}
        }
        if input == Input::Details {
            match self.entity_of_selection() {
                Some(e) => self.go(View::Details(e), false),
                None if matches!(self.view(), Some(View::Files(_))) => self.notify(
                    "i shows the details of a pool, job, node or task (Esc goes back to them)",
                    true,
                ),
                None => self.notify("Nothing selected", true),
            }
            return true;
        }
        let page = self.list_page().max(1) as isize;
        let files_of = self.files_of_selection();
        let Some(b) = self.browse.as_mut() else {
            return false;
        };
        let list = b.view().is_list();
        match input {
            Input::Command => {
                b.candidates.clear();
                self.entry = Some(Entry::Command(String::new()));
            }
            Input::Open => {
                let next = match b.view() {
                    View::Pools => b.pools.selected.clone().map(View::Nodes),
                    View::Jobs => b.jobs.selected.clone().map(View::Tasks),
                    View::Nodes(_) | View::Tasks(_) => files_of.map(View::Files),
                    View::Files(of) => b
                        .files
                        .selected_row()
                        .filter(|f| !f.is_dir)
                        .map(|f| View::Log(of.clone(), f.path.clone())),
                    View::Log(..) | View::Details(_) => None,
                };
                match next {
                    Some(v) => self.go(v, false),
                    None => self.notify("Nothing selected", true),
                }
            }
            Input::Back => {
                if list {
                    let filtered = !self.current_filter().is_empty();
                    if filtered {
                        self.set_list_filter(String::new());
                    } else {
                        self.back();
                    }
                } else if !self.filter.is_empty() {
                    self.set_filter(String::new());
                } else {
                    self.back();
                }
            }
            Input::Filter if list => {
                let f = self.current_filter();
                self.entry = Some(Entry::Filter(f));
            }
            Input::Up
            | Input::Down
            | Input::PageUp
            | Input::PageDown
            | Input::Top
            | Input::Bottom
                if list =>
            {
                let by = match input {
                    Input::Up => -1,
                    Input::Down => 1,
                    Input::PageUp => -page,
                    Input::PageDown => page,
                    Input::Top => isize::MIN / 2,
                    _ => isize::MAX / 2,
                };
                match b.view() {
                    View::Pools => b.pools.move_by(by),
                    View::Files(_) => b.files.move_by(by),
                    _ => b.jobs.move_by(by),
                }
            }
            Input::Mark if list => match b.view() {
                View::Pools => b.pools.toggle_mark(),
                View::Jobs => b.jobs.toggle_mark(),
                _ => b.files.toggle_mark(),
            },
            Input::DeletePool | Input::DeleteJob if list && Act::of(input, b.view()).is_none() => {
                let on = if input == Input::DeletePool {
                    "P deletes pools: :pools lists them"
                } else {
                    "J deletes jobs: :jobs lists them"
                };
                self.notify(on, true);
            }
            Input::ResizePool if b.view() == &View::Jobs => {
                self.notify("R resizes pools: :pools lists them", true);
            }
            Input::ResizePool if list => {
                if self.readonly {
                    self.confirm_act(Act::ResizePool {
                        dedicated: 0,
                        spot: 0,
                    });
                } else if b.pools.targets().is_empty() {
                    self.notify("No pool selected", true);
                } else {
                    self.entry = Some(Entry::Resize(String::new()));
                }
            }
            Input::StopResize
            | Input::Terminate
            | Input::Disable
            | Input::Enable
            | Input::RetryFailed
                if list && Act::of(input, b.view()).is_none() =>
            {
                let on = match input {
                    Input::StopResize => "H stops pools' resizes: :pools lists them",
                    Input::RetryFailed => "F retries the failed tasks of jobs: :jobs lists them",
                    _ => "T, D and E act on jobs: :jobs lists them",
                };
                self.notify(on, true);
            }
            Input::NodeOption => self.notify(
                "o chooses, in B's, I's, X's or A's question, what becomes of the tasks running on the nodes",
                true,
            ),
            Input::Mark if !list => {
                let id = match b.view() {
                    View::Nodes(_) => self.selected_node_view().map(|n| n.id.clone()),
                    _ => self.shown_selected_task(),
                };
                match id {
                    Some(id) => {
                        if let Some(b) = self.browse.as_mut() {
                            actions::toggle(&mut b.marked, &id);
                        }
                        self.key_main(Input::Down, actions);
                    }
                    None => self.notify("Nothing selected", true),
                }
            }
            Input::Download if list => {
                self.download_file(actions);
                return true;
            }
            _ if Act::of(input, b.view()).is_some() => {
                if let Some(act) = Act::of(input, b.view()) {
                    self.confirm_act(act);
                }
            }
            Input::Sort if list => match b.view() {
                View::Pools => b.pools.next_sort(),
                View::Files(_) => b.files.next_sort(),
                _ => b.jobs.next_sort(),
            },
            Input::Reverse if list => match b.view() {
                View::Pools => b.pools.reverse(),
                View::Files(_) => b.files.reverse(),
                _ => b.jobs.reverse(),
            },
            _ => return false,
        }
        true
    }

    /// `d` in the log viewer (its file) or on the files (the selected one): the file to the
    /// output directory, under the task's or node's id (`./task1/wd/out.txt`).
    fn download_file(&mut self, actions: &mut Vec<Action>) {
        let Some(b) = self.browse.as_ref() else {
            return;
        };
        let file = match b.view() {
            View::Log(of, path) => Some((of.clone(), path.clone())),
            View::Files(of) => b
                .files
                .selected_row()
                .filter(|f| !f.is_dir)
                .map(|f| (of.clone(), f.path.clone())),
            _ => {
                self.notify("d downloads a file: open a task's or node's files", true);
                return;
            }
        };
        let Some((of, path)) = file else {
            self.notify("No file selected (a directory is not downloaded)", true);
            return;
        };
        let id = match &of {
            FilesOf::Task { task, .. } => task,
            FilesOf::Node { node, .. } => node,
        };
        let dest = self.output_dir.join(id).join(&path);
        self.notify(
            format!("Downloading {path} to {}...", dest.display()),
            false,
        );
        actions.push(Action::Run(
            crate::workflow::controller::Command::DownloadFile { of, path, dest },
        ));
    }

    /// Whose files Enter opens on a pool's nodes or a job's tasks: the selected node's (on
    /// the pool's panel), else the selected task's.
    fn files_of_selection(&self) -> Option<FilesOf> {
        let node = || {
            self.selected_node_view().map(|n| FilesOf::Node {
                pool: self.ids.pool_id.clone(),
                node: n.id.clone(),
            })
        };
        match self.view()? {
            View::Nodes(_) => node(),
            View::Tasks(_) if self.focus == Panel::Nodes => node(),
            View::Tasks(j) => self.selected_task.as_ref().map(|t| FilesOf::Task {
                job: j.clone(),
                task: t.clone(),
            }),
            _ => None,
        }
    }

    /// What `i` shows the details of: the selected pool or job, or on a pool's nodes or a
    /// job's tasks the selected node or task (as Enter opens its files).
    fn entity_of_selection(&self) -> Option<Entity> {
        let b = self.browse.as_ref()?;
        match b.view() {
            View::Pools => b.pools.selected.clone().map(Entity::Pool),
            View::Jobs => b.jobs.selected.clone().map(Entity::Job),
            View::Nodes(_) | View::Tasks(_) => match self.files_of_selection()? {
                FilesOf::Node { pool, node } => Some(Entity::Node { pool, node }),
                FilesOf::Task { job, task } => Some(Entity::Task { job, task }),
            },
            View::Files(_) | View::Log(..) | View::Details(_) => None,
        }
    }

    /// The details view's keys: a pager's, and wrap.
    fn key_details(&mut self, input: Input) -> bool {
        let page = self.log_rows().max(1) as isize;
        let Some(d) = self.browse.as_mut().and_then(|b| b.details.as_mut()) else {
            return false;
        };
        match input {
            Input::Up => d.scroll(-1),
            Input::Down => d.scroll(1),
            Input::PageUp => d.scroll(-page),
            Input::PageDown => d.scroll(page),
            Input::Top => d.top = 0,
            Input::Bottom => d.top = usize::MAX,
            Input::Wrap => d.wrap = !d.wrap,
            Input::Back => self.back(),
            Input::Open => self.notify("Enter opens from a list: Esc goes back to it", true),
            _ => return false,
        }
        true
    }

    /// The log viewer's keys: a pager's, search, wrap, stdout/stderr.
    fn key_log(&mut self, input: Input) -> bool {
        let rows = self.log_rows().max(1);
        let Some(log) = self.browse.as_mut().and_then(|b| b.log.as_mut()) else {
            return false;
        };
        let page = rows as isize;
        match input {
            Input::Up => log.scroll(-1, rows),
            Input::Down => log.scroll(1, rows),
            Input::PageUp => log.scroll(-page, rows),
            Input::PageDown => log.scroll(page, rows),
            Input::Top => log.start_of_file(),
            Input::Bottom => log.end_of_file(),
            Input::Wrap => log.wrap = !log.wrap,
            Input::Filter => {
                let s = log.search.clone();
                self.entry = Some(Entry::Filter(s));
            }
            Input::NextMatch | Input::PrevMatch => {
                let forward = input == Input::NextMatch;
                match log.next_match(forward) {
                    Step::Moved | Step::Searching => {}
                    Step::NoSearch => self.notify("Nothing to find: / searches", true),
                    Step::Nowhere => {
                        let what = not_found(&log.search, forward);
                        self.notify(what, true);
                    }
                }
            }
            Input::Toggle => match log.sibling() {
                Some(path) => {
                    let of = log.of.clone();
                    if let Some(b) = self.browse.as_mut() {
                        b.stack.pop();
                    }
                    self.go(View::Log(of, path), false);
                }
                None => self.notify("Only stdout.txt and stderr.txt have a sibling", true),
            },
            Input::Back => {
                if log.searching.take().is_some() {
                    self.notify("Search cancelled", false);
                } else if log.search.is_empty() {
                    self.back();
                } else {
                    log.search.clear();
                }
            }
            _ => return false,
        }
        true
    }

    /// The search over the whole file the log viewer runs, for the watcher.
    pub fn log_search(&self) -> Option<&search::Ask> {
        let b = self.browse.as_ref()?;
        match b.view() {
            View::Log(..) => b.log.as_ref()?.searching.as_ref().map(|s| &s.ask),
            _ => None,
        }
    }

    /// News of search `id` (of another, cancelled one: dropped).
    pub(super) fn search_news(&mut self, id: u64, news: News) {
        let Some(log) = self.browse.as_mut().and_then(|b| b.log.as_mut()) else {
            return;
        };
        let Some(s) = log.searching.as_mut().filter(|s| s.ask.id == id) else {
            return;
        };
        let forward = s.ask.forward;
        match news {
            News::Progress { searched, total } => {
                s.searched = searched;
                s.total = Some(total);
            }
            News::Done(Ok(Found::At(at))) => log.found(at),
            News::Done(Ok(Found::Nowhere)) => {
                log.searching = None;
                let what = not_found(&log.search, forward);
                self.notify(what, true);
            }
            News::Done(Ok(Found::Cancelled)) => log.searching = None,
            News::Done(Err(e)) => {
                log.searching = None;
                self.notify(format!("The search stopped: {e}"), true);
            }
        }
    }

    /// Esc on a view: the one before it (the first view stays).
    fn back(&mut self) {
        let Some(b) = self.browse.as_mut() else {
            return;
        };
        if b.stack.len() > 1 {
            b.stack.pop();
            let top = b.view().clone();
            if !top.is_list() {
                // The view under it was a pool's nodes or a job's tasks: shown afresh.
                b.stack.pop();
                self.go(top, false);
            }
        }
    }

    /// Opens `view` on top of the stack (or instead of it all, from the command line).
    pub(super) fn go(&mut self, view: View, replace: bool) {
        let Some(b) = self.browse.as_mut() else {
            return;
        };
        let job_pool = match &view {
            View::Tasks(j) => b
                .jobs
                .rows
                .iter()
                .find(|r| &r.id == j)
                .and_then(|r| r.pool_id.clone()),
            _ => None,
        };
        if replace {
            let first = match &view {
                View::Pools | View::Nodes(_) => View::Pools,
                _ => View::Jobs,
            };
            b.stack = vec![first];
        }
        if b.stack.last() != Some(&view) {
            b.stack.push(view.clone());
        }
        b.marked.clear();
        match view {
            View::Pools | View::Jobs => {}
            View::Files(_) => b.files = Listing::default(),
            View::Log(of, path) => b.log = Some(Log::open(of, path)),
            View::Details(of) => b.details = Some(Details::open(of)),
            View::Nodes(pool) => {
                self.reset_panels();
                self.ids.pool_id = pool;
                self.ids.job_id.clear();
                self.focus = Panel::Nodes;
            }
            View::Tasks(job) => {
                self.reset_panels();
                self.ids.job_id = job;
                self.ids.pool_id = job_pool.unwrap_or_default();
                self.focus = Panel::Tasks;
            }
        }
    }

    /// A pool's nodes or a job's tasks start from nothing (a new watcher fills them).
    fn reset_panels(&mut self) {
        self.pool = None;
        self.pool_deleted = false;
        self.nodes.clear();
        self.node_stderr.clear();
        self.selected_node = 0;
        self.tasks = Tasks::default();
        self.counts = None;
        self.completions.clear();
        self.previews = Previews::default();
        self.outputs.clear();
        self.resources.clear();
        self.retried.clear();
        self.selected_task = None;
        self.task_offset = 0;
        self.filter.clear();
        self.preview_scroll = Scroll::Natural;
        self.overlay = None;
    }

    /// Runs a `:` command line.
    fn run_command(&mut self, line: &str) {
        let Some(b) = self.browse.as_ref() else {
            return;
        };
        let selected_pool = match b.view() {
            View::Pools => b.pools.selected.clone(),
            View::Nodes(p) => Some(p.clone()),
            _ => (!self.ids.pool_id.is_empty()).then(|| self.ids.pool_id.clone()),
        };
        let selected_job = match b.view() {
            View::Jobs => b.jobs.selected.clone(),
            View::Tasks(j) => Some(j.clone()),
            _ => None,
        };
        let view = match browse::parse(line) {
            Ok(Command::Pools) => View::Pools,
            Ok(Command::Jobs) => View::Jobs,
            Ok(Command::Nodes(Some(p)) | Command::Pool(p)) => View::Nodes(p),
            Ok(Command::Tasks(Some(j)) | Command::Job(j)) => View::Tasks(j),
            Ok(Command::Nodes(None)) => match selected_pool {
                Some(p) => View::Nodes(p),
                None => {
                    self.notify(":nodes needs a pool: select one, or type :nodes POOL", true);
                    return;
                }
            },
            Ok(Command::Tasks(None)) => match selected_job {
                Some(j) => View::Tasks(j),
                None => {
                    self.notify(":tasks needs a job: select one, or type :tasks JOB", true);
                    return;
                }
            },
            Err(e) => {
                self.notify(e, true);
                return;
            }
        };
        self.go(view, true);
    }

    /// A key on the `:` command line: Tab completes, Enter runs, Esc leaves it.
    pub(super) fn key_command(&mut self, mut text: String, k: KeyEvent) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Esc => return,
            KeyCode::Enter => {
                self.run_command(text.trim());
                return;
            }
            KeyCode::Tab => {
                if let Some(b) = self.browse.as_mut() {
                    let (done, candidates) = browse::complete(
                        &text,
                        b.pools.rows.iter().map(|p| p.pool.id.as_str()),
                        b.jobs.rows.iter().map(|j| j.id.as_str()),
                    );
                    text = done;
                    b.candidates = candidates;
                }
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char('u') if ctrl => text.clear(),
            KeyCode::Char(c) if !ctrl && text.len() < 128 => text.push(c),
            _ => {}
        }
        self.entry = Some(Entry::Command(text));
    }

    /// The lists' selection and scroll, kept in view after every message.
    pub(super) fn settle_browse(&mut self) {
        let page = self.list_page();
        let rows = self.log_rows();
        if let Some(b) = self.browse.as_mut() {
            match b.view() {
                View::Pools => b.pools.settle(page),
                View::Jobs => b.jobs.settle(page),
                View::Files(_) => b.files.settle(page),
                View::Log(..) => {
                    if let Some(l) = b.log.as_mut() {
                        l.settle(rows);
                    }
                }
                View::Details(_) => {
                    if let Some(d) = b.details.as_mut() {
                        d.settle(rows);
                    }
                }
                _ => {}
            }
        }
    }

    /// The account's pools, listed again.
    pub(super) fn set_pools(&mut self, rows: Vec<PoolRow>) {
        if let Some(b) = self.browse.as_mut() {
            b.pools.set_rows(rows);
        }
    }

    /// The account's jobs, listed again (with the counts of those on screen).
    pub(super) fn set_jobs(&mut self, rows: Vec<JobRow>) {
        if let Some(b) = self.browse.as_mut() {
            b.jobs.set_rows(rows);
        }
    }

    /// The files of the task or node on screen, listed again.
    pub(super) fn set_files(&mut self, rows: Vec<FileRow>) {
        if let Some(b) = self.browse.as_mut() {
            b.files.set_rows(rows);
        }
    }

    /// The properties of the entity in the details view.
    pub(super) fn set_details(&mut self, of: &Entity, properties: Option<&Properties>) {
        if let Some(d) = self.browse.as_mut().and_then(|b| b.details.as_mut())
            && &d.of == of
        {
            d.apply(properties);
        }
    }

    /// Bytes of the file in the log viewer.
    pub(super) fn file_chunk(&mut self, path: &str, from: u64, len: u64, text: &str) {
        if let Some(l) = self.browse.as_mut().and_then(|b| b.log.as_mut())
            && l.path == path
        {
            l.apply(from, len, text);
        }
    }
}

/// "not found" for `n` (to the end of the file) or `N` (back to its start).
fn not_found(pattern: &str, forward: bool) -> String {
    let to = if forward {
        "to the end of the file (g goes to its start)"
    } else {
        "back to the start of the file (G goes to its end)"
    };
    format!("Pattern not found: {pattern:?} {to}")
}
