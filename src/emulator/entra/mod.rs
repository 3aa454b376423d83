//! The embedded local Azure's Microsoft Entra ID: a token endpoint in Entra's shape
//! (`POST /{tenant}/oauth2/v2.0/token`, the client credentials grant with a client secret or
//! a client assertion), its OpenID configuration and signing keys, served over TLS only (as
//! `azure_identity` and MSAL require of an authority); and what the Batch and Blob services
//! ask of it: whether a bearer token is valid for them (signature, audience, issuer, expiry),
//! which data role its identity holds, and the user delegation keys of the storage account.
//!
//! Everything here is public and protects only local data, like the well-known account keys:
//! the tenants and registered apps below are documented in the README.
//!
//! - `jwt`: RS256 tokens (sign, verify, JWK);
//! - `app_cert`: the registered apps' certificates, and the check of a client assertion signed
//!   with one;
//! - `tls`: the local CA and server certificate, and the accept loop (TLS or plain per
//!   connection) every listener uses;
//! - `token`: the token endpoint and the discovery documents.

mod app_cert;
pub mod jwt;
pub mod tls;
mod token;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::azure::auth::SharedKeyCredential;
use crate::emulator::EmulatorError;
use jwt::{Claims, JwtError, SigningKey};

pub use token::router;

/// The local directory (tenant) the emulator's accounts belong to.
pub const DEV_TENANT_ID: &str = "bdecb000-0000-4000-8000-00000000000a";
/// Another directory: its tokens are valid Entra tokens, but not for these accounts (for
/// trying a tenant mismatch).
pub const OTHER_TENANT_ID: &str = "bdecb000-0000-4000-8000-00000000000b";

/// The audience of Batch tokens (the scope `https://batch.core.windows.net//.default`).
pub const BATCH_AUDIENCE: &str = "https://batch.core.windows.net/";
/// The audience of Storage tokens (the scope `https://storage.azure.com/.default`).
pub const STORAGE_AUDIENCE: &str = "https://storage.azure.com";
/// The `X-IDENTITY-HEADER` the local managed identity endpoint (`/msi/token`, App Service's
/// protocol) expects: `IDENTITY_HEADER` of the app it runs as.
pub const IDENTITY_HEADER: &str = "batchdeck-local-identity-header";
/// The audience of the federated tokens workload identity exchanges.
pub const FEDERATION_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A data role on the storage account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageRole {
    /// Storage Blob Data Reader: read and list, and user delegation keys.
    Reader,
    /// Storage Blob Data Contributor: everything the emulator serves.
    Contributor,
}

impl StorageRole {
    pub fn name(self) -> &'static str {
        match self {
            StorageRole::Reader => "Storage Blob Data Reader",
            StorageRole::Contributor => "Storage Blob Data Contributor",
        }
    }
}

/// An application registered in the local directory, with its public credentials.
#[derive(Debug, Clone, Copy)]
pub struct App {
    pub name: &'static str,
    pub client_id: &'static str,
    pub client_secret: &'static str,
    /// Its service principal's object id (`oid`).
    pub object_id: &'static str,
    /// Its role on the storage account, if any.
    pub storage_role: Option<StorageRole>,
    /// The subject its federated credential accepts (workload identity).
    pub federated_subject: &'static str,
}

/// The registered apps: `batchdeck-local` may do everything, `batchdeck-reader` only read
/// blobs (to see what a missing role looks like).
pub const APPS: [App; 2] = [
    App {
        name: "batchdeck-local",
        client_id: "bdecb001-0000-4000-8000-000000000001",
        client_secret: "batchdeck-local-secret",
        object_id: "bdecb001-0000-4000-8000-0000000000aa",
        storage_role: Some(StorageRole::Contributor),
        federated_subject: "system:serviceaccount:batchdeck:batchdeck-local",
    },
    App {
        name: "batchdeck-reader",
        client_id: "bdecb002-0000-4000-8000-000000000002",
        client_secret: "batchdeck-reader-secret",
        object_id: "bdecb002-0000-4000-8000-0000000000bb",
        storage_role: Some(StorageRole::Reader),
        federated_subject: "system:serviceaccount:batchdeck:batchdeck-reader",
    },
];

/// Why a bearer token was refused; `detail` is the service's `AuthenticationErrorDetail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    Signature,
    Expired,
    NotYetValid,
    Audience,
    Issuer,
}

impl TokenError {
    pub fn detail(&self) -> &'static str {
        match self {
            TokenError::Malformed => "The access token is not a valid JWT.",
            TokenError::Signature => {
                "Signature validation failed. The token's signature is not valid."
            }
            TokenError::Expired => "Lifetime validation failed. The token is expired.",
            TokenError::NotYetValid => "Lifetime validation failed. The token is not yet valid.",
            TokenError::Audience => "Audience validation failed. Audience did not match.",
            TokenError::Issuer => "Issuer validation failed. Issuer did not match.",
        }
    }
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub oid: String,
    pub tid: String,
    pub client_id: String,
}

/// How long the tokens the endpoint issues live, unless told otherwise.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The emulator's Entra ID: keys, certificates, and the authority it is reached at.
pub struct EntraService {
    key: SigningKey,
    /// What user delegation keys are derived from (kept in the data directory).
    delegation_secret: Vec<u8>,
    pub certificates: tls::Certificates,
    /// Each registered app's certificate, in the order of [`APPS`].
    app_certificates: Vec<app_cert::AppCertificate>,
    /// `https://127.0.0.1:PORT`, set once the listener is bound.
    authority_host: Mutex<String>,
    pub token_lifetime: Duration,
    dir: PathBuf,
}

impl std::fmt::Debug for EntraService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraService")
            .field("authority_host", &self.authority_host())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl EntraService {
    /// Opens (on the first start, makes) the keys and certificates in `dir`.
    pub fn open(dir: &Path, token_lifetime: Duration) -> Result<EntraService, EmulatorError> {
        std::fs::create_dir_all(dir).map_err(|source| EmulatorError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let bad = |path: &Path, m: String| EmulatorError::DataDir {
            path: path.to_path_buf(),
            source: std::io::Error::other(m),
        };
        let key_file = dir.join("token-signing-key.pk8");
        let key = match std::fs::read(&key_file) {
            Ok(der) => SigningKey::from_pkcs8(&der).map_err(|m| bad(&key_file, m))?,
            Err(_) => {
                let (key, der) = SigningKey::generate().map_err(|m| bad(&key_file, m))?;
                crate::util::write_atomic_as(&key_file, &der, crate::util::FileAccess::OwnerOnly)
                    .map_err(|e| bad(&key_file, e.to_string()))?;
                key
            }
        };
        let secret_file = dir.join("delegation-secret");
        let delegation_secret = match std::fs::read(&secret_file) {
            Ok(b) if b.len() == 32 => b,
            _ => {
                let b: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
                crate::util::write_atomic_as(&secret_file, &b, crate::util::FileAccess::OwnerOnly)
                    .map_err(|e| bad(&secret_file, e.to_string()))?;
                b
            }
        };
        Ok(EntraService {
            key,
            delegation_secret,
            certificates: tls::Certificates::open(dir)?,
            app_certificates: APPS
                .iter()
                .map(|app| app_cert::AppCertificate::open(dir, app))
                .collect::<Result<_, _>>()?,
            authority_host: Mutex::new(String::new()),
            token_lifetime,
            dir: dir.to_path_buf(),
        })
    }

    pub fn set_authority_host(&self, host: String) {
        *self
            .authority_host
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = host;
    }

    /// `https://127.0.0.1:PORT`: what `AZURE_AUTHORITY_HOST` should be.
    pub fn authority_host(&self) -> String {
        self.authority_host
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The issuer of `tenant`'s tokens: `{authority host}/{tenant}/v2.0`, as Entra's v2.
    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.authority_host())
    }

    /// The PEM file (certificate and private key) of the app registered with `client_id`,
    /// for `AZURE_CLIENT_CERTIFICATE_PATH`.
    pub fn app_certificate_path(&self, client_id: &str) -> Option<&Path> {
        self.app_certificate(client_id).map(|c| c.path.as_path())
    }

    fn app_certificate(&self, client_id: &str) -> Option<&app_cert::AppCertificate> {
        let i = APPS.iter().position(|a| a.client_id == client_id)?;
        self.app_certificates.get(i)
    }

    /// The local CA certificate clients must trust.
    pub fn ca_pem(&self) -> &Path {
        &self.certificates.ca_pem
    }

    /// A token for `app` in `tenant` with audience `aud`, living `lifetime` from `now`.
    pub fn issue(
        &self,
        app: &App,
        tenant: &str,
        aud: &str,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> String {
        let iat = now.timestamp();
        self.key.sign(&Claims {
            aud: aud.to_string(),
            iss: self.issuer(tenant),
            iat,
            nbf: iat - 300,
            exp: iat + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2),
            tid: tenant.to_string(),
            oid: app.object_id.to_string(),
            sub: app.object_id.to_string(),
            azp: app.client_id.to_string(),
            appid: app.client_id.to_string(),
            ver: "2.0".into(),
            name: app.name.to_string(),
        })
    }

    /// A federated token for `subject` (what a workload identity's token file holds: the
    /// emulator is the federated issuer its apps trust).
    pub fn issue_federated(&self, subject: &str, now: DateTime<Utc>, lifetime: Duration) -> String {
        let iat = now.timestamp();
        self.key.sign(&Claims {
            aud: FEDERATION_AUDIENCE.into(),
            iss: self.federation_issuer(),
            iat,
            nbf: iat - 300,
            exp: iat + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2),
            sub: subject.to_string(),
            ..Claims::default()
        })
    }

    fn federation_issuer(&self) -> String {
        format!("{}/federation", self.authority_host())
    }

    /// Checks a bearer token for a service whose audiences are `audiences`, at `now`: the
    /// signature, the lifetime, the audience, and the issuer (the local tenant's).
    pub fn validate(
        &self,
        token: &str,
        audiences: &[&str],
        now: DateTime<Utc>,
    ) -> Result<Principal, TokenError> {
        let claims = self.key.verify(token).map_err(|e| match e {
            JwtError::Malformed => TokenError::Malformed,
            JwtError::Signature => TokenError::Signature,
        })?;
        let t = now.timestamp();
        // Entra allows five minutes of clock skew.
        if claims.exp + 300 < t {
            return Err(TokenError::Expired);
        }
        if claims.nbf - 300 > t {
            return Err(TokenError::NotYetValid);
        }
        if !audiences.contains(&claims.aud.as_str()) {
            return Err(TokenError::Audience);
        }
        if claims.iss != self.issuer(DEV_TENANT_ID) || claims.tid != DEV_TENANT_ID {
            return Err(TokenError::Issuer);
        }
        Ok(Principal {
            oid: claims.oid,
            tid: claims.tid,
            client_id: claims.appid,
        })
    }

    /// The storage role of the identity `oid` holds, if any.
    pub fn storage_role(&self, oid: &str) -> Option<StorageRole> {
        APPS.iter()
            .find(|a| a.object_id == oid)
            .and_then(|a| a.storage_role)
    }

    /// The value of the user delegation key with these signed fields: derived from them
    /// with the emulator's secret, so that a SAS signed with it can be checked from the
    /// SAS's own `skoid`, `sktid`, `skt`, `ske`, `sks` and `skv`, without keeping keys.
    pub fn delegation_key_value(
        &self,
        oid: &str,
        tid: &str,
        start: &str,
        expiry: &str,
        service: &str,
        version: &str,
    ) -> Vec<u8> {
        use base64::Engine as _;
        let derive = SharedKeyCredential::from_bytes("", self.delegation_secret.clone());
        let mac = derive.sign(&format!(
            "{oid}\n{tid}\n{start}\n{expiry}\n{service}\n{version}"
        ));
        base64::engine::general_purpose::STANDARD
            .decode(mac)
            .unwrap_or_default()
    }
}

/// The app registered with `client_id`.
pub fn app(client_id: &str) -> Option<&'static App> {
    APPS.iter().find(|a| a.client_id == client_id)
}

/// Reads `Authorization: Bearer <token>`: `None` without one, `Some("")` for an empty one.
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, rest) = authorization
        .trim()
        .split_once(' ')
        .unwrap_or((authorization.trim(), ""));
    scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
}

/// The `WWW-Authenticate` challenge the services send with a 401 to a bearer request.
pub fn challenge(entra: &EntraService, resource: &str) -> String {
    format!(
        "Bearer authorization_uri={}/{DEV_TENANT_ID}/oauth2/authorize resource_id={resource}",
        entra.authority_host()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_for_signature_lifetime_audience_and_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let e = EntraService::open(dir.path(), DEFAULT_TOKEN_LIFETIME).unwrap();
        e.set_authority_host("https://127.0.0.1:1".into());
        let now = Utc::now();
        let app = &APPS[0];
        let hour = Duration::from_secs(3600);
        let t = e.issue(app, DEV_TENANT_ID, STORAGE_AUDIENCE, now, hour);
        let p = e.validate(&t, &[STORAGE_AUDIENCE], now).unwrap();
        assert_eq!(p.oid, app.object_id);
        assert_eq!(e.storage_role(&p.oid), Some(StorageRole::Contributor));
        assert_eq!(
            e.validate(&t, &[BATCH_AUDIENCE], now),
            Err(TokenError::Audience)
        );
        let later = now + chrono::Duration::hours(2);
        assert_eq!(
            e.validate(&t, &[STORAGE_AUDIENCE], later),
            Err(TokenError::Expired)
        );
        let other = e.issue(app, OTHER_TENANT_ID, STORAGE_AUDIENCE, now, hour);
        assert_eq!(
            e.validate(&other, &[STORAGE_AUDIENCE], now),
            Err(TokenError::Issuer)
        );
        assert_eq!(
            e.validate("x.y.z", &[STORAGE_AUDIENCE], now),
            Err(TokenError::Malformed)
        );
        // The keys survive a restart; another data directory's do not verify.
        let again = EntraService::open(dir.path(), DEFAULT_TOKEN_LIFETIME).unwrap();
        again.set_authority_host("https://127.0.0.1:1".into());
        assert!(again.validate(&t, &[STORAGE_AUDIENCE], now).is_ok());
        let dir2 = tempfile::tempdir().unwrap();
        let stranger = EntraService::open(dir2.path(), DEFAULT_TOKEN_LIFETIME).unwrap();
        stranger.set_authority_host("https://127.0.0.1:1".into());
        assert_eq!(
            stranger.validate(&t, &[STORAGE_AUDIENCE], now),
            Err(TokenError::Signature)
        );
        assert_eq!(
            e.delegation_key_value("o", "t", "a", "b", "b", "v"),
            again.delegation_key_value("o", "t", "a", "b", "b", "v")
        );
        assert_ne!(
            e.delegation_key_value("o", "t", "a", "b", "b", "v"),
            stranger.delegation_key_value("o", "t", "a", "b", "b", "v")
        );
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("SharedKey a:b"), None);
    }
}
