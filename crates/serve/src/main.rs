use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = serve::Args::parse();
    serve::telemetry::init(&args.common.log_level);
    let result = serve::Settings::from_args(args)
        .and_then(|settings| actix_web::rt::System::new().block_on(serve::run(settings)));
    pipeline_core::cli::exit_with(result)
}
