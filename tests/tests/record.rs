//! Recording from the command line against a real node: keys made with `keygen`, the
//! authority's registry commands, and `submit` of events as JSON, signed on the client.

use std::process::ExitCode;

use foodtrace_tests::{TestNode, authority_key, foodtrace, foodtrace_failure};

/// A scratch directory with the authority's key file and a new producer key made by
/// `keygen`; returns the directory, the authority's key path and the producer's key
/// path and public key.
async fn keys() -> (tempfile::TempDir, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let authority = dir.path().join("authority.key");
    ledger_node::keys::write_key_file(&authority, &authority_key()).unwrap();
    let producer = dir.path().join("farm.key");
    let (code, said) = foodtrace(&["keygen", "--out", producer.to_str().unwrap()]).await;
    assert_eq!(code, ExitCode::SUCCESS);
    let public_key = said
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap()
        .to_owned();
    (
        dir,
        authority.to_str().unwrap().to_owned(),
        producer.to_str().unwrap().to_owned(),
        public_key,
    )
}

const FARM: &str = "91210112MA0000101J";

fn authority_id() -> String {
    district_synth::authority_id().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_is_registered_and_submits_json_events() {
    let node = TestNode::start().await;
    let server = node.grpc_url();
    let (dir, authority, farm_key, public_key) = keys().await;
    let farm = ledger_core::PartyId::uscc_with_check("91210112MA0000101")
        .unwrap()
        .to_string();
    assert_eq!(farm, FARM);
    let (code, said) = foodtrace(&[
        "registry",
        "register",
        &farm,
        "--name",
        "浑南绿源蔬菜合作社",
        "--role",
        "producer",
        "--region",
        "210112",
        "--contact",
        "024-2378 0101",
        "--public-key",
        &public_key,
        "--valid-from",
        "2026-01-01T00:00:00+08:00",
        "--key",
        &authority,
        "--as",
        &authority_id(),
        "--server",
        &server,
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");
    assert!(said.starts_with("recorded: sequence 1 hash "), "{said}");

    let (_, status) = foodtrace(&["registry", "status", &farm, "--server", &server]).await;
    assert!(
        status.contains("name:       浑南绿源蔬菜合作社"),
        "{status}"
    );
    assert!(status.contains("status:     active"));
    assert!(!status.contains("024-2378"), "contacts are for inspectors");

    // One event as a pretty-printed object, then JSON lines.
    let origin = dir.path().join("origin.json");
    std::fs::write(
        &origin,
        r#"{
  "kind": "origin", "occurred_at": "2026-11-27T07:00:00+08:00",
  "lot_id": "HN-CAB-1", "product_name": "大白菜", "product_category": "vegetable",
  "quantity": "100", "unit": "kg", "production_date": "2026-11-27",
  "region": "210112", "place": "浑南区 李相街道", "certificate": "HG-001"
}"#,
    )
    .unwrap();
    let signer = ["--key", farm_key.as_str(), "--as", farm.as_str()];
    let submit = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["submit", file.to_str().unwrap()];
        args.extend(signer);
        args.extend(["--server", server.as_str()]);
        args.extend(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        foodtrace(&args).await
    };
    let (code, said) = run(submit(&origin, &[])).await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");
    assert!(
        said.starts_with("line 1: recorded: sequence 2 hash "),
        "{said}"
    );
    let origin_hash = said.trim().rsplit(' ').next().unwrap().to_owned();
    // The same event again: the node says it already has it; nothing is added.
    let (code, again) = run(submit(&origin, &[])).await;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(again.contains("(already recorded)"), "{again}");
    assert_eq!(node.n_events().await, 3);

    let lines = dir.path().join("events.jsonl");
    std::fs::write(
        &lines,
        format!(
            concat!(
                r#"{{"kind":"inspection","inspection":"quick_test","lot_id":"HN-CAB-1","item":"农药残留","method":"GB/T 5009.199","value":"抑制率 12%","result":"pass","occurred_at":"2026-11-27T07:30:00+08:00"}}"#,
                "\n\n",
                r#"{{"kind":"ship","lot_id":"HN-CAB-1","quantity":"40","unit":"kg","recipient":"{}","document":"SD-1","previous_event":"{}","occurred_at":"2026-11-27T08:00:00+08:00"}}"#,
                "\n"
            ),
            authority_id(),
            origin_hash
        ),
    )
    .unwrap();
    // A dry run checks and signs, and sends nothing.
    let (code, said) = run(submit(&lines, &["--dry-run"])).await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");
    assert!(said.contains("line 1: valid, signed; hash ") && said.contains("line 3: valid"));
    assert_eq!(node.n_events().await, 3);
    let (code, said) = run(submit(&lines, &[])).await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");
    assert!(said.contains("line 1: recorded: sequence 3"), "{said}");
    assert!(said.contains("line 3: recorded: sequence 4"), "{said}");

    // Mistakes are named, with their line, and nothing is sent.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        concat!(
            r#"{"kind":"recall","lot_id":"HN-CAB-1","reason":"x","severity":"level2"}"#,
            "\n",
            r#"{"kind":"origin","lot_id":"HN-CAB-2","product_name":"白菜","product_category":"vegetable","quantity":"ten","unit":"kg","production_date":"2026-11-27","region":"210112","place":"浑南","certificate":"HG-2"}"#,
            "\n",
            r#"{"kind":"ship","lot":"HN-CAB-1"}"#,
            "\n",
        ),
    )
    .unwrap();
    let (code, said) = run(submit(&bad, &[])).await;
    assert_eq!(code, ExitCode::from(6));
    assert!(
        said.contains("line 2: refused: quantity: 'ten' is not a decimal number"),
        "{said}"
    );
    assert!(
        said.contains("line 3: refused: unknown field `lot`"),
        "{said}"
    );
    assert!(said.contains("nothing sent"));
    assert_eq!(node.n_events().await, 5);

    // The node's refusals come back per line: a producer may not recall.
    let recall = dir.path().join("recall.jsonl");
    std::fs::write(
        &recall,
        r#"{"kind":"recall","lot_id":"HN-CAB-1","reason":"农药残留超标","severity":"level2"}"#,
    )
    .unwrap();
    let (code, said) = run(submit(&recall, &[])).await;
    assert_eq!(code, ExitCode::from(6));
    assert!(said.starts_with("line 1: refused: "), "{said}");
    assert!(said.contains("authority"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authority_suspends_reinstates_and_revokes_keys() {
    let node = TestNode::start().await;
    let server = node.grpc_url();
    let (dir, authority, farm_key, public_key) = keys().await;
    let auth = [
        "--key",
        authority.as_str(),
        "--as",
        "",
        "--server",
        server.as_str(),
    ];
    let authority_id = authority_id();
    let with_auth = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut tail: Vec<String> = auth.iter().map(|s| s.to_string()).collect();
        tail[3] = authority_id.clone();
        all.extend(tail);
        all
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        foodtrace(&args).await
    };
    let (code, said) = run(with_auth(&[
        "registry",
        "register",
        FARM,
        "--name",
        "浑南绿源蔬菜合作社",
        "--role",
        "producer",
        "--region",
        "210112",
        "--public-key",
        &public_key,
        "--valid-from",
        "2026-01-01T00:00:00+08:00",
    ]))
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");
    let event = dir.path().join("origin.jsonl");
    let origin = |n: u32| {
        format!(
            r#"{{"kind":"origin","lot_id":"HN-CAB-{n}","product_name":"大白菜","product_category":"vegetable","quantity":"100","unit":"kg","production_date":"2026-11-27","region":"210112","place":"浑南","certificate":"HG-{n}"}}"#
        )
    };
    let submit = || {
        vec![
            "submit".to_owned(),
            event.to_str().unwrap().to_owned(),
            "--key".into(),
            farm_key.clone(),
            "--as".into(),
            FARM.into(),
            "--server".into(),
            server.clone(),
        ]
    };

    let (code, said) = run(with_auth(&[
        "registry",
        "suspend",
        FARM,
        "--reason",
        "停业整顿",
    ]))
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");
    let (_, status) = foodtrace(&["registry", "status", FARM, "--server", &server]).await;
    assert!(status.contains("status:     SUSPENDED"), "{status}");
    std::fs::write(&event, origin(1)).unwrap();
    let (code, said) = run(submit()).await;
    assert_eq!(code, ExitCode::from(6));
    assert!(said.contains("suspended"), "{said}");

    let (code, _) = run(with_auth(&["registry", "reinstate", FARM])).await;
    assert_eq!(code, ExitCode::SUCCESS);
    let (code, said) = run(submit()).await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");

    // A second key; the first revoked: the farm signs with the second from now on.
    let second = dir.path().join("farm2.key");
    let (_, made) = foodtrace(&["keygen", "--out", second.to_str().unwrap()]).await;
    let second_public = made
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap();
    let first_id =
        ledger_core::KeyId::of_public_key(&hex::decode(&public_key).unwrap().try_into().unwrap())
            .to_string();
    let (code, said) = run(with_auth(&[
        "registry",
        "add-key",
        FARM,
        "--public-key",
        second_public,
        "--valid-from",
        "2026-01-01T00:00:00+08:00",
    ]))
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");
    let (code, said) = run(with_auth(&[
        "registry",
        "revoke-key",
        FARM,
        "--key-id",
        &first_id,
        "--reason",
        "丢失",
    ]))
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");
    let (_, status) = foodtrace(&["registry", "status", FARM, "--server", &server]).await;
    assert!(status.contains(&format!("{first_id} from")) && status.contains("REVOKED"));
    std::fs::write(&event, origin(2)).unwrap();
    let (code, said) = run(submit()).await;
    assert_eq!(code, ExitCode::from(6), "{said}");
    let mut with_second = submit();
    with_second[3] = second.to_str().unwrap().to_owned();
    let (code, said) = run(with_second).await;
    assert_eq!(code, ExitCode::SUCCESS, "{said}");

    // Only the authority keeps the registry; an unknown party is exit code 5; a node
    // that is not there, 3.
    let (code, message) = foodtrace_failure(&[
        "registry", "suspend", FARM, "--key", &farm_key, "--as", FARM, "--server", &server,
    ])
    .await;
    assert_eq!(code, 6);
    assert!(message.contains("PermissionDenied"), "{message}");
    let (code, _) = foodtrace_failure(&[
        "registry",
        "status",
        "91210112MA00009992",
        "--server",
        &server,
    ])
    .await;
    assert_eq!(code, 5, "an unknown party");
    let (code, _) =
        foodtrace_failure(&["registry", "status", FARM, "--server", "http://127.0.0.1:1"]).await;
    assert_eq!(code, 3);
}

#[tokio::test]
async fn keygen_refuses_to_overwrite_and_writes_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.key");
    let (code, said) = foodtrace(&["keygen", "--out", path.to_str().unwrap()]).await;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(said.contains("key id:") && said.contains("public key:"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let before = std::fs::read(&path).unwrap();
    let mut argv = vec!["foodtrace", "keygen", "--out", path.to_str().unwrap()];
    let cli = <foodtrace_cli::Cli as clap::Parser>::try_parse_from(argv.drain(..)).unwrap();
    let error = foodtrace_cli::run(cli, &mut Vec::new()).unwrap_err();
    assert!(
        error.to_string().contains("refusing to overwrite"),
        "{error}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
