//! Resource limits applied while compiling a submission. A submitted model
//! is untrusted data, so every size that drives memory or time is bounded.

use serde::{Deserialize, Serialize};

/// Limits checked during [`crate::compile`]. `Default` gives the documented values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    /// Largest accepted model file in bytes (default 64 MiB).
    pub max_model_bytes: usize,
    /// Largest number of parameters (weights + biases + table entries) (default 10 million).
    pub max_parameters: u64,
    /// Largest number of multiplications per sample (default 1 billion; a
    /// platform checks the work of a whole evaluation separately).
    pub max_mults_per_sample: u64,
    /// Largest number of elements of any single tensor, batch excluded (default 16 Mi).
    pub max_tensor_elements: u64,
    /// Largest number of graph nodes (default 10 000).
    pub max_nodes: usize,
    /// Largest fixed-point width in bits of any stored tensor (default 63: values live in i64).
    pub max_width: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_model_bytes: 64 << 20,
            max_parameters: 10_000_000,
            max_mults_per_sample: 1_000_000_000,
            max_tensor_elements: 16 << 20,
            max_nodes: 10_000,
            max_width: 63,
        }
    }
}
