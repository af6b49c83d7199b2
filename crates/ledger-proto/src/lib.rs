//! The wire format stops here.
//!
//! This crate holds the protobuf messages and gRPC services generated from `proto/`
//! (compiled by protox, no system `protoc`), and the conversions between them and the
//! core types: [`decode_signed_event`] turns a submitted `SignedEvent` into a checked
//! [`ledger_core::SignedEvent`], refusing malformed input with a field path;
//! [`encode_body`] and [`sign_body`] are what a client uses to produce one; and
//! [`refusal_status`] maps a core [`Refusal`] to a gRPC status, once, for every service.
//!
//! It deliberately holds no service logic and does no I/O.

mod convert;

pub use convert::{
    body_from_wire, body_to_wire, role_from_wire, role_to_wire, status_to_wire, time_to_wire,
};

use ed25519_dalek::SigningKey;
use ledger_core::model::{EventBody, limits};
use ledger_core::{Refusal, RefusalCode, SignedEvent};
use prost::Message;

/// Generated protobuf messages and gRPC services of package `foodtrace.v1`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("foodtrace.v1");
}

/// The encoded `FileDescriptorSet` of `proto/`, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/foodtrace_descriptor.bin"));

/// Encodes a body to its canonical bytes: the bytes that are hashed and signed.
pub fn encode_body(body: &EventBody) -> Vec<u8> {
    body_to_wire(body).encode_to_vec()
}

/// Encodes and signs a body: what a client submits.
pub fn sign_body(body: &EventBody, key: &SigningKey) -> pb::SignedEvent {
    let bytes = encode_body(body);
    let signature = ledger_core::contract::sign_body(key, &bytes);
    pb::SignedEvent {
        body: bytes,
        signature: signature.to_bytes().to_vec(),
    }
}

/// Checks the shape of a submitted event and decodes its body. Refuses with
/// `INVALID_ARGUMENT` and the field at fault: an oversized or undecodable body, a body
/// not in canonical encoding, a signature that is not 64 bytes, or any malformed field.
/// It does not check the signature: that needs the registry, and is admission's job.
pub fn decode_signed_event(event: pb::SignedEvent) -> Result<SignedEvent, Refusal> {
    decode_signed_event_or_return(event).map_err(|(refusal, _)| refusal)
}

/// [`decode_signed_event`], giving the event back with a refusal: for a caller that
/// has more to say about bytes that do not decode (the audit checks them against the
/// hash they were stored under) without copying every event that does.
pub fn decode_signed_event_or_return(
    event: pb::SignedEvent,
) -> Result<SignedEvent, (Refusal, pb::SignedEvent)> {
    match check_signed_event(&event) {
        Ok((body, signature)) => Ok(SignedEvent::from_decoded_parts(event.body, body, signature)),
        Err(refusal) => Err((refusal, event)),
    }
}

/// The checks of [`decode_signed_event`]: the decoded body and the signature.
fn check_signed_event(event: &pb::SignedEvent) -> Result<(EventBody, [u8; 64]), Refusal> {
    let invalid =
        |field: &str, message: String| Refusal::new(RefusalCode::InvalidArgument, field, message);
    if event.body.is_empty() {
        return Err(invalid("body", "is required".into()));
    }
    if event.body.len() > limits::MAX_BODY_BYTES {
        return Err(invalid(
            "body",
            format!(
                "is {} bytes, at most {} allowed",
                event.body.len(),
                limits::MAX_BODY_BYTES
            ),
        ));
    }
    let signature: [u8; 64] = event.signature.as_slice().try_into().map_err(|_| {
        invalid(
            "signature",
            format!("must be 64 bytes, got {}", event.signature.len()),
        )
    })?;
    let wire = pb::EventBody::decode(event.body.as_slice())
        .map_err(|error| invalid("body", format!("is not a protobuf EventBody: {error}")))?;
    let not_canonical = || {
        invalid(
            "body",
            "is not in canonical encoding (fields out of order, default values written, or unknown fields)".into(),
        )
    };
    // Unknown fields and written defaults change the length: refused before any field.
    if wire.encoded_len() != event.body.len() {
        return Err(not_canonical());
    }
    let body = body_from_wire(&wire)?;
    // The same bytes must come back from what was read. That covers the protobuf
    // encoding (field order), and a value the model reads in more than one spelling (an
    // amount with a leading zero, say), which would give one record two hashes. The
    // checks field by field name the field; this one is the backstop. It is one encoding
    // of the decoded body; only a body that fails it is encoded again, to say which.
    if encode_body(&body) != event.body {
        if wire.encode_to_vec() != event.body {
            return Err(not_canonical());
        }
        return Err(invalid(
            "body",
            "is not in canonical form: a value is written differently from how the ledger writes it".into(),
        ));
    }
    Ok((body, signature))
}

/// The gRPC status for a refusal; its message is the refusal's `field: message`.
pub fn refusal_status(refusal: &Refusal) -> tonic::Status {
    tonic::Status::new(grpc_code(refusal.code), refusal.to_string())
}

/// The gRPC code of a refusal class.
pub fn grpc_code(code: RefusalCode) -> tonic::Code {
    match code {
        RefusalCode::InvalidArgument => tonic::Code::InvalidArgument,
        RefusalCode::Unauthenticated => tonic::Code::Unauthenticated,
        RefusalCode::PermissionDenied => tonic::Code::PermissionDenied,
        RefusalCode::NotFound => tonic::Code::NotFound,
        RefusalCode::AlreadyExists => tonic::Code::AlreadyExists,
        RefusalCode::FailedPrecondition => tonic::Code::FailedPrecondition,
        RefusalCode::Unavailable => tonic::Code::Unavailable,
        RefusalCode::ResourceExhausted => tonic::Code::ResourceExhausted,
    }
}

/// A refusal as carried in a stream result.
pub fn refusal_message(refusal: &Refusal) -> pb::Refusal {
    pb::Refusal {
        code: grpc_code(refusal.code) as i32,
        message: refusal.to_string(),
        field: refusal.field.clone(),
    }
}

/// A party's signing identity on the client side: its id, one key and that key's id.
/// Signing happens here, with the private key never leaving the client.
pub struct Signer {
    party_id: ledger_core::PartyId,
    key: SigningKey,
    key_id: ledger_core::KeyId,
}

impl Signer {
    /// A signer for `party_id` with `key`.
    pub fn new(party_id: ledger_core::PartyId, key: SigningKey) -> Signer {
        let key_id = ledger_core::KeyId::of_public_key(key.verifying_key().as_bytes());
        Signer {
            party_id,
            key,
            key_id,
        }
    }

    /// The party.
    pub fn party_id(&self) -> &ledger_core::PartyId {
        &self.party_id
    }

    /// The key's id.
    pub fn key_id(&self) -> ledger_core::KeyId {
        self.key_id
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// A grant of this signer's key, valid from `valid_from` with no end.
    pub fn grant(&self, valid_from: ledger_core::model::Timestamp) -> ledger_core::model::KeyGrant {
        ledger_core::model::KeyGrant {
            key_id: self.key_id,
            public_key: self.public_key(),
            valid_from,
            valid_until: None,
        }
    }

    /// The body of an event this signer records.
    pub fn body(
        &self,
        occurred_at: ledger_core::model::Timestamp,
        kind: ledger_core::model::EventKind,
    ) -> EventBody {
        EventBody {
            signer: self.party_id.clone(),
            key_id: self.key_id,
            occurred_at,
            kind,
        }
    }

    /// Signs body bytes as they are: for clients that encode bodies themselves.
    pub fn sign_bytes(&self, body: &[u8]) -> pb::SignedEvent {
        pb::SignedEvent {
            body: body.to_vec(),
            signature: ledger_core::contract::sign_body(&self.key, body)
                .to_bytes()
                .to_vec(),
        }
    }

    /// Builds, encodes and signs an event.
    pub fn sign(
        &self,
        occurred_at: ledger_core::model::Timestamp,
        kind: ledger_core::model::EventKind,
    ) -> pb::SignedEvent {
        sign_body(&self.body(occurred_at, kind), &self.key)
    }
}
