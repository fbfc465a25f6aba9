//! Generates a demo dataset, builds its version (Parquet, stripped copies, statistics),
//! and writes the files and the FAIR metadata to a directory, printing timings.
//!
//! `cargo run -p datasets --release --example demo -- gw-anomaly 100000 1 target/demo`

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("gw-anomaly");
    let rows: usize = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let seed: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1);
    let out = std::path::PathBuf::from(args.get(4).map(String::as_str).unwrap_or("target/demo"));
    let t0 = Instant::now();
    let generated = datasets::generate(name, rows, seed)?;
    let t_gen = t0.elapsed();
    let t1 = Instant::now();
    let built = generated.build(chrono::Utc::now())?;
    let t_build = t1.elapsed();
    let dir = out.join(name);
    std::fs::create_dir_all(&dir)?;
    for blob in &built.blobs {
        let file = if blob.stripped {
            format!("{}.stripped.parquet", blob.split)
        } else {
            format!("{}.parquet", blob.split)
        };
        std::fs::write(dir.join(file), &blob.bytes)?;
    }
    let base = "http://localhost:8080";
    let (ds, v) = (&built.dataset, &built.version);
    std::fs::write(
        dir.join("croissant.json"),
        serde_json::to_string_pretty(&datasets::metadata::croissant::croissant(ds, v, base))?,
    )?;
    std::fs::write(
        dir.join("datacite.xml"),
        datasets::metadata::datacite::datacite_xml(ds, v, base),
    )?;
    std::fs::write(
        dir.join("CITATION.cff"),
        datasets::metadata::citation::citation_cff(ds, v, base)?,
    )?;
    std::fs::write(dir.join("DATACARD.md"), &generated.data_card)?;
    std::fs::write(dir.join("version.json"), serde_json::to_string_pretty(v)?)?;
    println!(
        "{name}: {rows} rows, seed {seed}: generate {t_gen:?}, build (validate + parquet + stats + strip) {t_build:?}"
    );
    for s in &v.splits {
        let label = s.stats.iter().find(|c| c.name == "is_anomaly");
        println!(
            "  {:<12} {:>7} rows  {:>10} bytes  label balance {:?}",
            s.name.as_str(),
            s.rows,
            s.files.iter().map(|f| f.size).sum::<u64>(),
            label.and_then(|l| l.label_balance.clone())
        );
    }
    println!("  written to {}", dir.display());
    Ok(())
}
