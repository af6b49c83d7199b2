//! Operations that keep the ledger safe: an online, consistent backup taken through the
//! query API while events keep arriving, restored into a new data directory and
//! audited; a node on the restored copy serves it and takes writes.

use std::process::ExitCode;

use foodtrace_tests::{
    NodeSetup, TestNode, cabbage_origin, farm_lot, farm_with_lots, fixed_time, foodtrace,
    foodtrace_error, foodtrace_failure, party,
};
use ledger_core::model::PartyRole;

/// What `foodtrace backup` printed: the backup's path and its event count.
fn backup_printed(printed: &str) -> (String, u64) {
    let events = printed
        .split_once(": ")
        .and_then(|(_, rest)| rest.split_once(" events"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in {printed:?}"));
    let path = printed
        .lines()
        .find_map(|line| line.trim().strip_prefix("on the node's machine: "))
        .unwrap_or_else(|| panic!("no path in {printed:?}"))
        .to_owned();
    (path, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_audits_and_serves() {
    let node = farm_with_lots(50).await;
    let token = node.add_inspector("operator");
    let api = node.http_base();

    // Origins keep streaming in while the backup is taken.
    let farm = party(1, PartyRole::Producer);
    let day = fixed_time(24 * 60);
    let events: Vec<_> = (50..3050)
        .map(|i| {
            let kind = cabbage_origin(&farm_lot(i));
            farm.sign(day, kind).0
        })
        .collect();
    let mut client = node.ledger().await;
    let streaming = tokio::spawn(async move {
        let mut results = client
            .submit_stream(tokio_stream::iter(events))
            .await
            .unwrap()
            .into_inner();
        let mut admitted = 0;
        while let Some(result) = results.message().await.unwrap() {
            assert!(
                matches!(
                    result.outcome,
                    Some(ledger_proto::pb::submit_result::Outcome::Receipt(_))
                ),
                "{result:?}"
            );
            admitted += 1;
        }
        admitted
    });
    let before = node.n_events().await;
    let (code, printed) = foodtrace(&[
        "backup", "--api", &api, "--token", &token, "--name", "nightly",
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{printed}");
    let (path, backed_up) = backup_printed(&printed);
    assert_eq!(streaming.await.unwrap(), 3000);
    let after = node.n_events().await;
    assert!(
        before <= backed_up && backed_up <= after,
        "{before} <= {backed_up} <= {after}"
    );
    assert!(
        std::path::Path::new(&path).ends_with("backups/nightly"),
        "{path}"
    );

    // The same name again, a name that is a path, no token: refused, naming why.
    let (code, message) = foodtrace_failure(&[
        "backup", "--api", &api, "--token", &token, "--name", "nightly",
    ])
    .await;
    assert_eq!(code, 1);
    assert!(
        message.contains("(409 Conflict): name: a backup named 'nightly' exists"),
        "{message}"
    );
    let (_, message) = foodtrace_failure(&[
        "backup",
        "--api",
        &api,
        "--token",
        &token,
        "--name",
        "a/../escape",
    ])
    .await;
    assert!(
        message.contains("(400 Bad Request): name: '/' is not allowed"),
        "{message}"
    );
    let (code, _) = foodtrace_failure(&["backup", "--api", &api, "--token", "not-a-token"]).await;
    assert_eq!(code, foodtrace_cli::api::EXIT_REFUSED);

    // Restored into a new directory and audited.
    let restored = tempfile::tempdir().unwrap();
    let data_dir = restored.path().join("data");
    let data = data_dir.to_str().unwrap();
    let (code, printed) = foodtrace(&["restore", "--from", &path, "--data-dir", data]).await;
    assert_eq!(code, ExitCode::SUCCESS, "{printed}");
    assert!(
        printed.contains(&format!("ok: {backed_up} events and ")),
        "{printed}"
    );

    // Not over anything.
    let error = foodtrace_error(&["restore", "--from", &path, "--data-dir", data]).await;
    assert!(error.contains("exists and is not empty"), "{error}");
    // A backup that does not check out against the log key the auditor pinned is not
    // kept as a data directory.
    let elsewhere = restored.path().join("elsewhere");
    let impostor = ledger_core::checkpoint::LogSigner::new(
        "foodtrace/ledger",
        ed25519_dalek::SigningKey::from_bytes(&[0x66; 32]),
    )
    .unwrap()
    .verifier_key();
    let (code, printed) = foodtrace(&[
        "restore",
        "--from",
        &path,
        "--data-dir",
        elsewhere.to_str().unwrap(),
        "--log-key",
        &impostor,
    ])
    .await;
    assert_eq!(code, ExitCode::FAILURE, "{printed}");
    assert!(printed.contains("FAILED: checkpoint of "), "{printed}");
    assert!(
        printed.contains("failed its audit and was removed"),
        "{printed}"
    );
    assert!(!elsewhere.exists());

    // A node on the restored copy has every backed-up event, its tokens, and takes writes.
    drop(node);
    let copy = TestNode::resume_in(data_dir.clone()).await;
    assert_eq!(copy.n_events().await, backed_up);
    let lot = copy.public_lot(&format!("/l/{}", farm_lot(7))).await;
    assert_eq!(lot.lot_id, farm_lot(7));
    let kind = cabbage_origin("AFTER-RESTORE");
    let receipt = copy
        .ledger()
        .await
        .submit(farm.sign(day, kind).0)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(receipt.sequence, backed_up);
    let lots = reqwest::Client::new()
        .get(format!("{}/v1/lots?limit=1", copy.http_base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(lots.status(), 200, "the inspector's token came along");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_takes_too_long_is_a_503_saying_so() {
    // A limit of a millisecond (the timer's grain), against a page of 1,000 lots, which
    // takes several to read and write out; the health check needs nothing and is
    // answered.
    let node = TestNode::start_with(NodeSetup {
        request_timeout: Some(std::time::Duration::from_millis(1)),
        ..NodeSetup::default()
    })
    .await;
    let farm = party(1, PartyRole::Producer);
    let mut events = vec![
        foodtrace_tests::authority()
            .register(
                foodtrace_tests::epoch(),
                &farm,
                "浑南绿源蔬菜合作社",
                "210112",
            )
            .0,
    ];
    let day = fixed_time(24 * 60);
    events.extend((0..1000).map(|i| farm.sign(day, cabbage_origin(&farm_lot(i))).0));
    assert_eq!(foodtrace_tests::admit_all(&node, events).await, 1001);
    let token = node.add_inspector("patient");
    let client = reqwest::Client::new();
    let slow = client
        .get(format!("{}/v1/lots?limit=1000", node.http_base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 503);
    assert_eq!(slow.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = slow.json().await.unwrap();
    assert_eq!(problem["title"], "Took too long");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("the answer took longer than this server's limit of 1 ms"),
        "{problem}"
    );
    let health = client
        .get(format!("{}/healthz", node.http_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(node);

    // With the default limit (30 s) a request like it is answered.
    let normal = farm_with_lots(1000).await;
    let token = normal.add_inspector("patient");
    let answered = client
        .get(format!("{}/v1/lots?limit=1000", normal.http_base()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
}
