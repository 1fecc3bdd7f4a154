//! Errors of entity resolution. Every variant names the file, column or
//! setting at fault and what was expected.

use std::path::PathBuf;

pub type Result<T, E = ErError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ErError {
    #[error(transparent)]
    Core(#[from] pipeline_core::CoreError),

    #[error("{path}: cannot read settings: {source}")]
    SettingsIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: invalid settings: {message}")]
    SettingsParse { path: PathBuf, message: String },

    #[error("settings {origin}: {message}")]
    InvalidSettings { origin: String, message: String },

    #[error("{path}: column `{column}` (field `{field}`) is missing; columns present: {present}")]
    MissingColumn {
        path: PathBuf,
        column: String,
        field: String,
        present: String,
    },

    #[error("{path}: column `{column}` (field `{field}`) has type {found}, expected {expected}")]
    WrongType {
        path: PathBuf,
        column: String,
        field: String,
        found: String,
        expected: String,
    },

    #[error("{path}: the table is empty (expected at least one record)")]
    Empty { path: PathBuf },

    #[error("{path}: id column `{column}` has {count} null values, expected none")]
    NullIds {
        path: PathBuf,
        column: String,
        count: usize,
    },

    #[error("{path}: id column `{column}` is not unique: `{id}` appears more than once")]
    DuplicateId {
        path: PathBuf,
        column: String,
        id: String,
    },

    #[error("{path}: cannot read {what}: {source}")]
    Read {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("{path}: unsupported input format (expected a .csv or .parquet file)")]
    UnsupportedFormat { path: PathBuf },

    #[error("{path}: cannot read the saved model: {message}")]
    BadModel { path: PathBuf, message: String },

    #[error("record `{id}` is not in the input table {path}")]
    UnknownRecord { path: PathBuf, id: String },

    #[error("no match model exists: {why}")]
    NoModel { why: String },

    #[error(
        "{path}: records `{record_a}` and `{record_b}` would both become customer `{customer_id}` \
         (customer_id.digits_only keeps only the digits of a record id; set it to false)"
    )]
    CustomerIdCollision {
        path: PathBuf,
        record_a: String,
        record_b: String,
        customer_id: String,
    },

    #[error("building the {table} table: {source}")]
    Build {
        table: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
}
