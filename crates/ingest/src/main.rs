//! `ingest`: turns a business's own files into the pipeline's input tables
//! by a TOML mapping.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use ingest::IngestConfig;
use pipeline_core::cli::{CommonArgs, exit_with};

/// Read source files (CSV, Parquet, JSON lines) and write the contract's
/// input tables (customers_raw, offers, transactions, offer_interactions)
/// as a TOML mapping says (see crates/ingest/README.md).
#[derive(Debug, Parser)]
#[command(name = "ingest", version)]
struct Args {
    /// The mapping file.
    #[arg(long, env = "OFFERS_INGEST_MAPPING")]
    mapping: PathBuf,

    /// Folder the mapping's source paths are relative to [default: the
    /// mapping's folder].
    #[arg(long)]
    source_dir: Option<PathBuf>,

    /// Fail, writing nothing, when a table rejects more than this share of
    /// its rows (0 to 1).
    #[arg(long, default_value_t = ingest::DEFAULT_MAX_REJECT_SHARE)]
    max_reject_share: f64,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    pipeline_core::telemetry::init_tracing(&args.common.log_level);
    exit_with(run(args))
}

fn run(args: Args) -> anyhow::Result<()> {
    let config = IngestConfig {
        source_dir: args.source_dir,
        csv: args.common.csv,
        max_reject_share: args.max_reject_share,
        ..IngestConfig::new(&args.mapping, &args.common.data_dir)
    };
    ingest::run(&config).with_context(|| {
        format!(
            "ingesting {} into {}",
            config.mapping.display(),
            config.data_dir.display()
        )
    })?;
    Ok(())
}
