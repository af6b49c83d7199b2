//! The foodtrace ledger node.
//!
//! Producers, markets and the authority push signed events over gRPC; the node checks
//! their shape at the edge ([`grpc`]), admits them in order on one writer thread and
//! commits them to the store in durable groups ([`writer`]), and serves reads. The same
//! process serves the query API over HTTP.
//!
//! The library exposes what the binary and the tests share: [`Ledger`] (the writer
//! handle), [`serve`] and [`serve_with`] (gRPC on a bound listener until shutdown),
//! [`open_ledger`] (open a data directory), [`run`] (serve gRPC and HTTP together),
//! [`initialize`] (the genesis event) and [`audit`] (re-verify a whole ledger).
//! `main.rs` only parses arguments, sets up logging, binds and waits for a signal.

pub mod audit;
pub mod grpc;
pub mod keys;
pub mod log;
pub mod view;
pub mod writer;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use ledger_core::model::{EventKind, PartyRole, RegionCode, RegisterParty, Text};
use ledger_core::{PartyId, Refusal};
use ledger_proto::Signer;
use ledger_proto::pb::{
    ledger_server::LedgerServer, log_server::LogServer, registry_server::RegistryServer,
};
use ledger_store::LedgerStore;
use query_api::connections::{ConnectionLimit, Connections, Limited};
use tokio::net::TcpListener;

pub use ledger_rocksdb::RocksOptions;
pub use writer::{GroupLinger, Ledger, PendingReceipt, Receipt, WriterConfig};

/// Largest gRPC message the node accepts: a body's limit plus room for the envelope.
pub const MAX_GRPC_MESSAGE_BYTES: usize = ledger_core::model::limits::MAX_BODY_BYTES + 1024;

/// HTTP/2 flow-control window of each gRPC stream, in bytes (about a thousand events).
pub const STREAM_WINDOW_BYTES: u32 = 256 * 1024;

/// Calls one gRPC connection may have open at once (HTTP/2's
/// `SETTINGS_MAX_CONCURRENT_STREAMS`): a client's further calls wait for one to end.
/// With the connection's window, this bounds what one connection can make the node hold.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// By default ([`GrpcOptions::keepalive`]), how often a quiet gRPC connection is pinged,
/// and how long the node waits for the answer before it drops the connection (a peer
/// that vanished without closing it).
pub const KEEPALIVE: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(60),
    std::time::Duration::from_secs(20),
);

/// How long a gRPC call may take, by default, before the node ends it with
/// `CANCELLED` ("Timeout expired"): reading the request, admitting and committing, or
/// answering a query. Streaming calls are not cut off (their handler returns at once);
/// a client's own `grpc-timeout` applies when it is shorter.
pub const DEFAULT_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How the node serves gRPC.
#[derive(Debug, Clone)]
pub struct GrpcOptions {
    /// TLS, and producers' client certificates; `None`: plain text.
    pub tls: Option<NodeTls>,
    /// How long one call may take (see [`DEFAULT_CALL_TIMEOUT`]).
    pub call_timeout: std::time::Duration,
    /// Connections held open at once, in all and per client address; more are closed
    /// as they come.
    pub connections: ConnectionLimit,
    /// How often a quiet connection is pinged, and how long the node waits for the
    /// answer before it closes the connection (see [`KEEPALIVE`]).
    pub keepalive: (std::time::Duration, std::time::Duration),
}

impl Default for GrpcOptions {
    fn default() -> GrpcOptions {
        GrpcOptions {
            tls: None,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            connections: ConnectionLimit::GRPC,
            keepalive: KEEPALIVE,
        }
    }
}

/// Serves the gRPC API (`foodtrace.v1.Ledger`, `foodtrace.v1.Registry`,
/// `grpc.health.v1.Health` and server reflection) on `listener` with the default
/// [`GrpcOptions`] until `shutdown` completes; then stops accepting, lets open calls
/// finish, has open submission streams stop taking events and answer the ones they took
/// (ending with `UNAVAILABLE`), and returns.
pub async fn serve(
    listener: TcpListener,
    ledger: Ledger,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    serve_with(listener, ledger, &GrpcOptions::default(), shutdown).await
}

/// TLS for a node's servers.
#[derive(Debug, Clone)]
pub struct NodeTls {
    /// The node's certificate chain and key, for gRPC and HTTP.
    pub identity: query_api::tls::TlsIdentity,
    /// gRPC clients' certificates, when they present one, must chain to this CA (PEM).
    pub grpc_client_ca_pem: Option<Vec<u8>>,
    /// Refuse gRPC clients that present no certificate (with `grpc_client_ca_pem`).
    pub require_client_cert: bool,
}

impl NodeTls {
    fn grpc_config(&self) -> tonic::transport::ServerTlsConfig {
        let identity =
            tonic::transport::Identity::from_pem(&self.identity.cert_pem, &self.identity.key_pem);
        let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.grpc_client_ca_pem {
            config = config
                .client_ca_root(tonic::transport::Certificate::from_pem(ca))
                .client_auth_optional(!self.require_client_cert);
        }
        config
    }
}

/// [`serve`], with `options`.
pub async fn serve_with(
    listener: TcpListener,
    ledger: Ledger,
    options: &GrpcOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<LedgerServer<grpc::LedgerService>>()
        .await;
    health_reporter
        .set_serving::<RegistryServer<grpc::RegistryService>>()
        .await;
    health_reporter
        .set_serving::<LogServer<log::LogService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ledger_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the descriptor sets are valid");
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stopping_tx.send(true);
    };
    let ledger_service =
        LedgerServer::new(grpc::LedgerService::draining_on(ledger.clone(), stopping))
            .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let registry_service = RegistryServer::new(grpc::RegistryService::new(ledger.clone()))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let log_service = LogServer::new(log::LogService::new(ledger))
        .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &options.tls {
        builder = builder.tls_config(tls.grpc_config())?;
    }
    builder
        // What one stream (and one connection) may have sent that the node has not
        // read yet: with each stream's 1,024 events awaiting receipts and its 64
        // answers waiting to go out, this bounds what a client can make the node hold.
        .initial_stream_window_size(Some(STREAM_WINDOW_BYTES))
        .initial_connection_window_size(Some(4 * STREAM_WINDOW_BYTES))
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .http2_keepalive_interval(Some(options.keepalive.0))
        .http2_keepalive_timeout(Some(options.keepalive.1))
        .timeout(options.call_timeout)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(ledger_service)
        .add_service(registry_service)
        .add_service(log_service)
        .serve_with_incoming_shutdown(limited_incoming(listener, options.connections), shutdown)
        .await
}

/// The connections `listener` accepts that `limit` has room for, as tonic takes them.
fn limited_incoming(
    listener: TcpListener,
    limit: ConnectionLimit,
) -> impl futures_util::Stream<Item = std::io::Result<GrpcConnection>> {
    let connections = Connections::new(limit);
    futures_util::stream::unfold(
        (listener, connections),
        |(listener, connections)| async move {
            let accepted = connections
                .accept(&listener)
                .await
                .map(|(stream, _)| GrpcConnection(stream));
            Some((accepted, (listener, connections)))
        },
    )
}

/// An accepted gRPC connection holding its place under the connection limit.
struct GrpcConnection(Limited<tokio::net::TcpStream>);

impl tonic::transport::server::Connected for GrpcConnection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.get_ref().connect_info()
    }
}

impl tokio::io::AsyncRead for GrpcConnection {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for GrpcConnection {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Who the authority is when a ledger is initialized.
pub struct AuthorityIdentity {
    /// Its party id (a government body's unified social credit code starts with 11).
    pub party_id: PartyId,
    /// Its name.
    pub name: String,
    /// Its region code.
    pub region: String,
}

/// Writes the genesis event, the authority registering itself with `signer`'s key, if
/// the ledger is empty. Returns its receipt, or `None` when the ledger already had one.
pub async fn initialize(
    ledger: &Ledger,
    signer: &Signer,
    identity: &AuthorityIdentity,
    at: DateTime<FixedOffset>,
) -> Result<Option<Receipt>, Refusal> {
    let store = ledger.store().clone();
    let has_authority = tokio::task::spawn_blocking(move || store.authority())
        .await
        .expect("the read task does not panic")
        .map_err(|e| Refusal::new(ledger_core::RefusalCode::Unavailable, "", e.to_string()))?;
    if has_authority.is_some() {
        return Ok(None);
    }
    let text = |field: &str, value: &str| {
        Text::parse(value, 200)
            .map_err(|e| Refusal::new(ledger_core::RefusalCode::InvalidArgument, field, e.0))
    };
    let kind = EventKind::RegisterParty(RegisterParty {
        party_id: identity.party_id.clone(),
        name: text("authority name", &identity.name)?,
        role: PartyRole::Authority,
        region: RegionCode::parse(&identity.region).map_err(|e| {
            Refusal::new(
                ledger_core::RefusalCode::InvalidArgument,
                "authority region",
                e.0,
            )
        })?,
        contact: None,
        keys: vec![signer.grant(at)],
    });
    let event = ledger_proto::decode_signed_event(signer.sign(at, kind))?;
    ledger.submit(event).await.map(Some)
}

/// Decodes and queues every event in order, and collects their receipts, waiting for
/// each as the writer answers. Stops at the first refusal, with its position.
pub async fn submit_in_order(
    ledger: &Ledger,
    events: impl IntoIterator<Item = ledger_proto::pb::SignedEvent>,
) -> Result<Vec<Receipt>, (usize, Refusal)> {
    let (pending_tx, mut pending_rx) = tokio::sync::mpsc::channel::<(usize, PendingReceipt)>(4096);
    let queue = async move {
        for (position, event) in events.into_iter().enumerate() {
            let event = ledger_proto::decode_signed_event(event).map_err(|r| (position, r))?;
            let pending = ledger.enqueue(event).await.map_err(|r| (position, r))?;
            if pending_tx.send((position, pending)).await.is_err() {
                break; // the collector stopped at a refusal
            }
        }
        Ok(())
    };
    let collect = async {
        let mut receipts = Vec::new();
        while let Some((position, pending)) = pending_rx.recv().await {
            receipts.push(pending.wait().await.map_err(|r| (position, r))?);
        }
        Ok(receipts)
    };
    let (queued, collected) = tokio::join!(queue, collect);
    queued?;
    collected
}

/// Where a node keeps its files.
#[derive(Debug, Clone)]
pub struct DataDir(PathBuf);

impl DataDir {
    /// The data directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> DataDir {
        DataDir(path.into())
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The RocksDB directory.
    pub fn ledger(&self) -> PathBuf {
        self.0.join("ledger")
    }

    /// The node's checkpoint signing key.
    pub fn node_key(&self) -> PathBuf {
        self.0.join("node.key")
    }

    /// The inspectors' token file (hashes only).
    pub fn inspector_tokens(&self) -> PathBuf {
        self.0.join("inspector-tokens")
    }

    /// The demo authority's key file.
    pub fn demo_authority_key(&self) -> PathBuf {
        self.0.join("demo-authority.key")
    }

    /// The files besides the ledger that a node on a restored copy needs: its checkpoint
    /// key, its log's origin and verifier key, the inspectors' token hashes.
    pub fn companion_files(&self) -> Vec<PathBuf> {
        vec![
            self.node_key(),
            self.0.join("log-origin"),
            self.0.join("log-verifier-key"),
            self.inspector_tokens(),
        ]
    }

    /// Backups into directories under `root`, with this directory's companion files.
    pub fn backup_target(&self, root: PathBuf) -> query_api::backup::BackupTarget {
        query_api::backup::BackupTarget {
            root,
            companions: self.companion_files(),
        }
    }
}

/// The log origin used when a new data directory is given none.
pub const DEFAULT_LOG_ORIGIN: &str = "foodtrace/ledger";

/// Opens the RocksDB store of a data directory and starts its writer.
///
/// The node's checkpoint key (`node.key`) and its log's identity (`log-origin`) are
/// created on first use and kept in the data directory; a later `log_origin` that
/// differs from the stored one is refused, since it would orphan every checkpoint.
pub fn open_ledger(
    data_dir: &DataDir,
    log_origin: Option<&str>,
    writer: WriterConfig,
) -> anyhow::Result<Ledger> {
    open_ledger_with(data_dir, log_origin, writer, &RocksOptions::default())
}

/// [`open_ledger`], with the RocksDB store's memory budgets given.
pub fn open_ledger_with(
    data_dir: &DataDir,
    log_origin: Option<&str>,
    writer: WriterConfig,
    store_options: &RocksOptions,
) -> anyhow::Result<Ledger> {
    std::fs::create_dir_all(data_dir.path())?;
    let origin = resolve_log_origin(data_dir, log_origin)?;
    let key_path = data_dir.node_key();
    let key = if key_path.exists() {
        keys::read_key_file(&key_path)?
    } else {
        let key = keys::generate_key();
        keys::write_key_file(&key_path, &key)?;
        key
    };
    let log = ledger_core::checkpoint::LogSigner::new(&origin, key)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The public verifier key, for readers of the directory (a standalone query API).
    std::fs::write(
        data_dir.path().join("log-verifier-key"),
        format!("{}\n", log.verifier_key()),
    )?;
    let store =
        ledger_rocksdb::RocksStore::open_with(&data_dir.ledger(), store_options).map_err(|e| {
            anyhow::anyhow!(
                "cannot open the ledger in {}: {e}",
                data_dir.ledger().display()
            )
        })?;
    if ledger_rocksdb::compaction_priority() != Some(ledger_rocksdb::CompactionPriority::Idle) {
        tracing::warn!(
            "RocksDB's compactions run at nice 19, not SCHED_IDLE: they will take cores \
             from acknowledgements in bursts"
        );
    }
    // A damaged ledger is reported, not written to: new events on a log whose tail or
    // latest checkpoint no longer checks out would extend a history nobody can verify.
    let verifier = ledger_core::checkpoint::LogVerifier::parse(&log.verifier_key())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    audit::check_at_start(&store, &verifier).map_err(|failure| {
        anyhow::anyhow!(
            "the ledger in {} is damaged, so this node will not take writes on it: {failure}. \
             `foodtrace audit --data-dir {}` checks all of it; restore it from a backup \
             (`foodtrace restore`)",
            data_dir.ledger().display(),
            data_dir.path().display()
        )
    })?;
    let store: Arc<dyn LedgerStore> = Arc::new(store);
    Ledger::start(store, log, writer).map_err(|e| anyhow::anyhow!("cannot start the ledger: {e}"))
}

fn resolve_log_origin(data_dir: &DataDir, wanted: Option<&str>) -> anyhow::Result<String> {
    let path = data_dir.path().join("log-origin");
    match std::fs::read_to_string(&path) {
        Ok(stored) => {
            let stored = stored.trim().to_owned();
            if let Some(wanted) = wanted {
                anyhow::ensure!(
                    wanted == stored,
                    "this ledger's log origin is '{stored}'; it cannot be changed to '{wanted}'"
                );
            }
            Ok(stored)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let origin = wanted.unwrap_or(DEFAULT_LOG_ORIGIN).to_owned();
            anyhow::ensure!(
                ledger_core::checkpoint::is_valid_origin(&origin),
                "log origin '{origin}' must be non-empty, without spaces or '+'"
            );
            std::fs::write(&path, format!("{origin}\n"))?;
            Ok(origin)
        }
        Err(error) => Err(anyhow::anyhow!("cannot read {}: {error}", path.display())),
    }
}

/// The base URL of the public pages served on `addr`, as another machine would use
/// it: for an unspecified address (`0.0.0.0`, `::`), this host's address on the network
/// it reaches others through (no packet is sent to find it); else `addr` itself.
pub fn page_base_url(addr: std::net::SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        let probe = std::net::UdpSocket::bind((addr.ip(), 0)).and_then(|socket| {
            // A documentation address (RFC 5737/3849): connecting a UDP socket only picks
            // the route and so the local address.
            let target: std::net::IpAddr = if addr.is_ipv4() {
                [192, 0, 2, 1].into()
            } else {
                "2001:db8::1".parse().expect("an IPv6 address")
            };
            socket.connect((target, 9))?;
            socket.local_addr()
        });
        match probe {
            Ok(local) => local.ip(),
            // No route anywhere: only this host can reach it.
            Err(_) if addr.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
            Err(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        }
    } else {
        addr.ip()
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

/// How the node serves its query API.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The inspector token file (see `query_api::auth`).
    pub inspector_tokens: PathBuf,
    /// Lot facts the trace cache holds at most.
    pub cached_facts: u64,
    /// Per-address limit on the anonymous routes (the public lot page, the log); `None`
    /// for no limit.
    pub public_rate_limit: Option<query_api::limit::RateLimit>,
    /// Lots whose public pages are kept built.
    pub cached_pages: usize,
    /// Where inspectors' backups (`POST /v1/backups`) go, with the node's files copied
    /// into each; `None`: no backups.
    pub backups: Option<query_api::backup::BackupTarget>,
    /// How long an HTTP answer may take before the client gets a 503 instead.
    pub request_timeout: std::time::Duration,
    /// HTTPS with this identity; `None`: plain HTTP.
    pub tls: Option<query_api::tls::TlsIdentity>,
    /// Connections held open at once, in all and per client address.
    pub connections: ConnectionLimit,
}

impl HttpOptions {
    /// The defaults for a data directory: its `inspector-tokens` file, backups in its
    /// `backups` directory.
    pub fn for_data_dir(data_dir: &DataDir) -> HttpOptions {
        HttpOptions {
            inspector_tokens: data_dir.inspector_tokens(),
            cached_facts: query_api::DEFAULT_CACHED_FACTS,
            public_rate_limit: Some(query_api::limit::RateLimit::default()),
            cached_pages: query_api::public::DEFAULT_CACHED_PAGES,
            backups: Some(data_dir.backup_target(data_dir.path().join("backups"))),
            request_timeout: query_api::DEFAULT_REQUEST_TIMEOUT,
            tls: None,
            connections: ConnectionLimit::HTTP,
        }
    }
}

/// Serves gRPC on `grpc` and the query API on `http`, each with its options, until
/// `shutdown` completes; then, once open calls are done, flushes the store
/// ([`LedgerStore::flush`]).
pub async fn run(
    ledger: Ledger,
    grpc: (TcpListener, GrpcOptions),
    http: Option<(TcpListener, HttpOptions)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let http_task = match http {
        None => None,
        Some((listener, options)) => {
            let inspectors = query_api::auth::Inspectors::from_file(&options.inspector_tokens)
                .map_err(|e| anyhow::anyhow!("inspector tokens: {e}"))?;
            let mut state = query_api::AppState::new(ledger.store().clone())
                .with_cached_facts(options.cached_facts)
                .with_cached_pages(options.cached_pages)
                .with_inspectors(inspectors)
                .with_verifier_key(ledger.verifier_key());
            if let Some(limit) = options.public_rate_limit {
                state = state.with_public_rate_limit(limit);
            }
            if let Some(target) = options.backups.clone() {
                state = state.with_backups(target);
            }
            state = state.with_request_timeout(options.request_timeout);
            Some((listener, query_api::router(state), options))
        }
    };
    let http_task = http_task.map(|(listener, router, options)| {
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            match &options.tls {
                Some(identity) => {
                    query_api::tls::serve_tls(listener, router, identity, options.connections, stop)
                        .await
                }
                None => query_api::serve(listener, router, options.connections, stop).await,
            }
        })
    });
    let (grpc, grpc_options) = grpc;
    let store = ledger.store().clone();
    serve_with(grpc, ledger, &grpc_options, stopped(stop_rx)).await?;
    if let Some(task) = http_task {
        task.await??;
    }
    // Stopped cleanly: the next open (a restart, an audit) need not replay the log.
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || store.flush()).await??;
    tracing::info!(
        took_ms = started.elapsed().as_millis() as u64,
        "store flushed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_urls_name_a_reachable_address() {
        assert_eq!(
            page_base_url("127.0.0.1:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            page_base_url("[::1]:80".parse().unwrap()),
            "http://[::1]:80"
        );
        // Listening everywhere: the URL names this host's address, never 0.0.0.0.
        let url = page_base_url("0.0.0.0:8080".parse().unwrap());
        assert!(
            url.starts_with("http://") && url.ends_with(":8080") && !url.contains("0.0.0.0"),
            "{url}"
        );
    }
}
