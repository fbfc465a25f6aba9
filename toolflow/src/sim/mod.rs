//! The bit-exact simulator: integer arithmetic only, batched over samples,
//! parallel over chunks of samples with rayon. Chunks are independent and
//! results are concatenated in order, so runs are deterministic.

pub mod arrow;
mod fast;
mod kernels;
pub mod parquet;
mod pointwise;

pub(crate) use pointwise::ceillog2;

use std::borrow::Cow;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ir::{LayerKind, Model};

/// Samples per parallel work item: large enough to amortise per-layer set-up,
/// small enough that buffers stay in cache-friendly sizes.
pub(crate) const CHUNK: usize = fast::LANES;

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
    let plan = Plan::new(model);
    let chunks: Vec<Vec<Vec<i64>>> = x
        .par_chunks(CHUNK * in_len.max(1))
        .map(|c| {
            let m = c.len() / in_len.max(1);
            run_chunk(model, c, m, &plan)
                .iter()
                .zip(&model.outputs)
                .map(|(b, &o)| to_i64(b, false, model.tensors[o].elems(), m).into_owned())
                .collect()
        })
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
    let total: usize = model
        .outputs
        .iter()
        .map(|&o| model.tensors[o].elems())
        .sum();
    let mut y = vec![0f32; n * total];
    run_f32_into(model, x, n, &mut y)?;
    Ok(y)
}

/// [`run_f32`] into `y` (`n * output_len` values).
pub fn run_f32_into(model: &Model, x: &[f32], n: usize, y: &mut [f32]) -> Result<()> {
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
    if y.len() != n.saturating_mul(total) {
        return Err(Error::Data(format!(
            "{} output values for {n} samples of {total}",
            y.len()
        )));
    }
    if in_len == 0 || total == 0 {
        y.fill(0.0);
        return Ok(());
    }
    let plan = Plan::new(model);
    y.par_chunks_mut(CHUNK * total)
        .zip(x.par_chunks(CHUNK * in_len))
        .for_each(|(yc, xc)| {
            let m = xc.len() / in_len;
            let bufs = run_chunk(model, xc, m, &plan);
            let mut offset = 0;
            for (b, &(len, scale)) in bufs.iter().zip(&outs) {
                match b {
                    _ if len == 0 => {}
                    Buf::Lanes32(v) => fast::lanes32_to_f32(v, m, len, scale, total, offset, yc),
                    b => {
                        let vals = to_i64(b, false, len, m);
                        for (row, v) in yc.chunks_exact_mut(total).zip(vals.chunks_exact(len)) {
                            for (o, &r) in row[offset..offset + len].iter_mut().zip(v) {
                                *o = (r as f64 * scale) as f32;
                            }
                        }
                    }
                }
                offset += len;
            }
        });
    Ok(())
}

/// A tensor's values for one chunk. Sample-major (`[sample][elem]`, the
/// layout of the model's input and output) or lane-major (`[elem][LANES]`,
/// zero-padded to [`fast::LANES`] samples, the layout of the 16-bit kernels).
/// Lane-major values whose proven range fits i32 are kept as i32 (the 16-bit
/// kernels' accumulators are i32), so a chain of 16-bit Dense/Conv layers with
/// ReLUs between them never widens to i64 and is transposed only at its ends.
enum Buf {
    Rows(Vec<i64>),
    Lanes(Vec<i64>),
    Lanes32(Vec<i32>),
}

impl Buf {
    fn lanes(&self) -> bool {
        !matches!(self, Buf::Rows(_))
    }
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

/// Whether a layer runs lane-major (it has 16-bit parameters).
fn lane_kernel(kind: &LayerKind) -> bool {
    match kind {
        LayerKind::Dense(d) => d.narrow.is_some(),
        LayerKind::Conv(c) => c.narrow.is_some(),
        _ => false,
    }
}

/// Whether every value of tensor `t` fits i32.
fn fits_i32(model: &Model, t: usize) -> bool {
    let info = &model.tensors[t];
    info.lo >= i64::from(i32::MIN) && info.hi <= i64::from(i32::MAX)
}

/// Per-run facts about the model that every chunk needs.
struct Plan {
    /// For each tensor, the index of the last layer reading it (outputs live to the end).
    last_use: Vec<usize>,
    /// For each tensor, whether a 16-bit kernel reads it.
    lane_input: Vec<bool>,
}

impl Plan {
    fn new(model: &Model) -> Plan {
        let mut last_use = vec![0usize; model.tensors.len()];
        let mut lane_input = vec![false; model.tensors.len()];
        for (i, l) in model.layers.iter().enumerate() {
            for &t in &l.inputs {
                last_use[t] = i;
                lane_input[t] |= lane_kernel(&l.kind);
            }
        }
        for &o in &model.outputs {
            last_use[o] = usize::MAX;
        }
        Plan {
            last_use,
            lane_input,
        }
    }
}

/// Runs one chunk of `n <= LANES` samples; returns the model outputs in whatever layout
/// they were computed.
fn run_chunk(model: &Model, x: &[f32], n: usize, plan: &Plan) -> Vec<Buf> {
    let mut bufs: Vec<Option<Buf>> = (0..model.tensors.len()).map(|_| None).collect();
    let lanes_ok = n <= fast::LANES;
    for (i, layer) in model.layers.iter().enumerate() {
        let last = |t: usize| plan.last_use[t] == i;
        let out = if lanes_ok && lane_kernel(&layer.kind) {
            let xs = match &bufs[layer.inputs[0]] {
                Some(b) => to_i16_lanes(b, model.tensors[layer.inputs[0]].elems(), n),
                None => Vec::new(),
            };
            run_lane_layer(layer, &xs, fits_i32(model, layer.output))
        } else if let LayerKind::InputCast(ty) = &layer.kind
            && lanes_ok
            && plan.lane_input[layer.output]
            && fits_i32(model, layer.output)
        {
            let elems = model.tensors[layer.output].elems();
            Buf::Lanes32(pointwise::input_cast_lanes(ty, x, n, elems))
        } else if elementwise(&layer.kind) && layer.inputs.len() == 1 {
            let t = layer.inputs[0];
            match bufs[t].take() {
                Some(b) => {
                    let (out, keep) = elementwise_layer(model, i, b, last(t), n);
                    bufs[t] = keep;
                    out
                }
                None => Buf::Rows(Vec::new()),
            }
        } else {
            let inputs: Vec<Cow<[i64]>> = layer
                .inputs
                .iter()
                .map(|&t| match &bufs[t] {
                    Some(b) => to_i64(b, false, model.tensors[t].elems(), n),
                    None => Cow::Borrowed(&[][..]),
                })
                .collect();
            let inputs: Vec<&[i64]> = inputs.iter().map(|c| c.as_ref()).collect();
            Buf::Rows(run_layer(model, i, &inputs, x, n))
        };
        bufs[layer.output] = Some(out);
        for &t in &layer.inputs {
            if last(t) {
                bufs[t] = None;
            }
        }
    }
    model
        .outputs
        .iter()
        .map(|&o| bufs[o].take().unwrap_or(Buf::Rows(Vec::new())))
        .collect()
}

/// Runs an [`elementwise`] layer on `b` in its layout, in place when this is
/// the last use of `b`. Returns the output and `b` if it is still needed.
fn elementwise_layer(
    model: &Model,
    index: usize,
    b: Buf,
    last: bool,
    n: usize,
) -> (Buf, Option<Buf>) {
    let layer = &model.layers[index];
    let relu = matches!(layer.kind, LayerKind::Relu);
    let identity = matches!(layer.kind, LayerKind::Cast) && {
        let from = &model.tensors[layer.inputs[0]];
        let out_ty = &model.tensors[layer.output].ty;
        out_ty.caster(from.ty.frac, from.lo, from.hi).is_identity()
    };
    match b {
        Buf::Lanes32(mut v) if relu || identity => {
            let keep = if last {
                None
            } else {
                Some(Buf::Lanes32(v.clone()))
            };
            if relu {
                v.iter_mut().for_each(|e| *e = (*e).max(0));
            }
            (Buf::Lanes32(v), keep)
        }
        b => {
            let elems = model.tensors[layer.inputs[0]].elems();
            let lanes = b.lanes();
            let (mut data, keep) = match b {
                Buf::Rows(v) | Buf::Lanes(v) if last => (v, None),
                b => (to_i64(&b, lanes, elems, n).into_owned(), Some(b)),
            };
            // Elementwise layers see a lane-major buffer as LANES samples.
            in_place(model, index, &mut data);
            let out = if lanes {
                Buf::Lanes(data)
            } else {
                Buf::Rows(data)
            };
            (out, if last { None } else { keep })
        }
    }
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

/// `b` as i64 in the wanted layout (borrowed when it already is).
fn to_i64(b: &Buf, lanes: bool, elems: usize, n: usize) -> Cow<'_, [i64]> {
    match (b, lanes) {
        (Buf::Rows(v), false) | (Buf::Lanes(v), true) => Cow::Borrowed(v),
        (Buf::Rows(v), true) => Cow::Owned(fast::to_lanes(v, n, elems)),
        (Buf::Lanes(v), false) => Cow::Owned(fast::from_lanes(v, n, elems)),
        (Buf::Lanes32(v), true) => Cow::Owned(v.iter().map(|&e| i64::from(e)).collect()),
        (Buf::Lanes32(v), false) => Cow::Owned(fast::from_lanes32(v, n, elems)),
    }
}

/// The input of a 16-bit kernel: lane-major i16. In range: lowering proved
/// that every value of the tensor fits i16 (padding lanes are zero).
fn to_i16_lanes(b: &Buf, elems: usize, n: usize) -> Vec<i16> {
    match b {
        Buf::Rows(v) => fast::to_lanes16(v, n, elems),
        Buf::Lanes(v) => v.iter().map(|&e| e as i16).collect(),
        Buf::Lanes32(v) => v.iter().map(|&e| e as i16).collect(),
    }
}

fn run_lane_layer(layer: &crate::ir::Layer, xs: &[i16], out_i32: bool) -> Buf {
    let acc = match &layer.kind {
        LayerKind::Dense(d) => d
            .narrow
            .as_ref()
            .map(|nw| (fast::dense(d, nw, xs), nw.wrap)),
        LayerKind::Conv(c) => c.narrow.as_ref().map(|nw| (fast::conv(c, nw, xs), nw.wrap)),
        _ => None,
    };
    match acc {
        Some((acc, wrap)) if out_i32 => Buf::Lanes32(fast::finish32(acc, wrap)),
        Some((acc, wrap)) => Buf::Lanes(fast::finish(&acc, wrap)),
        None => Buf::Lanes(Vec::new()),
    }
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
