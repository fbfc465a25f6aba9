//! Graph clean-up before lowering: topological order, channels-last
//! operators made explicit and Transposes moved out of the way
//! (`crate::layout`), BatchNorm folding into a preceding Conv or Gemm with
//! plain float weights (without a configuration), removal of dead nodes.
//!
//! Without a precision configuration (QONNX semantics) a BatchNormalization
//! after a Conv or Gemm with plain float weights is folded into them in f32
//! (as runtimes compute); after QONNX-quantized weights it is kept as a
//! per-channel scale and shift, so quantized weights stay on their grid.
//! With a configuration, hls4ml's own rules decide (`lower/affine.rs`).
//! (Identity/Dropout are aliased and constants folded during lowering, where
//! static shapes are known.)

use crate::config::PrecisionConfig;
use crate::error::Result;
use crate::onnx::{Graph, Node, Tensor};

/// Runs all clean-up passes; `config` is the float front door's precision configuration.
pub fn cleanup(g: &mut Graph, config: Option<&PrecisionConfig>) -> Result<()> {
    g.topo_sort()?;
    crate::layout::rewrite(g)?;
    crate::layout::sink(g);
    // With a configuration, hls4ml's own fusing applies during lowering (lower/affine.rs).
    if config.is_none() {
        fold_batchnorms(g);
    }
    prune(g);
    Ok(())
}

fn f32r(v: f64) -> f64 {
    v as f32 as f64
}

fn fold_batchnorms(g: &mut Graph) {
    let mut i = 0;
    while i < g.nodes.len() {
        if g.nodes[i].op == "BatchNormalization" && g.nodes[i].domain.is_empty() && try_fold(g, i) {
            g.nodes.remove(i);
        } else {
            i += 1;
        }
    }
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
