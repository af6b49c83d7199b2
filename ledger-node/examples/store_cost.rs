//! What the RocksDB store costs an event, alone: the load generator's events (ten-event
//! supply chains by 1,000 parties, admitted beforehand against an in-memory store), put
//! into commit groups and committed to a fresh RocksDB store as the node's writer does
//! (`LedgerStore::prepare`, then `commit_prepared`: one synced write a group), with no
//! gRPC, no signature checks and no admission in the measured part. Reports the CPU an
//! event of the committing thread and of the whole process (RocksDB's flushes and
//! compactions included), before and after a final flush.
//!
//! ```sh
//! cargo run --release -p ledger-node --example store_cost -- [EVENTS] [GROUP]
//! ```
//!
//! EVENTS defaults to 500,000, GROUP (events a commit group) to 384, where the writer's
//! default linger stops gathering a batch under load. The store is the node's default
//! (`RocksStore::open`: 64 MiB of memtables, 64 MiB of block cache) in a temporary
//! directory.

use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use district_synth::Recorder;
use district_synth::load::LoadParties;
use ledger_core::SignedEvent;
use ledger_core::admission::{Admission, admit};
use ledger_core::merkle::{Frontier, leaf_hash};
use ledger_core::model::PartyRole;
use ledger_node::view::PendingView;
use ledger_rocksdb::RocksStore;
use ledger_store::{CommitGroup, LedgerStore, MemStore, NewEvent};

/// The node's allocator, so that the batch's keys and values cost what they do there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map_or(Ok(500_000), |a| a.parse())?;
    let group_size: usize = args.next().map_or(Ok(384), |a| a.parse())?;
    anyhow::ensure!(group_size > 0, "GROUP must be at least 1");

    let started = Instant::now();
    let groups = load_groups(events, group_size)?;
    let events: usize = groups.iter().map(|g| g.events.len()).sum();
    eprintln!(
        "{events} events admitted into {} groups in {:.1} s; committing",
        groups.len(),
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir()?;
    let store = RocksStore::open(dir.path())?;
    let (thread_before, process_before) = (cpu("thread-self")?, cpu("self")?);
    let started = Instant::now();
    for group in groups {
        let mut prepared = store.prepare(group);
        store.commit_prepared(&mut prepared)?;
    }
    let wall = started.elapsed();
    let (thread_after, process_after) = (cpu("thread-self")?, cpu("self")?);
    store.flush()?;
    let process_flushed = cpu("self")?;
    drop(store);

    let per_event = |d: Duration| d.as_secs_f64() * 1e6 / events as f64;
    println!(
        "{events} events in groups of {group_size}: {:.0} events/s; CPU an event: \
         committing thread {:.2} us, process {:.2} us, process with the final flush {:.2} us",
        events as f64 / wall.as_secs_f64(),
        per_event(thread_after - thread_before),
        per_event(process_after - process_before),
        per_event(process_flushed - process_before),
    );
    Ok(())
}

/// `events` load events (an authority, its 1,000 registrations, then supply chains),
/// admitted one by one against a `MemStore`, gathered into commit groups of `size`.
fn load_groups(events: usize, size: usize) -> anyhow::Result<Vec<CommitGroup>> {
    let memory = MemStore::new();
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let authority = Recorder::new(district_synth::authority_id(), PartyRole::Authority, key);
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T03:00:00+08:00")?;
    let now = Utc::now().trunc_subsecs(3);
    let genesis = district_synth::genesis(&authority, at - chrono::Duration::days(2));
    let parties = LoadParties::new(1000);
    let mut wire = vec![genesis];
    wire.extend(parties.registrations(&authority, at - chrono::Duration::days(1)));
    let mut chain = 0;
    while wire.len() < events {
        // Chains start 3 ms apart, as a busy district's would.
        let start = at + chrono::Duration::milliseconds(chain as i64 * 3);
        wire.extend(parties.chain("cost", chain, start));
        chain += 1;
    }

    let mut frontier = Frontier::default();
    let mut groups = Vec::new();
    let mut group = CommitGroup::default();
    for wire in wire {
        let event: SignedEvent = ledger_proto::decode_signed_event(wire)?;
        let sequence = memory.next_sequence()?;
        let view = PendingView::new(&memory);
        let Admission::New(changes) = admit(&view, &event, sequence, now)? else {
            anyhow::bail!("event {sequence} is a duplicate");
        };
        let new = NewEvent::of(
            &event,
            sequence,
            now,
            |link| memory.sequence_of(link).ok().flatten(),
            |lot| Some(memory.lot(lot).ok().flatten()?.created_at_sequence),
        );
        let one = CommitGroup {
            events: vec![new],
            lots: changes.new_lot.into_iter().collect(),
            parties: changes.party.into_iter().collect(),
            ..CommitGroup::default()
        };
        memory.commit(&one)?;
        group.events.extend(one.events);
        group.lots.extend(one.lots);
        group.parties.extend(one.parties);
        group.tree_nodes.extend(frontier.append(leaf_hash(
            &event.hash(),
            event.signature(),
            now.timestamp_millis(),
        )));
        if group.events.len() == size {
            groups.push(std::mem::take(&mut group));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    Ok(groups)
}

/// CPU time (user and system) of `/proc/<which>/stat`: `self` for the process, all its
/// threads; `thread-self` for the calling thread. Linux counts it in ticks of 10 ms.
fn cpu(which: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{which}/stat"))?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("/proc/{which}/stat without a command name"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("/proc/{which}/stat is short"))?
            .parse()?)
    };
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after the state (field 3).
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}
