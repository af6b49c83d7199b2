//! The audit of a large ledger, measured against this machine's raw Ed25519 bounds in
//! the same run. Not a criterion benchmark: one long measurement of a whole system.
//!
//! Run: `cargo bench -p ledger-node --bench audit` (`AUDIT_EVENTS`, default 1,000,000).
//!
//! It signs a district-like history (2,000 producers and 7 markets, each with a key of
//! its own, registered; then lots that go producer → market, are received and
//! quick-tested), ingests it through the real writer into an in-memory store (so the
//! Merkle tree and checkpoints are the node's own), then times: the ledger's rule one at
//! a time on one core and on all cores, in batches of 512 on all cores, ed25519-dalek's
//! `verify_batch` of 256 on all cores (issue #7's bound as it states it), and the audit,
//! and prints the audit's rate as a fraction of each bound. With mimalloc, the allocator
//! of the `foodtrace` and `ledger-node` binaries that run audits.
#![allow(missing_docs)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, Utc};
use district_synth::{Recorder, origin, party_id, quick_test, receive, ship};
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{LogSigner, LogVerifier};
use ledger_core::model::{PartyRole, Stage};
use ledger_core::signature::{SignatureCheck, verify_batch, verify_body};
use ledger_node::{AuthorityIdentity, Ledger, WriterConfig, initialize};
use ledger_proto::pb;
use ledger_store::{LedgerStore, MemStore};

const PRODUCERS: usize = 2000;
const MARKETS: usize = 7;

/// Producer `i`'s key seed: a key of its own for each of them.
fn producer_seed(i: usize) -> [u8; 32] {
    let mut seed = [0x5E; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    seed
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs `work` over `items` split across every core.
fn on_all_cores<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let chunk = items.len().div_ceil(cores()).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| work(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    })
}

fn rate(n: usize, elapsed: StdDuration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn main() {
    let n_events: usize = std::env::var("AUDIT_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let now = Utc::now().fixed_offset();
    let authority = Recorder::new(
        district_synth::authority_id(),
        PartyRole::Authority,
        SigningKey::from_bytes(&[0xA9; 32]),
    );
    let producers: Vec<Recorder> = (0..PRODUCERS)
        .map(|i| {
            Recorder::new(
                party_id("210112", i + 1),
                PartyRole::Producer,
                SigningKey::from_bytes(&producer_seed(i)),
            )
        })
        .collect();
    let markets: Vec<Recorder> = (0..MARKETS)
        .map(|i| {
            Recorder::new(
                party_id("210112", 100_000 + i),
                PartyRole::WholesaleMarket,
                SigningKey::from_bytes(&[(i as u8) + 200; 32]),
            )
        })
        .collect();

    // Sign: registrations first, then 4-event lot chains, built on all cores.
    let started = Instant::now();
    let mut events: Vec<pb::SignedEvent> = producers
        .iter()
        .chain(markets.iter())
        .map(|party| {
            authority
                .register(now - Duration::days(2), party, "企业", "210112")
                .0
        })
        .collect();
    let n_chains = n_events.saturating_sub(events.len() + 1) / 4;
    let chains: Vec<usize> = (0..n_chains).collect();
    let signed: Vec<Vec<pb::SignedEvent>> = on_all_cores(&chains, |part| {
        let mut out = Vec::with_capacity(part.len() * 4);
        for &chain in part {
            let producer = &producers[chain % PRODUCERS];
            let market = &markets[chain % MARKETS];
            let lot_id = format!("L{chain:08}");
            let at = now - Duration::hours(20) + Duration::milliseconds(chain as i64);
            let (o, origin_hash) = producer.sign(
                at,
                origin(
                    &lot_id,
                    "大白菜",
                    "vegetable",
                    "500",
                    "kg",
                    "2026-11-27",
                    "HG",
                ),
            );
            let (s, ship_hash) = producer.sign(
                at,
                ship(&lot_id, "500", "kg", market.id(), "D", origin_hash),
            );
            let (r, _) = market.sign(
                at,
                receive(
                    Stage::MarketEntry,
                    &lot_id,
                    "500",
                    "kg",
                    ship_hash,
                    Some("HG"),
                ),
            );
            let (q, _) = market.sign(at, quick_test(&lot_id, true));
            out.extend([o, s, r, q]);
        }
        out
    });
    events.extend(signed.into_iter().flatten());
    println!(
        "signed {} events in {:.1} s",
        events.len(),
        started.elapsed().as_secs_f64()
    );

    // Ingest through the writer (admission, tree, checkpoints) into memory.
    let store: Arc<dyn LedgerStore> = Arc::new(MemStore::new());
    let log = LogSigner::new("foodtrace/bench", SigningKey::from_bytes(&[0x55; 32])).unwrap();
    let verifier = LogVerifier::parse(&log.verifier_key()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        let config = WriterConfig {
            queue_capacity: 8192,
            max_group: 4096,
            ..WriterConfig::default()
        };
        let ledger = Ledger::start(store.clone(), log, config).unwrap();
        let identity = AuthorityIdentity {
            party_id: authority.id().clone(),
            name: "监管局".into(),
            region: "210112".into(),
        };
        initialize(
            &ledger,
            authority.signer(),
            &identity,
            now - Duration::days(400),
        )
        .await
        .unwrap();
        ledger_node::submit_in_order(&ledger, events.iter().cloned())
            .await
            .unwrap_or_else(|(i, r)| panic!("event {i}: {r}"));
        let size = store.next_sequence().unwrap();
        ledger.wait_for_checkpoint(size).await.unwrap();
    });
    let ingest = started.elapsed();
    let n = store.next_sequence().unwrap() as usize;
    println!(
        "ingested {n} events into memory in {:.1} s ({:.0}/s, one writer thread)",
        ingest.as_secs_f64(),
        rate(n, ingest)
    );

    // The raw bounds, over the same signatures.
    let triples: Vec<(Vec<u8>, [u8; 64], [u8; 32])> = events
        .iter()
        .map(|event| {
            let wire = <pb::EventBody as prost::Message>::decode(event.body.as_slice()).unwrap();
            let signer = if wire.signer_party_id == authority.id().as_str() {
                authority.signer().public_key()
            } else {
                producers
                    .iter()
                    .chain(markets.iter())
                    .find(|p| p.id().as_str() == wire.signer_party_id)
                    .unwrap()
                    .signer()
                    .public_key()
            };
            (
                event.body.clone(),
                <[u8; 64]>::try_from(event.signature.as_slice()).unwrap(),
                signer,
            )
        })
        .collect();
    let sample = &triples[..triples.len().min(50_000)];
    let started = Instant::now();
    for (body, signature, key) in sample {
        assert!(verify_body(key, body, signature));
    }
    let single_core = rate(sample.len(), started.elapsed());
    let started = Instant::now();
    on_all_cores(&triples, |part| {
        for (body, signature, key) in part {
            assert!(verify_body(key, body, signature));
        }
    });
    let all_cores = rate(triples.len(), started.elapsed());
    let started = Instant::now();
    on_all_cores(&(0..triples.len()).collect::<Vec<_>>(), |part| {
        for batch in part.chunks(512) {
            let checks: Vec<SignatureCheck<'_>> = batch
                .iter()
                .map(|&i| SignatureCheck {
                    key: &triples[i].2,
                    body: &triples[i].0,
                    signature: &triples[i].1,
                })
                .collect();
            assert!(verify_batch(&checks), "valid batch");
        }
    });
    let batch_all_cores = rate(triples.len(), started.elapsed());
    // Issue #7's bound as it states it: ed25519-dalek's `verify_batch` of 256 signatures.
    let dalek: Vec<(
        ed25519_dalek::VerifyingKey,
        Vec<u8>,
        ed25519_dalek::Signature,
    )> = triples
        .iter()
        .map(|(body, signature, key)| {
            (
                ed25519_dalek::VerifyingKey::from_bytes(key).expect("a key"),
                ledger_core::contract::signing_message(body),
                ed25519_dalek::Signature::from_bytes(signature),
            )
        })
        .collect();
    let started = Instant::now();
    on_all_cores(&dalek, |part| {
        for chunk in part.chunks(256) {
            let keys: Vec<_> = chunk.iter().map(|(key, _, _)| *key).collect();
            let messages: Vec<&[u8]> = chunk.iter().map(|(_, m, _)| &m[..]).collect();
            let signatures: Vec<_> = chunk.iter().map(|(_, _, s)| *s).collect();
            assert!(ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok());
        }
    });
    let dalek_batch_all_cores = rate(dalek.len(), started.elapsed());

    // The audit.
    let started = Instant::now();
    let report = ledger_node::audit::audit(&*store, &verifier, |_, _| {})
        .expect("a clean ledger audits clean");
    let audit_elapsed = started.elapsed();
    let audit_rate = rate(report.n_events as usize, audit_elapsed);

    println!();
    println!(
        "| measurement ({} cores, {} events) | events/s | audit as a fraction |",
        cores(),
        n
    );
    println!("|---|---|---|");
    println!(
        "| Ed25519, the ledger's rule one at a time, one core | {single_core:.0} | {:.2} |",
        audit_rate / single_core
    );
    println!(
        "| Ed25519, the ledger's rule one at a time, all cores | {all_cores:.0} | {:.2} |",
        audit_rate / all_cores
    );
    println!(
        "| Ed25519, the ledger's rule in batches of 512, all cores | {batch_all_cores:.0} | {:.2} |",
        audit_rate / batch_all_cores
    );
    println!(
        "| ed25519-dalek verify_batch, batches of 256, all cores (the issue's bound) | {dalek_batch_all_cores:.0} | {:.2} |",
        audit_rate / dalek_batch_all_cores
    );
    println!(
        "| audit (replay + signatures + tree + {} checkpoints) | {audit_rate:.0} | 1.00 |",
        report.n_checkpoints
    );
    println!(
        "\naudit of {} events took {:.1} s",
        report.n_events,
        audit_elapsed.as_secs_f64()
    );
}
