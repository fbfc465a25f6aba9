//! Reading labels and model inputs out of Arrow batches of a test split, and
//! turning model outputs into scores.

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use challenges::{InputSpec, ScoreFrom};

/// Scores and labels collected over the whole split. With per-element labels
/// (a list label such as one flag per station), each (row, element) is one
/// sample and `rows`/`elements` name it.
#[derive(Debug, Default)]
pub struct Collected {
    pub scores: Vec<f64>,
    pub labels: Vec<bool>,
    pub rows: Vec<i64>,
    pub elements: Vec<i64>,
    pub samples: u64,
}

/// Labels of one batch: one per row, or `width` per row for list labels.
pub fn labels(batch: &RecordBatch, column: &str) -> Result<(Vec<bool>, usize), String> {
    let array = batch
        .column_by_name(column)
        .ok_or_else(|| format!("the test split has no label column `{column}`"))?;
    match array.data_type() {
        DataType::FixedSizeList(_, width) => {
            let list = array
                .as_any()
                .downcast_ref::<FixedSizeListArray>()
                .ok_or_else(|| format!("label column `{column}` is not a list"))?;
            Ok((flags(list.values(), column)?, *width as usize))
        }
        _ => Ok((flags(array, column)?, 1)),
    }
}

/// 0/1 or boolean values as flags; anything else is an error naming the column.
fn flags(array: &ArrayRef, column: &str) -> Result<Vec<bool>, String> {
    if array.null_count() > 0 {
        return Err(format!("label column `{column}` has missing values"));
    }
    if let DataType::Boolean = array.data_type() {
        return Ok(array
            .as_boolean()
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect());
    }
    let values =
        cast(array, &DataType::Float64).map_err(|e| format!("label column `{column}`: {e}"))?;
    values
        .as_primitive::<Float64Type>()
        .values()
        .iter()
        .map(|&v| match v {
            0.0 => Ok(false),
            1.0 => Ok(true),
            other => Err(format!(
                "label column `{column}` holds {other}; labels must be 0/1 or boolean"
            )),
        })
        .collect()
}

/// The model input of a batch, flattened row-major (n x input_len).
pub fn inputs(batch: &RecordBatch, spec: &InputSpec, input_len: usize) -> Result<Vec<f32>, String> {
    match &spec.column {
        Some(column) => toolflow::sim::arrow::input_matrix(batch, Some(column), input_len),
        None => {
            let projected = project(batch, &spec.columns)?;
            toolflow::sim::arrow::input_matrix(&projected, None, input_len)
        }
    }
    .map_err(|e| e.to_string())
}

fn project(batch: &RecordBatch, columns: &[String]) -> Result<RecordBatch, String> {
    let indices = columns
        .iter()
        .map(|name| {
            batch
                .schema()
                .index_of(name)
                .map_err(|_| format!("the test split has no input column `{name}`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    batch.project(&indices).map_err(|e| e.to_string())
}

/// Append the scores of one batch to `out`.
#[allow(clippy::too_many_arguments)]
pub fn collect(
    out: &mut Collected,
    score_from: ScoreFrom,
    x: &[f32],
    y: &[f32],
    n: usize,
    input_len: usize,
    output_len: usize,
    labels: Vec<bool>,
    label_width: usize,
) -> Result<(), String> {
    let first_row = out.samples as i64;
    match score_from {
        ScoreFrom::ReconstructionError => {
            if output_len != input_len {
                return Err(format!(
                    "the challenge scores reconstruction error, so the model output must have the input's size ({input_len} values); it has {output_len}"
                ));
            }
            if label_width != 1 {
                return Err("reconstruction error gives one score per sample; the label must be a single value".into());
            }
            for (xs, ys) in x.chunks_exact(input_len).zip(y.chunks_exact(output_len)) {
                let sum: f64 = xs
                    .iter()
                    .zip(ys)
                    .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                    .sum();
                out.scores.push(sum / input_len as f64);
            }
        }
        ScoreFrom::Output => {
            if output_len != label_width {
                return Err(if label_width == 1 {
                    format!(
                        "the model gives {output_len} values per sample; this challenge scores one value (the anomaly score)"
                    )
                } else {
                    format!(
                        "the model gives {output_len} values per sample; this challenge scores {label_width}, one per label element"
                    )
                });
            }
            out.scores.extend(y.iter().map(|&v| f64::from(v)));
        }
    }
    for row in 0..n {
        for element in 0..label_width {
            out.rows.push(first_row + row as i64);
            out.elements.push(element as i64);
        }
    }
    out.labels.extend(labels);
    out.samples += n as u64;
    Ok(())
}
