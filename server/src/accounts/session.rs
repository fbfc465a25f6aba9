//! The browser side of a session: the cookie, the [`Viewer`] extractor, and
//! the CSRF check (a synchronizer token stored with the session and echoed by
//! every form).

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use db::sessions::Session;
use db::users::User;

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "arena_session";

/// Who looks at a page: the session from the cookie, if it is live.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The cookie secret (only kept to end or replace the session).
    pub secret: Option<String>,
    pub session: Option<Session>,
}

impl Viewer {
    pub fn user(&self) -> Option<&User> {
        self.session.as_ref().and_then(|s| s.user.as_ref())
    }

    /// The CSRF token forms must echo (empty without a session: such forms are refused).
    pub fn csrf(&self) -> &str {
        self.session
            .as_ref()
            .map(|s| s.csrf_token.as_str())
            .unwrap_or("")
    }

    /// A signed-in browser acts with every scope; pages check roles themselves.
    pub fn caller(&self) -> Caller {
        let user = self.user().cloned();
        let scopes = user
            .as_ref()
            .map(|u| u.held_scopes().iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        Caller { user, scopes }
    }

    /// Refuse a form whose token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), ApiError> {
        let expected = self.csrf();
        if expected.is_empty() || !constant_time_eq(expected.as_bytes(), sent.as_bytes()) {
            return Err(ApiError::Forbidden(
                "the form's security token is missing or stale (CSRF check); reload the page and send it again".into(),
            ));
        }
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(secret) = cookie_value(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Ok(Viewer::default());
        };
        let session = db::sessions::get(&state.pool, &secret).await?;
        Ok(Viewer {
            secret: session.as_ref().map(|_| secret),
            session,
        })
    }
}

/// `Set-Cookie` for a session secret: HttpOnly, SameSite=Lax, Secure behind TLS.
pub fn session_cookie(state: &AppState, secret: &str) -> HeaderValue {
    let max_age = db::sessions::SESSION_DAYS * 24 * 3600;
    cookie(
        state,
        &format!("{SESSION_COOKIE}={secret}; Max-Age={max_age}"),
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    cookie(state, &format!("{SESSION_COOKIE}=; Max-Age=0"))
}

fn cookie(state: &AppState, head: &str) -> HeaderValue {
    let secure = if state.settings.accounts.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!("{head}; Path=/; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Attach a `Set-Cookie` header to a response.
pub fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// The viewer's session, opening an anonymous one when there is none; the
/// second value is the cookie to set for a new session.
pub async fn ensure_session(
    state: &AppState,
    viewer: &Viewer,
) -> Result<(Session, Option<HeaderValue>), ApiError> {
    if let Some(session) = &viewer.session {
        return Ok((session.clone(), None));
    }
    let (secret, session) = db::sessions::create(&state.pool, None).await?;
    Ok((session, Some(session_cookie(state, &secret))))
}
