//! `/challenges/{slug}`: overview, rules, target and budgets, phases, the
//! leaderboard with its Pareto plot, and the submission form.

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::Response;
use challenges::{Challenge, Visibility};
use chrono::Utc;
use db::challenges::ChallengeRow;
use serde::Deserialize;

use super::{
    OrPage, PageError, chrome, field_of, load_challenge, message_of, organizes, plain, render,
    render_status, see_other, status_of, when,
};
use crate::accounts::Viewer;
use crate::leaderboard::{self, Leaderboard};
use crate::{ApiError, AppState, ops};

#[derive(Debug, Default, Deserialize)]
pub struct PhaseQuery {
    phase: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    Query(query): Query<PhaseQuery>,
) -> Result<Response, PageError> {
    let page = build(&state, &viewer, &slug, query.phase, None, String::new())
        .await
        .or_page(&viewer)?;
    Ok(render(page))
}

fn num(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.digits$}"))
}

fn count(value: Option<u64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| v.to_string())
}

fn board_rows(board: &Leaderboard) -> Vec<web::BoardRow> {
    board
        .rows
        .iter()
        .map(|r| web::BoardRow {
            rank: r.rank,
            submission_id: r.submission_id.clone(),
            who: if r.is_baseline {
                "baseline".to_owned()
            } else {
                r.participant.clone()
            },
            label: r.label.clone(),
            is_baseline: r.is_baseline,
            score: format!("{:.4}", r.score),
            score_raw: r.score,
            latency_ns: num(r.hardware.latency_ns, 1),
            lut: count(r.hardware.lut),
            ff: count(r.hardware.ff),
            dsp: count(r.hardware.dsp),
            bram: num(r.hardware.bram, 1),
            in_budget: r.in_budget,
            violations: r.violations.join("; "),
        })
        .collect()
}

/// A ranking rule in words: `primary — metric roc_auc; tie breaks hardware:latency_ns, hardware:lut`.
fn describe_rule(rule: &impl serde::Serialize) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(rule) else {
        return plain(rule);
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => plain(other),
    };
    let name = fields.get("rule").map(text).unwrap_or_default();
    let details: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "rule")
        .map(|(k, v)| format!("{} {}", k.replace('_', " "), text(v)))
        .collect();
    if details.is_empty() {
        name
    } else {
        format!("{name} — {}", details.join("; "))
    }
}

fn facts(pairs: Vec<(&str, String)>) -> Vec<web::Fact> {
    pairs
        .into_iter()
        .map(|(name, value)| web::Fact {
            name: name.to_owned(),
            value,
        })
        .collect()
}

fn budget_facts(challenge: &Challenge) -> Vec<web::Fact> {
    let b = &challenge.budget;
    let mut out = Vec::new();
    let mut add = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push(web::Fact {
                name: name.to_owned(),
                value,
            });
        }
    };
    add("Latency", b.max_latency_ns.map(|v| format!("≤ {v} ns")));
    add("LUT", b.max_lut.map(|v| format!("≤ {v}")));
    add("FF", b.max_ff.map(|v| format!("≤ {v}")));
    add("DSP", b.max_dsp.map(|v| format!("≤ {v}")));
    add("BRAM36", b.max_bram.map(|v| format!("≤ {v}")));
    add(
        "Initiation interval",
        b.max_ii.map(|v| format!("≤ {v} cycles")),
    );
    out
}

pub(crate) async fn phase_rows(
    state: &AppState,
    row: &ChallengeRow,
    challenge: &Challenge,
) -> Result<Vec<web::PhaseRow>, ApiError> {
    let now = Utc::now();
    let mut rows = Vec::new();
    for phase in &challenge.phases {
        let published = db::challenges::published_at(&state.pool, row.id, &phase.name)
            .await?
            .is_some();
        rows.push(web::PhaseRow {
            name: phase.name.clone(),
            split: phase.split.clone(),
            starts: phase.starts.map_or_else(|| "—".to_owned(), when),
            ends: phase.ends.map_or_else(|| "—".to_owned(), when),
            leaderboard: plain(&phase.visibility()),
            open: phase.is_open(now),
            published,
            hidden: phase.visibility() == Visibility::Hidden,
        });
    }
    Ok(rows)
}

pub(crate) fn submission_item(s: &db::submissions::SubmissionRow) -> web::SubmissionItem {
    web::SubmissionItem {
        id: s.id.to_string(),
        who: s.handle.clone(),
        label: if s.label.is_empty() {
            s.id.to_string()[..8].to_owned()
        } else {
            s.label.clone()
        },
        phase: s.phase.clone(),
        status: s.status.clone(),
        created: when(s.created_at),
        is_baseline: s.is_baseline,
        disqualified: s.disqualified,
    }
}

async fn build(
    state: &AppState,
    viewer: &Viewer,
    slug: &str,
    phase: Option<String>,
    form_error: Option<web::FieldError>,
    form_label: String,
) -> Result<web::ChallengePage, ApiError> {
    let (row, challenge) = load_challenge(state, slug).await?;
    let user = viewer.user();
    let is_organizer = organizes(state, user, row.id).await?;
    let now = Utc::now();
    let phase = phase.unwrap_or_else(|| challenge.default_phase(now).name.clone());
    let board = leaderboard::build(&state.pool, &row, &challenge, &phase).await?;
    let hidden = board.visibility == Visibility::Hidden && !board.published && !is_organizer;
    let (rows, board_note, pareto_svg) = if hidden {
        (
            Vec::new(),
            Some(format!(
                "The results of phase `{phase}` are hidden until the organizers publish them."
            )),
            String::new(),
        )
    } else {
        let svg = crate::pareto::svg(
            &board,
            crate::pareto::Axis::Latency,
            challenge.metric.higher_is_better(),
        );
        (board_rows(&board), None, svg)
    };
    let organizers = db::challenges::organizer_handles(&state.pool, row.id).await?;
    let mine = match user {
        Some(u) => db::submissions::of_challenge(&state.pool, row.id, Some(u.id))
            .await?
            .iter()
            .filter(|s| !s.is_baseline)
            .map(submission_item)
            .collect(),
        None => Vec::new(),
    };
    let ranking = challenge.ranking();
    let limits = &challenge.limits;
    let rules = facts(vec![
        ("Metric", challenge.metric.to_string()),
        ("Score from", plain(&challenge.score_from)),
        ("Ranking", describe_rule(&ranking.rule)),
        ("Over budget", plain(&ranking.over_budget)),
        (
            "Entries per participant",
            plain(&challenge.entries_per_participant),
        ),
        (
            "Submissions",
            format!(
                "{} per day, {} in total (failed ones do not count)",
                limits.per_day.map_or("no limit".into(), |n| n.to_string()),
                limits.total.map_or("no limit".into(), |n| n.to_string())
            ),
        ),
    ]);
    let target = facts(vec![
        ("FPGA part", challenge.target.part.clone()),
        (
            "Clock",
            format!(
                "{} ns ({:.0} MHz)",
                challenge.target.clock_ns,
                1000.0 / challenge.target.clock_ns
            ),
        ),
        (
            "Input",
            format!(
                "{} {}",
                challenge
                    .input
                    .column
                    .clone()
                    .unwrap_or_else(|| challenge.input.columns.join(", ")),
                challenge
                    .input
                    .shape
                    .as_ref()
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_default()
            ),
        ),
        ("Label", challenge.label.clone()),
    ]);
    Ok(web::ChallengePage {
        chrome: super::chrome(viewer),
        description_html: web::markdown(&challenge.description),
        organizers: organizers.join(", "),
        dataset: format!("{} {}", challenge.dataset.slug, challenge.dataset.version),
        dataset_url: format!(
            "/datasets/{}/versions/{}",
            challenge.dataset.slug, challenge.dataset.version
        ),
        budgets: budget_facts(&challenge),
        phases: super::challenge::phase_rows(state, &row, &challenge).await?,
        board_phase: phase,
        board_metric: board.metric.clone(),
        board: rows,
        board_note,
        pareto_svg,
        api_url: format!("/api/v1/challenges/{}", row.slug),
        is_organizer,
        open_phase: challenge.open_phase(now).map(|p| p.name.clone()),
        mine,
        form_error,
        form_label,
        target,
        rules,
        slug: row.slug,
        title: row.title,
    })
}

/// What the submission form sent.
#[derive(Default)]
struct SubmitForm {
    csrf: String,
    model: Option<Bytes>,
    config: Option<String>,
    label: String,
}

async fn read_form(mut form: Multipart) -> Result<SubmitForm, ApiError> {
    let mut out = SubmitForm::default();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("`form`: malformed upload: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let read_error = |e| ApiError::multipart_field(&name, e);
        match name.as_str() {
            "csrf" => out.csrf = field.text().await.map_err(read_error)?,
            "model" => {
                let bytes = field.bytes().await.map_err(read_error)?;
                out.model = Some(bytes).filter(|b| !b.is_empty());
            }
            "config" => {
                out.config = ops::submissions::clean_config(field.text().await.map_err(read_error)?)
            }
            "label" => {
                out.label = ops::submissions::clean_label(&field.text().await.map_err(read_error)?)
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "`form`: unexpected field `{other}`"
                )));
            }
        }
    }
    Ok(out)
}

/// The submission form: on success to the submission's page; on error the
/// challenge page again, with the message beside the field at fault.
pub async fn submit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    form: Multipart,
) -> Result<Response, PageError> {
    let path = format!("/challenges/{slug}");
    let user = super::require_user(&viewer, &path)?.clone();
    let form = read_form(form).await.or_page(&viewer)?;
    viewer.check_csrf(&form.csrf).or_page(&viewer)?;
    let label = form.label.clone();
    match accept(&state, &user, &slug, form).await {
        Ok(id) => Ok(see_other(&format!("/submissions/{id}"))),
        Err(ApiError::NotFound(m)) => Err(PageError::new(ApiError::NotFound(m), chrome(&viewer))),
        Err(error) => {
            let status = status_of(&error);
            let message = message_of(&error);
            let field = field_of(&message)
                .filter(|f| f == "model" || f == "config")
                .unwrap_or_else(|| "form".to_owned());
            let page = build(
                &state,
                &viewer,
                &slug,
                None,
                Some(web::FieldError { field, message }),
                label,
            )
            .await
            .or_page(&viewer)?;
            Ok(render_status(status, page))
        }
    }
}

async fn accept(
    state: &AppState,
    user: &db::users::User,
    slug: &str,
    form: SubmitForm,
) -> Result<uuid::Uuid, ApiError> {
    let (row, challenge) = load_challenge(state, slug).await?;
    let model = form
        .model
        .ok_or_else(|| ApiError::BadRequest("`model`: choose an ONNX file to upload".into()))?;
    let upload = ops::submissions::Upload {
        model,
        config: form.config,
        label: form.label,
        is_baseline: false,
        phase: None,
    };
    ops::submissions::submit(
        &state.pool,
        state.store.as_ref(),
        &row,
        &challenge,
        user,
        upload,
        Utc::now(),
        &state.settings.evaluation,
    )
    .await
}
