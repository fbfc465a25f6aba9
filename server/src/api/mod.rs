//! The JSON API under `/api/v1`.

mod challenges;
pub(crate) mod datasets;
mod maintainers;
mod submissions;

use crate::AppState;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .merge(challenges::routes())
        .merge(datasets::routes())
        .merge(maintainers::routes())
        .merge(submissions::routes())
}
