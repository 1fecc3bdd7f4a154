//! `ingest`: a business's own files into the pipeline's input tables, the
//! real-data counterpart of datagen.
//!
//! A TOML mapping ([`mapping`], documented in `crates/ingest/README.md`)
//! names the source files (CSV, Parquet or JSON lines; a file or a folder of
//! parts) and says how each contract table (`customers_raw`, `offers`,
//! `transactions`, `offer_interactions`) is made from them: renames,
//! constants, type parsing, templates, row numbers, lookups, `exists_in`
//! flags, filters. [`run`] goes in three steps:
//!
//! 1. [`source`] and [`plan`] check the whole mapping against the sources'
//!    schemas and the contract before any table is built;
//! 2. [`table`] builds each table; a row that breaks a rule is rejected,
//!    counted by rule and column, and kept for its rejects file;
//! 3. when no table rejects more than `max_reject_share` of its rows,
//!    [`output`] writes every table (validated against its contract spec),
//!    the rejects and `ingest_report.json`, all or nothing.

pub mod contract;
pub mod convert;
mod error;
mod jsonl;
pub mod mapping;
pub mod output;
pub mod plan;
pub mod report;
pub mod source;
pub mod table;

use std::path::{Path, PathBuf};

use pipeline_core::telemetry::StageTimer;

pub use contract::{Contract, InputTable};
pub use error::IngestError;
pub use report::{IngestReport, RejectCount, TableReport};

pub const DEFAULT_MAX_REJECT_SHARE: f64 = 0.01;

/// A checked ingest request.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub mapping: PathBuf,
    /// The folder the mapping's source paths are relative to; default: the
    /// mapping's own folder.
    pub source_dir: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Also write each table as CSV.
    pub csv: bool,
    /// Fail when a table rejects more than this share of its rows.
    pub max_reject_share: f64,
    /// The specs the tables are written to.
    pub contract: Contract,
}

impl IngestConfig {
    pub fn new(mapping: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        IngestConfig {
            mapping: mapping.into(),
            source_dir: None,
            data_dir: data_dir.into(),
            csv: false,
            max_reject_share: DEFAULT_MAX_REJECT_SHARE,
            contract: Contract::default(),
        }
    }

    pub fn validate(&self) -> Result<(), IngestError> {
        if !(0.0..=1.0).contains(&self.max_reject_share) {
            return Err(IngestError::BadShare(self.max_reject_share));
        }
        Ok(())
    }

    fn source_dir(&self) -> PathBuf {
        self.source_dir.clone().unwrap_or_else(|| {
            self.mapping
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| Path::new("."))
                .to_path_buf()
        })
    }
}

/// Checks the mapping, builds every table and writes them all, or nothing.
pub fn run(config: &IngestConfig) -> Result<IngestReport, IngestError> {
    config.validate()?;
    let timer = StageTimer::start("ingest");
    let mapping_file = mapping::Mapping::load(&config.mapping)?;
    let source_dir = config.source_dir();
    let sources = source::Sources::open(&mapping_file.sources, &source_dir)?;
    let plans = plan::plan(&mapping_file, &config.mapping, &sources, &config.contract)?;
    tracing::info!(
        tables = plans.len(),
        source_dir = %source_dir.display(),
        "mapping checked"
    );

    let mut outcomes = Vec::with_capacity(plans.len());
    for p in &plans {
        let outcome = table::build(p, &sources)?;
        let r = &outcome.report;
        tracing::info!("{}", r.summary());
        if r.rejected > 0 {
            tracing::warn!(table = %r.table, "rejected rows: {}", r.breakdown());
        }
        outcomes.push(outcome);
    }
    for o in &outcomes {
        let r = &o.report;
        if r.reject_share() > config.max_reject_share {
            return Err(IngestError::TooManyRejects {
                table: r.table.clone(),
                share: 100.0 * r.reject_share(),
                max: 100.0 * config.max_reject_share,
                breakdown: r.breakdown(),
            });
        }
    }

    let report = IngestReport {
        mapping: config.mapping.display().to_string(),
        source_dir: source_dir.display().to_string(),
        max_reject_share: config.max_reject_share,
        tables: outcomes.iter().map(|o| o.report.clone()).collect(),
    };
    output::write_all(&config.data_dir, config.csv, &mut outcomes, &report)?;
    let rows_in = report.tables.iter().map(|t| t.rows_in).sum();
    let rows_out = report.tables.iter().map(|t| t.rows_out).sum();
    let what = report
        .tables
        .iter()
        .map(TableReport::summary)
        .collect::<Vec<_>>()
        .join("; ");
    timer.finish(rows_in, rows_out, what);
    Ok(report)
}
