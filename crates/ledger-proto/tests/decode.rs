//! Hostile input to the decoder: it refuses, it never panics, and what it accepts
//! round-trips to the same bytes.

use ledger_core::{Refusal, SignedEvent};
use ledger_proto::{decode_signed_event, encode_body, pb};
use proptest::prelude::*;
use prost::Message;

/// A body of `kind` by the tests' party, key and time.
fn body_of(kind: pb::event_body::Kind) -> pb::EventBody {
    pb::EventBody {
        version: 1,
        signer_party_id: "91210112MA0000001W".into(),
        key_id: "cf924cf21da75562".into(),
        occurred_at: "2026-11-28T06:30:00+08:00".into(),
        kind: Some(kind),
    }
}

/// Decodes `body` with a signature of zeros (the decoder checks only its length).
fn decode(body: &pb::EventBody) -> Result<SignedEvent, Refusal> {
    decode_signed_event(pb::SignedEvent {
        body: body.encode_to_vec(),
        signature: vec![0; 64],
    })
}

/// A shipment of `amount` kg of LOT-1.
fn shipment(amount: &str) -> pb::event_body::Kind {
    pb::event_body::Kind::Ship(pb::Shipment {
        lot_id: "LOT-1".into(),
        quantity: Some(pb::Quantity {
            amount: amount.into(),
            unit: "kg".into(),
        }),
        ..Default::default()
    })
}

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
    let mut wire = body_of(pb::event_body::Kind::Recall(pb::Recall {
        lot_id: "L1".into(),
        reason: "bad\u{7}".into(),
        severity: 1,
    }));
    assert_eq!(
        decode(&wire).unwrap_err().to_string(),
        "body.recall.reason: holds the control character \"\\\\u{7}\""
    );
    if let Some(pb::event_body::Kind::Recall(recall)) = wire.kind.as_mut() {
        recall.reason = "很".repeat(2001);
    }
    assert_eq!(
        decode(&wire).unwrap_err().to_string(),
        "body.recall.reason: is 2001 characters long, at most 2000 allowed"
    );
    wire.kind = None;
    assert_eq!(decode(&wire).unwrap_err().field, "body.kind");
}

/// Quantities and times at and past every edge: zero, negative, overflowing, exponent
/// and NaN spellings, the ends of the calendar, offsets past ±14 h.
fn hostile_amount() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("-0".to_owned()),
        Just("0.000000000000000000000000000001".to_owned()),
        Just("79228162514264337593543950336".to_owned()),
        Just("1e400".to_owned()),
        Just("NaN".to_owned()),
        Just("inf".to_owned()),
        Just(" 5".to_owned()),
        Just("5,0".to_owned()),
        "[-+]?[0-9]{0,40}(\\.[0-9]{0,40})?",
    ]
}

fn hostile_time() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0000-01-01T00:00:00Z".to_owned()),
        Just("0001-01-01T00:00:00+00:00".to_owned()),
        Just("9999-12-31T23:59:59+14:00".to_owned()),
        Just("2026-02-30T00:00:00+08:00".to_owned()),
        Just("2026-11-28T24:00:00+08:00".to_owned()),
        Just("2026-11-28T06:30:00+25:00".to_owned()),
        Just("2026-11-28T06:30:60+08:00".to_owned()),
        Just("+275760-09-13T00:00:00Z".to_owned()),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})",
    ]
}

proptest! {
    /// An origin with hostile quantities, dates and times: refused naming a field of the
    /// body, or accepted and re-encoded to exactly the submitted bytes. Never a panic.
    #[test]
    fn hostile_quantities_and_times_are_refused_by_field_or_round_trip(
        amount in hostile_amount(),
        unit in prop_oneof![Just("kg".to_owned()), "\\PC{0,6}"],
        occurred_at in hostile_time(),
        production_date in prop_oneof![Just("2026-11-27".to_owned()), Just("0000-00-00".to_owned()), Just("9999-12-31".to_owned()), "\\PC{0,12}"],
        lot_id in prop_oneof![Just("LOT-1".to_owned()), "[\\x00-\\x1f\\x7f]{1,3}", "\\PC{0,70}"],
    ) {
        let wire = pb::EventBody {
            version: 1,
            signer_party_id: "91210112MA0000001W".into(),
            key_id: "cf924cf21da75562".into(),
            occurred_at,
            kind: Some(pb::event_body::Kind::Origin(pb::Origin {
                lot: Some(pb::LotInfo {
                    lot_id,
                    product_name: "黄瓜".into(),
                    product_category: "vegetable".into(),
                    quantity: Some(pb::Quantity { amount, unit }),
                }),
                production_date,
                origin_region: "210112".into(),
                origin_place: "浑南区".into(),
                certificate_number: "HG-1".into(),
                certificate_basis: 1,
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
fn zero_negative_and_overflowing_quantities_are_refused_naming_the_amount() {
    for amount in [
        "0",
        "-1",
        "-0",
        "1e400",
        "NaN",
        "79228162514264337593543950336",
    ] {
        let refusal = decode(&body_of(shipment(amount))).expect_err(amount);
        assert_eq!(
            refusal.field, "body.ship.quantity.amount",
            "{amount}: {refusal}"
        );
    }
}

#[test]
fn a_time_or_amount_the_ledger_would_write_another_way_is_refused_saying_how() {
    let body = |occurred_at: &str, amount: &str| pb::EventBody {
        occurred_at: occurred_at.into(),
        ..body_of(shipment(amount))
    };
    let refusal = |body: pb::EventBody| decode(&body).expect_err("refused").to_string();
    assert_eq!(
        refusal(body("2026-11-28T06:30:00Z", "5")),
        "body.occurred_at: '2026-11-28T06:30:00Z' is not written the ledger's one way: write 2026-11-28T06:30:00+00:00"
    );
    assert_eq!(
        refusal(body("2026-11-28T06:30:00.000+08:00", "5")),
        "body.occurred_at: '2026-11-28T06:30:00.000+08:00' is not written the ledger's one way: write 2026-11-28T06:30:00+08:00"
    );
    assert_eq!(
        refusal(body("2026-11-28T06:30:00+08:00", "01")),
        "body.ship.quantity.amount: '01' has a leading zero; write it without"
    );
}

#[test]
fn a_refusal_inside_a_list_names_the_item_by_its_index() {
    let input = |lot_id: &str, amount: &str| pb::TransformInput {
        lot_id: lot_id.into(),
        quantity: Some(pb::Quantity {
            amount: amount.into(),
            unit: "kg".into(),
        }),
        input_event: vec![7; 32],
    };
    let transform = |inputs: Vec<pb::TransformInput>| {
        body_of(pb::event_body::Kind::Transform(pb::Transform {
            transform_kind: 1,
            inputs,
            output: None,
        }))
    };
    let field = |wire: pb::EventBody| decode(&wire).expect_err("refused").field;
    assert_eq!(
        field(transform(vec![input("LOT-1", "5"), input("", "5")])),
        "body.transform.inputs[1].lot_id"
    );
    assert_eq!(
        field(transform(vec![
            input("LOT-1", "5"),
            input("LOT-2", "5"),
            input("LOT-3", "-5")
        ])),
        "body.transform.inputs[2].quantity.amount"
    );
    assert_eq!(
        field(transform(vec![input("LOT-1", "5")])),
        "body.transform.output"
    );
}

#[test]
fn fields_out_of_order_are_refused_as_not_canonical_though_every_value_is_good() {
    let whole = body_of(pb::event_body::Kind::Recall(pb::Recall {
        lot_id: "L1".into(),
        reason: "found bad".into(),
        severity: 1,
    }));
    assert!(decode(&whole).is_ok());
    // The version (field 1) written last: the same fields, the same length, another order.
    let version_only = pb::EventBody {
        version: 1,
        ..Default::default()
    };
    let rest = pb::EventBody {
        version: 0,
        ..whole.clone()
    };
    let mut reordered = rest.encode_to_vec();
    reordered.extend(version_only.encode_to_vec());
    assert_eq!(reordered.len(), whole.encode_to_vec().len());
    let refusal = decode_signed_event(pb::SignedEvent {
        body: reordered,
        signature: vec![0; 64],
    })
    .expect_err("refused");
    assert_eq!(
        refusal.to_string(),
        "body: is not in canonical encoding (fields out of order, default values written, or unknown fields)"
    );
}
