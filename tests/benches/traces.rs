//! Recall traces at city scale, over HTTP, against PostgreSQL recursive CTEs on the same
//! data in the same run. Run it with `bench/traces.sh` (which starts PostgreSQL); see
//! BENCHMARKS.md.
//!
//! Options (after `--`): `--data-dir DIR` (default: $CARGO_TARGET_DIR/bench-city; built
//! once, reused after), `--postgres CONNINFO` (skip PostgreSQL without it),
//! `--requests N` (sequential traces per measurement, default 2000), `--seconds S`
//! (length of each concurrent run, default 10), `--clients C` (default 8).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{FixedOffset, SubsecRound, Utc};
use district_synth::city::{CityScale, generate_city};
use foodtrace_tests::authority;
use ledger_core::trace::FactKind;
use ledger_node::{AuthorityIdentity, DataDir, HttpOptions, WriterConfig, initialize, open_ledger};
use ledger_store::{LedgerStore, LotFilter, PartyEventRef};
use serde::{Deserialize, Serialize};

/// mimalloc: a trace or a page allocates hundreds of small strings, and glibc's malloc
/// was a third of the time spent answering one (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Serialize, Deserialize)]
struct Built {
    busy_lot: String,
    school_meal: String,
    n_events: u64,
    parties: Vec<(String, String)>,
}

struct Options {
    data_dir: PathBuf,
    postgres: Option<String>,
    requests: usize,
    seconds: u64,
    clients: usize,
}

fn options() -> Options {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let mut options = Options {
        data_dir: target.join("bench-city"),
        postgres: None,
        requests: 2000,
        seconds: 10,
        clients: 8,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the option");
        match arg.as_str() {
            "--bench" => {}
            "--data-dir" => options.data_dir = PathBuf::from(value()),
            "--postgres" => options.postgres = Some(value()),
            "--requests" => options.requests = value().parse().expect("a number"),
            "--seconds" => options.seconds = value().parse().expect("a number"),
            "--clients" => options.clients = value().parse().expect("a number"),
            other => panic!("unknown option {other}"),
        }
    }
    options
}

/// Builds the city ledger in `data_dir` unless it is there already.
async fn build(data_dir: &Path) -> (ledger_node::Ledger, Built) {
    let dir = DataDir::new(data_dir);
    let built_path = data_dir.join("bench-city.json");
    if let Ok(text) = std::fs::read_to_string(&built_path) {
        let built: Built = serde_json::from_str(&text).expect("bench-city.json");
        let ledger = open_ledger(&dir, None, WriterConfig::default()).expect("open");
        eprintln!(
            "reusing the city in {} ({} events)",
            data_dir.display(),
            built.n_events
        );
        return (ledger, built);
    }
    let _ = std::fs::remove_dir_all(data_dir);
    let ledger = open_ledger(&dir, None, WriterConfig::default()).expect("open");
    let authority = authority();
    let identity = AuthorityIdentity {
        party_id: authority.id().clone(),
        name: "沈阳市市场监督管理局".into(),
        region: "210100".into(),
    };
    initialize(
        &ledger,
        authority.signer(),
        &identity,
        foodtrace_tests::epoch(),
    )
    .await
    .expect("genesis");
    let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
    let end = (Utc::now() - chrono::Duration::minutes(1))
        .with_timezone(&beijing)
        .trunc_subsecs(0);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<ledger_proto::pb::SignedEvent>>(256);
    let generator = std::thread::spawn(move || {
        generate_city(&authority, &CityScale::city(), 2026, end, |batch| {
            tx.send(batch).expect("the loader is there");
        })
    });
    let started = Instant::now();
    let mut n = 0u64;
    // Batches of about 20 lots' events in flight at once keep group commits full.
    let mut pending = Vec::new();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    loop {
        let rx2 = rx.clone();
        let batch = tokio::task::spawn_blocking(move || rx2.lock().unwrap().recv().ok())
            .await
            .unwrap();
        let Some(batch) = batch else { break };
        n += batch.len() as u64;
        pending.extend(batch);
        if pending.len() >= 4000 {
            ledger_node::submit_in_order(&ledger, std::mem::take(&mut pending))
                .await
                .unwrap_or_else(|(i, r)| panic!("event {i} refused: {r}"));
            if n % 100_000 < 4000 {
                eprintln!(
                    "  {n} events, {:.0} a second",
                    n as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    ledger_node::submit_in_order(&ledger, pending)
        .await
        .unwrap_or_else(|(i, r)| panic!("event {i} refused: {r}"));
    let landmarks = generator.join().expect("generator");
    eprintln!(
        "built the city: {} events in {:.0} s",
        landmarks.n_events + 1,
        started.elapsed().as_secs_f64()
    );
    let built = Built {
        busy_lot: landmarks.busy_lot,
        school_meal: landmarks.school_meal,
        n_events: landmarks.n_events as u64 + 1,
        parties: landmarks.parties,
    };
    std::fs::write(&built_path, serde_json::to_string(&built).unwrap()).unwrap();
    (ledger, built)
}

/// Latencies in microseconds: (median, p99).
fn percentiles(mut micros: Vec<f64>) -> (f64, f64) {
    micros.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let at = |q: f64| micros[((micros.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

struct Figures {
    median_us: f64,
    p99_us: f64,
    per_second: f64,
}

async fn measure_http(
    base: &str,
    token: &str,
    path: &str,
    options: &Options,
) -> (Figures, serde_json::Value) {
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    let get = |client: reqwest::Client, url: String, token: String| async move {
        let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    };
    let body = get(client.clone(), url.clone(), token.to_owned()).await;
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for _ in 0..100 {
        get(client.clone(), url.clone(), token.to_owned()).await;
    }
    let mut micros = Vec::with_capacity(options.requests);
    for _ in 0..options.requests {
        let started = Instant::now();
        get(client.clone(), url.clone(), token.to_owned()).await;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let (median_us, p99_us) = percentiles(micros);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..options.clients {
        let (client, url, token, done, stop) = (
            reqwest::Client::new(),
            url.clone(),
            token.to_owned(),
            done.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                get(client.clone(), url.clone(), token.clone()).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for task in tasks {
        task.await.unwrap();
    }
    (
        Figures {
            median_us,
            p99_us,
            per_second: counted as f64 / elapsed,
        },
        answer,
    )
}

const SCHEMA: &str = "
DROP TABLE IF EXISTS facts, links, parties, ft_meta;
CREATE TABLE parties (id text PRIMARY KEY, name text NOT NULL, contact text);
CREATE TABLE facts (
    lot text NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    signer text NOT NULL,
    counterparty text,
    output text,
    quantity text,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (lot, seq)
);
CREATE TABLE links (lot text NOT NULL, seq bigint NOT NULL, linked_lot text NOT NULL, linked_seq bigint NOT NULL);
CREATE TABLE ft_meta (n_events bigint NOT NULL);
";

const INDEXES: &str = "
CREATE INDEX facts_consumed ON facts (lot) INCLUDE (output) WHERE kind = 'consumed';
CREATE INDEX links_from ON links (lot, seq) INCLUDE (linked_lot, linked_seq);
ANALYZE;
";

/// Downstream: every lot derived from $1, then every fact on them, with party names.
const DOWN: &str = "
WITH RECURSIVE d(lot) AS (
    SELECT $1::text
  UNION
    SELECT f.output FROM facts f JOIN d ON f.lot = d.lot WHERE f.kind = 'consumed'
)
SELECT f.seq, f.lot, f.kind, f.signer, s.name, s.contact, f.counterparty, c.name, c.contact,
       f.quantity, f.occurred_at::text
FROM facts f JOIN d ON f.lot = d.lot
LEFT JOIN parties s ON s.id = f.signer
LEFT JOIN parties c ON c.id = f.counterparty
ORDER BY f.seq";

/// Upstream: the events the lot's creation follows by hash link, transitively, and the
/// creation and tests of every lot on the way, with party names.
const UP: &str = "
WITH RECURSIVE u(lot, seq) AS (
    SELECT lot, seq FROM facts WHERE lot = $1::text AND kind IN ('origin', 'produced')
  UNION
    SELECT l.linked_lot, l.linked_seq FROM links l JOIN u ON l.lot = u.lot AND l.seq = u.seq
), chosen AS (
    SELECT lot, seq FROM u
  UNION
    SELECT f.lot, f.seq FROM facts f WHERE f.lot IN (SELECT lot FROM u)
      AND f.kind IN ('origin', 'produced', 'inspected', 'recalled')
)
SELECT f.seq, f.lot, f.kind, f.signer, s.name, s.contact, f.counterparty, c.name, c.contact,
       f.quantity, f.occurred_at::text
FROM facts f JOIN chosen ON f.lot = chosen.lot AND f.seq = chosen.seq
LEFT JOIN parties s ON s.id = f.signer
LEFT JOIN parties c ON c.id = f.counterparty
ORDER BY f.seq";

fn load_postgres(conninfo: &str, store: &dyn LedgerStore, built: &Built) {
    let mut pg =
        postgres::Client::connect(conninfo, postgres::NoTls).expect("connect to PostgreSQL");
    let loaded = pg
        .query_opt("SELECT n_events FROM ft_meta", &[])
        .ok()
        .flatten()
        .map(|row| row.get::<_, i64>(0) as u64);
    if loaded == Some(built.n_events) {
        eprintln!("PostgreSQL already holds the city");
        return;
    }
    let started = Instant::now();
    pg.batch_execute(SCHEMA).unwrap();
    let mut parties = String::new();
    for (id, name) in &built.parties {
        parties.push_str(&format!("{id}\t{name}\t024-2378 0000\n"));
    }
    use std::io::Write;
    let mut writer = pg.copy_in("COPY parties FROM STDIN").unwrap();
    writer.write_all(parties.as_bytes()).unwrap();
    writer.finish().unwrap();
    let mut facts = pg.copy_in("COPY facts FROM STDIN").unwrap();
    let mut link_rows = String::new();
    let mut start = PartyEventRef {
        occurred_at_millis: i64::MIN,
        sequence: 0,
    };
    let mut n_facts = 0u64;
    loop {
        let lots = store
            .lots_by(LotFilter::All, start, i64::MAX, 10_000)
            .unwrap();
        let Some((last, _)) = lots.last() else { break };
        start = PartyEventRef {
            occurred_at_millis: last.occurred_at_millis,
            sequence: last.sequence + 1,
        };
        let mut rows = String::new();
        for (_, lot) in &lots {
            for fact in store.lot_facts(lot, None, usize::MAX).unwrap() {
                n_facts += 1;
                let (counterparty, output) = match &fact.kind {
                    FactKind::Shipped { recipient, .. } => {
                        (recipient.to_string(), "\\N".to_owned())
                    }
                    FactKind::Received {
                        supplier: Some(s), ..
                    } => (s.to_string(), "\\N".to_owned()),
                    FactKind::Consumed { output, .. } => ("\\N".to_owned(), output.to_string()),
                    _ => ("\\N".to_owned(), "\\N".to_owned()),
                };
                let quantity = fact
                    .kind
                    .quantity()
                    .map_or("\\N".to_owned(), |q| q.to_string());
                let at = chrono::DateTime::from_timestamp_millis(fact.occurred_at_millis).unwrap();
                rows.push_str(&format!(
                    "{lot}\t{}\t{}\t{}\t{counterparty}\t{output}\t{quantity}\t{}\n",
                    fact.sequence,
                    fact.kind.name(),
                    fact.signer,
                    at.to_rfc3339()
                ));
                let linked_lots: Vec<String> = match &fact.kind {
                    FactKind::Produced { inputs, .. } => {
                        inputs.iter().map(|(l, _)| l.to_string()).collect()
                    }
                    FactKind::Consumed { .. } => Vec::new(),
                    _ => fact.links.iter().map(|_| lot.to_string()).collect(),
                };
                for (linked_lot, linked) in linked_lots.iter().zip(&fact.links) {
                    link_rows.push_str(&format!(
                        "{lot}\t{}\t{linked_lot}\t{linked}\n",
                        fact.sequence
                    ));
                }
            }
        }
        facts.write_all(rows.as_bytes()).unwrap();
    }
    facts.finish().unwrap();
    let mut links = pg.copy_in("COPY links FROM STDIN").unwrap();
    links.write_all(link_rows.as_bytes()).unwrap();
    links.finish().unwrap();
    pg.batch_execute(INDEXES).unwrap();
    pg.execute(
        "INSERT INTO ft_meta VALUES ($1)",
        &[&(built.n_events as i64)],
    )
    .unwrap();
    eprintln!(
        "loaded PostgreSQL: {n_facts} facts in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

fn measure_postgres(
    conninfo: &str,
    query: &str,
    lot: &str,
    options: &Options,
) -> (Figures, BTreeSet<i64>) {
    let mut pg = postgres::Client::connect(conninfo, postgres::NoTls).unwrap();
    let statement = pg.prepare(query).unwrap();
    let run = |pg: &mut postgres::Client| {
        let rows = pg.query(&statement, &[&lot]).unwrap();
        // Read every column, as a client would.
        let mut bytes = 0usize;
        for row in &rows {
            for i in [1, 2, 3, 4, 9, 10] {
                bytes += row.get::<_, Option<String>>(i).map_or(0, |s| s.len());
            }
        }
        (rows, bytes)
    };
    let (rows, _) = run(&mut pg);
    let sequences: BTreeSet<i64> = rows.iter().map(|row| row.get::<_, i64>(0)).collect();
    for _ in 0..100 {
        run(&mut pg);
    }
    let mut micros = Vec::with_capacity(options.requests);
    for _ in 0..options.requests {
        let started = Instant::now();
        run(&mut pg);
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let (median_us, p99_us) = percentiles(micros);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..options.clients)
        .map(|_| {
            let (conninfo, query, lot, done, stop) = (
                conninfo.to_owned(),
                query.to_owned(),
                lot.to_owned(),
                done.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut pg = postgres::Client::connect(&conninfo, postgres::NoTls).unwrap();
                let statement = pg.prepare(&query).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let rows = pg.query(&statement, &[&lot]).unwrap();
                    std::hint::black_box(rows.len());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(options.seconds));
    stop.store(true, Ordering::Relaxed);
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for thread in threads {
        thread.join().unwrap();
    }
    (
        Figures {
            median_us,
            p99_us,
            per_second: counted as f64 / elapsed,
        },
        sequences,
    )
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (ledger, built) = build(&options.data_dir).await;
        let store = ledger.store().clone();
        let n_events = store.next_sequence().unwrap();
        let tokens = DataDir::new(&options.data_dir).inspector_tokens();
        let name = format!("bench-{}", std::process::id());
        let token = query_api::auth::Inspectors::add_to_file(&tokens, &name).unwrap();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = http.local_addr().unwrap();
        let http_options = HttpOptions::for_data_dir(&DataDir::new(&options.data_dir));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let node = tokio::spawn(ledger_node::run(ledger, (grpc, ledger_node::GrpcOptions::default()), Some((http, http_options)), async {
            let _ = stop_rx.await;
        }));
        let base = format!("http://{addr}");
        let traces = [
            ("downstream, busy wholesale lot", format!("/v1/lots/{}/trace/down", built.busy_lot), DOWN, built.busy_lot.clone()),
            ("upstream, school canteen meal", format!("/v1/lots/{}/trace/up", built.school_meal), UP, built.school_meal.clone()),
        ];
        let mut report = format!(
            "City ledger: {n_events} events, {} parties. {} sequential requests per latency figure; {} concurrent clients for {} s per throughput figure.\n\n",
            built.parties.len() + 1,
            options.requests,
            options.clients,
            options.seconds
        );
        report.push_str("| trace | system | median | p99 | traces/s, 1 client | traces/s, concurrent |\n|---|---|---|---|---|---|\n");
        let mut ours = Vec::new();
        for (label, path, _, _) in &traces {
            let (figures, answer) = measure_http(&base, &token, path, &options).await;
            let lots = answer["lots"].as_array().unwrap().len();
            let parties = answer["parties"].as_array().unwrap().len();
            let events = answer["events"].as_array().unwrap().len();
            eprintln!("{label}: {lots} lots, {parties} parties, {events} events");
            report.push_str(&format!(
                "| {label} ({lots} lots, {parties} parties, {events} events) | foodtrace over HTTP | {:.0} µs | {:.0} µs | {:.0} | {:.0} |\n",
                figures.median_us, figures.p99_us, 1e6 / figures.median_us, figures.per_second
            ));
            ours.push((figures, answer));
        }
        if let Some(conninfo) = &options.postgres {
            let conninfo = conninfo.clone();
            let store2 = store.clone();
            let built_ref = &built;
            tokio::task::block_in_place(|| load_postgres(&conninfo, &*store2, built_ref));
            for ((label, _, query, lot), (figures, answer)) in traces.iter().zip(&ours) {
                let (pg, sequences) = tokio::task::block_in_place(|| measure_postgres(&conninfo, query, lot, &options));
                let ours_sequences: BTreeSet<i64> = answer["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["sequence"].as_i64().unwrap())
                    .collect();
                assert_eq!(sequences, ours_sequences, "{label}: PostgreSQL and foodtrace find the same events");
                report.push_str(&format!(
                    "| {label} | PostgreSQL recursive CTE, prepared | {:.0} µs | {:.0} µs | {:.0} | {:.0} |\n",
                    pg.median_us, pg.p99_us, 1e6 / pg.median_us, pg.per_second
                ));
                report.push_str(&format!(
                    "| {label} | **ratio** (PostgreSQL / foodtrace) | **{:.1}x** | **{:.1}x** | | **{:.1}x** |\n",
                    pg.median_us / figures.median_us,
                    pg.p99_us / figures.p99_us,
                    figures.per_second / pg.per_second
                ));
            }
        }
        println!("{report}");
        let _ = query_api::auth::Inspectors::revoke_in_file(&tokens, &name);
        let _ = stop_tx.send(());
        node.await.unwrap().unwrap();
    });
}
