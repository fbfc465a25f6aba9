//! A small mutation fuzzer shared by the `fuzz_*` integration tests of the
//! crates (each includes this file with `#[path]`). No coverage feedback and
//! no dependencies: it replays a committed corpus, then mutates it (bit flips,
//! interesting bytes, cuts, splices, repeated chunks, changed numbers in
//! text) and feeds every input to the target, which must return (errors are
//! fine) and never panic.
//!
//! - `cargo test` replays `fuzz/corpus/<target>/` plus a short deterministic
//!   run (`FAST_ITERATIONS` inputs).
//! - `ARENA_FUZZ_SECONDS=600 cargo test --release --test fuzz_<target>` runs
//!   for that long (scripts/bench-fuzz runs every target in turn).
//! - A panicking input is written to `target/fuzz-crashes/<target>/` and the
//!   test fails naming it; copy it into the corpus once fixed.
//! - `ARENA_FUZZ_SEED` picks the random stream (default: fixed for the fast
//!   run, the clock for a long one).

#![allow(dead_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Mutated inputs per target in the test command.
pub const FAST_ITERATIONS: u64 = 1000;
/// Most inputs kept as parents (corpus included).
const MAX_POOL: usize = 2048;
/// An input that takes longer than this is reported as a hang.
const SLOW_INPUT: Duration = Duration::from_secs(10);

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The committed corpus of `target`.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz/corpus")
        .join(target)
}

fn read_corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

const INTERESTING: [u8; 10] = [0, 1, 0x7f, 0x80, 0xff, b'-', b'9', b'[', b'{', b'\n'];

/// One random change to `input`, drawing on `pool` for splices.
pub fn mutate(input: &[u8], pool: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            3 if len > 1 => {
                // Cut a range.
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                out.drain(a..b);
            }
            4 => {
                // Truncate.
                out.truncate(rng.below(len + 1));
            }
            5 if len > 0 => {
                // Repeat a chunk in place.
                let a = rng.below(len);
                let b = (a + 1 + rng.below(32)).min(len);
                let chunk = out[a..b].to_vec();
                for _ in 0..1 + rng.below(4) {
                    out.splice(a..a, chunk.iter().copied());
                }
            }
            6 if !pool.is_empty() => {
                // Splice in a piece of another input.
                let other = &pool[rng.below(pool.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(128)).min(other.len());
                    let at = rng.below(len + 1);
                    out.splice(at..at, other[a..b].iter().copied());
                }
            }
            7 if len > 0 => {
                // Change a number in text (YAML, JSON) to an extreme.
                let digits: Vec<usize> = (0..len).filter(|&i| out[i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let i = digits[rng.below(digits.len())];
                    let extreme: &[u8] = match rng.below(4) {
                        0 => b"0",
                        1 => b"-1",
                        2 => b"99999999999999999999",
                        _ => b"4294967296",
                    };
                    out.splice(i..i + 1, extreme.iter().copied());
                }
            }
            8 if len > 0 => {
                // Add or subtract a small amount from a byte (protobuf lengths, varints).
                let i = rng.below(len);
                out[i] = out[i].wrapping_add((rng.below(33) as u8).wrapping_sub(16));
            }
            _ => {
                let at = rng.below(len + 1);
                out.insert(at, rng.next() as u8);
            }
        }
    }
    out
}

/// What a fuzz run did.
#[derive(Debug)]
pub struct Report {
    pub target: String,
    pub replayed: usize,
    pub executions: u64,
    pub seconds: f64,
    pub seed: u64,
}

fn save_crash(target: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/fuzz-crashes")
        .join(target);
    let _ = std::fs::create_dir_all(&dir);
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in input {
        hash = (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    let path = dir.join(format!("crash-{hash:016x}"));
    let _ = std::fs::write(&path, input);
    path
}

/// Feed one input; on a panic or a hang, the saved input and what happened.
fn feed(target: &str, input: &[u8], check: &dyn Fn(&[u8]) -> String) -> Result<String, String> {
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| check(input)));
    let took = started.elapsed();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let path = save_crash(target, input);
            return Err(format!(
                "fuzz target `{target}` panicked ({message}); input saved to {}",
                path.display()
            ));
        }
    };
    if took > SLOW_INPUT {
        let path = save_crash(target, input);
        return Err(format!(
            "fuzz target `{target}` took {took:?} on one input; saved to {}",
            path.display()
        ));
    }
    Ok(outcome)
}

/// What kind of outcome a message is: digits and quoted names removed, so
/// "tensor 'w' has 12 elements" and "tensor 'b' has 3 elements" are one kind.
fn signature(outcome: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in outcome.chars().take(160) {
        match c {
            '\'' | '`' | '"' => quoted = !quoted,
            _ if quoted || c.is_ascii_digit() => {}
            _ => out.push(c),
        }
    }
    out
}

/// Replay the corpus and `seeds`, then mutate them: a fixed number of inputs,
/// or for `ARENA_FUZZ_SECONDS` seconds when that is set.
///
/// `check` returns a short description of the outcome (`ok ...` or the
/// error message). A mutant whose kind of outcome has not been seen before
/// joins the pool of parents: a cheap stand-in for coverage feedback that
/// steers the search towards inputs that get further or fail differently.
pub fn fuzz(target: &str, seeds: Vec<Vec<u8>>, check: impl Fn(&[u8]) -> String) -> Report {
    // Panics are expected to be caught and reported once, not printed per input.
    let quiet = std::env::var_os("ARENA_FUZZ_VERBOSE").is_none();
    if quiet {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let started = Instant::now();
    let corpus = read_corpus(target);
    let replayed = corpus.len() + seeds.len();
    let mut pool: Vec<Vec<u8>> = corpus.into_iter().map(|(_, bytes)| bytes).collect();
    pool.extend(seeds);
    assert!(!pool.is_empty(), "fuzz target `{target}` has no corpus");
    let corpus_len = pool.len();
    let mut failure = None;
    let mut seen = std::collections::HashSet::new();
    for input in &pool {
        match feed(target, input, &check) {
            Ok(outcome) => {
                seen.insert(signature(&outcome));
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let seconds: Option<u64> = std::env::var("ARENA_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seed = std::env::var("ARENA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| match seconds {
            Some(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
            None => 0x5eed_f00d,
        });
    let mut rng = Rng::new(seed);
    let deadline = seconds.map(|s| started + Duration::from_secs(s));
    let mut executions = 0u64;
    while failure.is_none() {
        match deadline {
            Some(deadline) if Instant::now() >= deadline => break,
            None if executions >= FAST_ITERATIONS => break,
            _ => {}
        }
        let parent = &pool[rng.below(pool.len())];
        let child = mutate(parent, &pool, &mut rng);
        let outcome = match feed(target, &child, &check) {
            Ok(outcome) => outcome,
            Err(e) => {
                failure = Some(e);
                continue;
            }
        };
        executions += 1;
        // New kinds of outcome become parents; the pool is bounded, so later
        // ones replace a random earlier mutant (never the corpus).
        if child.len() < (1 << 20) && seen.insert(signature(&outcome)) {
            if pool.len() < MAX_POOL {
                pool.push(child);
            } else {
                let i = corpus_len + rng.below(pool.len() - corpus_len);
                pool[i] = child;
            }
        }
    }
    if quiet {
        let _ = std::panic::take_hook();
    }
    if let Some(failure) = failure {
        panic!("{failure}");
    }
    let report = Report {
        target: target.to_owned(),
        replayed,
        executions,
        seconds: started.elapsed().as_secs_f64(),
        seed,
    };
    eprintln!(
        "fuzz {}: replayed {}, {} mutated inputs in {:.1} s ({:.0}/s), {} kinds of outcome, seed {}, no panic",
        report.target,
        report.replayed,
        report.executions,
        report.seconds,
        report.executions as f64 / report.seconds.max(1e-9),
        seen.len(),
        report.seed
    );
    report
}
