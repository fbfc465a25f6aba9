//! The dataset API (issue 5) on the real router, a real PostgreSQL and an in-memory
//! object store: listings, version documents, Parquet downloads with digests and HTTP
//! ranges, rows, statistics, FAIR metadata documents, the dataset page, the organizer
//! upload, and the guarantee that no route serves a test-split label to a caller who
//! may not see it.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{AsArray, BooleanArray, Float32Array, Int64Array, RecordBatch};
use arrow::datatypes::{Float32Type, Int64Type};
use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use chrono::TimeZone;
use datasets::{
    BuiltVersion, DatasetMeta, Dtype, FeatureSpec, InputFile, Role, SplitInput, SplitName,
    VersionInput, Visibility,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::ObjectStore;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tower::ServiceExt;

/// `server::Settings::default().public_url`.
const BASE: &str = "http://127.0.0.1:8080";
const GW: &str = "/api/v1/datasets/gw-anomaly/versions/1.0.0";
/// Columns that must never reach a caller without label rights for a test split.
const HIDDEN: [&str; 3] = ["is_anomaly", "kind", "snr"];

struct Env {
    app: Router,
    pool: PgPool,
    store: Arc<dyn ObjectStore>,
    _db: db::testing::TestDb,
}

async fn env() -> Env {
    let test = db::testing::database().await;
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let state = server::AppState {
        pool: test.pool.clone(),
        store: store.clone(),
        settings: Arc::new(server::Settings::default()),
    };
    Env {
        app: server::router(state),
        pool: test.pool.clone(),
        store,
        _db: test,
    }
}

fn created() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
        .single()
        .expect("date")
}

async fn publish(env: &Env, built: &BuiltVersion) {
    server::ops::datasets::publish(&env.pool, env.store.as_ref(), built, None)
        .await
        .expect("publish");
}

/// The gravitational-wave demo dataset, published.
async fn publish_gw(env: &Env, rows: usize, seed: u64) -> BuiltVersion {
    let built = datasets::generate("gw-anomaly", rows, seed)
        .expect("generate")
        .build(created())
        .expect("build");
    publish(env, &built).await;
    built
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
            .unwrap_or("")
    }
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 30).await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    call(app, Method::GET, uri, None, &[]).await
}

async fn get_as(app: &Router, uri: &str, token: &str) -> Reply {
    call(app, Method::GET, uri, Some(token), &[]).await
}

async fn token(pool: &PgPool, handle: &str, admin: bool, scopes: &[&str]) -> (uuid::Uuid, String) {
    let user = db::users::ensure(pool, handle, handle, admin)
        .await
        .expect("user");
    if scopes.contains(&"organize") {
        // A token carries only what its user holds: the role comes first.
        db::users::set_organizer(pool, user.id, true)
            .await
            .expect("role");
    }
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let (_, secret) = db::users::create_token(pool, user.id, "test", &scopes)
        .await
        .expect("token");
    (user.id, secret)
}

/// A challenge on the newest version of `slug`, organized by `organizers`.
async fn challenge_on(pool: &PgPool, slug: &str, organizers: &[uuid::Uuid]) {
    let version = db::datasets::version(pool, slug, "latest")
        .await
        .expect("query")
        .expect("version");
    db::challenges::create(
        pool,
        &format!("{slug}-challenge"),
        "A challenge",
        &serde_json::json!({}),
        version.id,
        None,
        organizers,
    )
    .await
    .expect("challenge")
    .expect("created");
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parquet_columns(bytes: &Bytes) -> (Vec<String>, usize) {
    let (schema, batches) = datasets::parquet_io::read_parquet(bytes.clone()).expect("parquet");
    (
        schema.fields().iter().map(|f| f.name().clone()).collect(),
        batches.iter().map(RecordBatch::num_rows).sum(),
    )
}

fn split_rows(built: &BuiltVersion, split: SplitName) -> u64 {
    built.version.split(split).expect("split").rows
}

fn file_of(built: &BuiltVersion, split: SplitName, stripped: bool) -> &datasets::Blob {
    built
        .blobs
        .iter()
        .find(|b| b.split == split && b.stripped == stripped)
        .expect("blob")
}

#[tokio::test]
async fn listing_dataset_and_version_documents() {
    let env = env().await;
    let built = publish_gw(&env, 200, 1).await;
    let app = &env.app;

    let list = get(app, "/api/v1/datasets").await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.json();
    let item = &list["datasets"][0];
    assert_eq!(item["slug"], "gw-anomaly");
    assert_eq!(item["latest_version"], "1.0.0");
    assert_eq!(item["url"], format!("{BASE}/api/v1/datasets/gw-anomaly"));

    let ds = get(app, "/api/v1/datasets/gw-anomaly").await;
    assert_eq!(ds.status, StatusCode::OK);
    let ds = ds.json();
    assert_eq!(ds["title"], built.dataset.title);
    assert_eq!(ds["licence"], "CC-BY-4.0");
    assert_eq!(ds["versions"][0]["version"], "1.0.0");
    assert_eq!(ds["versions"][0]["rows"], 200);
    assert_eq!(
        get(app, "/api/v1/datasets/gw-anomaly/versions")
            .await
            .json()["versions"][0]["version"],
        "1.0.0"
    );

    let v = get(app, GW).await;
    assert_eq!(v.status, StatusCode::OK);
    assert_eq!(v.header("vary"), "authorization");
    let v = v.json();
    let latest = get(app, "/api/v1/datasets/gw-anomaly/versions/latest")
        .await
        .json();
    assert_eq!(v, latest, "`latest` names the newest version");
    assert_eq!(v["content_sha256"], built.version.content_hash);
    assert_eq!(v["features"].as_array().expect("features").len(), 5);
    let splits = v["splits"].as_array().expect("splits");
    assert_eq!(splits.len(), 4);
    let train = &splits[0];
    assert_eq!(train["name"], "train");
    assert_eq!(train["labels"], true);
    assert_eq!(train["url"], format!("{BASE}{GW}/splits/train.parquet"));
    assert_eq!(
        train["files"][0]["url"],
        format!("{BASE}{GW}/splits/train.parquet")
    );
    assert_eq!(
        train["files"][0]["sha256"],
        file_of(&built, SplitName::Train, false).sha256
    );
    let public_test = &splits[2];
    assert_eq!(public_test["visibility"], "labels_hidden");
    assert_eq!(public_test["labels"], false);
    assert_eq!(
        public_test["files"][0]["sha256"],
        file_of(&built, SplitName::PublicTest, true).sha256,
        "the label-stripped copy is listed"
    );
    let private_test = &splits[3];
    assert_eq!(private_test["served"], false);
    assert!(private_test.get("files").is_none());
    assert_eq!(
        private_test["rows"],
        split_rows(&built, SplitName::PrivateTest)
    );
    assert_eq!(
        v["links"]["Croissant"],
        format!("{BASE}{GW}/croissant.json")
    );

    for missing in [
        "/api/v1/datasets/nope",
        "/api/v1/datasets/nope/versions/latest",
        "/api/v1/datasets/gw-anomaly/versions/9.9.9",
        "/api/v1/datasets/gw-anomaly/versions/1.0.0/splits/test.parquet",
        "/api/v1/datasets/gw-anomaly/versions/1.0.0/splits/train.csv",
        "/api/v1/datasets/gw-anomaly/versions/1.0.0/splits/train/other.parquet",
    ] {
        let r = get(app, missing).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(
            r.header("content-type"),
            "application/problem+json",
            "{missing}"
        );
    }
}

#[tokio::test]
async fn parquet_downloads_stream_with_digests_ranges_and_head() {
    let env = env().await;
    let built = publish_gw(&env, 200, 2).await;
    let app = &env.app;
    let train = file_of(&built, SplitName::Train, false);
    let size = train.bytes.len() as u64;
    let url = format!("{GW}/splits/train.parquet");

    let full = get(app, &url).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body, train.bytes, "the stored bytes, unchanged");
    let sha = sha256_hex(&full.body);
    assert_eq!(sha, train.sha256);
    assert_eq!(full.header("etag"), format!("\"{sha}\""));
    assert_eq!(full.header("x-content-sha256"), sha);
    let b64 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&full.body));
    assert_eq!(full.header("digest"), format!("sha-256={b64}"));
    assert_eq!(full.header("repr-digest"), format!("sha-256=:{b64}:"));
    assert_eq!(full.header("content-length"), size.to_string());
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert_eq!(
        full.header("content-type"),
        "application/vnd.apache.parquet"
    );
    assert_eq!(full.header("cache-control"), "public, max-age=86400");
    assert_eq!(full.header("vary"), "authorization");
    let (columns, rows) = parquet_columns(&full.body);
    assert_eq!(columns, ["id", "x", "is_anomaly", "kind", "snr"]);
    assert_eq!(rows as u64, split_rows(&built, SplitName::Train));

    // The same file by name, in both spellings.
    for alias in [
        format!("{GW}/splits/train/train.parquet"),
        format!("{GW}/splits/train/files/train.parquet"),
        "/api/v1/datasets/gw-anomaly/versions/latest/splits/train.parquet".to_owned(),
    ] {
        let r = get(app, &alias).await;
        assert_eq!(r.status, StatusCode::OK, "{alias}");
        assert_eq!(r.body, train.bytes, "{alias}");
        if alias.contains("latest") {
            assert_eq!(
                r.header("cache-control"),
                "public, no-cache",
                "`latest` may move"
            );
        }
    }

    // Byte ranges.
    let range = |spec: &str| {
        let spec = spec.to_owned();
        let url = url.clone();
        async move { call(app, Method::GET, &url, None, &[("range", spec.as_str())]).await }
    };
    let head4 = range("bytes=0-3").await;
    assert_eq!(head4.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&head4.body[..], b"PAR1");
    assert_eq!(head4.header("content-range"), format!("bytes 0-3/{size}"));
    assert_eq!(head4.header("content-length"), "4");
    assert_eq!(head4.header("etag"), format!("\"{sha}\""));

    let middle = range("bytes=100-1099").await;
    assert_eq!(middle.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&middle.body[..], &train.bytes[100..1100]);
    assert_eq!(
        middle.header("content-range"),
        format!("bytes 100-1099/{size}")
    );

    let suffix = range("bytes=-8").await;
    assert_eq!(suffix.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&suffix.body[..], &train.bytes[size as usize - 8..]);
    assert_eq!(&suffix.body[4..], b"PAR1");
    assert_eq!(
        suffix.header("content-range"),
        format!("bytes {}-{}/{size}", size - 8, size - 1)
    );

    let tail = range(&format!("bytes={}-", size - 4)).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&tail.body[..], b"PAR1");

    let clipped = range(&format!("bytes={}-{}", size - 2, size + 100)).await;
    assert_eq!(clipped.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(clipped.body.len(), 2);
    assert_eq!(
        clipped.header("content-range"),
        format!("bytes {}-{}/{size}", size - 2, size - 1)
    );

    let whole_suffix = range(&format!("bytes=-{}", size * 2)).await;
    assert_eq!(whole_suffix.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(whole_suffix.body, train.bytes);

    for unsatisfiable in [
        format!("bytes={size}-"),
        format!("bytes={}-{}", size + 5, size + 10),
        "bytes=-0".to_owned(),
    ] {
        let r = range(&unsatisfiable).await;
        assert_eq!(
            r.status,
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{unsatisfiable}"
        );
        assert_eq!(r.header("content-range"), format!("bytes */{size}"));
        assert_eq!(r.header("content-type"), "application/problem+json");
    }
    // Several ranges, other units and nonsense are ignored: the whole file.
    for ignored in ["bytes=0-1,4-5", "items=0-3", "bytes=9-2", "bytes=x-y"] {
        let r = range(ignored).await;
        assert_eq!(r.status, StatusCode::OK, "{ignored}");
        assert_eq!(r.body.len() as u64, size, "{ignored}");
    }

    // HEAD: headers only.
    let head = call(app, Method::HEAD, &url, None, &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), size.to_string());
    assert_eq!(head.header("etag"), format!("\"{sha}\""));
    let head_range = call(app, Method::HEAD, &url, None, &[("range", "bytes=-8")]).await;
    assert_eq!(head_range.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(head_range.header("content-length"), "8");
    assert!(head_range.body.is_empty());

    // Conditional requests.
    let etag = format!("\"{sha}\"");
    let cached = call(
        app,
        Method::GET,
        &url,
        None,
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());
    let fresh = call(
        app,
        Method::GET,
        &url,
        None,
        &[("range", "bytes=0-3"), ("if-range", etag.as_str())],
    )
    .await;
    assert_eq!(fresh.status, StatusCode::PARTIAL_CONTENT);
    let stale = call(
        app,
        Method::GET,
        &url,
        None,
        &[("range", "bytes=0-3"), ("if-range", "\"other\"")],
    )
    .await;
    assert_eq!(
        stale.status,
        StatusCode::OK,
        "If-Range with another ETag: the whole file"
    );
    assert_eq!(stale.body.len() as u64, size);

    // A label-hidden split is served stripped, with its own digest.
    let stripped = file_of(&built, SplitName::PublicTest, true);
    let public_test = get(app, &format!("{GW}/splits/public_test.parquet")).await;
    assert_eq!(public_test.status, StatusCode::OK);
    assert_eq!(public_test.body, stripped.bytes);
    assert_eq!(public_test.header("x-content-sha256"), stripped.sha256);
    assert_eq!(parquet_columns(&public_test.body).0, ["id", "x"]);
    // A private split is not served.
    let private = get(app, &format!("{GW}/splits/private_test.parquet")).await;
    assert_eq!(private.status, StatusCode::FORBIDDEN);
}

/// A Parquet reader that, like pyarrow or DuckDB over HTTP, only ever asks for byte
/// ranges of the URL.
struct HttpRangeReader {
    app: Router,
    url: String,
    size: u64,
    fetched: Arc<AtomicU64>,
}

impl AsyncFileReader for HttpRangeReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let spec = format!("bytes={}-{}", range.start, range.end - 1);
            let reply = call(
                &self.app,
                Method::GET,
                &self.url,
                None,
                &[("range", spec.as_str())],
            )
            .await;
            assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{spec}");
            assert_eq!(
                reply.header("content-range"),
                format!("bytes {}-{}/{}", range.start, range.end - 1, self.size)
            );
            self.fetched
                .fetch_add(reply.body.len() as u64, Ordering::Relaxed);
            Ok(reply.body)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_page_indexes(true)
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

#[tokio::test]
async fn a_remote_parquet_reader_needs_only_ranges() {
    let env = env().await;
    let built = publish_gw(&env, 400, 3).await;
    let url = format!("{GW}/splits/train.parquet");
    let head = call(&env.app, Method::HEAD, &url, None, &[]).await;
    let size: u64 = head.header("content-length").parse().expect("length");
    let fetched = Arc::new(AtomicU64::new(0));
    let reader = HttpRangeReader {
        app: env.app.clone(),
        url,
        size,
        fetched: fetched.clone(),
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .expect("footer");
    let mask = ProjectionMask::roots(builder.parquet_schema(), [0, 2]);
    let stream = builder.with_projection(mask).build().expect("stream");
    let batches: Vec<RecordBatch> = futures::TryStreamExt::try_collect(stream)
        .await
        .expect("read");
    let expected = file_of(&built, SplitName::Train, false);
    let (_, all) = datasets::parquet_io::read_parquet(expected.bytes.clone()).expect("local");
    let ids = |b: &[RecordBatch]| -> Vec<i64> {
        b.iter()
            .flat_map(|b| {
                b.column_by_name("id")
                    .expect("id")
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect()
    };
    assert_eq!(ids(&batches), ids(&all));
    assert_eq!(batches[0].num_columns(), 2, "id and is_anomaly only");
    let read = fetched.load(Ordering::Relaxed);
    assert!(
        read < size / 4,
        "projection reads only the needed column chunks: {read} of {size} bytes"
    );
}

#[tokio::test]
async fn rows_like_the_dataset_viewer() {
    let env = env().await;
    let generated = datasets::generate("gw-anomaly", 200, 4).expect("generate");
    let built = generated.build(created()).expect("build");
    publish(&env, &built).await;
    let app = &env.app;
    let train_rows = split_rows(&built, SplitName::Train);
    let train = generated.split(SplitName::Train).expect("train batch");

    let page = get(app, &format!("{GW}/rows?split=train&offset=3&length=5")).await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.json();
    assert_eq!(page["num_rows_total"], train_rows);
    assert_eq!(page["partial"], false);
    let names: Vec<&str> = page["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["id", "x", "is_anomaly", "kind", "snr"]);
    assert_eq!(
        page["features"][0]["type"],
        serde_json::json!({"dtype": "int64", "_type": "Value"})
    );
    assert_eq!(
        page["features"][1]["type"],
        serde_json::json!({"shape": [2, 200], "dtype": "float32", "_type": "Array2D"})
    );
    let rows = page["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 5);
    let x = train.column_by_name("x").expect("x").as_fixed_size_list();
    let ids = train
        .column_by_name("id")
        .expect("id")
        .as_primitive::<Int64Type>();
    let labels = train
        .column_by_name("is_anomaly")
        .expect("label")
        .as_boolean();
    for (k, row) in rows.iter().enumerate() {
        let i = 3 + k;
        assert_eq!(row["row_idx"], i);
        assert_eq!(row["row"]["id"], ids.value(i));
        assert_eq!(row["row"]["is_anomaly"], labels.value(i));
        let values = x.value(i);
        let values = values.as_primitive::<Float32Type>();
        let nested = row["row"]["x"].as_array().expect("x rows");
        assert_eq!(nested.len(), 2);
        assert_eq!(nested[1].as_array().expect("x[1]").len(), 200);
        for (d, t) in [(0usize, 0usize), (1, 17), (1, 199)] {
            let got = nested[d][t].as_f64().expect("number");
            assert_eq!(
                got as f32,
                values.value(d * 200 + t),
                "x[{d}][{t}] of row {i}"
            );
        }
    }

    // Defaults, the end of the split, past the end.
    let first = get(app, &format!("{GW}/rows?split=train")).await.json();
    assert_eq!(first["rows"].as_array().expect("rows").len(), 100);
    assert_eq!(first["rows"][99]["row_idx"], 99);
    let last = get(
        app,
        &format!("{GW}/rows?split=train&offset={}&length=100", train_rows - 2),
    )
    .await
    .json();
    let last_rows = last["rows"].as_array().expect("rows");
    assert_eq!(last_rows.len(), 2);
    assert_eq!(last_rows[1]["row_idx"], train_rows - 1);
    let past = get(
        app,
        &format!("{GW}/rows?split=train&offset={}", train_rows + 10),
    )
    .await
    .json();
    assert_eq!(past["rows"].as_array().expect("rows").len(), 0);
    assert_eq!(past["num_rows_total"], train_rows);

    // Columns.
    let some = get(
        app,
        &format!("{GW}/rows?split=validation&length=3&columns=id,kind"),
    )
    .await
    .json();
    assert_eq!(some["features"].as_array().expect("features").len(), 2);
    let keys: Vec<&String> = some["rows"][0]["row"]
        .as_object()
        .expect("row")
        .keys()
        .collect();
    assert_eq!(keys, ["id", "kind"]);

    // Limits and bad parameters.
    for (query, needle) in [
        ("split=train&length=101", "at most 100"),
        ("split=train&length=1000000", "at most 100"),
        ("split=train&offset=-1", "offset"),
        ("split=train&length=ten", "length"),
        ("length=10", "split"),
        ("split=train&columns=nope", "no column `nope`"),
    ] {
        let r = get(app, &format!("{GW}/rows?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(r.text().contains(needle), "{query}: {}", r.text());
    }
    assert_eq!(
        get(app, &format!("{GW}/rows?split=nope")).await.status,
        StatusCode::NOT_FOUND
    );

    // Test splits: no labels, no extras; the private split not at all.
    let public_test = get(app, &format!("{GW}/rows?split=public_test&length=100"))
        .await
        .json();
    assert_eq!(
        public_test["num_rows_total"],
        split_rows(&built, SplitName::PublicTest)
    );
    for row in public_test["rows"].as_array().expect("rows") {
        let keys: Vec<&String> = row["row"].as_object().expect("row").keys().collect();
        assert_eq!(keys, ["id", "x"]);
    }
    let asked = get(
        app,
        &format!("{GW}/rows?split=public_test&columns=is_anomaly"),
    )
    .await;
    assert_eq!(asked.status, StatusCode::BAD_REQUEST);
    let private = get(app, &format!("{GW}/rows?split=private_test")).await;
    assert_eq!(private.status, StatusCode::FORBIDDEN);
}

/// A split of `rows` rows of (id, v = id / 2, y = id % 7 == 0).
fn counting_dataset(rows: usize) -> BuiltVersion {
    let features = vec![
        FeatureSpec::scalar("id", Dtype::Int64, Role::Id, "Row number."),
        FeatureSpec::scalar("v", Dtype::Float32, Role::Feature, "Half the row number."),
        FeatureSpec::scalar("y", Dtype::Bool, Role::Label, "Every seventh row."),
    ];
    let schema = datasets::arrow_schema(&features);
    let batch = |range: Range<usize>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    range.clone().map(|i| i as i64),
                )),
                Arc::new(Float32Array::from_iter_values(
                    range.clone().map(|i| i as f32 / 2.0),
                )),
                Arc::new(BooleanArray::from_iter(
                    range.map(|i| Some(i.is_multiple_of(7))),
                )),
            ],
        )
        .expect("batch")
    };
    let meta = DatasetMeta {
        slug: "counting".into(),
        title: "Counting".into(),
        description: "Row numbers.".into(),
        keywords: vec![],
        domain: "testing".into(),
        licence: "CC0-1.0".into(),
        creators: vec![datasets::Creator {
            name: "FastML Arena".into(),
            given_name: None,
            family_name: None,
            orcid: None,
            affiliation: None,
            organization: true,
        }],
        doi: None,
        publisher: "FastML Arena".into(),
        rai: Default::default(),
    };
    datasets::build_version(
        meta,
        features,
        VersionInput {
            version: "1.0.0".into(),
            changelog: "Counting.".into(),
            created: created(),
            doi: None,
        },
        vec![
            SplitInput {
                name: SplitName::Train,
                visibility: Visibility::Public,
                files: vec![
                    InputFile::new("part-0.parquet", vec![batch(0..rows)]),
                    InputFile::new("part-1.parquet", vec![batch(rows..rows + 1000)]),
                ],
            },
            SplitInput {
                name: SplitName::PublicTest,
                visibility: Visibility::LabelsHidden,
                files: vec![InputFile::new(
                    "public_test.parquet",
                    vec![batch(rows + 1000..rows + 1100)],
                )],
            },
        ],
    )
    .expect("build")
}

#[tokio::test]
async fn rows_of_a_large_split_read_only_the_needed_row_groups() {
    let env = env().await;
    let rows = 200_000usize; // four row groups in the first file, then a second file
    let built = counting_dataset(rows);
    publish(&env, &built).await;
    let app = &env.app;
    let base = "/api/v1/datasets/counting/versions/1.0.0";
    let total = rows as u64 + 1000;
    let offsets = [
        0u64,
        65_530,          // across the first row-group boundary
        131_070,         // across the second
        rows as u64 - 3, // across the two files
        total - 7,
    ];
    for offset in offsets {
        let started = std::time::Instant::now();
        let page = get(
            app,
            &format!("{base}/rows?split=train&offset={offset}&length=12"),
        )
        .await;
        let elapsed = started.elapsed();
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        let page = page.json();
        assert_eq!(page["num_rows_total"], total);
        let got = page["rows"].as_array().expect("rows");
        assert_eq!(got.len() as u64, 12.min(total - offset), "offset {offset}");
        for (k, row) in got.iter().enumerate() {
            let i = offset + k as u64;
            assert_eq!(row["row_idx"], i);
            assert_eq!(row["row"]["id"], i, "offset {offset}");
            assert_eq!(row["row"]["v"].as_f64(), Some(i as f64 / 2.0));
            assert_eq!(row["row"]["y"], i.is_multiple_of(7));
        }
        eprintln!("rows at offset {offset}: {elapsed:?}");
    }
    // Multi-file split: each file by name; `{split}.parquet` is the first.
    let part1 = get(app, &format!("{base}/splits/train/part-1.parquet")).await;
    assert_eq!(part1.status, StatusCode::OK);
    assert_eq!(parquet_columns(&part1.body).1, 1000);
    let first = get(app, &format!("{base}/splits/train.parquet")).await;
    assert_eq!(parquet_columns(&first.body).1, rows);
    let v = get(app, base).await.json();
    assert_eq!(
        v["splits"][0]["files"][1]["url"],
        format!("{BASE}{base}/splits/train/part-1.parquet")
    );
    let croissant = get(app, &format!("{base}/croissant.json")).await.json();
    let urls: Vec<&str> = croissant["distribution"]
        .as_array()
        .expect("distribution")
        .iter()
        .map(|d| d["contentUrl"].as_str().expect("url"))
        .collect();
    assert!(urls.contains(&format!("{BASE}{base}/splits/train/part-0.parquet").as_str()));
    assert!(urls.contains(&format!("{BASE}{base}/splits/public_test.parquet").as_str()));
}

#[tokio::test]
async fn statistics_per_split_without_test_labels() {
    let env = env().await;
    let built = publish_gw(&env, 300, 5).await;
    let app = &env.app;
    let stats = get(app, &format!("{GW}/statistics")).await;
    assert_eq!(stats.status, StatusCode::OK);
    let stats = stats.json();
    let splits = stats["splits"].as_array().expect("splits");
    let names: Vec<&str> = splits
        .iter()
        .map(|s| s["split"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["train", "validation", "public_test"],
        "the private split is left out"
    );
    let columns = |s: &Value| -> Vec<String> {
        s["statistics"]
            .as_array()
            .expect("statistics")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(
        columns(&splits[0]),
        ["id", "x", "is_anomaly", "kind", "snr"]
    );
    assert_eq!(
        splits[0]["num_examples"],
        split_rows(&built, SplitName::Train)
    );
    let label = &splits[0]["statistics"][2];
    assert_eq!(label["role"], "label");
    let balance: u64 = label["label_balance"]
        .as_object()
        .expect("balance")
        .values()
        .map(|n| n.as_u64().expect("count"))
        .sum();
    assert_eq!(balance, split_rows(&built, SplitName::Train));
    let x = &splits[0]["statistics"][1];
    assert_eq!(x["count"], split_rows(&built, SplitName::Train) * 400);
    assert!(x["histogram"]["counts"].as_array().is_some());
    assert_eq!(
        columns(&splits[2]),
        ["id", "x"],
        "public_test without labels and extras"
    );

    let one = get(app, &format!("{GW}/statistics?split=validation"))
        .await
        .json();
    assert_eq!(one["splits"].as_array().expect("splits").len(), 1);
    assert_eq!(
        columns(&one["splits"][0]),
        ["id", "x", "is_anomaly", "kind", "snr"]
    );
    assert_eq!(
        get(app, &format!("{GW}/statistics?split=private_test"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let (_, admin) = token(&env.pool, "root", true, &["read"]).await;
    let all = get_as(app, &format!("{GW}/statistics"), &admin).await;
    assert_eq!(all.header("cache-control"), "private, no-store");
    let all = all.json();
    assert_eq!(all["splits"].as_array().expect("splits").len(), 4);
    assert_eq!(
        columns(&all["splits"][3]),
        ["id", "x", "is_anomaly", "kind", "snr"]
    );
}

#[tokio::test]
async fn metadata_documents_point_at_the_served_files() {
    let env = env().await;
    let built = publish_gw(&env, 200, 6).await;
    let app = &env.app;

    let croissant = get(app, &format!("{GW}/croissant.json")).await;
    assert_eq!(croissant.status, StatusCode::OK);
    assert_eq!(croissant.header("content-type"), "application/ld+json");
    let doc = croissant.json();
    assert_eq!(doc, get(app, &format!("{GW}/croissant")).await.json());
    assert_eq!(
        doc,
        get(
            app,
            "/api/v1/datasets/gw-anomaly/versions/latest/croissant.json"
        )
        .await
        .json()
    );
    assert_eq!(doc["conformsTo"], "http://mlcommons.org/croissant/1.1");
    assert_eq!(doc["version"], "1.0.0");
    let distribution = doc["distribution"].as_array().expect("distribution");
    assert_eq!(
        distribution.len(),
        3,
        "train, validation, public_test; never private_test"
    );
    for file in distribution {
        let url = file["contentUrl"].as_str().expect("contentUrl");
        assert!(url.starts_with(&format!("{BASE}{GW}/splits/")), "{url}");
        let served = get(app, url.trim_start_matches(BASE)).await;
        assert_eq!(served.status, StatusCode::OK, "{url}");
        assert_eq!(file["sha256"], sha256_hex(&served.body), "{url}");
        assert_eq!(file["contentSize"], format!("{} B", served.body.len()));
    }
    let record_sets = doc["recordSet"].as_array().expect("record sets");
    let fields = |id: &str| -> Vec<String> {
        record_sets
            .iter()
            .find(|r| r["@id"] == id)
            .unwrap_or_else(|| panic!("record set {id}"))["field"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert_eq!(
        fields("train"),
        ["id", "x", "is_anomaly", "kind", "snr", "split"]
    );
    assert_eq!(fields("public_test"), ["id", "x", "split"]);
    assert!(!record_sets.iter().any(|r| r["@id"] == "private_test"));

    let xml = get(app, &format!("{GW}/datacite.xml")).await;
    assert_eq!(xml.status, StatusCode::OK);
    assert!(xml.header("content-type").starts_with("application/xml"));
    let xml = xml.text();
    assert!(xml.contains("<resource"), "{xml}");
    assert!(xml.contains("kernel-4"));
    assert!(xml.contains(&built.dataset.title));

    let json = get(app, &format!("{GW}/datacite.json")).await;
    assert_eq!(
        json.header("content-type"),
        "application/vnd.datacite.datacite+json"
    );
    let json = json.json();
    assert!(json.to_string().contains(&built.dataset.title));

    let bib = get(app, &format!("{GW}/citation.bib")).await;
    assert!(
        bib.header("content-type")
            .starts_with("application/x-bibtex")
    );
    let bib = bib.text();
    assert!(bib.starts_with("@misc{gw_anomaly_1_0_0,"), "{bib}");
    assert!(
        bib.contains(&format!(
            "url = {{{BASE}/datasets/gw-anomaly/versions/1.0.0}}"
        )),
        "{bib}"
    );

    let cff = get(app, &format!("{GW}/citation.cff")).await;
    assert!(cff.header("content-type").starts_with("application/yaml"));
    let cff: serde_json::Value = yaml::from_str(&cff.text()).expect("CFF is YAML");
    assert_eq!(cff["cff-version"].as_str(), Some("1.2.0"));
    assert_eq!(cff["version"].as_str(), Some("1.0.0"));

    assert_eq!(
        get(app, "/api/v1/datasets/nope/versions/1.0.0/croissant.json")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_dataset_page_embeds_schema_org_json_ld() {
    let env = env().await;
    let built = publish_gw(&env, 200, 7).await;
    let app = &env.app;

    let page = get(app, "/datasets/gw-anomaly").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    let html = page.text();
    assert!(html.contains(&built.dataset.title));
    assert!(html.contains(&format!("{BASE}{GW}/splits/train.parquet")));
    assert!(html.contains(&format!("{BASE}{GW}/splits/public_test.parquet")));
    assert!(
        !html.contains("private_test.parquet"),
        "the private split has no link"
    );
    assert!(html.contains(&format!("{BASE}{GW}/croissant.json")));
    assert!(html.contains(&format!("{BASE}{GW}/datacite.xml")));
    assert!(html.contains("@misc{gw_anomaly_1_0_0"));
    assert!(html.contains(&split_rows(&built, SplitName::Train).to_string()));
    let start = html
        .find("<script type=\"application/ld+json\">")
        .expect("JSON-LD script")
        + "<script type=\"application/ld+json\">".len();
    let end = start + html[start..].find("</script>").expect("end of script");
    let ld: Value = serde_json::from_str(&html[start..end]).expect("JSON-LD");
    assert_eq!(ld["@context"], "https://schema.org/");
    assert_eq!(ld["@type"], "Dataset");
    assert_eq!(ld["version"], "1.0.0");
    assert!(
        ld["distribution"]
            .to_string()
            .contains("/splits/train.parquet")
    );

    let versioned = get(app, "/datasets/gw-anomaly/versions/1.0.0").await;
    assert_eq!(versioned.status, StatusCode::OK);
    let index = get(app, "/datasets").await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.text().contains("/datasets/gw-anomaly"));
    assert_eq!(
        get(app, "/datasets/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(app, "/datasets/gw-anomaly/versions/2.0.0").await.status,
        StatusCode::NOT_FOUND
    );
}

const MANIFEST: &str = "\
slug: tiny-upload
title: Tiny upload
description: Two splits uploaded through the API.
domain: testing
licence: CC-BY-4.0
creators:
  - name: \"Doe, Jane\"
version: 1.0.0
changelog: First.
created: 2025-01-02T03:04:05Z
features:
  - {name: id, dtype: int64, role: id}
  - {name: a, dtype: float32}
  - {name: y, dtype: bool, role: label}
splits:
  train:
    files: [data/train.csv]
  public_test:
    files: [data/public_test.csv]
";

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "arena-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, file_name, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post(app: &Router, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Reply {
    let mut request = Request::post("/api/v1/datasets").header("content-type", content_type);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 20).await.expect("body");
    Reply {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn organizers_upload_a_manifest_with_its_files() {
    let env = env().await;
    let app = &env.app;
    let train_csv = b"id,a,y\n0,0.5,true\n1,1.5,false\n2,2.5,false\n";
    let test_csv = b"id,a,y\n10,3.5,true\n11,4.5,false\n";
    let parts: [(&str, Option<&str>, &[u8]); 3] = [
        ("manifest", None, MANIFEST.as_bytes()),
        ("file", Some("data/train.csv"), train_csv),
        ("data/public_test.csv", None, test_csv),
    ];
    let (content_type, body) = multipart(&parts);

    assert_eq!(
        post(app, None, &content_type, body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (_, participant) = token(&env.pool, "alice", false, &["read", "submit"]).await;
    assert_eq!(
        post(app, Some(&participant), &content_type, body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let (_, organizer) = token(&env.pool, "olga", false, &["read", "organize"]).await;
    let created = post(app, Some(&organizer), &content_type, body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(
        created.header("location"),
        format!("{BASE}/api/v1/datasets/tiny-upload/versions/1.0.0")
    );
    assert_eq!(created.json()["created"], true);

    let rows = get(
        app,
        "/api/v1/datasets/tiny-upload/versions/1.0.0/rows?split=train",
    )
    .await
    .json();
    assert_eq!(rows["num_rows_total"], 3);
    assert_eq!(
        rows["rows"][0]["row"],
        serde_json::json!({"id": 0, "a": 0.5, "y": true})
    );
    let test = get(
        app,
        "/api/v1/datasets/tiny-upload/versions/1.0.0/splits/public_test.parquet",
    )
    .await;
    assert_eq!(test.status, StatusCode::OK);
    assert_eq!(
        parquet_columns(&test.body),
        (vec!["id".to_owned(), "a".to_owned()], 2)
    );

    // The same upload again changes nothing.
    let again = post(app, Some(&organizer), &content_type, body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["created"], false);

    // Missing files, files before the manifest, invalid data.
    let (ct, missing) = multipart(&[
        ("manifest", None, MANIFEST.as_bytes()),
        ("file", Some("data/train.csv"), train_csv),
    ]);
    let r = post(app, Some(&organizer), &ct, missing).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("data/public_test.csv"), "{}", r.text());
    let (ct, early) = multipart(&[
        ("file", Some("data/train.csv"), train_csv),
        ("manifest", None, MANIFEST.as_bytes()),
    ]);
    assert_eq!(
        post(app, Some(&organizer), &ct, early).await.status,
        StatusCode::BAD_REQUEST
    );
    let (ct, stray) = multipart(&[
        ("manifest", None, MANIFEST.as_bytes()),
        ("file", Some("../etc/passwd"), b"x"),
    ]);
    assert_eq!(
        post(app, Some(&organizer), &ct, stray).await.status,
        StatusCode::BAD_REQUEST
    );
    let bad_manifest = MANIFEST.replace("slug: tiny-upload", "slug: tiny-bad");
    let (ct, bad) = multipart(&[
        ("manifest", None, bad_manifest.as_bytes()),
        ("file", Some("data/train.csv"), b"id,a,y\n0,zero,true\n"),
        ("file", Some("data/public_test.csv"), test_csv),
    ]);
    let r = post(app, Some(&organizer), &ct, bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("data/train.csv"),
        "names the file: {}",
        r.text()
    );

    // A new version of an existing dataset: its maintainers (the uploader) and
    // admins only; another organizer is refused.
    let (_, other) = token(&env.pool, "mallory", false, &["read", "organize"]).await;
    let v2 = MANIFEST.replace("1.0.0", "2.0.0");
    let (ct, next) = multipart(&[
        ("manifest", None, v2.as_bytes()),
        ("file", Some("data/train.csv"), train_csv),
        ("file", Some("data/public_test.csv"), test_csv),
    ]);
    assert_eq!(
        post(app, Some(&other), &ct, next.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    // An admin acts within the token's scopes: `read` alone adds nothing.
    let (_, admin_reader) = token(&env.pool, "root", true, &["read"]).await;
    assert_eq!(
        post(app, Some(&admin_reader), &ct, next.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let (_, admin) = token(&env.pool, "root", true, &["read", "organize"]).await;
    assert_eq!(
        post(app, Some(&admin), &ct, next).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        get(app, "/api/v1/datasets/tiny-upload").await.json()["latest_version"],
        "2.0.0"
    );
}

// ---------------------------------------------------------------------------
// Issue 5, item 4, and issue 15: a participant, an anonymous user, a token
// without the right, and an organizer of a challenge on the dataset who does
// not maintain it can never obtain a test-split label through any route.

/// A request: method, URI and extra headers.
type Route = (Method, String, Vec<(&'static str, &'static str)>);

fn is_test_split(uri: &str) -> bool {
    uri.contains("public_test") || uri.contains("private_test")
}

/// Every check a response must pass for a caller without label rights.
fn assert_no_test_labels(uri: &str, reply: &Reply, full_test_hashes: &BTreeSet<String>) {
    let body = &reply.body;
    let text = String::from_utf8_lossy(body);
    for hash in full_test_hashes {
        assert!(
            !text.contains(hash.as_str()),
            "{uri}: names a complete test file ({hash})"
        );
        for header in ["etag", "x-content-sha256"] {
            assert!(
                !reply.header(header).contains(hash.as_str()),
                "{uri}: {header} of a complete test file"
            );
        }
    }
    assert!(
        !full_test_hashes.contains(&sha256_hex(body)),
        "{uri}: the bytes of a complete test file"
    );
    if reply.status == StatusCode::OK && body.starts_with(b"PAR1") {
        let (columns, _) = parquet_columns(body);
        if is_test_split(uri) {
            for hidden in HIDDEN {
                assert!(
                    !columns.iter().any(|c| c == hidden),
                    "{uri}: Parquet column {hidden}"
                );
            }
        }
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    // Rows of a test split carry no label or extra column.
    if uri.contains("/rows") && is_test_split(uri) {
        for row in json["rows"].as_array().into_iter().flatten() {
            for hidden in HIDDEN {
                assert!(row["row"].get(hidden).is_none(), "{uri}: row with {hidden}");
            }
        }
        for feature in json["features"].as_array().into_iter().flatten() {
            assert!(
                !HIDDEN.contains(&feature["name"].as_str().unwrap_or("")),
                "{uri}: feature {feature}"
            );
        }
    }
    // Statistics: no label or extra column of a test split.
    for split in json["splits"].as_array().into_iter().flatten() {
        let name = split["split"]
            .as_str()
            .or(split["name"].as_str())
            .unwrap_or("");
        if name == "public_test" || name == "private_test" {
            for stat in split["statistics"].as_array().into_iter().flatten() {
                assert!(
                    !HIDDEN.contains(&stat["name"].as_str().unwrap_or("")),
                    "{uri}: statistics of {name}"
                );
            }
            for file in split["files"].as_array().into_iter().flatten() {
                for column in file["columns"].as_array().into_iter().flatten() {
                    assert!(
                        !HIDDEN.contains(&column["name"].as_str().unwrap_or("")),
                        "{uri}: file column of {name}"
                    );
                }
            }
        }
    }
    // Croissant: no record set field for a hidden column of a test split.
    for record_set in json["recordSet"].as_array().into_iter().flatten() {
        let id = record_set["@id"].as_str().unwrap_or("");
        if id == "public_test" || id == "private_test" {
            for field in record_set["field"].as_array().into_iter().flatten() {
                assert!(
                    !HIDDEN.contains(&field["name"].as_str().unwrap_or("")),
                    "{uri}: Croissant field of {id}"
                );
            }
        }
    }
}

#[tokio::test]
async fn no_route_gives_a_test_label_to_anyone_without_label_rights() {
    let env = env().await;
    let built = publish_gw(&env, 200, 8).await;
    let app = &env.app;
    let pool = &env.pool;

    let (_, participant) = token(pool, "alice", false, &["read", "submit"]).await;
    let (olga, organizer_without_organize) = token(pool, "olga", false, &["read", "submit"]).await;
    let (_, unrelated_organizer) =
        token(pool, "mallory", false, &["read", "submit", "organize"]).await;
    challenge_on(pool, "gw-anomaly", &[olga]).await;
    // Organizing a challenge on the dataset gives no right over its labels.
    let (_, organizer) = token(pool, "olga", false, &["read", "organize"]).await;
    let (mara, maintainer) = token(pool, "mara", false, &["read"]).await;
    let dataset = db::datasets::by_slug(pool, "gw-anomaly")
        .await
        .expect("query")
        .expect("dataset");
    db::datasets::add_maintainer(pool, dataset.id, mara, None)
        .await
        .expect("maintainer");
    let (_, admin) = token(pool, "root", true, &["read"]).await;

    let full_test_hashes: BTreeSet<String> = built
        .blobs
        .iter()
        .filter(|b| {
            !b.stripped && matches!(b.split, SplitName::PublicTest | SplitName::PrivateTest)
        })
        .map(|b| b.sha256.clone())
        .collect();
    assert_eq!(full_test_hashes.len(), 2);

    let mut routes: Vec<Route> = Vec::new();
    let mut add = |method: Method, uri: String, headers: Vec<(&'static str, &'static str)>| {
        routes.push((method, uri, headers))
    };
    add(Method::GET, "/api/v1/datasets".into(), vec![]);
    add(Method::GET, "/api/v1/datasets/gw-anomaly".into(), vec![]);
    add(
        Method::GET,
        "/api/v1/datasets/gw-anomaly/versions".into(),
        vec![],
    );
    add(Method::GET, "/datasets".into(), vec![]);
    add(Method::GET, "/datasets/gw-anomaly".into(), vec![]);
    add(
        Method::GET,
        "/datasets/gw-anomaly/versions/1.0.0".into(),
        vec![],
    );
    for version in ["1.0.0", "latest"] {
        let root = format!("/api/v1/datasets/gw-anomaly/versions/{version}");
        for doc in [
            "",
            "/statistics",
            "/croissant.json",
            "/croissant",
            "/datacite.xml",
            "/datacite.json",
            "/citation.bib",
            "/citation.cff",
        ] {
            add(Method::GET, format!("{root}{doc}"), vec![]);
        }
        for split in SplitName::ALL {
            let s = split.as_str();
            for file in [
                format!("{root}/splits/{s}.parquet"),
                format!("{root}/splits/{s}/{s}.parquet"),
                format!("{root}/splits/{s}/files/{s}.parquet"),
            ] {
                add(Method::GET, file.clone(), vec![]);
                add(Method::HEAD, file.clone(), vec![]);
                add(Method::GET, file.clone(), vec![("range", "bytes=0-65535")]);
                add(Method::GET, file.clone(), vec![("range", "bytes=-65536")]);
                add(Method::GET, file, vec![("range", "bytes=4-")]);
            }
            add(Method::GET, format!("{root}/rows?split={s}"), vec![]);
            add(
                Method::GET,
                format!("{root}/rows?split={s}&offset=5&length=100"),
                vec![],
            );
            for column in HIDDEN {
                add(
                    Method::GET,
                    format!("{root}/rows?split={s}&columns={column}"),
                    vec![],
                );
                add(
                    Method::GET,
                    format!("{root}/rows?split={s}&columns=id,{column}"),
                    vec![],
                );
            }
            add(Method::GET, format!("{root}/statistics?split={s}"), vec![]);
        }
    }

    let denied: [(&str, Option<&str>); 5] = [
        ("anonymous", None),
        ("participant", Some(participant.as_str())),
        (
            "organizer token without `organize`",
            Some(organizer_without_organize.as_str()),
        ),
        (
            "`organize` token of an unrelated user",
            Some(unrelated_organizer.as_str()),
        ),
        (
            "organizer of a challenge on the dataset",
            Some(organizer.as_str()),
        ),
    ];
    let mut checked = 0;
    for (who, token) in denied {
        for (method, uri, headers) in &routes {
            let reply = call(app, method.clone(), uri, token, headers).await;
            assert!(
                reply.status.is_success() || reply.status.is_client_error(),
                "{who} {method} {uri}: {}",
                reply.status
            );
            if uri.contains("private_test")
                && (uri.contains("/splits/")
                    || uri.contains("/rows")
                    || uri.contains("statistics?"))
            {
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} {method} {uri}");
            }
            assert_no_test_labels(&format!("{who} {method} {uri}"), &reply, &full_test_hashes);
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked} responses checked");

    // The same walk finds labels for those who may see them (the checks can fail).
    for (who, token) in [
        ("maintainer", maintainer.as_str()),
        ("admin", admin.as_str()),
    ] {
        let file = get_as(app, &format!("{GW}/splits/public_test.parquet"), token).await;
        assert_eq!(file.status, StatusCode::OK, "{who}");
        assert!(
            full_test_hashes.contains(&sha256_hex(&file.body)),
            "{who} gets the complete file"
        );
        assert!(
            parquet_columns(&file.body)
                .0
                .contains(&"is_anomaly".to_owned())
        );
        assert_eq!(file.header("cache-control"), "private, no-store", "{who}");
        let private = get_as(app, &format!("{GW}/splits/private_test.parquet"), token).await;
        assert_eq!(private.status, StatusCode::OK, "{who}");
        let rows = get_as(
            app,
            &format!("{GW}/rows?split=private_test&length=3"),
            token,
        )
        .await
        .json();
        assert!(rows["rows"][0]["row"].get("is_anomaly").is_some(), "{who}");
        let v = get_as(app, GW, token).await;
        assert_eq!(v.header("cache-control"), "private, no-store");
        assert_eq!(v.json()["splits"][3]["labels"], true);
    }
    // Metadata documents stay public even for organizers.
    let croissant = get_as(app, &format!("{GW}/croissant.json"), &admin).await;
    assert_no_test_labels("admin croissant", &croissant, &full_test_hashes);
}

/// `cargo test -p server --release --test datasets_api -- --ignored --nocapture`:
/// rows of a 10-million-row split, timed.
#[tokio::test]
#[ignore = "builds a 10-million-row dataset; run by hand"]
async fn rows_of_ten_million_rows_answer_in_milliseconds() {
    let env = env().await;
    let rows = 10_000_000usize;
    let started = std::time::Instant::now();
    let built = tokio::task::spawn_blocking(move || counting_dataset(rows))
        .await
        .expect("task");
    publish(&env, &built).await;
    eprintln!("built and published {rows} rows in {:?}", started.elapsed());
    let base = "/api/v1/datasets/counting/versions/1.0.0";
    for offset in [0u64, 5_000_000, 9_999_950] {
        let started = std::time::Instant::now();
        let page = get(
            &env.app,
            &format!("{base}/rows?split=train&offset={offset}&length=100"),
        )
        .await;
        let elapsed = started.elapsed();
        assert_eq!(page.status, StatusCode::OK);
        let page = page.json();
        assert_eq!(page["rows"][0]["row"]["id"], offset);
        eprintln!("rows at offset {offset}: {elapsed:?}");
        assert!(
            elapsed < std::time::Duration::from_millis(500),
            "{elapsed:?}"
        );
    }
}
