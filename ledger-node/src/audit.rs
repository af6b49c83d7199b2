//! The audit: re-verify a whole ledger from its stored bytes, trusting nothing derived.
//!
//! Every event is read back in order and checked: its stored hash against its body, the
//! body's canonical encoding, every admission rule (signature, key validity, registry
//! status, links, lots) replayed from an empty state exactly as the writer applied them
//! (with the node's clock reading taken to be the event's recorded time), and the hash
//! index. The Merkle tree is rebuilt from the events' leaves and every stored checkpoint
//! is checked: its signature (with the verifier key given) and its root against the
//! rebuilt tree. The first problem found is reported with its sequence number.

use std::fmt;

use ledger_core::admission::{Admission, admit};
use ledger_core::checkpoint::LogVerifier;
use ledger_core::contract::event_hash;
use ledger_core::merkle::{MemTree, TreeHash, leaf_hash};
use ledger_proto::{decode_signed_event, pb};
use ledger_store::{CommitGroup, EventIndex, LedgerStore, MemStore, NewEvent, StoreTree};

use crate::view::PendingView;

/// What a clean audit found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Events verified.
    pub n_events: u64,
    /// Checkpoints verified.
    pub n_checkpoints: u64,
    /// The root of the whole tree.
    pub root: TreeHash,
}

/// Where the audit found the ledger wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFailure {
    /// Event `sequence` is wrong.
    Event {
        /// Its sequence number.
        sequence: u64,
        /// What is wrong.
        problem: String,
    },
    /// The checkpoint of `tree_size` leaves is wrong.
    Checkpoint {
        /// Its tree size.
        tree_size: u64,
        /// What is wrong.
        problem: String,
    },
    /// The store could not be read, or holds a tree that does not match the events.
    Store(String),
}

impl fmt::Display for AuditFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditFailure::Event { sequence, problem } => write!(f, "event {sequence}: {problem}"),
            AuditFailure::Checkpoint { tree_size, problem } => {
                write!(f, "checkpoint of {tree_size} events: {problem}")
            }
            AuditFailure::Store(problem) => write!(f, "store: {problem}"),
        }
    }
}

impl std::error::Error for AuditFailure {}

fn at(sequence: u64, problem: impl Into<String>) -> AuditFailure {
    AuditFailure::Event {
        sequence,
        problem: problem.into(),
    }
}

/// Audits `source`. Checkpoint signatures are checked with `verifier` when given (their
/// roots are always checked). `progress(done, total)` is called every few thousand events.
pub fn audit(
    source: &dyn LedgerStore,
    verifier: Option<&LogVerifier>,
    mut progress: impl FnMut(u64, u64),
) -> Result<AuditReport, AuditFailure> {
    let store_error = |e: ledger_store::StoreError| AuditFailure::Store(e.to_string());
    let n_events = source.next_sequence().map_err(store_error)?;
    let replay = MemStore::new();
    let mut tree = MemTree::new();
    for sequence in 0..n_events {
        if sequence % 4096 == 0 {
            progress(sequence, n_events);
        }
        let stored = source
            .event(sequence)
            .map_err(|e| at(sequence, e.to_string()))?
            .ok_or_else(|| at(sequence, "is missing from the log"))?;
        let recomputed = event_hash(&stored.body);
        if recomputed != stored.hash {
            return Err(at(
                sequence,
                format!(
                    "its body hashes to {recomputed}, but it is stored as {}",
                    stored.hash
                ),
            ));
        }
        match source.sequence_of(&stored.hash).map_err(store_error)? {
            Some(indexed) if indexed == sequence => {}
            other => {
                return Err(at(
                    sequence,
                    format!("the hash index places event {} at {other:?}", stored.hash),
                ));
            }
        }
        let event = decode_signed_event(pb::SignedEvent {
            body: stored.body.clone(),
            signature: stored.signature.to_vec(),
        })
        .map_err(|refusal| at(sequence, refusal.to_string()))?;
        let view = PendingView::new(&replay);
        let changes = match admit(&view, &event, sequence, stored.recorded_at) {
            Ok(Admission::New(changes)) => changes,
            Ok(Admission::Duplicate { sequence: first }) => {
                return Err(at(sequence, format!("repeats event {first}")));
            }
            Err(refusal) => return Err(at(sequence, format!("would not be admitted: {refusal}"))),
        };
        let body = event.body();
        let group = CommitGroup {
            events: vec![NewEvent {
                index: EventIndex {
                    lots: body.lot_ids().into_iter().cloned().collect(),
                    parties: body.party_ids().into_iter().cloned().collect(),
                    occurred_at_millis: body.occurred_at.timestamp_millis(),
                    links: body.kind.links(),
                },
                event: stored.clone(),
            }],
            lots: changes.new_lot.into_iter().collect(),
            parties: changes.party.into_iter().collect(),
            ..CommitGroup::default()
        };
        replay
            .commit(&group)
            .map_err(|e| at(sequence, e.to_string()))?;
        tree.push(leaf_hash(
            &stored.hash,
            &stored.signature,
            stored.recorded_at.timestamp_millis(),
        ));
    }
    progress(n_events, n_events);

    let stored_root =
        ledger_core::merkle::root(&StoreTree(source), n_events).map_err(store_error)?;
    if stored_root != tree.root() {
        return Err(AuditFailure::Store(format!(
            "the stored Merkle tree has root {stored_root}, the events give {}",
            tree.root()
        )));
    }

    let mut n_checkpoints = 0;
    let mut next_size = 0;
    while let Some(checkpoint) = source.checkpoint_at_least(next_size).map_err(store_error)? {
        let tree_size = checkpoint.tree_size;
        let bad = |problem: String| AuditFailure::Checkpoint { tree_size, problem };
        let stated = match verifier {
            Some(verifier) => verifier
                .verify(&checkpoint.note)
                .map_err(|e| bad(e.to_string()))?,
            None => {
                let text = checkpoint.note.split("\n\n").next().unwrap_or_default();
                ledger_core::checkpoint::parse_body(&format!("{text}\n"))
                    .map_err(|e| bad(e.to_string()))?
            }
        };
        if stated.size != tree_size {
            return Err(bad(format!(
                "is stored under size {tree_size} but states {}",
                stated.size
            )));
        }
        if tree_size > n_events {
            return Err(bad(format!("states more events than the log's {n_events}")));
        }
        let expected =
            ledger_core::merkle::root(&tree, tree_size).map_err(|e| bad(format!("{e:?}")))?;
        if stated.root != expected {
            return Err(bad(format!(
                "states root {}, the events give {expected}",
                stated.root
            )));
        }
        n_checkpoints += 1;
        next_size = tree_size + 1;
    }
    Ok(AuditReport {
        n_events,
        n_checkpoints,
        root: tree.root(),
    })
}
