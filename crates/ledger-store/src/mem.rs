//! An in-memory store: for tests and for trying things out. Not durable.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::merkle::TreeHash;
use ledger_core::model::PartyRole;
use ledger_core::state::{LotRecord, PartyRecord};
use ledger_core::trace::LotFact;

use crate::{
    CommitGroup, LedgerStore, LotFilter, PartyEventRef, StoreError, StoredCheckpoint, StoredEvent,
    check_continues,
};

#[derive(Default)]
struct Inner {
    events: Vec<StoredEvent>,
    by_hash: HashMap<EventHash, u64>,
    /// (the lot's creation sequence, lot, event sequence) -> fact: filed as the RocksDB
    /// store files them, and found the same way, through the lot's record.
    by_lot: BTreeMap<(u64, LotId, u64), LotFact>,
    by_party: BTreeSet<(PartyId, PartyEventRef)>,
    /// (kind, or `*` for every kind; position)
    by_kind: BTreeSet<(String, PartyEventRef)>,
    /// ([`lot_key`], position) -> lot; a creating event creates one lot.
    lots_by: BTreeMap<(String, PartyEventRef), LotId>,
    /// Linked event's sequence -> sequences of the events that link to it.
    followers: HashMap<u64, Vec<u64>>,
    lots: HashMap<LotId, LotRecord>,
    parties: HashMap<PartyId, PartyRecord>,
    authority: Option<PartyId>,
    tree: HashMap<(u8, u64), TreeHash>,
    checkpoints: BTreeMap<u64, String>,
}

impl Inner {
    /// The lot's entries after `after` (exclusive), found through its record.
    fn lot_entries<'a>(
        &'a self,
        lot_id: &'a LotId,
        after: Option<u64>,
    ) -> impl Iterator<Item = (u64, &'a LotFact)> + 'a {
        let created = self.lots.get(lot_id).map(|lot| lot.created_at_sequence);
        // Nothing comes after the last sequence number there is.
        let start = after.map_or(Some(0), |after| after.checked_add(1));
        let range = created.zip(start).map(|(created, start)| {
            self.by_lot
                .range((created, lot_id.clone(), start)..)
                .take_while(move |((c, lot, _), _)| *c == created && lot == lot_id)
        });
        range
            .into_iter()
            .flatten()
            .map(|((_, _, sequence), fact)| (*sequence, fact))
    }
}

/// The in-memory lot index's key for a filter.
fn lot_key(filter: LotFilter<'_>) -> String {
    match filter {
        LotFilter::All => "a".to_owned(),
        LotFilter::Product(product) => format!("p:{product}"),
        LotFilter::Creator(party) => format!("c:{party}"),
    }
}

/// A [`LedgerStore`] in memory.
#[derive(Default)]
pub struct MemStore {
    inner: RwLock<Inner>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl LedgerStore for MemStore {
    fn commit(&self, group: &CommitGroup) -> Result<(), StoreError> {
        let mut inner = self
            .inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        check_continues(group, inner.events.len() as u64)?;
        for new in &group.events {
            let sequence = new.event.sequence;
            inner.by_hash.insert(new.event.hash, sequence);
            for entry in &new.index.lots {
                inner.by_lot.insert(
                    (entry.created_at_sequence, entry.lot.clone(), sequence),
                    entry.fact.clone(),
                );
            }
            for party in &new.index.parties {
                inner.by_party.insert((
                    party.clone(),
                    PartyEventRef {
                        occurred_at_millis: new.index.occurred_at_millis,
                        sequence,
                    },
                ));
            }
            for link in &new.index.links {
                inner.followers.entry(*link).or_default().push(sequence);
            }
            let at = PartyEventRef {
                occurred_at_millis: new.index.occurred_at_millis,
                sequence,
            };
            inner.by_kind.insert((new.index.kind.clone(), at));
            inner.by_kind.insert(("*".to_owned(), at));
            inner.events.push(new.event.clone());
        }
        for lot in &group.lots {
            let at = PartyEventRef {
                occurred_at_millis: lot.created_at.timestamp_millis(),
                sequence: lot.created_at_sequence,
            };
            for filter in [
                LotFilter::All,
                LotFilter::Product(lot.product_name.as_str()),
                LotFilter::Creator(&lot.created_by),
            ] {
                inner
                    .lots_by
                    .insert((lot_key(filter), at), lot.lot_id.clone());
            }
            inner.lots.insert(lot.lot_id.clone(), lot.clone());
        }
        for party in &group.parties {
            if party.role == PartyRole::Authority {
                inner.authority = Some(party.party_id.clone());
            }
            inner.parties.insert(party.party_id.clone(), party.clone());
        }
        for node in &group.tree_nodes {
            inner.tree.insert((node.level, node.index), node.hash);
        }
        if let Some(checkpoint) = &group.checkpoint {
            inner
                .checkpoints
                .entry(checkpoint.tree_size)
                .or_insert_with(|| checkpoint.note.clone());
        }
        Ok(())
    }

    fn next_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.read().events.len() as u64)
    }

    fn event(&self, sequence: u64) -> Result<Option<StoredEvent>, StoreError> {
        Ok(usize::try_from(sequence)
            .ok()
            .and_then(|i| self.read().events.get(i).cloned()))
    }

    fn sequence_of(&self, hash: &EventHash) -> Result<Option<u64>, StoreError> {
        Ok(self.read().by_hash.get(hash).copied())
    }

    fn scan_hash_index(
        &self,
        visit: &mut dyn FnMut(&EventHash, u64) -> bool,
    ) -> Result<(), StoreError> {
        for (hash, sequence) in &self.read().by_hash {
            if !visit(hash, *sequence) {
                break;
            }
        }
        Ok(())
    }

    fn lot_events(
        &self,
        lot_id: &LotId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(self
            .read()
            .lot_entries(lot_id, after)
            .take(limit)
            .map(|(sequence, _)| sequence)
            .collect())
    }

    fn lot_facts(
        &self,
        lot_id: &LotId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<LotFact>, StoreError> {
        Ok(self
            .read()
            .lot_entries(lot_id, after)
            .take(limit)
            .map(|(_, fact)| fact.clone())
            .collect())
    }

    fn party_events(
        &self,
        party_id: &PartyId,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<PartyEventRef>, StoreError> {
        Ok(self
            .read()
            .by_party
            .range((party_id.clone(), from)..)
            .take_while(|(party, r)| party == party_id && r.occurred_at_millis < to_millis)
            .take(limit)
            .map(|(_, r)| *r)
            .collect())
    }

    fn events_by_kind(
        &self,
        kind: Option<&str>,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<PartyEventRef>, StoreError> {
        let kind = kind.unwrap_or("*").to_owned();
        Ok(self
            .read()
            .by_kind
            .range((kind.clone(), from)..)
            .take_while(|(k, r)| *k == kind && r.occurred_at_millis < to_millis)
            .take(limit)
            .map(|(_, r)| *r)
            .collect())
    }

    fn lots_by(
        &self,
        filter: LotFilter<'_>,
        from: PartyEventRef,
        to_millis: i64,
        limit: usize,
    ) -> Result<Vec<(PartyEventRef, LotId)>, StoreError> {
        let key = lot_key(filter);
        Ok(self
            .read()
            .lots_by
            .range((key.clone(), from)..)
            .take_while(|((k, r), _)| *k == key && r.occurred_at_millis < to_millis)
            .take(limit)
            .map(|((_, r), lot)| (*r, lot.clone()))
            .collect())
    }

    fn followers(&self, hash: &EventHash) -> Result<Vec<u64>, StoreError> {
        let inner = self.read();
        Ok(inner
            .by_hash
            .get(hash)
            .and_then(|sequence| inner.followers.get(sequence))
            .cloned()
            .unwrap_or_default())
    }

    fn lot(&self, lot_id: &LotId) -> Result<Option<LotRecord>, StoreError> {
        Ok(self.read().lots.get(lot_id).cloned())
    }

    fn party(&self, party_id: &PartyId) -> Result<Option<PartyRecord>, StoreError> {
        Ok(self.read().parties.get(party_id).cloned())
    }

    fn authority(&self) -> Result<Option<PartyId>, StoreError> {
        Ok(self.read().authority.clone())
    }

    fn tree_node(&self, level: u8, index: u64) -> Result<Option<TreeHash>, StoreError> {
        Ok(self.read().tree.get(&(level, index)).copied())
    }

    fn checkpoint_at_least(&self, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self
            .read()
            .checkpoints
            .range(tree_size..)
            .next()
            .map(|(size, note)| StoredCheckpoint {
                tree_size: *size,
                note: note.clone(),
            }))
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self
            .read()
            .checkpoints
            .iter()
            .next_back()
            .map(|(size, note)| StoredCheckpoint {
                tree_size: *size,
                note: note.clone(),
            }))
    }
}
