//! The byte contract: exactly which bytes are hashed and signed, and how.
//!
//! An event is carried as `BODY`, the canonical protobuf encoding of
//! `foodtrace.v1.EventBody` (proto/foodtrace/v1/event.proto), and a 64-byte signature.
//! This module never sees protobuf: it works on `BODY` as opaque bytes.
//!
//! | purpose    | preimage                                        | function |
//! |------------|-------------------------------------------------|----------|
//! | event hash | `BODY`                                          | BLAKE3 derive-key, context [`EVENT_HASH_CONTEXT`] |
//! | signature  | [`SIGNATURE_PREFIX`] (23 bytes) then `BODY`     | Ed25519 (RFC 8032) signing; checked by the rule of [`crate::signature`] |
//! | key id     | the 32-byte Ed25519 public key                  | BLAKE3 derive-key, context [`KEY_ID_CONTEXT`], first 8 bytes |
//!
//! Hashing and signing are kept apart: the hash uses BLAKE3's key-derivation mode with
//! its own context string, and the signature covers a fixed ASCII prefix that no
//! protobuf `EventBody` can begin with (the prefix's first byte, `f` = 0x66, would be
//! field 12 of wire type 6, which does not exist). A signature over an event can
//! therefore never be replayed as a signature over anything else foodtrace signs.

use ed25519_dalek::{Signature, Signer, SigningKey};

use crate::ids::EventHash;

/// BLAKE3 derive-key context for event hashes.
pub const EVENT_HASH_CONTEXT: &str = "foodtrace v1 event hash";
/// BLAKE3 derive-key context for key ids.
pub const KEY_ID_CONTEXT: &str = "foodtrace v1 key id";
/// The bytes signed before `BODY`: 22 ASCII characters and a line feed.
pub const SIGNATURE_PREFIX: &[u8; 23] = b"foodtrace v1 event sig\n";

/// The event hash of a body.
pub fn event_hash(body: &[u8]) -> EventHash {
    // A hasher keyed with the context is made once (that costs one BLAKE3 compression of
    // the context string) and copied for each body.
    static KEYED: std::sync::LazyLock<blake3::Hasher> =
        std::sync::LazyLock::new(|| blake3::Hasher::new_derive_key(EVENT_HASH_CONTEXT));
    let mut hasher = KEYED.clone();
    hasher.update(body);
    EventHash(*hasher.finalize().as_bytes())
}

/// The message an event signature covers: [`SIGNATURE_PREFIX`] followed by the body.
pub fn signing_message(body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_PREFIX.len() + body.len());
    message.extend_from_slice(SIGNATURE_PREFIX);
    message.extend_from_slice(body);
    message
}

/// Signs a body: what a client does after encoding its `EventBody`.
pub fn sign_body(key: &SigningKey, body: &[u8]) -> Signature {
    key.sign(&signing_message(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::KeyId;
    use crate::signature::verify_body;

    #[test]
    fn contexts_are_distinct_and_prefix_is_23_bytes() {
        assert_eq!(SIGNATURE_PREFIX.len(), 23);
        assert_ne!(
            blake3::derive_key(EVENT_HASH_CONTEXT, b"x"),
            blake3::derive_key(KEY_ID_CONTEXT, b"x")
        );
        // Derive-key mode is not plain BLAKE3.
        assert_ne!(event_hash(b"x").0, *blake3::hash(b"x").as_bytes());
    }

    #[test]
    fn signatures_verify_and_flipped_bytes_do_not() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let body = b"some body bytes".to_vec();
        let signature = sign_body(&key, &body);
        let public = key.verifying_key().to_bytes();
        assert!(verify_body(&public, &body, &signature.to_bytes()));
        for i in 0..body.len() {
            let mut flipped = body.clone();
            flipped[i] ^= 1;
            assert!(!verify_body(&public, &flipped, &signature.to_bytes()));
        }
        // A signature over the bare body (no prefix) is refused.
        let bare = key.sign(&body);
        assert!(!verify_body(&public, &body, &bare.to_bytes()));
        let _ = KeyId::of_public_key(key.verifying_key().as_bytes());
    }
}
