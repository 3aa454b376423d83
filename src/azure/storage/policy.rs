//! `azure_core` pipeline policies: Storage Shared Key signing of each attempt, a Microsoft
//! Entra ID token on each attempt, a bound on the wait for each attempt's response headers, a
//! call's extra headers, and what the service says it is (its `Server` header).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use chrono::Utc;

use super::client::ServiceSeen;
use crate::azure::auth::entra::EntraCredential;
use crate::azure::auth::{RequestParts, Service, SharedKeyCredential, http_date};

/// Signs each attempt of a request with Storage Shared Key: sets `x-ms-date` (fresh on every
/// retry), `Content-Length` of a non-empty body, and `Authorization`.
#[derive(Debug)]
pub struct SharedKeyPolicy {
    cred: SharedKeyCredential,
}

impl SharedKeyPolicy {
    pub fn new(cred: SharedKeyCredential) -> Self {
        Self { cred }
    }

    /// Adds `x-ms-date`, `content-length` and `authorization` to `request`.
    pub fn sign(&self, request: &mut Request) {
        request.insert_header("x-ms-date", http_date(Utc::now()));
        if let Some(len) = request.body().len()
            && len > 0
        {
            request.insert_header("content-length", len.to_string());
        }
        let method = request.method().to_string();
        let url = request.url().clone();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter(|(k, _)| !k.as_str().eq_ignore_ascii_case("authorization"))
            .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
            .collect();
        let parts = RequestParts {
            method: &method,
            raw_path: url.path(),
            raw_query: url.query().unwrap_or(""),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        };
        let value = self.cred.authorization(Service::Blob, &parts);
        request.insert_header("authorization", value);
    }
}

#[async_trait::async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        self.sign(request);
        send_next(ctx, request, next, "signing").await
    }
}

/// Authorizes each attempt with a bearer token from the shared token cache (fetched again
/// when it nears its end), with `x-ms-date`; a 401 drops the cached token so that the next
/// request gets a new one. The SDK's own bearer policy refuses `http://` endpoints, which the
/// emulator and Azurite use; this one does not.
#[derive(Debug)]
pub struct BearerPolicy {
    cred: EntraCredential,
}

impl BearerPolicy {
    pub fn new(cred: EntraCredential) -> Self {
        Self { cred }
    }
}

#[async_trait::async_trait]
impl Policy for BearerPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let token =
            self.cred.token().await.map_err(|e| {
                azure_core::Error::with_message(ErrorKind::Credential, e.to_string())
            })?;
        request.insert_header("x-ms-date", http_date(Utc::now()));
        request.insert_header("authorization", token.authorization());
        let response = send_next(ctx, request, next, "bearer").await?;
        if u16::from(response.status()) == 401 {
            self.cred.forget().await;
        }
        Ok(response)
    }
}

/// Bounds the wait for a response's headers on each attempt; a timeout counts as an I/O
/// error, which the retry loop retries.
#[derive(Debug)]
pub(super) struct ResponseTimeoutPolicy {
    pub(super) timeout: Duration,
}

#[async_trait::async_trait]
impl Policy for ResponseTimeoutPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let sent = send_next(ctx, request, next, "timeout");
        match tokio::time::timeout(self.timeout, sent).await {
            Ok(r) => r,
            Err(_) => Err(azure_core::Error::with_message(
                ErrorKind::Io,
                format!("no response within {} s", self.timeout.as_secs()),
            )),
        }
    }
}

/// Headers for one call that the SDK's options cannot carry (`x-ms-content-crc64` on a
/// single-shot upload, `x-ms-range-get-content-crc64` on a download), set as a value of the
/// call's `Context`; [`ExtraHeadersPolicy`] adds them to the request, before it is signed.
#[derive(Debug, Clone)]
pub(super) struct ExtraHeaders(pub(super) Vec<(&'static str, String)>);

/// Adds a call's [`ExtraHeaders`] (a per-call policy: it runs once, before the retries).
#[derive(Debug)]
pub(super) struct ExtraHeadersPolicy;

#[async_trait::async_trait]
impl Policy for ExtraHeadersPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        if let Some(ExtraHeaders(headers)) = ctx.value::<ExtraHeaders>() {
            for (name, value) in headers {
                request.insert_header(*name, value.clone());
            }
        }
        send_next(ctx, request, next, "extra headers").await
    }
}

/// Notes what the service says it is, from the `Server` header of each answer (a per-call
/// policy): Azurite answers `Azurite-Blob/<version>`, Azure `Windows-Azure-Blob/1.0 …` (as
/// batchdeck's emulator does). Uploads choose their checksum by it (`TransferChecksum::Auto`).
#[derive(Debug)]
pub(super) struct ServerHeaderPolicy {
    pub(super) seen: Arc<AtomicU8>,
}

impl ServerHeaderPolicy {
    /// The [`ServiceSeen`] of an answer's `Server` header.
    fn service(server: Option<&str>) -> ServiceSeen {
        match server {
            Some(s) if s.starts_with("Azurite-Blob/") => ServiceSeen::Azurite,
            _ => ServiceSeen::Other,
        }
    }
}

#[async_trait::async_trait]
impl Policy for ServerHeaderPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let response = send_next(ctx, request, next, "server header").await?;
        let server = response
            .headers()
            .get_optional_str(&HeaderName::from_static("server"));
        self.seen
            .store(Self::service(server) as u8, Ordering::Relaxed);
        Ok(response)
    }
}

/// Sends `request` down the rest of the pipeline: a policy must not be the last one.
async fn send_next(
    ctx: &Context<'_>,
    request: &mut Request,
    next: &[Arc<dyn Policy>],
    which: &str,
) -> PolicyResult {
    let Some((first, rest)) = next.split_first() else {
        return Err(azure_core::Error::with_message(
            ErrorKind::Other,
            format!("the {which} policy must not be the last one in a pipeline"),
        ));
    };
    first.send(ctx, request, rest).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::storage::{DEV_ACCOUNT, DEV_KEY};
    use azure_core::http::Url;

    #[test]
    fn signing_policy_signs_what_is_sent() {
        let cred = SharedKeyCredential::new(DEV_ACCOUNT, DEV_KEY).unwrap();
        let policy = SharedKeyPolicy::new(cred.clone());
        let url = Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/c/b?comp=block&blockid=YWJj%2B%2F%3D",
        )
        .unwrap();
        let mut req = Request::new(url.clone(), azure_core::http::Method::Put);
        req.insert_header("x-ms-version", "2026-04-06");
        req.set_body(azure_core::Bytes::from_static(b"hello"));
        policy.sign(&mut req);
        let hdr = |name: &str| {
            req.headers()
                .iter()
                .find(|(k, _)| k.as_str() == name)
                .map(|(_, v)| v.as_str().to_string())
        };
        assert_eq!(hdr("content-length").as_deref(), Some("5"));
        assert!(hdr("x-ms-date").is_some());
        let authz = hdr("authorization").unwrap();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.as_str().to_string()))
            .collect();
        let parts = RequestParts {
            method: "PUT",
            raw_path: url.path(),
            raw_query: url.query().unwrap(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect(),
        };
        assert!(cred.verify_authorization(Service::Blob, &parts, &authz));
        // Signing again (a retry) replaces the header rather than adding a second one.
        policy.sign(&mut req);
        assert_eq!(
            req.headers()
                .iter()
                .filter(|(k, _)| k.as_str() == "authorization")
                .count(),
            1
        );
    }
}
