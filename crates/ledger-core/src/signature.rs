//! The ledger's Ed25519 verification rule, checked one signature at a time or in batches
//! that accept exactly the same signatures.
//!
//! # The rule
//!
//! A public key `A` may be registered (in a `REGISTER_PARTY` or `ADD_KEY` grant) only if
//! [`check_public_key`] accepts it: the canonical encoding of a curve point of prime
//! order `ℓ` (in the prime-order subgroup and not the identity). Every key in the
//! registry has passed that check, once, when it was admitted.
//!
//! A signature `R ‖ S` (64 bytes) over a message `M` (the signing message of
//! [`crate::contract`]) verifies under a registered key `A` when:
//!
//! 1. `R` is the canonical encoding of a curve point: its y coordinate is less than
//!    `p = 2^255 − 19`, and its sign bit is clear when x is 0;
//! 2. `S` is canonical: `S < ℓ`;
//! 3. the cofactored equation holds: `[8]([S]B − R − [k]A) = O`, with
//!    `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
//!
//! This is ZIP 215's rule (Zcash) with canonical encodings required. The single check is
//! the `ed25519-zebra` crate's; the batch check is written here over curve25519-dalek
//! with the same equation as that crate's batch verifier (so that decompressed keys can
//! be kept from batch to batch, [`KeyCache`]). They agree by construction: the
//! cofactored equation is linear, so a random linear combination of many equations is
//! zero (after multiplying by 8) whenever each one is; and when one is not, the
//! combination is zero only with probability about 2^-128 over the random coefficients.
//! The cofactorless check of RFC 8032 (ed25519-dalek's `verify_strict`) has no batch
//! form that agrees with it: a signature whose `R` carries a small-order component
//! fails it alone but passes a batch one time in eight or more ("Taming the many EdDSAs",
//! Chalkias, Garillot, Nikolaenko, 2020). An honest signer never makes such an `R`;
//! our rule accepts it, in both forms.
//!
//! Steps 1 and 2 are byte checks done before either form; step 3 is where single and
//! batch differ in method only. [`verify_batch`] derives its random coefficients from a
//! BLAKE3 transcript of every key, signature and message in the batch (as
//! ed25519-dalek's batch verification does with Merlin), so a batch's answer is
//! reproducible, and finding a batch of bad signatures that passes costs about 2^128
//! hash evaluations.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use ed25519_zebra::{Signature, VerificationKey};

use crate::contract::{SIGNATURE_PREFIX, signing_message};

/// BLAKE3 derive-key context of a batch's coefficient transcript.
const BATCH_CONTEXT: &str = "foodtrace v1 batch verification coefficients";

/// Why a public key cannot be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// The bytes are not the encoding of a curve point.
    #[error("is not an Ed25519 curve point")]
    NotAPoint,
    /// The point has another, canonical, encoding.
    #[error("is not canonically encoded")]
    NotCanonical,
    /// The point has small order (the identity among them).
    #[error("is a point of small order")]
    SmallOrder,
    /// The point has a small-order component.
    #[error("is not in the prime-order subgroup")]
    NotPrimeOrder,
}

/// Checks that `key` may be registered: the canonical encoding of a point of order `ℓ`.
/// Costs about one scalar multiplication: done once, when a key is granted.
pub fn check_public_key(key: &[u8; 32]) -> Result<(), KeyProblem> {
    let point = CompressedEdwardsY(*key)
        .decompress()
        .ok_or(KeyProblem::NotAPoint)?;
    if point.compress().as_bytes() != key {
        return Err(KeyProblem::NotCanonical);
    }
    if point.is_small_order() {
        return Err(KeyProblem::SmallOrder);
    }
    if !point.is_torsion_free() {
        return Err(KeyProblem::NotPrimeOrder);
    }
    Ok(())
}

/// Whether 32 bytes are a canonical point encoding as far as bytes can tell: y < p, and
/// no sign bit on the two points whose x is 0 (y = 1 and y = p − 1). Whether y is on the
/// curve at all is left to decompression.
fn canonical_encoding(bytes: &[u8; 32]) -> bool {
    let sign = bytes[31] & 0x80 != 0;
    let top = bytes[31] & 0x7f;
    let middle_all_ff = bytes[1..31].iter().all(|&b| b == 0xff);
    // p = 2^255 − 19 is ed ff … ff 7f (little-endian).
    let at_least_p = top == 0x7f && middle_all_ff && bytes[0] >= 0xed;
    let y_is_one = bytes[0] == 1 && bytes[1..31].iter().all(|&b| b == 0) && top == 0;
    let y_is_minus_one = top == 0x7f && middle_all_ff && bytes[0] == 0xec;
    !at_least_p && !(sign && (y_is_one || y_is_minus_one))
}

/// Steps 1 and 2 of the rule, the byte checks (S's range is checked by ed25519-zebra,
/// identically in both forms; checking it here as well keeps the rule in one place).
fn encodings_ok(signature: &[u8; 64]) -> bool {
    let r: &[u8; 32] = signature[..32].try_into().expect("32 bytes");
    let s: [u8; 32] = signature[32..].try_into().expect("32 bytes");
    canonical_encoding(r) && bool::from(curve25519_dalek::Scalar::from_canonical_bytes(s).is_some())
}

/// One signature to check: a registered key, an event body and its signature.
#[derive(Debug, Clone, Copy)]
pub struct SignatureCheck<'a> {
    /// The public key (one the registry accepted).
    pub key: &'a [u8; 32],
    /// The event body (the signing message is [`SIGNATURE_PREFIX`] then the body).
    pub body: &'a [u8],
    /// The signature.
    pub signature: &'a [u8; 64],
}

/// A [`SignatureCheck`] that owns its parts, to hand a batch to another thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedSignatureCheck {
    /// The public key (one the registry accepted).
    pub key: [u8; 32],
    /// The event body.
    pub body: Vec<u8>,
    /// The signature.
    pub signature: [u8; 64],
}

impl OwnedSignatureCheck {
    /// The check, borrowing its parts.
    pub fn as_check(&self) -> SignatureCheck<'_> {
        SignatureCheck {
            key: &self.key,
            body: &self.body,
            signature: &self.signature,
        }
    }
}

impl SignatureCheck<'_> {
    /// The rule, for this one signature.
    pub fn verify(&self) -> bool {
        verify_body(self.key, self.body, self.signature)
    }
}

/// Checks an event body's signature under a registered key, by the rule above.
pub fn verify_body(key: &[u8; 32], body: &[u8], signature: &[u8; 64]) -> bool {
    encodings_ok(signature)
        && VerificationKey::try_from(*key).is_ok_and(|key| {
            key.verify(&Signature::from_bytes(signature), &signing_message(body))
                .is_ok()
        })
}

/// Checks many signatures at once: `true` exactly when every one of them passes
/// [`verify_body`] (but for a chance of about 2^-128 that a bad one passes). About three
/// times cheaper a signature than checking them one by one, more when many share a key.
/// When it answers `false`, check them one by one to find the bad ones.
pub fn verify_batch(checks: &[SignatureCheck<'_>]) -> bool {
    verify_batch_with(checks, &mut KeyCache::new(0))
}

/// Decompressed public keys kept from batch to batch, so a key that signs in many
/// batches is decompressed once (with a key a signature, a batch costs about a quarter
/// less with the keys kept). Holds at most its capacity; when full, it starts again
/// empty. A cache of capacity 0 keeps nothing.
#[derive(Debug)]
pub struct KeyCache {
    points: rustc_hash::FxHashMap<[u8; 32], EdwardsPoint>,
    capacity: usize,
}

impl KeyCache {
    /// An empty cache of at most `capacity` keys (about 200 bytes each).
    pub fn new(capacity: usize) -> KeyCache {
        KeyCache {
            points: rustc_hash::FxHashMap::default(),
            capacity,
        }
    }

    /// The point `key` encodes, if it is one.
    fn point(&mut self, key: &[u8; 32]) -> Option<EdwardsPoint> {
        if let Some(point) = self.points.get(key) {
            return Some(*point);
        }
        let point = CompressedEdwardsY(*key).decompress()?;
        if self.capacity > 0 {
            if self.points.len() >= self.capacity {
                self.points.clear();
            }
            self.points.insert(*key, point);
        }
        Some(point)
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// [`verify_batch`], taking decompressed keys from `keys` (and leaving the batch's there).
///
/// The batch equation, with `z_i` 128-bit coefficients drawn from the transcript and the
/// signatures grouped by key `A_j`:
/// `[8]( −(Σ z_i S_i) B + Σ_j (Σ_{i signed by j} z_i k_i) A_j + Σ z_i R_i ) = O`,
/// the same equation ed25519-zebra's batch verifier checks.
pub fn verify_batch_with(checks: &[SignatureCheck<'_>], keys: &mut KeyCache) -> bool {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use sha2::{Digest, Sha512};

    if checks.iter().any(|check| !encodings_ok(check.signature)) {
        return false;
    }
    let mut transcript = blake3::Hasher::new_derive_key(BATCH_CONTEXT);
    for check in checks {
        transcript.update(check.key);
        transcript.update(check.signature);
        transcript.update(&(check.body.len() as u64).to_le_bytes());
        transcript.update(check.body);
    }
    let mut coefficients = transcript.finalize_xof();

    let mut b_coefficient = Scalar::ZERO;
    let mut r_coefficients = Vec::with_capacity(checks.len());
    let mut r_points = Vec::with_capacity(checks.len());
    let mut a_slot: rustc_hash::FxHashMap<&[u8; 32], usize> =
        rustc_hash::FxHashMap::with_capacity_and_hasher(checks.len(), Default::default());
    let mut a_coefficients: Vec<Scalar> = Vec::new();
    let mut a_points: Vec<EdwardsPoint> = Vec::new();
    for check in checks {
        let r_bytes: [u8; 32] = check.signature[..32].try_into().expect("32 bytes");
        let s_bytes: [u8; 32] = check.signature[32..].try_into().expect("32 bytes");
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let slot = match a_slot.get(check.key) {
            Some(slot) => *slot,
            None => {
                let Some(a) = keys.point(check.key) else {
                    return false;
                };
                a_points.push(a);
                a_coefficients.push(Scalar::ZERO);
                a_slot.insert(check.key, a_points.len() - 1);
                a_points.len() - 1
            }
        };
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r_bytes)
                .chain_update(check.key)
                .chain_update(SIGNATURE_PREFIX)
                .chain_update(check.body)
                .finalize()
                .into(),
        );
        let mut z = [0u8; 16];
        coefficients.fill(&mut z);
        let z = Scalar::from(u128::from_le_bytes(z));
        b_coefficient -= z * s;
        r_points.push(r);
        r_coefficients.push(z);
        a_coefficients[slot] += z * k;
    }
    EdwardsPoint::vartime_multiscalar_mul(
        std::iter::once(&b_coefficient)
            .chain(a_coefficients.iter())
            .chain(r_coefficients.iter()),
        std::iter::once(&ED25519_BASEPOINT_POINT)
            .chain(a_points.iter())
            .chain(r_points.iter()),
    )
    .mul_by_cofactor()
    .is_identity()
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::Scalar;
    use ed25519_dalek::{Signer, SigningKey};
    use sha2::{Digest, Sha512};

    use super::*;

    fn signed(seed: u8, body: &[u8]) -> ([u8; 32], [u8; 64]) {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let signature = key.sign(&signing_message(body)).to_bytes();
        (key.verifying_key().to_bytes(), signature)
    }

    /// Single and batch answers for `check` alone and amid valid signatures; the two
    /// must agree, and the answer is returned.
    fn agreed(check: SignatureCheck<'_>) -> bool {
        let single = check.verify();
        assert_eq!(verify_batch(&[check]), single, "alone: {check:?}");
        let bodies: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 40 + i as usize]).collect();
        let valid: Vec<([u8; 32], [u8; 64])> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| signed(1 + (i % 3) as u8, body))
            .collect();
        let mut batch: Vec<SignatureCheck<'_>> = valid
            .iter()
            .zip(&bodies)
            .map(|((key, signature), body)| SignatureCheck {
                key,
                body,
                signature,
            })
            .collect();
        // Keys decompressed by an earlier batch and kept, and a cache too small to keep
        // them (it empties itself as it goes): the same answers.
        let mut warm = KeyCache::new(64);
        assert!(verify_batch_with(&batch, &mut warm));
        batch.insert(3, check);
        assert_eq!(verify_batch(&batch), single, "in a batch: {check:?}");
        assert_eq!(
            verify_batch_with(&batch, &mut warm),
            single,
            "with kept keys: {check:?}"
        );
        assert_eq!(
            verify_batch_with(&batch, &mut KeyCache::new(2)),
            single,
            "with a small cache: {check:?}"
        );
        assert!(warm.len() <= 64);
        single
    }

    /// Every encoding of every small-order point: the 8 canonical ones and the 6
    /// non-canonical ones (y + p for y = 0 and y = 1, each with either sign bit, and the
    /// sign bit set on the two points whose x is 0), as in ZIP 215's test vectors.
    fn small_order_encodings() -> Vec<[u8; 32]> {
        let mut encodings: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|p| p.compress().to_bytes())
            .collect();
        let p_plus = |y: u8, sign: bool| {
            let mut bytes = [0xff; 32];
            bytes[0] = 0xed + y;
            bytes[31] = 0x7f | if sign { 0x80 } else { 0 };
            bytes
        };
        encodings.extend([
            p_plus(0, false),
            p_plus(0, true),
            p_plus(1, false),
            p_plus(1, true),
        ]);
        let mut one_signed = [0; 32];
        one_signed[0] = 1;
        one_signed[31] = 0x80;
        let mut minus_one_signed = [0xff; 32];
        minus_one_signed[0] = 0xec;
        encodings.extend([one_signed, minus_one_signed]);
        for encoding in &encodings {
            let point = CompressedEdwardsY(*encoding).decompress().expect("decodes");
            assert!(point.is_small_order(), "{}", hex::encode(encoding));
        }
        encodings
    }

    #[test]
    fn small_order_keys_and_nonces_in_every_encoding_agree() {
        let encodings = small_order_encodings();
        assert_eq!(encodings.len(), 14);
        let body = b"ZIP 215 test vector body";
        let mut accepted = 0;
        for a in &encodings {
            // No such key can be registered...
            assert!(check_public_key(a).is_err(), "{}", hex::encode(a));
            for r in &encodings {
                // ...and S = 0 makes the cofactored equation hold for any of them.
                let mut signature = [0u8; 64];
                signature[..32].copy_from_slice(r);
                let check = SignatureCheck {
                    key: a,
                    body,
                    signature: &signature,
                };
                let single = agreed(check);
                assert_eq!(
                    single,
                    canonical_encoding(r),
                    "A {} R {}",
                    hex::encode(a),
                    hex::encode(r)
                );
                accepted += usize::from(single);
            }
        }
        // The 8 canonical R encodings, under each of the 14 keys.
        assert_eq!(accepted, 8 * 14);
    }

    #[test]
    fn registered_keys_must_be_canonical_points_of_prime_order() {
        let honest = SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(check_public_key(honest.as_bytes()), Ok(()));
        // The same point plus a small-order component.
        let mixed = (honest.to_edwards() + EIGHT_TORSION[1])
            .compress()
            .to_bytes();
        assert_eq!(check_public_key(&mixed), Err(KeyProblem::NotPrimeOrder));
        assert_eq!(
            check_public_key(&EIGHT_TORSION[0].compress().to_bytes()),
            Err(KeyProblem::SmallOrder)
        );
        // y = p + 2 (a non-canonical encoding of the point with y = 2, if it is one).
        let mut not_canonical = [0xff; 32];
        not_canonical[0] = 0xef;
        not_canonical[31] = 0x7f;
        let problem = check_public_key(&not_canonical).unwrap_err();
        assert!(matches!(
            problem,
            KeyProblem::NotCanonical | KeyProblem::NotAPoint
        ));
        // Some y has no x at all.
        let not_a_point = (2u8..)
            .map(|y| {
                let mut bytes = [0; 32];
                bytes[0] = y;
                bytes
            })
            .find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
            .unwrap();
        assert_eq!(check_public_key(&not_a_point), Err(KeyProblem::NotAPoint));
    }

    /// A signature whose R carries a small-order component: RFC 8032's cofactorless
    /// check (`verify_strict`) refuses it, the cofactored rule accepts it, in both forms.
    #[test]
    fn nonce_with_a_small_order_component_is_accepted_alike() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let public = key.verifying_key().to_bytes();
        let body = b"a body signed with a twisted nonce";
        let message = signing_message(body);
        for torsion in &EIGHT_TORSION[1..] {
            let r = Scalar::from_bytes_mod_order([42; 32]);
            let big_r: EdwardsPoint = r * ED25519_BASEPOINT_POINT + torsion;
            let r_bytes = big_r.compress().to_bytes();
            let k = Scalar::from_hash(
                Sha512::new()
                    .chain_update(r_bytes)
                    .chain_update(public)
                    .chain_update(&message),
            );
            let s = r + k * key.to_scalar();
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&r_bytes);
            signature[32..].copy_from_slice(s.as_bytes());
            assert!(
                key.verifying_key()
                    .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
                    .is_err()
            );
            assert!(agreed(SignatureCheck {
                key: &public,
                body,
                signature: &signature
            }));
        }
    }

    #[test]
    fn non_canonical_s_is_refused_alike() {
        let body = b"body";
        let (key, mut signature) = signed(3, body);
        assert!(agreed(SignatureCheck {
            key: &key,
            body,
            signature: &signature
        }));
        // S + l: the same scalar, encoded non-canonically (S < 2^253, so no overflow).
        let s = Scalar::from_canonical_bytes(signature[32..].try_into().unwrap()).unwrap();
        let l_bytes: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = s.as_bytes()[i] as u16 + l_bytes[i] as u16 + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0);
        signature[32..].copy_from_slice(&sum);
        assert!(!agreed(SignatureCheck {
            key: &key,
            body,
            signature: &signature
        }));
    }

    #[test]
    fn any_flipped_bit_is_refused_alike() {
        let body = b"one body, every bit of which matters".to_vec();
        let (key, signature) = signed(5, &body);
        for bit in 0..(64 * 8) {
            let mut flipped = signature;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(!agreed(SignatureCheck {
                key: &key,
                body: &body,
                signature: &flipped
            }));
        }
        for bit in 0..(body.len() * 8) {
            let mut flipped = body.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(!agreed(SignatureCheck {
                key: &key,
                body: &flipped,
                signature: &signature
            }));
        }
        let (other, _) = signed(6, &body);
        assert!(!agreed(SignatureCheck {
            key: &other,
            body: &body,
            signature: &signature
        }));
    }

    #[test]
    fn batches_of_many_keys_and_bodies_pass_and_one_bad_signature_fails_them() {
        let bodies: Vec<Vec<u8>> = (0..300u32).map(|i| i.to_le_bytes().repeat(50)).collect();
        let signed: Vec<([u8; 32], [u8; 64])> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| signed((i % 17) as u8, body))
            .collect();
        let checks = |signed: &[([u8; 32], [u8; 64])]| -> Vec<bool> {
            signed
                .iter()
                .zip(&bodies)
                .map(|((key, signature), body)| {
                    SignatureCheck {
                        key,
                        body,
                        signature,
                    }
                    .verify()
                })
                .collect()
        };
        let batch = |signed: &[([u8; 32], [u8; 64])]| -> bool {
            let checks: Vec<SignatureCheck<'_>> = signed
                .iter()
                .zip(&bodies)
                .map(|((key, signature), body)| SignatureCheck {
                    key,
                    body,
                    signature,
                })
                .collect();
            verify_batch(&checks)
        };
        assert!(checks(&signed).iter().all(|ok| *ok));
        assert!(batch(&signed));
        for bad in [0, 150, 299] {
            let mut one_bad = signed.clone();
            one_bad[bad].1[40] ^= 4;
            assert_eq!(checks(&one_bad).iter().filter(|ok| !**ok).count(), 1);
            assert!(!batch(&one_bad));
        }
    }
}
