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
    ),
    components(schemas(
        crate::Problem,
        crate::LedgerStatus,
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
    modifiers(&InspectorToken),
    tags(
        (name = "public", description = "Anyone may ask."),
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

/// The OpenAPI document of [`crate::router`].
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
