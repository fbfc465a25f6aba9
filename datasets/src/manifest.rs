//! The `dataset.yaml` manifest: dataset metadata, declared features and split files.
//! The format is documented in `datasets/MANIFEST.md`; [`ingest_manifest`] reads a
//! manifest and its Parquet/CSV files and returns a validated [`BuiltVersion`].

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Date32Builder, FixedSizeListArray, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringArray,
    StringBuilder, UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::budget::{Budget, IngestLimits};
use crate::error::{DatasetError, Result};
use crate::ingest::{BuiltVersion, InputFile, SplitInput, VersionInput, build_version};
use crate::model::{
    Creator, DatasetMeta, Dtype, FeatureSpec, Rai, SplitName, Visibility, arrow_schema,
};
use crate::parquet_io::READ_BATCH_ROWS;

/// One split in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSplit {
    /// Defaults to the split's default (train/validation public, public_test labels_hidden,
    /// private_test private).
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Paths relative to the manifest's directory; `.parquet`/`.pq` or `.csv`.
    pub files: Vec<String>,
}

/// The parsed `dataset.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub slug: String,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub domain: String,
    pub licence: String,
    pub creators: Vec<Creator>,
    #[serde(default)]
    pub doi: Option<String>,
    #[serde(default)]
    pub publisher: Option<String>,
    #[serde(default)]
    pub rai: Rai,
    pub version: String,
    #[serde(default)]
    pub version_doi: Option<String>,
    #[serde(default)]
    pub changelog: String,
    /// Creation time (RFC 3339); defaults to the time of ingestion.
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    pub features: Vec<FeatureSpec>,
    /// Keys: `train`, `validation`, `public_test`, `private_test`.
    pub splits: BTreeMap<String, ManifestSplit>,
}

impl Manifest {
    pub fn from_yaml(text: &str) -> Result<Manifest> {
        Ok(yaml::from_str(text)?)
    }

    pub fn to_yaml(&self) -> Result<String> {
        Ok(yaml::to_string(self)?)
    }

    pub fn dataset_meta(&self) -> DatasetMeta {
        DatasetMeta {
            slug: self.slug.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            keywords: self.keywords.clone(),
            domain: self.domain.clone(),
            licence: self.licence.clone(),
            creators: self.creators.clone(),
            doi: self.doi.clone(),
            publisher: self
                .publisher
                .clone()
                .unwrap_or_else(|| "FastML Arena".to_string()),
            rai: self.rai.clone(),
        }
    }

    /// Split names parsed and checked, in canonical order.
    pub fn split_names(&self) -> Result<Vec<(SplitName, &ManifestSplit)>> {
        let mut out = Vec::new();
        for (k, v) in &self.splits {
            let name = SplitName::parse(k).ok_or_else(|| {
                DatasetError::Manifest(format!(
                    "unknown split `{k}` (expected train, validation, public_test or private_test)"
                ))
            })?;
            if v.files.is_empty() {
                return Err(DatasetError::Manifest(format!(
                    "split `{k}` lists no files"
                )));
            }
            out.push((name, v));
        }
        out.sort_by_key(|(n, _)| *n);
        Ok(out)
    }
}

/// Reads `dataset.yaml` at `path` and ingests it.
pub fn ingest_manifest(path: &Path) -> Result<BuiltVersion> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| DatasetError::io(path.display().to_string(), e))?;
    let manifest = Manifest::from_yaml(&text)?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    ingest(&manifest, &base)
}

/// Ingests a parsed manifest whose file paths are relative to `base_dir`,
/// under the default [`IngestLimits`].
pub fn ingest(manifest: &Manifest, base_dir: &Path) -> Result<BuiltVersion> {
    ingest_within(manifest, base_dir, IngestLimits::default())
}

/// [`ingest`] under `limits`: footers are checked before decoding, and every
/// batch is counted and validated as it is read.
pub fn ingest_within(
    manifest: &Manifest,
    base_dir: &Path,
    limits: IngestLimits,
) -> Result<BuiltVersion> {
    crate::ingest::check_features(&manifest.features)?;
    let mut budget = Budget::new(limits);
    let mut splits = Vec::new();
    for (name, ms) in manifest.split_names()? {
        let mut files = Vec::new();
        for rel in &ms.files {
            let rel_path = Path::new(rel);
            if rel_path.is_absolute()
                || rel_path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(DatasetError::Manifest(format!(
                    "file `{rel}` must be a relative path inside the manifest's directory"
                )));
            }
            let path = base_dir.join(rel_path);
            let stem = rel_path
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| DatasetError::Manifest(format!("file `{rel}` has no name")))?;
            let ext = rel_path
                .extension()
                .and_then(|s| s.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            let mut reading = Reading {
                rel,
                features: &manifest.features,
                budget: &mut budget,
                rows: 0,
            };
            let batches = match ext.as_str() {
                "parquet" | "pq" => read_parquet_file(&path, &mut reading)?,
                "csv" => read_csv_file(&path, &mut reading)?,
                _ => {
                    return Err(DatasetError::Manifest(format!(
                        "file `{rel}`: unsupported extension (use .parquet, .pq or .csv)"
                    )));
                }
            };
            files.push(InputFile {
                name: format!("{stem}.parquet"),
                source: rel.clone(),
                batches,
            });
        }
        splits.push(SplitInput {
            name,
            visibility: ms.visibility.unwrap_or_else(|| name.default_visibility()),
            files,
        });
    }
    build_version(
        manifest.dataset_meta(),
        manifest.features.clone(),
        VersionInput {
            version: manifest.version.clone(),
            changelog: manifest.changelog.clone(),
            created: manifest.created.unwrap_or_else(Utc::now),
            doi: manifest.version_doi.clone(),
        },
        splits,
    )
}

/// One file being read: its batches are counted and validated as they come.
struct Reading<'a> {
    rel: &'a str,
    features: &'a [FeatureSpec],
    budget: &'a mut Budget,
    /// Rows of this file so far (the offset of the next batch's first row).
    rows: usize,
}

impl Reading<'_> {
    /// Count and validate a decoded batch: a bad row stops the read at once.
    fn accept(&mut self, batch: &RecordBatch) -> Result<()> {
        self.budget
            .take(self.rel, batch.num_rows(), batch.get_array_memory_size())?;
        crate::validate::conform_batch(self.rel, batch, self.features, self.rows)?;
        self.rows += batch.num_rows();
        Ok(())
    }
}

fn read_parquet_file(path: &Path, reading: &mut Reading<'_>) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| DatasetError::io(reading.rel, e))?;
    crate::parquet_io::contain_panics(|| {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        reading
            .budget
            .check_footer(reading.rel, builder.metadata())?;
        let reader = builder.with_batch_size(READ_BATCH_ROWS).build()?;
        let mut batches = Vec::new();
        for batch in reader {
            let batch = batch?;
            reading.accept(&batch)?;
            batches.push(batch);
        }
        Ok(batches)
    })
}

/// CSV column names of a feature: the name itself for scalars; `name_0`, `name_1`, ...
/// (row-major) for tensors.
pub fn csv_columns(spec: &FeatureSpec) -> Vec<String> {
    if spec.is_tensor() {
        (0..spec.elements())
            .map(|i| format!("{}_{i}", spec.name))
            .collect()
    } else {
        vec![spec.name.clone()]
    }
}

fn read_csv_file(path: &Path, reading: &mut Reading<'_>) -> Result<Vec<RecordBatch>> {
    use std::io::{BufRead, BufReader};
    let (rel, features) = (reading.rel, reading.features);
    let file = File::open(path).map_err(|e| DatasetError::io(rel, e))?;
    let mut header_line = String::new();
    BufReader::new(file)
        .read_line(&mut header_line)
        .map_err(|e| DatasetError::io(rel, e))?;
    let header = parse_header(&header_line);
    for h in &header {
        if !features.iter().any(|f| csv_columns(f).contains(h)) {
            return Err(DatasetError::validation(
                rel,
                h,
                None,
                "CSV column is not declared in the manifest features",
            ));
        }
    }
    for f in features {
        for c in csv_columns(f) {
            if !header.contains(&c) {
                return Err(DatasetError::validation(
                    rel,
                    &c,
                    None,
                    "declared column is missing from the CSV header",
                ));
            }
        }
    }
    let schema = Arc::new(Schema::new(
        header
            .iter()
            .map(|h| Field::new(h, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let file = File::open(path).map_err(|e| DatasetError::io(rel, e))?;
    let reader = arrow::csv::ReaderBuilder::new(schema.clone())
        .with_header(true)
        .with_batch_size(READ_BATCH_ROWS)
        .build(file)?;
    // Nullable while parsing: null labels/ids are reported with their row by validation.
    let target = Arc::new(Schema::new(
        arrow_schema(features)
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let mut out = Vec::new();
    let mut offset = 0usize;
    for batch in reader {
        let batch = batch
            .map_err(|e| DatasetError::validation(rel, "*", None, format!("malformed CSV: {e}")))?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(features.len());
        for f in features {
            let mut parts = Vec::new();
            for c in csv_columns(f) {
                let idx = header.iter().position(|h| *h == c).unwrap_or_default();
                let strings = batch
                    .column(idx)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| {
                        DatasetError::validation(rel, &c, None, "CSV column is not text")
                    })?;
                parts.push(parse_column(rel, &c, f.dtype, strings, offset)?);
            }
            if f.is_tensor() {
                columns.push(interleave_tensor(f, &parts)?);
            } else if let Some(p) = parts.pop() {
                columns.push(p);
            }
        }
        offset += batch.num_rows();
        let parsed = RecordBatch::try_new(target.clone(), columns)?;
        reading.accept(&parsed)?;
        out.push(parsed);
    }
    Ok(out)
}

fn parse_header(line: &str) -> Vec<String> {
    line.trim_end_matches(['\n', '\r'])
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect()
}

/// Builds `FixedSizeList` rows from one parsed array per element (row-major order).
fn interleave_tensor(spec: &FeatureSpec, parts: &[ArrayRef]) -> Result<ArrayRef> {
    let rows = parts.first().map(|p| p.len()).unwrap_or(0);
    let n = parts.len();
    let mut indices: Vec<(usize, usize)> = Vec::with_capacity(rows * n);
    for r in 0..rows {
        for e in 0..n {
            indices.push((e, r));
        }
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    let values = arrow::compute::interleave(&refs, &indices)?;
    let item = Arc::new(Field::new("item", spec.dtype.arrow(), true));
    Ok(Arc::new(FixedSizeListArray::try_new(
        item, n as i32, values, None,
    )?))
}

macro_rules! parse_with {
    ($builder:ty, $strings:expr, $file:expr, $col:expr, $offset:expr, $ty:literal, $parse:expr) => {{
        let mut b = <$builder>::with_capacity($strings.len());
        for i in 0..$strings.len() {
            if $strings.is_null(i) || $strings.value(i).trim().is_empty() {
                b.append_null();
                continue;
            }
            let s = $strings.value(i).trim();
            match $parse(s) {
                Some(v) => b.append_value(v),
                None => {
                    return Err(DatasetError::validation(
                        $file,
                        $col,
                        Some($offset + i),
                        format!("`{s}` is not a valid {}", $ty),
                    ));
                }
            }
        }
        Arc::new(b.finish()) as ArrayRef
    }};
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "yes" => Some(true),
        "false" | "0" | "f" | "no" => Some(false),
        _ => None,
    }
}

fn parse_date(s: &str) -> Option<i32> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// Parses one CSV text column into `dtype`; empty cells are nulls.
fn parse_column(
    file: &str,
    col: &str,
    dtype: Dtype,
    s: &StringArray,
    offset: usize,
) -> Result<ArrayRef> {
    Ok(match dtype {
        Dtype::Bool => parse_with!(BooleanBuilder, s, file, col, offset, "bool", parse_bool),
        Dtype::Int8 => parse_with!(Int8Builder, s, file, col, offset, "int8", |v: &str| v
            .parse::<i8>()
            .ok()),
        Dtype::Int16 => parse_with!(Int16Builder, s, file, col, offset, "int16", |v: &str| v
            .parse::<i16>()
            .ok()),
        Dtype::Int32 => parse_with!(Int32Builder, s, file, col, offset, "int32", |v: &str| v
            .parse::<i32>()
            .ok()),
        Dtype::Int64 => parse_with!(Int64Builder, s, file, col, offset, "int64", |v: &str| v
            .parse::<i64>()
            .ok()),
        Dtype::Uint8 => parse_with!(UInt8Builder, s, file, col, offset, "uint8", |v: &str| v
            .parse::<u8>()
            .ok()),
        Dtype::Uint16 => parse_with!(UInt16Builder, s, file, col, offset, "uint16", |v: &str| v
            .parse::<u16>()
            .ok()),
        Dtype::Uint32 => parse_with!(UInt32Builder, s, file, col, offset, "uint32", |v: &str| v
            .parse::<u32>()
            .ok()),
        Dtype::Uint64 => parse_with!(UInt64Builder, s, file, col, offset, "uint64", |v: &str| v
            .parse::<u64>()
            .ok()),
        Dtype::Float32 => parse_with!(
            Float32Builder,
            s,
            file,
            col,
            offset,
            "float32",
            |v: &str| v.parse::<f32>().ok()
        ),
        Dtype::Float64 => parse_with!(
            Float64Builder,
            s,
            file,
            col,
            offset,
            "float64",
            |v: &str| v.parse::<f64>().ok()
        ),
        Dtype::Date => parse_with!(
            Date32Builder,
            s,
            file,
            col,
            offset,
            "date (YYYY-MM-DD)",
            parse_date
        ),
        Dtype::String => {
            let mut b = StringBuilder::with_capacity(s.len(), 0);
            for i in 0..s.len() {
                if s.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(s.value(i));
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
slug: tiny
title: Tiny
description: A tiny dataset.
domain: testing
licence: CC-BY-4.0
creators:
  - name: "Doe, Jane"
    orcid: 0000-0002-1825-0097
version: 1.0.0
features:
  - {name: id, dtype: int64, role: id}
  - {name: x, dtype: float32, shape: [2], role: feature}
  - {name: y, dtype: bool, role: label}
splits:
  train: {files: [train.csv]}
"#;

    #[test]
    fn parses_and_rejects_unknown_keys() {
        let m = Manifest::from_yaml(YAML).expect("parse");
        assert_eq!(m.features[1].shape, vec![2]);
        assert_eq!(m.split_names().expect("splits")[0].0, SplitName::Train);
        let bad = YAML.replace("domain:", "domian: x\ndomain:");
        assert!(Manifest::from_yaml(&bad).is_err());
        let bad_split = YAML.replace("train: {", "training: {");
        assert!(
            Manifest::from_yaml(&bad_split)
                .expect("parse")
                .split_names()
                .is_err()
        );
    }

    #[test]
    fn csv_tensor_columns() {
        let f = FeatureSpec::tensor(
            "x",
            Dtype::Float32,
            &[2, 2],
            crate::model::Role::Feature,
            "",
        );
        assert_eq!(csv_columns(&f), vec!["x_0", "x_1", "x_2", "x_3"]);
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_bool("True"), Some(true));
    }
}
