//! The Batch operations beyond the tutorial's, over HTTP as clients send them: bodies read
//! as the service's OData reader reads them (numbers and booleans as strings, as the Azure
//! CLI sends them) and refused alike by every operation when they cannot be converted; PATCH
//! and PUT as documented; pool stop resize, update properties, PATCH and node removal; node
//! counts and supported images; task and node file deletion; task PUT; job disable and
//! enable; durations in the service's canonical form; one clear 501 for what is not
//! implemented.
mod common;

use std::path::{Path, PathBuf};

use common::EmulatorProcess;
use common::batch_raw::Client;
use serde_json::{Value, json};

const V: &str = "api-version=2025-06-01";

fn ok(c: &Client, method: &str, path: &str, body: Option<&Value>, status: u16) -> Value {
    let (s, v) = c.send(method, &format!("{path}?{V}"), body);
    assert_eq!(s, status, "{method} {path}: {v}");
    v
}

fn get(c: &Client, path: &str) -> Value {
    ok(c, "GET", path, None, 200)
}

fn error(c: &Client, method: &str, path: &str, body: Option<&Value>) -> (u16, String, Value) {
    let (s, v) = c.send(method, &format!("{path}?{V}"), body);
    (s, v["code"].as_str().unwrap_or_default().to_string(), v)
}

fn pool_with_node(c: &Client, id: &str, nodes: i32) {
    let pool = json!({"id": id, "vmSize": "standard_d1", "targetDedicatedNodes": nodes});
    ok(c, "POST", "/pools", Some(&pool), 201);
    c.wait("idle nodes", &format!("/pools/{id}/nodes?{V}"), |v| {
        let n = v["value"].as_array().map(Vec::len).unwrap_or(0);
        n == nodes as usize
            && v["value"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["state"] == "idle")
    });
}

/// A boot phase that is due ends in the pass that finds it due, and the next one too if it is
/// due by then: with no allocation or boot delay (the tests' emulator), a node is idle in the
/// pass that allocates it (booted, and idle, at its allocation time), not passes later.
#[test]
fn nodes_that_take_no_time_to_boot_are_idle_once_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    pool_with_node(&c, "p", 2);
    let nodes = get(&c, "/pools/p/nodes");
    for n in nodes["value"].as_array().unwrap() {
        assert!(n["allocationTime"].is_string(), "{n}");
        assert_eq!(n["lastBootTime"], n["allocationTime"], "{n}");
        assert_eq!(n["stateTransitionTime"], n["allocationTime"], "{n}");
    }
}

/// What `az batch ... --target-dedicated-nodes 1 --priority 3 ...` sends: numbers and
/// booleans as JSON strings, converted as the service converts them; durations in any valid
/// form come back canonical.
#[test]
fn bodies_with_numbers_and_booleans_as_strings_are_converted() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let pool = json!({"id": "p", "vmSize": "standard_d1", "targetDedicatedNodes": "1",
        "taskSlotsPerNode": "2", "enableAutoScale": "false", "resizeTimeout": "PT01H00M00S",
        "startTask": {"commandLine": "/bin/true", "waitForSuccess": "true", "maxTaskRetryCount": "1"}});
    ok(&c, "POST", "/pools", Some(&pool), 201);
    let p = get(&c, "/pools/p");
    assert_eq!(p["targetDedicatedNodes"], 1);
    assert_eq!(p["taskSlotsPerNode"], 2);
    assert_eq!(p["enableAutoScale"], false);
    assert_eq!(p["resizeTimeout"], "PT1H");
    assert_eq!(p["startTask"]["waitForSuccess"], true);
    assert_eq!(p["startTask"]["maxTaskRetryCount"], 1);
    ok(
        &c,
        "POST",
        "/pools/p/resize",
        Some(&json!({"targetDedicatedNodes": "2"})),
        202,
    );
    assert_eq!(get(&c, "/pools/p")["targetDedicatedNodes"], 2);

    let job = json!({"id": "j", "poolInfo": {"poolId": "p"}, "priority": "3",
        "constraints": {"maxWallClockTime": "PT01H30M00S", "maxTaskRetryCount": "2"}});
    ok(&c, "POST", "/jobs", Some(&job), 201);
    let j = get(&c, "/jobs/j");
    assert_eq!(j["priority"], 3);
    assert_eq!(j["constraints"]["maxWallClockTime"], "PT1H30M");
    assert_eq!(j["constraints"]["maxTaskRetryCount"], 2);
    let task = json!({"id": "t", "commandLine": "/bin/true",
        "constraints": {"maxTaskRetryCount": "4", "retentionTime": "P1DT00H"}, "requiredSlots": "1"});
    ok(&c, "POST", "/jobs/j/tasks", Some(&task), 201);
    let t = get(&c, "/jobs/j/tasks/t");
    assert_eq!(t["constraints"]["maxTaskRetryCount"], 4);
    assert_eq!(t["constraints"]["retentionTime"], "P1D");
    // The service's own defaults, in its own form.
    assert_eq!(
        t["constraints"]["maxWallClockTime"],
        "P10675199DT2H48M5.4775807S"
    );
    assert_eq!(get(&c, "/pools/p")["startTask"]["commandLine"], "/bin/true");
}

/// A value that cannot be converted is refused, by every operation alike, with 400
/// InvalidRequestBody naming the property; nothing changes.
#[test]
fn values_that_cannot_be_converted_get_400_from_every_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    pool_with_node(&c, "p", 1);
    ok(
        &c,
        "POST",
        "/jobs",
        Some(&json!({"id": "j", "poolInfo": {"poolId": "p"}})),
        201,
    );
    ok(
        &c,
        "POST",
        "/jobs/j/tasks",
        Some(&json!({"id": "t", "commandLine": "/bin/true"})),
        201,
    );
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/pools",
            json!({"id": "q", "vmSize": "x", "targetDedicatedNodes": "one"}),
            "targetDedicatedNodes",
        ),
        (
            "POST",
            "/pools/p/resize",
            json!({"targetDedicatedNodes": "2x"}),
            "targetDedicatedNodes",
        ),
        (
            "PATCH",
            "/pools/p",
            json!({"startTask": {"commandLine": "x", "waitForSuccess": "maybe"}}),
            "startTask.waitForSuccess",
        ),
        (
            "POST",
            "/pools/p/updateproperties",
            json!({"applicationPackageReferences": [], "metadata": [], "startTask": {"commandLine": "x", "maxTaskRetryCount": 1.5}}),
            "startTask.maxTaskRetryCount",
        ),
        (
            "POST",
            "/jobs",
            json!({"id": "k", "poolInfo": {"poolId": "p"}, "priority": "high"}),
            "priority",
        ),
        ("PATCH", "/jobs/j", json!({"priority": "3.5"}), "priority"),
        (
            "PUT",
            "/jobs/j",
            json!({"poolInfo": {"poolId": "p"}, "maxParallelTasks": true}),
            "maxParallelTasks",
        ),
        (
            "POST",
            "/jobs/j/tasks",
            json!({"id": "u", "commandLine": "x", "requiredSlots": "a"}),
            "requiredSlots",
        ),
        (
            "POST",
            "/jobs/j/addtaskcollection",
            json!({"value": [{"id": "u", "commandLine": "x", "constraints": {"maxTaskRetryCount": "-"}}]}),
            "value[0].constraints.maxTaskRetryCount",
        ),
        (
            "PUT",
            "/jobs/j/tasks/t",
            json!({"constraints": {"maxWallClockTime": "an hour"}}),
            "constraints.maxWallClockTime",
        ),
        (
            "POST",
            "/pools/p/removenodes",
            json!({"nodeList": ["x"], "resizeTimeout": "15 minutes"}),
            "resizeTimeout",
        ),
    ];
    for (m, path, body, prop) in cases {
        let (s, code, v) = error(&c, m, path, Some(&body));
        assert_eq!(
            (s, code.as_str()),
            (400, "InvalidRequestBody"),
            "{m} {path}: {v}"
        );
        let reason = v["values"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == "Reason")
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            reason.contains(&format!(" at {prop}.")),
            "{m} {path}: {reason}"
        );
    }
    // Nothing took effect.
    assert_eq!(get(&c, "/pools/p")["targetDedicatedNodes"], 1);
    assert_eq!(get(&c, "/jobs/j")["priority"], 0);
    assert_eq!(get(&c, "/jobs/j")["maxParallelTasks"], -1);
    assert_eq!(
        get(&c, "/jobs/j/tasks/t")["constraints"]["maxWallClockTime"],
        "P10675199DT2H48M5.4775807S"
    );
    assert_eq!(get(&c, "/jobs")["value"].as_array().unwrap().len(), 1);
}

/// PATCH changes what it names and nothing else; PUT replaces every updatable property,
/// and what it omits goes back to the defaults.
#[test]
fn job_patch_and_put_follow_the_documented_semantics() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    ok(
        &c,
        "POST",
        "/pools",
        Some(&json!({"id": "p", "vmSize": "x"})),
        201,
    );
    ok(
        &c,
        "POST",
        "/pools",
        Some(&json!({"id": "p2", "vmSize": "x"})),
        201,
    );
    let job = json!({"id": "j", "poolInfo": {"poolId": "p"}, "priority": 5, "maxParallelTasks": 4,
        "constraints": {"maxWallClockTime": "PT2H", "maxTaskRetryCount": 3},
        "metadata": [{"name": "a", "value": "b"}]});
    ok(&c, "POST", "/jobs", Some(&job), 201);
    // The CLI's `az batch job set --priority 3`.
    ok(&c, "PATCH", "/jobs/j", Some(&json!({"priority": "3"})), 200);
    let j = get(&c, "/jobs/j");
    assert_eq!(j["priority"], 3);
    assert_eq!(j["maxParallelTasks"], 4);
    assert_eq!(j["constraints"]["maxTaskRetryCount"], 3);
    assert_eq!(j["metadata"], json!([{"name": "a", "value": "b"}]));
    ok(
        &c,
        "PATCH",
        "/jobs/j",
        Some(&json!({"onAllTasksComplete": "terminatejob"})),
        200,
    );
    assert_eq!(get(&c, "/jobs/j")["onAllTasksComplete"], "terminatejob");
    // Checked as the service checks.
    let (s, code, _) = error(&c, "PATCH", "/jobs/j", Some(&json!({"priority": 1001})));
    assert_eq!((s, code.as_str()), (400, "OutOfRangePriority"));
    let (s, code, _) = error(
        &c,
        "PATCH",
        "/jobs/j",
        Some(&json!({"maxParallelTasks": 0})),
    );
    assert_eq!((s, code.as_str()), (400, "InvalidPropertyValue"));
    let (s, code, _) = error(
        &c,
        "PATCH",
        "/jobs/j",
        Some(&json!({"onAllTasksComplete": "noaction"})),
    );
    assert_eq!((s, code.as_str()), (400, "InvalidPropertyValue"));
    let (s, code, _) = error(
        &c,
        "PATCH",
        "/jobs/j",
        Some(&json!({"poolInfo": {"poolId": "p2"}})),
    );
    assert_eq!((s, code.as_str()), (409, "OperationInvalidForCurrentState"));
    let (s, code, _) = error(&c, "PUT", "/jobs/j", Some(&json!({"priority": 1})));
    assert_eq!((s, code.as_str()), (400, "MissingRequiredProperty"));

    // PUT: what is omitted is reset (onAllTasksComplete must stay terminatejob).
    let put = json!({"poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminatejob"});
    ok(&c, "PUT", "/jobs/j", Some(&put), 200);
    let j = get(&c, "/jobs/j");
    assert_eq!(j["priority"], 0);
    assert_eq!(j["maxParallelTasks"], -1);
    assert_eq!(j["allowTaskPreemption"], false);
    assert_eq!(j["constraints"]["maxTaskRetryCount"], 0);
    assert_eq!(
        j["constraints"]["maxWallClockTime"],
        "P10675199DT2H48M5.4775807S"
    );
    assert_eq!(j.get("metadata"), None, "{j}");
    let (s, code, _) = error(
        &c,
        "PUT",
        "/jobs/j",
        Some(&json!({"poolInfo": {"poolId": "p"}})),
    );
    assert_eq!((s, code.as_str()), (400, "InvalidPropertyValue"));

    // The pool changes only while the job is disabled.
    ok(
        &c,
        "POST",
        "/jobs/j/disable",
        Some(&json!({"disableTasks": "requeue"})),
        202,
    );
    c.wait("disabled", &format!("/jobs/j?{V}"), |v| {
        v["state"] == "disabled"
    });
    ok(
        &c,
        "PATCH",
        "/jobs/j",
        Some(&json!({"poolInfo": {"poolId": "p2"}})),
        200,
    );
    let j = get(&c, "/jobs/j");
    assert_eq!(j["poolInfo"]["poolId"], "p2");
    assert_eq!(j["executionInfo"]["poolId"], "p2");
}

/// Job disable (requeue, terminate, wait) and enable, with the service's states and errors.
#[test]
fn job_disable_and_enable() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    pool_with_node(&c, "p", 1);
    for (how, expect) in [("requeue", "active"), ("terminate", "completed")] {
        let j = format!("j{how}");
        ok(
            &c,
            "POST",
            "/jobs",
            Some(&json!({"id": j, "poolInfo": {"poolId": "p"}})),
            201,
        );
        ok(
            &c,
            "POST",
            &format!("/jobs/{j}/tasks"),
            Some(&json!({"id": "long", "commandLine": "/bin/sleep 30"})),
            201,
        );
        c.wait("running", &format!("/jobs/{j}/tasks/long?{V}"), |v| {
            v["state"] == "running"
        });
        ok(
            &c,
            "POST",
            &format!("/jobs/{j}/disable"),
            Some(&json!({"disableTasks": how})),
            202,
        );
        c.wait("disabled", &format!("/jobs/{j}?{V}"), |v| {
            v["state"] == "disabled"
        });
        let t = get(&c, &format!("/jobs/{j}/tasks/long"));
        assert_eq!(t["state"], expect, "{how}: {t}");
        if how == "terminate" {
            assert_eq!(t["executionInfo"]["failureInfo"]["code"], "TaskEnded");
        } else {
            // Not started again while the job is disabled.
            std::thread::sleep(std::time::Duration::from_millis(500));
            assert_eq!(get(&c, &format!("/jobs/{j}/tasks/long"))["state"], "active");
        }
        let (s, code, _) = error(
            &c,
            "POST",
            &format!("/jobs/{j}/disable"),
            Some(&json!({"disableTasks": how})),
        );
        assert_eq!((s, code.as_str()), (409, "JobDisabled"));
        ok(&c, "POST", &format!("/jobs/{j}/enable"), None, 202);
        c.wait("active", &format!("/jobs/{j}?{V}"), |v| {
            v["state"] == "active"
        });
        assert_eq!(get(&c, &format!("/jobs/{j}"))["previousState"], "enabling");
        ok(&c, "POST", &format!("/jobs/{j}/terminate"), None, 202);
    }
    ok(
        &c,
        "POST",
        "/jobs",
        Some(&json!({"id": "w", "poolInfo": {"poolId": "p"}})),
        201,
    );
    ok(
        &c,
        "POST",
        "/jobs/w/tasks",
        Some(&json!({"id": "short", "commandLine": "/bin/sleep 1"})),
        201,
    );
    ok(
        &c,
        "POST",
        "/jobs/w/tasks",
        Some(&json!({"id": "later", "commandLine": "/bin/true"})),
        201,
    );
    c.wait("running", &format!("/jobs/w/tasks/short?{V}"), |v| {
        v["state"] == "running"
    });
    ok(
        &c,
        "POST",
        "/jobs/w/disable",
        Some(&json!({"disableTasks": "wait"})),
        202,
    );
    assert_eq!(get(&c, "/jobs/w")["state"], "disabling");
    c.wait(
        "disabled after the task ended",
        &format!("/jobs/w?{V}"),
        |v| v["state"] == "disabled",
    );
    assert_eq!(
        get(&c, "/jobs/w/tasks/short")["executionInfo"]["result"],
        "success"
    );
    let (s, code, _) = error(
        &c,
        "POST",
        "/jobs/w/disable",
        Some(&json!({"disableTasks": "later"})),
    );
    assert_eq!((s, code.as_str()), (400, "InvalidPropertyValue"));
    let (s, code, _) = error(&c, "POST", "/jobs/w/disable", Some(&json!({})));
    assert_eq!((s, code.as_str()), (400, "MissingRequiredProperty"));
    ok(&c, "POST", "/jobs/w/enable", None, 202);
    c.wait(
        "the waiting task ran",
        &format!("/jobs/w/tasks/later?{V}"),
        |v| v["state"] == "completed",
    );
    let (s, code, _) = error(&c, "POST", "/jobs/w/enable", None);
    assert_eq!((s, code.as_str()), (409, "OperationInvalidForCurrentState"));
    assert_eq!(
        error(&c, "POST", "/jobs/nope/enable", None).1,
        "JobNotFound"
    );
}

/// Pool PATCH, update properties (replace), stop resize, remove nodes, node counts.
#[test]
fn pool_updates_stop_resize_remove_nodes_and_node_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &["--allocation-delay", "2s"]);
    let c = Client::new(&emu);
    let pool = json!({"id": "p", "vmSize": "x", "startTask": {"commandLine": "/bin/true"},
        "metadata": [{"name": "a", "value": "1"}]});
    ok(&c, "POST", "/pools", Some(&pool), 201);
    ok(
        &c,
        "PATCH",
        "/pools/p",
        Some(&json!({"metadata": [{"name": "b", "value": "2"}]})),
        200,
    );
    let p = get(&c, "/pools/p");
    assert_eq!(p["metadata"], json!([{"name": "b", "value": "2"}]));
    assert_eq!(p["startTask"]["commandLine"], "/bin/true");
    ok(
        &c,
        "PATCH",
        "/pools/p",
        Some(&json!({"startTask": {"commandLine": "/bin/echo hi"}})),
        200,
    );
    let p = get(&c, "/pools/p");
    assert_eq!(p["startTask"]["commandLine"], "/bin/echo hi");
    assert_eq!(p["startTask"]["waitForSuccess"], true);
    assert_eq!(p["metadata"], json!([{"name": "b", "value": "2"}]));
    // Replace: the start task omitted is removed; metadata and packages are required.
    let (s, code, _) = error(
        &c,
        "POST",
        "/pools/p/updateproperties",
        Some(&json!({"metadata": []})),
    );
    assert_eq!((s, code.as_str()), (400, "MissingRequiredProperty"));
    ok(
        &c,
        "POST",
        "/pools/p/updateproperties",
        Some(&json!({"applicationPackageReferences": [], "metadata": []})),
        204,
    );
    let p = get(&c, "/pools/p");
    assert_eq!(p.get("startTask"), None, "{p}");
    assert_eq!(p.get("metadata"), None, "{p}");

    // A node deallocation option the service does not document: 400, naming the property,
    // and nothing changes.
    for (path, body) in [
        (
            "/pools/p/resize",
            json!({"targetDedicatedNodes": 3, "nodeDeallocationOption": "later"}),
        ),
        (
            "/pools/p/removenodes",
            json!({"nodeList": ["n"], "nodeDeallocationOption": "later"}),
        ),
    ] {
        let (s, code, v) = error(&c, "POST", path, Some(&body));
        assert_eq!((s, code.as_str()), (400, "InvalidPropertyValue"), "{path}");
        assert!(v.to_string().contains("nodeDeallocationOption"), "{v}");
    }
    assert_eq!(get(&c, "/pools/p")["allocationState"], "steady");

    // Stop a resize: the pool keeps what it has and says why.
    ok(
        &c,
        "POST",
        "/pools/p/resize",
        Some(&json!({"targetDedicatedNodes": 3})),
        202,
    );
    assert_eq!(get(&c, "/pools/p")["allocationState"], "resizing");
    let (s, code, _) = error(
        &c,
        "POST",
        "/pools/p/removenodes",
        Some(&json!({"nodeList": ["n"]})),
    );
    assert_eq!((s, code.as_str()), (409, "PoolBeingResized"));
    ok(&c, "POST", "/pools/p/stopresize", None, 202);
    let p = c.wait("steady", &format!("/pools/p?{V}"), |v| {
        v["allocationState"] == "steady"
    });
    assert_eq!(p["targetDedicatedNodes"], 0);
    assert_eq!(p["currentDedicatedNodes"], 0);
    assert_eq!(p["resizeErrors"][0]["code"], "ResizeStopped");

    // Remove nodes: the named ones leave and the target goes down by them.
    ok(
        &c,
        "POST",
        "/pools/p/resize",
        Some(&json!({"targetDedicatedNodes": 3})),
        202,
    );
    let nodes = c.wait("3 idle nodes", &format!("/pools/p/nodes?{V}"), |v| {
        v["value"]
            .as_array()
            .is_some_and(|a| a.len() == 3 && a.iter().all(|n| n["state"] == "idle"))
    });
    let counts = get(&c, "/nodecounts");
    assert_eq!(counts["value"][0]["poolId"], "p");
    assert_eq!(counts["value"][0]["dedicated"]["idle"], 3);
    assert_eq!(counts["value"][0]["dedicated"]["total"], 3);
    assert_eq!(counts["value"][0]["lowPriority"]["total"], 0);
    let gone: Vec<String> = nodes["value"].as_array().unwrap()[..2]
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    let (s, code, _) = error(
        &c,
        "POST",
        "/pools/p/removenodes",
        Some(&json!({"nodeList": ["nope"]})),
    );
    assert_eq!((s, code.as_str()), (404, "NodeNotFound"));
    ok(
        &c,
        "POST",
        "/pools/p/removenodes",
        Some(&json!({"nodeList": gone, "nodeDeallocationOption": "requeue"})),
        202,
    );
    let p = get(&c, "/pools/p");
    assert_eq!(
        (
            p["allocationState"].as_str(),
            p["targetDedicatedNodes"].as_i64()
        ),
        (Some("resizing"), Some(1))
    );
    assert_eq!(
        get(&c, "/nodecounts")["value"][0]["dedicated"]["leavingPool"],
        2
    );
    let left = c.wait("one node", &format!("/pools/p/nodes?{V}"), |v| {
        v["value"].as_array().is_some_and(|a| a.len() == 1)
    });
    assert!(!gone.contains(&left["value"][0]["id"].as_str().unwrap().to_string()));
    c.wait("steady", &format!("/pools/p?{V}"), |v| {
        v["allocationState"] == "steady" && v["currentDedicatedNodes"] == 1
    });
    assert_eq!(get(&c, "/nodecounts")["value"].as_array().unwrap().len(), 1);
    let (s, v) = c.send(
        "GET",
        &format!("/nodecounts?$filter=poolId%20eq%20'nope'&{V}"),
        None,
    );
    assert_eq!((s, v["value"].as_array().map(Vec::len)), (200, Some(0)));
}

/// Task PUT (constraints), task and node file deletion, supported images.
#[test]
fn task_put_file_deletion_and_supported_images() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    pool_with_node(&c, "p", 1);
    ok(
        &c,
        "POST",
        "/jobs",
        Some(&json!({"id": "j", "poolInfo": {"poolId": "p"},
        "constraints": {"maxTaskRetryCount": 2}})),
        201,
    );
    let task = json!({"id": "t", "commandLine": "/bin/sh -c 'mkdir -p out/sub && echo x > out/sub/f && echo hi'",
        "constraints": {"maxTaskRetryCount": 5, "retentionTime": "PT2H"}});
    ok(&c, "POST", "/jobs/j/tasks", Some(&task), 201);
    c.wait("completed", &format!("/jobs/j/tasks/t?{V}"), |v| {
        v["state"] == "completed"
    });
    ok(
        &c,
        "PUT",
        "/jobs/j/tasks/t",
        Some(&json!({"constraints": {"maxWallClockTime": "PT10M"}})),
        200,
    );
    let t = get(&c, "/jobs/j/tasks/t");
    assert_eq!(t["constraints"]["maxWallClockTime"], "PT10M");
    // Omitted ones are the defaults again (the retry count is the job's).
    assert_eq!(t["constraints"]["maxTaskRetryCount"], 2);
    assert_eq!(t["constraints"]["retentionTime"], "P7D");
    ok(&c, "PUT", "/jobs/j/tasks/t", Some(&json!({})), 200);
    assert_eq!(
        get(&c, "/jobs/j/tasks/t")["constraints"]["maxWallClockTime"],
        "P10675199DT2H48M5.4775807S"
    );
    assert_eq!(
        error(&c, "PUT", "/jobs/j/tasks/nope", Some(&json!({}))).1,
        "TaskNotFound"
    );

    // Files.
    ok(&c, "DELETE", "/jobs/j/tasks/t/files/stdout.txt", None, 200);
    assert_eq!(
        error(&c, "GET", "/jobs/j/tasks/t/files/stdout.txt", None).1,
        "FileNotFound"
    );
    let (s, code, _) = error(&c, "DELETE", "/jobs/j/tasks/t/files/wd/out", None);
    assert_eq!((s, code.as_str()), (409, "OperationInvalidForCurrentState"));
    let (s, _) = c.send(
        "DELETE",
        &format!("/jobs/j/tasks/t/files/wd/out?recursive=true&{V}"),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(
        error(&c, "GET", "/jobs/j/tasks/t/files/wd/out/sub/f", None).1,
        "FileNotFound"
    );
    assert_eq!(
        error(&c, "DELETE", "/jobs/j/tasks/t/files/wd/out", None).1,
        "FileNotFound"
    );
    let node = get(&c, "/pools/p/nodes")["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let startup = format!("/pools/p/nodes/{node}/files/startup");
    let listed = get(&c, &format!("/pools/p/nodes/{node}/files"));
    assert!(
        listed["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "startup")
    );
    let (s, _) = c.send("DELETE", &format!("{startup}?recursive=true&{V}"), None);
    assert_eq!(s, 200);
    assert_eq!(error(&c, "GET", &startup, None).1, "FileNotFound");
    assert_eq!(
        error(
            &c,
            "DELETE",
            &format!("/pools/p/nodes/{node}/files/..%2Fx"),
            None
        )
        .0,
        400
    );

    let images = get(&c, "/supportedimages");
    let first = &images["value"][0];
    assert!(
        first["nodeAgentSKUId"]
            .as_str()
            .unwrap()
            .starts_with("batch.node.")
    );
    assert_eq!(first["osType"], "linux");
    assert!(first["imageReference"]["publisher"].is_string());
    let (s, v) = c.send("GET", &format!("/supportedimages?maxresults=1&{V}"), None);
    assert_eq!((s, v["value"].as_array().map(Vec::len)), (200, Some(1)));
    assert!(v["odata.nextLink"].is_string());
}

/// Operations of the API that the emulator does not implement answer 501 NotImplemented
/// naming the operation, never 404 InvalidUri; a URL the service does not know is still 404,
/// and a known resource with another method 405.
#[test]
fn unimplemented_operations_say_so_and_name_the_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    for (m, path, op) in [
        ("POST", "/pools/p/upgradeos", "Pool - Upgrade OS"),
        (
            "GET",
            "/pools/p/nodes/n/rdp",
            "Compute Node - Get Remote Desktop",
        ),
        ("GET", "/poolusagemetrics", "Pool - List Usage Metrics"),
        ("GET", "/applications", "Application - List"),
    ] {
        let (s, code, v) = error(&c, m, path, Some(&json!({})));
        assert_eq!(
            (s, code.as_str()),
            (501, "NotImplemented"),
            "{m} {path}: {v}"
        );
        assert!(v["message"]["value"].as_str().unwrap().contains(op), "{v}");
    }
    let (s, code, _) = error(&c, "GET", "/nosuchthing", None);
    assert_eq!((s, code.as_str()), (404, "InvalidUri"));
    let (s, code, _) = error(&c, "POST", "/jobs/j/tasks/t", None);
    assert_eq!((s, code.as_str()), (405, "UnsupportedHttpVerb"));
}

/// Reimage Node is served in every api-version; Start Node and Deallocate Node from
/// 2024-07-01.20.0 on (the REST specification's versions), an older version's request being a
/// URL the service does not know (404 `InvalidUri`). Each takes its option from its own body
/// property (400 for a value the service does not document), and names a missing pool or
/// node as the service does.
#[test]
fn reimage_start_and_deallocate_are_served_in_the_versions_that_have_them() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    pool_with_node(&c, "p", 1);
    let nodes = get(&c, "/pools/p/nodes");
    let n = nodes["value"][0]["id"].as_str().unwrap().to_string();
    let state = |c: &Client, want: &'static str| {
        c.wait(want, &format!("/pools/p/nodes/{n}?{V}"), |v| {
            v["state"] == want
        })
    };
    let send = |op: &str, v: &str, body: Option<&Value>| {
        c.send(
            "POST",
            &format!("/pools/p/nodes/{n}/{op}?api-version={v}"),
            body,
        )
    };
    for v in ["2018-12-01.8.0", "2024-02-01.19.0"] {
        for op in ["deallocate", "start"] {
            let (s, body) = send(op, v, None);
            assert_eq!(
                (s, &body["code"]),
                (404, &json!("InvalidUri")),
                "{op} {v}: {body}"
            );
        }
    }
    let before = get(&c, &format!("/pools/p/nodes/{n}"));
    assert_eq!(before["state"], "idle");
    let booted = before["lastBootTime"].clone();
    for (body, bad) in [
        (json!({"nodeReimageOption": "later"}), "later"),
        (json!({"nodeReimageOption": 3}), "3"),
    ] {
        let (s, v) = send("reimage", "2025-06-01", Some(&body));
        assert_eq!(
            (s, &v["code"]),
            (400, &json!("InvalidPropertyValue")),
            "{v}"
        );
        assert!(
            v["values"]
                .as_array()
                .unwrap()
                .iter()
                .any(|kv| kv["value"] == bad),
            "{v}"
        );
    }
    // A reboot's property names nothing to a reimage: requeue, the default.
    let (s, v) = send(
        "reimage",
        "2018-12-01.8.0",
        Some(&json!({"nodeRebootOption": "later"})),
    );
    assert_eq!(s, 202, "{v}");
    c.wait("booted again", &format!("/pools/p/nodes/{n}?{V}"), |v| {
        v["state"] == "idle" && v["lastBootTime"] != booted
    });
    let (s, v) = send(
        "deallocate",
        "2024-07-01.20.0",
        Some(&json!({"nodeDeallocateOption": "terminate"})),
    );
    assert_eq!(s, 202, "{v}");
    state(&c, "deallocated");
    let (s, v) = send("start", "2024-07-01.20.0", None);
    assert_eq!(s, 202, "{v}");
    state(&c, "idle");
    for (path, code) in [
        ("/pools/p/nodes/nope/reimage".to_string(), "NodeNotFound"),
        ("/pools/p/nodes/nope/deallocate".to_string(), "NodeNotFound"),
        ("/pools/p/nodes/nope/start".to_string(), "NodeNotFound"),
        (format!("/pools/nope/nodes/{n}/start"), "PoolNotFound"),
        (format!("/pools/nope/nodes/{n}/reimage"), "PoolNotFound"),
    ] {
        let (s, got, v) = error(&c, "POST", &path, None);
        assert_eq!((s, got.as_str()), (404, code), "{path}: {v}");
    }
}

/// Task dependencies: a dependent task stays `active` (it is not scheduled) until its parents,
/// by id and by id range, have completed with a `satisfy` action; a failed parent blocks it
/// unless its exit conditions say `satisfy`; `jobAction` terminates the job when its
/// `onTaskFailure` asks for it; the service's errors at add time.
#[test]
fn task_dependencies_and_exit_conditions() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    pool_with_node(&c, "p", 1);
    ok(
        &c,
        "POST",
        "/pools/p/resize",
        Some(&json!({"targetDedicatedNodes": 2})),
        202,
    );
    c.wait("two nodes", &format!("/pools/p/nodes?{V}"), |v| {
        v["value"]
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|n| n["state"] == "idle"))
    });
    ok(
        &c,
        "POST",
        "/jobs",
        Some(&json!({"id": "nodeps", "poolInfo": {"poolId": "p"}})),
        201,
    );
    let dep = json!({"id": "d", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["a"]}});
    let (s, code, _) = error(&c, "POST", "/jobs/nodeps/tasks", Some(&dep));
    assert_eq!(
        (s, code.as_str()),
        (409, "TaskDependenciesNotSpecifiedOnJob")
    );

    ok(
        &c,
        "POST",
        "/jobs",
        Some(&json!({"id": "j", "poolInfo": {"poolId": "p"}, "usesTaskDependencies": "true"})),
        201,
    );
    let bad_range = json!({"id": "r", "commandLine": "x", "dependsOn": {"taskIdRanges": [{"start": 5, "end": 1}]}});
    assert_eq!(
        error(&c, "POST", "/jobs/j/tasks", Some(&bad_range)).1,
        "InvalidPropertyValue"
    );
    let job_action = json!({"id": "r", "commandLine": "x", "exitConditions": {"default": {"jobAction": "terminate"}}});
    assert_eq!(
        error(&c, "POST", "/jobs/j/tasks", Some(&job_action)).1,
        "InvalidPropertyValue"
    );
    let shapeless = json!({"id": "r", "commandLine": "x", "dependsOn": {"taskIds": "a"}});
    assert_eq!(
        error(&c, "POST", "/jobs/j/tasks", Some(&shapeless)).1,
        "InvalidRequestBody"
    );

    // Dependents first: they wait, active, while the parents do not exist or run.
    let tasks = json!({"value": [
        {"id": "after", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["1"], "taskIdRanges": [{"start": 2, "end": 3}]}},
        {"id": "blocked", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["bad"]}},
        {"id": "unblocked", "commandLine": "/bin/true", "dependsOn": {"taskIds": ["tolerated"]}},
    ]});
    ok(&c, "POST", "/jobs/j/addtaskcollection", Some(&tasks), 200);
    std::thread::sleep(std::time::Duration::from_millis(600));
    for id in ["after", "blocked", "unblocked"] {
        let t = get(&c, &format!("/jobs/j/tasks/{id}"));
        assert_eq!(t["state"], "active", "{t}");
        assert_eq!(t["executionInfo"].get("startTime"), None, "{t}");
    }
    let parents = json!({"value": [
        {"id": "1", "commandLine": "/bin/sleep 1"},
        {"id": "2", "commandLine": "/bin/true"},
        {"id": "3", "commandLine": "/bin/true"},
        {"id": "bad", "commandLine": "/bin/sh -c 'exit 4'"},
        {"id": "tolerated", "commandLine": "/bin/sh -c 'exit 4'",
         "exitConditions": {"exitCodes": [{"code": 4, "exitOptions": {"dependencyAction": "satisfy"}}]}},
    ]});
    ok(&c, "POST", "/jobs/j/addtaskcollection", Some(&parents), 200);
    let after = c.wait("after ran", &format!("/jobs/j/tasks/after?{V}"), |v| {
        v["state"] == "completed"
    });
    let one = get(&c, "/jobs/j/tasks/1");
    assert!(
        after["executionInfo"]["startTime"].as_str() >= one["executionInfo"]["endTime"].as_str(),
        "{after} started before {one} ended"
    );
    c.wait(
        "unblocked ran",
        &format!("/jobs/j/tasks/unblocked?{V}"),
        |v| v["state"] == "completed",
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(get(&c, "/jobs/j/tasks/bad")["state"], "completed");
    assert_eq!(
        get(&c, "/jobs/j/tasks/blocked")["state"],
        "active",
        "a failed parent blocks"
    );
    let counts = get(&c, "/jobs/j/taskcounts");
    assert_eq!(counts["taskCounts"]["active"], 1);

    // jobAction: the job's onTaskFailure performs it.
    let job = json!({"id": "k", "poolInfo": {"poolId": "p"}, "onTaskFailure": "performexitoptionsjobaction"});
    ok(&c, "POST", "/jobs", Some(&job), 201);
    ok(
        &c,
        "POST",
        "/jobs/k/tasks",
        Some(&json!({"id": "fails", "commandLine": "/bin/sh -c 'exit 2'"})),
        201,
    );
    let k = c.wait("terminated by the task", &format!("/jobs/k?{V}"), |v| {
        v["state"] == "completed"
    });
    assert_eq!(k["executionInfo"]["terminateReason"], "TaskFailed");
}

/// Pool `p` of two nodes, job `j` whose preparation task holds until the file this returns
/// exists, and its multi-instance task `m` (two instances) waiting for it, `preparing`, its
/// subtask too (the subtasks listed then).
fn a_multi_instance_task_preparing(c: &Client, dir: &Path) -> (PathBuf, Value) {
    pool_with_node(c, "p", 2);
    let gate = dir.join("gate");
    let hold = format!(
        "/bin/sh -c 'while [ ! -e {} ]; do sleep 0.05; done'",
        gate.display()
    );
    let job = json!({"id": "j", "poolInfo": {"poolId": "p"},
        "jobPreparationTask": {"commandLine": hold}});
    ok(c, "POST", "/jobs", Some(&job), 201);
    let task = json!({"id": "m", "commandLine": "/bin/true",
        "multiInstanceSettings": {"numberOfInstances": 2, "coordinationCommandLine": "/bin/true"}});
    ok(c, "POST", "/jobs/j/tasks", Some(&task), 201);
    c.wait("the task preparing", &format!("/jobs/j/tasks/m?{V}"), |v| {
        v["state"] == "preparing"
    });
    let subs = c.wait(
        "its subtask preparing",
        &format!("/jobs/j/tasks/m/subtasksinfo?{V}"),
        |v| v["value"][0]["state"] == "preparing",
    );
    (gate, subs)
}

/// A multi-instance task that waits on the nodes it took for the job's preparation task shows
/// `preparing`, its primary and its subtask, as a task does (`TaskState.Preparing`: assigned to
/// a compute node, waiting for a required job preparation task to complete there), and runs
/// once the preparation has completed on both.
#[test]
fn a_multi_instance_task_waiting_for_the_job_preparation_task_is_preparing() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let (gate, subs) = a_multi_instance_task_preparing(&c, tmp.path());
    let subs = subs["value"].as_array().unwrap();
    assert_eq!(
        (subs.len(), subs[0]["id"].as_i64()),
        (1, Some(1)),
        "{subs:?}"
    );
    let counts = get(&c, "/jobs/j/taskcounts");
    assert_eq!(
        counts["taskCounts"]["running"], 1,
        "preparing counts as running: {counts}"
    );
    c.wait(
        "the preparation on both nodes",
        &format!("/jobs/j/jobpreparationandreleasetaskstatus?{V}"),
        |v| v["value"].as_array().is_some_and(|a| a.len() == 2),
    );

    std::fs::write(&gate, "").unwrap();
    let t = c.wait("completed", &format!("/jobs/j/tasks/m?{V}"), |v| {
        v["state"] == "completed"
    });
    assert_eq!(t["executionInfo"]["result"], "success", "{t}");
    let subs = get(&c, "/jobs/j/tasks/m/subtasksinfo");
    let sub = &subs["value"][0];
    assert_eq!(
        (sub["state"].as_str(), sub["exitCode"].as_i64()),
        (Some("completed"), Some(0)),
        "{subs}"
    );
    assert_ne!(
        sub["nodeInfo"]["nodeId"], t["nodeInfo"]["nodeId"],
        "two distinct nodes"
    );
}

/// The subtasks of a terminated multi-instance task are completed, as the service shows them
/// (`SubtaskState`: "A subtask is also marked as completed ... when the subtask has been
/// terminated"; Terminate Task: "subtasks are then terminated asynchronously in the
/// background"), whether they waited `preparing` for the job's preparation task or ran.
#[test]
fn the_subtasks_of_a_terminated_multi_instance_task_are_completed() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let (gate, _) = a_multi_instance_task_preparing(&c, tmp.path());
    ok(&c, "POST", "/jobs/j/tasks/m/terminate", None, 204);
    let completed = |task: &str, was: &str| {
        let t = get(&c, &format!("/jobs/j/tasks/{task}"));
        assert_eq!(t["state"], "completed", "{t}");
        let subs = c.wait(
            "the subtask completed",
            &format!("/jobs/j/tasks/{task}/subtasksinfo?{V}"),
            |v| v["value"][0]["state"] == "completed",
        );
        let sub = &subs["value"][0];
        assert_eq!(sub["previousState"], was, "{subs}");
        assert!(sub["endTime"].is_string(), "{subs}");
    };
    completed("m", "preparing");

    // Running: its coordination commands (and so the task) would take a minute.
    let task = json!({"id": "r", "commandLine": "/bin/true",
        "multiInstanceSettings": {"numberOfInstances": 2, "coordinationCommandLine": "/bin/sh -c 'sleep 60'"}});
    ok(&c, "POST", "/jobs/j/tasks", Some(&task), 201);
    std::fs::write(&gate, "").unwrap();
    c.wait(
        "its subtask running",
        &format!("/jobs/j/tasks/r/subtasksinfo?{V}"),
        |v| v["value"][0]["state"] == "running",
    );
    ok(&c, "POST", "/jobs/j/tasks/r/terminate", None, 204);
    completed("r", "running");
}

/// Job preparation and release tasks: the preparation runs on a node before the job's first
/// task there (the task waits, `preparing`), once per node; tasks are told its directory; a
/// failed preparation keeps the job's tasks off that node; the release runs on each node at
/// termination, and the job completes after it; their status is listed per node.
#[test]
fn job_preparation_and_release_tasks() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    pool_with_node(&c, "p", 1);
    let no_prep = json!({"id": "plain", "poolInfo": {"poolId": "p"}});
    ok(&c, "POST", "/jobs", Some(&no_prep), 201);
    let (s, code, _) = error(
        &c,
        "GET",
        "/jobs/plain/jobpreparationandreleasetaskstatus",
        None,
    );
    assert_eq!((s, code.as_str()), (409, "JobPreparationTaskNotSpecified"));
    let release_only = json!({"id": "r", "poolInfo": {"poolId": "p"}, "jobReleaseTask": {"commandLine": "/bin/true"}});
    assert_eq!(
        error(&c, "POST", "/jobs", Some(&release_only)).1,
        "InvalidPropertyValue"
    );

    let job = json!({"id": "j", "poolInfo": {"poolId": "p"},
        "jobPreparationTask": {"commandLine": "/bin/sh -c 'sleep 1; echo prepared > $AZ_BATCH_TASK_WORKING_DIR/ready'"},
        "jobReleaseTask": {"commandLine": "/bin/sh -c 'echo released'"}});
    ok(&c, "POST", "/jobs", Some(&job), 201);
    let (s, code, _) = error(
        &c,
        "POST",
        "/jobs/j/tasks",
        Some(&json!({"id": "jobpreparation", "commandLine": "x"})),
    );
    assert_eq!((s, code.as_str()), (409, "TaskIdSameAsJobPreparationTask"));
    let task =
        json!({"id": "t", "commandLine": "/bin/sh -c 'cat $AZ_BATCH_JOB_PREP_WORKING_DIR/ready'"});
    ok(&c, "POST", "/jobs/j/tasks", Some(&task), 201);
    c.wait("preparing", &format!("/jobs/j/tasks/t?{V}"), |v| {
        v["state"] == "preparing"
    });
    let t = c.wait("completed", &format!("/jobs/j/tasks/t?{V}"), |v| {
        v["state"] == "completed"
    });
    assert_eq!(t["executionInfo"]["exitCode"], 0, "{t}");
    let (s, out) = c.send(
        "GET",
        &format!("/jobs/j/tasks/t/files/stdout.txt?{V}"),
        None,
    );
    assert_eq!((s, out), (200, Value::String("prepared\n".into())));
    // Once per node: a second task does not prepare again.
    ok(
        &c,
        "POST",
        "/jobs/j/tasks",
        Some(&json!({"id": "u", "commandLine": "/bin/true"})),
        201,
    );
    c.wait("u completed", &format!("/jobs/j/tasks/u?{V}"), |v| {
        v["state"] == "completed"
    });
    let status = get(&c, "/jobs/j/jobpreparationandreleasetaskstatus");
    let one = &status["value"].as_array().unwrap()[..];
    assert_eq!(one.len(), 1, "{status}");
    let prep = &one[0]["jobPreparationTaskExecutionInfo"];
    assert_eq!(
        (
            prep["state"].as_str(),
            prep["exitCode"].as_i64(),
            prep["result"].as_str()
        ),
        (Some("completed"), Some(0), Some("success"))
    );
    assert_eq!(
        prep["taskRootDirectory"],
        "workitems/j/job-1/jobpreparation"
    );
    assert_eq!(one[0].get("jobReleaseTaskExecutionInfo"), None);

    ok(&c, "POST", "/jobs/j/terminate", None, 202);
    c.wait(
        "completed after the release",
        &format!("/jobs/j?{V}"),
        |v| v["state"] == "completed",
    );
    let status = get(&c, "/jobs/j/jobpreparationandreleasetaskstatus");
    let rel = &status["value"][0]["jobReleaseTaskExecutionInfo"];
    assert_eq!(
        (rel["state"].as_str(), rel["exitCode"].as_i64()),
        (Some("completed"), Some(0)),
        "{status}"
    );
    let node = status["value"][0]["nodeId"].as_str().unwrap().to_string();
    let (s, out) = c.send(
        "GET",
        &format!("/pools/p/nodes/{node}/files/workitems/j/job-1/jobrelease/stdout.txt?{V}"),
        None,
    );
    assert_eq!((s, out), (200, Value::String("released\n".into())));

    // A preparation that fails keeps the job's tasks off the node.
    let failing = json!({"id": "f", "poolInfo": {"poolId": "p"},
        "jobPreparationTask": {"commandLine": "/bin/sh -c 'exit 5'", "constraints": {"maxTaskRetryCount": 1}}});
    ok(&c, "POST", "/jobs", Some(&failing), 201);
    ok(
        &c,
        "POST",
        "/jobs/f/tasks",
        Some(&json!({"id": "never", "commandLine": "/bin/true"})),
        201,
    );
    let status = c.wait(
        "the preparation failed",
        &format!("/jobs/f/jobpreparationandreleasetaskstatus?{V}"),
        |v| v["value"][0]["jobPreparationTaskExecutionInfo"]["state"] == "completed",
    );
    let prep = &status["value"][0]["jobPreparationTaskExecutionInfo"];
    assert_eq!(
        (
            prep["exitCode"].as_i64(),
            prep["result"].as_str(),
            prep["retryCount"].as_i64()
        ),
        (Some(5), Some("failure"), Some(1)),
        "{status}"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let t = get(&c, "/jobs/f/tasks/never");
    assert_eq!(t["state"], "active", "{t}");
}
