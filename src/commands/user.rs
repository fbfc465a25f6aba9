//! `arena user`: roles of users, on the database directly (the operator's
//! tool; admins use Console → Users on the site).

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::platform::{Platform, Schema};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Grant a role: organizer (create challenges and datasets) or admin.
    Grant(RoleArgs),
    /// Revoke a role; its tokens lose the scope at once.
    Revoke(RoleArgs),
    /// List users and their roles.
    List,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RoleArgs {
    /// The organizer role: create challenges and datasets (the `organize` scope).
    #[arg(long, value_name = "HANDLE")]
    organizer: Option<String>,
    /// The admin role: every right on the site.
    #[arg(long, value_name = "HANDLE")]
    admin: Option<String>,
}

pub async fn run(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let platform = Platform::start(config, Schema::RequireCurrent).await?;
    let outcome = match command {
        UserCommand::Grant(role) => set(&platform, role, true).await,
        UserCommand::Revoke(role) => set(&platform, role, false).await,
        UserCommand::List => list(&platform).await,
    };
    platform.stop().await;
    outcome
}

async fn set(platform: &Platform, role: RoleArgs, on: bool) -> anyhow::Result<()> {
    let (handle, name) = match (&role.organizer, &role.admin) {
        (Some(handle), _) => (handle, "organizer"),
        (None, Some(handle)) => (handle, "admin"),
        (None, None) => anyhow::bail!("name a role: --organizer HANDLE or --admin HANDLE"),
    };
    let user = db::users::by_handle(&platform.pool, handle)
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("no user `{handle}` (users appear when they first sign in)")
        })?;
    if name == "organizer" {
        db::users::set_organizer(&platform.pool, user.id, on).await?;
    } else {
        db::users::set_admin(&platform.pool, user.id, on).await?;
    }
    let verb = if on { "granted" } else { "revoked" };
    println!("{name} role {verb}: {handle}");
    Ok(())
}

async fn list(platform: &Platform) -> anyhow::Result<()> {
    for user in db::users::list(&platform.pool, 10_000).await? {
        let role = if user.is_admin {
            "admin"
        } else if user.can_organize {
            "organizer"
        } else {
            "-"
        };
        println!("{:<32} {role}", user.handle);
    }
    Ok(())
}
