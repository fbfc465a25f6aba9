//! Scoring for FastML Arena: accuracy metrics that agree with scikit-learn,
//! the metric registry used by challenge files, hardware figures, budgets and
//! device utilization, and leaderboard ranking (lexicographic, Pareto,
//! weighted).
//!
//! A pure library: it takes slices and returns values; no IO, no database.
//! Every fallible function returns [`ScoringError`].
//!
//! ```
//! use scoring::{Metric, ScoreInputs, Scores};
//!
//! let labels = [false, false, true, true];
//! let scores = [0.1, 0.4, 0.35, 0.8];
//! let metric: Metric = "roc_auc".parse()?;
//! let inputs = ScoreInputs {
//!     labels: Some(&labels),
//!     scores: Some(Scores::F64(&scores)),
//!     ..Default::default()
//! };
//! assert_eq!(metric.compute(&inputs)?, 0.75);
//! # Ok::<(), scoring::ScoringError>(())
//! ```

pub mod error;
pub mod hardware;
pub mod metrics;
pub mod numeric;
pub mod ranking;
pub mod registry;

pub use error::{Result, ScoringError};
pub use hardware::{Budget, Device, HardwareField, HardwareFigures, Utilization, Violation};
pub use metrics::{
    BinaryCurve, Confusion, CurvePoint, FloodingScore, OperatingPoint, ZeroDivision, accuracy,
    average_precision, balanced_accuracy, f1_at_threshold, f1_score, flooding_score, mse, roc_auc,
    tnr_at_tpr, tnr_at_tpr_point, tpr_at_fpr, tpr_at_fpr_point,
};
pub use numeric::{CompensatedSum, Score, compensated_sum, format_thousands, labels_from_ints};
pub use ranking::{
    CostExpr, Criterion, Direction, Entry, Excluded, Leaderboard, LinearCost, Normalization,
    OverBudget, ParetoPoint, Quantity, RankedEntry, RankingConfig, RankingRule, WeightedTerm,
    entries_pareto_front, pareto_front, pareto_ranks, rank,
};
pub use registry::{Keys, Metric, OwnedScoreInputs, ScoreInputs, Scores};
