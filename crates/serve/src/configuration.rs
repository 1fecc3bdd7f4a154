//! The service's configuration: flags and environment, parsed once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pipeline_core::cli::CommonArgs;

/// `serve` command line.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "serve", about = "Offer recommendations over HTTP")]
pub struct Args {
    /// Address to listen on (`host:port`; port 0 picks a free one).
    #[arg(long, env = "OFFERS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Redis holding the customer features (`redis://host:port/db`).
    /// Without it the service reads the feature files of --data-dir into
    /// memory.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Bearer token that `POST /admin/reload` requires. Without it the
    /// endpoint refuses every request.
    #[arg(long, env = "OFFERS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Longest wait for one store round trip before answering 503.
    #[arg(long, env = "OFFERS_STORE_TIMEOUT_MS", default_value_t = 250)]
    pub store_timeout_ms: u64,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "OFFERS_WORKERS")]
    pub workers: Option<usize>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Where customers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    Redis {
        url: String,
    },
    /// The feature files of this data directory, held in memory.
    Embedded {
        data_dir: PathBuf,
    },
}

/// The typed configuration `Application::build` takes.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub store: StoreSettings,
    pub data_dir: PathBuf,
    pub model_dir: PathBuf,
    pub admin_token: Option<String>,
    pub store_timeout: Duration,
    pub workers: usize,
    /// Largest accepted JSON body.
    pub json_limit_bytes: usize,
    /// Most ids in one `POST /recommend`.
    pub max_batch: usize,
}

impl Settings {
    /// Checks the arguments into settings.
    pub fn from_args(args: Args) -> anyhow::Result<Self> {
        use anyhow::Context;
        let bind: SocketAddr = args.bind.parse().with_context(|| {
            format!(
                "--bind `{}`: expected host:port such as 127.0.0.1:8080",
                args.bind
            )
        })?;
        let store = match args.redis_url.filter(|u| !u.is_empty()) {
            Some(url) => StoreSettings::Redis { url },
            None => StoreSettings::Embedded {
                data_dir: args.common.data_dir.clone(),
            },
        };
        if args.store_timeout_ms == 0 {
            anyhow::bail!("--store-timeout-ms must be at least 1");
        }
        Ok(Self {
            bind,
            store,
            data_dir: args.common.data_dir,
            model_dir: args.common.model_dir,
            admin_token: args.admin_token.filter(|t| !t.is_empty()),
            store_timeout: Duration::from_millis(args.store_timeout_ms),
            workers: args
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
                .max(1),
            json_limit_bytes: 64 * 1024,
            max_batch: 100,
        })
    }

    /// Settings for a local test: port 0 on loopback.
    pub fn local(data_dir: PathBuf, model_dir: PathBuf, store: StoreSettings) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            store,
            data_dir,
            model_dir,
            admin_token: None,
            store_timeout: Duration::from_millis(250),
            workers: 2,
            json_limit_bytes: 64 * 1024,
            max_batch: 100,
        }
    }
}
