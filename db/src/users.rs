//! Users and API tokens.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct User {
    pub id: Uuid,
    pub handle: String,
    pub display_name: String,
    pub email: Option<String>,
    pub orcid: Option<String>,
    pub is_admin: bool,
    /// The organizer role, granted by an admin: create challenges and datasets.
    pub can_organize: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    /// The scopes this user holds, which bound every token of theirs: `read`
    /// and `submit` for everyone, `organize` for organizers and admins.
    pub fn held_scopes(&self) -> Vec<&'static str> {
        let mut held = vec!["read", "submit"];
        if self.can_organize || self.is_admin {
            held.push("organize");
        }
        held
    }

    pub fn holds(&self, scope: &str) -> bool {
        self.held_scopes().contains(&scope)
    }
}

const USER_COLUMNS: &str =
    "id, handle, display_name, email, orcid, is_admin, can_organize, created_at";

/// Find a user by handle, creating them when missing.
pub async fn ensure(
    pool: &PgPool,
    handle: &str,
    display_name: &str,
    is_admin: bool,
) -> Result<User> {
    let sql = format!(
        "INSERT INTO users (id, handle, display_name, is_admin) VALUES ($1, $2, $3, $4)
         ON CONFLICT (handle) DO UPDATE SET handle = EXCLUDED.handle
         RETURNING {USER_COLUMNS}"
    );
    Ok(sqlx::query_as::<_, User>(&sql)
        .bind(Uuid::new_v4())
        .bind(handle)
        .bind(display_name)
        .bind(is_admin)
        .fetch_one(pool)
        .await?)
}

pub async fn by_handle(pool: &PgPool, handle: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE handle = $1");
    Ok(sqlx::query_as::<_, User>(&sql)
        .bind(handle)
        .fetch_optional(pool)
        .await?)
}

pub async fn by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(sqlx::query_as::<_, User>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// What a token may do.
pub const SCOPES: [&str; 3] = ["read", "submit", "organize"];

/// A token's row, without the secret.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Token {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const TOKEN_COLUMNS: &str =
    "id, user_id, name, prefix, scopes, created_at, last_used_at, revoked_at";

fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Create a token; returns the row and the secret, which is never stored and
/// cannot be shown again.
pub async fn create_token(
    pool: &PgPool,
    user_id: Uuid,
    name: &str,
    scopes: &[String],
) -> Result<(Token, String)> {
    let secret = format!("arena_{}", hex::encode(rand::random::<[u8; 24]>()));
    let sql = format!(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING {TOKEN_COLUMNS}"
    );
    let token = sqlx::query_as::<_, Token>(&sql)
        .bind(Uuid::new_v4())
        .bind(user_id)
        .bind(name)
        .bind(hash_token(&secret))
        .bind(&secret[..12])
        .bind(scopes)
        .fetch_one(pool)
        .await?;
    Ok((token, secret))
}

/// The user and scopes of a live token: the token's scopes that the user
/// still holds (a revoked role takes its scope from every token at once).
pub async fn authenticate(pool: &PgPool, secret: &str) -> Result<Option<(User, Vec<String>)>> {
    let row: Option<(Uuid, Vec<String>)> = sqlx::query_as(
        "UPDATE api_tokens SET last_used_at = now()
         WHERE token_hash = $1 AND revoked_at IS NULL
         RETURNING user_id, scopes",
    )
    .bind(hash_token(secret))
    .fetch_optional(pool)
    .await?;
    let Some((user_id, scopes)) = row else {
        return Ok(None);
    };
    Ok(by_id(pool, user_id).await?.map(|user| {
        let held: Vec<String> = scopes.into_iter().filter(|s| user.holds(s)).collect();
        (user, held)
    }))
}

pub async fn tokens_of(pool: &PgPool, user_id: Uuid) -> Result<Vec<Token>> {
    let sql =
        format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at");
    Ok(sqlx::query_as::<_, Token>(&sql)
        .bind(user_id)
        .fetch_all(pool)
        .await?)
}

pub async fn revoke_token(pool: &PgPool, user_id: Uuid, token_id: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(token_id)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Create a user for a new external identity, with a free handle derived from
/// `preferred` (lower-case letters, digits and `-`; a number is appended when taken).
pub async fn create_unique(
    pool: &PgPool,
    preferred: &str,
    display_name: &str,
    email: Option<&str>,
    orcid: Option<&str>,
) -> Result<User> {
    let base = handle_from(preferred);
    let sql = format!(
        "INSERT INTO users (id, handle, display_name, email, orcid) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (handle) DO NOTHING RETURNING {USER_COLUMNS}"
    );
    for n in 0u32.. {
        let handle = if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let created = sqlx::query_as::<_, User>(&sql)
            .bind(Uuid::new_v4())
            .bind(&handle)
            .bind(display_name)
            .bind(email)
            .bind(orcid)
            .fetch_optional(pool)
            .await?;
        if let Some(user) = created {
            return Ok(user);
        }
    }
    unreachable!("the handle space is unbounded")
}

/// A handle from a login name or display name: `[a-z0-9-]`, 1 to 32 characters.
pub fn handle_from(text: &str) -> String {
    let mut handle = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            handle.push(c);
        } else if !handle.ends_with('-') && !handle.is_empty() {
            handle.push('-');
        }
        if handle.len() >= 32 {
            break;
        }
    }
    let handle = handle.trim_end_matches('-').to_owned();
    if handle.is_empty() {
        "user".to_owned()
    } else {
        handle
    }
}

/// Every user, for the dev login and the admin (small installations: at most `limit`).
pub async fn list(pool: &PgPool, limit: i64) -> Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY is_admin DESC, handle LIMIT $1");
    Ok(sqlx::query_as::<_, User>(&sql)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Grant (or revoke) the organizer role; `false` when no such user.
pub async fn set_organizer(pool: &PgPool, user_id: Uuid, on: bool) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET can_organize = $2 WHERE id = $1")
        .bind(user_id)
        .bind(on)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Make a user an administrator (or not); `false` when no such user.
pub async fn set_admin(pool: &PgPool, user_id: Uuid, on: bool) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET is_admin = $2 WHERE id = $1")
        .bind(user_id)
        .bind(on)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Change the profile fields a user edits on the account page.
pub async fn update_profile(
    pool: &PgPool,
    user_id: Uuid,
    display_name: &str,
    email: Option<&str>,
    orcid: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE users SET display_name = $2, email = $3, orcid = $4 WHERE id = $1")
        .bind(user_id)
        .bind(display_name)
        .bind(email)
        .bind(orcid)
        .execute(pool)
        .await?;
    Ok(())
}

/// The challenges a user organizes: (slug, title).
pub async fn organized_challenges(pool: &PgPool, user_id: Uuid) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT c.slug, c.title FROM challenge_organizers o JOIN challenges c ON c.id = o.challenge_id
         WHERE o.user_id = $1 ORDER BY c.title",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?)
}
