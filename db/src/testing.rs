//! A real PostgreSQL for tests: each call to [`database`] gives a fresh, migrated
//! database of its own.
//!
//! The server is `ARENA_TEST_DATABASE_URL` when set (its database is used only to
//! create and drop test databases), or else a private cluster under
//! `target/test-postgres` started by the same code as `arena up`'s. That cluster
//! is shared by every test process and left running; `arena db stop --dir
//! target/test-postgres` (the test script does this) stops it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

use crate::cluster::{Cluster, ClusterOptions};

/// A database made for one test.
pub struct TestDb {
    pub pool: PgPool,
    /// Connection URL of this test's database (with password).
    pub url: String,
    pub name: String,
}

static ADMIN_URL: OnceCell<String> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The directory of the shared test cluster.
pub fn test_cluster_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-postgres")
}

/// The URL of the server's maintenance database (`postgres`).
pub async fn admin_url() -> String {
    ADMIN_URL
        .get_or_init(|| async {
            let url = match std::env::var("ARENA_TEST_DATABASE_URL") {
                Ok(url) if !url.is_empty() => url,
                _ => {
                    let mut options = ClusterOptions::new(test_cluster_dir());
                    options.stop_with_parent = false;
                    options.fsync = false;
                    let cluster = Cluster::start(&options)
                        .await
                        .unwrap_or_else(|e| panic!("test PostgreSQL: {e}"));
                    let url = cluster.url_for("postgres");
                    // Dropping a cluster this process started stops it; the test
                    // cluster is shared with other test processes, so leave it running.
                    std::mem::forget(cluster);
                    url
                }
            };
            drop_stale_databases(&url).await;
            url
        })
        .await
        .clone()
}

/// Create a fresh database, apply the migrations and connect a pool to it.
pub async fn database() -> TestDb {
    let admin = admin_url().await;
    let name = format!(
        "test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        hex::encode(rand::random::<[u8; 3]>())
    );
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test server: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    let url = replace_database(&admin, &name);
    let pool = crate::connect(&url, 20)
        .await
        .unwrap_or_else(|e| panic!("connecting to {name}: {e}"));
    crate::migrate(&pool)
        .await
        .unwrap_or_else(|e| panic!("migrating {name}: {e}"));
    TestDb { pool, url, name }
}

fn replace_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("bad test database URL: {e}"));
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

/// Drop the test databases of test processes that have exited.
async fn drop_stale_databases(admin: &str) {
    let Ok(mut conn) = PgConnection::connect(admin).await else {
        return;
    };
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}
