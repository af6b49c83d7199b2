//! Connection limits (gRPC and HTTP, in all and per client address) and the gRPC call
//! timeout, against a real node on loopback. Client addresses other than 127.0.0.1 are
//! other loopback addresses (all of 127.0.0.0/8 is loopback on Linux).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use foodtrace_tests::{NodeSetup, TestNode, authority, cabbage_origin, party};
use ledger_core::model::PartyRole;
use ledger_proto::pb;
use ledger_proto::pb::ledger_client::LedgerClient;
use query_api::connections::ConnectionLimit;
use tonic::transport::{Channel, Endpoint};

const SMALL: ConnectionLimit = ConnectionLimit {
    total: 3,
    per_address: 2,
};

fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// One gRPC connection from `from`, made and used for one call: `Ok` with the open
/// channel if the node served it, `Err` with what went wrong if not.
async fn grpc_connection(node: &TestNode, from: IpAddr) -> Result<Channel, String> {
    let channel = Endpoint::from_shared(node.grpc_url())
        .unwrap()
        .local_address(Some(from))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    LedgerClient::new(channel.clone())
        .get_event(pb::GetEventRequest {
            key: Some(pb::get_event_request::Key::Sequence(0)),
        })
        .await
        .map_err(|status| format!("call: {status:?}"))?;
    Ok(channel)
}

/// One HTTP client from `from` whose first request has been answered (so it holds its
/// connection open, kept alive), or what went wrong.
async fn http_connection(node: &TestNode, from: IpAddr) -> Result<reqwest::Client, String> {
    let client = reqwest::Client::builder()
        .local_address(from)
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/healthz", node.http_base()))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    assert!(response.status().is_success());
    response.text().await.map_err(|e| format!("{e:?}"))?;
    Ok(client)
}

/// Tries `connect` until it succeeds: a closed connection's place is given back when
/// the node has seen it close, which the client cannot observe directly.
async fn eventually<T, F, Fut>(mut connect: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connect().await {
            Ok(value) => return value,
            Err(e) if Instant::now() > deadline => panic!("never let in: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_are_limited_per_address_and_in_all() {
    let node = TestNode::start_with(NodeSetup {
        grpc_connections: Some(SMALL),
        ..NodeSetup::default()
    })
    .await;
    let a1 = grpc_connection(&node, loopback(1))
        .await
        .expect("first from .1");
    let _a2 = grpc_connection(&node, loopback(1))
        .await
        .expect("second from .1");
    let refused = grpc_connection(&node, loopback(1))
        .await
        .expect_err("a third from .1 is over the address's share");
    eprintln!("third from 127.0.0.1: {refused}");
    let _b1 = grpc_connection(&node, loopback(2))
        .await
        .expect("another address has room");
    grpc_connection(&node, loopback(3))
        .await
        .expect_err("a fourth in all is over the total");
    // The connections let in keep working.
    LedgerClient::new(a1.clone())
        .get_event(pb::GetEventRequest {
            key: Some(pb::get_event_request::Key::Sequence(0)),
        })
        .await
        .expect("an open connection is still served");
    // One closes: its place is free again, for its own address and for the total.
    drop(a1);
    eventually(|| grpc_connection(&node, loopback(1))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connections_are_limited_per_address_and_in_all() {
    let node = TestNode::start_with(NodeSetup {
        http_connections: Some(SMALL),
        ..NodeSetup::default()
    })
    .await;
    let a1 = http_connection(&node, loopback(1))
        .await
        .expect("first from .1");
    let _a2 = http_connection(&node, loopback(1))
        .await
        .expect("second from .1");
    let refused = http_connection(&node, loopback(1))
        .await
        .expect_err("a third from .1 is over the address's share");
    eprintln!("third from 127.0.0.1: {refused}");
    let _b1 = http_connection(&node, loopback(2))
        .await
        .expect("another address has room");
    http_connection(&node, loopback(3))
        .await
        .expect_err("a fourth in all is over the total");
    // The kept-alive connections let in are still served.
    let answer = a1
        .get(format!("{}/v1/status", node.http_base()))
        .send()
        .await
        .expect("an open connection is still served");
    assert!(answer.status().is_success());
    drop(a1);
    eventually(|| http_connection(&node, loopback(1))).await;
}

/// A call whose request never finishes arriving: HTTP/2 headers for `Submit` and the
/// first bytes of a gRPC message announcing 100 bytes, then nothing. Returns the node's
/// answer's `grpc-status` and `grpc-message` and how long it took to come.
async fn half_sent_submit(node: &TestNode) -> (String, String, Duration) {
    let tcp = tokio::net::TcpStream::connect(node.grpc_addr)
        .await
        .unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}/foodtrace.v1.Ledger/Submit", node.grpc_url()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let started = Instant::now();
    let (response, mut body) = client.send_request(request, false).unwrap();
    // Not compressed, 100 bytes long; 5 of them sent.
    body.send_data(
        bytes::Bytes::from_static(&[0, 0, 0, 0, 100, 1, 2, 3, 4, 5]),
        false,
    )
    .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), response)
        .await
        .expect("the node answers a call it cannot finish reading")
        .unwrap();
    let took = started.elapsed();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let status = header("grpc-status");
    let message = header("grpc-message");
    drop(body);
    (status, message, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_takes_too_long_is_ended_but_a_stream_is_not() {
    let limit = Duration::from_millis(300);
    let node = TestNode::start_with(NodeSetup {
        call_timeout: Some(limit),
        ..NodeSetup::default()
    })
    .await;
    // A farm registered, and a submission stream open with one event answered.
    let farm = party(1, PartyRole::Producer);
    foodtrace_tests::admitted(
        &mut node.ledger().await,
        authority().register(
            foodtrace_tests::recently(60),
            &farm,
            "浑南绿源蔬菜合作社",
            district_synth::HUNNAN,
        ),
    )
    .await;
    let (events, rx) = tokio::sync::mpsc::channel::<pb::SignedEvent>(4);
    let mut answers = node
        .ledger()
        .await
        .submit_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("a stream opens")
        .into_inner();
    let first = farm.sign(foodtrace_tests::recently(30), cabbage_origin("HN-LIMIT-1"));
    events.send(first.0).await.unwrap();
    assert!(matches!(
        answers.message().await.unwrap().unwrap().outcome,
        Some(pb::submit_result::Outcome::Receipt(_))
    ));

    // The half-sent call is ended once the limit has passed, with CANCELLED (1).
    let (status, message, took) = half_sent_submit(&node).await;
    assert_eq!(status, "1", "grpc-status of the cut-off call ({message})");
    assert_eq!(
        message, "Timeout%20expired",
        "percent-encoded, as gRPC sends it"
    );
    assert!(took >= limit, "ended after {took:?}, before the limit");
    assert!(took < Duration::from_secs(10), "ended only after {took:?}");

    // The stream, open all that time (longer than the limit), still takes events.
    let second = farm.sign(foodtrace_tests::recently(20), cabbage_origin("HN-LIMIT-2"));
    events.send(second.0).await.unwrap();
    let answer = answers.message().await.unwrap().unwrap();
    assert_eq!(answer.index, 1);
    assert!(
        matches!(answer.outcome, Some(pb::submit_result::Outcome::Receipt(_))),
        "{answer:?}"
    );
}
