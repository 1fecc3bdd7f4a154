//! What every handler shares: the serving model (swappable), the customer
//! store, the metrics and the settings.
//!
//! The model sits in an `ArcSwap`: a request loads the current `Arc` once
//! (lock-free) and uses it to the end, so a reload that swaps in a new
//! model never blocks or drops a request in flight; the old model is freed
//! when its last request finishes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use feature_store::{CustomerRecord, GenerationMeta, Store, StoreError};

use crate::configuration::Settings;
use crate::error::{ApiError, ModelError};
use crate::metrics::{Metrics, StoreErrorKind};
use crate::scoring::LoadedModel;

/// Shared by all workers (behind `web::Data`).
#[derive(Debug)]
pub struct AppState {
    pub model: ArcSwap<LoadedModel>,
    pub metrics: Metrics,
    pub settings: Settings,
    /// Serializes reloads (two concurrent reloads would race to swap).
    pub reload_lock: tokio::sync::Mutex<()>,
    /// Failed admin authentications per client (`POST /admin/reload`).
    pub auth_throttle: crate::routes::admin::AuthThrottle,
    /// The store generation the last lookup saw ([`NO_GENERATION`] before).
    pub last_generation: AtomicU64,
}

/// [`AppState::last_generation`] before any lookup.
pub const NO_GENERATION: u64 = u64::MAX;

impl AppState {
    /// Notes the generation a lookup read (written only when it changes, so
    /// workers do not bounce the cache line on every request).
    pub fn saw_generation(&self, generation: u64) {
        if self.last_generation.load(Ordering::Relaxed) != generation {
            self.last_generation.store(generation, Ordering::Relaxed);
        }
    }

    /// The store generation last seen, for metrics.
    pub fn seen_generation(&self) -> Option<u64> {
        Some(self.last_generation.load(Ordering::Relaxed)).filter(|&g| g != NO_GENERATION)
    }
}

/// The customer store of one worker (each worker owns its Redis connection
/// so replies are driven by the worker's own runtime).
#[derive(Debug, Clone)]
pub struct WorkerStore {
    pub store: Store,
    pub timeout: Duration,
}

impl WorkerStore {
    /// Looks up a customer or record id, bounded by the store timeout.
    /// Unavailable or slow stores become 503, other failures 500.
    pub async fn lookup(
        &self,
        id: &str,
        metrics: &Metrics,
    ) -> Result<Option<CustomerRecord>, ApiError> {
        self.bounded(metrics, || self.store.lookup(id)).await
    }

    /// The serving generation, bounded by the store timeout.
    pub async fn generation(&self, metrics: &Metrics) -> Result<Arc<GenerationMeta>, ApiError> {
        self.bounded(metrics, || self.store.generation()).await
    }

    /// Runs one read-only store call under the store timeout, retrying it
    /// once when it failed on a broken connection.
    ///
    /// The retry is what makes the service recover by itself: Redis'
    /// connection manager keeps the outcome of its last (re)connection
    /// attempt and only starts a new one when a call fails on it. After an
    /// outage, the first call of each worker therefore fails on the attempt
    /// made while Redis was still down, even though Redis answers again;
    /// without the retry that request answered 503 although nothing was
    /// wrong any more. The second try waits for the fresh connection that
    /// the failure started, so it succeeds as soon as Redis is back, and
    /// while Redis is down it fails just as fast (connections are refused).
    /// Lookups only read, so running one twice is harmless; the timeout
    /// bounds both tries together.
    async fn bounded<T, F, Fut>(&self, metrics: &Metrics, call: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let with_retry = async {
            match call().await {
                Err(err) if is_connection_failure(&err) => {
                    tracing::debug!(error = %err, "customer store call failed; retrying once on a new connection");
                    call().await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.timeout, with_retry).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(store_error(err, metrics)),
            Err(_) => {
                metrics.store_error(StoreErrorKind::Timeout);
                Err(ApiError::StoreUnavailable(format!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                )))
            }
        }
    }
}

/// A failure of the connection itself (refused, dropped, broken), which a
/// new connection may not have; not a slow or refusing Redis.
fn is_connection_failure(err: &StoreError) -> bool {
    matches!(err, StoreError::Unavailable { .. })
}

fn store_error(err: StoreError, metrics: &Metrics) -> ApiError {
    if err.is_unavailable() {
        metrics.store_error(StoreErrorKind::Unavailable);
        tracing::warn!(error = %err, "customer store unavailable");
        ApiError::StoreUnavailable(err.public_message())
    } else {
        metrics.store_error(StoreErrorKind::Other);
        tracing::error!(error = %err, "customer store failed");
        ApiError::Internal(err.public_message())
    }
}

impl From<ModelError> for ApiError {
    fn from(err: ModelError) -> Self {
        ApiError::Internal(err.to_string())
    }
}
