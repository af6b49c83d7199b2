//! The key file: one Ed25519 key pair as JSON, as `foodtrace keygen` writes it.
//!
//! ```json
//! {"format":"foodtrace-ed25519-key-v1","key_id":"…16 hex…","public_key":"…64 hex…","secret_key":"…64 hex…"}
//! ```
//!
//! `secret_key` is the 32-byte Ed25519 seed. Reading checks that `public_key` and
//! `key_id` belong to it, so a hand-edited file cannot sign under another key's name.
//! Files are written by the binaries with mode 0600; this module only formats.

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::ids::{InvalidValue, KeyId};

/// The `format` value of a key file.
pub const KEY_FILE_FORMAT: &str = "foodtrace-ed25519-key-v1";

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    key_id: String,
    public_key: String,
    secret_key: String,
}

/// The key file text of `key`.
pub fn to_key_file(key: &SigningKey) -> String {
    let public_key = key.verifying_key().to_bytes();
    let file = KeyFile {
        format: KEY_FILE_FORMAT.into(),
        key_id: KeyId::of_public_key(&public_key).to_string(),
        public_key: hex::encode(public_key),
        secret_key: hex::encode(key.to_bytes()),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("key files serialize");
    text.push('\n');
    text
}

/// Reads a key file's text.
pub fn from_key_file(text: &str) -> Result<SigningKey, InvalidValue> {
    let file: KeyFile = serde_json::from_str(text)
        .map_err(|e| InvalidValue(format!("not a foodtrace key file: {e}")))?;
    if file.format != KEY_FILE_FORMAT {
        return Err(InvalidValue(format!(
            "unknown key file format '{}'",
            file.format
        )));
    }
    let mut seed = [0u8; 32];
    hex::decode_to_slice(&file.secret_key, &mut seed)
        .map_err(|_| InvalidValue("secret_key is not 64 hex digits".into()))?;
    let key = SigningKey::from_bytes(&seed);
    let public_key = key.verifying_key().to_bytes();
    if hex::encode(public_key) != file.public_key.to_ascii_lowercase() {
        return Err(InvalidValue(
            "public_key does not belong to secret_key".into(),
        ));
    }
    if KeyId::of_public_key(&public_key).to_string() != file.key_id {
        return Err(InvalidValue("key_id does not belong to public_key".into()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let text = to_key_file(&key);
        assert_eq!(from_key_file(&text).unwrap().to_bytes(), key.to_bytes());
        let other = hex::encode(SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes());
        let tampered = text.replace(&hex::encode(key.verifying_key().to_bytes()), &other);
        assert_eq!(
            from_key_file(&tampered).unwrap_err().0,
            "public_key does not belong to secret_key"
        );
        assert!(from_key_file("{}").is_err());
    }
}
