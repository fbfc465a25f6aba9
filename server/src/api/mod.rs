//! The JSON API under `/api/v1`.

mod challenges;
mod submissions;

use crate::AppState;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(challenges::routes())
        .merge(submissions::routes())
}
