//! The emulator's responses have the keys and JSON types of real recorded Batch responses
//! (tests/fixtures/recorded, see SOURCE.md), recursively for the fields present in both.
mod common;

use common::EmulatorProcess;
use common::batch_raw::Client;
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/tests/fixtures/recorded/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares shared keys recursively; returns how many were compared.
fn same_shape(path: &str, real: &Value, ours: &Value) -> usize {
    assert_eq!(
        kind(real),
        kind(ours),
        "{path}: recorded {real} vs emulator {ours}"
    );
    match (real, ours) {
        (Value::Object(a), Value::Object(b)) => {
            a.iter()
                .filter_map(|(k, v)| b.get(k).map(|w| same_shape(&format!("{path}/{k}"), v, w)))
                .sum::<usize>()
                + 1
        }
        (Value::Array(a), Value::Array(b)) => match (a.first(), b.first()) {
            (Some(x), Some(y)) => same_shape(&format!("{path}[0]"), x, y) + 1,
            _ => 1,
        },
        _ => 1,
    }
}

#[test]
fn emulator_responses_match_recorded_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let v = "api-version=2025-06-01";
    let pool = json!({"id": "p", "vmSize": "x", "targetDedicatedNodes": 1,
        "startTask": {"commandLine": "true", "waitForSuccess": false}});
    assert_eq!(c.send("POST", &format!("/pools?{v}"), Some(&pool)).0, 201);
    c.wait("node", &format!("/pools/p/nodes?{v}"), |n| {
        n["value"][0]["startTaskInfo"]["state"] == "completed"
    });
    let nodes = c.send("GET", &format!("/pools/p/nodes?{v}"), None).1;
    assert!(same_shape("nodes", &fixture("node_list.json"), &nodes) > 20);
    let job = json!({"id": "j", "poolInfo": {"poolId": "p"}, "metadata": [{"name": "test", "value": "value"}]});
    assert_eq!(c.send("POST", &format!("/jobs?{v}"), Some(&job)).0, 201);
    let got = c.send("GET", &format!("/jobs/j?{v}"), None).1;
    assert!(same_shape("job", &fixture("job_get.json"), &got) > 15);
    let t = json!({"id": "task1", "commandLine": "sleep 5", "requiredSlots": 1});
    assert_eq!(
        c.send("POST", &format!("/jobs/j/tasks?{v}"), Some(&t)).0,
        201
    );
    let tasks = c.send("GET", &format!("/jobs/j/tasks?{v}"), None).1;
    assert!(same_shape("tasks", &fixture("task_list.json"), &tasks) > 10);
    let (s, err) = c.send("GET", &format!("/jobs/nope?{v}"), None);
    assert_eq!(s, 404);
    assert!(same_shape("error", &fixture("error_body.json"), &err) >= 5);
    let msg = err["message"]["value"].as_str().unwrap();
    assert!(msg.contains("\nRequestId:") && msg.contains("\nTime:"));
}

/// A pool created autoscaling and an evaluation have the recorded shapes, `autoScaleRun`
/// included.
#[test]
fn autoscale_responses_match_recorded_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let v = "api-version=2025-06-01";
    let pool = json!({"id": "p", "vmSize": "standard_d2_v2", "enableAutoScale": true,
        "autoScaleFormula": "$TargetDedicatedNodes=2", "autoScaleEvaluationInterval": "PT6M"});
    assert_eq!(c.send("POST", &format!("/pools?{v}"), Some(&pool)).0, 201);
    let got = c.send("GET", &format!("/pools/p?{v}"), None).1;
    assert!(same_shape("pool", &fixture("pool_get_autoscale.json"), &got) > 20);
    assert_eq!(
        got["autoScaleRun"]["results"],
        fixture("pool_get_autoscale.json")["autoScaleRun"]["results"]
    );
    let body = json!({"autoScaleFormula": "$TargetDedicatedNodes=3"});
    let (s, run) = c.send(
        "POST",
        &format!("/pools/p/evaluateautoscale?{v}"),
        Some(&body),
    );
    assert_eq!(s, 200);
    assert!(same_shape("evaluate", &fixture("autoscale_evaluate.json"), &run) >= 3);
    assert_eq!(
        run["results"],
        fixture("autoscale_evaluate.json")["results"]
    );
    let body = json!({"autoScaleFormula": "$TargetDedicatedNodes = max($CPUPercent.GetSample(TimeInterval_Hour));"});
    let (s, run) = c.send(
        "POST",
        &format!("/pools/p/evaluateautoscale?{v}"),
        Some(&body),
    );
    assert_eq!(s, 200);
    assert!(same_shape("error", &fixture("autoscale_evaluate_error.json"), &run) >= 8);
}

/// A job schedule and the job it created have the recorded shapes.
#[test]
fn job_schedule_responses_match_recorded_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let v = "api-version=2025-06-01";
    let s = json!({"id": "s", "schedule": {"startWindow": "PT1H", "recurrenceInterval": "P1D"},
        "jobSpecification": {"onAllTasksComplete": "terminatejob", "constraints": {"maxTaskRetryCount": 2},
            "poolInfo": {"poolId": "pool_id"}}});
    assert_eq!(
        c.send("POST", &format!("/jobschedules?{v}"), Some(&s)).0,
        201
    );
    let got = c.wait("the first job", &format!("/jobschedules/s?{v}"), |s| {
        s["executionInfo"]["recentJob"].is_object()
    });
    assert!(same_shape("schedule", &fixture("job_schedule_get.json"), &got) > 20);
    assert_eq!(got["executionInfo"]["recentJob"]["id"], "s:job-1");
    let jobs = c.send("GET", &format!("/jobschedules/s/jobs?{v}"), None).1;
    assert!(same_shape("jobs", &fixture("job_schedule_jobs.json"), &jobs) > 15);
    assert_eq!(c.send("HEAD", &format!("/jobschedules/s?{v}"), None).0, 200);
    assert_eq!(c.send("HEAD", &format!("/jobschedules/t?{v}"), None).0, 404);
}

/// A node's agent info, remote login settings, extensions and a log upload have the recorded
/// shapes.
#[test]
fn node_responses_match_recorded_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let v = "api-version=2025-06-01";
    let pool = json!({"id": "p", "vmSize": "standard_d2_v2", "targetDedicatedNodes": 1,
        "virtualMachineConfiguration": {"nodeAgentSKUId": "batch.node.ubuntu 18.04",
            "extensions": [{"name": "secretext", "publisher": "Microsoft.Azure.KeyVault",
                "type": "KeyVaultForLinux", "typeHandlerVersion": "1.0", "autoUpgradeMinorVersion": true}]}});
    assert_eq!(c.send("POST", &format!("/pools?{v}"), Some(&pool)).0, 201);
    let nodes = c.wait("an idle node", &format!("/pools/p/nodes?{v}"), |n| {
        n["value"][0]["state"] == "idle"
    });
    assert!(same_shape("nodes", &fixture("node_list_agent_info.json"), &nodes) > 20);
    assert!(nodes["value"][0]["nodeAgentInfo"]["version"].is_string());
    let n = nodes["value"][0]["id"].as_str().unwrap().to_string();
    let rl = c
        .send(
            "GET",
            &format!("/pools/p/nodes/{n}/remoteloginsettings?{v}"),
            None,
        )
        .1;
    assert!(same_shape("remote login", &fixture("remote_login_settings.json"), &rl) >= 3);
    let exts = c
        .send("GET", &format!("/pools/p/nodes/{n}/extensions?{v}"), None)
        .1;
    assert!(same_shape("extensions", &fixture("node_extensions.json"), &exts) > 12);
    let ext = c
        .send(
            "GET",
            &format!("/pools/p/nodes/{n}/extensions/secretext?{v}"),
            None,
        )
        .1;
    assert!(same_shape("extension", &fixture("node_extension_get.json"), &ext) > 12);
    let body = json!({"containerUrl": format!("{}/logs?sig=x", emu.blob_endpoint), "startTime": "2020-01-01T00:00:00Z"});
    let (s, logs) = c.send(
        "POST",
        &format!("/pools/p/nodes/{n}/uploadbatchservicelogs?{v}"),
        Some(&body),
    );
    assert_eq!(s, 200);
    assert!(same_shape("logs", &fixture("upload_logs_spec.json"), &logs) >= 3);
}
