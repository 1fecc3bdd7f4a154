//! The `load-cache` stage: reads `customer_features.parquet`,
//! `customer_segments.parquet` and `entity_map.parquet`, and writes them
//! into Redis as a new generation through [`feature_store::GenerationLoader`]
//! (pipelined, switched atomically with `SWAPDB`, previous generation
//! dropped). The key layout and value encoding belong to `feature-store`,
//! which `serve` reads through.

pub mod error;
pub mod synthetic;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use feature_store::{CustomerTables, GenerationLoader, LoadReport, RedisTimeouts};
use pipeline_core::artifacts::{MANIFEST_FILE, Manifest, artifact_path, read_json};
use pipeline_core::cli::CommonArgs;
use pipeline_core::telemetry::{StageTimer, progress_bar};

pub use error::LoadCacheError;

/// Command line of `load-cache`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "load-cache",
    about = "Load customer features into Redis as a new generation"
)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Redis URL: redis://[user:password@]host[:port][/db], or rediss://
    /// for TLS. The database in the URL is the one `serve` reads.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Database the new generation is written into before the switch. It
    /// is emptied by every load: reserve it for load-cache.
    #[arg(long, env = "OFFERS_REDIS_STAGING_DB", default_value_t = 1)]
    pub staging_db: i64,

    /// Bound on connecting to Redis, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub connect_timeout_ms: u64,

    /// How long the load lock outlives a killed load, in seconds.
    #[arg(long, default_value_t = 30)]
    pub lock_ttl_secs: u64,

    /// Benchmarks only: load N generated customers instead of the files.
    #[arg(long, hide = true)]
    pub synthetic: Option<usize>,
}

/// Where the customers come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The three tables of the data directory.
    Files(PathBuf),
    /// `n` generated customers (benchmarks).
    Synthetic { customers: usize, seed: u64 },
}

/// A checked configuration of the stage.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub model_dir: PathBuf,
    pub redis_url: String,
    pub staging_db: i64,
    pub timeouts: RedisTimeouts,
    pub lock_ttl: Duration,
}

impl TryFrom<Args> for Config {
    type Error = LoadCacheError;

    fn try_from(args: Args) -> Result<Self, Self::Error> {
        let redis_url = args
            .redis_url
            .filter(|u| !u.trim().is_empty())
            .ok_or(LoadCacheError::NoRedisUrl)?;
        let source = match args.synthetic {
            Some(customers) => Source::Synthetic {
                customers,
                seed: args.common.seed,
            },
            None => Source::Files(args.common.data_dir.clone()),
        };
        Ok(Self {
            source,
            model_dir: args.common.model_dir,
            redis_url,
            staging_db: args.staging_db,
            timeouts: RedisTimeouts {
                connect: Duration::from_millis(args.connect_timeout_ms),
                response: Duration::from_secs(5),
            },
            lock_ttl: Duration::from_secs(args.lock_ttl_secs),
        })
    }
}

/// The model version of `models/manifest.json`, when there is one.
fn model_version(model_dir: &std::path::Path) -> anyhow::Result<Option<String>> {
    let path = artifact_path(model_dir, MANIFEST_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let manifest: Manifest = read_json(&path)?;
    Ok(Some(manifest.model_version))
}

/// Runs the stage: reads (or generates) the tables, loads them, logs the
/// summary line with keys per second.
pub fn run(config: &Config) -> anyhow::Result<LoadReport> {
    let timer = StageTimer::start("load-cache");
    let tables = match &config.source {
        Source::Files(dir) => CustomerTables::read(dir)
            .with_context(|| format!("reading the customer tables of {}", dir.display()))?,
        Source::Synthetic { customers, seed } => synthetic::tables(*customers, *seed),
    };
    if tables.customers_without_cluster > 0 {
        tracing::warn!(
            customers = tables.customers_without_cluster,
            "customers of customer_features.parquet have no cluster in customer_segments.parquet and are left out"
        );
    }
    if tables.records_without_customer > 0 {
        tracing::warn!(
            records = tables.records_without_customer,
            "records of entity_map.parquet name a customer without features; no alias written for them"
        );
    }
    let model_version = model_version(&config.model_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(load(config, &tables, model_version))?;
    let keys = report.customers + report.aliases;
    let keys_per_second = keys as f64 / report.seconds.max(1e-9);
    timer.finish(
        tables.len() as u64,
        keys,
        format!(
            "generation {} on {}: {} customers + {} aliases, {:.0} keys/s, {:.0} customers/s, {:.1} value bytes/customer",
            report.generation,
            feature_store_url(&config.redis_url),
            report.customers,
            report.aliases,
            keys_per_second,
            report.customers as f64 / report.seconds.max(1e-9),
            report.value_bytes as f64 / report.customers.max(1) as f64,
        ),
    );
    Ok(report)
}

fn feature_store_url(url: &str) -> String {
    feature_store::mask_password(url)
}

async fn load(
    config: &Config,
    tables: &CustomerTables,
    model_version: Option<String>,
) -> anyhow::Result<LoadReport> {
    let loader = GenerationLoader::connect(&config.redis_url, config.staging_db, config.timeouts)
        .await?
        .with_lock_ttl(config.lock_ttl);
    let keys = tables.len() as u64 + tables.aliases.len() as u64;
    let bar = progress_bar(keys, "keys written");
    let report = loader.load(tables, model_version, |n| bar.inc(n)).await;
    bar.finish_and_clear();
    Ok(report?)
}
