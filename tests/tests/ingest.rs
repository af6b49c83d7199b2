//! Ingest under load, over real gRPC: the load generator against a node, and a client
//! that pushes events without reading its receipts, which flow control holds back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use foodtrace_cli::loadgen::{LoadgenArgs, run};
use foodtrace_cli::record::SignerArgs;
use foodtrace_tests::{
    NodeSetup, TestNode, authority, authority_key, cabbage_origin, farm_with_lots, fixed_time,
    party,
};
use ledger_core::model::PartyRole;
use tokio_stream::StreamExt;

fn loadgen_args(node: &TestNode, key: &std::path::Path) -> LoadgenArgs {
    LoadgenArgs {
        signer: SignerArgs {
            key: key.to_owned(),
            signer_party: authority().id().to_string(),
        },
        server: foodtrace_cli::ServerArgs::plain(node.grpc_url()),
        parties: 40,
        clients: 3,
        events: 3_000,
        rate: None,
        at_fraction: vec![0.5],
        bounds: false,
        bounds_dir: None,
        node_pid: None,
        node_data_dir: Some(node.data_dir().join("ledger")),
        latency_csv: None,
        steady_after_secs: 0.05,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_pushes_whole_chains_and_reports_them() {
    let node = TestNode::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("authority.key");
    ledger_node::keys::write_key_file(&key, &authority_key()).unwrap();
    let before = node.n_events().await;

    let mut args = loadgen_args(&node, &key);
    let csv = dir.path().join("latencies.csv");
    args.latency_csv = Some(csv.clone());
    // The node runs in this process.
    args.node_pid = Some(std::process::id());
    let (reports, printed) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let reports = run(&args, &mut out).expect("the load runs");
        (reports, String::from_utf8(out).unwrap())
    })
    .await
    .unwrap();

    // The maximum, then half of it on a schedule: 3,000 events each, none refused.
    assert_eq!(reports.len(), 2, "{printed}");
    for report in &reports {
        assert_eq!(report.acknowledged, 3_000, "{printed}");
        assert_eq!(report.refused, 0);
        assert!(
            report.latency_us.windows(2).all(|w| w[0] <= w[1]),
            "{report}"
        );
        assert!(report.rate() > 0.0);
        let cpu = report.node_cpu.expect("--node-pid: the node's CPU time");
        assert!(
            cpu > Duration::ZERO && cpu < report.elapsed * 64,
            "{cpu:?} in {:?}",
            report.elapsed
        );
    }
    assert_eq!(printed.matches("  node CPU ").count(), 2, "{printed}");
    assert_eq!(
        printed
            .matches("  events due after the first 50ms: ack latency ms p50 ")
            .count(),
        1,
        "{printed}"
    );
    // The generator's own CPU, the node's too here (they share this process).
    assert_eq!(
        printed.matches(" load generator CPU ").count(),
        2,
        "{printed}"
    );
    // And how much of the machine's time its hypervisor took, read from /proc/stat.
    for report in &reports {
        let share = report.stolen_share.expect("/proc/stat has a steal field");
        assert!((0.0..=1.0).contains(&share), "{share}");
    }
    assert_eq!(
        printed
            .matches(";  the machine's CPU time stolen by its hypervisor: ")
            .count(),
        2,
        "{printed}"
    );
    assert!(
        reports.iter().all(|r| r.loadgen_cpu > Duration::ZERO),
        "{printed}"
    );
    assert!(printed.contains("node memory: peak resident"), "{printed}");
    let max = reports[0].rate();
    let scheduled = reports[1].target_rate.expect("an open-loop phase");
    assert!((scheduled - max / 2.0).abs() < 1.0, "{scheduled} vs {max}");
    assert!(
        printed.contains("40 parties: 40 registered now"),
        "{printed}"
    );
    assert!(printed.contains("bytes an event"), "{printed}");
    // 40 registrations and two phases of 3,000 events.
    assert_eq!(node.n_events().await, before + 40 + 6_000);

    // Every acknowledgement in the CSV, by phase, with the latencies the report ranks.
    let csv = std::fs::read_to_string(&csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("phase,due_unix_us,latency_us"));
    let rows: Vec<(&str, u64, u64)> = lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 3, "{line}");
            (
                fields[0],
                fields[1].parse().unwrap(),
                fields[2].parse().unwrap(),
            )
        })
        .collect();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    for (phase, report) in ["max", "0.5 of max"].iter().zip(&reports) {
        let of_phase: Vec<_> = rows.iter().filter(|row| row.0 == *phase).collect();
        assert_eq!(of_phase.len(), 3_000, "{phase}");
        let max_latency = of_phase.iter().map(|row| row.2).max().unwrap();
        assert_eq!(max_latency, report.latency_us[4], "{phase}");
        // The open-loop phase's events due after its first 50 ms, apart (every stream's
        // first event is due at the phase's start).
        let start = of_phase.iter().map(|row| row.1).min().unwrap();
        let steady_max = of_phase
            .iter()
            .filter(|row| row.1 >= start + 50_000)
            .map(|row| row.2)
            .max();
        match report.target_rate {
            None => assert_eq!(report.steady_latency_us, None, "{phase}"),
            Some(_) => {
                let (after, steady) = report.steady_latency_us.expect("an open-loop phase");
                assert_eq!(after, Duration::from_millis(50));
                assert_eq!(Some(steady[4]), steady_max, "{phase}");
                assert!(steady.windows(2).all(|w| w[0] <= w[1]), "{steady:?}");
            }
        }
        assert!(
            of_phase
                .iter()
                .all(|row| row.1 + row.2 <= now_us && row.1 > now_us - 600_000_000),
            "{phase}: acknowledged in the last ten minutes"
        );
    }

    // A second run finds its parties registered and records new lots.
    let mut again = loadgen_args(&node, &key);
    again.at_fraction.clear();
    let printed = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        run(&again, &mut out).expect("the load runs again");
        String::from_utf8(out).unwrap()
    })
    .await
    .unwrap();
    assert!(
        printed.contains("40 parties: 0 registered now"),
        "{printed}"
    );
    assert_eq!(node.n_events().await, before + 40 + 9_000);
}

/// A client that streams events and reads none of the answers: the node stops reading
/// its stream once its answers back up (a bounded number of events in flight), so the
/// client cannot make the node hold more; reading the answers lets the stream go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_no_receipts_is_held_back_by_flow_control() {
    const EVENTS: u64 = 30_000;
    let node = farm_with_lots(0).await;
    let farm = party(1, PartyRole::Producer);
    // The same origin over and over: the first is recorded, the rest are duplicates, so
    // every event goes through the writer's queue and gets an answer.
    let (event, _) = farm.sign(fixed_time(60), cabbage_origin("HN-FLOW-1"));
    let before = node.n_events().await;
    let pulled = Arc::new(AtomicU64::new(0));
    let all_pulled = Arc::new(tokio::sync::Notify::new());
    let counter = pulled.clone();
    let done = all_pulled.clone();
    let outbound = tokio_stream::iter(std::iter::repeat_n(event, EVENTS as usize)).map(move |e| {
        if counter.fetch_add(1, Ordering::SeqCst) + 1 == EVENTS {
            done.notify_one();
        }
        e
    });
    // A client with HTTP/2's smallest windows, so what it buffers unread is small and
    // what the test counts is what the node holds.
    let channel = tonic::transport::Endpoint::from_shared(node.grpc_url())
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut client = ledger_proto::pb::ledger_client::LedgerClient::new(channel);
    let mut answers = client.submit_stream(outbound).await.unwrap().into_inner();

    // Reading nothing, the client cannot hand over all its events.
    let held = tokio::time::timeout(Duration::from_secs(3), all_pulled.notified()).await;
    let in_flight = pulled.load(Ordering::SeqCst);
    eprintln!("held back after taking {in_flight} of {EVENTS} events");
    assert!(
        held.is_err(),
        "the node took all {EVENTS} events without being read"
    );
    assert!(
        in_flight < 8_000,
        "{in_flight} events taken from a client that read no answer"
    );

    // Reading the answers lets it go on: every event answered, in order.
    let mut n = 0;
    while let Some(result) = answers.message().await.unwrap() {
        assert_eq!(result.index, n);
        n += 1;
    }
    assert_eq!(n, EVENTS);
    assert_eq!(pulled.load(Ordering::SeqCst), EVENTS);
    assert_eq!(node.n_events().await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_may_have_64_calls_open_and_the_next_waits() {
    use ledger_proto::pb::ledger_client::LedgerClient;
    let node = TestNode::start().await;
    let mut client = LedgerClient::new(node.channel().await);
    assert_eq!(ledger_node::MAX_STREAMS_PER_CONNECTION, 64);
    // 64 submission streams that send nothing and stay open.
    let mut open = Vec::new();
    for _ in 0..64 {
        let (events, rx) = tokio::sync::mpsc::channel::<ledger_proto::pb::SignedEvent>(1);
        let answers = client
            .submit_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("a stream opens")
            .into_inner();
        open.push((events, answers));
    }
    // The 65th call on the same connection waits for one of them to end ...
    let mut waiting_client = client.clone();
    let mut waiting = tokio::spawn(async move {
        waiting_client
            .get_event(ledger_proto::pb::GetEventRequest {
                key: Some(ledger_proto::pb::get_event_request::Key::Sequence(0)),
            })
            .await
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "a 65th call went through on a connection with 64 open"
    );
    // ... while another connection is served at once.
    let mut other = LedgerClient::new(node.channel().await);
    other
        .get_event(ledger_proto::pb::GetEventRequest {
            key: Some(ledger_proto::pb::get_event_request::Key::Sequence(0)),
        })
        .await
        .expect("another connection is not held up");
    // One stream ends (its client closes it, the node ends its answers): the call runs.
    let (events, mut answers) = open.pop().unwrap();
    drop(events);
    assert!(answers.message().await.unwrap().is_none());
    let event = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting call runs once a stream ends")
        .unwrap()
        .expect("event 0");
    assert_eq!(event.into_inner().sequence, 0);
}

/// The load generator signs a phase's events on other threads while its one runtime
/// thread goes on answering the node's keepalive pings. Before, that thread signed: ten
/// million events took about 100 s, past the node's 60 s ping and 20 s wait, and the
/// node closed every connection (`GoAway`). Here the node pings a quiet connection
/// after 50 ms and waits 250 ms for the answer (a margin for two cores shared with the
/// other tests), and signing takes longer than both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_answers_the_nodes_pings_while_it_signs() {
    let (ping, wait) = (Duration::from_millis(50), Duration::from_millis(250));
    let node = TestNode::start_with(NodeSetup {
        grpc_keepalive: Some((ping, wait)),
        ..NodeSetup::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("authority.key");
    ledger_node::keys::write_key_file(&key, &authority_key()).unwrap();
    let mut args = loadgen_args(&node, &key);
    args.at_fraction.clear();
    args.events = 60_000;
    let (reports, printed) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let reports = run(&args, &mut out);
        (reports, String::from_utf8(out).unwrap())
    })
    .await
    .unwrap();
    let reports = reports.unwrap_or_else(|error| panic!("{error:#}\n{printed}"));
    assert_eq!(reports[0].acknowledged, 60_000, "{printed}");
    // Meaningful only if signing outlasted a ping and its wait.
    let signing: f64 = printed
        .split(" events signed in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no signing time in {printed}"));
    assert!(
        signing > (ping + wait).as_secs_f64() + 0.1,
        "signing took {signing} s: {printed}"
    );
}
