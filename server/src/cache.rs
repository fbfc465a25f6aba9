//! A cache of public leaderboard JSON, keyed by the challenge's results
//! version. A leaderboard is read far more often than it changes, and
//! building one takes several queries and a ranking; the version is one
//! small query ([`db::challenges::results_version`]) that changes with any
//! submission, definition or publication of the challenge. So a cached board
//! is served only while the version is the same, and never older than
//! [`MAX_AGE`] (the default phase depends on the clock). Boards of hidden,
//! unpublished phases are never cached: what an organizer sees must not reach
//! anyone else.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Longest time a cached board is served even if its version did not change.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// Boards kept at most (the map is cleared when full).
const CAPACITY: usize = 4096;

/// (database, challenge slug, requested phase or "" for the default one).
pub type Key = (String, String, String);

struct Entry {
    at: Instant,
    version: String,
    body: Bytes,
}

fn entries() -> &'static Mutex<HashMap<Key, Entry>> {
    static ENTRIES: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();
    ENTRIES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The cache key of a board. The database name keeps apart the boards of
/// several applications in one process (tests).
pub fn key(pool: &sqlx::PgPool, slug: &str, phase: Option<&str>) -> Key {
    let database = pool
        .connect_options()
        .get_database()
        .unwrap_or_default()
        .to_owned();
    (
        database,
        slug.to_owned(),
        phase.unwrap_or_default().to_owned(),
    )
}

/// The cached JSON of a board, if built at this results version and recently.
pub fn get(key: &Key, version: &str) -> Option<Bytes> {
    let entries = entries().lock().unwrap_or_else(|e| e.into_inner());
    entries
        .get(key)
        .filter(|e| e.version == version && e.at.elapsed() < MAX_AGE)
        .map(|e| e.body.clone())
}

/// Keep the JSON of a public board built at `version`.
pub fn put(key: Key, version: String, body: Bytes) {
    let mut entries = entries().lock().unwrap_or_else(|e| e.into_inner());
    if entries.len() >= CAPACITY {
        entries.clear();
    }
    let entry = Entry {
        at: Instant::now(),
        version,
        body,
    };
    entries.insert(key, entry);
}
