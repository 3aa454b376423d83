//! `batchdeck run --headless` end to end, as a user runs it: the real binary, on the embedded
//! local Azure, and on `batchdeck emulator` with storage on Azurite; plus bad input, which must
//! fail with one clear line before anything is created, and a check that no secret is printed
//! or logged.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::azurite::Azurite;
use common::outputs::{assert_outputs, repo_inputs, write_script_failing_on};
use common::sandbox::{Sandbox, assert_empty, assert_refused, emulator, inventory, stderr, stdout};
use common::{BATCH_ACCOUNT, EmulatorProcess, STORAGE_ACCOUNT};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn embedded_default_run_produces_correct_counts_and_leaves_nothing() {
    let sb = Sandbox::new();
    // From a directory that is not a checkout: the built-in tutorial files are used.
    let o = sb.run(&[], &[]);
    assert!(o.status.success(), "run failed: {}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "(embedded local Azure)",
        "[1/9] Create containers",
        "Uploading file",
        "Monitoring all tasks for 'Completed' state",
        "Downloaded blob [taskdata1_OUTPUT.txt]",
        "[9/9] Delete job and pool done",
        "Run complete. Elapsed time: 0:00:",
        "Nothing the run created is left behind.",
    ] {
        assert!(out.contains(needle), "stdout lacks {needle:?}:\n{out}");
    }
    assert_outputs(
        &sb.output_dir(),
        &repo_inputs(),
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
    // The emulator's state on disk agrees: nothing was left behind.
    let emu = EmulatorProcess::start(&sb.data_dir().join("emulator"), &[]);
    assert_empty(
        &inventory(&emu.batch_endpoint, &emu.blob_endpoint),
        "after a complete run",
    );
}

#[test]
fn a_failed_task_still_runs_every_step_but_the_exit_says_so() {
    let sb = Sandbox::new();
    // Like the tutorial's script, but one input makes it fail.
    write_script_failing_on(&sb.path("work/picky.py"), "taskdata2");
    let o = sb.run(&["--task-script", "picky.py"], &[]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("Task [taskdata2] completed on") && out.contains("with exit code 3"),
        "{out}"
    );
    assert!(
        err.contains("batchdeck: 1 of 3 tasks failed"),
        "stderr: {err}"
    );
    // The other tasks' outputs were downloaded, and the run cleaned up as usual.
    for t in ["taskdata1", "taskdata3"] {
        let got = std::fs::read_to_string(sb.output_dir().join(format!("{t}_OUTPUT.txt")));
        assert_eq!(got.ok().as_deref(), Some("ok\n"), "{t}");
    }
    assert!(!sb.output_dir().join("taskdata2_OUTPUT.txt").exists());
    assert!(
        out.contains("Nothing the run created is left behind."),
        "{out}"
    );
    let emu = EmulatorProcess::start(&sb.data_dir().join("emulator"), &[]);
    assert_empty(
        &inventory(&emu.batch_endpoint, &emu.blob_endpoint),
        "after a run with a failed task",
    );
}

#[test]
fn chosen_ids_word_count_and_inputs_are_honoured() {
    let sb = Sandbox::new();
    let input = sb.path("work/reeds.txt");
    std::fs::write(
        &input,
        "Reeds bend; reeds don't break. The river's reeds, the river's stones, the river.\n",
    )
    .unwrap();
    let o = sb.run(
        &[
            "--input",
            "reeds.txt",
            "--input",
            &format!("{ROOT}/data/taskdata2.txt"),
            "--numwords",
            "5",
            "--pool-id",
            "p-1",
            "--job-id",
            "j_1",
            "--nodes",
            "1",
            "--application-container",
            "app-x",
            "--input-container",
            "in-x",
            "--output-container",
            "out-x",
        ],
        &[],
    );
    assert!(o.status.success(), "run failed: {}", stderr(&o));
    assert_outputs(
        &sb.output_dir(),
        &[input, Path::new(ROOT).join("data/taskdata2.txt")],
        5,
        "j_1",
        "p-1",
    );
    // The counter above, checked by hand on a text with apostrophes and ties.
    let reeds = std::fs::read_to_string(sb.output_dir().join("reeds_OUTPUT.txt")).unwrap();
    assert!(
        reeds.ends_with("\nreeds 3\nthe 3\nriver's 2\nbend 1\nbreak 1\n"),
        "{reeds}"
    );
}

#[test]
fn storage_on_azurite_and_batch_on_the_emulator_process() {
    let sb = Sandbox::new();
    let azurite = Azurite::start();
    // A relative --data-dir: node paths must still be absolute for the start task's cp.
    let emu = {
        let mut c = Command::new(env!("CARGO_BIN_EXE_batchdeck"));
        c.current_dir(sb.path("work"));
        EmulatorProcess::start_with(c, Path::new("emu-state"), &[])
    };
    let o = sb.run(
        &[
            "--batch-endpoint",
            &emu.batch_endpoint,
            "--storage-endpoint",
            &azurite.endpoint,
            "--delete-job",
            "--delete-pool",
        ],
        &[],
    );
    assert!(o.status.success(), "run failed: {}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("storage {}", azurite.endpoint)),
        "{out}"
    );
    assert!(!out.contains("embedded"), "{out}");
    assert_outputs(
        &sb.output_dir(),
        &repo_inputs(),
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
    // Nothing is left on Azurite or on the emulator's Batch service.
    assert_empty(
        &inventory(&emu.batch_endpoint, &azurite.endpoint),
        "Azurite and the emulator's Batch",
    );
}

#[test]
fn a_wrong_batch_key_names_the_account_and_the_variable() {
    let sb = Sandbox::new();
    let emu = emulator(&sb);
    let wrong = "d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZ3dyb25nd3Jvbmc=";
    let o = sb.run(
        &["--storage-endpoint", &emu.blob_endpoint],
        &[
            ("AZURE_BATCH_ACCOUNT", BATCH_ACCOUNT),
            ("AZURE_BATCH_ACCESS_KEY", wrong),
            ("AZURE_BATCH_ENDPOINT", &emu.batch_endpoint),
        ],
    );
    assert_refused(
        &o,
        &["'devbatch'", "403", "AZURE_BATCH_ACCESS_KEY"],
        &sb,
        Some(&emu),
    );
    assert!(!stderr(&o).contains(wrong));
    assert!(!stdout(&o).contains(wrong));
}

#[test]
fn a_wrong_storage_key_names_the_account_and_the_variable() {
    let sb = Sandbox::new();
    let emu = emulator(&sb);
    let wrong = "d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZ3dyb25nd3Jvbmc=";
    let o = sb.run(
        &[
            "--storage-endpoint",
            &emu.blob_endpoint,
            "--batch-endpoint",
            &emu.batch_endpoint,
        ],
        &[
            ("AZURE_STORAGE_ACCOUNT", STORAGE_ACCOUNT),
            ("AZURE_STORAGE_KEY", wrong),
        ],
    );
    assert_refused(
        &o,
        &["'devstoreaccount1'", "403", "AZURE_STORAGE_KEY"],
        &sb,
        Some(&emu),
    );
    assert!(!stderr(&o).contains(wrong));
}

#[test]
fn a_truncated_key_is_refused_before_any_request() {
    let sb = Sandbox::new();
    let o = sb.run(
        &[],
        &[
            ("AZURE_BATCH_ACCOUNT", "acct"),
            ("AZURE_BATCH_ACCESS_KEY", "ZGV2YmF0Y2hrZXkw"),
            (
                "AZURE_BATCH_ENDPOINT",
                "https://acct.westeurope.batch.azure.com",
            ),
            ("AZURE_STORAGE_ACCOUNT", "acct"),
            ("AZURE_STORAGE_KEY", "Eby8vdM02x!!"),
        ],
    );
    assert_refused(&o, &["AZURE_STORAGE_KEY", "not valid base64"], &sb, None);
    assert_eq!(
        stderr(&o).matches("not valid base64").count(),
        1,
        "said once"
    );
    assert!(!stderr(&o).contains("Eby8vdM02x"));
}

#[test]
fn an_unreachable_endpoint_is_named() {
    let sb = Sandbox::new();
    let emu = emulator(&sb);
    let (_reserved, closed) = common::refused_port();
    let dead = format!("http://127.0.0.1:{closed}");
    let started = Instant::now();
    let o = sb.run(
        &[
            "--batch-endpoint",
            &dead,
            "--storage-endpoint",
            &emu.blob_endpoint,
        ],
        &[],
    );
    assert_refused(
        &o,
        &[
            "cannot reach the Batch service",
            &dead,
            "Connection refused",
            "--batch-endpoint",
        ],
        &sb,
        Some(&emu),
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn bad_arguments_fail_before_anything_is_created() {
    let sb = Sandbox::new();
    let work = sb.path("work");
    std::fs::write(work.join("latin1.txt"), b"caf\xe9 au lait\n").unwrap();
    let long_id = "j".repeat(65);
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--input", "missing.txt"],
            vec!["input file", "missing.txt", "No such file"],
        ),
        (
            vec!["--input", "latin1.txt"],
            vec!["latin1.txt", "not UTF-8", "offset 3"],
        ),
        (
            vec!["--pool-id", "my pool"],
            vec!["invalid pool id", "\"my pool\""],
        ),
        (vec!["--job-id", &long_id], vec!["invalid job id"]),
        (
            vec!["--output-container", "Outputs"],
            vec!["invalid container name", "\"Outputs\"", "lowercase"],
        ),
        (
            vec!["--input-container", "output"],
            vec!["container \"output\" is named twice"],
        ),
        (vec!["--nodes", "0"], vec!["node count 0", "--nodes"]),
        (vec!["--numwords", "0"], vec!["--numwords"]),
        (
            vec!["--task-script", "nope.py"],
            vec!["task script", "nope.py"],
        ),
    ];
    for (args, needles) in cases {
        eprintln!("case {args:?}");
        let o = sb.run(&args, &[]);
        assert_refused(&o, &needles, &sb, None);
        // Refused before the embedded emulator was even started.
        assert!(
            !sb.data_dir().join("emulator").exists(),
            "{args:?} started the emulator"
        );
    }
}

#[test]
fn an_output_in_the_way_is_kept_unless_forced() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.output_dir()).unwrap();
    let mine = sb.output_dir().join("taskdata2_OUTPUT.txt");
    std::fs::write(&mine, "my own notes\n").unwrap();
    let o = sb.run(&[], &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("taskdata2_OUTPUT.txt already exists: pass --force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my own notes\n");
    assert!(!sb.data_dir().join("emulator").exists());
    let o = sb.run(&["--force"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_outputs(
        &sb.output_dir(),
        &repo_inputs(),
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
}

#[test]
fn a_reused_pool_whose_start_task_fails_ends_the_run_at_once_and_is_still_cleaned_up() {
    use batchdeck::azure::models::{Pool, StartTask};
    let sb = Sandbox::new();
    let emu = emulator(&sb);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let batch = common::batch_client(&emu.batch_endpoint);
        let pool = Pool {
            id: "brokenpool".into(),
            vm_size: Some("STANDARD_D2S_V3".into()),
            target_dedicated_nodes: Some(2),
            start_task: Some(StartTask {
                command_line: "/bin/sh -c 'echo disk quota exceeded >&2; exit 3'".into(),
                wait_for_success: Some(true),
                ..StartTask::default()
            }),
            ..Pool::default()
        };
        batch.create_pool(&pool).await.unwrap();
    });
    let started = Instant::now();
    let o = sb.run(
        &[
            "--batch-endpoint",
            &emu.batch_endpoint,
            "--storage-endpoint",
            &emu.blob_endpoint,
            "--pool-id",
            "brokenpool",
            "--reuse-pool",
            "--delete-job",
            "--delete-pool",
        ],
        &[],
    );
    assert!(!o.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the failure ends the wait, not the timeout"
    );
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    for n in [
        "start task failed on every node of pool brokenpool",
        "exit code 3",
        "disk quota exceeded",
    ] {
        assert!(err.contains(n), "stderr lacks {n:?}: {err}");
    }
    let out = stdout(&o);
    assert!(out.contains("Deleted job PythonTutorialJob"), "{out}");
    assert!(out.contains("Deleted pool brokenpool"), "{out}");
    assert!(out.contains("Run FAILED."), "{out}");
    // What is left is said, not left silently: the containers with the uploaded inputs.
    assert!(out.contains("Still present"), "{out}");
    assert!(out.contains("container input (storage is billed"), "{out}");
    let inv = inventory(&emu.batch_endpoint, &emu.blob_endpoint);
    assert!(inv.jobs.is_empty(), "job left: {:?}", inv.jobs);
    assert!(
        inv.pools.is_empty() || rt.block_on(pool_is_deleting(&emu, "brokenpool")),
        "pool left: {:?}",
        inv.pools
    );
    assert_eq!(inv.containers, ["application", "input", "output"]);
}

/// A deleted pool may still be listed for a moment, in state `deleting`, as on Azure.
async fn pool_is_deleting(emu: &EmulatorProcess, id: &str) -> bool {
    let batch = common::batch_client(&emu.batch_endpoint);
    match batch.get_pool(id, Some("id,state")).await {
        Ok(p) => p.state == Some(batchdeck::azure::models::PoolState::Deleting),
        Err(e) => e.is_not_found(),
    }
}

/// Every log, stdout and stderr of a full run with non-default keys, and `batchdeck info`,
/// are free of the account keys and of SAS signatures.
#[test]
fn no_secret_appears_in_output_or_logs() {
    let sb = Sandbox::new();
    let batch_key = "c2VjcmV0LWJhdGNoLWtleS1mb3ItdGhlLWxlYWstdGVzdA==";
    let storage_key = "c2VjcmV0LXN0b3JhZ2Uta2V5LWZvci10aGUtbGVhay10ZXN0LTAxMjM0NQ==";
    let emu_dir = sb.path("emu");
    let mut emu_cmd = Command::new(env!("CARGO_BIN_EXE_batchdeck"));
    emu_cmd.env("BATCHDECK_LOG", "trace");
    let emu = EmulatorProcess::start_with(
        emu_cmd,
        &emu_dir,
        &[
            "--batch-account",
            "leakbatch",
            "--batch-key",
            batch_key,
            "--storage-account",
            "leakstore",
            "--storage-key",
            storage_key,
        ],
    );
    let env = [
        ("AZURE_BATCH_ACCOUNT", "leakbatch"),
        ("AZURE_BATCH_ACCESS_KEY", batch_key),
        ("AZURE_BATCH_ENDPOINT", emu.batch_endpoint.as_str()),
        ("AZURE_STORAGE_ACCOUNT", "leakstore"),
        ("AZURE_STORAGE_KEY", storage_key),
        ("BATCHDECK_LOG", "trace"),
    ];
    let o = sb.run(
        &[
            "--storage-endpoint",
            &emu.blob_endpoint,
            "--delete-job",
            "--delete-pool",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let info = sb
        .command(&["info", "--storage-endpoint", &emu.blob_endpoint])
        .envs(env)
        .output()
        .unwrap();
    assert!(info.status.success());
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    texts.insert("run stdout".into(), stdout(&o));
    texts.insert("run stderr".into(), stderr(&o));
    texts.insert("info".into(), stdout(&info) + &stderr(&info));
    texts.insert("log".into(), sb.log());
    texts.insert("emulator stderr".into(), emu.stderr_so_far());
    assert!(texts["log"].contains("run starting"), "the log was written");
    assert!(texts["info"].contains("leakbatch"), "{}", texts["info"]);
    let key_bytes = |k: &str| {
        use base64::Engine as _;
        String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(k).unwrap())
            .into_owned()
    };
    for (what, text) in &texts {
        for secret in [batch_key, storage_key] {
            assert!(!text.contains(secret), "{what} contains an account key");
            assert!(
                !text.contains(&key_bytes(secret)),
                "{what} contains a decoded account key"
            );
        }
        for (i, _) in text.match_indices("sig=") {
            let rest = &text[i + 4..];
            let value: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '&' | '"' | '\'' | ')'))
                .collect();
            assert!(
                value.is_empty() || value.contains("REDACTED") || value == "***",
                "{what} contains a SAS signature: sig={value}"
            );
        }
    }
}

/// A pool the run found already there (`--reuse-pool`) is not the run's to delete: on the
/// embedded local Azure without a terminal, where what the run made is cleaned up unasked, it
/// stays, and the summary says it is still there.
#[test]
fn a_reused_pool_is_kept_unless_asked_and_said_to_be_there() {
    use batchdeck::azure::models::{Pool, StartTask};
    let sb = Sandbox::new();
    // Someone's pool on the embedded local Azure's state, whose start task provides the script.
    {
        let mut emu = EmulatorProcess::start(&sb.data_dir().join("emulator"), &[]);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let pool = Pool {
            id: "PythonTutorialPool".into(),
            vm_size: Some("STANDARD_D2S_V3".into()),
            target_dedicated_nodes: Some(1),
            start_task: Some(StartTask {
                command_line: format!(
                    "/bin/sh -c 'cp {}/assets/topwords.py \"$AZ_BATCH_NODE_SHARED_DIR/\"'",
                    env!("CARGO_MANIFEST_DIR")
                ),
                wait_for_success: Some(true),
                ..StartTask::default()
            }),
            ..Pool::default()
        };
        rt.block_on(common::batch_client(&emu.batch_endpoint).create_pool(&pool))
            .unwrap();
        assert!(emu.terminate().success());
    }
    let o = sb.run(&["--reuse-pool"], &[]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("reusing the existing pool"), "{out}");
    assert!(out.contains("Deleted job PythonTutorialJob"), "{out}");
    assert!(!out.contains("Deleted pool"), "{out}");
    assert!(out.contains("Still present"), "{out}");
    assert!(
        out.contains("pool PythonTutorialPool (compute nodes"),
        "{out}"
    );
    let emu = EmulatorProcess::start(&sb.data_dir().join("emulator"), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let batch = common::batch_client(&emu.batch_endpoint);
    rt.block_on(batch.get_pool("PythonTutorialPool", None))
        .expect("the reused pool is still there");
    assert!(
        inventory(&emu.batch_endpoint, &emu.blob_endpoint)
            .jobs
            .is_empty()
    );
}

/// `profile save` with endpoint flags alone saves them (any compatible service, with the
/// well-known local accounts), and a run on that profile uses them.
#[test]
fn a_profile_of_endpoints_alone_is_saved_and_runs() {
    let sb = Sandbox::new();
    let emu = emulator(&sb);
    let o = sb
        .command(&[
            "profile",
            "save",
            "local",
            "--batch-endpoint",
            &emu.batch_endpoint,
            "--storage-endpoint",
            &emu.blob_endpoint,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sb.run(&["--profile", "local"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("batch {}", emu.batch_endpoint)),
        "{out}"
    );
    assert!(!out.contains("embedded local Azure"), "{out}");
    assert_outputs(
        &sb.output_dir(),
        &repo_inputs(),
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
}
