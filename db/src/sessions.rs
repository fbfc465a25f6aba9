//! Browser sessions, OAuth flows in progress and external identities.
//!
//! The session cookie holds a random secret; the table holds its sha256, so
//! reading the table does not let anyone sign in. Sessions that have not signed
//! in (`user` is `None`) carry the CSRF token of the login form and the OAuth
//! flows started from it.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;
use crate::users::User;

/// How long a session lives without being renewed by a sign-in.
pub const SESSION_DAYS: i64 = 14;
/// How long a session that has not signed in lives (it only carries the CSRF
/// token of the login form and the sign-ins started from it).
pub const ANONYMOUS_SESSION_HOURS: i64 = 24;
/// How long the user has to come back from the provider.
pub const FLOW_MINUTES: i64 = 10;

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub user: Option<User>,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// sha256 (hex) of a secret: what the tables store.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random URL-safe secret (32 bytes, hex).
pub fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Open a session (signed in as `user_id`, or anonymous); returns the cookie secret.
pub async fn create(pool: &PgPool, user_id: Option<Uuid>) -> Result<(String, Session)> {
    let secret = random_secret();
    let csrf = random_secret();
    let expires_at = match user_id {
        Some(_) => Utc::now() + Duration::days(SESSION_DAYS),
        None => Utc::now() + Duration::hours(ANONYMOUS_SESSION_HOURS),
    };
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash(&secret))
    .bind(user_id)
    .bind(&csrf)
    .bind(expires_at)
    .execute(pool)
    .await?;
    let user = match user_id {
        Some(id) => crate::users::by_id(pool, id).await?,
        None => None,
    };
    let session = Session {
        id_hash: hash(&secret),
        user,
        csrf_token: csrf,
        expires_at,
    };
    Ok((secret, session))
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    user_id: Option<Uuid>,
    csrf_token: String,
    expires_at: DateTime<Utc>,
}

/// The live session of a cookie secret, with its user.
pub async fn get(pool: &PgPool, secret: &str) -> Result<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT id_hash, user_id, csrf_token, expires_at FROM sessions
         WHERE id_hash = $1 AND expires_at > now()",
    )
    .bind(hash(secret))
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let user = match row.user_id {
        Some(id) => crate::users::by_id(pool, id).await?,
        None => None,
    };
    Ok(Some(Session {
        id_hash: row.id_hash,
        user,
        csrf_token: row.csrf_token,
        expires_at: row.expires_at,
    }))
}

/// End a session (sign out). Its OAuth flows go with it.
pub async fn delete(pool: &PgPool, secret: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(hash(secret))
        .execute(pool)
        .await?;
    Ok(())
}

/// Sign in: the old session (if any) is dropped and a new one with a new
/// secret and CSRF token is opened, so a session id fixed before sign-in is
/// worth nothing after it.
pub async fn sign_in(
    pool: &PgPool,
    old_secret: Option<&str>,
    user_id: Uuid,
) -> Result<(String, Session)> {
    if let Some(old) = old_secret {
        delete(pool, old).await?;
    }
    // Sign-ins are rare enough to sweep expired rows on the way (indexed by expiry).
    purge_expired(pool).await?;
    create(pool, Some(user_id)).await
}

/// Remove expired sessions and flows; returns how many sessions went.
pub async fn purge_expired(pool: &PgPool) -> Result<u64> {
    sqlx::query("DELETE FROM oauth_flows WHERE expires_at <= now()")
        .execute(pool)
        .await?;
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= now()")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// An authorization-code flow waiting for its callback.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Flow {
    pub session_hash: String,
    pub provider: String,
    pub pkce_verifier: String,
    pub return_to: String,
    /// False when the flow expired before its callback.
    pub live: bool,
}

/// Record a flow under its `state`.
pub async fn start_flow(
    pool: &PgPool,
    state: &str,
    session_hash: &str,
    provider: &str,
    pkce_verifier: &str,
    return_to: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO oauth_flows (state_hash, session_hash, provider, pkce_verifier, return_to, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash(state))
    .bind(session_hash)
    .bind(provider)
    .bind(pkce_verifier)
    .bind(return_to)
    .bind(Utc::now() + Duration::minutes(FLOW_MINUTES))
    .execute(pool)
    .await?;
    Ok(())
}

/// Take (and delete: a state is good once) the live flow of `state`.
pub async fn take_flow(pool: &PgPool, state: &str) -> Result<Option<Flow>> {
    Ok(sqlx::query_as::<_, Flow>(
        "DELETE FROM oauth_flows WHERE state_hash = $1
         RETURNING session_hash, provider, pkce_verifier, return_to, expires_at > now() AS live",
    )
    .bind(hash(state))
    .fetch_optional(pool)
    .await?
    .filter(|flow| flow.live))
}

/// The user an external identity signs in, if it is known.
pub async fn identity_user(pool: &PgPool, provider: &str, subject: &str) -> Result<Option<Uuid>> {
    Ok(sqlx::query_scalar(
        "UPDATE oauth_identities SET last_login = now() WHERE provider = $1 AND subject = $2 RETURNING user_id",
    )
    .bind(provider)
    .bind(subject)
    .fetch_optional(pool)
    .await?)
}

/// Link an external identity to a user.
pub async fn link_identity(
    pool: &PgPool,
    provider: &str,
    subject: &str,
    user_id: Uuid,
    email: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO oauth_identities (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider, subject) DO UPDATE SET user_id = EXCLUDED.user_id, email = EXCLUDED.email",
    )
    .bind(provider)
    .bind(subject)
    .bind(user_id)
    .bind(email)
    .execute(pool)
    .await?;
    Ok(())
}

/// The providers a user signs in with.
pub async fn identities_of(pool: &PgPool, user_id: Uuid) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT provider, subject FROM oauth_identities WHERE user_id = $1 ORDER BY provider",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?)
}
