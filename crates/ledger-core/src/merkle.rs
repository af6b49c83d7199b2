//! The Merkle tree over the global log: RFC 9162's shape with BLAKE3 as its hash.
//!
//! # The bytes
//!
//! | node | preimage | function |
//! |------|----------|----------|
//! | empty tree | nothing | `BLAKE3("")` |
//! | leaf of event `i` | `0x00`, event hash (32), signature (64), recorded-at (i64 big-endian Unix milliseconds, 8) | BLAKE3 |
//! | interior | `0x01`, left child (32), right child (32) | BLAKE3 |
//!
//! The prefixes keep leaves and interior nodes apart (RFC 9162 §2.1.1), so no leaf can be
//! passed off as a subtree. The leaf commits to the event hash (and so to every byte of
//! the body), to the signature and to when the node recorded the event; its position in
//! the tree is its sequence number. `MTH` splits a list of `n > 1` leaves at the largest
//! power of two `k < n`: `MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))`.
//!
//! # Storage without rebuilds
//!
//! Only *perfect* subtrees are ever stored: node `(level, index)` is the root of leaves
//! `[index·2^level, (index+1)·2^level)`, written once, when its last leaf is appended
//! ([`Frontier::append`]). Any other subtree this module needs, the root at any size and
//! every proof, is combined from `O(log n)` of them ([`subtree_root`]), so a root or a
//! proof costs `O(log² n)` node reads at most and never a rebuild.
//!
//! Proof generation follows RFC 9162 §2.1.3.1 and §2.1.4.1; verification is the
//! algorithms of §2.1.3.2 and §2.1.4.2, taking nothing from whoever served the proof.

use std::fmt;

use crate::ids::EventHash;

/// A node of the tree (a leaf, an interior node or a root).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeHash(pub [u8; 32]);

impl fmt::Display for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeHash({self})")
    }
}

/// The root of the empty tree.
pub fn empty_root() -> TreeHash {
    TreeHash(*blake3::hash(b"").as_bytes())
}

/// The leaf of an event.
pub fn leaf_hash(
    event_hash: &EventHash,
    signature: &[u8; 64],
    recorded_at_millis: i64,
) -> TreeHash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0x00]);
    hasher.update(event_hash.as_bytes());
    hasher.update(signature);
    hasher.update(&recorded_at_millis.to_be_bytes());
    TreeHash(*hasher.finalize().as_bytes())
}

/// An interior node.
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0x01]);
    hasher.update(&left.0);
    hasher.update(&right.0);
    TreeHash(*hasher.finalize().as_bytes())
}

/// Where perfect subtrees are read from: node `(level, index)` covers leaves
/// `[index << level, (index + 1) << level)`.
pub trait NodeReader {
    /// What a failed read returns.
    type Error;
    /// A stored perfect subtree's root. Only nodes whose leaves have all been appended
    /// are asked for.
    fn node(&self, level: u8, index: u64) -> Result<TreeHash, Self::Error>;
}

/// Why a proof or a request for one was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    /// The request itself is impossible (an index outside the tree, a shrinking tree).
    #[error("{0}")]
    Invalid(String),
    /// The proof does not prove the claim.
    #[error("{0}")]
    Mismatch(String),
    /// Reading a node failed.
    #[error("reading the tree failed")]
    Read(E),
}

fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])`, for the ranges RFC 9162's recursion produces: `start` is a
/// multiple of the largest power of two not above `end - start`.
pub fn subtree_root<R: NodeReader>(reader: &R, start: u64, end: u64) -> Result<TreeHash, R::Error> {
    let size = end - start;
    if size == 0 {
        return Ok(empty_root());
    }
    if size.is_power_of_two() && start.is_multiple_of(size) {
        return reader.node(size.trailing_zeros() as u8, start / size);
    }
    let k = largest_power_of_two_below(size);
    let left = subtree_root(reader, start, start + k)?;
    let right = subtree_root(reader, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of the first `size` leaves.
pub fn root<R: NodeReader>(reader: &R, size: u64) -> Result<TreeHash, R::Error> {
    subtree_root(reader, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1).
pub fn inclusion_proof<R: NodeReader>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<TreeHash>, ProofError<R::Error>> {
    if index >= size {
        return Err(ProofError::Invalid(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let mut proof = Vec::new();
    let (mut start, mut end, mut index) = (0u64, size, index);
    // Walk down from the root, collecting the sibling of each step; the proof lists them
    // from the leaf up, so reverse at the end.
    while end - start > 1 {
        let k = largest_power_of_two_below(end - start);
        if index < k {
            proof.push(subtree_root(reader, start + k, end).map_err(ProofError::Read)?);
            end = start + k;
        } else {
            proof.push(subtree_root(reader, start, start + k).map_err(ProofError::Read)?);
            start += k;
            index -= k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof between the trees of `old_size` and `new_size` leaves
/// (RFC 9162 §2.1.4.1). Empty when the sizes are equal or the old tree is empty.
pub fn consistency_proof<R: NodeReader>(
    reader: &R,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<TreeHash>, ProofError<R::Error>> {
    if old_size > new_size {
        return Err(ProofError::Invalid(format!(
            "a tree of {new_size} leaves cannot extend one of {old_size}"
        )));
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    let mut proof = Vec::new();
    let (mut start, mut end, mut m, mut whole) = (0u64, new_size, old_size, true);
    loop {
        if m == end - start {
            if !whole {
                proof.push(subtree_root(reader, start, end).map_err(ProofError::Read)?);
            }
            break;
        }
        let k = largest_power_of_two_below(end - start);
        if m <= k {
            proof.push(subtree_root(reader, start + k, end).map_err(ProofError::Read)?);
            end = start + k;
        } else {
            proof.push(subtree_root(reader, start, start + k).map_err(ProofError::Read)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &TreeHash,
    index: u64,
    size: u64,
    proof: &[TreeHash],
    root: &TreeHash,
) -> Result<(), ProofError<()>> {
    if index >= size {
        return Err(ProofError::Invalid(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let (mut f_n, mut s_n, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::Mismatch(
                "the inclusion proof is too long".into(),
            ));
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::Mismatch(
            "the inclusion proof is too short".into(),
        ));
    }
    if r != *root {
        return Err(ProofError::Mismatch(format!(
            "the inclusion proof leads to root {r}, not {root}"
        )));
    }
    Ok(())
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the tree
/// of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &TreeHash,
    new_root: &TreeHash,
    proof: &[TreeHash],
) -> Result<(), ProofError<()>> {
    if old_size > new_size {
        return Err(ProofError::Invalid(format!(
            "a tree of {new_size} leaves cannot extend one of {old_size}"
        )));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::Mismatch(
                "a proof between equal sizes must be empty".into(),
            ));
        }
        if old_root != new_root {
            return Err(ProofError::Mismatch(format!(
                "two different roots for {old_size} leaves: {old_root} and {new_root}"
            )));
        }
        return Ok(());
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return Err(ProofError::Mismatch(
                "a proof from the empty tree must be empty".into(),
            ));
        }
        if *old_root != empty_root() {
            return Err(ProofError::Mismatch(format!(
                "{old_root} is not the empty tree's root"
            )));
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::Mismatch(
            "the consistency proof is empty".into(),
        ));
    }
    let mut path: Vec<TreeHash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (path[0], path[0]);
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::Mismatch(
                "the consistency proof is too long".into(),
            ));
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::Mismatch(
            "the consistency proof is too short".into(),
        ));
    }
    if f_r != *old_root {
        return Err(ProofError::Mismatch(format!(
            "the proof leads to old root {f_r}, not {old_root}: the old tree is not a prefix"
        )));
    }
    if s_r != *new_root {
        return Err(ProofError::Mismatch(format!(
            "the proof leads to new root {s_r}, not {new_root}"
        )));
    }
    Ok(())
}

/// The right edge of the tree: the roots of its perfect subtrees, largest first. Enough
/// to append leaves and compute the root without reading anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    subtrees: Vec<TreeHash>,
}

/// A perfect subtree completed by an append, to be stored as node `(level, index)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewNode {
    /// Its height: leaves are level 0.
    pub level: u8,
    /// Its position among the nodes of its level.
    pub index: u64,
    /// Its hash.
    pub hash: TreeHash,
}

impl Frontier {
    /// The empty tree's frontier.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// The frontier of the tree of `size` leaves, read from stored nodes.
    pub fn load<R: NodeReader>(reader: &R, size: u64) -> Result<Frontier, R::Error> {
        let mut subtrees = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1 << level) != 0 {
                subtrees.push(reader.node(level, start >> level)?);
                start += 1 << level;
            }
        }
        Ok(Frontier { size, subtrees })
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns the nodes it completes (the leaf itself first), each to be
    /// stored in the same batch as the event.
    pub fn append(&mut self, leaf: TreeHash) -> Vec<NewNode> {
        let mut new_nodes = vec![NewNode {
            level: 0,
            index: self.size,
            hash: leaf,
        }];
        let (mut hash, mut index, mut level) = (leaf, self.size, 0u8);
        while index & 1 == 1 {
            let left = self
                .subtrees
                .pop()
                .expect("an odd index has a left sibling on the frontier");
            hash = node_hash(&left, &hash);
            index >>= 1;
            level += 1;
            new_nodes.push(NewNode { level, index, hash });
        }
        self.subtrees.push(hash);
        self.size += 1;
        new_nodes
    }

    /// The root of the tree.
    pub fn root(&self) -> TreeHash {
        let mut subtrees = self.subtrees.iter().rev();
        let Some(last) = subtrees.next() else {
            return empty_root();
        };
        subtrees.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// Perfect subtrees kept in memory: for tests, tools and the in-memory store.
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    levels: Vec<Vec<TreeHash>>,
    frontier: Frontier,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> MemTree {
        MemTree::default()
    }

    /// Appends a leaf.
    pub fn push(&mut self, leaf: TreeHash) {
        for node in self.frontier.append(leaf) {
            let level = node.level as usize;
            if self.levels.len() <= level {
                self.levels.resize(level + 1, Vec::new());
            }
            debug_assert_eq!(self.levels[level].len() as u64, node.index);
            self.levels[level].push(node.hash);
        }
    }

    /// Leaves in the tree.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    pub fn root(&self) -> TreeHash {
        self.frontier.root()
    }
}

/// A node that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingNode {
    /// Its level.
    pub level: u8,
    /// Its index.
    pub index: u64,
}

impl NodeReader for MemTree {
    type Error = MissingNode;
    fn node(&self, level: u8, index: u64) -> Result<TreeHash, MissingNode> {
        self.levels
            .get(level as usize)
            .and_then(|nodes| nodes.get(index as usize))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9162's definition, straight from the text, over a list of leaves.
    fn reference_root(leaves: &[TreeHash]) -> TreeHash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = largest_power_of_two_below(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    pub(super) fn leaves(n: u64) -> Vec<TreeHash> {
        (0..n)
            .map(|i| {
                leaf_hash(
                    &crate::contract::event_hash(&i.to_be_bytes()),
                    &[i as u8; 64],
                    i as i64,
                )
            })
            .collect()
    }

    fn tree(leaves: &[TreeHash]) -> MemTree {
        let mut tree = MemTree::new();
        for leaf in leaves {
            tree.push(*leaf);
        }
        tree
    }

    #[test]
    fn roots_match_the_reference_definition_at_every_size() {
        let all = leaves(70);
        let mut tree = MemTree::new();
        assert_eq!(tree.root(), empty_root());
        for n in 1..=70u64 {
            tree.push(all[n as usize - 1]);
            let expected = reference_root(&all[..n as usize]);
            assert_eq!(tree.root(), expected, "frontier root at {n}");
            for m in 0..=n {
                assert_eq!(
                    root(&tree, m).unwrap(),
                    reference_root(&all[..m as usize]),
                    "stored root at {m} of {n}"
                );
            }
            assert_eq!(Frontier::load(&tree, n).unwrap().root(), expected);
        }
    }

    #[test]
    fn every_proof_verifies_up_to_40_leaves() {
        let all = leaves(40);
        let tree = tree(&all);
        for n in 1..=40u64 {
            let r = root(&tree, n).unwrap();
            for i in 0..n {
                let proof = inclusion_proof(&tree, i, n).unwrap();
                verify_inclusion(&all[i as usize], i, n, &proof, &r).unwrap();
            }
            for m in 0..=n {
                let proof = consistency_proof(&tree, m, n).unwrap();
                verify_consistency(m, n, &root(&tree, m).unwrap(), &r, &proof).unwrap();
            }
        }
    }

    #[test]
    fn bad_requests_are_refused() {
        let tree = tree(&leaves(5));
        assert!(matches!(
            inclusion_proof(&tree, 5, 5),
            Err(ProofError::Invalid(_))
        ));
        assert!(matches!(
            consistency_proof(&tree, 5, 4),
            Err(ProofError::Invalid(_))
        ));
        let r = tree.root();
        assert!(verify_inclusion(&leaves(1)[0], 9, 5, &[], &r).is_err());
        assert!(verify_consistency(3, 5, &r, &r, &[]).is_err());
    }
}
