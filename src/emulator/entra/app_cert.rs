//! The registered apps' certificates, for a service principal that signs in with a certificate
//! (`AZURE_CLIENT_CERTIFICATE_PATH` in the Azure SDKs): one per app, made on the first start and
//! kept in the data directory as `entra/<app name>.pem`, the certificate then its RSA private key
//! (the file `az ad sp create-for-rbac --create-cert` writes); and the check Entra makes of a
//! client assertion signed with one: the certificate named by its thumbprint (`x5t`, or
//! `x5t#S256`), the RS256 or PS256 signature, the audience (the token endpoint), the issuer and subject
//! (the client id), and the lifetime.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::App;
use super::jwt::{JwtError, verify_rsa};
use crate::emulator::EmulatorError;

/// Entra allows this much clock skew on an assertion's lifetime.
const SKEW_SECS: i64 = 300;

/// An app's registered certificate: what a client assertion is checked against.
pub struct AppCertificate {
    /// The PEM file with the certificate and its private key (what the client uses).
    pub path: PathBuf,
    sha1: Vec<u8>,
    sha256: Vec<u8>,
    /// The RSA public key (PKCS#1 DER).
    public_key: Vec<u8>,
}

impl std::fmt::Debug for AppCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCertificate")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why Entra refuses a client assertion: its AADSTS code and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionRefused {
    pub code: u32,
    pub description: String,
}

fn refused(code: u32, description: impl Into<String>) -> AssertionRefused {
    AssertionRefused {
        code,
        description: description.into(),
    }
}

fn data_dir_error(path: &Path, message: impl std::fmt::Display) -> EmulatorError {
    EmulatorError::DataDir {
        path: path.to_path_buf(),
        source: std::io::Error::other(message.to_string()),
    }
}

impl AppCertificate {
    /// Loads `app`'s certificate from `dir`, making it on the first start.
    pub fn open(dir: &Path, app: &App) -> Result<AppCertificate, EmulatorError> {
        let path = dir.join(format!("{}.pem", app.name));
        if !path.exists() {
            make(&path, app)?;
        }
        let pem = std::fs::read(&path).map_err(|e| data_dir_error(&path, e))?;
        let cert = CertificateDer::from_pem_slice(&pem).map_err(|e| data_dir_error(&path, e))?;
        let key = match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(PrivateKeyDer::Pkcs8(k)) => k,
            _ => return Err(data_dir_error(&path, "no PKCS#8 private key")),
        };
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(key.secret_pkcs8_der())
            .map_err(|e| data_dir_error(&path, e))?;
        use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
        use aws_lc_rs::signature::KeyPair as _;
        Ok(AppCertificate {
            sha1: digest(&SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref())
                .as_ref()
                .to_vec(),
            sha256: digest(&SHA256, cert.as_ref()).as_ref().to_vec(),
            public_key: pair.public_key().as_ref().to_vec(),
            path,
        })
    }

    /// Whether a header's thumbprint names this certificate. Entra's clients send it as
    /// base64url (MSAL) or padded base64 (some SDKs); both are read.
    fn named_by(&self, x5t: &str, x5t_s256: &str) -> bool {
        let decode = |t: &str| {
            URL_SAFE_NO_PAD
                .decode(t.trim_end_matches('='))
                .or_else(|_| STANDARD.decode(t))
                .ok()
        };
        (!x5t.is_empty() && decode(x5t).as_deref() == Some(self.sha1.as_slice()))
            || (!x5t_s256.is_empty() && decode(x5t_s256).as_deref() == Some(self.sha256.as_slice()))
    }

    /// Checks a client assertion `client_id` presented at `token_endpoint` at `now` (Unix
    /// seconds).
    pub fn check_assertion(
        &self,
        client_id: &str,
        token_endpoint: &str,
        assertion: &str,
        now: i64,
    ) -> Result<(), AssertionRefused> {
        let header = super::jwt::header(assertion)
            .ok_or_else(|| refused(50027, "JWT token is invalid or malformed."))?;
        if !self.named_by(&header.x5t, &header.x5t_s256) {
            return Err(refused(
                700027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                    if header.x5t.is_empty() {
                        &header.x5t_s256
                    } else {
                        &header.x5t
                    }
                ),
            ));
        }
        let (_, claims) =
            verify_rsa(&self.public_key, assertion, &["RS256", "PS256"]).map_err(|e| match e {
                JwtError::Malformed => refused(50027, "JWT token is invalid or malformed."),
                JwtError::Signature => {
                    refused(700027, "Client assertion failed signature validation.")
                }
            })?;
        if claims.aud.trim_end_matches('/') != token_endpoint {
            return Err(refused(
                700023,
                "Client assertion audience claim does not match Realm issuer.",
            ));
        }
        if claims.iss != client_id || claims.sub != client_id {
            return Err(refused(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            ));
        }
        if claims.exp + SKEW_SECS < now || claims.nbf - SKEW_SECS > now {
            return Err(refused(
                700024,
                "Client assertion is not within its valid time range.",
            ));
        }
        Ok(())
    }
}

/// A self-signed certificate for `app` with a new 2048-bit RSA key, written with its key.
fn make(path: &Path, app: &App) -> Result<(), EmulatorError> {
    use rcgen::{CertificateParams, DnType, KeyPair, PKCS_RSA_SHA256, RsaKeySize};
    let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
        .map_err(|e| data_dir_error(path, e))?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, app.name);
    let cert = params
        .self_signed(&key)
        .map_err(|e| data_dir_error(path, e))?;
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    crate::util::write_atomic_as(path, pem.as_bytes(), crate::util::FileAccess::OwnerOnly)
        .map_err(|e| data_dir_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::auth::certificate::CertificateAssertion;
    use crate::emulator::entra::APPS;

    const ENDPOINT: &str = "https://127.0.0.1:1/t/oauth2/v2.0/token";

    /// An assertion signed with `pem`'s key by hand: `alg`, header extras, claims.
    fn signed(
        pem: &[u8],
        alg: &str,
        header: serde_json::Value,
        claims: serde_json::Value,
    ) -> String {
        let key = match PrivateKeyDer::from_pem_slice(pem).unwrap() {
            PrivateKeyDer::Pkcs8(k) => {
                aws_lc_rs::rsa::KeyPair::from_pkcs8(k.secret_pkcs8_der()).unwrap()
            }
            _ => unreachable!(),
        };
        let mut h = serde_json::json!({ "alg": alg, "typ": "JWT" });
        h.as_object_mut()
            .unwrap()
            .extend(header.as_object().unwrap().clone());
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let padding: &dyn aws_lc_rs::signature::RsaEncoding = match alg {
            "PS256" => &aws_lc_rs::signature::RSA_PSS_SHA256,
            _ => &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        };
        let mut sig = vec![0; key.public_modulus_len()];
        key.sign(
            padding,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn client_assertions_are_checked_as_entra_checks_them() {
        let dir = tempfile::tempdir().unwrap();
        let (local, reader) = (&APPS[0], &APPS[1]);
        let cert = AppCertificate::open(dir.path(), local).unwrap();
        let other = AppCertificate::open(dir.path(), reader).unwrap();
        // Kept: opened again, the same certificate.
        assert_eq!(
            AppCertificate::open(dir.path(), local).unwrap().sha1,
            cert.sha1
        );
        let pem = std::fs::read(&cert.path).unwrap();
        let now = 1_800_000_000;
        let check = |a: &str| {
            cert.check_assertion(local.client_id, ENDPOINT, a, now)
                .map_err(|r| r.code)
        };
        // What batchdeck's client makes (RS256, x5t as base64url).
        let ours = CertificateAssertion::from_pem(
            &cert.path,
            &pem,
            "t",
            local.client_id,
            "https://127.0.0.1:1",
        )
        .unwrap();
        assert_eq!(check(&ours.assertion(now).unwrap()), Ok(()));
        assert_eq!(check(&ours.assertion(now - 3600).unwrap()), Err(700024));
        // PS256 with x5t#S256 (what MSAL signs when it has the SHA-256 thumbprint), and
        // fractional NumericDates (MSAL Python's exp and iat).
        let s256 = URL_SAFE_NO_PAD.encode(&cert.sha256);
        let claims = |aud: &str, iss: &str, exp: f64| {
            serde_json::json!({ "aud": aud, "iss": iss, "sub": iss, "exp": exp,
                "iat": now as f64 + 0.25, "jti": "j" })
        };
        let msal = |aud: &str, iss: &str, exp: f64| {
            signed(
                &pem,
                "PS256",
                serde_json::json!({ "x5t#S256": s256 }),
                claims(aud, iss, exp),
            )
        };
        let exp = now as f64 + 600.5;
        assert_eq!(check(&msal(ENDPOINT, local.client_id, exp)), Ok(()));
        assert_eq!(
            check(&msal("https://elsewhere/token", local.client_id, exp)),
            Err(700023)
        );
        assert_eq!(check(&msal(ENDPOINT, reader.client_id, exp)), Err(700021));
        // Padded base64 thumbprints (as some SDKs send them) name the certificate too.
        let padded = signed(
            &pem,
            "RS256",
            serde_json::json!({ "x5t": STANDARD.encode(&cert.sha1) }),
            claims(ENDPOINT, local.client_id, exp),
        );
        assert_eq!(check(&padded), Ok(()));
        // Another certificate's key, or a changed claim: refused.
        let reader_pem = std::fs::read(&other.path).unwrap();
        let foreign = signed(
            &reader_pem,
            "RS256",
            serde_json::json!({ "x5t": URL_SAFE_NO_PAD.encode(&other.sha1) }),
            claims(ENDPOINT, local.client_id, exp),
        );
        assert_eq!(check(&foreign), Err(700027));
        let impostor = signed(
            &reader_pem,
            "RS256",
            serde_json::json!({ "x5t": URL_SAFE_NO_PAD.encode(&cert.sha1) }),
            claims(ENDPOINT, local.client_id, exp),
        );
        assert_eq!(check(&impostor), Err(700027));
        let none = signed(
            &pem,
            "HS256",
            serde_json::json!({ "x5t": URL_SAFE_NO_PAD.encode(&cert.sha1) }),
            claims(ENDPOINT, local.client_id, exp),
        );
        assert_eq!(check(&none), Err(700027));
        assert_eq!(check("not-a-jwt"), Err(50027));
    }
}
