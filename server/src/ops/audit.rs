//! The audit trail of organizer and admin actions: every change a person
//! makes to a challenge, a submission of someone else, a dataset or a role,
//! from the API, the console or the pages, is recorded with who and when.

use db::users::User;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ApiError;

/// What an action was about.
#[derive(Debug, Clone, Copy)]
pub enum On {
    Challenge(Uuid),
    Dataset(Uuid),
    /// The site itself (roles of users).
    Site,
}

/// Record that `actor` did `action` on `subject`. A failure to record fails
/// the request: an action must not go unrecorded silently.
pub async fn record(
    pool: &PgPool,
    actor: &User,
    action: &str,
    on: On,
    subject: &str,
    detail: Value,
) -> Result<(), ApiError> {
    let (challenge_id, dataset_id) = match on {
        On::Challenge(id) => (Some(id), None),
        On::Dataset(id) => (None, Some(id)),
        On::Site => (None, None),
    };
    let entry = db::audit::Action {
        action,
        challenge_id,
        dataset_id,
        subject,
        detail,
    };
    Ok(db::audit::record(pool, actor, entry).await?)
}
