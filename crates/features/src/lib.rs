//! The features stage: resolved customers -> `customer_features.parquet`.
//!
//! The computation ([`customer_features`]) is pure and point in time, so
//! that `train` builds its training snapshots with the very same function
//! that builds the serving table here. [`run`] is the edge: it reads the
//! tables, puts them through the contract's data-quality screen
//! ([`pipeline_core::quality`]), builds the data's vocabulary, picks the
//! cut-off and writes `customer_features.parquet`, `vocabulary.json`, the
//! rejects files and `features_report.json` atomically.

pub mod customer_features;
pub mod error;

use chrono::NaiveDate;
use pipeline_core::quality::{self, Check, Rule, Screen, TableQuality, TableReport};
use pipeline_core::schema::TableSpec;
use pipeline_core::schema::{
    CUSTOMER_FEATURES, CUSTOMERS_RAW, ENTITY_MAP, OFFER_INTERACTIONS, OFFERS, TRANSACTIONS,
};
use pipeline_core::table_io::{TableSink, read_table, scan_table, table_path, write_json_atomic};
use pipeline_core::telemetry::{StageSummary, StageTimer};
use pipeline_core::vocabulary::{MEASURE_PREFIX, VOCABULARY_FILE, Vocabulary};
use polars::prelude::{DataType, IntoLazy, LazyFrame, Series, col};
use serde::Serialize;

/// The stage name in the rejects files' names.
pub const STAGE: &str = "features";
/// What the stage found in its inputs, beside its outputs.
pub const REPORT_FILE: &str = "features_report.json";

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
    /// The data-quality screen of the inputs (its key sets are filled in
    /// by [`scan_inputs`]).
    pub screen: Screen,
}

/// The input tables, scanned, schema-checked and screened.
pub struct Inputs {
    pub transactions: LazyFrame,
    /// With each offer's type from `offers` ([`with_offer_types`]).
    pub interactions: LazyFrame,
    pub offers: LazyFrame,
    pub entity_map: LazyFrame,
    /// What the screen found, per table in the order read: entity map,
    /// offers, transactions, offer interactions.
    pub reports: Vec<TableReport>,
}

impl Inputs {
    /// The screen's counts per table.
    pub fn quality(&self) -> Vec<TableQuality> {
        self.reports.iter().map(|r| r.quality.clone()).collect()
    }
}

/// Scans the inputs of the features stage from `data_dir`, checking their
/// contract columns before any work, and puts them through `screen`: the
/// entity map and the offers first, whose keys the events are then checked
/// against (an event of a record the entity map does not hold, or of an
/// unknown offer, is rejected).
pub fn scan_inputs(
    data_dir: &std::path::Path,
    identity_map: bool,
    screen: &Screen,
) -> Result<Inputs> {
    let mut screen = screen.clone();
    let mut reports = Vec::with_capacity(4);
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
    let entity_map = screened(
        data_dir,
        &ENTITY_MAP,
        entity_map,
        &[],
        &screen,
        &mut reports,
    )?;
    screen.records = Some(keys(&entity_map, "record_id", &ENTITY_MAP)?);
    let offers = screened(
        data_dir,
        &OFFERS,
        scan_table(data_dir, &OFFERS)?,
        &[],
        &screen,
        &mut reports,
    )?;
    screen.offers = Some(keys(&offers, "offer_id", &OFFERS)?);
    let mut transactions = scan_table(data_dir, &TRANSACTIONS)?;
    let measures = measure_checks(&mut transactions, data_dir)?;
    let transactions = screened(
        data_dir,
        &TRANSACTIONS,
        transactions,
        &measures,
        &screen,
        &mut reports,
    )?;
    let interactions = screened(
        data_dir,
        &OFFER_INTERACTIONS,
        scan_table(data_dir, &OFFER_INTERACTIONS)?,
        &[],
        &screen,
        &mut reports,
    )?;
    Ok(Inputs {
        transactions,
        interactions: with_offer_types(interactions, offers.clone()),
        offers,
        entity_map,
        reports,
    })
}

/// `lf` through the screen; its report is pushed onto `reports`.
fn screened(
    data_dir: &std::path::Path,
    spec: &TableSpec,
    lf: LazyFrame,
    extra: &[(String, Check)],
    screen: &Screen,
    reports: &mut Vec<TableReport>,
) -> Result<LazyFrame> {
    let path = table_path(data_dir, spec);
    let screened = quality::screen(&path, spec, lf, extra, screen)?;
    reports.push(screened.report);
    Ok(screened.table)
}

/// The values of the key `column` of a screened table.
fn keys(lf: &LazyFrame, column: &str, spec: &TableSpec) -> Result<Series> {
    let df = lf
        .clone()
        .select([col(column)])
        .collect()
        .map_err(|source| FeaturesError::Polars {
            what: format!("reading the `{column}` keys of {}", spec.name),
            source,
        })?;
    Ok(df
        .column(column)
        .map_err(|source| FeaturesError::Polars {
            what: format!("reading the `{column}` keys of {}", spec.name),
            source,
        })?
        .as_materialized_series()
        .clone())
}

/// A NaN or infinite value of a numeric `measure_*` column is cleared (the
/// measure is optional per row); the measure's name is checked later, with
/// the vocabulary.
fn measure_checks(
    transactions: &mut LazyFrame,
    data_dir: &std::path::Path,
) -> Result<Vec<(String, Check)>> {
    let schema = transactions
        .collect_schema()
        .map_err(|source| FeaturesError::Polars {
            what: format!(
                "reading the schema of {}",
                table_path(data_dir, &TRANSACTIONS).display()
            ),
            source,
        })?;
    Ok(schema
        .iter()
        .filter(|(name, dtype)| {
            name.starts_with(MEASURE_PREFIX) && dtype.is_float() && **dtype != DataType::Null
        })
        .map(|(name, _)| (name.to_string(), quality::clear(Rule::NotFinite)))
        .collect())
}

/// `features_report.json`: what the stage read and left out.
#[derive(Debug, Serialize)]
struct Report<'a> {
    cutoff: String,
    customers: u64,
    max_reject_share: f64,
    data_quality: Vec<TableQuality>,
    rejects_files: &'a [String],
}

/// Computes and writes `customer_features.parquet`.
pub fn run(config: &Config) -> anyhow::Result<StageSummary> {
    use anyhow::Context;
    let timer = StageTimer::start("features");
    let mut inputs = scan_inputs(&config.data_dir, config.identity_map, &config.screen)?;
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
        inputs.transactions.clone(),
        inputs.interactions.clone(),
        inputs.entity_map.clone(),
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
    let mut rejects_files = Vec::new();
    for report in &mut inputs.reports {
        if let Some(path) = quality::write_rejects(&config.data_dir, STAGE, report)? {
            tracing::info!(file = %path.display(), rows = report.quality.rejected, "rejected rows written");
            rejects_files.push(path.display().to_string());
        }
    }
    let data_quality = inputs.quality();
    write_json_atomic(
        config.data_dir.join(REPORT_FILE),
        &Report {
            cutoff: cutoff_text.clone(),
            customers,
            max_reject_share: config.screen.max_reject_share,
            data_quality: data_quality.clone(),
            rejects_files: &rejects_files,
        },
    )?;
    Ok(timer.finish(
        customers,
        customers,
        format!(
            "{} customers ({buyers} with purchases), {} features ({} categories, {} offer types, outcomes {}), cut-off {cutoff_text}, {}; inputs: {}",
            customers,
            vocabulary.customer_feature_names().len(),
            vocabulary.categories.len(),
            vocabulary.offer_types.len(),
            vocabulary.outcomes.join("/"),
            path.display(),
            quality::summary(&data_quality),
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
