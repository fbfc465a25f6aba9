//! Constant folding: nodes whose inputs are all constants are evaluated here,
//! in f64 with results of float tensors rounded to f32 (as ONNX runtimes and
//! qonnx compute), so folded weights equal the reference's weights exactly.
//! `Shape` of a computed tensor is also a constant (shapes are static).

use super::shape::{concat_sources, perm_of, permute_index, reshape_shape};
use super::util::{axis, broadcast_index, broadcast_shape, shape_err};
use super::{Ctx, Val, quant};
use crate::error::Result;
use crate::onnx::{Node, Tensor};

fn f32r(v: f64) -> f64 {
    v as f32 as f64
}

/// Evaluates `node` if it can be folded; `None` if it must be lowered.
pub fn try_fold(ctx: &Ctx, node: &Node) -> Result<Option<Tensor>> {
    match node.op.as_str() {
        "Constant" => return constant(node).map(Some),
        "Shape" => return shape_of(ctx, node).map(Some),
        _ => {}
    }
    let all_const = node
        .inputs
        .iter()
        .filter(|s| !s.is_empty())
        .all(|n| matches!(ctx.env.get(n), Some(Val::Const(_))));
    if !all_const || node.inputs.iter().all(|s| s.is_empty()) {
        return Ok(None);
    }
    let c = |i: usize| ctx.const_in(node, i);
    let t = match node.op.as_str() {
        "Identity" | "Dropout" => c(0)?.clone(),
        "Cast" => cast(node, c(0)?),
        "Add" | "Sub" | "Mul" | "Div" => binary(node, c(0)?, c(1)?)?,
        "Neg" => map(c(0)?, |v| -v),
        "Sqrt" => map(c(0)?, |v| f32r(v.sqrt())),
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => {
            let x = c(0)?;
            let shape = reshape_shape(ctx, node, &x.shape)?;
            Tensor {
                shape,
                data: x.data.clone(),
                float: x.float,
            }
        }
        "Transpose" => {
            let x = c(0)?;
            let perm = perm_of(node, x.shape.len())?;
            let idx = permute_index(&x.shape, &perm);
            let shape = perm.iter().map(|&p| x.shape[p]).collect();
            Tensor {
                shape,
                data: idx.iter().map(|&i| x.data[i as usize]).collect(),
                float: x.float,
            }
        }
        "Concat" => concat(ctx, node)?,
        "Gather" => gather(node, c(0)?, c(1)?)?,
        "Quant" | "IntQuant" => quant::fold_quant(ctx, node)?,
        "BipolarQuant" => quant::fold_bipolar(ctx, node)?,
        _ => return Ok(None),
    };
    Ok(Some(t))
}

fn constant(node: &Node) -> Result<Tensor> {
    if let Some(t) = node.tensor("value") {
        return Ok(t.clone());
    }
    if let Some(f) = node.floats("value_floats") {
        return Ok(Tensor::new(
            vec![f.len()],
            f.iter().map(|&v| v as f64).collect(),
        ));
    }
    if let Some(i) = node
        .ints("value_ints")
        .filter(|_| node.attrs.contains_key("value_ints"))
    {
        return Ok(Tensor::ints(
            vec![i.len()],
            i.iter().map(|&v| v as f64).collect(),
        ));
    }
    if node.attrs.contains_key("value_float") {
        return Ok(Tensor::scalar(node.float("value_float", 0.0) as f64));
    }
    if node.attrs.contains_key("value_int") {
        return Ok(Tensor::ints(vec![], vec![node.int("value_int", 0) as f64]));
    }
    Err(node.err("Constant without a supported value attribute"))
}

fn shape_of(ctx: &Ctx, node: &Node) -> Result<Tensor> {
    let shape: Vec<usize> = match ctx.val(node, 0)? {
        Val::Const(t) => t.shape.clone(),
        Val::Float => ctx.model.input_shape.clone(),
        Val::Dyn(id) => ctx.shape(*id).to_vec(),
    };
    let r = shape.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clampi(node.int("start", 0));
    let end = clampi(node.int("end", r));
    let dims: Vec<f64> = shape[start..end.max(start)]
        .iter()
        .map(|&d| d as f64)
        .collect();
    Ok(Tensor::ints(vec![dims.len()], dims))
}

fn map(x: &Tensor, f: impl Fn(f64) -> f64) -> Tensor {
    Tensor {
        shape: x.shape.clone(),
        data: x.data.iter().map(|&v| f(v)).collect(),
        float: x.float,
    }
}

fn cast(node: &Node, x: &Tensor) -> Tensor {
    // TensorProto data types: 1 float, 10 float16, 11 double; everything else is integer or bool.
    let to = node.int("to", 1);
    let float = matches!(to, 1 | 10 | 11);
    let data = x
        .data
        .iter()
        .map(|&v| {
            if float {
                f32r(v)
            } else if to == 9 {
                f64::from(v != 0.0)
            } else {
                v.trunc()
            }
        })
        .collect();
    Tensor {
        shape: x.shape.clone(),
        data,
        float,
    }
}

fn binary(node: &Node, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let shape = broadcast_shape(node, &a.shape, &b.shape)?;
    let (ia, ib) = (
        broadcast_index(&shape, &a.shape),
        broadcast_index(&shape, &b.shape),
    );
    let float = a.float || b.float;
    let op = node.op.as_str();
    let data = ia
        .iter()
        .zip(&ib)
        .map(|(&i, &j)| {
            let (x, y) = (a.data[i as usize], b.data[j as usize]);
            let r = match op {
                "Add" => x + y,
                "Sub" => x - y,
                "Mul" => x * y,
                _ if float => x / y,
                _ if y == 0.0 => 0.0,
                _ => (x / y).trunc(),
            };
            if float { f32r(r) } else { r }
        })
        .collect();
    Ok(Tensor { shape, data, float })
}

fn concat(ctx: &Ctx, node: &Node) -> Result<Tensor> {
    let n = node.inputs.iter().filter(|s| !s.is_empty()).count();
    let ts: Vec<&Tensor> = (0..n)
        .map(|i| ctx.const_in(node, i))
        .collect::<Result<_>>()?;
    let shapes: Vec<Vec<usize>> = ts
        .iter()
        .map(|t| {
            if t.shape.is_empty() {
                vec![1]
            } else {
                t.shape.clone()
            }
        })
        .collect();
    let ax = axis(node, node.int("axis", 0), shapes[0].len())?;
    let (shape, src) = concat_sources(node, &shapes, ax)?;
    let data = src
        .iter()
        .map(|&(k, i)| ts[k as usize].data[i as usize])
        .collect();
    Ok(Tensor {
        shape,
        data,
        float: ts.iter().any(|t| t.float),
    })
}

fn gather(node: &Node, data: &Tensor, indices: &Tensor) -> Result<Tensor> {
    let ax = axis(node, node.int("axis", 0), data.shape.len())?;
    let dim = data.shape[ax];
    let outer: usize = data.shape[..ax].iter().product();
    let inner: usize = data.shape[ax + 1..].iter().product();
    let mut out = Vec::with_capacity(outer * indices.len() * inner);
    for o in 0..outer {
        for &iv in &indices.data {
            let i = if iv < 0.0 { iv + dim as f64 } else { iv };
            if i < 0.0 || i >= dim as f64 {
                return Err(shape_err(
                    node,
                    format!("gather index {iv} out of range for dimension {dim}"),
                ));
            }
            let base = (o * dim + i as usize) * inner;
            out.extend_from_slice(&data.data[base..base + inner]);
        }
    }
    let mut shape = data.shape[..ax].to_vec();
    shape.extend_from_slice(&indices.shape);
    shape.extend_from_slice(&data.shape[ax + 1..]);
    Ok(Tensor {
        shape,
        data: out,
        float: data.float,
    })
}
