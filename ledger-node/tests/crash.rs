//! An acknowledged event survives `kill -9`: the real `ledger-node` binary, as a child
//! process, takes concurrent submissions, is killed with SIGKILL while more are in
//! flight, and after a restart on the same data directory holds every event it acknowledged.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use chrono::{Duration, Utc};
use district_synth::{Recorder, origin, party_id};
use ed25519_dalek::SigningKey;
use ledger_core::model::PartyRole;
use ledger_proto::pb;
use ledger_proto::pb::ledger_client::LedgerClient;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill() {
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
    let data = data_dir.to_str().unwrap();
    let id = authority.id().to_string();
    let mut node = start(&[
        "--data-dir",
        data,
        "--authority-key",
        key_path.to_str().unwrap(),
        "--authority-id",
        &id,
    ]);

    let client = LedgerClient::connect(format!("http://{}", node.grpc))
        .await
        .unwrap();
    let producer = Recorder::new(
        party_id("210112", 42),
        PartyRole::Producer,
        SigningKey::from_bytes(&[0x42; 32]),
    );
    let now = Utc::now().fixed_offset();
    let (registration, _) = authority.register(now, &producer, "合作社", "210112");
    client.clone().submit(registration).await.unwrap();

    // Eight writers, each submitting origins one after another. Once 200 receipts are in,
    // kill the node while the writers are still submitting.
    let (acks_tx, mut acks_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let producer = std::sync::Arc::new(producer);
    for writer in 0..8 {
        let mut client = client.clone();
        let acks = acks_tx.clone();
        let producer = producer.clone();
        tokio::spawn(async move {
            for i in 0.. {
                let kind = origin(
                    &format!("W{writer}-{i}"),
                    "黄瓜",
                    "vegetable",
                    "10",
                    "kg",
                    "2026-11-27",
                    "HG",
                );
                let (event, _) = producer.sign(now + Duration::milliseconds(i), kind);
                match client.submit(event).await {
                    Ok(receipt) => {
                        if acks.send(receipt.into_inner().event_hash).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
    }
    drop(acks_tx);
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 200 {
        acknowledged.push(acks_rx.recv().await.expect("receipts keep coming"));
    }
    node.child.kill().unwrap(); // SIGKILL
    node.child.wait().unwrap();
    // Receipts that were already on their way count too: they were acknowledged.
    while let Some(hash) = acks_rx.recv().await {
        acknowledged.push(hash);
    }

    let mut node = start(&["--data-dir", data]);
    let mut client = LedgerClient::connect(format!("http://{}", node.grpc))
        .await
        .unwrap();
    for hash in &acknowledged {
        let found = client
            .get_event(pb::GetEventRequest {
                key: Some(pb::get_event_request::Key::EventHash(hash.clone())),
            })
            .await;
        assert!(
            found.is_ok(),
            "acknowledged event {} lost: {:?}",
            hex(hash),
            found.err()
        );
    }
    // And it takes writes again.
    let (event, _) = producer.sign(
        now,
        origin(
            "AFTER-RESTART",
            "黄瓜",
            "vegetable",
            "1",
            "kg",
            "2026-11-27",
            "HG",
        ),
    );
    client.submit(event).await.unwrap();
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    assert!(acknowledged.len() >= 200);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
