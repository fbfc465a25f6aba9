//! The one place the object store is opened.
//!
//! URLs: `file:///abs/dir` (created if missing), `memory://` (tests), and
//! `s3://bucket/prefix` configured from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and `ARENA_S3_ENDPOINT` for an
//! S3-compatible server; plain HTTP is allowed for loopback endpoints).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;

/// Why a store URL could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported object store URL `{0}`: use file:///abs/dir, memory:// or s3://bucket/prefix"
    )]
    Unsupported(String),
    #[error("object store URL `{url}`: {reason}")]
    Invalid { url: String, reason: String },
    #[error("object store at `{url}`: {source}")]
    Open {
        url: String,
        #[source]
        source: object_store::Error,
    },
}

/// Open the store named by `url`.
pub fn open_store(url: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let invalid = |reason: String| StoreError::Invalid {
        url: url.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    match parsed.scheme() {
        "memory" => Ok(Arc::new(InMemory::new())),
        "file" => {
            let dir = parsed
                .to_file_path()
                .map_err(|_| invalid("not an absolute local path".into()))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display())))?;
            let store =
                LocalFileSystem::new_with_prefix(&dir).map_err(|source| StoreError::Open {
                    url: url.to_owned(),
                    source,
                })?;
            Ok(Arc::new(store))
        }
        "s3" => {
            let bucket = parsed
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| invalid("missing bucket name".into()))?;
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Ok(endpoint) = std::env::var("ARENA_S3_ENDPOINT") {
                let http = endpoint.starts_with("http://");
                builder = builder.with_endpoint(endpoint).with_allow_http(http);
            }
            let store = builder.build().map_err(|source| StoreError::Open {
                url: url.to_owned(),
                source,
            })?;
            let prefix = parsed.path().trim_matches('/');
            if prefix.is_empty() {
                Ok(Arc::new(store))
            } else {
                Ok(Arc::new(PrefixStore::new(store, Path::from(prefix))))
            }
        }
        _ => Err(StoreError::Unsupported(url.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_memory_and_file_stores() {
        assert!(open_store("memory://").is_ok());
        let dir = std::env::temp_dir().join(format!("arena-store-{}", std::process::id()));
        let url = format!("file://{}", dir.display());
        assert!(open_store(&url).is_ok());
        assert!(dir.is_dir());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn rejects_unknown_schemes_and_relative_paths() {
        assert!(matches!(
            open_store("ftp://x/y"),
            Err(StoreError::Unsupported(_))
        ));
        assert!(matches!(
            open_store("s3://"),
            Err(StoreError::Invalid { .. })
        ));
        assert!(open_store("no scheme").is_err());
    }
}
