//! What the fuzz targets share: a small ledger's state to admit events against, and the
//! split of a fuzzer's bytes into a signed event.
//!
//! A target's input is a signature (the first 64 bytes) and a body (the rest), exactly
//! the two fields of `foodtrace.v1.SignedEvent`. The seeds (`make_seeds`) are the events
//! of a generated district in that form (`cargo run -p district-synth --example
//! fuzz_seeds`), so the fuzzer starts from bodies that decode.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use district_synth::{Recorder, authority_id};
use ed25519_dalek::SigningKey;
use ledger_core::admission::{Admission, ViewedEvent, admit};
use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::model::PartyRole;
use ledger_core::state::{LotRecord, PartyRecord};
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
    authority: Option<PartyId>,
    parties: HashMap<PartyId, PartyRecord>,
    lots: HashMap<LotId, LotRecord>,
    events: HashMap<EventHash, ViewedEvent>,
    /// The sequence number the next event gets.
    pub next: u64,
}

impl LedgerView for MemView {
    fn authority(&self) -> Result<Option<PartyId>, LookupError> {
        Ok(self.authority.clone())
    }
    fn party(&self, party_id: &PartyId) -> Result<Option<PartyRecord>, LookupError> {
        Ok(self.parties.get(party_id).cloned())
    }
    fn lot(&self, lot_id: &LotId) -> Result<Option<LotRecord>, LookupError> {
        Ok(self.lots.get(lot_id).cloned())
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
                    if let Some(lot) = changes.new_lot {
                        view.lots.insert(lot.lot_id.clone(), lot);
                    }
                    if let Some(party) = changes.party {
                        if party.role == PartyRole::Authority {
                            view.authority = Some(party.party_id.clone());
                        }
                        view.parties.insert(party.party_id.clone(), party);
                    }
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
