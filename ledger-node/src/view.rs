//! The ledger as admission sees it: the store, plus the events of the commit group being
//! built, which are admitted but not yet written.

use std::collections::HashMap;

use ledger_core::admission::{LedgerView, LookupError, ViewedEvent};
use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::model::{EventBody, PartyRole};
use ledger_core::state::{LotRecord, PartyRecord};
use ledger_store::{LedgerStore, StoreError, StoredEvent};

fn lookup(error: StoreError) -> LookupError {
    LookupError(error.to_string())
}

/// Decodes a stored event's body. Stored bodies were checked on the way in, so a failure
/// here means the data directory is damaged.
pub fn decode_stored(event: &StoredEvent) -> Result<EventBody, LookupError> {
    let wire = <ledger_proto::pb::EventBody as prost::Message>::decode(event.body.as_slice())
        .map_err(|e| LookupError(format!("event {} does not decode: {e}", event.sequence)))?;
    ledger_proto::body_from_wire(&wire).map_err(|refusal| {
        LookupError(format!(
            "event {} no longer checks: {refusal}",
            event.sequence
        ))
    })
}

/// A [`LedgerView`] over a store and the pending part of a commit group.
pub struct PendingView<'a> {
    store: &'a dyn LedgerStore,
    events: HashMap<EventHash, ViewedEvent>,
    lots: HashMap<LotId, LotRecord>,
    parties: HashMap<PartyId, PartyRecord>,
    authority: Option<PartyId>,
}

impl<'a> PendingView<'a> {
    /// A view of `store` with nothing pending.
    pub fn new(store: &'a dyn LedgerStore) -> PendingView<'a> {
        PendingView {
            store,
            events: HashMap::new(),
            lots: HashMap::new(),
            parties: HashMap::new(),
            authority: None,
        }
    }

    /// Adds an admitted event and the state it changes.
    pub fn add(
        &mut self,
        hash: EventHash,
        event: ViewedEvent,
        lot: Option<&LotRecord>,
        party: Option<&PartyRecord>,
    ) {
        self.events.insert(hash, event);
        if let Some(lot) = lot {
            self.lots.insert(lot.lot_id.clone(), lot.clone());
        }
        if let Some(party) = party {
            if party.role == PartyRole::Authority {
                self.authority = Some(party.party_id.clone());
            }
            self.parties.insert(party.party_id.clone(), party.clone());
        }
    }

    /// The sequence number of an admitted event, pending or stored (`None` if unknown or
    /// unreadable: admission has read it already, so neither happens in practice).
    pub fn sequence_of(&self, hash: &EventHash) -> Option<u64> {
        match self.events.get(hash) {
            Some(event) => Some(event.sequence),
            None => self.store.sequence_of(hash).ok().flatten(),
        }
    }

    /// A pending event by hash.
    pub fn pending_event(&self, hash: &EventHash) -> Option<&ViewedEvent> {
        self.events.get(hash)
    }
}

impl LedgerView for PendingView<'_> {
    fn authority(&self) -> Result<Option<PartyId>, LookupError> {
        match &self.authority {
            Some(authority) => Ok(Some(authority.clone())),
            None => self.store.authority().map_err(lookup),
        }
    }

    fn party(&self, party_id: &PartyId) -> Result<Option<PartyRecord>, LookupError> {
        match self.parties.get(party_id) {
            Some(party) => Ok(Some(party.clone())),
            None => self.store.party(party_id).map_err(lookup),
        }
    }

    fn lot(&self, lot_id: &LotId) -> Result<Option<LotRecord>, LookupError> {
        match self.lots.get(lot_id) {
            Some(lot) => Ok(Some(lot.clone())),
            None => self.store.lot(lot_id).map_err(lookup),
        }
    }

    fn event(&self, hash: &EventHash) -> Result<Option<ViewedEvent>, LookupError> {
        if let Some(event) = self.events.get(hash) {
            return Ok(Some(event.clone()));
        }
        let Some(sequence) = self.store.sequence_of(hash).map_err(lookup)? else {
            return Ok(None);
        };
        let stored = self.store.event(sequence).map_err(lookup)?.ok_or_else(|| {
            LookupError(format!("index names event {sequence}, which is missing"))
        })?;
        Ok(Some(ViewedEvent {
            sequence,
            signature: stored.signature,
            body: decode_stored(&stored)?,
        }))
    }
}
