//! The end-to-end harness: a real node (RocksDB in a temporary directory, gRPC and HTTP
//! on listeners bound to `127.0.0.1:0` before the server starts) run in-process, and a
//! cast of parties that sign events the way any client would.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use district_synth::{Recorder, authority_id, party_id};
use ed25519_dalek::SigningKey;
use ledger_core::model::PartyRole;
use ledger_node::{AuthorityIdentity, DataDir, WriterConfig, initialize, open_ledger};
use ledger_proto::pb::{ledger_client::LedgerClient, registry_client::RegistryClient};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// The time the test ledger's authority was created; every test key is valid from then.
pub fn epoch() -> DateTime<FixedOffset> {
    FixedOffset::east_opt(8 * 3600)
        .expect("UTC+8")
        .with_ymd_and_hms(2025, 1, 1, 8, 0, 0)
        .single()
        .expect("valid time")
}

/// A time shortly before now, in Beijing time, `minutes_ago` minutes back.
pub fn recently(minutes_ago: i64) -> DateTime<FixedOffset> {
    (Utc::now() - Duration::minutes(minutes_ago))
        .with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
}

/// The test authority's fixed key.
pub fn authority_key() -> SigningKey {
    SigningKey::from_bytes(&[0xA0; 32])
}

/// The test authority, with [`authority_key`].
pub fn authority() -> Recorder {
    Recorder::new(authority_id(), PartyRole::Authority, authority_key())
}

/// The key of [`party`] `serial`.
pub fn party_key(serial: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(serial as u64).to_be_bytes());
    seed[31] = 0x5E;
    SigningKey::from_bytes(&seed)
}

/// A party with a key derived from its serial.
pub fn party(serial: usize, role: PartyRole) -> Recorder {
    Recorder::new(
        party_id(district_synth::HUNNAN, serial),
        role,
        party_key(serial),
    )
}

/// A fixed clock for tests whose output is compared with snapshots: `minutes_ago`
/// minutes before 2026-11-27 18:00 Beijing time (a day before this was written), so
/// hashes and printed times are the same on every run.
pub fn fixed_time(minutes_ago: i64) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-11-27T18:00:00+08:00").expect("valid time")
        - Duration::minutes(minutes_ago)
}

/// Submits a signed event and expects it admitted: its hash and sequence number.
pub async fn admitted(
    client: &mut LedgerClient<Channel>,
    signed: (ledger_proto::pb::SignedEvent, ledger_core::EventHash),
) -> (ledger_core::EventHash, u64) {
    let (event, hash) = signed;
    let receipt = client
        .submit(event)
        .await
        .unwrap_or_else(|status| panic!("refused: {status:?}"))
        .into_inner();
    assert_eq!(receipt.event_hash, hash.as_bytes().to_vec());
    (hash, receipt.sequence)
}

/// Streams `events` to the node in order and expects every one admitted (a refusal
/// fails the test with the first refusal); returns how many there were.
pub async fn admit_all(node: &TestNode, events: Vec<ledger_proto::pb::SignedEvent>) -> usize {
    use ledger_proto::pb::submit_result::Outcome;
    use tokio_stream::StreamExt;
    let results = node
        .ledger()
        .await
        .submit_stream(tokio_stream::iter(events))
        .await
        .expect("the stream opens")
        .into_inner()
        .map(|result| result.expect("an answer"))
        .collect::<Vec<_>>()
        .await;
    let refused = results
        .iter()
        .find(|r| !matches!(r.outcome, Some(Outcome::Receipt(_))));
    assert!(refused.is_none(), "refused: {refused:?}");
    results.len()
}

/// The lots of [`farm_with_lots`]: `HN-CAB-000000`, `HN-CAB-000001`, ...
pub fn farm_lot(i: usize) -> String {
    format!("HN-CAB-{i:06}")
}

/// The origin of a lot of cabbage (100 kg, harvested 2026-11-26, certificate HG-1),
/// for the farm to sign.
pub fn cabbage_origin(lot: &str) -> ledger_core::model::EventKind {
    district_synth::origin(
        lot,
        "大白菜",
        "vegetable",
        "100",
        "kg",
        "2026-11-26",
        "HG-1",
    )
}

/// A new node where a farm (party 1) has recorded `n_lots` lots of cabbage
/// ([`farm_lot`]), and a market (party 2) and a shop (party 4) are registered.
pub async fn farm_with_lots(n_lots: usize) -> TestNode {
    let node = TestNode::start().await;
    let farm = party(1, PartyRole::Producer);
    let market = party(2, PartyRole::WholesaleMarket);
    let shop = party(4, PartyRole::Retailer);
    let region = district_synth::HUNNAN;
    let mut events = vec![
        authority()
            .register(epoch(), &farm, "浑南绿源蔬菜合作社", region)
            .0,
        authority()
            .register(epoch(), &market, "浑南农产品批发市场", region)
            .0,
        authority()
            .register(epoch(), &shop, "浑南生鲜超市", region)
            .0,
    ];
    let day = fixed_time(24 * 60);
    for i in 0..n_lots {
        let kind = cabbage_origin(&farm_lot(i));
        events.push(farm.sign(day, kind).0);
    }
    admit_all(&node, events).await;
    node
}

/// How a [`TestNode`] differs from a node's defaults (and from the other tests' nodes,
/// which have no rate limit on their anonymous routes).
#[derive(Default)]
pub struct NodeSetup {
    /// Limit the anonymous routes per client address.
    pub public_rate_limit: Option<query_api::limit::RateLimit>,
    /// Serve both APIs over TLS.
    pub tls: Option<ledger_node::NodeTls>,
    /// How long an HTTP answer may take.
    pub request_timeout: Option<std::time::Duration>,
    /// How long a gRPC call may take.
    pub call_timeout: Option<std::time::Duration>,
    /// Connections gRPC holds at once.
    pub grpc_connections: Option<query_api::connections::ConnectionLimit>,
    /// Connections HTTP holds at once.
    pub http_connections: Option<query_api::connections::ConnectionLimit>,
    /// How often gRPC pings a quiet connection, and how long it waits for the answer.
    pub grpc_keepalive: Option<(std::time::Duration, std::time::Duration)>,
}

/// A node running in this process.
pub struct TestNode {
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    /// Where the query API listens.
    pub http_addr: SocketAddr,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    /// The node task; its error, if any, as text.
    task: Option<JoinHandle<Result<(), String>>>,
}

impl TestNode {
    /// A new ledger in a fresh temporary directory, initialized by [`authority`].
    pub async fn start() -> TestNode {
        TestNode::start_with(NodeSetup::default()).await
    }

    /// Like [`TestNode::start`], set up as `setup` says.
    pub async fn start_with(setup: NodeSetup) -> TestNode {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().to_path_buf();
        let mut node = TestNode::open(data_dir, true, setup).await;
        node._temp = Some(temp);
        node
    }

    /// Like [`TestNode::start`], serving gRPC and HTTP over TLS.
    pub async fn start_tls(tls: ledger_node::NodeTls) -> TestNode {
        TestNode::start_with(NodeSetup {
            tls: Some(tls),
            ..NodeSetup::default()
        })
        .await
    }

    /// Like [`TestNode::start`], with the anonymous routes limited per client address
    /// (nodes in tests are otherwise unlimited: tests ask fast, from one address).
    pub async fn start_rate_limited(limit: query_api::limit::RateLimit) -> TestNode {
        TestNode::start_with(NodeSetup {
            public_rate_limit: Some(limit),
            ..NodeSetup::default()
        })
        .await
    }

    /// A new ledger in `data_dir` (which may already hold a node key and log origin),
    /// initialized by [`authority`]. The caller keeps the directory alive.
    pub async fn start_in(data_dir: PathBuf) -> TestNode {
        TestNode::open(data_dir, true, NodeSetup::default()).await
    }

    /// The ledger already in `data_dir` (a restored backup, say), not initialized again.
    /// The caller keeps the directory alive.
    pub async fn resume_in(data_dir: PathBuf) -> TestNode {
        TestNode::open(data_dir, false, NodeSetup::default()).await
    }

    async fn open(data_dir: PathBuf, initialize_it: bool, setup: NodeSetup) -> TestNode {
        let NodeSetup {
            public_rate_limit,
            tls,
            request_timeout,
            call_timeout,
            grpc_connections,
            http_connections,
            grpc_keepalive,
        } = setup;
        let ledger = open_ledger(&DataDir::new(&data_dir), None, WriterConfig::default())
            .expect("open the ledger");
        if initialize_it {
            let authority = authority();
            let identity = AuthorityIdentity {
                party_id: authority.id().clone(),
                name: "沈阳市浑南区市场监督管理局".into(),
                region: district_synth::HUNNAN.into(),
            };
            initialize(&ledger, authority.signer(), &identity, epoch())
                .await
                .expect("genesis admitted");
        }
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gRPC");
        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind HTTP");
        let grpc_addr = grpc.local_addr().expect("address");
        let http_addr = http.local_addr().expect("address");
        let defaults = ledger_node::HttpOptions::for_data_dir(&DataDir::new(&data_dir));
        let http_options = ledger_node::HttpOptions {
            public_rate_limit,
            request_timeout: request_timeout.unwrap_or(defaults.request_timeout),
            tls: tls.as_ref().map(|tls| tls.identity.clone()),
            connections: http_connections.unwrap_or(defaults.connections),
            ..defaults
        };
        let grpc_defaults = ledger_node::GrpcOptions::default();
        let grpc_options = ledger_node::GrpcOptions {
            tls,
            call_timeout: call_timeout.unwrap_or(grpc_defaults.call_timeout),
            connections: grpc_connections.unwrap_or(grpc_defaults.connections),
            keepalive: grpc_keepalive.unwrap_or(grpc_defaults.keepalive),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ledger_node::run(
                ledger,
                (grpc, grpc_options),
                Some((http, http_options)),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .map_err(|e| e.to_string())
        });
        TestNode {
            grpc_addr,
            http_addr,
            data_dir,
            _temp: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the node (gracefully: open calls finish, the store closes) and opens the
    /// same data directory again on new ports.
    pub async fn restart(mut self) -> TestNode {
        self.stop_and_wait().await;
        let temp = self._temp.take();
        let mut node = TestNode::open(self.data_dir.clone(), false, NodeSetup::default()).await;
        node._temp = temp;
        node
    }

    async fn stop_and_wait(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("node task").expect("node ran cleanly");
        }
    }

    /// A `foodtrace.v1.Ledger` client.
    pub async fn ledger(&self) -> LedgerClient<Channel> {
        LedgerClient::connect(format!("http://{}", self.grpc_addr))
            .await
            .expect("connect")
    }

    /// A `foodtrace.v1.Registry` client.
    pub async fn registry(&self) -> RegistryClient<Channel> {
        RegistryClient::connect(format!("http://{}", self.grpc_addr))
            .await
            .expect("connect")
    }

    /// A gRPC channel.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    /// The node's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The gRPC URL, as the CLI takes it.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The base URL of the query API.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Events in the ledger, as `/v1/status` says.
    pub async fn n_events(&self) -> u64 {
        let status: serde_json::Value = reqwest::get(format!("{}/v1/status", self.http_base()))
            .await
            .expect("the query API answers")
            .json()
            .await
            .expect("status is JSON");
        status["n_events"].as_u64().expect("n_events is a number")
    }

    /// The public page's data for `path` (`/l/{lot}` or a Digital Link), as JSON.
    pub async fn public_lot(&self, path: &str) -> query_api::public::PublicLot {
        reqwest::Client::new()
            .get(format!("{}{path}", self.http_base()))
            .header("accept", "application/json")
            .send()
            .await
            .expect("the query API answers")
            .json()
            .await
            .expect("a public lot")
    }
}

impl TestNode {
    /// Gives a new inspector a token on this node (written to the data directory's token
    /// file, which the node reads as it changes) and returns the token.
    pub fn add_inspector(&self, name: &str) -> String {
        query_api::auth::Inspectors::add_to_file(
            &DataDir::new(&self.data_dir).inspector_tokens(),
            name,
        )
        .expect("inspector added")
    }

    /// Revokes an inspector's token on this node.
    pub fn revoke_inspector(&self, name: &str) {
        query_api::auth::Inspectors::revoke_in_file(
            &DataDir::new(&self.data_dir).inspector_tokens(),
            name,
        )
        .expect("inspector revoked")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Runs the `foodtrace` command line with `args` (without the program name), off the
/// async runtime as a person's shell would; returns its exit code and what it printed,
/// or its error.
pub async fn foodtrace_result(
    args: &[&str],
) -> Result<(std::process::ExitCode, String), anyhow::Error> {
    let mut argv = vec!["foodtrace".to_owned()];
    argv.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let cli =
            <foodtrace_cli::Cli as clap::Parser>::try_parse_from(&argv).expect("valid arguments");
        let mut out = Vec::new();
        foodtrace_cli::run(cli, &mut out)
            .map(|code| (code, String::from_utf8(out).expect("UTF-8 output")))
    })
    .await
    .expect("the command does not panic")
}

/// [`foodtrace_result`] for a command expected to run: its exit code and what it
/// printed.
pub async fn foodtrace(args: &[&str]) -> (std::process::ExitCode, String) {
    foodtrace_result(args)
        .await
        .unwrap_or_else(|e| panic!("foodtrace {args:?}: {e:#}"))
}

/// [`foodtrace_result`] for a command expected to fail: its error, as text.
pub async fn foodtrace_error(args: &[&str]) -> String {
    match foodtrace_result(args).await {
        Ok(_) => panic!("foodtrace {args:?} succeeded"),
        Err(error) => format!("{error:#}"),
    }
}

/// [`foodtrace_result`] for a command expected to fail with one of the CLI's own exit
/// codes; returns that code and the message.
pub async fn foodtrace_failure(args: &[&str]) -> (u8, String) {
    match foodtrace_result(args).await {
        Ok(_) => panic!("foodtrace {args:?} succeeded"),
        Err(error) => {
            let failure = error
                .downcast_ref::<foodtrace_cli::Failure>()
                .unwrap_or_else(|| panic!("foodtrace {args:?}: not a Failure: {error:#}"));
            (failure.code, failure.message.clone())
        }
    }
}
