//! Manifest ingestion: CSV and Parquet inputs, statistics by hand, rejection of bad files
//! with the failing column and row, and splits disjoint by id.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{BooleanArray, FixedSizeListArray, Float32Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datasets::{DatasetError, SplitName, ingest_manifest};

fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("manifest-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

const MANIFEST: &str = r#"
slug: tiny-test
title: Tiny test dataset
description: Hand-made rows for the ingestion tests.
keywords: [test]
domain: testing
licence: CC-BY-4.0
creators:
  - name: "Doe, Jane"
    orcid: 0000-0002-1825-0097
    affiliation: Example University
rai:
  data_collection: Typed by hand.
version: 1.0.0
changelog: First version.
created: 2025-02-03T04:05:06Z
features:
  - {name: id, dtype: int64, role: id}
  - {name: x, dtype: float32, shape: [2], role: feature, description: two numbers}
  - {name: y, dtype: bool, role: label}
splits:
  train:
    files: [train.csv]
  public_test:
    files: [test.parquet]
"#;

const TRAIN_CSV: &str =
    "id,x_0,x_1,y\n1,1.0,2.0,false\n2,3.0,,true\n3,5.0,6.0,false\n4,7.0,8.0,false\n";

fn write_test_parquet(dir: &Path, ids: Vec<i64>, xs: Vec<Option<f32>>, ys: Vec<bool>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "x",
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), 2),
            true,
        ),
        Field::new("y", DataType::Boolean, false),
    ]));
    let x = FixedSizeListArray::try_new(
        Arc::new(Field::new("item", DataType::Float32, true)),
        2,
        Arc::new(Float32Array::from(xs)),
        None,
    )
    .expect("fsl");
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(x),
            Arc::new(BooleanArray::from(ys)),
        ],
    )
    .expect("batch");
    let file = std::fs::File::create(dir.join("test.parquet")).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

fn setup(name: &str, csv: &str) -> PathBuf {
    let dir = workdir(name);
    std::fs::write(dir.join("dataset.yaml"), MANIFEST).expect("manifest");
    std::fs::write(dir.join("train.csv"), csv).expect("csv");
    write_test_parquet(
        &dir,
        vec![10, 11],
        vec![Some(0.5), Some(1.5), Some(2.5), Some(3.5)],
        vec![true, false],
    );
    dir
}

fn expect_validation(err: DatasetError, file: &str, column: &str, row: Option<usize>) {
    match err {
        DatasetError::Validation {
            file: f,
            column: c,
            row: r,
            ..
        } => {
            assert_eq!((f.as_str(), c.as_str(), r), (file, column, row));
        }
        other => panic!("expected a validation error, got {other}"),
    }
}

#[test]
fn ingests_csv_and_parquet_with_statistics_by_hand() {
    let dir = setup("ok", TRAIN_CSV);
    let built = ingest_manifest(&dir.join("dataset.yaml")).expect("ingest");
    let v = &built.version;
    assert_eq!(v.version, "1.0.0");
    assert_eq!(v.created.to_rfc3339(), "2025-02-03T04:05:06+00:00");
    assert_eq!(built.dataset.slug, "tiny-test");
    let train = v.split(SplitName::Train).expect("train");
    assert_eq!(train.rows, 4);
    assert_eq!(
        train.files[0].name, "train.parquet",
        "CSV converted to Parquet"
    );
    // x over all elements: 1,2,3,null,5,6,7,8
    let x = train.stats.iter().find(|s| s.name == "x").expect("x stats");
    let vals = [1.0f64, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0];
    let mean = vals.iter().sum::<f64>() / 7.0;
    let std = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 7.0).sqrt();
    assert_eq!((x.count, x.nulls), (7, 1));
    assert_eq!((x.min, x.max), (Some(1.0), Some(8.0)));
    assert!((x.mean.unwrap_or_default() - mean).abs() < 1e-12);
    assert!((x.std.unwrap_or_default() - std).abs() < 1e-12);
    let h = x.histogram.as_ref().expect("histogram");
    assert_eq!(h.counts.iter().sum::<u64>(), 7);
    assert_eq!(h.edges.first(), Some(&1.0));
    assert_eq!(h.edges.last(), Some(&8.0));
    assert_eq!(x.shape, vec![2]);
    let y = train.stats.iter().find(|s| s.name == "y").expect("y stats");
    let balance = y.label_balance.as_ref().expect("label balance");
    assert_eq!(balance.get("true"), Some(&1));
    assert_eq!(balance.get("false"), Some(&3));
    // Test split: labels hidden by default -> stripped copy without y.
    let test = v.split(SplitName::PublicTest).expect("test");
    assert!(test.files[0].has_column("y"));
    assert!(!test.stripped_files[0].has_column("y"));
    // Statistics read back from the stored Parquet bytes agree.
    let blob = built.blob(&train.files[0].sha256).expect("blob");
    let back = datasets::parquet_io::parquet_stats(blob.bytes.clone(), None).expect("stats");
    assert_eq!(back, train.stats);
    assert_eq!(v.content_hash.len(), 64);
}

#[test]
fn bad_csv_value_names_column_and_row() {
    let bad = "id,x_0,x_1,y\n1,1.0,2.0,false\n2,3.0,4.0,true\n3,abc,6.0,false\n";
    let dir = setup("bad-csv", bad);
    let err = ingest_manifest(&dir.join("dataset.yaml")).expect_err("must fail");
    let msg = err.to_string();
    expect_validation(err, "train.csv", "x_0", Some(2));
    assert!(msg.contains("`abc` is not a valid float32"), "{msg}");
}

#[test]
fn null_label_in_csv_rejected() {
    let bad = "id,x_0,x_1,y\n1,1.0,2.0,false\n2,3.0,4.0,\n";
    let dir = setup("null-label", bad);
    let err = ingest_manifest(&dir.join("dataset.yaml")).expect_err("must fail");
    expect_validation(err, "train.csv", "y", Some(1));
}

#[test]
fn overlapping_ids_rejected() {
    let dir = setup("overlap", TRAIN_CSV);
    write_test_parquet(
        &dir,
        vec![10, 3],
        vec![Some(0.5), Some(1.5), Some(2.5), Some(3.5)],
        vec![true, false],
    );
    let err = ingest_manifest(&dir.join("dataset.yaml")).expect_err("must fail");
    let msg = err.to_string();
    expect_validation(err, "test.parquet", "id", Some(1));
    assert!(msg.contains("split train"), "{msg}");
}

#[test]
fn wrong_shape_rejected() {
    let dir = setup("shape", TRAIN_CSV);
    let manifest = MANIFEST.replace("shape: [2]", "shape: [3]");
    std::fs::write(dir.join("dataset.yaml"), manifest).expect("manifest");
    std::fs::write(dir.join("train.csv"), "id,x_0,x_1,x_2,y\n1,1,2,3,false\n").expect("csv");
    let err = ingest_manifest(&dir.join("dataset.yaml")).expect_err("must fail");
    expect_validation(err, "test.parquet", "x", None);
}

#[test]
fn missing_column_and_bad_metadata_rejected() {
    let dir = setup("missing", "id,x_0,y\n1,1.0,false\n");
    let err = ingest_manifest(&dir.join("dataset.yaml")).expect_err("must fail");
    expect_validation(err, "train.csv", "x_1", None);
    let dir = setup("orcid", TRAIN_CSV);
    std::fs::write(
        dir.join("dataset.yaml"),
        MANIFEST.replace("0000-0002-1825-0097", "0000-0002-1825-0098"),
    )
    .expect("w");
    assert!(matches!(
        ingest_manifest(&dir.join("dataset.yaml")),
        Err(DatasetError::Manifest(_))
    ));
    std::fs::write(
        dir.join("dataset.yaml"),
        MANIFEST.replace("files: [train.csv]", "files: [../train.csv]"),
    )
    .expect("w");
    assert!(matches!(
        ingest_manifest(&dir.join("dataset.yaml")),
        Err(DatasetError::Manifest(_))
    ));
}
