//! The inspector routes: lots, traces, parties, events. All behind a bearer token.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, NaiveDate};
use ledger_core::ids::{LotId, PartyId};
use ledger_core::model::Stage;
use ledger_core::trace::{FactKind, FactSource, TraceOptions, downstream, upstream};
use ledger_store::{LotFilter, PartyEventRef};

use crate::auth::AuthError;
use crate::trace_json::TraceJson;
use crate::views::{
    EventSummary, EventView, EventsPage, LotSummary, LotView, LotsPage, PartyEventsPage,
    PartySummary, PartyView, RecallView, TraceView,
};
use crate::{ApiError, AppState, Params, Problem, number, refuse_unknown};

/// Lets a request through only with a valid, unrevoked inspector token.
pub(crate) async fn require_inspector(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.inspectors.check(authorization) {
        Ok(_) => next.run(request).await,
        Err(error) => {
            let (status, title, detail) = match error {
                AuthError::Missing(why) => {
                    (StatusCode::UNAUTHORIZED, "Unauthorized", why.to_owned())
                }
                AuthError::Unknown => (
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "this inspector token is not recognised".to_owned(),
                ),
                AuthError::Revoked(name) => (
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    format!("the token of inspector '{name}' has been revoked"),
                ),
            };
            let mut response = ApiError {
                status,
                title,
                detail,
                parameter: None,
            }
            .into_response();
            if status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"foodtrace inspectors\""),
                );
            }
            response
        }
    }
}

/// Runs blocking reads (store, cache) off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state))
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal error",
            detail: e.to_string(),
            parameter: None,
        })?
}

fn lot_param(text: &str) -> Result<LotId, ApiError> {
    LotId::parse(text).map_err(|e| ApiError::bad("lot", e.0))
}

fn party_param(text: &str, parameter: &'static str) -> Result<PartyId, ApiError> {
    PartyId::parse(text).map_err(|e| ApiError::bad(parameter, e.0))
}

/// A time parameter: RFC 3339, or a date `YYYY-MM-DD` meaning its start in Beijing time.
fn time_param(
    params: &HashMap<String, String>,
    name: &'static str,
) -> Result<Option<i64>, ApiError> {
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(time.timestamp_millis()));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::bad(
            name,
            format!("'{text}' is neither an RFC 3339 time nor a date YYYY-MM-DD"),
        )
    })?;
    let beijing = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    let start = date
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(beijing).single())
        .ok_or_else(|| ApiError::bad(name, format!("'{text}' is out of range")))?;
    Ok(Some(start.timestamp_millis()))
}

fn stages_param(params: &HashMap<String, String>) -> Result<Option<Vec<Stage>>, ApiError> {
    let Some(text) = params.get("stage") else {
        return Ok(None);
    };
    text.split(',')
        .map(|name| match name.trim() {
            "market_entry" => Ok(Stage::MarketEntry),
            "warehouse" => Ok(Stage::Warehouse),
            "retail" => Ok(Stage::Retail),
            "canteen" => Ok(Stage::Canteen),
            other => Err(ApiError::bad(
                "stage",
                format!("'{other}' is not a stage: use market_entry, warehouse, retail or canteen"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The sequence number a read covers: the caller's `as_of` capped to what exists.
fn as_of(params: &HashMap<String, String>, n_events: u64) -> Result<Option<u64>, ApiError> {
    let asked = number(params, "as_of")?;
    Ok(match (asked, n_events) {
        (_, 0) => None,
        (Some(asked), n) => Some(asked.min(n - 1)),
        (None, n) => Some(n - 1),
    })
}

fn unknown_lot(lot_id: &LotId) -> ApiError {
    ApiError::not_found(Some("lot"), format!("no lot '{lot_id}' in the ledger"))
}

fn summary(state: &AppState, party_id: &PartyId) -> Result<PartySummary, ApiError> {
    let record = state.cache.party(party_id)?;
    Ok(PartySummary::of(party_id, record.as_deref()))
}

/// `GET /v1/lots/{lot}/trace/{direction}`.
#[utoipa::path(
    get,
    path = "/v1/lots/{lot}/trace/{direction}",
    tag = "inspectors",
    operation_id = "trace",
    description = "A recall trace. Downstream (`down`): every lot made from this one, transitively, and every party that received, shipped, processed, tested or recalled any of them; parties with `affected` are the recall list, each with how it was first reached. Upstream (`up`): the custody chain of the lot's creation back to every origin, with the creation, tests and recalls of every lot on the way. Filters choose what is reported, never what is followed.",
    security(("inspector_token" = [])),
    params(
        ("lot" = String, Path, description = "The lot: a local code, or the GS1 form 01/GTIN/10/LOT with its slashes percent-encoded."),
        ("direction" = String, Path, description = "`down` (where it went) or `up` (where it came from)."),
        ("max_depth" = Option<u32>, Query, description = "Follow at most this many transform steps."),
        ("as_of" = Option<u64>, Query, description = "What the ledger knew as of this event sequence number (inclusive)."),
        ("from" = Option<String>, Query, description = "Only from this time on: RFC 3339, or a date YYYY-MM-DD meaning its start in Beijing time."),
        ("until" = Option<String>, Query, description = "Only before this time (same forms as `from`)."),
        ("stage" = Option<String>, Query, description = "Report only receipts at these stages: comma-separated market_entry, warehouse, retail, canteen."),
        ("holder" = Option<String>, Query, description = "Upstream only: also trace this party's receipts of the lot (its own custody chain).")
    ),
    responses(
        (status = 200, description = "The trace.", body = TraceView),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No inspector token, or one nobody holds.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The inspector token was revoked.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lot (as of `as_of`), or no such direction.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn trace(
    State(state): State<AppState>,
    Path((lot, direction)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    refuse_unknown(
        &params,
        &["max_depth", "as_of", "from", "until", "stage", "holder"],
    )?;
    let lot_id = lot_param(&lot)?;
    let downstream_wanted = match direction.as_str() {
        "down" => true,
        "up" => false,
        other => {
            return Err(ApiError::not_found(
                Some("direction"),
                format!("no trace direction '{other}': use up or down"),
            ));
        }
    };
    let max_depth = number(&params, "max_depth")?
        .map(|d| u32::try_from(d).map_err(|_| ApiError::bad("max_depth", "is too large")))
        .transpose()?;
    let mut options = TraceOptions {
        max_depth,
        as_of: None,
        from_millis: time_param(&params, "from")?,
        until_millis: time_param(&params, "until")?,
        stages: stages_param(&params)?,
        holder: params
            .get("holder")
            .map(|h| party_param(h, "holder"))
            .transpose()?,
    };
    if options.holder.is_some() && downstream_wanted {
        return Err(ApiError::bad(
            "holder",
            "only an upstream trace starts from a holder",
        ));
    }
    // A trace of hot lots needs no I/O: answer it here; otherwise off the runtime.
    let view = match answer_trace(
        &state,
        &lot_id,
        &mut options,
        &params,
        downstream_wanted,
        true,
    ) {
        Ok(Some(answer)) => answer,
        Ok(None) => {
            blocking(&state, move |state| {
                answer_trace(
                    state,
                    &lot_id,
                    &mut options,
                    &params,
                    downstream_wanted,
                    false,
                )
                .and_then(|answer| {
                    // A read through the store always answers; never panic if not.
                    answer.ok_or_else(|| ApiError {
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        title: "Internal error",
                        detail: "the trace could not be read".into(),
                        parameter: None,
                    })
                })
            })
            .await?
        }
        Err(error) => return Err(error),
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        view,
    )
        .into_response())
}

/// Computes a trace and writes it as JSON. With `cached_only`, reads nothing from the
/// store: `Ok(None)` if that would be needed (a lot or party not cached, new events to
/// catch up with).
fn answer_trace(
    state: &AppState,
    lot_id: &ledger_core::ids::LotId,
    options: &mut TraceOptions,
    params: &HashMap<String, String>,
    downstream_wanted: bool,
    cached_only: bool,
) -> Result<Option<Vec<u8>>, ApiError> {
    let n_events = if cached_only {
        match state.cache.caught_up() {
            Some(n) => n,
            None => return Ok(None),
        }
    } else {
        state.cache.catch_up()?
    };
    let Some(as_of) = as_of(params, n_events)? else {
        return Err(unknown_lot(lot_id));
    };
    options.as_of = Some(as_of);
    let source = CacheOnly {
        cache: &state.cache,
        cached_only,
    };
    let traced = if downstream_wanted {
        downstream(&source, lot_id, options)
    } else {
        upstream(&source, lot_id, options)
    };
    let trace = match traced {
        Ok(trace) => trace.ok_or_else(|| unknown_lot(lot_id))?,
        Err(Read::NotCached) => return Ok(None),
        Err(Read::Store(error)) => return Err(error.into()),
    };
    let mut parties = HashMap::new();
    for party in &trace.parties {
        let record = if cached_only {
            match state.cache.cached_party(&party.party_id) {
                Some(record) => record,
                None => return Ok(None),
            }
        } else {
            state.cache.party(&party.party_id)?
        };
        if let Some(record) = record {
            parties.insert(party.party_id.clone(), record);
        }
    }
    // Written straight from the trace: the same document as `TraceView::of`, with
    // each event's JSON copied from the cache when the cache holds it.
    let cached: HashMap<_, _> = trace
        .lots
        .iter()
        .filter_map(|lot| {
            let cached = state.cache.cached_lot(&lot.lot_id)?;
            Some((lot.lot_id.clone(), cached))
        })
        .collect();
    let json = TraceJson {
        trace: &trace,
        as_of,
        parties: &parties,
        cached: &cached,
    };
    serde_json::to_vec(&json).map(Some).map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        title: "Internal error",
        detail: e.to_string(),
        parameter: None,
    })
}

/// Why a cache-only read stopped.
enum Read {
    NotCached,
    Store(ledger_store::StoreError),
}

/// The cache as a fact source that may refuse to touch the store.
struct CacheOnly<'a> {
    cache: &'a crate::facts::LedgerCache,
    cached_only: bool,
}

impl FactSource for CacheOnly<'_> {
    type Error = Read;
    fn facts(
        &self,
        lot_id: &ledger_core::ids::LotId,
    ) -> Result<std::sync::Arc<[ledger_core::trace::LotFact]>, Read> {
        if self.cached_only {
            self.cache.cached_facts(lot_id).ok_or(Read::NotCached)
        } else {
            self.cache.facts(lot_id).map_err(Read::Store)
        }
    }
}

/// `GET /v1/lots/{lot}`: details, recall status (inherited too), tests, and a page of
/// its history.
#[utoipa::path(
    get,
    path = "/v1/lots/{lot}",
    tag = "inspectors",
    operation_id = "lot",
    description = "A lot: product, creator, recall status including recalls of any lot upstream of it, its test results, and one page of its history in ledger order with hash links.",
    security(("inspector_token" = [])),
    params(
        ("lot" = String, Path, description = "The lot: a local code, or the GS1 form 01/GTIN/10/LOT with its slashes percent-encoded."),
        ("as_of" = Option<u64>, Query, description = "What the ledger knew as of this event sequence number (inclusive)."),
        ("after" = Option<u64>, Query, description = "History after this event (`next_after` of the previous page)."),
        ("limit" = Option<u32>, Query, description = "History events per page (1 to 5000, default 500).")
    ),
    responses(
        (status = 200, description = "The lot.", body = LotView),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No inspector token, or one nobody holds.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The inspector token was revoked.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such lot.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn lot(
    State(state): State<AppState>,
    Path(lot): Path<String>,
    Query(params): Params,
) -> Result<Json<LotView>, ApiError> {
    refuse_unknown(&params, &["after", "limit", "as_of"])?;
    let lot_id = lot_param(&lot)?;
    let after = number(&params, "after")?;
    let limit = number(&params, "limit")?.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::bad("limit", "must be from 1 to 5000"));
    }
    let view = blocking(&state, move |state| {
        let n_events = state.cache.catch_up()?;
        let as_of = as_of(&params, n_events)?.ok_or_else(|| unknown_lot(&lot_id))?;
        let options = TraceOptions {
            as_of: Some(as_of),
            ..TraceOptions::default()
        };
        let trace =
            upstream(&*state.cache, &lot_id, &options)?.ok_or_else(|| unknown_lot(&lot_id))?;
        let facts = state.cache.facts(&lot_id)?;
        let known: Vec<_> = facts.iter().filter(|f| f.sequence <= as_of).collect();
        let created = known
            .iter()
            .find(|f| f.kind.creates_lot())
            .ok_or_else(|| unknown_lot(&lot_id))?;
        let (product_name, product_category, quantity) = match &created.kind {
            FactKind::Origin {
                product_name,
                product_category,
                quantity,
                ..
            }
            | FactKind::Produced {
                product_name,
                product_category,
                quantity,
                ..
            }
            | FactKind::Entered {
                product_name,
                product_category,
                quantity,
                ..
            } => (product_name, product_category, quantity),
            _ => return Err(unknown_lot(&lot_id)),
        };
        let mut recalls = Vec::new();
        for traced in &trace.lots {
            for event in &trace.events {
                if event.lot_id == traced.lot_id
                    && let FactKind::Recalled { reason, severity } = &event.fact.kind
                {
                    let view = EventView::of(event.lot_id.as_str(), &event.fact);
                    recalls.push(RecallView {
                        lot_id: traced.lot_id.to_string(),
                        sequence: event.fact.sequence,
                        occurred_at: view.occurred_at,
                        reason: reason.to_string(),
                        severity: view.severity.unwrap_or_else(|| format!("{severity:?}")),
                        inherited: traced.lot_id != lot_id,
                    });
                }
            }
        }
        recalls.sort_by_key(|r| r.sequence);
        let page: Vec<EventView> = known
            .iter()
            .filter(|f| after.is_none_or(|a| f.sequence > a))
            .take(limit as usize)
            .map(|f| EventView::of(lot_id.as_str(), f))
            .collect();
        let next_after = page
            .last()
            .filter(|last| known.last().is_some_and(|l| l.sequence > last.sequence))
            .map(|last| last.sequence);
        Ok(LotView {
            lot_id: lot_id.to_string(),
            product_name: product_name.to_string(),
            product_category: product_category.to_string(),
            quantity: quantity.to_string(),
            created_by: summary(state, &created.signer)?,
            recalled: !recalls.is_empty(),
            recalls,
            inspections: known
                .iter()
                .filter(|f| matches!(f.kind, FactKind::Inspected { .. }))
                .map(|f| EventView::of(lot_id.as_str(), f))
                .collect(),
            events: page,
            next_after,
            as_of,
        })
    })
    .await?;
    Ok(Json(view))
}

/// `GET /v1/parties/{party}`: profile, keys, status, contact.
#[utoipa::path(
    get,
    path = "/v1/parties/{party}",
    tag = "inspectors",
    operation_id = "party",
    description = "A party's registry entry: name, role, region, status, contact and every key.",
    security(("inspector_token" = [])),
    params(
        ("party" = String, Path, description = "Unified social credit code or licence number.")
    ),
    responses(
        (status = 200, description = "The party.", body = PartyView),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No inspector token, or one nobody holds.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The inspector token was revoked.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such party is registered.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn party(
    State(state): State<AppState>,
    Path(party): Path<String>,
    Query(params): Params,
) -> Result<Json<PartyView>, ApiError> {
    refuse_unknown(&params, &[])?;
    let party_id = party_param(&party, "party")?;
    let view = blocking(&state, move |state| {
        state.cache.catch_up()?;
        let record = state.cache.party(&party_id)?.ok_or_else(|| {
            ApiError::not_found(
                Some("party"),
                format!("no party '{party_id}' is registered"),
            )
        })?;
        Ok(PartyView::of(&record))
    })
    .await?;
    Ok(Json(view))
}

/// Paging parameters shared by the list routes: `from`, `until`, `cursor`, `limit`.
struct Paging {
    start: PartyEventRef,
    until_millis: i64,
    limit: usize,
}

impl Paging {
    fn of(params: &HashMap<String, String>) -> Result<Paging, ApiError> {
        let from_millis = time_param(params, "from")?.unwrap_or(i64::MIN);
        let until_millis = time_param(params, "until")?.unwrap_or(i64::MAX);
        let limit = number(params, "limit")?.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::bad("limit", "must be from 1 to 1000"));
        }
        let start = match params.get("cursor") {
            None => PartyEventRef {
                occurred_at_millis: from_millis,
                sequence: 0,
            },
            Some(cursor) => parse_cursor(cursor)?,
        };
        Ok(Paging {
            start,
            until_millis,
            limit: limit as usize,
        })
    }

    /// Reads one more than a page; returns the page and the cursor after it. A cursor
    /// is a position in an order new events never reorder, so it stays valid while
    /// events arrive: a page never repeats or skips what an earlier page saw.
    fn page<T>(
        &self,
        read: impl FnOnce(PartyEventRef, i64, usize) -> Result<Vec<T>, ApiError>,
        position: impl Fn(&T) -> PartyEventRef,
    ) -> Result<(Vec<T>, Option<String>), ApiError> {
        let mut found = read(self.start, self.until_millis, self.limit + 1)?;
        let more = found.len() > self.limit;
        found.truncate(self.limit);
        let next = found.last().filter(|_| more).map(|last| {
            let at = position(last);
            format!("{}.{}", at.occurred_at_millis, at.sequence + 1)
        });
        Ok((found, next))
    }
}

fn summaries(
    store: &dyn ledger_store::LedgerStore,
    refs: &[PartyEventRef],
) -> Result<Vec<EventSummary>, ApiError> {
    let mut events = Vec::with_capacity(refs.len());
    for r in refs {
        let stored = store.event(r.sequence)?.ok_or_else(|| {
            ApiError::from(ledger_store::StoreError::new(
                ledger_store::StoreErrorKind::Corruption,
                format!("event {} is indexed but missing", r.sequence),
            ))
        })?;
        let signed = decode(stored.body.clone(), stored.signature, r.sequence)?;
        let body = signed.body();
        events.push(EventSummary {
            sequence: r.sequence,
            occurred_at: crate::views::time(r.occurred_at_millis),
            kind: body.kind.name().to_owned(),
            signer: body.signer.to_string(),
            lot_id: body.kind.lot_id().map(|l| l.to_string()),
            hash: stored.hash.to_string(),
        });
    }
    Ok(events)
}

/// `GET /v1/parties/{party}/events?from=&until=&cursor=&limit=`: the party's events by
/// time of occurrence.
#[utoipa::path(
    get,
    path = "/v1/parties/{party}/events",
    tag = "inspectors",
    operation_id = "party_events",
    description = "The events a party signed or is named in, by time of occurrence.",
    security(("inspector_token" = [])),
    params(
        ("party" = String, Path, description = "Unified social credit code or licence number."),
        ("from" = Option<String>, Query, description = "Only from this time on: RFC 3339, or a date YYYY-MM-DD meaning its start in Beijing time."),
        ("until" = Option<String>, Query, description = "Only before this time (same forms as `from`)."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100).")
    ),
    responses(
        (status = 200, description = "A page of events.", body = PartyEventsPage),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No inspector token, or one nobody holds.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The inspector token was revoked.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such party is registered.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn party_events(
    State(state): State<AppState>,
    Path(party): Path<String>,
    Query(params): Params,
) -> Result<Json<PartyEventsPage>, ApiError> {
    refuse_unknown(&params, &["from", "until", "cursor", "limit"])?;
    let party_id = party_param(&party, "party")?;
    let paging = Paging::of(&params)?;
    let page = blocking(&state, move |state| {
        let store = state.cache.store();
        if store.party(&party_id)?.is_none() {
            return Err(ApiError::not_found(
                Some("party"),
                format!("no party '{party_id}' is registered"),
            ));
        }
        let (refs, next_cursor) = paging.page(
            |start, until, limit| Ok(store.party_events(&party_id, start, until, limit)?),
            |r| *r,
        )?;
        Ok(PartyEventsPage {
            party_id: party_id.to_string(),
            events: summaries(store, &refs)?,
            next_cursor,
        })
    })
    .await?;
    Ok(Json(page))
}

/// The event kinds, as `kind=` takes them.
const KINDS: [&str; 13] = [
    "ORIGIN",
    "SHIP",
    "MARKET_ENTRY",
    "WAREHOUSE",
    "RETAIL",
    "CANTEEN",
    "TRANSFORM",
    "INSPECTION",
    "RECALL",
    "REGISTER_PARTY",
    "ADD_KEY",
    "REVOKE_KEY",
    "SET_PARTY_STATUS",
];

/// `GET /v1/events?kind=&from=&until=&cursor=&limit=`: events by time of occurrence,
/// of one kind or all.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "inspectors",
    operation_id = "events",
    description = "Events by time of occurrence, of one kind or all.",
    security(("inspector_token" = [])),
    params(
        ("kind" = Option<String>, Query, description = "ORIGIN, SHIP, MARKET_ENTRY, WAREHOUSE, RETAIL, CANTEEN, TRANSFORM, INSPECTION, RECALL, REGISTER_PARTY, ADD_KEY, REVOKE_KEY or SET_PARTY_STATUS (any case)."),
        ("from" = Option<String>, Query, description = "Only from this time on: RFC 3339, or a date YYYY-MM-DD meaning its start in Beijing time."),
        ("until" = Option<String>, Query, description = "Only before this time (same forms as `from`)."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100).")
    ),
    responses(
        (status = 200, description = "A page of events.", body = EventsPage),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No inspector token, or one nobody holds.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The inspector token was revoked.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not used.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<EventsPage>, ApiError> {
    refuse_unknown(&params, &["kind", "from", "until", "cursor", "limit"])?;
    let kind = match params.get("kind") {
        None => None,
        Some(text) => {
            let upper = text.to_ascii_uppercase();
            let known = KINDS.iter().find(|k| **k == upper).ok_or_else(|| {
                ApiError::bad(
                    "kind",
                    format!(
                        "'{text}' is not an event kind; use one of {}",
                        KINDS.join(", ")
                    ),
                )
            })?;
            Some(*known)
        }
    };
    let paging = Paging::of(&params)?;
    let page = blocking(&state, move |state| {
        let store = state.cache.store();
        let (refs, next_cursor) = paging.page(
            |start, until, limit| Ok(store.events_by_kind(kind, start, until, limit)?),
            |r| *r,
        )?;
        Ok(EventsPage {
            events: summaries(store, &refs)?,
            next_cursor,
        })
    })
    .await?;
    Ok(Json(page))
}

/// `GET /v1/lots?product=&party=&from=&until=&cursor=&limit=`: lots by creation time,
/// all, of one product (exact name), created by one party, or both.
#[utoipa::path(
    get,
    path = "/v1/lots",
    tag = "inspectors",
    operation_id = "lots",
    description = "Lots by creation time: all, of one product (exact name), created by one party, or both.",
    security(("inspector_token" = [])),
    params(
        ("product" = Option<String>, Query, description = "Exact product name."),
        ("party" = Option<String>, Query, description = "The creating party."),
        ("from" = Option<String>, Query, description = "Only from this time on: RFC 3339, or a date YYYY-MM-DD meaning its start in Beijing time."),
        ("until" = Option<String>, Query, description = "Only before this time (same forms as `from`)."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("limit" = Option<u32>, Query, description = "At most this many (1 to 1000, default 100).")
    ),
    responses(
        (status = 200, description = "A page of lots.", body = LotsPage),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No inspector token, or one nobody holds.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The inspector token was revoked.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not used.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn lots(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<LotsPage>, ApiError> {
    refuse_unknown(
        &params,
        &["product", "party", "from", "until", "cursor", "limit"],
    )?;
    let product = params.get("product").cloned();
    if product.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return Err(ApiError::bad("product", "is empty"));
    }
    let creator = params
        .get("party")
        .map(|p| party_param(p, "party"))
        .transpose()?;
    let paging = Paging::of(&params)?;
    let page = blocking(&state, move |state| {
        let store = state.cache.store();
        let filter = match (&product, &creator) {
            (Some(product), _) => LotFilter::Product(product),
            (None, Some(creator)) => LotFilter::Creator(creator),
            (None, None) => LotFilter::All,
        };
        // With both, scan the product's lots and keep the creator's: read in batches
        // until the page is full or the product's lots run out.
        let (found, next_cursor) = paging.page(
            |mut start, until, limit| {
                let mut kept = Vec::new();
                loop {
                    let batch = store.lots_by(filter, start, until, limit.max(256))?;
                    let exhausted = batch.len() < limit.max(256);
                    for (at, lot_id) in batch {
                        start = PartyEventRef {
                            occurred_at_millis: at.occurred_at_millis,
                            sequence: at.sequence + 1,
                        };
                        let record = store.lot(&lot_id)?.ok_or_else(|| {
                            ApiError::from(ledger_store::StoreError::new(
                                ledger_store::StoreErrorKind::Corruption,
                                format!("lot {lot_id} is indexed but missing"),
                            ))
                        })?;
                        if creator.as_ref().is_none_or(|c| *c == record.created_by) {
                            kept.push((at, record));
                            if kept.len() == limit {
                                return Ok(kept);
                            }
                        }
                    }
                    if exhausted {
                        return Ok(kept);
                    }
                }
            },
            |(at, _)| *at,
        )?;
        Ok(LotsPage {
            lots: found
                .into_iter()
                .map(|(at, lot)| LotSummary {
                    lot_id: lot.lot_id.to_string(),
                    product_name: lot.product_name.to_string(),
                    product_category: lot.product_category.to_string(),
                    quantity: lot.quantity.to_string(),
                    created_by: lot.created_by.to_string(),
                    created_at: crate::views::time(at.occurred_at_millis),
                    created_sequence: at.sequence,
                })
                .collect(),
            next_cursor,
        })
    })
    .await?;
    Ok(Json(page))
}

fn parse_cursor(text: &str) -> Result<PartyEventRef, ApiError> {
    let bad = || {
        ApiError::bad(
            "cursor",
            format!("'{text}' is not a cursor from a previous page"),
        )
    };
    let (millis, sequence) = text.split_once('.').ok_or_else(bad)?;
    Ok(PartyEventRef {
        occurred_at_millis: millis.parse().map_err(|_| bad())?,
        sequence: sequence.parse().map_err(|_| bad())?,
    })
}

fn decode(
    body: Vec<u8>,
    signature: [u8; 64],
    sequence: u64,
) -> Result<ledger_core::SignedEvent, ApiError> {
    ledger_proto::decode_signed_event(ledger_proto::pb::SignedEvent {
        body,
        signature: signature.to_vec(),
    })
    .map_err(|refusal| {
        ApiError::from(ledger_store::StoreError::new(
            ledger_store::StoreErrorKind::Corruption,
            format!("event {sequence} no longer decodes: {refusal}"),
        ))
    })
}

/// `GET /v1/events/{sequence}`: one event in full: the decoded body, its hash, signature
/// and the hashes it links to.
#[utoipa::path(
    get,
    path = "/v1/events/{sequence}",
    tag = "inspectors",
    operation_id = "event",
    description = "One event in full: its decoded body, hash, signature, body bytes and the hashes it links to.",
    security(("inspector_token" = [])),
    params(
        ("sequence" = u64, Path, description = "The event's sequence number.")
    ),
    responses(
        (status = 200, description = "The event.", body = Object),
        (status = 400, description = "A parameter is wrong; `parameter` names it.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No inspector token, or one nobody holds.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The inspector token was revoked.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The ledger store failed.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn event(
    State(state): State<AppState>,
    Path(sequence): Path<String>,
    Query(params): Params,
) -> Result<Json<serde_json::Value>, ApiError> {
    refuse_unknown(&params, &[])?;
    let sequence: u64 = sequence
        .parse()
        .map_err(|_| ApiError::bad("sequence", format!("'{sequence}' is not a whole number")))?;
    let value = blocking(&state, move |state| {
        let store = state.cache.store();
        let stored = store
            .event(sequence)?
            .ok_or_else(|| ApiError::not_found(Some("sequence"), format!("no event {sequence}")))?;
        let signed = decode(stored.body.clone(), stored.signature, sequence)?;
        Ok(serde_json::json!({
            "sequence": sequence,
            "hash": stored.hash.to_string(),
            "recorded_at": stored.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "kind": signed.body().kind.name(),
            "body": signed.body(),
            "body_hex": hex::encode(&stored.body),
            "signature": hex::encode(stored.signature),
            "links": signed.body().kind.links().iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(Json(value))
}
