//! How the inspector commands print: tables for people, JSON and CSV for programs,
//! GraphViz DOT and SVG (laid out in Rust by `layout-rs`) for pictures.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use comfy_table::{ContentArrangement, Table, presets};
use query_api::views::{EventSummary, LotView, LotsPage, PartyView, TraceView, TracedPartyView};

/// Output formats of `trace`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// Readable tables.
    Table,
    /// The API's JSON.
    Json,
    /// The party list (the recall list, downstream) as CSV.
    Csv,
    /// The trace graph in GraphViz DOT.
    Dot,
    /// The trace graph as an SVG picture.
    Svg,
}

/// Output formats of `lot show`, `party show` and `events`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewFormat {
    /// Readable tables.
    Table,
    /// The API's JSON.
    Json,
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    table
}

/// An API time (UTC, RFC 3339) as people in the district read it: Beijing time.
pub fn beijing(time: &str) -> String {
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    match chrono::DateTime::parse_from_rfc3339(time) {
        Ok(t) => t
            .with_timezone(&offset)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => time.to_owned(),
    }
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// A path as `LOT kind#seq → kind#seq → LOT2 kind#seq`, naming each lot as it changes.
pub fn path_text(trace: &TraceView, path: &[u64]) -> String {
    let mut text = String::new();
    let mut lot: Option<&str> = None;
    for (i, sequence) in path.iter().enumerate() {
        if i > 0 {
            text.push_str(" → ");
        }
        match trace.event(*sequence) {
            Some(event) => {
                if lot != Some(event.lot_id.as_str()) {
                    text.push_str(&event.lot_id);
                    text.push(' ');
                    lot = Some(&event.lot_id);
                }
                let _ = write!(text, "{}#{sequence}", event.kind);
            }
            None => {
                let _ = write!(text, "#{sequence}");
            }
        }
    }
    text
}

fn party_row(trace: &TraceView, party: &TracedPartyView) -> Vec<String> {
    vec![
        party.party.party_id.clone(),
        or_dash(party.party.name.as_deref()),
        or_dash(party.party.role.as_deref()),
        party.involvements.join(", "),
        format!("#{} {}", party.first_event, beijing(&party.first_at)),
        or_dash(party.first_quantity.as_deref()),
        or_dash(party.party.contact.as_deref()),
        path_text(trace, &party.path),
    ]
}

const PARTY_HEADER: [&str; 8] = [
    "party",
    "name",
    "role",
    "how",
    "first reached",
    "quantity",
    "contact",
    "path from the root",
];

/// The trace as tables.
pub fn trace_table(trace: &TraceView) -> String {
    let mut out = String::new();
    let root = &trace.lots[0];
    let direction = if trace.direction == "downstream" {
        "Downstream (where to)"
    } else {
        "Upstream (where from)"
    };
    let _ = writeln!(
        out,
        "{direction} trace of {} {}, as of event {}{}",
        trace.root,
        root.product_name.as_deref().unwrap_or(""),
        trace.as_of,
        if trace.truncated {
            " (cut short by --max-depth)"
        } else {
            ""
        }
    );
    let affected: Vec<_> = trace.parties.iter().filter(|p| p.affected).collect();
    let others: Vec<_> = trace.parties.iter().filter(|p| !p.affected).collect();
    let recalled: BTreeSet<&str> = trace
        .lots
        .iter()
        .filter(|l| !l.recalls.is_empty())
        .map(|l| l.lot_id.as_str())
        .collect();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let _ = writeln!(
        out,
        "{}; {} that held or were sent the food; {} otherwise involved; {} recalled. Times are Beijing time.",
        plural(trace.lots.len(), "lot", "lots"),
        plural(affected.len(), "party", "parties"),
        plural(others.len(), "party", "parties"),
        plural(recalled.len(), "lot", "lots"),
    );

    let mut lots = table(&[
        "depth",
        "lot",
        "product",
        "quantity",
        "created by",
        "created",
        "via",
        "status",
    ]);
    for lot in &trace.lots {
        let via = match (&lot.via_lot, lot.via_event) {
            (Some(from), Some(event)) => format!("{from} #{event}"),
            _ => "-".to_owned(),
        };
        let failed = trace.events.iter().any(|e| {
            e.lot_id == lot.lot_id && e.kind == "inspected" && e.result.as_deref() == Some("fail")
        });
        let status = match (!lot.recalls.is_empty(), failed) {
            (true, _) => "RECALLED",
            (false, true) => "FAILED TEST",
            _ => "",
        };
        lots.add_row(vec![
            lot.depth.to_string(),
            lot.lot_id.clone(),
            or_dash(lot.product_name.as_deref()),
            or_dash(lot.quantity.as_deref()),
            or_dash(lot.created_by.as_deref()),
            lot.created_at.as_deref().map_or("-".to_owned(), beijing),
            via,
            status.to_owned(),
        ]);
    }
    let _ = writeln!(out, "\nLOTS\n{lots}");

    if trace.direction == "upstream" {
        let mut origins = table(&[
            "lot",
            "product",
            "producer",
            "place",
            "region",
            "produced",
            "certificate",
        ]);
        for event in trace.events.iter().filter(|e| e.kind == "origin") {
            origins.add_row(vec![
                event.lot_id.clone(),
                or_dash(event.product_name.as_deref()),
                event.signer.clone(),
                or_dash(event.origin_place.as_deref()),
                or_dash(event.origin_region.as_deref()),
                or_dash(event.production_date.as_deref()),
                or_dash(event.certificate_number.as_deref()),
            ]);
        }
        let _ = writeln!(out, "\nORIGINS\n{origins}");
    }

    let title = if trace.direction == "downstream" {
        "RECALL LIST: every party that holds or was sent food from these lots"
    } else {
        "PARTIES the food passed through"
    };
    let mut parties = table(&PARTY_HEADER);
    for party in &affected {
        parties.add_row(party_row(trace, party));
    }
    let _ = writeln!(out, "\n{title}\n{parties}");
    if !others.is_empty() {
        let mut rest = table(&PARTY_HEADER);
        for party in &others {
            rest.add_row(party_row(trace, party));
        }
        let _ = writeln!(out, "\nALSO INVOLVED (tests, recalls)\n{rest}");
    }

    let checks: Vec<_> = trace
        .events
        .iter()
        .filter(|e| e.kind == "inspected" || e.kind == "recalled")
        .collect();
    if !checks.is_empty() {
        let mut tests = table(&["event", "lot", "when", "by", "what", "result"]);
        for event in checks {
            let (what, result) = if event.kind == "recalled" {
                (
                    format!("RECALL {}", or_dash(event.severity.as_deref())),
                    or_dash(event.reason.as_deref()),
                )
            } else {
                (
                    format!(
                        "{} {}",
                        or_dash(event.inspection.as_deref()),
                        or_dash(event.item.as_deref())
                    ),
                    format!(
                        "{} ({})",
                        or_dash(event.result.as_deref()),
                        or_dash(event.value.as_deref())
                    ),
                )
            };
            tests.add_row(vec![
                format!("#{}", event.sequence),
                event.lot_id.clone(),
                beijing(&event.occurred_at),
                event.signer.clone(),
                what,
                result,
            ]);
        }
        let _ = writeln!(out, "\nTESTS AND RECALLS\n{tests}");
    }
    out
}

/// The party list as CSV (a header row, then one row per party).
pub fn trace_csv(trace: &TraceView) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "party_id",
        "name",
        "role",
        "region",
        "contact",
        "affected",
        "involvements",
        "first_event",
        "first_at",
        "first_quantity",
        "events",
        "path",
    ])?;
    for party in &trace.parties {
        writer.write_record([
            party.party.party_id.as_str(),
            party.party.name.as_deref().unwrap_or(""),
            party.party.role.as_deref().unwrap_or(""),
            party.party.region.as_deref().unwrap_or(""),
            party.party.contact.as_deref().unwrap_or(""),
            if party.affected { "yes" } else { "no" },
            &party.involvements.join(" "),
            &party.first_event.to_string(),
            &party.first_at,
            party.first_quantity.as_deref().unwrap_or(""),
            &party
                .events
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            &path_text(trace, &party.path),
        ])?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// A DOT string literal.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The trace graph in GraphViz DOT: lots are boxes (red when recalled), parties are
/// ellipses; edges follow the food: transforms from lot to lot, origins from producer to
/// lot, receipts from lot to receiver, shipments not (yet) received dashed.
pub fn trace_dot(trace: &TraceView) -> String {
    let mut dot = String::from("digraph trace {\n  rankdir=LR;\n");
    let names: BTreeMap<&str, &TracedPartyView> = trace
        .parties
        .iter()
        .map(|p| (p.party.party_id.as_str(), p))
        .collect();
    for lot in &trace.lots {
        let recalled = !lot.recalls.is_empty();
        let label = format!(
            "{}\n{}{}",
            lot.lot_id,
            lot.product_name.as_deref().unwrap_or(""),
            if recalled { "\nRECALLED" } else { "" }
        );
        let _ = writeln!(
            dot,
            "  {} [shape=box, label={}{}];",
            quoted(&format!("lot:{}", lot.lot_id)),
            quoted(&label),
            if recalled {
                ", style=filled, fillcolor=\"#f4b6b6\""
            } else {
                ""
            }
        );
    }
    let mut drawn_parties = BTreeSet::new();
    let mut party_node = |dot: &mut String, id: &str| {
        if drawn_parties.insert(id.to_owned()) {
            let label = match names.get(id).and_then(|p| p.party.name.as_deref()) {
                Some(name) => format!("{name}\n{id}"),
                None => id.to_owned(),
            };
            let _ = writeln!(
                dot,
                "  {} [shape=ellipse, label={}];",
                quoted(&format!("party:{id}")),
                quoted(&label)
            );
        }
    };
    for lot in &trace.lots {
        if let (Some(from), Some(event)) = (&lot.via_lot, lot.via_event) {
            let (a, b) = if trace.direction == "downstream" {
                (from.as_str(), lot.lot_id.as_str())
            } else {
                (lot.lot_id.as_str(), from.as_str())
            };
            let kind = trace
                .events
                .iter()
                .find(|e| e.sequence == event)
                .and_then(|e| e.transform.clone())
                .unwrap_or_else(|| "transform".to_owned());
            let _ = writeln!(
                dot,
                "  {} -> {} [label={}];",
                quoted(&format!("lot:{a}")),
                quoted(&format!("lot:{b}")),
                quoted(&format!("{kind} #{event}"))
            );
        }
    }
    let received: BTreeSet<(&str, &str)> = trace
        .events
        .iter()
        .filter(|e| e.kind == "received" || e.kind == "entered")
        .map(|e| (e.lot_id.as_str(), e.signer.as_str()))
        .collect();
    for event in &trace.events {
        let lot = quoted(&format!("lot:{}", event.lot_id));
        let quantity = event.quantity.as_deref().unwrap_or("");
        match event.kind.as_str() {
            "origin" => {
                party_node(&mut dot, &event.signer);
                let _ = writeln!(
                    dot,
                    "  {} -> {lot} [label={}];",
                    quoted(&format!("party:{}", event.signer)),
                    quoted(&format!("origin {quantity}"))
                );
            }
            "received" | "entered" => {
                if event.kind == "entered"
                    && let Some(supplier) = event.counterparty.as_deref()
                {
                    // Where a lot nobody recorded came from: its supplier, as received.
                    party_node(&mut dot, supplier);
                    let _ = writeln!(
                        dot,
                        "  {} -> {lot} [style=dotted, label={}];",
                        quoted(&format!("party:{supplier}")),
                        quoted("supplied")
                    );
                }
                party_node(&mut dot, &event.signer);
                let _ = writeln!(
                    dot,
                    "  {lot} -> {} [label={}];",
                    quoted(&format!("party:{}", event.signer)),
                    quoted(&format!(
                        "{} {quantity} #{}",
                        event.stage.as_deref().unwrap_or("received"),
                        event.sequence
                    ))
                );
            }
            "shipped" => {
                let Some(recipient) = event.counterparty.as_deref() else {
                    continue;
                };
                if received.contains(&(event.lot_id.as_str(), recipient)) {
                    continue;
                }
                party_node(&mut dot, recipient);
                let _ = writeln!(
                    dot,
                    "  {lot} -> {} [style=dashed, label={}];",
                    quoted(&format!("party:{recipient}")),
                    quoted(&format!("shipped {quantity} #{}", event.sequence))
                );
            }
            _ => {}
        }
    }
    dot.push_str("}\n");
    dot
}

/// Lays out a DOT graph and draws it as SVG, in Rust.
pub fn dot_to_svg(dot: &str) -> anyhow::Result<String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    let mut parser = DotParser::new(dot);
    let graph = parser
        .process()
        .map_err(|e| anyhow::anyhow!("the trace graph does not parse as DOT: {e}"))?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    let mut svg = SVGWriter::new();
    visual.do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}

/// A lot as tables.
pub fn lot_table(lot: &LotView) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({}), {}, made by {} {}",
        lot.lot_id,
        lot.product_name,
        lot.product_category,
        lot.quantity,
        lot.created_by.party_id,
        lot.created_by.name.as_deref().unwrap_or("")
    );
    if lot.recalled {
        for recall in &lot.recalls {
            let _ = writeln!(
                out,
                "RECALLED{}: {} ({}), event #{} on {}",
                if recall.inherited {
                    format!(" through upstream lot {}", recall.lot_id)
                } else {
                    String::new()
                },
                recall.reason,
                recall.severity,
                recall.sequence,
                beijing(&recall.occurred_at)
            );
        }
    } else {
        let _ = writeln!(out, "not recalled (as of event {})", lot.as_of);
    }
    let mut events = table(&[
        "event",
        "when",
        "what",
        "by",
        "quantity",
        "other party",
        "detail",
        "follows",
    ]);
    for event in &lot.events {
        let detail = [
            event.stage.as_deref(),
            event.transform.as_deref(),
            event.output.as_deref(),
            event.certificate_number.as_deref(),
            event.document_number.as_deref(),
            event.item.as_deref(),
            event.result.as_deref(),
            event.reason.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        events.add_row(vec![
            format!("#{}", event.sequence),
            beijing(&event.occurred_at),
            event.kind.clone(),
            event.signer.clone(),
            or_dash(event.quantity.as_deref()),
            or_dash(event.counterparty.as_deref()),
            detail,
            event
                .links
                .iter()
                .map(|l| format!("#{l}"))
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    let _ = writeln!(out, "\nHISTORY\n{events}");
    if let Some(next) = lot.next_after {
        let _ = writeln!(out, "(more: --after {next})");
    }
    out
}

/// A party as text.
pub fn party_table(party: &PartyView) -> String {
    let mut out = String::new();
    let p = &party.party;
    let _ = writeln!(out, "{} {}", p.party_id, p.name.as_deref().unwrap_or(""));
    let _ = writeln!(out, "role:    {}", or_dash(p.role.as_deref()));
    let _ = writeln!(out, "region:  {}", or_dash(p.region.as_deref()));
    let _ = writeln!(out, "status:  {}", or_dash(p.status.as_deref()));
    let _ = writeln!(out, "contact: {}", or_dash(p.contact.as_deref()));
    let _ = writeln!(out, "registered by event #{}", party.registered_at_sequence);
    let mut keys = table(&[
        "key id",
        "valid from",
        "valid until",
        "revoked",
        "public key",
    ]);
    for key in &party.keys {
        keys.add_row(vec![
            key.key_id.clone(),
            key.valid_from.clone(),
            or_dash(key.valid_until.as_deref()),
            if key.revoked { "yes" } else { "no" }.to_owned(),
            key.public_key.clone(),
        ]);
    }
    let _ = writeln!(out, "\nKEYS\n{keys}");
    out
}

/// Events as a table, with the cursor of the next page.
pub fn events_table(list: &[EventSummary], next_cursor: Option<&str>) -> String {
    let mut events = table(&["event", "when", "kind", "signer", "lot", "hash"]);
    for event in list {
        events.add_row(vec![
            format!("#{}", event.sequence),
            beijing(&event.occurred_at),
            event.kind.clone(),
            event.signer.clone(),
            or_dash(event.lot_id.as_deref()),
            event.hash.clone(),
        ]);
    }
    let mut out = format!("{events}\n");
    if let Some(cursor) = next_cursor {
        let _ = writeln!(out, "(more: --cursor {cursor})");
    }
    out
}

/// Lots as a table, with the cursor of the next page.
pub fn lots_table(page: &LotsPage) -> String {
    let mut lots = table(&[
        "lot",
        "product",
        "category",
        "quantity",
        "created by",
        "created",
    ]);
    for lot in &page.lots {
        lots.add_row(vec![
            lot.lot_id.clone(),
            lot.product_name.clone(),
            lot.product_category.clone(),
            lot.quantity.clone(),
            lot.created_by.clone(),
            beijing(&lot.created_at),
        ]);
    }
    let mut out = format!("{lots}\n");
    if let Some(cursor) = &page.next_cursor {
        let _ = writeln!(out, "(more: --cursor {cursor})");
    }
    out
}
