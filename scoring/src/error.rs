//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong while scoring. Each variant says which input
/// was at fault so that a leaderboard can show the message to the submitter.
#[derive(Debug, Clone, PartialEq, Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScoringError {
    /// The metric needs at least one sample.
    #[error("{metric}: the input is empty")]
    Empty {
        /// Metric (or function) that was called.
        metric: String,
    },
    /// Two parallel inputs have different lengths.
    #[error(
        "{metric}: length mismatch, {left_name} has {left} values but {right_name} has {right}"
    )]
    LengthMismatch {
        /// Metric (or function) that was called.
        metric: String,
        /// Name of the first input.
        left_name: String,
        /// Its length.
        left: usize,
        /// Name of the second input.
        right_name: String,
        /// Its length.
        right: usize,
    },
    /// A score or value is NaN or infinite (scikit-learn rejects those too).
    #[error("{metric}: {input}[{index}] is not a finite number ({value})")]
    NonFinite {
        /// Metric (or function) that was called.
        metric: String,
        /// Name of the input holding the value.
        input: String,
        /// Position of the first offending value.
        index: usize,
        /// The value, printed.
        value: String,
    },
    /// The ground truth holds one class only and the metric is undefined.
    #[error(
        "{metric}: only one class present in the ground truth ({present}); the metric is not defined"
    )]
    OneClass {
        /// Metric that was called.
        metric: String,
        /// "positives only" or "negatives only".
        present: String,
    },
    /// A label that is neither 0 nor 1.
    #[error("label at index {index} is {value}; binary labels must be 0 or 1")]
    InvalidLabel {
        /// Position of the offending label.
        index: usize,
        /// The label, printed.
        value: String,
    },
    /// A metric parameter (target rate, threshold) is out of its range.
    #[error("{metric}: invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// Metric that was called.
        metric: String,
        /// Parameter name.
        name: String,
        /// The value, printed.
        value: String,
        /// What the valid range is.
        reason: String,
    },
    /// A metric name from a challenge file could not be parsed.
    #[error("unknown or malformed metric {name:?}: {reason}")]
    UnknownMetric {
        /// The text that was given.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The metric needs an input that was not supplied.
    #[error("{metric}: missing input {input}")]
    MissingInput {
        /// Metric that was called.
        metric: String,
        /// What is missing.
        input: String,
    },
    /// The same (day, station) pair appears twice in the flooding input.
    #[error("flooding_score: duplicate (day, station) pair at index {index}")]
    DuplicateKey {
        /// Position of the second occurrence.
        index: usize,
    },
    /// A device description or a ranking configuration is unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, ScoringError>;
