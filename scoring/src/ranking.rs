//! Leaderboard ranking: lexicographic (primary metric + tie-breaks), Pareto
//! fronts over (score, cost), or a weighted formula; budgets; Pareto fronts
//! for plots.
//!
//! The configuration structs are part of a challenge's YAML, e.g.
//!
//! ```yaml
//! ranking:
//!   rule: primary
//!   metric: tnr_at_tpr:0.9
//!   tie_breaks:
//!     - hardware: latency_ns
//!     - metric: roc_auc
//!   over_budget: rank_last
//! ```
//!
//! ```yaml
//! ranking:
//!   rule: pareto
//!   metric: roc_auc
//!   cost: lut_equivalent        # or latency_ns, or {linear: {lut: 1, dsp: 55}}
//! ```
//!
//! ```yaml
//! ranking:
//!   rule: weighted
//!   terms:
//!     - metric: roc_auc
//!       weight: 0.7
//!     - hardware: latency_ns
//!       weight: 0.3
//!       normalization: {fixed: {min: 0, max: 1000}}
//! ```
//!
//! Every ordering ends with the same deterministic tail: earlier
//! `submitted_at` first, then smaller `id` (byte-wise), so two entries equal
//! on every criterion still have a fixed order.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScoringError};
use crate::hardware::{Budget, HardwareField, HardwareFigures};
use crate::numeric::compensated_sum;
use crate::registry::Metric;

/// Which way a quantity improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Larger is better (`higher`).
    Higher,
    /// Smaller is better (`lower`).
    Lower,
}

impl Direction {
    /// Orders `a` before `b` when `a` is better. Total on finite values.
    fn better_first(self, a: f64, b: f64) -> Ordering {
        match self {
            Direction::Higher => b.total_cmp(&a),
            Direction::Lower => a.total_cmp(&b),
        }
    }
}

/// A quantity attached to a leaderboard entry: one of its metrics or one of
/// its hardware figures. In YAML: `metric: roc_auc` or `hardware: lut`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// A metric value from [`Entry::metrics`].
    Metric(Metric),
    /// A figure from [`Entry::hardware`].
    Hardware(HardwareField),
}

impl Quantity {
    /// The entry's value, if present and finite.
    pub fn value(&self, entry: &Entry) -> Option<f64> {
        match self {
            Quantity::Metric(m) => entry.metric(m),
            Quantity::Hardware(f) => f.get(&entry.hardware).filter(|v| v.is_finite()),
        }
    }

    /// Natural direction: the metric's own, lower for hardware figures.
    pub fn default_direction(&self) -> Direction {
        match self {
            Quantity::Metric(m) if m.higher_is_better() => Direction::Higher,
            Quantity::Metric(_) => Direction::Lower,
            Quantity::Hardware(_) => Direction::Lower,
        }
    }

    fn describe(&self) -> String {
        match self {
            Quantity::Metric(m) => format!("metric {m}"),
            Quantity::Hardware(f) => format!("hardware figure {f}"),
        }
    }
}

/// A tie-break criterion: a quantity and, optionally, a direction overriding
/// its natural one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// `metric: <name>` or `hardware: <figure>`.
    #[serde(flatten)]
    pub quantity: Quantity,
    /// `higher` or `lower`; defaults to the metric's direction, or `lower`
    /// for hardware figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
}

impl Criterion {
    /// The direction in force.
    pub fn direction(&self) -> Direction {
        self.direction
            .unwrap_or_else(|| self.quantity.default_direction())
    }
}

/// LUTs counted per DSP slice in [`CostExpr::LutEquivalent`].
pub const DSP_LUT_EQUIVALENT: f64 = 55.0;

/// Hardware cost of an entry for Pareto ranking (lower is better).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostExpr {
    /// `latency_ns`.
    LatencyNs,
    /// `latency_cycles`.
    LatencyCycles,
    /// `lut`.
    Lut,
    /// `ff`.
    Ff,
    /// `dsp`.
    Dsp,
    /// `bram` (BRAM36 units).
    Bram,
    /// `lut + 55 * dsp` (a DSP slice counted as 55 LUTs).
    LutEquivalent,
    /// `(lut + 55 * dsp) * latency_ns`, an area-delay product.
    AreaLatency,
    /// A custom linear combination: `{linear: {lut: 1, dsp: 55, bram: 200}}`.
    Linear(LinearCost),
}

/// Weights of a linear cost; each absent weight is 0. A figure with a
/// non-zero weight must be reported for the cost to exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinearCost {
    /// Weight of `latency_ns`.
    pub latency_ns: f64,
    /// Weight of `latency_cycles`.
    pub latency_cycles: f64,
    /// Weight of `ii`.
    pub ii: f64,
    /// Weight of `lut`.
    pub lut: f64,
    /// Weight of `ff`.
    pub ff: f64,
    /// Weight of `dsp`.
    pub dsp: f64,
    /// Weight of `bram`.
    pub bram: f64,
}

impl LinearCost {
    fn weights(&self) -> [(HardwareField, f64); 7] {
        [
            (HardwareField::LatencyNs, self.latency_ns),
            (HardwareField::LatencyCycles, self.latency_cycles),
            (HardwareField::Ii, self.ii),
            (HardwareField::Lut, self.lut),
            (HardwareField::Ff, self.ff),
            (HardwareField::Dsp, self.dsp),
            (HardwareField::Bram, self.bram),
        ]
    }
}

impl CostExpr {
    /// The cost of a design, or `None` when a figure it needs is missing
    /// (or the result is not finite).
    pub fn eval(&self, hw: &HardwareFigures) -> Option<f64> {
        let get = |f: HardwareField| f.get(hw);
        let lut_eq =
            || Some(get(HardwareField::Lut)? + DSP_LUT_EQUIVALENT * get(HardwareField::Dsp)?);
        let value = match self {
            CostExpr::LatencyNs => get(HardwareField::LatencyNs),
            CostExpr::LatencyCycles => get(HardwareField::LatencyCycles),
            CostExpr::Lut => get(HardwareField::Lut),
            CostExpr::Ff => get(HardwareField::Ff),
            CostExpr::Dsp => get(HardwareField::Dsp),
            CostExpr::Bram => get(HardwareField::Bram),
            CostExpr::LutEquivalent => lut_eq(),
            CostExpr::AreaLatency => Some(lut_eq()? * get(HardwareField::LatencyNs)?),
            CostExpr::Linear(lin) => {
                let mut terms = Vec::with_capacity(7);
                for (field, w) in lin.weights() {
                    if w != 0.0 {
                        terms.push(w * get(field)?);
                    }
                }
                Some(compensated_sum(terms))
            }
        }?;
        value.is_finite().then_some(value)
    }

    fn validate(&self) -> Result<()> {
        if let CostExpr::Linear(lin) = self {
            if lin.weights().iter().any(|(_, w)| !w.is_finite()) {
                return Err(ScoringError::InvalidConfig(
                    "linear cost weights must be finite".into(),
                ));
            }
            if lin.weights().iter().all(|(_, w)| *w == 0.0) {
                return Err(ScoringError::InvalidConfig(
                    "linear cost needs at least one non-zero weight".into(),
                ));
            }
        }
        Ok(())
    }
}

/// How a weighted-formula term maps its raw value to a comparable number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// `(x - min) / (max - min)` over the ranked entries (flipped to
    /// `(max - x) / (max - min)` for lower-is-better), so the best entry gets
    /// 1 and the worst 0; when all entries are equal every entry gets 1.
    #[default]
    MinMax,
    /// `(x - min) / (max - min)` with fixed bounds, clamped to [0, 1] (and
    /// flipped for lower-is-better). Scores do not move when others submit.
    Fixed {
        /// Value mapped to 0 (or 1 when lower is better).
        min: f64,
        /// Value mapped to 1 (or 0 when lower is better).
        max: f64,
    },
    /// The raw value (negated when lower is better).
    Raw,
}

/// One term of a weighted formula.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightedTerm {
    /// `metric: <name>` or `hardware: <figure>`.
    #[serde(flatten)]
    pub quantity: Quantity,
    /// Overrides the natural direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Weight of the normalized value in the sum (finite).
    pub weight: f64,
    /// Normalization; default `min_max`.
    #[serde(default)]
    pub normalization: Normalization,
}

impl WeightedTerm {
    fn direction(&self) -> Direction {
        self.direction
            .unwrap_or_else(|| self.quantity.default_direction())
    }
}

/// The ranking rule, selected by the `rule` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum RankingRule {
    /// Order by one metric, then by each tie-break in turn.
    /// `rank` = position.
    Primary {
        /// The primary metric (its own direction).
        metric: Metric,
        /// Ordered tie-breaks; an entry missing a tie-break value sorts after
        /// those that have it.
        #[serde(default)]
        tie_breaks: Vec<Criterion>,
    },
    /// Pareto ranking over (metric, cost): `rank` 1 is the non-dominated
    /// front, rank 2 the front of what remains, and so on. Within a front:
    /// better metric first, then lower cost, then the tie-breaks.
    Pareto {
        /// The score axis.
        metric: Metric,
        /// The cost axis (lower is better).
        cost: CostExpr,
        /// Ordering inside a front after metric and cost.
        #[serde(default)]
        tie_breaks: Vec<Criterion>,
    },
    /// Order by `sum_i weight_i * normalized_i` (higher first), then the
    /// tie-breaks. `rank` = position.
    Weighted {
        /// The terms of the sum.
        terms: Vec<WeightedTerm>,
        /// Ordered tie-breaks.
        #[serde(default)]
        tie_breaks: Vec<Criterion>,
    },
}

/// What happens to entries that break the hardware budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverBudget {
    /// Left out of the ranking (listed in [`Leaderboard::excluded`]).
    Exclude,
    /// Ranked by the same rule among themselves, after every in-budget entry.
    #[default]
    RankLast,
}

/// A challenge's ranking configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingConfig {
    /// The rule and its parameters (`rule: primary | pareto | weighted`).
    #[serde(flatten)]
    pub rule: RankingRule,
    /// Treatment of over-budget entries; default `rank_last`.
    #[serde(default)]
    pub over_budget: OverBudget,
}

/// One submission's results as seen by the ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Submission id (final tie-break, compared byte-wise).
    pub id: String,
    /// Submission time in milliseconds since the Unix epoch (UTC); earlier
    /// wins full ties.
    pub submitted_at: i64,
    /// Metric values keyed by metric name (as printed by [`Metric`]'s
    /// `Display`; other spellings of the same metric are recognised too).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Hardware figures.
    #[serde(default)]
    pub hardware: HardwareFigures,
}

impl Entry {
    /// The value of `metric`, if present and finite.
    pub fn metric(&self, metric: &Metric) -> Option<f64> {
        let value = self.metrics.get(&metric.to_string()).copied().or_else(|| {
            self.metrics
                .iter()
                .find(|(k, _)| k.parse::<Metric>().is_ok_and(|m| m == *metric))
                .map(|(_, v)| *v)
        })?;
        value.is_finite().then_some(value)
    }
}

/// A ranked entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedEntry {
    /// Submission id.
    pub id: String,
    /// 1-based place in the leaderboard, unique.
    pub position: usize,
    /// Rank shown: the position for `primary` and `weighted`, the Pareto
    /// front number for `pareto` (shared by the front's members).
    pub rank: usize,
    /// Whether the entry meets the budget.
    pub in_budget: bool,
    /// Broken budgets, human-readable.
    pub violations: Vec<String>,
    /// The rule's score: the primary metric, the Pareto metric, or the
    /// weighted sum.
    pub score: f64,
    /// The Pareto cost (Pareto rule only).
    pub cost: Option<f64>,
}

/// An entry left out of the ranking, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Excluded {
    /// Submission id.
    pub id: String,
    /// Why, e.g. "over budget: LUT 120,311 > budget 100,000" or
    /// "missing metric roc_auc".
    pub reason: String,
}

/// The result of [`rank`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Leaderboard {
    /// Ranked entries, best first.
    pub ranked: Vec<RankedEntry>,
    /// Entries not ranked, in input order.
    pub excluded: Vec<Excluded>,
}

struct Candidate<'a> {
    entry: &'a Entry,
    violations: Vec<String>,
    score: f64,
    cost: Option<f64>,
    tie_values: Vec<Option<f64>>,
    front: usize,
}

fn validate(config: &RankingConfig) -> Result<()> {
    match &config.rule {
        RankingRule::Primary { .. } => Ok(()),
        RankingRule::Pareto { cost, .. } => cost.validate(),
        RankingRule::Weighted { terms, .. } => {
            if terms.is_empty() {
                return Err(ScoringError::InvalidConfig(
                    "weighted ranking needs at least one term".into(),
                ));
            }
            for t in terms {
                if !t.weight.is_finite() {
                    return Err(ScoringError::InvalidConfig(format!(
                        "weight of {} must be finite",
                        t.quantity.describe()
                    )));
                }
                let bad_bounds = match t.normalization {
                    Normalization::Fixed { min, max } => {
                        !(min.is_finite() && max.is_finite() && min < max)
                    }
                    Normalization::MinMax | Normalization::Raw => false,
                };
                if bad_bounds {
                    return Err(ScoringError::InvalidConfig(format!(
                        "fixed normalization of {} needs finite min < max",
                        t.quantity.describe()
                    )));
                }
            }
            Ok(())
        }
    }
}

/// Ranks leaderboard entries.
///
/// 1. With a budget, each entry's violations are listed; over-budget entries
///    are excluded or ranked after all in-budget ones ([`OverBudget`]).
/// 2. An entry missing a value the rule needs (the primary or Pareto metric,
///    the cost's figures, any weighted term) is excluded with a reason.
///    Missing tie-break values only sort the entry after those that have them.
/// 3. In-budget entries are ordered by the rule, then over-budget ones
///    (ranked among themselves; Pareto fronts numbered after the in-budget
///    fronts). Full ties: earlier `submitted_at`, then smaller `id`.
///
/// Errors: an invalid configuration (empty or non-finite weights, bad fixed
/// bounds, all-zero linear cost).
pub fn rank(
    entries: &[Entry],
    config: &RankingConfig,
    budget: Option<&Budget>,
) -> Result<Leaderboard> {
    validate(config)?;
    let mut board = Leaderboard::default();
    let tie_breaks: &[Criterion] = match &config.rule {
        RankingRule::Primary { tie_breaks, .. }
        | RankingRule::Pareto { tie_breaks, .. }
        | RankingRule::Weighted { tie_breaks, .. } => tie_breaks,
    };
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    // Raw values of the weighted terms, per candidate.
    let mut term_values: Vec<Vec<f64>> = Vec::new();
    for entry in entries {
        let violations: Vec<String> = budget
            .map(|b| {
                b.violations(&entry.hardware)
                    .iter()
                    .map(|v| v.message.clone())
                    .collect()
            })
            .unwrap_or_default();
        if !violations.is_empty() && config.over_budget == OverBudget::Exclude {
            board.excluded.push(Excluded {
                id: entry.id.clone(),
                reason: format!("over budget: {}", violations.join("; ")),
            });
            continue;
        }
        let missing = |what: String| Excluded {
            id: entry.id.clone(),
            reason: format!("missing {what}"),
        };
        let (score, cost) = match &config.rule {
            RankingRule::Primary { metric, .. } => match entry.metric(metric) {
                Some(v) => (v, None),
                None => {
                    board.excluded.push(missing(format!("metric {metric}")));
                    continue;
                }
            },
            RankingRule::Pareto { metric, cost, .. } => {
                let Some(v) = entry.metric(metric) else {
                    board.excluded.push(missing(format!("metric {metric}")));
                    continue;
                };
                let Some(c) = cost.eval(&entry.hardware) else {
                    board.excluded.push(missing(format!(
                        "hardware figures for cost {}",
                        cost_name(cost)
                    )));
                    continue;
                };
                (v, Some(c))
            }
            RankingRule::Weighted { terms, .. } => {
                let mut values = Vec::with_capacity(terms.len());
                let mut absent = None;
                for t in terms {
                    match t.quantity.value(entry) {
                        Some(v) => values.push(v),
                        None => {
                            absent = Some(t.quantity.describe());
                            break;
                        }
                    }
                }
                if let Some(what) = absent {
                    board.excluded.push(missing(what));
                    continue;
                }
                term_values.push(values);
                (0.0, None)
            }
        };
        candidates.push(Candidate {
            entry,
            violations,
            score,
            cost,
            tie_values: tie_breaks.iter().map(|c| c.quantity.value(entry)).collect(),
            front: 0,
        });
    }

    if let RankingRule::Weighted { terms, .. } = &config.rule {
        let scores = weighted_scores(terms, &term_values);
        for (c, s) in candidates.iter_mut().zip(scores) {
            c.score = s;
        }
    }

    let (mut inside, mut outside): (Vec<Candidate<'_>>, Vec<Candidate<'_>>) = candidates
        .into_iter()
        .partition(|c| c.violations.is_empty());

    let order_group = |group: &mut Vec<Candidate<'_>>, front_offset: usize| -> usize {
        let mut max_front = 0;
        match &config.rule {
            RankingRule::Pareto { metric, .. } => {
                let higher = metric.higher_is_better();
                let pts: Vec<(f64, f64)> = group
                    .iter()
                    .map(|c| (c.score, c.cost.unwrap_or(f64::INFINITY)))
                    .collect();
                let fronts = fronts_of(&pts, higher);
                for (c, f) in group.iter_mut().zip(fronts) {
                    c.front = f + front_offset;
                    max_front = max_front.max(f);
                }
                let dir = if higher {
                    Direction::Higher
                } else {
                    Direction::Lower
                };
                group.sort_by(|a, b| {
                    a.front
                        .cmp(&b.front)
                        .then_with(|| dir.better_first(a.score, b.score))
                        .then_with(|| {
                            Direction::Lower.better_first(
                                a.cost.unwrap_or(f64::INFINITY),
                                b.cost.unwrap_or(f64::INFINITY),
                            )
                        })
                        .then_with(|| compare_tail(a, b, tie_breaks))
                });
            }
            RankingRule::Primary { metric, .. } => {
                let dir = if metric.higher_is_better() {
                    Direction::Higher
                } else {
                    Direction::Lower
                };
                group.sort_by(|a, b| {
                    dir.better_first(a.score, b.score)
                        .then_with(|| compare_tail(a, b, tie_breaks))
                });
            }
            RankingRule::Weighted { .. } => {
                group.sort_by(|a, b| {
                    Direction::Higher
                        .better_first(a.score, b.score)
                        .then_with(|| compare_tail(a, b, tie_breaks))
                });
            }
        }
        max_front
    };
    let inside_fronts = order_group(&mut inside, 0);
    order_group(&mut outside, inside_fronts);

    let is_pareto = matches!(config.rule, RankingRule::Pareto { .. });
    for (i, c) in inside.into_iter().chain(outside).enumerate() {
        let position = i + 1;
        board.ranked.push(RankedEntry {
            id: c.entry.id.clone(),
            position,
            rank: if is_pareto { c.front } else { position },
            in_budget: c.violations.is_empty(),
            violations: c.violations,
            score: c.score,
            cost: c.cost,
        });
    }
    Ok(board)
}

fn cost_name(cost: &CostExpr) -> String {
    match serde_json::to_value(cost) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => format!("{cost:?}"),
    }
}

/// Tie-breaks (missing values last), then submission time, then id.
fn compare_tail(a: &Candidate<'_>, b: &Candidate<'_>, tie_breaks: &[Criterion]) -> Ordering {
    for (i, crit) in tie_breaks.iter().enumerate() {
        let va = a.tie_values.get(i).copied().flatten();
        let vb = b.tie_values.get(i).copied().flatten();
        let ord = match (va, vb) {
            (Some(x), Some(y)) => crit.direction().better_first(x, y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.entry
        .submitted_at
        .cmp(&b.entry.submitted_at)
        .then_with(|| a.entry.id.cmp(&b.entry.id))
}

/// Weighted-formula scores: `sum_i weight_i * normalized_i` for each row of
/// raw term values (rows = entries, columns = terms).
fn weighted_scores(terms: &[WeightedTerm], rows: &[Vec<f64>]) -> Vec<f64> {
    let bounds: Vec<(f64, f64)> = (0..terms.len())
        .map(|j| {
            let column = rows.iter().filter_map(|r| r.get(j).copied());
            column.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
        })
        .collect();
    rows.iter()
        .map(|row| {
            compensated_sum(terms.iter().enumerate().map(|(j, t)| {
                let x = row.get(j).copied().unwrap_or(f64::NAN);
                let (lo, hi) = bounds.get(j).copied().unwrap_or((x, x));
                t.weight * normalize(x, t.direction(), t.normalization, lo, hi)
            }))
        })
        .collect()
}

fn normalize(x: f64, dir: Direction, norm: Normalization, lo: f64, hi: f64) -> f64 {
    let unit = |x: f64, lo: f64, hi: f64| -> f64 {
        match dir {
            Direction::Higher => (x - lo) / (hi - lo),
            Direction::Lower => (hi - x) / (hi - lo),
        }
    };
    match norm {
        Normalization::MinMax => {
            if hi > lo {
                unit(x, lo, hi)
            } else {
                1.0
            }
        }
        Normalization::Fixed { min, max } => unit(x.clamp(min, max), min, max),
        Normalization::Raw => match dir {
            Direction::Higher => x,
            Direction::Lower => -x,
        },
    }
}

/// A point of a (score, cost) plane, for Pareto fronts and plots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    /// Submission id.
    pub id: String,
    /// Score (metric value).
    pub score: f64,
    /// Cost (lower is better).
    pub cost: f64,
}

/// `a` dominates `b` when it is at least as good on both axes and strictly
/// better on one. Scores are already oriented higher-is-better.
fn dominates(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 >= b.0 && a.1 <= b.1 && (a.0 > b.0 || a.1 < b.1)
}

/// Front number (1-based) of each (score, cost) point: 1 = not dominated by
/// any point, k = not dominated once fronts 1..k-1 are removed. Exact
/// duplicates share a front. O(n log n + n * fronts).
fn fronts_of(points: &[(f64, f64)], higher_is_better: bool) -> Vec<usize> {
    let oriented: Vec<(f64, f64)> = points
        .iter()
        .map(|&(s, c)| (if higher_is_better { s } else { -s }, c))
        .collect();
    let mut order: Vec<usize> = (0..oriented.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (oriented[a], oriented[b]);
        pb.0.total_cmp(&pa.0).then_with(|| pa.1.total_cmp(&pb.1))
    });
    // For each front, its member with the lowest cost so far (the last added).
    let mut lasts: Vec<(f64, f64)> = Vec::new();
    let mut result = vec![0usize; oriented.len()];
    for i in order {
        let p = oriented[i];
        let front = lasts
            .iter()
            .position(|&q| !dominates(q, p))
            .unwrap_or(lasts.len());
        if front == lasts.len() {
            lasts.push(p);
        } else {
            lasts[front] = p;
        }
        result[i] = front + 1;
    }
    result
}

fn check_points(points: &[ParetoPoint]) -> Result<()> {
    if let Some(p) = points
        .iter()
        .find(|p| !(p.score.is_finite() && p.cost.is_finite()))
    {
        return Err(ScoringError::InvalidConfig(format!(
            "Pareto point {} has a non-finite score or cost",
            p.id
        )));
    }
    Ok(())
}

/// Pareto front number (1 = non-dominated) of each point, in input order.
/// Errors: a non-finite score or cost.
pub fn pareto_ranks(points: &[ParetoPoint], higher_is_better: bool) -> Result<Vec<usize>> {
    check_points(points)?;
    let pts: Vec<(f64, f64)> = points.iter().map(|p| (p.score, p.cost)).collect();
    Ok(fronts_of(&pts, higher_is_better))
}

/// The non-dominated points, sorted by increasing cost (then better score,
/// then id): ready to draw as a staircase. Errors: a non-finite value.
pub fn pareto_front(points: &[ParetoPoint], higher_is_better: bool) -> Result<Vec<ParetoPoint>> {
    let ranks = pareto_ranks(points, higher_is_better)?;
    let dir = if higher_is_better {
        Direction::Higher
    } else {
        Direction::Lower
    };
    let mut front: Vec<ParetoPoint> = points
        .iter()
        .zip(ranks)
        .filter(|(_, r)| *r == 1)
        .map(|(p, _)| p.clone())
        .collect();
    front.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then_with(|| dir.better_first(a.score, b.score))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(front)
}

/// The leaderboard's Pareto front for a plot: entries within `budget` (all
/// when `None`) that have `metric` and `cost`, reduced to the non-dominated
/// ones, sorted by cost.
pub fn entries_pareto_front(
    entries: &[Entry],
    metric: &Metric,
    cost: &CostExpr,
    budget: Option<&Budget>,
) -> Vec<ParetoPoint> {
    let points: Vec<ParetoPoint> = entries
        .iter()
        .filter(|e| budget.is_none_or(|b| b.fits(&e.hardware)))
        .filter_map(|e| {
            Some(ParetoPoint {
                id: e.id.clone(),
                score: e.metric(metric)?,
                cost: cost.eval(&e.hardware)?,
            })
        })
        .collect();
    // All values are finite by construction, so this cannot fail.
    pareto_front(&points, metric.higher_is_better()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, t: i64, auc: f64, lut: u64, latency: f64) -> Entry {
        Entry {
            id: id.into(),
            submitted_at: t,
            metrics: BTreeMap::from([("roc_auc".to_string(), auc)]),
            hardware: HardwareFigures {
                lut: Some(lut),
                dsp: Some(0),
                latency_ns: Some(latency),
                ..Default::default()
            },
        }
    }

    fn ids(board: &Leaderboard) -> Vec<&str> {
        board.ranked.iter().map(|r| r.id.as_str()).collect()
    }

    fn primary(tie_breaks: Vec<Criterion>, over_budget: OverBudget) -> RankingConfig {
        RankingConfig {
            rule: RankingRule::Primary {
                metric: Metric::RocAuc,
                tie_breaks,
            },
            over_budget,
        }
    }

    #[test]
    fn primary_with_tie_breaks_and_full_ties() {
        let entries = vec![
            entry("d", 4, 0.9, 100, 50.0),
            entry("c", 3, 0.9, 100, 40.0),
            entry("b", 2, 0.95, 900, 90.0),
            entry("a", 2, 0.9, 100, 50.0),
            entry("e", 1, 0.8, 10, 5.0),
        ];
        let cfg = primary(
            vec![Criterion {
                quantity: Quantity::Hardware(HardwareField::LatencyNs),
                direction: None,
            }],
            OverBudget::RankLast,
        );
        let board = rank(&entries, &cfg, None).expect("rank");
        // b best AUC; c fastest of the 0.9s; a and d tie fully: a earlier.
        assert_eq!(ids(&board), vec!["b", "c", "a", "d", "e"]);
        assert_eq!(board.ranked[2].rank, 3);
        // Same time: id decides.
        let entries = vec![entry("z", 1, 0.5, 1, 1.0), entry("y", 1, 0.5, 1, 1.0)];
        let board = rank(&entries, &primary(vec![], OverBudget::RankLast), None).expect("rank");
        assert_eq!(ids(&board), vec!["y", "z"]);
    }

    #[test]
    fn missing_tie_break_sorts_last_and_missing_primary_is_excluded() {
        let mut a = entry("a", 1, 0.9, 1, 1.0);
        a.hardware.latency_ns = None;
        let b = entry("b", 2, 0.9, 1, 100.0);
        let mut c = entry("c", 0, 0.0, 1, 1.0);
        c.metrics.clear();
        let cfg = primary(
            vec![Criterion {
                quantity: Quantity::Hardware(HardwareField::LatencyNs),
                direction: None,
            }],
            OverBudget::RankLast,
        );
        let board = rank(&[a, b, c], &cfg, None).expect("rank");
        assert_eq!(ids(&board), vec!["b", "a"]);
        assert_eq!(board.excluded.len(), 1);
        assert_eq!(board.excluded[0].reason, "missing metric roc_auc");
    }

    #[test]
    fn budget_exclude_or_rank_last() {
        let entries = vec![
            entry("big", 1, 0.99, 120_311, 10.0),
            entry("small", 2, 0.9, 1_000, 10.0),
        ];
        let budget = Budget {
            max_lut: Some(100_000),
            ..Default::default()
        };
        let board = rank(
            &entries,
            &primary(vec![], OverBudget::RankLast),
            Some(&budget),
        )
        .expect("r");
        assert_eq!(ids(&board), vec!["small", "big"]);
        assert!(!board.ranked[1].in_budget);
        assert_eq!(
            board.ranked[1].violations,
            vec!["LUT 120,311 > budget 100,000"]
        );
        let board = rank(
            &entries,
            &primary(vec![], OverBudget::Exclude),
            Some(&budget),
        )
        .expect("r");
        assert_eq!(ids(&board), vec!["small"]);
        assert_eq!(
            board.excluded[0].reason,
            "over budget: LUT 120,311 > budget 100,000"
        );
    }

    #[test]
    fn pareto_fronts_and_order() {
        let entries = vec![
            entry("a", 1, 0.90, 100, 1.0),
            entry("b", 2, 0.95, 200, 1.0),
            entry("c", 3, 0.85, 150, 1.0), // dominated by a
            entry("d", 4, 0.99, 1000, 1.0),
            entry("e", 5, 0.80, 300, 1.0), // dominated by a, b, c
        ];
        let cfg = RankingConfig {
            rule: RankingRule::Pareto {
                metric: Metric::RocAuc,
                cost: CostExpr::Lut,
                tie_breaks: vec![],
            },
            over_budget: OverBudget::RankLast,
        };
        let board = rank(&entries, &cfg, None).expect("rank");
        let got: Vec<(&str, usize)> = board
            .ranked
            .iter()
            .map(|r| (r.id.as_str(), r.rank))
            .collect();
        assert_eq!(got, vec![("d", 1), ("b", 1), ("a", 1), ("c", 2), ("e", 3)]);
        let front = entries_pareto_front(&entries, &Metric::RocAuc, &CostExpr::Lut, None);
        let front_ids: Vec<&str> = front.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(front_ids, vec!["a", "b", "d"]);
        // Over budget fronts come after.
        let budget = Budget {
            max_lut: Some(500),
            ..Default::default()
        };
        let board = rank(&entries, &cfg, Some(&budget)).expect("rank");
        let got: Vec<(&str, usize)> = board
            .ranked
            .iter()
            .map(|r| (r.id.as_str(), r.rank))
            .collect();
        assert_eq!(got, vec![("b", 1), ("a", 1), ("c", 2), ("e", 3), ("d", 4)]);
    }

    #[test]
    fn pareto_matches_brute_force_peeling() {
        // Deterministic pseudo-random points with many ties.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200 {
            let n = (next() % 40) as usize + 1;
            let pts: Vec<(f64, f64)> = (0..n)
                .map(|_| ((next() % 6) as f64, (next() % 6) as f64))
                .collect();
            let higher = round % 2 == 0;
            let fast = fronts_of(&pts, higher);
            // Brute force: peel non-dominated sets.
            let oriented: Vec<(f64, f64)> = pts
                .iter()
                .map(|&(s, c)| (if higher { s } else { -s }, c))
                .collect();
            let mut slow = vec![0usize; n];
            let mut remaining: Vec<usize> = (0..n).collect();
            let mut k = 0;
            while !remaining.is_empty() {
                k += 1;
                let front: Vec<usize> = remaining
                    .iter()
                    .copied()
                    .filter(|&i| {
                        !remaining
                            .iter()
                            .any(|&j| dominates(oriented[j], oriented[i]))
                    })
                    .collect();
                for &i in &front {
                    slow[i] = k;
                }
                remaining.retain(|i| !front.contains(i));
            }
            assert_eq!(fast, slow, "points {pts:?} higher={higher}");
        }
    }

    #[test]
    fn weighted_min_max() {
        let entries = vec![
            entry("a", 1, 0.9, 100, 100.0),
            entry("b", 2, 0.8, 100, 10.0),
            entry("c", 3, 0.7, 100, 55.0),
        ];
        let cfg = RankingConfig {
            rule: RankingRule::Weighted {
                terms: vec![
                    WeightedTerm {
                        quantity: Quantity::Metric(Metric::RocAuc),
                        direction: None,
                        weight: 0.5,
                        normalization: Normalization::MinMax,
                    },
                    WeightedTerm {
                        quantity: Quantity::Hardware(HardwareField::LatencyNs),
                        direction: None,
                        weight: 0.5,
                        normalization: Normalization::MinMax,
                    },
                ],
                tie_breaks: vec![],
            },
            over_budget: OverBudget::RankLast,
        };
        let board = rank(&entries, &cfg, None).expect("rank");
        // a: 0.5*1 + 0.5*0 = 0.5; b: 0.5*0.5 + 0.5*1 = 0.75; c: 0 + 0.5*0.5 = 0.25.
        assert_eq!(ids(&board), vec!["b", "a", "c"]);
        assert!((board.ranked[0].score - 0.75).abs() < 1e-12);
        let bad = RankingConfig {
            rule: RankingRule::Weighted {
                terms: vec![],
                tie_breaks: vec![],
            },
            over_budget: OverBudget::RankLast,
        };
        assert!(rank(&entries, &bad, None).is_err());
    }

    #[test]
    fn normalizations() {
        assert_eq!(
            normalize(5.0, Direction::Higher, Normalization::MinMax, 5.0, 5.0),
            1.0
        );
        let fixed = Normalization::Fixed {
            min: 0.0,
            max: 100.0,
        };
        assert_eq!(normalize(150.0, Direction::Lower, fixed, 0.0, 0.0), 0.0);
        assert_eq!(normalize(25.0, Direction::Lower, fixed, 0.0, 0.0), 0.75);
        assert_eq!(
            normalize(2.0, Direction::Lower, Normalization::Raw, 0.0, 0.0),
            -2.0
        );
    }

    #[test]
    fn cost_expressions() {
        let hw = HardwareFigures {
            lut: Some(1000),
            dsp: Some(2),
            latency_ns: Some(10.0),
            ..Default::default()
        };
        assert_eq!(CostExpr::LutEquivalent.eval(&hw), Some(1110.0));
        assert_eq!(CostExpr::AreaLatency.eval(&hw), Some(11100.0));
        assert_eq!(CostExpr::Ff.eval(&hw), None);
        let lin = CostExpr::Linear(LinearCost {
            lut: 1.0,
            dsp: 100.0,
            ..Default::default()
        });
        assert_eq!(lin.eval(&hw), Some(1200.0));
    }

    #[test]
    fn config_serde_shapes() {
        let json = r#"{
            "rule": "primary",
            "metric": "tnr_at_tpr:0.9",
            "tie_breaks": [
                {"hardware": "latency_ns"},
                {"metric": "roc_auc", "direction": "higher"}
            ]
        }"#;
        let cfg: RankingConfig = serde_json::from_str(json).expect("primary");
        assert_eq!(cfg.over_budget, OverBudget::RankLast);
        match &cfg.rule {
            RankingRule::Primary { metric, tie_breaks } => {
                assert_eq!(*metric, Metric::TnrAtTpr { tpr: 0.9 });
                assert_eq!(tie_breaks.len(), 2);
                assert_eq!(tie_breaks[0].direction(), Direction::Lower);
            }
            other => panic!("unexpected {other:?}"),
        }
        let back: RankingConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).expect("ser")).expect("de");
        assert_eq!(back, cfg);

        let json = r#"{"rule": "pareto", "metric": "roc_auc", "cost": {"linear": {"lut": 1, "dsp": 55}},
                       "over_budget": "exclude"}"#;
        let cfg: RankingConfig = serde_json::from_str(json).expect("pareto");
        assert_eq!(cfg.over_budget, OverBudget::Exclude);
        let json = r#"{"rule": "pareto", "metric": "roc_auc", "cost": "lut_equivalent"}"#;
        let cfg: RankingConfig = serde_json::from_str(json).expect("pareto named");
        assert!(matches!(
            cfg.rule,
            RankingRule::Pareto {
                cost: CostExpr::LutEquivalent,
                ..
            }
        ));
        let json = r#"{"rule": "weighted", "terms": [
            {"metric": "roc_auc", "weight": 0.7},
            {"hardware": "lut", "weight": 0.3, "normalization": {"fixed": {"min": 0, "max": 50000}}}
        ]}"#;
        let cfg: RankingConfig = serde_json::from_str(json).expect("weighted");
        let back: RankingConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).expect("ser")).expect("de");
        assert_eq!(back, cfg);
        assert!(serde_json::from_str::<RankingConfig>(r#"{"rule": "best"}"#).is_err());
    }

    #[test]
    fn entry_metric_lookup_accepts_other_spellings() {
        let e = Entry {
            id: "x".into(),
            submitted_at: 0,
            metrics: BTreeMap::from([
                ("tpr_at_fpr:1e-4".to_string(), 0.5),
                ("f1".into(), f64::NAN),
            ]),
            hardware: HardwareFigures::default(),
        };
        assert_eq!(e.metric(&Metric::TprAtFpr { fpr: 1e-4 }), Some(0.5));
        assert_eq!(e.metric(&Metric::F1 { threshold: None }), None);
    }
}
