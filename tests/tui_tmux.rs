//! The real binary in a real terminal (tmux, which `scripts/test` installs), on the embedded
//! local Azure: the tutorial runs to its end on screen, the job and the pool are deleted with
//! their keys, an idle session draws nothing, and every way out (Ctrl-C, SIGTERM, SIGHUP, a
//! panic) gives the terminal back as it was.
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use batchdeck::azure::batch::BatchClient;

/// A tmux server of our own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    fn new(tag: &str) -> Tmux {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["home", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        // One socket per server, even for two tests of one tag running at once.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Tmux {
            socket: format!("batchdeck-{tag}-{}-{n}", std::process::id()),
            dir,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .output()
            .expect("tmux is installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `script` under `sh` in a 140x45 window, with the sandbox's home and no Azure
    /// settings, so the session runs on the embedded local Azure.
    fn start(&self, script: &str) {
        let env = format!(
            "cd {work} && env -u AZURE_BATCH_ACCOUNT -u AZURE_STORAGE_ACCOUNT -u AZURE_STORAGE_CONNECTION_STRING HOME={home} XDG_CONFIG_HOME={home}/.config XDG_DATA_HOME={home}/.local/share TERM=xterm-256color BATCHDECK_LOG=info,batchdeck::tui::frames=trace",
            work = self.path("work").display(),
            home = self.path("home").display(),
        );
        self.tmux(&[
            "new-session",
            "-d",
            "-x",
            "140",
            "-y",
            "45",
            "-s",
            "main",
            &format!("{env} sh -c '{script}; sleep 600'"),
        ]);
    }

    /// Starts `batchdeck ARGS` on the endpoints of `emu`, then says how it exited (`EXIT=`).
    fn start_on(&self, emu: &common::EmulatorProcess, args: &str) {
        self.start(&format!(
            "{bin} {args} --data-dir {data} --batch-endpoint {be} --storage-endpoint {se}; echo EXIT=$?",
            bin = env!("CARGO_BIN_EXE_batchdeck"),
            data = self.path("data").display(),
            be = emu.batch_endpoint,
            se = emu.blob_endpoint,
        ));
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    /// Types `keys` one at a time: an Escape followed at once by more bytes would read as an
    /// Alt-key sequence, as in any terminal.
    fn keys(&self, keys: &[&str]) {
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(150));
            }
            self.tmux(&["send-keys", "-t", "main", k]);
        }
    }

    fn display(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "main", format])
            .trim()
            .to_string()
    }

    /// Waits until the screen shows `needle`; panics with the screen after `secs`.
    fn wait_for(&self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on screen within {secs} s:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the line the shell prints once batchdeck has ended (`echo EXIT=$?`) and
    /// checks its exit code; returns the screen.
    fn exited(&self, code: i32, secs: u64) -> String {
        let s = self.wait_for("EXIT=", secs);
        assert!(s.contains(&format!("EXIT={code}")), "not EXIT={code}:\n{s}");
        s
    }

    /// [`Tmux::exited`], with the run's summary saying it left nothing behind.
    fn exited_leaving_nothing(&self, code: i32) -> String {
        let end = self.exited(code, 30);
        assert!(
            end.contains("nothing the run created is left behind"),
            "{end}"
        );
        end
    }

    /// Waits until the screen no longer shows `needle` (a key was taken); panics with the
    /// screen after `secs`.
    fn wait_for_gone(&self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if !s.contains(needle) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} still on screen after {secs} s:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn batchdeck_pid(&self) -> i32 {
        let marker = self.path("data").display().to_string();
        for e in std::fs::read_dir("/proc").expect("/proc") {
            let Ok(e) = e else { continue };
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if comm.trim() == "batchdeck" && String::from_utf8_lossy(&cmd).contains(&marker) {
                return pid;
            }
        }
        panic!("no batchdeck process for {marker}");
    }

    /// The command line of a session; nodes boot at once unless `extra` says otherwise.
    fn batchdeck_command(&self, extra: &str) -> String {
        let boot = if extra.contains("--node-boot-delay") {
            ""
        } else {
            "--node-boot-delay 0"
        };
        format!(
            "{bin} --data-dir {data} {boot} --allocation-delay 0 --output-dir {out} {extra}",
            bin = env!("CARGO_BIN_EXE_batchdeck"),
            data = self.path("data").display(),
            out = self.path("out").display(),
        )
    }

    fn frames_logged(&self) -> usize {
        std::fs::read_to_string(self.path("data/logs/batchdeck.log"))
            .unwrap_or_default()
            .matches("frame drawn")
            .count()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// CPU time (user + system, in clock ticks) a process has used.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn endpoint_on(screen: &str) -> String {
    let line = screen
        .lines()
        .find(|l| l.contains("embedded local Azure"))
        .expect("status line");
    let start = line.find("http://").expect("endpoint on the status line");
    line[start..]
        .split_whitespace()
        .next()
        .expect("url")
        .to_string()
}

fn gone(batch: &BatchClient, rt: &tokio::runtime::Runtime, what: &str) -> bool {
    rt.block_on(async {
        let r = match what {
            "job" => batch.get_job("PythonTutorialJob").await.map(|_| ()),
            _ => batch
                .get_pool("PythonTutorialPool", Some("id"))
                .await
                .map(|_| ()),
        };
        matches!(r, Err(e) if e.is_not_found())
    })
}

fn wait_gone(batch: &BatchClient, rt: &tokio::runtime::Runtime, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gone(batch, rt, what) {
        assert!(Instant::now() < deadline, "{what} still exists after 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_tutorial_runs_on_screen_and_keys_delete_the_job_and_the_pool() {
    let t = Tmux::new("e2e");
    t.start(&format!(
        "{}; echo EXIT=$?",
        t.batchdeck_command("--keep-job --keep-pool")
    ));
    let screen = t.wait_for("run complete", 90);
    for needle in [
        "✓ 7 Download output ",
        "completed 3 (✓3 ✗0)",
        "taskdata1",
        // As much of the title as the 120-column screen has room for.
        "Uploads 4/4 files to applic",
        "(✓3 ✗0) · PythonTutorialJob ",
        "idle",
        "9 Delete job and pool         kept",
    ] {
        assert!(
            screen.contains(needle),
            "{needle:?} not on screen:\n{screen}"
        );
    }
    // The selected task's output file, as downloaded.
    assert!(screen.contains("task taskdata1"), "{screen}");
    for f in ["taskdata1", "taskdata2", "taskdata3"] {
        assert!(t.path(&format!("out/{f}_OUTPUT.txt")).exists(), "{f}");
    }

    let endpoint = endpoint_on(&screen);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batch = common::batch_client(&endpoint);
    assert!(!gone(&batch, &rt, "job") && !gone(&batch, &rt, "pool"));

    // Idle: nothing moves, so nothing is drawn and (almost) no CPU is used.
    std::thread::sleep(Duration::from_secs(9)); // the last notice expires after 8 s
    let pid = t.batchdeck_pid();
    let (frames, ticks) = (t.frames_logged(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(5));
    let (frames2, ticks2) = (t.frames_logged(), cpu_ticks(pid));
    assert_eq!(
        frames2,
        frames,
        "an idle session drew {} frames",
        frames2 - frames
    );
    assert!(
        ticks2 - ticks <= 5,
        "an idle session used {} CPU ticks in 5 s",
        ticks2 - ticks
    );

    // J opens a dialog that starts on Cancel: Enter keeps the job.
    t.keys(&["J"]);
    t.wait_for("Delete the job?", 10);
    t.keys(&["Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!gone(&batch, &rt, "job"), "Enter alone deleted the job");
    // J, then y, deletes it.
    t.keys(&["J"]);
    t.wait_for("Delete the job?", 10);
    t.keys(&["y"]);
    wait_gone(&batch, &rt, "job");
    t.wait_for("Deleted job PythonTutorialJob", 10);
    // P, Right, Enter deletes the pool.
    t.keys(&["P"]);
    t.wait_for("Delete the pool?", 10);
    t.keys(&["Right", "Enter"]);
    wait_gone(&batch, &rt, "pool");
    t.wait_for("the pool is deleted", 10);

    // Nothing is left: q quits without asking, and the summary says so.
    t.keys(&["q"]);
    t.exited_leaving_nothing(0);
}

#[test]
fn a_failed_task_is_shown_and_the_exit_after_quitting_says_so() {
    let t = Tmux::new("failed");
    let script = t.path("picky.py");
    common::outputs::write_script_failing_on(&script, "taskdata2");
    t.start(&format!(
        "{}; echo EXIT=$?",
        t.batchdeck_command(&format!(
            "--delete-job --delete-pool --task-script {}",
            script.display()
        ))
    ));
    let screen = t.wait_for("run complete", 90);
    assert!(screen.contains("completed 3 (✓2 ✗1)"), "{screen}");
    // The containers are kept for a retry; quitting asks about them.
    t.keys(&["q"]);
    t.wait_for("container input", 10);
    t.keys(&["d"]);
    let end = t.exited_leaving_nothing(1);
    assert!(end.contains("batchdeck: 1 of 3 tasks failed"), "{end}");
}

/// A workload of the user's own runs on screen as the tutorial does: the word-count example's
/// map tasks (made to sleep 3 s first), the reduce task shown waiting on them while they run,
/// then running itself; its total is checked against a count made here (it can only be right
/// if the reduce task ran after every map task).
#[test]
fn the_word_count_workload_runs_on_screen_and_its_total_is_right() {
    let t = Tmux::new("wordcount");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/wordcount");
    let workload = common::outputs::slow_word_count(&t.path("wc"), 3);
    t.start(&format!(
        "{}; echo EXIT=$?",
        t.batchdeck_command(&format!(
            "-w {} --delete-job --delete-pool",
            workload.display()
        ))
    ));
    // While map tasks run, the reduce task waits on them (the service says only "active").
    let deadline = Instant::now() + Duration::from_secs(60);
    let waiting = |s: &str| {
        s.lines()
            .any(|l| l.contains("│total ") && l.contains(" waiting "))
            && s.lines()
                .any(|l| l.contains("│count-") && l.contains(" running "))
    };
    let mut screen = t.screen();
    while !waiting(&screen) {
        assert!(
            Instant::now() < deadline,
            "the reduce task never waited while map tasks ran:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
        screen = t.screen();
    }
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no {name} row:\n{screen}"))
            .to_string()
    };
    let total = row("│total ");
    assert!(
        (1..=5).any(|n| total.contains(&format!(" on {n} task"))),
        "{screen}"
    );
    // The workload's own names: its name and steps, its pool, and its job's task ids.
    assert!(screen.contains("┌ Steps · wordcount "), "{screen}");
    assert!(screen.contains(" 3 Create pool WordCountPool "), "{screen}");
    assert!(screen.contains(" 5 Add count ×5, total "), "{screen}");
    assert!(screen.contains("Pool WordCountPool"), "{screen}");
    assert!(row("│count-harbour").contains("count-harbour"));
    let screen = t.wait_for("run complete", 120);
    assert!(screen.contains("completed 6 (✓6 ✗0)"), "{screen}");
    assert!(screen.contains("total"), "{screen}");
    let inputs = common::outputs::txt_files(&root.join("data"));
    assert_eq!(inputs.len(), 5);
    for input in &inputs {
        let stem = input.file_stem().unwrap().to_str().unwrap();
        assert!(
            t.path(&format!("out/counts/{stem}.counts")).is_file(),
            "{stem}"
        );
    }
    let want = common::outputs::word_count_total(&inputs);
    let got = std::fs::read_to_string(t.path("out/total_OUTPUT.txt")).unwrap();
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
    t.keys(&["q"]);
    t.exited_leaving_nothing(0);
}

/// After the run the session keeps watching: a resize shows the new nodes, and a failed task
/// retried with `r` is shown running again, then its output is downloaded and previewed.
#[test]
fn after_the_run_a_resize_shows_its_nodes_and_a_retried_task_its_output() {
    let t = Tmux::new("after");
    let script = t.path("flaky.py");
    common::outputs::write_script_failing_once(&script, "taskdata2", &t.path("failed-once"));
    t.start(&format!(
        "{}; echo EXIT=$?",
        t.batchdeck_command(&format!(
            "--keep-job --keep-pool --task-script {}",
            script.display()
        ))
    ));
    let screen = t.wait_for("run complete", 90);
    assert!(screen.contains("2/2 nodes"), "{screen}");
    assert!(!t.path("out/taskdata2_OUTPUT.txt").exists());
    // R 5: the pool grows, its rows come.
    t.keys(&["R", "5", "Enter"]);
    t.wait_for("5/5 nodes", 30);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = t.screen();
        let rows = s
            .lines()
            .filter(|l| l.contains("tvmps_") && l.contains("idle"))
            .count();
        if rows == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "{rows} node rows:\n{s}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The failed task, retried: it runs again and succeeds; its output comes down by itself.
    t.keys(&["/", "f", "a", "i", "l", "e", "d", "Enter", "g"]);
    t.wait_for("Preview taskdata2", 10);
    t.keys(&["r"]);
    t.wait_for("Task taskdata2 reactivated", 10);
    let s = t.wait_for("completed 3 (✓3 ✗0)", 60);
    assert!(s.contains("completed"), "{s}");
    let out = t.path("out/taskdata2_OUTPUT.txt");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !out.exists() {
        assert!(
            Instant::now() < deadline,
            "no output downloaded:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "ok\n");
    // Esc (the filter cleared) taken before `q`: ESC and q read together are Alt-q.
    t.keys(&["Escape"]);
    t.wait_for_gone("filter \"failed\"", 10);
    t.keys(&["q"]);
    t.wait_for("Quit batchdeck?", 10);
    t.keys(&["k"]);
    // Every task succeeded in the end.
    t.exited(0, 30);
}

#[test]
fn q_on_a_too_small_terminal_quits_and_answers_no_hidden_question() {
    let t = Tmux::new("small");
    t.start(&format!("{}; echo EXIT=$?", t.batchdeck_command("")));
    // Step 9 asks about the job.
    t.wait_for("The run is over. Delete job PythonTutorialJob?", 90);
    t.tmux(&["resize-window", "-t", "main", "-x", "60", "-y", "16"]);
    t.wait_for("Terminal too small", 10);
    // y would have deleted the job through the hidden dialog: nothing happens.
    t.keys(&["y"]);
    std::thread::sleep(Duration::from_millis(500));
    // q opens the quit dialog, shown on the small screen; k keeps everything and quits.
    t.keys(&["q"]);
    t.wait_for("Quit batchdeck?", 10);
    t.keys(&["k"]);
    let end = t.wait_for("EXIT=", 30);
    for kept in ["job PythonTutorialJob", "pool PythonTutorialPool"] {
        assert!(end.contains(kept), "{kept} not kept:\n{end}");
    }
}

/// Runs the session between two `stty -g`, ends it with `end`, and checks the terminal
/// settings, the screen and the cursor are as before.
fn leaves_the_terminal_as_it_was(tag: &str, end: impl FnOnce(&Tmux)) -> String {
    leaves_the_terminal_as_it_was_with(tag, "", end)
}

/// The same, with `env` (e.g. `NAME=value `) before the command.
fn leaves_the_terminal_as_it_was_with(tag: &str, env: &str, end: impl FnOnce(&Tmux)) -> String {
    let t = Tmux::new(tag);
    let before = t.path("stty.before");
    let after = t.path("stty.after");
    t.start(&format!(
        "stty -g > {b}; echo shell-before; {env}{cmd}; echo EXIT=$?; stty -g > {a}",
        b = before.display(),
        a = after.display(),
        // Nodes take a minute to boot: the session is ended in the middle of the run.
        cmd = t.batchdeck_command("--keep-job --keep-pool --node-boot-delay 60s"),
    ));
    t.wait_for("▶ 6 Wait for 3 tasks", 30);
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "the session uses the alternate screen"
    );
    end(&t);
    let screen = t.wait_for("EXIT=", 30);
    // The shell creates the file before stty writes its line into it: wait for the line.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&after).is_ok_and(|s| s.ends_with('\n')) {
        assert!(
            Instant::now() < deadline,
            "stty -g did not run after batchdeck"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(&before).unwrap(),
        std::fs::read_to_string(&after).unwrap(),
        "terminal settings changed"
    );
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(t.display("#{cursor_flag}"), "1", "the cursor is hidden");
    // The main screen is back, with what was there before the session.
    assert!(screen.contains("shell-before"), "{screen}");
    assert!(!screen.contains("┌ Steps"), "{screen}");
    screen
}

#[test]
fn ctrl_c_restores_the_terminal_and_says_what_remains() {
    let screen = leaves_the_terminal_as_it_was("ctrlc", |t| t.keys(&["C-c"]));
    for needle in [
        "batchdeck: still present (on the embedded local Azure: nothing is billed):",
        "pool PythonTutorialPool: compute nodes are billed",
        "job PythonTutorialJob",
        "container input",
        "interrupted before the run finished",
        "EXIT=130",
    ] {
        assert!(screen.contains(needle), "{needle:?} missing:\n{screen}");
    }
}

#[test]
fn sigterm_restores_the_terminal() {
    let screen = leaves_the_terminal_as_it_was("term", |t| {
        let pid = nix::unistd::Pid::from_raw(t.batchdeck_pid());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    });
    assert!(screen.contains("EXIT=130"), "{screen}");
}

#[test]
fn a_panic_restores_the_terminal_and_is_reported() {
    // Debug builds panic on F12 when BATCHDECK_TEST_PANIC is set (src/tui/mod.rs).
    let env = "RUST_BACKTRACE=0 BATCHDECK_TEST_PANIC=1 ";
    let screen = leaves_the_terminal_as_it_was_with("panic", env, |t| t.keys(&["F12"]));
    // The message is on the main screen, and what follows is printed below it, not over it
    // (restoring the terminal twice would move the cursor back up).
    let line = |needle: &str| screen.lines().position(|l| l.contains(needle));
    let (message, exit) = (
        line("panic injected by BATCHDECK_TEST_PANIC"),
        line("EXIT=101"),
    );
    assert!(
        message.is_some() && exit.is_some() && message < exit,
        "{screen}"
    );
    assert!(
        screen.lines().any(|l| l.starts_with("EXIT=101")),
        "{screen}"
    );
}

#[test]
fn sighup_restores_the_terminal() {
    leaves_the_terminal_as_it_was("hup", |t| {
        let pid = nix::unistd::Pid::from_raw(t.batchdeck_pid());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    });
}

#[test]
fn a_small_terminal_gets_a_clear_message_and_resizing_back_restores_the_panels() {
    let t = Tmux::new("small");
    t.start(&format!(
        "{}; echo EXIT=$?",
        t.batchdeck_command("--keep-job --keep-pool")
    ));
    t.wait_for("Steps", 30);
    t.tmux(&["resize-window", "-t", "main", "-x", "60", "-y", "15"]);
    t.wait_for("Terminal too small", 10);
    t.tmux(&["resize-window", "-t", "main", "-x", "140", "-y", "45"]);
    t.wait_for("┌ Steps", 10);
    t.keys(&["C-c"]);
    t.wait_for("EXIT=", 30);
}

#[test]
fn the_session_survives_injected_faults_and_shows_no_secret() {
    // Non-default keys, on a separately started emulator that injects faults into 20% of the
    // requests, kills nodes and fails start tasks.
    let batch_key = "dHVpLXNlY3JldC1iYXRjaC1rZXktMDEyMzQ1Njc4OQ==";
    let storage_key = "dHVpLXNlY3JldC1zdG9yYWdlLWtleS0wMTIzNDU2Nzg5";
    let t = Tmux::new("faults");
    let emu = common::EmulatorProcess::start(
        &t.path("emu"),
        &[
            "--faults",
            "error=0.1,reset=0.1,node-death=0.2,start-task=0.2",
            "--batch-account",
            "tuibatch",
            "--batch-key",
            batch_key,
            "--storage-account",
            "tuistore",
            "--storage-key",
            storage_key,
        ],
    );
    let env = format!(
        "AZURE_BATCH_ACCOUNT=tuibatch AZURE_BATCH_ACCESS_KEY={batch_key} AZURE_BATCH_ENDPOINT={} AZURE_STORAGE_ACCOUNT=tuistore AZURE_STORAGE_KEY={storage_key}",
        emu.batch_endpoint
    );
    t.start(&format!(
        "clear; {env} {} --storage-endpoint {}; echo EXIT=$?",
        t.batchdeck_command("--keep-job --keep-pool"),
        emu.blob_endpoint
    ));
    let mut screens = vec![t.wait_for("Steps", 30)];
    screens.push(t.wait_for("run complete", 120));
    let end = screens.last().unwrap().clone();
    assert!(end.contains("completed 3 (✓3 ✗0)"), "{end}");
    assert!(
        end.contains(" Batch service "),
        "not embedded, not Azure: {end}"
    );
    for f in ["taskdata1", "taskdata2", "taskdata3"] {
        let text = std::fs::read_to_string(t.path(&format!("out/{f}_OUTPUT.txt"))).unwrap();
        assert!(text.contains(&format!("task {f}\n")), "{text}");
    }
    // Everywhere a secret could show: details of a task and a node, the help, the quit dialog.
    t.keys(&["Enter"]);
    screens.push(t.wait_for("Esc back", 10));
    // Each Esc taken before the next key (ESC and a key read together are Alt and the key).
    t.keys(&["Escape"]);
    t.wait_for_gone("Esc back", 10);
    t.keys(&["BTab", "Enter"]);
    screens.push(t.wait_for("Esc back", 10));
    t.keys(&["Escape"]);
    t.wait_for_gone("Esc back", 10);
    t.keys(&["?"]);
    screens.push(t.wait_for(" Keys ", 10));
    t.keys(&["Escape"]);
    t.wait_for_gone(" Keys ", 10);
    t.keys(&["q"]);
    screens.push(t.wait_for("Quit batchdeck?", 10));
    t.keys(&["d"]);
    screens.push(t.exited(0, 60));
    let log = std::fs::read_to_string(t.path("data/logs/batchdeck.log")).unwrap();
    for (i, text) in screens.iter().chain(std::iter::once(&log)).enumerate() {
        for secret in [batch_key, storage_key] {
            assert!(!text.contains(secret), "text {i} shows an account key");
        }
        for (at, _) in text.match_indices("sig=") {
            let value: String = text[at + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "%+/=".contains(*c))
                .collect();
            assert!(
                value.is_empty() || value == "REDACTED",
                "text {i} shows a SAS signature"
            );
        }
    }
}

/// The whole tutorial on screen against an emulator whose keys are disabled, signed in with
/// Microsoft Entra ID (a service principal from the environment, or the Azure CLI): no key in
/// any request (the emulator's request log), no token or secret on any screen or in the log.
fn runs_on_entra_id_with_keys_disabled(
    tag: &str,
    sign_in: impl FnOnce(&Tmux, &common::EmulatorProcess) -> String,
) {
    use batchdeck::emulator::entra::APPS;
    let t = Tmux::new(tag);
    let requests = t.path("requests.jsonl");
    let emu = common::EmulatorProcess::start(
        &t.path("emu"),
        &[
            "--disable-shared-key",
            "--request-log",
            requests.to_str().unwrap(),
        ],
    );
    let env = sign_in(&t, &emu);
    t.start(&format!(
        "clear; {env} {} --auth entra --batch-endpoint {} --storage-endpoint {}; echo EXIT=$?",
        t.batchdeck_command("--delete-job --delete-pool"),
        emu.batch_endpoint,
        emu.blob_endpoint
    ));
    let mut screens = vec![t.wait_for("Steps", 30)];
    screens.push(t.wait_for("run complete", 120));
    let end = screens.last().unwrap().clone();
    assert!(end.contains("completed 3 (✓3 ✗0)"), "{end}");
    for f in ["taskdata1", "taskdata2", "taskdata3"] {
        let text = std::fs::read_to_string(t.path(&format!("out/{f}_OUTPUT.txt"))).unwrap();
        assert!(text.contains(&format!("task {f}\n")), "{text}");
    }
    t.keys(&["q"]);
    screens.push(t.exited(0, 60));
    let log = std::fs::read_to_string(t.path("data/logs/batchdeck.log")).unwrap();
    for (i, text) in screens.iter().chain(std::iter::once(&log)).enumerate() {
        assert!(!text.contains("eyJ"), "text {i} shows a token");
        assert!(
            !text.contains(APPS[0].client_secret),
            "text {i} shows the secret"
        );
    }
    let kinds: Vec<String> = std::fs::read_to_string(&requests)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["auth"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(kinds.len() > 20, "{kinds:?}");
    assert!(
        kinds
            .iter()
            .all(|k| k == "Bearer" || k == "UserDelegationSAS"),
        "{kinds:?}"
    );
}

#[test]
fn the_session_runs_on_a_service_principal_with_keys_disabled() {
    runs_on_entra_id_with_keys_disabled("entra-sp", |_, emu| {
        let app = &batchdeck::emulator::entra::APPS[0];
        format!(
            "AZURE_TENANT_ID={} AZURE_CLIENT_ID={} AZURE_CLIENT_SECRET={} AZURE_AUTHORITY_HOST={} SSL_CERT_FILE={}",
            emu.tenant_id,
            app.client_id,
            app.client_secret,
            emu.authority_host,
            emu.ca_cert.display()
        )
    });
}

#[test]
fn the_session_runs_on_the_azure_cli_credential_with_keys_disabled() {
    runs_on_entra_id_with_keys_disabled("entra-az", |t, emu| {
        let app = &batchdeck::emulator::entra::APPS[0];
        let config = t.path("azure");
        std::fs::create_dir_all(&config).unwrap();
        let login = serde_json::json!({
            "authority_host": emu.authority_host,
            "tenant": emu.tenant_id,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "ca_file": emu.ca_cert,
        });
        std::fs::write(config.join("stand-in-login.json"), login.to_string()).unwrap();
        let stand_in =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/az-stand-in");
        format!(
            "PATH={}:$PATH AZURE_CONFIG_DIR={} AZURE_TOKEN_CREDENTIALS=dev SSL_CERT_FILE={}",
            stand_in.display(),
            config.display(),
            emu.ca_cert.display()
        )
    });
}

/// The highest `line N` the screen shows.
fn highest_line(screen: &str) -> u32 {
    screen
        .split("line ")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// `batchdeck watch` attached to a job that Microsoft's azure-batch 15 SDK made, whose task
/// prints a line a second: new lines show in the preview as they come, the Batch service going
/// away for 15 s (the emulator killed, then restarted on its ports) shows as reconnecting and is
/// caught up with, the final line shows without a key press, and nothing is deleted.
#[test]
fn watch_follows_an_sdk_job_through_an_outage_to_its_last_line() {
    let t = Tmux::new("watch");
    let data = t.path("emu");
    let mut emu = common::EmulatorProcess::start(&data, &[]);
    common::run_sdk_script(
        "sdk15",
        "watch_job_sdk15.py",
        &emu,
        &["sdkpool", "sdkjob", "30"],
    );
    t.start_on(&emu, "watch --job sdkjob");
    let s = t.wait_for("line 2", 60);
    assert!(s.contains("watching job sdkjob"), "{s}");
    assert!(s.contains("Pool sdkpool"), "{s}");
    assert!(!s.contains("Steps"), "no steps when watching:\n{s}");
    // New lines within 2 s, each time.
    for _ in 0..3 {
        let before = highest_line(&t.screen());
        std::thread::sleep(Duration::from_secs(2));
        let after = highest_line(&t.screen());
        assert!(
            after > before,
            "no new line in 2 s (line {before}):\n{}",
            t.screen()
        );
    }
    // The service goes away for 15 s.
    let endpoint = emu.batch_endpoint.clone();
    let down = Instant::now();
    emu.kill9();
    let s = t.wait_for("reconnecting to Batch (attempt", 20);
    assert!(!s.contains("EXIT="), "{s}");
    std::thread::sleep(Duration::from_secs(15).saturating_sub(down.elapsed()));
    let _emu = common::EmulatorProcess::start(&data, &[]);
    assert_eq!(_emu.batch_endpoint, endpoint, "restarted on its ports");
    // Caught up: the reconnection is said, and the task (requeued by the restart) runs again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while t.screen().contains("reconnecting to Batch") {
        assert!(
            Instant::now() < deadline,
            "still reconnecting:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The last line without a key press, and the job's end.
    let s = t.wait_for("final line", 120);
    assert!(s.contains("ticker"), "{s}");
    t.wait_for("all tasks completed", 30);
    // Nothing was deleted: watching never acts on an outage.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = common::batch_client(&endpoint);
    let pool = rt
        .block_on(b.get_pool("sdkpool", Some("id,state")))
        .unwrap();
    assert_eq!(
        pool.state,
        Some(batchdeck::azure::models::PoolState::Active)
    );
    let job = rt.block_on(b.get_job("sdkjob")).unwrap();
    assert_eq!(job.state, Some(batchdeck::azure::models::JobState::Active));
    // q leaves at once (the session made nothing); the summary says what still exists.
    t.keys(&["q"]);
    let s = t.exited(0, 30);
    for needle in ["still present", "pool sdkpool", "job sdkjob"] {
        assert!(s.contains(needle), "{needle:?} not in:\n{s}");
    }
}

/// `batchdeck browse --readonly` over an account that Microsoft's azure-batch 15 SDK populated
/// (two pools, three jobs, one of 2,000 tasks of which 200 fail, one task that prints a line a
/// second): the pools, `:jobs` lists the three jobs with their counts, Enter on one lists its
/// tasks, the filter finds the failed ones, a pool's nodes show with their address and
/// scheduling state, the ticking task's stdout grows in the preview, and every action is
/// refused (checked through the service afterwards).
#[test]
fn browse_an_sdk_populated_account_read_only() {
    let t = Tmux::new("browse");
    let emu = common::EmulatorProcess::start(&t.path("emu"), &[]);
    let out = common::run_sdk_script("sdk15", "browse_sdk15.py", &emu, &["2000", "600"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("populated"));
    t.start_on(&emu, "browse --readonly");
    let s = t.wait_for("smallpool", 30);
    for needle in ["Pools 2", "bigpool", "STANDARD_D1_V2", "2/2", "│ pools "] {
        assert!(s.contains(needle), "{needle:?} not in:\n{s}");
    }
    // Read-only: each action refused with its own notice.
    let refused = |keys: &[(&str, &str)]| {
        for (k, notice) in keys {
            t.keys(&[k]);
            t.wait_for(notice, 10);
        }
    };
    refused(&[
        ("R", "cannot resize pools"),
        ("H", "cannot stop resizing pools"),
        ("P", "cannot delete pools"),
    ]);
    // :jobs, completed on Tab.
    t.keys(&[":", "jo", "Tab", "s", "Enter"]);
    // The rows come first, their task counts with the next poll: wait for those.
    let s = t.wait_for("1800", 30);
    for needle in ["Jobs 3", "bigjob", "idlejob", "1800", "200"] {
        assert!(s.contains(needle), "{needle:?} not in:\n{s}");
    }
    refused(&[
        ("T", "cannot terminate jobs"),
        ("D", "cannot disable jobs"),
        ("E", "cannot enable jobs"),
        ("J", "cannot delete jobs"),
    ]);
    // Enter on the first job (bigjob): its tasks.
    t.keys(&["Enter"]);
    let s = t.wait_for("Tasks 2000", 30);
    assert!(s.contains("jobs › bigjob › tasks"), "{s}");
    t.keys(&["/", "failed", "Enter"]);
    let s = t.wait_for("filter \"failed\": 200 shown", 30);
    assert!(s.contains("t10 "), "{s}");
    // Read-only: retrying, deleting and resizing are refused.
    t.keys(&["F"]);
    t.wait_for("retrying is disabled", 10);
    t.keys(&["J"]);
    t.wait_for("Read-only session", 10);
    refused(&[
        ("T", "cannot terminate tasks"),
        ("r", "cannot reactivate tasks"),
        ("X", "cannot delete tasks"),
    ]);
    // Esc clears the filter, then goes back to the jobs. Each Esc once the one before was
    // taken: two ESC bytes read together are one Esc key (crossterm), as under load.
    t.keys(&["Escape"]);
    t.wait_for_gone("filter \"failed\"", 10);
    t.keys(&["Escape"]);
    t.wait_for("Jobs 3", 10);
    // A pool's nodes, with their address and scheduling state.
    t.keys(&[":", "pool bigpool", "Enter"]);
    let s = t.wait_for("pools › bigpool › nodes", 30);
    let s = if s.contains("enabled") {
        s
    } else {
        t.wait_for("enabled", 30)
    };
    assert!(s.contains("Pool bigpool"), "{s}");
    t.keys(&["P"]);
    t.wait_for("Read-only session", 10);
    refused(&[
        ("B", "cannot reboot nodes"),
        ("X", "cannot remove nodes"),
        ("D", "cannot disable scheduling on nodes"),
        ("E", "cannot enable scheduling on nodes"),
        ("R", "resizing is disabled"),
    ]);
    // The ticking task's stdout grows in the preview.
    t.keys(&[":", "job tickjob", "Enter"]);
    t.wait_for("line 3", 60);
    let before = highest_line(&t.screen());
    std::thread::sleep(Duration::from_secs(3));
    let after = highest_line(&t.screen());
    assert!(after > before, "no new line in 3 s:\n{}", t.screen());
    // Enter: the task's files (by the files API); Enter on stdout.txt: the log viewer, which
    // follows it as it grows.
    t.keys(&["Enter"]);
    let s = t.wait_for("ticker › files", 30);
    let s = if s.contains("stdout.txt") {
        s
    } else {
        t.wait_for("stdout.txt", 30)
    };
    assert!(s.contains("stderr.txt"), "{s}");
    t.keys(&["/", "stdout", "Enter", "Enter"]);
    let s = t.wait_for("following", 30);
    assert!(s.contains("stdout.txt of task ticker"), "{s}");
    t.wait_for("line 2", 30);
    let before = highest_line(&t.screen());
    std::thread::sleep(Duration::from_secs(3));
    let after = highest_line(&t.screen());
    assert!(
        after > before,
        "the log viewer did not follow:\n{}",
        t.screen()
    );
    // Back to the files (filtered), the filter cleared, back to the tasks: each Esc once the
    // one before was taken.
    t.keys(&["Escape"]);
    t.wait_for("filter \"stdout\": 1 shown", 10);
    t.keys(&["Escape"]);
    t.wait_for_gone("filter \"stdout\"", 10);
    t.keys(&["Escape"]);
    t.wait_for_gone("› files", 10);
    t.wait_for("jobs › tickjob › tasks", 10);
    // `?` lists this view's keys. Waited for by the row itself: a capture may catch the help
    // half drawn (its title and first rows over the old screen), as a suite run at load 8 did.
    t.keys(&["?"]);
    let s = t.wait_for("retry every failed task of the job", 10);
    assert!(s.contains(" Keys "), "{s}");
    t.keys(&["Escape"]);
    t.wait_for_gone(" Keys ", 10);
    t.keys(&["q"]);
    t.exited(0, 30);
    // Nothing changed on the service.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = emu.batch_client();
    for pool in ["bigpool", "smallpool"] {
        let p = rt.block_on(b.get_pool(pool, Some("id,state"))).unwrap();
        assert_eq!(p.state, Some(batchdeck::azure::models::PoolState::Active));
    }
    for job in ["bigjob", "tickjob", "idlejob"] {
        let job = rt.block_on(b.get_job(job)).unwrap();
        assert_eq!(job.state, Some(batchdeck::azure::models::JobState::Active));
    }
    for n in rt.block_on(b.list_nodes("bigpool", None)).unwrap() {
        assert_eq!(
            n.scheduling_state,
            Some(batchdeck::azure::models::SchedulingState::Enabled)
        );
    }
    let c = rt.block_on(b.task_counts("bigjob")).unwrap().task_counts;
    assert_eq!((c.completed, c.failed), (2000, 200));
}

/// `batchdeck browse` acting on an account that azure-batch 15 populated (browse_sdk15.py, then
/// browse_actions_sdk15.py's jobs and tasks to act on), each action by its key behind its
/// confirmation, then every effect checked through the SDK: bigpool's resize stopped,
/// smallpool resized to dedicated and spot targets; a job terminated, one deleted, one disabled
/// then enabled, one's failed tasks retried by `F`; tasks reactivated, retried by `F`, terminated, deleted (marked; and one by
/// another client: both rows go);
/// smallpool's nodes: scheduling disabled, disabled then enabled, a reboot, a removal (marked).
/// Allocating takes 8 s here, so that bigpool is still resizing when its resize is stopped.
#[test]
fn browse_actions_are_seen_through_the_sdk() {
    use batchdeck::azure::models::{JobState, SchedulingState, TaskExecutionResult, TaskState};
    let t = Tmux::new("browse-act");
    let emu = common::EmulatorProcess::start(&t.path("emu"), &["--allocation-delay", "8s"]);
    let out = common::run_sdk_script("sdk15", "browse_sdk15.py", &emu, &["20", "600"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("populated"));
    let okfile = t.path("ok");
    let ok = okfile.display().to_string();
    let out = common::run_sdk_script("sdk15", "browse_actions_sdk15.py", &emu, &["setup", &ok]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ready"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = emu.batch_client();
    // Waits until the service shows what a key did.
    let until = |what: &str, check: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "{what}: not within 60 s:\n{}",
                t.screen()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // Escape, then a pause: an Escape followed at once by a key reads as Alt-key.
    let esc = || {
        t.keys(&["Escape"]);
        std::thread::sleep(Duration::from_millis(400));
    };
    t.start_on(&emu, "browse");
    t.wait_for("smallpool", 30);
    // Pools (bigpool selected): resize to 6, stopped before the nodes come; smallpool to 3
    // dedicated and 1 spot.
    t.keys(&["R", "6", "Enter"]);
    t.wait_for("Resize 1 pool: bigpool?", 10);
    t.keys(&["y"]);
    t.wait_for("Pool bigpool resizing to 6", 10);
    t.keys(&["H"]);
    t.wait_for("Stop resizing 1 pool: bigpool?", 10);
    t.keys(&["y"]);
    t.wait_for("Accepted: stop resizing pool bigpool", 10);
    t.keys(&["Down", "R", "3 1", "Enter"]);
    t.wait_for("Resize 1 pool: smallpool?", 10);
    t.keys(&["y"]);
    t.wait_for("Pool smallpool resizing to 3", 10);
    // Jobs, each found by the filter: idlejob terminated, sparejob deleted, tickjob disabled
    // (and shown so), then enabled.
    let on_job = |id: &str, k: &str| {
        t.keys(&["/", id, "Enter"]);
        t.wait_for(&format!("filter \"{id}\": 1 shown"), 10);
        t.keys(&[k]);
        t.wait_for(&format!("1 job: {id}?"), 10);
        t.keys(&["y"]);
    };
    t.keys(&[":", "jobs", "Enter"]);
    t.wait_for("Jobs 6", 30);
    on_job("idlejob", "T");
    t.wait_for("Accepted: terminate job idlejob", 10);
    esc();
    on_job("sparejob", "J");
    t.wait_for("Deleted job sparejob", 60);
    esc();
    on_job("tickjob", "D");
    t.wait_for("Accepted: disable job tickjob", 10);
    until("tickjob disabled", &|| {
        rt.block_on(b.get_job("tickjob")).unwrap().state == Some(JobState::Disabled)
    });
    t.wait_for(" disabled ", 30);
    t.keys(&["E"]);
    t.wait_for("Enable 1 job: tickjob?", 10);
    t.keys(&["y"]);
    t.wait_for("Accepted: enable job tickjob", 10);
    esc();
    // retryjob's failed task retried from the jobs (`F`), now that it can succeed.
    std::fs::write(&okfile, b"").unwrap();
    on_job("retryjob", "F");
    t.wait_for("Accepted: retry 1 failed task of job retryjob", 10);
    esc();
    // actjob's tasks: once they can succeed, fixme1 reactivated by `r` and fixme2 by `F`
    // (before sleeper is terminated: `F` would retry it too, a terminated task has failed);
    // sleeper terminated, doomed marked and deleted (its row goes), and bystander deleted by
    // another client (its row goes too, within a refresh).
    t.keys(&[":", "job actjob", "Enter"]);
    t.wait_for(" Tasks 5 ", 30);
    let on_task = |id: &str, keys: &[&str], asked: &str| {
        t.keys(&["/", id, "Enter"]);
        t.wait_for(&format!("filter \"{id}\": 1 shown"), 10);
        // The first (the only) task shown.
        t.keys(&["g"]);
        t.keys(keys);
        t.wait_for(asked, 10);
        t.keys(&["y"]);
        esc();
    };
    on_task("fixme1", &["r"], "Reactivate 1 task of job actjob: fixme1?");
    t.wait_for("Task fixme1 reactivated", 10);
    until("fixme1 succeeded", &|| {
        let x = rt.block_on(b.get_task("actjob", "fixme1")).unwrap();
        x.state == Some(TaskState::Completed)
            && x.execution_info.and_then(|e| e.result) == Some(TaskExecutionResult::Success)
    });
    t.keys(&["F"]);
    t.wait_for("Retry 1 failed task of job actjob?", 10);
    t.keys(&["y"]);
    t.wait_for("Task fixme2 reactivated", 10);
    on_task(
        "sleeper",
        &["T"],
        "Terminate 1 task of job actjob: sleeper?",
    );
    t.wait_for("Accepted: terminate task sleeper", 10);
    on_task(
        "doomed",
        &["Space", "X"],
        "Delete 1 task of job actjob: doomed?",
    );
    t.wait_for("Accepted: delete task doomed", 10);
    t.wait_for(" Tasks 4 ", 10);
    rt.block_on(b.delete_task("actjob", "bystander")).unwrap();
    t.wait_for(" Tasks 3 ", 30);
    // smallpool's four nodes, in the order the service lists them (the table's).
    let listed = || -> Vec<batchdeck::azure::models::ComputeNode> {
        rt.block_on(b.list_nodes("smallpool", None)).unwrap()
    };
    until("smallpool's four nodes", &|| listed().len() == 4);
    let nodes: Vec<String> = listed().into_iter().map(|n| n.id).collect();
    let node = |i: usize| listed().into_iter().find(|n| n.id == nodes[i]);
    let scheduling = |i: usize| node(i).and_then(|n| n.scheduling_state);
    t.keys(&[":", "pool smallpool", "Enter"]);
    t.wait_for("4/4 nodes", 30);
    let ask = |keys: &[&str], asked: String| {
        t.keys(keys);
        t.wait_for(&asked, 10);
        t.keys(&["y"]);
    };
    let on = |i: usize| format!("1 node of pool smallpool: {}?", nodes[i]);
    ask(&["D"], format!("Disable scheduling on {}", on(0)));
    until("node 0 disabled", &|| {
        scheduling(0) == Some(SchedulingState::Disabled)
    });
    ask(&["Down", "D"], format!("Disable scheduling on {}", on(1)));
    until("node 1 disabled", &|| {
        scheduling(1) == Some(SchedulingState::Disabled)
    });
    // The session sends no second change for a node while one is in flight (it drops it): the
    // service may show the change before its answer comes (a slow disk commit under load).
    t.wait_for(
        &format!("Accepted: disable scheduling on node {}", nodes[1]),
        30,
    );
    ask(&["E"], format!("Enable scheduling on {}", on(1)));
    until("node 1 enabled", &|| {
        scheduling(1) == Some(SchedulingState::Enabled)
    });
    let before_reboot = chrono::Utc::now();
    ask(&["Down", "B"], format!("Reboot {}", on(2)));
    until("node 2 rebooted", &|| {
        node(2)
            .and_then(|n| n.last_boot_time)
            .is_some_and(|t| t > before_reboot)
    });
    ask(&["Down", "Space", "X"], format!("Remove {}", on(3)));
    until("node 3 gone", &|| node(3).is_none());
    t.wait_for("3/3 nodes", 60);
    t.keys(&["q"]);
    t.exited(0, 30);
    let rebooted_after = before_reboot.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let out = common::run_sdk_script(
        "sdk15",
        "browse_actions_sdk15.py",
        &emu,
        &[
            "check",
            &rebooted_after,
            &nodes[0],
            &nodes[1],
            &nodes[2],
            &nodes[3],
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("all checks passed"), "{said}");
}
