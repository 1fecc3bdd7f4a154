//! `features`: computes `customer_features.parquet` from the resolved
//! customers and their events before a cut-off date.

use std::process::ExitCode;

use clap::Parser;
use pipeline_core::cli::{CommonArgs, QualityArgs, exit_with};

/// mimalloc returns what polars frees between steps; glibc's allocator
/// kept it (see the train binary).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "Point-in-time customer features for the offer ranker")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    quality: QualityArgs,

    /// Only events strictly before this date (YYYY-MM-DD) count. Default:
    /// the day after the last event in the data, i.e. everything known.
    #[arg(long)]
    cutoff: Option<String>,

    /// Every record is its own customer (no entity_map.parquet needed).
    #[arg(long)]
    identity_map: bool,

    /// Service categories kept by spend; the rest are folded into `other`.
    #[arg(long, default_value_t = pipeline_core::vocabulary::DEFAULT_MAX_TERMS as u16, value_parser = clap::value_parser!(u16).range(1..=256))]
    max_categories: u16,

    /// Offer types kept by number of offers; the rest are folded into `other`.
    #[arg(long, default_value_t = pipeline_core::vocabulary::DEFAULT_MAX_TERMS as u16, value_parser = clap::value_parser!(u16).range(1..=256))]
    max_offer_types: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    pipeline_core::telemetry::init_tracing(&args.common.log_level);
    exit_with(run(args))
}

fn run(args: Args) -> anyhow::Result<()> {
    let cutoff = args
        .cutoff
        .as_deref()
        .map(|c| pipeline_core::calendar::parse_date("--cutoff", c))
        .transpose()?;
    let config = features::Config {
        data_dir: args.common.data_dir,
        csv: args.common.csv,
        cutoff,
        identity_map: args.identity_map,
        limits: features::VocabularyLimits {
            max_categories: usize::from(args.max_categories),
            max_offer_types: usize::from(args.max_offer_types),
        },
        screen: args.quality.screen()?,
    };
    features::run(&config)?;
    Ok(())
}
