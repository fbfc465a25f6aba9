//! The audit log of organizer and admin actions (`audit_log`): challenge
//! created or edited, phase published, submission disqualified, re-run or
//! cancelled by an organizer, dataset version added, maintainer added or
//! removed, organizer role granted or revoked. Append only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;
use crate::users::User;

/// One recorded action.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub actor_handle: String,
    pub action: String,
    pub challenge_id: Option<Uuid>,
    pub subject: String,
    pub detail: Value,
}

/// What an action touched.
pub struct Action<'a> {
    /// A dotted name: `challenge.create`, `phase.publish`, `submission.disqualify`...
    pub action: &'a str,
    pub challenge_id: Option<Uuid>,
    /// The dataset acted on (maintainers, versions).
    pub dataset_id: Option<Uuid>,
    /// The object acted on (a slug, a phase, a submission id, a handle).
    pub subject: &'a str,
    pub detail: Value,
}

/// Record that `actor` did `action`.
pub async fn record(pool: &PgPool, actor: &User, action: Action<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (actor_id, actor_handle, action, challenge_id, dataset_id, subject, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(actor.id)
    .bind(&actor.handle)
    .bind(action.action)
    .bind(action.challenge_id)
    .bind(action.dataset_id)
    .bind(action.subject)
    .bind(&action.detail)
    .execute(pool)
    .await?;
    Ok(())
}

/// The actions on one challenge, oldest first.
pub async fn of_challenge(pool: &PgPool, challenge_id: Uuid) -> Result<Vec<Entry>> {
    Ok(sqlx::query_as(
        "SELECT at, actor_handle, action, challenge_id, subject, detail
         FROM audit_log WHERE challenge_id = $1 ORDER BY at, id",
    )
    .bind(challenge_id)
    .fetch_all(pool)
    .await?)
}
