//! `arena serve`: the HTTP server alone.

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::platform::{Platform, Schema, shutdown_on_signal};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let listener = bind(config).await?;
    let dev_login = config.dev_login_for(false)?;
    let platform = Platform::start(config, Schema::RequireCurrent).await?;
    let shutdown = shutdown_on_signal();
    eprintln!("serving on {}", config.public_url());
    let state = app_state(config, &platform, dev_login);
    let served = server::serve(listener, state, shutdown).await;
    platform.stop().await;
    served.context("HTTP server failed")
}

/// Bind the HTTP address first, so an occupied port is reported before anything starts.
pub async fn bind(config: &Config) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(config.bind).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "address {} is already in use; stop what listens there or choose another with --bind / ARENA_BIND",
                config.bind
            )
        } else {
            anyhow::anyhow!("cannot listen on {}: {e}", config.bind)
        }
    })
}

pub fn app_state(config: &Config, platform: &Platform, dev_login: bool) -> server::AppState {
    server::AppState {
        pool: platform.pool.clone(),
        store: platform.store.clone(),
        settings: Arc::new(server::Settings {
            public_url: config.public_url(),
            request_timeout: config.request_timeout(),
            header_timeout: config.header_timeout(),
            accounts: config.account_settings(dev_login),
            evaluation: config.eval_limits(),
            rate_limits: config.rate_limits(),
            hsts: config.public_url().starts_with("https://"),
            uploads: Arc::new(tokio::sync::Semaphore::new(
                config.upload_concurrency.max(1),
            )),
            ingest: datasets::IngestLimits::default(),
        }),
    }
}
