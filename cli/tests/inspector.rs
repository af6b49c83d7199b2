//! `foodtrace inspector add|revoke` manage the node's token file: hashes only, mode 0600.

use std::os::unix::fs::PermissionsExt;

use clap::Parser;
use foodtrace_cli::{Cli, run};

fn foodtrace(args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["foodtrace"];
    argv.extend_from_slice(args);
    let mut out = Vec::new();
    run(Cli::parse_from(argv), &mut out)?;
    Ok(String::from_utf8(out)?)
}

#[test]
fn tokens_are_printed_once_and_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let said = foodtrace(&["inspector", "add", "li.wei", "--data-dir", data_dir]).unwrap();
    let token = said.lines().last().unwrap();
    assert!(token.starts_with("ft_"), "{said}");
    let file = dir.path().join("inspector-tokens");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(token), "the file holds no token");
    assert!(text.contains(&query_api::auth::token_hash(token)));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let again = foodtrace(&["inspector", "add", "li.wei", "--data-dir", data_dir]);
    assert!(
        again
            .unwrap_err()
            .to_string()
            .contains("already has a token")
    );

    foodtrace(&["inspector", "revoke", "li.wei", "--data-dir", data_dir]).unwrap();
    let inspectors = query_api::auth::Inspectors::from_file(&file).unwrap();
    assert_eq!(
        inspectors.check(Some(&format!("Bearer {token}"))),
        Err(query_api::auth::AuthError::Revoked("li.wei".into()))
    );
    let nobody = foodtrace(&["inspector", "revoke", "zhang", "--data-dir", data_dir]);
    assert!(
        nobody
            .unwrap_err()
            .to_string()
            .contains("no inspector 'zhang'")
    );
}
