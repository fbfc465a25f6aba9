//! The bit-exact simulator: integer arithmetic only, batched over samples,
//! parallel over chunks of samples with rayon. Chunks are independent and
//! results are concatenated in order, so runs are deterministic.

pub mod arrow;
mod fast;
mod kernels;
pub mod parquet;
mod pointwise;

use std::borrow::Cow;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ir::{LayerKind, Model};

/// Samples per parallel work item: large enough to amortise per-layer set-up,
/// small enough that buffers stay in cache-friendly sizes.
const CHUNK: usize = fast::LANES;

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

/// [`run`], returning the outputs as f32 (`value = raw * 2^-frac`; exact up
/// to 24 significant bits), per sample all outputs concatenated. Each chunk
/// writes its rows straight into the result.
pub fn run_f32(model: &Model, x: &[f32], n: usize) -> Result<Vec<f32>> {
    let in_len: usize = model.input_shape.iter().product();
    if x.len() != n.saturating_mul(in_len) {
        return Err(Error::Data(format!(
            "{} input values for {n} samples of {in_len}",
            x.len()
        )));
    }
    let outs: Vec<(usize, f64)> = model
        .outputs
        .iter()
        .map(|&o| {
            let t = &model.tensors[o];
            (t.elems(), 2f64.powi(-t.ty.frac))
        })
        .collect();
    let total: usize = outs.iter().map(|o| o.0).sum();
    let mut y = vec![0f32; n * total];
    if in_len == 0 || total == 0 {
        return Ok(y);
    }
    let last_use = last_uses(model);
    y.par_chunks_mut(CHUNK * total)
        .zip(x.par_chunks(CHUNK * in_len))
        .for_each(|(yc, xc)| {
            let m = xc.len() / in_len;
            let raw = run_chunk(model, xc, m, &last_use);
            let mut offset = 0;
            for (vals, &(len, scale)) in raw.iter().zip(&outs) {
                for (row, v) in yc.chunks_exact_mut(total).zip(vals.chunks_exact(len)) {
                    for (o, &r) in row[offset..offset + len].iter_mut().zip(v) {
                        *o = (r as f64 * scale) as f32;
                    }
                }
                offset += len;
            }
        });
    Ok(y)
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

/// A tensor's values for one chunk: sample-major (`[sample][elem]`, the
/// layout of the model's input and output) or lane-major (`[elem][LANES]`,
/// zero-padded to [`fast::LANES`] samples, the layout of the 16-bit kernels).
/// Elementwise layers keep whichever layout they get, so a chain of 16-bit
/// Dense/Conv layers with activations between them is transposed only at
/// its two ends.
struct Buf {
    data: Vec<i64>,
    lanes: bool,
}

/// Whether a layer computes each output from the same element of its one
/// input only (then the layout does not matter).
fn elementwise(kind: &LayerKind) -> bool {
    match kind {
        LayerKind::Relu
        | LayerKind::LeakyRelu { .. }
        | LayerKind::Clip { .. }
        | LayerKind::Table(_)
        | LayerKind::Cast => true,
        LayerKind::Requant(rq) => rq.params.len() == 1,
        _ => false,
    }
}

/// The narrow (16-bit) parameters of a layer, if it runs lane-major.
fn lane_kernel(kind: &LayerKind) -> bool {
    match kind {
        LayerKind::Dense(d) => d.narrow.is_some(),
        LayerKind::Conv(c) => c.narrow.is_some(),
        _ => false,
    }
}

fn run_chunk(model: &Model, x: &[f32], n: usize, last_use: &[usize]) -> Vec<Vec<i64>> {
    let mut bufs: Vec<Option<Buf>> = (0..model.tensors.len()).map(|_| None).collect();
    let lanes_ok = n <= fast::LANES;
    for (i, layer) in model.layers.iter().enumerate() {
        let lane_layer = lanes_ok && lane_kernel(&layer.kind);
        let keep = elementwise(&layer.kind)
            && layer.inputs.len() == 1
            && bufs[layer.inputs[0]].as_ref().is_some_and(|b| b.lanes);
        let want_lanes = lane_layer || keep;
        // An elementwise layer that reads the last use of a buffer in the
        // right layout overwrites it instead of allocating a new one.
        if elementwise(&layer.kind) && layer.inputs.len() == 1 {
            let t = layer.inputs[0];
            let lanes_match = bufs[t].as_ref().is_some_and(|b| b.lanes == want_lanes);
            if last_use[t] == i
                && lanes_match
                && let Some(mut b) = bufs[t].take()
            {
                in_place(model, i, &mut b.data);
                bufs[layer.output] = Some(b);
                continue;
            }
        }
        let out = {
            let inputs: Vec<Cow<[i64]>> = layer
                .inputs
                .iter()
                .map(|&t| match &bufs[t] {
                    Some(b) => relayout(b, want_lanes, model.tensors[t].elems(), n),
                    None => Cow::Borrowed(&[][..]),
                })
                .collect();
            let inputs: Vec<&[i64]> = inputs.iter().map(|c| c.as_ref()).collect();
            if lane_layer {
                run_lane_layer(layer, inputs[0])
            } else {
                // Elementwise layers see a lane-major buffer as LANES samples.
                let rows = if want_lanes { fast::LANES } else { n };
                run_layer(model, i, &inputs, x, rows)
            }
        };
        bufs[layer.output] = Some(Buf {
            data: out,
            lanes: want_lanes,
        });
        for &t in &layer.inputs {
            if last_use[t] == i {
                bufs[t] = None;
            }
        }
    }
    model
        .outputs
        .iter()
        .map(|&o| match &bufs[o] {
            Some(b) => relayout(b, false, model.tensors[o].elems(), n).into_owned(),
            None => Vec::new(),
        })
        .collect()
}

/// Runs an [`elementwise`] layer over `data` in place.
fn in_place(model: &Model, index: usize, data: &mut [i64]) {
    let layer = &model.layers[index];
    let out_ty = &model.tensors[layer.output].ty;
    match &layer.kind {
        LayerKind::Relu => data.iter_mut().for_each(|v| *v = (*v).max(0)),
        LayerKind::Cast => {
            let from = &model.tensors[layer.inputs[0]];
            let c = out_ty.caster(from.ty.frac, from.lo, from.hi);
            if !c.is_identity() {
                data.iter_mut().for_each(|v| *v = c.cast(*v));
            }
        }
        _ => {
            let y = run_layer(model, index, &[data], &[], 0);
            data.copy_from_slice(&y);
        }
    }
}

/// `b` in the wanted layout (borrowed when it already is).
fn relayout(b: &Buf, lanes: bool, elems: usize, n: usize) -> Cow<'_, [i64]> {
    match (b.lanes, lanes) {
        (false, false) | (true, true) => Cow::Borrowed(&b.data),
        (false, true) => Cow::Owned(fast::to_lanes(&b.data, n, elems)),
        (true, false) => Cow::Owned(fast::from_lanes(&b.data, n, elems)),
    }
}

fn run_lane_layer(layer: &crate::ir::Layer, x: &[i64]) -> Vec<i64> {
    match &layer.kind {
        LayerKind::Dense(d) => d.narrow.as_ref().map(|nw| fast::dense(d, nw, x)),
        LayerKind::Conv(c) => c.narrow.as_ref().map(|nw| fast::conv(c, nw, x)),
        _ => None,
    }
    .unwrap_or_default()
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
        LayerKind::Cast => {
            let from = in_info(0);
            pointwise::cast(&out_info.ty, from.ty.frac, from.lo, from.hi, a)
        }
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
