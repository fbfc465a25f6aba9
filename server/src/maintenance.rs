//! Housekeeping of a running server, at start and then every
//! [`INTERVAL`]: expired sessions and sign-ins are deleted, and model objects
//! that no submission names are removed.
//!
//! Such objects come from an upload interrupted between its object-store write
//! and its database commit (a killed server, a lost database). Only objects
//! older than [`GRACE`] are considered, and each is deleted under the exclusive
//! content lock of its digest (`db::content_locks`), which an upload holds in
//! shared mode from before its write until its commit: an upload in flight
//! never loses its object. Several servers may sweep at once; deletes are
//! idempotent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::ops::submissions::MODELS_PREFIX;
use crate::{ApiError, AppState};

/// Time between two rounds.
pub const INTERVAL: Duration = Duration::from_secs(3600);
/// Age below which an unreferenced object is left alone (far above the request
/// timeout, so an upload's write and commit fit in it).
pub const GRACE: Duration = Duration::from_secs(3600);

/// Run rounds until `shutdown`; failures are logged and retried next round.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    loop {
        match round(&state).await {
            Ok(report) if report.sessions > 0 || !report.removed.is_empty() => tracing::info!(
                sessions = report.sessions,
                models = report.removed.len(),
                "maintenance: removed expired sessions and unreferenced models"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "maintenance round failed; retrying later"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}

/// What one round did.
#[derive(Debug, Default)]
pub struct Report {
    pub sessions: u64,
    /// Digests of the model objects removed.
    pub removed: Vec<String>,
}

async fn round(state: &AppState) -> Result<Report, ApiError> {
    let sessions = db::sessions::purge_expired(&state.pool).await?;
    let cutoff = Utc::now() - chrono::Duration::from_std(GRACE).unwrap_or_default();
    let removed = sweep_models(&state.pool, state.store.as_ref(), cutoff).await?;
    Ok(Report { sessions, removed })
}

/// Remove the model objects last written before `cutoff` that no submission
/// names; returns their digests.
pub async fn sweep_models(
    pool: &PgPool,
    store: &dyn ObjectStore,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, ApiError> {
    let prefix = Path::from(MODELS_PREFIX);
    let old: Vec<(Path, String)> = store
        .list(Some(&prefix))
        .try_filter_map(|meta| async move {
            let sha = meta.location.filename().map(str::to_owned);
            Ok((meta.last_modified < cutoff)
                .then_some(sha.map(|sha| (meta.location, sha)))
                .flatten())
        })
        .try_collect()
        .await?;
    let mut removed = Vec::new();
    for (location, sha256) in old {
        let Some(mut lock) = db::content_locks::try_exclusive(pool, &sha256).await? else {
            continue; // an upload is using it right now
        };
        if !db::submissions::model_referenced(lock.conn(), &sha256).await? {
            match store.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => removed.push(sha256),
                Err(e) => {
                    let _ = lock.release().await;
                    return Err(e.into());
                }
            }
        }
        lock.release().await?;
    }
    Ok(removed)
}
