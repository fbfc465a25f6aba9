//! Small numeric helpers: compensated summation and input conversion.

/// A score type accepted by the metrics: `f32` and `f64`. Values are widened
/// to `f64` (exactly) before any arithmetic.
pub trait Score: Copy {
    /// The value as `f64` (lossless for `f32`).
    fn to_f64(self) -> f64;
}

impl Score for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

impl Score for f32 {
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// Neumaier's compensated sum (an improved Kahan sum): the rounding error of
/// every addition is carried separately and added back at the end, so the
/// result is within a couple of ulps of the exact sum for any ordering.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    /// An empty sum (0.0).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one term.
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The compensated total.
    pub fn total(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Sums an iterator of `f64` with [`CompensatedSum`].
pub fn compensated_sum<I: IntoIterator<Item = f64>>(values: I) -> f64 {
    let mut acc = CompensatedSum::new();
    for v in values {
        acc.add(v);
    }
    acc.total()
}

/// Converts integer labels (0 or 1, as stored in Parquet label columns) into
/// booleans, rejecting anything else with [`crate::ScoringError::InvalidLabel`].
pub fn labels_from_ints<T>(labels: &[T]) -> crate::Result<Vec<bool>>
where
    T: Copy + Into<i64>,
{
    labels
        .iter()
        .enumerate()
        .map(|(index, &v)| match v.into() {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(crate::ScoringError::InvalidLabel {
                index,
                value: other.to_string(),
            }),
        })
        .collect()
}

/// Formats a number with thousands separators: `120311` -> `"120,311"`,
/// `1234.5` -> `"1,234.5"`. Non-finite values are printed as Rust does.
pub fn format_thousands(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = value.to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let digits: Vec<char> = int_part.chars().collect();
    // The leading group has 1 to 3 digits, the others exactly 3.
    let head_len = match digits.len() % 3 {
        0 => digits.len().min(3),
        r => r,
    };
    let (head, tail) = digits.split_at(head_len);
    let mut grouped: String = head.iter().collect();
    for group in tail.chunks(3) {
        grouped.push(',');
        grouped.extend(group);
    }
    match frac_part {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_recovers_small_terms() {
        let values = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(compensated_sum(values), 2.0);
        let naive: f64 = values.iter().sum();
        assert_ne!(naive, 2.0);
    }

    #[test]
    fn compensated_sum_of_tenths() {
        let total = compensated_sum(std::iter::repeat_n(0.1, 1_000_000));
        assert!((total - 100_000.0).abs() < 1e-9);
    }

    #[test]
    fn labels_from_ints_accepts_binary_only() {
        assert_eq!(
            labels_from_ints(&[0i32, 1, 1, 0]).ok(),
            Some(vec![false, true, true, false])
        );
        assert!(matches!(
            labels_from_ints(&[0i64, 2]),
            Err(crate::ScoringError::InvalidLabel { index: 1, .. })
        ));
    }

    #[test]
    fn thousands() {
        assert_eq!(format_thousands(120311.0), "120,311");
        assert_eq!(format_thousands(100000.0), "100,000");
        assert_eq!(format_thousands(999.0), "999");
        assert_eq!(format_thousands(1234.5), "1,234.5");
        assert_eq!(format_thousands(-1234567.0), "-1,234,567");
        assert_eq!(format_thousands(0.25), "0.25");
    }
}
