//! The features stage: resolved customers -> `customer_features.parquet`.
//!
//! The computation ([`customer_features`]) is pure and point in time, so
//! that `train` builds its training snapshots with the very same function
//! that builds the serving table here. [`run`] is the edge: it reads the
//! tables, builds the data's vocabulary, picks the cut-off and writes
//! `customer_features.parquet` and `vocabulary.json` atomically.

pub mod customer_features;
pub mod error;

use chrono::NaiveDate;
use pipeline_core::schema::{
    CUSTOMER_FEATURES, CUSTOMERS_RAW, ENTITY_MAP, OFFER_INTERACTIONS, OFFERS, TRANSACTIONS,
};
use pipeline_core::table_io::{TableSink, read_table, scan_table, table_path};
use pipeline_core::telemetry::{StageSummary, StageTimer};
use pipeline_core::vocabulary::{VOCABULARY_FILE, Vocabulary};
use polars::prelude::{IntoLazy, LazyFrame};

pub use customer_features::{
    VocabularyLimits, compute_customer_features, customer_features_plan, default_cutoff,
    identity_entity_map, transaction_columns, vocabulary_from_data, with_offer_types,
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
    pub limits: VocabularyLimits,
}

/// The input tables, scanned and schema-checked.
pub struct Inputs {
    pub transactions: LazyFrame,
    /// With each offer's type from `offers` ([`with_offer_types`]).
    pub interactions: LazyFrame,
    pub offers: LazyFrame,
    pub entity_map: LazyFrame,
}

/// Scans the inputs of the features stage from `data_dir`, checking their
/// contract columns before any work.
pub fn scan_inputs(data_dir: &std::path::Path, identity_map: bool) -> Result<Inputs> {
    let transactions = scan_table(data_dir, &TRANSACTIONS)?;
    let offers = scan_table(data_dir, &OFFERS)?;
    let interactions = with_offer_types(scan_table(data_dir, &OFFER_INTERACTIONS)?, offers.clone());
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
        offers,
        entity_map,
    })
}

/// Computes and writes `customer_features.parquet`.
pub fn run(config: &Config) -> anyhow::Result<StageSummary> {
    use anyhow::Context;
    let timer = StageTimer::start("features");
    let inputs = scan_inputs(&config.data_dir, config.identity_map)?;
    let vocabulary = vocabulary_from_data(
        inputs.transactions.clone(),
        inputs.interactions.clone(),
        inputs.offers.clone(),
        config.limits,
    )?;
    log_vocabulary(&vocabulary);
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
        &vocabulary,
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
    // Written after the table: a vocabulary on disk always describes the
    // features beside it (train checks the table's columns against it).
    let vocabulary_path = config.data_dir.join(VOCABULARY_FILE);
    vocabulary.write(&vocabulary_path)?;
    Ok(timer.finish(
        customers,
        customers,
        format!(
            "{} customers ({buyers} with purchases), {} features ({} categories, {} offer types, outcomes {}), cut-off {cutoff_text}, {}",
            customers,
            vocabulary.customer_feature_names().len(),
            vocabulary.categories.len(),
            vocabulary.offer_types.len(),
            vocabulary.outcomes.join("/"),
            path.display()
        ),
    ))
}

/// Says what the vocabulary kept and folded.
fn log_vocabulary(vocabulary: &Vocabulary) {
    let names = |terms: &pipeline_core::vocabulary::Terms| {
        terms
            .kept
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    tracing::info!(
        categories = %names(&vocabulary.categories),
        categories_other = vocabulary.categories.other,
        offer_types = %names(&vocabulary.offer_types),
        offer_types_other = vocabulary.offer_types.other,
        outcomes = %vocabulary.outcomes.join(", "),
        "vocabulary read from the data"
    );
}
