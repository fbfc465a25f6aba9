//! The object store on a real S3-compatible server (moto's standalone server from
//! the venv, started here): round trips through `datasets::store`, then a whole
//! submission — dataset import, `arena serve`, `arena worker` — with every byte in
//! the bucket and nothing on local disk.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;
use support::*;

fn settings(moto: &Moto) -> datasets::S3Settings {
    datasets::S3Settings {
        endpoint: Some(moto.endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some(S3_ACCESS_KEY.into()),
        secret_access_key: Some(S3_SECRET.into()),
        allow_http: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_round_trips_and_a_submission_through_s3() {
    let Some(moto_bin) = moto_binary() else {
        eprintln!("SKIPPED: .venv has no moto_server (run scripts/python-env)");
        return;
    };
    let dir = scratch("s3-store");
    let moto = Moto::start(&moto_bin, &dir);
    let s3 = settings(&moto);

    // Round trips below a prefix: content-addressed put (idempotent), get, head, list, delete.
    let store = datasets::open_store_with(&format!("s3://{BUCKET}/roundtrip"), &s3).unwrap();
    let payload = Bytes::from((0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let first = datasets::put_content(store.as_ref(), "blobs", payload.clone())
        .await
        .unwrap();
    assert!(first.created);
    let again = datasets::put_content(store.as_ref(), "blobs", payload.clone())
        .await
        .unwrap();
    assert!(!again.created, "the same bytes are not written twice");
    let read = datasets::store::get_bytes(store.as_ref(), &first.key)
        .await
        .unwrap();
    assert_eq!(read, payload);
    let path = ObjectPath::from(first.key.as_str());
    assert_eq!(store.head(&path).await.unwrap().size, 200_000);
    assert_eq!(
        moto.keys("roundtrip/blobs/"),
        [format!("roundtrip/blobs/{}", first.sha256)],
        "the prefix is part of the key in the bucket"
    );
    store.delete(&path).await.unwrap();
    let gone = datasets::store::get_bytes(store.as_ref(), &first.key).await;
    assert!(gone.is_err(), "deleted object still readable");

    // A bucket that does not exist is an error naming it, not an empty store.
    let missing = datasets::open_store_with("s3://no-such-bucket/x", &s3).unwrap();
    let error = datasets::put_content(missing.as_ref(), "blobs", Bytes::from_static(b"x"))
        .await
        .expect_err("writing to a missing bucket fails");
    assert!(
        format!("{error}").to_lowercase().contains("bucket"),
        "{error}"
    );

    // A submission end to end, every process on the S3 store.
    let started = Instant::now();
    let test_db = db::testing::database().await;
    let token = prepare_site(&test_db.url, &moto, &dir, 2000);
    let port = free_port();
    let mut serve = Process::spawn(
        "serve",
        {
            let mut c = arena(&test_db.url, &moto, &dir.join("serve"));
            c.env("ARENA_BIND", format!("127.0.0.1:{port}"))
                .arg("serve");
            c
        },
        &dir,
    );
    let mut worker = Process::spawn(
        "worker",
        {
            let mut c = arena(&test_db.url, &moto, &dir.join("worker"));
            c.args(["worker", "--concurrency", "1"]);
            c
        },
        &dir,
    );
    wait_ready(&mut serve, port);
    let model = flood_model(0.5);
    let accepted = submit(port, &token, &model, "s3 round trip");
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let id = accepted.json()["id"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let result = loop {
        worker.check_alive();
        let r = http(
            port,
            "GET",
            &format!("/api/v1/submissions/{id}"),
            &[("authorization", &auth)],
            &[],
        )
        .unwrap()
        .json();
        if matches!(r["status"].as_str(), Some("finished" | "failed")) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "submission not done in 90 s: {r}\n{}",
            worker.tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(result["status"], "finished", "{result}");
    assert!(
        result["scores"]
            .as_object()
            .is_some_and(|m| m.values().all(|v| v.as_f64().is_some())),
        "{result}"
    );
    let model_sha = datasets::parquet_io::sha256_hex(&model);
    let models = moto.keys("arena/models/");
    assert!(
        models.contains(&format!("arena/models/{model_sha}")),
        "the model is in the bucket: {models:?}"
    );
    assert!(
        moto.keys("arena/datasets/").len() >= 4,
        "dataset files in the bucket"
    );
    // Nothing went to a local store, and the secret was never printed.
    for name in ["serve", "worker", "cli"] {
        assert!(
            !dir.join(name).join("store").exists(),
            "{name} wrote a local store"
        );
    }
    for process in [&serve, &worker] {
        let log = std::fs::read_to_string(&process.log).unwrap();
        assert!(log.contains("s3 secret"), "{log}");
        assert!(
            !log.contains(S3_SECRET),
            "{} printed the secret",
            process.name
        );
    }
    eprintln!(
        "submission through S3 finished in {:.1} s (site set-up included)",
        started.elapsed().as_secs_f64()
    );
    drop(worker);
    drop(serve);
}
