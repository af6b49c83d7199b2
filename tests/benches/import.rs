//! Bulk import speed: `foodtrace import` of a 100,000-row purchase inspection sheet into
//! a local node, against the same receipts pre-signed and streamed raw over gRPC (what
//! the node can take; the importer adds CSV parsing, checking and signing), each into a
//! fresh node holding the same 100,000 lots. Three rounds; medians.
//!
//! `cargo bench -p foodtrace-tests --bench import -- [--rows N] [--rounds R]`

use std::time::Instant;

use foodtrace_tests::{party, party_key};
use ledger_core::model::{self, EventKind, PartyRole, ReceivingSource, Stage};
use ledger_proto::pb;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn lot(i: usize) -> String {
    foodtrace_tests::farm_lot(i)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut rows = 100_000;
    let mut rounds = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rows" => rows = args.next().unwrap().parse().unwrap(),
            "--rounds" => rounds = args.next().unwrap().parse().unwrap(),
            _ => {} // cargo bench's own flags
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let farm = party(1, PartyRole::Producer).id().to_string();
    let market = party(2, PartyRole::WholesaleMarket);
    let key = dir.path().join("market.key");
    ledger_node::keys::write_key_file(&key, &party_key(2)).unwrap();
    let sheet = dir.path().join("sheet.csv");
    let mut text = String::from("日期,供货者,品名,批号,数量,单位,合格证编号,票据编号\n");
    for i in 0..rows {
        text.push_str(&format!(
            "2026-11-27 05:30,{farm},大白菜,{},50,kg,HG-1,PS-{i:06}\n",
            lot(i)
        ));
    }
    std::fs::write(&sheet, &text).unwrap();
    println!(
        "{rows} rows ({} KB CSV), {rounds} rounds, {} cores",
        text.len() / 1024,
        std::thread::available_parallelism().unwrap()
    );

    let mut import_rates = Vec::new();
    let mut raw_rates = Vec::new();
    for round in 1..=rounds {
        // The importer, in this process (the same code the binary runs).
        let node_a = foodtrace_tests::farm_with_lots(rows).await;
        let args = vec![
            "foodtrace".to_owned(),
            "import".into(),
            sheet.to_str().unwrap().into(),
            "--key".into(),
            key.to_str().unwrap().into(),
            "--as".into(),
            market.id().to_string(),
            "--server".into(),
            node_a.grpc_url(),
        ];
        let started = Instant::now();
        let said = tokio::task::spawn_blocking(move || {
            let cli = <foodtrace_cli::Cli as clap::Parser>::try_parse_from(&args).unwrap();
            let mut out = Vec::new();
            foodtrace_cli::run(cli, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        })
        .await
        .unwrap();
        let import_s = started.elapsed().as_secs_f64();
        assert!(
            said.starts_with(&format!("imported {rows} rows;")),
            "{said}"
        );
        drop(node_a);

        // The same receipts, signed beforehand, streamed raw.
        let node_b = foodtrace_tests::farm_with_lots(rows).await;
        let beijing = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let at = chrono::TimeZone::with_ymd_and_hms(&beijing, 2026, 11, 27, 5, 30, 0).unwrap();
        let supplier = ledger_core::PartyId::parse(&farm).unwrap();
        let events: Vec<pb::SignedEvent> = (0..rows)
            .map(|i| {
                market
                    .sign(
                        at,
                        EventKind::Receiving(
                            Stage::MarketEntry,
                            model::Receiving {
                                lot_id: district_synth::lot(&lot(i)),
                                quantity: district_synth::quantity("50", "kg"),
                                source: ReceivingSource::Supplier(supplier.clone()),
                                certificate_number: Some(district_synth::text("HG-1")),
                                documents_checked: vec![district_synth::text(&format!(
                                    "PS-{i:06}"
                                ))],
                                product: Some(model::ReceivedProduct {
                                    name: district_synth::text("大白菜"),
                                    category: district_synth::text("食用农产品"),
                                }),
                            },
                        ),
                    )
                    .0
            })
            .collect();
        let started = Instant::now();
        assert_eq!(foodtrace_tests::admit_all(&node_b, events).await, rows);
        let raw_s = started.elapsed().as_secs_f64();
        drop(node_b);

        let (import_rate, raw_rate) = (rows as f64 / import_s, rows as f64 / raw_s);
        println!(
            "round {round}: import {import_s:.2} s = {import_rate:.0} rows/s; raw pre-signed stream {raw_s:.2} s = {raw_rate:.0} events/s"
        );
        import_rates.push(import_rate);
        raw_rates.push(raw_rate);
    }
    let (import, raw) = (median(import_rates), median(raw_rates));
    println!(
        "median: import {import:.0} rows/s; raw stream {raw:.0} events/s; import/raw {:.2}",
        import / raw
    );
}
