//! Errors of the shared plumbing. Every variant names the file and, where
//! there is one, the column and what was expected.

use std::path::PathBuf;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(
        "{path}: file not found (expected the `{table}` table; did the stage that writes it run?)"
    )]
    MissingFile { path: PathBuf, table: &'static str },

    #[error("{path}: cannot read as Parquet: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("{path}: column `{column}` is missing (expected {expected})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        expected: String,
    },

    #[error("{path}: column `{column}` has type {found}, expected {expected}")]
    WrongType {
        path: PathBuf,
        column: String,
        expected: String,
        found: String,
    },

    #[error("{path}: column `{column}` has {count} null values, expected none")]
    UnexpectedNulls {
        path: PathBuf,
        column: String,
        count: usize,
    },

    #[error("{path}: column `{column}` holds the value {value}, expected a 0/1 flag")]
    BadFlag {
        path: PathBuf,
        column: String,
        value: String,
    },

    #[error("{path}: the table is empty (expected at least one row)")]
    Empty { path: PathBuf },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("{path}: not the JSON this file must hold: {source}")]
    BadJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("{path}: not a usable vocabulary: {message}")]
    BadVocabulary { path: PathBuf, message: String },

    #[error("{path}: cannot encode JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "{path}: {share:.2}% of the `{table}` rows break the data-quality rules, above --max-reject-share {max:.2}%: {breakdown} (fix the data, or raise --max-reject-share)"
    )]
    TooManyRejects {
        path: PathBuf,
        table: &'static str,
        share: f64,
        max: f64,
        /// The counts by rule and column, largest first, with examples.
        breakdown: String,
    },

    #[error("invalid --max-reject-share {0}: expected a share from 0 to 1")]
    BadShare(f64),

    #[error("invalid date `{value}` for {field}: expected YYYY-MM-DD")]
    BadDate { field: String, value: String },
}

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            source,
        }
    }
}
