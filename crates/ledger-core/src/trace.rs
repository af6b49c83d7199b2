//! Recall traces: where a lot came from (upstream) and where it went (downstream).
//!
//! The trace walks a graph of *lot facts*: what each event says about each lot it
//! touches, in a compact form ([`LotFact`]) the store keeps beside its lot index, so a
//! trace reads one short run of facts per lot and never decodes an event body. A
//! transform is a fact on each of its lots: [`FactKind::Consumed`] on an input,
//! [`FactKind::Produced`] on the output.
//!
//! * **Downstream** ([`downstream`]): the lots derived from the root through transforms,
//!   transitively, and every event on any of them: who shipped, received, processed,
//!   tested or recalled them. The parties holding any of them are the recall list.
//! * **Upstream** ([`upstream`]): the events the root's creation follows by hash link,
//!   transitively (the custody chain of every input back to its origin), the creation of
//!   every lot on the way, and every test result and recall on those lots.
//!
//! Both are pure functions over a [`FactSource`]; [`TraceOptions`] bounds them (depth in
//! transform steps, "as of" a sequence number) and filters what they report (a time
//! window, receiving stages). Filters choose what is reported, never what is followed:
//! a lot reached through an event outside the window is still traced.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::{EventHash, LotId, PartyId};
use crate::model::{
    EventBody, EventKind, InspectionKind, InspectionResult, Quantity, RecallSeverity,
    ReceivingSource, RegionCode, Stage, Text, TransformKind,
};

/// What one event says about one lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotFact {
    /// The event's sequence number.
    pub sequence: u64,
    /// The event's hash.
    pub hash: EventHash,
    /// When it occurred, Unix milliseconds.
    pub occurred_at_millis: i64,
    /// Who signed it.
    pub signer: PartyId,
    /// Sequence numbers of the events it follows by hash link, in body order.
    pub links: Vec<u64>,
    /// What it says.
    pub kind: FactKind,
}

/// What an event says about a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    /// The lot was created at its origin.
    Origin {
        /// Product name.
        product_name: Text,
        /// Product category.
        product_category: Text,
        /// Quantity created.
        quantity: Quantity,
        /// Harvest or production date.
        production_date: NaiveDate,
        /// Region of origin.
        origin_region: RegionCode,
        /// Place of origin.
        origin_place: Text,
        /// Compliance certificate.
        certificate_number: Text,
    },
    /// The lot is a transform's output.
    Produced {
        /// Split, merge or process.
        transform: TransformKind,
        /// Product name.
        product_name: Text,
        /// Product category.
        product_category: Text,
        /// Quantity created.
        quantity: Quantity,
        /// Input lots and the quantity used of each, in the order of `links`.
        inputs: Vec<(LotId, Quantity)>,
    },
    /// The lot was an input of a transform.
    Consumed {
        /// Split, merge or process.
        transform: TransformKind,
        /// How much of this lot was used.
        quantity: Quantity,
        /// The lot made.
        output: LotId,
    },
    /// Some of the lot was shipped.
    Shipped {
        /// How much.
        quantity: Quantity,
        /// To whom.
        recipient: PartyId,
        /// Delivery note.
        document_number: Text,
    },
    /// Some of the lot was received (a purchase inspection record).
    Received {
        /// At which stage.
        stage: Stage,
        /// How much.
        quantity: Quantity,
        /// The supplier, when the receiver named one.
        supplier: Option<PartyId>,
        /// Certificate checked on receipt.
        certificate_number: Option<Text>,
    },
    /// The lot was tested.
    Inspected {
        /// Quick test or sampling.
        inspection: InspectionKind,
        /// What was tested.
        item: Text,
        /// Measured value.
        value: Text,
        /// Pass or fail.
        result: InspectionResult,
    },
    /// The lot was recalled.
    Recalled {
        /// Why.
        reason: Text,
        /// How serious.
        severity: RecallSeverity,
    },
    /// Some of the lot was received from a supplier that recorded nothing, with the
    /// product as the receiver wrote it: for a lot the ledger did not know, this is where
    /// it entered (its creation); for a known lot, a receipt like any other. (Last, so
    /// facts stored before it existed decode unchanged.)
    Entered {
        /// At which stage.
        stage: Stage,
        /// How much.
        quantity: Quantity,
        /// The supplier named.
        supplier: PartyId,
        /// Certificate checked on receipt.
        certificate_number: Option<Text>,
        /// Product name as received.
        product_name: Text,
        /// Product category as received.
        product_category: Text,
    },
}

impl FactKind {
    /// The fact's name in the API: `origin`, `produced`, ...
    pub fn name(&self) -> &'static str {
        match self {
            FactKind::Origin { .. } => "origin",
            FactKind::Produced { .. } => "produced",
            FactKind::Consumed { .. } => "consumed",
            FactKind::Shipped { .. } => "shipped",
            FactKind::Received { .. } => "received",
            FactKind::Inspected { .. } => "inspected",
            FactKind::Recalled { .. } => "recalled",
            FactKind::Entered { .. } => "entered",
        }
    }

    /// Whether this fact can create its lot: an origin, a transform's output, or a
    /// receipt with the product named (which creates the lot only if nothing earlier did:
    /// a lot's creation is its first such fact).
    pub fn creates_lot(&self) -> bool {
        matches!(
            self,
            FactKind::Origin { .. } | FactKind::Produced { .. } | FactKind::Entered { .. }
        )
    }

    /// The stage of a receipt (received or entered).
    pub fn received_at(&self) -> Option<Stage> {
        match self {
            FactKind::Received { stage, .. } | FactKind::Entered { stage, .. } => Some(*stage),
            _ => None,
        }
    }

    /// The quantity the fact moves, creates or uses, if any.
    pub fn quantity(&self) -> Option<&Quantity> {
        match self {
            FactKind::Origin { quantity, .. }
            | FactKind::Produced { quantity, .. }
            | FactKind::Consumed { quantity, .. }
            | FactKind::Shipped { quantity, .. }
            | FactKind::Received { quantity, .. }
            | FactKind::Entered { quantity, .. } => Some(quantity),
            FactKind::Inspected { .. } | FactKind::Recalled { .. } => None,
        }
    }
}

/// How a party is involved in a traced event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Involvement {
    /// Created a lot at its origin.
    Producer,
    /// Made a lot from others, or used a lot to make another.
    Processor,
    /// Shipped some of a lot.
    Shipper,
    /// A shipment was addressed to it.
    Recipient,
    /// Recorded a receipt at a market.
    MarketEntry,
    /// Recorded a receipt at a warehouse.
    Warehouse,
    /// Recorded a receipt at a retailer.
    Retail,
    /// Recorded a receipt at a canteen.
    Canteen,
    /// Named as supplier on a receipt.
    Supplier,
    /// Tested a lot.
    Tester,
    /// Recalled a lot (the authority).
    Recaller,
}

impl Involvement {
    /// Every involvement, in order.
    pub const ALL: [Involvement; 11] = [
        Involvement::Producer,
        Involvement::Processor,
        Involvement::Shipper,
        Involvement::Recipient,
        Involvement::MarketEntry,
        Involvement::Warehouse,
        Involvement::Retail,
        Involvement::Canteen,
        Involvement::Supplier,
        Involvement::Tester,
        Involvement::Recaller,
    ];

    /// Whether the party held (or was sent) food from the trace: a recall reaches it.
    pub fn holds_food(self) -> bool {
        !matches!(self, Involvement::Tester | Involvement::Recaller)
    }

    fn of_received(stage: Stage) -> Involvement {
        match stage {
            Stage::MarketEntry => Involvement::MarketEntry,
            Stage::Warehouse => Involvement::Warehouse,
            Stage::Retail => Involvement::Retail,
            Stage::Canteen => Involvement::Canteen,
        }
    }
}

impl LotFact {
    /// The facts an event states, one per lot it touches. `links` are the sequence
    /// numbers of the events its hash links name, in body order.
    pub fn of_event(
        body: &EventBody,
        hash: EventHash,
        sequence: u64,
        links: Vec<u64>,
    ) -> Vec<(LotId, LotFact)> {
        let fact = |kind: FactKind| LotFact {
            sequence,
            hash,
            occurred_at_millis: body.occurred_at.timestamp_millis(),
            signer: body.signer.clone(),
            links: links.clone(),
            kind,
        };
        match &body.kind {
            EventKind::Origin(origin) => vec![(
                origin.lot.lot_id.clone(),
                fact(FactKind::Origin {
                    product_name: origin.lot.product_name.clone(),
                    product_category: origin.lot.product_category.clone(),
                    quantity: origin.lot.quantity.clone(),
                    production_date: origin.production_date,
                    origin_region: origin.origin_region.clone(),
                    origin_place: origin.origin_place.clone(),
                    certificate_number: origin.certificate_number.clone(),
                }),
            )],
            EventKind::Ship(ship) => vec![(
                ship.lot_id.clone(),
                fact(FactKind::Shipped {
                    quantity: ship.quantity.clone(),
                    recipient: ship.recipient.clone(),
                    document_number: ship.document_number.clone(),
                }),
            )],
            EventKind::Receiving(stage, receipt) => vec![(
                receipt.lot_id.clone(),
                fact(match (&receipt.source, &receipt.product) {
                    (ReceivingSource::Supplier(supplier), Some(product)) => FactKind::Entered {
                        stage: *stage,
                        quantity: receipt.quantity.clone(),
                        supplier: supplier.clone(),
                        certificate_number: receipt.certificate_number.clone(),
                        product_name: product.name.clone(),
                        product_category: product.category.clone(),
                    },
                    (source, _) => FactKind::Received {
                        stage: *stage,
                        quantity: receipt.quantity.clone(),
                        supplier: match source {
                            ReceivingSource::Shipment { supplier, .. } => supplier.clone(),
                            ReceivingSource::Supplier(supplier) => Some(supplier.clone()),
                        },
                        certificate_number: receipt.certificate_number.clone(),
                    },
                }),
            )],
            EventKind::Transform(transform) => {
                let mut facts = vec![(
                    transform.output.lot_id.clone(),
                    fact(FactKind::Produced {
                        transform: transform.kind,
                        product_name: transform.output.product_name.clone(),
                        product_category: transform.output.product_category.clone(),
                        quantity: transform.output.quantity.clone(),
                        inputs: transform
                            .inputs
                            .iter()
                            .map(|input| (input.lot_id.clone(), input.quantity.clone()))
                            .collect(),
                    }),
                )];
                for input in &transform.inputs {
                    facts.push((
                        input.lot_id.clone(),
                        fact(FactKind::Consumed {
                            transform: transform.kind,
                            quantity: input.quantity.clone(),
                            output: transform.output.lot_id.clone(),
                        }),
                    ));
                }
                facts
            }
            EventKind::Inspection(inspection) => vec![(
                inspection.lot_id.clone(),
                fact(FactKind::Inspected {
                    inspection: inspection.kind,
                    item: inspection.item.clone(),
                    value: inspection.value.clone(),
                    result: inspection.result,
                }),
            )],
            EventKind::Recall(recall) => vec![(
                recall.lot_id.clone(),
                fact(FactKind::Recalled {
                    reason: recall.reason.clone(),
                    severity: recall.severity,
                }),
            )],
            EventKind::RegisterParty(_)
            | EventKind::AddKey(_)
            | EventKind::RevokeKey(_)
            | EventKind::SetPartyStatus(_) => Vec::new(),
        }
    }

    /// The compact encoding the store keeps (postcard).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("lot facts always serialize")
    }

    /// Decodes [`LotFact::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> Result<LotFact, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("lot fact does not decode: {e}"))
    }

    /// The parties this fact involves and how, the signer first.
    pub fn involvements(&self) -> impl Iterator<Item = (&PartyId, Involvement)> {
        let signer = match &self.kind {
            FactKind::Origin { .. } => Involvement::Producer,
            FactKind::Produced { .. } | FactKind::Consumed { .. } => Involvement::Processor,
            FactKind::Shipped { .. } => Involvement::Shipper,
            FactKind::Received { stage, .. } | FactKind::Entered { stage, .. } => {
                Involvement::of_received(*stage)
            }
            FactKind::Inspected { .. } => Involvement::Tester,
            FactKind::Recalled { .. } => Involvement::Recaller,
        };
        let other = match &self.kind {
            FactKind::Shipped { recipient, .. } => Some((recipient, Involvement::Recipient)),
            FactKind::Received {
                supplier: Some(supplier),
                ..
            }
            | FactKind::Entered { supplier, .. } => Some((supplier, Involvement::Supplier)),
            _ => None,
        };
        std::iter::once((&self.signer, signer)).chain(other)
    }
}

/// Where a trace reads lot facts.
pub trait FactSource {
    /// Why a read failed.
    type Error;
    /// Every fact about the lot, by ascending sequence number (empty for an unknown lot).
    fn facts(&self, lot_id: &LotId) -> Result<Arc<[LotFact]>, Self::Error>;
}

/// Bounds and filters of a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceOptions {
    /// Follow at most this many transform steps from the root.
    pub max_depth: Option<u32>,
    /// Only events with sequence numbers up to this one (inclusive): what the ledger
    /// knew then.
    pub as_of: Option<u64>,
    /// Report only events that occurred at or after this (Unix milliseconds).
    pub from_millis: Option<i64>,
    /// Report only events that occurred before this (Unix milliseconds).
    pub until_millis: Option<i64>,
    /// Report only receipts at these stages (other kinds of events are unaffected).
    pub stages: Option<Vec<Stage>>,
    /// Upstream only: also trace back the custody of the root lot as this party holds
    /// it (its receipts of the lot), not only the lot's creation.
    pub holder: Option<PartyId>,
}

impl TraceOptions {
    /// Whether a fact is reported under the window and stage filters.
    pub fn reports(&self, fact: &LotFact) -> bool {
        self.from_millis
            .is_none_or(|from| fact.occurred_at_millis >= from)
            && self
                .until_millis
                .is_none_or(|until| fact.occurred_at_millis < until)
            && match (fact.kind.received_at(), &self.stages) {
                (Some(stage), Some(stages)) => stages.contains(&stage),
                _ => true,
            }
    }
}

/// Which way a trace goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Where from.
    Upstream,
    /// Where to.
    Downstream,
}

/// How a traced lot was reached from the one before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Via {
    /// The transform's sequence number.
    pub event: u64,
    /// The lot on the root's side of the transform.
    pub from: LotId,
}

/// A fact shared with the source it came from (no copy is made for a trace).
#[derive(Clone)]
pub struct SharedFact {
    facts: Arc<[LotFact]>,
    index: usize,
}

impl SharedFact {
    fn new(facts: &Arc<[LotFact]>, index: usize) -> SharedFact {
        SharedFact {
            facts: facts.clone(),
            index,
        }
    }

    /// Whether this fact is the one at `index` of `facts` (the very slice, not a copy):
    /// lets a source keep things it derived from its facts, by position.
    pub fn is_at(&self, facts: &Arc<[LotFact]>, index: usize) -> bool {
        Arc::ptr_eq(&self.facts, facts) && self.index == index
    }

    /// Its position in the slice the source gave.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl std::ops::Deref for SharedFact {
    type Target = LotFact;
    fn deref(&self) -> &LotFact {
        &self.facts[self.index]
    }
}

impl std::fmt::Debug for SharedFact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl PartialEq for SharedFact {
    fn eq(&self, other: &SharedFact) -> bool {
        **self == **other
    }
}

impl Eq for SharedFact {}

impl Serialize for SharedFact {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

/// A lot in a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TracedLot {
    /// The lot.
    pub lot_id: LotId,
    /// Transform steps from the root (the root is 0).
    pub depth: u32,
    /// How it was reached; `None` for the root.
    pub via: Option<Via>,
    /// Its creating fact (origin, transform, or the receipt it entered the ledger at),
    /// if known as of the trace.
    pub created: Option<SharedFact>,
    /// Sequence numbers of its test results.
    pub inspections: Vec<u64>,
    /// Sequence numbers of recalls of it.
    pub recalls: Vec<u64>,
}

impl TracedLot {
    /// Product name, if the lot's creation is known.
    pub fn product_name(&self) -> Option<&Text> {
        match self.created.as_deref().map(|fact| &fact.kind) {
            Some(
                FactKind::Origin { product_name, .. }
                | FactKind::Produced { product_name, .. }
                | FactKind::Entered { product_name, .. },
            ) => Some(product_name),
            _ => None,
        }
    }
}

/// An event in a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TracedEvent {
    /// The lot the fact is about (a transform is reported on its output when that is
    /// in the trace).
    pub lot_id: LotId,
    /// The fact.
    pub fact: SharedFact,
}

/// A party in a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TracedParty {
    /// The party.
    pub party_id: PartyId,
    /// How it is involved, each way once, sorted.
    pub involvements: Vec<Involvement>,
    /// Sequence numbers of the reported events that involve it, ascending.
    pub events: Vec<u64>,
    /// How the trace reached its first event, from the root lot, as sequence numbers:
    /// each step is linked to the one before it by hash, or makes or uses the lot the
    /// one before it is on. A step the filters leave out of [`Trace::events`] is in
    /// [`Trace::path_events`].
    pub path: Vec<u64>,
}

impl TracedParty {
    /// Whether a recall reaches it: it held food from the trace or was sent some.
    pub fn is_affected(&self) -> bool {
        self.involvements.iter().any(|i| i.holds_food())
    }
}

/// A whole trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    /// Which way.
    pub direction: Direction,
    /// The lot traced from.
    pub root: LotId,
    /// Every lot reached, the root first, then by depth as reached.
    pub lots: Vec<TracedLot>,
    /// Every reported event, ascending by sequence number.
    pub events: Vec<TracedEvent>,
    /// Events on some party's path that the filters leave out of `events`, ascending.
    pub path_events: Vec<TracedEvent>,
    /// Every party of a reported event, sorted by the sequence of its first event.
    pub parties: Vec<TracedParty>,
    /// Whether `max_depth` stopped the trace before it was complete.
    pub truncated: bool,
}

impl Trace {
    /// A reported or path event by sequence number.
    pub fn event(&self, sequence: u64) -> Option<&TracedEvent> {
        let find = |events: &[TracedEvent]| {
            events
                .binary_search_by_key(&sequence, |e| e.fact.sequence)
                .ok()
        };
        find(&self.events)
            .map(|i| &self.events[i])
            .or_else(|| find(&self.path_events).map(|i| &self.path_events[i]))
    }
}

/// A lot's facts as the trace knows them: the shared slice and how many are known as of
/// the trace.
#[derive(Clone)]
struct Known {
    facts: Arc<[LotFact]>,
    len: usize,
}

impl Known {
    fn iter(&self) -> impl Iterator<Item = (usize, &LotFact)> {
        self.facts[..self.len].iter().enumerate()
    }

    fn find(&self, sequence: u64) -> Option<usize> {
        self.facts[..self.len]
            .binary_search_by_key(&sequence, |fact| fact.sequence)
            .ok()
    }
}

/// Events to visit in order of depth, then of arrival: (depth, arrival, lot index,
/// sequence).
#[derive(Default)]
struct Frontier {
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(u32, u64, usize, u64)>>,
    arrivals: u64,
}

impl Frontier {
    fn push(&mut self, depth: u32, lot: usize, sequence: u64) {
        self.heap
            .push(std::cmp::Reverse((depth, self.arrivals, lot, sequence)));
        self.arrivals += 1;
    }

    fn pop(&mut self) -> Option<(u32, usize, u64)> {
        let std::cmp::Reverse((depth, _, lot, sequence)) = self.heap.pop()?;
        Some((depth, lot, sequence))
    }
}

/// What a traversal collects before it becomes a [`Trace`].
struct Collector {
    lots: Vec<TracedLot>,
    known: Vec<Known>,
    lot_index: FxHashMap<LotId, usize>,
    /// Every event visited, reported or not (paths go through them all): its lot's
    /// index and the fact's index there.
    events: FxHashMap<u64, (usize, usize)>,
    /// The events that pass the trace's filters.
    reported: FxHashSet<u64>,
    truncated: bool,
}

impl Collector {
    fn new() -> Collector {
        Collector {
            lots: Vec::new(),
            known: Vec::new(),
            lot_index: FxHashMap::default(),
            events: FxHashMap::default(),
            reported: FxHashSet::default(),
            truncated: false,
        }
    }

    fn fact(&self, (lot, index): (usize, usize)) -> &LotFact {
        &self.known[lot].facts[index]
    }

    /// Adds a lot unless already present; returns its index and whether it was new.
    fn add_lot(
        &mut self,
        lot_id: &LotId,
        depth: u32,
        via: Option<Via>,
        known: Known,
    ) -> (usize, bool) {
        if let Some(index) = self.lot_index.get(lot_id) {
            return (*index, false);
        }
        let mut lot = TracedLot {
            lot_id: lot_id.clone(),
            depth,
            via,
            created: None,
            inspections: Vec::new(),
            recalls: Vec::new(),
        };
        for (i, fact) in known.iter() {
            match fact.kind {
                FactKind::Origin { .. } | FactKind::Produced { .. } | FactKind::Entered { .. }
                    if lot.created.is_none() =>
                {
                    lot.created = Some(SharedFact::new(&known.facts, i));
                }
                FactKind::Inspected { .. } => lot.inspections.push(fact.sequence),
                FactKind::Recalled { .. } => lot.recalls.push(fact.sequence),
                _ => {}
            }
        }
        let index = self.lots.len();
        self.lot_index.insert(lot_id.clone(), index);
        self.lots.push(lot);
        self.known.push(known);
        (index, true)
    }

    fn add_event(&mut self, lot: usize, index: usize, options: &TraceOptions) {
        let fact = &self.known[lot].facts[index];
        let (sequence, produced) = (
            fact.sequence,
            matches!(fact.kind, FactKind::Produced { .. }),
        );
        if options.reports(fact) {
            self.reported.insert(sequence);
        }
        match self.events.get(&sequence) {
            // A transform is kept once: on its output when that is traced.
            Some(existing) if !produced || self.fact(*existing).kind.creates_lot() => {}
            _ => {
                self.events.insert(sequence, (lot, index));
            }
        }
    }

    fn finish(self, direction: Direction, root: &LotId) -> Trace {
        // Upstream, the step towards the root is the event that follows this one.
        let mut follower: FxHashMap<u64, u64> = FxHashMap::default();
        if direction == Direction::Upstream {
            for at in self.events.values() {
                let fact = self.fact(*at);
                for link in &fact.links {
                    follower.entry(*link).or_insert(fact.sequence);
                }
            }
        }
        // Each event's neighbour one step closer to the root.
        let step_back = |sequence: u64| -> Option<u64> {
            let at = *self.events.get(&sequence)?;
            let fact = self.fact(at);
            let linked = match direction {
                Direction::Downstream => fact
                    .links
                    .iter()
                    .find(|link| self.events.contains_key(link))
                    .copied(),
                Direction::Upstream => follower.get(&sequence).copied(),
            };
            if linked.is_some() {
                return linked;
            }
            match &self.lots[at.0].via {
                Some(via) if via.event != sequence && self.events.contains_key(&via.event) => {
                    Some(via.event)
                }
                _ => None,
            }
        };
        let mut reported: Vec<u64> = self.reported.iter().copied().collect();
        reported.sort_unstable();
        // Per party: its involvements as a bit set, and its events.
        let mut parties: FxHashMap<&PartyId, (u16, Vec<u64>)> = FxHashMap::default();
        for sequence in &reported {
            let fact = self.fact(self.events[sequence]);
            for (party, involvement) in fact.involvements() {
                let entry = parties.entry(party).or_default();
                entry.0 |= 1 << involvement as u16;
                if entry.1.last() != Some(&fact.sequence) {
                    entry.1.push(fact.sequence);
                }
            }
        }
        // Each event's step back, found once: paths share most of their steps.
        let mut back: FxHashMap<u64, Option<u64>> = FxHashMap::default();
        let mut on_paths: FxHashSet<u64> = FxHashSet::default();
        let mut parties: Vec<TracedParty> = parties
            .into_iter()
            .map(|(party, (involvements, events))| {
                let mut path = vec![events[0]];
                loop {
                    let last = *path.last().expect("not empty");
                    let previous = *back.entry(last).or_insert_with(|| step_back(last));
                    match previous {
                        Some(previous) if !path.contains(&previous) => path.push(previous),
                        _ => break,
                    }
                }
                path.reverse();
                on_paths.extend(path.iter().copied());
                TracedParty {
                    party_id: party.clone(),
                    involvements: Involvement::ALL
                        .into_iter()
                        .filter(|i| involvements & (1 << *i as u16) != 0)
                        .collect(),
                    events,
                    path,
                }
            })
            .collect();
        parties.sort_by(|a, b| (a.events[0], &a.party_id).cmp(&(b.events[0], &b.party_id)));
        let traced = |sequence: &u64| {
            let at = self.events[sequence];
            TracedEvent {
                lot_id: self.lots[at.0].lot_id.clone(),
                fact: SharedFact::new(&self.known[at.0].facts, at.1),
            }
        };
        let events = reported.iter().map(traced).collect();
        let mut path_events: Vec<u64> = on_paths
            .iter()
            .filter(|sequence| !self.reported.contains(sequence))
            .copied()
            .collect();
        path_events.sort_unstable();
        let path_events = path_events.iter().map(traced).collect();
        Trace {
            direction,
            root: root.clone(),
            lots: self.lots,
            events,
            path_events,
            parties,
            truncated: self.truncated,
        }
    }
}

fn known_facts<S: FactSource>(
    source: &S,
    lot_id: &LotId,
    options: &TraceOptions,
) -> Result<Known, S::Error> {
    let facts = source.facts(lot_id)?;
    let len = match options.as_of {
        None => facts.len(),
        Some(as_of) => facts.partition_point(|fact| fact.sequence <= as_of),
    };
    Ok(Known { facts, len })
}

/// Where the lot went: see the module documentation. `None` if the lot did not exist
/// as of the trace.
pub fn downstream<S: FactSource>(
    source: &S,
    root: &LotId,
    options: &TraceOptions,
) -> Result<Option<Trace>, S::Error> {
    let root_facts = known_facts(source, root, options)?;
    if !root_facts.iter().any(|(_, fact)| fact.kind.creates_lot()) {
        return Ok(None);
    }
    let mut collector = Collector::new();
    let (root_index, _) = collector.add_lot(root, 0, None, root_facts);
    let mut queue = VecDeque::from([root_index]);
    while let Some(lot) = queue.pop_front() {
        let depth = collector.lots[lot].depth;
        for index in 0..collector.known[lot].len {
            collector.add_event(lot, index, options);
            let FactKind::Consumed { output, .. } = &collector.known[lot].facts[index].kind else {
                continue;
            };
            if collector.lot_index.contains_key(output) {
                continue;
            }
            if options.max_depth.is_some_and(|max| depth >= max) {
                collector.truncated = true;
                continue;
            }
            let output = output.clone();
            let output_facts = known_facts(source, &output, options)?;
            let via = Via {
                event: collector.known[lot].facts[index].sequence,
                from: collector.lots[lot].lot_id.clone(),
            };
            let (output_index, new) =
                collector.add_lot(&output, depth + 1, Some(via), output_facts);
            if new {
                queue.push_back(output_index);
            }
        }
    }
    Ok(Some(collector.finish(Direction::Downstream, root)))
}

/// Where the lot came from: see the module documentation. `None` if the lot did not
/// exist as of the trace.
pub fn upstream<S: FactSource>(
    source: &S,
    root: &LotId,
    options: &TraceOptions,
) -> Result<Option<Trace>, S::Error> {
    let root_facts = known_facts(source, root, options)?;
    if !root_facts.iter().any(|(_, fact)| fact.kind.creates_lot()) {
        return Ok(None);
    }
    let mut collector = Collector::new();
    let mut visited: FxHashSet<u64> = FxHashSet::default();
    // Events to visit, lowest depth first, so every lot is entered at its least depth.
    let mut queue = Frontier::default();
    // A lot entered brings its creation, tests and recalls.
    let enter = |collector: &mut Collector,
                 queue: &mut Frontier,
                 lot_id: &LotId,
                 known: Known,
                 depth: u32,
                 via: Option<Via>| {
        let (index, new) = collector.add_lot(lot_id, depth, via, known);
        if new {
            let created = collector.lots[index].created.as_ref().map(|c| c.sequence);
            for (_, fact) in collector.known[index].iter() {
                if matches!(
                    fact.kind,
                    FactKind::Origin { .. }
                        | FactKind::Produced { .. }
                        | FactKind::Inspected { .. }
                        | FactKind::Recalled { .. }
                ) || Some(fact.sequence) == created
                {
                    queue.push(depth, index, fact.sequence);
                }
            }
        }
        index
    };
    let root_index = enter(&mut collector, &mut queue, root, root_facts, 0, None);
    if let Some(holder) = &options.holder {
        for (_, fact) in collector.known[root_index].iter() {
            if &fact.signer == holder && fact.kind.received_at().is_some() {
                queue.push(0, root_index, fact.sequence);
            }
        }
    }

    while let Some((depth, lot, sequence)) = queue.pop() {
        if !visited.insert(sequence) {
            continue;
        }
        let Some(index) = collector.known[lot].find(sequence) else {
            continue;
        };
        collector.add_event(lot, index, options);
        let facts = collector.known[lot].facts.clone();
        let fact = &facts[index];
        match &fact.kind {
            FactKind::Produced { inputs, .. } => {
                if options.max_depth.is_some_and(|max| depth >= max) {
                    collector.truncated |= !inputs.is_empty();
                    continue;
                }
                for ((input, _), link) in inputs.iter().zip(&fact.links) {
                    let input_index = match collector.lot_index.get(input) {
                        Some(index) => *index,
                        None => {
                            let known = known_facts(source, input, options)?;
                            let via = Via {
                                event: fact.sequence,
                                from: collector.lots[lot].lot_id.clone(),
                            };
                            enter(
                                &mut collector,
                                &mut queue,
                                input,
                                known,
                                depth + 1,
                                Some(via),
                            )
                        }
                    };
                    queue.push(collector.lots[input_index].depth, input_index, *link);
                }
            }
            FactKind::Shipped { .. } | FactKind::Received { .. } | FactKind::Entered { .. } => {
                for link in &fact.links {
                    queue.push(depth, lot, *link);
                }
            }
            _ => {}
        }
    }
    Ok(Some(collector.finish(Direction::Upstream, root)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_timestamp;

    #[test]
    fn facts_round_trip_through_their_encoding() {
        let fact = LotFact {
            sequence: 7,
            hash: EventHash([9; 32]),
            occurred_at_millis: parse_timestamp("2026-03-01T08:00:00+08:00")
                .unwrap()
                .timestamp_millis(),
            signer: PartyId::uscc_with_check("91110112MA0000001").unwrap(),
            links: vec![3, 5],
            kind: FactKind::Received {
                stage: Stage::Canteen,
                quantity: Quantity::parse("12.50", "kg").unwrap(),
                supplier: None,
                certificate_number: Some(Text::parse("HG-1", 64).unwrap()),
            },
        };
        let bytes = fact.encode();
        assert_eq!(LotFact::decode(&bytes).unwrap(), fact);
        assert!(LotFact::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
