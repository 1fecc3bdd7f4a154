//! The Redis reader `serve` uses when a Redis URL is given.
//!
//! Every lookup is one Lua script call, which Redis runs atomically: it
//! reads the serving generation number, the customer key, and (for a record
//! id) the alias (a field of its `recs:{bucket}` hash) and the customer it
//! names. A load's `SWAPDB` therefore
//! happens entirely before or after a lookup, never in the middle of one.
//! The script also returns the generation's meta when the number differs
//! from the one this store has cached, so a switch costs one larger reply
//! and no extra round trip.
//!
//! Note: the script reads `cust:{customer_id}` of an alias without declaring
//! that key, which is fine on a standalone Redis (the only deployment this
//! store supports: generations switch by `SWAPDB`, which Redis Cluster lacks).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::connection::{bounded, open_client};
use crate::encoding::decode_customer;
use crate::error::StoreError;
use crate::keys;
use crate::record::{CustomerRecord, GenerationMeta};

/// Bounds on every Redis round trip, so that `serve` answers 503 quickly
/// while Redis is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisTimeouts {
    /// Establishing a TCP (+TLS, +AUTH) connection.
    pub connect: Duration,
    /// Waiting for the answer to one command or script.
    pub response: Duration,
}

impl Default for RedisTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(500),
            response: Duration::from_millis(500),
        }
    }
}

impl RedisTimeouts {
    /// The hard bound on one call: a reconnect attempt plus the answer.
    pub fn deadline(&self) -> Duration {
        self.connect + self.response
    }
}

/// KEYS: cust:{id}, the alias key of {id} under the cached generation
/// (`recs:{bucket}`, or `rec:{id}` of the legacy layout), offers:generation,
/// offers:meta.
/// ARGV: the generation the caller has cached ("" if none), the id, the
/// customer key prefix, `h` (alias bucket hash) or `s` (legacy string).
/// Reply: {} when no generation is loaded, else
/// {generation, meta or false, customer_id, value or false}.
/// The alias key depends on the generation's bucket count, so the alias is
/// only read when the serving generation is the cached one; otherwise the
/// reply carries the new meta and the caller asks again with it.
const LOOKUP_SCRIPT: &str = r"
local gen = redis.call('GET', KEYS[3])
if not gen then return {} end
local meta = false
if gen ~= ARGV[1] then meta = redis.call('GET', KEYS[4]) end
local cid = ARGV[2]
local v = redis.call('GET', KEYS[1])
if not v and gen == ARGV[1] then
  local c
  if ARGV[4] == 'h' then c = redis.call('HGET', KEYS[2], ARGV[2]) else c = redis.call('GET', KEYS[2]) end
  if c then
    cid = c
    v = redis.call('GET', ARGV[3] .. c)
  end
end
return {gen, meta, cid, v}
";

/// Lookup attempts when generations switch between them (each switch costs
/// an alias lookup one more round trip).
const LOOKUP_ATTEMPTS: usize = 3;

/// A reconnecting Redis client over the serving database. Cheap to clone
/// (clones share the connection and the cached generation meta).
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// The URL with any password masked, for messages.
    url: String,
    manager: ConnectionManager,
    script: redis::Script,
    timeouts: RedisTimeouts,
    meta: RwLock<Option<Arc<GenerationMeta>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.url)
            .field("timeouts", &self.inner.timeouts)
            .finish_non_exhaustive()
    }
}

type LookupReply = Vec<Option<Vec<u8>>>;

/// One round trip of a lookup.
enum Attempt {
    Done(Option<CustomerRecord>),
    /// The generation changed and the alias was not read: retry with this
    /// meta.
    Switched(Arc<GenerationMeta>),
}

impl RedisStore {
    /// Checks the URL and creates the client without touching the network:
    /// the first request connects, so `serve` starts (and answers 503) even
    /// while Redis is down. `redis://`, `rediss://` (TLS; append
    /// `#insecure` to skip certificate checks), `user:password@` and a
    /// database number (`/2`) are understood. Must be called inside a Tokio
    /// runtime.
    pub fn new(url: &str, timeouts: RedisTimeouts) -> Result<Self, StoreError> {
        let (client, masked, _db) = open_client(url)?;
        // Few, quick retries: a request waits for at most one reconnect
        // cycle, and the next request starts a new one, so recovery is
        // driven by traffic rather than by a long backoff.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
            StoreError::InvalidUrl {
                url: masked.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                url: masked,
                manager,
                script: redis::Script::new(LOOKUP_SCRIPT),
                timeouts,
                meta: RwLock::new(None),
            }),
        })
    }

    /// [`RedisStore::new`], then waits for a first successful `PING`.
    pub async fn connect(url: &str, timeouts: RedisTimeouts) -> Result<Self, StoreError> {
        let store = Self::new(url, timeouts)?;
        store.ping().await?;
        Ok(store)
    }

    /// The URL with the password masked.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    fn cached_meta(&self) -> Option<Arc<GenerationMeta>> {
        self.inner
            .meta
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn cache_meta(&self, meta: Arc<GenerationMeta>) {
        *self
            .inner
            .meta
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(meta);
    }

    fn parse_meta(&self, generation: &str, json: &[u8]) -> Result<Arc<GenerationMeta>, StoreError> {
        let meta: GenerationMeta =
            serde_json::from_slice(json).map_err(|e| StoreError::Corrupt {
                key: keys::META.to_owned(),
                reason: format!("not a generation meta JSON: {e}"),
            })?;
        if meta.generation.to_string() != generation {
            return Err(StoreError::Corrupt {
                key: keys::META.to_owned(),
                reason: format!(
                    "describes generation {}, but `{}` is {generation}",
                    meta.generation,
                    keys::GENERATION
                ),
            });
        }
        let meta = Arc::new(meta);
        self.cache_meta(Arc::clone(&meta));
        Ok(meta)
    }

    fn missing_meta(&self) -> StoreError {
        StoreError::Corrupt {
            key: keys::META.to_owned(),
            reason: format!("missing although `{}` is set", keys::GENERATION),
        }
    }

    /// The serving generation and the customer named by `id` (customer id
    /// first, then record alias), read atomically: one round trip, two for
    /// an alias just after a generation switch.
    pub async fn lookup(&self, id: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let mut cached = self.cached_meta();
        for _ in 0..LOOKUP_ATTEMPTS {
            match self.lookup_once(id, cached.as_ref()).await? {
                Attempt::Done(record) => return Ok(record),
                Attempt::Switched(meta) => cached = Some(meta),
            }
        }
        Err(StoreError::Timeout {
            url: self.inner.url.clone(),
            what: "an alias lookup (the generation switched at every attempt)",
            millis: self.inner.timeouts.deadline().as_millis() * LOOKUP_ATTEMPTS as u128,
        })
    }

    async fn lookup_once(
        &self,
        id: &str,
        cached: Option<&Arc<GenerationMeta>>,
    ) -> Result<Attempt, StoreError> {
        let known = cached.map(|m| m.generation.to_string()).unwrap_or_default();
        let (alias_key, alias_mode) = match cached.and_then(|m| m.alias_buckets) {
            Some(buckets) => (keys::alias_bucket_key(keys::alias_bucket(id, buckets)), "h"),
            None => (keys::legacy_alias_key(id), "s"),
        };
        let mut conn = self.inner.manager.clone();
        let mut invocation = self.inner.script.prepare_invoke();
        invocation
            .key(keys::customer_key(id))
            .key(alias_key)
            .key(keys::GENERATION)
            .key(keys::META)
            .arg(&known)
            .arg(id)
            .arg(keys::CUSTOMER_PREFIX)
            .arg(alias_mode);
        let reply: LookupReply = bounded(
            &self.inner.url,
            "lookup",
            self.inner.timeouts.deadline(),
            invocation.invoke_async(&mut conn),
        )
        .await?;
        let mut reply = reply.into_iter();
        let Some(Some(generation)) = reply.next() else {
            return Err(StoreError::NoGeneration {
                url: self.inner.url.clone(),
                key: keys::GENERATION,
            });
        };
        let generation = String::from_utf8_lossy(&generation).into_owned();
        let meta_json = reply.next().flatten();
        let customer_id = reply.next().flatten();
        let value = reply.next().flatten();
        let switched = generation != known;
        let meta = match (meta_json, cached) {
            (Some(json), _) => self.parse_meta(&generation, &json)?,
            (None, Some(cached)) if !switched => Arc::clone(cached),
            (None, _) => return Err(self.missing_meta()),
        };
        let (Some(customer_id), Some(value)) = (customer_id, value) else {
            // After a switch the script skipped the alias (its key depends on
            // the new meta): ask again with it.
            return Ok(if switched {
                Attempt::Switched(meta)
            } else {
                Attempt::Done(None)
            });
        };
        let customer_id = String::from_utf8(customer_id).map_err(|_| StoreError::Corrupt {
            key: format!("alias of `{id}`"),
            reason: "customer id is not UTF-8".to_owned(),
        })?;
        let corrupt = |reason: String| StoreError::Corrupt {
            key: keys::customer_key(&customer_id),
            reason,
        };
        let (cluster, features) = decode_customer(&value).map_err(|e| corrupt(e.to_string()))?;
        if features.len() != meta.feature_names.len() {
            return Err(corrupt(format!(
                "{} features, generation {} has {}",
                features.len(),
                meta.generation,
                meta.feature_names.len()
            )));
        }
        Ok(Attempt::Done(Some(CustomerRecord {
            customer_id,
            cluster,
            features,
            generation: meta,
        })))
    }

    /// The serving generation's meta (cached; re-read when the generation
    /// number changed).
    pub async fn generation(&self) -> Result<Arc<GenerationMeta>, StoreError> {
        let mut conn = self.inner.manager.clone();
        let cached = self.cached_meta();
        let generation: Option<String> = bounded(
            &self.inner.url,
            "GET generation",
            self.inner.timeouts.deadline(),
            redis::cmd("GET")
                .arg(keys::GENERATION)
                .query_async(&mut conn),
        )
        .await?;
        let Some(generation) = generation else {
            return Err(StoreError::NoGeneration {
                url: self.inner.url.clone(),
                key: keys::GENERATION,
            });
        };
        if let Some(cached) = cached.filter(|m| m.generation.to_string() == generation) {
            return Ok(cached);
        }
        // Both keys in one MGET, which is atomic, so the meta belongs to the
        // generation even if a switch happened since the GET above.
        let (generation, json): (Option<String>, Option<Vec<u8>>) = bounded(
            &self.inner.url,
            "MGET generation meta",
            self.inner.timeouts.deadline(),
            redis::cmd("MGET")
                .arg(keys::GENERATION)
                .arg(keys::META)
                .query_async(&mut conn),
        )
        .await?;
        match (generation, json) {
            (None, _) => Err(StoreError::NoGeneration {
                url: self.inner.url.clone(),
                key: keys::GENERATION,
            }),
            (Some(_), None) => Err(self.missing_meta()),
            (Some(generation), Some(json)) => self.parse_meta(&generation, &json),
        }
    }

    /// `PING` within the deadline.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.inner.manager.clone();
        let _: String = bounded(
            &self.inner.url,
            "PING",
            self.inner.timeouts.deadline(),
            redis::cmd("PING").query_async(&mut conn),
        )
        .await?;
        Ok(())
    }
}
