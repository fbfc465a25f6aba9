//! Turning validated batches into an immutable version: Parquet files (with sha256, size,
//! rows, schema), label-stripped copies for non-public splits, statistics per split and the
//! version content hash. Used by the manifest ingestion and by the demo generators.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};
use crate::model::{
    DatasetMeta, FeatureSpec, FileMeta, Role, SplitMeta, SplitName, VersionMeta, Visibility,
    arrow_schema, check_semver, check_slug, content_hash, hidden_names,
};
use crate::parquet_io::{strip_columns, write_parquet_bytes};
use crate::stats::compute_stats;
use crate::validate::{IdTracker, conform_batch};
use arrow::record_batch::RecordBatch;

/// Data of one split before it is written.
#[derive(Debug, Clone)]
pub struct SplitInput {
    pub name: SplitName,
    pub visibility: Visibility,
    pub files: Vec<InputFile>,
}

/// One file of a split before it is written.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// File name inside the split, e.g. `train.parquet`.
    pub name: String,
    /// Name used in error messages (the manifest path, e.g. `data/train.csv`).
    pub source: String,
    pub batches: Vec<RecordBatch>,
}

impl InputFile {
    pub fn new(name: &str, batches: Vec<RecordBatch>) -> Self {
        InputFile {
            name: name.to_string(),
            source: name.to_string(),
            batches,
        }
    }
}

/// Version-level facts supplied by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInput {
    pub version: String,
    pub changelog: String,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub doi: Option<String>,
}

/// Bytes to put into the object store (content-addressed by `sha256`).
#[derive(Debug, Clone)]
pub struct Blob {
    pub split: SplitName,
    pub name: String,
    pub sha256: String,
    /// True for the label-stripped copy served for non-public splits.
    pub stripped: bool,
    pub bytes: Bytes,
}

/// A complete, validated version ready to store.
#[derive(Debug, Clone)]
pub struct BuiltVersion {
    pub dataset: DatasetMeta,
    pub version: VersionMeta,
    pub blobs: Vec<Blob>,
}

impl BuiltVersion {
    /// The blob with the given sha256.
    pub fn blob(&self, sha256: &str) -> Option<&Blob> {
        self.blobs.iter().find(|b| b.sha256 == sha256)
    }
}

/// Checks the features themselves: unique names, exactly one id column, scalar ids.
pub fn check_features(features: &[FeatureSpec]) -> Result<()> {
    if features.is_empty() {
        return Err(DatasetError::Manifest("no features declared".into()));
    }
    for (i, f) in features.iter().enumerate() {
        if f.name.is_empty() {
            return Err(DatasetError::Manifest(format!(
                "feature #{i} has an empty name"
            )));
        }
        if features[..i].iter().any(|g| g.name == f.name) {
            return Err(DatasetError::Manifest(format!(
                "feature `{}` declared twice",
                f.name
            )));
        }
        if f.shape.contains(&0) {
            return Err(DatasetError::Manifest(format!(
                "feature `{}` has a zero dimension in its shape",
                f.name
            )));
        }
        if f.elements() > i32::MAX as usize {
            return Err(DatasetError::Manifest(format!(
                "feature `{}` has too many elements",
                f.name
            )));
        }
    }
    let ids: Vec<&FeatureSpec> = features.iter().filter(|f| f.role == Role::Id).collect();
    match ids.as_slice() {
        [id] if id.is_tensor() => Err(DatasetError::Manifest(format!(
            "id column `{}` must be a scalar",
            id.name
        ))),
        [id] if !matches!(
            id.dtype,
            crate::model::Dtype::Int8
                | crate::model::Dtype::Int16
                | crate::model::Dtype::Int32
                | crate::model::Dtype::Int64
                | crate::model::Dtype::Uint8
                | crate::model::Dtype::Uint16
                | crate::model::Dtype::Uint32
                | crate::model::Dtype::Uint64
                | crate::model::Dtype::String
        ) =>
        {
            Err(DatasetError::Manifest(format!(
                "id column `{}` must be an integer or a string",
                id.name
            )))
        }
        [_] => Ok(()),
        [] => Err(DatasetError::Manifest(
            "exactly one feature must have role `id`; none has".into(),
        )),
        _ => Err(DatasetError::Manifest(
            "exactly one feature must have role `id`; several have".into(),
        )),
    }
}

/// Checks the dataset description (slug, title, licence, creators).
pub fn check_dataset(meta: &DatasetMeta) -> Result<()> {
    check_slug(&meta.slug)?;
    if meta.title.trim().is_empty() {
        return Err(DatasetError::Manifest("title is empty".into()));
    }
    if meta.licence.trim().is_empty() {
        return Err(DatasetError::Manifest("licence is empty".into()));
    }
    if meta.creators.is_empty() {
        return Err(DatasetError::Manifest(
            "at least one creator is required".into(),
        ));
    }
    for c in &meta.creators {
        if let Some(o) = &c.orcid {
            check_orcid(o)?;
        }
    }
    Ok(())
}

/// ORCID iD: 16 characters `dddd-dddd-dddd-dddX` (optionally as an orcid.org URL) with a
/// valid ISO 7064 MOD 11-2 check digit.
pub fn check_orcid(orcid: &str) -> Result<()> {
    let bare = orcid
        .trim()
        .trim_start_matches("https://orcid.org/")
        .trim_start_matches("http://orcid.org/");
    let err = || DatasetError::Manifest(format!("`{orcid}` is not a valid ORCID iD"));
    let chars: Vec<char> = bare.chars().filter(|c| *c != '-').collect();
    if bare.len() != 19 || chars.len() != 16 {
        return Err(err());
    }
    let mut total: u32 = 0;
    for c in &chars[..15] {
        let d = c.to_digit(10).ok_or_else(err)?;
        total = (total + d) * 2;
    }
    let check = (12 - total % 11) % 11;
    let expected = if check == 10 {
        'X'
    } else {
        char::from_digit(check, 10).ok_or_else(err)?
    };
    if chars[15] != expected {
        return Err(err());
    }
    Ok(())
}

/// Validates every batch against `features` (types, shapes, labels, ids disjoint across
/// splits), writes Parquet files, label-stripped copies for non-public splits and
/// statistics, and assembles the version metadata.
pub fn build_version(
    dataset: DatasetMeta,
    features: Vec<FeatureSpec>,
    version: VersionInput,
    splits: Vec<SplitInput>,
) -> Result<BuiltVersion> {
    check_dataset(&dataset)?;
    check_features(&features)?;
    check_semver(&version.version)?;
    if splits.is_empty() {
        return Err(DatasetError::Manifest("no splits".into()));
    }
    let id_name = features
        .iter()
        .find(|f| f.role == Role::Id)
        .map(|f| f.name.clone())
        .unwrap_or_default();
    let hidden = hidden_names(&features);
    let schema = arrow_schema(&features);
    let mut ids = IdTracker::new();
    let mut blobs = Vec::new();
    let mut split_metas = Vec::new();
    for (si, split) in splits.iter().enumerate() {
        if splits[..si].iter().any(|s| s.name == split.name) {
            return Err(DatasetError::Manifest(format!(
                "split `{}` given twice",
                split.name
            )));
        }
        let mut files = Vec::new();
        let mut stripped_files = Vec::new();
        let mut all_batches: Vec<RecordBatch> = Vec::new();
        for (fi, input) in split.files.iter().enumerate() {
            let name = &input.name;
            if split.files[..fi].iter().any(|f| &f.name == name) {
                return Err(DatasetError::Manifest(format!(
                    "split `{}` has two files named `{name}`",
                    split.name
                )));
            }
            let mut conformed = Vec::with_capacity(input.batches.len());
            let mut offset = 0usize;
            for b in &input.batches {
                let c = conform_batch(&input.source, b, &features, offset)?;
                if let Some((idx, _)) = c.schema().column_with_name(&id_name) {
                    ids.add(split.name, &input.source, &id_name, c.column(idx), offset)?;
                }
                offset += c.num_rows();
                conformed.push(c);
            }
            let (bytes, info) = write_parquet_bytes(schema.clone(), conformed.iter())?;
            files.push(info.file_meta(name));
            if split.visibility != Visibility::Public {
                let (sinfo, sbytes) = strip_columns(bytes.clone(), &hidden, Vec::new())?;
                stripped_files.push(sinfo.file_meta(name));
                blobs.push(Blob {
                    split: split.name,
                    name: name.clone(),
                    sha256: sinfo.sha256.clone(),
                    stripped: true,
                    bytes: Bytes::from(sbytes),
                });
            }
            blobs.push(Blob {
                split: split.name,
                name: name.clone(),
                sha256: info.sha256.clone(),
                stripped: false,
                bytes,
            });
            all_batches.extend(conformed);
        }
        let stats = compute_stats(&schema, &all_batches, Some(&features))?;
        split_metas.push(SplitMeta {
            name: split.name,
            visibility: split.visibility,
            rows: files.iter().map(|f: &FileMeta| f.rows).sum(),
            files,
            stripped_files,
            stats,
        });
    }
    split_metas.sort_by_key(|s| s.name);
    let hash = content_hash(split_metas.iter().flat_map(|s| {
        s.files
            .iter()
            .map(move |f| (s.name, f.name.as_str(), f.sha256.as_str()))
    }));
    Ok(BuiltVersion {
        dataset,
        version: VersionMeta {
            version: version.version,
            created: version.created,
            changelog: version.changelog,
            content_hash: hash,
            features,
            splits: split_metas,
            doi: version.doi,
        },
        blobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orcid_checksum() {
        assert!(check_orcid("0000-0002-1825-0097").is_ok());
        assert!(check_orcid("https://orcid.org/0000-0001-5109-3700").is_ok());
        assert!(check_orcid("0000-0002-1694-233X").is_ok());
        assert!(check_orcid("0000-0002-1825-0098").is_err());
        assert!(check_orcid("0000-0002-1825").is_err());
    }
}
