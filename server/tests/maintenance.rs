//! The sweeper of unreferenced model objects (`server::maintenance`): an object
//! no submission names goes once it is older than the cutoff; a named one, a
//! young one, and one whose digest an upload holds stay.

mod common;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use common::*;

const CHALLENGE: &str = r#"
slug: toy-sweep
title: Toy sweep
description: Find the anomalies.
dataset: { slug: toy, version: latest }
input: { column: x, shape: [4] }
label: is_anomaly
metric: roc_auc
target: { part: xc7a35t, clock_ns: 5 }
phases:
  - { name: development, split: public_test }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_models_are_swept_and_nothing_else() {
    let app = app().await;
    app.toy_dataset().await;
    let olga = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    // The challenge scores toy's hidden test labels: its creator maintains toy.
    app.maintain("toy", "olga").await;
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&olga),
            "application/yaml",
            CHALLENGE.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let model = linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let (content_type, body) = multipart(&[("model", Some("m.onnx"), &model)]);
    let r = app
        .post(
            "/api/v1/challenges/toy-sweep/submissions",
            Some(&olga),
            &content_type,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let named = datasets::parquet_io::sha256_hex(&model);

    let (pool, store) = (&app.db.pool, app.state.store.as_ref());
    let put = |bytes: &'static [u8]| async move {
        datasets::store::put_content(store, "models", bytes.into())
            .await
            .unwrap()
            .sha256
    };
    let orphan = put(b"an upload that never reached the database").await;
    let held = put(b"an upload between its write and its commit").await;
    let exists = |sha: String| async move {
        datasets::store::get_bytes(store, &datasets::store::content_path("models", &sha))
            .await
            .is_ok()
    };

    // Young objects are left alone.
    let an_hour_ago = Utc::now() - Duration::hours(1);
    let removed = server::maintenance::sweep_models(pool, store, an_hour_ago)
        .await
        .unwrap();
    assert!(removed.is_empty(), "{removed:?}");

    // Old ones go, unless a submission names them or an upload holds them.
    let lock = db::content_locks::shared(pool, &held).await.unwrap();
    let later = Utc::now() + Duration::minutes(1);
    let removed = server::maintenance::sweep_models(pool, store, later)
        .await
        .unwrap();
    assert_eq!(removed, vec![orphan.clone()]);
    assert!(!exists(orphan).await);
    assert!(exists(named.clone()).await);
    assert!(exists(held.clone()).await);

    lock.release().await.unwrap();
    let removed = server::maintenance::sweep_models(pool, store, later)
        .await
        .unwrap();
    assert_eq!(removed, vec![held.clone()]);
    assert!(!exists(held).await);
    assert!(exists(named).await, "the submitted model stays");
}
