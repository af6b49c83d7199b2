//! `foodtrace`: see the library's documentation and README.md.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = foodtrace_cli::Cli::parse();
    match foodtrace_cli::run(cli, &mut std::io::stdout()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("foodtrace: {error:#}");
            match error.downcast_ref::<foodtrace_cli::Failure>() {
                Some(failure) => ExitCode::from(failure.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}
