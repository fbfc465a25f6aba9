//! Model formats and families: which reader a model file goes to
//! (recognised by content, not by file name) and how a family outside the
//! layer IR is simulated.
//!
//! - ONNX / QONNX: a protobuf (anything that is not a JSON object).
//! - XGBoost JSON (`Booster.save_model("m.json")`): a JSON object with `learner`.
//! - KAN JSON: a JSON object with `"format": "arena-kan/1"`.

use serde::Serialize;

use crate::bdt::{self, Bdt};
use crate::error::{Error, Result};
use crate::fixed::FixedType;
use crate::kan::{self, Kan};
use crate::{CompiledModel, Limits, PrecisionConfig};

/// The family of a compiled model.
#[derive(Debug, Clone)]
pub enum Family {
    /// ONNX / QONNX lowered to the layer IR.
    Onnx,
    /// A boosted decision tree ensemble.
    Bdt(Box<Bdt>),
    /// A Kolmogorov-Arnold network with tabulated edges.
    Kan(Box<Kan>),
}

impl Family {
    pub fn name(&self) -> &'static str {
        match self {
            Family::Onnx => "onnx",
            Family::Bdt(_) => "bdt",
            Family::Kan(_) => "kan",
        }
    }
}

/// A model file format, recognised by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFormat {
    Onnx,
    XgboostJson,
    KanJson,
}

/// Recognises the format of a model file by its content: a JSON object is
/// an XGBoost model when it has `learner`, a KAN when its `format` is
/// `arena-kan/...`; anything else is read as ONNX.
pub fn detect(bytes: &[u8]) -> Result<ModelFormat> {
    Ok(detect_parsed(bytes)?.0)
}

fn detect_parsed(bytes: &[u8]) -> Result<(ModelFormat, Option<serde_json::Value>)> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Ok((ModelFormat::Onnx, None));
    }
    let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::Invalid(format!("the model looks like JSON but does not parse: {e}"))
    })?;
    if doc.get("learner").is_some() {
        return Ok((ModelFormat::XgboostJson, Some(doc)));
    }
    let tag = doc.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if tag.starts_with("arena-kan/") {
        return Ok((ModelFormat::KanJson, Some(doc)));
    }
    Err(Error::Invalid(format!(
        "a JSON model must be an XGBoost model (`Booster.save_model`, with a `learner` object) or a KAN (`\"format\": \"{}\"`)",
        kan::format::FORMAT
    )))
}

/// Compiles a model file of any supported format.
pub(crate) fn compile(
    bytes: &[u8],
    config: Option<&PrecisionConfig>,
    limits: &Limits,
) -> Result<CompiledModel> {
    let json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if json && bytes.len() > limits.max_model_bytes {
        return Err(Error::Limit(format!(
            "the model file has {} bytes (at most {})",
            bytes.len(),
            limits.max_model_bytes
        )));
    }
    match detect_parsed(bytes)? {
        (ModelFormat::XgboostJson, Some(doc)) => {
            let ensemble = bdt::xgboost::parse(&doc)?;
            let (input, score) = bdt::precision(config)?;
            let model = Bdt::quantize(ensemble, input, score)?;
            Ok(CompiledModel {
                ir: model.stub_ir(),
                summary: model.summary(),
                family: Family::Bdt(Box::new(model)),
            })
        }
        (ModelFormat::KanJson, Some(doc)) => {
            if config.is_some() {
                return Err(Error::Config(
                    "a KAN file carries its own types (input_type, table_type, output_type); submit it without a precision configuration".into(),
                ));
            }
            let model = Kan::tabulate(&kan::KanFile::from_json(doc)?)?;
            Ok(CompiledModel {
                ir: model.stub_ir(),
                summary: model.summary(),
                family: Family::Kan(Box::new(model)),
            })
        }
        _ => crate::compile_onnx(bytes, config, limits),
    }
}

fn check_inputs(len: usize, n: usize, per_sample: usize) -> Result<()> {
    if len != n * per_sample {
        return Err(Error::Data(format!(
            "{len} input values for {n} samples of {per_sample}"
        )));
    }
    Ok(())
}

/// The input cast of the stub IR (as the layer IR's `InputCast`).
fn quantize_inputs(ty: &FixedType, inputs: &[f32]) -> Vec<i64> {
    inputs
        .iter()
        .map(|&v| ty.quantize_f64(f64::from(v)) as i64)
        .collect()
}

/// Simulates a tree ensemble: inputs are cast to the input type, then every sample walks the trees.
pub(crate) fn simulate_bdt(model: &Bdt, inputs: &[f32], n: usize) -> Result<Vec<Vec<i64>>> {
    let f = model.ensemble.n_features;
    check_inputs(inputs.len(), n, f)?;
    let x = quantize_inputs(&model.input_type, inputs);
    let o = model.ensemble.n_outputs;
    let mut out = vec![0i64; n * o];
    for (xs, ys) in x.chunks_exact(f).zip(out.chunks_exact_mut(o)) {
        model.eval_raw(xs, ys);
    }
    Ok(vec![out])
}

/// Simulates a KAN: inputs are cast to the input type, then every layer looks up and sums its tables.
pub(crate) fn simulate_kan(model: &Kan, inputs: &[f32], n: usize) -> Result<Vec<Vec<i64>>> {
    let f = model.n_inputs();
    check_inputs(inputs.len(), n, f)?;
    let x = quantize_inputs(&model.input_type(), inputs);
    let mut out = Vec::with_capacity(n * model.n_outputs());
    for xs in x.chunks_exact(f) {
        out.extend(model.eval_raw(xs));
    }
    Ok(vec![out])
}

/// QONNX quantizer operators: a model with one of them is a QONNX model
/// (its own types); one without is a float model.
pub fn is_quantizer(op: &str) -> bool {
    matches!(
        op,
        "Quant" | "IntQuant" | "BipolarQuant" | "Trunc" | "MultiThreshold"
    )
}
