//! Who is calling: an API token (`Authorization: Bearer arena_...`) resolved to
//! a user and the token's scopes. Anonymous callers get `Caller::anonymous()`.
//!
//! A browser session cookie also identifies the caller, for reads only (GET and
//! HEAD, with the `read` scope): pages poll the API with it. Writes through the
//! API need a token; writes from the browser go through the pages' forms, which
//! carry a CSRF token.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use db::users::User;

use crate::{ApiError, AppState};

/// The caller of a request.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user: Option<User>,
    pub scopes: Vec<String>,
}

impl Caller {
    pub fn anonymous() -> Self {
        Caller::default()
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The signed-in user whose credential carries `scope`, or 401/403.
    /// Admins too act only within their token's scopes: a `read` token of
    /// an admin reads.
    pub fn require(&self, scope: &str) -> Result<&User, ApiError> {
        let user = self.user.as_ref().ok_or_else(|| {
            ApiError::Unauthorized(
                "sign in or send an API token (Authorization: Bearer ...)".into(),
            )
        })?;
        if self.has_scope(scope) {
            return Ok(user);
        }
        Err(ApiError::Forbidden(if user.holds(scope) {
            format!("this token lacks the `{scope}` scope")
        } else if scope == "organize" {
            format!(
                "`{}` does not hold the organizer role; an admin grants it (`arena user grant --organizer {}`)",
                user.handle, user.handle
            )
        } else {
            format!("`{}` does not hold the `{scope}` scope", user.handle)
        }))
    }

    /// The user, when they act as an admin: an admin whose credential
    /// carries `scope`.
    pub fn admin_with(&self, scope: &str) -> Option<&User> {
        self.user
            .as_ref()
            .filter(|u| u.is_admin && self.has_scope(scope))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return session_caller(parts, state).await;
        };
        let secret = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        match db::users::authenticate(&state.pool, secret).await? {
            Some((user, scopes)) => Ok(Caller {
                user: Some(user),
                scopes,
            }),
            None => Err(ApiError::Unauthorized(
                "unknown or revoked API token".into(),
            )),
        }
    }
}

/// The signed-in user of a session cookie, for safe methods only.
async fn session_caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let safe = parts.method == Method::GET || parts.method == Method::HEAD;
    let cookie =
        crate::accounts::session::cookie_value(&parts.headers, crate::accounts::SESSION_COOKIE);
    let (true, Some(secret)) = (safe, cookie) else {
        return Ok(Caller::anonymous());
    };
    let user = db::sessions::get(&state.pool, secret)
        .await?
        .and_then(|s| s.user);
    Ok(match user {
        Some(user) => Caller {
            user: Some(user),
            scopes: vec!["read".to_owned()],
        },
        None => Caller::anonymous(),
    })
}
