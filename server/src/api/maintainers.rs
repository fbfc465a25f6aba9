//! `/api/v1/datasets/{slug}/maintainers`: who maintains a dataset (public),
//! and, for its maintainers and admins, adding and removing one. Maintainers
//! read the labels of the dataset's hidden splits and add its versions;
//! every change is audited.

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::ops;
use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/datasets/{slug}/maintainers", get(list).post(add))
        .route(
            "/api/v1/datasets/{slug}/maintainers/{handle}",
            delete(remove),
        )
}

async fn dataset(state: &AppState, slug: &str) -> ApiResult<db::datasets::DatasetRow> {
    db::datasets::by_slug(&state.pool, slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no dataset `{slug}`")))
}

async fn list(State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    let row = dataset(&state, &slug).await?;
    let handles = db::datasets::maintainer_handles(&state.pool, row.id).await?;
    Ok(Json(json!({ "dataset": slug, "maintainers": handles })))
}

#[derive(Debug, Deserialize)]
struct AddMaintainer {
    handle: String,
}

/// The acting maintainer (or admin), with a credential that carries `organize`.
async fn steward(
    state: &AppState,
    caller: &Caller,
    row: &db::datasets::DatasetRow,
) -> ApiResult<db::users::User> {
    let user = caller.require("organize")?.clone();
    if !ops::datasets::maintains(&state.pool, &user, row.id).await? {
        return Err(ApiError::Forbidden(format!(
            "only maintainers of `{}` and admins may change its maintainers",
            row.slug
        )));
    }
    Ok(user)
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Json(body): Json<AddMaintainer>,
) -> ApiResult<Json<Value>> {
    let row = dataset(&state, &slug).await?;
    let actor = steward(&state, &caller, &row).await?;
    let handle = body.handle.trim();
    let user = db::users::by_handle(&state.pool, handle)
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("`handle`: no user `{handle}`")))?;
    let added = db::datasets::add_maintainer(&state.pool, row.id, user.id, Some(actor.id)).await?;
    if added {
        let on = ops::audit::On::Dataset(row.id);
        ops::audit::record(
            &state.pool,
            &actor,
            "dataset.maintainer.add",
            on,
            handle,
            json!({}),
        )
        .await?;
    }
    Ok(Json(
        json!({ "dataset": slug, "maintainer": handle, "added": added }),
    ))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, handle)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let row = dataset(&state, &slug).await?;
    let actor = steward(&state, &caller, &row).await?;
    let user = db::users::by_handle(&state.pool, &handle)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user `{handle}`")))?;
    if !db::datasets::remove_maintainer(&state.pool, row.id, user.id).await? {
        return Err(ApiError::NotFound(format!(
            "`{handle}` does not maintain `{slug}`"
        )));
    }
    let on = ops::audit::On::Dataset(row.id);
    ops::audit::record(
        &state.pool,
        &actor,
        "dataset.maintainer.remove",
        on,
        &handle,
        json!({}),
    )
    .await?;
    Ok(Json(
        json!({ "dataset": slug, "maintainer": handle, "removed": true }),
    ))
}
