//! `/submissions/{id}`: live status, queue position, steps, scores, the
//! hardware report with a device-utilisation bar, log and downloads; cancel,
//! re-run and disqualify.
//!
//! Who sees what follows the API (`/api/v1/submissions/{id}`): owners and
//! organizers see everything; others see finished entries and baselines of
//! visible phases, and nothing (404) of the rest.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use db::submissions::SubmissionRow;
use serde::Deserialize;
use serde_json::Value;

use super::{OrPage, PageError, check_form, chrome, render, see_other};
use crate::accounts::Viewer;
use crate::{ApiError, AppState, ops};

struct Access {
    submission: SubmissionRow,
    challenge: db::challenges::ChallengeRow,
    view: ops::submissions::SubmissionView,
}

async fn access(state: &AppState, viewer: &Viewer, id: &str) -> Result<Access, ApiError> {
    let (submission, challenge, view) =
        ops::submissions::load(&state.pool, id, viewer.user()).await?;
    Ok(Access {
        submission,
        challenge,
        view,
    })
}

const ENDED: [&str; 3] = ["finished", "failed", "cancelled"];

fn fact(name: &str, value: String) -> web::Fact {
    web::Fact {
        name: name.to_owned(),
        value,
    }
}

fn number(value: &Value) -> String {
    match value.as_f64() {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => format!("{v:.4}"),
        None => value.to_string(),
    }
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let access = access(&state, &viewer, &id).await.or_page(&viewer)?;
    let s = &access.submission;
    let events = db::submissions::events(&state.pool, s.id)
        .await
        .or_page(&viewer)?;
    let queue_position = match s.job_id {
        Some(job) if s.status == "queued" => db::jobs::queue_position(&state.pool, job)
            .await
            .or_page(&viewer)?,
        _ => None,
    };
    let results = s.results.clone().unwrap_or(Value::Null);
    let (mut scores, mut hardware, mut utilisation) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fits_budget, mut violations) = (None, Vec::new());
    if access.view.results {
        if let Some(metrics) = results["metrics"].as_object() {
            scores = metrics.iter().map(|(k, v)| fact(k, number(v))).collect();
        }
        if let Some(figures) = results["hardware"].as_object() {
            hardware = figures
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| fact(k, number(v)))
                .collect();
        }
        let report = &results["report"];
        if let Some(tier) = report["tier"].as_str() {
            hardware.push(fact("tier", tier.to_owned()));
        }
        if let Some(part) = report["device"]["part"].as_str() {
            hardware.push(fact("device", part.to_owned()));
        }
        let used = |key: &str| results["hardware"][key].as_f64().unwrap_or(0.0);
        for (name, key, device_key) in [
            ("LUT", "lut", "lut"),
            ("FF", "ff", "ff"),
            ("DSP", "dsp", "dsp"),
            ("BRAM36", "bram", "bram36"),
        ] {
            let pct_key = if key == "bram" { "bram36" } else { key };
            if let Some(pct) = report["utilization_pct"][pct_key].as_f64() {
                let total = report["device"][device_key].as_f64().unwrap_or(0.0);
                utilisation.push((name.to_owned(), pct, format!("{} / {}", used(key), total)));
            }
        }
        fits_budget = results["fits_budget"].as_bool();
        violations = results["violations"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
    }
    let private = access.view.private;
    let page = web::SubmissionPage {
        chrome: chrome(&viewer),
        id: s.id.to_string(),
        challenge_slug: access.challenge.slug.clone(),
        challenge_title: access.challenge.title.clone(),
        phase: s.phase.clone(),
        who: if s.is_baseline {
            "baseline".into()
        } else {
            s.handle.clone()
        },
        label: if s.label.is_empty() {
            s.id.to_string()
        } else {
            s.label.clone()
        },
        status: s.status.clone(),
        ended: ENDED.contains(&s.status.as_str()),
        message: s.message.clone(),
        queue_position,
        steps: events
            .iter()
            .map(|e| {
                let detail = e
                    .detail
                    .as_deref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default();
                fact(
                    &e.status,
                    format!("{}{detail}", e.at.format("%Y-%m-%d %H:%M:%S%.3f UTC")),
                )
            })
            .collect(),
        scores,
        hardware,
        utilisation,
        fits_budget,
        violations,
        results_hidden: !access.view.results,
        disqualified: s
            .disqualified
            .then(|| s.disqualified_reason.clone().unwrap_or_default()),
        private,
        has_rtl: private && results["rtl"]["sha256"].is_string(),
        log: if private {
            s.log.clone()
        } else {
            String::new()
        },
        organizer_log: if access.view.organizer_log {
            s.organizer_log.clone()
        } else {
            String::new()
        },
        can_cancel: private && !ENDED.contains(&s.status.as_str()),
        is_organizer: access.view.organizer,
        api_url: format!("/api/v1/submissions/{}", s.id),
    };
    Ok(render(page))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Debug, Deserialize)]
pub struct DisqualifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub async fn cancel(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let user = check_form(&viewer, &form.csrf, &format!("/submissions/{id}"))?.clone();
    let access = access(&state, &viewer, &id).await.or_page(&viewer)?;
    if !(access.view.owner || access.view.organizer) {
        return Err(ApiError::Forbidden(
            "only the submitter may cancel a submission".into(),
        ))
        .or_page(&viewer);
    }
    if !db::submissions::cancel(&state.pool, access.submission.id)
        .await
        .or_page(&viewer)?
    {
        return Err(ApiError::Conflict(format!(
            "the submission has already ended ({})",
            access.submission.status
        )))
        .or_page(&viewer);
    }
    if !access.view.owner {
        audit(
            &state,
            &user,
            &access,
            "submission.cancel",
            serde_json::json!({}),
        )
        .await
        .or_page(&viewer)?;
    }
    Ok(see_other(&format!("/submissions/{id}")))
}

async fn organizer_access(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    what: &str,
) -> Result<Access, PageError> {
    let access = access(state, viewer, id).await.or_page(viewer)?;
    if !access.view.organizer {
        return Err(ApiError::Forbidden(format!(
            "only organizers of `{}` may {what} a submission",
            access.challenge.slug
        )))
        .or_page(viewer);
    }
    Ok(access)
}

pub async fn rerun(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let user = check_form(&viewer, &form.csrf, &format!("/submissions/{id}"))?.clone();
    let access = organizer_access(&state, &viewer, &id, "re-run").await?;
    let requeued = db::submissions::requeue(
        &state.pool,
        access.submission.id,
        ops::submissions::MAX_ATTEMPTS,
    )
    .await
    .or_page(&viewer)?;
    if !requeued {
        return Err(ApiError::Conflict("the submission is still running".into())).or_page(&viewer);
    }
    audit(
        &state,
        &user,
        &access,
        "submission.rerun",
        serde_json::json!({}),
    )
    .await
    .or_page(&viewer)?;
    Ok(see_other(&format!("/submissions/{id}")))
}

pub async fn disqualify(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<DisqualifyForm>,
) -> Result<Response, PageError> {
    let user = check_form(&viewer, &form.csrf, &format!("/submissions/{id}"))?.clone();
    let access = organizer_access(&state, &viewer, &id, "disqualify").await?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::BadRequest(
            "`reason`: say why the entry is disqualified".into(),
        ))
        .or_page(&viewer);
    }
    db::submissions::disqualify(&state.pool, access.submission.id, reason)
        .await
        .or_page(&viewer)?;
    let detail = serde_json::json!({ "reason": reason });
    audit(&state, &user, &access, "submission.disqualify", detail)
        .await
        .or_page(&viewer)?;
    Ok(see_other(&format!("/submissions/{id}")))
}

/// Record an organizer's action on a submission (from the page).
async fn audit(
    state: &AppState,
    user: &db::users::User,
    access: &Access,
    action: &str,
    mut detail: serde_json::Value,
) -> Result<(), ApiError> {
    detail["via"] = serde_json::json!("page");
    let s = &access.submission;
    ops::challenges::audit(
        &state.pool,
        user,
        action,
        s.challenge_id,
        &s.id.to_string(),
        detail,
    )
    .await
}
