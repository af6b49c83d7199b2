//! The foodtrace ledger node: gRPC ingest over a RocksDB ledger.
