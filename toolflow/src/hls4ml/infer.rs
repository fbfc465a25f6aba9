//! hls4ml 1.3's inference of `auto` types (`InferPrecisionTypes`,
//! `hls4ml/model/optimizer/passes/infer_precision.py`). Every inferred type
//! is `FixedPrecisionType(width, integer, signed)`: TRN and WRAP. A model
//! `maximum` caps width and integer bits separately.

use crate::fixed::FixedType;

fn fixed(width: i64, integer: i64, signed: bool) -> FixedType {
    // Widths beyond the simulator's are refused later, when the tensor is made.
    let width = width.clamp(1, 128) as u32;
    FixedType::new(signed, width, integer.clamp(-256, 256) as i32)
}

fn cap(width: i64, integer: i64, max: Option<FixedType>) -> (i64, i64) {
    match max {
        Some(m) => (width.min(m.width as i64), integer.min(m.int_bits() as i64)),
        None => (width, integer),
    }
}

fn ceil_log2(n: usize) -> i64 {
    // math.ceil(np.log2(n)) for n >= 1.
    let n = n.max(1);
    (usize::BITS - (n - 1).leading_zeros()) as i64 * i64::from(n > 1)
}

/// `_infer_common_precision`: the accumulator and result of a Dense or Conv
/// with `n_ops` products per output (Dense: all input elements; Conv:
/// channels x kernel; depthwise: kernel).
pub fn common(
    input: FixedType,
    weight: FixedType,
    bias: FixedType,
    n_ops: usize,
    max: Option<FixedType>,
) -> FixedType {
    let l = ceil_log2(n_ops);
    let mut width = weight.width as i64 + input.width as i64 + l;
    let mut integers = weight.int_bits() as i64 + input.int_bits() as i64 + l;
    let mut signed = weight.signed || input.signed;
    let frac = width - integers;
    // infer_no_bias is False: the bias always counts.
    integers = (integers + i64::from(bias.signed && !signed))
        .max(bias.int_bits() as i64 + i64::from(signed && !bias.signed))
        + 1;
    width = integers + frac.max(bias.width as i64 - bias.int_bits() as i64);
    signed = signed || bias.signed;
    let (w, i) = cap(width, integers, max);
    fixed(w, i, signed)
}

/// `_infer_bn_precision`: `x * scale + bias` of BatchNormalization / ApplyAlpha.
pub fn batchnorm(
    input: FixedType,
    scale: FixedType,
    bias: FixedType,
    max: Option<FixedType>,
) -> FixedType {
    let s_signed = scale.signed || input.signed;
    let s_width = input.width as i64 + scale.width as i64;
    let s_int = input.int_bits() as i64 + scale.int_bits() as i64;
    let signed = s_signed || bias.signed;
    let integer = (s_int + i64::from(bias.signed && !s_signed))
        .max(bias.int_bits() as i64 + i64::from(s_signed && !bias.signed))
        + 1;
    let width = integer + (s_width - s_int).max(bias.width as i64 - bias.int_bits() as i64);
    let (w, i) = cap(width, integer, max);
    fixed(w, i, signed)
}

/// The operation of a two-input Merge layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeOp {
    Add,
    Subtract,
    Multiply,
}

/// `_infer_merge_precision`.
pub fn merge(op: MergeOp, a: FixedType, b: FixedType, max: Option<FixedType>) -> FixedType {
    match op {
        MergeOp::Add | MergeOp::Subtract => {
            let signed = a.signed || b.signed || op == MergeOp::Subtract;
            let int = (a.int_bits() as i64 + i64::from(b.signed && !a.signed))
                .max(b.int_bits() as i64 + i64::from(a.signed && !b.signed))
                + 1;
            let width = int + a.frac.max(b.frac) as i64;
            let (w, i) = cap(width, int, max);
            fixed(w, i, signed)
        }
        MergeOp::Multiply => {
            let (w, i) = cap(
                a.width as i64 + b.width as i64,
                a.int_bits() as i64 + b.int_bits() as i64,
                max,
            );
            fixed(w, i, a.signed || b.signed)
        }
    }
}

/// `_infer_cat_precision`: equal types stay; otherwise the union, taking the
/// first non-default rounding and overflow of the inputs.
pub fn concat(a: FixedType, b: FixedType, max: Option<FixedType>) -> FixedType {
    if a == b {
        return a;
    }
    let signed = a.signed || b.signed;
    let ai = a.int_bits() as i64 + i64::from(signed && !a.signed);
    let bi = b.int_bits() as i64 + i64::from(signed && !b.signed);
    let int = ai.max(bi);
    let width = a.frac.max(b.frac) as i64 + int;
    let (w, i) = cap(width, int, max);
    let mut t = fixed(w, i, signed);
    t.rounding = if a.rounding != crate::fixed::Rounding::Trn {
        a.rounding
    } else {
        b.rounding
    };
    t.overflow = if a.overflow != crate::fixed::Overflow::Wrap {
        a.overflow
    } else {
        b.overflow
    };
    t
}

/// `_infer_pooling_precision`: the accumulator of a max pool is the input
/// type; of an average pool, the input widened by `ceil(log2(pool))` integer
/// and as many fraction bits (no maximum).
pub fn pool_accum(input: FixedType, pool_size: usize, average: bool) -> FixedType {
    if !average {
        return input;
    }
    let extra = ceil_log2(pool_size);
    fixed(
        input.width as i64 + 2 * extra,
        input.int_bits() as i64 + extra,
        input.signed,
    )
}

/// `_get_precision_from_constant` (max width 8): the smallest fixed type
/// holding a parameter exactly (`minimal_kif`, hls4ml `utils/qinterval.py`).
pub fn from_constant(value: f64) -> FixedType {
    if value == 0.0 || !value.is_finite() {
        return FixedType::new(false, 1, 1);
    }
    // _minimal_f: smallest f in (-32, 32] with value * 2^f an integer (32 if none).
    let f = (-31..=32)
        .find(|&f| {
            let s = value * 2f64.powi(f);
            s == s.trunc()
        })
        .unwrap_or(32) as i64;
    let arg = (value + 2f64.powi(-f as i32)).max(-value);
    let i = arg.log2().ceil() as i64;
    let k = i64::from(value < 0.0);
    let width = (k + i + f).min(k + 8);
    fixed(width, k + i, k == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> FixedType {
        FixedType::parse(s).unwrap()
    }

    #[test]
    fn dense_accumulator_as_hls4ml() {
        // Input fixed<16,6>, weight fixed<16,6>, bias fixed<16,6>, 6 inputs: fixed<36,16>.
        let a = common(
            t("fixed<16,6>"),
            t("fixed<16,6>"),
            t("fixed<16,6>"),
            6,
            None,
        );
        assert_eq!(a, t("fixed<36,16>"));
        let capped = common(
            t("fixed<16,6>"),
            t("fixed<16,6>"),
            t("fixed<16,6>"),
            6,
            Some(t("fixed<24,10>")),
        );
        assert_eq!(capped, t("fixed<24,10>"));
        // Unsigned input, zero-width bias (uint<1>).
        let u = common(t("ufixed<8,3>"), t("fixed<8,2>"), t("uint<1>"), 16, None);
        assert_eq!(u, t("fixed<21,10>"));
    }

    #[test]
    fn batchnorm_and_merges() {
        assert_eq!(
            batchnorm(t("fixed<12,4>"), t("fixed<16,6>"), t("fixed<16,6>"), None),
            t("fixed<29,11>")
        );
        assert_eq!(
            merge(MergeOp::Add, t("fixed<16,6>"), t("ufixed<10,4>"), None),
            t("fixed<17,7>")
        );
        assert_eq!(
            merge(MergeOp::Multiply, t("fixed<8,3>"), t("fixed<6,2>"), None),
            t("fixed<14,5>")
        );
        assert_eq!(
            concat(t("fixed<8,3>"), t("fixed<8,3>"), None),
            t("fixed<8,3>")
        );
        assert_eq!(pool_accum(t("fixed<16,6>"), 4, true), t("fixed<20,8>"));
    }

    #[test]
    fn constants_as_hls4ml() {
        // Values printed by hls4ml 1.3's _get_precision_from_constant.
        assert_eq!(from_constant(0.01f32 as f64), t("ufixed<8,-6>"));
        assert_eq!(from_constant(0.1015625), t("ufixed<4,-3>"));
        assert_eq!(from_constant(1.0), t("ufixed<1,1>"));
        assert_eq!(from_constant(0.3f32 as f64), t("ufixed<8,-1>"));
        assert_eq!(from_constant(-0.5), t("fixed<1,0>"));
        assert_eq!(from_constant(2.5), t("ufixed<3,2>"));
    }
}
