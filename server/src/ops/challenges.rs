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

/// What a definition resolves to in the database.
struct Resolved {
    version_id: Uuid,
    dataset_id: Uuid,
    organizers: Vec<Uuid>,
    /// Phases that score a split whose labels are hidden: (phase, split).
    hidden: Vec<(String, String)>,
}

/// Check `challenge` against its dataset and resolve `latest`.
async fn resolve(pool: &PgPool, challenge: &mut Challenge) -> Result<Resolved, ApiError> {
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
    let mut hidden = Vec::new();
    for (i, phase) in challenge.phases.iter().enumerate() {
        let split = SplitName::parse(&phase.split).and_then(|s| version.split(s));
        let Some(split) = split else {
            return Err(ApiError::BadRequest(format!(
                "`phases[{i}].split`: the dataset version has no `{}` split",
                phase.split
            )));
        };
        if split.visibility != datasets::Visibility::Public {
            hidden.push((phase.name.clone(), phase.split.clone()));
        }
    }
    let mut organizers = Vec::new();
    for handle in &challenge.organizers {
        let user = db::users::by_handle(pool, handle)
            .await?
            .ok_or_else(|| ApiError::BadRequest(format!("`organizers`: no user `{handle}`")))?;
        organizers.push(user.id);
    }
    Ok(Resolved {
        version_id: row.id,
        dataset_id: row.dataset_id,
        organizers,
        hidden,
    })
}

/// A challenge scoring a split whose labels are hidden shows its organizers
/// scores computed from those labels: only the dataset's maintainers and
/// admins may set one up. `already` lists the (phase, split) pairs the
/// stored definition had on the same dataset version (an edit that keeps
/// them needs no new right).
async fn check_stewardship(
    pool: &PgPool,
    by: &User,
    dataset: &str,
    resolved: &Resolved,
    already: &[(String, String)],
) -> Result<(), ApiError> {
    let new: Vec<&(String, String)> = resolved
        .hidden
        .iter()
        .filter(|p| !already.contains(p))
        .collect();
    let Some((phase, split)) = new.first() else {
        return Ok(());
    };
    if super::datasets::maintains(pool, by, resolved.dataset_id).await? {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "phase `{phase}` scores split `{split}` of dataset `{dataset}`, whose labels are hidden; \
         only the dataset's maintainers and admins may set up a challenge that scores it \
         (ask a maintainer to create it, or to add you as a maintainer)"
    )))
}

/// Who sets up or changes a challenge, for the stewardship rule.
#[derive(Debug, Clone, Copy)]
pub enum Authority<'a> {
    /// The platform's operator (the `arena` CLI on the database, the demo
    /// seeding): trusted.
    Operator,
    /// A user through the API or the console.
    User(&'a User),
}

/// Create a challenge; the creator (if any) becomes an organizer.
pub async fn create(
    pool: &PgPool,
    mut challenge: Challenge,
    creator: Option<&User>,
    authority: Authority<'_>,
) -> Result<ChallengeRow, ApiError> {
    let resolved = resolve(pool, &mut challenge).await?;
    if let Authority::User(user) = authority {
        check_stewardship(pool, user, &challenge.dataset.slug, &resolved, &[]).await?;
    }
    let (version_id, mut organizers) = (resolved.version_id, resolved.organizers);
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
    authority: Authority<'_>,
) -> Result<(), ApiError> {
    if challenge.slug != row.slug {
        return Err(ApiError::BadRequest(format!(
            "`slug`: the slug of a challenge cannot change (`{}`)",
            row.slug
        )));
    }
    let resolved = resolve(pool, &mut challenge).await?;
    let stored = definition(row)?;
    let already: Vec<(String, String)> = if row.dataset_version_id == resolved.version_id {
        stored
            .phases
            .iter()
            .map(|p| (p.name.clone(), p.split.clone()))
            .collect()
    } else {
        Vec::new()
    };
    if let Authority::User(user) = authority {
        check_stewardship(pool, user, &challenge.dataset.slug, &resolved, &already).await?;
    }
    let (version_id, organizers) = (resolved.version_id, resolved.organizers);
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

/// Record an organizer action on a challenge in the audit log.
pub async fn audit(
    pool: &PgPool,
    actor: &User,
    action: &str,
    challenge_id: Uuid,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let on = super::audit::On::Challenge(challenge_id);
    super::audit::record(pool, actor, action, on, subject, detail).await
}

/// The stored definition of a challenge row.
pub fn definition(row: &ChallengeRow) -> Result<Challenge, ApiError> {
    serde_json::from_value(row.definition.clone())
        .map_err(|e| ApiError::Unavailable(format!("stored challenge definition unreadable: {e}")))
}
