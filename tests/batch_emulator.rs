//! The Batch emulator over HTTP with batchdeck's own Shared Key signing: lifecycle with real
//! processes, error codes, authentication and paging.
mod common;

use std::time::{Duration, Instant};

use batchdeck::azure::auth::SharedKeyCredential;
use chrono::Utc;
use common::batch_raw::Client;
use common::{BATCH_ACCOUNT, EmulatorProcess};
use serde_json::{Value, json};

const V: &str = "api-version=2025-06-01";

fn text(c: &Client, path_query: &str) -> String {
    match c.send("GET", path_query, None) {
        (200, Value::String(s)) => s,
        (200, v) => v.to_string(),
        (s, v) => panic!("{path_query}: {s} {v}"),
    }
}

#[test]
fn authentication_is_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let (s, v) = c.send_with("GET", &format!("/pools?{V}"), None, Utc::now(), false);
    assert_eq!((s, v["code"].as_str()), (403, Some("AuthenticationFailed")));
    assert_eq!(v["message"]["lang"], "en-US");
    assert!(
        v["odata.metadata"]
            .as_str()
            .unwrap()
            .ends_with("Container.errors/@Element")
    );
    let stale = Utc::now() - chrono::Duration::minutes(20);
    let (s, _) = c.send_with("GET", &format!("/pools?{V}"), None, stale, true);
    assert_eq!(s, 403);
    let forged = Client {
        cred: SharedKeyCredential::new(BATCH_ACCOUNT, "Zm9yZ2Vka2V5").unwrap(),
        ..Client::new(&emu)
    };
    assert_eq!(forged.send("GET", &format!("/pools?{V}"), None).0, 403);
    let (s, v) = c.send("GET", "/pools", None);
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("MissingRequiredQueryParameter"))
    );
    assert_eq!(c.send("GET", &format!("/pools?{V}"), None).0, 200);
    assert_eq!(
        c.send("GET", "/pools?api-version=2024-02-01.19.0", None).0,
        200
    );
}

#[test]
fn pool_job_task_lifecycle_with_real_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let pool = json!({"id": "p1", "vmSize": "standard_d1", "targetDedicatedNodes": 1, "taskSlotsPerNode": 4,
        "startTask": {"commandLine": "/bin/sh -c 'echo boot'", "waitForSuccess": true}});
    assert_eq!(c.send("POST", &format!("/pools?{V}"), Some(&pool)).0, 201);
    let (s, v) = c.send("POST", &format!("/pools?{V}"), Some(&pool));
    assert_eq!((s, v["code"].as_str()), (409, Some("PoolExists")));
    assert_eq!(
        c.send("GET", &format!("/pools/nope?{V}"), None).1["code"],
        "PoolNotFound"
    );
    let nodes = c.wait("idle node", &format!("/pools/p1/nodes?{V}"), |v| {
        v["value"][0]["state"] == "idle"
    });
    assert_eq!(nodes["value"][0]["startTaskInfo"]["result"], "success");

    let job = json!({"id": "j1", "poolInfo": {"poolId": "p1"}});
    assert_eq!(c.send("POST", &format!("/jobs?{V}"), Some(&job)).0, 201);
    assert_eq!(
        c.send("POST", &format!("/jobs?{V}"), Some(&job)).1["code"],
        "JobExists"
    );
    let add = |id: &str, cmd: &str, extra: Value| {
        let mut t = json!({"id": id, "commandLine": cmd});
        t.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        assert_eq!(
            c.send("POST", &format!("/jobs/j1/tasks?{V}"), Some(&t)).0,
            201,
            "{id}"
        );
    };
    add("shell", "/bin/sh -c 'echo $AZ_BATCH_TASK_ID'", json!({}));
    add("direct", "echo $AZ_BATCH_TASK_ID", json!({}));
    add(
        "fail",
        "/bin/sh -c 'exit 7'",
        json!({"constraints": {"maxTaskRetryCount": 2}}),
    );
    add(
        "slow",
        "sleep 30",
        json!({"constraints": {"maxWallClockTime": "PT1S"}}),
    );
    add("missing", "/no/such/program", json!({}));
    let (s, v) = c.send(
        "POST",
        &format!("/jobs/j1/tasks?{V}"),
        Some(&json!({"id": "shell", "commandLine": "true"})),
    );
    assert_eq!((s, v["code"].as_str()), (409, Some("TaskExists")));

    c.wait("all done", &format!("/jobs/j1/taskcounts?{V}"), |v| {
        v["taskCounts"]["completed"] == 5
    });
    let counts = c.send("GET", &format!("/jobs/j1/taskcounts?{V}"), None).1;
    assert_eq!(counts["taskCounts"]["succeeded"], 2);
    assert_eq!(counts["taskCounts"]["failed"], 3);
    assert_eq!(
        text(&c, &format!("/jobs/j1/tasks/shell/files/stdout.txt?{V}")),
        "shell\n"
    );
    assert_eq!(
        text(&c, &format!("/jobs/j1/tasks/direct/files/stdout.txt?{V}")),
        "$AZ_BATCH_TASK_ID\n"
    );
    let fail = c.send("GET", &format!("/jobs/j1/tasks/fail?{V}"), None).1;
    assert_eq!(fail["executionInfo"]["exitCode"], 7);
    assert_eq!(fail["executionInfo"]["retryCount"], 2);
    assert_eq!(
        fail["executionInfo"]["failureInfo"]["category"], "UserError",
        "written as the service writes it (recorded), not as the specification spells it"
    );
    assert_eq!(
        fail["executionInfo"]["failureInfo"]["code"],
        "FailureExitCode"
    );
    let slow = c.send("GET", &format!("/jobs/j1/tasks/slow?{V}"), None).1;
    assert_eq!(
        slow["executionInfo"]["failureInfo"]["code"],
        "MaxWallClockTimeExceeded"
    );
    let missing = c
        .send("GET", &format!("/jobs/j1/tasks/missing?{V}"), None)
        .1;
    assert_eq!(
        missing["executionInfo"]["failureInfo"]["code"],
        "CommandProgramNotFound"
    );
    let shell = c.send("GET", &format!("/jobs/j1/tasks/shell?{V}"), None).1;
    assert_eq!(shell["nodeInfo"]["poolId"], "p1");
    assert!(
        shell["nodeInfo"]["taskRootDirectoryUrl"]
            .as_str()
            .unwrap()
            .contains("/files/workitems/j1/job-1/shell")
    );
    // Traversal and percent-encoded paths.
    assert_eq!(
        c.send(
            "GET",
            &format!("/jobs/j1/tasks/shell/files/..%2F..%2F..%2Fx?{V}"),
            None
        )
        .0,
        400
    );
    assert_eq!(
        c.send(
            "GET",
            &format!("/jobs/j1/tasks/shell/files/wd%2Fnope?{V}"),
            None
        )
        .1["code"],
        "FileNotFound"
    );

    // Filter and paging over nextLink.
    let mut ids = Vec::new();
    let mut next = Some(format!(
        "/jobs/j1/tasks?{V}&maxresults=2&$filter=state%20eq%20%27completed%27&$select=id,state"
    ));
    while let Some(pq) = next.take() {
        let v = c.send("GET", &pq, None).1;
        for t in v["value"].as_array().unwrap() {
            assert!(t.get("commandLine").is_none());
            ids.push(t["id"].as_str().unwrap().to_string());
        }
        next = v["odata.nextLink"]
            .as_str()
            .map(|l| l.strip_prefix(&c.base).unwrap().to_string());
    }
    assert_eq!(ids, vec!["direct", "fail", "missing", "shell", "slow"]);
    let (s, v) = c.send(
        "GET",
        &format!("/jobs/j1/tasks?{V}&$filter=state%20eq"),
        None,
    );
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("InvalidQueryParameterValue"))
    );

    assert_eq!(c.send("DELETE", &format!("/jobs/j1?{V}"), None).0, 202);
    c.wait_gone(&format!("/jobs/j1?{V}"));
    assert_eq!(c.send("DELETE", &format!("/pools/p1?{V}"), None).0, 202);
    c.wait_gone(&format!("/pools/p1?{V}"));
}

impl Client {
    fn wait_gone(&self, pq: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.send("GET", pq, None).0 != 404 {
            assert!(Instant::now() < deadline, "{pq} not deleted");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn start_task_failure_marks_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let pool = json!({"id": "bad", "vmSize": "x", "targetDedicatedNodes": 1,
        "startTask": {"commandLine": "/bin/sh -c 'exit 2'", "waitForSuccess": true, "maxTaskRetryCount": 1}});
    assert_eq!(c.send("POST", &format!("/pools?{V}"), Some(&pool)).0, 201);
    let v = c.wait("starttaskfailed", &format!("/pools/bad/nodes?{V}"), |v| {
        v["value"][0]["state"] == "starttaskfailed"
    });
    let info = &v["value"][0]["startTaskInfo"];
    assert_eq!(info["exitCode"], 2);
    assert_eq!(info["retryCount"], 1);
    assert_eq!(info["result"], "failure");
    assert_eq!(info["failureInfo"]["code"], "FailureExitCode");
}
