//! A Batch client for tests that speak the REST API directly: raw paths and JSON bodies,
//! signed with batchdeck's Shared Key code (or deliberately not), blocking.

use std::time::{Duration, Instant};

use batchdeck::azure::auth::{RequestParts, Service, SharedKeyCredential, http_date};
use chrono::Utc;
use serde_json::Value;

use super::{BATCH_ACCOUNT, BATCH_KEY, EmulatorProcess};

pub struct Client {
    pub base: String,
    pub cred: SharedKeyCredential,
    pub http: reqwest::Client,
    pub rt: std::sync::Arc<tokio::runtime::Runtime>,
}

impl Client {
    pub fn new(emu: &EmulatorProcess) -> Client {
        Client {
            base: emu.batch_endpoint.clone(),
            cred: SharedKeyCredential::new(BATCH_ACCOUNT, BATCH_KEY).unwrap(),
            http: reqwest::Client::new(),
            rt: std::sync::Arc::new(tokio::runtime::Runtime::new().unwrap()),
        }
    }

    /// Sends a signed request; `path_query` is raw (encoded) path plus query.
    pub fn send_with(
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

    pub fn send(&self, method: &str, path_query: &str, body: Option<&Value>) -> (u16, Value) {
        self.send_with(method, path_query, body, Utc::now(), true)
    }

    pub fn wait(&self, what: &str, path_query: &str, pred: impl Fn(&Value) -> bool) -> Value {
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
