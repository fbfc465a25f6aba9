//! Pieces shared by the toolflow's integration tests.

// Each test binary uses some of these.
#![allow(dead_code)]

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
