//! `query-api`: the query API on its own, reading a node's data directory as a RocksDB
//! secondary that keeps catching up, so reads scale apart from writes on one host.
//! The node serves the same API in its own process by default; see README.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ledger_rocksdb::RocksStore;
use ledger_store::LedgerStore;
use query_api::auth::Inspectors;
use query_api::{AppState, router};
use tracing_subscriber::EnvFilter;

/// mimalloc: a trace or a page allocates hundreds of small strings, and glibc's malloc
/// was a third of the time spent answering one (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The foodtrace query API over a node's data directory (read-only).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The node's data directory.
    #[arg(long, env = "FOODTRACE_DATA_DIR", default_value = "foodtrace-data")]
    data_dir: PathBuf,
    /// Address for HTTP.
    #[arg(long, env = "FOODTRACE_QUERY_LISTEN", default_value = "127.0.0.1:8081")]
    http_listen: SocketAddr,
    /// Where this reader keeps its own RocksDB files (default: a new directory under
    /// the system's temporary directory, removed on exit).
    #[arg(long)]
    secondary_dir: Option<PathBuf>,
    /// How often to catch up with the node's writes, in milliseconds.
    #[arg(long, default_value_t = 100)]
    catch_up_ms: u64,
    /// The inspectors' token file (default: `inspector-tokens` in the data directory).
    #[arg(long, env = "FOODTRACE_INSPECTOR_TOKENS")]
    inspector_tokens: Option<PathBuf>,
    /// Lot facts the trace cache keeps in memory at most.
    #[arg(long, default_value_t = query_api::DEFAULT_CACHED_FACTS)]
    cached_facts: u64,
    /// Lots whose public pages are kept built (0: build every page when asked for).
    #[arg(long, default_value_t = query_api::public::DEFAULT_CACHED_PAGES)]
    cached_pages: usize,
    /// Serve HTTPS with this certificate chain (PEM; with --tls-key).
    #[arg(long, env = "FOODTRACE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "FOODTRACE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds an answer may take before the client gets a 503 saying so.
    #[arg(long, default_value_t = 30)]
    http_request_timeout_secs: u64,
    #[command(flatten)]
    rate_limit: query_api::limit::RateLimitArgs,
    #[command(flatten)]
    connections: query_api::connections::HttpConnectionArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let temp;
    let secondary = match &args.secondary_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::Builder::new()
                .prefix("foodtrace-query-")
                .tempdir()
                .context("creating the secondary's directory")?;
            temp.path().to_owned()
        }
    };
    let store = Arc::new(
        RocksStore::open_secondary(&args.data_dir.join("ledger"), &secondary)
            .with_context(|| format!("opening {} as a secondary", args.data_dir.display()))?,
    );
    query_api::standalone::spawn_catch_up(store.clone(), Duration::from_millis(args.catch_up_ms));
    let tokens = args
        .inspector_tokens
        .clone()
        .unwrap_or_else(|| args.data_dir.join("inspector-tokens"));
    let inspectors = Inspectors::from_file(&tokens).map_err(|e| anyhow::anyhow!(e))?;
    let shared: Arc<dyn LedgerStore> = store;
    let mut state = AppState::new(shared)
        .with_cached_facts(args.cached_facts)
        .with_cached_pages(args.cached_pages)
        .with_inspectors(inspectors)
        .with_request_timeout(Duration::from_secs(args.http_request_timeout_secs.max(1)));
    if let Some(limit) = args.rate_limit.limit() {
        state = state.with_public_rate_limit(limit);
    }
    if let Some(key) = query_api::standalone::read_verifier_key(&args.data_dir)? {
        state = state.with_verifier_key(&key);
    }
    let listener = tokio::net::TcpListener::bind(args.http_listen)
        .await
        .with_context(|| format!("binding HTTP to {}", args.http_listen))?;
    tracing::info!(http = %listener.local_addr()?, data_dir = %args.data_dir.display(), "serving (read-only secondary)");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let identity = query_api::tls::TlsIdentity::from_files(cert, key)
                .map_err(|e| anyhow::anyhow!("--tls-cert/--tls-key: {e}"))?;
            query_api::tls::serve_tls(
                listener,
                router(state),
                &identity,
                args.connections.limit(),
                stop,
            )
            .await?
        }
        _ => query_api::serve(listener, router(state), args.connections.limit(), stop).await?,
    }
    Ok(())
}
