//! Fuzz target `parquet`: Parquet ingest — reading a file, checking it
//! against the declared features (types, tensor shapes, labels, unique ids),
//! statistics, and writing the version (complete and label-stripped copies).
//! Any bytes must give a dataset version or an error naming the problem,
//! never a panic. The corpus holds files written by pyarrow (fuzz/README.md).

#[path = "../../fuzz/harness.rs"]
mod harness;

use bytes::Bytes;
use datasets::{FeatureSpec, InputFile, SplitInput, SplitName, VersionInput, Visibility};
use serde_json::json;

fn features() -> Vec<FeatureSpec> {
    serde_json::from_value(json!([
        { "name": "id", "dtype": "int64", "role": "id" },
        { "name": "x", "dtype": "float32", "shape": [4], "role": "feature" },
        { "name": "is_anomaly", "dtype": "bool", "role": "label" },
    ]))
    .unwrap()
}

fn ingest(bytes: &[u8]) -> String {
    let batches = match datasets::parquet_io::read_parquet(Bytes::copy_from_slice(bytes)) {
        Ok((_, batches)) => batches,
        Err(e) => return e.to_string(),
    };
    let meta = serde_json::from_value(json!({
        "slug": "fuzz",
        "title": "Fuzz",
        "description": "Fuzzed input.",
        "keywords": ["fuzz"],
        "domain": "testing",
        "licence": "CC-BY-4.0",
        "creators": [{ "name": "Arena, Fuzz" }],
    }))
    .unwrap();
    let split = |name: SplitName, visibility| SplitInput {
        name,
        visibility,
        files: vec![InputFile::new(
            &format!("{}.parquet", name.as_str()),
            batches.clone(),
        )],
    };
    let built = datasets::build_version(
        meta,
        features(),
        VersionInput {
            version: "1.0.0".into(),
            changelog: "fuzz".into(),
            created: chrono::Utc::now(),
            doi: None,
        },
        vec![
            split(SplitName::Train, Visibility::Public),
            split(SplitName::PrivateTest, Visibility::Private),
        ],
    );
    let stats =
        datasets::parquet_io::parquet_stats(Bytes::copy_from_slice(bytes), Some(&features()));
    format!(
        "{} | stats {}",
        built.map_or_else(|e| e.to_string(), |_| "ok".into()),
        stats.map_or_else(|e| e.to_string(), |s| s.len().to_string())
    )
}

#[test]
fn fuzz_parquet_ingest() {
    harness::fuzz("parquet", Vec::new(), ingest);
}

/// The first input the fuzzer found: a dictionary index past the dictionary
/// panicked inside the `parquet` crate; it is now a clear error.
#[test]
fn a_corrupt_dictionary_page_is_an_error() {
    let path =
        harness::corpus_dir("parquet").join("regression_dictionary_index_out_of_range.parquet");
    let bytes = std::fs::read(path).unwrap();
    let error = datasets::parquet_io::read_parquet(Bytes::from(bytes)).unwrap_err();
    assert!(
        error.to_string().contains("malformed Parquet file"),
        "{error}"
    );
}
