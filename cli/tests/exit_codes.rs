//! The real `foodtrace` binary's exit codes for the inspector commands, which scripts
//! rely on: 3 when the server cannot be reached, 4 without an accepted token.

use std::process::Command;

fn foodtrace() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_foodtrace"));
    command
        .env_remove("FOODTRACE_TOKEN")
        .env_remove("FOODTRACE_API")
        .env_remove("FOODTRACE_CONFIG");
    command
}

#[test]
fn an_unreachable_server_exits_3() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let output = foodtrace()
        .args(["trace", "down", "CAB-001", "--api", &api, "--token", "ft_x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!("foodtrace: cannot reach the query API at {api}")),
        "{stderr}"
    );
}

#[test]
fn no_token_exits_4_and_says_where_to_put_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "api = \"http://127.0.0.1:9\"\n").unwrap();
    let output = foodtrace()
        .args(["lot", "show", "CAB-001", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("FOODTRACE_TOKEN"), "{stderr}");
}

#[test]
fn a_config_file_with_a_typo_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "api = \"http://127.0.0.1:9\"\ntoken_ = \"ft_x\"\n").unwrap();
    let output = foodtrace()
        .args(["party", "show", "91210112MA0000001W", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("unknown field `token_`"), "{stderr}");
}

/// Output piped into a reader that stops early (`foodtrace … | head -1`) is not an
/// error: no message, exit code 0.
#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = foodtrace()
        .args(["keygen", "--out"])
        .arg(dir.path().join("k.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the command writes its first line.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(stderr.is_empty(), "{stderr}");
    assert!(status.success(), "{status:?}");
    assert!(
        dir.path().join("k.key").exists(),
        "the work itself was done"
    );
}
