//! Challenges, their organizers and published phases.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChallengeRow {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub definition: Value,
    pub dataset_version_id: Uuid,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, slug, title, definition, dataset_version_id, created_by, created_at, updated_at";

/// Create a challenge with its organizers (user ids); `None` if the slug is taken.
pub async fn create(
    pool: &PgPool,
    slug: &str,
    title: &str,
    definition: &Value,
    dataset_version_id: Uuid,
    created_by: Option<Uuid>,
    organizers: &[Uuid],
) -> Result<Option<ChallengeRow>> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "INSERT INTO challenges (id, slug, title, definition, dataset_version_id, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (slug) DO NOTHING RETURNING {COLUMNS}"
    );
    let Some(row) = sqlx::query_as::<_, ChallengeRow>(&sql)
        .bind(Uuid::new_v4())
        .bind(slug)
        .bind(title)
        .bind(definition)
        .bind(dataset_version_id)
        .bind(created_by)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(None);
    };
    set_organizers(&mut tx, row.id, organizers).await?;
    tx.commit().await?;
    Ok(Some(row))
}

/// Replace the definition (and organizers) of an existing challenge.
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    title: &str,
    definition: &Value,
    dataset_version_id: Uuid,
    organizers: &[Uuid],
) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE challenges SET title = $2, definition = $3, dataset_version_id = $4, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(title)
    .bind(definition)
    .bind(dataset_version_id)
    .execute(&mut *tx)
    .await?;
    set_organizers(&mut tx, id, organizers).await?;
    tx.commit().await?;
    Ok(())
}

async fn set_organizers(
    tx: &mut sqlx::PgConnection,
    challenge_id: Uuid,
    organizers: &[Uuid],
) -> Result<()> {
    sqlx::query("DELETE FROM challenge_organizers WHERE challenge_id = $1")
        .bind(challenge_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO challenge_organizers (challenge_id, user_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
    )
    .bind(challenge_id)
    .bind(organizers)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn by_slug(pool: &PgPool, slug: &str) -> Result<Option<ChallengeRow>> {
    let sql = format!("SELECT {COLUMNS} FROM challenges WHERE slug = $1");
    Ok(sqlx::query_as::<_, ChallengeRow>(&sql)
        .bind(slug)
        .fetch_optional(pool)
        .await?)
}

pub async fn by_id(pool: &PgPool, id: Uuid) -> Result<Option<ChallengeRow>> {
    let sql = format!("SELECT {COLUMNS} FROM challenges WHERE id = $1");
    Ok(sqlx::query_as::<_, ChallengeRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

pub async fn list(pool: &PgPool) -> Result<Vec<ChallengeRow>> {
    let sql = format!("SELECT {COLUMNS} FROM challenges ORDER BY created_at DESC");
    Ok(sqlx::query_as::<_, ChallengeRow>(&sql)
        .fetch_all(pool)
        .await?)
}

pub async fn is_organizer(pool: &PgPool, challenge_id: Uuid, user_id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM challenge_organizers WHERE challenge_id = $1 AND user_id = $2)",
    )
    .bind(challenge_id)
    .bind(user_id)
    .fetch_one(pool)
    .await?)
}

pub async fn organizer_handles(pool: &PgPool, challenge_id: Uuid) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.handle FROM challenge_organizers o JOIN users u ON u.id = o.user_id
         WHERE o.challenge_id = $1 ORDER BY u.handle",
    )
    .bind(challenge_id)
    .fetch_all(pool)
    .await?)
}

/// Make a hidden phase's results public (idempotent).
pub async fn publish_phase(pool: &PgPool, challenge_id: Uuid, phase: &str, by: Uuid) -> Result<()> {
    sqlx::query(
        "INSERT INTO phase_publications (challenge_id, phase, published_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(challenge_id)
    .bind(phase)
    .bind(by)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn published_at(
    pool: &PgPool,
    challenge_id: Uuid,
    phase: &str,
) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT published_at FROM phase_publications WHERE challenge_id = $1 AND phase = $2",
    )
    .bind(challenge_id)
    .bind(phase)
    .fetch_optional(pool)
    .await?)
}

/// A value that changes whenever the leaderboards of the challenge `slug` may
/// change: its definition, its submissions (any status change, a new one, a
/// disqualification) and its published phases. `None`: no such challenge.
pub async fn results_version(pool: &PgPool, slug: &str) -> Result<Option<String>> {
    /// Definition time, last submission change, submissions, publications.
    type Version = (DateTime<Utc>, Option<DateTime<Utc>>, i64, i64);
    let row: Option<Version> = sqlx::query_as(
        "SELECT c.updated_at,
                (SELECT max(s.updated_at) FROM submissions s WHERE s.challenge_id = c.id),
                (SELECT count(*) FROM submissions s WHERE s.challenge_id = c.id),
                (SELECT count(*) FROM phase_publications p WHERE p.challenge_id = c.id)
         FROM challenges c WHERE c.slug = $1",
    )
    .bind(slug)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(defined, result, submissions, published)| {
        format!(
            "{}/{}/{submissions}/{published}",
            defined.timestamp_micros(),
            result.map_or(0, |t| t.timestamp_micros())
        )
    }))
}
