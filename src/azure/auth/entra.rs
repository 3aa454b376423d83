//! Microsoft Entra ID tokens from Microsoft's `azure_identity` credentials, tried in the order
//! users expect from the Azure SDKs' `DefaultAzureCredential`:
//!
//! 1. the environment's service principal: `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` with
//!    `AZURE_CLIENT_SECRET`, with `AZURE_CLIENT_CERTIFICATE_PATH` (a PEM certificate and key,
//!    see [`super::certificate`]), or with `AZURE_FEDERATED_TOKEN_FILE` (workload identity);
//! 2. managed identity (App Service, or the VM's IMDS endpoint, probed briefly);
//! 3. the developer tools: the Azure CLI (`az login`), then the Azure Developer CLI
//!    (`azd auth login`).
//!
//! `AZURE_TOKEN_CREDENTIALS` narrows the chain as in the other Azure SDKs: `dev` (developer
//! tools only), `prod` (environment and managed identity), or one credential's name.
//!
//! The first source that yields a token is kept for every later request. Tokens are cached per
//! scope, shared by every request of every client built on the same [`Entra`], and fetched
//! again five minutes before they expire (one fetch at a time per scope). A token is never
//! logged, printed or put in an error: [`Token`]'s `Debug` shows no secret, and errors carry
//! only what the credentials and Entra said.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, Secret, TokenCredential};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    AzureCliCredential, AzureDeveloperCliCredential, ClientSecretCredential,
    ManagedIdentityCredential, WorkloadIdentityCredential,
};

/// The scope of Azure Batch's data plane (its audience has a trailing slash, hence `//`).
pub const BATCH_SCOPE: &str = "https://batch.core.windows.net//.default";
/// The scope of Azure Storage's data plane.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// A token is fetched again when less than this is left of its life.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// How long managed identity may take to answer when nothing says the machine has one (the
/// Azure SDKs probe IMDS with a short timeout too).
const IMDS_PROBE: Duration = Duration::from_secs(2);

/// Why no token could be had. Messages are one line and carry no token.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EntraError {
    #[error(
        "not signed in to Microsoft Entra ID: run `az login` (or `azd auth login`), or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal (tried: {tried})"
    )]
    NotSignedIn { tried: String },
    #[error("{source_name} could not get a Microsoft Entra ID token for {scope}: {message}")]
    Refused {
        source_name: &'static str,
        scope: String,
        message: String,
    },
    #[error("{0}")]
    Config(String),
}

/// A bearer token. `Debug` shows only its expiry.
#[derive(Clone)]
pub struct Token {
    secret: Secret,
    pub expires_on: OffsetDateTime,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"<redacted>")
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

impl Token {
    /// The `Authorization` header value. Never log it.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.secret.secret())
    }

    /// The raw token. Never log it.
    pub fn expose(&self) -> &str {
        self.secret.secret()
    }

    fn fresh(&self) -> bool {
        let margin = azure_core::time::Duration::try_from(REFRESH_MARGIN)
            .unwrap_or(azure_core::time::Duration::minutes(5));
        self.expires_on > OffsetDateTime::now_utc() + margin
    }
}

/// Which kind of credential a source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// `AZURE_CLIENT_SECRET` with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`.
    ClientSecret {
        tenant: String,
        client_id: String,
    },
    /// `AZURE_CLIENT_CERTIFICATE_PATH` with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`.
    ClientCertificate {
        tenant: String,
        client_id: String,
    },
    /// `AZURE_FEDERATED_TOKEN_FILE` with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID`.
    WorkloadIdentity {
        tenant: String,
        client_id: String,
    },
    ManagedIdentity,
    AzureCli,
    AzureDeveloperCli,
}

impl SourceKind {
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::ClientSecret { .. } | SourceKind::ClientCertificate { .. } => {
                "the environment's service principal"
            }
            SourceKind::WorkloadIdentity { .. } => "workload identity",
            SourceKind::ManagedIdentity => "managed identity",
            SourceKind::AzureCli => "the Azure CLI (az login)",
            SourceKind::AzureDeveloperCli => "the Azure Developer CLI (azd auth login)",
        }
    }

    /// A configured source's failure is the answer; an unavailable one lets the next try.
    fn is_configured(&self) -> bool {
        matches!(
            self,
            SourceKind::ClientSecret { .. }
                | SourceKind::ClientCertificate { .. }
                | SourceKind::WorkloadIdentity { .. }
        )
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKind::ClientSecret { tenant, client_id } => write!(
                f,
                "service principal {client_id} of tenant {tenant} (AZURE_CLIENT_SECRET)"
            ),
            SourceKind::ClientCertificate { tenant, client_id } => write!(
                f,
                "service principal {client_id} of tenant {tenant} (AZURE_CLIENT_CERTIFICATE_PATH)"
            ),
            SourceKind::WorkloadIdentity { tenant, client_id } => write!(
                f,
                "workload identity {client_id} of tenant {tenant} (AZURE_FEDERATED_TOKEN_FILE)"
            ),
            other => f.write_str(other.name()),
        }
    }
}

/// One credential of the chain.
#[derive(Clone)]
pub struct Source {
    pub kind: SourceKind,
    credential: Arc<dyn TokenCredential>,
    /// A bound on one attempt (managed identity's probe), if any.
    timeout: Option<Duration>,
}

impl Source {
    pub fn new(kind: SourceKind, credential: Arc<dyn TokenCredential>) -> Source {
        Source {
            kind,
            credential,
            timeout: None,
        }
    }
}

/// The chain of sources, the one that worked, and the tokens per scope.
pub struct Entra {
    sources: Vec<Source>,
    chosen: Mutex<Option<usize>>,
    cache: tokio::sync::Mutex<HashMap<String, Token>>,
    fetches: AtomicU64,
}

impl fmt::Debug for Entra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entra")
            .field(
                "sources",
                &self
                    .sources
                    .iter()
                    .map(|s| s.kind.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Entra {
    /// The chain the environment `var` describes (see the module's documentation).
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Arc<Entra>, EntraError> {
        let only = var("AZURE_TOKEN_CREDENTIALS").map(|v| v.trim().to_ascii_lowercase());
        let wants = |group: &str, name: &str| match only.as_deref() {
            None => true,
            Some(v) => v == group || v == name.to_ascii_lowercase(),
        };
        if let Some(v) = only.as_deref()
            && ![
                "dev",
                "prod",
                "environmentcredential",
                "workloadidentitycredential",
                "managedidentitycredential",
                "azureclicredential",
                "azuredeveloperclicredential",
            ]
            .contains(&v)
        {
            return Err(EntraError::Config(format!(
                "AZURE_TOKEN_CREDENTIALS={v} is not known: use dev, prod, EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential, AzureCliCredential or AzureDeveloperCliCredential"
            )));
        }
        let credential_error =
            |what: &str, e: azure_core::Error| EntraError::Config(format!("{what}: {e}"));
        let mut sources = Vec::new();
        let (tenant, client_id) = (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID"));
        if let (Some(tenant), Some(client_id)) = (&tenant, &client_id) {
            if let Some(secret) = var("AZURE_CLIENT_SECRET")
                && wants("prod", "EnvironmentCredential")
            {
                let c = ClientSecretCredential::new(
                    tenant,
                    client_id.clone(),
                    Secret::new(secret),
                    None,
                )
                .map_err(|e| credential_error("AZURE_CLIENT_SECRET", e))?;
                sources.push(Source::new(
                    SourceKind::ClientSecret {
                        tenant: tenant.clone(),
                        client_id: client_id.clone(),
                    },
                    c,
                ));
            } else if let Some(path) = var("AZURE_CLIENT_CERTIFICATE_PATH")
                && wants("prod", "EnvironmentCredential")
            {
                let authority = var("AZURE_AUTHORITY_HOST")
                    .unwrap_or_else(|| super::certificate::PUBLIC_AUTHORITY.into());
                let c = super::certificate::credential(
                    std::path::Path::new(&path),
                    tenant,
                    client_id,
                    &authority,
                )
                .map_err(EntraError::Config)?;
                sources.push(Source::new(
                    SourceKind::ClientCertificate {
                        tenant: tenant.clone(),
                        client_id: client_id.clone(),
                    },
                    c,
                ));
            }
            if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE")
                && wants("prod", "WorkloadIdentityCredential")
                && sources.is_empty()
            {
                let c = WorkloadIdentityCredential::new(Some(
                    azure_identity::WorkloadIdentityCredentialOptions {
                        tenant_id: Some(tenant.clone()),
                        client_id: Some(client_id.clone()),
                        token_file_path: Some(file.into()),
                        ..Default::default()
                    },
                ))
                .map_err(|e| credential_error("AZURE_FEDERATED_TOKEN_FILE", e))?;
                sources.push(Source::new(
                    SourceKind::WorkloadIdentity {
                        tenant: tenant.clone(),
                        client_id: client_id.clone(),
                    },
                    c,
                ));
            }
        }
        if wants("prod", "ManagedIdentityCredential") {
            let options = client_id.clone().and_then(|id| {
                // A user-assigned identity is named by AZURE_CLIENT_ID when no service
                // principal uses it.
                sources
                    .is_empty()
                    .then(|| azure_identity::ManagedIdentityCredentialOptions {
                        user_assigned_id: Some(azure_identity::UserAssignedId::ClientId(id)),
                        ..Default::default()
                    })
            });
            let c = ManagedIdentityCredential::new(options)
                .map_err(|e| credential_error("managed identity", e))?;
            let announced = var("IDENTITY_ENDPOINT").is_some() || var("MSI_ENDPOINT").is_some();
            sources.push(Source {
                kind: SourceKind::ManagedIdentity,
                credential: c,
                timeout: (!announced).then_some(IMDS_PROBE),
            });
        }
        if wants("dev", "AzureCliCredential") {
            let c = AzureCliCredential::new(Some(azure_identity::AzureCliCredentialOptions {
                tenant_id: tenant.clone().filter(|_| client_id.is_none()),
                ..Default::default()
            }))
            .map_err(|e| credential_error("AZURE_TENANT_ID", e))?;
            sources.push(Source::new(SourceKind::AzureCli, c));
        }
        if wants("dev", "AzureDeveloperCliCredential") {
            let c =
                AzureDeveloperCliCredential::new(None).map_err(|e| credential_error("azd", e))?;
            sources.push(Source::new(SourceKind::AzureDeveloperCli, c));
        }
        Ok(Entra::with_sources(sources))
    }

    /// A chain of the given sources (tests give their own).
    pub fn with_sources(sources: Vec<Source>) -> Arc<Entra> {
        Arc::new(Entra {
            sources,
            chosen: Mutex::new(None),
            cache: tokio::sync::Mutex::new(HashMap::new()),
            fetches: AtomicU64::new(0),
        })
    }

    /// What will be tried, in order, or the source that worked.
    pub fn describe(&self) -> String {
        if let Some(i) = self.chosen() {
            return self.sources[i].kind.to_string();
        }
        let names: Vec<String> = self.sources.iter().map(|s| s.kind.to_string()).collect();
        if names.is_empty() {
            "no credential (AZURE_TOKEN_CREDENTIALS excludes them all)".into()
        } else {
            names.join(", then ")
        }
    }

    fn chosen(&self) -> Option<usize> {
        *self.chosen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many tokens were fetched from the sources (not served from the cache).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A token for `scope`: the cached one while it has more than [`REFRESH_MARGIN`] left,
    /// else a new one (callers for the same scope wait for that one fetch).
    pub async fn token(&self, scope: &str) -> Result<Token, EntraError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.get(scope)
            && t.fresh()
        {
            return Ok(t.clone());
        }
        let token = self.fetch(scope).await?;
        cache.insert(scope.to_string(), token.clone());
        Ok(token)
    }

    /// Forgets the cached token of `scope` (after the service refused it).
    pub async fn forget(&self, scope: &str) {
        self.cache.lock().await.remove(scope);
    }

    async fn fetch(&self, scope: &str) -> Result<Token, EntraError> {
        let order: Vec<usize> = match self.chosen() {
            Some(i) => vec![i],
            None => (0..self.sources.len()).collect(),
        };
        let mut tried = Vec::new();
        for i in order {
            let source = &self.sources[i];
            let scopes = [scope];
            let attempt = source.credential.get_token(&scopes, None);
            let result = match source.timeout {
                Some(limit) => match tokio::time::timeout(limit, attempt).await {
                    Ok(r) => r,
                    Err(_) => {
                        tried.push(format!(
                            "{}: no answer within {} s",
                            source.kind.name(),
                            limit.as_secs()
                        ));
                        continue;
                    }
                },
                None => attempt.await,
            };
            match result {
                Ok(AccessToken { token, expires_on }) => {
                    self.fetches.fetch_add(1, Ordering::Relaxed);
                    *self.chosen.lock().unwrap_or_else(|p| p.into_inner()) = Some(i);
                    tracing::info!(source = %source.kind, scope, "got a Microsoft Entra ID token");
                    return Ok(Token {
                        secret: token,
                        expires_on,
                    });
                }
                Err(e) => {
                    let message = one_line(&e);
                    tracing::debug!(source = %source.kind, %message, "no token");
                    if source.kind.is_configured() || self.chosen().is_some() {
                        return Err(EntraError::Refused {
                            source_name: source.kind.name(),
                            scope: scope.to_string(),
                            message,
                        });
                    }
                    tried.push(format!("{}: {}", source.kind.name(), brief(&message)));
                }
            }
        }
        Err(EntraError::NotSignedIn {
            tried: if tried.is_empty() {
                "nothing".into()
            } else {
                tried.join("; ")
            },
        })
    }

    /// A handle on this chain's tokens for one scope.
    pub fn scoped(self: &Arc<Self>, scope: &'static str) -> EntraCredential {
        EntraCredential {
            entra: self.clone(),
            scope,
        }
    }
}

/// The credential's message on one line, without the SDK's troubleshooting link.
fn one_line(e: &azure_core::Error) -> String {
    let text = e.to_string();
    let text = text
        .split("To troubleshoot, visit")
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    text.trim_end_matches(['.', ' ']).to_string()
}

/// The gist of why an unconfigured source is unavailable.
fn brief(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("az login") || m.contains("azd auth login") || m.contains("not logged in") {
        "not signed in".into()
    } else if m.contains("not found on path") || m.contains("wasn't found on path") {
        "not installed".into()
    } else {
        let cut: String = message.chars().take(160).collect();
        cut
    }
}

/// The tokens of one [`Entra`] chain for one scope (Batch or Storage).
#[derive(Clone, Debug)]
pub struct EntraCredential {
    entra: Arc<Entra>,
    scope: &'static str,
}

impl EntraCredential {
    pub fn scope(&self) -> &'static str {
        self.scope
    }

    pub fn chain(&self) -> &Arc<Entra> {
        &self.entra
    }

    pub async fn token(&self) -> Result<Token, EntraError> {
        self.entra.token(self.scope).await
    }

    pub async fn forget(&self) {
        self.entra.forget(self.scope).await
    }
}

/// Why a service refused a token, from its error detail and `WWW-Authenticate` header; the
/// same reading serves Batch and Storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Expired,
    /// Issued for another resource.
    Audience,
    /// Issued by another tenant than the account's; the account's tenant when the service
    /// named it (in `WWW-Authenticate`'s `authorization_uri`).
    Tenant {
        account_tenant: Option<String>,
    },
    Other,
}

impl Refusal {
    pub fn read(detail: &str, www_authenticate: Option<&str>) -> Refusal {
        let d = detail.to_ascii_lowercase();
        if d.contains("expired") || d.contains("expiry") || d.contains("lifetime") {
            Refusal::Expired
        } else if d.contains("audience") {
            Refusal::Audience
        } else if d.contains("issuer") || d.contains("tenant") {
            Refusal::Tenant {
                account_tenant: www_authenticate.and_then(authority_tenant),
            }
        } else {
            Refusal::Other
        }
    }

    /// What to do about it, for a service whose token scope is `scope`.
    pub fn advice(&self, scope: &str) -> String {
        match self {
            Refusal::Expired => "the token has expired: sign in again (`az login`) and check the machine's clock".into(),
            Refusal::Audience => format!(
                "the token was issued for another resource (audience): it must be requested for scope {scope}"
            ),
            Refusal::Tenant {
                account_tenant: Some(t),
            } => format!(
                "the token is from another tenant than the account's ({t}): sign in to that tenant (`az login --tenant {t}`, or AZURE_TENANT_ID={t})"
            ),
            Refusal::Tenant { account_tenant: None } => "the token is from another tenant than the account's: sign in to the account's tenant (`az login --tenant ...`, or AZURE_TENANT_ID)".into(),
            Refusal::Other => "sign in again (`az login`) or check the service principal".into(),
        }
    }
}

/// The tenant of `Bearer authorization_uri=https://login.microsoftonline.com/{tenant}/...`.
pub fn authority_tenant(www_authenticate: &str) -> Option<String> {
    let uri = www_authenticate
        .split([' ', ','])
        .find_map(|p| p.trim().strip_prefix("authorization_uri="))?
        .trim_matches('"');
    let url = url::Url::parse(uri).ok()?;
    let tenant = url.path_segments()?.next()?.to_string();
    (!tenant.is_empty()).then_some(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[derive(Debug)]
    struct Fake {
        calls: AtomicUsize,
        lifetime: azure_core::time::Duration,
        fail: Option<&'static str>,
    }

    #[async_trait::async_trait]
    impl TokenCredential for Fake {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(f) = self.fail {
                return Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    f,
                ));
            }
            Ok(AccessToken::new(
                format!("secret-{}-{n}", scopes[0]),
                OffsetDateTime::now_utc() + self.lifetime,
            ))
        }
    }

    fn fake(lifetime_s: i64, fail: Option<&'static str>) -> Arc<Fake> {
        Arc::new(Fake {
            calls: AtomicUsize::new(0),
            lifetime: azure_core::time::Duration::seconds(lifetime_s),
            fail,
        })
    }

    #[tokio::test]
    async fn one_fetch_serves_every_request_until_the_token_nears_its_end() {
        let long = fake(3600, None);
        let entra = Entra::with_sources(vec![Source::new(SourceKind::AzureCli, long.clone())]);
        let batch = entra.scoped(BATCH_SCOPE);
        // 50 requests at once share one fetch.
        let tokens = futures::future::join_all((0..50).map(|_| batch.token())).await;
        assert!(
            tokens
                .iter()
                .all(|t| t.as_ref().unwrap().expose() == tokens[0].as_ref().unwrap().expose())
        );
        assert_eq!(long.calls.load(Ordering::SeqCst), 1);
        // Another scope is another token.
        entra.scoped(STORAGE_SCOPE).token().await.unwrap();
        assert_eq!(long.calls.load(Ordering::SeqCst), 2);

        // A token with less than the margin left is fetched again on every use.
        let short = fake(240, None);
        let entra = Entra::with_sources(vec![Source::new(SourceKind::AzureCli, short.clone())]);
        let a = entra.token(BATCH_SCOPE).await.unwrap();
        let b = entra.token(BATCH_SCOPE).await.unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(short.calls.load(Ordering::SeqCst), 2);
        assert!(!format!("{a:?}").contains("secret-"));
    }

    #[tokio::test]
    async fn the_first_source_that_answers_is_kept_and_failures_are_named() {
        let az = fake(3600, Some("ERROR: Please run 'az login' to setup account."));
        let azd = fake(3600, None);
        let entra = Entra::with_sources(vec![
            Source::new(SourceKind::AzureCli, az.clone()),
            Source::new(SourceKind::AzureDeveloperCli, azd.clone()),
        ]);
        entra.token(BATCH_SCOPE).await.unwrap();
        entra.token(STORAGE_SCOPE).await.unwrap();
        assert_eq!(
            az.calls.load(Ordering::SeqCst),
            1,
            "not asked again once azd answered"
        );
        assert_eq!(azd.calls.load(Ordering::SeqCst), 2);
        assert!(entra.describe().contains("Azure Developer CLI"));

        let none = Entra::with_sources(vec![
            Source::new(
                SourceKind::AzureCli,
                fake(0, Some("ERROR: Please run 'az login' to setup account.")),
            ),
            Source::new(
                SourceKind::AzureDeveloperCli,
                fake(0, Some("azd not found on PATH")),
            ),
        ]);
        let e = none.token(BATCH_SCOPE).await.unwrap_err().to_string();
        assert!(
            e.starts_with("not signed in to Microsoft Entra ID: run `az login`"),
            "{e}"
        );
        assert!(e.contains("Azure CLI (az login): not signed in"), "{e}");
        assert!(
            e.contains("Azure Developer CLI (azd auth login): not installed"),
            "{e}"
        );

        // A configured service principal's refusal is the answer; nothing else is tried.
        let later = fake(3600, None);
        let sp = Entra::with_sources(vec![
            Source::new(
                SourceKind::ClientSecret {
                    tenant: "t".into(),
                    client_id: "c".into(),
                },
                fake(0, Some("AADSTS7000215: Invalid client secret provided.")),
            ),
            Source::new(SourceKind::AzureCli, later.clone()),
        ]);
        let e = sp.token(STORAGE_SCOPE).await.unwrap_err().to_string();
        assert!(e.contains("AADSTS7000215"), "{e}");
        assert_eq!(later.calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn refusals_are_read_from_the_detail_and_the_challenge() {
        let challenge = "Bearer authorization_uri=https://login.microsoftonline.com/aaaa-1/oauth2/authorize resource_id=https://storage.azure.com";
        assert_eq!(authority_tenant(challenge).as_deref(), Some("aaaa-1"));
        assert_eq!(
            Refusal::read(
                "Issuer validation failed. Issuer did not match.",
                Some(challenge)
            ),
            Refusal::Tenant {
                account_tenant: Some("aaaa-1".into())
            }
        );
        assert_eq!(
            Refusal::read("Lifetime validation failed. The token is expired.", None),
            Refusal::Expired
        );
        assert_eq!(
            Refusal::read("Audience validation failed. Audience did not match.", None),
            Refusal::Audience
        );
        assert!(
            Refusal::Audience
                .advice(STORAGE_SCOPE)
                .contains(STORAGE_SCOPE)
        );
    }

    #[test]
    fn the_environment_orders_the_chain() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let kinds = |e: Arc<Entra>| e.sources.iter().map(|s| s.kind.name()).collect::<Vec<_>>();
        let all = Entra::from_env(&env(&[
            ("AZURE_TENANT_ID", "72f988bf-0000-4000-8000-000000000001"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]))
        .unwrap();
        assert_eq!(
            kinds(all),
            [
                "the environment's service principal",
                "managed identity",
                "the Azure CLI (az login)",
                "the Azure Developer CLI (azd auth login)"
            ]
        );
        let dev = Entra::from_env(&env(&[("AZURE_TOKEN_CREDENTIALS", "dev")])).unwrap();
        assert_eq!(
            kinds(dev),
            [
                "the Azure CLI (az login)",
                "the Azure Developer CLI (azd auth login)"
            ]
        );
        let cli =
            Entra::from_env(&env(&[("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")])).unwrap();
        assert_eq!(kinds(cli), ["the Azure CLI (az login)"]);
        assert!(Entra::from_env(&env(&[("AZURE_TOKEN_CREDENTIALS", "nope")])).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "federated").unwrap();
        let file: &'static str = Box::leak(file.to_string_lossy().into_owned().into_boxed_str());
        let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
            ("AZURE_TENANT_ID", "72f988bf-0000-4000-8000-000000000001"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_FEDERATED_TOKEN_FILE", file),
            ("AZURE_TOKEN_CREDENTIALS", "prod"),
        ]));
        let wi = Entra::from_env(&env(pairs)).unwrap();
        assert_eq!(kinds(wi), ["workload identity", "managed identity"]);
        // A certificate comes after a secret, as in the SDKs' EnvironmentCredential.
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let cert = rcgen::CertificateParams::default()
            .self_signed(&key)
            .unwrap();
        let pem = dir.path().join("sp.pem");
        std::fs::write(&pem, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
        let pem: &'static str = Box::leak(pem.to_string_lossy().into_owned().into_boxed_str());
        let with_cert = |secret: bool| {
            let mut pairs = vec![
                ("AZURE_TENANT_ID", "72f988bf-0000-4000-8000-000000000001"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_CERTIFICATE_PATH", pem),
                ("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential"),
            ];
            if secret {
                pairs.push(("AZURE_CLIENT_SECRET", "s"));
            }
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(pairs.into_boxed_slice());
            Entra::from_env(&env(pairs)).unwrap().describe()
        };
        assert_eq!(
            with_cert(false),
            "service principal c of tenant 72f988bf-0000-4000-8000-000000000001 (AZURE_CLIENT_CERTIFICATE_PATH)"
        );
        assert!(with_cert(true).ends_with("(AZURE_CLIENT_SECRET)"));
    }
}
