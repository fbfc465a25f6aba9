//! Streaming Parquet -> simulator -> Parquet. The caller opens the files
//! (this crate does no IO of its own); batches are read, simulated and
//! written one at a time, so a split never has to fit in memory.

use std::io::Write;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::ChunkReader;

use super::arrow::{output_batch, simulate_batch};
use crate::CompiledModel;
use crate::error::{Error, Result};

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
/// (PLAIN-encoded, uncompressed Parquet). `progress` is called after each batch.
///
/// Three stages overlap: a thread decodes the next input batch and another
/// encodes the previous output batch while the simulator (on the rayon pool)
/// runs the current one. At most two batches wait between stages, so memory
/// stays bounded. On an error the output is left unfinished (no footer).
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
    // PLAIN, uncompressed, no statistics: on the Conv1D benchmark (256
    // outputs per row) dictionary encoding and Snappy each cost about as much
    // CPU as the whole 16-bit kernel for a 2.4x smaller file, and min/max
    // statistics of simulated outputs are of no use to anyone.
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .build();
    let mut writer = ArrowWriter::try_new(output, schema, Some(props))?;
    let mut stats = StreamStats {
        rows: 0,
        seconds: 0.0,
    };
    let (in_tx, in_rx) = sync_channel::<Result<RecordBatch>>(1);
    // `None` marks the end: only then is the file finished.
    let (out_tx, out_rx) = sync_channel::<Option<RecordBatch>>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for batch in reader {
                let failed = batch.is_err();
                if in_tx.send(batch.map_err(Error::from)).is_err() || failed {
                    break;
                }
            }
        });
        let encoder = scope.spawn(move || -> Result<()> {
            loop {
                match out_rx.recv() {
                    Ok(Some(batch)) => writer.write(&batch)?,
                    Ok(None) => {
                        writer.close()?;
                        return Ok(());
                    }
                    // The simulation failed: leave the file unfinished.
                    Err(_) => return Ok(()),
                }
            }
        });
        let simulated = (|| -> Result<()> {
            for batch in in_rx {
                let batch = batch?;
                let out = simulate_batch(model, &batch, column)?;
                if out_tx.send(Some(out)).is_err() {
                    // The encoder stopped; its error is reported below.
                    return Ok(());
                }
                stats.rows += batch.num_rows() as u64;
                stats.seconds = start.elapsed().as_secs_f64();
                progress(stats);
            }
            // Ignored send error: the encoder already stopped and reports why.
            let _ = out_tx.send(None);
            Ok(())
        })();
        drop(out_tx);
        let encoded = encoder
            .join()
            .unwrap_or_else(|_| Err(Error::Data("the Parquet encoder thread panicked".into())));
        simulated.and(encoded)
    })?;
    stats.seconds = start.elapsed().as_secs_f64();
    Ok(stats)
}
