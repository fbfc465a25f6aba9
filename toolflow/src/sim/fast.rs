//! The 16-bit kernels of Dense and Conv (see [`Narrow`] for when lowering
//! selects them and why they are exact).
//!
//! Samples are the vector lanes: a block of [`LANES`] samples is transposed
//! into rows of `[LANES]` i16 (one row per input element), and every output
//! element is `LANES` i32 accumulators (i16 when the accumulator wraps at 16
//! bits or fewer) that take one broadcast weight per input element. There is no horizontal reduction and no im2col: a Conv tap
//! is just the input row at its position (padding taps are skipped, their
//! products are zero). The loops are plain Rust; on x86-64 the same code is
//! compiled a second and third time with AVX2 and AVX-512BW enabled and
//! chosen at run time, so the binary still runs on baseline x86-64.

use crate::ir::{Conv, Dense, Narrow, ProductCast};

/// Samples per block (vector lanes of the kernels).
pub const LANES: usize = 64;

/// Product-to-addend modes (see [`ProductCast`]).
const SHL: u8 = 0;
const SHR: u8 = 1;
const SHR_EVEN: u8 = 2;
/// `SHR` with `add == 0` (TRN), which the i16 accumulators do without a carry.
const SHR_TRN: u8 = 3;

/// The loop-invariant part of a [`ProductCast`].
#[derive(Clone, Copy)]
struct Cast {
    k: u32,
    add: i32,
}

/// The accumulators of one output element over [`LANES`] samples: i32, or
/// i16 when the accumulator wraps at `W <= 16` bits (then every addend and the
/// bias are needed only modulo 2^16, twice the lanes per vector).
trait Acc: Copy + Default {
    fn bias(b: i32) -> Self;
    /// `acc[l] += cast(x[l] * w)` for every lane.
    fn add_products<const MODE: u8>(acc: &mut [Self; LANES], x: &[i16; LANES], w: i16, c: Cast);
    fn store(acc: &[Self; LANES], out: &mut [i32]);
}

impl Acc for i32 {
    #[inline(always)]
    fn bias(b: i32) -> i32 {
        b
    }

    #[inline(always)]
    fn add_products<const MODE: u8>(acc: &mut [i32; LANES], x: &[i16; LANES], w: i16, c: Cast) {
        let w = i32::from(w);
        for (a, &xv) in acc.iter_mut().zip(x) {
            // |x|, |w| <= 2^15: the product is exact in i32.
            let p = i32::from(xv).wrapping_mul(w);
            let addend = match MODE {
                SHL => p.wrapping_shl(c.k),
                SHR | SHR_TRN => p.wrapping_add(c.add) >> c.k,
                _ => p.wrapping_add(c.add).wrapping_add((p >> c.k) & 1) >> c.k,
            };
            *a = a.wrapping_add(addend);
        }
    }

    #[inline(always)]
    fn store(acc: &[i32; LANES], out: &mut [i32]) {
        out[..LANES].copy_from_slice(acc);
    }
}

impl Acc for i16 {
    #[inline(always)]
    fn bias(b: i32) -> i16 {
        b as i16
    }

    /// The i32 addend modulo 2^16, from the low and high halves of the
    /// product (`pmullw`/`pmulhw`): bits `k..k + 16` of `p + add`, with the
    /// carry of the low half's addition (requires `k < 16`, `add < 2^16`).
    #[inline(always)]
    fn add_products<const MODE: u8>(acc: &mut [i16; LANES], x: &[i16; LANES], w: i16, c: Cast) {
        let k = c.k;
        let add = c.add as u16;
        for (a, &xv) in acc.iter_mut().zip(x) {
            let lo = xv.wrapping_mul(w) as u16;
            let hi = ((i32::from(xv) * i32::from(w)) >> 16) as u16;
            let addend = match MODE {
                SHL => lo.wrapping_shl(k),
                SHR_TRN => (lo >> k) | hi.wrapping_shl(16 - k),
                _ => {
                    let add = match MODE {
                        SHR => add,
                        _ => add.wrapping_add((lo >> k) & 1),
                    };
                    let lo2 = lo.wrapping_add(add);
                    let hi2 = hi.wrapping_add(u16::from(lo2 < lo));
                    (lo2 >> k) | hi2.wrapping_shl(16 - k)
                }
            };
            *a = a.wrapping_add(addend as i16);
        }
    }

    #[inline(always)]
    fn store(acc: &[i16; LANES], out: &mut [i32]) {
        for (o, &a) in out[..LANES].iter_mut().zip(acc) {
            *o = i32::from(a);
        }
    }
}

fn lane_row(xs: &[i16], e: usize) -> &[i16; LANES] {
    xs[e * LANES..(e + 1) * LANES]
        .try_into()
        .expect("a lane row has LANES values")
}

/// Dense on one block: `xs` is `[outer * n_in][LANES]`, `out` `[outer * n_out][LANES]`.
#[inline(always)]
fn dense_block<A: Acc, const MODE: u8>(
    d: &Dense,
    nw: &Narrow,
    xs: &[i16],
    out: &mut [i32],
    c: Cast,
) {
    for r in 0..d.outer {
        for j in 0..d.n_out {
            let mut acc = [A::bias(nw.bias[j]); LANES];
            let w = &nw.weights[j * d.n_in..(j + 1) * d.n_in];
            for (i, &wv) in w.iter().enumerate() {
                A::add_products::<MODE>(&mut acc, lane_row(xs, r * d.n_in + i), wv, c);
            }
            A::store(&acc, &mut out[(r * d.n_out + j) * LANES..]);
        }
    }
}

/// Conv on one block: `xs` is `[in_c * in_h * in_w][LANES]`, `out` `[out_c * out_h * out_w][LANES]`.
#[inline(always)]
fn conv_block<A: Acc, const MODE: u8>(
    cv: &Conv,
    nw: &Narrow,
    xs: &[i16],
    out: &mut [i32],
    c: Cast,
) {
    let cg = cv.in_c / cv.groups;
    let mg = cv.out_c / cv.groups;
    let kk = cg * cv.k_h * cv.k_w;
    for m in 0..cv.out_c {
        let g = m / mg;
        let w = &nw.weights[m * kk..(m + 1) * kk];
        for oy in 0..cv.out_h {
            for ox in 0..cv.out_w {
                let mut acc = [A::bias(nw.bias[m]); LANES];
                let mut t = 0;
                for ci in g * cg..(g + 1) * cg {
                    for ky in 0..cv.k_h {
                        let iy = (oy * cv.stride[0] + ky * cv.dilation[0]).wrapping_sub(cv.pad[0]);
                        for kx in 0..cv.k_w {
                            let ix =
                                (ox * cv.stride[1] + kx * cv.dilation[1]).wrapping_sub(cv.pad[1]);
                            // Wrapped (negative) indices are large: one compare covers both sides.
                            if iy < cv.in_h && ix < cv.in_w {
                                let e = (ci * cv.in_h + iy) * cv.in_w + ix;
                                A::add_products::<MODE>(&mut acc, lane_row(xs, e), w[t], c);
                            }
                            t += 1;
                        }
                    }
                }
                let o = (m * cv.out_h + oy) * cv.out_w + ox;
                A::store(&acc, &mut out[o * LANES..]);
            }
        }
    }
}

/// Whether the i16 accumulators of [`Acc`] give the same low `W` bits: the
/// accumulator wraps at `W <= 16` bits and the cast shifts by less than 16.
fn fits_i16(nw: &Narrow) -> bool {
    let small_shift = match nw.cast {
        ProductCast::Shl(k) | ProductCast::Shr { k, .. } | ProductCast::ShrEven { k } => k < 16,
    };
    let small_add = match nw.cast {
        ProductCast::Shr { add, .. } => (0..=i32::from(u16::MAX)).contains(&add),
        _ => true,
    };
    matches!(nw.wrap, Some((w, _)) if w <= 16) && small_shift && small_add
}

/// Instantiates a block kernel for baseline, AVX2 and AVX-512BW and picks one at run time.
macro_rules! dispatch {
    ($name:ident, $block:ident, $layer:ty) => {
        pub(super) fn $name(layer: &$layer, nw: &Narrow, xs: &[i16], out: &mut [i32]) {
            if fits_i16(nw) {
                by_cast::<i16>(layer, nw, xs, out)
            } else {
                by_cast::<i32>(layer, nw, xs, out)
            }
        }

        fn by_cast<A: Acc>(layer: &$layer, nw: &Narrow, xs: &[i16], out: &mut [i32]) {
            match nw.cast {
                ProductCast::Shl(k) => isa::<A, SHL>(layer, nw, xs, out, Cast { k, add: 0 }),
                ProductCast::Shr { k, add: 0 } => {
                    isa::<A, SHR_TRN>(layer, nw, xs, out, Cast { k, add: 0 })
                }
                ProductCast::Shr { k, add } => isa::<A, SHR>(layer, nw, xs, out, Cast { k, add }),
                ProductCast::ShrEven { k } => {
                    let add = (1i32 << (k - 1)) - 1;
                    isa::<A, SHR_EVEN>(layer, nw, xs, out, Cast { k, add })
                }
            }
        }

        fn isa<A: Acc, const MODE: u8>(
            layer: &$layer,
            nw: &Narrow,
            xs: &[i16],
            out: &mut [i32],
            c: Cast,
        ) {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512bw") {
                    // SAFETY: the CPU has AVX-512F/BW (checked just above).
                    return unsafe { avx512::<A, MODE>(layer, nw, xs, out, c) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    return unsafe { avx2::<A, MODE>(layer, nw, xs, out, c) };
                }
            }
            $block::<A, MODE>(layer, nw, xs, out, c)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512bw")]
        fn avx512<A: Acc, const MODE: u8>(
            layer: &$layer,
            nw: &Narrow,
            xs: &[i16],
            out: &mut [i32],
            c: Cast,
        ) {
            $block::<A, MODE>(layer, nw, xs, out, c)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn avx2<A: Acc, const MODE: u8>(
            layer: &$layer,
            nw: &Narrow,
            xs: &[i16],
            out: &mut [i32],
            c: Cast,
        ) {
            $block::<A, MODE>(layer, nw, xs, out, c)
        }
    };
}

mod dense_isa {
    use super::*;
    dispatch!(run, dense_block, Dense);
}

mod conv_isa {
    use super::*;
    dispatch!(run, conv_block, Conv);
}

/// Sample-major `[n][elems]` (`n <= LANES`) to lane-major `[elems][LANES]`, zero-padded.
pub fn to_lanes(x: &[i64], n: usize, elems: usize) -> Vec<i64> {
    let mut y = vec![0i64; elems * LANES];
    for (s, row) in x.chunks_exact(elems.max(1)).take(n.min(LANES)).enumerate() {
        for (e, &v) in row.iter().enumerate() {
            y[e * LANES + s] = v;
        }
    }
    y
}

/// [`to_lanes`] narrowed to i16 (for values known to fit).
pub fn to_lanes16(x: &[i64], n: usize, elems: usize) -> Vec<i16> {
    let mut y = vec![0i16; elems * LANES];
    for (s, row) in x.chunks_exact(elems.max(1)).take(n.min(LANES)).enumerate() {
        for (e, &v) in row.iter().enumerate() {
            y[e * LANES + s] = v as i16;
        }
    }
    y
}

/// Lane-major `[elems][LANES]` back to sample-major `[n][elems]`.
pub fn from_lanes(x: &[i64], n: usize, elems: usize) -> Vec<i64> {
    let mut y = vec![0i64; n * elems];
    for (s, row) in y
        .chunks_exact_mut(elems.max(1))
        .take(n.min(LANES))
        .enumerate()
    {
        for (e, o) in row.iter_mut().enumerate() {
            *o = x[e * LANES + s];
        }
    }
    y
}

/// [`from_lanes`] of i32 lanes, widened to i64.
pub fn from_lanes32(x: &[i32], n: usize, elems: usize) -> Vec<i64> {
    let mut y = vec![0i64; n * elems];
    for (s, row) in y
        .chunks_exact_mut(elems.max(1))
        .take(n.min(LANES))
        .enumerate()
    {
        for (e, o) in row.iter_mut().enumerate() {
            *o = i64::from(x[e * LANES + s]);
        }
    }
    y
}

/// Writes lane-major i32 raw values `[len][LANES]` of `n` samples as
/// `raw * scale` f32 into columns `offset..offset + len` of the sample-major
/// rows of `y` (`total` values per row). Transposes in tiles of 8 elements so
/// that reads and writes both stay in a few cache lines.
pub fn lanes32_to_f32(
    x: &[i32],
    n: usize,
    len: usize,
    scale: f64,
    total: usize,
    offset: usize,
    y: &mut [f32],
) {
    const TILE: usize = 8;
    let n = n.min(LANES);
    for e0 in (0..len).step_by(TILE) {
        let e1 = (e0 + TILE).min(len);
        for (s, row) in y.chunks_exact_mut(total).take(n).enumerate() {
            let out = &mut row[offset + e0..offset + e1];
            for (k, o) in out.iter_mut().enumerate() {
                *o = (f64::from(x[(e0 + k) * LANES + s]) * scale) as f32;
            }
        }
    }
}

/// The accumulators' values: the i32 sums, or their low `W` bits (two's
/// complement or unsigned). One loop per case so that each vectorizes.
pub fn finish(acc: &[i32], wrap: Option<(u32, bool)>) -> Vec<i64> {
    match wrap {
        None => acc.iter().map(|&v| i64::from(v)).collect(),
        Some((w, true)) => {
            let sh = 32 - w;
            acc.iter()
                .map(|&v| i64::from(v.wrapping_shl(sh).wrapping_shr(sh)))
                .collect()
        }
        Some((w, false)) => {
            let sh = 32 - w;
            acc.iter()
                .map(|&v| i64::from((v as u32).wrapping_shl(sh).wrapping_shr(sh)))
                .collect()
        }
    }
}

/// [`finish`] in place, for accumulators whose values fit i32 (all but
/// unsigned 32-bit ones, which the caller keeps as i64).
pub fn finish32(mut acc: Vec<i32>, wrap: Option<(u32, bool)>) -> Vec<i32> {
    match wrap {
        None | Some((32, true)) => {}
        Some((w, true)) => {
            let sh = 32 - w;
            acc.iter_mut()
                .for_each(|v| *v = v.wrapping_shl(sh).wrapping_shr(sh));
        }
        Some((w, false)) => {
            let sh = 32 - w;
            acc.iter_mut()
                .for_each(|v| *v = ((*v as u32).wrapping_shl(sh).wrapping_shr(sh)) as i32);
        }
    }
    acc
}

/// Dense on one lane-major i16 block with the 16-bit kernel; the raw i32 accumulators.
pub fn dense(d: &Dense, nw: &Narrow, xs: &[i16]) -> Vec<i32> {
    let mut acc = vec![0i32; d.outer * d.n_out * LANES];
    dense_isa::run(d, nw, xs, &mut acc);
    acc
}

/// Conv on one lane-major i16 block with the 16-bit kernel; the raw i32 accumulators.
pub fn conv(c: &Conv, nw: &Narrow, xs: &[i16]) -> Vec<i32> {
    let mut acc = vec![0i32; c.out_c * c.out_h * c.out_w * LANES];
    conv_isa::run(c, nw, xs, &mut acc);
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{FixedType, Overflow, Rounding};
    use crate::ir::Accum;
    use crate::sim::kernels;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Uniform in `[lo, hi]`.
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }
    }

    const MODES: [Rounding; 5] = [
        Rounding::Trn,
        Rounding::Ceil,
        Rounding::Rnd,
        Rounding::RndMinInf,
        Rounding::RndConv,
    ];

    /// A random wrapping accumulator type and product frac the 16-bit kernel accepts.
    fn accum(rng: &mut Rng, case: usize) -> (FixedType, i32, Narrow) {
        loop {
            let width = rng.range(2, 32) as u32;
            let mut ty = FixedType::new(
                !rng.next().is_multiple_of(3),
                width,
                rng.range(-2, 12) as i32,
            );
            ty.rounding = MODES[case % MODES.len()];
            ty.overflow = Overflow::Wrap;
            let prod_frac = ty.frac + rng.range(-6, 30) as i32;
            if let Some(cast) = ProductCast::modular(&ty, prod_frac) {
                let nw = Narrow {
                    weights: vec![],
                    bias: vec![],
                    cast,
                    wrap: Some((ty.width, ty.signed)),
                };
                return (ty, prod_frac, nw);
            }
        }
    }

    fn values(rng: &mut Rng, len: usize, bits: u32) -> Vec<i64> {
        let m = 1i64 << (bits - 1);
        (0..len).map(|_| rng.range(-m, m - 1)).collect()
    }

    /// The 16-bit Dense kernel gives the bits of the reference per-product path.
    #[test]
    fn dense_equals_the_reference_path() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut narrow_cases = 0;
        for case in 0..300 {
            let (ty, prod_frac, mut nw) = accum(&mut rng, case);
            let (n_in, n_out, outer) = (1 + case % 19, 1 + case % 7, 1 + case % 3);
            let weights = values(&mut rng, n_in * n_out, 1 + (case % 16) as u32);
            let bias: Vec<i64> = (0..n_out)
                .map(|_| rng.range(ty.min_raw() as i64, ty.max_raw() as i64))
                .collect();
            nw.weights = weights.iter().map(|&w| w as i16).collect();
            nw.bias = bias.iter().map(|&b| b as i32).collect();
            let d = Dense {
                n_in,
                n_out,
                outer,
                weights,
                w_frac: 0,
                w_type: FixedType::new(true, 16, 16),
                bias,
                accum: Accum::PerProduct { ty },
                prod_frac,
                narrow: None,
            };
            let n = 1 + (case * 7) % LANES;
            let x = values(&mut rng, n * outer * n_in, 16);
            let want = kernels::dense(&d, &x, n * outer);
            narrow_cases += usize::from(fits_i16(&nw));
            let lanes = finish(&dense(&d, &nw, &to_lanes16(&x, n, outer * n_in)), nw.wrap);
            let got = from_lanes(&lanes, n, outer * n_out);
            assert_eq!(got, want, "case {case}: {ty:?} prod_frac {prod_frac}");
        }
        assert!(
            narrow_cases > 50,
            "i16 accumulators in {narrow_cases} cases"
        );
    }

    /// The 16-bit Conv kernel (strides, dilations, pads, groups) gives the bits of the reference path.
    #[test]
    fn conv_equals_the_reference_path() {
        let mut rng = Rng(0x0fed_cba9_8765_4321);
        let mut narrow_cases = 0;
        for case in 0..200 {
            let (ty, prod_frac, mut nw) = accum(&mut rng, case);
            let groups = 1 + case % 2;
            let (in_c, out_c) = (groups * (1 + case % 3), groups * (1 + case % 4));
            let (k_h, k_w) = (1 + case % 2, 1 + case % 3);
            let (in_h, in_w) = (2 + case % 3, 3 + case % 6);
            let stride = [1 + case % 2, 1 + (case / 2) % 2];
            let dilation = [1, 1 + (case / 3) % 2];
            let pad = [case % 2, (case / 5) % 3];
            let out_h = (in_h + 2 * pad[0] - dilation[0] * (k_h - 1) - 1) / stride[0] + 1;
            let span_w = dilation[1] * (k_w - 1) + 1;
            if in_w + 2 * pad[1] < span_w {
                continue;
            }
            let out_w = (in_w + 2 * pad[1] - span_w) / stride[1] + 1;
            let kk = in_c / groups * k_h * k_w;
            let weights = values(&mut rng, out_c * kk, 1 + (case % 16) as u32);
            let bias: Vec<i64> = (0..out_c)
                .map(|_| rng.range(ty.min_raw() as i64, ty.max_raw() as i64))
                .collect();
            nw.weights = weights.iter().map(|&w| w as i16).collect();
            nw.bias = bias.iter().map(|&b| b as i32).collect();
            let c = Conv {
                in_c,
                in_h,
                in_w,
                out_c,
                out_h,
                out_w,
                k_h,
                k_w,
                stride,
                dilation,
                pad,
                groups,
                weights,
                w_frac: 0,
                w_type: FixedType::new(true, 16, 16),
                bias,
                accum: Accum::PerProduct { ty },
                prod_frac,
                narrow: None,
            };
            let n = 1 + (case * 5) % LANES;
            let (i_len, o_len) = (in_c * in_h * in_w, out_c * out_h * out_w);
            let x = values(&mut rng, n * i_len, 16);
            let want = kernels::conv(&c, &x, n);
            narrow_cases += usize::from(fits_i16(&nw));
            let lanes = finish(&conv(&c, &nw, &to_lanes16(&x, n, i_len)), nw.wrap);
            let got = from_lanes(&lanes, n, o_len);
            assert_eq!(got, want, "case {case}: {ty:?} prod_frac {prod_frac}");
        }
        assert!(
            narrow_cases > 30,
            "i16 accumulators in {narrow_cases} cases"
        );
    }

    #[test]
    fn lanes_round_trip() {
        let x: Vec<i64> = (0..3 * 5).collect();
        let l = to_lanes(&x, 3, 5);
        assert_eq!(l.len(), 5 * LANES);
        assert_eq!((l[0], l[1], l[2], l[3], l[LANES]), (0, 5, 10, 0, 1));
        assert_eq!(from_lanes(&l, 3, 5), x);
        let l16 = to_lanes16(&x, 3, 5);
        assert_eq!((l16[1], l16[2], l16[LANES + 2]), (5, 10, 11));
        let l32: Vec<i32> = l.iter().map(|&v| v as i32).collect();
        assert_eq!(from_lanes32(&l32, 3, 5), x);
        let mut y = vec![-1f32; 3 * 7];
        lanes32_to_f32(&l32, 3, 5, 0.5, 7, 1, &mut y);
        assert_eq!(&y[..7], &[-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, -1.0]);
        assert_eq!(&y[14..], &[-1.0, 5.0, 5.5, 6.0, 6.5, 7.0, -1.0]);
    }

    #[test]
    fn finish32_equals_finish() {
        let acc = [-100, -17, -16, 15, 16, 31, 32, 1000, i32::MIN, i32::MAX];
        for wrap in [
            None,
            Some((5, true)),
            Some((5, false)),
            Some((16, true)),
            Some((32, true)),
        ] {
            let want = finish(&acc, wrap);
            let got: Vec<i64> = finish32(acc.to_vec(), wrap)
                .iter()
                .map(|&v| i64::from(v))
                .collect();
            assert_eq!(got, want, "{wrap:?}");
        }
    }

    #[test]
    fn finish_wraps_like_the_accumulator() {
        let s = FixedType::new(true, 5, 5);
        let u = FixedType::new(false, 5, 5);
        let acc = [-100, -17, -16, 15, 16, 31, 32, 1000, i32::MIN, i32::MAX];
        let ws = finish(&acc, Some((5, true)));
        let wu = finish(&acc, Some((5, false)));
        for (k, &v) in acc.iter().enumerate() {
            assert_eq!(ws[k], s.overflow_adjust(v as i128) as i64, "{v}");
            assert_eq!(wu[k], u.overflow_adjust(v as i128) as i64, "{v}");
        }
        assert_eq!(finish(&acc, None)[0], -100);
        let w32 = finish(&[i32::MIN], Some((32, false)));
        assert_eq!(w32[0], 1i64 << 31);
    }
}
