//! Server-rendered pages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(home))
        .route("/static/arena.css", get(stylesheet))
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
