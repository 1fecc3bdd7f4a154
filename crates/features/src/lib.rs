//! The features stage: resolved customers -> `customer_features.parquet`.
//!
//! The computation ([`customer_features`]) is pure and point in time, so
//! that `train` builds its training snapshots with the very same function
//! that builds the serving table here. [`run`] is the edge: it reads the
//! tables, picks the cut-off and writes the result atomically.

pub mod customer_features;
pub mod error;

use chrono::NaiveDate;
use pipeline_core::schema::{
    CUSTOMER_FEATURES, CUSTOMERS_RAW, ENTITY_MAP, OFFER_INTERACTIONS, TRANSACTIONS,
};
use pipeline_core::table_io::{TableSink, read_table, scan_table, table_path};
use pipeline_core::telemetry::{StageSummary, StageTimer};
use polars::prelude::{IntoLazy, LazyFrame};

pub use customer_features::{
    compute_customer_features, customer_features_plan, default_cutoff, feature_names,
    identity_entity_map,
};
pub use error::{FeaturesError, Result};

/// What [`run`] needs, parsed and checked once.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: std::path::PathBuf,
    pub csv: bool,
    /// Events strictly before this date count; `None`: the day after the
    /// last event in the data.
    pub cutoff: Option<NaiveDate>,
    /// Treat every record as its own customer instead of reading
    /// `entity_map.parquet`.
    pub identity_map: bool,
}

/// The three input tables, scanned and schema-checked.
pub struct Inputs {
    pub transactions: LazyFrame,
    pub interactions: LazyFrame,
    pub entity_map: LazyFrame,
}

/// Scans the inputs of the features stage from `data_dir`, checking their
/// contract columns before any work.
pub fn scan_inputs(data_dir: &std::path::Path, identity_map: bool) -> Result<Inputs> {
    let transactions = scan_table(data_dir, &TRANSACTIONS)?;
    let interactions = scan_table(data_dir, &OFFER_INTERACTIONS)?;
    let entity_map = if identity_map {
        identity_entity_map(scan_table(data_dir, &CUSTOMERS_RAW)?)
    } else {
        let path = table_path(data_dir, &ENTITY_MAP);
        if !path.is_file() {
            return Err(FeaturesError::MissingEntityMap { path });
        }
        // Read whole (it is joined whole anyway) so that a null id is
        // reported against entity_map, not against the features written
        // from it.
        read_table(data_dir, &ENTITY_MAP)?.lazy()
    };
    Ok(Inputs {
        transactions,
        interactions,
        entity_map,
    })
}

/// Computes and writes `customer_features.parquet`.
pub fn run(config: &Config) -> anyhow::Result<StageSummary> {
    use anyhow::Context;
    let timer = StageTimer::start("features");
    let inputs = scan_inputs(&config.data_dir, config.identity_map)?;
    let cutoff = match config.cutoff {
        Some(c) => c,
        None => default_cutoff(inputs.transactions.clone(), inputs.interactions.clone())?,
    };
    let cutoff_text = cutoff.format("%Y-%m-%d").to_string();
    tracing::info!(cutoff = %cutoff_text, "computing customer features from events before the cut-off");
    let mut features = compute_customer_features(
        inputs.transactions,
        inputs.interactions,
        inputs.entity_map,
        cutoff,
    )?;
    let customers = features.height() as u64;
    let buyers = features
        .column("frequency")
        .ok()
        .and_then(|c| {
            c.f64()
                .ok()
                .map(|ca| ca.iter().filter(|v| v.is_some_and(|v| v > 0.0)).count())
        })
        .unwrap_or_default();
    let path = TableSink::new(&config.data_dir, config.csv)
        .write(&CUSTOMER_FEATURES, &mut features)
        .with_context(|| format!("writing {}", CUSTOMER_FEATURES.file))?;
    Ok(timer.finish(
        customers,
        customers,
        format!(
            "{} customers ({buyers} with purchases), {} features, cut-off {cutoff_text}, {}",
            customers,
            feature_names().len(),
            path.display()
        ),
    ))
}
