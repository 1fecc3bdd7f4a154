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

/// `/recommend/{id}` with one non-empty segment.
fn is_recommend_id(path: &str) -> bool {
    path.strip_prefix("/recommend/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// 404 for an unknown path, 405 with `Allow` for a known one asked with
/// another method, 400 for `/recommend/` without an id.
async fn not_found(request: HttpRequest) -> HttpResponse {
    let path = request.path();
    if path == "/recommend/" {
        return error_response(
            400,
            "bad_request",
            "the customer or record id of /recommend/{id} is empty".to_owned(),
        );
    }
    let allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, route)| *route == path || (route.ends_with("{id}") && is_recommend_id(path)))
        .map(|(method, _)| *method)
        .collect();
    if allowed.is_empty() {
        return error_response(
            404,
            "not_found",
            format!("no route {} {path}", request.method()),
        );
    }
    let mut response = error_response(
        405,
        "method_not_allowed",
        format!(
            "{} is not allowed on {path} (allowed: {})",
            request.method(),
            allowed.join(", ")
        ),
    );
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
}
