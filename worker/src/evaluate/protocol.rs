//! What the worker and its evaluation child say to each other. The worker
//! writes a [`Request`] to `request.json` in the child's work directory; the
//! child answers with [`Event`]s, one JSON object per line on its standard
//! output, the last of which is [`Event::Done`].
//!
//! The child reaches no database, object store or network: everything it
//! reads is in its work directory, and everything it learns goes back through
//! these events.

use std::path::PathBuf;

use challenges::Challenge;
use scoring::HardwareFigures;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admission::{EvalLimits, SplitFacts};
use super::log::Audience;
use super::result::HardwareReport;

/// The name of the request file in the work directory.
pub const REQUEST_FILE: &str = "request.json";

/// One evaluation, as the child runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub submission_id: Uuid,
    pub challenge: Challenge,
    pub split: SplitFacts,
    /// The split's Parquet files, in order.
    pub files: Vec<PathBuf>,
    pub model: PathBuf,
    pub config: Option<String>,
    pub limits: EvalLimits,
    /// Where the child writes the RTL bundle (a tar), when there is one.
    pub rtl: PathBuf,
}

/// The steps of an evaluation; each is a status of the submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Compiling,
    Simulating,
    Synthesizing,
    Scoring,
}

impl Step {
    /// The submission status of the step.
    pub fn status(self) -> &'static str {
        match self {
            Step::Compiling => "compiling",
            Step::Simulating => "simulating",
            Step::Synthesizing => "synthesizing",
            Step::Scoring => "scoring",
        }
    }
}

/// A message of the child.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Step { step: Step },
    Log { audience: Audience, line: String },
    Done { outcome: Outcome },
}

/// How the child's evaluation ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Scored(Box<Scored>),
    /// The submission fails. `message` is for its submitter; `detail`, when
    /// present, for the organizers only (it depends on the hidden labels).
    Failed {
        message: String,
        detail: Option<String>,
    },
    /// A fault of the platform (a file that cannot be read): try again later.
    Platform {
        message: String,
    },
}

/// What a scored evaluation measured; the worker adds the provenance and the
/// stored RTL bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scored {
    pub metric: String,
    pub value: f64,
    pub hardware: HardwareFigures,
    pub report: HardwareReport,
    pub violations: Vec<String>,
    pub samples: u64,
    /// The bundle's file names (written to `Request::rtl`), or why there is none.
    pub rtl: Result<Vec<String>, String>,
}
