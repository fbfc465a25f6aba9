//! `/api/v1/submissions/{id}`: status, steps, scores, report, log; model
//! download; cancel, re-run, disqualify.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use db::submissions::SubmissionRow;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::ops;
use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/submissions/{id}", get(show))
        .route("/api/v1/submissions/{id}/model", get(model))
        .route("/api/v1/submissions/{id}/rtl", get(rtl))
        .route("/api/v1/submissions/{id}/cancel", post(cancel))
        .route("/api/v1/submissions/{id}/rerun", post(rerun))
        .route("/api/v1/submissions/{id}/disqualify", post(disqualify))
}

/// What the caller may see of a submission (the one rule: `ops::submissions::view`).
struct Access {
    submission: SubmissionRow,
    view: ops::submissions::SubmissionView,
}

async fn access(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Access> {
    let (submission, _, view) =
        ops::submissions::load(&state.pool, id, caller.user.as_ref()).await?;
    Ok(Access { submission, view })
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let access = access(&state, &caller, &id).await?;
    let s = &access.submission;
    let events = db::submissions::events(&state.pool, s.id).await?;
    let queue_position = match s.job_id {
        Some(job) if s.status == "queued" => db::jobs::queue_position(&state.pool, job).await?,
        _ => None,
    };
    let challenge = db::challenges::by_id(&state.pool, s.challenge_id)
        .await?
        .map(|c| c.slug);
    let mut body = json!({
        "id": s.id,
        "challenge": challenge,
        "phase": s.phase,
        "participant": if s.is_baseline { "baseline" } else { s.handle.as_str() },
        "label": s.label,
        "is_baseline": s.is_baseline,
        "status": s.status,
        "message": s.message,
        "steps": events,
        "queue_position": queue_position,
        "model_sha256": s.model_sha256,
        "model_size": s.model_size,
        "disqualified": s.disqualified,
        "disqualified_reason": s.disqualified_reason,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    });
    if access.view.results {
        let results = s.results.clone().unwrap_or(Value::Null);
        body["scores"] = results.get("metrics").cloned().unwrap_or(Value::Null);
        body["hardware"] = results.get("hardware").cloned().unwrap_or(Value::Null);
        body["fits_budget"] = results.get("fits_budget").cloned().unwrap_or(Value::Null);
        body["violations"] = results.get("violations").cloned().unwrap_or(Value::Null);
        body["report"] = results.get("report").cloned().unwrap_or(Value::Null);
        body["provenance"] = results.get("provenance").cloned().unwrap_or(Value::Null);
    } else {
        body["scores"] = Value::Null;
        body["results_hidden"] =
            json!("this phase's results are hidden until the organizers publish them");
    }
    if access.view.organizer_log {
        body["organizer_log"] = json!(s.organizer_log);
    }
    if access.view.private {
        body["log"] = json!(s.log);
        body["config"] = json!(s.config_text);
        body["model_url"] = json!(format!("/api/v1/submissions/{}/model", s.id));
        if let Some(rtl) = s.results.as_ref().map(|r| &r["rtl"])
            && !rtl.is_null()
        {
            body["rtl"] = rtl.clone();
            if rtl["sha256"].is_string() {
                body["rtl_url"] = json!(format!("/api/v1/submissions/{}/rtl", s.id));
            }
        }
    }
    Ok(Json(body))
}

async fn model(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let access = private_access(&state, &caller, &id, "the model").await?;
    let s = &access.submission;
    let file = format!("submission-{}.onnx", s.id);
    let download = Download {
        prefix: ops::submissions::MODELS_PREFIX,
        sha256: &s.model_sha256,
        content_type: "application/octet-stream",
        file_name: &file,
        what: "the model",
    };
    download.send(&state).await
}

/// The RTL bundle the worker generated (a tar of what `arena rtl` writes).
async fn rtl(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let access = private_access(&state, &caller, &id, "the RTL bundle").await?;
    let s = &access.submission;
    let rtl = s.results.as_ref().map(|r| &r["rtl"]);
    let Some(sha256) = rtl.and_then(|r| r["sha256"].as_str()) else {
        let why = rtl.and_then(|r| r["skipped"].as_str()).map_or_else(
            || format!("the submission has no RTL bundle (status {})", s.status),
            |why| format!("no RTL bundle was generated: {why}"),
        );
        return Err(ApiError::NotFound(why));
    };
    let file = format!("submission-{}-rtl.tar", s.id);
    let download = Download {
        prefix: worker::evaluate::RTL_PREFIX,
        sha256,
        content_type: "application/x-tar",
        file_name: &file,
        what: "the RTL bundle",
    };
    download.send(&state).await
}

/// The submission, when the caller is its submitter or an organizer (else 403,
/// or 404 when they may not know it exists).
async fn private_access(
    state: &AppState,
    caller: &Caller,
    id: &str,
    what: &str,
) -> ApiResult<Access> {
    let access = access(state, caller, id).await?;
    if !access.view.private {
        return Err(ApiError::Forbidden(format!(
            "only the submitter and the organizers may download {what}"
        )));
    }
    Ok(access)
}

/// A content-addressed object sent as a file download.
struct Download<'a> {
    prefix: &'a str,
    sha256: &'a str,
    content_type: &'static str,
    file_name: &'a str,
    what: &'a str,
}

impl Download<'_> {
    async fn send(&self, state: &AppState) -> ApiResult<Response> {
        let key = datasets::store::content_path(self.prefix, self.sha256);
        let bytes = datasets::store::get_bytes(state.store.as_ref(), &key)
            .await
            .map_err(|e| ApiError::Unavailable(format!("reading {}: {e}", self.what)))?;
        Ok((
            [
                (header::CONTENT_TYPE, self.content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", self.file_name),
                ),
                (header::ETAG, format!("\"{}\"", self.sha256)),
            ],
            bytes,
        )
            .into_response())
    }
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let access = access(&state, &caller, &id).await?;
    // The submitter cancels with `submit`; an organizer cancels someone
    // else's entry as an organizer action, with `organize`, on the record.
    let user = if access.view.owner {
        caller.require("submit")?.clone()
    } else {
        caller.require("organize")?.clone()
    };
    if !access.view.owner && !access.view.organizer {
        return Err(ApiError::Forbidden(
            "only the submitter may cancel a submission".into(),
        ));
    }
    if !db::submissions::cancel(&state.pool, access.submission.id).await? {
        return Err(ApiError::Conflict(format!(
            "the submission has already ended ({})",
            access.submission.status
        )));
    }
    if !access.view.owner {
        let s = &access.submission;
        ops::challenges::audit(
            &state.pool,
            &user,
            "submission.cancel",
            s.challenge_id,
            &s.id.to_string(),
            json!({}),
        )
        .await?;
    }
    Ok(Json(
        json!({ "id": access.submission.id, "status": "cancelled" }),
    ))
}

async fn rerun(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = caller.require("organize")?.clone();
    let access = access(&state, &caller, &id).await?;
    if !access.view.organizer {
        return Err(ApiError::Forbidden(
            "only organizers may re-run a submission".into(),
        ));
    }
    if !db::submissions::requeue(
        &state.pool,
        access.submission.id,
        ops::submissions::MAX_ATTEMPTS,
    )
    .await?
    {
        return Err(ApiError::Conflict("the submission is still running".into()));
    }
    let s = &access.submission;
    ops::challenges::audit(
        &state.pool,
        &user,
        "submission.rerun",
        s.challenge_id,
        &s.id.to_string(),
        json!({}),
    )
    .await?;
    Ok(Json(
        json!({ "id": access.submission.id, "status": "queued" }),
    ))
}

#[derive(Debug, Deserialize)]
struct Disqualify {
    reason: String,
}

async fn disqualify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<Disqualify>,
) -> ApiResult<Json<Value>> {
    let user = caller.require("organize")?.clone();
    let access = access(&state, &caller, &id).await?;
    if !access.view.organizer {
        return Err(ApiError::Forbidden(
            "only organizers may disqualify a submission".into(),
        ));
    }
    if body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest("`reason` must not be empty".into()));
    }
    db::submissions::disqualify(&state.pool, access.submission.id, body.reason.trim()).await?;
    let s = &access.submission;
    let detail = json!({ "reason": body.reason.trim() });
    ops::challenges::audit(
        &state.pool,
        &user,
        "submission.disqualify",
        s.challenge_id,
        &s.id.to_string(),
        detail,
    )
    .await?;
    Ok(Json(
        json!({ "id": access.submission.id, "disqualified": true }),
    ))
}
