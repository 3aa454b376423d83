//! `batchdeck emulator` as a command: its ready line, its help, clean exits, clear errors.

mod common;

use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_batchdeck")
}

#[test]
fn ready_line_names_both_endpoints_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut emu = common::EmulatorProcess::start(dir.path(), &[]);
    for e in [&emu.batch_endpoint, &emu.blob_endpoint] {
        let u = url::Url::parse(e).unwrap();
        assert_eq!(u.host_str(), Some("127.0.0.1"), "{e}");
        assert_ne!(u.port(), None);
    }
    assert!(emu.blob_endpoint.ends_with("/devstoreaccount1"));
    // Both listeners answer (an unauthenticated request is refused, not dropped).
    for e in [&emu.batch_endpoint, &emu.blob_endpoint] {
        let r = reqwest::blocking::get(format!("{e}/?api-version=2025-06-01")).unwrap();
        assert_eq!(r.status().as_u16(), 403, "{e}");
    }
    let status = emu.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[test]
fn help_explains_the_well_known_accounts() {
    let out = Command::new(bin())
        .args(["emulator", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "devstoreaccount1",
        "devbatch",
        "--batch-port",
        "--data-dir",
        "--node-boot-delay",
    ] {
        assert!(text.contains(needle), "help lacks {needle}:\n{text}");
    }
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(bin())
        .args(["emulator", "--batch-port", &port, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.trim().lines().last().unwrap_or_default();
    assert!(last.starts_with("batchdeck: "), "{err}");
    assert!(
        last.contains(&port) && last.contains("another port"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_bad_key_override_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["emulator", "--batch-key", "not-base64!!", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--batch-key"), "{err}");
    assert!(!err.contains("not-base64!!"), "{err}");
}

/// Its log, when stderr is a file or a pipe, is plain text: no ANSI colour codes.
#[test]
fn the_log_written_to_a_file_is_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("emulator.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(bin())
        .args(["emulator", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("BATCHDECK_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(file)
        .spawn()
        .unwrap();
    // The ready line comes after the "listening" log line.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("ready "), "{line}");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("emulator listening"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI codes in the log file: {text:?}"
    );
}
