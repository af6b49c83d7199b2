//! The foodtrace query API over HTTP.
//!
//! [`router`] builds the axum application over a read-only view of the ledger store;
//! the node serves it in the same process. This crate is the only one that knows the
//! API's JSON shapes. Today it answers health and ledger status; the lot, trace and
//! party routes (with inspector authentication) and the public pages build on it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ledger_store::LedgerStore;
use serde::Serialize;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: Arc<dyn LedgerStore>,
}

impl AppState {
    /// State over `store`.
    pub fn new(store: Arc<dyn LedgerStore>) -> AppState {
        AppState { store }
    }
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/v1/status", get(status))
        .with_state(state)
}

/// `GET /v1/status`: the ledger's size and authority.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct LedgerStatus {
    /// Events in the ledger.
    pub n_events: u64,
    /// The authority's party id, once the ledger is initialized.
    pub authority: Option<String>,
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
}

struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: "about:blank",
            title: self.1,
            status: self.0.as_u16(),
            detail: self.2,
        };
        let mut response = (self.0, Json(problem)).into_response();
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

async fn status(State(state): State<AppState>) -> Result<Json<LedgerStatus>, ApiError> {
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        Ok::<_, ledger_store::StoreError>((store.next_sequence()?, store.authority()?))
    })
    .await
    .map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            e.to_string(),
        )
    })?
    .map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "Ledger store unavailable",
            e.to_string(),
        )
    })?;
    Ok(Json(LedgerStatus {
        n_events: read.0,
        authority: read.1.map(|p| p.to_string()),
    }))
}
