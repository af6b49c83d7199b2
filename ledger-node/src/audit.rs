//! The audit: re-verify a whole ledger from its stored bytes, trusting nothing derived.
//!
//! Every event is read back in order and checked: its stored hash against its body, the
//! body's canonical encoding, every admission rule (signature, key validity, registry
//! status, links, lots) replayed from an empty state exactly as the writer applied them
//! (with the node's clock reading taken to be the event's recorded time), and the hash
//! index. The Merkle tree is rebuilt from the events' leaves and every stored checkpoint
//! is checked: its signature (with the verifier key given) and its root against the
//! rebuilt tree. The first problem found is reported with its sequence number.
//!
//! Events are read in runs ([`LedgerStore::events_from`]); each is hashed once, when it
//! is decoded. The hash index is checked as a whole after the replay, in one scan
//! ([`LedgerStore::scan_hash_index`]) against the hashes the replay kept (32 bytes an
//! event); only if the scan finds a fault are the events' entries looked up one by one,
//! to name the first event it concerns. Admission is replayed in order on one
//! thread, into a state that holds only what admission reads (`ReplayState`), with the
//! signature checks deferred ([`admit_deferring_signature`] names the key each signature
//! must verify under); the signatures themselves are verified by one worker per core, in
//! batches (by the rule the writer applies, `ledger_core::signature`), while the replay
//! goes on. The earliest failure of either kind wins.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

use ledger_core::admission::{
    Admission, LedgerView, LookupError, StateChanges, ViewedEvent, admit_deferring_signature,
};
use ledger_core::checkpoint::LogVerifier;
use ledger_core::contract::event_hash;
use ledger_core::ids::{EventHash, KeyId, LotId, PartyId};
use ledger_core::merkle::{MemTree, TreeHash, leaf_hash};
use ledger_core::signature::{KeyCache, OwnedSignatureCheck, SignatureCheck, verify_batch_with};
use ledger_core::state::{LotRecord, MemState, PartyRecord};
use ledger_proto::{decode_signed_event_or_return, pb};
use ledger_store::{LedgerStore, StoreTree, StoredCheckpoint, StoredEvent};

use crate::view::decode_stored;

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

/// A signature the replay deferred: to be verified under `key`.
struct Deferred {
    sequence: u64,
    check: OwnedSignatureCheck,
    signer: PartyId,
    key_id: KeyId,
}

/// Signatures handed to the verifiers at once. Bigger batches cost less a signature,
/// most when signers repeat within a batch (their keys are combined): with 1,000 signers,
/// 6.8 µs a signature in 4,096 against 9.0 in 1,024 (`cargo bench -p ledger-core --bench
/// core -- verify_batch_by_size`). The audit benchmark, 2,007 signers, gains about 3%.
const CHUNK: usize = 4096;

/// The earliest bad signature found so far, by sequence number.
struct FirstBad {
    sequence: AtomicU64,
    failure: Mutex<Option<AuditFailure>>,
}

impl FirstBad {
    fn record(&self, sequence: u64, problem: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if sequence < self.sequence.load(Ordering::SeqCst) {
            self.sequence.store(sequence, Ordering::SeqCst);
            *failure = Some(at(sequence, problem));
        }
    }
}

fn verify_chunk(chunk: &[Deferred], first_bad: &FirstBad, keys: &mut KeyCache) {
    let checks: Vec<SignatureCheck<'_>> = chunk
        .iter()
        .map(|deferred| deferred.check.as_check())
        .collect();
    if verify_batch_with(&checks, keys) {
        return;
    }
    // One is bad at least: the rule, one at a time, names the first.
    if let Some((deferred, _)) = chunk.iter().zip(&checks).find(|(_, check)| !check.verify()) {
        first_bad.record(
            deferred.sequence,
            format!(
                "would not be admitted: signature: does not verify under key {} of party {}",
                deferred.key_id, deferred.signer
            ),
        );
    }
}

/// Signers' keys each of the audit's verifying threads keeps decompressed.
const AUDIT_KEY_CACHE_ENTRIES: usize = 16_384;

/// Audits `source`, checking checkpoint signatures with `verifier` and their roots
/// against the rebuilt tree. `progress(done, total)` is called every few thousand events.
pub fn audit(
    source: &dyn LedgerStore,
    verifier: &LogVerifier,
    progress: impl FnMut(u64, u64),
) -> Result<AuditReport, AuditFailure> {
    audit_keeping_recent(source, verifier, RECENT_EVENTS, progress)
}

/// [`audit`], with the replay keeping the last `recent_events` events decoded (at least
/// one) for the events that link to them; older ones are read back from `source`. The
/// outcome is the same for any number: only the speed and the memory differ.
pub fn audit_keeping_recent(
    source: &dyn LedgerStore,
    verifier: &LogVerifier,
    recent_events: usize,
    progress: impl FnMut(u64, u64),
) -> Result<AuditReport, AuditFailure> {
    let n_workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let first_bad = FirstBad {
        sequence: AtomicU64::new(u64::MAX),
        failure: Mutex::new(None),
    };
    let (chunks, chunks_rx) = mpsc::sync_channel::<Vec<Deferred>>(2 * n_workers);
    let chunks_rx = Mutex::new(chunks_rx);
    let mut replayed_hashes = Vec::new();
    let replayed = std::thread::scope(|scope| {
        for _ in 0..n_workers {
            scope.spawn(|| {
                let mut keys = KeyCache::new(AUDIT_KEY_CACHE_ENTRIES);
                loop {
                    let chunk = chunks_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match chunk {
                        Ok(chunk) => verify_chunk(&chunk, &first_bad, &mut keys),
                        Err(_) => return,
                    }
                }
            });
        }
        // The replay owns the sender: when it returns, the workers drain and stop.
        replay(
            source,
            verifier,
            recent_events,
            progress,
            chunks,
            &first_bad,
            &mut replayed_hashes,
        )
    });
    let bad_signature = first_bad
        .failure
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let bad_sequence = match &bad_signature {
        Some(AuditFailure::Event { sequence, .. }) => *sequence,
        _ => u64::MAX,
    };
    let replay_sequence = match &replayed {
        Err(AuditFailure::Event { sequence, .. }) => *sequence,
        _ => u64::MAX,
    };
    // The index is checked for the events before the first failure found so far (the
    // replay stops at its first): a fault in their entries comes first.
    let checked = replayed_hashes
        .len()
        .min(usize::try_from(replay_sequence.min(bad_sequence)).unwrap_or(usize::MAX));
    let whole_log = match &replayed {
        Ok(report) => report.n_events == checked as u64,
        Err(_) => false,
    };
    let index = check_hash_index(source, &replayed_hashes[..checked], whole_log);
    if let Err(failure @ AuditFailure::Event { .. }) = index {
        return Err(failure);
    }
    match (replayed, bad_signature) {
        // A replay failure before the first bad signature is the first problem.
        (Err(AuditFailure::Event { sequence, problem }), _) if sequence < bad_sequence => {
            Err(AuditFailure::Event { sequence, problem })
        }
        (_, Some(bad)) => Err(bad),
        (Ok(report), None) => index.map(|()| report),
        (failed, None) => failed,
    }
}

/// That the hash index places each of the first `hashes.len()` events, whose hashes
/// these are, at its own sequence number; with `whole_log`, also that it holds nothing
/// else. One scan of the index decides whether it does; only if it does not are the
/// events looked up one by one, to name the first whose entry is wrong
/// (`AuditFailure::Event`). An entry that names no event rightly, where every event's
/// own entry is right, is `AuditFailure::Store`.
fn check_hash_index(
    source: &dyn LedgerStore,
    hashes: &[EventHash],
    whole_log: bool,
) -> Result<(), AuditFailure> {
    let store_error = |e: ledger_store::StoreError| AuditFailure::Store(e.to_string());
    let n = hashes.len() as u64;
    // Keys are unique and each right entry names a different event, so `right == n`
    // means every event has its entry.
    let mut right = 0u64;
    let mut stray = None;
    source
        .scan_hash_index(&mut |hash, sequence| {
            if sequence < n && hashes[sequence as usize] == *hash {
                right += 1;
            } else if sequence < n || whole_log {
                stray.get_or_insert((*hash, sequence));
            }
            true
        })
        .map_err(store_error)?;
    if right < n {
        for (block, from) in hashes
            .chunks(READ_BLOCK as usize)
            .zip((0..).step_by(READ_BLOCK as usize))
        {
            let indexed = source.sequences_of(block).map_err(store_error)?;
            for ((sequence, hash), indexed) in (from..).zip(block).zip(indexed) {
                check_indexed(sequence, hash, indexed)?;
            }
        }
    }
    match stray {
        Some((hash, sequence)) => Err(AuditFailure::Store(format!(
            "the hash index places {hash} at {sequence}, where the log has {}",
            hashes
                .get(sequence as usize)
                .map_or("no event".to_owned(), |there| format!("event {there}"))
        ))),
        None => Ok(()),
    }
}

/// Replays admission in order, sending each signature to the verifiers, then checks the
/// tree and the checkpoints.
fn replay(
    source: &dyn LedgerStore,
    verifier: &LogVerifier,
    recent_events: usize,
    mut progress: impl FnMut(u64, u64),
    chunks: mpsc::SyncSender<Vec<Deferred>>,
    first_bad: &FirstBad,
    hashes: &mut Vec<EventHash>,
) -> Result<AuditReport, AuditFailure> {
    let mut chunk = Vec::with_capacity(CHUNK);
    let store_error = |e: ledger_store::StoreError| AuditFailure::Store(e.to_string());
    let n_events = source.next_sequence().map_err(store_error)?;
    let mut state = ReplayState::new(source, recent_events);
    let mut tree = MemTree::new();
    let mut block = Vec::new().into_iter();
    for sequence in 0..n_events {
        if sequence % 4096 == 0 {
            progress(sequence, n_events);
        }
        let stored = match block.next() {
            Some(stored) => stored,
            None => {
                block = stored_events(source, sequence, n_events - sequence)?.into_iter();
                block.next().expect("never empty")
            }
        };
        let event = match decode_signed_event_or_return(pb::SignedEvent {
            body: stored.body,
            signature: stored.signature.to_vec(),
        }) {
            Ok(event) => event,
            Err((refusal, returned)) => {
                // Bytes changed since they were stored are the problem to name.
                check_body(sequence, &stored.hash, event_hash(&returned.body))?;
                return Err(at(sequence, refusal.to_string()));
            }
        };
        check_body(sequence, &stored.hash, event.hash())?;
        hashes.push(stored.hash);
        if first_bad.sequence.load(Ordering::SeqCst) < sequence {
            break; // a signature before this one is already known to be bad
        }
        state.replaying = Some(stored.hash);
        let (changes, key) =
            match admit_deferring_signature(&state, &event, sequence, stored.recorded_at) {
                Ok((Admission::New(changes), key)) => (changes, key),
                Ok((Admission::Duplicate { sequence: first }, _)) => {
                    return Err(at(sequence, format!("repeats event {first}")));
                }
                Err(refusal) => {
                    return Err(at(sequence, format!("would not be admitted: {refusal}")));
                }
            };
        let hash = event.hash();
        let (body_bytes, body, signature) = event.into_parts();
        if let Some(key) = key {
            chunk.push(Deferred {
                sequence,
                check: OwnedSignatureCheck {
                    key,
                    body: body_bytes,
                    signature,
                },
                signer: body.signer.clone(),
                key_id: body.key_id,
            });
            if chunk.len() == CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                let _ = chunks.send(full);
            }
        }
        tree.push(leaf_hash(
            &stored.hash,
            &stored.signature,
            stored.recorded_at.timestamp_millis(),
        ));
        state.admitted(
            hash,
            ViewedEvent {
                sequence,
                signature,
                body,
            },
            changes,
        );
    }
    let _ = chunks.send(chunk);
    drop(chunks);
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
        check_checkpoint(&checkpoint, verifier, n_events, "the events give", |size| {
            ledger_core::merkle::root(&tree, size).map_err(|e| format!("{e:?}"))
        })?;
        n_checkpoints += 1;
        next_size = tree_size + 1;
    }
    Ok(AuditReport {
        n_events,
        n_checkpoints,
        root: tree.root(),
    })
}

/// Events the replay keeps decoded after admitting them, for the events that link to
/// them (a receipt names its shipment, most often a few events before it).
pub const RECENT_EVENTS: usize = 65_536;

/// The ledger as admission sees it during the replay, rebuilt from the events admitted
/// so far: the registry, the lots, and the recent events decoded. It holds only what
/// admission reads; the indexes that serve queries are not rebuilt.
///
/// An older event that an event links to is read back from `source` through its hash
/// index, and used only if it comes before the event being replayed and its body hashes
/// to the hash asked for. (The index is checked after the replay for every event before
/// the first failure ([`check_hash_index`]). So if it hides or misplaces an earlier
/// event, making a later one fail here, that check names the earlier event, which wins.)
struct ReplayState<'a> {
    source: &'a dyn LedgerStore,
    /// The sequence number of the event being replayed: the ledger so far ends before it.
    next: u64,
    /// The hash of the event being replayed. Admission's look-up of it for duplicates
    /// answers "none" without a read: an earlier event with the same hash would need a
    /// second entry under one key of the hash index, so [`check_hash_index`] names the
    /// later of the two.
    replaying: Option<EventHash>,
    /// The last `recent_capacity` events admitted, decoded, each in the slot of its
    /// sequence number modulo `recent_capacity`, with its hash.
    recent: Vec<(EventHash, ViewedEvent)>,
    /// Their sequence numbers by hash. (Keys are BLAKE3 hashes, so a fast hash will do.)
    recent_by_hash: rustc_hash::FxHashMap<EventHash, u64>,
    recent_capacity: usize,
    /// The registry and the lots.
    state: MemState,
}

impl<'a> ReplayState<'a> {
    fn new(source: &'a dyn LedgerStore, recent_events: usize) -> ReplayState<'a> {
        ReplayState {
            source,
            next: 0,
            replaying: None,
            recent: Vec::new(),
            recent_by_hash: rustc_hash::FxHashMap::default(),
            recent_capacity: recent_events.max(1),
            state: MemState::default(),
        }
    }

    /// Takes in an admitted event and the state it changes.
    fn admitted(&mut self, hash: EventHash, event: ViewedEvent, changes: StateChanges) {
        self.state.apply(changes);
        let sequence = event.sequence;
        self.next = sequence + 1;
        self.replaying = None;
        let slot = (sequence % self.recent_capacity as u64) as usize;
        if let Some((oldest, _)) = self.recent.get(slot) {
            self.recent_by_hash.remove(oldest);
            self.recent[slot] = (hash, event);
        } else {
            // Filling up: events are admitted in order from 0, so this is the next slot.
            self.recent.push((hash, event));
        }
        self.recent_by_hash.insert(hash, sequence);
    }
}

impl LedgerView for ReplayState<'_> {
    fn authority(&self) -> Result<Option<PartyId>, LookupError> {
        Ok(self.state.authority().cloned())
    }

    fn party(&self, party_id: &PartyId) -> Result<Option<PartyRecord>, LookupError> {
        Ok(self.state.party(party_id).cloned())
    }

    fn lot(&self, lot_id: &LotId) -> Result<Option<LotRecord>, LookupError> {
        Ok(self.state.lot(lot_id).cloned())
    }

    fn event(&self, hash: &EventHash) -> Result<Option<ViewedEvent>, LookupError> {
        if self.replaying == Some(*hash) {
            return Ok(None);
        }
        if let Some(sequence) = self.recent_by_hash.get(hash) {
            let (_, event) = &self.recent[(sequence % self.recent_capacity as u64) as usize];
            return Ok(Some(event.clone()));
        }
        let sequence = match self.source.sequence_of(hash) {
            Ok(Some(sequence)) if sequence < self.next => sequence,
            Ok(_) => return Ok(None),
            Err(e) => return Err(LookupError(e.to_string())),
        };
        let stored = self
            .source
            .event(sequence)
            .map_err(|e| LookupError(e.to_string()))?
            .ok_or_else(|| LookupError(format!("event {sequence} is missing from the log")))?;
        if event_hash(&stored.body) != *hash {
            return Err(LookupError(format!(
                "the hash index places event {hash} at {sequence}, which is another event"
            )));
        }
        Ok(Some(ViewedEvent {
            sequence,
            signature: stored.signature,
            body: decode_stored(&stored)?,
        }))
    }
}

/// Events at the end of the log that [`check_at_start`] re-verifies.
pub const START_CHECK_EVENTS: u64 = 4096;

/// What a node checks before it takes writes, in well under a second at any size: the
/// last [`START_CHECK_EVENTS`] events (each stored hash against its body, and the hash
/// index pointing back at it), and the latest signed checkpoint (its signature, that it
/// states no more events than the log holds, and that its root is the root of the
/// stored tree at its size). RocksDB checks its own block checksums on every read.
/// The first problem found is returned, naming where it is; the whole ledger is
/// checked by [`audit`].
pub fn check_at_start(store: &dyn LedgerStore, verifier: &LogVerifier) -> Result<(), AuditFailure> {
    let n_events = store
        .next_sequence()
        .map_err(|e| AuditFailure::Store(e.to_string()))?;
    for sequence in n_events.saturating_sub(START_CHECK_EVENTS)..n_events {
        stored_event(store, sequence)?;
    }
    if let Some(checkpoint) = store
        .latest_checkpoint()
        .map_err(|e| AuditFailure::Store(e.to_string()))?
    {
        check_checkpoint(
            &checkpoint,
            verifier,
            n_events,
            "the stored tree gives",
            |size| ledger_core::merkle::root(&StoreTree(store), size).map_err(|e| e.to_string()),
        )?;
    }
    Ok(())
}

/// Events the replay reads from the store at once.
const READ_BLOCK: u64 = 1024;

/// Events `from`, `from + 1`, ... (at most [`READ_BLOCK`], and at most `left`), read in
/// bulk, in order; never empty. If the bulk read fails or stops at once (a gap), event
/// `from` is read alone, so its failure is reported just as it would be one event at a
/// time; a run that stops early ends before the gap, which the next read reaches.
fn stored_events(
    store: &dyn LedgerStore,
    from: u64,
    left: u64,
) -> Result<Vec<StoredEvent>, AuditFailure> {
    let limit = usize::try_from(left.min(READ_BLOCK)).unwrap_or(1);
    match store.events_from(from, limit) {
        Ok(block) if !block.is_empty() => Ok(block),
        _ => read_event(store, from).map(|event| vec![event]),
    }
}

/// Event `sequence`, read alone.
fn read_event(store: &dyn LedgerStore, sequence: u64) -> Result<StoredEvent, AuditFailure> {
    store
        .event(sequence)
        .map_err(|e| at(sequence, e.to_string()))?
        .ok_or_else(|| at(sequence, "is missing from the log"))
}

/// Event `sequence` as stored, once its stored hash matches its body and the hash index
/// points back at it.
fn stored_event(store: &dyn LedgerStore, sequence: u64) -> Result<StoredEvent, AuditFailure> {
    let stored = read_event(store, sequence)?;
    check_body(sequence, &stored.hash, event_hash(&stored.body))?;
    let indexed = store
        .sequence_of(&stored.hash)
        .map_err(|e| AuditFailure::Store(e.to_string()))?;
    check_indexed(sequence, &stored.hash, indexed)?;
    Ok(stored)
}

/// That event `sequence`, stored under `stored_hash`, has a body that hashes to it
/// (`recomputed`).
fn check_body(
    sequence: u64,
    stored_hash: &EventHash,
    recomputed: EventHash,
) -> Result<(), AuditFailure> {
    if recomputed != *stored_hash {
        return Err(at(
            sequence,
            format!("its body hashes to {recomputed}, but it is stored as {stored_hash}"),
        ));
    }
    Ok(())
}

/// That the hash index, which gave `indexed` for the hash of event `sequence`, points
/// back at it.
fn check_indexed(
    sequence: u64,
    hash: &EventHash,
    indexed: Option<u64>,
) -> Result<(), AuditFailure> {
    match indexed {
        Some(indexed) if indexed == sequence => Ok(()),
        other => Err(at(
            sequence,
            format!("the hash index places event {hash} at {other:?}"),
        )),
    }
}

/// A stored checkpoint's signature, size and root, against a log of `n_events` whose
/// root at a size `root_at` gives (`source` says where that root comes from).
fn check_checkpoint(
    checkpoint: &StoredCheckpoint,
    verifier: &LogVerifier,
    n_events: u64,
    source: &str,
    root_at: impl FnOnce(u64) -> Result<TreeHash, String>,
) -> Result<(), AuditFailure> {
    let tree_size = checkpoint.tree_size;
    let bad = |problem: String| AuditFailure::Checkpoint { tree_size, problem };
    let stated = verifier
        .verify(&checkpoint.note)
        .map_err(|e| bad(e.to_string()))?;
    if stated.size != tree_size {
        return Err(bad(format!(
            "is stored under size {tree_size} but states {}",
            stated.size
        )));
    }
    if tree_size > n_events {
        return Err(bad(format!("states more events than the log's {n_events}")));
    }
    let expected = root_at(tree_size).map_err(bad)?;
    if stated.root != expected {
        return Err(bad(format!(
            "states root {}, {source} {expected}",
            stated.root
        )));
    }
    Ok(())
}
