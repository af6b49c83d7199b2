//! The ledger as admission sees it: the store, plus the events of the commit groups
//! admitted but not yet written.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

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

/// What a commit group adds to the ledger, as admission sees it: its events (decoded),
/// the lots they create and the registry entries they change.
#[derive(Default)]
pub struct Layer {
    /// When the node recorded the group's events (`None` outside the writer).
    recorded_at: Option<DateTime<Utc>>,
    events: HashMap<EventHash, ViewedEvent>,
    lots: HashMap<LotId, LotRecord>,
    parties: HashMap<PartyId, PartyRecord>,
    authority: Option<PartyId>,
}

impl Layer {
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

    /// Whether the layer holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Registry entries and lots read from the store, decoded, kept for the writer's next
/// groups (most events name a party or a lot that others named moments ago). An entry is
/// dropped when a group that changes it is admitted: while that group is pending its
/// layer answers, and once written the store does.
pub struct StoreCache {
    parties: quick_cache::unsync::Cache<PartyId, PartyRecord>,
    lots: quick_cache::unsync::Cache<LotId, LotRecord>,
    /// The authority, once the store has one (every event's admission asks).
    authority: Option<PartyId>,
}

impl StoreCache {
    /// A cache of at most `entries` parties and as many lots.
    pub fn new(entries: usize) -> StoreCache {
        StoreCache {
            parties: quick_cache::unsync::Cache::new(entries),
            lots: quick_cache::unsync::Cache::new(entries),
            authority: None,
        }
    }

    /// Forgets what `layer` changes.
    pub fn forget(&mut self, layer: &Layer) {
        for party in layer.parties.keys() {
            self.parties.remove(party);
        }
        for lot in layer.lots.keys() {
            self.lots.remove(lot);
        }
        if layer.authority.is_some() {
            self.authority = None;
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.parties.clear();
        self.lots.clear();
        self.authority = None;
    }
}

/// A [`LedgerView`] over a store, the groups admitted but not yet written (`layers`,
/// oldest first: a group is admitted while the one before it is being committed), and
/// the group being built.
pub struct PendingView<'a> {
    store: &'a dyn LedgerStore,
    layers: &'a [std::sync::Arc<Layer>],
    current: Layer,
    cache: Option<&'a std::cell::RefCell<StoreCache>>,
}

impl<'a> PendingView<'a> {
    /// A view of `store` with nothing pending.
    pub fn new(store: &'a dyn LedgerStore) -> PendingView<'a> {
        PendingView {
            store,
            layers: &[],
            current: Layer::default(),
            cache: None,
        }
    }

    /// A view of `store` and the groups in `layers` (oldest first), not yet written, for
    /// a group whose events are recorded at `recorded_at`.
    pub fn over(
        store: &'a dyn LedgerStore,
        layers: &'a [std::sync::Arc<Layer>],
        cache: &'a std::cell::RefCell<StoreCache>,
        recorded_at: DateTime<Utc>,
    ) -> PendingView<'a> {
        PendingView {
            store,
            layers,
            current: Layer {
                recorded_at: Some(recorded_at),
                ..Layer::default()
            },
            cache: Some(cache),
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
        self.current.add(hash, event, lot, party);
    }

    /// The group built so far, to be layered under the next group's view.
    pub fn into_layer(self) -> Layer {
        self.current
    }

    /// The layers, newest first, then the group being built first of all.
    fn pending(&self) -> impl Iterator<Item = &Layer> {
        std::iter::once(&self.current).chain(self.layers.iter().rev().map(|l| &**l))
    }

    /// The sequence number of an admitted event, pending or stored (`None` if unknown or
    /// unreadable: admission has read it already, so neither happens in practice).
    pub fn sequence_of(&self, hash: &EventHash) -> Option<u64> {
        match self.pending_event(hash) {
            Some(event) => Some(event.sequence),
            None => self.store.sequence_of(hash).ok().flatten(),
        }
    }

    /// The sequence number of the event that created a lot, pending or stored (`None`
    /// if unknown or unreadable: admission has read it already, so neither happens in
    /// practice).
    pub fn lot_created_at(&self, lot_id: &LotId) -> Option<u64> {
        if let Some(lot) = self.pending().find_map(|layer| layer.lots.get(lot_id)) {
            return Some(lot.created_at_sequence);
        }
        if let Some(cache) = self.cache
            && let Some(lot) = cache.borrow_mut().lots.get(lot_id)
        {
            return Some(lot.created_at_sequence);
        }
        self.store
            .lot(lot_id)
            .ok()
            .flatten()
            .map(|lot| lot.created_at_sequence)
    }

    /// An event admitted but not yet written, by hash.
    pub fn pending_event(&self, hash: &EventHash) -> Option<&ViewedEvent> {
        self.pending().find_map(|layer| layer.events.get(hash))
    }

    /// When an event admitted but not yet written was recorded.
    pub fn pending_recorded_at(&self, hash: &EventHash) -> Option<DateTime<Utc>> {
        self.pending()
            .find(|layer| layer.events.contains_key(hash))
            .and_then(|layer| layer.recorded_at)
    }
}

/// `key`'s value from `cache`, or read (and kept when found).
fn read_through<K, V>(
    cache: &mut quick_cache::unsync::Cache<K, V>,
    key: &K,
    read: impl FnOnce() -> Result<Option<V>, LookupError>,
) -> Result<Option<V>, LookupError>
where
    K: Clone + Eq + std::hash::Hash,
    V: Clone,
{
    if let Some(value) = cache.get(key) {
        return Ok(Some(value.clone()));
    }
    let value = read()?;
    if let Some(value) = &value {
        cache.insert(key.clone(), value.clone());
    }
    Ok(value)
}

impl LedgerView for PendingView<'_> {
    fn authority(&self) -> Result<Option<PartyId>, LookupError> {
        if let Some(authority) = self.pending().find_map(|layer| layer.authority.as_ref()) {
            return Ok(Some(authority.clone()));
        }
        let Some(cache) = self.cache else {
            return self.store.authority().map_err(lookup);
        };
        if let Some(authority) = &cache.borrow().authority {
            return Ok(Some(authority.clone()));
        }
        let authority = self.store.authority().map_err(lookup)?;
        cache.borrow_mut().authority.clone_from(&authority);
        Ok(authority)
    }

    fn party(&self, party_id: &PartyId) -> Result<Option<PartyRecord>, LookupError> {
        if let Some(party) = self.pending().find_map(|layer| layer.parties.get(party_id)) {
            return Ok(Some(party.clone()));
        }
        let read = || self.store.party(party_id).map_err(lookup);
        match self.cache {
            Some(cache) => read_through(&mut cache.borrow_mut().parties, party_id, read),
            None => read(),
        }
    }

    fn lot(&self, lot_id: &LotId) -> Result<Option<LotRecord>, LookupError> {
        if let Some(lot) = self.pending().find_map(|layer| layer.lots.get(lot_id)) {
            return Ok(Some(lot.clone()));
        }
        let read = || self.store.lot(lot_id).map_err(lookup);
        match self.cache {
            Some(cache) => read_through(&mut cache.borrow_mut().lots, lot_id, read),
            None => read(),
        }
    }

    fn event(&self, hash: &EventHash) -> Result<Option<ViewedEvent>, LookupError> {
        if let Some(event) = self.pending_event(hash) {
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
