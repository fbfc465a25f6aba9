//! Pieces shared by the toolflow's integration tests.

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
