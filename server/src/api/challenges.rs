//! `/api/v1/challenges`: list, read, create, update, leaderboards, submit, publish.

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use challenges::{Challenge, Visibility};
use chrono::Utc;
use db::challenges::ChallengeRow;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::cache;
use crate::leaderboard::{self, Leaderboard};
use crate::ops;
use crate::{ApiError, ApiResult, AppState};

/// Largest submission body: the model, its configuration and the form around them.
fn upload_limit() -> usize {
    toolflow::Limits::default().max_model_bytes + ops::submissions::MAX_CONFIG_BYTES + (64 << 10)
}

pub fn routes() -> Router<AppState> {
    let model_limit = upload_limit();
    Router::new()
        .route("/api/v1/challenges", get(list).post(create))
        .route("/api/v1/challenges/{slug}", get(show).put(update))
        .route(
            "/api/v1/challenges/{slug}/leaderboard",
            get(leaderboard_json),
        )
        .route(
            "/api/v1/challenges/{slug}/leaderboard.csv",
            get(leaderboard_csv),
        )
        .route(
            "/api/v1/challenges/{slug}/leaderboard.parquet",
            get(leaderboard_parquet),
        )
        .route(
            "/api/v1/challenges/{slug}/leaderboard/pareto.svg",
            get(leaderboard_pareto),
        )
        .route(
            "/api/v1/challenges/{slug}/leaderboard/croissant.json",
            get(leaderboard_croissant),
        )
        .route(
            "/api/v1/challenges/{slug}/phases/{phase}/publish",
            post(publish),
        )
        .route(
            "/api/v1/challenges/{slug}/submissions",
            post(submit)
                .get(my_submissions)
                .layer(DefaultBodyLimit::max(model_limit)),
        )
}

/// The challenge row and its definition, or 404.
pub(crate) async fn load(state: &AppState, slug: &str) -> ApiResult<(ChallengeRow, Challenge)> {
    let row = db::challenges::by_slug(&state.pool, slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no challenge `{slug}`")))?;
    let challenge = ops::challenges::definition(&row)?;
    Ok((row, challenge))
}

/// Admins and the challenge's organizers.
pub(crate) async fn is_organizer(
    state: &AppState,
    caller: &Caller,
    row: &ChallengeRow,
) -> ApiResult<bool> {
    let Some(user) = &caller.user else {
        return Ok(false);
    };
    Ok(user.is_admin || db::challenges::is_organizer(&state.pool, row.id, user.id).await?)
}

fn summary(row: &ChallengeRow, challenge: &Challenge) -> Value {
    let now = Utc::now();
    json!({
        "slug": row.slug,
        "title": row.title,
        "dataset": challenge.dataset,
        "metric": challenge.metric.to_string(),
        "target": challenge.target,
        "budget": challenge.budget,
        "open_phase": challenge.open_phase(now).map(|p| p.name.clone()),
        "url": format!("/api/v1/challenges/{}", row.slug),
        "created_at": row.created_at,
    })
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = db::challenges::list(&state.pool).await?;
    let mut items = Vec::new();
    for row in &rows {
        let challenge = ops::challenges::definition(row)?;
        items.push(summary(row, &challenge));
    }
    Ok(Json(json!({ "challenges": items })))
}

async fn show(State(state): State<AppState>, Path(slug): Path<String>) -> ApiResult<Json<Value>> {
    let (row, challenge) = load(&state, &slug).await?;
    let organizers = db::challenges::organizer_handles(&state.pool, row.id).await?;
    let now = Utc::now();
    let mut phases = Vec::new();
    for phase in &challenge.phases {
        let published = db::challenges::published_at(&state.pool, row.id, &phase.name).await?;
        phases.push(json!({
            "name": phase.name,
            "split": phase.split,
            "starts": phase.starts,
            "ends": phase.ends,
            "leaderboard": phase.visibility(),
            "published_at": published,
            "open": phase.is_open(now),
        }));
    }
    let mut body = summary(&row, &challenge);
    body["description"] = json!(challenge.description);
    body["organizers"] = json!(organizers);
    body["phases"] = json!(phases);
    body["ranking"] = json!(challenge.ranking());
    body["limits"] = json!(challenge.limits);
    body["entries_per_participant"] = json!(challenge.entries_per_participant);
    body["definition"] = row.definition.clone();
    Ok(Json(body))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: String,
) -> ApiResult<Response> {
    let user = caller.require("organize")?.clone();
    let challenge = ops::challenges::parse(&body)?;
    let authority = ops::challenges::Authority::User(&user);
    let row = ops::challenges::create(&state.pool, challenge, Some(&user), authority).await?;
    ops::challenges::audit(
        &state.pool,
        &user,
        "challenge.create",
        row.id,
        &row.slug,
        json!({}),
    )
    .await?;
    let location = format!("/api/v1/challenges/{}", row.slug);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location.clone())],
        Json(json!({ "slug": row.slug, "url": location })),
    )
        .into_response())
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    body: String,
) -> ApiResult<Json<Value>> {
    let user = caller.require("organize")?.clone();
    let (row, _) = load(&state, &slug).await?;
    if !is_organizer(&state, &caller, &row).await? {
        return Err(ApiError::Forbidden(format!(
            "only organizers of `{slug}` may edit it"
        )));
    }
    let challenge = ops::challenges::parse(&body)?;
    let authority = ops::challenges::Authority::User(&user);
    ops::challenges::update(&state.pool, &row, challenge, authority).await?;
    ops::challenges::audit(
        &state.pool,
        &user,
        "challenge.update",
        row.id,
        &slug,
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "slug": slug, "updated": true })))
}

#[derive(Debug, Deserialize)]
struct PhaseQuery {
    phase: Option<String>,
    /// Pareto plot axis: `latency` (default) or `area` (LUT + 55 x DSP).
    x: Option<String>,
}

/// The leaderboard a caller may see: hidden phases only for organizers until published.
async fn visible_leaderboard(
    state: &AppState,
    caller: &Caller,
    slug: &str,
    phase: Option<String>,
) -> ApiResult<Leaderboard> {
    let (row, challenge) = load(state, slug).await?;
    let phase = phase.unwrap_or_else(|| challenge.default_phase(Utc::now()).name.clone());
    let board = leaderboard::build(&state.pool, &row, &challenge, &phase).await?;
    if board.visibility == Visibility::Hidden
        && !board.published
        && !is_organizer(state, caller, &row).await?
    {
        return Err(ApiError::Forbidden(format!(
            "the results of phase `{phase}` are hidden until the organizers publish them"
        )));
    }
    Ok(board)
}

async fn leaderboard_json(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(query): Query<PhaseQuery>,
) -> ApiResult<Response> {
    let key = cache::key(&state.pool, &slug, query.phase.as_deref());
    if let Some(body) = cache::get_notified(&key) {
        return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
    }
    // Taken before the version and the build: a change during them starts a
    // newer generation, so this board is not served past it.
    let generation = cache::notifications(&key.0).generation();
    let version = db::challenges::results_version(&state.pool, &slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no challenge `{slug}`")))?;
    let body = match cache::get(&key, &version, generation) {
        Some(body) => body,
        None => {
            let board = visible_leaderboard(&state, &caller, &slug, query.phase).await?;
            let json =
                serde_json::to_vec(&board).map_err(|e| ApiError::Unavailable(e.to_string()))?;
            let body = Bytes::from(json);
            if board.visibility != Visibility::Hidden || board.published {
                cache::put(key, version, generation, body.clone());
            }
            body
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn leaderboard_csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(query): Query<PhaseQuery>,
) -> ApiResult<Response> {
    let board = visible_leaderboard(&state, &caller, &slug, query.phase).await?;
    let name = format!(
        "attachment; filename=\"{}-{}-leaderboard.csv\"",
        board.challenge, board.phase
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        leaderboard::to_csv(&board),
    )
        .into_response())
}

async fn leaderboard_parquet(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(query): Query<PhaseQuery>,
) -> ApiResult<Response> {
    let board = visible_leaderboard(&state, &caller, &slug, query.phase).await?;
    let name = format!(
        "attachment; filename=\"{}-{}-leaderboard.parquet\"",
        board.challenge, board.phase
    );
    let bytes = leaderboard::to_parquet(&board)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.apache.parquet".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    )
        .into_response())
}

async fn leaderboard_pareto(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(query): Query<PhaseQuery>,
) -> ApiResult<Response> {
    let axis = match query.x.as_deref() {
        None => crate::pareto::Axis::Latency,
        Some(x) => crate::pareto::Axis::parse(x).ok_or_else(|| {
            ApiError::BadRequest(format!("`x`: `{x}` is not `latency` or `area`"))
        })?,
    };
    let board = visible_leaderboard(&state, &caller, &slug, query.phase).await?;
    let (_, challenge) = load(&state, &slug).await?;
    let svg = crate::pareto::svg(&board, axis, challenge.metric.higher_is_better());
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        svg,
    )
        .into_response())
}

/// Croissant (JSON-LD) for the leaderboard itself: it is a dataset too.
async fn leaderboard_croissant(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    Query(query): Query<PhaseQuery>,
) -> ApiResult<Response> {
    let board = visible_leaderboard(&state, &caller, &slug, query.phase).await?;
    let (row, challenge) = load(&state, &slug).await?;
    let organizers = db::challenges::organizer_handles(&state.pool, row.id).await?;
    let base = state.settings.public_url.trim_end_matches('/');
    let doc = leaderboard::croissant(&board, &challenge, &organizers, base)?;
    Ok(([(header::CONTENT_TYPE, "application/ld+json")], Json(doc)).into_response())
}

async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path((slug, phase)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user = caller.require("organize")?.clone();
    let (row, challenge) = load(&state, &slug).await?;
    if !is_organizer(&state, &caller, &row).await? {
        return Err(ApiError::Forbidden(format!(
            "only organizers of `{slug}` may publish results"
        )));
    }
    if challenge.phase(&phase).is_none() {
        return Err(ApiError::NotFound(format!(
            "challenge `{slug}` has no phase `{phase}`"
        )));
    }
    db::challenges::publish_phase(&state.pool, row.id, &phase, user.id).await?;
    ops::challenges::audit(
        &state.pool,
        &user,
        "phase.publish",
        row.id,
        &phase,
        json!({}),
    )
    .await?;
    Ok(Json(
        json!({ "challenge": slug, "phase": phase, "published": true }),
    ))
}

/// `multipart/form-data` with `model` (the ONNX file), optional `config` (the
/// precision configuration), `label` (a name for the entry), and for organizers
/// `phase` and `baseline`.
async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let user = caller.require("submit")?.clone();
    let mut form = form.map_err(|e| {
        ApiError::BadRequest(format!(
            "the body must be multipart/form-data with a `model` file: {e}"
        ))
    })?;
    let (row, challenge) = load(&state, &slug).await?;
    let organizer = is_organizer(&state, &caller, &row).await?;
    let mut model: Option<Bytes> = None;
    let mut upload = ops::submissions::Upload {
        model: Bytes::new(),
        config: None,
        label: String::new(),
        is_baseline: false,
        phase: None,
    };
    while let Some(field) = form.next_field().await.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
            "the upload is over the limit of {} bytes: {e}",
            upload_limit()
        )),
        _ => ApiError::BadRequest(format!("malformed multipart body: {e}")),
    })? {
        let name = field.name().unwrap_or_default().to_owned();
        let read_error = |e| ApiError::multipart_field(&name, e);
        match name.as_str() {
            "model" => model = Some(field.bytes().await.map_err(read_error)?),
            "config" => {
                upload.config =
                    ops::submissions::clean_config(field.text().await.map_err(read_error)?)
            }
            "label" => {
                upload.label =
                    ops::submissions::clean_label(&field.text().await.map_err(read_error)?)
            }
            "phase" if organizer => upload.phase = Some(field.text().await.map_err(read_error)?),
            "baseline" if organizer => {
                upload.is_baseline = field.text().await.map_err(read_error)?.trim() == "true"
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unexpected form field `{other}`"
                )));
            }
        }
    }
    upload.model =
        model.ok_or_else(|| ApiError::BadRequest("`model`: the ONNX file is missing".into()))?;
    let id = ops::submissions::submit(
        &state.pool,
        state.store.as_ref(),
        &row,
        &challenge,
        &user,
        upload,
        Utc::now(),
        &state.settings.evaluation,
    )
    .await?;
    let location = format!("/api/v1/submissions/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location.clone())],
        Json(json!({ "id": id, "status": "queued", "url": location })),
    )
        .into_response())
}

/// The caller's submissions to this challenge (all of them for organizers).
async fn my_submissions(
    State(state): State<AppState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = caller.require("read")?.clone();
    let (row, _) = load(&state, &slug).await?;
    let organizer = is_organizer(&state, &caller, &row).await?;
    let rows = db::submissions::of_challenge(
        &state.pool,
        row.id,
        if organizer { None } else { Some(user.id) },
    )
    .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|s| json!({
            "id": s.id, "participant": s.handle, "label": s.label, "phase": s.phase, "status": s.status,
            "is_baseline": s.is_baseline, "created_at": s.created_at, "url": format!("/api/v1/submissions/{}", s.id),
        }))
        .collect();
    Ok(Json(json!({ "submissions": items })))
}
