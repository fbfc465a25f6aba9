//! IR -> datapath netlist. Each layer is expanded element by element with
//! exactly the simulator's integer semantics (`sim/kernels.rs`,
//! `sim/pointwise.rs`), so the RTL matches the simulator bit for bit.

use crate::error::{Error, Result};
use crate::fixed::{FixedType, Overflow, Rounding};
use crate::ir::{
    Accum, BinOp, Conv, Dense, ElemQuant, Layer, LayerKind, Model, Operand, Requant, Softmax,
    SoftmaxImpl,
};

use super::cmvm;
use super::net::{Net, NodeId, OutPort, Port, Term};

/// Options of the netlist builder.
#[derive(Debug, Clone)]
pub struct NetOptions {
    pub max_nodes: usize,
    pub dsp_threshold_bits: u32,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            max_nodes: 4_000_000,
            dsp_threshold_bits: 55,
        }
    }
}

/// Builds the netlist of a whole model. The RTL input ports are the outputs
/// of the float-input layers (`InputQuant`, `InputCast`): the hardware
/// receives already quantized raw integers.
pub fn build(model: &Model, opts: &NetOptions) -> Result<Net> {
    let mut net = Net::new(opts.max_nodes, opts.dsp_threshold_bits);
    let mut vals: Vec<Option<Vec<NodeId>>> = vec![None; model.tensors.len()];
    let mut notes = Vec::new();
    let reuse: Vec<u32> = model
        .layers
        .iter()
        .map(|l| layer_reuse(l, &mut notes))
        .collect();
    net.notes = notes;
    let ii = reuse.iter().copied().max().unwrap_or(1);
    let phase = if ii > 1 { Some(net.phase(ii)?) } else { None };
    for (layer, &r) in model.layers.iter().zip(&reuse) {
        let shared = phase.filter(|_| r > 1).map(|phase| Shared {
            phase,
            reuse: r,
            ii,
        });
        let out = lower_layer(&mut net, model, layer, &vals, shared)?;
        vals[layer.output] = Some(out);
    }
    for (k, &t) in model.outputs.iter().enumerate() {
        let info = &model.tensors[t];
        let nodes = vals[t]
            .clone()
            .ok_or_else(|| Error::Hardware(format!("output '{}' is never computed", info.name)))?;
        let mut packed = Vec::with_capacity(nodes.len());
        for n in nodes {
            // The simulator's values always fit the container type; wrapping is a no-op guard.
            packed.push(net.wrap(n, info.ty.width, info.ty.signed)?);
        }
        net.outputs.push(OutPort {
            name: format!("y{k}"),
            tensor: t,
            width: info.ty.width,
            signed: info.ty.signed,
            nodes: packed,
        });
    }
    Ok(net)
}

/// A layer built as a time-shared datapath.
#[derive(Debug, Clone, Copy)]
struct Shared {
    /// The phase node (see `Net::phase`).
    phase: NodeId,
    /// The layer's reuse factor R: each multiplier does R products, one per cycle.
    reuse: u32,
    /// The design's initiation interval (the largest R).
    ii: u32,
}

/// The reuse factor a layer is built with. Only dense and conv layers have
/// multipliers to share; their sums must be splittable over cycles (exact,
/// or per-product casts into a wrapping accumulator: a saturating one adds
/// in order with a clamp after every product), and R is capped at the
/// products per output (each output keeps at least one multiplier).
fn layer_reuse(layer: &Layer, notes: &mut Vec<String>) -> u32 {
    let r = layer.reuse_factor.max(1);
    if r == 1 {
        return 1;
    }
    let (accum, per_output) = match &layer.kind {
        LayerKind::Dense(d) => (&d.accum, d.n_in),
        LayerKind::Conv(c) => (&c.accum, c.in_c / c.groups.max(1) * c.k_h * c.k_w),
        _ => return 1,
    };
    if let Accum::PerProduct { ty } = accum
        && ty.overflow != Overflow::Wrap
    {
        notes.push(format!(
            "layer '{}': reuse factor {r} not applied: its saturating per-product accumulator adds in order, so it is built fully parallel",
            layer.name
        ));
        return 1;
    }
    let per_output = per_output.max(1) as u32;
    if r > per_output {
        notes.push(format!(
            "layer '{}': reuse factor {r} capped at {per_output}, its products per output",
            layer.name
        ));
        return per_output;
    }
    r
}

fn hw_err(layer: &Layer, what: &str) -> Error {
    Error::Hardware(format!("layer '{}' ({}): {what}", layer.name, layer.op))
}

fn lower_layer(
    net: &mut Net,
    model: &Model,
    layer: &Layer,
    vals: &[Option<Vec<NodeId>>],
    shared: Option<Shared>,
) -> Result<Vec<NodeId>> {
    let out_info = &model.tensors[layer.output];
    let input = |k: usize| -> Result<&Vec<NodeId>> {
        layer
            .inputs
            .get(k)
            .and_then(|&t| vals[t].as_ref())
            .ok_or_else(|| hw_err(layer, "input not computed"))
    };
    let in_frac = |k: usize| layer.inputs.get(k).map(|&t| model.tensors[t].ty.frac);
    match &layer.kind {
        LayerKind::InputQuant(_) | LayerKind::InputCast(_) => {
            let port = net.inputs.len() as u32;
            net.inputs.push(Port {
                name: format!("x{port}"),
                tensor: layer.output,
                elems: out_info.elems(),
                width: out_info.ty.width,
                signed: out_info.ty.signed,
            });
            (0..out_info.elems())
                .map(|e| net.input(port, e as u32, out_info.lo as i128, out_info.hi as i128))
                .collect()
        }
        LayerKind::Requant(rq) => {
            let a = input(0)?.clone();
            let elems = out_info.elems().max(1);
            a.iter()
                .enumerate()
                .map(|(i, &x)| {
                    let p = if rq.params.len() == 1 {
                        rq.params[0]
                    } else {
                        *rq.params
                            .get(i % elems)
                            .ok_or_else(|| hw_err(layer, "missing requant parameters"))?
                    };
                    requant(net, x, &p, rq)
                })
                .collect()
        }
        LayerKind::Cast => {
            let from = in_frac(0).unwrap_or(0);
            let a = input(0)?.clone();
            a.iter().map(|&x| net.cast(x, from, &out_info.ty)).collect()
        }
        LayerKind::Dense(d) => dense(net, d, input(0)?, shared),
        LayerKind::Conv(c) => conv(net, c, input(0)?, shared),
        LayerKind::Relu => {
            let a = input(0)?.clone();
            a.iter().map(|&x| net.relu(x)).collect()
        }
        LayerKind::LeakyRelu { alpha, alpha_frac } => {
            let a = input(0)?.clone();
            a.iter()
                .map(|&x| {
                    let neg = net.mul_const_node(x, *alpha as i128)?;
                    let pos = net.shl(x, *alpha_frac)?;
                    net.select(x, neg, pos)
                })
                .collect()
        }
        LayerKind::Clip { shift, lo, hi } => {
            let a = input(0)?.clone();
            a.iter()
                .map(|&x| {
                    let v = net.shl(x, *shift)?;
                    net.clamp(v, *lo as i128, *hi as i128)
                })
                .collect()
        }
        LayerKind::Binary(b) => {
            let a = input(0)?.clone();
            let bt: Option<Vec<NodeId>> = match &b.b {
                Operand::Tensor => Some(input(1)?.clone()),
                Operand::Const(_) => None,
            };
            (0..out_info.elems())
                .map(|e| {
                    let ia = b.a_index.as_ref().map_or(e, |ix| ix[e] as usize);
                    let ib = b.b_index.as_ref().map_or(e, |ix| ix[e] as usize);
                    let x = match a.get(ia) {
                        Some(&n) => n,
                        None => net.konst(0)?,
                    };
                    let y = match (&b.b, &bt) {
                        (Operand::Const(c), _) => {
                            net.konst(c.get(ib).copied().unwrap_or(0) as i128)?
                        }
                        (Operand::Tensor, Some(v)) => match v.get(ib) {
                            Some(&n) => n,
                            None => net.konst(0)?,
                        },
                        (Operand::Tensor, None) => net.konst(0)?,
                    };
                    let x = net.shl(x, b.a_shift)?;
                    let y = net.shl(y, b.b_shift)?;
                    let r = match b.op {
                        BinOp::Add => {
                            let t = net.add(Term::of(x), Term::of(y))?;
                            net.node_of(t)
                        }
                        BinOp::Sub => net.sub(x, y),
                        BinOp::RSub => net.sub(y, x),
                        BinOp::Mul => net.mul(x, y),
                    }?;
                    match &b.cast {
                        Some((ty, from)) => net.cast(r, *from, ty),
                        None => Ok(r),
                    }
                })
                .collect()
        }
        LayerKind::Table(t) => {
            let a = input(0)?.clone();
            let n = t.table.len() as i128;
            a.iter()
                .map(|&x| {
                    let i = scaled_index(net, x, t.index_shift)?;
                    let i = net.clamp(i, -n, n)?;
                    let i = net.add_const(i, n / 2)?;
                    let i = net.clamp(i, 0, n - 1)?;
                    net.rom(i, &t.table)
                })
                .collect()
        }
        LayerKind::Softmax(s) => {
            let a = input(0)?.clone();
            let mut out = Vec::with_capacity(a.len());
            for row in a.chunks(s.n.max(1)) {
                out.extend(softmax_row(net, s, row)?);
            }
            Ok(out)
        }
        LayerKind::Pool(p) => {
            let a = input(0)?.clone();
            let mut out = Vec::with_capacity(p.c * p.out_h * p.out_w);
            for ch in 0..p.c {
                for oy in 0..p.out_h {
                    for ox in 0..p.out_w {
                        let mut win = Vec::new();
                        for ky in 0..p.k[0] {
                            let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize
                                - p.pad[0] as isize;
                            for kx in 0..p.k[1] {
                                let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize
                                    - p.pad[1] as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy as usize >= p.in_h
                                    || ix as usize >= p.in_w
                                {
                                    continue;
                                }
                                let idx = (ch * p.in_h + iy as usize) * p.in_w + ix as usize;
                                win.push(*a.get(idx).ok_or_else(|| hw_err(layer, "pool index"))?);
                            }
                        }
                        let v = if p.max {
                            net.max_tree(win)?
                        } else {
                            let count = if p.count_include_pad {
                                p.k[0] * p.k[1]
                            } else {
                                win.len()
                            };
                            let r = p.recip.get(count).copied().unwrap_or(0) as i128;
                            let s = net.sum(win.iter().map(|&x| Term::of(x)).collect())?;
                            let s = net.node_of(s)?;
                            net.mul_const_node(s, r)?
                        };
                        out.push(v);
                    }
                }
            }
            Ok(out)
        }
        LayerKind::MultiThreshold(m) => {
            let a = input(0)?.clone();
            let elems = out_info.elems().max(1);
            a.iter()
                .enumerate()
                .map(|(i, &x)| {
                    let ch = *m
                        .channel
                        .get(i % elems)
                        .ok_or_else(|| hw_err(layer, "threshold channel"))?
                        as usize;
                    let th = m
                        .thresholds
                        .get(ch)
                        .ok_or_else(|| hw_err(layer, "threshold channel"))?;
                    let mut bits = Vec::with_capacity(th.len());
                    for &t in th {
                        bits.push(Term::of(net.ge(x, t as i128)?));
                    }
                    let count = net.sum(bits)?;
                    let count = net.node_of(count)?;
                    let scaled = net.mul_const_node(count, m.scale as i128)?;
                    net.add_const(scaled, m.bias as i128)
                })
                .collect()
        }
        LayerKind::Gather { src, shifts } => {
            if src.is_empty() {
                return Ok(input(0)?.clone());
            }
            src.iter()
                .map(|&(k, j)| {
                    let v = *input(k as usize)?
                        .get(j as usize)
                        .ok_or_else(|| hw_err(layer, "gather index"))?;
                    net.shl(v, shifts.get(k as usize).copied().unwrap_or(0))
                })
                .collect()
        }
    }
}

/// hls4ml's top-bits table index of `x` (a raw value of `ty`), as `sim::pointwise::top_bits`.
fn top_bits(net: &mut Net, x: NodeId, ty: &FixedType, n: usize) -> Result<NodeId> {
    let w = ty.width.min(64);
    let bits = crate::sim::ceillog2(n).min(w);
    let pattern = net.wrap(x, w, false)?;
    net.round(pattern, w - bits, Rounding::Trn)
}

/// hls4ml's balanced `reduce` with `Op_add<accum_t>`.
fn reduce_add(net: &mut Net, v: &[NodeId], ty: &FixedType) -> Result<NodeId> {
    match v.len() {
        0 => net.konst(0),
        1 => Ok(v[0]),
        n => {
            let left = if n == 2 {
                1
            } else {
                1usize << (usize::BITS - 1 - (n - 1).leading_zeros())
            };
            let a = reduce_add(net, &v[..left], ty)?;
            let b = reduce_add(net, &v[left..], ty)?;
            let t = net.add(Term::of(a), Term::of(b))?;
            let t = net.node_of(t)?;
            net.overflow(t, ty)
        }
    }
}

/// One softmax row (`sim::pointwise::softmax`).
fn softmax_row(net: &mut Net, s: &Softmax, row: &[NodeId]) -> Result<Vec<NodeId>> {
    if s.implementation == SoftmaxImpl::Argmax {
        // One-hot of the first maximum: above every earlier element, not below any later one.
        let n = row.len();
        let mut out = Vec::with_capacity(n);
        let (zero, one) = (net.konst(0)?, net.konst(1)?);
        for i in 0..n {
            let mut v = one;
            if i + 1 < n {
                let later = net.max_tree(row[i + 1..].to_vec())?;
                let d = net.sub(row[i], later)?;
                v = net.select(d, zero, v)?;
            }
            if i > 0 {
                let earlier = net.max_tree(row[..i].to_vec())?;
                let d = net.sub(row[i], earlier)?;
                let d = net.add_const(d, -1)?;
                v = net.select(d, zero, v)?;
            }
            out.push(v);
        }
        return Ok(out);
    }
    let max = net.max_tree(row.to_vec())?;
    let mut exps = Vec::with_capacity(row.len());
    for &v in row {
        let idx = if s.implementation == SoftmaxImpl::Stable {
            let d = net.sub(max, v)?;
            let d = net.cast(d, s.in_type.frac, &s.norm_type)?;
            top_bits(net, d, &s.norm_type, s.exp_table.len())?
        } else {
            top_bits(net, v, &s.in_type, s.exp_table.len())?
        };
        let e = net.rom(idx, &s.exp_table)?;
        exps.push(net.cast(e, s.exp_type.frac, &s.accum_type)?);
    }
    let sum = reduce_add(net, &exps, &s.accum_type)?;
    let sum = net.cast(sum, s.accum_type.frac, &s.inv_inp_type)?;
    let j = top_bits(net, sum, &s.inv_inp_type, s.inv_table.len())?;
    let inv = net.rom(j, &s.inv_table)?;
    exps.iter().map(|&e| net.mul(e, inv)).collect()
}

/// `trunc0(x * 2^shift)` as the simulator's `scaled_index`.
fn scaled_index(net: &mut Net, x: NodeId, shift: i32) -> Result<NodeId> {
    if shift >= 0 {
        let lim = 1i128 << 40;
        let (lo, hi) = (net.node(x).lo, net.node(x).hi);
        // Clamp before shifting so the wire stays narrow; same result after the later clamps.
        let s = shift.min(60) as u32;
        let bound = lim >> s.min(40);
        let x = if lo < -bound || hi > bound {
            net.clamp(x, -bound - 1, bound + 1)?
        } else {
            x
        };
        let v = net.shl(x, s)?;
        net.clamp(v, -lim, lim)
    } else if shift <= -63 {
        net.konst(0)
    } else {
        net.round(x, shift.unsigned_abs(), crate::fixed::Rounding::TrnZero)
    }
}

/// QONNX requantization of one value (`sim::pointwise::requant_one`).
fn requant(net: &mut Net, x: NodeId, p: &ElemQuant, rq: &Requant) -> Result<NodeId> {
    let zp = p.zp as i128;
    let (v, s) = if p.in_shift > 0 {
        let s = p.in_shift as u32;
        let zs = zp
            .checked_mul(1i128 << s.min(100))
            .ok_or_else(|| Error::Hardware("requant zero point too large".into()))?;
        (net.add_const(x, zs)?, s)
    } else {
        let v = net.shl(x, p.in_shift.unsigned_abs())?;
        (net.add_const(v, zp)?, 0)
    };
    let q = if rq.bipolar {
        let (m1, p1) = (net.konst(-1)?, net.konst(1)?);
        net.select(v, m1, p1)?
    } else {
        let r = net.round(v, s, rq.rounding)?;
        net.clamp(r, rq.lo as i128, rq.hi as i128)?
    };
    let q = net.add_const(q, -zp)?;
    net.shl(q, p.out_shift)
}

/// One accumulating output: `bias + Σ x_j w_j` with the layer's accumulator semantics.
fn accumulate(
    net: &mut Net,
    xs: &[NodeId],
    w: &[i64],
    bias: i64,
    accum: &Accum,
    prod_frac: i32,
) -> Result<NodeId> {
    match accum {
        Accum::Exact { ty, .. } => {
            let mut terms = Vec::with_capacity(xs.len() + 1);
            for (&x, &wv) in xs.iter().zip(w) {
                if let Some(t) = net.mul_const(x, wv as i128)? {
                    terms.push(t);
                }
            }
            terms.push(net.const_term(bias as i128)?);
            let s = net.sum(terms)?;
            let s = net.node_of(s)?;
            match ty {
                Some(t) => net.overflow(s, t),
                None => Ok(s),
            }
        }
        Accum::PerProduct { ty } => {
            let mut prods = Vec::with_capacity(xs.len());
            for (&x, &wv) in xs.iter().zip(w) {
                if wv == 0 {
                    continue; // a zero product leaves an in-range accumulator unchanged
                }
                let p = net.mul_const_node(x, wv as i128)?;
                prods.push(net.cast(p, prod_frac, ty)?);
            }
            let b = net.konst(bias as i128)?;
            if ty.overflow == Overflow::Wrap {
                let mut terms: Vec<Term> = prods.iter().map(|&p| Term::of(p)).collect();
                terms.push(Term::of(b));
                let s = net.sum(terms)?;
                let s = net.node_of(s)?;
                net.overflow(s, ty)
            } else {
                let mut acc = net.overflow(b, ty)?;
                for p in prods {
                    let t = net.add(Term::of(acc), Term::of(p))?;
                    let s = net.node_of(t)?;
                    acc = net.overflow(s, ty)?;
                }
                Ok(acc)
            }
        }
    }
}

fn dense(net: &mut Net, d: &Dense, x: &[NodeId], shared: Option<Shared>) -> Result<Vec<NodeId>> {
    let mut out = Vec::with_capacity(d.outer * d.n_out);
    if d.weights.len() < d.n_in * d.n_out || d.bias.len() < d.n_out || x.len() < d.outer * d.n_in {
        return Err(Error::Hardware(
            "dense layer with inconsistent sizes".into(),
        ));
    }
    for r in 0..d.outer {
        let xr = &x[r * d.n_in..(r + 1) * d.n_in];
        if let Some(sh) = shared {
            let rows: Vec<(&[i64], i64)> = (0..d.n_out)
                .map(|o| (&d.weights[o * d.n_in..(o + 1) * d.n_in], d.bias[o]))
                .collect();
            out.extend(time_shared(net, sh, xr, &rows, &d.accum, d.prod_frac)?);
            continue;
        }
        if let Some(vals) = dense_cmvm(net, d, xr)? {
            out.extend(vals);
            continue;
        }
        if matches!(d.accum, Accum::Exact { .. }) {
            for (j, &xj) in xr.iter().enumerate() {
                let col: Vec<i128> = (0..d.n_out)
                    .map(|o| d.weights[o * d.n_in + j] as i128)
                    .collect();
                net.prepare_multiples(xj, &col)?;
            }
        }
        for o in 0..d.n_out {
            let w = &d.weights[o * d.n_in..(o + 1) * d.n_in];
            out.push(accumulate(net, xr, w, d.bias[o], &d.accum, d.prod_frac)?);
        }
    }
    Ok(out)
}

/// Adder depth a DSP product counts as when the output trees are balanced.
const DSP_DEPTH: u32 = 4;

/// A fully parallel dense layer with an exact accumulator as one constant
/// matrix-vector product with subexpressions shared across outputs
/// (`cmvm`); `None` when the accumulator is not exact or the matrix is too
/// large for the search (the caller then builds per-input multiples and
/// one adder tree per output). Constant inputs fold into the biases;
/// products that the DSP rule sends to a DSP block stay separate terms.
fn dense_cmvm(net: &mut Net, d: &Dense, xr: &[NodeId]) -> Result<Option<Vec<NodeId>>> {
    let Accum::Exact { ty, .. } = &d.accum else {
        return Ok(None);
    };
    let weight = |o: usize, j: usize| i128::from(d.weights[o * d.n_in + j]);
    let mut bias: Vec<i128> = d.bias[..d.n_out].iter().map(|&b| i128::from(b)).collect();
    let mut live = Vec::with_capacity(xr.len());
    for (j, &x) in xr.iter().enumerate() {
        match net.const_of(x) {
            Some(v) => {
                for (o, b) in bias.iter_mut().enumerate() {
                    *b = v
                        .checked_mul(weight(o, j))
                        .and_then(|p| b.checked_add(p))
                        .ok_or_else(|| {
                            Error::Hardware("dense layer: constant sum too wide".into())
                        })?;
                }
            }
            None => live.push(j),
        }
    }
    let xs: Vec<NodeId> = live.iter().map(|&j| xr[j]).collect();
    let widths: Vec<u32> = xs.iter().map(|&x| net.node(x).width()).collect();
    let on_dsp = |net: &Net, o: usize, k: usize| {
        let c = weight(o, live[k]);
        c != 0 && {
            let odd = (c >> c.trailing_zeros()).abs();
            odd > 1 && net.use_dsp(widths[k], odd)
        }
    };
    let mut dsp = vec![false; d.n_out * xs.len()];
    for o in 0..d.n_out {
        for k in 0..xs.len() {
            dsp[o * xs.len() + k] = on_dsp(net, o, k);
        }
    }
    let matrix = |o: usize, k: usize| {
        if dsp[o * xs.len() + k] {
            0
        } else {
            weight(o, live[k])
        }
    };
    let Some(mut sums) = cmvm::cmvm(net, &xs, d.n_out, &matrix, &cmvm::CmvmOptions::default())?
    else {
        return Ok(None);
    };
    for o in 0..d.n_out {
        for k in 0..xs.len() {
            let c = weight(o, live[k]);
            if dsp[o * xs.len() + k] {
                if let Some(t) = net.mul_const(xs[k], c)? {
                    sums[o].push((t, DSP_DEPTH));
                }
            } else if c == 0 {
                net.stats.zero += 1;
            } else if (c >> c.trailing_zeros()).abs() == 1 {
                net.stats.shift += 1;
            } else {
                net.stats.shift_add += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(d.n_out);
    for (mut terms, b) in sums.into_iter().zip(bias) {
        terms.push((net.const_term(b)?, 0));
        let (s, _) = cmvm::reduce(net, terms)?;
        let s = net.node_of(s)?;
        out.push(match ty {
            Some(t) => net.overflow(s, t)?,
            None => s,
        });
    }
    Ok(Some(out))
}

fn conv(net: &mut Net, c: &Conv, x: &[NodeId], shared: Option<Shared>) -> Result<Vec<NodeId>> {
    let groups = c.groups.max(1);
    let cg = c.in_c / groups;
    let mg = c.out_c / groups;
    let kk = cg * c.k_h * c.k_w;
    if c.weights.len() < c.out_c * kk
        || c.bias.len() < c.out_c
        || x.len() < c.in_c * c.in_h * c.in_w
    {
        return Err(Error::Hardware("conv layer with inconsistent sizes".into()));
    }
    let positions = c.out_h * c.out_w;
    let mut out = vec![0 as NodeId; c.out_c * positions];
    let zero = net.konst(0)?;
    // Pre-build the shared multiples per input element.
    if matches!(c.accum, Accum::Exact { .. }) && shared.is_none() {
        for g in 0..groups {
            let ws: Vec<i128> = (g * mg..(g + 1) * mg)
                .flat_map(|m| c.weights[m * kk..(m + 1) * kk].iter().map(|&v| v as i128))
                .collect();
            for ci in 0..cg {
                let plane = (g * cg + ci) * c.in_h * c.in_w;
                for p in 0..c.in_h * c.in_w {
                    net.prepare_multiples(x[plane + p], &ws)?;
                }
            }
        }
    }
    let mut col = vec![zero; kk];
    for g in 0..groups {
        for oy in 0..c.out_h {
            for ox in 0..c.out_w {
                let mut k = 0;
                for ci in 0..cg {
                    let plane = (g * cg + ci) * c.in_h * c.in_w;
                    for ky in 0..c.k_h {
                        let iy =
                            (oy * c.stride[0] + ky * c.dilation[0]) as isize - c.pad[0] as isize;
                        for kx in 0..c.k_w {
                            let ix = (ox * c.stride[1] + kx * c.dilation[1]) as isize
                                - c.pad[1] as isize;
                            let inside = iy >= 0
                                && ix >= 0
                                && (iy as usize) < c.in_h
                                && (ix as usize) < c.in_w;
                            col[k] = if inside {
                                x[plane + iy as usize * c.in_w + ix as usize]
                            } else {
                                zero
                            };
                            k += 1;
                        }
                    }
                }
                let pos = oy * c.out_w + ox;
                if let Some(sh) = shared {
                    let rows: Vec<(&[i64], i64)> = (g * mg..(g + 1) * mg)
                        .map(|m| (&c.weights[m * kk..(m + 1) * kk], c.bias[m]))
                        .collect();
                    let vals = time_shared(net, sh, &col, &rows, &c.accum, c.prod_frac)?;
                    for (m, v) in (g * mg..(g + 1) * mg).zip(vals) {
                        out[m * positions + pos] = v;
                    }
                    continue;
                }
                for m in g * mg..(g + 1) * mg {
                    let w = &c.weights[m * kk..(m + 1) * kk];
                    out[m * positions + pos] =
                        accumulate(net, &col, w, c.bias[m], &c.accum, c.prod_frac)?;
                }
            }
        }
    }
    Ok(out)
}

/// `x * c` as a multiplexer case: the odd multiple of `x` (shared by every
/// output), negated once if needed (also shared), shifted by wiring.
fn shared_product(net: &mut Net, x: NodeId, c: i128) -> Result<Term> {
    let Some(t) = net.mul_const(x, c)? else {
        return Ok(Term::of(net.konst(0)?));
    };
    let node = if t.neg {
        net.node_of(Term {
            node: t.node,
            shift: 0,
            neg: true,
        })?
    } else {
        t.node
    };
    Ok(Term {
        node,
        shift: t.shift,
        neg: false,
    })
}

/// Whether slot input `x` multiplied by one of `consts` would take a DSP.
fn needs_dsp(net: &Net, x: NodeId, consts: &[i128]) -> bool {
    let xw = net.node(x).width();
    consts.iter().any(|&c| {
        if c == 0 {
            return false;
        }
        let odd = (c >> c.trailing_zeros()).abs();
        odd > 1 && net.use_dsp(xw, odd)
    })
}

/// Bound of `bias + Σ x_j w_j` from the ranges of the inputs.
fn dot_bound(net: &Net, x: &[NodeId], w: &[i64], bias: i64) -> (i128, i128) {
    let (mut lo, mut hi) = (i128::from(bias), i128::from(bias));
    for (&xj, &wj) in x.iter().zip(w) {
        let n = net.node(xj);
        let (a, b) = (
            n.lo.saturating_mul(i128::from(wj)),
            n.hi.saturating_mul(i128::from(wj)),
        );
        lo = lo.saturating_add(a.min(b));
        hi = hi.saturating_add(a.max(b));
    }
    (lo, hi)
}

/// The outputs `bias + Σ_j x_j w_j` (one per row of `rows`, all over the
/// same inputs `x`) as a time-shared datapath with II = R (`sh.reuse`).
///
/// With S = ceil(len(x) / R) multiplier slots per output, phase t handles
/// inputs j = t*S .. t*S+S-1, in order: slot s multiplies the input
/// x_{t*S+s}, picked by a multiplexer shared by every output, by the
/// phase's weight. The product is a multiplexer among that slot's
/// shift-add products (the multiples of the slot input are built once and
/// shared by every output), or, when some weight of the slot would need a
/// DSP anyway, one DSP fed by a per-phase constant ROM. Each output adds
/// its S products in the cycle and accumulates the R partial sums.
fn time_shared(
    net: &mut Net,
    sh: Shared,
    x: &[NodeId],
    rows: &[(&[i64], i64)],
    accum: &Accum,
    prod_frac: i32,
) -> Result<Vec<NodeId>> {
    let r = sh.reuse as usize;
    let slots = x.len().div_ceil(r);
    let weight = |w: &[i64], t: usize, s: usize| -> i128 {
        let j = t * slots + s;
        if j < x.len() {
            w.get(j).copied().map_or(0, i128::from)
        } else {
            0
        }
    };
    let zero = net.konst(0)?;
    let mut inputs = Vec::with_capacity(slots);
    let mut dsp = Vec::with_capacity(slots);
    for s in 0..slots {
        let cases: Vec<NodeId> = (0..r)
            .map(|t| x.get(t * slots + s).copied().unwrap_or(zero))
            .collect();
        let xs = net.mux(sh.phase, cases)?;
        let consts: Vec<i128> = rows
            .iter()
            .flat_map(|(w, _)| (0..r).map(move |t| (w, t)))
            .map(|(w, t)| weight(w, t, s))
            .collect();
        let wide = needs_dsp(net, xs, &consts);
        if !wide {
            net.prepare_multiples(xs, &consts)?;
        }
        inputs.push(xs);
        dsp.push(wide);
    }
    let mut out = Vec::with_capacity(rows.len());
    for &(w, bias) in rows {
        let mut terms = Vec::with_capacity(slots);
        for s in 0..slots {
            let ws: Vec<i128> = (0..r).map(|t| weight(w, t, s)).collect();
            if ws.iter().all(|&c| c == 0) {
                continue;
            }
            let p = if dsp[s] {
                // Phases beyond this layer's R (and the idle phase) read 0.
                let mut table: Vec<i64> = ws.iter().map(|&c| c as i64).collect();
                table.resize(sh.ii as usize + 1, 0);
                let k = net.rom(sh.phase, &table)?;
                Term::of(net.mul(inputs[s], k)?)
            } else {
                let mut cases = Vec::with_capacity(r);
                for &c in &ws {
                    cases.push(shared_product(net, inputs[s], c)?);
                }
                net.mux_terms(sh.phase, cases)?
            };
            terms.push(match accum {
                Accum::PerProduct { ty } => {
                    let p = net.node_of(p)?;
                    Term::of(net.cast(p, prod_frac, ty)?)
                }
                Accum::Exact { .. } => p,
            });
        }
        let partial = net.sum(terms)?;
        let partial = net.node_of(partial)?;
        let (lo, hi) = match accum {
            Accum::Exact { .. } => dot_bound(net, x, w, bias),
            Accum::PerProduct { .. } => {
                let (pl, ph) = (net.node(partial).lo, net.node(partial).hi);
                let n = r as i128;
                (
                    i128::from(bias).saturating_add(pl.saturating_mul(n)),
                    i128::from(bias).saturating_add(ph.saturating_mul(n)),
                )
            }
        };
        let total = net.accumulate(partial, sh.phase, sh.reuse - 1, i128::from(bias), lo, hi)?;
        out.push(match accum {
            Accum::Exact { ty: Some(t), .. } => net.overflow(total, t)?,
            Accum::Exact { ty: None, .. } => total,
            Accum::PerProduct { ty } => net.overflow(total, ty)?,
        });
    }
    Ok(out)
}
