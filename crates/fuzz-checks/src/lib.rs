//! What the fuzz targets check, as functions of their input: [`decode_event`] and
//! [`admit_event`] panic exactly when a property fails. libFuzzer runs them from `fuzz/`
//! (coverage-guided, nightly); the test suite runs them on mutated seeds
//! (`tests/mutations.rs`, stable, in CI).
//!
//! An input is a signature (the first 64 bytes) and a body (the rest), exactly the two
//! fields of `foodtrace.v1.SignedEvent`. The seeds ([`seeds`]) are the events of a
//! generated district in that form (`cargo run -p fuzz-checks --example fuzz_seeds`
//! writes them as files), so a fuzzer starts from bodies that decode.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use district_synth::{Recorder, authority_id};
use ed25519_dalek::SigningKey;
use ledger_core::admission::{Admission, ViewedEvent, admit, admit_deferring_signature};
use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::model::PartyRole;
use ledger_core::state::{LotRecord, MemState, PartyRecord};
use ledger_core::{LedgerView, LookupError};
use ledger_proto::{decode_signed_event, pb};

/// The fuzzer's bytes as a signed event: signature first, body after.
pub fn signed_event(data: &[u8]) -> Option<pb::SignedEvent> {
    (data.len() >= 64).then(|| pb::SignedEvent {
        signature: data[..64].to_vec(),
        body: data[64..].to_vec(),
    })
}

/// The node's clock reading the fuzzed events are admitted at (noon in Beijing).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 4, 0, 0)
        .single()
        .expect("a valid time")
}

/// The history the ledger holds: [`district_synth::small_history`] as of [`now`], the
/// same events `district-synth`'s `fuzz_seeds` example writes as seeds.
pub fn history() -> Vec<pb::SignedEvent> {
    let authority = Recorder::new(
        authority_id(),
        PartyRole::Authority,
        SigningKey::from_bytes(&[0xA1; 32]),
    );
    let beijing = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    district_synth::small_history(&authority, now().with_timezone(&beijing))
}

/// A ledger's state in memory: what admission reads.
#[derive(Default)]
pub struct MemView {
    state: MemState,
    events: HashMap<EventHash, ViewedEvent>,
    /// The sequence number the next event gets.
    pub next: u64,
}

impl LedgerView for MemView {
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
        Ok(self.events.get(hash).cloned())
    }
}

/// The state after [`history`], admitted in order (built once).
pub fn ledger() -> &'static MemView {
    static LEDGER: OnceLock<MemView> = OnceLock::new();
    LEDGER.get_or_init(|| {
        let mut view = MemView::default();
        for wire in history() {
            let event = decode_signed_event(wire).expect("the history decodes");
            match admit(&view, &event, view.next, now()) {
                Ok(Admission::New(changes)) => {
                    view.state.apply(changes);
                    view.events.insert(
                        event.hash(),
                        ViewedEvent {
                            sequence: view.next,
                            signature: *event.signature(),
                            body: event.body().clone(),
                        },
                    );
                    view.next += 1;
                }
                other => panic!("the history is admitted whole: {other:?}"),
            }
        }
        view
    })
}

/// The seeds: each event of [`history`] as an input (signature, then body).
pub fn seeds() -> Vec<Vec<u8>> {
    history()
        .into_iter()
        .map(|event| [event.signature, event.body].concat())
        .collect()
}

/// Any bytes as a signed event: decoding refuses or accepts, never panics; what it
/// accepts is canonical (its body bytes are kept as received and hash to its hash), and
/// a refusal's message is made without panicking.
pub fn decode_event(data: &[u8]) {
    let Some(wire) = signed_event(data) else {
        return;
    };
    let body = wire.body.clone();
    match decode_signed_event(wire) {
        Ok(event) => {
            assert_eq!(event.body_bytes(), &body[..]);
            assert_eq!(event.hash(), ledger_core::contract::event_hash(&body));
        }
        Err(refusal) => {
            let _ = ledger_proto::refusal_message(&refusal);
        }
    }
}

/// Any bytes that decode as a signed event, admitted against [`ledger`]: every rule
/// runs, with the signature check deferred so a fuzzer gets past it, then once more
/// with it; never a panic, and what is refused on its merits is refused with the
/// signature checked too.
pub fn admit_event(data: &[u8]) {
    let Some(wire) = signed_event(data) else {
        return;
    };
    let Ok(event) = decode_signed_event(wire) else {
        return;
    };
    let ledger = ledger();
    let now = now();
    let deferred = admit_deferring_signature(ledger, &event, ledger.next, now);
    let checked = admit(ledger, &event, ledger.next, now);
    if let Err(refusal) = &deferred {
        assert!(
            checked.is_err(),
            "deferred refused ({refusal}) but checked admitted"
        );
    }
}
