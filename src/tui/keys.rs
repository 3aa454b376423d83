//! The keymap, as data: what each key means outside text entry, in which views, and the help
//! it shows. The help (`?`) lists the bindings of the view on screen, from the same table that
//! dispatches keys. Keys follow terminal monitors such as k9s and avoid tmux's prefix (Ctrl-B).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for, before the state decides what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Help,
    Quit,
    /// Ctrl-C: leave at once, keeping everything (what remains is printed).
    QuitNow,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextPanel,
    PrevPanel,
    Details,
    Back,
    Filter,
    Sort,
    Reverse,
    DeleteJob,
    DeletePool,
    DeleteContainers,
    ResizePool,
    RetryTask,
    RetryFailed,
    Download,
    Left,
    Right,
    Yes,
    No,
    /// Browsing: open the selected pool's nodes or job's tasks.
    Open,
    /// Browsing: the `:` command line.
    Command,
    /// The log viewer: the next / previous line that matches the search.
    NextMatch,
    PrevMatch,
    /// The log viewer: wrap long lines or not.
    Wrap,
    /// The log viewer: stdout.txt to stderr.txt and back.
    Toggle,
    /// Browsing's lists: mark or unmark the selected row.
    Mark,
    /// Browsing: stop the resize of pools.
    StopResize,
    /// Browsing: terminate jobs or tasks.
    Terminate,
    /// Browsing: disable jobs, or scheduling on nodes.
    Disable,
    /// Browsing: enable jobs, or scheduling on nodes.
    Enable,
    /// Browsing: reboot nodes.
    Reboot,
    /// Browsing: reimage nodes (their operating system reinstalled).
    Reimage,
    /// Browsing: deallocate nodes.
    Deallocate,
    /// Browsing: start deallocated nodes.
    StartNode,
    /// Browsing: remove nodes from their pool, or delete tasks.
    Remove,
    /// Browsing: in a reboot's, reimage's, removal's or deallocation's confirmation, the next
    /// option for the tasks running on the nodes.
    NodeOption,
}

/// The views a binding acts in (a set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope(u8);

impl Scope {
    /// A run's or a watch's session.
    pub const SESSION: Scope = Scope(1);
    /// Browsing the account's pools or jobs.
    pub const LISTS: Scope = Scope(2);
    /// Browsing a pool's nodes.
    pub const NODES: Scope = Scope(4);
    /// Browsing a job's tasks.
    pub const TASKS: Scope = Scope(8);
    /// Browsing a file (the log viewer).
    pub const LOG: Scope = Scope(16);
    /// Browsing an entity's details.
    pub const DETAILS: Scope = Scope(32);
    pub const BROWSE: Scope = Scope(2 | 4 | 8 | 16 | 32);
    pub const ALL: Scope = Scope(63);
    /// Where dialogs are answered by key (the log viewer has `n` for its search).
    pub const DIALOGS: Scope = Scope(15);

    pub const fn or(self, o: Scope) -> Scope {
        Scope(self.0 | o.0)
    }

    pub const fn overlaps(self, o: Scope) -> bool {
        self.0 & o.0 != 0
    }
}

/// One binding: the key, its modifiers, what it means and the help text.
pub struct Binding {
    pub code: KeyCode,
    pub mods: KeyModifiers,
    pub input: Input,
    pub label: &'static str,
    pub help: &'static str,
    pub scope: Scope,
}

const fn key(code: KeyCode, input: Input, label: &'static str, help: &'static str) -> Binding {
    Binding {
        code,
        mods: KeyModifiers::NONE,
        input,
        label,
        help,
        scope: Scope::ALL,
    }
}

/// A binding that acts only in `scope`.
const fn only(scope: Scope, b: Binding) -> Binding {
    Binding { scope, ..b }
}

/// Where the run session's panel keys act: a run or watch session, and browsing a job's
/// tasks (the same panels).
const PANELS: Scope = Scope::SESSION.or(Scope::TASKS);
/// Where the pool's keys act: the session, and browsing a pool's nodes or a job's tasks.
const POOL: Scope = PANELS.or(Scope::NODES);

/// The keymap. Bindings with an empty help are aliases, not listed in the help.
pub const KEYMAP: &[Binding] = &[
    key(KeyCode::Char('?'), Input::Help, "?", "this help"),
    only(
        Scope::SESSION,
        key(
            KeyCode::Char('q'),
            Input::Quit,
            "q",
            "quit (asks about billable resources still present)",
        ),
    ),
    only(
        Scope::BROWSE,
        key(KeyCode::Char('q'), Input::Quit, "q", "quit"),
    ),
    Binding {
        code: KeyCode::Char('c'),
        mods: KeyModifiers::CONTROL,
        input: Input::QuitNow,
        label: "Ctrl-C",
        help: "quit at once, keeping everything (what remains is printed)",
        scope: Scope::ALL,
    },
    only(
        Scope::BROWSE,
        key(
            KeyCode::Char(':'),
            Input::Command,
            ":",
            "command: pools, jobs, nodes [P], tasks [J], pool P, job J",
        ),
    ),
    only(
        PANELS,
        key(
            KeyCode::Tab,
            Input::NextPanel,
            "Tab",
            "next panel (steps, pool, tasks, preview)",
        ),
    ),
    only(
        PANELS,
        key(
            KeyCode::BackTab,
            Input::PrevPanel,
            "Shift-Tab",
            "previous panel",
        ),
    ),
    key(
        KeyCode::Up,
        Input::Up,
        "↑/k",
        "move up; in the preview, older lines",
    ),
    key(KeyCode::Char('k'), Input::Up, "", ""),
    key(
        KeyCode::Down,
        Input::Down,
        "↓/j",
        "move down; in the preview, newer lines",
    ),
    key(KeyCode::Char('j'), Input::Down, "", ""),
    key(
        KeyCode::PageUp,
        Input::PageUp,
        "PgUp/PgDn",
        "page up / down",
    ),
    key(KeyCode::PageDown, Input::PageDown, "", ""),
    key(
        KeyCode::Home,
        Input::Top,
        "g/G",
        "first / last row; in the preview, start / end (following)",
    ),
    key(KeyCode::Char('g'), Input::Top, "", ""),
    key(KeyCode::End, Input::Bottom, "", ""),
    key(KeyCode::Char('G'), Input::Bottom, "", ""),
    only(
        Scope::SESSION,
        key(
            KeyCode::Enter,
            Input::Details,
            "Enter",
            "details of the selected step, node or task",
        ),
    ),
    only(
        Scope::LISTS,
        key(
            KeyCode::Enter,
            Input::Open,
            "Enter",
            "open the selected pool's nodes, job's tasks, or file",
        ),
    ),
    only(
        Scope::NODES.or(Scope::TASKS),
        key(
            KeyCode::Enter,
            Input::Open,
            "Enter",
            "the files of the selected node or task",
        ),
    ),
    only(
        Scope::LISTS.or(Scope::NODES).or(Scope::TASKS),
        key(
            KeyCode::Char('i'),
            Input::Details,
            "i",
            "details of the selected pool, job, node or task",
        ),
    ),
    only(
        Scope::LOG,
        key(
            KeyCode::Char('/'),
            Input::Filter,
            "/",
            "search: lines that match marked (Enter keeps it, Esc clears it)",
        ),
    ),
    only(
        Scope::LOG,
        key(
            KeyCode::Char('n'),
            Input::NextMatch,
            "n/N",
            "next / previous match, on through the whole file (Esc cancels)",
        ),
    ),
    only(
        Scope::LOG,
        key(KeyCode::Char('N'), Input::PrevMatch, "", ""),
    ),
    only(
        Scope::LOG.or(Scope::DETAILS),
        key(
            KeyCode::Char('w'),
            Input::Wrap,
            "w",
            "wrap long lines or not",
        ),
    ),
    only(
        Scope::LOG,
        key(
            KeyCode::Char('t'),
            Input::Toggle,
            "t",
            "stdout.txt / stderr.txt",
        ),
    ),
    only(
        Scope::SESSION,
        key(KeyCode::Esc, Input::Back, "Esc", "back / close"),
    ),
    only(
        Scope::BROWSE,
        key(
            KeyCode::Esc,
            Input::Back,
            "Esc",
            "clear the filter, close, or back to the previous view",
        ),
    ),
    only(
        PANELS,
        key(
            KeyCode::Char('/'),
            Input::Filter,
            "/",
            "filter tasks (id, state, node)",
        ),
    ),
    only(
        Scope::LISTS,
        key(
            KeyCode::Char('/'),
            Input::Filter,
            "/",
            "filter rows (id, state, pool, VM size)",
        ),
    ),
    only(
        PANELS,
        key(
            KeyCode::Char('s'),
            Input::Sort,
            "s",
            "sort tasks by the next column",
        ),
    ),
    only(
        Scope::LISTS,
        key(
            KeyCode::Char('s'),
            Input::Sort,
            "s/S",
            "sort rows by the next column / reverse the order",
        ),
    ),
    only(
        PANELS,
        key(
            KeyCode::Char('S'),
            Input::Reverse,
            "S",
            "reverse the sort order",
        ),
    ),
    only(
        Scope::LISTS,
        key(KeyCode::Char('S'), Input::Reverse, "", ""),
    ),
    only(
        PANELS,
        key(KeyCode::Char('J'), Input::DeleteJob, "J", "delete the job"),
    ),
    only(
        Scope::LISTS.or(Scope::NODES).or(Scope::TASKS),
        key(
            KeyCode::Char(' '),
            Input::Mark,
            "Space",
            "mark or unmark the row: actions apply to the marked rows",
        ),
    ),
    only(
        Scope::LISTS,
        key(
            KeyCode::Char('J'),
            Input::DeleteJob,
            "J/T/D/E/F",
            "delete/terminate/disable/enable jobs, retry failed tasks",
        ),
    ),
    only(
        Scope::LISTS,
        key(
            KeyCode::Char('P'),
            Input::DeletePool,
            "P/R/H",
            "delete, resize, stop resizing the selected/marked pools",
        ),
    ),
    only(
        Scope::LISTS,
        key(KeyCode::Char('R'), Input::ResizePool, "", ""),
    ),
    only(
        Scope::LISTS,
        key(KeyCode::Char('H'), Input::StopResize, "", ""),
    ),
    only(
        Scope::LISTS,
        key(KeyCode::Char('T'), Input::Terminate, "", ""),
    ),
    only(
        Scope::LISTS,
        key(KeyCode::Char('D'), Input::Disable, "", ""),
    ),
    only(Scope::LISTS, key(KeyCode::Char('E'), Input::Enable, "", "")),
    only(
        Scope::LISTS,
        key(KeyCode::Char('F'), Input::RetryFailed, "", ""),
    ),
    only(
        Scope::NODES,
        key(
            KeyCode::Char('B'),
            Input::Reboot,
            "B/I/X",
            "reboot, reimage, remove from pool: selected/marked nodes",
        ),
    ),
    only(
        Scope::NODES,
        key(KeyCode::Char('I'), Input::Reimage, "", ""),
    ),
    only(Scope::NODES, key(KeyCode::Char('X'), Input::Remove, "", "")),
    only(
        Scope::NODES,
        key(
            KeyCode::Char('A'),
            Input::Deallocate,
            "A/U",
            "deallocate, start (up) the selected/marked nodes",
        ),
    ),
    only(
        Scope::NODES,
        key(KeyCode::Char('U'), Input::StartNode, "", ""),
    ),
    only(
        Scope::NODES,
        key(
            KeyCode::Char('o'),
            Input::NodeOption,
            "o",
            "in B/I/X/A: requeue/terminate/taskcompletion/retaineddata",
        ),
    ),
    only(
        Scope::NODES,
        key(
            KeyCode::Char('D'),
            Input::Disable,
            "D/E",
            "disable, enable scheduling on the selected/marked nodes",
        ),
    ),
    only(Scope::NODES, key(KeyCode::Char('E'), Input::Enable, "", "")),
    only(
        Scope::TASKS,
        key(
            KeyCode::Char('T'),
            Input::Terminate,
            "T/X",
            "terminate, delete the selected/marked tasks",
        ),
    ),
    only(Scope::TASKS, key(KeyCode::Char('X'), Input::Remove, "", "")),
    only(
        POOL,
        key(
            KeyCode::Char('P'),
            Input::DeletePool,
            "P",
            "delete the pool",
        ),
    ),
    only(
        Scope::SESSION,
        key(
            KeyCode::Char('C'),
            Input::DeleteContainers,
            "C",
            "delete the containers",
        ),
    ),
    only(
        POOL,
        key(
            KeyCode::Char('R'),
            Input::ResizePool,
            "R",
            "resize the pool",
        ),
    ),
    only(
        Scope::SESSION,
        key(
            KeyCode::Char('r'),
            Input::RetryTask,
            "r",
            "retry (reactivate) the selected failed task",
        ),
    ),
    only(
        Scope::TASKS,
        key(
            KeyCode::Char('r'),
            Input::RetryTask,
            "r",
            "reactivate the selected/marked failed tasks",
        ),
    ),
    only(
        PANELS,
        key(
            KeyCode::Char('F'),
            Input::RetryFailed,
            "F",
            "retry every failed task of the job",
        ),
    ),
    only(
        PANELS,
        key(
            KeyCode::Char('d'),
            Input::Download,
            "d",
            "download the selected task's files to --output-dir",
        ),
    ),
    only(
        Scope::LISTS.or(Scope::LOG),
        key(
            KeyCode::Char('d'),
            Input::Download,
            "d",
            "download the file (or the selected one) to --output-dir",
        ),
    ),
    key(KeyCode::Left, Input::Left, "←/→", "choose a dialog button"),
    key(KeyCode::Char('h'), Input::Left, "", ""),
    key(KeyCode::Right, Input::Right, "", ""),
    key(KeyCode::Char('l'), Input::Right, "", ""),
    only(
        Scope::DIALOGS,
        key(KeyCode::Char('y'), Input::Yes, "y/n", "answer a dialog"),
    ),
    only(Scope::DIALOGS, key(KeyCode::Char('n'), Input::No, "", "")),
];

/// The meaning of `ev` in the views of `scope`, if it has one.
pub fn lookup(ev: &KeyEvent, scope: Scope) -> Option<Input> {
    // Shift is part of the character for letters and symbols; compare it only for BackTab.
    let mods = ev.modifiers - KeyModifiers::SHIFT;
    KEYMAP
        .iter()
        .find(|b| b.code == ev.code && b.mods == mods && b.scope.overlaps(scope))
        .map(|b| b.input)
}

/// The bindings of the views of `scope` shown in the help, in keymap order.
pub fn help_rows(scope: Scope) -> impl Iterator<Item = &'static Binding> {
    KEYMAP
        .iter()
        .filter(move |b| !b.help.is_empty() && b.scope.overlaps(scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_inputs_and_every_input_has_help() {
        let k = |c, m| lookup(&KeyEvent::new(c, m), Scope::SESSION);
        assert_eq!(k(KeyCode::Char('j'), KeyModifiers::NONE), Some(Input::Down));
        assert_eq!(
            k(KeyCode::Char('P'), KeyModifiers::SHIFT),
            Some(Input::DeletePool)
        );
        assert_eq!(
            k(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Input::QuitNow)
        );
        assert_eq!(k(KeyCode::Char('c'), KeyModifiers::NONE), None);
        assert_eq!(
            k(KeyCode::BackTab, KeyModifiers::SHIFT),
            Some(Input::PrevPanel)
        );
        // No key is bound twice in a view.
        for (i, a) in KEYMAP.iter().enumerate() {
            for b in &KEYMAP[i + 1..] {
                assert!(
                    !(a.code == b.code && a.mods == b.mods && a.scope.overlaps(b.scope)),
                    "{:?} twice",
                    a.code
                );
            }
        }
        // Every input is documented: by its own help row, or by its pair's ("PgUp/PgDn").
        let pairs = [
            (Input::PageDown, Input::PageUp),
            (Input::Bottom, Input::Top),
            (Input::Right, Input::Left),
            (Input::No, Input::Yes),
            (Input::PrevMatch, Input::NextMatch),
            (Input::ResizePool, Input::DeletePool),
            (Input::StopResize, Input::DeletePool),
            (Input::Terminate, Input::DeleteJob),
            (Input::Disable, Input::DeleteJob),
            (Input::Enable, Input::DeleteJob),
            (Input::RetryFailed, Input::DeleteJob),
            (Input::Remove, Input::Reboot),
            (Input::Reimage, Input::Reboot),
            (Input::StartNode, Input::Deallocate),
            (Input::Enable, Input::Disable),
            (Input::Remove, Input::Terminate),
            (Input::Reverse, Input::Sort),
        ];
        for b in KEYMAP {
            let documented_as =
                |h: Input| h == b.input || pairs.iter().any(|&(i, p)| i == b.input && p == h);
            assert!(
                help_rows(b.scope).any(|h| documented_as(h.input)),
                "{:?} has no help row",
                b.input
            );
        }
    }
}
