//! The authorization-code flow with PKCE (S256) and state.
//!
//! `/auth/{provider}/login` opens (or reuses) a session, records a flow under a
//! random state with a random PKCE verifier, and redirects to the provider.
//! `/auth/{provider}/callback` takes the flow of the returned state (once: a
//! state is deleted when used), checks it was started by this browser's
//! session, exchanges the code with the verifier, identifies the user, and
//! opens a new signed-in session.
//!
//! OpenID Connect ID tokens are not verified (that needs a JOSE library); the
//! user is identified through the userinfo endpoint with the access token
//! obtained over TLS directly from the token endpoint, which the spec allows.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::providers::{Identity, Provider};
use super::session::{Viewer, ensure_session, session_cookie, with_cookie};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Only paths of this site: anything that could leave it (another origin,
/// `//host`, a backslash, or a tab or newline that browsers strip, as in
/// `/\t/evil.example`) is replaced by `/`. The path is resolved against a
/// placeholder origin and kept only if it stays there, in its normalized form.
pub fn safe_return_to(path: Option<&str>) -> String {
    const HOME: &str = "/";
    let Some(path) = path else {
        return HOME.to_owned();
    };
    let plain = path.starts_with('/')
        && !path.starts_with("//")
        && !path
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
        && path.len() <= 2048;
    if !plain {
        return HOME.to_owned();
    }
    let Ok(base) = url::Url::parse("https://arena.invalid/") else {
        return HOME.to_owned();
    };
    match base.join(path) {
        Ok(resolved) if resolved.origin() == base.origin() => {
            let mut local = resolved.path().to_owned();
            if let Some(query) = resolved.query() {
                local.push('?');
                local.push_str(query);
            }
            if let Some(fragment) = resolved.fragment() {
                local.push('#');
                local.push_str(fragment);
            }
            local
        }
        _ => HOME.to_owned(),
    }
}

/// The S256 code challenge of a PKCE verifier (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn provider<'a>(state: &'a AppState, id: &str) -> Result<&'a std::sync::Arc<Provider>, ApiError> {
    state.settings.accounts.provider(id).ok_or_else(|| {
        let known: Vec<&str> = state
            .settings
            .accounts
            .providers
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        ApiError::NotFound(format!(
            "no sign-in provider `{id}`; this site offers: {}",
            if known.is_empty() {
                "none configured".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
}

fn redirect_uri(state: &AppState, provider: &Provider) -> String {
    format!(
        "{}/auth/{}/callback",
        state.settings.public_url.trim_end_matches('/'),
        provider.id
    )
}

pub async fn login(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let provider = provider(&state, &id)?;
    let endpoints = provider.endpoints(&state.settings.accounts.http).await?;
    let (session, new_cookie) = ensure_session(&state, &viewer).await?;
    let flow_state = db::sessions::random_secret();
    let verifier = db::sessions::random_secret();
    let return_to = safe_return_to(query.return_to.as_deref());
    db::sessions::start_flow(
        &state.pool,
        &flow_state,
        &session.id_hash,
        &provider.id,
        &verifier,
        &return_to,
    )
    .await?;
    let mut url = url::Url::parse(&endpoints.authorize).map_err(|e| {
        ApiError::Unavailable(format!(
            "{}: bad authorization endpoint: {e}",
            provider.label
        ))
    })?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &redirect_uri(&state, provider))
        .append_pair("scope", &endpoints.scope)
        .append_pair("state", &flow_state)
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    let response = (StatusCode::SEE_OTHER, [(LOCATION, url.to_string())]).into_response();
    Ok(match new_cookie {
        Some(cookie) => with_cookie(response, cookie),
        None => response,
    })
}

pub async fn callback(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    let provider = provider(&state, &id)?;
    if let Some(error) = &query.error {
        return Err(ApiError::BadRequest(format!(
            "{} refused the sign-in: {error}{}",
            provider.label,
            query
                .error_description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )));
    }
    let (Some(code), Some(flow_state)) = (&query.code, &query.state) else {
        return Err(ApiError::BadRequest(
            "the sign-in callback lacks `code` or `state`; start again from the sign-in page"
                .into(),
        ));
    };
    let flow = db::sessions::take_flow(&state.pool, flow_state)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "unknown, used or expired sign-in state (the `state` parameter does not match a sign-in started here); start again from the sign-in page".into(),
            )
        })?;
    if flow.provider != provider.id {
        return Err(ApiError::BadRequest(format!(
            "this sign-in was started with `{}`, not `{}`",
            flow.provider, provider.id
        )));
    }
    let same_browser = viewer
        .session
        .as_ref()
        .is_some_and(|s| s.id_hash == flow.session_hash);
    if !same_browser {
        return Err(ApiError::BadRequest(
            "this sign-in was started in another browser session; start again from the sign-in page".into(),
        ));
    }
    let token = exchange_code(&state, provider, code, &flow.pkce_verifier).await?;
    let identity = provider
        .identify(&state.settings.accounts.http, &token)
        .await?;
    let user_id = user_for(&state, provider, &identity).await?;
    let (secret, _) = db::sessions::sign_in(&state.pool, viewer.secret.as_deref(), user_id).await?;
    tracing::info!(provider = %provider.id, user = %user_id, "signed in");
    let response = (StatusCode::SEE_OTHER, [(LOCATION, flow.return_to)]).into_response();
    Ok(with_cookie(response, session_cookie(&state, &secret)))
}

/// POST the code and the PKCE verifier to the token endpoint.
async fn exchange_code(
    state: &AppState,
    provider: &Provider,
    code: &str,
    verifier: &str,
) -> Result<serde_json::Value, ApiError> {
    let http = &state.settings.accounts.http;
    let endpoints = provider.endpoints(http).await?;
    let redirect = redirect_uri(state, provider);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier),
        ("client_id", provider.client_id.as_str()),
    ];
    let mut request = http
        .post(&endpoints.token)
        .header(reqwest::header::ACCEPT, "application/json");
    if endpoints.basic_auth {
        request = request.basic_auth(&provider.client_id, Some(&provider.client_secret));
    } else {
        form.push(("client_secret", provider.client_secret.as_str()));
    }
    let response = request.form(&form).send().await.map_err(|e| {
        ApiError::Unavailable(format!(
            "{}: token endpoint unreachable: {e}",
            provider.label
        ))
    })?;
    let status = response.status();
    let what = format!("{}: token endpoint", provider.label);
    let body = super::providers::capped_json(response, &what)
        .await?
        .unwrap_or_default();
    // GitHub answers errors with 200 and an `error` field.
    if !status.is_success() || body.get("error").is_some() {
        let error = body["error"].as_str().unwrap_or("no error code");
        let detail = body["error_description"].as_str().unwrap_or("");
        return Err(ApiError::BadRequest(format!(
            "{} refused the authorization code ({status}: {error}{}); start again from the sign-in page",
            provider.label,
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        )));
    }
    Ok(body)
}

/// The user of an identity: known, or created with a handle from its login.
async fn user_for(
    state: &AppState,
    provider: &Provider,
    identity: &Identity,
) -> Result<uuid::Uuid, ApiError> {
    if let Some(user) =
        db::sessions::identity_user(&state.pool, &provider.id, &identity.subject).await?
    {
        return Ok(user);
    }
    let user = db::users::create_unique(
        &state.pool,
        &identity.login,
        &identity.name,
        identity.email.as_deref(),
        identity.orcid.as_deref(),
    )
    .await?;
    db::sessions::link_identity(
        &state.pool,
        &provider.id,
        &identity.subject,
        user.id,
        identity.email.as_deref(),
    )
    .await?;
    Ok(user.id)
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_urls_stay_on_the_site() {
        for (given, kept) in [
            (
                "/challenges/gw?phase=final#top",
                "/challenges/gw?phase=final#top",
            ),
            ("/a/../account", "/account"),
            ("/", "/"),
        ] {
            assert_eq!(safe_return_to(Some(given)), kept, "{given}");
        }
        for hostile in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\\evil.example",
            "/ /evil.example",
            "https://evil.example/",
            "evil.example",
            "/\u{0}/x",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_return_to(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
