//! [`Credential`]: what a client authenticates its requests with, the same for Batch and
//! Storage: an account key (Shared Key) or Microsoft Entra ID tokens.

use std::fmt;

use super::SharedKeyCredential;
use super::entra::EntraCredential;

/// How the user asked to authenticate (`--auth`, a profile's `auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// The account keys (Shared Key, key-signed SAS).
    Key,
    /// Microsoft Entra ID tokens (and user delegation SAS).
    Entra,
}

impl std::str::FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "key" | "sharedkey" | "shared-key" => Ok(AuthMode::Key),
            "entra" | "entra-id" | "aad" | "login" => Ok(AuthMode::Entra),
            other => Err(format!(
                "auth {other:?} is not known: use key (account keys) or entra (Microsoft Entra ID)"
            )),
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMode::Key => "key",
            AuthMode::Entra => "entra",
        })
    }
}

/// What a client signs (Shared Key) or authorizes (bearer token) each request with.
#[derive(Clone)]
pub enum Credential {
    SharedKey(SharedKeyCredential),
    Entra(EntraCredential),
}

impl Credential {
    pub fn mode(&self) -> AuthMode {
        match self {
            Credential::SharedKey(_) => AuthMode::Key,
            Credential::Entra(_) => AuthMode::Entra,
        }
    }

    /// What it is, for `batchdeck info` and logs (never a secret).
    pub fn describe(&self) -> String {
        match self {
            Credential::SharedKey(k) => {
                format!("Shared Key (account {}, key redacted)", k.account())
            }
            Credential::Entra(e) => {
                format!("Microsoft Entra ID: {}", e.chain().describe())
            }
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}
