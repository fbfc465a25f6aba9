//! `arena challenge`: create or update challenges from a definition file
//! (docs/CHALLENGES.md), straight into the platform's database.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::platform::{Platform, Schema};

#[derive(Debug, Subcommand)]
pub enum ChallengeCommand {
    /// Create a challenge from a YAML definition (its baselines are submitted too).
    Create {
        file: PathBuf,
        /// Handle of the creating organizer (created if missing).
        #[arg(long, default_value = "admin")]
        as_user: String,
    },
    /// Replace the definition of an existing challenge.
    Update { file: PathBuf },
    /// Check a definition without writing anything.
    Check { file: PathBuf },
    /// Import a Codabench competition.yaml (v2) with a fragment of our format for the rest.
    ImportCodabench {
        competition: PathBuf,
        /// YAML with the fields Codabench lacks (dataset, input, label, metric, target, ...).
        #[arg(long)]
        with: PathBuf,
        #[arg(long, default_value = "admin")]
        as_user: String,
    },
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub async fn run(config: &Config, command: ChallengeCommand) -> anyhow::Result<()> {
    let (challenge, base, as_user) = match &command {
        ChallengeCommand::Check { file } => {
            let challenge = challenges::Challenge::from_yaml(&read(file)?)?;
            println!(
                "{}: valid ({} phases, metric {})",
                challenge.slug,
                challenge.phases.len(),
                challenge.metric
            );
            return Ok(());
        }
        ChallengeCommand::Create { file, as_user } => (
            challenges::Challenge::from_yaml(&read(file)?)?,
            file.parent(),
            Some(as_user),
        ),
        ChallengeCommand::Update { file } => (
            challenges::Challenge::from_yaml(&read(file)?)?,
            file.parent(),
            None,
        ),
        ChallengeCommand::ImportCodabench {
            competition,
            with,
            as_user,
        } => (
            challenges::from_codabench_yaml(&read(competition)?, &read(with)?)?,
            with.parent(),
            Some(as_user),
        ),
    };
    let platform = Platform::start(config, Schema::RequireCurrent).await?;
    let outcome = apply(
        &platform,
        &config.eval_limits(),
        challenge,
        base.unwrap_or(Path::new(".")),
        as_user.map(String::as_str),
    )
    .await;
    platform.stop().await;
    outcome
}

async fn apply(
    platform: &Platform,
    platform_limits: &worker::evaluate::admission::EvalLimits,
    challenge: challenges::Challenge,
    base: &Path,
    as_user: Option<&str>,
) -> anyhow::Result<()> {
    let slug = challenge.slug.clone();
    let Some(handle) = as_user else {
        let row = db::challenges::by_slug(&platform.pool, &slug)
            .await?
            .with_context(|| format!("no challenge `{slug}`"))?;
        server::ops::challenges::update(
            &platform.pool,
            &row,
            challenge,
            server::ops::challenges::Authority::Operator,
        )
        .await
        .map_err(anyhow::Error::msg)?;
        println!("updated {slug}");
        return Ok(());
    };
    let user = db::users::ensure(&platform.pool, handle, handle, handle == "admin").await?;
    let row = server::ops::challenges::create(
        &platform.pool,
        challenge.clone(),
        Some(&user),
        server::ops::challenges::Authority::Operator,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    println!("created {slug}");
    for baseline in &challenge.baselines {
        let model = std::fs::read(base.join(&baseline.model))
            .with_context(|| format!("baseline `{}`: reading {}", baseline.name, baseline.model))?;
        let config = baseline
            .config
            .as_ref()
            .map(|c| read(&base.join(c)))
            .transpose()?;
        for phase in &challenge.phases {
            let upload = server::ops::submissions::Upload {
                model: model.clone().into(),
                config: config.clone(),
                label: baseline.name.clone(),
                is_baseline: true,
                phase: Some(phase.name.clone()),
            };
            server::ops::submissions::submit(
                &platform.pool,
                platform.store.as_ref(),
                &row,
                &challenge,
                &user,
                upload,
                chrono::Utc::now(),
                platform_limits,
            )
            .await
            .map_err(|e| anyhow::anyhow!("baseline `{}`: {e}", baseline.name))?;
        }
        println!(
            "  baseline {} queued in {} phase(s)",
            baseline.name,
            challenge.phases.len()
        );
    }
    Ok(())
}
