//! Admission driven with hostile values: events of a real district, each with one field
//! replaced by something a buggy or hostile client would send (times centuries away,
//! the largest and smallest amounts, other parties' lots, shipments and parties, hashes
//! of the wrong events, a thousand copies of an input, small-order keys, someone else
//! recording it), signed properly so that every rule past the signature runs, and
//! submitted to a real node's writer over RocksDB.
//!
//! Whatever comes: no panic; a refusal names its field and leaves the ledger exactly as
//! it was (same size, not found by its hash, the lots and parties it names as they
//! were); an admission adds exactly one event; and at the
//! end the whole ledger passes the audit.

use std::sync::OnceLock;

use chrono::{Duration, FixedOffset, Utc};
use district_synth::{Recorder, authority_id};
use ed25519_dalek::SigningKey;
use ledger_core::checkpoint::LogVerifier;
use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::model::{EventBody, EventKind, PartyRole, Quantity, ReceivingSource};
use ledger_node::audit::audit;
use ledger_node::{DataDir, Ledger, WriterConfig, open_ledger};
use ledger_proto::{decode_signed_event, encode_body, pb};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The district the hostile events are made from, and who recorded it.
struct District {
    authority: Recorder,
    parties: Vec<Recorder>,
    /// Genesis first, then the district, as recorded.
    events: Vec<pb::SignedEvent>,
}

fn district() -> &'static District {
    static DISTRICT: OnceLock<District> = OnceLock::new();
    DISTRICT.get_or_init(|| {
        let authority = Recorder::new(
            authority_id(),
            PartyRole::Authority,
            SigningKey::from_bytes(&[0xA1; 32]),
        );
        let now = Utc::now().with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap());
        let district = district_synth::small_district(&authority, now);
        District {
            authority,
            parties: district.parties,
            events: district.events,
        }
    })
}

/// One field replaced by a hostile value.
#[derive(Debug, Clone)]
enum Hostile {
    /// The event's time moved by this many seconds (centuries either way included).
    Time(i64),
    /// The event's time in another UTC offset, in seconds (past ±14 h included).
    Offset(i32),
    /// One of its quantities' amounts.
    Amount(&'static str),
    /// One of the lots it names: another event's lot, or one nobody recorded.
    Lot(Option<Index>),
    /// One of the parties it names: another party (itself, the authority) or nobody.
    Party(Option<Index>),
    /// One of the events it names: another event, or one that does not exist.
    Hash(Option<Index>),
    /// Recorded (and honestly signed) by another party.
    RecordedBy(Index),
    /// A transformation's first input, this many times over.
    RepeatedInput(usize),
    /// A key it grants: an encoding of a small-order point, or another party's key.
    Key(u8),
}

fn hostile() -> impl Strategy<Value = Hostile> {
    const YEAR: i64 = 365 * 24 * 3600;
    prop_oneof![
        prop_oneof![
            Just(-2000 * YEAR),
            Just(-401 * 24 * 3600),
            Just(-1),
            Just(1),
            Just(3600),
            Just(2 * 24 * 3600),
            Just(7000 * YEAR),
            -100 * YEAR..100 * YEAR,
        ]
        .prop_map(Hostile::Time),
        prop_oneof![
            Just(-14 * 3600),
            Just(14 * 3600),
            Just(-86_399),
            Just(86_399),
            Just(15 * 3600 + 1)
        ]
        .prop_map(Hostile::Offset),
        prop::sample::select(vec![
            "79228162514264337593543950335",
            "7922816251426433759354395033.5",
            "0.0000000000000000000000000001",
            "0.0000000000000000000000000000001",
            "1000000000000000",
            "18446744073709551616",
            "0",
            "0.0",
            "1",
        ])
        .prop_map(Hostile::Amount),
        any::<Option<Index>>().prop_map(Hostile::Lot),
        any::<Option<Index>>().prop_map(Hostile::Party),
        any::<Option<Index>>().prop_map(Hostile::Hash),
        any::<Index>().prop_map(Hostile::RecordedBy),
        prop_oneof![Just(2usize), Just(1000), 3usize..50].prop_map(Hostile::RepeatedInput),
        any::<u8>().prop_map(Hostile::Key),
    ]
}

fn quantities(kind: &mut EventKind) -> Vec<&mut Quantity> {
    match kind {
        EventKind::Origin(o) => vec![&mut o.lot.quantity],
        EventKind::Ship(s) => vec![&mut s.quantity],
        EventKind::Receiving(_, r) => vec![&mut r.quantity],
        EventKind::Transform(t) => {
            let mut all: Vec<&mut Quantity> =
                t.inputs.iter_mut().map(|i| &mut i.quantity).collect();
            all.push(&mut t.output.quantity);
            all
        }
        _ => vec![],
    }
}

fn lots(kind: &mut EventKind) -> Vec<&mut LotId> {
    match kind {
        EventKind::Origin(o) => vec![&mut o.lot.lot_id],
        EventKind::Ship(s) => vec![&mut s.lot_id],
        EventKind::Receiving(_, r) => vec![&mut r.lot_id],
        EventKind::Transform(t) => {
            let mut all: Vec<&mut LotId> = t.inputs.iter_mut().map(|i| &mut i.lot_id).collect();
            all.push(&mut t.output.lot_id);
            all
        }
        EventKind::Inspection(i) => vec![&mut i.lot_id],
        EventKind::Recall(r) => vec![&mut r.lot_id],
        _ => vec![],
    }
}

fn parties(kind: &mut EventKind) -> Vec<&mut PartyId> {
    match kind {
        EventKind::Ship(s) => vec![&mut s.recipient],
        EventKind::Receiving(_, r) => match &mut r.source {
            ReceivingSource::Shipment { supplier, .. } => supplier.iter_mut().collect(),
            ReceivingSource::Supplier(supplier) => vec![supplier],
        },
        EventKind::RegisterParty(r) => vec![&mut r.party_id],
        EventKind::AddKey(a) => vec![&mut a.party_id],
        EventKind::RevokeKey(r) => vec![&mut r.party_id],
        EventKind::SetPartyStatus(s) => vec![&mut s.party_id],
        _ => vec![],
    }
}

fn hashes(kind: &mut EventKind) -> Vec<&mut EventHash> {
    match kind {
        EventKind::Ship(s) => vec![&mut s.previous_event],
        EventKind::Receiving(_, r) => match &mut r.source {
            ReceivingSource::Shipment { event, .. } => vec![event],
            ReceivingSource::Supplier(_) => vec![],
        },
        EventKind::Transform(t) => t.inputs.iter_mut().map(|i| &mut i.input_event).collect(),
        _ => vec![],
    }
}

fn pick<T>(mut fields: Vec<&mut T>, at: usize) -> Option<&mut T> {
    if fields.is_empty() {
        return None;
    }
    let i = at % fields.len();
    Some(fields.swap_remove(i))
}

/// `original` (as recorded by `recorder`) with `hostile` applied; the recorder that
/// signs it.
fn spoil(
    original: &pb::SignedEvent,
    hostile: &Hostile,
    at: usize,
    recorders: &[&'static Recorder],
) -> (EventBody, &'static Recorder) {
    let district = district();
    let decoded = decode_signed_event(original.clone()).expect("the district decodes");
    let mut body = decoded.body().clone();
    let mut recorder = *recorders
        .iter()
        .find(|r| r.id() == &body.signer)
        .expect("a recorder of the district");
    let other_event = |index: &Index| {
        let event = &district.events[index.index(district.events.len())];
        decode_signed_event(event.clone()).expect("decodes")
    };
    match hostile {
        Hostile::Time(seconds) => {
            if let Some(moved) = body
                .occurred_at
                .checked_add_signed(Duration::seconds(*seconds))
            {
                body.occurred_at = moved;
            }
        }
        Hostile::Offset(seconds) => {
            if let Some(offset) = FixedOffset::east_opt(*seconds) {
                body.occurred_at = body.occurred_at.with_timezone(&offset);
            }
        }
        Hostile::Amount(amount) => {
            if let Some(q) = pick(quantities(&mut body.kind), at) {
                q.amount = amount.parse().expect("a decimal");
            }
        }
        Hostile::Lot(other) => {
            let lot = match other {
                None => LotId::parse("NOBODY-RECORDED-THIS").unwrap(),
                Some(index) => {
                    let mut kind = other_event(index).body().kind.clone();
                    match lots(&mut kind).into_iter().next() {
                        Some(lot) => lot.clone(),
                        None => LotId::parse(&"X".repeat(64))
                            .unwrap_or_else(|_| LotId::parse("NOBODY-RECORDED-THIS").unwrap()),
                    }
                }
            };
            if let Some(field) = pick(lots(&mut body.kind), at) {
                *field = lot;
            }
        }
        Hostile::Party(other) => {
            let party = match other {
                None => district_synth::party_id(district_synth::HUNNAN, 999_999),
                Some(index) => {
                    let all: Vec<&PartyId> = std::iter::once(district.authority.id())
                        .chain(district.parties.iter().map(|p| p.id()))
                        .collect();
                    all[index.index(all.len())].clone()
                }
            };
            if let Some(field) = pick(parties(&mut body.kind), at) {
                *field = party;
            }
        }
        Hostile::Hash(other) => {
            let hash = match other {
                None => EventHash::from_slice(&[0x5A; 32]).unwrap(),
                Some(index) => other_event(index).hash(),
            };
            if let Some(field) = pick(hashes(&mut body.kind), at) {
                *field = hash;
            }
        }
        Hostile::RecordedBy(index) => {
            recorder = recorders[index.index(recorders.len())];
            body.signer = recorder.id().clone();
            body.key_id = recorder.signer().key_id();
        }
        Hostile::RepeatedInput(n) => {
            if let EventKind::Transform(t) = &mut body.kind {
                let first = t.inputs[0].clone();
                t.inputs = vec![first; *n];
            }
        }
        Hostile::Key(choice) => {
            // The eight small-order points' canonical encodings, and one of another party.
            let small_order: [[u8; 32]; 3] = [
                [0; 32],
                {
                    let mut identity = [0; 32];
                    identity[0] = 1;
                    identity
                },
                {
                    let mut minus_one = [0xFF; 32];
                    minus_one[0] = 0xEC;
                    minus_one[31] = 0x7F;
                    minus_one
                },
            ];
            let key = match choice % 4 {
                3 => district.parties[*choice as usize % district.parties.len()]
                    .signer()
                    .public_key(),
                n => small_order[n as usize],
            };
            match &mut body.kind {
                EventKind::RegisterParty(r) => {
                    if let Some(grant) = r.keys.first_mut() {
                        grant.public_key = key;
                    }
                }
                EventKind::AddKey(a) => a.key.public_key = key,
                _ => {}
            }
        }
    }
    (body, recorder)
}

#[test]
fn hostile_values_are_refused_whole_naming_their_field_or_admitted_whole() {
    let district = district();
    let recorders: Vec<&'static Recorder> = std::iter::once(&district.authority)
        .chain(district.parties.iter())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ledger: Ledger =
        open_ledger(&DataDir::new(dir.path()), None, WriterConfig::default()).unwrap();
    runtime.block_on(async {
        for event in &district.events {
            ledger
                .submit(decode_signed_event(event.clone()).unwrap())
                .await
                .expect("the district is admitted");
        }
    });
    let store = ledger.store().clone();
    let size = || store.next_sequence().unwrap();
    // What an event could touch: the entries of the lots and parties it names.
    let touched = |body: &EventBody| {
        let mut kind = body.kind.clone();
        let lots: Vec<_> = lots(&mut kind)
            .into_iter()
            .map(|lot| {
                let lot = lot.clone();
                (
                    store.lot(&lot).unwrap(),
                    store.lot_events(&lot, None, 100_000).unwrap(),
                )
            })
            .collect();
        let mut kind = body.kind.clone();
        let parties: Vec<_> = parties(&mut kind)
            .into_iter()
            .chain([&mut body.signer.clone()])
            .map(|party| store.party(party).unwrap())
            .collect();
        format!("{lots:?} {parties:?}")
    };

    let counts = std::cell::RefCell::new([0usize; 4]); // refused on decoding, refused, admitted, duplicate
    let mut runner = TestRunner::new(Config {
        cases: 2048,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (any::<Index>(), hostile(), any::<usize>());
    let result = runner.run(&strategy, |(which, hostile, at)| {
        // Not the genesis event: the authority registering itself again is a duplicate
        // or refused either way, and spoiling it teaches nothing new.
        let original = &district.events[1 + which.index(district.events.len() - 1)];
        let (body, recorder) = spoil(original, &hostile, at, &recorders);
        let wire = recorder.signer().sign_bytes(&encode_body(&body));
        let event = match decode_signed_event(wire) {
            Ok(event) => event,
            Err(refusal) => {
                prop_assert!(!refusal.field.is_empty(), "{hostile:?}: {refusal}");
                counts.borrow_mut()[0] += 1;
                return Ok(());
            }
        };
        let hash = event.hash();
        let (size_before, touched_before) = (size(), touched(event.body()));
        let outcome = runtime.block_on(ledger.submit(event));
        match outcome {
            Err(refusal) => {
                prop_assert!(
                    !refusal.field.is_empty(),
                    "{hostile:?} refused without naming a field: {refusal}"
                );
                prop_assert_eq!(size(), size_before, "a refused event changed the size");
                prop_assert_eq!(store.sequence_of(&hash).unwrap(), None);
                prop_assert_eq!(
                    touched(&body),
                    touched_before,
                    "{:?}: a refused event changed what it names",
                    hostile
                );
                counts.borrow_mut()[1] += 1;
            }
            Ok(receipt) if receipt.duplicate => {
                prop_assert_eq!(size(), size_before);
                counts.borrow_mut()[3] += 1;
            }
            Ok(receipt) => {
                if std::env::var_os("HOSTILE_SHOW_ADMITTED").is_some() {
                    eprintln!("admitted {} with {hostile:?}", body.kind.name());
                }
                prop_assert_eq!(receipt.sequence, size_before);
                prop_assert_eq!(size(), size_before + 1);
                counts.borrow_mut()[2] += 1;
            }
        }
        Ok::<(), TestCaseError>(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let counts = counts.into_inner();
    let [undecodable, refused, admitted, duplicates] = counts;
    eprintln!(
        "hostile events: {undecodable} refused on decoding, {refused} refused by admission, {admitted} admitted, {duplicates} duplicates"
    );
    // The strategies reach admission and its refusals, not just the decoder.
    assert!(refused > undecodable, "{counts:?}");
    let verifier = LogVerifier::parse(ledger.verifier_key()).unwrap();
    let report = audit(store.as_ref(), &verifier, |_, _| {}).expect("the ledger audits");
    assert_eq!(report.n_events, size());
}
