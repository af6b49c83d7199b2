//! Identifiers: parties, lots, keys and events, each a newtype that can only hold a valid value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::contract::KEY_ID_CONTEXT;

/// Why an identifier or text field was refused. The caller adds the field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(message: impl Into<String>) -> InvalidValue {
    InvalidValue(message.into())
}

/// The 31 characters of a unified social credit code (GB 32100-2015): digits and the
/// capital letters without I, O, Z, S and V.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of the first 17 characters: 3^(i) mod 31.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// The check character of the first 17 characters of a unified social credit code,
/// or `None` when one of them is outside the code's alphabet.
pub fn uscc_check_character(first_17: &str) -> Option<char> {
    let bytes = first_17.as_bytes();
    if bytes.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (byte, weight) in bytes.iter().zip(USCC_WEIGHTS) {
        let value = USCC_ALPHABET.iter().position(|c| c == byte)? as u32;
        sum += value * weight;
    }
    let check = (31 - sum % 31) % 31;
    Some(USCC_ALPHABET[check as usize] as char)
}

/// A party's identifier: an 18-character unified social credit code (统一社会信用代码)
/// with a correct check character, or a food licence number: two capital letters
/// (`SC` production, `JY` business, or another issuing prefix) and 14 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartyId(String);

impl PartyId {
    /// Parses and validates a party id.
    pub fn parse(text: &str) -> Result<PartyId, InvalidValue> {
        if text.is_empty() {
            return Err(invalid("is required"));
        }
        let bytes = text.as_bytes();
        let is_licence = bytes.len() == 16
            && bytes[..2].iter().all(u8::is_ascii_uppercase)
            && bytes[2..].iter().all(u8::is_ascii_digit);
        if is_licence {
            return Ok(PartyId(text.to_owned()));
        }
        if bytes.len() != 18 || !text.is_ascii() {
            return Err(invalid(format!(
                "'{}' is neither an 18-character unified social credit code nor a licence number (2 letters, 14 digits)",
                printable(text)
            )));
        }
        let expected = uscc_check_character(&text[..17]).ok_or_else(|| {
            invalid(format!(
                "'{}' holds a character outside the unified social credit code alphabet",
                printable(text)
            ))
        })?;
        let actual = text[17..].chars().next().unwrap_or_default();
        if actual != expected {
            return Err(invalid(format!(
                "'{text}' has check character '{actual}', expected '{expected}'"
            )));
        }
        Ok(PartyId(text.to_owned()))
    }

    /// The unified social credit code made of these 17 characters and their check
    /// character, or `None` when one is outside the code's alphabet.
    pub fn uscc_with_check(first_17: &str) -> Option<PartyId> {
        let check = uscc_check_character(first_17)?;
        Some(PartyId(format!("{first_17}{check}")))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PartyId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PartyId::parse(&value)
    }
}

impl From<PartyId> for String {
    fn from(value: PartyId) -> String {
        value.0
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A lot's identifier: a local code (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`) or a GS1 lot in
/// Digital Link path form, `01/{GTIN-14}/10/{lot}`, whose GTIN check digit is verified and
/// whose lot is 1 to 20 characters of the same local alphabet.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LotId(String);

fn is_local_code(text: &str, max_len: usize) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max_len
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether the last digit of a GTIN is its correct GS1 check digit (mod 10, weights 3 and 1
/// from the right).
pub fn gtin_check_digit_ok(gtin: &str) -> bool {
    let digits: Vec<u32> = gtin.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != gtin.len() || digits.len() < 2 {
        return false;
    }
    let (body, check) = digits.split_at(digits.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
        .sum();
    (10 - sum % 10) % 10 == check[0]
}

impl LotId {
    /// Parses and validates a lot id.
    pub fn parse(text: &str) -> Result<LotId, InvalidValue> {
        if text.is_empty() {
            return Err(invalid("is required"));
        }
        if let Some(rest) = text.strip_prefix("01/") {
            let (gtin, lot) = rest.split_once("/10/").ok_or_else(|| {
                invalid(format!(
                    "'{}' is not of the form 01/{{GTIN-14}}/10/{{lot}}",
                    printable(text)
                ))
            })?;
            if gtin.len() != 14 || !gtin.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(format!(
                    "GTIN '{}' must be 14 digits",
                    printable(gtin)
                )));
            }
            if !gtin_check_digit_ok(gtin) {
                return Err(invalid(format!("GTIN '{gtin}' has a wrong check digit")));
            }
            if !is_local_code(lot, 20) {
                return Err(invalid(format!(
                    "GS1 lot '{}' must be 1 to 20 letters, digits, '.', '_' or '-'",
                    printable(lot)
                )));
            }
            return Ok(LotId(text.to_owned()));
        }
        if !is_local_code(text, 64) {
            return Err(invalid(format!(
                "'{}' must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, or 01/{{GTIN-14}}/10/{{lot}}",
                printable(text)
            )));
        }
        Ok(LotId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The GTIN-14 and the lot number when this is a GS1 lot.
    pub fn gs1(&self) -> Option<(&str, &str)> {
        self.0.strip_prefix("01/")?.split_once("/10/")
    }
}

impl TryFrom<String> for LotId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        LotId::parse(&value)
    }
}

impl From<LotId> for String {
    fn from(value: LotId) -> String {
        value.0
    }
}

impl fmt::Display for LotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key's identifier: the first 8 bytes of
/// `BLAKE3-derive-key("foodtrace v1 key id", public key)`, written as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The key id of a 32-byte Ed25519 public key.
    pub fn of_public_key(public_key: &[u8; 32]) -> KeyId {
        let digest = blake3::derive_key(KEY_ID_CONTEXT, public_key);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    /// Parses 16 lowercase hex digits.
    pub fn parse(text: &str) -> Result<KeyId, InvalidValue> {
        if text.is_empty() {
            return Err(invalid("is required"));
        }
        let mut id = [0u8; 8];
        if text.len() != 16
            || text.bytes().any(|b| b.is_ascii_uppercase())
            || hex::decode_to_slice(text, &mut id).is_err()
        {
            return Err(invalid(format!(
                "'{}' is not 16 lowercase hex digits",
                printable(text)
            )));
        }
        Ok(KeyId(id))
    }
}

impl TryFrom<String> for KeyId {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        KeyId::parse(&value)
    }
}

impl From<KeyId> for String {
    fn from(value: KeyId) -> String {
        value.to_string()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The BLAKE3 hash of an event body (see [`crate::contract`]). Names an event everywhere.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// Takes exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<EventHash, InvalidValue> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid(format!("must be 32 bytes, got {}", bytes.len())))?;
        Ok(EventHash(array))
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<EventHash, InvalidValue> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| invalid(format!("'{}' is not 64 hex digits", printable(text))))?;
        Ok(EventHash(bytes))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({self})")
    }
}

/// A text for error messages: control characters escaped, at most 80 characters.
pub(crate) fn printable(text: &str) -> String {
    let mut out: String = text.chars().take(80).flat_map(char::escape_debug).collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uscc_check_character_matches_published_codes() {
        // Codes printed on real business licences.
        for code in [
            "91350100M000100Y43",
            "91110000802100433B",
            "11100000000013127D",
        ] {
            assert!(PartyId::parse(code).is_ok(), "{code}");
        }
        let err = PartyId::parse("91350100M000100Y44").unwrap_err();
        assert_eq!(
            err.0,
            "'91350100M000100Y44' has check character '4', expected '3'"
        );
    }

    #[test]
    fn party_ids_refuse_wrong_shapes() {
        assert!(PartyId::parse("JY12101120000123").is_ok());
        assert!(PartyId::parse("").is_err());
        assert!(PartyId::parse("91350100M000100YI3").is_err());
        assert!(PartyId::parse("9135010\u{0}M000100Y43").is_err());
        assert!(PartyId::parse("jy12101120000123").is_err());
        // 18 bytes but not 18 characters: refused, never sliced inside a character.
        assert!(PartyId::parse("91210112MA000000\u{e9}").is_err());
        assert!(PartyId::parse("\u{319a}'\u{1b132}=\u{1f574}<\\\u{fffd}").is_err());
    }

    #[test]
    fn lot_ids() {
        assert!(LotId::parse("HN-2026-0001").is_ok());
        assert!(LotId::parse("01/06901234567892/10/A1").is_ok());
        assert_eq!(
            LotId::parse("01/06901234567893/10/A1").unwrap_err().0,
            "GTIN '06901234567893' has a wrong check digit"
        );
        assert!(LotId::parse("-x").is_err());
        assert!(LotId::parse("a b").is_err());
        assert!(LotId::parse(&"a".repeat(65)).is_err());
        assert!(LotId::parse("<script>").is_err());
    }

    #[test]
    fn key_ids_round_trip() {
        let id = KeyId::of_public_key(&[7; 32]);
        assert_eq!(KeyId::parse(&id.to_string()).unwrap(), id);
        assert!(KeyId::parse("ABCDEF0123456789").is_err());
    }
}
