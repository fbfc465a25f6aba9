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
    /// Serve this worker's metrics (job and step durations, heartbeats, store
    /// errors) in the Prometheus text format at http://ADDR/metrics.
    #[arg(long, env = "ARENA_WORKER_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

pub async fn run(config: &Config, args: WorkerArgs) -> anyhow::Result<()> {
    // Bind first, so an occupied port is one clear error before anything starts.
    let metrics_listener = match args.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (--metrics-addr): {e}"))?,
        ),
        None => None,
    };
    let platform = Platform::start(config, Schema::RequireCurrent).await?;
    let shutdown = shutdown_on_signal();
    if let Some(listener) = metrics_listener {
        eprintln!(
            "worker metrics on http://{}/metrics",
            listener.local_addr()?
        );
        tokio::spawn(server::observability::serve_process_metrics(
            listener,
            shutdown.clone(),
        ));
    }
    let mut options = worker::WorkerOptions {
        concurrency: args.concurrency.unwrap_or(config.workers).max(1),
        ..Default::default()
    };
    options.lease = std::time::Duration::from_secs(args.lease_seconds.max(3));
    worker::run(
        platform.pool.clone(),
        registry(config, &platform)?,
        options,
        shutdown,
    )
    .await;
    platform.stop().await;
    Ok(())
}

/// Every job kind this binary knows.
pub fn registry(config: &Config, platform: &Platform) -> anyhow::Result<worker::Registry> {
    Ok(worker::Registry::new()
        .with(worker::SleepHandler)
        .with(worker::EvaluateHandler {
            pool: platform.pool.clone(),
            store: platform.store.clone(),
            sandbox: sandbox(config)?,
        }))
}

/// Evaluations run in children of this very binary (`arena evaluate-child`).
fn sandbox(config: &Config) -> anyhow::Result<worker::Sandbox> {
    let program = std::env::current_exe().map_err(|e| {
        anyhow::anyhow!("cannot find the arena binary for evaluation children: {e}")
    })?;
    let mut sandbox = worker::Sandbox::new(program);
    sandbox.limits = config.eval_limits();
    Ok(sandbox)
}
