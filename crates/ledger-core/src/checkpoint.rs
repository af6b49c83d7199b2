//! Signed checkpoints: the node's signed statement of the tree's size and root, in the
//! C2SP `tlog-checkpoint` format inside a C2SP `signed-note` (the format of Go's
//! checksum database, Sigstore and Tessera), so the concepts and tools carry over.
//!
//! # The bytes
//!
//! The checkpoint body is three lines, each ending in a line feed:
//!
//! ```text
//! <origin>                 the log's identity, e.g. foodtrace/11210112MB00000017
//! <tree size>              decimal, no leading zeros
//! <root>                   the Merkle root (see crate::merkle), standard base64 with padding
//! ```
//!
//! The note is the body, a blank line, then one signature line per signer:
//! `— <key name> <base64(key id (4 bytes) ‖ Ed25519 signature (64 bytes))>` and a line
//! feed, where `—` is U+2014. The signature covers the body, its final line feed
//! included. The key name is the origin; the key id is the first 4 bytes of
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`. The verifier key, the text a user pins, is
//! `<name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>`.
//!
//! Checkpoint signatures are checked with Ed25519's strict rule (`verify_strict`); they
//! are one per checkpoint, never batched. Event signatures follow `crate::signature`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use signed_note::{Note, VerificationError, Verifier as NoteVerifier, Verifiers};

use crate::merkle::TreeHash;

/// The note algorithm byte of Ed25519.
const ALG_ED25519: u8 = 0x01;

/// A checkpoint: the tree of the log `origin` had `size` leaves and this root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint<'a> {
    /// The log's identity.
    pub origin: &'a str,
    /// Leaves in the tree.
    pub size: u64,
    /// Its root.
    pub root: TreeHash,
}

/// An owned, verified checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The log's identity.
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// Its root.
    pub root: TreeHash,
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note or its body is malformed.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// No valid signature by the expected key.
    #[error("checkpoint signature: {0}")]
    Signature(String),
    /// A verifier key that does not parse.
    #[error("malformed verifier key: {0}")]
    VerifierKey(String),
}

impl Checkpoint<'_> {
    /// The body text, as signed.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root.0)
        )
    }
}

fn note_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut encoded = Vec::with_capacity(33);
    encoded.push(ALG_ED25519);
    encoded.extend_from_slice(public_key);
    signed_note::key_id(name, &encoded)
}

/// Whether `name` can name a log: non-empty, no white space, no `+`.
pub fn is_valid_origin(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

/// The log's signing key.
pub struct LogSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl LogSigner {
    /// A signer for the log `origin` (which must be a valid key name) with `key`.
    pub fn new(origin: &str, key: SigningKey) -> Result<LogSigner, CheckpointError> {
        if !is_valid_origin(origin) {
            return Err(CheckpointError::Malformed(format!(
                "'{origin}' cannot name a log: it must be non-empty, without spaces or '+'"
            )));
        }
        Ok(LogSigner {
            name: origin.to_owned(),
            id: note_key_id(origin, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// The log's identity.
    pub fn origin(&self) -> &str {
        &self.name
    }

    /// The verifier key to publish: `<name>+<id>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        signed_note::new_ed25519_verifier_key(&self.name, &self.key.verifying_key())
    }

    /// Signs a checkpoint of this log's tree; returns the whole note.
    pub fn sign(&self, size: u64, root: TreeHash) -> String {
        let body = Checkpoint {
            origin: &self.name,
            size,
            root,
        }
        .body();
        let mut note =
            Note::new(body.as_bytes(), &[]).expect("a checkpoint body is a valid note text");
        note.add_sigs(&[self])
            .expect("the origin was checked to be a valid key name");
        String::from_utf8(note.to_bytes()).expect("notes are UTF-8")
    }
}

impl signed_note::Signer for LogSigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(ed25519_dalek::Signer::sign(&self.key, msg)
            .to_bytes()
            .to_vec())
    }
}

/// The public half: verifies a log's checkpoints.
#[derive(Debug, Clone)]
pub struct LogVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl LogVerifier {
    /// Parses a verifier key `<name>+<id>+<base64(0x01 ‖ public key)>`.
    pub fn parse(verifier_key: &str) -> Result<LogVerifier, CheckpointError> {
        let bad = |why: &str| CheckpointError::VerifierKey(why.to_owned());
        let mut parts = verifier_key.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected <name>+<key id>+<key>"));
        };
        if !is_valid_origin(name) {
            return Err(bad("the name must be non-empty, without spaces or '+'"));
        }
        let id = u32::from_str_radix(id_hex, 16)
            .ok()
            .filter(|_| id_hex.len() == 8)
            .ok_or_else(|| bad("the key id must be 8 hex digits"))?;
        let encoded = STANDARD
            .decode(key_b64)
            .map_err(|_| bad("the key is not base64"))?;
        let (Some(&ALG_ED25519), Ok(public_key)) = (
            encoded.first(),
            <[u8; 32]>::try_from(&encoded[1.min(encoded.len())..]),
        ) else {
            return Err(bad("the key must be an Ed25519 key: 0x01 and 32 bytes"));
        };
        let key = VerifyingKey::from_bytes(&public_key)
            .map_err(|_| bad("not a valid Ed25519 public key"))?;
        if note_key_id(name, &public_key) != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(LogVerifier {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The log's identity.
    pub fn origin(&self) -> &str {
        &self.name
    }

    /// Verifies a signed checkpoint note of this log and returns what it states.
    pub fn verify(&self, note: &str) -> Result<VerifiedCheckpoint, CheckpointError> {
        let parsed = Note::from_bytes(note.as_bytes())
            .map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        parsed
            .verify(self)
            .map_err(|e| CheckpointError::Signature(e.to_string()))?;
        let text = std::str::from_utf8(parsed.text())
            .map_err(|_| CheckpointError::Malformed("not UTF-8".into()))?;
        let checkpoint = parse_body(text)?;
        if checkpoint.origin != self.name {
            return Err(CheckpointError::Malformed(format!(
                "the checkpoint is of log '{}', not '{}'",
                checkpoint.origin, self.name
            )));
        }
        Ok(checkpoint)
    }
}

impl NoteVerifier for LogVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        Signature::from_slice(sig).is_ok_and(|sig| self.key.verify_strict(msg, &sig).is_ok())
    }
}

impl Verifiers for LogVerifier {
    fn verifier(&self, name: &str, id: u32) -> Result<&dyn NoteVerifier, VerificationError> {
        if name == self.name && id == self.id {
            Ok(self)
        } else {
            Err(VerificationError::UnknownKey {
                name: name.to_owned(),
                id,
            })
        }
    }
}

/// Parses a checkpoint body (without checking any signature).
pub fn parse_body(text: &str) -> Result<VerifiedCheckpoint, CheckpointError> {
    let bad = |why: String| CheckpointError::Malformed(why);
    let mut lines = text.split('\n');
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| bad("no origin line".into()))?;
    let size_text = lines
        .next()
        .ok_or_else(|| bad("no tree size line".into()))?;
    let size: u64 = size_text
        .parse()
        .ok()
        .filter(|_| size_text == "0" || !size_text.starts_with('0'))
        .filter(|_| size_text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| bad(format!("tree size '{size_text}' is not a decimal number")))?;
    let root_text = lines.next().ok_or_else(|| bad("no root line".into()))?;
    let root: [u8; 32] = STANDARD
        .decode(root_text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| bad(format!("root '{root_text}' is not 32 bytes of base64")))?;
    Ok(VerifiedCheckpoint {
        origin: origin.to_owned(),
        size,
        root: TreeHash(root),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LogSigner {
        LogSigner::new(
            "foodtrace/11210112MB00000017",
            SigningKey::from_bytes(&[3; 32]),
        )
        .unwrap()
    }

    #[test]
    fn signs_and_verifies() {
        let signer = signer();
        let note = signer.sign(42, TreeHash([9; 32]));
        assert!(note.starts_with("foodtrace/11210112MB00000017\n42\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n\n— foodtrace/11210112MB00000017 "));
        let verifier = LogVerifier::parse(&signer.verifier_key()).unwrap();
        let checkpoint = verifier.verify(&note).unwrap();
        assert_eq!((checkpoint.size, checkpoint.root), (42, TreeHash([9; 32])));
    }

    #[test]
    fn tampering_is_caught() {
        let signer = signer();
        let verifier = LogVerifier::parse(&signer.verifier_key()).unwrap();
        let note = signer.sign(42, TreeHash([9; 32]));
        assert!(
            verifier
                .verify(&note.replacen("\n42\n", "\n43\n", 1))
                .is_err()
        );
        let other = LogSigner::new(
            "foodtrace/11210112MB00000017",
            SigningKey::from_bytes(&[4; 32]),
        )
        .unwrap();
        assert!(verifier.verify(&other.sign(42, TreeHash([9; 32]))).is_err());
        assert!(LogVerifier::parse("foodtrace+00000000+AQ==").is_err());
        assert!(LogSigner::new("two words", SigningKey::from_bytes(&[3; 32])).is_err());
    }
}
