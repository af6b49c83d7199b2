//! Recall traces over HTTP: a real node, real RocksDB, a small district with a split, a
//! central kitchen's meal and a canteen reached two ways; inspector authentication.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use district_synth::{Recorder, origin, quick_test, recall, receive, ship, transform};
use foodtrace_tests::{TestNode, authority, epoch, foodtrace, foodtrace_failure, party};
use ledger_core::EventHash;
use ledger_core::model::{PartyRole, Stage, TransformKind};
use ledger_proto::pb;
use ledger_proto::pb::ledger_client::LedgerClient;
use query_api::views::{EventsPage, LotView, LotsPage, PartyEventsPage, PartyView, TraceView};
use tonic::transport::Channel;

type Client = LedgerClient<Channel>;

async fn ok(client: &mut Client, signed: (pb::SignedEvent, EventHash)) -> (EventHash, u64) {
    foodtrace_tests::admitted(client, signed).await
}

/// Times are fixed so hashes and the CLI's snapshots are the same on every run.
fn at(minutes_ago: i64) -> DateTime<FixedOffset> {
    foodtrace_tests::fixed_time(minutes_ago)
}

/// The district of this test and the sequence numbers of its events.
pub struct Scene {
    producer: Recorder,
    pig_farm: Recorder,
    market: Recorder,
    retailer: Recorder,
    canteen: Recorder,
    kitchen: Recorder,
    school: Recorder,
    origin: u64,
    to_market: u64,
    at_market: u64,
    split_a: u64,
    to_canteen: u64,
    meal: u64,
    recall: u64,
}

/// Cabbage lot CAB-001 goes to the market, which splits it: CAB-001-A to a supermarket
/// and a canteen, CAB-001-B to a central kitchen, which cooks it with pork into
/// MEAL-1128 for a school and for the same canteen (reached two ways). Then the
/// authority recalls CAB-001.
async fn record_scene(client: &mut Client) -> Scene {
    let authority = authority();
    let producer = party(1, PartyRole::Producer);
    let pig_farm = party(8, PartyRole::Producer);
    let market = party(2, PartyRole::WholesaleMarket);
    let retailer = party(4, PartyRole::Retailer);
    let canteen = party(5, PartyRole::Canteen);
    let kitchen = party(6, PartyRole::CentralKitchen);
    let school = party(9, PartyRole::Canteen);
    for (member, name) in [
        (&producer, "浑南绿源蔬菜合作社"),
        (&pig_farm, "浑南生猪养殖场"),
        (&market, "浑南农产品批发市场"),
        (&retailer, "浑南生鲜超市"),
        (&canteen, "浑南第一小学食堂"),
        (&kitchen, "浑南中央厨房"),
        (&school, "浑南实验中学食堂"),
    ] {
        ok(
            client,
            authority.register(epoch(), member, name, district_synth::HUNNAN),
        )
        .await;
    }
    let kg = "kg";
    let (o, origin_seq) = ok(
        client,
        producer.sign(
            at(600),
            origin(
                "CAB-001",
                "大白菜",
                "vegetable",
                "1000",
                kg,
                "2026-11-27",
                "HG-001",
            ),
        ),
    )
    .await;
    let (s1, to_market) = ok(
        client,
        producer.sign(at(590), ship("CAB-001", "1000", kg, market.id(), "SD-1", o)),
    )
    .await;
    let (r1, at_market) = ok(
        client,
        market.sign(
            at(580),
            receive(
                Stage::MarketEntry,
                "CAB-001",
                "1000",
                kg,
                s1,
                Some("HG-001"),
            ),
        ),
    )
    .await;
    ok(client, market.sign(at(575), quick_test("CAB-001", true))).await;
    let (sp1, split_a) = ok(
        client,
        market.sign(
            at(570),
            transform(
                TransformKind::Split,
                &[("CAB-001", "300", r1)],
                kg,
                ("CAB-001-A", "大白菜", "vegetable", "300"),
            ),
        ),
    )
    .await;
    let (sp2, _) = ok(
        client,
        market.sign(
            at(569),
            transform(
                TransformKind::Split,
                &[("CAB-001", "500", r1)],
                kg,
                ("CAB-001-B", "大白菜", "vegetable", "500"),
            ),
        ),
    )
    .await;
    let (s2, _) = ok(
        client,
        market.sign(
            at(560),
            ship("CAB-001-A", "200", kg, retailer.id(), "SD-2", sp1),
        ),
    )
    .await;
    ok(
        client,
        retailer.sign(
            at(555),
            receive(Stage::Retail, "CAB-001-A", "200", kg, s2, None),
        ),
    )
    .await;
    let (s3, to_canteen) = ok(
        client,
        market.sign(
            at(550),
            ship("CAB-001-A", "100", kg, canteen.id(), "SD-3", sp1),
        ),
    )
    .await;
    ok(
        client,
        canteen.sign(
            at(545),
            receive(Stage::Canteen, "CAB-001-A", "100", kg, s3, None),
        ),
    )
    .await;
    let (s4, _) = ok(
        client,
        market.sign(
            at(540),
            ship("CAB-001-B", "500", kg, kitchen.id(), "SD-4", sp2),
        ),
    )
    .await;
    let (r4, _) = ok(
        client,
        kitchen.sign(
            at(535),
            receive(Stage::Warehouse, "CAB-001-B", "500", kg, s4, None),
        ),
    )
    .await;
    let (o2, _) = ok(
        client,
        pig_farm.sign(
            at(530),
            origin("PORK-7", "猪肉", "meat", "200", kg, "2026-11-27", "HG-777"),
        ),
    )
    .await;
    let (s5, _) = ok(
        client,
        pig_farm.sign(at(525), ship("PORK-7", "200", kg, kitchen.id(), "SD-5", o2)),
    )
    .await;
    let (r5, _) = ok(
        client,
        kitchen.sign(
            at(520),
            receive(Stage::Warehouse, "PORK-7", "200", kg, s5, None),
        ),
    )
    .await;
    let (t, meal) = ok(
        client,
        kitchen.sign(
            at(500),
            transform(
                TransformKind::Process,
                &[("CAB-001-B", "50", r4), ("PORK-7", "20", r5)],
                kg,
                ("MEAL-1128", "白菜炖肉", "meal", "70"),
            ),
        ),
    )
    .await;
    let (s6, _) = ok(
        client,
        kitchen.sign(at(490), ship("MEAL-1128", "40", kg, school.id(), "SD-6", t)),
    )
    .await;
    ok(
        client,
        school.sign(
            at(485),
            receive(Stage::Canteen, "MEAL-1128", "40", kg, s6, None),
        ),
    )
    .await;
    let (s7, _) = ok(
        client,
        kitchen.sign(
            at(480),
            ship("MEAL-1128", "30", kg, canteen.id(), "SD-7", t),
        ),
    )
    .await;
    ok(
        client,
        canteen.sign(
            at(475),
            receive(Stage::Canteen, "MEAL-1128", "30", kg, s7, None),
        ),
    )
    .await;
    let (_, recall_seq) = ok(
        client,
        authority.sign(at(100), recall("CAB-001", "李斯特菌检出")),
    )
    .await;
    Scene {
        producer,
        pig_farm,
        market,
        retailer,
        canteen,
        kitchen,
        school,
        origin: origin_seq,
        to_market,
        at_market,
        split_a,
        to_canteen,
        meal,
        recall: recall_seq,
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request")
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self.get(path).await;
        assert_eq!(
            response.status(),
            200,
            "{path}: {}",
            response.text().await.unwrap()
        );
        response.json().await.expect("json")
    }

    async fn problem(&self, path: &str, status: u16) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        response.json().await.expect("problem json")
    }
}

async fn start() -> (TestNode, Scene, Api) {
    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let scene = record_scene(&mut client).await;
    let token = node.add_inspector("li.wei");
    let api = Api {
        http: reqwest::Client::new(),
        base: node.http_base(),
        token,
    };
    (node, scene, api)
}

fn ids(parties: &[&Recorder]) -> BTreeSet<String> {
    parties.iter().map(|p| p.id().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_trace_finds_every_lot_and_party_with_paths() {
    let (_node, s, api) = start().await;
    let trace: TraceView = api.json("/v1/lots/CAB-001/trace/down").await;
    let lots: Vec<(&str, u32)> = trace
        .lots
        .iter()
        .map(|l| (l.lot_id.as_str(), l.depth))
        .collect();
    assert_eq!(
        lots,
        [
            ("CAB-001", 0),
            ("CAB-001-A", 1),
            ("CAB-001-B", 1),
            ("MEAL-1128", 2)
        ]
    );
    let affected: BTreeSet<String> = trace
        .parties
        .iter()
        .filter(|p| p.affected)
        .map(|p| p.party.party_id.clone())
        .collect();
    assert_eq!(
        affected,
        ids(&[
            &s.producer,
            &s.market,
            &s.retailer,
            &s.canteen,
            &s.kitchen,
            &s.school
        ]),
        "the pig farm is upstream of the meal, not downstream of the cabbage"
    );
    let recaller = trace
        .parties
        .iter()
        .find(|p| !p.affected)
        .expect("the authority");
    assert_eq!(recaller.involvements, ["recaller"]);

    // The canteen is reached twice (cabbage A, and the meal); its path is the first way.
    let canteen = trace
        .parties
        .iter()
        .find(|p| p.party.party_id == s.canteen.id().to_string())
        .unwrap();
    assert_eq!(canteen.party.name.as_deref(), Some("浑南第一小学食堂"));
    assert_eq!(canteen.party.contact.as_deref(), Some("024-2378 0000"));
    assert_eq!(canteen.involvements, ["recipient", "canteen"]);
    assert_eq!(canteen.first_event, s.to_canteen);
    assert_eq!(canteen.first_quantity.as_deref(), Some("100 kg"));
    assert_eq!(
        canteen.events.len(),
        4,
        "two shipments to it and two receipts"
    );
    let path = canteen.path.clone();
    assert_eq!(
        path,
        [s.origin, s.to_market, s.at_market, s.split_a, s.to_canteen]
    );
    let kinds: Vec<&str> = canteen
        .path
        .iter()
        .map(|s| trace.event(*s).unwrap().kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        ["origin", "shipped", "received", "produced", "shipped"]
    );

    // The meal's lot came by the kitchen's transform from CAB-001-B.
    let meal = trace.lots.iter().find(|l| l.lot_id == "MEAL-1128").unwrap();
    assert_eq!(meal.via_event, Some(s.meal));
    assert_eq!(meal.via_lot.as_deref(), Some("CAB-001-B"));
    assert_eq!(meal.product_name.as_deref(), Some("白菜炖肉"));
    assert_eq!(trace.lots[0].recalls, [s.recall]);
    assert!(!trace.truncated);
    // Events are each reported once, ascending; the transform on its output lot.
    let sequences: Vec<u64> = trace.events.iter().map(|e| e.sequence).collect();
    assert!(sequences.windows(2).all(|w| w[0] < w[1]));
    let cook = trace.events.iter().find(|e| e.sequence == s.meal).unwrap();
    assert_eq!(
        (cook.kind.as_str(), cook.lot_id.as_str()),
        ("produced", "MEAL-1128")
    );
    assert_eq!(cook.inputs.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_options_bound_and_filter() {
    let (_node, s, api) = start().await;
    // Depth 1 stops before the meal.
    let trace: TraceView = api.json("/v1/lots/CAB-001/trace/down?max_depth=1").await;
    assert!(trace.truncated);
    assert!(trace.lots.iter().all(|l| l.lot_id != "MEAL-1128"));
    assert!(
        trace
            .parties
            .iter()
            .all(|p| p.party.party_id != s.school.id().to_string())
    );

    // Only canteen receipts.
    let trace: TraceView = api.json("/v1/lots/CAB-001/trace/down?stage=canteen").await;
    let stages: BTreeSet<&str> = trace
        .events
        .iter()
        .filter_map(|e| e.stage.as_deref())
        .collect();
    assert_eq!(stages, BTreeSet::from(["canteen"]));
    assert_eq!(
        trace.lots.len(),
        4,
        "the filter does not stop the traversal"
    );

    // As of the canteen's first shipment: no meal, no recall.
    let trace: TraceView = api
        .json(&format!(
            "/v1/lots/CAB-001/trace/down?as_of={}",
            s.to_canteen
        ))
        .await;
    assert_eq!(trace.as_of, s.to_canteen);
    assert!(trace.events.iter().all(|e| e.sequence <= s.to_canteen));
    assert!(trace.lots.iter().all(|l| l.lot_id != "MEAL-1128"));
    assert!(trace.lots[0].recalls.is_empty());

    // A window that ends before the split reports only the first events.
    let until = at(565).to_rfc3339();
    let trace: TraceView = api
        .json(&format!(
            "/v1/lots/CAB-001/trace/down?until={}",
            urlencode(&until)
        ))
        .await;
    let until = chrono::DateTime::parse_from_rfc3339(&until).unwrap();
    assert!(
        trace
            .events
            .iter()
            .all(|e| { chrono::DateTime::parse_from_rfc3339(&e.occurred_at).unwrap() < until })
    );
    assert!(trace.events.iter().any(|e| e.sequence == s.split_a));
    assert!(trace.events.iter().all(|e| e.sequence < s.to_canteen));
    assert_eq!(
        trace.lots.len(),
        4,
        "the window does not stop the traversal"
    );
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_trace_follows_custody_back_to_every_origin() {
    let (_node, s, api) = start().await;
    let trace: TraceView = api.json("/v1/lots/MEAL-1128/trace/up").await;
    let lots: BTreeSet<(&str, u32)> = trace
        .lots
        .iter()
        .map(|l| (l.lot_id.as_str(), l.depth))
        .collect();
    assert_eq!(
        lots,
        BTreeSet::from([
            ("MEAL-1128", 0),
            ("CAB-001-B", 1),
            ("PORK-7", 1),
            ("CAB-001", 2)
        ])
    );
    let parties: BTreeSet<String> = trace
        .parties
        .iter()
        .map(|p| p.party.party_id.clone())
        .collect();
    let mut expected = ids(&[&s.kitchen, &s.market, &s.producer, &s.pig_farm]);
    expected.insert(authority().id().to_string());
    assert_eq!(
        parties, expected,
        "the siblings' buyers are not where the meal came from"
    );
    let origins: BTreeSet<&str> = trace
        .events
        .iter()
        .filter(|e| e.kind == "origin")
        .map(|e| e.certificate_number.as_deref().unwrap())
        .collect();
    assert_eq!(origins, BTreeSet::from(["HG-001", "HG-777"]));
    assert!(
        trace
            .events
            .iter()
            .any(|e| e.kind == "inspected" && e.result.as_deref() == Some("pass"))
    );
    assert!(trace.events.iter().any(|e| e.sequence == s.recall));
    assert!(trace.events.iter().all(|e| e.lot_id != "CAB-001-A"));
    let producer = trace
        .parties
        .iter()
        .find(|p| p.party.party_id == s.producer.id().to_string())
        .unwrap();
    let path = producer.path.clone();
    assert_eq!(path.first(), Some(&s.meal));
    assert_eq!(path.last(), Some(&s.origin));

    // The canteen's own custody of cabbage A: a holder's trace starts from its receipt.
    let trace: TraceView = api
        .json(&format!(
            "/v1/lots/CAB-001-A/trace/up?holder={}",
            s.canteen.id()
        ))
        .await;
    let parties: BTreeSet<String> = trace
        .parties
        .iter()
        .map(|p| p.party.party_id.clone())
        .collect();
    assert!(parties.contains(&s.canteen.id().to_string()));
    assert!(!parties.contains(&s.retailer.id().to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lot_shows_its_history_and_inherits_recalls_from_upstream() {
    let (_node, s, api) = start().await;
    let meal: LotView = api.json("/v1/lots/MEAL-1128").await;
    assert_eq!(meal.product_name, "白菜炖肉");
    assert_eq!(meal.created_by.party_id, s.kitchen.id().to_string());
    assert!(meal.recalled);
    assert_eq!(meal.recalls.len(), 1);
    assert_eq!(meal.recalls[0].lot_id, "CAB-001");
    assert!(meal.recalls[0].inherited);
    assert_eq!(meal.recalls[0].reason, "李斯特菌检出");
    let kinds: Vec<&str> = meal.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["produced", "shipped", "received", "shipped", "received"]
    );
    assert_eq!(
        meal.events[1].links,
        [s.meal],
        "the shipment follows the transform"
    );

    // Paged.
    let first: LotView = api.json("/v1/lots/MEAL-1128?limit=2").await;
    assert_eq!(first.events.len(), 2);
    let next = first.next_after.expect("more");
    let rest: LotView = api.json(&format!("/v1/lots/MEAL-1128?after={next}")).await;
    assert_eq!(rest.events.len(), 3);
    assert_eq!(rest.next_after, None);

    // What the ledger knew before the recall.
    let before: LotView = api
        .json(&format!("/v1/lots/MEAL-1128?as_of={}", s.recall - 1))
        .await;
    assert!(!before.recalled);

    let cabbage: LotView = api.json("/v1/lots/CAB-001").await;
    assert!(cabbage.recalled && !cabbage.recalls[0].inherited);
    assert_eq!(cabbage.inspections.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_and_events_for_inspectors() {
    let (_node, s, api) = start().await;
    let kitchen: PartyView = api.json(&format!("/v1/parties/{}", s.kitchen.id())).await;
    assert_eq!(kitchen.party.name.as_deref(), Some("浑南中央厨房"));
    assert_eq!(kitchen.party.role.as_deref(), Some("central_kitchen"));
    assert_eq!(kitchen.party.status.as_deref(), Some("active"));
    assert_eq!(kitchen.keys.len(), 1);
    assert_eq!(
        kitchen.keys[0].key_id,
        s.kitchen.signer().key_id().to_string()
    );

    // The kitchen's events by time, paged with a cursor, equal the whole list.
    let all: PartyEventsPage = api
        .json(&format!("/v1/parties/{}/events?limit=100", s.kitchen.id()))
        .await;
    assert_eq!(
        all.events.len(),
        8,
        "registration, receipts, transform, shipments, and those it was named in"
    );
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => format!("/v1/parties/{}/events?limit=2", s.kitchen.id()),
            Some(c) => format!("/v1/parties/{}/events?limit=2&cursor={c}", s.kitchen.id()),
        };
        let page: PartyEventsPage = api.json(&path).await;
        paged.extend(page.events);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, all.events);

    let event: serde_json::Value = api.json(&format!("/v1/events/{}", s.meal)).await;
    assert_eq!(event["kind"], "TRANSFORM");
    assert_eq!(event["links"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_problem_documents_naming_the_parameter() {
    let (_node, s, api) = start().await;
    let unregistered = format!(
        "/v1/parties/{}",
        district_synth::party_id(district_synth::HUNNAN, 990)
    );
    let bad_cursor = format!("/v1/parties/{}/events?cursor=x", s.kitchen.id());
    for (path, status, parameter) in [
        ("/v1/lots/NOPE-1", 404, "lot"),
        ("/v1/lots/NOPE-1/trace/down", 404, "lot"),
        ("/v1/lots/CAB-001/trace/sideways", 404, "direction"),
        (
            "/v1/lots/CAB-001/trace/down?max_depth=deep",
            400,
            "max_depth",
        ),
        ("/v1/lots/CAB-001/trace/down?as_of=-1", 400, "as_of"),
        ("/v1/lots/CAB-001/trace/down?stage=kitchen", 400, "stage"),
        ("/v1/lots/CAB-001/trace/down?from=yesterday", 400, "from"),
        (
            "/v1/lots/CAB-001/trace/down?holder=91210112MA0000001X",
            400,
            "holder",
        ),
        ("/v1/lots/%20bad%20/trace/up", 400, "lot"),
        ("/v1/lots/CAB-001?limit=0", 400, "limit"),
        ("/v1/parties/123", 400, "party"),
        (unregistered.as_str(), 404, "party"),
        (bad_cursor.as_str(), 400, "cursor"),
        ("/v1/events/99999", 404, "sequence"),
    ] {
        let problem = api.problem(path, status).await;
        assert_eq!(problem["parameter"], parameter, "{path}: {problem}");
        assert_eq!(problem["status"], status);
    }
    let problem = api
        .problem("/v1/lots/CAB-001/trace/down?depth=2", 400)
        .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown parameter 'depth'")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_routes_need_a_valid_unrevoked_token() {
    let (node, _s, api) = start().await;
    let url = format!("{}/v1/lots/CAB-001/trace/down", api.base);
    let response = api.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("bearer token"));

    let response = api
        .http
        .get(&url)
        .bearer_auth("ft_not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["detail"], "this inspector token is not recognised");

    // The public routes need nothing.
    let response = api
        .http
        .get(format!("{}/v1/status", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A second inspector added while the node runs is let in at once.
    let other = node.add_inspector("zhang.min");
    let response = api.http.get(&url).bearer_auth(&other).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // A revoked token is refused within a second or so.
    node.revoke_inspector("li.wei");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = api.get("/v1/lots/CAB-001/trace/down").await;
        if response.status() == 403 {
            let problem: serde_json::Value = response.json().await.unwrap();
            assert_eq!(
                problem["detail"],
                "the token of inspector 'li.wei' has been revoked"
            );
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(
            std::time::Instant::now() < deadline,
            "revocation never took effect"
        );
        tokio::task::yield_now().await;
    }
    let response = api.http.get(&url).bearer_auth(&other).send().await.unwrap();
    assert_eq!(response.status(), 200, "the other inspector is unaffected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_see_new_events_as_they_arrive() {
    let (node, s, api) = start().await;
    let before: TraceView = api.json("/v1/lots/MEAL-1128/trace/down").await;
    assert_eq!(before.parties.iter().filter(|p| p.affected).count(), 3);
    // The kitchen ships more of the meal to the retailer, who receives it.
    let mut client = node.ledger().await;
    let meal_lot: LotView = api.json("/v1/lots/MEAL-1128").await;
    let created = EventHash::from_hex(&meal_lot.events[0].hash).unwrap();
    let (shipment, _) = ok(
        &mut client,
        s.kitchen.sign(
            at(10),
            ship("MEAL-1128", "5", "kg", s.retailer.id(), "SD-9", created),
        ),
    )
    .await;
    ok(
        &mut client,
        s.retailer.sign(
            at(5),
            receive(Stage::Retail, "MEAL-1128", "5", "kg", shipment, None),
        ),
    )
    .await;
    let after: TraceView = api.json("/v1/lots/MEAL-1128/trace/down").await;
    assert_eq!(after.parties.iter().filter(|p| p.affected).count(), 4);
    assert_eq!(after.events.len(), before.events.len() + 2);
    // And the cabbage's downstream trace, which reaches the meal, sees them too.
    let cabbage: TraceView = api.json("/v1/lots/CAB-001/trace/down").await;
    let retailer = cabbage
        .parties
        .iter()
        .find(|p| p.party.party_id == s.retailer.id().to_string())
        .unwrap();
    assert_eq!(retailer.events.len(), 4);
}

/// The inspector's CLI against the node: every format, snapshots of what a person reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_cli_prints_traces_lots_and_parties() {
    let (_node, s, api) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("api = \"{}\"\ntoken = \"{}\"\n", api.base, api.token),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out) = foodtrace(&args).await;
        assert_eq!(code, std::process::ExitCode::SUCCESS);
        out
    };
    let with = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--config".to_owned(), config.to_owned()]);
        all
    };

    let table = run(with(&["trace", "down", "CAB-001"])).await;
    expect_test::expect_file!["snapshots/trace-down-CAB-001.txt"].assert_eq(&table);
    let table = run(with(&["trace", "up", "MEAL-1128"])).await;
    expect_test::expect_file!["snapshots/trace-up-MEAL-1128.txt"].assert_eq(&table);
    let csv = run(with(&["trace", "down", "CAB-001", "--format", "csv"])).await;
    expect_test::expect_file!["snapshots/trace-down-CAB-001.csv"].assert_eq(&csv);
    let dot = run(with(&["trace", "down", "CAB-001", "--format", "dot"])).await;
    expect_test::expect_file!["snapshots/trace-down-CAB-001.dot"].assert_eq(&dot);

    let json = run(with(&["trace", "down", "CAB-001", "--format", "json"])).await;
    let from_cli: TraceView = serde_json::from_str(&json).unwrap();
    let from_api: TraceView = api.json("/v1/lots/CAB-001/trace/down").await;
    assert_eq!(from_cli, from_api);

    let svg_path = dir.path().join("recall.svg");
    let said = run(with(&[
        "trace",
        "down",
        "CAB-001",
        "--format",
        "svg",
        "--output",
        svg_path.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(said, format!("wrote {}\n", svg_path.display()));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.contains("<svg"),
        "{}",
        &svg[..200.min(svg.len())]
    );
    for label in ["CAB-001-A", "MEAL-1128", "浑南实验中学食堂", "RECALLED"] {
        assert!(svg.contains(label), "the picture shows {label}");
    }
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("trace-down-CAB-001.svg");
    std::fs::write(&target, &svg).unwrap();

    let lot = run(with(&["lot", "show", "MEAL-1128"])).await;
    expect_test::expect_file!["snapshots/lot-show-MEAL-1128.txt"].assert_eq(&lot);
    let party = run(with(&["party", "show", &s.kitchen.id().to_string()])).await;
    expect_test::expect_file!["snapshots/party-show-kitchen.txt"].assert_eq(&party);
    let lots = run(with(&["lots", "--product", "大白菜"])).await;
    expect_test::expect_file!["snapshots/lots-cabbage.txt"].assert_eq(&lots);
    let recalls = run(with(&["events", "--kind", "recall"])).await;
    expect_test::expect_file!["snapshots/events-recall.txt"].assert_eq(&recalls);
    let events = run(with(&[
        "events",
        "--party",
        &s.kitchen.id().to_string(),
        "--from",
        "2026-11-27",
        "--limit",
        "3",
    ]))
    .await;
    expect_test::expect_file!["snapshots/events-kitchen.txt"].assert_eq(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_tells_an_unknown_lot_a_refused_token_and_a_dead_server_apart() {
    let (_node, _s, api) = start().await;
    let (code, message) = foodtrace_failure(&[
        "trace", "down", "NOPE-9", "--api", &api.base, "--token", &api.token,
    ])
    .await;
    assert_eq!(code, foodtrace_cli::api::EXIT_NOT_FOUND);
    assert_eq!(
        message,
        "not found (404 Not Found): no lot 'NOPE-9' in the ledger"
    );

    let (code, message) = foodtrace_failure(&[
        "lot", "show", "CAB-001", "--api", &api.base, "--token", "ft_wrong",
    ])
    .await;
    assert_eq!(code, foodtrace_cli::api::EXIT_REFUSED);
    assert!(message.contains("refused the token"), "{message}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let (code, message) = foodtrace_failure(&[
        "party",
        "show",
        "91210112MA00000016",
        "--api",
        &dead,
        "--token",
        &api.token,
    ])
    .await;
    assert_eq!(code, foodtrace_cli::api::EXIT_UNREACHABLE);
    assert!(
        message.starts_with(&format!("cannot reach the query API at {dead}")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lots_and_events_are_searchable_by_product_party_kind_and_time() {
    let (_node, s, api) = start().await;
    let names = |page: &LotsPage| {
        page.lots
            .iter()
            .map(|l| l.lot_id.clone())
            .collect::<Vec<_>>()
    };
    let cabbage: LotsPage = api
        .json("/v1/lots?product=%E5%A4%A7%E7%99%BD%E8%8F%9C")
        .await;
    assert_eq!(names(&cabbage), ["CAB-001", "CAB-001-A", "CAB-001-B"]);
    let by_market: LotsPage = api.json(&format!("/v1/lots?party={}", s.market.id())).await;
    assert_eq!(names(&by_market), ["CAB-001-A", "CAB-001-B"]);
    let both: LotsPage = api
        .json(&format!(
            "/v1/lots?product=%E5%A4%A7%E7%99%BD%E8%8F%9C&party={}",
            s.producer.id()
        ))
        .await;
    assert_eq!(names(&both), ["CAB-001"]);
    let all: LotsPage = api.json("/v1/lots").await;
    assert_eq!(all.lots.len(), 5);
    let window: LotsPage = api
        .json(&format!(
            "/v1/lots?from={}&until={}",
            urlencode(&at(569).to_rfc3339()),
            urlencode(&at(500).to_rfc3339())
        ))
        .await;
    assert_eq!(
        names(&window),
        ["CAB-001-B", "PORK-7"],
        "from is inclusive, until exclusive"
    );
    let first: LotsPage = api.json("/v1/lots?limit=2").await;
    let rest: LotsPage = api
        .json(&format!(
            "/v1/lots?cursor={}",
            first.next_cursor.clone().unwrap()
        ))
        .await;
    assert_eq!([names(&first), names(&rest)].concat(), names(&all));

    let recalls: EventsPage = api.json("/v1/events?kind=RECALL").await;
    assert_eq!(recalls.events.len(), 1);
    assert_eq!(recalls.events[0].sequence, s.recall);
    let canteens: EventsPage = api.json("/v1/events?kind=canteen").await;
    assert_eq!(canteens.events.len(), 3);
    assert!(canteens.events.iter().all(|e| e.kind == "CANTEEN"));
    let problem = api.problem("/v1/events?kind=FRY", 400).await;
    assert_eq!(problem["parameter"], "kind");
    let problem = api.problem("/v1/lots?party=nobody", 400).await;
    assert_eq!(problem["parameter"], "party");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_neither_repeats_nor_skips_while_events_keep_arriving() {
    let (node, s, api) = start().await;
    let before: EventsPage = api.json("/v1/events?limit=1000").await;
    let existing: BTreeSet<u64> = before.events.iter().map(|e| e.sequence).collect();
    // Meanwhile, the market records quick tests dated all along the timeline, some
    // before the pages already read and some after.
    let mut client = node.ledger().await;
    let market = s.market;
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            ok(
                &mut client,
                market.sign(at(700 - 10 * i), quick_test("CAB-001", i % 2 == 0)),
            )
            .await;
        }
    });
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/events?limit=3".to_owned(),
            Some(c) => format!("/v1/events?limit=3&cursor={c}"),
        };
        let page: EventsPage = api.json(&path).await;
        seen.extend(page.events.iter().map(|e| e.sequence));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    writer.await.unwrap();
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no event is on two pages");
    assert!(
        existing.is_subset(&unique),
        "every event there before paging began is seen"
    );
}

/// The query API on its own, over the node's data directory as a RocksDB secondary:
/// the same answers, and new events show up as it catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_query_api_reads_a_secondary_that_keeps_up() {
    let (node, s, api) = start().await;
    let secondary_dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        ledger_rocksdb::RocksStore::open_secondary(
            &node.data_dir().join("ledger"),
            secondary_dir.path(),
        )
        .unwrap(),
    );
    query_api::standalone::spawn_catch_up(store.clone(), std::time::Duration::from_millis(10));
    let inspectors =
        query_api::auth::Inspectors::from_file(&node.data_dir().join("inspector-tokens")).unwrap();
    let key = query_api::standalone::read_verifier_key(node.data_dir())
        .unwrap()
        .expect("the node leaves its verifier key");
    let shared: std::sync::Arc<dyn ledger_store::LedgerStore> = store;
    let state = query_api::AppState::new(shared)
        .with_inspectors(inspectors)
        .with_verifier_key(&key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let reader = Api {
        http: reqwest::Client::new(),
        base: format!("http://{}", listener.local_addr().unwrap()),
        token: api.token.clone(),
    };
    tokio::spawn(async move { axum::serve(listener, query_api::router(state)).await });

    let from_node: TraceView = api.json("/v1/lots/CAB-001/trace/down").await;
    let from_reader: TraceView = reader.json("/v1/lots/CAB-001/trace/down").await;
    assert_eq!(from_reader, from_node);
    let log: serde_json::Value = reader.json("/v1/log").await;
    assert_eq!(log["verifier_key"], key);

    // The node records more; the reader sees it once it has caught up.
    let mut client = node.ledger().await;
    let meal: LotView = api.json("/v1/lots/MEAL-1128").await;
    let created = EventHash::from_hex(&meal.events[0].hash).unwrap();
    let (shipment, _) = ok(
        &mut client,
        s.kitchen.sign(
            at(10),
            ship("MEAL-1128", "5", "kg", s.retailer.id(), "SD-9", created),
        ),
    )
    .await;
    let (_, receipt) = ok(
        &mut client,
        s.retailer.sign(
            at(5),
            receive(Stage::Retail, "MEAL-1128", "5", "kg", shipment, None),
        ),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let trace: TraceView = reader.json("/v1/lots/CAB-001/trace/down").await;
        if trace.events.iter().any(|e| e.sequence == receipt) {
            assert_eq!(
                trace,
                api.json::<TraceView>("/v1/lots/CAB-001/trace/down").await
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never caught up"
        );
        tokio::task::yield_now().await;
    }
    let events: EventsPage = reader.json("/v1/events?kind=RETAIL").await;
    assert_eq!(events.events.len(), 2);
}

/// The benchmark's city generator, small: every event is admitted, and its landmark
/// lots have the shape the benchmark promises (a wholesale lot split 50 ways with about
/// 200 receivers downstream; a school meal with about 25 origins upstream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_city_generator_makes_the_traces_the_benchmark_measures() {
    use tokio_stream::StreamExt;
    let node = TestNode::start().await;
    let token = node.add_inspector("bench");
    let mut events = Vec::new();
    let landmarks = district_synth::city::generate_city(
        &authority(),
        &district_synth::city::CityScale::small(),
        7,
        at(0),
        |batch| events.extend(batch),
    );
    assert_eq!(landmarks.n_events, events.len());
    let mut client = node.ledger().await;
    let results: Vec<pb::SubmitResult> = client
        .submit_stream(tokio_stream::iter(events))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;
    let refused: Vec<_> = results
        .iter()
        .filter(|r| !matches!(r.outcome, Some(pb::submit_result::Outcome::Receipt(_))))
        .collect();
    assert!(refused.is_empty(), "{:?}", refused.first());
    let api = Api {
        http: reqwest::Client::new(),
        base: node.http_base(),
        token,
    };
    let down: TraceView = api
        .json(&format!("/v1/lots/{}/trace/down", landmarks.busy_lot))
        .await;
    let children = down.lots.iter().filter(|l| l.depth == 1).count();
    assert_eq!(children, 50, "the lot is split 50 ways");
    assert!(
        down.lots.len() <= 61,
        "and a few meals cooked from its children"
    );
    let receivers = down
        .parties
        .iter()
        .filter(|p| {
            p.involvements
                .iter()
                .any(|i| ["warehouse", "retail", "canteen"].contains(&i.as_str()))
        })
        .count();
    assert!((120..=215).contains(&receivers), "{receivers} receivers");
    let up: TraceView = api
        .json(&format!("/v1/lots/{}/trace/up", landmarks.school_meal))
        .await;
    let origins = up.events.iter().filter(|e| e.kind == "origin").count();
    // The meal, its 25 ingredient lots, and the wholesale lot each was split from
    // (one origin each; a small city repeats some, the benchmark's city hardly any).
    assert!((10..=25).contains(&origins), "{origins} origins");
    assert_eq!(up.lots.len(), 1 + 25 + origins);
}
