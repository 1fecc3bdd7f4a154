//! Errors of the ingest stage. A mapping error names the mapping file and
//! the key path (`tables.transactions.columns.amount`); a source error names
//! the source file and, for a missing column, the columns it has.

use std::path::PathBuf;

use pipeline_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: cannot read the mapping: {source}")]
    ReadMapping {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// TOML syntax, an unknown key or a value of the wrong kind; toml's
    /// message gives the line, the key and what was expected.
    #[error("{path}: {message}")]
    MappingSyntax { path: PathBuf, message: String },

    #[error("{path}: {at}: {message}")]
    Mapping {
        path: PathBuf,
        /// Where in the mapping, as a dotted key path.
        at: String,
        message: String,
    },

    #[error(
        "{path}: source `{name}` not found (a file or a folder of parts, relative to the source folder)"
    )]
    MissingSource { name: String, path: PathBuf },

    #[error("{path}: column `{column}` not found (needed by {at}); the columns are: {available}")]
    MissingColumn {
        path: PathBuf,
        column: String,
        at: String,
        available: String,
    },

    #[error("{path}: cannot read as {format}: {source}")]
    Unreadable {
        path: PathBuf,
        format: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("{path}: line {line}: {message}")]
    BadJsonLine {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{path}: {message}")]
    BadSource { path: PathBuf, message: String },

    #[error(
        "lookup source `{name}` ({path}) has {rows} rows for {key}; a lookup needs one row per key"
    )]
    LookupNotUnique {
        name: String,
        path: PathBuf,
        key: String,
        rows: u32,
    },

    #[error(
        "{table}: {share:.2}% of the rows were rejected, above --max-reject-share {max:.2}%; {breakdown}"
    )]
    TooManyRejects {
        table: String,
        share: f64,
        max: f64,
        /// The rejects by rule and column, largest first, with an example.
        breakdown: String,
    },

    #[error("invalid --max-reject-share {0}: expected a share from 0 to 1")]
    BadShare(f64),

    #[error("{table}: {source}")]
    Compute {
        table: String,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Table(#[from] CoreError),
}

impl IngestError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.into(),
            source,
        }
    }
}
