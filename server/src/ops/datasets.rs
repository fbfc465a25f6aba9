//! Publishing dataset versions, and who may add them.

use std::collections::{BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};

use axum::extract::multipart::Field;
use datasets::{BuiltVersion, Manifest};
use db::datasets::DatasetRow;
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

/// True when the caller may read labels of test splits and private splits of this
/// dataset, and add versions to it: admins, and organizers (token with `organize`)
/// of a challenge run on one of its versions.
pub async fn sees_labels(
    pool: &PgPool,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<bool, ApiError> {
    let Some(user) = &caller.user else {
        return Ok(false);
    };
    if user.is_admin {
        return Ok(true);
    }
    if !caller.has_scope("organize") {
        return Ok(false);
    }
    let version_ids: HashSet<Uuid> = db::datasets::versions(pool, dataset.id)
        .await?
        .into_iter()
        .map(|v| v.id)
        .collect();
    for challenge in db::challenges::list(pool).await? {
        if version_ids.contains(&challenge.dataset_version_id)
            && db::challenges::is_organizer(pool, challenge.id, user.id).await?
        {
            return Ok(true);
        }
    }
    Ok(false)
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
        // Adding a version to an existing dataset takes its organizers; repeating an
        // upload of an existing version writes nothing (200 unchanged, or 409).
        let exists = db::datasets::version(pool, &parsed.slug, &parsed.version)
            .await?
            .is_some_and(|v| v.version == parsed.version);
        if let Some(existing) = db::datasets::by_slug(pool, &parsed.slug).await?
            && !exists
            && !sees_labels(pool, caller, &existing).await?
        {
            return Err(ApiError::Forbidden(format!(
                "dataset `{}` exists; only admins and organizers of its challenges may add versions",
                parsed.slug
            )));
        }
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
        let built =
            tokio::task::spawn_blocking(move || datasets::manifest::ingest(&manifest, &dir))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "ingesting an upload");
                    ApiError::Unavailable("the server failed while reading the upload".into())
                })?
                .map_err(ingest_error)?;
        drop(scratch);
        let outcome = publish(pool, store, &built).await?;
        Ok((built, outcome))
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
