//! The foodtrace query API over HTTP.
//!
//! [`router`] builds the axum application over a read-only view of the ledger store; the
//! node serves it in the same process. This crate is the only one that knows the API's
//! JSON shapes. It answers health, ledger status and the verifiable log: the log's key,
//! signed checkpoints, inclusion proofs (as proof bundles `foodtrace verify` checks
//! offline) and consistency proofs. Errors are RFC 9457 problem documents naming the
//! parameter at fault. The lot, trace and party routes build on it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ledger_core::ids::EventHash;
use ledger_core::merkle::{consistency_proof, inclusion_proof};
use ledger_store::{LedgerStore, StoreError, StoreTree};
use serde::Serialize;

pub mod auth;
pub mod backup;
pub mod connections;
pub mod facts;
mod inspect;
pub mod limit;
mod openapi;
pub mod public;
pub mod standalone;
pub mod tls;
pub mod trace_json;
pub mod views;

use auth::Inspectors;
use facts::LedgerCache;
use limit::{PublicLimiter, RateLimit};

/// Lot facts the trace cache holds by default (about 60 MiB).
pub const DEFAULT_CACHED_FACTS: u64 = 250_000;

pub use openapi::document as openapi;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn LedgerStore>,
    cache: Arc<LedgerCache>,
    inspectors: Arc<Inspectors>,
    verifier_key: Option<Arc<str>>,
    public_limiter: Option<Arc<PublicLimiter>>,
    pages: Arc<public::PageCache>,
    backups: Option<Arc<backup::BackupTarget>>,
    request_timeout: std::time::Duration,
}

/// How long an answer may take before the client gets a 503 instead (see
/// [`AppState::with_request_timeout`]).
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl AppState {
    /// State over `store`, with no inspector yet (every inspector route answers 401).
    pub fn new(store: Arc<dyn LedgerStore>) -> AppState {
        AppState {
            cache: Arc::new(LedgerCache::new(store.clone(), DEFAULT_CACHED_FACTS)),
            store,
            inspectors: Arc::new(Inspectors::fixed(Vec::new())),
            verifier_key: None,
            public_limiter: None,
            pages: Arc::new(public::PageCache::new(public::DEFAULT_CACHED_PAGES)),
            backups: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Answers 503, a problem document saying so, to a request not answered within
    /// `timeout` (work handed to a blocking thread still runs to its end; the client no
    /// longer waits for it).
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> AppState {
        self.request_timeout = timeout;
        self
    }

    /// Lets inspectors write backups of the ledger into `target` (`POST /v1/backups`).
    pub fn with_backups(mut self, target: backup::BackupTarget) -> AppState {
        self.backups = Some(Arc::new(target));
        self
    }

    /// Lets these inspectors in.
    pub fn with_inspectors(mut self, inspectors: Inspectors) -> AppState {
        self.inspectors = Arc::new(inspectors);
        self
    }

    /// Caches at most this many lot facts for traces.
    pub fn with_cached_facts(mut self, max_facts: u64) -> AppState {
        self.cache = Arc::new(LedgerCache::new(self.store.clone(), max_facts));
        self
    }

    /// Limits each client address on the anonymous routes (see [`limit`]); without
    /// this, they are not limited.
    pub fn with_public_rate_limit(mut self, limit: RateLimit) -> AppState {
        self.public_limiter = Some(Arc::new(PublicLimiter::new(limit)));
        self
    }

    /// Keeps at most this many lots' public pages built (0: build every page when it
    /// is asked for).
    pub fn with_cached_pages(mut self, max_pages: usize) -> AppState {
        self.pages = Arc::new(public::PageCache::new(max_pages));
        self
    }

    /// Also serve the log's verifier key.
    pub fn with_verifier_key(mut self, verifier_key: &str) -> AppState {
        self.verifier_key = Some(verifier_key.into());
        self
    }
}

/// The API's routes: the public ones (health, status, the verifiable log) and the
/// inspector routes (lots, traces, parties, events), which need a bearer token.
pub fn router(state: AppState) -> Router {
    let inspector = Router::new()
        .route("/v1/lots", get(inspect::lots))
        .route("/v1/events", get(inspect::events))
        .route("/v1/lots/{lot}", get(inspect::lot))
        .route("/v1/lots/{lot}/trace/{direction}", get(inspect::trace))
        .route("/v1/parties/{party}", get(inspect::party))
        .route("/v1/parties/{party}/events", get(inspect::party_events))
        .route("/v1/events/{sequence}", get(inspect::event))
        .route("/v1/backups", axum::routing::post(backup::create))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            inspect::require_inspector,
        ));
    let anonymous = Router::new()
        // The public lot page (what a QR code on a pack opens).
        .route("/01/{*rest}", get(public::digital_link))
        .route("/l/{lot}", get(public::short_link))
        .route("/static/page.css", get(public::stylesheet))
        .route("/static/icon.svg", get(public::icon))
        .route("/v1/status", get(status))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(openapi::document()) }),
        )
        .route("/v1/log", get(log_info))
        .route("/v1/checkpoint", get(checkpoint))
        .route("/v1/proofs/inclusion", get(inclusion))
        .route("/v1/proofs/consistency", get(consistency))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit::limit_anonymous,
        ));
    Router::new()
        .merge(inspector)
        .merge(anonymous)
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_limit,
        ))
        .with_state(state)
}

/// Cuts a request off after the state's request timeout with a 503 problem document.
async fn time_limit(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = state.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Took too long",
            detail: format!(
                "the answer took longer than this server's limit of {} ms: ask for less (a smaller page, a shallower trace) or try again later",
                limit.as_millis()
            ),
            parameter: None,
        }
        .into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests
/// finish. Each connection gets `TCP_NODELAY` (answers are written whole; Nagle's
/// algorithm would only hold their tails back) and its peer address (for [`limit`]);
/// connections past `connections` are closed as they come ([`connections`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    connections: connections::ConnectionLimit,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener =
        connections::LimitedListener::new(listener, connections::Connections::new(connections))
            .tap_io(|tcp| {
                let _ = tcp.get_ref().set_nodelay(true);
            });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `GET /v1/status`: the ledger's size and authority.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LedgerStatus {
    /// Events in the ledger.
    pub n_events: u64,
    /// The authority's party id, once the ledger is initialized.
    pub authority: Option<String>,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The status's name.
    title: &'static str,
    /// The HTTP status.
    status: u16,
    /// What is wrong, for a person.
    detail: String,
    /// The parameter at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'static str>,
}

/// An error as the API answers it.
struct ApiError {
    status: StatusCode,
    title: &'static str,
    detail: String,
    parameter: Option<&'static str>,
}

impl ApiError {
    fn bad(parameter: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request",
            detail: format!("{parameter}: {}", detail.into()),
            parameter: Some(parameter),
        }
    }

    fn too_many_requests(detail: String) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many requests",
            detail,
            parameter: None,
        }
    }

    fn not_found(parameter: Option<&'static str>, detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            detail: detail.into(),
            parameter,
        }
    }
}

impl From<std::convert::Infallible> for ApiError {
    fn from(never: std::convert::Infallible) -> ApiError {
        match never {}
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Ledger store unavailable",
            detail: error.to_string(),
            parameter: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            parameter: self.parameter,
        };
        let mut response = (self.status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Runs a blocking store read off the async runtime.
async fn read<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&dyn LedgerStore) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    inspect::blocking(state, move |state| read(&*state.store)).await
}

type Params = Query<HashMap<String, String>>;

fn number(params: &HashMap<String, String>, name: &'static str) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|text| {
            text.parse::<u64>()
                .map_err(|_| ApiError::bad(name, format!("'{text}' is not a whole number")))
        })
        .transpose()
}

fn refuse_unknown(params: &HashMap<String, String>, known: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request",
            detail: format!(
                "unknown parameter '{unknown}'; this route takes {}",
                known.join(", ")
            ),
            parameter: None,
        }),
        None => Ok(()),
    }
}

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "public",
    operation_id = "status",
    description = "The ledger's size and authority.",
    responses(
        (status = 200, description = "Status.", body = LedgerStatus),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn status(State(state): State<AppState>) -> Result<Json<LedgerStatus>, ApiError> {
    let (n_events, authority) = read(&state, |store| {
        Ok((store.next_sequence()?, store.authority()?))
    })
    .await?;
    Ok(Json(LedgerStatus {
        n_events,
        authority: authority.map(|p| p.to_string()),
    }))
}

/// `GET /v1/log`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LogInfo {
    origin: String,
    verifier_key: String,
    tree_size: u64,
}

#[utoipa::path(
    get,
    path = "/v1/log",
    tag = "public",
    operation_id = "log_info",
    description = "The verifiable log's origin, verifier key and size.",
    responses(
        (status = 200, description = "The log.", body = LogInfo),
        (status = 404, description = "This server does not know the log's key.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn log_info(State(state): State<AppState>) -> Result<Json<LogInfo>, ApiError> {
    let verifier_key = state
        .verifier_key
        .clone()
        .ok_or_else(|| ApiError::not_found(None, "this server does not know the log's key"))?;
    let tree_size = read(&state, |store| Ok(store.next_sequence()?)).await?;
    Ok(Json(LogInfo {
        origin: verifier_key
            .split('+')
            .next()
            .unwrap_or_default()
            .to_owned(),
        verifier_key: verifier_key.to_string(),
        tree_size,
    }))
}

/// `GET /v1/checkpoint[?tree_size=N]`: the latest signed checkpoint, or the first of at
/// least N events, as the signed note itself (`text/plain`).
#[utoipa::path(
    get,
    path = "/v1/checkpoint",
    tag = "public",
    operation_id = "checkpoint",
    description = "The latest signed checkpoint (a C2SP signed note), or the first covering at least `tree_size` events.",
    params(
        ("tree_size" = Option<u64>, Query, description = "The checkpoint must cover at least this many events.")
    ),
    responses(
        (status = 200, description = "The signed note.", body = String, content_type = "text/plain"),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No checkpoint covers that many events yet.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn checkpoint(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    refuse_unknown(&params, &["tree_size"])?;
    let tree_size = number(&params, "tree_size")?;
    let checkpoint = read(&state, move |store| {
        Ok(match tree_size {
            None => store.latest_checkpoint()?,
            Some(size) => store.checkpoint_at_least(size)?,
        })
    })
    .await?
    .ok_or_else(|| {
        ApiError::not_found(
            Some("tree_size"),
            "no signed checkpoint covers that many events yet",
        )
    })?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        checkpoint.note,
    )
        .into_response())
}

/// A proof bundle, the format `foodtrace verify` checks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ProofBundle {
    format: &'static str,
    event: BundledEvent,
    checkpoint: String,
    inclusion: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BundledEvent {
    sequence: u64,
    event_hash: String,
    body: String,
    signature: String,
    recorded_at: String,
}

/// `GET /v1/proofs/inclusion?event_hash=HEX` (or `sequence=N`)`[&tree_size=N]`: the
/// event, a signed checkpoint of exactly `tree_size` events (default: the latest) and
/// the inclusion proof, as a proof bundle.
#[utoipa::path(
    get,
    path = "/v1/proofs/inclusion",
    tag = "public",
    operation_id = "inclusion_proof",
    description = "A proof bundle: the event, a signed checkpoint and the inclusion proof, which `foodtrace verify` checks offline. Give exactly one of `event_hash` and `sequence`.",
    params(
        ("event_hash" = Option<String>, Query, description = "The event hash, 64 hex digits."),
        ("sequence" = Option<u64>, Query, description = "The event sequence number."),
        ("tree_size" = Option<u64>, Query, description = "Prove against the checkpoint of exactly this size (default: the latest).")
    ),
    responses(
        (status = 200, description = "The bundle.", body = ProofBundle),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event, or no such checkpoint.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn inclusion(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<ProofBundle>, ApiError> {
    refuse_unknown(&params, &["event_hash", "sequence", "tree_size"])?;
    let hash = params
        .get("event_hash")
        .map(|text| EventHash::from_hex(text).map_err(|e| ApiError::bad("event_hash", e.0)))
        .transpose()?;
    let sequence = number(&params, "sequence")?;
    let tree_size = number(&params, "tree_size")?;
    if hash.is_some() == sequence.is_some() {
        return Err(ApiError::bad(
            "event_hash",
            "give exactly one of event_hash and sequence",
        ));
    }
    let bundle = read(&state, move |store| {
        let sequence = match (hash, sequence) {
            (Some(hash), _) => store.sequence_of(&hash)?.ok_or_else(|| {
                ApiError::not_found(Some("event_hash"), format!("no event {hash}"))
            })?,
            (None, Some(sequence)) => sequence,
            (None, None) => unreachable!("checked above"),
        };
        let checkpoint = match tree_size {
            None => store.latest_checkpoint()?,
            Some(size) => store
                .checkpoint_at_least(size)?
                .filter(|c| c.tree_size == size),
        }
        .ok_or_else(|| {
            ApiError::not_found(Some("tree_size"), "no signed checkpoint of that size")
        })?;
        if sequence >= checkpoint.tree_size {
            return Err(ApiError::not_found(
                Some("sequence"),
                format!(
                    "event {sequence} is not covered by the checkpoint of {} events",
                    checkpoint.tree_size
                ),
            ));
        }
        let event = store
            .event(sequence)?
            .ok_or_else(|| ApiError::not_found(Some("sequence"), format!("no event {sequence}")))?;
        let proof = inclusion_proof(&StoreTree(store), sequence, checkpoint.tree_size).map_err(
            |e| match e {
                ledger_core::merkle::ProofError::Read(error) => ApiError::from(error),
                other => ApiError::bad("sequence", other.to_string()),
            },
        )?;
        Ok(ProofBundle {
            format: "foodtrace-proof-bundle-v1",
            event: BundledEvent {
                sequence,
                event_hash: event.hash.to_string(),
                body: hex::encode(&event.body),
                signature: hex::encode(event.signature),
                recorded_at: event
                    .recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            },
            checkpoint: checkpoint.note,
            inclusion: proof.iter().map(|h| h.to_string()).collect(),
        })
    })
    .await?;
    Ok(Json(bundle))
}

/// `GET /v1/proofs/consistency?old_size=M&new_size=N`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ConsistencyProof {
    old_size: u64,
    new_size: u64,
    hashes: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/v1/proofs/consistency",
    tag = "public",
    operation_id = "consistency_proof",
    description = "The proof that the log of `old_size` events is a prefix of the log of `new_size` events.",
    params(
        ("old_size" = u64, Query, description = "The older tree size."),
        ("new_size" = u64, Query, description = "The newer tree size, at most the log's size.")
    ),
    responses(
        (status = 200, description = "The proof.", body = ConsistencyProof),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn consistency(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<ConsistencyProof>, ApiError> {
    refuse_unknown(&params, &["old_size", "new_size"])?;
    let old_size =
        number(&params, "old_size")?.ok_or_else(|| ApiError::bad("old_size", "is required"))?;
    let new_size =
        number(&params, "new_size")?.ok_or_else(|| ApiError::bad("new_size", "is required"))?;
    let hashes = read(&state, move |store| {
        let size = store.next_sequence()?;
        if new_size > size {
            return Err(ApiError::bad(
                "new_size",
                format!("{new_size} is more than the log's {size} events"),
            ));
        }
        if old_size > new_size {
            return Err(ApiError::bad(
                "old_size",
                format!("{old_size} is more than new_size {new_size}"),
            ));
        }
        consistency_proof(&StoreTree(store), old_size, new_size).map_err(|e| match e {
            ledger_core::merkle::ProofError::Read(error) => ApiError::from(error),
            other => ApiError::bad("old_size", other.to_string()),
        })
    })
    .await?;
    Ok(Json(ConsistencyProof {
        old_size,
        new_size,
        hashes: hashes.iter().map(|h| h.to_string()).collect(),
    }))
}
