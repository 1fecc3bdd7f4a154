//! `entity-resolution`: resolves duplicate customer records into people.
//!
//! Without a subcommand: `customers_raw.parquet` of `--data-dir` into the
//! same folder. `--input FILE --settings FILE --output-dir DIR`: any other
//! table. `explain A B`: one pair's match weight, field by field.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pipeline_core::cli::{CommonArgs, QualityArgs, exit_with};

#[derive(Debug, Parser)]
#[command(version, about = "Probabilistic deduplication of customer records")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    quality: QualityArgs,

    /// Resolve this CSV or Parquet table instead of customers_raw.parquet.
    #[arg(long, global = true)]
    input: Option<PathBuf>,

    /// Settings file (TOML or JSON): fields, comparisons, blocking rules,
    /// threshold. Default: the built-in customer settings.
    #[arg(long, global = true)]
    settings: Option<PathBuf>,

    /// Where `--input` runs write (default: the input's folder).
    #[arg(long, global = true)]
    output_dir: Option<PathBuf>,

    /// Train a new model even when a saved one fits the settings.
    #[arg(long, global = true)]
    retrain: bool,

    /// Match probability at or above which a pair is linked (overrides the
    /// settings).
    #[arg(long, global = true)]
    threshold: Option<f64>,

    /// Compare nothing: every record is its own customer (as `resolve =
    /// false` in the settings). entity_map and an empty match_pairs are
    /// still written.
    #[arg(long, global = true)]
    no_entity_resolution: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the match weight of one pair of records, field by field.
    Explain { record_a: String, record_b: String },
}

// The report and the explanation are this binary's output on stdout.
fn main() -> ExitCode {
    let args = Args::parse();
    pipeline_core::telemetry::init_tracing(&args.common.log_level);
    exit_with(run(args))
}

#[allow(clippy::print_stdout)]
fn run(args: Args) -> anyhow::Result<()> {
    let config = entity_resolution::Config {
        data_dir: args.common.data_dir.clone(),
        model_dir: args.common.model_dir.clone(),
        input: args.input,
        settings: args.settings,
        output_dir: args.output_dir,
        csv: args.common.csv,
        seed: args.common.seed,
        retrain: args.retrain,
        threshold: args.threshold,
        no_entity_resolution: args.no_entity_resolution,
        screen: args.quality.screen()?,
    };
    match args.command {
        None => entity_resolution::run(&config).map(|report| print!("{report}")),
        Some(Command::Explain { record_a, record_b }) => {
            entity_resolution::explain(&config, &record_a, &record_b).map(|e| print!("{e}"))
        }
    }
}
