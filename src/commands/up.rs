//! `arena up`: the whole platform in one process on embedded defaults.

use anyhow::Context;

use crate::commands::serve::{app_state, bind};
use crate::commands::worker::registry;
use crate::config::Config;
use crate::platform::{Platform, Schema, shutdown_on_signal};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let listener = bind(config).await?;
    let dev_login = config.dev_login_for(true)?;
    let platform = Platform::start(config, Schema::Migrate).await?;
    if let Err(e) = crate::seed::run(&platform.pool, &platform.store).await {
        platform.stop().await;
        return Err(e.context("seeding the demo content"));
    }
    let registry = match registry(config, &platform) {
        Ok(registry) => registry,
        Err(e) => {
            platform.stop().await;
            return Err(e);
        }
    };
    let shutdown = shutdown_on_signal();

    let workers = tokio::spawn(worker::run(
        platform.pool.clone(),
        registry,
        worker::WorkerOptions {
            concurrency: config.workers.max(1),
            ..Default::default()
        },
        shutdown.clone(),
    ));
    let server = tokio::spawn(server::serve(
        listener,
        app_state(config, &platform, dev_login),
        shutdown.clone(),
    ));

    eprintln!(
        "\nFastML Arena is up at {}  (Ctrl-C to stop)\n",
        config.public_url()
    );
    if dev_login {
        eprintln!(
            "Development login ON (loopback only): sign in as any seeded user at {}/login\n",
            config.public_url()
        );
    }

    let served = server.await.context("HTTP server task")?;
    // The server returns after shutdown (or on a fatal error): make sure workers stop too.
    shutdown.cancel();
    let _ = workers.await;
    platform.stop().await;
    eprintln!("stopped");
    served.context("HTTP server failed")
}
