//! Creating and updating challenges: the definition is checked against the
//! dataset version it names before anything is written.

use challenges::Challenge;
use datasets::{Role, SplitName, VersionMeta};
use db::challenges::ChallengeRow;
use db::users::User;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ApiError;

/// Parse a definition (YAML or JSON) into a challenge, or a 400 naming the field.
pub fn parse(text: &str) -> Result<Challenge, ApiError> {
    Challenge::from_yaml(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Check `challenge` against its dataset and resolve `latest`; returns the
/// dataset version id and the organizers' user ids.
async fn resolve(pool: &PgPool, challenge: &mut Challenge) -> Result<(Uuid, Vec<Uuid>), ApiError> {
    toolflow::hw::devices::device(&challenge.target.part)
        .map_err(|e| ApiError::BadRequest(format!("`target.part`: {e}")))?;
    let dataset = &challenge.dataset;
    let row = db::datasets::version(pool, &dataset.slug, &dataset.version)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`dataset`: no dataset `{}` with version `{}`",
                dataset.slug, dataset.version
            ))
        })?;
    let version: VersionMeta = serde_json::from_value(row.doc)
        .map_err(|e| ApiError::BadRequest(format!("dataset metadata: {e}")))?;
    challenge.dataset.version = version.version.clone();
    let feature = |name: &str| version.features.iter().find(|f| f.name == name);
    match feature(&challenge.label) {
        Some(f) if f.role == Role::Label => {}
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "`label`: column `{}` is not a label",
                challenge.label
            )));
        }
        None => {
            return Err(ApiError::BadRequest(format!(
                "`label`: the dataset has no column `{}`",
                challenge.label
            )));
        }
    }
    let inputs: Vec<&String> = challenge
        .input
        .column
        .iter()
        .chain(&challenge.input.columns)
        .collect();
    for name in inputs {
        match feature(name) {
            Some(f) if f.role == Role::Feature => {}
            Some(_) => {
                return Err(ApiError::BadRequest(format!(
                    "`input`: column `{name}` is not a feature"
                )));
            }
            None => {
                return Err(ApiError::BadRequest(format!(
                    "`input`: the dataset has no column `{name}`"
                )));
            }
        }
    }
    for (i, phase) in challenge.phases.iter().enumerate() {
        let present = SplitName::parse(&phase.split).is_some_and(|s| version.split(s).is_some());
        if !present {
            return Err(ApiError::BadRequest(format!(
                "`phases[{i}].split`: the dataset version has no `{}` split",
                phase.split
            )));
        }
    }
    let mut organizers = Vec::new();
    for handle in &challenge.organizers {
        let user = db::users::by_handle(pool, handle)
            .await?
            .ok_or_else(|| ApiError::BadRequest(format!("`organizers`: no user `{handle}`")))?;
        organizers.push(user.id);
    }
    Ok((row.id, organizers))
}

/// Create a challenge; the creator becomes an organizer.
pub async fn create(
    pool: &PgPool,
    mut challenge: Challenge,
    creator: Option<&User>,
) -> Result<ChallengeRow, ApiError> {
    let (version_id, mut organizers) = resolve(pool, &mut challenge).await?;
    if let Some(creator) = creator
        && !organizers.contains(&creator.id)
    {
        organizers.push(creator.id);
        challenge.organizers.push(creator.handle.clone());
    }
    let definition =
        serde_json::to_value(&challenge).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    db::challenges::create(
        pool,
        &challenge.slug,
        &challenge.title,
        &definition,
        version_id,
        creator.map(|u| u.id),
        &organizers,
    )
    .await?
    .ok_or_else(|| ApiError::Conflict(format!("a challenge `{}` exists already", challenge.slug)))
}

/// Replace the definition of an existing challenge (the slug cannot change).
pub async fn update(
    pool: &PgPool,
    row: &ChallengeRow,
    mut challenge: Challenge,
) -> Result<(), ApiError> {
    if challenge.slug != row.slug {
        return Err(ApiError::BadRequest(format!(
            "`slug`: the slug of a challenge cannot change (`{}`)",
            row.slug
        )));
    }
    let (version_id, organizers) = resolve(pool, &mut challenge).await?;
    let definition =
        serde_json::to_value(&challenge).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    db::challenges::update(
        pool,
        row.id,
        &challenge.title,
        &definition,
        version_id,
        &organizers,
    )
    .await?;
    Ok(())
}

/// Record an organizer action in the audit log. A failure to record is an
/// error of the request: an action must not go unrecorded silently.
pub async fn audit(
    pool: &PgPool,
    actor: &User,
    action: &str,
    challenge_id: Uuid,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let entry = db::audit::Action {
        action,
        challenge_id: Some(challenge_id),
        subject,
        detail,
    };
    Ok(db::audit::record(pool, actor, entry).await?)
}

/// The stored definition of a challenge row.
pub fn definition(row: &ChallengeRow) -> Result<Challenge, ApiError> {
    serde_json::from_value(row.definition.clone())
        .map_err(|e| ApiError::Unavailable(format!("stored challenge definition unreadable: {e}")))
}
