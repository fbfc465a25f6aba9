//! Security basics applied to every response and to submissions:
//!
//! - headers: a Content-Security-Policy that allows only our own scripts,
//!   styles and images (and forbids framing), `X-Frame-Options: DENY`,
//!   `Referrer-Policy`, `X-Content-Type-Options: nosniff`;
//! - `Strict-Transport-Security` when the public URL is https;
//! - rate limits (token buckets kept in memory by each server process),
//!   answered with 429 and `Retry-After`: submissions per user and per client
//!   address, and every other write and sign-in start per client address.
//!   They sit in front of the per-challenge daily quotas, which count in the
//!   database; these ones stop bursts before any work is done.
//!
//! The request timeout and the body limits are in [`crate::router`] and the
//! submission route; docs/SECURITY.md lists every limit and its test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::accounts::session::{SESSION_COOKIE, cookie_value};
use crate::{ApiError, AppState};

/// Our pages load scripts and styles from this origin only. Inline `style`
/// attributes are allowed (the resource bars of the submission page use them);
/// inline scripts are not (JSON-LD blocks are data, not scripts). Images may
/// also come over HTTPS: organizers' descriptions may show pictures.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; object-src 'none'; \
     base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
pub const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// HSTS for sites served over https: a year, subdomains included.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// Add the security headers to every response (unless a handler set its own),
/// and Strict-Transport-Security when the site is served over https.
pub async fn headers(State(hsts): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    let defaults: [(HeaderName, &'static str); 4] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, REFERRER_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in defaults {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// How many submissions a user and a client address may make in a burst, and
/// how fast the allowance refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Submissions allowed at once.
    pub burst: u32,
    /// Submissions added back per minute.
    pub per_minute: u32,
}

/// The request rate limits of a server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimits {
    /// Submissions per user (API token or browser session alike).
    pub submit_per_user: RateLimit,
    /// Submissions per client address.
    pub submit_per_ip: RateLimit,
    /// Every other write (POST, PUT, PATCH, DELETE) and every sign-in start
    /// (`GET /auth/{provider}/login`, which records a flow) per client address.
    pub write_per_ip: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        let per_minute = |n| RateLimit {
            burst: n,
            per_minute: n,
        };
        RateLimits {
            submit_per_user: per_minute(30),
            submit_per_ip: per_minute(120),
            write_per_ip: per_minute(300),
        }
    }
}

/// Token buckets by key, in memory.
#[derive(Debug)]
struct Buckets {
    limit: RateLimit,
    state: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Keys not seen for this long are dropped when the map is swept.
const IDLE: Duration = Duration::from_secs(600);

impl Buckets {
    fn new(limit: RateLimit) -> Self {
        Buckets {
            limit,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `key`; on refusal, the wait until one is back.
    fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(self.limit.burst.max(1));
        let per_second = f64::from(self.limit.per_minute.max(1)) / 60.0;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.len() > 10_000 {
            state.retain(|_, (_, seen)| now.duration_since(*seen) < IDLE);
        }
        let (tokens, seen) = state.entry(key.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*seen).as_secs_f64() * per_second).min(burst);
        *seen = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

/// The rate limiter shared by the requests of one server.
#[derive(Debug, Clone)]
pub struct Limiter {
    submit_users: Arc<Buckets>,
    submit_ips: Arc<Buckets>,
    write_ips: Arc<Buckets>,
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Self {
        Limiter {
            submit_users: Arc::new(Buckets::new(limits.submit_per_user)),
            submit_ips: Arc::new(Buckets::new(limits.submit_per_ip)),
            write_ips: Arc::new(Buckets::new(limits.write_per_ip)),
        }
    }
}

/// What a request does, for the rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A submission through the API.
    ApiSubmission,
    /// A submission through the challenge page's form.
    PageSubmission,
    /// Another write through the API.
    ApiWrite,
    /// Another write through a page's form, or a sign-in start.
    PageWrite,
}

impl Kind {
    fn of(request: &Request) -> Option<Kind> {
        let path = request.uri().path().trim_end_matches('/');
        let api = path.starts_with("/api/");
        let method = request.method();
        if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
            // A sign-in start writes a flow row: limited like a write.
            let sign_in = path.starts_with("/auth/") && path.ends_with("/login");
            return sign_in.then_some(Kind::PageWrite);
        }
        Some(match () {
            _ if method != Method::POST => {
                if api {
                    Kind::ApiWrite
                } else {
                    Kind::PageWrite
                }
            }
            _ if path.starts_with("/api/v1/challenges/") && path.ends_with("/submissions") => {
                Kind::ApiSubmission
            }
            _ if path.starts_with("/challenges/") && path.ends_with("/submit") => {
                Kind::PageSubmission
            }
            _ if api => Kind::ApiWrite,
            _ => Kind::PageWrite,
        })
    }

    fn is_submission(self) -> bool {
        matches!(self, Kind::ApiSubmission | Kind::PageSubmission)
    }

    fn is_api(self) -> bool {
        matches!(self, Kind::ApiSubmission | Kind::ApiWrite)
    }
}

/// The bearer token of a request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn too_many(kind: Kind, what: &str, wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let error = ApiError::TooManyRequests(format!(
        "too many {} from this {what}; try again in {seconds} s",
        if kind.is_submission() {
            "submissions"
        } else {
            "requests that change something"
        }
    ));
    let mut response = if kind.is_api() {
        error.into_response()
    } else {
        crate::pages::error_page(error)
    };
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Refuse writes, sign-in starts and submissions over their rates before the
/// body is read: per client address for all of them, per user as well for
/// submissions.
pub async fn limit_rates(
    State((state, limiter)): State<(AppState, Limiter)>,
    request: Request,
    next: Next,
) -> Response {
    let Some(kind) = Kind::of(&request) else {
        return next.run(request).await;
    };
    let now = Instant::now();
    // Only the socket's address counts: forwarded-for headers are the client's to forge.
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    if !kind.is_submission() {
        if let Err(wait) = limiter.write_ips.take(&ip, now) {
            return too_many(kind, "address", wait);
        }
        return next.run(request).await;
    }
    if let Err(wait) = limiter.submit_ips.take(&ip, now) {
        return too_many(kind, "address", wait);
    }
    // Unknown tokens and sessions pass through: the handler answers them (401, or
    // the sign-in page).
    let user = match kind {
        Kind::ApiSubmission => match bearer(request.headers()) {
            Some(secret) => db::users::authenticate(&state.pool, secret)
                .await
                .map(|found| found.map(|(user, _)| user.id)),
            None => Ok(None),
        },
        _ => match cookie_value(request.headers(), SESSION_COOKIE) {
            Some(secret) => db::sessions::get(&state.pool, secret)
                .await
                .map(|s| s.and_then(|s| s.user).map(|u| u.id)),
            None => Ok(None),
        },
    };
    match user {
        Ok(Some(id)) => {
            if let Err(wait) = limiter.submit_users.take(&id.to_string(), now) {
                return too_many(kind, "user", wait);
            }
        }
        Ok(None) => {}
        Err(e) => return ApiError::Database(e).into_response(),
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refuse_past_the_burst_and_refill() {
        let buckets = Buckets::new(RateLimit {
            burst: 3,
            per_minute: 60,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take("a", t0).is_ok());
        }
        let wait = buckets.take("a", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(buckets.take("b", t0).is_ok(), "keys are independent");
        assert!(buckets.take("a", t0 + Duration::from_secs(1)).is_ok());
        assert!(buckets.take("a", t0 + Duration::from_secs(1)).is_err());
    }
}
