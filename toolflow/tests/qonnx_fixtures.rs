//! Exactness against qonnx: every `tests/fixtures/NAME.onnx` with its
//! `NAME.parquet` (columns `x` inputs, `y` expected outputs from qonnx's
//! `execute_onnx`) and `NAME.json` (`tolerance_lsb`, `lsb`) must be
//! reproduced by the simulator within `tolerance_lsb * lsb` (0 = bit exact).
//! An optional `NAME.yaml` is used as the precision configuration.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, FixedSizeListArray, Float32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use toolflow::{Limits, PrecisionConfig, compile, simulate_batch};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
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

fn list_values(a: &dyn Array) -> (usize, Vec<f32>) {
    let l = a
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .expect("FixedSizeList column");
    let f = l
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .expect("Float32 values");
    let size = l.value_length() as usize;
    let start = l.value_offset(0) as usize;
    (size, f.values()[start..start + l.len() * size].to_vec())
}

/// Checks one fixture; returns a description of the first mismatch.
fn check(onnx: &Path) -> Result<usize, String> {
    let name = onnx
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let meta: serde_json::Value = std::fs::read_to_string(onnx.with_extension("json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let tol_lsb = meta["tolerance_lsb"].as_f64().unwrap_or(0.0);
    let lsb = meta["lsb"].as_f64().unwrap_or(0.0);
    let tol = tol_lsb * lsb;
    let cfg = match std::fs::read_to_string(onnx.with_extension("yaml")) {
        Ok(t) => Some(PrecisionConfig::parse(&t).map_err(|e| format!("{name}: config: {e}"))?),
        Err(_) => None,
    };
    let bytes = std::fs::read(onnx).map_err(|e| format!("{name}: {e}"))?;
    let model = compile(&bytes, cfg.as_ref(), &Limits::default())
        .map_err(|e| format!("{name}: compile: {e}"))?;
    let file = File::open(onnx.with_extension("parquet")).map_err(|e| format!("{name}: {e}"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(4096).build())
        .map_err(|e| format!("{name}: {e}"))?;
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(|e| format!("{name}: {e}"))?;
        let out = simulate_batch(&model, &batch, Some("x"))
            .map_err(|e| format!("{name}: simulate: {e}"))?;
        let (size, want) = list_values(
            batch
                .column_by_name("y")
                .ok_or(format!("{name}: no y column"))?
                .as_ref(),
        );
        let (gsize, got) = list_values(out.column(0).as_ref());
        if size != gsize {
            return Err(format!(
                "{name}: output has {gsize} values per row, the fixture {size}"
            ));
        }
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if ((*g as f64) - (*w as f64)).abs() > tol {
                let row = rows + i / size;
                return Err(format!(
                    "{name}: row {row} element {}: simulator {g}, qonnx {w} (tolerance {tol})",
                    i % size
                ));
            }
        }
        rows += batch.num_rows();
    }
    Ok(rows)
}

#[test]
fn qonnx_fixtures_are_reproduced_exactly() {
    let all = fixtures();
    if all.is_empty() {
        eprintln!(
            "SKIP: no fixtures in {} (generate them with python/make_qonnx_fixtures.py)",
            fixture_dir().display()
        );
        return;
    }
    let mut failures = Vec::new();
    for f in &all {
        match check(f) {
            Ok(rows) => eprintln!(
                "ok   {} ({rows} rows)",
                f.file_name().unwrap_or_default().to_string_lossy()
            ),
            Err(e) => {
                eprintln!("FAIL {e}");
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
