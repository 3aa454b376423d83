//! Shared Key and SAS: signing (clients) and verification (emulator), one implementation.
//!
//! The canonical forms follow the service documentation ("Authorize with Shared Key" for
//! Storage and for Batch, "Create a service SAS", "Create an account SAS") and are checked
//! against vectors produced by Microsoft's SDKs (`../shared/reference/vectors`).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::percent_decode_str;
use sha2::Sha256;

/// Which service's canonicalisation rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Batch data plane: `ocp-*` headers, query names kept as sent, Content-Length "0" signed.
    Batch,
    /// Blob Storage: `x-ms-*` headers, query names lowercased, Content-Length "0" signed as "".
    Blob,
}

impl Service {
    fn header_prefix(self) -> &'static str {
        match self {
            Service::Batch => "ocp-",
            Service::Blob => "x-ms-",
        }
    }
}

/// Errors of this module. None of them ever carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "the account key is not valid base64; copy it again from the portal or `az ... keys list`"
    )]
    KeyNotBase64,
    #[error("the account key is empty")]
    KeyEmpty,
}

/// An account name and its decoded key. `Debug` and `Display` never show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedKeyCredential {
    account: String,
    key: Vec<u8>,
}

impl fmt::Debug for SharedKeyCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedKeyCredential")
            .field("account", &self.account)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SharedKeyCredential {
    /// `key_b64` is the key as the portal shows it (base64).
    pub fn new(account: impl Into<String>, key_b64: &str) -> Result<Self, AuthError> {
        let trimmed = key_b64.trim();
        if trimmed.is_empty() {
            return Err(AuthError::KeyEmpty);
        }
        let key = B64.decode(trimmed).map_err(|_| AuthError::KeyNotBase64)?;
        if key.is_empty() {
            return Err(AuthError::KeyEmpty);
        }
        Ok(Self {
            account: account.into(),
            key,
        })
    }

    /// A credential from raw key bytes (a user delegation key's value).
    pub fn from_bytes(account: impl Into<String>, key: Vec<u8>) -> Self {
        Self {
            account: account.into(),
            key,
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Base64 HMAC-SHA256 of `message` under the account key.
    pub fn sign(&self, message: &str) -> String {
        B64.encode(self.mac(message).finalize().into_bytes())
    }

    /// Whether `signature` (base64, as `sign` writes it) is the HMAC-SHA256 of `message` under
    /// the account key, compared in constant time by the `hmac` crate (`verify_slice`).
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        match B64.decode(signature) {
            Ok(tag) => self.mac(message).verify_slice(&tag).is_ok(),
            Err(_) => false,
        }
    }

    fn mac(&self, message: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC accepts any key length");
        mac.update(message.as_bytes());
        mac
    }

    /// The `Authorization` header value for a request.
    pub fn authorization(&self, service: Service, req: &RequestParts<'_>) -> String {
        let sts = string_to_sign(service, &self.account, req);
        format!("SharedKey {}:{}", self.account, self.sign(&sts))
    }

    /// Checks an `Authorization` header value, the signature compared in constant time.
    pub fn verify_authorization(
        &self,
        service: Service,
        req: &RequestParts<'_>,
        authorization: &str,
    ) -> bool {
        let Some(rest) = authorization.strip_prefix("SharedKey ") else {
            return false;
        };
        let Some((account, sig)) = rest.trim().rsplit_once(':') else {
            return false;
        };
        if account != self.account {
            return false;
        }
        self.verify(&string_to_sign(service, &self.account, req), sig)
    }
}

/// What of a request goes into its signature.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path exactly as sent on the wire (still percent-encoded), starting with `/`.
    pub raw_path: &'a str,
    /// The raw query string (without `?`), percent-encoded as sent; may be empty.
    pub raw_query: &'a str,
    /// Header names and values as received; names are matched case-insensitively.
    pub headers: Vec<(&'a str, &'a str)>,
}

impl RequestParts<'_> {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .unwrap_or("")
    }
}

/// Decodes `a=b&c=d` (with `+` as a literal plus, as Azure treats it) into pairs.
pub fn decode_query(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode_str(k).decode_utf8_lossy().into_owned(),
                percent_decode_str(v).decode_utf8_lossy().into_owned(),
            )
        })
        .collect()
}

/// The Shared Key string-to-sign for `service`.
pub fn string_to_sign(service: Service, account: &str, req: &RequestParts<'_>) -> String {
    let content_length = match (service, req.header("content-length")) {
        (Service::Blob, "0") => "",
        (_, v) => v,
    };
    // With x-ms-date/ocp-date present the Date slot is empty, as the SDKs send it.
    let date_header = format!("{}date", service.header_prefix());
    let date = if req.header(&date_header).is_empty() {
        req.header("date")
    } else {
        ""
    };
    let mut out = String::with_capacity(256);
    for part in [
        req.method.to_ascii_uppercase().as_str(),
        req.header("content-encoding"),
        req.header("content-language"),
        content_length,
        req.header("content-md5"),
        req.header("content-type"),
        date,
        req.header("if-modified-since"),
        req.header("if-match"),
        req.header("if-none-match"),
        req.header("if-unmodified-since"),
        req.header("range"),
    ] {
        out.push_str(part);
        out.push('\n');
    }
    out.push_str(&canonicalized_headers(service, &req.headers));
    out.push_str(&canonicalized_resource(
        service,
        account,
        req.raw_path,
        req.raw_query,
    ));
    out
}

fn canonicalized_headers(service: Service, headers: &[(&str, &str)]) -> String {
    let prefix = service.header_prefix();
    let mut picked: Vec<(String, String)> = Vec::new();
    for (k, v) in headers {
        let name = k.to_ascii_lowercase();
        if !name.starts_with(prefix) {
            continue;
        }
        let value = unfold(v);
        if let Some(existing) = picked.iter_mut().find(|(n, _)| *n == name) {
            existing.1.push(',');
            existing.1.push_str(&value);
        } else {
            picked.push((name, value));
        }
    }
    match service {
        Service::Blob => picked.sort_by(|a, b| storage_header_order(&a.0, &b.0)),
        Service::Batch => picked.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    let mut out = String::new();
    for (k, v) in picked {
        out.push_str(&k);
        out.push(':');
        out.push_str(&v);
        out.push('\n');
    }
    out
}

/// Primary sort weight of an ASCII character in the Storage service's header collation
/// (a culture-aware order, not byte order): `None` means the character is ignored at this
/// level. Order: the punctuation below, then `+`, then digits, then letters ignoring case.
fn primary_weight(c: char) -> Option<u32> {
    const PUNCTUATION: &str = "!#$%&*.^_`|~+";
    match c {
        'a'..='z' => Some(300 + (c as u32 - 'a' as u32)),
        'A'..='Z' => Some(300 + (c as u32 - 'A' as u32)),
        '0'..='9' => Some(200 + (c as u32 - '0' as u32)),
        _ => PUNCTUATION.find(c).map(|i| 100 + i as u32),
    }
}

/// Tie-break weight: only the apostrophe and the hyphen count, apostrophe first.
fn tertiary_weight(c: char) -> Option<u32> {
    match c {
        '\'' => Some(1),
        '-' => Some(2),
        _ => None,
    }
}

/// Orders header names as the Storage service does when it computes the string to sign:
/// first by primary weights, skipping ignored characters; on a tie, by the hyphens and
/// apostrophes; on a further tie, the name whose tie-break characters come later sorts first.
pub fn storage_header_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let primary = |s: &str| s.chars().filter_map(primary_weight).collect::<Vec<_>>();
    match primary(a).cmp(&primary(b)) {
        Ordering::Equal => {}
        o => return o,
    }
    // Positions and weights of the tie-break characters.
    let tie = |s: &str| {
        s.chars()
            .enumerate()
            .filter_map(|(i, c)| tertiary_weight(c).map(|w| (i, w)))
            .collect::<Vec<_>>()
    };
    let (ta, tb) = (tie(a), tie(b));
    for (x, y) in ta.iter().zip(&tb) {
        if x.0 != y.0 {
            // The one that had to skip more characters to reach its mark sorts first.
            return y.0.cmp(&x.0);
        }
        if x.1 != y.1 {
            return x.1.cmp(&y.1);
        }
    }
    ta.len().cmp(&tb.len())
}

/// Trims and collapses runs of whitespace outside quotes, as the services do.
fn unfold(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut in_quotes = false;
    let mut last_space = false;
    for c in v.trim().chars() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if !in_quotes && (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

fn canonicalized_resource(
    service: Service,
    account: &str,
    raw_path: &str,
    raw_query: &str,
) -> String {
    let mut out = format!("/{account}{raw_path}");
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in decode_query(raw_query) {
        let name = match service {
            Service::Blob => k.to_ascii_lowercase(),
            Service::Batch => k,
        };
        if let Some(existing) = params.iter_mut().find(|(n, _)| *n == name) {
            existing.1.push(v);
        } else {
            params.push((name, vec![v]));
        }
    }
    params.sort_by_key(|p| p.0.to_ascii_lowercase());
    for (name, mut values) in params {
        values.sort();
        out.push('\n');
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
    }
    out
}

/// Formats a time as the services expect in `x-ms-date`/`ocp-date`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses an RFC 1123 date as sent in `x-ms-date`/`ocp-date`/`Date`.
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::auth::*;
    use serde_json::Value;

    fn vectors(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/vectors/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn check_shared_key(file: &str, service: Service) -> usize {
        let doc = vectors(file);
        let mut n = 0;
        for v in doc["vectors"].as_array().unwrap() {
            let url = url::Url::parse(v["url"].as_str().unwrap()).unwrap();
            let headers: Vec<(String, String)> = v["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_string(),
                        h[1].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let parts = RequestParts {
                method: v["method"].as_str().unwrap(),
                raw_path: url.path(),
                raw_query: url.query().unwrap_or(""),
                headers: headers
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect(),
            };
            let cred = SharedKeyCredential::new(
                v["account"].as_str().unwrap(),
                v["key"].as_str().unwrap(),
            )
            .unwrap();
            assert_eq!(
                string_to_sign(service, cred.account(), &parts),
                v["string_to_sign"].as_str().unwrap(),
                "string to sign of {} {}",
                parts.method,
                v["url"]
            );
            let expected = v["expected_authorization"].as_str().unwrap();
            assert_eq!(cred.authorization(service, &parts), expected);
            assert!(cred.verify_authorization(service, &parts, expected));
            // One changed byte in the signature, the account or the request must fail.
            let forged = expected.replacen('=', "A", 1);
            assert!(!cred.verify_authorization(service, &parts, &forged));
            let mut tampered = parts.clone();
            tampered.method = if parts.method == "GET" {
                "DELETE"
            } else {
                "GET"
            };
            assert!(!cred.verify_authorization(service, &tampered, expected));
            n += 1;
        }
        n
    }

    #[test]
    fn batch_shared_key_vectors_verify() {
        assert!(check_shared_key("batch_sharedkey_vectors.json", Service::Batch) >= 5);
    }

    #[test]
    fn blob_shared_key_vectors_verify() {
        assert!(check_shared_key("blob_sharedkey_vectors.json", Service::Blob) >= 5);
    }

    #[test]
    fn sas_vectors_verify() {
        let doc = vectors("sas_vectors.json");
        for v in doc.as_array().unwrap() {
            let cred = SharedKeyCredential::new(
                v["account"].as_str().unwrap(),
                v["key"].as_str().unwrap(),
            )
            .unwrap();
            let pairs = decode_query(v["sas_token"].as_str().unwrap());
            let f = SasFields::from_query(&pairs).unwrap();
            let sts = if f.is_account_sas() {
                f.account_string_to_sign(cred.account())
            } else {
                f.service_string_to_sign(v["canonicalized_resource"].as_str().unwrap())
            };
            assert_eq!(sts, v["string_to_sign"].as_str().unwrap(), "{}", v["kind"]);
            assert_eq!(cred.sign(&sts), v["expected_sig"].as_str().unwrap());
            assert_eq!(f.signature, v["expected_sig"].as_str().unwrap());
            assert!(cred.verify(&sts, &f.signature));
            assert!(!cred.verify(&format!("{sts}x"), &f.signature));
        }
    }

    /// `verify` accepts the signature and nothing else: not a changed byte, a shorter or
    /// longer tag, text that is not base64, or another key's signature of the same length.
    #[test]
    fn verify_accepts_only_the_signature() {
        let cred = SharedKeyCredential::new("devstoreaccount1", "a2V5LW9uZQ==").unwrap();
        let other = SharedKeyCredential::new("devstoreaccount1", "a2V5LXR3bw==").unwrap();
        let msg = "GET\n\n/devstoreaccount1/c/b";
        let sig = cred.sign(msg);
        assert!(cred.verify(msg, &sig));
        let tag = B64.decode(&sig).unwrap();
        assert_eq!(tag.len(), 32);
        for i in [0, 15, 31] {
            let mut t = tag.clone();
            t[i] ^= 1;
            assert!(!cred.verify(msg, &B64.encode(&t)), "byte {i} changed");
        }
        assert!(!cred.verify(msg, &B64.encode(&tag[..31])));
        assert!(!cred.verify(msg, &B64.encode([tag.as_slice(), &[0]].concat())));
        assert!(!cred.verify(msg, ""));
        assert!(!cred.verify(msg, "not base64!"));
        assert!(!cred.verify(msg, &other.sign(msg)));
        assert!(!cred.verify("GET\n\n/devstoreaccount1/c/other", &sig));
    }

    #[test]
    fn signed_container_sas_round_trips_through_query() {
        let cred = SharedKeyCredential::new("devstoreaccount1", "a2V5").unwrap();
        let expiry = parse_sas_time("2030-01-01T00:00:00Z").unwrap();
        let f = sign_service_sas(&cred, "out", None, "wc", None, expiry, "2026-10-06");
        assert_eq!(f.permissions, "cw");
        let back = SasFields::from_query(&decode_query(&f.to_query())).unwrap();
        assert_eq!(back, f);
        let sts = back.service_string_to_sign("/blob/devstoreaccount1/out");
        assert_eq!(cred.sign(&sts), back.signature);
    }

    #[test]
    fn storage_header_collation() {
        use std::cmp::Ordering::*;
        // Underscore sorts before digits and letters; hyphens are ignored at first.
        assert_eq!(storage_header_order("x-ms-meta-a_c", "x-ms-meta-a1"), Less);
        assert_eq!(storage_header_order("x-ms-meta-a1", "x-ms-meta-b"), Less);
        assert_eq!(storage_header_order("x-ms-meta-B", "x-ms-meta-a"), Greater);
        assert_eq!(storage_header_order("x-ms-date", "x-ms-version"), Less);
        assert_eq!(storage_header_order("x-ms-ab", "x-ms-a-b"), Less);
        assert_eq!(storage_header_order("x-ms-a", "x-ms-a"), Equal);
    }

    #[test]
    fn secrets_do_not_show() {
        let cred = SharedKeyCredential::new("acct", "c2VjcmV0a2V5").unwrap();
        assert!(!format!("{cred:?}").contains("c2VjcmV0a2V5"));
        let f = SasFields {
            signature: "SIGSECRET".into(),
            ..SasFields::default()
        };
        assert!(!format!("{f:?}").contains("SIGSECRET"));
        let u = redact_url("http://h/c/b?sv=1&sig=abc%2Bdef&sp=r");
        assert_eq!(u, "http://h/c/b?sv=1&sig=REDACTED&sp=r");
    }

    #[test]
    fn bad_keys_are_named() {
        assert_eq!(
            SharedKeyCredential::new("a", "").unwrap_err(),
            AuthError::KeyEmpty
        );
        assert_eq!(
            SharedKeyCredential::new("a", "not base64!").unwrap_err(),
            AuthError::KeyNotBase64
        );
    }
}
