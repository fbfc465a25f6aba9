//! Server-rendered pages.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(home))
        .route("/static/arena.css", get(stylesheet))
        .route("/datasets", get(datasets_index))
        .route("/datasets/{slug}", get(dataset))
        .route("/datasets/{slug}/versions/{version}", get(dataset_version))
}

async fn stylesheet() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        web::STYLESHEET,
    )
        .into_response()
}

async fn home(State(state): State<AppState>) -> Response {
    render(web::HomePage {
        public_url: &state.settings.public_url,
    })
}

async fn datasets_index(State(state): State<AppState>) -> Response {
    match crate::api::datasets::list_page(&state).await {
        Ok(page) => render(page),
        Err(e) => e.into_response(),
    }
}

async fn dataset(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    dataset_page(&state, &slug, "latest").await
}

async fn dataset_version(
    State(state): State<AppState>,
    Path((slug, version)): Path<(String, String)>,
) -> Response {
    dataset_page(&state, &slug, &version).await
}

async fn dataset_page(state: &AppState, slug: &str, version: &str) -> Response {
    match crate::api::datasets::dataset_page(state, slug, version).await {
        Ok(page) => render(page),
        Err(crate::ApiError::NotFound(_)) => not_found().await,
        Err(e) => e.into_response(),
    }
}

pub async fn not_found() -> Response {
    let page = render(web::NotFoundPage {});
    (StatusCode::NOT_FOUND, page).into_response()
}

fn render(template: impl web::Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}
