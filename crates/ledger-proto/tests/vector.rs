//! The byte contract's test vector. README.md quotes these values; the last test checks
//! that it still does, so the documentation cannot drift from the code.

use ed25519_dalek::SigningKey;
use expect_test::expect;
use ledger_core::contract::{event_hash, signing_message};
use ledger_core::model::{
    CertificateBasis, EventBody, EventKind, LotInfo, Origin, Quantity, RegionCode, Text,
};
use ledger_core::signature::verify_body;
use ledger_core::{KeyId, LotId, PartyId};
use ledger_proto::{decode_signed_event, encode_body, sign_body};

fn vector_key() -> SigningKey {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    SigningKey::from_bytes(&seed)
}

fn vector_body() -> EventBody {
    let key = vector_key();
    EventBody {
        signer: PartyId::parse("91210112MA0000001W").unwrap(),
        key_id: KeyId::of_public_key(key.verifying_key().as_bytes()),
        occurred_at: chrono::DateTime::parse_from_rfc3339("2026-11-28T06:30:00+08:00").unwrap(),
        kind: EventKind::Origin(Origin {
            lot: LotInfo {
                lot_id: LotId::parse("HN001-1-00001").unwrap(),
                product_name: Text::parse("大白菜", 200).unwrap(),
                product_category: Text::parse("vegetable", 200).unwrap(),
                quantity: Quantity::parse("1200.5", "kg").unwrap(),
            },
            production_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            origin_region: RegionCode::parse("210112").unwrap(),
            origin_place: Text::parse("浑南区 李相街道 蔬菜基地", 2000).unwrap(),
            certificate_number: Text::parse("HG00000001", 200).unwrap(),
            certificate_basis: CertificateBasis::SelfTest,
        }),
    }
}

struct Vector {
    seed: String,
    public_key: String,
    key_id: String,
    body: String,
    hash: String,
    signature: String,
}

fn vector() -> Vector {
    let key = vector_key();
    let body = encode_body(&vector_body());
    let signed = sign_body(&vector_body(), &key);
    assert_eq!(signed.body, body);
    Vector {
        seed: hex::encode(key.to_bytes()),
        public_key: hex::encode(key.verifying_key().to_bytes()),
        key_id: KeyId::of_public_key(key.verifying_key().as_bytes()).to_string(),
        body: hex::encode(&body),
        hash: event_hash(&body).to_string(),
        signature: hex::encode(&signed.signature),
    }
}

#[test]
fn the_vector_is_stable() {
    let v = vector();
    expect!["000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"].assert_eq(&v.seed);
    expect!["03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"]
        .assert_eq(&v.public_key);
    expect!["cf924cf21da75562"].assert_eq(&v.key_id);
    expect!["0801121239313231303131324d4130303030303031571a10636639323463663231646137353536322219323032362d31312d32385430363a33303a30302b30383a3030527c0a330a0d484e3030312d312d30303030311209e5a4a7e799bde88f9c1a09766567657461626c65220c0a06313230302e3512026b67120a323032362d31312d32371a063231303131322223e6b591e58d97e58cba20e69d8ee79bb8e8a197e9819320e894ace88f9ce59fbae59cb02a0a484730303030303030313001"].assert_eq(&v.body);
    expect!["c8634d463b6438745c05c5df9147b07503f39f2e21d5717865220f3afa47048a"].assert_eq(&v.hash);
    expect!["f7aec99fb1bd747b9df1024e87e0acbfc91d83e57683b2a3e9b57ede572d10520f6872887122d30b2405b0e4466f53c93aad0056494d651d244406ddd3760007"].assert_eq(&v.signature);
}

#[test]
fn the_vector_decodes_and_verifies() {
    let v = vector();
    let body = hex::decode(&v.body).unwrap();
    let signature = hex::decode(&v.signature).unwrap();
    let event = decode_signed_event(ledger_proto::pb::SignedEvent {
        body: body.clone(),
        signature: signature.clone(),
    })
    .unwrap();
    assert_eq!(event.body(), &vector_body());
    assert_eq!(event.hash().to_string(), v.hash);
    let key = vector_key().verifying_key();
    let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
    assert!(verify_body(key.as_bytes(), &body, &signature.to_bytes()));
    // The signed message is the prefix and the body: a plain Ed25519 check of it passes.
    assert!(
        key.verify_strict(&signing_message(&body), &signature)
            .is_ok()
    );
    // The hash is BLAKE3 in derive-key mode with the documented context.
    assert_eq!(
        hex::encode(blake3::derive_key("foodtrace v1 event hash", &body)),
        v.hash
    );
}

#[test]
fn readme_quotes_the_vector() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let v = vector();
    for (name, value) in [
        ("seed", &v.seed),
        ("public key", &v.public_key),
        ("key id", &v.key_id),
        ("body", &v.body),
        ("hash", &v.hash),
        ("signature", &v.signature),
    ] {
        assert!(
            readme.contains(value.as_str()),
            "README.md does not quote the test vector's {name}: {value}"
        );
    }
}
