//! The one configuration of `arena`: every setting is a flag with an `ARENA_*`
//! environment variable, and is printed (without secrets) when a command starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Where the private PostgreSQL cluster, the local object store and logs live.
    #[arg(long, env = "ARENA_DATA_DIR", default_value = ".arena", global = true)]
    pub data_dir: PathBuf,

    /// PostgreSQL to use. When unset, a private cluster under the data directory is
    /// created (first run) or reused, and stopped on exit.
    #[arg(
        long,
        env = "ARENA_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Port of the private cluster (default: a free loopback port at each start).
    #[arg(long, env = "ARENA_PG_PORT", global = true)]
    pub pg_port: Option<u16>,

    /// Object store for datasets, models and reports: file:///abs/dir, memory://,
    /// or s3://bucket/prefix (credentials from AWS_* variables, endpoint from
    /// ARENA_S3_ENDPOINT). Default: file://DATA_DIR/store.
    #[arg(long, env = "ARENA_STORE_URL", global = true)]
    pub store_url: Option<String>,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "ARENA_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Public base URL of the site (links in metadata); default http://BIND.
    #[arg(long, env = "ARENA_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Job slots per worker process (`arena worker`) or in-process workers (`arena up`).
    #[arg(long, env = "ARENA_WORKERS", default_value_t = 2, global = true)]
    pub workers: usize,

    /// Database connections per process.
    #[arg(long, env = "ARENA_DB_POOL", default_value_t = 16, global = true)]
    pub db_pool: u32,

    /// Seconds a request may take before it is answered with 408.
    #[arg(
        long,
        env = "ARENA_REQUEST_TIMEOUT",
        default_value_t = 30,
        global = true
    )]
    pub request_timeout: u64,

    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "ARENA_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The data directory as an absolute path.
    pub fn data_dir(&self) -> PathBuf {
        absolute(&self.data_dir)
    }

    pub fn store_url(&self) -> String {
        self.store_url
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.data_dir().join("store").display()))
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}", self.bind))
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout.max(1))
    }

    /// One line per setting, secrets redacted.
    pub fn describe(&self) -> String {
        let database = match &self.database_url {
            Some(url) => db::redact_url(url),
            None => format!(
                "private cluster in {}",
                self.data_dir().join("postgres").display()
            ),
        };
        [
            ("data dir", self.data_dir().display().to_string()),
            ("database", database),
            ("store", redact_store(&self.store_url())),
            ("bind", self.bind.to_string()),
            ("public url", self.public_url()),
            ("workers", self.workers.to_string()),
            ("db pool", self.db_pool.to_string()),
            ("request timeout", format!("{} s", self.request_timeout)),
        ]
        .iter()
        .map(|(k, v)| format!("  {k:<16}{v}"))
        .collect::<Vec<_>>()
        .join("\n")
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_owned())
    }
}

/// Store URLs carry no secrets today (S3 credentials come from the environment),
/// but a user may paste one with user info: never print it.
fn redact_store(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
