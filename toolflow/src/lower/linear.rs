//! MatMul / Gemm -> Dense and Conv -> Conv, with constant weights.
//!
//! Exact accumulation is the default: the accumulator's binary point is the
//! product's (input frac + weight frac) and its range is proven from the
//! actual weights, so no bit is ever lost. A configured `accum` type gives
//! hls4ml's per-product cast semantics instead.

use super::Ctx;
use super::affine::DType;
use super::plan::{Linear, finish_linear, gemm_links, plan};
use super::util::{const_fixed, shape_err};
use crate::error::{Error, Result};
use crate::fixed::{FixedType, Overflow};
use crate::ir::{Accum, Conv, Dense, LayerKind, Narrow, ProductCast};
use crate::onnx::{Node, Tensor};

/// Converted weights and bias of a layer.
struct Params {
    w: Vec<i64>,
    w_frac: i32,
    w_type: FixedType,
    bias: Vec<i64>,
    accum: Accum,
    prod_frac: i32,
    acc_frac: i32,
    lo: i128,
    hi: i128,
}

/// Range and binary point of a layer input.
#[derive(Clone, Copy)]
struct XRange {
    lo: i64,
    hi: i64,
    frac: i32,
}

/// The types of a layer's weights, bias and accumulator (None: exact).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ParamTypes {
    pub weight: Option<FixedType>,
    pub bias: Option<FixedType>,
    pub accum: Option<FixedType>,
}

/// Weight rows `[n_out][k]`, optional float bias, input range: builds exact or configured parameters.
fn params(
    node: &Node,
    w: &[f64],
    k: usize,
    bias: Option<Vec<f64>>,
    x: XRange,
    types: ParamTypes,
) -> Result<Params> {
    let (x_lo, x_hi, x_frac) = (x.lo, x.hi, x.frac);
    let (wt, bt, at) = (types.weight, types.bias, types.accum);
    let (mut wr, mut w_frac) = const_fixed(node, w, wt)?;
    let n_out = w.len() / k.max(1);
    let b = bias.unwrap_or_else(|| vec![0.0; n_out]);
    let (mut br, b_frac) = const_fixed(node, &b, bt)?;
    let w_type = wt.unwrap_or_else(|| {
        let (lo, hi) = super::util::range_of(&wr);
        FixedType::from_range(lo, hi, w_frac)
    });
    let prod_frac = x_frac + w_frac;
    if let Some(acc) = at {
        // hls4ml: acc = (accum_t) bias; acc += (accum_t)(x * w).
        for v in br.iter_mut() {
            *v = acc.cast(*v as i128, b_frac) as i64;
        }
        let (lo, hi) = (acc.min_raw(), acc.max_raw());
        let exact =
            acc.frac >= prod_frac && fits(&wr, k, &br, x_lo, x_hi, acc.frac - prod_frac, acc);
        let accum = if exact {
            Accum::Exact {
                wide: false,
                ty: Some(acc),
            }
        } else {
            Accum::PerProduct { ty: acc }
        };
        if exact {
            super::util::align(node, &mut wr, acc.frac - prod_frac)?;
            w_frac += acc.frac - prod_frac;
        }
        return Ok(Params {
            w: wr,
            w_frac,
            w_type,
            bias: br,
            accum,
            prod_frac: x_frac + w_frac,
            acc_frac: acc.frac,
            lo,
            hi,
        });
    }
    // Exact: align bias and products on the finer binary point.
    if b_frac > prod_frac {
        super::util::align(node, &mut wr, b_frac - prod_frac)?;
        w_frac = b_frac - x_frac;
    } else {
        super::util::align(node, &mut br, prod_frac - b_frac)?;
    }
    let acc_frac = x_frac + w_frac;
    let (lo, hi, maxabs) = bounds(node, &wr, k, &br, x_lo, x_hi)?;
    let wide = maxabs >= 1i128 << 62;
    Ok(Params {
        w: wr,
        w_frac,
        w_type,
        bias: br,
        accum: Accum::Exact { wide, ty: None },
        prod_frac: acc_frac,
        acc_frac,
        lo,
        hi,
    })
}

/// True if the exact sum (products shifted by `sh`) never leaves the accumulator's
/// range, so that its overflow mode never acts.
fn fits(w: &[i64], k: usize, b: &[i64], x_lo: i64, x_hi: i64, sh: i32, acc: FixedType) -> bool {
    let node = Node::default();
    let shifted: Option<Vec<i64>> = w
        .iter()
        .map(|&v| v.checked_mul(1i64.checked_shl(sh as u32)?))
        .collect();
    // A saturating accumulator acts on every partial sum (bias first, then the
    // products in order), not only on the total. With 0 in the input range
    // every product's range contains 0, so each partial sum lies within the
    // bounds of the total.
    let (x_lo, x_hi) = if acc.overflow == Overflow::Wrap {
        (x_lo, x_hi)
    } else {
        (x_lo.min(0), x_hi.max(0))
    };
    match shifted.map(|s| bounds(&node, &s, k, b, x_lo, x_hi)) {
        Some(Ok((lo, hi, m))) => lo >= acc.sat_min_raw() && hi <= acc.max_raw() && m < 1i128 << 62,
        _ => false,
    }
}

/// Output range and largest partial-sum magnitude of `b + W x` for `x` in `[x_lo, x_hi]`.
fn bounds(
    node: &Node,
    w: &[i64],
    k: usize,
    b: &[i64],
    x_lo: i64,
    x_hi: i64,
) -> Result<(i128, i128, i128)> {
    let overflow = || {
        Error::Limit(format!(
            "node '{}': accumulator range exceeds 127 bits",
            node.name
        ))
    };
    let (xl, xh) = (x_lo as i128, x_hi as i128);
    let xmax = xl.abs().max(xh.abs());
    let (mut lo, mut hi, mut maxabs) = (i128::MAX, i128::MIN, 0i128);
    for (j, row) in w.chunks(k.max(1)).enumerate() {
        let bj = b.get(j).copied().unwrap_or(0) as i128;
        let (mut l, mut h, mut a) = (bj, bj, bj.abs());
        for &wv in row {
            let wv = wv as i128;
            let (p, q) = (
                wv.checked_mul(xl).ok_or_else(overflow)?,
                wv.checked_mul(xh).ok_or_else(overflow)?,
            );
            l = l.checked_add(p.min(q)).ok_or_else(overflow)?;
            h = h.checked_add(p.max(q)).ok_or_else(overflow)?;
            a = a
                .checked_add(wv.abs().checked_mul(xmax).ok_or_else(overflow)?)
                .ok_or_else(overflow)?;
        }
        lo = lo.min(l);
        hi = hi.max(h);
        maxabs = maxabs.max(a);
    }
    Ok((lo.min(hi), hi.max(lo), maxabs))
}

/// The 16-bit kernel of a layer, when it is provably exact (see [`Narrow`]):
/// inputs and weights fit i16 and either every partial sum fits i32 (exact
/// accumulation) or the accumulator wraps at `W <= 32` bits and the
/// per-product cast needs the product only modulo 2^32 ([`ProductCast::modular`]).
fn narrow(node: &Node, p: &Params, k: usize, x: XRange) -> Option<Narrow> {
    let i16r = |v: i64| (i16::MIN as i64..=i16::MAX as i64).contains(&v);
    if !i16r(x.lo) || !i16r(x.hi) || !p.w.iter().all(|&w| i16r(w)) {
        return None;
    }
    let (cast, wrap) = match &p.accum {
        Accum::Exact { wide: false, .. } => {
            let (_, _, maxabs) = bounds(node, &p.w, k, &p.bias, x.lo, x.hi).ok()?;
            let no_bias = vec![0; p.bias.len()];
            let (_, _, dot_max) = bounds(node, &p.w, k, &no_bias, x.lo, x.hi).ok()?;
            if maxabs.max(dot_max) >= 1i128 << 31 {
                return None;
            }
            (ProductCast::Shl(0), None)
        }
        Accum::Exact { wide: true, .. } => return None,
        Accum::PerProduct { ty } => (
            ProductCast::modular(ty, p.prod_frac)?,
            Some((ty.width, ty.signed)),
        ),
    };
    Some(Narrow {
        weights: p.w.iter().map(|&w| w as i16).collect(),
        // Biases are accumulator values (|b| < 2^W, W <= 32); modulo 2^32 is all a wrap needs.
        bias: p.bias.iter().map(|&b| b as i32).collect(),
        cast,
        wrap,
    })
}

/// Creates the accumulator output tensor for the parameters.
fn out_tensor(
    ctx: &mut Ctx,
    node: &Node,
    name: &str,
    shape: Vec<usize>,
    p: &Params,
) -> Result<usize> {
    let _ = node;
    match &p.accum {
        Accum::PerProduct { ty } | Accum::Exact { ty: Some(ty), .. } => {
            ctx.typed_tensor(name, shape, *ty)
        }
        Accum::Exact { ty: None, .. } => ctx.range_tensor(name, shape, p.acc_frac, p.lo, p.hi),
    }
}

/// MatMul (x @ W) and Gemm (alpha * x @ op(B) + beta * C) with constant weights.
pub fn dense(ctx: &mut Ctx, node: &Node, index: usize) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let xs = ctx.shape(x).to_vec();
    let b = ctx.const_in(node, 1)?.clone();
    let gemm = node.op == "Gemm";
    if gemm && node.int("transA", 0) != 0 {
        return Err(node.err("Gemm with transA=1 on a computed input is not supported"));
    }
    let (k, n_out, rows) = weight_rows(node, &b, gemm && node.int("transB", 0) != 0)?;
    if k == 0 || n_out == 0 {
        return Err(shape_err(node, format!("empty weights {:?}", b.shape)));
    }
    if xs.last() != Some(&k) {
        return Err(shape_err(
            node,
            format!("input {xs:?} does not match weights {:?}", b.shape),
        ));
    }
    let alpha = if gemm {
        node.float("alpha", 1.0) as f64
    } else {
        1.0
    };
    // hls4ml reads a Gemm as qonnx's MatMul + Add (GemmToMatMul); a Gemm that
    // the configuration names by its own ONNX name is one dense layer with its bias.
    let split = ctx.cfg.is_some() && gemm && !ctx.named_in_config(node);
    let scale_alpha = |v: f64| {
        if alpha == 1.0 || split {
            v
        } else {
            (v * alpha) as f32 as f64
        }
    };
    let w: Vec<f64> = rows.iter().map(|&v| scale_alpha(v)).collect();
    let bias = if gemm {
        gemm_bias(ctx, node, n_out)?
    } else {
        None
    };
    let outer: usize = xs[..xs.len() - 1].iter().product();
    let mut shape = xs.clone();
    if let Some(l) = shape.last_mut() {
        *l = n_out;
    }
    let out_name = node.outputs[0].clone();
    let lin = Linear {
        w,
        w_dtype: DType::F32,
        n_out,
        channel_axis: shape.len() - 1,
        shape: shape.clone(),
        // An hls4ml Dense on a multi-dimensional input is a pointwise Conv1D (n_ops = the last axis).
        n_ops: if xs.len() > 2 {
            k
        } else {
            xs[1..].iter().product()
        },
    };
    let mut pre = Vec::new();
    let mut bias = bias;
    if split {
        pre = gemm_links(ctx, node, alpha, bias.take().as_ref(), &out_name)?;
    }
    let (lin, bias, types, tail, rest) = plan(ctx, node, index, x, lin, bias, pre, split)?;
    let info = ctx.info(x).clone();
    let xr = XRange {
        lo: info.lo,
        hi: info.hi,
        frac: info.ty.frac,
    };
    let mut p = params(node, &lin.w, k, bias, xr, types.params)?;
    let x = channels_last_order(ctx, node, x, k, &mut p)?;
    let narrow = narrow(node, &p, k, xr);
    ctx.account(
        node,
        (p.w.len() + p.bias.len()) as u64,
        (k * n_out * outer) as u64,
    )?;
    let out = out_tensor(ctx, node, &tail, shape, &p)?;
    let d = Dense {
        n_in: k,
        n_out,
        outer,
        weights: p.w,
        w_frac: p.w_frac,
        w_type: p.w_type,
        bias: p.bias,
        accum: p.accum,
        prod_frac: p.prod_frac,
        narrow,
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Dense(d), vec![x], out);
    finish_linear(ctx, node, out, &tail, types, rest)
}

/// hls4ml sums a dense layer's products in the order of its input. When
/// qonnx's `AbsorbChanFirstIntoMatMul` has made that input the channels-last
/// flattening of a convolution's output (`hls4ml::names::absorbs_channels_first`),
/// a saturating accumulator's partial sums follow that order: the input is
/// gathered into it and the weight columns permuted alike. (Other
/// accumulators give the same sum in any order and are left alone.)
fn channels_last_order(
    ctx: &mut Ctx,
    node: &Node,
    x: crate::ir::TensorId,
    k: usize,
    p: &mut Params,
) -> Result<crate::ir::TensorId> {
    let saturating =
        matches!(p.accum, Accum::PerProduct { ty } if ty.overflow != crate::fixed::Overflow::Wrap);
    let flatten = node.input(0).and_then(|t| ctx.links.producer(t));
    let Some(r) = flatten.filter(|&r| {
        saturating && crate::hls4ml::names::absorbs_channels_first(ctx.graph, &ctx.links, r)
    }) else {
        return Ok(x);
    };
    let source = ctx.graph.nodes[r].input(0).unwrap_or_default();
    let Some(super::Val::Dyn(src)) = ctx.env.get(source).cloned() else {
        return Ok(x);
    };
    let shape = ctx.shape(src).to_vec();
    let (c, s) = match shape.as_slice() {
        [1, c, rest @ ..] if !rest.is_empty() => (*c, rest.iter().product::<usize>()),
        _ => return Ok(x),
    };
    if c < 2 || s < 2 || c * s != k {
        return Ok(x);
    }
    // Channels-last position j = s_i * c + c_i reads channels-first c_i * s + s_i.
    let cf: Vec<usize> = (0..k).map(|j| (j % c) * s + j / c).collect();
    for row in p.w.chunks_mut(k) {
        let old = row.to_vec();
        for (j, &i) in cf.iter().enumerate() {
            row[j] = old[i];
        }
    }
    let info = ctx.info(x).clone();
    let name = format!("{}__channels_last", node.input(0).unwrap_or_default());
    let out = ctx.typed_tensor(&name, info.shape.clone(), info.ty)?;
    ctx.model.tensors[out].lo = info.lo;
    ctx.model.tensors[out].hi = info.hi;
    let src = cf.iter().map(|&i| (0u16, i as u32)).collect();
    ctx.push_layer(
        &node.name,
        "Transpose",
        LayerKind::Gather {
            src,
            shifts: vec![0],
        },
        vec![x],
        out,
    );
    Ok(out)
}

/// Weights as `[n_out][k]` rows; `trans` means B is stored `[n_out][k]` already.
fn weight_rows(node: &Node, b: &Tensor, trans: bool) -> Result<(usize, usize, Vec<f64>)> {
    let [r, c] = b.shape[..] else {
        return Err(node.err(format!("weights must be 2-D, got {:?}", b.shape)));
    };
    if trans {
        return Ok((c, r, b.data.clone()));
    }
    let mut rows = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            rows[j * r + i] = b.data[i * c + j];
        }
    }
    Ok((r, c, rows))
}

fn gemm_bias(ctx: &Ctx, node: &Node, n_out: usize) -> Result<Option<Vec<f64>>> {
    let Some(c) = ctx.opt_const(node, 2)? else {
        return Ok(None);
    };
    let beta = node.float("beta", 1.0) as f64;
    let v: Vec<f64> = match c.len() {
        1 => vec![c.data[0]; n_out],
        n if n == n_out && c.shape.iter().rev().skip(1).all(|&d| d == 1) => c.data.clone(),
        _ => {
            return Err(shape_err(
                node,
                format!(
                    "Gemm bias {:?} must broadcast over the {n_out} outputs only",
                    c.shape
                ),
            ));
        }
    };
    Ok(Some(
        v.into_iter()
            .map(|b| {
                if beta == 1.0 {
                    b
                } else {
                    (b * beta) as f32 as f64
                }
            })
            .collect(),
    ))
}

/// Resolved convolution geometry along one spatial axis.
struct Axis {
    out: usize,
    pad: usize,
}

fn conv_axis(
    node: &Node,
    input: usize,
    k: usize,
    stride: usize,
    dil: usize,
    pads: (usize, usize),
    auto: &str,
) -> Result<Axis> {
    if input == 0 || k == 0 {
        return Err(shape_err(node, "empty spatial dimension or kernel"));
    }
    let eff = dil * (k - 1) + 1;
    if matches!(auto, "SAME_UPPER" | "SAME_LOWER") {
        let out = input.div_ceil(stride);
        let total = ((out - 1) * stride + eff).saturating_sub(input);
        let pad = if auto == "SAME_UPPER" {
            total / 2
        } else {
            total - total / 2
        };
        return Ok(Axis { out, pad });
    }
    let (b, e) = if auto == "VALID" { (0, 0) } else { pads };
    let span = input + b + e;
    if span < eff {
        return Err(shape_err(
            node,
            format!("kernel {k} (dilation {dil}) larger than padded input {span}"),
        ));
    }
    Ok(Axis {
        out: (span - eff) / stride + 1,
        pad: b,
    })
}

/// Resolved window geometry (height, width) of a Conv or pooling node.
pub struct Geometry {
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Begin pads (top, left).
    pub pad: [usize; 2],
    pub out: [usize; 2],
}

/// Spatial attributes common to Conv and pooling.
pub fn spatial(
    node: &Node,
    in_hw: [usize; 2],
    kernel: [usize; 2],
    one_d: bool,
) -> Result<Geometry> {
    let n = if one_d { 1 } else { 2 };
    let get = |key: &str, def: usize| -> Result<Vec<usize>> {
        let v = node.ints(key).unwrap_or_else(|| vec![def as i64; n]);
        if v.len() != n
            || v.iter()
                .any(|&x| x < 0 || (x == 0 && def == 1) || x > 1 << 20)
        {
            return Err(node.err(format!(
                "attribute {key} {v:?} is invalid for {n} spatial dims"
            )));
        }
        Ok(v.into_iter().map(|x| x as usize).collect())
    };
    let (s, d) = (get("strides", 1)?, get("dilations", 1)?);
    let pads = node.ints("pads").unwrap_or_else(|| vec![0; 2 * n]);
    if pads.len() != 2 * n || pads.iter().any(|&p| !(0..=1 << 16).contains(&p)) {
        return Err(node.err(format!("pads {pads:?} invalid")));
    }
    let auto = node.string("auto_pad", "NOTSET");
    let lift = |v: &[usize], def: usize| if one_d { [def, v[0]] } else { [v[0], v[1]] };
    let (s2, d2) = (lift(&s, 1), lift(&d, 1));
    let p: Vec<usize> = pads.iter().map(|&x| x as usize).collect();
    let (pb, pe) = if one_d {
        ([0, p[0]], [0, p[1]])
    } else {
        ([p[0], p[1]], [p[2], p[3]])
    };
    let mut out = [0; 2];
    let mut pad = [0; 2];
    for a in 0..2 {
        let ax = conv_axis(
            node,
            in_hw[a],
            kernel[a],
            s2[a],
            d2[a],
            (pb[a], pe[a]),
            &auto,
        )?;
        out[a] = ax.out;
        pad[a] = ax.pad;
    }
    Ok(Geometry {
        stride: s2,
        dilation: d2,
        pad,
        out,
    })
}

/// Conv 1D/2D (NCHW), any stride/padding/dilation/groups, constant weights.
pub fn conv(ctx: &mut Ctx, node: &Node, index: usize) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let xs = ctx.shape(x).to_vec();
    let w = ctx.const_in(node, 1)?.clone();
    let one_d = xs.len() == 3;
    if !(xs.len() == 3 || xs.len() == 4) || w.shape.len() != xs.len() {
        return Err(shape_err(
            node,
            format!(
                "Conv input {xs:?} / weights {:?}: only 1D and 2D convolutions",
                w.shape
            ),
        ));
    }
    let (c, in_hw) = if one_d {
        (xs[1], [1, xs[2]])
    } else {
        (xs[1], [xs[2], xs[3]])
    };
    let m = w.shape[0];
    let kernel = if one_d {
        [1, w.shape[2]]
    } else {
        [w.shape[2], w.shape[3]]
    };
    let groups = node.int("group", 1).max(1) as usize;
    if c % groups != 0 || m % groups != 0 || w.shape[1] * groups != c || kernel.contains(&0) {
        return Err(shape_err(
            node,
            format!(
                "channels {c}, filters {m}, groups {groups} and weights {:?} disagree",
                w.shape
            ),
        ));
    }
    let Geometry {
        stride,
        dilation,
        pad,
        out: out_hw,
    } = spatial(node, in_hw, kernel, one_d)?;
    let bias = ctx.opt_const(node, 2)?.map(|b| b.data.clone());
    if bias.as_ref().is_some_and(|b| b.len() != m) {
        return Err(shape_err(
            node,
            "bias length differs from the number of filters",
        ));
    }
    let kk = w.shape[1] * kernel[0] * kernel[1];
    if kk == 0 || m == 0 {
        return Err(shape_err(node, format!("empty weights {:?}", w.shape)));
    }
    let shape = if one_d {
        vec![1, m, out_hw[1]]
    } else {
        vec![1, m, out_hw[0], out_hw[1]]
    };
    let lin = Linear {
        w: w.data.clone(),
        w_dtype: DType::F32,
        n_out: m,
        shape: shape.clone(),
        channel_axis: 1,
        n_ops: kk,
    };
    let (lin, bias, types, tail, rest) = plan(ctx, node, index, x, lin, bias, Vec::new(), false)?;
    let info = ctx.info(x).clone();
    let xr = XRange {
        lo: info.lo.min(0),
        hi: info.hi.max(0),
        frac: info.ty.frac,
    };
    let p = params(node, &lin.w, kk, bias, xr, types.params)?;
    let narrow = narrow(node, &p, kk, xr);
    ctx.account(
        node,
        (p.w.len() + p.bias.len()) as u64,
        (m * kk * out_hw[0] * out_hw[1]) as u64,
    )?;
    let out = out_tensor(ctx, node, &tail, shape, &p)?;
    let cv = Conv {
        in_c: c,
        in_h: in_hw[0],
        in_w: in_hw[1],
        out_c: m,
        out_h: out_hw[0],
        out_w: out_hw[1],
        k_h: kernel[0],
        k_w: kernel[1],
        stride,
        dilation,
        pad,
        groups,
        weights: p.w,
        w_frac: p.w_frac,
        w_type: p.w_type,
        bias: p.bias,
        accum: p.accum,
        prod_frac: p.prod_frac,
        narrow,
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Conv(cv), vec![x], out);
    finish_linear(ctx, node, out, &tail, types, rest)
}
