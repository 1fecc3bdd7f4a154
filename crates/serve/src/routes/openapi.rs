//! `GET /openapi.json`: the hand-written OpenAPI 3 document of the routes.
//! A test checks that every route of `routes::configure` is in it.

use actix_web::HttpResponse;

/// The document, embedded at build time.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

#[tracing::instrument(level = "debug", name = "openapi", skip_all)]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI_JSON)
}
