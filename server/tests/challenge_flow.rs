//! Issue 6, end to end on a real PostgreSQL: an organizer creates a challenge
//! from YAML, a participant submits a good, an over-budget and a malformed
//! model, a worker scores them, and the leaderboard and its exports agree.
//! Private-phase results stay hidden until the organizer publishes them.

mod common;

use axum::http::StatusCode;
use common::*;

const CHALLENGE: &str = r#"
slug: toy-trigger
title: Toy trigger
description: Find the anomalies in the toy dataset.
dataset: { slug: toy, version: latest }
input: { column: x, shape: [4] }
label: is_anomaly
metric: roc_auc
target: { part: xc7a35t, clock_ns: 5 }
budget: { max_lut: 2000 }
phases:
  - { name: development, split: public_test }
  - { name: final, split: private_test, starts: 2099-01-01T00:00:00Z }
entries_per_participant: all
"#;

const CONFIG: &str = "Model:\n  Precision: fixed<16,6>\n";

async fn submit(
    app: &App,
    token: &str,
    model: &[u8],
    label: &str,
    extra: &[(&str, &[u8])],
) -> common::Response {
    let mut fields: Vec<(&str, Option<&str>, &[u8])> = vec![
        ("model", Some("model.onnx"), model),
        ("config", None, CONFIG.as_bytes()),
        ("label", None, label.as_bytes()),
    ];
    for (name, value) in extra {
        fields.push((name, None, value));
    }
    let (content_type, body) = multipart(&fields);
    app.post(
        "/api/v1/challenges/toy-trigger/submissions",
        Some(token),
        &content_type,
        body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_submissions_scoring_and_leaderboard() {
    let app = app().await;
    app.toy_dataset().await;
    let alice = app
        .user("alice", &["read", "submit", "organize"], false)
        .await;
    // The challenge scores toy's hidden test labels: its creator maintains toy.
    app.maintain("toy", "alice").await;
    let bob = app.user("bob", &["read", "submit"], false).await;

    // Only organizers create challenges; a bad definition names its field.
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&bob),
            "application/yaml",
            CHALLENGE.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let bad = CHALLENGE.replace("label: is_anomaly", "label: x");
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&alice),
            "application/yaml",
            bad.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("`label`"),
        "{}",
        r.text()
    );
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&alice),
            "application/yaml",
            CHALLENGE.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = app.get("/api/v1/challenges/toy-trigger", None).await;
    assert_eq!(r.json()["dataset"]["version"], "1.0.0", "latest resolved");
    assert_eq!(r.json()["open_phase"], "development");

    // Good: y = x0 ranks anomalies perfectly. Over budget: a wide hidden layer.
    let good = submit(
        &app,
        &bob,
        &linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0),
        "first feature",
        &[],
    )
    .await;
    assert_eq!(good.status, StatusCode::ACCEPTED, "{}", good.text());
    let wide = submit(&app, &bob, &wide_model(128), "wide", &[]).await;
    assert_eq!(wide.status, StatusCode::ACCEPTED, "{}", wide.text());
    // Malformed: refused at once with the reason; nothing is stored.
    let bad = submit(&app, &bob, b"this is not a protobuf", "broken", &[]).await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.text()
    );
    assert!(
        bad.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("`model`")
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM submissions")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 2);
    // Participants cannot submit to a phase of their choice.
    let r = submit(
        &app,
        &bob,
        &linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0),
        "sneaky",
        &[("phase", b"final")],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let good_id = good.json()["id"].as_str().unwrap().to_owned();
    let wide_id = wide.json()["id"].as_str().unwrap().to_owned();
    let r = app
        .get(&format!("/api/v1/submissions/{good_id}"), Some(&bob))
        .await;
    assert_eq!(r.json()["status"], "queued");

    // Organizer baseline in the hidden final phase.
    let baseline = submit(
        &app,
        &alice,
        &linear_model(&[0.5, 0.5, 0.0, 0.0], 0.0),
        "mean",
        &[("phase", b"final"), ("baseline", b"true")],
    )
    .await;
    assert_eq!(baseline.status, StatusCode::ACCEPTED, "{}", baseline.text());
    let baseline_id = baseline.json()["id"].as_str().unwrap().to_owned();

    run_worker_until_done(&app).await;

    // Statuses and their timestamped steps.
    let r = app
        .get(&format!("/api/v1/submissions/{good_id}"), Some(&bob))
        .await
        .json();
    assert_eq!(r["status"], "finished", "{r}");
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "submitted",
            "queued",
            "compiling",
            "simulating",
            "synthesizing",
            "scoring",
            "finished"
        ]
    );
    assert_eq!(r["scores"]["roc_auc"], 1.0, "{r}");
    assert_eq!(r["fits_budget"], true, "{r}");
    assert!(
        r["hardware"]["lut"].as_u64().is_some(),
        "hardware figures: {r}"
    );
    assert!(
        r["log"].as_str().unwrap().contains("simulated 300 samples"),
        "{r}"
    );
    assert_eq!(r["provenance"]["dataset_version"], "1.0.0");

    let w = app
        .get(&format!("/api/v1/submissions/{wide_id}"), Some(&bob))
        .await
        .json();
    assert_eq!(w["status"], "finished", "{w}");
    assert_eq!(w["fits_budget"], false, "{w}");
    assert!(
        w["violations"][0].as_str().unwrap().starts_with("LUT"),
        "{w}"
    );

    // The leaderboard: in-budget first, budget flags, provenance.
    let board = app
        .get("/api/v1/challenges/toy-trigger/leaderboard", None)
        .await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.text());
    let board = board.json();
    let rows = board["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{board}");
    assert_eq!(rows[0]["submission_id"], good_id.as_str());
    assert_eq!(rows[0]["rank"], 1);
    assert_eq!(rows[0]["in_budget"], true);
    assert_eq!(rows[1]["submission_id"], wide_id.as_str());
    assert_eq!(rows[1]["in_budget"], false);
    assert_eq!(
        rows[0]["provenance"]["model_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    let csv = app
        .get("/api/v1/challenges/toy-trigger/leaderboard.csv", None)
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let lines: Vec<String> = csv.text().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("rank,position,participant"));
    assert!(lines[1].contains(&good_id));

    let parquet = app
        .get("/api/v1/challenges/toy-trigger/leaderboard.parquet", None)
        .await;
    assert_eq!(parquet.status, StatusCode::OK);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(parquet.body),
    )
    .unwrap()
    .build()
    .unwrap();
    let total: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(total, 2);

    // The Pareto plot and the leaderboard's own Croissant metadata.
    let svg = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard/pareto.svg",
            None,
        )
        .await;
    assert_eq!(svg.status, StatusCode::OK);
    assert!(
        svg.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = svg.text();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert_eq!(svg.matches("class=\"entry\"").count(), 2, "{svg}");
    assert!(svg.contains(&good_id) && svg.contains("over budget"));
    let area = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard/pareto.svg?x=area",
            None,
        )
        .await;
    assert!(area.text().contains("LUT + 55"));
    let bad_axis = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard/pareto.svg?x=colour",
            None,
        )
        .await;
    assert_eq!(bad_axis.status, StatusCode::BAD_REQUEST);
    let croissant = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard/croissant.json",
            None,
        )
        .await
        .json();
    assert_eq!(croissant["@type"], "sc:Dataset");
    assert_eq!(
        croissant["recordSet"][0]["field"].as_array().unwrap().len(),
        21
    );
    let csv_sha = croissant["distribution"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let csv_bytes = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard.csv?phase=development",
            None,
        )
        .await
        .body;
    assert_eq!(
        csv_sha,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&csv_bytes))
    );

    // The final phase is hidden: participants see neither its board nor its scores.
    let r = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard?phase=final",
            Some(&bob),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard.csv?phase=final",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .get(&format!("/api/v1/submissions/{baseline_id}"), Some(&bob))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard?phase=final",
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["rows"].as_array().unwrap().len(), 1);
    // Publishing opens it to everyone.
    let r = app
        .post(
            "/api/v1/challenges/toy-trigger/phases/final/publish",
            Some(&bob),
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            "/api/v1/challenges/toy-trigger/phases/final/publish",
            Some(&alice),
            "application/json",
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .get(
            "/api/v1/challenges/toy-trigger/leaderboard?phase=final",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["rows"][0]["is_baseline"], true);

    // Owners download their models; others cannot.
    let r = app
        .get(&format!("/api/v1/submissions/{good_id}/model"), Some(&bob))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0));
    let carol = app.user("carol", &["read", "submit"], false).await;
    let r = app
        .get(
            &format!("/api/v1/submissions/{good_id}/model"),
            Some(&carol),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The RTL bundle the worker stored: a tar of what `arena rtl` writes, for the
    // same viewers as the model.
    let r = app
        .get(&format!("/api/v1/submissions/{good_id}"), Some(&bob))
        .await
        .json();
    let rtl_url = r["rtl_url"].as_str().expect("rtl_url").to_owned();
    let listed: Vec<&str> = r["rtl"]["files"]
        .as_array()
        .map(|f| f.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    assert!(listed.contains(&"arena_top.v"), "{r}");
    let tar = app.get(&rtl_url, Some(&bob)).await;
    assert_eq!(tar.status, StatusCode::OK);
    assert_eq!(tar.headers["content-type"], "application/x-tar");
    let dir = std::env::temp_dir().join(format!("arena-rtl-{good_id}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("b.tar"), &tar.body).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(dir.join("b.tar"))
        .output()
        .expect("tar runs");
    let names = String::from_utf8_lossy(&out.stdout).to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    for file in [
        "arena_top.v",
        "tb_arena_top.v",
        "vivado.tcl",
        "constraints.xdc",
        "report.json",
    ] {
        assert!(
            names.contains(&format!("submission-{good_id}-rtl/{file}")),
            "{file} in {names}"
        );
    }
    let verilog_start = tar.body.windows(6).position(|w| w == b"module");
    assert!(verilog_start.is_some(), "the bundle holds Verilog");
    assert_eq!(
        app.get(&rtl_url, Some(&carol)).await.status,
        StatusCode::FORBIDDEN
    );
}
