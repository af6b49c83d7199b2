//! Proof bundles: one event, a signed checkpoint and the proofs that tie them together,
//! as a JSON file that can be checked offline with nothing but the pinned log key.
//!
//! ```json
//! {
//!   "format": "foodtrace-proof-bundle-v1",
//!   "event": {"sequence": 12, "body": "<hex>", "signature": "<hex>", "recorded_at": "2026-11-28T08:00:00.123Z"},
//!   "checkpoint": "<signed note>",
//!   "inclusion": ["<hex>", ...],
//!   "since": {"checkpoint": "<older signed note>", "consistency": ["<hex>", ...]}
//! }
//! ```

use crate::ServerArgs;
use std::fmt::Write as _;

use anyhow::{Context, bail};
use ledger_core::checkpoint::LogVerifier;
use ledger_core::merkle::TreeHash;
use ledger_core::proof::{EventLeaf, verify_checkpoints_consistent, verify_event_in_checkpoint};
use ledger_proto::pb;
use ledger_proto::pb::log_client::LogClient;
use serde::{Deserialize, Serialize};

use crate::hex_field;

const FORMAT: &str = "foodtrace-proof-bundle-v1";

/// A proof bundle (see the module documentation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProofBundle {
    /// Always `foodtrace-proof-bundle-v1`.
    pub format: String,
    /// The event.
    pub event: BundledEvent,
    /// The signed checkpoint the inclusion proof is against.
    pub checkpoint: String,
    /// The inclusion proof, from the leaf up, in hex.
    pub inclusion: Vec<String>,
    /// An older checkpoint and the proof that the newer one extends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<SinceCheckpoint>,
}

/// The event of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundledEvent {
    /// Its sequence number.
    pub sequence: u64,
    /// Its body bytes, hex.
    pub body: String,
    /// Its signature, hex.
    pub signature: String,
    /// When the node recorded it, RFC 3339.
    pub recorded_at: String,
}

/// An older checkpoint and its consistency proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinceCheckpoint {
    /// The older signed checkpoint.
    pub checkpoint: String,
    /// The consistency proof, hex.
    pub consistency: Vec<String>,
}

fn tree_hashes(name: &str, hashes: &[String]) -> anyhow::Result<Vec<TreeHash>> {
    hashes
        .iter()
        .enumerate()
        .map(|(i, h)| hex_field::<32>(&format!("{name}[{i}]"), h).map(TreeHash))
        .collect()
}

impl ProofBundle {
    /// Checks everything in the bundle against `verifier`; returns a summary to print.
    pub fn verify(&self, verifier: &LogVerifier) -> anyhow::Result<String> {
        if self.format != FORMAT {
            bail!("unknown bundle format '{}'", self.format);
        }
        let body = hex::decode(&self.event.body).context("event.body is not hex")?;
        let signature = hex_field::<64>("event.signature", &self.event.signature)?;
        let recorded_at = chrono::DateTime::parse_from_rfc3339(&self.event.recorded_at)
            .context("event.recorded_at is not an RFC 3339 time")?;
        let leaf = EventLeaf {
            sequence: self.event.sequence,
            body: &body,
            signature: &signature,
            recorded_at_millis: recorded_at.timestamp_millis(),
        };
        let inclusion = tree_hashes("inclusion", &self.inclusion)?;
        let checkpoint = verify_event_in_checkpoint(verifier, &self.checkpoint, &leaf, &inclusion)?;
        // The event's own signature, by the key its body names, is checked by the
        // ledger's admission and by the audit; here the body is decoded to show it.
        let decoded = ledger_proto::decode_signed_event(pb::SignedEvent {
            body: body.clone(),
            signature: signature.to_vec(),
        })
        .map_err(|refusal| anyhow::anyhow!("event body: {refusal}"))?;
        let mut summary = String::new();
        writeln!(
            summary,
            "verified: event {} ({} by {} at {}), hash {}",
            self.event.sequence,
            decoded.body().kind.name(),
            decoded.body().signer,
            decoded.body().occurred_at.to_rfc3339(),
            decoded.hash()
        )?;
        writeln!(
            summary,
            "  is in the log {} of {} events, root {}, signed by {}",
            checkpoint.origin,
            checkpoint.size,
            checkpoint.root,
            verifier.origin()
        )?;
        if let Some(since) = &self.since {
            let consistency = tree_hashes("since.consistency", &since.consistency)?;
            let (older, newer) = verify_checkpoints_consistent(
                verifier,
                &since.checkpoint,
                &self.checkpoint,
                &consistency,
            )?;
            writeln!(
                summary,
                "  and that log extends the earlier checkpoint of {} events (root {}): nothing before it was changed",
                older.size, older.root
            )?;
            debug_assert_eq!(newer.size, checkpoint.size);
        }
        Ok(summary)
    }
}

async fn connect(server: &ServerArgs) -> anyhow::Result<LogClient<tonic::transport::Channel>> {
    Ok(LogClient::new(server.connect().await?))
}

/// The log's identity.
pub(crate) async fn log_info(server: &ServerArgs) -> anyhow::Result<pb::LogInfo> {
    Ok(connect(server)
        .await?
        .get_log_info(pb::GetLogInfoRequest {})
        .await?
        .into_inner())
}

/// The latest signed checkpoint note.
pub(crate) async fn latest_checkpoint(server: &ServerArgs) -> anyhow::Result<String> {
    let checkpoint = connect(server)
        .await?
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: None,
            fresh: true,
        })
        .await?
        .into_inner();
    Ok(checkpoint.note)
}

/// Fetches a bundle for one event, against the latest checkpoint.
pub(crate) async fn fetch(
    server: &ServerArgs,
    event_hash: Option<&str>,
    sequence: Option<u64>,
    since: Option<String>,
) -> anyhow::Result<ProofBundle> {
    use pb::get_inclusion_proof_request::Leaf;
    let mut client = connect(server).await?;
    let leaf = match (event_hash, sequence) {
        (Some(hash), _) => Leaf::EventHash(hex_field::<32>("--event", hash)?.to_vec()),
        (None, Some(sequence)) => Leaf::Sequence(sequence),
        (None, None) => bail!("name the event with --event or --sequence"),
    };
    let proof = client
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            leaf: Some(leaf),
            tree_size: 0,
        })
        .await?
        .into_inner();
    let checkpoint = proof
        .checkpoint
        .context("the node sent no checkpoint with the proof")?;
    let recorded = proof
        .event
        .context("the node sent no event with the proof")?;
    let signed = recorded.event.context("the node sent no signed event")?;
    let since = match since {
        None => None,
        Some(older) => {
            let older_size =
                ledger_core::checkpoint::parse_body(older.split("\n\n").next().unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!("--since: {e}"))?
                    .size;
            let consistency = client
                .get_consistency_proof(pb::GetConsistencyProofRequest {
                    old_size: older_size,
                    new_size: checkpoint.tree_size,
                })
                .await?
                .into_inner();
            Some(SinceCheckpoint {
                checkpoint: older,
                consistency: consistency.hashes.iter().map(hex::encode).collect(),
            })
        }
    };
    Ok(ProofBundle {
        format: FORMAT.into(),
        event: BundledEvent {
            sequence: recorded.sequence,
            body: hex::encode(&signed.body),
            signature: hex::encode(&signed.signature),
            recorded_at: recorded.recorded_at,
        },
        checkpoint: checkpoint.note,
        inclusion: proof.hashes.iter().map(hex::encode).collect(),
        since,
    })
}
