//! Serializable summary of a compiled model: what the CLI prints and what
//! reports store.

use serde::{Deserialize, Serialize};

use crate::ir::{Accum, LayerKind, Model};

/// One layer of the summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerSummary {
    pub name: String,
    /// ONNX operator(s).
    pub op: String,
    /// IR layer kind.
    pub kind: String,
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shape: Vec<usize>,
    pub input_types: Vec<String>,
    pub output_type: String,
    pub weight_type: Option<String>,
    pub accum_type: Option<String>,
    pub parameters: u64,
    pub mults_per_sample: u64,
    pub reuse_factor: u32,
    pub strategy: String,
}

/// Totals over the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    pub layers: usize,
    pub parameters: u64,
    pub mults_per_sample: u64,
    /// Widest tensor type in bits.
    pub max_width: u32,
}

/// The whole summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub input_name: String,
    pub input_shape: Vec<usize>,
    pub input_type: Option<String>,
    pub output_shapes: Vec<Vec<usize>>,
    pub output_types: Vec<String>,
    pub layers: Vec<LayerSummary>,
    pub totals: Totals,
}

fn mults(kind: &LayerKind, out_elems: usize) -> u64 {
    let m = match kind {
        LayerKind::Dense(d) => d.n_in * d.n_out * d.outer,
        LayerKind::Conv(c) => c.weights.len() * c.out_h * c.out_w,
        LayerKind::Binary(b) if b.op == crate::ir::BinOp::Mul => out_elems,
        LayerKind::Pool(p) if !p.max => out_elems,
        LayerKind::Softmax(_) | LayerKind::LeakyRelu { .. } => out_elems,
        _ => 0,
    };
    m as u64
}

fn types_of(kind: &LayerKind) -> (Option<String>, Option<String>) {
    let acc = |a: &Accum| match a {
        Accum::Exact { ty: Some(t), .. } | Accum::PerProduct { ty: t } => Some(t.to_string()),
        Accum::Exact { ty: None, .. } => Some("exact".to_string()),
    };
    match kind {
        LayerKind::Dense(d) => (Some(d.w_type.to_string()), acc(&d.accum)),
        LayerKind::Conv(c) => (Some(c.w_type.to_string()), acc(&c.accum)),
        LayerKind::Table(t) => (Some(t.table_type.to_string()), None),
        _ => (None, None),
    }
}

/// Builds the summary of a model.
pub fn summarize(m: &Model) -> Summary {
    let layers: Vec<LayerSummary> = m
        .layers
        .iter()
        .map(|l| {
            let out = &m.tensors[l.output];
            let (weight_type, accum_type) = types_of(&l.kind);
            LayerSummary {
                name: l.name.clone(),
                op: l.op.clone(),
                kind: l.kind.name().to_string(),
                input_shapes: l
                    .inputs
                    .iter()
                    .map(|&t| m.tensors[t].shape.clone())
                    .collect(),
                output_shape: out.shape.clone(),
                input_types: l
                    .inputs
                    .iter()
                    .map(|&t| m.tensors[t].ty.to_string())
                    .collect(),
                output_type: out.ty.to_string(),
                weight_type,
                accum_type,
                parameters: l.kind.parameters(),
                mults_per_sample: mults(&l.kind, out.elems()),
                reuse_factor: l.reuse_factor,
                strategy: l.strategy.clone(),
            }
        })
        .collect();
    let totals = Totals {
        layers: layers.len(),
        parameters: layers.iter().map(|l| l.parameters).sum(),
        mults_per_sample: layers.iter().map(|l| l.mults_per_sample).sum(),
        max_width: m.tensors.iter().map(|t| t.ty.width).max().unwrap_or(0),
    };
    let input_type = m
        .layers
        .iter()
        .find(|l| matches!(l.kind, LayerKind::InputQuant(_) | LayerKind::InputCast(_)))
        .map(|l| m.tensors[l.output].ty.to_string());
    Summary {
        input_name: m.input_name.clone(),
        input_shape: m.input_shape.clone(),
        input_type,
        output_shapes: m
            .outputs
            .iter()
            .map(|&o| m.tensors[o].shape.clone())
            .collect(),
        output_types: m
            .outputs
            .iter()
            .map(|&o| m.tensors[o].ty.to_string())
            .collect(),
        layers,
        totals,
    }
}

impl Summary {
    /// Human-readable table.
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "input  {} {:?} {}\n",
            self.input_name,
            self.input_shape,
            self.input_type.as_deref().unwrap_or("-")
        );
        s += &format!(
            "{:<28} {:<14} {:<14} {:<18} {:<26} {:<22} {:>10} {:>12} {:>4}\n",
            "layer",
            "op",
            "kind",
            "output shape",
            "output type",
            "weight type",
            "params",
            "mults",
            "RF"
        );
        for l in &self.layers {
            s += &format!(
                "{:<28} {:<14} {:<14} {:<18} {:<26} {:<22} {:>10} {:>12} {:>4}\n",
                truncate(&l.name, 28),
                truncate(&l.op, 14),
                l.kind,
                format!("{:?}", l.output_shape),
                l.output_type,
                l.weight_type.as_deref().unwrap_or("-"),
                l.parameters,
                l.mults_per_sample,
                l.reuse_factor
            );
        }
        s += &format!(
            "total: {} layers, {} parameters, {} multiplications per sample, widest tensor {} bits\n",
            self.totals.layers,
            self.totals.parameters,
            self.totals.mults_per_sample,
            self.totals.max_width
        );
        s
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
