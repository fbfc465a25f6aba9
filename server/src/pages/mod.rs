//! Server-rendered pages. Every core flow works without JavaScript; forms
//! carry the session's CSRF token and re-display their input with the error
//! beside the field.

mod account;
mod challenge;
mod console;
mod console_datasets;
mod console_users;
mod home;
mod submission;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::accounts::{Viewer, oauth};
use crate::{ApiError, AppState};

pub fn routes() -> axum::Router<AppState> {
    let model_limit = toolflow::Limits::default().max_model_bytes
        + crate::ops::submissions::MAX_CONFIG_BYTES
        + (64 << 10);
    axum::Router::new()
        .route("/", get(home::home))
        .route("/static/arena.css", get(stylesheet))
        .route("/static/arena.js", get(script))
        .route("/datasets", get(datasets_index))
        .route("/datasets/{slug}", get(dataset))
        .route("/datasets/{slug}/versions/{version}", get(dataset_version))
        .route("/challenges/{slug}", get(challenge::show))
        .route(
            "/challenges/{slug}/submit",
            post(challenge::submit).layer(DefaultBodyLimit::max(model_limit)),
        )
        .route("/submissions/{id}", get(submission::show))
        .route("/submissions/{id}/cancel", post(submission::cancel))
        .route("/submissions/{id}/rerun", post(submission::rerun))
        .route("/submissions/{id}/disqualify", post(submission::disqualify))
        .route("/login", get(account::login_page))
        .route("/logout", post(account::logout))
        .route("/dev-login", post(account::dev_login))
        .route("/auth/{provider}/login", get(oauth_login))
        .route("/auth/{provider}/callback", get(oauth_callback))
        .route("/account", get(account::show))
        .route("/account/profile", post(account::profile))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/console", get(console::index))
        .route("/console/users", get(console_users::index))
        .route(
            "/console/users/{handle}/organizer",
            post(console_users::set_organizer),
        )
        .route("/console/new", get(console::new_form).post(console::create))
        .route("/console/new/yaml", post(console::create_yaml))
        .route(
            "/console/new/dataset",
            get(console_datasets::form)
                .post(console_datasets::upload)
                .layer(DefaultBodyLimit::max(
                    crate::api::datasets::MAX_UPLOAD_BYTES,
                )),
        )
        .route(
            "/console/{slug}",
            get(console::manage).post(console::update),
        )
        .route("/console/{slug}/yaml", post(console::update_yaml))
        .route(
            "/console/{slug}/phases/{phase}/publish",
            post(console::publish),
        )
}

async fn stylesheet() -> Response {
    static_asset("text/css; charset=utf-8", web::STYLESHEET)
}

async fn script() -> Response {
    static_asset("text/javascript; charset=utf-8", web::SCRIPT)
}

fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn datasets_index(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    let page = crate::api::datasets::list_page(&state, chrome(&viewer))
        .await
        .or_page(&viewer)?;
    Ok(render(page))
}

async fn dataset(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    dataset_page(&state, &viewer, &slug, "latest").await
}

async fn dataset_version(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((slug, version)): Path<(String, String)>,
) -> Result<Response, PageError> {
    dataset_page(&state, &viewer, &slug, &version).await
}

async fn dataset_page(
    state: &AppState,
    viewer: &Viewer,
    slug: &str,
    version: &str,
) -> Result<Response, PageError> {
    let page = crate::api::datasets::dataset_page(state, slug, version, chrome(viewer))
        .await
        .or_page(viewer)?;
    Ok(render(page))
}

async fn oauth_login(
    state: State<AppState>,
    viewer: Viewer,
    provider: Path<String>,
    query: axum::extract::Query<oauth::LoginQuery>,
) -> Result<Response, PageError> {
    let chrome = chrome(&viewer);
    oauth::login(state, viewer, provider, query)
        .await
        .map_err(|e| PageError::new(e, chrome))
}

async fn oauth_callback(
    state: State<AppState>,
    viewer: Viewer,
    provider: Path<String>,
    query: axum::extract::Query<oauth::CallbackQuery>,
) -> Result<Response, PageError> {
    let chrome = chrome(&viewer);
    oauth::callback(state, viewer, provider, query)
        .await
        .map_err(|e| PageError::new(e, chrome))
}

/// The router's fallback: a 404 page.
pub async fn not_found() -> Response {
    PageError::new(
        ApiError::NotFound("there is nothing at this address".into()),
        web::Chrome::default(),
    )
    .into_response()
}

/// An error as a page without the viewer's menu (for middleware, which runs
/// before the session is read).
pub(crate) fn error_page(error: ApiError) -> Response {
    PageError::new(error, web::Chrome::default()).into_response()
}

/// The page frame for a viewer.
pub(crate) fn chrome(viewer: &Viewer) -> web::Chrome {
    web::Chrome {
        user: viewer.user().map(|u| u.handle.clone()),
        is_admin: viewer.user().is_some_and(|u| u.is_admin),
        csrf: viewer.csrf().to_owned(),
    }
}

pub(crate) fn render(template: impl web::Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}

/// Render with a status other than 200 (a form re-displayed with its error).
pub(crate) fn render_status(status: StatusCode, template: impl web::Template) -> Response {
    let mut response = render(template);
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

pub(crate) fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, location.to_owned())]).into_response()
}

/// The HTTP status of an error (the same mapping as the API's problem+json).
pub(crate) fn status_of(error: &ApiError) -> StatusCode {
    error.status()
}

/// The user-facing text of an error; internal failures are logged, not shown.
pub(crate) fn message_of(error: &ApiError) -> String {
    match error {
        ApiError::Database(e) => {
            tracing::error!(error = %e, "database error");
            "the database request failed; please try again".to_owned()
        }
        ApiError::Store(e) => {
            tracing::error!(error = %e, "object store error");
            "the storage request failed; please try again".to_owned()
        }
        other => other.to_string(),
    }
}

/// The field an error message names first (`` `phases[1].split`: ... `` -> `phases`).
pub(crate) fn field_of(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let rest = &message[start..];
    let end = rest.find(['`', '.', '['])?;
    Some(rest[..end].to_owned()).filter(|f| !f.is_empty())
}

/// An error shown as a page: 403, 404, 500... in words. A page that needs a
/// signed-in user sends an anonymous visitor to the sign-in page instead.
/// (Boxed: results of page handlers stay small.)
pub(crate) struct PageError(Box<PageErrorInner>);

struct PageErrorInner {
    error: ApiError,
    chrome: web::Chrome,
    /// Where to come back after signing in (for 401).
    return_to: Option<String>,
}

impl PageError {
    pub(crate) fn new(error: ApiError, chrome: web::Chrome) -> Self {
        PageError(Box::new(PageErrorInner {
            error,
            chrome,
            return_to: None,
        }))
    }

    /// The visitor must sign in to see `path`.
    pub(crate) fn sign_in(path: &str) -> Self {
        PageError(Box::new(PageErrorInner {
            error: ApiError::Unauthorized("sign in to see this page".into()),
            chrome: web::Chrome::default(),
            return_to: Some(path.to_owned()),
        }))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let PageErrorInner {
            error,
            chrome,
            return_to,
        } = *self.0;
        if let Some(path) = return_to {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &path)
                .finish();
            return see_other(&format!("/login?{query}"));
        }
        let status = status_of(&error);
        let page = web::ErrorPage {
            chrome,
            status: status.as_u16(),
            title: sentence_case(status.canonical_reason().unwrap_or("Error")),
            message: message_of(&error),
        };
        render_status(status, page)
    }
}

/// "Not Found" -> "Not found", as the site writes its headings.
fn sentence_case(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Turn API errors into error pages for this viewer.
pub(crate) trait OrPage<T> {
    fn or_page(self, viewer: &Viewer) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, ApiError> {
    fn or_page(self, viewer: &Viewer) -> Result<T, PageError> {
        self.map_err(|e| PageError::new(e, chrome(viewer)))
    }
}

impl<T> OrPage<T> for Result<T, db::Error> {
    fn or_page(self, viewer: &Viewer) -> Result<T, PageError> {
        self.map_err(|e| PageError::new(ApiError::Database(e), chrome(viewer)))
    }
}

/// The signed-in user, or a redirect to the sign-in page.
pub(crate) fn require_user<'v>(
    viewer: &'v Viewer,
    path: &str,
) -> Result<&'v db::users::User, PageError> {
    viewer.user().ok_or_else(|| PageError::sign_in(path))
}

/// The signed-in user holding the organizer role (else the sign-in page, or 403).
pub(crate) fn require_organizer<'v>(
    viewer: &'v Viewer,
    path: &str,
) -> Result<&'v db::users::User, PageError> {
    let user = require_user(viewer, path)?;
    if !user.holds("organize") {
        return Err(ApiError::Forbidden(format!(
            "creating challenges and datasets takes the organizer role, which `{}` does not \
             hold; an admin grants it (Console → Users, or `arena user grant --organizer {}`)",
            user.handle, user.handle
        )))
        .or_page(viewer);
    }
    Ok(user)
}

/// A CSRF-checked form post from a signed-in user.
pub(crate) fn check_form<'v>(
    viewer: &'v Viewer,
    csrf: &str,
    path: &str,
) -> Result<&'v db::users::User, PageError> {
    let user = require_user(viewer, path)?;
    viewer.check_csrf(csrf).or_page(viewer)?;
    Ok(user)
}

/// A timestamp as pages show it.
pub(crate) fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A challenge row and its definition, or 404.
pub(crate) async fn load_challenge(
    state: &AppState,
    slug: &str,
) -> Result<(db::challenges::ChallengeRow, challenges::Challenge), ApiError> {
    let row = db::challenges::by_slug(&state.pool, slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no challenge `{slug}`")))?;
    let challenge = crate::ops::challenges::definition(&row)?;
    Ok((row, challenge))
}

/// Admins, and organizers of this challenge.
pub(crate) async fn organizes(
    state: &AppState,
    user: Option<&db::users::User>,
    challenge_id: uuid::Uuid,
) -> Result<bool, ApiError> {
    let Some(user) = user else { return Ok(false) };
    Ok(user.is_admin || db::challenges::is_organizer(&state.pool, challenge_id, user.id).await?)
}

/// A serializable value as one line of text (enum names, small structs).
pub(crate) fn plain(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => "—".to_owned(),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
