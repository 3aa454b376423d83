//! The keymap, as data: what each key means outside text entry, and the help it shows.
//! Keys follow terminal monitors such as k9s and avoid tmux's prefix (Ctrl-B).

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
}

/// One binding: the key, its modifiers, what it means and the help text.
pub struct Binding {
    pub code: KeyCode,
    pub mods: KeyModifiers,
    pub input: Input,
    pub label: &'static str,
    pub help: &'static str,
}

const fn key(code: KeyCode, input: Input, label: &'static str, help: &'static str) -> Binding {
    Binding {
        code,
        mods: KeyModifiers::NONE,
        input,
        label,
        help,
    }
}

/// The keymap. Bindings with an empty help are aliases, not listed in the help.
pub const KEYMAP: &[Binding] = &[
    key(KeyCode::Char('?'), Input::Help, "?", "this help"),
    key(
        KeyCode::Char('q'),
        Input::Quit,
        "q",
        "quit (asks about billable resources still present)",
    ),
    Binding {
        code: KeyCode::Char('c'),
        mods: KeyModifiers::CONTROL,
        input: Input::QuitNow,
        label: "Ctrl-C",
        help: "quit at once, keeping everything (what remains is printed)",
    },
    key(
        KeyCode::Tab,
        Input::NextPanel,
        "Tab",
        "next panel (steps, pool, tasks, preview)",
    ),
    key(
        KeyCode::BackTab,
        Input::PrevPanel,
        "Shift-Tab",
        "previous panel",
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
    key(
        KeyCode::Enter,
        Input::Details,
        "Enter",
        "details of the selected step, node or task",
    ),
    key(KeyCode::Esc, Input::Back, "Esc", "back / close"),
    key(
        KeyCode::Char('/'),
        Input::Filter,
        "/",
        "filter tasks (id, state, node)",
    ),
    key(
        KeyCode::Char('s'),
        Input::Sort,
        "s",
        "sort tasks by the next column",
    ),
    key(
        KeyCode::Char('S'),
        Input::Reverse,
        "S",
        "reverse the sort order",
    ),
    key(KeyCode::Char('J'), Input::DeleteJob, "J", "delete the job"),
    key(
        KeyCode::Char('P'),
        Input::DeletePool,
        "P",
        "delete the pool",
    ),
    key(
        KeyCode::Char('C'),
        Input::DeleteContainers,
        "C",
        "delete the containers",
    ),
    key(
        KeyCode::Char('R'),
        Input::ResizePool,
        "R",
        "resize the pool",
    ),
    key(
        KeyCode::Char('r'),
        Input::RetryTask,
        "r",
        "retry (reactivate) the selected failed task",
    ),
    key(
        KeyCode::Char('F'),
        Input::RetryFailed,
        "F",
        "retry every failed task of the job",
    ),
    key(
        KeyCode::Char('d'),
        Input::Download,
        "d",
        "download the selected task's files to --output-dir",
    ),
    key(KeyCode::Left, Input::Left, "←/→", "choose a dialog button"),
    key(KeyCode::Char('h'), Input::Left, "", ""),
    key(KeyCode::Right, Input::Right, "", ""),
    key(KeyCode::Char('l'), Input::Right, "", ""),
    key(KeyCode::Char('y'), Input::Yes, "y/n", "answer a dialog"),
    key(KeyCode::Char('n'), Input::No, "", ""),
];

/// The meaning of `ev`, if it has one.
pub fn lookup(ev: &KeyEvent) -> Option<Input> {
    // Shift is part of the character for letters and symbols; compare it only for BackTab.
    let mods = ev.modifiers - KeyModifiers::SHIFT;
    KEYMAP
        .iter()
        .find(|b| b.code == ev.code && b.mods == mods)
        .map(|b| b.input)
}

/// The bindings shown in the help, in keymap order.
pub fn help_rows() -> impl Iterator<Item = &'static Binding> {
    KEYMAP.iter().filter(|b| !b.help.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_inputs_and_every_input_has_help() {
        let k = |c, m| lookup(&KeyEvent::new(c, m));
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
        // No key is bound twice.
        for (i, a) in KEYMAP.iter().enumerate() {
            for b in &KEYMAP[i + 1..] {
                assert!(
                    !(a.code == b.code && a.mods == b.mods),
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
        ];
        for b in KEYMAP {
            let documented_as = pairs
                .iter()
                .find(|(i, _)| *i == b.input)
                .map_or(b.input, |(_, p)| *p);
            assert!(
                help_rows().any(|h| h.input == documented_as),
                "{:?} has no help row",
                b.input
            );
        }
    }
}
