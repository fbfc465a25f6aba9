//! Streaming Parquet through the simulator, and the Arrow input forms.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use toolflow::onnx::build::ModelBuilder;
use toolflow::{Limits, compile, simulate_batch, simulate_parquet};

fn model() -> toolflow::CompiledModel {
    let b = ModelBuilder::new("x", &[-1, 2, 3])
        .node("Flatten", &["x"], &["f"], vec![])
        .node("Relu", &["f"], &["y"], vec![])
        .output("y");
    compile(&b.bytes(), None, &Limits::default()).unwrap()
}

fn list_batch(rows: usize, size: i32) -> RecordBatch {
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let vals: Vec<f32> = (0..rows * size as usize)
        .map(|i| i as f32 * 0.5 - 3.0)
        .collect();
    let list =
        FixedSizeListArray::try_new(item.clone(), size, Arc::new(Float32Array::from(vals)), None)
            .unwrap();
    let schema = Schema::new(vec![Field::new(
        "x",
        DataType::FixedSizeList(item, size),
        false,
    )]);
    RecordBatch::try_new(Arc::new(schema), vec![Arc::new(list) as ArrayRef]).unwrap()
}

#[test]
fn list_column_reshaped_row_major() {
    let m = model();
    let out = simulate_batch(&m, &list_batch(3, 6), None).unwrap();
    assert_eq!(out.num_rows(), 3);
    let y = out
        .column(0)
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .unwrap();
    let v = y.values().as_any().downcast_ref::<Float32Array>().unwrap();
    assert_eq!(&v.values()[..6], &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(v.values()[17], 5.5);
    let e = simulate_batch(&m, &list_batch(2, 5), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("5 values") && e.contains("needs 6"), "{e}");
    let sliced = list_batch(4, 6).slice(1, 2);
    let out = simulate_batch(&m, &sliced, Some("x")).unwrap();
    let y = out
        .column(0)
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .unwrap();
    assert_eq!(
        y.values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap()
            .values()[5],
        2.5 + 2.5 - 3.0 + 0.5
    );
}

#[test]
fn scalar_columns_form_a_row() {
    let b = ModelBuilder::new("x", &[-1, 2])
        .node("Relu", &["x"], &["y"], vec![])
        .output("y");
    let m = compile(&b.bytes(), None, &Limits::default()).unwrap();
    let schema = Schema::new(vec![
        Field::new("a", DataType::Float64, false),
        Field::new("b", DataType::Float64, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![1.0, -2.0])),
        Arc::new(Float64Array::from(vec![-3.0, 4.0])),
    ];
    let batch = RecordBatch::try_new(Arc::new(schema), cols).unwrap();
    let out = simulate_batch(&m, &batch, None).unwrap();
    let y = out
        .column(0)
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .unwrap();
    assert_eq!(
        y.values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap()
            .values(),
        &[1.0, 0.0, 0.0, 4.0]
    );
}

#[test]
fn parquet_round_trip_in_batches() {
    let dir = std::env::temp_dir().join(format!("toolflow-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (inp, outp) = (dir.join("in.parquet"), dir.join("out.parquet"));
    let batch = list_batch(1000, 6);
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&inp).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let mut calls = 0;
    let stats = simulate_parquet(
        &model(),
        std::fs::File::open(&inp).unwrap(),
        std::fs::File::create(&outp).unwrap(),
        None,
        256,
        |_| calls += 1,
    )
    .unwrap();
    assert_eq!((stats.rows, calls), (1000, 4));
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&outp).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 1000);
    let _ = std::fs::remove_dir_all(&dir);
}
