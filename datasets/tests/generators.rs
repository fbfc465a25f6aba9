//! Demo generators: deterministic (same seed -> same sha256), splits disjoint by id,
//! proportions, and the built version passes validation.

use std::collections::HashSet;

use arrow::array::{Array, Int64Array};
use chrono::TimeZone;
use datasets::{GENERATORS, SplitName, Visibility, generate};

fn created() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn hashes(name: &str, rows: usize, seed: u64) -> Vec<String> {
    let built = generate(name, rows, seed)
        .expect("generate")
        .build(created())
        .expect("build");
    built
        .version
        .splits
        .iter()
        .flat_map(|s| {
            s.files
                .iter()
                .chain(&s.stripped_files)
                .map(|f| f.sha256.clone())
        })
        .collect()
}

#[test]
fn same_seed_same_sha256() {
    for name in GENERATORS {
        let a = hashes(name, 300, 42);
        let b = hashes(name, 300, 42);
        assert_eq!(a, b, "{name} must be deterministic");
        let c = hashes(name, 300, 43);
        assert_ne!(a, c, "{name} must depend on the seed");
    }
}

#[test]
fn splits_disjoint_and_proportional() {
    for name in GENERATORS {
        let g = generate(name, 1000, 1).expect("generate");
        let mut seen = HashSet::new();
        let mut sizes = Vec::new();
        for (split, batch) in &g.splits {
            let ids = batch
                .column_by_name("id")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                .expect("id column");
            assert_eq!(ids.null_count(), 0);
            for id in ids.values() {
                assert!(seen.insert(*id), "{name}: id {id} in two splits ({split})");
            }
            sizes.push(batch.num_rows());
        }
        assert_eq!(sizes, vec![600, 100, 150, 150], "{name}");
        assert!(
            g.data_card.contains("CC-BY-4.0"),
            "{name} data card states the licence"
        );
        assert!(g.data_card.contains("## Generative model"));
        assert!(g.data_card.contains("## Intended use"));
        assert!(g.data_card.contains("## Limitations"));
        let built = g.build(created()).expect("build validates");
        let v = &built.version;
        assert_eq!(v.total_rows(), 1000);
        let test = v.split(SplitName::PublicTest).expect("public_test");
        assert_eq!(test.visibility, Visibility::LabelsHidden);
        let stripped = &test.stripped_files[0];
        for col in ["is_anomaly", "kind", "snr", "floods"] {
            assert!(
                !stripped.has_column(col),
                "{name}: stripped public_test still has {col}"
            );
        }
        assert!(stripped.has_column("x") && stripped.has_column("id"));
        let private = v.split(SplitName::PrivateTest).expect("private");
        assert!(private.public_files().is_none());
        // Every blob's bytes hash to its recorded sha256.
        for blob in &built.blobs {
            assert_eq!(datasets::parquet_io::sha256_hex(&blob.bytes), blob.sha256);
        }
    }
}

#[test]
fn x_shapes_recorded() {
    let expect = [
        ("gw-anomaly", vec![2usize, 200]),
        ("hybrid-genomes", vec![256]),
        ("coastal-flooding", vec![12, 7]),
    ];
    for (name, shape) in expect {
        let g = generate(name, 40, 3).expect("generate");
        let x = g.features.iter().find(|f| f.name == "x").expect("x");
        assert_eq!(x.shape, shape, "{name}");
        let field = g.splits[0]
            .1
            .schema()
            .field_with_name("x")
            .expect("x field")
            .clone();
        assert_eq!(
            field
                .metadata()
                .get(datasets::META_SHAPE)
                .map(String::as_str),
            Some(serde_json::to_string(&shape).expect("json").as_str())
        );
    }
}
