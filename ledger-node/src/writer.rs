//! The single writer: admits events in arrival order and commits them in groups.
//!
//! Submissions wait in a bounded queue (the backpressure: a full queue makes callers
//! wait, and a stream's flow control pushes back to the client). One dedicated thread
//! takes whatever has queued up, at most [`WriterConfig::max_group`] events, admits each
//! against the store plus the events already admitted in the group, writes the group as
//! one synced batch and only then answers every submitter. RocksDB is never touched
//! from async code, and one fsync serves a whole group.

use std::sync::Arc;
use std::thread::JoinHandle;

use chrono::{DateTime, SubsecRound, Utc};
use ledger_core::admission::{Admission, ViewedEvent, admit};
use ledger_core::ids::EventHash;
use ledger_core::{Refusal, RefusalCode, SignedEvent};
use ledger_store::{CommitGroup, EventIndex, LedgerStore, NewEvent, StoredEvent};
use tokio::sync::{mpsc, oneshot};

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
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_capacity: 4096,
            max_group: 1024,
        }
    }
}

struct Job {
    event: SignedEvent,
    reply: oneshot::Sender<Result<Receipt, Refusal>>,
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

/// A handle to the ledger: submit events, read the store. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    queue: mpsc::Sender<Job>,
    store: Arc<dyn LedgerStore>,
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

impl Ledger {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<dyn LedgerStore>, config: WriterConfig) -> Ledger {
        let (queue, jobs) = mpsc::channel(config.queue_capacity.max(1));
        let thread_store = store.clone();
        let max_group = config.max_group.max(1);
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || run_writer(&*thread_store, jobs, max_group))
            .expect("spawn the ledger writer thread");
        Ledger {
            queue,
            store,
            _writer: Arc::new(WriterThread(Some(handle))),
        }
    }

    /// The store, for reads.
    pub fn store(&self) -> &Arc<dyn LedgerStore> {
        &self.store
    }

    /// Queues an event, waiting while the queue is full. Events queued by one caller are
    /// admitted in the order queued.
    pub async fn enqueue(&self, event: SignedEvent) -> Result<PendingReceipt, Refusal> {
        let (reply, receipt) = oneshot::channel();
        self.queue
            .send(Job { event, reply })
            .await
            .map_err(|_| stopped())?;
        Ok(PendingReceipt(receipt))
    }

    /// Submits an event and waits until it is durable (or refused).
    pub async fn submit(&self, event: SignedEvent) -> Result<Receipt, Refusal> {
        self.enqueue(event).await?.wait().await
    }
}

fn run_writer(store: &dyn LedgerStore, mut jobs: mpsc::Receiver<Job>, max_group: usize) {
    let mut batch = Vec::with_capacity(max_group);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < max_group {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_group(store, &mut batch);
    }
    tracing::debug!("ledger writer stopped: no more submitters");
}

fn commit_group(store: &dyn LedgerStore, batch: &mut Vec<Job>) {
    let now = Utc::now().trunc_subsecs(3);
    let next = match store.next_sequence() {
        Ok(next) => next,
        Err(error) => {
            let refusal = Refusal::new(
                RefusalCode::Unavailable,
                "",
                format!("ledger store: {error}"),
            );
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(refusal.clone()));
            }
            return;
        }
    };
    let mut view = PendingView::new(store);
    let mut group = CommitGroup::default();
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch.iter() {
        let sequence = next + group.events.len() as u64;
        let outcome = match admit(&view, &job.event, sequence, now) {
            Ok(Admission::New(changes)) => {
                let body = job.event.body();
                let hash = job.event.hash();
                view.add(
                    hash,
                    ViewedEvent {
                        sequence,
                        signature: *job.event.signature(),
                        body: body.clone(),
                    },
                    changes.new_lot.as_ref(),
                    changes.party.as_ref(),
                );
                group.events.push(NewEvent {
                    event: StoredEvent {
                        sequence,
                        hash,
                        recorded_at: now,
                        body: job.event.body_bytes().to_vec(),
                        signature: *job.event.signature(),
                    },
                    index: EventIndex {
                        lots: body.lot_ids().into_iter().cloned().collect(),
                        parties: body.party_ids().into_iter().cloned().collect(),
                        occurred_at_millis: body.occurred_at.timestamp_millis(),
                        links: body.kind.links(),
                    },
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
                original_receipt(store, &view, &job.event, sequence, now)
            }
            Err(refusal) => Err(refusal),
        };
        outcomes.push(outcome);
    }
    let committed = if group.events.is_empty() {
        Ok(())
    } else {
        store.commit(&group)
    };
    if let Err(error) = &committed {
        tracing::error!(%error, n_events = group.events.len(), "commit failed; the group is refused");
    }
    for (job, outcome) in batch.drain(..).zip(outcomes) {
        let outcome = match (&committed, outcome) {
            (Err(error), Ok(receipt)) if receipt.sequence >= next => Err(Refusal::new(
                RefusalCode::Unavailable,
                "",
                format!("the ledger could not store the event: {error}"),
            )),
            (_, outcome) => outcome,
        };
        let _ = job.reply.send(outcome);
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
