//! criterion benchmarks of the ingest path's steps that need a store: decoding and
//! admission of one event (with and without its signature check), and appending a commit group of 1,024
//! events to RocksDB with a synced write. Hashing, signing, verifying, Merkle appends and
//! proofs are in `ledger-core`'s benchmarks.
//!
//! `cargo bench -p ledger-node --bench ingest_paths`

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use district_synth::Recorder;
use district_synth::load::{CHAIN_LEN, LoadParties};
use ledger_core::SignedEvent;
use ledger_core::admission::{Admission, ViewedEvent, admit, admit_deferring_signature};
use ledger_core::merkle::{Frontier, leaf_hash};
use ledger_core::model::PartyRole;
use ledger_node::view::PendingView;
use ledger_rocksdb::RocksStore;
use ledger_store::{CommitGroup, LedgerStore, MemStore, NewEvent};

fn decode(event: ledger_proto::pb::SignedEvent) -> SignedEvent {
    ledger_proto::decode_signed_event(event).expect("generated events decode")
}

/// A store holding an authority, 1,000 parties and `chains` supply chains.
fn ledger_with_chains(chains: usize) -> (MemStore, LoadParties, DateTime<Utc>) {
    let store = MemStore::new();
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let authority = Recorder::new(district_synth::authority_id(), PartyRole::Authority, key);
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T03:00:00+08:00").unwrap();
    let now = Utc::now().trunc_subsecs(3);
    let parties = LoadParties::new(1000);
    let genesis = district_synth::genesis(&authority, at - chrono::Duration::days(2));
    let mut events = vec![genesis];
    events.extend(parties.registrations(&authority, at - chrono::Duration::days(1)));
    for i in 0..chains {
        events.extend(parties.chain("bench", i, at));
    }
    for event in events {
        append(&store, &decode(event), now);
    }
    (store, parties, now)
}

/// Admits and commits one event alone.
fn append(store: &MemStore, event: &SignedEvent, now: DateTime<Utc>) {
    let sequence = store.next_sequence().unwrap();
    let view = PendingView::new(store);
    let Admission::New(changes) = admit(&view, event, sequence, now).expect("admitted") else {
        panic!("a duplicate")
    };
    let group = CommitGroup {
        events: vec![NewEvent::of(
            event,
            sequence,
            now,
            |link| store.sequence_of(link).ok().flatten(),
            |lot| Some(store.lot(lot).ok().flatten()?.created_at_sequence),
        )],
        lots: changes.new_lot.into_iter().collect(),
        parties: changes.party.into_iter().collect(),
        ..CommitGroup::default()
    };
    store.commit(&group).unwrap();
}

fn admission(c: &mut Criterion) {
    let (store, parties, now) = ledger_with_chains(2_000);
    // The next chain's first three events are in; its receipt at the market (which looks
    // up the shipment it names, the lot and both parties) is what gets admitted.
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T03:00:00+08:00").unwrap();
    let chain: Vec<SignedEvent> = parties
        .chain("bench", 2_000, at)
        .into_iter()
        .map(decode)
        .collect();
    for event in &chain[..2] {
        append(&store, event, now);
    }
    let receipt = &chain[2];
    let sequence = store.next_sequence().unwrap();
    let mut group = c.benchmark_group("decode");
    let wire = ledger_proto::pb::SignedEvent {
        body: receipt.body_bytes().to_vec(),
        signature: receipt.signature().to_vec(),
    };
    group.bench_function("receipt, checked and canonical", |b| {
        b.iter_batched(
            || wire.clone(),
            |wire| black_box(decode(wire)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let mut group = c.benchmark_group("admission");
    group.bench_function("receipt, signature deferred", |b| {
        b.iter(|| {
            let view = PendingView::new(&store);
            black_box(admit_deferring_signature(&view, receipt, sequence, now).unwrap())
        })
    });
    group.bench_function("receipt, signature checked", |b| {
        b.iter(|| {
            let view = PendingView::new(&store);
            black_box(admit(&view, receipt, sequence, now).unwrap())
        })
    });
    group.bench_function("receipt, pending view add", |b| {
        b.iter_batched(
            || PendingView::new(&store),
            |mut view| {
                view.add(
                    receipt.hash(),
                    ViewedEvent {
                        sequence,
                        signature: *receipt.signature(),
                        body: receipt.body().clone(),
                    },
                    None,
                    None,
                );
                view
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Groups of 1,024 load events, appended to RocksDB with a synced write each.
fn store_append(c: &mut Criterion) {
    const GROUP: usize = 1024;
    let parties = LoadParties::new(1000);
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T03:00:00+08:00").unwrap();
    let now = Utc::now().trunc_subsecs(3);
    let events: Vec<SignedEvent> = (0..GROUP.div_ceil(CHAIN_LEN))
        .flat_map(|i| parties.chain("bench", i, at))
        .take(GROUP)
        .map(decode)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = RocksStore::open(dir.path()).unwrap();
    let mut frontier = Frontier::default();
    let mut group_of = |first: u64| -> CommitGroup {
        let mut group = CommitGroup::default();
        for (i, event) in events.iter().enumerate() {
            let sequence = first + i as u64;
            group.tree_nodes.extend(frontier.append(leaf_hash(
                &event.hash(),
                event.signature(),
                now.timestamp_millis(),
            )));
            // Links and lots unresolved: every lot entry is filed as if its event
            // created the lot.
            group
                .events
                .push(NewEvent::of(event, sequence, now, |_| None, |_| None));
        }
        group
    };
    let mut group = c.benchmark_group("store_append");
    group.throughput(Throughput::Elements(GROUP as u64));
    group.sample_size(20);
    group.bench_function("rocksdb, 1,024 events, synced", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let next = store.next_sequence().unwrap();
                let commit = group_of(next);
                let started = Instant::now();
                store.commit(&commit).unwrap();
                spent += started.elapsed();
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, admission, store_append);
criterion_main!(benches);
