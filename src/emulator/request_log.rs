//! The request log (`batchdeck emulator --request-log FILE`): one JSON line per request with
//! the service, method, path, query (signatures redacted), how the request authenticated
//! (`SharedKey`, `Bearer`, `SAS`, `UserDelegationSAS` or `none`) and the status. It holds
//! no secret: a token, key or signature is never written, only which kind was presented.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::azure::auth::redact_url;
use crate::emulator::EmulatorError;
use crate::emulator::faults::Service;

/// The log file, if one was asked for.
#[derive(Clone, Default)]
pub(super) struct RequestLog(Option<Arc<Mutex<std::fs::File>>>);

impl RequestLog {
    pub(super) fn open(path: Option<&Path>) -> Result<RequestLog, EmulatorError> {
        let Some(path) = path else {
            return Ok(RequestLog(None));
        };
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| EmulatorError::DataDir {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(RequestLog(Some(Arc::new(Mutex::new(f)))))
    }
}

/// How a request presents its credentials, by kind only.
pub fn auth_kind(authorization: Option<&str>, query: &str) -> &'static str {
    if let Some(a) = authorization {
        let scheme = a.split_whitespace().next().unwrap_or("");
        return match scheme.to_ascii_lowercase().as_str() {
            "bearer" => "Bearer",
            "sharedkey" | "sharedkeylite" => "SharedKey",
            _ => "other",
        };
    }
    let has = |k: &str| {
        query.split('&').any(|p| {
            p.split('=')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(k))
        })
    };
    match (has("sig"), has("skoid")) {
        (true, true) => "UserDelegationSAS",
        (true, false) => "SAS",
        _ => "none",
    }
}

pub(super) async fn record(
    axum::extract::State(log): axum::extract::State<RequestLog>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(file) = log.0.clone() else {
        return next.run(req).await;
    };
    let service = match req.extensions().get::<Service>() {
        Some(Service::Batch) => "batch",
        _ => "blob",
    };
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = auth_kind(
        req.headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        &query,
    );
    let resp = next.run(req).await;
    let line = serde_json::json!({
        "service": service,
        "method": method,
        "path": path,
        "query": redact_url(&query),
        "auth": auth,
        "status": resp.status().as_u16(),
    });
    if let Ok(mut f) = file.lock() {
        let _ = writeln!(f, "{line}");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_without_their_secrets() {
        assert_eq!(auth_kind(Some("Bearer eyJ.x.y"), ""), "Bearer");
        assert_eq!(auth_kind(Some("SharedKey a:b"), ""), "SharedKey");
        assert_eq!(auth_kind(None, "sv=1&sig=abc"), "SAS");
        assert_eq!(
            auth_kind(None, "skoid=o&sktid=t&sig=abc"),
            "UserDelegationSAS"
        );
        assert_eq!(auth_kind(None, "restype=container"), "none");
        assert_eq!(redact_url("sv=1&sig=abc"), "sv=1&sig=REDACTED");
    }
}
