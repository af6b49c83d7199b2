//! The trace's hot adjacency: each lot's facts and each party's registry entry, cached
//! in memory in front of the store, bounded, and kept exact as events arrive.
//!
//! Exactness: before a read, [`LedgerCache::catch_up`] reads the events committed since
//! it last looked and evicts every lot and party they touch. A value read from the store
//! is cached only if no catch-up ran while it was being read (else it could predate an
//! eviction). A trace runs "as of" the sequence number catch-up returned, so a fact
//! committed after that point, even if it is in a cached value, is not reported.

use std::sync::{Arc, Mutex};

use ledger_core::ids::{LotId, PartyId};
use ledger_core::state::PartyRecord;
use ledger_core::trace::{FactSource, LotFact};
use ledger_store::{LedgerStore, StoreError, StoreErrorKind};
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// A cached lot: its facts, and each fact as the trace route writes it (made on first
/// use; a fact never changes, so neither does its JSON).
pub struct CachedLot {
    /// The facts, by ascending sequence number.
    pub facts: Arc<[LotFact]>,
    json: std::sync::OnceLock<Vec<Box<serde_json::value::RawValue>>>,
}

impl CachedLot {
    fn new(facts: Arc<[LotFact]>) -> CachedLot {
        CachedLot {
            facts,
            json: std::sync::OnceLock::new(),
        }
    }

    /// Each fact's JSON (an `EventView`), about this lot.
    pub fn json(&self, lot_id: &LotId) -> &[Box<serde_json::value::RawValue>] {
        self.json.get_or_init(|| {
            self.facts
                .iter()
                .map(|fact| {
                    let text = serde_json::to_string(&crate::trace_json::EventJson {
                        lot_id: lot_id.as_str(),
                        fact,
                    })
                    .expect("events serialize");
                    serde_json::value::RawValue::from_string(text).expect("valid JSON")
                })
                .collect()
        })
    }
}

/// Weighs a cached lot by its number of facts (at least 1), counted twice: the facts,
/// and their JSON once a trace has written them.
#[derive(Clone)]
struct FactCount;

impl Weighter<LotId, Arc<CachedLot>> for FactCount {
    fn weight(&self, _lot: &LotId, lot: &Arc<CachedLot>) -> u64 {
        2 * lot.facts.len().max(1) as u64
    }
}

/// The cache.
pub struct LedgerCache {
    store: Arc<dyn LedgerStore>,
    lots: Cache<LotId, Arc<CachedLot>, FactCount>,
    parties: Cache<PartyId, Option<Arc<PartyRecord>>>,
    /// Events up to here (exclusive) have been looked at for evictions.
    seen: Mutex<u64>,
}

impl LedgerCache {
    /// A cache in front of `store` holding at most `max_facts` lot facts.
    pub fn new(store: Arc<dyn LedgerStore>, max_facts: u64) -> LedgerCache {
        // Nothing is cached yet, so there is nothing to evict for events already there.
        // (Should the store fail to answer, starting from 0 is slow but right.)
        let seen = store.next_sequence().unwrap_or(0);
        LedgerCache {
            store,
            lots: Cache::with_weighter((max_facts / 16).max(16) as usize, max_facts, FactCount),
            parties: Cache::new(65_536),
            seen: Mutex::new(seen),
        }
    }

    /// The store behind the cache.
    pub fn store(&self) -> &dyn LedgerStore {
        &*self.store
    }

    /// Evicts what the events committed since the last call touch; returns the number
    /// of events in the ledger, which the caller reads as of.
    pub fn catch_up(&self) -> Result<u64, StoreError> {
        let next = self.store.next_sequence()?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        while *seen < next {
            let sequence = *seen;
            let stored = self.store.event(sequence)?.ok_or_else(|| {
                StoreError::new(
                    StoreErrorKind::Corruption,
                    format!("event {sequence} is missing"),
                )
            })?;
            let signed = ledger_proto::decode_signed_event(ledger_proto::pb::SignedEvent {
                body: stored.body,
                signature: stored.signature.to_vec(),
            })
            .map_err(|refusal| {
                StoreError::new(
                    StoreErrorKind::Corruption,
                    format!("event {sequence} no longer decodes: {refusal}"),
                )
            })?;
            for lot in signed.body().lot_ids() {
                self.lots.remove(lot);
            }
            for party in signed.body().party_ids() {
                self.parties.remove(party);
            }
            *seen += 1;
        }
        Ok(next)
    }

    /// The number of events, if the cache has already looked at all of them (nothing to
    /// catch up with, so nothing to read).
    pub fn caught_up(&self) -> Option<u64> {
        let next = self.store.next_sequence().ok()?;
        let seen = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        (seen == next).then_some(next)
    }

    /// A lot's facts if cached (no read).
    pub fn cached_facts(&self, lot_id: &LotId) -> Option<Arc<[LotFact]>> {
        self.lots.get(lot_id).map(|lot| lot.facts.clone())
    }

    /// A cached lot (no read).
    pub fn cached_lot(&self, lot_id: &LotId) -> Option<Arc<CachedLot>> {
        self.lots.get(lot_id)
    }

    /// A party's registry entry if cached (no read): `Some(None)` is a cached absence.
    pub fn cached_party(&self, party_id: &PartyId) -> Option<Option<Arc<PartyRecord>>> {
        self.parties.get(party_id)
    }

    fn generation(&self) -> u64 {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A party's registry entry.
    pub fn party(&self, party_id: &PartyId) -> Result<Option<Arc<PartyRecord>>, StoreError> {
        if let Some(party) = self.parties.get(party_id) {
            return Ok(party);
        }
        let generation = self.generation();
        let party = self.store.party(party_id)?.map(Arc::new);
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == generation {
            self.parties.insert(party_id.clone(), party.clone());
        }
        Ok(party)
    }
}

impl FactSource for LedgerCache {
    type Error = StoreError;

    fn facts(&self, lot_id: &LotId) -> Result<Arc<[LotFact]>, StoreError> {
        if let Some(lot) = self.lots.get(lot_id) {
            return Ok(lot.facts.clone());
        }
        let generation = self.generation();
        let facts: Arc<[LotFact]> = self.store.lot_facts(lot_id, None, usize::MAX)?.into();
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == generation {
            self.lots
                .insert(lot_id.clone(), Arc::new(CachedLot::new(facts.clone())));
        }
        Ok(facts)
    }
}
