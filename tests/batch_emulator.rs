//! The Batch emulator over HTTP with batchdeck's own Shared Key signing: lifecycle with real
//! processes, error codes, authentication and paging.
mod common;

use std::time::{Duration, Instant};

use batchdeck::azure::auth::{RequestParts, Service, SharedKeyCredential, http_date};
use chrono::Utc;
use common::{BATCH_ACCOUNT, BATCH_KEY, EmulatorProcess};
use serde_json::{Value, json};

const V: &str = "api-version=2025-06-01";

struct Client {
    base: String,
    cred: SharedKeyCredential,
    http: reqwest::Client,
    rt: std::sync::Arc<tokio::runtime::Runtime>,
}

impl Client {
    fn new(emu: &EmulatorProcess) -> Client {
        Client {
            base: emu.batch_endpoint.clone(),
            cred: SharedKeyCredential::new(BATCH_ACCOUNT, BATCH_KEY).unwrap(),
            http: reqwest::Client::new(),
            rt: std::sync::Arc::new(tokio::runtime::Runtime::new().unwrap()),
        }
    }

    /// Sends a signed request; `path_query` is raw (encoded) path plus query.
    fn send_with(
        &self,
        method: &str,
        path_query: &str,
        body: Option<&Value>,
        date: chrono::DateTime<Utc>,
        sign: bool,
    ) -> (u16, Value) {
        let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
        let data = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let date = http_date(date);
        let len = data.len().to_string();
        let mut headers = vec![("ocp-date", date.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json; odata=minimalmetadata"));
            headers.push(("content-length", len.as_str()));
        }
        let parts = RequestParts {
            method,
            raw_path: path,
            raw_query: query,
            headers: headers.clone(),
        };
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}{}", self.base, path_query),
            )
            .body(data);
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        if sign {
            req = req.header(
                "authorization",
                self.cred.authorization(Service::Batch, &parts),
            );
        }
        let (status, text) = self.rt.block_on(async {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        });
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn send(&self, method: &str, path_query: &str, body: Option<&Value>) -> (u16, Value) {
        self.send_with(method, path_query, body, Utc::now(), true)
    }

    fn wait(&self, what: &str, path_query: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (s, v) = self.send("GET", path_query, None);
            if s == 200 && pred(&v) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

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
        fail["executionInfo"]["failureInfo"]["category"],
        "usererror"
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
