//! Submissions: their lifecycle, events, results and the leaderboard query.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// The statuses, in lifecycle order.
pub const STATUSES: [&str; 9] = [
    "submitted",
    "queued",
    "compiling",
    "simulating",
    "synthesizing",
    "scoring",
    "finished",
    "failed",
    "cancelled",
];

/// Statuses after which nothing changes (except an organizer's re-run).
pub const FINAL: [&str; 3] = ["finished", "failed", "cancelled"];

/// The job kind that evaluates a submission.
pub const EVALUATE_JOB: &str = "submission.evaluate";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubmissionRow {
    pub id: Uuid,
    pub challenge_id: Uuid,
    pub phase: String,
    pub user_id: Uuid,
    pub handle: String,
    pub label: String,
    pub is_baseline: bool,
    pub model_sha256: String,
    pub model_size: i64,
    pub config_text: Option<String>,
    pub status: String,
    pub message: Option<String>,
    pub log: String,
    /// The part of the log computed from hidden labels: organizers only.
    pub organizer_log: String,
    pub job_id: Option<Uuid>,
    pub results: Option<Value>,
    pub disqualified: bool,
    pub disqualified_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "s.id, s.challenge_id, s.phase, s.user_id, u.handle, s.label, s.is_baseline, s.model_sha256, \
     s.model_size, s.config_text, s.status, s.message, s.log, s.organizer_log, s.job_id, s.results, s.disqualified, \
     s.disqualified_reason, s.created_at, s.updated_at";

/// A new submission, before it is queued.
pub struct NewSubmission<'a> {
    pub challenge_id: Uuid,
    pub phase: &'a str,
    pub user_id: Uuid,
    pub label: &'a str,
    pub is_baseline: bool,
    pub model_sha256: &'a str,
    pub model_size: i64,
    pub config_text: Option<&'a str>,
}

/// Insert a submission and queue its evaluation job in one transaction, on
/// `conn` (the connection that holds the model's content lock, so an upload
/// never waits for a second connection while holding one).
pub async fn create_and_queue(
    conn: &mut sqlx::PgConnection,
    new: &NewSubmission<'_>,
    max_attempts: i32,
) -> Result<Uuid> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO submissions (id, challenge_id, phase, user_id, label, is_baseline, model_sha256, model_size, config_text)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(new.challenge_id)
    .bind(new.phase)
    .bind(new.user_id)
    .bind(new.label)
    .bind(new.is_baseline)
    .bind(new.model_sha256)
    .bind(new.model_size)
    .bind(new.config_text)
    .execute(&mut *tx)
    .await?;
    event(&mut tx, id, "submitted", None).await?;
    queue_in(&mut tx, id, max_attempts).await?;
    tx.commit().await?;
    Ok(id)
}

async fn queue_in(tx: &mut sqlx::PgConnection, id: Uuid, max_attempts: i32) -> Result<()> {
    let job_id = Uuid::new_v4();
    sqlx::query("INSERT INTO jobs (id, kind, payload, max_attempts) VALUES ($1, $2, $3, $4)")
        .bind(job_id)
        .bind(EVALUATE_JOB)
        .bind(serde_json::json!({ "submission_id": id }))
        .bind(max_attempts)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE submissions SET status = 'queued', job_id = $2, message = NULL, results = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(job_id)
    .execute(&mut *tx)
    .await?;
    event(tx, id, "queued", None).await
}

async fn event(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    status: &str,
    detail: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO submission_events (submission_id, status, detail) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(status)
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Queue a finished, failed or cancelled submission again (organizer re-run).
pub async fn requeue(pool: &PgPool, id: Uuid, max_attempts: i32) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM submissions WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if !status.is_some_and(|s| FINAL.contains(&s.as_str())) {
        return Ok(false);
    }
    sqlx::query("UPDATE submissions SET log = '', organizer_log = '' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    queue_in(&mut tx, id, max_attempts).await?;
    tx.commit().await?;
    Ok(true)
}

/// Move a running submission to `status` (a step of its evaluation); `false`
/// when it was cancelled meanwhile or already ended.
pub async fn advance(pool: &PgPool, id: Uuid, status: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE submissions SET status = $2, updated_at = now()
         WHERE id = $1 AND status NOT IN ('finished', 'failed', 'cancelled')",
    )
    .bind(id)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        event(&mut tx, id, status, None).await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// How an evaluation ended.
pub struct Conclusion<'a> {
    /// `finished` or `failed`.
    pub status: &'a str,
    /// Why it failed, for its submitter.
    pub message: Option<&'a str>,
    pub results: Option<&'a Value>,
    /// The log for the submitter and the organizers.
    pub log: &'a str,
    /// The log for the organizers only.
    pub organizer_log: &'a str,
}

/// Record the outcome: `finished` with results, or `failed` with a human message.
pub async fn conclude(pool: &PgPool, id: Uuid, ended: &Conclusion<'_>) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE submissions SET status = $2, message = $3, results = $4, log = $5, organizer_log = $6,
                updated_at = now()
         WHERE id = $1 AND status NOT IN ('finished', 'failed', 'cancelled')",
    )
    .bind(id)
    .bind(ended.status)
    .bind(ended.message)
    .bind(ended.results)
    .bind(ended.log)
    .bind(ended.organizer_log)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        event(&mut tx, id, ended.status, ended.message).await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Whether an evaluation of `id` should go on: the submission exists, has not
/// ended (or been cancelled) and is not disqualified.
pub async fn running(pool: &PgPool, id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM submissions WHERE id = $1
                          AND status NOT IN ('finished', 'failed', 'cancelled') AND NOT disqualified)",
    )
    .bind(id)
    .fetch_one(pool)
    .await?)
}

/// Cancel a submission that has not ended (its job too).
pub async fn cancel(pool: &PgPool, id: Uuid) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let job: Option<Option<Uuid>> = sqlx::query_scalar(
        "UPDATE submissions SET status = 'cancelled', updated_at = now()
         WHERE id = $1 AND status NOT IN ('finished', 'failed', 'cancelled') RETURNING job_id",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(job) = job else {
        return Ok(false);
    };
    if let Some(job) = job {
        sqlx::query(
            "UPDATE jobs SET status = 'cancelled', lease_owner = NULL, finished_at = now(), updated_at = now()
             WHERE id = $1 AND status IN ('queued', 'running')",
        )
        .bind(job)
        .execute(&mut *tx)
        .await?;
    }
    event(&mut tx, id, "cancelled", None).await?;
    tx.commit().await?;
    Ok(true)
}

/// Disqualify a submission; one still running is cancelled as well (its
/// evaluation child is killed by its worker within half a second).
pub async fn disqualify(pool: &PgPool, id: Uuid, reason: &str) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let job: Option<(String, Option<Uuid>)> = sqlx::query_as(
        "UPDATE submissions SET disqualified = true, disqualified_reason = $2, updated_at = now()
         WHERE id = $1 RETURNING status, job_id",
    )
    .bind(id)
    .bind(reason)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((status, job)) = job else {
        return Ok(false);
    };
    if !FINAL.contains(&status.as_str()) {
        sqlx::query(
            "UPDATE submissions SET status = 'cancelled', updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if let Some(job) = job {
            sqlx::query(
                "UPDATE jobs SET status = 'cancelled', lease_owner = NULL, finished_at = now(), updated_at = now()
                 WHERE id = $1 AND status IN ('queued', 'running')",
            )
            .bind(job)
            .execute(&mut *tx)
            .await?;
        }
        event(&mut tx, id, "cancelled", Some("disqualified")).await?;
    }
    tx.commit().await?;
    Ok(true)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<SubmissionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM submissions s JOIN users u ON u.id = s.user_id WHERE s.id = $1"
    );
    Ok(sqlx::query_as::<_, SubmissionRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Finished, not disqualified submissions of a phase (the leaderboard's input).
pub async fn finished_in_phase(
    pool: &PgPool,
    challenge_id: Uuid,
    phase: &str,
) -> Result<Vec<SubmissionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM submissions s JOIN users u ON u.id = s.user_id
         WHERE s.challenge_id = $1 AND s.phase = $2 AND s.status = 'finished' AND NOT s.disqualified
         ORDER BY s.created_at, s.id"
    );
    Ok(sqlx::query_as::<_, SubmissionRow>(&sql)
        .bind(challenge_id)
        .bind(phase)
        .fetch_all(pool)
        .await?)
}

/// Every submission of a challenge, newest first (organizer view), or of one user.
pub async fn of_challenge(
    pool: &PgPool,
    challenge_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<Vec<SubmissionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM submissions s JOIN users u ON u.id = s.user_id
         WHERE s.challenge_id = $1 AND ($2::uuid IS NULL OR s.user_id = $2)
         ORDER BY s.created_at DESC"
    );
    Ok(sqlx::query_as::<_, SubmissionRow>(&sql)
        .bind(challenge_id)
        .bind(user_id)
        .fetch_all(pool)
        .await?)
}

/// Submissions of a user in a challenge that count against limits (not failed, not
/// cancelled), since `since`, optionally in one phase.
pub async fn count_for_limits(
    pool: &PgPool,
    challenge_id: Uuid,
    user_id: Uuid,
    since: Option<DateTime<Utc>>,
    phase: Option<&str>,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM submissions
         WHERE challenge_id = $1 AND user_id = $2 AND NOT is_baseline
           AND status NOT IN ('failed', 'cancelled')
           AND ($3::timestamptz IS NULL OR created_at >= $3)
           AND ($4::text IS NULL OR phase = $4)",
    )
    .bind(challenge_id)
    .bind(user_id)
    .bind(since)
    .bind(phase)
    .fetch_one(pool)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Event {
    pub status: String,
    pub at: DateTime<Utc>,
    pub detail: Option<String>,
}

pub async fn events(pool: &PgPool, id: Uuid) -> Result<Vec<Event>> {
    Ok(sqlx::query_as::<_, Event>(
        "SELECT status, at, detail FROM submission_events WHERE submission_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

/// Lines to append to both parts of a submission's log.
pub struct LogLines<'a> {
    pub submitter: &'a str,
    pub organizers: &'a str,
}

/// Append to the submission's log (each part kept short: the last 64 KiB).
pub async fn append_log(pool: &PgPool, id: Uuid, lines: &LogLines<'_>) -> Result<()> {
    sqlx::query(
        "UPDATE submissions SET log = right(log || $2, 65536),
                organizer_log = right(organizer_log || $3, 65536) WHERE id = $1",
    )
    .bind(id)
    .bind(lines.submitter)
    .bind(lines.organizers)
    .execute(pool)
    .await?;
    Ok(())
}

/// Does a baseline with this label exist already in the challenge?
pub async fn baseline_exists(pool: &PgPool, challenge_id: Uuid, label: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM submissions WHERE challenge_id = $1 AND is_baseline AND label = $2)",
    )
    .bind(challenge_id)
    .bind(label)
    .fetch_one(pool)
    .await?)
}

/// Whether any submission names the model with this digest.
pub async fn model_referenced(conn: &mut sqlx::PgConnection, sha256: &str) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM submissions WHERE model_sha256 = $1)")
            .bind(sha256)
            .fetch_one(conn)
            .await?,
    )
}
