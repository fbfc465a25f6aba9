//! Elementwise operators: Add/Sub/Mul/Div (tensor-tensor or with constants),
//! BatchNormalization (as a per-channel scale and shift), Relu, LeakyRelu, Clip.
//!
//! Every f32 constant is a dyadic rational, so multiplying by it is exact in
//! fixed point; the binary point simply moves. Division is exact only by
//! powers of two and is lowered as a multiplication.

use super::hls::Identity;
use super::util::{broadcast_index, broadcast_shape, const_exact, pow2_exponent, range_of};
use super::{Ctx, Val};
use crate::error::Result;
use crate::hls4ml::infer::{self, MergeOp};
use crate::ir::{BinOp, Binary, LayerKind, Operand, TensorId};
use crate::onnx::{Node, Tensor};

/// Add, Sub, Mul, Div.
pub fn binary(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let (va, vb) = (ctx.val(node, 0)?.clone(), ctx.val(node, 1)?.clone());
    let id = match (va, vb) {
        (Val::Const(c), _) => {
            let x = ctx.dyn_in(node, 1)?;
            match node.op.as_str() {
                "Sub" => with_const(ctx, node, x, &c, BinOp::RSub)?,
                "Div" => {
                    return Err(
                        node.err("dividing a constant by a computed tensor is not supported")
                    );
                }
                op => with_const(
                    ctx,
                    node,
                    x,
                    &c,
                    if op == "Add" { BinOp::Add } else { BinOp::Mul },
                )?,
            }
        }
        (_, Val::Const(c)) => {
            let x = ctx.dyn_in(node, 0)?;
            match node.op.as_str() {
                "Add" => with_const(ctx, node, x, &c, BinOp::Add)?,
                "Sub" => with_const(ctx, node, x, &c, BinOp::Sub)?,
                "Mul" => with_const(ctx, node, x, &c, BinOp::Mul)?,
                _ => with_const(ctx, node, x, &reciprocal(node, &c)?, BinOp::Mul)?,
            }
        }
        _ => {
            let (a, b) = (ctx.dyn_in(node, 0)?, ctx.dyn_in(node, 1)?);
            let (ta, tb) = (ctx.info(a).ty, ctx.info(b).ty);
            let (bin, mop) = match node.op.as_str() {
                "Add" => (BinOp::Add, MergeOp::Add),
                "Sub" => (BinOp::Sub, MergeOp::Subtract),
                "Mul" => (BinOp::Mul, MergeOp::Multiply),
                _ => return Err(node.err("division by a computed tensor is not supported")),
            };
            let id = two_tensors(ctx, node, a, b, bin)?;
            // hls4ml's Merge layer: `res = (res_t)(a op b)`, `auto` inferred (_infer_merge_precision).
            let ident = Identity::with_classes(node, &["Merge"]);
            let inferred = infer::merge(mop, ta, tb, ctx.maximum());
            let out = node.outputs[0].clone();
            return ctx.finish_as(node, &ident, id, &out, Some(inferred));
        }
    };
    ctx.finish(node, id)
}

/// 1/c for powers of two (exact); anything else cannot be represented exactly.
fn reciprocal(node: &Node, c: &Tensor) -> Result<Tensor> {
    let mut data = Vec::with_capacity(c.len());
    for &v in &c.data {
        let e = pow2_exponent(v.abs()).ok_or_else(|| {
            node.err(format!(
                "division by {v}: only powers of two divide exactly"
            ))
        })?;
        data.push(v.signum() * 2f64.powi(-e));
    }
    Ok(Tensor::new(c.shape.clone(), data))
}

fn index_for(out: &[usize], shape: &[usize]) -> Option<Vec<u32>> {
    (out != shape).then(|| broadcast_index(out, shape))
}

fn check_batch(node: &Node, out: &[usize]) -> Result<()> {
    if out.first().is_some_and(|&d| d != 1) {
        return Err(node.err(format!(
            "result shape {out:?} would broadcast over the batch dimension"
        )));
    }
    Ok(())
}

/// Tensor op constant, exact (the constant converted exactly).
pub fn with_const(
    ctx: &mut Ctx,
    node: &Node,
    x: TensorId,
    c: &Tensor,
    op: BinOp,
) -> Result<TensorId> {
    let (raw, cf) = const_exact(node, &c.data)?;
    with_raw(ctx, node, x, &c.shape, raw, cf, op)
}

/// Tensor op constant given as raw integers at binary point `cf` (shape `cshape`, broadcast).
pub fn with_raw(
    ctx: &mut Ctx,
    node: &Node,
    x: TensorId,
    cshape: &[usize],
    raw: Vec<i64>,
    cf: i32,
    op: BinOp,
) -> Result<TensorId> {
    with_raw_cast(ctx, node, x, cshape, raw, cf, op, None)
}

/// [`with_raw`], the exact result converted to `cast` in the same layer.
#[allow(clippy::too_many_arguments)]
pub fn with_raw_cast(
    ctx: &mut Ctx,
    node: &Node,
    x: TensorId,
    cshape: &[usize],
    mut raw: Vec<i64>,
    mut cf: i32,
    op: BinOp,
    cast: Option<crate::fixed::FixedType>,
) -> Result<TensorId> {
    let info = ctx.info(x).clone();
    let out_shape = broadcast_shape(node, &info.shape, cshape)?;
    check_batch(node, &out_shape)?;
    let (xl, xh) = (info.lo as i128, info.hi as i128);
    let (frac, a_shift, b_shift, lo, hi);
    if op == BinOp::Mul {
        let (cl, ch) = range_of(&raw);
        let p = [xl * cl, xl * ch, xh * cl, xh * ch];
        (frac, a_shift, b_shift) = (info.ty.frac + cf, 0, 0);
        (lo, hi) = (
            p.iter().copied().min().unwrap_or(0),
            p.iter().copied().max().unwrap_or(0),
        );
    } else {
        if cf < info.ty.frac {
            super::util::align(node, &mut raw, info.ty.frac - cf)?;
            cf = info.ty.frac;
        }
        let (cl, ch) = range_of(&raw);
        frac = cf;
        a_shift = (cf - info.ty.frac) as u32;
        b_shift = 0;
        let (al, ah) = (xl << a_shift, xh << a_shift);
        (lo, hi) = match op {
            BinOp::Add => (al + cl, ah + ch),
            BinOp::Sub => (al - ch, ah - cl),
            _ => (cl - ah, ch - al),
        };
    }
    ctx.account(
        node,
        raw.len() as u64,
        if op == BinOp::Mul {
            out_shape.iter().product::<usize>() as u64
        } else {
            0
        },
    )?;
    let name = format!("{}_{}", node.outputs[0], ctx.model.layers.len());
    let out = match cast {
        Some(t) => ctx.typed_tensor(&name, out_shape.clone(), t)?,
        None => ctx.range_tensor(&name, out_shape.clone(), frac, lo, hi)?,
    };
    let bin = Binary {
        op,
        b: Operand::Const(raw),
        a_index: index_for(&out_shape, &info.shape),
        b_index: Some(broadcast_index(&out_shape, cshape)),
        a_shift,
        b_shift,
        cast: cast.map(|t| (t, frac)),
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Binary(bin), vec![x], out);
    Ok(out)
}

/// The exact sum of two tensors (numpy broadcasting).
pub fn add_tensors(ctx: &mut Ctx, node: &Node, a: TensorId, b: TensorId) -> Result<TensorId> {
    two_tensors(ctx, node, a, b, BinOp::Add)
}

/// The exact difference of two tensors (numpy broadcasting).
pub fn sub_tensors(ctx: &mut Ctx, node: &Node, a: TensorId, b: TensorId) -> Result<TensorId> {
    two_tensors(ctx, node, a, b, BinOp::Sub)
}

/// The product of two tensors (numpy broadcasting), exact or converted to `cast` at once.
pub fn mul_tensors(
    ctx: &mut Ctx,
    node: &Node,
    a: TensorId,
    b: TensorId,
    cast: Option<crate::fixed::FixedType>,
) -> Result<TensorId> {
    tensors_cast(ctx, node, a, b, BinOp::Mul, cast)
}

fn two_tensors(
    ctx: &mut Ctx,
    node: &Node,
    a: TensorId,
    b: TensorId,
    op: BinOp,
) -> Result<TensorId> {
    tensors_cast(ctx, node, a, b, op, None)
}

fn tensors_cast(
    ctx: &mut Ctx,
    node: &Node,
    a: TensorId,
    b: TensorId,
    op: BinOp,
    cast: Option<crate::fixed::FixedType>,
) -> Result<TensorId> {
    let (ia, ib) = (ctx.info(a).clone(), ctx.info(b).clone());
    let out_shape = broadcast_shape(node, &ia.shape, &ib.shape)?;
    check_batch(node, &out_shape)?;
    let (al, ah, bl, bh) = (ia.lo as i128, ia.hi as i128, ib.lo as i128, ib.hi as i128);
    let (frac, sa, sb, lo, hi);
    if op == BinOp::Mul {
        let p = [al * bl, al * bh, ah * bl, ah * bh];
        (frac, sa, sb) = (ia.ty.frac + ib.ty.frac, 0u32, 0u32);
        (lo, hi) = (
            p.iter().copied().min().unwrap_or(0),
            p.iter().copied().max().unwrap_or(0),
        );
        ctx.account(node, 0, out_shape.iter().product::<usize>() as u64)?;
    } else {
        frac = ia.ty.frac.max(ib.ty.frac);
        (sa, sb) = ((frac - ia.ty.frac) as u32, (frac - ib.ty.frac) as u32);
        let (al, ah, bl, bh) = (al << sa, ah << sa, bl << sb, bh << sb);
        (lo, hi) = if op == BinOp::Add {
            (al + bl, ah + bh)
        } else {
            (al - bh, ah - bl)
        };
    }
    let name = format!("{}_{}", node.outputs[0], ctx.model.layers.len());
    let out = match cast {
        Some(t) => ctx.typed_tensor(&name, out_shape.clone(), t)?,
        None => ctx.range_tensor(&name, out_shape.clone(), frac, lo, hi)?,
    };
    let bin = Binary {
        op,
        b: Operand::Tensor,
        a_index: index_for(&out_shape, &ia.shape),
        b_index: index_for(&out_shape, &ib.shape),
        a_shift: sa,
        b_shift: sb,
        cast: cast.map(|t| (t, frac)),
    };
    ctx.push_layer(
        &node.name,
        &node.op,
        LayerKind::Binary(bin),
        vec![a, b],
        out,
    );
    Ok(out)
}

/// BatchNormalization (inference) that could not be folded: `x * a + b` per channel.
pub fn batchnorm(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let shape = ctx.shape(x).to_vec();
    let c = *shape
        .get(1)
        .ok_or_else(|| node.err("BatchNormalization needs a channel axis"))?;
    let (a, b) = bn_coefficients(ctx, node, c)?;
    let mut cshape = vec![c];
    cshape.extend(std::iter::repeat_n(1, shape.len().saturating_sub(2)));
    let scaled = with_const(ctx, node, x, &Tensor::new(cshape.clone(), a), BinOp::Mul)?;
    let out = with_const(ctx, node, scaled, &Tensor::new(cshape, b), BinOp::Add)?;
    ctx.finish(node, out)
}

/// Per-channel `a = gamma / sqrt(var + eps)` and `b = beta - mean * a` (f32, as runtimes compute).
pub fn bn_coefficients(ctx: &Ctx, node: &Node, c: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let eps = node.float("epsilon", 1e-5) as f64;
    let get = |i: usize| -> Result<Vec<f64>> {
        let t = ctx.const_in(node, i)?;
        if t.len() != c {
            return Err(node.err(format!(
                "parameter {i} has {} values for {c} channels",
                t.len()
            )));
        }
        Ok(t.data.clone())
    };
    let (g, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
    let f = |v: f64| v as f32 as f64;
    let a: Vec<f64> = (0..c)
        .map(|i| f(g[i] / f(f(var[i] + eps).sqrt())))
        .collect();
    let b: Vec<f64> = (0..c).map(|i| f(beta[i] - f(mean[i] * a[i]))).collect();
    Ok((a, b))
}

impl Ctx<'_> {
    /// The `param_t` of a parametrized activation (LeakyReLU, ELU,
    /// ThresholdedReLU) for parameter value `value` and input type `input`;
    /// `auto` as hls4ml's `_infer_par_act_precision`. None without a configuration.
    pub fn param_act_type(
        &self,
        node: &Node,
        value: f64,
        input: crate::fixed::FixedType,
    ) -> Option<crate::fixed::FixedType> {
        let ident = Identity::of(node);
        match self.spec(&ident, "param")? {
            crate::config::Spec::Type(t) => Some(t),
            crate::config::Spec::Auto if node.op == "ThresholdedRelu" => Some(input),
            crate::config::Spec::Auto => Some(infer::from_constant(value)),
        }
    }
}

/// Relu, LeakyRelu, Clip.
pub fn activation(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let (xl, xh) = (info.lo as i128, info.hi as i128);
    let name = node.outputs[0].clone();
    let (kind, frac, lo, hi) = match node.op.as_str() {
        "Relu" => (LayerKind::Relu, info.ty.frac, xl.max(0), xh.max(0)),
        "LeakyRelu" => {
            let a = node.float("alpha", 0.01) as f64;
            // hls4ml: alpha in param_t (`auto`: the smallest type holding it).
            let (mut alpha, mut af) = match ctx.param_act_type(node, a, info.ty) {
                Some(t) => (t.quantize_f64(a) as i64, t.frac),
                None => {
                    let (raw, af) = const_exact(node, &[a])?;
                    (raw[0], af)
                }
            };
            if af < 0 {
                alpha <<= (-af).min(62);
                af = 0;
            }
            let af = af as u32;
            let ends = [
                xl.min(0) * alpha as i128,
                xh.max(0) << af,
                xl.max(0) << af,
                xh.min(0) * alpha as i128,
            ];
            let (lo, hi) = (
                ends.iter().copied().min().unwrap_or(0),
                ends.iter().copied().max().unwrap_or(0),
            );
            (
                LayerKind::LeakyRelu {
                    alpha,
                    alpha_frac: af,
                },
                info.ty.frac + af as i32,
                lo,
                hi,
            )
        }
        _ => clip(ctx, node, &info)?,
    };
    let out = ctx.range_tensor(&name, info.shape.clone(), frac, lo.min(hi), hi.max(lo))?;
    ctx.push_layer(&node.name, &node.op, kind, vec![x], out);
    ctx.finish(node, out)
}

fn clip(
    ctx: &Ctx,
    node: &Node,
    info: &crate::ir::TensorInfo,
) -> Result<(LayerKind, i32, i128, i128)> {
    let bound = |i: usize, attr: &str| -> Result<Option<f64>> {
        if let Some(t) = ctx.opt_const(node, i)? {
            return Ok(t.single());
        }
        Ok(node
            .attrs
            .contains_key(attr)
            .then(|| node.float(attr, 0.0) as f64))
    };
    let (mn, mx) = (bound(1, "min")?, bound(2, "max")?);
    let vals: Vec<f64> = [mn, mx].iter().flatten().copied().collect();
    let (_, cf) = const_exact(node, &vals)?;
    let frac = info.ty.frac.max(cf);
    let shift = (frac - info.ty.frac) as u32;
    let scale = 2f64.powi(frac);
    let lo_c = mn.map_or(i64::MIN / 2, |v| (v * scale).round() as i64);
    let hi_c = mx.map_or(i64::MAX / 2, |v| (v * scale).round() as i64);
    if lo_c > hi_c {
        return Err(node.err(format!("min {mn:?} is larger than max {mx:?}")));
    }
    let (xl, xh) = ((info.lo as i128) << shift, (info.hi as i128) << shift);
    let (l, h) = (
        xl.clamp(lo_c as i128, hi_c as i128),
        xh.clamp(lo_c as i128, hi_c as i128),
    );
    Ok((
        LayerKind::Clip {
            shift,
            lo: lo_c,
            hi: hi_c,
        },
        frac,
        l,
        h,
    ))
}
