//! The gRPC services: convert at the edge, hand over to the [`Ledger`], map refusals once.

use std::pin::Pin;
use std::sync::Arc;

use chrono::SecondsFormat;
use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::state::PartyRecord;
use ledger_core::{Refusal, RefusalCode};
use ledger_proto::pb::{self, ledger_server, registry_server};
use ledger_proto::{decode_signed_event, refusal_message, refusal_status};
use ledger_store::{LedgerStore, StoreError, StoredEvent};
use tokio::sync::{mpsc, watch};
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status, Streaming};

use crate::writer::{Ledger, PendingReceipt, Receipt};

/// Events of one stream waiting for their receipts at most; past this the stream stops
/// reading from the client, and HTTP/2 flow control pushes back.
const STREAM_IN_FLIGHT: usize = 1024;
/// Largest page of a lot's events.
const MAX_PAGE: u32 = 1000;

pub(crate) fn receipt_message(receipt: &Receipt) -> pb::Receipt {
    pb::Receipt {
        sequence: receipt.sequence,
        event_hash: receipt.hash.as_bytes().to_vec(),
        recorded_at: receipt
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        duplicate: receipt.duplicate,
    }
}

fn store_status(error: StoreError) -> Status {
    tracing::error!(%error, "store read failed");
    Status::unavailable(format!("ledger store: {error}"))
}

fn invalid(field: &str, message: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {message}"))
}

pub(crate) fn recorded_event(event: StoredEvent) -> pb::RecordedEvent {
    pb::RecordedEvent {
        sequence: event.sequence,
        event_hash: event.hash.as_bytes().to_vec(),
        recorded_at: event
            .recorded_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        event: Some(pb::SignedEvent {
            body: event.body,
            signature: event.signature.to_vec(),
        }),
    }
}

/// Runs a blocking store read off the async runtime.
pub(crate) async fn read_store<T: Send + 'static>(
    store: &Arc<dyn LedgerStore>,
    read: impl FnOnce(&dyn LedgerStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || read(&*store))
        .await
        .map_err(|e| Status::internal(format!("read task failed: {e}")))?
        .map_err(store_status)
}

/// The `foodtrace.v1.Ledger` service.
#[derive(Clone)]
pub struct LedgerService {
    ledger: Ledger,
    stopping: watch::Receiver<bool>,
}

impl LedgerService {
    /// Serves `ledger`; its streams are never told to stop.
    pub fn new(ledger: Ledger) -> LedgerService {
        LedgerService::draining_on(ledger, watch::channel(false).1)
    }

    /// Serves `ledger`; once `stopping` turns true, every open stream stops taking
    /// events, answers each one it took (once it is durable or refused) and ends with
    /// `UNAVAILABLE`, so that a graceful shutdown can finish.
    pub fn draining_on(ledger: Ledger, stopping: watch::Receiver<bool>) -> LedgerService {
        LedgerService { ledger, stopping }
    }
}

/// Resolves once `stopping` is true; never, if its sender is gone without saying so.
async fn stop_requested(stopping: &mut watch::Receiver<bool>) {
    if stopping.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// How a stream ends when the node shuts down under it.
fn shutting_down() -> Status {
    Status::unavailable(
        "the node is shutting down: every event it took has been answered; send the rest again later",
    )
}

async fn submit_checked(
    ledger: &Ledger,
    event: pb::SignedEvent,
    expected_kind: Option<&str>,
) -> Result<Receipt, Refusal> {
    let event = decode_signed_event(event)?;
    if let Some(expected) = expected_kind {
        let actual = event.body().kind.field_name();
        if actual != expected {
            return Err(Refusal::new(
                RefusalCode::InvalidArgument,
                "body.kind",
                format!("this call takes a {expected} event, got {actual}"),
            ));
        }
    }
    ledger.submit(event).await
}

enum StreamSlot {
    Ready(pb::SubmitResult),
    Waiting(u64, PendingReceipt),
    /// The node is shutting down: end the stream with this, after every earlier answer.
    End(Status),
}

fn stream_result(index: u64, outcome: Result<Receipt, Refusal>) -> pb::SubmitResult {
    pb::SubmitResult {
        index,
        outcome: Some(match outcome {
            Ok(receipt) => pb::submit_result::Outcome::Receipt(receipt_message(&receipt)),
            Err(refusal) => pb::submit_result::Outcome::Refusal(refusal_message(&refusal)),
        }),
    }
}

#[tonic::async_trait]
impl ledger_server::Ledger for LedgerService {
    async fn submit(
        &self,
        request: Request<pb::SignedEvent>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let receipt = submit_checked(&self.ledger, request.into_inner(), None)
            .await
            .map_err(|r| refusal_status(&r))?;
        Ok(Response::new(receipt_message(&receipt)))
    }

    type SubmitStreamStream =
        Pin<Box<dyn Stream<Item = Result<pb::SubmitResult, Status>> + Send + 'static>>;

    async fn submit_stream(
        &self,
        request: Request<Streaming<pb::SignedEvent>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let mut inbound = request.into_inner();
        let (slots, mut slots_rx) = mpsc::channel::<StreamSlot>(STREAM_IN_FLIGHT);
        let (results, results_rx) = mpsc::channel::<Result<pb::SubmitResult, Status>>(64);
        let ledger = self.ledger.clone();
        let mut stopping = self.stopping.clone();

        // Reader: decode each event and queue it in order; a malformed one gets its refusal
        // in its place. Queueing in order keeps the stream's events admitted in order.
        // When the node shuts down it stops reading and queues the stream's end.
        let reader_results = results.clone();
        tokio::spawn(async move {
            let mut index = 0u64;
            loop {
                let next = tokio::select! {
                    biased;
                    () = stop_requested(&mut stopping) => {
                        let _ = slots.send(StreamSlot::End(shutting_down())).await;
                        break;
                    }
                    next = inbound.next() => next,
                };
                let message = match next {
                    None => break,
                    Some(Ok(message)) => message,
                    Some(Err(status)) => {
                        let _ = reader_results.send(Err(status)).await;
                        break;
                    }
                };
                let slot = match decode_signed_event(message) {
                    Err(refusal) => StreamSlot::Ready(stream_result(index, Err(refusal))),
                    Ok(event) => match ledger.enqueue(event).await {
                        Ok(pending) => StreamSlot::Waiting(index, pending),
                        Err(refusal) => StreamSlot::Ready(stream_result(index, Err(refusal))),
                    },
                };
                if slots.send(slot).await.is_err() {
                    break;
                }
                index += 1;
            }
        });

        // Answerer: wait for each receipt in order and send it on.
        tokio::spawn(async move {
            while let Some(slot) = slots_rx.recv().await {
                let result = match slot {
                    StreamSlot::Ready(result) => result,
                    StreamSlot::Waiting(index, pending) => {
                        stream_result(index, pending.wait().await)
                    }
                    StreamSlot::End(status) => {
                        let _ = results.send(Err(status)).await;
                        break;
                    }
                };
                if results.send(Ok(result)).await.is_err() {
                    break;
                }
            }
        });

        Ok(Response::new(Box::pin(ReceiverStream::new(results_rx))))
    }

    async fn get_event(
        &self,
        request: Request<pb::GetEventRequest>,
    ) -> Result<Response<pb::RecordedEvent>, Status> {
        use pb::get_event_request::Key;
        let key = request
            .into_inner()
            .key
            .ok_or_else(|| invalid("key", "set event_hash or sequence"))?;
        let (event, what) = match key {
            Key::EventHash(bytes) => {
                let hash = EventHash::from_slice(&bytes).map_err(|e| invalid("event_hash", e))?;
                let event = read_store(self.ledger.store(), move |store| {
                    match store.sequence_of(&hash)? {
                        Some(sequence) => store.event(sequence),
                        None => Ok(None),
                    }
                })
                .await?;
                (event, format!("no event with hash {hash}"))
            }
            Key::Sequence(sequence) => {
                let event =
                    read_store(self.ledger.store(), move |store| store.event(sequence)).await?;
                (event, format!("no event at sequence {sequence}"))
            }
        };
        event
            .map(|e| Response::new(recorded_event(e)))
            .ok_or_else(|| Status::not_found(what))
    }

    async fn list_lot_events(
        &self,
        request: Request<pb::ListLotEventsRequest>,
    ) -> Result<Response<pb::EventPage>, Status> {
        let request = request.into_inner();
        let lot_id = LotId::parse(&request.lot_id).map_err(|e| invalid("lot_id", e))?;
        if request.limit > MAX_PAGE {
            return Err(invalid(
                "limit",
                format!("{} is more than {MAX_PAGE}", request.limit),
            ));
        }
        let limit = if request.limit == 0 {
            100
        } else {
            request.limit as usize
        };
        let after = request.after_sequence;
        let (events, more) = read_store(self.ledger.store(), move |store| {
            if store.lot(&lot_id)?.is_none() {
                return Ok(None);
            }
            let mut sequences = store.lot_events(&lot_id, after, limit + 1)?;
            let more = sequences.len() > limit;
            sequences.truncate(limit);
            let mut events = Vec::with_capacity(sequences.len());
            for sequence in sequences {
                events.extend(store.event(sequence)?);
            }
            Ok(Some((events, more)))
        })
        .await?
        .ok_or_else(|| Status::not_found(format!("lot_id: no lot {}", request.lot_id)))?;
        let next_after_sequence = if more {
            events.last().map(|e| e.sequence)
        } else {
            None
        };
        Ok(Response::new(pb::EventPage {
            events: events.into_iter().map(recorded_event).collect(),
            next_after_sequence,
        }))
    }
}

/// The `foodtrace.v1.Registry` service.
#[derive(Clone)]
pub struct RegistryService {
    ledger: Ledger,
}

impl RegistryService {
    /// Serves `ledger`'s registry.
    pub fn new(ledger: Ledger) -> RegistryService {
        RegistryService { ledger }
    }

    async fn submit_kind(
        &self,
        request: Request<pb::SignedEvent>,
        kind: &str,
    ) -> Result<Response<pb::Receipt>, Status> {
        let receipt = submit_checked(&self.ledger, request.into_inner(), Some(kind))
            .await
            .map_err(|r| refusal_status(&r))?;
        Ok(Response::new(receipt_message(&receipt)))
    }
}

/// The public wire form of a registry entry: everything but the contact.
pub fn party_message(party: &PartyRecord) -> pb::Party {
    pb::Party {
        party_id: party.party_id.to_string(),
        name: party.name.to_string(),
        role: ledger_proto::role_to_wire(party.role) as i32,
        region: party.region.as_str().to_owned(),
        // Anyone may read a party's registry entry; its contact is for inspectors only
        // and is served by the authenticated query API, not here.
        contact: String::new(),
        status: ledger_proto::status_to_wire(party.status) as i32,
        keys: party
            .keys
            .iter()
            .map(|key| pb::PartyKey {
                key_id: key.key_id.to_string(),
                public_key: key.public_key.to_vec(),
                valid_from: ledger_proto::time_to_wire(&key.valid_from),
                valid_until: key
                    .valid_until
                    .as_ref()
                    .map(ledger_proto::time_to_wire)
                    .unwrap_or_default(),
                revoked: key.revoked,
            })
            .collect(),
        registered_at_sequence: party.registered_at_sequence,
    }
}

#[tonic::async_trait]
impl registry_server::Registry for RegistryService {
    async fn register_party(
        &self,
        request: Request<pb::SignedEvent>,
    ) -> Result<Response<pb::Receipt>, Status> {
        self.submit_kind(request, "register_party").await
    }

    async fn add_key(
        &self,
        request: Request<pb::SignedEvent>,
    ) -> Result<Response<pb::Receipt>, Status> {
        self.submit_kind(request, "add_key").await
    }

    async fn revoke_key(
        &self,
        request: Request<pb::SignedEvent>,
    ) -> Result<Response<pb::Receipt>, Status> {
        self.submit_kind(request, "revoke_key").await
    }

    async fn set_party_status(
        &self,
        request: Request<pb::SignedEvent>,
    ) -> Result<Response<pb::Receipt>, Status> {
        self.submit_kind(request, "set_party_status").await
    }

    async fn get_party(
        &self,
        request: Request<pb::GetPartyRequest>,
    ) -> Result<Response<pb::Party>, Status> {
        let text = request.into_inner().party_id;
        let party_id = PartyId::parse(&text).map_err(|e| invalid("party_id", e))?;
        let party = read_store(self.ledger.store(), move |store| store.party(&party_id)).await?;
        party
            .map(|p| Response::new(party_message(&p)))
            .ok_or_else(|| Status::not_found(format!("party_id: party {text} is not registered")))
    }
}
