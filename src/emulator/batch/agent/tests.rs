use std::path::{Path, PathBuf};

use super::outputs::{expand_pattern, glob_match};
use super::procs::Procs;
use super::resources::safe_join;
use super::{RunSpec, run, split_command_line};
use crate::azure::models::ResourceFile;

#[test]
fn command_lines_split_without_expansion() {
    assert_eq!(
        split_command_line("/bin/sh -c 'echo $AZ_BATCH_TASK_ID'").unwrap(),
        vec!["/bin/sh", "-c", "echo $AZ_BATCH_TASK_ID"]
    );
    assert_eq!(
        split_command_line("echo $AZ_BATCH_TASK_ID \"a b\"").unwrap(),
        vec!["echo", "$AZ_BATCH_TASK_ID", "a b"]
    );
    assert_eq!(
        split_command_line("python3 x.py --n 3 a\\ b").unwrap(),
        vec!["python3", "x.py", "--n", "3", "a b"]
    );
    assert!(split_command_line("   ").is_err());
    assert!(split_command_line("echo 'unterminated").is_err());
}

/// A run killed while its resource file downloads (as when its node dies) neither starts
/// its command nor leaves the download behind it: it must not go on beside the attempt
/// that replaces it, in the same task directory.
#[tokio::test]
async fn a_run_killed_before_its_process_starts_stops_there() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let dir = tempfile::tempdir().unwrap();
    // A file server that answers only when told to.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/input.txt", listener.local_addr().unwrap());
    let (answer_tx, answer_rx) = tokio::sync::oneshot::channel::<()>();
    let (asked_tx, asked_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let _ = asked_tx.send(());
        let _ = answer_rx.await;
        let _ = sock
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
            .await;
    });
    // A run that would leave ran.txt in its working directory.
    let spec = |run_id, task_dir: PathBuf, resource_files| RunSpec {
        run_id,
        command_line: "/bin/sh -c 'echo ran > ran.txt'".into(),
        task_dir,
        env: Vec::new(),
        resource_files,
        output_files: Vec::new(),
        max_wall_clock: None,
        blob_endpoint: String::new(),
        auto_storage_sas: None,
        keep_group: false,
        append_output: false,
    };
    let procs = Procs::default();
    let run_id = 7;
    procs.begin(run_id);
    let input = ResourceFile {
        auto_storage_container_name: None,
        storage_container_url: None,
        http_url: Some(url),
        blob_prefix: None,
        file_path: Some("input.txt".into()),
        file_mode: None,
        extra: Default::default(),
    };
    let http = reqwest::Client::new();
    let spawned = std::sync::atomic::AtomicBool::new(false);
    let attempt = run(
        spec(run_id, dir.path().join("task"), vec![input]),
        &http,
        &procs,
        |_| spawned.store(true, std::sync::atomic::Ordering::SeqCst),
    );
    let killer = async {
        asked_rx.await.unwrap();
        procs.kill(run_id);
        answer_tx.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(attempt, killer);
    assert!(outcome.killed, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    assert!(!spawned.load(std::sync::atomic::Ordering::SeqCst));
    assert!(!dir.path().join("task/wd/ran.txt").exists());
    procs.end(run_id);
    assert!(!procs.killed(run_id));

    // Killed before it began at all: nothing is created.
    let procs = Procs::default();
    procs.begin(8);
    procs.kill(8);
    let outcome = run(
        spec(8, dir.path().join("task8"), Vec::new()),
        &http,
        &procs,
        |_| {},
    )
    .await;
    assert!(outcome.killed);
    assert!(!dir.path().join("task8").exists());
}

#[test]
fn globs() {
    assert!(glob_match("*.txt", "a.txt"));
    assert!(!glob_match("*.txt", "d/a.txt"));
    assert!(glob_match("**/*.txt", "d/e/a.txt"));
    assert!(glob_match("**/*.txt", "a.txt"));
    assert!(glob_match("std???.txt", "stdout.txt"));
    assert!(!glob_match("out/*", "a/b"));
}

#[test]
fn paths_stay_inside() {
    let b = Path::new("/base");
    assert_eq!(
        safe_join(b, "wd/a.txt"),
        Some(PathBuf::from("/base/wd/a.txt"))
    );
    assert_eq!(safe_join(b, "wd/../x"), Some(PathBuf::from("/base/x")));
    assert_eq!(safe_join(b, "../x"), None);
    assert_eq!(safe_join(b, "/etc/passwd"), None);
}

#[test]
fn output_patterns_expand_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let task = dir.path();
    std::fs::create_dir_all(task.join("wd/out/sub")).unwrap();
    std::fs::write(task.join("stdout.txt"), "o").unwrap();
    std::fs::write(task.join("wd/out/a.txt"), "a").unwrap();
    std::fs::write(task.join("wd/out/sub/b.txt"), "b").unwrap();
    let wd = task.join("wd");
    let names = |p: &str| {
        expand_pattern(task, &wd, p)
            .into_iter()
            .map(|(_, n)| n)
            .collect::<Vec<_>>()
    };
    assert_eq!(names("../std*.txt"), vec!["stdout.txt"]);
    assert_eq!(names("out/**/*.txt"), vec!["a.txt", "sub/b.txt"]);
    assert_eq!(names("out/a.txt"), vec!["a.txt"]);
    assert!(names("../../escape").is_empty());
}

/// What an emulator started is found again by its data directory alone (as after a kill -9,
/// when a process group may not have reached the disk): `kill_orphans` ends it and its
/// children, and leaves alone what an emulator on another directory started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_processes_of_a_data_directory_are_found_and_ended_by_it() {
    use super::procs::kill_orphans;
    let alive = |g: i32| nix::sys::signal::killpg(nix::unistd::Pid::from_raw(g), None).is_ok();
    let dir = tempfile::tempdir().unwrap();
    let (mine, other) = (dir.path().join("mine"), dir.path().join("other"));
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let start = |owner: PathBuf, run_id: u64| {
        let task_dir = owner.join(format!("task{run_id}"));
        tokio::spawn(async move {
            let procs = Procs::owned_by(&owner);
            procs.begin(run_id);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let spec = RunSpec {
                run_id,
                // A child in the background too: the whole group must end.
                command_line: "/bin/sh -c 'sleep 60 & sleep 60'".into(),
                task_dir,
                env: Vec::new(),
                resource_files: Vec::new(),
                output_files: Vec::new(),
                max_wall_clock: None,
                blob_endpoint: String::new(),
                auto_storage_sas: None,
                keep_group: false,
                append_output: false,
            };
            let http = reqwest::Client::new();
            let running = tokio::spawn(async move {
                let _ = run(spec, &http, &procs, |g| {
                    let _ = tx.send(g);
                })
                .await;
                procs
            });
            (rx.await.unwrap(), running)
        })
    };
    let (g_mine, run_mine) = start(mine.clone(), 1).await.unwrap();
    let (g_other, run_other) = start(other.clone(), 2).await.unwrap();
    assert!(alive(g_mine) && alive(g_other));
    assert!(
        kill_orphans(&mine) >= 1,
        "no process of {} found",
        mine.display()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(g_mine) {
        assert!(
            std::time::Instant::now() < deadline,
            "group {g_mine} still alive"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    run_mine.await.unwrap();
    assert!(alive(g_other), "another data directory's process was ended");
    super::procs::kill_group(g_other);
    run_other.await.unwrap();
}
