//! Graph clean-up before lowering: topological order, BatchNorm folding into
//! a preceding Conv or Gemm with plain float weights, removal of dead nodes.
//!
//! Folding follows hls4ml 1.3's `FuseBatchNormalization` (bn_fuse.py): hls4ml
//! fuses a BatchNormalization into the Dense/Conv before it only when that
//! layer's result type is `'auto'` (UnspecifiedPrecisionType) and its output
//! has no other user; otherwise the BN stays a layer with its own scale, bias
//! and result types. Our configuration has no `'auto'`, so the toolflow's form
//! of the rule is: with a precision configuration, a BN that has a precision
//! of its own (a `LayerName` entry for the BN node, or a `LayerType:
//! BatchNormalization` entry, with `Precision`) is kept as a separate
//! per-channel scale and shift after the producer's result type; a BN without
//! one is folded (its producer's result type applies after the folded BN, as
//! hls4ml's inferred result type of the fused layer).
//! (Identity/Dropout are aliased and constants folded during lowering, where
//! static shapes are known.) BatchNorm after QONNX-quantized weights is kept
//! as a per-channel scale and shift, so quantized weights stay on their grid.

use crate::config::PrecisionConfig;
use crate::error::Result;
use crate::onnx::{Graph, Node, Tensor};

/// Runs all clean-up passes; `config` is the float front door's precision configuration.
pub fn cleanup(g: &mut Graph, config: Option<&PrecisionConfig>) -> Result<()> {
    g.topo_sort()?;
    fold_batchnorms(g, config);
    prune(g);
    Ok(())
}

fn f32r(v: f64) -> f64 {
    v as f32 as f64
}

/// True if the configuration gives BN node `bn` a precision of its own, so
/// that (as in hls4ml, where the producer's result type is then explicit) it
/// stays a separate layer.
fn bn_configured(config: Option<&PrecisionConfig>, bn: &Node) -> bool {
    let Some(c) = config else { return false };
    [
        c.layer_name.get(&bn.name),
        c.layer_type.get("BatchNormalization"),
    ]
    .into_iter()
    .flatten()
    .any(|l| l.precision.is_some())
}

fn fold_batchnorms(g: &mut Graph, config: Option<&PrecisionConfig>) {
    let mut i = 0;
    while i < g.nodes.len() {
        if g.nodes[i].op == "BatchNormalization" && bn_configured(config, &g.nodes[i]) {
            move_gemm_bias(g, i);
            i += 1;
        } else if g.nodes[i].op == "BatchNormalization" && try_fold(g, i) {
            g.nodes.remove(i);
        } else {
            i += 1;
        }
    }
}

/// A BN kept separate after a Gemm with a bias: hls4ml's ONNX route turns the
/// Gemm into MatMul + Add; the Add (an ApplyAlpha with an `'auto'` result)
/// is not fused into the Dense, whose result type is explicit, but into the
/// following BatchNormalization (`FuseConsecutiveBatchNormalization`: bias
/// `scale * b_gemm + b_bn`). So the Dense has no bias and the BN's bias, in
/// the BN's bias type, absorbs it: here the Gemm loses its bias and the BN's
/// mean becomes `mean - b_gemm` (then `beta - mean' * a = a * b_gemm + b`).
fn move_gemm_bias(g: &mut Graph, i: usize) {
    let bn = g.nodes[i].clone();
    let Some(x) = bn.input(0) else { return };
    if g.use_counts().get(x).copied().unwrap_or(0) != 1 {
        return;
    }
    let Some(pi) = g
        .nodes
        .iter()
        .position(|n| n.op == "Gemm" && n.outputs.first().map(String::as_str) == Some(x))
    else {
        return;
    };
    let prod = g.nodes[pi].clone();
    let (Some(bias), Some(mean)) = (
        prod.input(2).and_then(|n| g.consts.get(n)).cloned(),
        bn.input(3).and_then(|n| g.consts.get(n)).cloned(),
    ) else {
        return;
    };
    let c = mean.len();
    let b: Vec<f64> = match bias.len() {
        n if n == c => bias.data.clone(),
        1 => vec![bias.data[0]; c],
        _ => return,
    };
    let data: Vec<f64> = (0..c).map(|k| f32r(mean.data[k] - b[k])).collect();
    let mn = format!("{}__gemm_bias_mean", bn.name);
    g.consts
        .insert(mn.clone(), Tensor::new(mean.shape.clone(), data));
    g.nodes[i].inputs[3] = mn;
    g.nodes[pi].inputs.truncate(2);
}

/// Per-channel `(a, b)` with `y = x * a + b`, if all BN parameters are constants of length `c`.
fn bn_affine(g: &Graph, bn: &Node, c: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let p: Vec<&Tensor> = (1..5)
        .map(|i| bn.input(i).and_then(|n| g.consts.get(n)))
        .collect::<Option<_>>()?;
    if p.iter().any(|t| t.len() != c) {
        return None;
    }
    let eps = bn.float("epsilon", 1e-5) as f64;
    let a: Vec<f64> = (0..c)
        .map(|k| f32r(p[0].data[k] / f32r(f32r(p[3].data[k] + eps).sqrt())))
        .collect();
    let b: Vec<f64> = (0..c)
        .map(|k| f32r(p[1].data[k] - f32r(p[2].data[k] * a[k])))
        .collect();
    Some((a, b))
}

/// Folds BN node `i` into its producer; true on success.
fn try_fold(g: &mut Graph, i: usize) -> bool {
    let bn = g.nodes[i].clone();
    let Some(x) = bn.input(0) else { return false };
    if g.use_counts().get(x).copied().unwrap_or(0) != 1 {
        return false;
    }
    let Some(pi) = g
        .nodes
        .iter()
        .position(|n| n.outputs.first().map(String::as_str) == Some(x))
    else {
        return false;
    };
    let prod = g.nodes[pi].clone();
    let Some(w) = prod.input(1).and_then(|n| g.consts.get(n)).cloned() else {
        return false;
    };
    let (channels, per_row) = match prod.op.as_str() {
        "Conv" if !w.shape.is_empty() => (w.shape[0], true),
        "Gemm"
            if w.shape.len() == 2
                && prod.int("transA", 0) == 0
                && prod.float("alpha", 1.0) == 1.0
                && prod.float("beta", 1.0) == 1.0 =>
        {
            if prod.int("transB", 0) != 0 {
                (w.shape[0], true)
            } else {
                (w.shape[1], false)
            }
        }
        _ => return false,
    };
    let Some((a, b)) = bn_affine(g, &bn, channels) else {
        return false;
    };
    let old_bias = match prod.input(2) {
        Some(n) => match g.consts.get(n) {
            Some(t) if t.len() == channels => t.data.clone(),
            Some(t) if t.len() == 1 => vec![t.data[0]; channels],
            _ => return false,
        },
        None => vec![0.0; channels],
    };
    let mut wd = w.data.clone();
    let inner = wd.len() / channels.max(1);
    for (k, v) in wd.iter_mut().enumerate() {
        let ch = if per_row {
            k / inner.max(1)
        } else {
            k % channels
        };
        *v = f32r(*v * a[ch]);
    }
    let bias: Vec<f64> = (0..channels)
        .map(|k| f32r(f32r(old_bias[k] * a[k]) + b[k]))
        .collect();
    let (wn, bname) = (
        format!("{}__bn_w", prod.name),
        format!("{}__bn_b", prod.name),
    );
    g.consts
        .insert(wn.clone(), Tensor::new(w.shape.clone(), wd));
    g.consts
        .insert(bname.clone(), Tensor::new(vec![channels], bias));
    let p = &mut g.nodes[pi];
    p.inputs.resize(3, String::new());
    p.inputs[1] = wn;
    p.inputs[2] = bname;
    p.outputs = vec![bn.outputs.first().cloned().unwrap_or_default()];
    true
}

/// Removes nodes none of whose outputs is used.
fn prune(g: &mut Graph) {
    loop {
        let uses = g.use_counts();
        let before = g.nodes.len();
        g.nodes.retain(|n| {
            n.outputs
                .iter()
                .any(|o| uses.get(o).copied().unwrap_or(0) > 0)
        });
        if g.nodes.len() == before {
            break;
        }
    }
}
