//! `submission.evaluate`: compile a submitted model, simulate it bit-exactly on
//! the phase's test split, work out its hardware figures, score it, and record
//! the result. Each step is a status of the submission, timestamped.
//!
//! Failures of the submission itself (a malformed model, an unsupported
//! operator, an output of the wrong size) end it as `failed` with a human
//! message; failures of the platform (store or database unreachable) are
//! retried by the queue.

mod columns;
mod hardware;
mod tar;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use challenges::Challenge;
use datasets::{SplitName, VersionMeta};
use futures::future::BoxFuture;
use object_store::ObjectStore;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use scoring::{Keys, ScoreInputs, Scores};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{Handler, Job, JobError};
use columns::Collected;

/// Object-store prefix of submitted models (content-addressed).
pub const MODELS_PREFIX: &str = "models";
/// Object-store prefix of dataset files (content-addressed).
pub const DATASETS_PREFIX: &str = "datasets";
/// Object-store prefix of RTL bundles (tar, content-addressed).
pub const RTL_PREFIX: &str = "rtl";

pub struct EvaluateHandler {
    pub pool: PgPool,
    pub store: Arc<dyn ObjectStore>,
}

impl Handler for EvaluateHandler {
    fn kind(&self) -> &'static str {
        db::submissions::EVALUATE_JOB
    }

    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(self.evaluate(job))
    }
}

/// Why an evaluation stopped.
enum Stop {
    /// The submission is at fault: it fails with this message.
    Submission(String),
    /// The platform is at fault: retry later.
    Platform(String),
    /// It was cancelled while running.
    Cancelled,
}

fn platform(e: impl std::fmt::Display) -> Stop {
    Stop::Platform(e.to_string())
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
        match outcome {
            Ok(results) => {
                db::submissions::conclude(
                    &self.pool,
                    id,
                    "finished",
                    None,
                    Some(&results),
                    &log.text,
                )
                .await
                .map_err(|e| JobError::transient(e.to_string()))?;
                Ok(json!({ "submission_id": id, "status": "finished" }))
            }
            Err(Stop::Submission(message)) => {
                log.line(&format!("error: {message}"));
                db::submissions::conclude(
                    &self.pool,
                    id,
                    "failed",
                    Some(&message),
                    None,
                    &log.text,
                )
                .await
                .map_err(|e| JobError::transient(e.to_string()))?;
                Ok(json!({ "submission_id": id, "status": "failed" }))
            }
            Err(Stop::Cancelled) => Ok(json!({ "submission_id": id, "status": "cancelled" })),
            Err(Stop::Platform(message)) => {
                let _ = db::submissions::append_log(
                    &self.pool,
                    id,
                    &format!("retrying after: {message}\n"),
                )
                .await;
                Err(JobError::transient(message))
            }
        }
    }

    async fn advance(&self, id: Uuid, status: &'static str, log: &mut Log) -> Result<(), Stop> {
        log.line(&format!("{status}..."));
        log.start_step(status);
        match db::submissions::advance(&self.pool, id, status).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Stop::Cancelled),
            Err(e) => Err(platform(e)),
        }
    }

    async fn steps(&self, id: Uuid, log: &mut Log) -> Result<Value, Stop> {
        let submission = db::submissions::get(&self.pool, id)
            .await
            .map_err(platform)?
            .ok_or_else(|| Stop::Submission("the submission no longer exists".into()))?;
        if db::submissions::FINAL.contains(&submission.status.as_str()) {
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

        self.advance(id, "compiling", log).await?;
        let started = Instant::now();
        let model_bytes = self.get(MODELS_PREFIX, &submission.model_sha256).await?;
        let config = submission
            .config_text
            .as_deref()
            .map(toolflow::PrecisionConfig::parse)
            .transpose()
            .map_err(|e| Stop::Submission(format!("precision configuration: {e}")))?;
        let model = toolflow::compile(&model_bytes, config.as_ref(), &toolflow::Limits::default())
            .map_err(|e| Stop::Submission(format!("compiling the model: {e}")))?;
        if !challenge.input.accepts(model.input_shape()) {
            return Err(Stop::Submission(format!(
                "the model input has shape {:?}; this challenge feeds {:?} per sample",
                model.input_shape(),
                challenge.input.shape.clone().unwrap_or_default()
            )));
        }
        log.line(&format!(
            "compiled in {:.1} ms: {} layers, {} parameters, {} multiplications per sample",
            started.elapsed().as_secs_f64() * 1e3,
            model.summary().totals.layers,
            model.summary().totals.parameters,
            model.summary().totals.mults_per_sample
        ));
        if !matches!(model.family(), toolflow::Family::Onnx) {
            // Trees and KANs: the summary's second row names the model (trees, depth, tables).
            let what = model.summary().layers.get(1).map_or("", |l| l.op.as_str());
            log.line(&format!("model family {}: {what}", model.family().name()));
        }

        // The compute-heavy steps run on the blocking pool: the runtime threads
        // keep serving heartbeats (and, in `arena up`, HTTP) meanwhile.
        let model = Arc::new(model);
        let shared_challenge = Arc::new(challenge.clone());
        self.advance(id, "simulating", log).await?;
        let started = Instant::now();
        let mut collected = Collected::default();
        let mut files = Vec::new();
        for file in &split.files {
            let bytes = self.get(DATASETS_PREFIX, &file.sha256).await?;
            let (m, c) = (model.clone(), shared_challenge.clone());
            collected = blocking(move || {
                simulate_file(&m, &c, bytes, &mut collected)?;
                Ok(collected)
            })
            .await?;
            files.push(json!({ "name": file.name, "sha256": file.sha256, "rows": file.rows }));
        }
        let seconds = started.elapsed().as_secs_f64();
        log.line(&format!(
            "simulated {} samples in {:.2} s ({:.0} samples/s)",
            collected.samples,
            seconds,
            collected.samples as f64 / seconds.max(1e-9)
        ));

        self.advance(id, "synthesizing", log).await?;
        let (m, c, mut moved_log) = (model.clone(), shared_challenge.clone(), std::mem::take(log));
        let root = format!("submission-{id}-rtl");
        let (hardware, returned_log) = blocking(move || {
            let hardware = hardware::figures(&m, &c.target, c.synthesize, &root, &mut moved_log)
                .map_err(Stop::Submission);
            Ok((hardware, moved_log))
        })
        .await?;
        *log = returned_log;
        let hardware::Hardware {
            figures,
            report,
            bundle,
        } = hardware?;
        let rtl = match bundle {
            Ok(bundle) => {
                let size = bundle.tar.len();
                let stored = datasets::store::put_content(
                    self.store.as_ref(),
                    RTL_PREFIX,
                    bytes::Bytes::from(bundle.tar),
                )
                .await
                .map_err(platform)?;
                log.line(&format!(
                    "RTL bundle: {} ({:.1} KiB)",
                    bundle.names.join(", "),
                    size as f64 / 1024.0
                ));
                json!({ "sha256": stored.sha256, "bytes": size, "files": bundle.names })
            }
            Err(why) => {
                log.line(&format!("no RTL bundle: {why}"));
                json!({ "skipped": why })
            }
        };

        self.advance(id, "scoring", log).await?;
        let metric = challenge.metric;
        let inputs = ScoreInputs {
            labels: Some(&collected.labels),
            scores: Some(Scores::F64(&collected.scores)),
            days: Some(Keys::Int(&collected.rows)),
            stations: Some(Keys::Int(&collected.elements)),
            ..Default::default()
        };
        let value = metric
            .compute(&inputs)
            .map_err(|e| Stop::Submission(format!("scoring {metric}: {e}")))?;
        log.line(&format!("{metric} = {value}"));
        let violations: Vec<String> = challenge
            .budget
            .violations(&figures)
            .into_iter()
            .map(|v| v.message)
            .collect();
        Ok(json!({
            "metrics": { metric.to_string(): value },
            "hardware": figures,
            "report": report,
            "fits_budget": violations.is_empty(),
            "violations": violations,
            "rtl": rtl,
            "samples": collected.samples,
            "provenance": {
                "model_sha256": submission.model_sha256,
                "config_sha256": submission.config_text.as_deref().map(|c| datasets::parquet_io::sha256_hex(c.as_bytes())),
                "dataset": challenge.dataset.slug,
                "dataset_version": version.version,
                "dataset_content_sha256": version.content_hash,
                "split": phase.split,
                "files": files,
                "toolflow_version": toolflow_version(),
                "target": challenge.target,
            },
        }))
    }

    async fn get(&self, prefix: &str, sha256: &str) -> Result<Bytes, Stop> {
        let key = datasets::store::content_path(prefix, sha256);
        datasets::store::get_bytes(self.store.as_ref(), &key)
            .await
            .map_err(|e| Stop::Platform(format!("reading {key}: {e}")))
    }
}

/// Run `work` on the blocking thread pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Stop> + Send + 'static,
) -> Result<T, Stop> {
    tokio::task::spawn_blocking(work).await.map_err(platform)?
}

/// Simulate one Parquet file of the split and collect scores and labels.
fn simulate_file(
    model: &toolflow::CompiledModel,
    challenge: &Challenge,
    bytes: Bytes,
    out: &mut Collected,
) -> Result<(), Stop> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| {
            b.with_batch_size(datasets::parquet_io::READ_BATCH_ROWS)
                .build()
        })
        .map_err(platform)?;
    let (input_len, output_len) = (model.input_len(), model.output_len());
    for batch in reader {
        let batch = batch.map_err(platform)?;
        let n = batch.num_rows();
        let (labels, width) = columns::labels(&batch, &challenge.label).map_err(Stop::Platform)?;
        let x = columns::inputs(&batch, &challenge.input, input_len).map_err(Stop::Submission)?;
        let y = model
            .simulate_f32(&x, n)
            .map_err(|e| Stop::Submission(format!("simulating the model: {e}")))?;
        columns::collect(
            out,
            challenge.score_from,
            &x,
            &y,
            n,
            input_len,
            output_len,
            labels,
            width,
        )
        .map_err(Stop::Submission)?;
    }
    Ok(())
}

/// The toolflow's version, recorded with every result.
pub fn toolflow_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The human log of an evaluation, kept with the submission; it also times the
/// steps for the `arena_job_step_duration_seconds` metric.
#[derive(Default)]
pub struct Log {
    pub text: String,
    started: Option<Instant>,
    step: Option<(&'static str, Instant)>,
}

impl Log {
    /// A new step begins: the previous one (if any) ends now.
    fn start_step(&mut self, step: &'static str) {
        self.end_step();
        self.step = Some((step, Instant::now()));
    }

    fn end_step(&mut self) {
        if let Some((step, started)) = self.step.take() {
            db::metrics::global()
                .job_step_seconds
                .observe(&[step], started.elapsed().as_secs_f64());
        }
    }

    pub fn line(&mut self, line: &str) {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.text.push_str(&format!(
            "[{:>8.3} s] {line}\n",
            started.elapsed().as_secs_f64()
        ));
    }
}
