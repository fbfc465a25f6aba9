//! Publishing dataset versions.

use datasets::BuiltVersion;
use object_store::ObjectStore;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ApiError;

/// Object-store prefix of dataset files (content-addressed by sha256).
pub const DATASETS_PREFIX: &str = worker::evaluate::DATASETS_PREFIX;

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A new version was stored.
    Created(Uuid),
    /// The same version with the same content was there already.
    Unchanged(Uuid),
}

/// Store a built version: its files first (content-addressed, so a retry after a
/// failure rewrites nothing), then the metadata rows in one statement each. An
/// existing version with other content is a conflict: versions are immutable.
pub async fn publish(
    pool: &PgPool,
    store: &dyn ObjectStore,
    built: &BuiltVersion,
) -> Result<Published, ApiError> {
    let slug = &built.dataset.slug;
    if let Some(existing) = db::datasets::version(pool, slug, &built.version.version).await?
        && existing.version == built.version.version
    {
        return if existing.content_sha256 == built.version.content_hash {
            Ok(Published::Unchanged(existing.id))
        } else {
            Err(ApiError::Conflict(format!(
                "{slug} version {} exists with other content; versions are immutable, publish a new version",
                built.version.version
            )))
        };
    }
    for blob in &built.blobs {
        datasets::store::put_content(store, DATASETS_PREFIX, blob.bytes.clone())
            .await
            .map_err(|e| ApiError::Unavailable(format!("storing {}: {e}", blob.name)))?;
    }
    let meta =
        serde_json::to_value(&built.dataset).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let doc =
        serde_json::to_value(&built.version).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let dataset_id = db::datasets::upsert(pool, slug, &meta).await?;
    match db::datasets::insert_version(
        pool,
        dataset_id,
        &built.version.version,
        &doc,
        &built.version.content_hash,
    )
    .await?
    {
        Some(id) => Ok(Published::Created(id)),
        None => Err(ApiError::Conflict(format!(
            "{slug} version {} was published concurrently",
            built.version.version
        ))),
    }
}
