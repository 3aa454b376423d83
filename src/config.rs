//! Where batchdeck talks to, and where it keeps things.
//!
//! Resolution, first match wins: command-line flags; the Azure CLI's environment variables
//! (`AZURE_BATCH_ACCOUNT`, `AZURE_BATCH_ACCESS_KEY`, `AZURE_BATCH_ENDPOINT`,
//! `AZURE_STORAGE_ACCOUNT`, `AZURE_STORAGE_KEY`, `AZURE_STORAGE_CONNECTION_STRING`); a named
//! profile of the config file (`--profile`, or the file's `default_profile`); and otherwise
//! the embedded local Azure.
//!
//! Which credential: `--auth key|entra` (or a profile's `auth`); with no choice, a configured
//! key means Shared Key, and an account endpoint without a key means Microsoft Entra ID
//! (tokens from [`crate::azure::auth::entra`], one chain shared by both services).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use std::sync::Arc;

use crate::azure::auth::entra::{BATCH_SCOPE, Entra, STORAGE_SCOPE};
use crate::azure::auth::{AuthError, AuthMode, Credential, SharedKeyCredential};
use crate::emulator::{DEV_BATCH_ACCOUNT, DEV_BATCH_KEY, DEV_STORAGE_ACCOUNT, DEV_STORAGE_KEY};
use crate::util::{FileAccess, write_atomic_as};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{var} is set but {missing} is not: set both, or neither to use the embedded local Azure{}",
        if var.starts_with("AZURE_") && missing.ends_with("KEY") { " (or sign in with Microsoft Entra ID: --auth entra with the account's endpoint)" } else { "" }
    )]
    Incomplete {
        var: &'static str,
        missing: &'static str,
    },
    #[error(
        "{what} is not a valid URL ({value:?}): use e.g. https://myaccount.westeurope.batch.azure.com"
    )]
    BadUrl { what: &'static str, value: String },
    #[error("{what}: {source}")]
    BadKey {
        what: &'static str,
        source: AuthError,
    },
    #[error("AZURE_STORAGE_CONNECTION_STRING: {0}")]
    ConnectionString(String),
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(
        "config file {path} holds account keys but is readable by other users (mode {mode:o}): run `chmod 600 {path}`"
    )]
    WorldReadable { path: PathBuf, mode: u32 },
    #[error("profile {name:?} is not in {path}; profiles there: {known}")]
    UnknownProfile {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("cannot find a home directory for batchdeck's files; set HOME or pass --data-dir")]
    NoHome,
    #[error(
        "--auth key: {what} has no key; set {var}, or use --auth entra to sign in with Microsoft Entra ID"
    )]
    KeyMissing {
        what: &'static str,
        var: &'static str,
    },
    #[error("Microsoft Entra ID: {0}")]
    Entra(String),
}

/// A service batchdeck talks to: the embedded emulator, or an endpoint with its credential.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// The in-process emulator, started on demand.
    Embedded,
    Remote {
        url: Url,
        /// The account's name (Batch account, storage account).
        account: String,
        credential: Credential,
    },
}

impl Endpoint {
    pub fn is_embedded(&self) -> bool {
        matches!(self, Endpoint::Embedded)
    }
}

/// Files and directories batchdeck uses.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
}

impl Paths {
    /// The OS's directories for batchdeck (XDG on Linux).
    pub fn from_os() -> Result<Paths, ConfigError> {
        let dirs =
            directories::ProjectDirs::from("", "", "batchdeck").ok_or(ConfigError::NoHome)?;
        Ok(Paths {
            config_file: dirs.config_dir().join("config.toml"),
            data_dir: dirs.data_dir().to_path_buf(),
            log_dir: dirs.data_dir().join("logs"),
        })
    }

    /// Where the embedded emulator keeps its state.
    pub fn emulator_dir(&self) -> PathBuf {
        self.data_dir.join("emulator")
    }
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the settings came from: "embedded", "environment", "flags" or `profile NAME`.
    pub source: String,
    pub batch: Endpoint,
    pub storage: Endpoint,
    pub paths: Paths,
}

/// What the command line can say about targets.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub profile: Option<String>,
    pub batch_endpoint: Option<String>,
    pub storage_endpoint: Option<String>,
    /// `--auth key|entra`.
    pub auth: Option<AuthMode>,
}

/// One profile of the config file. Keys may be omitted and come from the environment.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_connection_string: Option<String>,
    /// `key` or `entra` (see [`AuthMode`]); unset, a configured key means `key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMode>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// Environment lookups go through this so tests can supply their own.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.trim().is_empty())
    }
}

impl Config {
    /// Resolves flags, environment and config file into a configuration.
    pub fn resolve(
        overrides: &Overrides,
        env: &dyn Env,
        paths: Paths,
    ) -> Result<Config, ConfigError> {
        let file = load_file(&paths.config_file)?;
        let env_profile = profile_from_env(env);
        let (source, profile) = if let Some(name) = &overrides.profile {
            (
                format!("profile {name}"),
                Some(pick(&file, name, &paths.config_file)?),
            )
        } else if env_profile.batch_account.is_some()
            || env_profile.storage_account.is_some()
            || env_profile.storage_connection_string.is_some()
        {
            ("environment".to_string(), Some(env_profile.clone()))
        } else if let Some(name) = &file.default_profile {
            (
                format!("profile {name}"),
                Some(pick(&file, name, &paths.config_file)?),
            )
        } else {
            ("embedded".to_string(), None)
        };
        // A profile's missing keys may come from the environment.
        let profile = profile.map(|p| merge(p, env_profile));
        let mode = overrides
            .auth
            .or_else(|| profile.as_ref().and_then(|p| p.auth));
        // One chain of Entra ID credentials, built only if a service needs it.
        let chain: std::cell::OnceCell<Arc<Entra>> = std::cell::OnceCell::new();
        let entra = |scope: &'static str| -> Result<Credential, ConfigError> {
            let c = match chain.get() {
                Some(c) => c.clone(),
                None => {
                    let c = Entra::from_env(&|k| env.var(k))
                        .map_err(|e| ConfigError::Entra(e.to_string()))?;
                    chain.get_or_init(|| c).clone()
                }
            };
            Ok(Credential::Entra(c.scoped(scope)))
        };

        let mut batch = match &profile {
            Some(p) => batch_endpoint(p, mode, &entra)?,
            None => Endpoint::Embedded,
        };
        let mut storage = match &profile {
            Some(p) => storage_endpoint(p, mode, &entra)?,
            None => Endpoint::Embedded,
        };
        let mut source = source;
        if let Some(u) = &overrides.batch_endpoint {
            let url = parse_url("--batch-endpoint", u)?;
            let local = (DEV_BATCH_ACCOUNT.to_string(), DEV_BATCH_KEY, BATCH_SCOPE);
            batch = moved_to(batch, url, local, mode, &entra)?;
        }
        if let Some(u) = &overrides.storage_endpoint {
            let url = parse_url("--storage-endpoint", u)?;
            // Signed in, the account is the endpoint's; the local key signs as the local account.
            let account = match mode {
                Some(AuthMode::Entra) => storage_account_of(&url),
                _ => DEV_STORAGE_ACCOUNT.to_string(),
            };
            let local = (account, DEV_STORAGE_KEY, STORAGE_SCOPE);
            storage = moved_to(storage, url, local, mode, &entra)?;
        }
        if overrides.batch_endpoint.is_some() || overrides.storage_endpoint.is_some() {
            source = format!("{source} + flags");
        }
        if mode == Some(AuthMode::Entra) && (batch.is_embedded() || storage.is_embedded()) {
            return Err(ConfigError::Entra(
                "--auth entra needs the account endpoints (AZURE_BATCH_ENDPOINT and AZURE_STORAGE_ACCOUNT, a profile, or --batch-endpoint and --storage-endpoint, e.g. those `batchdeck emulator` prints); the embedded local Azure started by batchdeck uses its keys".into(),
            ));
        }
        Ok(Config {
            source,
            batch,
            storage,
            paths,
        })
    }
}

fn dev_credential(account: &str, key: &str) -> SharedKeyCredential {
    SharedKeyCredential::new(account, key).expect("well-known emulator keys are valid base64")
}

/// A compatible service at `url` with the well-known local account and its key.
/// `endpoint` pointed at `url` by a flag: a configured account keeps its credential; the
/// embedded one becomes the local account (name, key, token scope) at `url`, signed with its
/// key, or with a token under `--auth entra`.
fn moved_to(
    endpoint: Endpoint,
    url: Url,
    (account, key, scope): (String, &str, &'static str),
    mode: Option<AuthMode>,
    entra: &EntraFor<'_>,
) -> Result<Endpoint, ConfigError> {
    Ok(match endpoint {
        Endpoint::Remote {
            account,
            credential,
            ..
        } => Endpoint::Remote {
            url,
            account,
            credential,
        },
        Endpoint::Embedded if mode == Some(AuthMode::Entra) => Endpoint::Remote {
            url,
            account,
            credential: entra(scope)?,
        },
        Endpoint::Embedded => dev_endpoint(url, &account, key),
    })
}

fn dev_endpoint(url: Url, account: &str, key: &str) -> Endpoint {
    Endpoint::Remote {
        url,
        account: account.to_string(),
        credential: Credential::SharedKey(dev_credential(account, key)),
    }
}

/// The storage account a blob endpoint names: `https://ACCOUNT.blob...` or a path-style
/// `http://host:port/ACCOUNT` (the emulator's and Azurite's); the well-known one otherwise.
fn storage_account_of(url: &Url) -> String {
    crate::azure::storage::account_of_endpoint(url).unwrap_or_else(|| DEV_STORAGE_ACCOUNT.into())
}

/// What the environment and profile say for one service, and the mode, give its credential.
fn choose(mode: Option<AuthMode>, has_key: bool, has_endpoint: bool) -> Option<AuthMode> {
    match mode {
        Some(m) => Some(m),
        None if has_key => Some(AuthMode::Key),
        None if has_endpoint => Some(AuthMode::Entra),
        None => None,
    }
}

/// Shared Key with `key`, which must be there and be base64 (`missing` and `var` name it).
fn key_credential(
    account: &str,
    key: Option<&str>,
    what: &'static str,
    missing: &'static str,
    var: &'static str,
) -> Result<Credential, ConfigError> {
    let key = key.ok_or(ConfigError::KeyMissing { what, var: missing })?;
    SharedKeyCredential::new(account, key)
        .map(Credential::SharedKey)
        .map_err(|source| ConfigError::BadKey { what: var, source })
}

type EntraFor<'a> = dyn Fn(&'static str) -> Result<Credential, ConfigError> + 'a;

fn profile_from_env(env: &dyn Env) -> Profile {
    Profile {
        batch_account: env.var("AZURE_BATCH_ACCOUNT"),
        batch_key: env.var("AZURE_BATCH_ACCESS_KEY"),
        batch_endpoint: env.var("AZURE_BATCH_ENDPOINT"),
        storage_account: env.var("AZURE_STORAGE_ACCOUNT"),
        storage_key: env.var("AZURE_STORAGE_KEY"),
        storage_endpoint: None,
        storage_connection_string: env.var("AZURE_STORAGE_CONNECTION_STRING"),
        auth: None,
    }
}

fn merge(p: Profile, env: Profile) -> Profile {
    Profile {
        batch_account: p.batch_account.or(env.batch_account),
        batch_key: p.batch_key.or(env.batch_key),
        batch_endpoint: p.batch_endpoint.or(env.batch_endpoint),
        storage_account: p.storage_account.or(env.storage_account),
        storage_key: p.storage_key.or(env.storage_key),
        storage_endpoint: p.storage_endpoint,
        storage_connection_string: p
            .storage_connection_string
            .or(env.storage_connection_string),
        auth: p.auth.or(env.auth),
    }
}

fn pick(file: &FileConfig, name: &str, path: &Path) -> Result<Profile, ConfigError> {
    file.profiles
        .get(name)
        .cloned()
        .ok_or_else(|| ConfigError::UnknownProfile {
            name: name.to_string(),
            path: path.to_path_buf(),
            known: if file.profiles.is_empty() {
                "none".to_string()
            } else {
                file.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        })
}

fn parse_url(what: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|_| ConfigError::BadUrl {
        what,
        value: value.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::BadUrl {
            what,
            value: value.to_string(),
        });
    }
    Ok(url)
}

fn batch_endpoint(
    p: &Profile,
    mode: Option<AuthMode>,
    entra: &EntraFor<'_>,
) -> Result<Endpoint, ConfigError> {
    let Some(account) = &p.batch_account else {
        // An endpoint with no account: a compatible service with the well-known local account.
        return Ok(match &p.batch_endpoint {
            Some(u) if mode == Some(AuthMode::Entra) => Endpoint::Remote {
                url: parse_url("batch_endpoint", u)?,
                account: DEV_BATCH_ACCOUNT.into(),
                credential: entra(BATCH_SCOPE)?,
            },
            Some(u) => dev_endpoint(
                parse_url("batch_endpoint", u)?,
                DEV_BATCH_ACCOUNT,
                DEV_BATCH_KEY,
            ),
            None => Endpoint::Embedded,
        });
    };
    let chosen = choose(mode, p.batch_key.is_some(), p.batch_endpoint.is_some());
    let endpoint = p.batch_endpoint.as_deref().ok_or(ConfigError::Incomplete {
        var: "AZURE_BATCH_ACCOUNT",
        missing: if chosen.is_none() {
            "AZURE_BATCH_ACCESS_KEY"
        } else {
            "AZURE_BATCH_ENDPOINT"
        },
    })?;
    let endpoint = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    };
    let url = parse_url("AZURE_BATCH_ENDPOINT", &endpoint)?;
    let credential = match chosen {
        Some(AuthMode::Entra) => entra(BATCH_SCOPE)?,
        _ => key_credential(
            account,
            p.batch_key.as_deref(),
            "the Batch account",
            "AZURE_BATCH_ACCESS_KEY (or the profile's batch_key)",
            "AZURE_BATCH_ACCESS_KEY",
        )?,
    };
    Ok(Endpoint::Remote {
        url,
        account: account.clone(),
        credential,
    })
}

fn storage_endpoint(
    p: &Profile,
    mode: Option<AuthMode>,
    entra: &EntraFor<'_>,
) -> Result<Endpoint, ConfigError> {
    if let Some(cs) = &p.storage_connection_string {
        if mode == Some(AuthMode::Entra) {
            // The connection string names the account and its endpoint; its key is not used.
            let parsed = crate::azure::storage::ConnectionString::parse(cs).map_err(|e| {
                ConfigError::ConnectionString(match e {
                    crate::azure::storage::StorageError::Config(m) => m,
                    other => other.to_string(),
                })
            })?;
            return Ok(Endpoint::Remote {
                url: parsed.blob_endpoint.clone(),
                account: parsed.account.clone(),
                credential: entra(STORAGE_SCOPE)?,
            });
        }
        let (url, credential) = parse_connection_string(cs)?;
        return Ok(Endpoint::Remote {
            url,
            account: credential.account().to_string(),
            credential: Credential::SharedKey(credential),
        });
    }
    let Some(account) = &p.storage_account else {
        return Ok(match &p.storage_endpoint {
            Some(u) if mode == Some(AuthMode::Entra) => {
                let url = parse_url("storage_endpoint", u)?;
                Endpoint::Remote {
                    account: storage_account_of(&url),
                    url,
                    credential: entra(STORAGE_SCOPE)?,
                }
            }
            Some(u) => dev_endpoint(
                parse_url("storage_endpoint", u)?,
                DEV_STORAGE_ACCOUNT,
                DEV_STORAGE_KEY,
            ),
            None => Endpoint::Embedded,
        });
    };
    // A storage account always has an endpoint (its default one), so no key means Entra ID.
    let chosen = choose(mode, p.storage_key.is_some(), true);
    let url = match &p.storage_endpoint {
        Some(e) => parse_url("storage_endpoint", e)?,
        None => parse_url(
            "AZURE_STORAGE_ACCOUNT",
            &format!("https://{account}.blob.core.windows.net"),
        )?,
    };
    let credential = match chosen {
        Some(AuthMode::Entra) => entra(STORAGE_SCOPE)?,
        _ => key_credential(
            account,
            p.storage_key.as_deref(),
            "the storage account",
            "AZURE_STORAGE_KEY (or the profile's storage_key)",
            "AZURE_STORAGE_KEY",
        )?,
    };
    Ok(Endpoint::Remote {
        url,
        account: account.clone(),
        credential,
    })
}

/// Parses an Azure Storage connection string into the blob endpoint and the account key
/// (the storage client's parser; SAS-only strings are not enough to create containers).
pub fn parse_connection_string(cs: &str) -> Result<(Url, SharedKeyCredential), ConfigError> {
    let parsed = crate::azure::storage::ConnectionString::parse(cs).map_err(|e| {
        ConfigError::ConnectionString(match e {
            crate::azure::storage::StorageError::Config(m) => m,
            other => other.to_string(),
        })
    })?;
    let credential = parsed
        .credential()
        .ok_or_else(|| {
            ConfigError::ConnectionString(
                "AccountKey is missing (a SAS-only connection string cannot create containers)"
                    .to_string(),
            )
        })?
        .map_err(|source| ConfigError::BadKey {
            what: "AccountKey of AZURE_STORAGE_CONNECTION_STRING",
            source,
        })?;
    Ok((parsed.blob_endpoint.clone(), credential))
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
    };
    let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    let holds_keys = file.profiles.values().any(|p| {
        p.batch_key.is_some() || p.storage_key.is_some() || p.storage_connection_string.is_some()
    });
    if holds_keys {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| ConfigError::File {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::WorldReadable {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(file)
}

/// Saves what the environment (and the endpoint flags) configure as profile `name` of the
/// config file, written with mode 0600; `make_default` also makes it the default profile. The
/// profile is checked first (keys must be base64, endpoints URLs), so nothing broken is saved.
pub fn save_profile(
    paths: &Paths,
    name: &str,
    env: &dyn Env,
    overrides: &Overrides,
    make_default: bool,
) -> Result<PathBuf, ConfigError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ConfigError::File {
            path: paths.config_file.clone(),
            message: format!(
                "profile name {name:?} is not valid: use letters, digits, '-' and '_'"
            ),
        });
    }
    let mut profile = profile_from_env(env);
    profile.batch_endpoint = overrides.batch_endpoint.clone().or(profile.batch_endpoint);
    profile.storage_endpoint = overrides.storage_endpoint.clone();
    // Endpoints alone are a profile too: any compatible service, with the well-known local
    // accounts (as the same flags mean on the command line).
    if profile.batch_account.is_none()
        && profile.storage_account.is_none()
        && profile.storage_connection_string.is_none()
        && overrides.batch_endpoint.is_none()
        && overrides.storage_endpoint.is_none()
    {
        return Err(ConfigError::File {
            path: paths.config_file.clone(),
            message: "nothing to save: set AZURE_BATCH_ACCOUNT, AZURE_BATCH_ACCESS_KEY and AZURE_BATCH_ENDPOINT (and AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, or AZURE_STORAGE_CONNECTION_STRING) first, or pass --batch-endpoint/--storage-endpoint".into(),
        });
    }
    profile.auth = overrides.auth;
    // Checked as they will be resolved, without signing in.
    let no_sign_in = |_: &'static str| -> Result<Credential, ConfigError> {
        Ok(Credential::SharedKey(dev_credential(
            DEV_BATCH_ACCOUNT,
            DEV_BATCH_KEY,
        )))
    };
    batch_endpoint(&profile, profile.auth, &no_sign_in)?;
    storage_endpoint(&profile, profile.auth, &no_sign_in)?;
    let mut file = load_file(&paths.config_file)?;
    file.profiles.insert(name.to_string(), profile);
    if make_default {
        file.default_profile = Some(name.to_string());
    }
    let text = toml::to_string(&file).map_err(|e| ConfigError::File {
        path: paths.config_file.clone(),
        message: e.to_string(),
    })?;
    write_atomic_as(&paths.config_file, text.as_bytes(), FileAccess::OwnerOnly).map_err(|e| {
        ConfigError::File {
            path: paths.config_file.clone(),
            message: e.to_string(),
        }
    })?;
    Ok(paths.config_file.clone())
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Embedded => write!(f, "embedded local Azure"),
            Endpoint::Remote {
                url,
                account,
                credential,
            } => match credential {
                Credential::SharedKey(_) => {
                    write!(f, "{url} (account {account}, key redacted)")
                }
                Credential::Entra(_) => {
                    write!(f, "{url} (account {account}, Microsoft Entra ID)")
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> Paths {
        Paths {
            config_file: dir.join("config.toml"),
            data_dir: dir.join("data"),
            log_dir: dir.join("logs"),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "c2VjcmV0LWtleS1ieXRlcw==";

    #[test]
    fn profiles_are_saved_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        let e = env(&[
            ("AZURE_BATCH_ACCOUNT", "acct"),
            ("AZURE_BATCH_ACCESS_KEY", KEY),
            ("AZURE_BATCH_ENDPOINT", "acct.westeurope.batch.azure.com"),
            ("AZURE_STORAGE_ACCOUNT", "store"),
            ("AZURE_STORAGE_KEY", KEY),
        ]);
        let saved = save_profile(&p, "work", &e, &Overrides::default(), true).unwrap();
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A second profile keeps the first; the default stays unless asked.
        let e2 = env(&[
            ("AZURE_STORAGE_ACCOUNT", "other"),
            ("AZURE_STORAGE_KEY", KEY),
        ]);
        save_profile(&p, "play", &e2, &Overrides::default(), false).unwrap();
        let c = Config::resolve(&Overrides::default(), &env(&[]), p.clone()).unwrap();
        assert_eq!(c.source, "profile work");
        assert!(c.batch.to_string().contains("account acct, key redacted"));
        assert!(!c.batch.to_string().contains(KEY));
        let o = Overrides {
            profile: Some("play".into()),
            ..Overrides::default()
        };
        assert!(
            Config::resolve(&o, &env(&[]), p.clone())
                .unwrap()
                .storage
                .to_string()
                .contains("other")
        );
        // Nothing configured, a bad key or a bad name: refused, nothing written.
        let before = std::fs::read_to_string(&saved).unwrap();
        assert!(save_profile(&p, "x", &env(&[]), &Overrides::default(), false).is_err());
        let bad = env(&[
            ("AZURE_STORAGE_ACCOUNT", "s"),
            ("AZURE_STORAGE_KEY", "not base64!"),
        ]);
        assert!(save_profile(&p, "x", &bad, &Overrides::default(), false).is_err());
        assert!(save_profile(&p, "a b", &e2, &Overrides::default(), false).is_err());
        assert_eq!(std::fs::read_to_string(&saved).unwrap(), before);
    }

    #[test]
    fn endpoints_alone_are_saved_and_mean_the_well_known_local_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        let o = Overrides {
            profile: None,
            batch_endpoint: Some("http://127.0.0.1:40123".into()),
            storage_endpoint: Some("http://127.0.0.1:40124/devstoreaccount1".into()),
            auth: None,
        };
        save_profile(&p, "local", &env(&[]), &o, false).unwrap();
        let c = Config::resolve(
            &Overrides {
                profile: Some("local".into()),
                ..Overrides::default()
            },
            &env(&[]),
            p.clone(),
        )
        .unwrap();
        match (&c.batch, &c.storage) {
            (
                Endpoint::Remote {
                    url: b,
                    account: bc,
                    ..
                },
                Endpoint::Remote {
                    url: s,
                    account: sc,
                    ..
                },
            ) => {
                assert_eq!(b.as_str(), "http://127.0.0.1:40123/");
                assert_eq!(bc, DEV_BATCH_ACCOUNT);
                assert_eq!(s.as_str(), "http://127.0.0.1:40124/devstoreaccount1");
                assert_eq!(sc, DEV_STORAGE_ACCOUNT);
            }
            other => panic!("{other:?}"),
        }
        // A bad URL is refused before anything is written.
        let bad = Overrides {
            batch_endpoint: Some("ftp://x".into()),
            ..Overrides::default()
        };
        assert!(save_profile(&p, "bad", &env(&[]), &bad, false).is_err());
    }

    #[test]
    fn nothing_configured_means_embedded() {
        let d = tempfile::tempdir().unwrap();
        let c = Config::resolve(&Overrides::default(), &env(&[]), paths(d.path())).unwrap();
        assert!(c.batch.is_embedded() && c.storage.is_embedded());
        assert_eq!(c.source, "embedded");
    }

    #[test]
    fn environment_selects_azure_and_names_what_is_missing() {
        let d = tempfile::tempdir().unwrap();
        let e = env(&[
            ("AZURE_BATCH_ACCOUNT", "acct"),
            ("AZURE_BATCH_ACCESS_KEY", KEY),
            ("AZURE_BATCH_ENDPOINT", "acct.westeurope.batch.azure.com"),
            ("AZURE_STORAGE_ACCOUNT", "store"),
            ("AZURE_STORAGE_KEY", KEY),
        ]);
        let c = Config::resolve(&Overrides::default(), &e, paths(d.path())).unwrap();
        match &c.batch {
            Endpoint::Remote {
                url,
                account,
                credential,
            } => {
                assert_eq!(url.as_str(), "https://acct.westeurope.batch.azure.com/");
                assert_eq!(account, "acct");
                assert_eq!(credential.mode(), AuthMode::Key);
            }
            other => panic!("{other:?}"),
        }
        match &c.storage {
            Endpoint::Remote { url, .. } => {
                assert_eq!(url.as_str(), "https://store.blob.core.windows.net/")
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{c:?}").contains(KEY));
        assert!(!c.batch.to_string().contains(KEY));

        // An account endpoint without a key means Microsoft Entra ID; --auth key says which
        // key is missing.
        let e = env(&[
            ("AZURE_BATCH_ACCOUNT", "acct"),
            ("AZURE_BATCH_ENDPOINT", "x.batch.azure.com"),
            ("AZURE_STORAGE_ACCOUNT", "store"),
        ]);
        let c = Config::resolve(&Overrides::default(), &e, paths(d.path())).unwrap();
        for ep in [&c.batch, &c.storage] {
            match ep {
                Endpoint::Remote { credential, .. } => {
                    assert_eq!(credential.mode(), AuthMode::Entra)
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(c.batch.to_string().contains("Microsoft Entra ID"));
        let key = Overrides {
            auth: Some(AuthMode::Key),
            ..Overrides::default()
        };
        let err = Config::resolve(&key, &e, paths(d.path())).unwrap_err();
        assert!(err.to_string().contains("AZURE_BATCH_ACCESS_KEY"), "{err}");
        assert!(err.to_string().contains("--auth entra"), "{err}");
        // An account alone is still half a configuration.
        let e = env(&[("AZURE_BATCH_ACCOUNT", "acct")]);
        let err = Config::resolve(&Overrides::default(), &e, paths(d.path())).unwrap_err();
        assert!(
            err.to_string().contains("AZURE_BATCH_ACCESS_KEY is not"),
            "{err}"
        );
        // A key wins over the endpoint alone, unless --auth entra.
        let e = env(&[
            ("AZURE_STORAGE_ACCOUNT", "store"),
            ("AZURE_STORAGE_KEY", KEY),
        ]);
        let entra = Overrides {
            auth: Some(AuthMode::Entra),
            storage_endpoint: Some("https://store.blob.core.windows.net".into()),
            batch_endpoint: Some("https://acct.westeurope.batch.azure.com".into()),
            ..Overrides::default()
        };
        let c = Config::resolve(&entra, &e, paths(d.path())).unwrap();
        assert!(
            c.storage.to_string().contains("Microsoft Entra ID"),
            "{}",
            c.storage
        );
        let c = Config::resolve(&Overrides::default(), &e, paths(d.path())).unwrap();
        assert!(
            c.storage.to_string().contains("key redacted"),
            "{}",
            c.storage
        );

        let e = env(&[
            ("AZURE_BATCH_ACCOUNT", "acct"),
            ("AZURE_BATCH_ACCESS_KEY", "not base64!"),
            ("AZURE_BATCH_ENDPOINT", "x.batch.azure.com"),
        ]);
        let err = Config::resolve(&Overrides::default(), &e, paths(d.path())).unwrap_err();
        assert!(
            err.to_string().starts_with("AZURE_BATCH_ACCESS_KEY"),
            "{err}"
        );
        assert!(!err.to_string().contains("not base64!"));
    }

    #[test]
    fn connection_strings() {
        let (u, c) = parse_connection_string(&format!(
            "DefaultEndpointsProtocol=https;AccountName=store;AccountKey={KEY};EndpointSuffix=core.windows.net"
        ))
        .unwrap();
        assert_eq!(u.as_str(), "https://store.blob.core.windows.net/");
        assert_eq!(c.account(), "store");
        let (u, c) = parse_connection_string(&format!(
            "AccountName=devstoreaccount1;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        ))
        .unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(c.account(), "devstoreaccount1");
        let (u, _) = parse_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(u.port(), Some(10000));
        let err = parse_connection_string("AccountName=x").unwrap_err();
        assert!(err.to_string().contains("AccountKey"));
        assert!(parse_connection_string("garbage").is_err());
    }

    #[test]
    fn profiles_from_file_and_overrides() {
        let d = tempfile::tempdir().unwrap();
        let p = paths(d.path());
        write_atomic_as(
            &p.config_file,
            format!(
                "default_profile = \"work\"\n[profiles.work]\nbatch_account = \"wacct\"\nbatch_key = \"{KEY}\"\nbatch_endpoint = \"https://wacct.eastus.batch.azure.com\"\n"
            )
            .as_bytes(),
            FileAccess::OwnerOnly,
        )
        .unwrap();
        let c = Config::resolve(&Overrides::default(), &env(&[]), p.clone()).unwrap();
        assert_eq!(c.source, "profile work");
        assert!(!c.batch.is_embedded());
        assert!(c.storage.is_embedded());

        let err = Config::resolve(
            &Overrides {
                profile: Some("home".into()),
                ..Overrides::default()
            },
            &env(&[]),
            p.clone(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("work"), "{err}");

        // Flags point a service at any compatible endpoint; the embedded one keeps dev keys.
        let o = Overrides {
            storage_endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            ..Overrides::default()
        };
        let c = Config::resolve(&o, &env(&[]), p).unwrap();
        match c.storage {
            Endpoint::Remote { account, .. } => {
                assert_eq!(account, DEV_STORAGE_ACCOUNT)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_readable_key_file_is_refused_and_a_bad_one_explained() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = paths(d.path());
        std::fs::write(
            &p.config_file,
            format!("[profiles.x]\nstorage_account = \"s\"\nstorage_key = \"{KEY}\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&p.config_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Config::resolve(&Overrides::default(), &env(&[]), p.clone()).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(!err.to_string().contains(KEY));

        std::fs::write(&p.config_file, "[profiles.x]\nbatch_acount = \"typo\"\n").unwrap();
        let err = Config::resolve(&Overrides::default(), &env(&[]), p).unwrap_err();
        assert!(err.to_string().contains("batch_acount"), "{err}");
    }
}
