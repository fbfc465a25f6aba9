//! The adversarial suite of the integrity issue (docs/SECURITY.md, "Attacks"):
//! every attack on the hidden labels, the hidden scores and the platform's
//! availability, performed through the real router and a real worker with
//! real evaluation children, each expected to fail.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{App, app, multipart};
use serde_json::Value;

const CONFIG: &[u8] = b"Model:\n  Precision: fixed<16,6>\n";

/// A challenge on the toy dataset; `{phases}` and `{extra}` filled in.
fn challenge(slug: &str, phases: &str, extra: &str) -> String {
    format!(
        "slug: {slug}\ntitle: {slug}\ndataset: {{ slug: toy, version: latest }}\n\
         input: {{ column: x, shape: [4] }}\nlabel: is_anomaly\nmetric: roc_auc\n\
         target: {{ part: xc7a35t, clock_ns: 5 }}\nphases:\n{phases}\n{extra}"
    )
}

const LIVE: &str = "  - { name: development, split: public_test }";

async fn create(app: &App, token: &str, definition: &str) -> common::Response {
    app.post(
        "/api/v1/challenges",
        Some(token),
        "application/yaml",
        definition.as_bytes().to_vec(),
    )
    .await
}

async fn submit(
    app: &App,
    token: &str,
    slug: &str,
    model: &[u8],
    config: &[u8],
) -> common::Response {
    let (content_type, body) = multipart(&[
        ("model", Some("m.onnx"), model),
        ("config", None, config),
        ("label", None, b"entry"),
    ]);
    app.post(
        &format!("/api/v1/challenges/{slug}/submissions"),
        Some(token),
        &content_type,
        body,
    )
    .await
}

async fn user_id(app: &App, handle: &str) -> uuid::Uuid {
    db::users::by_handle(&app.db.pool, handle)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A page as the signed-in user `handle` (a session opened in the database).
async fn page_as(app: &App, handle: &str, uri: &str) -> common::Response {
    let (secret, _) = db::sessions::create(&app.db.pool, Some(user_id(app, handle).await))
        .await
        .unwrap();
    let request = Request::get(uri)
        .header("cookie", format!("arena_session={secret}"))
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

/// Counts of rows that refused requests must leave unchanged.
async fn rows(app: &App) -> (i64, i64) {
    let count = |table: &'static str| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    (count("submissions").await, count("challenges").await)
}

// ---------------------------------------------------------------------------
// Attack 1: the labels of hidden splits.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_labels_stay_with_the_datasets_maintainers() {
    let app = app().await;
    app.toy_dataset().await;
    let org = app
        .user("org", &["read", "submit", "organize"], false)
        .await;
    let private = "/api/v1/datasets/toy/versions/latest/splits/private_test.parquet";

    // An organizer who does not maintain `toy` cannot set up a challenge on its
    // hidden splits...
    let steal = challenge("steal", "  - { name: final, split: private_test }", "");
    let r = create(&app, &org, &steal).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let detail = r.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("whose labels are hidden") && detail.contains("maintainers"),
        "{detail}"
    );
    assert_eq!(
        app.get(private, Some(&org)).await.status,
        StatusCode::FORBIDDEN
    );

    // ... and organizing one (set up by the operator) opens nothing either.
    let live = challenge("toy-live", LIVE, "");
    let mut definition = server::ops::challenges::parse(&live).unwrap();
    definition.organizers = vec!["org".into()];
    let operator = server::ops::challenges::Authority::Operator;
    let row = server::ops::challenges::create(&app.db.pool, definition, None, operator)
        .await
        .unwrap();
    for uri in [
        private.to_owned(),
        format!(
            "{}?split=private_test",
            private.replace("/splits/private_test.parquet", "/rows")
        ),
        "/api/v1/datasets/toy/versions/latest/statistics?split=private_test".to_owned(),
    ] {
        let r = app.get(&uri, Some(&org)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{uri}: {}", r.text());
    }
    let rows_json = app
        .get(
            "/api/v1/datasets/toy/versions/latest/rows?split=public_test&length=5",
            Some(&org),
        )
        .await
        .json();
    assert!(rows_json["rows"][0]["row"].get("is_anomaly").is_none());
    // Editing it: the title may change, a new hidden phase may not.
    let retitled = live.replace("title: toy-live", "title: Renamed");
    let r = app
        .send(
            Request::put("/api/v1/challenges/toy-live")
                .header("authorization", format!("Bearer {org}"))
                .body(Body::from(retitled.clone() + "organizers: [org]\n"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let widened = format!(
        "{}  - {{ name: final, split: private_test }}\norganizers: [org]\n",
        retitled.replace("\n\n", "\n")
    );
    let r = app
        .send(
            Request::put("/api/v1/challenges/toy-live")
                .header("authorization", format!("Bearer {org}"))
                .body(Body::from(widened))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(
        db::challenges::by_id(&app.db.pool, row.id)
            .await
            .unwrap()
            .unwrap()
            .definition["phases"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Nor may they make themselves a maintainer or add a version.
    let r = app
        .post(
            "/api/v1/datasets/toy/maintainers",
            Some(&org),
            "application/json",
            br#"{"handle":"org"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let manifest = "slug: toy\nversion: 2.0.0\ntitle: Toy\ndescription: x\ndomain: testing\nlicence: CC-BY-4.0\n\
                    creators: [{name: X}]\nfeatures: [{name: a, dtype: float32}]\n\
                    splits: {train: {files: [t.csv]}}\n";
    let (ct, body) = multipart(&[("manifest", None, manifest.as_bytes())]);
    let r = app.post("/api/v1/datasets", Some(&org), &ct, body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // A token that asks for `organize` without the role gets nothing of it
    // (the account page used to mint such tokens for anyone).
    let plain = db::users::ensure(&app.db.pool, "plain", "plain", false)
        .await
        .unwrap();
    let (_, minted) =
        db::users::create_token(&app.db.pool, plain.id, "self-made", &["organize".into()])
            .await
            .unwrap();
    let r = create(&app, &minted, &live.replace("toy-live", "minted")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text().contains("does not hold the organizer role"),
        "{}",
        r.text()
    );

    // An admin's read-only token reads, and nothing more.
    let reader = app.user("root", &["read"], true).await;
    assert_eq!(app.get(private, Some(&reader)).await.status, StatusCode::OK);
    let r = create(&app, &reader, &live.replace("toy-live", "by-reader")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = app
        .post(
            "/api/v1/challenges/toy-live/phases/development/publish",
            Some(&reader),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // A maintainer sets up the challenge, and names the organizer a maintainer:
    // then, and only then, the labels open for them (audited).
    let mara = app
        .user("mara", &["read", "submit", "organize"], false)
        .await;
    app.maintain("toy", "mara").await;
    let r = create(&app, &mara, &steal).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = app
        .post(
            "/api/v1/datasets/toy/maintainers",
            Some(&mara),
            "application/json",
            br#"{"handle":"org"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(app.get(private, Some(&org)).await.status, StatusCode::OK);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'dataset.maintainer.add' AND subject = 'org'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

// ---------------------------------------------------------------------------
// Attack 2: scores of a hidden phase before publication.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_scores_reach_only_the_organizers_until_published() {
    let app = app().await;
    app.toy_dataset().await;
    let olga = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    app.maintain("toy", "olga").await;
    let pat = app.user("pat", &["read", "submit"], false).await;
    let blind = challenge(
        "blind",
        "  - { name: blind, split: public_test, leaderboard: hidden }",
        "",
    );
    assert_eq!(
        create(&app, &olga, &blind).await.status,
        StatusCode::CREATED
    );
    let model = common::linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let r = submit(&app, &pat, "blind", &model, CONFIG).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    common::run_worker_until_done(&app).await;

    let submission = format!("/api/v1/submissions/{id}");
    let mine = app.get(&submission, Some(&pat)).await;
    assert_eq!(mine.json()["status"], "finished", "{}", mine.text());
    // Nothing computed from the labels, anywhere the owner looks.
    let score = app.get(&submission, Some(&olga)).await.json()["scores"]["roc_auc"]
        .as_f64()
        .expect("the organizers see the score");
    // The metric's name never appears in what the owner gets of the entry, nor
    // does the score's value (when it has digits enough to be recognised).
    let digits = format!("{score}");
    let leaks = |text: &str| {
        text.contains("roc_auc =")
            || text.contains("\"roc_auc\"")
            || (digits.len() > 4 && text.contains(&digits))
    };
    assert!(mine.json()["scores"].is_null());
    assert!(mine.json().get("organizer_log").is_none());
    assert!(!leaks(&mine.text()), "{}", mine.text());
    let page = page_as(&app, "pat", &format!("/submissions/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!leaks(&page.text()) && !page.text().contains("Organizers' log"));
    let listed = app
        .get("/api/v1/challenges/blind/submissions", Some(&pat))
        .await;
    assert!(!leaks(&listed.text()), "{}", listed.text());
    for board in [
        "leaderboard",
        "leaderboard.csv",
        "leaderboard.parquet",
        "leaderboard/pareto.svg",
        "leaderboard/croissant.json",
    ] {
        let r = app
            .get(&format!("/api/v1/challenges/blind/{board}"), Some(&pat))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{board}");
        assert!(!leaks(&r.text()), "{board}");
    }
    let metrics = app.get("/metrics", None).await;
    assert!(!leaks(&metrics.text()));

    // The organizers see the score, and where it came from.
    let theirs = app.get(&submission, Some(&olga)).await.json();
    assert!(
        theirs["organizer_log"]
            .as_str()
            .unwrap()
            .contains("roc_auc ="),
        "{theirs}"
    );
    let page = page_as(&app, "olga", &format!("/submissions/{id}")).await;
    assert!(page.text().contains("Organizers' log") && page.text().contains("roc_auc ="));

    // Published: the owner sees the score (still not the organizers' log).
    let r = app
        .post(
            "/api/v1/challenges/blind/phases/blind/publish",
            Some(&olga),
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mine = app.get(&submission, Some(&pat)).await.json();
    assert_eq!(mine["scores"]["roc_auc"].as_f64(), Some(score));
    assert!(mine.get("organizer_log").is_none());
}

// ---------------------------------------------------------------------------
// Attack 3: a model that would take the platform down.

/// `4 -> 1 -> outputs`, no bias: the shape of the model of the integrity report.
fn fan_out(outputs: i64) -> Vec<u8> {
    use toolflow::onnx::build::ModelBuilder;
    let w2 = vec![0.5f32; outputs as usize];
    ModelBuilder::new("x", &[1, 4])
        .init("w1", &[4, 1], &[0.25, 0.25, 0.25, 0.25])
        .init("w2", &[1, outputs], &w2)
        .node("MatMul", &["x", "w1"], &["h"], vec![])
        .node("MatMul", &["h", "w2"], &["y"], vec![])
        .output("y")
        .bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_that_would_swamp_the_platform_are_refused_at_upload() {
    let app = app().await;
    app.toy_dataset().await;
    let olga = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    app.maintain("toy", "olga").await;
    let pat = app.user("pat", &["read", "submit"], false).await;
    let ae = challenge("auto", LIVE, "score_from: reconstruction_error\n");
    assert_eq!(create(&app, &olga, &ae).await.status, StatusCode::CREATED);
    let scored = challenge("scored", LIVE, "");
    assert_eq!(
        create(&app, &olga, &scored).await.status,
        StatusCode::CREATED
    );
    let slow = challenge("slow", LIVE, "limits: { eval_work: 1000 }\n");
    assert_eq!(create(&app, &olga, &slow).await.status, StatusCode::CREATED);
    let before = rows(&app).await;

    let wide = fan_out(2_000_000);
    let r = submit(&app, &pat, "auto", &wide, CONFIG).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        r.text().contains("input's size (4 values); it has 2000000"),
        "{}",
        r.text()
    );
    let r = submit(&app, &pat, "scored", &wide, CONFIG).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        r.text().contains("gives 2000000 values per sample"),
        "{}",
        r.text()
    );

    // The right output, but a hidden layer that no memory limit holds.
    let fat = common::wide_model(1_000_000);
    let r = submit(&app, &pat, "scored", &fat, CONFIG).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        r.text().contains("of memory") && r.text().contains("eval_memory_mib"),
        "{}",
        r.text()
    );

    // More work than the challenge allows: 300 rows x 4 multiplications.
    let linear = common::linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let r = submit(&app, &pat, "slow", &linear, CONFIG).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(
        r.text().contains("1,200 multiplications") && r.text().contains("eval_work"),
        "{}",
        r.text()
    );
    assert_eq!(rows(&app).await, before, "refusals store nothing");
}

/// A worker with its own sandbox, until `done` says so (or 120 s pass).
async fn work_until<F, Fut>(app: &App, sandbox: worker::Sandbox, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let shutdown = tokio_util::sync::CancellationToken::new();
    let registry = worker::Registry::new().with(worker::EvaluateHandler {
        pool: app.db.pool.clone(),
        store: app.state.store.clone(),
        sandbox,
    });
    let options = worker::WorkerOptions {
        concurrency: 1,
        poll: Duration::from_millis(100),
        ..Default::default()
    };
    let running = tokio::spawn(worker::run(
        app.db.pool.clone(),
        registry,
        options,
        shutdown.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done().await {
        assert!(Instant::now() < deadline, "the worker did not get there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
}

async fn status(app: &App, id: &str) -> Value {
    let row = db::submissions::get(&app.db.pool, id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    serde_json::json!({ "status": row.status, "message": row.message, "log": row.log })
}

async fn job_attempts(app: &App, id: &str) -> i32 {
    sqlx::query_scalar(
        "SELECT j.attempts FROM jobs j JOIN submissions s ON s.job_id = j.id WHERE s.id = $1",
    )
    .bind(uuid::Uuid::parse_str(id).unwrap())
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_past_its_memory_limit_is_killed_and_not_retried() {
    // The site's upload check is generous here, so the model reaches a worker
    // whose children have 256 MiB: the kernel's limit stops it.
    let mut app = app().await;
    let mut settings = (*app.state.settings).clone();
    settings.evaluation.memory_mib = 1 << 30;
    app.state.settings = Arc::new(settings);
    app.router = server::router(app.state.clone());
    app.toy_dataset().await;
    let olga = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    app.maintain("toy", "olga").await;
    let pat = app.user("pat", &["read", "submit"], false).await;
    let scored = challenge("scored", LIVE, "");
    assert_eq!(
        create(&app, &olga, &scored).await.status,
        StatusCode::CREATED
    );
    let r = submit(&app, &pat, "scored", &common::wide_model(1_000_000), CONFIG).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let mut sandbox = common::sandbox();
    sandbox.limits.memory_mib = 256;
    let started = Instant::now();
    work_until(&app, sandbox, || async {
        status(&app, &id).await["status"] == "failed"
    })
    .await;
    let ended = status(&app, &id).await;
    assert!(
        ended["message"]
            .as_str()
            .unwrap()
            .contains("memory limit of 256 MiB"),
        "{ended}"
    );
    assert_eq!(job_attempts(&app, &id).await, 1, "a limit is not retried");
    eprintln!("memory limit: failed after {:?}", started.elapsed());
}

/// A stand-in child that starts a grandchild and sleeps, writing the
/// grandchild's pid to `pid_file`: what a hung evaluation looks like.
fn sleeping_sandbox(pid_file: &std::path::Path, seconds: u64) -> worker::Sandbox {
    let mut sandbox = common::sandbox();
    sandbox.program = "/bin/sh".into();
    sandbox.args = vec![
        "-c".into(),
        format!("sleep 300 & echo $! > {}; wait", pid_file.display()),
    ];
    sandbox.limits.seconds = seconds;
    sandbox
}

fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

async fn pid_in(file: &std::path::Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "the child never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn soon_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !gone(pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} outlived its evaluation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("arena-adversarial-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_cancelled_disqualified_and_shut_down_evaluations_are_killed_at_once() {
    let app = app().await;
    app.toy_dataset().await;
    let olga = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    app.maintain("toy", "olga").await;
    let pat = app.user("pat", &["read", "submit"], false).await;
    assert_eq!(
        create(&app, &olga, &challenge("hang", LIVE, ""))
            .await
            .status,
        StatusCode::CREATED
    );
    let model = common::linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let dir = scratch("hang");

    // Past the wall clock: killed with its grandchild, failed, not retried.
    let r = submit(&app, &pat, "hang", &model, CONFIG).await;
    let timed = r.json()["id"].as_str().unwrap().to_owned();
    let pid_file = dir.join("timed.pid");
    let started = Instant::now();
    work_until(&app, sleeping_sandbox(&pid_file, 1), || async {
        status(&app, &timed).await["status"] == "failed"
    })
    .await;
    let waited = started.elapsed();
    let ended = status(&app, &timed).await;
    assert!(
        ended["message"]
            .as_str()
            .unwrap()
            .contains("time limit of 1 s"),
        "{ended}"
    );
    assert!(waited < Duration::from_secs(20), "{waited:?}");
    soon_gone(pid_in(&pid_file).await).await;
    assert_eq!(job_attempts(&app, &timed).await, 1);

    // Cancelled by its owner, then disqualified by an organizer: the child is
    // killed within the worker's half-second poll, and /readyz answers meanwhile.
    for (name, stop) in [("cancel", 0), ("disqualify", 1)] {
        let r = submit(&app, &pat, "hang", &model, CONFIG).await;
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let pid_file = dir.join(format!("{name}.pid"));
        let (app_ref, pat_ref, olga_ref, id_ref, pid_ref) = (&app, &pat, &olga, &id, &pid_file);
        let stopped = std::cell::Cell::new(None::<Instant>);
        let stopped_ref = &stopped;
        work_until(&app, sleeping_sandbox(&pid_file, 600), move || async move {
            if stopped_ref.get().is_none() && pid_ref.exists() {
                let ready = app_ref.get("/readyz", None).await;
                assert_eq!(ready.status, StatusCode::OK, "readyz during an evaluation");
                let r = if stop == 0 {
                    app_ref
                        .post(
                            &format!("/api/v1/submissions/{id_ref}/cancel"),
                            Some(pat_ref),
                            "application/json",
                            Vec::new(),
                        )
                        .await
                } else {
                    app_ref
                        .disqualify(id_ref, olga_ref, "probing the labels")
                        .await
                };
                assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                stopped_ref.set(Some(Instant::now()));
            }
            match (stopped_ref.get(), pid_ref.exists()) {
                (Some(_), true) => {
                    let pid = std::fs::read_to_string(pid_ref).unwrap_or_default();
                    pid.trim().parse().is_ok_and(gone)
                }
                _ => false,
            }
        })
        .await;
        let took = stopped.get().unwrap().elapsed();
        assert!(
            took < Duration::from_secs(3),
            "{name}: killed after {took:?}"
        );
        assert_eq!(status(&app, &id).await["status"], "cancelled");
        eprintln!("{name}: child killed {took:?} after the request");
    }

    // Shutting the worker down kills the child and hands the job back.
    let r = submit(&app, &pat, "hang", &model, CONFIG).await;
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let pid_file = dir.join("shutdown.pid");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let registry = worker::Registry::new().with(worker::EvaluateHandler {
        pool: app.db.pool.clone(),
        store: app.state.store.clone(),
        sandbox: sleeping_sandbox(&pid_file, 600),
    });
    let running = tokio::spawn(worker::run(
        app.db.pool.clone(),
        registry,
        worker::WorkerOptions {
            concurrency: 1,
            poll: Duration::from_millis(100),
            ..Default::default()
        },
        shutdown.clone(),
    ));
    let pid = pid_in(&pid_file).await;
    let asked = Instant::now();
    shutdown.cancel();
    running.await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    soon_gone(pid).await;
    assert_eq!(status(&app, &id).await["status"], "queued", "handed back");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Attack 4 and the parsers: YAML that expands, uploads that decode to much.

fn alias_bomb() -> String {
    let big = "x".repeat(100_000);
    let mut text = challenge(
        "bomb",
        LIVE,
        &format!("description: &big {big}\norganizers:\n"),
    );
    for _ in 0..2000 {
        text.push_str("  - *big\n");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parsers_and_uploads_cannot_be_bombed() {
    let mut app = app().await;
    let mut settings = (*app.state.settings).clone();
    settings.ingest.max_rows = 10;
    app.state.settings = Arc::new(settings);
    app.router = server::router(app.state.clone());
    app.toy_dataset().await;
    let olga = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    app.maintain("toy", "olga").await;
    let pat = app.user("pat", &["read", "submit"], false).await;
    let before = rows(&app).await;

    let bomb = alias_bomb();
    assert!(bomb.len() > 100_000);
    let r = create(&app, &olga, &bomb).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.text().contains("anchors and aliases"), "{}", r.text());
    assert_eq!(rows(&app).await, before);

    // The same trick in a precision configuration.
    assert_eq!(
        create(&app, &olga, &challenge("cfg", LIVE, ""))
            .await
            .status,
        StatusCode::CREATED
    );
    let config = b"Model: &m\n  Precision: fixed<16,6>\nLayerName:\n  a: *m\n";
    let model = common::linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let r = submit(&app, &pat, "cfg", &model, config).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("anchors and aliases"), "{}", r.text());

    // A dataset upload: aliases in the manifest, then more rows than the site allows.
    let manifest = "slug: many\nversion: 1.0.0\ntitle: &t Many\ndescription: *t\ndomain: testing\nlicence: CC-BY-4.0\n\
                    creators: [{name: X}]\n\
                    features: [{name: id, dtype: int64, role: id}, {name: a, dtype: float32}]\n\
                    splits: {train: {files: [t.csv]}}\n";
    let (ct, body) = multipart(&[("manifest", None, manifest.as_bytes())]);
    let r = app.post("/api/v1/datasets", Some(&olga), &ct, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("anchors and aliases"), "{}", r.text());
    let manifest = manifest.replace("&t Many", "Many").replace("*t", "x");
    let csv: String = std::iter::once("id,a\n".to_owned())
        .chain((0..50).map(|i| format!("{i},{i}.5\n")))
        .collect();
    let (ct, body) = multipart(&[
        ("manifest", None, manifest.as_bytes()),
        ("file", Some("t.csv"), csv.as_bytes()),
    ]);
    let r = app.post("/api/v1/datasets", Some(&olga), &ct, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("over the limit of 10"), "{}", r.text());
    assert!(
        db::datasets::by_slug(&app.db.pool, "many")
            .await
            .unwrap()
            .is_none()
    );

    // Uploads beyond the server's concurrency wait for nobody: 503.
    let mut settings = (*app.state.settings).clone();
    settings.uploads = Arc::new(tokio::sync::Semaphore::new(0));
    app.state.settings = Arc::new(settings);
    app.router = server::router(app.state.clone());
    let (ct, body) = multipart(&[("manifest", None, manifest.as_bytes())]);
    let r = app.post("/api/v1/datasets", Some(&olga), &ct, body).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
}

// ---------------------------------------------------------------------------
// The smaller items: rates, transport security, exports, return URLs, audit.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_sign_ins_exports_and_redirects_are_bounded() {
    let mut app = app().await;
    let mut settings = (*app.state.settings).clone();
    settings.rate_limits.write_per_ip = server::security::RateLimit {
        burst: 3,
        per_minute: 3,
    };
    settings.hsts = true;
    app.state.settings = Arc::new(settings);
    app.router = server::router(app.state.clone());
    app.toy_dataset().await;
    let olga = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;

    // Every write counts against the address's budget; then 429 with Retry-After.
    for _ in 0..3 {
        let r = create(&app, &olga, "slug: [").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    let r = create(&app, &olga, "slug: [").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.headers.contains_key("retry-after"));
    // Sign-in starts write a flow each: the same budget.
    let r = app.get("/auth/nope/login", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Reads are not limited, and HTTPS sites send HSTS on every response.
    let r = app.get("/api/v1/challenges", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["strict-transport-security"],
        server::security::STRICT_TRANSPORT_SECURITY
    );

    // A return URL that a browser would take off the site is replaced by `/`.
    let app = common::app().await;
    for hostile in ["/%09/evil.example", "//evil.example", "/\\evil.example"] {
        let page = app.get(&format!("/login?return_to={hostile}"), None).await;
        assert!(
            !page.text().contains("evil.example"),
            "{hostile}: {}",
            page.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderboard_exports_defuse_formulas() {
    let app = app().await;
    app.toy_dataset().await;
    let olga = app
        .user("olga", &["read", "submit", "organize"], false)
        .await;
    app.maintain("toy", "olga").await;
    let pat = app.user("pat", &["read", "submit"], false).await;
    assert_eq!(
        create(&app, &olga, &challenge("csv", LIVE, ""))
            .await
            .status,
        StatusCode::CREATED
    );
    let model = common::linear_model(&[1.0, 0.0, 0.0, 0.0], 0.0);
    let (content_type, body) = multipart(&[
        ("model", Some("m.onnx"), &model),
        ("config", None, CONFIG),
        ("label", None, b"=HYPERLINK(\"http://evil.example\")"),
    ]);
    let r = app
        .post(
            "/api/v1/challenges/csv/submissions",
            Some(&pat),
            &content_type,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    common::run_worker_until_done(&app).await;
    let csv = app
        .get("/api/v1/challenges/csv/leaderboard.csv", None)
        .await
        .text();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(
        !csv.contains(",=HYPERLINK") && !csv.contains("\"=HYPERLINK"),
        "{csv}"
    );
}
