//! Streaming Parquet -> simulator -> Parquet. The caller opens the files
//! (this crate does no IO of its own); batches are read, simulated and
//! written one at a time, so a split never has to fit in memory.

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowSchemaConverter, add_encoded_arrow_schema_to_metadata};
use parquet::basic::{Compression, Encoding};
use parquet::data_type::FloatType;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::ChunkReader;
use parquet::file::writer::SerializedFileWriter;

use super::arrow::{output_batch, simulate_values};
use crate::CompiledModel;
use crate::error::{Error, Result};

/// Batches that may wait between two stages. More than one, so that a stage
/// the OS scheduler leaves waiting on a busy machine does not stall the
/// others at once.
const QUEUE: usize = 3;

/// Rows per row group of the output (as `ArrowWriter`'s default).
const ROW_GROUP_ROWS: usize = 1024 * 1024;

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
/// runs the current one. At most [`QUEUE`] batches wait between stages, so
/// memory stays bounded. On an error the output is left unfinished (no footer).
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
    let writer = ListWriter::new(output, model.output_len(), ROW_GROUP_ROWS)?;
    let mut stats = StreamStats {
        rows: 0,
        seconds: 0.0,
    };
    let (in_tx, in_rx) = sync_channel::<Result<RecordBatch>>(QUEUE);
    // `None` marks the end: only then is the file finished.
    let (out_tx, out_rx) = sync_channel::<Option<(Vec<f32>, usize)>>(QUEUE);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for batch in reader {
                let failed = batch.is_err();
                if in_tx.send(batch.map_err(Error::from)).is_err() || failed {
                    break;
                }
            }
        });
        let encoder = scope.spawn(move || writer.write_all(out_rx));
        let simulated = (|| -> Result<()> {
            for batch in in_rx {
                let batch = batch?;
                let y = simulate_values(model, &batch, column)?;
                if out_tx.send(Some((y, batch.num_rows()))).is_err() {
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

/// Writes rows of `len` f32 values as the one column `y`,
/// FixedSizeList<Float32> (the schema of [`output_batch`], stored in the file
/// for Arrow readers). The values go straight to the column writer with
/// repetition and definition levels computed once, instead of through
/// `ArrowWriter`, which derives the levels of every value of every batch
/// again and buffers a whole row group in memory.
struct ListWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    len: usize,
    /// Rows per row group (at least; a group ends after the batch that reaches it).
    group_rows: usize,
    /// The levels of [`LEVEL_ROWS`] rows.
    def: Vec<i16>,
    rep: Vec<i16>,
}

/// Rows per call of the column writer.
const LEVEL_ROWS: usize = 1024;

impl<W: Write + Send> ListWriter<W> {
    fn new(output: W, len: usize, group_rows: usize) -> Result<Self> {
        let schema: Arc<Schema> = output_batch(Vec::new(), len)?.schema();
        // PLAIN, uncompressed, no statistics: on the Conv1D benchmark (256
        // outputs per row) dictionary encoding and Snappy each cost about as
        // much CPU as the whole 16-bit kernel for a 2.4x smaller file, and
        // min/max statistics of simulated outputs are of no use to anyone.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .set_encoding(Encoding::PLAIN)
            .set_statistics_enabled(EnabledStatistics::None)
            .build();
        add_encoded_arrow_schema_to_metadata(&schema, &mut props);
        let descr = ArrowSchemaConverter::new().convert(&schema)?;
        let leaf = descr.column(0);
        let (max_def, max_rep) = (leaf.max_def_level(), leaf.max_rep_level());
        // `y` required, `list` repeated, `item` optional: a value is at the
        // deepest level; an empty list (len 0) has neither the list entry
        // nor the item defined.
        if (max_def, max_rep) != (2, 1) {
            return Err(Error::Data(format!(
                "unexpected Parquet levels {max_def}/{max_rep} for the output column"
            )));
        }
        let (def, rep) = if len == 0 {
            (vec![0; LEVEL_ROWS], vec![0; LEVEL_ROWS])
        } else {
            let rep = (0..LEVEL_ROWS * len)
                .map(|i| i16::from(i % len != 0))
                .collect();
            (vec![max_def; LEVEL_ROWS * len], rep)
        };
        let file = SerializedFileWriter::new(output, descr.root_schema_ptr(), Arc::new(props))?;
        Ok(ListWriter {
            file,
            len,
            group_rows,
            def,
            rep,
        })
    }

    /// Writes the batches from `rx` until `None` (then finishes the file);
    /// if the sender goes away first, leaves the file unfinished.
    fn write_all(mut self, rx: Receiver<Option<(Vec<f32>, usize)>>) -> Result<()> {
        let (len, max_rows, def, rep) = (self.len, self.group_rows, &self.def, &self.rep);
        loop {
            let mut batch = match rx.recv() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => return Ok(()),
            };
            let mut group = self.file.next_row_group()?;
            let mut col = group
                .next_column()?
                .ok_or_else(|| Error::Data("the output schema has no column".into()))?;
            let typed = col.typed::<FloatType>();
            let (mut group_rows, mut done) = (0, false);
            loop {
                let (y, rows) = &batch;
                if y.len() != rows * len {
                    return Err(Error::Data(format!(
                        "{} output values for {rows} rows of {len}",
                        y.len()
                    )));
                }
                for r0 in (0..*rows).step_by(LEVEL_ROWS) {
                    let r1 = (r0 + LEVEL_ROWS).min(*rows);
                    let levels = (r1 - r0) * len.max(1);
                    typed.write_batch(
                        &y[r0 * len..r1 * len],
                        Some(&def[..levels]),
                        Some(&rep[..levels]),
                    )?;
                }
                group_rows += rows;
                if group_rows >= max_rows {
                    break;
                }
                match rx.recv() {
                    Ok(Some(m)) => batch = m,
                    Ok(None) => {
                        done = true;
                        break;
                    }
                    Err(_) => return Ok(()),
                }
            }
            col.close()?;
            group.close()?;
            if done {
                break;
            }
        }
        self.file.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, FixedSizeListArray, Float32Array};

    /// `bytes` in a temporary file, for the Parquet reader.
    fn file_of(bytes: &[u8], name: &str) -> std::fs::File {
        let path = std::env::temp_dir().join(format!(
            "toolflow-listwriter-{}-{name}.parquet",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        f
    }

    /// Writes `batches` (rows of `len`) and reads them back with the Arrow reader.
    fn round_trip(len: usize, batches: &[usize], group_rows: usize) -> (Vec<RecordBatch>, usize) {
        let mut out = Vec::new();
        let (tx, rx) = sync_channel(batches.len() + 1);
        let mut v = 0f32;
        for &rows in batches {
            let y: Vec<f32> = (0..rows * len)
                .map(|_| {
                    v += 0.25;
                    v
                })
                .collect();
            tx.send(Some((y, rows))).unwrap();
        }
        tx.send(None).unwrap();
        ListWriter::new(&mut out, len, group_rows)
            .unwrap()
            .write_all(rx)
            .unwrap();
        let name = format!("{len}-{group_rows}-{}", batches.len());
        let builder = ParquetRecordBatchReaderBuilder::try_new(file_of(&out, &name)).unwrap();
        let groups = builder.metadata().num_row_groups();
        let read = builder.build().unwrap().map(|b| b.unwrap()).collect();
        (read, groups)
    }

    #[test]
    fn output_column_reads_back_as_written() {
        for (len, batches, group_rows, groups) in [
            (3, vec![5, 2000, 1], 1 << 20, 1),
            (3, vec![5, 2000, 1], 1000, 2),
            (1, vec![7], 1 << 20, 1),
            (0, vec![4, 3], 1 << 20, 1),
        ] {
            let (read, got_groups) = round_trip(len, &batches, group_rows);
            assert_eq!(got_groups, groups, "len {len}");
            let total: usize = batches.iter().sum();
            assert_eq!(read.iter().map(|b| b.num_rows()).sum::<usize>(), total);
            let mut want = 0f32;
            for b in &read {
                assert_eq!(b.schema(), output_batch(Vec::new(), len).unwrap().schema());
                let list = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<FixedSizeListArray>()
                    .unwrap();
                assert_eq!((list.value_length() as usize, list.null_count()), (len, 0));
                let vals = list
                    .values()
                    .as_any()
                    .downcast_ref::<Float32Array>()
                    .unwrap();
                assert_eq!(vals.null_count(), 0);
                for &x in vals.values() {
                    want += 0.25;
                    assert_eq!(x, want);
                }
            }
            assert_eq!(want, 0.25 * (total * len) as f32);
        }
    }

    #[test]
    fn unfinished_when_the_sender_goes_away() {
        let mut out = Vec::new();
        let (tx, rx) = sync_channel(2);
        tx.send(Some((vec![1.0, 2.0], 1))).unwrap();
        drop(tx);
        ListWriter::new(&mut out, 2, 1 << 20)
            .unwrap()
            .write_all(rx)
            .unwrap();
        assert!(!out.is_empty());
        assert!(ParquetRecordBatchReaderBuilder::try_new(file_of(&out, "unfinished")).is_err());
    }
}
