//! The Merkle tree's golden vectors (a format change is a reviewed diff) and proptests:
//! every proof verifies, and any changed byte, index or size makes it fail.

use expect_test::{Expect, expect};
use ledger_core::contract::event_hash;
use ledger_core::merkle::{
    MemTree, TreeHash, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;

/// Leaf `i`: the event hash of `i` as 8 big-endian bytes, a signature of 64 bytes `i`,
/// recorded at `i` milliseconds.
fn leaf(i: u64) -> TreeHash {
    leaf_hash(&event_hash(&i.to_be_bytes()), &[i as u8; 64], i as i64)
}

fn tree(n: u64) -> MemTree {
    let mut tree = MemTree::new();
    for i in 0..n {
        tree.push(leaf(i));
    }
    tree
}

fn show(hashes: &[TreeHash]) -> String {
    hashes.iter().map(|h| format!("{h}\n")).collect()
}

#[test]
fn golden_roots() {
    let big = tree(1000);
    let roots: String = [0u64, 1, 2, 3, 4, 5, 6, 7, 8, 13, 100, 1000]
        .iter()
        .map(|&n| format!("{n:>4} {}\n", root(&big, n).unwrap()))
        .collect();
    expect![[r#"
           0 af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262
           1 cb54544647bec24188cab3b50abe302fcf6ecdd604696dd5599d210738c3fd56
           2 b0e301a22e6b90b4a89b9a87246029caf40bf83589389f1ded1dccc06cd7747e
           3 9cef2c0f264553179892c049415b939143f002988115aa148ec7eaef96319bcc
           4 8ab6db505d3f67b1cfd4d409782da5d46d478dcb3ad5796549c8a0215df21e4f
           5 2bb1d9f4d1ec933b0bad7efdbde465ebea3b0a93ce27e19c3049f76a2f01ce74
           6 28c9a3083351ea115d36a623218390b811397a9f51b5d3e490551f3ef23878c3
           7 ded9d2a90df6ed5bab9a82fbba25fcff6eab1c1bf8cd59addd6092c7a8a9d9f5
           8 6a3314b69a509273aeeba778de22704f570eec1393ed1cc3d225cb7b93a0ef6f
          13 ee4abcb1f6a1f59a3cc032b6b2c5a6e8b2a7aad34b8c3810e75496fc69bb2cea
         100 75958c5816529a6427ecb693d6aab61c788cf459a77698cc4a81ec875e0d9dde
        1000 097c02c0124a3d3baaab41fa6be39ce81d294d6e4264c793073cae0d5f612a43
    "#]]
    .assert_eq(&roots);
}

fn check_inclusion(index: u64, size: u64, expected: Expect) {
    expected.assert_eq(&show(&inclusion_proof(&tree(size), index, size).unwrap()));
}

fn check_consistency(old: u64, new: u64, expected: Expect) {
    expected.assert_eq(&show(&consistency_proof(&tree(new), old, new).unwrap()));
}

#[test]
fn golden_inclusion_proofs() {
    check_inclusion(0, 1, expect![[r#""#]]);
    check_inclusion(
        2,
        7,
        expect![[r#"
        0f939590cc12140a6e72476eee0fefd9a130e04294007fef89e444256ed9a20f
        b0e301a22e6b90b4a89b9a87246029caf40bf83589389f1ded1dccc06cd7747e
        b534aa39a964e3199ce509db7f7a9493c296ab94b6b0624422108dca5ac32870
    "#]],
    );
    check_inclusion(
        5,
        8,
        expect![[r#"
        21440fd4ca761eff97945eb35a41bcb4b4a1c385b9ea6a0f9848deab48e0a6cc
        3d5ac685d696d6ae2e67dbfd6bea9a448cd1be25444264d36e13a60258b6ef21
        8ab6db505d3f67b1cfd4d409782da5d46d478dcb3ad5796549c8a0215df21e4f
    "#]],
    );
    check_inclusion(
        12,
        13,
        expect![[r#"
        95ba8be80bc43741b30a6960e5275aa9115a49f876ca77d4d5b5eb990c1b5ee5
        6a3314b69a509273aeeba778de22704f570eec1393ed1cc3d225cb7b93a0ef6f
    "#]],
    );
}

#[test]
fn golden_consistency_proofs() {
    check_consistency(
        1,
        13,
        expect![[r#"
        65b08099cc585a8da3f35efc21f82ca1b85e7f01c0baabfbad5e51d2bcec93f2
        b280b110ed475594aab54593d905186bfbe323ed8a70943665eaf9a2db4cec9a
        6a2f28db9aeaf992b5e1ddd4642c001f78ccd52de0a3b9174c3b81236493188c
        ad1d38eb3bffd867b3886c754953f641937dcfbffa88239c074ca24121f54c5b
    "#]],
    );
    check_consistency(
        3,
        7,
        expect![[r#"
        d20be57dc37e1f67a408d7d1781e84cc5df0b8985cd48e1a970c3fb49f2edc1e
        0f939590cc12140a6e72476eee0fefd9a130e04294007fef89e444256ed9a20f
        b0e301a22e6b90b4a89b9a87246029caf40bf83589389f1ded1dccc06cd7747e
        b534aa39a964e3199ce509db7f7a9493c296ab94b6b0624422108dca5ac32870
    "#]],
    );
    check_consistency(
        4,
        8,
        expect![[r#"
        6a2f28db9aeaf992b5e1ddd4642c001f78ccd52de0a3b9174c3b81236493188c
    "#]],
    );
    check_consistency(
        6,
        8,
        expect![[r#"
        3dbda623a7c10edc924ccb39cfa23088743ea023f0b399c60b4a8238ccf8ca71
        3d5ac685d696d6ae2e67dbfd6bea9a448cd1be25444264d36e13a60258b6ef21
        8ab6db505d3f67b1cfd4d409782da5d46d478dcb3ad5796549c8a0215df21e4f
    "#]],
    );
}

fn flip(hash: &TreeHash, byte: usize, bit: u8) -> TreeHash {
    let mut bytes = hash.0;
    bytes[byte % 32] ^= 1 << (bit % 8);
    TreeHash(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_verify_and_any_change_fails(size in 1u64..300, index_seed in any::<u64>(), which in any::<prop::sample::Index>(), byte in 0usize..32, bit in 0u8..8) {
        let tree = tree(size);
        let index = index_seed % size;
        let r = tree.root();
        let proof = inclusion_proof(&tree, index, size).unwrap();
        prop_assert!(verify_inclusion(&leaf(index), index, size, &proof, &r).is_ok());
        // A changed proof element, leaf or root.
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = which.index(bad.len());
            bad[at] = flip(&bad[at], byte, bit);
            prop_assert!(verify_inclusion(&leaf(index), index, size, &bad, &r).is_err());
        }
        prop_assert!(verify_inclusion(&flip(&leaf(index), byte, bit), index, size, &proof, &r).is_err());
        prop_assert!(verify_inclusion(&leaf(index), index, size, &proof, &flip(&r, byte, bit)).is_err());
        // Another index or size.
        for other in [index ^ 1, index + 1, index.wrapping_sub(1)] {
            if other != index && other < size {
                prop_assert!(verify_inclusion(&leaf(index), other, size, &proof, &r).is_err(), "index {} accepted for {}", other, index);
            }
        }
        // A size is always checked with the root of that size (a signed checkpoint binds
        // the two): the proof for one size fails against the tree of another.
        let bigger = self::tree(size + 1);
        prop_assert!(verify_inclusion(&leaf(index), index, size + 1, &proof, &bigger.root()).is_err());
        if size > index + 1 {
            prop_assert!(verify_inclusion(&leaf(index), index, size - 1, &proof, &root(&tree, size - 1).unwrap()).is_err());
        }
        // A truncated or lengthened proof.
        if !proof.is_empty() {
            prop_assert!(verify_inclusion(&leaf(index), index, size, &proof[..proof.len() - 1], &r).is_err());
        }
        let mut longer = proof.clone();
        longer.push(leaf(0));
        prop_assert!(verify_inclusion(&leaf(index), index, size, &longer, &r).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_any_change_fails(new_size in 2u64..300, old_seed in any::<u64>(), which in any::<prop::sample::Index>(), byte in 0usize..32, bit in 0u8..8) {
        let tree = tree(new_size);
        let old_size = 1 + old_seed % (new_size - 1);
        let (old_root, new_root) = (root(&tree, old_size).unwrap(), tree.root());
        let proof = consistency_proof(&tree, old_size, new_size).unwrap();
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof).is_ok());
        let mut bad = proof.clone();
        let at = which.index(bad.len());
        bad[at] = flip(&bad[at], byte, bit);
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &bad).is_err());
        prop_assert!(verify_consistency(old_size, new_size, &flip(&old_root, byte, bit), &new_root, &proof).is_err());
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &flip(&new_root, byte, bit), &proof).is_err());
        // Sizes are checked with the roots of those sizes, as a checkpoint binds them.
        let bigger = self::tree(new_size + 1);
        prop_assert!(verify_consistency(old_size, new_size + 1, &old_root, &bigger.root(), &proof).is_err());
        if old_size + 1 < new_size {
            prop_assert!(verify_consistency(old_size + 1, new_size, &root(&tree, old_size + 1).unwrap(), &new_root, &proof).is_err());
        }
        // A forked history: the same old tree, a different leaf after it.
        let mut forked = MemTree::new();
        for i in 0..new_size {
            forked.push(if i == old_size { flip(&leaf(i), byte, bit) } else { leaf(i) });
        }
        prop_assert!(verify_consistency(old_size, new_size, &old_root, &forked.root(), &proof).is_err());
    }
}
