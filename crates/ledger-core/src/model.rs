//! The records: what an event says, once its wire form has been checked.
//!
//! These types can only be built from valid values ([`Text`], [`Quantity`], ids), so code
//! that holds an [`EventBody`] never re-checks shapes; admission checks how an event fits
//! the ledger ([`crate::admission`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ids::{EventHash, InvalidValue, KeyId, LotId, PartyId, printable};

/// A point in time with the UTC offset it was written with.
pub type Timestamp = DateTime<FixedOffset>;

/// Limits on sizes and list lengths. Anything larger is refused before admission.
pub mod limits {
    /// Largest encoded body, in bytes.
    pub const MAX_BODY_BYTES: usize = 64 * 1024;
    /// Longest short text (names, numbers, units), in characters.
    pub const MAX_SHORT_TEXT: usize = 200;
    /// Longest long text (reasons, places), in characters.
    pub const MAX_LONG_TEXT: usize = 2000;
    /// Most documents listed on one receipt.
    pub const MAX_DOCUMENTS: usize = 32;
    /// Most inputs of one transform.
    pub const MAX_TRANSFORM_INPUTS: usize = 256;
    /// Most keys granted in one registration.
    pub const MAX_KEYS: usize = 16;
}

/// Parses an RFC 3339 time that states its UTC offset.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, InvalidValue> {
    if text.is_empty() {
        return Err(InvalidValue("is required".into()));
    }
    DateTime::parse_from_rfc3339(text).map_err(|_| {
        InvalidValue(format!(
            "'{}' is not an RFC 3339 time with offset, e.g. 2026-11-28T08:30:00+08:00",
            printable(text)
        ))
    })
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Result<NaiveDate, InvalidValue> {
    if text.is_empty() {
        return Err(InvalidValue("is required".into()));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| InvalidValue(format!("'{}' is not a date YYYY-MM-DD", printable(text))))
}

/// A text field: UTF-8 without control characters, not blank, bounded in length.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Text(String);

impl Text {
    /// A required text of at most `max_chars` characters.
    pub fn parse(text: &str, max_chars: usize) -> Result<Text, InvalidValue> {
        if text.trim().is_empty() {
            return Err(InvalidValue("is required".into()));
        }
        Text::parse_optional(text, max_chars).map(|t| t.expect("not empty"))
    }

    /// An optional text: empty gives `None`.
    pub fn parse_optional(text: &str, max_chars: usize) -> Result<Option<Text>, InvalidValue> {
        if text.is_empty() {
            return Ok(None);
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(InvalidValue(format!(
                "holds the control character {:?}",
                c.escape_unicode().to_string()
            )));
        }
        let n_chars = text.chars().count();
        if n_chars > max_chars {
            return Err(InvalidValue(format!(
                "is {n_chars} characters long, at most {max_chars} allowed"
            )));
        }
        Ok(Some(Text(text.to_owned())))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An exact, positive decimal amount with its unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quantity {
    /// The amount; always greater than zero.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// The unit as the trade writes it.
    pub unit: Text,
}

impl Quantity {
    /// Parses a decimal string (digits, at most one point, no sign or exponent) and a unit.
    /// Returns which of the two is wrong as `Err((field, problem))`.
    pub fn parse(amount: &str, unit: &str) -> Result<Quantity, (&'static str, InvalidValue)> {
        let well_formed = !amount.is_empty()
            && amount.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && amount.bytes().filter(|b| *b == b'.').count() <= 1
            && !amount.starts_with('.')
            && !amount.ends_with('.');
        if amount.is_empty() {
            return Err(("amount", InvalidValue("is required".into())));
        }
        if !well_formed {
            return Err((
                "amount",
                InvalidValue(format!("'{}' is not a decimal number", printable(amount))),
            ));
        }
        // One amount, one spelling: a body is kept as signed and re-encoded to check it
        // is canonical, so "01" (which would come back as "1") is refused, not stored.
        let whole = amount.split('.').next().unwrap_or_default();
        if whole.len() > 1 && whole.starts_with('0') {
            return Err((
                "amount",
                InvalidValue(format!(
                    "'{}' has a leading zero; write it without",
                    printable(amount)
                )),
            ));
        }
        let value = Decimal::from_str(amount).map_err(|_| {
            (
                "amount",
                InvalidValue(format!(
                    "'{}' is too large or too precise",
                    printable(amount)
                )),
            )
        })?;
        if value.is_zero() {
            return Err(("amount", InvalidValue("must be greater than zero".into())));
        }
        let unit = Text::parse(unit, 32).map_err(|e| ("unit", e))?;
        Ok(Quantity {
            amount: value,
            unit,
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount.normalize(), self.unit)
    }
}

/// What a new lot is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotInfo {
    /// The new lot's id.
    pub lot_id: LotId,
    /// Product name as sold.
    pub product_name: Text,
    /// Product category.
    pub product_category: Text,
    /// Quantity created.
    pub quantity: Quantity,
}

/// How a compliance certificate was earned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateBasis {
    /// The producer tested it.
    SelfTest,
    /// A lab tested it on the producer's behalf.
    EntrustedTest,
    /// Quality control by the producer's own system.
    QualityControl,
}

/// ORIGIN: a producer creates a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The new lot.
    pub lot: LotInfo,
    /// Harvest or production date.
    pub production_date: NaiveDate,
    /// GB/T 2260 region code of the place of origin.
    pub origin_region: RegionCode,
    /// The place as people write it.
    pub origin_place: Text,
    /// Compliance certificate number (承诺达标合格证).
    pub certificate_number: Text,
    /// How the certificate was earned.
    pub certificate_basis: CertificateBasis,
}

/// A six-digit administrative region code (GB/T 2260).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RegionCode(String);

impl RegionCode {
    /// Six ASCII digits.
    pub fn parse(text: &str) -> Result<RegionCode, InvalidValue> {
        if text.is_empty() {
            return Err(InvalidValue("is required".into()));
        }
        if text.len() != 6 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidValue(format!(
                "'{}' is not a six-digit region code",
                printable(text)
            )));
        }
        Ok(RegionCode(text.to_owned()))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHIP: the holder dispatches part or all of a lot to a recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// The lot shipped.
    pub lot_id: LotId,
    /// How much.
    pub quantity: Quantity,
    /// To whom.
    pub recipient: PartyId,
    /// Delivery note or invoice number.
    pub document_number: Text,
    /// The holder's previous event on this lot.
    pub previous_event: EventHash,
}

/// The stage at which a receiver records a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A wholesale or farmers' market admits the lot (市场准入).
    MarketEntry,
    /// A warehouse or distributor stores it.
    Warehouse,
    /// A shop receives it for sale.
    Retail,
    /// A canteen receives it for cooking.
    Canteen,
}

/// A receiver's purchase inspection record (进货查验).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiving {
    /// The lot received.
    pub lot_id: LotId,
    /// How much.
    pub quantity: Quantity,
    /// Where it came from: a recorded shipment, or a supplier that recorded none.
    pub source: ReceivingSource,
    /// Certificate checked on receipt.
    pub certificate_number: Option<Text>,
    /// Documents checked.
    pub documents_checked: Vec<Text>,
    /// The product as received: brings a lot the ledger does not know into it, when the
    /// supplier is named and no shipment was recorded.
    pub product: Option<ReceivedProduct>,
}

/// A product as a receiver wrote it down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedProduct {
    /// Product name (品名).
    pub name: Text,
    /// Product category (品类).
    pub category: Text,
}

/// What a receipt receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceivingSource {
    /// The SHIP event received; the supplier, when also named, must be its signer.
    Shipment {
        /// Hash of the SHIP event.
        event: EventHash,
        /// The supplier as the receiver wrote it, if it did.
        supplier: Option<PartyId>,
    },
    /// No shipment was recorded: the supplier party, from the receiver's papers.
    Supplier(PartyId),
}

/// What a transform does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransformKind {
    /// One input lot divided: exactly one input.
    Split,
    /// Several lots combined: at least two inputs.
    Merge,
    /// Processing (a meal from ingredients): one input or more.
    Process,
}

/// One input of a transform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformInput {
    /// The input lot.
    pub lot_id: LotId,
    /// How much of it was used.
    pub quantity: Quantity,
    /// The signer's event by which it holds the input lot.
    pub input_event: EventHash,
}

/// TRANSFORM: inputs into one new lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transform {
    /// Split, merge or process.
    pub kind: TransformKind,
    /// Inputs, each a different lot.
    pub inputs: Vec<TransformInput>,
    /// The new lot.
    pub output: LotInfo,
}

/// Quick test or sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionKind {
    /// A quick test (快检) at a market or shop.
    QuickTest,
    /// A supervisory sampling inspection (监督抽检).
    Sampling,
}

/// Pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionResult {
    /// Within limits.
    Pass,
    /// Failed: visible on the lot from then on.
    Fail,
}

/// INSPECTION: a test result on a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    /// The lot tested.
    pub lot_id: LotId,
    /// Quick test or sampling.
    pub kind: InspectionKind,
    /// What was tested.
    pub item: Text,
    /// Method or standard.
    pub method: Text,
    /// Measured value as written.
    pub value: Text,
    /// Pass or fail.
    pub result: InspectionResult,
    /// Report or sample number.
    pub report_number: Option<Text>,
}

/// Recall severity (levels I to III).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecallSeverity {
    /// May cause serious harm or death.
    Level1,
    /// May cause general harm.
    Level2,
    /// Not harmful, recalled for other reasons.
    Level3,
}

/// RECALL: the authority's notice on a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recall {
    /// The lot recalled.
    pub lot_id: LotId,
    /// Why.
    pub reason: Text,
    /// How serious.
    pub severity: RecallSeverity,
}

/// The kind of business a party is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    /// Food production enterprise.
    Producer,
    /// Small workshop (小作坊).
    Workshop,
    /// Wholesale or farmers' market.
    WholesaleMarket,
    /// Warehouse.
    Warehouse,
    /// Distributor.
    Distributor,
    /// Shop, supermarket, stall.
    Retailer,
    /// Canteen or restaurant.
    Canteen,
    /// Central kitchen or collective meal distributor.
    CentralKitchen,
    /// Testing laboratory.
    TestingLab,
    /// The regulator.
    Authority,
}

/// Whether a party may record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyStatus {
    /// May record.
    Active,
    /// Temporarily may not record.
    Suspended,
    /// Permanently may not record.
    Revoked,
}

/// A key as granted in a registry event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGrant {
    /// Derived from the public key.
    pub key_id: KeyId,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
    /// Signs events that occurred at or after this.
    pub valid_from: Timestamp,
    /// Signs events that occurred before this, if set.
    pub valid_until: Option<Timestamp>,
}

/// Registry: admit a new party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterParty {
    /// The new party's id.
    pub party_id: PartyId,
    /// Registered name.
    pub name: Text,
    /// What it does.
    pub role: PartyRole,
    /// GB/T 2260 region.
    pub region: RegionCode,
    /// Business contact (inspector-only).
    pub contact: Option<Text>,
    /// Its first keys.
    pub keys: Vec<KeyGrant>,
}

/// Registry: grant another key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddKey {
    /// Whose key.
    pub party_id: PartyId,
    /// The key.
    pub key: KeyGrant,
}

/// Registry: revoke a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeKey {
    /// Whose key.
    pub party_id: PartyId,
    /// Which key.
    pub key_id: KeyId,
    /// Why, if said.
    pub reason: Option<Text>,
}

/// Registry: change a party's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPartyStatus {
    /// Whose status.
    pub party_id: PartyId,
    /// The new status.
    pub status: PartyStatus,
    /// Why, if said.
    pub reason: Option<Text>,
}

/// What an event records. The variant is the event's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// ORIGIN.
    Origin(Origin),
    /// SHIP.
    Ship(Shipment),
    /// MARKET_ENTRY, WAREHOUSE, RETAIL or CANTEEN.
    Receiving(Stage, Receiving),
    /// TRANSFORM.
    Transform(Transform),
    /// INSPECTION.
    Inspection(Inspection),
    /// RECALL.
    Recall(Recall),
    /// Registry: new party.
    RegisterParty(RegisterParty),
    /// Registry: new key.
    AddKey(AddKey),
    /// Registry: revoked key.
    RevokeKey(RevokeKey),
    /// Registry: status change.
    SetPartyStatus(SetPartyStatus),
}

impl EventKind {
    /// The kind's name as in the domain: `ORIGIN`, `SHIP`, `MARKET_ENTRY`, ...
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Origin(_) => "ORIGIN",
            EventKind::Ship(_) => "SHIP",
            EventKind::Receiving(Stage::MarketEntry, _) => "MARKET_ENTRY",
            EventKind::Receiving(Stage::Warehouse, _) => "WAREHOUSE",
            EventKind::Receiving(Stage::Retail, _) => "RETAIL",
            EventKind::Receiving(Stage::Canteen, _) => "CANTEEN",
            EventKind::Transform(_) => "TRANSFORM",
            EventKind::Inspection(_) => "INSPECTION",
            EventKind::Recall(_) => "RECALL",
            EventKind::RegisterParty(_) => "REGISTER_PARTY",
            EventKind::AddKey(_) => "ADD_KEY",
            EventKind::RevokeKey(_) => "REVOKE_KEY",
            EventKind::SetPartyStatus(_) => "SET_PARTY_STATUS",
        }
    }

    /// The field name of this kind in `EventBody`'s oneof, for error paths.
    pub fn field_name(&self) -> &'static str {
        match self {
            EventKind::Origin(_) => "origin",
            EventKind::Ship(_) => "ship",
            EventKind::Receiving(Stage::MarketEntry, _) => "market_entry",
            EventKind::Receiving(Stage::Warehouse, _) => "warehouse",
            EventKind::Receiving(Stage::Retail, _) => "retail",
            EventKind::Receiving(Stage::Canteen, _) => "canteen",
            EventKind::Transform(_) => "transform",
            EventKind::Inspection(_) => "inspection",
            EventKind::Recall(_) => "recall",
            EventKind::RegisterParty(_) => "register_party",
            EventKind::AddKey(_) => "add_key",
            EventKind::RevokeKey(_) => "revoke_key",
            EventKind::SetPartyStatus(_) => "set_party_status",
        }
    }

    /// Whether only the authority may record this kind.
    pub fn is_authority_only(&self) -> bool {
        matches!(
            self,
            EventKind::Recall(_)
                | EventKind::RegisterParty(_)
                | EventKind::AddKey(_)
                | EventKind::RevokeKey(_)
                | EventKind::SetPartyStatus(_)
        )
    }

    /// The lot this event is about, if it is about a lot (the output lot for a transform).
    pub fn lot_id(&self) -> Option<&LotId> {
        match self {
            EventKind::Origin(origin) => Some(&origin.lot.lot_id),
            EventKind::Ship(ship) => Some(&ship.lot_id),
            EventKind::Receiving(_, receipt) => Some(&receipt.lot_id),
            EventKind::Transform(transform) => Some(&transform.output.lot_id),
            EventKind::Inspection(inspection) => Some(&inspection.lot_id),
            EventKind::Recall(recall) => Some(&recall.lot_id),
            EventKind::RegisterParty(_)
            | EventKind::AddKey(_)
            | EventKind::RevokeKey(_)
            | EventKind::SetPartyStatus(_) => None,
        }
    }

    /// The events this one names by hash, in body order: what it follows.
    pub fn links(&self) -> Vec<EventHash> {
        match self {
            EventKind::Ship(ship) => vec![ship.previous_event],
            EventKind::Receiving(
                _,
                Receiving {
                    source: ReceivingSource::Shipment { event, .. },
                    ..
                },
            ) => vec![*event],
            EventKind::Transform(transform) => transform
                .inputs
                .iter()
                .map(|input| input.input_event)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A whole event body, decoded and shape-checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBody {
    /// Who recorded and signed it.
    pub signer: PartyId,
    /// With which of its keys.
    pub key_id: KeyId,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// What happened.
    pub kind: EventKind,
}

impl EventBody {
    /// The party that holds the lot after this event and the lot, for events that
    /// establish holding: ORIGIN, SHIP (the shipper still holds the rest), receipts and
    /// TRANSFORM (its output lot).
    pub fn holding(&self) -> Option<(&LotId, &PartyId)> {
        match &self.kind {
            EventKind::Origin(_)
            | EventKind::Ship(_)
            | EventKind::Receiving(..)
            | EventKind::Transform(_) => self.kind.lot_id().map(|lot| (lot, &self.signer)),
            _ => None,
        }
    }

    /// Every lot the event touches: its own lot and, for a transform, its input lots.
    pub fn lot_ids(&self) -> Vec<&LotId> {
        let mut lots: Vec<&LotId> = self.kind.lot_id().into_iter().collect();
        if let EventKind::Transform(transform) = &self.kind {
            lots.extend(transform.inputs.iter().map(|input| &input.lot_id));
        }
        lots
    }

    /// Every party the event names: the signer first, then any counterparty or
    /// registry subject.
    pub fn party_ids(&self) -> Vec<&PartyId> {
        let mut parties = vec![&self.signer];
        let other = match &self.kind {
            EventKind::Ship(ship) => Some(&ship.recipient),
            EventKind::Receiving(_, receipt) => match &receipt.source {
                ReceivingSource::Shipment { supplier, .. } => supplier.as_ref(),
                ReceivingSource::Supplier(supplier) => Some(supplier),
            },
            EventKind::RegisterParty(register) => Some(&register.party_id),
            EventKind::AddKey(add) => Some(&add.party_id),
            EventKind::RevokeKey(revoke) => Some(&revoke.party_id),
            EventKind::SetPartyStatus(set) => Some(&set.party_id),
            _ => None,
        };
        if let Some(other) = other
            && other != &self.signer
        {
            parties.push(other);
        }
        parties
    }
}
