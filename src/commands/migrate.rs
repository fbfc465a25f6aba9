//! `arena migrate`: apply pending migrations and exit.

use crate::config::Config;
use crate::platform::{Platform, Schema};

pub async fn run(config: &Config) -> anyhow::Result<()> {
    let platform = Platform::start(config, Schema::Migrate).await?;
    let version = db::schema_version(&platform.pool).await;
    platform.stop().await;
    println!("database schema is at version {}", version?);
    Ok(())
}
