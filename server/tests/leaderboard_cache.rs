//! The leaderboard JSON cache: a repeated read is served from the cache, and
//! any change of the challenge's results (here a disqualification, then a new
//! finished submission) shows up on the very next read.

mod common;

use axum::http::StatusCode;
use common::*;

const CHALLENGE: &str = r#"
slug: toy-cached
title: Toy cached
description: Leaderboard cache.
dataset: { slug: toy, version: latest }
input: { column: x, shape: [4] }
label: is_anomaly
metric: roc_auc
target: { part: xc7a35t, clock_ns: 5 }
phases:
  - { name: development, split: public_test }
entries_per_participant: all
"#;
const BOARD: &str = "/api/v1/challenges/toy-cached/leaderboard";

async fn submit(app: &App, token: &str, weights: &[f32; 4]) -> String {
    let model = linear_model(weights, 0.0);
    let (content_type, body) = multipart(&[
        ("model", Some("model.onnx"), &model),
        ("config", None, b"Model:\n  Precision: fixed<16,6>\n"),
    ]);
    let r = app
        .post(
            "/api/v1/challenges/toy-cached/submissions",
            Some(token),
            &content_type,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

fn ranked(app_board: &Response) -> usize {
    app_board.json()["rows"].as_array().unwrap().len()
}

/// The challenge with bob's first submission evaluated.
struct Board {
    app: App,
    organizer: String,
    bob: String,
    first: String,
}

async fn board_with_one_entry() -> Board {
    let app = app().await;
    app.toy_dataset().await;
    let organizer = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    // The challenge scores toy's hidden test labels: its creator maintains toy.
    app.maintain("toy", "olga").await;
    let bob = app.user("bob", &["read", "submit"], false).await;
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&organizer),
            "application/yaml",
            CHALLENGE.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let first = submit(&app, &bob, &[1.0, 0.0, 0.0, 0.0]).await;
    run_worker_until_done(&app).await;
    Board {
        app,
        organizer,
        bob,
        first,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_leaderboards_change_with_the_results() {
    let Board {
        app,
        organizer,
        bob,
        first,
    } = board_with_one_entry().await;

    let a = app.get(BOARD, None).await;
    let b = app.get(BOARD, None).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body, b.body, "a repeated read gives the same board");
    assert_eq!(ranked(&a), 1, "{}", a.text());

    let r = app.disqualify(&first, &organizer, "test").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let c = app.get(BOARD, None).await;
    assert_eq!(
        ranked(&c),
        0,
        "the disqualified entry is still ranked: {}",
        c.text()
    );

    submit(&app, &bob, &[0.5, 0.0, 0.0, 0.0]).await;
    run_worker_until_done(&app).await;
    let d = app.get(BOARD, None).await;
    assert_eq!(ranked(&d), 1, "the new result is missing: {}", d.text());
}

/// With the server listening to the database's notifications, a cached board
/// is served without the version query, and a committed change (here a
/// disqualification) ends that within moments; without the listener the
/// version check takes over again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notified_boards_skip_the_database_until_a_change() {
    let Board {
        app,
        organizer,
        first,
        ..
    } = board_with_one_entry().await;

    let stop = tokio_util::sync::CancellationToken::new();
    let listening = tokio::spawn(server::cache::listen(app.db.pool.clone(), stop.clone()));
    let key = server::cache::key(&app.db.pool, "toy-cached", None);
    let state = server::cache::notifications(&key.0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !state.is_live() {
        assert!(
            std::time::Instant::now() < deadline,
            "the listener never connected"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        server::cache::get_notified(&key).is_none(),
        "nothing cached yet"
    );
    let a = app.get(BOARD, None).await;
    assert_eq!(ranked(&a), 1, "{}", a.text());
    let cached = server::cache::get_notified(&key).expect("served from the cache alone");
    assert_eq!(cached.as_ref(), a.body.as_slice());

    let r = app.disqualify(&first, &organizer, "test").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server::cache::get_notified(&key).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the change was never notified"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let b = app.get(BOARD, None).await;
    assert_eq!(ranked(&b), 0, "{}", b.text());
    assert!(server::cache::get_notified(&key).is_some(), "cached again");

    stop.cancel();
    listening.await.unwrap();
    assert!(!state.is_live());
    assert!(
        server::cache::get_notified(&key).is_none(),
        "without the listener, the version is checked again"
    );
    assert_eq!(ranked(&app.get(BOARD, None).await), 0);
}
