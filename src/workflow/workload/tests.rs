use std::path::{Path, PathBuf};

use super::*;
use crate::azure::models::{DependencyAction, OnAllTasksComplete, TaskIdRange, UploadCondition};
use crate::workflow::spec::{FileSource, Role, WorkloadOverrides};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn resolve_in(dir: &Path, text: &str) -> Result<WorkloadSpec, SpecError> {
    resolve(text, "w.toml", dir, &WorkloadOverrides::default())
}

/// A folder with `data/a.txt`, `data/b.txt` and `run.sh`.
fn folder() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("data")).unwrap();
    std::fs::write(d.path().join("data/a.txt"), "alpha\n").unwrap();
    std::fs::write(d.path().join("data/b.txt"), "beta\n").unwrap();
    std::fs::write(d.path().join("run.sh"), "echo\n").unwrap();
    d
}

const HEAD: &str = "[pool]\nid = \"p\"\n[job]\nid = \"j\"\n";

#[test]
fn the_word_count_example_resolves_to_maps_and_a_reduce_that_waits_for_them() {
    let s = load(
        &root().join("examples/wordcount/workload.toml"),
        &WorkloadOverrides::default(),
    )
    .unwrap();
    s.validate().unwrap();
    assert_eq!(s.name, "wordcount");
    let maps: Vec<&str> = s
        .tasks
        .iter()
        .filter(|t| t.group == "count")
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(maps.len(), 5, "{maps:?}");
    assert!(maps.contains(&"count-harbour"));
    let total = s.tasks.iter().find(|t| t.id == "total").unwrap();
    let mut deps = total.depends_on.task_ids.clone();
    deps.sort();
    let mut want: Vec<String> = maps.iter().map(|m| m.to_string()).collect();
    want.sort();
    assert_eq!(deps, want);
    assert!(s.uses_dependencies());
    assert_eq!(
        total.dependencies_summary(),
        "5 tasks (count-harbour, count-lighthouse, count-market, count-orchard, count-river)"
    );
    assert_eq!(
        total.resource_files[0].source,
        FileSource::Container {
            role: Role::Output,
            prefix: "counts/".into()
        }
    );
    assert!(total.command_line.starts_with("/bin/sh -c '"));
    assert!(
        total
            .command_line
            .contains(" total counts 10 total_OUTPUT.txt")
    );
    assert_eq!(s.output_blobs().get("total_OUTPUT.txt").unwrap(), "total");
    assert_eq!(
        s.output_blobs().get("counts/harbour.counts").unwrap(),
        "count-harbour"
    );
    assert_eq!(s.pool.task_slots_per_node, 2);
    assert_eq!(
        s.job.on_all_tasks_complete,
        Some(OnAllTasksComplete::TerminateJob)
    );
    assert_eq!(s.containers.output, "wordcount-output");
}

#[test]
fn the_readme_s_annotated_example_uses_only_real_keys() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("Every key, annotated")
        .expect("the annotated example");
    let block = &readme[start..];
    let block = &block[block.find("```toml\n").unwrap() + 8..];
    let block = &block[..block.find("```").unwrap()];
    let raw: Result<raw::RawWorkload, _> = toml::from_str(block);
    let raw = raw.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(raw.tasks.len(), 2);
    // Every key of the format appears in it.
    for key in [
        "name",
        "params",
        "application_container",
        "input_container",
        "output_container",
        "output_dir",
        "vm_size",
        "dedicated_nodes",
        "spot_nodes",
        "task_slots_per_node",
        "reuse",
        "publisher",
        "node_agent_sku",
        "wait_for_success",
        "priority",
        "max_wall_clock_time",
        "max_task_retries",
        "on_all_tasks_complete",
        "on_task_failure",
        "inputs",
        "text_inputs",
        "shell",
        "environment",
        "outputs",
        "upload",
        "max_retries",
        "retention_time",
        "required_slots",
        "dependency_action",
        "job_action",
        "depends_on",
        "resource_files",
        "prefix",
        "url",
    ] {
        assert!(
            block.contains(&format!("{key} =")) || block.contains(&format!("[{key}]")),
            "{key} is not in the example"
        );
    }
}

#[test]
fn placeholders_paths_and_outputs_are_filled_in_per_input() {
    let d = folder();
    let s = resolve_in(
        d.path(),
        &format!(
            "{HEAD}[params]\nn = 4\n[[tasks]]\nid = \"t-{{stem}}\"\ninputs = \"data/*.txt\"\n\
             command_line = \"run {{input}} {{name}} {{stem}} {{index}} {{n}}\"\n\
             environment = {{ WHO = \"{{stem}}\" }}\n\
             outputs = [\"{{stem}}.out\", {{ pattern = \"logs/*\", path = \"logs/{{stem}}\", upload = \"taskcompletion\" }}]\n"
        ),
    )
    .unwrap();
    assert_eq!(s.tasks.len(), 2);
    let b = &s.tasks[1];
    assert_eq!(b.id, "t-b");
    assert_eq!(b.command_line, "run b.txt b.txt b 2 4");
    assert_eq!(b.environment, [("WHO".to_string(), "b".to_string())]);
    assert_eq!(b.outputs[0].blob().as_deref(), Some("b.out"));
    assert_eq!(b.outputs[1].blob(), None);
    assert_eq!(b.outputs[1].path.as_deref(), Some("logs/b"));
    assert_eq!(b.outputs[1].upload, UploadCondition::TaskCompletion);
    // Inputs go to the input container, under their path below the glob's folder.
    let inputs: Vec<&str> = s
        .uploads
        .iter()
        .filter(|u| u.role == Role::Input)
        .map(|u| u.blob.as_str())
        .collect();
    assert_eq!(inputs, ["a.txt", "b.txt"]);
    assert_eq!(b.resource_files[0].path.as_deref(), Some("b.txt"));
    // `--set` changes a parameter.
    let o = WorkloadOverrides {
        params: vec![("n".into(), "9".into())],
        ..WorkloadOverrides::default()
    };
    let text = std::fs::read_to_string(root().join("examples/wordcount/workload.toml")).unwrap();
    let s = resolve(&text, "wc.toml", &root().join("examples/wordcount"), &o);
    assert!(s.unwrap_err().0.contains("no parameter `n`"));
}

#[test]
fn resource_files_from_files_urls_and_containers_are_shared_and_checked() {
    let d = folder();
    let s = resolve_in(
        d.path(),
        &format!(
            "{HEAD}[[tasks]]\nid = \"a\"\ncommand_line = \"sh run.sh\"\n\
             resource_files = [\"run.sh\", {{ url = \"https://h/x/tool.tgz?v=1\" }}, \
             {{ container = \"input\", prefix = \"data/\", path = \"in\" }}]\n\
             [[tasks]]\nid = \"b\"\ncommand_line = \"sh run.sh\"\nresource_files = [\"run.sh\"]\n"
        ),
    )
    .unwrap();
    // One upload for the file both tasks read.
    assert_eq!(s.uploads.len(), 1);
    assert_eq!(s.uploads[0].blob, "run.sh");
    assert_eq!(
        s.tasks[0].resource_files[1].path.as_deref(),
        Some("tool.tgz")
    );
    assert_eq!(s.read_containers(), [Role::Input]);
    // Two local files with one name are refused where the second is named.
    std::fs::create_dir_all(d.path().join("other")).unwrap();
    std::fs::write(d.path().join("other/run.sh"), "x").unwrap();
    let e = resolve_in(
        d.path(),
        &format!(
            "{HEAD}[[tasks]]\nid = \"a\"\ncommand_line = \"x\"\nresource_files = [\"run.sh\", \"other/run.sh\"]\n"
        ),
    )
    .unwrap_err()
    .0;
    assert!(
        e.starts_with("w.toml:8:29: two resource files are both named run.sh"),
        "{e}"
    );
    let e = resolve_in(
        d.path(),
        &format!("{HEAD}[[tasks]]\nid = \"a\"\ncommand_line = \"x\"\nresource_files = [{{ container = \"outputs\" }}]\n"),
    )
    .unwrap_err()
    .0;
    assert!(e.contains("did you mean \"output\"?"), "{e}");
}

#[test]
fn dependencies_by_id_pattern_and_range_and_their_failure_action() {
    let d = folder();
    let s = resolve_in(
        d.path(),
        &format!(
            "{HEAD}[[tasks]]\nid = \"{{index}}\"\ninputs = \"data/*.txt\"\ncommand_line = \"cat {{input}}\"\n\
             on_failure = {{ dependency_action = \"satisfy\" }}\n\
             [[tasks]]\nid = \"prep\"\ncommand_line = \"true\"\n\
             [[tasks]]\nid = \"end\"\ncommand_line = \"true\"\ndepends_on = [\"prep\", \"p*\"]\n\
             depends_on_ranges = [[1, 2]]\n"
        ),
    )
    .unwrap();
    let end = &s.tasks[3];
    assert_eq!(end.depends_on.task_ids, ["prep"]);
    assert_eq!(
        end.depends_on.task_id_ranges,
        [TaskIdRange { start: 1, end: 2 }]
    );
    assert_eq!(end.dependencies_summary(), "3 tasks (prep, 1-2)");
    assert_eq!(
        s.tasks[0].on_failure.as_ref().unwrap().dependency_action,
        Some(DependencyAction::Satisfy)
    );
    // Backwards ranges and self-dependencies are refused.
    let bad = |deps: &str| {
        resolve_in(
            d.path(),
            &format!("{HEAD}[[tasks]]\nid = \"1\"\ncommand_line = \"x\"\n{deps}\n"),
        )
        .unwrap_err()
        .0
    };
    assert!(bad("depends_on_ranges = [[3, 1]]").contains("is backwards"));
    assert!(bad("depends_on = [\"1\"]").contains("depends on itself"));
    assert!(bad("depends_on_ranges = [[1, 1]]").contains("depends on itself"));
}

#[test]
fn errors_point_at_the_value_and_say_what_to_fix() {
    let d = folder();
    let e = resolve_in(d.path(), "[pool]\nid = \"p\"\ndedicated_nodes = 0\n[job]\nid = \"j\"\n[[tasks]]\nid = \"t\"\ncommand_line = \"x\"\n")
        .unwrap_err()
        .0;
    assert!(e.starts_with("w.toml:3:19: the pool has 0 nodes"), "{e}");
    let e = resolve_in(
        d.path(),
        &format!(
            "{HEAD}[[tasks]]\nid = \"t\"\ncommand_line = \"x\"\nmax_wall_clock_time = \"5\"\n"
        ),
    )
    .unwrap_err()
    .0;
    assert!(e.starts_with("w.toml:8:23: invalid duration \"5\""), "{e}");
    let e = resolve_in(d.path(), &format!("{HEAD}[[tasks]]\nid = \"t\"\ncommand_line = \"x\"\noutputs = [{{ pattern = \"a\", upload = \"success\" }}]\n"))
        .unwrap_err()
        .0;
    assert!(e.contains("did you mean \"tasksuccess\"?"), "{e}");
    let e = resolve_in(
        d.path(),
        &format!("{HEAD}[params]\ninput = 1\n[[tasks]]\nid = \"t\"\ncommand_line = \"x\"\n"),
    )
    .unwrap_err()
    .0;
    assert!(
        e.starts_with("w.toml:6:1: parameter `input` would hide"),
        "{e}"
    );
    let e = resolve_in(d.path(), &format!("{HEAD}[[tasks]]\nid = \"t\"\ncommand_line = \"x\"\nenvironment = {{ AZ_BATCH_X = \"1\" }}\n"))
        .unwrap_err()
        .0;
    assert!(e.contains("set by Batch"), "{e}");
    // An error inside a string with escapes before it points at the string.
    let e = resolve_in(
        d.path(),
        &format!("{HEAD}[[tasks]]\nid = \"t\"\ncommand_line = \"a\\\"b {{nope}}\"\n"),
    )
    .unwrap_err()
    .0;
    assert!(
        e.starts_with("w.toml:7:16: unknown placeholder {nope}"),
        "{e}"
    );
}
