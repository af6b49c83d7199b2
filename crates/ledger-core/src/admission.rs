//! Admission: whether a signed event may join the ledger, and what it changes.
//!
//! [`admit`] is a pure function of the event, a read-only [`LedgerView`] of what the
//! ledger holds (the store plus events admitted earlier in the same commit group), the
//! sequence number the event would get, and the node's clock reading. It either refuses
//! with a [`Refusal`] naming the field at fault, or returns the state changes to write
//! atomically with the event. Replaying every event in order through `admit` is the audit.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::contract::event_hash;
use crate::ids::{EventHash, KeyId, LotId, PartyId};
use crate::model::{
    EventBody, EventKind, KeyGrant, LotInfo, PartyRole, PartyStatus, ReceivingSource,
    TransformKind, limits,
};
use crate::signature::{check_public_key, verify_body};
use crate::state::{KeyRecord, LotRecord, PartyRecord};

/// How far in the node's future an event's `occurred_at` may be.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// The class of a refusal; each maps to one gRPC status code and one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalCode {
    /// Malformed: a field is missing, too long or of the wrong shape.
    InvalidArgument,
    /// The signature or key does not prove who signed.
    Unauthenticated,
    /// The signer is not allowed to record this.
    PermissionDenied,
    /// A named lot, party or event does not exist.
    NotFound,
    /// What the event would create exists already.
    AlreadyExists,
    /// The event contradicts what the ledger holds.
    FailedPrecondition,
    /// The node could not read its own state; try again.
    Unavailable,
    /// The node is overloaded; try again later.
    ResourceExhausted,
}

/// Why an event was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The class.
    pub code: RefusalCode,
    /// The field at fault, as a path (`body.ship.previous_event`), or empty.
    pub field: String,
    /// What is wrong, in lowercase without a trailing period.
    pub message: String,
}

impl Refusal {
    /// A refusal of `field`.
    pub fn new(code: RefusalCode, field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for Refusal {}

/// A failed read of the ledger's state (a storage fault, not a fault of the event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger state unavailable: {0}")]
pub struct LookupError(pub String);

impl From<LookupError> for Refusal {
    fn from(error: LookupError) -> Refusal {
        Refusal::new(RefusalCode::Unavailable, "", error.to_string())
    }
}

/// An event as the ledger holds it, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewedEvent {
    /// Its sequence number.
    pub sequence: u64,
    /// Its signature.
    pub signature: [u8; 64],
    /// Its body.
    pub body: EventBody,
}

/// Read access to the ledger's state, as admission needs it.
pub trait LedgerView {
    /// The authority's party id, once the genesis event is in.
    fn authority(&self) -> Result<Option<PartyId>, LookupError>;
    /// A party's registry entry.
    fn party(&self, party_id: &PartyId) -> Result<Option<PartyRecord>, LookupError>;
    /// A lot.
    fn lot(&self, lot_id: &LotId) -> Result<Option<LotRecord>, LookupError>;
    /// An event by hash.
    fn event(&self, hash: &EventHash) -> Result<Option<ViewedEvent>, LookupError>;
}

/// A signed event whose body has been decoded. Built only by the wire crate, which
/// guarantees that `body` is what `body_bytes` decodes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEvent {
    body_bytes: Vec<u8>,
    signature: [u8; 64],
    body: EventBody,
    hash: EventHash,
}

impl SignedEvent {
    /// Joins the parts. Precondition: `body` is the decoding of `body_bytes`.
    pub fn from_decoded_parts(
        body_bytes: Vec<u8>,
        body: EventBody,
        signature: [u8; 64],
    ) -> SignedEvent {
        let hash = event_hash(&body_bytes);
        SignedEvent {
            body_bytes,
            signature,
            body,
            hash,
        }
    }

    /// The parts it was joined from: the signed bytes, their decoding, the signature.
    pub fn into_parts(self) -> (Vec<u8>, EventBody, [u8; 64]) {
        (self.body_bytes, self.body, self.signature)
    }

    /// The exact bytes that were signed and hashed.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }

    /// The signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The decoded body.
    pub fn body(&self) -> &EventBody {
        &self.body
    }

    /// The event hash.
    pub fn hash(&self) -> EventHash {
        self.hash
    }
}

/// What admission decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // made once per event and moved once: boxing buys nothing
pub enum Admission {
    /// The event is new: store it at the sequence number given, with these changes.
    New(StateChanges),
    /// The identical event is already in the ledger at this sequence number: store nothing.
    Duplicate {
        /// The original's sequence number.
        sequence: u64,
    },
}

/// State written in the same atomic batch as an admitted event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateChanges {
    /// A lot created by the event.
    pub new_lot: Option<LotRecord>,
    /// A registry entry created or changed by the event.
    pub party: Option<PartyRecord>,
}

fn refuse(code: RefusalCode, field: impl Into<String>, message: impl Into<String>) -> Refusal {
    Refusal::new(code, field, message)
}

/// Decides whether `event` may join the ledger as event number `sequence`, recorded at `now`.
pub fn admit(
    view: &dyn LedgerView,
    event: &SignedEvent,
    sequence: u64,
    now: DateTime<Utc>,
) -> Result<Admission, Refusal> {
    admit_checking(view, event, sequence, now, &mut check_signature)
}

/// Admission with the signature check left to the caller: every other rule is applied,
/// and the public key the signature must verify under is returned (`None` when the
/// event repeats a stored one byte for byte, signature included). Nothing admitted this
/// way may be trusted until the caller has verified the signature under that key with
/// [`crate::signature::verify_body`] (or in a batch): the audit does that in parallel on every core.
pub fn admit_deferring_signature(
    view: &dyn LedgerView,
    event: &SignedEvent,
    sequence: u64,
    now: DateTime<Utc>,
) -> Result<(Admission, Option<[u8; 32]>), Refusal> {
    let mut key_to_check = None;
    let admission = admit_checking(
        view,
        event,
        sequence,
        now,
        &mut |_, public_key, key_id, signer| {
            let key = public_key.ok_or_else(|| {
                refuse(
                    RefusalCode::Unauthenticated,
                    "signature",
                    format!("does not verify under key {key_id} of party {signer}"),
                )
            })?;
            key_to_check = Some(*key);
            Ok(())
        },
    )?;
    Ok((admission, key_to_check))
}

/// How a signature is checked: now, or by the caller later.
type SignatureCheck<'a> =
    dyn FnMut(&SignedEvent, Option<&[u8; 32]>, &KeyId, &PartyId) -> Result<(), Refusal> + 'a;

fn admit_checking(
    view: &dyn LedgerView,
    event: &SignedEvent,
    sequence: u64,
    now: DateTime<Utc>,
    check_signature: &mut SignatureCheck<'_>,
) -> Result<Admission, Refusal> {
    let body = event.body();
    let kind_path = KindPath(body.kind.field_name());

    if let Some(existing) = view.event(&event.hash())? {
        // The same body: the original receipt, once the new signature is as good as the first.
        if existing.signature != *event.signature() {
            let party = view.party(&body.signer)?;
            let key = party.as_ref().and_then(|p| p.key(&body.key_id));
            check_signature(
                event,
                key.map(|k| &k.public_key),
                &body.key_id,
                &body.signer,
            )?;
        }
        return Ok(Admission::Duplicate {
            sequence: existing.sequence,
        });
    }

    if body.occurred_at.to_utc() > now + MAX_CLOCK_SKEW {
        return Err(refuse(
            RefusalCode::InvalidArgument,
            "body.occurred_at",
            format!(
                "{} is more than {} minutes after the node's clock ({})",
                body.occurred_at.to_rfc3339(),
                MAX_CLOCK_SKEW.num_minutes(),
                now.to_rfc3339()
            ),
        ));
    }

    let Some(authority) = view.authority()? else {
        return admit_genesis(event, sequence, kind_path, check_signature);
    };

    let signer = view.party(&body.signer)?.ok_or_else(|| {
        refuse(
            RefusalCode::Unauthenticated,
            "body.signer_party_id",
            format!("party {} is not registered", body.signer),
        )
    })?;
    let key = signer.key(&body.key_id).ok_or_else(|| {
        refuse(
            RefusalCode::Unauthenticated,
            "body.key_id",
            format!("party {} has no key {}", body.signer, body.key_id),
        )
    })?;
    check_signature(event, Some(&key.public_key), &body.key_id, &body.signer)?;
    check_key_usable(key, body)?;
    match signer.status {
        PartyStatus::Active => {}
        PartyStatus::Suspended | PartyStatus::Revoked => {
            let status = if signer.status == PartyStatus::Suspended {
                "suspended"
            } else {
                "revoked"
            };
            return Err(refuse(
                RefusalCode::PermissionDenied,
                "body.signer_party_id",
                format!("party {} is {status} and may not record", body.signer),
            ));
        }
    }
    if body.kind.is_authority_only() && body.signer != authority {
        return Err(refuse(
            RefusalCode::PermissionDenied,
            "body.signer_party_id",
            format!(
                "only the authority may record {}; {} is not the authority",
                body.kind.name(),
                body.signer
            ),
        ));
    }

    let mut changes = StateChanges::default();
    match &body.kind {
        EventKind::Origin(origin) => {
            require_new_lot(view, &origin.lot.lot_id, || {
                format!("{kind_path}.lot.lot_id")
            })?;
            changes.new_lot = Some(LotRecord::created(
                &origin.lot,
                body,
                event.hash(),
                sequence,
            ));
        }
        EventKind::Ship(ship) => {
            require_lot(view, &ship.lot_id, || format!("{kind_path}.lot_id"))?;
            if ship.recipient == body.signer {
                return Err(refuse(
                    RefusalCode::InvalidArgument,
                    format!("{kind_path}.recipient_party_id"),
                    "a party cannot ship to itself",
                ));
            }
            require_party(view, &ship.recipient, || {
                format!("{kind_path}.recipient_party_id")
            })?;
            require_holding(
                view,
                &ship.previous_event,
                &ship.lot_id,
                &body.signer,
                || format!("{kind_path}.previous_event"),
            )?;
        }
        EventKind::Receiving(_, receipt) => {
            let lot_field = || format!("{kind_path}.lot_id");
            match (
                view.lot(&receipt.lot_id)?,
                &receipt.source,
                &receipt.product,
            ) {
                (Some(_), _, _) => {}
                // A lot whose producer records nothing enters the ledger here.
                (None, ReceivingSource::Supplier(_), Some(product)) => {
                    changes.new_lot = Some(LotRecord::created(
                        &LotInfo {
                            lot_id: receipt.lot_id.clone(),
                            product_name: product.name.clone(),
                            product_category: product.category.clone(),
                            quantity: receipt.quantity.clone(),
                        },
                        body,
                        event.hash(),
                        sequence,
                    ));
                }
                (None, ReceivingSource::Supplier(_), None) => {
                    return Err(refuse(
                        RefusalCode::NotFound,
                        lot_field(),
                        format!(
                            "no lot {}; to record a lot its producer did not, name the product (product_name, product_category)",
                            receipt.lot_id
                        ),
                    ));
                }
                (None, ReceivingSource::Shipment { .. }, _) => {
                    return Err(refuse(
                        RefusalCode::NotFound,
                        lot_field(),
                        format!("no lot {}", receipt.lot_id),
                    ));
                }
            }
            match &receipt.source {
                ReceivingSource::Shipment {
                    event: shipment_hash,
                    supplier,
                } => {
                    let field = || format!("{kind_path}.shipment_event");
                    let shipment = view.event(shipment_hash)?.ok_or_else(|| {
                        refuse(
                            RefusalCode::NotFound,
                            field(),
                            format!("no event {shipment_hash}"),
                        )
                    })?;
                    let EventKind::Ship(ship) = &shipment.body.kind else {
                        return Err(refuse(
                            RefusalCode::FailedPrecondition,
                            field(),
                            format!(
                                "event {shipment_hash} is a {}, not a SHIP",
                                shipment.body.kind.name()
                            ),
                        ));
                    };
                    if ship.recipient != body.signer {
                        return Err(refuse(
                            RefusalCode::PermissionDenied,
                            field(),
                            format!(
                                "shipment {shipment_hash} is addressed to {}, not to the signer {}",
                                ship.recipient, body.signer
                            ),
                        ));
                    }
                    if ship.lot_id != receipt.lot_id {
                        return Err(refuse(
                            RefusalCode::FailedPrecondition,
                            field(),
                            format!(
                                "shipment {shipment_hash} is of lot {}, not lot {}",
                                ship.lot_id, receipt.lot_id
                            ),
                        ));
                    }
                    if let Some(supplier) = supplier
                        && *supplier != shipment.body.signer
                    {
                        return Err(refuse(
                            RefusalCode::FailedPrecondition,
                            format!("{kind_path}.supplier_party_id"),
                            format!(
                                "{supplier} is not the shipper; shipment {shipment_hash} was recorded by {}",
                                shipment.body.signer
                            ),
                        ));
                    }
                    if ship.quantity.unit == receipt.quantity.unit
                        && receipt.quantity.amount > ship.quantity.amount
                    {
                        return Err(refuse(
                            RefusalCode::FailedPrecondition,
                            format!("{kind_path}.quantity.amount"),
                            format!(
                                "{} received is more than the {} shipped",
                                receipt.quantity, ship.quantity
                            ),
                        ));
                    }
                }
                ReceivingSource::Supplier(supplier) => {
                    require_party(view, supplier, || format!("{kind_path}.supplier_party_id"))?;
                }
            }
        }
        EventKind::Transform(transform) => {
            let n_inputs = transform.inputs.len();
            let shape_ok = match transform.kind {
                TransformKind::Split => n_inputs == 1,
                TransformKind::Merge => n_inputs >= 2,
                TransformKind::Process => n_inputs >= 1,
            };
            if !shape_ok || n_inputs > limits::MAX_TRANSFORM_INPUTS {
                return Err(refuse(
                    RefusalCode::InvalidArgument,
                    format!("{kind_path}.inputs"),
                    format!(
                        "a {:?} takes {} inputs (at most {}), got {n_inputs}",
                        transform.kind,
                        match transform.kind {
                            TransformKind::Split => "exactly 1",
                            TransformKind::Merge => "2 or more",
                            TransformKind::Process => "1 or more",
                        },
                        limits::MAX_TRANSFORM_INPUTS
                    )
                    .to_lowercase(),
                ));
            }
            for (i, input) in transform.inputs.iter().enumerate() {
                if transform.inputs[..i]
                    .iter()
                    .any(|earlier| earlier.lot_id == input.lot_id)
                {
                    return Err(refuse(
                        RefusalCode::InvalidArgument,
                        format!("{kind_path}.inputs[{i}].lot_id"),
                        format!("lot {} is listed twice", input.lot_id),
                    ));
                }
                if input.lot_id == transform.output.lot_id {
                    return Err(refuse(
                        RefusalCode::InvalidArgument,
                        format!("{kind_path}.inputs[{i}].lot_id"),
                        "an input cannot be the output lot",
                    ));
                }
                require_lot(view, &input.lot_id, || {
                    format!("{kind_path}.inputs[{i}].lot_id")
                })?;
                require_holding(
                    view,
                    &input.input_event,
                    &input.lot_id,
                    &body.signer,
                    || format!("{kind_path}.inputs[{i}].input_event"),
                )?;
            }
            require_new_lot(view, &transform.output.lot_id, || {
                format!("{kind_path}.output.lot_id")
            })?;
            changes.new_lot = Some(LotRecord::created(
                &transform.output,
                body,
                event.hash(),
                sequence,
            ));
        }
        EventKind::Inspection(inspection) => {
            require_lot(view, &inspection.lot_id, || format!("{kind_path}.lot_id"))?;
        }
        EventKind::Recall(recall) => {
            require_lot(view, &recall.lot_id, || format!("{kind_path}.lot_id"))?;
        }
        EventKind::RegisterParty(register) => {
            if register.role == PartyRole::Authority {
                return Err(refuse(
                    RefusalCode::FailedPrecondition,
                    format!("{kind_path}.role"),
                    "the ledger already has its authority",
                ));
            }
            if view.party(&register.party_id)?.is_some() {
                return Err(refuse(
                    RefusalCode::AlreadyExists,
                    format!("{kind_path}.party_id"),
                    format!("party {} is already registered", register.party_id),
                ));
            }
            check_grants(&register.keys, &format!("{kind_path}.keys"))?;
            changes.party = Some(PartyRecord {
                party_id: register.party_id.clone(),
                name: register.name.clone(),
                role: register.role,
                region: register.region.clone(),
                contact: register.contact.clone(),
                status: PartyStatus::Active,
                keys: register.keys.iter().map(KeyRecord::from).collect(),
                registered_at_sequence: sequence,
            });
        }
        EventKind::AddKey(add) => {
            let mut party = require_party(view, &add.party_id, || format!("{kind_path}.party_id"))?;
            check_grants(std::slice::from_ref(&add.key), &format!("{kind_path}.key"))?;
            if party.key(&add.key.key_id).is_some() {
                return Err(refuse(
                    RefusalCode::AlreadyExists,
                    format!("{kind_path}.key.key_id"),
                    format!("party {} already has key {}", add.party_id, add.key.key_id),
                ));
            }
            party.keys.push(KeyRecord::from(&add.key));
            changes.party = Some(party);
        }
        EventKind::RevokeKey(revoke) => {
            let mut party =
                require_party(view, &revoke.party_id, || format!("{kind_path}.party_id"))?;
            let field = format!("{kind_path}.key_id");
            let key = party
                .keys
                .iter_mut()
                .find(|k| k.key_id == revoke.key_id)
                .ok_or_else(|| {
                    refuse(
                        RefusalCode::NotFound,
                        &field,
                        format!("party {} has no key {}", revoke.party_id, revoke.key_id),
                    )
                })?;
            if key.revoked {
                return Err(refuse(
                    RefusalCode::FailedPrecondition,
                    &field,
                    format!("key {} is already revoked", revoke.key_id),
                ));
            }
            key.revoked = true;
            if party.role == PartyRole::Authority && party.keys.iter().all(|k| k.revoked) {
                return Err(refuse(
                    RefusalCode::FailedPrecondition,
                    &field,
                    "the authority must keep at least one key that is not revoked",
                ));
            }
            changes.party = Some(party);
        }
        EventKind::SetPartyStatus(set) => {
            let mut party = require_party(view, &set.party_id, || format!("{kind_path}.party_id"))?;
            if party.role == PartyRole::Authority {
                return Err(refuse(
                    RefusalCode::FailedPrecondition,
                    format!("{kind_path}.party_id"),
                    "the authority's own status cannot be changed",
                ));
            }
            if party.status == PartyStatus::Revoked {
                return Err(refuse(
                    RefusalCode::FailedPrecondition,
                    format!("{kind_path}.status"),
                    format!("party {} is revoked, which is final", set.party_id),
                ));
            }
            party.status = set.status;
            changes.party = Some(party);
        }
    }
    Ok(Admission::New(changes))
}

/// The first event of a ledger: the authority registering itself with a key it grants itself.
fn admit_genesis(
    event: &SignedEvent,
    sequence: u64,
    kind_path: KindPath,
    check_signature: &mut SignatureCheck<'_>,
) -> Result<Admission, Refusal> {
    let body = event.body();
    let EventKind::RegisterParty(register) = &body.kind else {
        return Err(refuse(
            RefusalCode::FailedPrecondition,
            "body",
            format!(
                "the ledger has no authority yet: the first event must be the authority's REGISTER_PARTY, not {}",
                body.kind.name()
            ),
        ));
    };
    if register.role != PartyRole::Authority || register.party_id != body.signer {
        return Err(refuse(
            RefusalCode::FailedPrecondition,
            format!("{kind_path}.role"),
            "the first event must register the authority itself, signed by itself",
        ));
    }
    check_grants(&register.keys, &format!("{kind_path}.keys"))?;
    let grant = register
        .keys
        .iter()
        .find(|k| k.key_id == body.key_id)
        .ok_or_else(|| {
            refuse(
                RefusalCode::Unauthenticated,
                "body.key_id",
                format!(
                    "key {} is not among the keys the authority grants itself",
                    body.key_id
                ),
            )
        })?;
    check_signature(event, Some(&grant.public_key), &body.key_id, &body.signer)?;
    check_key_usable(&KeyRecord::from(grant), body)?;
    Ok(Admission::New(StateChanges {
        new_lot: None,
        party: Some(PartyRecord {
            party_id: register.party_id.clone(),
            name: register.name.clone(),
            role: register.role,
            region: register.region.clone(),
            contact: register.contact.clone(),
            status: PartyStatus::Active,
            keys: register.keys.iter().map(KeyRecord::from).collect(),
            registered_at_sequence: sequence,
        }),
    }))
}

fn check_signature(
    event: &SignedEvent,
    public_key: Option<&[u8; 32]>,
    key_id: &KeyId,
    signer: &PartyId,
) -> Result<(), Refusal> {
    let verified =
        public_key.is_some_and(|key| verify_body(key, event.body_bytes(), event.signature()));
    if verified {
        Ok(())
    } else {
        Err(refuse(
            RefusalCode::Unauthenticated,
            "signature",
            format!("does not verify under key {key_id} of party {signer}"),
        ))
    }
}

fn check_key_usable(key: &KeyRecord, body: &EventBody) -> Result<(), Refusal> {
    if key.revoked {
        return Err(refuse(
            RefusalCode::PermissionDenied,
            "body.key_id",
            format!("key {} of party {} is revoked", key.key_id, body.signer),
        ));
    }
    if !key.is_valid_at(&body.occurred_at) {
        let until = key
            .valid_until
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "open".into());
        return Err(refuse(
            RefusalCode::PermissionDenied,
            "body.occurred_at",
            format!(
                "{} is outside the validity of key {} ({} to {until})",
                body.occurred_at.to_rfc3339(),
                key.key_id,
                key.valid_from.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

fn check_grants(grants: &[KeyGrant], path: &str) -> Result<(), Refusal> {
    if grants.is_empty() || grants.len() > limits::MAX_KEYS {
        return Err(refuse(
            RefusalCode::InvalidArgument,
            path,
            format!(
                "between 1 and {} keys are required, got {}",
                limits::MAX_KEYS,
                grants.len()
            ),
        ));
    }
    for (i, grant) in grants.iter().enumerate() {
        let field = if grants.len() == 1 && !path.ends_with("keys") {
            path.to_owned()
        } else {
            format!("{path}[{i}]")
        };
        let derived = KeyId::of_public_key(&grant.public_key);
        if derived != grant.key_id {
            return Err(refuse(
                RefusalCode::InvalidArgument,
                format!("{field}.key_id"),
                format!(
                    "{} does not match the public key, whose key id is {derived}",
                    grant.key_id
                ),
            ));
        }
        if let Err(problem) = check_public_key(&grant.public_key) {
            return Err(refuse(
                RefusalCode::InvalidArgument,
                format!("{field}.public_key"),
                format!("is not a usable Ed25519 public key: it {problem}"),
            ));
        }
        if grant
            .valid_until
            .is_some_and(|until| until <= grant.valid_from)
        {
            return Err(refuse(
                RefusalCode::InvalidArgument,
                format!("{field}.valid_until"),
                "must be after valid_from",
            ));
        }
        if grants[..i]
            .iter()
            .any(|earlier| earlier.key_id == grant.key_id)
        {
            return Err(refuse(
                RefusalCode::InvalidArgument,
                format!("{field}.key_id"),
                format!("key {} is granted twice", grant.key_id),
            ));
        }
    }
    Ok(())
}

/// `body.<kind>`, the path of the event's kind, written out only when a refusal names a
/// field under it: most events are admitted, and a path formatted for each check was a few
/// percent of admission.
#[derive(Debug, Clone, Copy)]
struct KindPath(&'static str);

impl std::fmt::Display for KindPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "body.{}", self.0)
    }
}

// The `require_*` checks take the path of the field they check as a closure, called only
// to word a refusal.

fn require_lot(
    view: &dyn LedgerView,
    lot_id: &LotId,
    field: impl FnOnce() -> String,
) -> Result<LotRecord, Refusal> {
    view.lot(lot_id)?
        .ok_or_else(|| refuse(RefusalCode::NotFound, field(), format!("no lot {lot_id}")))
}

fn require_new_lot(
    view: &dyn LedgerView,
    lot_id: &LotId,
    field: impl FnOnce() -> String,
) -> Result<(), Refusal> {
    match view.lot(lot_id)? {
        None => Ok(()),
        Some(existing) => Err(refuse(
            RefusalCode::AlreadyExists,
            field(),
            format!(
                "lot {lot_id} already exists (created by {} at sequence {})",
                existing.created_by, existing.created_at_sequence
            ),
        )),
    }
}

fn require_party(
    view: &dyn LedgerView,
    party_id: &PartyId,
    field: impl FnOnce() -> String,
) -> Result<PartyRecord, Refusal> {
    view.party(party_id)?.ok_or_else(|| {
        refuse(
            RefusalCode::NotFound,
            field(),
            format!("party {party_id} is not registered"),
        )
    })
}

/// The linked event must exist, be about `lot_id`, and leave `holder` holding it.
fn require_holding(
    view: &dyn LedgerView,
    hash: &EventHash,
    lot_id: &LotId,
    holder: &PartyId,
    field: impl Fn() -> String,
) -> Result<(), Refusal> {
    let linked = view
        .event(hash)?
        .ok_or_else(|| refuse(RefusalCode::NotFound, field(), format!("no event {hash}")))?;
    match linked.body.holding() {
        Some((linked_lot, linked_holder)) if linked_lot == lot_id && linked_holder == holder => {
            Ok(())
        }
        Some((linked_lot, _)) if linked_lot != lot_id => Err(refuse(
            RefusalCode::FailedPrecondition,
            field(),
            format!("event {hash} is about lot {linked_lot}, not lot {lot_id}"),
        )),
        Some((_, linked_holder)) => Err(refuse(
            RefusalCode::FailedPrecondition,
            field(),
            format!(
                "event {hash} leaves lot {lot_id} with {linked_holder}, not with the signer {holder}"
            ),
        )),
        None => Err(refuse(
            RefusalCode::FailedPrecondition,
            field(),
            format!(
                "event {hash} is a {}, which does not hold a lot",
                linked.body.kind.name()
            ),
        )),
    }
}
