//! End to end: a real node on loopback with RocksDB in a temp dir, driven over gRPC.

use chrono::{DateTime, Duration, FixedOffset};
use district_synth::{
    Recorder, lot, origin, quantity, quick_test, recall, receive, ship, text, transform,
};
use foodtrace_tests::{TestNode, authority, epoch, party, recently};
use ledger_core::EventHash;
use ledger_core::model::{
    EventKind, PartyRole, PartyStatus, Receiving, ReceivingSource, RevokeKey, SetPartyStatus,
    Stage, TransformKind,
};
use ledger_proto::pb;
use ledger_proto::pb::ledger_client::LedgerClient;
use prost::Message;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

type Client = LedgerClient<Channel>;

/// Submits and expects a receipt.
async fn ok(client: &mut Client, signed: (pb::SignedEvent, EventHash)) -> EventHash {
    let (event, hash) = signed;
    let receipt = client
        .submit(event)
        .await
        .unwrap_or_else(|status| panic!("refused: {status:?}"))
        .into_inner();
    assert_eq!(receipt.event_hash, hash.as_bytes().to_vec());
    assert!(!receipt.duplicate);
    hash
}

/// Submits and expects a refusal with this code and message.
async fn refused(client: &mut Client, event: pb::SignedEvent, code: Code, message: &str) {
    let before = ledger_size(client).await;
    match client.submit(event).await {
        Ok(receipt) => panic!(
            "admitted, expected {code:?} '{message}': {:?}",
            receipt.into_inner()
        ),
        Err(status) => {
            assert_eq!(status.code(), code, "{}", status.message());
            assert_eq!(status.message(), message);
        }
    }
    assert_eq!(
        ledger_size(client).await,
        before,
        "a refused event stored something"
    );
}

/// The number of events, found by probing sequence numbers.
async fn ledger_size(client: &mut Client) -> u64 {
    let (mut low, mut high) = (0u64, 1u64 << 20);
    while low < high {
        let mid = (low + high) / 2;
        let found = client
            .get_event(pb::GetEventRequest {
                key: Some(pb::get_event_request::Key::Sequence(mid)),
            })
            .await
            .is_ok();
        if found { low = mid + 1 } else { high = mid }
    }
    low
}

struct Cast {
    authority: Recorder,
    producer: Recorder,
    market: Recorder,
    warehouse: Recorder,
    retailer: Recorder,
    canteen: Recorder,
    kitchen: Recorder,
    distributor: Recorder,
}

async fn register_cast(client: &mut Client) -> Cast {
    let cast = Cast {
        authority: authority(),
        producer: party(1, PartyRole::Producer),
        market: party(2, PartyRole::WholesaleMarket),
        warehouse: party(3, PartyRole::Warehouse),
        retailer: party(4, PartyRole::Retailer),
        canteen: party(5, PartyRole::Canteen),
        kitchen: party(6, PartyRole::CentralKitchen),
        distributor: party(7, PartyRole::Distributor),
    };
    for (member, name) in [
        (&cast.producer, "浑南绿源蔬菜合作社"),
        (&cast.market, "浑南农产品批发市场"),
        (&cast.warehouse, "浑南冷链仓储"),
        (&cast.retailer, "浑南生鲜超市"),
        (&cast.canteen, "浑南第一小学食堂"),
        (&cast.kitchen, "浑南中央厨房"),
        (&cast.distributor, "浑南食品配送"),
    ] {
        ok(
            client,
            cast.authority
                .register(epoch(), member, name, district_synth::HUNNAN),
        )
        .await;
    }
    cast
}

fn at(minutes_ago: i64) -> DateTime<FixedOffset> {
    recently(minutes_ago)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_supply_path_is_recorded_and_survives_a_restart() {
    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let c = register_cast(&mut client).await;

    // Farm to market to warehouse to shop; market to canteen.
    let o = ok(
        &mut client,
        c.producer.sign(
            at(600),
            origin(
                "CAB-001",
                "大白菜",
                "vegetable",
                "1000",
                "kg",
                "2026-11-27",
                "HG-001",
            ),
        ),
    )
    .await;
    let s1 = ok(
        &mut client,
        c.producer.sign(
            at(590),
            ship("CAB-001", "1000", "kg", c.market.id(), "SH-1", o),
        ),
    )
    .await;
    let me = ok(
        &mut client,
        c.market.sign(
            at(580),
            receive(
                Stage::MarketEntry,
                "CAB-001",
                "1000",
                "kg",
                s1,
                Some("HG-001"),
            ),
        ),
    )
    .await;
    ok(
        &mut client,
        c.market.sign(at(575), quick_test("CAB-001", true)),
    )
    .await;
    let s2 = ok(
        &mut client,
        c.market.sign(
            at(570),
            ship("CAB-001", "400", "kg", c.warehouse.id(), "SH-2", me),
        ),
    )
    .await;
    let wh = ok(
        &mut client,
        c.warehouse.sign(
            at(560),
            receive(Stage::Warehouse, "CAB-001", "400", "kg", s2, None),
        ),
    )
    .await;
    let s3 = ok(
        &mut client,
        c.warehouse.sign(
            at(550),
            ship("CAB-001", "100", "kg", c.retailer.id(), "SH-3", wh),
        ),
    )
    .await;
    ok(
        &mut client,
        c.retailer.sign(
            at(540),
            receive(Stage::Retail, "CAB-001", "100", "kg", s3, None),
        ),
    )
    .await;
    let s4 = ok(
        &mut client,
        c.market.sign(
            at(530),
            ship("CAB-001", "50", "kg", c.canteen.id(), "SH-4", me),
        ),
    )
    .await;
    ok(
        &mut client,
        c.canteen.sign(
            at(520),
            receive(Stage::Canteen, "CAB-001", "50", "kg", s4, Some("HG-001")),
        ),
    )
    .await;

    // A split by the warehouse, a merge by the market, a central kitchen's meal.
    ok(
        &mut client,
        c.warehouse.sign(
            at(510),
            transform(
                TransformKind::Split,
                &[("CAB-001", "200", wh)],
                "kg",
                ("CAB-001-A", "大白菜 小包装", "vegetable", "200"),
            ),
        ),
    )
    .await;
    let o2 = ok(
        &mut client,
        c.producer.sign(
            at(500),
            origin(
                "CAB-002",
                "大白菜",
                "vegetable",
                "300",
                "kg",
                "2026-11-27",
                "HG-002",
            ),
        ),
    )
    .await;
    let s5 = ok(
        &mut client,
        c.producer.sign(
            at(495),
            ship("CAB-002", "300", "kg", c.market.id(), "SH-5", o2),
        ),
    )
    .await;
    let me2 = ok(
        &mut client,
        c.market.sign(
            at(490),
            receive(
                Stage::MarketEntry,
                "CAB-002",
                "300",
                "kg",
                s5,
                Some("HG-002"),
            ),
        ),
    )
    .await;
    let merged = ok(
        &mut client,
        c.market.sign(
            at(485),
            transform(
                TransformKind::Merge,
                &[("CAB-001", "100", me), ("CAB-002", "300", me2)],
                "kg",
                ("CAB-MIX-1", "大白菜 混批", "vegetable", "400"),
            ),
        ),
    )
    .await;
    let s6 = ok(
        &mut client,
        c.market.sign(
            at(480),
            ship("CAB-MIX-1", "400", "kg", c.kitchen.id(), "SH-6", merged),
        ),
    )
    .await;
    let k1 = ok(
        &mut client,
        c.kitchen.sign(
            at(470),
            receive(Stage::Canteen, "CAB-MIX-1", "400", "kg", s6, None),
        ),
    )
    .await;
    let o3 = ok(
        &mut client,
        c.producer.sign(
            at(465),
            origin(
                "PORK-01",
                "猪肉",
                "meat",
                "80",
                "kg",
                "2026-11-27",
                "HG-003",
            ),
        ),
    )
    .await;
    let s7 = ok(
        &mut client,
        c.producer.sign(
            at(460),
            ship("PORK-01", "80", "kg", c.kitchen.id(), "SH-7", o3),
        ),
    )
    .await;
    let k2 = ok(
        &mut client,
        c.kitchen.sign(
            at(455),
            receive(Stage::Canteen, "PORK-01", "80", "kg", s7, None),
        ),
    )
    .await;
    let meal = ok(
        &mut client,
        c.kitchen.sign(
            at(450),
            transform(
                TransformKind::Process,
                &[("CAB-MIX-1", "30", k1), ("PORK-01", "10", k2)],
                "kg",
                ("MEAL-1128", "白菜炖肉 学生餐", "prepared meal", "40"),
            ),
        ),
    )
    .await;
    let s8 = ok(
        &mut client,
        c.kitchen.sign(
            at(445),
            ship("MEAL-1128", "40", "kg", c.canteen.id(), "SH-8", meal),
        ),
    )
    .await;
    ok(
        &mut client,
        c.canteen.sign(
            at(440),
            receive(Stage::Canteen, "MEAL-1128", "40", "kg", s8, None),
        ),
    )
    .await;
    ok(
        &mut client,
        c.authority
            .sign(at(430), recall("PORK-01", "疑似食源性疾病")),
    )
    .await;
    // A distributor records a receipt from a supplier that recorded no shipment.
    ok(
        &mut client,
        c.distributor.sign(
            at(420),
            EventKind::Receiving(
                Stage::Warehouse,
                Receiving {
                    lot_id: lot("CAB-002"),
                    quantity: quantity("20", "kg"),
                    source: ReceivingSource::Supplier(c.market.id().clone()),
                    certificate_number: Some(text("HG-002")),
                    documents_checked: vec![text("手写送货单")],
                    product: None,
                },
            ),
        ),
    )
    .await;

    let history = |client: &mut Client, lot_id: &'static str| {
        let mut client = client.clone();
        async move {
            let page = client
                .list_lot_events(pb::ListLotEventsRequest {
                    lot_id: lot_id.into(),
                    after_sequence: None,
                    limit: 0,
                })
                .await
                .unwrap()
                .into_inner();
            page.events
                .iter()
                .map(|e| e.event_hash.clone())
                .collect::<Vec<_>>()
        }
    };
    let cabbage = history(&mut client, "CAB-001").await;
    // Its own 10 events, plus the split and the merge that consumed it.
    assert_eq!(cabbage.len(), 12);
    assert_eq!(cabbage[0], o.as_bytes().to_vec());
    let meal_history = history(&mut client, "MEAL-1128").await;
    assert_eq!(meal_history.len(), 3);
    let n_events = ledger_size(&mut client).await;

    // Stop, reopen the same directory: everything is still there, and it goes on.
    let node = node.restart().await;
    let mut client = node.ledger().await;
    assert_eq!(ledger_size(&mut client).await, n_events);
    assert_eq!(history(&mut client, "CAB-001").await, cabbage);
    let by_hash = client
        .get_event(pb::GetEventRequest {
            key: Some(pb::get_event_request::Key::EventHash(
                meal.as_bytes().to_vec(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let body = pb::EventBody::decode(by_hash.event.unwrap().body.as_slice()).unwrap();
    assert!(matches!(
        body.kind,
        Some(pb::event_body::Kind::Transform(_))
    ));
    let party = node
        .registry()
        .await
        .get_party(pb::GetPartyRequest {
            party_id: c.kitchen.id().to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(party.name, "浑南中央厨房");
    assert_eq!(party.contact, "", "contacts are inspector-only");
    assert_eq!(party.status, pb::PartyStatus::Active as i32);
    assert_eq!(
        party.keys[0].key_id,
        c.kitchen.signer().key_id().to_string()
    );
    ok(
        &mut client,
        c.retailer.sign(at(10), quick_test("CAB-001", false)),
    )
    .await;
    assert_eq!(ledger_size(&mut client).await, n_events + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_names_its_field_and_stores_nothing() {
    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let c = register_cast(&mut client).await;
    let o = ok(
        &mut client,
        c.producer.sign(
            at(100),
            origin(
                "LOT-1",
                "黄瓜",
                "vegetable",
                "500",
                "kg",
                "2026-11-27",
                "HG-1",
            ),
        ),
    )
    .await;
    let s = ok(
        &mut client,
        c.producer
            .sign(at(99), ship("LOT-1", "500", "kg", c.market.id(), "SH-1", o)),
    )
    .await;
    let me = ok(
        &mut client,
        c.market.sign(
            at(98),
            receive(Stage::MarketEntry, "LOT-1", "500", "kg", s, None),
        ),
    )
    .await;

    // Signatures and keys.
    let (mut forged, _) = c.producer.sign(at(97), quick_test("LOT-1", true));
    forged.signature[0] ^= 1;
    refused(
        &mut client,
        forged,
        Code::Unauthenticated,
        &format!(
            "signature: does not verify under key {} of party {}",
            c.producer.signer().key_id(),
            c.producer.id()
        ),
    )
    .await;
    let (mut moved, _) = c.producer.sign(at(97), quick_test("LOT-1", true));
    moved.signature = c
        .producer
        .sign(at(96), quick_test("LOT-1", false))
        .0
        .signature;
    refused(
        &mut client,
        moved,
        Code::Unauthenticated,
        &format!(
            "signature: does not verify under key {} of party {}",
            c.producer.signer().key_id(),
            c.producer.id()
        ),
    )
    .await;
    let stranger = party(99, PartyRole::Retailer);
    refused(
        &mut client,
        stranger.sign(at(97), quick_test("LOT-1", true)).0,
        Code::Unauthenticated,
        &format!(
            "body.signer_party_id: party {} is not registered",
            stranger.id()
        ),
    )
    .await;
    // Party A's key used for party B's event: B's id, A's key.
    let impostor = district_synth::Recorder::new(
        c.market.id().clone(),
        PartyRole::WholesaleMarket,
        ed25519_dalek::SigningKey::from_bytes(&[0x11; 32]),
    );
    let impostor_key = impostor.signer().key_id();
    refused(
        &mut client,
        impostor.sign(at(97), quick_test("LOT-1", true)).0,
        Code::Unauthenticated,
        &format!(
            "body.key_id: party {} has no key {impostor_key}",
            c.market.id()
        ),
    )
    .await;
    refused(&mut client, c.producer.sign(epoch() - Duration::days(366), quick_test("LOT-1", true)).0, Code::PermissionDenied,
        &format!("body.occurred_at: 2024-01-01T08:00:00+08:00 is outside the validity of key {} (2024-01-02T08:00:00+08:00 to open)", c.producer.signer().key_id())).await;
    let future = (chrono::Utc::now() + Duration::hours(1)).fixed_offset();
    let refusal = client
        .submit(c.producer.sign(future, quick_test("LOT-1", true)).0)
        .await
        .unwrap_err();
    assert_eq!(refusal.code(), Code::InvalidArgument);
    assert!(
        refusal.message().starts_with("body.occurred_at: ")
            && refusal
                .message()
                .contains("is more than 5 minutes after the node's clock"),
        "{}",
        refusal.message()
    );

    // Authority-only kinds.
    refused(
        &mut client,
        c.market.sign(at(95), recall("LOT-1", "no")).0,
        Code::PermissionDenied,
        &format!(
            "body.signer_party_id: only the authority may record RECALL; {} is not the authority",
            c.market.id()
        ),
    )
    .await;
    refused(&mut client, c.market.register(at(95), &party(50, PartyRole::Retailer), "x", "210112").0, Code::PermissionDenied,
        &format!("body.signer_party_id: only the authority may record REGISTER_PARTY; {} is not the authority", c.market.id())).await;

    // Links and lots.
    refused(
        &mut client,
        c.retailer
            .sign(at(94), receive(Stage::Retail, "LOT-1", "10", "kg", s, None))
            .0,
        Code::PermissionDenied,
        &format!(
            "body.retail.shipment_event: shipment {s} is addressed to {}, not to the signer {}",
            c.market.id(),
            c.retailer.id()
        ),
    )
    .await;
    refused(
        &mut client,
        c.market
            .sign(
                at(94),
                receive(Stage::MarketEntry, "LOT-1", "10", "kg", o, None),
            )
            .0,
        Code::FailedPrecondition,
        &format!("body.market_entry.shipment_event: event {o} is a ORIGIN, not a SHIP"),
    )
    .await;
    refused(
        &mut client,
        c.market
            .sign(
                at(94),
                receive(Stage::MarketEntry, "LOT-1", "600", "kg", s, None),
            )
            .0,
        Code::FailedPrecondition,
        "body.market_entry.quantity.amount: 600 kg received is more than the 500 kg shipped",
    )
    .await;
    refused(
        &mut client,
        c.producer
            .sign(
                at(94),
                origin("LOT-1", "黄瓜", "vegetable", "1", "kg", "2026-11-27", "HG"),
            )
            .0,
        Code::AlreadyExists,
        &format!(
            "body.origin.lot.lot_id: lot LOT-1 already exists (created by {} at sequence 8)",
            c.producer.id()
        ),
    )
    .await;
    refused(
        &mut client,
        c.producer
            .sign(
                at(94),
                ship("NO-SUCH-LOT", "1", "kg", c.market.id(), "D", o),
            )
            .0,
        Code::NotFound,
        "body.ship.lot_id: no lot NO-SUCH-LOT",
    )
    .await;
    refused(
        &mut client,
        c.retailer
            .sign(at(94), ship("LOT-1", "1", "kg", c.canteen.id(), "D", me))
            .0,
        Code::FailedPrecondition,
        &format!(
            "body.ship.previous_event: event {me} leaves lot LOT-1 with {}, not with the signer {}",
            c.market.id(),
            c.retailer.id()
        ),
    )
    .await;
    let missing = EventHash([7; 32]);
    refused(
        &mut client,
        c.market
            .sign(
                at(94),
                ship("LOT-1", "1", "kg", c.canteen.id(), "D", missing),
            )
            .0,
        Code::NotFound,
        &format!("body.ship.previous_event: no event {missing}"),
    )
    .await;
    refused(
        &mut client,
        c.market
            .sign(at(94), ship("LOT-1", "1", "kg", stranger.id(), "D", me))
            .0,
        Code::NotFound,
        &format!(
            "body.ship.recipient_party_id: party {} is not registered",
            stranger.id()
        ),
    )
    .await;
    refused(
        &mut client,
        c.market
            .sign(
                at(94),
                transform(
                    TransformKind::Process,
                    &[("GHOST", "1", me)],
                    "kg",
                    ("OUT-1", "x", "y", "1"),
                ),
            )
            .0,
        Code::NotFound,
        "body.transform.inputs[0].lot_id: no lot GHOST",
    )
    .await;

    // Malformed bodies.
    let mut wire =
        ledger_proto::body_to_wire(&c.producer.signer().body(at(93), quick_test("LOT-1", true)));
    if let Some(pb::event_body::Kind::Inspection(inspection)) = wire.kind.as_mut() {
        inspection.value = String::new();
    }
    refused(
        &mut client,
        sign_wire(&c.producer, &wire.encode_to_vec()),
        Code::InvalidArgument,
        "body.inspection.value: is required",
    )
    .await;
    let mut wire = ledger_proto::body_to_wire(
        &c.market
            .signer()
            .body(at(93), ship("LOT-1", "1", "kg", c.canteen.id(), "D", me)),
    );
    if let Some(pb::event_body::Kind::Ship(shipment)) = wire.kind.as_mut() {
        shipment.quantity.as_mut().unwrap().amount = "ten".into();
    }
    refused(
        &mut client,
        sign_wire(&c.market, &wire.encode_to_vec()),
        Code::InvalidArgument,
        "body.ship.quantity.amount: 'ten' is not a decimal number",
    )
    .await;
    let mut bytes = c.producer.sign(at(93), quick_test("LOT-1", true)).0.body;
    bytes.extend_from_slice(&[0xF8, 0x06, 0x01]); // field 111, varint 1: unknown to EventBody
    refused(&mut client, sign_wire(&c.producer, &bytes), Code::InvalidArgument,
        "body: is not in canonical encoding (fields out of order, default values written, or unknown fields)").await;
    refused(
        &mut client,
        sign_wire(&c.producer, &[0xFF, 0xFF, 0xFF]),
        Code::InvalidArgument,
        "body: is not a protobuf EventBody: failed to decode Protobuf message: invalid varint",
    )
    .await;
    refused(
        &mut client,
        pb::SignedEvent {
            body: vec![0x08, 0x01],
            signature: vec![0; 12],
        },
        Code::InvalidArgument,
        "signature: must be 64 bytes, got 12",
    )
    .await;
    refused(
        &mut client,
        pb::SignedEvent {
            body: vec![0x08; 64 * 1024 + 1],
            signature: vec![0; 64],
        },
        Code::InvalidArgument,
        "body: is 65537 bytes, at most 65536 allowed",
    )
    .await;
    // Far larger messages are stopped by the transport before they are even decoded.
    let huge = client
        .submit(pb::SignedEvent {
            body: vec![0x08; 1 << 20],
            signature: vec![0; 64],
        })
        .await
        .unwrap_err();
    assert_eq!(huge.code(), Code::OutOfRange, "{}", huge.message());

    // The registry calls take only their own kind.
    let wrong = node
        .registry()
        .await
        .add_key(c.producer.sign(at(92), quick_test("LOT-1", true)).0)
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
    assert_eq!(
        wrong.message(),
        "body.kind: this call takes a add_key event, got inspection"
    );

    // A resubmitted event gets its original receipt, and nothing new is stored.
    let (event, hash) = c.market.sign(at(91), quick_test("LOT-1", true));
    let first = client.submit(event.clone()).await.unwrap().into_inner();
    let size = ledger_size(&mut client).await;
    let again = client.submit(event).await.unwrap().into_inner();
    assert!(again.duplicate);
    assert_eq!(
        (
            again.sequence,
            again.event_hash.clone(),
            again.recorded_at.clone()
        ),
        (first.sequence, hash.as_bytes().to_vec(), first.recorded_at)
    );
    assert_eq!(ledger_size(&mut client).await, size);
}

fn sign_wire(signer: &Recorder, body: &[u8]) -> pb::SignedEvent {
    signer.signer().sign_bytes(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_parties_and_revoked_keys_are_refused() {
    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let mut registry = node.registry().await;
    let c = register_cast(&mut client).await;
    let o = ok(
        &mut client,
        c.producer.sign(
            at(100),
            origin("LOT-9", "苹果", "fruit", "50", "kg", "2026-11-27", "HG-9"),
        ),
    )
    .await;

    let suspend = |status| {
        EventKind::SetPartyStatus(SetPartyStatus {
            party_id: c.producer.id().clone(),
            status,
            reason: Some(text("无证经营")),
        })
    };
    registry
        .set_party_status(c.authority.sign(at(90), suspend(PartyStatus::Suspended)).0)
        .await
        .unwrap();
    refused(
        &mut client,
        c.producer
            .sign(at(89), ship("LOT-9", "5", "kg", c.market.id(), "D", o))
            .0,
        Code::PermissionDenied,
        &format!(
            "body.signer_party_id: party {} is suspended and may not record",
            c.producer.id()
        ),
    )
    .await;
    registry
        .set_party_status(c.authority.sign(at(88), suspend(PartyStatus::Active)).0)
        .await
        .unwrap();
    ok(
        &mut client,
        c.producer
            .sign(at(87), ship("LOT-9", "5", "kg", c.market.id(), "D", o)),
    )
    .await;

    let revoke = EventKind::RevokeKey(RevokeKey {
        party_id: c.producer.id().clone(),
        key_id: c.producer.signer().key_id(),
        reason: Some(text("key lost")),
    });
    registry
        .revoke_key(c.authority.sign(at(86), revoke).0)
        .await
        .unwrap();
    refused(
        &mut client,
        c.producer
            .sign(at(85), ship("LOT-9", "5", "kg", c.market.id(), "D2", o))
            .0,
        Code::PermissionDenied,
        &format!(
            "body.key_id: key {} of party {} is revoked",
            c.producer.signer().key_id(),
            c.producer.id()
        ),
    )
    .await;

    registry
        .set_party_status(c.authority.sign(at(84), suspend(PartyStatus::Revoked)).0)
        .await
        .unwrap();
    let reinstate = registry
        .set_party_status(c.authority.sign(at(83), suspend(PartyStatus::Active)).0)
        .await
        .unwrap_err();
    assert_eq!(reinstate.code(), Code::FailedPrecondition);
    assert_eq!(
        reinstate.message(),
        format!(
            "body.set_party_status.status: party {} is revoked, which is final",
            c.producer.id()
        )
    );
    let party = registry
        .get_party(pb::GetPartyRequest {
            party_id: c.producer.id().to_string(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(party.status, pb::PartyStatus::Revoked as i32);
    assert!(party.keys[0].revoked);
    let unknown = registry
        .get_party(pb::GetPartyRequest {
            party_id: "91210112MA0000999X".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(
        unknown
            .message()
            .starts_with("party_id: '91210112MA0000999X' has check character 'X', expected"),
        "{}",
        unknown.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_answers_every_event_in_order_and_goes_on_after_a_refusal() {
    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let c = register_cast(&mut client).await;
    let o = ok(
        &mut client,
        c.producer.sign(
            at(300),
            origin(
                "RICE-1",
                "大米",
                "grain",
                "10000",
                "kg",
                "2026-11-01",
                "HG-R",
            ),
        ),
    )
    .await;

    // The producer ships to the market 100 times; the market receives each. Every tenth
    // receipt names a lot that does not exist. Receipts depend on shipments sent earlier
    // in the same stream.
    let mut events = Vec::new();
    let mut expected_refusals = Vec::new();
    for i in 0..100i64 {
        let (shipment, shipment_hash) = c.producer.sign(
            at(290 - i),
            ship("RICE-1", "10", "kg", c.market.id(), &format!("D-{i}"), o),
        );
        events.push(shipment);
        let lot_id = if i % 10 == 9 { "RICE-404" } else { "RICE-1" };
        if i % 10 == 9 {
            expected_refusals.push(events.len() as u64);
        }
        events.push(
            c.market
                .sign(
                    at(290 - i),
                    receive(Stage::MarketEntry, lot_id, "10", "kg", shipment_hash, None),
                )
                .0,
        );
    }
    let n_events = events.len();
    let results: Vec<pb::SubmitResult> = client
        .submit_stream(tokio_stream::iter(events))
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(results.len(), n_events);
    let mut last_sequence = 0;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.index, i as u64);
        match result.outcome.as_ref().unwrap() {
            pb::submit_result::Outcome::Receipt(receipt) => {
                assert!(
                    !expected_refusals.contains(&(i as u64)),
                    "event {i} should be refused"
                );
                assert!(
                    receipt.sequence > last_sequence,
                    "receipts come in ledger order"
                );
                last_sequence = receipt.sequence;
            }
            pb::submit_result::Outcome::Refusal(refusal) => {
                assert!(
                    expected_refusals.contains(&(i as u64)),
                    "event {i} refused: {refusal:?}"
                );
                assert_eq!(refusal.code, Code::NotFound as i32);
                assert_eq!(refusal.field, "body.market_entry.lot_id");
                assert_eq!(refusal.message, "body.market_entry.lot_id: no lot RICE-404");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_receivers_record_against_one_lot_at_once() {
    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let c = register_cast(&mut client).await;
    let o = ok(
        &mut client,
        c.producer.sign(
            at(300),
            origin("EGG-1", "鸡蛋", "egg", "5000", "kg", "2026-11-01", "HG-E"),
        ),
    )
    .await;
    let s = ok(
        &mut client,
        c.producer
            .sign(at(299), ship("EGG-1", "5000", "kg", c.market.id(), "D", o)),
    )
    .await;
    let entry = ok(
        &mut client,
        c.market.sign(
            at(298),
            receive(Stage::MarketEntry, "EGG-1", "5000", "kg", s, None),
        ),
    )
    .await;
    let shops: Vec<Recorder> = (100..140)
        .map(|serial| party(serial, PartyRole::Retailer))
        .collect();
    for shop in &shops {
        ok(
            &mut client,
            c.authority.register(epoch(), shop, "小卖部", "210112"),
        )
        .await;
    }
    // Forty shops at once: the market ships to each, citing the same market entry, and
    // each shop receives its shipment. No one waits for anyone else's record.
    let tasks: Vec<_> = shops
        .into_iter()
        .enumerate()
        .map(|(i, shop)| {
            let mut client = client.clone();
            let (shipment, hash) = c.market.sign(
                at(200),
                ship("EGG-1", "100", "kg", shop.id(), &format!("D-{i}"), entry),
            );
            tokio::spawn(async move {
                client.submit(shipment).await.unwrap();
                client
                    .submit(
                        shop.sign(
                            at(199),
                            receive(Stage::Retail, "EGG-1", "100", "kg", hash, None),
                        )
                        .0,
                    )
                    .await
                    .unwrap()
                    .into_inner()
            })
        })
        .collect();
    let mut sequences = Vec::new();
    for task in tasks {
        sequences.push(task.await.unwrap().sequence);
    }
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(sequences.len(), 40);
    let page = client
        .list_lot_events(pb::ListLotEventsRequest {
            lot_id: "EGG-1".into(),
            after_sequence: None,
            limit: 1000,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.events.len(), 3 + 80);
    // Paging with a cursor walks the same events.
    let mut after = None;
    let mut walked = 0;
    loop {
        let page = client
            .list_lot_events(pb::ListLotEventsRequest {
                lot_id: "EGG-1".into(),
                after_sequence: after,
                limit: 25,
            })
            .await
            .unwrap()
            .into_inner();
        walked += page.events.len();
        match page.next_after_sequence {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, 83);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_and_http_status_answer() {
    let node = TestNode::start().await;
    let channel = node.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "foodtrace.v1.Ledger".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "foodtrace.v1.Ledger",
        "foodtrace.v1.Registry",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    let status: serde_json::Value = reqwest::get(format!("{}/v1/status", node.http_base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["n_events"], 1);
    assert_eq!(status["authority"], authority().id().to_string());
}

fn tree_hashes(hashes: &[Vec<u8>]) -> Vec<ledger_core::merkle::TreeHash> {
    hashes
        .iter()
        .map(|h| ledger_core::merkle::TreeHash(h.as_slice().try_into().unwrap()))
        .collect()
}

fn leaf_of(event: &pb::RecordedEvent) -> (u64, Vec<u8>, [u8; 64], i64) {
    let signed = event.event.clone().unwrap();
    let recorded_at = chrono::DateTime::parse_from_rfc3339(&event.recorded_at)
        .unwrap()
        .timestamp_millis();
    (
        event.sequence,
        signed.body,
        signed.signature.try_into().unwrap(),
        recorded_at,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_proven_in_signed_checkpoints_that_stay_consistent() {
    use ledger_core::checkpoint::LogVerifier;
    use ledger_core::proof::{
        EventLeaf, verify_checkpoints_consistent, verify_event_in_checkpoint,
    };
    use ledger_proto::pb::log_client::LogClient;

    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let mut log = LogClient::new(node.channel().await);
    let c = register_cast(&mut client).await;
    let info = log
        .get_log_info(pb::GetLogInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.origin, "foodtrace/ledger");
    let verifier = LogVerifier::parse(&info.verifier_key).unwrap();

    // Submit and wait for the proof: the receipt comes with a checkpoint that covers it.
    let (event, hash) = c.producer.sign(
        at(100),
        origin(
            "PROVEN-1",
            "黄瓜",
            "vegetable",
            "5",
            "kg",
            "2026-11-27",
            "HG",
        ),
    );
    let proven = log.submit_and_prove(event).await.unwrap().into_inner();
    let receipt = proven.receipt.unwrap();
    let proof = proven.proof.unwrap();
    assert_eq!(receipt.event_hash, hash.as_bytes().to_vec());
    let first_checkpoint = proof
        .checkpoint
        .clone()
        .expect("the proof is against a signed checkpoint");
    let (sequence, body, signature, recorded_at) = leaf_of(proof.event.as_ref().unwrap());
    assert_eq!(sequence, receipt.sequence);
    let leaf = EventLeaf {
        sequence,
        body: &body,
        signature: &signature,
        recorded_at_millis: recorded_at,
    };
    let checked = verify_event_in_checkpoint(
        &verifier,
        &first_checkpoint.note,
        &leaf,
        &tree_hashes(&proof.hashes),
    )
    .unwrap();
    assert!(checked.size > sequence);

    // Any changed byte of the proof, the body or the checkpoint is caught.
    let mut bad = tree_hashes(&proof.hashes);
    if let Some(first) = bad.first_mut() {
        first.0[0] ^= 1;
        assert!(
            verify_event_in_checkpoint(&verifier, &first_checkpoint.note, &leaf, &bad).is_err()
        );
    }
    let mut other_body = body.clone();
    *other_body.last_mut().unwrap() ^= 1;
    let forged = EventLeaf {
        body: &other_body,
        ..leaf
    };
    assert!(
        verify_event_in_checkpoint(
            &verifier,
            &first_checkpoint.note,
            &forged,
            &tree_hashes(&proof.hashes)
        )
        .is_err()
    );
    let tampered_note = first_checkpoint.note.replacen(
        &format!("\n{}\n", first_checkpoint.tree_size),
        &format!("\n{}\n", first_checkpoint.tree_size + 1),
        1,
    );
    assert!(
        verify_event_in_checkpoint(
            &verifier,
            &tampered_note,
            &leaf,
            &tree_hashes(&proof.hashes)
        )
        .is_err()
    );
    let stranger = LogVerifier::parse(
        &ledger_core::checkpoint::LogSigner::new(
            "foodtrace/ledger",
            ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
        )
        .unwrap()
        .verifier_key(),
    )
    .unwrap();
    assert!(
        verify_event_in_checkpoint(
            &stranger,
            &first_checkpoint.note,
            &leaf,
            &tree_hashes(&proof.hashes)
        )
        .is_err()
    );

    // More events, a restart, more events: every later checkpoint extends the first.
    for i in 0..20 {
        ok(
            &mut client,
            c.market.sign(at(90 - i), quick_test("PROVEN-1", true)),
        )
        .await;
    }
    let node = node.restart().await;
    let mut log = LogClient::new(node.channel().await);
    let (event, _) = c.market.sign(at(60), quick_test("PROVEN-1", false));
    let last = log.submit_and_prove(event).await.unwrap().into_inner();
    let latest = log
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: None,
            fresh: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(latest.tree_size > last.receipt.unwrap().sequence);
    // A fresh checkpoint, on request, covers everything committed.
    ok(
        &mut node.ledger().await,
        c.market.sign(at(59), quick_test("PROVEN-1", true)),
    )
    .await;
    let fresh = log
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: None,
            fresh: true,
        })
        .await
        .unwrap()
        .into_inner();
    let size_now = log
        .get_log_info(pb::GetLogInfoRequest {})
        .await
        .unwrap()
        .into_inner()
        .tree_size;
    assert_eq!(fresh.tree_size, size_now);
    assert_eq!(verifier.verify(&fresh.note).unwrap().size, size_now);
    let consistency = log
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: first_checkpoint.tree_size,
            new_size: latest.tree_size,
        })
        .await
        .unwrap()
        .into_inner();
    let (older, newer) = verify_checkpoints_consistent(
        &verifier,
        &first_checkpoint.note,
        &latest.note,
        &tree_hashes(&consistency.hashes),
    )
    .unwrap();
    assert!(older.size < newer.size);

    // The first event's inclusion in the latest tree, asked for by hash.
    let again = log
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            leaf: Some(pb::get_inclusion_proof_request::Leaf::EventHash(
                hash.as_bytes().to_vec(),
            )),
            tree_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.tree_size, fresh.tree_size);
    verify_event_in_checkpoint(
        &verifier,
        &again.checkpoint.unwrap().note,
        &leaf,
        &tree_hashes(&again.hashes),
    )
    .unwrap();

    // Requests that cannot be answered say why.
    let too_big = log
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            leaf: Some(pb::get_inclusion_proof_request::Leaf::Sequence(sequence)),
            tree_size: latest.tree_size + 1000,
        })
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), Code::InvalidArgument);
    assert!(
        too_big.message().starts_with("tree_size: "),
        "{}",
        too_big.message()
    );
    let backwards = log
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: 5,
            new_size: 4,
        })
        .await
        .unwrap_err();
    assert_eq!(backwards.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_from_one_day_and_a_proof_from_the_next_verify_with_the_cli_alone() {
    use foodtrace_tests::foodtrace;
    use std::process::ExitCode;

    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let c = register_cast(&mut client).await;
    let work = tempfile::tempdir().unwrap();
    let server = node.grpc_url();

    // Day one: pin the log key, keep the latest checkpoint.
    let (code, info) = foodtrace(&["log-info", "--server", &server]).await;
    assert_eq!(code, ExitCode::SUCCESS);
    let log_key = info
        .lines()
        .find_map(|l| l.strip_prefix("verifier key: "))
        .unwrap()
        .trim()
        .to_owned();
    let o = ok(
        &mut client,
        c.producer.sign(
            at(300),
            origin(
                "DAY1-LOT",
                "西红柿",
                "vegetable",
                "80",
                "kg",
                "2026-11-27",
                "HG-D1",
            ),
        ),
    )
    .await;
    let mut log = ledger_proto::pb::log_client::LogClient::new(node.channel().await);
    let (event, _) = c.producer.sign(
        at(299),
        ship("DAY1-LOT", "80", "kg", c.market.id(), "D1", o),
    );
    log.submit_and_prove(event).await.unwrap();
    let (code, day_one) = foodtrace(&["checkpoint", "--server", &server]).await;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(day_one.starts_with("foodtrace/ledger\n"), "{day_one}");
    let day_one_path = work.path().join("day-one.checkpoint");
    std::fs::write(&day_one_path, &day_one).unwrap();

    // Day two, after a restart: more events, then a proof of the day-one origin.
    let node = node.restart().await;
    let server = node.grpc_url();
    let mut client = node.ledger().await;
    for i in 0..10 {
        ok(
            &mut client,
            c.market.sign(at(100 - i), quick_test("DAY1-LOT", true)),
        )
        .await;
    }
    let mut log = ledger_proto::pb::log_client::LogClient::new(node.channel().await);
    log.submit_and_prove(c.market.sign(at(50), quick_test("DAY1-LOT", false)).0)
        .await
        .unwrap();
    let (code, bundle) = foodtrace(&[
        "prove",
        "--server",
        &server,
        "--event",
        &o.to_string(),
        "--since",
        day_one_path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS);
    let bundle_path = work.path().join("proof.json");
    std::fs::write(&bundle_path, &bundle).unwrap();

    // Offline: both verify against the pinned key alone.
    let (code, verdict) = foodtrace(&[
        "verify",
        "--log-key",
        &log_key,
        bundle_path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{verdict}");
    assert!(
        verdict.starts_with(&format!(
            "verified: event 8 (ORIGIN by {} at ",
            c.producer.id()
        )),
        "{verdict}"
    );
    assert!(
        verdict.contains("nothing before it was changed"),
        "{verdict}"
    );

    // A bundle with one changed byte is refused, and so is a foreign key.
    let mut json: serde_json::Value = serde_json::from_str(&bundle).unwrap();
    let body = json["event"]["body"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        &body[..body.len() - 1],
        if body.ends_with('0') { '1' } else { '0' }
    );
    json["event"]["body"] = serde_json::Value::String(flipped);
    let tampered_path = work.path().join("tampered.json");
    std::fs::write(&tampered_path, json.to_string()).unwrap();
    let (code, verdict) = foodtrace(&[
        "verify",
        "--log-key",
        &log_key,
        tampered_path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        verdict.starts_with("NOT VERIFIED: inclusion: "),
        "{verdict}"
    );
    let foreign = ledger_core::checkpoint::LogSigner::new(
        "foodtrace/ledger",
        ed25519_dalek::SigningKey::from_bytes(&[2; 32]),
    )
    .unwrap()
    .verifier_key();
    let (code, verdict) = foodtrace(&[
        "verify",
        "--log-key",
        &foreign,
        bundle_path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        verdict.starts_with("NOT VERIFIED: checkpoint signature: "),
        "{verdict}"
    );

    // And the whole ledger audits clean beside the running node.
    let (code, report) = foodtrace(&[
        "audit",
        "--data-dir",
        node.data_dir().to_str().unwrap(),
        "--log-key",
        &log_key,
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    // Genesis, 7 registrations, the origin and shipment, 11 quick tests.
    assert!(report.starts_with("ok: 21 events and "), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_verify_a_live_log_and_catch_a_fork_with_both_checkpoints() {
    use foodtrace_tests::foodtrace;
    use std::process::ExitCode;

    // Node A: the real log. A follower keeps its checkpoint.
    let node_a = TestNode::start().await;
    let mut client = node_a.ledger().await;
    let c = register_cast(&mut client).await;
    let mut log_a = ledger_proto::pb::log_client::LogClient::new(node_a.channel().await);
    log_a
        .submit_and_prove(
            c.producer
                .sign(
                    at(200),
                    origin("REAL-1", "鸡蛋", "egg", "30", "kg", "2026-11-27", "HG"),
                )
                .0,
        )
        .await
        .unwrap();
    let info = log_a
        .get_log_info(pb::GetLogInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let verifier = ledger_core::checkpoint::LogVerifier::parse(&info.verifier_key).unwrap();
    let held = log_a
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: None,
            fresh: false,
        })
        .await
        .unwrap()
        .into_inner();
    let work = tempfile::tempdir().unwrap();
    let held_path = work.path().join("held.checkpoint");
    std::fs::write(&held_path, &held.note).unwrap();

    // A live follower sees new checkpoints as they are signed.
    let server_a = node_a.grpc_url();
    let (sizes_tx, mut sizes) = tokio::sync::mpsc::unbounded_channel();
    let live = {
        let verifier = verifier.clone();
        let server_a = server_a.clone();
        tokio::spawn(async move {
            let server_a = foodtrace_cli::ServerArgs::plain(server_a);
            foodtrace_cli::follow::follow(&server_a, &verifier, None, false, |c| {
                let _ = sizes_tx.send(c.size);
            })
            .await
        })
    };
    for i in 0..5 {
        ok(
            &mut client,
            c.market.sign(at(150 - i), quick_test("REAL-1", true)),
        )
        .await;
    }
    let target = held.tree_size + 5;
    loop {
        let size = sizes.recv().await.expect("the follower keeps reporting");
        if size >= target {
            break;
        }
    }
    live.abort();

    // The whole log audits clean from the server, containing the held checkpoint.
    let (code, report) = foodtrace(&[
        "audit",
        "--server",
        &server_a,
        "--log-key",
        &info.verifier_key,
        "--known",
        held_path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, ExitCode::SUCCESS, "{report}");
    assert!(
        report.starts_with(&format!("ok: {target} events and ")),
        "{report}"
    );

    // Node B: the same log key, a different history (the operator rewrote the past).
    let b_dir = tempfile::tempdir().unwrap();
    for file in ["node.key", "log-origin"] {
        std::fs::copy(node_a.data_dir().join(file), b_dir.path().join(file)).unwrap();
    }
    let node_b = TestNode::start_in(b_dir.path().to_path_buf()).await;
    let mut client_b = node_b.ledger().await;
    let c_b = register_cast(&mut client_b).await;
    let mut log_b = ledger_proto::pb::log_client::LogClient::new(node_b.channel().await);
    log_b
        .submit_and_prove(
            c_b.producer
                .sign(
                    at(199),
                    origin("FAKE-1", "鸡蛋", "egg", "30", "kg", "2026-11-27", "HG"),
                )
                .0,
        )
        .await
        .unwrap();
    let (code, verdict) = foodtrace(&[
        "follow",
        "--server",
        &node_b.grpc_url(),
        "--log-key",
        &info.verifier_key,
        "--known",
        held_path.to_str().unwrap(),
        "--until-caught-up",
    ])
    .await;
    assert_eq!(code, ExitCode::from(2), "{verdict}");
    assert!(
        verdict.contains(&format!(
            "FORK: the first {} events shown now have root ",
            held.tree_size
        )),
        "{verdict}"
    );
    assert!(
        verdict.contains(&held.note),
        "the evidence holds the checkpoint held before"
    );
    let shown = log_b
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: Some(held.tree_size),
            fresh: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        verdict.contains(&shown.note),
        "the evidence holds the forked checkpoint: {verdict}"
    );
    // Both checkpoints verify under the same key: the fork is provable to anyone.
    assert!(verifier.verify(&held.note).is_ok() && verifier.verify(&shown.note).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_serves_checkpoints_and_proofs_that_verify() {
    use foodtrace_tests::foodtrace;
    use std::process::ExitCode;

    let node = TestNode::start().await;
    let mut client = node.ledger().await;
    let c = register_cast(&mut client).await;
    let mut log = ledger_proto::pb::log_client::LogClient::new(node.channel().await);
    let (event, hash) = c.producer.sign(
        at(30),
        origin("HTTP-1", "大米", "grain", "500", "kg", "2026-11-20", "HG"),
    );
    log.submit_and_prove(event).await.unwrap();
    let base = node.http_base();
    let http = reqwest::Client::new();

    let info: serde_json::Value = http
        .get(format!("{base}/v1/log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log_key = info["verifier_key"].as_str().unwrap().to_owned();
    let verifier = ledger_core::checkpoint::LogVerifier::parse(&log_key).unwrap();
    let checkpoint = http
        .get(format!("{base}/v1/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        checkpoint.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let note = checkpoint.text().await.unwrap();
    let stated = verifier.verify(&note).unwrap();

    // An inclusion proof over HTTP is a proof bundle the CLI verifies offline.
    let bundle = http
        .get(format!("{base}/v1/proofs/inclusion?event_hash={hash}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let bundle = bundle.text().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("bundle.json");
    std::fs::write(&path, &bundle).unwrap();
    let (code, verdict) =
        foodtrace(&["verify", "--log-key", &log_key, path.to_str().unwrap()]).await;
    assert_eq!(code, ExitCode::SUCCESS, "{verdict}");

    // A consistency proof from the first checkpoint to the latest.
    let first = http
        .get(format!("{base}/v1/checkpoint?tree_size=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first_size = verifier.verify(&first).unwrap().size;
    let proof: serde_json::Value = http
        .get(format!(
            "{base}/v1/proofs/consistency?old_size={first_size}&new_size={}",
            stated.size
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hashes: Vec<ledger_core::merkle::TreeHash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            ledger_core::merkle::TreeHash(
                hex::decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap(),
            )
        })
        .collect();
    ledger_core::proof::verify_checkpoints_consistent(&verifier, &first, &note, &hashes).unwrap();

    // Bad parameters get a problem document naming the parameter.
    for (query, parameter, status) in [
        ("event_hash=xyz", "event_hash", 400),
        ("sequence=ten", "sequence", 400),
        (
            &format!("event_hash={}", "00".repeat(32)) as &str,
            "event_hash",
            404,
        ),
        ("sequence=1&tree_size=100000", "tree_size", 404),
    ] {
        let response = http
            .get(format!("{base}/v1/proofs/inclusion?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{query}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["parameter"], parameter, "{query}: {problem}");
        assert_eq!(problem["status"], status);
    }
    let unknown = http
        .get(format!(
            "{base}/v1/proofs/consistency?old_size=1&new_size=2&extra=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}
