//! Shared plumbing of the offer-recommendation pipeline.
//!
//! Everything two stages must agree on lives here: the table contract of
//! `docs/contract.md` as code ([`schema`]) with its data-quality rules
//! ([`quality`]), validated and atomic Parquet I/O ([`table_io`]), the command-line arguments every stage takes
//! ([`cli`]), dates ([`calendar`]) and logging, progress and the closing
//! summary line ([`telemetry`]).
//!
//! API boundary: this crate knows files and tables, never HTTP, Redis or
//! models.

pub mod artifacts;
pub mod calendar;
pub mod cli;
pub mod error;
pub mod quality;
pub mod ranker_input;
pub mod schema;
pub mod table_io;
pub mod telemetry;
pub mod vocabulary;

pub use error::{CoreError, Result};
