//! Checking that an event is in the log, from the event, a proof and a signed checkpoint
//! alone: what a court, an auditor or a producer's own system does without trusting the
//! server that handed them over.

use crate::checkpoint::{CheckpointError, LogVerifier, VerifiedCheckpoint};
use crate::contract::event_hash;
use crate::merkle::{ProofError, TreeHash, leaf_hash, verify_consistency, verify_inclusion};

/// An event as the log holds it: what its leaf commits to.
#[derive(Debug, Clone, Copy)]
pub struct EventLeaf<'a> {
    /// Its sequence number (its leaf index).
    pub sequence: u64,
    /// The exact body bytes.
    pub body: &'a [u8],
    /// The signature.
    pub signature: &'a [u8; 64],
    /// When the node recorded it, Unix milliseconds.
    pub recorded_at_millis: i64,
}

impl EventLeaf<'_> {
    /// The leaf hash of this event.
    pub fn leaf_hash(&self) -> TreeHash {
        leaf_hash(
            &event_hash(self.body),
            self.signature,
            self.recorded_at_millis,
        )
    }
}

/// Why a proof of an event was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The checkpoint is malformed or not signed by the expected key.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The proof does not connect the event to the checkpoint's root.
    #[error("inclusion: {0}")]
    Inclusion(ProofError<()>),
    /// The proof does not show the older tree is a prefix of the newer.
    #[error("consistency: {0}")]
    Consistency(ProofError<()>),
}

/// Verifies the checkpoint `note` with `verifier`, then that `event` is leaf
/// `event.sequence` of the tree the checkpoint states, by `proof`.
pub fn verify_event_in_checkpoint(
    verifier: &LogVerifier,
    note: &str,
    event: &EventLeaf<'_>,
    proof: &[TreeHash],
) -> Result<VerifiedCheckpoint, VerifyError> {
    let checkpoint = verifier.verify(note)?;
    verify_inclusion(
        &event.leaf_hash(),
        event.sequence,
        checkpoint.size,
        proof,
        &checkpoint.root,
    )
    .map_err(VerifyError::Inclusion)?;
    Ok(checkpoint)
}

/// Verifies two checkpoints of the same log and that the older one's tree is a prefix of
/// the newer one's. A failure with both signatures valid is proof of a fork.
pub fn verify_checkpoints_consistent(
    verifier: &LogVerifier,
    older_note: &str,
    newer_note: &str,
    proof: &[TreeHash],
) -> Result<(VerifiedCheckpoint, VerifiedCheckpoint), VerifyError> {
    let older = verifier.verify(older_note)?;
    let newer = verifier.verify(newer_note)?;
    verify_consistency(older.size, newer.size, &older.root, &newer.root, proof)
        .map_err(VerifyError::Consistency)?;
    Ok((older, newer))
}
