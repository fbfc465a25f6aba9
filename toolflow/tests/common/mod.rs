//! Pieces shared by the toolflow's integration tests.

// Each test binary uses some of these.
#![allow(dead_code)]

pub mod hls4ml;

use toolflow::{Limits, compile};

/// Compiles `rounds` byte mutations of a JSON model file (1 to 4 bytes each
/// replaced by JSON punctuation or digits, from an xorshift seeded with `seed`)
/// and simulates two rows of `x` (84 features each) through every mutant that
/// compiles. Returns (compiled, refused); any panic fails the calling test.
pub fn json_mutants(original: &[u8], seed: u64, rounds: usize, x: &[f32]) -> (usize, usize) {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"-0123456789.eE[]{},:\" ";
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..rounds {
        let mut bytes = original.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % bytes.len();
            bytes[at] = alphabet[(next() as usize) % alphabet.len()];
        }
        match compile(&bytes, None, &Limits::default()) {
            Ok(m) => {
                let _ = m.simulate_raw(&x[..2 * 84], 2);
                ok += 1;
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!("{ok} mutants compiled, {refused} refused");
    (ok, refused)
}

/// Co-simulation stimulus: the `n` fixture rows of `x` first (their threshold
/// ties included), then 1,000 random vectors from `seed`.
pub fn fixture_rows_then_random(
    model: &toolflow::CompiledModel,
    x: &[f32],
    n: usize,
    seed: u64,
) -> toolflow::hw::cosim::Stimulus {
    use toolflow::hw::cosim::stimulus;
    let mut st = stimulus(model, n, 1, Some(x)).unwrap();
    let random = stimulus(model, 1000, seed, None).unwrap();
    st.n += random.n;
    st.floats.extend(random.floats);
    for (a, b) in st.rtl_inputs.iter_mut().zip(random.rtl_inputs) {
        a.extend(b);
    }
    for (a, b) in st.expected.iter_mut().zip(random.expected) {
        a.extend(b);
    }
    st
}

/// Limits of one co-simulation run in the tests.
pub const COSIM_LIMITS: toolflow::hw::tools::RunLimits = toolflow::hw::tools::RunLimits {
    timeout_s: 600,
    memory_mib: 8 << 10,
};

/// A JSON fixture file.
pub fn json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The numbers of array `key` of a JSON fixture.
pub fn floats(v: &serde_json::Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Fixture inputs (`x`, written as shortest float32 decimals, and `rows`) as f32.
pub fn fixture_inputs(path: &std::path::Path) -> (Vec<f32>, usize) {
    let v = json(path);
    let x: Vec<f32> = floats(&v, "x").into_iter().map(|x| x as f32).collect();
    let rows = v["rows"].as_u64().unwrap() as usize;
    if let Some(features) = v["features"].as_u64() {
        assert_eq!(x.len(), rows * features as usize);
    }
    (x, rows)
}

/// A tree ensemble's estimate: no DSP, some LUTs, a latency of at most
/// `max_cycles`.
pub fn assert_tree_estimate(model: &toolflow::CompiledModel, name: &str, max_cycles: u32) {
    let dev = toolflow::hw::devices::device("xc7a35t").unwrap();
    let e = toolflow::hw::estimate::estimate(model, dev, 10.0).unwrap();
    eprintln!(
        "{name}: {} LUT {} FF {} DSP, {} cycles, {} nodes",
        e.lut, e.ff, e.dsp, e.latency_cycles, e.nodes
    );
    assert_eq!(e.dsp, 0);
    assert!(e.lut > 0 && e.latency_cycles >= 1 && e.latency_cycles <= max_cycles);
}

/// A tree ensemble's RTL in Verilator on the fixture rows and random vectors:
/// no mismatch, the scheduled latency, no multiplier.
pub fn assert_tree_rtl_matches(model: &toolflow::CompiledModel, name: &str, x: &[f32], n: usize) {
    use toolflow::hw::cosim::{self, Simulator};
    let dev = toolflow::hw::devices::device("xc7a35t").unwrap();
    let design = toolflow::hw::rtl::generate(
        model,
        "tree_top",
        dev,
        5.0,
        &toolflow::hw::rtl::NetOptions::default(),
    )
    .unwrap();
    let st = fixture_rows_then_random(model, x, n, 3);
    let work = std::env::temp_dir().join(format!("arena-trees-{}-{name}", std::process::id()));
    let r = cosim::run_stimulus(&design, &st, Simulator::Verilator, COSIM_LIMITS, &work).unwrap();
    assert_cosim_clean(name, &r, &design);
    assert!(!design.verilog.contains(" * "));
    let _ = std::fs::remove_dir_all(&work);
}

/// Prints a co-simulation's figures and asserts that every vector matched
/// and the testbench measured the schedule's latency.
pub fn assert_cosim_clean(
    name: &str,
    r: &toolflow::hw::cosim::CosimResult,
    design: &toolflow::hw::rtl::Design,
) {
    eprintln!(
        "{name}: {:?}: {} vectors, {} mismatches, latency {:?} (schedule {}), compile {:.1} s, run {:.1} s",
        r.simulator,
        r.vectors,
        r.mismatches,
        r.latency_measured,
        design.latency(),
        r.compile_s,
        r.run_s
    );
    assert_eq!(r.mismatches, 0, "{name}: {:?}", r.first_mismatches);
    assert_eq!(r.latency_measured, Some(design.latency()));
}
