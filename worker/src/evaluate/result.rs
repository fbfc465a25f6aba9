//! The result of an evaluation, as stored (jsonb, by serde) in
//! `submissions.results` and read back by the leaderboard, the API and the
//! pages. One type, so the writer and the readers cannot disagree on a key.

use std::collections::BTreeMap;

use challenges::Target;
use scoring::HardwareFigures;
use serde::{Deserialize, Serialize};

/// Everything an evaluation measured of one submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    /// The challenge metric by name (one entry).
    pub metrics: BTreeMap<String, f64>,
    /// Hardware figures of the tier in `report.tier`.
    pub hardware: HardwareFigures,
    pub report: HardwareReport,
    /// Whether the figures are within the challenge's budget, and if not, why.
    pub fits_budget: bool,
    #[serde(default)]
    pub violations: Vec<String>,
    pub rtl: Rtl,
    /// Scored samples (rows, or row x element for per-element labels).
    pub samples: u64,
    pub provenance: Provenance,
}

/// Which tool produced a hardware figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The analytical estimator (milliseconds, every submission).
    Estimate,
}

/// The hardware report of an evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HardwareReport {
    pub tier: Tier,
    pub device: ReportDevice,
    pub clock_ns: f64,
    pub estimate: toolflow::hw::estimate::Estimate,
    /// Percent of the device each resource takes (absent when the device has none).
    pub utilization_pct: Utilization,
    pub fits_device: bool,
}

/// The device of a report: its name and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportDevice {
    pub name: String,
    pub part: String,
    pub lut: u64,
    pub ff: u64,
    pub dsp: u64,
    pub bram36: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    pub lut: Option<f64>,
    pub ff: Option<f64>,
    pub dsp: Option<f64>,
    pub bram36: Option<f64>,
}

/// The RTL bundle of a submission: stored (content-addressed under `rtl/`),
/// or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Rtl {
    Stored {
        sha256: String,
        bytes: u64,
        files: Vec<String>,
    },
    Skipped {
        skipped: String,
    },
}

/// Where a result came from: enough to reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub model_sha256: String,
    pub config_sha256: Option<String>,
    pub dataset: String,
    pub dataset_version: String,
    pub dataset_content_sha256: String,
    pub split: String,
    pub files: Vec<ScoredFile>,
    pub toolflow_version: String,
    pub target: Target,
}

/// One file of the scored split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoredFile {
    pub name: String,
    pub sha256: String,
    pub rows: u64,
}
