//! The Batch api-versions: every one the service still serves is answered, in its own shapes;
//! others get the service's 400.
mod common;

use common::EmulatorProcess;
use common::batch_raw::Client;

/// The stable versions of the REST specification, from 2018-12-01.8.0 on.
const SERVED: &[&str] = &[
    "2018-12-01.8.0",
    "2019-06-01.9.0",
    "2019-08-01.10.0",
    "2020-03-01.11.0",
    "2020-09-01.12.0",
    "2021-06-01.14.0",
    "2022-01-01.15.0",
    "2022-10-01.16.0",
    "2023-05-01.17.0",
    "2023-11-01.18.0",
    "2024-02-01.19.0",
    "2024-07-01.20.0",
    "2025-06-01",
];

#[test]
fn every_served_api_version_is_answered_and_others_get_400() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    for v in SERVED {
        let (s, body) = c.send("GET", &format!("/pools?api-version={v}"), None);
        assert_eq!(s, 200, "{v}: {body}");
        let (s, body) = c.send("GET", &format!("/jobs?api-version={v}"), None);
        assert_eq!(s, 200, "{v}: {body}");
    }
    for v in [
        "2018-08-01.7.0",
        "2017-09-01.6.0",
        "2025-06-01.21.0",
        "2099-01-01",
        "latest",
    ] {
        let (s, body) = c.send("GET", &format!("/pools?api-version={v}"), None);
        assert_eq!(s, 400, "{v}: {body}");
        assert_eq!(body["code"], "InvalidQueryParameterValue", "{v}");
        let values = body["values"].as_array().unwrap();
        assert!(
            values
                .iter()
                .any(|kv| kv["key"] == "QueryParameterValue" && kv["value"] == *v),
            "{body}"
        );
    }
}

/// Each version in its own shapes: before 2020-09-01.12.0 a pool's task slots are
/// `maxTasksPerNode` (read and written) and task counts are a plain `TaskCounts`; properties a
/// version does not have are left out of its answers.
#[test]
fn older_versions_read_and_get_their_own_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let v8 = "api-version=2018-12-01.8.0";
    let v12 = "api-version=2020-09-01.12.0";
    let v14 = "api-version=2021-06-01.14.0";
    let latest = "api-version=2025-06-01";
    let pool = serde_json::json!({"id": "old", "vmSize": "x", "maxTasksPerNode": 3, "targetDedicatedNodes": 1});
    let (s, v) = c.send("POST", &format!("/pools?{v8}"), Some(&pool));
    assert_eq!(s, 201, "{v}");
    let (_, old) = c.send("GET", &format!("/pools/old?{v8}"), None);
    assert_eq!(old["maxTasksPerNode"], 3, "{old}");
    assert_eq!(old.get("taskSlotsPerNode"), None, "{old}");
    let (_, new) = c.send("GET", &format!("/pools/old?{latest}"), None);
    assert_eq!(new["taskSlotsPerNode"], 3, "{new}");
    assert_eq!(new.get("maxTasksPerNode"), None, "{new}");
    let (_, listed) = c.send("GET", &format!("/pools?{v8}"), None);
    assert_eq!(listed["value"][0]["maxTasksPerNode"], 3);

    let job = serde_json::json!({"id": "j", "poolInfo": {"poolId": "old"}});
    assert_eq!(c.send("POST", &format!("/jobs?{v8}"), Some(&job)).0, 201);
    let (_, j12) = c.send("GET", &format!("/jobs/j?{v12}"), None);
    assert_eq!(j12.get("maxParallelTasks"), None, "{j12}");
    let (_, j14) = c.send("GET", &format!("/jobs/j?{v14}"), None);
    assert_eq!(j14["maxParallelTasks"], -1, "{j14}");
    let task = serde_json::json!({"id": "t", "commandLine": "/bin/true"});
    assert_eq!(
        c.send("POST", &format!("/jobs/j/tasks?{v8}"), Some(&task))
            .0,
        201
    );
    c.wait("completed", &format!("/jobs/j/tasks/t?{v8}"), |v| {
        v["state"] == "completed"
    });
    let (_, t8) = c.send("GET", &format!("/jobs/j/tasks/t?{v8}"), None);
    assert_eq!(t8.get("requiredSlots"), None, "{t8}");
    let (_, counts8) = c.send("GET", &format!("/jobs/j/taskcounts?{v8}"), None);
    assert_eq!(counts8["completed"], 1, "{counts8}");
    assert_eq!(counts8.get("taskSlotCounts"), None, "{counts8}");
    let (_, counts12) = c.send("GET", &format!("/jobs/j/taskcounts?{v12}"), None);
    assert_eq!(counts12["taskCounts"]["completed"], 1, "{counts12}");
    assert_eq!(counts12["taskSlotCounts"]["completed"], 1, "{counts12}");
    let (_, nodes) = c.send("GET", &format!("/pools/old/nodes?{v8}"), None);
    assert_eq!(
        nodes["value"][0].get("runningTaskSlotsCount"),
        None,
        "{nodes}"
    );
    let (_, nodes) = c.send("GET", &format!("/pools/old/nodes?{v12}"), None);
    assert_eq!(nodes["value"][0]["runningTaskSlotsCount"], 0, "{nodes}");
}
