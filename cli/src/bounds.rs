//! The machine's raw bounds on ingest, measured by `foodtrace loadgen --bounds` in the
//! same run as the load: how fast this machine can check the signatures of the load's
//! events (one by one, and in batches, on one core and on all), and how fast its disk
//! takes a synced RocksDB write of one commit group's size.
//!
//! Each figure is the median of [`ROUNDS`] rounds over a sample of the load's own events
//! (ten-event chains by many parties, so the batches mix keys as the node's do).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use district_synth::load::{CHAIN_LEN, LoadParties};
use ledger_core::signature::{SignatureCheck, verify_batch, verify_body};

/// Rounds each figure is the median of.
pub const ROUNDS: usize = 5;
/// Events in the sample.
const SAMPLE: usize = 8192;
/// Signatures in one batch. The node's batches are smaller (it splits a group of at
/// most 512 events over two cores), and a smaller batch costs a little more a signature,
/// so this bound is one the node cannot quite reach.
pub const BATCH: usize = 512;
/// Signatures in one batch of ed25519-dalek's `verify_batch`, as issue #7 measured it.
pub const ISSUE_BATCH: usize = 256;
/// Keys in the synced-write probe's batch: about what a group of 1,024 events writes.
const PROBE_KEYS: usize = 10_240;
/// Bytes of each value in the probe (events are about 300 bytes, index entries a few
/// dozen: this makes the batch about as many bytes as a group's).
const PROBE_VALUE: usize = 48;

/// The bounds, in events (signatures) a second.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Cores used for "all cores".
    pub cores: usize,
    /// Mean size of the sample's signed events (body and signature), bytes.
    pub mean_event_bytes: f64,
    /// Ed25519 `verify_strict` (RFC 8032, cofactorless), one core: for reference.
    pub strict_one_core: f64,
    /// The ledger's rule, one signature at a time, one core.
    pub single_one_core: f64,
    /// The ledger's rule, one at a time, all cores.
    pub single_all_cores: f64,
    /// The ledger's rule in batches of [`BATCH`], one core.
    pub batch_one_core: f64,
    /// The ledger's rule in batches of [`BATCH`], all cores: the bound ingest is held to.
    pub batch_all_cores: f64,
    /// ed25519-dalek's `verify_batch` (RFC 8032 batch verification, Merlin transcripts)
    /// in batches of [`ISSUE_BATCH`], all cores: the bound as issue #7 states it ("batch
    /// verification of 256 signatures"), for comparison. Our rule's batches are faster
    /// (grouped by key, larger), so they are the stricter bound.
    pub dalek_batch_all_cores: f64,
    /// Median time of one synced write of a group-sized batch.
    pub synced_write_median: Duration,
    /// 99th percentile of the same.
    pub synced_write_p99: Duration,
}

impl Bounds {
    /// Events a second the disk would take if every synced write carried 1,024 events.
    pub fn synced_write_events_per_second(&self) -> f64 {
        1024.0 / self.synced_write_median.as_secs_f64()
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "raw bounds ({} cores; median of {ROUNDS} rounds; events of {:.0} bytes signed):",
            self.cores, self.mean_event_bytes
        )?;
        writeln!(f, "| bound | events/s |")?;
        writeln!(f, "|---|---|")?;
        let rows = [
            (
                "Ed25519 verify_strict (RFC 8032), one core",
                self.strict_one_core,
            ),
            ("ledger rule, one at a time, one core", self.single_one_core),
            (
                "ledger rule, one at a time, all cores",
                self.single_all_cores,
            ),
            ("ledger rule, batches of 512, one core", self.batch_one_core),
            (
                "ledger rule, batches of 512, all cores",
                self.batch_all_cores,
            ),
            (
                "ed25519-dalek verify_batch, batches of 256, all cores (the issue's bound)",
                self.dalek_batch_all_cores,
            ),
        ];
        for (name, rate) in rows {
            writeln!(f, "| {name} | {rate:.0} |")?;
        }
        writeln!(
            f,
            "| synced RocksDB write of a 1,024-event group ({} keys, median {:.2} ms, p99 {:.2} ms) | {:.0} |",
            PROBE_KEYS,
            self.synced_write_median.as_secs_f64() * 1000.0,
            self.synced_write_p99.as_secs_f64() * 1000.0,
            self.synced_write_events_per_second()
        )
    }
}

struct Sample {
    keys: Vec<[u8; 32]>,
    bodies: Vec<Vec<u8>>,
    signatures: Vec<[u8; 64]>,
}

impl Sample {
    fn checks(&self, range: std::ops::Range<usize>) -> Vec<SignatureCheck<'_>> {
        range
            .map(|i| SignatureCheck {
                key: &self.keys[i],
                body: &self.bodies[i],
                signature: &self.signatures[i],
            })
            .collect()
    }
}

fn sample() -> anyhow::Result<Sample> {
    let parties = LoadParties::new(1000);
    let keys: HashMap<String, [u8; 32]> = parties
        .all()
        .map(|p| (p.id().to_string(), p.signer().public_key()))
        .collect();
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T03:00:00+08:00")?;
    let mut sample = Sample {
        keys: Vec::with_capacity(SAMPLE),
        bodies: Vec::with_capacity(SAMPLE),
        signatures: Vec::with_capacity(SAMPLE),
    };
    for i in 0..SAMPLE / CHAIN_LEN + 1 {
        for event in parties.chain("bounds", i, at) {
            let decoded = ledger_proto::decode_signed_event(event)
                .map_err(|r| anyhow::anyhow!("the sample does not decode: {r}"))?;
            sample.keys.push(keys[decoded.body().signer.as_str()]);
            sample.bodies.push(decoded.body_bytes().to_vec());
            sample.signatures.push(*decoded.signature());
        }
    }
    sample.keys.truncate(SAMPLE);
    sample.bodies.truncate(SAMPLE);
    sample.signatures.truncate(SAMPLE);
    Ok(sample)
}

/// The median of `ROUNDS` rates of `work` over `n` items.
fn median_rate(n: usize, mut work: impl FnMut()) -> f64 {
    let mut rates: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            work();
            n as f64 / started.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[ROUNDS / 2]
}

/// Runs `per_core(range)` on every core over its share of the sample (all of it).
fn on_all_cores(cores: usize, per_core: impl Fn(std::ops::Range<usize>) + Sync) {
    let share = SAMPLE.div_ceil(cores);
    std::thread::scope(|scope| {
        for core in 0..cores {
            let per_core = &per_core;
            let range = (core * share).min(SAMPLE)..((core + 1) * share).min(SAMPLE);
            scope.spawn(move || per_core(range));
        }
    });
}

/// Measures the bounds; the synced writes go to a new directory in `dir` (default: the
/// system's temporary directory), removed after.
pub fn measure(dir: Option<&Path>) -> anyhow::Result<Bounds> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sample = sample()?;
    let mean_event_bytes =
        sample.bodies.iter().map(|b| b.len() + 64).sum::<usize>() as f64 / SAMPLE as f64;
    let all = sample.checks(0..SAMPLE);
    assert!(verify_batch(&all), "the sample's signatures are valid");

    let strict_one_core = median_rate(SAMPLE, || {
        for check in &all {
            let key = ed25519_dalek::VerifyingKey::from_bytes(check.key).expect("a key");
            let message = ledger_core::contract::signing_message(check.body);
            let signature = ed25519_dalek::Signature::from_bytes(check.signature);
            assert!(key.verify_strict(&message, &signature).is_ok());
        }
    });
    let single_one_core = median_rate(SAMPLE, || {
        for check in &all {
            assert!(verify_body(check.key, check.body, check.signature));
        }
    });
    let single_all_cores = median_rate(SAMPLE, || {
        on_all_cores(cores, |range| {
            for check in &all[range] {
                assert!(check.verify());
            }
        })
    });
    let batch_one_core = median_rate(SAMPLE, || {
        for chunk in all.chunks(BATCH) {
            assert!(verify_batch(chunk));
        }
    });
    let batch_all_cores = median_rate(SAMPLE, || {
        on_all_cores(cores, |range| {
            for chunk in all[range].chunks(BATCH) {
                assert!(verify_batch(chunk));
            }
        })
    });

    let dalek: Vec<(
        ed25519_dalek::VerifyingKey,
        Vec<u8>,
        ed25519_dalek::Signature,
    )> = all
        .iter()
        .map(|check| {
            (
                ed25519_dalek::VerifyingKey::from_bytes(check.key).expect("a key"),
                ledger_core::contract::signing_message(check.body),
                ed25519_dalek::Signature::from_bytes(check.signature),
            )
        })
        .collect();
    let dalek_batch_all_cores = median_rate(SAMPLE, || {
        on_all_cores(cores, |range| {
            for chunk in dalek[range].chunks(ISSUE_BATCH) {
                let keys: Vec<_> = chunk.iter().map(|(key, _, _)| *key).collect();
                let messages: Vec<&[u8]> = chunk.iter().map(|(_, m, _)| &m[..]).collect();
                let signatures: Vec<_> = chunk.iter().map(|(_, _, s)| *s).collect();
                assert!(ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok());
            }
        })
    });

    let parent = match dir {
        Some(dir) => dir.to_owned(),
        None => std::env::temp_dir(),
    };
    let probe_dir = parent.join(format!("foodtrace-write-probe-{}", std::process::id()));
    let writes = ledger_rocksdb::synced_batch_writes(&probe_dir, 200, PROBE_KEYS, PROBE_VALUE);
    let _ = std::fs::remove_dir_all(&probe_dir);
    let mut writes = writes.map_err(|e| anyhow::anyhow!("synced write probe: {e}"))?;
    writes.sort();
    Ok(Bounds {
        cores,
        mean_event_bytes,
        strict_one_core,
        single_one_core,
        single_all_cores,
        batch_one_core,
        batch_all_cores,
        dalek_batch_all_cores,
        synced_write_median: writes[writes.len() / 2],
        synced_write_p99: writes[writes.len() * 99 / 100],
    })
}
