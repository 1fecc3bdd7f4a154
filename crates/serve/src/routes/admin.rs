//! `POST /admin/reload`: load the artifacts of the model directory again
//! and swap them in, or refuse them and keep serving the current model.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::ApiError;
use crate::scoring::{LoadedModel, ModelInfo};
use crate::state::{AppState, WorkerStore};

#[derive(Debug, Serialize)]
struct Reloaded {
    status: &'static str,
    previous_version: String,
    model: ModelInfo,
}

/// Compares in time independent of where the strings differ.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn authorize(request: &HttpRequest, expected: Option<&str>) -> Result<(), ApiError> {
    let header = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized)?;
    let given = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    // Without a configured token the endpoint is closed to everyone.
    match expected {
        Some(expected) if same_token(given.trim().as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}

#[tracing::instrument(level = "debug", name = "admin_reload", skip_all)]
pub async fn reload(
    request: HttpRequest,
    state: web::Data<AppState>,
    store: web::Data<WorkerStore>,
) -> Result<HttpResponse, ApiError> {
    authorize(&request, state.settings.admin_token.as_deref())?;
    let _one_at_a_time = state.reload_lock.lock().await;
    let model_dir = state.settings.model_dir.clone();
    let data_dir = state.settings.data_dir.clone();
    // Parsing the trees and checking them against LightGBM takes
    // milliseconds: keep it off the request threads.
    let loaded = web::block(move || LoadedModel::load(&model_dir, &data_dir))
        .await
        .map_err(|e| ApiError::Internal(format!("reload task failed: {e}")))?;
    let refused = |message: String| {
        state.metrics.reload(false);
        tracing::warn!(%message, "reload refused; keeping the current model");
        ApiError::Unprocessable(format!(
            "model refused, still serving the previous one: {message}"
        ))
    };
    let model = loaded.map_err(|e| refused(e.to_string()))?;
    // A model the current store generation cannot feed is refused now
    // rather than failing every request.
    let generation = store.generation(&state.metrics).await?;
    model
        .layout_for(&generation)
        .map_err(|e| refused(e.to_string()))?;
    let model = Arc::new(model);
    let previous = state.model.swap(Arc::clone(&model));
    state.metrics.reload(true);
    tracing::info!(
        from = %previous.info().model_version,
        to = %model.info().model_version,
        "model reloaded"
    );
    Ok(HttpResponse::Ok().json(Reloaded {
        status: "reloaded",
        previous_version: previous.info().model_version.clone(),
        model: model.info().clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_tokens_exactly() {
        assert!(same_token(b"s3cret", b"s3cret"));
        assert!(!same_token(b"s3cret", b"s3creT"));
        assert!(!same_token(b"s3cre", b"s3cret"));
    }
}
