//! The bounds of an evaluation, and the check that a compiled model stays
//! within them before it is queued: the output size the challenge scores,
//! the memory the simulation will take, and its work (rows x
//! multiplications). The same check runs at upload (422 naming the figure)
//! and again in the evaluation child, so a definition changed in between
//! cannot let a model through.

use challenges::{Challenge, ScoreFrom};
use datasets::{SplitMeta, VersionMeta};
use serde::{Deserialize, Serialize};
use toolflow::SimCost;

/// The bounds of one evaluation. The site's values are the defaults and the
/// ceilings; a challenge may lower them (`limits.eval_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalLimits {
    /// Wall-clock seconds of the whole evaluation child.
    pub seconds: u64,
    /// Memory of the evaluation child (MiB): its address-space limit.
    pub memory_mib: u64,
    /// Multiplications over the whole split (rows x multiplications per sample).
    pub work: u64,
    /// Threads of the child's simulator.
    pub threads: u64,
}

impl Default for EvalLimits {
    fn default() -> Self {
        EvalLimits {
            seconds: 600,
            memory_mib: 2048,
            // About a minute of simulation on two cores (2 G multiply-adds/s).
            work: 100_000_000_000,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get() as u64),
        }
    }
}

/// Memory of the child before any model: the binary, the runtime, a decoded
/// Parquet batch, the labels and scores collected so far, the hardware step.
pub const BASE_MIB: u64 = 384;
/// What a call of the simulator may take for its input and output arrays;
/// the split streams through in chunks of at most this size.
pub const CHUNK_BYTES: u64 = 32 << 20;
/// Scores, labels and sample keys kept per scored sample (f64 + bool + 2 i64).
const BYTES_PER_SCORED_SAMPLE: u64 = 32;

impl EvalLimits {
    /// These limits, each lowered by the challenge's own where it sets one.
    pub fn for_challenge(&self, challenge: &Challenge) -> EvalLimits {
        let own = &challenge.limits;
        let lower = |site: u64, mine: Option<u64>| mine.map_or(site, |m| m.min(site));
        EvalLimits {
            seconds: lower(self.seconds, own.eval_seconds.map(u64::from)),
            memory_mib: lower(self.memory_mib, own.eval_memory_mib.map(u64::from)),
            work: lower(self.work, own.eval_work),
            threads: self.threads.max(1),
        }
    }
}

/// The facts of a phase's split an admission needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFacts {
    pub rows: u64,
    /// Values of the label per row (1, or the list length of a list label).
    pub label_width: u64,
}

impl SplitFacts {
    pub fn of(version: &VersionMeta, split: &SplitMeta, challenge: &Challenge) -> SplitFacts {
        let label_width = version
            .features
            .iter()
            .find(|f| f.name == challenge.label)
            .map_or(1, |f| f.shape.iter().product::<usize>().max(1) as u64);
        SplitFacts {
            rows: split.rows,
            label_width,
        }
    }
}

/// Why a model is not admitted: a sentence naming the figure and the limit.
pub type Refusal = String;

/// Check `cost` (a compiled model's) against the challenge and the limits:
/// what it outputs, its work, and its predicted memory. Run at upload.
pub fn admit(
    cost: &SimCost,
    challenge: &Challenge,
    split: SplitFacts,
    limits: &EvalLimits,
) -> Result<(), Refusal> {
    admit_work(cost, challenge, split, limits)?;
    let peak = peak_bytes(cost, split, limits);
    let limit = limits.memory_mib << 20;
    if peak > limit {
        return Err(format!(
            "the evaluation would need about {} of memory ({} values per sample in flight, \
             {} parameters), over the limit of {} (`limits.eval_memory_mib`)",
            mib(peak),
            count(cost.values_per_sample),
            count(cost.parameters),
            mib(limit)
        ));
    }
    Ok(())
}

/// The output and work checks of [`admit`], without the memory prediction:
/// what the evaluation child checks again before it simulates (the challenge
/// may have changed since the upload). Its memory is the kernel's to enforce
/// there, with the child's address-space limit.
pub fn admit_work(
    cost: &SimCost,
    challenge: &Challenge,
    split: SplitFacts,
    limits: &EvalLimits,
) -> Result<(), Refusal> {
    check_output(cost, challenge, split)?;
    let work = cost.work(split.rows);
    if work > limits.work {
        return Err(format!(
            "simulating the {} rows of the test split takes {} multiplications ({} per sample), \
             over the limit of {} for one evaluation (`limits.eval_work`)",
            split.rows,
            count(work),
            count(cost.mults_per_sample),
            count(limits.work)
        ));
    }
    Ok(())
}

/// Predicted peak memory of the evaluation child.
pub fn peak_bytes(cost: &SimCost, split: SplitFacts, limits: &EvalLimits) -> u64 {
    let rows = chunk_rows(cost) as u64;
    let scored = split
        .rows
        .saturating_mul(split.label_width)
        .saturating_mul(BYTES_PER_SCORED_SAMPLE);
    (BASE_MIB << 20)
        .saturating_add(cost.peak_bytes(rows, limits.threads))
        .saturating_add(scored)
}

/// Samples per simulator call while a split streams through.
pub fn chunk_rows(cost: &SimCost) -> usize {
    cost.rows_within(CHUNK_BYTES)
        .min(datasets::parquet_io::READ_BATCH_ROWS)
}

fn check_output(cost: &SimCost, challenge: &Challenge, split: SplitFacts) -> Result<(), Refusal> {
    match challenge.score_from {
        ScoreFrom::ReconstructionError if cost.output_len != cost.input_len => Err(format!(
            "the challenge scores reconstruction error, so the model output must have the \
             input's size ({} values); it has {}",
            cost.input_len, cost.output_len
        )),
        ScoreFrom::Output if cost.output_len != split.label_width => {
            Err(if split.label_width == 1 {
                format!(
                    "the model gives {} values per sample; this challenge scores one value \
                     per sample (the anomaly score)",
                    cost.output_len
                )
            } else {
                format!(
                    "the model gives {} values per sample; this challenge scores {}, one per \
                     element of the label `{}`",
                    cost.output_len, split.label_width, challenge.label
                )
            })
        }
        _ => Ok(()),
    }
}

fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / f64::from(1 << 20);
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// A count with thousands separators.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(score_from: &str) -> Challenge {
        Challenge::from_yaml(&format!(
            r#"
slug: toy
title: Toy
dataset: {{ slug: toy, version: latest }}
input: {{ column: x, shape: [256] }}
label: is_anomaly
score_from: {score_from}
metric: roc_auc
target: {{ part: xc7a35t }}
phases: [{{ name: one, split: public_test }}]
"#
        ))
        .unwrap()
    }

    fn limits() -> EvalLimits {
        EvalLimits {
            seconds: 60,
            memory_mib: 2048,
            work: 1_000_000_000,
            threads: 2,
        }
    }

    const SPLIT: SplitFacts = SplitFacts {
        rows: 600,
        label_width: 1,
    };

    /// MatMul 256 -> 1, then 1 -> 4,000,000: the model of the integrity report.
    fn wide() -> SimCost {
        SimCost {
            parameters: 4_000_256,
            mults_per_sample: 4_000_256,
            values_per_sample: 4_000_000 * 2 + 257,
            input_len: 256,
            output_len: 4_000_000,
        }
    }

    #[test]
    fn the_wide_model_is_refused_for_its_output() {
        let refusal = admit(
            &wide(),
            &challenge("reconstruction_error"),
            SPLIT,
            &limits(),
        );
        assert!(
            refusal
                .unwrap_err()
                .contains("input's size (256 values); it has 4000000")
        );
        let refusal = admit(&wide(), &challenge("output"), SPLIT, &limits());
        assert!(
            refusal
                .unwrap_err()
                .contains("gives 4000000 values per sample")
        );
    }

    #[test]
    fn memory_and_work_are_named_with_their_limits() {
        let c = challenge("reconstruction_error");
        let fat = SimCost {
            output_len: 256,
            ..wide()
        };
        let roomy = EvalLimits {
            work: u64::MAX,
            ..limits()
        };
        let refusal = admit(&fat, &c, SPLIT, &roomy).unwrap_err();
        assert!(refusal.contains("over the limit of 2.0 GiB"), "{refusal}");
        let slow = SimCost {
            parameters: 1000,
            mults_per_sample: 5_000_000,
            values_per_sample: 600,
            input_len: 256,
            output_len: 256,
        };
        let refusal = admit(&slow, &c, SPLIT, &limits()).unwrap_err();
        assert!(
            refusal.contains("3,000,000,000 multiplications")
                && refusal.contains("limit of 1,000,000,000"),
            "{refusal}"
        );
        let fine = SimCost {
            mults_per_sample: 1000,
            ..slow
        };
        assert_eq!(admit(&fine, &c, SPLIT, &limits()), Ok(()));
    }

    #[test]
    fn a_challenge_lowers_the_site_limits_but_never_raises_them() {
        let mut c = challenge("output");
        c.limits.eval_seconds = Some(10);
        c.limits.eval_memory_mib = Some(1 << 20);
        let own = limits().for_challenge(&c);
        assert_eq!(own.seconds, 10);
        assert_eq!(own.memory_mib, 2048);
    }
}
