//! Workers: claim jobs from the PostgreSQL queue and run them.
//!
//! A worker runs `concurrency` slots. Each slot claims a job (see [`db::jobs`]),
//! renews its lease with heartbeats while a [`Handler`] runs it, and records the
//! result. On shutdown a slot hands its job back untouched, so another worker
//! starts it again at once. Workers wake on PostgreSQL notifications and also
//! poll, so a missed notification costs at most one poll interval.

mod diagnostic;
pub mod evaluate;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use db::jobs::Job;
pub use diagnostic::SleepHandler;
pub use evaluate::{EvaluateHandler, Sandbox};

/// Why a job failed, and whether trying again could help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub message: String,
    /// Transient failures (store or database hiccups) are retried with backoff;
    /// failures of the submission itself (a malformed model) are not.
    pub retryable: bool,
}

impl JobError {
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            retryable: false,
        }
    }
    pub fn transient(message: impl Into<String>) -> Self {
        JobError {
            message: message.into(),
            retryable: true,
        }
    }
}

/// Runs the jobs of one kind.
pub trait Handler: Send + Sync {
    /// The job kind this handler takes (the `kind` column).
    fn kind(&self) -> &'static str;
    /// Run one job; the returned value is stored as the job's result.
    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<Value, JobError>>;
}

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the job back.
    pub lease: Duration,
    /// Poll interval when no notification arrives.
    pub poll: Duration,
    /// Identifies this worker process in leases and logs.
    pub name: String,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 2,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(2),
            name: default_name(),
        }
    }
}

/// `host:pid`, unique per worker process.
pub fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Handlers by job kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, handler: impl Handler + 'static) -> Self {
        self.handlers.insert(handler.kind(), Arc::new(handler));
        self
    }

    fn kinds(&self) -> Vec<String> {
        self.handlers.keys().map(|k| (*k).to_owned()).collect()
    }
}

/// Run the worker until `shutdown` is cancelled. Returns when every slot has
/// finished or handed back its job.
pub async fn run(
    pool: PgPool,
    registry: Registry,
    options: WorkerOptions,
    shutdown: CancellationToken,
) {
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(pool.clone(), wake.clone(), shutdown.clone()));
    tracing::info!(worker = %options.name, slots = options.concurrency, kinds = ?registry.kinds(), "worker started");
    let slots: Vec<_> = (0..options.concurrency.max(1))
        .map(|slot| {
            let slot = Slot {
                pool: pool.clone(),
                registry: registry.clone(),
                owner: format!("{}/{slot}", options.name),
                options: options.clone(),
                wake: wake.clone(),
                shutdown: shutdown.clone(),
            };
            tokio::spawn(slot.run())
        })
        .collect();
    for slot in slots {
        let _ = slot.await;
    }
    listener.abort();
    tracing::info!(worker = %options.name, "worker stopped");
}

/// Wake idle slots on `NOTIFY arena_jobs`; reconnects when the database restarts.
async fn listen(pool: PgPool, wake: Arc<Notify>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::debug!(error = %e, "job listener cannot connect; polling meanwhile");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if listener.listen("arena_jobs").await.is_err() {
            continue;
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                message = listener.try_recv() => match message {
                    Ok(Some(_)) => wake.notify_waiters(),
                    // The connection dropped: reconnect (and wake everyone in case we missed one).
                    Ok(None) => wake.notify_waiters(),
                    Err(_) => break,
                },
            }
        }
    }
}

struct Slot {
    pool: PgPool,
    registry: Registry,
    owner: String,
    options: WorkerOptions,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
}

impl Slot {
    async fn run(self) {
        let kinds = self.registry.kinds();
        let mut backoff = Duration::from_millis(200);
        while !self.shutdown.is_cancelled() {
            // Register interest before claiming so a notification sent between an
            // empty claim and the wait is not lost.
            let notified = self.wake.notified();
            let claimed =
                db::jobs::claim(&self.pool, &self.owner, &kinds, self.options.lease).await;
            if claimed.is_ok() {
                db::metrics::global()
                    .worker_last_heartbeat
                    .set(&[&self.options.name], db::metrics::unix_now());
            }
            match claimed {
                Ok(Some(job)) => {
                    backoff = Duration::from_millis(200);
                    self.execute(job).await;
                }
                Ok(None) => {
                    tokio::select! {
                        _ = self.shutdown.cancelled() => {}
                        _ = notified => {}
                        _ = tokio::time::sleep(self.options.poll) => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(worker = %self.owner, error = %e, "cannot claim jobs; retrying");
                    tokio::select! {
                        _ = self.shutdown.cancelled() => {}
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn execute(&self, job: Job) {
        let span =
            tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
        self.execute_in_span(job).instrument(span).await
    }

    async fn execute_in_span(&self, job: Job) {
        let Some(handler) = self.registry.handlers.get(job.kind.as_str()).cloned() else {
            return;
        };
        tracing::info!("job started");
        let started = std::time::Instant::now();
        let outcome = tokio::select! {
            outcome = handler.run(&job) => Outcome::Done(outcome),
            _ = self.shutdown.cancelled() => Outcome::Shutdown,
            _ = self.keep_lease(&job) => Outcome::LeaseLost,
        };
        record_job_metrics(&job.kind, &outcome, started.elapsed().as_secs_f64());
        let recorded = match outcome {
            Outcome::Done(Ok(result)) => {
                db::jobs::finish(&self.pool, job.id, &self.owner, &result).await
            }
            Outcome::Done(Err(error)) => {
                let backoff = Duration::from_secs(1 << job.attempts.clamp(0, 6));
                tracing::warn!(error = %error.message, retryable = error.retryable, "job failed");
                db::jobs::fail(
                    &self.pool,
                    job.id,
                    &self.owner,
                    &error.message,
                    error.retryable,
                    backoff,
                )
                .await
            }
            Outcome::Shutdown => {
                tracing::info!("shutting down: handing the job back");
                db::jobs::release(&self.pool, job.id, &self.owner).await
            }
            Outcome::LeaseLost => Ok(false),
        };
        match recorded {
            Ok(true) => tracing::info!(seconds = started.elapsed().as_secs_f64(), "job ended"),
            Ok(false) => {
                tracing::warn!("lease lost (job cancelled or taken back); result discarded")
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the job's outcome; its lease will expire and it will run again")
            }
        }
    }

    /// Renew the lease every third of its length; returns only when it is lost.
    async fn keep_lease(&self, job: &Job) {
        let period = self.options.lease / 3;
        loop {
            tokio::time::sleep(period).await;
            let renewed =
                db::jobs::heartbeat(&self.pool, job.id, &self.owner, self.options.lease).await;
            let metrics = db::metrics::global();
            let result = match &renewed {
                Ok(true) => "ok",
                Ok(false) => "lost",
                Err(_) => "error",
            };
            metrics.worker_heartbeats.inc(&[&self.options.name, result]);
            match renewed {
                Ok(true) => metrics
                    .worker_last_heartbeat
                    .set(&[&self.options.name], db::metrics::unix_now()),
                Ok(false) => return,
                // The database is unreachable: keep working; the lease may still hold.
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
    }
}

/// Count the attempt and its wall time under the way it ended.
fn record_job_metrics(kind: &str, outcome: &Outcome, seconds: f64) {
    let outcome = match outcome {
        Outcome::Done(Ok(_)) => "ok",
        Outcome::Done(Err(e)) if e.retryable => "transient_error",
        Outcome::Done(Err(_)) => "error",
        Outcome::Shutdown => "handed_back",
        Outcome::LeaseLost => "lease_lost",
    };
    let metrics = db::metrics::global();
    metrics.jobs_ended.inc(&[kind, outcome]);
    metrics.job_seconds.observe(&[kind, outcome], seconds);
}

enum Outcome {
    Done(Result<Value, JobError>),
    Shutdown,
    LeaseLost,
}
