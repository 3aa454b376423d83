//! The workload a run runs, as the panels and lines name it: its name, pool, job, containers,
//! task groups, and each step's title in its own words ("Create pool WordCountPool", "Add
//! count ×5, total") instead of the tutorial's. The run sends it once, before step 1.

use crate::workflow::events::{Step, WorkloadView};
use crate::workflow::spec::{Role, WorkloadSpec};

/// What the panels and lines call `spec` and its steps.
pub fn view(spec: &WorkloadSpec) -> WorkloadView {
    let mut groups: Vec<(String, usize)> = Vec::new();
    for t in &spec.tasks {
        match groups.last_mut() {
            Some((g, n)) if *g == t.group => *n += 1,
            _ => groups.push((t.group.clone(), 1)),
        }
    }
    let steps = Step::ALL.iter().map(|s| title(spec, &groups, *s)).collect();
    WorkloadView {
        name: spec.name.clone(),
        pool_id: spec.pool_id.clone(),
        job_id: spec.job_id.clone(),
        containers: spec.containers.all().map(String::from).to_vec(),
        groups,
        steps,
    }
}

/// Task groups for a line: `count ×5, total`; a group named only by a placeholder (the
/// tutorial's `{stem}`) by its count: `3 tasks`.
pub fn groups_text(groups: &[(String, usize)]) -> String {
    groups
        .iter()
        .map(|(g, n)| match (g.contains('{') || g.is_empty(), n) {
            (true, 1) => "1 task".into(),
            (true, n) => format!("{n} tasks"),
            (false, 1) => g.clone(),
            (false, n) => format!("{g} ×{n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn title(spec: &WorkloadSpec, groups: &[(String, usize)], step: Step) -> String {
    match step {
        Step::Upload => {
            let files: Vec<&str> = spec
                .uploads
                .iter()
                .filter(|u| u.role == Role::Application)
                .map(|u| u.blob.rsplit('/').next().unwrap_or(&u.blob))
                .collect();
            let inputs = spec.uploads.len() - files.len();
            let files = match files.as_slice() {
                [] => None,
                [one] => Some(one.to_string()),
                many => Some(format!("{} files", many.len())),
            };
            let inputs = match inputs {
                0 => None,
                1 => Some("1 input".to_string()),
                n => Some(format!("{n} inputs")),
            };
            match (files, inputs) {
                (Some(f), Some(i)) => format!("Upload {f} and {i}"),
                (Some(one), None) | (None, Some(one)) => format!("Upload {one}"),
                (None, None) => "Upload (nothing to upload)".into(),
            }
        }
        Step::CreatePool if spec.reuse_pool => format!("Use pool {}", spec.pool_id),
        Step::CreatePool => format!("Create pool {}", spec.pool_id),
        Step::CreateJob => format!("Create job {}", spec.job_id),
        Step::AddTasks => format!("Add {}", groups_text(groups)),
        Step::Monitor => match spec.tasks.len() {
            1 => "Wait for the task".into(),
            n => format!("Wait for {n} tasks"),
        },
        Step::Download => format!("Download {}", spec.containers.output),
        _ => step.title().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::workflow::spec::WorkloadOverrides;

    /// The tutorial's steps and the word-count example's, each in its own words.
    #[test]
    fn each_step_is_named_from_the_workload() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let v = view(&WorkloadSpec::tutorial(root).unwrap());
        assert_eq!(v.name, "tutorial");
        assert_eq!(
            v.steps,
            [
                "Create containers",
                "Upload topwords.py and 3 inputs",
                "Create pool PythonTutorialPool",
                "Create job PythonTutorialJob",
                "Add 3 tasks",
                "Wait for 3 tasks",
                "Download output",
                "Delete containers",
                "Delete job and pool",
            ]
        );
        let file = root.join("examples/wordcount/workload.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        let spec = crate::workflow::workload::resolve(
            &text,
            "workload.toml",
            file.parent().unwrap(),
            &WorkloadOverrides::default(),
        )
        .unwrap();
        let v = view(&spec);
        assert_eq!(
            (v.name.as_str(), v.pool_id.as_str(), v.job_id.as_str()),
            ("wordcount", "WordCountPool", "WordCountJob")
        );
        assert_eq!(
            v.groups,
            [("count".to_string(), 5), ("total".to_string(), 1)]
        );
        assert_eq!(v.title(Step::Upload), "Upload wordcount.py and 5 inputs");
        assert_eq!(v.title(Step::AddTasks), "Add count ×5, total");
        assert_eq!(v.title(Step::Monitor), "Wait for 6 tasks");
        assert_eq!(v.title(Step::Download), "Download wordcount-output");
    }
}
