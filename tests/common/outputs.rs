//! What a tutorial run must produce, checked independently of the task script.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The top words as the task defines them (lowercase runs of letters and digits, inner
/// apostrophes allowed; most frequent first, ties alphabetical), computed here without the
/// task's code.
pub fn top_words(text: &str, n: usize) -> Vec<(String, usize)> {
    let lower = text.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut i = 0;
    while i < chars.len() {
        if !word(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        loop {
            while i < chars.len() && word(chars[i]) {
                i += 1;
            }
            if i + 1 < chars.len() && chars[i] == '\'' && word(chars[i + 1]) {
                i += 1;
                continue;
            }
            break;
        }
        *counts.entry(chars[start..i].iter().collect()).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

pub fn repo_inputs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("data"))
        .expect("data/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    v.sort();
    v
}

/// Every input has its `<stem>_OUTPUT.txt` naming where it ran and the right top words, and
/// nothing else is in `out_dir`.
pub fn check_outputs(
    out_dir: &Path,
    inputs: &[PathBuf],
    n: usize,
    job: &str,
    pool: &str,
) -> Result<(), String> {
    let mut expected_files: Vec<String> = Vec::new();
    for input in inputs {
        let stem = input.file_stem().unwrap().to_string_lossy().into_owned();
        let name = format!("{stem}_OUTPUT.txt");
        expected_files.push(name.clone());
        let got =
            std::fs::read_to_string(out_dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
        let lines: Vec<&str> = got.lines().collect();
        let header = [
            format!("task {stem}"),
            format!("job {job}"),
            format!("pool {pool}"),
        ];
        if lines.len() < 4
            || !lines[0].starts_with("node tvmps_")
            || lines[1..4] != header.iter().map(String::as_str).collect::<Vec<_>>()[..]
        {
            return Err(format!(
                "{name}: unexpected header {:?}",
                &lines[..lines.len().min(4)]
            ));
        }
        let text =
            std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
        let want: Vec<String> = top_words(&text, n)
            .into_iter()
            .map(|(w, c)| format!("{w} {c}"))
            .collect();
        if lines[4..] != want.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            return Err(format!(
                "{name}: word counts {:?}, expected {want:?}",
                &lines[4..]
            ));
        }
    }
    let mut present: Vec<String> = std::fs::read_dir(out_dir)
        .map_err(|e| format!("{}: {e}", out_dir.display()))?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected_files.sort();
    if present != expected_files {
        return Err(format!(
            "output directory holds {present:?}, expected {expected_files:?}"
        ));
    }
    Ok(())
}

pub fn assert_outputs(out_dir: &Path, inputs: &[PathBuf], n: usize, job: &str, pool: &str) {
    if let Err(e) = check_outputs(out_dir, inputs, n, job, pool) {
        panic!("{e}");
    }
}

/// Writes a task script that takes the tutorial's arguments and fails (exit code 3, a line on
/// stderr) for the input whose name contains `failing`; for the others it writes "ok" to the
/// output file.
pub fn write_script_failing_on(path: &Path, failing: &str) {
    write_picky_script(path, failing, None);
}

/// As [`write_script_failing_on`], but it fails only the first time (it leaves `marker` behind
/// then): a retry of the task succeeds.
pub fn write_script_failing_once(path: &Path, failing: &str, marker: &Path) {
    write_picky_script(path, failing, Some(marker));
}

fn write_picky_script(path: &Path, failing: &str, marker: Option<&Path>) {
    let (check, mark) = match marker {
        Some(m) => (
            format!(" and not os.path.exists({:?})", m.display().to_string()),
            format!("    open({:?}, \"w\").close()\n", m.display().to_string()),
        ),
        None => (String::new(), String::new()),
    };
    let script = format!(
        r#"import os, sys
args = sys.argv
name, output = args[args.index("--filepath") + 1], args[args.index("--output") + 1]
if {failing:?} in name{check}:
{mark}    sys.stderr.write("refusing " + name + "\n")
    sys.exit(3)
with open(output, "w") as f:
    f.write("ok\n")
"#
    );
    std::fs::write(path, script).expect("write the task script");
}

/// Writes a task script that takes the tutorial's arguments, prints `line N` once a second for
/// `secs` seconds, then `final line`, and writes "ok" to the output file.
pub fn write_slow_script(path: &Path, secs: u32) {
    let script = format!(
        r#"import sys, time
args = sys.argv
output = args[args.index("--output") + 1]
for i in range(1, {secs} + 1):
    print("line", i, flush=True)
    time.sleep(1)
print("final line", flush=True)
with open(output, "w") as f:
    f.write("ok\n")
"#
    );
    std::fs::write(path, script).expect("write the task script");
}

/// The `.txt` files of a directory, sorted: the inputs a glob of `*.txt` names.
pub fn txt_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    v.sort();
    v
}

/// What the word-count example's reduce task must write: the ten most frequent words over all
/// `inputs`, one `word count` per line, counted here without the example's code.
pub fn word_count_total(inputs: &[PathBuf]) -> Vec<String> {
    let all: String = inputs
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap() + "\n")
        .collect();
    top_words(&all, 10)
        .into_iter()
        .map(|(w, c)| format!("{w} {c}"))
        .collect()
}

/// The word-count example copied to `dir` (its workload file, script and inputs) with each map
/// task made to sleep `secs` first, so that the reduce task is seen waiting on them; returns
/// the workload file.
pub fn slow_word_count(dir: &Path, secs: u32) -> PathBuf {
    let from = Path::new(ROOT).join("examples/wordcount");
    std::fs::create_dir_all(dir.join("data")).expect("mkdir");
    std::fs::copy(from.join("wordcount.py"), dir.join("wordcount.py")).expect("copy");
    for input in txt_files(&from.join("data")) {
        std::fs::copy(
            &input,
            dir.join("data").join(input.file_name().expect("name")),
        )
        .expect("copy");
    }
    let map = "command_line = \"python3 $AZ_BATCH_NODE_SHARED_DIR/wordcount.py count";
    let toml = std::fs::read_to_string(from.join("workload.toml")).expect("workload.toml");
    assert!(toml.contains(map), "the example's map command line changed");
    let toml = toml.replace(
        map,
        &format!(
            "command_line = \"sleep {secs} && python3 $AZ_BATCH_NODE_SHARED_DIR/wordcount.py count"
        ),
    );
    let file = dir.join("workload.toml");
    std::fs::write(&file, toml).expect("write workload.toml");
    file
}
