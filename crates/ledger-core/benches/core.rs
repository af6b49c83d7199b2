//! Hot paths of the core: hashing, signing, verifying, Merkle appends and proofs,
//! checkpoint signing. Run: `cargo bench -p ledger-core --bench core`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::{LogSigner, LogVerifier};
use ledger_core::contract::{event_hash, sign_body, verify_body};
use ledger_core::merkle::{
    Frontier, MemTree, TreeHash, consistency_proof, inclusion_proof, leaf_hash, verify_consistency,
    verify_inclusion,
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
    c.bench_function("verify_strict/193B", |b| {
        b.iter(|| assert!(verify_body(&verifying, black_box(&body), &signature)))
    });
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

criterion_group!(benches, signatures, merkle, checkpoints);
criterion_main!(benches);
