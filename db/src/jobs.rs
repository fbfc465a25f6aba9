//! The job queue on PostgreSQL.
//!
//! Workers claim jobs with `FOR UPDATE SKIP LOCKED`, so any number of workers on
//! any number of machines share one queue without double work. A claim takes a
//! lease; the worker renews it with heartbeats. When a worker dies its lease
//! runs out and the next claim takes the job back. Every write that ends a job
//! checks the lease owner, so a worker that lost its lease cannot overwrite the
//! result of the worker that took over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// A row of the `jobs` table.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    pub kind: String,
    pub payload: Value,
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
    pub result: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const JOB_COLUMNS: &str = "id, kind, payload, status, attempts, max_attempts, lease_owner, \
                           last_error, result, created_at, finished_at";

/// Queue a new job; returns its id.
pub async fn enqueue(
    pool: &PgPool,
    kind: &str,
    payload: &Value,
    max_attempts: i32,
) -> Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO jobs (id, kind, payload, max_attempts) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(kind)
        .bind(payload)
        .bind(max_attempts)
        .execute(pool)
        .await?;
    Ok(id)
}

/// Fail the jobs whose lease ran out after their last allowed attempt.
pub async fn fail_exhausted(pool: &PgPool) -> Result<u64> {
    // The lease owner is read before the update clears it (a self-join on the
    // same row sees the old version).
    let done = sqlx::query_scalar::<_, i64>(
        "WITH done AS (
             UPDATE jobs j SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL,
                    last_error = coalesce(j.last_error || '; ', '') || 'worker lost ' || j.attempts || ' time(s); giving up',
                    finished_at = now(), updated_at = now()
             FROM jobs old
             WHERE old.id = j.id AND j.status = 'running' AND j.lease_expires_at < now()
               AND j.attempts >= j.max_attempts
             RETURNING j.id, j.attempts, old.lease_owner),
         run AS (
             INSERT INTO job_runs (job_id, worker, attempt, outcome)
             SELECT id, lease_owner, attempts, 'lost' FROM done)
         SELECT count(*) FROM done",
    )
    .fetch_one(pool)
    .await?;
    Ok(done as u64)
}

/// Claim the oldest due job of one of `kinds` (queued, or running with an expired
/// lease) for `owner`, with a lease of `lease`.
pub async fn claim(
    pool: &PgPool,
    owner: &str,
    kinds: &[String],
    lease: Duration,
) -> Result<Option<Job>> {
    fail_exhausted(pool).await?;
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1,
                lease_expires_at = now() + $2 * interval '1 millisecond', updated_at = now()
         WHERE id = (
             SELECT id FROM jobs
             WHERE kind = ANY($3)
               AND ((status = 'queued' AND run_after <= now())
                 OR (status = 'running' AND lease_expires_at < now() AND attempts < max_attempts))
             ORDER BY created_at
             FOR UPDATE SKIP LOCKED
             LIMIT 1)
         RETURNING {JOB_COLUMNS}"
    );
    let job = sqlx::query_as::<_, Job>(&sql)
        .bind(owner)
        .bind(lease.as_millis() as f64)
        .bind(kinds)
        .fetch_optional(pool)
        .await?;
    Ok(job)
}

/// Extend the lease; `false` means the lease was lost (the job was taken back or cancelled).
pub async fn heartbeat(pool: &PgPool, id: Uuid, owner: &str, lease: Duration) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET lease_expires_at = now() + $3 * interval '1 millisecond', updated_at = now()
         WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
    )
    .bind(id)
    .bind(owner)
    .bind(lease.as_millis() as f64)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Mark the job finished with its result; `false` if the lease was lost meanwhile.
pub async fn finish(pool: &PgPool, id: Uuid, owner: &str, result: &Value) -> Result<bool> {
    let done = sqlx::query_scalar::<_, i64>(
        "WITH done AS (
             UPDATE jobs SET status = 'finished', result = $3, lease_owner = NULL, lease_expires_at = NULL,
                    finished_at = now(), updated_at = now()
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'
             RETURNING id, attempts),
         run AS (
             INSERT INTO job_runs (job_id, worker, attempt, outcome)
             SELECT id, $2, attempts, 'finished' FROM done)
         SELECT count(*) FROM done",
    )
    .bind(id)
    .bind(owner)
    .bind(result)
    .fetch_one(pool)
    .await?;
    Ok(done == 1)
}

/// Record a failed attempt: the job is queued again after `backoff` while attempts
/// remain and the error is retryable, otherwise it fails for good.
pub async fn fail(
    pool: &PgPool,
    id: Uuid,
    owner: &str,
    error: &str,
    retryable: bool,
    backoff: Duration,
) -> Result<bool> {
    let done = sqlx::query_scalar::<_, i64>(
        "WITH done AS (
             UPDATE jobs SET
                status = CASE WHEN $4 AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
                run_after = now() + $5 * interval '1 millisecond',
                finished_at = CASE WHEN $4 AND attempts < max_attempts THEN NULL ELSE now() END,
                last_error = $3, lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'
             RETURNING id, attempts, status),
         run AS (
             INSERT INTO job_runs (job_id, worker, attempt, outcome)
             SELECT id, $2, attempts, CASE WHEN status = 'queued' THEN 'retried' ELSE 'failed' END
             FROM done)
         SELECT count(*) FROM done",
    )
    .bind(id)
    .bind(owner)
    .bind(error)
    .bind(retryable)
    .bind(backoff.as_millis() as f64)
    .fetch_one(pool)
    .await?;
    Ok(done == 1)
}

/// Hand a job back untouched (worker shutting down): queued again at once, and the
/// attempt does not count.
pub async fn release(pool: &PgPool, id: Uuid, owner: &str) -> Result<bool> {
    let done = sqlx::query_scalar::<_, i64>(
        "WITH done AS (
             UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0), run_after = now(),
                    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'
             RETURNING id, attempts),
         run AS (
             INSERT INTO job_runs (job_id, worker, attempt, outcome)
             SELECT id, $2, attempts + 1, 'released' FROM done)
         SELECT count(*) FROM done",
    )
    .bind(id)
    .bind(owner)
    .fetch_one(pool)
    .await?;
    Ok(done == 1)
}

/// Cancel a job that has not ended yet.
pub async fn cancel(pool: &PgPool, id: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL,
                finished_at = now(), updated_at = now()
         WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
    Ok(sqlx::query_as::<_, Job>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// How many jobs wait before this one (0 = next), or `None` when it is not queued.
pub async fn queue_position(pool: &PgPool, id: Uuid) -> Result<Option<i64>> {
    let position = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM jobs o, jobs j
         WHERE j.id = $1 AND j.status = 'queued' AND o.status = 'queued' AND o.created_at < j.created_at",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    let queued = sqlx::query_scalar::<_, bool>("SELECT status = 'queued' FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .unwrap_or(false);
    Ok(queued.then_some(position))
}

/// Job counts by status, for dashboards and metrics.
pub async fn counts_by_status(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as::<_, (String, i64)>(
        "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status",
    )
    .fetch_all(pool)
    .await?)
}

/// One ended attempt of a job (a row of `job_runs`), written by the statement
/// that recorded the end: `finished`, `failed`, `retried` (failed, queued
/// again), `released` (handed back at shutdown) or `lost` (lease ran out after
/// the last attempt).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRun {
    pub job_id: Uuid,
    pub worker: Option<String>,
    pub attempt: i32,
    pub outcome: String,
    pub at: DateTime<Utc>,
}

/// The ended attempts of one job, oldest first.
pub async fn runs(pool: &PgPool, id: Uuid) -> Result<Vec<JobRun>> {
    Ok(sqlx::query_as::<_, JobRun>(
        "SELECT job_id, worker, attempt, outcome, at FROM job_runs WHERE job_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}
