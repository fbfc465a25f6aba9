//! The one error type of the `db` crate.

use std::path::PathBuf;

/// Everything that can go wrong while managing or talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The PostgreSQL server binaries (initdb, postgres) are not installed.
    #[error(
        "PostgreSQL server binaries not found (looked for `initdb` and `postgres` on PATH and under /usr/lib/postgresql/*/bin); install them with `apt-get install postgresql`, or set ARENA_DATABASE_URL to an existing server"
    )]
    BinariesMissing,

    /// The `postgres` system user is needed to run the server when we are root.
    #[error(
        "running as root, but there is no `postgres` system user to run the private cluster as; install the `postgresql` package (it creates the user) or set ARENA_DATABASE_URL"
    )]
    NoPostgresUser,

    /// A path the cluster needs cannot be reached by the user the server runs as.
    #[error("{path}: {reason}")]
    Path { path: PathBuf, reason: String },

    /// A PostgreSQL tool exited with an error.
    #[error("{tool} failed: {detail}")]
    Tool { tool: String, detail: String },

    /// The server did not accept connections in time.
    #[error("PostgreSQL did not become ready within {seconds} s; see its log at {log}")]
    StartTimeout { seconds: u64, log: PathBuf },

    /// The database could not be reached.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// The database schema is older than this binary.
    #[error(
        "the database schema is at migration {applied} but this binary needs {needed}; run `arena migrate` first"
    )]
    SchemaBehind { applied: i64, needed: i64 },

    /// Any other query error.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),

    /// Local file system errors (data directory, logs).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
