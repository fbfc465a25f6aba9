//! Accepting a submission: phase, limits, a compile check (so a malformed model
//! is refused at once with the reason, and nothing is stored), then the model in
//! the store and the submission with its job in one transaction.

use bytes::Bytes;
use challenges::Challenge;
use chrono::{DateTime, Utc};
use db::challenges::ChallengeRow;
use db::users::User;
use object_store::ObjectStore;
use sqlx::PgPool;
use uuid::Uuid;

use crate::ApiError;
use worker::evaluate::admission::{self, EvalLimits, SplitFacts};

/// Object-store prefix of submitted models (content-addressed).
pub const MODELS_PREFIX: &str = worker::evaluate::MODELS_PREFIX;
/// Retries of an evaluation job before it fails for good (platform faults only).
pub const MAX_ATTEMPTS: i32 = 3;
/// Largest precision configuration accepted.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// What a participant (or organizer, for baselines) sends.
pub struct Upload {
    pub model: Bytes,
    pub config: Option<String>,
    pub label: String,
    pub is_baseline: bool,
    /// A phase to submit to; default: the phase open now. Only organizers name one.
    pub phase: Option<String>,
}

/// Check and accept a submission; returns its id. `limits` are the site's
/// limits of one evaluation (the challenge may lower them): a model whose
/// evaluation would cross one is refused here, before it is stored.
#[allow(clippy::too_many_arguments)]
pub async fn submit(
    pool: &PgPool,
    store: &dyn ObjectStore,
    row: &ChallengeRow,
    challenge: &Challenge,
    user: &User,
    upload: Upload,
    now: DateTime<Utc>,
    limits: &EvalLimits,
) -> Result<Uuid, ApiError> {
    let phase = match &upload.phase {
        Some(name) => challenge.phase(name).ok_or_else(|| {
            ApiError::BadRequest(format!("`phase`: the challenge has no phase `{name}`"))
        })?,
        None => challenge.open_phase(now).ok_or_else(|| {
            ApiError::Conflict("no phase of this challenge is open for submissions now".into())
        })?,
    };
    if !upload.is_baseline {
        check_limits(pool, row.id, challenge, phase, user.id, now).await?;
    }
    let compile_limits = toolflow::Limits::default();
    if upload.model.is_empty() {
        return Err(ApiError::BadRequest("`model`: the file is empty".into()));
    }
    if upload.model.len() > compile_limits.max_model_bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "`model`: {} bytes is over the limit of {} bytes",
            upload.model.len(),
            compile_limits.max_model_bytes
        )));
    }
    if upload
        .config
        .as_ref()
        .is_some_and(|c| c.len() > MAX_CONFIG_BYTES)
    {
        return Err(ApiError::PayloadTooLarge(format!(
            "`config`: over the limit of {MAX_CONFIG_BYTES} bytes"
        )));
    }
    let facts = split_facts(pool, row, challenge, &phase.split).await?;
    let limits = limits.for_challenge(challenge);
    check_model(&upload, challenge, facts, limits).await?;
    // From the object write to the row's commit, the sweeper of unreferenced
    // models (crate::maintenance) must leave this digest alone.
    let sha256 = datasets::parquet_io::sha256_hex(&upload.model);
    let mut lock = db::content_locks::shared(pool, &sha256).await?;
    let stored = datasets::store::put_content(store, MODELS_PREFIX, upload.model.clone())
        .await
        .map_err(|e| {
            // The store's message names server paths or buckets: log it, do not send it.
            tracing::error!(error = %e, "storing a submitted model failed");
            ApiError::Unavailable(
                "storing the model failed, nothing was recorded; try again later".into(),
            )
        })?;
    let new = db::submissions::NewSubmission {
        challenge_id: row.id,
        phase: &phase.name,
        user_id: user.id,
        label: &upload.label,
        is_baseline: upload.is_baseline,
        model_sha256: &stored.sha256,
        model_size: upload.model.len() as i64,
        config_text: upload.config.as_deref(),
    };
    let id = db::submissions::create_and_queue(lock.conn(), &new, MAX_ATTEMPTS).await?;
    if let Err(e) = lock.release().await {
        // Committed already: the lock goes with its closed connection.
        tracing::warn!(error = %e, "releasing a model's content lock failed");
    }
    Ok(id)
}

async fn check_limits(
    pool: &PgPool,
    challenge_id: Uuid,
    challenge: &Challenge,
    phase: &challenges::Phase,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let day_start = now.date_naive().and_hms_opt(0, 0, 0).map(|d| d.and_utc());
    let checks = [
        (challenge.limits.per_day, day_start, None, "per day"),
        (challenge.limits.total, None, None, "in total"),
        (
            phase.max_submissions,
            None,
            Some(phase.name.as_str()),
            "in this phase",
        ),
    ];
    for (limit, since, in_phase, what) in checks {
        let Some(limit) = limit else { continue };
        let used =
            db::submissions::count_for_limits(pool, challenge_id, user_id, since, in_phase).await?;
        if used >= i64::from(limit) {
            return Err(ApiError::TooManyRequests(format!(
                "submission limit reached: {limit} {what} (failed submissions do not count)"
            )));
        }
    }
    Ok(())
}

/// The facts of the split a phase scores (rows, label width).
async fn split_facts(
    pool: &PgPool,
    row: &ChallengeRow,
    challenge: &Challenge,
    split: &str,
) -> Result<SplitFacts, ApiError> {
    let version = db::datasets::version_by_id(pool, row.dataset_version_id)
        .await?
        .ok_or_else(|| {
            ApiError::Unavailable("the challenge's dataset version is missing".into())
        })?;
    let version: datasets::VersionMeta = serde_json::from_value(version.doc)
        .map_err(|e| ApiError::Unavailable(format!("stored dataset metadata unreadable: {e}")))?;
    let meta = datasets::SplitName::parse(split)
        .and_then(|name| version.split(name))
        .ok_or_else(|| {
            ApiError::Unavailable(format!("the dataset version has no `{split}` split"))
        })?;
    Ok(SplitFacts::of(&version, meta, challenge))
}

/// Compile the model (milliseconds) so a malformed or unsupported one is
/// refused with the toolflow's message before anything is stored; then check
/// what its evaluation would cost against the limits (422 naming the figure).
async fn check_model(
    upload: &Upload,
    challenge: &Challenge,
    facts: SplitFacts,
    limits: EvalLimits,
) -> Result<(), ApiError> {
    let model = upload.model.clone();
    let config = upload.config.clone();
    let challenge = challenge.clone();
    tokio::task::spawn_blocking(move || {
        let config = config
            .as_deref()
            .map(toolflow::PrecisionConfig::parse)
            .transpose()
            .map_err(|e| ApiError::Unprocessable(format!("`config`: {e}")))?;
        let compiled = toolflow::compile(&model, config.as_ref(), &toolflow::Limits::default())
            .map_err(|e| ApiError::Unprocessable(format!("`model`: {e}")))?;
        let input = &challenge.input;
        if !input.accepts(compiled.input_shape()) {
            return Err(ApiError::Unprocessable(format!(
                "`model`: its input has shape {:?}; this challenge feeds {:?} per sample",
                compiled.input_shape(),
                input.shape.clone().unwrap_or_default()
            )));
        }
        admission::admit(&compiled.sim_cost(), &challenge, facts, &limits)
            .map_err(|refusal| ApiError::Unprocessable(format!("`model`: {refusal}")))
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("model check crashed: {e}")))?
}

/// What one viewer may see of one submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmissionView {
    /// The submission exists for this viewer (otherwise answer 404, not 403).
    pub visible: bool,
    pub owner: bool,
    /// An organizer of its challenge, or an admin.
    pub organizer: bool,
    /// Its scores and hardware figures.
    pub results: bool,
    /// Its log, configuration, model and RTL bundle (owner and organizers).
    pub private: bool,
    /// The part of its log computed from hidden labels (organizers only).
    pub organizer_log: bool,
}

/// The one rule for who sees what of a submission, shared by the API and the
/// pages: its owner and the challenge's organizers always see it; anyone
/// else only a finished or baseline entry of a phase whose results are
/// public (a visible phase, or a hidden one once published). Scores of a
/// hidden, unpublished phase stay with the organizers (the owner sees them
/// once published), and nothing computed from hidden labels reaches the
/// owner through the log: that part is the organizers'.
pub async fn view(
    pool: &PgPool,
    challenge: &ChallengeRow,
    submission: &db::submissions::SubmissionRow,
    viewer: Option<&User>,
) -> Result<SubmissionView, ApiError> {
    let owner = viewer.is_some_and(|u| u.id == submission.user_id);
    let organizer = match viewer {
        Some(user) => {
            user.is_admin || db::challenges::is_organizer(pool, challenge.id, user.id).await?
        }
        None => false,
    };
    let definition = crate::ops::challenges::definition(challenge)?;
    let hidden = definition
        .phase(&submission.phase)
        .is_none_or(|p| p.visibility() == challenges::Visibility::Hidden)
        && db::challenges::published_at(pool, challenge.id, &submission.phase)
            .await?
            .is_none();
    let public_entry = !hidden && (submission.is_baseline || submission.status == "finished");
    Ok(SubmissionView {
        visible: owner || organizer || public_entry,
        owner,
        organizer,
        results: organizer || !hidden,
        private: owner || organizer,
        organizer_log: organizer,
    })
}

/// A submission and its challenge as `viewer` may see them; 404 when they may
/// not know it exists.
pub async fn load(
    pool: &PgPool,
    id: &str,
    viewer: Option<&User>,
) -> Result<(db::submissions::SubmissionRow, ChallengeRow, SubmissionView), ApiError> {
    let missing = || ApiError::NotFound(format!("no submission `{id}`"));
    let uuid = Uuid::parse_str(id).map_err(|_| missing())?;
    let submission = db::submissions::get(pool, uuid)
        .await?
        .ok_or_else(missing)?;
    let row = db::challenges::by_id(pool, submission.challenge_id)
        .await?
        .ok_or_else(missing)?;
    let view = view(pool, &row, &submission, viewer).await?;
    if !view.visible {
        return Err(missing());
    }
    Ok((submission, row, view))
}

/// Longest submission label kept, in characters.
pub const LABEL_CHARS: usize = 100;

/// A submitted label as stored: trimmed, at most [`LABEL_CHARS`] characters.
pub fn clean_label(text: &str) -> String {
    text.trim().chars().take(LABEL_CHARS).collect()
}

/// A submitted precision configuration: blank means none.
pub fn clean_config(text: String) -> Option<String> {
    Some(text).filter(|c| !c.trim().is_empty())
}
