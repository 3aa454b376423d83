//! How the Batch service uses the runtime it shares with the blob service: a slow disk commit
//! stalls neither service's other requests, and no request changes what the tasks are told
//! the account URL is.
mod common;

use std::time::{Duration, Instant};

use batchdeck::azure::auth::{RequestParts, Service, SharedKeyCredential, http_date};
use chrono::Utc;
use common::batch_raw::Client;
use common::{EmulatorProcess, STORAGE_ACCOUNT, STORAGE_KEY};
use serde_json::json;

const V: &str = "api-version=2025-06-01";

/// List Containers on the blob service, signed with Shared Key; returns its status.
fn list_containers(c: &Client, blob_endpoint: &str) -> u16 {
    let cred = SharedKeyCredential::new(STORAGE_ACCOUNT, STORAGE_KEY).unwrap();
    let date = http_date(Utc::now());
    let headers = vec![("x-ms-date", date.as_str()), ("x-ms-version", "2026-10-06")];
    let raw_path = format!("/{STORAGE_ACCOUNT}");
    let parts = RequestParts {
        method: "GET",
        raw_path: &raw_path,
        raw_query: "comp=list",
        headers: headers.clone(),
    };
    let mut req = c
        .http
        .get(format!("{blob_endpoint}?comp=list"))
        .header("authorization", cred.authorization(Service::Blob, &parts));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    c.rt.block_on(async { req.send().await.unwrap().status().as_u16() })
}

/// With every durable write of the Batch state held for 3 s (`--faults slow-disk=3s`), six
/// pool creations wait for the disk, and meanwhile the blob service and the Batch service's
/// reads answer at once: no handler blocks a runtime thread, and no lock is held across a
/// disk write. (Before, handlers ran on the runtime's threads and held the state's lock
/// through the commit: both services stalled for the whole hold.)
#[test]
fn a_slow_disk_commit_stalls_neither_service() {
    let hold = Duration::from_secs(3);
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &["--faults", "slow-disk=3s"]);
    let c = Client::new(&emu);
    // Warm both services up (connections, first commit) before measuring.
    assert_eq!(list_containers(&c, &emu.blob_endpoint), 200);
    assert_eq!(c.send("GET", &format!("/pools?{V}"), None).0, 200);

    let started = Instant::now();
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let c = Client::new(&emu);
            std::thread::spawn(move || {
                let pool = json!({"id": format!("slow{i}"), "vmSize": "standard_d1"});
                let t = Instant::now();
                let (s, v) = c.send("POST", &format!("/pools?{V}"), Some(&pool));
                assert_eq!(s, 201, "{v}");
                t.elapsed()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut blob_worst = Duration::ZERO;
    let mut batch_worst = Duration::ZERO;
    while started.elapsed() < hold {
        let t = Instant::now();
        assert_eq!(list_containers(&c, &emu.blob_endpoint), 200);
        blob_worst = blob_worst.max(t.elapsed());
        let t = Instant::now();
        assert_eq!(c.send("GET", &format!("/pools?{V}"), None).0, 200);
        batch_worst = batch_worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    let writes: Vec<Duration> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    eprintln!(
        "slow disk {hold:?}: pool adds took {writes:?}; worst blob list {blob_worst:?}, worst Batch pool list {batch_worst:?}"
    );
    // The hold was real: every write waited for the disk.
    assert!(writes.iter().all(|w| *w >= hold), "{writes:?}");
    // Generous bounds on a loaded 2-core machine; a stall lasts the whole hold (3 s).
    assert!(blob_worst < Duration::from_millis(1500), "{blob_worst:?}");
    assert!(batch_worst < Duration::from_millis(1500), "{batch_worst:?}");
}

/// The account URL a task sees is the emulator's own endpoint, whatever Host header the
/// requests came with (each request used to overwrite it with its own).
#[test]
fn tasks_see_the_account_url_whatever_host_a_request_named() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = EmulatorProcess::start(tmp.path(), &[]);
    let c = Client::new(&emu);
    let pool = json!({"id": "p", "vmSize": "standard_d1", "targetDedicatedNodes": 1});
    assert_eq!(c.send("POST", &format!("/pools?{V}"), Some(&pool)).0, 201);
    c.wait("an idle node", &format!("/pools/p/nodes?{V}"), |v| {
        v["value"][0]["state"] == "idle"
    });
    let job = json!({"id": "j", "poolInfo": {"poolId": "p"}});
    assert_eq!(c.send("POST", &format!("/jobs?{V}"), Some(&job)).0, 201);
    // The task is added by a request naming another host.
    let task =
        json!({"id": "t", "commandLine": "/bin/sh -c 'printf %s \"$AZ_BATCH_ACCOUNT_URL\"'"});
    let body = serde_json::to_vec(&task).unwrap();
    let path = "/jobs/j/tasks";
    let date = http_date(Utc::now());
    let len = body.len().to_string();
    let headers = vec![
        ("ocp-date", date.as_str()),
        ("content-type", "application/json; odata=minimalmetadata"),
        ("content-length", len.as_str()),
    ];
    let parts = RequestParts {
        method: "POST",
        raw_path: path,
        raw_query: V,
        headers: headers.clone(),
    };
    let mut req = c
        .http
        .post(format!("{}{path}?{V}", emu.batch_endpoint))
        .header("host", "spoofed.example:1")
        .header(
            "authorization",
            c.cred.authorization(Service::Batch, &parts),
        )
        .body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let status =
        c.rt.block_on(async { req.send().await.unwrap().status().as_u16() });
    assert_eq!(status, 201);
    c.wait("the task completed", &format!("/jobs/j/tasks/t?{V}"), |v| {
        v["state"] == "completed"
    });
    let (s, out) = c.send(
        "GET",
        &format!("/jobs/j/tasks/t/files/stdout.txt?{V}"),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(out, serde_json::Value::String(emu.batch_endpoint.clone()));
}
