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
    /// or s3://bucket/prefix (see the --s3-* settings; what they leave unset comes
    /// from the standard AWS_* variables). Default: file://DATA_DIR/store.
    #[arg(long, env = "ARENA_STORE_URL", global = true)]
    pub store_url: Option<String>,

    /// Endpoint of an S3-compatible server (MinIO, Ceph, moto...) for s3:// stores;
    /// AWS itself when unset.
    #[arg(long, env = "ARENA_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,

    /// Region of the S3 bucket (default: AWS_REGION, else us-east-1).
    #[arg(long, env = "ARENA_S3_REGION", global = true)]
    pub s3_region: Option<String>,

    /// S3 access key id (default: AWS_ACCESS_KEY_ID or the instance's role).
    #[arg(
        long,
        env = "ARENA_S3_ACCESS_KEY_ID",
        global = true,
        hide_env_values = true
    )]
    pub s3_access_key_id: Option<String>,

    /// S3 secret access key (default: AWS_SECRET_ACCESS_KEY); never printed.
    #[arg(
        long,
        env = "ARENA_S3_SECRET_ACCESS_KEY",
        global = true,
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,

    /// Allow plain HTTP to a non-loopback S3 endpoint (a private network such as
    /// docker-compose's); loopback endpoints may always use HTTP. The variable
    /// takes true/false, 1/0, yes/no, on/off.
    #[arg(
        long,
        env = "ARENA_S3_ALLOW_HTTP",
        global = true,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub s3_allow_http: bool,

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

    /// Seconds a client may take to send a request's headers before its
    /// connection is closed.
    #[arg(
        long,
        env = "ARENA_HEADER_TIMEOUT",
        default_value_t = 10,
        global = true
    )]
    pub header_timeout: u64,

    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "ARENA_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,

    /// Mark session cookies `Secure`. Default: on when the public URL is https
    /// (then every response also carries Strict-Transport-Security).
    #[arg(long, env = "ARENA_SECURE_COOKIES", global = true)]
    pub secure_cookies: Option<bool>,

    /// Longest one evaluation may run (seconds of wall clock); its child process
    /// is killed past it. A challenge may set less (`limits.eval_seconds`).
    #[arg(long, env = "ARENA_EVAL_SECONDS", default_value_t = 600, global = true)]
    pub eval_seconds: u64,

    /// Memory of one evaluation (MiB, the address-space limit of its child
    /// process). A challenge may set less (`limits.eval_memory_mib`).
    #[arg(
        long,
        env = "ARENA_EVAL_MEMORY_MIB",
        default_value_t = 2048,
        global = true
    )]
    pub eval_memory_mib: u64,

    /// Multiplications one evaluation may take (rows of the split times
    /// multiplications per sample). A challenge may set less (`limits.eval_work`).
    #[arg(
        long,
        env = "ARENA_EVAL_WORK",
        default_value_t = 100_000_000_000,
        global = true
    )]
    pub eval_work: u64,

    /// Simulator threads of one evaluation (default: the machine's cores).
    #[arg(long, env = "ARENA_EVAL_THREADS", global = true)]
    pub eval_threads: Option<u64>,

    /// Submissions per minute (and burst) per user.
    #[arg(
        long,
        env = "ARENA_SUBMIT_RATE_USER",
        default_value_t = 30,
        global = true
    )]
    pub submit_rate_user: u32,

    /// Submissions per minute (and burst) per client address.
    #[arg(
        long,
        env = "ARENA_SUBMIT_RATE_IP",
        default_value_t = 120,
        global = true
    )]
    pub submit_rate_ip: u32,

    /// Other writes (forms, API changes) and sign-in starts per minute (and
    /// burst) per client address.
    #[arg(
        long,
        env = "ARENA_WRITE_RATE_IP",
        default_value_t = 300,
        global = true
    )]
    pub write_rate_ip: u32,

    /// Dataset uploads processed at once by one server (more wait for a slot).
    #[arg(
        long,
        env = "ARENA_UPLOAD_CONCURRENCY",
        default_value_t = 2,
        global = true
    )]
    pub upload_concurrency: usize,

    /// The development login (sign in as any user, no password). Default: on for
    /// `arena up` on a loopback address, off otherwise; refused on a non-loopback bind.
    #[arg(long, env = "ARENA_DEV_LOGIN", global = true)]
    pub dev_login: Option<bool>,

    /// GitHub OAuth app: client id (sign-in with GitHub is offered when set).
    #[arg(long, env = "ARENA_GITHUB_CLIENT_ID", global = true)]
    pub github_client_id: Option<String>,
    /// GitHub OAuth app: client secret.
    #[arg(
        long,
        env = "ARENA_GITHUB_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub github_client_secret: Option<String>,

    /// ORCID public API client id (sign-in with ORCID is offered when set).
    #[arg(long, env = "ARENA_ORCID_CLIENT_ID", global = true)]
    pub orcid_client_id: Option<String>,
    /// ORCID client secret.
    #[arg(
        long,
        env = "ARENA_ORCID_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub orcid_client_secret: Option<String>,

    /// An OpenID Connect issuer: its discovery URL (.../.well-known/openid-configuration) or issuer URL.
    #[arg(long, env = "ARENA_OIDC_DISCOVERY_URL", global = true)]
    pub oidc_discovery_url: Option<String>,
    /// OpenID Connect client id.
    #[arg(long, env = "ARENA_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,
    /// OpenID Connect client secret.
    #[arg(
        long,
        env = "ARENA_OIDC_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub oidc_client_secret: Option<String>,
    /// What the OpenID Connect sign-in button says.
    #[arg(
        long,
        env = "ARENA_OIDC_NAME",
        default_value = "OpenID Connect",
        global = true
    )]
    pub oidc_name: String,
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

    /// The S3 settings for `s3://` stores.
    pub fn s3(&self) -> datasets::S3Settings {
        datasets::S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
            allow_http: self.s3_allow_http,
        }
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

    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout.max(1))
    }

    /// Whether cookies are `Secure` (and HSTS is sent): as set, else when the
    /// public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
            .unwrap_or_else(|| self.public_url().starts_with("https://"))
    }

    /// The site's limits of one evaluation.
    pub fn eval_limits(&self) -> worker::evaluate::admission::EvalLimits {
        let defaults = worker::evaluate::admission::EvalLimits::default();
        worker::evaluate::admission::EvalLimits {
            seconds: self.eval_seconds.max(1),
            memory_mib: self.eval_memory_mib.max(MIN_EVAL_MEMORY_MIB),
            work: self.eval_work.max(1),
            threads: self.eval_threads.unwrap_or(defaults.threads).max(1),
        }
    }

    /// The request rate limits of the server.
    pub fn rate_limits(&self) -> server::security::RateLimits {
        let per_minute = |n: u32| server::security::RateLimit {
            burst: n.max(1),
            per_minute: n.max(1),
        };
        server::security::RateLimits {
            submit_per_user: per_minute(self.submit_rate_user),
            submit_per_ip: per_minute(self.submit_rate_ip),
            write_per_ip: per_minute(self.write_rate_ip),
        }
    }

    /// Whether the development login is on: `up` turns it on by default on a
    /// loopback bind; asking for it on any other address is an error.
    pub fn dev_login_for(&self, command_up: bool) -> anyhow::Result<bool> {
        match (self.dev_login, command_up) {
            (Some(false), _) | (None, false) => Ok(false),
            (None, true) => Ok(self.bind.ip().is_loopback()),
            (Some(true), _) => server::accounts::dev_login_allowed(self.bind)
                .map(|()| true)
                .map_err(anyhow::Error::msg),
        }
    }

    /// The sign-in providers configured (id, label, client id, secret, kind).
    pub fn account_settings(&self, dev_login: bool) -> server::accounts::AccountSettings {
        use server::accounts::{Provider, ProviderKind};
        let mut providers = Vec::new();
        let secret = |s: &Option<String>| s.clone().unwrap_or_default();
        if let Some(id) = &self.github_client_id {
            providers.push(Provider::new(
                "github",
                "GitHub",
                id,
                &secret(&self.github_client_secret),
                ProviderKind::GitHub,
            ));
        }
        if let Some(id) = &self.orcid_client_id {
            providers.push(Provider::new(
                "orcid",
                "ORCID",
                id,
                &secret(&self.orcid_client_secret),
                ProviderKind::Orcid,
            ));
        }
        if let (Some(url), Some(id)) = (&self.oidc_discovery_url, &self.oidc_client_id) {
            let kind = ProviderKind::Oidc {
                discovery_url: url.clone(),
            };
            providers.push(Provider::new(
                "oidc",
                &self.oidc_name,
                id,
                &secret(&self.oidc_client_secret),
                kind,
            ));
        }
        server::accounts::AccountSettings {
            providers: providers.into_iter().map(std::sync::Arc::new).collect(),
            secure_cookies: self.secure_cookies(),
            dev_login,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent("fastml-arena")
                .build()
                .unwrap_or_default(),
        }
    }

    fn describe_providers(&self) -> String {
        let mut names = Vec::new();
        let mut add = |name: &str, id: &Option<String>, secret: &Option<String>| {
            if id.is_some() {
                let secret = if secret.is_some() {
                    "secret ***"
                } else {
                    "no secret"
                };
                names.push(format!("{name} ({secret})"));
            }
        };
        add("github", &self.github_client_id, &self.github_client_secret);
        add("orcid", &self.orcid_client_id, &self.orcid_client_secret);
        if self.oidc_discovery_url.is_some() {
            add("oidc", &self.oidc_client_id, &self.oidc_client_secret);
        }
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
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
        let mut lines = vec![
            ("data dir", self.data_dir().display().to_string()),
            ("database", database),
            ("store", redact_store(&self.store_url())),
        ];
        if self.store_url().starts_with("s3://") {
            lines.extend(self.describe_s3());
        }
        lines.extend([
            ("bind", self.bind.to_string()),
            ("public url", self.public_url()),
            ("workers", self.workers.to_string()),
            ("db pool", self.db_pool.to_string()),
            ("request timeout", format!("{} s", self.request_timeout)),
            ("header timeout", format!("{} s", self.header_timeout)),
            ("sign-in", self.describe_providers()),
            ("secure cookies", self.secure_cookies().to_string()),
            (
                "evaluation",
                format!(
                    "{} s, {} MiB, {} multiplications, {} threads",
                    self.eval_limits().seconds,
                    self.eval_limits().memory_mib,
                    self.eval_limits().work,
                    self.eval_limits().threads
                ),
            ),
            (
                "rate limits",
                format!(
                    "submissions {}/min per user, {}/min per address; writes {}/min per address",
                    self.submit_rate_user, self.submit_rate_ip, self.write_rate_ip
                ),
            ),
            ("uploads at once", self.upload_concurrency.to_string()),
        ]);
        lines
            .iter()
            .map(|(k, v)| format!("  {k:<16}{v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The S3 settings as printed: where a value comes from, the secret never shown.
    fn describe_s3(&self) -> Vec<(&'static str, String)> {
        let or_env = |value: &Option<String>, fallback: &str| {
            value
                .clone()
                .unwrap_or_else(|| format!("(from {fallback})"))
        };
        vec![
            (
                "s3 endpoint",
                or_env(&self.s3_endpoint, "AWS_ENDPOINT, else AWS"),
            ),
            ("s3 region", or_env(&self.s3_region, "AWS_REGION")),
            (
                "s3 access key",
                or_env(&self.s3_access_key_id, "AWS_ACCESS_KEY_ID"),
            ),
            (
                "s3 secret",
                match &self.s3_secret_access_key {
                    Some(_) => "***".to_owned(),
                    None => "(from AWS_SECRET_ACCESS_KEY)".to_owned(),
                },
            ),
            ("s3 allow http", self.s3_allow_http.to_string()),
        ]
    }
}

/// The least memory an evaluation child gets: the binary itself and its
/// runtime need about this much address space before any model is read.
const MIN_EVAL_MEMORY_MIB: u64 = 256;

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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn config(args: &[&str]) -> Config {
        let mut argv = vec!["arena"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("arguments parse").config
    }

    #[test]
    fn development_login_is_refused_on_a_public_bind() {
        let public = config(&["--bind", "0.0.0.0:8080", "--dev-login", "true"]);
        let error = public.dev_login_for(true).unwrap_err().to_string();
        assert!(error.contains("loopback"), "{error}");
        assert!(public.dev_login_for(false).is_err());
        // `up` on a public address without asking: off, not an error.
        let quiet = config(&["--bind", "0.0.0.0:8080"]);
        assert!(!quiet.dev_login_for(true).unwrap());
        // On loopback: on for `up`, off for `serve` unless asked.
        let local = config(&["--bind", "127.0.0.1:8080"]);
        assert!(local.dev_login_for(true).unwrap());
        assert!(!local.dev_login_for(false).unwrap());
        let ipv6 = config(&["--bind", "[::1]:8080", "--dev-login", "true"]);
        assert!(ipv6.dev_login_for(false).unwrap());
    }

    #[test]
    fn https_sites_get_secure_cookies_unless_told_otherwise() {
        assert!(!config(&[]).secure_cookies(), "http://127.0.0.1:8080");
        let https = config(&["--public-url", "https://arena.example"]);
        assert!(https.secure_cookies());
        assert!(https.account_settings(false).secure_cookies);
        let off = config(&[
            "--public-url",
            "https://arena.example",
            "--secure-cookies",
            "false",
        ]);
        assert!(!off.secure_cookies());
        assert!(config(&["--secure-cookies", "true"]).secure_cookies());
    }

    #[test]
    fn evaluation_limits_have_floors() {
        let tiny = config(&["--eval-memory-mib", "1", "--eval-seconds", "0"]);
        let limits = tiny.eval_limits();
        assert_eq!(limits.memory_mib, super::MIN_EVAL_MEMORY_MIB);
        assert_eq!(limits.seconds, 1);
    }

    #[test]
    fn secrets_are_not_described() {
        let c = config(&[
            "--oidc-discovery-url",
            "http://127.0.0.1:9/.well-known/openid-configuration",
            "--oidc-client-id",
            "arena",
            "--oidc-client-secret",
            "hunter2-secret",
            "--github-client-id",
            "gh",
            "--github-client-secret",
            "gh-secret-value",
        ]);
        let text = c.describe();
        assert!(
            !text.contains("hunter2") && !text.contains("gh-secret-value"),
            "{text}"
        );
        assert!(text.contains("oidc (secret ***)"), "{text}");
        assert_eq!(c.account_settings(false).providers.len(), 2);
    }

    #[test]
    fn s3_settings_come_from_flags_and_the_secret_is_not_described() {
        let c = config(&[
            "--store-url",
            "s3://bucket/prefix",
            "--s3-endpoint",
            "http://minio:9000",
            "--s3-access-key-id",
            "arena",
            "--s3-secret-access-key",
            "s3-secret-value",
            "--s3-allow-http",
        ]);
        let text = c.describe();
        assert!(!text.contains("s3-secret-value"), "{text}");
        assert!(text.contains("http://minio:9000"), "{text}");
        let s3 = c.s3();
        assert_eq!(s3.secret_access_key.as_deref(), Some("s3-secret-value"));
        assert!(s3.allow_http);
        // A file store does not list S3 settings at all.
        assert!(!config(&[]).describe().contains("s3 endpoint"));
    }
}
