//! `diagnostic.sleep`: a job that waits and succeeds. Operators use it to check
//! that workers take jobs; the fault and queue tests use it to hold a job in
//! flight while they stop a worker.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::{Handler, Job, JobError};

/// Longest sleep a diagnostic job may ask for.
const MAX_SLEEP_MS: u64 = 600_000;

pub struct SleepHandler;

impl Handler for SleepHandler {
    fn kind(&self) -> &'static str {
        "diagnostic.sleep"
    }

    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<Value, JobError>> {
        Box::pin(async move {
            let ms = job.payload.get("ms").and_then(Value::as_u64).unwrap_or(0);
            if ms > MAX_SLEEP_MS {
                return Err(JobError::permanent(format!(
                    "diagnostic.sleep: ms = {ms} exceeds the limit of {MAX_SLEEP_MS}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!({ "slept_ms": ms, "worker": crate::default_name() }))
        })
    }
}
