//! The fuzz targets' checks on every seed and on mutated seeds, in the test suite (stable,
//! so in CI): a bounded, reproducible, mutation-based fuzz run. It is not
//! coverage-guided (that is libFuzzer's job, `fuzz/run.sh`); it keeps every check the
//! targets make running on every change, on inputs that reach past the decoder.
//!
//! `FUZZ_CHECKS_CASES` sets the number of mutated inputs per target (default 200,000) and
//! `FUZZ_CHECKS_SEED` the generator's seed (default fixed; the seed used is printed).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Values that often sit on a decoder's edges.
const INTERESTING: [u8; 10] = [0x00, 0x01, 0x02, 0x0A, 0x12, 0x22, 0x7F, 0x80, 0xFE, 0xFF];

/// One to four mutations of `seed` (with `other`, another seed, for splicing).
fn mutate(rng: &mut StdRng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        if data.is_empty() {
            data.push(rng.r#gen());
            continue;
        }
        let at = rng.gen_range(0..data.len());
        match rng.gen_range(0..8) {
            0 => data[at] ^= 1 << rng.gen_range(0..8),
            1 => data[at] = INTERESTING[rng.gen_range(0..INTERESTING.len())],
            2 => data[at] = rng.r#gen(),
            3 => data.insert(at, rng.r#gen()),
            4 => {
                let end = (at + rng.gen_range(1..=16)).min(data.len());
                data.drain(at..end);
            }
            5 => {
                let end = (at + rng.gen_range(1..=32)).min(data.len());
                let copy = data[at..end].to_vec();
                let to = rng.gen_range(0..=data.len());
                data.splice(to..to, copy);
            }
            6 => data.truncate(at),
            _ => {
                // Splice: this seed's head, the other's tail.
                let from = rng.gen_range(0..=other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

fn cases() -> usize {
    std::env::var("FUZZ_CHECKS_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
}

fn rng() -> StdRng {
    let seed = std::env::var("FUZZ_CHECKS_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0xF00D_7ACE);
    eprintln!("FUZZ_CHECKS_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// Runs `check` on every seed and on [`cases`] mutations; returns how many of the
/// mutated inputs still decoded (so the run is known to reach past the decoder).
fn run(check: fn(&[u8])) -> usize {
    let seeds = fuzz_checks::seeds();
    for seed in &seeds {
        check(seed);
    }
    let mut rng = rng();
    let mut decoded = 0;
    for _ in 0..cases() {
        let seed = &seeds[rng.gen_range(0..seeds.len())];
        let other = &seeds[rng.gen_range(0..seeds.len())];
        let input = mutate(&mut rng, seed, other);
        let outcome = std::panic::catch_unwind(|| check(&input));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "the check failed on this input ({} bytes; save it to fuzz/artifacts/ to replay with cargo fuzz): {}\n{message}",
                input.len(),
                hex(&input)
            );
        }
        if fuzz_checks::signed_event(&input)
            .and_then(|wire| ledger_proto::decode_signed_event(wire).ok())
            .is_some()
        {
            decoded += 1;
        }
    }
    decoded
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn decoding_mutated_events_never_panics_and_keeps_what_it_accepts() {
    let decoded = run(fuzz_checks::decode_event);
    eprintln!("{decoded} of {} mutated inputs decoded", cases());
    assert!(
        decoded > 0,
        "no mutated input decoded: the run tests only the first checks"
    );
}

#[test]
fn admitting_mutated_events_never_panics_and_agrees_with_the_checked_rule() {
    let decoded = run(fuzz_checks::admit_event);
    eprintln!(
        "{decoded} of {} mutated inputs decoded and were admitted or refused",
        cases()
    );
    assert!(
        decoded > 0,
        "no mutated input decoded: admission was never reached"
    );
}
