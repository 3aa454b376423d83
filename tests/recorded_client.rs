//! batchdeck's clients decode responses recorded from the real services.
//!
//! A tiny HTTP server on 127.0.0.1 (OS-chosen port, stopped when its test ends) answers the
//! clients with the bodies in tests/fixtures/recorded (see SOURCE.md for where each was
//! recorded), with the recorded status codes and the headers that matter (`x-ms-error-code`,
//! content types). The assertions name concrete recorded values, so a renamed or mistyped model
//! field fails here.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use batchdeck::azure::auth::SharedKeyCredential;
use batchdeck::azure::batch::{BatchClient, BatchError};
use batchdeck::azure::models::{
    AllocationState, ErrorBody, ErrorCategory, JobState, NodeState, OnAllTasksComplete,
    OnTaskFailure, PoolState, SchedulingState, StartTaskState, Task, TaskAddCollectionResult,
    TaskAddStatus, TaskExecutionResult, TaskState,
};
use batchdeck::azure::retry::RetryPolicy;
use batchdeck::azure::storage::{
    ContainerCreated, ContainerDeleted, DEV_ACCOUNT, DEV_KEY, StorageClient, StorageError,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use url::Url;

const BATCH_KEY: &str = "ZGV2YmF0Y2hrZXkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=";
/// Content type of the Batch service's JSON answers (recorded).
const BATCH_JSON: &str = "application/json;odata=minimalmetadata";

fn fixture_bytes(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/fixtures/recorded/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).expect("fixture is JSON")
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_attempts: 2,
        max_connect_attempts: 2,
        max_retry_after: Duration::from_secs(1),
    }
}

// ---------------------------------------------------------------------------------------------
// The replay server

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Raw (still percent-encoded) query.
    query: String,
    body: Vec<u8>,
}

impl Seen {
    /// A decoded query parameter.
    fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// An answer: status, headers, body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn batch_json(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![
                ("content-type", BATCH_JSON.into()),
                ("dataserviceversion", "3.0".into()),
            ],
            body,
        }
    }

    fn batch_fixture(name: &str) -> Reply {
        Reply::batch_json(200, fixture_bytes(name))
    }

    fn xml(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![
                ("content-type", "application/xml".into()),
                ("x-ms-version", "2019-02-02".into()),
            ],
            body,
        }
    }

    /// A recorded storage error: its status, `x-ms-error-code` and XML body.
    fn storage_error(status: u16, code: &str, fixture: &str) -> Reply {
        let mut r = Reply::xml(status, fixture_bytes(fixture));
        r.headers.push(("x-ms-error-code", code.into()));
        r
    }

    fn not_found() -> Reply {
        Reply::batch_json(404, Vec::new())
    }
}

type Route = dyn Fn(&Seen, &str) -> Reply + Send + Sync;

/// A replay server on 127.0.0.1; aborted when dropped.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `route(request, base_url)` for every request.
    async fn start(route: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let route: Arc<Route> = Arc::new(route);
        let (seen2, base2) = (seen.clone(), base.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (seen, route, base) = (seen2.clone(), route.clone(), base2.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
                    .await
                    .unwrap_or_default()
                    .to_vec();
                let s = Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().unwrap_or("").to_string(),
                    body,
                };
                let reply = route(&s, &base);
                seen.lock().expect("lock").push(s);
                let mut b = axum::http::Response::builder().status(reply.status);
                for (k, v) in reply.headers {
                    b = b.header(k, v);
                }
                b.body(axum::body::Body::from(reply.body))
                    .expect("response")
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { base, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn batch_client(&self) -> BatchClient {
        let cred = SharedKeyCredential::new("clibatch000002", BATCH_KEY).expect("key");
        BatchClient::new(Url::parse(&self.base).expect("url"), cred)
            .expect("client")
            .with_retry_policy(fast_retries())
    }

    /// Path-style blob endpoint, as on the emulator and Azurite.
    fn storage_client(&self) -> StorageClient {
        let cred = SharedKeyCredential::new(DEV_ACCOUNT, DEV_KEY).expect("key");
        let endpoint = format!("{}/{DEV_ACCOUNT}", self.base);
        StorageClient::new(Url::parse(&endpoint).expect("url"), cred)
            .expect("client")
            .with_retry_policy(fast_retries())
    }
}

// ---------------------------------------------------------------------------------------------
// Batch

#[tokio::test]
async fn get_pool_decodes_recorded_pools() {
    let server = Server::start(|r, _| match r.path.as_str() {
        "/pools/azure-cli-test-json" => Reply::batch_fixture("pool_get.json"),
        "/pools/azure-cli-test-paas" => Reply::batch_fixture("pool_get_select.json"),
        "/pools/pool" => Reply::batch_fixture("pool_get_basic.json"),
        _ => Reply::not_found(),
    })
    .await;
    let batch = server.batch_client();

    // A whole pool, recorded by azure-cli.
    let p = batch
        .get_pool("azure-cli-test-json", None)
        .await
        .expect("recorded pool decodes");
    assert_eq!(p.id, "azure-cli-test-json");
    assert_eq!(p.e_tag.as_deref(), Some("0x8D85FD91CD035F6"));
    assert_eq!(p.state, Some(PoolState::Active));
    assert_eq!(p.allocation_state, Some(AllocationState::Resizing));
    assert_eq!(p.vm_size.as_deref(), Some("small"));
    assert_eq!(p.resize_timeout.as_deref(), Some("PT15M"));
    assert_eq!(p.current_dedicated_nodes, Some(0));
    assert_eq!(p.current_low_priority_nodes, Some(0));
    assert_eq!(p.target_dedicated_nodes, Some(0));
    assert_eq!(p.target_low_priority_nodes, Some(2));
    assert_eq!(p.enable_auto_scale, Some(false));
    assert_eq!(p.creation_time, Some(t("2020-09-23T15:55:36.8874486Z")));
    assert_eq!(p.last_modified, Some(t("2020-09-23T15:55:36.8874486Z")));
    assert_eq!(
        p.allocation_state_transition_time,
        Some(t("2020-09-23T15:55:36.8874486Z"))
    );
    let st = p.start_task.as_ref().expect("startTask");
    assert_eq!(st.command_line, "cmd /c echo test");
    assert_eq!(st.max_task_retry_count, Some(0));
    assert_eq!(st.wait_for_success, Some(true));
    assert_eq!(
        st.user_identity
            .as_ref()
            .and_then(|u| u["username"].as_str()),
        Some("cliTestUser")
    );
    // Fields batchdeck does not model are kept, not lost.
    assert_eq!(p.extra["maxTasksPerNode"], 1);
    assert_eq!(p.extra["cloudServiceConfiguration"]["osFamily"], "4");

    // A `$select`ed pool: the service leaves out even the id.
    let p = batch
        .get_pool(
            "azure-cli-test-paas",
            Some("allocationState,targetLowPriorityNodes"),
        )
        .await
        .expect("a $select'ed pool without id decodes");
    assert_eq!(p.id, "");
    assert_eq!(p.allocation_state, Some(AllocationState::Resizing));
    assert_eq!(p.target_low_priority_nodes, Some(5));
    assert_eq!(p.vm_size, None);

    // The REST spec's example of the current API version: a VM configuration pool.
    let p = batch.get_pool("pool", None).await.expect("example pool");
    assert_eq!(p.id, "pool");
    assert_eq!(p.allocation_state, Some(AllocationState::Steady));
    assert_eq!(p.vm_size.as_deref(), Some("standard_a1"));
    assert_eq!(p.task_slots_per_node, Some(1));
    assert_eq!(
        p.start_task.as_ref().map(|s| s.command_line.as_str()),
        Some("/bin/bash -c 'echo start task'")
    );
    let vm = p.virtual_machine_configuration.as_ref().expect("vm config");
    assert_eq!(vm["nodeAgentSKUId"], "batch.node.ubuntu 20.04");
    assert_eq!(
        vm["imageReference"]["offer"],
        "0001-com-ubuntu-server-focal"
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|r| r.method == "GET"));
    assert_eq!(seen[0].param("api-version").as_deref(), Some("2025-06-01"));
    assert_eq!(
        seen[1].param("$select").as_deref(),
        Some("allocationState,targetLowPriorityNodes")
    );
}

#[tokio::test]
async fn get_job_decodes_recorded_jobs() {
    let server = Server::start(|r, _| match r.path.as_str() {
        "/jobs/cli-test-job-1" => Reply::batch_fixture("job_get.json"),
        "/jobs/jobId" => Reply::batch_fixture("job_get_completed.json"),
        _ => Reply::not_found(),
    })
    .await;
    let batch = server.batch_client();

    let j = batch.get_job("cli-test-job-1").await.expect("recorded job");
    assert_eq!(j.id, "cli-test-job-1");
    assert_eq!(j.e_tag.as_deref(), Some("0x8DCF3C953387E09"));
    assert_eq!(j.state, Some(JobState::Active));
    assert_eq!(j.priority, Some(0));
    assert_eq!(j.max_parallel_tasks, Some(-1));
    assert_eq!(j.creation_time, Some(t("2024-10-24T01:15:18.9635052Z")));
    assert_eq!(j.last_modified, Some(t("2024-10-24T01:15:18.9955081Z")));
    let c = j.constraints.as_ref().expect("constraints");
    assert_eq!(c.max_task_retry_count, Some(5));
    assert_eq!(
        c.max_wall_clock_time.as_deref(),
        Some("P10675199DT2H48M5.4775807S")
    );
    assert_eq!(j.pool_info.pool_id.as_deref(), Some("xplatJobForTaskTests"));
    let e = j.execution_info.as_ref().expect("executionInfo");
    assert_eq!(e.start_time, t("2024-10-24T01:15:18.9955081Z"));
    assert_eq!(e.pool_id.as_deref(), Some("xplatJobForTaskTests"));
    assert_eq!(e.end_time, None);
    assert_eq!(j.on_all_tasks_complete, Some(OnAllTasksComplete::NoAction));
    assert_eq!(j.on_task_failure, Some(OnTaskFailure::NoAction));
    assert_eq!(j.extra["jobManagerTask"]["id"], "JobManager");
    assert_eq!(j.extra["metadata"][0]["name"], "test");

    let j = batch.get_job("jobId").await.expect("example completed job");
    assert_eq!(j.state, Some(JobState::Completed));
    assert_eq!(j.previous_state, Some(JobState::Active));
    assert_eq!(
        j.previous_state_transition_time,
        Some(t("2016-11-19T00:05:27.2137716Z"))
    );
    let e = j.execution_info.as_ref().expect("executionInfo");
    assert_eq!(e.end_time, Some(t("2016-11-19T00:05:27.578581Z")));
    assert_eq!(e.terminate_reason.as_deref(), Some("UserTerminate"));
    assert_eq!(j.pool_info.pool_id.as_deref(), Some("poolId"));
}

/// Page 1 of a task list: the recorded page plus an `odata.nextLink` of the service's form
/// (`<endpoint>/jobs/<job>/tasks?$skiptoken=...&api-version=...`) pointing at `endpoint`.
fn task_page_with_next_link(endpoint: &str, job: &str) -> Vec<u8> {
    let mut page = fixture_json("task_list.json");
    page["odata.nextLink"] = Value::String(format!(
        "{endpoint}/jobs/{job}/tasks?$skiptoken=2%21task2&api-version=2025-06-01&maxresults=1000"
    ));
    serde_json::to_vec(&page).expect("json")
}

#[tokio::test]
async fn list_tasks_follows_next_link_across_recorded_pages() {
    let server = Server::start(|r, base| match r.path.as_str() {
        "/jobs/jobId/tasks" if r.param("$skiptoken").is_none() => {
            Reply::batch_json(200, task_page_with_next_link(base, "jobId"))
        }
        // Page 2 is the same recorded page, without a link.
        "/jobs/jobId/tasks" => Reply::batch_fixture("task_list.json"),
        // A next link that points at the real service, as recorded pages would.
        "/jobs/elsewhere/tasks" => Reply::batch_json(
            200,
            task_page_with_next_link("https://account.region.batch.azure.com", "elsewhere"),
        ),
        _ => Reply::not_found(),
    })
    .await;
    let batch = server.batch_client();

    let tasks = batch
        .list_tasks("jobId", Some("state eq 'active'"), None)
        .await
        .expect("two pages decode");
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["task1", "task2", "task1", "task2"]);
    let t1: &Task = &tasks[0];
    assert_eq!(
        t1.url.as_deref(),
        Some("https://account.region.batch.azure.com/jobs/jobId/tasks/task1")
    );
    assert_eq!(t1.e_tag.as_deref(), Some("0x8D4125FD1A825A4"));
    assert_eq!(t1.state, Some(TaskState::Active));
    assert_eq!(t1.command_line, "cmd /c echo task1");
    assert_eq!(t1.required_slots, Some(2));
    assert_eq!(t1.creation_time, Some(t("2016-11-21T22:43:31.4733476Z")));
    let t2 = &tasks[1];
    assert_eq!(t2.last_modified, Some(t("2016-11-21T22:43:32.1880389Z")));
    assert_eq!(
        t2.constraints.as_ref().and_then(|c| c.max_task_retry_count),
        Some(3)
    );
    assert_eq!(
        t2.constraints
            .as_ref()
            .and_then(|c| c.retention_time.as_deref()),
        Some("P10675199DT2H48M5.4775807S")
    );
    let x = t2.execution_info.as_ref().expect("executionInfo");
    assert_eq!((x.retry_count, x.requeue_count), (0, 0));
    assert_eq!(x.exit_code, None);

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one request per page: {seen:?}");
    assert_eq!(
        seen[0].param("$filter").as_deref(),
        Some("state eq 'active'")
    );
    assert_eq!(seen[0].param("maxresults").as_deref(), Some("1000"));
    assert_eq!(seen[1].param("$skiptoken").as_deref(), Some("2!task2"));
    assert_eq!(seen[1].param("api-version").as_deref(), Some("2025-06-01"));

    // A next link to another host is refused, not followed.
    let e = batch
        .list_tasks("elsewhere", None, None)
        .await
        .expect_err("foreign next link");
    match &e {
        BatchError::Decode { path, .. } => assert_eq!(path, "odata.nextLink"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 3, "nothing was sent to the other host");
}

#[tokio::test]
async fn get_task_decodes_a_recorded_failed_task() {
    let server = Server::start(|r, _| match r.path.as_str() {
        "/jobs/batch98930ae3/tasks/test_task" => Reply::batch_fixture("task_get_completed.json"),
        _ => Reply::not_found(),
    })
    .await;
    let task = server
        .batch_client()
        .get_task("batch98930ae3", "test_task")
        .await
        .expect("recorded task");
    assert_eq!(task.id, "test_task");
    assert_eq!(task.state, Some(TaskState::Completed));
    assert_eq!(task.previous_state, Some(TaskState::Running));
    assert_eq!(
        task.state_transition_time,
        Some(t("2020-11-23T23:23:57.666447Z"))
    );
    assert_eq!(task.command_line, "cmd /c \"echo hello world\"");
    assert_eq!(task.required_slots, Some(1));
    let x = task.execution_info.as_ref().expect("executionInfo");
    assert_eq!(x.start_time, Some(t("2020-11-23T23:23:57.597786Z")));
    assert_eq!(x.end_time, Some(t("2020-11-23T23:23:57.666447Z")));
    assert_eq!(x.exit_code, None, "the program never started");
    assert_eq!(x.result, Some(TaskExecutionResult::Failure));
    assert_eq!((x.retry_count, x.requeue_count), (0, 0));
    let f = x.failure_info.as_ref().expect("failureInfo");
    // The service wrote `UserError` here (recorded); the spec's value is `usererror`.
    assert_eq!(f.category, ErrorCategory::UserError);
    assert_eq!(f.code.as_deref(), Some("CommandProgramNotFound"));
    assert_eq!(
        f.message.as_deref(),
        Some("The specified command program is not found")
    );
    assert_eq!(f.details.len(), 1);
    assert_eq!(f.details[0].name, "Message");
    assert_eq!(
        f.details[0].value,
        "The system cannot find the file specified"
    );
    let n = task.node_info.as_ref().expect("nodeInfo");
    assert_eq!(
        n.node_id.as_deref(),
        Some("tvmps_2e2e73c938d23ef3fc82564e5eb018c0be6c7fdeb07d94fd540051e30c79a73c_d")
    );
    assert_eq!(
        n.pool_id.as_deref(),
        Some("test_batch_test_batch_files98930ae3")
    );
    assert_eq!(
        n.task_root_directory.as_deref(),
        Some("workitems/batch98930ae3/job-1/test_task")
    );
}

#[tokio::test]
async fn task_counts_decode_recorded_counts() {
    let server = Server::start(|r, _| match r.path.as_str() {
        "/jobs/xplatJobForTaskTests/taskcounts" => Reply::batch_fixture("task_counts.json"),
        "/jobs/jobId/taskcounts" => Reply::batch_fixture("task_counts_spec.json"),
        _ => Reply::not_found(),
    })
    .await;
    let batch = server.batch_client();

    let c = batch
        .task_counts("xplatJobForTaskTests")
        .await
        .expect("recorded counts");
    let tc = c.task_counts;
    assert_eq!(
        (tc.active, tc.running, tc.completed, tc.succeeded, tc.failed),
        (1, 0, 0, 0, 0)
    );
    assert_eq!(c.task_slot_counts, tc);

    let c = batch.task_counts("jobId").await.expect("example counts");
    let tc = c.task_counts;
    assert_eq!(
        (tc.active, tc.running, tc.completed, tc.succeeded, tc.failed),
        (5, 7, 4, 2, 2)
    );
    let sc = c.task_slot_counts;
    assert_eq!(
        (sc.active, sc.running, sc.completed, sc.succeeded, sc.failed),
        (5, 7, 4, 2, 2)
    );
}

#[tokio::test]
async fn list_nodes_decodes_recorded_nodes() {
    let server = Server::start(|r, _| match r.path.as_str() {
        "/pools/test_batch_test_batch_compute_nodesff3f0e45/nodes" => {
            Reply::batch_fixture("node_list_idle.json")
        }
        "/pools/poolId/nodes" => Reply::batch_fixture("node_list.json"),
        _ => Reply::not_found(),
    })
    .await;
    let batch = server.batch_client();

    let nodes = batch
        .list_nodes("test_batch_test_batch_compute_nodesff3f0e45", None)
        .await
        .expect("recorded nodes");
    assert_eq!(nodes.len(), 2);
    let (a, b) = (&nodes[0], &nodes[1]);
    assert_eq!(
        a.id,
        "tvmps_7d3d3e847ce97013fa3a80b50d395b0c3c5a35e773f6bf427ddf66d85f7d6502_d"
    );
    assert_eq!(
        b.id,
        "tvmps_912d3d05da2649f1fb103acdd76b2856e3029cc9c53802e0c7e68accd0239f6a_d"
    );
    assert_eq!((&a.state, &b.state), (&NodeState::Idle, &NodeState::Idle));
    assert_eq!(a.scheduling_state, Some(SchedulingState::Enabled));
    assert_eq!(a.ip_address.as_deref(), Some("10.0.0.5"));
    assert_eq!(b.ip_address.as_deref(), Some("10.0.0.4"));
    assert_eq!(a.vm_size.as_deref(), Some("standard_d1_v2"));
    assert_eq!(a.is_dedicated, Some(true));
    assert_eq!(
        a.affinity_id.as_deref(),
        Some(format!("TVM:{}", a.id).as_str())
    );
    assert_eq!(
        a.state_transition_time,
        Some(t("2021-07-30T12:19:54.876064Z"))
    );
    assert_eq!(b.last_boot_time, Some(t("2021-07-30T12:19:50.324824Z")));
    assert_eq!(a.allocation_time, Some(t("2021-07-30T12:19:34.7574688Z")));
    assert_eq!(
        (
            a.total_tasks_run,
            a.total_tasks_succeeded,
            a.running_tasks_count,
            a.running_task_slots_count
        ),
        (0, 0, 0, 0)
    );
    assert!(a.start_task_info.is_none());
    assert_eq!(
        a.node_agent_info.as_ref().map(|i| i.version.as_str()),
        Some("1.9.14")
    );
    assert_eq!(
        a.extra["endpointConfiguration"]["inboundEndpoints"][0]["frontendPort"],
        50001
    );

    // The spec's example: nodes whose start task completed.
    let nodes = batch
        .list_nodes("poolId", Some("id,state,startTaskInfo,runningTasksCount"))
        .await
        .expect("example nodes");
    assert_eq!(nodes.len(), 2);
    let n = &nodes[0];
    assert_eq!(n.id, "tvm-1695681911_1-20161122t193202z");
    assert_eq!(n.vm_size.as_deref(), Some("Standard_D2_v5"));
    assert_eq!(
        n.start_task.as_ref().map(|s| s.command_line.as_str()),
        Some("cmd /c echo hello")
    );
    let sti = n.start_task_info.as_ref().expect("startTaskInfo");
    assert_eq!(sti.state, StartTaskState::Completed);
    assert_eq!(sti.exit_code, Some(0));
    assert_eq!(sti.retry_count, 0);
    assert_eq!(sti.start_time, t("2025-11-22T22:22:27.2236818Z"));
    assert_eq!(sti.end_time, Some(t("2025-11-22T22:22:27.567189Z")));
    assert!(sti.failure_info.is_none());

    let seen = server.seen();
    assert_eq!(
        seen[1].param("$select").as_deref(),
        Some("id,state,startTaskInfo,runningTasksCount")
    );
}

fn tasks_to_add(ids: &[&str]) -> Vec<Task> {
    ids.iter()
        .map(|id| Task {
            id: (*id).to_string(),
            command_line: "cmd /c dir /s".into(),
            ..Task::default()
        })
        .collect()
}

#[tokio::test]
async fn add_tasks_reads_recorded_collection_results() {
    let server = Server::start(|r, _| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/jobs/xplatJobForTaskTests/addtaskcollection") => {
            Reply::batch_fixture("task_add_collection.json")
        }
        ("POST", "/jobs/testjob/addtaskcollection") => {
            Reply::batch_fixture("task_add_collection_mixed.json")
        }
        _ => Reply::not_found(),
    })
    .await;
    let batch = server.batch_client();

    // The service writes "Success" (recorded): TaskAddStatus::Success.
    let results = batch
        .add_tasks(
            "xplatJobForTaskTests",
            &tasks_to_add(&["xplatTask3", "xplatTask2", "xplatTask1"]),
        )
        .await
        .expect("recorded collection result");
    let got: Vec<(&str, &TaskAddStatus, Option<&str>)> = results
        .iter()
        .map(|r| (r.task_id.as_str(), &r.status, r.e_tag.as_deref()))
        .collect();
    let ok = &TaskAddStatus::Success;
    assert_eq!(
        got,
        [
            ("xplatTask2", ok, Some("0x8DB77E9635B0BE3")),
            ("xplatTask3", ok, Some("0x8DB77E9635B3303")),
            ("xplatTask1", ok, Some("0x8DB77E9635B5A11")),
        ]
    );
    assert!(results.iter().all(|r| r.error.is_none()));
    assert_eq!(
        results[0].location.as_deref(),
        Some(
            "https://clibatch000002.eastus.batch.azure.com/jobs/xplatJobForTaskTests/tasks/xplatTask2"
        )
    );
    assert_eq!(
        results[2].last_modified,
        Some(t("2023-06-28T15:07:28.1073681Z"))
    );
    let sent: Value = serde_json::from_slice(&server.seen()[0].body).expect("request body");
    let sent_ids: Vec<&str> = sent["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(sent_ids, ["xplatTask3", "xplatTask2", "xplatTask1"]);

    // The documented mixed answer: two added, one "ClientError" TaskExists, which the client
    // counts as added (a retried add that had in fact succeeded).
    let raw: TaskAddCollectionResult =
        serde_json::from_value(fixture_json("task_add_collection_mixed.json")).expect("decodes");
    let third = &raw.value[2];
    assert_eq!(
        (third.task_id.as_str(), &third.status),
        ("mytask3", &TaskAddStatus::ClientError)
    );
    let err: &ErrorBody = third.error.as_ref().expect("error");
    assert_eq!(err.code, "TaskExists");
    let msg = err.message.as_ref().expect("message");
    assert_eq!(msg.lang, "en-US");
    assert_eq!(
        msg.value.lines().next(),
        Some("The specified task already exists.")
    );

    let results = batch
        .add_tasks("testjob", &tasks_to_add(&["mytask1", "mytask2", "mytask3"]))
        .await
        .expect("documented collection result");
    let got: Vec<(&str, &TaskAddStatus, bool)> = results
        .iter()
        .map(|r| (r.task_id.as_str(), &r.status, r.error.is_none()))
        .collect();
    let ok = &TaskAddStatus::Success;
    assert_eq!(
        got,
        [
            ("mytask2", ok, true),
            ("mytask1", ok, true),
            ("mytask3", ok, true)
        ]
    );
}

#[tokio::test]
async fn list_task_files_reads_content_length_strings() {
    let server = Server::start(|r, _| match r.path.as_str() {
        "/jobs/batch98930ae3/tasks/test_task/files" => Reply::batch_fixture("task_files.json"),
        "/jobs/jobId/tasks/taskId/files" => Reply::batch_fixture("task_files_spec.json"),
        _ => Reply::not_found(),
    })
    .await;
    let batch = server.batch_client();

    let files = batch
        .list_task_files("batch98930ae3", "test_task", false)
        .await
        .expect("recorded file list decodes");
    let names: Vec<(&str, bool)> = files
        .iter()
        .map(|f| (f.name.as_str(), f.is_directory))
        .collect();
    assert_eq!(
        names,
        [("wd", true), ("stderr.txt", false), ("certs", true)]
    );
    assert!(files[0].properties.is_none());
    let p = files[1].properties.as_ref().expect("properties");
    assert_eq!(p.content_length, 0);
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.file_mode.as_deref(), Some("0o100644"));
    assert_eq!(p.last_modified, t("2020-11-23T23:23:57.609389Z"));
    assert_eq!(p.creation_time, None);

    let files = batch
        .list_task_files("jobId", "taskId", true)
        .await
        .expect("example file list decodes");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].name, "startup\\ProcessEnv.cmd");
    let p = files[0].properties.as_ref().expect("properties");
    assert_eq!(p.content_length, 1813);
    assert_eq!(p.creation_time, Some(t("2014-09-19T21:56:17.679195Z")));
    assert_eq!(p.content_type.as_deref(), Some("application/octet-stream"));
    assert_eq!(
        files[1].properties.as_ref().map(|p| p.content_length),
        Some(0)
    );

    let seen = server.seen();
    assert_eq!(seen[0].param("recursive").as_deref(), Some("false"));
    assert_eq!(seen[1].param("recursive").as_deref(), Some("true"));
}

#[tokio::test]
async fn recorded_error_body_becomes_a_service_error() {
    let server =
        Server::start(|_, _| Reply::batch_json(412, fixture_bytes("error_body.json"))).await;
    let e = server
        .batch_client()
        .get_job("cli-test-job-1")
        .await
        .expect_err("412");
    match &e {
        BatchError::Service {
            status,
            code,
            message,
            account,
            ..
        } => {
            assert_eq!(*status, 412);
            assert_eq!(code, "ConditionNotMet");
            assert_eq!(account, "clibatch000002");
            assert_eq!(
                message.lines().collect::<Vec<_>>(),
                [
                    "The condition specified using HTTP conditional header(s) is not met.",
                    "RequestId:dcba8837-c8af-4f08-bc98-cb4ea13cc4d1",
                    "Time:2024-10-24T01:15:20.9159077Z",
                ]
            );
        }
        other => panic!("expected a service error, got {other:?}"),
    }
    assert_eq!((e.status(), e.code()), (Some(412), Some("ConditionNotMet")));
    assert_eq!(
        e.to_string(),
        "get job cli-test-job-1: 412 ConditionNotMet: The condition specified using HTTP conditional header(s) is not met."
    );
    assert_eq!(server.seen().len(), 1, "412 is not retried");
}

// ---------------------------------------------------------------------------------------------
// Blob Storage

const PAGE1_MARKER: &str =
    "2!68!MDAwMDA3IWJsb2JfYTMhMDAwMDI4ITk5OTktMTItMzFUMjM6NTk6NTkuOTk5OTk5OVoh";

#[tokio::test]
async fn list_blobs_decodes_recorded_pages() {
    let server = Server::start(|r, _| {
        match (
            r.path.as_str(),
            r.param("comp").as_deref(),
            r.param("marker"),
        ) {
            ("/devstoreaccount1/input", Some("list"), None) => {
                Reply::xml(200, fixture_bytes("list_blobs_page1.xml"))
            }
            ("/devstoreaccount1/input", Some("list"), Some(m)) if m == PAGE1_MARKER => {
                Reply::xml(200, fixture_bytes("list_blobs.xml"))
            }
            _ => Reply::storage_error(
                404,
                "ContainerNotFound",
                "storage_error_container_not_found.xml",
            ),
        }
    })
    .await;
    let blobs = server
        .storage_client()
        .list_blobs("input", None)
        .await
        .expect("recorded listing decodes");
    let got: Vec<(&str, u64, Option<&str>)> = blobs
        .iter()
        .map(|b| (b.name.as_str(), b.size, b.content_md5.as_deref()))
        .collect();
    let md5 = Some("XrY7u+Ae7tCTyyK7j1rNww==");
    assert_eq!(
        got,
        [
            ("blob_a1", 11, md5),
            ("blob_a2", 11, md5),
            ("blob1", 11, md5),
            ("blob2", 11, md5),
        ]
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one request per page: {seen:?}");
    assert!(seen.iter().all(|r| r.method == "GET"));
    assert_eq!(seen[0].param("restype").as_deref(), Some("container"));
    assert_eq!(seen[1].param("marker").as_deref(), Some(PAGE1_MARKER));
}

#[tokio::test]
async fn recorded_storage_errors_name_their_code() {
    let server = Server::start(|r, _| match (r.method.as_str(), r.path.as_str()) {
        ("HEAD", "/devstoreaccount1/missing") => {
            // A HEAD answer has no body: the code comes only in the header.
            let mut reply = Reply::storage_error(
                404,
                "ContainerNotFound",
                "storage_error_container_not_found.xml",
            );
            reply.body.clear();
            reply
        }
        (_, "/devstoreaccount1/missing") => Reply::storage_error(
            404,
            "ContainerNotFound",
            "storage_error_container_not_found.xml",
        ),
        // The same recorded body without the header: the code comes from the XML.
        (_, "/devstoreaccount1/bodyonly") => {
            Reply::xml(404, fixture_bytes("storage_error_container_not_found.xml"))
        }
        ("PUT", "/devstoreaccount1/existing") => Reply::storage_error(
            409,
            "ContainerAlreadyExists",
            "storage_error_container_exists.xml",
        ),
        ("GET", "/devstoreaccount1/output/result.txt") => {
            Reply::storage_error(404, "BlobNotFound", "storage_error_blob_not_found.xml")
        }
        _ => Reply::xml(500, Vec::new()),
    })
    .await;
    let storage = server.storage_client();

    let e = storage
        .list_blobs("missing", None)
        .await
        .expect_err("no such container");
    match &e {
        StorageError::Service {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!(*status, 404);
            assert_eq!(code, "ContainerNotFound");
            assert_eq!(message, "The specified container does not exist.");
        }
        other => panic!("expected a service error, got {other:?}"),
    }
    let line = e.to_string();
    assert!(
        line.contains("container 'missing' does not exist") && line.contains("ContainerNotFound"),
        "{line}"
    );

    let e = storage
        .list_blobs("bodyonly", None)
        .await
        .expect_err("no such container");
    assert_eq!(
        (e.status(), e.code(), e.message()),
        (
            Some(404),
            Some("ContainerNotFound"),
            Some("The specified container does not exist.")
        )
    );

    assert_eq!(
        storage
            .create_container("existing")
            .await
            .expect("409 is fine"),
        ContainerCreated::AlreadyExisted
    );
    assert_eq!(
        storage
            .delete_container("missing")
            .await
            .expect("404 is fine"),
        ContainerDeleted::NotFound
    );
    assert!(!storage.container_exists("missing").await.expect("HEAD 404"));

    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("result.txt");
    let e = storage
        .download_to_file("output", "result.txt", &dest, false)
        .await
        .expect_err("no such blob");
    assert_eq!(
        (e.status(), e.code(), e.message()),
        (
            Some(404),
            Some("BlobNotFound"),
            Some("The specified blob does not exist.")
        )
    );
    let line = e.to_string();
    assert!(
        line.contains("blob 'result.txt' does not exist in container 'output'"),
        "{line}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "no file left behind"
    );
}
