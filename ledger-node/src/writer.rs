//! The single writer: admits events in arrival order, commits them in groups, grows the
//! Merkle tree and signs checkpoints.
//!
//! Submissions wait in a bounded queue (the backpressure: a full queue makes callers
//! wait, and a stream's flow control pushes back to the client). Three threads do the
//! writing, as a pipeline:
//!
//! - the **verifier** (`ledger-verify`) takes whatever has queued up, at most
//!   [`WriterConfig::max_group`] events (when it has been busy lately, it first lets a
//!   batch gather for a moment: [`GroupLinger`]), notes on each event the key the store
//!   holds for its signer, hands the batch to the admitter, and then checks those
//!   signatures, all in one batch (`ledger_core::signature::verify_batch_with`, which
//!   accepts exactly what the one-by-one rule accepts; one by one when the batch fails),
//!   and sends the admitter its verdicts. It reads only the store, never the admitter's
//!   state.
//! - the **admitter** (`ledger-writer`) takes the batches the verifier has handed on (as
//!   many as fit in one group) and admits each event against the store, the groups still
//!   being committed and the events already admitted in this group, *while* the verifier
//!   checks their signatures on the other core. Admission does not depend on a
//!   signature, only on which key it must verify under: so the admitter admits first,
//!   then waits for the verdicts. An event whose signature the verifier checked under the
//!   very key admission selected is taken at the verifier's word; the others (a signer
//!   registered moments ago, in a group not yet stored) have their signatures checked
//!   then, in batches on every core. If any signature is bad, the group is admitted
//!   again with those events refused in place (a later event may have relied on one),
//!   which gives exactly what admitting them in turn would (so a forgery costs its group
//!   a second admission, a fraction of what checking the group's signatures costs). It
//!   appends the leaves to the Merkle tree, signs a checkpoint when one is due, and has
//!   the store encode the group's writes (`LedgerStore::prepare`) before it waits for
//!   the verdicts, so that the encoding too is done while the verifier checks.
//! - the **committer** (`ledger-commit`) writes each group (events, index entries, tree
//!   nodes, checkpoint) as one synced batch (`LedgerStore::commit_prepared`, which checks
//!   then that the group continues the log) and only then answers its submitters.
//!
//! So one fsync serves a whole group, and while one group is written the next is
//! admitted and verified at once, and the one after it gathers. At most two batches wait
//! for the admitter (one queued, and one carried over when it did not fit in the last
//! group) and two groups for the committer. If a commit fails, that group and every group admitted
//! after it are refused (they may rely on it), and the admitter starts again from what
//! the store holds.
//!
//! A checkpoint is due when the tree has grown and [`WriterConfig::checkpoint_interval`]
//! has passed since the last one, or when one is asked for. A ticker thread wakes the
//! writer every interval so the last events of a burst are covered soon even when no
//! more arrive. RocksDB is never touched from async code.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use ledger_core::LedgerView;
use ledger_core::admission::{Admission, ViewedEvent, admit_deferring_signature};
use ledger_core::checkpoint::LogSigner;
use ledger_core::ids::{EventHash, KeyId, PartyId};
use ledger_core::merkle::{Frontier, leaf_hash};
use ledger_core::rate::{PartyBuckets, SubmissionRate};
use ledger_core::signature::{KeyCache, OwnedSignatureCheck, SignatureCheck, verify_batch_with};
use ledger_core::{Refusal, RefusalCode, SignedEvent};
use ledger_store::{
    CommitGroup, LedgerStore, NewEvent, PreparedGroup, StoreError, StoreTree, StoredCheckpoint,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::view::{Layer, PendingView, StoreCache};

/// The node's acknowledgement of a durable event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Global sequence number.
    pub sequence: u64,
    /// Event hash.
    pub hash: EventHash,
    /// When the node recorded it.
    pub recorded_at: DateTime<Utc>,
    /// The event was already in the ledger; this is the original receipt.
    pub duplicate: bool,
}

/// Tuning of the writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Events waiting at most before submitters have to wait.
    pub queue_capacity: usize,
    /// Events committed at most in one group (512: larger groups ingest a little
    /// faster under saturation but lengthen every acknowledgement; see BENCHMARKS.md).
    pub max_group: usize,
    /// How often, at most, a checkpoint is signed while the tree grows.
    pub checkpoint_interval: Duration,
    /// How fast each party (but the authority) may record; `None`: no limit. An event
    /// over its signer's rate is refused with `RESOURCE_EXHAUSTED` whatever its
    /// signature; only admitted events count, so forgeries in a party's name spend none
    /// of its tokens (see `ledger_core::rate`).
    pub party_rate: Option<SubmissionRate>,
    /// When the verifier lets a batch gather before checking it.
    pub linger: GroupLinger,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: 4096,
            max_group: 512,
            checkpoint_interval: Duration::from_millis(250),
            party_rate: None,
            linger: GroupLinger::default(),
        }
    }
}

/// Letting a batch gather under load: group commit's delay.
///
/// A signature costs less to check in a bigger batch (about 14 µs each in a batch of 64,
/// 10.4 in one of 256: BENCHMARKS.md), and so do a group's admission and its commit.
/// Without waiting, the writer takes whatever has queued, so at a steady 80% of the
/// maximum rate its groups shrink to a median of 80 events and every event costs a fifth
/// to a quarter more CPU than at the maximum: the machine is as busy as at the maximum, and
/// any burst of background work (a RocksDB compaction) makes a queue.
///
/// So when the verifier, the writer's first stage, has lately been busy (checking, or
/// waiting for the admitter to take its last batch) at least [`GroupLinger::when_busy`]
/// of the time, it waits up to [`GroupLinger::wait`] after a batch's first event for
/// [`GroupLinger::until`] events to gather. Below that (a lone event, a lightly loaded
/// node) it never waits: a quiet node's latency is not traded for a saving it does not
/// need.
///
/// The defaults (5 ms, 384 events) trade about 6 ms of median latency under load for
/// 2-6% less CPU an event at 80% of the maximum rate, which is what the tail there
/// depends on (BENCHMARKS.md, session 16; 2 ms and 192 before).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupLinger {
    /// The longest a group's first event waits for more; zero: never.
    pub wait: Duration,
    /// Events (at most [`WriterConfig::max_group`]) that end the wait once queued.
    pub until: usize,
    /// The share of its time the verifier has been busy lately (not waiting for an
    /// event), from which it lingers: 0 lingers always, above 1 never.
    pub when_busy: f64,
}

impl GroupLinger {
    /// The default [`GroupLinger::wait`], in microseconds (`--group-linger-us`).
    pub const DEFAULT_WAIT_US: u64 = 5_000;
    /// The default [`GroupLinger::until`] (`--group-linger-events`).
    pub const DEFAULT_UNTIL: usize = 384;
}

impl Default for GroupLinger {
    fn default() -> Self {
        GroupLinger {
            wait: Duration::from_micros(GroupLinger::DEFAULT_WAIT_US),
            until: GroupLinger::DEFAULT_UNTIL,
            when_busy: 0.5,
        }
    }
}

#[allow(clippy::large_enum_variant)] // nearly every job is a submission: boxing would cost an allocation each
enum Job {
    Submit {
        event: SignedEvent,
        reply: oneshot::Sender<Result<Receipt, Refusal>>,
        /// The key the verifier is checking the signature under (the one the store
        /// held for its signer), when it knew one.
        checking: Option<[u8; 32]>,
    },
    /// Sign a checkpoint now if the tree has grown since the last one.
    Checkpoint,
    /// The ticker's wake-up: sign one if it is due.
    Tick,
}

/// The verifier's verdicts on one batch, sent once it has checked them: for each job it
/// checked (by its index in the batch), whether the signature verifies under the key
/// noted on the job.
type BatchVerdicts = std::sync::mpsc::Receiver<Vec<(usize, bool)>>;

/// A batch on its way from the verifier to the admitter: its jobs now, and the verdicts
/// on their signatures once the verifier has checked them (while they are admitted).
struct Verifying {
    jobs: Vec<Job>,
    verdicts: BatchVerdicts,
}

/// The verdicts on a group's signatures, gathered from the verifier when admission needs
/// them.
#[derive(Default)]
struct Verdicts {
    /// Each of the group's batches: its first job's index in the group, and its verdicts
    /// to come.
    coming: Vec<(usize, BatchVerdicts)>,
    /// By the job's index in the group.
    known: HashMap<usize, bool>,
}

impl Verdicts {
    /// Waits for the verdicts still to come. A batch whose verdicts never come (the
    /// verifier stopped) has none: its signatures are checked by the admitter.
    fn wait(&mut self) {
        for (offset, verdicts) in self.coming.drain(..) {
            for (i, good) in verdicts.recv().unwrap_or_default() {
                self.known.insert(offset + i, good);
            }
        }
    }

    /// The verdict on the signature of the job at `i`, once [`Verdicts::wait`] has
    /// gathered them.
    fn of(&self, i: usize) -> Option<bool> {
        self.known.get(&i).copied()
    }
}

/// A receipt still to come: the event is queued and will be answered in order.
pub struct PendingReceipt(oneshot::Receiver<Result<Receipt, Refusal>>);

impl PendingReceipt {
    /// Waits for the writer's answer.
    pub async fn wait(self) -> Result<Receipt, Refusal> {
        self.0.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> Refusal {
    Refusal::new(
        RefusalCode::Unavailable,
        "",
        "the ledger writer has stopped",
    )
}

/// A handle to the ledger: submit events, read the store, follow checkpoints. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    queue: mpsc::Sender<Job>,
    store: Arc<dyn LedgerStore>,
    checkpoints: watch::Receiver<Option<StoredCheckpoint>>,
    verifier_key: Arc<str>,
    _writer: Arc<WriterThread>,
}

struct WriterThread(Option<JoinHandle<()>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        // The queue's last sender is gone by now (it is dropped before this field), so
        // the thread finishes the group in hand and ends; wait so the store closes cleanly.
        if let Some(handle) = self.0.take() {
            let _ = handle.join();
        }
    }
}

/// The admitting half of the writer (see the module documentation).
struct Admitter<'a> {
    store: &'a dyn LedgerStore,
    log: LogSigner,
    frontier: Frontier,
    /// The sequence number the next admitted event gets.
    next: u64,
    /// Groups admitted and handed to the committer, oldest first, with the sequence
    /// number after each; dropped once the store has them.
    layers: Vec<Arc<Layer>>,
    layer_ends: Vec<u64>,
    /// Parties and lots read from the store lately.
    cache: std::cell::RefCell<StoreCache>,
    /// Decompressed signers' keys, one cache for each thread that checks signatures.
    signature_keys: std::cell::RefCell<[KeyCache; 2]>,
    last_checkpoint: Option<(u64, Instant)>,
    checkpoint_interval: Duration,
    commits: std::sync::mpsc::SyncSender<ToCommit>,
    /// Set by the committer when a commit failed: start again from the store.
    broken: Arc<AtomicBool>,
    /// Each party's submission rate, when limited.
    rates: Option<PartyBuckets>,
    /// Events admitted in the group being built, by signer: charged to their buckets
    /// once the group's signatures are all good.
    charges: HashMap<PartyId, u32>,
    /// Groups since full buckets were last dropped.
    groups_since_sweep: u32,
}

/// The first stage of the writer: checks signatures ahead of admission (see the module
/// documentation).
struct Verifier<'a> {
    store: &'a dyn LedgerStore,
    /// Signers' public keys as the store held them, by party and key id.
    keys: quick_cache::unsync::Cache<(PartyId, KeyId), [u8; 32]>,
    /// The same keys, decompressed.
    points: KeyCache,
}

/// A signature for the verifier to check, copied out of its job (the job's index in the
/// batch).
struct OwnedCheck {
    job: usize,
    check: OwnedSignatureCheck,
}

/// What the admitter hands the committer.
enum ToCommit {
    Group(Draft),
    /// Answer once every group handed over before has been dealt with.
    Barrier(std::sync::mpsc::SyncSender<()>),
}

type Reply = oneshot::Sender<Result<Receipt, Refusal>>;

/// An admitted group, ready to write, and the answers its submitters are owed.
struct Draft {
    first_sequence: u64,
    group: PreparedGroup,
    replies: Vec<(Reply, Result<Receipt, Refusal>)>,
}

/// The committing half of the writer.
struct Committer<'a> {
    store: &'a dyn LedgerStore,
    published: watch::Sender<Option<StoredCheckpoint>>,
    broken: Arc<AtomicBool>,
    /// The first sequence number of a group whose commit failed, until the admitter
    /// has started again: receipts from there on are refused.
    failed_from: Option<(u64, String)>,
}

impl Ledger {
    /// Starts the writer thread over `store`, signing checkpoints with `log`. Fails when
    /// the store's Merkle tree cannot be read back (a damaged data directory).
    pub fn start(
        store: Arc<dyn LedgerStore>,
        log: LogSigner,
        config: WriterConfig,
    ) -> Result<Ledger, StoreError> {
        let size = store.next_sequence()?;
        let frontier = Frontier::load(&StoreTree(&*store), size)?;
        let latest = store.latest_checkpoint()?;
        let (published, checkpoints) = watch::channel(latest.clone());
        let verifier_key: Arc<str> = log.verifier_key().into();
        let (queue, jobs) = mpsc::channel(config.queue_capacity.max(1));
        let thread_store = store.clone();
        let max_group = config.max_group.max(1);
        let linger = config.linger;
        let interval = config.checkpoint_interval.max(Duration::from_millis(1));
        let party_rate = config
            .party_rate
            .filter(|rate| rate.per_second > 0 && rate.burst > 0);
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                let store = &*thread_store;
                let broken = Arc::new(AtomicBool::new(false));
                let (commits, to_commit) = std::sync::mpsc::sync_channel(1);
                std::thread::scope(|scope| {
                    let committer_broken = broken.clone();
                    std::thread::Builder::new()
                        .name("ledger-commit".into())
                        .spawn_scoped(scope, move || {
                            let mut committer = Committer {
                                store,
                                published,
                                broken: committer_broken,
                                failed_from: None,
                            };
                            for job in to_commit {
                                committer.handle(job);
                            }
                        })
                        .expect("spawn the ledger commit thread");
                    let mut admitter = Admitter {
                        store,
                        log,
                        frontier,
                        next: size,
                        layers: Vec::new(),
                        layer_ends: Vec::new(),
                        cache: std::cell::RefCell::new(StoreCache::new(STORE_CACHE_ENTRIES)),
                        signature_keys: std::cell::RefCell::new([
                            KeyCache::new(KEY_CACHE_ENTRIES),
                            KeyCache::new(KEY_CACHE_ENTRIES),
                        ]),
                        last_checkpoint: latest.map(|c| (c.tree_size, Instant::now())),
                        checkpoint_interval: interval,
                        commits,
                        broken,
                        rates: party_rate.map(PartyBuckets::new),
                        charges: HashMap::new(),
                        groups_since_sweep: 0,
                    };
                    let (to_admit, verified) = std::sync::mpsc::sync_channel(1);
                    std::thread::Builder::new()
                        .name("ledger-verify".into())
                        .spawn_scoped(scope, move || {
                            let mut verifier = Verifier {
                                store,
                                keys: quick_cache::unsync::Cache::new(KEY_CACHE_ENTRIES),
                                points: KeyCache::new(KEY_CACHE_ENTRIES),
                            };
                            verifier.run(jobs, to_admit, max_group, linger);
                        })
                        .expect("spawn the ledger verify thread");
                    admitter.run(verified, max_group);
                    // Dropping the admitter closes the committer's channel: it finishes
                    // the groups in hand and ends, and the scope waits for it.
                });
            })
            .expect("spawn the ledger writer thread");
        spawn_ticker(queue.downgrade(), interval);
        Ok(Ledger {
            queue,
            store,
            checkpoints,
            verifier_key,
            _writer: Arc::new(WriterThread(Some(handle))),
        })
    }

    /// The store, for reads.
    pub fn store(&self) -> &Arc<dyn LedgerStore> {
        &self.store
    }

    /// The verifier key of the log's checkpoints (`<origin>+<key id>+<key>`).
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// Queues an event, waiting while the queue is full. Events queued by one caller are
    /// admitted in the order queued.
    pub async fn enqueue(&self, event: SignedEvent) -> Result<PendingReceipt, Refusal> {
        let (reply, receipt) = oneshot::channel();
        self.queue
            .send(Job::Submit {
                event,
                reply,
                checking: None,
            })
            .await
            .map_err(|_| stopped())?;
        Ok(PendingReceipt(receipt))
    }

    /// Submits an event and waits until it is durable (or refused).
    pub async fn submit(&self, event: SignedEvent) -> Result<Receipt, Refusal> {
        self.enqueue(event).await?.wait().await
    }

    /// A receiver that sees every newly signed checkpoint.
    pub fn subscribe_checkpoints(&self) -> watch::Receiver<Option<StoredCheckpoint>> {
        self.checkpoints.clone()
    }

    /// The latest signed checkpoint.
    pub fn latest_checkpoint(&self) -> Option<StoredCheckpoint> {
        self.checkpoints.borrow().clone()
    }

    /// Waits until a signed checkpoint covers at least `tree_size` leaves, asking the
    /// writer to sign one now rather than at its next interval.
    pub async fn wait_for_checkpoint(&self, tree_size: u64) -> Result<StoredCheckpoint, Refusal> {
        let mut checkpoints = self.checkpoints.clone();
        let covers =
            |c: &Option<StoredCheckpoint>| c.as_ref().is_some_and(|c| c.tree_size >= tree_size);
        if !covers(&checkpoints.borrow()) {
            self.queue
                .send(Job::Checkpoint)
                .await
                .map_err(|_| stopped())?;
        }
        let checkpoint = checkpoints.wait_for(covers).await.map_err(|_| stopped())?;
        Ok(checkpoint.clone().expect("covers() saw a checkpoint"))
    }
}

/// Wakes the writer every `interval` until the ledger is dropped.
fn spawn_ticker(queue: mpsc::WeakSender<Job>, interval: Duration) {
    std::thread::Builder::new()
        .name("checkpoint-ticker".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(queue) = queue.upgrade() else { return };
                // A full queue means the writer is busy and will check on its own.
                let _ = queue.try_send(Job::Tick);
            }
        })
        .expect("spawn the checkpoint ticker thread");
}

impl Verifier<'_> {
    /// Takes what has queued (letting it gather when busy: [`GroupLinger`]), checks the
    /// signatures it can and hands the batch on, until the queue closes.
    fn run(
        &mut self,
        mut jobs: mpsc::Receiver<Job>,
        verified: std::sync::mpsc::SyncSender<Verifying>,
        max_group: usize,
        linger: GroupLinger,
    ) {
        let mut busy = BusyShare::default();
        loop {
            let mut batch = Vec::with_capacity(max_group);
            let idle_from = Instant::now();
            let Some(first) = jobs.blocking_recv() else {
                break;
            };
            let arrived = Instant::now();
            batch.push(first);
            let mut open = take_queued(&mut jobs, &mut batch, max_group);
            if open && busy.share() >= linger.when_busy {
                let until = linger.until.min(max_group);
                let deadline = arrived + linger.wait;
                // Polled rather than woken: a few wake-ups a millisecond at most, and only
                // while the node is busy.
                while open && batch.len() < max_group && events_in(&batch) < until {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    std::thread::sleep((deadline - now).min(LINGER_POLL));
                    open = take_queued(&mut jobs, &mut batch, max_group);
                }
            }
            let handing = Instant::now();
            let checks = self.note_keys(&mut batch);
            // The admitter admits the batch while its signatures are checked here; it
            // waits for the verdicts before the group goes to be written. Waiting for the
            // admitter counts as busy: the stages after this one are full.
            let (verdicts, coming) = std::sync::mpsc::sync_channel(1);
            if verified
                .send(Verifying {
                    jobs: batch,
                    verdicts: coming,
                })
                .is_err()
            {
                break;
            }
            let _ = verdicts.send(self.check(&checks));
            busy.record(handing.elapsed(), arrived - idle_from);
        }
    }

    /// Notes on each of the batch's submissions the key the store holds for its signer,
    /// if any, and returns what checking those signatures needs (copied: the batch goes
    /// on to the admitter while they are checked).
    fn note_keys(&mut self, batch: &mut [Job]) -> Vec<OwnedCheck> {
        let mut checks = Vec::with_capacity(batch.len());
        for (i, job) in batch.iter_mut().enumerate() {
            if let Job::Submit {
                event, checking, ..
            } = job
                && let Some(key) = self.registered_key(event)
            {
                *checking = Some(key);
                checks.push(OwnedCheck {
                    job: i,
                    check: OwnedSignatureCheck {
                        key,
                        body: event.body_bytes().to_vec(),
                        signature: *event.signature(),
                    },
                });
            }
        }
        checks
    }

    /// Checks the signatures in one batch (one by one when the batch fails): each job's
    /// index and whether its signature verifies.
    fn check(&mut self, owned: &[OwnedCheck]) -> Vec<(usize, bool)> {
        let checks: Vec<SignatureCheck<'_>> = owned.iter().map(|o| o.check.as_check()).collect();
        let all_good = !checks.is_empty() && verify_batch_with(&checks, &mut self.points);
        owned
            .iter()
            .zip(&checks)
            .map(|(owned, check)| (owned.job, all_good || check.verify()))
            .collect()
    }

    /// The public key the store holds for the event's signer and key id, if any.
    fn registered_key(&mut self, event: &SignedEvent) -> Option<[u8; 32]> {
        let body = event.body();
        let id = (body.signer.clone(), body.key_id);
        if let Some(key) = self.keys.get(&id) {
            return Some(*key);
        }
        // A store that cannot be read leaves the check to the admitter, which reads
        // the same and refuses the event for it.
        let party = self.store.party(&body.signer).ok()??;
        let key = party.key(&body.key_id)?.public_key;
        self.keys.insert(id, key);
        Some(key)
    }
}

impl Admitter<'_> {
    fn run(&mut self, verified: std::sync::mpsc::Receiver<Verifying>, max_group: usize) {
        let mut carried: Option<Verifying> = None;
        loop {
            let first = match carried.take() {
                Some(first) => first,
                None => match verified.recv() {
                    Ok(first) => first,
                    Err(_) => break,
                },
            };
            let mut batch = first.jobs;
            let mut verdicts = Verdicts::default();
            verdicts.coming.push((0, first.verdicts));
            // Batches the verifier passed while the last group was admitted go into
            // this group, as many as fit.
            while batch.len() < max_group {
                match verified.try_recv() {
                    Ok(more) if batch.len() + more.jobs.len() <= max_group => {
                        verdicts.coming.push((batch.len(), more.verdicts));
                        batch.extend(more.jobs);
                    }
                    Ok(more) => {
                        carried = Some(more);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if self.broken.load(Ordering::SeqCst) {
                self.start_again();
            }
            self.forget_committed();
            let draft = self.admit_group(&mut batch, &mut verdicts);
            if self.commits.send(ToCommit::Group(draft)).is_err() {
                break;
            }
        }
        tracing::debug!("ledger writer stopped: no more submitters");
    }

    /// After a failed commit: wait for the committer to refuse what it holds, then take
    /// up the tree, the sequence and the latest checkpoint from the store.
    fn start_again(&mut self) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if self.commits.send(ToCommit::Barrier(done)).is_ok() {
            let _ = wait.recv();
        }
        self.layers.clear();
        self.layer_ends.clear();
        self.cache.borrow_mut().clear();
        let reloaded = self.store.next_sequence().and_then(|size| {
            let frontier = Frontier::load(&StoreTree(self.store), size)?;
            let latest = self.store.latest_checkpoint()?;
            Ok((size, frontier, latest))
        });
        match reloaded {
            Ok((size, frontier, latest)) => {
                self.next = size;
                self.frontier = frontier;
                self.last_checkpoint = latest.map(|c| (c.tree_size, Instant::now()));
                self.broken.store(false, Ordering::SeqCst);
            }
            // Still broken: the next group is refused and we try again after it.
            Err(error) => tracing::error!(%error, "cannot reload the ledger after a failed commit"),
        }
    }

    /// Drops the layers of groups the store now holds.
    fn forget_committed(&mut self) {
        let Ok(stored) = self.store.next_sequence() else {
            return;
        };
        let done = self
            .layer_ends
            .iter()
            .take_while(|end| **end <= stored)
            .count();
        self.layers.drain(..done);
        self.layer_ends.drain(..done);
    }

    /// Admits a group. Signatures are checked in batches after admission; when some are
    /// bad, the group is admitted again with them refused (later events may have relied
    /// on a refused one) and the rest checked in batches again, until none is bad. Each
    /// round refuses one event at least, so it ends.
    fn admit_group(&mut self, batch: &mut Vec<Job>, verdicts: &mut Verdicts) -> Draft {
        let now = Utc::now().trunc_subsecs(3);
        let frontier_before = self.frontier.clone();
        let checkpoint_before = self.last_checkpoint;
        let mut bad = HashMap::new();
        let (group, outcomes, layer) = loop {
            match self.try_admit_group(batch, now, &bad, verdicts) {
                Ok(admitted) => break admitted,
                Err(found) => {
                    self.frontier = frontier_before.clone();
                    self.last_checkpoint = checkpoint_before;
                    bad.extend(found);
                }
            }
        };
        if let Some(rates) = &mut self.rates {
            let now_millis = now.timestamp_millis();
            for (party, n) in self.charges.drain() {
                rates.take(&party, n, now_millis);
            }
            self.groups_since_sweep += 1;
            if self.groups_since_sweep >= SWEEP_EVERY_GROUPS {
                rates.forget_full(now_millis);
                self.groups_since_sweep = 0;
            }
        }
        let first_sequence = self.next;
        self.next += group.group().events.len() as u64;
        if !layer.is_empty() {
            self.cache.borrow_mut().forget(&layer);
            self.layers.push(Arc::new(layer));
            self.layer_ends.push(self.next);
        }
        let replies = batch
            .drain(..)
            .zip(outcomes)
            .filter_map(|(job, outcome)| match (job, outcome) {
                (Job::Submit { reply, .. }, Some(outcome)) => Some((reply, outcome)),
                _ => None,
            })
            .collect();
        Draft {
            first_sequence,
            group,
            replies,
        }
    }

    /// One attempt at a group: events in `bad` are refused with their refusal; the
    /// others' signatures are checked in batches. Fails with the events whose signatures
    /// are bad.
    #[allow(clippy::type_complexity)]
    fn try_admit_group(
        &mut self,
        batch: &[Job],
        now: DateTime<Utc>,
        bad: &HashMap<usize, Refusal>,
        verdicts: &mut Verdicts,
    ) -> Result<
        (PreparedGroup, Vec<Option<Result<Receipt, Refusal>>>, Layer),
        HashMap<usize, Refusal>,
    > {
        let mut view = PendingView::over(self.store, &self.layers, &self.cache, now);
        let mut group = CommitGroup::default();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut deferred: Vec<(usize, [u8; 32])> = Vec::new();
        let mut awaiting: Vec<(usize, [u8; 32])> = Vec::new();
        let mut checkpoint_asked = false;
        let now_millis = now.timestamp_millis();
        self.charges.clear();
        for (i, job) in batch.iter().enumerate() {
            let (event, checking) = match job {
                Job::Submit {
                    event, checking, ..
                } => (event, checking),
                Job::Checkpoint => {
                    checkpoint_asked = true;
                    outcomes.push(None);
                    continue;
                }
                Job::Tick => {
                    outcomes.push(None);
                    continue;
                }
            };
            if let Some(refusal) = bad.get(&i) {
                outcomes.push(Some(Err(refusal.clone())));
                continue;
            }
            if let Some(refusal) = over_rate(&self.rates, &self.charges, &view, event, now_millis) {
                outcomes.push(Some(Err(refusal)));
                continue;
            }
            let sequence = self.next + group.events.len() as u64;
            let admitted = admit_deferring_signature(&view, event, sequence, now);
            let outcome = match admitted {
                Ok((admission, key)) => {
                    match (key, checking) {
                        (Some(key), Some(checking)) if *checking == key => awaiting.push((i, key)),
                        (Some(key), _) => deferred.push((i, key)),
                        (None, _) => {}
                    }
                    match admission {
                        Admission::New(changes) => {
                            let body = event.body();
                            let hash = event.hash();
                            if self.rates.is_some() {
                                *self.charges.entry(body.signer.clone()).or_default() += 1;
                            }
                            view.add(
                                hash,
                                ViewedEvent {
                                    sequence,
                                    signature: *event.signature(),
                                    body: body.clone(),
                                },
                                changes.new_lot.as_ref(),
                                changes.party.as_ref(),
                            );
                            let leaf = leaf_hash(&hash, event.signature(), now.timestamp_millis());
                            group.tree_nodes.extend(self.frontier.append(leaf));
                            group.events.push(NewEvent::of(
                                event,
                                sequence,
                                now,
                                |link| view.sequence_of(link),
                                |lot| view.lot_created_at(lot),
                            ));
                            group.lots.extend(changes.new_lot);
                            group.parties.extend(changes.party);
                            Ok(Receipt {
                                sequence,
                                hash,
                                recorded_at: now,
                                duplicate: false,
                            })
                        }
                        Admission::Duplicate { sequence } => {
                            original_receipt(self.store, &view, event, sequence)
                        }
                    }
                }
                Err(refusal) => Err(refusal),
            };
            outcomes.push(Some(outcome));
        }

        let found = bad_signatures(batch, &deferred, &mut self.signature_keys.borrow_mut());
        if !found.is_empty() {
            return Err(found);
        }

        let grown = self
            .last_checkpoint
            .is_none_or(|(size, _)| self.frontier.size() > size);
        let due = self
            .last_checkpoint
            .is_none_or(|(_, at)| at.elapsed() >= self.checkpoint_interval);
        if grown && self.frontier.size() > 0 && (checkpoint_asked || due) {
            let checkpoint = StoredCheckpoint {
                tree_size: self.frontier.size(),
                note: self.log.sign(self.frontier.size(), self.frontier.root()),
            };
            self.last_checkpoint = Some((checkpoint.tree_size, Instant::now()));
            group.checkpoint = Some(checkpoint);
        }
        // The group's writes are encoded while the verifier may still be checking (the
        // commit path is then only the write), and dropped if a verdict is bad.
        let prepared = self.store.prepare(group);

        verdicts.wait();
        let mut found = HashMap::new();
        let mut unchecked = Vec::new();
        for (i, key) in awaiting {
            match verdicts.of(i) {
                Some(true) => {}
                Some(false) => {
                    found.insert(i, bad_signature(submitted(batch, i)));
                }
                None => unchecked.push((i, key)),
            }
        }
        found.extend(bad_signatures(
            batch,
            &unchecked,
            &mut self.signature_keys.borrow_mut(),
        ));
        if !found.is_empty() {
            return Err(found);
        }
        Ok((prepared, outcomes, view.into_layer()))
    }
}

/// Parties, and lots, the writer keeps decoded (a few hundred bytes each).
const STORE_CACHE_ENTRIES: usize = 16_384;

/// How often a lingering verifier looks at the queue again.
const LINGER_POLL: Duration = Duration::from_micros(250);

/// Moves queued jobs into `batch` until it holds `max_group`; false once the queue is
/// closed (the node is stopping: nothing more will come, so nothing is worth waiting for).
fn take_queued(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, max_group: usize) -> bool {
    while batch.len() < max_group {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

/// Submissions in a batch (the rest are a checkpoint's ticks and requests).
fn events_in(batch: &[Job]) -> usize {
    batch
        .iter()
        .filter(|job| matches!(job, Job::Submit { .. }))
        .count()
}

/// The share of its time the verifier spent checking and handing on batches rather than
/// waiting for a first event, over about the last twenty batches (an exponential
/// average; time spent lingering counts as neither, so lingering does not switch itself
/// off).
#[derive(Default)]
struct BusyShare(f64);

impl BusyShare {
    fn share(&self) -> f64 {
        self.0
    }

    fn record(&mut self, admitting: Duration, idle: Duration) {
        let total = (admitting + idle).as_secs_f64();
        if total > 0.0 {
            self.0 += (admitting.as_secs_f64() / total - self.0) / 20.0;
        }
    }
}

/// Signers' keys each signature-checking thread keeps decompressed (about 200 bytes
/// each): a district's parties many times over.
const KEY_CACHE_ENTRIES: usize = 16_384;

/// Groups between sweeps of the full rate buckets.
const SWEEP_EVERY_GROUPS: u32 = 1024;

/// The refusal of `event` when its signer has no token left for it (counting the events
/// of its already admitted in this group); the authority is never limited.
fn over_rate(
    rates: &Option<PartyBuckets>,
    charges: &HashMap<PartyId, u32>,
    view: &PendingView<'_>,
    event: &SignedEvent,
    now_millis: i64,
) -> Option<Refusal> {
    let rates = rates.as_ref()?;
    let signer = &event.body().signer;
    let needed = charges.get(signer).copied().unwrap_or(0) + 1;
    if rates.available(signer, now_millis) >= f64::from(needed) {
        return None;
    }
    if view.authority().ok().flatten().as_ref() == Some(signer) {
        return None;
    }
    let rate = rates.rate();
    Some(Refusal::new(
        RefusalCode::ResourceExhausted,
        "body.signer_party_id",
        format!(
            "party {signer} is over its submission rate of {} events a second (bursts of {}); send it again in {} ms",
            rate.per_second,
            rate.burst,
            rates.wait_millis(signer, needed, now_millis)
        ),
    ))
}

/// Signatures in a batch worth a second thread: below this, one core checks them all.
const PARALLEL_CHECKS: usize = 64;

/// Checks the deferred signatures of a group (job index, key) in batches, half on this
/// thread and half on another, each with its cache of decompressed keys; when a batch
/// fails, finds its bad ones one by one.
fn bad_signatures(
    batch: &[Job],
    deferred: &[(usize, [u8; 32])],
    keys: &mut [KeyCache; 2],
) -> HashMap<usize, Refusal> {
    let checks = signature_checks(batch, deferred);
    let halves = if checks.len() >= PARALLEL_CHECKS {
        checks.split_at(checks.len() / 2)
    } else {
        (&checks[..], &[][..])
    };
    let [first_keys, second_keys] = keys;
    let (first_ok, second_ok) = std::thread::scope(|scope| {
        let second = (!halves.1.is_empty())
            .then(|| scope.spawn(move || verify_batch_with(halves.1, second_keys)));
        let first_ok = verify_batch_with(halves.0, first_keys);
        let second_ok = second.is_none_or(|h| h.join().unwrap_or(false));
        (first_ok, second_ok)
    });
    let mut bad = HashMap::new();
    for (half, ok, offset) in [
        (halves.0, first_ok, 0),
        (halves.1, second_ok, halves.0.len()),
    ] {
        if ok {
            continue;
        }
        for (j, check) in half.iter().enumerate() {
            if !check.verify() {
                let i = deferred[offset + j].0;
                bad.insert(i, bad_signature(submitted(batch, i)));
            }
        }
    }
    bad
}

/// The checks of the signatures of `batch`'s submissions at the given (job index, key).
fn signature_checks<'a>(
    batch: &'a [Job],
    keyed: &'a [(usize, [u8; 32])],
) -> Vec<SignatureCheck<'a>> {
    keyed
        .iter()
        .map(|(i, key)| {
            let event = submitted(batch, *i);
            SignatureCheck {
                key,
                body: event.body_bytes(),
                signature: event.signature(),
            }
        })
        .collect()
}

/// The event of the submission at `i` (a job with a signature to check).
fn submitted(batch: &[Job], i: usize) -> &SignedEvent {
    match &batch[i] {
        Job::Submit { event, .. } => event,
        Job::Checkpoint | Job::Tick => unreachable!("only submissions have signatures"),
    }
}

/// The refusal of an event whose signature does not verify under its signer's key.
fn bad_signature(event: &SignedEvent) -> Refusal {
    let body = event.body();
    Refusal::new(
        RefusalCode::Unauthenticated,
        "signature",
        format!(
            "does not verify under key {} of party {}",
            body.key_id, body.signer
        ),
    )
}

impl Committer<'_> {
    fn handle(&mut self, job: ToCommit) {
        let draft = match job {
            ToCommit::Group(draft) => draft,
            ToCommit::Barrier(done) => {
                self.failed_from = None;
                let _ = done.send(());
                return;
            }
        };
        let Draft {
            first_sequence,
            mut group,
            replies,
        } = draft;
        if self.failed_from.is_none() {
            let committed = if group.group().is_empty() {
                Ok(())
            } else {
                self.store.commit_prepared(&mut group)
            };
            match committed {
                Ok(()) => {
                    if let Some(checkpoint) = group.into_group().checkpoint {
                        self.published.send_replace(Some(checkpoint));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, n_events = group.group().events.len(), "commit failed; the group and the ones after it are refused");
                    self.failed_from = Some((first_sequence, error.to_string()));
                    self.broken.store(true, Ordering::SeqCst);
                }
            }
        }
        for (reply, outcome) in replies {
            let outcome = match (&self.failed_from, outcome) {
                (Some((from, error)), Ok(receipt)) if receipt.sequence >= *from => {
                    Err(Refusal::new(
                        RefusalCode::Unavailable,
                        "",
                        format!("the ledger could not store the event: {error}"),
                    ))
                }
                (_, outcome) => outcome,
            };
            let _ = reply.send(outcome);
        }
    }
}

/// The receipt of an event already in the ledger (or admitted, not yet written).
fn original_receipt(
    store: &dyn LedgerStore,
    view: &PendingView<'_>,
    event: &SignedEvent,
    sequence: u64,
) -> Result<Receipt, Refusal> {
    let recorded_at = match view.pending_recorded_at(&event.hash()) {
        Some(recorded_at) => recorded_at,
        None => store
            .event(sequence)
            .map_err(|e| Refusal::new(RefusalCode::Unavailable, "", format!("ledger store: {e}")))?
            .map(|stored| stored.recorded_at)
            .ok_or_else(|| {
                Refusal::new(
                    RefusalCode::Unavailable,
                    "",
                    format!("event {sequence} is missing"),
                )
            })?,
    };
    Ok(Receipt {
        sequence,
        hash: event.hash(),
        recorded_at,
        duplicate: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_placed_by_each_batch_offset_in_the_group() {
        let mut verdicts = Verdicts::default();
        for (offset, batch) in [(0, vec![(0, true), (2, false)]), (3, vec![(1, false)])] {
            let (send, coming) = std::sync::mpsc::sync_channel(1);
            send.send(batch).unwrap();
            verdicts.coming.push((offset, coming));
        }
        verdicts.wait();
        assert_eq!(verdicts.of(0), Some(true));
        assert_eq!(verdicts.of(2), Some(false));
        assert_eq!(verdicts.of(4), Some(false));
        assert_eq!(verdicts.of(1), None, "not checked by the verifier");
        assert_eq!(verdicts.of(3), None, "not checked by the verifier");
    }

    #[test]
    fn a_batch_whose_verdicts_never_come_has_none() {
        let mut verdicts = Verdicts::default();
        let (send, coming) = std::sync::mpsc::sync_channel::<Vec<(usize, bool)>>(1);
        drop(send);
        verdicts.coming.push((0, coming));
        verdicts.wait();
        // The admitter then checks those signatures itself (`try_admit_group`).
        assert_eq!(verdicts.of(0), None);
    }
}
