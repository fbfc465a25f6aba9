//! Validation of data against the declared features: column presence and types, tensor
//! shapes, labels without nulls or NaN, ids non-null and unique across all splits.
//!
//! Errors name the file, the column and (when one record is at fault) the 0-based row
//! index inside the file.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, GenericListArray, OffsetSizeTrait,
};
use arrow::datatypes::{DataType, Field, Float32Type, Float64Type, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{DatasetError, Result};
use crate::model::{Dtype, FeatureSpec, Role, SplitName, arrow_schema};

/// Checks one batch of `file` against `features` and returns it in canonical form: columns
/// in declaration order, the declared Arrow types, role/shape metadata attached. Variable
/// `List` columns whose rows all have the declared element count are converted to
/// `FixedSizeList`. `row_offset` is the index of the batch's first row inside the file.
pub fn conform_batch(
    file: &str,
    batch: &RecordBatch,
    features: &[FeatureSpec],
    row_offset: usize,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    for f in schema.fields() {
        if !features.iter().any(|d| &d.name == f.name()) {
            return Err(DatasetError::validation(
                file,
                f.name(),
                None,
                "column is not declared in the manifest features",
            ));
        }
    }
    let target: SchemaRef = arrow_schema(features);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(features.len());
    for spec in features {
        let Some((idx, _)) = schema.column_with_name(&spec.name) else {
            return Err(DatasetError::validation(
                file,
                &spec.name,
                None,
                "declared column is missing",
            ));
        };
        let col = conform_column(file, spec, batch.column(idx), row_offset)?;
        check_values(file, spec, &col, row_offset)?;
        columns.push(col);
    }
    Ok(RecordBatch::try_new(target, columns)?)
}

fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::FixedSizeList(item, n) => format!("FixedSizeList({n} x {})", item.data_type()),
        other => other.to_string(),
    }
}

fn conform_column(
    file: &str,
    spec: &FeatureSpec,
    col: &ArrayRef,
    row_offset: usize,
) -> Result<ArrayRef> {
    let want_item = spec.dtype.arrow();
    if !spec.is_tensor() {
        let same = col.data_type() == &want_item
            || (spec.dtype == Dtype::String
                && Dtype::from_arrow(col.data_type()) == Some(Dtype::String));
        if !same {
            return Err(DatasetError::validation(
                file,
                &spec.name,
                None,
                format!(
                    "expected {} ({}), found {}",
                    spec.dtype,
                    type_name(&want_item),
                    type_name(col.data_type())
                ),
            ));
        }
        if col.data_type() != &want_item {
            return Ok(arrow::compute::cast(col, &want_item)?);
        }
        return Ok(col.clone());
    }
    let n = spec.elements();
    let item_field = Arc::new(Field::new("item", want_item.clone(), true));
    let mismatch = |found: &DataType| {
        DatasetError::validation(
            file,
            &spec.name,
            None,
            format!(
                "expected tensor of {} with shape {:?} (FixedSizeList({n} x {})), found {}",
                spec.dtype,
                spec.shape,
                want_item,
                type_name(found)
            ),
        )
    };
    match col.data_type() {
        DataType::FixedSizeList(item, size) => {
            if item.data_type() != &want_item {
                return Err(mismatch(col.data_type()));
            }
            if *size as usize != n {
                return Err(DatasetError::validation(
                    file,
                    &spec.name,
                    None,
                    format!(
                        "shape {:?} needs {n} elements per row, file has {size}",
                        spec.shape
                    ),
                ));
            }
            let fsl = col.as_fixed_size_list();
            Ok(Arc::new(FixedSizeListArray::try_new(
                item_field,
                *size,
                fsl.values().clone(),
                fsl.nulls().cloned(),
            )?))
        }
        DataType::List(item) if item.data_type() == &want_item => {
            list_to_fixed(file, spec, col.as_list::<i32>(), item_field, row_offset)
        }
        DataType::LargeList(item) if item.data_type() == &want_item => {
            list_to_fixed(file, spec, col.as_list::<i64>(), item_field, row_offset)
        }
        other => Err(mismatch(other)),
    }
}

fn list_to_fixed<O: OffsetSizeTrait>(
    file: &str,
    spec: &FeatureSpec,
    list: &GenericListArray<O>,
    item_field: Arc<Field>,
    row_offset: usize,
) -> Result<ArrayRef> {
    let n = spec.elements();
    let offsets = list.value_offsets();
    let mut pieces: Vec<ArrayRef> = Vec::with_capacity(list.len());
    let null_row = arrow::array::new_null_array(item_field.data_type(), n);
    for row in 0..list.len() {
        if list.is_null(row) {
            pieces.push(null_row.clone());
            continue;
        }
        let len = (offsets[row + 1] - offsets[row]).as_usize();
        if len != n {
            return Err(DatasetError::validation(
                file,
                &spec.name,
                Some(row_offset + row),
                format!("has {len} elements, shape {:?} needs {n}", spec.shape),
            ));
        }
        pieces.push(list.value(row));
    }
    let refs: Vec<&dyn Array> = pieces.iter().map(|a| a.as_ref()).collect();
    let values = if refs.is_empty() {
        arrow::array::new_empty_array(item_field.data_type())
    } else {
        arrow::compute::concat(&refs)?
    };
    Ok(Arc::new(FixedSizeListArray::try_new(
        item_field,
        n as i32,
        values,
        list.nulls().cloned(),
    )?))
}

/// Label and id columns: no nulls (row or element); float labels: no NaN.
fn check_values(file: &str, spec: &FeatureSpec, col: &ArrayRef, row_offset: usize) -> Result<()> {
    if !matches!(spec.role, Role::Label | Role::Id) {
        return Ok(());
    }
    let per_row = spec.elements();
    if let Some(row) = (0..col.len()).find(|&r| col.is_null(r)) {
        return Err(DatasetError::validation(
            file,
            &spec.name,
            Some(row_offset + row),
            format!("{} must not be null", spec.role.as_str()),
        ));
    }
    let values: ArrayRef = if spec.is_tensor() {
        col.as_fixed_size_list().values().clone()
    } else {
        col.clone()
    };
    if let Some(e) = (0..values.len()).find(|&e| values.is_null(e)) {
        return Err(DatasetError::validation(
            file,
            &spec.name,
            Some(row_offset + e / per_row.max(1)),
            format!("{} must not contain null elements", spec.role.as_str()),
        ));
    }
    let nan_at = match values.data_type() {
        DataType::Float32 => values
            .as_primitive::<Float32Type>()
            .values()
            .iter()
            .position(|v| v.is_nan()),
        DataType::Float64 => values
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .position(|v| v.is_nan()),
        _ => None,
    };
    if let Some(e) = nan_at {
        return Err(DatasetError::validation(
            file,
            &spec.name,
            Some(row_offset + e / per_row.max(1)),
            format!("{} must not be NaN", spec.role.as_str()),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum IdKey {
    Int(i128),
    Str(String),
}

/// Remembers every id seen so far and rejects duplicates, within or across splits.
#[derive(Debug, Default)]
pub struct IdTracker {
    seen: HashMap<IdKey, (SplitName, Arc<str>, usize)>,
}

impl IdTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct ids seen.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Registers the ids of column `column` of a conformed batch.
    pub fn add(
        &mut self,
        split: SplitName,
        file: &str,
        column: &str,
        ids: &ArrayRef,
        row_offset: usize,
    ) -> Result<()> {
        let file_arc: Arc<str> = Arc::from(file);
        for row in 0..ids.len() {
            let key = id_key(ids, row).ok_or_else(|| {
                DatasetError::validation(
                    file,
                    column,
                    Some(row_offset + row),
                    "id must be a non-null integer or string",
                )
            })?;
            if let Some((s, f, r)) = self.seen.get(&key) {
                return Err(DatasetError::validation(
                    file,
                    column,
                    Some(row_offset + row),
                    format!(
                        "duplicate id {key:?}: already in split {s} (file {f}, row {r}); splits must be disjoint by id"
                    ),
                ));
            }
            self.seen
                .insert(key, (split, file_arc.clone(), row_offset + row));
        }
        Ok(())
    }
}

fn id_key(a: &ArrayRef, i: usize) -> Option<IdKey> {
    use arrow::datatypes::*;
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Int8 => IdKey::Int(a.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => IdKey::Int(a.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => IdKey::Int(a.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => IdKey::Int(a.as_primitive::<Int64Type>().value(i).into()),
        DataType::UInt8 => IdKey::Int(a.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => IdKey::Int(a.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => IdKey::Int(a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => IdKey::Int(a.as_primitive::<UInt64Type>().value(i).into()),
        DataType::Utf8 => IdKey::Str(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => IdKey::Str(a.as_string::<i64>().value(i).to_string()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Float32Array, Int64Array, ListArray};
    use arrow::datatypes::{Float32Type, Schema};

    fn features() -> Vec<FeatureSpec> {
        vec![
            FeatureSpec::scalar("id", Dtype::Int64, Role::Id, ""),
            FeatureSpec::tensor("x", Dtype::Float32, &[2], Role::Feature, ""),
            FeatureSpec::scalar("y", Dtype::Float32, Role::Label, ""),
        ]
    }

    fn batch(x: ListArray, y: Vec<f32>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("x", x.data_type().clone(), true),
            Field::new("y", DataType::Float32, true),
        ]));
        let n = y.len() as i64;
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from((0..n).collect::<Vec<_>>())),
                Arc::new(x),
                Arc::new(Float32Array::from(y)),
            ],
        )
        .expect("batch")
    }

    #[test]
    fn list_converted_and_shape_checked() {
        let ok = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            Some(vec![Some(3.0), Some(4.0)]),
        ]);
        let b = conform_batch("f", &batch(ok, vec![0.0, 1.0]), &features(), 0).expect("ok");
        assert!(matches!(
            b.column(1).data_type(),
            DataType::FixedSizeList(_, 2)
        ));
        let bad = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            Some(vec![Some(3.0)]),
        ]);
        let err = conform_batch("f", &batch(bad, vec![0.0, 1.0]), &features(), 10)
            .expect_err("bad shape");
        match err {
            DatasetError::Validation { column, row, .. } => {
                assert_eq!(column, "x");
                assert_eq!(row, Some(11));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn nan_label_rejected() {
        let x = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            Some(vec![Some(3.0), Some(4.0)]),
        ]);
        let err =
            conform_batch("f", &batch(x, vec![0.0, f32::NAN]), &features(), 0).expect_err("nan");
        assert!(err.to_string().contains("column `y`, row 1"), "{err}");
    }

    #[test]
    fn wrong_type_and_undeclared() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("y", DataType::Boolean, false),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1])),
                Arc::new(BooleanArray::from(vec![true])),
            ],
        )
        .expect("batch");
        let f = vec![
            FeatureSpec::scalar("id", Dtype::Int64, Role::Id, ""),
            FeatureSpec::scalar("y", Dtype::Float32, Role::Label, ""),
        ];
        let err = conform_batch("f", &b, &f, 0).expect_err("type");
        assert!(err.to_string().contains("expected float32"), "{err}");
        let err = conform_batch("f", &b, &f[..1], 0).expect_err("undeclared");
        assert!(err.to_string().contains("not declared"), "{err}");
    }

    #[test]
    fn duplicate_ids_across_splits() {
        let mut t = IdTracker::new();
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![4, 2]));
        t.add(SplitName::Train, "train.parquet", "id", &a, 0)
            .expect("first");
        let err = t
            .add(SplitName::Validation, "val.parquet", "id", &b, 0)
            .expect_err("dup");
        let msg = err.to_string();
        assert!(msg.contains("val.parquet: column `id`, row 1"), "{msg}");
        assert!(msg.contains("split train"), "{msg}");
    }
}
