//! Hardware figures of merit, device utilization and budgets.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScoringError};
use crate::numeric::format_thousands;

/// What the toolflow measured or estimated for one design. Every figure is
/// optional: a tier that did not produce it leaves it out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HardwareFigures {
    /// End-to-end latency in nanoseconds.
    #[serde(default)]
    pub latency_ns: Option<f64>,
    /// End-to-end latency in clock cycles.
    #[serde(default)]
    pub latency_cycles: Option<u64>,
    /// Initiation interval in clock cycles (1 = a new input every cycle).
    #[serde(default)]
    pub ii: Option<u64>,
    /// Look-up tables.
    #[serde(default)]
    pub lut: Option<u64>,
    /// Flip-flops.
    #[serde(default)]
    pub ff: Option<u64>,
    /// DSP slices.
    #[serde(default)]
    pub dsp: Option<u64>,
    /// Block RAM in BRAM36 units (a BRAM18 counts 0.5).
    #[serde(default)]
    pub bram: Option<f64>,
}

/// One hardware figure, for budgets, tie-breaks and cost expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HardwareField {
    /// [`HardwareFigures::latency_ns`].
    LatencyNs,
    /// [`HardwareFigures::latency_cycles`].
    LatencyCycles,
    /// [`HardwareFigures::ii`].
    Ii,
    /// [`HardwareFigures::lut`].
    Lut,
    /// [`HardwareFigures::ff`].
    Ff,
    /// [`HardwareFigures::dsp`].
    Dsp,
    /// [`HardwareFigures::bram`].
    Bram,
}

impl HardwareField {
    /// All fields, in display order.
    pub const ALL: [HardwareField; 7] = [
        HardwareField::LatencyNs,
        HardwareField::LatencyCycles,
        HardwareField::Ii,
        HardwareField::Lut,
        HardwareField::Ff,
        HardwareField::Dsp,
        HardwareField::Bram,
    ];

    /// The figure's value as `f64`, if present.
    pub fn get(self, hw: &HardwareFigures) -> Option<f64> {
        match self {
            HardwareField::LatencyNs => hw.latency_ns,
            HardwareField::LatencyCycles => hw.latency_cycles.map(|v| v as f64),
            HardwareField::Ii => hw.ii.map(|v| v as f64),
            HardwareField::Lut => hw.lut.map(|v| v as f64),
            HardwareField::Ff => hw.ff.map(|v| v as f64),
            HardwareField::Dsp => hw.dsp.map(|v| v as f64),
            HardwareField::Bram => hw.bram,
        }
    }

    /// Human-readable name ("LUT", "latency").
    pub fn label(self) -> &'static str {
        match self {
            HardwareField::LatencyNs => "latency",
            HardwareField::LatencyCycles => "latency",
            HardwareField::Ii => "II",
            HardwareField::Lut => "LUT",
            HardwareField::Ff => "FF",
            HardwareField::Dsp => "DSP",
            HardwareField::Bram => "BRAM",
        }
    }

    /// Unit suffix for messages ("ns", "cycles" or nothing).
    pub fn unit(self) -> &'static str {
        match self {
            HardwareField::LatencyNs => " ns",
            HardwareField::LatencyCycles => " cycles",
            _ => "",
        }
    }

    /// Name as written in configuration (`latency_ns`, `lut`, ...).
    pub fn key(self) -> &'static str {
        match self {
            HardwareField::LatencyNs => "latency_ns",
            HardwareField::LatencyCycles => "latency_cycles",
            HardwareField::Ii => "ii",
            HardwareField::Lut => "lut",
            HardwareField::Ff => "ff",
            HardwareField::Dsp => "dsp",
            HardwareField::Bram => "bram",
        }
    }
}

impl fmt::Display for HardwareField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Resources available on a target device. Used to express figures as a
/// percentage of the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Part name, e.g. `xc7a100t`.
    #[serde(default)]
    pub name: Option<String>,
    /// Look-up tables available.
    pub lut: u64,
    /// Flip-flops available.
    pub ff: u64,
    /// DSP slices available.
    pub dsp: u64,
    /// BRAM36 blocks available.
    pub bram36: u64,
}

/// Figures as percentages of a device (0–100, above 100 when it does not fit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    /// LUT use in percent of the device.
    pub lut_pct: Option<f64>,
    /// FF use in percent of the device.
    pub ff_pct: Option<f64>,
    /// DSP use in percent of the device.
    pub dsp_pct: Option<f64>,
    /// BRAM use in percent of the device's BRAM36 blocks.
    pub bram_pct: Option<f64>,
}

impl Utilization {
    /// The largest percentage present (the binding resource), if any.
    pub fn max_pct(&self) -> Option<f64> {
        [self.lut_pct, self.ff_pct, self.dsp_pct, self.bram_pct]
            .into_iter()
            .flatten()
            .max_by(f64::total_cmp)
    }
}

impl Device {
    /// Percent of each resource used: `100 * used / available`. A figure
    /// absent from `hw` is absent from the result.
    ///
    /// Errors: the device has zero of a resource that `hw` uses a figure for
    /// (the percentage would be undefined).
    pub fn utilization(&self, hw: &HardwareFigures) -> Result<Utilization> {
        let pct = |what: &str, used: Option<f64>, avail: u64| -> Result<Option<f64>> {
            match used {
                None => Ok(None),
                Some(_) if avail == 0 => Err(ScoringError::InvalidConfig(format!(
                    "device {} has no {what}; cannot express use as a percentage",
                    self.name.as_deref().unwrap_or("(unnamed)")
                ))),
                Some(u) => Ok(Some(100.0 * u / avail as f64)),
            }
        };
        Ok(Utilization {
            lut_pct: pct("LUT", HardwareField::Lut.get(hw), self.lut)?,
            ff_pct: pct("FF", HardwareField::Ff.get(hw), self.ff)?,
            dsp_pct: pct("DSP", HardwareField::Dsp.get(hw), self.dsp)?,
            bram_pct: pct("BRAM", HardwareField::Bram.get(hw), self.bram36)?,
        })
    }
}

/// A challenge's hardware budget. Each limit is optional and inclusive (a
/// design at exactly the limit fits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Maximum latency in nanoseconds.
    #[serde(default)]
    pub max_latency_ns: Option<f64>,
    /// Maximum look-up tables.
    #[serde(default)]
    pub max_lut: Option<u64>,
    /// Maximum flip-flops.
    #[serde(default)]
    pub max_ff: Option<u64>,
    /// Maximum DSP slices.
    #[serde(default)]
    pub max_dsp: Option<u64>,
    /// Maximum BRAM36 blocks.
    #[serde(default)]
    pub max_bram: Option<f64>,
    /// Maximum initiation interval in cycles.
    #[serde(default)]
    pub max_ii: Option<u64>,
}

/// One exceeded (or unverifiable) budget line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Which figure.
    pub field: HardwareField,
    /// The design's value; `None` when the figure was not reported.
    pub value: Option<f64>,
    /// The budget.
    pub limit: f64,
    /// Human-readable form, e.g. `"LUT 120,311 > budget 100,000"`.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Budget {
    /// The limits that are set, as (field, limit).
    pub fn limits(&self) -> Vec<(HardwareField, f64)> {
        [
            (HardwareField::LatencyNs, self.max_latency_ns),
            (HardwareField::Lut, self.max_lut.map(|v| v as f64)),
            (HardwareField::Ff, self.max_ff.map(|v| v as f64)),
            (HardwareField::Dsp, self.max_dsp.map(|v| v as f64)),
            (HardwareField::Bram, self.max_bram),
            (HardwareField::Ii, self.max_ii.map(|v| v as f64)),
        ]
        .into_iter()
        .filter_map(|(f, l)| l.map(|l| (f, l)))
        .collect()
    }

    /// Every budget the design breaks. A figure that has a budget but was not
    /// reported counts as a violation (fitting cannot be shown), with the
    /// message `"LUT not reported (budget 100,000)"`. Empty = fits.
    pub fn violations(&self, hw: &HardwareFigures) -> Vec<Violation> {
        self.limits()
            .into_iter()
            .filter_map(|(field, limit)| {
                let unit = field.unit();
                let label = field.label();
                let limit_text = format_thousands(limit);
                match field.get(hw) {
                    None => Some(Violation {
                        field,
                        value: None,
                        limit,
                        message: format!("{label} not reported (budget {limit_text}{unit})"),
                    }),
                    Some(v) if v.is_nan() || v > limit => Some(Violation {
                        field,
                        value: Some(v),
                        limit,
                        message: format!(
                            "{label} {}{unit} > budget {limit_text}{unit}",
                            format_thousands(v)
                        ),
                    }),
                    Some(_) => None,
                }
            })
            .collect()
    }

    /// True when the design meets every budget.
    pub fn fits(&self, hw: &HardwareFigures) -> bool {
        self.violations(hw).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_readable() {
        let budget = Budget {
            max_lut: Some(100_000),
            max_latency_ns: Some(100.0),
            max_dsp: Some(240),
            max_ii: Some(1),
            ..Default::default()
        };
        let hw = HardwareFigures {
            lut: Some(120_311),
            latency_ns: Some(100.0),
            dsp: Some(12),
            ..Default::default()
        };
        let v: Vec<String> = budget
            .violations(&hw)
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(
            v,
            vec![
                "LUT 120,311 > budget 100,000".to_string(),
                "II not reported (budget 1)".to_string()
            ]
        );
        assert!(!budget.fits(&hw));
        let ok = HardwareFigures {
            ii: Some(1),
            lut: Some(100_000),
            ..hw
        };
        assert!(budget.fits(&ok));
        let slow = HardwareFigures {
            latency_ns: Some(1250.5),
            ..ok
        };
        assert_eq!(
            budget.violations(&slow)[0].message,
            "latency 1,250.5 ns > budget 100 ns"
        );
        assert!(Budget::default().fits(&HardwareFigures::default()));
    }

    #[test]
    fn utilization_percent() {
        let dev = Device {
            name: Some("xc7a100t".into()),
            lut: 63_400,
            ff: 126_800,
            dsp: 240,
            bram36: 135,
        };
        let hw = HardwareFigures {
            lut: Some(6_340),
            dsp: Some(240),
            bram: Some(13.5),
            ..Default::default()
        };
        let u = dev.utilization(&hw).expect("util");
        assert_eq!(u.lut_pct, Some(10.0));
        assert_eq!(u.dsp_pct, Some(100.0));
        assert_eq!(u.bram_pct, Some(10.0));
        assert_eq!(u.ff_pct, None);
        assert_eq!(u.max_pct(), Some(100.0));
        let no_dsp = Device { dsp: 0, ..dev };
        assert!(no_dsp.utilization(&hw).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let b = Budget {
            max_latency_ns: Some(100.0),
            max_lut: Some(50_000),
            ..Default::default()
        };
        let json = serde_json::to_string(&b).expect("json");
        let back: Budget = serde_json::from_str(&json).expect("back");
        assert_eq!(back, b);
        let partial: Budget = serde_json::from_str(r#"{"max_dsp": 10}"#).expect("partial");
        assert_eq!(partial.max_dsp, Some(10));
        let field: HardwareField = serde_json::from_str("\"latency_ns\"").expect("field");
        assert_eq!(field, HardwareField::LatencyNs);
    }
}
