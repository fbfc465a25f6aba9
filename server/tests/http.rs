//! The real router on a real PostgreSQL.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

async fn app() -> (axum::Router, db::testing::TestDb) {
    let test = db::testing::database().await;
    let state = server::AppState {
        pool: test.pool.clone(),
        store: Arc::new(object_store::memory::InMemory::new()),
        settings: Arc::new(server::Settings::default()),
    };
    (server::router(state), test)
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String, String) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let (app, _db) = app().await;
    let (status, _, body) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ok"
    );

    let (status, _, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["store"], "ok");
}

#[tokio::test]
async fn readyz_reports_an_unreachable_database() {
    let (app, test) = app().await;
    test.pool.close().await;
    let (status, _, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "not ready");
    assert!(
        body["database"]
            .as_str()
            .unwrap()
            .starts_with("unreachable")
    );
    assert_eq!(body["store"], "ok");
}

#[tokio::test]
async fn pages_render_and_unknown_paths_are_404_pages() {
    let (app, _db) = app().await;
    let (status, content_type, body) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"));
    assert!(body.contains("FastML Arena"));
    let (status, content_type, _) = get(&app, "/static/arena.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/css"));
    let (status, _, body) = get(&app, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Not found"));
}
