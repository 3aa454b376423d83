//! Microsoft Entra ID end to end: the tutorial on an emulator whose keys are disabled
//! (`--disable-shared-key`), signed in (a) as a service principal from the environment and
//! (b) through the Azure CLI (a stand-in `az` on PATH that gets its token from the emulator),
//! with no key in any request (the emulator's request log says how each authenticated); each
//! bad sign-in with its one line; and the emulator's side as the services answer (missing and
//! bad tokens, roles, Get User Delegation Key, user delegation SAS). No output, log or error
//! shows a token, a secret or a key.
mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use batchdeck::emulator::entra::{
    self, APPS, BATCH_AUDIENCE, DEV_TENANT_ID, EntraService, OTHER_TENANT_ID, STORAGE_AUDIENCE,
};
use common::outputs::{assert_outputs, repo_inputs};
use common::sandbox::{Sandbox, assert_refused, stderr, stdout};
use common::{BATCH_KEY, EmulatorProcess, STORAGE_KEY, run_sdk_script};

const LOCAL: &entra::App = &APPS[0];
const READER: &entra::App = &APPS[1];

/// An emulator that refuses account keys, logging every request.
fn keyless_emulator(sb: &Sandbox, which: &str) -> EmulatorProcess {
    let log = sb.path("requests.jsonl");
    EmulatorProcess::start(
        &sb.path("emu"),
        &[
            &format!("--disable-shared-key={which}"),
            "--request-log",
            log.to_str().unwrap(),
        ],
    )
}

/// The environment of a service principal pointed at the emulator's authority.
fn service_principal(
    emu: &EmulatorProcess,
    app: &entra::App,
    tenant: &str,
) -> Vec<(String, String)> {
    vec![
        ("AZURE_TENANT_ID".into(), tenant.into()),
        ("AZURE_CLIENT_ID".into(), app.client_id.into()),
        ("AZURE_CLIENT_SECRET".into(), app.client_secret.into()),
        ("AZURE_AUTHORITY_HOST".into(), emu.authority_host.clone()),
        ("SSL_CERT_FILE".into(), emu.ca_cert.display().to_string()),
    ]
}

/// The environment of a user signed in with the Azure CLI: the stand-in `az` first on PATH,
/// its login in AZURE_CONFIG_DIR (none when `login` is None); only the developer tools are
/// tried (AZURE_TOKEN_CREDENTIALS=dev), so no managed identity endpoint is probed.
fn azure_cli(sb: &Sandbox, login: Option<serde_json::Value>) -> Vec<(String, String)> {
    let config = sb.path("azure");
    std::fs::create_dir_all(&config).unwrap();
    if let Some(login) = login {
        std::fs::write(config.join("stand-in-login.json"), login.to_string()).unwrap();
    }
    let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/az-stand-in");
    vec![
        (
            "PATH".into(),
            format!("{}:{}", stand_in.display(), std::env::var("PATH").unwrap()),
        ),
        ("AZURE_CONFIG_DIR".into(), config.display().to_string()),
        ("AZURE_TOKEN_CREDENTIALS".into(), "dev".into()),
    ]
}

/// A login of the stand-in `az` that gets tokens from the emulator for `app`.
fn login(emu: &EmulatorProcess, app: &entra::App) -> serde_json::Value {
    serde_json::json!({
        "authority_host": emu.authority_host,
        "tenant": DEV_TENANT_ID,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "ca_file": emu.ca_cert,
    })
}

/// A login that hands out `token` as it is.
fn login_with_token(token: &str) -> serde_json::Value {
    serde_json::json!({
        "tenant": DEV_TENANT_ID,
        "access_token": token,
        "expires_on": chrono::Utc::now().timestamp() + 3600,
    })
}

/// The emulator's Entra ID, opened on its data directory (the same keys), to mint tokens a
/// broken sign-in would give.
fn issuer(emu: &EmulatorProcess) -> EntraService {
    let e = EntraService::open(&emu.data_dir.join("entra"), Duration::from_secs(3600)).unwrap();
    e.set_authority_host(emu.authority_host.clone());
    e
}

fn run(sb: &Sandbox, extra: &[&str], env: &[(String, String)]) -> Output {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sb.run(extra, &env)
}

/// What authenticated each request the emulator logged.
fn auth_kinds(sb: &Sandbox) -> Vec<String> {
    std::fs::read_to_string(sb.path("requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["auth"].as_str().unwrap().to_string()
        })
        .collect()
}

/// No token (a JWT starts with `eyJ`), client secret or account key in `texts`.
fn assert_no_secret(texts: &[&str]) {
    for (i, t) in texts.iter().enumerate() {
        assert!(!t.contains("eyJ"), "text {i} shows a token:\n{t}");
        for secret in [
            LOCAL.client_secret,
            READER.client_secret,
            BATCH_KEY,
            STORAGE_KEY,
        ] {
            assert!(!t.contains(secret), "text {i} shows a secret");
        }
    }
}

fn endpoints(emu: &EmulatorProcess) -> Vec<String> {
    vec![
        "--auth".into(),
        "entra".into(),
        "--batch-endpoint".into(),
        emu.batch_endpoint.clone(),
        "--storage-endpoint".into(),
        emu.blob_endpoint.clone(),
    ]
}

fn assert_keyless_tutorial(sb: &Sandbox, o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
    assert_outputs(
        &sb.output_dir(),
        &repo_inputs(),
        3,
        "PythonTutorialJob",
        "PythonTutorialPool",
    );
    let kinds = auth_kinds(sb);
    assert!(kinds.len() > 20, "{kinds:?}");
    for k in &kinds {
        assert!(
            k == "Bearer" || k == "UserDelegationSAS",
            "a request authenticated with {k}"
        );
    }
    // The nodes fetched the inputs and wrote the outputs with user delegation SAS.
    assert!(
        kinds.iter().filter(|k| *k == "UserDelegationSAS").count() >= 7,
        "{kinds:?}"
    );
    assert_no_secret(&[&stdout(o), &stderr(o), &sb.log()]);
}

#[test]
fn the_tutorial_runs_on_a_service_principal_with_keys_disabled() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    // An account endpoint without a key means Entra ID: no --auth needed.
    let mut env = service_principal(&emu, LOCAL, DEV_TENANT_ID);
    env.push(("AZURE_BATCH_ACCOUNT".into(), "devbatch".into()));
    env.push(("AZURE_BATCH_ENDPOINT".into(), emu.batch_endpoint.clone()));
    env.push(("AZURE_STORAGE_ACCOUNT".into(), "devstoreaccount1".into()));
    let o = run(
        &sb,
        &[
            "--storage-endpoint",
            &emu.blob_endpoint,
            "--delete-job",
            "--delete-pool",
        ],
        &env,
    );
    assert_keyless_tutorial(&sb, &o);
    // `info` names the credential; `info --check` calls both services with it.
    let mut info = sb.command(&["info", "--check", "--storage-endpoint", &emu.blob_endpoint]);
    info.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let out = info.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "batch credential:   Microsoft Entra ID: service principal {} of tenant {DEV_TENANT_ID}",
            LOCAL.client_id
        )),
        "{text}"
    );
    assert!(text.contains("check batch: ok"), "{text}");
    assert!(
        text.contains("check storage: ok: account devstoreaccount1 answered (Microsoft Entra ID; a user delegation key was granted)"),
        "{text}"
    );
    assert_no_secret(&[&text]);
}

#[test]
fn the_tutorial_runs_on_the_azure_cli_credential_with_keys_disabled() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let mut env = azure_cli(&sb, Some(login(&emu, LOCAL)));
    env.push(("SSL_CERT_FILE".into(), emu.ca_cert.display().to_string()));
    let mut args: Vec<String> = endpoints(&emu);
    args.extend(["--delete-job".into(), "--delete-pool".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&sb, &args, &env);
    assert_keyless_tutorial(&sb, &o);
    assert!(
        sb.log().contains("the Azure CLI (az login)"),
        "the log names the source of the token"
    );
}

/// The one line, and nothing created.
fn refused(sb: &Sandbox, emu: &EmulatorProcess, env: &[(String, String)], needles: &[&str]) {
    let args = endpoints(emu);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(sb, &args, env);
    assert_refused(&o, needles, sb, None);
    assert_no_secret(&[&stdout(&o), &stderr(&o), &sb.log()]);
}

#[test]
fn not_signed_in_says_to_run_az_login() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let env = azure_cli(&sb, None);
    refused(
        &sb,
        &emu,
        &env,
        &[
            "not signed in to Microsoft Entra ID: run `az login`",
            "the Azure CLI (az login): not signed in",
        ],
    );
}

/// A sign-in that hands out a token minted for `audience` at `issued`: refused with `needles`.
fn refused_with_token(audience: &str, issued: chrono::DateTime<chrono::Utc>, needles: &[&str]) {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let token = issuer(&emu).issue(
        LOCAL,
        DEV_TENANT_ID,
        audience,
        issued,
        Duration::from_secs(3600),
    );
    let env = azure_cli(&sb, Some(login_with_token(&token)));
    refused(&sb, &emu, &env, needles);
}

#[test]
fn an_expired_token_is_named_as_expired() {
    refused_with_token(
        BATCH_AUDIENCE,
        chrono::Utc::now() - chrono::Duration::hours(3),
        &[
            "refused the Microsoft Entra ID token (401",
            "the token has expired: sign in again (`az login`) and check the machine's clock",
        ],
    );
}

#[test]
fn a_token_for_another_resource_names_the_scope() {
    refused_with_token(
        "https://management.azure.com",
        chrono::Utc::now(),
        &[
            "refused the Microsoft Entra ID token (401",
            "issued for another resource (audience)",
            "it must be requested for scope https://",
        ],
    );
}

#[test]
fn a_token_of_another_tenant_names_the_accounts_tenant() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let env = service_principal(&emu, LOCAL, OTHER_TENANT_ID);
    refused(
        &sb,
        &emu,
        &env,
        &[
            "refused the Microsoft Entra ID token (401",
            &format!("from another tenant than the account's ({DEV_TENANT_ID})"),
            &format!("az login --tenant {DEV_TENANT_ID}"),
        ],
    );
}

#[test]
fn a_missing_storage_role_is_named() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let env = service_principal(&emu, READER, DEV_TENANT_ID);
    refused(
        &sb,
        &emu,
        &env,
        &[
            "the signed-in identity lacks a data role on storage account 'devstoreaccount1'",
            "(403 AuthorizationPermissionMismatch)",
            "assign it Storage Blob Data Contributor",
        ],
    );
}

#[test]
fn keys_where_keys_are_disabled_say_to_use_auth_entra() {
    for (which, needles) in [
        (
            "storage",
            [
                "storage account 'devstoreaccount1' does not allow key-based authentication (403 KeyBasedAuthenticationNotPermitted)",
                "use --auth entra",
            ],
        ),
        (
            "batch",
            [
                "Batch account 'devbatch' does not allow Shared Key authentication (403 AuthenticationFailed)",
                "use --auth entra",
            ],
        ),
    ] {
        let sb = Sandbox::new();
        let emu = keyless_emulator(&sb, which);
        // The endpoint flags alone mean the well-known accounts and their keys.
        let o = sb.run(
            &[
                "--batch-endpoint",
                &emu.batch_endpoint,
                "--storage-endpoint",
                &emu.blob_endpoint,
            ],
            &[],
        );
        assert_refused(&o, &needles, &sb, None);
        assert_no_secret(&[&stdout(&o), &stderr(&o), &sb.log()]);
    }
}

// ---------------------------------------------------------------------------------------------
// The emulator's side, request by request.

/// An HTTP client that trusts the emulator's CA (as SSL_CERT_FILE makes batchdeck do).
fn http(emu: &EmulatorProcess) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&emu.ca_cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap()
}

/// A token from the emulator's token endpoint, over HTTPS.
fn token_from_endpoint(
    emu: &EmulatorProcess,
    app: &entra::App,
    scope: &str,
) -> (u16, serde_json::Value) {
    let r = http(emu)
        .post(format!(
            "{}/{DEV_TENANT_ID}/oauth2/v2.0/token",
            emu.authority_host
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", app.client_id)
                .append_pair("client_secret", app.client_secret)
                .append_pair("scope", scope)
                .finish(),
        )
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn the_token_endpoint_answers_in_entras_shape() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let (status, body) = token_from_endpoint(&emu, LOCAL, "https://storage.azure.com/.default");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let claims = entra::jwt::peek(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.aud, STORAGE_AUDIENCE);
    assert_eq!(claims.tid, DEV_TENANT_ID);
    assert_eq!(claims.oid, LOCAL.object_id);
    assert_eq!(
        claims.iss,
        format!("{}/{DEV_TENANT_ID}/v2.0", emu.authority_host)
    );
    assert!(claims.exp > chrono::Utc::now().timestamp() + 3000);
    // A wrong secret, an unknown app, a scope without /.default.
    let wrong = entra::App {
        client_secret: "not-the-secret",
        ..*LOCAL
    };
    let (status, body) = token_from_endpoint(&emu, &wrong, "https://storage.azure.com/.default");
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"][0], 7000215);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: ")
    );
    let unknown = entra::App {
        client_id: "00000000-0000-4000-8000-000000000000",
        ..*LOCAL
    };
    let (status, body) = token_from_endpoint(&emu, &unknown, "https://storage.azure.com/.default");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body) =
        token_from_endpoint(&emu, LOCAL, "https://storage.azure.com/user_impersonation");
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // The discovery document names the token endpoint and the issuer.
    let doc: serde_json::Value = http(&emu)
        .get(format!(
            "{}/{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration",
            emu.authority_host
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        doc["token_endpoint"],
        format!("{}/{DEV_TENANT_ID}/oauth2/v2.0/token", emu.authority_host)
    );
    // Plain HTTP is not served by the authority (azure_identity requires https anyway), and
    // the services speak both on their ports.
    let plain = reqwest::blocking::get(emu.authority_host.replace("https://", "http://") + "/x");
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    let https_batch = emu.batch_endpoint.replace("http://", "https://");
    let r = http(&emu)
        .get(format!("{https_batch}/pools?api-version=2025-06-01"))
        .send()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        403,
        "answered over TLS, refused without auth"
    );
}

#[test]
fn missing_and_bad_tokens_are_answered_as_the_services_answer_them() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let e = issuer(&emu);
    let now = chrono::Utc::now();
    let hour = Duration::from_secs(3600);
    let blob = |auth: &str| {
        http(&emu)
            .get(format!("{}/cc1?restype=container", emu.blob_endpoint))
            .header("x-ms-version", "2026-10-06")
            .header("authorization", auth)
            .send()
            .unwrap()
    };
    let batch = |auth: &str| {
        http(&emu)
            .get(format!(
                "{}/pools?api-version=2025-06-01",
                emu.batch_endpoint
            ))
            .header("authorization", auth)
            .send()
            .unwrap()
    };
    let cases = [
        (
            "expired",
            e.issue(
                LOCAL,
                DEV_TENANT_ID,
                STORAGE_AUDIENCE,
                now - chrono::Duration::hours(3),
                hour,
            ),
            "Lifetime validation failed",
        ),
        (
            "audience",
            e.issue(LOCAL, DEV_TENANT_ID, BATCH_AUDIENCE, now, hour),
            "Audience validation failed",
        ),
        (
            "issuer",
            e.issue(LOCAL, OTHER_TENANT_ID, STORAGE_AUDIENCE, now, hour),
            "Issuer validation failed",
        ),
        ("garbage", "not.a.token".to_string(), "not a valid JWT"),
    ];
    for (what, token, detail) in cases {
        let r = blob(&format!("Bearer {token}"));
        assert_eq!(r.status().as_u16(), 401, "{what}");
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            challenge,
            format!(
                "Bearer authorization_uri={}/{DEV_TENANT_ID}/oauth2/authorize resource_id=https://storage.azure.com",
                emu.authority_host
            )
        );
        assert_eq!(r.headers()["x-ms-error-code"], "InvalidAuthenticationInfo");
        let text = r.text().unwrap();
        assert!(text.contains(detail), "{what}: {text}");
    }
    // Batch: 401 AuthenticationFailed with the detail, and its challenge.
    let wrong = e.issue(LOCAL, DEV_TENANT_ID, STORAGE_AUDIENCE, now, hour);
    let r = batch(&format!("Bearer {wrong}"));
    assert_eq!(r.status().as_u16(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("resource_id=https://batch.core.windows.net/")
    );
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["code"], "AuthenticationFailed");
    assert!(
        body["values"][0]["value"]
            .as_str()
            .unwrap()
            .contains("wrong audience"),
        "{body}"
    );
    let ok = e.issue(LOCAL, DEV_TENANT_ID, BATCH_AUDIENCE, now, hour);
    assert_eq!(batch(&format!("Bearer {ok}")).status().as_u16(), 200);
    // Keys are refused as on accounts whose keys are disabled.
    let r = batch("SharedKey devbatch:c2lnbmF0dXJl");
    assert_eq!(r.status().as_u16(), 403);
    let body: serde_json::Value = r.json().unwrap();
    assert!(
        body["values"][0]["value"]
            .as_str()
            .unwrap()
            .contains("SharedKey is not allowed"),
        "{body}"
    );
    let r = blob("SharedKey devstoreaccount1:c2lnbmF0dXJl");
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["x-ms-error-code"].to_str().unwrap()
        ),
        (403, "KeyBasedAuthenticationNotPermitted")
    );
    // A SAS signed with the account key is refused the same way (a valid one: the same SAS
    // lists the container on an account that allows keys).
    let key =
        batchdeck::azure::auth::SharedKeyCredential::new("devstoreaccount1", STORAGE_KEY).unwrap();
    let sas = batchdeck::azure::auth::sign_service_sas(
        &key,
        "cc1",
        None,
        "rl",
        None,
        now + chrono::Duration::hours(1),
        batchdeck::azure::storage::SAS_VERSION,
    );
    let list = |endpoint: &str| {
        http(&emu)
            .get(format!(
                "{endpoint}/cc1?restype=container&comp=list&{}",
                sas.to_query()
            ))
            .header("x-ms-version", "2026-10-06")
            .send()
            .unwrap()
    };
    let r = list(&emu.blob_endpoint);
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["x-ms-error-code"].to_str().unwrap()
        ),
        (403, "KeyBasedAuthenticationNotPermitted")
    );
    let sb_keys = Sandbox::new();
    let with_keys = EmulatorProcess::start(&sb_keys.path("emu"), &[]);
    assert_eq!(
        list(&with_keys.blob_endpoint).headers()["x-ms-error-code"],
        "ContainerNotFound",
        "the SAS itself is valid"
    );
    // A reader may read, not write.
    let reader = e.issue(READER, DEV_TENANT_ID, STORAGE_AUDIENCE, now, hour);
    let r = http(&emu)
        .put(format!("{}/cc1?restype=container", emu.blob_endpoint))
        .header("x-ms-version", "2026-10-06")
        .header("authorization", format!("Bearer {reader}"))
        .send()
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["x-ms-error-code"].to_str().unwrap()
        ),
        (403, "AuthorizationPermissionMismatch")
    );
    assert_eq!(
        blob(&format!("Bearer {reader}")).status().as_u16(),
        404,
        "reading is allowed: the container is just not there"
    );
}

#[test]
fn user_delegation_sas_is_checked_as_the_service_checks_it() {
    use batchdeck::azure::auth::{
        Credential,
        entra::{Entra, STORAGE_SCOPE, Source, SourceKind},
    };
    use batchdeck::azure::storage::{SasPermissions, StorageClient};
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = issuer(&emu);
    // batchdeck's storage client, with a token source that hands out the emulator's token.
    #[derive(Debug)]
    struct Fixed(String);
    #[async_trait::async_trait]
    impl azure_core::credentials::TokenCredential for Fixed {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<azure_core::credentials::AccessToken> {
            Ok(azure_core::credentials::AccessToken::new(
                self.0.clone(),
                azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1),
            ))
        }
    }
    let token = e.issue(
        LOCAL,
        DEV_TENANT_ID,
        STORAGE_AUDIENCE,
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    let chain = Entra::with_sources(vec![Source::new(
        SourceKind::AzureCli,
        std::sync::Arc::new(Fixed(token)),
    )]);
    let storage = StorageClient::with_credential(
        url::Url::parse(&emu.blob_endpoint).unwrap(),
        "devstoreaccount1".into(),
        Credential::Entra(chain.scoped(STORAGE_SCOPE)),
    )
    .unwrap();
    let sas = rt.block_on(async {
        storage.create_container("udsas").await.unwrap();
        storage
            .container_sas("udsas", SasPermissions::WRITE, Duration::from_secs(600))
            .await
            .unwrap()
    });
    let url = sas.expose().to_string();
    for field in ["skoid=", "sktid=", "skt=", "ske=", "sks=b", "skv="] {
        assert!(url.contains(field), "{field} in the SAS");
    }
    let put = |u: &str| {
        let (base, q) = u.split_once('?').unwrap();
        http(&emu)
            .put(format!("{base}/blob.txt?{q}"))
            .header("x-ms-version", "2026-10-06")
            .header("x-ms-blob-type", "BlockBlob")
            .body("hello")
            .send()
            .unwrap()
    };
    assert_eq!(put(&url).status().as_u16(), 201);
    // A changed permission, another tenant, a key past its expiry: all refused.
    for (what, bad, code) in [
        (
            "permission",
            url.replace("sp=w", "sp=rw"),
            "AuthenticationFailed",
        ),
        (
            "key expiry",
            {
                let ske = url.split('&').find(|p| p.starts_with("ske=")).unwrap();
                url.replace(ske, "ske=2020-01-01T00%3A00%3A00Z")
            },
            "AuthenticationFailed",
        ),
    ] {
        let r = put(&bad);
        assert_eq!(
            (
                r.status().as_u16(),
                r.headers()["x-ms-error-code"].to_str().unwrap()
            ),
            (403, code),
            "{what}"
        );
    }
    // A key of another tenant, its SAS signed with that key's true value: refused for the
    // tenant (sktid), while the same SAS made for the account's tenant is accepted.
    let (base, q) = url.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    let fields = batchdeck::azure::auth::SasFields::from_query(&pairs).unwrap();
    let d = fields.delegation.clone().unwrap();
    let sas_for = |tid: &str| {
        let key = batchdeck::azure::auth::DelegationKey {
            oid: d.oid.clone(),
            tid: tid.to_string(),
            start: d.key_start.clone(),
            expiry: d.key_expiry.clone(),
            service: d.key_service.clone(),
            version: d.key_version.clone(),
            value: e.delegation_key_value(
                &d.oid,
                tid,
                &d.key_start,
                &d.key_expiry,
                &d.key_service,
                &d.key_version,
            ),
        };
        let f = batchdeck::azure::auth::sign_user_delegation_sas(
            &key,
            "devstoreaccount1",
            "udsas",
            None,
            "w",
            None,
            chrono::Utc::now() + chrono::Duration::minutes(10),
            &fields.version,
        );
        format!("{base}?{}", f.to_query())
    };
    assert_eq!(put(&sas_for(DEV_TENANT_ID)).status().as_u16(), 201);
    let r = put(&sas_for(OTHER_TENANT_ID));
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["x-ms-error-code"].to_str().unwrap().to_string()
        ),
        (403, "AuthenticationFailed".to_string())
    );
    let body = r.text().unwrap();
    assert!(body.contains("(sktid)"), "{body}");
    // Reading with a write-only SAS: the SAS's permissions still count.
    let (base, q) = url.split_once('?').unwrap();
    let r = http(&emu)
        .get(format!("{base}/blob.txt?{q}"))
        .header("x-ms-version", "2026-10-06")
        .send()
        .unwrap();
    assert_eq!(
        r.headers()["x-ms-error-code"],
        "AuthorizationPermissionMismatch"
    );
    // Get User Delegation Key needs a bearer token.
    let r = http(&emu)
        .post(format!(
            "{}?restype=service&comp=userdelegationkey",
            emu.blob_endpoint
        ))
        .header("x-ms-version", "2026-10-06")
        .body("<KeyInfo><Expiry>2030-01-01T00:00:00Z</Expiry></KeyInfo>")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let log = std::fs::read_to_string(sb.path("requests.jsonl")).unwrap();
    assert!(
        !log.contains("eyJ") && !log.contains(url.split("sig=").nth(1).unwrap()),
        "the request log holds no secret"
    );
}

/// Microsoft's Python azure-identity, azure-batch 15 and azure-storage-blob drive the emulator
/// with tokens (over HTTPS, trusting its CA) and user delegation SAS, keys disabled.
#[test]
fn microsofts_python_sdks_sign_in_and_use_user_delegation_sas() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let out = run_sdk_script("identity", "entra_sdk.py", &emu, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("entra conformance: all checks passed"),
        "{text}"
    );
    let kinds = auth_kinds(&sb);
    assert!(kinds.iter().all(|k| k != "SharedKey"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "UserDelegationSAS"), "{kinds:?}");
}

/// Workload identity: AZURE_FEDERATED_TOKEN_FILE holds a token of the federated issuer (the
/// emulator) for the app's subject, which the token endpoint exchanges for access tokens.
#[test]
fn workload_identity_signs_in_with_a_federated_token_file() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let file = sb.path("federated-token");
    let federated = issuer(&emu).issue_federated(
        LOCAL.federated_subject,
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    std::fs::write(&file, &federated).unwrap();
    let check = |subject_file: &Path| {
        let mut c = sb.command(&["info", "--check"]);
        c.args(endpoints(&emu))
            .env("AZURE_TENANT_ID", DEV_TENANT_ID)
            .env("AZURE_CLIENT_ID", LOCAL.client_id)
            .env("AZURE_FEDERATED_TOKEN_FILE", subject_file)
            .env("AZURE_AUTHORITY_HOST", &emu.authority_host)
            .env("SSL_CERT_FILE", &emu.ca_cert);
        c.output().unwrap()
    };
    let out = check(&file);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("workload identity"), "{text}");
    assert!(
        text.contains("check batch: ok") && text.contains("check storage: ok"),
        "{text}"
    );
    // Another subject's token is refused by the token endpoint, and said so.
    let stranger = sb.path("stranger-token");
    std::fs::write(
        &stranger,
        issuer(&emu).issue_federated(
            "system:serviceaccount:x:y",
            chrono::Utc::now(),
            Duration::from_secs(3600),
        ),
    )
    .unwrap();
    let out = check(&stranger);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success());
    assert!(
        text.contains("check batch: failed") && text.contains("AADSTS700213"),
        "{text}"
    );
    assert_no_secret(&[&text, &String::from_utf8_lossy(&out.stderr)]);
    assert!(!text.contains(&federated));
}

/// A service principal with a certificate: AZURE_CLIENT_CERTIFICATE_PATH names the PEM file
/// the emulator made for the app (certificate and key); each token request carries a client
/// assertion signed with the key, which the token endpoint checks against the app's
/// certificate. The whole tutorial runs on it with keys disabled; another app's certificate
/// is refused in Entra's words; no key material reaches an output.
#[test]
fn a_service_principal_signs_in_with_a_certificate() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let e = issuer(&emu);
    let env_with = |app_cert: &Path| -> Vec<(String, String)> {
        vec![
            ("AZURE_TENANT_ID".into(), DEV_TENANT_ID.into()),
            ("AZURE_CLIENT_ID".into(), LOCAL.client_id.into()),
            (
                "AZURE_CLIENT_CERTIFICATE_PATH".into(),
                app_cert.display().to_string(),
            ),
            ("AZURE_AUTHORITY_HOST".into(), emu.authority_host.clone()),
            ("SSL_CERT_FILE".into(), emu.ca_cert.display().to_string()),
        ]
    };
    let own = e
        .app_certificate_path(LOCAL.client_id)
        .unwrap()
        .to_path_buf();
    let pem = std::fs::read_to_string(&own).unwrap();
    let key_lines: Vec<&str> = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .unwrap()
        .lines()
        .filter(|l| l.len() > 40)
        .collect();
    let assert_no_key = |texts: &[&str]| {
        assert_no_secret(texts);
        for t in texts {
            assert!(!t.contains("PRIVATE KEY"), "{t}");
            assert!(!key_lines.iter().any(|l| t.contains(l)), "a key line shown");
        }
    };
    let env = env_with(&own);
    let mut args = endpoints(&emu);
    args.extend(["--delete-job".into(), "--delete-pool".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&sb, &args, &env);
    assert_keyless_tutorial(&sb, &o);
    assert_no_key(&[&stdout(&o), &stderr(&o), &sb.log()]);

    let check = |env: &[(String, String)]| {
        let mut c = sb.command(&["info", "--check"]);
        c.args(endpoints(&emu))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let out = c.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text, err)
    };
    let (ok, text, err) = check(&env);
    assert!(ok, "{text}{err}");
    assert!(
        text.contains(&format!(
            "service principal {} of tenant {DEV_TENANT_ID} (AZURE_CLIENT_CERTIFICATE_PATH)",
            LOCAL.client_id
        )),
        "{text}"
    );
    assert!(
        text.contains("check batch: ok") && text.contains("check storage: ok"),
        "{text}"
    );
    // The reader app's certificate is not registered on this app.
    let other = e.app_certificate_path(READER.client_id).unwrap();
    let (ok, text, err) = check(&env_with(other));
    assert!(!ok);
    assert!(
        text.contains("check batch: failed") && text.contains("AADSTS700027"),
        "{text}"
    );
    assert_no_key(&[&text, &err]);
    // A file without the key: one line naming the file, before any request.
    let cert_only = sb.path("cert-only.pem");
    std::fs::write(
        &cert_only,
        pem.split("-----BEGIN PRIVATE KEY").next().unwrap(),
    )
    .unwrap();
    let (ok, text, err) = check(&env_with(&cert_only));
    assert!(!ok);
    assert!(
        format!("{text}{err}").contains(&format!(
            "AZURE_CLIENT_CERTIFICATE_PATH {} holds no unencrypted RSA private key",
            cert_only.display()
        )),
        "{text}{err}"
    );
}

/// Managed identity, through the emulator's endpoint in App Service's protocol
/// (IDENTITY_ENDPOINT and IDENTITY_HEADER, as App Service sets them): the whole tutorial with
/// keys disabled; `info` names the source; a wrong identity header is refused and said so.
#[test]
fn managed_identity_signs_in_through_the_app_service_endpoint() {
    let sb = Sandbox::new();
    let emu = keyless_emulator(&sb, "all");
    let env_with = |header: &str| -> Vec<(String, String)> {
        vec![
            (
                "IDENTITY_ENDPOINT".into(),
                format!("{}/msi/token", emu.authority_host),
            ),
            ("IDENTITY_HEADER".into(), header.into()),
            ("AZURE_TOKEN_CREDENTIALS".into(), "prod".into()),
            ("SSL_CERT_FILE".into(), emu.ca_cert.display().to_string()),
        ]
    };
    let env = env_with(entra::IDENTITY_HEADER);
    let mut args = endpoints(&emu);
    args.extend(["--delete-job".into(), "--delete-pool".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&sb, &args, &env);
    assert_keyless_tutorial(&sb, &o);

    let check = |env: &[(String, String)]| {
        let mut c = sb.command(&["info", "--check"]);
        c.args(endpoints(&emu))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let out = c.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, text, err) = check(&env);
    assert!(ok, "{text}{err}");
    assert!(
        text.contains(
            "check batch: ok: account devbatch answered (Microsoft Entra ID: managed identity)"
        ),
        "{text}"
    );
    assert!(text.contains("check storage: ok"), "{text}");
    let (ok, text, err) = check(&env_with("not-the-header"));
    assert!(!ok);
    assert!(
        text.contains("check batch: failed")
            && text.contains("X-IDENTITY-HEADER is missing or does not match"),
        "{text}{err}"
    );
    assert_no_secret(&[&text, &err]);
    assert!(!text.contains(entra::IDENTITY_HEADER) && !text.contains("not-the-header"));
}
