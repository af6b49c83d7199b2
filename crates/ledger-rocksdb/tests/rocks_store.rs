//! The conformance suite on RocksDB in a temporary directory, and what only a disk store
//! must do: keep everything across a reopen, and refuse a damaged directory.

use ledger_core::merkle::{NewNode, TreeHash, leaf_hash, node_hash};
use ledger_core::model::PartyRole;
use ledger_rocksdb::RocksStore;
use ledger_store::conformance::{lot_record, new_event, new_event_about, party_id, party_record};
use ledger_store::{CommitGroup, LedgerStore, StoreErrorKind, StoredCheckpoint};

fn fresh() -> (tempfile::TempDir, Box<dyn LedgerStore>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RocksStore::open(dir.path()).expect("open");
    (dir, Box::new(store))
}

ledger_store::store_conformance_tests!(fresh);

#[test]
fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let group = CommitGroup {
        events: vec![
            new_event(0, &[], &[party_id(0)], 10, &[]),
            new_event_about(1, &[("L1", 1)], &[party_id(1)], 20, &[]),
        ],
        lots: vec![lot_record("L1", 1)],
        parties: vec![
            party_record(0, PartyRole::Authority),
            party_record(1, PartyRole::Producer),
        ],
        tree_nodes: vec![
            NewNode {
                level: 0,
                index: 0,
                hash: TreeHash([4; 32]),
            },
            NewNode {
                level: 2,
                index: 0,
                hash: TreeHash([5; 32]),
            },
        ],
        checkpoint: Some(StoredCheckpoint {
            tree_size: 2,
            note: "a note\n".into(),
        }),
    };
    {
        let store = RocksStore::open(dir.path()).unwrap();
        store.commit(&group).unwrap();
    }
    let store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(store.next_sequence().unwrap(), 2);
    for new in &group.events {
        assert_eq!(
            store.event(new.event.sequence).unwrap().as_ref(),
            Some(&new.event)
        );
    }
    assert_eq!(
        store.lot_events(&"L1".parse_lot(), None, 10).unwrap(),
        vec![1]
    );
    assert_eq!(store.authority().unwrap(), Some(party_id(0)));
    // Levels 0 and 1 are derived from the events (a node given for them is not kept);
    // higher levels come back as written.
    let leaf = |sequence: usize| {
        let event = &group.events[sequence].event;
        leaf_hash(
            &event.hash,
            &event.signature,
            event.recorded_at.timestamp_millis(),
        )
    };
    assert_eq!(store.tree_node(0, 0).unwrap(), Some(leaf(0)));
    assert_eq!(store.tree_node(0, 1).unwrap(), Some(leaf(1)));
    assert_eq!(store.tree_node(0, 2).unwrap(), None);
    assert_eq!(
        store.tree_node(1, 0).unwrap(),
        Some(node_hash(&leaf(0), &leaf(1)))
    );
    assert_eq!(store.tree_node(1, 1).unwrap(), None);
    assert_eq!(store.tree_node(1, u64::MAX).unwrap(), None);
    assert_eq!(store.tree_node(2, 0).unwrap(), Some(TreeHash([5; 32])));
    assert_eq!(store.latest_checkpoint().unwrap().unwrap().note, "a note\n");
    assert_eq!(
        store.party(&party_id(1)).unwrap(),
        Some(party_record(1, PartyRole::Producer))
    );
    // The log goes on where it stopped.
    store
        .commit(&CommitGroup {
            events: vec![new_event_about(2, &[("L1", 1)], &[], 30, &[])],
            ..CommitGroup::default()
        })
        .unwrap();
    assert_eq!(
        store.lot_events(&"L1".parse_lot(), None, 10).unwrap(),
        vec![1, 2]
    );
}

/// Bytes of write-ahead log in a RocksDB directory.
fn log_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .map(|entry| entry.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_flush_leaves_no_log_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let group = CommitGroup {
        events: (0..200)
            .map(|i| new_event(i, &["L1"], &[party_id(1)], 1_000 + i as i64, &[]))
            .collect(),
        ..CommitGroup::default()
    };
    {
        let store = RocksStore::open(dir.path()).unwrap();
        store.commit(&group).unwrap();
        assert!(log_bytes(dir.path()) > 200 * 64, "the commit is in the log");
        store.flush().unwrap();
        assert_eq!(log_bytes(dir.path()), 0);
    }
    let store = RocksStore::open_read_only(dir.path()).unwrap();
    assert_eq!(store.next_sequence().unwrap(), 200);
    assert_eq!(
        store.event(199).unwrap(),
        Some(group.events[199].event.clone())
    );
}

#[test]
fn a_directory_whose_log_and_meta_disagree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(dir.path()).unwrap();
        store
            .commit(&CommitGroup {
                events: vec![new_event(0, &[], &[], 0, &[])],
                ..CommitGroup::default()
            })
            .unwrap();
    }
    {
        // Damage it behind the store's back: drop the only event, keep the meta.
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        db.delete_cf(db.cf_handle("events").unwrap(), 0u64.to_be_bytes())
            .unwrap();
    }
    let error = RocksStore::open(dir.path()).err().expect("refused");
    assert_eq!(error.kind(), StoreErrorKind::Corruption);
    assert_eq!(
        error.to_string(),
        "data directory is inconsistent: meta says the next sequence is 1, the log ends at 0"
    );
}

trait ParseLot {
    fn parse_lot(&self) -> ledger_core::LotId;
}

impl ParseLot for &str {
    fn parse_lot(&self) -> ledger_core::LotId {
        ledger_core::LotId::parse(self).unwrap()
    }
}

/// The scheduling policy (`SCHED_OTHER` 0, `SCHED_IDLE` 5) of each of this process's
/// threads whose name starts with `prefix`, from `/proc/self/task/*/stat`.
#[cfg(target_os = "linux")]
fn thread_policies(prefix: &str) -> Vec<(String, u32)> {
    let mut policies = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let Ok(stat) = std::fs::read_to_string(task.join("stat")) else {
            continue; // the thread ended
        };
        let name = &stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()];
        if !name.starts_with(prefix) {
            continue;
        }
        // After the name come fields 3 onwards; the policy is field 41.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        policies.push((name.to_string(), fields[41 - 3].parse().unwrap()));
    }
    policies
}

#[cfg(target_os = "linux")]
#[test]
fn compactions_run_on_idle_threads_and_flushes_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let _store = RocksStore::open(dir.path()).unwrap();
    assert_eq!(
        ledger_rocksdb::compaction_priority(),
        Some(ledger_rocksdb::CompactionPriority::Idle)
    );
    let low = thread_policies("rocksdb:low");
    assert!(!low.is_empty(), "no compaction thread: {low:?}");
    assert!(low.iter().all(|(_, policy)| *policy == 5), "{low:?}");
    let high = thread_policies("rocksdb:high");
    assert!(!high.is_empty(), "no flush thread: {high:?}");
    assert!(high.iter().all(|(_, policy)| *policy == 0), "{high:?}");
}

/// RocksDB checksums every write-ahead-log record; built for SSE 4.2 (`.cargo/config.toml`,
/// which sets the flags for this target only) it does so with the CPU's CRC32C
/// instruction, and says so in its log at open.
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
#[test]
fn rocksdb_checksums_its_log_with_the_cpus_crc32c() {
    let dir = tempfile::tempdir().unwrap();
    drop(RocksStore::open(dir.path()).unwrap());
    let log = std::fs::read_to_string(dir.path().join("LOG")).unwrap();
    let line = log
        .lines()
        .find(|line| line.contains("Fast CRC32 supported"))
        .expect("RocksDB logs whether its CRC32C is fast");
    assert!(
        line.ends_with("Fast CRC32 supported: Supported on x86"),
        "{line}"
    );
}
