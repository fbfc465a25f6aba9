//! Workers against a real PostgreSQL.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

fn options(concurrency: usize) -> worker::WorkerOptions {
    worker::WorkerOptions {
        concurrency,
        lease: Duration::from_secs(3),
        poll: Duration::from_millis(500),
        name: format!("test-{}", rand::random::<u32>()),
    }
}

async fn wait_for(pool: &sqlx::PgPool, status: &str, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = $1")
            .bind(status)
            .fetch_one(pool)
            .await
            .unwrap();
        if n == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {count} {status} jobs (have {n})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_jobs_and_records_results() {
    let test = db::testing::database().await;
    let shutdown = CancellationToken::new();
    let registry = worker::Registry::new().with(worker::SleepHandler);
    let running = tokio::spawn(worker::run(
        test.pool.clone(),
        registry,
        options(3),
        shutdown.clone(),
    ));
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(
            db::jobs::enqueue(&test.pool, "diagnostic.sleep", &json!({"ms": 10}), 3)
                .await
                .unwrap(),
        );
    }
    // A job the handler refuses fails at once with its reason.
    let bad = db::jobs::enqueue(
        &test.pool,
        "diagnostic.sleep",
        &json!({"ms": 10_000_000}),
        3,
    )
    .await
    .unwrap();
    wait_for(&test.pool, "finished", 10).await;
    wait_for(&test.pool, "failed", 1).await;
    let failed = db::jobs::get(&test.pool, bad).await.unwrap().unwrap();
    assert_eq!(failed.attempts, 1, "permanent errors are not retried");
    assert!(failed.last_error.unwrap().contains("exceeds the limit"));
    for id in ids {
        let job = db::jobs::get(&test.pool, id).await.unwrap().unwrap();
        assert_eq!(job.result.unwrap()["slept_ms"], 10);
    }
    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_jobs_back_without_counting_the_attempt() {
    let test = db::testing::database().await;
    let shutdown = CancellationToken::new();
    let registry = worker::Registry::new().with(worker::SleepHandler);
    let running = tokio::spawn(worker::run(
        test.pool.clone(),
        registry,
        options(1),
        shutdown.clone(),
    ));
    let id = db::jobs::enqueue(&test.pool, "diagnostic.sleep", &json!({"ms": 60_000}), 3)
        .await
        .unwrap();
    wait_for(&test.pool, "running", 1).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("worker stops promptly")
        .unwrap();
    let job = db::jobs::get(&test.pool, id).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("queued", 0));
    assert!(job.lease_owner.is_none());
}
