//! Reading the hls4ml C-simulation fixtures (`tests/hls4ml/`).

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, FixedSizeListArray, Float32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Values of a FixedSizeList<Float32> column: (list size, flat values).
pub fn list_values(a: &dyn Array) -> Result<(usize, Vec<f32>), String> {
    let l = a
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .ok_or("not a FixedSizeList column")?;
    let f = l
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or("not Float32 values")?;
    let size = l.value_length() as usize;
    let start = l.value_offset(0) as usize;
    Ok((size, f.values()[start..start + l.len() * size].to_vec()))
}

/// The FixedSizeList<Float32> columns of a fixture: name -> (list size, values).
pub fn read_columns(path: &Path) -> Result<HashMap<String, (usize, Vec<f32>)>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut cols: HashMap<String, (usize, Vec<f32>)> = HashMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
            let (size, v) = list_values(c.as_ref())?;
            let e = cols.entry(f.name().clone()).or_insert((size, Vec::new()));
            e.1.extend(v);
        }
    }
    Ok(cols)
}

/// Rows (of `width` values) where `got` and `want` differ at all.
pub fn bad_rows(got: &[f32], want: &[f32], width: usize) -> usize {
    got.chunks(width.max(1))
        .zip(want.chunks(width.max(1)))
        .filter(|(g, w)| g != w)
        .count()
}
