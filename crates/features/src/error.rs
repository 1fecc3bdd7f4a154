//! Errors of the features stage.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    #[error(transparent)]
    Core(#[from] pipeline_core::CoreError),

    #[error(
        "{path}: file not found (expected the `entity_map` table written by entity-resolution; \
         run entity-resolution first, or pass --identity-map to treat every record as its own customer)"
    )]
    MissingEntityMap { path: PathBuf },

    #[error("computing customer features at cut-off {cutoff}: {source}")]
    Compute {
        cutoff: String,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("{what}: {source}")]
    Polars {
        what: String,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error(
        "transactions: column `{column}` ({found}) is not a measure: every `measure_` column must be numeric, named `measure_` and a lower-case [a-z0-9_] word"
    )]
    BadMeasure { column: String, found: String },

    #[error(
        "no event dates in {table}: cannot derive the default cut-off (pass --cutoff YYYY-MM-DD)"
    )]
    NoEvents { table: &'static str },
}

pub type Result<T, E = FeaturesError> = std::result::Result<T, E>;
