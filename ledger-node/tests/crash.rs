//! Crash safety: the real `ledger-node` binary, as a child process, takes streaming ingest
//! from several clients and is killed with SIGKILL at a random moment, [`KILLS`] times in
//! one run. After every kill, with the node down, the data directory is opened and
//! checked:
//!
//! - every event the node acknowledged is there;
//! - an event sent but not acknowledged is wholly there (with every index entry it
//!   should have) or wholly absent (no index entry names it);
//! - the audit passes: every stored hash against its body, every signature, every
//!   admission rule replayed, the hash index, the Merkle tree and every signed
//!   checkpoint;
//! - then the node is started again and the clients resume from their first
//!   unacknowledged event (resending what may already be stored: those come back as
//!   duplicates of the stored receipt).
//!
//! The seed of the kill moments is printed; `FOODTRACE_CRASH_SEED` replays a run.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use district_synth::load::LoadParties;
use district_synth::{Recorder, origin, party_id};
use ed25519_dalek::SigningKey;
use ledger_core::EventHash;
use ledger_core::checkpoint::LogVerifier;
use ledger_core::model::PartyRole;
use ledger_proto::pb::ledger_client::LedgerClient;
use ledger_proto::{decode_signed_event, pb};
use ledger_rocksdb::RocksStore;
use ledger_store::{EventIndex, LedgerStore, PartyEventRef};
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

/// How many times the node is killed.
const KILLS: usize = 20;
/// Concurrent streaming clients.
const CLIENTS: usize = 4;
/// Supply chains (of ten events) each client has to send.
const CHAINS_PER_CLIENT: usize = 400;

struct NodeProcess {
    child: Child,
    grpc: String,
}

/// Starts the binary and reads its log until it says where gRPC listens.
fn start(args: &[&str]) -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
        .args(args)
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ledger-node");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let grpc = loop {
        let line = lines
            .next()
            .expect("the node exited before serving")
            .expect("read log");
        if let Some(rest) = line.split_once("grpc=").map(|(_, rest)| rest) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep draining the log so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    NodeProcess { child, grpc }
}

impl NodeProcess {
    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn terminate(&self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    }

    /// Waits for the node to exit by itself, for at most `within`.
    fn exit_status(self, within: std::time::Duration) -> std::process::ExitStatus {
        let mut child = self.child;
        let (exit_tx, exit_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || exit_tx.send(child.wait()));
        exit_rx
            .recv_timeout(within)
            .expect("the node exits in time")
            .expect("wait for the node")
    }
}

/// One client's events, how far the node has acknowledged them and how far the client
/// had handed them to its connection when the node died.
struct ClientLog {
    events: Vec<pb::SignedEvent>,
    hashes: Vec<EventHash>,
    acknowledged: usize,
    sent: usize,
}

/// How one client's stream ended.
struct StreamEnd {
    /// Events of the client acknowledged in all.
    acknowledged: usize,
    /// Events of the client handed to its connection in all.
    sent: usize,
    /// The status the stream ended with, if it ended with one.
    status: Option<tonic::Status>,
}

/// Streams `events[from..]` until the stream breaks (the node died or stopped) or all
/// are answered; counts each acknowledgement in `acks`.
async fn stream_from(
    grpc: String,
    events: Arc<Vec<pb::SignedEvent>>,
    from: usize,
    acks: Arc<AtomicUsize>,
    ack_signal: mpsc::UnboundedSender<()>,
) -> StreamEnd {
    let Ok(mut client) = LedgerClient::connect(format!("http://{grpc}")).await else {
        return StreamEnd {
            acknowledged: from,
            sent: from,
            status: None,
        };
    };
    let sent = Arc::new(AtomicUsize::new(from));
    let (outbound, outbound_rx) = mpsc::channel::<pb::SignedEvent>(64);
    let feeder = {
        let events = events.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            for event in &events[from..] {
                if outbound.send(event.clone()).await.is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let mut acknowledged = from;
    let mut status = None;
    match client
        .submit_stream(tokio_stream::wrappers::ReceiverStream::new(outbound_rx))
        .await
    {
        Err(error) => status = Some(error),
        Ok(response) => {
            let mut results = response.into_inner();
            loop {
                match results.message().await {
                    Ok(Some(result)) => {
                        assert_eq!(
                            result.index as usize,
                            acknowledged - from,
                            "answers in order"
                        );
                        match result.outcome {
                            Some(pb::submit_result::Outcome::Receipt(_)) => {
                                acknowledged += 1;
                                acks.fetch_add(1, Ordering::SeqCst);
                                let _ = ack_signal.send(());
                            }
                            other => panic!("event {acknowledged} refused: {other:?}"),
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        status = Some(error);
                        break;
                    }
                }
            }
        }
    }
    feeder.abort();
    let _ = feeder.await;
    StreamEnd {
        acknowledged,
        sent: sent.load(Ordering::SeqCst).max(acknowledged),
        status,
    }
}

/// A running node with parties registered, and clients with their events ready.
struct Setup {
    dir: tempfile::TempDir,
    /// `None` once it is stopped for good.
    node: Option<NodeProcess>,
    verifier: LogVerifier,
    authority: Recorder,
    at: chrono::DateTime<chrono::FixedOffset>,
    clients: Vec<ClientLog>,
    events: Vec<Arc<Vec<pb::SignedEvent>>>,
}

impl Setup {
    async fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let key_path = dir.path().join("authority.key");
        let authority_key = SigningKey::from_bytes(&[0xA2; 32]);
        ledger_node::keys::write_key_file(&key_path, &authority_key).unwrap();
        let authority = Recorder::new(
            district_synth::authority_id(),
            PartyRole::Authority,
            authority_key,
        );
        let id = authority.id().to_string();
        let node = start(&[
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--authority-key",
            key_path.to_str().unwrap(),
            "--authority-id",
            &id,
        ]);
        let verifier = LogVerifier::parse(
            std::fs::read_to_string(data_dir.join("log-verifier-key"))
                .unwrap()
                .trim(),
        )
        .unwrap();

        // Forty parties, registered before anything is killed.
        let parties = LoadParties::new(40);
        let at = chrono::Utc::now().fixed_offset();
        let mut client = LedgerClient::connect(format!("http://{}", node.grpc))
            .await
            .unwrap();
        for registration in parties.registrations(&authority, at) {
            client.submit(registration).await.unwrap();
        }

        // Each client streams its own supply chains (origins, shipments, receipts,
        // splits, quick tests: hash links across events), in order.
        let clients: Vec<ClientLog> = (0..CLIENTS)
            .map(|c| {
                let events: Vec<pb::SignedEvent> = (0..CHAINS_PER_CLIENT)
                    .flat_map(|i| parties.chain("crash", i * CLIENTS + c, at))
                    .collect();
                let hashes = events
                    .iter()
                    .map(|event| ledger_core::contract::event_hash(&event.body))
                    .collect();
                ClientLog {
                    events,
                    hashes,
                    acknowledged: 0,
                    sent: 0,
                }
            })
            .collect();
        let events = clients
            .iter()
            .map(|client| Arc::new(client.events.clone()))
            .collect();
        Setup {
            dir,
            node: Some(node),
            verifier,
            authority,
            at,
            clients,
            events,
        }
    }

    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Every client streams from its first unacknowledged event; `stop` is called once
    /// `after` new acknowledgements have come back (or every client is done), and then
    /// the clients' ends are collected. Returns how each stream ended.
    async fn stream_until(
        &mut self,
        after: usize,
        stop: impl FnOnce(&mut NodeProcess),
    ) -> Vec<Option<tonic::Status>> {
        let node = self.node.as_mut().expect("a running node");
        let acks = Arc::new(AtomicUsize::new(0));
        let (ack_signal, mut ack_rx) = mpsc::unbounded_channel();
        let streams: Vec<_> = self
            .clients
            .iter()
            .zip(&self.events)
            .map(|(client, events)| {
                tokio::spawn(stream_from(
                    node.grpc.clone(),
                    events.clone(),
                    client.acknowledged,
                    acks.clone(),
                    ack_signal.clone(),
                ))
            })
            .collect();
        drop(ack_signal);
        while acks.load(Ordering::SeqCst) < after {
            if ack_rx.recv().await.is_none() {
                break; // every client is done
            }
        }
        stop(node);
        let mut ends = Vec::new();
        for (client, stream) in self.clients.iter_mut().zip(streams) {
            let end = tokio::time::timeout(std::time::Duration::from_secs(60), stream)
                .await
                .expect("the stream ends within a minute of the node stopping")
                .expect("client task");
            client.acknowledged = end.acknowledged;
            client.sent = end.sent;
            ends.push(end.status);
        }
        ends
    }

    fn acknowledged(&self) -> usize {
        self.clients.iter().map(|c| c.acknowledged).sum()
    }
}

/// What the checks after one kill found.
#[derive(Debug, Default)]
struct AfterKill {
    /// Acknowledged events found (all of them, or the test fails).
    acknowledged_found: usize,
    /// Sent, not acknowledged, and stored whole.
    unacknowledged_stored: usize,
    /// Sent, not acknowledged, and absent (with every later event of its client).
    unacknowledged_absent: usize,
}

/// Checks the data directory of a dead node against what the clients were told.
fn check_after_kill(
    data_dir: &Path,
    verifier: &LogVerifier,
    clients: &[ClientLog],
    checked_up_to: &mut u64,
) -> AfterKill {
    let store = RocksStore::open(&data_dir.join("ledger")).expect("the store opens after SIGKILL");
    let n_events = store.next_sequence().unwrap();

    // The audit: hashes, signatures, admission replayed, hash index, Merkle tree,
    // checkpoints.
    let report = ledger_node::audit::audit(&store, verifier, |_, _| {})
        .unwrap_or_else(|failure| panic!("audit after SIGKILL: {failure}"));
    assert_eq!(report.n_events, n_events);

    // Every new event has every index entry it should have.
    for sequence in *checked_up_to..n_events {
        check_indexes(&store, sequence);
    }
    *checked_up_to = n_events;
    // And no index entry names an event that is not there: the every-kind index has
    // exactly one entry an event, all below the log's end.
    let all = store
        .events_by_kind(
            None,
            PartyEventRef {
                occurred_at_millis: i64::MIN,
                sequence: 0,
            },
            i64::MAX,
            usize::MAX,
        )
        .unwrap();
    let sequences: HashSet<u64> = all.iter().map(|r| r.sequence).collect();
    assert_eq!(all.len() as u64, n_events, "one kind entry an event");
    assert!(sequences.iter().all(|&s| s < n_events));

    let mut found = AfterKill::default();
    for client in clients {
        for (i, hash) in client.hashes.iter().enumerate() {
            let stored = store.sequence_of(hash).unwrap();
            if i < client.acknowledged {
                assert!(stored.is_some(), "acknowledged event {hash} lost");
                found.acknowledged_found += 1;
            } else {
                // Unacknowledged: stored whole (its indexes were checked above, as
                // every stored event's are) or absent; a client's events are admitted
                // in order, so once one is absent the rest of them are too.
                match stored {
                    Some(sequence) => {
                        assert_eq!(store.event(sequence).unwrap().unwrap().hash, *hash);
                        found.unacknowledged_stored += 1;
                    }
                    None => {
                        assert!(
                            client.hashes[i..]
                                .iter()
                                .all(|later| store.sequence_of(later).unwrap().is_none()),
                            "a client's events are stored in order"
                        );
                        found.unacknowledged_absent += client.sent.saturating_sub(i);
                        break;
                    }
                }
            }
        }
    }
    found
}

/// Event `sequence`'s lot facts, followers, party and kind entries are all there.
fn check_indexes(store: &RocksStore, sequence: u64) {
    let stored = store.event(sequence).unwrap().expect("stored");
    let event = decode_signed_event(pb::SignedEvent {
        body: stored.body.clone(),
        signature: stored.signature.to_vec(),
    })
    .expect("a stored event decodes");
    let index = EventIndex::of(
        event.body(),
        stored.hash,
        sequence,
        |hash| store.sequence_of(hash).unwrap(),
        |lot| Some(store.lot(lot).unwrap()?.created_at_sequence),
    );
    for entry in &index.lots {
        let facts = store
            .lot_facts(&entry.lot, sequence.checked_sub(1), 1)
            .unwrap();
        assert_eq!(
            facts.first(),
            Some(&entry.fact),
            "event {sequence}'s fact on lot {}",
            entry.lot
        );
    }
    for link in event.body().kind.links() {
        assert!(
            store.followers(&link).unwrap().contains(&sequence),
            "event {sequence} is indexed as following {link}"
        );
    }
    let at = PartyEventRef {
        occurred_at_millis: index.occurred_at_millis,
        sequence,
    };
    for party in &index.parties {
        let refs = store.party_events(party, at, i64::MAX, 1).unwrap();
        assert_eq!(
            refs.first(),
            Some(&at),
            "event {sequence} under party {party}"
        );
    }
    for kind in [Some(index.kind.as_str()), None] {
        let refs = store.events_by_kind(kind, at, i64::MAX, 1).unwrap();
        assert_eq!(
            refs.first(),
            Some(&at),
            "event {sequence} under kind {kind:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_repeated_sigkill() {
    let seed = std::env::var("FOODTRACE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("FOODTRACE_CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut setup = Setup::new().await;
    let data_dir = setup.data_dir();
    let data = data_dir.to_str().unwrap().to_owned();

    let mut checked_up_to = 0;
    let mut stored_unacknowledged = 0;
    let mut absent = 0;
    for kill in 0..KILLS {
        // Kill the node once a random number of new acknowledgements (1 to 500) have
        // come back, while the streams still have events in flight.
        let before = setup.acknowledged();
        setup
            .stream_until(rng.gen_range(1..=500), |node| node.kill())
            .await;
        let acknowledged = setup.acknowledged();
        assert!(
            acknowledged < setup.clients.iter().map(|c| c.events.len()).sum(),
            "the clients ran out of events before kill {kill}"
        );
        let found = check_after_kill(
            &data_dir,
            &setup.verifier,
            &setup.clients,
            &mut checked_up_to,
        );
        assert_eq!(found.acknowledged_found, acknowledged);
        println!(
            "kill {:2}: after {} new acknowledgements ({acknowledged} in all, all found); \
             handed to the client library but unacknowledged: {} stored whole, {} absent",
            kill + 1,
            acknowledged - before,
            found.unacknowledged_stored,
            found.unacknowledged_absent
        );
        stored_unacknowledged += found.unacknowledged_stored;
        absent += found.unacknowledged_absent;
        setup.node = Some(start(&["--data-dir", &data]));
    }

    // Ingest resumes after the last restart: a new party and its event are admitted.
    let producer = Recorder::new(
        party_id("210112", 42),
        PartyRole::Producer,
        SigningKey::from_bytes(&[0x42; 32]),
    );
    let mut node = setup.node.take().expect("running");
    let mut client = LedgerClient::connect(format!("http://{}", node.grpc))
        .await
        .unwrap();
    let (registration, _) = setup
        .authority
        .register(setup.at, &producer, "合作社", "210112");
    client.submit(registration).await.unwrap();
    let (event, _) = producer.sign(
        setup.at,
        origin(
            "AFTER-KILLS",
            "黄瓜",
            "vegetable",
            "1",
            "kg",
            "2026-11-27",
            "HG",
        ),
    );
    let receipt = client.submit(event).await.unwrap().into_inner();
    assert!(!receipt.duplicate);
    node.kill();
    let acknowledged = setup.acknowledged();
    println!(
        "{KILLS} kills survived: {acknowledged} events acknowledged, {acknowledged} found, 0 lost; \
         of those unacknowledged at the kills, {stored_unacknowledged} were stored whole and \
         {absent} were absent (none partly)"
    );
    assert!(acknowledged > KILLS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_what_it_took_and_exits_zero() {
    let mut setup = Setup::new().await;
    // SIGTERM once 300 events are acknowledged, with every client mid-stream.
    let ends = setup.stream_until(300, |node| node.terminate()).await;
    // Every stream was ended by the node, saying why, after answering what it took.
    for end in &ends {
        let status = end.as_ref().expect("the stream ended with a status");
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(status.message().contains("shutting down"), "{status:?}");
    }
    // The node exits by itself, with 0.
    let node = setup.node.take().expect("running");
    let status = node.exit_status(std::time::Duration::from_secs(60));
    assert!(status.success(), "exit status {status}");
    // It flushed on the way out: a restart or an audit has no write-ahead log to replay.
    let ledger_dir = ledger_node::DataDir::new(setup.data_dir()).ledger();
    let log_bytes: u64 = std::fs::read_dir(&ledger_dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".log"))
        .map(|entry| entry.metadata().unwrap().len())
        .sum();
    assert_eq!(
        log_bytes,
        0,
        "write-ahead log left in {}",
        ledger_dir.display()
    );

    // Everything acknowledged is there, and nothing that was not: the node answered
    // every event it took before it closed the streams.
    let mut checked_up_to = 0;
    let found = check_after_kill(
        &setup.data_dir(),
        &setup.verifier,
        &setup.clients,
        &mut checked_up_to,
    );
    assert_eq!(found.acknowledged_found, setup.acknowledged());
    assert_eq!(
        found.unacknowledged_stored, 0,
        "an event was stored but not answered"
    );
    println!(
        "SIGTERM: {} events acknowledged and found; {} handed over later were not taken",
        found.acknowledged_found, found.unacknowledged_absent
    );
}
