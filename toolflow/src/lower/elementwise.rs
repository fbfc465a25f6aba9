//! Elementwise operators: Add/Sub/Mul/Div (tensor-tensor or with constants),
//! BatchNormalization (as a per-channel scale and shift), Relu, LeakyRelu, Clip.
//!
//! Every f32 constant is a dyadic rational, so multiplying by it is exact in
//! fixed point; the binary point simply moves. Division is exact only by
//! powers of two and is lowered as a multiplication.

use super::util::{
    broadcast_index, broadcast_shape, const_exact, const_fixed, pow2_exponent, range_of,
};
use super::{Ctx, Val};
use crate::config::Role;
use crate::error::Result;
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
            match node.op.as_str() {
                "Add" => two_tensors(ctx, node, a, b, BinOp::Add)?,
                "Sub" => two_tensors(ctx, node, a, b, BinOp::Sub)?,
                "Mul" => two_tensors(ctx, node, a, b, BinOp::Mul)?,
                _ => return Err(node.err("division by a computed tensor is not supported")),
            }
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

/// Tensor op constant. The constant takes the configured weight (Mul) or bias (Add/Sub) type.
pub fn with_const(
    ctx: &mut Ctx,
    node: &Node,
    x: TensorId,
    c: &Tensor,
    op: BinOp,
) -> Result<TensorId> {
    let role = if op == BinOp::Mul {
        Role::Weight
    } else {
        Role::Bias
    };
    let ty = ctx
        .cfg
        .map(|cfg| cfg.resolve(&node.name, &node.op, role))
        .transpose()?
        .flatten();
    let (mut raw, mut cf) = const_fixed(node, &c.data, ty)?;
    let info = ctx.info(x).clone();
    let out_shape = broadcast_shape(node, &info.shape, &c.shape)?;
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
    let out = ctx.range_tensor(&name, out_shape.clone(), frac, lo, hi)?;
    let bin = Binary {
        op,
        b: Operand::Const(raw),
        a_index: index_for(&out_shape, &info.shape),
        b_index: Some(broadcast_index(&out_shape, &c.shape)),
        a_shift,
        b_shift,
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Binary(bin), vec![x], out);
    Ok(out)
}

fn two_tensors(
    ctx: &mut Ctx,
    node: &Node,
    a: TensorId,
    b: TensorId,
    op: BinOp,
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
    let out = ctx.range_tensor(&node.outputs[0], out_shape.clone(), frac, lo, hi)?;
    let bin = Binary {
        op,
        b: Operand::Tensor,
        a_index: index_for(&out_shape, &ia.shape),
        b_index: index_for(&out_shape, &ib.shape),
        a_shift: sa,
        b_shift: sb,
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

/// Relu, LeakyRelu, Clip.
pub fn activation(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let (xl, xh) = (info.lo as i128, info.hi as i128);
    let name = node.outputs[0].clone();
    let (kind, frac, lo, hi) = match node.op.as_str() {
        "Relu" => (LayerKind::Relu, info.ty.frac, xl.max(0), xh.max(0)),
        "LeakyRelu" => {
            let (raw, mut af) = const_exact(node, &[node.float("alpha", 0.01) as f64])?;
            let mut alpha = raw[0];
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
