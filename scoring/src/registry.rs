//! The metric registry: metric names as written in challenge YAML, parsed into
//! [`Metric`], and evaluated on [`ScoreInputs`].
//!
//! Grammar: `name` or `name:args`, where `args` is a comma-separated list of
//! `key=value` pairs; the first argument may be given without its key.
//!
//! | name | arguments | needs |
//! | --- | --- | --- |
//! | `roc_auc` | — | labels, scores |
//! | `pr_auc` (alias `average_precision`) | — | labels, scores |
//! | `tnr_at_tpr` | `tpr` (required, in [0, 1]) | labels, scores |
//! | `tpr_at_fpr` | `fpr` (required, in [0, 1]) | labels, scores |
//! | `f1` | `threshold` (optional) | labels, predictions or scores + threshold |
//! | `accuracy` | `threshold` (optional) | same as `f1` |
//! | `balanced_accuracy` | `threshold` (optional) | same as `f1` |
//! | `flooding_score` | `threshold`, `zero_division` (0 or 1, default 1) | labels, predictions or scores + threshold, days, stations |
//! | `mse` | — | scores, and targets (or labels as 0/1) |
//!
//! Examples: `tnr_at_tpr:0.9`, `tpr_at_fpr:1e-4`, `f1:0.5`,
//! `flooding_score:threshold=0.5,zero_division=0`.
//!
//! Predicted labels for the threshold metrics come, in this order, from the
//! threshold in the metric name applied to the scores, from
//! [`ScoreInputs::predicted`], or from [`ScoreInputs::threshold`] applied to
//! the scores.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScoringError};
use crate::metrics::{self, ZeroDivision};

/// A metric that a challenge can name. Parses from and prints to the names
/// of the module documentation; serialized as that string.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Metric {
    /// ROC AUC, scikit-learn's `roc_auc_score` (trapezoids over distinct thresholds).
    RocAuc,
    /// PR AUC as scikit-learn's `average_precision_score` (step-wise sum).
    PrAuc,
    /// Best TNR with a threshold whose TPR is at least `tpr`.
    TnrAtTpr {
        /// Target true-positive rate in [0, 1].
        tpr: f64,
    },
    /// Best TPR with a threshold whose FPR is at most `fpr`.
    TprAtFpr {
        /// Target false-positive rate in [0, 1].
        fpr: f64,
    },
    /// Binary F1 of the positive class (zero_division 0, scikit-learn's default).
    F1 {
        /// Optional threshold applied to scores (positive iff `score >= threshold`).
        threshold: Option<f64>,
    },
    /// `0.3 x day F1 + 0.7 x mean station F1`.
    FloodingScore {
        /// Optional threshold applied to scores.
        threshold: Option<f64>,
        /// Value of an F1 with zero denominator (default 1).
        zero_division: ZeroDivision,
    },
    /// Fraction of correct predictions.
    Accuracy {
        /// Optional threshold applied to scores.
        threshold: Option<f64>,
    },
    /// Mean of per-class recalls.
    BalancedAccuracy {
        /// Optional threshold applied to scores.
        threshold: Option<f64>,
    },
    /// Mean squared error between targets and scores.
    Mse,
}

/// Default `zero_division` of the flooding score.
pub const FLOODING_DEFAULT_ZERO_DIVISION: ZeroDivision = ZeroDivision::One;

impl Metric {
    /// Base name, without arguments.
    pub fn name(&self) -> &'static str {
        match self {
            Metric::RocAuc => "roc_auc",
            Metric::PrAuc => "pr_auc",
            Metric::TnrAtTpr { .. } => "tnr_at_tpr",
            Metric::TprAtFpr { .. } => "tpr_at_fpr",
            Metric::F1 { .. } => "f1",
            Metric::FloodingScore { .. } => "flooding_score",
            Metric::Accuracy { .. } => "accuracy",
            Metric::BalancedAccuracy { .. } => "balanced_accuracy",
            Metric::Mse => "mse",
        }
    }

    /// Whether a larger value is better (false only for `mse`).
    pub fn higher_is_better(&self) -> bool {
        !matches!(self, Metric::Mse)
    }

    /// Evaluates the metric. Errors as documented on each function of
    /// [`crate::metrics`], plus [`ScoringError::MissingInput`] when an input
    /// the metric needs is absent.
    pub fn compute(&self, inputs: &ScoreInputs<'_>) -> Result<f64> {
        match *self {
            Metric::RocAuc => {
                let (labels, scores) = self.labels_and_scores(inputs)?;
                with_scores(
                    scores,
                    |s| metrics::roc_auc(labels, s),
                    |s| metrics::roc_auc(labels, s),
                )
            }
            Metric::PrAuc => {
                let (labels, scores) = self.labels_and_scores(inputs)?;
                with_scores(
                    scores,
                    |s| metrics::average_precision(labels, s),
                    |s| metrics::average_precision(labels, s),
                )
            }
            Metric::TnrAtTpr { tpr } => {
                let (labels, scores) = self.labels_and_scores(inputs)?;
                with_scores(
                    scores,
                    |s| metrics::tnr_at_tpr(labels, s, tpr),
                    |s| metrics::tnr_at_tpr(labels, s, tpr),
                )
            }
            Metric::TprAtFpr { fpr } => {
                let (labels, scores) = self.labels_and_scores(inputs)?;
                with_scores(
                    scores,
                    |s| metrics::tpr_at_fpr(labels, s, fpr),
                    |s| metrics::tpr_at_fpr(labels, s, fpr),
                )
            }
            Metric::F1 { threshold } => {
                let labels = self.labels(inputs)?;
                let c = self.confusion(inputs, labels, threshold)?;
                Ok(c.f1(ZeroDivision::Zero))
            }
            Metric::Accuracy { threshold } => {
                let labels = self.labels(inputs)?;
                self.confusion(inputs, labels, threshold)?.accuracy()
            }
            Metric::BalancedAccuracy { threshold } => {
                let labels = self.labels(inputs)?;
                self.confusion(inputs, labels, threshold)?
                    .balanced_accuracy()
            }
            Metric::FloodingScore {
                threshold,
                zero_division,
            } => {
                let labels = self.labels(inputs)?;
                let predicted = self.predictions(inputs, labels.len(), threshold)?;
                let days = inputs.days.ok_or_else(|| self.missing("days"))?;
                let stations = inputs.stations.ok_or_else(|| self.missing("stations"))?;
                let score = match (days, stations) {
                    (Keys::Int(d), Keys::Int(s)) => {
                        metrics::flooding_score(d, s, labels, &predicted, zero_division)
                    }
                    (Keys::Int(d), Keys::Str(s)) => {
                        metrics::flooding_score(d, s, labels, &predicted, zero_division)
                    }
                    (Keys::Str(d), Keys::Int(s)) => {
                        metrics::flooding_score(d, s, labels, &predicted, zero_division)
                    }
                    (Keys::Str(d), Keys::Str(s)) => {
                        metrics::flooding_score(d, s, labels, &predicted, zero_division)
                    }
                }?;
                Ok(score.score)
            }
            Metric::Mse => {
                let scores = inputs.scores.ok_or_else(|| self.missing("scores"))?;
                match inputs.targets {
                    Some(targets) => match (targets, scores) {
                        (Scores::F32(t), Scores::F32(s)) => metrics::mse(t, s),
                        (Scores::F32(t), Scores::F64(s)) => metrics::mse(t, s),
                        (Scores::F64(t), Scores::F32(s)) => metrics::mse(t, s),
                        (Scores::F64(t), Scores::F64(s)) => metrics::mse(t, s),
                    },
                    None => {
                        let labels = self.labels(inputs)?;
                        let truth: Vec<f64> =
                            labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
                        with_scores(
                            scores,
                            |s| metrics::mse(&truth, s),
                            |s| metrics::mse(&truth, s),
                        )
                    }
                }
            }
        }
    }

    fn missing(&self, input: &str) -> ScoringError {
        ScoringError::MissingInput {
            metric: self.to_string(),
            input: input.to_string(),
        }
    }

    fn labels<'a>(&self, inputs: &ScoreInputs<'a>) -> Result<&'a [bool]> {
        inputs.labels.ok_or_else(|| self.missing("labels"))
    }

    fn labels_and_scores<'a>(&self, inputs: &ScoreInputs<'a>) -> Result<(&'a [bool], Scores<'a>)> {
        let labels = self.labels(inputs)?;
        let scores = inputs.scores.ok_or_else(|| self.missing("scores"))?;
        Ok((labels, scores))
    }

    fn predictions(
        &self,
        inputs: &ScoreInputs<'_>,
        n: usize,
        threshold: Option<f64>,
    ) -> Result<Vec<bool>> {
        let threshold = match (threshold, inputs.predicted) {
            (Some(t), _) => t,
            (None, Some(p)) => return Ok(p.to_vec()),
            (None, None) => inputs
                .threshold
                .ok_or_else(|| self.missing("predictions (or scores with a threshold)"))?,
        };
        let scores = inputs.scores.ok_or_else(|| self.missing("scores"))?;
        let name = self.to_string();
        with_scores(
            scores,
            |s| metrics::threshold_predictions(&name, n, s, threshold),
            |s| metrics::threshold_predictions(&name, n, s, threshold),
        )
    }

    fn confusion(
        &self,
        inputs: &ScoreInputs<'_>,
        labels: &[bool],
        threshold: Option<f64>,
    ) -> Result<metrics::Confusion> {
        let predicted = self.predictions(inputs, labels.len(), threshold)?;
        metrics::Confusion::from_predictions(labels, &predicted)
    }
}

fn with_scores<T>(
    scores: Scores<'_>,
    f32_case: impl FnOnce(&[f32]) -> T,
    f64_case: impl FnOnce(&[f64]) -> T,
) -> T {
    match scores {
        Scores::F32(s) => f32_case(s),
        Scores::F64(s) => f64_case(s),
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match *self {
            Metric::TnrAtTpr { tpr: v } | Metric::TprAtFpr { fpr: v } => write!(f, ":{v}"),
            Metric::F1 { threshold: Some(t) }
            | Metric::Accuracy { threshold: Some(t) }
            | Metric::BalancedAccuracy { threshold: Some(t) } => write!(f, ":{t}"),
            Metric::FloodingScore {
                threshold,
                zero_division,
            } => {
                let zd_default = zero_division == FLOODING_DEFAULT_ZERO_DIVISION;
                match (threshold, zd_default) {
                    (None, true) => Ok(()),
                    (Some(t), true) => write!(f, ":{t}"),
                    (None, false) => write!(f, ":zero_division={}", zero_division.value()),
                    (Some(t), false) => {
                        write!(f, ":threshold={t},zero_division={}", zero_division.value())
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

impl From<Metric> for String {
    fn from(m: Metric) -> String {
        m.to_string()
    }
}

impl TryFrom<String> for Metric {
    type Error = ScoringError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl FromStr for Metric {
    type Err = ScoringError;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |reason: String| ScoringError::UnknownMetric {
            name: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let (name, arg_text) = match trimmed.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a)),
            None => (trimmed, None),
        };
        let (keys, positional_key): (&[&str], Option<&str>) = match name {
            "roc_auc" | "pr_auc" | "average_precision" | "mse" => (&[], None),
            "tnr_at_tpr" => (&["tpr"], Some("tpr")),
            "tpr_at_fpr" => (&["fpr"], Some("fpr")),
            "f1" | "accuracy" | "balanced_accuracy" => (&["threshold"], Some("threshold")),
            "flooding_score" => (&["threshold", "zero_division"], Some("threshold")),
            other => {
                return Err(bad(format!(
                    "unknown metric name {other:?}; known: roc_auc, pr_auc, tnr_at_tpr:<tpr>, \
                     tpr_at_fpr:<fpr>, f1, flooding_score, accuracy, balanced_accuracy, mse"
                )));
            }
        };
        let mut args: Vec<(&str, f64)> = Vec::new();
        if let Some(arg_text) = arg_text {
            for (i, part) in arg_text.split(',').enumerate() {
                let part = part.trim();
                let (key, value) = match part.split_once('=') {
                    Some((k, v)) => (k.trim(), v.trim()),
                    None if i == 0 => match positional_key {
                        Some(k) => (k, part),
                        None => return Err(bad(format!("{name} takes no argument"))),
                    },
                    None => return Err(bad(format!("argument {part:?} needs a key=value form"))),
                };
                let Some(&key) = keys.iter().find(|k| **k == key) else {
                    return Err(bad(format!("{name} has no argument {key:?}")));
                };
                if args.iter().any(|(k, _)| *k == key) {
                    return Err(bad(format!("argument {key:?} given twice")));
                }
                let value: f64 = value
                    .parse()
                    .map_err(|_| bad(format!("argument {key} = {value:?} is not a number")))?;
                if !value.is_finite() {
                    return Err(bad(format!("argument {key} must be finite")));
                }
                args.push((key, value));
            }
        }
        let get = |key: &str| args.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let rate = |key: &str| -> Result<f64> {
            let v = get(key)
                .ok_or_else(|| bad(format!("{name} needs a target {key}, e.g. {name}:0.9")))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(format!("{key} must be in [0, 1], got {v}")));
            }
            Ok(v)
        };
        let threshold = get("threshold");
        Ok(match name {
            "roc_auc" => Metric::RocAuc,
            "pr_auc" | "average_precision" => Metric::PrAuc,
            "mse" => Metric::Mse,
            "tnr_at_tpr" => Metric::TnrAtTpr { tpr: rate("tpr")? },
            "tpr_at_fpr" => Metric::TprAtFpr { fpr: rate("fpr")? },
            "f1" => Metric::F1 { threshold },
            "accuracy" => Metric::Accuracy { threshold },
            "balanced_accuracy" => Metric::BalancedAccuracy { threshold },
            _ => Metric::FloodingScore {
                threshold,
                zero_division: match get("zero_division") {
                    None => FLOODING_DEFAULT_ZERO_DIVISION,
                    Some(v) => ZeroDivision::try_from(v).map_err(bad)?,
                },
            },
        })
    }
}

/// Scores of one submission, `f32` or `f64`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scores<'a> {
    /// Single-precision scores.
    F32(&'a [f32]),
    /// Double-precision scores.
    F64(&'a [f64]),
}

impl Scores<'_> {
    /// Number of scores.
    pub fn len(&self) -> usize {
        match self {
            Scores::F32(s) => s.len(),
            Scores::F64(s) => s.len(),
        }
    }

    /// True when there are no scores.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> From<&'a [f64]> for Scores<'a> {
    fn from(s: &'a [f64]) -> Self {
        Scores::F64(s)
    }
}

impl<'a> From<&'a [f32]> for Scores<'a> {
    fn from(s: &'a [f32]) -> Self {
        Scores::F32(s)
    }
}

/// Group keys (days or stations) for the flooding score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Keys<'a> {
    /// Integer keys (e.g. day numbers, station ids).
    Int(&'a [i64]),
    /// Text keys (e.g. ISO dates, station names).
    Str(&'a [String]),
}

/// Everything a metric may read, borrowed. Fields a metric does not need are
/// ignored; all present slices are parallel (one entry per test sample).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ScoreInputs<'a> {
    /// Ground truth, `true` = positive (anomaly, flood).
    pub labels: Option<&'a [bool]>,
    /// Continuous model outputs, higher = more positive.
    pub scores: Option<Scores<'a>>,
    /// Predicted labels, for F1 / accuracy / flooding when no threshold is given.
    pub predicted: Option<&'a [bool]>,
    /// Threshold applied to `scores` (positive iff `score >= threshold`) when
    /// neither the metric name nor `predicted` provides predictions.
    pub threshold: Option<f64>,
    /// Regression targets for `mse`; without them `mse` compares the scores
    /// with the labels taken as 0/1 (the Brier score of probabilities).
    pub targets: Option<Scores<'a>>,
    /// Day of each sample (flooding score).
    pub days: Option<Keys<'a>>,
    /// Station of each sample (flooding score).
    pub stations: Option<Keys<'a>>,
}

/// Owned counterpart of [`ScoreInputs`], serializable both ways (for job
/// payloads and fixtures). Scores are stored as `f64`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OwnedScoreInputs {
    /// Ground truth.
    #[serde(default)]
    pub labels: Option<Vec<bool>>,
    /// Continuous scores.
    #[serde(default)]
    pub scores: Option<Vec<f64>>,
    /// Predicted labels.
    #[serde(default)]
    pub predicted: Option<Vec<bool>>,
    /// Threshold for `scores`.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Regression targets.
    #[serde(default)]
    pub targets: Option<Vec<f64>>,
    /// Day keys.
    #[serde(default)]
    pub days: Option<Vec<i64>>,
    /// Station keys.
    #[serde(default)]
    pub stations: Option<Vec<String>>,
}

impl OwnedScoreInputs {
    /// Borrows as [`ScoreInputs`].
    pub fn as_inputs(&self) -> ScoreInputs<'_> {
        ScoreInputs {
            labels: self.labels.as_deref(),
            scores: self.scores.as_deref().map(Scores::F64),
            predicted: self.predicted.as_deref(),
            threshold: self.threshold,
            targets: self.targets.as_deref().map(Scores::F64),
            days: self.days.as_deref().map(Keys::Int),
            stations: self.stations.as_deref().map(Keys::Str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Metric {
        match s.parse::<Metric>() {
            Ok(m) => m,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_challenge_names() {
        assert_eq!(parse("roc_auc"), Metric::RocAuc);
        assert_eq!(parse("pr_auc"), Metric::PrAuc);
        assert_eq!(parse("average_precision"), Metric::PrAuc);
        assert_eq!(parse("tnr_at_tpr:0.9"), Metric::TnrAtTpr { tpr: 0.9 });
        assert_eq!(parse("tpr_at_fpr:1e-4"), Metric::TprAtFpr { fpr: 1e-4 });
        assert_eq!(parse("tpr_at_fpr:fpr=1e-4"), Metric::TprAtFpr { fpr: 1e-4 });
        assert_eq!(parse("f1"), Metric::F1 { threshold: None });
        assert_eq!(
            parse("f1:0.5"),
            Metric::F1 {
                threshold: Some(0.5)
            }
        );
        assert_eq!(
            parse("flooding_score"),
            Metric::FloodingScore {
                threshold: None,
                zero_division: ZeroDivision::One
            }
        );
        assert_eq!(
            parse("flooding_score:threshold=0.5, zero_division=0"),
            Metric::FloodingScore {
                threshold: Some(0.5),
                zero_division: ZeroDivision::Zero
            }
        );
        assert_eq!(parse("accuracy"), Metric::Accuracy { threshold: None });
        assert_eq!(
            parse("balanced_accuracy:0"),
            Metric::BalancedAccuracy {
                threshold: Some(0.0)
            }
        );
        assert_eq!(parse("mse"), Metric::Mse);
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "auc",
            "tnr_at_tpr",
            "tnr_at_tpr:1.5",
            "tnr_at_tpr:x",
            "tpr_at_fpr:nan",
            "roc_auc:0.5",
            "f1:threshold=0.5,threshold=0.6",
            "f1:foo=1",
            "flooding_score:zero_division=2",
            "f1:0.5,0.6",
        ] {
            assert!(
                matches!(
                    bad.parse::<Metric>(),
                    Err(ScoringError::UnknownMetric { .. })
                ),
                "{bad} should not parse"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for name in [
            "roc_auc",
            "pr_auc",
            "tnr_at_tpr:0.9",
            "tpr_at_fpr:0.0001",
            "f1",
            "f1:0.5",
            "flooding_score",
            "flooding_score:0.5",
            "flooding_score:zero_division=0",
            "flooding_score:threshold=0.5,zero_division=0",
            "accuracy",
            "balanced_accuracy:0.25",
            "mse",
        ] {
            let m = parse(name);
            assert_eq!(m.to_string(), name);
            assert_eq!(parse(&m.to_string()), m);
        }
        assert_eq!(parse("tpr_at_fpr:1e-4").to_string(), "tpr_at_fpr:0.0001");
    }

    #[test]
    fn serde_as_string() {
        let m = parse("tnr_at_tpr:0.9");
        let json = serde_json::to_string(&m).expect("json");
        assert_eq!(json, "\"tnr_at_tpr:0.9\"");
        let back: Metric = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, m);
        assert!(serde_json::from_str::<Metric>("\"nope\"").is_err());
    }

    #[test]
    fn directions() {
        assert!(Metric::RocAuc.higher_is_better());
        assert!(!Metric::Mse.higher_is_better());
    }

    #[test]
    fn compute_dispatches() {
        let labels = [false, false, true, true];
        let scores = [0.1, 0.4, 0.35, 0.8];
        let inputs = ScoreInputs {
            labels: Some(&labels),
            scores: Some(Scores::F64(&scores)),
            ..Default::default()
        };
        assert_eq!(Metric::RocAuc.compute(&inputs).ok(), Some(0.75));
        assert_eq!(parse("f1:0.3").compute(&inputs).ok(), Some(0.8));
        assert!(matches!(
            parse("f1").compute(&inputs),
            Err(ScoringError::MissingInput { .. })
        ));
        let with_threshold = ScoreInputs {
            threshold: Some(0.3),
            ..inputs
        };
        assert_eq!(parse("f1").compute(&with_threshold).ok(), Some(0.8));
        assert_eq!(parse("accuracy:0.3").compute(&inputs).ok(), Some(0.75));
        let mse = Metric::Mse.compute(&inputs).expect("mse");
        let expected = (0.01 + 0.16 + 0.65 * 0.65 + 0.04) / 4.0;
        assert!((mse - expected).abs() < 1e-15);
        let scores32 = [0.1f32, 0.4, 0.35, 0.8];
        let inputs32 = ScoreInputs {
            scores: Some(Scores::F32(&scores32)),
            ..inputs
        };
        assert_eq!(Metric::RocAuc.compute(&inputs32).ok(), Some(0.75));
        assert!(matches!(
            Metric::RocAuc.compute(&ScoreInputs::default()),
            Err(ScoringError::MissingInput { .. })
        ));
    }

    #[test]
    fn compute_flooding_from_owned_inputs() {
        let owned = OwnedScoreInputs {
            labels: Some(vec![true, false, false, false]),
            predicted: Some(vec![true, false, false, false]),
            days: Some(vec![1, 1, 2, 2]),
            stations: Some(vec!["a".into(), "b".into(), "a".into(), "b".into()]),
            ..Default::default()
        };
        let json = serde_json::to_string(&owned).expect("json");
        let back: OwnedScoreInputs = serde_json::from_str(&json).expect("back");
        assert_eq!(back, owned);
        let m = parse("flooding_score");
        assert_eq!(m.compute(&owned.as_inputs()).ok(), Some(1.0));
        let m0 = parse("flooding_score:zero_division=0");
        // Station b never floods: F1 0 under zero_division=0.
        assert_eq!(m0.compute(&owned.as_inputs()).ok(), Some(0.3 + 0.7 * 0.5));
    }
}
