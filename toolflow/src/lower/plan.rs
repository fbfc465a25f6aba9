//! hls4ml's conversion of a dense or conv layer (a configuration is given):
//! which scale-and-shift layers after it merge into it, and its types
//! (`crate::hls4ml::infer::common` for `auto`). See `affine.rs` for the rules.

use super::Ctx;
use super::affine::{Affine, Arr, DType};
use super::hls::Identity;
use super::linear::ParamTypes;
use crate::config::Spec;
use crate::error::Result;
use crate::fixed::FixedType;
use crate::hls4ml::infer;
use crate::onnx::Node;

/// A dense or conv layer's float weights before quantization.
pub(super) struct Linear {
    /// `[n_out][k]` rows.
    pub w: Vec<f64>,
    pub w_dtype: DType,
    pub n_out: usize,
    /// Output shape (batch 1) and its channel axis.
    pub shape: Vec<usize>,
    pub channel_axis: usize,
    /// hls4ml's `n_ops` of the accumulator inference.
    pub n_ops: usize,
}

/// Resolved types of a dense/conv layer.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinearTypes {
    pub params: ParamTypes,
    /// The inferred (`auto`) result type, when configured.
    inferred: Option<FixedType>,
    ident_result: Option<FixedType>,
}

/// The scale-and-shift layers a Gemm becomes besides its MatMul (hls4ml
/// through qonnx's GemmToMatMul): `* alpha` (when not 1) and `+ beta * C`.
pub(super) fn gemm_links(
    ctx: &Ctx,
    node: &Node,
    alpha: f64,
    bias: Option<&Vec<f64>>,
    out: &str,
) -> Result<Vec<Affine>> {
    let uint1 = FixedType::new(false, 1, 1);
    let mut links = Vec::new();
    let bias_ident = Identity {
        names: node.aliases.bias.clone(),
        classes: vec!["ApplyAlpha".into(), "Add".into()],
    };
    if alpha != 1.0 {
        links.push(Affine {
            scale: Arr::scalar(alpha, DType::F32),
            bias: Arr::scalar(0.0, DType::Int),
            scale_fixed: None,
            bias_fixed: Some(uint1),
            ident: Identity {
                names: vec![],
                classes: vec!["ApplyAlpha".into(), "Mul".into()],
            },
            node: node.clone(),
            output: if bias.is_some() {
                format!("{out}__alpha")
            } else {
                out.to_string()
            },
            nodes: vec![],
        });
    }
    if let Some(b) = bias {
        links.push(Affine {
            scale: Arr::scalar(1.0, DType::Int),
            bias: Arr {
                shape: vec![b.len()],
                data: b.clone(),
                dtype: DType::F32,
                quantized: node.input(2).is_some_and(|n| ctx.quantized.contains_key(n)),
            },
            scale_fixed: Some(uint1),
            bias_fixed: None,
            ident: bias_ident,
            node: Node {
                name: node
                    .aliases
                    .bias
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("{}_bias", node.name)),
                ..node.clone()
            },
            output: out.to_string(),
            nodes: vec![],
        });
    }
    Ok(links)
}

/// hls4ml's conversion of a dense/conv layer: the scale-and-shift layers
/// after it (`pre`, then the graph's) merged (FuseConsecutiveBatchNormalization),
/// then fused into its weights while its result is `auto`
/// (FuseBatchNormalization), and its types. Returns the weights, the bias,
/// the types, the tensor the layer writes and the layers left after it.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub(super) fn plan(
    ctx: &mut Ctx,
    node: &Node,
    index: usize,
    x: usize,
    mut lin: Linear,
    bias: Option<Vec<f64>>,
    pre: Vec<Affine>,
    split: bool,
) -> Result<(Linear, Option<Vec<f64>>, LinearTypes, String, Vec<Affine>)> {
    let out_name = node.outputs[0].clone();
    let Some(cfg) = ctx.cfg else {
        let types = LinearTypes {
            params: ParamTypes::default(),
            inferred: None,
            ident_result: None,
        };
        return Ok((lin, bias, types, out_name, Vec::new()));
    };
    let ident = Identity::of(node);
    // The MatMul's own tensor when a Gemm is split (no TensorName can name it).
    let own = if split && !pre.is_empty() {
        format!("{out_name}__matmul")
    } else {
        out_name.clone()
    };
    let mut links = pre;
    ctx.extend_line(&mut links, out_name.clone(), &lin.shape)?;
    let merged = super::affine::merge_consecutive(ctx, links)?;
    let (mut b, mut b_dtype) = match bias {
        Some(b) => (b, DType::F32),
        None => (vec![0.0; lin.n_out], DType::F64),
    };
    let w_quantized = node.input(1).is_some_and(|n| ctx.quantized.contains_key(n));
    let b_quantized = node.input(2).is_some_and(|n| ctx.quantized.contains_key(n));
    let mut tail = own;
    let mut rest: Vec<Affine> = merged;
    if ctx.result_is_auto(&ident, &tail) {
        while let Some(l) = rest.first() {
            let rank = lin.shape.len();
            let (Some(s), Some(c)) = (
                l.scale.per_channel(rank, lin.channel_axis, lin.n_out),
                l.bias.per_channel(rank, lin.channel_axis, lin.n_out),
            ) else {
                break;
            };
            let scale_ok = !(w_quantized && l.scale.quantized)
                || l.scale.all(1.0)
                || lin.w.iter().all(|&v| v == 1.0);
            let bias_ok = !(b_quantized && l.bias.quantized)
                || l.bias.all(0.0)
                || b.iter().all(|&v| v == 0.0);
            if !(scale_ok && bias_ok) {
                break;
            }
            let round = |v: f64, d: DType| if d == DType::F32 { v as f32 as f64 } else { v };
            let wd = super::affine::promote(l.scale.dtype, lin.w_dtype);
            let per = lin.w.len() / lin.n_out.max(1);
            for (i, v) in lin.w.iter_mut().enumerate() {
                *v = round(s[i / per.max(1)] * *v, wd);
            }
            lin.w_dtype = wd;
            let sb = super::affine::promote(l.scale.dtype, b_dtype);
            let bd = super::affine::promote(sb, l.bias.dtype);
            for (j, v) in b.iter_mut().enumerate() {
                *v = round(round(s[j] * *v, sb) + c[j], bd);
            }
            b_dtype = bd;
            tail = l.output.clone();
            ctx.handled.extend(l.nodes.iter().copied());
            rest.remove(0);
        }
    }
    ctx.handled.insert(index);
    // A quantized weight (bias) keeps its quantizer's type whatever the configuration says.
    let quantizer = |i: usize| {
        node.input(i)
            .and_then(|n| ctx.quantized.get(n).copied().flatten())
    };
    let wt = quantizer(1).or_else(|| ctx.param_type(&ident, "weight"));
    let bt = quantizer(2).or_else(|| ctx.param_type(&ident, "bias"));
    let x_ty = ctx.info(x).ty;
    let inferred = match (wt, bt) {
        (Some(w), Some(bb)) => Some(infer::common(x_ty, w, bb, lin.n_ops, ctx.maximum())),
        _ => None,
    };
    let accum = match cfg.precision(&ident.names(), &ident.classes(), "accum") {
        Spec::Type(t) => Some(t),
        Spec::Auto => inferred,
    };
    let ident_result = ctx.result_type(&ident, &tail, inferred);
    let types = LinearTypes {
        params: ParamTypes {
            weight: wt,
            bias: bt,
            accum,
        },
        inferred,
        ident_result,
    };
    Ok((lin, Some(b), types, tail, rest))
}

/// Casts a dense/conv output to its result type, binds `tail` and lowers the layers left after it.
pub(super) fn finish_linear(
    ctx: &mut Ctx,
    node: &Node,
    out: usize,
    tail: &str,
    types: LinearTypes,
    rest: Vec<Affine>,
) -> Result<()> {
    let _ = types.inferred;
    let mut y = match types.ident_result {
        Some(ty) => ctx.cast(node, out, ty, tail)?,
        None => out,
    };
    ctx.env.insert(tail.to_string(), super::Val::Dyn(y));
    for l in rest {
        y = ctx.lower_affine(y, &l)?;
    }
    Ok(())
}

impl Ctx<'_> {
    /// True when a `LayerName` entry names this node by its own ONNX name.
    pub fn named_in_config(&self, node: &Node) -> bool {
        !node.aliases.unnamed
            && self.cfg.is_some_and(|c| {
                c.layer_name
                    .iter()
                    .any(|(k, _)| k == &node.name || k.eq_ignore_ascii_case(&node.name))
                    && !node
                        .aliases
                        .main
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(&node.name))
            })
    }
}
