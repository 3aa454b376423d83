//! A service principal's certificate (`AZURE_CLIENT_CERTIFICATE_PATH`): a PEM file holding the
//! certificate and its unencrypted RSA private key, as `az ad sp create-for-rbac --create-cert`
//! writes it. Each token request carries a client assertion signed with the key (RS256, the
//! certificate named by its SHA-1 thumbprint `x5t`, audience the token endpoint, issuer and
//! subject the client id, five minutes of life), which `azure_identity`'s
//! `ClientAssertionCredential` exchanges for tokens. The key never leaves this module: `Debug`
//! shows only the client id and the endpoint, and errors name the file, never its contents.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::ClientMethodOptions;
use azure_identity::{ClientAssertion, ClientAssertionCredential};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long an assertion is valid (as the Azure SDKs make them).
const ASSERTION_LIFETIME_SECS: i64 = 300;

/// The authority the Azure SDKs use when `AZURE_AUTHORITY_HOST` is not set.
pub const PUBLIC_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Signs client assertions with a certificate's key.
pub struct CertificateAssertion {
    client_id: String,
    token_endpoint: String,
    x5t: String,
    key: aws_lc_rs::rsa::KeyPair,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("token_endpoint", &self.token_endpoint)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// Reads the PEM `pem` (the file at `path`, named in errors) for `client_id` of `tenant`
    /// at `authority_host`.
    pub fn from_pem(
        path: &Path,
        pem: &[u8],
        tenant: &str,
        client_id: &str,
        authority_host: &str,
    ) -> Result<CertificateAssertion, String> {
        let file = path.display();
        let convert = "a .pfx converts with `openssl pkcs12 -in cert.pfx -out cert.pem -nodes`";
        if !pem.starts_with(b"-----BEGIN") && !pem.windows(10).any(|w| w == b"-----BEGIN") {
            return Err(format!(
                "AZURE_CLIENT_CERTIFICATE_PATH {file} is not a PEM file with the certificate and its private key ({convert})"
            ));
        }
        let cert = CertificateDer::from_pem_slice(pem).map_err(|_| {
            format!("AZURE_CLIENT_CERTIFICATE_PATH {file} holds no certificate (BEGIN CERTIFICATE)")
        })?;
        let key = match PrivateKeyDer::from_pem_slice(pem) {
            Ok(PrivateKeyDer::Pkcs8(k)) => aws_lc_rs::rsa::KeyPair::from_pkcs8(k.secret_pkcs8_der()),
            Ok(PrivateKeyDer::Pkcs1(k)) => aws_lc_rs::rsa::KeyPair::from_der(k.secret_pkcs1_der()),
            _ => {
                return Err(format!(
                    "AZURE_CLIENT_CERTIFICATE_PATH {file} holds no unencrypted RSA private key next to the certificate (an encrypted key, AZURE_CLIENT_CERTIFICATE_PASSWORD, is not supported; {convert})"
                ));
            }
        }
        .map_err(|_| {
            format!("AZURE_CLIENT_CERTIFICATE_PATH {file}: the private key is not an RSA key of 2048 bits or more")
        })?;
        let thumbprint =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
        Ok(CertificateAssertion {
            client_id: client_id.to_string(),
            token_endpoint: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                authority_host.trim_end_matches('/')
            ),
            x5t: B64URL.encode(thumbprint.as_ref()),
            key,
        })
    }

    /// A new assertion, valid from `now` (Unix seconds) for five minutes.
    pub fn assertion(&self, now: i64) -> Result<String, String> {
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": self.x5t });
        let claims = serde_json::json!({
            "aud": self.token_endpoint,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| {
                "could not sign the client assertion with the certificate's key".to_string()
            })?;
        Ok(format!("{input}.{}", B64URL.encode(sig)))
    }
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        self.assertion(chrono::Utc::now().timestamp()).map_err(|m| {
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, m)
        })
    }
}

/// The credential of `client_id` of `tenant` with the certificate at `path`.
pub fn credential(
    path: &Path,
    tenant: &str,
    client_id: &str,
    authority_host: &str,
) -> Result<Arc<dyn TokenCredential>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("AZURE_CLIENT_CERTIFICATE_PATH {}: {e}", path.display()))?;
    let assertion = CertificateAssertion::from_pem(path, &pem, tenant, client_id, authority_host)?;
    let c =
        ClientAssertionCredential::new(tenant.to_string(), client_id.to_string(), assertion, None)
            .map_err(|e| format!("AZURE_CLIENT_CERTIFICATE_PATH: {e}"))?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PEM with a new self-signed certificate and its key, and the certificate's DER.
    fn pem() -> (String, Vec<u8>, Vec<u8>) {
        use rcgen::{CertificateParams, KeyPair, PKCS_RSA_SHA256, RsaKeySize};
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap();
        let cert = CertificateParams::default().self_signed(&key).unwrap();
        let public = aws_lc_rs::rsa::KeyPair::from_pkcs8(&key.serialize_der())
            .unwrap()
            .public_key()
            .as_ref()
            .to_vec();
        (
            format!("{}{}", cert.pem(), key.serialize_pem()),
            cert.der().to_vec(),
            public,
        )
    }

    use aws_lc_rs::signature::KeyPair as _;

    #[test]
    fn assertions_are_signed_with_the_certificate_key_and_name_it() {
        let (pem, der, public) = pem();
        let a = CertificateAssertion::from_pem(
            Path::new("sp.pem"),
            pem.as_bytes(),
            "t1",
            "app1",
            "https://login.example/",
        )
        .unwrap();
        let jwt = a.assertion(1_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let header: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], B64URL.encode(sha1.as_ref()));
        assert_eq!(claims["aud"], "https://login.example/t1/oauth2/v2.0/token");
        assert_eq!(
            (claims["iss"].as_str(), claims["sub"].as_str()),
            (Some("app1"), Some("app1"))
        );
        assert_eq!(
            (claims["nbf"].as_i64(), claims["exp"].as_i64()),
            (Some(1_000), Some(1_300))
        );
        assert_ne!(
            claims["jti"],
            serde_json::from_slice::<serde_json::Value>(
                &B64URL
                    .decode(a.assertion(1_000).unwrap().split('.').nth(1).unwrap())
                    .unwrap()
            )
            .unwrap()["jti"],
            "each assertion is new"
        );
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &public,
        )
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &B64URL.decode(parts[2]).unwrap(),
        )
        .expect("signed with the certificate's key");
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }

    #[test]
    fn a_file_that_is_not_a_certificate_with_its_key_is_named() {
        let (pem, _, _) = pem();
        let at = |bytes: &[u8]| {
            CertificateAssertion::from_pem(
                Path::new("/x/sp.pem"),
                bytes,
                "t",
                "c",
                PUBLIC_AUTHORITY,
            )
            .unwrap_err()
        };
        let pfx = at(&[0x30, 0x82, 0x0a, 0x00, 0x02, 0x01, 0x03]);
        assert!(
            pfx.contains("/x/sp.pem is not a PEM file") && pfx.contains("openssl pkcs12"),
            "{pfx}"
        );
        let cert_only = pem.split("-----BEGIN PRIVATE KEY").next().unwrap();
        let e = at(cert_only.as_bytes());
        assert!(e.contains("holds no unencrypted RSA private key"), "{e}");
        let key_only = &pem[pem.find("-----BEGIN PRIVATE KEY").unwrap()..];
        let e = at(key_only.as_bytes());
        assert!(e.contains("holds no certificate"), "{e}");
        assert!(!e.contains("MII"), "no key material in the message");
    }
}
