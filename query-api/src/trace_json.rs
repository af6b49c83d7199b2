//! A trace written as JSON straight from the trace, without building a
//! [`TraceView`](crate::views::TraceView) first: the same document (a test holds the two
//! to it), at a fraction of the allocations. A busy lot's trace is hundreds of events and
//! parties, and building the view's strings was most of the time spent answering it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use ledger_core::ids::{EventHash, PartyId};
use ledger_core::state::PartyRecord;
use ledger_core::trace::{FactKind, LotFact, Trace, TracedLot, TracedParty};
use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};

/// A trace, its `as_of`, and the registry entries of its parties.
pub struct TraceJson<'a> {
    /// The trace.
    pub trace: &'a Trace,
    /// The sequence number it covers.
    pub as_of: u64,
    /// Registry entries by party (a party missing here is written with its id only).
    pub parties: &'a HashMap<PartyId, Arc<PartyRecord>>,
    /// Cached lots whose facts' JSON can be copied instead of written (by lot id; a
    /// lot missing here, or cached anew since the trace read it, is written).
    pub cached: &'a HashMap<ledger_core::ids::LotId, Arc<crate::facts::CachedLot>>,
}

/// UTC, RFC 3339, milliseconds, as [`crate::views::time`] writes it.
struct Time(i64);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match crate::views::time_text(self.0) {
            Some(text) => serializer.serialize_str(std::str::from_utf8(&text).expect("ASCII")),
            None => serializer.collect_str(&self.0),
        }
    }
}

struct Hex<'a>(&'a EventHash);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 64];
        for (i, byte) in self.0.as_bytes().iter().enumerate() {
            text[2 * i] = DIGITS[usize::from(byte >> 4)];
            text[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
        serializer.serialize_str(std::str::from_utf8(&text).expect("hex digits are ASCII"))
    }
}

struct Str<T: fmt::Display>(T);

impl<T: fmt::Display> Serialize for Str<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

struct Seq<'a, T, F>(&'a [T], F);

/// Items written as `f` makes them (the function's bound lets closures borrow from them).
fn seq<'a, T, U: Serialize, F: Fn(&'a T) -> U>(items: &'a [T], f: F) -> Seq<'a, T, F> {
    Seq(items, f)
}

impl<'a, T, F, U> Serialize for Seq<'a, T, F>
where
    F: Fn(&'a T) -> U,
    U: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&(self.1)(item))?;
        }
        seq.end()
    }
}

/// An event as [`crate::views::EventView`] writes it.
pub struct EventJson<'a> {
    /// The lot the fact is about.
    pub lot_id: &'a str,
    /// The fact.
    pub fact: &'a LotFact,
}

impl Serialize for EventJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fact = self.fact;
        let mut s = serializer.serialize_struct("EventView", 12)?;
        s.serialize_field("sequence", &fact.sequence)?;
        s.serialize_field("hash", &Hex(&fact.hash))?;
        s.serialize_field("lot_id", self.lot_id)?;
        s.serialize_field("kind", fact.kind.name())?;
        s.serialize_field("occurred_at", &Time(fact.occurred_at_millis))?;
        s.serialize_field("signer", fact.signer.as_str())?;
        s.serialize_field("links", &fact.links)?;
        if let Some(quantity) = fact.kind.quantity() {
            s.serialize_field("quantity", &Str(quantity))?;
        }
        match &fact.kind {
            FactKind::Origin {
                product_name,
                production_date,
                origin_region,
                origin_place,
                certificate_number,
                ..
            } => {
                s.serialize_field("certificate_number", certificate_number.as_str())?;
                s.serialize_field("product_name", product_name.as_str())?;
                s.serialize_field("origin_region", origin_region.as_str())?;
                s.serialize_field("origin_place", origin_place.as_str())?;
                s.serialize_field("production_date", &Str(production_date))?;
            }
            FactKind::Produced {
                transform,
                product_name,
                inputs,
                ..
            } => {
                s.serialize_field("transform", transform)?;
                s.serialize_field(
                    "inputs",
                    &seq(inputs, |(lot, quantity)| InputJson { lot, quantity }),
                )?;
                s.serialize_field("product_name", product_name.as_str())?;
            }
            FactKind::Consumed {
                transform, output, ..
            } => {
                s.serialize_field("transform", transform)?;
                s.serialize_field("output", output.as_str())?;
            }
            FactKind::Shipped {
                recipient,
                document_number,
                ..
            } => {
                s.serialize_field("counterparty", recipient.as_str())?;
                s.serialize_field("document_number", document_number.as_str())?;
            }
            FactKind::Received {
                stage,
                supplier,
                certificate_number,
                ..
            } => {
                if let Some(supplier) = supplier {
                    s.serialize_field("counterparty", supplier.as_str())?;
                }
                s.serialize_field("stage", stage)?;
                if let Some(certificate) = certificate_number {
                    s.serialize_field("certificate_number", certificate.as_str())?;
                }
            }
            FactKind::Inspected {
                inspection,
                item,
                value,
                result,
            } => {
                s.serialize_field("inspection", inspection)?;
                s.serialize_field("item", item.as_str())?;
                s.serialize_field("value", value.as_str())?;
                s.serialize_field("result", result)?;
            }
            FactKind::Entered {
                stage,
                supplier,
                certificate_number,
                product_name,
                ..
            } => {
                s.serialize_field("counterparty", supplier.as_str())?;
                s.serialize_field("stage", stage)?;
                if let Some(certificate) = certificate_number {
                    s.serialize_field("certificate_number", certificate.as_str())?;
                }
                s.serialize_field("product_name", product_name.as_str())?;
            }
            FactKind::Recalled { reason, severity } => {
                s.serialize_field("reason", reason.as_str())?;
                s.serialize_field("severity", severity)?;
            }
        }
        s.end()
    }
}

struct InputJson<'a> {
    lot: &'a ledger_core::ids::LotId,
    quantity: &'a ledger_core::model::Quantity,
}

impl Serialize for InputJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("InputView", 2)?;
        s.serialize_field("lot_id", self.lot.as_str())?;
        s.serialize_field("quantity", &Str(self.quantity))?;
        s.end()
    }
}

struct LotJson<'a>(&'a TracedLot);

impl Serialize for LotJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let lot = self.0;
        let mut s = serializer.serialize_struct("TracedLotView", 10)?;
        s.serialize_field("lot_id", lot.lot_id.as_str())?;
        s.serialize_field("depth", &lot.depth)?;
        if let Some(name) = lot.product_name() {
            s.serialize_field("product_name", name.as_str())?;
        }
        if let Some(created) = lot.created.as_deref() {
            s.serialize_field("created_by", created.signer.as_str())?;
            s.serialize_field("created_at", &Time(created.occurred_at_millis))?;
            if let Some(quantity) = created.kind.quantity() {
                s.serialize_field("quantity", &Str(quantity))?;
            }
        }
        if let Some(via) = &lot.via {
            s.serialize_field("via_event", &via.event)?;
            s.serialize_field("via_lot", via.from.as_str())?;
        }
        s.serialize_field("inspections", &lot.inspections)?;
        s.serialize_field("recalls", &lot.recalls)?;
        s.end()
    }
}

struct PartyJson<'a> {
    party: &'a TracedParty,
    record: Option<&'a PartyRecord>,
    first: Option<&'a LotFact>,
}

impl Serialize for PartyJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let party = self.party;
        let mut s = serializer.serialize_struct("TracedPartyView", 14)?;
        s.serialize_field("party_id", party.party_id.as_str())?;
        if let Some(record) = self.record {
            s.serialize_field("name", record.name.as_str())?;
            s.serialize_field("role", &record.role)?;
            s.serialize_field("region", record.region.as_str())?;
            if let Some(contact) = &record.contact {
                s.serialize_field("contact", contact.as_str())?;
            }
            s.serialize_field("status", &record.status)?;
        }
        s.serialize_field("involvements", &party.involvements)?;
        s.serialize_field("affected", &party.is_affected())?;
        s.serialize_field("first_event", &party.events[0])?;
        match self.first {
            Some(first) => s.serialize_field("first_at", &Time(first.occurred_at_millis))?,
            None => s.serialize_field("first_at", "")?,
        }
        if let Some(quantity) = self.first.and_then(|f| f.kind.quantity()) {
            s.serialize_field("first_quantity", &Str(quantity))?;
        }
        s.serialize_field("events", &party.events)?;
        s.serialize_field("path", &party.path)?;
        s.end()
    }
}

/// An event copied from the cache, or written.
enum Either<'a> {
    Raw(&'a serde_json::value::RawValue),
    Written(EventJson<'a>),
}

impl Serialize for Either<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Either::Raw(raw) => raw.serialize(serializer),
            Either::Written(event) => event.serialize(serializer),
        }
    }
}

impl<'a> TraceJson<'a> {
    fn write<S: Serializer>(&'a self, serializer: S) -> Result<S::Ok, S::Error> {
        let trace = self.trace;
        let mut s = serializer.serialize_struct("TraceView", 8)?;
        s.serialize_field("direction", &trace.direction)?;
        s.serialize_field("root", trace.root.as_str())?;
        s.serialize_field("as_of", &self.as_of)?;
        s.serialize_field("truncated", &trace.truncated)?;
        s.serialize_field("lots", &seq(&trace.lots, LotJson))?;
        s.serialize_field(
            "parties",
            &seq(&trace.parties, |party: &TracedParty| PartyJson {
                party,
                record: self.parties.get(&party.party_id).map(|r| &**r),
                first: trace.event(party.events[0]).map(|e| &*e.fact),
            }),
        )?;
        let event = |e: &'a ledger_core::trace::TracedEvent| -> Either<'a> {
            if let Some(lot) = self.cached.get(&e.lot_id)
                && e.fact.is_at(&lot.facts, e.fact.index())
            {
                return Either::Raw(&lot.json(&e.lot_id)[e.fact.index()]);
            }
            Either::Written(EventJson {
                lot_id: e.lot_id.as_str(),
                fact: &e.fact,
            })
        };
        s.serialize_field("events", &seq(&trace.events, event))?;
        if !trace.path_events.is_empty() {
            s.serialize_field("path_events", &seq(&trace.path_events, event))?;
        }
        s.end()
    }
}

impl Serialize for TraceJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.write(serializer)
    }
}
