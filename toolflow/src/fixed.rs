//! Fixed-point types with Vivado `ap_fixed` semantics.
//!
//! A value is an integer `v` standing for `v * 2^-frac`. Quantization
//! (dropping fraction bits) follows the ap_fixed rounding modes and
//! overflow follows the ap_fixed overflow modes, so a simulation with these
//! types matches HLS C simulation bit for bit. `frac` may be negative
//! (coarser than integers) for QONNX scales larger than one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How fraction bits are dropped (ap_fixed quantization modes, plus `Ceil` for QONNX).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Rounding {
    /// AP_TRN: toward minus infinity (floor). The ap_fixed default.
    #[default]
    Trn,
    /// AP_TRN_ZERO: toward zero.
    TrnZero,
    /// AP_RND: to nearest, ties toward plus infinity.
    Rnd,
    /// AP_RND_ZERO: to nearest, ties toward zero.
    RndZero,
    /// AP_RND_MIN_INF: to nearest, ties toward minus infinity.
    RndMinInf,
    /// AP_RND_INF: to nearest, ties away from zero.
    RndInf,
    /// AP_RND_CONV: to nearest, ties to even (numpy `round`, QONNX `ROUND`).
    RndConv,
    /// Toward plus infinity (QONNX `CEIL`; no ap_fixed equivalent).
    Ceil,
    /// Away from zero (QONNX `UP`; no ap_fixed equivalent).
    Up,
}

/// What happens to values outside the representable range (ap_fixed overflow modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Overflow {
    /// AP_WRAP: two's-complement wrap-around. The ap_fixed default.
    #[default]
    Wrap,
    /// AP_SAT: clamp to the range.
    Sat,
    /// AP_SAT_ZERO: out-of-range values become zero.
    SatZero,
    /// AP_SAT_SYM: clamp to the symmetric range [-max, max] (signed types).
    SatSym,
}

/// A fixed-point type: `width` bits, `frac` of them after the binary point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FixedType {
    pub signed: bool,
    pub width: u32,
    pub frac: i32,
    pub rounding: Rounding,
    pub overflow: Overflow,
}

/// Widest type a cast target may have (values and intermediates live in i128).
pub const MAX_CAST_WIDTH: u32 = 64;

impl FixedType {
    /// `ap_fixed<W,I>` (signed) or `ap_ufixed<W,I>`, default TRN/WRAP.
    pub fn new(signed: bool, width: u32, int_bits: i32) -> Self {
        FixedType {
            signed,
            width,
            frac: width as i32 - int_bits,
            rounding: Rounding::Trn,
            overflow: Overflow::Wrap,
        }
    }

    /// Integer bits, counting the sign bit (the `I` of `ap_fixed<W,I>`).
    pub fn int_bits(&self) -> i32 {
        self.width as i32 - self.frac
    }

    /// Smallest raw integer representable.
    pub fn min_raw(&self) -> i128 {
        if self.signed {
            -(1i128 << (self.width - 1))
        } else {
            0
        }
    }

    /// Largest raw integer representable.
    pub fn max_raw(&self) -> i128 {
        if self.signed {
            (1i128 << (self.width - 1)) - 1
        } else {
            (1i128 << self.width) - 1
        }
    }

    /// The narrowest exact type (TRN/WRAP) holding all raw values in `[lo, hi]` at `frac`.
    pub fn from_range(lo: i128, hi: i128, frac: i32) -> Self {
        let signed = lo < 0;
        let mut width = 1;
        while width < 127 {
            let t = FixedType::new(signed, width, width as i32 - frac);
            if t.min_raw() <= lo && hi <= t.max_raw() {
                break;
            }
            width += 1;
        }
        FixedType::new(signed, width, width as i32 - frac)
    }

    /// Same type with other rounding/overflow modes.
    pub fn with_modes(mut self, rounding: Rounding, overflow: Overflow) -> Self {
        self.rounding = rounding;
        self.overflow = overflow;
        self
    }

    /// Raw value `v` at `from_frac` converted to this type (ap_fixed assignment).
    pub fn cast(&self, v: i128, from_frac: i32) -> i128 {
        let diff = self.frac - from_frac;
        if diff >= 0 {
            self.cast_shl(v, diff as u32)
        } else {
            let r = shift_round(v, diff.unsigned_abs(), self.rounding);
            self.overflow_adjust(r)
        }
    }

    fn cast_shl(&self, v: i128, sh: u32) -> i128 {
        if sh < 120 && v.unsigned_abs() < (1u128 << (120 - sh)) {
            return self.overflow_adjust(v << sh);
        }
        match self.overflow {
            Overflow::Wrap if sh >= self.width => 0,
            Overflow::Wrap => {
                let low = (v as u128) & mask(self.width);
                self.overflow_adjust(((low << sh) & mask(self.width)) as i128)
            }
            _ => self.overflow_adjust(if v < 0 { i128::MIN / 2 } else { i128::MAX / 2 }),
        }
    }

    /// Smallest raw value this type's overflow mode lets through: `min_raw`,
    /// except for AP_SAT_SYM on a signed type of two or more bits, which never
    /// produces -2^(W-1). ap_fixed_base.h flags a negative source whose
    /// result has all low W-1 bits zero as an underflow (`underflow |= neg_src
    /// && ...`, in the double and the ap_fixed conversions alike), and an
    /// underflow under SAT_SYM gives -max. With one bit that -max pattern is
    /// `1`, i.e. -1 = min, so 1-bit types keep their minimum.
    pub fn sat_min_raw(&self) -> i128 {
        if self.overflow == Overflow::SatSym && self.signed && self.width > 1 {
            -self.max_raw()
        } else {
            self.min_raw()
        }
    }

    /// Applies this type's overflow mode to a raw value already at `frac`.
    pub fn overflow_adjust(&self, v: i128) -> i128 {
        let (lo, hi) = (self.sat_min_raw(), self.max_raw());
        if v >= lo && v <= hi {
            return v;
        }
        match self.overflow {
            Overflow::Wrap => wrap(v, self.width, self.signed),
            Overflow::SatZero => 0,
            Overflow::Sat | Overflow::SatSym => v.clamp(lo, hi),
        }
    }

    /// [`Self::cast`] for raw values in `[lo, hi]`, in i64 where that is exact
    /// (the simulator's per-element loops). Same results as `cast`.
    pub fn caster(&self, from_frac: i32, lo: i64, hi: i64) -> Caster {
        let diff = self.frac - from_frac;
        let m = (lo as i128).abs().max((hi as i128).abs());
        let fits64 = self.width <= 62
            && if diff >= 0 {
                diff < 62 && m < 1i128 << (62 - diff)
            } else {
                diff > -62 && m < 1i128 << 62
            };
        let identity =
            diff == 0 && lo as i128 >= self.sat_min_raw() && hi as i128 <= self.max_raw();
        Caster {
            ty: *self,
            from_frac,
            diff,
            mode: if identity {
                CastMode::Identity
            } else if fits64 {
                CastMode::I64
            } else {
                CastMode::I128
            },
        }
    }

    /// [`Self::overflow_adjust`] for widths up to 62 bits, in i64.
    #[inline]
    pub fn overflow_adjust_i64(&self, v: i64) -> i64 {
        let (lo, hi) = (self.sat_min_raw() as i64, self.max_raw() as i64);
        if v >= lo && v <= hi {
            return v;
        }
        let sh = 64 - self.width;
        match self.overflow {
            Overflow::Wrap if self.signed => v.wrapping_shl(sh).wrapping_shr(sh),
            Overflow::Wrap => ((v as u64).wrapping_shl(sh).wrapping_shr(sh)) as i64,
            _ => self.overflow_adjust(v as i128) as i64,
        }
    }

    /// Quantizes a float (exactly: the scaling by 2^frac and the rounding are exact in f64).
    pub fn quantize_f64(&self, x: f64) -> i128 {
        if x.is_nan() {
            return 0;
        }
        let scaled = x * 2f64.powi(self.frac);
        let r = round_f64(scaled, self.rounding);
        if r.abs() < 2f64.powi(120) {
            return self.overflow_adjust(r as i128);
        }
        match self.overflow {
            // r = m * 2^k with k > 64 >= width: every kept bit is zero.
            Overflow::Wrap => 0,
            _ => self.overflow_adjust(if r < 0.0 {
                i128::MIN / 2
            } else {
                i128::MAX / 2
            }),
        }
    }

    /// The real value of a raw integer of this type.
    pub fn to_f64(&self, v: i128) -> f64 {
        raw_to_f64(v, self.frac)
    }

    /// Parses `fixed<W,I>`, `ufixed<W,I>`, `ap_fixed<W,I,Q,O>`, `int<W>`, `uint<W>`, `ap_int<W>`...
    pub fn parse(s: &str) -> Result<Self> {
        parse_type(s).map_err(|e| Error::Config(format!("bad precision '{s}': {e}")))
    }
}

/// How [`Caster::cast`] computes (chosen once per tensor from its proven range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CastMode {
    /// Same binary point and every value fits: nothing to do.
    Identity,
    /// Shifted values stay below 2^62 and the type is at most 62 bits wide.
    I64,
    /// The general path.
    I128,
}

/// A cast from one binary point to a type, specialised for a value range.
#[derive(Debug, Clone, Copy)]
pub struct Caster {
    ty: FixedType,
    from_frac: i32,
    diff: i32,
    mode: CastMode,
}

impl Caster {
    /// True when the cast never changes a value in the range.
    pub fn is_identity(&self) -> bool {
        self.mode == CastMode::Identity
    }

    /// The cast of one raw value (in the range given to [`FixedType::caster`]).
    #[inline]
    pub fn cast(&self, v: i64) -> i64 {
        match self.mode {
            CastMode::Identity => v,
            CastMode::I64 => {
                let r = if self.diff >= 0 {
                    v << self.diff
                } else {
                    shift_round_i64(v, self.diff.unsigned_abs(), self.ty.rounding)
                };
                self.ty.overflow_adjust_i64(r)
            }
            CastMode::I128 => self.ty.cast(v as i128, self.from_frac) as i64,
        }
    }
}

/// [`shift_round`] in i64 (`1 <= s <= 62`).
#[inline]
fn shift_round_i64(v: i64, s: u32, mode: Rounding) -> i64 {
    let floor = v >> s;
    let rem = v - (floor << s);
    let half = 1i64 << (s - 1);
    let up = round_up(mode, rem as i128, half as i128, v < 0, floor & 1 == 1);
    floor + i64::from(up)
}

fn mask(width: u32) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

fn wrap(v: i128, width: u32, signed: bool) -> i128 {
    let m = (v as u128) & mask(width);
    if signed && width < 128 && m >> (width - 1) & 1 == 1 {
        (m as i128) - (1i128 << width)
    } else {
        m as i128
    }
}

/// Real value of `v * 2^-frac` (exact while |v| < 2^53).
pub fn raw_to_f64(v: i128, frac: i32) -> f64 {
    v as f64 * 2f64.powi(-frac)
}

/// Divides `v` by `2^s` with the given rounding. Exact for |v| < 2^125.
pub fn shift_round(v: i128, s: u32, mode: Rounding) -> i128 {
    if s == 0 {
        return v;
    }
    let s = s.min(126);
    let floor = v >> s;
    let rem = v - (floor << s);
    let half = 1i128 << (s - 1);
    floor + i128::from(round_up(mode, rem, half, v < 0, floor & 1 == 1))
}

/// Whether to add one to the floor, given the dropped remainder `rem` in `[0, 2*half)`.
#[inline]
fn round_up(mode: Rounding, rem: i128, half: i128, negative: bool, odd: bool) -> bool {
    match mode {
        Rounding::Trn => false,
        Rounding::Ceil => rem != 0,
        Rounding::Up => !negative && rem != 0,
        Rounding::TrnZero => negative && rem != 0,
        Rounding::Rnd => rem >= half,
        Rounding::RndZero => rem > half || (rem == half && negative),
        Rounding::RndMinInf => rem > half,
        Rounding::RndInf => rem > half || (rem == half && !negative),
        Rounding::RndConv => rem > half || (rem == half && odd),
    }
}

/// [`round_f64`] to an i64 for `|x| < 2^52` (`None` otherwise or for NaN),
/// without a libm `floor` call: baseline x86-64 has no rounding instruction.
#[inline]
pub fn round_to_i64(x: f64, mode: Rounding) -> Option<i64> {
    // Also false for NaN.
    let small = x.abs() < 4_503_599_627_370_496.0;
    if !small {
        return None;
    }
    let t = x as i64; // toward zero, exact below 2^52
    let floor = t - i64::from((t as f64) > x);
    let rem = x - floor as f64; // exact, in [0, 1)
    let up = match mode {
        Rounding::Trn => false,
        Rounding::Ceil => rem != 0.0,
        Rounding::Up => x >= 0.0 && rem != 0.0,
        Rounding::TrnZero => x < 0.0 && rem != 0.0,
        Rounding::Rnd => rem >= 0.5,
        Rounding::RndZero => rem > 0.5 || (rem == 0.5 && x < 0.0),
        Rounding::RndMinInf => rem > 0.5,
        Rounding::RndInf => rem > 0.5 || (rem == 0.5 && x >= 0.0),
        Rounding::RndConv => rem > 0.5 || (rem == 0.5 && floor & 1 == 1),
    };
    Some(floor + i64::from(up))
}

/// Rounds a float to an integer-valued float with the given mode (exact).
pub fn round_f64(x: f64, mode: Rounding) -> f64 {
    if !x.is_finite() || x.abs() >= 2f64.powi(53) {
        return x;
    }
    let floor = x.floor();
    let rem = x - floor;
    let odd = (floor / 2.0).floor() * 2.0 != floor;
    let up = match mode {
        Rounding::Trn => false,
        Rounding::Ceil => rem != 0.0,
        Rounding::Up => x >= 0.0 && rem != 0.0,
        Rounding::TrnZero => x < 0.0 && rem != 0.0,
        Rounding::Rnd => rem >= 0.5,
        Rounding::RndZero => rem > 0.5 || (rem == 0.5 && x < 0.0),
        Rounding::RndMinInf => rem > 0.5,
        Rounding::RndInf => rem > 0.5 || (rem == 0.5 && x >= 0.0),
        Rounding::RndConv => rem > 0.5 || (rem == 0.5 && odd),
    };
    if up { floor + 1.0 } else { floor }
}

fn parse_type(s: &str) -> std::result::Result<FixedType, String> {
    let t = s.trim();
    let open = t.find('<').ok_or("expected NAME<...>")?;
    let close = t
        .rfind('>')
        .filter(|&c| c > open && c == t.len() - 1)
        .ok_or("missing '>'")?;
    let kind = t[..open].trim().to_ascii_lowercase();
    let args: Vec<&str> = t[open + 1..close].split(',').map(str::trim).collect();
    let num = |i: usize| -> std::result::Result<i64, String> {
        args.get(i)
            .ok_or("missing argument")?
            .parse::<i64>()
            .map_err(|e| e.to_string())
    };
    let kind = kind.strip_prefix("ap_").unwrap_or(&kind);
    let (signed, width, int_bits) = match kind {
        "fixed" | "ufixed" => (kind == "fixed", num(0)?, num(1)?),
        "int" | "uint" => (kind == "int", num(0)?, num(0)?),
        _ => return Err(format!("unknown type '{kind}'")),
    };
    if !(1..=MAX_CAST_WIDTH as i64).contains(&width) {
        return Err(format!("width must be 1..={MAX_CAST_WIDTH}"));
    }
    if !(-64..=128).contains(&int_bits) {
        return Err("integer bits out of range".into());
    }
    let mut ty = FixedType::new(signed, width as u32, int_bits as i32);
    let first_mode = if matches!(kind, "fixed" | "ufixed") {
        2
    } else {
        1
    };
    if let Some(q) = args.get(first_mode) {
        ty.rounding = parse_rounding(q)?;
    }
    if let Some(o) = args.get(first_mode + 1) {
        ty.overflow = parse_overflow(o)?;
    }
    if let Some(n) = args.get(first_mode + 2).filter(|n| **n != "0") {
        return Err(format!("saturation bits ({n}) are not supported"));
    }
    Ok(ty)
}

/// Parses a rounding mode name (`RND`, `AP_RND_CONV`, ...).
pub fn parse_rounding(s: &str) -> std::result::Result<Rounding, String> {
    let u = s.trim().to_ascii_uppercase();
    Ok(match u.strip_prefix("AP_").unwrap_or(&u) {
        "TRN" => Rounding::Trn,
        "TRN_ZERO" => Rounding::TrnZero,
        "RND" => Rounding::Rnd,
        "RND_ZERO" => Rounding::RndZero,
        "RND_MIN_INF" => Rounding::RndMinInf,
        "RND_INF" => Rounding::RndInf,
        "RND_CONV" => Rounding::RndConv,
        other => return Err(format!("unknown rounding mode '{other}'")),
    })
}

/// Parses an overflow mode name (`WRAP`, `AP_SAT`, ...).
pub fn parse_overflow(s: &str) -> std::result::Result<Overflow, String> {
    let u = s.trim().to_ascii_uppercase();
    Ok(match u.strip_prefix("AP_").unwrap_or(&u) {
        "WRAP" => Overflow::Wrap,
        "SAT" => Overflow::Sat,
        "SAT_ZERO" => Overflow::SatZero,
        "SAT_SYM" => Overflow::SatSym,
        other => return Err(format!("unknown overflow mode '{other}'")),
    })
}

impl fmt::Display for FixedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.signed { "fixed" } else { "ufixed" };
        write!(f, "{name}<{},{}", self.width, self.int_bits())?;
        let modes = (self.rounding, self.overflow);
        if modes != (Rounding::Trn, Overflow::Wrap) {
            write!(f, ",{:?},{:?}", self.rounding, self.overflow)?;
        }
        write!(f, ">")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Rounding::*;

    /// Raw values at frac 1 (x.5 steps) rounded to integers, per mode.
    /// Inputs: -2.5 -1.5 -1.0 -0.5 0.5 1.5 2.5 (raw -5 -3 -2 -1 1 3 5).
    #[test]
    fn rounding_table_halves() {
        let raw = [-5, -3, -2, -1, 1, 3, 5];
        let table: [(Rounding, [i128; 7]); 9] = [
            (Trn, [-3, -2, -1, -1, 0, 1, 2]),
            (TrnZero, [-2, -1, -1, 0, 0, 1, 2]),
            (Rnd, [-2, -1, -1, 0, 1, 2, 3]),
            (RndZero, [-2, -1, -1, 0, 0, 1, 2]),
            (RndMinInf, [-3, -2, -1, -1, 0, 1, 2]),
            (RndInf, [-3, -2, -1, -1, 1, 2, 3]),
            (RndConv, [-2, -2, -1, 0, 0, 2, 2]),
            (Ceil, [-2, -1, -1, 0, 1, 2, 3]),
            (Up, [-3, -2, -1, -1, 1, 2, 3]),
        ];
        for (mode, want) in table {
            let got: Vec<i128> = raw.iter().map(|&v| shift_round(v, 1, mode)).collect();
            assert_eq!(got, want, "{mode:?}");
            let gotf: Vec<i128> = raw
                .iter()
                .map(|&v| round_f64(v as f64 / 2.0, mode) as i128)
                .collect();
            assert_eq!(gotf, want, "float {mode:?}");
        }
    }

    /// Non-tie values: -0.75 -0.25 0.25 0.75 (raw at frac 2: -3 -1 1 3).
    #[test]
    fn rounding_table_quarters() {
        let raw = [-3, -1, 1, 3];
        let table: [(Rounding, [i128; 4]); 8] = [
            (Trn, [-1, -1, 0, 0]),
            (TrnZero, [0, 0, 0, 0]),
            (Rnd, [-1, 0, 0, 1]),
            (RndZero, [-1, 0, 0, 1]),
            (RndMinInf, [-1, 0, 0, 1]),
            (RndInf, [-1, 0, 0, 1]),
            (RndConv, [-1, 0, 0, 1]),
            (Ceil, [0, 0, 1, 1]),
        ];
        for (mode, want) in table {
            let got: Vec<i128> = raw.iter().map(|&v| shift_round(v, 2, mode)).collect();
            assert_eq!(got, want, "{mode:?}");
        }
    }

    #[test]
    fn round_to_i64_equals_round_f64() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let modes = [
            Trn, TrnZero, Rnd, RndZero, RndMinInf, RndInf, RndConv, Ceil, Up,
        ];
        for i in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Halves, quarters and arbitrary fractions, both signs, up to 2^40.
            let x = match i % 3 {
                0 => (state as i64 >> 40) as f64 / 2.0,
                1 => (state as i64 >> 30) as f64 / 4.0,
                _ => f64::from_bits(state) % 1e12,
            };
            if x.is_nan() {
                continue;
            }
            for mode in modes {
                assert_eq!(
                    round_to_i64(x, mode),
                    Some(round_f64(x, mode) as i64),
                    "{x} {mode:?}"
                );
            }
        }
        assert_eq!(round_to_i64(f64::NAN, Trn), None);
        assert_eq!(round_to_i64(1e17, Trn), None);
        assert_eq!(round_to_i64(-0.5, RndConv), Some(0));
        assert_eq!(round_to_i64(-1e-300, Trn), Some(-1));
    }

    #[test]
    fn caster_equals_cast() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let modes = [
            Trn, TrnZero, Rnd, RndZero, RndMinInf, RndInf, RndConv, Ceil, Up,
        ];
        let ovf = [
            Overflow::Wrap,
            Overflow::Sat,
            Overflow::SatZero,
            Overflow::SatSym,
        ];
        for case in 0..4000usize {
            let mut ty = FixedType::new(
                case % 2 == 0,
                1 + (case % 40) as u32,
                (case % 11) as i32 - 3,
            );
            ty.rounding = modes[case % modes.len()];
            ty.overflow = ovf[(case / 9) % ovf.len()];
            let from_frac = ty.frac + (case % 15) as i32 - 7;
            let bits = 1 + (case % 45) as u32;
            let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            let c = ty.caster(from_frac, lo, hi);
            for _ in 0..8 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let v = lo + (state % (hi - lo + 1) as u64) as i64;
                assert_eq!(
                    c.cast(v),
                    ty.cast(v as i128, from_frac) as i64,
                    "{ty:?} from {from_frac} v {v}"
                );
            }
        }
    }

    #[test]
    fn overflow_table() {
        // fixed<4,4>: range [-8, 7]
        let mk = |o| FixedType::new(true, 4, 4).with_modes(Trn, o);
        let vals = [-10i128, -9, -8, 7, 8, 9, 17];
        let table = [
            (Overflow::Wrap, [6i128, 7, -8, 7, -8, -7, 1]),
            (Overflow::Sat, [-8, -8, -8, 7, 7, 7, 7]),
            (Overflow::SatZero, [0, 0, -8, 7, 0, 0, 0]),
            // ap_fixed: -8 = -2^(W-1) itself becomes -max under SAT_SYM.
            (Overflow::SatSym, [-7, -7, -7, 7, 7, 7, 7]),
        ];
        for (o, want) in table {
            let got: Vec<i128> = vals.iter().map(|&v| mk(o).overflow_adjust(v)).collect();
            assert_eq!(got, want, "{o:?}");
        }
        let one = FixedType::new(true, 1, 1).with_modes(Trn, Overflow::SatSym);
        assert_eq!(
            [-3, -1, 0, 1].map(|v| one.overflow_adjust(v)),
            [-1, -1, 0, 0]
        );
        let usym = FixedType::new(false, 3, 3).with_modes(Trn, Overflow::SatSym);
        assert_eq!([-1, 0, 9].map(|v| usym.overflow_adjust(v)), [0, 0, 7]);
        let u = FixedType::new(false, 3, 3);
        assert_eq!(u.overflow_adjust(9), 1);
        assert_eq!(u.overflow_adjust(-1), 7);
        assert_eq!(u.with_modes(Trn, Overflow::Sat).overflow_adjust(-1), 0);
    }

    #[test]
    fn quantize_float_like_ap_fixed() {
        let t = FixedType::parse("ap_fixed<8,3,AP_RND,AP_SAT>").unwrap();
        assert_eq!(t.frac, 5);
        assert_eq!(t.quantize_f64(1.0 / 64.0), 1); // half LSB rounds up
        assert_eq!(t.quantize_f64(100.0), 127);
        assert_eq!(t.quantize_f64(-100.0), -128);
        let w = FixedType::parse("fixed<8,3>").unwrap();
        assert_eq!(w.quantize_f64(-1.0 / 64.0), -1); // floor
        assert_eq!(w.quantize_f64(4.0), -128); // wraps
        assert_eq!(w.quantize_f64(f64::NAN), 0);
        assert_eq!(w.quantize_f64(1e30), 0);
    }

    #[test]
    fn parse_and_display() {
        let t = FixedType::parse("ufixed<10,2,RND_CONV,SAT_SYM>").unwrap();
        assert!(!t.signed);
        assert_eq!((t.width, t.frac), (10, 8));
        assert_eq!(t.to_string(), "ufixed<10,2,RndConv,SatSym>");
        assert_eq!(FixedType::parse("int<8>").unwrap().frac, 0);
        assert_eq!(FixedType::parse("ap_uint<4>").unwrap().max_raw(), 15);
        assert!(FixedType::parse("fixed<0,1>").is_err());
        assert!(FixedType::parse("fixed<16,6,FOO>").is_err());
        assert!(FixedType::parse("float").is_err());
    }

    #[test]
    fn cast_between_fracs() {
        let t = FixedType::new(true, 8, 4).with_modes(RndConv, Overflow::Sat);
        assert_eq!(t.cast(3, 2), 12); // 0.75 -> frac 4
        assert_eq!(t.cast(0x128, 8), 0x12); // 0x1.28 at frac 8 -> 0x1.2 (a tie, 0x12 is even)
        assert_eq!(t.cast(0x138, 8), 0x14); // tie, 0x13 is odd -> up
        let w = FixedType::new(true, 4, 4);
        assert_eq!(w.cast(1, -10), 0); // 1024 wraps to 0
        assert_eq!(FixedType::from_range(-3, 5, 0).width, 4);
        assert_eq!(FixedType::from_range(0, 255, 0).width, 8);
    }
}
