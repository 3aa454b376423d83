//! Workload files through the binary: every bad workload of `tests/fixtures/workloads/bad/` is
//! refused before anything is created, with one line naming the file, the line and the column
//! and what to fix (each file says what it expects in `# expect:` lines), and each is listed in
//! the README's bad-input table.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::sandbox::{stderr, stdout};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn bad_dir() -> PathBuf {
    Path::new(ROOT).join("tests/fixtures/workloads/bad")
}

fn bad_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(bad_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// `batchdeck ARGS` in `cwd` with its own data directory and none of the developer's settings.
fn batchdeck(cwd: &Path, data: &Path, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_batchdeck"));
    c.args(args);
    if args.first() == Some(&"run") {
        c.arg("--data-dir").arg(data);
    }
    c.current_dir(cwd)
        .env("HOME", data)
        .env("XDG_CONFIG_HOME", data.join(".config"))
        .env_remove("BATCHDECK_EMULATOR_FAULTS")
        .stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("AZURE_") {
            c.env_remove(k);
        }
    }
    c.output().expect("run batchdeck")
}

#[test]
fn every_bad_workload_is_refused_with_its_place_and_what_to_fix() {
    let files = bad_files();
    assert!(files.len() >= 15, "only {} bad workloads", files.len());
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut problems = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        let data = tempfile::tempdir().unwrap();
        let o = batchdeck(&bad_dir(), data.path(), &["run", "--headless", "-w", &name]);
        let err = stderr(&o);
        eprintln!("{name}: {err}");
        let mut check = |ok: bool, what: String| {
            if !ok {
                problems.push(format!("{name}: {what}"));
            }
        };
        check(!expected.is_empty(), "says nothing it expects".into());
        check(
            o.status.code() == Some(1),
            format!("exit {:?}", o.status.code()),
        );
        check(err.lines().count() == 1, format!("not one line: {err}"));
        check(
            err.starts_with(&format!("batchdeck: {name}")),
            format!("does not start with its name: {err}"),
        );
        for e in expected {
            check(err.contains(e), format!("expected {e:?} in {err}"));
        }
        check(stdout(&o).is_empty(), format!("printed {}", stdout(&o)));
        // Refused before the embedded emulator was even started.
        check(
            !data.path().join("emulator").exists(),
            "started the emulator".into(),
        );
        check(
            readme.contains(&format!("`{name}`")),
            "is not in the README's bad-input table".into(),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_missing_or_binary_workload_file_is_named() {
    let data = tempfile::tempdir().unwrap();
    let o = batchdeck(data.path(), data.path(), &["run", "-w", "nope.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("workload file nope.toml: No such file") && err.contains("batchdeck init"),
        "{err}"
    );
    std::fs::write(data.path().join("bin.toml"), b"name = \"caf\xe9\"\n").unwrap();
    let o = batchdeck(data.path(), data.path(), &["run", "-w", "bin.toml"]);
    let err = stderr(&o);
    assert!(
        err.contains("is not UTF-8 text (invalid byte at offset 11)"),
        "{err}"
    );
}

#[test]
fn the_tutorial_s_own_flags_are_refused_with_a_workload() {
    let data = tempfile::tempdir().unwrap();
    let wc = format!("{ROOT}/examples/wordcount/workload.toml");
    let o = batchdeck(
        data.path(),
        data.path(),
        &["run", "-w", &wc, "--numwords", "4"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--numwords"), "{}", stderr(&o));
    let o = batchdeck(
        data.path(),
        data.path(),
        &["run", "-w", &wc, "--set", "tp=4"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no parameter `tp` (did you mean `top`?)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn completions_and_the_man_page_describe_the_commands() {
    let data = tempfile::tempdir().unwrap();
    for (shell, needle) in [
        ("bash", "complete -F _batchdeck"),
        ("zsh", "#compdef batchdeck"),
        ("fish", "complete -c batchdeck"),
    ] {
        let o = batchdeck(data.path(), data.path(), &["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains(needle), "{shell}: {out}");
        assert!(out.contains("workload") && out.contains("init"), "{shell}");
    }
    let o = batchdeck(data.path(), data.path(), &["man"]);
    assert!(o.status.success());
    let man = stdout(&o);
    assert!(man.contains(".TH batchdeck 1"), "{man}");
    assert!(
        man.contains("\\-\\-workload") && man.contains("init"),
        "{man}"
    );
    // A man page the system can render, where `man` is installed.
    let page = data.path().join("batchdeck.1");
    std::fs::write(&page, &man).unwrap();
    if let Ok(o) = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        && o.status.success()
    {
        let text = stdout(&o);
        assert!(text.contains("Drive and watch Azure Batch work"), "{text}");
    }
}
