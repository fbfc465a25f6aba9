//! Activations with parameters, as hls4ml's formulas
//! (`templates/vivado/nnet_utils/nnet_activation.h`), built from exact layers:
//!
//! - ThresholdedRelu: `x > theta ? x : 0`, theta in `param_t` (`auto`: the
//!   input type, `_infer_par_act_precision`);
//! - PRelu: `x > 0 ? x : alpha[i] * x`, alpha in `param_t` (`auto`: the input type);
//! - HardSigmoid: `clamp(slope * x + shift, 0, 1)`, slope in
//!   `ap_ufixed<16,0>`, shift in `ap_ufixed<2,0>`, as hls4ml's
//!   `HardActivation` (`model/layers.py`), which sets them whatever the
//!   configuration says (a configured `slope_t` / `shift_t` is refused).
//!
//! Each result is cast to the layer's result type (configuration mode).

use super::Ctx;
use super::hls::Identity;
use super::util::{broadcast_shape, const_exact};
use crate::config::Spec;
use crate::error::Result;
use crate::fixed::FixedType;
use crate::ir::{BinOp, LayerKind, MultiThreshold, TensorId};
use crate::onnx::Node;

/// `floor(raw * 2^shift)` for a possibly negative shift.
fn floor_shift(raw: i64, shift: i32) -> i64 {
    if shift >= 0 {
        raw.checked_shl(shift.min(62) as u32).unwrap_or(i64::MAX)
    } else if shift <= -63 {
        if raw < 0 { -1 } else { 0 }
    } else {
        raw >> (-shift)
    }
}

/// A parameter in its type (configured), or exact: (raw values, binary point).
fn param(ctx: &Ctx, node: &Node, values: &[f64], input: FixedType) -> Result<(Vec<i64>, i32)> {
    let ident = Identity::of(node);
    let ty = match ctx.spec(&ident, "param") {
        Some(Spec::Type(t)) => Some(t),
        // ThresholdedReLU and PReLU take the input type for `auto`.
        Some(Spec::Auto) => Some(input),
        None => None,
    };
    match ty {
        Some(t) => Ok((
            values.iter().map(|&v| t.quantize_f64(v) as i64).collect(),
            t.frac,
        )),
        None => const_exact(node, values),
    }
}

/// ThresholdedRelu, PRelu, HardSigmoid.
pub fn lower(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    // With a configuration, products are converted to the result type at once
    // (the C++ computes them at full width); the other branch is 0 there.
    let res = ctx.result_type(&Identity::of(node), &node.outputs[0], None);
    let out = match node.op.as_str() {
        "ThresholdedRelu" => {
            let theta = node.float("alpha", 1.0) as f64;
            let (raw, tf) = param(ctx, node, &[theta], info.ty)?;
            // x > theta  <=>  raw_x >= floor(theta * 2^frac_x) + 1
            let t = floor_shift(raw[0], info.ty.frac - tf).saturating_add(1);
            let elems = info.elems();
            let name = format!("{}_above", node.outputs[0]);
            let ind = ctx.range_tensor(&name, info.shape.clone(), 0, 0, 1)?;
            let mt = MultiThreshold {
                channel: vec![0; elems],
                thresholds: vec![vec![t]],
                scale: 1,
                bias: 0,
            };
            ctx.push_layer(
                &node.name,
                &node.op,
                LayerKind::MultiThreshold(mt),
                vec![x],
                ind,
            );
            super::elementwise::mul_tensors(ctx, node, x, ind, res)?
        }
        "PRelu" => {
            let slope = ctx.const_in(node, 1)?.clone();
            let shape = broadcast_shape(node, &info.shape, &slope.shape)?;
            if shape != info.shape {
                return Err(node.err(format!(
                    "slope {:?} does not broadcast to the input {:?}",
                    slope.shape, info.shape
                )));
            }
            let (raw, frac) = param(ctx, node, &slope.data, info.ty)?;
            let pos = relu(ctx, node, x)?;
            let neg = super::elementwise::sub_tensors(ctx, node, x, pos)?;
            let neg = super::elementwise::with_raw_cast(
                ctx,
                node,
                neg,
                &slope.shape,
                raw,
                frac,
                BinOp::Mul,
                res,
            )?;
            let pos = match res {
                Some(ty) => ctx.cast(node, pos, ty, &format!("{}_pos_res", node.outputs[0]))?,
                None => pos,
            };
            super::elementwise::add_tensors(ctx, node, pos, neg)?
        }
        _ => hard_sigmoid(ctx, node, x)?,
    };
    ctx.finish(node, out)
}

fn relu(ctx: &mut Ctx, node: &Node, x: TensorId) -> Result<TensorId> {
    let info = ctx.info(x).clone();
    let name = format!("{}_pos", node.outputs[0]);
    let out = ctx.range_tensor(
        &name,
        info.shape.clone(),
        info.ty.frac,
        (info.lo as i128).max(0),
        (info.hi as i128).max(0),
    )?;
    ctx.push_layer(&node.name, &node.op, LayerKind::Relu, vec![x], out);
    Ok(out)
}

fn hard_sigmoid(ctx: &mut Ctx, node: &Node, x: TensorId) -> Result<TensorId> {
    let ident = Identity::of(node);
    // HardActivation.initialize (model/layers.py) sets both types after the
    // layer's configuration is read, so hls4ml never uses configured ones.
    for attr in ["slope_t", "shift_t"] {
        if ctx.type_attr(&ident, attr).is_some() {
            return Err(crate::error::Error::Config(format!(
                "{attr} of HardSigmoid '{}': hls4ml 1.3 ignores it (HardActivation always uses \
                 slope_t ap_ufixed<16,0> and shift_t ap_ufixed<2,0>); remove the key",
                node.name
            )));
        }
    }
    let slope_t = FixedType::new(false, 16, 0);
    let shift_t = FixedType::new(false, 2, 0);
    let slope = slope_t.quantize_f64(node.float("alpha", 0.2) as f64) as i64;
    let shift = shift_t.quantize_f64(node.float("beta", 0.5) as f64) as i64;
    // Inputs beyond where the line leaves [0, 1] give 0 or 1 anyway: clamp
    // them first (to whole numbers past those points), so that the product
    // stays narrow whatever the input type.
    let info = ctx.info(x).clone();
    let x = if slope > 0 && info.ty.frac >= 0 && info.ty.frac < 40 {
        let (s, sh) = (
            slope as f64 * 2f64.powi(-slope_t.frac),
            shift as f64 * 2f64.powi(-shift_t.frac),
        );
        let lo = -((sh / s).ceil() + 1.0);
        let hi = ((1.0 - sh) / s).ceil() + 1.0;
        let unit = 1i64 << info.ty.frac;
        let (lo, hi) = (lo as i64 * unit, hi as i64 * unit);
        if (info.lo as i128) < lo as i128 || (info.hi as i128) > hi as i128 {
            let name = format!("{}_domain", node.outputs[0]);
            let out = ctx.range_tensor(
                &name,
                info.shape.clone(),
                info.ty.frac,
                (info.lo as i128).clamp(lo as i128, hi as i128),
                (info.hi as i128).clamp(lo as i128, hi as i128),
            )?;
            ctx.push_layer(
                &node.name,
                &node.op,
                LayerKind::Clip { shift: 0, lo, hi },
                vec![x],
                out,
            );
            out
        } else {
            x
        }
    } else {
        x
    };
    let m = super::elementwise::with_raw(ctx, node, x, &[], vec![slope], slope_t.frac, BinOp::Mul)?;
    let a = super::elementwise::with_raw(ctx, node, m, &[], vec![shift], shift_t.frac, BinOp::Add)?;
    let info = ctx.info(a).clone();
    let one = 1i64
        .checked_shl(info.ty.frac.max(0) as u32)
        .filter(|_| info.ty.frac >= 0 && info.ty.frac < 62)
        .ok_or_else(|| node.err("HardSigmoid's binary point is out of range"))?;
    let name = format!("{}_clip", node.outputs[0]);
    let out = ctx.range_tensor(
        &name,
        info.shape.clone(),
        info.ty.frac,
        (info.lo as i128).clamp(0, one as i128),
        (info.hi as i128).clamp(0, one as i128),
    )?;
    ctx.push_layer(
        &node.name,
        &node.op,
        LayerKind::Clip {
            shift: 0,
            lo: 0,
            hi: one,
        },
        vec![a],
        out,
    );
    Ok(out)
}
