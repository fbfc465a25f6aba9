//! Data layout: QONNX's channels-last operators and the Transposes around them.
//!
//! `qonnx.custom_op.channels_last` holds Conv, MaxPool and
//! BatchNormalization on NHWC tensors (qonnx `custom_op/channels_last/`:
//! the wrapped standard operator runs on the input transposed to channels
//! first, Conv weights `[M, kh, kw, C/g]` transposed to `[M, C/g, kh, kw]`,
//! and the output is transposed back). [`rewrite`] makes that explicit:
//! Transpose, the standard operator, Transpose (a channels-last
//! BatchNormalization keeps its channel on the last axis instead).
//! [`sink`] then moves every Transpose of a computed tensor down through
//! the operators that do not care about the layout (elementwise ones, and
//! operations with constants, Resize and Concat with their parameters
//! permuted) and cancels a Transpose followed by its inverse, so that
//! consecutive channels-last layers run without moving data in between.
//! Every step moves values only; none changes one.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::onnx::graph::Attr;
use crate::onnx::{Graph, Node, Tensor};

/// The domain of QONNX's channels-last operators.
pub const CHANNELS_LAST: &str = "qonnx.custom_op.channels_last";

fn transpose_node(input: &str, output: &str, perm: &[usize], name: String) -> Node {
    let mut attrs = HashMap::new();
    attrs.insert(
        "perm".to_string(),
        Attr::Ints(perm.iter().map(|&p| p as i64).collect()),
    );
    Node {
        name,
        op: "Transpose".into(),
        domain: String::new(),
        inputs: vec![input.to_string()],
        outputs: vec![output.to_string()],
        attrs,
        aliases: crate::onnx::Aliases {
            unnamed: true,
            ..Default::default()
        },
    }
}

/// `[0, r-1, 1, ..., r-2]`: channels last to channels first.
fn to_first(rank: usize) -> Vec<usize> {
    let mut p = vec![0, rank - 1];
    p.extend(1..rank - 1);
    p
}

/// `[0, 2, ..., r-1, 1]`: channels first to channels last.
fn to_last(rank: usize) -> Vec<usize> {
    let mut p = vec![0];
    p.extend(2..rank);
    p.push(1);
    p
}

fn permute_tensor(t: &Tensor, perm: &[usize]) -> Tensor {
    let idx = crate::lower::permute_index(&t.shape, perm);
    Tensor {
        shape: perm.iter().map(|&p| t.shape[p]).collect(),
        data: idx.iter().map(|&i| t.data[i as usize]).collect(),
        float: t.float,
    }
}

/// Replaces channels-last Conv and MaxPool by Transposes around the standard operator.
pub fn rewrite(g: &mut Graph) -> Result<()> {
    let nodes = std::mem::take(&mut g.nodes);
    let mut out = Vec::with_capacity(nodes.len());
    for n in nodes {
        if n.domain != CHANNELS_LAST || n.op == "BatchNormalization" {
            out.push(n);
            continue;
        }
        let rank = match n.op.as_str() {
            "Conv" | "MaxPool" => n.ints("kernel_shape").map_or(0, |k| k.len()) + 2,
            _ => {
                return Err(Error::unsupported(
                    &n.name,
                    &n.op,
                    format!(
                        "the domain {CHANNELS_LAST} has Conv, MaxPool and BatchNormalization only"
                    ),
                ));
            }
        };
        if !(3..=4).contains(&rank) {
            return Err(n.err(format!(
                "channels-last {} of rank {rank}: only 1D and 2D",
                n.op
            )));
        }
        let (x, y) = match (n.input(0), n.outputs.first()) {
            (Some(x), Some(y)) => (x.to_string(), y.clone()),
            _ => return Err(n.err("missing input or output")),
        };
        let tin = format!("{}__channels_first_in", n.name);
        let tout = format!("{}__channels_first_out", n.name);
        out.push(transpose_node(
            &x,
            &tin,
            &to_first(rank),
            format!("{}__to_first", n.name),
        ));
        let mut std = n.clone();
        std.domain = String::new();
        std.inputs[0] = tin;
        std.outputs = vec![tout.clone()];
        if n.op == "Conv"
            && let Some(w) = n.input(1)
        {
            // The weights [M, kh, kw, C/g] become [M, C/g, kh, kw]: a Transpose
            // of a constant, folded when lowering (after any quantizer on them).
            let name = format!("{}__weights_channels_first", n.name);
            out.push(transpose_node(
                w,
                &name,
                &to_first(rank),
                format!("{}__weights_to_first", n.name),
            ));
            std.inputs[1] = name;
        }
        out.push(std);
        out.push(transpose_node(
            &tout,
            &y,
            &to_last(rank),
            format!("{}__to_last", n.name),
        ));
    }
    g.nodes = out;
    Ok(())
}

fn perm(n: &Node) -> Option<Vec<usize>> {
    n.ints("perm")
        .map(|p| p.iter().map(|&v| v.max(0) as usize).collect())
}

/// Operators that act on each element alone (parameters scalar), so a
/// Transpose commutes with them.
fn elementwise(g: &Graph, n: &Node) -> bool {
    let scalar = |i: usize| {
        n.input(i)
            .is_none_or(|c| g.consts.get(c).is_some_and(|t| t.len() == 1))
    };
    match n.op.as_str() {
        "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh" | "Softsign" | "Softplus" | "Elu" | "Selu"
        | "HardSigmoid" | "ThresholdedRelu" | "Identity" | "Dropout" => {
            n.inputs.len() <= 1 || n.op == "Dropout"
        }
        "Clip" => scalar(1) && scalar(2),
        "Quant" | "IntQuant" => scalar(1) && scalar(2) && scalar(3),
        "BipolarQuant" => scalar(1),
        "Trunc" => (1..n.inputs.len()).all(scalar),
        _ => false,
    }
}

fn dynamic_transpose(g: &Graph, n: &Node) -> bool {
    n.op == "Transpose"
        && n.domain.is_empty()
        && n.input(0).is_some_and(|i| !g.consts.contains_key(i))
        && perm(n).is_some()
}

fn is_inverse(p: &[usize], q: &[usize]) -> bool {
    q.len() == p.len() && (0..p.len()).all(|i| q.get(i).and_then(|&qi| p.get(qi)) == Some(&i))
}

/// One step of moving Transposes down; true if the graph changed.
fn sink_once(g: &mut Graph) -> bool {
    let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        for inp in n.inputs.iter().filter(|s| !s.is_empty()) {
            let v = consumers.entry(inp.clone()).or_default();
            if v.last() != Some(&i) {
                v.push(i);
            }
        }
    }
    for ti in 0..g.nodes.len() {
        let t = &g.nodes[ti];
        if !dynamic_transpose(g, t) {
            continue;
        }
        let (Some(p), Some(tout)) = (perm(t), t.outputs.first().cloned()) else {
            continue;
        };
        let users = consumers.get(&tout).cloned().unwrap_or_default();
        // Inverse Transposes among the users read the untransposed tensor instead.
        for &ui in &users {
            let u = &g.nodes[ui];
            if !dynamic_transpose(g, u) || !perm(u).is_some_and(|q| is_inverse(&p, &q)) {
                continue;
            }
            let Some(uout) = u.outputs.first().cloned() else {
                continue;
            };
            if g.outputs.contains(&uout) {
                continue;
            }
            let src = g.nodes[ti].inputs[0].clone();
            for n in g.nodes.iter_mut() {
                for inp in n.inputs.iter_mut() {
                    if *inp == uout {
                        *inp = src.clone();
                    }
                }
            }
            g.nodes.remove(ui);
            return true;
        }
        if users.len() == 1 && !g.outputs.contains(&tout) && move_through(g, ti, users[0], &p) {
            return true;
        }
    }
    // A Concat of tensors transposed alike: concatenate before the Transpose.
    for ci in 0..g.nodes.len() {
        let c = g.nodes[ci].clone();
        if c.op != "Concat" || !c.domain.is_empty() || c.inputs.is_empty() {
            continue;
        }
        let producers: Option<Vec<usize>> = c
            .inputs
            .iter()
            .map(|i| {
                g.nodes
                    .iter()
                    .position(|n| n.outputs.first() == Some(i) && dynamic_transpose(g, n))
            })
            .collect();
        let Some(producers) = producers else { continue };
        let perms: Vec<Vec<usize>> = producers
            .iter()
            .filter_map(|&i| perm(&g.nodes[i]))
            .collect();
        let Some(p) = perms.first().cloned() else {
            continue;
        };
        if perms.len() != producers.len() || perms.iter().any(|q| *q != p) {
            continue;
        }
        let rank = p.len() as i64;
        let a = c.int("axis", 0);
        let a = if a < 0 { a + rank } else { a };
        if !(0..rank).contains(&a) {
            continue;
        }
        let mut nc = c.clone();
        for (k, &pi) in producers.iter().enumerate() {
            nc.inputs[k] = g.nodes[pi].inputs[0].clone();
        }
        nc.attrs
            .insert("axis".into(), Attr::Int(p[a as usize] as i64));
        let out = c.outputs[0].clone();
        let fresh = format!("{out}__before_transpose");
        nc.outputs[0] = fresh.clone();
        g.nodes[ci] = nc;
        g.nodes.insert(
            ci + 1,
            transpose_node(&fresh, &out, &p, format!("{}__transpose", c.name)),
        );
        return true;
    }
    false
}

/// Moves Transpose `ti` (perm `p`) below its single consumer `ui` when the
/// consumer does not depend on the layout (its parameters permuted along).
fn move_through(g: &mut Graph, ti: usize, ui: usize, p: &[usize]) -> bool {
    let rank = p.len();
    let tin = g.nodes[ti].inputs[0].clone();
    let tout = g.nodes[ti].outputs[0].clone();
    let u = g.nodes[ui].clone();
    let mut nu = u.clone();
    // inverse permutation: x = transpose(y, inv)
    let mut inv = vec![0; rank];
    for (i, &pi) in p.iter().enumerate() {
        if pi < rank {
            inv[pi] = i;
        }
    }
    match u.op.as_str() {
        _ if u.domain.is_empty() && elementwise(g, &u) && u.input(0) == Some(tout.as_str()) => {}
        _ if u.domain == CHANNELS_LAST && u.op == "BatchNormalization" => {
            // Channel on the last axis of the channels-last tensor: axis p[r-1] before the transpose.
            if u.input(0) != Some(tout.as_str()) || p.get(rank - 1) != Some(&1) {
                return false;
            }
            nu.domain = String::new();
        }
        "Add" | "Sub" | "Mul" | "Div" if u.domain.is_empty() && u.inputs.len() == 2 => {
            let ci = if u.input(0) == Some(tout.as_str()) {
                1
            } else {
                0
            };
            let Some(c) = u.input(ci).and_then(|c| g.consts.get(c)).cloned() else {
                return false;
            };
            if c.shape.len() > rank {
                return false;
            }
            let mut full = vec![1; rank - c.shape.len()];
            full.extend_from_slice(&c.shape);
            let padded = Tensor { shape: full, ..c };
            let name = format!("{}__const_{}", u.name, g.consts.len());
            g.consts.insert(name.clone(), permute_tensor(&padded, &inv));
            nu.inputs[ci] = name;
        }
        "Resize" | "Upsample" if u.domain.is_empty() && u.input(0) == Some(tout.as_str()) => {
            for i in 1..u.inputs.len() {
                let Some(c) = u.input(i).and_then(|c| g.consts.get(c)).cloned() else {
                    continue;
                };
                if c.len() == rank {
                    let data = (0..rank).map(|a| c.data[inv[a]]).collect();
                    let name = format!("{}__param_{}_{}", u.name, i, g.consts.len());
                    g.consts.insert(name.clone(), Tensor { data, ..c });
                    nu.inputs[i] = name;
                } else if !c.is_empty() {
                    return false;
                }
            }
            if let Some(s) = u.floats("scales").filter(|s| s.len() == rank) {
                let v = (0..rank).map(|a| s[inv[a]]).collect();
                nu.attrs.insert("scales".into(), Attr::Floats(v));
            }
        }
        _ => return false,
    }
    // u now reads the untransposed tensor and writes a fresh one; the Transpose follows it.
    let fresh = format!("{}__before_transpose", u.outputs[0]);
    for inp in nu.inputs.iter_mut() {
        if *inp == tout {
            *inp = tin.clone();
        }
    }
    let uout = u.outputs[0].clone();
    nu.outputs[0] = fresh.clone();
    let mut t = g.nodes[ti].clone();
    t.inputs[0] = fresh;
    t.outputs[0] = uout;
    g.nodes[ui] = nu;
    g.nodes.remove(ti);
    // ti < ui in topological order: the consumer now sits at ui - 1; the Transpose follows it.
    let at = if ti < ui { ui } else { ui + 1 };
    g.nodes.insert(at.min(g.nodes.len()), t);
    true
}

/// Moves Transposes down and cancels inverse pairs (bounded work).
pub fn sink(g: &mut Graph) {
    let budget = 4 * g.nodes.len() + 16;
    for _ in 0..budget {
        if !sink_once(g) {
            break;
        }
    }
}
