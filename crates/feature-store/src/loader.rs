//! Writes a generation into Redis and switches to it atomically.
//!
//! A load never writes into the serving database. It:
//! 1. takes the load lock (`offers:load-lock`, `SET NX` with a TTL that
//!    the load keeps refreshing, so a killed load frees it by itself);
//! 2. empties the staging database (leftovers of an interrupted load);
//! 3. writes every `cust:` key (pipelined `MSET`s) and every alias (one
//!    `HSET recs:{bucket}` per bucket, see [`crate::keys`]) into the staging
//!    database, several pipelines in flight at once, so no key
//!    costs a round trip;
//! 4. writes `offers:meta`, then `offers:generation` (number + 1), and
//!    checks that the staging database holds exactly the keys it wrote;
//! 5. in one Lua script, checks that it still holds the lock and runs
//!    `SWAPDB serving staging`: readers switch from one complete
//!    generation to the other in a single step;
//! 6. flushes the staging database (now the previous generation)
//!    asynchronously, in the background of the Redis server.
//!
//! A failure before step 5 leaves the serving database untouched; the load
//! then empties the staging database and releases the lock (a killed load
//! leaves both to the next load and the lock's TTL).

use std::time::{Duration, Instant};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::task::JoinSet;

use crate::connection::{bounded, open_client};
use crate::encoding::encode_customer_into;
use crate::error::StoreError;
use crate::keys;
use crate::redis_store::RedisTimeouts;
use crate::tables::CustomerTables;

/// What a load wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    pub generation: u64,
    pub customers: u64,
    pub aliases: u64,
    /// `recs:{bucket}` alias hashes written (non-empty buckets).
    pub alias_buckets: u64,
    /// Bytes of encoded customer values (without keys).
    pub value_bytes: u64,
    /// Seconds spent writing and switching.
    pub seconds: f64,
}

/// Keys per `MSET`: large enough that the per-command cost vanishes, small
/// enough that one command never blocks the server for long.
const KEYS_PER_MSET: usize = 500;
/// Customers per encoding task.
const CUSTOMERS_PER_CHUNK: usize = 8 * KEYS_PER_MSET;
/// Entries (customers or aliases) per pipeline (one round trip).
const ENTRIES_PER_PIPELINE: usize = 4000;
/// Pipelines in flight at once: the client encodes the next while the
/// server applies the previous ones.
const PIPELINES_IN_FLIGHT: usize = 4;
/// Bound on one pipeline of writes (a busy server may take a while).
const WRITE_DEADLINE: Duration = Duration::from_secs(60);

/// KEYS: the lock. ARGV: token, serving db, staging db.
const SWITCH_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SWAPDB', ARGV[2], ARGV[3])
return 1
";

/// KEYS: the lock. ARGV: token, ttl in ms (refresh) or '' (release).
const LOCK_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
";

/// A bulk writer of generations.
pub struct GenerationLoader {
    url: String,
    serving: MultiplexedConnection,
    staging: MultiplexedConnection,
    serving_db: i64,
    staging_db: i64,
    timeouts: RedisTimeouts,
    lock_ttl: Duration,
}

impl std::fmt::Debug for GenerationLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationLoader")
            .field("url", &self.url)
            .field("serving_db", &self.serving_db)
            .field("staging_db", &self.staging_db)
            .finish_non_exhaustive()
    }
}

impl GenerationLoader {
    /// Connects to the serving database of `url` and to `staging_db`, into
    /// which the new generation is written first. The staging database must
    /// differ from the serving one and is emptied by every load: reserve it
    /// for this purpose.
    pub async fn connect(
        url: &str,
        staging_db: i64,
        timeouts: RedisTimeouts,
    ) -> Result<Self, StoreError> {
        let (client, masked, serving_db) = open_client(url)?;
        if staging_db == serving_db {
            return Err(StoreError::InvalidUrl {
                url: masked,
                reason: format!(
                    "the staging database {staging_db} is the serving database; choose another"
                ),
            });
        }
        let info = client.get_connection_info().clone();
        let staging_info = info
            .clone()
            .set_redis_settings(info.redis_settings().clone().set_db(staging_db));
        let staging_client =
            redis::Client::open(staging_info).map_err(|e| StoreError::InvalidUrl {
                url: masked.clone(),
                reason: e.to_string(),
            })?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(WRITE_DEADLINE));
        let deadline = timeouts.deadline();
        let serving = bounded(
            &masked,
            "connect",
            deadline,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await?;
        let staging = bounded(
            &masked,
            "connect to the staging database",
            deadline,
            staging_client.get_multiplexed_async_connection_with_config(&config),
        )
        .await?;
        Ok(Self {
            url: masked,
            serving,
            staging,
            serving_db,
            staging_db,
            timeouts,
            lock_ttl: Duration::from_secs(30),
        })
    }

    /// How long the load lock outlives a killed load (default 30 s).
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(100));
        self
    }

    /// The URL with the password masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The generation serving now (`None` before the first load).
    pub async fn serving_generation(&self) -> Result<Option<u64>, StoreError> {
        let mut conn = self.serving.clone();
        let value: Option<String> = bounded(
            &self.url,
            "GET generation",
            self.timeouts.deadline(),
            redis::cmd("GET")
                .arg(keys::GENERATION)
                .query_async(&mut conn),
        )
        .await?;
        value
            .map(|v| {
                v.parse::<u64>().map_err(|_| StoreError::Corrupt {
                    key: keys::GENERATION.to_owned(),
                    reason: format!("`{v}` is not a generation number"),
                })
            })
            .transpose()
    }

    /// Writes `tables` as a new generation (pipelined), switches the serving
    /// database to it atomically, and drops the previous generation.
    /// `progress` is told how many keys were written since its last call.
    pub async fn load(
        &self,
        tables: &CustomerTables,
        model_version: Option<String>,
        mut progress: impl FnMut(u64),
    ) -> Result<LoadReport, StoreError> {
        let started = Instant::now();
        let token = format!(
            "{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        self.acquire_lock(&token).await?;
        let result = self
            .write_and_switch(tables, model_version, &token, &mut progress)
            .await;
        match result {
            Ok((generation, value_bytes, alias_buckets)) => {
                // The previous generation and the lock now sit in the staging
                // database; freeing them is best effort.
                if let Err(e) = self.flush_staging().await {
                    tracing::warn!(
                        "generation {generation} is serving, but dropping the previous one failed: {e}"
                    );
                }
                Ok(LoadReport {
                    generation,
                    customers: tables.len() as u64,
                    aliases: tables.aliases.len() as u64,
                    alias_buckets,
                    value_bytes,
                    seconds: started.elapsed().as_secs_f64(),
                })
            }
            Err(e) => {
                if let Err(cleanup) = self.flush_staging().await {
                    tracing::warn!(
                        "emptying the staging database after a failed load failed: {cleanup}"
                    );
                }
                if let Err(unlock) = self.lock_call(&token, "").await {
                    tracing::warn!(
                        "releasing the load lock failed (it expires by itself): {unlock}"
                    );
                }
                Err(e)
            }
        }
    }

    async fn acquire_lock(&self, token: &str) -> Result<(), StoreError> {
        let mut conn = self.serving.clone();
        let acquired: Option<String> = bounded(
            &self.url,
            "SET load lock",
            self.timeouts.deadline(),
            redis::cmd("SET")
                .arg(keys::LOAD_LOCK)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(self.lock_ttl.as_millis() as u64)
                .query_async(&mut conn),
        )
        .await?;
        if acquired.is_none() {
            return Err(StoreError::Locked {
                url: self.url.clone(),
                key: keys::LOAD_LOCK,
                ttl_secs: self.lock_ttl.as_secs().max(1),
            });
        }
        Ok(())
    }

    /// Refreshes (`ttl` in ms) or releases (`""`) the lock if still ours.
    async fn lock_call(&self, token: &str, ttl: &str) -> Result<bool, StoreError> {
        let mut conn = self.serving.clone();
        let script = redis::Script::new(LOCK_SCRIPT);
        let mut call = script.prepare_invoke();
        call.key(keys::LOAD_LOCK).arg(token).arg(ttl);
        let held: i64 = bounded(
            &self.url,
            "load lock",
            self.timeouts.deadline(),
            call.invoke_async(&mut conn),
        )
        .await?;
        Ok(held == 1)
    }

    async fn flush_staging(&self) -> Result<(), StoreError> {
        let mut conn = self.staging.clone();
        bounded(
            &self.url,
            "FLUSHDB staging",
            self.timeouts.deadline() + WRITE_DEADLINE,
            redis::cmd("FLUSHDB")
                .arg("ASYNC")
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn write_and_switch(
        &self,
        tables: &CustomerTables,
        model_version: Option<String>,
        token: &str,
        progress: &mut impl FnMut(u64),
    ) -> Result<(u64, u64, u64), StoreError> {
        let generation = self.serving_generation().await?.unwrap_or(0) + 1;
        self.flush_staging().await?;

        let buckets = keys::alias_bucket_count(tables.aliases.len() as u64);
        let mut writer = PipelineWriter::new(self, token, progress);

        // Customers: `MSET`s of KEYS_PER_MSET keys, encoded on blocking
        // threads (the encoder is the client's hot spot) a few chunks ahead
        // of the writes, so encoding overlaps itself and the server's work.
        let n_features = tables.feature_names.len();
        let ahead = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let mut value_bytes = 0u64;
        let mut chunks = (0..tables.len()).step_by(CUSTOMERS_PER_CHUNK).map(|start| {
            let end = (start + CUSTOMERS_PER_CHUNK).min(tables.len());
            let ids = tables.customer_ids[start..end].to_vec();
            let clusters = tables.clusters[start..end].to_vec();
            let features = tables.features[start * n_features..end * n_features].to_vec();
            tokio::task::spawn_blocking(move || {
                encode_chunk(&ids, &clusters, &features, n_features)
            })
        });
        let mut encoding: std::collections::VecDeque<_> = chunks.by_ref().take(ahead).collect();
        while let Some(next) = encoding.pop_front() {
            let (commands, bytes) = next.await.map_err(|e| StoreError::Corrupt {
                key: format!("database {}", self.staging_db),
                reason: format!("an encoding task failed: {e}"),
            })?;
            encoding.extend(chunks.next());
            value_bytes += bytes;
            for (command, keys) in commands {
                writer.add(command, keys).await?;
            }
        }

        // Aliases: one `HSET recs:{bucket} record customer ...` per bucket.
        let grouped = group_by_bucket(&tables.aliases, buckets);
        let mut nonempty_buckets = 0u64;
        for (bucket, members) in grouped.iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let mut hset = redis::cmd("HSET");
            hset.arg(keys::alias_bucket_key(bucket as u64));
            for &i in members {
                let (record, customer) = &tables.aliases[i as usize];
                hset.arg(record.as_str()).arg(customer.as_str());
            }
            nonempty_buckets += 1;
            writer.add(hset, members.len()).await?;
        }
        writer.finish().await?;

        // Meta, then the generation number: a staging database with a
        // generation number is complete.
        let mut meta = tables.meta(generation, model_version);
        meta.alias_buckets = Some(buckets);
        let meta_json = serde_json::to_string(&meta).map_err(|e| StoreError::Corrupt {
            key: keys::META.to_owned(),
            reason: e.to_string(),
        })?;
        let mut staging = self.staging.clone();
        let size: u64 = bounded(
            &self.url,
            "write generation meta",
            self.timeouts.deadline(),
            redis::pipe()
                .cmd("SET")
                .arg(keys::META)
                .arg(meta_json)
                .ignore()
                .cmd("SET")
                .arg(keys::GENERATION)
                .arg(generation)
                .ignore()
                .cmd("DBSIZE")
                .query_async::<(u64,)>(&mut staging),
        )
        .await?
        .0;
        let expected = tables.len() as u64 + nonempty_buckets + 2;
        if size != expected {
            return Err(StoreError::Corrupt {
                key: format!("database {}", self.staging_db),
                reason: format!(
                    "the staging database holds {size} keys after the load, expected {expected}: is another process writing into it?"
                ),
            });
        }

        let mut serving = self.serving.clone();
        let script = redis::Script::new(SWITCH_SCRIPT);
        let mut call = script.prepare_invoke();
        call.key(keys::LOAD_LOCK)
            .arg(token)
            .arg(self.serving_db)
            .arg(self.staging_db);
        let switched: i64 = bounded(
            &self.url,
            "SWAPDB",
            self.timeouts.deadline(),
            call.invoke_async(&mut serving),
        )
        .await?;
        if switched != 1 {
            return Err(StoreError::Locked {
                url: self.url.clone(),
                key: keys::LOAD_LOCK,
                ttl_secs: self.lock_ttl.as_secs().max(1),
            });
        }
        tracing::info!(
            generation,
            "switched the serving database to the new generation"
        );
        Ok((generation, value_bytes, nonempty_buckets))
    }

    pub(crate) async fn refresh_lock(&self, token: &str) -> Result<(), StoreError> {
        let ttl = (self.lock_ttl.as_millis() as u64).to_string();
        if self.lock_call(token, &ttl).await? {
            Ok(())
        } else {
            Err(StoreError::Locked {
                url: self.url.clone(),
                key: keys::LOAD_LOCK,
                ttl_secs: self.lock_ttl.as_secs().max(1),
            })
        }
    }

    fn joined(
        &self,
        done: Result<Result<u64, StoreError>, tokio::task::JoinError>,
    ) -> Result<u64, StoreError> {
        done.map_err(|e| StoreError::Corrupt {
            key: format!("database {}", self.staging_db),
            reason: format!("a write task failed: {e}"),
        })?
    }
}

/// Record indices of `aliases` per bucket ([`keys::alias_bucket`]), each
/// bucket in input order.
fn group_by_bucket(aliases: &[(String, String)], buckets: u64) -> Vec<Vec<u32>> {
    let mut grouped: Vec<Vec<u32>> = (0..buckets)
        .map(|_| Vec::with_capacity(keys::ALIASES_PER_BUCKET as usize + 16))
        .collect();
    for (i, (record, _)) in aliases.iter().enumerate() {
        grouped[keys::alias_bucket(record, buckets) as usize].push(i as u32);
    }
    grouped
}

/// Groups write commands into pipelines of about [`ENTRIES_PER_PIPELINE`]
/// entries and keeps up to [`PIPELINES_IN_FLIGHT`] of them in flight on the
/// staging connection, refreshing the load lock as it goes.
struct PipelineWriter<'a, P: FnMut(u64)> {
    loader: &'a GenerationLoader,
    token: &'a str,
    progress: &'a mut P,
    in_flight: JoinSet<Result<u64, StoreError>>,
    pipe: redis::Pipeline,
    entries_in_pipe: usize,
    lock_refreshed: Instant,
}

impl<'a, P: FnMut(u64)> PipelineWriter<'a, P> {
    fn new(loader: &'a GenerationLoader, token: &'a str, progress: &'a mut P) -> Self {
        Self {
            loader,
            token,
            progress,
            in_flight: JoinSet::new(),
            pipe: redis::pipe(),
            entries_in_pipe: 0,
            lock_refreshed: Instant::now(),
        }
    }

    /// Adds one command that writes `entries` entries.
    async fn add(&mut self, cmd: redis::Cmd, entries: usize) -> Result<(), StoreError> {
        self.pipe.add_command(cmd).ignore();
        self.entries_in_pipe += entries;
        if self.entries_in_pipe >= ENTRIES_PER_PIPELINE {
            self.send().await?;
            if self.lock_refreshed.elapsed() >= self.loader.lock_ttl / 3 {
                self.loader.refresh_lock(self.token).await?;
                self.lock_refreshed = Instant::now();
            }
        }
        Ok(())
    }

    /// Sends the pipeline in the background, first waiting for a slot.
    async fn send(&mut self) -> Result<(), StoreError> {
        while self.in_flight.len() >= PIPELINES_IN_FLIGHT {
            if let Some(done) = self.in_flight.join_next().await {
                (self.progress)(self.loader.joined(done)?);
            }
        }
        let pipe = std::mem::replace(&mut self.pipe, redis::pipe());
        let entries = std::mem::take(&mut self.entries_in_pipe) as u64;
        let mut conn = self.loader.staging.clone();
        let url = self.loader.url.clone();
        self.in_flight.spawn(async move {
            bounded(
                &url,
                "write pipeline",
                WRITE_DEADLINE,
                pipe.query_async::<()>(&mut conn),
            )
            .await?;
            Ok(entries)
        });
        Ok(())
    }

    /// Sends what is left and waits for every pipeline.
    async fn finish(mut self) -> Result<(), StoreError> {
        if self.entries_in_pipe > 0 {
            self.send().await?;
        }
        while let Some(done) = self.in_flight.join_next().await {
            (self.progress)(self.loader.joined(done)?);
        }
        Ok(())
    }
}

/// `MSET` commands (with their key counts) for one chunk of customers, and
/// the bytes of their encoded values.
fn encode_chunk(
    ids: &[String],
    clusters: &[u32],
    features: &[f64],
    n: usize,
) -> (Vec<(redis::Cmd, usize)>, u64) {
    let mut commands = Vec::with_capacity(ids.len().div_ceil(KEYS_PER_MSET));
    let mut value = Vec::new();
    let mut key = String::new();
    let mut value_bytes = 0u64;
    for (start, chunk) in ids
        .chunks(KEYS_PER_MSET)
        .enumerate()
        .map(|(i, c)| (i * KEYS_PER_MSET, c))
    {
        let mut mset = redis::cmd("MSET");
        for (offset, id) in chunk.iter().enumerate() {
            let row = start + offset;
            encode_customer_into(&mut value, clusters[row], &features[row * n..(row + 1) * n]);
            value_bytes += value.len() as u64;
            key.clear();
            key.push_str(keys::CUSTOMER_PREFIX);
            key.push_str(id);
            mset.arg(key.as_bytes()).arg(value.as_slice());
        }
        commands.push((mset, chunk.len()));
    }
    (commands, value_bytes)
}
