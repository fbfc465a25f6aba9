//! Database access for the server and the workers: the private PostgreSQL
//! cluster, the connection pool, migrations, and every query the platform runs.
//!
//! Queries are checked at run time (`sqlx::query_as`) and tested against a real
//! PostgreSQL through [`testing`].

pub mod audit;
pub mod challenges;
pub mod cluster;
pub mod content_locks;
pub mod datasets;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod seeds;
pub mod sessions;
pub mod submissions;
pub mod testing;
pub mod users;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use cluster::{Cluster, ClusterOptions};
pub use error::{Error, Result};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connect a pool to `url`. Fails fast (a few seconds) when the server is unreachable.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let options: PgConnectOptions = url.parse().map_err(|source| Error::Connect {
        url: redact_url(url),
        source,
    })?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.application_name("arena"))
        .await
        .map_err(|source| Error::Connect {
            url: redact_url(url),
            source,
        })
}

/// Apply every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether the database answers a trivial query.
pub async fn ping(pool: &PgPool) -> Result<()> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

/// A database URL with its password replaced by `***`, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<unparsable database URL>".to_owned(),
    }
}

/// The latest applied migration version (0 for an empty database).
pub async fn schema_version(pool: &PgPool) -> Result<i64> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
            .or_else(|e| match &e {
                // No migrations table yet: nothing was ever applied.
                sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(None),
                _ => Err(e),
            })?;
    Ok(version.unwrap_or(0))
}

/// Fail with a clear message when the database lacks migrations this binary needs.
pub async fn require_migrated(pool: &PgPool) -> Result<()> {
    let applied = schema_version(pool).await?;
    let needed = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if applied < needed {
        return Err(Error::SchemaBehind { applied, needed });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_the_password_only() {
        assert_eq!(
            redact_url("postgres://arena:secret@127.0.0.1:5432/arena"),
            "postgres://arena:***@127.0.0.1:5432/arena"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1/arena"),
            "postgres://127.0.0.1/arena"
        );
        assert_eq!(redact_url("not a url"), "<unparsable database URL>");
    }
}
