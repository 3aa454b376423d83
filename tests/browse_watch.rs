//! Browsing's watchers against the emulator: the details view's (a pool's, a job's, a node's
//! and a task's properties as the service returns them, with the SAS signature of a resource
//! file redacted before they leave the watcher, and a failed task's failure info first), and
//! the pools' nodes by state (one `/nodecounts` request, in the service's shape); `d`'s
//! download and the log viewer's search over a whole file, both by byte ranges.

mod common;

use std::time::Duration;

use batchdeck::azure::models::{Job, PoolInfo, ResourceFile, Task};
use batchdeck::tui::browse::details::{Details, Tone};
use batchdeck::watch::{Watch, Watcher};
use batchdeck::workflow::events::{Entity, Event, FilesOf, Properties};
use common::quick_cadences as quick;
use tokio::sync::mpsc::UnboundedReceiver;

/// The next properties of `of` that satisfy `ok` (within 60 s).
async fn details_of(
    rx: &mut UnboundedReceiver<Event>,
    of: &Entity,
    ok: impl Fn(&Option<Properties>) -> bool,
) -> Option<Properties> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no details of {of} in 60 s"))
            .expect("the watcher runs");
        if let Event::Details { of: o, properties } = e
            && &o == of
            && ok(&properties)
        {
            return properties;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_are_read_from_the_service_with_signatures_redacted_and_failures_first() {
    let dir = tempfile::tempdir().unwrap();
    let emu = common::EmulatorProcess::start(dir.path(), &[]);
    let b = emu.batch_client();
    common::create_pool(&b, "p", 1, 1).await;
    b.create_job(&Job {
        id: "j".into(),
        pool_info: PoolInfo {
            pool_id: Some("p".into()),
            ..PoolInfo::default()
        },
        ..Job::default()
    })
    .await
    .unwrap();
    // A resource file behind a SAS that the blob service refuses: the task fails.
    let url = format!(
        "{}/nosuch/in.txt?sv=2022-11-02&sr=b&sp=r&sig=SeCrEtSiGnAtUrE%3D",
        emu.blob_endpoint.trim_end_matches('/')
    );
    b.add_tasks(
        "j",
        &[Task {
            id: "t".into(),
            command_line: "/bin/true".into(),
            resource_files: vec![ResourceFile {
                http_url: Some(url),
                file_path: Some("in.txt".into()),
                ..ResourceFile::default()
            }],
            ..Task::default()
        }],
    )
    .await
    .unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = Watch::spawn_with(&b, tx, quick());
    let task = Entity::Task {
        job: "j".into(),
        task: "t".into(),
    };
    watch.details(task.clone());
    let p = details_of(&mut rx, &task, |p| {
        p.as_ref().is_some_and(|p| p.json()["state"] == "completed")
    })
    .await
    .unwrap();
    let json = p.json();
    let text = json.to_string();
    assert!(!text.contains("SeCrEt"), "{text}");
    assert!(
        json["resourceFiles"][0]["httpUrl"]
            .as_str()
            .unwrap()
            .ends_with("sp=r&sig=REDACTED"),
        "{text}"
    );
    assert!(json["executionInfo"]["failureInfo"].is_object(), "{text}");
    let mut d = Details::open(task);
    d.apply(Some(&p));
    assert_eq!(d.lines[0], (Tone::Heading, "Errors".to_string()));
    assert!(d.lines[1].1.starts_with("task failed: "), "{:?}", d.lines);
    assert!(d.lines.iter().all(|(_, l)| !l.contains("SeCrEt")));

    // The pool, its node, the job: as the service has them.
    let pool = Entity::Pool("p".into());
    watch.details(pool.clone());
    let p = details_of(&mut rx, &pool, Option::is_some).await.unwrap();
    assert_eq!(p.json()["id"], "p");
    assert_eq!(p.json()["vmSize"], "standard_d2s_v3");
    let node_id = b.list_nodes("p", None).await.unwrap()[0].id.clone();
    let node = Entity::Node {
        pool: "p".into(),
        node: node_id.clone(),
    };
    watch.details(node.clone());
    let p = details_of(&mut rx, &node, Option::is_some).await.unwrap();
    assert_eq!(p.json()["id"], node_id.as_str());
    let job = Entity::Job("j".into());
    watch.details(job.clone());
    let p = details_of(&mut rx, &job, Option::is_some).await.unwrap();
    assert_eq!(p.json()["poolInfo"]["poolId"], "p");
    // One that does not exist: said so.
    let gone = Entity::Task {
        job: "j".into(),
        task: "nope".into(),
    };
    watch.details(gone.clone());
    assert!(details_of(&mut rx, &gone, |_| true).await.is_none());
    watch.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pools_carry_their_nodes_by_state_from_one_node_counts_request() {
    let dir = tempfile::tempdir().unwrap();
    let emu = common::EmulatorProcess::start(dir.path(), &[]);
    let b = emu.batch_client();
    common::create_pool(&b, "a", 2, 1).await;
    common::create_pool(&b, "b", 0, 1).await;
    // The emulator's answer has the service's shape: the published example's fields, each
    // state of both kinds of node.
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/recorded/pool_node_counts_spec.json")).unwrap();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let ours: serde_json::Value = b
        .get_json("node counts", b.url(&["nodecounts"], &[]))
        .await
        .unwrap();
    let (theirs, ours) = (&spec["value"][0], &ours["value"][0]);
    assert_eq!(keys(ours), keys(theirs));
    assert_eq!(keys(&ours["dedicated"]), keys(&theirs["dedicated"]));
    assert_eq!(keys(&ours["lowPriority"]), keys(&theirs["lowPriority"]));

    // Each listing of the pools is two requests, however many pools: the pools, and the
    // node counts of all of them.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut w = Watcher::new(b.clone(), tx);
    let t0 = std::time::Instant::now();
    w.watch_pools(t0);
    let requests = || b.stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    let mut rows = None;
    for round in 0..600u64 {
        let before = requests();
        w.round(t0 + Duration::from_secs(3600 * round)).await;
        assert_eq!(requests() - before, 2, "round {round}");
        while let Ok(e) = rx.try_recv() {
            if let Event::Pools(r) = e {
                rows = Some(r);
            }
        }
        if rows
            .as_ref()
            .is_some_and(|r: &Vec<_>| r[0].nodes.is_some_and(|c| c.idle == 2))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows: Vec<_> = rows.expect("the pools");
    let a = rows[0].nodes.expect("pool a's nodes by state");
    assert_eq!((rows[0].pool.id.as_str(), a.total, a.idle), ("a", 2, 2));
    let b_nodes = rows[1].nodes.expect("pool b's nodes by state");
    assert_eq!((rows[1].pool.id.as_str(), b_nodes.total), ("b", 0));
}

/// The emulator with task t of job j on pool p, which ran `cmd` and completed.
async fn a_completed_task(
    dir: &std::path::Path,
    cmd: &str,
) -> (
    common::EmulatorProcess,
    batchdeck::azure::batch::BatchClient,
    FilesOf,
) {
    let emu = common::EmulatorProcess::start(dir, &[]);
    let b = emu.batch_client();
    common::create_pool(&b, "p", 1, 1).await;
    common::create_job_with_tasks(&b, "j", "p", &[("t", cmd)]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while b.task_counts("j").await.unwrap().task_counts.completed < 1 {
        assert!(std::time::Instant::now() < deadline, "the task did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let of = FilesOf::Task {
        job: "j".into(),
        task: "t".into(),
    };
    (emu, b, of)
}

/// `d` in the log viewer: a task's 20 MiB stdout downloaded by ranges of 4 MiB into a
/// temporary file renamed at the end; a missing file and a cancelled download leave nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_downloaded_by_byte_ranges_and_nothing_partial_is_left() {
    use batchdeck::workflow::controller::{DOWNLOAD_RANGE, download_file};
    let dir = tempfile::tempdir().unwrap();
    let size: usize = 20 * 1024 * 1024 + 7;
    let cmd = format!("/bin/sh -c 'yes abcdefghij | head -c {size}'");
    let (_emu, b, of) = a_completed_task(dir.path(), &cmd).await;
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("t").join("stdout.txt");
    let requests = || b.stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    let before = requests();
    let bytes = download_file(&b, &of, "stdout.txt", &dest).await.unwrap();
    assert_eq!(bytes, size as u64);
    // Its length, then one read a range.
    let ranges = (size as u64).div_ceil(DOWNLOAD_RANGE);
    assert_eq!(requests() - before, 1 + ranges);
    let want: Vec<u8> = b"abcdefghij\n".iter().copied().cycle().take(size).collect();
    assert!(std::fs::read(&dest).unwrap() == want, "the bytes differ");
    let names = |d: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&out.path().join("t")), ["stdout.txt"]);

    // A file that is not there: an error, and no file.
    let missing = out.path().join("t").join("nope.txt");
    let err = download_file(&b, &of, "nope.txt", &missing)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope.txt"), "{err}");
    assert_eq!(names(&out.path().join("t")), ["stdout.txt"]);
    // A name that leads outside the task's directory is refused.
    let err = download_file(&b, &of, "../../etc/passwd", &out.path().join("x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");

    // Cancelled once its temporary file exists (the session quit): nothing is left.
    let again = out.path().join("again").join("stdout.txt");
    let mut fut = Box::pin(download_file(&b, &of, "stdout.txt", &again));
    loop {
        tokio::select! {
            r = &mut fut => panic!("the download ended before it was cancelled: {r:?}"),
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
        if again.parent().unwrap().exists() && !names(again.parent().unwrap()).is_empty() {
            break;
        }
    }
    drop(fut);
    assert_eq!(names(again.parent().unwrap()), Vec::<String>::new());
}

/// The log viewer of a real session (its app and its view's watcher, driven as the TUI's loop
/// drives them) on a file of the emulator.
struct Viewer {
    app: batchdeck::tui::app::App,
    watch: batchdeck::tui::browse::watcher::ViewWatch,
}

impl Viewer {
    fn open(b: &batchdeck::azure::batch::BatchClient, of: FilesOf, path: &str) -> Viewer {
        use batchdeck::tui::app::{App, Msg, Target};
        use batchdeck::tui::browse::View;
        let target = Target {
            batch_endpoint: "local".into(),
            storage_endpoint: "local".into(),
            embedded: true,
        };
        let first = View::Log(of, path.into());
        let mut app = App::browsing(target, false, std::time::Instant::now(), first);
        app.update(Msg::Resize(120, 36));
        let watch = batchdeck::tui::browse::watcher::ViewWatch::new(b.clone());
        let mut v = Viewer { app, watch };
        v.sync();
        v
    }

    fn sync(&mut self) {
        self.watch.sync(self.app.browse_watching(), None);
        self.watch.search(self.app.log_search());
    }

    fn key(&mut self, c: crossterm::event::KeyCode) {
        let k = crossterm::event::KeyEvent::new(c, crossterm::event::KeyModifiers::NONE);
        self.app.update(batchdeck::tui::app::Msg::Key(k));
        self.sync();
    }

    fn search(&mut self, pattern: &str) {
        use crossterm::event::KeyCode;
        self.key(KeyCode::Char('/'));
        for c in pattern.chars() {
            self.key(KeyCode::Char(c));
        }
        self.key(KeyCode::Enter);
    }

    fn log(&self) -> &batchdeck::tui::browse::log::Log {
        self.app.browse.as_ref().unwrap().log.as_ref().unwrap()
    }

    fn top_line(&self) -> Option<&str> {
        let l = self.log();
        (l.top < l.line_count()).then(|| l.line(l.top))
    }

    /// Runs the loop until `done` (within 60 s); whether a "searching" status was seen.
    async fn until(&mut self, what: &str, done: impl Fn(&Viewer) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut searching = false;
        while !done(self) {
            let msgs = tokio::time::timeout_at(deadline, self.watch.recv())
                .await
                .unwrap_or_else(|_| panic!("not {what} in 60 s: {:?}", self.top_line()));
            for m in msgs {
                self.app.update(m);
            }
            searching |= self
                .log()
                .searching
                .as_ref()
                .is_some_and(|s| s.total.is_some());
            self.sync();
        }
        searching
    }

    fn last_notice(&self) -> String {
        self.app
            .notices
            .back()
            .map(|n| n.text.clone())
            .unwrap_or_default()
    }
}

/// `n` and `N` in the log viewer find a match anywhere in a 13 MiB stdout (the viewer holds at
/// most 256 KiB of it): `n` from its start finds the one line near its end, reading on by
/// ranges of 4 MiB; `N` from its end finds the one near its start; a pattern that is not there
/// is "not found" once the file was searched to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_and_n_search_the_whole_file_by_byte_ranges_beyond_what_the_viewer_holds() {
    use batchdeck::tui::browse::log::{KEEP, WINDOW};
    use batchdeck::tui::browse::search::RANGE;
    use crossterm::event::KeyCode;
    let dir = tempfile::tempdir().unwrap();
    // Whole lines of 11 bytes.
    let filler: u64 = 11 * 1_250_000;
    let cmd = format!(
        "/bin/sh -c 'echo Near The Start; yes abcdefghij | head -c {filler}; \
         echo Near The End; yes klmnopqrst | head -c 2000'"
    );
    let (_emu, b, of) = a_completed_task(dir.path(), &cmd).await;
    let len = b.task_file_len("j", "t", "stdout.txt").await.unwrap();
    assert!(len > filler && filler > 3 * RANGE && len > 10 * KEEP as u64);
    let mut v = Viewer::open(&b, of, "stdout.txt");
    v.until("opened", |v| v.log().len.is_some()).await;

    // From the start of the file: the line near its end is not held, n finds it.
    v.key(KeyCode::Char('g'));
    v.until("at the start", |v| v.top_line() == Some("Near The Start"))
        .await;
    v.search("near the END");
    assert_eq!(v.top_line(), Some("Near The Start"), "nothing held matches");
    let requests = || b.stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    let before = requests();
    v.key(KeyCode::Char('n'));
    assert!(v.app.log_search().is_some(), "n searches the file");
    let searching = v
        .until("found near the end", |v| {
            v.top_line() == Some("Near The End")
        })
        .await;
    assert!(searching, "the viewer said how far the search got");
    // Its length, a read per range of what was not held, then the window at the match (the
    // file poller's reads of the window it was on may add a few).
    let ranges = (len - WINDOW).div_ceil(RANGE);
    let made = requests() - before;
    assert!(
        (1 + ranges..=1 + ranges + 1 + 6).contains(&made),
        "{made} requests"
    );
    assert!(v.log().text.len() <= KEEP);
    // n again: none further on, to the end of the file.
    v.key(KeyCode::Char('n'));
    v.until("not found", |v| v.app.log_search().is_none()).await;
    assert!(
        v.last_notice().contains("Pattern not found"),
        "{}",
        v.last_notice()
    );
    assert_eq!(v.top_line(), Some("Near The End"));

    // From the end of the file: N finds the line near its start.
    v.key(KeyCode::Char('G'));
    v.until("at the end", |v| v.log().follow && v.log().start > RANGE)
        .await;
    v.key(KeyCode::Esc);
    v.search("near the start");
    v.key(KeyCode::Char('N'));
    assert!(v.app.log_search().is_some_and(|a| !a.forward));
    v.until("found near the start", |v| {
        v.top_line() == Some("Near The Start")
    })
    .await;
    assert_eq!(v.log().start, 0);

    // A pattern that is nowhere: searched to the start, "not found"; Esc cancels a search.
    v.key(KeyCode::Char('G'));
    v.until("at the end", |v| v.log().start > RANGE).await;
    v.key(KeyCode::Esc);
    v.search("nowhere");
    v.key(KeyCode::Char('N'));
    v.until("not found", |v| v.app.log_search().is_none()).await;
    assert!(
        v.last_notice().contains("Pattern not found"),
        "{}",
        v.last_notice()
    );
    v.key(KeyCode::Char('N'));
    assert!(v.app.log_search().is_some());
    v.key(KeyCode::Esc);
    assert!(v.app.log_search().is_none());
    assert!(v.log().searching.is_none());
    assert_eq!(v.last_notice(), "Search cancelled");
    v.watch.stop();
}
