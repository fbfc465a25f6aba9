//! Observability: `GET /metrics` in the Prometheus text format, a request id and
//! a tracing span per request, and an object-store wrapper that counts
//! operations and errors.
//!
//! What `/metrics` reports:
//! - this process's own families ([`db::metrics::Metrics`]): HTTP latency by
//!   route, object-store operations and errors, and — when workers run in this
//!   process (`arena up`) — job and step durations and heartbeats;
//! - the queue as the database sees it, read at scrape time: jobs by status and
//!   the worker slots holding leases with the age of their last heartbeat. Every
//!   server replica reports the same queue figures.
//!
//! `arena worker --metrics-addr` serves the process families alone
//! ([`serve_process_metrics`]).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::AppState;

/// The header that carries the request id, in and out.
pub const REQUEST_ID: &str = "x-request-id";
/// Longest request id accepted from a client (or a proxy in front of us).
const MAX_REQUEST_ID: usize = 64;

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    db::metrics::global().render(&mut out);
    render_queue(&state, &mut out).await;
    ([(header::CONTENT_TYPE, TEXT_FORMAT)], out).into_response()
}

/// The queue figures from the database; when it cannot be read,
/// `arena_database_up 0` says so and the process families are still served.
async fn render_queue(state: &AppState, out: &mut String) {
    use std::fmt::Write;
    let depth = db::metrics::queue_depth(&state.pool).await;
    let leases = db::metrics::worker_leases(&state.pool).await;
    let up = depth.is_ok() && leases.is_ok();
    let _ = writeln!(
        out,
        "# HELP arena_database_up Whether this scrape could read the queue from PostgreSQL.\n\
         # TYPE arena_database_up gauge\narena_database_up {}",
        u8::from(up)
    );
    if let Ok(depth) = depth {
        let _ = writeln!(
            out,
            "# HELP arena_jobs Jobs in the queue by status.\n# TYPE arena_jobs gauge"
        );
        for (status, count) in depth {
            let labels = db::metrics::label_text(&["status"], &[status]);
            let _ = writeln!(out, "arena_jobs{{{labels}}} {count}");
        }
    }
    if let Ok(leases) = leases {
        let _ = writeln!(
            out,
            "# HELP arena_worker_running_jobs Running jobs per worker slot holding a lease.\n\
             # TYPE arena_worker_running_jobs gauge"
        );
        for lease in &leases {
            let labels = db::metrics::label_text(&["worker"], std::slice::from_ref(&lease.worker));
            let _ = writeln!(
                out,
                "arena_worker_running_jobs{{{labels}}} {}",
                lease.running
            );
        }
        let _ = writeln!(
            out,
            "# HELP arena_worker_heartbeat_age_seconds Seconds since each leasing worker slot last renewed its lease.\n\
             # TYPE arena_worker_heartbeat_age_seconds gauge"
        );
        for lease in &leases {
            let labels = db::metrics::label_text(&["worker"], std::slice::from_ref(&lease.worker));
            let _ = writeln!(
                out,
                "arena_worker_heartbeat_age_seconds{{{labels}}} {}",
                db::metrics::number(lease.heartbeat_age_seconds)
            );
        }
    }
}

/// Middleware: give the request an id (the client's `x-request-id` when it is
/// short and plain, else a new UUID), run it in a span carrying the id, time it
/// into the latency histogram under its matched route, and echo the id.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // The pattern (`/api/v1/submissions/{id}`), never the raw path: one series per route.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    let span = tracing::info_span!("request", request_id = %request_id, method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status();
    db::metrics::global()
        .http_request_seconds
        .observe(&[&route, method, status.as_str()], seconds);
    // The access log: failures at `warn`, the rest at `debug` (enable it with
    // ARENA_LOG=info,server::observability=debug); each line carries the span's request id.
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), seconds, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), seconds, "request done");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

fn acceptable_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Methods as a closed set, so a client cannot mint series with invented methods.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Serve this process's metrics (no queue figures) at `/metrics`, and `/healthz`,
/// until `shutdown`; for `arena worker --metrics-addr`.
pub async fn serve_process_metrics(
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|| async {
                let mut out = String::new();
                db::metrics::global().render(&mut out);
                ([(header::CONTENT_TYPE, TEXT_FORMAT)], out)
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    let header_timeout = crate::Settings::default().header_timeout;
    crate::serve_router(listener, app, header_timeout, shutdown).await
}

/// Wrap a store so that its operations and failures are counted
/// (`arena_store_operations_total`, `arena_store_errors_total`).
pub fn instrument_store(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
    Arc::new(CountingStore { inner })
}

#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn ObjectStore>,
}

impl std::fmt::Display for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

/// Count one operation and, unless the answer is an expected one (absent
/// object, failed precondition), its failure.
fn count<T>(operation: &str, result: object_store::Result<T>) -> object_store::Result<T> {
    let metrics = db::metrics::global();
    metrics.store_operations.inc(&[operation]);
    if let Err(error) = &result
        && !expected(error)
    {
        metrics.store_errors.inc(&[operation]);
        tracing::warn!(operation, error = %error, "object store operation failed");
    }
    result
}

fn expected(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::NotFound { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotModified { .. }
    )
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        count("put", self.inner.put_opts(location, payload, opts).await)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        count(
            "put_multipart",
            self.inner.put_multipart_opts(location, opts).await,
        )
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let operation = if options.head { "head" } else { "get" };
        count(operation, self.inner.get_opts(location, options).await)
    }

    async fn get_range(
        &self,
        location: &Path,
        range: std::ops::Range<u64>,
    ) -> object_store::Result<bytes::Bytes> {
        count("get_range", self.inner.get_range(location, range).await)
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        count("get_range", self.inner.get_ranges(location, ranges).await)
    }

    async fn head(&self, location: &Path) -> object_store::Result<ObjectMeta> {
        count("head", self.inner.head(location).await)
    }

    async fn delete(&self, location: &Path) -> object_store::Result<()> {
        count("delete", self.inner.delete(location).await)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        db::metrics::global().store_operations.inc(&["list"]);
        self.inner
            .list(prefix)
            .map(|item| {
                if let Err(error) = &item
                    && !expected(error)
                {
                    db::metrics::global().store_errors.inc(&["list"]);
                }
                item
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        count("list", self.inner.list_with_delimiter(prefix).await)
    }

    async fn copy(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        count("copy", self.inner.copy(from, to).await)
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        count("copy", self.inner.copy_if_not_exists(from, to).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_from_clients_are_short_and_plain() {
        assert!(acceptable_request_id("3f2a-b_c.d:e"));
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id(&"a".repeat(65)));
        assert!(!acceptable_request_id("a b"));
        assert!(!acceptable_request_id("a\"b"));
    }

    #[tokio::test]
    async fn the_store_wrapper_counts_failures_but_not_absent_objects() {
        let store = instrument_store(Arc::new(object_store::memory::InMemory::new()));
        let metrics = db::metrics::global();
        let heads = metrics.store_operations.value(&["head"]);
        let errors = metrics.store_errors.value(&["head"]);
        assert!(store.head(&Path::from("absent")).await.is_err());
        assert_eq!(metrics.store_operations.value(&["head"]), heads + 1.0);
        assert_eq!(
            metrics.store_errors.value(&["head"]),
            errors,
            "not found is no error"
        );

        // A local store rooted at a regular file: writing below it fails for real.
        let file = std::env::temp_dir().join(format!("arena-store-file-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        let broken = object_store::local::LocalFileSystem::new_with_prefix(&file).unwrap();
        let store = instrument_store(Arc::new(broken));
        let before = metrics.store_errors.value(&["put"]);
        let put = store
            .put(&Path::from("a/b"), PutPayload::from_static(b"y"))
            .await;
        assert!(put.is_err());
        assert_eq!(metrics.store_errors.value(&["put"]), before + 1.0);
        let _ = std::fs::remove_file(file);
    }
}
