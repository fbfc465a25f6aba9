//! Locks on content-addressed objects, so that removing an object no row names
//! cannot race an upload that is about to name it.
//!
//! An upload holds the shared lock of its digest from before it writes (or
//! finds) the object until its row is committed; the sweeper takes the
//! exclusive lock without waiting, checks that no row names the object, and
//! deletes it while holding the lock. They are PostgreSQL session-level advisory
//! locks on a connection of their own, so a process that dies releases them
//! with its connection.

use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::Postgres;

use crate::Result;

/// A held lock on one digest. [`ContentLock::release`] gives it back and
/// returns the connection to the pool; a lock dropped without `release` (an
/// error in between) closes its connection, which releases it on the server.
pub struct ContentLock {
    conn: PoolConnection<Postgres>,
    key: i64,
    shared: bool,
    released: bool,
}

/// The advisory-lock key of a hex sha256 digest: its first 64 bits.
fn key_of(sha256: &str) -> i64 {
    let prefix = sha256.get(..16).unwrap_or(sha256);
    u64::from_str_radix(prefix, 16).unwrap_or_else(|_| {
        // Not hex: any stable mixing of the bytes will do.
        sha256.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    }) as i64
}

/// Wait for the shared lock of `sha256` (many uploads may hold it at once).
pub async fn shared(pool: &PgPool, sha256: &str) -> Result<ContentLock> {
    let mut conn = pool.acquire().await?;
    let key = key_of(sha256);
    sqlx::query("SELECT pg_advisory_lock_shared($1)")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(ContentLock {
        conn,
        key,
        shared: true,
        released: false,
    })
}

/// The exclusive lock of `sha256`, or `None` at once when someone holds it.
pub async fn try_exclusive(pool: &PgPool, sha256: &str) -> Result<Option<ContentLock>> {
    let mut conn = pool.acquire().await?;
    let key = key_of(sha256);
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    Ok(taken.then_some(ContentLock {
        conn,
        key,
        shared: false,
        released: false,
    }))
}

impl ContentLock {
    /// The connection holding the lock, for the work done under it.
    pub fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.conn
    }

    pub async fn release(mut self) -> Result<()> {
        let sql = if self.shared {
            "SELECT pg_advisory_unlock_shared($1)"
        } else {
            "SELECT pg_advisory_unlock($1)"
        };
        sqlx::query(sql)
            .bind(self.key)
            .execute(&mut *self.conn)
            .await?;
        self.released = true;
        Ok(())
    }
}

impl Drop for ContentLock {
    fn drop(&mut self) {
        // A held lock must not go back to the pool with its connection.
        if !self.released {
            self.conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key_of;

    #[test]
    fn keys_come_from_the_digest() {
        let a = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        assert_eq!(key_of(a), 0x2cf24dba5fb0a30e_u64 as i64);
        assert_ne!(key_of("not hex"), key_of("not hex either"));
    }
}
