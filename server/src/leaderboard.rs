//! Leaderboards: the finished submissions of a phase, filtered by the
//! challenge's entry policy, ranked by its rule, with provenance per entry; and
//! their exports (JSON, CSV, Parquet).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use challenges::{Challenge, EntryPolicy, Visibility};
use chrono::{DateTime, Utc};
use db::challenges::ChallengeRow;
use db::submissions::SubmissionRow;
use scoring::{Entry, HardwareFigures};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::ApiError;

/// One row of a leaderboard.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub rank: usize,
    pub position: usize,
    pub submission_id: String,
    pub participant: String,
    pub label: String,
    pub is_baseline: bool,
    /// The ranking rule's score (the metric for `primary`).
    pub score: f64,
    pub metrics: BTreeMap<String, f64>,
    pub hardware: HardwareFigures,
    pub in_budget: bool,
    pub violations: Vec<String>,
    pub submitted_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Where the numbers come from: model, dataset and toolflow.
    pub provenance: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Leaderboard {
    pub challenge: String,
    pub phase: String,
    pub split: String,
    pub metric: String,
    pub visibility: Visibility,
    pub published: bool,
    pub rows: Vec<Row>,
    /// Entries left out of the ranking, with the reason.
    pub excluded: Vec<scoring::Excluded>,
}

/// Build the leaderboard of `phase`.
pub async fn build(
    pool: &PgPool,
    row: &ChallengeRow,
    challenge: &Challenge,
    phase: &str,
) -> Result<Leaderboard, ApiError> {
    let phase_def = challenge.phase(phase).ok_or_else(|| {
        ApiError::NotFound(format!(
            "challenge `{}` has no phase `{phase}`",
            challenge.slug
        ))
    })?;
    let published = db::challenges::published_at(pool, row.id, phase)
        .await?
        .is_some();
    let submissions = db::submissions::finished_in_phase(pool, row.id, phase).await?;
    let candidates = match challenge.entries_per_participant {
        EntryPolicy::Latest => latest_per_participant(&submissions),
        EntryPolicy::Best | EntryPolicy::All => submissions.iter().collect(),
    };
    let entries: Vec<Entry> = candidates.iter().map(|s| entry(s)).collect();
    let ranking = challenge.ranking();
    let pareto = matches!(ranking.rule, scoring::RankingRule::Pareto { .. });
    let ranked = scoring::rank(&entries, &ranking, Some(&challenge.budget))
        .map_err(|e| ApiError::BadRequest(format!("ranking: {e}")))?;
    let by_id = |id: &str| candidates.iter().find(|s| s.id.to_string() == id).copied();
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for ranked_entry in &ranked.ranked {
        let Some(submission) = by_id(&ranked_entry.id) else {
            continue;
        };
        if challenge.entries_per_participant == EntryPolicy::Best
            && !seen.insert(participant_key(submission))
        {
            continue;
        }
        let position = rows.len() + 1;
        // Pareto ranks are front numbers; other rules rank by position after filtering.
        let rank = if pareto { ranked_entry.rank } else { position };
        rows.push(to_row(submission, ranked_entry, position, rank));
    }
    Ok(Leaderboard {
        challenge: challenge.slug.clone(),
        phase: phase.to_owned(),
        split: phase_def.split.clone(),
        metric: challenge.metric.to_string(),
        visibility: phase_def.visibility(),
        published,
        rows,
        excluded: ranked.excluded,
    })
}

/// Baselines count as their own participants, one per label.
fn participant_key(s: &SubmissionRow) -> String {
    if s.is_baseline {
        format!("baseline:{}", s.label)
    } else {
        s.user_id.to_string()
    }
}

fn latest_per_participant(submissions: &[SubmissionRow]) -> Vec<&SubmissionRow> {
    let mut latest: BTreeMap<String, &SubmissionRow> = BTreeMap::new();
    for s in submissions {
        latest.insert(participant_key(s), s);
    }
    latest.into_values().collect()
}

fn entry(s: &SubmissionRow) -> Entry {
    let results = s.results.as_ref();
    let metrics = results
        .and_then(|r| r.get("metrics"))
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    let hardware = results
        .and_then(|r| r.get("hardware"))
        .and_then(|h| serde_json::from_value(h.clone()).ok())
        .unwrap_or_default();
    Entry {
        id: s.id.to_string(),
        submitted_at: s.created_at.timestamp_millis(),
        metrics,
        hardware,
    }
}

fn to_row(s: &SubmissionRow, ranked: &scoring::RankedEntry, position: usize, rank: usize) -> Row {
    let entry = entry(s);
    Row {
        rank,
        position,
        submission_id: s.id.to_string(),
        participant: if s.is_baseline {
            "baseline".to_owned()
        } else {
            s.handle.clone()
        },
        label: s.label.clone(),
        is_baseline: s.is_baseline,
        score: ranked.score,
        metrics: entry.metrics,
        hardware: entry.hardware,
        in_budget: ranked.in_budget,
        violations: ranked.violations.clone(),
        submitted_at: s.created_at,
        finished_at: s.updated_at,
        provenance: s
            .results
            .as_ref()
            .and_then(|r| r.get("provenance"))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

fn provenance_str(row: &Row, key: &str) -> String {
    match row.provenance.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The flat columns of the CSV and Parquet exports.
const COLUMNS: [&str; 21] = [
    "rank",
    "position",
    "participant",
    "label",
    "is_baseline",
    "score",
    "latency_ns",
    "latency_cycles",
    "ii",
    "lut",
    "ff",
    "dsp",
    "bram",
    "in_budget",
    "violations",
    "submission_id",
    "model_sha256",
    "dataset_version",
    "dataset_content_sha256",
    "toolflow_version",
    "submitted_at",
];

/// CSV (RFC 4180), one row per entry.
pub fn to_csv(board: &Leaderboard) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for row in &board.rows {
        let hw = &row.hardware;
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let fields = [
            row.rank.to_string(),
            row.position.to_string(),
            text_cell(&row.participant),
            text_cell(&row.label),
            row.is_baseline.to_string(),
            row.score.to_string(),
            hw.latency_ns.map(|v| v.to_string()).unwrap_or_default(),
            opt(hw.latency_cycles),
            opt(hw.ii),
            opt(hw.lut),
            opt(hw.ff),
            opt(hw.dsp),
            hw.bram.map(|v| v.to_string()).unwrap_or_default(),
            row.in_budget.to_string(),
            text_cell(&row.violations.join("; ")),
            row.submission_id.clone(),
            provenance_str(row, "model_sha256"),
            provenance_str(row, "dataset_version"),
            provenance_str(row, "dataset_content_sha256"),
            provenance_str(row, "toolflow_version"),
            row.submitted_at.to_rfc3339(),
        ];
        let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

/// A cell of text a participant chose (handle, label): one that a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@`, tab or carriage return first)
/// gets a leading apostrophe, which spreadsheets show as text (OWASP's advice
/// against CSV injection). Numbers are written as they are.
fn text_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// Parquet, one row per entry, typed columns.
pub fn to_parquet(board: &Leaderboard) -> Result<Vec<u8>, ApiError> {
    let rows = &board.rows;
    let u = |f: &dyn Fn(&Row) -> Option<u64>| {
        Arc::new(UInt64Array::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let fl = |f: &dyn Fn(&Row) -> Option<f64>| {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let s = |f: &dyn Fn(&Row) -> String| {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let columns: Vec<ArrayRef> = vec![
        u(&|r| Some(r.rank as u64)),
        u(&|r| Some(r.position as u64)),
        s(&|r| r.participant.clone()),
        s(&|r| r.label.clone()),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.is_baseline).collect::<Vec<_>>(),
        )),
        fl(&|r| Some(r.score)),
        fl(&|r| r.hardware.latency_ns),
        u(&|r| r.hardware.latency_cycles),
        u(&|r| r.hardware.ii),
        u(&|r| r.hardware.lut),
        u(&|r| r.hardware.ff),
        u(&|r| r.hardware.dsp),
        fl(&|r| r.hardware.bram),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.in_budget).collect::<Vec<_>>(),
        )),
        s(&|r| r.violations.join("; ")),
        s(&|r| r.submission_id.clone()),
        s(&|r| provenance_str(r, "model_sha256")),
        s(&|r| provenance_str(r, "dataset_version")),
        s(&|r| provenance_str(r, "dataset_content_sha256")),
        s(&|r| provenance_str(r, "toolflow_version")),
        s(&|r| r.submitted_at.to_rfc3339()),
    ];
    let fields: Vec<Field> = COLUMNS
        .iter()
        .zip(&columns)
        .map(|(name, array)| {
            Field::new(
                *name,
                array.data_type().clone(),
                !matches!(array.data_type(), DataType::Utf8 | DataType::Boolean),
            )
        })
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| ApiError::BadRequest(format!("leaderboard export: {e}")))?;
    let mut buffer = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buffer, batch.schema(), None)
        .map_err(|e| ApiError::BadRequest(format!("leaderboard export: {e}")))?;
    writer
        .write(&batch)
        .map_err(|e| ApiError::BadRequest(format!("leaderboard export: {e}")))?;
    writer
        .close()
        .map_err(|e| ApiError::BadRequest(format!("leaderboard export: {e}")))?;
    Ok(buffer)
}

/// Croissant JSON-LD describing the leaderboard as a dataset: its CSV and
/// Parquet exports (with sha256) and one record set with a field per column.
pub fn croissant(
    board: &Leaderboard,
    challenge: &Challenge,
    organizers: &[String],
    base_url: &str,
) -> Result<Value, ApiError> {
    use serde_json::json;
    use sha2::{Digest, Sha256};
    let page = format!(
        "{base_url}/api/v1/challenges/{}/leaderboard",
        board.challenge
    );
    let query = format!("?phase={}", board.phase);
    let csv = to_csv(board);
    let parquet = to_parquet(board)?;
    let types: [(&str, &str); 21] = [
        ("rank", "sc:Integer"),
        ("position", "sc:Integer"),
        ("participant", "sc:Text"),
        ("label", "sc:Text"),
        ("is_baseline", "sc:Boolean"),
        ("score", "sc:Float"),
        ("latency_ns", "sc:Float"),
        ("latency_cycles", "sc:Integer"),
        ("ii", "sc:Integer"),
        ("lut", "sc:Integer"),
        ("ff", "sc:Integer"),
        ("dsp", "sc:Integer"),
        ("bram", "sc:Float"),
        ("in_budget", "sc:Boolean"),
        ("violations", "sc:Text"),
        ("submission_id", "sc:Text"),
        ("model_sha256", "sc:Text"),
        ("dataset_version", "sc:Text"),
        ("dataset_content_sha256", "sc:Text"),
        ("toolflow_version", "sc:Text"),
        ("submitted_at", "sc:DateTime"),
    ];
    let fields: Vec<Value> = types
        .iter()
        .map(|(name, data_type)| {
            json!({
                "@type": "cr:Field",
                "@id": format!("leaderboard/{name}"),
                "name": name,
                "dataType": data_type,
                "source": { "fileObject": { "@id": "leaderboard.csv" }, "extract": { "column": name } },
            })
        })
        .collect();
    let creators: Vec<Value> = organizers
        .iter()
        .map(|h| json!({ "@type": "sc:Person", "name": h }))
        .collect();
    Ok(json!({
        "@context": datasets::metadata::croissant::context(),
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.1",
        "name": format!("{}-{}-leaderboard", board.challenge, board.phase),
        "description": format!(
            "Leaderboard of the {} phase of the FastML Arena challenge `{}` ({}), scored with {} on the {} split of {} {}; hardware target {} at {} ns.",
            board.phase, challenge.title, board.challenge, board.metric, board.split,
            challenge.dataset.slug, challenge.dataset.version, challenge.target.part, challenge.target.clock_ns
        ),
        "url": format!("{page}{query}"),
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "creator": creators,
        "datePublished": chrono::Utc::now().date_naive().to_string(),
        "version": "1.0.0",
        "isBasedOn": format!("{base_url}/api/v1/datasets/{}/versions/{}", challenge.dataset.slug, challenge.dataset.version),
        "keywords": ["leaderboard", "FPGA", "fast machine learning", "anomaly detection"],
        "distribution": [
            {
                "@type": "cr:FileObject",
                "@id": "leaderboard.csv",
                "name": "leaderboard.csv",
                "contentUrl": format!("{page}.csv{query}"),
                "encodingFormat": "text/csv",
                "sha256": hex::encode(Sha256::digest(csv.as_bytes())),
            },
            {
                "@type": "cr:FileObject",
                "@id": "leaderboard.parquet",
                "name": "leaderboard.parquet",
                "contentUrl": format!("{page}.parquet{query}"),
                "encodingFormat": "application/x-parquet",
                "sha256": hex::encode(Sha256::digest(&parquet)),
            }
        ],
        "recordSet": [{
            "@type": "cr:RecordSet",
            "@id": "leaderboard",
            "name": "leaderboard",
            "description": "One row per leaderboard entry, best first.",
            "field": fields,
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::{csv_field, text_cell};

    #[test]
    fn formula_cells_are_defused_and_numbers_kept() {
        for formula in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert!(text_cell(formula).starts_with('\''), "{formula:?}");
        }
        assert_eq!(text_cell("pat"), "pat");
        assert_eq!(
            csv_field(&text_cell("=1,2")),
            "\"'=1,2\"",
            "quoted after escaping"
        );
    }
}
