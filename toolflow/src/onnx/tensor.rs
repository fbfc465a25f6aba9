//! Decoding of `TensorProto` constants into a plain f64 array.
//!
//! Every constant is held as f64: f32/f16 values are exact in f64, and the
//! integer tensors we meet (shapes, indices, bit widths) are far below 2^53.

use super::proto::{TensorProto, data_type as dt};
use crate::error::{Error, Result};

/// A constant tensor: row-major data with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
    /// Floating-point element type: arithmetic on it is rounded to f32, as ONNX runtimes do.
    pub float: bool,
}

impl Tensor {
    /// A tensor from shape and data; the caller guarantees the lengths agree.
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> Self {
        Tensor {
            shape,
            data,
            float: true,
        }
    }

    /// An integer tensor (shapes, indices).
    pub fn ints(shape: Vec<usize>, data: Vec<f64>) -> Self {
        Tensor {
            shape,
            data,
            float: false,
        }
    }

    /// A rank-0 tensor.
    pub fn scalar(v: f64) -> Self {
        Tensor {
            shape: vec![],
            data: vec![v],
            float: true,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The single value of a one-element tensor.
    pub fn single(&self) -> Option<f64> {
        (self.data.len() == 1).then(|| self.data[0])
    }

    /// Values as i64 (truncating); used for shapes, axes, indices.
    pub fn as_i64s(&self) -> Vec<i64> {
        self.data.iter().map(|&v| v as i64).collect()
    }
}

/// Product of dimensions with overflow and limit checks.
pub fn checked_numel(dims: &[usize], max: u64, what: &str) -> Result<usize> {
    let mut n: u64 = 1;
    for &d in dims {
        n = n
            .checked_mul(d as u64)
            .filter(|&v| v <= max)
            .ok_or_else(|| Error::Limit(format!("{what}: more than {max} elements ({dims:?})")))?;
    }
    Ok(n as usize)
}

/// Decodes an ONNX tensor; `max_elems` bounds the allocation.
pub fn decode(t: &TensorProto, max_elems: u64) -> Result<Tensor> {
    let name = &t.name;
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(Error::Invalid(format!(
            "tensor '{name}' uses external data; embed all weights in the .onnx file"
        )));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        let d = usize::try_from(d)
            .map_err(|_| Error::Invalid(format!("tensor '{name}' has negative dimension {d}")))?;
        shape.push(d);
    }
    let n = checked_numel(&shape, max_elems, &format!("tensor '{name}'"))?;
    let data = if !t.raw_data.is_empty() {
        decode_raw(t, n)?
    } else {
        decode_typed(t, n)?
    };
    if data.len() != n {
        return Err(Error::Invalid(format!(
            "tensor '{name}' has {} values for shape {shape:?} ({n} expected)",
            data.len()
        )));
    }
    let float = matches!(t.data_type, dt::FLOAT | dt::DOUBLE | dt::FLOAT16);
    Ok(Tensor { shape, data, float })
}

fn elem_size(data_type: i32) -> Option<usize> {
    Some(match data_type {
        dt::FLOAT | dt::INT32 | dt::UINT32 => 4,
        dt::DOUBLE | dt::INT64 | dt::UINT64 => 8,
        dt::INT16 | dt::UINT16 | dt::FLOAT16 => 2,
        dt::INT8 | dt::UINT8 | dt::BOOL => 1,
        _ => return None,
    })
}

fn decode_raw(t: &TensorProto, n: usize) -> Result<Vec<f64>> {
    let size = elem_size(t.data_type).ok_or_else(|| unsupported_type(t))?;
    let raw = &t.raw_data;
    if raw.len() != n.saturating_mul(size) {
        return Err(Error::Invalid(format!(
            "tensor '{}' raw_data has {} bytes, {} expected",
            t.name,
            raw.len(),
            n.saturating_mul(size)
        )));
    }
    let out = raw
        .chunks_exact(size)
        .map(|c| raw_value(t.data_type, c))
        .collect();
    Ok(out)
}

fn raw_value(data_type: i32, c: &[u8]) -> f64 {
    let mut b8 = [0u8; 8];
    b8[..c.len()].copy_from_slice(c);
    let u = u64::from_le_bytes(b8);
    match data_type {
        dt::FLOAT => f32::from_bits(u as u32) as f64,
        dt::DOUBLE => f64::from_bits(u),
        dt::INT64 => u as i64 as f64,
        dt::UINT64 => u as f64,
        dt::INT32 => u as u32 as i32 as f64,
        dt::UINT32 => u as u32 as f64,
        dt::INT16 => u as u16 as i16 as f64,
        dt::UINT16 => u as u16 as f64,
        dt::FLOAT16 => half_to_f64(u as u16),
        dt::INT8 => u as u8 as i8 as f64,
        _ => u as u8 as f64,
    }
}

fn decode_typed(t: &TensorProto, n: usize) -> Result<Vec<f64>> {
    let out: Vec<f64> = match t.data_type {
        dt::FLOAT => t.float_data.iter().map(|&v| v as f64).collect(),
        dt::DOUBLE => t.double_data.clone(),
        dt::INT64 => t.int64_data.iter().map(|&v| v as f64).collect(),
        dt::UINT32 | dt::UINT64 => t.uint64_data.iter().map(|&v| v as f64).collect(),
        dt::FLOAT16 => t
            .int32_data
            .iter()
            .map(|&v| half_to_f64(v as u16))
            .collect(),
        dt::INT32 | dt::INT16 | dt::UINT16 | dt::INT8 | dt::UINT8 | dt::BOOL => {
            t.int32_data.iter().map(|&v| v as f64).collect()
        }
        _ => return Err(unsupported_type(t)),
    };
    // An empty typed field with n == 0 is fine; otherwise the caller checks the length.
    let _ = n;
    Ok(out)
}

fn unsupported_type(t: &TensorProto) -> Error {
    Error::Invalid(format!(
        "tensor '{}' has unsupported data type {}",
        t.name, t.data_type
    ))
}

/// IEEE half precision to f64 (exact).
pub fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let man = (h & 0x3ff) as f64;
    match exp {
        0 => sign * man * 2f64.powi(-24),
        31 if man == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + man / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_float_and_int64() {
        let t = TensorProto {
            dims: vec![2],
            data_type: dt::FLOAT,
            raw_data: [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat(),
            ..Default::default()
        };
        assert_eq!(decode(&t, 100).unwrap().data, vec![1.5, -2.0]);
        let t = TensorProto {
            dims: vec![],
            data_type: dt::INT64,
            int64_data: vec![-7],
            ..Default::default()
        };
        assert_eq!(decode(&t, 100).unwrap().data, vec![-7.0]);
    }

    #[test]
    fn length_mismatch_and_external() {
        let t = TensorProto {
            dims: vec![3],
            data_type: dt::FLOAT,
            float_data: vec![1.0],
            ..Default::default()
        };
        assert!(decode(&t, 100).is_err());
        let t = TensorProto {
            dims: vec![1],
            data_type: dt::FLOAT,
            data_location: 1,
            ..Default::default()
        };
        assert!(
            decode(&t, 100)
                .unwrap_err()
                .to_string()
                .contains("external")
        );
    }

    #[test]
    fn half() {
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x0001), 2f64.powi(-24));
    }
}
