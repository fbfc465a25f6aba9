//! `arena token create`: mint an API token for a user (administration on the
//! database directly; users make their own on their account page).

use clap::Subcommand;

use crate::config::Config;
use crate::platform::{Platform, Schema};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once.
    Create {
        /// The user's handle (created if missing).
        #[arg(long)]
        user: String,
        /// Scopes: read, submit, organize (comma-separated).
        #[arg(long, default_value = "read,submit", value_delimiter = ',')]
        scopes: Vec<String>,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Make the user an administrator (who holds every scope).
        #[arg(long)]
        admin: bool,
    },
}

pub async fn run(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let TokenCommand::Create {
        user,
        scopes,
        name,
        admin,
    } = command;
    if let Some(bad) = scopes
        .iter()
        .find(|s| !db::users::SCOPES.contains(&s.as_str()))
    {
        anyhow::bail!(
            "unknown scope `{bad}`; use {}",
            db::users::SCOPES.join(", ")
        );
    }
    let platform = Platform::start(config, Schema::RequireCurrent).await?;
    let outcome = async {
        let mut account = db::users::ensure(&platform.pool, &user, &user, admin).await?;
        if admin && !account.is_admin {
            db::users::set_admin(&platform.pool, account.id, true).await?;
            account.is_admin = true;
        }
        // A token carries only what its user holds.
        if let Some(scope) = scopes.iter().find(|s| !account.holds(s)) {
            anyhow::bail!(
                "`{user}` does not hold the `{scope}` scope; grant the role first \
                 (`arena user grant --organizer {user}`)"
            );
        }
        let (_, secret) =
            db::users::create_token(&platform.pool, account.id, &name, &scopes).await?;
        anyhow::Ok(secret)
    }
    .await;
    platform.stop().await;
    println!("{}", outcome?);
    Ok(())
}
