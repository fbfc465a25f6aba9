//! The one error type of the `datasets` crate.

use thiserror::Error;

/// Result alias used throughout the crate.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, validating, describing or storing a dataset.
#[derive(Debug, Error)]
pub enum DatasetError {
    /// The manifest (dataset.yaml) is malformed or inconsistent.
    #[error("manifest: {0}")]
    Manifest(String),

    /// A data file does not match the declared features. `row` is the 0-based record
    /// index inside `file` when the failure concerns one record.
    #[error("{file}: column `{column}`{}: {message}", row.map(|r| format!(", row {r}")).unwrap_or_default())]
    Validation {
        file: String,
        column: String,
        row: Option<usize>,
        message: String,
    },

    /// A caller passed an argument that cannot be honoured (unknown generator, zero rows, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Object store URL that cannot be opened.
    #[error("object store `{url}`: {message}")]
    StoreUrl { url: String, message: String },

    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),

    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error("yaml: {0}")]
    Yaml(#[from] yaml::Error),

    #[error("json: {0}")]
    Json(#[from] serde_json::Error),

    #[error("i/o on `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl DatasetError {
    /// Shorthand for a validation failure.
    pub fn validation(
        file: impl Into<String>,
        column: impl Into<String>,
        row: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        DatasetError::Validation {
            file: file.into(),
            column: column.into(),
            row,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.into(),
            source,
        }
    }
}
