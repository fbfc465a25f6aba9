//! The HTTP application: JSON API under `/api/v1`, pages, health probes.
//!
//! [`router`] builds the whole application from an [`AppState`]; tests drive the
//! same router as production.

pub mod accounts;
mod api;
pub mod auth;
pub mod cache;
pub mod error;
mod health;
pub mod leaderboard;
pub mod maintenance;
pub mod observability;
pub mod ops;
mod pages;
pub mod pareto;
pub mod security;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use object_store::ObjectStore;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

pub use error::{ApiError, ApiResult};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub store: Arc<dyn ObjectStore>,
    pub settings: Arc<Settings>,
}

/// Server settings taken from the one configuration of the binary.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The URL users reach the site at, for links in metadata.
    pub public_url: String,
    /// Longest time a request may take before it is answered with 408.
    pub request_timeout: Duration,
    /// Sign-in providers, cookie policy, development login.
    pub accounts: accounts::AccountSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: "http://127.0.0.1:8080".to_owned(),
            request_timeout: Duration::from_secs(30),
            accounts: accounts::AccountSettings::default(),
        }
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings.request_timeout;
    Router::new()
        .merge(health::routes())
        .merge(observability::routes())
        .merge(api::routes())
        .merge(pages::routes())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), security::SubmissionLimiter::from_env()),
            security::limit_submissions,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn(security::headers))
        .layer(axum::middleware::from_fn(observability::track))
        .with_state(state)
}

/// Serve on `listener` until `shutdown` is cancelled; in-flight requests then finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tokio::spawn(maintenance::run(state.clone(), shutdown.clone()));
    tokio::spawn(cache::listen(state.pool.clone(), shutdown.clone()));
    // The peer address feeds the per-IP submission rate limit.
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
