//! The REST bodies a run sends (pool, job, tasks), built from the workload. SAS URLs go only
//! into resource files and output destinations, never into a command line.

use std::collections::BTreeMap;

use crate::azure::models::{
    ExitConditions, Job, JobConstraints, NameValue, OutputFile, OutputFileBlobContainerDestination,
    OutputFileDestination, OutputFileUploadOptions, Pool, PoolInfo, ResourceFile, StartTask, Task,
    TaskConstraints,
};
use crate::azure::storage::SecretUrl;
use crate::util::iso8601_duration;
use crate::workflow::spec::{FileSource, ResourceSpec, Role, TaskSpec, WorkloadSpec};

/// The URLs the nodes read files from: each upload (by index), and containers by role.
pub struct Urls<'a> {
    pub uploads: &'a [SecretUrl],
    pub containers: &'a BTreeMap<Role, SecretUrl>,
}

impl WorkloadSpec {
    /// The containers whose blobs some resource file lists (they get a read-and-list SAS).
    pub fn read_containers(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self
            .pool
            .start_task
            .iter()
            .flat_map(|s| &s.resource_files)
            .chain(self.tasks.iter().flat_map(|t| &t.resource_files))
            .filter_map(|f| match &f.source {
                FileSource::Container { role, .. } => Some(*role),
                _ => None,
            })
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

fn resource_file(f: &ResourceSpec, urls: &Urls) -> ResourceFile {
    match &f.source {
        FileSource::Upload(i) => ResourceFile {
            http_url: urls.uploads.get(*i).map(|u| u.expose().to_string()),
            file_path: f.path.clone(),
            ..ResourceFile::default()
        },
        FileSource::Url(u) => ResourceFile {
            http_url: Some(u.clone()),
            file_path: f.path.clone(),
            ..ResourceFile::default()
        },
        FileSource::Container { role, prefix } => ResourceFile {
            storage_container_url: urls.containers.get(role).map(|u| u.expose().to_string()),
            blob_prefix: (!prefix.is_empty()).then(|| prefix.clone()),
            file_path: f.path.clone(),
            ..ResourceFile::default()
        },
    }
}

fn environment(env: &[(String, String)]) -> Vec<NameValue> {
    env.iter()
        .map(|(name, value)| NameValue {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// The workload's pool: its image, nodes, slots and start task.
pub fn pool_body(spec: &WorkloadSpec, urls: &Urls) -> Pool {
    let p = &spec.pool;
    let image = &p.image;
    Pool {
        id: spec.pool_id.clone(),
        vm_size: Some(p.vm_size.clone()),
        target_dedicated_nodes: Some(p.dedicated_nodes as i32),
        target_low_priority_nodes: (p.spot_nodes > 0).then_some(p.spot_nodes as i32),
        task_slots_per_node: (p.task_slots_per_node > 1).then_some(p.task_slots_per_node as i32),
        virtual_machine_configuration: Some(serde_json::json!({
            "imageReference": {
                "publisher": image.publisher,
                "offer": image.offer,
                "sku": image.sku,
                "version": image.version,
            },
            "nodeAgentSKUId": image.node_agent_sku_id,
        })),
        start_task: p.start_task.as_ref().map(|st| StartTask {
            command_line: st.command_line.clone(),
            resource_files: st
                .resource_files
                .iter()
                .map(|f| resource_file(f, urls))
                .collect(),
            environment_settings: environment(&st.environment),
            wait_for_success: Some(st.wait_for_success),
            max_task_retry_count: Some(st.max_retries),
            ..StartTask::default()
        }),
        ..Pool::default()
    }
}

/// The workload's job, on its pool; it uses task dependencies when a task has some.
pub fn job_body(spec: &WorkloadSpec) -> Job {
    let j = &spec.job;
    let constraints =
        (j.max_wall_clock_time.is_some() || j.max_task_retries.is_some()).then(|| JobConstraints {
            max_wall_clock_time: j.max_wall_clock_time.map(iso8601_duration),
            max_task_retry_count: j.max_task_retries,
        });
    let mut job = Job {
        id: spec.job_id.clone(),
        pool_info: PoolInfo {
            pool_id: Some(spec.pool_id.clone()),
            ..PoolInfo::default()
        },
        priority: j.priority,
        constraints,
        on_all_tasks_complete: j.on_all_tasks_complete.clone(),
        on_task_failure: j.on_task_failure.clone(),
        ..Job::default()
    };
    if spec.uses_dependencies() {
        job.extra
            .insert("usesTaskDependencies".into(), serde_json::Value::Bool(true));
    }
    job
}

/// One task: its command line, files in and out, limits and dependencies. The service uploads
/// its outputs to the output container through `output_container_url` (write-only SAS).
pub fn task_body(t: &TaskSpec, urls: &Urls, output_container_url: &str) -> Task {
    let constraints =
        (t.max_retries.is_some() || t.max_wall_clock_time.is_some() || t.retention_time.is_some())
            .then(|| TaskConstraints {
                max_wall_clock_time: t.max_wall_clock_time.map(iso8601_duration),
                retention_time: t.retention_time.map(iso8601_duration),
                max_task_retry_count: t.max_retries,
            });
    let mut task = Task {
        id: t.id.clone(),
        command_line: t.command_line.clone(),
        resource_files: t
            .resource_files
            .iter()
            .map(|f| resource_file(f, urls))
            .collect(),
        output_files: t
            .outputs
            .iter()
            .map(|o| OutputFile {
                file_pattern: o.pattern.clone(),
                destination: OutputFileDestination {
                    container: Some(OutputFileBlobContainerDestination {
                        path: o.blob().or_else(|| o.path.clone()),
                        container_url: output_container_url.to_string(),
                        ..OutputFileBlobContainerDestination::default()
                    }),
                },
                upload_options: OutputFileUploadOptions {
                    upload_condition: o.upload.clone(),
                },
            })
            .collect(),
        environment_settings: environment(&t.environment),
        constraints,
        required_slots: t.required_slots.map(|s| s as i32),
        ..Task::default()
    };
    let deps = &t.depends_on;
    if !deps.task_ids.is_empty() || !deps.task_id_ranges.is_empty() {
        task.extra.insert(
            "dependsOn".into(),
            serde_json::to_value(deps).unwrap_or_default(),
        );
    }
    if let Some(on_failure) = &t.on_failure {
        let conditions = ExitConditions {
            default: Some(on_failure.clone()),
            ..ExitConditions::default()
        };
        task.extra.insert(
            "exitConditions".into(),
            serde_json::to_value(conditions).unwrap_or_default(),
        );
    }
    task
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_tutorial_s_bodies_put_no_secret_in_command_lines() {
        let spec = WorkloadSpec::tutorial(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let uploads: Vec<SecretUrl> = spec
            .uploads
            .iter()
            .enumerate()
            .map(|(i, _)| {
                SecretUrl::new(url::Url::parse(&format!("http://h/c/{i}?sig=SECRET{i}")).unwrap())
            })
            .collect();
        let containers = BTreeMap::new();
        let urls = Urls {
            uploads: &uploads,
            containers: &containers,
        };
        let t = task_body(&spec.tasks[0], &urls, "http://h/output?sig=SECRETOUT");
        assert!(!t.command_line.contains("SECRET"));
        assert_eq!(
            t.command_line,
            "/bin/bash -c 'python3 \"$AZ_BATCH_NODE_SHARED_DIR/topwords.py\" --filepath \"taskdata1.txt\" --numwords 3 --output \"taskdata1_OUTPUT.txt\"'"
        );
        assert_eq!(t.id, "taskdata1");
        assert_eq!(
            t.resource_files[0].file_path.as_deref(),
            Some("taskdata1.txt")
        );
        assert_eq!(
            t.output_files[0]
                .destination
                .container
                .as_ref()
                .unwrap()
                .path
                .as_deref(),
            Some("taskdata1_OUTPUT.txt")
        );
        let p = pool_body(&spec, &urls);
        let st = p.start_task.unwrap();
        assert!(!st.command_line.contains("SECRET"));
        assert_eq!(
            st.resource_files[0].file_path.as_deref(),
            Some("topwords.py")
        );
        assert_eq!(p.target_dedicated_nodes, Some(2));
        let j = job_body(&spec);
        assert!(!j.extra.contains_key("usesTaskDependencies"));
    }
}
