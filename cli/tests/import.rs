//! `foodtrace import` against a real node: a 10,000-row purchase inspection sheet with a
//! few bad rows, imported, imported again, its rejects fixed and imported; and an import
//! killed half-way (SIGKILL, the real binary) and started again.

use std::path::Path;
use std::process::Command;

use foodtrace_tests::{TestNode, party, party_key};
use ledger_core::model::PartyRole;
use ledger_proto::pb;

const N_ROWS: usize = 10_000;

fn lot(i: usize) -> String {
    foodtrace_tests::farm_lot(i)
}

/// A node where a farm has recorded `n_lots` lots and a market and a shop are
/// registered; returns the node, the market's key file and its party id.
async fn node_with_lots(n_lots: usize, dir: &Path) -> (TestNode, String, String) {
    let node = foodtrace_tests::farm_with_lots(n_lots).await;
    let key = dir.join("market.key");
    ledger_node::keys::write_key_file(&key, &party_key(2)).unwrap();
    let market = party(2, PartyRole::WholesaleMarket).id().to_string();
    (node, key.to_str().unwrap().to_owned(), market)
}

/// The sheet: row n (from 2) receives lot n-2; the given rows spoilt.
fn sheet(path: &Path, n_rows: usize, farm: &str, spoil: &[(usize, &str)]) {
    let mut text = String::from("日期,供货者,品名,批号,数量,单位,合格证编号,票据编号\n");
    for i in 0..n_rows {
        let row = i + 2;
        let mut cells = [
            "2026-11-27 05:30".to_owned(),
            farm.to_owned(),
            "大白菜".to_owned(),
            lot(i),
            "50".to_owned(),
            "kg".to_owned(),
            "HG-1".to_owned(),
            format!("PS-{i:05}"),
        ];
        for (spoilt, how) in spoil {
            if *spoilt == row {
                let (column, value) = how.split_once('=').unwrap();
                let column: usize = column.parse().unwrap();
                cells[column] = value.to_owned();
            }
        }
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn foodtrace() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_foodtrace"));
    command
        .env_remove("FOODTRACE_KEY")
        .env_remove("FOODTRACE_PARTY");
    command
}

/// Runs the real binary's `import` (off the runtime the node runs on); its exit code and
/// what it printed.
async fn import_with(
    file: &Path,
    extra: &[&str],
    key: &str,
    market: &str,
    node: &TestNode,
) -> (Option<i32>, String) {
    let mut command = foodtrace();
    command.arg("import").arg(file).args(extra).args([
        "--key",
        key,
        "--as",
        market,
        "--server",
        &node.grpc_url(),
    ]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let said = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.is_empty() || output.status.code() != Some(0),
        "{stderr}"
    );
    (output.status.code(), said + &stderr)
}

async fn import(file: &Path, key: &str, market: &str, node: &TestNode) -> (Option<i32>, String) {
    import_with(file, &[], key, market, node).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sheet_with_bad_rows_imports_reports_and_reimports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (node, key, market) = node_with_lots(N_ROWS, dir.path()).await;
    let farm = party(1, PartyRole::Producer).id().to_string();
    let before = node.n_events().await;
    let file = dir.path().join("早市.csv");
    sheet(
        &file,
        N_ROWS,
        &farm,
        &[
            (17, "4=ten"),
            (100, "0=2026-13-01"),
            (2500, "1=91210112MA00088882"),
            (5000, "1=91210112MA000010"),
            (7777, "5="),
        ],
    );
    // Row 9001 repeats row 9000 exactly.
    let mut text = std::fs::read_to_string(&file).unwrap();
    let repeated = text.lines().nth(8998).unwrap().to_owned();
    text.push_str(&repeated);
    text.push('\n');
    std::fs::write(&file, &text).unwrap();

    let (code, said) = import(&file, &key, &market, &node).await;
    assert_eq!(code, Some(6), "{said}");
    let good = N_ROWS - 5;
    assert!(
        said.starts_with(&format!(
            "imported {good} rows; 0 already in the ledger; 1 repeated in the file; 5 refused\n"
        )),
        "{said}"
    );
    for line in [
        "row 17: 数量: 'ten' is not a number",
        "row 100: 日期: '2026-13-01' is not a date like 2026-11-28",
        "row 2500: refused by the node: ",
        "row 5000: 供货者: ",
        "row 7777: 单位: ",
    ] {
        assert!(said.contains(line), "{line} in {said}");
    }
    assert_eq!(node.n_events().await, before + good as u64);

    // The rejects file: the five rows as they were, with the reason.
    let rejects = dir.path().join("早市.rejects.csv");
    let text = std::fs::read_to_string(&rejects).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].ends_with(",错误 error"));
    assert!(lines[1].contains(",ten,") && lines[1].contains("row 17: 数量"));

    // Again: nothing new.
    let (code, said) = import(&file, &key, &market, &node).await;
    assert_eq!(code, Some(6));
    assert!(
        said.starts_with(&format!(
            "imported 0 rows; {good} already in the ledger; 1 repeated in the file; 5 refused\n"
        )),
        "{said}"
    );
    assert_eq!(node.n_events().await, before + good as u64);

    // The clerk fixes four of the five in the rejects file and imports it as it is.
    let fixed = text
        .replace(",ten,", ",50,")
        .replace("2026-13-01", "2026-11-27")
        .replace("91210112MA000010,", &format!("{farm},"))
        .replace(",,HG-1", ",kg,HG-1");
    std::fs::write(&rejects, fixed).unwrap();
    let (code, said) = import(&rejects, &key, &market, &node).await;
    assert_eq!(code, Some(6), "{said}");
    assert!(
        said.starts_with(
            "imported 4 rows; 0 already in the ledger; 0 repeated in the file; 1 refused\n"
        ),
        "{said}"
    );
    assert!(
        said.contains("refused by the node: ") && said.contains("91210112MA00088882"),
        "{said}"
    );
    assert_eq!(node.n_events().await, before + good as u64 + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_half_way_finishes_when_run_again() {
    use tokio_stream::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let (node, key, market) = node_with_lots(N_ROWS, dir.path()).await;
    let farm = party(1, PartyRole::Producer).id().to_string();
    let before = node.n_events().await;
    let file = dir.path().join("sheet.csv");
    sheet(&file, N_ROWS, &farm, &[]);

    // Follow the log from a fifth of the way in: its first event says the import is
    // under way, and the importer is killed right then.
    let mut log = pb::log_client::LogClient::new(node.channel().await);
    let mut follow = log
        .follow(pb::FollowRequest {
            from_sequence: before + (N_ROWS / 5) as u64,
            until_caught_up: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_foodtrace"))
        .arg("import")
        .arg(&file)
        .args(["--key", &key, "--as", &market, "--server", &node.grpc_url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    follow.next().await.unwrap().unwrap();
    assert!(child.try_wait().unwrap().is_none(), "still importing");
    child.start_kill().unwrap(); // SIGKILL
    let status = child.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let part = node.n_events().await - before;
    assert!(
        part > 0 && part < N_ROWS as u64,
        "killed half-way: {part} rows in"
    );

    let (code, said) = import(&file, &key, &market, &node).await;
    assert_eq!(code, Some(0), "{said}");
    // What the node committed after the kill (the rows already on their way) counts as
    // already there too.
    let counts: Vec<u64> = said
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .take(4)
        .map(|n| n.parse().unwrap())
        .collect();
    let [imported, already, repeated, refused] = counts[..] else {
        panic!("{said}")
    };
    assert_eq!((repeated, refused), (0, 0), "{said}");
    assert_eq!(imported + already, N_ROWS as u64, "{said}");
    assert!(already >= part && imported > 0, "{said}");
    // Every row once.
    assert_eq!(node.n_events().await, before + N_ROWS as u64);
}

#[test]
fn the_template_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("template.csv");
    let output = foodtrace()
        .args(["import", "--template"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("日期 date,供货者 supplier,品名 product,批号 lot"));
    let again = foodtrace()
        .args(["import", "--template"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!again.status.success());
}

/// A sheet of shipments: each row links the market's receipt of the lot (its first
/// record of holding it); a lot the market never received, or a row without a delivery
/// note number, is refused by row; a rerun records nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipments_link_the_importers_receipt_of_each_lot() {
    let dir = tempfile::tempdir().unwrap();
    let (node, key, market) = node_with_lots(60, dir.path()).await;
    let farm = party(1, PartyRole::Producer).id().to_string();
    let shop = party(4, PartyRole::Retailer).id().to_string();
    let receipts = dir.path().join("进货.csv");
    sheet(&receipts, 50, &farm, &[]);
    let (code, said) = import(&receipts, &key, &market, &node).await;
    assert_eq!(code, Some(0), "{said}");
    let before = node.n_events().await;

    let shipments = dir.path().join("出货.csv");
    let mut text = String::from("销售日期,购货者,品名,批号,数量,单位,票据编号\n");
    for i in 0..50 {
        text.push_str(&format!(
            "2026-11-27 09:00,{shop},大白菜,{},20,kg,XS-{i:03}\n",
            lot(i)
        ));
    }
    // Lot 55 exists, but the market never received it; row 53 has no delivery note.
    text.push_str(&format!(
        "2026-11-27 09:00,{shop},大白菜,{},20,kg,XS-055\n",
        lot(55)
    ));
    text.push_str(&format!(
        "2026-11-27 09:00,{shop},大白菜,{},20,kg,\n",
        lot(7)
    ));
    std::fs::write(&shipments, text).unwrap();

    // Without --kind shipments, the sheet's columns say what is wrong.
    let (code, said) = import(&shipments, &key, &market, &node).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("pass --kind shipments"), "{said}");

    let shipped = ["--kind", "shipments"];
    let (code, said) = import_with(&shipments, &shipped, &key, &market, &node).await;
    assert_eq!(code, Some(6), "{said}");
    assert!(
        said.starts_with(
            "imported 50 rows; 0 already in the ledger; 0 repeated in the file; 2 refused\n"
        ),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "row 52: 批号: the ledger has no record of this party holding lot '{}'",
            lot(55)
        )),
        "{said}"
    );
    assert!(
        said.contains("row 53: 票据编号: is required for a shipment"),
        "{said}"
    );
    assert_eq!(node.n_events().await, before + 50);

    let (_, said) = import_with(&shipments, &shipped, &key, &market, &node).await;
    assert!(
        said.starts_with("imported 0 rows; 50 already in the ledger;"),
        "{said}"
    );
    assert_eq!(node.n_events().await, before + 50);
}

/// Lots whose producers record nothing (the "four smalls"): the sheet's rows bring them
/// into the ledger at the market's receipt, with the product as the sheet names it; a
/// rerun records nothing twice, and their public pages name the supplier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lots_nobody_recorded_enter_the_ledger_at_the_markets_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (node, key, market) = node_with_lots(0, dir.path()).await;
    let farm = party(1, PartyRole::Producer).id().to_string();
    let before = node.n_events().await;
    let file = dir.path().join("小农.csv");
    std::fs::write(
        &file,
        format!(
            "日期,供货者,品名,品类,批号,数量,单位,合格证编号\n\
             2026-11-27 05:30,{farm},小白菜,蔬菜,XN-001,30,kg,HG-XN-1\n\
             2026-11-27 05:35,{farm},韭菜,,XN-002,12,kg,\n"
        ),
    )
    .unwrap();
    let (code, said) = import(&file, &key, &market, &node).await;
    assert_eq!(code, Some(0), "{said}");
    assert!(said.starts_with("imported 2 rows; 0 already"), "{said}");
    let (_, said) = import(&file, &key, &market, &node).await;
    assert!(said.starts_with("imported 0 rows; 2 already"), "{said}");
    assert_eq!(node.n_events().await, before + 2);
    let page = node.public_lot("/l/XN-002").await;
    assert_eq!(page.product_name, "韭菜");
    assert_eq!(page.product_category, "食用农产品", "the default category");
    assert_eq!(page.entries[0].supplier, "浑南绿源蔬菜合作社");
    assert_eq!(page.entries[0].recorded_by, "浑南农产品批发市场");
}
