//! `ledger-node`: runs a foodtrace ledger node. See README.md.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use clap::Parser;
use district_synth::{Recorder, Scale, authority_id};
use ledger_core::PartyId;
use ledger_core::model::PartyRole;
use ledger_node::{
    AuthorityIdentity, DataDir, GroupLinger, GrpcOptions, HttpOptions, RocksOptions, WriterConfig,
    initialize, keys, open_ledger_with,
};
use ledger_proto::Signer;
use query_api::connections::ConnectionLimit;
use tracing_subscriber::EnvFilter;

/// mimalloc: a trace or a page allocates hundreds of small strings, and glibc's malloc
/// was a third of the time spent answering one (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A foodtrace ledger node: gRPC ingest of signed events into RocksDB, and the query API.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Where the ledger lives.
    #[arg(long, env = "FOODTRACE_DATA_DIR", default_value = "foodtrace-data")]
    data_dir: PathBuf,
    /// Address for gRPC (producers, markets, the authority).
    #[arg(long, env = "FOODTRACE_GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    grpc_listen: SocketAddr,
    /// Address for the HTTP query API.
    #[arg(long, env = "FOODTRACE_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    http_listen: SocketAddr,
    /// On a new data directory: create a demo authority (its key saved in the data
    /// directory) and a synthetic district of about 1,200 parties and their lots.
    #[arg(long)]
    demo: bool,
    /// On a new data directory: the authority's key file (from `foodtrace keygen`).
    #[arg(long, conflicts_with = "demo")]
    authority_key: Option<PathBuf>,
    /// The authority's party id (unified social credit code).
    #[arg(long, requires = "authority_key")]
    authority_id: Option<String>,
    /// The authority's name.
    #[arg(long, default_value = "沈阳市浑南区市场监督管理局")]
    authority_name: String,
    /// The authority's region code.
    #[arg(long, default_value = district_synth::HUNNAN)]
    authority_region: String,
    /// The log's identity in its signed checkpoints (set once, when the data directory
    /// is new; default foodtrace/ledger).
    #[arg(long)]
    log_origin: Option<String>,
    /// The inspectors' token file (default: `inspector-tokens` in the data directory;
    /// manage it with `foodtrace inspector add|revoke`).
    #[arg(long, env = "FOODTRACE_INSPECTOR_TOKENS")]
    inspector_tokens: Option<PathBuf>,
    /// Lot facts the trace cache keeps in memory at most (about 250 bytes each).
    #[arg(long, default_value_t = query_api::DEFAULT_CACHED_FACTS)]
    cached_facts: u64,
    /// Lots whose public pages are kept built (a few kilobytes each; 0: build every page
    /// when it is asked for).
    #[arg(long, default_value_t = query_api::public::DEFAULT_CACHED_PAGES)]
    cached_pages: usize,
    /// Serve gRPC and HTTP over TLS with this certificate chain (PEM; with --tls-key).
    #[arg(long, env = "FOODTRACE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "FOODTRACE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With TLS: gRPC clients that present a certificate must have one issued by this
    /// CA (PEM); producers' systems can then be told apart from anyone else's.
    #[arg(long, env = "FOODTRACE_GRPC_CLIENT_CA", requires = "tls_cert")]
    grpc_client_ca: Option<PathBuf>,
    /// With --grpc-client-ca: refuse gRPC clients that present no certificate.
    #[arg(long, requires = "grpc_client_ca")]
    grpc_require_client_cert: bool,
    /// Events a second each party (but the authority) may record, sustained; past it
    /// its events are refused with RESOURCE_EXHAUSTED and a time to retry in. 0: no
    /// limit.
    #[arg(long, env = "FOODTRACE_PARTY_RATE", default_value_t = 2_000)]
    party_rate: u32,
    /// Events each party may record at once after a quiet spell (a market's morning
    /// sheet of tens of thousands of receipts goes through at full speed).
    #[arg(long, env = "FOODTRACE_PARTY_BURST", default_value_t = 100_000)]
    party_burst: u32,
    /// Under load (the writer's verifier busy at least half the time lately), how long,
    /// in microseconds, a batch's first event may wait for more to gather: signatures are
    /// cheaper to check in bigger batches. 0: never wait.
    #[arg(long, env = "FOODTRACE_GROUP_LINGER_US", default_value_t = GroupLinger::DEFAULT_WAIT_US)]
    group_linger_us: u64,
    /// The events that end that wait once queued.
    #[arg(long, env = "FOODTRACE_GROUP_LINGER_EVENTS", default_value_t = GroupLinger::DEFAULT_UNTIL)]
    group_linger_events: usize,
    /// Seconds an HTTP answer may take before the client gets a 503 saying so.
    #[arg(long, default_value_t = 30)]
    http_request_timeout_secs: u64,
    /// Seconds a gRPC call may take (reading its request included) before the node ends
    /// it with CANCELLED; streaming calls are not cut off.
    #[arg(long, default_value_t = ledger_node::DEFAULT_CALL_TIMEOUT.as_secs())]
    grpc_call_timeout_secs: u64,
    /// gRPC connections held open at once; more are closed as they come.
    #[arg(long, env = "FOODTRACE_GRPC_MAX_CONNECTIONS", default_value_t = ConnectionLimit::GRPC.total)]
    grpc_max_connections: usize,
    /// gRPC connections one client address (IPv4 address, IPv6 /64) may hold open at once.
    #[arg(long, env = "FOODTRACE_GRPC_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = ConnectionLimit::GRPC.per_address)]
    grpc_max_connections_per_address: usize,
    /// Where inspectors' backups (`foodtrace backup`) are written, each in a directory of
    /// its own (default: `backups` in the data directory; on the same file system the
    /// ledger's tables are hard-linked, not copied).
    #[arg(long, env = "FOODTRACE_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// RocksDB's block cache (tables' data, index and filter blocks), in MiB.
    #[arg(long, default_value_t = 64)]
    block_cache_mib: usize,
    /// RocksDB's memtables, all column families together, in MiB (writes wait for
    /// flushes beyond this).
    #[arg(long, default_value_t = 64)]
    memtable_mib: usize,
    #[command(flatten)]
    rate_limit: query_api::limit::RateLimitArgs,
    #[command(flatten)]
    http_connections: query_api::connections::HttpConnectionArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    let data_dir = DataDir::new(&args.data_dir);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ledger_node::NodeTls {
            identity: query_api::tls::TlsIdentity::from_files(cert, key)
                .map_err(|e| anyhow::anyhow!("--tls-cert/--tls-key: {e}"))?,
            grpc_client_ca_pem: args
                .grpc_client_ca
                .as_ref()
                .map(|path| {
                    std::fs::read(path).with_context(|| {
                        format!("--grpc-client-ca: cannot read {}", path.display())
                    })
                })
                .transpose()?,
            require_client_cert: args.grpc_require_client_cert,
        }),
        _ => None,
    };
    let ledger = open_ledger_with(
        &data_dir,
        args.log_origin.as_deref(),
        WriterConfig {
            party_rate: (args.party_rate > 0 && args.party_burst > 0).then_some(
                ledger_core::rate::SubmissionRate {
                    per_second: args.party_rate,
                    burst: args.party_burst,
                },
            ),
            linger: GroupLinger {
                wait: std::time::Duration::from_micros(args.group_linger_us),
                until: args.group_linger_events,
                ..GroupLinger::default()
            },
            ..WriterConfig::default()
        },
        &RocksOptions {
            block_cache_bytes: args.block_cache_mib << 20,
            memtable_bytes: args.memtable_mib << 20,
            ..RocksOptions::default()
        },
    )?;
    tracing::info!(
        verifier_key = ledger.verifier_key(),
        "checkpoints are signed by this key"
    );
    // Beijing time, to the second: what users in the district read.
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now().with_timezone(&beijing), 0);

    let has_authority = ledger.store().authority()?.is_some();
    let mut showcase = None;
    if !has_authority {
        let (key, party_id) = if args.demo {
            let key = keys::generate_key();
            keys::write_key_file(&data_dir.demo_authority_key(), &key)
                .with_context(|| format!("writing {}", data_dir.demo_authority_key().display()))?;
            (key, authority_id())
        } else if let Some(path) = &args.authority_key {
            let id = args
                .authority_id
                .as_deref()
                .context("--authority-id is required with --authority-key")?;
            (
                keys::read_key_file(path)?,
                PartyId::parse(id).map_err(|e| anyhow::anyhow!("--authority-id: {e}"))?,
            )
        } else {
            bail!(
                "{} holds no ledger yet: start with --demo for a demo district, or initialize it with --authority-key FILE --authority-id ID",
                args.data_dir.display()
            );
        };
        let signer = Signer::new(party_id.clone(), key.clone());
        let identity = AuthorityIdentity {
            party_id: party_id.clone(),
            name: args.authority_name.clone(),
            region: args.authority_region.clone(),
        };
        // The demo district's history reaches 60 days back, so its authority's key must be
        // valid from before then; a real authority's key is valid from now on.
        let valid_from = if args.demo {
            now - Duration::days(400)
        } else {
            now
        };
        let receipt = initialize(&ledger, &signer, &identity, valid_from)
            .await
            .map_err(|r| anyhow::anyhow!("initializing the ledger: {r}"))?;
        tracing::info!(authority = %party_id, key_id = %signer.key_id(), ?receipt, "ledger initialized");
        if args.demo {
            let authority = Recorder::new(party_id, PartyRole::Authority, key);
            let district = district_synth::generate(
                &authority,
                &Scale::district(),
                2026,
                now - Duration::minutes(1),
            );
            let n_events = district.events.len();
            ledger_node::submit_in_order(&ledger, district.events)
                .await
                .map_err(|(position, r)| anyhow::anyhow!("demo event {position} refused: {r}"))?;
            tracing::info!(
                n_events,
                n_parties = district.parties.len(),
                "demo district recorded"
            );
            showcase = Some(district.showcase);
        }
    }

    let grpc = tokio::net::TcpListener::bind(args.grpc_listen)
        .await
        .with_context(|| format!("binding gRPC to {}", args.grpc_listen))?;
    let http = tokio::net::TcpListener::bind(args.http_listen)
        .await
        .with_context(|| format!("binding HTTP to {}", args.http_listen))?;
    tracing::info!(grpc = %grpc.local_addr()?, http = %http.local_addr()?, data_dir = %args.data_dir.display(), "serving");
    if let Some(showcase) = showcase {
        let base = ledger_node::page_base_url(http.local_addr()?);
        println!(
            "\nThe demo's public lot pages (open one in a browser; `foodtrace qr LOT --base-url {base} -o lot.png` makes its QR code):"
        );
        for (lot, what) in [
            (&showcase.on_sale, "on sale, passed its quick test"),
            (&showcase.recalled, "recalled"),
            (
                &showcase.meal_with_recalled_ingredient,
                "a school meal cooked from the recalled lot",
            ),
            (&showcase.failed_test, "failed its quick test"),
        ] {
            if let Some(lot) = lot {
                println!("  {:<50} {what}", format!("{base}/l/{lot}"));
            }
        }
        println!();
    }
    let http_options = HttpOptions {
        inspector_tokens: args
            .inspector_tokens
            .clone()
            .unwrap_or_else(|| data_dir.inspector_tokens()),
        cached_facts: args.cached_facts,
        public_rate_limit: args.rate_limit.limit(),
        cached_pages: args.cached_pages,
        request_timeout: std::time::Duration::from_secs(args.http_request_timeout_secs.max(1)),
        backups: Some(
            data_dir.backup_target(
                args.backup_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.path().join("backups")),
            ),
        ),
        tls: tls.as_ref().map(|tls| tls.identity.clone()),
        connections: args.http_connections.limit(),
    };
    let grpc_options = GrpcOptions {
        tls,
        call_timeout: std::time::Duration::from_secs(args.grpc_call_timeout_secs.max(1)),
        connections: ConnectionLimit {
            total: args.grpc_max_connections,
            per_address: args.grpc_max_connections_per_address,
        },
        ..GrpcOptions::default()
    };
    ledger_node::run(
        ledger,
        (grpc, grpc_options),
        Some((http, http_options)),
        shutdown_signal(),
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: draining open calls");
}
