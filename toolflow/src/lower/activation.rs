//! Lookup-table activations and softmax, as hls4ml 1.3 computes them
//! (`templates/vivado/nnet_utils/nnet_activation.h`).
//!
//! Sigmoid, Softplus, Softsign: `N` entries over [-8, 8),
//! `index = trunc0(x * N / 16) + N/2` clamped to `[0, N-1]`; Tanh the same
//! over [-4, 4). ELU: `x >= 0 ? x : alpha * table[min(N-1, trunc0(-x * N / 8))]`
//! with entries `exp(-8i/N) - 1`; SELU the same with `lambda * x` (lambda in
//! `ap_ufixed<16,1>`) and entries `selu(-8i/N)`. Entries are computed in
//! float/double exactly as the C++ does and converted to `table_t`
//! (default `fixed<18,8>`, TRN). Softmax: [`softmax`].

use super::hls::Identity;
use super::util::axis;
use super::{Ctx, Val};
use crate::config::{DEFAULT_SOFTMAX_TABLE, DEFAULT_TABLE, Spec};
use crate::error::Result;
use crate::fixed::FixedType;
use crate::ir::{BinOp, LayerKind, Softmax, SoftmaxImpl, Table, TensorId};
use crate::onnx::Node;

/// Table type (`table_t`) and size (`TableSize`) of an activation.
fn table_type(ctx: &Ctx, ident: &Identity) -> Result<(FixedType, usize)> {
    let ty = ctx
        .type_attr(ident, "table_t")
        .unwrap_or(FixedType::parse(DEFAULT_TABLE)?);
    let n = ctx.types().table_size(&ident.names(), &ident.classes())? as usize;
    Ok((ty, n))
}

/// `2 * 8.0 * (ii - float(N) / 2.0) / float(N)` (range 16) as the C++ float `in_val`.
fn centred(i: usize, n: usize, range: f64) -> f32 {
    (range * (i as f64 - n as f64 / 2.0) / n as f64) as f32
}

/// The entry of table `i` for `op` (see the module comment).
fn entry(op: &str, i: usize, n: usize) -> f64 {
    match op {
        "Sigmoid" => 1.0 / f64::from(1.0f32 + (-centred(i, n, 16.0)).exp()),
        "Tanh" => f64::from(centred(i, n, 8.0)).tanh(),
        "Softplus" => (f64::from(centred(i, n, 16.0).exp()) + 1.0).ln(),
        "Softsign" => {
            let v = centred(i, n, 16.0);
            f64::from(v) / (f64::from(v.abs()) + 1.0)
        }
        "Elu" => {
            let v = (-8.0 * i as f64 / n as f64) as f32;
            f64::from(v.exp()) - 1.0
        }
        _ => {
            // Selu
            let v = (-8.0 * i as f64 / n as f64) as f32;
            1.050_700_987_355_480_5 * (1.673_263_242_354_377_3 * (f64::from(v.exp()) - 1.0))
        }
    }
}

/// Appends a table layer on `x` (index `trunc0(x * 2^shift)` from the centre of `table`).
fn emit_table(
    ctx: &mut Ctx,
    node: &Node,
    x: TensorId,
    table: Vec<i64>,
    ty: FixedType,
    index_shift: i32,
    name: &str,
) -> Result<TensorId> {
    let info = ctx.info(x).clone();
    let lo = table.iter().copied().min().unwrap_or(0) as i128;
    let hi = table.iter().copied().max().unwrap_or(0) as i128;
    ctx.account(node, table.len() as u64, 0)?;
    let out = ctx.range_tensor(name, info.shape.clone(), ty.frac, lo, hi)?;
    ctx.model.tensors[out].ty = ty;
    let t = Table {
        function: node.op.clone(),
        table,
        table_type: ty,
        index_shift,
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Table(t), vec![x], out);
    Ok(out)
}

/// Sigmoid, Tanh, Softplus, Softsign, Elu, Selu.
pub fn table(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let ident = Identity::of(node);
    let (ty, n) = table_type(ctx, &ident)?;
    let log2n = n.trailing_zeros() as i32;
    if matches!(node.op.as_str(), "Elu" | "Selu") {
        return exponential(ctx, node, &ident, x, ty, n);
    }
    let range_log2 = if node.op == "Tanh" { 3 } else { 4 };
    let table: Vec<i64> = (0..n)
        .map(|i| ty.quantize_f64(entry(&node.op, i, n)) as i64)
        .collect();
    let out = emit_table(
        ctx,
        node,
        x,
        table,
        ty,
        log2n - range_log2 - info.ty.frac,
        &node.outputs[0],
    )?;
    ctx.finish(node, out)
}

/// ELU and SELU: `x >= 0 ? pos(x) : neg(table)`, built from exact layers: a
/// table of 2N entries whose upper half is 0 (indexed `trunc0(x * N / 8) + N`,
/// so entry `N - i` is the C++ entry `i` and entry 0 the clamped `N - 1`),
/// scaled, plus the positive part.
fn exponential(
    ctx: &mut Ctx,
    node: &Node,
    ident: &Identity,
    x: TensorId,
    ty: FixedType,
    n: usize,
) -> Result<()> {
    if node.op == "Selu" {
        let (a, g) = (
            node.float("alpha", 1.673_263_2),
            node.float("gamma", 1.050_701),
        );
        if a != 1.673_263_2_f32 || g != 1.050_701_f32 {
            return Err(node.err(
                "Selu with other alpha/gamma than ONNX's defaults: hls4ml computes the standard SELU only",
            ));
        }
    }
    let info = ctx.info(x).clone();
    let c: Vec<i64> = (0..n)
        .map(|i| ty.quantize_f64(entry(&node.op, i, n)) as i64)
        .collect();
    let mut t2 = vec![0i64; 2 * n];
    t2[0] = c[n - 1];
    for i in 0..n {
        t2[n - i] = c[i];
    }
    let log2n = n.trailing_zeros() as i32;
    let out_name = node.outputs[0].clone();
    let neg = emit_table(
        ctx,
        node,
        x,
        t2,
        ty,
        log2n - 3 - info.ty.frac,
        &format!("{out_name}_table"),
    )?;
    // With a configuration each branch is converted to the result type at
    // once (hls4ml: `res = alpha * table[i]`, `res = lambda * x`), and one of
    // the two is 0, so their sum is the result; without one, exact.
    let res = ctx.result_type(ident, &out_name, None);
    let cast = |ctx: &mut Ctx, t: TensorId, name: &str| -> Result<TensorId> {
        match res {
            Some(ty) => ctx.cast(node, t, ty, name),
            None => Ok(t),
        }
    };
    // Negative branch: ELU alpha (param_t) times the entry; SELU the entry.
    let neg = if node.op == "Elu" {
        let alpha = node.float("alpha", 1.0) as f64;
        let (raw, frac) = match ctx.param_act_type(node, alpha, info.ty) {
            Some(t) => (t.quantize_f64(alpha) as i64, t.frac),
            None => {
                let (r, f) = super::util::const_exact(node, &[alpha])?;
                (r[0], f)
            }
        };
        super::elementwise::with_raw_cast(ctx, node, neg, &[], vec![raw], frac, BinOp::Mul, res)?
    } else {
        cast(ctx, neg, &format!("{out_name}_neg"))?
    };
    // Positive branch: x (ELU), lambda * x with lambda in ap_ufixed<16,1> (SELU).
    let pos = relu_of(ctx, node, x)?;
    let pos = if node.op == "Selu" {
        let lambda = FixedType::new(false, 16, 1);
        let raw = lambda.quantize_f64(1.050_700_987_355_480_5) as i64;
        super::elementwise::with_raw_cast(
            ctx,
            node,
            pos,
            &[],
            vec![raw],
            lambda.frac,
            BinOp::Mul,
            res,
        )?
    } else {
        cast(ctx, pos, &format!("{out_name}_pos"))?
    };
    let sum = super::elementwise::add_tensors(ctx, node, pos, neg)?;
    ctx.finish_as(node, ident, sum, &out_name, None)
}

/// An exact `max(x, 0)` layer.
fn relu_of(ctx: &mut Ctx, node: &Node, x: TensorId) -> Result<TensorId> {
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

/// `ceillog2` of `nnet_helpers.h`: address bits of a table of `n` entries.
fn ceillog2(n: usize) -> u32 {
    if n <= 2 {
        1
    } else {
        1 + ceillog2(n.div_ceil(2))
    }
}

/// `softmax_real_val_from_idx`: the value of `ty` whose top `ceillog2(n)` bits are `i`.
fn value_from_index(ty: &FixedType, i: usize, n: usize) -> f32 {
    let bits = ceillog2(n);
    let w = ty.width;
    let pattern = (i as u128) << (w - bits);
    let raw = if ty.signed && (pattern >> (w - 1)) & 1 == 1 {
        pattern as i128 - (1i128 << w)
    } else {
        pattern as i128
    };
    // Exact: at most `bits` significant bits.
    (raw as f64 * 2f64.powi(-ty.frac)) as f32
}

/// Softmax over the last axis with hls4ml's implementations (latency,
/// stable, argmax; `Implementation`, default stable), its tables
/// (`exp_table_t`, `inv_table_t`, `inv_inp_t`, default `fixed<18,8,RND,SAT>`;
/// sizes from `TableSize`, `exp_table_size`, `inv_table_size`, cut to
/// `2^min(input bits, inv_table bits)` by `FixSoftmaxTableSize`, and for
/// stable with a signed input the exp table to `min(inv size, 2^(W-1))`,
/// `backends/vivado/passes/core_templates.py`) and `accum_t` (the
/// configured `accum`, default the model precision). `Skip: true` removes it.
pub fn softmax(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let rank = info.shape.len();
    let default_axis = if ctx.opset >= 13 { -1 } else { 1 };
    let ax = axis(node, node.int("axis", default_axis), rank)?;
    if ax + 1 != rank && info.shape[ax + 1..].iter().any(|&d| d != 1) {
        return Err(node.err("softmax is supported over the last (non-trivial) axis only"));
    }
    if ctx.opset < 13 && info.shape[1..ax].iter().any(|&d| d != 1) {
        return Err(node.err(
            "before opset 13 Softmax flattens the axes from `axis` on; only inputs whose leading axes are 1 are supported",
        ));
    }
    let len = info.shape[ax];
    let ident = Identity::of(node);
    let types = ctx.types();
    let names = ident.names();
    let classes = ident.classes();
    if types.layer(&names, &classes, |l| l.skip).unwrap_or(false) {
        // hls4ml's SkipSoftmax: the layer is removed.
        ctx.env.insert(node.outputs[0].clone(), Val::Dyn(x));
        return Ok(());
    }
    let implementation = match types
        .layer(&names, &classes, |l| l.implementation.clone())
        .as_deref()
        .unwrap_or("stable")
    {
        "latency" => SoftmaxImpl::Latency,
        "argmax" => SoftmaxImpl::Argmax,
        "stable" => SoftmaxImpl::Stable,
        other => {
            return Err(node.err(format!(
                "softmax implementation '{other}' is not modelled (latency, stable and argmax are)"
            )));
        }
    };
    let default = FixedType::parse(DEFAULT_SOFTMAX_TABLE)?;
    let exp_type = ctx.type_attr(&ident, "exp_table_t").unwrap_or(default);
    let inv_type = ctx.type_attr(&ident, "inv_table_t").unwrap_or(default);
    let inv_inp_type = ctx.type_attr(&ident, "inv_inp_t").unwrap_or(default);
    let accum_type = match types.precision(&names, &classes, "accum") {
        Spec::Type(t) => t,
        Spec::Auto => types.default_type(),
    };
    let mut table_size = types.table_size(&names, &classes)? as usize;
    let bw = info.ty.width.min(inv_type.width).min(30);
    if (1usize << bw) < table_size {
        table_size = 1 << bw;
    }
    let size = |v: Option<u32>| v.map_or(table_size, |s| s as usize);
    let mut exp_size = size(types.layer(&names, &classes, |l| l.exp_table_size));
    let inv_size = size(types.layer(&names, &classes, |l| l.inv_table_size));
    let s = u32::from(info.ty.signed);
    let norm_type = ctx.type_attr(&ident, "inp_norm_t").unwrap_or_else(|| {
        FixedType::new(
            false,
            (info.ty.width - s).max(1),
            info.ty.int_bits() - s as i32,
        )
    });
    if implementation == SoftmaxImpl::Stable && info.ty.signed {
        exp_size = inv_size.min(1usize << (info.ty.width - 1).min(30));
    }
    let index_type = match implementation {
        SoftmaxImpl::Stable => norm_type,
        _ => info.ty,
    };
    for (what, n, ty) in [
        ("exp", exp_size, index_type),
        ("inverse", inv_size, inv_inp_type),
    ] {
        if n < 2 || !n.is_power_of_two() || ceillog2(n) > ty.width {
            return Err(node.err(format!(
                "softmax {what} table of {n} entries cannot be indexed by the top bits of {ty}"
            )));
        }
    }
    let negative = implementation == SoftmaxImpl::Stable;
    let exp_table: Vec<i64> = (0..exp_size)
        .map(|i| {
            let v = value_from_index(&index_type, i, exp_size);
            let v = if negative { -v } else { v };
            exp_type.quantize_f64(f64::from(v.exp())) as i64
        })
        .collect();
    let inv_table: Vec<i64> = (0..inv_size)
        .map(|i| {
            let v = value_from_index(&inv_inp_type, i, inv_size);
            inv_type.quantize_f64(f64::from(1.0f32 / v)) as i64
        })
        .collect();
    ctx.account(node, (exp_size + inv_size) as u64, len as u64)?;
    let out_name = node.outputs[0].clone();
    let (frac, lo, hi) = if implementation == SoftmaxImpl::Argmax {
        (0, 0, 1)
    } else {
        let (al, ah) = (accum_type.min_raw(), accum_type.max_raw());
        let il = inv_table.iter().copied().min().unwrap_or(0) as i128;
        let ih = inv_table.iter().copied().max().unwrap_or(0) as i128;
        let p = [al * il, al * ih, ah * il, ah * ih];
        (
            accum_type.frac + inv_type.frac,
            p.iter().copied().min().unwrap_or(0),
            p.iter().copied().max().unwrap_or(0),
        )
    };
    let out = ctx.range_tensor(
        &format!("{out_name}_softmax"),
        info.shape.clone(),
        frac,
        lo,
        hi,
    )?;
    let sm = Softmax {
        n: len,
        implementation,
        in_type: info.ty,
        norm_type,
        exp_table,
        exp_type,
        accum_type,
        inv_inp_type,
        inv_table,
        inv_type,
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Softmax(sm), vec![x], out);
    let ty = ctx
        .result_type(&ident, &out_name, None)
        .unwrap_or_else(|| ctx.defaults.default_type());
    let cast = ctx.cast(node, out, ty, &out_name)?;
    ctx.bind(node, cast)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_values_as_hls4ml() {
        let t = FixedType::parse("fixed<16,6>").unwrap();
        assert_eq!(ceillog2(1024), 10);
        assert_eq!(ceillog2(2), 1);
        // top 10 bits 1 -> raw 1 << 6 = 64 -> 64 / 1024 = 0.0625
        assert_eq!(value_from_index(&t, 1, 1024), 0.0625);
        // top bit set: negative.
        assert_eq!(value_from_index(&t, 512, 1024), -32.0);
    }
}
