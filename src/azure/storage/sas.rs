//! SAS: permissions, URLs that keep their signature out of logs ([`SecretUrl`]), signing
//! service SAS URLs with the account key, and clients that authenticate with a SAS URL.

use std::fmt;
use std::time::Duration;

use azure_core::http::Url;
use chrono::Utc;

use super::client::Credential;
use super::connection_string::{account_from_endpoint, normalize_endpoint};
use super::{Result, StorageClient, StorageError};
use crate::azure::auth::{self, DelegationKey, sign_service_sas, sign_user_delegation_sas};

/// How long a user delegation key batchdeck asks for lives (the service allows 7 days), and
/// how much of it must be left to sign with it again.
const DELEGATION_KEY_TTL: Duration = Duration::from_secs(7 * 24 * 3600 - 600);

/// The SAS version batchdeck signs (the one azure-storage-blob 12.31 uses; Azurite 3.37 and
/// the emulator accept it: both verify versions from 2020-12-06 on with the same layout).
pub const SAS_VERSION: &str = "2026-10-06";
/// SAS URLs batchdeck signs never live longer than this.
pub const MAX_SAS_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// SAS permissions, narrowest first. Letters are emitted in the service's canonical order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SasPermissions {
    pub read: bool,
    pub add: bool,
    pub create: bool,
    pub write: bool,
    pub delete: bool,
    pub list: bool,
}

impl SasPermissions {
    /// Read one blob (resource files).
    pub const READ: SasPermissions = SasPermissions {
        read: true,
        add: false,
        create: false,
        write: false,
        delete: false,
        list: false,
    };
    /// Write blobs into a container, nothing else (task output files).
    pub const WRITE: SasPermissions = SasPermissions {
        read: false,
        add: false,
        create: false,
        write: true,
        delete: false,
        list: false,
    };
    /// Read and list a container.
    pub const READ_LIST: SasPermissions = SasPermissions {
        read: true,
        add: false,
        create: false,
        write: false,
        delete: false,
        list: true,
    };

    /// The `sp` value, e.g. `rl`.
    pub fn letters(&self) -> String {
        let mut s = String::new();
        for (on, c) in [
            (self.read, 'r'),
            (self.add, 'a'),
            (self.create, 'c'),
            (self.write, 'w'),
            (self.delete, 'd'),
            (self.list, 'l'),
        ] {
            if on {
                s.push(c);
            }
        }
        s
    }
}

/// A URL that carries a secret (a SAS). `Debug` and `Display` show it with `sig` redacted;
/// [`SecretUrl::expose`] gives the real URL, for the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(Url);

impl SecretUrl {
    pub fn new(url: Url) -> Self {
        SecretUrl(url)
    }

    pub fn parse(s: &str) -> Result<Self> {
        Url::parse(s)
            .map(SecretUrl)
            .map_err(|e| StorageError::Config(format!("not a URL ({e}): {}", auth::redact_url(s))))
    }

    /// The real URL, signature included. Never log it.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    pub fn expose_url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretUrl")
            .field(&auth::redact_url(self.0.as_str()))
            .finish()
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&auth::redact_url(self.0.as_str()))
    }
}

impl StorageClient {
    /// A client that authenticates with a SAS only: a container URL carrying a container SAS
    /// (`.../container?sv=...&sr=c&sig=...`) or a service URL carrying an account SAS.
    pub fn from_sas_url(url: &SecretUrl) -> Result<Self> {
        let mut url = url.expose_url().clone();
        let query = url.query().unwrap_or("").to_string();
        let pairs = auth::decode_query(&query);
        let Some(fields) = auth::SasFields::from_query(&pairs) else {
            return Err(StorageError::Config(format!(
                "'{}' carries no SAS (no sig parameter)",
                auth::redact_url(url.as_str())
            )));
        };
        url.set_query(None);
        url.set_fragment(None);
        let mut sas_container = None;
        if !fields.is_account_sas() {
            if fields.resource != "c" {
                return Err(StorageError::Config(format!(
                    "'{}' is not a container SAS (sr={}); a client needs a container or account SAS",
                    auth::redact_url(url.as_str()),
                    fields.resource
                )));
            }
            let path = url.path().trim_end_matches('/').to_string();
            let Some((parent, container)) = path.rsplit_once('/') else {
                return Err(StorageError::Config(
                    "the SAS URL names no container".into(),
                ));
            };
            if container.is_empty() {
                return Err(StorageError::Config(
                    "the SAS URL names no container".into(),
                ));
            }
            sas_container = Some(
                percent_encoding::percent_decode_str(container)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
            url.set_path(parent);
        }
        let endpoint = normalize_endpoint(url)?;
        let account = account_from_endpoint(&endpoint)
            .unwrap_or_else(|| endpoint.host_str().unwrap_or("unknown").to_string());
        Ok(Self::build(
            endpoint,
            account,
            Credential::Sas(query),
            sas_container,
        ))
    }

    /// A URL granting `perms` on one blob for `ttl` (at most [`MAX_SAS_TTL`]), signed with
    /// the account key (a client with Entra ID tokens uses [`Self::blob_sas`]).
    pub fn blob_sas_url(
        &self,
        container: &str,
        blob: &str,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        self.key_sas(
            self.blob_url(container, blob)?,
            container,
            Some(blob),
            perms,
            ttl,
        )
    }

    /// A URL granting `perms` on a container for `ttl` (at most [`MAX_SAS_TTL`]), signed with
    /// the account key (a client with Entra ID tokens uses [`Self::container_sas`]).
    pub fn container_sas_url(
        &self,
        container: &str,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        self.key_sas(self.container_url(container)?, container, None, perms, ttl)
    }

    /// A service SAS for `url` signed with the account key.
    fn key_sas(
        &self,
        url: Url,
        container: &str,
        blob: Option<&str>,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        let (url, expiry, letters) = self.sas_request(url, perms, ttl)?;
        let key = self.account_key()?;
        let f = sign_service_sas(
            key,
            container,
            blob,
            &letters,
            None,
            expiry,
            &self.sas_version,
        );
        Ok(with_query(url, &f))
    }

    /// As [`Self::blob_sas_url`], and with Entra ID tokens a user delegation SAS.
    pub async fn blob_sas(
        &self,
        container: &str,
        blob: &str,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        let url = self.blob_url(container, blob)?;
        self.sign_sas(url, container, Some(blob), perms, ttl).await
    }

    /// As [`Self::container_sas_url`], and with Entra ID tokens a user delegation SAS (Get
    /// User Delegation Key, then the SAS signed with that key), so no account key is needed.
    pub async fn container_sas(
        &self,
        container: &str,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        let url = self.container_url(container)?;
        self.sign_sas(url, container, None, perms, ttl).await
    }

    fn account_key(&self) -> Result<&auth::SharedKeyCredential> {
        match &self.credential {
            Credential::SharedKey(k) => Ok(k),
            _ => Err(StorageError::NeedsAccountKey {
                operation: "signing a SAS URL".into(),
            }),
        }
    }

    /// Checks the permissions and lifetime of a SAS to sign: its URL, expiry and letters.
    fn sas_request(
        &self,
        url: Url,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<(Url, chrono::DateTime<Utc>, String)> {
        let letters = perms.letters();
        if letters.is_empty() {
            return Err(StorageError::Config(
                "a SAS needs at least one permission".into(),
            ));
        }
        if ttl.is_zero() || ttl > MAX_SAS_TTL {
            return Err(StorageError::Config(format!(
                "SAS lifetime {} s is out of range (1 s to {} s)",
                ttl.as_secs(),
                MAX_SAS_TTL.as_secs()
            )));
        }
        let ttl = chrono::Duration::from_std(ttl)
            .map_err(|_| StorageError::Config("SAS lifetime too large".into()))?;
        Ok((url, Utc::now() + ttl, letters))
    }

    async fn sign_sas(
        &self,
        url: Url,
        container: &str,
        blob: Option<&str>,
        perms: SasPermissions,
        ttl: Duration,
    ) -> Result<SecretUrl> {
        if !matches!(self.credential, Credential::Entra(_)) {
            return self.key_sas(url, container, blob, perms, ttl);
        }
        let (url, expiry, letters) = self.sas_request(url, perms, ttl)?;
        let key = self.delegation_key(expiry).await?;
        let f = sign_user_delegation_sas(
            &key,
            &self.account,
            container,
            blob,
            &letters,
            None,
            expiry,
            &self.sas_version,
        );
        Ok(with_query(url, &f))
    }

    /// A user delegation key valid until at least `until`: the one asked for before while it
    /// is, else a new one from Get User Delegation Key (valid for almost 7 days).
    pub async fn delegation_key(&self, until: chrono::DateTime<Utc>) -> Result<DelegationKey> {
        let mut cached = self.delegation_key.lock().await;
        if let Some(k) = cached.as_ref()
            && auth::parse_sas_time(&k.expiry).is_some_and(|e| e > until)
        {
            return Ok(k.clone());
        }
        let op = super::error::Op {
            operation: "get a user delegation key",
            container: None,
            blob: None,
        };
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(DELEGATION_KEY_TTL)
            .map_err(|_| StorageError::Config("delegation key lifetime too large".into()))?;
        let to_time = |t: chrono::DateTime<Utc>| {
            azure_core::time::OffsetDateTime::from_unix_timestamp(t.timestamp())
                .map_err(|e| StorageError::Config(format!("time out of range: {e}")))
        };
        let key_info = azure_storage_blob::models::KeyInfo {
            start: Some(to_time(now - chrono::Duration::minutes(5))?),
            expiry: Some(to_time(now + ttl)?),
            ..Default::default()
        };
        let service = azure_storage_blob::BlobServiceClient::new(
            self.endpoint.clone(),
            None,
            Some(azure_storage_blob::BlobServiceClientOptions {
                client_options: self.client_options().clone(),
                ..Default::default()
            }),
        )
        .map_err(|e| self.sdk_error(&op, e))?;
        let body = key_info.try_into().map_err(|e| self.sdk_error(&op, e))?;
        let answer = service
            .get_user_delegation_key(body, None)
            .await
            .map_err(|e| self.sdk_error(&op, e))?
            .into_model()
            .map_err(|e| self.sdk_error(&op, e))?;
        let time = |t: Option<azure_core::time::OffsetDateTime>| {
            t.and_then(|t| chrono::DateTime::<Utc>::from_timestamp(t.unix_timestamp(), 0))
                .map(auth::sas_time)
        };
        let missing = |what: &str| StorageError::Unexpected {
            target: self.target(&op),
            message: format!("the user delegation key has no {what}"),
        };
        let key = DelegationKey {
            oid: answer.signed_oid.ok_or_else(|| missing("SignedOid"))?,
            tid: answer.signed_tid.ok_or_else(|| missing("SignedTid"))?,
            start: time(answer.signed_start).ok_or_else(|| missing("SignedStart"))?,
            expiry: time(answer.signed_expiry).ok_or_else(|| missing("SignedExpiry"))?,
            service: answer
                .signed_service
                .ok_or_else(|| missing("SignedService"))?,
            version: answer
                .signed_version
                .ok_or_else(|| missing("SignedVersion"))?,
            value: answer.value.ok_or_else(|| missing("Value"))?,
        };
        tracing::info!(oid = %key.oid, expiry = %key.expiry, "got a user delegation key");
        *cached = Some(key.clone());
        Ok(key)
    }
}

fn with_query(mut url: Url, fields: &auth::SasFields) -> SecretUrl {
    url.set_query(Some(&fields.to_query()));
    SecretUrl(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::auth::SharedKeyCredential;
    use crate::azure::storage::{AuthKind, DEV_ACCOUNT, DEV_KEY};

    #[test]
    fn secret_url_redacts_signature() {
        let u = SecretUrl::parse(
            "https://a.blob.core.windows.net/c/b?sv=2026-10-06&sr=b&sp=r&sig=TOPSECRET%2Bx%3D",
        )
        .unwrap();
        assert!(!format!("{u}").contains("TOPSECRET"));
        assert!(!format!("{u:?}").contains("TOPSECRET"));
        assert!(format!("{u}").contains("sig=REDACTED"));
        assert!(u.expose().contains("sig=TOPSECRET%2Bx%3D"));
    }

    #[test]
    fn sas_urls_are_narrow_bounded_and_signed() {
        let cred = SharedKeyCredential::new(DEV_ACCOUNT, DEV_KEY).unwrap();
        let client = StorageClient::new(
            Url::parse("http://127.0.0.1:9/devstoreaccount1").unwrap(),
            cred.clone(),
        )
        .unwrap();
        let url = client
            .blob_sas_url(
                "in",
                "dir/a b.txt",
                SasPermissions::READ,
                Duration::from_secs(600),
            )
            .unwrap();
        let u = url.expose_url();
        assert_eq!(u.path(), "/devstoreaccount1/in/dir%2Fa%20b.txt");
        let fields = auth::SasFields::from_query(&auth::decode_query(u.query().unwrap())).unwrap();
        assert_eq!(fields.permissions, "r");
        assert_eq!(fields.resource, "b");
        assert_eq!(fields.version, SAS_VERSION);
        let expiry = auth::parse_sas_time(&fields.expiry).unwrap();
        let left = expiry - Utc::now();
        assert!(left <= chrono::Duration::seconds(601) && left >= chrono::Duration::seconds(590));
        let sts = fields.service_string_to_sign("/blob/devstoreaccount1/in/dir/a b.txt");
        assert_eq!(cred.sign(&sts), fields.signature);
        assert!(!format!("{url}").contains(&fields.signature));

        let c = client
            .container_sas_url("out", SasPermissions::WRITE, Duration::from_secs(60))
            .unwrap();
        let f = auth::SasFields::from_query(&auth::decode_query(c.expose_url().query().unwrap()))
            .unwrap();
        assert_eq!((f.permissions.as_str(), f.resource.as_str()), ("w", "c"));
        assert!(
            client
                .container_sas_url(
                    "out",
                    SasPermissions::WRITE,
                    MAX_SAS_TTL + Duration::from_secs(1)
                )
                .is_err()
        );
        assert!(
            client
                .container_sas_url("out", SasPermissions::default(), Duration::from_secs(1))
                .is_err()
        );
        assert_eq!(
            SasPermissions {
                list: true,
                write: true,
                read: true,
                create: true,
                ..Default::default()
            }
            .letters(),
            "rcwl"
        );
    }

    #[test]
    fn sas_client_from_container_url() {
        let url = SecretUrl::parse(
            "http://127.0.0.1:9/devstoreaccount1/outputs?sv=2026-10-06&sr=c&sp=w&se=2030-01-01T00%3A00%3A00Z&sig=abc",
        )
        .unwrap();
        let c = StorageClient::from_sas_url(&url).unwrap();
        assert_eq!(c.endpoint().as_str(), "http://127.0.0.1:9/devstoreaccount1");
        assert_eq!(c.sas_container(), Some("outputs"));
        assert_eq!(c.account(), "devstoreaccount1");
        assert_eq!(c.auth_kind(), AuthKind::Sas);
        assert!(!format!("{c:?}").contains("sig=abc"));
        let e = c
            .blob_sas_url("outputs", "x", SasPermissions::READ, Duration::from_secs(5))
            .unwrap_err();
        assert!(matches!(e, StorageError::NeedsAccountKey { .. }));
        let no_sig = SecretUrl::parse("http://127.0.0.1:9/devstoreaccount1/outputs?sv=1").unwrap();
        assert!(StorageClient::from_sas_url(&no_sig).is_err());
        let azure = SecretUrl::parse(
            "https://acct.blob.core.windows.net/c1?sv=2026-10-06&sr=c&sp=r&se=2030-01-01T00%3A00%3A00Z&sig=abc",
        )
        .unwrap();
        assert_eq!(
            StorageClient::from_sas_url(&azure).unwrap().account(),
            "acct"
        );
    }
}
