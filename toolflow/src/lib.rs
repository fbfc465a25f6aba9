//! toolflow: ONNX / QONNX models -> typed fixed-point IR -> bit-exact simulator.
//!
//! A pure library: it takes bytes and arrays and returns values; it does no
//! file or network IO. See `docs/TOOLFLOW.md` for the semantics.
//!
//! ```no_run
//! # fn main() -> toolflow::Result<()> {
//! let bytes = std::fs::read("model.onnx").unwrap();
//! let model = toolflow::compile(&bytes, None, &toolflow::Limits::default())?;
//! let y = model.simulate_f32(&vec![0.0; model.input_len() * 4], 4)?;
//! # Ok(()) }
//! ```

pub mod bdt;
pub mod cleanup;
pub mod config;
pub mod cost;
pub mod error;
pub mod fixed;
pub mod hls4ml;
pub mod hw;
pub mod ir;
pub mod kan;
pub mod layout;
pub mod limits;
mod lower;
pub mod model;
pub mod onnx;
pub mod sim;
pub mod summary;

pub use config::PrecisionConfig;
pub use cost::SimCost;
pub use error::{Error, Result};
pub use fixed::{FixedType, Overflow, Rounding};
pub use limits::Limits;
pub use model::{Family, ModelFormat};
pub use sim::arrow::simulate_batch;
pub use sim::parquet::{StreamStats, simulate_parquet};
pub use summary::Summary;

/// A compiled model: the IR plus its summary. For the families evaluated
/// outside the layer IR (tree ensembles, KAN), the IR holds only the input
/// cast and the output tensor, and `family` carries the model.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    ir: ir::Model,
    summary: Summary,
    family: Family,
}

/// Raw simulator output: integers per output tensor with their types.
#[derive(Debug, Clone)]
pub struct RawOutput {
    /// Per model output, `n * elems` raw integers (value = raw * 2^-frac).
    pub values: Vec<Vec<i64>>,
    pub types: Vec<FixedType>,
}

/// Compiles a model file of any supported format, recognised by its content
/// ([`model::detect`]): ONNX/QONNX (an ONNX-ML tree ensemble is read as a
/// BDT), XGBoost JSON or KAN JSON.
///
/// `config` is the hls4ml-style precision configuration (float front door);
/// without it, QONNX quantizers define the types and everything else is exact.
pub fn compile(
    bytes: &[u8],
    config: Option<&PrecisionConfig>,
    limits: &Limits,
) -> Result<CompiledModel> {
    if let Some(c) = config {
        c.validate()?;
    }
    model::compile(bytes, config, limits)
}

/// Parses, cleans up and lowers an ONNX/QONNX model.
pub(crate) fn compile_onnx(
    onnx: &[u8],
    config: Option<&PrecisionConfig>,
    limits: &Limits,
) -> Result<CompiledModel> {
    // An ONNX-ML tree ensemble (scikit-learn through skl2onnx) is a BDT.
    if bdt::onnx_ml::is_tree_ensemble(onnx, limits) {
        return bdt::compiled(bdt::onnx_ml::parse(onnx, limits)?, config);
    }
    let mut graph = onnx::graph::parse(onnx, limits)?;
    hls4ml::names::assign(&mut graph);
    // A float model (no QONNX quantizer) without a configuration gets hls4ml's
    // default, the configuration `config_from_onnx_model` writes at
    // granularity `model` (`Model: {Precision: fixed<16,6>}`).
    let default = PrecisionConfig::default();
    let config = match config {
        None if !graph.nodes.iter().any(|n| model::is_quantizer(&n.op)) => Some(&default),
        c => c,
    };
    if let Some(cfg) = config {
        hls4ml::names::check_layer_names(&graph, cfg)?;
    }
    cleanup::cleanup(&mut graph, config)?;
    let ir = lower::lower(&graph, config, limits)?;
    let summary = summary::summarize(&ir);
    Ok(CompiledModel {
        ir,
        summary,
        family: Family::Onnx,
    })
}

impl CompiledModel {
    /// The IR (for the estimator and RTL generator).
    pub fn ir(&self) -> &ir::Model {
        &self.ir
    }

    /// The model family (and, outside ONNX, the model itself).
    pub fn family(&self) -> &Family {
        &self.family
    }

    /// Layer table and totals.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// ONNX input shape with the batch dimension set to 1.
    pub fn input_shape(&self) -> &[usize] {
        &self.ir.input_shape
    }

    /// Values per sample at the input.
    pub fn input_len(&self) -> usize {
        self.ir.input_shape.iter().product()
    }

    /// Shape of the first output (batch dimension 1).
    pub fn output_shape(&self) -> &[usize] {
        self.ir
            .outputs
            .first()
            .map_or(&[], |&o| &self.ir.tensors[o].shape)
    }

    /// Values per sample over all outputs (concatenated in graph order).
    pub fn output_len(&self) -> usize {
        self.ir
            .outputs
            .iter()
            .map(|&o| self.ir.tensors[o].elems())
            .sum()
    }

    /// Fixed-point types of the outputs.
    pub fn output_types(&self) -> Vec<FixedType> {
        self.ir
            .outputs
            .iter()
            .map(|&o| self.ir.tensors[o].ty)
            .collect()
    }

    /// Simulates `n` samples; returns raw integers per output.
    pub fn simulate_raw(&self, inputs: &[f32], n: usize) -> Result<RawOutput> {
        let values = match &self.family {
            Family::Onnx => sim::run(&self.ir, inputs, n)?,
            Family::Bdt(b) => model::simulate_bdt(b, inputs, n)?,
            Family::Kan(k) => model::simulate_kan(k, inputs, n)?,
        };
        Ok(RawOutput {
            values,
            types: self.output_types(),
        })
    }

    /// Simulates `n` samples; returns per sample the outputs (concatenated) as f32.
    /// Exact for output types up to 24 significant bits.
    pub fn simulate_f32(&self, inputs: &[f32], n: usize) -> Result<Vec<f32>> {
        let raw = self.simulate_raw(inputs, n)?;
        let lens: Vec<usize> = self
            .ir
            .outputs
            .iter()
            .map(|&o| self.ir.tensors[o].elems())
            .collect();
        let total: usize = lens.iter().sum();
        let mut out = vec![0f32; n * total];
        let mut offset = 0;
        for ((vals, ty), len) in raw.values.iter().zip(&raw.types).zip(&lens) {
            let scale = 2f64.powi(-ty.frac);
            for s in 0..n {
                for e in 0..*len {
                    out[s * total + offset + e] = (vals[s * len + e] as f64 * scale) as f32;
                }
            }
            offset += len;
        }
        Ok(out)
    }
}
