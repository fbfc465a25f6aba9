//! The evaluation child: a process of its own (`arena evaluate-child DIR`)
//! that compiles the model, streams the split through the simulator, prices
//! the hardware and scores the result, under the memory and time limits its
//! worker set before it started. It reads only its work directory and talks
//! only through [`Event`]s on its standard output, so a model that exhausts
//! its limits takes down nothing but this process.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use challenges::Challenge;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use scoring::{Keys, ScoreInputs, Scores};

use super::admission;
use super::columns::{self, Collected};
use super::hardware;
use super::log::Audience;
use super::protocol::{Event, Outcome, REQUEST_FILE, Request, Scored, Step};

/// Run the evaluation described in `dir/request.json`; returns the exit code.
pub fn main(dir: &Path) -> i32 {
    let stdout = std::io::stdout();
    let mut events = Events {
        out: std::io::BufWriter::new(stdout.lock()),
    };
    let outcome = match read_request(dir) {
        Ok(request) => {
            // A panic is a bug of ours; the model that found it fails with a
            // plain message and the organizers get the panic's.
            let run = std::panic::AssertUnwindSafe(|| evaluate(&request, &mut events));
            std::panic::catch_unwind(run).unwrap_or_else(|panic| Outcome::Failed {
                message: "the evaluation failed on an internal error; the organizers can see it"
                    .into(),
                detail: Some(format!("panic: {}", panic_text(panic.as_ref()))),
            })
        }
        Err(message) => Outcome::Platform { message },
    };
    events.send(&Event::Done { outcome });
    0
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn read_request(dir: &Path) -> Result<Request, String> {
    let path = dir.join(REQUEST_FILE);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// The child's side of the protocol: one JSON line per event, flushed at once
/// so the worker sees each step as it starts.
struct Events<W: Write> {
    out: W,
}

impl<W: Write> Events<W> {
    fn send(&mut self, event: &Event) {
        // A worker that stopped reading has killed us or is about to: nothing to do.
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }

    fn step(&mut self, step: Step) {
        self.send(&Event::Step { step });
    }

    fn line(&mut self, line: impl Into<String>) {
        self.log(Audience::Submitter, line);
    }

    fn organizers(&mut self, line: impl Into<String>) {
        self.log(Audience::Organizers, line);
    }

    fn log(&mut self, audience: Audience, line: impl Into<String>) {
        self.send(&Event::Log {
            audience,
            line: line.into(),
        });
    }
}

/// Why the evaluation stopped early.
fn failed(message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        message: message.into(),
        detail: None,
    }
}

/// A failure whose reason depends on the hidden labels: the submitter learns
/// only that it happened.
fn failed_on_labels(detail: impl Into<String>) -> Outcome {
    Outcome::Failed {
        message: "the test split's labels could not score this submission; the organizers \
                  can see why"
            .into(),
        detail: Some(detail.into()),
    }
}

fn evaluate<W: Write>(request: &Request, events: &mut Events<W>) -> Outcome {
    match run(request, events) {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

fn run<W: Write>(request: &Request, events: &mut Events<W>) -> Result<Outcome, Outcome> {
    let challenge = &request.challenge;
    events.step(Step::Compiling);
    let started = Instant::now();
    let bytes = std::fs::read(&request.model).map_err(|e| Outcome::Platform {
        message: format!("reading the model: {e}"),
    })?;
    let config = request
        .config
        .as_deref()
        .map(toolflow::PrecisionConfig::parse)
        .transpose()
        .map_err(|e| failed(format!("precision configuration: {e}")))?;
    let model = toolflow::compile(&bytes, config.as_ref(), &toolflow::Limits::default())
        .map_err(|e| failed(format!("compiling the model: {e}")))?;
    drop(bytes);
    if !challenge.input.accepts(model.input_shape()) {
        return Err(failed(format!(
            "the model input has shape {:?}; this challenge feeds {:?} per sample",
            model.input_shape(),
            challenge.input.shape.clone().unwrap_or_default()
        )));
    }
    let totals = &model.summary().totals;
    events.line(format!(
        "compiled in {:.1} ms: {} layers, {} parameters, {} multiplications per sample",
        started.elapsed().as_secs_f64() * 1e3,
        totals.layers,
        totals.parameters,
        totals.mults_per_sample
    ));
    if !matches!(model.family(), toolflow::Family::Onnx) {
        // Trees and KANs: the summary's second row names the model (trees, depth, tables).
        let what = model.summary().layers.get(1).map_or("", |l| l.op.as_str());
        events.line(format!("model family {}: {what}", model.family().name()));
    }
    let cost = model.sim_cost();
    admission::admit_work(&cost, challenge, request.split, &request.limits).map_err(failed)?;

    events.step(Step::Simulating);
    let started = Instant::now();
    let chunk = admission::chunk_rows(&cost);
    let mut collected = Collected::default();
    for file in &request.files {
        simulate_file(&model, challenge, file, chunk, &mut collected)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    events.line(format!(
        "simulated {} samples in {:.2} s ({:.0} samples/s)",
        collected.samples,
        seconds,
        collected.samples as f64 / seconds.max(1e-9)
    ));

    events.step(Step::Synthesizing);
    let root = format!("submission-{}-rtl", request.submission_id);
    let mut lines = Vec::new();
    let hardware = hardware::figures(
        &model,
        &challenge.target,
        challenge.synthesize,
        &root,
        &mut |line: &str| lines.push(line.to_owned()),
    );
    for line in lines {
        events.line(line);
    }
    let hardware::Hardware {
        figures,
        report,
        bundle,
    } = hardware.map_err(failed)?;
    let rtl = match bundle {
        Ok(bundle) => {
            std::fs::write(&request.rtl, &bundle.tar).map_err(|e| Outcome::Platform {
                message: format!("writing the RTL bundle: {e}"),
            })?;
            Ok(bundle.names)
        }
        Err(why) => Err(why),
    };

    events.step(Step::Scoring);
    let value = score(challenge, &collected)?;
    let metric = challenge.metric.to_string();
    events.organizers(format!("{metric} = {value}"));
    let violations = challenge
        .budget
        .violations(&figures)
        .into_iter()
        .map(|v| v.message)
        .collect();
    Ok(Outcome::Scored(Box::new(Scored {
        metric,
        value,
        hardware: figures,
        report,
        violations,
        samples: collected.samples,
        rtl,
    })))
}

/// The challenge metric over the collected scores. A score that is not a
/// number is the model's doing; any other refusal comes from the labels.
fn score(challenge: &Challenge, collected: &Collected) -> Result<f64, Outcome> {
    if let Some(i) = collected.scores.iter().position(|s| !s.is_finite()) {
        return Err(failed(format!(
            "the model's score for sample {i} is {}; scores must be finite numbers",
            collected.scores[i]
        )));
    }
    let inputs = ScoreInputs {
        labels: Some(&collected.labels),
        scores: Some(Scores::F64(&collected.scores)),
        days: Some(Keys::Int(&collected.rows)),
        stations: Some(Keys::Int(&collected.elements)),
        ..Default::default()
    };
    let metric = challenge.metric;
    metric
        .compute(&inputs)
        .map_err(|e| failed_on_labels(format!("scoring {metric}: {e}")))
}

/// Stream one Parquet file of the split through the model, `chunk` rows at a
/// time, and collect scores and labels.
fn simulate_file(
    model: &toolflow::CompiledModel,
    challenge: &Challenge,
    path: &Path,
    chunk: usize,
    out: &mut Collected,
) -> Result<(), Outcome> {
    let platform = |e: &dyn std::fmt::Display| Outcome::Platform {
        message: format!("reading {}: {e}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(|e| platform(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(chunk.max(1)).build())
        .map_err(|e| platform(&e))?;
    let (input_len, output_len) = (model.input_len(), model.output_len());
    for batch in reader {
        let batch = batch.map_err(|e| platform(&e))?;
        let n = batch.num_rows();
        let (labels, width) =
            columns::labels(&batch, &challenge.label).map_err(failed_on_labels)?;
        let x = columns::inputs(&batch, &challenge.input, input_len).map_err(failed)?;
        let y = model
            .simulate_f32(&x, n)
            .map_err(|e| failed(format!("simulating the model: {e}")))?;
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
        .map_err(failed)?;
    }
    Ok(())
}
