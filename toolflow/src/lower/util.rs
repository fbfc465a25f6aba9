//! Helpers shared by the lowering passes: shapes, broadcasting and the
//! exact conversion of float constants to integers.

use crate::error::{Error, Result};
use crate::fixed::{FixedType, Rounding};
use crate::limits::Limits;
use crate::onnx::Node;
use crate::onnx::tensor::checked_numel;

/// Element count with the tensor-size limit.
pub fn numel(shape: &[usize], limits: &Limits, what: &str) -> Result<usize> {
    checked_numel(
        shape,
        limits.max_tensor_elements,
        &format!("tensor '{what}'"),
    )
}

/// Normalises a possibly negative axis.
pub fn axis(node: &Node, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if v < 0 || v >= r {
        return Err(node.err(format!("axis {a} out of range for rank {rank}")));
    }
    Ok(v as usize)
}

/// Numpy broadcast of two shapes.
pub fn broadcast_shape(node: &Node, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(node.err(format!("shapes {a:?} and {b:?} do not broadcast"))),
        };
    }
    Ok(out)
}

/// For each element of `out` (row-major), the index of the element of `src` it reads under broadcasting.
pub fn broadcast_index(out: &[usize], src: &[usize]) -> Vec<u32> {
    let n: usize = out.iter().product();
    let off = out.len() - src.len().min(out.len());
    let mut strides = vec![0usize; out.len()];
    let mut s = 1;
    for i in (0..src.len().min(out.len())).rev() {
        strides[off + i] = if src[i] == 1 { 0 } else { s };
        s *= src[i];
    }
    let mut idx = vec![0u32; n];
    let mut coord = vec![0usize; out.len()];
    for v in idx.iter_mut() {
        *v = coord
            .iter()
            .zip(&strides)
            .map(|(c, s)| c * s)
            .sum::<usize>() as u32;
        for d in (0..out.len()).rev() {
            coord[d] += 1;
            if coord[d] < out[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    idx
}

/// `v = m * 2^e` with `m` odd: returns the frac needed (`-e`), or None for 0.
pub fn needed_frac(v: f64) -> Option<i32> {
    if v == 0.0 || !v.is_finite() {
        return None;
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let mut man = bits & ((1u64 << 52) - 1);
    let mut e = if exp == 0 { -1074 } else { exp - 1075 };
    if exp != 0 {
        man |= 1u64 << 52;
    }
    let tz = man.trailing_zeros() as i32;
    e += tz;
    Some(-e)
}

/// Finest binary point of any tensor or constant (values below 2^-62 are not representable).
pub const MAX_FRAC: i32 = 62;

/// Most significant bits kept when a float constant is not exactly representable.
const CONST_BITS: i32 = 40;

/// Converts float constants to raw integers exactly (at the smallest common frac),
/// or, if that needs more than 40 significant bits, rounded to 40 bits relative
/// to the largest magnitude (round half to even). Returns `(raw, frac)`.
pub fn const_exact(node: &Node, values: &[f64]) -> Result<(Vec<i64>, i32)> {
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(node.err(format!("constant {v} is not finite")));
    }
    let maxabs = values.iter().fold(0f64, |m, v| m.max(v.abs()));
    if maxabs == 0.0 {
        return Ok((vec![0; values.len()], 0));
    }
    let top = maxabs.log2().floor() as i32 + 1; // bits left of the binary point
    let exact = values
        .iter()
        .filter_map(|&v| needed_frac(v))
        .max()
        .unwrap_or(0);
    let frac = exact.min(CONST_BITS - top).clamp(-60, MAX_FRAC);
    let ty = FixedType::new(true, 64, 64 - frac)
        .with_modes(Rounding::RndConv, crate::fixed::Overflow::Sat);
    Ok((
        values.iter().map(|&v| ty.quantize_f64(v) as i64).collect(),
        frac,
    ))
}

/// Converts constants with a configured type the way hls4ml's C simulation
/// gets them: hls4ml writes every weight as decimal text with as many
/// decimals as the type has fraction bits (`'{:.Ff}'`, F = max(0, frac)),
/// the C++ reads that text back as a double and converts it to the ap_fixed
/// type with the type's rounding. The text can round a float up onto the
/// next grid point (for TRN, a value just below `k·2^-F` becomes `k·2^-F`),
/// so this is not always the exact conversion of the float.
pub fn const_typed(values: &[f64], ty: &FixedType) -> Vec<i64> {
    let decimals = ty.frac.max(0) as usize;
    values
        .iter()
        .map(|&v| ty.quantize_f64(through_decimal_text(v, decimals)) as i64)
        .collect()
}

/// `v` printed with `decimals` decimals (correctly rounded, ties to even, as
/// Python's format) and parsed back (correctly rounded, as `istream >> double`).
fn through_decimal_text(v: f64, decimals: usize) -> f64 {
    if !v.is_finite() {
        return v;
    }
    format!("{v:.decimals$}").parse().unwrap_or(v)
}

/// Constant conversion: with a type (configuration) or exact.
pub fn const_fixed(node: &Node, values: &[f64], ty: Option<FixedType>) -> Result<(Vec<i64>, i32)> {
    match ty {
        Some(t) => Ok((const_typed(values, &t), t.frac)),
        None => const_exact(node, values),
    }
}

/// Shifts raw values left to a larger frac (exact), erroring if they overflow i64.
pub fn align(node: &Node, raw: &mut [i64], by: i32) -> Result<()> {
    if by <= 0 {
        return Ok(());
    }
    for v in raw.iter_mut() {
        *v = v
            .checked_mul(1i64.checked_shl(by as u32).unwrap_or(0))
            .filter(|_| by < 63)
            .ok_or_else(|| node.err("constant too large after alignment of binary points"))?;
    }
    Ok(())
}

/// Smallest type holding raw values of `values`.
pub fn range_of(values: &[i64]) -> (i128, i128) {
    let lo = values.iter().copied().min().unwrap_or(0) as i128;
    let hi = values.iter().copied().max().unwrap_or(0) as i128;
    (lo, hi)
}

/// Checks a float is exactly a power of two and returns its exponent.
pub fn pow2_exponent(v: f64) -> Option<i32> {
    if v <= 0.0 || !v.is_finite() {
        return None;
    }
    let e = v.log2().round() as i32;
    (2f64.powi(e) == v).then_some(e)
}

/// Error helper for shapes.
pub fn shape_err(node: &Node, detail: impl Into<String>) -> Error {
    Error::Shape(format!(
        "node '{}' ({}): {}",
        node.name,
        node.op,
        detail.into()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dyadic() {
        assert_eq!(needed_frac(0.75), Some(2));
        assert_eq!(needed_frac(8.0), Some(-3));
        assert_eq!(needed_frac(0.1f32 as f64), Some(27));
        let n = Node {
            name: "n".into(),
            op: "X".into(),
            ..Default::default()
        };
        let (raw, f) = const_exact(&n, &[0.5, -1.25, 3.0]).unwrap();
        assert_eq!((raw, f), (vec![2, -5, 12], 2));
        let v = 0.1f32 as f64;
        let (raw, f) = const_exact(&n, &[v]).unwrap();
        assert_eq!((raw[0] as f64 * 2f64.powi(-f), f), (v, 27));
        // 0.1 in f64 needs 55 fraction bits: rounded to 40 significant bits.
        let (_, f) = const_exact(&n, &[0.1]).unwrap();
        assert_eq!(f, 43);
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_index(&[2, 3], &[3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 3], &[2, 1]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_index(&[1, 2, 2], &[]), vec![0, 0, 0, 0]);
        assert_eq!(pow2_exponent(0.125), Some(-3));
        assert_eq!(pow2_exponent(0.1), None);
    }
}
