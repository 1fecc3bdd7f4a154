//! Errors of the data generator.

use pipeline_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum DatagenError {
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },

    #[error(transparent)]
    Table(#[from] CoreError),

    #[error("starting the thread that writes {table}: {source}")]
    Thread {
        table: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("building the {table} table: {source}")]
    Build {
        table: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
}
