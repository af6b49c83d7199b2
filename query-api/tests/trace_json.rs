//! The trace route writes its JSON straight from the trace (`TraceJson`); it must be the
//! very document `TraceView::of` describes, for every kind of fact, both directions,
//! parties registered or not, and with filters that leave path events out.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::model::{
    InspectionKind, InspectionResult, PartyRole, PartyStatus, Quantity, RecallSeverity, RegionCode,
    Stage, Text, TransformKind,
};
use ledger_core::state::PartyRecord;
use ledger_core::trace::{FactKind, FactSource, LotFact, TraceOptions, downstream, upstream};
use query_api::trace_json::TraceJson;
use query_api::views::{PartySummary, TraceView};

struct Facts(HashMap<LotId, Vec<LotFact>>);

impl FactSource for Facts {
    type Error = Infallible;
    fn facts(&self, lot: &LotId) -> Result<Arc<[LotFact]>, Infallible> {
        Ok(self.0.get(lot).cloned().unwrap_or_default().into())
    }
}

fn party(n: usize) -> PartyId {
    PartyId::uscc_with_check(&format!("91210112MA{n:07}")).unwrap()
}

fn text(s: &str) -> Text {
    Text::parse(s, 100).unwrap()
}

fn kg(n: &str) -> Quantity {
    Quantity::parse(n, "kg").unwrap()
}

fn lot(s: &str) -> LotId {
    LotId::parse(s).unwrap()
}

fn fact(sequence: u64, signer: usize, links: Vec<u64>, kind: FactKind) -> LotFact {
    LotFact {
        sequence,
        hash: EventHash([sequence as u8 * 7 + 1; 32]),
        occurred_at_millis: 1_764_000_000_000 + 60_000 * sequence as i64,
        signer: party(signer),
        links,
        kind,
    }
}

fn graph() -> Facts {
    let mut facts: HashMap<LotId, Vec<LotFact>> = HashMap::new();
    let mut add = |l: &str, f: LotFact| facts.entry(lot(l)).or_default().push(f);
    add(
        "A",
        fact(
            0,
            1,
            vec![],
            FactKind::Origin {
                product_name: text("大白菜 \"fresh\" <b>"),
                product_category: text("vegetable"),
                quantity: kg("100.50"),
                production_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
                origin_region: RegionCode::parse("210112").unwrap(),
                origin_place: text("李相街道"),
                certificate_number: text("HG-1"),
            },
        ),
    );
    add(
        "A",
        fact(
            1,
            1,
            vec![0],
            FactKind::Shipped {
                quantity: kg("100.5"),
                recipient: party(2),
                document_number: text("SD-1"),
            },
        ),
    );
    add(
        "A",
        fact(
            2,
            2,
            vec![1],
            FactKind::Received {
                stage: Stage::MarketEntry,
                quantity: kg("100.5"),
                supplier: Some(party(1)),
                certificate_number: Some(text("HG-1")),
            },
        ),
    );
    add(
        "A",
        fact(
            3,
            2,
            vec![],
            FactKind::Inspected {
                inspection: InspectionKind::QuickTest,
                item: text("农残"),
                value: text("12%"),
                result: InspectionResult::Fail,
            },
        ),
    );
    add(
        "A",
        fact(
            4,
            2,
            vec![2],
            FactKind::Consumed {
                transform: TransformKind::Split,
                quantity: kg("10"),
                output: lot("B"),
            },
        ),
    );
    add(
        "B",
        fact(
            4,
            2,
            vec![2],
            FactKind::Produced {
                transform: TransformKind::Split,
                product_name: text("白菜"),
                product_category: text("vegetable"),
                quantity: kg("10"),
                inputs: vec![(lot("A"), kg("10"))],
            },
        ),
    );
    add(
        "B",
        fact(
            5,
            2,
            vec![4],
            FactKind::Shipped {
                quantity: kg("10"),
                recipient: party(3),
                document_number: text("SD-2"),
            },
        ),
    );
    add(
        "B",
        fact(
            6,
            3,
            vec![5],
            FactKind::Received {
                stage: Stage::Canteen,
                quantity: kg("10"),
                supplier: None,
                certificate_number: None,
            },
        ),
    );
    add(
        "A",
        fact(
            7,
            9,
            vec![],
            FactKind::Recalled {
                reason: text("listeria"),
                severity: RecallSeverity::Level1,
            },
        ),
    );
    // A receipt naming its supplier and the product, on a lot already known: reported
    // like a receipt, with the product as received.
    add(
        "A",
        fact(
            8,
            3,
            vec![],
            FactKind::Entered {
                stage: Stage::Retail,
                quantity: kg("5"),
                supplier: party(2),
                certificate_number: None,
                product_name: text("白菜 <i>"),
                product_category: text("食用农产品"),
            },
        ),
    );
    Facts(facts)
}

fn record(n: usize, contact: Option<&str>) -> Arc<PartyRecord> {
    Arc::new(PartyRecord {
        party_id: party(n),
        name: text(&format!("单位{n}")),
        role: PartyRole::WholesaleMarket,
        region: RegionCode::parse("210112").unwrap(),
        contact: contact.map(text),
        status: PartyStatus::Suspended,
        keys: vec![],
        registered_at_sequence: n as u64,
    })
}

#[test]
fn trace_json_is_the_trace_view() {
    let facts = graph();
    // Party 3 has no contact; party 9 (the recaller) is not registered.
    let parties: HashMap<PartyId, Arc<PartyRecord>> =
        [(1, Some("024-1")), (2, Some("024-2")), (3, None)]
            .into_iter()
            .map(|(n, contact)| (party(n), record(n, contact)))
            .collect();
    let filtered = TraceOptions {
        stages: Some(vec![Stage::Canteen]),
        from_millis: Some(1_764_000_000_000 + 60_000 * 3),
        ..TraceOptions::default()
    };
    let cases = [
        downstream(&facts, &lot("A"), &TraceOptions::default())
            .unwrap()
            .unwrap(),
        downstream(&facts, &lot("A"), &filtered).unwrap().unwrap(),
        upstream(&facts, &lot("B"), &TraceOptions::default())
            .unwrap()
            .unwrap(),
        upstream(
            &facts,
            &lot("B"),
            &TraceOptions {
                max_depth: Some(0),
                ..TraceOptions::default()
            },
        )
        .unwrap()
        .unwrap(),
    ];
    assert!(
        !cases[1].path_events.is_empty(),
        "the filtered case has path events"
    );
    for trace in &cases {
        let written = serde_json::to_value(TraceJson {
            trace,
            as_of: 8,
            parties: &parties,
            cached: &HashMap::new(),
        })
        .unwrap();
        let view = TraceView::of(trace, 8, |id| {
            PartySummary::of(id, parties.get(id).map(|r| &**r))
        });
        assert_eq!(written, serde_json::to_value(&view).unwrap());
        let read_back: TraceView = serde_json::from_value(written).unwrap();
        assert_eq!(read_back, view);
    }
}

/// Through the cache: events copied from the cached JSON are the events written afresh.
#[test]
fn cached_event_json_is_written_event_json() {
    use ledger_store::{CommitGroup, EventIndex, LedgerStore, LotEntry, NewEvent, StoredEvent};
    let facts = graph();
    let mut by_sequence: std::collections::BTreeMap<u64, Vec<(LotId, LotFact)>> =
        Default::default();
    for (lot, list) in &facts.0 {
        for fact in list {
            by_sequence
                .entry(fact.sequence)
                .or_default()
                .push((lot.clone(), fact.clone()));
        }
    }
    let store = Arc::new(ledger_store::MemStore::new());
    let events = by_sequence
        .into_iter()
        .map(|(sequence, lots)| NewEvent {
            event: StoredEvent {
                sequence,
                hash: lots[0].1.hash,
                recorded_at: chrono::DateTime::from_timestamp_millis(1_764_000_000_000).unwrap(),
                body: vec![sequence as u8],
                signature: [0; 64],
            },
            index: EventIndex {
                // Every lot's record (below) says it was created at sequence 0.
                lots: lots
                    .into_iter()
                    .map(|(lot, fact)| LotEntry {
                        lot,
                        created_at_sequence: 0,
                        fact,
                    })
                    .collect(),
                ..EventIndex::default()
            },
        })
        .collect();
    store
        .commit(&CommitGroup {
            events,
            lots: facts
                .0
                .keys()
                .map(|lot| ledger_store::conformance::lot_record(lot.as_str(), 0))
                .collect(),
            ..CommitGroup::default()
        })
        .unwrap();
    let shared: Arc<dyn LedgerStore> = store;
    let cache = query_api::facts::LedgerCache::new(shared, 1000);
    let parties = HashMap::new();
    for trace in [
        downstream(&cache, &lot("A"), &TraceOptions::default())
            .unwrap()
            .unwrap(),
        upstream(&cache, &lot("B"), &TraceOptions::default())
            .unwrap()
            .unwrap(),
    ] {
        let cached: HashMap<LotId, _> = trace
            .lots
            .iter()
            .map(|l| {
                (
                    l.lot_id.clone(),
                    cache.cached_lot(&l.lot_id).expect("cached by the trace"),
                )
            })
            .collect();
        let copied = serde_json::to_string(&TraceJson {
            trace: &trace,
            as_of: 8,
            parties: &parties,
            cached: &cached,
        })
        .unwrap();
        let written = serde_json::to_string(&TraceJson {
            trace: &trace,
            as_of: 8,
            parties: &parties,
            cached: &HashMap::new(),
        })
        .unwrap();
        assert_eq!(copied, written);
    }
}
