//! Which demo items `arena up` has already seeded.

use std::collections::HashSet;

use sqlx::PgPool;

use crate::Result;

/// Names of the items seeded so far.
pub async fn done(pool: &PgPool) -> Result<HashSet<String>> {
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM seeds")
        .fetch_all(pool)
        .await?;
    Ok(names.into_iter().collect())
}

/// Record an item as seeded (idempotent).
pub async fn mark(pool: &PgPool, name: &str) -> Result<()> {
    sqlx::query("INSERT INTO seeds (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}
