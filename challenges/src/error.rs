//! The one error type of the `challenges` crate.

/// A challenge definition that cannot be used, with the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChallengeError {
    /// The document is not valid YAML/JSON of the expected shape.
    #[error("challenge definition: {0}")]
    Syntax(String),
    /// A field has a value we cannot accept.
    #[error("challenge definition: `{field}`: {reason}")]
    Field { field: String, reason: String },
}

impl ChallengeError {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ChallengeError::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = ChallengeError> = std::result::Result<T, E>;
