//! End-to-end tests: real node, real RocksDB, real gRPC and HTTP on loopback.
