//! The queue under a crash: four `arena worker` processes share 200 short jobs;
//! one of them is killed with SIGKILL while it holds a job. Every job must
//! finish exactly once: the killed worker's job is taken back when its lease
//! runs out, nothing is lost, nothing runs to completion twice.
//!
//! "Exactly once" is checked on two records: the `jobs` rows (status, attempts)
//! and the `job_runs` audit trail, whose rows are written by the same statement
//! that records the end of an attempt — a job finished twice would have two
//! `finished` rows.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const ARENA: &str = env!("CARGO_BIN_EXE_arena");
const WORKERS: usize = 4;
const JOBS: usize = 200;
const LEASE_SECONDS: u64 = 3;

fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Worker processes, killed (and reaped) when the test ends, even on panic.
struct Workers {
    children: Vec<Option<Child>>,
    logs: Vec<PathBuf>,
}

impl Workers {
    fn start(count: usize, database_url: &str, dir: &Path) -> Workers {
        let mut children = Vec::new();
        let mut logs = Vec::new();
        for i in 0..count {
            let log = dir.join(format!("worker-{i}.log"));
            let child = Command::new(ARENA)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("ARENA_DATABASE_URL", database_url)
                .env("ARENA_DATA_DIR", dir.join(format!("data-{i}")))
                .env("ARENA_LOG", "info")
                .args([
                    "worker",
                    "--concurrency",
                    "1",
                    "--lease-seconds",
                    &LEASE_SECONDS.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(File::create(&log).unwrap())
                .stderr(File::create(dir.join(format!("worker-{i}.err"))).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("starting worker {i}: {e}"));
            children.push(Some(child));
            logs.push(dir.join(format!("worker-{i}.err")));
        }
        Workers { children, logs }
    }

    fn pids(&self) -> Vec<Option<u32>> {
        self.children
            .iter()
            .map(|c| c.as_ref().map(Child::id))
            .collect()
    }

    /// SIGKILL one worker (std's `Child::kill` sends SIGKILL on Unix) and reap it.
    fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.children[index].take() {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            eprintln!("worker {index} (pid {}) killed: {status}", child.id());
        }
    }

    /// Fail early if a worker that should be alive has exited.
    fn check_alive(&mut self) {
        for (i, child) in self.children.iter_mut().enumerate() {
            if let Some(child) = child
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(&self.logs[i]).unwrap_or_default();
                panic!("worker {i} exited on its own with {status}:\n{log}");
            }
        }
    }

    fn dump_logs(&self) {
        for (i, log) in self.logs.iter().enumerate() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            eprintln!("--- worker {i} (last lines) ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The pid in a lease owner `host:pid/slot`.
fn owner_pid(owner: &str) -> Option<u32> {
    owner.rsplit_once(':')?.1.split('/').next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_one_killed_every_job_finishes_exactly_once() {
    let started = Instant::now();
    let test_db = db::testing::database().await;
    let pool = &test_db.pool;
    let dir = scratch("queue-sigkill");
    let mut workers = Workers::start(WORKERS, &test_db.url, &dir);

    // 200 short jobs, 30–80 ms each (deterministic spread).
    let mut ids = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let ms = 30 + (i * 37) % 51;
        let id = db::jobs::enqueue(pool, "diagnostic.sleep", &json!({ "ms": ms }), 3)
            .await
            .unwrap();
        ids.push(id);
    }
    eprintln!(
        "{JOBS} jobs queued after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Wait until the queue is in full swing (a few jobs done, so every worker is
    // past start-up), then kill a worker that holds a running job.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (victim, victim_job) = loop {
        workers.check_alive();
        assert!(
            Instant::now() < deadline,
            "no worker took a job within 60 s"
        );
        let finished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'finished'")
                .fetch_one(pool)
                .await
                .unwrap();
        // A job claimed in the last 25 ms that sleeps at least 60 ms: still in
        // flight when the signal lands.
        let running: Vec<(String, String)> = sqlx::query_as(
            "SELECT id::text, lease_owner FROM jobs
             WHERE status = 'running' AND lease_owner IS NOT NULL
               AND (payload->>'ms')::int >= 60
               AND lease_expires_at - $1 * interval '1 second' > now() - interval '25 milliseconds'",
        )
        .bind(LEASE_SECONDS as f64)
        .fetch_all(pool)
        .await
        .unwrap();
        if finished >= 12 {
            let pids = workers.pids();
            let held = running.iter().find_map(|(job, owner)| {
                let pid = owner_pid(owner)?;
                let index = pids.iter().position(|p| *p == Some(pid))?;
                Some((index, pid, job.clone()))
            });
            if let Some((index, pid, job)) = held {
                workers.kill(index);
                break (pid, job);
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let killed_at = Instant::now();

    // The job the victim held: its lease must still name the dead worker (it
    // could not record anything after SIGKILL) — unless it ended just before the
    // kill landed, in which case look for any other job the victim still holds.
    let held_by_victim: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM jobs WHERE status = 'running' AND lease_owner LIKE '%:' || $1 || '/%'",
    )
    .bind(victim.to_string())
    .fetch_all(pool)
    .await
    .unwrap();
    eprintln!(
        "killed worker pid {victim} holding job {victim_job}; jobs still leased to it: {held_by_victim:?}"
    );
    assert_eq!(
        held_by_victim.len(),
        1,
        "the killed worker should hold exactly one job (it ran out of work or finished first?)"
    );
    let orphan = held_by_victim[0].clone();

    // Every job ends, bounded.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')")
                .fetch_one(pool)
                .await
                .unwrap();
        if open == 0 {
            break;
        }
        if Instant::now() > deadline {
            workers.dump_logs();
            panic!("{open} jobs still open 120 s after the kill");
        }
        workers.check_alive();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = killed_at.elapsed();

    // The jobs' own record.
    let count = |status: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM jobs WHERE status = $1")
            .bind(status)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let finished = count("finished").await;
    let failed = count("failed").await;
    let open = count("queued").await + count("running").await;
    let cancelled = count("cancelled").await;
    let taken_back: Vec<(String, i32)> =
        sqlx::query_as("SELECT id::text, attempts FROM jobs WHERE attempts >= 2 ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap();

    // The audit trail: exactly one 'finished' row per job.
    let per_job: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT j.id::text,
                count(r.id) FILTER (WHERE r.outcome = 'finished'),
                count(r.id)
         FROM jobs j LEFT JOIN job_runs r ON r.job_id = j.id
         GROUP BY j.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let duplicates = per_job.iter().filter(|(_, f, _)| *f > 1).count();
    let lost = per_job.iter().filter(|(_, f, _)| *f == 0).count();
    let other_runs = per_job.iter().map(|(_, f, all)| all - f).sum::<i64>();
    let finishers: Vec<(String, i64)> = sqlx::query_as(
        "SELECT worker, count(*) FROM job_runs WHERE outcome = 'finished' GROUP BY worker ORDER BY worker",
    )
    .fetch_all(pool)
    .await
    .unwrap();

    eprintln!(
        "queue under SIGKILL: submitted {JOBS}, finished {finished}, failed {failed}, \
         cancelled {cancelled}, still open {open}, duplicates {duplicates}, lost {lost}, \
         taken back {} {:?}, other ended attempts {other_runs}; drained {:.1} s after the kill \
         (lease {LEASE_SECONDS} s), test {:.1} s",
        taken_back.len(),
        taken_back,
        drained.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    eprintln!("finished by worker slot: {finishers:?}");

    assert_eq!(ids.len(), JOBS);
    assert_eq!(per_job.len(), JOBS, "job rows");
    assert_eq!(finished, JOBS as i64, "finished");
    assert_eq!(failed, 0, "failed");
    assert_eq!(cancelled, 0, "cancelled");
    assert_eq!(open, 0, "still queued or running");
    assert_eq!(duplicates, 0, "jobs finished more than once");
    assert_eq!(lost, 0, "jobs with no finish recorded");
    assert_eq!(
        other_runs, 0,
        "no attempt should fail, retry or be released"
    );
    assert!(
        taken_back.iter().any(|(id, _)| *id == orphan),
        "the killed worker's job {orphan} was not taken back: {taken_back:?}"
    );

    // The orphan was finished by a live worker, never by the dead one.
    let runs: Vec<(Option<String>, i32)> =
        sqlx::query_as("SELECT worker, attempt FROM job_runs WHERE job_id = $1::uuid")
            .bind(&orphan)
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let (worker, attempt) = &runs[0];
    assert!(*attempt >= 2, "{runs:?}");
    assert_ne!(
        worker.as_deref().and_then(owner_pid),
        Some(victim),
        "the dead worker finished a job"
    );
    // No job was finished by the victim after it died: its last finish precedes the kill.
    let after_kill: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_runs WHERE worker LIKE '%:' || $1 || '/%' AND at > now() - $2 * interval '1 millisecond'",
    )
    .bind(victim.to_string())
    .bind(killed_at.elapsed().as_millis() as f64 - 50.0)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        after_kill, 0,
        "rows recorded by the killed worker after its death"
    );

    drop(workers);
    let _ = std::fs::remove_dir_all(&dir);
}
