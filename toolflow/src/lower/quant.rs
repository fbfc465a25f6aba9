//! QONNX quantizers: Quant/IntQuant, BipolarQuant, Trunc, MultiThreshold.
//!
//! Quant computes `y = (clamp(R(x/s + z), min, max) - z) * s`. With a
//! power-of-two scale `s = 2^k` and an integer zero point, `x/s` is a binary
//! point move, so the whole node is exact integer arithmetic: the layer
//! rounds `x_raw / 2^(frac_x + k)` and clamps. On constants (weights) the
//! node is folded in f32 exactly as qonnx executes it, so any f32 scale works.

use super::util::{broadcast_index, broadcast_shape, pow2_exponent, shape_err};
use super::{Ctx, Val};
use crate::error::Result;
use crate::fixed::{FixedType, Overflow, Rounding, round_f64};
use crate::ir::{ElemQuant, LayerKind, MultiThreshold, Requant};
use crate::onnx::{Node, Tensor};

/// Integer parameters of a Quant node.
struct Spec {
    signed: bool,
    bits: u32,
    lo: i64,
    hi: i64,
    rounding: Rounding,
}

impl Spec {
    fn bipolar(&self) -> bool {
        self.bits == 1 && self.signed
    }
}

/// QONNX `rounding_mode` names.
fn rounding(node: &Node, default: &str) -> Result<Rounding> {
    match node
        .string("rounding_mode", default)
        .to_ascii_uppercase()
        .as_str()
    {
        "ROUND" | "HALF_EVEN" => Ok(Rounding::RndConv),
        "CEIL" => Ok(Rounding::Ceil),
        "FLOOR" => Ok(Rounding::Trn),
        "UP" => Ok(Rounding::Up),
        "DOWN" | "ROUND_TO_ZERO" => Ok(Rounding::TrnZero),
        "HALF_UP" => Ok(Rounding::RndInf),
        "HALF_DOWN" => Ok(Rounding::RndZero),
        other => Err(node.err(format!("unknown rounding_mode '{other}'"))),
    }
}

/// QONNX integer range for `bits` (narrow drops the most negative / the largest unsigned value).
fn int_range(signed: bool, narrow: bool, bits: u32) -> (i64, i64) {
    if signed {
        (
            -(1i64 << (bits - 1)) + i64::from(narrow),
            (1i64 << (bits - 1)) - 1,
        )
    } else {
        (0, (1i64 << bits) - 1 - i64::from(narrow))
    }
}

fn bit_width(node: &Node, t: &Tensor) -> Result<u32> {
    let b = t
        .single()
        .ok_or_else(|| node.err("bit width must be a scalar"))?;
    if b.fract() != 0.0 || !(1.0..=48.0).contains(&b) {
        return Err(node.err(format!("bit width {b} must be an integer in 1..=48")));
    }
    Ok(b as u32)
}

fn spec(
    ctx: &Ctx,
    node: &Node,
    bits_input: usize,
    signed_default: i64,
    narrow_default: i64,
    round_default: &str,
) -> Result<Spec> {
    let bits = bit_width(node, ctx.const_in(node, bits_input)?)?;
    let signed = node.int("signed", signed_default) != 0;
    let narrow = node.int("narrow", narrow_default) != 0;
    let (lo, hi) = int_range(signed, narrow, bits);
    Ok(Spec {
        signed,
        bits,
        lo,
        hi,
        rounding: rounding(node, round_default)?,
    })
}

fn f32r(v: f64) -> f64 {
    v as f32 as f64
}

/// Folds Quant on constants, in f32 like qonnx's numpy implementation.
pub fn fold_quant(ctx: &Ctx, node: &Node) -> Result<Tensor> {
    let sp = spec(ctx, node, 3, 1, 0, "ROUND")?;
    let (x, s, z) = (
        ctx.const_in(node, 0)?,
        ctx.const_in(node, 1)?,
        ctx.const_in(node, 2)?,
    );
    let shape = broadcast_shape(node, &broadcast_shape(node, &x.shape, &s.shape)?, &z.shape)?;
    let (ix, is, iz) = (
        broadcast_index(&shape, &x.shape),
        broadcast_index(&shape, &s.shape),
        broadcast_index(&shape, &z.shape),
    );
    let mut data = Vec::with_capacity(ix.len());
    for e in 0..ix.len() {
        let (xv, sv, zv) = (
            x.data[ix[e] as usize],
            s.data[is[e] as usize],
            z.data[iz[e] as usize],
        );
        let y = f32r(f32r(xv / sv) + zv);
        let q = if sp.bipolar() {
            if y >= 0.0 { 1.0 } else { -1.0 }
        } else {
            round_f64(y.clamp(sp.lo as f64, sp.hi as f64), sp.rounding)
        };
        data.push(f32r(f32r(q - zv) * sv));
    }
    Ok(Tensor::new(shape, data))
}

/// Folds BipolarQuant on constants.
pub fn fold_bipolar(ctx: &Ctx, node: &Node) -> Result<Tensor> {
    let (x, s) = (ctx.const_in(node, 0)?, ctx.const_in(node, 1)?);
    let shape = broadcast_shape(node, &x.shape, &s.shape)?;
    let (ix, is) = (
        broadcast_index(&shape, &x.shape),
        broadcast_index(&shape, &s.shape),
    );
    let data = ix
        .iter()
        .zip(&is)
        .map(|(&i, &j)| {
            f32r(if x.data[i as usize] >= 0.0 { 1.0 } else { -1.0 } * s.data[j as usize])
        })
        .collect();
    Ok(Tensor::new(shape, data))
}

/// Per-element (scale exponent, zero point) of a dynamic Quant, deduplicated to one entry when uniform.
fn scale_params(
    node: &Node,
    shape: &[usize],
    s: &Tensor,
    z: Option<&Tensor>,
) -> Result<Vec<(i32, i64)>> {
    let out = broadcast_shape(node, shape, &s.shape)?;
    let out = match z {
        Some(z) => broadcast_shape(node, &out, &z.shape)?,
        None => out,
    };
    if out != shape {
        return Err(shape_err(
            node,
            format!("scale/zero point would broadcast the input {shape:?} to {out:?}"),
        ));
    }
    let is = broadcast_index(shape, &s.shape);
    let iz = z.map(|z| broadcast_index(shape, &z.shape));
    let mut params = Vec::with_capacity(is.len());
    for (e, &i) in is.iter().enumerate() {
        let sv = s.data[i as usize];
        let k = pow2_exponent(sv).ok_or_else(|| {
            node.err(format!("scale {sv} is not a power of two; only power-of-two activation scales map exactly to fixed point"))
        })?;
        if !(-48..=48).contains(&k) {
            return Err(node.err(format!("scale {sv} is outside 2^-48..=2^48")));
        }
        let zv = match (z, &iz) {
            (Some(z), Some(iz)) => z.data[iz[e] as usize],
            _ => 0.0,
        };
        if zv.fract() != 0.0 || zv.abs() > 1e9 {
            return Err(node.err(format!("zero point {zv} must be an integer")));
        }
        params.push((k, zv as i64));
    }
    if params.windows(2).all(|w| w[0] == w[1]) {
        params.truncate(1);
    }
    Ok(params)
}

/// Builds the requant layer parameters for an input at `in_frac`; returns (requant, out frac, lo, hi).
fn requant(params: &[(i32, i64)], in_frac: i32, sp: &Spec) -> (Requant, i32, i128, i128) {
    let out_frac = params.iter().map(|&(k, _)| -k).max().unwrap_or(0);
    let (qlo, qhi) = if sp.bipolar() {
        (-1, 1)
    } else {
        (sp.lo, sp.hi)
    };
    let (mut lo, mut hi) = (i128::MAX, i128::MIN);
    let elems = params
        .iter()
        .map(|&(k, zp)| {
            let out_shift = (out_frac + k) as u32;
            lo = lo.min(((qlo - zp) as i128) << out_shift);
            hi = hi.max(((qhi - zp) as i128) << out_shift);
            ElemQuant {
                in_shift: in_frac + k,
                zp,
                out_shift,
            }
        })
        .collect();
    let rq = Requant {
        params: elems,
        rounding: sp.rounding,
        lo: qlo,
        hi: qhi,
        bipolar: sp.bipolar(),
    };
    (rq, out_frac, lo, hi)
}

fn emit(ctx: &mut Ctx, node: &Node, sp: Spec, s: Tensor, z: Option<Tensor>) -> Result<()> {
    // With a configuration the input is first the input layer's type (hls4ml's Input).
    let float_input = matches!(ctx.val(node, 0)?, Val::Float) && ctx.cfg.is_none();
    let (x, shape, in_frac) = if float_input {
        (None, ctx.model.input_shape.clone(), 0)
    } else {
        let x = ctx.dyn_in(node, 0)?;
        (Some(x), ctx.shape(x).to_vec(), ctx.info(x).ty.frac)
    };
    let params = scale_params(node, &shape, &s, z.as_ref())?;
    let (rq, frac, lo, hi) = requant(&params, in_frac, &sp);
    let out = ctx.range_tensor(&node.outputs[0], shape, frac, lo, hi)?;
    match x {
        None => ctx.push_layer(&node.name, &node.op, LayerKind::InputQuant(rq), vec![], out),
        Some(x) => ctx.push_layer(&node.name, &node.op, LayerKind::Requant(rq), vec![x], out),
    }
    ctx.bind(node, out)
}

/// The type hls4ml gives a Quant node (`_calculate_precision_quantizer`,
/// `model/optimizer/passes/quant_opt.py`): `fixed<b, b + log2(scale)>`,
/// signed as the node, RND_CONV for ROUND and TRN for FLOOR, SAT_SYM when
/// narrow else SAT. None when hls4ml would not read it as a plain
/// quantizer (scale not one power of two, non-zero zero point, other rounding).
pub fn hls_type(ctx: &Ctx, node: &Node) -> Option<FixedType> {
    if !matches!(node.op.as_str(), "Quant" | "IntQuant") {
        return None;
    }
    let sp = spec(ctx, node, 3, 1, 0, "ROUND").ok()?;
    let s = ctx.const_in(node, 1).ok()?;
    let z = ctx.const_in(node, 2).ok()?;
    if z.data.iter().any(|&v| v != 0.0)
        || s.data.is_empty()
        || s.data.iter().any(|&v| v != s.data[0])
    {
        return None;
    }
    let k = pow2_exponent(s.data[0])?;
    let narrow = node.int("narrow", 0) != 0;
    let rounding = match node
        .string("rounding_mode", "ROUND")
        .to_ascii_uppercase()
        .as_str()
    {
        "ROUND" => Rounding::RndConv,
        "FLOOR" => Rounding::Trn,
        _ => return None,
    };
    if narrow && !sp.signed {
        return None;
    }
    let overflow = if narrow {
        Overflow::SatSym
    } else {
        Overflow::Sat
    };
    Some(FixedType::new(sp.signed, sp.bits, sp.bits as i32 + k).with_modes(rounding, overflow))
}

/// Quant / IntQuant on a computed tensor or the model input.
pub fn quant(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let sp = spec(ctx, node, 3, 1, 0, "ROUND")?;
    let s = ctx.const_in(node, 1)?.clone();
    let z = ctx.const_in(node, 2)?.clone();
    emit(ctx, node, sp, s, Some(z))
}

/// BipolarQuant: `x >= 0 ? s : -s`.
pub fn bipolar(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let sp = Spec {
        signed: true,
        bits: 1,
        lo: -1,
        hi: 1,
        rounding: Rounding::Trn,
    };
    let s = ctx.const_in(node, 1)?.clone();
    emit(ctx, node, sp, s, None)
}

fn scalar_pow2(ctx: &Ctx, node: &Node, i: usize, what: &str) -> Result<i32> {
    let v = ctx
        .const_in(node, i)?
        .single()
        .ok_or_else(|| node.err(format!("{what} must be a scalar")))?;
    pow2_exponent(v)
        .filter(|k| (-48..=48).contains(k))
        .ok_or_else(|| node.err(format!("{what} {v} is not a power of two in 2^-48..=2^48")))
}

fn zero(ctx: &Ctx, node: &Node, i: usize) -> Result<()> {
    if node.input(i).is_some() && ctx.const_in(node, i)?.data.iter().any(|&v| v != 0.0) {
        return Err(node.err("non-zero zero points are not supported for Trunc"));
    }
    Ok(())
}

/// Trunc step 1, `round_half_even(x / scale)`: a no-op when the input is already
/// on that grid; from the float model input it is an input quantizer whose
/// range is limited to ±2^40 steps.
fn round_to_scale(ctx: &mut Ctx, node: &Node, ks: i32) -> Result<usize> {
    let open = 1i64 << 40;
    let sp = Spec {
        signed: true,
        bits: 41,
        lo: -open,
        hi: open,
        rounding: Rounding::RndConv,
    };
    let name = format!("{}_round", node.outputs[0]);
    if matches!(ctx.val(node, 0)?, Val::Float) {
        let (rq, frac, _, _) = requant(&[(ks, 0)], 0, &sp);
        let shape = ctx.model.input_shape.clone();
        let out = ctx.range_tensor(&name, shape, frac, -open as i128, open as i128)?;
        ctx.push_layer(&node.name, &node.op, LayerKind::InputQuant(rq), vec![], out);
        return Ok(out);
    }
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let fi = info.ty.frac;
    if fi <= -ks {
        return Ok(x);
    }
    let (rq, frac, _, _) = requant(&[(ks, 0)], fi, &sp);
    let lo = crate::fixed::shift_round(info.lo as i128, (fi + ks) as u32, Rounding::RndConv);
    let hi = crate::fixed::shift_round(info.hi as i128, (fi + ks) as u32, Rounding::RndConv);
    let out = ctx.range_tensor(&name, info.shape.clone(), frac, lo, hi)?;
    ctx.push_layer(&node.name, &node.op, LayerKind::Requant(rq), vec![x], out);
    Ok(out)
}

/// Trunc: drop LSBs of a quantized value (qonnx semantics: v2 with 6 inputs, v1 with 5).
pub fn trunc(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let ks = scalar_pow2(ctx, node, 1, "scale")?;
    zero(ctx, node, 2)?;
    let in_bits = bit_width(node, ctx.const_in(node, 3)?)?;
    let v2 = node.inputs.len() >= 6;
    let (t, k_out, sp) = if v2 {
        let k_out = scalar_pow2(ctx, node, 4, "output scale")?;
        (k_out - ks, k_out, spec(ctx, node, 5, 1, 0, "FLOOR")?)
    } else {
        let out_bits = bit_width(node, ctx.const_in(node, 4)?)?;
        let t = in_bits as i32 - out_bits as i32;
        let open = Spec {
            signed: true,
            bits: 62,
            lo: i64::MIN / 4,
            hi: i64::MAX / 4,
            rounding: rounding(node, "FLOOR")?,
        };
        (t, ks, open)
    };
    let cur = round_to_scale(ctx, node, ks)?;
    let fc = ctx.info(cur).ty.frac;
    let rq = Requant {
        params: vec![ElemQuant {
            in_shift: fc + ks + t,
            zp: 0,
            out_shift: 0,
        }],
        rounding: sp.rounding,
        lo: sp.lo,
        hi: sp.hi,
        bipolar: false,
    };
    let info = ctx.info(cur).clone();
    let s = (fc + ks + t).max(0) as u32;
    let lo = crate::fixed::shift_round(info.lo as i128, s, sp.rounding).max(sp.lo as i128);
    let hi = crate::fixed::shift_round(info.hi as i128, s, sp.rounding).min(sp.hi as i128);
    let _ = in_bits;
    let out = ctx.range_tensor(&node.outputs[0], info.shape, -k_out, lo.min(hi), hi.max(lo))?;
    ctx.push_layer(&node.name, &node.op, LayerKind::Requant(rq), vec![cur], out);
    ctx.bind(node, out)
}

/// MultiThreshold: count thresholds `<= x` per channel, then `bias + scale * count`.
pub fn multithreshold(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let th = ctx.const_in(node, 1)?.clone();
    let [n_ch, n_t] = th.shape[..] else {
        return Err(node.err(format!("thresholds must be 2-D [C, T], got {:?}", th.shape)));
    };
    let channel = channel_of_elements(node, &info.shape)?;
    let c_in = channel.iter().max().map_or(0, |&c| c as usize + 1);
    if n_ch != 1 && n_ch != c_in {
        return Err(node.err(format!("{n_ch} threshold rows for {c_in} channels")));
    }
    let scale2 = 2f64.powi(info.ty.frac);
    let thresholds: Vec<Vec<i64>> = (0..n_ch)
        .map(|c| {
            let mut row: Vec<i64> = th.data[c * n_t..(c + 1) * n_t]
                .iter()
                .map(|&t| ceil_raw(t * scale2))
                .collect();
            row.sort_unstable();
            row
        })
        .collect();
    let channel = if n_ch == 1 {
        vec![0; channel.len()]
    } else {
        channel
    };
    let (sv, bv) = (
        node.float("out_scale", 1.0) as f64,
        node.float("out_bias", 0.0) as f64,
    );
    let (raw, frac) = super::util::const_exact(node, &[sv, bv])?;
    let (lo, hi) = {
        let ends = [
            raw[1] as i128,
            raw[1] as i128 + raw[0] as i128 * n_t as i128,
        ];
        (ends[0].min(ends[1]), ends[0].max(ends[1]))
    };
    let out = ctx.range_tensor(&node.outputs[0], info.shape, frac, lo, hi)?;
    let mt = MultiThreshold {
        channel,
        thresholds,
        scale: raw[0],
        bias: raw[1],
    };
    ctx.account(node, (n_ch * n_t) as u64, 0)?;
    ctx.push_layer(
        &node.name,
        &node.op,
        LayerKind::MultiThreshold(mt),
        vec![x],
        out,
    );
    ctx.bind(node, out)
}

/// Threshold as a raw integer: `x >= t` iff `x_raw >= ceil(t * 2^frac)`.
fn ceil_raw(v: f64) -> i64 {
    if v.is_nan() || v >= 9.2e18 {
        i64::MAX
    } else if v <= -9.2e18 {
        i64::MIN
    } else {
        v.ceil() as i64
    }
}

/// Channel of each element: the position of `C` in `data_layout`; without it,
/// axis 1 except for rank 3 (NWC, last axis), as qonnx executes.
fn channel_of_elements(node: &Node, shape: &[usize]) -> Result<Vec<u32>> {
    let rank = shape.len();
    if rank < 2 {
        return Err(node.err("MultiThreshold needs a rank of at least 2"));
    }
    let layout = node.string("data_layout", "").to_ascii_uppercase();
    let ax = match layout.find('C') {
        _ if layout.is_empty() => {
            if rank == 3 {
                2
            } else {
                1
            }
        }
        Some(p) if layout.len() == rank => p,
        _ => return Err(node.err(format!("data_layout '{layout}' does not match rank {rank}"))),
    };
    let inner: usize = shape[ax + 1..].iter().product();
    let n: usize = shape.iter().product();
    Ok((0..n).map(|e| ((e / inner) % shape[ax]) as u32).collect())
}
