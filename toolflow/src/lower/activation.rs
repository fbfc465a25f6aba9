//! Lookup-table activations, as hls4ml implements them in hardware.
//!
//! Sigmoid: `index = trunc0(x * N / 16) + N/2` clamped to `[0, N-1]`, entries
//! `sigmoid(16 * (i - N/2) / N)` in `table_t`; Tanh the same over `[-4, 4)`.
//! Softmax (our design, close to hls4ml's "stable" variant): `d = x - max(x)`,
//! `e = exp_table[min(N-1, trunc0(-d * N / 8))]`, `s = sum(e)`,
//! `y = e * inv_table[min(N-1, trunc0(s * N / n))]`.

use super::Ctx;
use super::util::axis;
use crate::config::Role;
use crate::error::Result;
use crate::fixed::FixedType;
use crate::ir::{LayerKind, Softmax, Table};
use crate::onnx::Node;

fn table_type(ctx: &Ctx, node: &Node) -> Result<(FixedType, usize)> {
    let types = ctx.types();
    let ty = types
        .resolve(&node.name, &node.op, Role::Table)?
        .unwrap_or_else(|| FixedType::new(true, 18, 8));
    let n = types.table_size(&node.name, &node.op)? as usize;
    Ok((ty, n))
}

/// Sigmoid and Tanh.
pub fn table(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let (ty, n) = table_type(ctx, node)?;
    let sigmoid = node.op == "Sigmoid";
    let range_log2 = if sigmoid { 4 } else { 3 };
    let range = f64::from(1u32 << range_log2);
    let table: Vec<i64> = (0..n)
        .map(|i| {
            let v = (range * (i as f64 - n as f64 / 2.0) / n as f64) as f32;
            let f = if sigmoid {
                1.0 / f64::from(1.0f32 + (-v).exp())
            } else {
                f64::from(v.tanh())
            };
            ty.quantize_f64(f) as i64
        })
        .collect();
    let lo = table.iter().copied().min().unwrap_or(0) as i128;
    let hi = table.iter().copied().max().unwrap_or(0) as i128;
    let index_shift = n.trailing_zeros() as i32 - range_log2 - info.ty.frac;
    ctx.account(node, n as u64, 0)?;
    let out = ctx.range_tensor(&node.outputs[0], info.shape.clone(), ty.frac, lo, hi)?;
    ctx.model.tensors[out].ty = ty;
    let t = Table {
        function: node.op.clone(),
        table,
        table_type: ty,
        index_shift,
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Table(t), vec![x], out);
    ctx.finish(node, out)
}

/// Softmax over the last axis.
pub fn softmax(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let info = ctx.info(x).clone();
    let rank = info.shape.len();
    let default_axis = if ctx_opset13(ctx) { -1 } else { 1 };
    let ax = axis(node, node.int("axis", default_axis), rank)?;
    let len = info.shape[ax];
    if ax + 1 != rank && info.shape[ax + 1..].iter().any(|&d| d != 1) {
        return Err(node.err("softmax is supported over the last (non-trivial) axis only"));
    }
    let (_, n) = table_type(ctx, node)?;
    let exp_type = FixedType::parse("fixed<18,8,RND,SAT>")?;
    let inv_type = FixedType::parse("fixed<18,8,RND,SAT>")?;
    let exp_table: Vec<i64> = (0..n)
        .map(|i| exp_type.quantize_f64((-8.0 * i as f64 / n as f64).exp()) as i64)
        .collect();
    let log2n = n.trailing_zeros() as i32;
    let exp_index_shift = log2n - 3 - info.ty.frac;
    // Sums are raw at exp_type.frac; index = sum * n / len, approximated by a shift of len rounded up to a power of two.
    let inv_index_shift =
        (exp_type.frac - log2n + (len.next_power_of_two().trailing_zeros() as i32)).max(0) as u32;
    let inv_table = inv_table(&inv_type, len, n);
    let out_frac = exp_type.frac + inv_type.frac;
    let max_e = exp_table.iter().copied().max().unwrap_or(0) as i128;
    let max_i = inv_table.iter().copied().max().unwrap_or(0) as i128;
    ctx.account(node, 2 * n as u64, len as u64)?;
    let out = ctx.range_tensor(
        &node.outputs[0],
        info.shape.clone(),
        out_frac,
        0,
        max_e * max_i,
    )?;
    let sm = Softmax {
        n: len,
        exp_table,
        exp_type,
        inv_table,
        inv_type,
        exp_index_shift,
        inv_index_shift,
    };
    ctx.push_layer(&node.name, &node.op, LayerKind::Softmax(sm), vec![x], out);
    let out_name = node.outputs[0].clone();
    let ty = ctx.types().result(&node.name, &node.op, &out_name)?;
    let cast = ctx.cast(node, out, ty, &format!("{out_name}_result"))?;
    ctx.bind(node, cast)
}

/// Inverse table: entry `i` is `1 / ((i + 0.5) * span / n)`, `span` = `len` rounded up to a power of two.
fn inv_table(ty: &FixedType, len: usize, n: usize) -> Vec<i64> {
    let span = len.next_power_of_two() as f64;
    (0..n)
        .map(|i| {
            let s = ((i as f64 + 0.5) * span / n as f64).max(1.0);
            ty.quantize_f64(1.0 / s) as i64
        })
        .collect()
}

fn ctx_opset13(ctx: &Ctx) -> bool {
    ctx.opset >= 13
}
