//! Wire messages to core types and back. Every check names its field path from `body`.

use chrono::SecondsFormat;
use ledger_core::ids::{EventHash, InvalidValue, KeyId, LotId, PartyId};
use ledger_core::model::{
    self as m, EventBody, EventKind, Quantity, RegionCode, Stage, Text, Timestamp, limits,
};
use ledger_core::{Refusal, RefusalCode};

use crate::pb;
use crate::pb::event_body::Kind;

/// A field path under construction: `body.ship.quantity.amount`. Each step borrows its
/// parent, so nothing is written out unless a refusal names it.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    fn root(name: &'a str) -> Path<'a> {
        Path {
            parent: None,
            step: Step::Field(name),
        }
    }
    fn at<'b>(&'b self, name: &'b str) -> Path<'b> {
        Path {
            parent: Some(self),
            step: Step::Field(name),
        }
    }
    fn index(&self, i: usize) -> Path<'_> {
        Path {
            parent: Some(self),
            step: Step::Index(i),
        }
    }
    fn write_to(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.write_to(out);
        }
        match self.step {
            Step::Field(name) => {
                if self.parent.is_some() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Step::Index(i) => {
                use std::fmt::Write;
                let _ = write!(out, "[{i}]");
            }
        }
    }
    fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }
    fn refuse(&self, error: InvalidValue) -> Refusal {
        Refusal::new(RefusalCode::InvalidArgument, self.render(), error.0)
    }
    fn refuse_msg(&self, message: impl Into<String>) -> Refusal {
        Refusal::new(RefusalCode::InvalidArgument, self.render(), message)
    }
}

fn party(path: Path<'_>, text: &str) -> Result<PartyId, Refusal> {
    PartyId::parse(text).map_err(|e| path.refuse(e))
}

fn optional_party(path: Path<'_>, text: &str) -> Result<Option<PartyId>, Refusal> {
    if text.is_empty() {
        Ok(None)
    } else {
        party(path, text).map(Some)
    }
}

fn lot(path: Path<'_>, text: &str) -> Result<LotId, Refusal> {
    LotId::parse(text).map_err(|e| path.refuse(e))
}

fn key_id(path: Path<'_>, text: &str) -> Result<KeyId, Refusal> {
    KeyId::parse(text).map_err(|e| path.refuse(e))
}

fn hash(path: Path<'_>, bytes: &[u8]) -> Result<EventHash, Refusal> {
    if bytes.is_empty() {
        return Err(path.refuse_msg("is required"));
    }
    EventHash::from_slice(bytes).map_err(|e| path.refuse(e))
}

fn text(path: Path<'_>, value: &str) -> Result<Text, Refusal> {
    Text::parse(value, limits::MAX_SHORT_TEXT).map_err(|e| path.refuse(e))
}

fn long_text(path: Path<'_>, value: &str) -> Result<Text, Refusal> {
    Text::parse(value, limits::MAX_LONG_TEXT).map_err(|e| path.refuse(e))
}

fn optional_text(path: Path<'_>, value: &str, max: usize) -> Result<Option<Text>, Refusal> {
    Text::parse_optional(value, max).map_err(|e| path.refuse(e))
}

/// A time on the wire: RFC 3339 with its offset, written the one way [`time_to_wire`]
/// writes it (so `Z` for `+00:00`, or a needless fraction, is refused: one record, one
/// spelling, one hash).
fn time(path: Path<'_>, value: &str) -> Result<Timestamp, Refusal> {
    let parsed = m::parse_timestamp(value).map_err(|e| path.refuse(e))?;
    let canonical = time_to_wire(&parsed);
    if canonical != value {
        return Err(path.refuse_msg(format!(
            "'{}' is not written the ledger's one way: write {canonical}",
            value.escape_debug()
        )));
    }
    Ok(parsed)
}

fn region(path: Path<'_>, value: &str) -> Result<RegionCode, Refusal> {
    RegionCode::parse(value).map_err(|e| path.refuse(e))
}

fn quantity(path: Path<'_>, value: Option<&pb::Quantity>) -> Result<Quantity, Refusal> {
    let value = value.ok_or_else(|| path.refuse_msg("is required"))?;
    Quantity::parse(&value.amount, &value.unit).map_err(|(field, e)| path.at(field).refuse(e))
}

fn required<'a, T>(path: &Path<'_>, value: Option<&'a T>) -> Result<&'a T, Refusal> {
    value.ok_or_else(|| path.refuse_msg("is required"))
}

fn enum_value<T>(path: Path<'_>, raw: i32, from: impl Fn(i32) -> Option<T>) -> Result<T, Refusal> {
    if raw == 0 {
        return Err(path.refuse_msg("is required"));
    }
    from(raw).ok_or_else(|| path.refuse_msg(format!("{raw} is not a known value")))
}

fn lot_info(path: Path<'_>, info: Option<&pb::LotInfo>) -> Result<m::LotInfo, Refusal> {
    let info = required(&path, info)?;
    Ok(m::LotInfo {
        lot_id: lot(path.at("lot_id"), &info.lot_id)?,
        product_name: text(path.at("product_name"), &info.product_name)?,
        product_category: text(path.at("product_category"), &info.product_category)?,
        quantity: quantity(path.at("quantity"), info.quantity.as_ref())?,
    })
}

fn key_grant(path: Path<'_>, grant: &pb::KeyGrant) -> Result<m::KeyGrant, Refusal> {
    let public_key: [u8; 32] = grant.public_key.as_slice().try_into().map_err(|_| {
        path.at("public_key")
            .refuse_msg(format!("must be 32 bytes, got {}", grant.public_key.len()))
    })?;
    let valid_until = if grant.valid_until.is_empty() {
        None
    } else {
        Some(time(path.at("valid_until"), &grant.valid_until)?)
    };
    Ok(m::KeyGrant {
        key_id: key_id(path.at("key_id"), &grant.key_id)?,
        public_key,
        valid_from: time(path.at("valid_from"), &grant.valid_from)?,
        valid_until,
    })
}

fn receiving(path: Path<'_>, wire: &pb::Receiving) -> Result<m::Receiving, Refusal> {
    let supplier = optional_party(path.at("supplier_party_id"), &wire.supplier_party_id)?;
    let source = if wire.shipment_event.is_empty() {
        m::ReceivingSource::Supplier(supplier.ok_or_else(|| {
            path.at("supplier_party_id")
                .refuse_msg("is required when no shipment_event is named")
        })?)
    } else {
        m::ReceivingSource::Shipment {
            event: hash(path.at("shipment_event"), &wire.shipment_event)?,
            supplier,
        }
    };
    if wire.documents_checked.len() > limits::MAX_DOCUMENTS {
        return Err(path.at("documents_checked").refuse_msg(format!(
            "lists {} documents, at most {} allowed",
            wire.documents_checked.len(),
            limits::MAX_DOCUMENTS
        )));
    }
    let documents_checked = wire
        .documents_checked
        .iter()
        .enumerate()
        .map(|(i, doc)| text(path.at("documents_checked").index(i), doc))
        .collect::<Result<_, _>>()?;
    let product = match (
        wire.product_name.is_empty(),
        wire.product_category.is_empty(),
    ) {
        (true, true) => None,
        (false, true) => {
            return Err(path
                .at("product_category")
                .refuse_msg("is required with product_name"));
        }
        (true, false) => {
            return Err(path
                .at("product_name")
                .refuse_msg("is required with product_category"));
        }
        (false, false) => Some(m::ReceivedProduct {
            name: text(path.at("product_name"), &wire.product_name)?,
            category: text(path.at("product_category"), &wire.product_category)?,
        }),
    };
    Ok(m::Receiving {
        lot_id: lot(path.at("lot_id"), &wire.lot_id)?,
        quantity: quantity(path.at("quantity"), wire.quantity.as_ref())?,
        source,
        certificate_number: optional_text(
            path.at("certificate_number"),
            &wire.certificate_number,
            limits::MAX_SHORT_TEXT,
        )?,
        documents_checked,
        product,
    })
}

/// Converts and checks a wire body. Refuses with `INVALID_ARGUMENT` naming the field.
pub fn body_from_wire(wire: &pb::EventBody) -> Result<EventBody, Refusal> {
    let body = Path::root("body");
    if wire.version != 1 {
        return Err(body
            .at("version")
            .refuse_msg(format!("must be 1, got {}", wire.version)));
    }
    let signer = party(body.at("signer_party_id"), &wire.signer_party_id)?;
    let signer_key_id = key_id(body.at("key_id"), &wire.key_id)?;
    let occurred_at = time(body.at("occurred_at"), &wire.occurred_at)?;
    let kind = match wire.kind.as_ref() {
        None => return Err(body.at("kind").refuse_msg("is required: set one of origin, ship, market_entry, warehouse, retail, canteen, transform, inspection, recall, register_party, add_key, revoke_key, set_party_status")),
        Some(Kind::Origin(o)) => {
            let p = body.at("origin");
            EventKind::Origin(m::Origin {
                lot: lot_info(p.at("lot"), o.lot.as_ref())?,
                production_date: m::parse_date(&o.production_date).map_err(|e| p.at("production_date").refuse(e))?,
                origin_region: region(p.at("origin_region"), &o.origin_region)?,
                origin_place: long_text(p.at("origin_place"), &o.origin_place)?,
                certificate_number: text(p.at("certificate_number"), &o.certificate_number)?,
                certificate_basis: enum_value(p.at("certificate_basis"), o.certificate_basis, |v| {
                    match pb::CertificateBasis::try_from(v).ok()? {
                        pb::CertificateBasis::SelfTest => Some(m::CertificateBasis::SelfTest),
                        pb::CertificateBasis::EntrustedTest => Some(m::CertificateBasis::EntrustedTest),
                        pb::CertificateBasis::QualityControl => Some(m::CertificateBasis::QualityControl),
                        pb::CertificateBasis::Unspecified => None,
                    }
                })?,
            })
        }
        Some(Kind::Ship(s)) => {
            let p = body.at("ship");
            EventKind::Ship(m::Shipment {
                lot_id: lot(p.at("lot_id"), &s.lot_id)?,
                quantity: quantity(p.at("quantity"), s.quantity.as_ref())?,
                recipient: party(p.at("recipient_party_id"), &s.recipient_party_id)?,
                document_number: text(p.at("document_number"), &s.document_number)?,
                previous_event: hash(p.at("previous_event"), &s.previous_event)?,
            })
        }
        Some(Kind::MarketEntry(r)) => EventKind::Receiving(Stage::MarketEntry, receiving(body.at("market_entry"), r)?),
        Some(Kind::Warehouse(r)) => EventKind::Receiving(Stage::Warehouse, receiving(body.at("warehouse"), r)?),
        Some(Kind::Retail(r)) => EventKind::Receiving(Stage::Retail, receiving(body.at("retail"), r)?),
        Some(Kind::Canteen(r)) => EventKind::Receiving(Stage::Canteen, receiving(body.at("canteen"), r)?),
        Some(Kind::Transform(t)) => {
            let p = body.at("transform");
            if t.inputs.len() > limits::MAX_TRANSFORM_INPUTS {
                return Err(p.at("inputs").refuse_msg(format!(
                    "lists {} inputs, at most {} allowed",
                    t.inputs.len(),
                    limits::MAX_TRANSFORM_INPUTS
                )));
            }
            let inputs_path = p.at("inputs");
            let inputs = t
                .inputs
                .iter()
                .enumerate()
                .map(|(i, input)| {
                    let ip = inputs_path.index(i);
                    Ok(m::TransformInput {
                        lot_id: lot(ip.at("lot_id"), &input.lot_id)?,
                        quantity: quantity(ip.at("quantity"), input.quantity.as_ref())?,
                        input_event: hash(ip.at("input_event"), &input.input_event)?,
                    })
                })
                .collect::<Result<Vec<_>, Refusal>>()?;
            EventKind::Transform(m::Transform {
                kind: enum_value(p.at("transform_kind"), t.transform_kind, |v| match pb::TransformKind::try_from(v).ok()? {
                    pb::TransformKind::Split => Some(m::TransformKind::Split),
                    pb::TransformKind::Merge => Some(m::TransformKind::Merge),
                    pb::TransformKind::Process => Some(m::TransformKind::Process),
                    pb::TransformKind::Unspecified => None,
                })?,
                inputs,
                output: lot_info(p.at("output"), t.output.as_ref())?,
            })
        }
        Some(Kind::Inspection(i)) => {
            let p = body.at("inspection");
            EventKind::Inspection(m::Inspection {
                lot_id: lot(p.at("lot_id"), &i.lot_id)?,
                kind: enum_value(p.at("inspection_kind"), i.inspection_kind, |v| match pb::InspectionKind::try_from(v).ok()? {
                    pb::InspectionKind::QuickTest => Some(m::InspectionKind::QuickTest),
                    pb::InspectionKind::Sampling => Some(m::InspectionKind::Sampling),
                    pb::InspectionKind::Unspecified => None,
                })?,
                item: text(p.at("item"), &i.item)?,
                method: text(p.at("method"), &i.method)?,
                value: text(p.at("value"), &i.value)?,
                result: enum_value(p.at("result"), i.result, |v| match pb::InspectionResult::try_from(v).ok()? {
                    pb::InspectionResult::Pass => Some(m::InspectionResult::Pass),
                    pb::InspectionResult::Fail => Some(m::InspectionResult::Fail),
                    pb::InspectionResult::Unspecified => None,
                })?,
                report_number: optional_text(p.at("report_number"), &i.report_number, limits::MAX_SHORT_TEXT)?,
            })
        }
        Some(Kind::Recall(r)) => {
            let p = body.at("recall");
            EventKind::Recall(m::Recall {
                lot_id: lot(p.at("lot_id"), &r.lot_id)?,
                reason: long_text(p.at("reason"), &r.reason)?,
                severity: enum_value(p.at("severity"), r.severity, |v| match pb::RecallSeverity::try_from(v).ok()? {
                    pb::RecallSeverity::Level1 => Some(m::RecallSeverity::Level1),
                    pb::RecallSeverity::Level2 => Some(m::RecallSeverity::Level2),
                    pb::RecallSeverity::Level3 => Some(m::RecallSeverity::Level3),
                    pb::RecallSeverity::Unspecified => None,
                })?,
            })
        }
        Some(Kind::RegisterParty(r)) => {
            let p = body.at("register_party");
            if r.keys.len() > limits::MAX_KEYS {
                return Err(p.at("keys").refuse_msg(format!("lists {} keys, at most {} allowed", r.keys.len(), limits::MAX_KEYS)));
            }
            EventKind::RegisterParty(m::RegisterParty {
                party_id: party(p.at("party_id"), &r.party_id)?,
                name: text(p.at("name"), &r.name)?,
                role: enum_value(p.at("role"), r.role, role_from_wire)?,
                region: region(p.at("region"), &r.region)?,
                contact: optional_text(p.at("contact"), &r.contact, limits::MAX_SHORT_TEXT)?,
                keys: r
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| key_grant(p.at("keys").index(i), k))
                    .collect::<Result<_, _>>()?,
            })
        }
        Some(Kind::AddKey(a)) => {
            let p = body.at("add_key");
            EventKind::AddKey(m::AddKey {
                party_id: party(p.at("party_id"), &a.party_id)?,
                key: key_grant(p.at("key"), required(&p.at("key"), a.key.as_ref())?)?,
            })
        }
        Some(Kind::RevokeKey(r)) => {
            let p = body.at("revoke_key");
            EventKind::RevokeKey(m::RevokeKey {
                party_id: party(p.at("party_id"), &r.party_id)?,
                key_id: key_id(p.at("key_id"), &r.key_id)?,
                reason: optional_text(p.at("reason"), &r.reason, limits::MAX_LONG_TEXT)?,
            })
        }
        Some(Kind::SetPartyStatus(s)) => {
            let p = body.at("set_party_status");
            EventKind::SetPartyStatus(m::SetPartyStatus {
                party_id: party(p.at("party_id"), &s.party_id)?,
                status: enum_value(p.at("status"), s.status, status_from_wire)?,
                reason: optional_text(p.at("reason"), &s.reason, limits::MAX_LONG_TEXT)?,
            })
        }
    };
    Ok(EventBody {
        signer,
        key_id: signer_key_id,
        occurred_at,
        kind,
    })
}

/// A party role from its wire value.
pub fn role_from_wire(value: i32) -> Option<m::PartyRole> {
    use m::PartyRole as R;
    Some(match pb::PartyRole::try_from(value).ok()? {
        pb::PartyRole::Unspecified => return None,
        pb::PartyRole::Producer => R::Producer,
        pb::PartyRole::Workshop => R::Workshop,
        pb::PartyRole::WholesaleMarket => R::WholesaleMarket,
        pb::PartyRole::Warehouse => R::Warehouse,
        pb::PartyRole::Distributor => R::Distributor,
        pb::PartyRole::Retailer => R::Retailer,
        pb::PartyRole::Canteen => R::Canteen,
        pb::PartyRole::CentralKitchen => R::CentralKitchen,
        pb::PartyRole::TestingLab => R::TestingLab,
        pb::PartyRole::Authority => R::Authority,
    })
}

/// A party role's wire value.
pub fn role_to_wire(role: m::PartyRole) -> pb::PartyRole {
    use m::PartyRole as R;
    match role {
        R::Producer => pb::PartyRole::Producer,
        R::Workshop => pb::PartyRole::Workshop,
        R::WholesaleMarket => pb::PartyRole::WholesaleMarket,
        R::Warehouse => pb::PartyRole::Warehouse,
        R::Distributor => pb::PartyRole::Distributor,
        R::Retailer => pb::PartyRole::Retailer,
        R::Canteen => pb::PartyRole::Canteen,
        R::CentralKitchen => pb::PartyRole::CentralKitchen,
        R::TestingLab => pb::PartyRole::TestingLab,
        R::Authority => pb::PartyRole::Authority,
    }
}

fn status_from_wire(value: i32) -> Option<m::PartyStatus> {
    Some(match pb::PartyStatus::try_from(value).ok()? {
        pb::PartyStatus::Unspecified => return None,
        pb::PartyStatus::Active => m::PartyStatus::Active,
        pb::PartyStatus::Suspended => m::PartyStatus::Suspended,
        pb::PartyStatus::Revoked => m::PartyStatus::Revoked,
    })
}

/// A party status's wire value.
pub fn status_to_wire(status: m::PartyStatus) -> pb::PartyStatus {
    match status {
        m::PartyStatus::Active => pb::PartyStatus::Active,
        m::PartyStatus::Suspended => pb::PartyStatus::Suspended,
        m::PartyStatus::Revoked => pb::PartyStatus::Revoked,
    }
}

/// A time as the wire writes it: RFC 3339 with its own offset.
pub fn time_to_wire(time: &Timestamp) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn quantity_to_wire(q: &Quantity) -> Option<pb::Quantity> {
    Some(pb::Quantity {
        amount: q.amount.to_string(),
        unit: q.unit.to_string(),
    })
}

fn lot_info_to_wire(info: &m::LotInfo) -> Option<pb::LotInfo> {
    Some(pb::LotInfo {
        lot_id: info.lot_id.to_string(),
        product_name: info.product_name.to_string(),
        product_category: info.product_category.to_string(),
        quantity: quantity_to_wire(&info.quantity),
    })
}

fn opt_text(t: &Option<Text>) -> String {
    t.as_ref().map(Text::to_string).unwrap_or_default()
}

fn grant_to_wire(g: &m::KeyGrant) -> pb::KeyGrant {
    pb::KeyGrant {
        key_id: g.key_id.to_string(),
        public_key: g.public_key.to_vec(),
        valid_from: time_to_wire(&g.valid_from),
        valid_until: g.valid_until.as_ref().map(time_to_wire).unwrap_or_default(),
    }
}

fn receiving_to_wire(r: &m::Receiving) -> pb::Receiving {
    let (shipment_event, supplier) = match &r.source {
        m::ReceivingSource::Shipment { event, supplier } => (event.0.to_vec(), supplier.clone()),
        m::ReceivingSource::Supplier(supplier) => (Vec::new(), Some(supplier.clone())),
    };
    pb::Receiving {
        lot_id: r.lot_id.to_string(),
        quantity: quantity_to_wire(&r.quantity),
        shipment_event,
        supplier_party_id: supplier.map(String::from).unwrap_or_default(),
        certificate_number: opt_text(&r.certificate_number),
        documents_checked: r.documents_checked.iter().map(Text::to_string).collect(),
        product_name: r
            .product
            .as_ref()
            .map(|p| p.name.to_string())
            .unwrap_or_default(),
        product_category: r
            .product
            .as_ref()
            .map(|p| p.category.to_string())
            .unwrap_or_default(),
    }
}

/// The wire form of a core body. `body_from_wire(&body_to_wire(b)) == b` for every valid `b`.
pub fn body_to_wire(body: &EventBody) -> pb::EventBody {
    let kind = match &body.kind {
        EventKind::Origin(o) => Kind::Origin(pb::Origin {
            lot: lot_info_to_wire(&o.lot),
            production_date: o.production_date.format("%Y-%m-%d").to_string(),
            origin_region: o.origin_region.as_str().to_owned(),
            origin_place: o.origin_place.to_string(),
            certificate_number: o.certificate_number.to_string(),
            certificate_basis: match o.certificate_basis {
                m::CertificateBasis::SelfTest => pb::CertificateBasis::SelfTest,
                m::CertificateBasis::EntrustedTest => pb::CertificateBasis::EntrustedTest,
                m::CertificateBasis::QualityControl => pb::CertificateBasis::QualityControl,
            } as i32,
        }),
        EventKind::Ship(s) => Kind::Ship(pb::Shipment {
            lot_id: s.lot_id.to_string(),
            quantity: quantity_to_wire(&s.quantity),
            recipient_party_id: s.recipient.to_string(),
            document_number: s.document_number.to_string(),
            previous_event: s.previous_event.0.to_vec(),
        }),
        EventKind::Receiving(stage, r) => {
            let wire = receiving_to_wire(r);
            match stage {
                Stage::MarketEntry => Kind::MarketEntry(wire),
                Stage::Warehouse => Kind::Warehouse(wire),
                Stage::Retail => Kind::Retail(wire),
                Stage::Canteen => Kind::Canteen(wire),
            }
        }
        EventKind::Transform(t) => Kind::Transform(pb::Transform {
            transform_kind: match t.kind {
                m::TransformKind::Split => pb::TransformKind::Split,
                m::TransformKind::Merge => pb::TransformKind::Merge,
                m::TransformKind::Process => pb::TransformKind::Process,
            } as i32,
            inputs: t
                .inputs
                .iter()
                .map(|i| pb::TransformInput {
                    lot_id: i.lot_id.to_string(),
                    quantity: quantity_to_wire(&i.quantity),
                    input_event: i.input_event.0.to_vec(),
                })
                .collect(),
            output: lot_info_to_wire(&t.output),
        }),
        EventKind::Inspection(i) => Kind::Inspection(pb::Inspection {
            lot_id: i.lot_id.to_string(),
            inspection_kind: match i.kind {
                m::InspectionKind::QuickTest => pb::InspectionKind::QuickTest,
                m::InspectionKind::Sampling => pb::InspectionKind::Sampling,
            } as i32,
            item: i.item.to_string(),
            method: i.method.to_string(),
            value: i.value.to_string(),
            result: match i.result {
                m::InspectionResult::Pass => pb::InspectionResult::Pass,
                m::InspectionResult::Fail => pb::InspectionResult::Fail,
            } as i32,
            report_number: opt_text(&i.report_number),
        }),
        EventKind::Recall(r) => Kind::Recall(pb::Recall {
            lot_id: r.lot_id.to_string(),
            reason: r.reason.to_string(),
            severity: match r.severity {
                m::RecallSeverity::Level1 => pb::RecallSeverity::Level1,
                m::RecallSeverity::Level2 => pb::RecallSeverity::Level2,
                m::RecallSeverity::Level3 => pb::RecallSeverity::Level3,
            } as i32,
        }),
        EventKind::RegisterParty(r) => Kind::RegisterParty(pb::RegisterParty {
            party_id: r.party_id.to_string(),
            name: r.name.to_string(),
            role: role_to_wire(r.role) as i32,
            region: r.region.as_str().to_owned(),
            contact: opt_text(&r.contact),
            keys: r.keys.iter().map(grant_to_wire).collect(),
        }),
        EventKind::AddKey(a) => Kind::AddKey(pb::AddKey {
            party_id: a.party_id.to_string(),
            key: Some(grant_to_wire(&a.key)),
        }),
        EventKind::RevokeKey(r) => Kind::RevokeKey(pb::RevokeKey {
            party_id: r.party_id.to_string(),
            key_id: r.key_id.to_string(),
            reason: opt_text(&r.reason),
        }),
        EventKind::SetPartyStatus(s) => Kind::SetPartyStatus(pb::SetPartyStatus {
            party_id: s.party_id.to_string(),
            status: status_to_wire(s.status) as i32,
            reason: opt_text(&s.reason),
        }),
    };
    pb::EventBody {
        version: 1,
        signer_party_id: body.signer.to_string(),
        key_id: body.key_id.to_string(),
        occurred_at: time_to_wire(&body.occurred_at),
        kind: Some(kind),
    }
}
