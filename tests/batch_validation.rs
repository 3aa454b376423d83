//! The Batch emulator validates as the service does: every list honours `maxresults` (at most
//! that many, the rest through `odata.nextLink`), and requests that name what the service
//! would look up get its errors rather than a silent accept.
mod common;

use std::collections::BTreeSet;

use common::EmulatorProcess;
use common::batch_raw::Client;
use serde_json::{Value, json};

const V: &str = "api-version=2025-06-01";

/// Follows a list through its pages of at most `max`; returns every id (or name) and how many
/// pages there were.
fn walk(c: &Client, path: &str, max: usize, id: &str) -> (BTreeSet<String>, usize) {
    let mut next = format!("{path}?{V}&maxresults={max}");
    let mut ids = BTreeSet::new();
    let mut pages = 0;
    loop {
        let (s, page) = c.send("GET", &next, None);
        assert_eq!(s, 200, "{next}: {page}");
        let items = page["value"].as_array().unwrap();
        assert!(
            items.len() <= max,
            "{next}: {} items for maxresults={max}",
            items.len()
        );
        pages += 1;
        for it in items {
            let key = it.pointer(id).and_then(Value::as_str).unwrap().to_string();
            assert!(ids.insert(key.clone()), "{path}: {key} listed twice");
        }
        match page["odata.nextLink"].as_str() {
            Some(link) => next = link.strip_prefix(&c.base).unwrap().to_string(),
            None => return (ids, pages),
        }
    }
}

#[test]
fn every_list_returns_at_most_maxresults_and_the_rest_by_next_link() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let ext = |i: usize| json!({"name": format!("ext{i}"), "publisher": "p", "type": "t"});
    for i in 0..3 {
        let mut pool = json!({"id": format!("p{i}"), "vmSize": "x"});
        if i == 0 {
            pool["targetDedicatedNodes"] = json!(3);
            pool["virtualMachineConfiguration"] =
                json!({"nodeAgentSKUId": "n", "extensions": [ext(0), ext(1), ext(2)]});
        }
        assert_eq!(c.send("POST", &format!("/pools?{V}"), Some(&pool)).0, 201);
    }
    let nodes = c.wait("three idle nodes", &format!("/pools/p0/nodes?{V}"), |n| {
        n["value"]
            .as_array()
            .is_some_and(|v| v.len() == 3 && v.iter().all(|n| n["state"] == "idle"))
    });
    let node = nodes["value"][0]["id"].as_str().unwrap().to_string();
    for i in 0..3 {
        let job = json!({"id": format!("j{i}"), "poolInfo": {"poolId": "p0"}});
        assert_eq!(c.send("POST", &format!("/jobs?{V}"), Some(&job)).0, 201);
        let s = json!({"id": format!("s{i}"), "schedule": {},
            "jobSpecification": {"poolInfo": {"poolId": "p0"}}});
        assert_eq!(
            c.send("POST", &format!("/jobschedules?{V}"), Some(&s)).0,
            201
        );
    }
    for i in 0..5 {
        let t = json!({"id": format!("t{i}"),
            "commandLine": "/bin/sh -c 'echo a > a.txt; echo b > b.txt; echo c > c.txt'"});
        assert_eq!(
            c.send("POST", &format!("/jobs/j0/tasks?{V}"), Some(&t)).0,
            201
        );
    }
    c.wait("tasks done", &format!("/jobs/j0/taskcounts?{V}"), |v| {
        v["taskCounts"]["completed"] == 5
    });
    c.wait("s0's job", &format!("/jobschedules/s0?{V}"), |v| {
        v["executionInfo"]["recentJob"].is_object()
    });
    let lists: [(String, &str, usize); 9] = [
        ("/pools".into(), "/id", 3),
        ("/pools/p0/nodes".into(), "/id", 3),
        ("/jobs".into(), "/id", 4),
        ("/jobs/j0/tasks".into(), "/id", 5),
        ("/jobschedules".into(), "/id", 3),
        ("/jobschedules/s0/jobs".into(), "/id", 1),
        (
            format!("/pools/p0/nodes/{node}/extensions"),
            "/vmExtension/name",
            3,
        ),
        ("/jobs/j0/tasks/t0/files".into(), "/name", 0),
        (format!("/pools/p0/nodes/{node}/files"), "/name", 0),
    ];
    for (path, id, at_least) in &lists {
        let (all, _) = walk(&c, path, 1000, id);
        assert!(all.len() >= *at_least, "{path}: {all:?}");
        for max in [1, 2] {
            let (paged, pages) = walk(&c, path, max, id);
            assert_eq!(paged, all, "{path} paged by {max}");
            assert_eq!(
                pages,
                all.len().div_ceil(max).max(1),
                "{path} pages by {max}"
            );
        }
    }
    for bad in ["0", "1001", "x"] {
        let (s, e) = c.send("GET", &format!("/jobschedules?{V}&maxresults={bad}"), None);
        assert_eq!(
            (s, e["code"].as_str()),
            (400, Some("InvalidQueryParameterValue"))
        );
    }
}

#[test]
fn requests_naming_what_the_service_checks_get_its_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    // A start task running as a user the pool does not define.
    let pool = json!({"id": "p", "vmSize": "x",
        "userAccounts": [{"name": "runner", "password": "x", "elevationLevel": "admin"}],
        "startTask": {"commandLine": "true", "userIdentity": {"userName": "nobody"}}});
    let (s, e) = c.send("POST", &format!("/pools?{V}"), Some(&pool));
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("InvalidPropertyValue")),
        "{e}"
    );
    assert!(
        e.to_string().contains("startTask.userIdentity.userName"),
        "{e}"
    );
    let mut ok = pool.clone();
    ok["startTask"]["userIdentity"]["userName"] = json!("runner");
    assert_eq!(c.send("POST", &format!("/pools?{V}"), Some(&ok)).0, 201);
    // Two user accounts of one name.
    let dup = json!({"id": "q", "vmSize": "x",
        "userAccounts": [{"name": "a", "password": "x"}, {"name": "A", "password": "y"}]});
    let (s, e) = c.send("POST", &format!("/pools?{V}"), Some(&dup));
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("InvalidPropertyValue")),
        "{e}"
    );
    // Application packages: the emulated account has none.
    let apps = json!({"id": "r", "vmSize": "x",
        "applicationPackageReferences": [{"applicationId": "blender", "version": "1.0"}]});
    let (s, e) = c.send("POST", &format!("/pools?{V}"), Some(&apps));
    assert_eq!(
        (s, e["code"].as_str()),
        (409, Some("InvalidApplicationPackageReferences")),
        "{e}"
    );
    // A job whose auto pool names both a pool and a specification.
    let job = json!({"id": "j", "poolInfo": {"poolId": "p",
        "autoPoolSpecification": {"poolLifetimeOption": "job", "pool": {"vmSize": "x"}}}});
    let (s, e) = c.send("POST", &format!("/jobs?{V}"), Some(&job));
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("InvalidPropertyValue")),
        "{e}"
    );
    // A job schedule that names no job specification.
    let s_ = json!({"id": "s", "schedule": {}});
    let (s, e) = c.send("POST", &format!("/jobschedules?{V}"), Some(&s_));
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("MissingRequiredProperty")),
        "{e}"
    );
}

/// A job schedule's job specification gets the checks a job gets on its preparation and release
/// tasks (the reference: a release task needs a preparation task), on Add, Patch and Update
/// Job Schedule alike: 400 `InvalidPropertyValue` naming `jobReleaseTask` with the service's
/// message, `MissingRequiredProperty` for a preparation task without a command line, and a
/// refused change leaves the schedule as it was.
#[test]
fn a_job_schedule_s_job_specification_gets_the_job_s_preparation_and_release_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let refused = |method: &str, path: &str, body: &Value, code: &str, property: &str| {
        let (s, e) = c.send(method, &format!("{path}?{V}"), Some(body));
        assert_eq!(
            (s, e["code"].as_str()),
            (400, Some(code)),
            "{method} {path}: {e}"
        );
        let message = match code {
            "InvalidPropertyValue" => {
                "The value provided for one of the properties in the request body is invalid."
            }
            _ => "A required property was not specified in the request body.",
        };
        let got = e["message"]["value"].as_str().unwrap_or("");
        assert!(got.starts_with(message), "{method} {path}: {e}");
        let named = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["key"] == "PropertyName" && v["value"] == property);
        assert!(named, "{method} {path} names {property}: {e}");
    };
    let spec = |extra: Value| {
        let mut s = json!({"poolInfo": {"poolId": "p"}});
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s
    };
    let release_only = spec(json!({"jobReleaseTask": {"commandLine": "/bin/true"}}));
    let schedule = |js: &Value| json!({"id": "s", "schedule": {}, "jobSpecification": js});
    // The same body as a job is refused the same way.
    let mut job = release_only.clone();
    job["id"] = json!("j");
    refused(
        "POST",
        "/jobs",
        &job,
        "InvalidPropertyValue",
        "jobReleaseTask",
    );
    refused(
        "POST",
        "/jobschedules",
        &schedule(&release_only),
        "InvalidPropertyValue",
        "jobReleaseTask",
    );
    let same_ids = spec(json!({
        "jobPreparationTask": {"id": "x", "commandLine": "/bin/true"},
        "jobReleaseTask": {"id": "X", "commandLine": "/bin/true"}}));
    refused(
        "POST",
        "/jobschedules",
        &schedule(&same_ids),
        "InvalidPropertyValue",
        "jobReleaseTask.id",
    );
    let no_line = spec(json!({"jobPreparationTask": {"commandLine": " "}}));
    refused(
        "POST",
        "/jobschedules",
        &schedule(&no_line),
        "MissingRequiredProperty",
        "jobPreparationTask.commandLine",
    );
    let good = spec(json!({
        "jobPreparationTask": {"commandLine": "/bin/true"},
        "jobReleaseTask": {"commandLine": "/bin/true"}}));
    let (s, e) = c.send(
        "POST",
        &format!("/jobschedules?{V}"),
        Some(&schedule(&good)),
    );
    assert_eq!(s, 201, "{e}");
    refused(
        "PATCH",
        "/jobschedules/s",
        &json!({"jobSpecification": release_only}),
        "InvalidPropertyValue",
        "jobReleaseTask",
    );
    refused(
        "PUT",
        "/jobschedules/s",
        &json!({"schedule": {}, "jobSpecification": release_only}),
        "InvalidPropertyValue",
        "jobReleaseTask",
    );
    let (_, got) = c.send("GET", &format!("/jobschedules/s?{V}"), None);
    assert_eq!(
        got["jobSpecification"]["jobPreparationTask"]["commandLine"], "/bin/true",
        "a refused change leaves the schedule: {got}"
    );
}
