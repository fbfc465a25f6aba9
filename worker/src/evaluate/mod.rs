//! `submission.evaluate`: compile a submitted model, simulate it bit-exactly on
//! the phase's test split, work out its hardware figures, score it, and record
//! the result. Each step is a status of the submission, timestamped.
//!
//! The work itself runs in a child process ([`child`], `arena evaluate-child`)
//! under an address-space limit and a wall-clock limit: this module fetches
//! the model and the split into a scratch directory, starts the child, turns
//! its events into statuses and log lines, and records the outcome. A child
//! past a limit is killed and the submission fails naming the limit, without
//! a retry; cancelling or disqualifying the submission, or shutting the worker
//! down, kills the child at once.
//!
//! Failures of the submission itself (a malformed model, an unsupported
//! operator, an output of the wrong size) end it as `failed` with a human
//! message; failures of the platform (store or database unreachable) are
//! retried by the queue.

pub mod admission;
pub mod child;
mod columns;
mod hardware;
pub mod log;
pub mod protocol;
pub mod result;
mod sandbox;
mod tar;

use std::sync::Arc;

use challenges::Challenge;
use datasets::{SplitName, VersionMeta};
use futures::future::BoxFuture;
use object_store::ObjectStore;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{Handler, Job, JobError};
use admission::{EvalLimits, SplitFacts};
pub use log::Log;
use protocol::{Outcome, Request, Scored};
use result::{Evaluation, Provenance, Rtl, ScoredFile};
pub use sandbox::Sandbox;

/// Object-store prefix of submitted models (content-addressed).
pub const MODELS_PREFIX: &str = "models";
/// Object-store prefix of dataset files (content-addressed).
pub const DATASETS_PREFIX: &str = "datasets";
/// Object-store prefix of RTL bundles (tar, content-addressed).
pub const RTL_PREFIX: &str = "rtl";

pub struct EvaluateHandler {
    pub pool: PgPool,
    pub store: Arc<dyn ObjectStore>,
    /// How evaluation children are started, and their site limits.
    pub sandbox: Sandbox,
}

impl Handler for EvaluateHandler {
    fn kind(&self) -> &'static str {
        db::submissions::EVALUATE_JOB
    }

    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(self.evaluate(job))
    }
}

/// Why an evaluation stopped before an outcome of the child.
enum Stop {
    /// The submission is at fault: it fails with this message.
    Submission(String),
    /// The platform is at fault: retry later.
    Platform(String),
    /// It was cancelled (or disqualified) while running.
    Cancelled,
}

fn platform(e: impl std::fmt::Display) -> Stop {
    Stop::Platform(e.to_string())
}

/// What the worker knows of a submission before the child starts.
struct Prepared {
    submission: db::submissions::SubmissionRow,
    challenge: Challenge,
    version: VersionMeta,
    split_name: String,
    files: Vec<datasets::FileMeta>,
    facts: SplitFacts,
    limits: EvalLimits,
}

impl EvaluateHandler {
    async fn evaluate(&self, job: &Job) -> Result<Value, JobError> {
        let id = job
            .payload
            .get("submission_id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| JobError::permanent("job payload lacks a submission_id"))?;
        let mut log = Log::default();
        let outcome = self.steps(id, &mut log).await;
        log.end_step();
        let (status, message, results) = match outcome {
            Ok(Ok(evaluation)) => ("finished", None, Some(evaluation)),
            Ok(Err((message, detail))) => {
                log.line(&format!("error: {message}"));
                if let Some(detail) = detail {
                    log.organizers(&format!("error: {detail}"));
                }
                ("failed", Some(message), None)
            }
            Err(Stop::Submission(message)) => {
                log.line(&format!("error: {message}"));
                ("failed", Some(message), None)
            }
            Err(Stop::Cancelled) => {
                return Ok(serde_json::json!({ "submission_id": id, "status": "cancelled" }));
            }
            Err(Stop::Platform(message)) => {
                let retry = db::submissions::LogLines {
                    submitter: "a fault of the platform interrupted the evaluation; it will be retried\n",
                    organizers: &format!("retrying after: {message}\n"),
                };
                let _ = db::submissions::append_log(&self.pool, id, &retry).await;
                return Err(JobError::transient(message));
            }
        };
        let results = results
            .map(serde_json::to_value)
            .transpose()
            .map_err(|e| JobError::permanent(e.to_string()))?;
        let ended = db::submissions::Conclusion {
            status,
            message: message.as_deref(),
            results: results.as_ref(),
            log: &log.text,
            organizer_log: &log.organizers,
        };
        db::submissions::conclude(&self.pool, id, &ended)
            .await
            .map_err(|e| JobError::transient(e.to_string()))?;
        Ok(serde_json::json!({ "submission_id": id, "status": status }))
    }

    /// Everything from loading the submission to the child's outcome: the
    /// evaluation, or why the submission failed (for its submitter, and for
    /// the organizers).
    async fn steps(
        &self,
        id: Uuid,
        log: &mut Log,
    ) -> Result<Result<Evaluation, (String, Option<String>)>, Stop> {
        let prepared = self.prepare(id).await?;
        let scratch = sandbox::Scratch::new(&self.sandbox.scratch, id).map_err(platform)?;
        let request = self.fetch(&prepared, &scratch).await?;
        let outcome = self
            .sandbox
            .run(&self.pool, id, &scratch, &request, log)
            .await?;
        match outcome {
            Outcome::Scored(scored) => Ok(Ok(self.record(&prepared, *scored, &request).await?)),
            Outcome::Failed { message, detail } => Ok(Err((message, detail))),
            Outcome::Platform { message } => Err(Stop::Platform(message)),
        }
    }

    /// Load the submission, its challenge and the phase's split.
    async fn prepare(&self, id: Uuid) -> Result<Prepared, Stop> {
        let submission = db::submissions::get(&self.pool, id)
            .await
            .map_err(platform)?
            .ok_or_else(|| Stop::Submission("the submission no longer exists".into()))?;
        if db::submissions::FINAL.contains(&submission.status.as_str()) || submission.disqualified {
            return Err(Stop::Cancelled);
        }
        let row = db::challenges::by_id(&self.pool, submission.challenge_id)
            .await
            .map_err(platform)?
            .ok_or_else(|| Stop::Submission("the challenge no longer exists".into()))?;
        let challenge: Challenge = serde_json::from_value(row.definition).map_err(platform)?;
        let version_row = db::datasets::version_by_id(&self.pool, row.dataset_version_id)
            .await
            .map_err(platform)?
            .ok_or_else(|| Stop::Platform("the challenge's dataset version is missing".into()))?;
        let version: VersionMeta = serde_json::from_value(version_row.doc).map_err(platform)?;
        let phase = challenge.phase(&submission.phase).ok_or_else(|| {
            Stop::Submission(format!("phase `{}` no longer exists", submission.phase))
        })?;
        let split_name = SplitName::parse(&phase.split)
            .ok_or_else(|| Stop::Platform(format!("unknown split {}", phase.split)))?;
        let split = version.split(split_name).ok_or_else(|| {
            Stop::Platform(format!("the dataset version has no {} split", phase.split))
        })?;
        let facts = SplitFacts::of(&version, split, &challenge);
        let limits = self.sandbox.limits.for_challenge(&challenge);
        Ok(Prepared {
            files: split.files.clone(),
            split_name: phase.split.clone(),
            submission,
            challenge,
            version,
            facts,
            limits,
        })
    }

    /// Copy the model and the split's files into the scratch directory.
    async fn fetch(&self, p: &Prepared, scratch: &sandbox::Scratch) -> Result<Request, Stop> {
        let model = scratch.path("model");
        self.copy(MODELS_PREFIX, &p.submission.model_sha256, &model)
            .await?;
        let mut files = Vec::new();
        for (i, file) in p.files.iter().enumerate() {
            let path = scratch.path(&format!("split-{i}.parquet"));
            self.copy(DATASETS_PREFIX, &file.sha256, &path).await?;
            files.push(path);
        }
        Ok(Request {
            submission_id: p.submission.id,
            challenge: p.challenge.clone(),
            split: p.facts,
            files,
            model,
            config: p.submission.config_text.clone(),
            limits: p.limits,
            rtl: scratch.path("rtl.tar"),
        })
    }

    async fn copy(&self, prefix: &str, sha256: &str, to: &std::path::Path) -> Result<(), Stop> {
        let key = datasets::store::content_path(prefix, sha256);
        datasets::store::copy_to_file(self.store.as_ref(), &key, to)
            .await
            .map_err(|e| Stop::Platform(format!("reading {key}: {e}")))
    }

    /// Store the RTL bundle the child wrote and assemble the evaluation.
    async fn record(
        &self,
        p: &Prepared,
        scored: Scored,
        request: &Request,
    ) -> Result<Evaluation, Stop> {
        let rtl = match scored.rtl {
            Ok(files) => {
                let tar = tokio::fs::read(&request.rtl).await.map_err(platform)?;
                let bytes = tar.len() as u64;
                let stored =
                    datasets::store::put_content(self.store.as_ref(), RTL_PREFIX, tar.into())
                        .await
                        .map_err(platform)?;
                Rtl::Stored {
                    sha256: stored.sha256,
                    bytes,
                    files,
                }
            }
            Err(skipped) => Rtl::Skipped { skipped },
        };
        let submission = &p.submission;
        Ok(Evaluation {
            metrics: [(scored.metric, scored.value)].into_iter().collect(),
            hardware: scored.hardware,
            report: scored.report,
            fits_budget: scored.violations.is_empty(),
            violations: scored.violations,
            rtl,
            samples: scored.samples,
            provenance: Provenance {
                model_sha256: submission.model_sha256.clone(),
                config_sha256: submission
                    .config_text
                    .as_deref()
                    .map(|c| datasets::parquet_io::sha256_hex(c.as_bytes())),
                dataset: p.challenge.dataset.slug.clone(),
                dataset_version: p.version.version.clone(),
                dataset_content_sha256: p.version.content_hash.clone(),
                split: p.split_name.clone(),
                files: p
                    .files
                    .iter()
                    .map(|f| ScoredFile {
                        name: f.name.clone(),
                        sha256: f.sha256.clone(),
                        rows: f.rows,
                    })
                    .collect(),
                toolflow_version: toolflow_version().to_owned(),
                target: p.challenge.target.clone(),
            },
        })
    }
}

/// The toolflow's version, recorded with every result.
pub fn toolflow_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
