//! The single writer: admits events in arrival order, commits them in groups, grows the
//! Merkle tree and signs checkpoints.
//!
//! Submissions wait in a bounded queue (the backpressure: a full queue makes callers
//! wait, and a stream's flow control pushes back to the client). One dedicated thread
//! takes whatever has queued up, at most [`WriterConfig::max_group`] events, admits each
//! against the store plus the events already admitted in the group, appends their leaves
//! to the tree, and writes events, index entries, tree nodes and (when one is due) a
//! signed checkpoint as one synced batch; only then does it answer. RocksDB is never
//! touched from async code, and one fsync serves a whole group.
//!
//! A checkpoint is due when the tree has grown and [`WriterConfig::checkpoint_interval`]
//! has passed since the last one, or when one is asked for. A ticker thread wakes the
//! writer every interval so the last events of a burst are covered soon even when no
//! more arrive.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use ledger_core::admission::{Admission, ViewedEvent, admit};
use ledger_core::checkpoint::LogSigner;
use ledger_core::ids::EventHash;
use ledger_core::merkle::{Frontier, leaf_hash};
use ledger_core::{Refusal, RefusalCode, SignedEvent};
use ledger_store::{
    CommitGroup, EventIndex, LedgerStore, NewEvent, StoreError, StoreTree, StoredCheckpoint,
    StoredEvent,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::view::PendingView;

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
    /// Events committed at most in one group.
    pub max_group: usize,
    /// How often, at most, a checkpoint is signed while the tree grows.
    pub checkpoint_interval: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: 4096,
            max_group: 1024,
            checkpoint_interval: Duration::from_millis(250),
        }
    }
}

#[allow(clippy::large_enum_variant)] // nearly every job is a submission: boxing would cost an allocation each
enum Job {
    Submit {
        event: SignedEvent,
        reply: oneshot::Sender<Result<Receipt, Refusal>>,
    },
    /// Sign a checkpoint now if the tree has grown since the last one.
    Checkpoint,
    /// The ticker's wake-up: sign one if it is due.
    Tick,
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

struct Writer<'a> {
    store: &'a dyn LedgerStore,
    log: LogSigner,
    frontier: Frontier,
    last_checkpoint: Option<(u64, Instant)>,
    checkpoint_interval: Duration,
    published: watch::Sender<Option<StoredCheckpoint>>,
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
        let interval = config.checkpoint_interval.max(Duration::from_millis(1));
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || {
                let mut writer = Writer {
                    store: &*thread_store,
                    log,
                    frontier,
                    last_checkpoint: latest.map(|c| (c.tree_size, Instant::now())),
                    checkpoint_interval: interval,
                    published,
                };
                writer.run(jobs, max_group);
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
            .send(Job::Submit { event, reply })
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

impl Writer<'_> {
    fn run(&mut self, mut jobs: mpsc::Receiver<Job>, max_group: usize) {
        let mut batch = Vec::with_capacity(max_group);
        while let Some(first) = jobs.blocking_recv() {
            batch.push(first);
            while batch.len() < max_group {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.commit_group(&mut batch);
        }
        tracing::debug!("ledger writer stopped: no more submitters");
    }

    fn commit_group(&mut self, batch: &mut Vec<Job>) {
        let now = Utc::now().trunc_subsecs(3);
        let next = match self.store.next_sequence() {
            Ok(next) => next,
            Err(error) => {
                let refusal = Refusal::new(
                    RefusalCode::Unavailable,
                    "",
                    format!("ledger store: {error}"),
                );
                for job in batch.drain(..) {
                    if let Job::Submit { reply, .. } = job {
                        let _ = reply.send(Err(refusal.clone()));
                    }
                }
                return;
            }
        };
        let frontier_before = self.frontier.clone();
        let mut view = PendingView::new(self.store);
        let mut group = CommitGroup::default();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut checkpoint_asked = false;
        for job in batch.iter() {
            let event = match job {
                Job::Submit { event, .. } => event,
                Job::Checkpoint => {
                    checkpoint_asked = true;
                    continue;
                }
                Job::Tick => continue,
            };
            let sequence = next + group.events.len() as u64;
            let outcome = match admit(&view, event, sequence, now) {
                Ok(Admission::New(changes)) => {
                    let body = event.body();
                    let hash = event.hash();
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
                    group.events.push(NewEvent {
                        event: StoredEvent {
                            sequence,
                            hash,
                            recorded_at: now,
                            body: event.body_bytes().to_vec(),
                            signature: *event.signature(),
                        },
                        index: EventIndex::of(body, hash, sequence, |link| view.sequence_of(link)),
                    });
                    group.lots.extend(changes.new_lot);
                    group.parties.extend(changes.party);
                    Ok(Receipt {
                        sequence,
                        hash,
                        recorded_at: now,
                        duplicate: false,
                    })
                }
                Ok(Admission::Duplicate { sequence }) => {
                    original_receipt(self.store, &view, event, sequence, now)
                }
                Err(refusal) => Err(refusal),
            };
            outcomes.push(outcome);
        }

        let grown = self
            .last_checkpoint
            .is_none_or(|(size, _)| self.frontier.size() > size);
        let due = self
            .last_checkpoint
            .is_none_or(|(_, at)| at.elapsed() >= self.checkpoint_interval);
        if grown && self.frontier.size() > 0 && (checkpoint_asked || due) {
            group.checkpoint = Some(StoredCheckpoint {
                tree_size: self.frontier.size(),
                note: self.log.sign(self.frontier.size(), self.frontier.root()),
            });
        }

        let committed = if group.is_empty() {
            Ok(())
        } else {
            self.store.commit(&group)
        };
        match &committed {
            Ok(()) => {
                if let Some(checkpoint) = group.checkpoint.take() {
                    self.last_checkpoint = Some((checkpoint.tree_size, Instant::now()));
                    self.published.send_replace(Some(checkpoint));
                }
            }
            Err(error) => {
                tracing::error!(%error, n_events = group.events.len(), "commit failed; the group is refused");
                self.frontier = frontier_before;
            }
        }
        let replies = batch.drain(..).filter_map(|job| match job {
            Job::Submit { reply, .. } => Some(reply),
            Job::Checkpoint | Job::Tick => None,
        });
        for (reply, outcome) in replies.zip(outcomes) {
            let outcome = match (&committed, outcome) {
                (Err(error), Ok(receipt)) if receipt.sequence >= next => Err(Refusal::new(
                    RefusalCode::Unavailable,
                    "",
                    format!("the ledger could not store the event: {error}"),
                )),
                (_, outcome) => outcome,
            };
            let _ = reply.send(outcome);
        }
    }
}

/// The receipt of an event already in the ledger (or earlier in this very group).
fn original_receipt(
    store: &dyn LedgerStore,
    view: &PendingView<'_>,
    event: &SignedEvent,
    sequence: u64,
    now: DateTime<Utc>,
) -> Result<Receipt, Refusal> {
    let recorded_at = if view.pending_event(&event.hash()).is_some() {
        now
    } else {
        store
            .event(sequence)
            .map_err(|e| Refusal::new(RefusalCode::Unavailable, "", format!("ledger store: {e}")))?
            .map(|stored| stored.recorded_at)
            .ok_or_else(|| {
                Refusal::new(
                    RefusalCode::Unavailable,
                    "",
                    format!("event {sequence} is missing"),
                )
            })?
    };
    Ok(Receipt {
        sequence,
        hash: event.hash(),
        recorded_at,
        duplicate: true,
    })
}
