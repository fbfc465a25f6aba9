//! The organizer console: create and edit a challenge by form or by YAML
//! (both go through `ops::challenges`, so the checks are the API's and the
//! CLI's), manage phases and publish final results, see submissions and
//! participants.
//!
//! Any signed-in user may create a challenge and becomes its organizer (as on
//! Codabench); only its organizers and admins manage it.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use challenges::Challenge;
use db::challenges::ChallengeRow;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::challenge::{phase_rows, submission_item};
use super::{
    OrPage, PageError, check_form, chrome, field_of, load_challenge, message_of, organizes, render,
    render_status, require_organizer, require_user, see_other, status_of,
};
use crate::accounts::Viewer;
use crate::{ApiError, AppState, ops};

const METRICS: [&str; 9] = [
    "roc_auc",
    "pr_auc",
    "tnr_at_tpr:0.9",
    "tpr_at_fpr:0.01",
    "f1:threshold=0",
    "flooding_score:threshold=0",
    "accuracy:threshold=0",
    "balanced_accuracy:threshold=0",
    "mse",
];

pub async fn index(State(state): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let user = require_user(&viewer, "/console")?;
    let challenges = if user.is_admin {
        db::challenges::list(&state.pool)
            .await
            .or_page(&viewer)?
            .into_iter()
            .map(|c| (c.slug, c.title))
            .collect()
    } else {
        db::users::organized_challenges(&state.pool, user.id)
            .await
            .or_page(&viewer)?
    };
    Ok(render(web::ConsolePage {
        chrome: chrome(&viewer),
        challenges,
        can_organize: user.holds("organize"),
    }))
}

/// The form's fields as typed.
#[derive(Debug, Default, Deserialize)]
pub struct ChallengeFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    dataset: String,
    #[serde(default)]
    dataset_version: String,
    #[serde(default)]
    input_column: String,
    #[serde(default)]
    input_shape: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    metric: String,
    #[serde(default)]
    part: String,
    #[serde(default)]
    clock_ns: String,
    #[serde(default)]
    max_latency_ns: String,
    #[serde(default)]
    max_lut: String,
    #[serde(default)]
    max_ff: String,
    #[serde(default)]
    max_dsp: String,
    #[serde(default)]
    max_bram: String,
    #[serde(default)]
    phases: String,
}

impl ChallengeFields {
    fn to_form(&self) -> web::ChallengeForm {
        web::ChallengeForm {
            slug: self.slug.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            dataset: self.dataset.clone(),
            dataset_version: self.dataset_version.clone(),
            input_column: self.input_column.clone(),
            input_shape: self.input_shape.clone(),
            label: self.label.clone(),
            metric: self.metric.clone(),
            part: self.part.clone(),
            clock_ns: self.clock_ns.clone(),
            max_latency_ns: self.max_latency_ns.clone(),
            max_lut: self.max_lut.clone(),
            max_ff: self.max_ff.clone(),
            max_dsp: self.max_dsp.clone(),
            max_bram: self.max_bram.clone(),
            phases: self.phases.clone(),
        }
    }
}

fn field_error(field: &str, message: String) -> web::FieldError {
    web::FieldError {
        field: field.to_owned(),
        message,
    }
}

fn opt_text<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The form prefilled from a stored definition.
fn form_of(challenge: &Challenge) -> web::ChallengeForm {
    let b = &challenge.budget;
    let phases = challenge
        .phases
        .iter()
        .map(|p| {
            let date = |d: Option<chrono::DateTime<chrono::Utc>>| {
                d.map_or("-".to_owned(), |d| {
                    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
            };
            let visibility = match p.visibility() {
                challenges::Visibility::Live => "live",
                challenges::Visibility::Hidden => "hidden",
            };
            format!(
                "{} {} {} {} {visibility}",
                p.name,
                p.split,
                date(p.starts),
                date(p.ends)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    web::ChallengeForm {
        slug: challenge.slug.clone(),
        title: challenge.title.clone(),
        description: challenge.description.clone(),
        dataset: challenge.dataset.slug.clone(),
        dataset_version: challenge.dataset.version.clone(),
        input_column: challenge
            .input
            .column
            .clone()
            .unwrap_or_else(|| challenge.input.columns.join(",")),
        input_shape: challenge
            .input
            .shape
            .as_ref()
            .map(|s| s.iter().map(usize::to_string).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        label: challenge.label.clone(),
        metric: challenge.metric.to_string(),
        part: challenge.target.part.clone(),
        clock_ns: challenge.target.clock_ns.to_string(),
        max_latency_ns: opt_text(b.max_latency_ns),
        max_lut: opt_text(b.max_lut),
        max_ff: opt_text(b.max_ff),
        max_dsp: opt_text(b.max_dsp),
        max_bram: opt_text(b.max_bram),
        phases,
    }
}

/// Parse a number field; empty means "not set".
fn number(field: &str, name: &str, text: &str) -> Result<Option<Value>, web::FieldError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| {
            Some(
                if v.fract() == 0.0 && name != "clock_ns" && name != "max_latency_ns" {
                    json!(v as u64)
                } else {
                    json!(v)
                },
            )
        })
        .ok_or_else(|| {
            field_error(
                field,
                format!("`{name}`: `{text}` is not a non-negative number"),
            )
        })
}

/// `name split [starts] [ends] [live|hidden]` per line; phases that existed
/// keep their other settings (per-phase limits).
fn phases_from(text: &str, old: Option<&Value>) -> Result<Value, web::FieldError> {
    let mut phases = Vec::new();
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 2 || words.len() > 5 {
            return Err(field_error(
                "phases",
                format!(
                    "line {}: write `name split [starts] [ends] [live|hidden]`",
                    i + 1
                ),
            ));
        }
        let mut phase = old
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|p| p["name"] == words[0]))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        phase.insert("name".into(), json!(words[0]));
        phase.insert("split".into(), json!(words[1]));
        for (key, index) in [("starts", 2), ("ends", 3)] {
            match words.get(index) {
                None | Some(&"-") => {
                    phase.insert(key.into(), Value::Null);
                }
                Some(date) => {
                    let parsed = chrono::DateTime::parse_from_rfc3339(date).map_err(|e| {
                        field_error("phases", format!("line {}: `{key}` `{date}`: {e} (RFC 3339, e.g. 2027-01-31T00:00:00Z)", i + 1))
                    })?;
                    phase.insert(key.into(), json!(parsed.with_timezone(&chrono::Utc)));
                }
            }
        }
        match words.get(4) {
            None => {}
            Some(v @ (&"live" | &"hidden")) => {
                phase.insert("leaderboard".into(), json!(v));
            }
            Some(other) => {
                return Err(field_error(
                    "phases",
                    format!(
                        "line {}: leaderboard `{other}` is not `live` or `hidden`",
                        i + 1
                    ),
                ));
            }
        }
        phases.push(Value::Object(phase));
    }
    Ok(Value::Array(phases))
}

/// The definition the form describes, on top of `base` (the stored definition
/// when editing, so fields the form lacks are kept), as YAML.
fn definition_from(
    fields: &ChallengeFields,
    base: Option<&Value>,
) -> Result<String, web::FieldError> {
    let mut doc: Map<String, Value> = base.and_then(Value::as_object).cloned().unwrap_or_default();
    doc.insert("slug".into(), json!(fields.slug.trim()));
    doc.insert("title".into(), json!(fields.title.trim()));
    doc.insert(
        "description".into(),
        json!(fields.description.replace("\r\n", "\n")),
    );
    let version = fields.dataset_version.trim();
    doc.insert(
        "dataset".into(),
        json!({ "slug": fields.dataset.trim(), "version": if version.is_empty() { "latest" } else { version } }),
    );
    let columns: Vec<&str> = fields
        .input_column
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let mut input = Map::new();
    if columns.len() == 1 {
        input.insert("column".into(), json!(columns[0]));
    } else {
        input.insert("columns".into(), json!(columns));
    }
    let shape = fields.input_shape.trim();
    if !shape.is_empty() {
        let dims: Result<Vec<usize>, _> = shape
            .split(',')
            .map(|d| d.trim().parse::<usize>())
            .collect();
        let dims = dims.map_err(|_| {
            field_error(
                "input",
                format!("`input.shape`: `{shape}` is not a list of whole numbers like `12,7`"),
            )
        })?;
        input.insert("shape".into(), json!(dims));
    }
    doc.insert("input".into(), Value::Object(input));
    doc.insert("label".into(), json!(fields.label.trim()));
    doc.insert("metric".into(), json!(fields.metric.trim()));
    let mut target = Map::new();
    target.insert("part".into(), json!(fields.part.trim()));
    if let Some(clock) = number("target", "clock_ns", &fields.clock_ns)? {
        target.insert("clock_ns".into(), clock);
    }
    doc.insert("target".into(), Value::Object(target));
    let mut budget: Map<String, Value> = doc
        .get("budget")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, text) in [
        ("max_latency_ns", &fields.max_latency_ns),
        ("max_lut", &fields.max_lut),
        ("max_ff", &fields.max_ff),
        ("max_dsp", &fields.max_dsp),
        ("max_bram", &fields.max_bram),
    ] {
        match number("budget", name, text)? {
            Some(value) => budget.insert(name.into(), value),
            None => budget.remove(name),
        };
    }
    doc.insert("budget".into(), Value::Object(budget));
    let phases = phases_from(&fields.phases, doc.get("phases"))?;
    doc.insert("phases".into(), phases);
    yaml::to_string(&Value::Object(doc))
        .map_err(|e| field_error("yaml", format!("cannot write the definition: {e}")))
}

/// The error of a definition, placed beside the form field it names.
fn definition_error(error: &ApiError, yaml_upload: bool) -> web::FieldError {
    let message = message_of(error);
    let field = if yaml_upload {
        "yaml".to_owned()
    } else {
        match field_of(&message).as_deref() {
            Some(
                "input" | "label" | "metric" | "target" | "budget" | "phases" | "slug" | "title"
                | "description" | "dataset",
            ) => field_of(&message).unwrap_or_default(),
            _ => "form".to_owned(),
        }
    };
    web::FieldError { field, message }
}

struct Editor<'a> {
    row: Option<&'a ChallengeRow>,
    form: web::ChallengeForm,
    yaml: String,
    error: Option<web::FieldError>,
    notice: Option<String>,
}

async fn editor_page(
    state: &AppState,
    viewer: &Viewer,
    editor: Editor<'_>,
) -> Result<web::ConsoleChallengePage, ApiError> {
    let datasets = db::datasets::list(&state.pool)
        .await?
        .into_iter()
        .map(|d| d.slug)
        .collect();
    let (mut phases, mut submissions, mut participants) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(row) = editor.row {
        let challenge = ops::challenges::definition(row)?;
        phases = phase_rows(state, row, &challenge).await?;
        let rows = db::submissions::of_challenge(&state.pool, row.id, None).await?;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for s in rows.iter().filter(|s| !s.is_baseline) {
            *counts.entry(s.handle.clone()).or_default() += 1;
        }
        participants = counts.into_iter().collect();
        submissions = rows.iter().map(submission_item).collect();
    }
    Ok(web::ConsoleChallengePage {
        chrome: chrome(viewer),
        slug: editor.row.map(|r| r.slug.clone()),
        form: editor.form,
        yaml: editor.yaml,
        error: editor.error,
        notice: editor.notice,
        metrics: METRICS.iter().map(|m| m.to_string()).collect(),
        datasets,
        phases,
        submissions,
        participants,
    })
}

const EXAMPLE: &str = "slug: my-challenge\ntitle: My challenge\ndescription: |\n  What to find, and why it matters.\ndataset: { slug: DATASET, version: latest }\ninput: { column: x }\nlabel: is_anomaly\nmetric: roc_auc\ntarget: { part: xc7a100t, clock_ns: 5 }\nbudget: { max_latency_ns: 100 }\nphases:\n  - { name: development, split: public_test }\n  - { name: final, split: private_test, starts: 2099-01-01T00:00:00Z }\n";

pub async fn new_form(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, PageError> {
    require_organizer(&viewer, "/console/new")?;
    let form = web::ChallengeForm {
        dataset_version: "latest".into(),
        metric: "roc_auc".into(),
        clock_ns: "5".into(),
        phases: "development public_test\nfinal private_test 2099-01-01T00:00:00Z - hidden".into(),
        ..Default::default()
    };
    let editor = Editor {
        row: None,
        form,
        yaml: EXAMPLE.to_owned(),
        error: None,
        notice: None,
    };
    Ok(render(
        editor_page(&state, &viewer, editor)
            .await
            .or_page(&viewer)?,
    ))
}

/// The stored challenge, when the viewer may manage it (else 403/404).
async fn managed(
    state: &AppState,
    viewer: &Viewer,
    slug: &str,
) -> Result<(ChallengeRow, Challenge), PageError> {
    let user = require_user(viewer, &format!("/console/{slug}"))?;
    let (row, challenge) = load_challenge(state, slug).await.or_page(viewer)?;
    if !organizes(state, Some(user), row.id).await.or_page(viewer)? {
        return Err(ApiError::Forbidden(format!(
            "only organizers of `{slug}` may manage it"
        )))
        .or_page(viewer);
    }
    Ok((row, challenge))
}

pub async fn manage(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let (row, challenge) = managed(&state, &viewer, &slug).await?;
    let editor = Editor {
        row: Some(&row),
        form: form_of(&challenge),
        yaml: challenge.to_yaml(),
        error: None,
        notice: None,
    };
    Ok(render(
        editor_page(&state, &viewer, editor)
            .await
            .or_page(&viewer)?,
    ))
}

/// Save a definition (create when `row` is `None`); on error, the page again
/// with the input and the message beside its field.
async fn save(
    state: &AppState,
    viewer: &Viewer,
    row: Option<&ChallengeRow>,
    yaml: Result<String, web::FieldError>,
    form: web::ChallengeForm,
    yaml_upload: bool,
) -> Result<Response, PageError> {
    let user = require_user(viewer, "/console")?;
    let outcome = match &yaml {
        Err(e) => Err((StatusCode::BAD_REQUEST, e.clone())),
        Ok(text) => {
            let authority = ops::challenges::Authority::User(user);
            let saved = match ops::challenges::parse(text) {
                Ok(challenge) => match row {
                    Some(row) => {
                        match ops::challenges::update(&state.pool, row, challenge, authority).await
                        {
                            Ok(()) => ops::challenges::audit(
                                &state.pool,
                                user,
                                "challenge.update",
                                row.id,
                                &row.slug,
                                serde_json::json!({ "via": "console" }),
                            )
                            .await
                            .map(|()| row.slug.clone()),
                            Err(e) => Err(e),
                        }
                    }
                    None => {
                        match ops::challenges::create(&state.pool, challenge, Some(user), authority)
                            .await
                        {
                            Ok(created) => ops::challenges::audit(
                                &state.pool,
                                user,
                                "challenge.create",
                                created.id,
                                &created.slug,
                                serde_json::json!({ "via": "console" }),
                            )
                            .await
                            .map(|()| created.slug),
                            Err(e) => Err(e),
                        }
                    }
                },
                Err(e) => Err(e),
            };
            saved.map_err(|e| (status_of(&e), definition_error(&e, yaml_upload)))
        }
    };
    match outcome {
        Ok(slug) => Ok(see_other(&format!("/console/{slug}"))),
        Err((status, error)) => {
            if matches!(status, StatusCode::INTERNAL_SERVER_ERROR) {
                return Err(PageError::new(
                    ApiError::Unavailable(error.message),
                    chrome(viewer),
                ));
            }
            let editor = Editor {
                row,
                form,
                yaml: yaml.unwrap_or_default(),
                error: Some(error),
                notice: None,
            };
            let page = editor_page(state, viewer, editor).await.or_page(viewer)?;
            Ok(render_status(status, page))
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(fields): Form<ChallengeFields>,
) -> Result<Response, PageError> {
    check_form(&viewer, &fields.csrf, "/console/new")?;
    require_organizer(&viewer, "/console/new")?;
    let yaml = definition_from(&fields, None);
    save(&state, &viewer, None, yaml, fields.to_form(), false).await
}

pub async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    Form(fields): Form<ChallengeFields>,
) -> Result<Response, PageError> {
    check_form(&viewer, &fields.csrf, &format!("/console/{slug}"))?;
    let (row, _) = managed(&state, &viewer, &slug).await?;
    let yaml = definition_from(&fields, Some(&row.definition));
    save(&state, &viewer, Some(&row), yaml, fields.to_form(), false).await
}

/// The YAML form: a file, or the pasted text.
async fn read_yaml(mut form: Multipart) -> Result<(String, String), ApiError> {
    let (mut csrf, mut file, mut pasted) = (String::new(), String::new(), String::new());
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("`yaml`: malformed upload: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let text = field
            .text()
            .await
            .map_err(|e| ApiError::BadRequest(format!("`{name}`: {e}")))?;
        match name.as_str() {
            "csrf" => csrf = text,
            "file" => file = text,
            "yaml" => pasted = text,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unexpected form field `{other}`"
                )));
            }
        }
    }
    let yaml = if file.trim().is_empty() { pasted } else { file };
    Ok((csrf, yaml.replace("\r\n", "\n")))
}

pub async fn create_yaml(
    State(state): State<AppState>,
    viewer: Viewer,
    form: Multipart,
) -> Result<Response, PageError> {
    require_organizer(&viewer, "/console/new")?;
    let (csrf, yaml) = read_yaml(form).await.or_page(&viewer)?;
    check_form(&viewer, &csrf, "/console/new")?;
    let form = Challenge::from_yaml(&yaml)
        .map(|c| form_of(&c))
        .unwrap_or_default();
    save(&state, &viewer, None, Ok(yaml), form, true).await
}

pub async fn update_yaml(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(slug): Path<String>,
    form: Multipart,
) -> Result<Response, PageError> {
    require_user(&viewer, &format!("/console/{slug}"))?;
    let (csrf, yaml) = read_yaml(form).await.or_page(&viewer)?;
    check_form(&viewer, &csrf, &format!("/console/{slug}"))?;
    let (row, challenge) = managed(&state, &viewer, &slug).await?;
    save(
        &state,
        &viewer,
        Some(&row),
        Ok(yaml),
        form_of(&challenge),
        true,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn publish(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((slug, phase)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let user = check_form(&viewer, &form.csrf, &format!("/console/{slug}"))?.clone();
    let (row, challenge) = managed(&state, &viewer, &slug).await?;
    if challenge.phase(&phase).is_none() {
        return Err(ApiError::NotFound(format!(
            "challenge `{slug}` has no phase `{phase}`"
        )))
        .or_page(&viewer);
    }
    db::challenges::publish_phase(&state.pool, row.id, &phase, user.id)
        .await
        .or_page(&viewer)?;
    ops::challenges::audit(
        &state.pool,
        &user,
        "phase.publish",
        row.id,
        &phase,
        serde_json::json!({ "via": "console" }),
    )
    .await
    .or_page(&viewer)?;
    Ok(see_other(&format!("/console/{slug}")))
}
