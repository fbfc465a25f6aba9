//! The platform under faults, with the real binary on a private PostgreSQL of
//! this test (never the shared test cluster: it is restarted here).
//!
//! One stack (`arena serve` + two `arena worker` processes on one database and
//! one local object store) lives through four faults in a row:
//!
//! 1. a worker is SIGKILLed while it evaluates a submission: its job is taken
//!    back when the lease runs out and finishes exactly once;
//! 2. PostgreSQL is restarted while submissions are evaluated and HTTP requests
//!    arrive: server and workers reconnect, nothing is lost, and no request
//!    waits past the request timeout;
//! 3. the server is SIGKILLed in the middle of an upload: nothing dangles —
//!    no submission or job row, no object (not even a partly written file) in
//!    the store — and the same upload succeeds after the restart;
//! 4. the object store refuses writes: the submission is refused with a clear
//!    503 and nothing is recorded; the same upload succeeds once the store heals.
//!
//! At the end every accepted submission must have finished exactly once
//! (`job_runs` holds one `finished` row per job), and the counts are printed.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use support::{flood_model, free_port, scratch};

mod support;

const ARENA: &str = env!("CARGO_BIN_EXE_arena");
const LEASE_SECONDS: u64 = 3;
/// The server's request timeout in this test (`ARENA_REQUEST_TIMEOUT`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CHALLENGE: &str = "flood-watch";
/// Participants; each may submit 20 a day to the demo challenge.
const USERS: usize = 3;

const BOUNDARY: &str = "arenaFaultsBoundary42";

fn multipart(model: &[u8], label: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m.onnx\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).as_bytes());
    body.extend_from_slice(model);
    body.extend_from_slice(format!(
        "\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"config\"\r\n\r\nModel:\n  Precision: fixed<16,6>\n\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\n{label}\r\n--{BOUNDARY}--\r\n"
    ).as_bytes());
    body
}

/// The processes of the stack, killed and reaped when the test ends.
struct Stack {
    dir: PathBuf,
    database_url: String,
    port: u16,
    server: Option<Child>,
    workers: Vec<Option<Child>>,
    started: usize,
}

impl Stack {
    fn command(&self, log: &str) -> Command {
        let mut command = Command::new(ARENA);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ARENA_DATABASE_URL", &self.database_url)
            .env("ARENA_DATA_DIR", &self.dir)
            .env("ARENA_BIND", format!("127.0.0.1:{}", self.port))
            .env(
                "ARENA_REQUEST_TIMEOUT",
                REQUEST_TIMEOUT.as_secs().to_string(),
            )
            .env("ARENA_LOG", "info")
            .stdin(Stdio::null())
            .stdout(File::create(self.dir.join(format!("{log}.out"))).unwrap())
            .stderr(File::create(self.dir.join(format!("{log}.err"))).unwrap());
        command
    }

    fn start_server(&mut self) {
        self.started += 1;
        let name = format!("serve-{}", self.started);
        let child = self.command(&name).arg("serve").spawn().unwrap();
        self.server = Some(child);
        wait_ready(self.port);
    }

    fn kill_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn start_worker(&mut self) {
        self.started += 1;
        let name = format!("worker-{}", self.started);
        let child = self
            .command(&name)
            .args([
                "worker",
                "--concurrency",
                "1",
                "--lease-seconds",
                &LEASE_SECONDS.to_string(),
            ])
            .spawn()
            .unwrap();
        self.workers.push(Some(child));
    }

    fn worker_pids(&self) -> Vec<Option<u32>> {
        self.workers
            .iter()
            .map(|c| c.as_ref().map(Child::id))
            .collect()
    }

    fn kill_worker(&mut self, index: usize) {
        if let Some(mut child) = self.workers[index].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn store_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        walk(&self.dir.join("store"), &mut files);
        files.sort();
        files
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in self
            .workers
            .iter_mut()
            .flatten()
            .chain(self.server.as_mut())
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// A minimal HTTP/1.1 exchange; returns (status, body). `None` on a connection error.
fn http(port: u16, request: &[u8], timeout: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(request).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    http(port, request.as_bytes(), timeout)
}

fn upload_request(token: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /api/v1/challenges/{CHALLENGE}/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Submit once; returns (status, body).
fn submit(port: u16, token: &str, model: &[u8], label: &str) -> Option<(u16, String)> {
    let request = upload_request(token, &multipart(model, label));
    http(port, &request, REQUEST_TIMEOUT + Duration::from_secs(5))
}

fn submission_id(body: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    value["id"].as_str().unwrap().to_owned()
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if get(port, "/readyz", Duration::from_secs(5)).is_some_and(|(s, _)| s == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server on port {port} did not become ready");
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Rows an upload could leave behind.
async fn row_counts(pool: &PgPool) -> (i64, i64, i64) {
    (
        count(pool, "SELECT count(*) FROM submissions").await,
        count(pool, "SELECT count(*) FROM jobs").await,
        count(pool, "SELECT count(*) FROM submission_events").await,
    )
}

/// Wait until no submission is queued or running.
async fn drain(pool: &PgPool, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let open = count(
            pool,
            "SELECT count(*) FROM submissions WHERE status NOT IN ('finished', 'failed', 'cancelled')",
        )
        .await;
        if open == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{open} submissions still open after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submit, retrying while the platform answers 5xx or not at all (as a client
/// would); returns the id and the number of retries.
fn submit_until_accepted(port: u16, token: &str, model: &[u8], label: &str) -> (String, usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut retries = 0;
    loop {
        match submit(port, token, model, label) {
            Some((202, body)) => return (submission_id(&body), retries),
            Some((status, body)) if status < 500 && status != 408 => {
                panic!("submission refused with {status}: {body}")
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "no submission accepted in 90 s");
        retries += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_lose_nothing_and_finish_every_submission_once() {
    let started = Instant::now();
    let dir = scratch("faults");
    let pg_port = free_port();
    let mut options = db::ClusterOptions::new(dir.join("postgres"));
    options.port = Some(pg_port);
    options.fsync = false;
    let cluster = db::Cluster::start(&options).await.unwrap();
    let database_url = cluster.url();
    let pool = db::connect(&database_url, 4).await.unwrap();

    let mut stack = Stack {
        dir: dir.clone(),
        database_url: database_url.clone(),
        port: free_port(),
        server: None,
        workers: Vec::new(),
        started: 0,
    };
    // `arena up` seeds the demo datasets and challenges, then stops.
    {
        let mut up = stack.command("up").arg("up").spawn().unwrap();
        wait_ready(stack.port);
        Command::new("kill")
            .args(["-INT", &up.id().to_string()])
            .status()
            .unwrap();
        assert!(
            up.wait().unwrap().success(),
            "arena up did not stop cleanly"
        );
    }
    let mut tokens = Vec::new();
    for i in 0..USERS {
        let out = stack
            .command(&format!("token-{i}"))
            .args([
                "token",
                "create",
                "--user",
                &format!("participant{i}"),
                "--scopes",
                "read,submit",
            ])
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success());
        tokens.push(String::from_utf8(out.stdout).unwrap().trim().to_owned());
    }
    let baseline_rows = count(&pool, "SELECT count(*) FROM submissions").await;
    stack.start_server();
    stack.start_worker();
    stack.start_worker();
    let port = stack.port;
    eprintln!("stack up after {:.1} s", started.elapsed().as_secs_f64());

    let mut accepted: Vec<String> = Vec::new();
    let mut next_model = 0usize;
    let mut fresh_model = || {
        next_model += 1;
        (flood_model(0.25 + next_model as f32 / 512.0), next_model)
    };

    // 1. SIGKILL a worker while it evaluates a submission.
    for _ in 0..12 {
        let (bytes, n) = fresh_model();
        let token = &tokens[n % USERS];
        let (id, _) = submit_until_accepted(port, token, &bytes, &format!("kill {n}"));
        accepted.push(id);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim_job = loop {
        assert!(
            Instant::now() < deadline,
            "no worker held a job within 60 s"
        );
        let running: Vec<(String, String)> = sqlx::query_as(
            "SELECT id::text, lease_owner FROM jobs WHERE status = 'running' AND lease_owner IS NOT NULL",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let pids = stack.worker_pids();
        let held = running.iter().find_map(|(job, owner)| {
            let pid: u32 = owner.rsplit_once(':')?.1.split('/').next()?.parse().ok()?;
            Some((pids.iter().position(|p| *p == Some(pid))?, job.clone()))
        });
        if let Some((index, job)) = held {
            stack.kill_worker(index);
            break job;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    stack.start_worker();
    drain(&pool, Duration::from_secs(120)).await;
    let victim_attempts: i32 = sqlx::query_scalar("SELECT attempts FROM jobs WHERE id = $1::uuid")
        .bind(&victim_job)
        .fetch_one(&pool)
        .await
        .unwrap();
    eprintln!(
        "1. worker killed holding job {victim_job}; it ended after {victim_attempts} attempts ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // 2. Restart PostgreSQL while submissions run and requests arrive.
    let probing = Arc::new(AtomicBool::new(true));
    let prober = {
        let probing = probing.clone();
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            while probing.load(Ordering::Relaxed) {
                let asked = Instant::now();
                let answer = get(
                    port,
                    &format!("/api/v1/challenges/{CHALLENGE}/leaderboard"),
                    REQUEST_TIMEOUT * 3,
                );
                slowest = slowest.max(asked.elapsed());
                *statuses.entry(answer.map_or(0, |(s, _)| s)).or_default() += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            (slowest, statuses)
        })
    };
    let submitter = {
        let tokens = tokens.clone();
        let models: Vec<(Vec<u8>, usize)> = (0..24).map(|_| fresh_model()).collect();
        std::thread::spawn(move || {
            let mut ids = Vec::new();
            let mut retries = 0;
            for (bytes, n) in models {
                let (id, r) =
                    submit_until_accepted(port, &tokens[n % USERS], &bytes, &format!("pg {n}"));
                ids.push(id);
                retries += r;
                std::thread::sleep(Duration::from_millis(100));
            }
            (ids, retries)
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    drop(pool);
    cluster.stop().await.unwrap();
    let down_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cluster = db::Cluster::start(&options).await.unwrap();
    assert_eq!(cluster.port(), pg_port);
    eprintln!(
        "2. PostgreSQL was down for {:.1} s",
        down_at.elapsed().as_secs_f64()
    );
    let pool = db::connect(&database_url, 4).await.unwrap();
    let (ids, retries) = tokio::task::spawn_blocking(move || submitter.join().unwrap())
        .await
        .unwrap();
    accepted.extend(ids);
    drain(&pool, Duration::from_secs(180)).await;
    probing.store(false, Ordering::Relaxed);
    let (slowest, statuses) = tokio::task::spawn_blocking(move || prober.join().unwrap())
        .await
        .unwrap();
    eprintln!(
        "   submissions retried by the client during the outage: {retries}; \
         leaderboard probes by status {statuses:?} (0 = no answer), slowest {:.2} s",
        slowest.as_secs_f64()
    );
    assert!(
        slowest <= REQUEST_TIMEOUT + Duration::from_secs(2),
        "a request hung for {slowest:?}, past the {REQUEST_TIMEOUT:?} timeout"
    );
    assert!(
        !statuses.contains_key(&0),
        "a request got no answer at all: {statuses:?}"
    );
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");

    // 3. Kill the server in the middle of an upload.
    let before_rows = row_counts(&pool).await;
    let before_files = stack.store_files();
    let (bytes, n) = fresh_model();
    let request = upload_request(&tokens[n % USERS], &multipart(&bytes, "interrupted"));
    {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(&request[..request.len() / 2]).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stack.kill_server();
    }
    assert_eq!(row_counts(&pool).await, before_rows, "rows after the kill");
    assert_eq!(
        stack.store_files(),
        before_files,
        "store files after the kill"
    );
    stack.start_server();
    assert_eq!(
        row_counts(&pool).await,
        before_rows,
        "rows after the restart"
    );
    let (id, _) = submit_until_accepted(port, &tokens[n % USERS], &bytes, "interrupted");
    accepted.push(id);
    let after_files = stack.store_files();
    assert_eq!(
        after_files.len(),
        before_files.len() + 1,
        "the retried upload stores its model once"
    );
    eprintln!("3. server killed mid-upload: no row, no object; the retry was accepted");

    // 4. The object store refuses writes: `store/models` becomes a plain file.
    drain(&pool, Duration::from_secs(60)).await;
    let models_dir = dir.join("store/models");
    let moved = dir.join("store/models.away");
    std::fs::rename(&models_dir, &moved).unwrap();
    std::fs::write(&models_dir, b"not a directory").unwrap();
    let before_rows = row_counts(&pool).await;
    let (bytes, n) = fresh_model();
    let (status, body) = submit(port, &tokens[n % USERS], &bytes, "store down").unwrap();
    eprintln!("4. store write failure answered {status}: {body}");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("storing the model failed"), "{body}");
    assert!(
        !body.contains(models_dir.to_str().unwrap()),
        "leaks a path: {body}"
    );
    assert_eq!(
        row_counts(&pool).await,
        before_rows,
        "rows after the refusal"
    );
    std::fs::remove_file(&models_dir).unwrap();
    std::fs::rename(&moved, &models_dir).unwrap();
    let (id, _) = submit_until_accepted(port, &tokens[n % USERS], &bytes, "store down");
    accepted.push(id);

    // Every accepted submission finished exactly once.
    drain(&pool, Duration::from_secs(120)).await;
    let statuses: Vec<(String, String)> =
        sqlx::query_as("SELECT id::text, status FROM submissions WHERE NOT is_baseline")
            .fetch_all(&pool)
            .await
            .unwrap();
    let finished_ids: std::collections::HashSet<&str> = statuses
        .iter()
        .filter(|(_, s)| s == "finished")
        .map(|(id, _)| id.as_str())
        .collect();
    let per_job: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.id::text, count(r.id) FILTER (WHERE r.outcome = 'finished')
         FROM submissions s JOIN jobs j ON j.id = s.job_id LEFT JOIN job_runs r ON r.job_id = j.id
         WHERE NOT s.is_baseline GROUP BY s.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let rows = count(&pool, "SELECT count(*) FROM submissions").await - baseline_rows;
    let finished = accepted
        .iter()
        .filter(|id| finished_ids.contains(id.as_str()))
        .count();
    let duplicates = per_job.iter().filter(|(_, n)| *n > 1).count();
    let lost = accepted.len() - finished;
    let taken_back = count(
        &pool,
        "SELECT count(*) FROM jobs WHERE attempts >= 2 AND kind = 'submission.evaluate'",
    )
    .await;
    eprintln!(
        "faults: submitted {}, finished {finished}, duplicates {duplicates}, lost {lost}, \
         rows {rows}, jobs taken back {taken_back}; {:.1} s",
        accepted.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(rows, accepted.len() as i64, "one row per accepted upload");
    assert_eq!(lost, 0, "accepted submissions that did not finish");
    assert_eq!(duplicates, 0, "submissions finished more than once");
    assert_eq!(per_job.len(), accepted.len());
    assert!(per_job.iter().all(|(_, n)| *n == 1), "{per_job:?}");
    assert!(
        victim_attempts >= 2,
        "the killed worker's job was not taken back"
    );

    drop(stack);
    drop(pool);
    cluster.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
