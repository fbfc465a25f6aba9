//! Process-wide metrics in the Prometheus text format, written by hand.
//!
//! The server (HTTP requests, object store) and the workers (jobs, steps,
//! heartbeats) both record here; `db` is the one crate both depend on. Each
//! family is a map from label values to atomics behind a mutex that is held
//! only to find the series, so recording costs a short lock and a few atomic
//! adds. The queue figures are not kept here: they are read from the database
//! when `/metrics` is scraped ([`queue_depth`], [`worker_leases`]), so every
//! server reports the same numbers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sqlx::PgPool;

use crate::Result;

/// Latency buckets for HTTP requests, seconds.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Duration buckets for jobs and their steps, seconds (an estimate takes
/// milliseconds, open-source synthesis minutes).
pub const JOB_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
];

/// Job statuses reported even when no job has them (a gauge at 0 beats a missing series).
pub const JOB_STATUSES: &[&str] = &["queued", "running", "finished", "failed", "cancelled"];

/// An f64 kept in an `AtomicU64` (its bits), for sums.
#[derive(Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn add(&self, value: f64) {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + value).to_bits();
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }
    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// One histogram series: cumulative counts are computed when rendering.
struct Histogram {
    /// Per bucket (non-cumulative), plus one for +Inf.
    counts: Vec<AtomicU64>,
    sum: AtomicF64,
}

impl Histogram {
    fn new(buckets: usize) -> Self {
        Histogram {
            counts: (0..=buckets).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicF64::default(),
        }
    }
}

/// What a family holds per label set.
enum Kind {
    Counter,
    Gauge,
    Histogram(&'static [f64]),
}

enum Series {
    Value(AtomicF64),
    Histogram(Histogram),
}

/// A metric family: name, help, label names, and its series by label values.
pub struct Family {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    kind: Kind,
    series: Mutex<BTreeMap<Vec<String>, Arc<Series>>>,
}

impl Family {
    fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        kind: Kind,
    ) -> Self {
        Family {
            name,
            help,
            labels,
            kind,
            series: Mutex::new(BTreeMap::new()),
        }
    }

    fn get(&self, values: &[&str]) -> Arc<Series> {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        series
            .entry(key)
            .or_insert_with(|| {
                Arc::new(match self.kind {
                    Kind::Histogram(buckets) => Series::Histogram(Histogram::new(buckets.len())),
                    Kind::Counter | Kind::Gauge => Series::Value(AtomicF64::default()),
                })
            })
            .clone()
    }

    /// Add to a counter (or gauge).
    pub fn add(&self, values: &[&str], amount: f64) {
        if let Series::Value(v) = &*self.get(values) {
            v.add(amount);
        }
    }

    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1.0);
    }

    /// Set a gauge.
    pub fn set(&self, values: &[&str], value: f64) {
        if let Series::Value(v) = &*self.get(values) {
            v.set(value);
        }
    }

    /// Record one observation in a histogram.
    pub fn observe(&self, values: &[&str], value: f64) {
        let Kind::Histogram(buckets) = self.kind else {
            return;
        };
        if let Series::Histogram(h) = &*self.get(values) {
            let index = buckets
                .iter()
                .position(|upper| value <= *upper)
                .unwrap_or(buckets.len());
            h.counts[index].fetch_add(1, Ordering::Relaxed);
            h.sum.add(value);
        }
    }

    /// The current value of a counter or gauge series (0 when absent).
    pub fn value(&self, values: &[&str]) -> f64 {
        match &*self.get(values) {
            Series::Value(v) => v.get(),
            Series::Histogram(_) => 0.0,
        }
    }

    /// Append this family in the text exposition format.
    pub fn render(&self, out: &mut String) {
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram(_) => "histogram",
        };
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        for (values, series) in series.iter() {
            let labels = label_text(self.labels, values);
            match (&**series, &self.kind) {
                (Series::Value(v), _) => {
                    let _ = writeln!(out, "{}{} {}", self.name, braces(&labels), number(v.get()));
                }
                (Series::Histogram(h), Kind::Histogram(buckets)) => {
                    render_histogram(out, self.name, &labels, buckets, h)
                }
                (Series::Histogram(_), _) => {}
            }
        }
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &str, buckets: &[f64], h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (i, upper) in buckets.iter().enumerate() {
        cumulative += h.counts[i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
            number(*upper)
        );
    }
    cumulative += h.counts[buckets.len()].load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(out, "{name}_sum{} {}", braces(labels), number(h.sum.get()));
    let _ = writeln!(out, "{name}_count{} {cumulative}", braces(labels));
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

/// `a="x",b="y"` with values escaped as the format requires.
pub fn label_text(names: &[&str], values: &[String]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect::<Vec<_>>()
        .join(",")
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Numbers as Prometheus writes them (integers without a fraction).
pub fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

/// Every family this process records.
pub struct Metrics {
    pub http_request_seconds: Family,
    pub store_operations: Family,
    pub store_errors: Family,
    pub jobs_ended: Family,
    pub job_seconds: Family,
    pub job_step_seconds: Family,
    pub worker_heartbeats: Family,
    pub worker_last_heartbeat: Family,
}

impl Metrics {
    fn new() -> Self {
        Metrics {
            http_request_seconds: Family::new(
                "arena_http_request_duration_seconds",
                "HTTP request latency by route (the matched path pattern), method and status.",
                &["route", "method", "status"],
                Kind::Histogram(HTTP_BUCKETS),
            ),
            store_operations: Family::new(
                "arena_store_operations_total",
                "Object store operations by kind.",
                &["operation"],
                Kind::Counter,
            ),
            store_errors: Family::new(
                "arena_store_errors_total",
                "Object store operations that failed (not counting expected `not found` answers).",
                &["operation"],
                Kind::Counter,
            ),
            jobs_ended: Family::new(
                "arena_jobs_ended_total",
                "Job attempts ended by this process, by kind and outcome.",
                &["kind", "outcome"],
                Kind::Counter,
            ),
            job_seconds: Family::new(
                "arena_job_duration_seconds",
                "Wall time of job attempts run by this process, by kind and outcome.",
                &["kind", "outcome"],
                Kind::Histogram(JOB_BUCKETS),
            ),
            job_step_seconds: Family::new(
                "arena_job_step_duration_seconds",
                "Wall time of evaluation steps (compiling, simulating, synthesizing, scoring).",
                &["step"],
                Kind::Histogram(JOB_BUCKETS),
            ),
            worker_heartbeats: Family::new(
                "arena_worker_heartbeats_total",
                "Lease renewals sent by this process's worker slots, by result (ok, lost, error).",
                &["worker", "result"],
                Kind::Counter,
            ),
            worker_last_heartbeat: Family::new(
                "arena_worker_last_heartbeat_timestamp_seconds",
                "Unix time of the last successful lease renewal or claim check of each worker process.",
                &["worker"],
                Kind::Gauge,
            ),
        }
    }

    /// Every family of this process, in the text format.
    pub fn render(&self, out: &mut String) {
        for family in [
            &self.http_request_seconds,
            &self.store_operations,
            &self.store_errors,
            &self.jobs_ended,
            &self.job_seconds,
            &self.job_step_seconds,
            &self.worker_heartbeats,
            &self.worker_last_heartbeat,
        ] {
            family.render(out);
        }
    }
}

/// The metrics of this process.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Seconds since the Unix epoch, for timestamp gauges.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Jobs by status, every status in [`JOB_STATUSES`] present.
pub async fn queue_depth(pool: &PgPool) -> Result<Vec<(String, i64)>> {
    let counted = crate::jobs::counts_by_status(pool).await?;
    let mut depth: BTreeMap<String, i64> =
        JOB_STATUSES.iter().map(|s| ((*s).to_owned(), 0)).collect();
    depth.extend(counted);
    Ok(depth.into_iter().collect())
}

/// A worker slot holding leases, as the queue sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkerLease {
    /// The lease owner, `host:pid/slot`.
    pub worker: String,
    pub running: i64,
    /// Seconds since the slot last claimed or renewed one of its leases.
    pub heartbeat_age_seconds: f64,
}

/// The worker slots that hold running jobs, with the age of their last
/// heartbeat (idle workers hold no lease and do not appear; their own
/// `--metrics-addr` endpoint reports them).
pub async fn worker_leases(pool: &PgPool) -> Result<Vec<WorkerLease>> {
    Ok(sqlx::query_as::<_, WorkerLease>(
        "SELECT lease_owner AS worker, count(*) AS running,
                extract(epoch FROM now() - max(updated_at))::float8 AS heartbeat_age_seconds
         FROM jobs WHERE status = 'running' AND lease_owner IS NOT NULL
         GROUP BY lease_owner ORDER BY lease_owner",
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_labels_escaped() {
        let family = Family::new(
            "t_seconds",
            "Test.",
            &["route"],
            Kind::Histogram(&[0.1, 1.0]),
        );
        family.observe(&["/a\"b"], 0.05);
        family.observe(&["/a\"b"], 0.5);
        family.observe(&["/a\"b"], 5.0);
        let mut out = String::new();
        family.render(&mut out);
        assert!(out.contains("# TYPE t_seconds histogram"), "{out}");
        assert!(
            out.contains(r#"t_seconds_bucket{route="/a\"b",le="0.1"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"t_seconds_bucket{route="/a\"b",le="1"} 2"#),
            "{out}"
        );
        assert!(
            out.contains(r#"t_seconds_bucket{route="/a\"b",le="+Inf"} 3"#),
            "{out}"
        );
        assert!(out.contains(r#"t_seconds_count{route="/a\"b"} 3"#), "{out}");
        assert!(
            out.contains(r#"t_seconds_sum{route="/a\"b"} 5.55"#),
            "{out}"
        );
    }

    #[test]
    fn counters_add_and_gauges_set() {
        let counter = Family::new("c_total", "C.", &["k"], Kind::Counter);
        counter.inc(&["x"]);
        counter.add(&["x"], 2.0);
        assert_eq!(counter.value(&["x"]), 3.0);
        let gauge = Family::new("g", "G.", &[], Kind::Gauge);
        gauge.set(&[], 7.5);
        gauge.set(&[], 2.0);
        let mut out = String::new();
        gauge.render(&mut out);
        assert!(out.ends_with("g 2\n"), "{out}");
    }
}
