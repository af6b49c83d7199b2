//! Following a node's log and verifying it as it arrives.
//!
//! A follower receives every event from the start and the checkpoints that cover them.
//! It recomputes each event's hash and leaf, rebuilds the Merkle tree, and checks every
//! checkpoint's signature against the pinned log key and its root against the tree it
//! rebuilt. Given a checkpoint it already held (from another day, another server or a
//! witness), it checks that the history it is shown contains it: if the log key signed
//! both and they disagree, that is a fork, and both checkpoints are the evidence.

use std::fmt;

use ledger_core::checkpoint::{LogVerifier, VerifiedCheckpoint};
use ledger_core::contract::event_hash;
use ledger_core::merkle::{Frontier, MemTree, leaf_hash};
use ledger_proto::pb;
use ledger_proto::pb::log_client::LogClient;
use ledger_store::{
    CommitGroup, EventIndex, LedgerStore, MemStore, NewEvent, StoredCheckpoint, StoredEvent,
};
use tokio_stream::StreamExt;

/// What following found wrong.
#[derive(Debug)]
pub enum FollowError {
    /// Two checkpoints signed by the log key that cannot both be true.
    Fork {
        /// The checkpoint held before.
        known: String,
        /// The checkpoint the server showed.
        shown: String,
        /// How they disagree.
        problem: String,
    },
    /// The server sent something that does not verify.
    Invalid(String),
    /// The server could not be followed.
    Transport(anyhow::Error),
}

impl fmt::Display for FollowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FollowError::Fork {
                known,
                shown,
                problem,
            } => write!(
                f,
                "FORK: {problem}\n--- checkpoint held before ---\n{known}--- checkpoint shown now ---\n{shown}"
            ),
            FollowError::Invalid(problem) => {
                write!(f, "the server's log does not verify: {problem}")
            }
            FollowError::Transport(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for FollowError {}

/// What a follower holds after following.
pub struct Followed {
    /// Every event, in order.
    pub events: Vec<StoredEvent>,
    /// Every checkpoint received, in order.
    pub checkpoints: Vec<StoredCheckpoint>,
    /// The latest verified checkpoint.
    pub latest: Option<VerifiedCheckpoint>,
}

impl Followed {
    /// A store holding what was followed, with indexes and tree nodes recomputed here,
    /// ready for [`ledger_node::audit::audit`].
    pub fn into_store(self) -> MemStore {
        let store = MemStore::new();
        let mut frontier = Frontier::new();
        for event in self.events {
            let body = ledger_proto::decode_signed_event(pb::SignedEvent {
                body: event.body.clone(),
                signature: event.signature.to_vec(),
            });
            // An event that does not decode is kept with no index entries: the audit
            // reports it at its sequence number.
            let index = match &body {
                Ok(signed) => EventIndex::of(
                    signed.body(),
                    signed.hash(),
                    event.sequence,
                    |link| store.sequence_of(link).ok().flatten(),
                    |lot| {
                        let lot = store.lot(lot).ok().flatten();
                        lot.map(|lot| lot.created_at_sequence)
                    },
                ),
                Err(_) => EventIndex::default(),
            };
            let tree_nodes = frontier.append(leaf_hash(
                &event.hash,
                &event.signature,
                event.recorded_at.timestamp_millis(),
            ));
            store
                .commit(&CommitGroup {
                    events: vec![NewEvent { event, index }],
                    tree_nodes,
                    ..CommitGroup::default()
                })
                .expect("a follower's own store takes consecutive events");
        }
        for checkpoint in self.checkpoints {
            store
                .commit(&CommitGroup {
                    checkpoint: Some(checkpoint),
                    ..CommitGroup::default()
                })
                .expect("checkpoints are accepted");
        }
        store
    }
}

/// Follows `server`'s log from the start until caught up (or forever, calling
/// `on_checkpoint` for each verified checkpoint), verifying everything against
/// `verifier` and, if given, the checkpoint `known` held from before.
pub async fn follow(
    server: &crate::ServerArgs,
    verifier: &LogVerifier,
    known: Option<&str>,
    until_caught_up: bool,
    mut on_checkpoint: impl FnMut(&VerifiedCheckpoint),
) -> Result<Followed, FollowError> {
    let known = known
        .map(|note| {
            verifier
                .verify(note)
                .map(|checkpoint| (note.to_owned(), checkpoint))
        })
        .transpose()
        .map_err(|e| FollowError::Invalid(format!("the checkpoint held before: {e}")))?;
    let mut client = LogClient::new(
        server
            .connect()
            .await
            .map_err(|failure| FollowError::Transport(anyhow::anyhow!(failure.message)))?,
    );
    let mut stream = client
        .follow(pb::FollowRequest {
            from_sequence: 0,
            until_caught_up,
        })
        .await
        .map_err(|status| FollowError::Transport(status.into()))?
        .into_inner();
    let mut tree = MemTree::new();
    let mut followed = Followed {
        events: Vec::new(),
        checkpoints: Vec::new(),
        latest: None,
    };
    while let Some(item) = stream.next().await {
        let item = item.map_err(|status| FollowError::Transport(status.into()))?;
        match item.item {
            Some(pb::follow_item::Item::Event(recorded)) => {
                let sequence = followed.events.len() as u64;
                let event = stored_event(recorded, sequence).map_err(FollowError::Invalid)?;
                tree.push(leaf_hash(
                    &event.hash,
                    &event.signature,
                    event.recorded_at.timestamp_millis(),
                ));
                followed.events.push(event);
            }
            Some(pb::follow_item::Item::Checkpoint(checkpoint)) => {
                let shown = verifier.verify(&checkpoint.note).map_err(|e| {
                    FollowError::Invalid(format!(
                        "checkpoint of {} events: {e}",
                        checkpoint.tree_size
                    ))
                })?;
                if shown.size != tree.size() {
                    return Err(FollowError::Invalid(format!(
                        "a checkpoint of {} events arrived after {} events",
                        shown.size,
                        tree.size()
                    )));
                }
                if let Some((known_note, known)) = &known
                    && known.size <= shown.size
                {
                    let root = ledger_core::merkle::root(&tree, known.size)
                        .expect("the tree holds these leaves");
                    if root != known.root {
                        return Err(FollowError::Fork {
                            known: known_note.clone(),
                            shown: checkpoint.note,
                            problem: format!(
                                "the first {} events shown now have root {root}, the checkpoint held before says {}",
                                known.size, known.root
                            ),
                        });
                    }
                }
                if shown.root != tree.root() {
                    return Err(FollowError::Invalid(format!(
                        "the checkpoint of {} events states root {}, the events sent give {}",
                        shown.size,
                        shown.root,
                        tree.root()
                    )));
                }
                on_checkpoint(&shown);
                followed.checkpoints.push(StoredCheckpoint {
                    tree_size: checkpoint.tree_size,
                    note: checkpoint.note,
                });
                followed.latest = Some(shown);
            }
            None => return Err(FollowError::Invalid("an empty item".into())),
        }
    }
    if let Some((_, known)) = &known
        && followed
            .latest
            .as_ref()
            .is_none_or(|latest| latest.size < known.size)
    {
        return Err(FollowError::Invalid(format!(
            "the server's log is shorter than the checkpoint held before ({} events)",
            known.size
        )));
    }
    Ok(followed)
}

fn stored_event(
    recorded: pb::RecordedEvent,
    expected_sequence: u64,
) -> Result<StoredEvent, String> {
    if recorded.sequence != expected_sequence {
        return Err(format!(
            "event {} arrived where {expected_sequence} was due",
            recorded.sequence
        ));
    }
    let signed = recorded
        .event
        .ok_or_else(|| format!("event {expected_sequence} has no body"))?;
    let hash = event_hash(&signed.body);
    if recorded.event_hash != hash.as_bytes() {
        return Err(format!(
            "event {expected_sequence}: its hash does not match its body"
        ));
    }
    let signature: [u8; 64] = signed
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| format!("event {expected_sequence}: the signature is not 64 bytes"))?;
    let recorded_at = chrono::DateTime::parse_from_rfc3339(&recorded.recorded_at)
        .map_err(|_| format!("event {expected_sequence}: recorded_at is not RFC 3339"))?
        .to_utc();
    Ok(StoredEvent {
        sequence: expected_sequence,
        hash,
        recorded_at,
        body: signed.body,
        signature,
    })
}
