//! Storage connection strings (as the Azure SDKs read them) and blob service endpoints.

use std::fmt;

use azure_core::http::Url;

use super::{DEV_ACCOUNT, DEV_BLOB_ENDPOINT, DEV_KEY, Result, StorageError};
use crate::azure::auth::{self, SharedKeyCredential};

/// A parsed storage connection string. `Debug` never shows the key or the SAS.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    pub account: String,
    pub(super) key: Option<String>,
    pub(super) sas: Option<String>,
    /// The blob service URL (no trailing slash).
    pub blob_endpoint: Url,
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("account", &self.account)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("sas", &self.sas.as_ref().map(|s| auth::redact_url(s)))
            .field("blob_endpoint", &self.blob_endpoint.as_str())
            .finish()
    }
}

impl ConnectionString {
    /// Parses `Key=Value;...` as the Azure SDKs do (keys case-insensitive): `AccountName`,
    /// `AccountKey`, `BlobEndpoint`, `DefaultEndpointsProtocol`, `EndpointSuffix`,
    /// `SharedAccessSignature`, and `UseDevelopmentStorage=true` (Azurite's defaults).
    pub fn parse(s: &str) -> Result<ConnectionString> {
        let bad = |m: String| StorageError::Config(format!("connection string: {m}"));
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                let name: String = part.chars().take(24).collect();
                return Err(bad(format!(
                    "'{name}' is not Key=Value; copy the whole string from the portal (Access keys)"
                )));
            };
            pairs.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let get = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let endpoint = match get("developmentstorageproxyuri") {
                Some(proxy) => format!("{}/{DEV_ACCOUNT}", proxy.trim_end_matches('/')),
                None => DEV_BLOB_ENDPOINT.to_string(),
            };
            return Ok(ConnectionString {
                account: DEV_ACCOUNT.to_string(),
                key: Some(DEV_KEY.to_string()),
                sas: None,
                blob_endpoint: parse_endpoint(&endpoint)?,
            });
        }
        let account = get("accountname");
        let key = get("accountkey");
        let sas = get("sharedaccesssignature").map(|s| s.trim_start_matches('?').to_string());
        let blob_endpoint = match get("blobendpoint") {
            Some(e) => parse_endpoint(&e)?,
            None => {
                let Some(account) = account.as_deref() else {
                    return Err(bad(
                        "it has neither AccountName nor BlobEndpoint".to_string()
                    ));
                };
                let protocol = get("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
                if protocol != "https" && protocol != "http" {
                    return Err(bad(format!(
                        "DefaultEndpointsProtocol must be https or http, not '{protocol}'"
                    )));
                }
                let suffix =
                    get("endpointsuffix").unwrap_or_else(|| "core.windows.net".to_string());
                parse_endpoint(&format!("{protocol}://{account}.blob.{suffix}"))?
            }
        };
        let account = match account {
            Some(a) => a,
            None => account_from_endpoint(&blob_endpoint).ok_or_else(|| {
                bad("it has no AccountName and the BlobEndpoint does not name one".into())
            })?,
        };
        if key.is_none() && sas.is_none() {
            return Err(bad(format!(
                "it has no AccountKey (or SharedAccessSignature) for account '{account}'"
            )));
        }
        Ok(ConnectionString {
            account,
            key,
            sas,
            blob_endpoint,
        })
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The account-key credential, when the string carries a key.
    pub fn credential(&self) -> Option<Result<SharedKeyCredential, auth::AuthError>> {
        self.key
            .as_deref()
            .map(|k| SharedKeyCredential::new(self.account.clone(), k))
    }

    pub fn has_sas(&self) -> bool {
        self.sas.is_some()
    }
}

/// Parses and normalises a blob service URL (http or https, no query, no trailing slash).
fn parse_endpoint(s: &str) -> Result<Url> {
    let shown = auth::redact_url(s);
    let url = Url::parse(s.trim())
        .map_err(|e| StorageError::Config(format!("blob endpoint '{shown}' is not a URL: {e}")))?;
    normalize_endpoint(url)
}

pub(super) fn normalize_endpoint(mut url: Url) -> Result<Url> {
    let shown = auth::redact_url(url.as_str());
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(StorageError::Config(format!(
            "blob endpoint '{shown}' must start with https:// (or http:// for a local emulator)"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(StorageError::Config(format!(
            "blob endpoint '{shown}' has no host"
        )));
    }
    if url.query().is_some() {
        return Err(StorageError::Config(format!(
            "blob endpoint '{shown}' must not carry a query; pass a SAS URL to StorageClient::from_sas_url instead"
        )));
    }
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

/// `acct` from `https://acct.blob.core.windows.net`, or from the first path segment of a
/// path-style URL (`http://127.0.0.1:10000/acct`).
pub fn account_from_endpoint(url: &Url) -> Option<String> {
    let first_segment = url
        .path_segments()
        .and_then(|mut s| s.next().map(str::to_string))
        .filter(|s| !s.is_empty());
    match url.host() {
        Some(url::Host::Domain(d)) if d.contains(".blob.") => {
            d.split('.').next().map(str::to_string)
        }
        _ => first_segment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::storage::{AuthKind, StorageClient};

    #[test]
    fn connection_string_with_key_and_defaults() {
        let cs = ConnectionString::parse(
            "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=a2V5a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(cs.account, "myacct");
        assert_eq!(
            cs.blob_endpoint.as_str(),
            "https://myacct.blob.core.windows.net/"
        );
        assert!(cs.has_key() && !cs.has_sas());
        // Other clouds and http.
        let cs = ConnectionString::parse(
            "accountname=a1;accountkey=a2V5;defaultendpointsprotocol=http;endpointsuffix=core.chinacloudapi.cn;",
        )
        .unwrap();
        assert_eq!(
            cs.blob_endpoint.as_str(),
            "http://a1.blob.core.chinacloudapi.cn/"
        );
    }

    #[test]
    fn connection_string_with_blob_endpoint() {
        let cs = ConnectionString::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(
            cs.blob_endpoint.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        // The key may end with '=' padding, which must stay part of the value.
        let cs = ConnectionString::parse(&format!(
            "AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:1/devstoreaccount1"
        ))
        .unwrap();
        assert_eq!(cs.key.as_deref(), Some(DEV_KEY));
        // An account SAS without a key; the account comes from the endpoint.
        let cs = ConnectionString::parse(
            "BlobEndpoint=https://acct9.blob.core.windows.net;SharedAccessSignature=?sv=2026-10-06&ss=b&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&sig=SECRETSIG",
        )
        .unwrap();
        assert_eq!(cs.account, "acct9");
        assert!(!cs.has_key() && cs.has_sas());
        assert!(!format!("{cs:?}").contains("SECRETSIG"));
    }

    #[test]
    fn connection_string_development_storage() {
        let cs = ConnectionString::parse("UseDevelopmentStorage=true").unwrap();
        assert_eq!(cs.account, DEV_ACCOUNT);
        assert_eq!(cs.blob_endpoint.as_str(), DEV_BLOB_ENDPOINT);
        assert_eq!(cs.key.as_deref(), Some(DEV_KEY));
        let client = StorageClient::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(client.account(), DEV_ACCOUNT);
        assert_eq!(client.auth_kind(), AuthKind::SharedKey);
        assert!(!format!("{client:?}").contains(DEV_KEY));
    }

    #[test]
    fn connection_string_errors_name_the_problem_without_the_key() {
        let e = ConnectionString::parse("AccountName=acct")
            .unwrap_err()
            .to_string();
        assert!(e.contains("AccountKey") && e.contains("acct"), "{e}");
        let e = ConnectionString::parse("AccountKey=c2VjcmV0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("AccountName"), "{e}");
        assert!(!e.contains("c2VjcmV0"), "{e}");
        let e = ConnectionString::parse("garbage-without-equals")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Key=Value"), "{e}");
        let e = ConnectionString::parse("AccountName=a;AccountKey=k;DefaultEndpointsProtocol=ftp")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ftp"), "{e}");
        let e = StorageClient::from_connection_string("AccountName=a;AccountKey=not base64!")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AZURE_STORAGE_KEY") && !e.contains("not base64"),
            "{e}"
        );
    }
}
