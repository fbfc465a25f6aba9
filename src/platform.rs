//! Bringing up what every command needs: the database (external or a private
//! cluster), the schema, the object store; and shutting it down again.

use std::sync::Arc;

use anyhow::Context;
use object_store::ObjectStore;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// The running platform's shared resources.
pub struct Platform {
    pub pool: PgPool,
    pub store: Arc<dyn ObjectStore>,
    /// The private cluster, when we run one.
    cluster: Option<db::Cluster>,
}

/// What to do with the schema on start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Apply pending migrations (`arena up`, `arena migrate`).
    Migrate,
    /// Refuse to run on a schema older than this binary (`serve`, `worker`).
    RequireCurrent,
}

impl Platform {
    pub async fn start(config: &Config, schema: Schema) -> anyhow::Result<Platform> {
        eprintln!(
            "FastML Arena {}\n{}",
            env!("CARGO_PKG_VERSION"),
            config.describe()
        );
        let (url, cluster) = match &config.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let mut options = db::ClusterOptions::new(config.data_dir().join("postgres"));
                options.port = config.pg_port;
                let cluster = db::Cluster::start(&options)
                    .await
                    .context("starting the private PostgreSQL cluster")?;
                (cluster.url(), Some(cluster))
            }
        };
        let platform = Self::connect(config, &url, schema).await;
        match (platform, cluster) {
            (Ok((pool, store)), cluster) => Ok(Platform {
                pool,
                store,
                cluster,
            }),
            (Err(e), Some(cluster)) => {
                let _ = cluster.stop().await;
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    async fn connect(
        config: &Config,
        url: &str,
        schema: Schema,
    ) -> anyhow::Result<(PgPool, Arc<dyn ObjectStore>)> {
        let pool = db::connect(url, config.db_pool).await?;
        match schema {
            Schema::Migrate => db::migrate(&pool).await?,
            Schema::RequireCurrent => db::require_migrated(&pool).await?,
        }
        let store = datasets::store::open_store_with(&config.store_url(), &config.s3())
            .with_context(|| format!("opening the object store {}", config.store_url()))?;
        let store = server::observability::instrument_store(store);
        Ok((pool, store))
    }

    /// Close the pool and stop the private cluster (if we started it).
    pub async fn stop(self) {
        self.pool.close().await;
        if let Some(cluster) = self.cluster {
            let owned = cluster.is_owned();
            match cluster.stop().await {
                Ok(()) if owned => tracing::info!("private PostgreSQL stopped"),
                Ok(()) => {}
                Err(e) => tracing::error!(error = %e, "stopping the private PostgreSQL failed"),
            }
        }
    }
}

/// A token cancelled on the first Ctrl-C or SIGTERM. A second signal exits at once.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!(
            "\nshutting down: finishing requests, handing back jobs (press Ctrl-C again to force)"
        );
        cancel.cancel();
        wait_for_signal().await;
        eprintln!("forced exit");
        std::process::exit(130);
    });
    token
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
