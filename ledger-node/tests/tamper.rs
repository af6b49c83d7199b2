//! Tamper, end to end: a real ledger in RocksDB, altered behind the node's back (a
//! flipped byte, a deleted event, two events swapped, a wrong hash-index entry); the
//! audit names the first bad sequence number each time, and passes the untouched
//! ledger. A node will not open a ledger whose tail or latest checkpoint is damaged,
//! and says where.

use std::path::Path;

use chrono::{Duration, Utc};
use district_synth::{Recorder, Scale, authority_id, generate};
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::LogVerifier;
use ledger_core::model::PartyRole;
use ledger_node::audit::{AuditFailure, audit, audit_keeping_recent};
use ledger_node::{AuthorityIdentity, DataDir, WriterConfig, initialize, open_ledger};
use ledger_rocksdb::RocksStore;
use ledger_store::LedgerStore;

/// Writes genesis and a tiny district into `dir`; returns the log's verifier key and
/// the number of events.
async fn build_ledger(dir: &Path) -> (String, u64) {
    let data_dir = DataDir::new(dir);
    let ledger = open_ledger(
        &data_dir,
        Some("foodtrace/tamper-test"),
        WriterConfig::default(),
    )
    .unwrap();
    let authority = Recorder::new(
        authority_id(),
        PartyRole::Authority,
        SigningKey::from_bytes(&[0xA3; 32]),
    );
    let now = Utc::now().fixed_offset();
    let identity = AuthorityIdentity {
        party_id: authority.id().clone(),
        name: "监管局".into(),
        region: "210112".into(),
    };
    initialize(
        &ledger,
        authority.signer(),
        &identity,
        now - Duration::days(400),
    )
    .await
    .unwrap();
    let district = generate(&authority, &Scale::tiny(), 11, now - Duration::minutes(5));
    ledger_node::submit_in_order(&ledger, district.events)
        .await
        .unwrap();
    let n_events = ledger.store().next_sequence().unwrap();
    ledger.wait_for_checkpoint(n_events).await.unwrap();
    (ledger.verifier_key().to_owned(), n_events)
}

/// The audit's outcome, the same whether the replay keeps linked events decoded or
/// reads every one back from the store (checked here on each call).
fn audit_dir(dir: &Path, verifier_key: &str) -> Result<u64, AuditFailure> {
    let store = RocksStore::open_read_only(&DataDir::new(dir).ledger()).unwrap();
    let verifier = LogVerifier::parse(verifier_key).unwrap();
    let outcome = audit(&store, &verifier, |_, _| {}).map(|report| report.n_events);
    let reading_back =
        audit_keeping_recent(&store, &verifier, 1, |_, _| {}).map(|report| report.n_events);
    assert_eq!(outcome, reading_back);
    outcome
}

fn tamper(dir: &Path, change: impl FnOnce(&ledger_rocksdb::Tamper<'_>)) {
    let store = RocksStore::open(&DataDir::new(dir).ledger()).unwrap();
    change(&store.tamper());
}

fn failed_event(result: Result<u64, AuditFailure>) -> (u64, String) {
    match result {
        Err(AuditFailure::Event { sequence, problem }) => (sequence, problem),
        other => panic!("expected an event failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_passes_a_clean_ledger_and_names_each_tampered_event() {
    let dir = tempfile::tempdir().unwrap();
    let (verifier_key, n_events) = build_ledger(dir.path()).await;
    assert!(n_events > 100);
    assert_eq!(audit_dir(dir.path(), &verifier_key).unwrap(), n_events);

    // A flipped bit in the body of event 40.
    tamper(dir.path(), |t| t.flip_body_bit(40, 17, 3));
    let (sequence, problem) = failed_event(audit_dir(dir.path(), &verifier_key));
    assert_eq!(sequence, 40);
    assert!(problem.starts_with("its body hashes to "), "{problem}");
    tamper(dir.path(), |t| t.flip_body_bit(40, 17, 3)); // flipped back

    // A flipped bit in the signature of event 90: the body and its hash are intact, so
    // only the signature check can catch it, on whichever core verifies it.
    tamper(dir.path(), |t| t.flip_signature_bit(90, 5, 1));
    let (sequence, problem) = failed_event(audit_dir(dir.path(), &verifier_key));
    assert_eq!(sequence, 90);
    assert!(
        problem.starts_with("would not be admitted: signature: does not verify under key "),
        "{problem}"
    );
    tamper(dir.path(), |t| t.flip_signature_bit(90, 5, 1));

    // Two events swapped.
    assert_eq!(audit_dir(dir.path(), &verifier_key).unwrap(), n_events);
    tamper(dir.path(), |t| t.swap_events(60, 61));
    let (sequence, problem) = failed_event(audit_dir(dir.path(), &verifier_key));
    assert_eq!(sequence, 60, "{problem}");
    tamper(dir.path(), |t| t.swap_events(60, 61));

    // An event deleted from the middle of the log.
    tamper(dir.path(), |t| t.delete_event(75));
    let (sequence, problem) = failed_event(audit_dir(dir.path(), &verifier_key));
    assert_eq!(
        (sequence, problem.as_str()),
        (75, "is missing from the log")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_checks_the_hash_index_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (verifier_key, n_events) = build_ledger(dir.path()).await;
    let hash_of = |sequence| {
        let store = RocksStore::open_read_only(&DataDir::new(dir.path()).ledger()).unwrap();
        store.event(sequence).unwrap().unwrap().hash
    };
    let (h50, h51) = (hash_of(50), hash_of(51));

    // An event's entry missing, then pointing at another event: that event is named,
    // before anything its absence makes fail later (events linking to it).
    for (wrong, expected) in [(None, "None"), (Some(51), "Some(51)")] {
        tamper(dir.path(), |t| t.set_hash_index(&h50, wrong));
        let (sequence, problem) = failed_event(audit_dir(dir.path(), &verifier_key));
        assert_eq!(
            (sequence, problem),
            (
                50,
                format!("the hash index places event {h50} at {expected}")
            )
        );
    }
    tamper(dir.path(), |t| t.set_hash_index(&h50, Some(50)));
    assert_eq!(audit_dir(dir.path(), &verifier_key).unwrap(), n_events);

    // An entry that belongs to no event, with every event's own entry right: placed at
    // an event, and past the end of the log.
    let stray = ledger_core::contract::event_hash(b"no such event");
    for (at, there) in [
        (51, format!("event {h51}")),
        (n_events + 7, "no event".into()),
    ] {
        tamper(dir.path(), |t| t.set_hash_index(&stray, Some(at)));
        match audit_dir(dir.path(), &verifier_key) {
            Err(AuditFailure::Store(problem)) => assert_eq!(
                problem,
                format!("the hash index places {stray} at {at}, where the log has {there}")
            ),
            other => panic!("expected a store failure, got {other:?}"),
        }
        tamper(dir.path(), |t| t.set_hash_index(&stray, None));
    }
    assert_eq!(audit_dir(dir.path(), &verifier_key).unwrap(), n_events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_refuses_checkpoints_signed_by_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_, n_events) = build_ledger(dir.path()).await;
    let impostor = ledger_core::checkpoint::LogSigner::new(
        "foodtrace/tamper-test",
        SigningKey::from_bytes(&[0x66; 32]),
    )
    .unwrap();
    let result = audit_dir(dir.path(), &impostor.verifier_key());
    match result {
        Err(AuditFailure::Checkpoint { problem, .. }) => {
            assert!(problem.starts_with("checkpoint signature: "), "{problem}")
        }
        other => panic!("expected a checkpoint failure for {n_events} events, got {other:?}"),
    }
}

fn open_error(dir: &Path) -> String {
    match open_ledger(&DataDir::new(dir), None, WriterConfig::default()) {
        Ok(_) => panic!("a damaged ledger was opened for writing"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_will_not_write_on_a_damaged_ledger_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let (_, n_events) = build_ledger(dir.path()).await;
    let last = n_events - 1;

    // A flipped bit in the body of one of the last events.
    tamper(dir.path(), |t| t.flip_body_bit(last - 3, 30, 2));
    let error = open_error(dir.path());
    assert!(
        error.contains("is damaged, so this node will not take writes on it")
            && error.contains(&format!("event {}: its body hashes to ", last - 3))
            && error.contains("foodtrace audit --data-dir"),
        "{error}"
    );
    tamper(dir.path(), |t| t.flip_body_bit(last - 3, 30, 2));

    // The last event deleted: the log's end no longer matches its recorded length.
    tamper(dir.path(), |t| t.delete_event(last));
    let error = open_error(dir.path());
    assert!(
        error.contains(&format!(
            "meta says the next sequence is {n_events}, the log ends at {last}"
        )),
        "{error}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (_, n_events) = build_ledger(dir.path()).await;

    // A stored Merkle node under the latest checkpoint altered (the largest perfect
    // subtree, which its root is made from): the root no longer comes out of the
    // stored tree.
    let top = (63 - n_events.leading_zeros()) as u8;
    assert!(top >= 2);
    tamper(dir.path(), |t| t.flip_tree_node_bit(top, 0, 0, 0));
    let error = open_error(dir.path());
    assert!(
        error.contains(&format!("checkpoint of {n_events} events: states root ")),
        "{error}"
    );
    tamper(dir.path(), |t| t.flip_tree_node_bit(top, 0, 0, 0));

    // Put right, it opens and takes writes again.
    let ledger = open_ledger(&DataDir::new(dir.path()), None, WriterConfig::default()).unwrap();
    assert_eq!(ledger.store().next_sequence().unwrap(), n_events);
}
