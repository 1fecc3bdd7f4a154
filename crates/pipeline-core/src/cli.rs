//! Arguments every stage takes, and the glue that turns a stage's result
//! into an exit code.

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags shared by every stage binary; flatten into a stage's own `Args`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Folder of the Parquet tables the stages exchange.
    #[arg(long, env = "OFFERS_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Folder of the trained artifacts.
    #[arg(
        long,
        env = "OFFERS_MODEL_DIR",
        default_value = "models",
        global = true
    )]
    pub model_dir: PathBuf,

    /// Seed of every random choice the stage makes.
    #[arg(long, env = "OFFERS_SEED", default_value_t = 42, global = true)]
    pub seed: u64,

    /// Also write each output table as CSV beside its Parquet file.
    #[arg(long, global = true)]
    pub csv: bool,

    /// Log filter: a level (`info`, `debug`) or a tracing directive list.
    /// `RUST_LOG` takes precedence when set.
    #[arg(long, env = "OFFERS_LOG", default_value = "info", global = true)]
    pub log_level: String,
}

impl CommonArgs {
    /// The sink for this stage's output tables.
    pub fn sink(&self) -> crate::table_io::TableSink {
        crate::table_io::TableSink::new(&self.data_dir, self.csv)
    }
}

/// The data-quality flag of the stages that screen their input tables
/// (`pipeline_core::quality`); flatten into the stage's `Args`.
#[derive(Debug, Clone, clap::Args)]
pub struct QualityArgs {
    /// Fail, writing nothing, when more than this share (0 to 1) of an
    /// input table's rows break its data-quality rules; below it, those
    /// rows are left out and written to `{table}.{stage}.rejects.parquet`.
    #[arg(long, env = "OFFERS_MAX_REJECT_SHARE", default_value_t = crate::quality::DEFAULT_MAX_REJECT_SHARE)]
    pub max_reject_share: f64,
}

impl QualityArgs {
    /// The screen of a run today, the share checked.
    pub fn screen(&self) -> crate::Result<crate::quality::Screen> {
        if !(0.0..=1.0).contains(&self.max_reject_share) {
            return Err(crate::CoreError::BadShare(self.max_reject_share));
        }
        Ok(crate::quality::Screen::new(
            crate::calendar::today(),
            self.max_reject_share,
        ))
    }
}

/// Ends a stage binary: logs the error chain on failure and maps it to a
/// non-zero exit code.
pub fn exit_with(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole context chain on one line:
            // "reading data/x.parquet: column `y` is missing ...".
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
