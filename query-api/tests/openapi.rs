//! The OpenAPI document is generated from the code, served at `/v1/openapi.json`, and
//! checked into the repository as `query-api/openapi.json`: this fails when they differ
//! (run with `UPDATE_EXPECT=1` to refresh the copy after changing the API).

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

#[test]
fn the_checked_in_document_is_the_generated_one() {
    let generated = query_api::openapi()
        .to_pretty_json()
        .expect("the document serializes");
    expect_test::expect_file!["../openapi.json"].assert_eq(&format!("{generated}\n"));
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_covers_every_route() {
    let store: Arc<dyn ledger_store::LedgerStore> = Arc::new(ledger_store::MemStore::new());
    let app = query_api::router(query_api::AppState::new(store));
    let response = app
        .oneshot(
            Request::get("/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let served: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let generated = serde_json::to_value(query_api::openapi()).unwrap();
    assert_eq!(served, generated);
    for (route, inspector) in [
        ("/v1/lots", true),
        ("/v1/lots/{lot}", true),
        ("/v1/lots/{lot}/trace/{direction}", true),
        ("/v1/parties/{party}", true),
        ("/v1/parties/{party}/events", true),
        ("/v1/events", true),
        ("/v1/events/{sequence}", true),
        ("/v1/status", false),
        ("/v1/log", false),
        ("/v1/checkpoint", false),
        ("/v1/proofs/inclusion", false),
        ("/v1/proofs/consistency", false),
        ("/01/{gtin}/10/{lot}", false),
        ("/l/{lot}", false),
    ] {
        let operation = &served["paths"][route]["get"];
        assert!(operation.is_object(), "{route} is documented");
        assert!(operation["responses"]["200"].is_object(), "{route}: 200");
        if inspector {
            assert_eq!(
                operation["security"][0]["inspector_token"],
                serde_json::json!([]),
                "{route} needs a token"
            );
            for status in ["400", "401", "403", "404"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{route}: {status}"
                );
            }
        } else {
            assert!(operation["security"].is_null(), "{route} is public");
            assert!(
                operation["responses"]["429"]["headers"]["Retry-After"].is_object(),
                "{route} is rate limited"
            );
        }
    }
}
