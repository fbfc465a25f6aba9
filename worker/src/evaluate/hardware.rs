//! Hardware figures of a compiled model for the challenge's target: the
//! analytical estimate (milliseconds, every submission), priced from the same
//! generated design as the RTL bundle users download. The report records the
//! tier of each figure.

use challenges::Target;
use scoring::HardwareFigures;

use super::result::{HardwareReport, ReportDevice, Tier, Utilization};

pub struct Hardware {
    pub figures: HardwareFigures,
    /// The hardware report, with the tier of its figures.
    pub report: HardwareReport,
    /// The RTL bundle, or why there is none (a model too large for a netlist).
    pub bundle: Result<Bundle, String>,
}

/// Generate and estimate the design on the target, and bundle its RTL (a tar,
/// under the directory `root`, of what `arena rtl` writes: Verilog, testbench,
/// Vivado script, constraints, report). A model too large for a netlist gets
/// the per-layer formula and no bundle. A model the estimator cannot price is
/// a fault of the submission (reported with the reason).
pub fn figures(
    model: &toolflow::CompiledModel,
    target: &Target,
    synthesize: bool,
    root: &str,
    log: &mut dyn FnMut(&str),
) -> Result<Hardware, String> {
    use toolflow::hw::report::{FlowOptions, flow};
    let device = toolflow::hw::devices::device(&target.part).map_err(|e| e.to_string())?;
    let opts = FlowOptions {
        clock_ns: target.clock_ns,
        ..Default::default()
    };
    // Without co-simulation or synthesis the flow writes nothing to its work
    // directory.
    let (estimate, bundle) = match flow(model, root, device, &opts, std::path::Path::new(root)) {
        Ok(out) => (out.report.estimate.clone(), bundle(&out, root)),
        Err(e @ toolflow::Error::Limit(_)) => {
            let formula = toolflow::hw::estimate::estimate(model, device, target.clock_ns)
                .map_err(|e| format!("hardware estimate: {e}"))?;
            (formula, Err(e.to_string()))
        }
        Err(e) => return Err(format!("hardware estimate: {e}")),
    };
    log(&format!(
        "estimate ({} ms, {}): {} LUT, {} FF, {} DSP, {} BRAM36, {} cycles = {:.1} ns, II {}",
        estimate.elapsed_ms.round(),
        estimate.method,
        estimate.lut + estimate.srl,
        estimate.ff,
        estimate.dsp,
        estimate.bram36,
        estimate.latency_cycles,
        estimate.latency_ns,
        estimate.ii
    ));
    if synthesize {
        log("synthesis on request is not run by workers yet; the estimate tier is reported");
    }
    let figures = HardwareFigures {
        latency_ns: Some(estimate.latency_ns),
        latency_cycles: Some(u64::from(estimate.latency_cycles)),
        ii: Some(u64::from(estimate.ii)),
        lut: Some(estimate.lut + estimate.srl),
        ff: Some(estimate.ff),
        dsp: Some(estimate.dsp),
        bram: Some(estimate.bram36),
    };
    let pct = |used: f64, total: u64| (total > 0).then(|| 100.0 * used / total as f64);
    let lut = estimate.lut + estimate.srl;
    let report = HardwareReport {
        tier: Tier::Estimate,
        device: ReportDevice {
            name: device.name.to_owned(),
            part: device.part.to_owned(),
            lut: device.lut,
            ff: device.ff,
            dsp: device.dsp,
            bram36: device.bram36,
        },
        clock_ns: target.clock_ns,
        utilization_pct: Utilization {
            lut: pct(lut as f64, device.lut),
            ff: pct(estimate.ff as f64, device.ff),
            dsp: pct(estimate.dsp as f64, device.dsp),
            bram36: pct(estimate.bram36, device.bram36),
        },
        fits_device: lut <= device.lut
            && estimate.ff <= device.ff
            && estimate.dsp <= device.dsp
            && estimate.bram36 <= device.bram36 as f64,
        estimate,
    };
    Ok(Hardware {
        figures,
        bundle,
        report,
    })
}

fn bundle(out: &toolflow::hw::report::FlowOutput, root: &str) -> Result<Bundle, String> {
    let files: Vec<(String, Vec<u8>)> = out
        .files()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(name, text)| (name, text.into_bytes()))
        .collect();
    Ok(Bundle {
        names: files.iter().map(|(n, _)| n.clone()).collect(),
        tar: super::tar::archive(root, &files)?,
    })
}

pub struct Bundle {
    pub names: Vec<String>,
    pub tar: Vec<u8>,
}
