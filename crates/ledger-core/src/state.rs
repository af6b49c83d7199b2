//! What the ledger knows besides the events themselves: the party registry and the lots,
//! both derived from events by admission and stored beside them.

use serde::{Deserialize, Serialize};

use crate::ids::{EventHash, KeyId, LotId, PartyId};
use crate::model::{
    EventBody, KeyGrant, LotInfo, PartyRole, PartyStatus, Quantity, RegionCode, Text, Timestamp,
};

/// A key as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Derived from the public key.
    pub key_id: KeyId,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Signs events that occurred at or after this.
    pub valid_from: Timestamp,
    /// Signs events that occurred before this, if set.
    pub valid_until: Option<Timestamp>,
    /// Revoked keys sign nothing more.
    pub revoked: bool,
}

impl From<&KeyGrant> for KeyRecord {
    fn from(grant: &KeyGrant) -> KeyRecord {
        KeyRecord {
            key_id: grant.key_id,
            public_key: grant.public_key,
            valid_from: grant.valid_from,
            valid_until: grant.valid_until,
            revoked: false,
        }
    }
}

impl KeyRecord {
    /// Whether the key's validity period covers `at`.
    pub fn is_valid_at(&self, at: &Timestamp) -> bool {
        self.valid_from <= *at && self.valid_until.is_none_or(|until| *at < until)
    }
}

/// A party's current registry entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRecord {
    /// Unified social credit code or licence number.
    pub party_id: PartyId,
    /// Registered name.
    pub name: Text,
    /// What it does.
    pub role: PartyRole,
    /// GB/T 2260 region code.
    pub region: RegionCode,
    /// Business contact; inspector-only.
    pub contact: Option<Text>,
    /// Active, suspended or revoked.
    pub status: PartyStatus,
    /// Every key ever granted, revoked ones included.
    pub keys: Vec<KeyRecord>,
    /// Sequence number of the registering event.
    pub registered_at_sequence: u64,
}

impl PartyRecord {
    /// The key with this id.
    pub fn key(&self, key_id: &KeyId) -> Option<&KeyRecord> {
        self.keys.iter().find(|key| key.key_id == *key_id)
    }
}

/// A lot as the ledger holds it: what its creating event said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRecord {
    /// The lot's id.
    pub lot_id: LotId,
    /// Product name.
    pub product_name: Text,
    /// Product category.
    pub product_category: Text,
    /// Quantity created.
    pub quantity: Quantity,
    /// Who created it (ORIGIN or TRANSFORM signer).
    pub created_by: PartyId,
    /// The creating event.
    pub created_by_event: EventHash,
    /// When the creating event occurred.
    pub created_at: Timestamp,
    /// Its sequence number.
    pub created_at_sequence: u64,
}

impl LotRecord {
    /// The record of a lot created by `body`'s event.
    pub fn created(info: &LotInfo, body: &EventBody, hash: EventHash, sequence: u64) -> LotRecord {
        LotRecord {
            lot_id: info.lot_id.clone(),
            product_name: info.product_name.clone(),
            product_category: info.product_category.clone(),
            quantity: info.quantity.clone(),
            created_by: body.signer.clone(),
            created_by_event: hash,
            created_at: body.occurred_at,
            created_at_sequence: sequence,
        }
    }
}

/// The registry and the lots in memory, built by applying what each admitted event
/// changes ([`crate::admission::StateChanges`]): the state admission reads besides the
/// events, for a replay or a test where no store holds it.
#[derive(Debug, Clone, Default)]
pub struct MemState {
    authority: Option<PartyId>,
    parties: std::collections::HashMap<PartyId, PartyRecord>,
    /// Boxed: a table of hundreds of thousands of lots is moved whole each time it
    /// grows, and a record is about 250 bytes against a box's 8. (Half a million events'
    /// lots took 9% of an audit's replay to grow the table unboxed.)
    lots: std::collections::HashMap<LotId, Box<LotRecord>>,
}

impl MemState {
    /// Takes in what an admitted event changes.
    pub fn apply(&mut self, changes: crate::admission::StateChanges) {
        if let Some(lot) = changes.new_lot {
            self.lots.insert(lot.lot_id.clone(), Box::new(lot));
        }
        if let Some(party) = changes.party {
            if party.role == PartyRole::Authority {
                self.authority = Some(party.party_id.clone());
            }
            self.parties.insert(party.party_id.clone(), party);
        }
    }

    /// The authority, once its registration is applied.
    pub fn authority(&self) -> Option<&PartyId> {
        self.authority.as_ref()
    }

    /// A party's registry entry.
    pub fn party(&self, party_id: &PartyId) -> Option<&PartyRecord> {
        self.parties.get(party_id)
    }

    /// A lot.
    pub fn lot(&self, lot_id: &LotId) -> Option<&LotRecord> {
        self.lots.get(lot_id).map(|lot| &**lot)
    }
}
