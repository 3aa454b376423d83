//! Bad input, tried through the binary and the emulator's API: each gets a clear answer (one
//! line naming what was wrong and how to fix it, a non-zero exit, nothing created or written),
//! or for the emulator the service's error. The README's table lists these with the others.
mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

use batchdeck::azure::models::{ResourceFile, Task, TaskAddStatus, TaskState};
use common::outputs::assert_outputs;
use common::sandbox::{Sandbox, assert_refused, emulator, stderr, stdout};
use url::Url;

const KEY: &str = "c2VjcmV0LWtleS1mb3ItYmFkLWlucHV0LXRlc3Rz";

fn write_config(sb: &Sandbox, text: &str, mode: u32) {
    let dir = sb.path("home/.config/batchdeck");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("config.toml");
    std::fs::write(&f, text).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Browsing needs a terminal: without one, one line says so and what to use instead.
#[test]
fn browse_without_a_terminal_says_what_to_use() {
    let sb = Sandbox::new();
    let o = sb
        .command(&["browse"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run batchdeck");
    assert_refused(
        &o,
        &[
            "browse needs a terminal",
            "batchdeck watch --job ID --headless",
        ],
        &sb,
        None,
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn configuration_mistakes_are_named_with_their_fix() {
    let sb = Sandbox::new();
    let profile = format!(
        "[profiles.work]\nbatch_account = \"acct\"\nbatch_key = \"{KEY}\"\nbatch_endpoint = \"https://acct.westeurope.batch.azure.com\"\n"
    );
    // A config file holding keys that others can read.
    write_config(&sb, &profile, 0o644);
    let o = sb.run(&["--profile", "work"], &[]);
    assert_refused(&o, &["readable by other users", "chmod 600"], &sb, None);
    assert!(!stderr(&o).contains(KEY));
    // Not TOML.
    write_config(&sb, "[profiles.work\nbatch_account = 1", 0o600);
    let o = sb.run(&[], &[]);
    assert_refused(&o, &["config file", "config.toml"], &sb, None);
    // An unknown profile lists the known ones.
    write_config(&sb, &profile, 0o600);
    let o = sb.run(&["--profile", "play"], &[]);
    assert_refused(
        &o,
        &["profile \"play\" is not in", "profiles there: work"],
        &sb,
        None,
    );
    // Half an account in the environment.
    let o = sb.run(&[], &[("AZURE_BATCH_ACCOUNT", "acct")]);
    assert_refused(
        &o,
        &["AZURE_BATCH_ACCOUNT is set but AZURE_BATCH_ACCESS_KEY is not"],
        &sb,
        None,
    );
    // An endpoint that is not a URL.
    let o = sb.run(
        &[],
        &[
            ("AZURE_BATCH_ACCOUNT", "acct"),
            ("AZURE_BATCH_ACCESS_KEY", KEY),
            ("AZURE_BATCH_ENDPOINT", "ftp://acct"),
        ],
    );
    assert_refused(&o, &["AZURE_BATCH_ENDPOINT is not a valid URL"], &sb, None);
    // A connection string without an account key or SAS.
    let o = sb.run(
        &[],
        &[(
            "AZURE_STORAGE_CONNECTION_STRING",
            "DefaultEndpointsProtocol=https;AccountName=acct",
        )],
    );
    assert_refused(&o, &["AZURE_STORAGE_CONNECTION_STRING"], &sb, None);
    // Faults for the embedded emulator that do not parse.
    let o = sb.run(&[], &[("BATCHDECK_EMULATOR_FAULTS", "error=3")]);
    assert_refused(
        &o,
        &["BATCHDECK_EMULATOR_FAULTS", "between 0 and 1"],
        &sb,
        None,
    );
    // A duration without a unit (clap's own line, exit 2).
    let o = sb
        .command(&["run", "--headless", "--timeout", "5"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid duration \"5\""),
        "{}",
        stderr(&o)
    );
    // An emulator clock that stands still or runs beyond an hour a second (clap's line, exit 2).
    for n in ["0", "3601"] {
        let o = sb.command(&["emulator", "--speedup", n]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "--speedup {n}");
        assert!(
            stderr(&o).contains(&format!("{n} is not in 1..=3600")),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn input_mistakes_are_found_before_anything_is_created() {
    let sb = Sandbox::new();
    let work = sb.path("work");
    std::fs::create_dir_all(work.join("adir.txt")).unwrap();
    std::fs::create_dir_all(work.join("x")).unwrap();
    std::fs::write(work.join("a.txt"), "alpha beta\n").unwrap();
    std::fs::write(work.join("a.log"), "gamma\n").unwrap();
    std::fs::write(work.join("x/a.txt"), "delta\n").unwrap();
    std::fs::write(work.join("outfile"), "not a directory\n").unwrap();
    std::fs::write(work.join("my input.txt"), "x\n").unwrap();
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--input", "adir.txt"], vec!["adir.txt is not a file"]),
        (
            vec!["--input", "a.txt", "--input", "x/a.txt"],
            vec!["two input files are both named a.txt"],
        ),
        (
            vec!["--input", "a.txt", "--input", "a.log"],
            vec!["a.txt and a.log would both be task a", "rename one"],
        ),
        (
            vec!["--input", "my input.txt"],
            vec!["\"my input.txt\" is not supported", "letters, digits"],
        ),
        (
            vec!["--nodes", "1001"],
            vec!["node count 1001 is out of range"],
        ),
    ];
    for (args, needles) in cases {
        let o = sb.run(&args, &[]);
        assert_refused(&o, &needles, &sb, None);
    }
    // An output directory that is a file.
    let o = sb
        .command(&[
            "run",
            "--headless",
            "--output-dir",
            work.join("outfile/sub").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is a file, not a directory; choose another --output-dir"),
        "{}",
        stderr(&o)
    );
    assert!(!sb.data_dir().join("emulator").exists());
}

#[test]
fn an_empty_input_gives_an_output_with_no_words() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("work/empty.txt"), "").unwrap();
    let o = sb.run(&["--input", "empty.txt"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_outputs(
        &sb.output_dir(),
        &[sb.path("work/empty.txt")],
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
}

#[test]
fn a_taken_pool_id_or_a_non_batch_endpoint_is_refused_with_nothing_created() {
    let sb = Sandbox::new();
    let emu = emulator(&sb);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batch = common::batch_client(&emu.batch_endpoint);
    rt.block_on(batch.create_pool(&batchdeck::azure::models::Pool {
        id: "taken".into(),
        vm_size: Some("STANDARD_D2S_V3".into()),
        target_dedicated_nodes: Some(0),
        ..Default::default()
    }))
    .unwrap();
    let target = [
        "--batch-endpoint",
        emu.batch_endpoint.as_str(),
        "--storage-endpoint",
        emu.blob_endpoint.as_str(),
    ];
    let mut args = target.to_vec();
    args.extend(["--pool-id", "taken"]);
    let o = sb.run(&args, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "pool taken already exists: watch it with `batchdeck watch --pool taken`, pass --reuse-pool"
        ),
        "{}",
        stderr(&o)
    );
    // The blob endpoint given as the Batch endpoint: something answers, but not Batch.
    let blob_root = emu.blob_endpoint.trim_end_matches("/devstoreaccount1");
    let o = sb.run(
        &[
            "--batch-endpoint",
            blob_root,
            "--storage-endpoint",
            &emu.blob_endpoint,
        ],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("not a Batch service error")
            && stderr(&o).contains("Batch account URL"),
        "{}",
        stderr(&o)
    );
    // Neither run created a container.
    let inv = common::sandbox::inventory(&emu.batch_endpoint, &emu.blob_endpoint);
    assert!(inv.containers.is_empty(), "{:?}", inv.containers);
    assert_eq!(inv.pools, ["taken"]);
}

#[test]
fn profiles_are_saved_private_and_keys_never_printed() {
    let sb = Sandbox::new();
    let env = [
        ("AZURE_BATCH_ACCOUNT", "acct"),
        ("AZURE_BATCH_ACCESS_KEY", KEY),
        (
            "AZURE_BATCH_ENDPOINT",
            "https://acct.westeurope.batch.azure.com",
        ),
        ("AZURE_STORAGE_ACCOUNT", "store"),
        ("AZURE_STORAGE_KEY", KEY),
    ];
    let o = sb
        .command(&["profile", "save", "work", "--default"])
        .envs(env)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("mode 0600"));
    let f = sb.path("home/.config/batchdeck/config.toml");
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Read back without the environment: the profile is the default; keys stay hidden.
    let o = sb.command(&["info"]).output().unwrap();
    let info = stdout(&o);
    assert!(info.contains("profile work"), "{info}");
    assert!(info.contains("account acct, key redacted"), "{info}");
    for text in [info, stderr(&o)] {
        assert!(!text.contains(KEY));
    }
}

/// The emulator's answers to requests a client should never send.
#[test]
fn the_emulator_refuses_traversal_oversized_requests_and_reports_bad_resource_paths() {
    let sb = Sandbox::new();
    let emu = emulator(&sb);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batch = common::batch_client(&emu.batch_endpoint);
    rt.block_on(async {
        batch
            .create_pool(&batchdeck::azure::models::Pool {
                id: "p".into(),
                vm_size: Some("STANDARD_D2S_V3".into()),
                target_dedicated_nodes: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
        batch
            .create_job(&batchdeck::azure::models::Job {
                id: "j".into(),
                pool_info: batchdeck::azure::models::PoolInfo {
                    pool_id: Some("p".into()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .await
            .unwrap();
        // A resource file whose path leaves the working directory: the task fails with the
        // service's failure info, and nothing is written outside.
        let task = Task {
            id: "escape".into(),
            command_line: "/bin/true".into(),
            resource_files: vec![ResourceFile {
                http_url: Some(format!("{}/nothing", emu.blob_endpoint)),
                file_path: Some("../../../../escaped.txt".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let added = batch.add_tasks("j", &[task]).await.unwrap();
        assert_eq!(added[0].status, TaskAddStatus::Success);
        let mut done = None;
        for _ in 0..200 {
            let t = batch.get_task("j", "escape").await.unwrap();
            if t.state == Some(TaskState::Completed) {
                done = Some(t);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let t = done.expect("the task completes");
        let f = t
            .execution_info
            .unwrap()
            .failure_info
            .expect("failure info");
        assert_eq!(f.code.as_deref(), Some("BlobDownloadMiscError"));
        assert!(f.message.unwrap().contains("invalid filePath"));
    });
    let escaped: Vec<_> = walk(&sb.path("emu"))
        .into_iter()
        .filter(|p| p.ends_with("escaped.txt"))
        .collect();
    assert!(escaped.is_empty(), "{escaped:?}");

    // The files API does not leave the task's directory, however the path is spelled.
    for path in [
        "..%2F..%2F..%2Fbatch.redb",
        "wd%2F..%2F..%2F..%2F..",
        "%2Fetc%2Fpasswd",
    ] {
        let url = format!(
            "{}/jobs/j/tasks/escape/files/{path}?api-version=2025-06-01",
            emu.batch_endpoint
        );
        let r = rt.block_on(batch.send(
            "read a file",
            reqwest::Method::GET,
            Url::parse(&url).unwrap(),
            None,
            &[],
        ));
        let e = r.expect_err(path);
        assert!(matches!(e.status(), Some(400 | 404)), "{path}: {e}");
    }

    // A Batch body over the limit: 413 RequestBodyTooLarge, the connection still answered.
    let big = vec![b' '; 65 * 1024 * 1024];
    let url = batch.url(&["jobs", "j", "addtaskcollection"], &[]);
    let e = rt
        .block_on(batch.send("add tasks", reqwest::Method::POST, url, Some(big), &[]))
        .unwrap_err();
    assert_eq!(e.status(), Some(413), "{e}");
    assert_eq!(e.code(), Some("RequestBodyTooLarge"));

    // Headers over hyper's limit are refused before any handler runs.
    let mut s =
        std::net::TcpStream::connect(emu.batch_endpoint.trim_start_matches("http://")).unwrap();
    let huge = "x".repeat(1024 * 1024);
    let _ = write!(s, "GET /pools HTTP/1.1\r\nHost: h\r\nX-Big: {huge}\r\n\r\n");
    let mut answer = String::new();
    use std::io::Read as _;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.is_empty()
            || answer.starts_with("HTTP/1.1 431")
            || answer.starts_with("HTTP/1.1 400"),
        "{}",
        &answer[..answer.len().min(200)]
    );
}

#[test]
fn an_emulator_bound_beyond_loopback_warns() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_batchdeck"));
    c.env("BATCHDECK_LOG", "warn");
    let emu = common::EmulatorProcess::start_with(c, dir.path(), &["--bind", "0.0.0.0"]);
    let err = emu.stderr_so_far();
    assert!(
        err.contains("warning: listening on 0.0.0.0, not loopback"),
        "{err}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Peak resident memory (VmHWM, KiB) of a headless run on `input`, polled while it runs.
fn peak_rss_of_run(sb: &Sandbox, input: &str, out: &str) -> u64 {
    let mut child = sb
        .command(&[
            "run",
            "--headless",
            "--node-boot-delay",
            "0",
            "--allocation-delay",
            "0",
            "--force",
            "--input",
            input,
            "--output-dir",
            out,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "run on {input} failed");
            return peak;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `mib` MiB of text, line by line.
fn text_file(path: &std::path::Path, mib: usize) {
    let line = "the quick brown fox jumps over the lazy dog and the cat sleeps\n";
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for _ in 0..(mib << 20) / line.len() {
        f.write_all(line.as_bytes()).unwrap();
    }
}

#[test]
fn a_large_input_is_streamed_in_constant_memory() {
    // Memory is bounded by the transfer buffers (16 MiB blocks, 8 at once: both inputs fill
    // them), not by the file. Peak RSS varies between runs (the allocator's per-thread arenas,
    // and the embedded emulator's write queues, up to 16 chunks per block received, fuller the
    // longer the upload: 118-202 MB in release builds for 128 MiB to 1 GiB inputs), so the
    // bound allows 96 MiB of noise: holding the input in memory would add 224 MiB or more.
    let sb = Sandbox::new();
    text_file(&sb.path("work/medium.txt"), 136);
    text_file(&sb.path("work/large.txt"), 360);
    let medium = peak_rss_of_run(&sb, "medium.txt", "out-medium");
    let large = peak_rss_of_run(&sb, "large.txt", "out-large");
    // Straight to stderr, not through the test harness's capture: CI's log shows the figure.
    let _ = writeln!(
        std::io::stderr(),
        "peak RSS: {medium} KiB with a 136 MiB input, {large} KiB with a 360 MiB input"
    );
    assert!(
        large < medium + 96 * 1024,
        "peak RSS grew from {medium} KiB to {large} KiB with the input (224 MiB more)"
    );
    let out = std::fs::read_to_string(sb.path("work/out-large/large_OUTPUT.txt")).unwrap();
    let lines = (360usize << 20) / 63;
    assert!(out.contains(&format!("the {}\n", lines * 3)), "{out}");
}
