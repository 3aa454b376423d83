//! Shared Key (the signature over the raw path and query, and a request time within 15
//! minutes of the server's), unless disabled; or a Microsoft Entra ID bearer token of the
//! emulator's Entra ID (signature, audience, issuer, lifetime), refused with 401 and a
//! `WWW-Authenticate` challenge naming the authority.

use axum::http::{HeaderMap, Method, StatusCode};
use chrono::Utc;

use crate::azure::auth::{RequestParts, Service, parse_http_date};
use crate::emulator::batch::BatchService;
use crate::emulator::batch::error::ApiError;
use crate::emulator::entra::{self, BATCH_AUDIENCE};

fn auth_failed(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
    )
    .with("AuthenticationErrorDetail", detail)
}

/// Shared Key over the raw path and query, with `ocp-date` (or `Date`) within 15 minutes.
pub(super) fn authorize(
    svc: &BatchService,
    method: &Method,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let get = |n: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| *v)
    };
    let Some(auth) = get("authorization") else {
        return Err(auth_failed("The Authorization header was not found."));
    };
    if let Some(token) = entra::bearer(auth) {
        let Some(e) = svc.entra.get() else {
            return Err(auth_failed(
                "Bearer tokens are not accepted here: use SharedKey.",
            ));
        };
        let audiences = [BATCH_AUDIENCE, "https://batch.core.windows.net"];
        return match e.validate(token, &audiences, Utc::now()) {
            Ok(_) => Ok(()),
            Err(te) => {
                let detail = match te {
                    entra::TokenError::Audience => format!(
                        "The access token has been obtained from wrong audience or resource. It should exactly match (including forward slash) with one of the allowed audiences '{BATCH_AUDIENCE}'. {}",
                        te.detail()
                    ),
                    other => other.detail().to_string(),
                };
                let mut err = auth_failed(&detail);
                err.status = StatusCode::UNAUTHORIZED;
                err.challenge = Some(entra::challenge(e, BATCH_AUDIENCE));
                Err(err)
            }
        };
    }
    if !svc.config.batch_shared_key {
        return Err(auth_failed(
            "The specified type of authentication SharedKey is not allowed for this account.",
        ));
    }
    let date = get("ocp-date")
        .or_else(|| get("date"))
        .ok_or_else(|| auth_failed("The request has no ocp-date or Date header."))?;
    let when = parse_http_date(date)
        .ok_or_else(|| auth_failed("The ocp-date or Date header is not a valid HTTP date."))?;
    if (Utc::now() - when).num_seconds().abs() > 15 * 60 {
        return Err(auth_failed(
            "The request time is more than 15 minutes away from the server time.",
        ));
    }
    let parts = RequestParts {
        method: method.as_str(),
        raw_path,
        raw_query,
        headers: pairs.clone(),
    };
    if svc
        .credential()
        .verify_authorization(Service::Batch, &parts, auth)
    {
        Ok(())
    } else {
        Err(auth_failed(
            "The MAC signature found in the HTTP request is not the same as any computed signature.",
        ))
    }
}
