//! Streaming Parquet -> simulator -> Parquet. The caller opens the files
//! (this crate does no IO of its own); batches are read, simulated and
//! written one at a time, so a split never has to fit in memory.

use std::io::Write;
use std::time::Instant;

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;

use super::arrow::{output_batch, simulate_batch};
use crate::CompiledModel;
use crate::error::Result;

/// What a streaming run did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamStats {
    pub rows: u64,
    pub seconds: f64,
}

impl StreamStats {
    /// Throughput.
    pub fn rows_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.rows as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Simulates every row of the Parquet `input` and writes column `y` to `output`
/// (Snappy-compressed Parquet). `progress` is called after each batch.
pub fn simulate_parquet<R, W, F>(
    model: &CompiledModel,
    input: R,
    output: W,
    column: Option<&str>,
    batch_size: usize,
    mut progress: F,
) -> Result<StreamStats>
where
    R: ChunkReader + 'static,
    W: Write + Send,
    F: FnMut(StreamStats),
{
    let start = Instant::now();
    let reader = ParquetRecordBatchReaderBuilder::try_new(input)?
        .with_batch_size(batch_size.max(1))
        .build()?;
    let schema = output_batch(Vec::new(), model.output_len())?.schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(output, schema, Some(props))?;
    let mut stats = StreamStats {
        rows: 0,
        seconds: 0.0,
    };
    for batch in reader {
        let batch = batch?;
        let out = simulate_batch(model, &batch, column)?;
        writer.write(&out)?;
        stats.rows += batch.num_rows() as u64;
        stats.seconds = start.elapsed().as_secs_f64();
        progress(stats);
    }
    writer.close()?;
    stats.seconds = start.elapsed().as_secs_f64();
    Ok(stats)
}
