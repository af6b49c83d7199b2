//! Running the query API apart from the node, over its data directory.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger_rocksdb::RocksStore;

/// Catches the secondary up with its primary every `interval`, on a thread of its own,
/// for as long as the store has other owners.
pub fn spawn_catch_up(store: Arc<RocksStore>, interval: Duration) -> std::thread::JoinHandle<()> {
    let weak = Arc::downgrade(&store);
    drop(store);
    std::thread::Builder::new()
        .name("catch-up".into())
        .spawn(move || {
            while let Some(store) = weak.upgrade() {
                if let Err(error) = store.catch_up() {
                    tracing::warn!(%error, "catching up with the node failed; retrying");
                }
                drop(store);
                std::thread::sleep(interval);
            }
        })
        .expect("spawn the catch-up thread")
}

/// The log's verifier key the node left in its data directory, if it did.
pub fn read_verifier_key(data_dir: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(data_dir.join("log-verifier-key")) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
