//! `GET /metrics`: Prometheus text format.

use actix_web::{HttpResponse, web};

use crate::state::{AppState, WorkerStore};

#[tracing::instrument(level = "debug", name = "metrics", skip_all)]
pub async fn metrics(state: web::Data<AppState>, store: web::Data<WorkerStore>) -> HttpResponse {
    let model = state.model.load_full();
    // The generation the last lookup saw: no round trip here, so scraping
    // never waits on Redis.
    let generation = match &store.store {
        feature_store::Store::Embedded(s) => Some(s.generation().generation),
        feature_store::Store::Redis(_) => state.seen_generation(),
    };
    let text = state.metrics.render(
        &model.info().model_version,
        model.info().unseen,
        store.store.kind(),
        generation,
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}
