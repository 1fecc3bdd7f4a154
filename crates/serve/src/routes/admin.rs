//! `POST /admin/reload`: load the artifacts of the model directory again
//! and swap them in, or refuse them and keep serving the current model.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Compares the SHA-256 digests of the two tokens, every byte of them:
/// the time taken says nothing about where they differ, nor about the
/// expected token's length.
fn same_token(given: &[u8], expected: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Failed admin authentications allowed per client address per window;
/// past them, 429 without looking at the token (a guess costs a window).
const FAILURES_PER_WINDOW: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; a full table forgets the oldest windows.
const MAX_TRACKED_CLIENTS: usize = 4096;

/// Counts failed authentications per client address.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl AuthThrottle {
    fn allows(&self, client: Option<IpAddr>, now: Instant) -> bool {
        let Some(client) = client else { return true };
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.get(&client).is_none_or(|&(since, count)| {
            now.duration_since(since) >= FAILURE_WINDOW || count < FAILURES_PER_WINDOW
        })
    }

    fn failed(&self, client: Option<IpAddr>, now: Instant) {
        let Some(client) = client else { return };
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_TRACKED_CLIENTS {
            failures.retain(|_, (since, _)| now.duration_since(*since) < FAILURE_WINDOW);
            if failures.len() >= MAX_TRACKED_CLIENTS {
                failures.clear();
            }
        }
        let entry = failures.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

/// The bearer token, exactly as sent (no trimming: ` token` is not `token`).
fn bearer(request: &HttpRequest) -> Result<&[u8], ApiError> {
    let header = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized)?;
    header
        .as_bytes()
        .strip_prefix(b"Bearer ")
        .ok_or(ApiError::Unauthorized)
}

fn authorize(
    request: &HttpRequest,
    expected: Option<&str>,
    throttle: &AuthThrottle,
) -> Result<(), ApiError> {
    let client = request.peer_addr().map(|a| a.ip());
    let now = Instant::now();
    if !throttle.allows(client, now) {
        return Err(ApiError::TooManyAttempts(FAILURE_WINDOW.as_secs()));
    }
    let verdict = bearer(request).and_then(|given| match expected {
        Some(expected) if same_token(given, expected.as_bytes()) => Ok(()),
        // Without a configured token the endpoint is closed to everyone.
        _ => Err(ApiError::Forbidden),
    });
    if verdict.is_err() {
        throttle.failed(client, now);
    }
    verdict
}

#[tracing::instrument(level = "debug", name = "admin_reload", skip_all)]
pub async fn reload(
    request: HttpRequest,
    state: web::Data<AppState>,
    store: web::Data<WorkerStore>,
) -> Result<HttpResponse, ApiError> {
    authorize(
        &request,
        state.settings.admin_token.as_deref(),
        &state.auth_throttle,
    )?;
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
        assert!(!same_token(b" s3cret", b"s3cret"));
        assert!(!same_token(b"", b"s3cret"));
    }

    #[test]
    fn failures_past_the_limit_are_throttled_per_client_until_the_window_ends() {
        let throttle = AuthThrottle::default();
        let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
        let start = Instant::now();
        for _ in 0..FAILURES_PER_WINDOW {
            assert!(throttle.allows(Some(a), start));
            throttle.failed(Some(a), start);
        }
        assert!(!throttle.allows(Some(a), start));
        assert!(
            throttle.allows(Some(b), start),
            "another client is not throttled"
        );
        assert!(throttle.allows(Some(a), start + FAILURE_WINDOW));
    }
}
