//! `foodtrace loadgen`: push a realistic mix of signed events at a node and measure it.
//!
//! The authority (the key given with `--key`/`--as`) registers a population of parties
//! (`district_synth::load`); then each phase pushes `--events` new events, in ten-event
//! supply chains, over `--clients` concurrent gRPC streams, each on its own connection.
//! Every event is signed before the phase starts (on every core), so the generator's
//! signing does not compete with the node for the machine while it is measured.
//!
//! Phases: first as fast as the node acknowledges (each stream sends as fast as HTTP/2
//! flow control lets it; the node stops reading a stream with 1,024 events waiting), which
//! gives the maximum durable rate; then, for each `--at-fraction F`, an open-loop run at
//! `F` times that rate: events are sent on a fixed schedule and each acknowledgement's
//! latency is counted from when its event was *due*, not when it went out, so a stalled
//! node cannot hide its stall (no coordinated omission). `--rate R` runs one open-loop
//! phase at `R` events a second instead.
//!
//! Each phase reports the generator's own CPU time in it (on a machine it shares with the
//! node, CPU the node did not have). With `--node-pid` the node's CPU time in each phase
//! (and so its CPU an event) and its peak resident memory (`VmHWM`) are reported, with
//! `--node-data-dir` its bytes on disk per event; `--bounds` first measures the machine's
//! raw bounds (see [`crate::bounds`]).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use district_synth::Recorder;
use district_synth::load::{CHAIN_LEN, LoadParties};
use ledger_core::model::PartyRole;
use ledger_proto::pb;
use ledger_proto::pb::ledger_client::LedgerClient;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::ServerArgs;
use crate::record::SignerArgs;

/// `foodtrace loadgen`'s flags.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadgenArgs {
    /// The authority, who registers the load's parties.
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The node.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Parties in the load's population (20% producers, 5% markets, 45% shops, 20%
    /// canteens, 10% warehouses); registered once, reused by later runs.
    #[arg(long, default_value_t = 1000)]
    pub parties: usize,
    /// Concurrent client streams, each on its own connection.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Events each phase pushes (whole ten-event chains).
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Run one open-loop phase at this many events a second instead of the maximum.
    #[arg(long)]
    pub rate: Option<f64>,
    /// After the maximum, an open-loop phase at this fraction of it (repeatable, or
    /// comma-separated: `--at-fraction 0.5,0.8`).
    #[arg(long, value_delimiter = ',')]
    pub at_fraction: Vec<f64>,
    /// First measure the machine's raw bounds: Ed25519 single and batch verification on
    /// one core and on all, and a synced RocksDB batch write in `--bounds-dir`.
    #[arg(long)]
    pub bounds: bool,
    /// Where the synced-write bound writes (put it on the node's disk; default: a
    /// temporary directory).
    #[arg(long)]
    pub bounds_dir: Option<PathBuf>,
    /// The node's process id (on this machine): report the CPU time it used in each
    /// phase, and its peak resident memory.
    #[arg(long)]
    pub node_pid: Option<u32>,
    /// The node's data directory: report its bytes on disk per event.
    #[arg(long)]
    pub node_data_dir: Option<PathBuf>,
    /// Write every acknowledgement to this CSV file, `phase,due_unix_us,latency_us`: when
    /// its event was sent (open loop: due), as Unix microseconds, and how long it took,
    /// to see when a phase's slow acknowledgements came (and line them up with the
    /// node's RocksDB `LOG`).
    #[arg(long)]
    pub latency_csv: Option<PathBuf>,
    /// In an open-loop phase, also report the latency percentiles of the events due after
    /// its first this many seconds: a node that has just started (as `FRESH=1
    /// bench/ingest.sh` starts one for the phase) takes its first events several times
    /// slower for some tens of milliseconds (BENCHMARKS.md, session 15), and their
    /// latencies are its start-up, not its steady state. The phase's own percentiles count
    /// every event all the same.
    #[arg(long, default_value_t = 1.0)]
    pub steady_after_secs: f64,
}

/// What one phase measured.
#[derive(Debug, Clone)]
pub struct PhaseReport {
    /// What the phase was (`max`, `0.8 of max`, `20000/s`).
    pub name: String,
    /// The schedule's rate, if open-loop.
    pub target_rate: Option<f64>,
    /// Events acknowledged as newly durable.
    pub acknowledged: u64,
    /// Events refused (should be none).
    pub refused: u64,
    /// From the first send to the last acknowledgement.
    pub elapsed: Duration,
    /// Acknowledgement latency percentiles, in microseconds: p50, p90, p99, p99.9, max.
    pub latency_us: [u64; 5],
    /// In an open-loop phase, the same of the events due after its first
    /// `--steady-after-secs` (when there were any), and that span.
    pub steady_latency_us: Option<(Duration, [u64; 5])>,
    /// Every acknowledgement, in the order they came on each stream: when its event was
    /// sent (or due), as Unix microseconds, and its latency in microseconds.
    pub acknowledgements: Vec<(u64, u64)>,
    /// CPU time (user and system, every thread) the node used during the phase, with
    /// `--node-pid`.
    pub node_cpu: Option<Duration>,
    /// CPU time the load generator itself used during the phase (its events were signed
    /// before): on a machine it shares with the node, CPU the node did not have.
    pub loadgen_cpu: Duration,
    /// The share of the machine's CPU time during the phase that its hypervisor gave to
    /// something else while this machine's CPUs had work (`steal` in `/proc/stat`), when
    /// the kernel reports it: a virtual machine whose host is busy runs slower.
    pub stolen_share: Option<f64>,
}

impl PhaseReport {
    /// Durable events a second.
    pub fn rate(&self) -> f64 {
        self.acknowledged as f64 / self.elapsed.as_secs_f64()
    }
}

impl std::fmt::Display for PhaseReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |latency_us: [u64; 5]| latency_us.map(|us| us as f64 / 1000.0);
        let [p50, p90, p99, p999, max] = ms(self.latency_us);
        write!(
            f,
            "{:<14} {:>9} events in {:>6.2} s: {:>8.0} durable events/s; ack latency ms p50 {p50:.2} p90 {p90:.2} p99 {p99:.2} p99.9 {p999:.2} max {max:.2}; refused {}",
            self.name,
            self.acknowledged,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.refused
        )?;
        if let Some((after, latency_us)) = self.steady_latency_us {
            let [p50, p90, p99, p999, max] = ms(latency_us);
            write!(
                f,
                "\n  events due after the first {after:?}: ack latency ms p50 {p50:.2} p90 {p90:.2} p99 {p99:.2} p99.9 {p999:.2} max {max:.2}"
            )?;
        }
        Ok(())
    }
}

/// Runs the load generator, printing as it goes.
pub fn run(args: &LoadgenArgs, out: &mut dyn std::io::Write) -> anyhow::Result<Vec<PhaseReport>> {
    let steady_after = Duration::try_from_secs_f64(args.steady_after_secs)
        .context("--steady-after-secs: a number of seconds, 0 or more")?;
    if args.clients == 0 {
        bail!("--clients: at least one");
    }
    let bounds = match args.bounds {
        true => {
            let bounds = crate::bounds::measure(args.bounds_dir.as_deref())?;
            write!(out, "{bounds}")?;
            Some(bounds)
        }
        false => None,
    };
    let signer = args.signer.signer()?;
    let authority = Recorder::new(
        signer.party_id().clone(),
        PartyRole::Authority,
        ledger_node::keys::read_key_file(&args.signer.key)?,
    );
    let parties = LoadParties::new(args.parties);
    // One thread drives every stream. It needs a fraction of a core, and on one thread
    // its tasks wake each other without waking another thread: at an open-loop rate it
    // takes about a quarter less CPU than two threads did, CPU the node it shares the
    // cores with could use (BENCHMARKS.md, session 13).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let channels = runtime.block_on(connect(&args.server, args.clients))?;
    let at = now_beijing();
    let registered = runtime.block_on(register(
        &channels[0],
        parties.registrations(&authority, at),
    ))?;
    writeln!(
        out,
        "{} parties: {registered} registered now, the rest already were",
        parties.all().count()
    )?;

    let run_id = format!("{:x}", at.timestamp() % 0xFFFF_FFFF);
    let mut phases: Vec<(String, Option<f64>)> = Vec::new();
    match args.rate {
        Some(rate) => phases.push((format!("{rate:.0}/s"), Some(rate))),
        None => phases.push(("max".into(), None)),
    }
    let mut reports: Vec<PhaseReport> = Vec::new();
    let mut next_chain = 0usize;
    let mut pending_fractions = args.at_fraction.clone();
    pending_fractions.reverse();
    let mut latency_csv = match &args.latency_csv {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("--latency-csv {}", path.display()))?;
            let mut file = std::io::BufWriter::new(file);
            writeln!(file, "phase,due_unix_us,latency_us")?;
            Some(file)
        }
        None => None,
    };
    while let Some((name, rate)) = phases.pop() {
        let n_chains = args.events.div_ceil(CHAIN_LEN);
        let started = Instant::now();
        // Signing (on every core) takes minutes for millions of events; meanwhile this
        // thread keeps driving the connections, or the node, its keepalive pings
        // unanswered for 80 s, would close them.
        let per_client = std::thread::scope(|scope| {
            let (done, signed) = tokio::sync::oneshot::channel();
            let chains = next_chain..next_chain + n_chains;
            let (parties, run_id, clients) = (&parties, &run_id, args.clients);
            scope.spawn(move || {
                let _ = done.send(sign_chains(parties, run_id, chains, at, clients));
            });
            runtime.block_on(signed)
        })
        .context("signing the phase's events")?;
        next_chain += n_chains;
        writeln!(
            out,
            "phase {name}: {} events signed in {:.1} s",
            n_chains * CHAIN_LEN,
            started.elapsed().as_secs_f64()
        )?;
        let cpu_before = args.node_pid.map(process_cpu).transpose()?;
        let own_cpu_before = process_cpu(std::process::id())?;
        let machine_before = machine_cpu();
        let mut report =
            runtime.block_on(push(&channels, per_client, rate, &name, steady_after))?;
        report.loadgen_cpu = process_cpu(std::process::id())?.saturating_sub(own_cpu_before);
        report.stolen_share = machine_before
            .zip(machine_cpu())
            .and_then(|(before, after)| after.stolen_share_since(before));
        if let (Some(pid), Some(before)) = (args.node_pid, cpu_before) {
            report.node_cpu = Some(process_cpu(pid)?.saturating_sub(before));
        }
        writeln!(out, "{report}")?;
        let per_event = |cpu: Duration| cpu.as_secs_f64() * 1e6 / report.acknowledged.max(1) as f64;
        if let Some(cpu) = report.node_cpu {
            write!(
                out,
                "  node CPU {:.2} s: {:.1} us an event;",
                cpu.as_secs_f64(),
                per_event(cpu)
            )?;
        }
        write!(
            out,
            "  load generator CPU {:.2} s: {:.1} us an event",
            report.loadgen_cpu.as_secs_f64(),
            per_event(report.loadgen_cpu)
        )?;
        match report.stolen_share {
            Some(share) => writeln!(
                out,
                ";  the machine's CPU time stolen by its hypervisor: {:.1}%",
                share * 100.0
            )?,
            None => writeln!(out)?,
        }
        if let Some(file) = &mut latency_csv {
            for (due, latency) in &report.acknowledgements {
                writeln!(file, "{name},{due},{latency}")?;
            }
            file.flush()?;
        }
        if let Some(bounds) = &bounds {
            writeln!(
                out,
                "  {:.3} of the rule's batch bound, {:.3} of ed25519-dalek's (the issue's)",
                report.rate() / bounds.batch_all_cores,
                report.rate() / bounds.dalek_batch_all_cores
            )?;
        }
        out.flush()?;
        let max = reports
            .first()
            .map(PhaseReport::rate)
            .unwrap_or(report.rate());
        reports.push(report);
        if args.rate.is_none()
            && let Some(fraction) = pending_fractions.pop()
        {
            phases.push((format!("{fraction} of max"), Some(max * fraction)));
        }
    }

    if let Some(pid) = args.node_pid {
        match node_memory(pid) {
            Ok((peak, now)) => writeln!(
                out,
                "node memory: peak resident {:.0} MiB, now {:.0} MiB",
                peak as f64 / 1048576.0,
                now as f64 / 1048576.0
            )?,
            Err(error) => writeln!(out, "node memory: {error}")?,
        }
    }
    if let Some(dir) = &args.node_data_dir {
        let [tables, log, rest] =
            dir_bytes(dir).with_context(|| format!("measuring {}", dir.display()))?;
        let n_events = runtime.block_on(count_events(&channels[0]))? as f64;
        let total = (tables + log + rest) as f64;
        writeln!(
            out,
            "node data: {:.1} MiB for {n_events} events: {:.0} bytes an event ({:.0} in tables, {:.0} in the write-ahead log, {:.0} other)",
            total / 1048576.0,
            total / n_events,
            tables as f64 / n_events,
            log as f64 / n_events,
            rest as f64 / n_events
        )?;
    }
    Ok(reports)
}

fn now_beijing() -> chrono::DateTime<chrono::FixedOffset> {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    chrono::SubsecRound::trunc_subsecs(chrono::Utc::now().with_timezone(&beijing), 0)
}

async fn connect(server: &ServerArgs, n: usize) -> anyhow::Result<Vec<Channel>> {
    let endpoint = server.endpoint()?;
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {}", server.server))?;
        channels.push(channel);
    }
    Ok(channels)
}

/// Streams the registrations; returns how many were new.
async fn register(channel: &Channel, events: Vec<pb::SignedEvent>) -> anyhow::Result<usize> {
    let mut client = LedgerClient::new(channel.clone());
    let mut results = client
        .submit_stream(tokio_stream::iter(events))
        .await?
        .into_inner();
    let mut new = 0;
    while let Some(result) = results.message().await? {
        match result.outcome {
            Some(pb::submit_result::Outcome::Receipt(receipt)) if !receipt.duplicate => new += 1,
            Some(pb::submit_result::Outcome::Receipt(_)) => {}
            // Registered by an earlier run.
            Some(pb::submit_result::Outcome::Refusal(refusal))
                if refusal.code == tonic::Code::AlreadyExists as i32 => {}
            Some(pb::submit_result::Outcome::Refusal(refusal)) => {
                bail!("registration {} refused: {}", result.index, refusal.message)
            }
            None => bail!("registration {}: an empty answer", result.index),
        }
    }
    Ok(new)
}

/// Signs chains `range` on every core, dealing them out to `clients` streams in turn.
fn sign_chains(
    parties: &LoadParties,
    run_id: &str,
    range: std::ops::Range<usize>,
    at: chrono::DateTime<chrono::FixedOffset>,
    clients: usize,
) -> Vec<Vec<pb::SignedEvent>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chains: Vec<usize> = range.collect();
    let per_thread = chains.len().div_ceil(threads).max(1);
    let signed: Vec<Vec<(usize, Vec<pb::SignedEvent>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chains
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|&i| (i, parties.chain(run_id, i, at)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signing thread"))
            .collect()
    });
    let mut per_client: Vec<Vec<pb::SignedEvent>> = vec![Vec::new(); clients];
    for (i, chain) in signed.into_iter().flatten() {
        per_client[i % clients].extend(chain);
    }
    per_client
}

/// One stream's outcome.
struct StreamOutcome {
    latencies_us: Vec<u64>,
    /// When each acknowledged event was sent (or due), microseconds after the start.
    sent_us: Vec<u64>,
    acknowledged: u64,
    refused: u64,
    first_refusal: Option<String>,
    last_ack: Instant,
}

/// Pushes each client's events on its own stream, on a schedule when `rate` is given.
async fn push(
    channels: &[Channel],
    per_client: Vec<Vec<pb::SignedEvent>>,
    rate: Option<f64>,
    name: &str,
    steady_after: Duration,
) -> anyhow::Result<PhaseReport> {
    let start = Instant::now();
    let start_unix_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64);
    let per_stream_rate = rate.map(|r| r / channels.len() as f64);
    let mut tasks = Vec::new();
    for (channel, events) in channels.iter().zip(per_client) {
        tasks.push(tokio::spawn(drive(
            channel.clone(),
            events,
            start,
            per_stream_rate,
        )));
    }
    let mut latencies = Vec::new();
    let mut acknowledgements = Vec::new();
    let (mut acknowledged, mut refused) = (0, 0);
    let mut last_ack = start;
    let mut first_refusal = None;
    for task in tasks {
        let outcome = task.await??;
        acknowledgements.extend(
            outcome
                .sent_us
                .iter()
                .zip(&outcome.latencies_us)
                .map(|(sent, latency)| (start_unix_us + sent, *latency)),
        );
        latencies.extend(outcome.latencies_us);
        acknowledged += outcome.acknowledged;
        refused += outcome.refused;
        last_ack = last_ack.max(outcome.last_ack);
        first_refusal = first_refusal.or(outcome.first_refusal);
    }
    if let Some(refusal) = first_refusal {
        eprintln!("loadgen: {refused} events refused; the first: {refusal}");
    }
    latencies.sort_unstable();
    let steady_after_us = steady_after.as_micros() as u64;
    let steady_latency_us = match rate {
        Some(_) => {
            let mut steady: Vec<u64> = acknowledgements
                .iter()
                .filter(|(due, _)| due - start_unix_us >= steady_after_us)
                .map(|(_, latency)| *latency)
                .collect();
            steady.sort_unstable();
            (!steady.is_empty()).then(|| (steady_after, percentiles(&steady)))
        }
        None => None,
    };
    Ok(PhaseReport {
        name: name.to_owned(),
        target_rate: rate,
        acknowledged,
        refused,
        elapsed: last_ack - start,
        latency_us: percentiles(&latencies),
        steady_latency_us,
        acknowledgements,
        node_cpu: None,
        loadgen_cpu: Duration::ZERO,
        stolen_share: None,
    })
}

/// p50, p90, p99, p99.9 and the maximum of `sorted` (ascending); zeros when it is empty.
fn percentiles(sorted: &[u64]) -> [u64; 5] {
    [0.50, 0.90, 0.99, 0.999, 1.0].map(|p: f64| {
        if sorted.is_empty() {
            return 0;
        }
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    })
}

/// One stream: send `events` (as fast as the stream takes them, or each at its due time),
/// and time each acknowledgement from when its event was sent (or due).
async fn drive(
    channel: Channel,
    events: Vec<pb::SignedEvent>,
    start: Instant,
    rate: Option<f64>,
) -> anyhow::Result<StreamOutcome> {
    let n = events.len();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let (queue, queued) = mpsc::channel::<(usize, Option<Duration>, pb::SignedEvent)>(256);
    tokio::spawn(async move {
        for (i, event) in events.into_iter().enumerate() {
            let due = rate.map(|rate| Duration::from_secs_f64(i as f64 / rate));
            // An event already due goes at once, without a timer: the timer's
            // resolution is a millisecond, so several events fall due together, and a
            // timer for each costs CPU that the node, sharing the cores, could use.
            if let Some(due) = due.filter(|due| start.elapsed() < *due) {
                tokio::time::sleep_until((start + due).into()).await;
            }
            if queue.send((i, due, event)).await.is_err() {
                return;
            }
        }
    });
    let stamps = sent.clone();
    let outbound = ReceiverStream::new(queued).map(move |(i, due, event)| {
        // Closed loop: the event goes out now. Open loop: it was due at `due`.
        let at = due.unwrap_or_else(|| start.elapsed());
        stamps[i].store(at.as_nanos() as u64, Ordering::Relaxed);
        event
    });
    let mut client = LedgerClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let mut results = client.submit_stream(outbound).await?.into_inner();
    let mut outcome = StreamOutcome {
        latencies_us: Vec::with_capacity(n),
        sent_us: Vec::with_capacity(n),
        acknowledged: 0,
        refused: 0,
        first_refusal: None,
        last_ack: start,
    };
    while let Some(result) = results.message().await? {
        let now = start.elapsed().as_nanos() as u64;
        let index = result.index as usize;
        let sent_at = sent.get(index).map_or(now, |s| s.load(Ordering::Relaxed));
        outcome
            .latencies_us
            .push(now.saturating_sub(sent_at) / 1000);
        outcome.sent_us.push(sent_at / 1000);
        match result.outcome {
            Some(pb::submit_result::Outcome::Receipt(receipt)) if !receipt.duplicate => {
                outcome.acknowledged += 1
            }
            Some(pb::submit_result::Outcome::Receipt(_)) => {}
            Some(pb::submit_result::Outcome::Refusal(refusal)) => {
                outcome.refused += 1;
                outcome.first_refusal.get_or_insert(refusal.message);
            }
            None => bail!("event {index}: an empty answer"),
        }
    }
    outcome.last_ack = Instant::now();
    Ok(outcome)
}

/// The number of events in the ledger (from the latest event's sequence number).
async fn count_events(channel: &Channel) -> anyhow::Result<u64> {
    let mut client = LedgerClient::new(channel.clone());
    // Binary search for the first sequence number with no event.
    let (mut low, mut high) = (0u64, 1u64 << 40);
    while low < high {
        let mid = low + (high - low) / 2;
        let found = client
            .get_event(pb::GetEventRequest {
                key: Some(pb::get_event_request::Key::Sequence(mid)),
            })
            .await;
        match found {
            Ok(_) => low = mid + 1,
            Err(status) if status.code() == tonic::Code::NotFound => high = mid,
            Err(status) => return Err(status.into()),
        }
    }
    Ok(low)
}

/// The CPU time a process has used so far, user and system, all its threads (ended ones
/// included): `/proc/PID/stat`'s `utime` and `stime`, which Linux gives in ticks of
/// 1/100 s (`USER_HZ`, fixed at 100 in its interface to programs).
fn process_cpu(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces; the fields after
    // it start at 3 (`state`), so `utime` (14) and `stime` (15) are the 12th and 13th.
    let (_, after_name) = stat
        .rsplit_once(')')
        .with_context(|| format!("/proc/{pid}/stat: no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .with_context(|| format!("/proc/{pid}/stat: too few fields"))?
            .parse()
            .with_context(|| format!("/proc/{pid}/stat: field {} is not a number", i + 3))
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// The machine's CPU time so far, over all its CPUs, from the first line of `/proc/stat`
/// (in ticks of 1/100 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MachineCpu {
    /// Every state: user, nice, system, idle, iowait, irq, softirq and steal.
    all: u64,
    /// Steal: time a virtual CPU had work but its hypervisor ran something else.
    stolen: u64,
}

impl MachineCpu {
    /// From `/proc/stat`'s `cpu` line; `None` when it is not one, or has no steal field
    /// (kernels before 2.6.11).
    fn parse(line: &str) -> Option<MachineCpu> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        // guest and guest_nice, after steal, are already counted in user and nice.
        let ticks: Vec<u64> = fields
            .take(8)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        (ticks.len() == 8).then(|| MachineCpu {
            all: ticks.iter().sum(),
            stolen: ticks[7],
        })
    }

    /// The share of the CPU time between `before` and this reading that was stolen;
    /// `None` when no time passed.
    fn stolen_share_since(self, before: MachineCpu) -> Option<f64> {
        let all = self.all.checked_sub(before.all)?;
        let stolen = self.stolen.checked_sub(before.stolen)?;
        (all > 0).then(|| stolen as f64 / all as f64)
    }
}

/// The machine's CPU time now, if `/proc/stat` can be read and parsed.
fn machine_cpu() -> Option<MachineCpu> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    MachineCpu::parse(stat.lines().next()?)
}

/// Peak and current resident memory of a process, in bytes (`/proc/PID/status`).
fn node_memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("a number of kB")?
            .parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// Bytes in the files under `dir`: RocksDB's tables (`.sst`), its write-ahead log
/// (`.log`), and the rest.
fn dir_bytes(dir: &std::path::Path) -> std::io::Result<[u64; 3]> {
    let mut total = [0; 3];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // A running node deletes the tables a compaction replaced and the logs a flush
        // emptied: one listed a moment ago may be gone, and is no longer part of it.
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        if meta.is_dir() {
            let inner = dir_bytes(&entry.path())?;
            for (sum, part) in total.iter_mut().zip(inner) {
                *sum += part;
            }
            continue;
        }
        let slot = match entry.path().extension().and_then(|e| e.to_str()) {
            Some("sst") => 0,
            Some("log") => 1,
            _ => 2,
        };
        total[slot] += meta.len();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machines_stolen_cpu_time_is_read_from_proc_stat() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let before =
            MachineCpu::parse("cpu  8708480 69157 709927 3751255 78719 0 28190 43244 0 0").unwrap();
        let after =
            MachineCpu::parse("cpu  8709033 69157 709945 3751579 78719 0 28190 43359 0 0").unwrap();
        assert_eq!(before.stolen, 43244);
        assert_eq!(
            before.all,
            8708480 + 69157 + 709927 + 3751255 + 78719 + 28190 + 43244
        );
        // 553 user + 18 system + 324 idle + 115 steal ticks: 115 of 1,010 stolen.
        let share = after.stolen_share_since(before).unwrap();
        assert!((share - 115.0 / 1010.0).abs() < 1e-12, "{share}");
        assert_eq!(after.stolen_share_since(after), None);
        // Not the machine's line, a kernel without steal, or not numbers.
        assert_eq!(MachineCpu::parse("cpu0 1 2 3 4 5 6 7 8 9 10"), None);
        assert_eq!(MachineCpu::parse("cpu 1 2 3 4 5 6 7"), None);
        assert_eq!(MachineCpu::parse("cpu 1 2 3 four 5 6 7 8"), None);
        // This machine's own line reads, and time goes forward on it.
        let now = machine_cpu().expect("/proc/stat on Linux");
        assert!(now.all > 0 && now.stolen <= now.all);
    }

    #[test]
    fn percentiles_rank_by_the_nearest_rank_rule() {
        let sorted: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentiles(&sorted), [500, 900, 990, 999, 1000]);
        // Ten latencies: the p99 is the tenth (rank ⌈9.9⌉), not the ninth.
        let ten: Vec<u64> = (1..=10).collect();
        assert_eq!(percentiles(&ten), [5, 9, 10, 10, 10]);
        assert_eq!(percentiles(&[7]), [7; 5]);
        assert_eq!(percentiles(&[]), [0; 5]);
    }

    #[test]
    fn a_bad_steady_span_is_refused_before_anything_runs() {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let args = LoadgenArgs {
                signer: SignerArgs {
                    key: "absent.key".into(),
                    signer_party: "11210112MB00000017".into(),
                },
                server: crate::ServerArgs::plain("http://127.0.0.1:9"),
                parties: 10,
                clients: 1,
                events: 10,
                rate: None,
                at_fraction: Vec::new(),
                bounds: false,
                bounds_dir: None,
                node_pid: None,
                node_data_dir: None,
                latency_csv: None,
                steady_after_secs: bad,
            };
            let error = run(&args, &mut Vec::new()).expect_err("refused");
            assert!(
                format!("{error:#}").contains("--steady-after-secs"),
                "{bad}: {error:#}"
            );
        }
    }
}
