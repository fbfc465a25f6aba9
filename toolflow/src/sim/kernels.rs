//! Accumulating kernels: Dense, Conv (im2col + dot products) and pooling.
//! The exact i64 path is a plain dot product over contiguous rows so the
//! compiler can vectorize it; i128 and per-product-cast paths cover wider or
//! hls4ml-narrow accumulators.

use crate::fixed::{FixedType, Overflow, Rounding};
use crate::ir::{Accum, Conv, Dense, Pool};

/// Dot product with an i64 accumulator (ranges proven at lowering).
#[inline]
fn dot64(x: &[i64], w: &[i64]) -> i64 {
    x.iter()
        .zip(w)
        .fold(0i64, |acc, (&a, &b)| acc.wrapping_add(a.wrapping_mul(b)))
}

#[inline]
fn dot128(x: &[i64], w: &[i64]) -> i128 {
    x.iter().zip(w).fold(0i128, |acc, (&a, &b)| {
        acc.wrapping_add(a as i128 * b as i128)
    })
}

/// hls4ml accumulation: each product cast to the accumulator type, then added with its overflow.
fn dot_per_product(x: &[i64], w: &[i64], bias: i64, ty: &FixedType, prod_frac: i32) -> i64 {
    if let Some(shift) = modular_shift(ty, prod_frac) {
        return dot_per_product_wrapping(x, w, bias, ty, shift);
    }
    let mut acc = bias as i128;
    for (&a, &b) in x.iter().zip(w) {
        let p = ty.cast(a as i128 * b as i128, prod_frac);
        acc += p;
        if ty.overflow != Overflow::Wrap {
            acc = ty.overflow_adjust(acc);
        }
    }
    ty.overflow_adjust(acc) as i64
}

/// The per-product cast as a shift when it can be done modulo 2^64: a wrapping
/// accumulator of W bits only keeps its sum modulo 2^W, and a product shifted
/// right by k with a rounding that depends only on the low bits (not the sign)
/// needs the product only modulo 2^(W+k). Then wrapping i64 arithmetic gives
/// the same bits as the exact i128 path, with one wrap at the end. `Some(s)`:
/// shift left by `s` (s >= 0) or right by `-s`.
fn modular_shift(ty: &FixedType, prod_frac: i32) -> Option<i32> {
    if ty.overflow != Overflow::Wrap || ty.width > 62 {
        return None;
    }
    let shift = ty.frac - prod_frac;
    if shift >= 0 {
        return (shift < 62).then_some(shift);
    }
    let sign_free = matches!(
        ty.rounding,
        Rounding::Trn | Rounding::Ceil | Rounding::Rnd | Rounding::RndMinInf | Rounding::RndConv
    );
    (sign_free && ty.width + shift.unsigned_abs() <= 63).then_some(shift)
}

/// [`dot_per_product`] for a wrapping accumulator, in i64 (see [`modular_shift`]).
fn dot_per_product_wrapping(x: &[i64], w: &[i64], bias: i64, ty: &FixedType, shift: i32) -> i64 {
    let acc = if shift >= 0 {
        let sh = shift as u32;
        x.iter().zip(w).fold(bias, |acc, (&a, &b)| {
            acc.wrapping_add(a.wrapping_mul(b).wrapping_shl(sh))
        })
    } else {
        let k = shift.unsigned_abs();
        let half = 1i64 << (k - 1);
        let low = (1i64 << k) - 1;
        let mode = ty.rounding;
        x.iter().zip(w).fold(bias, |acc, (&a, &b)| {
            let p = a.wrapping_mul(b);
            let floor = p >> k;
            let rem = p & low;
            let up = match mode {
                Rounding::Trn => false,
                Rounding::Ceil => rem != 0,
                Rounding::Rnd => rem >= half,
                Rounding::RndMinInf => rem > half,
                _ => rem > half || (rem == half && floor & 1 == 1),
            };
            acc.wrapping_add(floor + i64::from(up))
        })
    };
    ty.overflow_adjust(acc as i128) as i64
}

/// One output of an accumulating layer.
#[inline]
fn accumulate(x: &[i64], w: &[i64], bias: i64, accum: &Accum, prod_frac: i32) -> i64 {
    match accum {
        Accum::Exact {
            wide: false,
            ty: None,
        } => bias.wrapping_add(dot64(x, w)),
        Accum::Exact {
            wide: false,
            ty: Some(t),
        } => t.overflow_adjust(bias.wrapping_add(dot64(x, w)) as i128) as i64,
        Accum::Exact { wide: true, ty } => {
            let v = bias as i128 + dot128(x, w);
            ty.map_or(v, |t| t.overflow_adjust(v)) as i64
        }
        Accum::PerProduct { ty } => dot_per_product(x, w, bias, ty, prod_frac),
    }
}

/// Dense over `rows` input rows of length `n_in` (samples x outer repetitions).
pub fn dense(d: &Dense, x: &[i64], rows: usize) -> Vec<i64> {
    let mut out = vec![0i64; rows * d.n_out];
    for (xr, or) in x
        .chunks_exact(d.n_in)
        .zip(out.chunks_exact_mut(d.n_out))
        .take(rows)
    {
        for (j, o) in or.iter_mut().enumerate() {
            let w = &d.weights[j * d.n_in..(j + 1) * d.n_in];
            *o = accumulate(xr, w, d.bias[j], &d.accum, d.prod_frac);
        }
    }
    out
}

/// Fills `cols[p][k]` for one sample and one group (zero padding).
fn im2col<T: Copy + Default + TryFrom<i64>>(c: &Conv, x: &[i64], group: usize, cols: &mut [T]) {
    let cg = c.in_c / c.groups;
    let kk = cg * c.k_h * c.k_w;
    for oy in 0..c.out_h {
        for ox in 0..c.out_w {
            let row = &mut cols[(oy * c.out_w + ox) * kk..][..kk];
            let mut k = 0;
            for ci in 0..cg {
                let plane = &x[(group * cg + ci) * c.in_h * c.in_w..][..c.in_h * c.in_w];
                for ky in 0..c.k_h {
                    let iy = (oy * c.stride[0] + ky * c.dilation[0]) as isize - c.pad[0] as isize;
                    for kx in 0..c.k_w {
                        let ix =
                            (ox * c.stride[1] + kx * c.dilation[1]) as isize - c.pad[1] as isize;
                        let inside =
                            iy >= 0 && ix >= 0 && (iy as usize) < c.in_h && (ix as usize) < c.in_w;
                        let v = if inside {
                            plane[iy as usize * c.in_w + ix as usize]
                        } else {
                            0
                        };
                        row[k] = T::try_from(v).unwrap_or_default();
                        k += 1;
                    }
                }
            }
        }
    }
}

/// The order in which a window's products are summed, as positions in the
/// `(channel, ky, kx)` weight and im2col rows. Only a saturating per-product
/// accumulator can tell orders apart; for it we follow hls4ml, whose
/// channels-last im2col (conv_1d/2d_latency_cl, weights stored `(k, C, M)`)
/// sums kernel position by kernel position, all channels of each.
fn window_order(c: &Conv) -> Option<Vec<usize>> {
    let saturating = matches!(&c.accum, Accum::PerProduct { ty } if ty.overflow != Overflow::Wrap);
    let cg = c.in_c / c.groups;
    if !saturating || cg < 2 || c.k_h * c.k_w < 2 {
        return None;
    }
    let mut order = Vec::with_capacity(cg * c.k_h * c.k_w);
    for ky in 0..c.k_h {
        for kx in 0..c.k_w {
            for ci in 0..cg {
                order.push((ci * c.k_h + ky) * c.k_w + kx);
            }
        }
    }
    Some(order)
}

/// Convolution for `n` samples.
pub fn conv(c: &Conv, x: &[i64], n: usize) -> Vec<i64> {
    let in_len = c.in_c * c.in_h * c.in_w;
    let positions = c.out_h * c.out_w;
    let out_len = c.out_c * positions;
    let kk = (c.in_c / c.groups) * c.k_h * c.k_w;
    let mg = c.out_c / c.groups;
    let order = window_order(c);
    // Weights and im2col rows permuted into the summation order.
    let permute = |row: &[i64], out: &mut Vec<i64>| {
        if let Some(o) = &order {
            out.clear();
            out.extend(o.iter().map(|&k| row[k]));
        }
    };
    let weights: Vec<i64> = match &order {
        Some(o) => c
            .weights
            .chunks_exact(kk)
            .flat_map(|w| o.iter().map(move |&k| w[k]))
            .collect(),
        None => Vec::new(),
    };
    let weights = if order.is_some() {
        &weights
    } else {
        &c.weights
    };
    let mut out = vec![0i64; n * out_len];
    let mut cols = vec![0i64; positions * kk];
    let mut col_perm = Vec::with_capacity(kk);
    for s in 0..n {
        let xs = &x[s * in_len..(s + 1) * in_len];
        let os = &mut out[s * out_len..(s + 1) * out_len];
        for g in 0..c.groups {
            im2col(c, xs, g, &mut cols);
            for m in g * mg..(g + 1) * mg {
                let w = &weights[m * kk..(m + 1) * kk];
                for (p, col) in cols.chunks_exact(kk).enumerate() {
                    permute(col, &mut col_perm);
                    let col = if order.is_some() { &col_perm[..] } else { col };
                    os[m * positions + p] = accumulate(col, w, c.bias[m], &c.accum, c.prod_frac);
                }
            }
        }
    }
    out
}

/// Max or average pooling for `n` samples.
pub fn pool(p: &Pool, x: &[i64], n: usize) -> Vec<i64> {
    let in_len = p.c * p.in_h * p.in_w;
    let out_len = p.c * p.out_h * p.out_w;
    let mut out = vec![0i64; n * out_len];
    for s in 0..n {
        for ch in 0..p.c {
            let plane = &x[s * in_len + ch * p.in_h * p.in_w..][..p.in_h * p.in_w];
            for oy in 0..p.out_h {
                for ox in 0..p.out_w {
                    out[s * out_len + (ch * p.out_h + oy) * p.out_w + ox] =
                        window(p, plane, oy, ox);
                }
            }
        }
    }
    out
}

fn window(p: &Pool, plane: &[i64], oy: usize, ox: usize) -> i64 {
    let (mut best, mut sum, mut count) = (i64::MIN, 0i64, 0usize);
    for ky in 0..p.k[0] {
        let iy = (oy * p.stride[0] + ky * p.dilation[0]) as isize - p.pad[0] as isize;
        for kx in 0..p.k[1] {
            let ix = (ox * p.stride[1] + kx * p.dilation[1]) as isize - p.pad[1] as isize;
            if iy < 0 || ix < 0 || iy as usize >= p.in_h || ix as usize >= p.in_w {
                continue;
            }
            let v = plane[iy as usize * p.in_w + ix as usize];
            best = best.max(v);
            sum = sum.wrapping_add(v);
            count += 1;
        }
    }
    if p.max {
        return if count == 0 { 0 } else { best };
    }
    let c = if p.count_include_pad {
        p.k[0] * p.k[1]
    } else {
        count
    };
    sum.wrapping_mul(p.recip.get(c).copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact per-product path, with no fast path: the reference.
    fn reference(x: &[i64], w: &[i64], bias: i64, ty: &FixedType, prod_frac: i32) -> i64 {
        let mut acc = bias as i128;
        for (&a, &b) in x.iter().zip(w) {
            acc += ty.cast(a as i128 * b as i128, prod_frac);
        }
        ty.overflow_adjust(acc) as i64
    }

    #[test]
    fn wrapping_fast_path_equals_the_exact_path() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |bits: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as i64 % (1i64 << bits)) - (1i64 << (bits - 1))
        };
        let modes = [
            Rounding::Trn,
            Rounding::Ceil,
            Rounding::Rnd,
            Rounding::RndMinInf,
            Rounding::RndConv,
        ];
        let mut fast_cases = 0;
        for case in 0..2000 {
            let width = 4 + (case % 40) as u32;
            let mut ty = FixedType::new(case % 3 != 0, width, (case % 9) as i32 - 2);
            ty.rounding = modes[case % modes.len()];
            ty.overflow = Overflow::Wrap;
            let prod_frac = ty.frac + (case % 13) as i32 - 4;
            let n = 1 + case % 17;
            let x: Vec<i64> = (0..n).map(|_| next(1 + (case % 20) as u32)).collect();
            let w: Vec<i64> = (0..n).map(|_| next(1 + (case % 12) as u32)).collect();
            let bias = ty.overflow_adjust(next(20) as i128) as i64;
            if modular_shift(&ty, prod_frac).is_some() {
                fast_cases += 1;
            }
            assert_eq!(
                dot_per_product(&x, &w, bias, &ty, prod_frac),
                reference(&x, &w, bias, &ty, prod_frac),
                "case {case}: {ty:?} prod_frac {prod_frac} x {x:?} w {w:?} bias {bias}"
            );
        }
        assert!(
            fast_cases > 1000,
            "the fast path was taken {fast_cases} times"
        );
    }
}
