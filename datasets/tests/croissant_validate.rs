//! Writes the Croissant JSON-LD of every demo dataset to target/croissant/<name>.json (with
//! file:// contentUrls pointing at Parquet files written beside it) and, when the Python
//! venv with mlcroissant exists, runs `mlcroissant validate --jsonld` and
//! python/check_croissant.py (which also loads records) on it, requiring no errors and no
//! warnings. Without the venv the Python part is skipped with a message.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::TimeZone;
use datasets::metadata::croissant::croissant;
use datasets::{GENERATORS, generate};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn out_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("croissant"))
        .unwrap_or_else(|| PathBuf::from("target/croissant"))
}

fn write_dataset(name: &str) -> PathBuf {
    let created = chrono::Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let mut built = generate(name, 200, 7)
        .expect("generate")
        .build(created)
        .expect("build");
    let dir = out_dir().join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for split in &mut built.version.splits {
        let split_name = split.name;
        for (files, stripped) in [(&mut split.files, false), (&mut split.stripped_files, true)] {
            for f in files.iter_mut() {
                let blob = built
                    .blobs
                    .iter()
                    .find(|b| b.sha256 == f.sha256)
                    .expect("blob");
                let file_name = format!(
                    "{}{}.parquet",
                    split_name.as_str(),
                    if stripped { ".stripped" } else { "" }
                );
                let path = dir.join(file_name);
                std::fs::write(&path, &blob.bytes).expect("write parquet");
                let abs = path.canonicalize().expect("canonical");
                f.content_url = Some(format!("file://{}", abs.display()));
            }
        }
    }
    let doc = croissant(&built.dataset, &built.version, "http://localhost:8080");
    let json_path = out_dir().join(format!("{name}.json"));
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&doc).expect("json"),
    )
    .expect("write json");
    json_path
}

fn venv_python() -> Option<PathBuf> {
    let py = workspace().join(".venv/bin/python");
    if !py.exists() {
        return None;
    }
    let ok = Command::new(&py)
        .args(["-c", "import mlcroissant"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(py)
}

#[test]
fn croissant_of_demo_datasets_validates_with_mlcroissant() {
    let paths: Vec<PathBuf> = GENERATORS.iter().map(|n| write_dataset(n)).collect();
    for p in &paths {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json");
        assert_eq!(doc["conformsTo"], "http://mlcommons.org/croissant/1.1");
        assert!(
            doc["recordSet"].as_array().is_some_and(|a| a.len() == 4),
            "splits + 3 served splits"
        );
    }
    let Some(py) = venv_python() else {
        println!(
            "SKIPPED mlcroissant validation: {} has no mlcroissant (run scripts/python-env)",
            workspace().join(".venv").display()
        );
        return;
    };
    let cli = py.with_file_name("mlcroissant");
    for p in &paths {
        let out = Command::new(&cli)
            .args(["validate", "--jsonld"])
            .arg(p)
            .output()
            .expect("run mlcroissant");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mlcroissant validate failed for {}:\n{stdout}\n{stderr}",
            p.display()
        );
        let complaints: Vec<&str> = stderr
            .lines()
            .chain(stdout.lines())
            .filter(|l| {
                l.starts_with('W')
                    || l.starts_with('E')
                    || l.contains("WARNING")
                    || l.contains("ERROR")
            })
            .collect();
        assert!(
            complaints.is_empty(),
            "mlcroissant reported for {}:\n{}",
            p.display(),
            complaints.join("\n")
        );

        let out = Command::new(&py)
            .arg(workspace().join("python/check_croissant.py"))
            .arg(p)
            .args(["--records", "3"])
            .output()
            .expect("run check_croissant.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "check_croissant.py failed for {}:\n{stdout}\n{}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("summary json");
        assert_eq!(
            summary["warnings"].as_array().map(Vec::len),
            Some(0),
            "{stdout}"
        );
        for rs in ["splits", "train", "validation", "public_test"] {
            assert!(
                summary["record_sets"][rs].as_u64().unwrap_or(0) > 0,
                "{rs} records: {stdout}"
            );
        }
    }
}
