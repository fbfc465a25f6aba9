//! Arrow glue: simulate a record batch, one sample per row.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
use arrow::buffer::ScalarBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::{Error, Result};
use crate::{CompiledModel, Family};

/// Runs every row of `batch` through the model.
///
/// Input: `column` (default `x` if present, otherwise all numeric scalar
/// columns in schema order). A FixedSizeList<Float32|Float64> row is
/// reshaped row-major into the input shape without its batch dimension;
/// scalar columns form one row vector. Output: a batch with one column `y`,
/// FixedSizeList<Float32> of the flattened outputs.
pub fn simulate_batch(
    model: &CompiledModel,
    batch: &RecordBatch,
    column: Option<&str>,
) -> Result<RecordBatch> {
    output_batch(simulate_values(model, batch, column)?, model.output_len())
}

/// [`simulate_batch`]'s output values, row-major (`rows * output_len`).
pub fn simulate_values(
    model: &CompiledModel,
    batch: &RecordBatch,
    column: Option<&str>,
) -> Result<Vec<f32>> {
    let n = batch.num_rows();
    let x = input_values(batch, column, model.input_len())?;
    match model.family() {
        Family::Onnx => super::run_f32(model.ir(), &x, n),
        _ => model.simulate_f32(&x, n),
    }
}

/// Builds the single-column output batch.
pub fn output_batch(y: Vec<f32>, out_len: usize) -> Result<RecordBatch> {
    let size = i32::try_from(out_len).map_err(|_| Error::Data("output too long".into()))?;
    let item = Arc::new(Field::new("item", DataType::Float32, true));
    let list =
        FixedSizeListArray::try_new(item.clone(), size, Arc::new(Float32Array::from(y)), None)?;
    let schema = Schema::new(vec![Field::new(
        "y",
        DataType::FixedSizeList(item, size),
        false,
    )]);
    Ok(RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(list) as ArrayRef],
    )?)
}

/// Flattens the input rows into `n * input_len` floats.
pub fn input_matrix(
    batch: &RecordBatch,
    column: Option<&str>,
    input_len: usize,
) -> Result<Vec<f32>> {
    input_values(batch, column, input_len).map(|v| v.to_vec())
}

/// [`input_matrix`] without a copy when the column already holds the
/// values as f32 (a FixedSizeList<Float32> column shares its buffer).
pub fn input_values(
    batch: &RecordBatch,
    column: Option<&str>,
    input_len: usize,
) -> Result<ScalarBuffer<f32>> {
    let schema = batch.schema();
    let name = column.or_else(|| schema.column_with_name("x").map(|_| "x"));
    match name {
        Some(name) => {
            let (i, _) = schema
                .column_with_name(name)
                .ok_or_else(|| Error::Data(format!("no column '{name}' in the input")))?;
            let col = batch.column(i);
            match col.data_type() {
                DataType::FixedSizeList(_, _) => list_values(col, name, input_len),
                dt if dt.is_numeric() => {
                    scalar_columns(std::slice::from_ref(col), &[name.to_string()], input_len)
                        .map(ScalarBuffer::from)
                }
                dt => Err(Error::Data(format!(
                    "column '{name}' has type {dt}; FixedSizeList<Float32> or a number is needed"
                ))),
            }
        }
        None => {
            let (cols, names): (Vec<ArrayRef>, Vec<String>) = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .filter(|(f, _)| f.data_type().is_numeric())
                .map(|(f, c)| (c.clone(), f.name().clone()))
                .unzip();
            scalar_columns(&cols, &names, input_len).map(ScalarBuffer::from)
        }
    }
}

fn list_values(col: &ArrayRef, name: &str, input_len: usize) -> Result<ScalarBuffer<f32>> {
    let list = col
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .ok_or_else(|| Error::Data(format!("column '{name}' is not a list")))?;
    let size = list.value_length() as usize;
    if size != input_len {
        return Err(Error::Data(format!(
            "column '{name}' rows have {size} values, the model input needs {input_len}"
        )));
    }
    if list.null_count() > 0 {
        return Err(Error::Data(format!("column '{name}' has null rows")));
    }
    let start = if list.is_empty() {
        0
    } else {
        list.value_offset(0) as usize
    };
    let values = list.values().slice(start, list.len() * size);
    let values = cast(&values, &DataType::Float32)?;
    let f = values
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or_else(|| Error::Data("cast to f32 failed".into()))?;
    if f.null_count() > 0 {
        return Err(Error::Data(format!("column '{name}' has null values")));
    }
    Ok(f.values().clone())
}

fn scalar_columns(cols: &[ArrayRef], names: &[String], input_len: usize) -> Result<Vec<f32>> {
    if cols.len() != input_len {
        return Err(Error::Data(format!(
            "{} numeric columns ({}) for a model input of {input_len} values; name a FixedSizeList column",
            cols.len(),
            names.join(", ")
        )));
    }
    let n = cols.first().map_or(0, |c| c.len());
    let mut out = vec![0f32; n * input_len];
    for (j, (c, name)) in cols.iter().zip(names).enumerate() {
        let c = cast(c, &DataType::Float32)?;
        let f = c
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| Error::Data("cast to f32 failed".into()))?;
        if f.null_count() > 0 {
            return Err(Error::Data(format!("column '{name}' has null values")));
        }
        for (r, v) in f.values().iter().enumerate() {
            out[r * input_len + j] = *v;
        }
    }
    Ok(out)
}
