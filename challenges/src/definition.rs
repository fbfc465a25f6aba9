//! The challenge definition format (YAML or JSON), documented in
//! docs/CHALLENGES.md.

use chrono::{DateTime, Utc};
use scoring::{Budget, Criterion, HardwareField, Metric, Quantity, RankingConfig, RankingRule};
use serde::{Deserialize, Serialize};

use crate::error::{ChallengeError, Result};

/// A challenge, as organizers write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    /// URL name: 3 to 64 characters of `a-z`, `0-9` and `-`.
    pub slug: String,
    pub title: String,
    /// Markdown.
    #[serde(default)]
    pub description: String,
    /// Handles of the organizers (users who may edit the challenge and see hidden results).
    #[serde(default)]
    pub organizers: Vec<String>,
    /// The dataset version whose test splits score the submissions.
    pub dataset: DatasetRef,
    /// Which column(s) feed the model.
    pub input: InputSpec,
    /// The label column (0/1 or boolean; a fixed-size list for per-element labels).
    pub label: String,
    /// How the model's output becomes an anomaly score.
    #[serde(default)]
    pub score_from: ScoreFrom,
    /// The challenge metric, e.g. `roc_auc`, `tnr_at_tpr:0.9`.
    pub metric: Metric,
    /// Hardware target of every submission.
    pub target: Target,
    /// Hardware budget; entries over it are flagged (and ranked after, or excluded).
    #[serde(default)]
    pub budget: Budget,
    /// Ranking rule; default: the metric, ties broken by lower latency then fewer LUTs.
    #[serde(default)]
    pub ranking: Option<RankingConfig>,
    /// Phases, in order.
    pub phases: Vec<Phase>,
    /// Submission limits (failed submissions do not count).
    #[serde(default)]
    pub limits: Limits,
    /// Which entries of each participant appear on the leaderboard.
    #[serde(default)]
    pub entries_per_participant: EntryPolicy,
    /// Run open-source synthesis (Yosys) for every submission, not only the estimate.
    #[serde(default)]
    pub synthesize: bool,
    /// Baseline entries shown on the leaderboard, marked as such.
    #[serde(default)]
    pub baselines: Vec<Baseline>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetRef {
    pub slug: String,
    /// A version string, or `latest` (resolved when the challenge is created).
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// A tensor column (fixed-size list), reshaped row-major into the model input.
    #[serde(default)]
    pub column: Option<String>,
    /// Alternatively, scalar numeric columns in this order.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Expected model input shape without the batch dimension (checked at submission).
    #[serde(default)]
    pub shape: Option<Vec<usize>>,
}

impl InputSpec {
    /// Whether a model whose declared input shape is `model_shape` takes this
    /// input: the same number of values per sample, with or without a leading
    /// batch dimension of 1. The simulator reshapes each row in row-major order,
    /// so a model declaring `[1, 400]` or `[400]` takes a `[2, 200]` input as the
    /// flattened row, and `[1, 2, 200]` takes it as is.
    ///
    /// ```
    /// # use challenges::InputSpec;
    /// let spec: InputSpec = yaml::from_str("{column: x, shape: [2, 200]}").unwrap();
    /// assert!(spec.accepts(&[1, 2, 200]));
    /// assert!(spec.accepts(&[1, 400]));
    /// assert!(spec.accepts(&[400]));
    /// assert!(!spec.accepts(&[1, 200]));
    /// assert!(!spec.accepts(&[2, 400]));
    /// ```
    pub fn accepts(&self, model_shape: &[usize]) -> bool {
        let Some(expected) = &self.shape else {
            return true;
        };
        let per_sample: usize = match model_shape.split_first() {
            Some((1, rest)) if !rest.is_empty() => rest.iter().product(),
            _ => model_shape.iter().product(),
        };
        per_sample == expected.iter().product::<usize>()
    }
}

/// How a model output becomes the score compared with the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreFrom {
    /// The output itself: one value per sample (the anomaly score), or one per
    /// label element when the label is a list (e.g. per station).
    #[default]
    Output,
    /// Autoencoders: the mean squared difference between output and input.
    ReconstructionError,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// FPGA part, e.g. `xc7a100t`.
    pub part: String,
    /// Clock period in nanoseconds.
    #[serde(default = "default_clock_ns")]
    pub clock_ns: f64,
}

fn default_clock_ns() -> f64 {
    5.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    /// The split scored in this phase: `validation`, `public_test` or `private_test`.
    pub split: String,
    #[serde(default)]
    pub starts: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends: Option<DateTime<Utc>>,
    /// `live` shows results as they come; `hidden` shows them only to organizers
    /// until they publish. Default: hidden for `private_test`, live otherwise.
    #[serde(default)]
    pub leaderboard: Option<Visibility>,
    /// Per-phase submission limit per participant.
    #[serde(default)]
    pub max_submissions: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Live,
    Hidden,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Per participant per UTC day.
    #[serde(default)]
    pub per_day: Option<u32>,
    /// Per participant over the whole challenge.
    #[serde(default)]
    pub total: Option<u32>,
    /// Longest one evaluation may run, in seconds. The site's limit
    /// (`ARENA_EVAL_SECONDS`) is the default and the ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_seconds: Option<u32>,
    /// Memory of one evaluation, in MiB (site: `ARENA_EVAL_MEMORY_MIB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_memory_mib: Option<u32>,
    /// Multiplications one evaluation may take: rows of the scored split times
    /// multiplications per sample (site: `ARENA_EVAL_WORK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_work: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryPolicy {
    /// Each participant's best entry by the ranking.
    #[default]
    Best,
    /// Each participant's latest finished entry.
    Latest,
    /// Every finished entry.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub name: String,
    /// Path of the ONNX model, relative to the definition file (CLI), or
    /// `builtin:NAME` for a baseline the platform trains itself.
    pub model: String,
    /// Toolflow precision configuration (path), for float models.
    #[serde(default)]
    pub config: Option<String>,
    #[serde(default)]
    pub description: String,
}

/// The splits a phase may score.
pub const SCORED_SPLITS: [&str; 3] = ["validation", "public_test", "private_test"];

impl Challenge {
    /// Parse and validate YAML (JSON is YAML too).
    pub fn from_yaml(text: &str) -> Result<Challenge> {
        let challenge: Challenge =
            yaml::from_str(text).map_err(|e| ChallengeError::Syntax(e.to_string()))?;
        challenge.validate()?;
        Ok(challenge)
    }

    pub fn to_yaml(&self) -> String {
        yaml::to_string(self).unwrap_or_default()
    }

    /// Every rule a definition must follow, each error naming its field.
    pub fn validate(&self) -> Result<()> {
        check_slug("slug", &self.slug)?;
        if self.title.trim().is_empty() {
            return Err(ChallengeError::field("title", "must not be empty"));
        }
        check_slug("dataset.slug", &self.dataset.slug)?;
        if self.dataset.version.trim().is_empty() {
            return Err(ChallengeError::field(
                "dataset.version",
                "must not be empty",
            ));
        }
        match (&self.input.column, self.input.columns.is_empty()) {
            (Some(_), false) => {
                return Err(ChallengeError::field(
                    "input",
                    "give either `column` or `columns`, not both",
                ));
            }
            (None, true) => {
                return Err(ChallengeError::field("input", "give `column` or `columns`"));
            }
            _ => {}
        }
        if let Some(shape) = &self.input.shape
            && (shape.is_empty() || shape.contains(&0))
        {
            return Err(ChallengeError::field(
                "input.shape",
                "dimensions must be positive",
            ));
        }
        if self.label.trim().is_empty() {
            return Err(ChallengeError::field("label", "must name the label column"));
        }
        if self.target.part.trim().is_empty() {
            return Err(ChallengeError::field(
                "target.part",
                "must name an FPGA part",
            ));
        }
        if !(self.target.clock_ns.is_finite()
            && self.target.clock_ns > 0.0
            && self.target.clock_ns <= 1000.0)
        {
            return Err(ChallengeError::field(
                "target.clock_ns",
                "must be in (0, 1000] ns",
            ));
        }
        self.validate_phases()?;
        if let Some(ranking) = &self.ranking {
            scoring::rank(&[], ranking, None)
                .map_err(|e| ChallengeError::field("ranking", e.to_string()))?;
        }
        let mut names: Vec<&str> = self.baselines.iter().map(|b| b.name.as_str()).collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(ChallengeError::field("baselines", "names must be unique"));
        }
        Ok(())
    }

    fn validate_phases(&self) -> Result<()> {
        if self.phases.is_empty() {
            return Err(ChallengeError::field(
                "phases",
                "at least one phase is needed",
            ));
        }
        for (i, phase) in self.phases.iter().enumerate() {
            let field = |f: &str| format!("phases[{i}].{f}");
            if phase.name.trim().is_empty() {
                return Err(ChallengeError::field(field("name"), "must not be empty"));
            }
            if !SCORED_SPLITS.contains(&phase.split.as_str()) {
                return Err(ChallengeError::field(
                    field("split"),
                    format!(
                        "`{}` is not one of {}",
                        phase.split,
                        SCORED_SPLITS.join(", ")
                    ),
                ));
            }
            if phase.split == "private_test" && phase.leaderboard == Some(Visibility::Live) {
                return Err(ChallengeError::field(
                    field("leaderboard"),
                    "private_test results cannot be live; use `hidden` and publish at the end",
                ));
            }
            if let (Some(starts), Some(ends)) = (phase.starts, phase.ends)
                && ends <= starts
            {
                return Err(ChallengeError::field(
                    field("ends"),
                    "must be after `starts`",
                ));
            }
            if self.phases[..i].iter().any(|p| p.name == phase.name) {
                return Err(ChallengeError::field(
                    field("name"),
                    format!("`{}` is used twice", phase.name),
                ));
            }
        }
        Ok(())
    }

    /// The ranking in force: the configured one, or the metric with latency and
    /// LUT tie-breaks.
    pub fn ranking(&self) -> RankingConfig {
        self.ranking.clone().unwrap_or_else(|| RankingConfig {
            rule: RankingRule::Primary {
                metric: self.metric,
                tie_breaks: default_tie_breaks(),
            },
            over_budget: Default::default(),
        })
    }

    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// The phase open for submissions at `now`: the first that has started and not
    /// ended (a phase without dates is always open).
    pub fn open_phase(&self, now: DateTime<Utc>) -> Option<&Phase> {
        self.phases.iter().find(|p| p.is_open(now))
    }

    /// The phase whose leaderboard is shown by default: the open one, else the last
    /// that has started, else the first.
    pub fn default_phase(&self, now: DateTime<Utc>) -> &Phase {
        self.open_phase(now)
            .or_else(|| {
                self.phases
                    .iter()
                    .rev()
                    .find(|p| p.starts.is_none_or(|s| s <= now))
            })
            .unwrap_or(&self.phases[0])
    }
}

impl Phase {
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.starts.is_none_or(|s| s <= now) && self.ends.is_none_or(|e| now < e)
    }

    pub fn visibility(&self) -> Visibility {
        self.leaderboard.unwrap_or(if self.split == "private_test" {
            Visibility::Hidden
        } else {
            Visibility::Live
        })
    }
}

fn default_tie_breaks() -> Vec<Criterion> {
    [HardwareField::LatencyNs, HardwareField::Lut]
        .into_iter()
        .map(|field| Criterion {
            quantity: Quantity::Hardware(field),
            direction: None,
        })
        .collect()
}

/// Slugs: 3 to 64 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn check_slug(field: &str, slug: &str) -> Result<()> {
    let ok = (3..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if !ok {
        return Err(ChallengeError::field(
            field,
            format!("`{slug}` must be 3 to 64 characters of a-z, 0-9 and '-' (not at the ends)"),
        ));
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(ChallengeError::field(
            field,
            format!("`{slug}` is reserved for the site's own pages; choose another"),
        ));
    }
    Ok(())
}

/// Slugs the console's own pages use (`/console/new`, `/console/users`).
pub const RESERVED_SLUGS: [&str; 2] = ["new", "users"];
