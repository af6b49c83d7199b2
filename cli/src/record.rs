//! Recording, signed on the client: the registry commands (the authority's), `submit`
//! (events as JSON), and the JSON form of an event that `submit` reads.
//!
//! The private key never leaves this process: events are built, encoded and signed
//! here, and only the signed bytes go to the node.
//!
//! # The JSON form of an event
//!
//! One object per event, its `kind` naming what happened; `occurred_at` (RFC 3339 with
//! an offset) defaults to now. Hashes are 64 hex digits; quantities are decimal strings
//! with a separate `unit`. Unknown fields are refused (a typo is not silently dropped).
//! A receipt naming its `supplier` and the product (`product_name`, `product_category`)
//! brings a lot its producer did not record into the ledger (the last example).
//!
//! ```json
//! {"kind":"origin","lot_id":"HN-CAB-1","product_name":"大白菜","product_category":"vegetable","quantity":"100","unit":"kg","production_date":"2026-11-27","region":"210112","place":"浑南区 李相街道","certificate":"HG-001"}
//! {"kind":"ship","lot_id":"HN-CAB-1","quantity":"40","unit":"kg","recipient":"91210112MA0000001X","document":"SD-1","previous_event":"…64 hex…"}
//! {"kind":"receive","stage":"market_entry","lot_id":"HN-CAB-1","quantity":"40","unit":"kg","shipment":"…64 hex…","certificate":"HG-001"}
//! {"kind":"receive","stage":"retail","lot_id":"HN-CAB-1","quantity":"40","unit":"kg","supplier":"91210112MA0000001X","documents":["进货单 0042"]}
//! {"kind":"receive","stage":"market_entry","lot_id":"XN-001","quantity":"30","unit":"kg","supplier":"91210112MA0000001X","product_name":"小白菜","product_category":"蔬菜"}
//! {"kind":"transform","transform":"process","inputs":[{"lot_id":"HN-CAB-1","quantity":"10","unit":"kg","event":"…64 hex…"}],"output":{"lot_id":"MEAL-1","product_name":"白菜炖豆腐","product_category":"meal","quantity":"10","unit":"kg"}}
//! {"kind":"inspection","inspection":"quick_test","lot_id":"HN-CAB-1","item":"农药残留","method":"GB/T 5009.199","value":"抑制率 12%","result":"pass"}
//! {"kind":"recall","lot_id":"HN-CAB-1","reason":"农药残留超标","severity":"level2"}
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use ledger_core::ids::{EventHash, KeyId, LotId, PartyId};
use ledger_core::model::{
    self, CertificateBasis, EventKind, InspectionKind, InspectionResult, KeyGrant, LotInfo,
    PartyRole, PartyStatus, Quantity, RecallSeverity, ReceivingSource, RegionCode, Stage, Text,
    TransformKind, limits,
};
use ledger_proto::Signer;
use ledger_proto::pb;
use ledger_proto::pb::ledger_client::LedgerClient;
use ledger_proto::pb::registry_client::RegistryClient;
use serde::Deserialize;
use tonic::transport::Channel;

use crate::ServerArgs;
use crate::api::{EXIT_UNREACHABLE, Failure};

/// Exit code when the node refused at least one event.
pub const EXIT_EVENT_REFUSED: u8 = 6;

/// Who signs: a key file and the party it belongs to.
#[derive(clap::Args, Debug, Clone)]
pub struct SignerArgs {
    /// The signing key file (from `foodtrace keygen`).
    #[arg(long, env = "FOODTRACE_KEY")]
    pub key: PathBuf,
    /// The party the key belongs to (its unified social credit code).
    #[arg(long = "as", env = "FOODTRACE_PARTY", value_name = "PARTY")]
    pub signer_party: String,
}

impl SignerArgs {
    /// The signer these flags name.
    pub fn signer(&self) -> anyhow::Result<Signer> {
        let key = ledger_node::keys::read_key_file(&self.key)?;
        let party = PartyId::parse(&self.signer_party).map_err(|e| anyhow::anyhow!("--as: {e}"))?;
        Ok(Signer::new(party, key))
    }
}

/// The registry: the authority's commands, and a read anyone may make.
#[derive(clap::Subcommand, Debug)]
pub enum RegistryCommand {
    /// Register a party with its first key (the authority).
    Register {
        /// The new party's unified social credit code.
        party: String,
        /// Its registered name.
        #[arg(long)]
        name: String,
        /// What it does: producer, workshop, wholesale_market, warehouse, distributor,
        /// retailer, canteen, central_kitchen, testing_lab.
        #[arg(long)]
        role: String,
        /// GB/T 2260 region code (six digits).
        #[arg(long)]
        region: String,
        /// A business contact (phone or address), shown to inspectors only.
        #[arg(long)]
        contact: Option<String>,
        /// Its public key (64 hex digits, as `keygen` printed it).
        #[arg(long)]
        public_key: String,
        /// The key signs events that occurred from this time (RFC 3339; default: the
        /// start of today, Beijing time, so records of this morning can be signed).
        #[arg(long)]
        valid_from: Option<String>,
        /// Who signs (the authority).
        #[command(flatten)]
        signer: SignerArgs,
        /// The node.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Grant a party another key (the authority).
    AddKey {
        /// The party.
        party: String,
        /// The new public key (64 hex digits).
        #[arg(long)]
        public_key: String,
        /// The key signs events that occurred from this time (RFC 3339; default: the
        /// start of today, Beijing time).
        #[arg(long)]
        valid_from: Option<String>,
        /// Who signs (the authority).
        #[command(flatten)]
        signer: SignerArgs,
        /// The node.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke one of a party's keys: nothing signed with it is admitted afterwards (the
    /// authority).
    RevokeKey {
        /// The party.
        party: String,
        /// The key's id (16 hex digits).
        #[arg(long)]
        key_id: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Who signs (the authority).
        #[command(flatten)]
        signer: SignerArgs,
        /// The node.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Suspend a party: it may not record until reinstated (the authority).
    Suspend {
        /// The party.
        party: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Who signs (the authority).
        #[command(flatten)]
        signer: SignerArgs,
        /// The node.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Reinstate a suspended party (the authority).
    Reinstate {
        /// The party.
        party: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// Who signs (the authority).
        #[command(flatten)]
        signer: SignerArgs,
        /// The node.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// A party's registry entry: name, role, region, status and keys (anyone).
    Status {
        /// The party.
        party: String,
        /// The node.
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Now, in Beijing time, to the millisecond.
pub fn now() -> DateTime<FixedOffset> {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    chrono::SubsecRound::trunc_subsecs(Utc::now().with_timezone(&beijing), 3)
}

/// Midnight at the start of today, Beijing time.
fn start_of_today() -> DateTime<FixedOffset> {
    let now = now();
    now.timezone()
        .from_local_datetime(&now.date_naive().and_time(chrono::NaiveTime::MIN))
        .single()
        .unwrap_or(now)
}

fn party_id(text: &str, what: &str) -> anyhow::Result<PartyId> {
    PartyId::parse(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

fn time_or_now(text: Option<&str>, what: &str) -> anyhow::Result<DateTime<FixedOffset>> {
    match text {
        None => Ok(now()),
        Some(text) => model::parse_timestamp(text).map_err(|e| anyhow::anyhow!("{what}: {e}")),
    }
}

fn grant(public_key: &str, valid_from: Option<&str>) -> anyhow::Result<KeyGrant> {
    let bytes: [u8; 32] = hex::decode(public_key)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("--public-key: '{public_key}' is not 64 hex digits (32 bytes)")
        })?;
    public_key_check(&bytes)?;
    Ok(KeyGrant {
        key_id: KeyId::of_public_key(&bytes),
        public_key: bytes,
        valid_from: match valid_from {
            Some(text) => time_or_now(Some(text), "--valid-from")?,
            None => start_of_today(),
        },
        valid_until: None,
    })
}

/// Refuses bytes that are not a key the registry accepts (the canonical encoding of a
/// point of prime order: `ledger_core::signature::check_public_key`), as admission would.
fn public_key_check(bytes: &[u8; 32]) -> anyhow::Result<()> {
    ledger_core::signature::check_public_key(bytes).map_err(|problem| {
        anyhow::anyhow!("--public-key: not a usable Ed25519 public key: it {problem}")
    })
}

fn optional_text(text: Option<&str>, what: &str) -> anyhow::Result<Option<Text>> {
    text.map(|text| Text::parse(text, limits::MAX_LONG_TEXT))
        .transpose()
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

async fn registry(server: &ServerArgs) -> Result<RegistryClient<Channel>, Failure> {
    Ok(RegistryClient::new(server.connect().await?))
}

/// A `Ledger` client, or exit code 3.
pub(crate) async fn ledger_client(server: &ServerArgs) -> Result<LedgerClient<Channel>, Failure> {
    Ok(LedgerClient::new(server.connect().await?))
}

/// Exit code 3: the node at `server` could not be reached, and the deepest reason.
pub(crate) fn unreachable(server: &str, error: &dyn std::error::Error) -> Failure {
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        cause = next.to_string();
        source = next.source();
    }
    Failure {
        code: EXIT_UNREACHABLE,
        message: format!("cannot reach the node at {server}: {cause}"),
    }
}

/// A refusal as a person reads it: the gRPC code, the field at fault and why.
pub(crate) fn refused(status: &tonic::Status) -> Failure {
    Failure {
        code: EXIT_EVENT_REFUSED,
        message: format!("refused ({:?}): {}", status.code(), status.message()),
    }
}

fn print_receipt(out: &mut dyn Write, receipt: &pb::Receipt) -> anyhow::Result<()> {
    writeln!(
        out,
        "recorded: sequence {} hash {}{}",
        receipt.sequence,
        hex::encode(&receipt.event_hash),
        if receipt.duplicate {
            " (already recorded)"
        } else {
            ""
        }
    )?;
    Ok(())
}

enum Rpc {
    Register,
    AddKey,
    RevokeKey,
    SetStatus,
}

fn set_status(party: &str, status: PartyStatus, reason: Option<&str>) -> anyhow::Result<EventKind> {
    Ok(EventKind::SetPartyStatus(model::SetPartyStatus {
        party_id: party_id(party, "party")?,
        status,
        reason: optional_text(reason, "--reason")?,
    }))
}

/// A snake_case name as the serde enum it names.
fn serde_plain<T: serde::de::DeserializeOwned>(name: &str) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
}

fn print_party(out: &mut dyn Write, party: &pb::Party) -> anyhow::Result<()> {
    let role = ledger_proto::role_from_wire(party.role)
        .and_then(|role| serde_json::to_value(role).ok())
        .and_then(|name| name.as_str().map(str::to_owned))
        .unwrap_or_else(|| party.role.to_string());
    let status = match pb::PartyStatus::try_from(party.status) {
        Ok(pb::PartyStatus::Active) => "active",
        Ok(pb::PartyStatus::Suspended) => "SUSPENDED",
        Ok(pb::PartyStatus::Revoked) => "REVOKED",
        _ => "unknown",
    };
    writeln!(out, "party:      {}", party.party_id)?;
    writeln!(out, "name:       {}", party.name)?;
    writeln!(out, "role:       {role}")?;
    writeln!(out, "region:     {}", party.region)?;
    writeln!(out, "status:     {status}")?;
    writeln!(out, "registered: event {}", party.registered_at_sequence)?;
    for key in &party.keys {
        writeln!(
            out,
            "key:        {} from {}{}{}",
            key.key_id,
            key.valid_from,
            if key.valid_until.is_empty() {
                String::new()
            } else {
                format!(" until {}", key.valid_until)
            },
            if key.revoked { " REVOKED" } else { "" }
        )?;
    }
    Ok(())
}

/// `registry status`: a party's entry, as the node's registry holds it.
fn status(
    runtime: &tokio::runtime::Runtime,
    party: &str,
    server: &ServerArgs,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let party = party_id(party, "party")?;
    let entry = runtime.block_on(async {
        let mut client = registry(server).await?;
        client
            .get_party(pb::GetPartyRequest {
                party_id: party.to_string(),
            })
            .await
            .map_err(|status| Failure {
                code: if status.code() == tonic::Code::NotFound {
                    crate::api::EXIT_NOT_FOUND
                } else {
                    1
                },
                message: status.message().to_owned(),
            })
    })?;
    print_party(out, &entry.into_inner())?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a registry command.
pub fn registry_command(command: RegistryCommand, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let runtime = crate::runtime()?;
    let (signer_args, server, kind) = match command {
        RegistryCommand::Register {
            party,
            name,
            role,
            region,
            contact,
            public_key,
            valid_from,
            signer,
            server,
        } => {
            let role: PartyRole = serde_plain(&role).map_err(|_| {
                anyhow::anyhow!(
                    "--role: '{role}' is not one of producer, workshop, wholesale_market, warehouse, distributor, retailer, canteen, central_kitchen, testing_lab"
                )
            })?;
            let kind = EventKind::RegisterParty(model::RegisterParty {
                party_id: party_id(&party, "party")?,
                name: Text::parse(&name, limits::MAX_SHORT_TEXT)
                    .map_err(|e| anyhow::anyhow!("--name: {e}"))?,
                role,
                region: RegionCode::parse(&region).map_err(|e| anyhow::anyhow!("--region: {e}"))?,
                contact: optional_text(contact.as_deref(), "--contact")?,
                keys: vec![grant(&public_key, valid_from.as_deref())?],
            });
            (signer, server, kind)
        }
        RegistryCommand::AddKey {
            party,
            public_key,
            valid_from,
            signer,
            server,
        } => {
            let kind = EventKind::AddKey(model::AddKey {
                party_id: party_id(&party, "party")?,
                key: grant(&public_key, valid_from.as_deref())?,
            });
            (signer, server, kind)
        }
        RegistryCommand::RevokeKey {
            party,
            key_id,
            reason,
            signer,
            server,
        } => {
            let kind = EventKind::RevokeKey(model::RevokeKey {
                party_id: party_id(&party, "party")?,
                key_id: KeyId::parse(&key_id).map_err(|e| anyhow::anyhow!("--key-id: {e}"))?,
                reason: optional_text(reason.as_deref(), "--reason")?,
            });
            (signer, server, kind)
        }
        RegistryCommand::Suspend {
            party,
            reason,
            signer,
            server,
        } => (
            signer,
            server,
            set_status(&party, PartyStatus::Suspended, reason.as_deref())?,
        ),
        RegistryCommand::Reinstate {
            party,
            reason,
            signer,
            server,
        } => (
            signer,
            server,
            set_status(&party, PartyStatus::Active, reason.as_deref())?,
        ),
        RegistryCommand::Status { party, server } => {
            return status(&runtime, &party, &server, out);
        }
    };
    let signer = signer_args.signer()?;
    let rpc = match &kind {
        EventKind::RegisterParty(_) => Rpc::Register,
        EventKind::AddKey(_) => Rpc::AddKey,
        EventKind::RevokeKey(_) => Rpc::RevokeKey,
        _ => Rpc::SetStatus,
    };
    let event = signer.sign(now(), kind);
    let receipt = runtime.block_on(async {
        let mut client = registry(&server).await?;
        let response = match rpc {
            Rpc::Register => client.register_party(event).await,
            Rpc::AddKey => client.add_key(event).await,
            Rpc::RevokeKey => client.revoke_key(event).await,
            Rpc::SetStatus => client.set_party_status(event).await,
        };
        response.map_err(|status| refused(&status))
    })?;
    print_receipt(out, &receipt.into_inner())?;
    Ok(ExitCode::SUCCESS)
}

/// An event as `submit` reads it (see the module's documentation).
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventInput {
    /// A producer creates a lot.
    Origin {
        /// When (default now).
        occurred_at: Option<String>,
        /// The new lot.
        lot_id: String,
        /// Product name.
        product_name: String,
        /// Product category.
        product_category: String,
        /// Amount (decimal).
        quantity: String,
        /// Unit.
        unit: String,
        /// Harvest or production date (YYYY-MM-DD).
        production_date: String,
        /// GB/T 2260 region code.
        region: String,
        /// The place.
        place: String,
        /// Compliance certificate number.
        certificate: String,
        /// self_test (default), entrusted_test or quality_control.
        certificate_basis: Option<String>,
    },
    /// The holder ships part or all of a lot.
    Ship {
        /// When (default now).
        occurred_at: Option<String>,
        /// The lot.
        lot_id: String,
        /// Amount.
        quantity: String,
        /// Unit.
        unit: String,
        /// To whom.
        recipient: String,
        /// Delivery note or invoice number.
        document: String,
        /// The shipper's previous event on the lot (hash).
        previous_event: String,
    },
    /// A receiver's purchase inspection record.
    Receive {
        /// When (default now).
        occurred_at: Option<String>,
        /// market_entry, warehouse, retail or canteen.
        stage: String,
        /// The lot.
        lot_id: String,
        /// Amount.
        quantity: String,
        /// Unit.
        unit: String,
        /// The shipment received (hash), if the supplier recorded one.
        shipment: Option<String>,
        /// The supplier (required without a shipment).
        supplier: Option<String>,
        /// Certificate checked.
        certificate: Option<String>,
        /// Documents checked.
        #[serde(default)]
        documents: Vec<String>,
        /// The product as received; with `supplier` (no shipment), it brings a lot its
        /// producer did not record into the ledger.
        product_name: Option<String>,
        /// The product's category (with `product_name`).
        product_category: Option<String>,
    },
    /// Inputs into a new lot.
    Transform {
        /// When (default now).
        occurred_at: Option<String>,
        /// split, merge or process.
        transform: String,
        /// The inputs.
        inputs: Vec<InputJson>,
        /// The new lot.
        output: LotJson,
    },
    /// A test result.
    Inspection {
        /// When (default now).
        occurred_at: Option<String>,
        /// quick_test or sampling.
        inspection: String,
        /// The lot.
        lot_id: String,
        /// What was tested.
        item: String,
        /// Method or standard.
        method: String,
        /// Measured value.
        value: String,
        /// pass or fail.
        result: String,
        /// Report or sample number.
        report_number: Option<String>,
    },
    /// The authority recalls a lot.
    Recall {
        /// When (default now).
        occurred_at: Option<String>,
        /// The lot.
        lot_id: String,
        /// Why.
        reason: String,
        /// level1, level2 or level3.
        severity: String,
    },
}

/// A transform's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputJson {
    /// The input lot.
    pub lot_id: String,
    /// How much was used.
    pub quantity: String,
    /// Unit.
    pub unit: String,
    /// The signer's event by which it holds the lot (hash).
    pub event: String,
}

/// A new lot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotJson {
    /// Its id.
    pub lot_id: String,
    /// Product name.
    pub product_name: String,
    /// Product category.
    pub product_category: String,
    /// Amount.
    pub quantity: String,
    /// Unit.
    pub unit: String,
}

/// A field's value, or why not, naming the field.
fn field<T>(name: &str, parsed: Result<T, ledger_core::ids::InvalidValue>) -> anyhow::Result<T> {
    parsed.map_err(|e| anyhow::anyhow!("{name}: {}", e.0))
}

fn short(name: &str, text: &str) -> anyhow::Result<Text> {
    field(name, Text::parse(text, limits::MAX_SHORT_TEXT))
}

fn long(name: &str, text: &str) -> anyhow::Result<Text> {
    field(name, Text::parse(text, limits::MAX_LONG_TEXT))
}

fn lot(name: &str, text: &str) -> anyhow::Result<LotId> {
    field(name, LotId::parse(text))
}

/// A quantity; `name` is the amount's field, and the unit's is its sibling `unit`.
fn quantity(name: &str, amount: &str, unit: &str) -> anyhow::Result<Quantity> {
    Quantity::parse(amount, unit).map_err(|(part, e)| {
        let field = if part == "unit" {
            match name.rsplit_once('.') {
                Some((parent, _)) => format!("{parent}.unit"),
                None => "unit".to_owned(),
            }
        } else {
            name.to_owned()
        };
        anyhow::anyhow!("{field}: {}", e.0)
    })
}

fn hash(name: &str, text: &str) -> anyhow::Result<EventHash> {
    field(name, EventHash::from_hex(text))
}

fn choice<T: serde::de::DeserializeOwned>(
    name: &str,
    text: &str,
    one_of: &str,
) -> anyhow::Result<T> {
    serde_plain(text).map_err(|_| anyhow::anyhow!("{name}: '{text}' is not one of {one_of}"))
}

impl EventInput {
    /// When it happened, and what, checked field by field.
    pub fn to_kind(&self) -> anyhow::Result<(DateTime<FixedOffset>, EventKind)> {
        let (occurred_at, kind) = match self {
            EventInput::Origin {
                occurred_at,
                lot_id,
                product_name,
                product_category,
                quantity: amount,
                unit,
                production_date,
                region,
                place,
                certificate,
                certificate_basis,
            } => (
                occurred_at,
                EventKind::Origin(model::Origin {
                    lot: LotInfo {
                        lot_id: lot("lot_id", lot_id)?,
                        product_name: short("product_name", product_name)?,
                        product_category: short("product_category", product_category)?,
                        quantity: quantity("quantity", amount, unit)?,
                    },
                    production_date: field("production_date", model::parse_date(production_date))?,
                    origin_region: field("region", RegionCode::parse(region))?,
                    origin_place: long("place", place)?,
                    certificate_number: short("certificate", certificate)?,
                    certificate_basis: match certificate_basis {
                        None => CertificateBasis::SelfTest,
                        Some(basis) => choice(
                            "certificate_basis",
                            basis,
                            "self_test, entrusted_test, quality_control",
                        )?,
                    },
                }),
            ),
            EventInput::Ship {
                occurred_at,
                lot_id,
                quantity: amount,
                unit,
                recipient,
                document,
                previous_event,
            } => (
                occurred_at,
                EventKind::Ship(model::Shipment {
                    lot_id: lot("lot_id", lot_id)?,
                    quantity: quantity("quantity", amount, unit)?,
                    recipient: field("recipient", PartyId::parse(recipient))?,
                    document_number: short("document", document)?,
                    previous_event: hash("previous_event", previous_event)?,
                }),
            ),
            EventInput::Receive {
                occurred_at,
                stage,
                lot_id,
                quantity: amount,
                unit,
                shipment,
                supplier,
                certificate,
                documents,
                product_name,
                product_category,
            } => {
                let stage: Stage =
                    choice("stage", stage, "market_entry, warehouse, retail, canteen")?;
                let supplier = supplier
                    .as_deref()
                    .map(|s| field("supplier", PartyId::parse(s)))
                    .transpose()?;
                let source = match (shipment, supplier) {
                    (Some(shipment), supplier) => ReceivingSource::Shipment {
                        event: hash("shipment", shipment)?,
                        supplier,
                    },
                    (None, Some(supplier)) => ReceivingSource::Supplier(supplier),
                    (None, None) => anyhow::bail!(
                        "shipment: give the shipment received, or the supplier if it recorded none"
                    ),
                };
                if documents.len() > limits::MAX_DOCUMENTS {
                    anyhow::bail!("documents: at most {} documents", limits::MAX_DOCUMENTS);
                }
                (
                    occurred_at,
                    EventKind::Receiving(
                        stage,
                        model::Receiving {
                            lot_id: lot("lot_id", lot_id)?,
                            quantity: quantity("quantity", amount, unit)?,
                            source,
                            certificate_number: certificate
                                .as_deref()
                                .map(|c| short("certificate", c))
                                .transpose()?,
                            documents_checked: documents
                                .iter()
                                .enumerate()
                                .map(|(i, d)| short(&format!("documents[{i}]"), d))
                                .collect::<anyhow::Result<_>>()?,
                            product: match (product_name, product_category) {
                                (None, None) => None,
                                (Some(name), Some(category)) => Some(model::ReceivedProduct {
                                    name: short("product_name", name)?,
                                    category: short("product_category", category)?,
                                }),
                                (Some(_), None) => {
                                    anyhow::bail!("product_category: is required with product_name")
                                }
                                (None, Some(_)) => {
                                    anyhow::bail!("product_name: is required with product_category")
                                }
                            },
                        },
                    ),
                )
            }
            EventInput::Transform {
                occurred_at,
                transform,
                inputs,
                output,
            } => (
                occurred_at,
                EventKind::Transform(model::Transform {
                    kind: choice::<TransformKind>("transform", transform, "split, merge, process")?,
                    inputs: inputs
                        .iter()
                        .enumerate()
                        .map(|(i, input)| {
                            Ok(model::TransformInput {
                                lot_id: lot(&format!("inputs[{i}].lot_id"), &input.lot_id)?,
                                quantity: quantity(
                                    &format!("inputs[{i}].quantity"),
                                    &input.quantity,
                                    &input.unit,
                                )?,
                                input_event: hash(&format!("inputs[{i}].event"), &input.event)?,
                            })
                        })
                        .collect::<anyhow::Result<_>>()?,
                    output: LotInfo {
                        lot_id: lot("output.lot_id", &output.lot_id)?,
                        product_name: short("output.product_name", &output.product_name)?,
                        product_category: short(
                            "output.product_category",
                            &output.product_category,
                        )?,
                        quantity: quantity("output.quantity", &output.quantity, &output.unit)?,
                    },
                }),
            ),
            EventInput::Inspection {
                occurred_at,
                inspection,
                lot_id,
                item,
                method,
                value,
                result,
                report_number,
            } => (
                occurred_at,
                EventKind::Inspection(model::Inspection {
                    lot_id: lot("lot_id", lot_id)?,
                    kind: choice::<InspectionKind>(
                        "inspection",
                        inspection,
                        "quick_test, sampling",
                    )?,
                    item: short("item", item)?,
                    method: short("method", method)?,
                    value: short("value", value)?,
                    result: choice::<InspectionResult>("result", result, "pass, fail")?,
                    report_number: report_number
                        .as_deref()
                        .map(|r| short("report_number", r))
                        .transpose()?,
                }),
            ),
            EventInput::Recall {
                occurred_at,
                lot_id,
                reason,
                severity,
            } => (
                occurred_at,
                EventKind::Recall(model::Recall {
                    lot_id: lot("lot_id", lot_id)?,
                    reason: long("reason", reason)?,
                    severity: choice::<RecallSeverity>(
                        "severity",
                        severity,
                        "level1, level2, level3",
                    )?,
                }),
            ),
        };
        Ok((time_or_now(occurred_at.as_deref(), "occurred_at")?, kind))
    }
}

/// Reads events: one JSON object, or JSON lines (blank lines skipped). Each with the
/// line it starts on.
pub fn read_events(text: &str) -> Vec<(usize, anyhow::Result<EventInput>)> {
    let trimmed = text.trim_start();
    // A single object spread over several lines.
    if trimmed.starts_with('{')
        && let Ok(one) = serde_json::from_str::<serde_json::Value>(text)
        && one.is_object()
    {
        let line = text[..text.len() - trimmed.len()].matches('\n').count() + 1;
        return vec![(line, serde_json::from_value(one).map_err(Into::into))];
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| (i + 1, serde_json::from_str(line).map_err(Into::into)))
        .collect()
}

/// `submit`: signs each event and sends it (or, with `dry_run`, only checks and signs).
pub fn submit(
    input: &Path,
    signer: &SignerArgs,
    server: &ServerArgs,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let text = if input == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?
    };
    let signer = signer.signer()?;
    let mut signed = Vec::new();
    let mut n_bad = 0;
    for (line, event) in read_events(&text) {
        let event = event.and_then(|event| event.to_kind());
        match event {
            Ok((occurred_at, kind)) => {
                let event = signer.sign(occurred_at, kind);
                // The node's own decoder: what it would refuse is refused here first.
                if let Err(refusal) = ledger_proto::decode_signed_event(event.clone()) {
                    writeln!(
                        out,
                        "line {line}: refused: {}: {}",
                        refusal.field, refusal.message
                    )?;
                    n_bad += 1;
                    continue;
                }
                signed.push((line, event));
            }
            Err(error) => {
                writeln!(out, "line {line}: refused: {error:#}")?;
                n_bad += 1;
            }
        }
    }
    if dry_run {
        for (line, event) in &signed {
            let hash = ledger_core::contract::event_hash(&event.body);
            writeln!(out, "line {line}: valid, signed; hash {hash} (not sent)")?;
        }
        return Ok(if n_bad == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_EVENT_REFUSED)
        });
    }
    if n_bad > 0 {
        writeln!(out, "{n_bad} events refused here; nothing sent")?;
        return Ok(ExitCode::from(EXIT_EVENT_REFUSED));
    }
    let lines: Vec<usize> = signed.iter().map(|(line, _)| *line).collect();
    let events: Vec<pb::SignedEvent> = signed.into_iter().map(|(_, event)| event).collect();
    let results = crate::runtime()?.block_on(async {
        use tokio_stream::StreamExt;
        let mut client = ledger_client(server).await?;
        let stream = client
            .submit_stream(tokio_stream::iter(events))
            .await
            .map_err(|status| refused(&status))?
            .into_inner();
        stream
            .collect::<Result<Vec<pb::SubmitResult>, tonic::Status>>()
            .await
            .map_err(|status| refused(&status))
    })?;
    let mut n_refused = 0;
    for (line, result) in lines.iter().zip(&results) {
        match &result.outcome {
            Some(pb::submit_result::Outcome::Receipt(receipt)) => {
                write!(out, "line {line}: ")?;
                print_receipt(out, receipt)?;
            }
            Some(pb::submit_result::Outcome::Refusal(refusal)) => {
                n_refused += 1;
                writeln!(
                    out,
                    "line {line}: refused: {}: {}",
                    refusal.field, refusal.message
                )?;
            }
            None => {
                n_refused += 1;
                writeln!(out, "line {line}: no answer")?;
            }
        }
    }
    if results.len() < lines.len() {
        anyhow::bail!(
            "the node answered {} of {} events",
            results.len(),
            lines.len()
        );
    }
    Ok(if n_refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_EVENT_REFUSED)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(json: &str) -> String {
        let events = read_events(json);
        assert_eq!(events.len(), 1);
        let (_, event) = events.into_iter().next().unwrap();
        match event.and_then(|event| event.to_kind()) {
            Ok(_) => panic!("{json} was accepted"),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn each_mistake_names_its_field() {
        assert_eq!(
            refusal(
                r#"{"kind":"receive","stage":"shop","lot_id":"A","quantity":"1","unit":"kg","supplier":"91210112MA0000101J"}"#
            ),
            "stage: 'shop' is not one of market_entry, warehouse, retail, canteen"
        );
        assert_eq!(
            refusal(
                r#"{"kind":"receive","stage":"retail","lot_id":"A","quantity":"1","unit":"kg"}"#
            ),
            "shipment: give the shipment received, or the supplier if it recorded none"
        );
        let transform = r#"{"kind":"transform","transform":"process","inputs":[{"lot_id":"A","quantity":"1","unit":"kg","event":"00"}],"output":{"lot_id":"M","product_name":"饭","product_category":"meal","quantity":"1","unit":"kg"}}"#;
        assert!(
            refusal(transform).starts_with("inputs[0].event: "),
            "{}",
            refusal(transform)
        );
        let unit = r#"{"kind":"ship","lot_id":"A","quantity":"1","unit":"","recipient":"91210112MA0000101J","document":"D","previous_event":"00"}"#;
        assert!(refusal(unit).starts_with("unit: "), "{}", refusal(unit));
        assert!(refusal(r#"{"kind":"harvest"}"#).contains("unknown variant `harvest`"));
        assert!(
            refusal(
                r#"{"kind":"recall","lot_id":"A","reason":"r","severity":"level2","occurred_at":"yesterday"}"#
            )
            .starts_with("occurred_at: 'yesterday' is not an RFC 3339 time")
        );
    }

    #[test]
    fn json_lines_keep_their_line_numbers() {
        let events = read_events(
            "\n{\"kind\":\"recall\",\"lot_id\":\"A\",\"reason\":\"r\",\"severity\":\"level1\"}\n\nnot json\n",
        );
        let lines: Vec<usize> = events.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 4]);
        assert!(events[0].1.is_ok() && events[1].1.is_err());
    }
}
