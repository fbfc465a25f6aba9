//! The job queue on a real PostgreSQL.

use std::time::Duration;

use db::jobs;
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

fn kinds() -> Vec<String> {
    vec!["test".to_owned()]
}

#[tokio::test]
async fn claim_then_finish() {
    let test = db::testing::database().await;
    let pool = &test.pool;
    let id = jobs::enqueue(pool, "test", &json!({"n": 1}), 3)
        .await
        .unwrap();
    assert_eq!(jobs::queue_position(pool, id).await.unwrap(), Some(0));

    let job = jobs::claim(pool, "w1", &kinds(), LEASE)
        .await
        .unwrap()
        .expect("a job");
    assert_eq!(job.id, id);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.payload, json!({"n": 1}));
    assert_eq!(jobs::queue_position(pool, id).await.unwrap(), None);
    // Nobody else can claim it while the lease holds.
    assert!(
        jobs::claim(pool, "w2", &kinds(), LEASE)
            .await
            .unwrap()
            .is_none()
    );
    // Another owner cannot end it.
    assert!(!jobs::finish(pool, id, "w2", &json!({})).await.unwrap());
    assert!(
        jobs::finish(pool, id, "w1", &json!({"ok": true}))
            .await
            .unwrap()
    );
    let job = jobs::get(pool, id).await.unwrap().unwrap();
    assert_eq!(job.status, "finished");
    assert_eq!(job.result, Some(json!({"ok": true})));
    assert!(job.finished_at.is_some());
}

#[tokio::test]
async fn expired_lease_is_taken_back_and_the_old_owner_cannot_write() {
    let test = db::testing::database().await;
    let pool = &test.pool;
    let id = jobs::enqueue(pool, "test", &json!({}), 3).await.unwrap();
    jobs::claim(pool, "dead", &kinds(), Duration::from_millis(50))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let job = jobs::claim(pool, "alive", &kinds(), LEASE)
        .await
        .unwrap()
        .expect("taken back");
    assert_eq!(job.id, id);
    assert_eq!(job.attempts, 2);
    assert!(!jobs::heartbeat(pool, id, "dead", LEASE).await.unwrap());
    assert!(!jobs::finish(pool, id, "dead", &json!({})).await.unwrap());
    assert!(jobs::heartbeat(pool, id, "alive", LEASE).await.unwrap());
    assert!(jobs::finish(pool, id, "alive", &json!({})).await.unwrap());
}

#[tokio::test]
async fn lost_leases_fail_the_job_after_its_last_attempt() {
    let test = db::testing::database().await;
    let pool = &test.pool;
    let id = jobs::enqueue(pool, "test", &json!({}), 1).await.unwrap();
    jobs::claim(pool, "dead", &kinds(), Duration::from_millis(20))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        jobs::claim(pool, "w", &kinds(), LEASE)
            .await
            .unwrap()
            .is_none()
    );
    let job = jobs::get(pool, id).await.unwrap().unwrap();
    assert_eq!(job.status, "failed");
    assert!(job.last_error.unwrap().contains("worker lost"));
}

#[tokio::test]
async fn retryable_failures_come_back_after_backoff_then_fail() {
    let test = db::testing::database().await;
    let pool = &test.pool;
    let id = jobs::enqueue(pool, "test", &json!({}), 2).await.unwrap();
    jobs::claim(pool, "w", &kinds(), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(
        jobs::fail(
            pool,
            id,
            "w",
            "store hiccup",
            true,
            Duration::from_millis(100)
        )
        .await
        .unwrap()
    );
    assert_eq!(jobs::get(pool, id).await.unwrap().unwrap().status, "queued");
    // Not due yet.
    assert!(
        jobs::claim(pool, "w", &kinds(), LEASE)
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let job = jobs::claim(pool, "w", &kinds(), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempts, 2);
    assert!(
        jobs::fail(pool, id, "w", "store hiccup again", true, Duration::ZERO)
            .await
            .unwrap()
    );
    let job = jobs::get(pool, id).await.unwrap().unwrap();
    assert_eq!(job.status, "failed");
    assert_eq!(job.last_error.as_deref(), Some("store hiccup again"));
}

#[tokio::test]
async fn permanent_failures_end_at_once_and_released_jobs_do_not_count() {
    let test = db::testing::database().await;
    let pool = &test.pool;
    let a = jobs::enqueue(pool, "test", &json!({}), 3).await.unwrap();
    jobs::claim(pool, "w", &kinds(), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(
        jobs::fail(pool, a, "w", "malformed model", false, Duration::ZERO)
            .await
            .unwrap()
    );
    assert_eq!(jobs::get(pool, a).await.unwrap().unwrap().status, "failed");

    let b = jobs::enqueue(pool, "test", &json!({}), 3).await.unwrap();
    jobs::claim(pool, "w", &kinds(), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(jobs::release(pool, b, "w").await.unwrap());
    let job = jobs::get(pool, b).await.unwrap().unwrap();
    assert_eq!((job.status.as_str(), job.attempts), ("queued", 0));
}

#[tokio::test]
async fn concurrent_claims_never_share_a_job() {
    let test = db::testing::database().await;
    let pool = test.pool.clone();
    for _ in 0..40 {
        jobs::enqueue(&pool, "test", &json!({}), 3).await.unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) = jobs::claim(&pool, &format!("w{w}"), &kinds(), LEASE)
                .await
                .unwrap()
            {
                mine.push(job.id);
                jobs::finish(&pool, job.id, &format!("w{w}"), &json!({}))
                    .await
                    .unwrap();
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!((total, all.len()), (40, 40));
}
