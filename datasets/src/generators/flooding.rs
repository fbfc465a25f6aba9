//! `coastal-flooding`: daily sea-level-anomaly patches around 12 coastal stations; anomalies
//! are flooding days (polar science).
//!
//! Per station: a seasonal cycle, a sea-level trend (reported relative to the mean of the
//! current 19-year tidal datum epoch), spatially correlated AR(1) weather noise and storm
//! surges (regional events with a Gaussian footprint along the coast and exponential decay
//! over days). A station floods when its daily high water (daily-mean level plus a
//! spring-neap modulated tide) exceeds a station threshold. Features are the daily-mean
//! anomalies of the 12 stations over the 7 days ending on the target day.

use std::f64::consts::TAU;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Int64Array};
use arrow::record_batch::RecordBatch;
use rand::Rng;

use super::{
    GeneratedDataset, arena_creator, fsl_bool, fsl_f32, normal, row_rng, split_ranges,
    splits_markdown, synthetic_rai,
};
use crate::error::Result;
use crate::model::{DatasetMeta, Dtype, FeatureSpec, Role, arrow_schema};

pub const NAME: &str = "coastal-flooding";
pub const STATIONS: usize = 12;
pub const DAYS: usize = 7;
/// 2000-01-01 as days since 1970-01-01: the first simulated day.
pub const START_DAY: i32 = 10_957;
const YEAR_DAYS: f64 = 365.25;
const SPRING_NEAP_DAYS: f64 = 14.765;
const EPOCH_YEARS: f64 = 19.0;
const AR_RHO: f64 = 0.8;
const AR_SIGMA_MM: f64 = 25.0;
const STORM_RATE: f64 = 1.0 / 20.0;
const STORM_MEAN_MM: f64 = 300.0;
const SURGE_DAYS: usize = 8;

struct Station {
    seasonal_mm: f64,
    phase: f64,
    trend_mm_per_year: f64,
    high_water_mm: f64,
    tide_phase: f64,
    threshold_mm: f64,
}

fn stations(seed: u64) -> Vec<Station> {
    let mut rng = row_rng(seed, u64::MAX);
    let base_phase = rng.gen_range(0.0..TAU);
    let tide_phase = rng.gen_range(0.0..TAU);
    (0..STATIONS)
        .map(|_| {
            let high_water_mm = rng.gen_range(400.0..900.0);
            Station {
                seasonal_mm: rng.gen_range(60.0..120.0),
                phase: base_phase + rng.gen_range(-0.3..0.3),
                trend_mm_per_year: rng.gen_range(1.5..4.5),
                high_water_mm,
                tide_phase: tide_phase + rng.gen_range(-0.5..0.5),
                threshold_mm: 1.25 * high_water_mm + 250.0,
            }
        })
        .collect()
}

/// Daily-mean anomalies (mm, day-major: [day][station]) and flood flags for `days` days.
fn simulate(seed: u64, days: usize) -> (Vec<f32>, Vec<bool>) {
    let st = stations(seed);
    let mut rng = row_rng(seed, 0);
    let mut sla = vec![0f32; days * STATIONS];
    let mut floods = vec![false; days * STATIONS];
    let mut ar = [0f64; STATIONS];
    let mut surge = [[0f64; STATIONS]; SURGE_DAYS];
    for d in 0..days {
        // Schedule a storm starting today.
        if rng.r#gen::<f64>() < STORM_RATE {
            let centre = rng.gen_range(0.0..STATIONS as f64);
            let peak = -STORM_MEAN_MM * (1.0 - rng.r#gen::<f64>()).ln();
            let width = rng.gen_range(1.5..4.0);
            let decay = rng.gen_range(0.7..2.0);
            for (k, day) in surge.iter_mut().enumerate() {
                for (s, v) in day.iter_mut().enumerate() {
                    let ds = (s as f64 - centre) / width;
                    *v += peak * (-0.5 * ds * ds).exp() * (-(k as f64) / decay).exp();
                }
            }
        }
        let common = normal(&mut rng);
        let years = d as f64 / YEAR_DAYS;
        let epoch_years = years % EPOCH_YEARS - EPOCH_YEARS / 2.0;
        let today = surge[0];
        for (s, station) in st.iter().enumerate() {
            let e = 0.6 * common + 0.8 * normal(&mut rng);
            ar[s] = AR_RHO * ar[s] + AR_SIGMA_MM * e;
            let seasonal = station.seasonal_mm * (TAU * years + station.phase).sin();
            let trend = station.trend_mm_per_year * epoch_years;
            let level = seasonal + trend + ar[s] + today[s];
            let tide = station.high_water_mm
                * (1.0 + 0.25 * (TAU * d as f64 / SPRING_NEAP_DAYS + station.tide_phase).cos())
                + 30.0 * normal(&mut rng);
            sla[d * STATIONS + s] = level as f32;
            floods[d * STATIONS + s] = level + tide > station.threshold_mm;
        }
        surge.rotate_left(1);
        surge[SURGE_DAYS - 1] = [0.0; STATIONS];
    }
    (sla, floods)
}

pub fn features() -> Vec<FeatureSpec> {
    vec![
        FeatureSpec::scalar(
            "id",
            Dtype::Int64,
            Role::Id,
            "Row identifier (0-based row number across all splits).",
        ),
        FeatureSpec::scalar("date", Dtype::Date, Role::Feature, "Target day."),
        FeatureSpec::tensor(
            "x",
            Dtype::Float32,
            &[STATIONS, DAYS],
            Role::Feature,
            "Daily-mean sea-level anomaly (m) at 12 stations (station-major) over the 7 days ending on the target day (oldest first).",
        ),
        FeatureSpec::tensor(
            "floods",
            Dtype::Bool,
            &[STATIONS],
            Role::Label,
            "Per station: daily high water exceeds the flood threshold on the target day.",
        ),
        FeatureSpec::scalar(
            "is_anomaly",
            Dtype::Bool,
            Role::Label,
            "True when any station floods on the target day.",
        ),
    ]
}

pub fn meta() -> DatasetMeta {
    DatasetMeta {
        slug: NAME.to_string(),
        title: "Coastal flooding days at 12 stations (synthetic)".to_string(),
        description: "Daily sea-level-anomaly patches (12 coastal stations x 7 days) with seasonal cycle, trend, \
            correlated weather noise and storm surges; a day is anomalous when at least one station floods. \
            Splits are chronological."
            .to_string(),
        keywords: vec![
            "anomaly detection".into(),
            "sea level".into(),
            "coastal flooding".into(),
            "polar science".into(),
            "FPGA".into(),
        ],
        domain: "polar science".to_string(),
        licence: "CC-BY-4.0".to_string(),
        creators: vec![arena_creator()],
        doi: None,
        publisher: "FastML Arena".to_string(),
        rai: synthetic_rai(
            "Synthetic: sea levels simulated by the stochastic model in the data card; no tide-gauge records are used.",
            &["Stations on a line with identical statistics up to random parameters; real coasts differ in exposure, tides and land motion."],
            &["Daily means only; the tide is a spring-neap modulated high-water level, not a harmonic tidal prediction; storms are schematic."],
            &["Benchmarking low-latency detectors of flood days and per-station flood classifiers."],
        ),
    }
}

pub fn generate(rows: usize, seed: u64) -> Result<GeneratedDataset> {
    let total_days = rows + DAYS - 1;
    let (sla, flood_days) = simulate(seed, total_days);
    let features = features();
    let schema = arrow_schema(&features);
    let mut splits = Vec::new();
    for (name, range) in split_ranges(rows) {
        let n = range.len();
        let mut xs = Vec::with_capacity(n * STATIONS * DAYS);
        let mut floods = Vec::with_capacity(n * STATIONS);
        let mut any = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut dates = Vec::with_capacity(n);
        for id in range {
            let target = id + DAYS - 1;
            for s in 0..STATIONS {
                for j in 0..DAYS {
                    let day = target + 1 + j - DAYS;
                    xs.push(sla[day * STATIONS + s] / 1000.0);
                }
            }
            let today = &flood_days[target * STATIONS..(target + 1) * STATIONS];
            floods.extend_from_slice(today);
            any.push(today.iter().any(|f| *f));
            ids.push(id as i64);
            dates.push(START_DAY + target as i32);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Date32Array::from(dates)),
            fsl_f32(xs, STATIONS * DAYS)?,
            fsl_bool(floods, STATIONS)?,
            Arc::new(BooleanArray::from(any)),
        ];
        splits.push((name, RecordBatch::try_new(schema.clone(), columns)?));
    }
    Ok(GeneratedDataset {
        meta: meta(),
        features,
        splits,
        data_card: data_card(rows, seed),
        rows,
        seed,
    })
}

fn data_card(rows: usize, seed: u64) -> String {
    format!(
        r#"# coastal-flooding: coastal flooding days at 12 stations (synthetic)

Generated by FastML Arena's `coastal-flooding` generator with seed {seed} and {rows} rows.
Licence: CC-BY-4.0.

## Generative model

Daily simulation from 2000-01-01 for {rows} + 6 days at 12 stations along a coastline
(station index = position along the coast).

- Seasonal cycle: amplitude uniform in [60, 120] mm per station, phases close to a shared
  regional phase.
- Trend: uniform in [1.5, 4.5] mm/yr per station, reported relative to the mean of the
  current 19-year tidal datum epoch (so the trend appears as a bounded sawtooth).
- Weather noise: AR(1) with coefficient 0.8 and innovation 25 mm, correlated between
  stations (shared component weight 0.6, local 0.8).
- Storm surges: a storm starts on a day with probability 1/20; its peak is exponential
  with mean 300 mm, its footprint Gaussian along the coast (width 1.5-4 stations) around
  a random centre, and it decays exponentially over 0.7-2 days.
- Flooding: daily high water = daily-mean anomaly + H (1 + 0.25 cos(2 pi t / 14.765 d))
  + N(0, 30 mm), with mean high water H uniform in [400, 900] mm per station; a station
  floods when it exceeds 1.25 H + 250 mm.
- Columns: `id` (int64), `date` (target day), `x` = FixedSizeList<Float32>[84] with shape
  [12, 7] (station-major; the 7 daily-mean anomalies in metres ending on the target day,
  oldest first), `floods` = FixedSizeList<Boolean>[12] (label: station floods on the
  target day) and `is_anomaly` (label: any station floods).

## Splits

Rows are split 60/10/15/15 chronologically by row number (ids are row numbers, so splits
are disjoint by id; the 7-day windows of the first rows of a split overlap the last days
of the previous split).

{splits}
## Intended use

Benchmarking low-latency flood-day detectors and per-station flood classifiers for
coastal early warning, e.g. on edge hardware.

## Limitations

Stations are idealised and share one model; there are no harmonic tides, no sea ice,
no land motion and no missing data. Flood days depend on the hidden daily tide, so they
are not a deterministic function of the features.
"#,
        splits = splits_markdown(rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SplitName;

    #[test]
    fn flood_rate_reasonable_and_windows_consistent() {
        let d = generate(5000, 5).expect("generate");
        let mut any = 0usize;
        let mut total = 0usize;
        for (_, b) in &d.splits {
            let a = b
                .column(4)
                .as_any()
                .downcast_ref::<BooleanArray>()
                .expect("bool");
            any += a.true_count();
            total += a.len();
        }
        let rate = any as f64 / total as f64;
        assert!((0.01..0.25).contains(&rate), "flood-day rate {rate}");
        // Row r+1's window is row r's window shifted by one day.
        let train = d.split(SplitName::Train).expect("train");
        let x = train
            .column(2)
            .as_any()
            .downcast_ref::<arrow::array::FixedSizeListArray>()
            .expect("fsl");
        let r0 = x.value(0);
        let r1 = x.value(1);
        let v0 = r0
            .as_any()
            .downcast_ref::<arrow::array::Float32Array>()
            .expect("f32");
        let v1 = r1
            .as_any()
            .downcast_ref::<arrow::array::Float32Array>()
            .expect("f32");
        for s in 0..STATIONS {
            for j in 1..DAYS {
                assert_eq!(v0.value(s * DAYS + j), v1.value(s * DAYS + j - 1));
            }
        }
    }
}
