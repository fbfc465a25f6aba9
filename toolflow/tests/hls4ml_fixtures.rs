//! Bit-exactness against hls4ml's C simulation (issues 3 and 17).
//!
//! Every `tests/hls4ml/NAME.onnx` is a float (or QONNX) ONNX model with the
//! configurations hls4ml 1.3 wrote and was given, `NAME.model.yaml`
//! (`config_from_onnx_model(granularity='model')`) and `NAME.name.yaml`
//! (granularity `name`, with the fixture's overrides), read as they are;
//! `NAME.parquet` has the inputs `x` and hls4ml's `compile(); predict()`
//! outputs `y_model` / `y_name` (and `y_qonnx`, qonnx's execution, for a
//! QONNX model: the toolflow without a configuration); `NAME.json` has
//! versions, hls4ml's resolved types and notes. The fixtures are written by
//! `python/make_hls4ml_fixtures.py` and `python/make_hls4ml_harness_fixtures.py`
//! (see `tests/hls4ml/README.md`). The simulator must reproduce every column
//! exactly on every row; mismatches are counted per fixture and
//! configuration and the first ones are printed with their size in output LSBs.
//!
//! A fixture whose JSON has a non-empty `known_divergence` demonstrates a
//! documented difference between hls4ml and the toolflow: it is expected to
//! mismatch, is reported as KNOWN, and fails the test only if it matches
//! exactly (then the divergence is gone and the fixture should become a
//! regular one: regenerate it without `known_divergence`).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, FixedSizeListArray, Float32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use toolflow::{Limits, PrecisionConfig, compile};

/// `tests/hls4ml`, or the directory in `HLS4ML_FIXTURES` (for trying out new fixtures).
fn fixture_dir() -> PathBuf {
    std::env::var_os("HLS4ML_FIXTURES").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join("hls4ml")
        },
        PathBuf::from,
    )
}

fn fixtures() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(fixture_dir()) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    v.sort();
    v
}

/// Values of a FixedSizeList<Float32> column: (list size, flat values).
fn list_values(a: &dyn Array) -> Result<(usize, Vec<f32>), String> {
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

/// Reads the FixedSizeList<Float32> columns of a fixture: name -> (list size, values).
fn read_columns(
    path: &Path,
) -> Result<std::collections::HashMap<String, (usize, Vec<f32>)>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut cols: std::collections::HashMap<String, (usize, Vec<f32>)> = Default::default();
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

/// Outcome of one fixture.
struct Outcome {
    name: String,
    known: String,
    rows: usize,
    values: usize,
    mismatches: usize,
    first: Vec<String>,
}

/// The configurations of a fixture: `NAME.<g>.yaml` (column `y_<g>`), and
/// none (column `y_qonnx`, qonnx's own execution of a QONNX model) when the
/// fixture has that column.
fn configs(onnx: &Path) -> Vec<(Option<PathBuf>, String, String)> {
    let stem = onnx
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let dir = onnx.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut v = Vec::new();
    let has_qonnx = read_columns(&onnx.with_extension("parquet"))
        .map(|c| c.contains_key("y_qonnx"))
        .unwrap_or(false);
    if has_qonnx {
        v.push((None, "y_qonnx".to_string(), format!("{stem} [qonnx]")));
    }
    for g in ["model", "name", "type"] {
        let p = dir.join(format!("{stem}.{g}.yaml"));
        if p.exists() {
            v.push((Some(p), format!("y_{g}"), format!("{stem} [{g}]")));
        }
    }
    v
}

fn check(onnx: &Path, yaml: Option<&Path>, column: &str, name: &str) -> Result<Outcome, String> {
    let stem = onnx
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let name = name.to_string();
    let meta: serde_json::Value = std::fs::read_to_string(onnx.with_extension("json"))
        .map_err(|e| format!("{stem}.json: {e}"))
        .and_then(|s| serde_json::from_str(&s).map_err(|e| format!("{stem}.json: {e}")))?;
    let g = column.strip_prefix("y_").unwrap_or("");
    let lsb = meta["lsb"]
        .as_f64()
        .or_else(|| meta[g]["lsb"].as_f64())
        .unwrap_or(0.0);
    let cfg = match yaml {
        Some(y) => {
            let text = std::fs::read_to_string(y).map_err(|e| format!("{name}: {e}"))?;
            Some(PrecisionConfig::parse(&text).map_err(|e| format!("{name}: config: {e}"))?)
        }
        None => None,
    };
    let bytes = std::fs::read(onnx).map_err(|e| format!("{name}: {e}"))?;
    let model = compile(&bytes, cfg.as_ref(), &Limits::default())
        .map_err(|e| format!("{name}: compile: {e}"))?;
    let cols = read_columns(&onnx.with_extension("parquet"))?;
    let (xw, x) = cols
        .get("x")
        .cloned()
        .ok_or(format!("{name}: no column x"))?;
    let (yw, want) = cols
        .get(column)
        .cloned()
        .ok_or(format!("{name}: no column {column}"))?;
    if xw != model.input_len() || yw != model.output_len() {
        return Err(format!(
            "{name}: fixture rows have {xw} inputs / {yw} outputs, the model {} / {}",
            model.input_len(),
            model.output_len()
        ));
    }
    let rows = x.len() / xw.max(1);
    let got = model
        .simulate_f32(&x, rows)
        .map_err(|e| format!("{name}: simulate: {e}"))?;
    let known = meta["known_divergence"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut out = Outcome {
        name,
        known,
        rows,
        values: want.len(),
        mismatches: 0,
        first: Vec::new(),
    };
    let mut bad_rows = std::collections::BTreeSet::new();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if g != w {
            out.mismatches += 1;
            bad_rows.insert(i / yw);
            if out.first.len() < 5 {
                let lsbs = if lsb > 0.0 {
                    format!(" ({:+} LSB)", (*g as f64 - *w as f64) / lsb)
                } else {
                    String::new()
                };
                out.first.push(format!(
                    "row {} element {}: toolflow {g}, hls4ml {w}{lsbs}",
                    i / yw,
                    i % yw
                ));
            }
        }
    }
    if !bad_rows.is_empty() {
        out.first
            .push(format!("{} of {rows} rows differ", bad_rows.len()));
    }
    Ok(out)
}

#[test]
fn hls4ml_csim_fixtures_are_reproduced_bit_exactly() {
    let all = fixtures();
    if all.is_empty() {
        eprintln!(
            "SKIP: no fixtures in {} (generate them with python/make_hls4ml_fixtures.py)",
            fixture_dir().display()
        );
        return;
    }
    let mut failures = Vec::new();
    for (f, (yaml, column, name)) in all
        .iter()
        .flat_map(|f| configs(f).into_iter().map(move |c| (f, c)))
    {
        match check(f, yaml.as_deref(), &column, &name) {
            Ok(o) if !o.known.is_empty() && o.mismatches > 0 => eprintln!(
                "KNOWN {:<31} {} of {} values differ ({} rows); first: {}\n      {}",
                o.name,
                o.mismatches,
                o.values,
                o.rows,
                o.first.join("; "),
                o.known
            ),
            Ok(o) if !o.known.is_empty() => {
                let msg = format!(
                    "{}: matches hls4ml exactly although it documents a known divergence ({}); \
                     regenerate it as a regular fixture",
                    o.name, o.known
                );
                eprintln!("FAIL {msg}");
                failures.push(msg);
            }
            Ok(o) if o.mismatches == 0 => {
                eprintln!("ok   {:<32} {} rows, {} values", o.name, o.rows, o.values)
            }
            Ok(o) => {
                let msg = format!(
                    "{}: {} of {} values differ ({} rows); first: {}",
                    o.name,
                    o.mismatches,
                    o.values,
                    o.rows,
                    o.first.join("; ")
                );
                eprintln!("FAIL {msg}");
                failures.push(msg);
            }
            Err(e) => {
                eprintln!("FAIL {e}");
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hls4ml fixtures differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
