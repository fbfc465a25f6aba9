//! Datasets and their immutable versions, stored as the metadata documents of
//! the `datasets` crate (jsonb).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DatasetRow {
    pub id: Uuid,
    pub slug: String,
    pub meta: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub id: Uuid,
    pub dataset_id: Uuid,
    pub version: String,
    pub doc: Value,
    pub content_sha256: String,
    pub created_at: DateTime<Utc>,
}

const VERSION_COLUMNS: &str =
    "v.id, v.dataset_id, v.version, v.doc, v.content_sha256, v.created_at";

/// Insert or update a dataset's metadata; returns its id, and whether this
/// call created it.
pub async fn upsert(pool: &PgPool, slug: &str, meta: &Value) -> Result<(Uuid, bool)> {
    // `xmax` is 0 for a row this statement inserted, not for one it updated.
    Ok(sqlx::query_as(
        "INSERT INTO datasets (id, slug, meta) VALUES ($1, $2, $3)
         ON CONFLICT (slug) DO UPDATE SET meta = EXCLUDED.meta, updated_at = now()
         RETURNING id, (xmax = 0)",
    )
    .bind(Uuid::new_v4())
    .bind(slug)
    .bind(meta)
    .fetch_one(pool)
    .await?)
}

/// Add a version; `None` when that version already exists (versions are immutable).
pub async fn insert_version(
    pool: &PgPool,
    dataset_id: Uuid,
    version: &str,
    doc: &Value,
    content_sha256: &str,
) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "INSERT INTO dataset_versions (id, dataset_id, version, doc, content_sha256) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (dataset_id, version) DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(dataset_id)
    .bind(version)
    .bind(doc)
    .bind(content_sha256)
    .fetch_optional(pool)
    .await?)
}

pub async fn list(pool: &PgPool) -> Result<Vec<DatasetRow>> {
    Ok(sqlx::query_as::<_, DatasetRow>(
        "SELECT id, slug, meta, created_at, updated_at FROM datasets ORDER BY slug",
    )
    .fetch_all(pool)
    .await?)
}

pub async fn by_slug(pool: &PgPool, slug: &str) -> Result<Option<DatasetRow>> {
    Ok(sqlx::query_as::<_, DatasetRow>(
        "SELECT id, slug, meta, created_at, updated_at FROM datasets WHERE slug = $1",
    )
    .bind(slug)
    .fetch_optional(pool)
    .await?)
}

/// All versions of a dataset, newest first.
pub async fn versions(pool: &PgPool, dataset_id: Uuid) -> Result<Vec<VersionRow>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM dataset_versions v WHERE v.dataset_id = $1 ORDER BY v.created_at DESC"
    );
    Ok(sqlx::query_as::<_, VersionRow>(&sql)
        .bind(dataset_id)
        .fetch_all(pool)
        .await?)
}

/// A version by dataset slug and version string; `latest` is the newest version.
pub async fn version(pool: &PgPool, slug: &str, version: &str) -> Result<Option<VersionRow>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
         WHERE d.slug = $1 AND ($2 = 'latest' OR v.version = $2)
         ORDER BY v.created_at DESC LIMIT 1"
    );
    Ok(sqlx::query_as::<_, VersionRow>(&sql)
        .bind(slug)
        .bind(version)
        .fetch_optional(pool)
        .await?)
}

pub async fn version_by_id(pool: &PgPool, id: Uuid) -> Result<Option<VersionRow>> {
    let sql = format!("SELECT {VERSION_COLUMNS} FROM dataset_versions v WHERE v.id = $1");
    Ok(sqlx::query_as::<_, VersionRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Whether `user_id` maintains the dataset (reads the labels of its hidden
/// splits, adds versions, names other maintainers).
pub async fn is_maintainer(pool: &PgPool, dataset_id: Uuid, user_id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM dataset_maintainers WHERE dataset_id = $1 AND user_id = $2)",
    )
    .bind(dataset_id)
    .bind(user_id)
    .fetch_one(pool)
    .await?)
}

/// Make `user_id` a maintainer of the dataset; `false` when they were one already.
pub async fn add_maintainer(
    pool: &PgPool,
    dataset_id: Uuid,
    user_id: Uuid,
    added_by: Option<Uuid>,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO dataset_maintainers (dataset_id, user_id, added_by) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(dataset_id)
    .bind(user_id)
    .bind(added_by)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Remove a maintainer; `false` when they were none.
pub async fn remove_maintainer(pool: &PgPool, dataset_id: Uuid, user_id: Uuid) -> Result<bool> {
    let done =
        sqlx::query("DELETE FROM dataset_maintainers WHERE dataset_id = $1 AND user_id = $2")
            .bind(dataset_id)
            .bind(user_id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The handles of a dataset's maintainers, alphabetically.
pub async fn maintainer_handles(pool: &PgPool, dataset_id: Uuid) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.handle FROM dataset_maintainers m JOIN users u ON u.id = m.user_id
         WHERE m.dataset_id = $1 ORDER BY u.handle",
    )
    .bind(dataset_id)
    .fetch_all(pool)
    .await?)
}
