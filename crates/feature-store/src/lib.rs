//! The customer feature store that `load-cache` writes and `serve` reads.
//!
//! One crate owns the key layout and the value encoding so that the writer
//! and the reader can never disagree about them (see `README.md` for the
//! architecture note).
//!
//! # API in one screen
//!
//! ```text
//! // serve, with Redis (URL may be redis://, rediss://, with user:password):
//! let store = Store::Redis(RedisStore::connect(url, RedisTimeouts::default()).await?);
//! // serve, with nothing installed (reads data/*.parquet into memory):
//! let store = Store::Embedded(EmbeddedStore::from_files(data_dir)?);
//!
//! match store.lookup("REC0000042").await {          // customer_id or any record_id
//!     Ok(Some(rec)) => { rec.customer_id; rec.cluster; rec.features;  // resolved id
//!                        rec.generation.feature_names /* order of rec.features */ }
//!     Ok(None) => 404,
//!     Err(e) if e.is_unavailable() => 503,           // Redis down/slow, no generation loaded
//!     Err(e) => 500,                                 // corrupt value, ...
//! }
//! store.generation().await?   // Arc<GenerationMeta> of what is serving now (health)
//! store.ping().await?         // cheap liveness check (health)
//!
//! // load-cache:
//! let tables = CustomerTables::read(data_dir)?;               // validated inputs
//! let loader = GenerationLoader::connect(url, staging_db, timeouts).await?;
//! let report = loader.load(&tables, data_version, model_version, |n| bar.inc(n)).await?;
//! ```
//!
//! A generation switch is picked up by `serve` without restart: every Redis
//! lookup returns the serving generation number in the same atomic round trip
//! as the value, and the store re-reads the generation's meta when it changed.
//! Each [`CustomerRecord`] carries the [`GenerationMeta`] it was read under, so
//! `features` always lines up with `generation.feature_names`.
//!
//! # Key layout (Redis)
//!
//! See [`keys`]. The serving database (the one in the URL, default 0) holds
//! `cust:{customer_id}` (binary value, [`encoding`]), `recs:{bucket}` (hashes
//! `record_id` -> `customer_id` for every source record whose id differs from
//! its customer id, about 64 per bucket so Redis keeps them compact),
//! `offers:generation` and `offers:meta` (JSON [`GenerationMeta`]). A load fills a *staging* database and switches with
//! `SWAPDB`, which is atomic: readers see the old generation or the new one,
//! never a mix. The old generation then sits in the staging database and is
//! flushed.

mod connection;
pub mod embedded;
pub mod encoding;
pub mod error;
pub mod keys;
pub mod loader;
pub mod record;
pub mod redis_store;
pub mod tables;
#[cfg(feature = "test-support")]
pub mod test_support;

use std::sync::Arc;

pub use connection::mask_password;
pub use embedded::EmbeddedStore;
pub use error::StoreError;
pub use loader::{GenerationLoader, LoadReport};
pub use record::{CustomerRecord, GenerationMeta};
pub use redis_store::{RedisStore, RedisTimeouts};
pub use tables::CustomerTables;

/// Where `serve` reads customers from.
#[derive(Debug, Clone)]
pub enum Store {
    Redis(RedisStore),
    Embedded(EmbeddedStore),
}

impl Store {
    /// The customer named by `id`: a resolved `customer_id` or any source
    /// `record_id` (alias). The record always names the resolved customer.
    /// `Ok(None)` when neither key exists in the serving generation.
    pub async fn lookup(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        match self {
            Store::Redis(s) => s.lookup(id).await,
            Store::Embedded(s) => Ok(s.lookup(id)),
        }
    }

    /// The generation serving now (re-read from Redis when it changed).
    pub async fn generation(&self) -> Result<Arc<GenerationMeta>, StoreError> {
        match self {
            Store::Redis(s) => s.generation().await,
            Store::Embedded(s) => Ok(s.generation()),
        }
    }

    /// Liveness: `Ok` when the backing store answers within its timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Redis(s) => s.ping().await,
            Store::Embedded(_) => Ok(()),
        }
    }

    /// `"redis"` or `"embedded"`, for health output and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Redis(_) => "redis",
            Store::Embedded(_) => "embedded",
        }
    }
}
