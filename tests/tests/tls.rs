//! TLS on both of the node's servers, with certificates this test makes: the CLI and
//! an HTTP client reach the node through its CA; a client that does not trust that CA,
//! or speaks plain text, gets nothing; with a client CA configured, gRPC clients are
//! told apart by their certificates (required, or only checked when presented).

use foodtrace_tests::{TestNode, foodtrace, foodtrace_failure, foodtrace_result};
use ledger_node::NodeTls;
use query_api::tls::TlsIdentity;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::process::ExitCode;

/// A certificate authority of the test's own.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A certificate for `names` (DNS names or IP addresses) and its key, PEM.
    fn issue(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }
}

/// Files the CLI reads, in a temporary directory.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

fn server_tls(ca: &Ca, client_ca: Option<&Ca>, require_client_cert: bool) -> NodeTls {
    let (cert_pem, key_pem) = ca.issue(
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    NodeTls {
        identity: TlsIdentity {
            cert_pem: cert_pem.into_bytes(),
            key_pem: key_pem.into_bytes(),
        },
        grpc_client_ca_pem: client_ca.map(|ca| ca.pem().into_bytes()),
        require_client_cert,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_over_tls_reach_only_clients_that_trust_the_node() {
    let ca = Ca::new("foodtrace test CA");
    let node = TestNode::start_tls(server_tls(&ca, None, false)).await;
    let files = Files::new();
    let ca_file = files.write("ca.pem", &ca.pem());
    let grpc = format!("https://{}", node.grpc_addr);
    let api = format!("https://{}", node.http_addr);

    // gRPC through the CA.
    let (code, printed) = foodtrace(&["log-info", "--server", &grpc, "--ca-cert", &ca_file]).await;
    assert_eq!(code, ExitCode::SUCCESS, "{printed}");
    assert!(printed.contains("tree size:    1"), "{printed}");
    // Without the CA the CLI says what it needs; with another CA the handshake fails.
    let (_, message) = foodtrace_failure(&["log-info", "--server", &grpc]).await;
    assert!(message.contains("is https: pass --ca-cert"), "{message}");
    let other = files.write("other-ca.pem", &Ca::new("someone else").pem());
    let (code, message) =
        foodtrace_failure(&["log-info", "--server", &grpc, "--ca-cert", &other]).await;
    assert_eq!(code, foodtrace_cli::api::EXIT_UNREACHABLE, "{message}");
    // Plain text to the TLS port gets no answer.
    let (code, _) = foodtrace_failure(&[
        "log-info",
        "--server",
        &format!("http://{}", node.grpc_addr),
    ])
    .await;
    assert_eq!(code, foodtrace_cli::api::EXIT_UNREACHABLE);

    // HTTP through the CA, for anyone and for an inspector with the CLI.
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let health = trusting.get(format!("{api}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let token = node.add_inspector("tls-inspector");
    let (code, printed) = foodtrace(&[
        "events",
        "--api",
        &api,
        "--api-ca-cert",
        &ca_file,
        "--token",
        &token,
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{printed}");
    assert!(printed.contains("REGISTER_PARTY"), "{printed}");
    // `qr` asks an https lot page for the product name through the CA (the page is
    // reached: this lot has none, so 404), and says what it needs without one.
    let out = files.write("code.svg", "");
    let (code, message) = foodtrace_failure(&[
        "qr",
        "NO-SUCH-LOT",
        "--base-url",
        &api,
        "--ca-cert",
        &ca_file,
        "-o",
        &out,
    ])
    .await;
    assert_eq!(code, foodtrace_cli::api::EXIT_NOT_FOUND, "{message}");
    assert!(message.contains("404"), "{message}");
    let (code, message) =
        foodtrace_failure(&["qr", "NO-SUCH-LOT", "--base-url", &api, "-o", &out]).await;
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("is https: pass --ca-cert"), "{message}");

    // A client that trusts only other CAs, or speaks plain HTTP, gets nothing.
    let untrusting = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(Ca::new("elsewhere").pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("{api}/healthz"))
            .send()
            .await
            .is_err()
    );
    assert!(
        reqwest::get(format!("http://{}/healthz", node.http_addr))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_can_be_required_to_present_a_certificate_from_the_client_ca() {
    let ca = Ca::new("foodtrace test CA");
    let producers = Ca::new("district producers CA");
    let rogue = Ca::new("rogue CA");
    let files = Files::new();
    let ca_file = files.write("ca.pem", &ca.pem());
    let (cert, key) = producers.issue(&["market-7"], ExtendedKeyUsagePurpose::ClientAuth);
    let good = (
        files.write("good.pem", &cert),
        files.write("good.key", &key),
    );
    let (cert, key) = rogue.issue(&["market-7"], ExtendedKeyUsagePurpose::ClientAuth);
    let bad = (files.write("bad.pem", &cert), files.write("bad.key", &key));
    // Required: only a certificate from the producers' CA gets in.
    let node = TestNode::start_tls(server_tls(&ca, Some(&producers), true)).await;
    let grpc = format!("https://{}", node.grpc_addr);
    log_info(&grpc, &ca_file, Some(&good))
        .await
        .expect("the producers' CA");
    let refused = log_info(&grpc, &ca_file, None).await;
    assert_eq!(
        refused.unwrap_err(),
        foodtrace_cli::api::EXIT_UNREACHABLE,
        "no certificate"
    );
    let refused = log_info(&grpc, &ca_file, Some(&bad)).await;
    assert_eq!(
        refused.unwrap_err(),
        foodtrace_cli::api::EXIT_UNREACHABLE,
        "a rogue CA's"
    );
    drop(node);

    // Optional: no certificate is fine, a rogue one is not.
    let node = TestNode::start_tls(server_tls(&ca, Some(&producers), false)).await;
    let grpc = format!("https://{}", node.grpc_addr);
    log_info(&grpc, &ca_file, None)
        .await
        .expect("no certificate is fine");
    log_info(&grpc, &ca_file, Some(&good))
        .await
        .expect("the producers' CA");
    let refused = log_info(&grpc, &ca_file, Some(&bad)).await;
    assert_eq!(
        refused.unwrap_err(),
        foodtrace_cli::api::EXIT_UNREACHABLE,
        "a rogue CA's"
    );
}

/// `foodtrace log-info` against `grpc` through `ca`, presenting `client` (certificate
/// and key files) if given: what it printed, or its exit code.
async fn log_info(grpc: &str, ca: &str, client: Option<&(String, String)>) -> Result<String, u8> {
    let mut args = vec!["log-info", "--server", grpc, "--ca-cert", ca];
    if let Some((cert, key)) = client {
        args.extend(["--client-cert", cert.as_str(), "--client-key", key.as_str()]);
    }
    match foodtrace_result(&args).await {
        Ok((code, printed)) => {
            assert_eq!(code, ExitCode::SUCCESS);
            Ok(printed)
        }
        Err(error) => Err(error
            .downcast_ref::<foodtrace_cli::Failure>()
            .map_or(1, |failure| failure.code)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_connections_past_the_limit_are_closed_before_the_handshake() {
    let ca = Ca::new("foodtrace test CA");
    let node = TestNode::start_with(foodtrace_tests::NodeSetup {
        tls: Some(server_tls(&ca, None, false)),
        http_connections: Some(query_api::connections::ConnectionLimit {
            total: 8,
            per_address: 1,
        }),
        ..foodtrace_tests::NodeSetup::default()
    })
    .await;
    let api = format!("https://{}", node.http_addr);
    let client_from = |last: u8| {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
            .local_address(std::net::IpAddr::from([127, 0, 0, last]))
            .build()
            .unwrap()
    };
    let status = |client: &reqwest::Client, path: &str| {
        let request = client.get(format!("{api}{path}")).send();
        async move { request.await.map(|answer| answer.status().as_u16()) }
    };
    // The first client from 127.0.0.1 holds its (kept-alive) connection.
    let first = client_from(1);
    assert_eq!(status(&first, "/healthz").await.unwrap(), 200);
    // A second from the same address is closed; one from another address is served.
    let refused = status(&client_from(1), "/healthz").await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(status(&client_from(2), "/healthz").await.unwrap(), 200);
    // The first one's connection is still served.
    assert_eq!(status(&first, "/v1/status").await.unwrap(), 200);
}
