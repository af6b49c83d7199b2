//! Writes the fuzzers' seed corpora (`fuzz/run.sh` runs this): each event of
//! [`district_synth::small_history`], as the fuzz targets read their input (the
//! 64-byte signature, then the body), one file each, into every directory given.

use chrono::{FixedOffset, TimeZone};
use district_synth::{Recorder, authority_id, small_history};
use ed25519_dalek::SigningKey;
use ledger_core::model::PartyRole;

fn main() -> std::io::Result<()> {
    let authority = Recorder::new(
        authority_id(),
        PartyRole::Authority,
        SigningKey::from_bytes(&[0xA1; 32]),
    );
    let now = FixedOffset::east_opt(8 * 3600)
        .expect("UTC+8")
        .with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
        .single()
        .expect("a valid time");
    let history = small_history(&authority, now);
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir)?;
        for (i, event) in history.iter().enumerate() {
            let mut bytes = event.signature.clone();
            bytes.extend_from_slice(&event.body);
            std::fs::write(format!("{dir}/event-{i:05}"), bytes)?;
        }
    }
    eprintln!("{} seeds in each of: {}", history.len(), dirs.join(", "));
    Ok(())
}
