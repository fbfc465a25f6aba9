//! Hostile input through the real router on a real PostgreSQL: malformed and
//! oversized uploads, malformed definitions and configurations, path traversal,
//! wrong content types. Each must be answered with a 4xx whose message names
//! the problem, and leave nothing behind: the rows that an accepted request
//! would write and the objects in the store are counted before and after.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use futures::TryStreamExt;
use toolflow::onnx::build::ModelBuilder;

const CHALLENGE: &str = r#"
slug: toy-hostile
title: Toy hostile
description: Hostile input.
dataset: { slug: toy, version: latest }
input: { column: x, shape: [4] }
label: is_anomaly
metric: roc_auc
target: { part: xc7a35t, clock_ns: 5 }
phases:
  - { name: development, split: public_test }
"#;

const CONFIG: &str = "Model:\n  Precision: fixed<16,6>\n";
const SUBMIT: &str = "/api/v1/challenges/toy-hostile/submissions";

/// Everything a request could leave behind: rows of every table an upload or
/// a definition writes, and the number of objects in the store.
async fn state(app: &App) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "submissions",
        "submission_events",
        "jobs",
        "challenges",
        "challenge_organizers",
        "datasets",
        "dataset_versions",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        counts.push(n);
    }
    let objects: Vec<_> = app.state.store.list(None).try_collect().await.unwrap();
    counts.push(objects.len() as i64);
    counts
}

/// Assert a 4xx (the given one) whose problem+json detail contains `needle`.
fn refused(r: &Response, status: StatusCode, needle: &str, case: &str) {
    assert_eq!(r.status, status, "{case}: {}", r.text());
    let text = r.text();
    assert!(
        text.to_lowercase().contains(&needle.to_lowercase()),
        "{case}: the message should mention `{needle}`: {text}"
    );
    assert!(
        !text.contains("panicked") && !text.contains("/src/") && !text.contains("RUST_BACKTRACE"),
        "{case}: internals in the response: {text}"
    );
    eprintln!("{case}: {} {text}", r.status.as_u16());
}

async fn submit_model(app: &App, token: &str, model: &[u8]) -> Response {
    let (content_type, body) = multipart(&[
        ("model", Some("model.onnx"), model),
        ("config", None, CONFIG.as_bytes()),
        ("label", None, b"hostile"),
    ]);
    app.post(SUBMIT, Some(token), &content_type, body).await
}

fn good_model() -> Vec<u8> {
    linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0)
}

/// A model whose weight declares `dims` while holding four values.
fn with_declared_dims(dims: &[i64]) -> Vec<u8> {
    ModelBuilder::new("x", &[1, 4])
        .init("w", dims, &[1.0, 0.0, 0.0, 0.0])
        .node("MatMul", &["x", "w"], &["y"], vec![])
        .output("y")
        .bytes()
}

/// A model whose weight `w` lives in an external file at `location`. The
/// weight is appended as raw protobuf (a model is the concatenation of its
/// fields, and a repeated message field merges by appending): model field 7
/// (graph) > graph field 5 (initializer) > tensor fields 1 (dims), 2 (float),
/// 8 (name), 13 (external_data: key 1, value 2), 14 (data_location = 1).
fn with_external_weight(location: &str) -> Vec<u8> {
    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        assert!(bytes.len() < 128);
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }
    let entry = [field(1, b"location"), field(2, location.as_bytes())].concat();
    let tensor = [
        vec![0x08, 4, 0x08, 1, 0x10, 1],
        field(8, b"w"),
        field(13, &entry),
        vec![0x70, 1],
    ]
    .concat();
    let mut model = ModelBuilder::new("x", &[1, 4])
        .node("MatMul", &["x", "w"], &["y"], vec![])
        .output("y")
        .bytes();
    model.extend(field(7, &field(5, &tensor)));
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_are_refused_and_leave_nothing_behind() {
    let app = app().await;
    app.toy_dataset().await;
    let organizer = app
        .user("org", &["read", "submit", "organize"], false)
        .await;
    // The challenge scores toy's hidden test labels: its creator maintains toy.
    app.maintain("toy", "org").await;
    let participant = app.user("mallory", &["read", "submit"], false).await;
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&organizer),
            "application/yaml",
            CHALLENGE.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let before = state(&app).await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    // Truncated protobuf: the first half of a good model.
    let good = good_model();
    let r = submit_model(&app, &participant, &good[..good.len() / 2]).await;
    refused(&r, unprocessable, "model", "truncated protobuf");
    // Random bytes.
    let r = submit_model(&app, &participant, &[0xff; 4096]).await;
    refused(&r, unprocessable, "model", "garbage bytes");

    // Huge dimensions: an input of 2^40 elements per sample.
    let huge_input = ModelBuilder::new("x", &[1, 1 << 40])
        .node("Relu", &["x"], &["y"], vec![])
        .output("y")
        .bytes();
    let r = submit_model(&app, &participant, &huge_input).await;
    refused(&r, unprocessable, "model", "huge input dimensions");

    // Billions of parameters declared (with four values present).
    let r = submit_model(&app, &participant, &with_declared_dims(&[100_000, 100_000])).await;
    refused(
        &r,
        unprocessable,
        "model",
        "billions of parameters declared",
    );
    // Dimensions whose product overflows i64.
    let r = submit_model(
        &app,
        &participant,
        &with_declared_dims(&[i64::MAX, i64::MAX, 4]),
    )
    .await;
    refused(&r, unprocessable, "model", "overflowing dimensions");
    // Negative dimensions.
    let r = submit_model(&app, &participant, &with_declared_dims(&[-4, 1])).await;
    refused(&r, unprocessable, "model", "negative dimensions");

    // A reshape target whose element count overflows 64 bits: it panicked
    // (debug) or wrapped around (release) before; found by the onnx fuzz target.
    let wrapping = ModelBuilder::new("x", &[1, 4])
        .init_i64("shape", &[2], &[(1 << 62) + 1, 4])
        .node("Reshape", &["x", "shape"], &["y"], vec![])
        .output("y")
        .bytes();
    let r = submit_model(&app, &participant, &wrapping).await;
    refused(
        &r,
        unprocessable,
        "too large",
        "reshape target that wraps around",
    );

    // A cycle in the graph: a -> c -> a.
    let cycle = ModelBuilder::new("x", &[1, 4])
        .node("Add", &["x", "c"], &["a"], vec![])
        .node("Relu", &["a"], &["c"], vec![])
        .output("c")
        .bytes();
    let r = submit_model(&app, &participant, &cycle).await;
    refused(&r, unprocessable, "model", "cycle in the graph");

    // Path traversal through external data: the reader must never open files.
    let external = with_external_weight("../../../../etc/passwd");
    let r = submit_model(&app, &participant, &external).await;
    refused(
        &r,
        unprocessable,
        "external data",
        "external data path traversal",
    );

    // Path traversal in the upload's file name and label: stored as text only,
    // so the upload is accepted below; here the phase name (organizers only)
    // and an unknown field are refused.
    let (content_type, body) = multipart(&[
        ("model", Some("../../../etc/passwd"), &good),
        ("../../etc/passwd", None, b"x"),
    ]);
    let r = app
        .post(SUBMIT, Some(&participant), &content_type, body)
        .await;
    refused(
        &r,
        StatusCode::BAD_REQUEST,
        "unexpected form field",
        "traversal field name",
    );
    let (content_type, body) = multipart(&[
        ("model", Some("model.onnx"), &good),
        ("config", None, CONFIG.as_bytes()),
        ("phase", None, b"../../private_test"),
    ]);
    let r = app
        .post(SUBMIT, Some(&organizer), &content_type, body)
        .await;
    refused(
        &r,
        StatusCode::BAD_REQUEST,
        "`phase`",
        "traversal phase name",
    );

    // Malformed precision configurations.
    for (config, needle) in [
        ("Model: [unclosed", "config"),
        ("Model:\n  Precision: fixed<99999999999,6>\n", "config"),
        ("Model:\n  Precision: fixed<0,0>\n", "config"),
        ("LayerName: {a: {b: {c: {d: 1}}}}\nModel: 7\n", "config"),
        (
            "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\nModel: *d\n",
            "config",
        ),
    ] {
        let (content_type, body) = multipart(&[
            ("model", Some("model.onnx"), &good),
            ("config", None, config.as_bytes()),
        ]);
        let r = app
            .post(SUBMIT, Some(&participant), &content_type, body)
            .await;
        refused(&r, unprocessable, needle, &format!("config {config:?}"));
    }

    // Wrong content types.
    let r = app
        .post(
            SUBMIT,
            Some(&participant),
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert!(r.status.is_client_error(), "json body: {}", r.text());
    refused(&r, r.status, "multipart", "json instead of multipart");
    let r = app
        .post(
            SUBMIT,
            Some(&participant),
            "multipart/form-data; boundary=nothere",
            b"--other\r\n\r\n".to_vec(),
        )
        .await;
    assert!(r.status.is_client_error(), "bad multipart: {}", r.text());
    refused(&r, r.status, "multipart", "malformed multipart");
    let (content_type, body) = multipart(&[("label", None, b"no model")]);
    let r = app
        .post(SUBMIT, Some(&participant), &content_type, body)
        .await;
    refused(&r, StatusCode::BAD_REQUEST, "`model`", "no model field");

    // Oversize: a model over the 64 MiB limit is cut off at the body limit.
    let limit = toolflow::Limits::default().max_model_bytes;
    let big = vec![0u8; limit + (2 << 20)];
    let (content_type, body) = multipart(&[("model", Some("model.onnx"), &big)]);
    let r = app
        .post(SUBMIT, Some(&participant), &content_type, body)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    eprintln!("oversize model: 413 {}", r.text());
    // An empty model.
    let r = submit_model(&app, &participant, b"").await;
    refused(&r, StatusCode::BAD_REQUEST, "empty", "empty model");

    // Malformed and hostile challenge definitions.
    for (definition, needle) in [
        ("slug: [unclosed", "slug"),
        (&CHALLENGE.replace("toy-hostile", "../../etc"), "slug"),
        (
            &CHALLENGE.replace("slug: toy-hostile", "slug: toy-hostile\nslug: again"),
            "slug",
        ),
        (
            &CHALLENGE.replace("version: latest", "version: ../../1.0.0"),
            "dataset",
        ),
        (
            "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f]\n",
            "",
        ),
        (&"[".repeat(100_000), ""),
    ] {
        let r = app
            .post(
                "/api/v1/challenges",
                Some(&organizer),
                "application/yaml",
                definition.as_bytes().to_vec(),
            )
            .await;
        let case = format!(
            "definition {:?}",
            definition.chars().take(60).collect::<String>()
        );
        refused(&r, StatusCode::BAD_REQUEST, needle, &case);
    }
    // Not UTF-8.
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&organizer),
            "application/yaml",
            vec![0xff, 0xfe, 0x00, 0x41],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // An oversize definition (over the 2 MB default body limit).
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&organizer),
            "application/yaml",
            vec![b'#'; 3 << 20],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());

    // Path traversal in URLs: never a file outside the store.
    for uri in [
        "/api/v1/datasets/toy/versions/1.0.0/splits/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/datasets/..%2F..%2Fetc/versions/1.0.0",
        "/api/v1/datasets/toy/versions/..%2F1.0.0/croissant.json",
        "/api/v1/datasets/toy/versions/1.0.0/splits/train/files/..%2F..%2Fpasswd",
        "/static/..%2F..%2FCargo.toml",
        "/api/v1/submissions/..%2F..%2Fetc%2Fpasswd/model",
    ] {
        let r = app.get(uri, Some(&participant)).await;
        assert!(
            r.status.is_client_error(),
            "{uri}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("root:"), "{uri}");
        assert!(!r.text().contains("[workspace]"), "{uri}");
    }

    // Bad tokens.
    let request = Request::get("/api/v1/challenges/toy-hostile/submissions")
        .header("authorization", "Basic Zm9vOmJhcg==")
        .body(Body::empty())
        .unwrap();
    let r = app.send(request).await;
    refused(&r, StatusCode::UNAUTHORIZED, "Bearer", "basic auth");
    let r = app
        .get(
            "/api/v1/challenges/toy-hostile/submissions",
            Some("arena_' OR 1=1 --"),
        )
        .await;
    refused(&r, StatusCode::UNAUTHORIZED, "token", "SQL in a token");

    assert_eq!(
        state(&app).await,
        before,
        "state left behind by refused requests"
    );

    // The same participant's good upload, with a traversal file name and label,
    // is accepted: the name is never used as a path.
    let (content_type, body) = multipart(&[
        ("model", Some("../../../etc/passwd"), &good),
        ("config", None, CONFIG.as_bytes()),
        ("label", None, b"../../../etc/passwd"),
    ]);
    let r = app
        .post(SUBMIT, Some(&participant), &content_type, body)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let after = state(&app).await;
    assert_eq!(after[0], before[0] + 1, "one submission row");
    assert_eq!(after[7], before[7] + 1, "one model object");
}
