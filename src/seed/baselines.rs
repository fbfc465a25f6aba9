//! Baseline models for the demo challenges, fitted here in Rust on each
//! dataset's training split and written as ONNX with a precision
//! configuration, so every demo leaderboard starts with a real entry that went
//! through the same toolflow as everyone else's.
//!
//! - `pca_autoencoder`: project onto the top principal components of the
//!   training data and back; the challenge scores the reconstruction error.
//! - `last_day_threshold`: per station, the sea-level anomaly of the target day
//!   minus the threshold that best separates flood days in training.

use anyhow::Context;
use arrow::array::{Array, AsArray, FixedSizeListArray};
use arrow::datatypes::Float32Type;
use arrow::record_batch::RecordBatch;
use toolflow::onnx::build::ModelBuilder;

/// A baseline: the ONNX model and its precision configuration.
pub struct Baseline {
    pub name: &'static str,
    pub description: String,
    pub onnx: Vec<u8>,
    pub config: String,
}

/// Rows of a FixedSizeList<Float32> column as (values, width).
pub fn matrix(batch: &RecordBatch, column: &str) -> anyhow::Result<(Vec<f32>, usize)> {
    let array = batch
        .column_by_name(column)
        .with_context(|| format!("no column `{column}`"))?;
    let list = array
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .with_context(|| format!("column `{column}` is not a fixed-size list"))?;
    let width = list.value_length() as usize;
    let values = list
        .values()
        .as_primitive_opt::<Float32Type>()
        .with_context(|| format!("`{column}` is not float32"))?;
    Ok((values.values().to_vec(), width))
}

/// Mean and the top `k` principal directions (unit columns of a d x k matrix,
/// row-major) of `rows` (n x d), by power iteration with deflation on the
/// covariance. Deterministic: fixed start vectors.
pub fn principal_components(rows: &[f32], d: usize, k: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = (rows.len() / d).max(1);
    let mut mean = vec![0.0f64; d];
    for row in rows.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0f64; d * d];
    let mut centred = vec![0.0f64; d];
    for row in rows.chunks_exact(d) {
        for (c, (&v, m)) in centred.iter_mut().zip(row.iter().zip(&mean)) {
            *c = f64::from(v) - m;
        }
        for i in 0..d {
            let ci = centred[i];
            let line = &mut cov[i * d..(i + 1) * d];
            for (slot, &cj) in line.iter_mut().zip(&centred) {
                *slot += ci * cj;
            }
        }
    }
    cov.iter_mut().for_each(|c| *c /= n as f64);
    let mut components = Vec::with_capacity(k);
    for c in 0..k {
        let mut v: Vec<f64> = (0..d)
            .map(|i| 1.0 + ((i * 7 + c * 13) % 11) as f64 / 11.0)
            .collect();
        for _ in 0..200 {
            let mut next = vec![0.0f64; d];
            for (i, out) in next.iter_mut().enumerate() {
                *out = cov[i * d..(i + 1) * d]
                    .iter()
                    .zip(&v)
                    .map(|(a, b)| a * b)
                    .sum();
            }
            normalize(&mut next);
            v = next;
        }
        let lambda: f64 = (0..d)
            .map(|i| {
                v[i] * cov[i * d..(i + 1) * d]
                    .iter()
                    .zip(&v)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            })
            .sum();
        for i in 0..d {
            for j in 0..d {
                cov[i * d + j] -= lambda * v[i] * v[j];
            }
        }
        components.push(v);
    }
    (mean, components)
}

fn normalize(v: &mut [f64]) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
    v.iter_mut().for_each(|x| *x /= norm);
}

/// x -> (x - mean) V V^T + mean, on an input of `shape` (without batch).
pub fn pca_autoencoder(
    train: &RecordBatch,
    shape: &[usize],
    k: usize,
    config: &str,
) -> anyhow::Result<Baseline> {
    let (rows, d) = matrix(train, "x")?;
    anyhow::ensure!(
        d == shape.iter().product::<usize>(),
        "input width {d} does not match the shape {shape:?}"
    );
    let (mean, components) = principal_components(&rows, d, k);
    let mut input_shape = vec![1i64];
    input_shape.extend(shape.iter().map(|&s| s as i64));
    let encoder: Vec<f32> = (0..d)
        .flat_map(|i| components.iter().map(move |c| c[i] as f32))
        .collect();
    let decoder: Vec<f32> = components
        .iter()
        .flat_map(|c| c.iter().map(|&v| v as f32))
        .collect();
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let negative_mean: Vec<f32> = mean32.iter().map(|m| -m).collect();
    let onnx = ModelBuilder::new("x", &input_shape)
        .init_i64("shape", &[2], &[1, d as i64])
        .init("neg_mean", &[d as i64], &negative_mean)
        .init("encoder", &[d as i64, k as i64], &encoder)
        .init("decoder", &[k as i64, d as i64], &decoder)
        .init("mean", &[d as i64], &mean32)
        .node("Reshape", &["x", "shape"], &["flat"], vec![])
        .node("Add", &["flat", "neg_mean"], &["centred"], vec![])
        .node("MatMul", &["centred", "encoder"], &["code"], vec![])
        .node("MatMul", &["code", "decoder"], &["decoded"], vec![])
        .node("Add", &["decoded", "mean"], &["y"], vec![])
        .output("y")
        .bytes();
    Ok(Baseline {
        name: "pca-autoencoder",
        description: format!(
            "PCA autoencoder with {k} components fitted on the training split; score = reconstruction error."
        ),
        onnx,
        config: config.to_owned(),
    })
}

/// Per station s: y_s = x[s, last day] - t_s, with t_s the training threshold
/// of best F1 for that station's flood flag.
pub fn last_day_threshold(
    train: &RecordBatch,
    stations: usize,
    days: usize,
    config: &str,
) -> anyhow::Result<Baseline> {
    let (rows, d) = matrix(train, "x")?;
    anyhow::ensure!(
        d == stations * days,
        "x has {d} values per row, expected {stations} x {days}"
    );
    let floods = train
        .column_by_name("floods")
        .context("no column `floods`")?;
    let floods = floods
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .context("`floods` is not a list")?;
    let flags = floods
        .values()
        .as_boolean_opt()
        .context("`floods` is not boolean")?;
    let mut thresholds = Vec::with_capacity(stations);
    for s in 0..stations {
        let mut pairs: Vec<(f32, bool)> = rows
            .chunks_exact(d)
            .enumerate()
            .map(|(r, row)| (row[s * days + days - 1], flags.value(r * stations + s)))
            .collect();
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let positives = pairs.iter().filter(|p| p.1).count().max(1);
        let (mut tp, mut best, mut best_t) =
            (0usize, -1.0f64, pairs.first().map_or(0.0, |p| p.0 + 1.0));
        for (i, &(value, flag)) in pairs.iter().enumerate() {
            tp += usize::from(flag);
            let f1 = 2.0 * tp as f64 / (positives + i + 1) as f64;
            if f1 > best {
                best = f1;
                best_t = value;
            }
        }
        thresholds.push(best_t);
    }
    let mut select = vec![0.0f32; d * stations];
    for s in 0..stations {
        select[(s * days + days - 1) * stations + s] = 1.0;
    }
    // On the 2^-10 grid of the fixed<16,6> configuration, so the threshold is exact.
    let negative: Vec<f32> = thresholds
        .iter()
        .map(|t| -(t * 1024.0).round() / 1024.0)
        .collect();
    let onnx = ModelBuilder::new("x", &[1, stations as i64, days as i64])
        .init_i64("shape", &[2], &[1, d as i64])
        .init("select", &[d as i64, stations as i64], &select)
        .init("neg_threshold", &[stations as i64], &negative)
        .node("Reshape", &["x", "shape"], &["flat"], vec![])
        .node("MatMul", &["flat", "select"], &["last"], vec![])
        .node("Add", &["last", "neg_threshold"], &["y"], vec![])
        .output("y")
        .bytes();
    Ok(Baseline {
        name: "last-day-threshold",
        description: "Per station, the target day's sea-level anomaly above the training threshold of best F1.".into(),
        onnx,
        config: config.to_owned(),
    })
}
