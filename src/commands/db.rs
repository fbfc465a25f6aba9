//! `arena db`: the private PostgreSQL cluster by hand.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::platform::shutdown_on_signal;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Start the private cluster and keep it running until Ctrl-C; prints its URL.
    Start {
        /// Cluster directory (default: DATA_DIR/postgres).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Stop a private cluster that another process left running.
    Stop {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Say whether the private cluster runs, and on which port.
    Status {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub async fn run(config: &Config, command: DbCommand) -> anyhow::Result<()> {
    let default_dir = || config.data_dir().join("postgres");
    match command {
        DbCommand::Start { dir } => {
            let options = db::ClusterOptions::new(dir.unwrap_or_else(default_dir));
            let cluster = db::Cluster::start(&options)
                .await
                .context("starting the private PostgreSQL cluster")?;
            println!("{}", cluster.url());
            if cluster.is_owned() {
                shutdown_on_signal().cancelled().await;
                cluster.stop().await?;
            }
            Ok(())
        }
        DbCommand::Stop { dir } => {
            let dir = dir.unwrap_or_else(default_dir);
            let stopped =
                tokio::task::spawn_blocking(move || db::cluster::stop_running(&dir)).await??;
            println!("{}", if stopped { "stopped" } else { "not running" });
            Ok(())
        }
        DbCommand::Status { dir } => {
            let dir = dir.unwrap_or_else(default_dir);
            match tokio::task::spawn_blocking(move || db::cluster::running(&dir)).await?? {
                Some(port) => println!("running on 127.0.0.1:{port}"),
                None => println!("not running"),
            }
            Ok(())
        }
    }
}
