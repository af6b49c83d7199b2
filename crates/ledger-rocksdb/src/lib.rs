//! The ledger store on RocksDB: the only crate that knows RocksDB.
//!
//! # Layout
//!
//! One column family per kind of key; every commit is one `WriteBatch` written with
//! `sync = true`, so a commit is atomic and on disk (its WAL fsynced) before it returns.
//!
//! | column family | key                                              | value |
//! |---------------|--------------------------------------------------|-------|
//! | `events`      | sequence (u64 big-endian)                        | envelope, below |
//! | `by_hash`     | event hash (32 bytes)                            | sequence (u64 BE) |
//! | `lot_entries` | the lot's creation sequence (u64 BE), lot id, `0x00`, sequence (u64 BE) | what the event says about the lot: a `LotFact` (postcard) |
//! | `by_party`    | party id, `0x00`, occurred-at ms (i64 BE, sign bit flipped), sequence (u64 BE) | empty |
//! | `followers_of` | linked event's sequence (u64 BE), sequence (u64 BE) | empty |
//! | `by_kind`     | kind (or `*` for all), `0x00`, occurred-at ms (flipped), sequence | empty |
//! | `lots_by`     | `a`, `p:`product or `c:`creator, `0x00`, created-at ms (flipped), creating sequence | lot id |
//! | `lots`        | lot id                                           | JSON `LotRecord` |
//! | `parties`     | party id                                         | JSON `PartyRecord` |
//! | `tree`        | level (1 byte), index (u64 BE), levels 2 and up  | Merkle node (32 bytes) |
//! | `checkpoints` | tree size (u64 BE)                               | signed note (UTF-8) |
//! | `meta`        | `next_sequence`, `authority`, `format`, `legacy_index_below` | u64 BE, party id, `4`, u64 BE |
//! | `by_lot`, `followers` | format 3's lot index (lot id, `0x00`, sequence) and links down (linked hash, sequence) | as `lot_entries`, `followers_of` |
//!
//! Ids never contain `0x00` (they exclude control characters), so the separator keeps
//! one id's keys from running into another's whose id it prefixes.
//!
//! Where a commit's keys land matters as much as how many there are: a key at a random
//! place costs a memtable insert that searches the skip list from the top, and every
//! flushed table of random keys overlaps the whole family below it, so compaction
//! rewrites it all. So the lot index and the links down start with a sequence number
//! (the lot's creation, the linked event's), where most of a group's new entries sit
//! close to each other and to the end of the key space: lots are busy for a while after
//! they are created, then quiet. A lot's entries are found through its record
//! (`lots`), which gives its creation sequence; an event's followers through `by_hash`.
//!
//! Format 3 keyed both by id and hash (`by_lot`, `followers`). A directory it wrote keeps
//! those families, read but never written: its first commit in format 4 records in
//! `meta/legacy_index_below` the first sequence number indexed the new way, and a
//! query reads the old family for events below it, then the new one.
//!
//! The event envelope: format byte `1`, recorded-at (i64 BE Unix milliseconds), the
//! 32-byte hash, the 64-byte signature, then the body bytes exactly as received.
//!
//! Merkle nodes at levels 0 and 1 (a leaf and a pair of leaves) are not stored: a leaf
//! is made of its event's hash, signature and recorded-at, all in the envelope, so
//! [`LedgerStore::tree_node`] derives them from one or two events. They would be half
//! the `tree` family's keys and about 60 incompressible bytes an event; proofs read at
//! most one of each.
//!
//! # Invariants checked at open
//!
//! `meta/next_sequence` equals one past the last key of `events` (or 0). A data directory
//! that disagrees is reported as corrupted, with both numbers, and not opened.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{TimeZone, Utc};
use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::merkle::{TreeHash, leaf_hash, node_hash};
use ledger_core::model::PartyRole;
use ledger_core::state::{LotRecord, PartyRecord};
use ledger_core::trace::LotFact;
use ledger_store::{
    CommitGroup, LedgerStore, LotFilter, PartyEventRef, PreparedGroup, StoreError, StoreErrorKind,
    StoredCheckpoint, StoredEvent, check_continues,
};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions,
};

const CF_EVENTS: &str = "events";
const CF_BY_HASH: &str = "by_hash";
/// Format 3's lot index, keyed by lot id: read, never written (see [`META_LEGACY_BELOW`]).
const CF_BY_LOT: &str = "by_lot";
const CF_LOT_ENTRIES: &str = "lot_entries";
const CF_BY_PARTY: &str = "by_party";
/// Format 3's links down, keyed by the linked event's hash: read, never written.
const CF_FOLLOWERS: &str = "followers";
const CF_FOLLOWERS_OF: &str = "followers_of";
const CF_BY_KIND: &str = "by_kind";
const CF_LOTS_BY: &str = "lots_by";
const CF_LOTS: &str = "lots";
const CF_PARTIES: &str = "parties";
const CF_META: &str = "meta";
const CF_TREE: &str = "tree";
const CF_CHECKPOINTS: &str = "checkpoints";
const ALL_CFS: [&str; 14] = [
    CF_BY_KIND,
    CF_LOTS_BY,
    CF_EVENTS,
    CF_BY_HASH,
    CF_BY_LOT,
    CF_LOT_ENTRIES,
    CF_BY_PARTY,
    CF_FOLLOWERS,
    CF_FOLLOWERS_OF,
    CF_LOTS,
    CF_PARTIES,
    CF_META,
    CF_TREE,
    CF_CHECKPOINTS,
];

const META_NEXT_SEQUENCE: &[u8] = b"next_sequence";
const META_AUTHORITY: &[u8] = b"authority";
const META_FORMAT: &[u8] = b"format";
/// In a directory that an earlier format wrote: the first sequence number indexed in
/// `lot_entries` and `followers_of`. Entries of earlier events are in the old families,
/// `by_lot` and `followers`, which are kept and read but never written.
const META_LEGACY_BELOW: &[u8] = b"legacy_index_below";
/// The layout version in `meta/format`: 2 added lot facts to `by_lot` values; 3 stopped
/// storing Merkle nodes below [`STORED_TREE_LEVEL`]; 4 moved the lot index and the links
/// down to keys that start with a sequence number (`lot_entries`, `followers_of`), so
/// that new entries land near each other instead of all over the key space. An older
/// directory reads the same and becomes format 4 at its next commit, which records
/// where its old index entries end ([`META_LEGACY_BELOW`]); nothing is rewritten.
const FORMAT_VERSION: u8 = 4;
/// Formats this code opens.
const READABLE_FORMATS: [u8; 3] = [2, 3, 4];
/// The lowest level of the Merkle tree kept in `tree`; nodes below it are derived from
/// the events they cover (at most two).
const STORED_TREE_LEVEL: u8 = 2;
/// The event envelope's format byte.
const ENVELOPE_FORMAT: u8 = 1;
const ENVELOPE_HEADER: usize = 1 + 8 + 32 + 64;

/// Tuning for the RocksDB store. RocksDB's memory is bounded by the two budgets: the
/// block cache (which also holds the tables' index and filter blocks, so they do not
/// grow with the data) and the memtables of all column families together (writers stall
/// while flushes catch up, rather than memory growing).
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// Block cache size shared by all column families, in bytes.
    pub block_cache_bytes: usize,
    /// Memtables of all column families together, in bytes.
    pub memtable_bytes: usize,
    /// Open a snapshot of the directory for reading only (beside a running node, for
    /// an audit); commits are refused.
    pub read_only: bool,
    /// Open as a secondary of the primary at the given path, keeping the secondary's
    /// own files in this directory (see [`RocksStore::open_secondary`]).
    pub secondary: Option<std::path::PathBuf>,
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            block_cache_bytes: 64 << 20,
            memtable_bytes: 64 << 20,
            read_only: false,
            secondary: None,
        }
    }
}

/// A [`LedgerStore`] in a RocksDB data directory.
pub struct RocksStore {
    db: DB,
    next_sequence: AtomicU64,
    /// Events below this have their lot entries and links in the format-3 families
    /// (`by_lot`, `followers`); `u64::MAX` until an older directory's first commit in
    /// format 4, 0 for a directory that format 4 started.
    legacy_below: AtomicU64,
    commit_lock: Mutex<()>,
}

fn io(error: rocksdb::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Io, format!("rocksdb: {error}"))
}

fn corrupt(message: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::Corruption, message)
}

fn flip(millis: i64) -> [u8; 8] {
    ((millis as u64) ^ (1 << 63)).to_be_bytes()
}

fn unflip(bytes: &[u8]) -> i64 {
    (u64::from_be_bytes(bytes.try_into().expect("8 bytes")) ^ (1 << 63)) as i64
}

fn read_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt(format!("{what}: expected 8 bytes, found {}", bytes.len())))?;
    Ok(u64::from_be_bytes(array))
}

fn id_key(id: &str, suffix: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 1 + 16);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    for part in suffix {
        key.extend_from_slice(part);
    }
    key
}

/// The `lots_by` index id of a filter.
fn lot_key(filter: LotFilter<'_>) -> String {
    match filter {
        LotFilter::All => "a".to_owned(),
        LotFilter::Product(product) => format!("p:{product}"),
        LotFilter::Creator(party) => format!("c:{party}"),
    }
}

/// A `lot_entries` key: the lot's creation sequence, its id, `0x00`, then the event's
/// sequence (none: the prefix of all the lot's keys).
fn lot_entry_key(created_at_sequence: u64, lot: &LotId, sequence: Option<u64>) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + lot.as_str().len() + 1 + 8);
    key.extend_from_slice(&created_at_sequence.to_be_bytes());
    key.extend_from_slice(lot.as_str().as_bytes());
    key.push(0);
    if let Some(sequence) = sequence {
        key.extend_from_slice(&sequence.to_be_bytes());
    }
    key
}

fn tree_key(level: u8, index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = level;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

fn stored_checkpoint(key: &[u8], value: &[u8]) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        tree_size: read_u64(key, "checkpoints key")?,
        note: String::from_utf8(value.to_vec())
            .map_err(|_| corrupt("a stored checkpoint is not UTF-8"))?,
    })
}

fn encode_envelope(event: &StoredEvent) -> Vec<u8> {
    let mut value = Vec::with_capacity(ENVELOPE_HEADER + event.body.len());
    value.push(ENVELOPE_FORMAT);
    value.extend_from_slice(&event.recorded_at.timestamp_millis().to_be_bytes());
    value.extend_from_slice(event.hash.as_bytes());
    value.extend_from_slice(&event.signature);
    value.extend_from_slice(&event.body);
    value
}

fn decode_envelope(sequence: u64, value: &[u8]) -> Result<StoredEvent, StoreError> {
    if value.len() < ENVELOPE_HEADER || value[0] != ENVELOPE_FORMAT {
        return Err(corrupt(format!(
            "event {sequence}: envelope is damaged ({} bytes)",
            value.len()
        )));
    }
    let millis = i64::from_be_bytes(value[1..9].try_into().expect("8 bytes"));
    let recorded_at = Utc.timestamp_millis_opt(millis).single().ok_or_else(|| {
        corrupt(format!(
            "event {sequence}: recorded-at {millis} is out of range"
        ))
    })?;
    Ok(StoredEvent {
        sequence,
        hash: EventHash(value[9..41].try_into().expect("32 bytes")),
        recorded_at,
        signature: value[41..105].try_into().expect("64 bytes"),
        body: value[ENVELOPE_HEADER..].to_vec(),
    })
}

/// RocksDB's background jobs: one flush and one compaction at a time (its default,
/// spelled out because [`compaction_env`] starts the compaction thread itself).
const BACKGROUND_JOBS: i32 = 2;

/// How many compaction threads [`BACKGROUND_JOBS`] gives: RocksDB keeps a quarter of the
/// jobs (at least one) for flushes and the rest (at least one) for compactions
/// (`DBImpl::GetBGJobLimits`).
const COMPACTION_THREADS: i32 = {
    let flushes = if BACKGROUND_JOBS / 4 > 1 {
        BACKGROUND_JOBS / 4
    } else {
        1
    };
    if BACKGROUND_JOBS - flushes > 1 {
        BACKGROUND_JOBS - flushes
    } else {
        1
    }
};

/// How RocksDB's compaction threads were started in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionPriority {
    /// Under Linux's `SCHED_IDLE` policy: they run only on a core nothing else wants,
    /// and give it up the moment another thread does.
    Idle,
    /// At nice 19 (where `SCHED_IDLE` could not be set): they still hold a core for a
    /// scheduler slice once they have it.
    Lowered,
}

static COMPACTION_PRIORITY: std::sync::OnceLock<CompactionPriority> = std::sync::OnceLock::new();

/// How this process's RocksDB compaction threads run (set by the first open).
pub fn compaction_priority() -> Option<CompactionPriority> {
    COMPACTION_PRIORITY.get().copied()
}

/// The process's RocksDB environment, its compaction threads started (once a process)
/// below every other thread's priority.
///
/// On a small machine a compaction takes a core, in a burst of seconds, from the
/// threads acknowledgements wait for: that was the p99 at 80% of the maximum ingest
/// rate (BENCHMARKS.md, sessions 12 and 13). Compactions only tidy what flushes wrote,
/// so they can wait for a core no one wants; flushes (which free memtables, and which
/// writes stall on) keep normal priority. RocksDB can lower its pools only to nice 19
/// through the C API, and a nice-19 thread keeps a core for its slice once it has it;
/// `SCHED_IDLE` gives it up at once. A new thread inherits its creator's policy, so a
/// short-lived thread sets `SCHED_IDLE` on itself and starts RocksDB's compaction pool
/// (`Env::Default`'s low-priority pool, shared by every store the process opens) before
/// any store opens. If the policy cannot be set, the pool runs at nice 19 instead.
fn compaction_env() -> Result<rocksdb::Env, rocksdb::Error> {
    let env = rocksdb::Env::new()?;
    COMPACTION_PRIORITY.get_or_init(|| {
        let mut idle_env = env.clone();
        let started = std::thread::Builder::new()
            .name("rocksdb-start".into())
            .spawn(move || {
                use thread_priority::{
                    NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
                    set_thread_priority_and_policy, thread_native_id,
                };
                let idle = set_thread_priority_and_policy(
                    thread_native_id(),
                    ThreadPriority::Min,
                    ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
                );
                if idle.is_ok() {
                    idle_env.set_low_priority_background_threads(COMPACTION_THREADS);
                }
                idle.is_ok()
            })
            .ok()
            .and_then(|thread| thread.join().ok())
            .unwrap_or(false);
        if started {
            CompactionPriority::Idle
        } else {
            env.clone().lower_thread_pool_cpu_priority();
            CompactionPriority::Lowered
        }
    });
    Ok(env)
}

impl RocksStore {
    /// Opens (creating if needed) the store in `path` with default options.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        RocksStore::open_with(path, &RocksOptions::default())
    }

    /// Opens (creating if needed) the store in `path`.
    pub fn open_with(path: &Path, options: &RocksOptions) -> Result<RocksStore, StoreError> {
        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let env = compaction_env().map_err(io)?;
        db_options.set_env(&env);
        db_options.set_max_background_jobs(BACKGROUND_JOBS);
        let memtables = options.memtable_bytes.max(4 << 20);
        db_options.set_write_buffer_manager(
            &rocksdb::WriteBufferManager::new_write_buffer_manager(memtables, true),
        );
        // The WAL holds what the memtables have not flushed yet; past this, RocksDB
        // flushes the column families that keep the oldest log alive.
        db_options.set_max_total_wal_size(2 * memtables as u64);
        // Flushes and compactions write their tables out to the disk a megabyte at a
        // time as they go, instead of leaving it all to one sync at the end: a burst of
        // tens of megabytes written back at once would hold up the commits' WAL syncs.
        db_options.set_bytes_per_sync(1 << 20);
        let cache = rocksdb::Cache::new_lru_cache(options.block_cache_bytes);
        // Index and filter blocks live in the block cache, so their memory is bounded
        // too; partitioned, so a lookup loads only the partitions it needs (a whole
        // table's filter, re-read for every lookup once evicted, was most of the writer's
        // time at a few million events), with the small top levels pinned.
        let table_options = |bloom: bool| {
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_top_level_index_and_filter(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
            table.set_partition_filters(true);
            table.set_metadata_block_size(4096);
            if bloom {
                table.set_bloom_filter(10.0, false);
            }
            table
        };
        // A read-only or secondary open cannot create families: it opens those the
        // directory has (one an older format wrote lacks the newer ones, which then read
        // as empty).
        let existing = if options.read_only || options.secondary.is_some() {
            DB::list_cf(&db_options, path).map_err(io)?
        } else {
            ALL_CFS.iter().map(|name| name.to_string()).collect()
        };
        let families = ALL_CFS
            .iter()
            .filter(|name| existing.iter().any(|e| e == *name));
        let descriptors = families.map(|name| {
            // Admission looks up keys that are mostly absent (is this event new? is this
            // lot new? is this party registered?): a Bloom filter answers those without
            // reading a data block. The other families are scanned or read by keys that
            // exist, where a filter would only cost memory.
            let bloom = matches!(*name, CF_BY_HASH | CF_LOTS | CF_PARTIES);
            let mut cf_options = Options::default();
            cf_options.set_compression_type(rocksdb::DBCompressionType::Lz4);
            cf_options.set_block_based_table_factory(&table_options(bloom));
            cf_options.set_write_buffer_size(memtables / 4);
            if bloom {
                // The same for the memtables (a filter of about 2% of their size).
                cf_options.set_memtable_whole_key_filtering(true);
                cf_options.set_memtable_prefix_bloom_ratio(0.02);
            }
            ColumnFamilyDescriptor::new(*name, cf_options)
        });
        let db = if let Some(secondary) = &options.secondary {
            // A secondary must keep every file open to follow the primary's.
            db_options.set_max_open_files(-1);
            DB::open_cf_descriptors_as_secondary(&db_options, path, secondary, descriptors)
                .map_err(io)?
        } else if options.read_only {
            DB::open_cf_descriptors_read_only(&db_options, path, descriptors, false).map_err(io)?
        } else {
            DB::open_cf_descriptors(&db_options, path, descriptors).map_err(io)?
        };
        let store = RocksStore {
            db,
            next_sequence: AtomicU64::new(0),
            legacy_below: AtomicU64::new(0),
            commit_lock: Mutex::new(()),
        };
        let next = store.check_consistency()?;
        store.next_sequence.store(next, Ordering::SeqCst);
        store.read_legacy_below()?;
        Ok(store)
    }

    /// Opens a read-only secondary of the store a running node writes in `primary`,
    /// keeping its own bookkeeping in `secondary` (a directory of its own). It sees the
    /// primary's writes as of opening, and later ones after each [`RocksStore::catch_up`].
    pub fn open_secondary(primary: &Path, secondary: &Path) -> Result<RocksStore, StoreError> {
        if !primary.join("CURRENT").exists() {
            return Err(StoreError::new(
                StoreErrorKind::Io,
                format!("{} holds no ledger", primary.display()),
            ));
        }
        std::fs::create_dir_all(secondary).map_err(|e| {
            StoreError::new(StoreErrorKind::Io, format!("{}: {e}", secondary.display()))
        })?;
        RocksStore::open_with(
            primary,
            &RocksOptions {
                secondary: Some(secondary.to_owned()),
                ..RocksOptions::default()
            },
        )
    }

    /// A secondary: reads what the primary has written since, and returns the number of
    /// events now visible. Each primary commit is one write batch, so a catch-up never
    /// shows part of one.
    pub fn catch_up(&self) -> Result<u64, StoreError> {
        self.db.try_catch_up_with_primary().map_err(io)?;
        let next = match self
            .db
            .get_cf(self.cf(CF_META), META_NEXT_SEQUENCE)
            .map_err(io)?
        {
            Some(bytes) => read_u64(&bytes, "meta/next_sequence")?,
            None => 0,
        };
        self.next_sequence.fetch_max(next, Ordering::SeqCst);
        // The primary may have moved an older directory to format 4 since (once: after
        // that the boundary never changes).
        if self.legacy_below.load(Ordering::SeqCst) == u64::MAX {
            self.read_legacy_below()?;
        }
        Ok(self.next_sequence.load(Ordering::SeqCst))
    }

    /// Reads where the format-3 index entries end ([`META_LEGACY_BELOW`]).
    fn read_legacy_below(&self) -> Result<(), StoreError> {
        let meta = self.cf(CF_META);
        let format = self.db.get_cf(meta, META_FORMAT).map_err(io)?;
        let below = match format.as_deref() {
            // A new directory.
            None => 0,
            Some([format]) if *format < 4 => u64::MAX,
            Some(_) => match self.db.get_cf(meta, META_LEGACY_BELOW).map_err(io)? {
                Some(bytes) => read_u64(&bytes, "meta/legacy_index_below")?,
                None => 0,
            },
        };
        self.legacy_below.store(below, Ordering::SeqCst);
        Ok(())
    }

    /// The sequence number of the event that created the lot, from its record.
    fn lot_created_at(&self, lot_id: &LotId) -> Result<Option<u64>, StoreError> {
        Ok(self.lot(lot_id)?.map(|lot| lot.created_at_sequence))
    }

    /// Visits the lot's index entries after `after` (exclusive), in ascending sequence
    /// order, as (sequence, value), while `each` returns `Ok(true)`: first those in the
    /// format-3 family, then those filed under the lot's creation sequence.
    fn scan_lot(
        &self,
        lot_id: &LotId,
        after: Option<u64>,
        mut each: impl FnMut(u64, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let start_seq = match after {
            Some(u64::MAX) => return Ok(()),
            Some(after) => after + 1,
            None => 0,
        };
        let legacy_below = self.legacy_below.load(Ordering::SeqCst);
        let mut ranges = Vec::with_capacity(2);
        if start_seq < legacy_below {
            let prefix = id_key(lot_id.as_str(), &[]);
            let start = id_key(lot_id.as_str(), &[&start_seq.to_be_bytes()]);
            ranges.push((CF_BY_LOT, prefix, start));
        }
        if legacy_below != u64::MAX
            && let Some(created) = self.lot_created_at(lot_id)?
        {
            let prefix = lot_entry_key(created, lot_id, None);
            let start = lot_entry_key(created, lot_id, Some(start_seq));
            ranges.push((CF_LOT_ENTRIES, prefix, start));
        }
        let mut bad = None;
        let mut more = true;
        for (cf, prefix, start) in ranges {
            self.scan_entries(cf, &prefix, &start, |suffix, value| {
                match read_u64(suffix, "lot index key").and_then(|seq| each(seq, value)) {
                    Ok(go_on) => more = go_on,
                    Err(e) => bad = Some(e),
                }
                more && bad.is_none()
            })?;
            if !more || bad.is_some() {
                break;
            }
        }
        bad.map_or(Ok(()), Err)
    }

    /// Opens the store in `path` for reading only: a snapshot as of now, beside a
    /// running node if need be.
    pub fn open_read_only(path: &Path) -> Result<RocksStore, StoreError> {
        if !path.join("CURRENT").exists() {
            return Err(StoreError::new(
                StoreErrorKind::Io,
                format!("{} holds no ledger", path.display()),
            ));
        }
        RocksStore::open_with(
            path,
            &RocksOptions {
                read_only: true,
                ..RocksOptions::default()
            },
        )
    }

    /// Alters stored bytes behind the store's back, as an attacker with the disk could:
    /// only for tests that prove the audit catches it.
    #[cfg(feature = "tamper")]
    pub fn tamper(&self) -> Tamper<'_> {
        Tamper(self)
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column family created at open")
    }

    /// Merkle node `(level, index)` below [`STORED_TREE_LEVEL`], made from the leaves of
    /// the events it covers; `None` if any of them is not stored.
    fn derived_tree_node(&self, level: u8, index: u64) -> Result<Option<TreeHash>, StoreError> {
        let width = 1u64 << level;
        let Some(first) = index.checked_mul(width) else {
            return Ok(None);
        };
        let mut nodes = Vec::with_capacity(width as usize);
        for sequence in first..first.saturating_add(width) {
            let Some(event) = self.event(sequence)? else {
                return Ok(None);
            };
            nodes.push(leaf_hash(
                &event.hash,
                &event.signature,
                event.recorded_at.timestamp_millis(),
            ));
        }
        if nodes.len() as u64 != width {
            return Ok(None);
        }
        while nodes.len() > 1 {
            nodes = nodes
                .chunks(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
        }
        Ok(nodes.pop())
    }

    /// Reads `meta/next_sequence` and checks it against the log's last key.
    fn check_consistency(&self) -> Result<u64, StoreError> {
        let meta = self.cf(CF_META);
        match self.db.get_cf(meta, META_FORMAT).map_err(io)? {
            None => {}
            Some(format) if format.len() == 1 && READABLE_FORMATS.contains(&format[0]) => {}
            Some(format) => return Err(corrupt(format!("unknown data format {format:?}"))),
        }
        let recorded = match self.db.get_cf(meta, META_NEXT_SEQUENCE).map_err(io)? {
            Some(bytes) => read_u64(&bytes, "meta/next_sequence")?,
            None => 0,
        };
        let last = self
            .db
            .iterator_cf(self.cf(CF_EVENTS), IteratorMode::End)
            .next()
            .transpose()
            .map_err(io)?;
        let actual = match last {
            Some((key, _)) => read_u64(&key, "events key")? + 1,
            None => 0,
        };
        if recorded != actual {
            return Err(corrupt(format!(
                "data directory is inconsistent: meta says the next sequence is {recorded}, the log ends at {actual}"
            )));
        }
        Ok(actual)
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        cf: &str,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.db.get_pinned_cf(self.cf(cf), key).map_err(io)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt(format!("{what} {}: {e}", String::from_utf8_lossy(key)))),
        }
    }

    /// Keys of `cf` that start with `prefix`, from `start` on, with `prefix` stripped.
    fn scan_suffixes(
        &self,
        cf: &str,
        prefix: &[u8],
        start: &[u8],
        mut keep_going: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.scan_entries(cf, prefix, start, |suffix, _| keep_going(suffix))
    }

    /// A time-ordered index (`id`, `0x00`, flipped millis, sequence): entries from
    /// `from` to `to_millis` (exclusive), at most `limit`, each with its value.
    fn scan_time_index(
        &self,
        cf: &str,
        id: &str,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
        mut each: impl FnMut(PartyEventRef, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let prefix = id_key(id, &[]);
        let start = id_key(
            id,
            &[&flip(from.occurred_at_millis), &from.sequence.to_be_bytes()],
        );
        let mut found = 0;
        let mut bad = None;
        self.scan_entries(cf, &prefix, &start, |suffix, value| {
            if found >= limit {
                return false;
            }
            if suffix.len() != 16 {
                bad = Some(corrupt(format!(
                    "{cf} key suffix of {} bytes",
                    suffix.len()
                )));
                return false;
            }
            let occurred_at_millis = unflip(&suffix[..8]);
            if occurred_at_millis >= to_millis {
                return false;
            }
            let sequence = u64::from_be_bytes(suffix[8..].try_into().expect("8 bytes"));
            found += 1;
            match each(
                PartyEventRef {
                    occurred_at_millis,
                    sequence,
                },
                value,
            ) {
                Ok(()) => true,
                Err(e) => {
                    bad = Some(e);
                    false
                }
            }
        })?;
        bad.map_or(Ok(()), Err)
    }

    /// Entries of `cf` whose keys start with `prefix`, from `start` on, with `prefix`
    /// stripped from the keys.
    fn scan_entries(
        &self,
        cf: &str,
        prefix: &[u8],
        start: &[u8],
        mut keep_going: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let Some(family) = self.db.cf_handle(cf) else {
            return Ok(()); // not in this (read-only, older) directory: no entries
        };
        let mut iterator = self.db.raw_iterator_cf(family);
        iterator.seek(start);
        while iterator.valid() {
            let (Some(key), Some(value)) = (iterator.key(), iterator.value()) else {
                break;
            };
            let Some(suffix) = key.strip_prefix(prefix) else {
                break;
            };
            if !keep_going(suffix, value) {
                break;
            }
            iterator.next();
        }
        iterator.status().map_err(io)
    }
}

/// The medium's bound for the load generator: `n` synced writes, each one `WriteBatch` of
/// `keys` keys with `value_len`-byte values, into a fresh RocksDB database created in
/// `dir` (which must not exist yet, and is left behind for the caller to remove). Returns
/// each write's duration. This is what one commit group costs at least, with none of the
/// ledger's work.
pub fn synced_batch_writes(
    dir: &Path,
    n: usize,
    keys: usize,
    value_len: usize,
) -> Result<Vec<std::time::Duration>, StoreError> {
    if dir.exists() {
        return Err(StoreError::new(
            StoreErrorKind::Io,
            format!(
                "{} exists; the probe writes a fresh database",
                dir.display()
            ),
        ));
    }
    let mut options = Options::default();
    options.create_if_missing(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let db = DB::open(&options, dir).map_err(io)?;
    let mut write_options = WriteOptions::default();
    write_options.set_sync(true);
    let value: Vec<u8> = (0..value_len).map(|i| (i * 131 % 251) as u8).collect();
    let mut times = Vec::with_capacity(n);
    for round in 0..n {
        let mut batch = WriteBatch::default();
        for key in 0..keys {
            batch.put(((round * keys + key) as u64).to_be_bytes(), &value);
        }
        let started = std::time::Instant::now();
        db.write_opt(batch, &write_options).map_err(io)?;
        times.push(started.elapsed());
    }
    Ok(times)
}

/// A commit's writes, put into RocksDB's batch sorted by column family and key: a
/// memtable takes keys in ascending order much faster (its skip list reuses the last
/// insert's position instead of searching from the top), and most of a group's keys
/// (hashes, lot and party ids) arrive in no order at all. Each family's writes are
/// gathered apart and sorted by key alone: the log's, the tree's and the links' arrive
/// nearly in order already, which the sort finds in one pass.
#[derive(Default)]
struct SortedBatch {
    families: Vec<(&'static str, Vec<Put>)>,
}

/// A key and its value.
type Put = (Vec<u8>, Vec<u8>);

impl SortedBatch {
    /// Takes the key and value as they are (most are built for this put), copying
    /// only borrowed ones.
    fn put(&mut self, cf: &'static str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        let family = match self.families.iter().position(|(name, _)| *name == cf) {
            Some(i) => i,
            None => {
                self.families.push((cf, Vec::new()));
                self.families.len() - 1
            }
        };
        self.families[family].1.push((key.into(), value.into()));
    }

    fn into_write_batch(mut self, store: &RocksStore) -> Result<WriteBatch, StoreError> {
        // Each put costs its key and value and a dozen bytes of framing; a batch that
        // grew as it went would copy itself over and over.
        let bytes: usize = self
            .families
            .iter()
            .flat_map(|(_, puts)| puts)
            .map(|(key, value)| key.len() + value.len() + 16)
            .sum();
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 64);
        self.families.sort_by_key(|(name, _)| *name);
        for (cf, puts) in &mut self.families {
            let family = store.db.cf_handle(cf).ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Io,
                    format!(
                        "column family {cf} is missing (a read-only open of an older directory)"
                    ),
                )
            })?;
            // Stable: of two writes of one key, the later still lands last.
            puts.sort_by(|(a, _), (b, _)| a.cmp(b));
            for (key, value) in puts.iter() {
                batch.put_cf(family, key, value);
            }
        }
        Ok(batch)
    }
}

/// A group's writes encoded ahead of its commit ([`LedgerStore::prepare`]): all but the
/// log's own bookkeeping in `meta`, which depends on the log at commit time.
struct EncodedGroup(WriteBatch);

impl RocksStore {
    /// A group's writes, sorted (see [`SortedBatch`]), but for `meta`'s bookkeeping.
    fn encode(&self, group: &CommitGroup) -> Result<WriteBatch, StoreError> {
        let mut batch = SortedBatch::default();
        for new in &group.events {
            let event = &new.event;
            let seq = event.sequence.to_be_bytes();
            batch.put(CF_EVENTS, seq, encode_envelope(event));
            batch.put(CF_BY_HASH, event.hash.as_bytes(), seq);
            for entry in &new.index.lots {
                batch.put(
                    CF_LOT_ENTRIES,
                    lot_entry_key(entry.created_at_sequence, &entry.lot, Some(event.sequence)),
                    entry.fact.encode(),
                );
            }
            let time = flip(new.index.occurred_at_millis);
            for party in &new.index.parties {
                batch.put(
                    CF_BY_PARTY,
                    id_key(party.as_str(), &[&time, &seq]),
                    Vec::new(),
                );
            }
            for link in &new.index.links {
                let mut key = Vec::with_capacity(16);
                key.extend_from_slice(&link.to_be_bytes());
                key.extend_from_slice(&seq);
                batch.put(CF_FOLLOWERS_OF, key, Vec::new());
            }
            for kind in [new.index.kind.as_str(), "*"] {
                batch.put(CF_BY_KIND, id_key(kind, &[&time, &seq]), Vec::new());
            }
        }
        for lot in &group.lots {
            let time = flip(lot.created_at.timestamp_millis());
            let seq = lot.created_at_sequence.to_be_bytes();
            for filter in [
                LotFilter::All,
                LotFilter::Product(lot.product_name.as_str()),
                LotFilter::Creator(&lot.created_by),
            ] {
                batch.put(
                    CF_LOTS_BY,
                    id_key(&lot_key(filter), &[&time, &seq]),
                    lot.lot_id.as_str(),
                );
            }
            let json = serde_json::to_vec(lot).expect("lot records serialize");
            batch.put(CF_LOTS, lot.lot_id.as_str(), json);
        }
        for party in &group.parties {
            let json = serde_json::to_vec(party).expect("party records serialize");
            batch.put(CF_PARTIES, party.party_id.as_str(), json);
            if party.role == PartyRole::Authority {
                batch.put(CF_META, META_AUTHORITY, party.party_id.as_str());
            }
        }
        // Nodes below STORED_TREE_LEVEL are derived from the events (which this group
        // or an earlier one holds: a node is completed by its last leaf).
        for node in group
            .tree_nodes
            .iter()
            .filter(|node| node.level >= STORED_TREE_LEVEL)
        {
            batch.put(CF_TREE, tree_key(node.level, node.index), node.hash.0);
        }
        if let Some(checkpoint) = &group.checkpoint {
            batch.put(
                CF_CHECKPOINTS,
                checkpoint.tree_size.to_be_bytes(),
                checkpoint.note.as_bytes(),
            );
        }
        batch.into_write_batch(self)
    }

    /// Writes a group encoded by [`RocksStore::encode`] if it continues the log.
    fn write_encoded(
        &self,
        group: &CommitGroup,
        batch: Option<WriteBatch>,
    ) -> Result<(), StoreError> {
        let _writer = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let next = self.next_sequence.load(Ordering::SeqCst);
        check_continues(group, next)?;
        if group.is_empty() {
            return Ok(());
        }
        let mut batch = match batch {
            Some(batch) => batch,
            None => self.encode(group)?,
        };
        let meta = self.cf(CF_META);
        let new_next = next + group.events.len() as u64;
        batch.put_cf(meta, META_NEXT_SEQUENCE, new_next.to_be_bytes());
        batch.put_cf(meta, META_FORMAT, [FORMAT_VERSION]);
        let upgrading = self.legacy_below.load(Ordering::SeqCst) == u64::MAX;
        if upgrading {
            batch.put_cf(meta, META_LEGACY_BELOW, next.to_be_bytes());
        }
        let mut write_options = WriteOptions::default();
        write_options.set_sync(true);
        self.db.write_opt(batch, &write_options).map_err(io)?;
        self.next_sequence.store(new_next, Ordering::SeqCst);
        if upgrading {
            self.legacy_below.store(next, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl LedgerStore for RocksStore {
    fn commit(&self, group: &CommitGroup) -> Result<(), StoreError> {
        self.write_encoded(group, None)
    }

    fn prepare(&self, group: CommitGroup) -> PreparedGroup {
        // A group that cannot be encoded (a family missing) is encoded again at commit,
        // which then fails with the reason.
        let encoded = self.encode(&group).ok().map(EncodedGroup);
        PreparedGroup::new(
            group,
            encoded.map(|e| Box::new(e) as Box<dyn std::any::Any + Send>),
        )
    }

    fn commit_prepared(&self, prepared: &mut PreparedGroup) -> Result<(), StoreError> {
        let (group, encoded) = prepared.take_encoded::<EncodedGroup>();
        self.write_encoded(group, encoded.map(|EncodedGroup(batch)| batch))
    }

    fn next_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.next_sequence.load(Ordering::SeqCst))
    }

    fn event(&self, sequence: u64) -> Result<Option<StoredEvent>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_EVENTS), sequence.to_be_bytes())
            .map_err(io)?
        {
            None => Ok(None),
            Some(value) => decode_envelope(sequence, &value).map(Some),
        }
    }

    fn sequence_of(&self, hash: &EventHash) -> Result<Option<u64>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_BY_HASH), hash.as_bytes())
            .map_err(io)?
        {
            None => Ok(None),
            Some(value) => read_u64(&value, "by_hash value").map(Some),
        }
    }

    fn events_from(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::with_capacity(limit.min(4096));
        let mut expected = Some(from);
        let mut bad = None;
        self.scan_entries(CF_EVENTS, &[], &from.to_be_bytes(), |key, value| {
            let Some(sequence) = expected.filter(|_| events.len() < limit) else {
                return false;
            };
            if key != sequence.to_be_bytes() {
                return false; // a gap: the caller sees where the run stops
            }
            match decode_envelope(sequence, value) {
                Ok(event) => events.push(event),
                Err(e) => {
                    bad = Some(e);
                    return false;
                }
            }
            expected = sequence.checked_add(1);
            true
        })?;
        match bad {
            Some(e) => Err(e),
            None => Ok(events),
        }
    }

    fn sequences_of(&self, hashes: &[EventHash]) -> Result<Vec<Option<u64>>, StoreError> {
        self.db
            .batched_multi_get_cf(
                self.cf(CF_BY_HASH),
                hashes.iter().map(|h| h.as_bytes()),
                false,
            )
            .into_iter()
            .map(|value| match value.map_err(io)? {
                None => Ok(None),
                Some(value) => read_u64(&value, "by_hash value").map(Some),
            })
            .collect()
    }

    fn scan_hash_index(
        &self,
        visit: &mut dyn FnMut(&EventHash, u64) -> bool,
    ) -> Result<(), StoreError> {
        let mut bad = None;
        self.scan_entries(CF_BY_HASH, &[], &[], |key, value| {
            let entry = EventHash::from_slice(key)
                .map_err(|_| {
                    corrupt(format!(
                        "by_hash key: expected 32 bytes, found {}",
                        key.len()
                    ))
                })
                .and_then(|hash| Ok((hash, read_u64(value, "by_hash value")?)));
            match entry {
                Ok((hash, sequence)) => visit(&hash, sequence),
                Err(e) => {
                    bad = Some(e);
                    false
                }
            }
        })?;
        bad.map_or(Ok(()), Err)
    }

    fn lot_events(
        &self,
        lot_id: &LotId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let mut sequences = Vec::new();
        if limit > 0 {
            self.scan_lot(lot_id, after, |sequence, _| {
                sequences.push(sequence);
                Ok(sequences.len() < limit)
            })?;
        }
        Ok(sequences)
    }

    fn lot_facts(
        &self,
        lot_id: &LotId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<LotFact>, StoreError> {
        let mut facts = Vec::new();
        if limit > 0 {
            self.scan_lot(lot_id, after, |sequence, value| {
                let fact = LotFact::decode(value)
                    .map_err(|e| corrupt(format!("lot {lot_id}, event {sequence}: {e}")))?;
                facts.push(fact);
                Ok(facts.len() < limit)
            })?;
        }
        Ok(facts)
    }

    fn party_events(
        &self,
        party_id: &PartyId,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<PartyEventRef>, StoreError> {
        let prefix = id_key(party_id.as_str(), &[]);
        let start = id_key(
            party_id.as_str(),
            &[&flip(from.occurred_at_millis), &from.sequence.to_be_bytes()],
        );
        let mut refs = Vec::new();
        let mut bad = None;
        self.scan_suffixes(CF_BY_PARTY, &prefix, &start, |suffix| {
            if refs.len() >= limit {
                return false;
            }
            if suffix.len() != 16 {
                bad = Some(corrupt(format!(
                    "by_party key suffix of {} bytes",
                    suffix.len()
                )));
                return false;
            }
            let occurred_at_millis = unflip(&suffix[..8]);
            if occurred_at_millis >= to_millis {
                return false;
            }
            let sequence = u64::from_be_bytes(suffix[8..].try_into().expect("8 bytes"));
            refs.push(PartyEventRef {
                occurred_at_millis,
                sequence,
            });
            true
        })?;
        bad.map_or(Ok(refs), Err)
    }

    fn events_by_kind(
        &self,
        kind: Option<&str>,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<PartyEventRef>, StoreError> {
        let mut refs = Vec::new();
        self.scan_time_index(
            CF_BY_KIND,
            kind.unwrap_or("*"),
            from,
            to_millis,
            limit,
            |r, _| {
                refs.push(r);
                Ok(())
            },
        )?;
        Ok(refs)
    }

    fn lots_by(
        &self,
        filter: LotFilter<'_>,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<(PartyEventRef, LotId)>, StoreError> {
        let mut lots = Vec::new();
        self.scan_time_index(
            CF_LOTS_BY,
            &lot_key(filter),
            from,
            to_millis,
            limit,
            |r, value| {
                let text = std::str::from_utf8(value)
                    .map_err(|_| corrupt("a lots_by value is not UTF-8"))?;
                let lot = LotId::parse(text).map_err(|e| corrupt(format!("lots_by value: {e}")))?;
                lots.push((r, lot));
                Ok(())
            },
        )?;
        Ok(lots)
    }

    fn followers(&self, hash: &EventHash) -> Result<Vec<u64>, StoreError> {
        let legacy_below = self.legacy_below.load(Ordering::SeqCst);
        let mut ranges = Vec::with_capacity(2);
        if legacy_below > 0 {
            ranges.push((CF_FOLLOWERS, hash.as_bytes().to_vec()));
        }
        if legacy_below != u64::MAX
            && let Some(linked) = self.sequence_of(hash)?
        {
            ranges.push((CF_FOLLOWERS_OF, linked.to_be_bytes().to_vec()));
        }
        let mut sequences = Vec::new();
        let mut bad = None;
        for (cf, prefix) in ranges {
            self.scan_suffixes(cf, &prefix, &prefix, |suffix| {
                match read_u64(suffix, "followers key") {
                    Ok(seq) => sequences.push(seq),
                    Err(e) => bad = Some(e),
                }
                bad.is_none()
            })?;
        }
        bad.map_or(Ok(sequences), Err)
    }

    fn lot(&self, lot_id: &LotId) -> Result<Option<LotRecord>, StoreError> {
        self.get_json(CF_LOTS, lot_id.as_str().as_bytes(), "lot")
    }

    fn party(&self, party_id: &PartyId) -> Result<Option<PartyRecord>, StoreError> {
        self.get_json(CF_PARTIES, party_id.as_str().as_bytes(), "party")
    }

    fn authority(&self) -> Result<Option<PartyId>, StoreError> {
        match self
            .db
            .get_cf(self.cf(CF_META), META_AUTHORITY)
            .map_err(io)?
        {
            None => Ok(None),
            Some(bytes) => {
                let text =
                    String::from_utf8(bytes).map_err(|_| corrupt("meta/authority is not UTF-8"))?;
                PartyId::parse(&text)
                    .map(Some)
                    .map_err(|e| corrupt(format!("meta/authority: {e}")))
            }
        }
    }

    /// Every column family's memtables written to tables, waiting until they are; the
    /// write-ahead logs they kept alive are then deleted.
    fn flush(&self) -> Result<(), StoreError> {
        let cfs: Vec<&ColumnFamily> = ALL_CFS
            .iter()
            .filter_map(|name| self.db.cf_handle(name))
            .collect();
        let mut options = rocksdb::FlushOptions::default();
        options.set_wait(true);
        self.db.flush_cfs_opt(&cfs, &options).map_err(io)
    }

    /// A RocksDB checkpoint: the tables hard-linked (copied across file systems), the
    /// memtables flushed first, so the copy opens without replaying a log. Each commit is
    /// one atomic batch, so the copy holds whole commits only.
    fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Err(StoreError::new(
                StoreErrorKind::Conflict,
                format!("{} already exists", dest.display()),
            ));
        }
        rocksdb::checkpoint::Checkpoint::new(&self.db)
            .and_then(|checkpoint| checkpoint.create_checkpoint(dest))
            .map_err(io)
    }

    fn tree_node(&self, level: u8, index: u64) -> Result<Option<TreeHash>, StoreError> {
        if level < STORED_TREE_LEVEL {
            return self.derived_tree_node(level, index);
        }
        match self
            .db
            .get_pinned_cf(self.cf(CF_TREE), tree_key(level, index))
            .map_err(io)?
        {
            None => Ok(None),
            Some(value) => <[u8; 32]>::try_from(&value[..])
                .map(|bytes| Some(TreeHash(bytes)))
                .map_err(|_| {
                    corrupt(format!(
                        "merkle node ({level}, {index}) is {} bytes",
                        value.len()
                    ))
                }),
        }
    }

    fn checkpoint_at_least(&self, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let start = tree_size.to_be_bytes();
        let first = self
            .db
            .iterator_cf(
                self.cf(CF_CHECKPOINTS),
                IteratorMode::From(&start, Direction::Forward),
            )
            .next()
            .transpose()
            .map_err(io)?;
        first
            .map(|(key, value)| stored_checkpoint(&key, &value))
            .transpose()
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let last = self
            .db
            .iterator_cf(self.cf(CF_CHECKPOINTS), IteratorMode::End)
            .next()
            .transpose()
            .map_err(io)?;
        last.map(|(key, value)| stored_checkpoint(&key, &value))
            .transpose()
    }
}

/// Raw writes that bypass every check (feature `tamper`, for tests only).
#[cfg(feature = "tamper")]
pub struct Tamper<'a>(&'a RocksStore);

#[cfg(feature = "tamper")]
impl Tamper<'_> {
    /// Flips one bit of the stored body of event `sequence`.
    pub fn flip_body_bit(&self, sequence: u64, byte: usize, bit: u8) {
        self.rewrite_event(sequence, |value| {
            let at = ENVELOPE_HEADER + byte % (value.len() - ENVELOPE_HEADER);
            value[at] ^= 1 << (bit % 8);
        });
    }

    /// Flips one bit of the stored signature of event `sequence`.
    pub fn flip_signature_bit(&self, sequence: u64, byte: usize, bit: u8) {
        // The signature follows the format byte, recorded-at (8) and hash (32).
        self.rewrite_event(sequence, |value| value[41 + byte % 64] ^= 1 << (bit % 8));
    }

    fn read_event(&self, sequence: u64) -> Vec<u8> {
        self.0
            .db
            .get_cf(self.0.cf(CF_EVENTS), sequence.to_be_bytes())
            .expect("read")
            .expect("event exists")
    }

    fn write_event(&self, sequence: u64, value: Vec<u8>) {
        self.0
            .db
            .put_cf(self.0.cf(CF_EVENTS), sequence.to_be_bytes(), value)
            .expect("write");
    }

    fn rewrite_event(&self, sequence: u64, change: impl FnOnce(&mut Vec<u8>)) {
        let mut value = self.read_event(sequence);
        change(&mut value);
        self.write_event(sequence, value);
    }

    /// Deletes the stored event `sequence` (its index entries stay).
    pub fn delete_event(&self, sequence: u64) {
        self.0
            .db
            .delete_cf(self.0.cf(CF_EVENTS), sequence.to_be_bytes())
            .expect("delete");
    }

    /// Swaps the stored events `a` and `b` (their index entries stay).
    pub fn swap_events(&self, a: u64, b: u64) {
        let (value_a, value_b) = (self.read_event(a), self.read_event(b));
        self.write_event(a, value_b);
        self.write_event(b, value_a);
    }

    /// Sets the hash index's entry for `hash` to `sequence`, or deletes it (`None`).
    pub fn set_hash_index(&self, hash: &EventHash, sequence: Option<u64>) {
        let by_hash = self.0.cf(CF_BY_HASH);
        match sequence {
            Some(sequence) => self
                .0
                .db
                .put_cf(by_hash, hash.as_bytes(), sequence.to_be_bytes())
                .expect("write"),
            None => self
                .0
                .db
                .delete_cf(by_hash, hash.as_bytes())
                .expect("delete"),
        }
    }

    /// Flips one bit of the stored Merkle node `(level, index)` (level 2 or above: the
    /// lower ones are derived from the events).
    pub fn flip_tree_node_bit(&self, level: u8, index: u64, byte: usize, bit: u8) {
        let tree = self.0.cf(CF_TREE);
        let key = tree_key(level, index);
        let mut value = self
            .0
            .db
            .get_cf(tree, key)
            .expect("read")
            .expect("node exists");
        value[byte % 32] ^= 1 << (bit % 8);
        self.0.db.put_cf(tree, key, value).expect("write");
    }
}
