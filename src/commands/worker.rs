//! `arena worker`: run jobs only; any number of these may share one database.

use clap::Args;

use crate::config::Config;
use crate::platform::{Platform, Schema, shutdown_on_signal};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs this process runs at once (default: ARENA_WORKERS).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seconds a job's lease lasts without a heartbeat before another worker takes it back.
    #[arg(long, default_value_t = 30)]
    pub lease_seconds: u64,
}

pub async fn run(config: &Config, args: WorkerArgs) -> anyhow::Result<()> {
    let platform = Platform::start(config, Schema::RequireCurrent).await?;
    let shutdown = shutdown_on_signal();
    let mut options = worker::WorkerOptions {
        concurrency: args.concurrency.unwrap_or(config.workers).max(1),
        ..Default::default()
    };
    options.lease = std::time::Duration::from_secs(args.lease_seconds.max(3));
    worker::run(
        platform.pool.clone(),
        registry(&platform),
        options,
        shutdown,
    )
    .await;
    platform.stop().await;
    Ok(())
}

/// Every job kind this binary knows.
pub fn registry(platform: &Platform) -> worker::Registry {
    worker::Registry::new()
        .with(worker::SleepHandler)
        .with(worker::EvaluateHandler {
            pool: platform.pool.clone(),
            store: platform.store.clone(),
        })
}
