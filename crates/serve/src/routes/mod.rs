//! The HTTP routes. Only this crate knows HTTP; handlers stay thin over
//! `scoring` and the store.

pub mod admin;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod recommend;

use actix_web::error::JsonPayloadError;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ErrorBody;

/// Every route: the OpenAPI document lists exactly these (checked by a test).
pub const ROUTES: [(&str, &str); 6] = [
    ("GET", "/"),
    ("GET", "/recommend/{id}"),
    ("POST", "/recommend"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/admin/reload"),
];

/// Registers the routes; `json_limit_bytes` bounds request bodies.
pub fn configure(cfg: &mut web::ServiceConfig, json_limit_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(json_limit_bytes)
            .error_handler(json_error),
    )
    .app_data(web::PathConfig::default().error_handler(|err, _| {
        let message = err.to_string();
        actix_web::error::InternalError::from_response(
            err,
            error_response(400, "bad_request", message),
        )
        .into()
    }))
    .route("/", web::get().to(health::health))
    .route(
        "/recommend/{id}",
        web::get().to(recommend::get_recommendation),
    )
    .route(
        "/recommend",
        web::post().to(recommend::post_recommendations),
    )
    .route("/metrics", web::get().to(metrics::metrics))
    .route("/openapi.json", web::get().to(openapi::openapi))
    .route("/admin/reload", web::post().to(admin::reload))
    .default_service(web::to(not_found));
}

fn error_response(status: u16, error: &str, message: String) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).json(ErrorBody {
        error: error.to_owned(),
        message,
    })
}

/// Oversized bodies 413, wrong content type 415, anything else malformed 400,
/// each with a JSON body.
fn json_error(err: JsonPayloadError, _request: &HttpRequest) -> actix_web::Error {
    let (status, error) = match &err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            (413, "payload_too_large")
        }
        JsonPayloadError::ContentType => (415, "unsupported_media_type"),
        _ => (400, "malformed_body"),
    };
    let message = match &err {
        JsonPayloadError::ContentType => "expected Content-Type: application/json".to_owned(),
        JsonPayloadError::Deserialize(e) => {
            format!("expected {{\"ids\": [\"...\"], \"top_k\": K, \"explain\": false}}: {e}")
        }
        other => other.to_string(),
    };
    let response = error_response(status, error, message);
    actix_web::error::InternalError::from_response(err, response).into()
}

async fn not_found(request: HttpRequest) -> HttpResponse {
    let known_path = ROUTES.iter().any(|(_, p)| {
        *p == request.path() || (p.ends_with("{id}") && request.path().starts_with("/recommend/"))
    });
    if known_path {
        error_response(
            405,
            "method_not_allowed",
            format!("{} is not allowed on {}", request.method(), request.path()),
        )
    } else {
        error_response(
            404,
            "not_found",
            format!("no route {} {}", request.method(), request.path()),
        )
    }
}
