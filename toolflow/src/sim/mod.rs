//! The bit-exact simulator: integer arithmetic only, batched over samples,
//! parallel over chunks of samples with rayon. Chunks are independent and
//! results are concatenated in order, so runs are deterministic.

pub mod arrow;
mod kernels;
pub mod parquet;
mod pointwise;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ir::{LayerKind, Model};

/// Samples per parallel work item: large enough to amortise per-layer set-up,
/// small enough that buffers stay in cache-friendly sizes.
const CHUNK: usize = 64;

/// Runs `n` samples (row-major `x`, `n * input_len` floats). Returns, per
/// model output, the raw integers of all samples (`n * output_len`).
pub fn run(model: &Model, x: &[f32], n: usize) -> Result<Vec<Vec<i64>>> {
    let in_len: usize = model.input_shape.iter().product();
    if x.len() != n.saturating_mul(in_len) {
        return Err(Error::Data(format!(
            "{} input values for {n} samples of {in_len}",
            x.len()
        )));
    }
    let last_use = last_uses(model);
    let chunks: Vec<Vec<Vec<i64>>> = x
        .par_chunks(CHUNK * in_len.max(1))
        .map(|c| run_chunk(model, c, c.len() / in_len.max(1), &last_use))
        .collect();
    let mut outs: Vec<Vec<i64>> = model
        .outputs
        .iter()
        .map(|&o| Vec::with_capacity(n * model.tensors[o].elems()))
        .collect();
    for chunk in chunks {
        for (o, part) in outs.iter_mut().zip(chunk) {
            o.extend_from_slice(&part);
        }
    }
    Ok(outs)
}

/// For each tensor, the index of the last layer reading it (outputs live to the end).
fn last_uses(model: &Model) -> Vec<usize> {
    let mut last = vec![0usize; model.tensors.len()];
    for (i, l) in model.layers.iter().enumerate() {
        for &t in &l.inputs {
            last[t] = i;
        }
    }
    for &o in &model.outputs {
        last[o] = usize::MAX;
    }
    last
}

fn run_chunk(model: &Model, x: &[f32], n: usize, last_use: &[usize]) -> Vec<Vec<i64>> {
    let mut bufs: Vec<Option<Vec<i64>>> = vec![None; model.tensors.len()];
    for (i, layer) in model.layers.iter().enumerate() {
        let out = {
            let inputs: Vec<&[i64]> = layer
                .inputs
                .iter()
                .map(|&t| bufs[t].as_deref().unwrap_or(&[]))
                .collect();
            run_layer(model, i, &inputs, x, n)
        };
        bufs[layer.output] = Some(out);
        for &t in &layer.inputs {
            if last_use[t] == i {
                bufs[t] = None;
            }
        }
    }
    model
        .outputs
        .iter()
        .map(|&o| bufs[o].clone().unwrap_or_default())
        .collect()
}

fn run_layer(model: &Model, index: usize, inputs: &[&[i64]], x: &[f32], n: usize) -> Vec<i64> {
    let layer = &model.layers[index];
    let out_info = &model.tensors[layer.output];
    let in_info = |k: usize| &model.tensors[layer.inputs[k]];
    let a = inputs.first().copied().unwrap_or(&[]);
    match &layer.kind {
        LayerKind::InputQuant(rq) => pointwise::input_quant(rq, x, out_info.elems()),
        LayerKind::InputCast(ty) => pointwise::input_cast(ty, x),
        LayerKind::Requant(rq) => pointwise::requant(rq, a, out_info.elems()),
        LayerKind::Cast => pointwise::cast(&out_info.ty, in_info(0).ty.frac, a),
        LayerKind::Dense(d) => kernels::dense(d, a, n * d.outer),
        LayerKind::Conv(c) => kernels::conv(c, a, n),
        LayerKind::Pool(p) => kernels::pool(p, a, n),
        LayerKind::Binary(b) => {
            let b_len = if inputs.len() > 1 {
                in_info(1).elems()
            } else {
                0
            };
            pointwise::binary(
                b,
                a,
                inputs.get(1).copied(),
                n,
                in_info(0).elems(),
                b_len,
                out_info.elems(),
            )
        }
        LayerKind::Relu => a.iter().map(|&v| v.max(0)).collect(),
        LayerKind::LeakyRelu { alpha, alpha_frac } => a
            .iter()
            .map(|&v| {
                if v < 0 {
                    v.wrapping_mul(*alpha)
                } else {
                    v.wrapping_shl(*alpha_frac)
                }
            })
            .collect(),
        LayerKind::Clip { shift, lo, hi } => a
            .iter()
            .map(|&v| v.wrapping_shl(*shift).clamp(*lo, *hi))
            .collect(),
        LayerKind::Table(t) => pointwise::table(t, a),
        LayerKind::Softmax(s) => pointwise::softmax(s, a),
        LayerKind::MultiThreshold(m) => pointwise::multithreshold(m, a, out_info.elems()),
        LayerKind::Gather { src, shifts } => {
            let lens: Vec<usize> = layer
                .inputs
                .iter()
                .map(|&t| model.tensors[t].elems())
                .collect();
            pointwise::gather(src, shifts, inputs, &lens, n, out_info.elems())
        }
    }
}
