//! The conformance suite every [`LedgerStore`] passes.
//!
//! Each case is a public function taking a fresh, empty store. An implementation runs
//! them all with [`store_conformance_tests!`](crate::store_conformance_tests), giving an
//! expression that yields `(guard, store)`, where `guard` keeps whatever the store
//! needs alive (a temporary directory) until the case ends:
//!
//! ```ignore
//! ledger_store::store_conformance_tests!(|| ((), Box::new(ledger_store::MemStore::new())));
//! ```

use chrono::{DateTime, TimeZone, Utc};
use ledger_core::ids::{EventHash, KeyId, LotId, PartyId};
use ledger_core::model::{InspectionKind, InspectionResult};
use ledger_core::model::{PartyRole, PartyStatus, Quantity, RegionCode, Text};
use ledger_core::state::{KeyRecord, LotRecord, PartyRecord};
use ledger_core::trace::{FactKind, LotFact};

use ledger_core::merkle::{Frontier, NodeReader, leaf_hash};

use crate::{
    CommitGroup, EventIndex, LedgerStore, LotEntry, LotFilter, NewEvent, PartyEventRef,
    StoreErrorKind, StoreTree, StoredCheckpoint, StoredEvent,
};

/// Runs every case of the suite as its own `#[test]`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!(@cases $make;
            empty_store_is_empty,
            committed_events_read_back,
            events_and_hashes_read_in_bulk,
            commit_must_continue_the_log,
            rejected_commit_writes_nothing,
            lot_events_page_in_order,
            lot_facts_read_back,
            lot_entries_are_found_through_the_record,
            events_by_kind_and_time,
            lots_listed_by_product_creator_and_time,
            party_events_by_time_range,
            followers_are_indexed,
            registry_and_lots_are_stored,
            authority_is_set_by_its_registration,
            empty_commit_changes_nothing,
            many_groups_accumulate,
            tree_nodes_and_checkpoints_are_stored,
            prepared_groups_commit_as_groups_do
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let (_guard, store) = ($make)();
                $crate::conformance::$case(&*store);
            }
        )*
    };
}

/// A valid party id for fixtures: `n` selects one of three real codes.
pub fn party_id(n: usize) -> PartyId {
    let codes = [
        "914403001922038216",
        "91440300708461136T",
        "91350100M000100Y43",
    ];
    PartyId::parse(codes[n % codes.len()]).expect("valid code")
}

fn lot_id(name: &str) -> LotId {
    LotId::parse(name).expect("valid lot id")
}

fn hash_of(n: u64) -> EventHash {
    ledger_core::contract::event_hash(&n.to_be_bytes())
}

fn at_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .expect("valid time")
}

/// A made-up lot fact: a quick test of `lot` by the event at `sequence`.
pub fn fact_of(sequence: u64, lot: &str, occurred_at_millis: i64) -> LotFact {
    LotFact {
        sequence,
        hash: hash_of(sequence),
        occurred_at_millis,
        signer: party_id(sequence as usize),
        links: (0..sequence % 3).map(|back| sequence - back - 1).collect(),
        kind: FactKind::Inspected {
            inspection: InspectionKind::QuickTest,
            item: Text::parse(&format!("item of {lot}"), 64).expect("valid text"),
            value: Text::parse(&sequence.to_string(), 64).expect("valid text"),
            result: if sequence.is_multiple_of(2) {
                InspectionResult::Pass
            } else {
                InspectionResult::Fail
            },
        },
    }
}

/// A stored event with made-up bytes at `sequence`, about `lots` (each created at
/// sequence 0: their records are [`lot_record`]`(name, 0)`), naming `parties`, following
/// the events at `links`.
pub fn new_event(
    sequence: u64,
    lots: &[&str],
    parties: &[PartyId],
    occurred_at_millis: i64,
    links: &[u64],
) -> NewEvent {
    let lots: Vec<(&str, u64)> = lots.iter().map(|lot| (*lot, 0)).collect();
    new_event_about(sequence, &lots, parties, occurred_at_millis, links)
}

/// [`new_event`] about lots each created at the sequence number given with it.
pub fn new_event_about(
    sequence: u64,
    lots: &[(&str, u64)],
    parties: &[PartyId],
    occurred_at_millis: i64,
    links: &[u64],
) -> NewEvent {
    let mut signature = [0u8; 64];
    signature[..8].copy_from_slice(&sequence.to_be_bytes());
    NewEvent {
        event: StoredEvent {
            sequence,
            hash: hash_of(sequence),
            recorded_at: at_millis(1_764_000_000_000 + sequence as i64),
            body: format!("body of event {sequence}").into_bytes(),
            signature,
        },
        index: EventIndex {
            lots: lots
                .iter()
                .map(|(l, created_at_sequence)| LotEntry {
                    lot: lot_id(l),
                    created_at_sequence: *created_at_sequence,
                    fact: fact_of(sequence, l, occurred_at_millis),
                })
                .collect(),
            parties: parties.to_vec(),
            occurred_at_millis,
            links: links.to_vec(),
            kind: ["ORIGIN", "SHIP", "RETAIL"][sequence as usize % 3].to_owned(),
        },
    }
}

/// A registry entry fixture.
pub fn party_record(n: usize, role: PartyRole) -> PartyRecord {
    let public_key = [n as u8 + 1; 32];
    PartyRecord {
        party_id: party_id(n),
        name: Text::parse(&format!("party {n}"), 100).expect("text"),
        role,
        region: RegionCode::parse("210112").expect("region"),
        contact: None,
        status: PartyStatus::Active,
        keys: vec![KeyRecord {
            key_id: KeyId::of_public_key(&public_key),
            public_key,
            valid_from: at_millis(0).fixed_offset(),
            valid_until: None,
            revoked: false,
        }],
        registered_at_sequence: n as u64,
    }
}

/// A lot fixture.
pub fn lot_record(name: &str, created_at_sequence: u64) -> LotRecord {
    LotRecord {
        lot_id: lot_id(name),
        product_name: Text::parse("大白菜 Chinese cabbage", 100).expect("text"),
        product_category: Text::parse("vegetable", 100).expect("text"),
        quantity: Quantity::parse("1200.5", "kg").expect("quantity"),
        created_by: party_id(1),
        created_by_event: hash_of(created_at_sequence),
        created_at: ledger_core::model::parse_timestamp("2026-03-01T08:00:00+08:00").expect("time"),
        created_at_sequence,
    }
}

/// A new store has no events, no authority and answers every lookup with nothing.
pub fn empty_store_is_empty(store: &dyn LedgerStore) {
    assert_eq!(store.next_sequence().unwrap(), 0);
    assert_eq!(store.event(0).unwrap(), None);
    assert_eq!(store.sequence_of(&hash_of(0)).unwrap(), None);
    assert_eq!(store.authority().unwrap(), None);
    assert_eq!(store.lot(&lot_id("L1")).unwrap(), None);
    assert_eq!(store.party(&party_id(0)).unwrap(), None);
    assert!(
        store
            .lot_events(&lot_id("L1"), None, 10)
            .unwrap()
            .is_empty()
    );
    assert!(store.followers(&hash_of(0)).unwrap().is_empty());
    assert_eq!(store.tree_node(0, 0).unwrap(), None);
    assert_eq!(store.latest_checkpoint().unwrap(), None);
}

/// Events come back byte for byte, by sequence and by hash.
pub fn committed_events_read_back(store: &dyn LedgerStore) {
    let group = CommitGroup {
        events: vec![
            new_event(0, &[], &[party_id(0)], 1_000, &[]),
            new_event(1, &["L1"], &[party_id(1)], 2_000, &[]),
        ],
        ..CommitGroup::default()
    };
    store.commit(&group).unwrap();
    assert_eq!(store.next_sequence().unwrap(), 2);
    for new in &group.events {
        assert_eq!(
            store.event(new.event.sequence).unwrap().as_ref(),
            Some(&new.event)
        );
        assert_eq!(
            store.sequence_of(&new.event.hash).unwrap(),
            Some(new.event.sequence)
        );
    }
    assert_eq!(store.event(2).unwrap(), None);
    assert_eq!(store.event(u64::MAX).unwrap(), None);
}

/// Runs of events and batches of hashes read back as one at a time would, and the
/// whole hash index in one scan.
pub fn events_and_hashes_read_in_bulk(store: &dyn LedgerStore) {
    assert!(store.events_from(0, 10).unwrap().is_empty());
    assert_eq!(store.sequences_of(&[]).unwrap(), Vec::<Option<u64>>::new());
    let group = CommitGroup {
        events: (0..5)
            .map(|i| new_event(i, &["L1"], &[party_id(1)], 1_000 + i as i64, &[]))
            .collect(),
        ..CommitGroup::default()
    };
    store.commit(&group).unwrap();
    let all: Vec<StoredEvent> = group.events.iter().map(|e| e.event.clone()).collect();
    assert_eq!(store.events_from(0, 10).unwrap(), all);
    assert_eq!(store.events_from(0, 5).unwrap(), all);
    assert_eq!(store.events_from(1, 3).unwrap(), all[1..4]);
    assert_eq!(store.events_from(4, 3).unwrap(), all[4..]);
    assert!(store.events_from(5, 3).unwrap().is_empty());
    assert!(store.events_from(2, 0).unwrap().is_empty());
    assert!(store.events_from(u64::MAX, 3).unwrap().is_empty());
    let hashes = [hash_of(3), hash_of(99), hash_of(0), hash_of(3)];
    assert_eq!(
        store.sequences_of(&hashes).unwrap(),
        vec![Some(3), None, Some(0), Some(3)]
    );
    let mut index = Vec::new();
    store
        .scan_hash_index(&mut |hash, sequence| {
            index.push((*hash, sequence));
            true
        })
        .unwrap();
    index.sort_by_key(|&(_, sequence)| sequence);
    assert_eq!(index, (0..5).map(|i| (hash_of(i), i)).collect::<Vec<_>>());
    let mut visited = 0;
    store
        .scan_hash_index(&mut |_, _| {
            visited += 1;
            visited < 2
        })
        .unwrap();
    assert_eq!(visited, 2, "the scan stops when asked");
}

/// A group that skips or repeats a sequence number is refused as a conflict.
pub fn commit_must_continue_the_log(store: &dyn LedgerStore) {
    let skip = CommitGroup {
        events: vec![new_event(1, &[], &[], 0, &[])],
        ..CommitGroup::default()
    };
    assert_eq!(
        store.commit(&skip).unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    store
        .commit(&CommitGroup {
            events: vec![new_event(0, &[], &[], 0, &[])],
            ..CommitGroup::default()
        })
        .unwrap();
    let repeat = CommitGroup {
        events: vec![new_event(0, &[], &[], 0, &[])],
        ..CommitGroup::default()
    };
    assert_eq!(
        store.commit(&repeat).unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    let gap_inside = CommitGroup {
        events: vec![
            new_event(1, &[], &[], 0, &[]),
            new_event(3, &[], &[], 0, &[]),
        ],
        ..CommitGroup::default()
    };
    assert_eq!(
        store.commit(&gap_inside).unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
}

/// A refused group leaves no trace: no event, index entry, lot or party.
pub fn rejected_commit_writes_nothing(store: &dyn LedgerStore) {
    let bad = CommitGroup {
        events: vec![
            new_event(0, &["L1"], &[party_id(0)], 5, &[]),
            new_event(2, &["L1"], &[], 5, &[0]),
        ],
        lots: vec![lot_record("L1", 0)],
        parties: vec![party_record(0, PartyRole::Authority)],
        tree_nodes: vec![ledger_core::merkle::NewNode {
            level: 0,
            index: 0,
            hash: leaf_hash(&hash_of(0), &[0; 64], 0),
        }],
        checkpoint: Some(StoredCheckpoint {
            tree_size: 1,
            note: "note".into(),
        }),
    };
    assert!(store.commit(&bad).is_err());
    empty_store_is_empty(store);
}

/// A lot's events come in ascending order, paged by `after` and `limit`.
pub fn lot_events_page_in_order(store: &dyn LedgerStore) {
    let events = (0..10)
        .map(|seq| {
            let lots: &[&str] = if seq % 2 == 0 {
                &["L-even", "L-all"]
            } else {
                &["L-all"]
            };
            new_event(seq, lots, &[], 0, &[])
        })
        .collect();
    store
        .commit(&CommitGroup {
            events,
            lots: vec![lot_record("L-even", 0), lot_record("L-all", 0)],
            ..CommitGroup::default()
        })
        .unwrap();
    let all = lot_id("L-all");
    assert_eq!(
        store.lot_events(&all, None, 100).unwrap(),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(store.lot_events(&all, None, 3).unwrap(), vec![0, 1, 2]);
    assert_eq!(store.lot_events(&all, Some(2), 3).unwrap(), vec![3, 4, 5]);
    assert_eq!(
        store.lot_events(&all, Some(9), 3).unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(
        store.lot_events(&all, Some(u64::MAX), 3).unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(
        store.lot_events(&lot_id("L-even"), Some(3), 100).unwrap(),
        vec![4, 6, 8]
    );
    // A lot whose id is a prefix of another's sees only its own events.
    assert!(
        store
            .lot_events(&lot_id("L"), None, 100)
            .unwrap()
            .is_empty()
    );
}

/// A lot's facts read back exactly, in order, paged, and only its own.
pub fn lot_facts_read_back(store: &dyn LedgerStore) {
    let events = (0..10)
        .map(|seq| {
            let lots: &[&str] = if seq % 2 == 0 {
                &["L-even", "L-all"]
            } else {
                &["L-all"]
            };
            new_event(seq, lots, &[], 1_000 * seq as i64, &[])
        })
        .collect();
    store
        .commit(&CommitGroup {
            events,
            lots: vec![lot_record("L-even", 0), lot_record("L-all", 0)],
            ..CommitGroup::default()
        })
        .unwrap();
    let all = store.lot_facts(&lot_id("L-all"), None, 100).unwrap();
    let expected: Vec<_> = (0..10)
        .map(|seq| fact_of(seq, "L-all", 1_000 * seq as i64))
        .collect();
    assert_eq!(all, expected);
    assert_eq!(
        store.lot_facts(&lot_id("L-even"), Some(3), 2).unwrap(),
        vec![fact_of(4, "L-even", 4_000), fact_of(6, "L-even", 6_000)]
    );
    assert!(
        store
            .lot_facts(&lot_id("L-all"), Some(u64::MAX), 10)
            .unwrap()
            .is_empty()
    );
    assert!(store.lot_facts(&lot_id("L"), None, 100).unwrap().is_empty());
}

/// A lot's entries are found through its record's creation sequence: lots created by
/// one event, or at different times, keep their own entries, and an entry filed under
/// another creation sequence than the lot's record gives is not found.
pub fn lot_entries_are_found_through_the_record(store: &dyn LedgerStore) {
    // "S" is created at 0; "S-1" and "S-12" are split off it together at 2; "T" at 3.
    let events = [
        new_event_about(0, &[("S", 0)], &[], 0, &[]),
        new_event_about(1, &[("S", 0)], &[], 0, &[0]),
        new_event_about(2, &[("S", 0), ("S-1", 2), ("S-12", 2)], &[], 0, &[1]),
        new_event_about(3, &[("T", 3), ("S-12", 2)], &[], 0, &[2]),
        new_event_about(4, &[("S-1", 2)], &[], 0, &[2]),
        new_event_about(5, &[("S-12", 2), ("S", 0)], &[], 0, &[3]),
        // Filed under the wrong creation sequence: the record says 3.
        new_event_about(6, &[("T", 0)], &[], 0, &[]),
    ];
    store
        .commit(&CommitGroup {
            events: events[..3].to_vec(),
            lots: vec![
                lot_record("S", 0),
                lot_record("S-1", 2),
                lot_record("S-12", 2),
            ],
            ..CommitGroup::default()
        })
        .unwrap();
    store
        .commit(&CommitGroup {
            events: events[3..].to_vec(),
            lots: vec![lot_record("T", 3)],
            ..CommitGroup::default()
        })
        .unwrap();
    let events_of = |lot: &str| store.lot_events(&lot_id(lot), None, 100).unwrap();
    assert_eq!(events_of("S"), vec![0, 1, 2, 5]);
    assert_eq!(events_of("S-1"), vec![2, 4]);
    assert_eq!(events_of("S-12"), vec![2, 3, 5]);
    assert_eq!(events_of("T"), vec![3]);
    assert_eq!(
        store.lot_events(&lot_id("S-12"), Some(2), 1).unwrap(),
        vec![3]
    );
    assert_eq!(
        store.lot_facts(&lot_id("S-1"), None, 100).unwrap(),
        vec![fact_of(2, "S-1", 0), fact_of(4, "S-1", 0)]
    );
    // No record, no entries.
    assert!(events_of("U").is_empty());
    assert!(store.lot_facts(&lot_id("U"), None, 100).unwrap().is_empty());
}

/// Events by kind (or all kinds) come by time of occurrence, then sequence, paged.
pub fn events_by_kind_and_time(store: &dyn LedgerStore) {
    // Times out of sequence order: event n occurred at (n * 7 % 10) seconds.
    let events = (0..10)
        .map(|seq| new_event(seq, &[], &[], 1_000 * (seq as i64 * 7 % 10), &[]))
        .collect();
    store
        .commit(&CommitGroup {
            events,
            ..CommitGroup::default()
        })
        .unwrap();
    let start = PartyEventRef {
        occurred_at_millis: i64::MIN,
        sequence: 0,
    };
    let seqs = |refs: Vec<PartyEventRef>| refs.iter().map(|r| r.sequence).collect::<Vec<_>>();
    // SHIP is every third event from 1: 1 (7 s), 4 (8 s), 7 (9 s).
    assert_eq!(
        seqs(
            store
                .events_by_kind(Some("SHIP"), start, i64::MAX, 100)
                .unwrap()
        ),
        vec![1, 4, 7]
    );
    // All kinds by time: seconds 0..9 are events 0, 3, 6, 9, 2, 5, 8, 1, 4, 7.
    let all = store.events_by_kind(None, start, i64::MAX, 100).unwrap();
    assert_eq!(seqs(all.clone()), vec![0, 3, 6, 9, 2, 5, 8, 1, 4, 7]);
    // Paged from a position, with an exclusive end.
    assert_eq!(
        seqs(store.events_by_kind(None, all[3], 8_000, 100).unwrap()),
        vec![9, 2, 5, 8, 1]
    );
    assert_eq!(
        seqs(store.events_by_kind(None, all[3], i64::MAX, 2).unwrap()),
        vec![9, 2]
    );
    assert!(
        store
            .events_by_kind(Some("RECALL"), start, i64::MAX, 100)
            .unwrap()
            .is_empty()
    );
}

/// Lots are listed by creation time, all of them, by product, or by creator.
pub fn lots_listed_by_product_creator_and_time(store: &dyn LedgerStore) {
    let events: Vec<_> = (0..6).map(|seq| new_event(seq, &[], &[], 0, &[])).collect();
    let lots = (0..6u64)
        .map(|seq| {
            let mut lot = lot_record(&format!("L{seq}"), seq);
            if seq % 2 == 1 {
                lot.product_name = Text::parse("猪肉", 100).expect("text");
            }
            lot.created_by = party_id(seq as usize % 3);
            // Later sequence numbers created earlier: time order differs from log order.
            lot.created_at = ledger_core::model::parse_timestamp(&format!(
                "2026-03-0{}T08:00:00+08:00",
                6 - seq
            ))
            .expect("time");
            lot
        })
        .collect();
    store
        .commit(&CommitGroup {
            events,
            lots,
            ..CommitGroup::default()
        })
        .unwrap();
    let start = PartyEventRef {
        occurred_at_millis: i64::MIN,
        sequence: 0,
    };
    let names = |found: Vec<(PartyEventRef, LotId)>| {
        found
            .iter()
            .map(|(_, lot)| lot.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let all = store.lots_by(LotFilter::All, start, i64::MAX, 100).unwrap();
    assert_eq!(names(all.clone()), ["L5", "L4", "L3", "L2", "L1", "L0"]);
    assert_eq!(
        names(
            store
                .lots_by(LotFilter::Product("猪肉"), start, i64::MAX, 100)
                .unwrap()
        ),
        ["L5", "L3", "L1"]
    );
    assert_eq!(
        names(
            store
                .lots_by(LotFilter::Creator(&party_id(0)), start, i64::MAX, 100)
                .unwrap()
        ),
        ["L3", "L0"]
    );
    assert_eq!(
        names(
            store
                .lots_by(LotFilter::All, all[2].0, all[5].0.occurred_at_millis, 100)
                .unwrap()
        ),
        ["L3", "L2", "L1"]
    );
    assert!(
        store
            .lots_by(LotFilter::Product("猪"), start, i64::MAX, 100)
            .unwrap()
            .is_empty(),
        "product names match exactly"
    );
}

/// A party's events come by time of occurrence within the range, then by sequence.
pub fn party_events_by_time_range(store: &dyn LedgerStore) {
    let a = party_id(0);
    let b = party_id(1);
    let events = vec![
        new_event(0, &[], std::slice::from_ref(&a), 3_000, &[]),
        new_event(1, &[], &[a.clone(), b.clone()], 1_000, &[]),
        new_event(2, &[], std::slice::from_ref(&b), 2_000, &[]),
        new_event(3, &[], std::slice::from_ref(&a), -5_000, &[]),
        new_event(4, &[], std::slice::from_ref(&a), 3_000, &[]),
    ];
    store
        .commit(&CommitGroup {
            events,
            ..CommitGroup::default()
        })
        .unwrap();
    let seqs = |from: PartyEventRef, to: i64, limit: usize| -> Vec<u64> {
        store
            .party_events(&a, from, to, limit)
            .unwrap()
            .iter()
            .map(|r| r.sequence)
            .collect()
    };
    let start = PartyEventRef {
        occurred_at_millis: i64::MIN,
        sequence: 0,
    };
    assert_eq!(seqs(start, i64::MAX, 100), vec![3, 1, 0, 4]);
    assert_eq!(seqs(start, 3_000, 100), vec![3, 1]);
    assert_eq!(
        seqs(
            PartyEventRef {
                occurred_at_millis: 0,
                sequence: 0
            },
            i64::MAX,
            100
        ),
        vec![1, 0, 4]
    );
    assert_eq!(
        seqs(
            PartyEventRef {
                occurred_at_millis: 3_000,
                sequence: 1
            },
            i64::MAX,
            1
        ),
        vec![4]
    );
    let for_b: Vec<u64> = store
        .party_events(&b, start, i64::MAX, 100)
        .unwrap()
        .iter()
        .map(|r| r.sequence)
        .collect();
    assert_eq!(for_b, vec![1, 2]);
}

/// Links are indexed downwards: what followed an event.
pub fn followers_are_indexed(store: &dyn LedgerStore) {
    let root = hash_of(0);
    store
        .commit(&CommitGroup {
            events: vec![
                new_event(0, &[], &[], 0, &[]),
                new_event(1, &[], &[], 0, &[0]),
                new_event(2, &[], &[], 0, &[0, 1]),
            ],
            ..CommitGroup::default()
        })
        .unwrap();
    store
        .commit(&CommitGroup {
            events: vec![new_event(3, &[], &[], 0, &[0])],
            ..CommitGroup::default()
        })
        .unwrap();
    assert_eq!(store.followers(&root).unwrap(), vec![1, 2, 3]);
    assert_eq!(store.followers(&hash_of(1)).unwrap(), vec![2]);
    assert!(store.followers(&hash_of(3)).unwrap().is_empty());
    // A hash no stored event has has no followers.
    assert!(store.followers(&hash_of(99)).unwrap().is_empty());
}

/// Lots and registry entries are stored with the group; a later write of a party wins.
pub fn registry_and_lots_are_stored(store: &dyn LedgerStore) {
    let producer = party_record(1, PartyRole::Producer);
    store
        .commit(&CommitGroup {
            events: vec![new_event(0, &["L1"], &[], 0, &[])],
            lots: vec![lot_record("L1", 0)],
            parties: vec![producer.clone()],
            ..CommitGroup::default()
        })
        .unwrap();
    assert_eq!(store.lot(&lot_id("L1")).unwrap(), Some(lot_record("L1", 0)));
    assert_eq!(
        store.party(&producer.party_id).unwrap(),
        Some(producer.clone())
    );
    let mut suspended = producer.clone();
    suspended.status = PartyStatus::Suspended;
    suspended.keys[0].revoked = true;
    store
        .commit(&CommitGroup {
            events: vec![new_event(1, &[], &[], 0, &[])],
            parties: vec![producer, suspended.clone()],
            ..CommitGroup::default()
        })
        .unwrap();
    assert_eq!(store.party(&suspended.party_id).unwrap(), Some(suspended));
    assert_eq!(store.authority().unwrap(), None);
}

/// Storing a party whose role is authority makes it the ledger's authority.
pub fn authority_is_set_by_its_registration(store: &dyn LedgerStore) {
    let authority = party_record(0, PartyRole::Authority);
    store
        .commit(&CommitGroup {
            events: vec![new_event(
                0,
                &[],
                std::slice::from_ref(&authority.party_id),
                0,
                &[],
            )],
            parties: vec![authority.clone()],
            ..CommitGroup::default()
        })
        .unwrap();
    assert_eq!(store.authority().unwrap(), Some(authority.party_id));
}

/// An empty group is accepted and changes nothing.
pub fn empty_commit_changes_nothing(store: &dyn LedgerStore) {
    store.commit(&CommitGroup::default()).unwrap();
    empty_store_is_empty(store);
}

/// Many groups build one log.
pub fn many_groups_accumulate(store: &dyn LedgerStore) {
    let mut sequence = 0;
    for group_size in [1usize, 7, 64, 3] {
        let lots = if sequence == 0 {
            vec![lot_record("L1", 0)]
        } else {
            Vec::new()
        };
        let events = (0..group_size)
            .map(|_| {
                sequence += 1;
                new_event(sequence - 1, &["L1"], &[party_id(2)], sequence as i64, &[])
            })
            .collect();
        store
            .commit(&CommitGroup {
                events,
                lots,
                ..CommitGroup::default()
            })
            .unwrap();
    }
    assert_eq!(store.next_sequence().unwrap(), sequence);
    assert_eq!(
        store.lot_events(&lot_id("L1"), None, 1000).unwrap().len() as u64,
        sequence
    );
    assert_eq!(
        store.event(sequence - 1).unwrap().unwrap().sequence,
        sequence - 1
    );
}

/// Merkle nodes come back as written, so roots can be recomputed from the store;
/// checkpoints are found by size, and a group may carry only a checkpoint.
pub fn tree_nodes_and_checkpoints_are_stored(store: &dyn LedgerStore) {
    assert_eq!(store.tree_node(0, 0).unwrap(), None);
    assert_eq!(store.latest_checkpoint().unwrap(), None);
    let mut frontier = Frontier::new();
    let mut sequence = 0u64;
    for (group_size, checkpoint) in [(3u64, true), (4, false), (6, true)] {
        let mut group = CommitGroup::default();
        for _ in 0..group_size {
            let new = new_event(sequence, &[], &[], 0, &[]);
            let leaf = leaf_hash(
                &new.event.hash,
                &new.event.signature,
                new.event.recorded_at.timestamp_millis(),
            );
            group.tree_nodes.extend(frontier.append(leaf));
            group.events.push(new);
            sequence += 1;
        }
        if checkpoint {
            group.checkpoint = Some(StoredCheckpoint {
                tree_size: frontier.size(),
                note: format!("note at {}", frontier.size()),
            });
        }
        store.commit(&group).unwrap();
    }
    assert_eq!(
        ledger_core::merkle::root(&StoreTree(store), 13).unwrap(),
        frontier.root()
    );
    assert_eq!(Frontier::load(&StoreTree(store), 13).unwrap(), frontier);
    assert!(
        StoreTree(store).node(0, 13).is_err(),
        "a node past the tree is missing"
    );

    let at = |size| {
        store
            .checkpoint_at_least(size)
            .unwrap()
            .map(|c| c.tree_size)
    };
    assert_eq!(at(0), Some(3));
    assert_eq!(at(3), Some(3));
    assert_eq!(at(4), Some(13));
    assert_eq!(at(14), None);
    assert_eq!(
        store.checkpoint_at_least(5).unwrap().unwrap().note,
        "note at 13"
    );

    let only_checkpoint = CommitGroup {
        checkpoint: Some(StoredCheckpoint {
            tree_size: 13,
            note: "note at 13".into(),
        }),
        ..CommitGroup::default()
    };
    store.commit(&only_checkpoint).unwrap();
    assert_eq!(
        store.latest_checkpoint().unwrap(),
        Some(StoredCheckpoint {
            tree_size: 13,
            note: "note at 13".into()
        })
    );
    assert_eq!(store.next_sequence().unwrap(), 13);
}

/// A group prepared ahead commits exactly as it would have without: checked against the
/// log when committed, not when prepared (a group prepared before another was committed
/// no longer continues the log), written whole, read back the same.
pub fn prepared_groups_commit_as_groups_do(store: &dyn LedgerStore) {
    let first = CommitGroup {
        events: vec![
            new_event(0, &["L1"], &[party_id(0)], 1_000, &[]),
            new_event(1, &["L1"], &[party_id(1)], 2_000, &[0]),
        ],
        lots: vec![lot_record("L1", 0)],
        parties: vec![party_record(0, PartyRole::Authority)],
        checkpoint: Some(StoredCheckpoint {
            tree_size: 2,
            note: "note at 2".into(),
        }),
        ..CommitGroup::default()
    };
    let second = CommitGroup {
        events: vec![new_event(2, &["L1"], &[party_id(1)], 3_000, &[1])],
        ..CommitGroup::default()
    };
    let mut first_prepared = store.prepare(first.clone());
    let mut second_prepared = store.prepare(second.clone());
    assert_eq!(first_prepared.group(), &first);

    // Prepared in turn, committed out of turn: refused, and nothing written.
    assert_eq!(
        store
            .commit_prepared(&mut second_prepared)
            .unwrap_err()
            .kind(),
        StoreErrorKind::Conflict
    );
    empty_store_is_empty(store);

    store.commit_prepared(&mut first_prepared).unwrap();
    assert_eq!(store.next_sequence().unwrap(), 2);
    // Refused once, it commits once the log has caught up (its encoding was used up).
    store.commit_prepared(&mut second_prepared).unwrap();
    assert_eq!(second_prepared.into_group(), second);
    assert_eq!(store.next_sequence().unwrap(), 3);

    for new in first.events.iter().chain(&second.events) {
        assert_eq!(
            store.event(new.event.sequence).unwrap(),
            Some(new.event.clone())
        );
        assert_eq!(
            store.sequence_of(&new.event.hash).unwrap(),
            Some(new.event.sequence)
        );
    }
    assert_eq!(
        store.lot_events(&lot_id("L1"), None, 10).unwrap(),
        vec![0, 1, 2]
    );
    assert_eq!(store.followers(&hash_of(0)).unwrap(), vec![1]);
    assert_eq!(store.authority().unwrap(), Some(party_id(0)));
    assert_eq!(store.lot(&lot_id("L1")).unwrap(), Some(lot_record("L1", 0)));
    assert_eq!(
        store.latest_checkpoint().unwrap().map(|c| c.tree_size),
        Some(2)
    );

    // A prepared group that repeats the log's last event is refused like a plain one.
    let mut repeat = store.prepare(second);
    assert_eq!(
        store.commit_prepared(&mut repeat).unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(store.next_sequence().unwrap(), 3);
}
