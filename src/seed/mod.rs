//! Demo content for `arena up`: the three scientific demo datasets, one
//! challenge on each, and a baseline entry (fitted here) in every phase, plus
//! baselines of the other model families (boosted trees, KAN) from committed
//! model files. Each item is recorded in the `seeds` table and skipped when
//! already there.

mod baselines;

use std::sync::Arc;
use worker::evaluate::admission::EvalLimits;

use anyhow::Context;
use challenges::Challenge;
use datasets::SplitName;
use object_store::ObjectStore;
use sqlx::PgPool;

/// Rows of each demo dataset: small enough to generate and score in seconds.
const DEMO_ROWS: usize = 4000;
const DEMO_SEED: u64 = 2026;

struct DemoChallenge {
    dataset: &'static str,
    definition: &'static str,
}

const CHALLENGES: [DemoChallenge; 3] = [
    DemoChallenge {
        dataset: "gw-anomaly",
        definition: include_str!("challenges/gw-trigger.yaml"),
    },
    DemoChallenge {
        dataset: "hybrid-genomes",
        definition: include_str!("challenges/hybrid-detector.yaml"),
    },
    DemoChallenge {
        dataset: "coastal-flooding",
        definition: include_str!("challenges/flood-watch.yaml"),
    },
];

/// A baseline of another model family: a committed model file, trained by a
/// script in `python/` on the same generator's data (another seed and size).
struct FamilyBaseline {
    challenge: &'static str,
    name: &'static str,
    description: &'static str,
    model: &'static [u8],
    config: Option<&'static str>,
}

const FAMILY_BASELINES: [FamilyBaseline; 2] = [
    FamilyBaseline {
        challenge: "flood-watch",
        name: "xgboost-trees",
        description: "XGBoost, 10 rounds x 12 stations of depth-3 trees (python/make_bdt_fixtures.py); one margin per station.",
        model: include_bytes!("models/flood_xgboost.json"),
        config: Some("Model:\n  Precision: fixed<16,6>\n"),
    },
    FamilyBaseline {
        challenge: "flood-watch",
        name: "kan-splines",
        description: "Kolmogorov-Arnold network 84-12, cubic B-spline edges per station (python/make_kan_fixtures.py), tabulated into ROMs.",
        model: include_bytes!("models/flood_kan.json"),
        config: None,
    },
];

/// Seed everything that is missing.
pub async fn run(pool: &PgPool, store: &Arc<dyn ObjectStore>) -> anyhow::Result<()> {
    let done = db::seeds::done(pool).await?;
    let admin = db::users::ensure(pool, "admin", "Administrator", true).await?;
    db::users::ensure(pool, "organizer", "Demo organizer", false).await?;
    db::users::ensure(pool, "participant", "Demo participant", false).await?;
    for demo in &CHALLENGES {
        let challenge =
            Challenge::from_yaml(demo.definition).context("demo challenge definition")?;
        let item = format!("challenge:{}", challenge.slug);
        if done.contains(&item) {
            continue;
        }
        eprintln!(
            "seeding {} and the challenge {}...",
            demo.dataset, challenge.slug
        );
        let generated = datasets::generators::generate(demo.dataset, DEMO_ROWS, DEMO_SEED)?;
        let built = generated.build(chrono::Utc::now())?;
        server::ops::datasets::publish(pool, store.as_ref(), &built, None)
            .await
            .map_err(anyhow::Error::msg)?;
        let train = generated
            .split(SplitName::Train)
            .context("no training split")?;
        let baseline = fit_baseline(demo.dataset, train)?;
        let row = match db::challenges::by_slug(pool, &challenge.slug).await? {
            Some(row) => row,
            None => server::ops::challenges::create(
                pool,
                challenge.clone(),
                Some(&admin),
                server::ops::challenges::Authority::Operator,
            )
            .await
            .map_err(anyhow::Error::msg)?,
        };
        for phase in &challenge.phases {
            let upload = server::ops::submissions::Upload {
                model: baseline.onnx.clone().into(),
                config: Some(baseline.config.clone()),
                label: baseline.name.to_owned(),
                is_baseline: true,
                phase: Some(phase.name.clone()),
            };
            server::ops::submissions::submit(
                pool,
                store.as_ref(),
                &row,
                &challenge,
                &admin,
                upload,
                chrono::Utc::now(),
                &EvalLimits::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("baseline for {}: {e}", challenge.slug))?;
        }
        db::seeds::mark(pool, &item).await?;
        tracing::info!(challenge = %challenge.slug, baseline = baseline.name, "seeded: {}", baseline.description);
    }
    seed_family_baselines(pool, store, &done, &admin).await
}

/// The other families' baselines, each in every phase of its challenge.
async fn seed_family_baselines(
    pool: &PgPool,
    store: &Arc<dyn ObjectStore>,
    done: &std::collections::HashSet<String>,
    admin: &db::users::User,
) -> anyhow::Result<()> {
    for baseline in &FAMILY_BASELINES {
        let item = format!("baseline:{}:{}", baseline.challenge, baseline.name);
        if done.contains(&item) {
            continue;
        }
        let row = db::challenges::by_slug(pool, baseline.challenge)
            .await?
            .with_context(|| format!("challenge {} is not seeded", baseline.challenge))?;
        let challenge: Challenge = serde_json::from_value(row.definition.clone())
            .context("stored challenge definition")?;
        for phase in &challenge.phases {
            let upload = server::ops::submissions::Upload {
                model: baseline.model.to_vec().into(),
                config: baseline.config.map(str::to_owned),
                label: baseline.name.to_owned(),
                is_baseline: true,
                phase: Some(phase.name.clone()),
            };
            server::ops::submissions::submit(
                pool,
                store.as_ref(),
                &row,
                &challenge,
                admin,
                upload,
                chrono::Utc::now(),
                &EvalLimits::default(),
            )
            .await
            .map_err(|e| {
                anyhow::anyhow!("baseline {} for {}: {e}", baseline.name, challenge.slug)
            })?;
        }
        db::seeds::mark(pool, &item).await?;
        tracing::info!(challenge = %challenge.slug, baseline = baseline.name, "seeded: {}", baseline.description);
    }
    Ok(())
}

fn fit_baseline(
    dataset: &str,
    train: &arrow::record_batch::RecordBatch,
) -> anyhow::Result<baselines::Baseline> {
    match dataset {
        "gw-anomaly" => {
            baselines::pca_autoencoder(train, &[2, 200], 4, "Model:\n  Precision: fixed<16,6>\n")
        }
        "hybrid-genomes" => {
            baselines::pca_autoencoder(train, &[256], 4, "Model:\n  Precision: fixed<16,6>\n")
        }
        "coastal-flooding" => {
            baselines::last_day_threshold(train, 12, 7, "Model:\n  Precision: fixed<16,6>\n")
        }
        other => anyhow::bail!("no baseline for {other}"),
    }
}
