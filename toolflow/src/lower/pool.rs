//! MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (NCHW, 1D or 2D).
//!
//! Averages multiply the exact window sum by the f32 reciprocal of the
//! window count (a dyadic constant), so the result is exact with respect to
//! that reciprocal; with power-of-two windows it is the exact average.

use super::Ctx;
use super::linear::{Geometry, spatial};
use super::util::{const_exact, shape_err};
use crate::error::Result;
use crate::ir::{LayerKind, Pool};
use crate::onnx::Node;

/// All pooling operators.
pub fn pool(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let xs = info.shape.clone();
    if !(xs.len() == 3 || xs.len() == 4) {
        return Err(shape_err(
            node,
            format!("pooling needs a 1D or 2D NCHW input, got {xs:?}"),
        ));
    }
    let one_d = xs.len() == 3;
    let in_hw = if one_d { [1, xs[2]] } else { [xs[2], xs[3]] };
    let global = node.op.starts_with("Global");
    let max = node.op.contains("Max");
    let kernel = if global {
        in_hw
    } else {
        kernel_of(node, one_d)?
    };
    if node.int("ceil_mode", 0) != 0 {
        return Err(node.err("ceil_mode=1 is not supported"));
    }
    let geo = if global {
        Geometry {
            stride: [1, 1],
            dilation: [1, 1],
            pad: [0, 0],
            out: [1, 1],
        }
    } else {
        spatial(node, in_hw, kernel, one_d)?
    };
    let Geometry {
        stride,
        dilation,
        pad,
        out: out_hw,
    } = geo;
    let count_include_pad = node.int("count_include_pad", 0) != 0;
    let window = kernel[0] * kernel[1];
    if window > 1 << 16 {
        return Err(node.err(format!("pooling window of {window} elements is too large")));
    }
    let (recip, recip_frac) = if max {
        (Vec::new(), 0)
    } else {
        let r: Vec<f64> = (0..=window)
            .map(|c| {
                if c == 0 {
                    0.0
                } else {
                    (1.0 / c as f64) as f32 as f64
                }
            })
            .collect();
        const_exact(node, &r)?
    };
    let (lo, hi, frac) = if max {
        (info.lo as i128, info.hi as i128, info.ty.frac)
    } else {
        let (xl, xh) = (info.lo.min(0) as i128, info.hi.max(0) as i128);
        let ends = (1..=window).flat_map(|c| {
            [
                xl * c as i128 * recip[c] as i128,
                xh * c as i128 * recip[c] as i128,
            ]
        });
        let (lo, hi) = ends.fold((0i128, 0i128), |(l, h), v| (l.min(v), h.max(v)));
        (lo, hi, info.ty.frac + recip_frac)
    };
    let shape = if one_d {
        vec![1, xs[1], out_hw[1]]
    } else {
        vec![1, xs[1], out_hw[0], out_hw[1]]
    };
    let mults = if max {
        0
    } else {
        (xs[1] * out_hw[0] * out_hw[1]) as u64
    };
    ctx.account(node, recip.len() as u64, mults)?;
    let out = ctx.range_tensor(&node.outputs[0], shape, frac, lo, hi)?;
    let p = Pool {
        max,
        c: xs[1],
        in_h: in_hw[0],
        in_w: in_hw[1],
        out_h: out_hw[0],
        out_w: out_hw[1],
        k: kernel,
        stride,
        pad,
        dilation,
        recip,
        recip_frac,
        count_include_pad,
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Pool(p), vec![x], out);
    // hls4ml's max pooling returns the maximum in accum_t (`auto`: the input
    // type, _infer_pooling_precision), then the result type. Average pooling is
    // exact here: hls4ml's ONNX front end takes no average pool in io_parallel.
    let out = match (ctx.cfg, max) {
        (Some(cfg), true) => {
            let ident = super::hls::Identity::of(node);
            let acc = match cfg.precision(&ident.names(), &ident.classes(), "accum") {
                crate::config::Spec::Type(t) => t,
                crate::config::Spec::Auto => info.ty,
            };
            let name = format!("{}_accum", node.outputs[0]);
            ctx.cast(node, out, acc, &name)?
        }
        _ => out,
    };
    // `auto` result: the input type (output matching).
    let ident = super::hls::Identity::of(node);
    let out_name = node.outputs[0].clone();
    let inferred = Some(ctx.info(x).ty);
    ctx.finish_as(node, &ident, out, &out_name, inferred)
}

fn kernel_of(node: &Node, one_d: bool) -> Result<[usize; 2]> {
    let k = node
        .ints("kernel_shape")
        .ok_or_else(|| node.err("kernel_shape is required"))?;
    let ok = |v: i64| (1..=4096).contains(&v);
    match k[..] {
        [w] if one_d && ok(w) => Ok([1, w as usize]),
        [h, w] if !one_d && ok(h) && ok(w) => Ok([h as usize, w as usize]),
        _ => Err(node.err(format!("kernel_shape {k:?} invalid"))),
    }
}
