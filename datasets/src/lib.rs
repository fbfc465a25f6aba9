//! FastML Arena datasets: the data model (dataset -> versions -> splits -> Parquet files),
//! manifest ingestion with validation and statistics, Parquet I/O and label stripping,
//! FAIR metadata (Croissant 1.1, DataCite 4.5, schema.org, BibTeX, CITATION.cff),
//! deterministic demo generators and object-store helpers.

pub mod budget;
pub mod error;
pub mod generators;
pub mod ingest;
pub mod manifest;
pub mod metadata;
pub mod model;
pub mod parquet_io;
pub mod stats;
pub mod store;
pub mod validate;

pub use budget::IngestLimits;
pub use error::{DatasetError, Result};
pub use generators::{GENERATORS, GeneratedDataset, generate};
pub use ingest::{Blob, BuiltVersion, InputFile, SplitInput, VersionInput, build_version};
pub use manifest::{Manifest, ingest_manifest};
pub use model::*;
pub use stats::ColumnStats;
pub use store::{ContentKey, S3Settings, open_store, open_store_with, put_content};
