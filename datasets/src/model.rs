//! The data model: dataset -> immutable versions -> splits -> Parquet files.
//!
//! These structs are plain data (serde both ways) so the database and the server can
//! store and serve them unchanged.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};
use crate::stats::ColumnStats;

/// Arrow field-metadata key holding a feature's role (`feature`, `label`, `id`, `extra`).
pub const META_ROLE: &str = "arena:role";
/// Arrow field-metadata key holding a tensor feature's shape as JSON, e.g. `[2,200]`.
pub const META_SHAPE: &str = "arena:shape";
/// Arrow field-metadata key holding a feature's description.
pub const META_DESCRIPTION: &str = "arena:description";
/// Croissant / IANA-style media type used for our Parquet files.
pub const PARQUET_MEDIA_TYPE: &str = "application/x-parquet";

/// Element type of a feature (scalars and tensor elements alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float32,
    Float64,
    String,
    /// Calendar date (Arrow Date32, days since 1970-01-01; `YYYY-MM-DD` in CSV).
    Date,
}

impl Dtype {
    pub const ALL: [Dtype; 13] = [
        Dtype::Bool,
        Dtype::Int8,
        Dtype::Int16,
        Dtype::Int32,
        Dtype::Int64,
        Dtype::Uint8,
        Dtype::Uint16,
        Dtype::Uint32,
        Dtype::Uint64,
        Dtype::Float32,
        Dtype::Float64,
        Dtype::String,
        Dtype::Date,
    ];

    /// The manifest spelling (`float32`, `uint8`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::Bool => "bool",
            Dtype::Int8 => "int8",
            Dtype::Int16 => "int16",
            Dtype::Int32 => "int32",
            Dtype::Int64 => "int64",
            Dtype::Uint8 => "uint8",
            Dtype::Uint16 => "uint16",
            Dtype::Uint32 => "uint32",
            Dtype::Uint64 => "uint64",
            Dtype::Float32 => "float32",
            Dtype::Float64 => "float64",
            Dtype::String => "string",
            Dtype::Date => "date",
        }
    }

    /// Arrow type of one element.
    pub fn arrow(self) -> DataType {
        match self {
            Dtype::Bool => DataType::Boolean,
            Dtype::Int8 => DataType::Int8,
            Dtype::Int16 => DataType::Int16,
            Dtype::Int32 => DataType::Int32,
            Dtype::Int64 => DataType::Int64,
            Dtype::Uint8 => DataType::UInt8,
            Dtype::Uint16 => DataType::UInt16,
            Dtype::Uint32 => DataType::UInt32,
            Dtype::Uint64 => DataType::UInt64,
            Dtype::Float32 => DataType::Float32,
            Dtype::Float64 => DataType::Float64,
            Dtype::String => DataType::Utf8,
            Dtype::Date => DataType::Date32,
        }
    }

    /// Inverse of [`Dtype::arrow`] (LargeUtf8 and Utf8View count as strings).
    pub fn from_arrow(dt: &DataType) -> Option<Dtype> {
        Some(match dt {
            DataType::Boolean => Dtype::Bool,
            DataType::Int8 => Dtype::Int8,
            DataType::Int16 => Dtype::Int16,
            DataType::Int32 => Dtype::Int32,
            DataType::Int64 => Dtype::Int64,
            DataType::UInt8 => Dtype::Uint8,
            DataType::UInt16 => Dtype::Uint16,
            DataType::UInt32 => Dtype::Uint32,
            DataType::UInt64 => Dtype::Uint64,
            DataType::Float32 => Dtype::Float32,
            DataType::Float64 => Dtype::Float64,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Dtype::String,
            DataType::Date32 => Dtype::Date,
            _ => return None,
        })
    }

    /// Croissant 1.1 `dataType` of one element.
    pub fn croissant(self) -> &'static str {
        match self {
            Dtype::Bool => "sc:Boolean",
            Dtype::Int8 => "cr:Int8",
            Dtype::Int16 => "cr:Int16",
            Dtype::Int32 => "cr:Int32",
            Dtype::Int64 => "cr:Int64",
            Dtype::Uint8 => "cr:UInt8",
            Dtype::Uint16 => "cr:UInt16",
            Dtype::Uint32 => "cr:UInt32",
            Dtype::Uint64 => "cr:UInt64",
            Dtype::Float32 => "cr:Float32",
            Dtype::Float64 => "cr:Float64",
            Dtype::String => "sc:Text",
            Dtype::Date => "sc:Date",
        }
    }

    /// True for types with a numeric view (booleans count as 0/1).
    pub fn is_numeric(self) -> bool {
        !matches!(self, Dtype::String)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dtype {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self> {
        Dtype::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| DatasetError::Manifest(format!("unknown dtype `{s}`")))
    }
}

/// What a column is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Model input.
    #[default]
    Feature,
    /// Target; stripped from files served for label-hidden splits.
    Label,
    /// Record identifier: non-null, unique within the version (splits disjoint by id).
    Id,
    /// Analysis column (e.g. anomaly kind, injection SNR). Not a model input; withheld
    /// together with the labels in label-hidden splits, since it usually reveals them.
    Extra,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Feature => "feature",
            Role::Label => "label",
            Role::Id => "id",
            Role::Extra => "extra",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "feature" => Some(Role::Feature),
            "label" => Some(Role::Label),
            "id" => Some(Role::Id),
            "extra" => Some(Role::Extra),
            _ => None,
        }
    }
}

/// One declared column. `shape` empty = scalar; otherwise a tensor stored as an Arrow
/// `FixedSizeList<dtype>` of `shape.iter().product()` elements, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    pub dtype: Dtype,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shape: Vec<usize>,
    #[serde(default)]
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl FeatureSpec {
    pub fn scalar(name: &str, dtype: Dtype, role: Role, description: &str) -> Self {
        FeatureSpec {
            name: name.to_string(),
            dtype,
            shape: Vec::new(),
            role,
            description: Some(description.to_string()),
        }
    }

    pub fn tensor(
        name: &str,
        dtype: Dtype,
        shape: &[usize],
        role: Role,
        description: &str,
    ) -> Self {
        FeatureSpec {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            role,
            description: Some(description.to_string()),
        }
    }

    /// Number of elements per row (1 for scalars).
    pub fn elements(&self) -> usize {
        self.shape
            .iter()
            .product::<usize>()
            .max(usize::from(self.shape.is_empty()))
    }

    pub fn is_tensor(&self) -> bool {
        !self.shape.is_empty()
    }

    /// Arrow type of the whole column.
    pub fn arrow_type(&self) -> DataType {
        if self.is_tensor() {
            DataType::FixedSizeList(
                Arc::new(Field::new("item", self.dtype.arrow(), true)),
                self.elements() as i32,
            )
        } else {
            self.dtype.arrow()
        }
    }

    /// Arrow field with role, shape and description recorded in the field metadata, so
    /// that a Parquet file describes itself.
    pub fn arrow_field(&self) -> Field {
        let mut md = HashMap::new();
        md.insert(META_ROLE.to_string(), self.role.as_str().to_string());
        if self.is_tensor() {
            md.insert(
                META_SHAPE.to_string(),
                serde_json::to_string(&self.shape).unwrap_or_default(),
            );
        }
        if let Some(d) = &self.description {
            md.insert(META_DESCRIPTION.to_string(), d.clone());
        }
        let nullable = !matches!(self.role, Role::Id | Role::Label);
        Field::new(&self.name, self.arrow_type(), nullable).with_metadata(md)
    }

    /// Reconstructs a spec from an Arrow field (metadata written by [`FeatureSpec::arrow_field`];
    /// without it, role = feature and shape = [n] for fixed-size lists).
    pub fn from_arrow_field(field: &Field) -> Option<FeatureSpec> {
        let md = field.metadata();
        let role = md
            .get(META_ROLE)
            .and_then(|r| Role::parse(r))
            .unwrap_or_default();
        let description = md.get(META_DESCRIPTION).cloned();
        let (dtype, shape) = match field.data_type() {
            DataType::FixedSizeList(item, n) => {
                let dtype = Dtype::from_arrow(item.data_type())?;
                let shape = md
                    .get(META_SHAPE)
                    .and_then(|s| serde_json::from_str::<Vec<usize>>(s).ok())
                    .filter(|s| s.iter().product::<usize>() == *n as usize)
                    .unwrap_or_else(|| vec![*n as usize]);
                (dtype, shape)
            }
            other => (Dtype::from_arrow(other)?, Vec::new()),
        };
        Some(FeatureSpec {
            name: field.name().clone(),
            dtype,
            shape,
            role,
            description,
        })
    }
}

/// Arrow schema for a list of features (in order).
pub fn arrow_schema(features: &[FeatureSpec]) -> SchemaRef {
    Arc::new(Schema::new(
        features
            .iter()
            .map(FeatureSpec::arrow_field)
            .collect::<Vec<_>>(),
    ))
}

/// Names of the label columns.
pub fn label_names(features: &[FeatureSpec]) -> Vec<String> {
    features
        .iter()
        .filter(|f| f.role == Role::Label)
        .map(|f| f.name.clone())
        .collect()
}

/// Names of the columns withheld from label-hidden splits: labels and extras.
pub fn hidden_names(features: &[FeatureSpec]) -> Vec<String> {
    features
        .iter()
        .filter(|f| matches!(f.role, Role::Label | Role::Extra))
        .map(|f| f.name.clone())
        .collect()
}

/// The four splits every version may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitName {
    Train,
    Validation,
    PublicTest,
    PrivateTest,
}

impl SplitName {
    pub const ALL: [SplitName; 4] = [
        SplitName::Train,
        SplitName::Validation,
        SplitName::PublicTest,
        SplitName::PrivateTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SplitName::Train => "train",
            SplitName::Validation => "validation",
            SplitName::PublicTest => "public_test",
            SplitName::PrivateTest => "private_test",
        }
    }

    pub fn parse(s: &str) -> Option<SplitName> {
        SplitName::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// The Croissant split URL (`cr:TrainingSplit`, `cr:ValidationSplit`, `cr:TestSplit`).
    pub fn croissant_url(self) -> &'static str {
        match self {
            SplitName::Train => "cr:TrainingSplit",
            SplitName::Validation => "cr:ValidationSplit",
            SplitName::PublicTest | SplitName::PrivateTest => "cr:TestSplit",
        }
    }

    /// Default visibility: train and validation public, public_test without labels,
    /// private_test not served at all (used by the scoring workers only).
    pub fn default_visibility(self) -> Visibility {
        match self {
            SplitName::Train | SplitName::Validation => Visibility::Public,
            SplitName::PublicTest => Visibility::LabelsHidden,
            SplitName::PrivateTest => Visibility::Private,
        }
    }
}

impl fmt::Display for SplitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may download what of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Features and labels are served.
    Public,
    /// Only the label-stripped files are served.
    LabelsHidden,
    /// Nothing is served; workers read it from the object store.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::LabelsHidden => "labels_hidden",
            Visibility::Private => "private",
        }
    }
}

/// A person or organisation credited as creator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Creator {
    /// Display name. For persons "Family, Given" is recommended (DataCite style).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Bare ORCID iD (`0000-0002-1825-0097`) or its https://orcid.org/ URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orcid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliation: Option<String>,
    /// True for organisations (no given/family names).
    #[serde(default)]
    pub organization: bool,
}

impl Creator {
    /// ORCID as `https://orcid.org/XXXX-XXXX-XXXX-XXXX`.
    pub fn orcid_url(&self) -> Option<String> {
        self.orcid.as_ref().map(|o| {
            let bare = o
                .trim()
                .trim_start_matches("https://orcid.org/")
                .trim_start_matches("http://orcid.org/");
            format!("https://orcid.org/{bare}")
        })
    }

    /// (family, given) when known or derivable from "Family, Given".
    pub fn split_name(&self) -> (Option<String>, Option<String>) {
        if self.organization {
            return (None, None);
        }
        if self.family_name.is_some() || self.given_name.is_some() {
            return (self.family_name.clone(), self.given_name.clone());
        }
        match self.name.split_once(',') {
            Some((f, g)) => (Some(f.trim().to_string()), Some(g.trim().to_string())),
            None => (None, None),
        }
    }
}

/// Responsible-AI description (Croissant RAI vocabulary). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rai {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_collection: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_collection_type: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_collection_missing_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_collection_raw_data: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_preprocessing_protocol: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_annotation_protocol: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub machine_annotation_tools: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_biases: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_limitations: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_use_cases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_social_impact: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub personal_sensitive_information: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_release_maintenance_plan: Option<String>,
}

fn default_publisher() -> String {
    "FastML Arena".to_string()
}

/// Version-independent description of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    /// URL-safe identifier: lowercase ASCII letters, digits and `-`.
    pub slug: String,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Scientific domain (astrophysics, genomics, polar science, ...).
    pub domain: String,
    /// SPDX licence identifier, e.g. `CC-BY-4.0`.
    pub licence: String,
    pub creators: Vec<Creator>,
    /// Concept DOI of the dataset (all versions), bare (`10.5281/zenodo.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doi: Option<String>,
    #[serde(default = "default_publisher")]
    pub publisher: String,
    #[serde(default)]
    pub rai: Rai,
}

/// Validates a slug: 1..=64 chars of `[a-z0-9-]`, not starting or ending with `-`.
pub fn check_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(DatasetError::Manifest(format!(
            "slug `{slug}` must be 1-64 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        )))
    }
}

/// Validates a semantic version `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`.
pub fn check_semver(v: &str) -> Result<()> {
    let err = || {
        DatasetError::Manifest(format!(
            "version `{v}` is not a semantic version (MAJOR.MINOR.PATCH)"
        ))
    };
    let core = v.split(['-', '+']).next().ok_or_else(err)?;
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 {
        return Err(err());
    }
    for p in parts {
        if p.is_empty()
            || !p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 1 && p.starts_with('0'))
        {
            return Err(err());
        }
    }
    let rest = &v[core.len()..];
    if rest == "-" || rest == "+" || rest.contains("..") {
        return Err(err());
    }
    Ok(())
}

/// One column of a stored file, as recorded in the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSchema {
    pub name: String,
    /// Arrow type as displayed by arrow-rs, e.g. `FixedSizeList(400 x Float32)`.
    pub arrow_type: String,
    pub dtype: Option<Dtype>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shape: Vec<usize>,
    pub role: Role,
    pub nullable: bool,
}

impl ColumnSchema {
    pub fn from_field(field: &Field) -> ColumnSchema {
        let spec = FeatureSpec::from_arrow_field(field);
        ColumnSchema {
            name: field.name().clone(),
            arrow_type: match field.data_type() {
                DataType::FixedSizeList(item, n) => {
                    format!("FixedSizeList({n} x {})", item.data_type())
                }
                other => other.to_string(),
            },
            dtype: spec.as_ref().map(|s| s.dtype),
            shape: spec.as_ref().map(|s| s.shape.clone()).unwrap_or_default(),
            role: spec.map(|s| s.role).unwrap_or_default(),
            nullable: field.is_nullable(),
        }
    }
}

/// A stored Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    /// File name inside its split, e.g. `train.parquet`.
    pub name: String,
    /// Lowercase hex sha256 of the bytes; also the object-store key suffix.
    pub sha256: String,
    pub size: u64,
    pub rows: u64,
    pub columns: Vec<ColumnSchema>,
    /// Where the file is served; when `None` the metadata writers use
    /// [`crate::metadata::file_url`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
}

impl FileMeta {
    pub fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }
}

/// One split of a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMeta {
    pub name: SplitName,
    pub visibility: Visibility,
    pub rows: u64,
    /// The complete files (with labels).
    pub files: Vec<FileMeta>,
    /// Label-stripped copies of `files` (present when visibility is not public).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stripped_files: Vec<FileMeta>,
    /// Statistics over all files of the split.
    #[serde(default)]
    pub stats: Vec<ColumnStats>,
}

impl SplitMeta {
    /// The files participants may download, or `None` when the split is private.
    pub fn public_files(&self) -> Option<&[FileMeta]> {
        match self.visibility {
            Visibility::Public => Some(&self.files),
            Visibility::LabelsHidden => Some(&self.stripped_files),
            Visibility::Private => None,
        }
    }
}

/// An immutable version of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// Semantic version.
    pub version: String,
    pub created: DateTime<Utc>,
    pub changelog: String,
    /// sha256 over the sorted lines `split \t file name \t file sha256 \n` of the complete files.
    pub content_hash: String,
    pub features: Vec<FeatureSpec>,
    pub splits: Vec<SplitMeta>,
    /// Version DOI, bare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doi: Option<String>,
}

impl VersionMeta {
    pub fn split(&self, name: SplitName) -> Option<&SplitMeta> {
        self.splits.iter().find(|s| s.name == name)
    }

    pub fn total_rows(&self) -> u64 {
        self.splits.iter().map(|s| s.rows).sum()
    }
}

/// Computes [`VersionMeta::content_hash`] from (split, file name, sha256) triples.
pub fn content_hash<'a>(files: impl IntoIterator<Item = (SplitName, &'a str, &'a str)>) -> String {
    use sha2::{Digest, Sha256};
    let mut lines: Vec<String> = files
        .into_iter()
        .map(|(s, n, h)| format!("{}\t{n}\t{h}\n", s.as_str()))
        .collect();
    lines.sort();
    let mut hasher = Sha256::new();
    for l in &lines {
        hasher.update(l.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        for ok in ["1.0.0", "0.1.12", "2.0.0-rc.1", "1.2.3+build.5"] {
            assert!(check_semver(ok).is_ok(), "{ok}");
        }
        for bad in ["1.0", "01.0.0", "a.b.c", "1.0.0-", "", "1..0"] {
            assert!(check_semver(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slug() {
        assert!(check_slug("gw-anomaly").is_ok());
        assert!(check_slug("GW").is_err());
        assert!(check_slug("-x").is_err());
        assert!(check_slug("").is_err());
    }

    #[test]
    fn field_roundtrip() {
        let f = FeatureSpec::tensor("x", Dtype::Float32, &[2, 200], Role::Feature, "strain");
        let back = FeatureSpec::from_arrow_field(&f.arrow_field()).expect("spec");
        assert_eq!(back, f);
        assert_eq!(f.elements(), 400);
        let s = FeatureSpec::scalar("y", Dtype::Bool, Role::Label, "label");
        assert_eq!(s.elements(), 1);
        assert_eq!(FeatureSpec::from_arrow_field(&s.arrow_field()), Some(s));
    }

    #[test]
    fn orcid() {
        let c = Creator {
            name: "Doe, Jane".into(),
            given_name: None,
            family_name: None,
            orcid: Some("0000-0002-1825-0097".into()),
            affiliation: None,
            organization: false,
        };
        assert_eq!(
            c.orcid_url().as_deref(),
            Some("https://orcid.org/0000-0002-1825-0097")
        );
        assert_eq!(c.split_name(), (Some("Doe".into()), Some("Jane".into())));
    }

    #[test]
    fn hash_is_order_independent() {
        let a = content_hash([
            (SplitName::Train, "a", "1"),
            (SplitName::Validation, "b", "2"),
        ]);
        let b = content_hash([
            (SplitName::Validation, "b", "2"),
            (SplitName::Train, "a", "1"),
        ]);
        assert_eq!(a, b);
    }
}
