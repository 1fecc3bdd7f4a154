//! `GET /`: is the service able to answer, and with what.

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::scoring::ModelInfo;
use crate::state::{AppState, WorkerStore};

#[derive(Debug, Serialize)]
struct StoreHealth {
    kind: &'static str,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Health {
    /// `ok`, or `degraded` when the store does not answer (status 503).
    status: &'static str,
    model_loaded: bool,
    model: ModelInfo,
    store: StoreHealth,
}

/// 200 when the model is loaded and the store answers, else 503 with the
/// same body saying which part is missing.
#[tracing::instrument(level = "debug", name = "health", skip_all)]
pub async fn health(state: web::Data<AppState>, store: web::Data<WorkerStore>) -> HttpResponse {
    let model = state.model.load_full();
    let store_health = match store.generation(&state.metrics).await {
        Ok(meta) => StoreHealth {
            kind: store.store.kind(),
            reachable: true,
            generation: Some(meta.generation),
            data_version: Some(meta.data_version.clone()),
            customers: Some(meta.customers),
            error: None,
        },
        Err(err) => StoreHealth {
            kind: store.store.kind(),
            reachable: false,
            generation: None,
            data_version: None,
            customers: None,
            error: Some(err.to_string()),
        },
    };
    let healthy = store_health.reachable;
    let body = Health {
        status: if healthy { "ok" } else { "degraded" },
        model_loaded: true,
        model: model.info().clone(),
        store: store_health,
    };
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
