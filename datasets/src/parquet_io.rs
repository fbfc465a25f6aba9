//! Parquet writing (snappy, with sha256/size/rows computed while writing), reading,
//! statistics from Parquet bytes, and streaming label stripping.

use std::io::Write;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;
use sha2::{Digest, Sha256};

use crate::error::{DatasetError, Result};
use crate::model::{ColumnSchema, FeatureSpec, FileMeta};
use crate::stats::{ColumnStats, compute_stats};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 65_536;
/// Rows per batch when reading.
pub const READ_BATCH_ROWS: usize = 8_192;

/// What was written: enough to fill a [`FileMeta`].
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenFile {
    pub sha256: String,
    pub size: u64,
    pub rows: u64,
    pub columns: Vec<ColumnSchema>,
}

impl WrittenFile {
    /// The [`FileMeta`] of this file under `name` (no explicit content URL).
    pub fn file_meta(&self, name: &str) -> FileMeta {
        FileMeta {
            name: name.to_string(),
            sha256: self.sha256.clone(),
            size: self.size,
            rows: self.rows,
            columns: self.columns.clone(),
            content_url: None,
        }
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Snappy; dictionary encoding only for string columns (numeric tensors gain nothing
/// from it and it costs time).
fn writer_properties(schema: &arrow::datatypes::Schema) -> WriterProperties {
    use arrow::datatypes::DataType;
    use parquet::schema::types::ColumnPath;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_created_by("fastml-arena datasets".to_string())
        .set_dictionary_enabled(false);
    for f in schema.fields() {
        if matches!(
            f.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            b = b.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), true);
        }
    }
    b.build()
}

/// Streams batches to Parquet. Feed it with [`ParquetSink::write`], then [`ParquetSink::finish`].
pub struct ParquetSink<W: Write + Send> {
    writer: ArrowWriter<HashingWriter<W>>,
    schema: SchemaRef,
    rows: u64,
}

impl<W: Write + Send> ParquetSink<W> {
    pub fn new(out: W, schema: SchemaRef) -> Result<Self> {
        let hw = HashingWriter {
            inner: out,
            hasher: Sha256::new(),
            size: 0,
        };
        let writer = ArrowWriter::try_new(hw, schema.clone(), Some(writer_properties(&schema)))?;
        Ok(ParquetSink {
            writer,
            schema,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Closes the file; returns its digest, size, rows and columns, and the inner writer.
    pub fn finish(self) -> Result<(WrittenFile, W)> {
        let mut hw = self.writer.into_inner()?;
        hw.flush()
            .map_err(|e| DatasetError::io("parquet output", e))?;
        let sha256 = hex::encode(hw.hasher.finalize_reset());
        let info = WrittenFile {
            sha256,
            size: hw.size,
            rows: self.rows,
            columns: self
                .schema
                .fields()
                .iter()
                .map(|f| ColumnSchema::from_field(f))
                .collect(),
        };
        Ok((info, hw.inner))
    }
}

/// Writes `batches` (sharing `schema`) as one snappy-compressed Parquet file to `out`.
pub fn write_parquet<'a, W: Write + Send>(
    out: W,
    schema: SchemaRef,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> Result<(WrittenFile, W)> {
    let mut sink = ParquetSink::new(out, schema)?;
    for b in batches {
        sink.write(b)?;
    }
    sink.finish()
}

/// Writes `batches` to Parquet bytes in memory.
pub fn write_parquet_bytes<'a>(
    schema: SchemaRef,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> Result<(Bytes, WrittenFile)> {
    let (info, buf) = write_parquet(Vec::new(), schema, batches)?;
    Ok((Bytes::from(buf), info))
}

/// Reads a whole Parquet file (bytes, `std::fs::File`, ...) into batches.
pub fn read_parquet<R: ChunkReader + 'static>(input: R) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    contain_panics(|| {
        let reader = ParquetRecordBatchReaderBuilder::try_new(input)?
            .with_batch_size(READ_BATCH_ROWS)
            .build()?;
        let schema = arrow::record_batch::RecordBatchReader::schema(&reader);
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        Ok((schema, batches))
    })
}

/// Run a Parquet decode, turning a panic of the decoder into an error. The
/// `parquet` crate still panics on some malformed pages (found by
/// datasets/tests/fuzz_parquet.rs: an out-of-range dictionary index in
/// `RleDecoder::get_batch_with_dict`, apache/arrow-rs#9434), and a file is
/// input we do not control.
pub fn contain_panics<T>(decode: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|_| {
        Err(DatasetError::Parquet(
            parquet::errors::ParquetError::General(
                "malformed Parquet file: the decoder failed on a corrupt page".into(),
            ),
        ))
    })
}

/// Statistics of every column of a Parquet file. Roles and shapes come from `features`,
/// or from the Arrow field metadata that [`FeatureSpec::arrow_field`] writes.
pub fn parquet_stats<R: ChunkReader + 'static>(
    input: R,
    features: Option<&[FeatureSpec]>,
) -> Result<Vec<ColumnStats>> {
    let (schema, batches) = read_parquet(input)?;
    compute_stats(&schema, &batches, features)
}

/// Copies a Parquet file without the columns named in `drop` (e.g. the labels of a test
/// split), batch by batch. Names in `drop` that the file lacks are ignored.
pub fn strip_columns<R: ChunkReader + 'static, W: Write + Send>(
    input: R,
    drop: &[String],
    out: W,
) -> Result<(WrittenFile, W)> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(input)?.with_batch_size(READ_BATCH_ROWS);
    let keep: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !drop.iter().any(|d| d == f.name()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), keep.iter().copied());
    let out_schema = std::sync::Arc::new(builder.schema().project(&keep)?);
    let reader = builder.with_projection(mask).build()?;
    let mut sink = ParquetSink::new(out, out_schema.clone())?;
    for batch in reader {
        let batch = batch?;
        // Re-attach the projected schema so field metadata (roles, shapes) is preserved.
        let batch = RecordBatch::try_new(out_schema.clone(), batch.columns().to_vec())?;
        sink.write(&batch)?;
    }
    sink.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dtype, Role, arrow_schema};
    use arrow::array::{BooleanArray, Int64Array};
    use std::sync::Arc;

    fn sample() -> (SchemaRef, RecordBatch) {
        let features = vec![
            FeatureSpec::scalar("id", Dtype::Int64, Role::Id, "id"),
            FeatureSpec::scalar("y", Dtype::Bool, Role::Label, "label"),
        ];
        let schema = arrow_schema(&features);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(BooleanArray::from(vec![true, false, true])),
            ],
        )
        .expect("batch");
        (schema, batch)
    }

    #[test]
    fn write_read_strip() {
        let (schema, batch) = sample();
        let (bytes, info) = write_parquet_bytes(schema.clone(), [&batch]).expect("write");
        assert_eq!(info.size, bytes.len() as u64);
        assert_eq!(info.sha256, sha256_hex(&bytes));
        assert_eq!(info.rows, 3);
        let (back_schema, back) = read_parquet(bytes.clone()).expect("read");
        assert_eq!(back_schema.as_ref(), schema.as_ref());
        assert_eq!(back[0], batch);
        let (stripped, out) =
            strip_columns(bytes.clone(), &["y".to_string()], Vec::new()).expect("strip");
        assert_eq!(stripped.rows, 3);
        assert_eq!(stripped.columns.len(), 1);
        let (s2, b2) = read_parquet(Bytes::from(out)).expect("read stripped");
        assert_eq!(s2.fields().len(), 1);
        assert_eq!(
            s2.field(0)
                .metadata()
                .get(crate::model::META_ROLE)
                .map(String::as_str),
            Some("id")
        );
        assert_eq!(b2[0].num_rows(), 3);
        let stats = parquet_stats(bytes, None).expect("stats");
        assert_eq!(stats[1].role, Role::Label);
        assert_eq!(
            stats[1].label_balance.as_ref().and_then(|b| b.get("true")),
            Some(&2)
        );
    }

    #[test]
    fn deterministic_bytes() {
        let (schema, batch) = sample();
        let a = write_parquet_bytes(schema.clone(), [&batch]).expect("a").1;
        let b = write_parquet_bytes(schema, [&batch]).expect("b").1;
        assert_eq!(a.sha256, b.sha256);
    }
}
