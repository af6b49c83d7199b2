//! `foodtrace import`: a market's purchase inspection records (进货查验记录), or its sales
//! and delivery records (`--kind shipments`), from a CSV spreadsheet, each row signed
//! here as one receipt (or shipment) and streamed to the node.
//!
//! # Columns
//!
//! The first row names the columns, in Chinese or English, in any order (a UTF-8 byte
//! order mark, as spreadsheet programs write, is fine):
//!
//! | column | also accepted | what |
//! |---|---|---|
//! | `date` | 日期, 进货日期, 购进日期 | `2026-11-28`, `2026/11/28` or `2026年11月28日`, optionally followed by a time `06:30`; Beijing time |
//! | `supplier` | 供货者, 供应商, 供货单位 | receipts: the supplier's unified social credit code (as registered) |
//! | `recipient` | 购货者, 收货方, 购货单位, 收货单位 | shipments: the recipient's code |
//! | `product` | 品名, 产品名称, 商品名称 | the product as received (recorded on the receipt) |
//! | `category` | 品类, 类别, 产品类别 | optional; the product's category (default 食用农产品) |
//! | `lot` | 批号, 批次, 批次号, 生产批号 | the lot id, as its producer recorded it |
//! | `quantity` | 数量 | a decimal number |
//! | `unit` | 单位 | `kg`, `箱`, ... |
//! | `certificate` | 合格证编号, 合格证号, 承诺达标合格证编号 | the certificate checked (may be empty) |
//! | `document` | 票据编号, 单据号, 凭证号 | the delivery note or invoice number (may be empty for receipts; required for shipments) |
//!
//! Columns named `error` or `错误` are ignored, so the rejects file (below) can be fixed
//! and imported as it is. Row numbers are the spreadsheet's: the header is row 1.
//!
//! # What happens to a row
//!
//! It becomes a receipt (`--stage`, default market entry) of that lot from that
//! supplier, with the product as received, occurring at the row's date (midnight
//! Beijing time unless a time is given), signed with the importer's key. A lot its
//! producer never recorded (the "four smalls" a market records for) enters the ledger at
//! this receipt. The event depends only on the row, so importing the
//! same row again makes the very same event, which the node recognizes as already
//! recorded: a rerun imports nothing twice, and an interrupted import is finished by
//! simply running it again. A shipment row becomes a SHIP of the lot to the recipient,
//! linking the importer's *first* record of holding the lot (its origin or receipt,
//! looked up on the node): the first never changes once recorded, so a shipment row too
//! makes the same event on every run. Rows the importer or the node refuses are written,
//! with the reason, to the rejects file (default `FILE.rejects.csv`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use ledger_core::ids::{EventHash, LotId, PartyId};
use ledger_core::model::{self, EventKind, Quantity, ReceivingSource, Stage, Text, limits};
use ledger_proto::pb;

use crate::ServerArgs;
use crate::record::{EXIT_EVENT_REFUSED, SignerArgs};

/// The columns, by the names the header may give them.
const COLUMNS: [(Column, &[&str]); 10] = [
    (Column::Category, &["category", "品类", "类别", "产品类别"]),
    (
        Column::Date,
        &[
            "date",
            "日期",
            "进货日期",
            "购进日期",
            "销售日期",
            "出货日期",
        ],
    ),
    (
        Column::Supplier,
        &["supplier", "供货者", "供应商", "供货单位"],
    ),
    (
        Column::Recipient,
        &["recipient", "购货者", "收货方", "购货单位", "收货单位"],
    ),
    (
        Column::Product,
        &["product", "品名", "产品名称", "商品名称"],
    ),
    (Column::Lot, &["lot", "批号", "批次", "批次号", "生产批号"]),
    (Column::Quantity, &["quantity", "数量"]),
    (Column::Unit, &["unit", "单位"]),
    (
        Column::Certificate,
        &[
            "certificate",
            "合格证编号",
            "合格证号",
            "承诺达标合格证编号",
        ],
    ),
    (
        Column::Document,
        &["document", "票据编号", "单据号", "凭证号"],
    ),
];

/// The category of a receipt's product when the sheet has no category column.
const DEFAULT_CATEGORY: &str = "食用农产品";

/// Header names the importer ignores (the rejects file's reason column).
const IGNORED: [&str; 2] = ["error", "错误"];

/// A column the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Category,
    Date,
    Supplier,
    Recipient,
    Product,
    Lot,
    Quantity,
    Unit,
    Certificate,
    Document,
}

/// Columns a sheet of receipts must have (certificate and document may be left out).
const RECEIPT_COLUMNS: [Column; 6] = [
    Column::Date,
    Column::Supplier,
    Column::Product,
    Column::Lot,
    Column::Quantity,
    Column::Unit,
];

/// Columns a sheet of shipments must have.
const SHIPMENT_COLUMNS: [Column; 7] = [
    Column::Date,
    Column::Recipient,
    Column::Product,
    Column::Lot,
    Column::Quantity,
    Column::Unit,
    Column::Document,
];

/// What a sheet records.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetKind {
    /// Purchase inspection records (进货查验记录): one receipt a row.
    Receipts,
    /// Sales and delivery records (销售/出货记录): one shipment a row.
    Shipments,
}

/// The receipts template: the header in Chinese and English, and one example row.
pub const TEMPLATE: &str = "\
日期 date,供货者 supplier,品名 product,批号 lot,数量 quantity,单位 unit,合格证编号 certificate,票据编号 document
2026-11-28,91210112MA0000101J,大白菜,HN-CAB-20261128-01,120,kg,HG-20261128-001,PS-0042
";

/// The shipments template.
pub const SHIPMENT_TEMPLATE: &str = "\
日期 date,购货者 recipient,品名 product,批号 lot,数量 quantity,单位 unit,合格证编号 certificate,票据编号 document
2026-11-28,91210112MA0000101J,大白菜,HN-CAB-20261128-01,40,kg,HG-20261128-001,XS-0107
";

/// Where each column is in a file, and its header as written there.
struct Layout {
    index: HashMap<Column, (usize, String)>,
}

impl Layout {
    /// The layout a header row gives, or what is wrong with it.
    fn of(header: &csv::StringRecord, kind: SheetKind) -> anyhow::Result<Layout> {
        let mut index = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim_start_matches('\u{feff}').trim();
            // "日期 date": either word names the column.
            let column = name.split_whitespace().find_map(|word| {
                let word = word.to_lowercase();
                COLUMNS
                    .iter()
                    .find(|(_, names)| names.contains(&word.as_str()))
                    .map(|(column, _)| *column)
            });
            match column {
                Some(column) => {
                    if index.insert(column, (i, name.to_owned())).is_some() {
                        anyhow::bail!("row 1: column '{name}' appears twice");
                    }
                }
                None if name
                    .split_whitespace()
                    .any(|w| IGNORED.contains(&w.to_lowercase().as_str())) => {}
                None if name.is_empty() => {}
                None => anyhow::bail!(
                    "row 1: unknown column '{name}'; the columns are date, supplier (receipts) or recipient (shipments), product, lot, quantity, unit, certificate, document (or 日期, 供货者 or 购货者, 品名, 批号, 数量, 单位, 合格证编号, 票据编号)"
                ),
            }
        }
        let required: &[Column] = match kind {
            SheetKind::Receipts => &RECEIPT_COLUMNS,
            SheetKind::Shipments => &SHIPMENT_COLUMNS,
        };
        let missing: Vec<&str> = required
            .iter()
            .filter(|c| !index.contains_key(c))
            .map(|c| {
                COLUMNS
                    .iter()
                    .find(|(column, _)| column == c)
                    .map(|(_, names)| names[0])
                    .unwrap_or("?")
            })
            .collect();
        if !missing.is_empty() {
            let hint = match (kind, index.contains_key(&Column::Recipient)) {
                (SheetKind::Receipts, true) => " (a sheet of shipments? pass --kind shipments)",
                _ => "",
            };
            anyhow::bail!("row 1: missing column(s): {}{hint}", missing.join(", "));
        }
        Ok(Layout { index })
    }

    /// A cell (trimmed), and the column's header as written.
    fn cell<'r>(&self, row: &'r csv::StringRecord, column: Column) -> (&'r str, &str) {
        match self.index.get(&column) {
            Some((i, name)) => (row.get(*i).unwrap_or("").trim(), name.as_str()),
            None => ("", ""),
        }
    }
}

/// A row's date (and time), in Beijing time.
fn row_time(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((date, time)) => (date, Some(time.trim())),
        None => (text, None),
    };
    let date = ["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y.%m.%d"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(date, format).ok())
        .ok_or_else(|| format!("'{text}' is not a date like 2026-11-28"))?;
    let time = match time {
        None | Some("") => NaiveTime::MIN,
        Some(time) => ["%H:%M", "%H:%M:%S"]
            .iter()
            .find_map(|format| NaiveTime::parse_from_str(time, format).ok())
            .ok_or_else(|| format!("'{text}': the time is not like 06:30"))?,
    };
    beijing
        .from_local_datetime(&date.and_time(time))
        .single()
        .ok_or_else(|| format!("'{text}' is not a valid time"))
}

/// The signer's first event holding each lot (its origin, receipt, shipment or
/// transform of it): what a shipment row links as the shipper's previous event. The
/// first never changes once it exists, so a row makes the same shipment on every run.
pub type Holdings = HashMap<LotId, EventHash>;

/// What the sheet says to record, for the signer.
pub struct Sheet {
    /// Receipts or shipments.
    pub kind: SheetKind,
    /// The stage receipts record.
    pub stage: Stage,
}

/// A row as the event it records, or why not (naming the column as the header does).
fn row_event(
    layout: &Layout,
    row: &csv::StringRecord,
    sheet: &Sheet,
    holdings: &Holdings,
) -> Result<(DateTime<FixedOffset>, EventKind), String> {
    let cell = |column| layout.cell(row, column);
    let party = |column| -> Result<PartyId, String> {
        let (text, name) = cell(column);
        PartyId::parse(text).map_err(|e| format!("{name}: {}", e.0))
    };
    let (date, date_name) = cell(Column::Date);
    let occurred_at = row_time(date).map_err(|e| format!("{date_name}: {e}"))?;
    let counterpart = match sheet.kind {
        SheetKind::Receipts => party(Column::Supplier)?,
        SheetKind::Shipments => party(Column::Recipient)?,
    };
    let (product, product_name) = cell(Column::Product);
    if product.is_empty() {
        return Err(format!("{product_name}: is required"));
    }
    let (lot, name) = cell(Column::Lot);
    let lot_id = LotId::parse(lot).map_err(|e| format!("{name}: {}", e.0))?;
    let (amount, amount_name) = cell(Column::Quantity);
    let (unit, unit_name) = cell(Column::Unit);
    let quantity = Quantity::parse(amount, unit).map_err(|(part, e)| {
        let name = if part == "unit" {
            unit_name
        } else {
            amount_name
        };
        match part {
            "amount" if !amount.is_empty() => format!("{name}: '{amount}' is not a number"),
            _ => format!("{name}: {}", e.0),
        }
    })?;
    let optional = |column| -> Result<Option<Text>, String> {
        let (text, name) = cell(column);
        if text.is_empty() {
            return Ok(None);
        }
        Text::parse(text, limits::MAX_SHORT_TEXT)
            .map(Some)
            .map_err(|e| format!("{name}: {}", e.0))
    };
    let certificate_number = optional(Column::Certificate)?;
    let document = optional(Column::Document)?;
    let kind = match sheet.kind {
        SheetKind::Receipts => EventKind::Receiving(
            sheet.stage,
            model::Receiving {
                lot_id,
                quantity,
                source: ReceivingSource::Supplier(counterpart),
                certificate_number,
                documents_checked: document.into_iter().collect(),
                product: Some(model::ReceivedProduct {
                    name: Text::parse(product, limits::MAX_SHORT_TEXT)
                        .map_err(|e| format!("{product_name}: {}", e.0))?,
                    category: match optional(Column::Category)? {
                        Some(category) => category,
                        None => Text::parse(DEFAULT_CATEGORY, limits::MAX_SHORT_TEXT)
                            .expect("a valid text"),
                    },
                }),
            },
        ),
        SheetKind::Shipments => {
            let (_, document_name) = cell(Column::Document);
            let document_number =
                document.ok_or_else(|| format!("{document_name}: is required for a shipment"))?;
            let previous_event = *holdings.get(&lot_id).ok_or_else(|| {
                format!("{name}: the ledger has no record of this party holding lot '{lot_id}' (an origin or a receipt of it)")
            })?;
            EventKind::Ship(model::Shipment {
                lot_id,
                quantity,
                recipient: counterpart,
                document_number,
                previous_event,
            })
        }
    };
    Ok((occurred_at, kind))
}

/// The signer's first holding event of each lot, read from the node.
async fn holdings(
    client: &mut pb::ledger_client::LedgerClient<tonic::transport::Channel>,
    signer: &PartyId,
    lots: impl IntoIterator<Item = LotId>,
) -> anyhow::Result<Holdings> {
    let mut found = Holdings::new();
    for lot_id in lots {
        let mut after_sequence = None;
        'pages: loop {
            let page = client
                .list_lot_events(pb::ListLotEventsRequest {
                    lot_id: lot_id.to_string(),
                    after_sequence,
                    limit: 1000,
                })
                .await
                .map_err(|status| crate::record::refused(&status))?
                .into_inner();
            for recorded in page.events {
                let Some(event) = recorded.event else {
                    continue;
                };
                let Ok(event) = ledger_proto::decode_signed_event(event) else {
                    continue;
                };
                if event.body().holding() == Some((&lot_id, signer)) {
                    let hash = EventHash::from_slice(&recorded.event_hash)
                        .map_err(|e| anyhow::anyhow!("the node sent an event hash that {e}"))?;
                    found.insert(lot_id.clone(), hash);
                    break 'pages;
                }
            }
            match page.next_after_sequence {
                Some(next) => after_sequence = Some(next),
                None => break,
            }
        }
    }
    Ok(found)
}

/// How an import went.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows recorded now.
    pub imported: usize,
    /// Rows the ledger already held (imported before).
    pub already: usize,
    /// Rows that repeat an earlier row of the same file exactly.
    pub repeated: usize,
    /// Rows refused, with the row number and why.
    pub refused: Vec<(usize, String)>,
}

/// What the import was asked to do.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The CSV file (with `--template`: where to write the template).
    pub file: PathBuf,
    /// Write an empty template (the header and one example row) to FILE instead.
    #[arg(long)]
    pub template: bool,
    /// What the sheet records: receipts (进货查验记录, the default) or shipments
    /// (销售/出货记录; each links the importer's first record of holding the lot).
    #[arg(long, value_enum, default_value = "receipts")]
    pub kind: SheetKind,
    /// The stage the receipts record: market_entry, warehouse, retail or canteen.
    #[arg(long, default_value = "market_entry")]
    pub stage: String,
    /// Where to write the refused rows (default: FILE with `.rejects.csv`).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Check and sign every row, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The signing key file of the market, shop or canteen that received.
    #[arg(long, env = "FOODTRACE_KEY", required_unless_present = "template")]
    pub key: Option<PathBuf>,
    /// The party that received (its unified social credit code).
    #[arg(
        long = "as",
        env = "FOODTRACE_PARTY",
        value_name = "PARTY",
        required_unless_present = "template"
    )]
    pub signer_party: Option<String>,
    /// The node.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Runs `import`.
pub fn run(args: ImportArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    if args.template {
        if args.file.exists() {
            anyhow::bail!("{} exists; not overwriting it", args.file.display());
        }
        let template = match args.kind {
            SheetKind::Receipts => TEMPLATE,
            SheetKind::Shipments => SHIPMENT_TEMPLATE,
        };
        std::fs::write(&args.file, template)
            .with_context(|| format!("writing {}", args.file.display()))?;
        writeln!(out, "wrote {}", args.file.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(key), Some(signer_party)) = (&args.key, &args.signer_party) else {
        anyhow::bail!("--key and --as name who signs the receipts");
    };
    let signer = SignerArgs {
        key: key.clone(),
        signer_party: signer_party.clone(),
    }
    .signer()?;
    let stage: Stage = serde_json::from_value(serde_json::Value::String(args.stage.clone()))
        .map_err(|_| {
            anyhow::anyhow!(
                "--stage: '{}' is not one of market_entry, warehouse, retail, canteen",
                args.stage
            )
        })?;
    let rejects = args
        .rejects
        .clone()
        .unwrap_or_else(|| rejects_path(&args.file));
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let (header, layout, rows) = read_sheet(&bytes, args.kind, &args.file)?;

    let runtime = crate::runtime()?;
    let holdings = match args.kind {
        SheetKind::Receipts => Holdings::new(),
        SheetKind::Shipments => {
            let lots: std::collections::BTreeSet<LotId> = rows
                .iter()
                .filter_map(|(_, row)| LotId::parse(layout.cell(row, Column::Lot).0).ok())
                .collect();
            runtime.block_on(async {
                let mut client = crate::record::ledger_client(&args.server).await?;
                holdings(&mut client, signer.party_id(), lots).await
            })?
        }
    };
    let sheet = Sheet {
        kind: args.kind,
        stage,
    };
    let mut report = ImportReport::default();
    // Encoded event bodies to sign and send, each with its row; rows seen, by event
    // hash (a body's hash: signing comes later, while the stream runs).
    let mut events: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut first_row: HashMap<EventHash, usize> = HashMap::new();
    for (number, row) in &rows {
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        match row_event(&layout, row, &sheet, &holdings) {
            Err(reason) => report.refused.push((*number, reason)),
            Ok((occurred_at, kind)) => {
                let body = ledger_proto::encode_body(&signer.body(occurred_at, kind));
                let hash = ledger_core::contract::event_hash(&body);
                if first_row.insert(hash, *number).is_some() {
                    report.repeated += 1;
                    continue;
                }
                events.push((*number, body));
            }
        }
    }
    if args.dry_run {
        for (_, body) in &events {
            signer.sign_bytes(body);
        }
        writeln!(
            out,
            "{} rows checked and signed, {} refused, {} repeated; nothing sent (--dry-run)",
            events.len(),
            report.refused.len(),
            report.repeated
        )?;
    } else {
        send(&runtime, &args.server, signer, events, &mut report)?;
        writeln!(
            out,
            "imported {}; {} already in the ledger; {} repeated in the file; {} refused",
            rows_count(report.imported),
            report.already,
            report.repeated,
            report.refused.len()
        )?;
    }
    report.refused.sort();
    for (number, reason) in &report.refused {
        writeln!(out, "row {number}: {reason}")?;
    }
    if report.refused.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    write_rejects(&rejects, &header, &rows, &report.refused)?;
    writeln!(
        out,
        "refused rows written to {} (fix them there and import that file)",
        rejects.display()
    )?;
    Ok(ExitCode::from(EXIT_EVENT_REFUSED))
}

/// "1 row", "2 rows".
/// A sheet's header, its layout, and its rows with their numbers in the file (the
/// header is row 1); `file` names it in errors.
fn read_sheet(
    bytes: &[u8],
    kind: SheetKind,
    file: &Path,
) -> anyhow::Result<(csv::StringRecord, Layout, Rows)> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = reader
        .headers()
        .with_context(|| format!("{}: row 1", file.display()))?
        .clone();
    let layout = Layout::of(&header, kind)?;
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let number = i + 2;
        let record = record.map_err(|e| anyhow::anyhow!("row {number}: {e}"))?;
        rows.push((number, record));
    }
    Ok((header, layout, rows))
}

/// A sheet's rows, each with its number in the file.
type Rows = Vec<(usize, csv::StringRecord)>;

fn rows_count(n: usize) -> String {
    if n == 1 {
        "1 row".into()
    } else {
        format!("{n} rows")
    }
}

/// `sheet.csv` → `sheet.rejects.csv`.
fn rejects_path(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    let stem = stem.strip_suffix(".rejects").unwrap_or(&stem);
    file.with_file_name(format!("{stem}.rejects.csv"))
}

/// The refused rows as they were, with an `error` column, importable once fixed.
fn write_rejects(
    path: &Path,
    header: &csv::StringRecord,
    rows: &[(usize, csv::StringRecord)],
    refused: &[(usize, String)],
) -> anyhow::Result<()> {
    let reasons: HashMap<usize, &str> = refused.iter().map(|(n, r)| (*n, r.as_str())).collect();
    let error_column = header
        .iter()
        .position(|name| IGNORED.contains(&name.trim().to_lowercase().as_str()));
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    let mut out_header: Vec<&str> = header.iter().collect();
    if error_column.is_none() {
        out_header.push("错误 error");
    }
    writer.write_record(&out_header)?;
    for (number, row) in rows {
        let Some(reason) = reasons.get(number) else {
            continue;
        };
        let reason = format!("row {number}: {reason}");
        let mut cells: Vec<&str> = (0..header.len())
            .map(|i| row.get(i).unwrap_or(""))
            .collect();
        match error_column {
            Some(i) => cells[i] = &reason,
            None => cells.push(&reason),
        }
        writer.write_record(&cells)?;
    }
    writer.flush()?;
    Ok(())
}

/// Signs the bodies and streams them to the node, in order, signing on one core while
/// the node admits on the other, with a progress bar on standard error; records each
/// answer in `report`.
fn send(
    runtime: &tokio::runtime::Runtime,
    server: &ServerArgs,
    signer: ledger_proto::Signer,
    events: Vec<(usize, Vec<u8>)>,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    use tokio_stream::StreamExt;
    let rows: Vec<usize> = events.iter().map(|(row, _)| *row).collect();
    let progress = indicatif::ProgressBar::new(events.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  ETA {eta}")
            .expect("a valid template"),
    );
    let results = runtime.block_on(async {
        let mut client = crate::record::ledger_client(server).await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1024);
        let feeder = tokio::task::spawn_blocking(move || {
            for (_, body) in events {
                if sender.blocking_send(signer.sign_bytes(&body)).is_err() {
                    break;
                }
            }
        });
        let mut answers = client
            .submit_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .map_err(|status| crate::record::refused(&status))?
            .into_inner();
        let mut results = Vec::with_capacity(rows.len());
        while let Some(answer) = answers.next().await {
            let answer = answer.map_err(|status| crate::record::refused(&status))?;
            results.push(answer);
            progress.inc(1);
        }
        let _ = feeder.await;
        Ok::<_, anyhow::Error>(results)
    })?;
    progress.finish_and_clear();
    for (row, result) in rows.iter().zip(&results) {
        match &result.outcome {
            Some(pb::submit_result::Outcome::Receipt(receipt)) if receipt.duplicate => {
                report.already += 1
            }
            Some(pb::submit_result::Outcome::Receipt(_)) => report.imported += 1,
            Some(pb::submit_result::Outcome::Refusal(refusal)) => report
                .refused
                .push((*row, format!("refused by the node: {}", refusal.message))),
            None => report
                .refused
                .push((*row, "no answer from the node".into())),
        }
    }
    if results.len() < rows.len() {
        anyhow::bail!(
            "the node answered {} of {} rows; run the import again to finish it",
            results.len(),
            rows.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECEIPTS: Sheet = Sheet {
        kind: SheetKind::Receipts,
        stage: Stage::MarketEntry,
    };

    fn layout(header: &str) -> anyhow::Result<Layout> {
        let mut reader = csv::Reader::from_reader(header.as_bytes());
        Layout::of(&reader.headers().unwrap().clone(), SheetKind::Receipts)
    }

    #[test]
    fn headers_in_chinese_english_or_both_in_any_order() {
        for header in [
            "date,supplier,product,lot,quantity,unit,certificate,document\n",
            "\u{feff}日期,供货者,品名,批号,数量,单位,合格证编号,票据编号\n",
            "数量,单位,批次,品名,供应商,进货日期\n",
            "日期 date,供货者 supplier,品名 product,批号 lot,数量 quantity,单位 unit,错误 error\n",
        ] {
            let layout = layout(header).unwrap_or_else(|e| panic!("{header}: {e}"));
            assert!(layout.index.len() >= 6, "{header}");
        }
        assert_eq!(
            layout("日期,供货者,品名,批号,数量\n")
                .err()
                .unwrap()
                .to_string(),
            "row 1: missing column(s): unit"
        );
        assert!(
            layout("日期,供货者,品名,批号,数量,单位,价格\n")
                .err()
                .unwrap()
                .to_string()
                .starts_with("row 1: unknown column '价格'")
        );
    }

    #[test]
    fn a_bad_cell_is_named_as_the_sheet_names_it() {
        let layout = layout("日期,供货者,品名,批号,数量,单位\n").unwrap();
        let row = csv::StringRecord::from(vec![
            "2026-11-28",
            "91210112MA0000101J",
            "白菜",
            "L1",
            "ten",
            "kg",
        ]);
        assert_eq!(
            row_event(&layout, &row, &RECEIPTS, &Holdings::new()).unwrap_err(),
            "数量: 'ten' is not a number"
        );
        let row = csv::StringRecord::from(vec!["28/11", "x", "白菜", "L1", "1", "kg"]);
        assert_eq!(
            row_event(&layout, &row, &RECEIPTS, &Holdings::new()).unwrap_err(),
            "日期: '28/11' is not a date like 2026-11-28"
        );
    }

    #[test]
    fn dates_in_the_ways_sheets_write_them() {
        let at = |text| row_time(text).unwrap().to_rfc3339();
        assert_eq!(at("2026-11-28"), "2026-11-28T00:00:00+08:00");
        assert_eq!(at("2026/11/28 06:30"), "2026-11-28T06:30:00+08:00");
        assert_eq!(at("2026年11月28日"), "2026-11-28T00:00:00+08:00");
        assert!(row_time("2026-02-30").is_err());
    }

    #[test]
    fn the_template_is_importable_as_it_is() {
        let mut reader = csv::Reader::from_reader(TEMPLATE.as_bytes());
        let layout = Layout::of(&reader.headers().unwrap().clone(), SheetKind::Receipts).unwrap();
        let row = reader.records().next().unwrap().unwrap();
        row_event(&layout, &row, &RECEIPTS, &Holdings::new()).unwrap();
    }

    #[test]
    fn rejects_files_are_named_after_the_sheet_and_not_nested() {
        assert_eq!(
            rejects_path(Path::new("/x/早市.csv")),
            Path::new("/x/早市.rejects.csv")
        );
        assert_eq!(
            rejects_path(Path::new("/x/早市.rejects.csv")),
            Path::new("/x/早市.rejects.csv")
        );
    }

    /// Cells a market's spreadsheet (or a hostile one) might hold.
    fn hostile_cell() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just(String::new()),
            Just("2026-11-28".to_owned()),
            Just("2026-11-28 08:30".to_owned()),
            Just("9999-12-31T23:59:59+14:00".to_owned()),
            Just("0000-01-01".to_owned()),
            Just("2026-02-30".to_owned()),
            Just("91210112MA0000101J".to_owned()),
            Just("79228162514264337593543950336".to_owned()),
            Just("-1".to_owned()),
            Just("0".to_owned()),
            Just("1e400".to_owned()),
            Just("NaN".to_owned()),
            Just("\u{0}\u{7}\u{1b}[31m".to_owned()),
            Just("\u{feff}白菜".to_owned()),
            Just("\"quoted, with a comma\"".to_owned()),
            "[a-zA-Z0-9 ./:+-]{0,12}",
            ".{0,40}",
            proptest::collection::vec(any::<char>(), 0..300).prop_map(|c| c.into_iter().collect()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 512, failure_persistence: None, .. Default::default() })]

        /// Any bytes as a sheet: read or refused with the row, never a panic.
        #[test]
        fn any_bytes_as_a_sheet_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            for kind in [SheetKind::Receipts, SheetKind::Shipments] {
                if let Err(e) = read_sheet(&bytes, kind, Path::new("sheet.csv")) {
                    proptest::prop_assert!(format!("{e:#}").contains("row "), "{e:#}");
                }
            }
        }

        /// Rows of hostile cells under a good header: each becomes an event or is refused
        /// naming its column as the header names it; never a panic.
        #[test]
        fn hostile_cells_are_refused_naming_their_column(
            rows in proptest::collection::vec(proptest::collection::vec(hostile_cell(), 0..10), 1..20),
            shipments: bool,
        ) {
            let (kind, header) = if shipments {
                (SheetKind::Shipments, "日期,购货者,品名,批号,数量,单位,票据编号")
            } else {
                (SheetKind::Receipts, "日期,供货者,品名,批号,数量,单位,合格证编号,票据编号")
            };
            let mut sheet = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
            sheet.write_record(header.split(',')).unwrap();
            for row in &rows {
                sheet.write_record(row).unwrap();
            }
            let bytes = sheet.into_inner().unwrap();
            let sheet_kind = Sheet { kind, stage: Stage::MarketEntry };
            let columns: Vec<&str> = header.split(',').collect();
            match read_sheet(&bytes, kind, Path::new("sheet.csv")) {
                Err(e) => proptest::prop_assert!(format!("{e:#}").contains("row "), "{e:#}"),
                Ok((_, layout, records)) => {
                    for (_, record) in &records {
                        if let Err(message) = row_event(&layout, record, &sheet_kind, &Holdings::new()) {
                            proptest::prop_assert!(
                                columns.iter().any(|c| message.starts_with(&format!("{c}:"))),
                                "{message}"
                            );
                        }
                    }
                }
            }
        }
    }
}
