//! What simulating a model will cost, known from the compiled model before a
//! single sample runs: the figures a platform checks against its limits
//! (memory, work) when a submission arrives, and the size of the chunks it
//! streams a test split through.
//!
//! ```no_run
//! # fn main() -> toolflow::Result<()> {
//! let bytes = std::fs::read("model.onnx").unwrap();
//! let model = toolflow::compile(&bytes, None, &toolflow::Limits::default())?;
//! let cost = model.sim_cost();
//! let rows = cost.rows_within(64 << 20);
//! assert!(cost.peak_bytes(rows as u64, 2) > 0);
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};

use crate::CompiledModel;
use crate::sim::CHUNK;

/// The figures of a compiled model that drive the simulator's memory and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimCost {
    /// Weights, biases and table entries.
    pub parameters: u64,
    /// Multiplications per sample (at least 1 is counted per sample).
    pub mults_per_sample: u64,
    /// Values of every tensor of the IR for one sample (an upper bound of
    /// what a sample holds at once while it runs through the layers).
    pub values_per_sample: u64,
    pub input_len: u64,
    pub output_len: u64,
}

/// Bytes a parameter takes in the simulator: an i64 plus a packed copy.
const BYTES_PER_PARAMETER: u64 = 16;
/// Bytes a tensor value takes while a chunk runs: an i64 buffer and a
/// converted copy (lanes to rows, or the f32 result).
const BYTES_PER_VALUE: u64 = 16;
/// Bytes per input and output value of a call: the f32 input and output
/// arrays, and the raw i64 outputs before conversion.
const BYTES_PER_IO_VALUE: u64 = 16;

impl CompiledModel {
    /// The simulation cost of this model.
    pub fn sim_cost(&self) -> SimCost {
        let ir = self.ir();
        let totals = &self.summary().totals;
        SimCost {
            parameters: totals.parameters,
            mults_per_sample: totals.mults_per_sample.max(1),
            values_per_sample: ir.tensors.iter().map(|t| t.elems() as u64).sum(),
            input_len: self.input_len() as u64,
            output_len: self.output_len() as u64,
        }
    }
}

impl SimCost {
    /// Upper bound of the simulator's memory for calls of `rows` samples on
    /// `threads` threads: the weights, one chunk of samples in flight per
    /// thread, and the call's input and output arrays.
    pub fn peak_bytes(&self, rows: u64, threads: u64) -> u64 {
        let weights = self.parameters.saturating_mul(BYTES_PER_PARAMETER);
        let in_flight = threads
            .max(1)
            .saturating_mul(CHUNK as u64)
            .saturating_mul(self.values_per_sample)
            .saturating_mul(BYTES_PER_VALUE);
        weights
            .saturating_add(in_flight)
            .saturating_add(rows.saturating_mul(self.io_bytes_per_row()))
    }

    /// Input and output bytes one sample takes in a call.
    pub fn io_bytes_per_row(&self) -> u64 {
        (self.input_len + self.output_len)
            .max(1)
            .saturating_mul(BYTES_PER_IO_VALUE)
    }

    /// The most samples per call whose input and output arrays fit in
    /// `bytes` (at least one).
    pub fn rows_within(&self, bytes: u64) -> usize {
        usize::try_from(bytes / self.io_bytes_per_row())
            .unwrap_or(usize::MAX)
            .max(1)
    }

    /// Multiplications to simulate `rows` samples.
    pub fn work(&self, rows: u64) -> u64 {
        rows.saturating_mul(self.mults_per_sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost() -> SimCost {
        SimCost {
            parameters: 1_000,
            mults_per_sample: 1_000,
            values_per_sample: 300,
            input_len: 16,
            output_len: 4_000_000,
        }
    }

    #[test]
    fn wide_outputs_give_small_chunks_and_large_peaks() {
        let c = cost();
        // 64 MiB holds four rows of 4 million outputs.
        assert_eq!(c.rows_within(64 << 20), 1);
        assert_eq!(c.rows_within(0), 1);
        assert!(c.peak_bytes(1_000, 2) > 60_000_000_000);
        assert_eq!(c.work(600), 600_000);
        let huge = SimCost {
            parameters: u64::MAX,
            ..c
        };
        assert_eq!(huge.peak_bytes(u64::MAX, u64::MAX), u64::MAX);
    }
}
