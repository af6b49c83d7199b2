//! The public lot page: what a shopper or a parent sees after scanning the code on a pack
//! (GS1 Digital Link `/01/{GTIN}/10/{lot}`, or `/l/{lot}` for lots without a GTIN).
//! HTML for browsers, Chinese by default and English by `Accept-Language` or `?lang=en`;
//! JSON (the same data) for `Accept: application/json`.
//!
//! Only public fields: product, origin (region, producer's registered name, place,
//! dates, certificate), the dates along the chain, test results and recalls. No
//! contacts, no quantities, no inspector-only data. Every stored string is escaped
//! (maud escapes whatever it interpolates). Pages carry a strict Content-Security-Policy
//! (no script at all; one stylesheet from this server), `nosniff`, a 30-second
//! `max-age` and an `ETag`, so a recall shows within a minute.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger_core::digital_link;
use ledger_core::ids::{LotId, PartyId};
use ledger_core::model::{InspectionKind, InspectionResult, Stage};
use ledger_core::state::PartyRecord;
use ledger_core::trace::{FactKind, FactSource, LotFact, TraceOptions, upstream};
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;

use crate::AppState;
use crate::facts::LedgerCache;
use crate::views::time;

/// The stylesheet every page links (the only thing the CSP lets a page load).
const STYLE: &str = include_str!("page.css");

/// The pages' icon (a green check mark), so browsers do not ask for `/favicon.ico`.
const ICON: &str = include_str!("icon.svg");

/// `Content-Security-Policy` of every public page: nothing but this server's stylesheet.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the public page says about a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PublicLot {
    /// The lot.
    pub lot_id: String,
    /// Product name.
    pub product_name: String,
    /// Product category.
    pub product_category: String,
    /// Who made the lot (registered name); absent for a lot that entered the ledger at a
    /// receipt (see `entries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_by: Option<String>,
    /// Lots in it whose producers recorded nothing: where each entered the ledger, as the
    /// receiver recorded it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<PublicEntry>,
    /// Where everything in it came from.
    pub origins: Vec<PublicOrigin>,
    /// The steps along the chain, oldest first: origin, market entry, warehouse,
    /// retail, canteen, processing.
    pub chain: Vec<PublicStep>,
    /// The latest quick test, on this lot or anything in it.
    pub latest_quick_test: Option<PublicTest>,
    /// The latest sampling inspection, on this lot or anything in it.
    pub latest_sampling: Option<PublicTest>,
    /// Whether any test of it or of anything in it failed.
    pub any_failed_test: bool,
    /// Recalls of this lot or of anything in it.
    pub recalls: Vec<PublicRecall>,
    /// How the record is verified.
    pub verified: PublicVerification,
}

/// An origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PublicOrigin {
    /// The lot created at origin.
    pub lot_id: String,
    /// Product name.
    pub product_name: String,
    /// The producer's registered name.
    pub producer: String,
    /// GB/T 2260 region code.
    pub region: String,
    /// The region's name, when known.
    pub region_name: Option<String>,
    /// The place as the producer wrote it.
    pub place: String,
    /// Harvest or production date.
    pub production_date: String,
    /// Compliance certificate number (承诺达标合格证).
    pub certificate: String,
}

/// Where a lot its producer did not record entered the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PublicEntry {
    /// The lot.
    pub lot_id: String,
    /// Product name, as received.
    pub product_name: String,
    /// The supplier named (registered name).
    pub supplier: String,
    /// Who received it and recorded it (registered name).
    pub recorded_by: String,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// Certificate checked on receipt, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// A step along the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PublicStep {
    /// `origin`, `market_entry`, `warehouse`, `retail`, `canteen` or `processing`.
    pub stage: String,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// Who (registered name).
    pub by: String,
}

/// A test result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PublicTest {
    /// What was tested.
    pub item: String,
    /// `pass` or `fail`.
    pub result: String,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// Who tested (registered name).
    pub by: String,
}

/// A recall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PublicRecall {
    /// The lot recalled: this one, or one in it.
    pub lot_id: String,
    /// Whether it is this lot itself.
    pub this_lot: bool,
    /// When (UTC, RFC 3339).
    pub at: String,
    /// Why.
    pub reason: String,
}

/// How the record is verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PublicVerification {
    /// Every event shown was signed by the party that recorded it and its signature was
    /// checked when it was recorded.
    pub signatures_checked: bool,
    /// The size of the latest signed checkpoint covering the lot's creation, if one does.
    pub checkpoint_tree_size: Option<u64>,
    /// The sequence number of the lot's creating event.
    pub sequence: u64,
    /// Where to get the proof (an inclusion proof bundle).
    pub proof: String,
}

/// Region names the page knows (the district's own).
fn region_name(code: &str, english: bool) -> Option<String> {
    let name = match (code, english) {
        ("210112", false) => "辽宁省沈阳市浑南区",
        ("210112", true) => "Hunnan District, Shenyang, Liaoning",
        ("210100", false) => "辽宁省沈阳市",
        ("210100", true) => "Shenyang, Liaoning",
        _ => return None,
    };
    Some(name.to_owned())
}

/// Lots whose pages are kept built by default (each a few kilobytes, with its
/// renderings).
pub const DEFAULT_CACHED_PAGES: usize = 4096;

/// Pages built, by lot: each with what it was built from, so a later request can tell
/// in a few cache lookups whether it is still exact (see [`BuiltLot::is_current`]).
pub(crate) struct PageCache {
    /// `None`: pages are built for every request.
    pages: Option<quick_cache::sync::Cache<LotId, Arc<BuiltLot>>>,
}

impl PageCache {
    /// Room for `capacity` lots' pages (0: keep none).
    pub(crate) fn new(capacity: usize) -> PageCache {
        PageCache {
            pages: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
        }
    }

    fn get(&self, lot_id: &LotId) -> Option<Arc<BuiltLot>> {
        self.pages.as_ref()?.get(lot_id)
    }

    fn insert(&self, lot_id: &LotId, built: &Arc<BuiltLot>) {
        if let Some(pages) = &self.pages {
            pages.insert(lot_id.clone(), built.clone());
        }
    }
}

/// A lot's page data, the inputs it was built from, and its renderings (made on first
/// use).
pub(crate) struct BuiltLot {
    lot: PublicLot,
    /// Every lot whose facts it read, with the facts as read (the same `Arc` the ledger
    /// cache holds until an event touches that lot or it is evicted).
    lots: Vec<(LotId, Arc<[LotFact]>)>,
    /// Every party whose name it shows, as read.
    parties: Vec<(PartyId, Option<Arc<PartyRecord>>)>,
    /// The size of the latest checkpoint when it was built.
    checkpoint: Option<u64>,
    chinese: OnceLock<Rendered>,
    english: OnceLock<Rendered>,
    json: OnceLock<Rendered>,
}

/// A page's bytes and their entity tag.
struct Rendered {
    body: bytes::Bytes,
    etag: HeaderValue,
}

impl Rendered {
    fn of(body: Vec<u8>) -> Rendered {
        let etag = format!("\"{}\"", &blake3::hash(&body).to_hex()[..32]);
        Rendered {
            body: body.into(),
            etag: HeaderValue::from_str(&etag).expect("hex digits are a header value"),
        }
    }
}

impl BuiltLot {
    /// Whether the page is exactly what building it now would give: the ledger cache
    /// still holds every lot's facts and every party's entry it was built from (an
    /// event touching any of them evicts it, and the cache has looked at every event:
    /// call after a catch-up), and no checkpoint has been signed since.
    fn is_current(&self, cache: &LedgerCache, checkpoint: Option<u64>) -> bool {
        self.checkpoint == checkpoint
            && self.lots.iter().all(|(id, facts)| {
                cache
                    .cached_facts(id)
                    .is_some_and(|now| Arc::ptr_eq(&now, facts))
            })
            && self
                .parties
                .iter()
                .all(|(id, record)| match (cache.cached_party(id), record) {
                    (Some(Some(now)), Some(then)) => Arc::ptr_eq(&now, then),
                    (Some(None), None) => true,
                    _ => false,
                })
    }
}

/// The ledger cache as the page's fact source, noting what it read.
struct Noting<'a> {
    cache: &'a LedgerCache,
    lots: RefCell<Vec<(LotId, Arc<[LotFact]>)>>,
    parties: RefCell<Vec<(PartyId, Option<Arc<PartyRecord>>)>>,
}

impl FactSource for Noting<'_> {
    type Error = ledger_store::StoreError;

    fn facts(&self, lot_id: &LotId) -> Result<Arc<[LotFact]>, Self::Error> {
        let facts = self.cache.facts(lot_id)?;
        self.lots.borrow_mut().push((lot_id.clone(), facts.clone()));
        Ok(facts)
    }
}

impl Noting<'_> {
    fn name(&self, party_id: &PartyId) -> Result<String, ledger_store::StoreError> {
        let record = self.cache.party(party_id)?;
        let name = record
            .as_ref()
            .map(|record| record.name.to_string())
            .unwrap_or_else(|| party_id.to_string());
        self.parties.borrow_mut().push((party_id.clone(), record));
        Ok(name)
    }
}

/// The latest checkpoint's size.
fn latest_checkpoint(state: &AppState) -> Result<Option<u64>, ledger_store::StoreError> {
    Ok(state
        .cache
        .store()
        .latest_checkpoint()?
        .map(|checkpoint| checkpoint.tree_size))
}

/// Builds a lot's page data (blocking: call off the runtime, after a catch-up that
/// returned `n_events`).
fn build_lot(
    state: &AppState,
    lot_id: &LotId,
    n_events: u64,
) -> Result<Option<BuiltLot>, ledger_store::StoreError> {
    if n_events == 0 {
        return Ok(None);
    }
    let latest = latest_checkpoint(state)?;
    let source = Noting {
        cache: &state.cache,
        lots: RefCell::new(Vec::new()),
        parties: RefCell::new(Vec::new()),
    };
    let Some(lot) = read_lot(&source, lot_id, n_events, latest)? else {
        return Ok(None);
    };
    let mut lots = source.lots.into_inner();
    lots.sort_by(|a, b| a.0.cmp(&b.0));
    lots.dedup_by(|a, b| a.0 == b.0 && Arc::ptr_eq(&a.1, &b.1));
    let mut parties = source.parties.into_inner();
    parties.sort_by(|a, b| a.0.cmp(&b.0));
    parties.dedup_by(|a, b| a.0 == b.0);
    Ok(Some(BuiltLot {
        lot,
        lots,
        parties,
        checkpoint: latest,
        chinese: OnceLock::new(),
        english: OnceLock::new(),
        json: OnceLock::new(),
    }))
}

/// What the page shows, read through `source`.
fn read_lot(
    source: &Noting<'_>,
    lot_id: &LotId,
    n_events: u64,
    latest_checkpoint: Option<u64>,
) -> Result<Option<PublicLot>, ledger_store::StoreError> {
    let options = TraceOptions {
        as_of: Some(n_events - 1),
        ..TraceOptions::default()
    };
    let Some(trace) = upstream(source, lot_id, &options)? else {
        return Ok(None);
    };
    let own = source.facts(lot_id)?;
    let name = |party: &PartyId| source.name(party);
    // A traced lot has its creation (the trace found it); no panic if not.
    let Some(created) = trace.lots[0].created.as_deref() else {
        return Ok(None);
    };
    let (product_name, product_category) = match &created.kind {
        FactKind::Origin {
            product_name,
            product_category,
            ..
        }
        | FactKind::Produced {
            product_name,
            product_category,
            ..
        }
        | FactKind::Entered {
            product_name,
            product_category,
            ..
        } => (product_name.to_string(), product_category.to_string()),
        _ => return Ok(None),
    };
    let mut entries = Vec::new();
    let mut origins = Vec::new();
    let mut chain = Vec::new();
    let mut tests: Vec<(i64, InspectionKind, PublicTest)> = Vec::new();
    let mut recalls = Vec::new();
    let mut any_failed_test = false;
    // Upstream events, then this lot's own receipts (where it went after it was made).
    let own_receipts = own.iter().filter(|f| f.kind.received_at().is_some());
    let mut seen = std::collections::HashSet::new();
    for fact in trace
        .events
        .iter()
        .map(|e| (e.lot_id.clone(), &*e.fact))
        .chain(own_receipts.map(|f| (lot_id.clone(), f)))
    {
        let (lot, fact) = fact;
        if !seen.insert(fact.sequence) {
            continue;
        }
        let at = time(fact.occurred_at_millis);
        match &fact.kind {
            FactKind::Origin {
                product_name,
                origin_region,
                origin_place,
                production_date,
                certificate_number,
                ..
            } => {
                let producer = name(&fact.signer)?;
                origins.push(PublicOrigin {
                    lot_id: lot.to_string(),
                    product_name: product_name.to_string(),
                    producer: producer.clone(),
                    region: origin_region.as_str().to_owned(),
                    region_name: region_name(origin_region.as_str(), false),
                    place: origin_place.to_string(),
                    production_date: production_date.to_string(),
                    certificate: certificate_number.to_string(),
                });
                chain.push((
                    fact.occurred_at_millis,
                    PublicStep {
                        stage: "origin".into(),
                        at,
                        by: producer,
                    },
                ));
            }
            FactKind::Received { stage, .. } | FactKind::Entered { stage, .. } => {
                if let FactKind::Entered {
                    supplier,
                    certificate_number,
                    product_name,
                    ..
                } = &fact.kind
                    && trace.lots.iter().any(|l| {
                        l.lot_id == lot
                            && l.created.as_deref().map(|c| c.sequence) == Some(fact.sequence)
                    })
                {
                    entries.push(PublicEntry {
                        lot_id: lot.to_string(),
                        product_name: product_name.to_string(),
                        supplier: name(supplier)?,
                        recorded_by: name(&fact.signer)?,
                        at: at.clone(),
                        certificate: certificate_number.as_ref().map(|c| c.to_string()),
                    });
                }
                let stage = match stage {
                    Stage::MarketEntry => "market_entry",
                    Stage::Warehouse => "warehouse",
                    Stage::Retail => "retail",
                    Stage::Canteen => "canteen",
                };
                chain.push((
                    fact.occurred_at_millis,
                    PublicStep {
                        stage: stage.into(),
                        at,
                        by: name(&fact.signer)?,
                    },
                ));
            }
            FactKind::Produced { .. } => {
                chain.push((
                    fact.occurred_at_millis,
                    PublicStep {
                        stage: "processing".into(),
                        at,
                        by: name(&fact.signer)?,
                    },
                ));
            }
            FactKind::Inspected {
                inspection,
                item,
                result,
                ..
            } => {
                any_failed_test |= *result == InspectionResult::Fail;
                tests.push((
                    fact.occurred_at_millis,
                    *inspection,
                    PublicTest {
                        item: item.to_string(),
                        result: match result {
                            InspectionResult::Pass => "pass".into(),
                            InspectionResult::Fail => "fail".into(),
                        },
                        at,
                        by: name(&fact.signer)?,
                    },
                ));
            }
            FactKind::Recalled { reason, .. } => recalls.push(PublicRecall {
                lot_id: lot.to_string(),
                this_lot: lot == *lot_id,
                at,
                reason: reason.to_string(),
            }),
            FactKind::Shipped { .. } | FactKind::Consumed { .. } => {}
        }
    }
    chain.sort_by_key(|(at, _)| *at);
    tests.sort_by_key(|(at, _, _)| *at);
    let latest = |kind: InspectionKind| {
        tests
            .iter()
            .rev()
            .find(|(_, k, _)| *k == kind)
            .map(|(_, _, test)| test.clone())
    };
    let checkpoint = latest_checkpoint.filter(|&size| size > created.sequence);
    Ok(Some(PublicLot {
        lot_id: lot_id.to_string(),
        product_name,
        product_category,
        made_by: match created.kind {
            FactKind::Entered { .. } => None,
            _ => Some(name(&created.signer)?),
        },
        entries,
        origins,
        chain: chain.into_iter().map(|(_, step)| step).collect(),
        latest_quick_test: latest(InspectionKind::QuickTest),
        latest_sampling: latest(InspectionKind::Sampling),
        any_failed_test,
        recalls,
        verified: PublicVerification {
            signatures_checked: true,
            checkpoint_tree_size: checkpoint,
            sequence: created.sequence,
            proof: format!("/v1/proofs/inclusion?sequence={}", created.sequence),
        },
    }))
}

/// The page's language.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Zh,
    En,
}

fn language(params: &HashMap<String, String>, headers: &HeaderMap) -> Lang {
    match params.get("lang").map(String::as_str) {
        Some("en") => return Lang::En,
        Some("zh") => return Lang::Zh,
        _ => {}
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first language named decides; Chinese unless it is English.
    match accept
        .split(',')
        .next()
        .map(|l| l.trim().to_ascii_lowercase())
    {
        Some(first) if first.starts_with("en") => Lang::En,
        _ => Lang::Zh,
    }
}

/// Whether the client asked for JSON rather than a page.
pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

/// Words on the page, in both languages.
struct Words {
    title: &'static str,
    origin: &'static str,
    producer: &'static str,
    region: &'static str,
    place: &'static str,
    produced: &'static str,
    certificate: &'static str,
    chain: &'static str,
    tests: &'static str,
    quick_test: &'static str,
    sampling: &'static str,
    pass: &'static str,
    fail: &'static str,
    none: &'static str,
    recalled: &'static str,
    recalled_upstream: &'static str,
    reason: &'static str,
    failed: &'static str,
    verified: &'static str,
    verified_text: &'static str,
    checkpoint: (&'static str, &'static str),
    no_checkpoint: &'static str,
    proof: &'static str,
    made_by: &'static str,
    supplier: &'static str,
    recorded_by: &'static str,
    no_origin: &'static str,
    switch: &'static str,
    unknown_title: &'static str,
    unknown_text: &'static str,
    bad_title: &'static str,
    bad_text: &'static str,
    ingredient: &'static str,
    busy_title: &'static str,
    busy_text: &'static str,
    stage: fn(&str) -> &'static str,
}

const ZH: Words = Words {
    title: "食品追溯",
    origin: "产地",
    producer: "生产者",
    region: "地区",
    place: "产地地点",
    produced: "生产日期",
    certificate: "承诺达标合格证",
    chain: "流通过程",
    tests: "检测结果",
    quick_test: "最近快检",
    sampling: "最近抽检",
    pass: "合格",
    fail: "不合格",
    none: "暂无",
    recalled: "本批次已被召回",
    recalled_upstream: "本批次的原料已被召回",
    reason: "原因",
    failed: "最近一次检测不合格",
    verified: "已验证",
    verified_text: "以上记录均由记录方签名，签名在记录时已核验。",
    checkpoint: ("已纳入签名检查点（日志前 ", " 条记录）"),
    no_checkpoint: "尚未纳入签名检查点",
    proof: "查看证明",
    made_by: "生产/加工单位",
    supplier: "供货者",
    recorded_by: "进货查验登记",
    no_origin: "生产者未登记产地信息，以上为进货查验时的记录。",
    switch: "English",
    unknown_title: "未找到该批次",
    unknown_text: "追溯系统中没有这个批次。请核对包装上的批号，或向销售者咨询。",
    bad_title: "追溯码有误",
    bad_text: "请核对包装上的二维码是否完整、清晰，或向销售者咨询。",
    ingredient: "被召回的原料批次",
    busy_title: "请求过于频繁",
    busy_text: "请稍候几秒再试（秒数）：",
    stage: |stage| match stage {
        "origin" => "产地生产",
        "market_entry" => "市场准入",
        "warehouse" => "仓储",
        "retail" => "零售",
        "canteen" => "食堂",
        _ => "加工",
    },
};

const EN: Words = Words {
    title: "Food traceability",
    origin: "Origin",
    producer: "Producer",
    region: "Region",
    place: "Place",
    produced: "Produced",
    certificate: "Compliance certificate",
    chain: "Along the chain",
    tests: "Test results",
    quick_test: "Latest quick test",
    sampling: "Latest sampling inspection",
    pass: "pass",
    fail: "FAIL",
    none: "none yet",
    recalled: "This lot has been recalled",
    recalled_upstream: "An ingredient of this lot has been recalled",
    reason: "Reason",
    failed: "The latest test failed",
    verified: "Verified",
    verified_text: "Every record above was signed by the party that made it; the signatures were checked when it was recorded.",
    checkpoint: (
        "Covered by the signed checkpoint of the log's first ",
        " records",
    ),
    no_checkpoint: "Not yet covered by a signed checkpoint",
    proof: "See the proof",
    made_by: "Made by",
    supplier: "Supplied by",
    recorded_by: "Recorded on receipt by",
    no_origin: "The producer recorded no origin; this is what the receiver recorded.",
    switch: "中文",
    unknown_title: "Lot not found",
    unknown_text: "There is no such lot in the traceability ledger. Check the lot number on the pack, or ask the seller.",
    bad_title: "This code is not valid",
    bad_text: "Check that the code on the pack is whole and clear, or ask the seller.",
    ingredient: "The recalled ingredient lot",
    busy_title: "Too many requests",
    busy_text: "Please wait a moment and try again; seconds to wait:",
    stage: |stage| match stage {
        "origin" => "produced",
        "market_entry" => "market entry",
        "warehouse" => "warehouse",
        "retail" => "retail",
        "canteen" => "canteen",
        _ => "processed",
    },
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

fn date(at: &str) -> String {
    crate::views::beijing_date(at)
}

fn shell(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(if lang == Lang::Zh { "zh-CN" } else { "en" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/static/page.css";
                link rel="icon" type="image/svg+xml" href="/static/icon.svg";
            }
            body { main { (body) } }
        }
    }
}

fn lot_page(lot: &PublicLot, lang: Lang, switch_href: &str) -> Markup {
    let w = words(lang);
    let english = lang == Lang::En;
    shell(
        lang,
        &format!("{} · {}", lot.product_name, w.title),
        html! {
            p.switch { a href=(switch_href) { (w.switch) } }
            @for recall in &lot.recalls {
                section.recall role="alert" {
                    h2 { "⚠ " (if recall.this_lot { w.recalled } else { w.recalled_upstream }) }
                    p { (date(&recall.at)) " · " (w.reason) ": " (recall.reason) }
                    @if !recall.this_lot { p.small { (w.ingredient) ": " (recall.lot_id) } }
                }
            }
            @for test in [&lot.latest_quick_test, &lot.latest_sampling].into_iter().flatten().filter(|t| t.result == "fail") {
                section.warning role="alert" {
                    h2 { (w.failed) }
                    p { (test.item) " · " (date(&test.at)) " · " (test.by) }
                }
            }
            h1 { (lot.product_name) }
            p.lot { (lot.lot_id) " · " (lot.product_category) }
            @if let Some(made_by) = &lot.made_by { p { (w.made_by) ": " (made_by) } }
            section {
                h2 { (w.origin) }
                @for entry in &lot.entries {
                    dl {
                        dt { (w.supplier) } dd { (entry.supplier) }
                        dt { (w.recorded_by) } dd { (entry.recorded_by) " · " (date(&entry.at)) }
                        @if let Some(certificate) = &entry.certificate {
                            dt { (w.certificate) } dd { (certificate) }
                        }
                    }
                    p.small { (w.no_origin) @if lot.entries.len() > 1 || entry.lot_id != lot.lot_id { " (" (entry.lot_id) ")" } }
                }
                @for origin in &lot.origins {
                    dl {
                        dt { (w.producer) } dd { (origin.producer) }
                        dt { (w.region) } dd {
                            @if english {
                                (region_name(&origin.region, true).unwrap_or_else(|| origin.region.clone()))
                            } @else {
                                (origin.region_name.clone().unwrap_or_else(|| origin.region.clone()))
                            }
                        }
                        dt { (w.place) } dd { (origin.place) }
                        dt { (w.produced) } dd { (origin.production_date) }
                        dt { (w.certificate) } dd { (origin.certificate) }
                    }
                }
            }
            section {
                h2 { (w.chain) }
                ol.chain {
                    @for step in &lot.chain {
                        li { span.when { (date(&step.at)) } " " b { ((w.stage)(&step.stage)) } " · " (step.by) }
                    }
                }
            }
            section {
                h2 { (w.tests) }
                @for (label, test) in [(w.quick_test, &lot.latest_quick_test), (w.sampling, &lot.latest_sampling)] {
                    p {
                        (label) ": "
                        @match test {
                            Some(test) => {
                                @if test.result == "fail" { b.fail { (w.fail) } } @else { b.pass { (w.pass) } }
                                " · " (test.item) " · " (date(&test.at)) " · " (test.by)
                            }
                            None => { (w.none) }
                        }
                    }
                }
            }
            section.verified {
                h2 { "✓ " (w.verified) }
                p { (w.verified_text) }
                p {
                    @match lot.verified.checkpoint_tree_size {
                        Some(size) => { (w.checkpoint.0) (size) (w.checkpoint.1) }
                        None => { (w.no_checkpoint) }
                    }
                    " · " a href=(lot.verified.proof) { (w.proof) }
                }
            }
        },
    )
}

fn message_page(lang: Lang, title: &str, text: &str, detail: Option<&str>) -> Markup {
    shell(
        lang,
        title,
        html! {
            h1 { (title) }
            p { (text) }
            @if let Some(detail) = detail { p.small { (detail) } }
        },
    )
}

/// The page a client over its rate limit gets (see [`crate::limit`]).
pub(crate) fn too_many_page(uri: &axum::http::Uri, headers: &HeaderMap, seconds: u64) -> String {
    let params = Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|Query(params)| params)
        .unwrap_or_default();
    let lang = language(&params, headers);
    let w = words(lang);
    message_page(
        lang,
        w.busy_title,
        &format!("{} {seconds}", w.busy_text),
        None,
    )
    .into_string()
}

/// Adds the public pages' headers; answers 304 when the client's copy is current.
fn finish(
    status: StatusCode,
    content_type: &'static str,
    page: &Rendered,
    request: &HeaderMap,
) -> Response {
    let etag = page.etag.as_bytes();
    let fresh = request.get(header::IF_NONE_MATCH).is_some_and(|tags| {
        tags.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii() == etag || t.trim_ascii() == b"*")
    });
    let mut response = if fresh && status == StatusCode::OK {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (status, page.body.clone()).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=30"),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Language"),
    );
    headers.insert(header::ETAG, page.etag.clone());
    response
}

/// The API's problem document about the `lot` parameter, as bytes.
fn problem_json(status: StatusCode, title: &'static str, detail: String) -> Vec<u8> {
    serde_json::to_vec(&crate::Problem {
        kind: "about:blank",
        title,
        status: status.as_u16(),
        detail,
        parameter: Some("lot"),
    })
    .expect("problems serialize")
}

/// A current page from the cache, found without waiting on anything (the ledger cache
/// has seen every event), if there is one.
fn cached_page(state: &AppState, lot_id: &LotId) -> Option<Arc<BuiltLot>> {
    state.cache.caught_up()?;
    let built = state.pages.get(lot_id)?;
    let checkpoint = latest_checkpoint(state).ok()?;
    built.is_current(&state.cache, checkpoint).then_some(built)
}

/// The lot's current page: cached if still exact, else built and cached (blocking).
fn current_page(
    state: &AppState,
    lot_id: &LotId,
) -> Result<Option<Arc<BuiltLot>>, ledger_store::StoreError> {
    let n_events = state.cache.catch_up()?;
    if let Some(built) = state.pages.get(lot_id)
        && built.is_current(&state.cache, latest_checkpoint(state)?)
    {
        return Ok(Some(built));
    }
    let Some(built) = build_lot(state, lot_id, n_events)? else {
        return Ok(None);
    };
    let built = Arc::new(built);
    state.pages.insert(lot_id, &built);
    Ok(Some(built))
}

/// The page in a language, or its data as JSON.
fn rendered(built: &BuiltLot, lang: Lang, json: bool) -> &Rendered {
    if json {
        return built.json.get_or_init(|| {
            Rendered::of(serde_json::to_vec(&built.lot).expect("the lot serializes"))
        });
    }
    let (cell, other) = match lang {
        Lang::Zh => (&built.chinese, "en"),
        Lang::En => (&built.english, "zh"),
    };
    cell.get_or_init(|| {
        // Relative: the same path (Digital Link or short link) in the other language.
        let page = lot_page(&built.lot, lang, &format!("?lang={other}"));
        Rendered::of(page.into_string().into_bytes())
    })
}

async fn answer(
    state: AppState,
    lot: Result<LotId, String>,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let lang = language(&params, &headers);
    let w = words(lang);
    let json = wants_json(&headers);
    let lot_id = match lot {
        Ok(lot_id) => lot_id,
        Err(problem) => {
            return if json {
                let body = problem_json(StatusCode::BAD_REQUEST, "Bad request", problem);
                finish(
                    StatusCode::BAD_REQUEST,
                    "application/problem+json",
                    &Rendered::of(body),
                    &headers,
                )
            } else {
                let page = message_page(lang, w.bad_title, w.bad_text, Some(&problem));
                finish(
                    StatusCode::BAD_REQUEST,
                    "text/html; charset=utf-8",
                    &Rendered::of(page.into_string().into_bytes()),
                    &headers,
                )
            };
        }
    };
    let lookup = match cached_page(&state, &lot_id) {
        Some(built) => Some(built),
        None => {
            let read_state = state.clone();
            let lookup_id = lot_id.clone();
            let lookup =
                tokio::task::spawn_blocking(move || current_page(&read_state, &lookup_id)).await;
            match lookup {
                Ok(Ok(lookup)) => lookup,
                Ok(Err(error)) => {
                    return crate::ApiError::from(error).into_response();
                }
                Err(error) => {
                    return (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response();
                }
            }
        }
    };
    match (lookup, json) {
        (Some(built), true) => finish(
            StatusCode::OK,
            "application/json",
            rendered(&built, lang, true),
            &headers,
        ),
        (Some(built), false) => finish(
            StatusCode::OK,
            "text/html; charset=utf-8",
            rendered(&built, lang, false),
            &headers,
        ),
        (None, true) => {
            let detail = format!("no lot '{lot_id}' in the ledger");
            let body = problem_json(StatusCode::NOT_FOUND, "Not found", detail);
            finish(
                StatusCode::NOT_FOUND,
                "application/problem+json",
                &Rendered::of(body),
                &headers,
            )
        }
        (None, false) => {
            let page = message_page(lang, w.unknown_title, w.unknown_text, None);
            finish(
                StatusCode::NOT_FOUND,
                "text/html; charset=utf-8",
                &Rendered::of(page.into_string().into_bytes()),
                &headers,
            )
        }
    }
}

/// `GET /01/{gtin}/10/{lot}[/21/{serial}][?17=YYMMDD]`: the page of a GS1 lot.
#[utoipa::path(
    get,
    path = "/01/{gtin}/10/{lot}",
    tag = "lot page",
    operation_id = "lot_page_digital_link",
    description = "The public page of a lot, addressed by a GS1 Digital Link: what the QR code on a pack opens. `/21/{serial}` may follow the lot (a serial number, which names the same lot's page). HTML in Chinese, or English by `Accept-Language: en` or `?lang=en`; JSON for `Accept: application/json`. Only public fields.",
    params(
        ("gtin" = String, Path, description = "The GTIN: 8, 12, 13 or 14 digits with a valid check digit."),
        ("lot" = String, Path, description = "The batch/lot (GS1 AI 10)."),
        ("17" = Option<String>, Query, description = "Expiry date, YYMMDD (GS1 AI 17)."),
        ("lang" = Option<String>, Query, description = "`zh` or `en`."),
    ),
    responses(
        (status = 200, description = "The lot's page (`text/html`), or the same data as JSON for `Accept: application/json`. Cached for 30 s; carries an `ETag`.", content((PublicLot = "application/json"), (String = "text/html"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current."),
        (status = 400, description = "The code is malformed (a page saying what is wrong, or a problem document).", content((crate::Problem = "application/problem+json"), (String = "text/html"))),
        (status = 404, description = "No such lot (a friendly page, or a problem document).", content((crate::Problem = "application/problem+json"), (String = "text/html"))),
        (status = 503, description = "The ledger store failed.", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn digital_link(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/01/{rest}");
    let lot = digital_link::parse(&path, params.get("17").map(String::as_str))
        .map(|link| link.lot_id)
        .map_err(|e| e.to_string());
    answer(state, lot, params, headers).await
}

/// `GET /l/{lot}`: the page of a lot by its id (short, for lots without a GTIN).
#[utoipa::path(
    get,
    path = "/l/{lot}",
    tag = "lot page",
    operation_id = "lot_page",
    description = "The public page of a lot by its id: the short link in the QR code of a lot without a GTIN. As `/01/{gtin}/10/{lot}`.",
    params(
        ("lot" = String, Path, description = "The lot id."),
        ("lang" = Option<String>, Query, description = "`zh` or `en`."),
    ),
    responses(
        (status = 200, description = "The lot's page (`text/html`), or the same data as JSON for `Accept: application/json`. Cached for 30 s; carries an `ETag`.", content((PublicLot = "application/json"), (String = "text/html"))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current."),
        (status = 400, description = "The code is malformed (a page saying what is wrong, or a problem document).", content((crate::Problem = "application/problem+json"), (String = "text/html"))),
        (status = 404, description = "No such lot (a friendly page, or a problem document).", content((crate::Problem = "application/problem+json"), (String = "text/html"))),
        (status = 503, description = "The ledger store failed.", body = crate::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn short_link(
    State(state): State<AppState>,
    Path(lot): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let lot_id = LotId::parse(&lot).map_err(|e| format!("lot: {}", e.0));
    answer(state, lot_id, params, headers).await
}

/// `GET /static/icon.svg`.
pub(crate) async fn icon(headers: HeaderMap) -> Response {
    static PAGE: OnceLock<Rendered> = OnceLock::new();
    let page = PAGE.get_or_init(|| Rendered::of(ICON.as_bytes().to_vec()));
    finish(StatusCode::OK, "image/svg+xml", page, &headers)
}

/// `GET /static/page.css`.
pub(crate) async fn stylesheet(headers: HeaderMap) -> Response {
    static PAGE: OnceLock<Rendered> = OnceLock::new();
    let page = PAGE.get_or_init(|| Rendered::of(STYLE.as_bytes().to_vec()));
    finish(StatusCode::OK, "text/css; charset=utf-8", page, &headers)
}
