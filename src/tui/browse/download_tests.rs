//! `d` while browsing: the file in the log viewer, or the one selected on the files, to the
//! output directory under the task's or node's id; a notice names the path.

use std::time::Instant;

use crossterm::event::KeyCode;

use super::tests::{browsing, in_the_log_viewer, ticker_files};
use super::*;
use crate::tui::app::{Action, Msg};
use crate::tui::keys::{self, Input, Scope};
use crate::tui::testing::*;
use crate::workflow::controller::Command;
use crate::workflow::events::Event;

#[test]
fn d_downloads_the_file_in_the_viewer_or_selected_on_the_files() {
    let t0 = Instant::now();
    let mut app = in_the_log_viewer(t0);
    app.output_dir = "/tmp/out".into();
    let of = FilesOf::Task {
        job: "tickjob".into(),
        task: "task1".into(),
    };
    let a = ch(&mut app, 'd');
    let dest = std::path::PathBuf::from("/tmp/out/task1/stdout.txt");
    assert_eq!(
        a,
        [Action::Run(Command::DownloadFile {
            of: of.clone(),
            path: "stdout.txt".into(),
            dest: dest.clone(),
        })]
    );
    assert_eq!(
        last_notice(&app),
        "Downloading stdout.txt to /tmp/out/task1/stdout.txt..."
    );
    // Its end: a notice naming where it went.
    app.update(Msg::Event(Event::FileDownloaded {
        path: "stdout.txt".into(),
        dest,
        bytes: 1536,
    }));
    assert_eq!(
        last_notice(&app),
        "Downloaded stdout.txt (1536 bytes) to /tmp/out/task1/stdout.txt"
    );
    assert!(screen(&mut app, 120, 36).contains("Downloaded stdout.txt"));

    // On the files: the selected one; a directory is not downloaded.
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view(), Some(&View::Files(of.clone())));
    app.update(Msg::Event(Event::Files(ticker_files())));
    key(&mut app, KeyCode::Char('G'));
    let a = ch(&mut app, 'd');
    assert_eq!(
        a,
        [Action::Run(Command::DownloadFile {
            of,
            path: "wd/out.txt".into(),
            dest: "/tmp/out/task1/wd/out.txt".into(),
        })]
    );
    key(&mut app, KeyCode::Char('k'));
    assert!(ch(&mut app, 'd').is_empty());
    assert!(
        last_notice(&app).contains("No file selected"),
        "{}",
        last_notice(&app)
    );

    // The keys say so, in both views.
    for scope in [Scope::LOG, Scope::LISTS] {
        assert!(keys::help_rows(scope).any(|b| b.input == Input::Download));
    }
}

#[test]
fn d_on_the_pools_or_jobs_says_what_it_downloads() {
    let t0 = Instant::now();
    let mut app = browsing(t0);
    assert!(ch(&mut app, 'd').is_empty());
    assert!(
        last_notice(&app).contains("d downloads a file"),
        "{}",
        last_notice(&app)
    );
}
