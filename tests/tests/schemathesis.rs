//! The HTTP API fuzzed from its own OpenAPI document by schemathesis (from PyPI; `.ci/run`
//! installs it): every operation, with valid and invalid inputs generated from the
//! document, as an inspector and anonymously, bounded by a fixed number of examples and
//! seeds. No answer may be a server error, and every answer must be as documented: its
//! status, content type, headers and body schema.
//!
//! Left out: schemathesis's `positive_data_acceptance`, which expects every input the
//! schema allows to be accepted. Party ids and GTINs carry check characters, and proof
//! sizes are bounded by the log's length, none of which a JSON Schema can state; the
//! API answers those with 400 and names the parameter, as documented.

use foodtrace_tests::farm_with_lots;

/// Runs schemathesis against `schema`; returns what it printed, or fails the test.
fn schemathesis(schema: &str, token: Option<&str>, seed: u32) -> String {
    let mut command = std::process::Command::new("schemathesis");
    command.args([
        "run",
        schema,
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        "50",
        "--seed",
        &seed.to_string(),
        "--workers",
        "2",
        "--no-color",
    ]);
    if let Some(token) = token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    let output = command
        .output()
        .expect("schemathesis runs (pip install schemathesis; see README.md)");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}

/// The `N generated, N passed` line's counts.
fn generated_and_passed(printed: &str) -> (u64, u64) {
    let line = printed
        .lines()
        .find(|line| line.contains(" generated, "))
        .unwrap_or_else(|| panic!("no summary in:\n{printed}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_answers_as_its_openapi_document_says_under_schemathesis() {
    let node = farm_with_lots(20).await;
    let token = node.add_inspector("schemathesis");
    let schema = format!("{}/v1/openapi.json", node.http_base());
    let (as_inspector, anonymous) = tokio::task::spawn_blocking(move || {
        (
            schemathesis(&schema, Some(&token), 1),
            schemathesis(&schema, None, 2),
        )
    })
    .await
    .unwrap();
    for printed in [&as_inspector, &anonymous] {
        let (generated, passed) = generated_and_passed(printed);
        assert!(generated >= 500, "only {generated} cases:\n{printed}");
        assert_eq!(generated, passed, "{printed}");
    }
    println!(
        "schemathesis: {} cases as an inspector, {} anonymously, all as documented",
        generated_and_passed(&as_inspector).0,
        generated_and_passed(&anonymous).0
    );
}
