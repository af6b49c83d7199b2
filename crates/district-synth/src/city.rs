//! A synthetic city (fifteen districts' worth of parties) with realistic fan-out, for
//! benchmarks: wholesale lots split at markets into 20 to 50 child lots for shops,
//! canteens, distributors and kitchens; distributors pass children on to several shops;
//! central kitchens merge 20 or more lots into meals for schools; school canteens cook
//! a day's meal from about 25 lots of different origins.
//!
//! Events are handed to a sink in admission order, a batch at a time, so millions of
//! them never sit in memory at once. Everything is deterministic for a seed and end.

use chrono::{DateTime, Duration, FixedOffset};
use ledger_core::EventHash;
use ledger_core::model::{PartyRole, Stage, TransformKind};
use ledger_proto::pb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{HUNNAN, PRODUCTS, PartyMaker, Recorder, origin, quick_test, receive, ship, transform};

/// How big the city is.
#[derive(Debug, Clone)]
pub struct CityScale {
    /// Producers and workshops, who create wholesale lots.
    pub makers: usize,
    /// Wholesale markets.
    pub markets: usize,
    /// Distributors and warehouses.
    pub distributors: usize,
    /// Shops and supermarkets.
    pub retailers: usize,
    /// Canteens and restaurants that only receive.
    pub canteens: usize,
    /// School canteens that cook meals from what they receive.
    pub schools: usize,
    /// Central kitchens.
    pub kitchens: usize,
    /// Wholesale lots.
    pub wholesale_lots: usize,
}

impl CityScale {
    /// Fifteen times the district of ../shared/DOMAIN.md: about 2.1 million events.
    pub fn city() -> CityScale {
        CityScale {
            makers: 2_150,
            markets: 105,
            distributors: 450,
            retailers: 63_000,
            canteens: 63_700,
            schools: 7_230,
            kitchens: 105,
            wholesale_lots: 12_500,
        }
    }

    /// The same shape, small, for tests of the generator.
    pub fn small() -> CityScale {
        CityScale {
            makers: 20,
            markets: 3,
            distributors: 6,
            retailers: 200,
            canteens: 200,
            schools: 8,
            kitchens: 3,
            wholesale_lots: 40,
        }
    }
}

/// Lots worth tracing, picked out while generating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landmarks {
    /// A busy wholesale lot: 50 child lots and about 200 receiving parties downstream.
    pub busy_lot: String,
    /// A school canteen's meal lot: about 50 lots and 25 origins upstream.
    pub school_meal: String,
    /// Every party, for registries elsewhere (id, name).
    pub parties: Vec<(String, String)>,
    /// Events handed to the sink.
    pub n_events: usize,
}

struct Holding {
    lot: String,
    amount: u32,
    receipt: EventHash,
}

/// Generates the city, handing events to `sink` in admission order, in batches. The
/// authority's own registration (genesis) is not included.
pub fn generate_city(
    authority: &Recorder,
    scale: &CityScale,
    seed: u64,
    end: DateTime<FixedOffset>,
    mut sink: impl FnMut(Vec<pb::SignedEvent>),
) -> Landmarks {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut parties = PartyMaker::default();
    let mut make = |role: PartyRole, count: usize, rng: &mut StdRng| parties.make(role, count, rng);
    let makers = make(PartyRole::Producer, scale.makers, &mut rng);
    let markets = make(PartyRole::WholesaleMarket, scale.markets, &mut rng);
    let distributors = make(PartyRole::Distributor, scale.distributors, &mut rng);
    let retailers = make(PartyRole::Retailer, scale.retailers, &mut rng);
    let canteens = make(PartyRole::Canteen, scale.canteens, &mut rng);
    let schools = make(PartyRole::Canteen, scale.schools, &mut rng);
    let kitchens = make(PartyRole::CentralKitchen, scale.kitchens, &mut rng);

    // Two seconds an event on average: about seven weeks for two million events.
    let start = end - Duration::days(60);
    let mut clock = start;
    let mut tick = |seconds: i64| {
        clock += Duration::seconds(seconds);
        clock.min(end)
    };
    let mut landmarks = Landmarks {
        busy_lot: String::new(),
        school_meal: String::new(),
        parties: Vec::new(),
        n_events: 0,
    };
    let mut emit = |batch: Vec<pb::SignedEvent>, landmarks: &mut Landmarks| {
        landmarks.n_events += batch.len();
        sink(batch);
    };

    let groups: [(&[Recorder], &str); 7] = [
        (&makers, "农产品生产企业"),
        (&markets, "农产品批发市场"),
        (&distributors, "食品配送"),
        (&retailers, "超市"),
        (&canteens, "餐饮单位"),
        (&schools, "学校食堂"),
        (&kitchens, "中央厨房"),
    ];
    let mut batch = Vec::new();
    for (group, label) in groups {
        for (i, party) in group.iter().enumerate() {
            let name = format!("沈阳{label}{}号", i + 1);
            batch.push(authority.register(tick(0), party, &name, HUNNAN).0);
            landmarks.parties.push((party.id().to_string(), name));
            if batch.len() == 1000 {
                emit(std::mem::take(&mut batch), &mut landmarks);
            }
        }
    }
    emit(std::mem::take(&mut batch), &mut landmarks);

    let mut kitchen_stock: Vec<Vec<Holding>> = (0..kitchens.len()).map(|_| Vec::new()).collect();
    let mut school_stock: Vec<Vec<Holding>> = (0..schools.len()).map(|_| Vec::new()).collect();
    let mut n_meal = 0usize;
    for n_lot in 0..scale.wholesale_lots {
        let mut events = Vec::new();
        let maker = &makers[rng.gen_range(0..makers.len())];
        let market = &markets[rng.gen_range(0..markets.len())];
        let (product, category) = PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
        let lot_id = format!("SY{n_lot:06}");
        let busy = n_lot == scale.wholesale_lots / 2;
        let n_children: u32 = if busy { 50 } else { rng.gen_range(20..=50) };
        let amount = n_children * 40;
        let produced = tick(2);
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
        let (event, to_market) = maker.sign(
            tick(2),
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
        let (event, entry) = market.sign(
            tick(2),
            receive(
                Stage::MarketEntry,
                &lot_id,
                &amount.to_string(),
                "kg",
                to_market,
                Some(&format!("HG{n_lot:08}")),
            ),
        );
        events.push(event);
        events.push(market.sign(tick(1), quick_test(&lot_id, true)).0);
        if busy {
            landmarks.busy_lot = lot_id.clone();
        }

        for c in 0..n_children {
            let child = format!("{lot_id}-{c:02}");
            let (event, split) = market.sign(
                tick(1),
                transform(
                    TransformKind::Split,
                    &[(&lot_id, "40", entry)],
                    "kg",
                    (&child, product, category, "40"),
                ),
            );
            events.push(event);
            let pick = if busy {
                if c < 40 { 0 } else { 9 }
            } else {
                rng.gen_range(0..20)
            };
            let document = format!("PS{n_lot:06}-{c:02}");
            match pick {
                // A distributor passes it on to three to six shops and canteens.
                0..=2 => {
                    let distributor = &distributors[rng.gen_range(0..distributors.len())];
                    let (event, out) = market.sign(
                        tick(1),
                        ship(&child, "40", "kg", distributor.id(), &document, split),
                    );
                    events.push(event);
                    let (event, held) = distributor.sign(
                        tick(1),
                        receive(Stage::Warehouse, &child, "40", "kg", out, None),
                    );
                    events.push(event);
                    let fan = if busy { 4 } else { rng.gen_range(3..=6) };
                    for f in 0..fan {
                        let (receiver, stage) = if rng.gen_bool(0.5) {
                            (&retailers[rng.gen_range(0..retailers.len())], Stage::Retail)
                        } else {
                            (&canteens[rng.gen_range(0..canteens.len())], Stage::Canteen)
                        };
                        let (event, onward) = distributor.sign(
                            tick(1),
                            ship(
                                &child,
                                "5",
                                "kg",
                                receiver.id(),
                                &format!("{document}-{f}"),
                                held,
                            ),
                        );
                        events.push(event);
                        events.push(
                            receiver
                                .sign(tick(1), receive(stage, &child, "5", "kg", onward, None))
                                .0,
                        );
                    }
                }
                // A central kitchen.
                3..=4 => {
                    let k = rng.gen_range(0..kitchens.len());
                    let (event, out) = market.sign(
                        tick(1),
                        ship(&child, "40", "kg", kitchens[k].id(), &document, split),
                    );
                    events.push(event);
                    let (event, receipt) = kitchens[k].sign(
                        tick(1),
                        receive(Stage::Canteen, &child, "40", "kg", out, None),
                    );
                    events.push(event);
                    kitchen_stock[k].push(Holding {
                        lot: child.clone(),
                        amount: 40,
                        receipt,
                    });
                }
                // A school canteen that cooks.
                5..=9 => {
                    // A thousand schools cook for themselves; the rest get kitchen meals.
                    let s = rng.gen_range(0..schools.len().min(1000));
                    let (event, out) = market.sign(
                        tick(1),
                        ship(&child, "40", "kg", schools[s].id(), &document, split),
                    );
                    events.push(event);
                    let (event, receipt) = schools[s].sign(
                        tick(1),
                        receive(Stage::Canteen, &child, "40", "kg", out, None),
                    );
                    events.push(event);
                    school_stock[s].push(Holding {
                        lot: child.clone(),
                        amount: 40,
                        receipt,
                    });
                }
                // A shop or a restaurant.
                _ => {
                    let (receiver, stage) = if rng.gen_bool(0.5) {
                        (&retailers[rng.gen_range(0..retailers.len())], Stage::Retail)
                    } else {
                        (&canteens[rng.gen_range(0..canteens.len())], Stage::Canteen)
                    };
                    let (event, out) = market.sign(
                        tick(1),
                        ship(&child, "40", "kg", receiver.id(), &document, split),
                    );
                    events.push(event);
                    events.push(
                        receiver
                            .sign(tick(1), receive(stage, &child, "40", "kg", out, None))
                            .0,
                    );
                }
            }
        }

        // Kitchens cook once they hold 20 to 30 lots; the meals go to eight schools.
        for (k, kitchen) in kitchens.iter().enumerate() {
            if kitchen_stock[k].len() >= 20 + (k % 11) {
                n_meal += 1;
                let meal = format!("CK{:03}-M{n_meal:06}", k + 1);
                let stock = std::mem::take(&mut kitchen_stock[k]);
                let inputs: Vec<(&str, &str, EventHash)> = stock
                    .iter()
                    .map(|h| (h.lot.as_str(), "10", h.receipt))
                    .collect();
                let (event, cooked) = kitchen.sign(
                    tick(1),
                    transform(
                        TransformKind::Merge,
                        &inputs,
                        "kg",
                        (&meal, "学生午餐 套餐", "prepared meal", "200"),
                    ),
                );
                events.push(event);
                for d in 0..8 {
                    let school = &schools[rng.gen_range(0..schools.len())];
                    let (event, out) = kitchen.sign(
                        tick(1),
                        ship(
                            &meal,
                            "25",
                            "kg",
                            school.id(),
                            &format!("{meal}-{d}"),
                            cooked,
                        ),
                    );
                    events.push(event);
                    events.push(
                        school
                            .sign(
                                tick(1),
                                receive(Stage::Canteen, &meal, "25", "kg", out, None),
                            )
                            .0,
                    );
                }
            }
        }
        // A school canteen cooks the day's meal from 25 lots of different origins.
        for (s, school) in schools.iter().enumerate() {
            if school_stock[s].len() >= 25 {
                n_meal += 1;
                let meal = format!("SC{:05}-M{n_meal:06}", s + 1);
                let stock = std::mem::take(&mut school_stock[s]);
                let inputs: Vec<(&str, String, EventHash)> = stock
                    .iter()
                    .map(|h| (h.lot.as_str(), (h.amount / 4).to_string(), h.receipt))
                    .collect();
                let inputs: Vec<(&str, &str, EventHash)> = inputs
                    .iter()
                    .map(|(lot, amount, receipt)| (*lot, amount.as_str(), *receipt))
                    .collect();
                events.push(
                    school
                        .sign(
                            tick(1),
                            transform(
                                TransformKind::Process,
                                &inputs,
                                "kg",
                                (&meal, "午餐", "prepared meal", "120"),
                            ),
                        )
                        .0,
                );
                if landmarks.school_meal.is_empty() && n_lot > scale.wholesale_lots / 2 {
                    landmarks.school_meal = meal;
                }
            }
        }
        emit(events, &mut landmarks);
    }
    landmarks
}
