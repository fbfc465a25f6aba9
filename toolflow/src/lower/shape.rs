//! Data-movement operators (Reshape, Flatten, Squeeze, Unsqueeze, Transpose,
//! Concat, Identity). Reshapes are free; the others become a precomputed
//! gather so the simulator only copies.

use super::util::{axis, shape_err};
use super::{Ctx, Val};
use crate::error::Result;
use crate::ir::LayerKind;
use crate::onnx::{Node, Tensor};

/// Identity and Dropout (inference): the output is the input.
pub fn identity(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let v = ctx.val(node, 0)?.clone();
    let out = node
        .outputs
        .first()
        .ok_or_else(|| node.err("no output"))?
        .clone();
    ctx.env.insert(out, v);
    Ok(())
}

/// Target shape of Reshape (`0` copies, `-1` infers unless `allowzero`).
pub fn reshape_target(
    node: &Node,
    input: &[usize],
    target: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(
                *input
                    .get(i)
                    .ok_or_else(|| shape_err(node, "0 in target beyond input rank"))?,
            ),
            t if t >= 0 => out.push(t as usize),
            _ => {
                return Err(shape_err(
                    node,
                    format!("invalid reshape target {target:?}"),
                ));
            }
        }
    }
    // The target comes from the model file: multiply with a check, or a
    // crafted target wraps around to the input's size.
    let overflow = || shape_err(node, format!("reshape target {target:?} is too large"));
    let known = out
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(shape_err(
                node,
                format!("cannot reshape {input:?} to {target:?}"),
            ));
        }
        out[i] = total / known;
    }
    let product = out
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    if product != total {
        return Err(shape_err(
            node,
            format!("cannot reshape {input:?} ({total} elements) to {target:?}"),
        ));
    }
    Ok(out)
}

/// Output shape of the reshape-like operators given the input shape.
pub fn reshape_shape(ctx: &Ctx, node: &Node, input: &[usize]) -> Result<Vec<usize>> {
    match node.op.as_str() {
        "Reshape" => {
            let t = ctx.const_in(node, 1)?.as_i64s();
            reshape_target(node, input, &t, node.int("allowzero", 0) != 0)
        }
        "Flatten" => {
            let a = axis(node, node.int("axis", 1), input.len() + 1)?;
            let lead: usize = input[..a.min(input.len())].iter().product();
            let rest: usize = input[a.min(input.len())..].iter().product();
            Ok(vec![lead, rest])
        }
        "Squeeze" => {
            let axes = axes_of(ctx, node)?;
            let ax: Vec<usize> = match axes {
                Some(a) => a
                    .iter()
                    .map(|&v| axis(node, v, input.len()))
                    .collect::<Result<_>>()?,
                None => (0..input.len())
                    .filter(|&i| input[i] == 1 && i != 0)
                    .collect(),
            };
            Ok(input
                .iter()
                .enumerate()
                .filter(|(i, _)| !ax.contains(i))
                .map(|(_, &d)| d)
                .collect())
        }
        _ => {
            let axes = axes_of(ctx, node)?.ok_or_else(|| node.err("Unsqueeze needs axes"))?;
            let rank = input.len() + axes.len();
            let ax: Vec<usize> = axes
                .iter()
                .map(|&v| axis(node, v, rank))
                .collect::<Result<_>>()?;
            let mut it = input.iter();
            Ok((0..rank)
                .map(|i| {
                    if ax.contains(&i) {
                        1
                    } else {
                        *it.next().unwrap_or(&1)
                    }
                })
                .collect())
        }
    }
}

fn axes_of(ctx: &Ctx, node: &Node) -> Result<Option<Vec<i64>>> {
    if let Some(a) = node.ints("axes") {
        return Ok(Some(a));
    }
    Ok(ctx.opt_const(node, 1)?.map(Tensor::as_i64s))
}

/// Reshape, Flatten, Squeeze, Unsqueeze on a dynamic tensor: a relabelled copy.
pub fn reshape(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let input = ctx.shape(x).to_vec();
    let shape = reshape_shape(ctx, node, &input)?;
    if shape.first() != Some(&1) {
        return Err(shape_err(
            node,
            format!("output shape {shape:?} would mix the batch dimension into the data"),
        ));
    }
    let info = ctx.info(x).clone();
    let out = ctx.range_tensor(
        &node.outputs[0],
        shape,
        info.ty.frac,
        info.lo as i128,
        info.hi as i128,
    )?;
    ctx.model.tensors[out].ty = info.ty;
    // An empty source list means a plain copy.
    ctx.push_layer(
        &node.name,
        &node.op,
        LayerKind::Gather {
            src: Vec::new(),
            shifts: vec![0],
        },
        vec![x],
        out,
    );
    ctx.bind(node, out)
}

/// For each output element of a transpose, its source index.
pub fn permute_index(shape: &[usize], perm: &[usize]) -> Vec<u32> {
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut in_strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * shape[i + 1];
    }
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let n: usize = out_shape.iter().product();
    let mut idx = Vec::with_capacity(n);
    let mut coord = vec![0usize; out_shape.len()];
    for _ in 0..n {
        idx.push(
            coord
                .iter()
                .zip(&strides)
                .map(|(c, s)| c * s)
                .sum::<usize>() as u32,
        );
        for d in (0..out_shape.len()).rev() {
            coord[d] += 1;
            if coord[d] < out_shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    idx
}

/// The permutation of a Transpose node (default: reverse).
pub fn perm_of(node: &Node, rank: usize) -> Result<Vec<usize>> {
    let perm: Vec<usize> = match node.ints("perm") {
        Some(p) => p
            .iter()
            .map(|&v| axis(node, v, rank))
            .collect::<Result<_>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..rank).collect::<Vec<_>>() {
        return Err(node.err(format!("perm {perm:?} is not a permutation of rank {rank}")));
    }
    Ok(perm)
}

/// Whether a permutation moves no element of a batch-1 tensor: without the
/// batch axis, the other axes keep their order.
pub fn moves_batch_only(perm: &[usize]) -> bool {
    let rest: Vec<usize> = perm.iter().copied().filter(|&p| p != 0).collect();
    rest.windows(2).all(|w| w[0] < w[1])
}

/// Whether `node` is a Transpose that moves only the batch axis of a tensor
/// of rank `rank` (a wire, see [`transpose`]).
pub fn is_batch_transpose(node: &Node, rank: usize) -> bool {
    node.op == "Transpose"
        && node.inputs.len() == 1
        && perm_of(node, rank).is_ok_and(|p| p.first() != Some(&0) && moves_batch_only(&p))
}

/// The rank after `node` when it is an Unsqueeze or Squeeze of explicit
/// axes, all after the channel axis, on a tensor of rank `rank`: a wire
/// for a per-channel scale and shift (PyTorch's exports put a
/// BatchNormalization of a dense output between `Unsqueeze(axes=[2])` and
/// `Squeeze(axes=[2])`).
pub fn trailing_unit_axes(ctx: &Ctx, node: &Node, rank: usize) -> Option<usize> {
    let axes = axes_of(ctx, node).ok()??;
    let after = match node.op.as_str() {
        "Unsqueeze" => rank + axes.len(),
        "Squeeze" => rank.checked_sub(axes.len())?,
        _ => return None,
    };
    let of = if node.op == "Unsqueeze" { after } else { rank };
    let mut seen = Vec::new();
    for &a in &axes {
        let a = axis(node, a, of).ok()?;
        if a < 2 || seen.contains(&a) {
            return None;
        }
        seen.push(a);
    }
    (after >= 2).then_some(after)
}

/// Transpose of a dynamic tensor (the batch axis must stay first).
pub fn transpose(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let shape = ctx.shape(x).to_vec();
    let perm = perm_of(node, shape.len())?;
    if perm.first() != Some(&0) {
        // With batch 1, a permutation that only moves the batch axis (the
        // other axes keep their order) moves no element: exporters such as
        // tf2onnx put such Transposes around a BatchNormalization. The
        // tensor keeps its batch-first shape here.
        if moves_batch_only(&perm) {
            return ctx.bind(node, x);
        }
        return Err(node.err(format!(
            "transposing the batch axis (perm {perm:?}) is only supported when the other axes keep their order"
        )));
    }
    let idx = permute_index(&shape, &perm);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let info = ctx.info(x).clone();
    let out = ctx.typed_tensor(&node.outputs[0], out_shape, info.ty)?;
    ctx.model.tensors[out].lo = info.lo;
    ctx.model.tensors[out].hi = info.hi;
    let src = idx.into_iter().map(|i| (0u16, i)).collect();
    ctx.push_layer(
        &node.name,
        &node.op,
        LayerKind::Gather {
            src,
            shifts: vec![0],
        },
        vec![x],
        out,
    );
    ctx.bind(node, out)
}

/// Source of each output element: (input number, index in that input).
pub type Sources = Vec<(u16, u32)>;

/// Output shape and sources of a concat.
pub fn concat_sources(
    node: &Node,
    shapes: &[Vec<usize>],
    ax: usize,
) -> Result<(Vec<usize>, Sources)> {
    let first = shapes
        .first()
        .ok_or_else(|| node.err("Concat with no inputs"))?;
    let mut out_shape = first.clone();
    out_shape[ax] = 0;
    for s in shapes {
        if s.len() != first.len() || s.iter().enumerate().any(|(i, &d)| i != ax && d != first[i]) {
            return Err(shape_err(
                node,
                format!("cannot concatenate shapes {shapes:?} on axis {ax}"),
            ));
        }
        out_shape[ax] += s[ax];
    }
    let outer: usize = first[..ax].iter().product();
    let inner: usize = first[ax + 1..].iter().product();
    let mut src = Vec::with_capacity(out_shape.iter().product());
    for o in 0..outer {
        for (k, s) in shapes.iter().enumerate() {
            let block = s[ax] * inner;
            src.extend((0..block).map(|j| (k as u16, (o * block + j) as u32)));
        }
    }
    Ok((out_shape, src))
}

/// Concat of dynamic tensors (constants are not mixed in); types are aligned to the finest frac.
pub fn concat(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let n = node.inputs.iter().filter(|s| !s.is_empty()).count();
    if n > u16::MAX as usize {
        return Err(node.err("too many inputs"));
    }
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        if matches!(ctx.val(node, i)?, Val::Const(_)) {
            return Err(node.err("concatenating constants with computed tensors is not supported"));
        }
        ids.push(ctx.dyn_in(node, i)?);
    }
    let shapes: Vec<Vec<usize>> = ids.iter().map(|&i| ctx.shape(i).to_vec()).collect();
    let rank = shapes
        .first()
        .ok_or_else(|| node.err("Concat without inputs"))?
        .len();
    let ax = axis(node, node.int("axis", 0), rank)?;
    if ax == 0 {
        return Err(node.err("concatenation along the batch axis is not supported"));
    }
    let (out_shape, src) = concat_sources(node, &shapes, ax)?;
    let frac = ids.iter().map(|&i| ctx.info(i).ty.frac).max().unwrap_or(0);
    let mut shifts = Vec::with_capacity(n);
    let (mut lo, mut hi) = (0i128, 0i128);
    for &i in &ids {
        let t = ctx.info(i);
        let s = (frac - t.ty.frac) as u32;
        shifts.push(s);
        lo = lo.min((t.lo as i128) << s);
        hi = hi.max((t.hi as i128) << s);
    }
    let types: Vec<crate::fixed::FixedType> = ids.iter().map(|&i| ctx.info(i).ty).collect();
    let name = format!("{}_cat", node.outputs[0]);
    let out = ctx.range_tensor(&name, out_shape, frac, lo, hi)?;
    ctx.push_layer(
        &node.name,
        &node.op,
        LayerKind::Gather { src, shifts },
        ids,
        out,
    );
    // hls4ml's Concatenate: `res = (res_t) input`, `auto` as _infer_cat_precision.
    let max = ctx.maximum();
    let inferred = types
        .iter()
        .skip(1)
        .fold(types.first().copied(), |acc, &t| {
            acc.map(|a| crate::hls4ml::infer::concat(a, t, max))
        });
    let ident = super::hls::Identity::of(node);
    let out_name = node.outputs[0].clone();
    ctx.finish_as(node, &ident, out, &out_name, inferred)
}

/// The source coordinate of output coordinate `x` along one axis (ONNX
/// Resize, mode nearest), in float32 as onnxruntime computes it.
fn nearest_source(
    x: usize,
    in_len: usize,
    out_len: usize,
    scale: f32,
    ctm: &str,
    nm: &str,
) -> std::result::Result<usize, String> {
    // onnxruntime maps an axis of scale 1 one to one, whatever the modes
    // (tf_half_pixel_for_nn with a ceiling nearest mode would otherwise
    // shift it by one); so do we.
    if scale == 1.0 && out_len == in_len {
        return Ok(x);
    }
    let xf = x as f32;
    let orig = match ctm {
        "half_pixel" => (xf + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => {
            if out_len > 1 {
                (xf + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        "align_corners" => {
            if out_len == 1 {
                0.0
            } else {
                xf * (in_len as f32 - 1.0) / (out_len as f32 - 1.0)
            }
        }
        "asymmetric" => xf / scale,
        "tf_half_pixel_for_nn" => (xf + 0.5) / scale,
        other => {
            return Err(format!(
                "coordinate_transformation_mode '{other}' is not supported"
            ));
        }
    };
    let r = match nm {
        "round_prefer_floor" => {
            if orig.fract() == 0.5 {
                orig.floor()
            } else {
                orig.round()
            }
        }
        "round_prefer_ceil" => orig.round(),
        "floor" => orig.floor(),
        "ceil" => orig.ceil(),
        other => return Err(format!("nearest_mode '{other}' is not supported")),
    };
    Ok((r.max(0.0) as usize).min(in_len.saturating_sub(1)))
}

/// Resize / Upsample with mode `nearest` (data movement): every output
/// element copies the input element ONNX's coordinate transformation and
/// nearest mode pick (opsets 7 to 21). hls4ml's `resize_nearest` picks the
/// same elements for integer scales and keeps the input type.
pub fn resize(ctx: &mut Ctx, node: &Node) -> Result<()> {
    let x = ctx.dyn_in(node, 0)?;
    let shape = ctx.shape(x).to_vec();
    let mode = node.string("mode", "nearest");
    if mode != "nearest" {
        return Err(node.err(format!("mode '{mode}' is not supported (nearest is)")));
    }
    let upsample_like = node.op == "Upsample" || ctx.opset < 11;
    let (ctm, nm) = if upsample_like {
        ("asymmetric".to_string(), "floor".to_string())
    } else {
        (
            node.string("coordinate_transformation_mode", "half_pixel"),
            node.string("nearest_mode", "round_prefer_floor"),
        )
    };
    if node.ints("axes").is_some() {
        return Err(node.err("the axes attribute is not supported"));
    }
    // Opset 18: with sizes, a policy other than stretch changes the output size.
    let policy = node.string("keep_aspect_ratio_policy", "stretch");
    if policy != "stretch" {
        return Err(node.err(format!(
            "keep_aspect_ratio_policy '{policy}' is not supported (stretch is)"
        )));
    }
    let rank = shape.len();
    let scales_input = if upsample_like { 1 } else { 2 };
    let scales: Option<Vec<f64>> = match node.floats("scales") {
        Some(v) => Some(v.iter().map(|&f| f as f64).collect()),
        None => ctx
            .opt_const(node, scales_input)?
            .filter(|t| !t.is_empty())
            .map(|t| t.data.clone()),
    };
    let sizes: Option<Vec<usize>> = if upsample_like {
        None
    } else {
        ctx.opt_const(node, 3)?
            .filter(|t| !t.is_empty())
            .map(|t| t.as_i64s().into_iter().map(|v| v.max(0) as usize).collect())
    };
    let (out_shape, eff): (Vec<usize>, Vec<f32>) = match (scales, sizes) {
        (Some(s), None) if s.len() == rank => {
            let out: Vec<usize> = shape
                .iter()
                .zip(&s)
                .map(|(&d, &f)| (d as f64 * f).floor().max(0.0) as usize)
                .collect();
            (out, s.iter().map(|&f| f as f32).collect())
        }
        (None, Some(z)) if z.len() == rank => {
            let eff = z
                .iter()
                .zip(&shape)
                .map(|(&o, &i)| o as f32 / i.max(1) as f32)
                .collect();
            (z, eff)
        }
        _ => {
            return Err(node.err(format!(
                "needs either scales or sizes with one value per axis of the input {shape:?}"
            )));
        }
    };
    if out_shape.first() != Some(&1) {
        return Err(node.err("resizing the batch axis is not supported"));
    }
    super::util::numel(&out_shape, ctx.limits, &node.outputs[0])?;
    let mut src_axes: Vec<Vec<usize>> = Vec::with_capacity(rank);
    for a in 0..rank {
        if out_shape[a] == 0 {
            return Err(node.err("empty output"));
        }
        let mut v = Vec::with_capacity(out_shape[a]);
        for o in 0..out_shape[a] {
            v.push(
                nearest_source(o, shape[a], out_shape[a], eff[a], &ctm, &nm)
                    .map_err(|e| node.err(e))?,
            );
        }
        src_axes.push(v);
    }
    let mut in_strides = vec![1usize; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * shape[i + 1];
    }
    let n: usize = out_shape.iter().product();
    let mut src = Vec::with_capacity(n);
    let mut coord = vec![0usize; rank];
    for _ in 0..n {
        let idx: usize = (0..rank)
            .map(|a| src_axes[a][coord[a]] * in_strides[a])
            .sum();
        src.push((0u16, idx as u32));
        for d in (0..rank).rev() {
            coord[d] += 1;
            if coord[d] < out_shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    let info = ctx.info(x).clone();
    let out = ctx.typed_tensor(&node.outputs[0], out_shape, info.ty)?;
    ctx.model.tensors[out].lo = info.lo;
    ctx.model.tensors[out].hi = info.hi;
    ctx.push_layer(
        &node.name,
        &node.op,
        LayerKind::Gather {
            src,
            shifts: vec![0],
        },
        vec![x],
        out,
    );
    ctx.bind(node, out)
}
