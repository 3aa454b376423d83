//! The authority's endpoints: `POST /{tenant}/oauth2/v2.0/token` (client credentials, with a
//! client secret or a client assertion), `GET /{tenant}/v2.0/.well-known/openid-configuration`
//! and `GET /{tenant}/discovery/v2.0/keys`; and a managed identity endpoint in App Service's
//! protocol, `GET /msi/token` (what `IDENTITY_ENDPOINT` names there). Errors come in Entra's shape: `error`,
//! `error_description` starting with the AADSTS code, `error_codes`, `timestamp`, `trace_id`,
//! `correlation_id`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::{
    APPS, DEV_TENANT_ID, EntraService, FEDERATION_AUDIENCE, IDENTITY_HEADER, OTHER_TENANT_ID, app,
};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub fn router(entra: Arc<EntraService>) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/msi/token", get(managed_identity_token))
        .with_state(entra)
}

fn entra_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let now = Utc::now();
    let body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description} Trace ID: {} Correlation ID: {} Timestamp: {}",
            uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), now.format("%Y-%m-%d %H:%M:%SZ")),
        "error_codes": [code],
        "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": uuid::Uuid::new_v4().to_string(),
        "correlation_id": uuid::Uuid::new_v4().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

fn known_tenant(tenant: &str) -> bool {
    tenant == DEV_TENANT_ID || tenant == OTHER_TENANT_ID
}

async fn token(
    State(entra): State<Arc<EntraService>>,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !known_tenant(&tenant) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("client_credentials") {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type: the local Entra ID serves the client credentials grant only.",
        );
    }
    let Some(client_id) = get("client_id") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(app) = app(client_id) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        );
    };
    let Some(scope) = get("scope") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };
    let Some(audience) = scope.trim().strip_suffix("/.default") else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    };
    match (
        get("client_secret"),
        get("client_assertion_type"),
        get("client_assertion"),
    ) {
        (Some(secret), _, _) => {
            if secret != app.client_secret {
                return entra_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    &format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                    ),
                );
            }
        }
        (None, Some(ASSERTION_TYPE), Some(assertion)) if signed_by_certificate(assertion) => {
            let endpoint = format!("{}/{tenant}/oauth2/v2.0/token", entra.authority_host());
            let now = Utc::now().timestamp();
            let checked = match entra.app_certificate(client_id) {
                Some(c) => c.check_assertion(client_id, &endpoint, assertion, now),
                None => Err(super::app_cert::AssertionRefused {
                    code: 700027,
                    description: "The application has no certificate registered.".into(),
                }),
            };
            if let Err(why) = checked {
                return entra_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    why.code,
                    &why.description,
                );
            }
        }
        (None, Some(ASSERTION_TYPE), Some(assertion)) => {
            if let Err(why) = check_assertion(&entra, app.federated_subject, assertion) {
                return entra_error(StatusCode::UNAUTHORIZED, "invalid_client", 700213, why);
            }
        }
        _ => {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            );
        }
    }
    let lifetime = entra.token_lifetime;
    let access_token = entra.issue(app, &tenant, audience, Utc::now(), lifetime);
    tracing::debug!(client_id, %tenant, audience, "token issued");
    axum::Json(serde_json::json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    }))
    .into_response()
}

/// Whether a client assertion names a certificate (`x5t`): a service principal's own, signed
/// with its certificate's key; otherwise it is a federated token (workload identity).
fn signed_by_certificate(assertion: &str) -> bool {
    super::jwt::header(assertion).is_some_and(|h| !h.x5t.is_empty() || !h.x5t_s256.is_empty())
}

/// A workload identity's assertion: a token of the federated issuer (the emulator) for
/// `api://AzureADTokenExchange`, whose subject is the one the app's federated credential
/// names, and not expired.
fn check_assertion(
    entra: &EntraService,
    subject: &str,
    assertion: &str,
) -> Result<(), &'static str> {
    let claims = entra
        .key
        .verify(assertion)
        .map_err(|_| "The client assertion's signature is not valid for any federated credential of the app.")?;
    if claims.aud != FEDERATION_AUDIENCE {
        return Err("The client assertion's audience must be api://AzureADTokenExchange.");
    }
    if claims.iss != entra.federation_issuer() || claims.sub != subject {
        return Err(
            "No matching federated identity record found for the presented assertion issuer and subject.",
        );
    }
    if claims.exp < Utc::now().timestamp() {
        return Err("The client assertion has expired.");
    }
    Ok(())
}

async fn openid_configuration(
    State(entra): State<Arc<EntraService>>,
    Path(tenant): Path<String>,
) -> Response {
    if !known_tenant(&tenant) {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let host = entra.authority_host();
    axum::Json(serde_json::json!({
        "token_endpoint": format!("{host}/{tenant}/oauth2/v2.0/token"),
        "authorization_endpoint": format!("{host}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{host}/{tenant}/oauth2/v2.0/devicecode"),
        "jwks_uri": format!("{host}/{tenant}/discovery/v2.0/keys"),
        "issuer": entra.issuer(&tenant),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "WW",
        "cloud_instance_name": "batchdeck.local",
    }))
    .into_response()
}

async fn keys(State(entra): State<Arc<EntraService>>) -> Response {
    axum::Json(serde_json::json!({ "keys": [entra.key.jwk()] })).into_response()
}

/// A managed identity's token, in App Service's protocol (api-version 2019-08-01): the
/// `X-IDENTITY-HEADER` secret, `resource` (a scope without `/.default`), and optionally the
/// `client_id` of a user-assigned identity (a registered app; else the system-assigned one,
/// `batchdeck-local`). The answer carries `expires_on` as a string of epoch seconds.
async fn managed_identity_token(
    State(entra): State<Arc<EntraService>>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let refuse = |status: StatusCode, message: String| {
        (
            status,
            axum::Json(serde_json::json!({ "statusCode": status.as_u16(), "message": message })),
        )
            .into_response()
    };
    let secret = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    if secret != Some(IDENTITY_HEADER) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "The X-IDENTITY-HEADER is missing or does not match IDENTITY_HEADER.".into(),
        );
    }
    let Some(resource) = q.get("resource").filter(|r| !r.is_empty()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The request must name a resource.".into(),
        );
    };
    let identity = match q.get("client_id") {
        Some(id) => app(id),
        None => APPS.first(),
    };
    let Some(identity) = identity else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Unable to load the proper Managed Identity.".into(),
        );
    };
    let lifetime = entra.token_lifetime;
    let now = Utc::now();
    let expires_on = now.timestamp() + i64::try_from(lifetime.as_secs()).unwrap_or(3600);
    axum::Json(serde_json::json!({
        "access_token": entra.issue(identity, DEV_TENANT_ID, resource, now, lifetime),
        "expires_on": expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": identity.client_id,
    }))
    .into_response()
}
