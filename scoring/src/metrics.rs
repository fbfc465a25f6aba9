//! Accuracy metrics, each defined to agree with scikit-learn 1.7.
//!
//! Conventions shared by every function here:
//!
//! * Ground truth is a slice of `bool` (`true` = positive / anomaly). Use
//!   [`crate::labels_from_ints`] to convert 0/1 integer columns.
//! * Scores may be `f32` or `f64` (see [`Score`]); they are widened to `f64`.
//!   Higher scores mean "more positive".
//! * A sample is predicted positive at threshold `t` iff `score >= t` (the
//!   rule of scikit-learn's `roc_curve`).
//! * Empty input, inputs of different lengths and non-finite scores (NaN,
//!   ±infinity) are errors, as they are in scikit-learn.
//! * Where scikit-learn raises an error on a degenerate input we return a
//!   [`ScoringError`]; where it only warns and returns a value we return that
//!   same value. Each function documents which.
//! * Counts are integers; rates are formed by one division; sums of
//!   non-integer terms use compensated (Neumaier) summation.
//!
//! Degenerate inputs, per metric ("error" = a [`ScoringError`]; every metric
//! also rejects empty input and length mismatches):
//!
//! | metric | NaN / ±inf score | one class only in the truth | 0/0 ratio |
//! | --- | --- | --- | --- |
//! | [`roc_auc`] | error | error (scikit-learn raises) | — |
//! | [`average_precision`] | error | no positives: `0.0`; no negatives: `1.0` (scikit-learn's values) | — |
//! | [`tnr_at_tpr`], [`tpr_at_fpr`] | error | error (TPR or FPR undefined; `roc_curve` gives NaN) | — |
//! | [`f1_score`], [`f1_at_threshold`] | error (threshold path) | defined | `zero_division` (0 = scikit-learn's default) |
//! | [`accuracy`] | error (threshold path) | defined | — |
//! | [`balanced_accuracy`] | error (threshold path) | recall of the class present (scikit-learn's value) | — |
//! | [`mse`] | error in either input | — | — |
//! | [`flooding_score`] | error (threshold path) | defined | `zero_division` per F1 (registry default 1) |

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScoringError};
use crate::numeric::{CompensatedSum, Score};

/// One operating point of a binary classifier: predicting positive iff
/// `score >= threshold` yields `tp` true positives and `fp` false positives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Decision threshold (`+inf` for the "predict nothing positive" point).
    pub threshold: f64,
    /// True positives at this threshold.
    pub tp: u64,
    /// False positives at this threshold.
    pub fp: u64,
}

/// The full ROC / precision-recall staircase of a scored sample: one point per
/// distinct score value (in decreasing order), preceded by the point at
/// threshold `+inf` (nothing predicted positive). This is scikit-learn's
/// `roc_curve(..., drop_intermediate=False)` in integer counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryCurve {
    /// Number of positive samples.
    pub positives: u64,
    /// Number of negative samples.
    pub negatives: u64,
    /// Operating points, thresholds strictly decreasing, counts non-decreasing.
    pub points: Vec<CurvePoint>,
}

impl BinaryCurve {
    /// Builds the curve from labels and scores.
    ///
    /// Errors: empty input, length mismatch, non-finite score.
    pub fn new<S: Score>(labels: &[bool], scores: &[S]) -> Result<Self> {
        Self::build("binary_curve", labels, scores)
    }

    fn build<S: Score>(metric: &str, labels: &[bool], scores: &[S]) -> Result<Self> {
        let values = checked_scores(metric, labels.len(), scores)?;
        let mut pairs: Vec<(f64, bool)> = values.into_iter().zip(labels.iter().copied()).collect();
        // Decreasing score. total_cmp orders 0.0 before -0.0; the two are
        // adjacent and merged below because grouping uses `==`.
        pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut points = Vec::with_capacity(pairs.len() + 1);
        points.push(CurvePoint {
            threshold: f64::INFINITY,
            tp: 0,
            fp: 0,
        });
        let (mut tp, mut fp) = (0u64, 0u64);
        for (i, &(score, label)) in pairs.iter().enumerate() {
            if label {
                tp += 1;
            } else {
                fp += 1;
            }
            let last_of_group = pairs.get(i + 1).is_none_or(|next| next.0 != score);
            if last_of_group {
                points.push(CurvePoint {
                    threshold: score,
                    tp,
                    fp,
                });
            }
        }
        Ok(Self {
            positives: tp,
            negatives: fp,
            points,
        })
    }

    /// True-positive rate of point `i`, computed as `tp / positives` (NaN
    /// when there are no positives, as in scikit-learn).
    pub fn tpr(&self, i: usize) -> f64 {
        self.points
            .get(i)
            .map_or(f64::NAN, |p| p.tp as f64 / self.positives as f64)
    }

    /// False-positive rate of point `i`, computed as `fp / negatives`.
    pub fn fpr(&self, i: usize) -> f64 {
        self.points
            .get(i)
            .map_or(f64::NAN, |p| p.fp as f64 / self.negatives as f64)
    }

    fn require_both_classes(&self, metric: &str) -> Result<()> {
        if self.positives == 0 || self.negatives == 0 {
            return Err(ScoringError::OneClass {
                metric: metric.to_string(),
                present: if self.positives == 0 {
                    "negatives only".into()
                } else {
                    "positives only".into()
                },
            });
        }
        Ok(())
    }
}

fn checked_scores<S: Score>(metric: &str, n_labels: usize, scores: &[S]) -> Result<Vec<f64>> {
    check_lengths(metric, "labels", n_labels, "scores", scores.len())?;
    checked_values(metric, "scores", scores)
}

fn checked_values<S: Score>(metric: &str, input: &str, values: &[S]) -> Result<Vec<f64>> {
    values
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let v = s.to_f64();
            if v.is_finite() {
                Ok(v)
            } else {
                Err(ScoringError::NonFinite {
                    metric: metric.to_string(),
                    input: input.to_string(),
                    index,
                    value: v.to_string(),
                })
            }
        })
        .collect()
}

fn check_lengths(
    metric: &str,
    left_name: &str,
    left: usize,
    right_name: &str,
    right: usize,
) -> Result<()> {
    if left != right {
        return Err(ScoringError::LengthMismatch {
            metric: metric.to_string(),
            left_name: left_name.to_string(),
            left,
            right_name: right_name.to_string(),
            right,
        });
    }
    if left == 0 {
        return Err(ScoringError::Empty {
            metric: metric.to_string(),
        });
    }
    Ok(())
}

/// Area under the ROC curve, exactly as scikit-learn's `roc_auc_score` for
/// binary labels: the trapezoidal area under the (FPR, TPR) curve whose
/// vertices are the distinct score values, so a group of tied scores
/// contributes a diagonal segment (a tie between a positive and a negative
/// counts one half). Computed in exact integer arithmetic,
/// `sum over groups fp_g * (2 tp_before + tp_g) / (2 P N)`, with one final
/// division.
///
/// Errors (as scikit-learn): one class only ([`ScoringError::OneClass`]),
/// empty input, length mismatch, non-finite score.
pub fn roc_auc<S: Score>(labels: &[bool], scores: &[S]) -> Result<f64> {
    let curve = BinaryCurve::build("roc_auc", labels, scores)?;
    curve.require_both_classes("roc_auc")?;
    let mut twice_area: u128 = 0;
    for w in curve.points.windows(2) {
        let (prev, cur) = (w[0], w[1]);
        let d_fp = u128::from(cur.fp - prev.fp);
        let d_tp = u128::from(cur.tp - prev.tp);
        twice_area += d_fp * (2 * u128::from(prev.tp) + d_tp);
    }
    let denom = 2.0 * curve.positives as f64 * curve.negatives as f64;
    Ok(twice_area as f64 / denom)
}

/// Area under the precision-recall curve as scikit-learn's
/// `average_precision_score` ("PR AUC" on leaderboards): the step-wise sum
/// `AP = sum_k (R_k - R_{k-1}) P_k` over distinct score thresholds in
/// decreasing order, with no interpolation and no trapezoids. Tied scores
/// form one threshold.
///
/// Degenerate inputs, as scikit-learn: no positive sample returns `0.0`
/// (scikit-learn warns and returns 0); no negative sample returns `1.0`.
/// Errors: empty input, length mismatch, non-finite score.
pub fn average_precision<S: Score>(labels: &[bool], scores: &[S]) -> Result<f64> {
    let curve = BinaryCurve::build("pr_auc", labels, scores)?;
    if curve.positives == 0 {
        return Ok(0.0);
    }
    let mut acc = CompensatedSum::new();
    for w in curve.points.windows(2) {
        let (prev, cur) = (w[0], w[1]);
        let d_tp = cur.tp - prev.tp;
        if d_tp == 0 {
            continue;
        }
        let precision = cur.tp as f64 / (cur.tp + cur.fp) as f64;
        acc.add(d_tp as f64 * precision);
    }
    Ok(acc.total() / curve.positives as f64)
}

/// An operating point chosen by a fixed-rate rule, with its rates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// Threshold (predict positive iff `score >= threshold`); `+inf` means
    /// nothing is predicted positive.
    pub threshold: f64,
    /// True-positive rate `tp / P`.
    pub tpr: f64,
    /// False-positive rate `fp / N`.
    pub fpr: f64,
    /// True-negative rate, `1 - fpr`.
    pub tnr: f64,
}

fn check_rate(metric: &str, name: &str, target: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&target) {
        return Err(ScoringError::InvalidParameter {
            metric: metric.to_string(),
            name: name.to_string(),
            value: target.to_string(),
            reason: "must be a number in [0, 1]".into(),
        });
    }
    Ok(())
}

fn operating_point(curve: &BinaryCurve, i: usize) -> OperatingPoint {
    let fpr = curve.fpr(i);
    OperatingPoint {
        threshold: curve.points.get(i).map_or(f64::NAN, |p| p.threshold),
        tpr: curve.tpr(i),
        fpr,
        tnr: 1.0 - fpr,
    }
}

/// True-negative rate at a fixed true-positive rate (the gravitational-wave
/// challenge's metric), with its operating point.
///
/// Rule: among the thresholds of [`BinaryCurve`] (every distinct score value,
/// plus `+inf`), take the **highest threshold whose TPR is at least
/// `target_tpr`**; report `TNR = 1 - FPR` there. Because TPR and FPR both
/// grow as the threshold falls, this is the best TNR achievable by any
/// threshold with `TPR >= target_tpr`. TPR and FPR are computed as
/// scikit-learn's `roc_curve` does (`tp / P`, `fp / N`, one division each), so
/// the comparison with the target is the same floating-point comparison.
/// `target_tpr = 0` selects the `+inf` threshold (TNR = 1).
///
/// Errors: target outside `[0, 1]`, one class only (TPR or FPR undefined),
/// empty input, length mismatch, non-finite score.
pub fn tnr_at_tpr_point<S: Score>(
    labels: &[bool],
    scores: &[S],
    target_tpr: f64,
) -> Result<OperatingPoint> {
    const METRIC: &str = "tnr_at_tpr";
    check_rate(METRIC, "tpr", target_tpr)?;
    let curve = BinaryCurve::build(METRIC, labels, scores)?;
    curve.require_both_classes(METRIC)?;
    // The last point has TPR = 1 >= any valid target, so a point is found.
    let index = (0..curve.points.len())
        .find(|&i| curve.tpr(i) >= target_tpr)
        .unwrap_or(curve.points.len() - 1);
    Ok(operating_point(&curve, index))
}

/// TNR at a fixed TPR; see [`tnr_at_tpr_point`] for the exact rule.
pub fn tnr_at_tpr<S: Score>(labels: &[bool], scores: &[S], target_tpr: f64) -> Result<f64> {
    tnr_at_tpr_point(labels, scores, target_tpr).map(|p| p.tnr)
}

/// True-positive rate at a fixed false-positive rate, with its operating
/// point.
///
/// Rule: among the thresholds of [`BinaryCurve`] (every distinct score value,
/// plus `+inf`), take the **lowest threshold whose FPR is at most
/// `target_fpr`**; report its TPR, the best TPR of any threshold with
/// `FPR <= target_fpr`. FPR is `fp / N` as in scikit-learn's `roc_curve`.
/// `target_fpr = 0` gives the TPR reached before the first false positive.
///
/// Errors: target outside `[0, 1]`, one class only, empty input, length
/// mismatch, non-finite score.
pub fn tpr_at_fpr_point<S: Score>(
    labels: &[bool],
    scores: &[S],
    target_fpr: f64,
) -> Result<OperatingPoint> {
    const METRIC: &str = "tpr_at_fpr";
    check_rate(METRIC, "fpr", target_fpr)?;
    let curve = BinaryCurve::build(METRIC, labels, scores)?;
    curve.require_both_classes(METRIC)?;
    // The first point (threshold +inf) has FPR = 0 <= any valid target.
    let index = (0..curve.points.len())
        .rev()
        .find(|&i| curve.fpr(i) <= target_fpr)
        .unwrap_or(0);
    Ok(operating_point(&curve, index))
}

/// TPR at a fixed FPR; see [`tpr_at_fpr_point`] for the exact rule.
pub fn tpr_at_fpr<S: Score>(labels: &[bool], scores: &[S], target_fpr: f64) -> Result<f64> {
    tpr_at_fpr_point(labels, scores, target_fpr).map(|p| p.tpr)
}

/// What a ratio with a zero denominator evaluates to, after scikit-learn's
/// `zero_division` parameter. Serialized as the number `0` or `1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub enum ZeroDivision {
    /// `zero_division=0` (and scikit-learn's default `"warn"`): score 0.
    #[default]
    Zero,
    /// `zero_division=1`: score 1.
    One,
}

impl ZeroDivision {
    /// The value substituted for 0/0.
    pub fn value(self) -> f64 {
        match self {
            ZeroDivision::Zero => 0.0,
            ZeroDivision::One => 1.0,
        }
    }
}

impl TryFrom<f64> for ZeroDivision {
    type Error = String;
    fn try_from(v: f64) -> std::result::Result<Self, String> {
        if v == 0.0 {
            Ok(ZeroDivision::Zero)
        } else if v == 1.0 {
            Ok(ZeroDivision::One)
        } else {
            Err(format!("zero_division must be 0 or 1, got {v}"))
        }
    }
}

impl From<ZeroDivision> for f64 {
    fn from(z: ZeroDivision) -> f64 {
        z.value()
    }
}

/// Binary confusion-matrix counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// Positives predicted positive.
    pub tp: u64,
    /// Negatives predicted positive.
    pub fp: u64,
    /// Negatives predicted negative.
    pub tn: u64,
    /// Positives predicted negative.
    pub fn_: u64,
}

impl Confusion {
    /// Counts from predicted labels. Errors: length mismatch, empty input.
    pub fn from_predictions(labels: &[bool], predicted: &[bool]) -> Result<Self> {
        check_lengths(
            "confusion",
            "labels",
            labels.len(),
            "predictions",
            predicted.len(),
        )?;
        let mut c = Confusion::default();
        for (&t, &p) in labels.iter().zip(predicted) {
            c.add(t, p);
        }
        Ok(c)
    }

    /// Counts from scores cut at `threshold` (positive iff `score >= threshold`).
    /// Errors: NaN threshold, length mismatch, empty input, non-finite score.
    pub fn from_threshold<S: Score>(labels: &[bool], scores: &[S], threshold: f64) -> Result<Self> {
        let predicted = threshold_predictions("confusion", labels.len(), scores, threshold)?;
        Self::from_predictions(labels, &predicted)
    }

    fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fn_ += 1,
        }
    }

    /// Number of positive samples.
    pub fn positives(&self) -> u64 {
        self.tp + self.fn_
    }

    /// Number of negative samples.
    pub fn negatives(&self) -> u64 {
        self.tn + self.fp
    }

    /// Binary F1 of the positive class, as scikit-learn's `f1_score`:
    /// `2 tp / (2 tp + fp + fn)`; when `2 tp + fp + fn = 0` (no positive in
    /// the truth nor in the predictions) the result is `zero_division`.
    pub fn f1(&self, zero_division: ZeroDivision) -> f64 {
        let denom = (self.positives() + self.tp + self.fp) as f64;
        if denom == 0.0 {
            zero_division.value()
        } else {
            (2 * self.tp) as f64 / denom
        }
    }

    /// Fraction of correct predictions. Error on zero samples.
    pub fn accuracy(&self) -> Result<f64> {
        let n = self.positives() + self.negatives();
        if n == 0 {
            return Err(ScoringError::Empty {
                metric: "accuracy".into(),
            });
        }
        Ok((self.tp + self.tn) as f64 / n as f64)
    }

    /// Mean of the per-class recalls over the classes **present in the
    /// truth**, as scikit-learn's `balanced_accuracy_score`: with both classes
    /// `(TPR + TNR) / 2`; with one class only, that class's recall
    /// (scikit-learn warns and drops the absent class). Error on zero samples.
    pub fn balanced_accuracy(&self) -> Result<f64> {
        let (p, n) = (self.positives(), self.negatives());
        let tpr = self.tp as f64 / p as f64;
        let tnr = self.tn as f64 / n as f64;
        match (p > 0, n > 0) {
            (true, true) => Ok((tnr + tpr) / 2.0),
            (true, false) => Ok(tpr),
            (false, true) => Ok(tnr),
            (false, false) => Err(ScoringError::Empty {
                metric: "balanced_accuracy".into(),
            }),
        }
    }
}

pub(crate) fn threshold_predictions<S: Score>(
    metric: &str,
    n_labels: usize,
    scores: &[S],
    threshold: f64,
) -> Result<Vec<bool>> {
    if threshold.is_nan() {
        return Err(ScoringError::InvalidParameter {
            metric: metric.to_string(),
            name: "threshold".into(),
            value: threshold.to_string(),
            reason: "must be a number".into(),
        });
    }
    let values = checked_scores(metric, n_labels, scores)?;
    Ok(values.into_iter().map(|s| s >= threshold).collect())
}

/// Binary F1 from predicted labels, as scikit-learn's
/// `f1_score(y_true, y_pred, zero_division=...)` with `pos_label=1`.
/// No positive in truth and predictions gives `zero_division` (scikit-learn's
/// default `"warn"` is [`ZeroDivision::Zero`]).
/// Errors: empty input, length mismatch.
pub fn f1_score(labels: &[bool], predicted: &[bool], zero_division: ZeroDivision) -> Result<f64> {
    check_lengths("f1", "labels", labels.len(), "predictions", predicted.len())?;
    Confusion::from_predictions(labels, predicted).map(|c| c.f1(zero_division))
}

/// Binary F1 of scores cut at `threshold` (positive iff `score >= threshold`).
/// Errors: NaN threshold, empty input, length mismatch, non-finite score.
pub fn f1_at_threshold<S: Score>(
    labels: &[bool],
    scores: &[S],
    threshold: f64,
    zero_division: ZeroDivision,
) -> Result<f64> {
    let predicted = threshold_predictions("f1", labels.len(), scores, threshold)?;
    f1_score(labels, &predicted, zero_division)
}

/// Fraction of correct predictions (scikit-learn's `accuracy_score`).
/// Errors: empty input, length mismatch.
pub fn accuracy(labels: &[bool], predicted: &[bool]) -> Result<f64> {
    check_lengths(
        "accuracy",
        "labels",
        labels.len(),
        "predictions",
        predicted.len(),
    )?;
    Confusion::from_predictions(labels, predicted)?.accuracy()
}

/// Balanced accuracy (scikit-learn's `balanced_accuracy_score`, not
/// adjusted); see [`Confusion::balanced_accuracy`] for the one-class case,
/// where the value is the recall of the class present (no error).
/// Errors: empty input, length mismatch.
pub fn balanced_accuracy(labels: &[bool], predicted: &[bool]) -> Result<f64> {
    check_lengths(
        "balanced_accuracy",
        "labels",
        labels.len(),
        "predictions",
        predicted.len(),
    )?;
    Confusion::from_predictions(labels, predicted)?.balanced_accuracy()
}

/// Mean squared error, `mean((y_true - y_pred)^2)`, as scikit-learn's
/// `mean_squared_error` (compensated sum). Errors: empty input, length
/// mismatch, non-finite value in either input.
pub fn mse<T: Score, S: Score>(y_true: &[T], y_pred: &[S]) -> Result<f64> {
    check_lengths("mse", "y_true", y_true.len(), "y_pred", y_pred.len())?;
    let t = checked_values("mse", "y_true", y_true)?;
    let p = checked_values("mse", "y_pred", y_pred)?;
    let mut acc = CompensatedSum::new();
    for (a, b) in t.iter().zip(&p) {
        let d = a - b;
        acc.add(d * d);
    }
    Ok(acc.total() / t.len() as f64)
}

/// The flooding challenge's score and its parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FloodingScore {
    /// `0.3 * day_f1 + 0.7 * station_f1_mean`.
    pub score: f64,
    /// F1 over days (a day is positive if any station floods that day, and
    /// predicted positive if a flood is predicted at any station that day).
    pub day_f1: f64,
    /// Arithmetic mean over stations of each station's F1 over its days.
    pub station_f1_mean: f64,
    /// Number of distinct days.
    pub days: usize,
    /// Number of distinct stations.
    pub stations: usize,
}

/// Weight of the day-level F1 in [`flooding_score`].
pub const FLOODING_DAY_WEIGHT: f64 = 0.3;
/// Weight of the mean per-station F1 in [`flooding_score`].
pub const FLOODING_STATION_WEIGHT: f64 = 0.7;

/// The coastal-flooding score: `0.3 x day-level F1 + 0.7 x mean per-station
/// F1`, from one row per (day, station) with the true and predicted flood
/// flags.
///
/// * Day level: a day is a positive if any station floods that day and a
///   predicted positive if any station is predicted to flood; F1 over days.
/// * Station level: F1 of each station over its own rows, then the plain
///   mean over stations.
/// * Any F1 whose denominator is zero — a station (or the whole day series)
///   with no flood and no predicted flood — takes the value `zero_division`,
///   exactly as scikit-learn's `f1_score(..., zero_division=z)`. The metric
///   registry uses [`ZeroDivision::One`] for this score: a station that never
///   floods and is never predicted to flood was predicted perfectly.
///
/// Errors: empty input, length mismatch, a repeated (day, station) pair.
pub fn flooding_score<D: Ord, St: Ord>(
    days: &[D],
    stations: &[St],
    labels: &[bool],
    predicted: &[bool],
    zero_division: ZeroDivision,
) -> Result<FloodingScore> {
    const METRIC: &str = "flooding_score";
    check_lengths(
        METRIC,
        "labels",
        labels.len(),
        "predictions",
        predicted.len(),
    )?;
    check_lengths(METRIC, "labels", labels.len(), "days", days.len())?;
    check_lengths(METRIC, "labels", labels.len(), "stations", stations.len())?;
    let mut seen = BTreeSet::new();
    let mut per_day: BTreeMap<&D, (bool, bool)> = BTreeMap::new();
    let mut per_station: BTreeMap<&St, Confusion> = BTreeMap::new();
    for (index, (((day, station), &truth), &pred)) in days
        .iter()
        .zip(stations)
        .zip(labels)
        .zip(predicted)
        .enumerate()
    {
        if !seen.insert((day, station)) {
            return Err(ScoringError::DuplicateKey { index });
        }
        let d = per_day.entry(day).or_insert((false, false));
        d.0 |= truth;
        d.1 |= pred;
        per_station.entry(station).or_default().add(truth, pred);
    }
    let mut day_conf = Confusion::default();
    for &(truth, pred) in per_day.values() {
        day_conf.add(truth, pred);
    }
    let day_f1 = day_conf.f1(zero_division);
    let station_sum =
        crate::numeric::compensated_sum(per_station.values().map(|c| c.f1(zero_division)));
    let station_f1_mean = station_sum / per_station.len() as f64;
    Ok(FloodingScore {
        score: FLOODING_DAY_WEIGHT * day_f1 + FLOODING_STATION_WEIGHT * station_f1_mean,
        day_f1,
        station_f1_mean,
        days: per_day.len(),
        stations: per_station.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
    }

    #[test]
    fn curve_groups_ties_and_starts_at_infinity() {
        let labels = [true, false, true, false];
        let scores = [0.8, 0.8, 0.3, -0.0];
        let curve = BinaryCurve::new(&labels, &scores).expect("curve");
        assert_eq!(curve.positives, 2);
        assert_eq!(curve.negatives, 2);
        let pts: Vec<(u64, u64)> = curve.points.iter().map(|p| (p.tp, p.fp)).collect();
        assert_eq!(pts, vec![(0, 0), (1, 1), (2, 1), (2, 2)]);
        assert!(curve.points[0].threshold.is_infinite());
    }

    #[test]
    fn negative_and_positive_zero_are_one_threshold() {
        let labels = [true, false];
        let scores = [0.0, -0.0];
        assert_eq!(roc_auc(&labels, &scores).ok(), Some(0.5));
    }

    #[test]
    fn roc_auc_known_values() {
        // sklearn doc example: 0.75
        let labels = [false, false, true, true];
        let scores = [0.1, 0.4, 0.35, 0.8];
        assert_eq!(roc_auc(&labels, &scores).ok(), Some(0.75));
        assert_eq!(roc_auc(&labels, &[0.1f32, 0.2, 0.3, 0.4]).ok(), Some(1.0));
        assert_eq!(roc_auc(&labels, &[0.4, 0.3, 0.2, 0.1]).ok(), Some(0.0));
        assert_eq!(roc_auc(&labels, &[1.0; 4]).ok(), Some(0.5));
    }

    #[test]
    fn roc_auc_errors() {
        assert!(matches!(
            roc_auc(&[true, true], &[0.1, 0.2]),
            Err(ScoringError::OneClass { .. })
        ));
        assert!(matches!(
            roc_auc::<f64>(&[], &[]),
            Err(ScoringError::Empty { .. })
        ));
        assert!(matches!(
            roc_auc(&[true, false], &[0.1]),
            Err(ScoringError::LengthMismatch { .. })
        ));
        assert!(matches!(
            roc_auc(&[true, false], &[0.1, f64::NAN]),
            Err(ScoringError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            roc_auc(&[true, false], &[f32::INFINITY, 0.0]),
            Err(ScoringError::NonFinite { index: 0, .. })
        ));
    }

    #[test]
    fn average_precision_known_values() {
        // sklearn doc example: 0.8333...
        let labels = [false, false, true, true];
        let scores = [0.1, 0.4, 0.35, 0.8];
        let ap = average_precision(&labels, &scores).expect("ap");
        assert!(close(ap, 5.0 / 6.0), "{ap}");
        assert_eq!(
            average_precision(&[false, false], &[0.1, 0.2]).ok(),
            Some(0.0)
        );
        assert_eq!(
            average_precision(&[true, true], &[0.1, 0.2]).ok(),
            Some(1.0)
        );
        // All scores tied: AP = prevalence.
        let ap = average_precision(&[true, false, false, false], &[0.5; 4]).expect("ap");
        assert_eq!(ap, 0.25);
    }

    #[test]
    fn tnr_at_tpr_rule() {
        // Sorted by score: P N P N P (scores 5..1).
        let labels = [true, false, true, false, true];
        let scores = [5.0, 4.0, 3.0, 2.0, 1.0];
        // TPR >= 0.5 first reached at threshold 3 (tp=2, fp=1).
        let p = tnr_at_tpr_point(&labels, &scores, 0.5).expect("point");
        assert_eq!(p.threshold, 3.0);
        assert_eq!(p.tnr, 0.5);
        // TPR = 1/3 >= 0.3 at threshold 5, no false positive yet.
        assert_eq!(tnr_at_tpr(&labels, &scores, 0.3).ok(), Some(1.0));
        assert_eq!(tnr_at_tpr(&labels, &scores, 1.0).ok(), Some(0.0));
        let p = tnr_at_tpr_point(&labels, &scores, 0.0).expect("point");
        assert!(p.threshold.is_infinite());
        assert_eq!(p.tnr, 1.0);
        assert!(matches!(
            tnr_at_tpr(&labels, &scores, 1.5),
            Err(ScoringError::InvalidParameter { .. })
        ));
        assert!(matches!(
            tnr_at_tpr(&labels, &scores, f64::NAN),
            Err(ScoringError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn tpr_at_fpr_rule() {
        let labels = [true, false, true, false, true];
        let scores = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert!(close(
            tpr_at_fpr(&labels, &scores, 0.0).expect("x"),
            1.0 / 3.0
        ));
        assert!(close(
            tpr_at_fpr(&labels, &scores, 0.5).expect("x"),
            2.0 / 3.0
        ));
        assert_eq!(tpr_at_fpr(&labels, &scores, 1.0).ok(), Some(1.0));
        // Ties: positive and negative share the top score.
        let p = tpr_at_fpr_point(&[true, false], &[1.0, 1.0], 0.5).expect("p");
        assert_eq!((p.tpr, p.fpr), (0.0, 0.0));
    }

    #[test]
    fn f1_and_zero_division() {
        let labels = [true, true, false, false];
        let pred = [true, false, true, false];
        assert_eq!(f1_score(&labels, &pred, ZeroDivision::Zero).ok(), Some(0.5));
        let none = [false; 4];
        assert_eq!(f1_score(&none, &none, ZeroDivision::Zero).ok(), Some(0.0));
        assert_eq!(f1_score(&none, &none, ZeroDivision::One).ok(), Some(1.0));
        assert_eq!(
            f1_at_threshold(&labels, &[0.9, 0.1, 0.6, 0.2], 0.5, ZeroDivision::Zero).ok(),
            Some(0.5)
        );
        // Threshold is inclusive.
        assert_eq!(
            f1_at_threshold(&[true], &[0.5f32], 0.5, ZeroDivision::Zero).ok(),
            Some(1.0)
        );
    }

    #[test]
    fn accuracy_and_balanced() {
        let labels = [true, false, false, false];
        let pred = [true, true, false, false];
        assert_eq!(accuracy(&labels, &pred).ok(), Some(0.75));
        let ba = balanced_accuracy(&labels, &pred).expect("ba");
        assert!(close(ba, (1.0 + 2.0 / 3.0) / 2.0));
        // One class present: recall of that class.
        assert_eq!(
            balanced_accuracy(&[false, false], &[true, false]).ok(),
            Some(0.5)
        );
    }

    #[test]
    fn mse_values() {
        assert_eq!(mse(&[1.0, 2.0], &[1.0f32, 4.0]).ok(), Some(2.0));
        assert!(matches!(
            mse(&[1.0], &[f64::NAN]),
            Err(ScoringError::NonFinite { .. })
        ));
    }

    #[test]
    fn flooding() {
        // Two days, two stations.
        let days = [1, 1, 2, 2];
        let stations = ["a", "b", "a", "b"];
        let labels = [true, false, false, false];
        let pred = [true, false, false, true];
        let s = flooding_score(&days, &stations, &labels, &pred, ZeroDivision::One).expect("s");
        // Days: day1 T/T, day2 F/T -> tp=1, fp=1 -> F1 = 2/3.
        assert!(close(s.day_f1, 2.0 / 3.0));
        // Station a: perfect 1.0; station b: fp only -> 0.
        assert_eq!(s.station_f1_mean, 0.5);
        assert!(close(s.score, 0.3 * 2.0 / 3.0 + 0.7 * 0.5));
        let s = flooding_score(&days, &stations, &labels, &labels, ZeroDivision::One).expect("s");
        assert_eq!(s.score, 1.0);
        let s = flooding_score(&days, &stations, &labels, &labels, ZeroDivision::Zero).expect("s");
        assert_eq!(s.station_f1_mean, 0.5);
        assert!(matches!(
            flooding_score(
                &[1, 1],
                &["a", "a"],
                &[true, true],
                &[true, true],
                ZeroDivision::One
            ),
            Err(ScoringError::DuplicateKey { index: 1 })
        ));
    }
}
