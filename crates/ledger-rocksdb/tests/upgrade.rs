//! A directory written by an older format opens, reads as it did, and goes on in the
//! current one without rewriting anything.
//!
//! `fixtures/format3` was written by the code of commit da2d484 (format 3: the lot index
//! keyed by lot id, links down keyed by the linked event's hash), with the conformance
//! suite's fixtures (`ledger_store::conformance`):
//!
//! ```text
//! group 1: event 0 about F-A (created by it), party 0, at 1 s
//!          event 1 about F-A, party 1, at 2 s, links event 0
//!          event 2 about F-A and F-B (created by it), party 1, at 3 s, links event 1
//!          event 3 about F-B, party 2, at 4 s, links event 2
//!          lots: F-A created at 0, F-B at 2
//! group 2: event 4 about F-A, party 2, at 5 s, links event 2
//! then a flush, so the directory holds tables and no log.
//! ```

use ledger_core::EventHash;
use ledger_core::ids::LotId;
use ledger_rocksdb::RocksStore;
use ledger_store::conformance::{fact_of, lot_record, new_event_about, party_id};
use ledger_store::{CommitGroup, LedgerStore};

fn lot(id: &str) -> LotId {
    LotId::parse(id).unwrap()
}

fn hash_of(n: u64) -> EventHash {
    ledger_core::contract::event_hash(&n.to_be_bytes())
}

/// A copy of the fixture in a temporary directory (opening it may change it).
fn format3_copy() -> tempfile::TempDir {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format3");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// What the fixture's five events say, as the format-3 code answered.
fn assert_format3_answers(store: &RocksStore) {
    assert_eq!(store.next_sequence().unwrap(), 5);
    assert_eq!(
        store.lot_events(&lot("F-A"), None, 10).unwrap(),
        [0, 1, 2, 4]
    );
    assert_eq!(store.lot_events(&lot("F-B"), None, 10).unwrap(), [2, 3]);
    assert_eq!(store.lot_events(&lot("F-A"), Some(1), 2).unwrap(), [2, 4]);
    assert_eq!(
        store.lot_facts(&lot("F-B"), None, 10).unwrap(),
        [fact_of(2, "F-B", 3_000), fact_of(3, "F-B", 4_000)]
    );
    assert_eq!(store.followers(&hash_of(0)).unwrap(), [1]);
    assert_eq!(store.followers(&hash_of(4)).unwrap(), Vec::<u64>::new());
}

#[test]
fn a_format3_directory_reads_as_before_even_read_only() {
    let dir = format3_copy();
    assert_format3_answers(&RocksStore::open_read_only(dir.path()).unwrap());
    let store = RocksStore::open(dir.path()).unwrap();
    assert_format3_answers(&store);
    assert_eq!(store.followers(&hash_of(2)).unwrap(), [3, 4]);
}

#[test]
fn a_format3_directory_goes_on_in_format4() {
    let dir = format3_copy();
    {
        let store = RocksStore::open(dir.path()).unwrap();
        // F-A and F-B go on across the change of format; F-C is new.
        store
            .commit(&CommitGroup {
                events: vec![
                    new_event_about(5, &[("F-A", 0), ("F-C", 5)], &[party_id(0)], 6_000, &[2]),
                    new_event_about(6, &[("F-B", 2)], &[party_id(1)], 7_000, &[3]),
                ],
                lots: vec![lot_record("F-C", 5)],
                ..CommitGroup::default()
            })
            .unwrap();
        store
            .commit(&CommitGroup {
                events: vec![new_event_about(7, &[("F-C", 5)], &[], 8_000, &[5])],
                ..CommitGroup::default()
            })
            .unwrap();
    }
    for store in [
        RocksStore::open(dir.path()).unwrap(),
        RocksStore::open_read_only(dir.path()).unwrap(),
    ] {
        assert_eq!(
            store.lot_events(&lot("F-A"), None, 10).unwrap(),
            [0, 1, 2, 4, 5]
        );
        // Pages cross from the old entries to the new.
        assert_eq!(store.lot_events(&lot("F-A"), Some(2), 2).unwrap(), [4, 5]);
        assert_eq!(store.lot_events(&lot("F-A"), Some(4), 10).unwrap(), [5]);
        assert_eq!(
            store.lot_events(&lot("F-A"), None, 4).unwrap(),
            [0, 1, 2, 4]
        );
        assert_eq!(store.lot_events(&lot("F-B"), None, 10).unwrap(), [2, 3, 6]);
        assert_eq!(store.lot_events(&lot("F-C"), None, 10).unwrap(), [5, 7]);
        assert_eq!(
            store.lot_facts(&lot("F-B"), Some(2), 10).unwrap(),
            [fact_of(3, "F-B", 4_000), fact_of(6, "F-B", 7_000)]
        );
        assert_eq!(store.followers(&hash_of(2)).unwrap(), [3, 4, 5]);
        assert_eq!(store.followers(&hash_of(3)).unwrap(), [6]);
        assert_eq!(store.followers(&hash_of(5)).unwrap(), [7]);
        assert_eq!(store.followers(&hash_of(0)).unwrap(), [1]);
    }
}

#[test]
fn a_secondary_sees_its_primary_change_format() {
    let dir = format3_copy();
    let primary = RocksStore::open(dir.path()).unwrap();
    let own = tempfile::tempdir().unwrap();
    let secondary = RocksStore::open_secondary(dir.path(), own.path()).unwrap();
    assert_format3_answers(&secondary);
    primary
        .commit(&CommitGroup {
            events: vec![new_event_about(5, &[("F-B", 2)], &[], 6_000, &[4])],
            ..CommitGroup::default()
        })
        .unwrap();
    assert_eq!(secondary.catch_up().unwrap(), 6);
    assert_eq!(
        secondary.lot_events(&lot("F-B"), None, 10).unwrap(),
        [2, 3, 5]
    );
    assert_eq!(secondary.followers(&hash_of(4)).unwrap(), [5]);
}
