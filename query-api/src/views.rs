//! The JSON shapes of the inspector routes. Clients (the CLI) deserialize the same types.

use ledger_core::ids::PartyId;
use ledger_core::state::PartyRecord;
use ledger_core::trace::{FactKind, LotFact, Trace, TracedLot};
use serde::{Deserialize, Serialize};

/// Unix milliseconds as the API writes times: UTC, RFC 3339, milliseconds
/// (`2026-11-27T08:00:00.000Z`).
pub fn time(millis: i64) -> String {
    match time_text(millis) {
        Some(text) => String::from_utf8(text.to_vec()).expect("ASCII"),
        None => millis.to_string(),
    }
}

/// [`time`] in a stack buffer (a trace writes hundreds): `None` outside years 0 to 9999.
pub fn time_text(millis: i64) -> Option<[u8; 24]> {
    let seconds = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: i64| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3600);
    put(14, 2, of_day / 60 % 60);
    put(17, 2, of_day % 60);
    put(20, 3, ms);
    Some(text)
}

/// An API time (UTC, RFC 3339) as a date and time in Beijing, for pages:
/// `2026-11-27 16:20`.
pub fn beijing_date(at: &str) -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(t) => t
            .with_timezone(&beijing)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => at.to_owned(),
    }
}

/// Percent-encodes a path segment (a GS1 lot id has slashes).
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn snake<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

/// An event as a trace or a lot's history shows it: what it says about one lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    /// Sequence number in the ledger.
    pub sequence: u64,
    /// BLAKE3 event hash, hex.
    pub hash: String,
    /// The lot this is about.
    pub lot_id: String,
    /// `origin`, `produced`, `consumed`, `shipped`, `received`, `inspected`, `recalled`,
    /// or `entered` (a receipt from a supplier that recorded nothing, naming the product:
    /// where a lot its producer did not record entered the ledger).
    pub kind: String,
    /// When it happened (UTC, RFC 3339).
    pub occurred_at: String,
    /// Who signed it.
    pub signer: String,
    /// Sequence numbers of the events it follows by hash link.
    pub links: Vec<u64>,
    /// Quantity moved, created or used, e.g. `120 kg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<String>,
    /// The other party: a shipment's recipient or a receipt's supplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    /// A receipt's stage: `market_entry`, `warehouse`, `retail`, `canteen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Certificate (origin) or certificate checked (receipt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_number: Option<String>,
    /// A shipment's delivery note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_number: Option<String>,
    /// `split`, `merge` or `process`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<String>,
    /// A transform's inputs: lot and quantity used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputView>,
    /// The lot a transform made from this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The product, for events that create a lot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Region code of origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_region: Option<String>,
    /// Place of origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_place: Option<String>,
    /// Harvest or production date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_date: Option<String>,
    /// `quick_test` or `sampling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection: Option<String>,
    /// What was tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Measured value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `pass` or `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// A recall's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A recall's severity: `level1` (most serious) to `level3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

/// A transform input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InputView {
    /// The input lot.
    pub lot_id: String,
    /// How much was used.
    pub quantity: String,
}

impl EventView {
    /// The view of a fact about `lot_id`.
    pub fn of(lot_id: &str, fact: &LotFact) -> EventView {
        let mut view = EventView {
            sequence: fact.sequence,
            hash: fact.hash.to_string(),
            lot_id: lot_id.to_owned(),
            kind: fact.kind.name().to_owned(),
            occurred_at: time(fact.occurred_at_millis),
            signer: fact.signer.to_string(),
            links: fact.links.clone(),
            quantity: fact.kind.quantity().map(|q| q.to_string()),
            counterparty: None,
            stage: None,
            certificate_number: None,
            document_number: None,
            transform: None,
            inputs: Vec::new(),
            output: None,
            product_name: None,
            origin_region: None,
            origin_place: None,
            production_date: None,
            inspection: None,
            item: None,
            value: None,
            result: None,
            reason: None,
            severity: None,
        };
        match &fact.kind {
            FactKind::Origin {
                product_name,
                production_date,
                origin_region,
                origin_place,
                certificate_number,
                ..
            } => {
                view.product_name = Some(product_name.to_string());
                view.production_date = Some(production_date.to_string());
                view.origin_region = Some(origin_region.as_str().to_owned());
                view.origin_place = Some(origin_place.to_string());
                view.certificate_number = Some(certificate_number.to_string());
            }
            FactKind::Produced {
                transform,
                product_name,
                inputs,
                ..
            } => {
                view.transform = Some(snake(transform));
                view.product_name = Some(product_name.to_string());
                view.inputs = inputs
                    .iter()
                    .map(|(lot, quantity)| InputView {
                        lot_id: lot.to_string(),
                        quantity: quantity.to_string(),
                    })
                    .collect();
            }
            FactKind::Consumed {
                transform, output, ..
            } => {
                view.transform = Some(snake(transform));
                view.output = Some(output.to_string());
            }
            FactKind::Shipped {
                recipient,
                document_number,
                ..
            } => {
                view.counterparty = Some(recipient.to_string());
                view.document_number = Some(document_number.to_string());
            }
            FactKind::Received {
                stage,
                supplier,
                certificate_number,
                ..
            } => {
                view.stage = Some(snake(stage));
                view.counterparty = supplier.as_ref().map(|s| s.to_string());
                view.certificate_number = certificate_number.as_ref().map(|c| c.to_string());
            }
            FactKind::Inspected {
                inspection,
                item,
                value,
                result,
            } => {
                view.inspection = Some(snake(inspection));
                view.item = Some(item.to_string());
                view.value = Some(value.to_string());
                view.result = Some(snake(result));
            }
            FactKind::Recalled { reason, severity } => {
                view.reason = Some(reason.to_string());
                view.severity = Some(snake(severity));
            }
            FactKind::Entered {
                stage,
                supplier,
                certificate_number,
                product_name,
                ..
            } => {
                view.stage = Some(snake(stage));
                view.counterparty = Some(supplier.to_string());
                view.certificate_number = certificate_number.as_ref().map(|c| c.to_string());
                view.product_name = Some(product_name.to_string());
            }
        }
        view
    }
}

/// A party as inspectors see it (contact included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartySummary {
    /// Unified social credit code or licence number.
    pub party_id: String,
    /// Registered name (absent if the party is not registered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kind of business.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// GB/T 2260 region code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Business contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// `active`, `suspended` or `revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl PartySummary {
    /// The summary of `party_id`, from its registry entry if there is one.
    pub fn of(party_id: &PartyId, record: Option<&PartyRecord>) -> PartySummary {
        PartySummary {
            party_id: party_id.to_string(),
            name: record.map(|r| r.name.to_string()),
            role: record.map(|r| snake(&r.role)),
            region: record.map(|r| r.region.as_str().to_owned()),
            contact: record.and_then(|r| r.contact.as_ref().map(|c| c.to_string())),
            status: record.map(|r| snake(&r.status)),
        }
    }
}

/// A lot in a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TracedLotView {
    /// The lot.
    pub lot_id: String,
    /// Transform steps from the root.
    pub depth: u32,
    /// Product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Quantity created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<String>,
    /// The transform that reached it from the lot before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_event: Option<u64>,
    /// The lot before it, on the root's side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_lot: Option<String>,
    /// Sequence numbers of its test results.
    pub inspections: Vec<u64>,
    /// Sequence numbers of recalls of it.
    pub recalls: Vec<u64>,
}

impl TracedLotView {
    fn of(lot: &TracedLot) -> TracedLotView {
        TracedLotView {
            lot_id: lot.lot_id.to_string(),
            depth: lot.depth,
            product_name: lot.product_name().map(|n| n.to_string()),
            created_by: lot.created.as_deref().map(|f| f.signer.to_string()),
            created_at: lot.created.as_deref().map(|f| time(f.occurred_at_millis)),
            quantity: lot
                .created
                .as_deref()
                .and_then(|f| f.kind.quantity())
                .map(|q| q.to_string()),
            via_event: lot.via.as_ref().map(|v| v.event),
            via_lot: lot.via.as_ref().map(|v| v.from.to_string()),
            inspections: lot.inspections.clone(),
            recalls: lot.recalls.clone(),
        }
    }
}

/// A party in a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TracedPartyView {
    /// Who.
    #[serde(flatten)]
    pub party: PartySummary,
    /// How it is involved: `producer`, `processor`, `shipper`, `recipient`,
    /// `market_entry`, `warehouse`, `retail`, `canteen`, `supplier`, `tester`, `recaller`.
    pub involvements: Vec<String>,
    /// Whether a recall reaches it (it held food from the trace or was sent some).
    pub affected: bool,
    /// Its first event in the trace: how and when it was reached.
    pub first_event: u64,
    /// When that happened.
    pub first_at: String,
    /// The quantity of that event, if it moved food.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_quantity: Option<String>,
    /// Every event of the trace that involves it.
    pub events: Vec<u64>,
    /// How it was first reached from the root lot: the sequence numbers of the events
    /// on the way, each linked to the one before it by hash, or making or using the lot
    /// the one before it is on. Each is in `events` or, if filters leave it out there,
    /// in `path_events`.
    pub path: Vec<u64>,
}

/// `GET /v1/lots/{lot}/trace/{up|down}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TraceView {
    /// `upstream` or `downstream`.
    pub direction: String,
    /// The lot traced from.
    pub root: String,
    /// The trace covers events up to this sequence number (inclusive).
    pub as_of: u64,
    /// Whether the depth limit cut it short.
    pub truncated: bool,
    /// Every lot reached, the root first.
    pub lots: Vec<TracedLotView>,
    /// Every party reached; `affected` ones are the recall list.
    pub parties: Vec<TracedPartyView>,
    /// Every reported event, ascending.
    pub events: Vec<EventView>,
    /// Events on some party's path that the filters leave out of `events`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path_events: Vec<EventView>,
}

impl TraceView {
    /// A reported or path event by sequence number.
    pub fn event(&self, sequence: u64) -> Option<&EventView> {
        self.events
            .iter()
            .chain(&self.path_events)
            .find(|e| e.sequence == sequence)
    }
}

impl TraceView {
    /// The view of `trace`, with party details from `party`.
    pub fn of(trace: &Trace, as_of: u64, party: impl Fn(&PartyId) -> PartySummary) -> TraceView {
        let events: Vec<EventView> = trace
            .events
            .iter()
            .map(|e| EventView::of(e.lot_id.as_str(), &e.fact))
            .collect();
        let event_at = |sequence: u64| trace.event(sequence).map(|e| &*e.fact);
        TraceView {
            direction: snake(&trace.direction),
            root: trace.root.to_string(),
            as_of,
            truncated: trace.truncated,
            lots: trace.lots.iter().map(TracedLotView::of).collect(),
            parties: trace
                .parties
                .iter()
                .map(|p| {
                    let first = event_at(p.events[0]);
                    TracedPartyView {
                        party: party(&p.party_id),
                        involvements: p.involvements.iter().map(snake).collect(),
                        affected: p.is_affected(),
                        first_event: p.events[0],
                        first_at: first
                            .map(|f| time(f.occurred_at_millis))
                            .unwrap_or_default(),
                        first_quantity: first
                            .and_then(|f| f.kind.quantity())
                            .map(|q| q.to_string()),
                        events: p.events.clone(),
                        path: p.path.clone(),
                    }
                })
                .collect(),
            events,
            path_events: trace
                .path_events
                .iter()
                .map(|e| EventView::of(e.lot_id.as_str(), &e.fact))
                .collect(),
        }
    }
}

/// A recall that reaches a lot, directly or through a lot upstream of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecallView {
    /// The recalled lot (this lot, or one upstream of it).
    pub lot_id: String,
    /// The recall event.
    pub sequence: u64,
    /// When.
    pub occurred_at: String,
    /// Why.
    pub reason: String,
    /// `level1` to `level3`.
    pub severity: String,
    /// Whether it was inherited from an upstream lot.
    pub inherited: bool,
}

/// `GET /v1/lots/{lot}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LotView {
    /// The lot.
    pub lot_id: String,
    /// Product name.
    pub product_name: String,
    /// Product category.
    pub product_category: String,
    /// Quantity created.
    pub quantity: String,
    /// Who created it.
    pub created_by: PartySummary,
    /// Whether it or anything upstream of it is recalled.
    pub recalled: bool,
    /// The recalls that reach it.
    pub recalls: Vec<RecallView>,
    /// Its test results, oldest first.
    pub inspections: Vec<EventView>,
    /// Its events in ledger order (one page).
    pub events: Vec<EventView>,
    /// Cursor for the next page of events (`?after=`), if there is more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<u64>,
    /// The view covers events up to this sequence number (inclusive).
    pub as_of: u64,
}

/// A key in a party's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyView {
    /// Key id (hex).
    pub key_id: String,
    /// Ed25519 public key (hex).
    pub public_key: String,
    /// Valid from.
    pub valid_from: String,
    /// Valid until, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// `GET /v1/parties/{party}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartyView {
    /// Who.
    #[serde(flatten)]
    pub party: PartySummary,
    /// Every key ever granted.
    pub keys: Vec<KeyView>,
    /// Sequence number of its registration.
    pub registered_at_sequence: u64,
}

impl PartyView {
    /// The view of a registry entry.
    pub fn of(record: &PartyRecord) -> PartyView {
        PartyView {
            party: PartySummary::of(&record.party_id, Some(record)),
            keys: record
                .keys
                .iter()
                .map(|k| KeyView {
                    key_id: k.key_id.to_string(),
                    public_key: hex::encode(k.public_key),
                    valid_from: k.valid_from.to_rfc3339(),
                    valid_until: k.valid_until.map(|t| t.to_rfc3339()),
                    revoked: k.revoked,
                })
                .collect(),
            registered_at_sequence: record.registered_at_sequence,
        }
    }
}

/// An event in a list (`/v1/events`, `/v1/parties/{party}/events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventSummary {
    /// Sequence number.
    pub sequence: u64,
    /// When it happened.
    pub occurred_at: String,
    /// The event kind (`ORIGIN`, `SHIP`, `MARKET_ENTRY`, ...).
    pub kind: String,
    /// Who signed it.
    pub signer: String,
    /// The lot it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot_id: Option<String>,
    /// BLAKE3 event hash.
    pub hash: String,
}

/// `GET /v1/events`: a page of events by kind and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventsPage {
    /// The events, by time of occurrence.
    pub events: Vec<EventSummary>,
    /// Cursor for the next page (`?cursor=`), if there is more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A lot in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LotSummary {
    /// The lot.
    pub lot_id: String,
    /// Product name.
    pub product_name: String,
    /// Product category.
    pub product_category: String,
    /// Quantity created.
    pub quantity: String,
    /// Who created it.
    pub created_by: String,
    /// When (UTC).
    pub created_at: String,
    /// The creating event.
    pub created_sequence: u64,
}

/// `GET /v1/lots`: a page of lots by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LotsPage {
    /// The lots.
    pub lots: Vec<LotSummary>,
    /// Cursor for the next page (`?cursor=`), if there is more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A page of a party's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartyEventsPage {
    /// The party.
    pub party_id: String,
    /// The events, by time of occurrence.
    pub events: Vec<EventSummary>,
    /// Cursor for the next page (`?cursor=`), if there is more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_format_like_chrono() {
        use chrono::{SecondsFormat, TimeZone, Utc};
        for millis in [
            0i64,
            1,
            999,
            86_399_999,
            951_782_400_000,
            1_764_000_000_123,
            1_795_742_100_000,
            4_102_444_799_999,
            -1,
            -86_400_001,
        ] {
            let chrono = Utc
                .timestamp_millis_opt(millis)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(super::time(millis), chrono, "{millis}");
        }
    }
}
