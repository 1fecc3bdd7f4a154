//! `GET /openapi.json`: the hand-written OpenAPI 3 document of the routes,
//! with the bounds that depend on the serving model filled in when asked
//! (`top_k` runs up to the catalogue size). A test checks that every route
//! of `routes::configure` is in it.

use actix_web::{HttpResponse, web};
use serde_json::Value;

use crate::state::AppState;

/// The document, embedded at build time.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The document for a model with `catalogue_size` offers: every `top_k`
/// schema gets that as its `maximum`.
pub fn document(catalogue_size: usize) -> Result<Value, serde_json::Error> {
    let mut doc: Value = serde_json::from_str(OPENAPI_JSON)?;
    set_top_k_maximum(&mut doc, catalogue_size);
    Ok(doc)
}

/// Walks the document: the query parameter named `top_k` and the request
/// body property `top_k`.
fn set_top_k_maximum(value: &mut Value, maximum: usize) {
    match value {
        Value::Object(map) => {
            if map.get("name").and_then(Value::as_str) == Some("top_k")
                && let Some(Value::Object(schema)) = map.get_mut("schema")
            {
                schema.insert("maximum".into(), maximum.into());
            }
            if let Some(Value::Object(schema)) = map.get_mut("top_k") {
                schema.insert("maximum".into(), maximum.into());
            }
            map.values_mut().for_each(|v| set_top_k_maximum(v, maximum));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| set_top_k_maximum(v, maximum)),
        _ => {}
    }
}

#[tracing::instrument(level = "debug", name = "openapi", skip_all)]
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    match document(state.model.load().catalogue_size()) {
        Ok(doc) => HttpResponse::Ok().json(doc),
        Err(e) => HttpResponse::InternalServerError().body(format!("openapi.json: {e}")),
    }
}
