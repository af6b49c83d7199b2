//! `foodtrace`, the command line.
//!
//! [`run`] takes parsed arguments and does the work; `main.rs` only parses and reports.
//! Today it makes keys (`foodtrace keygen`); recall traces, audits, submission and bulk
//! import come with their issues.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ledger_core::KeyId;

/// The foodtrace command line.
#[derive(Parser, Debug)]
#[command(name = "foodtrace", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make a new Ed25519 key pair in a file readable only by you (mode 0600), and print
    /// its public key and key id. Never overwrites an existing file.
    Keygen {
        /// Where to write the key file.
        #[arg(long, short)]
        out: PathBuf,
    },
}

/// Runs a command, writing what it reports to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Keygen { out: path } => {
            let key = ledger_node::keys::generate_key();
            ledger_node::keys::write_key_file(&path, &key).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    anyhow::anyhow!(
                        "{} already exists; refusing to overwrite a key",
                        path.display()
                    )
                }
                _ => anyhow::anyhow!("cannot write {}: {e}", path.display()),
            })?;
            let public_key = key.verifying_key().to_bytes();
            writeln!(out, "key file:   {}", path.display())?;
            writeln!(out, "key id:     {}", KeyId::of_public_key(&public_key))?;
            writeln!(out, "public key: {}", hex_encode(&public_key))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
