//! The human log of an evaluation, in two parts: what the submitter may read
//! (compile summary, timings, hardware figures, errors of their model) and
//! what only the challenge's organizers may read (anything computed from the
//! hidden labels: the score, problems of the label column). The log also
//! times the steps for the `arena_job_step_duration_seconds` metric.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Who may read a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// The submitter and the organizers.
    Submitter,
    /// The organizers only: the line depends on the hidden labels.
    Organizers,
}

/// Longest log part kept, in bytes (the oldest lines go first).
pub const MAX_LOG_BYTES: usize = 64 << 10;

#[derive(Debug, Default)]
pub struct Log {
    /// Lines for the submitter (and the organizers).
    pub text: String,
    /// Lines for the organizers only.
    pub organizers: String,
    started: Option<Instant>,
    step: Option<(String, Instant)>,
}

impl Log {
    /// A new step begins: the previous one (if any) ends now.
    pub fn start_step(&mut self, step: &str) {
        self.end_step();
        self.step = Some((step.to_owned(), Instant::now()));
    }

    pub fn end_step(&mut self) {
        if let Some((step, started)) = self.step.take() {
            db::metrics::global()
                .job_step_seconds
                .observe(&[&step], started.elapsed().as_secs_f64());
        }
    }

    /// A line for the submitter (and the organizers).
    pub fn line(&mut self, line: &str) {
        self.add(Audience::Submitter, line);
    }

    /// A line for the organizers only.
    pub fn organizers(&mut self, line: &str) {
        self.add(Audience::Organizers, line);
    }

    pub fn add(&mut self, audience: Audience, line: &str) {
        let started = *self.started.get_or_insert_with(Instant::now);
        let stamped = format!("[{:>8.3} s] {line}\n", started.elapsed().as_secs_f64());
        let part = match audience {
            Audience::Submitter => &mut self.text,
            Audience::Organizers => &mut self.organizers,
        };
        part.push_str(&stamped);
        keep_tail(part, MAX_LOG_BYTES);
    }
}

/// Drop the oldest lines of `text` until it fits in `max` bytes.
fn keep_tail(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    let cut = text[cut..].find('\n').map_or(cut, |i| cut + i + 1);
    text.replace_range(..cut, "");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_are_kept_apart_and_bounded() {
        let mut log = Log::default();
        log.line("compiled");
        log.organizers("roc_auc = 0.9");
        assert!(log.text.contains("compiled") && !log.text.contains("roc_auc"));
        assert!(log.organizers.contains("roc_auc") && !log.organizers.contains("compiled"));
        for i in 0..10_000 {
            log.line(&format!("line {i} é"));
        }
        assert!(log.text.len() <= MAX_LOG_BYTES);
        assert!(log.text.ends_with("line 9999 é\n"));
        assert!(log.text.starts_with('['), "whole lines only");
    }
}
