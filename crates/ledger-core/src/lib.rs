//! The pure domain core of foodtrace.
//!
//! It holds the records ([`model`]: parties, lots and the events about them), the byte
//! contract ([`contract`]: exactly which bytes are hashed and signed), identifiers with
//! their check characters ([`ids`]), the derived registry and lot state ([`state`]) and
//! the admission rules ([`admission`]) that decide whether a signed event may join the
//! ledger.
//!
//! It deliberately does no I/O and reads no clock: bytes, keys and timestamps come in,
//! values or typed errors go out. It knows nothing of protobuf (the `ledger-proto` crate
//! turns wire messages into these types) nor of storage (`ledger-store` does).

pub mod admission;
pub mod checkpoint;
pub mod contract;
pub mod digital_link;
pub mod ids;
pub mod keyfile;
pub mod merkle;
pub mod model;
pub mod proof;
pub mod rate;
pub mod signature;
pub mod state;
pub mod trace;

pub use admission::{Admission, LedgerView, LookupError, Refusal, RefusalCode, SignedEvent, admit};
pub use ids::{EventHash, InvalidValue, KeyId, LotId, PartyId};
