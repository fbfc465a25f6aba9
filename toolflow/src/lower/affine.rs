//! hls4ml's scale-and-shift layers and their fusing (a configuration is given).
//!
//! hls4ml turns a BatchNormalization into `BatchNormalization` (scale
//! `gamma / sqrt(var + eps)`, bias `beta - scale * mean`, `model/layers.py`)
//! and an Add/Sub/Mul/Div with a constant into `ApplyAlpha`
//! (`MergeToApplyAlpha`, `model/optimizer/passes/merge_const.py`: Add is
//! scale 1 (`uint<1>`) and bias c, Sub `x - c` bias -c, `c - x` scale -1
//! (`int<2>`), Mul scale c and bias 0 (`uint<1>`), Div scale 1/c); a Gemm is a
//! MatMul and an Add (qonnx `GemmToMatMul`). Both compute
//! `res = (res_t)(x * scale + bias)` (`nnet_batchnorm.h`). Then, in this order
//! (`hls4ml/model/optimizer/__init__.py`, flow `convert`):
//!
//! 1. `FuseConsecutiveBatchNormalization` (`batchnorm_opt.py`): a layer of
//!    these whose result type is `auto` and whose output has one user merges
//!    into the next one: `scale = s0 * s1`, `bias = s1 * b0 + b1`; the merged
//!    layer is the second one, with its configured scale and bias types.
//! 2. `FuseBatchNormalization` (`bn_fuse.py`): one that follows a Dense or
//!    Conv whose result type is `auto` (output with one user) merges into its
//!    weights `s * W` and bias `s * b + b1`, in the Dense/Conv's weight and
//!    bias types; the result stays `auto` and is inferred.
//!
//! The arithmetic follows numpy's types, as the constants hls4ml writes
//! depend on them: ONNX floats are float32, hls4ml's own 1 and 0 are
//! integers, and an integer array times a float32 array is float64 (so a
//! scale merged with an Add's scale 1 is not rounded to float32 again).

use super::hls::Identity;
use super::util::{broadcast_index, broadcast_shape, const_typed};
use super::{Ctx, Val};
use crate::error::{Error, Result};
use crate::fixed::FixedType;
use crate::hls4ml::infer;
use crate::ir::{BinOp, TensorId};
use crate::onnx::{Node, Tensor};

/// numpy's element type of a constant array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    Int,
    F32,
    F64,
}

/// numpy's result type of an operation on arrays of types `a` and `b`.
pub fn promote(a: DType, b: DType) -> DType {
    match (a, b) {
        (DType::Int, DType::Int) => DType::Int,
        (DType::F32, DType::F32) => DType::F32,
        _ => DType::F64,
    }
}

/// A constant array with numpy broadcasting against a tensor (right aligned).
#[derive(Debug, Clone, PartialEq)]
pub struct Arr {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    pub dtype: DType,
    /// The values came from a QONNX quantizer (hls4ml: a `quantizer` is set).
    pub quantized: bool,
}

impl Arr {
    pub fn scalar(v: f64, dtype: DType) -> Self {
        Arr {
            shape: vec![],
            data: vec![v],
            dtype,
            quantized: false,
        }
    }

    fn of(t: &Tensor, quantized: bool) -> Self {
        Arr {
            shape: t.shape.clone(),
            data: t.data.clone(),
            dtype: if t.float { DType::F32 } else { DType::Int },
            quantized,
        }
    }

    /// Elementwise `f(self, other)` with numpy broadcasting and rounding.
    pub fn zip(&self, other: &Arr, node: &Node, f: impl Fn(f64, f64) -> f64) -> Result<Arr> {
        let shape = broadcast_shape(node, &self.shape, &other.shape)?;
        let (ia, ib) = (
            broadcast_index(&shape, &self.shape),
            broadcast_index(&shape, &other.shape),
        );
        let dtype = promote(self.dtype, other.dtype);
        let data = ia
            .iter()
            .zip(&ib)
            .map(|(&i, &j)| {
                let v = f(self.data[i as usize], other.data[j as usize]);
                if dtype == DType::F32 {
                    v as f32 as f64
                } else {
                    v
                }
            })
            .collect();
        Ok(Arr {
            shape,
            data,
            dtype,
            quantized: false,
        })
    }

    /// The values along `axis` (of a tensor of rank `rank`) when the array is
    /// constant along every other axis: one per channel.
    pub fn per_channel(&self, rank: usize, axis: usize, channels: usize) -> Option<Vec<f64>> {
        if self.shape.len() > rank {
            return None;
        }
        let mut full = vec![1; rank - self.shape.len()];
        full.extend_from_slice(&self.shape);
        if full.iter().enumerate().any(|(i, &d)| i != axis && d != 1) {
            return None;
        }
        match full[axis] {
            1 => Some(vec![self.data[0]; channels]),
            c if c == channels => Some(self.data.clone()),
            _ => None,
        }
    }

    pub fn all(&self, v: f64) -> bool {
        self.data.iter().all(|&x| x == v)
    }
}

/// One hls4ml BatchNormalization / ApplyAlpha layer.
#[derive(Debug, Clone)]
pub struct Affine {
    pub scale: Arr,
    pub bias: Arr,
    /// hls4ml's fixed types (ApplyAlpha's `uint<1>` / `int<2>`), else the configured ones.
    pub scale_fixed: Option<FixedType>,
    pub bias_fixed: Option<FixedType>,
    pub ident: Identity,
    /// The node it comes from (names the IR layers and errors).
    pub node: Node,
    /// The ONNX tensor it writes.
    pub output: String,
    /// Graph nodes it stands for (marked handled when lowered).
    pub nodes: Vec<usize>,
}

fn uint1() -> FixedType {
    FixedType::new(false, 1, 1)
}

/// Whether `node` is a BatchNormalization or an Add/Sub/Mul/Div of `input`
/// and a constant, i.e. one of hls4ml's scale-and-shift layers.
pub fn is_affine(ctx: &Ctx, node: &Node, input: &str) -> bool {
    let is_const = |i: usize| {
        node.input(i)
            .is_some_and(|n| matches!(ctx.env.get(n), Some(Val::Const(_))))
    };
    match node.op.as_str() {
        "BatchNormalization" => node.input(0) == Some(input) && (1..5).all(is_const),
        "Add" | "Sub" | "Mul" | "Div" if node.inputs.len() == 2 => {
            (node.input(0) == Some(input) && is_const(1))
                || (node.input(1) == Some(input) && is_const(0) && node.op != "Div")
        }
        _ => false,
    }
}

/// The layer `node` (see [`is_affine`]) makes on an input of `shape`.
pub fn affine_of(ctx: &Ctx, node: &Node, index: usize, shape: &[usize]) -> Result<Affine> {
    let output = node
        .outputs
        .first()
        .cloned()
        .ok_or_else(|| node.err("node has no output"))?;
    let quantized = |i: usize| node.input(i).is_some_and(|n| ctx.quantized.contains_key(n));
    let mut a = Affine {
        scale: Arr::scalar(1.0, DType::Int),
        bias: Arr::scalar(0.0, DType::Int),
        scale_fixed: None,
        bias_fixed: None,
        ident: Identity::with_classes(node, &["ApplyAlpha"]),
        node: node.clone(),
        output,
        nodes: vec![index],
    };
    if node.op == "BatchNormalization" {
        if node.int("spatial", 1) == 0 {
            return Err(node.err("BatchNormalization with spatial=0 is not supported"));
        }
        let c = *shape
            .get(1)
            .ok_or_else(|| node.err("BatchNormalization needs a channel axis"))?;
        let (s, b) = super::elementwise::bn_coefficients(ctx, node, c)?;
        let mut cshape = vec![c];
        cshape.extend(std::iter::repeat_n(1, shape.len().saturating_sub(2)));
        a.scale = Arr {
            shape: cshape.clone(),
            data: s,
            dtype: DType::F32,
            quantized: false,
        };
        a.bias = Arr {
            shape: cshape,
            data: b,
            dtype: DType::F32,
            quantized: false,
        };
        a.ident = Identity::with_classes(node, &["BatchNormalization"]);
        return Ok(a);
    }
    let const_first = !matches!(
        ctx.env.get(node.input(1).unwrap_or("")),
        Some(Val::Const(_))
    );
    let ci = if const_first { 0 } else { 1 };
    let c = ctx.const_in(node, ci)?;
    let out = broadcast_shape(node, shape, &c.shape)?;
    if out != shape {
        return Err(node.err(format!(
            "the constant {:?} would broadcast the input {shape:?} to {out:?}",
            c.shape
        )));
    }
    let arr = Arr::of(c, quantized(ci));
    match (node.op.as_str(), const_first) {
        ("Add", _) => {
            a.scale_fixed = Some(uint1());
            a.bias = arr;
        }
        ("Sub", false) => {
            a.scale_fixed = Some(uint1());
            a.bias = Arr {
                data: arr.data.iter().map(|v| -v).collect(),
                ..arr
            };
        }
        ("Sub", true) => {
            a.scale = Arr::scalar(-1.0, DType::Int);
            a.scale_fixed = Some(FixedType::new(true, 2, 2));
            a.bias = arr;
        }
        ("Mul", _) => {
            a.scale = arr;
            a.bias_fixed = Some(uint1());
        }
        _ => {
            // Div: hls4ml's `1 / value` (a float32 array stays float32).
            let data = arr
                .data
                .iter()
                .map(|&v| {
                    let r = 1.0 / v;
                    if arr.dtype == DType::Int {
                        r
                    } else {
                        r as f32 as f64
                    }
                })
                .collect();
            let dtype = if arr.dtype == DType::Int {
                DType::F64
            } else {
                arr.dtype
            };
            a.scale = Arr { data, dtype, ..arr };
            a.bias_fixed = Some(uint1());
        }
    }
    Ok(a)
}

/// The graph nodes after tensor `t` (of rank `rank`) that form a line of
/// scale-and-shift layers (each output read by the next one only), as
/// (index, is a wire) pairs; wires pass values through: identities (removed
/// by qonnx), Transposes that only move the batch axis (tf2onnx writes them
/// around a BatchNormalization of a dense output) and Unsqueeze/Squeeze of
/// unit axes after the channel axis (PyTorch's exports do the same with them).
pub fn chain_after(ctx: &Ctx, mut t: String, mut rank: usize) -> Vec<(usize, bool)> {
    let base = rank;
    let mut out = Vec::new();
    loop {
        if ctx.graph_outputs.contains(&t) {
            return out;
        }
        let Some([j]) = ctx.consumers.get(&t).map(Vec::as_slice) else {
            return out;
        };
        let node = &ctx.graph.nodes[*j];
        if ctx.handled.contains(j) {
            return out;
        }
        let reshaped = super::shape::trailing_unit_axes(ctx, node, rank);
        let identity = ctx.qonnx_identity(node)
            || super::shape::is_batch_transpose(node, rank)
            || reshaped.is_some();
        rank = reshaped.unwrap_or(rank);
        // Between an Unsqueeze and its Squeeze only a BatchNormalization (per
        // channel whatever the rank) keeps its meaning on the original shape.
        let affine = is_affine(ctx, node, &t) && (rank == base || node.op == "BatchNormalization");
        if !(identity || affine) {
            return out;
        }
        out.push((*j, identity));
        match node.outputs.first() {
            Some(o) => t = o.clone(),
            None => return out,
        }
    }
}

/// The layers of `links` after `FuseConsecutiveBatchNormalization`.
pub fn merge_consecutive(ctx: &Ctx, links: Vec<Affine>) -> Result<Vec<Affine>> {
    let mut out: Vec<Affine> = Vec::new();
    let mut iter = links.into_iter();
    let Some(mut acc) = iter.next() else {
        return Ok(out);
    };
    for next in iter {
        let compatible = !(acc.scale.quantized && next.scale.quantized)
            || acc.scale.all(1.0)
            || next.scale.all(1.0);
        if ctx.result_is_auto(&acc.ident, &acc.output) && compatible {
            let n = &next.node;
            let scale = acc.scale.zip(&next.scale, n, |a, b| a * b)?;
            let sb = next.scale.zip(&acc.bias, n, |a, b| a * b)?;
            let bias = sb.zip(&next.bias, n, |a, b| a + b)?;
            let mut nodes = acc.nodes;
            nodes.extend(&next.nodes);
            acc = Affine {
                scale,
                bias,
                scale_fixed: None,
                bias_fixed: None,
                nodes,
                ..next
            };
        } else {
            out.push(acc);
            acc = next;
        }
    }
    out.push(acc);
    Ok(out)
}

impl Ctx<'_> {
    /// True when qonnx's preprocessing removes the node (with a Gemm in the
    /// model, `RemoveIdentityOps`): configuration mode treats it as a wire.
    pub fn qonnx_identity(&self, node: &Node) -> bool {
        self.cfg.is_some()
            && self.has_gemm
            && crate::hls4ml::names::qonnx_identity(self.graph, node)
    }

    /// The affine layers of a line starting at node `index` (itself affine).
    pub fn affine_line(&self, index: usize, node: &Node, shape: &[usize]) -> Result<Vec<Affine>> {
        let mut links = vec![affine_of(self, node, index, shape)?];
        self.extend_line(
            &mut links,
            node.outputs.first().cloned().unwrap_or_default(),
            shape,
        )?;
        Ok(links)
    }

    /// Appends the affine layers after tensor `t` (of `shape`) to `links`.
    pub fn extend_line(&self, links: &mut Vec<Affine>, t: String, shape: &[usize]) -> Result<()> {
        for (j, identity) in chain_after(self, t, shape.len()) {
            let node = &self.graph.nodes[j];
            if identity {
                // A wire: the line goes on from its output, which the last link now writes.
                if let Some(last) = links.last_mut() {
                    last.nodes.push(j);
                    last.output = node.outputs.first().cloned().unwrap_or_default();
                }
                continue;
            }
            links.push(affine_of(self, node, j, shape)?);
        }
        Ok(())
    }

    /// Lowers one (unfused) scale-and-shift layer on `x`; binds its output.
    pub fn lower_affine(&mut self, x: TensorId, a: &Affine) -> Result<TensorId> {
        let node = &a.node;
        let scale_t = match a.scale_fixed {
            Some(t) => t,
            None => self
                .param_type(&a.ident, "scale")
                .ok_or_else(|| Error::Config("scale type without a configuration".into()))?,
        };
        let bias_t = match a.bias_fixed {
            Some(t) => t,
            None => self
                .param_type(&a.ident, "bias")
                .ok_or_else(|| Error::Config("bias type without a configuration".into()))?,
        };
        let x_ty = self.info(x).ty;
        let scale_raw = const_typed(&a.scale.data, &scale_t);
        let one = 1i64.checked_shl(scale_t.frac.max(0) as u32);
        let mut y = x;
        if !(scale_t.frac >= 0 && scale_raw.iter().all(|&r| Some(r) == one)) {
            y = super::elementwise::with_raw(
                self,
                node,
                y,
                &a.scale.shape,
                scale_raw,
                scale_t.frac,
                BinOp::Mul,
            )?;
        }
        let bias_raw = const_typed(&a.bias.data, &bias_t);
        if bias_raw.iter().any(|&r| r != 0) {
            y = super::elementwise::with_raw(
                self,
                node,
                y,
                &a.bias.shape,
                bias_raw,
                bias_t.frac,
                BinOp::Add,
            )?;
        }
        let inferred = infer::batchnorm(x_ty, scale_t, bias_t, self.maximum());
        let ty = self
            .result_type(&a.ident, &a.output, Some(inferred))
            .unwrap_or(inferred);
        let y = self.cast(node, y, ty, &a.output)?;
        self.env.insert(a.output.clone(), Val::Dyn(y));
        self.handled.extend(a.nodes.iter().copied());
        Ok(y)
    }
}
