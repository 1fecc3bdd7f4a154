//! Errors of the load-cache stage.

#[derive(Debug, thiserror::Error)]
pub enum LoadCacheError {
    #[error(
        "no Redis URL: pass --redis-url or set REDIS_URL (e.g. redis://127.0.0.1:6379, rediss://:password@host:6380)"
    )]
    NoRedisUrl,

    #[error(transparent)]
    Store(#[from] feature_store::StoreError),

    #[error(transparent)]
    Core(#[from] pipeline_core::CoreError),
}
