//! Publishing dataset versions, and who may add them.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use axum::extract::multipart::Field;
use datasets::{BuiltVersion, Manifest};
use db::datasets::DatasetRow;
use db::users::User;
use object_store::ObjectStore;
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::ApiError;
use crate::auth::Caller;

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
///
/// `by` is who publishes (none for the platform's own seeding): a new dataset
/// gets them as its first maintainer, and an existing one takes a version only
/// from its maintainers and admins.
pub async fn publish(
    pool: &PgPool,
    store: &dyn ObjectStore,
    built: &BuiltVersion,
    by: Option<&User>,
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
    let (dataset_id, created) = db::datasets::upsert(pool, slug, &meta).await?;
    if let Some(user) = by {
        if created {
            db::datasets::add_maintainer(pool, dataset_id, user.id, Some(user.id)).await?;
        } else if !maintains(pool, user, dataset_id).await? {
            // Another upload created the dataset since the manifest was checked.
            return Err(not_a_maintainer(slug));
        }
    }
    match db::datasets::insert_version(
        pool,
        dataset_id,
        &built.version.version,
        &doc,
        &built.version.content_hash,
    )
    .await?
    {
        Some(id) => {
            if let Some(user) = by {
                let detail =
                    serde_json::json!({ "version": built.version.version, "new_dataset": created });
                let on = super::audit::On::Dataset(dataset_id);
                super::audit::record(pool, user, "dataset.version.add", on, slug, detail).await?;
            }
            Ok(Published::Created(id))
        }
        None => Err(ApiError::Conflict(format!(
            "{slug} version {} was published concurrently",
            built.version.version
        ))),
    }
}

fn not_a_maintainer(slug: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "dataset `{slug}` exists; only its maintainers and admins may add versions \
         (a maintainer adds others: POST /api/v1/datasets/{slug}/maintainers)"
    ))
}

/// The one rule of dataset stewardship: its maintainers and admins read the
/// labels of its hidden splits, add versions, and name maintainers. Organizing
/// a challenge on the dataset gives none of these.
pub async fn maintains(pool: &PgPool, user: &User, dataset_id: Uuid) -> Result<bool, ApiError> {
    Ok(user.is_admin || db::datasets::is_maintainer(pool, dataset_id, user.id).await?)
}

/// Whether this caller reads the labels of the dataset's hidden splits: a
/// maintainer (or admin) whose credential carries `read`.
pub async fn sees_labels(
    pool: &PgPool,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<bool, ApiError> {
    match &caller.user {
        Some(user) if caller.has_scope("read") => maintains(pool, user, dataset.id).await,
        _ => Ok(false),
    }
}

/// An organizer's upload of a dataset version, received one multipart part at a
/// time (the API's `POST /api/v1/datasets` and the console's form both feed it):
/// first `manifest` (the `dataset.yaml` text), then one part per file the manifest
/// lists. A file part is matched by its manifest path (as the part's file name or
/// name), or, as browsers send only base names, by a base name that is unique among
/// the manifest's files. Files wait in a scratch directory removed on drop, so a
/// refused upload leaves nothing behind.
pub struct Upload {
    scratch: ScratchDir,
    /// Who uploads (known once the manifest is taken).
    by: Option<User>,
    manifest: Option<Manifest>,
    expected: BTreeSet<String>,
    received: BTreeSet<String>,
}

impl Default for Upload {
    fn default() -> Self {
        Self::new()
    }
}

impl Upload {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("arena-upload-{}", Uuid::new_v4()));
        Upload {
            scratch: ScratchDir(dir),
            by: None,
            manifest: None,
            expected: BTreeSet::new(),
            received: BTreeSet::new(),
        }
    }

    /// Take one part of the form. Empty file inputs (a browser's form with no file
    /// chosen) are skipped.
    pub async fn part(
        &mut self,
        pool: &PgPool,
        caller: &Caller,
        mut field: Field<'_>,
    ) -> Result<(), ApiError> {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        if file_name.as_deref() == Some("") {
            return Ok(());
        }
        let read_error = |e| ApiError::multipart_field(&name, e);
        if name == "manifest" {
            let text = field.text().await.map_err(read_error)?;
            return self.manifest(pool, caller, &text).await;
        }
        if self.manifest.is_none() {
            return Err(ApiError::BadRequest(
                "send the `manifest` part before the files".into(),
            ));
        }
        let path = self.manifest_path(file_name.as_deref(), &name)?;
        if !self.received.insert(path.clone()) {
            return Err(ApiError::BadRequest(format!("file `{path}` given twice")));
        }
        let relative = safe_relative(&path)
            .ok_or_else(|| ApiError::BadRequest(format!("bad path `{path}`")))?;
        let target = self.scratch.0.join(relative);
        let io = |e: std::io::Error| {
            tracing::error!(error = %e, "writing an upload");
            ApiError::Unavailable("the server could not store the upload; try again".into())
        };
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let mut out = tokio::fs::File::create(&target).await.map_err(io)?;
        while let Some(chunk) = field.chunk().await.map_err(read_error)? {
            out.write_all(&chunk).await.map_err(io)?;
        }
        out.flush().await.map_err(io)
    }

    /// Take the manifest (the `dataset.yaml` text): checked, and the caller's right
    /// to add this version, before any file is written.
    pub async fn manifest(
        &mut self,
        pool: &PgPool,
        caller: &Caller,
        text: &str,
    ) -> Result<(), ApiError> {
        if self.manifest.is_some() {
            return Err(ApiError::BadRequest("`manifest` given twice".into()));
        }
        let parsed = Manifest::from_yaml(text).map_err(ingest_error)?;
        datasets::check_slug(&parsed.slug).map_err(ingest_error)?;
        // Adding a version to an existing dataset takes a maintainer; repeating
        // an upload of an existing version writes nothing (200 unchanged, or 409).
        let user = caller.require("organize")?;
        let exists = db::datasets::version(pool, &parsed.slug, &parsed.version)
            .await?
            .is_some_and(|v| v.version == parsed.version);
        if let Some(existing) = db::datasets::by_slug(pool, &parsed.slug).await?
            && !exists
            && !maintains(pool, user, existing.id).await?
        {
            return Err(not_a_maintainer(&parsed.slug));
        }
        self.by = Some(user.clone());
        for split in parsed.splits.values() {
            for f in &split.files {
                if safe_relative(f).is_none() {
                    return Err(ApiError::Unprocessable(format!(
                        "manifest: file path `{f}` must be relative and stay inside the upload"
                    )));
                }
                self.expected.insert(f.clone());
            }
        }
        self.manifest = Some(parsed);
        Ok(())
    }

    /// The manifest path a file part stands for.
    fn manifest_path(&self, file_name: Option<&str>, name: &str) -> Result<String, ApiError> {
        for candidate in [file_name, Some(name)].into_iter().flatten() {
            if self.expected.contains(candidate) {
                return Ok(candidate.to_owned());
            }
        }
        if let Some(base) = file_name.and_then(|f| Path::new(f).file_name()) {
            let mut same_base = self
                .expected
                .iter()
                .filter(|e| Path::new(e).file_name() == Some(base));
            if let (Some(only), None) = (same_base.next(), same_base.next()) {
                return Ok(only.clone());
            }
        }
        Err(ApiError::BadRequest(format!(
            "part `{}` is not a file of the manifest (expected: {})",
            file_name.unwrap_or(name),
            self.expected.iter().cloned().collect::<Vec<_>>().join(", ")
        )))
    }

    /// Check that every file arrived, build the version (validation, statistics,
    /// Parquet conversion) and publish it.
    pub async fn finish(
        self,
        pool: &PgPool,
        store: &dyn ObjectStore,
        limits: datasets::IngestLimits,
    ) -> Result<(BuiltVersion, Published), ApiError> {
        let manifest = self
            .manifest
            .ok_or_else(|| ApiError::BadRequest("`manifest` (dataset.yaml) is missing".into()))?;
        let missing: Vec<String> = self.expected.difference(&self.received).cloned().collect();
        if !missing.is_empty() {
            return Err(ApiError::Unprocessable(format!(
                "files listed in the manifest were not uploaded: {}",
                missing.join(", ")
            )));
        }
        let scratch = self.scratch;
        let dir = scratch.0.clone();
        let built = tokio::task::spawn_blocking(move || {
            datasets::manifest::ingest_within(&manifest, &dir, limits)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "ingesting an upload");
            ApiError::Unavailable("the server failed while reading the upload".into())
        })?
        .map_err(ingest_error)?;
        drop(scratch);
        let outcome = publish(pool, store, &built, self.by.as_ref()).await?;
        Ok((built, outcome))
    }
}

/// A slot for one dataset upload, held until it is published or refused;
/// 503 when every slot is taken (uploads decode on the server).
pub fn upload_slot(
    uploads: &std::sync::Arc<tokio::sync::Semaphore>,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    uploads.clone().try_acquire_owned().map_err(|_| {
        ApiError::Unavailable(
            "the server is processing as many dataset uploads as it takes at once; try again in a minute"
                .into(),
        )
    })
}

/// The site's ingest limits for an upload that must end within `request_timeout`.
pub fn ingest_limits(
    site: datasets::IngestLimits,
    request_timeout: std::time::Duration,
) -> datasets::IngestLimits {
    datasets::IngestLimits {
        deadline: Some(std::time::Instant::now() + request_timeout),
        ..site
    }
}

fn ingest_error(e: datasets::DatasetError) -> ApiError {
    match e {
        datasets::DatasetError::ObjectStore(e) => ApiError::Store(e),
        other => ApiError::Unprocessable(other.to_string()),
    }
}

/// A directory removed when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A manifest path that stays inside the upload directory.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    ok.then(|| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_paths_stay_inside() {
        assert!(safe_relative("data/train.csv").is_some());
        assert!(safe_relative("../x").is_none());
        assert!(safe_relative("/etc/passwd").is_none());
        assert!(safe_relative("").is_none());
    }

    #[test]
    fn file_parts_match_by_path_or_unique_base_name() {
        let mut upload = Upload::new();
        upload.expected = ["data/train.csv", "data/test.csv", "a/x.csv", "b/x.csv"]
            .into_iter()
            .map(String::from)
            .collect();
        let path = |file: Option<&str>, name: &str| upload.manifest_path(file, name).ok();
        assert_eq!(
            path(Some("data/train.csv"), "files").as_deref(),
            Some("data/train.csv")
        );
        assert_eq!(
            path(None, "data/test.csv").as_deref(),
            Some("data/test.csv")
        );
        assert_eq!(
            path(Some("train.csv"), "files").as_deref(),
            Some("data/train.csv")
        );
        // Ambiguous and unknown base names are refused.
        assert_eq!(path(Some("x.csv"), "files"), None);
        assert_eq!(path(Some("other.csv"), "files"), None);
    }
}
