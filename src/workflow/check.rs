//! `batchdeck info --check`: gets the tokens (or signs a request) and calls each service once,
//! so that a user learns before a run whether both accounts let them in.

use crate::azure::storage::{SasPermissions, StorageClient};
use crate::workflow::steps::Clients;

/// A container name no run uses: asking whether it exists needs read access and nothing more.
const PROBE_CONTAINER: &str = "batchdeck-access-check";
/// A pool id no run uses, for the same purpose.
const PROBE_POOL: &str = "batchdeck-access-check";

/// One line per service: `Ok(what was checked)` or `Err(the one-line reason)`.
pub struct CheckReport {
    pub batch: Result<String, String>,
    pub storage: Result<String, String>,
}

/// Calls both services with their credentials.
pub async fn check(clients: &Clients) -> CheckReport {
    let batch = match clients.batch.pool_exists(PROBE_POOL).await {
        Ok(_) => Ok(format!(
            "ok: account {} answered ({})",
            clients.batch.account(),
            clients.batch.credential().describe()
        )),
        Err(e) => Err(e.to_string()),
    };
    let storage = check_storage(&clients.storage).await;
    CheckReport { batch, storage }
}

async fn check_storage(storage: &StorageClient) -> Result<String, String> {
    storage
        .container_exists(PROBE_CONTAINER)
        .await
        .map_err(|e| e.to_string())?;
    let how = match storage.auth_kind() {
        crate::azure::storage::AuthKind::Entra => {
            // What a run needs for its tasks' outputs: a user delegation SAS.
            storage
                .container_sas(
                    PROBE_CONTAINER,
                    SasPermissions::WRITE,
                    std::time::Duration::from_secs(60),
                )
                .await
                .map_err(|e| e.to_string())?;
            "Microsoft Entra ID; a user delegation key was granted"
        }
        _ => "Shared Key",
    };
    Ok(format!(
        "ok: account {} answered ({how})",
        storage.account()
    ))
}
