//! Signing in and out, the development login, and the account page (profile,
//! API tokens: create — shown once —, list, revoke).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    OrPage, PageError, check_form, chrome, render, render_status, require_user, see_other, when,
};
use crate::accounts::Viewer;
use crate::accounts::oauth::safe_return_to;
use crate::accounts::session::{clear_cookie, ensure_session, session_cookie, with_cookie};
use crate::{ApiError, AppState};

/// Users offered by the development login.
const DEV_LOGIN_USERS: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ReturnTo>,
) -> Result<Response, PageError> {
    let accounts = &state.settings.accounts;
    // The development login form needs a CSRF token, hence a session; the
    // provider buttons are plain links and open one only when followed.
    let (viewer, cookie) = if accounts.dev_login {
        let (session, cookie) = ensure_session(&state, &viewer).await.or_page(&viewer)?;
        let viewer = Viewer {
            session: Some(session),
            ..viewer
        };
        (viewer, cookie)
    } else {
        (viewer, None)
    };
    let dev_users = if accounts.dev_login {
        db::users::list(&state.pool, DEV_LOGIN_USERS)
            .await
            .or_page(&viewer)?
            .into_iter()
            .map(|u| u.handle)
            .collect()
    } else {
        Vec::new()
    };
    let page = render(web::LoginPage {
        chrome: chrome(&viewer),
        providers: accounts
            .providers
            .iter()
            .map(|p| (p.id.clone(), p.label.clone()))
            .collect(),
        return_to: safe_return_to(query.return_to.as_deref()),
        dev_users,
    });
    Ok(match cookie {
        Some(cookie) => with_cookie(page, cookie),
        None => page,
    })
}

#[derive(Debug, Deserialize)]
pub struct DevLoginForm {
    #[serde(default)]
    csrf: String,
    handle: String,
    return_to: Option<String>,
}

pub async fn dev_login(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<DevLoginForm>,
) -> Result<Response, PageError> {
    if !state.settings.accounts.dev_login {
        return Err(ApiError::NotFound(
            "the development login is off on this server (it exists only for `arena up` on a loopback address)".into(),
        ))
        .or_page(&viewer);
    }
    viewer.check_csrf(&form.csrf).or_page(&viewer)?;
    let user = db::users::by_handle(&state.pool, &form.handle)
        .await
        .or_page(&viewer)?
        .ok_or_else(|| ApiError::BadRequest(format!("`handle`: no user `{}`", form.handle)))
        .or_page(&viewer)?;
    let (secret, _) = db::sessions::sign_in(&state.pool, viewer.secret.as_deref(), user.id)
        .await
        .or_page(&viewer)?;
    tracing::warn!(user = %user.handle, "development login");
    let target = safe_return_to(form.return_to.as_deref());
    Ok(with_cookie(
        see_other(&target),
        session_cookie(&state, &secret),
    ))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf).or_page(&viewer)?;
    if let Some(secret) = &viewer.secret {
        db::sessions::delete(&state.pool, secret)
            .await
            .or_page(&viewer)?;
    }
    Ok(with_cookie(see_other("/"), clear_cookie(&state)))
}

async fn account_page(
    state: &AppState,
    viewer: &Viewer,
    new_token: Option<String>,
    error: Option<web::FieldError>,
) -> Result<web::AccountPage, PageError> {
    let user = require_user(viewer, "/account")?;
    let tokens = db::users::tokens_of(&state.pool, user.id)
        .await
        .or_page(viewer)?;
    let identities = db::sessions::identities_of(&state.pool, user.id)
        .await
        .or_page(viewer)?;
    let organizes = db::users::organized_challenges(&state.pool, user.id)
        .await
        .or_page(viewer)?;
    Ok(web::AccountPage {
        chrome: chrome(viewer),
        handle: user.handle.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone().unwrap_or_default(),
        orcid: user.orcid.clone().unwrap_or_default(),
        is_admin: user.is_admin,
        identities: identities
            .into_iter()
            .map(|(provider, subject)| format!("{provider} ({subject})"))
            .collect(),
        tokens: tokens
            .into_iter()
            .rev()
            .map(|t| web::TokenItem {
                id: t.id.to_string(),
                name: t.name,
                prefix: t.prefix,
                scopes: t.scopes.join(", "),
                created: when(t.created_at),
                last_used: t.last_used_at.map_or_else(|| "never".into(), when),
                revoked: t.revoked_at.is_some(),
            })
            .collect(),
        new_token,
        error,
        organizes,
        can_organize: user.holds("organize"),
    })
}

pub async fn show(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    Ok(render(account_page(&state, &viewer, None, None).await?))
}

fn field_error(field: &str, message: &str) -> Option<web::FieldError> {
    Some(web::FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    })
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    orcid: String,
}

/// `0000-0002-1825-0097`: four groups of four digits, the last may end in X.
fn valid_orcid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 4
        && groups.iter().enumerate().all(|(i, g)| {
            g.len() == 4
                && g.chars()
                    .enumerate()
                    .all(|(j, c)| c.is_ascii_digit() || (i == 3 && j == 3 && c == 'X'))
        })
}

pub async fn profile(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<ProfileForm>,
) -> Result<Response, PageError> {
    let user = check_form(&viewer, &form.csrf, "/account")?.clone();
    let name = form.display_name.trim();
    let orcid = form.orcid.trim();
    let email = form.email.trim();
    let error = if name.is_empty() || name.chars().count() > 100 {
        field_error("display_name", "a display name of 1 to 100 characters")
    } else if !orcid.is_empty() && !valid_orcid(orcid) {
        field_error("orcid", "an ORCID iD looks like 0000-0002-1825-0097")
    } else {
        None
    };
    if error.is_some() {
        let mut page = account_page(&state, &viewer, None, error).await?;
        // Re-display what was typed.
        page.display_name = form.display_name.clone();
        page.email = form.email.clone();
        page.orcid = form.orcid.clone();
        return Ok(render_status(StatusCode::BAD_REQUEST, page));
    }
    let optional = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
    db::users::update_profile(
        &state.pool,
        user.id,
        name,
        optional(email).as_deref(),
        optional(orcid).as_deref(),
    )
    .await
    .or_page(&viewer)?;
    Ok(see_other("/account"))
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    scope_read: Option<String>,
    scope_submit: Option<String>,
    scope_organize: Option<String>,
}

pub async fn create_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    let user = check_form(&viewer, &form.csrf, "/account")?.clone();
    let scopes: Vec<String> = [
        ("read", &form.scope_read),
        ("submit", &form.scope_submit),
        ("organize", &form.scope_organize),
    ]
    .iter()
    .filter(|(_, on)| on.is_some())
    .map(|(scope, _)| scope.to_string())
    .collect();
    let name = form.name.trim();
    let not_held = scopes.iter().find(|s| !user.holds(s));
    let error = if name.is_empty() || name.chars().count() > 100 {
        field_error("name", "give the token a name of 1 to 100 characters")
    } else if scopes.is_empty() {
        field_error("scopes", "choose at least one scope")
    } else if let Some(scope) = not_held {
        field_error(
            "scopes",
            &format!(
                "you do not hold the `{scope}` scope; a token carries only what its user holds"
            ),
        )
    } else {
        None
    };
    if error.is_some() {
        let page = account_page(&state, &viewer, None, error).await?;
        return Ok(render_status(StatusCode::BAD_REQUEST, page));
    }
    let (_, secret) = db::users::create_token(&state.pool, user.id, name, &scopes)
        .await
        .or_page(&viewer)?;
    let page = account_page(&state, &viewer, Some(secret), None).await?;
    // Shown once: the page must not be cached anywhere.
    let mut response = render(page);
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response.into_response())
}

pub async fn revoke_token(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let user = check_form(&viewer, &form.csrf, "/account")?.clone();
    let missing = || ApiError::NotFound(format!("no token `{id}` of yours"));
    let token_id = Uuid::parse_str(&id)
        .map_err(|_| missing())
        .or_page(&viewer)?;
    // Only the owner's own tokens: another user's id is simply not found.
    if !db::users::revoke_token(&state.pool, user.id, token_id)
        .await
        .or_page(&viewer)?
    {
        return Err(missing()).or_page(&viewer);
    }
    Ok(see_other("/account"))
}
