//! `datagen`: writes the synthetic customer, transaction and offer tables.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use datagen::{DatagenConfig, MAX_CUSTOMERS, MAX_OFFERS};
use pipeline_core::cli::{CommonArgs, exit_with};

/// Generate synthetic customers (with duplicate records), transactions,
/// offers and offer interactions, deterministic by seed.
#[derive(Debug, Parser)]
#[command(name = "datagen", version)]
struct Args {
    /// Number of base people (look-alikes and duplicate records come on top).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=MAX_CUSTOMERS))]
    customers: u64,

    /// Number of offers in the catalogue.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=MAX_OFFERS as i64))]
    offers: u16,

    /// Last day of history (YYYY-MM-DD): transactions cover the two years
    /// before it, offers the last year.
    #[arg(long, default_value = "2026-06-30")]
    end_date: String,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    pipeline_core::telemetry::init_tracing(&args.common.log_level);
    exit_with(run(args))
}

fn run(args: Args) -> anyhow::Result<()> {
    let end_date = pipeline_core::calendar::parse_date("--end-date", &args.end_date)?;
    let config = DatagenConfig {
        customers: args.customers,
        offers: usize::from(args.offers),
        seed: args.common.seed,
        end_date,
        sink: args.common.sink(),
    };
    datagen::run(&config)
        .with_context(|| format!("generating data into {}", config.sink.dir.display()))?;
    Ok(())
}
