//! The one place the object store is opened, and content-addressed storage.
//!
//! URLs: `file:///abs/dir` (created if missing), `memory://` (tests), and
//! `s3://bucket/prefix`. S3 settings come from [`S3Settings`] (the binary fills them
//! from its `ARENA_S3_*` configuration); whatever they leave unset is read from the
//! standard `AWS_*` variables (`AmazonS3Builder::from_env`), so instance roles and
//! web-identity tokens keep working. Plain HTTP is allowed for loopback endpoints
//! (localhost, 127.0.0.0/8, ::1), and for other hosts only with `allow_http`.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};
use crate::parquet_io::sha256_hex;

fn url_error(url: &str, message: impl Into<String>) -> DatasetError {
    DatasetError::StoreUrl {
        url: url.to_string(),
        message: message.into(),
    }
}

/// True when an `http://` endpoint points at this machine.
pub fn is_loopback_endpoint(endpoint: &str) -> bool {
    let Ok(u) = url::Url::parse(endpoint) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Settings of an S3-compatible store; `None` fields fall back to the `AWS_*` variables.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// Endpoint of an S3-compatible server (MinIO, moto, Ceph...); AWS when unset.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow plain HTTP to a non-loopback endpoint (a private network such as compose).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    // Never print the secret, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl S3Settings {
    /// The settings named by the `ARENA_S3_*` variables (for callers without a
    /// configuration struct; the binary builds these from its flags instead).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        S3Settings {
            endpoint: var("ARENA_S3_ENDPOINT"),
            region: var("ARENA_S3_REGION"),
            access_key_id: var("ARENA_S3_ACCESS_KEY_ID"),
            secret_access_key: var("ARENA_S3_SECRET_ACCESS_KEY"),
            allow_http: var("ARENA_S3_ALLOW_HTTP")
                .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes")),
        }
    }
}

/// Opens the store named by `url`, S3 settings from the `ARENA_S3_*` variables.
pub fn open_store(url: &str) -> Result<Arc<dyn ObjectStore>> {
    open_store_with(url, &S3Settings::from_env())
}

/// Opens the store named by `url`; `s3` applies to `s3://` URLs only.
pub fn open_store_with(url: &str, s3: &S3Settings) -> Result<Arc<dyn ObjectStore>> {
    let parsed = url::Url::parse(url).map_err(|e| url_error(url, e.to_string()))?;
    match parsed.scheme() {
        "memory" => Ok(Arc::new(InMemory::new())),
        "file" => {
            let dir = parsed
                .to_file_path()
                .map_err(|_| url_error(url, "not an absolute local path"))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| url_error(url, format!("cannot create {}: {e}", dir.display())))?;
            Ok(Arc::new(LocalFileSystem::new_with_prefix(&dir)?))
        }
        "s3" => {
            let bucket = parsed
                .host_str()
                .filter(|b| !b.is_empty())
                .ok_or_else(|| url_error(url, "missing bucket name"))?;
            let store = s3_builder(url, bucket, s3)?.build()?;
            let prefix = parsed.path().trim_matches('/');
            if prefix.is_empty() {
                Ok(Arc::new(store))
            } else {
                Ok(Arc::new(PrefixStore::new(store, Path::from(prefix))))
            }
        }
        other => Err(url_error(
            url,
            format!(
                "unsupported scheme `{other}`: use file:///abs/dir, memory:// or s3://bucket/prefix"
            ),
        )),
    }
}

fn s3_builder(url: &str, bucket: &str, s3: &S3Settings) -> Result<AmazonS3Builder> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(region) = &s3.region {
        builder = builder.with_region(region);
    }
    if let Some(key) = &s3.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(endpoint) = &s3.endpoint {
        let http = endpoint.starts_with("http://");
        if http && !is_loopback_endpoint(endpoint) && !s3.allow_http {
            return Err(url_error(
                url,
                format!(
                    "S3 endpoint `{endpoint}` uses plain HTTP on a non-loopback host; \
                     use https or set ARENA_S3_ALLOW_HTTP=true (e.g. inside docker-compose)"
                ),
            ));
        }
        // S3-compatible servers are addressed by path (`endpoint/bucket/key`);
        // virtual-host addressing would need DNS names per bucket.
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(http)
            .with_virtual_hosted_style_request(false);
    }
    Ok(builder)
}

/// Where content-addressed bytes went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentKey {
    /// Lowercase hex sha256 of the bytes.
    pub sha256: String,
    /// Object key: `{prefix}/{sha256}` (or just `{sha256}` for an empty prefix).
    pub key: String,
    pub size: u64,
    /// False when the object was already there (nothing was written).
    pub created: bool,
}

/// The key under which bytes with `sha256` are stored below `prefix`.
pub fn content_path(prefix: &str, sha256: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        sha256.to_string()
    } else {
        format!("{prefix}/{sha256}")
    }
}

/// Stores `bytes` under `{prefix}/{sha256}`; idempotent (an existing object of the same
/// size is left untouched).
pub async fn put_content(
    store: &dyn ObjectStore,
    prefix: &str,
    bytes: Bytes,
) -> Result<ContentKey> {
    let sha256 = sha256_hex(&bytes);
    let key = content_path(prefix, &sha256);
    let path = Path::parse(&key)
        .map_err(|e| DatasetError::InvalidArgument(format!("object key `{key}`: {e}")))?;
    let size = bytes.len() as u64;
    match store.head(&path).await {
        Ok(meta) if meta.size == size => {
            return Ok(ContentKey {
                sha256,
                key,
                size,
                created: false,
            });
        }
        Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    store.put(&path, PutPayload::from_bytes(bytes)).await?;
    Ok(ContentKey {
        sha256,
        key,
        size,
        created: true,
    })
}

/// Reads the whole object at `key`.
pub async fn get_bytes(store: &dyn ObjectStore, key: &str) -> Result<Bytes> {
    let path = Path::parse(key)
        .map_err(|e| DatasetError::InvalidArgument(format!("object key `{key}`: {e}")))?;
    Ok(store.get(&path).await?.bytes().await?)
}

/// Streams the object at `key` into the file `to` (created or truncated),
/// without holding the whole object in memory.
pub async fn copy_to_file(store: &dyn ObjectStore, key: &str, to: &std::path::Path) -> Result<()> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    let path = Path::parse(key)
        .map_err(|e| DatasetError::InvalidArgument(format!("object key `{key}`: {e}")))?;
    let io = |source: std::io::Error| DatasetError::Io {
        path: to.display().to_string(),
        source,
    };
    let mut stream = store.get(&path).await?.into_stream();
    let mut file = tokio::fs::File::create(to).await.map_err(io)?;
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk?).await.map_err(io)?;
    }
    file.flush().await.map_err(io)
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
        assert!(open_store("ftp://x/y").is_err());
        assert!(open_store("s3://").is_err());
        assert!(open_store("no scheme").is_err());
    }

    #[test]
    fn loopback() {
        assert!(is_loopback_endpoint("http://127.0.0.1:9000"));
        assert!(is_loopback_endpoint("http://localhost:9000"));
        assert!(is_loopback_endpoint("http://[::1]:9000"));
        assert!(!is_loopback_endpoint("http://minio:9000"));
    }

    #[test]
    fn plain_http_to_a_remote_endpoint_needs_allow_http() {
        let mut s3 = S3Settings {
            endpoint: Some("http://minio:9000".into()),
            region: Some("us-east-1".into()),
            access_key_id: Some("arena".into()),
            secret_access_key: Some("hunter2hunter2".into()),
            allow_http: false,
        };
        let refused = open_store_with("s3://bucket/prefix", &s3).expect_err("refused");
        assert!(
            refused.to_string().contains("ARENA_S3_ALLOW_HTTP"),
            "{refused}"
        );
        s3.allow_http = true;
        assert!(open_store_with("s3://bucket/prefix", &s3).is_ok());
        assert!(!format!("{s3:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn content_addressed_put_is_idempotent() {
        let store = open_store("memory://").expect("store");
        let a = put_content(store.as_ref(), "blobs", Bytes::from_static(b"hello"))
            .await
            .expect("put");
        assert!(a.created);
        assert_eq!(a.key, format!("blobs/{}", a.sha256));
        assert_eq!(
            a.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let b = put_content(store.as_ref(), "blobs/", Bytes::from_static(b"hello"))
            .await
            .expect("again");
        assert!(!b.created);
        assert_eq!(a.key, b.key);
        assert_eq!(
            get_bytes(store.as_ref(), &a.key).await.expect("get"),
            Bytes::from_static(b"hello")
        );
    }
}
