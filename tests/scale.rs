//! Deployment at scale on loopback: two `arena serve` and three `arena worker`
//! processes share one PostgreSQL and one S3-compatible bucket (moto). 200
//! submissions go in through both servers' HTTP API; each must finish exactly
//! once, whichever server took it and whichever worker ran it.
//!
//! "Exactly once" is read from two records written by different code: the
//! `job_runs` audit trail (one `finished` row per job, written by the statement
//! that ends an attempt) and `submission_events` (one `finished` event per
//! submission, written by the evaluation). Servers are stateless: a submission
//! posted to one is read back from the other, and no server writes local files.
//! Throughput (submissions per second, first POST to last result) is printed.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::*;

const SERVERS: usize = 2;
const WORKERS: usize = 3;
const SUBMISSIONS: usize = 200;
/// Threads posting submissions at once (spread over both servers).
const CLIENTS: usize = 4;

/// `arena_jobs_ended_total` samples of one worker's `/metrics` with `outcome="ok"`.
fn jobs_ok(port: u16) -> f64 {
    let r = http(port, "GET", "/metrics", &[], &[]).expect("worker metrics answer");
    assert_eq!(r.status, 200);
    r.text()
        .lines()
        .filter(|l| l.starts_with("arena_jobs_ended_total{") && l.contains("outcome=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The sum of the samples in a scrape whose line starts with `prefix` (name and
/// the first labels, e.g. `arena_job_step_duration_seconds_sum{step="compiling"`).
fn sample_sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Mean of a histogram over several scrapes: sum of `_sum` / sum of `_count`.
fn histogram_mean(scrapes: &[String], name: &str, labels: &str) -> f64 {
    let total = |suffix: &str| -> f64 {
        scrapes
            .iter()
            .map(|t| sample_sum(t, &format!("{name}_{suffix}{{{labels}")))
            .sum()
    };
    total("sum") / total("count").max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_three_workers_200_submissions_each_finished_once() {
    let Some(moto_bin) = moto_binary() else {
        eprintln!("SKIPPED: .venv has no moto_server (run scripts/python-env)");
        return;
    };
    let dir = scratch("scale");
    let moto = Moto::start(&moto_bin, &dir);
    let test_db = db::testing::database().await;
    let pool = &test_db.pool;
    let token = prepare_site(&test_db.url, &moto, &dir, 1000);

    let server_ports: Vec<u16> = (0..SERVERS).map(|_| free_port()).collect();
    let mut servers: Vec<Process> = server_ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let mut c = arena(&test_db.url, &moto, &dir.join(format!("serve-{i}")));
            c.env("ARENA_BIND", format!("127.0.0.1:{port}"))
                .env("ARENA_DB_POOL", "8")
                .env("ARENA_LOG_FORMAT", "json")
                .env("ARENA_LOG", "info,server::observability=debug")
                // One participant on loopback sends all 200: lift the per-user and
                // per-IP submission rate limits (their defaults are 30 and 120 a minute).
                .env("ARENA_SUBMIT_RATE_USER", "10000")
                .env("ARENA_SUBMIT_RATE_IP", "10000")
                .arg("serve");
            Process::spawn(&format!("serve-{i}"), c, &dir)
        })
        .collect();
    let metrics_ports: Vec<u16> = (0..WORKERS).map(|_| free_port()).collect();
    let mut workers: Vec<Process> = metrics_ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let mut c = arena(&test_db.url, &moto, &dir.join(format!("worker-{i}")));
            c.env("ARENA_DB_POOL", "4")
                .env("ARENA_LOG_FORMAT", "json")
                .args(["worker", "--concurrency", "2", "--metrics-addr"])
                .arg(format!("127.0.0.1:{port}"));
            Process::spawn(&format!("worker-{i}"), c, &dir)
        })
        .collect();
    for (server, port) in servers.iter_mut().zip(&server_ports) {
        wait_ready(server, *port);
    }

    // 200 distinct models, posted by CLIENTS threads, alternating servers.
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let posters: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, token, ports) = (next.clone(), token.clone(), server_ports.clone());
            std::thread::spawn(move || {
                let mut accepted = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= SUBMISSIONS {
                        return accepted;
                    }
                    let port = ports[i % ports.len()];
                    let model = flood_model(0.25 + i as f32 / 1024.0);
                    let r = submit(port, &token, &model, &format!("scale {i}"));
                    assert_eq!(r.status, 202, "submission {i} on :{port}: {}", r.text());
                    let id = r.json()["id"].as_str().unwrap().to_owned();
                    accepted.push((i, id));
                }
            })
        })
        .collect();
    let mut accepted: Vec<(usize, String)> = posters
        .into_iter()
        .flat_map(|p| p.join().expect("poster thread"))
        .collect();
    accepted.sort();
    let posted_in = started.elapsed().as_secs_f64();
    assert_eq!(accepted.len(), SUBMISSIONS);

    // Wait for every submission to end.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        for process in servers.iter_mut().chain(workers.iter_mut()) {
            process.check_alive();
        }
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM submissions WHERE status NOT IN ('finished', 'failed', 'cancelled')",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} submissions still open after 150 s\n{}",
            workers[0].tail(10)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let throughput = SUBMISSIONS as f64 / seconds;

    // Every submission finished, with one finished event and one finished job run.
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM submissions GROUP BY status")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(by_status, [("finished".to_owned(), SUBMISSIONS as i64)]);
    let events: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'finished'), count(*) FILTER (WHERE status = 'queued')
         FROM submission_events GROUP BY submission_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(events.len(), SUBMISSIONS);
    assert!(events.iter().all(|e| *e == (1, 1)), "events: {events:?}");
    let runs: Vec<(i64, i64, i32)> = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE r.outcome = 'finished'), count(*), max(j.attempts)
         FROM submissions s JOIN jobs j ON j.id = s.job_id
         LEFT JOIN job_runs r ON r.job_id = j.id
         WHERE j.status = 'finished'
         GROUP BY j.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(runs.len(), SUBMISSIONS, "one finished job per submission");
    assert!(
        runs.iter().all(|(finished, _, _)| *finished == 1),
        "a job finished twice or never: {runs:?}"
    );
    let retried = runs.iter().filter(|(_, all, _)| *all > 1).count();

    // The work was shared: every worker process ran jobs.
    let per_worker: Vec<(String, i64)> = sqlx::query_as(
        "SELECT split_part(worker, '/', 1), count(*) FROM job_runs
         WHERE outcome = 'finished' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(per_worker.len(), WORKERS, "{per_worker:?}");
    // ... and each worker's own /metrics agrees with the audit trail.
    let counted: f64 = metrics_ports.iter().map(|p| jobs_ok(*p)).sum();
    assert_eq!(
        counted, SUBMISSIONS as f64,
        "workers' arena_jobs_ended_total"
    );

    // Stateless servers: a submission posted to one server is read from the other,
    // and neither wrote anything on local disk.
    let auth = format!("Bearer {token}");
    for (i, id) in accepted.iter().take(10) {
        let other = server_ports[(i + 1) % SERVERS];
        let r = http(
            other,
            "GET",
            &format!("/api/v1/submissions/{id}"),
            &[("authorization", &auth)],
            &[],
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["status"], "finished");
    }
    for i in 0..SERVERS {
        let data = dir.join(format!("serve-{i}"));
        let files = std::fs::read_dir(&data).map(|d| d.count()).unwrap_or(0);
        assert_eq!(
            files,
            0,
            "server {i} wrote local files in {}",
            data.display()
        );
    }
    // Each server's /metrics reports the same queue (it comes from PostgreSQL).
    for port in &server_ports {
        let text = http(*port, "GET", "/metrics", &[], &[]).unwrap().text();
        assert!(
            text.contains(&format!("arena_jobs{{status=\"finished\"}} {SUBMISSIONS}")),
            "{text}"
        );
    }
    // The processes' own metrics, scraped once everything has ended.
    let server_scrapes: Vec<String> = server_ports
        .iter()
        .map(|p| http(*p, "GET", "/metrics", &[], &[]).unwrap().text())
        .collect();
    let worker_scrapes: Vec<String> = metrics_ports
        .iter()
        .map(|p| http(*p, "GET", "/metrics", &[], &[]).unwrap().text())
        .collect();
    // The store: every job read its model and its test file from the bucket,
    // and no store operation failed anywhere.
    let gets: f64 = worker_scrapes
        .iter()
        .map(|t| sample_sum(t, "arena_store_operations_total{operation=\"get\"}"))
        .sum();
    assert!(
        gets >= 2.0 * SUBMISSIONS as f64,
        "worker store gets: {gets}"
    );
    let errors: f64 = worker_scrapes
        .iter()
        .chain(&server_scrapes)
        .map(|t| sample_sum(t, "arena_store_errors_total"))
        .sum();
    assert_eq!(errors, 0.0, "store errors");
    // Server access log: JSON lines inside a request span with its id and route.
    let log = std::fs::read_to_string(&servers[0].log).unwrap();
    let request_line = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON log line"))
        .find(|v| {
            v["fields"]["message"] == "request done"
                && v["span"]["route"] == "/api/v1/challenges/{slug}/submissions"
        })
        .expect("server 0 logged a submission request");
    assert_eq!(request_line["span"]["name"], "request", "{request_line}");
    assert_eq!(
        request_line["span"]["request_id"].as_str().map(str::len),
        Some(36),
        "{request_line}"
    );
    assert_eq!(request_line["fields"]["status"], 202, "{request_line}");
    // JSON logs: one object per line, each job's lines inside its span.
    let log = std::fs::read_to_string(&workers[0].log).unwrap();
    let job_line = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON log line"))
        .find(|v| v["fields"]["message"] == "job ended")
        .expect("worker 0 logged a job end");
    assert_eq!(job_line["span"]["name"], "job", "{job_line}");
    assert!(job_line["span"]["id"].is_string(), "{job_line}");

    // Where the time went.
    let post_ms = 1e3
        * histogram_mean(
            &server_scrapes,
            "arena_http_request_duration_seconds",
            "route=\"/api/v1/challenges/{slug}/submissions\",method=\"POST\",status=\"202\"",
        );
    let steps: Vec<String> = ["compiling", "simulating", "synthesizing", "scoring"]
        .iter()
        .map(|step| {
            let mean = histogram_mean(
                &worker_scrapes,
                "arena_job_step_duration_seconds",
                &format!("step=\"{step}\""),
            );
            format!("{step} {:.1} ms", mean * 1e3)
        })
        .collect();
    let job_ms = 1e3
        * histogram_mean(
            &worker_scrapes,
            "arena_job_duration_seconds",
            "kind=\"submission.evaluate\",outcome=\"ok\"",
        );
    eprintln!(
        "scale: mean POST latency {post_ms:.1} ms; mean job {job_ms:.1} ms ({})",
        steps.join(", ")
    );
    eprintln!(
        "scale: {SUBMISSIONS} submissions through {SERVERS} servers and {WORKERS} workers \
         (2 slots each) in {seconds:.1} s: {throughput:.1} submissions/s \
         (posting took {posted_in:.1} s; per worker {per_worker:?}; {retried} jobs ran more than once)"
    );
    drop(workers);
    drop(servers);
}
