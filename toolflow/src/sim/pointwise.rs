//! Elementwise and data-movement kernels.

use crate::fixed::{FixedType, round_f64, round_to_i64, shift_round};
use crate::ir::{
    BinOp, Binary, ElemQuant, MultiThreshold, Operand, Requant, Softmax, SoftmaxImpl, Table,
};

/// Saturating `x << s` into i128 (values beyond ±2^100 only matter by sign).
fn shl_sat(x: i128, s: u32) -> i128 {
    if x == 0 {
        0
    } else if s >= 100 || x.unsigned_abs() >= 1u128 << (100 - s) {
        if x > 0 { 1i128 << 100 } else { -(1i128 << 100) }
    } else {
        x << s
    }
}

/// QONNX requantization of one raw value.
#[inline]
pub fn requant_one(x: i64, p: &ElemQuant, rq: &Requant) -> i64 {
    let zp = p.zp as i128;
    let (v, s) = if p.in_shift > 0 {
        let s = p.in_shift as u32;
        (x as i128 + shl_sat(zp, s), s)
    } else {
        (shl_sat(x as i128, p.in_shift.unsigned_abs()) + zp, 0)
    };
    let q = if rq.bipolar {
        if v >= 0 { 1 } else { -1 }
    } else {
        shift_round(v, s, rq.rounding).clamp(rq.lo as i128, rq.hi as i128)
    };
    ((q - zp) << p.out_shift) as i64
}

/// Requant over `n` samples of `elems` elements.
pub fn requant(rq: &Requant, x: &[i64], elems: usize) -> Vec<i64> {
    if let [p] = rq.params[..] {
        return x.iter().map(|&v| requant_one(v, &p, rq)).collect();
    }
    x.iter()
        .enumerate()
        .map(|(i, &v)| requant_one(v, &rq.params[i % elems], rq))
        .collect()
}

/// QONNX Quant applied to the float input, in f32 as qonnx computes `x / s + z`.
pub fn input_quant(rq: &Requant, x: &[f32], elems: usize) -> Vec<i64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let p = if rq.params.len() == 1 {
                &rq.params[0]
            } else {
                &rq.params[i % elems]
            };
            let y = v * 2f32.powi(-p.in_shift) + p.zp as f32;
            let q = if rq.bipolar {
                if y >= 0.0 { 1 } else { -1 }
            } else if y.is_nan() {
                0i128.clamp(rq.lo as i128, rq.hi as i128)
            } else {
                round_f64((y as f64).clamp(rq.lo as f64, rq.hi as f64), rq.rounding) as i128
            };
            ((q - p.zp as i128) << p.out_shift) as i64
        })
        .collect()
}

/// ap_fixed conversion of the float input (as [`FixedType::quantize_f64`],
/// with the scale computed once and i64 arithmetic where it is exact).
pub fn input_cast(ty: &FixedType, x: &[f32]) -> Vec<i64> {
    let scale = 2f64.powi(ty.frac);
    x.iter().map(|&v| cast_one(ty, scale, v)).collect()
}

#[inline]
fn cast_one(ty: &FixedType, scale: f64, v: f32) -> i64 {
    // Exact: an f32 times a power of two, in f64.
    let scaled = f64::from(v) * scale;
    match round_to_i64(scaled, ty.rounding) {
        Some(r) if ty.width <= 62 => ty.overflow_adjust_i64(r),
        _ => ty.quantize_f64(f64::from(v)) as i64,
    }
}

/// [`input_cast`] of `n <= LANES` sample-major rows of `elems` floats into
/// lane-major i32 (`[elems][LANES]`, zero-padded), for a type of at most 32
/// bits. The common case (truncation, wrapping, every scaled value below
/// 2^31 in magnitude) is one branch-free loop per row; any other value takes
/// [`cast_one`].
pub fn input_cast_lanes(ty: &FixedType, x: &[f32], n: usize, elems: usize) -> Vec<i32> {
    use crate::fixed::{Overflow, Rounding};
    const LANES: usize = super::fast::LANES;
    const LIMIT: f64 = 2_147_483_648.0;
    let scale = 2f64.powi(ty.frac);
    let mut y = vec![0i32; elems * LANES];
    let mut row_out = vec![0i32; elems];
    let simple = ty.rounding == Rounding::Trn
        && ty.overflow == Overflow::Wrap
        && (1..=if ty.signed { 32 } else { 31 }).contains(&ty.width);
    let sh = 32 - ty.width.clamp(1, 32);
    for (s, row) in x.chunks_exact(elems.max(1)).take(n.min(LANES)).enumerate() {
        let mut ok = simple;
        if simple {
            for (o, &v) in row_out.iter_mut().zip(row) {
                let scaled = f64::from(v) * scale;
                // False for NaN and for values beyond i32.
                let inside = scaled.abs() < LIMIT;
                ok &= inside;
                let c = if inside { scaled } else { 0.0 };
                // SAFETY: `c` is finite and below 2^31 in magnitude.
                let t: i32 = unsafe { c.to_int_unchecked() };
                let floor = t - i32::from(f64::from(t) > c);
                *o = if ty.signed {
                    floor.wrapping_shl(sh).wrapping_shr(sh)
                } else {
                    ((floor as u32).wrapping_shl(sh).wrapping_shr(sh)) as i32
                };
            }
        }
        if !ok {
            for (o, &v) in row_out.iter_mut().zip(row) {
                *o = cast_one(ty, scale, v) as i32;
            }
        }
        for (e, &v) in row_out.iter().enumerate() {
            y[e * LANES + s] = v;
        }
    }
    y
}

/// ap_fixed assignment between types, for inputs in `[lo, hi]`.
pub fn cast(ty: &FixedType, from_frac: i32, lo: i64, hi: i64, x: &[i64]) -> Vec<i64> {
    let c = ty.caster(from_frac, lo, hi);
    if c.is_identity() {
        return x.to_vec();
    }
    x.iter().map(|&v| c.cast(v)).collect()
}

#[inline]
fn apply(op: BinOp, a: i64, b: i64) -> i64 {
    match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::RSub => b.wrapping_sub(a),
        BinOp::Mul => a.wrapping_mul(b),
    }
}

/// Broadcast binary op for `n` samples; `b` is the second tensor (if not constant).
pub fn binary(
    bin: &Binary,
    a: &[i64],
    b: Option<&[i64]>,
    n: usize,
    a_len: usize,
    b_len: usize,
    out_len: usize,
) -> Vec<i64> {
    let mut out = vec![0i64; n * out_len];
    let (sa, sb) = (bin.a_shift, bin.b_shift);
    for s in 0..n {
        let aa = &a[s * a_len..(s + 1) * a_len];
        let bb: &[i64] = match (&bin.b, b) {
            (Operand::Const(c), _) => c,
            (Operand::Tensor, Some(b)) => &b[s * b_len..(s + 1) * b_len],
            (Operand::Tensor, None) => &[],
        };
        let os = &mut out[s * out_len..(s + 1) * out_len];
        for (e, o) in os.iter_mut().enumerate() {
            let ia = bin.a_index.as_ref().map_or(e, |ix| ix[e] as usize);
            let ib = bin.b_index.as_ref().map_or(e, |ix| ix[e] as usize);
            let (x, y) = (
                aa.get(ia).copied().unwrap_or(0),
                bb.get(ib).copied().unwrap_or(0),
            );
            *o = match &bin.cast {
                None => apply(bin.op, x.wrapping_shl(sa), y.wrapping_shl(sb)),
                Some((ty, from)) => {
                    let (x, y) = (shl_sat(x as i128, sa), shl_sat(y as i128, sb));
                    let r = match bin.op {
                        BinOp::Add => x + y,
                        BinOp::Sub => x - y,
                        BinOp::RSub => y - x,
                        BinOp::Mul => x.saturating_mul(y),
                    };
                    ty.cast(r, *from) as i64
                }
            };
        }
    }
    out
}

/// `trunc0(x * 2^shift)` as hls4ml's `int(data * N / range)`.
#[inline]
fn scaled_index(x: i64, shift: i32) -> i64 {
    if shift >= 0 {
        (x as i128)
            .checked_shl(shift as u32)
            .map_or(i64::MAX, |v| v.clamp(-(1 << 40), 1 << 40) as i64)
    } else if shift <= -63 {
        0
    } else {
        x / (1i64 << (-shift))
    }
}

/// Lookup-table activation.
pub fn table(t: &Table, x: &[i64]) -> Vec<i64> {
    let n = t.table.len() as i64;
    x.iter()
        .map(|&v| {
            let idx = (scaled_index(v, t.index_shift).clamp(-n, n) + n / 2).clamp(0, n - 1);
            t.table[idx as usize]
        })
        .collect()
}

/// `ceillog2` of hls4ml's `nnet_helpers.h`.
pub fn ceillog2(n: usize) -> u32 {
    if n <= 2 {
        1
    } else {
        1 + ceillog2(n.div_ceil(2))
    }
}

/// hls4ml's `softmax_idx_from_real_val`: the top `ceillog2(n)` bits of the
/// `ty.width`-bit pattern of raw value `v`.
#[inline]
pub fn top_bits(v: i64, ty: &FixedType, n: usize) -> usize {
    let w = ty.width.min(64);
    let bits = ceillog2(n).min(w);
    let pattern = (v as u64) & (u64::MAX >> (64 - w));
    (pattern >> (w - bits)) as usize
}

/// hls4ml's balanced `reduce` with `Op_add<accum_t>` (each sum converted to `ty`).
fn reduce_add(v: &[i64], ty: &FixedType) -> i64 {
    match v.len() {
        0 => 0,
        1 => v[0],
        2 => ty.overflow_adjust(v[0] as i128 + v[1] as i128) as i64,
        n => {
            let left = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (a, b) = (reduce_add(&v[..left], ty), reduce_add(&v[left..], ty));
            ty.overflow_adjust(a as i128 + b as i128) as i64
        }
    }
}

/// Softmax rows of `sm.n` contiguous elements, as hls4ml's `softmax_latency`,
/// `softmax_stable` and `softmax_argmax` (`nnet_activation.h`).
pub fn softmax(sm: &Softmax, x: &[i64]) -> Vec<i64> {
    let n = sm.n.max(1);
    let (n_exp, n_inv) = (sm.exp_table.len(), sm.inv_table.len());
    let mut out = vec![0i64; x.len()];
    let mut e = vec![0i64; n];
    for (row, o) in x.chunks(n).zip(out.chunks_mut(n)) {
        if sm.implementation == SoftmaxImpl::Argmax {
            let mut idx = 0;
            for (i, &v) in row.iter().enumerate().skip(1) {
                if v > row[idx] {
                    idx = i;
                }
            }
            o.fill(0);
            o[idx] = 1;
            continue;
        }
        let max = row.iter().copied().max().unwrap_or(0);
        for (ei, &v) in e.iter_mut().zip(row) {
            let idx = if sm.implementation == SoftmaxImpl::Stable {
                let d = sm.norm_type.cast(max as i128 - v as i128, sm.in_type.frac) as i64;
                top_bits(d, &sm.norm_type, n_exp)
            } else {
                top_bits(v, &sm.in_type, n_exp)
            };
            let entry = sm.exp_table.get(idx).copied().unwrap_or(0);
            *ei = sm.accum_type.cast(entry as i128, sm.exp_type.frac) as i64;
        }
        let sum = reduce_add(&e[..row.len()], &sm.accum_type);
        let s = sm.inv_inp_type.cast(sum as i128, sm.accum_type.frac) as i64;
        let inv = sm
            .inv_table
            .get(top_bits(s, &sm.inv_inp_type, n_inv))
            .copied()
            .unwrap_or(0);
        for (oe, &ei) in o.iter_mut().zip(&e) {
            *oe = ei.wrapping_mul(inv);
        }
    }
    out
}

/// MultiThreshold for `n` samples.
pub fn multithreshold(mt: &MultiThreshold, x: &[i64], elems: usize) -> Vec<i64> {
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            let ch = mt.channel[i % elems] as usize;
            let count = mt.thresholds[ch].partition_point(|&t| t <= v) as i64;
            mt.bias.wrapping_add(mt.scale.wrapping_mul(count))
        })
        .collect()
}

/// Gather: copy (empty `src`) or indexed copy from several inputs.
pub fn gather(
    src: &[(u16, u32)],
    shifts: &[u32],
    inputs: &[&[i64]],
    lens: &[usize],
    n: usize,
    out_len: usize,
) -> Vec<i64> {
    if src.is_empty() {
        return inputs.first().map(|v| v.to_vec()).unwrap_or_default();
    }
    let mut out = vec![0i64; n * out_len];
    for s in 0..n {
        for (o, &(k, j)) in out[s * out_len..(s + 1) * out_len].iter_mut().zip(src) {
            let k = k as usize;
            let v = inputs[k][s * lens[k] + j as usize];
            *o = v.wrapping_shl(shifts[k]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Overflow, Rounding};
    use crate::sim::fast::LANES;

    /// The lane-major input conversion equals the reference one, on the fast
    /// path (TRN, WRAP) and off it, for awkward values.
    #[test]
    fn input_cast_lanes_equals_input_cast() {
        let mut vals: Vec<f32> = vec![
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            3e9,
            -3e9,
            2147483648.0,
            -2147483648.0,
            0.5,
            -0.5,
            1.25,
            -1.25,
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            vals.push(((state >> 11) as f64 / (1u64 << 53) as f64 * 80.0 - 40.0) as f32);
        }
        let elems = 7;
        let n = (vals.len() / elems).min(LANES);
        let x = &vals[..n * elems];
        let roundings = [Rounding::Trn, Rounding::Rnd, Rounding::RndConv];
        let overflows = [Overflow::Wrap, Overflow::Sat];
        for signed in [true, false] {
            for width in [1, 2, 8, 16, 24, 31, 32] {
                for int in [-3, 0, 6, 20] {
                    for (r, o) in roundings
                        .iter()
                        .flat_map(|r| overflows.iter().map(move |o| (r, o)))
                    {
                        let mut ty = FixedType::new(signed, width, int);
                        ty.rounding = *r;
                        ty.overflow = *o;
                        if !signed && width == 32 {
                            continue; // does not fit i32; never lane-major i32
                        }
                        let want = input_cast(&ty, x);
                        let lanes = input_cast_lanes(&ty, x, n, elems);
                        for s in 0..n {
                            for e in 0..elems {
                                assert_eq!(
                                    i64::from(lanes[e * LANES + s]),
                                    want[s * elems + e],
                                    "{ty:?} value {}",
                                    x[s * elems + e]
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
