//! The crate's single error type. Every failure names what the user can act
//! on: the node, the tensor, the limit.

/// Errors from reading, lowering and simulating a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a valid ONNX protobuf.
    #[error("malformed ONNX protobuf: {0}")]
    Protobuf(String),
    /// The model is structurally wrong (missing graph, dangling input, cycle...).
    #[error("invalid model: {0}")]
    Invalid(String),
    /// An operator (or an attribute value of it) we do not implement.
    #[error("node '{node}': unsupported operator {op}: {detail}")]
    Unsupported {
        node: String,
        op: String,
        detail: String,
    },
    /// A node whose semantics we cannot represent exactly in fixed point.
    #[error("node '{node}' ({op}): {detail}")]
    Node {
        node: String,
        op: String,
        detail: String,
    },
    /// A shape that is not static (other than the batch dimension) or inconsistent.
    #[error("shape error: {0}")]
    Shape(String),
    /// A resource limit was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The precision configuration could not be parsed or is inconsistent.
    #[error("precision configuration: {0}")]
    Config(String),
    /// Data handed to the simulator does not fit the model.
    #[error("input data: {0}")]
    Data(String),
    /// Reading or writing Parquet failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Writing the output failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// An Arrow operation failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The hardware back end (RTL generation, estimator) cannot handle the model.
    #[error("hardware: {0}")]
    Hardware(String),
    /// An external tool (Verilator, Icarus, Yosys) is not installed.
    #[error("{tool} is not installed (not found on PATH); {hint}")]
    ToolMissing { tool: String, hint: String },
    /// An external tool failed, timed out or produced output we cannot read.
    #[error("{tool}: {detail}")]
    Tool { tool: String, detail: String },
    /// A file in a hardware work directory could not be read or written.
    #[error("{path}: {detail}")]
    HwFile { path: String, detail: String },
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for a node-level error.
    pub(crate) fn node(node: &str, op: &str, detail: impl Into<String>) -> Self {
        Error::Node {
            node: node.to_string(),
            op: op.to_string(),
            detail: detail.into(),
        }
    }

    /// Shorthand for an unsupported operator or attribute.
    pub(crate) fn unsupported(node: &str, op: &str, detail: impl Into<String>) -> Self {
        Error::Unsupported {
            node: node.to_string(),
            op: op.to_string(),
            detail: detail.into(),
        }
    }
}
