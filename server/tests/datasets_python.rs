//! The dataset API read by the Python peers over real HTTP: pyarrow reads a split
//! through HTTP range requests only (as fsspec and DuckDB's httpfs do), and
//! mlcroissant validates the served Croissant and loads its records from our URLs.
//!
//! pandas, polars and DuckDB read the splits straight from their URLs
//! (python/check_remote_readers.py), each checked against pyarrow on the downloaded
//! bytes, whose sha256 must be the published one.
//!
//! Needs `.venv` (scripts/python-env) with pyarrow, requests, mlcroissant, pandas,
//! fsspec, polars and duckdb; without them the tests say so and pass.

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;

use chrono::TimeZone;
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// The venv's Python when it has every module named.
fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let python = workspace().join(".venv/bin/python");
    let imports = format!("import {}", modules.join(", "));
    let ok = std::process::Command::new(&python)
        .args(["-c", &imports])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

const REMOTE_READ: &str = r#"
import io, sys, json, hashlib, requests, pyarrow.parquet as pq

class HttpRangeFile(io.RawIOBase):
    def __init__(self, url):
        self.url, self.pos, self.requests, self.fetched = url, 0, 0, 0
        head = requests.head(url)
        head.raise_for_status()
        assert head.headers["accept-ranges"] == "bytes"
        self.size = int(head.headers["content-length"])
    def readable(self): return True
    def seekable(self): return True
    def tell(self): return self.pos
    def seek(self, offset, whence=0):
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos
    def read(self, n=-1):
        if n is None or n < 0: n = self.size - self.pos
        if n == 0 or self.pos >= self.size: return b""
        last = min(self.pos + n, self.size) - 1
        r = requests.get(self.url, headers={"Range": f"bytes={self.pos}-{last}"})
        assert r.status_code == 206, r.status_code
        assert r.headers["content-range"] == f"bytes {self.pos}-{last}/{self.size}"
        self.requests += 1
        self.fetched += len(r.content)
        self.pos += len(r.content)
        return r.content
    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

base = sys.argv[1]
remote = HttpRangeFile(base + "/splits/train.parquet")
table = pq.ParquetFile(remote).read(columns=["id", "is_anomaly"])
whole = requests.get(base + "/splits/train.parquet")
assert hashlib.sha256(whole.content).hexdigest() == whole.headers["x-content-sha256"]
reference = pq.read_table(io.BytesIO(whole.content), columns=["id", "is_anomaly"])
assert table.equals(reference)
test = pq.read_table(io.BytesIO(requests.get(base + "/splits/public_test.parquet").content))
print(json.dumps({
    "rows": table.num_rows,
    "requests": remote.requests,
    "fetched": remote.fetched,
    "size": remote.size,
    "public_test_columns": test.column_names,
}))
"#;

async fn run(python: &PathBuf, args: &[&str]) -> Output {
    tokio::process::Command::new(python)
        .args(args)
        .output()
        .await
        .expect("python runs")
}

#[tokio::test]
async fn pyarrow_and_mlcroissant_read_the_served_dataset() {
    let Some(python) = python_with(&["pyarrow", "requests"]) else {
        eprintln!("SKIPPED: .venv has no pyarrow/requests (run scripts/python-env)");
        return;
    };
    let test = db::testing::database().await;
    let shutdown = CancellationToken::new();
    let (version, serving) = serve_gw(&test, &shutdown).await;

    let out = run(&python, &["-c", REMOTE_READ, &version]).await;
    assert!(
        out.status.success(),
        "pyarrow over HTTP ranges failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("summary");
    eprintln!("pyarrow: {summary}");
    assert_eq!(summary["rows"], 240);
    assert_eq!(
        summary["public_test_columns"],
        serde_json::json!(["id", "x"])
    );
    let (fetched, size) = (
        summary["fetched"].as_u64().expect("fetched"),
        summary["size"].as_u64().expect("size"),
    );
    assert!(
        fetched < size / 4,
        "only the projected columns: {fetched} of {size} bytes"
    );

    let checker = workspace().join("python/check_croissant.py");
    if python_with(&["mlcroissant"]).is_some() && checker.exists() {
        let croissant = format!("{version}/croissant.json");
        let out = run(
            &python,
            &[checker.to_str().expect("path"), croissant.as_str()],
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mlcroissant rejected the served Croissant:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("report");
        eprintln!("mlcroissant: {report}");
        assert_eq!(report["errors"], serde_json::json!([]));
        assert_eq!(report["warnings"], serde_json::json!([]));
        assert_eq!(report["record_sets"]["train"], 5);
        assert!(report["record_sets"].get("private_test").is_none());
    } else {
        eprintln!("SKIPPED mlcroissant: not in .venv or python/check_croissant.py missing");
    }

    shutdown.cancel();
    serving.await.expect("server task").expect("server");
}

/// Serves a freshly published gw-anomaly version on loopback; returns the version URL.
async fn serve_gw(
    test: &db::testing::TestDb,
    shutdown: &CancellationToken,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    serve_demo(test, shutdown, "gw-anomaly").await
}

/// Serves a freshly published demo dataset on loopback; returns the version URL.
async fn serve_demo(
    test: &db::testing::TestDb,
    shutdown: &CancellationToken,
    name: &str,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let built = datasets::generate(name, 400, 11)
        .expect("generate")
        .build(
            chrono::Utc
                .with_ymd_and_hms(2025, 6, 1, 0, 0, 0)
                .single()
                .expect("date"),
        )
        .expect("build");
    server::ops::datasets::publish(&test.pool, store.as_ref(), &built, None)
        .await
        .expect("publish");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let state = server::AppState {
        pool: test.pool.clone(),
        store,
        settings: Arc::new(server::Settings {
            public_url: base.clone(),
            ..server::Settings::default()
        }),
    };
    let serving = tokio::spawn(server::serve(listener, state, shutdown.clone()));
    (
        format!("{base}/api/v1/datasets/{name}/versions/1.0.0"),
        serving,
    )
}

/// Issue 5, item 1: for each demo dataset, mlcroissant validates the Croissant
/// the server publishes (no error, no warning) and loads its records over HTTP.
#[tokio::test]
async fn mlcroissant_validates_every_demo_dataset_through_the_server() {
    let checker = workspace().join("python/check_croissant.py");
    let Some(python) = python_with(&["mlcroissant"]) else {
        eprintln!("SKIPPED: .venv lacks mlcroissant (run scripts/python-env)");
        return;
    };
    for name in datasets::generators::GENERATORS {
        let test = db::testing::database().await;
        let shutdown = CancellationToken::new();
        let (version, serving) = serve_demo(&test, &shutdown, name).await;
        let croissant = format!("{version}/croissant.json");
        let out = run(
            &python,
            &[checker.to_str().expect("path"), croissant.as_str()],
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mlcroissant rejected {name}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("report");
        eprintln!("mlcroissant {name}: {report}");
        assert_eq!(report["errors"], serde_json::json!([]), "{name}");
        assert_eq!(report["warnings"], serde_json::json!([]), "{name}");
        assert!(
            report["record_sets"]["train"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "{name}: {report}"
        );
        shutdown.cancel();
        let _ = serving.await;
    }
}

#[tokio::test]
async fn pandas_polars_and_duckdb_read_splits_from_their_urls() {
    let modules = [
        "pyarrow", "requests", "pandas", "fsspec", "aiohttp", "polars", "duckdb",
    ];
    let Some(python) = python_with(&modules) else {
        eprintln!(
            "SKIPPED: .venv lacks one of {} (run scripts/python-env)",
            modules.join(", ")
        );
        return;
    };
    let checker = workspace().join("python/check_remote_readers.py");
    let test = db::testing::database().await;
    let shutdown = CancellationToken::new();
    let (version, serving) = serve_gw(&test, &shutdown).await;

    for (split, rows, columns) in [
        (
            "train",
            240,
            serde_json::json!(["id", "x", "is_anomaly", "kind", "snr"]),
        ),
        ("public_test", 60, serde_json::json!(["id", "x"])),
    ] {
        let out = run(
            &python,
            &[checker.to_str().expect("path"), version.as_str(), split],
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "remote readers failed on {split}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("report");
        eprintln!("remote readers ({split}): {report}");
        assert_eq!(report["rows"], rows, "{split}");
        assert_eq!(report["columns"], columns, "{split}");
        assert_eq!(report["skipped"], serde_json::json!({}), "{split}");
        let readers = &report["readers"];
        for name in [
            "pandas_url",
            "pandas_fsspec",
            "polars_read",
            "polars_scan",
            "duckdb",
        ] {
            assert_eq!(readers[name]["rows"], rows, "{split}: {name}");
            let via = readers[name]["via"].as_str().expect("via");
            if name == "duckdb" && via.starts_with("downloaded") {
                // DuckDB's httpfs extension is absent (duckdb-ext-httpfs not installed):
                // the issue allows reading the verified download instead.
                eprintln!("NOTE: DuckDB read the downloaded file: {via}");
            } else {
                assert!(via.starts_with("url"), "{split}: {name} via {via}");
            }
        }
        if readers["duckdb"]["via"]
            .as_str()
            .is_some_and(|v| v.starts_with("url"))
        {
            let fetched = readers["duckdb"]["aggregate_fetched"]
                .as_u64()
                .expect("fetched");
            let size = report["size"].as_u64().expect("size");
            assert!(
                fetched > 0 && fetched < size,
                "{split}: DuckDB's aggregate fetched {fetched} of {size} bytes"
            );
        }
    }

    shutdown.cancel();
    serving.await.expect("server task").expect("server");
}

/// Issue 5, item 3: the published statistics agree with pyarrow.compute on the
/// served file.
#[tokio::test]
async fn statistics_agree_with_pyarrow_compute() {
    let Some(python) = python_with(&["pyarrow", "requests"]) else {
        eprintln!("SKIPPED: .venv lacks pyarrow or requests (run scripts/python-env)");
        return;
    };
    let checker = workspace().join("python/check_statistics.py");
    let test = db::testing::database().await;
    let shutdown = CancellationToken::new();
    let (version, serving) = serve_gw(&test, &shutdown).await;
    for split in ["train", "public_test"] {
        let out = run(
            &python,
            &[checker.to_str().expect("path"), version.as_str(), split],
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "statistics disagree on {split}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("statistics ({split}): {}", stdout.trim());
    }
    shutdown.cancel();
    let _ = serving.await;
}
