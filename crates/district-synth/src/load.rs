//! The load generator's workload: a fixed population of parties and an endless supply of
//! ten-event supply chains, each signed by the parties that would record it.
//!
//! A chain is one lot's way from a farm to two kitchens and shop counters, in the mix a
//! district's ledger sees (10% origins, 30% shipments, 30% receipts at every stage, 20%
//! transforms, 10% quick tests):
//!
//! | # | signer    | event |
//! |---|-----------|-------|
//! | 0 | producer  | ORIGIN of lot `L` |
//! | 1 | producer  | SHIP `L` to the market (links 0) |
//! | 2 | market    | RECEIVING at MARKET_ENTRY (links 1) |
//! | 3 | market    | INSPECTION: a quick test |
//! | 4 | market    | TRANSFORM: split `L-A` off `L` (input: 2) |
//! | 5 | market    | SHIP `L-A` to a shop (links 4) |
//! | 6 | shop      | RECEIVING at RETAIL (links 5) |
//! | 7 | market    | TRANSFORM: split `L-B` off `L` (input: 2) |
//! | 8 | market    | SHIP `L-B` to a canteen or a warehouse (links 7) |
//! | 9 | receiver  | RECEIVING at CANTEEN or WAREHOUSE (links 8) |
//!
//! Each chain's events depend on the ones before it, so one stream sends a chain in
//! order; chains are independent of each other. Party `k` always has the same id and key
//! (derived from `k`), so a rerun against the same node finds its parties registered;
//! lots carry a run id, so every run records new lots.

use chrono::{DateTime, Duration, FixedOffset};
use ed25519_dalek::SigningKey;
use ledger_core::EventHash;
use ledger_core::model::{PartyRole, Stage, TransformKind};
use ledger_proto::pb;

use crate::{HUNNAN, Recorder, origin, party_id, quick_test, receive, ship, transform};

/// Events in one chain.
pub const CHAIN_LEN: usize = 10;

/// Party serials of the load generator's population start here (the demo's are small).
const FIRST_SERIAL: usize = 9_000_000;

/// The load generator's parties: producers, markets, shops, canteens and warehouses in
/// roughly a district's proportions.
pub struct LoadParties {
    producers: Vec<Recorder>,
    markets: Vec<Recorder>,
    shops: Vec<Recorder>,
    canteens: Vec<Recorder>,
    warehouses: Vec<Recorder>,
}

/// Party `k`'s key: the same on every run.
fn party_key(k: usize) -> SigningKey {
    let seed = blake3::derive_key("foodtrace loadgen party key", &(k as u64).to_le_bytes());
    SigningKey::from_bytes(&seed)
}

impl LoadParties {
    /// `n` parties (at least 5: one of each role): 20% producers, 5% markets, 45% shops,
    /// 20% canteens, 10% warehouses.
    pub fn new(n: usize) -> LoadParties {
        let n = n.max(5);
        let markets = (n / 20).max(1);
        let producers = (n / 5).max(1);
        let canteens = (n / 5).max(1);
        let warehouses = (n / 10).max(1);
        let shops = n
            .saturating_sub(markets + producers + canteens + warehouses)
            .max(1);
        let mut k = 0;
        let mut make = |role: PartyRole, count: usize| -> Vec<Recorder> {
            (0..count)
                .map(|_| {
                    k += 1;
                    Recorder::new(party_id(HUNNAN, FIRST_SERIAL + k), role, party_key(k))
                })
                .collect()
        };
        LoadParties {
            producers: make(PartyRole::Producer, producers),
            markets: make(PartyRole::WholesaleMarket, markets),
            shops: make(PartyRole::Retailer, shops),
            canteens: make(PartyRole::Canteen, canteens),
            warehouses: make(PartyRole::Warehouse, warehouses),
        }
    }

    /// Every party.
    pub fn all(&self) -> impl Iterator<Item = &Recorder> {
        self.producers
            .iter()
            .chain(&self.markets)
            .chain(&self.shops)
            .chain(&self.canteens)
            .chain(&self.warehouses)
    }

    /// Their registrations, signed by `authority` at `at`.
    pub fn registrations(
        &self,
        authority: &Recorder,
        at: DateTime<FixedOffset>,
    ) -> Vec<pb::SignedEvent> {
        self.all()
            .enumerate()
            .map(|(i, party)| {
                authority
                    .register(
                        at,
                        party,
                        &format!("压测{:?}{}号", party.role(), i + 1),
                        HUNNAN,
                    )
                    .0
            })
            .collect()
    }

    /// Chain number `i` of run `run`, its events `at` and a second apart after.
    pub fn chain(&self, run: &str, i: usize, at: DateTime<FixedOffset>) -> Vec<pb::SignedEvent> {
        let pick = |parties: &[Recorder], salt: usize| -> usize {
            // Spread chains over parties without a pattern the store could exploit.
            let h =
                (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            (h >> 17) % parties.len()
        };
        let producer = &self.producers[pick(&self.producers, 1)];
        let market = &self.markets[pick(&self.markets, 2)];
        let shop = &self.shops[pick(&self.shops, 3)];
        let (last, last_stage) = if i.is_multiple_of(3) {
            (
                &self.warehouses[pick(&self.warehouses, 4)],
                Stage::Warehouse,
            )
        } else {
            (&self.canteens[pick(&self.canteens, 5)], Stage::Canteen)
        };
        let lot = format!("LG-{run}-{i:08}");
        let part_a = format!("{lot}-A");
        let part_b = format!("{lot}-B");
        let mut events = Vec::with_capacity(CHAIN_LEN);
        let mut second = 0;
        let mut record = |who: &Recorder, kind| -> EventHash {
            let (event, hash) = who.sign(at + Duration::seconds(second), kind);
            second += 1;
            events.push(event);
            hash
        };
        let produced = at.date_naive().format("%Y-%m-%d").to_string();
        let e0 = record(
            producer,
            origin(
                &lot,
                "大白菜",
                "vegetable",
                "1000",
                "kg",
                &produced,
                &format!("HG-{i}"),
            ),
        );
        let e1 = record(
            producer,
            ship(&lot, "1000", "kg", market.id(), &format!("SD-{i}"), e0),
        );
        let e2 = record(
            market,
            receive(
                Stage::MarketEntry,
                &lot,
                "1000",
                "kg",
                e1,
                Some(&format!("HG-{i}")),
            ),
        );
        record(market, quick_test(&lot, true));
        for (part, to, stage) in [(&part_a, shop, Stage::Retail), (&part_b, last, last_stage)] {
            let split = record(
                market,
                transform(
                    TransformKind::Split,
                    &[(&lot, "500", e2)],
                    "kg",
                    (part, "大白菜", "vegetable", "500"),
                ),
            );
            let shipped = record(
                market,
                ship(
                    part,
                    "500",
                    "kg",
                    to.id(),
                    &format!("SD-{i}-{stage:?}"),
                    split,
                ),
            );
            record(to, receive(stage, part, "500", "kg", shipped, None));
        }
        events
    }
}
