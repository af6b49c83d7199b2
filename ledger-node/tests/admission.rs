//! Admission over whole histories: a generated district is admitted in full, any single
//! flipped byte of any event is refused, and the writer never half-commits a group.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{Duration, TimeZone, Utc};
use district_synth::{Recorder, authority_id};
use ed25519_dalek::SigningKey;
use ledger_core::admission::{Admission, ViewedEvent, admit};
use ledger_core::model::PartyRole;
use ledger_core::{RefusalCode, SignedEvent};
use ledger_node::view::PendingView;
use ledger_node::{AuthorityIdentity, GroupLinger, Ledger, WriterConfig, initialize};
use ledger_proto::decode_signed_event;
use ledger_store::{
    CommitGroup, LedgerStore, MemStore, PartyEventRef, StoreError, StoreErrorKind, StoredEvent,
};
use proptest::prelude::*;

fn authority() -> Recorder {
    Recorder::new(
        authority_id(),
        PartyRole::Authority,
        SigningKey::from_bytes(&[0xA1; 32]),
    )
}

fn log_signer() -> ledger_core::checkpoint::LogSigner {
    ledger_core::checkpoint::LogSigner::new("foodtrace/test", SigningKey::from_bytes(&[0x10; 32]))
        .unwrap()
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 4, 0, 0)
        .single()
        .unwrap()
}

/// Genesis plus a tiny district ([`district_synth::small_history`]), signed once for
/// every test.
fn history() -> &'static [ledger_proto::pb::SignedEvent] {
    static HISTORY: OnceLock<Vec<ledger_proto::pb::SignedEvent>> = OnceLock::new();
    HISTORY.get_or_init(|| district_synth::small_history(&authority(), now().fixed_offset()))
}

/// Admits `events` in order into a view, as the writer does within one group.
fn admit_all<'a>(
    store: &'a dyn LedgerStore,
    events: &[ledger_proto::pb::SignedEvent],
) -> PendingView<'a> {
    let mut view = PendingView::new(store);
    for (sequence, event) in events.iter().enumerate() {
        let event =
            decode_signed_event(event.clone()).unwrap_or_else(|r| panic!("event {sequence}: {r}"));
        add(&mut view, &event, sequence as u64);
    }
    view
}

fn add(view: &mut PendingView<'_>, event: &SignedEvent, sequence: u64) {
    match admit(view, event, sequence, now()) {
        Ok(Admission::New(changes)) => view.add(
            event.hash(),
            ViewedEvent {
                sequence,
                signature: *event.signature(),
                body: event.body().clone(),
            },
            changes.new_lot.as_ref(),
            changes.party.as_ref(),
        ),
        other => panic!(
            "event {sequence} ({}) not admitted: {other:?}",
            event.body().kind.name()
        ),
    }
}

#[test]
fn a_generated_district_is_admitted_whole() {
    let store = MemStore::new();
    let events = history();
    assert!(
        events.len() > 100,
        "the tiny district has {} events",
        events.len()
    );
    admit_all(&store, events);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Flip one bit anywhere in the body or signature of any event of a valid history:
    /// the event is refused, whatever the byte held.
    #[test]
    fn any_flipped_bit_is_refused(index in 1usize..60, in_signature: bool, position in any::<prop::sample::Index>(), bit in 0u8..8) {
        let events = history();
        let store = MemStore::new();
        let view = admit_all(&store, &events[..index]);
        let mut tampered = events[index].clone();
        let bytes = if in_signature { &mut tampered.signature } else { &mut tampered.body };
        let at = position.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let outcome = decode_signed_event(tampered).and_then(|event| admit(&view, &event, index as u64, now()));
        prop_assert!(outcome.is_err(), "a flipped bit at {at} of the {} was admitted: {outcome:?}", if in_signature { "signature" } else { "body" });
        // The untampered event is still admitted: the refusal was the flip's doing.
        let original = decode_signed_event(events[index].clone()).unwrap();
        prop_assert!(matches!(admit(&view, &original, index as u64, now()), Ok(Admission::New(_))));
    }
}

/// A store whose commits can be made to fail, to watch the writer's behaviour.
struct FlakyStore {
    inner: MemStore,
    fail: AtomicBool,
}

impl LedgerStore for FlakyStore {
    fn commit(&self, group: &CommitGroup) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::new(StoreErrorKind::Io, "disk full"));
        }
        self.inner.commit(group)
    }
    fn next_sequence(&self) -> Result<u64, StoreError> {
        self.inner.next_sequence()
    }
    fn event(&self, sequence: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.inner.event(sequence)
    }
    fn sequence_of(&self, hash: &ledger_core::EventHash) -> Result<Option<u64>, StoreError> {
        self.inner.sequence_of(hash)
    }
    fn scan_hash_index(
        &self,
        visit: &mut dyn FnMut(&ledger_core::EventHash, u64) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.scan_hash_index(visit)
    }
    fn lot_events(
        &self,
        lot_id: &ledger_core::LotId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.inner.lot_events(lot_id, after, limit)
    }
    fn events_by_kind(
        &self,
        kind: Option<&str>,
        from: ledger_store::PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<ledger_store::PartyEventRef>, StoreError> {
        self.inner.events_by_kind(kind, from, to_millis, limit)
    }
    fn lots_by(
        &self,
        filter: ledger_store::LotFilter<'_>,
        from: ledger_store::PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<(ledger_store::PartyEventRef, ledger_core::LotId)>, StoreError> {
        self.inner.lots_by(filter, from, to_millis, limit)
    }
    fn lot_facts(
        &self,
        lot_id: &ledger_core::LotId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ledger_core::trace::LotFact>, StoreError> {
        self.inner.lot_facts(lot_id, after, limit)
    }
    fn party_events(
        &self,
        party_id: &ledger_core::PartyId,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<PartyEventRef>, StoreError> {
        self.inner.party_events(party_id, from, to_millis, limit)
    }
    fn followers(&self, hash: &ledger_core::EventHash) -> Result<Vec<u64>, StoreError> {
        self.inner.followers(hash)
    }
    fn lot(
        &self,
        lot_id: &ledger_core::LotId,
    ) -> Result<Option<ledger_core::state::LotRecord>, StoreError> {
        self.inner.lot(lot_id)
    }
    fn party(
        &self,
        party_id: &ledger_core::PartyId,
    ) -> Result<Option<ledger_core::state::PartyRecord>, StoreError> {
        self.inner.party(party_id)
    }
    fn authority(&self) -> Result<Option<ledger_core::PartyId>, StoreError> {
        self.inner.authority()
    }
    fn tree_node(
        &self,
        level: u8,
        index: u64,
    ) -> Result<Option<ledger_core::merkle::TreeHash>, StoreError> {
        self.inner.tree_node(level, index)
    }
    fn checkpoint_at_least(
        &self,
        tree_size: u64,
    ) -> Result<Option<ledger_store::StoredCheckpoint>, StoreError> {
        self.inner.checkpoint_at_least(tree_size)
    }
    fn latest_checkpoint(&self) -> Result<Option<ledger_store::StoredCheckpoint>, StoreError> {
        self.inner.latest_checkpoint()
    }
}

#[tokio::test]
async fn a_failed_commit_acknowledges_nothing_and_leaves_no_gap() {
    let store = Arc::new(FlakyStore {
        inner: MemStore::new(),
        fail: AtomicBool::new(false),
    });
    let ledger = Ledger::start(store.clone(), log_signer(), WriterConfig::default()).unwrap();
    register_authority(&ledger).await;

    let events: Vec<SignedEvent> = history()[1..4]
        .iter()
        .map(|e| decode_signed_event(e.clone()).unwrap())
        .collect();
    store.fail.store(true, Ordering::SeqCst);
    let refusal = ledger.submit(events[0].clone()).await.unwrap_err();
    assert_eq!(refusal.code, RefusalCode::Unavailable);
    assert_eq!(
        refusal.message,
        "the ledger could not store the event: disk full"
    );
    assert_eq!(store.next_sequence().unwrap(), 1);
    assert_eq!(store.sequence_of(&events[0].hash()).unwrap(), None);

    store.fail.store(false, Ordering::SeqCst);
    for (i, event) in events.iter().enumerate() {
        let receipt = ledger.submit(event.clone()).await.unwrap();
        assert_eq!(
            receipt.sequence,
            1 + i as u64,
            "no sequence number was lost to the failed commit"
        );
    }
    // Nor did the failed group leave leaves behind in the tree.
    assert_checkpoint_matches_events(&ledger, &*store, 4).await;
}

/// Records the genesis: the authority registering itself, 400 days ago.
async fn register_authority(ledger: &Ledger) {
    let authority = authority();
    let identity = AuthorityIdentity {
        party_id: authority.id().clone(),
        name: "监管局".into(),
        region: "210112".into(),
    };
    initialize(
        ledger,
        authority.signer(),
        &identity,
        (now() - Duration::days(400)).fixed_offset(),
    )
    .await
    .unwrap();
}

/// A store holding the authority's genesis, written by a writer that has since stopped.
async fn initialized_store() -> Arc<dyn LedgerStore> {
    let store: Arc<dyn LedgerStore> = Arc::new(MemStore::new());
    let ledger = Ledger::start(store.clone(), log_signer(), WriterConfig::default()).unwrap();
    register_authority(&ledger).await;
    drop(ledger);
    store
}

fn lingering(when_busy: f64) -> WriterConfig {
    WriterConfig {
        linger: GroupLinger {
            wait: std::time::Duration::from_secs(60),
            until: 2,
            when_busy,
        },
        ..WriterConfig::default()
    }
}

#[tokio::test]
async fn a_busy_writer_lets_a_group_gather() {
    let store = initialized_store().await;
    // Busy enough from the start: the first event waits (a minute at most) for a second.
    let ledger = Ledger::start(store.clone(), log_signer(), lingering(0.0)).unwrap();
    let events: Vec<SignedEvent> = history()[1..3]
        .iter()
        .map(|e| decode_signed_event(e.clone()).unwrap())
        .collect();
    let mut first = Box::pin(ledger.enqueue(events[0].clone()).await.unwrap().wait());
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), &mut first)
            .await
            .is_err(),
        "the first event was committed alone, without waiting for a second"
    );
    let second = ledger.submit(events[1].clone()).await.unwrap();
    let first = first.await.unwrap();
    assert_eq!(second.sequence, first.sequence + 1);
    assert_eq!(
        first.recorded_at, second.recorded_at,
        "one group: one recorded-at"
    );
    assert_eq!(store.next_sequence().unwrap(), first.sequence + 2);
}

#[tokio::test]
async fn a_quiet_writer_does_not_linger() {
    let store = initialized_store().await;
    // Lingers only when busy half the time: a lone event on an idle writer goes at once,
    // not after the minute it would otherwise wait for company.
    let ledger = Ledger::start(store.clone(), log_signer(), lingering(0.5)).unwrap();
    let event = decode_signed_event(history()[1].clone()).unwrap();
    let receipt = tokio::time::timeout(std::time::Duration::from_secs(30), ledger.submit(event))
        .await
        .expect("a lone event on a quiet writer lingered");
    assert_eq!(
        receipt.unwrap().sequence,
        store.next_sequence().unwrap() - 1
    );
}

#[tokio::test]
async fn a_stopping_writer_stops_lingering_and_commits() {
    let store = initialized_store().await;
    let ledger = Ledger::start(store.clone(), log_signer(), lingering(0.0)).unwrap();
    let event = decode_signed_event(history()[1].clone()).unwrap();
    let pending = ledger.enqueue(event.clone()).await.unwrap();
    // The last handle goes: no second event can come, so the writer stops waiting for
    // one, commits what it holds and ends (dropping the handle waits for that).
    let stopped = tokio::task::spawn_blocking(move || drop(ledger));
    let receipt = tokio::time::timeout(std::time::Duration::from_secs(30), pending.wait())
        .await
        .expect("the writer went on waiting for an event that could not come")
        .unwrap();
    stopped.await.unwrap();
    assert_eq!(
        store.sequence_of(&event.hash()).unwrap(),
        Some(receipt.sequence)
    );
}

#[tokio::test]
async fn one_group_admits_events_that_depend_on_each_other() {
    let store: Arc<dyn LedgerStore> = Arc::new(MemStore::new());
    let config = WriterConfig {
        queue_capacity: 4096,
        max_group: 4096,
        ..WriterConfig::default()
    };
    let ledger = Ledger::start(store.clone(), log_signer(), config).unwrap();
    // Queue the whole history before waiting for any receipt: registrations, origins,
    // shipments and the receipts naming them land in the same few groups.
    let receipts = ledger_node::submit_in_order(&ledger, history().iter().cloned())
        .await
        .unwrap_or_else(|(i, r)| panic!("event {i}: {r}"));
    for (i, receipt) in receipts.iter().enumerate() {
        assert_eq!(receipt.sequence, i as u64);
    }
    assert_eq!(store.next_sequence().unwrap(), history().len() as u64);

    assert_checkpoint_matches_events(&ledger, &*store, history().len() as u64).await;
}

/// Waits for a checkpoint of `size` leaves and checks it: signed by the log key, with the
/// root of the stored nodes, which is the root of the stored events' leaves in order.
async fn assert_checkpoint_matches_events(ledger: &Ledger, store: &dyn LedgerStore, size: u64) {
    let checkpoint = ledger.wait_for_checkpoint(size).await.unwrap();
    let verifier = ledger_core::checkpoint::LogVerifier::parse(ledger.verifier_key()).unwrap();
    let verified = verifier.verify(&checkpoint.note).unwrap();
    assert_eq!(verified.size, size);
    assert_eq!(
        verified.root,
        ledger_core::merkle::root(&ledger_store::StoreTree(store), size).unwrap()
    );
    let mut tree = ledger_core::merkle::MemTree::new();
    for sequence in 0..size {
        let event = store.event(sequence).unwrap().unwrap();
        tree.push(ledger_core::merkle::leaf_hash(
            &event.hash,
            &event.signature,
            event.recorded_at.timestamp_millis(),
        ));
    }
    assert_eq!(tree.root(), verified.root);
}

/// Queues `events` all at once (so they share groups) and returns each one's outcome as
/// (sequence, or the refusal's code).
async fn outcomes_queued(ledger: &Ledger, events: &[SignedEvent]) -> Vec<Result<u64, RefusalCode>> {
    let mut pending = Vec::new();
    for event in events {
        pending.push(ledger.enqueue(event.clone()).await.unwrap());
    }
    let mut outcomes = Vec::new();
    for receipt in pending {
        outcomes.push(receipt.wait().await.map(|r| r.sequence).map_err(|r| r.code));
    }
    outcomes
}

/// The district's history with the signature of its first origin spoiled, and that
/// origin's index: its lot never comes to be, so what ships, receives, tests or
/// transforms that lot is refused too.
fn spoiled_history() -> (Vec<SignedEvent>, usize) {
    let mut events: Vec<SignedEvent> = history()
        .iter()
        .map(|e| decode_signed_event(e.clone()).unwrap())
        .collect();
    let spoiled = events
        .iter()
        .position(|e| e.body().kind.name() == "ORIGIN")
        .unwrap();
    let mut signature = *events[spoiled].signature();
    signature[10] ^= 0x40;
    events[spoiled] = SignedEvent::from_decoded_parts(
        events[spoiled].body_bytes().to_vec(),
        events[spoiled].body().clone(),
        signature,
    );
    (events, spoiled)
}

/// Each event's outcome when submitted one at a time, each in a group of its own.
async fn outcomes_one_by_one(events: &[SignedEvent]) -> Vec<Result<u64, RefusalCode>> {
    let single = Ledger::start(
        Arc::new(MemStore::new()),
        log_signer(),
        WriterConfig::default(),
    )
    .unwrap();
    outcomes_submitted(&single, events).await
}

/// Submits `events` one at a time, each waiting for the one before to be stored, and
/// returns each one's outcome as (sequence, or the refusal's code).
async fn outcomes_submitted(
    ledger: &Ledger,
    events: &[SignedEvent],
) -> Vec<Result<u64, RefusalCode>> {
    let mut outcomes = Vec::new();
    for event in events {
        outcomes.push(
            ledger
                .submit(event.clone())
                .await
                .map(|r| r.sequence)
                .map_err(|r| r.code),
        );
    }
    outcomes
}

/// Outcomes of the spoiled history as `outcomes_one_by_one` gives them, and the
/// checkpoint of the ledger that gave `outcomes` over what it admitted.
async fn assert_spoiled_outcomes(
    ledger: &Ledger,
    events: &[SignedEvent],
    spoiled: usize,
    outcomes: &[Result<u64, RefusalCode>],
) {
    assert_eq!(outcomes, outcomes_one_by_one(events).await);
    assert_eq!(outcomes[spoiled], Err(RefusalCode::Unauthenticated));
    let refused = outcomes.iter().filter(|o| o.is_err()).count();
    assert!(
        refused > 1,
        "events relying on the spoiled origin are refused too"
    );
    assert!(refused < events.len() / 2, "the rest are admitted");
    let admitted = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
    assert_checkpoint_matches_events(ledger, &**ledger.store(), admitted).await;
}

fn one_big_group() -> WriterConfig {
    WriterConfig {
        queue_capacity: 4096,
        max_group: 4096,
        ..WriterConfig::default()
    }
}

#[tokio::test]
async fn a_bad_signature_in_a_group_refuses_it_and_only_what_relies_on_it() {
    // Queued all at once and checked as one batch (the verifier waits for all of them),
    // registrations and the events they allow share a group: no signer's key is stored
    // when the verifier looks, so the admitter checks every signature itself.
    let (events, spoiled) = spoiled_history();
    assert!(events.len() <= 4096);
    let config = WriterConfig {
        linger: GroupLinger {
            wait: std::time::Duration::from_secs(60),
            until: events.len(),
            when_busy: 0.0,
        },
        ..one_big_group()
    };
    let batched = Ledger::start(Arc::new(MemStore::new()), log_signer(), config).unwrap();
    let queued = outcomes_queued(&batched, &events).await;
    assert_spoiled_outcomes(&batched, &events, spoiled, &queued).await;
}

#[tokio::test]
async fn a_bad_signature_checked_ahead_of_admission_refuses_it_and_what_relies_on_it() {
    // Everything before the spoiled origin is stored first, its signer's registration
    // among it, so the verifier knows the key and checks the signature ahead of the
    // admitter, which must take its word that it is bad.
    let (events, spoiled) = spoiled_history();
    let ledger = Ledger::start(Arc::new(MemStore::new()), log_signer(), one_big_group()).unwrap();
    let mut outcomes = outcomes_submitted(&ledger, &events[..spoiled]).await;
    outcomes.extend(outcomes_queued(&ledger, &events[spoiled..]).await);
    assert_spoiled_outcomes(&ledger, &events, spoiled, &outcomes).await;
}

#[tokio::test]
async fn a_party_over_its_rate_is_refused_but_forgeries_in_its_name_cost_it_nothing() {
    let store: Arc<dyn LedgerStore> = Arc::new(MemStore::new());
    let config = WriterConfig {
        party_rate: Some(ledger_core::rate::SubmissionRate {
            per_second: 1,
            burst: 5,
        }),
        ..WriterConfig::default()
    };
    let ledger = Ledger::start(store.clone(), log_signer(), config).unwrap();
    let decode = |event| decode_signed_event(event).unwrap();
    ledger.submit(decode(history()[0].clone())).await.unwrap();

    // The authority is not limited: seven registrations against a burst of five.
    let authority = authority();
    let at = (now() - Duration::hours(2)).fixed_offset();
    let parties: Vec<Recorder> = (0..7)
        .map(|i| {
            Recorder::new(
                district_synth::party_id("210112", 700 + i),
                PartyRole::Producer,
                SigningKey::from_bytes(&[0x70 + i as u8; 32]),
            )
        })
        .collect();
    let registrations: Vec<SignedEvent> = parties
        .iter()
        .map(|p| decode(authority.register(at, p, "合作社", "210112").0))
        .collect();
    assert!(
        outcomes_queued(&ledger, &registrations)
            .await
            .iter()
            .all(Result::is_ok)
    );

    let origin = |party: &Recorder, lot: String| {
        let kind =
            district_synth::origin(&lot, "黄瓜", "vegetable", "10", "kg", "2026-11-27", "HG");
        decode(party.sign(at + Duration::minutes(1), kind).0)
    };
    let (p, q) = (&parties[0], &parties[1]);
    // Forgeries naming P as signer fail their signature check and spend none of P's tokens.
    let forged: Vec<SignedEvent> = (0..5)
        .map(|i| {
            let mut wire = p
                .sign(
                    at + Duration::minutes(1),
                    district_synth::origin(
                        &format!("FORGED-{i}"),
                        "黄瓜",
                        "vegetable",
                        "10",
                        "kg",
                        "2026-11-27",
                        "HG",
                    ),
                )
                .0;
            wire.signature[3] ^= 0x10;
            decode(wire)
        })
        .collect();
    assert_eq!(
        outcomes_queued(&ledger, &forged).await,
        vec![Err(RefusalCode::Unauthenticated); 5]
    );
    // P's own eight at once: its burst of five is admitted, the rest refused.
    let own: Vec<SignedEvent> = (0..8).map(|i| origin(p, format!("P-{i}"))).collect();
    let outcomes = outcomes_queued(&ledger, &own).await;
    assert!(outcomes[..5].iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(outcomes[5..], [Err(RefusalCode::ResourceExhausted); 3]);
    let refusal = ledger
        .submit(origin(p, "P-8".into()))
        .await
        .expect_err("still over its rate");
    assert_eq!(refusal.field, "body.signer_party_id");
    assert!(
        refusal.message.contains(
            "is over its submission rate of 1 events a second (bursts of 5); send it again in "
        ),
        "{}",
        refusal.message
    );
    // Nothing refused was stored; another party records as before.
    let before = store.next_sequence().unwrap();
    ledger.submit(origin(q, "Q-0".into())).await.unwrap();
    assert_eq!(store.next_sequence().unwrap(), before + 1);
    assert_eq!(before, 1 + 7 + 5);
}
