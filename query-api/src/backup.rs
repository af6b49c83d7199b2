//! `POST /v1/backups`: an online, consistent backup of the ledger, written on the node's
//! own disk under its backup directory, for an inspector (`foodtrace backup`).
//!
//! A backup is a directory: `ledger/` (a RocksDB checkpoint: whole commits only, taken
//! while the node goes on writing) and the node's files beside it (its checkpoint key,
//! log origin and verifier key, the inspectors' token hashes), so `foodtrace restore` can
//! turn it into a data directory that a node opens as it was. It holds the node's
//! private checkpoint key: keep backups where that key may be.

use std::path::{Path, PathBuf};
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger_store::StoreErrorKind;
use serde::Serialize;

use crate::inspect::blocking;
use crate::{ApiError, AppState, Params, refuse_unknown};

/// Where backups go, and the files copied into each beside the ledger.
#[derive(Debug, Clone)]
pub struct BackupTarget {
    /// Each backup is a directory in here.
    pub root: PathBuf,
    /// Files copied into each backup by name (a missing one is skipped).
    pub companions: Vec<PathBuf>,
}

/// What `POST /v1/backups` made.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BackupReport {
    /// The backup's name (its directory's).
    pub name: String,
    /// Its directory on the node's machine.
    pub path: String,
    /// Events in the backup.
    pub events: u64,
    /// Leaves of the latest signed checkpoint in it, if there is one.
    pub checkpoint_tree_size: Option<u64>,
    /// Bytes the backup's files take (hard-linked tables count in full).
    pub bytes: u64,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
}

/// A backup name: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with a dot.
fn check_name(name: &str) -> Result<(), ApiError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::bad("name", "must be 1 to 64 characters"));
    }
    if name.starts_with('.') {
        return Err(ApiError::bad("name", "must not start with '.'"));
    }
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return Err(ApiError::bad(
            "name",
            format!(
                "'{}' is not allowed: use A-Z, a-z, 0-9, '.', '_' and '-'",
                c.escape_default()
            ),
        ));
    }
    Ok(())
}

fn directory_bytes(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        total += if metadata.is_dir() {
            directory_bytes(&entry.path())?
        } else {
            metadata.len()
        };
    }
    Ok(total)
}

fn io_failure(what: String, error: std::io::Error) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        title: "Backup failed",
        detail: format!("{what}: {error}"),
        parameter: None,
    }
}

/// `POST /v1/backups?name=`: a consistent copy of the ledger, taken while it runs.
#[utoipa::path(
    post,
    path = "/v1/backups",
    tag = "inspectors",
    operation_id = "backup",
    description = "Writes an online, consistent backup of the ledger (a RocksDB checkpoint, with the node's key and log files) into a new directory under the node's backup directory. `foodtrace restore` turns it into a data directory.",
    security(("inspector_token" = [])),
    params(
        ("name" = Option<String>, Query, description = "The backup's directory name: 1 to 64 of A-Z a-z 0-9 . _ - (default: the UTC time, like 20261129T063000Z).")
    ),
    responses(
        (status = 201, description = "The backup was written.", body = BackupReport),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = crate::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No inspector token, or one nobody holds.", body = crate::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The inspector token was revoked.", body = crate::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A backup of that name exists.", body = crate::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Writing the backup failed (it is removed).", body = crate::Problem, content_type = "application/problem+json"),
        (status = 501, description = "This server keeps no backups (a standalone query API, or a store in memory).", body = crate::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    refuse_unknown(&params, &["name"])?;
    let Some(target) = state.backups.clone() else {
        return Err(not_implemented(
            "this server keeps no backups: ask the node that writes the ledger",
        ));
    };
    let name = match params.get("name") {
        Some(name) => {
            check_name(name)?;
            name.clone()
        }
        None => chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string(),
    };
    let report = blocking(&state, move |state| {
        let started = Instant::now();
        let dest = target.root.join(&name);
        std::fs::create_dir_all(&target.root)
            .map_err(|e| io_failure(format!("creating {}", target.root.display()), e))?;
        // Creating the directory claims the name, even against a backup started at once.
        if let Err(error) = std::fs::create_dir(&dest) {
            return Err(if error.kind() == std::io::ErrorKind::AlreadyExists {
                ApiError {
                    status: StatusCode::CONFLICT,
                    title: "Conflict",
                    detail: format!("name: a backup named '{name}' exists"),
                    parameter: Some("name"),
                }
            } else {
                io_failure(format!("creating {}", dest.display()), error)
            });
        }
        let written = write_backup(state, &target, &dest);
        match written {
            Ok((events, checkpoint_tree_size)) => Ok(BackupReport {
                path: dest.display().to_string(),
                bytes: directory_bytes(&dest).unwrap_or(0),
                name,
                events,
                checkpoint_tree_size,
                took_ms: started.elapsed().as_millis() as u64,
            }),
            Err(error) => {
                // Leave no half-written backup behind to be mistaken for one.
                let _ = std::fs::remove_dir_all(&dest);
                Err(error)
            }
        }
    })
    .await?;
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

/// The ledger and its companions into `dest`; returns the copy's event count and the
/// size of its latest checkpoint.
fn write_backup(
    state: &AppState,
    target: &BackupTarget,
    dest: &Path,
) -> Result<(u64, Option<u64>), ApiError> {
    state
        .store
        .backup_to(&dest.join("ledger"))
        .map_err(|error| match error.kind() {
            StoreErrorKind::Unsupported => not_implemented(error.to_string()),
            _ => ApiError::from(error),
        })?;
    for file in &target.companions {
        let Some(file_name) = file.file_name() else {
            continue;
        };
        match std::fs::copy(file, dest.join(file_name)) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io_failure(format!("copying {}", file.display()), error)),
        }
    }
    // What the copy holds, read from the copy itself.
    let copy = ledger_rocksdb::RocksStore::open_read_only(&dest.join("ledger"))?;
    use ledger_store::LedgerStore;
    let events = copy.next_sequence()?;
    let checkpoint = copy.latest_checkpoint()?.map(|c| c.tree_size);
    Ok((events, checkpoint))
}

fn not_implemented(detail: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::NOT_IMPLEMENTED,
        title: "Not implemented",
        detail: detail.into(),
        parameter: None,
    }
}
