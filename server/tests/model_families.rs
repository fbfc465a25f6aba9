//! Issue 10, end to end on a real PostgreSQL: an XGBoost JSON model, a
//! scikit-learn ensemble exported to ONNX-ML (skl2onnx) and a KAN JSON model
//! are uploaded to a challenge like any ONNX model (the format is recognised by
//! content, not by file name), a worker compiles, simulates, estimates and
//! scores them, and all reach the leaderboard.
//! Malformed JSON models are refused at upload with the reason.

mod common;

use axum::http::StatusCode;
use common::*;

const CHALLENGE: &str = r#"
slug: toy-families
title: Toy families
description: Trees and KANs on the toy dataset.
dataset: { slug: toy, version: latest }
input: { column: x, shape: [4] }
label: is_anomaly
metric: roc_auc
target: { part: xc7a35t, clock_ns: 5 }
phases:
  - { name: development, split: public_test }
entries_per_participant: all
"#;

/// One stump on x0 between 0.5 and the next 1/64 grid value (the toy dataset: anomalous when x0 > 0.5).
const XGBOOST: &str = r#"{"learner": {"attributes": {},
  "gradient_booster": {"name": "gbtree", "model": {"tree_info": [0], "trees": [
    {"left_children": [1, -1, -1], "right_children": [2, -1, -1], "split_indices": [0, 0, 0],
     "split_conditions": [0.5078125, -1.0, 1.0], "split_type": [0, 0, 0]}]}},
  "learner_model_param": {"base_score": "[5E-1]", "num_class": "0", "num_feature": "4", "num_target": "1"},
  "objective": {"name": "binary:logistic"}}, "version": [3, 2, 0]}"#;

/// Degree-1 splines on knots -1, 0, 0.5, 1, 2: the edge from x0 is 2·x0 on [0, 1]; the others are zero.
const KAN: &str = r#"{"format": "arena-kan/1", "name": "toy_kan", "input_type": "fixed<10,2,TRN,SAT>",
  "layers": [{"in": 4, "out": 1, "degree": 1, "grid": [-1.0, 0.0, 0.5, 1.0, 2.0],
    "coef": [[[0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
    "base_function": "zero", "table_type": "fixed<12,4>", "output_type": "fixed<12,4>"}]}"#;

async fn submit(
    app: &App,
    token: &str,
    model: &[u8],
    config: Option<&str>,
    label: &str,
) -> common::Response {
    let mut fields: Vec<(&str, Option<&str>, &[u8])> = vec![
        // The file name says ONNX on purpose: the content decides.
        ("model", Some("model.onnx"), model),
        ("label", None, label.as_bytes()),
    ];
    if let Some(c) = config {
        fields.push(("config", None, c.as_bytes()));
    }
    let (content_type, body) = multipart(&fields);
    app.post(
        "/api/v1/challenges/toy-families/submissions",
        Some(token),
        &content_type,
        body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trees_and_kans_are_scored_and_ranked() {
    let app = app().await;
    app.toy_dataset().await;
    let alice = app
        .user("alice", &["read", "submit", "organize"], false)
        .await;
    // The challenge scores toy's hidden test labels: its creator maintains toy.
    app.maintain("toy", "alice").await;
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&alice),
            "application/yaml",
            CHALLENGE.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    let trees = submit(
        &app,
        &alice,
        XGBOOST.as_bytes(),
        Some("Model:\n  Precision: fixed<16,6>\n"),
        "stump",
    )
    .await;
    assert_eq!(trees.status, StatusCode::ACCEPTED, "{}", trees.text());
    let kan = submit(&app, &alice, KAN.as_bytes(), None, "kan").await;
    assert_eq!(kan.status, StatusCode::ACCEPTED, "{}", kan.text());
    // python/make_server_fixtures.py: GradientBoostingClassifier, 3 trees of depth 2.
    let sklearn_model = include_bytes!("fixtures/sklearn_gbc_toy.onnx");
    let sklearn = submit(
        &app,
        &alice,
        sklearn_model,
        Some("Model:\n  Precision: fixed<16,6>\n"),
        "sklearn",
    )
    .await;
    assert_eq!(sklearn.status, StatusCode::ACCEPTED, "{}", sklearn.text());

    // Malformed JSON models: refused with the toolflow's reason, nothing stored.
    let broken_tree = XGBOOST.replace("[1, -1, -1]", "[9, -1, -1]");
    let broken_kan = KAN.replace("[0.0, 1.0, 2.0]", "[0.0, 1.0]");
    for (model, config, want) in [
        (
            broken_tree.as_str(),
            Some("Model:\n  Precision: fixed<16,6>\n"),
            "outside the tree",
        ),
        (broken_kan.as_str(), None, "basis functions"),
        (KAN, Some("Model:\n  Precision: fixed<16,6>\n"), "own types"),
        (r#"{"weights": [1, 2]}"#, None, "XGBoost"),
    ] {
        let r = submit(&app, &alice, model.as_bytes(), config, "broken").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        let detail = r.json()["detail"].as_str().unwrap().to_owned();
        assert!(
            detail.starts_with("`model`") || detail.starts_with("`config`"),
            "{detail}"
        );
        assert!(detail.contains(want), "{detail} does not mention {want}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM submissions")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 3);

    run_worker_until_done(&app).await;

    let id = sklearn.json()["id"].as_str().unwrap().to_owned();
    let r = app
        .get(&format!("/api/v1/submissions/{id}"), Some(&alice))
        .await
        .json();
    assert_eq!(r["status"], "finished", "{r}");
    assert!(r["scores"]["roc_auc"].as_f64().unwrap() > 0.95, "{r}");
    assert_eq!(r["hardware"]["dsp"], 0, "{r}");
    assert!(
        r["log"].as_str().unwrap().contains("model family bdt"),
        "{r}"
    );
    for (response, family) in [
        (&trees, "model family bdt: XGBoost 1 trees, depth 1"),
        (&kan, "model family kan: KAN 4-1: 1 edge tables"),
    ] {
        let id = response.json()["id"].as_str().unwrap().to_owned();
        let r = app
            .get(&format!("/api/v1/submissions/{id}"), Some(&alice))
            .await
            .json();
        assert_eq!(r["status"], "finished", "{r}");
        assert_eq!(r["scores"]["roc_auc"], 1.0, "{r}");
        assert_eq!(r["hardware"]["dsp"], 0, "{r}");
        assert!(r["hardware"]["lut"].as_u64().unwrap() > 0, "{r}");
        assert!(
            r["log"].as_str().unwrap().contains("simulated 300 samples"),
            "{r}"
        );
        assert!(r["log"].as_str().unwrap().contains(family), "{r}");
    }
    let board = app
        .get("/api/v1/challenges/toy-families/leaderboard", None)
        .await
        .json();
    let labels: Vec<&str> = board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 3, "{board}");
    assert!(
        labels.contains(&"stump") && labels.contains(&"kan") && labels.contains(&"sklearn"),
        "{board}"
    );
}
