//! The conformance suite on the in-memory store.

ledger_store::store_conformance_tests!(|| ((), Box::new(ledger_store::MemStore::new())));
