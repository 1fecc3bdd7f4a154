//! `load-cache`: bulk-loads the customer features into Redis as a new
//! generation. All logic lives in the library; see `load_cache::run`.

use std::process::ExitCode;

use clap::Parser;
use load_cache::{Args, Config, run};
use pipeline_core::cli::exit_with;
use pipeline_core::telemetry::init_tracing;

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing(&args.common.log_level);
    exit_with(
        Config::try_from(args)
            .map_err(anyhow::Error::from)
            .and_then(|config| run(&config).map(|_| ())),
    )
}
