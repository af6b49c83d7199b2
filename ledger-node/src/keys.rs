//! Key files on disk: created with mode 0600, never overwritten.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ed25519_dalek::SigningKey;

/// Writes `key` as a new key file readable only by its owner. Refuses to overwrite.
pub fn write_key_file(path: &Path, key: &SigningKey) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(ledger_core::keyfile::to_key_file(key).as_bytes())?;
    file.sync_all()
}

/// Reads a key file.
pub fn read_key_file(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?;
    ledger_core::keyfile::from_key_file(&text)
        .map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))
}

/// A fresh random key.
pub fn generate_key() -> SigningKey {
    SigningKey::generate(&mut rand::rngs::OsRng)
}
