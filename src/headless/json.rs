//! `--output json`: the workflow's events as JSON lines, one object per event, for scripts.
//!
//! Schema version 1 (the README's "Output for scripts" documents every event): each line is an
//! object with `v` (the schema version, 1), `time` (RFC 3339, UTC, milliseconds) and `event`
//! (its name, snake_case), then the event's own fields. Durations are seconds (`*_s`, floats),
//! sizes bytes, states the service's strings. Later versions only add events and fields;
//! a change that removes or renames one bumps `v`.

use serde_json::{Map, Value, json};

use crate::workflow::events::{
    Event, Health, Held, NodeView, PoolView, Resource, Step, TaskView, Waits,
};

/// The schema version every line carries as `v`.
pub const SCHEMA_VERSION: u64 = 1;

/// The object for one event, without `v` and `time`.
pub fn event_object(e: &Event) -> Value {
    match e {
        // The step events' `title` stays the step's own (a script can match it); the
        // workload's words for each step are here.
        Event::Workload(w) => event(
            "workload",
            json!({
                "name": w.name,
                "pool_id": w.pool_id,
                "job_id": w.job_id,
                "containers": w.containers,
                "groups": w.groups.iter().map(|(g, n)| json!({ "name": g, "tasks": n })).collect::<Vec<_>>(),
                "steps": w.steps,
            }),
        ),
        Event::StepStarted(step) => obj("step_started", step_fields(*step)),
        Event::StepFinished {
            step,
            elapsed,
            note,
        } => {
            let mut f = step_fields(*step);
            f.insert("elapsed_s".into(), json!(elapsed.as_secs_f64()));
            f.insert("note".into(), json!(note));
            obj("step_finished", f)
        }
        Event::StepFailed { step, error } => {
            let mut f = step_fields(*step);
            f.insert("error".into(), json!(error));
            obj("step_failed", f)
        }
        Event::Info(message) => event("info", json!({ "message": message })),
        Event::UploadProgress {
            file,
            bytes_done,
            bytes_total,
        } => event(
            "upload_progress",
            json!({ "file": file, "bytes_done": bytes_done, "bytes_total": bytes_total }),
        ),
        Event::Uploaded {
            file,
            container,
            blob,
            bytes,
        } => event(
            "uploaded",
            json!({ "file": file, "container": container, "blob": blob, "bytes": bytes }),
        ),
        Event::Pool(p) => event("pool", pool(p)),
        Event::Nodes(nodes) => event(
            "nodes",
            json!({ "nodes": nodes.iter().map(node).collect::<Vec<_>>() }),
        ),
        Event::Tasks(tasks) => event(
            "tasks",
            json!({ "tasks": tasks.iter().map(task).collect::<Vec<_>>() }),
        ),
        Event::TasksGone(ids) => event("tasks_gone", json!({ "tasks": ids })),
        Event::TaskCounts(c) => event(
            "task_counts",
            json!({
                "active": c.active,
                "running": c.running,
                "completed": c.completed,
                "succeeded": c.succeeded,
                "failed": c.failed,
            }),
        ),
        Event::Downloaded {
            blob,
            container,
            path,
            bytes,
        } => event(
            "downloaded",
            json!({
                "blob": blob,
                "container": container,
                "path": path.display().to_string(),
                "bytes": bytes,
            }),
        ),
        Event::Output {
            task_id,
            path,
            text,
        } => event(
            "output",
            json!({ "task_id": task_id, "path": path.display().to_string(), "text": text }),
        ),
        Event::TaskFileTail {
            task_id,
            file,
            from,
            len,
            text,
        } => event(
            "task_file_tail",
            json!({
                "task_id": task_id,
                "file": file.name(),
                "from": from,
                "len": len,
                "text": text,
            }),
        ),
        Event::NodeStderr { node_id, text } => {
            event("node_stderr", json!({ "node_id": node_id, "text": text }))
        }
        Event::Created(r) => event("created", resource(r)),
        Event::Deleting(r) => event("deleting", resource(r)),
        Event::Deleted(r) => event("deleted", resource(r)),
        Event::Gone(r) => event("gone", resource(r)),
        Event::Resized { pool_id, target } => {
            event("resized", json!({ "pool_id": pool_id, "target": target }))
        }
        Event::Done { what } => event("done", json!({ "what": what })),
        Event::Held { what, how } => {
            let (behind, replaced) = match how {
                Held::Waiting { behind, replaced } => (Some(behind), replaced.as_ref()),
                _ => (None, None),
            };
            event(
                "held",
                json!({ "what": what, "how": how.name(), "behind": behind, "replaced": replaced }),
            )
        }
        Event::Reactivated { task_ids } => event("reactivated", json!({ "task_ids": task_ids })),
        Event::TaskFilesDownloaded {
            task_id,
            dir,
            files,
            bytes,
        } => event(
            "task_files_downloaded",
            json!({ "task_id": task_id, "dir": dir, "files": files, "bytes": bytes }),
        ),
        Event::FileDownloaded { path, dest, bytes } => event(
            "file_downloaded",
            json!({ "path": path, "dest": dest, "bytes": bytes }),
        ),
        Event::CommandFailed { what, error } => {
            event("command_failed", json!({ "what": what, "error": error }))
        }
        Event::Health(Health::Reconnecting {
            attempt,
            error,
            retry_in,
        }) => event(
            "health",
            json!({
                "status": "reconnecting",
                "attempt": attempt,
                "error": error,
                "retry_in_s": retry_in.as_secs_f64(),
            }),
        ),
        Event::Health(Health::Reconnected { after }) => event(
            "health",
            json!({ "status": "reconnected", "after_s": after.as_secs_f64() }),
        ),
        Event::WatchFailed { error } => event("watch_failed", json!({ "error": error })),
        // Browsing's watchers only (a run or a watch never sends these).
        Event::Pools(rows) => event(
            "pools",
            json!({ "pools": rows.iter().map(|r| pool(&r.pool)).collect::<Vec<_>>() }),
        ),
        Event::Jobs(rows) => event(
            "jobs",
            json!({ "jobs": rows.iter().map(|j| json!({
                "id": j.id,
                "state": j.state.as_str(),
                "pool_id": j.pool_id,
                "priority": j.priority,
            })).collect::<Vec<_>>() }),
        ),
        Event::Files(rows) => event(
            "files",
            json!({ "files": rows.iter().map(|f| json!({
                "path": f.path,
                "is_dir": f.is_dir,
                "bytes": f.size,
            })).collect::<Vec<_>>() }),
        ),
        Event::Details { of, properties } => event(
            "details",
            json!({ "of": of.to_string(), "properties": properties.as_ref().map(|p| p.json()) }),
        ),
        Event::FileChunk {
            path,
            from,
            len,
            text,
        } => event(
            "file_chunk",
            json!({ "path": path, "from": from, "len": len, "text": text }),
        ),
        Event::Finished {
            ok,
            elapsed,
            remaining,
        } => event(
            "finished",
            json!({
                "ok": ok,
                "elapsed_s": elapsed.as_secs_f64(),
                "remaining": remaining.iter().map(resource).collect::<Vec<_>>(),
            }),
        ),
    }
}

/// One line: `v`, `time` and `event` first (so a reader can dispatch on the start of the
/// line), then the event's fields.
pub fn line(e: &Event) -> String {
    stamped(event_object(e))
}

/// An event's object (with its `event` key) as one line, `v` and `time` in front of it.
pub fn stamped(object: Value) -> String {
    let Value::Object(mut fields) = object else {
        return String::new();
    };
    let name = fields.remove("event").unwrap_or(Value::Null);
    let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let rest = Value::Object(fields).to_string();
    let rest = match rest.strip_prefix('{') {
        Some("}") | None => "}".to_string(),
        Some(r) => format!(",{r}"),
    };
    format!("{{\"v\":{SCHEMA_VERSION},\"time\":\"{time}\",\"event\":{name}{rest}")
}

fn event(name: &str, fields: Value) -> Value {
    match fields {
        Value::Object(f) => obj(name, f),
        _ => obj(name, Map::new()),
    }
}

fn obj(name: &str, fields: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert("event".into(), json!(name));
    m.extend(fields);
    Value::Object(m)
}

fn step_fields(step: Step) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("step".into(), json!(step.number()));
    m.insert("title".into(), json!(step.title()));
    m
}

fn resource(r: &Resource) -> Value {
    let (kind, id) = match r {
        Resource::Pool(id) => ("pool", id),
        Resource::Job(id) => ("job", id),
        Resource::Container(id) => ("container", id),
    };
    json!({ "kind": kind, "id": id })
}

fn pool(p: &PoolView) -> Value {
    json!({
        "id": p.id,
        "state": p.state.as_str(),
        "allocation_state": p.allocation_state.as_str(),
        "vm_size": p.vm_size,
        "target_dedicated": p.target_dedicated,
        "current_dedicated": p.current_dedicated,
        "target_low_priority": p.target_low_priority,
        "current_low_priority": p.current_low_priority,
    })
}

fn node(n: &NodeView) -> Value {
    json!({
        "id": n.id,
        "state": n.state.as_str(),
        "start_task_state": n.start_task_state.as_ref().map(|s| s.as_str()),
        "start_task_exit_code": n.start_task_exit_code,
        "start_task_retries": n.start_task_retries,
        "start_task_failure": n.start_task_failure,
        "running_tasks": n.running_tasks,
    })
}

fn task(t: &TaskView) -> Value {
    json!({
        "id": t.id,
        "state": t.state.as_str(),
        "node_id": t.node_id,
        "exit_code": t.exit_code,
        "retries": t.retries,
        "requeues": t.requeues,
        "result": t.result.as_ref().map(|r| r.as_str()),
        "failure": t.failure,
        "duration_ms": t.duration_ms,
        "waiting_on": match &t.waits {
            Some(Waits::On(n)) => Some(*n),
            _ => None,
        },
        "blocked_by": match &t.waits {
            Some(Waits::Blocked { by }) => Some(by),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::azure::models::TaskState;

    #[test]
    fn each_line_is_one_object_with_the_version_time_and_event() {
        let l = line(&Event::StepFinished {
            step: Step::Upload,
            elapsed: Duration::from_millis(1500),
            note: "4 files".into(),
        });
        assert!(!l.contains('\n'));
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["event"], "step_finished");
        assert_eq!(v["step"], 2);
        assert_eq!(v["title"], "Upload script and inputs");
        assert_eq!(v["elapsed_s"], 1.5);
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        // `v`, `time` and `event` come first, so a reader can dispatch on the start.
        assert!(l.starts_with("{\"v\":1,\"time\":\""), "{l}");
        assert!(l.contains("Z\",\"event\":\"step_finished\",\""), "{l}");
        let t = line(&Event::Tasks(vec![TaskView {
            id: "a".into(),
            state: TaskState::Completed,
            node_id: None,
            exit_code: Some(3),
            retries: 0,
            requeues: 0,
            result: None,
            failure: Some("exit code 3".into()),
            duration_ms: Some(20),
            started: None,
            waits: None,
        }]));
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["tasks"][0]["state"], "completed");
        assert_eq!(v["tasks"][0]["exit_code"], 3);
        assert_eq!(v["tasks"][0]["node_id"], Value::Null);
        assert_eq!(v["tasks"][0]["waiting_on"], Value::Null);
        let held = |waits| TaskView {
            id: "total".into(),
            state: TaskState::Active,
            node_id: None,
            exit_code: None,
            retries: 0,
            requeues: 0,
            result: None,
            failure: None,
            duration_ms: None,
            started: None,
            waits: Some(waits),
        };
        let v: Value = serde_json::from_str(&line(&Event::Tasks(vec![
            held(Waits::On(5)),
            held(Waits::Blocked { by: "a".into() }),
        ])))
        .unwrap();
        assert_eq!(v["tasks"][0]["state"], "active", "the service's state");
        assert_eq!(
            (&v["tasks"][0]["waiting_on"], &v["tasks"][0]["blocked_by"]),
            (&json!(5), &Value::Null)
        );
        assert_eq!(
            (&v["tasks"][1]["waiting_on"], &v["tasks"][1]["blocked_by"]),
            (&Value::Null, &json!("a"))
        );
        let f: Value = serde_json::from_str(&line(&Event::Finished {
            ok: false,
            elapsed: Duration::from_secs(2),
            remaining: vec![Resource::Pool("p".into())],
        }))
        .unwrap();
        assert_eq!(f["remaining"], json!([{ "kind": "pool", "id": "p" }]));
        assert_eq!(f["ok"], false);
        let h: Value = serde_json::from_str(&line(&Event::Held {
            what: "resize pool p to 5 dedicated and 0 spot nodes".into(),
            how: Held::Waiting {
                behind: "resize pool p to 3 dedicated and 0 spot nodes".into(),
                replaced: None,
            },
        }))
        .unwrap();
        assert_eq!(
            (&h["event"], &h["how"], &h["replaced"]),
            (&json!("held"), &json!("waiting"), &Value::Null)
        );
        assert_eq!(h["behind"], "resize pool p to 3 dedicated and 0 spot nodes");
    }
}
