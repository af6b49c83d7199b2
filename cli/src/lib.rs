//! `foodtrace`, the command line.
//!
//! [`run`] takes parsed arguments and does the work; `main.rs` only parses and reports.
//! Inspector commands (`trace up|down`, `lot show`, `party show`, `events`) ask the query
//! API with a bearer token; they exit 3 when the server cannot be reached, 4 when it
//! refuses the token, 5 for an unknown lot or party ([`Failure`]).
//! Commands: `keygen` (a key file), `audit` (re-verify a whole ledger from its data
//! directory), `log-info`, `checkpoint` and `prove` (fetch the log's key, a signed
//! checkpoint, or a proof bundle from a node) and `verify` (check a proof bundle offline,
//! trusting nothing but the log key you pinned).

pub mod api;
pub mod bounds;
mod bundle;
pub mod follow;
pub mod import;
pub mod loadgen;
pub mod qr;
pub mod record;
pub mod render;

/// Formats of `foodtrace qr`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrFormat {
    /// SVG, with the product name under the code.
    Svg,
    /// PNG, with the product name under the code (drawn with an installed font).
    Png,
}

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ledger_core::KeyId;
use ledger_core::checkpoint::LogVerifier;

pub use api::{ApiArgs, ApiClient, Failure};
pub use bundle::ProofBundle;
use query_api::views::{EventsPage, LotView, LotsPage, PartyEventsPage, PartyView, TraceView};
use render::{TraceFormat, ViewFormat};

/// The foodtrace command line.
#[derive(Parser, Debug)]
#[command(name = "foodtrace", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the node's gRPC API is.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// The node's gRPC address.
    #[arg(
        long,
        env = "FOODTRACE_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// Trust the node's certificate if this CA issued it (PEM), for an `https://` node.
    #[arg(long, env = "FOODTRACE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Present this client certificate (PEM) to a node that asks for one; with
    /// --client-key.
    #[arg(long, env = "FOODTRACE_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key of --client-cert (PEM).
    #[arg(long, env = "FOODTRACE_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

impl ServerArgs {
    /// The node at `server`, with no TLS settings of its own.
    pub fn plain(server: impl Into<String>) -> ServerArgs {
        ServerArgs {
            server: server.into(),
            ca_cert: None,
            client_cert: None,
            client_key: None,
        }
    }

    /// The endpoint to connect to: TLS when the address is `https://` (the node's
    /// certificate checked against --ca-cert, the client's presented if given).
    pub fn endpoint(&self) -> anyhow::Result<tonic::transport::Endpoint> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        let endpoint = tonic::transport::Endpoint::from_shared(self.server.clone())
            .with_context(|| format!("'{}' is not a node address", self.server))?
            .tcp_nodelay(true);
        if !self.server.starts_with("https://") {
            return Ok(endpoint);
        }
        let mut tls = tonic::transport::ClientTlsConfig::new();
        match &self.ca_cert {
            Some(ca) => {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?))
            }
            None => bail!(
                "{} is https: pass --ca-cert (or set FOODTRACE_CA_CERT) with the CA that issued the node's certificate",
                self.server
            ),
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                read(cert)?,
                read(key)?,
            ));
        }
        Ok(endpoint.tls_config(tls)?)
    }

    /// A connection to the node, or exit code 3 saying why not. The node is asked for
    /// its health first, so that a connection the node refuses after the handshake (a
    /// missing or untrusted client certificate, plain text to a TLS port) fails here,
    /// with its cause, rather than at the first call.
    pub async fn connect(&self) -> Result<tonic::transport::Channel, Failure> {
        let endpoint = self.endpoint().map_err(|e| Failure {
            code: 1,
            message: format!("{e:#}"),
        })?;
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| record::unreachable(&self.server, &e))?;
        tonic_health::pb::health_client::HealthClient::new(channel.clone())
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|status| record::unreachable(&self.server, &status))?;
        Ok(channel)
    }
}

/// What every trace takes.
#[derive(clap::Args, Debug, Clone)]
pub struct TraceArgs {
    /// The lot (a local code, or the GS1 form 01/GTIN/10/LOT).
    pub lot: String,
    /// The query API and the token.
    #[command(flatten)]
    pub api: ApiArgs,
    /// How to print it.
    #[arg(long, short, value_enum, default_value = "table")]
    pub format: TraceFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Follow at most this many transform steps (splits, merges, processing).
    #[arg(long)]
    pub max_depth: Option<u32>,
    /// What the ledger knew as of this event sequence number.
    #[arg(long)]
    pub as_of: Option<u64>,
    /// Report only events from this time on (RFC 3339, or YYYY-MM-DD in Beijing time).
    #[arg(long)]
    pub from: Option<String>,
    /// Report only events before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Report only receipts at these stages (market_entry, warehouse, retail, canteen;
    /// comma-separated).
    #[arg(long)]
    pub stage: Option<String>,
}

/// `trace up` or `trace down`.
#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Where the lot went: every lot made from it and every party that received any of
    /// them, with quantities, dates and how each was reached (the recall list).
    Down(TraceArgs),
    /// Where the lot came from: the custody chain of everything in it back to every
    /// origin, with certificates, test results and recalls.
    Up {
        /// The trace.
        #[command(flatten)]
        trace: TraceArgs,
        /// Start from this party's receipts of the lot (its own custody chain).
        #[arg(long)]
        holder: Option<String>,
    },
}

/// `lot show`.
#[derive(Subcommand, Debug)]
pub enum LotCommand {
    /// A lot's product, recall status (inherited from upstream too), tests and history.
    Show {
        /// The lot.
        lot: String,
        /// The query API and the token.
        #[command(flatten)]
        api: ApiArgs,
        /// How to print it.
        #[arg(long, short, value_enum, default_value = "table")]
        format: ViewFormat,
        /// What the ledger knew as of this event sequence number.
        #[arg(long)]
        as_of: Option<u64>,
        /// History after this event (from a previous page).
        #[arg(long)]
        after: Option<u64>,
    },
}

/// `party show`.
#[derive(Subcommand, Debug)]
pub enum PartyCommand {
    /// A party's registry entry: name, role, region, status, contact, keys.
    Show {
        /// The party id.
        party: String,
        /// The query API and the token.
        #[command(flatten)]
        api: ApiArgs,
        /// How to print it.
        #[arg(long, short, value_enum, default_value = "table")]
        format: ViewFormat,
    },
}

/// `inspector add` and `inspector revoke`, run on the node's host.
#[derive(Subcommand, Debug)]
pub enum InspectorCommand {
    /// Give an inspector a new token: prints it once; the node keeps only its hash.
    Add {
        /// The inspector's name (e.g. li.wei).
        name: String,
        /// The node's data directory (its token file is `inspector-tokens` there).
        #[arg(long, env = "FOODTRACE_DATA_DIR", default_value = "foodtrace-data")]
        data_dir: PathBuf,
        /// The token file, if not the data directory's.
        #[arg(long)]
        tokens: Option<PathBuf>,
    },
    /// Revoke an inspector's token (the node refuses it within a second).
    Revoke {
        /// The inspector's name.
        name: String,
        /// The node's data directory.
        #[arg(long, env = "FOODTRACE_DATA_DIR", default_value = "foodtrace-data")]
        data_dir: PathBuf,
        /// The token file, if not the data directory's.
        #[arg(long)]
        tokens: Option<PathBuf>,
    },
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Recall traces (inspectors): `trace down LOT` (where it went) or `trace up LOT`
    /// (where it came from).
    Trace {
        /// Which way.
        #[command(subcommand)]
        direction: TraceCommand,
    },
    /// Lots (inspectors).
    Lot {
        /// What to do.
        #[command(subcommand)]
        command: LotCommand,
    },
    /// Parties (inspectors).
    Party {
        /// What to do.
        #[command(subcommand)]
        command: PartyCommand,
    },
    /// Events by time (inspectors), a page at a time: of one party, of one kind, or all.
    Events {
        /// Only this party's events (signed by it or naming it).
        #[arg(long, conflicts_with = "kind")]
        party: Option<String>,
        /// Only events of this kind (ORIGIN, SHIP, MARKET_ENTRY, ..., RECALL).
        #[arg(long)]
        kind: Option<String>,
        /// From this time (RFC 3339, or YYYY-MM-DD in Beijing time).
        #[arg(long)]
        from: Option<String>,
        /// Until this time.
        #[arg(long)]
        until: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue from a previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// The query API and the token.
        #[command(flatten)]
        api: ApiArgs,
        /// How to print them.
        #[arg(long, short, value_enum, default_value = "table")]
        format: ViewFormat,
    },
    /// Lots by creation time (inspectors), a page at a time: of one product, one
    /// creating party, or all.
    Lots {
        /// Only lots of this product (exact name).
        #[arg(long)]
        product: Option<String>,
        /// Only lots this party created.
        #[arg(long)]
        party: Option<String>,
        /// Created from this time (RFC 3339, or YYYY-MM-DD in Beijing time).
        #[arg(long)]
        from: Option<String>,
        /// Created before this time.
        #[arg(long)]
        until: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue from a previous page.
        #[arg(long)]
        cursor: Option<String>,
        /// The query API and the token.
        #[command(flatten)]
        api: ApiArgs,
        /// How to print them.
        #[arg(long, short, value_enum, default_value = "table")]
        format: ViewFormat,
    },
    /// A QR code of a lot's public page (the GS1 Digital Link when the lot has a GTIN),
    /// to print on a pack, a stall's sign or a menu board.
    Qr {
        /// The lot.
        lot: String,
        /// Where the public pages are served, as phones will reach them.
        #[arg(
            long,
            env = "FOODTRACE_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        base_url: String,
        /// `svg` or `png`, each with the product name under the code (default: by the
        /// output's extension, else SVG).
        #[arg(long, short, value_enum)]
        format: Option<QrFormat>,
        /// Where to write it.
        #[arg(long, short)]
        output: PathBuf,
        /// The product name to print (default: asked of the lot's public page).
        #[arg(long)]
        product: Option<String>,
        /// Trust the public page's certificate if a CA in this PEM file issued it, to ask
        /// an `https://` page for the product name (the system's bundle,
        /// /etc/ssl/certs/ca-certificates.crt, for a public certificate).
        #[arg(long, env = "FOODTRACE_PAGE_CA_CERT")]
        ca_cert: Option<PathBuf>,
    },
    /// Inspector tokens (run on the node's host).
    Inspector {
        /// What to do.
        #[command(subcommand)]
        command: InspectorCommand,
    },
    /// The party registry: register a party, add or revoke a key, suspend or reinstate
    /// (the authority, signing with its key); a party's status (anyone).
    Registry {
        /// What to do.
        #[command(subcommand)]
        command: record::RegistryCommand,
    },
    /// Sign events given as JSON (one object, or JSON lines; see `foodtrace-cli`'s
    /// `record` module docs or README) and send them to the node, printing each
    /// receipt. Exit code 6 if any is refused.
    Submit {
        /// The file of events, or `-` for standard input.
        input: PathBuf,
        /// Check and sign, print the hashes, send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Who signs.
        #[command(flatten)]
        signer: record::SignerArgs,
        /// The node.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Import purchase inspection records (进货查验记录) from a CSV spreadsheet: each row
    /// signed here as a receipt and streamed to the node, with a progress bar. Refused
    /// rows go to a rejects file to fix and import again; a rerun imports nothing twice.
    /// Columns: see README (`import --template FILE` writes an example).
    Import(import::ImportArgs),
    /// Push a realistic mix of signed events at a node from many concurrent streams and
    /// measure durable events a second and acknowledgement latency (BENCHMARKS.md). The
    /// authority's key registers the load's parties.
    Loadgen(loadgen::LoadgenArgs),
    /// Make a new Ed25519 key pair in a file readable only by you (mode 0600), and print
    /// its public key and key id. Never overwrites an existing file.
    Keygen {
        /// Where to write the key file.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Back up the ledger while its node runs (inspectors): the node writes a
    /// consistent copy (a RocksDB checkpoint, with its key and log files) into a new
    /// directory under its backup directory, and says where.
    Backup {
        /// The backup's name (default: the UTC time, like 20261129T063000Z).
        #[arg(long)]
        name: Option<String>,
        /// The query API and the token.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Make a data directory from a backup, and audit it: every hash, signature,
    /// admission rule, the Merkle tree and every checkpoint. A copy that fails the
    /// audit is removed.
    Restore {
        /// The backup's directory (as `foodtrace backup` printed it).
        #[arg(long)]
        from: PathBuf,
        /// The new data directory (must not exist, or be empty).
        #[arg(long)]
        data_dir: PathBuf,
        /// The log's verifier key to check checkpoints with. Without it the backup's own
        /// verifier key file is used, which proves nothing against whoever wrote the backup.
        #[arg(long)]
        log_key: Option<String>,
    },
    /// Re-verify a whole ledger from its data directory: every hash, signature and
    /// admission rule in order, the Merkle tree, every checkpoint. Safe beside a running node.
    Audit {
        /// The node's data directory.
        #[arg(long, env = "FOODTRACE_DATA_DIR", default_value = "foodtrace-data")]
        data_dir: PathBuf,
        /// Audit the log a node serves (downloaded and verified here) instead of a
        /// data directory; needs --log-key.
        #[arg(long, requires = "log_key")]
        server: Option<String>,
        /// The log's verifier key to check checkpoints with. Without it the directory's
        /// own node key is used, which proves nothing against whoever controls the directory.
        #[arg(long)]
        log_key: Option<String>,
        /// With --server: a checkpoint held from before, which the log must contain.
        #[arg(long, requires = "server")]
        known: Option<PathBuf>,
        /// With an `https://` --server: the CA that issued the node's certificate (PEM).
        #[arg(long, env = "FOODTRACE_CA_CERT", requires = "server")]
        ca_cert: Option<PathBuf>,
    },
    /// Follow a node's log as it grows, verifying every event and checkpoint against the
    /// pinned log key, and against a checkpoint held from before; a fork is reported
    /// with both checkpoints (exit code 2).
    Follow {
        /// The node to follow.
        #[command(flatten)]
        server: ServerArgs,
        /// The log's verifier key, as `log-info` printed it.
        #[arg(long)]
        log_key: String,
        /// A checkpoint held from before (a file), which the log must contain.
        #[arg(long)]
        known: Option<PathBuf>,
        /// Stop once caught up with the latest checkpoint.
        #[arg(long)]
        until_caught_up: bool,
    },
    /// Print the log's identity and verifier key (pin it: `verify` needs it).
    LogInfo {
        /// The node to ask.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the latest signed checkpoint (keep it: it is what later proofs are checked against).
    Checkpoint {
        /// The node to ask.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Fetch a proof bundle for one event: the event, a signed checkpoint and the
    /// inclusion proof, and with --since, the proof that an older checkpoint's log is a
    /// prefix of the new one. Written as JSON to standard output.
    Prove {
        /// The node to ask.
        #[command(flatten)]
        server: ServerArgs,
        /// The event's hash (64 hex digits).
        #[arg(
            long,
            conflicts_with = "sequence",
            required_unless_present = "sequence"
        )]
        event: Option<String>,
        /// The event's sequence number.
        #[arg(long)]
        sequence: Option<u64>,
        /// A checkpoint saved earlier (a file): include its consistency proof.
        #[arg(long)]
        since: Option<PathBuf>,
    },
    /// Check a proof bundle offline against a pinned log key.
    Verify {
        /// The log's verifier key, as `log-info` printed it.
        #[arg(long)]
        log_key: String,
        /// The bundle `prove` wrote.
        bundle: PathBuf,
    },
}

/// Runs a command, writing what it reports to `out` (progress goes to standard error).
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Trace { direction } => {
            let (args, downstream, holder) = match direction {
                TraceCommand::Down(args) => (args, true, None),
                TraceCommand::Up { trace, holder } => (trace, false, holder),
            };
            trace(&args, downstream, holder.as_deref(), out)
        }
        Command::Lot {
            command:
                LotCommand::Show {
                    lot,
                    api,
                    format,
                    as_of,
                    after,
                },
        } => {
            let client = ApiClient::from_args(&api)?;
            let mut query = Query::default();
            query.push("as_of", as_of);
            query.push("after", after);
            let path = format!("/v1/lots/{}{}", api::segment(&lot), query.text());
            let view: LotView = runtime()?.block_on(client.get(&path))?;
            match format {
                ViewFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?,
                ViewFormat::Table => write!(out, "{}", render::lot_table(&view))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Party {
            command: PartyCommand::Show { party, api, format },
        } => {
            let client = ApiClient::from_args(&api)?;
            let path = format!("/v1/parties/{}", api::segment(&party));
            let view: PartyView = runtime()?.block_on(client.get(&path))?;
            match format {
                ViewFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&view)?)?,
                ViewFormat::Table => write!(out, "{}", render::party_table(&view))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Events {
            party,
            kind,
            from,
            until,
            limit,
            cursor,
            api,
            format,
        } => {
            let client = ApiClient::from_args(&api)?;
            let mut query = Query::default();
            query.push("from", from);
            query.push("until", until);
            query.push("limit", Some(limit));
            query.push("cursor", cursor);
            let runtime = runtime()?;
            // A party's events, or events by kind: the same list either way.
            let (json, events, next_cursor) = match party {
                Some(party) => {
                    let path = format!(
                        "/v1/parties/{}/events{}",
                        api::segment(&party),
                        query.text()
                    );
                    let page: PartyEventsPage = runtime.block_on(client.get(&path))?;
                    (
                        serde_json::to_string_pretty(&page)?,
                        page.events,
                        page.next_cursor,
                    )
                }
                None => {
                    query.push("kind", kind);
                    let path = format!("/v1/events{}", query.text());
                    let page: EventsPage = runtime.block_on(client.get(&path))?;
                    (
                        serde_json::to_string_pretty(&page)?,
                        page.events,
                        page.next_cursor,
                    )
                }
            };
            match format {
                ViewFormat::Json => writeln!(out, "{json}")?,
                ViewFormat::Table => write!(
                    out,
                    "{}",
                    render::events_table(&events, next_cursor.as_deref())
                )?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Lots {
            product,
            party,
            from,
            until,
            limit,
            cursor,
            api,
            format,
        } => {
            let client = ApiClient::from_args(&api)?;
            let mut query = Query::default();
            query.push("product", product);
            query.push("party", party);
            query.push("from", from);
            query.push("until", until);
            query.push("limit", Some(limit));
            query.push("cursor", cursor);
            let page: LotsPage =
                runtime()?.block_on(client.get(&format!("/v1/lots{}", query.text())))?;
            match format {
                ViewFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&page)?)?,
                ViewFormat::Table => write!(out, "{}", render::lots_table(&page))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Loadgen(args) => {
            let reports = loadgen::run(&args, out)?;
            if reports.iter().any(|r| r.refused > 0) {
                return Err(Failure {
                    code: record::EXIT_EVENT_REFUSED,
                    message: "the node refused some of the load's events".into(),
                }
                .into());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspector { command } => inspector(command, out),
        Command::Qr {
            lot,
            base_url,
            format,
            output,
            product,
            ca_cert,
        } => {
            let url = qr::page_url(&base_url, &lot);
            let product = match product {
                Some(product) => product,
                None => {
                    let page: query_api::public::PublicLot =
                        runtime()?.block_on(ApiClient::public(&url, ca_cert.as_deref()))?;
                    page.product_name
                }
            };
            let format = format.unwrap_or(match output.extension().and_then(|e| e.to_str()) {
                Some(ext) if ext.eq_ignore_ascii_case("png") => QrFormat::Png,
                _ => QrFormat::Svg,
            });
            let bytes = match format {
                QrFormat::Png => {
                    let (png, missing) = qr::png(&url, &product)?;
                    if let Some(missing) = missing {
                        eprintln!(
                            "warning: no installed font has '{missing}', so the name under the code is incomplete; install a CJK font (apt-get install fonts-wqy-microhei, or fonts-noto-cjk)"
                        );
                    }
                    png
                }
                QrFormat::Svg => qr::svg(&url, &product)?.into_bytes(),
            };
            std::fs::write(&output, bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            writeln!(out, "{url}")?;
            writeln!(out, "wrote {}", output.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { out: path } => keygen(&path, out),
        Command::Registry { command } => record::registry_command(command, out),
        Command::Import(args) => import::run(args, out),
        Command::Submit {
            input,
            dry_run,
            signer,
            server,
        } => record::submit(&input, &signer, &server, dry_run, out),
        Command::Backup { name, api } => {
            let client = ApiClient::from_args(&api)?;
            let mut query = Query::default();
            query.push("name", name);
            let report: query_api::backup::BackupReport =
                runtime()?.block_on(client.post(&format!("/v1/backups{}", query.text())))?;
            writeln!(
                out,
                "backup {}: {} events{}, {:.1} MiB, in {} ms\n  on the node's machine: {}",
                report.name,
                report.events,
                report
                    .checkpoint_tree_size
                    .map(|size| format!(" (latest checkpoint: {size})"))
                    .unwrap_or_default(),
                report.bytes as f64 / (1 << 20) as f64,
                report.took_ms,
                report.path
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore {
            from,
            data_dir,
            log_key,
        } => restore(&from, &data_dir, log_key.as_deref(), out),
        Command::Audit {
            data_dir,
            server: None,
            log_key,
            ..
        } => audit(&data_dir, log_key.as_deref(), out),
        Command::Audit {
            server: Some(server),
            log_key,
            known,
            ca_cert,
            ..
        } => {
            let verifier = parse_log_key(log_key.as_deref().unwrap_or_default())?;
            let known = read_optional(known.as_deref())?;
            let server = ServerArgs {
                ca_cert,
                ..ServerArgs::plain(server)
            };
            let followed = runtime()?.block_on(follow::follow(
                &server,
                &verifier,
                known.as_deref(),
                true,
                |_| {},
            ));
            match followed {
                Ok(followed) => report_audit(&followed.into_store(), &verifier, out),
                Err(error) => {
                    writeln!(out, "FAILED: {error}")?;
                    Ok(fork_or_failure(&error))
                }
            }
        }
        Command::Follow {
            server,
            log_key,
            known,
            until_caught_up,
        } => {
            let verifier = parse_log_key(&log_key)?;
            let known = read_optional(known.as_deref())?;
            let mut lines = Vec::new();
            let result = runtime()?.block_on(follow::follow(
                &server,
                &verifier,
                known.as_deref(),
                until_caught_up,
                |c| {
                    let line = format!("checkpoint: {} events, root {}", c.size, c.root);
                    eprintln!("{line}");
                    lines.push(line);
                },
            ));
            for line in lines {
                writeln!(out, "{line}")?;
            }
            match result {
                Ok(followed) => {
                    writeln!(out, "caught up: {} events verified", followed.events.len())?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    writeln!(out, "{error}")?;
                    Ok(fork_or_failure(&error))
                }
            }
        }
        Command::LogInfo { server } => {
            let info = runtime()?.block_on(bundle::log_info(&server))?;
            writeln!(out, "origin:       {}", info.origin)?;
            writeln!(out, "verifier key: {}", info.verifier_key)?;
            writeln!(out, "tree size:    {}", info.tree_size)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkpoint { server } => {
            let note = runtime()?.block_on(bundle::latest_checkpoint(&server))?;
            write!(out, "{note}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Prove {
            server,
            event,
            sequence,
            since,
        } => {
            let since = since
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))
                })
                .transpose()?;
            let bundle =
                runtime()?.block_on(bundle::fetch(&server, event.as_deref(), sequence, since))?;
            writeln!(out, "{}", serde_json::to_string_pretty(&bundle)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            log_key,
            bundle: path,
        } => {
            let verifier =
                LogVerifier::parse(&log_key).map_err(|e| anyhow::anyhow!("--log-key: {e}"))?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let bundle: ProofBundle = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a proof bundle", path.display()))?;
            match bundle.verify(&verifier) {
                Ok(summary) => {
                    write!(out, "{summary}")?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    writeln!(out, "NOT VERIFIED: {error:#}")?;
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// Query parameters, percent-encoded.
#[derive(Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn push(&mut self, name: &str, value: Option<impl ToString>) {
        if let Some(value) = value {
            self.0.push((name.to_owned(), value.to_string()));
        }
    }

    fn text(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(name, value)| format!("{name}={}", api::segment(value)))
            .collect();
        format!("?{}", pairs.join("&"))
    }
}

fn trace(
    args: &TraceArgs,
    downstream: bool,
    holder: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let client = ApiClient::from_args(&args.api)?;
    let mut query = Query::default();
    query.push("max_depth", args.max_depth);
    query.push("as_of", args.as_of);
    query.push("from", args.from.as_ref());
    query.push("until", args.until.as_ref());
    query.push("stage", args.stage.as_ref());
    query.push("holder", holder);
    let path = format!(
        "/v1/lots/{}/trace/{}{}",
        api::segment(&args.lot),
        if downstream { "down" } else { "up" },
        query.text()
    );
    let view: TraceView = runtime()?.block_on(client.get(&path))?;
    let text = match args.format {
        TraceFormat::Table => render::trace_table(&view),
        TraceFormat::Json => format!("{}\n", serde_json::to_string_pretty(&view)?),
        TraceFormat::Csv => render::trace_csv(&view)?,
        TraceFormat::Dot => render::trace_dot(&view),
        TraceFormat::Svg => render::dot_to_svg(&render::trace_dot(&view))?,
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            writeln!(out, "wrote {}", path.display())?;
        }
        None => write!(out, "{text}")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn inspector(command: InspectorCommand, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    use query_api::auth::Inspectors;
    let file = |data_dir: &std::path::Path, tokens: Option<PathBuf>| {
        tokens.unwrap_or_else(|| data_dir.join("inspector-tokens"))
    };
    match command {
        InspectorCommand::Add {
            name,
            data_dir,
            tokens,
        } => {
            let path = file(&data_dir, tokens);
            let token = Inspectors::add_to_file(&path, &name).map_err(|e| anyhow::anyhow!(e))?;
            writeln!(out, "inspector '{name}' added to {}", path.display())?;
            writeln!(out, "token (shown once; the node keeps only its hash):")?;
            writeln!(out, "{token}")?;
        }
        InspectorCommand::Revoke {
            name,
            data_dir,
            tokens,
        } => {
            let path = file(&data_dir, tokens);
            Inspectors::revoke_in_file(&path, &name).map_err(|e| anyhow::anyhow!(e))?;
            writeln!(out, "inspector '{name}' revoked in {}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_log_key(text: &str) -> anyhow::Result<LogVerifier> {
    LogVerifier::parse(text).map_err(|e| anyhow::anyhow!("--log-key: {e}"))
}

fn read_optional(path: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    path.map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()
}

/// Exit code 2 for a fork (evidence of a misbehaving log), 1 for anything else wrong.
fn fork_or_failure(error: &follow::FollowError) -> ExitCode {
    match error {
        follow::FollowError::Fork { .. } => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn keygen(path: &std::path::Path, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let key = ledger_node::keys::generate_key();
    ledger_node::keys::write_key_file(path, &key).map_err(|e| match e.kind() {
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
    writeln!(out, "public key: {}", hex::encode(public_key))?;
    Ok(ExitCode::SUCCESS)
}

fn audit(
    data_dir: &std::path::Path,
    log_key: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let data_dir = ledger_node::DataDir::new(data_dir);
    let verifier_key = match log_key {
        Some(key) => key.to_owned(),
        None => {
            let origin =
                std::fs::read_to_string(data_dir.path().join("log-origin")).with_context(|| {
                    format!(
                        "{} has no log-origin file; pass --log-key",
                        data_dir.path().display()
                    )
                })?;
            let key = ledger_node::keys::read_key_file(&data_dir.node_key())?;
            eprintln!(
                "warning: checking checkpoints with the directory's own node key; pass --log-key to check against a key you pinned"
            );
            ledger_core::checkpoint::LogSigner::new(origin.trim(), key)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .verifier_key()
        }
    };
    let verifier = parse_log_key(&verifier_key)?;
    let store = ledger_rocksdb::RocksStore::open_read_only(&data_dir.ledger())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    report_audit(&store, &verifier, out)
}

fn restore(
    from: &std::path::Path,
    data_dir: &std::path::Path,
    log_key: Option<&str>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    if !from.join("ledger").join("CURRENT").is_file() {
        bail!(
            "{} is not a backup: it has no ledger/ directory (a RocksDB checkpoint)",
            from.display()
        );
    }
    if std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "{} exists and is not empty; restore into a new directory",
            data_dir.display()
        );
    }
    copy_tree(from, data_dir)
        .with_context(|| format!("copying {} to {}", from.display(), data_dir.display()))?;
    writeln!(
        out,
        "restored {} into {}",
        from.display(),
        data_dir.display()
    )?;
    let audited = audit(data_dir, log_key, out);
    match &audited {
        Ok(code) if *code == ExitCode::SUCCESS => {}
        _ => {
            std::fs::remove_dir_all(data_dir)
                .with_context(|| format!("removing {}", data_dir.display()))?;
            writeln!(
                out,
                "the restored copy failed its audit and was removed: {} is not usable",
                from.display()
            )?;
        }
    }
    audited
}

/// Copies the directory `from` into `to` (created), file by file.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn report_audit(
    store: &dyn ledger_store::LedgerStore,
    verifier: &LogVerifier,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let report = ledger_node::audit::audit(store, verifier, |done, total| {
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
        eprint!("\raudited {done}/{total} events ({rate:.0}/s)   ");
    });
    eprintln!();
    match report {
        Ok(report) => {
            writeln!(
                out,
                "ok: {} events and {} checkpoints verified in {:.1} s; root {}",
                report.n_events,
                report.n_checkpoints,
                started.elapsed().as_secs_f64(),
                report.root
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            writeln!(out, "FAILED: {failure}")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Refuses a bundle field that does not decode.
pub(crate) fn hex_field<const N: usize>(name: &str, text: &str) -> anyhow::Result<[u8; N]> {
    let bytes = hex::decode(text).with_context(|| format!("{name} is not hex"))?;
    let Ok(array) = <[u8; N]>::try_from(bytes.as_slice()) else {
        bail!("{name} must be {N} bytes, got {}", bytes.len());
    };
    Ok(array)
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks of every command (unique argument names, valid
    /// defaults): a mistake there would otherwise show only when the command runs.
    #[test]
    fn the_command_line_is_well_formed() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
