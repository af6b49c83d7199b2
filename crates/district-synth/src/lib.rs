//! A synthetic district: parties, lots and supply chains, as signed events.
//!
//! Sizes come from the Hunnan District plan (../shared/DOMAIN.md): about 120 producers,
//! 22 workshops, 7 wholesale markets, thousands of shops and canteens, 7 central
//! kitchens, a few labs and one authority. [`generate`] writes a whole district's
//! history in admission order: the authority registers everyone, producers create lots,
//! markets admit and quick-test them, shops, canteens and warehouses receive them,
//! central kitchens cook meals from many lots, and the authority recalls a lot that
//! failed its test. [`Recorder`] is the same machinery for tests and load generators:
//! it signs events as a party and remembers their hashes.
//!
//! Everything is deterministic for a given seed and end time.

use chrono::{DateTime, Duration, FixedOffset};
use ed25519_dalek::SigningKey;
use ledger_core::EventHash;
use ledger_core::ids::{LotId, PartyId};
use ledger_core::model::{
    CertificateBasis, EventKind, Inspection, InspectionKind, InspectionResult, LotInfo, Origin,
    PartyRole, Quantity, Recall, RecallSeverity, Receiving, ReceivingSource, RegionCode,
    RegisterParty, Shipment, Stage, Text, Transform, TransformInput, TransformKind,
};
use ledger_proto::{Signer, pb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub mod city;
pub mod load;

/// Hunnan District's GB/T 2260 code.
pub const HUNNAN: &str = "210112";

/// How many of each kind of party, and how many lots each producer makes.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Food production enterprises.
    pub producers: usize,
    /// Small workshops.
    pub workshops: usize,
    /// Wholesale and farmers' markets.
    pub markets: usize,
    /// Warehouses.
    pub warehouses: usize,
    /// Shops and supermarkets.
    pub retailers: usize,
    /// Canteens (schools first).
    pub canteens: usize,
    /// Central kitchens.
    pub central_kitchens: usize,
    /// Testing labs.
    pub labs: usize,
    /// Lots each producer or workshop creates.
    pub lots_per_producer: usize,
}

impl Scale {
    /// A district as the plan counts it, with a sample of its many shops and canteens
    /// (about 1,200 parties and 12,000 events).
    pub fn district() -> Scale {
        Scale {
            producers: 120,
            workshops: 22,
            markets: 7,
            warehouses: 30,
            retailers: 500,
            canteens: 480,
            central_kitchens: 7,
            labs: 3,
            lots_per_producer: 5,
        }
    }

    /// A few of each, for quick tests.
    pub fn tiny() -> Scale {
        Scale {
            producers: 4,
            workshops: 1,
            markets: 2,
            warehouses: 1,
            retailers: 4,
            canteens: 4,
            central_kitchens: 1,
            labs: 1,
            lots_per_producer: 2,
        }
    }
}

/// A party's unified social credit code: `91` (enterprise), the region, `MA` and a
/// seven-digit serial, with its check character.
pub fn party_id(region: &str, serial: usize) -> PartyId {
    PartyId::uscc_with_check(&format!("91{region}MA{serial:07}"))
        .expect("digits and capitals of the code alphabet")
}

/// The demo authority's id: a government body (`11`) in Hunnan.
pub fn authority_id() -> PartyId {
    PartyId::uscc_with_check(&format!("11{HUNNAN}MB0000001")).expect("valid code")
}

/// Makes parties with consecutive serials in the district and keys from a seeded RNG.
#[derive(Default)]
pub(crate) struct PartyMaker {
    serial: usize,
}

impl PartyMaker {
    /// `count` new parties of `role`.
    pub(crate) fn make(
        &mut self,
        role: PartyRole,
        count: usize,
        rng: &mut StdRng,
    ) -> Vec<Recorder> {
        (0..count)
            .map(|_| {
                self.serial += 1;
                Recorder::new(
                    party_id(HUNNAN, self.serial),
                    role,
                    SigningKey::from_bytes(&rng.r#gen()),
                )
            })
            .collect()
    }
}

/// Signs events as one party and keeps the clock moving forward.
pub struct Recorder {
    signer: Signer,
    role: PartyRole,
}

impl Recorder {
    /// A recorder for `party_id` with `key`.
    pub fn new(party_id: PartyId, role: PartyRole, key: SigningKey) -> Recorder {
        Recorder {
            signer: Signer::new(party_id, key),
            role,
        }
    }

    /// The party.
    pub fn id(&self) -> &PartyId {
        self.signer.party_id()
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Its role.
    pub fn role(&self) -> PartyRole {
        self.role
    }

    /// Signs `kind` at `at`, returning the event and its hash.
    pub fn sign(&self, at: DateTime<FixedOffset>, kind: EventKind) -> (pb::SignedEvent, EventHash) {
        let event = self.signer.sign(at, kind);
        let hash = ledger_core::contract::event_hash(&event.body);
        (event, hash)
    }

    /// The registration of `party` by this recorder (the authority).
    pub fn register(
        &self,
        at: DateTime<FixedOffset>,
        party: &Recorder,
        name: &str,
        region: &str,
    ) -> (pb::SignedEvent, EventHash) {
        self.sign(
            at,
            EventKind::RegisterParty(RegisterParty {
                party_id: party.id().clone(),
                name: text(name),
                role: party.role,
                region: RegionCode::parse(region).expect("region code"),
                contact: Some(text("024-2378 0000")),
                keys: vec![party.signer.grant(at - Duration::days(365))],
            }),
        )
    }
}

/// A text known to be valid.
pub fn text(value: &str) -> Text {
    Text::parse(value, 2000).expect("valid text")
}

/// A quantity known to be valid.
pub fn quantity(amount: &str, unit: &str) -> Quantity {
    Quantity::parse(amount, unit).expect("valid quantity")
}

/// A lot id known to be valid.
pub fn lot(id: &str) -> LotId {
    LotId::parse(id).expect("valid lot id")
}

/// An ORIGIN event's kind.
pub fn origin(
    lot_id: &str,
    product: &str,
    category: &str,
    amount: &str,
    unit: &str,
    produced: &str,
    certificate: &str,
) -> EventKind {
    EventKind::Origin(Origin {
        lot: LotInfo {
            lot_id: lot(lot_id),
            product_name: text(product),
            product_category: text(category),
            quantity: quantity(amount, unit),
        },
        production_date: chrono::NaiveDate::parse_from_str(produced, "%Y-%m-%d").expect("date"),
        origin_region: RegionCode::parse(HUNNAN).expect("region"),
        origin_place: text("浑南区 李相街道 蔬菜基地"),
        certificate_number: text(certificate),
        certificate_basis: CertificateBasis::SelfTest,
    })
}

/// A SHIP event's kind.
pub fn ship(
    lot_id: &str,
    amount: &str,
    unit: &str,
    to: &PartyId,
    document: &str,
    previous: EventHash,
) -> EventKind {
    EventKind::Ship(Shipment {
        lot_id: lot(lot_id),
        quantity: quantity(amount, unit),
        recipient: to.clone(),
        document_number: text(document),
        previous_event: previous,
    })
}

/// A receipt at `stage` of a recorded shipment.
pub fn receive(
    stage: Stage,
    lot_id: &str,
    amount: &str,
    unit: &str,
    shipment: EventHash,
    certificate: Option<&str>,
) -> EventKind {
    EventKind::Receiving(
        stage,
        Receiving {
            lot_id: lot(lot_id),
            quantity: quantity(amount, unit),
            source: ReceivingSource::Shipment {
                event: shipment,
                supplier: None,
            },
            certificate_number: certificate.map(text),
            documents_checked: vec![text("送货单"), text("发票")],
            product: None,
        },
    )
}

/// A TRANSFORM's kind: `inputs` are (lot, amount, the signer's event holding it).
pub fn transform(
    kind: TransformKind,
    inputs: &[(&str, &str, EventHash)],
    unit: &str,
    output: (&str, &str, &str, &str),
) -> EventKind {
    EventKind::Transform(Transform {
        kind,
        inputs: inputs
            .iter()
            .map(|(lot_id, amount, event)| TransformInput {
                lot_id: lot(lot_id),
                quantity: quantity(amount, unit),
                input_event: *event,
            })
            .collect(),
        output: LotInfo {
            lot_id: lot(output.0),
            product_name: text(output.1),
            product_category: text(output.2),
            quantity: quantity(output.3, unit),
        },
    })
}

/// A quick test's kind.
pub fn quick_test(lot_id: &str, passed: bool) -> EventKind {
    EventKind::Inspection(Inspection {
        lot_id: lot(lot_id),
        kind: InspectionKind::QuickTest,
        item: text("有机磷和氨基甲酸酯类农药残留"),
        method: text("GB/T 5009.199 酶抑制率法"),
        value: text(if passed {
            "抑制率 12%"
        } else {
            "抑制率 68%"
        }),
        result: if passed {
            InspectionResult::Pass
        } else {
            InspectionResult::Fail
        },
        report_number: Some(text("KJ-2026-0001")),
    })
}

/// A recall's kind.
pub fn recall(lot_id: &str, reason: &str) -> EventKind {
    EventKind::Recall(Recall {
        lot_id: lot(lot_id),
        reason: text(reason),
        severity: RecallSeverity::Level2,
    })
}

const PRODUCTS: [(&str, &str); 10] = [
    ("大白菜", "vegetable"),
    ("黄瓜", "vegetable"),
    ("西红柿", "vegetable"),
    ("猪肉", "meat"),
    ("牛肉", "meat"),
    ("鸡蛋", "egg"),
    ("大米", "grain"),
    ("鲜鱼", "aquatic"),
    ("豆腐", "soy product"),
    ("苹果", "fruit"),
];

/// A generated district: the signed events in admission order, and who is who.
pub struct District {
    /// Every event, genesis excluded, in an order the ledger admits.
    pub events: Vec<pb::SignedEvent>,
    /// Parties by role.
    pub parties: Vec<Recorder>,
    /// Lots worth showing, for the demo.
    pub showcase: Showcase,
}

/// Lots of a generated district that show what the public page does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Showcase {
    /// A lot that passed its quick test and went on to shops and canteens.
    pub on_sale: Option<String>,
    /// A lot recalled after it reached a central kitchen.
    pub recalled: Option<String>,
    /// A school meal cooked from the recalled lot.
    pub meal_with_recalled_ingredient: Option<String>,
    /// A lot that failed its quick test and was not recalled.
    pub failed_test: Option<String>,
}

/// Generates a district's history ending at `end`. The authority's own registration
/// (the genesis event) is not included: the node writes it when it initializes.
pub fn generate(
    authority: &Recorder,
    scale: &Scale,
    seed: u64,
    end: DateTime<FixedOffset>,
) -> District {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut parties = PartyMaker::default();
    let mut make = |role: PartyRole, count: usize, rng: &mut StdRng| parties.make(role, count, rng);
    let producers = make(PartyRole::Producer, scale.producers, &mut rng);
    let workshops = make(PartyRole::Workshop, scale.workshops, &mut rng);
    let markets = make(PartyRole::WholesaleMarket, scale.markets, &mut rng);
    let warehouses = make(PartyRole::Warehouse, scale.warehouses, &mut rng);
    let retailers = make(PartyRole::Retailer, scale.retailers, &mut rng);
    let canteens = make(PartyRole::Canteen, scale.canteens, &mut rng);
    let kitchens = make(PartyRole::CentralKitchen, scale.central_kitchens, &mut rng);
    let labs = make(PartyRole::TestingLab, scale.labs, &mut rng);

    let start = end - Duration::days(60);
    let mut clock = start;
    let mut tick = |minutes: i64| {
        clock += Duration::minutes(minutes);
        clock.min(end)
    };
    let mut events = Vec::new();
    let groups: [(&[Recorder], &str); 8] = [
        (&producers, "农产品生产企业"),
        (&workshops, "食品小作坊"),
        (&markets, "农产品批发市场"),
        (&warehouses, "冷链仓储"),
        (&retailers, "超市"),
        (&canteens, "学校食堂"),
        (&kitchens, "中央厨房"),
        (&labs, "检测中心"),
    ];
    for (group, label) in groups {
        for (i, party) in group.iter().enumerate() {
            let at = tick(0);
            events.push(
                authority
                    .register(at, party, &format!("浑南{label}{}号", i + 1), HUNNAN)
                    .0,
            );
        }
    }

    // Every lot goes producer -> market -> (quick test) -> shops, canteens, kitchens, warehouses.
    let makers: Vec<&Recorder> = producers.iter().chain(workshops.iter()).collect();
    let mut kitchen_stock: Vec<Vec<(String, EventHash)>> = vec![Vec::new(); kitchens.len()];
    let mut failed_lots = Vec::new();
    let mut showcase = Showcase::default();
    let mut n_lot = 0usize;
    for round in 0..scale.lots_per_producer {
        for (p, maker) in makers.iter().enumerate() {
            n_lot += 1;
            let (product, category) = PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
            let lot_id = format!("HN{:03}-{}-{:05}", p + 1, round + 1, n_lot);
            let amount = rng.gen_range(5..40) * 50;
            let produced = tick(7);
            let (event, origin_hash) = maker.sign(
                produced,
                origin(
                    &lot_id,
                    product,
                    category,
                    &amount.to_string(),
                    "kg",
                    &produced.format("%Y-%m-%d").to_string(),
                    &format!("HG{n_lot:08}"),
                ),
            );
            events.push(event);
            let market = &markets[rng.gen_range(0..markets.len())];
            let (event, ship_hash) = maker.sign(
                tick(3),
                ship(
                    &lot_id,
                    &amount.to_string(),
                    "kg",
                    market.id(),
                    &format!("SH{n_lot:08}"),
                    origin_hash,
                ),
            );
            events.push(event);
            let (event, entry_hash) = market.sign(
                tick(5),
                receive(
                    Stage::MarketEntry,
                    &lot_id,
                    &amount.to_string(),
                    "kg",
                    ship_hash,
                    Some(&format!("HG{n_lot:08}")),
                ),
            );
            events.push(event);
            let passed = rng.gen_ratio(49, 50);
            events.push(market.sign(tick(2), quick_test(&lot_id, passed)).0);
            if !passed {
                failed_lots.push(lot_id.clone());
                continue;
            }
            if showcase.on_sale.is_none() {
                showcase.on_sale = Some(lot_id.clone());
            }
            let n_outlets = rng.gen_range(2..=4);
            let portion = amount / n_outlets;
            for o in 0..n_outlets {
                let pick = rng.gen_range(0..10);
                let (receiver, stage, kitchen_index) = match pick {
                    0..=3 => (
                        &retailers[rng.gen_range(0..retailers.len())],
                        Stage::Retail,
                        None,
                    ),
                    4..=6 => (
                        &canteens[rng.gen_range(0..canteens.len())],
                        Stage::Canteen,
                        None,
                    ),
                    7..=8 => {
                        let k = rng.gen_range(0..kitchens.len());
                        (&kitchens[k], Stage::Canteen, Some(k))
                    }
                    _ => (
                        &warehouses[rng.gen_range(0..warehouses.len())],
                        Stage::Warehouse,
                        None,
                    ),
                };
                let document = format!("PS{n_lot:08}-{o}");
                let (event, out_hash) = market.sign(
                    tick(1),
                    ship(
                        &lot_id,
                        &portion.to_string(),
                        "kg",
                        receiver.id(),
                        &document,
                        entry_hash,
                    ),
                );
                events.push(event);
                let (event, receipt_hash) = receiver.sign(
                    tick(4),
                    receive(stage, &lot_id, &portion.to_string(), "kg", out_hash, None),
                );
                events.push(event);
                if let Some(k) = kitchen_index
                    && !kitchen_stock[k].iter().any(|(held, _)| *held == lot_id)
                {
                    kitchen_stock[k].push((lot_id.clone(), receipt_hash));
                }
                if stage == Stage::Warehouse {
                    // The warehouse passes half on to a shop.
                    let shop = &retailers[rng.gen_range(0..retailers.len())];
                    let half = (portion / 2).max(1).to_string();
                    let (event, onward) = receiver.sign(
                        tick(30),
                        ship(
                            &lot_id,
                            &half,
                            "kg",
                            shop.id(),
                            &format!("{document}-W"),
                            receipt_hash,
                        ),
                    );
                    events.push(event);
                    events.push(
                        shop.sign(
                            tick(5),
                            receive(Stage::Retail, &lot_id, &half, "kg", onward, None),
                        )
                        .0,
                    );
                }
            }
        }
    }

    // Central kitchens cook meals from five ingredient lots each and send them to canteens.
    let mut n_meal = 0usize;
    let mut first_meal = vec![None; kitchens.len()];
    for (k, kitchen) in kitchens.iter().enumerate() {
        for chunk in kitchen_stock[k].chunks(5) {
            n_meal += 1;
            let meal_id = format!("CK{}-MEAL-{n_meal:05}", k + 1);
            if first_meal[k].is_none() {
                first_meal[k] = Some(meal_id.clone());
            }
            let inputs: Vec<(&str, &str, EventHash)> = chunk
                .iter()
                .map(|(lot_id, hash)| (lot_id.as_str(), "10", *hash))
                .collect();
            let kind = if inputs.len() == 1 {
                TransformKind::Split
            } else {
                TransformKind::Process
            };
            let (event, meal_hash) = kitchen.sign(
                tick(10),
                transform(
                    kind,
                    &inputs,
                    "kg",
                    (&meal_id, "学生午餐 套餐", "prepared meal", "40"),
                ),
            );
            events.push(event);
            for c in 0..3 {
                let canteen = &canteens[rng.gen_range(0..canteens.len())];
                let (event, out_hash) = kitchen.sign(
                    tick(1),
                    ship(
                        &meal_id,
                        "10",
                        "kg",
                        canteen.id(),
                        &format!("CK{n_meal:05}-{c}"),
                        meal_hash,
                    ),
                );
                events.push(event);
                events.push(
                    canteen
                        .sign(
                            tick(3),
                            receive(Stage::Canteen, &meal_id, "10", "kg", out_hash, None),
                        )
                        .0,
                );
            }
        }
    }
    for lot_id in failed_lots.iter().take(3) {
        events.push(
            authority
                .sign(tick(60), recall(lot_id, "快检农药残留超标"))
                .0,
        );
    }
    showcase.failed_test = failed_lots.get(3).cloned();
    // A lot that reached a central kitchen is recalled too: its meals and every canteen
    // that received them are in the recall's reach.
    if let Some((k, (lot_id, _))) = kitchen_stock
        .iter()
        .enumerate()
        .find_map(|(k, stock)| stock.first().map(|first| (k, first)))
    {
        showcase.recalled = Some(lot_id.clone());
        showcase.meal_with_recalled_ingredient = first_meal[k].clone();
        events.push(
            authority
                .sign(
                    tick(60),
                    recall(lot_id, "学校食堂疑似食源性疾病，涉事原料召回"),
                )
                .0,
        );
    }

    let parties = [
        producers, workshops, markets, warehouses, retailers, canteens, kitchens, labs,
    ]
    .into_iter()
    .flatten()
    .collect();
    District {
        events,
        parties,
        showcase,
    }
}

/// A whole small ledger's history, in order: genesis (the authority registering itself
/// with its key, 400 days before `now`) and a tiny district (seed 7) ending an hour
/// before `now`. For tests and the fuzzers' seeds.
pub fn small_history(authority: &Recorder, now: DateTime<FixedOffset>) -> Vec<pb::SignedEvent> {
    small_district(authority, now).events
}

/// [`small_history`] with the district's recorders: its `events` begin with the genesis
/// event.
pub fn small_district(authority: &Recorder, now: DateTime<FixedOffset>) -> District {
    let genesis = genesis(authority, now - Duration::days(400));
    let mut district = generate(authority, &Scale::tiny(), 7, now - Duration::hours(1));
    district.events.insert(0, genesis);
    district
}

/// The genesis event: the district's market regulator (`authority`) registering itself,
/// its key valid from `at`, signed at `at`.
pub fn genesis(authority: &Recorder, at: DateTime<FixedOffset>) -> pb::SignedEvent {
    authority
        .sign(
            at,
            EventKind::RegisterParty(RegisterParty {
                party_id: authority.id().clone(),
                name: text("沈阳市浑南区市场监督管理局"),
                role: PartyRole::Authority,
                region: RegionCode::parse(HUNNAN).expect("a region code"),
                contact: None,
                keys: vec![authority.signer().grant(at)],
            }),
        )
        .0
}
