//! A cache of public leaderboard JSON, keyed by the challenge's results
//! version. A leaderboard is read far more often than it changes, and
//! building one takes several queries and a ranking; the version is one
//! small query ([`db::challenges::results_version`]) that changes with any
//! submission, definition or publication of the challenge. So a cached board
//! is served only while the version is the same, and never older than
//! [`MAX_AGE`] (the default phase depends on the clock). Boards of hidden,
//! unpublished phases are never cached: what an organizer sees must not reach
//! anyone else.
//!
//! A server that listens to the database's `arena_results` notifications
//! ([`listen`]; every change of a submission, publication or challenge sends
//! one, by trigger) skips even the version query: a board built at the current
//! notification generation is served as is. While the listening connection is
//! down, boards are checked against the version again, and a reconnect starts
//! a new generation (notifications may have been missed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

/// Longest time a cached board is served even if its version did not change.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// Boards kept at most (the map is cleared when full).
const CAPACITY: usize = 4096;

/// (database, challenge slug, requested phase or "" for the default one).
pub type Key = (String, String, String);

struct Entry {
    at: Instant,
    version: String,
    /// The notification generation of its database when the build began.
    generation: u64,
    body: Bytes,
}

/// What the listener of one database knows.
#[derive(Default)]
pub struct Notifications {
    /// Listening now, and the generation below counts every change since.
    live: AtomicBool,
    generation: AtomicU64,
}

impl Notifications {
    /// Whether the database's notifications are being heard now.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// The generation to record with a board about to be built.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The notification state of a database (by name), created on first use.
pub fn notifications(database: &str) -> Arc<Notifications> {
    static STATES: OnceLock<Mutex<HashMap<String, Arc<Notifications>>>> = OnceLock::new();
    let mut states = STATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    states.entry(database.to_owned()).or_default().clone()
}

/// The channel the database's triggers notify (migration `results_notify`).
pub const CHANNEL: &str = "arena_results";

/// Listen to [`CHANNEL`] until `shutdown`, reconnecting after a lost
/// connection (one attempt a second).
pub async fn listen(pool: sqlx::PgPool, shutdown: CancellationToken) {
    let database = database_of(&pool);
    let state = notifications(&database);
    while !shutdown.is_cancelled() {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "leaderboard notifications: cannot connect");
                wait_or_stop(&shutdown, Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "leaderboard notifications: LISTEN failed");
            wait_or_stop(&shutdown, Duration::from_secs(1)).await;
            continue;
        }
        // Boards built before now may have missed a change.
        state.changed();
        state.live.store(true, Ordering::Release);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => state.changed(),
                    // The connection was lost: check versions until listening again.
                    Ok(None) | Err(_) => break,
                },
            }
        }
        state.live.store(false, Ordering::Release);
        state.changed();
    }
}

async fn wait_or_stop(shutdown: &CancellationToken, pause: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(pause) => {}
    }
}

fn database_of(pool: &sqlx::PgPool) -> String {
    pool.connect_options()
        .get_database()
        .unwrap_or_default()
        .to_owned()
}

fn entries() -> &'static Mutex<HashMap<Key, Entry>> {
    static ENTRIES: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();
    ENTRIES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The cache key of a board. The database name keeps apart the boards of
/// several applications in one process (tests).
pub fn key(pool: &sqlx::PgPool, slug: &str, phase: Option<&str>) -> Key {
    (
        database_of(pool),
        slug.to_owned(),
        phase.unwrap_or_default().to_owned(),
    )
}

/// The cached JSON of a board, without asking the database: only while its
/// database's notifications are heard and no change came since the build.
pub fn get_notified(key: &Key) -> Option<Bytes> {
    let state = notifications(&key.0);
    if !state.live.load(Ordering::Acquire) {
        return None;
    }
    let generation = state.generation();
    let entries = entries().lock().unwrap_or_else(|e| e.into_inner());
    entries
        .get(key)
        .filter(|e| e.generation == generation && e.at.elapsed() < MAX_AGE)
        .map(|e| e.body.clone())
}

/// The cached JSON of a board, if built at this results version and recently.
/// A hit is also current as of notification `generation` (taken before the
/// version was read), which the entry then records.
pub fn get(key: &Key, version: &str, generation: u64) -> Option<Bytes> {
    let mut entries = entries().lock().unwrap_or_else(|e| e.into_inner());
    let entry = entries
        .get_mut(key)
        .filter(|e| e.version == version && e.at.elapsed() < MAX_AGE)?;
    entry.generation = entry.generation.max(generation);
    Some(entry.body.clone())
}

/// Keep the JSON of a public board built at `version`, whose build began at
/// notification `generation`.
pub fn put(key: Key, version: String, generation: u64, body: Bytes) {
    let mut entries = entries().lock().unwrap_or_else(|e| e.into_inner());
    if entries.len() >= CAPACITY {
        entries.clear();
    }
    let entry = Entry {
        at: Instant::now(),
        version,
        generation,
        body,
    };
    entries.insert(key, entry);
}
