//! JSON Web Tokens as Microsoft Entra ID issues them: RS256 over `header.claims`, base64url
//! without padding, with a `kid` naming the signing key (published at the JWKS endpoint).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair};

/// The claims the emulator puts in (and checks in) its tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    #[serde(default, deserialize_with = "numeric_date")]
    pub iat: i64,
    #[serde(default, deserialize_with = "numeric_date")]
    pub nbf: i64,
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub oid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    /// The client (application) id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub azp: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub appid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ver: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// A NumericDate (RFC 7519): seconds since the epoch, which clients may send with a fraction
/// (MSAL does); whole seconds are kept.
fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() {
        Ok(v.floor() as i64)
    } else {
        Err(serde::de::Error::custom("not a NumericDate"))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub typ: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kid: String,
    /// The SHA-1 thumbprint of the certificate whose key signed a client assertion.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x5t: String,
    /// The same with SHA-256.
    #[serde(default, rename = "x5t#S256", skip_serializing_if = "String::is_empty")]
    pub x5t_s256: String,
}

/// Why a token does not verify (before its claims are looked at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    Signature,
}

/// An RSA key that signs tokens, with its key id.
pub struct SigningKey {
    pair: RsaKeyPair,
    pub kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new 2048-bit key, and its PKCS#8 DER to keep.
    pub fn generate() -> Result<(SigningKey, Vec<u8>), String> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| e.to_string())?;
        let der = pair.as_der().map_err(|e| e.to_string())?.as_ref().to_vec();
        Ok((SigningKey::from_pair(pair), der))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| e.to_string())?;
        Ok(SigningKey::from_pair(pair))
    }

    fn from_pair(pair: RsaKeyPair) -> SigningKey {
        // The key id: a digest of the public key, as Entra's are opaque strings.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pair.public_key().as_ref());
        let kid = B64URL.encode(&digest.as_ref()[..16]);
        SigningKey { pair, kid }
    }

    /// `header.claims.signature`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = Header {
            alg: "RS256".into(),
            typ: "JWT".into(),
            kid: self.kid.clone(),
            ..Header::default()
        };
        let head = B64URL.encode(serde_json::to_vec(&header).unwrap_or_default());
        let body = B64URL.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{head}.{body}");
        let mut sig = vec![0; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        // Signing with a valid key into a buffer of the modulus' length cannot fail.
        let _ = self.pair.sign(
            &signature::RSA_PKCS1_SHA256,
            &rng,
            signing_input.as_bytes(),
            &mut sig,
        );
        format!("{signing_input}.{}", B64URL.encode(sig))
    }

    /// The claims of `token` if it is a well-formed RS256 JWT signed by this key.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        verify_rsa(self.pair.public_key().as_ref(), token, &["RS256"]).map(|(_, claims)| claims)
    }

    /// The public key as a JWK (`kty`, `use`, `kid`, `n`, `e`), for the JWKS endpoint.
    pub fn jwk(&self) -> serde_json::Value {
        let public = self.pair.public_key();
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": B64URL.encode(public.modulus().big_endian_without_leading_zero()),
            "e": B64URL.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }
}

/// The header and claims of `token` if it is a well-formed JWT signed with one of `algorithms`
/// (`RS256`, `PS256`) by the key whose public part (PKCS#1 DER) is `public_key`.
pub fn verify_rsa(
    public_key: &[u8],
    token: &str,
    algorithms: &[&str],
) -> Result<(Header, Claims), JwtError> {
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = header(token).ok_or(JwtError::Malformed)?;
    let algorithm: &'static signature::RsaParameters = match header.alg.as_str() {
        a if !algorithms.contains(&a) => return Err(JwtError::Signature),
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        _ => return Err(JwtError::Signature),
    };
    let sig = B64URL.decode(sig).map_err(|_| JwtError::Malformed)?;
    signature::UnparsedPublicKey::new(algorithm, public_key)
        .verify(format!("{head}.{body}").as_bytes(), &sig)
        .map_err(|_| JwtError::Signature)?;
    let claims = B64URL
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    Ok((header, claims))
}

/// The header of a JWT, unchecked (to find the key that should have signed it).
pub fn header(token: &str) -> Option<Header> {
    let head = token.split('.').next()?;
    serde_json::from_slice(&B64URL.decode(head).ok()?).ok()
}

/// The claims of a JWT without checking its signature (for messages about a token that was
/// refused, never for trusting it).
pub fn peek(token: &str) -> Option<Claims> {
    let body = token.split('.').nth(1)?;
    serde_json::from_slice(&B64URL.decode(body).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_with_their_key_only() {
        let (key, der) = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8(&der).unwrap();
        assert_eq!(key.kid, again.kid);
        let claims = Claims {
            aud: "https://storage.azure.com".into(),
            iss: "https://127.0.0.1:1/t/v2.0".into(),
            exp: 2_000_000_000,
            tid: "t".into(),
            oid: "o".into(),
            ..Claims::default()
        };
        let token = key.sign(&claims);
        assert_eq!(again.verify(&token).unwrap(), claims);
        assert_eq!(peek(&token).unwrap(), claims);
        let (other, _) = SigningKey::generate().unwrap();
        assert_eq!(other.verify(&token), Err(JwtError::Signature));
        // A changed claim breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = B64URL.encode(
            serde_json::to_vec(&Claims {
                aud: "https://batch.core.windows.net/".into(),
                ..claims.clone()
            })
            .unwrap(),
        );
        parts[1] = &forged;
        assert_eq!(key.verify(&parts.join(".")), Err(JwtError::Signature));
        assert_eq!(key.verify("a.b"), Err(JwtError::Malformed));
        assert_eq!(key.jwk()["kid"], key.kid);
    }
}
