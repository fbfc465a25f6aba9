//! `/metrics` read by a real Prometheus text-format parser
//! (`prometheus_client.parser` from the venv), before and after a worker runs
//! three submissions: the counters and histograms move by what happened, routes
//! are patterns (never raw paths), and request ids travel in and out.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::Value;

const CHALLENGE: &str = r#"
slug: metric-trigger
title: Metric trigger
description: Anomalies in the toy dataset, for the metrics test.
dataset: { slug: toy, version: latest }
input: { column: x, shape: [4] }
label: is_anomaly
metric: roc_auc
target: { part: xc7a35t, clock_ns: 5 }
phases:
  - { name: development, split: public_test }
"#;

/// Parses the text format with prometheus_client and prints every sample as JSON.
const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name,
                    "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

fn python() -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import prometheus_client.parser"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// One scrape, parsed: sample name -> [(labels, value)].
struct Scrape {
    samples: Vec<(String, HashMap<String, String>, f64)>,
    types: HashMap<String, String>,
}

impl Scrape {
    fn parse(python: &std::path::Path, text: &str) -> Scrape {
        let mut child = Command::new(python)
            .args(["-c", PARSER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "prometheus_client rejected /metrics: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let mut samples = Vec::new();
        let mut types = HashMap::new();
        for s in parsed {
            types.insert(
                s["family"].as_str().unwrap().to_owned(),
                s["type"].as_str().unwrap().to_owned(),
            );
            let labels = s["labels"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            samples.push((
                s["name"].as_str().unwrap().to_owned(),
                labels,
                s["value"].as_f64().unwrap_or(f64::NAN),
            ));
        }
        Scrape { samples, types }
    }

    /// The sum of the samples named `name` whose labels include `want`.
    fn value(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .filter_map(|(_, labels, _)| labels.get(label).cloned())
            .collect()
    }
}

async fn scrape(app: &App, python: &std::path::Path) -> Scrape {
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.headers
    );
    Scrape::parse(python, &r.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_as_jobs_run() {
    let Some(python) = python() else {
        eprintln!("SKIPPED: .venv lacks prometheus_client (run scripts/python-env)");
        return;
    };
    let app = app().await;
    app.toy_dataset().await;
    let organizer = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    // The challenge scores toy's hidden test labels: its creator maintains toy.
    app.maintain("toy", "olga").await;
    let participant = app.user("pat", &["read", "submit"], false).await;
    let r = app
        .post(
            "/api/v1/challenges",
            Some(&organizer),
            "application/yaml",
            CHALLENGE.into(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    let before = scrape(&app, &python).await;
    assert_eq!(
        before.types["arena_http_request_duration_seconds"],
        "histogram"
    );
    assert_eq!(before.types["arena_jobs"], "gauge");
    assert_eq!(before.value("arena_database_up", &[]), 1.0);
    for status in ["queued", "running", "finished", "failed", "cancelled"] {
        assert!(
            before
                .label_values("arena_jobs", "status")
                .contains(&status.to_owned()),
            "arena_jobs has every status"
        );
    }

    let submit_route = [
        ("route", "/api/v1/challenges/{slug}/submissions"),
        ("method", "POST"),
        ("status", "202"),
    ];
    for (i, weights) in [
        [1.0, 0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
    ]
    .iter()
    .enumerate()
    {
        let (content_type, body) = multipart(&[
            ("model", Some("model.onnx"), &linear_model(weights, 0.0)),
            ("config", None, b"Model:\n  Precision: fixed<16,6>\n"),
            ("label", None, format!("m{i}").as_bytes()),
        ]);
        let r = app
            .post(
                "/api/v1/challenges/metric-trigger/submissions",
                Some(&participant),
                &content_type,
                body,
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    }
    let queued = scrape(&app, &python).await;
    assert_eq!(
        queued.value("arena_http_request_duration_seconds_count", &submit_route)
            - before.value("arena_http_request_duration_seconds_count", &submit_route),
        3.0
    );
    assert_eq!(
        queued.value("arena_jobs", &[("status", "queued")])
            - before.value("arena_jobs", &[("status", "queued")]),
        3.0
    );

    run_worker_until_done(&app).await;
    let after = scrape(&app, &python).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - queued.value(name, labels)
    };
    assert_eq!(moved("arena_jobs", &[("status", "finished")]), 3.0);
    assert_eq!(after.value("arena_jobs", &[("status", "queued")]), 0.0);
    let evaluate = [("kind", "submission.evaluate"), ("outcome", "ok")];
    assert_eq!(moved("arena_jobs_ended_total", &evaluate), 3.0);
    assert_eq!(moved("arena_job_duration_seconds_count", &evaluate), 3.0);
    assert!(moved("arena_job_duration_seconds_sum", &evaluate) > 0.0);
    for step in ["compiling", "simulating", "synthesizing", "scoring"] {
        assert_eq!(
            moved("arena_job_step_duration_seconds_count", &[("step", step)]),
            3.0,
            "step {step}"
        );
    }
    // Histogram buckets are cumulative and end at the count.
    let inf = after.value(
        "arena_job_step_duration_seconds_bucket",
        &[("step", "compiling"), ("le", "+Inf")],
    );
    assert_eq!(
        inf,
        after.value(
            "arena_job_step_duration_seconds_count",
            &[("step", "compiling")]
        )
    );
    assert!(
        after.value("arena_worker_last_heartbeat_timestamp_seconds", &[]) > 1.7e9,
        "a worker checked in"
    );

    // Routes are patterns: no raw path (with a slug or an id) becomes a series.
    let r = app.get("/api/v1/challenges/metric-trigger", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get("/no/such/page", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let last = scrape(&app, &python).await;
    let routes = last.label_values("arena_http_request_duration_seconds_count", "route");
    assert!(
        routes.contains(&"/api/v1/challenges/{slug}".to_owned()),
        "{routes:?}"
    );
    assert!(routes.contains(&"unmatched".to_owned()), "{routes:?}");
    assert!(
        routes
            .iter()
            .all(|r| !r.contains("metric-trigger") && !r.contains("/no/such")),
        "{routes:?}"
    );

    // Request ids: a plain one from the client comes back; otherwise a new one.
    let r = app
        .send(
            Request::get("/healthz")
                .header("x-request-id", "trace-42.a")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.headers["x-request-id"], "trace-42.a");
    let r = app
        .send(
            Request::get("/healthz")
                .header("x-request-id", "x".repeat(100))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let minted = r.headers["x-request-id"].to_str().unwrap();
    assert_eq!(minted.len(), 36, "a UUID replaces an overlong id: {minted}");
}
