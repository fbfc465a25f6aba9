//! `gw-anomaly`: two-detector gravitational-wave strain windows (astrophysics).
//!
//! Each row is a 200-sample window at 4096 Hz from two detectors. Noise is drawn in the
//! frequency domain (256-point frames) as Gaussian noise coloured by an analytic
//! aLIGO-like design PSD (Ajith 2011 zero-detuned high-power fit), then whitened by dividing
//! by sqrt(PSD) and band-limited to 20-1800 Hz, and scaled so that the whitened noise has
//! unit variance per sample. Anomalies are injected binary-black-hole chirps (Newtonian
//! frequency sweep f ~ tau^-3/8 and amplitude ~ f^2/3 up to the ISCO frequency, then a
//! short damped ringdown) and sine-Gaussian bursts, projected onto the second detector
//! with a time delay of up to 10 ms and an amplitude ratio, whitened with the same filter,
//! and scaled to a network SNR drawn uniformly from [4, 20].

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float32Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use rand::Rng;

use super::fft::{Complex, Fft};
use super::{
    GeneratedDataset, arena_creator, fsl_f32, normal_pair, row_rng, split_ranges, splits_markdown,
    synthetic_rai,
};
use crate::error::{DatasetError, Result};
use crate::model::{DatasetMeta, Dtype, FeatureSpec, Role, SplitName, arrow_schema};

pub const NAME: &str = "gw-anomaly";
pub const SAMPLE_RATE: f64 = 4096.0;
pub const WINDOW: usize = 200;
pub const DETECTORS: usize = 2;
const FRAME: usize = 256;
const F_LOW: f64 = 20.0;
const F_HIGH: f64 = 1800.0;
/// Fraction of anomalous rows in validation and test splits (half chirps, half bursts).
pub const ANOMALY_FRACTION: f64 = 0.3;
pub const SNR_RANGE: (f64, f64) = (4.0, 20.0);
const MAX_DELAY_S: f64 = 0.010;
const SOLAR_MASS_S: f64 = 4.925_491e-6;

/// One-sided aLIGO-like design PSD (1/Hz), analytic fit; floored below 10 Hz.
pub fn aligo_psd(f: f64) -> f64 {
    let x = f.max(10.0) / 215.0;
    let x2 = x * x;
    1e-49 * (x.powf(-4.14) - 5.0 / x2 + 111.0 * (1.0 - x2 + 0.5 * x2 * x2) / (1.0 + 0.5 * x2))
}

/// Frequency-domain filter shared by noise and injections.
struct Whitener {
    fft: Fft,
    /// sqrt(PSD) per positive-frequency bin (index 0..=FRAME/2).
    asd: Vec<f64>,
    /// Bin kept by the band-pass.
    keep: Vec<bool>,
    /// Standard deviation of each real/imaginary noise component giving unit variance.
    sigma: f64,
}

impl Whitener {
    fn new() -> Result<Self> {
        let fft =
            Fft::new(FRAME).ok_or_else(|| DatasetError::InvalidArgument("FFT size".into()))?;
        let df = SAMPLE_RATE / FRAME as f64;
        let asd: Vec<f64> = (0..=FRAME / 2)
            .map(|k| aligo_psd(k as f64 * df).sqrt())
            .collect();
        let keep: Vec<bool> = (0..=FRAME / 2)
            .map(|k| {
                let f = k as f64 * df;
                (F_LOW..=F_HIGH).contains(&f) && k != 0 && k != FRAME / 2
            })
            .collect();
        let kept = keep.iter().filter(|k| **k).count().max(1) as f64;
        // Var(x_t) = (1/N^2) * sum_k E|X_k|^2 = (1/N^2) * 2 * kept * 2 sigma^2 = 1
        let n = FRAME as f64;
        let sigma = (n * n / (4.0 * kept)).sqrt();
        Ok(Whitener {
            fft,
            asd,
            keep,
            sigma,
        })
    }

    /// Whitened, band-limited noise for two detectors (frame of FRAME samples each).
    fn noise(&self, rng: &mut impl Rng, out: &mut [Complex]) {
        out.fill(Complex::ZERO);
        for k in 1..FRAME / 2 {
            if !self.keep[k] {
                continue;
            }
            // Coloured strain spectrum for each detector, then whitened by 1/sqrt(PSD).
            let (a_re, a_im) = normal_pair(rng);
            let (b_re, b_im) = normal_pair(rng);
            let a = Complex::new(a_re, a_im).scale(self.sigma * self.asd[k]);
            let b = Complex::new(b_re, b_im).scale(self.sigma * self.asd[k]);
            let wa = a.scale(1.0 / self.asd[k]);
            let wb = b.scale(1.0 / self.asd[k]);
            // Pack detector A in the real part and B in the imaginary part of one complex
            // signal: Y_k = A_k + i B_k, Y_{N-k} = conj(A_k) + i conj(B_k).
            let ib = Complex::new(-wb.im, wb.re);
            out[k] = wa.plus(ib);
            let ibc = Complex::new(wb.im, wb.re); // i * conj(B_k)
            out[FRAME - k] = wa.conj().plus(ibc);
        }
        self.fft.inverse(out);
    }

    /// Whitens two real time series (packed as re/im of `frame`) in place.
    fn whiten(&self, frame: &mut [Complex]) {
        self.fft.forward(frame);
        let mut spec = vec![Complex::ZERO; FRAME];
        for k in 1..FRAME / 2 {
            if !self.keep[k] {
                continue;
            }
            let y = frame[k];
            let yc = frame[FRAME - k].conj();
            let a = y.plus(yc).scale(0.5);
            let d = y.minus(yc).scale(0.5); // = i * B_k
            let b = Complex::new(d.im, -d.re); // B_k = d / i
            let wa = a.scale(1.0 / self.asd[k]);
            let wb = b.scale(1.0 / self.asd[k]);
            spec[k] = wa.plus(Complex::new(-wb.im, wb.re));
            spec[FRAME - k] = wa.conj().plus(Complex::new(wb.im, wb.re));
        }
        frame.copy_from_slice(&spec);
        self.fft.inverse(frame);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Background,
    Bbh,
    SineGaussian,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Background => "background",
            Kind::Bbh => "bbh",
            Kind::SineGaussian => "sine_gaussian",
        }
    }
}

/// Newtonian BBH chirp with ISCO cut-off and a damped ringdown.
struct Chirp {
    t_merge: f64,
    mc_s: f64,
    f_isco: f64,
    tau_isco: f64,
    phase_merge: f64,
    phase0: f64,
}

impl Chirp {
    fn new(t_merge: f64, mc_s: f64, f_isco: f64, phase0: f64) -> Self {
        let tau_isco =
            5.0 * (8.0 * std::f64::consts::PI * f_isco).powf(-8.0 / 3.0) * mc_s.powf(-5.0 / 3.0);
        let phase_merge = -2.0 * (tau_isco / (5.0 * mc_s)).powf(5.0 / 8.0);
        Chirp {
            t_merge,
            mc_s,
            f_isco,
            tau_isco,
            phase_merge,
            phase0,
        }
    }

    /// Strain (arbitrary units) at time `t` seconds.
    fn at(&self, t: f64) -> f64 {
        if t < self.t_merge {
            // tau = time to coalescence; f = (1/8pi)(5/tau)^(3/8) Mc^(-5/8);
            // phase = -2 (tau / 5Mc)^(5/8); amplitude ~ f^(2/3) ~ tau^(-1/4).
            let tau = self.t_merge - t + self.tau_isco;
            let x = tau / (5.0 * self.mc_s);
            let amp = (self.tau_isco / tau).powf(0.25);
            amp * (-2.0 * x.powf(5.0 / 8.0) + self.phase0).cos()
        } else {
            let f_rd = 1.5 * self.f_isco;
            let damp = 1.5 / f_rd;
            let dt = t - self.t_merge;
            (-dt / damp).exp()
                * (self.phase_merge + self.phase0 + std::f64::consts::TAU * f_rd * dt).cos()
        }
    }
}

fn sine_gaussian(t: f64, t0: f64, f0: f64, q: f64, phase0: f64) -> f64 {
    let sigma = q / (std::f64::consts::SQRT_2 * std::f64::consts::PI * f0);
    let dt = t - t0;
    (-dt * dt / (2.0 * sigma * sigma)).exp() * (2.0 * std::f64::consts::PI * f0 * dt + phase0).sin()
}

/// Fills `x` (2 x WINDOW, row-major) for one row; returns (kind, snr).
fn row(
    w: &Whitener,
    seed: u64,
    id: u64,
    anomalies: bool,
    x: &mut [f32],
    frame: &mut [Complex],
    sig: &mut [Complex],
) -> (Kind, f64) {
    let mut rng = row_rng(seed, id);
    let kind = if anomalies {
        let u: f64 = rng.r#gen();
        if u < ANOMALY_FRACTION / 2.0 {
            Kind::Bbh
        } else if u < ANOMALY_FRACTION {
            Kind::SineGaussian
        } else {
            Kind::Background
        }
    } else {
        Kind::Background
    };
    w.noise(&mut rng, frame);
    let mut snr = 0.0;
    if kind != Kind::Background {
        let delay = rng.gen_range(-MAX_DELAY_S..MAX_DELAY_S);
        let ratio = rng.gen_range(0.5..1.2) * if rng.r#gen::<bool>() { 1.0 } else { -1.0 };
        let phase0 = rng.gen_range(0.0..std::f64::consts::TAU);
        let dur = WINDOW as f64 / SAMPLE_RATE;
        let waveform: Box<dyn Fn(f64) -> f64> = match kind {
            Kind::Bbh => {
                let mc = rng.gen_range(8.0..20.0);
                let mc_s = mc * SOLAR_MASS_S;
                let total_mass = mc * 2f64.powf(1.2);
                let f_isco = 4400.0 / total_mass;
                let t_merge = rng.gen_range(0.5 * dur..0.95 * dur);
                let c = Chirp::new(t_merge, mc_s, f_isco, phase0);
                Box::new(move |t| c.at(t))
            }
            _ => {
                let f0 = rng.gen_range(70.0..700.0);
                let q = rng.gen_range(3.0..20.0);
                let t0 = rng.gen_range(0.2 * dur..0.8 * dur);
                Box::new(move |t| sine_gaussian(t, t0, f0, q, phase0))
            }
        };
        for (n, s) in sig.iter_mut().enumerate() {
            let t = n as f64 / SAMPLE_RATE;
            *s = Complex::new(waveform(t), ratio * waveform(t - delay));
        }
        w.whiten(sig);
        let norm2: f64 = sig[..WINDOW]
            .iter()
            .map(|c| c.re * c.re + c.im * c.im)
            .sum();
        snr = rng.gen_range(SNR_RANGE.0..SNR_RANGE.1);
        let alpha = if norm2 > 0.0 { snr / norm2.sqrt() } else { 0.0 };
        for (f, s) in frame.iter_mut().zip(sig.iter()) {
            *f = f.plus(s.scale(alpha));
        }
    }
    for t in 0..WINDOW {
        x[t] = frame[t].re as f32;
        x[WINDOW + t] = frame[t].im as f32;
    }
    (kind, snr)
}

pub fn features() -> Vec<FeatureSpec> {
    vec![
        FeatureSpec::scalar(
            "id",
            Dtype::Int64,
            Role::Id,
            "Row identifier (0-based row number across all splits).",
        ),
        FeatureSpec::tensor(
            "x",
            Dtype::Float32,
            &[DETECTORS, WINDOW],
            Role::Feature,
            "Whitened strain of detectors 1 and 2, 200 samples at 4096 Hz each (unit-variance noise).",
        ),
        FeatureSpec::scalar(
            "is_anomaly",
            Dtype::Bool,
            Role::Label,
            "True when a signal is injected.",
        ),
        FeatureSpec::scalar(
            "kind",
            Dtype::String,
            Role::Extra,
            "background, bbh or sine_gaussian.",
        ),
        FeatureSpec::scalar(
            "snr",
            Dtype::Float32,
            Role::Extra,
            "Network SNR of the injection in the whitened window (0 for background).",
        ),
    ]
}

pub fn meta() -> DatasetMeta {
    DatasetMeta {
        slug: NAME.to_string(),
        title: "Gravitational-wave anomalies in two-detector strain (synthetic)".to_string(),
        description: "Windows of whitened two-detector gravitational-wave strain (2 x 200 samples at 4096 Hz) \
            with Gaussian noise from an aLIGO-like PSD. Training data is background only; validation and test \
            splits contain injected binary-black-hole chirps and sine-Gaussian bursts at network SNR 4-20."
            .to_string(),
        keywords: vec![
            "anomaly detection".into(),
            "gravitational waves".into(),
            "astrophysics".into(),
            "time series".into(),
            "FPGA".into(),
        ],
        domain: "astrophysics".to_string(),
        licence: "CC-BY-4.0".to_string(),
        creators: vec![arena_creator()],
        doi: None,
        publisher: "FastML Arena".to_string(),
        rai: synthetic_rai(
            "Synthetic: simulated detector noise and injected signals from the generative model in the data card; no detector data is used.",
            &["Gaussian, stationary noise: real detectors have glitches and non-stationarity, so detectors tuned here are optimistic."],
            &["Newtonian chirps without spin, higher modes or a physical merger model; detector projection is a random delay and amplitude ratio, not antenna patterns."],
            &["Benchmarking low-latency anomaly detectors (e.g. autoencoders on FPGAs) for gravitational-wave triggers."],
        ),
    }
}

pub fn generate(rows: usize, seed: u64) -> Result<GeneratedDataset> {
    let w = Whitener::new()?;
    let features = features();
    let schema = arrow_schema(&features);
    let mut frame = vec![Complex::ZERO; FRAME];
    let mut sig = vec![Complex::ZERO; FRAME];
    let mut splits = Vec::new();
    for (name, range) in split_ranges(rows) {
        let n = range.len();
        let mut xs = vec![0f32; n * DETECTORS * WINDOW];
        let mut ids = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        let mut snrs = Vec::with_capacity(n);
        for (i, id) in range.enumerate() {
            let x = &mut xs[i * DETECTORS * WINDOW..(i + 1) * DETECTORS * WINDOW];
            let (kind, snr) = row(
                &w,
                seed,
                id as u64,
                name != SplitName::Train,
                x,
                &mut frame,
                &mut sig,
            );
            ids.push(id as i64);
            labels.push(kind != Kind::Background);
            kinds.push(kind.as_str());
            snrs.push(snr as f32);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            fsl_f32(xs, DETECTORS * WINDOW)?,
            Arc::new(BooleanArray::from(labels)),
            Arc::new(StringArray::from(kinds)),
            Arc::new(Float32Array::from(snrs)),
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
        r#"# gw-anomaly: gravitational-wave anomalies in two-detector strain (synthetic)

Generated by FastML Arena's `gw-anomaly` generator with seed {seed} and {rows} rows.
Licence: CC-BY-4.0.

## Generative model

- Each row is a window of 200 samples at 4096 Hz (48.8 ms) from two detectors,
  column `x` = FixedSizeList<Float32>[400], shape [2, 200] (detector-major, row-major).
- Noise: for each detector, complex Gaussian Fourier coefficients on a 256-sample frame
  are coloured by the analytic aLIGO zero-detuned high-power PSD fit
  S(f) = 1e-49 [x^-4.14 - 5 x^-2 + 111 (1 - x^2 + x^4/2) / (1 + x^2/2)], x = f / 215 Hz,
  then whitened by dividing by sqrt(S(f)), band-limited to 20-1800 Hz and inverse
  transformed; the first 200 samples are kept. Whitened noise has unit variance.
- Training rows are background only. Validation and test rows are anomalous with
  probability {frac}: half binary-black-hole chirps, half sine-Gaussian bursts.
- Binary-black-hole chirp: chirp mass uniform in [8, 20] solar masses (equal masses),
  Newtonian frequency evolution f(tau) = (1/8 pi) (5/tau)^(3/8) Mc^(-5/8) and amplitude
  proportional to f^(2/3) up to the ISCO frequency 4400 Hz / (M / Msun), followed by a damped
  ringdown at 1.5 f_ISCO; merger time uniform in the second half of the window.
- Sine-Gaussian: central frequency uniform in [70, 700] Hz, quality factor Q uniform in
  [3, 20], centre uniform in the middle 60 % of the window.
- Projection: detector 2 sees the waveform delayed by up to +-10 ms, scaled by a ratio in
  [0.5, 1.2] with a random sign. The injection is whitened with the same filter as the noise
  and scaled to a network SNR (sqrt of the summed squared whitened signal over both
  detectors in the window) uniform in [4, 20]; column `snr`.
- Columns: `id` (int64), `x`, `is_anomaly` (label), `kind` (background / bbh /
  sine_gaussian) and `snr` (analysis columns, withheld with the labels in test splits).

## Splits

Rows are split 60/10/15/15 by row number; ids are row numbers, so splits are disjoint.

{splits}
## Intended use

Benchmarking anomaly detectors (autoencoders, one-class models) that must run with
sub-microsecond latency on FPGAs, in the spirit of gravitational-wave trigger challenges.

## Limitations

Noise is stationary and Gaussian (no glitches, lines or non-stationarity). Chirps are
Newtonian without spins or higher modes and the merger/ringdown is schematic. The
detector projection ignores antenna patterns. Results do not transfer directly to real
detector data.
"#,
        frac = ANOMALY_FRACTION,
        splits = splits_markdown(rows),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_is_unit_variance_and_train_clean() {
        let d = generate(2000, 7).expect("generate");
        let train = d.split(SplitName::Train).expect("train");
        let labels = train
            .column(2)
            .as_any()
            .downcast_ref::<BooleanArray>()
            .expect("bool");
        assert_eq!(labels.true_count(), 0, "train is background only");
        let x = train
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::FixedSizeListArray>()
            .expect("fsl");
        let v = x
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .expect("f32");
        let n = v.len() as f64;
        let mean = v.values().iter().map(|a| *a as f64).sum::<f64>() / n;
        let var = v
            .values()
            .iter()
            .map(|a| (*a as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
        let test = d.split(SplitName::PublicTest).expect("test");
        let labels = test
            .column(2)
            .as_any()
            .downcast_ref::<BooleanArray>()
            .expect("bool");
        let frac = labels.true_count() as f64 / labels.len() as f64;
        assert!((frac - ANOMALY_FRACTION).abs() < 0.08, "{frac}");
    }

    #[test]
    fn injection_has_requested_snr() {
        let w = Whitener::new().expect("w");
        // Find an anomalous row and check that signal energy matches the SNR.
        let mut frame = vec![Complex::ZERO; FRAME];
        let mut sig = vec![Complex::ZERO; FRAME];
        let mut x = vec![0f32; 400];
        let mut found = 0;
        for id in 0..200u64 {
            let (kind, snr) = row(&w, 3, id, true, &mut x, &mut frame, &mut sig);
            if kind != Kind::Background {
                assert!((SNR_RANGE.0..SNR_RANGE.1).contains(&snr));
                found += 1;
            }
        }
        assert!(found > 20);
        assert!(aligo_psd(100.0) > 0.0 && aligo_psd(30.0) > aligo_psd(200.0));
    }
}
