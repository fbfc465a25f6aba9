//! Shared set-up for the server's integration tests: a real database, an
//! in-memory store, the real router, users with tokens, a small dataset.

#![allow(dead_code)]

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Int64Array};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use datasets::{FeatureSpec, SplitInput, SplitName, VersionInput, Visibility};
use object_store::ObjectStore;
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct App {
    pub router: axum::Router,
    pub state: server::AppState,
    pub db: db::testing::TestDb,
}

pub async fn app() -> App {
    let db = db::testing::database().await;
    let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let state = server::AppState {
        pool: db.pool.clone(),
        store,
        settings: Arc::new(server::Settings::default()),
    };
    App {
        router: server::router(state.clone()),
        state,
        db,
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl App {
    pub async fn send(&self, request: Request<Body>) -> Response {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), 1 << 28)
            .await
            .unwrap()
            .to_vec();
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str, token: Option<&str>) -> Response {
        let mut request = Request::get(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn post(
        &self,
        uri: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        let mut request = Request::post(uri).header("content-type", content_type);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// `POST /api/v1/submissions/{id}/disqualify` with `reason`, as `token`.
    pub async fn disqualify(&self, id: &str, token: &str, reason: &str) -> Response {
        let body = serde_json::json!({ "reason": reason }).to_string();
        self.post(
            &format!("/api/v1/submissions/{id}/disqualify"),
            Some(token),
            "application/json",
            body.into_bytes(),
        )
        .await
    }

    /// A user with a token of the given scopes; returns the token.
    /// A user with a token of `scopes`; asking for `organize` makes the user
    /// an organizer first (as an admin would: a token carries only what its
    /// user holds).
    pub async fn user(&self, handle: &str, scopes: &[&str], admin: bool) -> String {
        let user = db::users::ensure(&self.db.pool, handle, handle, admin)
            .await
            .unwrap();
        if scopes.contains(&"organize") {
            db::users::set_organizer(&self.db.pool, user.id, true)
                .await
                .unwrap();
        }
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        db::users::create_token(&self.db.pool, user.id, "test", &scopes)
            .await
            .unwrap()
            .1
    }

    /// Make the user `handle` a maintainer of dataset `slug` (who may then
    /// set up challenges on its hidden test splits).
    #[allow(dead_code)]
    pub async fn maintain(&self, slug: &str, handle: &str) {
        let dataset = db::datasets::by_slug(&self.db.pool, slug)
            .await
            .unwrap()
            .expect("dataset");
        let user = db::users::by_handle(&self.db.pool, handle)
            .await
            .unwrap()
            .expect("user");
        db::datasets::add_maintainer(&self.db.pool, dataset.id, user.id, None)
            .await
            .unwrap();
    }

    /// Publish the toy dataset `toy` 1.0.0: x = 4 floats, is_anomaly = x[0] > 0.5.
    pub async fn toy_dataset(&self) {
        let built = toy_dataset();
        server::ops::datasets::publish(&self.db.pool, self.state.store.as_ref(), &built, None)
            .await
            .unwrap();
    }
}

/// Build a multipart/form-data body; returns (content type, body).
pub fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "arenaTestBoundary7d1f";
    let mut body = Vec::new();
    for (name, filename, data) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(file) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn batch(first_id: i64, rows: usize, seed: u64) -> RecordBatch {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32) / ((1u64 << 24) as f32)
    };
    // Values on a 1/64 grid so they are exact in any fixed-point type with >= 6 fraction bits.
    let values: Vec<f32> = (0..rows * 4)
        .map(|_| (next() * 64.0).floor() / 64.0)
        .collect();
    let labels: Vec<bool> = values.chunks(4).map(|x| x[0] > 0.5).collect();
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let x = FixedSizeListArray::new(item, 4, Arc::new(Float32Array::from(values)), None);
    let ids = Int64Array::from((first_id..first_id + rows as i64).collect::<Vec<_>>());
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids),
        Arc::new(x),
        Arc::new(BooleanArray::from(labels)),
    ];
    RecordBatch::try_from_iter(vec![
        ("id", columns[0].clone()),
        ("x", columns[1].clone()),
        ("is_anomaly", columns[2].clone()),
    ])
    .unwrap()
}

pub fn toy_dataset() -> datasets::BuiltVersion {
    let meta = serde_json::from_value(json!({
        "slug": "toy",
        "title": "Toy anomalies",
        "description": "Four uniform features; anomalous when the first exceeds 0.5.",
        "keywords": ["test"],
        "domain": "testing",
        "licence": "CC-BY-4.0",
        "creators": [{ "name": "Arena, Test" }],
    }))
    .unwrap();
    let features: Vec<FeatureSpec> = serde_json::from_value(json!([
        { "name": "id", "dtype": "int64", "role": "id" },
        { "name": "x", "dtype": "float32", "shape": [4], "role": "feature" },
        { "name": "is_anomaly", "dtype": "bool", "role": "label" },
    ]))
    .unwrap();
    let split = |name: SplitName, visibility: Visibility, first: i64, rows: usize| SplitInput {
        name,
        visibility,
        files: vec![datasets::InputFile::new(
            &format!("{}.parquet", name.as_str()),
            vec![batch(first, rows, first as u64)],
        )],
    };
    datasets::build_version(
        meta,
        features,
        VersionInput {
            version: "1.0.0".into(),
            changelog: "First version".into(),
            created: chrono::Utc::now(),
            doi: None,
        },
        vec![
            split(SplitName::Train, Visibility::Public, 0, 400),
            split(SplitName::PublicTest, Visibility::LabelsHidden, 1000, 300),
            split(SplitName::PrivateTest, Visibility::Private, 2000, 300),
        ],
    )
    .unwrap()
}

/// A one-layer model y = sum(w * x) + b on input [1, 4] (float, needs a precision config).
pub fn linear_model(weights: &[f32; 4], bias: f32) -> Vec<u8> {
    use toolflow::onnx::build::ModelBuilder;
    ModelBuilder::new("x", &[1, 4])
        .init("w", &[4, 1], weights)
        .init("b", &[1], &[bias])
        .node("MatMul", &["x", "w"], &["h"], vec![])
        .node("Add", &["h", "b"], &["y"], vec![])
        .output("y")
        .bytes()
}

/// A wider model (4 -> hidden -> 1 with ReLU) that costs more hardware.
pub fn wide_model(hidden: usize) -> Vec<u8> {
    use toolflow::onnx::build::ModelBuilder;
    let w1: Vec<f32> = (0..4 * hidden)
        .map(|i| {
            if i % 4 == 0 {
                0.75
            } else {
                ((i * 37 % 17) as f32 - 8.0) / 16.0
            }
        })
        .collect();
    let w2: Vec<f32> = (0..hidden)
        .map(|i| ((i * 13 % 11) as f32 - 5.0) / 8.0)
        .collect();
    ModelBuilder::new("x", &[1, 4])
        .init("w1", &[4, hidden as i64], &w1)
        .init("w2", &[hidden as i64, 1], &w2)
        .node("MatMul", &["x", "w1"], &["h"], vec![])
        .node("Relu", &["h"], &["r"], vec![])
        .node("MatMul", &["r", "w2"], &["y"], vec![])
        .output("y")
        .bytes()
}

/// Evaluation children for tests: the server crate's `evaluation-child`
/// binary (the same function as `arena evaluate-child`), which cargo builds
/// with the tests.
#[allow(dead_code)]
pub fn sandbox() -> worker::Sandbox {
    let mut sandbox = worker::Sandbox::new(env!("CARGO_BIN_EXE_evaluation-child"));
    sandbox.args.clear();
    sandbox
}

/// Run a worker until every submission has ended.
pub async fn run_worker_until_done(app: &App) {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let registry = worker::Registry::new().with(worker::EvaluateHandler {
        pool: app.db.pool.clone(),
        store: app.state.store.clone(),
        sandbox: sandbox(),
    });
    let options = worker::WorkerOptions {
        concurrency: 2,
        poll: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let running = tokio::spawn(worker::run(
        app.db.pool.clone(),
        registry,
        options,
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM submissions WHERE status NOT IN ('finished', 'failed', 'cancelled')")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "submissions did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
}
