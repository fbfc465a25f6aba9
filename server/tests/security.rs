//! Security basics through the real router on a real PostgreSQL: security
//! headers on every kind of response, the request timeout against a client
//! that never finishes its upload, submission rate limits per user and per
//! client address, internal errors without internals, and the audit log of
//! organizer actions.
//!
//! One test function: the rate limits are read from the environment when the
//! router is built, so this binary sets them once before anything else runs.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use futures::StreamExt;

const CHALLENGE: &str = r#"
slug: toy-secure
title: Toy secure
description: Security basics.
dataset: { slug: toy, version: latest }
input: { column: x, shape: [4] }
label: is_anomaly
metric: roc_auc
target: { part: xc7a35t, clock_ns: 5 }
phases:
  - { name: development, split: public_test }
  - { name: final, split: private_test, starts: 2099-01-01T00:00:00Z }
"#;
const SUBMIT: &str = "/api/v1/challenges/toy-secure/submissions";
const USER_RATE: u32 = 3;
const IP_RATE: u32 = 5;
const TIMEOUT: Duration = Duration::from_secs(1);

fn assert_security_headers(r: &Response, what: &str) {
    let header = |name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_owned()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(
        header("referrer-policy"),
        "strict-origin-when-cross-origin",
        "{what}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
}

/// A submission from `ip` (as the real server records the peer address).
async fn submit_from(app: &App, token: &str, ip: [u8; 4]) -> Response {
    let model = linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let (content_type, body) = multipart(&[
        ("model", Some("model.onnx"), &model),
        ("config", None, b"Model:\n  Precision: fixed<16,6>\n"),
    ]);
    let mut request = Request::post(SUBMIT)
        .header("content-type", content_type)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    app.send(request).await
}

async fn submission_rows(app: &App) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM submissions")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_timeouts_rate_limits_errors_and_audit() {
    let mut app = app().await;
    let per_minute = |n| server::security::RateLimit {
        burst: n,
        per_minute: n,
    };
    let state = server::AppState {
        settings: Arc::new(server::Settings {
            request_timeout: TIMEOUT,
            rate_limits: server::security::RateLimits {
                submit_per_user: per_minute(USER_RATE),
                submit_per_ip: per_minute(IP_RATE),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..app.state.clone()
    };
    app.router = server::router(state.clone());
    app.state = state;
    app.toy_dataset().await;
    let organizer = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    // The challenge scores toy's hidden test labels: its creator maintains toy.
    app.maintain("toy", "olga").await;
    let alice = app.user("alice", &["read", "submit"], false).await;
    let bob = app.user("bob", &["read", "submit"], false).await;
    let carol = app.user("carol", &["read", "submit"], false).await;
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&organizer),
            "application/yaml",
            CHALLENGE.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // Headers on JSON, a page, a 404, a problem+json error and a health probe.
    for uri in [
        "/api/v1/challenges",
        "/",
        "/no/such/page",
        "/api/v1/challenges/nope",
        "/healthz",
    ] {
        let r = app.get(uri, None).await;
        assert_security_headers(&r, uri);
    }

    // A client that starts an upload and never finishes it gets 408 at the
    // timeout (and the security headers), not a connection held forever.
    let (content_type, body) = multipart(&[("model", Some("m.onnx"), &[1u8; 64])]);
    let half = body[..body.len() / 2].to_vec();
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(half) })
        .chain(futures::stream::pending());
    let request = Request::post(SUBMIT)
        .header("content-type", content_type)
        .header("authorization", format!("Bearer {carol}"))
        .body(Body::from_stream(stream))
        .unwrap();
    let asked = Instant::now();
    let r = app.send(request).await;
    let waited = asked.elapsed();
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT, "{}", r.text());
    assert!(
        waited >= TIMEOUT && waited < TIMEOUT * 3,
        "answered after {waited:?}"
    );
    assert_security_headers(&r, "408");
    eprintln!("stalled upload: 408 after {:.2} s", waited.as_secs_f64());

    // Rate limits: alice may submit USER_RATE times in a burst, from any address.
    let before = submission_rows(&app).await;
    for i in 0..USER_RATE {
        let r = submit_from(&app, &alice, [10, 0, 0, 1 + i as u8]).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    }
    let r = submit_from(&app, &alice, [10, 0, 0, 9]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("this user"), "{}", r.text());
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_security_headers(&r, "429");
    eprintln!("per-user limit: 429 {} (Retry-After {retry})", r.text());
    // The challenge page's form counts against the same budget of the signed-in
    // user, and a browser gets a page saying so.
    let alice_user = db::users::ensure(&app.db.pool, "alice", "alice", false)
        .await
        .unwrap();
    let (secret, session) = db::sessions::create(&app.db.pool, Some(alice_user.id))
        .await
        .unwrap();
    let model = linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let (content_type, body) = multipart(&[
        ("csrf", None, session.csrf_token.as_bytes()),
        ("model", Some("model.onnx"), &model),
    ]);
    let mut request = Request::post("/challenges/toy-secure/submit")
        .header("content-type", content_type)
        .header("cookie", format!("arena_session={secret}"))
        .body(Body::from(body))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 10], 40000))));
    let r = app.send(request).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().contains("this user"), "{}", r.text());
    assert!(r.headers.contains_key("retry-after"));
    // One address may send IP_RATE submissions, whoever sends them.
    let shared = [192, 0, 2, 7];
    for token in [&bob, &bob, &carol, &carol, &organizer] {
        let r = submit_from(&app, token, shared).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    }
    let r = submit_from(&app, &organizer, shared).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("this address"), "{}", r.text());
    eprintln!("per-address limit: 429 {}", r.text());
    // Another address is not affected, and refused requests left no rows.
    let r = submit_from(&app, &organizer, [192, 0, 2, 8]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(
        submission_rows(&app).await,
        before + i64::from(USER_RATE) + 6
    );

    // The challenge's own quota (submissions per participant and day) is
    // separate from the rate limits: dave may burst 3, the quota allows 2.
    let dave = app.user("dave", &["read", "submit"], false).await;
    let quota = CHALLENGE
        .replace("toy-secure", "toy-quota")
        .replace("Toy secure", "Toy quota")
        + "limits: { per_day: 2 }\n";
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&organizer),
            "application/yaml",
            quota.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let model = linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let (content_type, body) = multipart(&[
        ("model", Some("model.onnx"), &model),
        ("config", None, b"Model:\n  Precision: fixed<16,6>\n"),
    ]);
    let quota_url = "/api/v1/challenges/toy-quota/submissions";
    for expected in [
        StatusCode::ACCEPTED,
        StatusCode::ACCEPTED,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let r = app
            .post(quota_url, Some(&dave), &content_type, body.clone())
            .await;
        assert_eq!(r.status, expected, "{}", r.text());
        if expected == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                r.text().contains("submission limit reached: 2 per day"),
                "{}",
                r.text()
            );
        }
    }

    // Audit log: every organizer action is recorded with its actor.
    // (An update replaces the organizer list, so it names the editor.)
    let yaml = CHALLENGE.replace("Toy secure", "Toy secure, edited") + "organizers: [olga]\n";
    let r = app
        .send(
            Request::put("/api/v1/challenges/toy-secure")
                .header("authorization", format!("Bearer {organizer}"))
                .header("content-type", "application/yaml")
                .body(Body::from(yaml))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = app
        .post(
            "/api/v1/challenges/toy-secure/phases/final/publish",
            Some(&organizer),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let victim: String =
        sqlx::query_scalar("SELECT id::text FROM submissions ORDER BY created_at LIMIT 1")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let r = app
        .disqualify(&victim, &organizer, "used the test labels")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // A participant's attempt is refused and not recorded as an action.
    let r = app.disqualify(&victim, &alice, "spite").await;
    assert!(r.status.is_client_error(), "{}", r.text());
    let challenge_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM challenges WHERE slug = 'toy-secure'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let log = db::audit::of_challenge(&app.db.pool, challenge_id)
        .await
        .unwrap();
    let actions: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.actor_handle.as_str(),
                e.subject.as_str(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("challenge.create", "olga", "toy-secure"),
            ("challenge.update", "olga", "toy-secure"),
            ("phase.publish", "olga", "final"),
            ("submission.disqualify", "olga", victim.as_str()),
        ]
    );
    assert_eq!(log[3].detail["reason"], "used the test labels");

    // Internal failures are reported without internals.
    app.db.pool.close().await;
    let r = app.get("/api/v1/challenges", None).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert_eq!(
        r.json()["detail"],
        "internal error: the database request failed"
    );
    assert_eq!(
        r.headers["content-type"], "application/problem+json",
        "{:?}",
        r.headers
    );
    assert_security_headers(&r, "500");
}

/// Over a real socket: a client that sends part of its headers and then
/// nothing is disconnected at the header timeout, a complete request is
/// answered, and shutdown waits for the connections to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_at_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app().await;
    let header_timeout = Duration::from_secs(1);
    let state = server::AppState {
        settings: Arc::new(server::Settings {
            header_timeout,
            ..Default::default()
        }),
        ..app.state.clone()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(server::serve(listener, state, shutdown.clone()));

    let mut whole = tokio::net::TcpStream::connect(addr).await.unwrap();
    whole
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: arena\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    whole.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: ar")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    let waited = started.elapsed();
    assert!(read.is_ok(), "still connected after {waited:?}");
    assert!(
        waited >= header_timeout.mul_f32(0.9) && waited < header_timeout * 3,
        "disconnected after {waited:?}"
    );
    let text = String::from_utf8_lossy(&rest);
    assert!(
        !text.contains(" 200 "),
        "a half request was answered: {text}"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("shutdown finishes")
        .unwrap()
        .unwrap();
}
