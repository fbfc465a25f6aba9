//! Per-column statistics: count, nulls, min, max, mean, std, a fixed-bin histogram, and
//! value counts (label balance for label columns, top values for strings). Tensor columns
//! are summarised over all their elements.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Float64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::{Dtype, FeatureSpec, Role};

/// Number of equal-width histogram bins between min and max.
pub const HISTOGRAM_BINS: usize = 20;
/// Value counts are kept only while a column has at most this many distinct values.
pub const MAX_DISTINCT: usize = 100;

/// Equal-width histogram: `counts[i]` counts values in `[edges[i], edges[i+1])`, the last
/// bin being closed on the right.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Statistics of one column over one file or one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub name: String,
    pub dtype: Option<Dtype>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shape: Vec<usize>,
    pub role: Role,
    /// Non-null values (elements for tensors), NaN included.
    pub count: u64,
    /// Null values (a null tensor row counts as `elements` nulls).
    pub nulls: u64,
    /// NaN values (floating point only); excluded from min/max/mean/std/histogram.
    pub nans: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// Population standard deviation.
    pub std: Option<f64>,
    pub histogram: Option<Histogram>,
    /// Label balance (value -> count over all elements), for label columns with at most
    /// [`MAX_DISTINCT`] distinct values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_balance: Option<BTreeMap<String, u64>>,
    /// Value counts of string columns with at most [`MAX_DISTINCT`] distinct values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_counts: Option<BTreeMap<String, u64>>,
}

/// Elements of one column as a flat array plus the number of elements per row.
fn flat(column: &ArrayRef) -> (ArrayRef, usize, Option<&FixedSizeListArray>) {
    match column.data_type() {
        DataType::FixedSizeList(_, n) => {
            let fsl = column.as_fixed_size_list();
            (fsl.values().clone(), (*n).max(0) as usize, Some(fsl))
        }
        _ => (column.clone(), 1, None),
    }
}

fn numeric_view(values: &ArrayRef) -> Result<Option<Float64Array>> {
    let dt = values.data_type();
    let casted = match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => return Ok(None),
        DataType::Date32 => cast(&cast(values, &DataType::Int32)?, &DataType::Float64)?,
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64 => cast(values, &DataType::Float64)?,
        _ => return Ok(None),
    };
    Ok(Some(
        casted
            .as_primitive::<arrow::datatypes::Float64Type>()
            .clone(),
    ))
}

fn value_key(values: &ArrayRef, i: usize) -> Option<String> {
    match values.data_type() {
        DataType::Boolean => Some(values.as_boolean().value(i).to_string()),
        DataType::Utf8 => Some(values.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Some(values.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Some(values.as_string_view().value(i).to_string()),
        _ => arrow::util::display::array_value_to_string(values, i).ok(),
    }
}

/// Whether element `e` of a flattened column is null (its own null or its row's).
fn element_is_null(
    values: &ArrayRef,
    per_row: usize,
    fsl: Option<&FixedSizeListArray>,
    e: usize,
) -> bool {
    values.is_null(e) || fsl.is_some_and(|l| per_row > 0 && l.is_null(e / per_row))
}

struct Acc {
    count: u64,
    nulls: u64,
    nans: u64,
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    m2: f64,
    hist: Vec<u64>,
    counts: HashMap<String, u64>,
    counts_overflow: bool,
}

impl Acc {
    fn new() -> Self {
        Acc {
            count: 0,
            nulls: 0,
            nans: 0,
            n: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            m2: 0.0,
            hist: vec![0; HISTOGRAM_BINS],
            counts: HashMap::new(),
            counts_overflow: false,
        }
    }
}

fn spec_for(schema: &Schema, i: usize, features: Option<&[FeatureSpec]>) -> Option<FeatureSpec> {
    let field = schema.field(i);
    features
        .and_then(|fs| fs.iter().find(|f| &f.name == field.name()).cloned())
        .or_else(|| FeatureSpec::from_arrow_field(field))
}

/// Statistics of every column of `batches` (all sharing `schema`), in schema order. Roles
/// and shapes come from `features` when given, otherwise from the Arrow field metadata.
pub fn compute_stats(
    schema: &Schema,
    batches: &[RecordBatch],
    features: Option<&[FeatureSpec]>,
) -> Result<Vec<ColumnStats>> {
    let mut out = Vec::with_capacity(schema.fields().len());
    for (ci, field) in schema.fields().iter().enumerate() {
        let spec = spec_for(schema, ci, features);
        let role = spec.as_ref().map(|s| s.role).unwrap_or_default();
        let want_counts = role == Role::Label
            || matches!(
                spec.as_ref().map(|s| s.dtype),
                Some(Dtype::String) | Some(Dtype::Bool)
            );
        let mut acc = Acc::new();
        // Pass 1: counts, min, max, sum, value counts.
        for batch in batches {
            let column = batch.column(ci);
            let (values, per_row, fsl) = flat(column);
            let numeric = numeric_view(&values)?;
            for e in 0..values.len() {
                if element_is_null(&values, per_row, fsl, e) {
                    acc.nulls += 1;
                    continue;
                }
                acc.count += 1;
                if want_counts
                    && !acc.counts_overflow
                    && let Some(k) = value_key(&values, e)
                {
                    *acc.counts.entry(k).or_insert(0) += 1;
                    if acc.counts.len() > MAX_DISTINCT {
                        acc.counts_overflow = true;
                        acc.counts.clear();
                    }
                }
                if let Some(num) = &numeric {
                    let v = num.value(e);
                    if v.is_nan() {
                        acc.nans += 1;
                    } else {
                        acc.n += 1;
                        acc.sum += v;
                        acc.min = acc.min.min(v);
                        acc.max = acc.max.max(v);
                    }
                }
            }
        }
        let has_numeric = acc.n > 0;
        let mean = if has_numeric {
            acc.sum / acc.n as f64
        } else {
            0.0
        };
        let width = (acc.max - acc.min) / HISTOGRAM_BINS as f64;
        // Pass 2: centred second moment and histogram.
        if has_numeric {
            for batch in batches {
                let column = batch.column(ci);
                let (values, per_row, fsl) = flat(column);
                let Some(num) = numeric_view(&values)? else {
                    continue;
                };
                for e in 0..values.len() {
                    if element_is_null(&values, per_row, fsl, e) {
                        continue;
                    }
                    let v = num.value(e);
                    if v.is_nan() {
                        continue;
                    }
                    acc.m2 += (v - mean) * (v - mean);
                    let bin = if width > 0.0 {
                        (((v - acc.min) / width) as usize).min(HISTOGRAM_BINS - 1)
                    } else {
                        0
                    };
                    acc.hist[bin] += 1;
                }
            }
        }
        let counts = if want_counts && !acc.counts_overflow && acc.count > 0 {
            Some(acc.counts.into_iter().collect::<BTreeMap<_, _>>())
        } else {
            None
        };
        let is_string = matches!(spec.as_ref().map(|s| s.dtype), Some(Dtype::String));
        out.push(ColumnStats {
            name: field.name().clone(),
            dtype: spec.as_ref().map(|s| s.dtype),
            shape: spec.as_ref().map(|s| s.shape.clone()).unwrap_or_default(),
            role,
            count: acc.count,
            nulls: acc.nulls,
            nans: acc.nans,
            min: has_numeric.then_some(acc.min),
            max: has_numeric.then_some(acc.max),
            mean: has_numeric.then_some(mean),
            std: has_numeric.then(|| (acc.m2 / acc.n as f64).sqrt()),
            histogram: has_numeric.then(|| Histogram {
                edges: (0..=HISTOGRAM_BINS)
                    .map(|i| {
                        if i == HISTOGRAM_BINS {
                            acc.max
                        } else {
                            acc.min + width * i as f64
                        }
                    })
                    .collect(),
                counts: acc.hist.clone(),
            }),
            label_balance: if role == Role::Label {
                counts.clone()
            } else {
                None
            },
            value_counts: if role != Role::Label && is_string {
                counts
            } else {
                None
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Float32Array, Int64Array, StringArray};
    use arrow::datatypes::Field;
    use std::sync::Arc;

    #[test]
    fn scalar_and_tensor_by_hand() {
        let x = FeatureSpec::tensor("x", Dtype::Float32, &[2], Role::Feature, "");
        let y = FeatureSpec::scalar("y", Dtype::Bool, Role::Label, "");
        let k = FeatureSpec::scalar("k", Dtype::String, Role::Extra, "");
        let id = FeatureSpec::scalar("id", Dtype::Int64, Role::Id, "");
        let schema = crate::model::arrow_schema(&[id.clone(), x.clone(), y.clone(), k.clone()]);
        let xs = FixedSizeListArray::new(
            Arc::new(Field::new("item", DataType::Float32, true)),
            2,
            Arc::new(Float32Array::from(vec![
                Some(1.0),
                Some(2.0),
                Some(3.0),
                None,
                Some(f32::NAN),
                Some(5.0),
            ])),
            None,
        );
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(xs),
                Arc::new(BooleanArray::from(vec![true, false, false])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("a")])),
            ],
        )
        .expect("batch");
        let s = compute_stats(&schema, &[batch], None).expect("stats");
        let xs = &s[1];
        assert_eq!((xs.count, xs.nulls, xs.nans), (5, 1, 1));
        assert_eq!(xs.min, Some(1.0));
        assert_eq!(xs.max, Some(5.0));
        let mean = (1.0 + 2.0 + 3.0 + 5.0) / 4.0;
        assert_eq!(xs.mean, Some(mean));
        let var = [1.0f64, 2.0, 3.0, 5.0]
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>()
            / 4.0;
        assert!((xs.std.unwrap_or_default() - var.sqrt()).abs() < 1e-12);
        let h = xs.histogram.as_ref().expect("histogram");
        assert_eq!(h.counts.iter().sum::<u64>(), 4);
        assert_eq!(h.counts[0], 1);
        assert_eq!(h.counts[HISTOGRAM_BINS - 1], 1);
        let ys = &s[2];
        let lb = ys.label_balance.as_ref().expect("balance");
        assert_eq!(lb.get("true"), Some(&1));
        assert_eq!(lb.get("false"), Some(&2));
        assert_eq!(ys.mean, Some(1.0 / 3.0));
        let ks = &s[3];
        assert_eq!((ks.count, ks.nulls), (2, 1));
        assert_eq!(ks.value_counts.as_ref().and_then(|v| v.get("a")), Some(&2));
        assert!(ks.mean.is_none());
    }
}
