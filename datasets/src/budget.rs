//! Bounds of one ingest: an organizer's upload is decoded on the server, so
//! rows, columns, decoded bytes and time are capped before and while files
//! are read. Parquet footers are checked before any page is decoded; every
//! decoded batch is counted (and validated) as it arrives, so a file past a
//! limit, or with a bad row, is refused without decoding the rest.

use std::time::Instant;

use parquet::file::metadata::ParquetMetaData;

use crate::error::{DatasetError, Result};

/// Limits of one ingest (the whole upload: every file of every split).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Rows over all files.
    pub max_rows: u64,
    /// Leaf columns of one file.
    pub max_columns: usize,
    /// Decoded (Arrow) bytes over all files.
    pub max_decoded_bytes: u64,
    /// When the ingest gives up (the request that started it has timed out).
    pub deadline: Option<Instant>,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_rows: 20_000_000,
            max_columns: 4_096,
            max_decoded_bytes: 2 << 30,
            deadline: None,
        }
    }
}

/// What an ingest has used so far.
#[derive(Debug)]
pub struct Budget {
    limits: IngestLimits,
    rows: u64,
    decoded_bytes: u64,
}

impl Budget {
    pub fn new(limits: IngestLimits) -> Self {
        Budget {
            limits,
            rows: 0,
            decoded_bytes: 0,
        }
    }

    /// Check a Parquet file's footer before decoding it: its rows against
    /// what is left, its columns, and its uncompressed size.
    pub fn check_footer(&self, file: &str, meta: &ParquetMetaData) -> Result<()> {
        let rows = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(u64::MAX);
        if self.rows.saturating_add(rows) > self.limits.max_rows {
            return Err(over(
                file,
                "rows",
                self.rows.saturating_add(rows),
                self.limits.max_rows,
            ));
        }
        let columns = meta.file_metadata().schema_descr().num_columns();
        if columns > self.limits.max_columns {
            return Err(over(
                file,
                "columns",
                columns as u64,
                self.limits.max_columns as u64,
            ));
        }
        let uncompressed: u64 = meta
            .row_groups()
            .iter()
            .map(|g| u64::try_from(g.total_byte_size()).unwrap_or(u64::MAX))
            .fold(0, u64::saturating_add);
        let total = self.decoded_bytes.saturating_add(uncompressed);
        if total > self.limits.max_decoded_bytes {
            return Err(over(
                file,
                "uncompressed bytes",
                total,
                self.limits.max_decoded_bytes,
            ));
        }
        Ok(())
    }

    /// Count a decoded batch; refuse once a limit or the deadline is passed.
    pub fn take(&mut self, file: &str, rows: usize, bytes: usize) -> Result<()> {
        self.rows = self.rows.saturating_add(rows as u64);
        self.decoded_bytes = self.decoded_bytes.saturating_add(bytes as u64);
        if self.rows > self.limits.max_rows {
            return Err(over(file, "rows", self.rows, self.limits.max_rows));
        }
        if self.decoded_bytes > self.limits.max_decoded_bytes {
            return Err(over(
                file,
                "decoded bytes",
                self.decoded_bytes,
                self.limits.max_decoded_bytes,
            ));
        }
        if self.limits.deadline.is_some_and(|d| Instant::now() > d) {
            return Err(DatasetError::Manifest(format!(
                "{file}: reading the upload took longer than the request may; upload fewer \
                 or smaller files at once"
            )));
        }
        Ok(())
    }
}

fn over(file: &str, what: &str, value: u64, limit: u64) -> DatasetError {
    DatasetError::Manifest(format!(
        "{file}: the upload has {value} {what}, over the limit of {limit} for one upload"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_counted_against_the_limits() {
        let mut budget = Budget::new(IngestLimits {
            max_rows: 10,
            max_decoded_bytes: 1000,
            ..IngestLimits::default()
        });
        budget.take("a.csv", 6, 100).unwrap();
        let err = budget.take("a.csv", 6, 100).unwrap_err().to_string();
        assert!(err.contains("12 rows, over the limit of 10"), "{err}");
        let mut budget = Budget::new(IngestLimits {
            max_decoded_bytes: 1000,
            ..IngestLimits::default()
        });
        let err = budget.take("b.csv", 1, 2000).unwrap_err().to_string();
        assert!(err.contains("decoded bytes"), "{err}");
        let mut late = Budget::new(IngestLimits {
            deadline: Some(Instant::now() - std::time::Duration::from_secs(1)),
            ..IngestLimits::default()
        });
        assert!(late.take("c.csv", 1, 1).is_err());
    }
}
