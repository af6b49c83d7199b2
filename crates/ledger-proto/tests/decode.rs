//! Hostile input to the decoder: it refuses, it never panics, and what it accepts
//! round-trips to the same bytes.

use ledger_proto::{decode_signed_event, encode_body, pb};
use proptest::prelude::*;
use prost::Message;

proptest! {
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), signature in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = decode_signed_event(pb::SignedEvent { body, signature });
    }

    /// Random field values in a well-formed message: refused with a field path, or
    /// accepted and then re-encoded to exactly the submitted bytes.
    #[test]
    fn structured_garbage_is_refused_by_field_or_round_trips(
        signer in "\\PC{0,20}", key_id in "[0-9a-fA-F]{0,17}", occurred_at in "\\PC{0,30}",
        lot_id in "\\PC{0,30}", amount in "\\PC{0,12}", unit in "\\PC{0,4}", version in 0u32..3,
    ) {
        let wire = pb::EventBody {
            version,
            signer_party_id: signer,
            key_id,
            occurred_at,
            kind: Some(pb::event_body::Kind::Inspection(pb::Inspection {
                lot_id,
                inspection_kind: 1,
                item: "x".into(),
                method: amount.clone(),
                value: unit,
                result: 1,
                report_number: String::new(),
            })),
        };
        let body = wire.encode_to_vec();
        match decode_signed_event(pb::SignedEvent { body: body.clone(), signature: vec![0; 64] }) {
            Ok(event) => prop_assert_eq!(encode_body(event.body()), body),
            Err(refusal) => prop_assert!(refusal.field.starts_with("body"), "{:?}", refusal),
        }
    }
}

#[test]
fn control_characters_and_overlong_texts_are_refused_by_field() {
    let mut wire = pb::EventBody {
        version: 1,
        signer_party_id: "91210112MA0000001W".into(),
        key_id: "cf924cf21da75562".into(),
        occurred_at: "2026-11-28T06:30:00+08:00".into(),
        kind: Some(pb::event_body::Kind::Recall(pb::Recall {
            lot_id: "L1".into(),
            reason: "bad\u{7}".into(),
            severity: 1,
        })),
    };
    let refusal = decode_signed_event(pb::SignedEvent {
        body: wire.encode_to_vec(),
        signature: vec![0; 64],
    })
    .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "body.recall.reason: holds the control character \"\\\\u{7}\""
    );
    if let Some(pb::event_body::Kind::Recall(recall)) = wire.kind.as_mut() {
        recall.reason = "很".repeat(2001);
    }
    let refusal = decode_signed_event(pb::SignedEvent {
        body: wire.encode_to_vec(),
        signature: vec![0; 64],
    })
    .unwrap_err();
    assert_eq!(
        refusal.to_string(),
        "body.recall.reason: is 2001 characters long, at most 2000 allowed"
    );
    wire.kind = None;
    let refusal = decode_signed_event(pb::SignedEvent {
        body: wire.encode_to_vec(),
        signature: vec![0; 64],
    })
    .unwrap_err();
    assert_eq!(refusal.field, "body.kind");
}
