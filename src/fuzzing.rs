//! The fuzz targets' logic: one function per family of request parsers, each taking
//! arbitrary bytes. `fuzz/fuzz_targets/*.rs` (cargo fuzz, libFuzzer) and
//! `tests/fuzz_corpus.rs` (plain `cargo test`, replaying `fuzz/corpus/<target>/`) both call
//! these, so the fuzzer and the replay run the same code.
//!
//! No function here may panic, except in an assertion of a property of the parsers: a panic
//! is a bug in batchdeck. Targets that need several strings read the input as lines of text,
//! the first one shaped like an HTTP request line (`METHOD /path?query`) and the next ones
//! like headers (`name: value`), so that corpus files read as requests.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::azure::auth::{
    RequestParts, SasFields, Service, SharedKeyCredential, decode_query, http_date,
};
use crate::azure::models::{Job, JobConstraints, Pool, Task, TaskCollection};
use crate::emulator::batch::{odata, routes as batch_routes};
use crate::emulator::blob::auth::{AuthRequest, authenticate, authorize};
use crate::emulator::blob::ops::Op;
use crate::emulator::blob::xml::{self, BlockKind};
use crate::emulator::blob::{BlobError, names, routes::split_path};
use crate::emulator::{DEV_BATCH_ACCOUNT, DEV_BATCH_KEY, DEV_STORAGE_ACCOUNT, DEV_STORAGE_KEY};

/// A fuzz target: its name (also its corpus directory, `fuzz/corpus/<name>/`) and its logic.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("shared_key", shared_key),
    ("sas", sas),
    ("block_list_xml", block_list_xml),
    ("batch_json", batch_json),
    ("odata_filter", odata_filter),
];

/// The emulator's clock in every target (2025-06-01T00:00:00Z): fixed, so that a corpus
/// file replays the same way on any day.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_748_736_000, 0).expect("a valid fixed time")
}

fn batch_credential() -> SharedKeyCredential {
    SharedKeyCredential::new(DEV_BATCH_ACCOUNT, DEV_BATCH_KEY).expect("the well-known key")
}

fn storage_credential() -> SharedKeyCredential {
    SharedKeyCredential::new(DEV_STORAGE_ACCOUNT, DEV_STORAGE_KEY).expect("the well-known key")
}

/// `METHOD /path?query [HTTP/1.1]` as (method, raw path, raw query).
fn request_line(line: &str) -> (&str, &str, &str) {
    let mut words = line.split(' ');
    let method = words.next().unwrap_or("");
    let target = words.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (method, path, query)
}

/// `name: value` lines; a line without a colon is a name with an empty value.
fn header_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<(&'a str, &'a str)> {
    lines
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((k, v)) => (k, v.trim_start()),
            None => (l, ""),
        })
        .collect()
}

/// Where the Blob emulator stopped a request.
#[derive(Debug)]
enum Refused {
    /// The path is not UTF-8 once percent-decoded.
    Path,
    Auth(BlobError),
    /// The operation, the grant's scope or the names.
    Later,
}

/// What the Blob emulator does with a request before it runs the operation (the steps of
/// `emulator::blob::routes::serve`): split the path, authenticate, recognise the operation,
/// check the grant against it and the names.
fn blob_admit(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: Vec<(&str, &str)>,
    peer: Option<IpAddr>,
) -> Result<Op, Refused> {
    let (_account, container, blob) = split_path(raw_path).map_err(|_| Refused::Path)?;
    let query = decode_query(raw_query);
    let copy_source = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("x-ms-copy-source"));
    let grant = authenticate(
        &storage_credential(),
        &AuthRequest {
            method,
            raw_path,
            raw_query,
            headers,
            query: &query,
            container: container.as_deref(),
            blob: blob.as_deref(),
            peer,
            https: false,
        },
        now(),
    )
    .map_err(Refused::Auth)?;
    // hyper refuses a method that is not a token before the emulator sees it.
    let method = axum::http::Method::from_bytes(method.as_bytes()).map_err(|_| Refused::Later)?;
    let q = |n: &str| query.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let op = Op::classify(
        &method,
        container.is_some(),
        blob.is_some(),
        q("restype"),
        q("comp"),
        copy_source,
    )
    .map_err(|_| Refused::Later)?;
    authorize(&grant, op).map_err(|_| Refused::Later)?;
    if let Some(c) = &container {
        names::check_container(c).map_err(|_| Refused::Later)?;
    }
    if let Some(b) = &blob {
        names::check_blob(b).map_err(|_| Refused::Later)?;
    }
    Ok(op)
}

/// Shared Key: a request (request line, then header lines) is canonicalised for both
/// services. Properties: what a client signs verifies (for Blob, through the emulator's
/// whole admission path at the request's own date), and one more signed header breaks it;
/// whatever `Authorization` the input carries gets an answer, never a panic.
pub fn shared_key(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let (method, raw_path, raw_query) = request_line(lines.next().unwrap_or(""));
    let headers = header_lines(lines);
    let parts = RequestParts {
        method,
        raw_path,
        raw_query,
        headers: headers.clone(),
    };

    let batch = batch_credential();
    let auth = batch.authorization(Service::Batch, &parts);
    assert!(
        batch.verify_authorization(Service::Batch, &parts, &auth),
        "a Batch request signed with the key does not verify"
    );
    let mut tampered = parts.clone();
    tampered.headers.push(("ocp-fuzz-tamper", "1"));
    assert!(
        !batch.verify_authorization(Service::Batch, &tampered, &auth),
        "an ocp- header added after signing still verifies"
    );
    for (_, v) in headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
    {
        batch.verify_authorization(Service::Batch, &parts, v);
    }

    // Blob, as sent: no panic whatever it carries.
    let _ = blob_admit(method, raw_path, raw_query, headers.clone(), None);
    // Blob, signed now by a client: the emulator authenticates it.
    let date = http_date(now());
    let mut signed = vec![("x-ms-date", date.as_str())];
    signed.extend(headers);
    let auth = storage_credential().authorization(
        Service::Blob,
        &RequestParts {
            method,
            raw_path,
            raw_query,
            headers: signed.clone(),
        },
    );
    let mut sent = vec![("authorization", auth.as_str())];
    sent.extend(signed);
    let r = blob_admit(method, raw_path, raw_query, sent.clone(), None);
    assert!(
        !matches!(r, Err(Refused::Auth(_))),
        "a Blob request signed with the key is refused: {r:?}"
    );
    sent.push(("x-ms-meta-fuzztamper", "1"));
    let r = blob_admit(method, raw_path, raw_query, sent, None);
    assert!(
        matches!(r, Err(Refused::Path | Refused::Auth(_))),
        "an x-ms- header added after signing is accepted: {r:?}"
    );
}

/// The detail the emulator gives when a SAS signature does not match: the string it signed.
fn sas_string_to_sign(r: &Result<Op, Refused>) -> Option<&str> {
    match r {
        Err(Refused::Auth(e)) => e
            .details
            .iter()
            .find_map(|(_, d)| d.strip_prefix("Signature did not match. String to sign used was ")),
        _ => None,
    }
}

/// SAS: a request line whose query is the SAS, then optionally the client's address on a
/// line of its own. Properties: the emulator answers it without a panic; the fields survive
/// their own query encoding; once signed with the key over the string the emulator computes,
/// the SAS passes the signature check, and a changed permission fails it.
pub fn sas(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let (method, raw_path, raw_query) = request_line(lines.next().unwrap_or(""));
    let peer: Option<IpAddr> = lines.next().and_then(|l| l.trim().parse().ok());
    let _ = blob_admit(method, raw_path, raw_query, Vec::new(), peer);

    let Some(mut f) = SasFields::from_query(&decode_query(raw_query)) else {
        return;
    };
    // `to_query` writes neither `si` nor the snapshot, and one kind of SAS only.
    f.identifier = None;
    f.snapshot_time = None;
    if f.is_account_sas() {
        f.resource.clear();
    }
    let query = f.to_query();
    assert_eq!(
        SasFields::from_query(&decode_query(&query)).as_ref(),
        Some(&f),
        "SAS fields change through to_query and back"
    );

    let r = blob_admit(method, raw_path, &query, Vec::new(), peer);
    let Some(sts) = sas_string_to_sign(&r) else {
        return;
    };
    f.signature = storage_credential().sign(sts);
    let r = blob_admit(method, raw_path, &f.to_query(), Vec::new(), peer);
    assert!(
        sas_string_to_sign(&r).is_none(),
        "a SAS signed over the emulator's own string to sign does not match: {r:?}"
    );
    f.permissions.push('r');
    let r = blob_admit(method, raw_path, &f.to_query(), Vec::new(), peer);
    assert!(
        sas_string_to_sign(&r).is_some(),
        "a SAS whose permissions changed after signing still matches: {r:?}"
    );
}

/// Characters a block id can carry through the request XML unchanged: no whitespace (the
/// parser trims it), no control characters, nothing XML 1.0 cannot hold.
fn plain_id(id: &str) -> bool {
    id.chars()
        .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// The Put Block List body a client sends for `list`.
fn block_list_body(list: &[(BlockKind, String)]) -> String {
    let mut s = String::from(xml::DECLARATION);
    s.push_str("<BlockList>");
    for (kind, id) in list {
        let tag = match kind {
            BlockKind::Committed => "Committed",
            BlockKind::Uncommitted => "Uncommitted",
            BlockKind::Latest => "Latest",
        };
        s.push_str(&format!("<{tag}>{}</{tag}>", xml::escape(id)));
    }
    s.push_str("</BlockList>");
    s
}

fn assert_block_list_round_trips(list: &[(BlockKind, String)]) {
    let body = block_list_body(list);
    let back = xml::parse_block_list(body.as_bytes());
    assert!(
        back.as_deref().ok() == Some(list),
        "block list {list:?} does not read back from {body:?}: {back:?}"
    );
}

/// Block list XML: the input as a Put Block List body (and as a Set Blob Service Properties
/// body). Properties: no panic; what parses, written again, parses to the same list; and the
/// input read as lines `C<id>`/`U<id>`/`L<id>` is a list that survives the same round trip.
pub fn block_list_xml(data: &[u8]) {
    let _ = xml::check_service_properties(data);
    if let Ok(list) = xml::parse_block_list(data) {
        let plain: Vec<_> = list.into_iter().filter(|(_, id)| plain_id(id)).collect();
        assert_block_list_round_trips(&plain);
    }
    let text = String::from_utf8_lossy(data);
    let list: Vec<(BlockKind, String)> = text
        .lines()
        .filter_map(|l| {
            let kind = match l.chars().next()? {
                'C' => BlockKind::Committed,
                'U' => BlockKind::Uncommitted,
                'L' => BlockKind::Latest,
                _ => return None,
            };
            let id = &l[1..];
            plain_id(id).then(|| (kind, id.to_string()))
        })
        .collect();
    assert_block_list_round_trips(&list);
}

/// Reads `data` as the emulator reads a body of type `T`; what it accepts, written by the
/// model and read again, is written the same way (no field drifts through a round trip).
fn json_round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) -> Option<T> {
    let t: T = batch_routes::parse_json_body(data).ok()?;
    let name = std::any::type_name::<T>();
    let first = serde_json::to_value(&t).unwrap_or_else(|e| panic!("{name} does not write: {e}"));
    let again: T = serde_json::from_value(first.clone())
        .unwrap_or_else(|e| panic!("{name} does not read what it wrote ({first}): {e}"));
    let second = serde_json::to_value(&again).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(first, second, "{name} changes through a round trip");
    Some(t)
}

/// Batch JSON bodies: the input as the body of pool add, job add and update, task add and
/// add task collection. Properties: only JSON documents are accepted; each model's round
/// trip is stable; task validation (`new_task`) answers every task without a panic.
pub fn batch_json(data: &[u8]) {
    if batch_routes::parse_json_body::<Value>(data).is_ok() {
        assert!(
            serde_json::from_slice::<Value>(data).is_ok(),
            "the emulator accepts a body that is not a JSON document"
        );
    }
    json_round_trip::<Pool>(data);
    json_round_trip::<Job>(data);
    json_round_trip::<JobConstraints>(data);
    json_round_trip::<Task>(data);
    let job = Job {
        id: "job-1".into(),
        constraints: Some(JobConstraints {
            max_wall_clock_time: None,
            max_task_retry_count: Some(2),
        }),
        ..Job::default()
    };
    if let Some(collection) = json_round_trip::<TaskCollection>(data) {
        for v in collection.value {
            let _ = batch_routes::new_task(&job, v, now());
        }
    }
    if let Ok(v) = batch_routes::parse_json_body::<Value>(data) {
        let _ = batch_routes::new_task(&job, v, now());
    }
}

/// Entities as the Batch emulator renders them, for filters to run against.
fn sample_entities() -> Vec<(String, Value)> {
    let entities = [
        json!({"id": "task-1", "state": "completed", "creationTime": "2025-05-31T23:00:00.1234567Z",
               "executionInfo": {"exitCode": 3, "result": "failure", "retryCount": 1,
                                 "failureInfo": {"category": "usererror"}},
               "requiredSlots": 1, "commandLine": "python3 topwords.py it's.txt"}),
        json!({"id": "task-2", "state": "running", "displayName": null, "executionInfo": {}}),
        json!({"id": "pool-1", "state": "active", "allocationState": "steady", "vmSize": "standard_d2s_v3",
               "targetDedicatedNodes": 2, "enableAutoScale": false, "taskSlotsPerNode": 1.5}),
        json!({"id": "tvm-1", "state": "idle", "isDedicated": true, "ipAddress": "10.0.0.4",
               "lastBootTime": "2025-06-01T00:00:00Z", "startTaskInfo": {"exitCode": 0}}),
        json!({"id": "", "tags": ["a", "b"], "nested": {"deep": {"deeper": -1e300}}}),
    ];
    entities
        .into_iter()
        .map(|v| (v["id"].as_str().unwrap_or("").to_string(), v))
        .collect()
}

/// OData: line 1 a `$filter`, line 2 a `$select`, line 3 a `$skiptoken`. Properties: no
/// panic parsing or evaluating (nesting is bounded, chains are flat); `not (f)` is the
/// negation of `f` on every entity; `(f)` is the same filter as `f`, or too deep;
/// `$select` keeps only named properties of the entity.
pub fn odata_filter(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let filter = lines.next().unwrap_or("");
    let select = lines.next().map(odata::parse_select);
    let skip_token = lines.next();
    let entities = sample_entities();
    let parsed = odata::parse_filter(filter);
    if let Ok(f) = &parsed {
        let negated = odata::parse_filter(&format!("not ({filter})"));
        let grouped = odata::parse_filter(&format!("({filter})"));
        match &grouped {
            Ok(g) => assert_eq!(g, f, "({filter}) is not the same filter as {filter}"),
            // One level more than `MAX_NESTING` allows.
            Err(e) => assert!(e.0.contains("deep"), "({filter}) fails: {e}"),
        }
        for (_, e) in &entities {
            let m = f.matches(e);
            if let Ok(n) = &negated {
                assert_eq!(n.matches(e), !m, "not ({filter}) on {e}");
            }
        }
    }
    let kept: Vec<(String, Value)> = entities
        .into_iter()
        .filter(|(_, e)| parsed.as_ref().is_ok_and(|f| f.matches(e)))
        .collect();
    let (page, _next) = odata::page(kept, skip_token, 2, |_| true);
    assert!(page.len() <= 2, "a page holds more than maxresults");
    for e in page {
        let out = odata::select(e.clone(), select.as_deref());
        if let (Some(names), Some(obj)) = (&select, out.as_object()) {
            for k in obj.keys() {
                assert!(
                    e.get(k).is_some() && names.iter().any(|n| n.eq_ignore_ascii_case(k)),
                    "$select kept {k}, which is not selected"
                );
            }
        }
    }
}
