//! `foodtrace`: see the library's documentation and README.md.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc, as in the node: the audit allocates each event's parts on one thread and
/// frees them on the verifying threads, which glibc's malloc serialises on an arena lock.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = foodtrace_cli::Cli::parse();
    match foodtrace_cli::run(cli, &mut std::io::stdout()) {
        Ok(code) => code,
        // The reader went away (`foodtrace … | head`): nothing is wrong with the command.
        Err(error)
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("foodtrace: {error:#}");
            match error.downcast_ref::<foodtrace_cli::Failure>() {
                Some(failure) => ExitCode::from(failure.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}
