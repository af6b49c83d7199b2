//! `foodtrace keygen` writes a private key file and never overwrites one.

use std::os::unix::fs::PermissionsExt;

use clap::Parser;
use foodtrace_cli::{Cli, run};

#[test]
fn keygen_writes_a_private_key_file_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("market.key");
    let mut out = Vec::new();
    let cli = Cli::parse_from(["foodtrace", "keygen", "--out", path.to_str().unwrap()]);
    run(cli, &mut out).unwrap();
    let printed = String::from_utf8(out).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = ledger_node::keys::read_key_file(&path).unwrap();
    let key_id = ledger_core::KeyId::of_public_key(key.verifying_key().as_bytes());
    assert!(
        printed.contains(&format!("key id:     {key_id}\n")),
        "{printed}"
    );

    let before = std::fs::read(&path).unwrap();
    let again = Cli::parse_from(["foodtrace", "keygen", "--out", path.to_str().unwrap()]);
    let error = run(again, &mut Vec::new()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} already exists; refusing to overwrite a key",
            path.display()
        )
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
