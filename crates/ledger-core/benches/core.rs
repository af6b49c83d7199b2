//! Hot paths of the core: hashing, signing, verifying, Merkle appends and proofs,
//! checkpoint signing, recall traces over in-memory lot facts. Run:
//! `cargo bench -p ledger-core --bench core`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{LogSigner, LogVerifier};
use ledger_core::contract::{event_hash, sign_body, signing_message};
use ledger_core::merkle::{
    Frontier, MemTree, TreeHash, consistency_proof, inclusion_proof, leaf_hash, verify_consistency,
    verify_inclusion,
};
use ledger_core::signature::{
    KeyCache, SignatureCheck, verify_batch, verify_batch_with, verify_body,
};

/// The README's test-vector body: a 193-byte ORIGIN.
const BODY_HEX: &str = "0801121239313231303131324d4130303030303031571a10636639323463663231646137353536322219323032362d31312d32385430363a33303a30302b30383a3030527c0a330a0d484e3030312d312d30303030311209e5a4a7e799bde88f9c1a09766567657461626c65220c0a06313230302e3512026b67120a323032362d31312d32371a063231303131322223e6b591e58d97e58cba20e69d8ee79bb8e8a197e9819320e894ace88f9ce59fbae59cb02a0a484730303030303030313001";

const TREE_SIZE: u64 = 1 << 20;

fn leaf(i: u64) -> TreeHash {
    leaf_hash(&event_hash(&i.to_be_bytes()), &[i as u8; 64], i as i64)
}

fn signatures(c: &mut Criterion) {
    let body = hex::decode(BODY_HEX).unwrap();
    let key = SigningKey::from_bytes(&std::array::from_fn(|i| i as u8));
    let signature = sign_body(&key, &body);
    let verifying = key.verifying_key();
    c.bench_function("event_hash/193B", |b| {
        b.iter(|| event_hash(black_box(&body)))
    });
    c.bench_function("sign/193B", |b| {
        b.iter(|| sign_body(&key, black_box(&body)))
    });
    let message = signing_message(&body);
    c.bench_function("verify_strict/193B", |b| {
        b.iter(|| {
            assert!(
                verifying
                    .verify_strict(black_box(&message), &signature)
                    .is_ok()
            )
        })
    });
    let public = verifying.to_bytes();
    let signature = signature.to_bytes();
    c.bench_function("verify/193B", |b| {
        b.iter(|| assert!(verify_body(&public, black_box(&body), &signature)))
    });
    // A batch as the writer makes one: 512 events by 64 parties.
    let keys: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let bodies = numbered_bodies(&body, 512);
    let signed = sign_round_robin(&keys, &bodies);
    let checks = checks_of(&signed, &bodies);
    let mut group = c.benchmark_group("verify_batch");
    group.throughput(criterion::Throughput::Elements(checks.len() as u64));
    group.bench_function("512 signatures, 64 keys", |b| {
        b.iter(|| assert!(verify_batch(black_box(&checks))))
    });
    group.bench_function(
        "512 signatures, 64 keys, ed25519-zebra batch (baseline)",
        |b| b.iter(|| assert!(zebra_batch(black_box(&checks)))),
    );
    group.finish();

    // Half a writer's group of the load generator's (1,000 parties): 256 signatures,
    // each by a key of its own. ed25519-zebra's batch verifier (the baseline: what
    // `verify_batch` was), `verify_batch` (the same equation, keys decompressed in each
    // batch), and `verify_batch_with` a cache that kept the keys from earlier batches.
    let keys = distinct_keys(7, 256);
    let signed = sign_round_robin(&keys, &bodies[..256]);
    let checks = checks_of(&signed, &bodies);
    let mut group = c.benchmark_group("verify_batch_256_keys");
    group.throughput(criterion::Throughput::Elements(checks.len() as u64));
    group.bench_function("ed25519-zebra batch (baseline)", |b| {
        b.iter(|| assert!(zebra_batch(black_box(&checks))))
    });
    group.bench_function("verify_batch", |b| {
        b.iter(|| assert!(verify_batch(black_box(&checks))))
    });
    let mut cache = KeyCache::new(4096);
    group.bench_function("verify_batch_with, keys kept", |b| {
        b.iter(|| assert!(verify_batch_with(black_box(&checks), &mut cache)))
    });
    group.finish();

    // The cost of a signature by the size of the batch, keys kept (1,000 signers, as in
    // the load generator's workload): what the writer's halves of a group (256) and the
    // audit's chunks (4,096) pay.
    let keys = distinct_keys(9, 1000);
    let bodies = numbered_bodies(&body, 4096);
    let signed = sign_round_robin(&keys, &bodies);
    let checks = checks_of(&signed, &bodies);
    let mut cache = KeyCache::new(4096);
    let mut group = c.benchmark_group("verify_batch_by_size");
    for size in [64, 256, 1024, 4096] {
        group.throughput(criterion::Throughput::Elements(size as u64));
        group.bench_function(format!("{size} signatures, keys kept"), |b| {
            b.iter(|| assert!(verify_batch_with(black_box(&checks[..size]), &mut cache)))
        });
    }
    group.finish();
}

/// `n` distinct keys: seeds of `fill` bytes, each starting with its number.
fn distinct_keys(fill: u8, n: u32) -> Vec<SigningKey> {
    (0..n)
        .map(|i| {
            let mut seed = [fill; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect()
}

/// `n` distinct bodies: `body` followed by its number.
fn numbered_bodies(body: &[u8], n: u32) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut numbered = body.to_vec();
            numbered.extend_from_slice(&i.to_le_bytes());
            numbered
        })
        .collect()
}

/// Each body signed by the keys in turn: (public key, signature).
fn sign_round_robin(keys: &[SigningKey], bodies: &[Vec<u8>]) -> Vec<([u8; 32], [u8; 64])> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let key = &keys[i % keys.len()];
            (
                key.verifying_key().to_bytes(),
                sign_body(key, body).to_bytes(),
            )
        })
        .collect()
}

/// The checks of `signed` over `bodies`, pairwise.
fn checks_of<'a>(
    signed: &'a [([u8; 32], [u8; 64])],
    bodies: &'a [Vec<u8>],
) -> Vec<SignatureCheck<'a>> {
    signed
        .iter()
        .zip(bodies)
        .map(|((key, signature), body)| SignatureCheck {
            key,
            body,
            signature,
        })
        .collect()
}

/// The baseline: ed25519-zebra's batch verifier, with coefficients from a BLAKE3
/// transcript of the batch as `verify_batch` draws them (what `verify_batch` was before
/// it had its own equation and a key cache).
fn zebra_batch(checks: &[SignatureCheck<'_>]) -> bool {
    use rand::SeedableRng;
    let mut transcript = blake3::Hasher::new_derive_key("bench transcript");
    let mut verifier = ed25519_zebra::batch::Verifier::new();
    let mut messages = Vec::with_capacity(checks.len());
    for check in checks {
        transcript.update(check.key);
        transcript.update(check.signature);
        transcript.update(&(check.body.len() as u64).to_le_bytes());
        transcript.update(check.body);
        messages.push(signing_message(check.body));
    }
    for (check, message) in checks.iter().zip(&messages) {
        verifier.queue((
            ed25519_zebra::VerificationKeyBytes::from(*check.key),
            ed25519_zebra::Signature::from_bytes(check.signature),
            &message[..],
        ));
    }
    let seed: [u8; 32] = *transcript.finalize().as_bytes();
    verifier.verify(rand::rngs::StdRng::from_seed(seed)).is_ok()
}

fn merkle(c: &mut Criterion) {
    let mut tree = MemTree::new();
    for i in 0..TREE_SIZE {
        tree.push(leaf(i));
    }
    let root = tree.root();
    let mut frontier = Frontier::load(&tree, TREE_SIZE).unwrap();
    let mut next = TREE_SIZE;
    c.bench_function("merkle/append", |b| {
        b.iter(|| {
            next += 1;
            black_box(frontier.append(leaf(next)))
        })
    });
    let mut index = 0u64;
    c.bench_function("merkle/inclusion_proof/2^20", |b| {
        b.iter(|| {
            index = (index + 7919) % TREE_SIZE;
            inclusion_proof(&tree, index, TREE_SIZE).unwrap()
        })
    });
    let proof = inclusion_proof(&tree, 123_456, TREE_SIZE).unwrap();
    let leaf_123456 = leaf(123_456);
    c.bench_function("merkle/verify_inclusion/2^20", |b| {
        b.iter(|| {
            verify_inclusion(&leaf_123456, 123_456, TREE_SIZE, black_box(&proof), &root).unwrap()
        })
    });
    let old_size = 777_777;
    let old_root = ledger_core::merkle::root(&tree, old_size).unwrap();
    c.bench_function("merkle/consistency_proof/777777-2^20", |b| {
        b.iter(|| consistency_proof(&tree, black_box(old_size), TREE_SIZE).unwrap())
    });
    let consistency = consistency_proof(&tree, old_size, TREE_SIZE).unwrap();
    c.bench_function("merkle/verify_consistency/777777-2^20", |b| {
        b.iter(|| {
            verify_consistency(
                old_size,
                TREE_SIZE,
                &old_root,
                &root,
                black_box(&consistency),
            )
            .unwrap()
        })
    });
    c.bench_function("merkle/root/2^20-1", |b| {
        b.iter(|| ledger_core::merkle::root(&tree, black_box(TREE_SIZE - 1)).unwrap())
    });
}

fn checkpoints(c: &mut Criterion) {
    let signer = LogSigner::new("foodtrace/ledger", SigningKey::from_bytes(&[7; 32])).unwrap();
    let verifier = LogVerifier::parse(&signer.verifier_key()).unwrap();
    let note = signer.sign(TREE_SIZE, leaf(1));
    c.bench_function("checkpoint/sign", |b| {
        b.iter(|| signer.sign(black_box(TREE_SIZE), leaf(1)))
    });
    c.bench_function("checkpoint/verify", |b| {
        b.iter(|| verifier.verify(black_box(&note)).unwrap())
    });
}

/// The benchmark city's busy wholesale lot, in memory: split 50 ways at a market, 40
/// children through distributors to four receivers each, 10 to schools.
fn busy_lot() -> (
    std::collections::HashMap<ledger_core::LotId, std::sync::Arc<[ledger_core::trace::LotFact]>>,
    ledger_core::LotId,
) {
    use ledger_core::model::{Quantity, RegionCode, Stage, Text, TransformKind};
    use ledger_core::trace::{FactKind, LotFact};
    use ledger_core::{EventHash, LotId, PartyId};
    let party = |n: usize| PartyId::uscc_with_check(&format!("91210112MA{n:07}")).unwrap();
    let kg = |n: &str| Quantity::parse(n, "kg").unwrap();
    let text = |s: &str| Text::parse(s, 100).unwrap();
    let mut seq = 0u64;
    let mut fact = |signer: usize, links: Vec<u64>, kind: FactKind| {
        seq += 1;
        LotFact {
            sequence: seq,
            hash: EventHash([seq as u8; 32]),
            occurred_at_millis: 1_764_000_000_000 + 1000 * seq as i64,
            signer: party(signer),
            links,
            kind,
        }
    };
    let root = LotId::parse("SY006250").unwrap();
    let mut lots: std::collections::HashMap<LotId, Vec<LotFact>> = Default::default();
    let origin = fact(
        1,
        vec![],
        FactKind::Origin {
            product_name: text("大白菜"),
            product_category: text("vegetable"),
            quantity: kg("2000"),
            production_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            origin_region: RegionCode::parse("210112").unwrap(),
            origin_place: text("浑南"),
            certificate_number: text("HG1"),
        },
    );
    let to_market = fact(
        1,
        vec![origin.sequence],
        FactKind::Shipped {
            quantity: kg("2000"),
            recipient: party(2),
            document_number: text("SH"),
        },
    );
    let entry = fact(
        2,
        vec![to_market.sequence],
        FactKind::Received {
            stage: Stage::MarketEntry,
            quantity: kg("2000"),
            supplier: None,
            certificate_number: None,
        },
    );
    let entry_seq = entry.sequence;
    lots.entry(root.clone())
        .or_default()
        .extend([origin, to_market, entry]);
    for c in 0..50 {
        let child = LotId::parse(&format!("SY006250-{c:02}")).unwrap();
        let split = fact(
            2,
            vec![entry_seq],
            FactKind::Consumed {
                transform: TransformKind::Split,
                quantity: kg("40"),
                output: child.clone(),
            },
        );
        let split_seq = split.sequence;
        lots.entry(root.clone()).or_default().push(split);
        let produced = LotFact {
            kind: FactKind::Produced {
                transform: TransformKind::Split,
                product_name: text("大白菜"),
                product_category: text("vegetable"),
                quantity: kg("40"),
                inputs: vec![(root.clone(), kg("40"))],
            },
            ..lots[&root].last().unwrap().clone()
        };
        let mut facts = vec![produced];
        let receiver = 100 + c;
        let ship = fact(
            2,
            vec![split_seq],
            FactKind::Shipped {
                quantity: kg("40"),
                recipient: party(receiver),
                document_number: text("PS"),
            },
        );
        let held = fact(
            receiver,
            vec![ship.sequence],
            FactKind::Received {
                stage: Stage::Warehouse,
                quantity: kg("40"),
                supplier: None,
                certificate_number: None,
            },
        );
        let held_seq = held.sequence;
        facts.extend([ship, held]);
        if c < 40 {
            for f in 0..4 {
                let to = 1000 + 4 * c + f;
                let onward = fact(
                    receiver,
                    vec![held_seq],
                    FactKind::Shipped {
                        quantity: kg("5"),
                        recipient: party(to),
                        document_number: text("PS"),
                    },
                );
                let got = fact(
                    to,
                    vec![onward.sequence],
                    FactKind::Received {
                        stage: Stage::Retail,
                        quantity: kg("5"),
                        supplier: None,
                        certificate_number: None,
                    },
                );
                facts.extend([onward, got]);
            }
        }
        lots.insert(child, facts);
    }
    (
        lots.into_iter()
            .map(|(lot, facts)| (lot, facts.into()))
            .collect(),
        root,
    )
}

struct Facts(
    std::collections::HashMap<ledger_core::LotId, std::sync::Arc<[ledger_core::trace::LotFact]>>,
);

impl ledger_core::trace::FactSource for Facts {
    type Error = std::convert::Infallible;
    fn facts(
        &self,
        lot: &ledger_core::LotId,
    ) -> Result<std::sync::Arc<[ledger_core::trace::LotFact]>, Self::Error> {
        Ok(self
            .0
            .get(lot)
            .cloned()
            .unwrap_or_else(|| Vec::new().into()))
    }
}

fn traces(c: &mut Criterion) {
    use ledger_core::trace::{TraceOptions, downstream, upstream};
    let (lots, root) = busy_lot();
    let child = ledger_core::LotId::parse("SY006250-07").unwrap();
    let facts = Facts(lots);
    let options = TraceOptions::default();
    let trace = downstream(&facts, &root, &options).unwrap().unwrap();
    assert_eq!((trace.lots.len(), trace.parties.len()), (51, 212));
    c.bench_function("trace/downstream/51 lots, 212 parties", |b| {
        b.iter(|| downstream(&facts, black_box(&root), &options).unwrap())
    });
    c.bench_function("trace/upstream/child of a split", |b| {
        b.iter(|| upstream(&facts, black_box(&child), &options).unwrap())
    });
}

criterion_group!(benches, signatures, merkle, checkpoints, traces);
criterion_main!(benches);
