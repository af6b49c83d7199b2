//! The ledger's storage, behind one small trait.
//!
//! [`LedgerStore`] is synchronous and object-safe: the node calls it from a dedicated
//! writer thread or `spawn_blocking`, never from async code. A store holds the
//! append-only log of events (each at its global sequence number, with its exact body
//! bytes and signature), the indexes that serve reads (by hash, by lot, by party and
//! time, links down), and the state admission derives from events (lots, the party
//! registry, the authority). [`LedgerStore::commit`] writes a whole [`CommitGroup`]
//! atomically and durably, or nothing.
//!
//! Implementations: [`MemStore`] here, for tests; `ledger-rocksdb` for real use. Both
//! pass the same [`conformance`] suite ([`store_conformance_tests!`]).
//!
//! A store never decodes or checks event bodies: admission has done that before a
//! group reaches it. It checks only that sequence numbers continue the log.

pub mod conformance;
mod mem;

pub use mem::MemStore;

use chrono::{DateTime, Utc};
use ledger_core::SignedEvent;
use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::merkle::{NewNode, NodeReader, TreeHash};
use ledger_core::model::EventBody;
use ledger_core::state::{LotRecord, PartyRecord};
use ledger_core::trace::LotFact;

/// An event as stored: its place in the log and the exact bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Global sequence number; the first event is 0.
    pub sequence: u64,
    /// BLAKE3 event hash of `body`.
    pub hash: EventHash,
    /// When the node recorded it (millisecond precision).
    pub recorded_at: DateTime<Utc>,
    /// The canonical body bytes, as received.
    pub body: Vec<u8>,
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

/// The index entries of one event, computed by the node from the decoded body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventIndex {
    /// Lots the event is about (its own lot, and a transform's input lots), each with
    /// what the event says about it: the lot index keeps these for traces.
    pub lots: Vec<LotEntry>,
    /// Parties the event names (signer first).
    pub parties: Vec<PartyId>,
    /// When the event occurred, as Unix milliseconds (for the party-and-time index).
    pub occurred_at_millis: i64,
    /// Sequence numbers of the events this one follows (its hash links, in body order);
    /// the store indexes them downwards, for [`LedgerStore::followers`].
    pub links: Vec<u64>,
    /// The event's kind (`ORIGIN`, `SHIP`, ...), for the kind-and-time index.
    pub kind: String,
}

/// One lot an event is about, for the lot index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotEntry {
    /// The lot.
    pub lot: LotId,
    /// The sequence number of the event that created it: its record's
    /// [`LotRecord::created_at_sequence`]. A store may file the lot's entries under it
    /// (the RocksDB store does, so that the entries of lots created about the same time
    /// sit together, not all over the key space), and find them again through the
    /// record: an entry whose lot has no record with this number is not found.
    pub created_at_sequence: u64,
    /// What the event says about the lot.
    pub fact: LotFact,
}

impl EventIndex {
    /// The index entries of an event: `link_sequence` finds the sequence number of an
    /// event it links to (a link it cannot find is left out), and `lot_created` the
    /// sequence number of the event that created a lot (a lot it cannot find is taken
    /// to be created by this event).
    pub fn of(
        body: &EventBody,
        hash: EventHash,
        sequence: u64,
        link_sequence: impl Fn(&EventHash) -> Option<u64>,
        lot_created: impl Fn(&LotId) -> Option<u64>,
    ) -> EventIndex {
        let links: Vec<u64> = body.kind.links().iter().filter_map(link_sequence).collect();
        EventIndex {
            lots: LotFact::of_event(body, hash, sequence, links.clone())
                .into_iter()
                .map(|(lot, fact)| LotEntry {
                    created_at_sequence: lot_created(&lot).unwrap_or(sequence),
                    lot,
                    fact,
                })
                .collect(),
            parties: body.party_ids().into_iter().cloned().collect(),
            occurred_at_millis: body.occurred_at.timestamp_millis(),
            links,
            kind: body.kind.name().to_owned(),
        }
    }
}

/// One new event and its index entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The event.
    pub event: StoredEvent,
    /// Its index entries.
    pub index: EventIndex,
}

impl NewEvent {
    /// A signed event as the store takes it at `sequence`, recorded at `recorded_at`:
    /// its signed bytes and signature as received, and its index entries
    /// ([`EventIndex::of`], with `link_sequence` and `lot_created` as there).
    pub fn of(
        event: &SignedEvent,
        sequence: u64,
        recorded_at: DateTime<Utc>,
        link_sequence: impl Fn(&EventHash) -> Option<u64>,
        lot_created: impl Fn(&LotId) -> Option<u64>,
    ) -> NewEvent {
        let hash = event.hash();
        NewEvent {
            index: EventIndex::of(event.body(), hash, sequence, link_sequence, lot_created),
            event: StoredEvent {
                sequence,
                hash,
                recorded_at,
                body: event.body_bytes().to_vec(),
                signature: *event.signature(),
            },
        }
    }
}

/// Everything one commit writes, atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitGroup {
    /// New events, with consecutive sequence numbers starting at the store's next one.
    pub events: Vec<NewEvent>,
    /// Lots created by these events.
    pub lots: Vec<LotRecord>,
    /// Registry entries created or changed (the last write of a party wins). A party
    /// whose role is authority becomes the ledger's authority.
    pub parties: Vec<PartyRecord>,
    /// Merkle tree nodes completed by these events (see `ledger_core::merkle`).
    pub tree_nodes: Vec<NewNode>,
    /// A signed checkpoint of the tree after these events, if one was signed.
    pub checkpoint: Option<StoredCheckpoint>,
}

impl CommitGroup {
    /// Whether the group writes nothing.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.lots.is_empty()
            && self.parties.is_empty()
            && self.tree_nodes.is_empty()
            && self.checkpoint.is_none()
    }
}

/// A group a store has made ready to commit ([`LedgerStore::prepare`]): the group, and
/// what its store made of it ahead of the commit (its writes, encoded), which only that
/// store reads.
pub struct PreparedGroup {
    group: CommitGroup,
    encoded: Option<Box<dyn std::any::Any + Send>>,
}

impl PreparedGroup {
    /// A group and its store's encoding of it (for a store's [`LedgerStore::prepare`];
    /// `None`: nothing done ahead).
    pub fn new(group: CommitGroup, encoded: Option<Box<dyn std::any::Any + Send>>) -> Self {
        PreparedGroup { group, encoded }
    }

    /// The group.
    pub fn group(&self) -> &CommitGroup {
        &self.group
    }

    /// Takes the group back, dropping the encoding.
    pub fn into_group(self) -> CommitGroup {
        self.group
    }

    /// Takes the store's encoding out (for its [`LedgerStore::commit_prepared`]): the
    /// group and its encoding, or the group alone if none was made (or one of another
    /// type: a store reads only its own, and encodes again without it).
    pub fn take_encoded<T: 'static>(&mut self) -> (&CommitGroup, Option<T>) {
        let encoded = self.encoded.take().and_then(|any| any.downcast::<T>().ok());
        (&self.group, encoded.map(|encoded| *encoded))
    }
}

impl std::fmt::Debug for PreparedGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedGroup")
            .field("group", &self.group)
            .field("encoded", &self.encoded.is_some())
            .finish()
    }
}

/// A signed checkpoint as stored: the tree size it covers and the signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Leaves in the tree it states.
    pub tree_size: u64,
    /// The C2SP signed note (see `ledger_core::checkpoint`).
    pub note: String,
}

/// Which lots [`LedgerStore::lots_by`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotFilter<'a> {
    /// Every lot.
    All,
    /// Lots of this exact product name.
    Product(&'a str),
    /// Lots this party created (at origin or by a transform).
    Creator(&'a PartyId),
}

/// A position in one of the time-ordered indexes (party events, events by kind, lots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartyEventRef {
    /// When the event occurred, Unix milliseconds.
    pub occurred_at_millis: i64,
    /// The event's sequence number.
    pub sequence: u64,
}

/// The class of a store error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The group does not continue the log (a bug in the caller, or a second writer).
    Conflict,
    /// Stored bytes do not decode: the data directory is damaged.
    Corruption,
    /// The storage engine failed (disk full, I/O error).
    Io,
    /// The store cannot do what was asked (a backup of a store in memory).
    Unsupported,
}

/// A store error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

impl StoreError {
    /// A new error.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
        }
    }

    /// Its class.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

/// The storage of a ledger. See the crate documentation.
pub trait LedgerStore: Send + Sync {
    /// Writes the group atomically and durably (synced) or not at all. Refuses with
    /// [`StoreErrorKind::Conflict`] unless the group's events are numbered consecutively
    /// from [`LedgerStore::next_sequence`].
    fn commit(&self, group: &CommitGroup) -> Result<(), StoreError>;
    /// Does ahead what of committing `group` needs neither the log's state nor I/O
    /// (encoding its writes), so that a writer can do it off its commit path. Nothing is
    /// checked or written: [`LedgerStore::commit_prepared`] does that, exactly as
    /// [`LedgerStore::commit`] would. By default nothing is done ahead.
    fn prepare(&self, group: CommitGroup) -> PreparedGroup {
        PreparedGroup::new(group, None)
    }
    /// Commits a group this store prepared, with [`LedgerStore::commit`]'s checks and
    /// guarantees (a group prepared before another was committed and no longer
    /// continuing the log is refused). The group stays in `prepared`; its encoding is
    /// used up.
    fn commit_prepared(&self, prepared: &mut PreparedGroup) -> Result<(), StoreError> {
        self.commit(prepared.group())
    }
    /// The sequence number the next event gets: the number of events in the log.
    fn next_sequence(&self) -> Result<u64, StoreError>;
    /// The event at `sequence`.
    fn event(&self, sequence: u64) -> Result<Option<StoredEvent>, StoreError>;
    /// The sequence number of the event with this hash.
    fn sequence_of(&self, hash: &EventHash) -> Result<Option<u64>, StoreError>;
    /// The events from `from` on, in order, at most `limit`, read in one pass: what
    /// [`LedgerStore::event`] gives for `from`, `from + 1`, ..., stopping before the
    /// first sequence number that has no event (the end of the log, or a gap).
    fn events_from(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::with_capacity(limit.min(4096));
        let mut next = Some(from);
        while let Some(sequence) = next.filter(|_| events.len() < limit) {
            match self.event(sequence)? {
                Some(event) => events.push(event),
                None => break,
            }
            next = sequence.checked_add(1);
        }
        Ok(events)
    }
    /// [`LedgerStore::sequence_of`] of each hash, in the same order, in one call.
    fn sequences_of(&self, hashes: &[EventHash]) -> Result<Vec<Option<u64>>, StoreError> {
        hashes.iter().map(|hash| self.sequence_of(hash)).collect()
    }
    /// Visits every entry of the hash index, `(hash, sequence)`, in no particular order,
    /// until `visit` returns `false`; one pass, for checking the whole index at once
    /// (the audit). An entry that does not decode is an error.
    fn scan_hash_index(
        &self,
        visit: &mut dyn FnMut(&EventHash, u64) -> bool,
    ) -> Result<(), StoreError>;
    /// Sequence numbers of the lot's events, ascending, after `after` (exclusive), at most
    /// `limit`; none unless the lot has a record (see [`LotEntry::created_at_sequence`]).
    fn lot_events(
        &self,
        lot_id: &LotId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError>;
    /// The party's events by time of occurrence, from `from` (inclusive) to
    /// `to_millis` (exclusive), at most `limit`.
    fn party_events(
        &self,
        party_id: &PartyId,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<PartyEventRef>, StoreError>;
    /// What the lot's events say about it ([`EventIndex::lots`]), by ascending sequence
    /// number, after `after` (exclusive), at most `limit`; none unless the lot has a
    /// record.
    fn lot_facts(
        &self,
        lot_id: &LotId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<LotFact>, StoreError>;
    /// Events of one kind (or of every kind, `None`) by time of occurrence, from `from`
    /// (inclusive) to `to_millis` (exclusive), at most `limit`.
    fn events_by_kind(
        &self,
        kind: Option<&str>,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<PartyEventRef>, StoreError>;
    /// Lots by the time of their creation, from `from` (inclusive; its sequence is the
    /// creating event's) to `to_millis` (exclusive), at most `limit`.
    fn lots_by(
        &self,
        filter: LotFilter<'_>,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<(PartyEventRef, LotId)>, StoreError>;
    /// Sequence numbers of the events that link to `hash` (what followed it), ascending;
    /// none if no stored event has that hash.
    fn followers(&self, hash: &EventHash) -> Result<Vec<u64>, StoreError>;
    /// A lot.
    fn lot(&self, lot_id: &LotId) -> Result<Option<LotRecord>, StoreError>;
    /// A party's registry entry.
    fn party(&self, party_id: &PartyId) -> Result<Option<PartyRecord>, StoreError>;
    /// The authority, once the genesis event is stored.
    fn authority(&self) -> Result<Option<PartyId>, StoreError>;
    /// A stored perfect subtree of the Merkle tree: node `(level, index)`.
    fn tree_node(&self, level: u8, index: u64) -> Result<Option<TreeHash>, StoreError>;
    /// The first checkpoint whose tree has at least `tree_size` leaves.
    fn checkpoint_at_least(&self, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// The checkpoint of the largest tree.
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Moves what the store holds only in memory and in its write-ahead log into its
    /// tables, so that the next open has no log to replay: a node calls it when it stops.
    /// Committed data is durable without it. A store that keeps nothing on disk has
    /// nothing to do.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Writes a consistent copy of the whole store, as of one commit, into `dest` (a
    /// directory that must not exist yet), while commits go on. A store that keeps
    /// nothing on disk cannot.
    fn backup_to(&self, dest: &std::path::Path) -> Result<(), StoreError> {
        Err(StoreError::new(
            StoreErrorKind::Unsupported,
            format!("this store cannot be backed up to {}", dest.display()),
        ))
    }
}

/// A store's Merkle nodes as a [`NodeReader`]: a node the tree needs but the store lacks
/// is corruption.
pub struct StoreTree<'a>(pub &'a dyn LedgerStore);

impl NodeReader for StoreTree<'_> {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<TreeHash, StoreError> {
        self.0.tree_node(level, index)?.ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Corruption,
                format!("merkle tree node (level {level}, index {index}) is missing"),
            )
        })
    }
}

/// Checks that `group` continues a log whose next sequence number is `next`.
pub fn check_continues(group: &CommitGroup, next: u64) -> Result<(), StoreError> {
    for (offset, new) in group.events.iter().enumerate() {
        let expected = next + offset as u64;
        if new.event.sequence != expected {
            return Err(StoreError::new(
                StoreErrorKind::Conflict,
                format!(
                    "event {} does not continue the log: expected sequence {expected}",
                    new.event.sequence
                ),
            ));
        }
    }
    Ok(())
}
