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
use axum::extract::ConnectInfo;
use object_store::ObjectStore;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
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
    /// Longest time a client may take to send a request's headers; the
    /// connection is closed after it (slow-header clients hold no task).
    pub header_timeout: Duration,
    /// Sign-in providers, cookie policy, development login.
    pub accounts: accounts::AccountSettings,
    /// The site's limits of one evaluation, checked at upload.
    pub evaluation: worker::evaluate::admission::EvalLimits,
    /// Request rate limits (submissions, other writes, sign-in starts).
    pub rate_limits: security::RateLimits,
    /// Send Strict-Transport-Security (the public URL is https).
    pub hsts: bool,
    /// Dataset uploads processed at once; the others are refused with 503.
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Rows, columns and decoded bytes one dataset upload may hold (its
    /// deadline is the request timeout).
    pub ingest: datasets::IngestLimits,
}

/// Dataset uploads one server processes at once by default.
pub const UPLOAD_CONCURRENCY: usize = 2;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: "http://127.0.0.1:8080".to_owned(),
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            accounts: accounts::AccountSettings::default(),
            evaluation: worker::evaluate::admission::EvalLimits::default(),
            rate_limits: security::RateLimits::default(),
            hsts: false,
            uploads: Arc::new(tokio::sync::Semaphore::new(UPLOAD_CONCURRENCY)),
            ingest: datasets::IngestLimits::default(),
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
            (
                state.clone(),
                security::Limiter::new(state.settings.rate_limits),
            ),
            security::limit_rates,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.settings.hsts,
            security::headers,
        ))
        .layer(axum::middleware::from_fn(observability::track))
        .with_state(state)
}

/// Serve the application on `listener` (see [`serve_router`]), with the
/// maintenance loop and the leaderboard notifications beside it.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tokio::spawn(maintenance::run(state.clone(), shutdown.clone()));
    tokio::spawn(cache::listen(state.pool.clone(), shutdown.clone()));
    let header_timeout = state.settings.header_timeout;
    serve_router(listener, router(state), header_timeout, shutdown).await
}

/// Serve `app` on `listener` until `shutdown` is cancelled, closing HTTP/1
/// connections whose headers take longer than `header_timeout`; in-flight
/// requests then finish. Each request carries the peer's `ConnectInfo`.
///
/// The connection loop is ours rather than `axum::serve`'s, which never
/// gives hyper the timer its header read timeout needs.
pub async fn serve_router(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // Every connection task holds a receiver; `closed()` resolves when the last one ends.
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors or a connection reset before
                    // accept: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let open = open_rx.clone();
        let stop = shutdown.clone();
        // The peer address feeds the per-IP submission rate limit.
        let service =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req.map(axum::body::Body::new)
                });
        tokio::spawn(async move {
            serve_connection(stream, service, header_timeout, stop).await;
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// One connection, HTTP/1 or HTTP/2, until it ends or `stop` asks it to
/// finish its in-flight requests and close.
async fn serve_connection<S>(
    stream: tokio::net::TcpStream,
    service: S,
    header_timeout: Duration,
    stop: CancellationToken,
) where
    S: tower::Service<
            axum::http::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let io = TokioIo::new(stream);
    let hyper_service = hyper_util::service::TowerToHyperService::new(service);
    let conn = builder.serve_connection_with_upgrades(io, hyper_service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
