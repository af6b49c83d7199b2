//! The `foodtrace.v1.Log` service: the log's identity, signed checkpoints, inclusion and
//! consistency proofs. Everything it serves is checkable against the verifier key alone.

use ledger_core::ids::EventHash;
use ledger_core::merkle::{ProofError, TreeHash, consistency_proof, inclusion_proof};
use ledger_proto::pb::{self, log_server};
use ledger_proto::{decode_signed_event, refusal_status};
use ledger_store::{LedgerStore, StoreError, StoreTree, StoredCheckpoint};
use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::grpc::{read_store, receipt_message, recorded_event};
use crate::writer::Ledger;

/// The `foodtrace.v1.Log` service.
#[derive(Clone)]
pub struct LogService {
    ledger: Ledger,
}

impl LogService {
    /// Serves `ledger`'s log.
    pub fn new(ledger: Ledger) -> LogService {
        LogService { ledger }
    }
}

fn checkpoint_message(checkpoint: StoredCheckpoint) -> pb::Checkpoint {
    pb::Checkpoint {
        tree_size: checkpoint.tree_size,
        note: checkpoint.note,
    }
}

fn hashes(proof: Vec<TreeHash>) -> Vec<Vec<u8>> {
    proof.into_iter().map(|h| h.0.to_vec()).collect()
}

/// Why a proof could not be served.
enum ProofFailure {
    Status(Status),
    Store(StoreError),
}

impl From<StoreError> for ProofFailure {
    fn from(error: StoreError) -> Self {
        ProofFailure::Store(error)
    }
}

impl From<ProofError<StoreError>> for ProofFailure {
    fn from(error: ProofError<StoreError>) -> Self {
        match error {
            ProofError::Read(error) => ProofFailure::Store(error),
            other => ProofFailure::Status(Status::invalid_argument(other.to_string())),
        }
    }
}

/// The inclusion proof of event `sequence` in the tree of `tree_size` leaves, with the
/// event and the checkpoint of exactly that size when there is one. Blocking.
pub fn build_inclusion_proof(
    store: &dyn LedgerStore,
    sequence: u64,
    tree_size: u64,
) -> Result<pb::InclusionProof, StoreError> {
    let event = store.event(sequence)?.ok_or_else(|| {
        StoreError::new(
            ledger_store::StoreErrorKind::Corruption,
            format!("event {sequence} is missing"),
        )
    })?;
    let proof = inclusion_proof(&StoreTree(store), sequence, tree_size).map_err(|e| match e {
        ProofError::Read(error) => error,
        other => StoreError::new(ledger_store::StoreErrorKind::Conflict, other.to_string()),
    })?;
    let checkpoint = store
        .checkpoint_at_least(tree_size)?
        .filter(|c| c.tree_size == tree_size);
    let leaf = ledger_core::merkle::leaf_hash(
        &event.hash,
        &event.signature,
        event.recorded_at.timestamp_millis(),
    );
    Ok(pb::InclusionProof {
        sequence,
        tree_size,
        leaf_hash: leaf.0.to_vec(),
        hashes: hashes(proof),
        checkpoint: checkpoint.map(checkpoint_message),
        event: Some(recorded_event(event)),
    })
}

/// Events read per store round trip when following.
const FOLLOW_CHUNK: u64 = 512;

/// The items of the log from `start` to `end` (exclusive): each event, and after event
/// `s - 1` the stored checkpoint of exactly `s` events, if any. Blocking.
fn follow_items(
    store: &dyn LedgerStore,
    start: u64,
    end: u64,
) -> Result<Vec<pb::FollowItem>, StoreError> {
    use pb::follow_item::Item;
    let mut checkpoints = Vec::new();
    let mut size = start + 1;
    while let Some(checkpoint) = store.checkpoint_at_least(size)? {
        if checkpoint.tree_size > end {
            break;
        }
        size = checkpoint.tree_size + 1;
        checkpoints.push(checkpoint);
    }
    let mut checkpoints = checkpoints.into_iter().peekable();
    let mut items = Vec::with_capacity((end - start) as usize + 1);
    for sequence in start..end {
        let event = store.event(sequence)?.ok_or_else(|| {
            StoreError::new(
                ledger_store::StoreErrorKind::Corruption,
                format!("event {sequence} is missing"),
            )
        })?;
        items.push(pb::FollowItem {
            item: Some(Item::Event(recorded_event(event))),
        });
        if let Some(checkpoint) = checkpoints.next_if(|c| c.tree_size == sequence + 1) {
            items.push(pb::FollowItem {
                item: Some(Item::Checkpoint(checkpoint_message(checkpoint))),
            });
        }
    }
    Ok(items)
}

#[tonic::async_trait]
impl log_server::Log for LogService {
    type FollowStream =
        Pin<Box<dyn Stream<Item = Result<pb::FollowItem, Status>> + Send + 'static>>;

    async fn follow(
        &self,
        request: Request<pb::FollowRequest>,
    ) -> Result<Response<Self::FollowStream>, Status> {
        let pb::FollowRequest {
            from_sequence,
            until_caught_up,
        } = request.into_inner();
        let (items, items_rx) = mpsc::channel(FOLLOW_CHUNK as usize);
        let ledger = self.ledger.clone();
        tokio::spawn(async move {
            let mut checkpoints = ledger.subscribe_checkpoints();
            let mut next = from_sequence;
            loop {
                let covered = checkpoints
                    .borrow_and_update()
                    .as_ref()
                    .map_or(0, |c| c.tree_size);
                while next < covered {
                    let end = covered.min(next + FOLLOW_CHUNK);
                    let start = next;
                    let chunk = match read_store(ledger.store(), move |store| {
                        follow_items(store, start, end)
                    })
                    .await
                    {
                        Ok(chunk) => chunk,
                        Err(status) => {
                            let _ = items.send(Err(status)).await;
                            return;
                        }
                    };
                    for item in chunk {
                        if items.send(Ok(item)).await.is_err() {
                            return; // the follower went away
                        }
                    }
                    next = end;
                }
                if until_caught_up || checkpoints.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(items_rx))))
    }

    async fn get_log_info(
        &self,
        _: Request<pb::GetLogInfoRequest>,
    ) -> Result<Response<pb::LogInfo>, Status> {
        let tree_size = read_store(self.ledger.store(), |store| store.next_sequence()).await?;
        let verifier_key = self.ledger.verifier_key().to_owned();
        let origin = verifier_key
            .split('+')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Response::new(pb::LogInfo {
            origin,
            verifier_key,
            tree_size,
        }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        let request = request.into_inner();
        if request.fresh {
            let size = read_store(self.ledger.store(), |store| store.next_sequence()).await?;
            let checkpoint = self
                .ledger
                .wait_for_checkpoint(size.max(1))
                .await
                .map_err(|r| refusal_status(&r))?;
            return Ok(Response::new(checkpoint_message(checkpoint)));
        }
        let checkpoint = match request.tree_size {
            None => self.ledger.latest_checkpoint(),
            Some(size) => {
                read_store(self.ledger.store(), move |store| {
                    store.checkpoint_at_least(size)
                })
                .await?
            }
        };
        checkpoint
            .map(|c| Response::new(checkpoint_message(c)))
            .ok_or_else(|| {
                Status::not_found("tree_size: no signed checkpoint covers that many events yet")
            })
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        use pb::get_inclusion_proof_request::Leaf;
        let request = request.into_inner();
        let leaf = request
            .leaf
            .ok_or_else(|| Status::invalid_argument("leaf: set event_hash or sequence"))?;
        let hash = match &leaf {
            Leaf::EventHash(bytes) => Some(
                EventHash::from_slice(bytes)
                    .map_err(|e| Status::invalid_argument(format!("event_hash: {e}")))?,
            ),
            Leaf::Sequence(_) => None,
        };
        let tree_size = match request.tree_size {
            0 => {
                self.ledger
                    .latest_checkpoint()
                    .ok_or_else(|| {
                        Status::failed_precondition("tree_size: no signed checkpoint yet")
                    })?
                    .tree_size
            }
            size => size,
        };
        let proof = read_store(self.ledger.store(), move |store| {
            let sequence = match (leaf, hash) {
                (_, Some(hash)) => match store.sequence_of(&hash)? {
                    Some(sequence) => sequence,
                    None => return Ok(Err(Status::not_found(format!("event_hash: no event {hash}")))),
                },
                (Leaf::Sequence(sequence), None) => sequence,
                (Leaf::EventHash(_), None) => unreachable!("hash parsed above"),
            };
            let size = store.next_sequence()?;
            if sequence >= size {
                return Ok(Err(Status::not_found(format!("sequence: no event {sequence}"))));
            }
            if tree_size > size || sequence >= tree_size {
                return Ok(Err(Status::invalid_argument(format!(
                    "tree_size: {tree_size} must cover event {sequence} and be at most the log's size {size}"
                ))));
            }
            build_inclusion_proof(store, sequence, tree_size).map(Ok)
        })
        .await??;
        Ok(Response::new(proof))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let pb::GetConsistencyProofRequest { old_size, new_size } = request.into_inner();
        let proof = read_store(self.ledger.store(), move |store| {
            let size = store.next_sequence()?;
            if old_size > new_size || new_size > size {
                return Ok(Err(ProofFailure::Status(Status::invalid_argument(format!(
                    "new_size: need old_size <= new_size <= {size} (the log's size), got {old_size} and {new_size}"
                )))));
            }
            Ok(consistency_proof(&StoreTree(store), old_size, new_size).map_err(ProofFailure::from))
        })
        .await?
        .map_err(|failure| match failure {
            ProofFailure::Status(status) => status,
            ProofFailure::Store(error) => Status::unavailable(format!("ledger store: {error}")),
        })?;
        Ok(Response::new(pb::ConsistencyProof {
            old_size,
            new_size,
            hashes: hashes(proof),
        }))
    }

    async fn submit_and_prove(
        &self,
        request: Request<pb::SignedEvent>,
    ) -> Result<Response<pb::ProvenReceipt>, Status> {
        let event = decode_signed_event(request.into_inner()).map_err(|r| refusal_status(&r))?;
        let receipt = self
            .ledger
            .submit(event)
            .await
            .map_err(|r| refusal_status(&r))?;
        let checkpoint = self
            .ledger
            .wait_for_checkpoint(receipt.sequence + 1)
            .await
            .map_err(|r| refusal_status(&r))?;
        let sequence = receipt.sequence;
        let proof = read_store(self.ledger.store(), move |store| {
            build_inclusion_proof(store, sequence, checkpoint.tree_size)
        })
        .await?;
        Ok(Response::new(pb::ProvenReceipt {
            receipt: Some(receipt_message(&receipt)),
            proof: Some(proof),
        }))
    }
}
