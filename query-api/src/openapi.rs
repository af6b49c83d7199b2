//! The OpenAPI 3 document, generated from the handlers' annotations. The repository
//! keeps a copy (`query-api/openapi.json`); a test fails when the two differ.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::views::{
    EventSummary, EventView, EventsPage, InputView, KeyView, LotSummary, LotView, LotsPage,
    PartyEventsPage, PartySummary, PartyView, RecallView, TraceView, TracedLotView,
    TracedPartyView,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "foodtrace query API",
        description = "Recall traces, lots, parties and the verifiable log of a foodtrace ledger. Inspector routes need `Authorization: Bearer <token>`; errors are RFC 9457 problem documents naming the parameter at fault.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::status,
        crate::log_info,
        crate::checkpoint,
        crate::inclusion,
        crate::consistency,
        crate::inspect::trace,
        crate::inspect::lot,
        crate::inspect::lots,
        crate::inspect::party,
        crate::inspect::party_events,
        crate::inspect::events,
        crate::inspect::event,
        crate::backup::create,
        crate::public::digital_link,
        crate::public::short_link,
    ),
    components(schemas(
        crate::Problem,
        crate::LedgerStatus,
        crate::backup::BackupReport,
        crate::public::PublicLot,
        crate::public::PublicOrigin,
        crate::public::PublicEntry,
        crate::public::PublicStep,
        crate::public::PublicTest,
        crate::public::PublicRecall,
        crate::public::PublicVerification,
        EventSummary,
        EventView,
        EventsPage,
        InputView,
        KeyView,
        LotSummary,
        LotView,
        LotsPage,
        PartyEventsPage,
        PartySummary,
        PartyView,
        RecallView,
        TraceView,
        TracedLotView,
        TracedPartyView,
    )),
    modifiers(&InspectorToken, &RateLimited),
    tags(
        (name = "public", description = "Anyone may ask (limited per client address)."),
        (name = "lot page", description = "The public lot page a QR code opens (limited per client address)."),
        (name = "inspectors", description = "Needs an inspector's bearer token."),
    )
)]
struct ApiDoc;

struct InspectorToken;

impl Modify for InspectorToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "inspector_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An inspector token (`ft_...`) from `foodtrace inspector add`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every anonymous route may answer 429 (see [`crate::limit`]): added here, once.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, header::HeaderBuilder};
        let too_many = ResponseBuilder::new()
            .description("This client address asked too often; `Retry-After` says how many seconds to wait. A problem document for `/v1/` routes and JSON clients, else a short page.")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .content("text/html", ContentBuilder::new().build())
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(utoipa::openapi::schema::Object::with_type(
                        utoipa::openapi::schema::Type::Integer,
                    ))
                    .description(Some("Seconds to wait."))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            if let Some(operation) = item.get.as_mut()
                && operation.security.is_none()
            {
                operation
                    .responses
                    .responses
                    .insert("429".into(), too_many.clone().into());
            }
        }
    }
}

/// The OpenAPI document of [`crate::router`].
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
