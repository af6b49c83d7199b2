//! Traces against an independent brute-force computation on generated supply graphs.
//!
//! The generator simulates a small district (few parties, so lots meet again: diamonds
//! where one party is reached by two paths, merges of lots split from the same root,
//! long chains of shipments, wide fan-outs). The oracle computes each trace as a
//! fixpoint over *all* facts, without the traversal's queue or its shortcuts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;

use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::model::{
    InspectionKind, InspectionResult, Quantity, RecallSeverity, RegionCode, Stage, Text,
    TransformKind,
};
use ledger_core::trace::{
    Direction, FactKind, FactSource, Involvement, LotFact, Trace, TraceOptions, downstream,
    upstream,
};
use proptest::prelude::*;

#[derive(Default, Debug)]
struct Graph {
    facts: HashMap<LotId, Vec<LotFact>>,
    /// Every event's facts, by sequence.
    by_sequence: BTreeMap<u64, Vec<(LotId, LotFact)>>,
    lots: Vec<LotId>,
}

impl FactSource for Graph {
    type Error = Infallible;
    fn facts(&self, lot_id: &LotId) -> Result<Arc<[LotFact]>, Infallible> {
        Ok(self.facts.get(lot_id).cloned().unwrap_or_default().into())
    }
}

/// One generation step, interpreted against the simulation's state.
#[derive(Debug, Clone)]
enum Step {
    Origin {
        party: usize,
    },
    Ship {
        holding: usize,
        recipient: usize,
    },
    Receive {
        shipment: usize,
        stage: usize,
        name_supplier: bool,
    },
    ReceiveUnshipped {
        lot: usize,
        party: usize,
        supplier: usize,
        stage: usize,
    },
    Transform {
        party: usize,
        n_inputs: usize,
        pick: usize,
        kind: usize,
    },
    Inspect {
        lot: usize,
        fail: bool,
    },
    Recall {
        lot: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..5usize).prop_map(|party| Step::Origin { party }),
        6 => (any::<usize>(), 0..5usize).prop_map(|(holding, recipient)| Step::Ship { holding, recipient }),
        6 => (any::<usize>(), 0..4usize, any::<bool>()).prop_map(|(shipment, stage, name_supplier)| Step::Receive { shipment, stage, name_supplier }),
        1 => (any::<usize>(), 0..5usize, 0..5usize, 0..4usize).prop_map(|(lot, party, supplier, stage)| Step::ReceiveUnshipped { lot, party, supplier, stage }),
        3 => (0..5usize, 1..4usize, any::<usize>(), 0..3usize).prop_map(|(party, n_inputs, pick, kind)| Step::Transform { party, n_inputs, pick, kind }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(lot, fail)| Step::Inspect { lot, fail }),
        1 => any::<usize>().prop_map(|lot| Step::Recall { lot }),
    ]
}

fn party(n: usize) -> PartyId {
    PartyId::uscc_with_check(&format!("91210112MA{n:07}")).unwrap()
}

fn qty(n: u64) -> Quantity {
    Quantity::parse(&n.to_string(), "kg").unwrap()
}

fn text(s: &str) -> Text {
    Text::parse(s, 64).unwrap()
}

const STAGES: [Stage; 4] = [
    Stage::MarketEntry,
    Stage::Warehouse,
    Stage::Retail,
    Stage::Canteen,
];

fn build(steps: &[Step]) -> Graph {
    let mut graph = Graph::default();
    // (lot index, party) -> sequence of the party's latest holding event on it
    let mut holdings: Vec<((usize, usize), u64)> = Vec::new();
    let mut shipments: Vec<(usize, usize, usize, u64)> = Vec::new(); // lot, from, to, seq
    let mut sequence = 0u64;
    let push = |graph: &mut Graph, facts: Vec<(usize, LotFact)>| {
        for (lot, fact) in facts {
            let lot_id = graph.lots[lot].clone();
            graph
                .facts
                .entry(lot_id.clone())
                .or_default()
                .push(fact.clone());
            graph
                .by_sequence
                .entry(fact.sequence)
                .or_default()
                .push((lot_id, fact));
        }
    };
    let new_lot = |graph: &mut Graph| {
        let lot = graph.lots.len();
        graph.lots.push(LotId::parse(&format!("L{lot}")).unwrap());
        lot
    };
    for step in steps {
        let fact = |signer: usize, links: Vec<u64>, kind: FactKind| LotFact {
            sequence,
            hash: EventHash([sequence as u8; 32]),
            occurred_at_millis: 1_000 * sequence as i64,
            signer: party(signer),
            links,
            kind,
        };
        let hold = |holdings: &mut Vec<((usize, usize), u64)>, key: (usize, usize)| {
            holdings.retain(|(k, _)| *k != key);
            holdings.push((key, sequence));
        };
        match step.clone() {
            Step::Origin { party: p } => {
                let lot = new_lot(&mut graph);
                push(
                    &mut graph,
                    vec![(
                        lot,
                        fact(
                            p,
                            vec![],
                            FactKind::Origin {
                                product_name: text("cabbage"),
                                product_category: text("vegetable"),
                                quantity: qty(100),
                                production_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
                                    .unwrap(),
                                origin_region: RegionCode::parse("210112").unwrap(),
                                origin_place: text("farm"),
                                certificate_number: text("C1"),
                            },
                        ),
                    )],
                );
                hold(&mut holdings, (lot, p));
            }
            Step::Ship { holding, recipient } => {
                if holdings.is_empty() {
                    continue;
                }
                let ((lot, from), previous) = holdings[holding % holdings.len()];
                if recipient == from {
                    continue;
                }
                push(
                    &mut graph,
                    vec![(
                        lot,
                        fact(
                            from,
                            vec![previous],
                            FactKind::Shipped {
                                quantity: qty(5),
                                recipient: party(recipient),
                                document_number: text("D"),
                            },
                        ),
                    )],
                );
                shipments.push((lot, from, recipient, sequence));
            }
            Step::Receive {
                shipment,
                stage,
                name_supplier,
            } => {
                if shipments.is_empty() {
                    continue;
                }
                let (lot, from, to, ship_seq) = shipments.remove(shipment % shipments.len());
                push(
                    &mut graph,
                    vec![(
                        lot,
                        fact(
                            to,
                            vec![ship_seq],
                            FactKind::Received {
                                stage: STAGES[stage],
                                quantity: qty(5),
                                supplier: name_supplier.then(|| party(from)),
                                certificate_number: None,
                            },
                        ),
                    )],
                );
                hold(&mut holdings, (lot, to));
            }
            Step::ReceiveUnshipped {
                lot,
                party: p,
                supplier,
                stage,
            } => {
                if graph.lots.is_empty() {
                    continue;
                }
                let lot = lot % graph.lots.len();
                push(
                    &mut graph,
                    vec![(
                        lot,
                        fact(
                            p,
                            vec![],
                            FactKind::Received {
                                stage: STAGES[stage],
                                quantity: qty(1),
                                supplier: Some(party(supplier)),
                                certificate_number: None,
                            },
                        ),
                    )],
                );
                hold(&mut holdings, (lot, p));
            }
            Step::Transform {
                party: p,
                n_inputs,
                pick,
                kind,
            } => {
                let held: Vec<_> = holdings
                    .iter()
                    .filter(|((_, holder), _)| *holder == p)
                    .cloned()
                    .collect();
                if held.is_empty() {
                    continue;
                }
                let kind = [
                    TransformKind::Split,
                    TransformKind::Merge,
                    TransformKind::Process,
                ][kind];
                let n = match kind {
                    TransformKind::Split => 1,
                    TransformKind::Merge => n_inputs.max(2),
                    TransformKind::Process => n_inputs,
                };
                if held.len() < n {
                    continue;
                }
                let inputs: Vec<_> = (0..n).map(|i| held[(pick + i) % held.len()]).collect();
                let output = new_lot(&mut graph);
                let links: Vec<u64> = inputs.iter().map(|(_, seq)| *seq).collect();
                let mut facts = vec![(
                    output,
                    fact(
                        p,
                        links.clone(),
                        FactKind::Produced {
                            transform: kind,
                            product_name: text("meal"),
                            product_category: text("dish"),
                            quantity: qty(3),
                            inputs: inputs
                                .iter()
                                .map(|((lot, _), _)| (graph.lots[*lot].clone(), qty(1)))
                                .collect(),
                        },
                    ),
                )];
                for ((lot, _), _) in &inputs {
                    facts.push((
                        *lot,
                        fact(
                            p,
                            links.clone(),
                            FactKind::Consumed {
                                transform: kind,
                                quantity: qty(1),
                                output: graph.lots[output].clone(),
                            },
                        ),
                    ));
                }
                push(&mut graph, facts);
                hold(&mut holdings, (output, p));
            }
            Step::Inspect { lot, fail } => {
                if graph.lots.is_empty() {
                    continue;
                }
                let lot = lot % graph.lots.len();
                push(
                    &mut graph,
                    vec![(
                        lot,
                        fact(
                            4,
                            vec![],
                            FactKind::Inspected {
                                inspection: InspectionKind::QuickTest,
                                item: text("pesticide"),
                                value: text("0.1"),
                                result: if fail {
                                    InspectionResult::Fail
                                } else {
                                    InspectionResult::Pass
                                },
                            },
                        ),
                    )],
                );
            }
            Step::Recall { lot } => {
                if graph.lots.is_empty() {
                    continue;
                }
                let lot = lot % graph.lots.len();
                push(
                    &mut graph,
                    vec![(
                        lot,
                        fact(
                            0,
                            vec![],
                            FactKind::Recalled {
                                reason: text("listeria"),
                                severity: RecallSeverity::Level1,
                            },
                        ),
                    )],
                );
            }
        }
        sequence += 1;
    }
    graph
}

/// What a trace says, in comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    lots: BTreeMap<LotId, u32>,
    events: BTreeSet<u64>,
    parties: BTreeMap<PartyId, BTreeSet<Involvement>>,
    truncated: bool,
}

fn summarize(trace: &Trace) -> Summary {
    Summary {
        lots: trace
            .lots
            .iter()
            .map(|lot| (lot.lot_id.clone(), lot.depth))
            .collect(),
        events: trace
            .events
            .iter()
            .map(|event| event.fact.sequence)
            .collect(),
        parties: trace
            .parties
            .iter()
            .map(|party| {
                (
                    party.party_id.clone(),
                    party.involvements.iter().copied().collect(),
                )
            })
            .collect(),
        truncated: trace.truncated,
    }
}

fn known<'a>(
    graph: &'a Graph,
    options: &TraceOptions,
) -> impl Iterator<Item = (&'a LotId, &'a LotFact)> {
    let as_of = options.as_of;
    graph
        .by_sequence
        .values()
        .flatten()
        .map(|(lot, fact)| (lot, fact))
        .filter(move |(_, fact)| as_of.is_none_or(|as_of| fact.sequence <= as_of))
}

fn report(
    graph: &Graph,
    options: &TraceOptions,
    chosen: &BTreeSet<(LotId, u64)>,
    lots: BTreeMap<LotId, u32>,
    truncated: bool,
) -> Summary {
    let mut events = BTreeSet::new();
    let mut parties: BTreeMap<PartyId, BTreeSet<Involvement>> = BTreeMap::new();
    let mut reported_facts: BTreeMap<u64, &LotFact> = BTreeMap::new();
    for (lot, fact) in known(graph, options) {
        if chosen.contains(&(lot.clone(), fact.sequence)) && options.reports(fact) {
            events.insert(fact.sequence);
            // A transform counts once, as its output's fact when that is chosen.
            let better = matches!(fact.kind, FactKind::Produced { .. });
            reported_facts
                .entry(fact.sequence)
                .and_modify(|f| {
                    if better {
                        *f = fact
                    }
                })
                .or_insert(fact);
        }
    }
    for fact in reported_facts.values() {
        for (party, involvement) in fact.involvements() {
            parties
                .entry(party.clone())
                .or_default()
                .insert(involvement);
        }
    }
    Summary {
        lots,
        events,
        parties,
        truncated,
    }
}

fn brute_downstream(graph: &Graph, root: &LotId, options: &TraceOptions) -> Option<Summary> {
    if !known(graph, options).any(|(lot, fact)| lot == root && fact.kind.creates_lot()) {
        return None;
    }
    let max = options.max_depth.unwrap_or(u32::MAX);
    let mut depth: BTreeMap<LotId, u32> = BTreeMap::from([(root.clone(), 0)]);
    let mut truncated = false;
    loop {
        let mut changed = false;
        for (lot, fact) in known(graph, options) {
            if let (Some(&d), FactKind::Consumed { output, .. }) = (depth.get(lot), &fact.kind) {
                if d >= max {
                    continue;
                }
                if depth.get(output).is_none_or(|&o| o > d + 1) {
                    depth.insert(output.clone(), d + 1);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (lot, fact) in known(graph, options) {
        if let (Some(&d), FactKind::Consumed { output, .. }) = (depth.get(lot), &fact.kind) {
            truncated |= d >= max && !depth.contains_key(output);
        }
    }
    let chosen = known(graph, options)
        .filter(|(lot, _)| depth.contains_key(*lot))
        .map(|(lot, fact)| (lot.clone(), fact.sequence))
        .collect();
    Some(report(graph, options, &chosen, depth, truncated))
}

fn brute_upstream(graph: &Graph, root: &LotId, options: &TraceOptions) -> Option<Summary> {
    if !known(graph, options).any(|(lot, fact)| lot == root && fact.kind.creates_lot()) {
        return None;
    }
    let max = options.max_depth.unwrap_or(u32::MAX);
    let fact_of = |lot: &LotId, seq: u64| {
        known(graph, options)
            .find(|(l, f)| *l == lot && f.sequence == seq)
            .map(|(_, f)| f.clone())
    };
    let mut depth: BTreeMap<LotId, u32> = BTreeMap::from([(root.clone(), 0)]);
    let mut chosen: BTreeSet<(LotId, u64)> = BTreeSet::new();
    for (lot, fact) in known(graph, options) {
        if lot == root
            && (options.holder.as_ref() == Some(&fact.signer)
                && matches!(fact.kind, FactKind::Received { .. }))
        {
            chosen.insert((lot.clone(), fact.sequence));
        }
    }
    loop {
        let before = (chosen.len(), depth.clone());
        // every lot in the trace brings its creation and its tests
        for (lot, fact) in known(graph, options) {
            if depth.contains_key(lot)
                && matches!(
                    fact.kind,
                    FactKind::Origin { .. }
                        | FactKind::Produced { .. }
                        | FactKind::Inspected { .. }
                        | FactKind::Recalled { .. }
                )
            {
                chosen.insert((lot.clone(), fact.sequence));
            }
        }
        for (lot, seq) in chosen.clone() {
            let Some(fact) = fact_of(&lot, seq) else {
                continue;
            };
            match &fact.kind {
                FactKind::Produced { inputs, .. } => {
                    let d = depth[&lot];
                    if d >= max {
                        continue;
                    }
                    for ((input, _), link) in inputs.iter().zip(&fact.links) {
                        if depth.get(input).is_none_or(|&o| o > d + 1) {
                            depth.insert(input.clone(), d + 1);
                        }
                        chosen.insert((input.clone(), *link));
                    }
                }
                FactKind::Shipped { .. } | FactKind::Received { .. } => {
                    for link in &fact.links {
                        chosen.insert((lot.clone(), *link));
                    }
                }
                _ => {}
            }
        }
        if (chosen.len(), depth.clone()) == before {
            break;
        }
    }
    let truncated = chosen.iter().any(|(lot, seq)| {
        fact_of(lot, *seq).is_some_and(|fact| {
            matches!(&fact.kind, FactKind::Produced { inputs, .. } if depth[lot] >= max && !inputs.is_empty())
        })
    });
    Some(report(graph, options, &chosen, depth, truncated))
}

/// Every path starts on the root lot, ends at the party's first event, and each step
/// is linked to the one before it, or makes or uses the lot the one before it is on.
fn check_paths(graph: &Graph, trace: &Trace) -> Result<(), TestCaseError> {
    let lot_of: HashMap<&LotId, _> = trace.lots.iter().map(|l| (&l.lot_id, l)).collect();
    let links = |seq: u64| -> Vec<u64> { graph.by_sequence[&seq][0].1.links.clone() };
    for party in &trace.parties {
        prop_assert_eq!(party.path.last(), Some(&party.events[0]));
        // Every step is reported, or listed among the path events.
        let step = |sequence: u64| trace.event(sequence).map(|e| (sequence, e.lot_id.clone()));
        let steps: Option<Vec<(u64, LotId)>> = party.path.iter().map(|s| step(*s)).collect();
        let Some(steps) = steps else {
            return Err(TestCaseError::fail(format!(
                "a path step of {} is not in the trace",
                party.party_id
            )));
        };
        prop_assert_eq!(
            &steps[0].1,
            &trace.root,
            "path of {} starts off the root lot",
            party.party_id
        );
        for pair in steps.windows(2) {
            let ((near, _), (far, far_lot)) = (&pair[0], &pair[1]);
            let linked = match trace.direction {
                Direction::Downstream => links(*far).contains(near),
                Direction::Upstream => links(*near).contains(far),
            };
            let via = lot_of[far_lot].via.as_ref().map(|via| via.event);
            prop_assert!(
                linked || via == Some(*near),
                "step {} -> {} follows no link",
                near,
                far
            );
        }
    }
    Ok(())
}

fn options() -> impl Strategy<Value = TraceOptions> {
    (
        proptest::option::weighted(0.3, 0..4u32),
        proptest::option::weighted(0.3, 0..120u64),
        proptest::option::weighted(0.2, 0..60i64),
        proptest::option::weighted(0.2, 40..120i64),
        proptest::option::weighted(0.2, proptest::sample::subsequence(STAGES.to_vec(), 1..3)),
        proptest::option::weighted(0.3, 0..5usize),
    )
        .prop_map(
            |(max_depth, as_of, from, until, stages, holder)| TraceOptions {
                max_depth,
                as_of,
                from_millis: from.map(|s| s * 1000),
                until_millis: until.map(|s| s * 1000),
                stages,
                holder: holder.map(party),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn traces_agree_with_brute_force(steps in proptest::collection::vec(step(), 1..120), root in any::<usize>(), options in options()) {
        let graph = build(&steps);
        prop_assume!(!graph.lots.is_empty());
        let root = graph.lots[root % graph.lots.len()].clone();

        let down = downstream(&graph, &root, &options).unwrap();
        prop_assert_eq!(down.as_ref().map(summarize), brute_downstream(&graph, &root, &options));
        let up = upstream(&graph, &root, &options).unwrap();
        prop_assert_eq!(up.as_ref().map(summarize), brute_upstream(&graph, &root, &options));
        for trace in down.iter().chain(up.iter()) {
            check_paths(&graph, trace)?;
        }
    }
}

#[test]
fn a_diamond_reaches_the_canteen_once_with_a_path_through_one_branch() {
    use Step::*;
    // 0: origin by party 0 (lot L0). 1: party 0 splits L0 -> L1. 2: splits L0 -> L2.
    // 3: merges L1 + L2 -> L3. 4: ships L3 to party 3. 5: party 3 receives it at a canteen.
    let steps = vec![
        Origin { party: 0 },
        Transform {
            party: 0,
            n_inputs: 1,
            pick: 0,
            kind: 0,
        },
        Transform {
            party: 0,
            n_inputs: 1,
            pick: 0,
            kind: 0,
        },
        Transform {
            party: 0,
            n_inputs: 2,
            pick: 1,
            kind: 1,
        },
        Ship {
            holding: 3,
            recipient: 3,
        },
        Receive {
            shipment: 0,
            stage: 3,
            name_supplier: true,
        },
    ];
    let graph = build(&steps);
    let root = LotId::parse("L0").unwrap();
    let trace = downstream(&graph, &root, &TraceOptions::default())
        .unwrap()
        .unwrap();
    let lots: Vec<_> = trace
        .lots
        .iter()
        .map(|l| (l.lot_id.as_str(), l.depth))
        .collect();
    assert_eq!(lots, [("L0", 0), ("L1", 1), ("L2", 1), ("L3", 2)]);
    let canteen = trace
        .parties
        .iter()
        .find(|p| p.party_id == party(3))
        .unwrap();
    assert_eq!(
        canteen.involvements,
        [Involvement::Recipient, Involvement::Canteen]
    );
    assert_eq!(canteen.path, [0, 1, 3, 4], "origin, split, merge, shipment");
    assert!(trace.parties.iter().all(|p| p.is_affected()));

    let up = upstream(
        &graph,
        &LotId::parse("L3").unwrap(),
        &TraceOptions::default(),
    )
    .unwrap()
    .unwrap();
    let lots: BTreeSet<_> = up
        .lots
        .iter()
        .map(|l| l.lot_id.as_str().to_owned())
        .collect();
    assert_eq!(
        lots,
        BTreeSet::from(["L0".into(), "L1".into(), "L2".into(), "L3".into()])
    );
    let depth_of_l0 = up
        .lots
        .iter()
        .find(|l| l.lot_id.as_str() == "L0")
        .unwrap()
        .depth;
    assert_eq!(depth_of_l0, 2);
    let events: Vec<u64> = up.events.iter().map(|e| e.fact.sequence).collect();
    assert_eq!(
        events,
        [0, 1, 2, 3],
        "the shipment after the merge is not where it came from"
    );
}
