//! The training stage: point-in-time snapshots -> stage 1 segments and
//! candidates (KMeans) -> stage 2 ranker (LightGBM) -> honest evaluation ->
//! the model directory's artifacts.
//!
//! The flow of [`run`]:
//! 1. read and check every input before any work, and refuse a test window
//!    too small to measure ([`evaluation::check_test_window`]);
//! 2. cut the offer year into windows ([`examples::schedule`]); the
//!    examples of a window are its sends, with customer features computed
//!    by the `features` crate from the events before the window;
//! 3. train the ranker on the earlier windows, stop early on the
//!    second-to-last, evaluate on the last;
//! 4. fit the segments on the features at the test cut-off, order each
//!    segment's offers by smoothed redemption rate before that cut-off;
//!    measure the model and three baselines on the test window from the
//!    redemptions alone ([`evaluation`]), and retrieval and ranking against
//!    the true propensities when the truth tables are there;
//! 5. report what a random split with the old system's leaky features
//!    would have claimed;
//! 6. write the artifacts atomically, the manifest last.
//!
//! API boundary: the truth tables are read only by [`truth`] and used only
//! in evaluation figures.

pub mod charts;
pub mod error;
pub mod evaluation;
pub mod events;
pub mod examples;
pub mod metrics;
pub mod mlflow_model;
pub mod ranker;
pub mod segments;
pub mod shrinkage;
pub mod truth;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use pipeline_core::artifacts::{
    CLUSTER_CANDIDATES_FILE, ClusterCandidates, FEATURE_COLS_FILE, MANIFEST_FILE, METRICS_FILE,
    Manifest, RANKER_FILE, SEGMENTS_FILE, Segments, sha256_file,
};
use pipeline_core::calendar::format_epoch_days;
use pipeline_core::ranker_input::{RankerLayout, offer_feature_names};
use pipeline_core::schema::{
    CUSTOMER_FEATURES, CUSTOMER_SEGMENTS, CUSTOMERS_TRUTH, TRUTH_PROPENSITY,
};
use pipeline_core::table_io::{
    TableSink, check_rows, scan_table, table_path, write_bytes_atomic, write_json_atomic,
};
use pipeline_core::telemetry::{StageSummary, StageTimer};
use pipeline_core::vocabulary::{VOCABULARY_FILE, Vocabulary};
use polars::prelude::*;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use serde_json::{Value, json};

pub use error::{Result, TrainError};
use events::KeyedEvents;
use examples::{Catalogue, ExampleSet, FeatureTable, Sends, Snapshot, build_examples, concat};
use ranker::{Matrix, Ranker, RankerParams};
use segments::SegmentParams;
use truth::Truth;

/// What [`run`] needs, parsed and checked once.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub model_dir: PathBuf,
    pub csv: bool,
    pub seed: u64,
    /// Treat every record as its own customer (no entity_map.parquet).
    pub identity_map: bool,
    /// Length of each snapshot's label window.
    pub window_days: u32,
    pub clusters: usize,
    /// Candidate offers kept per segment.
    pub candidates: usize,
    /// Pseudo-count `m` of the smoothed segment redemption rate; `None`
    /// estimates it from the sends (empirical Bayes).
    pub smoothing: Option<f64>,
    /// KMeans is fitted on a seeded sample of at most this many customers.
    pub kmeans_sample: usize,
    /// Customers whose whole-catalogue ranking is scored against the truth.
    pub eval_customers: usize,
    /// The cut-offs `k` of precision@k, hit@k and recall@k on the test
    /// window ([`evaluation::DEFAULT_KS`] by default).
    pub eval_ks: Vec<usize>,
    /// Rows of each random-split comparison (a seeded sample).
    pub random_split_rows: usize,
    /// The ranker is fitted on a seeded sample of at most this many
    /// training rows (0: all). LightGBM's time grows with the rows; at 1M
    /// people the training snapshots hold 3.4M.
    pub max_train_rows: usize,
    /// After early stopping has chosen the number of trees, fit again on
    /// the training and validation rows with that many trees when the
    /// training rows are at most this many (0: never; see
    /// [`refit_with_validation`]).
    pub refit_max_rows: usize,
    pub ranker: RankerParams,
    /// Experiment name of the tracked run (MLflow, or the local record
    /// under the model directory when `MLFLOW_TRACKING_URI` is unset).
    pub experiment: String,
    /// MLflow tracking server (`MLFLOW_TRACKING_URI`); `None` or empty:
    /// the run is recorded locally under the model directory.
    pub tracking_uri: Option<String>,
    /// The data-quality screen of the input tables (the features stage's
    /// rules; train writes no rejects files, it counts them in
    /// `metrics.json`).
    pub screen: pipeline_core::quality::Screen,
}

/// The run's parameters, logged as its first artifact.
pub const TRAIN_PARAMS_FILE: &str = "train_params.json";

/// The registered model name of the ranker.
pub const REGISTERED_MODEL: &str = "offers-ranker";

impl Config {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(TrainError::Config(m.to_owned()));
        if self.window_days == 0 {
            return bad("--window-days must be at least 1");
        }
        if self.clusters < 1 {
            return bad("--clusters must be at least 1");
        }
        if self.candidates < 1 {
            return bad("--candidates must be at least 1");
        }
        if self.eval_ks.is_empty() || self.eval_ks.contains(&0) {
            return bad("--eval-k must list cut-offs of at least 1, such as 1,3,5");
        }
        if self.smoothing.is_some_and(|m| m.is_nan() || m < 0.0) {
            return bad("--smoothing must be >= 0");
        }
        self.ranker.validate()
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct TrainOutcome {
    pub summary: StageSummary,
    /// The content of `metrics.json`.
    pub metrics: Value,
    pub model_version: String,
}

fn seeded_sample(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let mut idx: Vec<usize> = (0..n).collect();
    let k = k.min(n);
    for i in 0..k {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

/// Rounds a figure to 6 decimals. A rounded figure has a short decimal
/// form, so `metrics.json` reads back as exactly the figures computed (a
/// full 17-digit float may come back one ulp off).
fn round(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1e6).round() / 1e6
    } else {
        v
    }
}

/// Rounds every non-integer number of `value` with [`round`], so that the
/// whole of `metrics.json`, calibration tables included, reads back
/// exactly; rounding is idempotent, figures rounded already stay as they
/// are.
fn round_figures(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(rounded) = n.as_f64().map(round).and_then(serde_json::Number::from_f64) {
                *n = rounded;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_figures),
        Value::Object(map) => map.values_mut().for_each(round_figures),
        _ => {}
    }
}

/// Inputs read and checked before any training work.
struct Inputs {
    events: KeyedEvents,
    entity_map: DataFrame,
    sends: Sends,
    catalogue: Catalogue,
    /// The serving customers (`customer_features.parquet`), stage-1 columns only.
    serving: FeatureTable,
    truth: Option<Truth>,
    last_event_day: i32,
}

/// The serving customers' stage-1 features from `customer_features.parquet`.
/// Only those columns are read (10 of 72: 2.7 GB less at 5M people), but
/// the file must hold every feature of this version, checked on its schema.
fn read_serving_segment_features(
    config: &Config,
    names: &[String],
    vocabulary: &Vocabulary,
) -> anyhow::Result<FeatureTable> {
    let path = table_path(&config.data_dir, &CUSTOMER_FEATURES);
    let mut scan = scan_table(&config.data_dir, &CUSTOMER_FEATURES)
        .context("reading the serving features (run the `features` stage first)")?;
    let schema = scan.collect_schema().map_err(error::polars_err(
        "reading the schema of customer_features.parquet",
    ))?;
    if let Some(name) = names.iter().find(|n| schema.get(n.as_str()).is_none()) {
        anyhow::bail!(
            "{}: column `{name}` is missing (expected the features of {VOCABULARY_FILE} beside it; rerun the `features` stage)",
            path.display()
        );
    }
    // A feature of another type (a `recency_days` of strings) would be
    // cast to null or to a number nobody wrote: refused, named.
    if let Some((name, dtype)) = names.iter().find_map(|n| {
        let dtype = schema.get(n.as_str())?;
        (!(dtype.is_primitive_numeric() || dtype.is_bool())).then_some((n, dtype))
    }) {
        anyhow::bail!(
            "{}: column `{name}` is {dtype}; expected a number (rerun the `features` stage)",
            path.display()
        );
    }
    let seg_names: Vec<String> = segments::segment_features(vocabulary)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let columns: Vec<Expr> = std::iter::once("customer_id")
        .chain(seg_names.iter().map(String::as_str))
        .map(col)
        .collect();
    let df = scan
        .select(columns)
        .collect()
        .map_err(error::polars_err("reading customer_features.parquet"))?;
    check_rows(&path, &CUSTOMER_FEATURES, &df)?;
    Ok(FeatureTable::from_frame(
        &df,
        &seg_names,
        "reading customer_features.parquet",
    )?)
}

fn read_inputs(
    config: &Config,
    scanned: features::Inputs,
    names: &[String],
    vocabulary: &Vocabulary,
) -> anyhow::Result<Inputs> {
    // The screened offers: an offer the features stage left out (an end
    // before its start, a repeated id) is no candidate either.
    let offers = scanned
        .offers
        .clone()
        .collect()
        .map_err(error::polars_err("reading offers.parquet"))?;
    let catalogue = Catalogue::from_frame(&offers, vocabulary)?;
    let serving = read_serving_segment_features(config, names, vocabulary)?;
    let lap = Instant::now();
    let has_truth = table_path(&config.data_dir, &TRUTH_PROPENSITY).is_file()
        && table_path(&config.data_dir, &CUSTOMERS_TRUTH).is_file();
    let truth = if has_truth {
        Some(Truth::load(&config.data_dir, &catalogue)?)
    } else {
        tracing::warn!("no truth tables: oracle, ranking and retrieval figures are skipped");
        None
    };
    let truth_seconds = seconds_since(lap);
    let lap = Instant::now();
    // Collected once: every snapshot re-reads them from memory instead of
    // decoding the Parquet files again.
    let columns: Vec<Expr> = features::transaction_columns(vocabulary)
        .iter()
        .map(|c| col(c.as_str()))
        .collect();
    let transactions = scanned
        .transactions
        .select(columns)
        .collect()
        .map_err(error::polars_err("reading transactions.parquet"))?;
    let interactions = scanned
        .interactions
        .select([
            col("record_id"),
            col("offer_id"),
            col("offer_type"),
            col("sent_date"),
            col("opened"),
            col("clicked"),
            col("redeemed"),
        ])
        .collect()
        .map_err(error::polars_err("reading offer_interactions.parquet"))?;
    let entity_map = scanned
        .entity_map
        .select([col("record_id"), col("customer_id")])
        .collect()
        .map_err(error::polars_err("reading the entity map"))?;
    let sends = Sends::collect(
        interactions.clone().lazy(),
        entity_map.clone().lazy(),
        &catalogue,
    )?;
    if sends.outside_validity > 0 {
        tracing::info!(
            sends = sends.outside_validity,
            "sends dated outside their offer's valid_from/valid_to left out of the examples"
        );
    }
    if sends.is_empty() {
        return Err(TrainError::NotEnoughData(
            "no offer interaction belongs to a resolved customer with a known offer".into(),
        )
        .into());
    }
    let last_txn = transactions
        .column("transaction_date")
        .and_then(|c| c.cast(&DataType::Int32))
        .ok()
        .and_then(|c| c.i32().ok().and_then(|ca| ca.max()));
    let last_send = sends.day.iter().copied().max();
    let events_seconds = seconds_since(lap);
    let lap = Instant::now();
    let events = KeyedEvents::new(
        &transactions,
        &interactions,
        &entity_map,
        &sends.customer_ids,
        vocabulary,
    )?;
    tracing::info!(
        truth_seconds,
        events_seconds,
        coding_seconds = seconds_since(lap),
        "inputs read"
    );
    Ok(Inputs {
        events,
        entity_map,
        sends,
        catalogue,
        serving,
        truth,
        last_event_day: last_txn.max(last_send).unwrap_or_default(),
    })
}

/// The vocabulary the features stage wrote beside `customer_features`.
fn read_vocabulary(data_dir: &Path) -> anyhow::Result<Vocabulary> {
    let path = data_dir.join(VOCABULARY_FILE);
    if !path.is_file() {
        anyhow::bail!(
            "{}: file not found (the `features` stage writes it with {}: run the `features` stage first)",
            path.display(),
            CUSTOMER_FEATURES.file
        );
    }
    Ok(Vocabulary::read(&path)?)
}

/// Features at `cutoff` of the customers of `rows` (all customers when
/// `rows` is `None`).
fn features_at(
    inputs: &Inputs,
    cutoff: i32,
    rows: Option<&[usize]>,
    names: &[String],
) -> Result<FeatureTable> {
    let wanted = rows.map(|rows| inputs.sends.customers_of(rows));
    inputs.events.features_at(cutoff, wanted.as_deref(), names)
}

/// The rows of the window `rows` whose positions are in `picks`. The
/// positions (sorted) count the rows of every window in a row; the window
/// starts at `offset`.
fn picked(rows: &[usize], picks: &[usize], offset: usize) -> Vec<usize> {
    let from = picks.partition_point(|&p| p < offset);
    let to = picks.partition_point(|&p| p < offset + rows.len());
    picks[from..to].iter().map(|&p| rows[p - offset]).collect()
}

/// The examples of one snapshot: features at its cut-off of the customers
/// of `parts` (rows of its window; of every customer when
/// `every_customer`), then each part's rows.
fn snapshot_examples<const N: usize>(
    inputs: &Inputs,
    snapshot: Snapshot,
    every_customer: bool,
    parts: [&[usize]; N],
    layout: &RankerLayout,
    names: &[String],
) -> Result<(FeatureTable, [ExampleSet; N])> {
    let started = Instant::now();
    let rows = parts.concat();
    let customers = (!every_customer).then_some(rows.as_slice());
    let table = features_at(inputs, snapshot.cutoff, customers, names)?;
    let features_seconds = seconds_since(started);
    let started = Instant::now();
    let mut sets = Vec::with_capacity(N);
    for part in parts {
        sets.push(build_examples(
            layout,
            &table,
            &inputs.sends,
            part,
            &inputs.catalogue,
        )?);
    }
    tracing::info!(
        window = %snapshot.describe(),
        rows = rows.len(),
        customers = table.len(),
        features_seconds,
        rows_seconds = seconds_since(started),
        "snapshot examples"
    );
    let sets = sets
        .try_into()
        .map_err(|_| TrainError::NotEnoughData("snapshot parts".into()))?;
    Ok((table, sets))
}

/// AUC and log loss of a model trained and tested on a random split of
/// `pool` (70% train, 10% early stopping, 20% test), as the old system
/// measured itself.
fn random_split_figures(
    pool: &Matrix,
    feature_cols: &[String],
    params: &RankerParams,
    seed: u64,
) -> Result<Value> {
    let n = pool.rows();
    let order = {
        let mut rng = Xoshiro256Plus::seed_from_u64(seed ^ 0x5eed);
        let mut idx: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            idx.swap(i, j);
        }
        idx
    };
    let take = |rows: &[usize]| -> Matrix {
        let mut m = Matrix {
            x: Vec::with_capacity(rows.len() * pool.width),
            labels: Vec::with_capacity(rows.len()),
            width: pool.width,
        };
        for &r in rows {
            m.x.extend_from_slice(&pool.x[r * pool.width..(r + 1) * pool.width]);
            m.labels.push(pool.labels[r]);
        }
        m
    };
    let (a, b) = (n * 7 / 10, n * 8 / 10);
    let (train, valid, test) = (take(&order[..a]), take(&order[a..b]), take(&order[b..]));
    let model = Ranker::train(&train, Some(&valid), feature_cols, params)?;
    let pred = model.predict(&test.x, params.num_threads)?;
    Ok(json!({
        "rows": n,
        "test_rows": test.rows(),
        "auc": metrics::auc(&pred, &test.labels).map(round),
        "log_loss": round(metrics::log_loss(&pred, &test.labels)),
        "best_iteration": model.best_iteration,
    }))
}

/// The ranker fitted again on the training and validation rows, with the
/// number of trees early stopping chose on the validation rows.
///
/// The validation window is the most recent one before the test window,
/// and with little data it holds much of what there is to learn from (on
/// Complete Journey a quarter of the sends, and the only ones of the
/// campaigns that run on into the test window). Done only up to
/// `--refit-max-rows` training rows: there a second fit costs seconds and
/// one window more is a real share of the data; beyond it the window adds
/// little and the fit time doubles. The measurements are in the crate
/// README.
fn refit_with_validation(
    fit: &Matrix,
    valid: &Matrix,
    feature_cols: &[String],
    params: &RankerParams,
    rounds: usize,
) -> Result<Ranker> {
    let mut all = fit.clone();
    all.extend_from(valid);
    let params = RankerParams {
        max_rounds: u32::try_from(rounds.max(1)).unwrap_or(u32::MAX),
        ..params.clone()
    };
    let model = Ranker::train(&all, None, feature_cols, &params)?;
    tracing::info!(
        rows = all.rows(),
        trees = model.best_iteration,
        "ranker fitted again with the validation rows"
    );
    Ok(model)
}

/// Ranking and retrieval figures on a sample of customers at the test
/// cut-off: the model's order of the whole catalogue against the true
/// propensities, and the two-stage path `serve` takes (segment candidates,
/// then the ranker).
#[allow(clippy::too_many_arguments)]
fn ranking_figures(
    inputs: &Inputs,
    truth: &Truth,
    table: &FeatureTable,
    clusters: &[u32],
    candidates: &HashMap<u32, Vec<usize>>,
    layout: &RankerLayout,
    model: &Ranker,
    config: &Config,
) -> Result<Value> {
    let persons = truth.customer_persons(inputs.entity_map.clone().lazy())?;
    let eligible: Vec<(usize, Vec<f64>)> = (0..table.len())
        .filter_map(|i| {
            let p = *persons.get(&table.ids[i])?;
            truth.offer_propensities(p).map(|t| (i, t))
        })
        .collect();
    let chosen = seeded_sample(eligible.len(), config.eval_customers, config.seed ^ 0xe7a1);
    let offers = inputs.catalogue.len();
    let width = layout.width();
    let k = 3.min(offers);
    let (mut ndcg, mut model_top, mut best_top, mut random_top) = (0.0, 0.0, 0.0, 0.0);
    let (mut two_ndcg, mut two_top) = (0.0, 0.0);
    let (mut recall_true, mut recall_ranker) = (0.0, 0.0);
    // Scored in batches, so a large catalogue never needs one huge matrix.
    let batch = (400_000 / offers.max(1)).max(1);
    let mut x = Vec::new();
    for part in chosen.chunks(batch) {
        x.clear();
        x.resize(part.len() * offers * width, 0.0);
        for (kk, &e) in part.iter().enumerate() {
            let row = table.row(eligible[e].0);
            for o in 0..offers {
                let at = (kk * offers + o) * width;
                inputs
                    .catalogue
                    .fill(layout, row, o, &mut x[at..at + width]);
            }
        }
        let scores = model.predict(&x, config.ranker.num_threads)?;
        for (kk, &e) in part.iter().enumerate() {
            let (i, truth_row) = (eligible[e].0, &eligible[e].1);
            let s = &scores[kk * offers..(kk + 1) * offers];
            let model_order = metrics::top_k(s, k);
            let best_order = metrics::top_k(truth_row, k);
            ndcg += metrics::ndcg_at(s, truth_row, k);
            model_top += model_order.iter().map(|&o| truth_row[o]).sum::<f64>();
            best_top += best_order.iter().map(|&o| truth_row[o]).sum::<f64>();
            random_top += truth_row.iter().sum::<f64>() / offers as f64 * k as f64;
            let cands = candidates.get(&clusters[i]).cloned().unwrap_or_default();
            // The two-stage path: only the segment's candidates are scored.
            let masked: Vec<f64> = (0..offers)
                .map(|o| {
                    if cands.contains(&o) {
                        s[o]
                    } else {
                        f64::NEG_INFINITY
                    }
                })
                .collect();
            let two_order: Vec<usize> = metrics::top_k(&masked, k.min(cands.len()));
            two_top += two_order.iter().map(|&o| truth_row[o]).sum::<f64>();
            let ideal = metrics::dcg(&best_order, truth_row);
            two_ndcg += if ideal > 0.0 {
                metrics::dcg(&two_order, truth_row) / ideal
            } else {
                1.0
            };
            recall_true += f64::from(u8::from(cands.contains(&best_order[0])));
            recall_ranker += f64::from(u8::from(cands.contains(&model_order[0])));
        }
    }
    let n = chosen.len().max(1) as f64;
    let share = |v: f64| {
        if best_top > 0.0 {
            round(v / best_top)
        } else {
            f64::NAN
        }
    };
    Ok(json!({
        "ranking": {
            "customers": chosen.len(),
            "offers": offers,
            "ndcg_at_3": round(ndcg / n),
            "top3_expected_redemptions_share": share(model_top),
            "top3_random_share": share(random_top),
            "top3_expected_redemptions_per_customer": round(model_top / n),
            "top3_best_per_customer": round(best_top / n),
            "two_stage_ndcg_at_3": round(two_ndcg / n),
            "two_stage_top3_expected_redemptions_share": share(two_top),
        },
        "retrieval": {
            "customers": chosen.len(),
            "candidates_per_segment": config.candidates.min(offers),
            "recall_true_best": round(recall_true / n),
            "recall_ranker_best": round(recall_ranker / n),
        }
    }))
}

/// Flattens the numeric leaves of `metrics.json` into `a.b.c` keys, for
/// experiment tracking.
pub fn flatten_metrics(value: &Value) -> BTreeMap<String, f64> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, f64>) {
        match v {
            Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    out.insert(prefix.to_owned(), f);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// The closing summary's figures: the truth-free ones always, those
/// against the generator's truth when it was there, and what the old
/// leaky split claims. A figure that could not be computed reads `n/a`,
/// never `NaN`.
fn closing_line(
    flat: &BTreeMap<String, f64>,
    truth_free: &evaluation::Evaluation,
    model_version: &str,
) -> String {
    let get = |k: &str| flat.get(k).copied().filter(|v| v.is_finite());
    let mut line = truth_free.summary();
    if get("temporal.oracle_auc").is_some() {
        line.push_str(&format!(
            "; oracle AUC {}",
            evaluation::shown(get("temporal.oracle_auc"))
        ));
    }
    if let Some(share) = get("ranking.top3_expected_redemptions_share") {
        line.push_str(&format!(
            ", top-3 expected redemptions {:.1}% of best, NDCG@3 {}",
            100.0 * share,
            evaluation::shown(get("ranking.ndcg_at_3")),
        ));
    }
    line.push_str(&format!(
        "; random split with leaky features claimed AUC {}; model {model_version}",
        evaluation::shown(get("random_split_leaky_features.figures.auc")),
    ));
    line
}

/// The `segments` section of `metrics.json`, logged: the sizes and how the
/// candidate lists came out, of those judged at the test cut-off and of
/// those served. `smoothing_*` repeat the pseudo-counts under their
/// earlier names.
fn segments_section(
    sizes: &[u64],
    evaluation: &segments::CandidateStats,
    serving: &segments::CandidateStats,
) -> Value {
    for (which, s) in [("evaluation", evaluation), ("serving", serving)] {
        tracing::info!(
            candidates = which,
            smoothing = s.smoothing,
            source = ?s.smoothing_source,
            segments = s.segments,
            distinct_lists = s.distinct_lists,
            distinct_sets = s.distinct_sets,
            offers_never_candidate = s.offers_never_candidate,
            placed_for_coverage = s.placed_for_coverage,
            "segment candidates"
        );
    }
    json!({
        "k": sizes.len(),
        "sizes": sizes,
        "smoothing_evaluation": evaluation.smoothing,
        "smoothing_serving": serving.smoothing,
        "candidates_evaluation": evaluation,
        "candidates_serving": serving,
    })
}

/// Records the seconds of step `name` (started at `t`) for
/// `metrics.json` and logs them with the peak memory so far.
fn step_done(timings: &mut BTreeMap<&'static str, f64>, name: &'static str, t: Instant) {
    let seconds = seconds_since(t);
    timings.insert(name, seconds);
    let gb = |b: Option<u64>| b.map_or(f64::NAN, |b| (b as f64 / 1e7).round() / 100.0);
    let peak_gb = gb(pipeline_core::telemetry::peak_rss_bytes());
    let rss_gb = gb(pipeline_core::telemetry::rss_bytes());
    tracing::info!(step = name, seconds, peak_gb, rss_gb, "step done");
}

fn seconds_since(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}

/// Trains both stages, evaluates them and writes the artifacts.
pub fn run(config: &Config) -> anyhow::Result<TrainOutcome> {
    config.validate()?;
    let timer = StageTimer::start("train");
    let mut timings: BTreeMap<&'static str, f64> = BTreeMap::new();
    let t = Instant::now();
    // The input tables first: a missing one is the first thing to fix.
    let scanned = features::scan_inputs(&config.data_dir, config.identity_map, &config.screen)?;
    let data_quality = scanned.quality();
    let vocabulary = read_vocabulary(&config.data_dir)?;
    let names = vocabulary.customer_feature_names();
    let mut feature_cols = names.clone();
    feature_cols.extend(offer_feature_names(&vocabulary));
    let layout = RankerLayout::new(&feature_cols, &names, &vocabulary)?;
    let inputs = read_inputs(config, scanned, &names, &vocabulary)?;
    step_done(&mut timings, "read_inputs", t);
    let first_send = inputs.sends.day.iter().copied().min().unwrap_or_default();
    let last_send = inputs.sends.day.iter().copied().max().unwrap_or_default();
    let snapshots = examples::schedule(first_send, last_send, config.window_days as i32)?;
    let (test_snap, valid_snap) = (
        snapshots[snapshots.len() - 1],
        snapshots[snapshots.len() - 2],
    );
    let windows: Vec<Vec<usize>> = snapshots
        .iter()
        .map(|s| inputs.sends.in_window(s.cutoff, s.end))
        .collect();
    let test_rows = &windows[windows.len() - 1];
    evaluation::check_test_window(&inputs.sends, test_rows, test_snap, config.window_days)?;
    // Before any training work: a tracking server that is down fails here.
    let tracker = tracking::Tracker::from_uri(
        config.tracking_uri.as_deref(),
        &config.model_dir,
        &config.experiment,
    )
    .context("starting experiment tracking (MLFLOW_TRACKING_URI)")?;
    tracing::info!(location = %tracker.location(), "tracking the run");
    let mut tracked = tracker
        .start_run(
            &format!("train-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")),
            &[
                ("stage", "train"),
                (
                    "entity_map",
                    if config.identity_map {
                        "identity"
                    } else {
                        "resolved"
                    },
                ),
                ("data_dir", &config.data_dir.display().to_string()),
            ],
        )
        .context("starting the tracked run")?;
    let params = config_params(config);
    tracked
        .log_params(&params)
        .context("logging the run's parameters")?;
    // The parameters also go in as the run's first artifact, so that an
    // artifact store this client cannot write fails here, not after the
    // training.
    let staging = tempfile::tempdir().context("creating a folder for the run's first artifact")?;
    let params_file = staging.path().join(TRAIN_PARAMS_FILE);
    let params_json: BTreeMap<&str, &str> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    std::fs::write(&params_file, serde_json::to_string_pretty(&params_json)?)
        .with_context(|| format!("writing {}", params_file.display()))?;
    tracked
        .log_artifact(&params_file, "")
        .context("checking, before training, that the run's artifacts can be written")?;

    // Examples: earlier windows train, the next validates, the last tests.
    // Only the training rows the ranker is fitted on and the rows of the
    // random-split pool are built (and their customers' features
    // computed): their positions among the rows of every window in a row
    // are drawn first.
    let t = Instant::now();
    let train_windows = snapshots.len() - 2;
    let train_rows: usize = windows[..train_windows].iter().map(Vec::len).sum();
    let fit_picks = (config.max_train_rows > 0 && train_rows > config.max_train_rows)
        .then(|| seeded_sample(train_rows, config.max_train_rows, config.seed ^ 0x7a1e));
    let pool_picks = seeded_sample(
        windows.iter().map(Vec::len).sum(),
        config.random_split_rows,
        config.seed ^ 0x9001,
    );
    let mut fit = ExampleSet::empty(layout.width());
    let mut pool = ExampleSet::empty(layout.width());
    let mut offset = 0;
    for (snap, rows) in snapshots[..train_windows].iter().zip(&windows) {
        let fit_rows = match &fit_picks {
            Some(picks) => picked(rows, picks, offset),
            None => rows.clone(),
        };
        let pool_rows = picked(rows, &pool_picks, offset);
        let (_, [f, p]) = snapshot_examples(
            &inputs,
            *snap,
            false,
            [&fit_rows, &pool_rows],
            &layout,
            &names,
        )?;
        fit = concat(fit, f);
        pool = concat(pool, p);
        offset += rows.len();
    }
    if fit.rows.is_empty() {
        return Err(TrainError::NotEnoughData("no training rows".into()).into());
    }
    let rows = &windows[train_windows];
    let (_, [valid, p]) = snapshot_examples(
        &inputs,
        valid_snap,
        false,
        [rows, &picked(rows, &pool_picks, offset)],
        &layout,
        &names,
    )?;
    pool = concat(pool, p);
    offset += rows.len();
    let rows = &windows[train_windows + 1];
    // Every customer: stage 1 is fitted on the features at the test cut-off.
    let (test_table, [test, p]) = snapshot_examples(
        &inputs,
        test_snap,
        true,
        [rows, &picked(rows, &pool_picks, offset)],
        &layout,
        &names,
    )?;
    pool = concat(pool, p);
    step_done(&mut timings, "snapshot_features", t);
    tracing::info!(
        train = train_rows,
        fitted = fit.rows.len(),
        valid = valid.rows.len(),
        test = test.rows.len(),
        random_split_pool = pool.rows.len(),
        snapshots = snapshots.len(),
        "examples built"
    );

    // Stage 2.
    let t = Instant::now();
    let fit_rows = fit.rows.len();
    if fit_picks.is_some() {
        tracing::info!(
            rows = fit_rows,
            of = train_rows,
            "ranker fitted on a seeded sample of the training rows"
        );
    }
    let fit_matrix = &fit.matrix;
    let model = Ranker::train(
        fit_matrix,
        Some(&valid.matrix),
        &feature_cols,
        &config.ranker,
    )?;
    let refit = fit_picks.is_none() && train_rows <= config.refit_max_rows;
    let model = if refit {
        refit_with_validation(
            fit_matrix,
            &valid.matrix,
            &feature_cols,
            &config.ranker,
            model.best_iteration,
        )?
    } else {
        model
    };
    step_done(&mut timings, "ranker_fit", t);
    let threads = config.ranker.num_threads;
    let test_pred = model.predict(&test.matrix.x, threads)?;
    let labels = &test.matrix.labels;
    let (calibration, ece) = metrics::calibration(&test_pred, labels, 10);
    let base_rate = labels.iter().map(|&l| f64::from(l)).sum::<f64>() / labels.len().max(1) as f64;
    let mut temporal = json!({
        "rows": labels.len(),
        "base_rate": round(base_rate),
        "auc": metrics::auc(&test_pred, labels).map(round),
        "log_loss": round(metrics::log_loss(&test_pred, labels)),
        "expected_calibration_error": round(ece),
        "calibration": calibration,
        "best_iteration": model.best_iteration,
        "refit_with_validation": refit,
    });
    if let Some(truth) = &inputs.truth {
        // The oracle: the true probabilities on the same rows.
        let (mut p, mut o, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &r) in test.rows.iter().enumerate() {
            let person = inputs
                .sends
                .record_ids
                .get(r)
                .and_then(|rec| truth.person_of_record(rec));
            if let Some(v) =
                person.and_then(|pp| truth.propensity(pp, inputs.sends.offer[r] as usize))
            {
                p.push(test_pred[k]);
                o.push(v);
                y.push(labels[k]);
            }
        }
        let model_auc = metrics::auc(&p, &y);
        let oracle_auc = metrics::auc(&o, &y);
        if let Some(obj) = temporal.as_object_mut() {
            obj.insert("truth_rows".into(), json!(y.len()));
            obj.insert("auc_on_truth_rows".into(), json!(model_auc.map(round)));
            obj.insert("oracle_auc".into(), json!(oracle_auc.map(round)));
            obj.insert(
                "oracle_log_loss".into(),
                json!(round(metrics::log_loss(&o, &y))),
            );
            if let (Some(m), Some(or)) = (model_auc, oracle_auc) {
                obj.insert("auc_share_of_oracle".into(), json!(round(m / or)));
            }
        }
    }
    let (fpr, tpr) = metrics::roc_points(&test_pred, labels, 500);
    let test_labels = labels.clone();

    // Stage 1, fitted on the features at the test cut-off; the candidates
    // come from the sends before it, so the test window stays unseen.
    let t = Instant::now();
    let seg_spec = segments::segment_features(&vocabulary);
    let seg_names: Vec<String> = seg_spec.iter().map(|(n, _)| n.clone()).collect();
    let seg_params = SegmentParams {
        clusters: config.clusters,
        fit_sample: config.kmeans_sample,
        seed: config.seed,
    };
    let seg_raw = test_table.select(&seg_names);
    let segments_model: Segments = segments::fit_segments(&seg_raw, &seg_spec, &seg_params)?;
    let test_clusters = segments::assign(&segments_model, &seg_raw);
    drop(seg_raw);
    let cluster_of = |table: &FeatureTable, clusters: &[u32]| -> HashMap<String, u32> {
        table
            .ids
            .iter()
            .cloned()
            .zip(clusters.iter().copied())
            .collect()
    };
    let test_cluster_of = cluster_of(&test_table, &test_clusters);
    let sends = &inputs.sends;
    let before_test = (0..sends.len())
        .filter(|&i| sends.day[i] < test_snap.cutoff)
        .filter_map(|i| {
            let c = *test_cluster_of.get(&sends.customer_ids[sends.customer[i] as usize])?;
            Some((c, sends.offer[i] as usize, sends.redeemed[i] > 0.5))
        });
    let (eval_candidates, eval_stats) = segments::candidates(
        before_test,
        config.clusters,
        &inputs.catalogue.ids,
        config.smoothing,
        config.candidates,
    );
    step_done(&mut timings, "segments", t);
    let t = Instant::now();
    let truth_free = evaluation::evaluate(&evaluation::TestWindow {
        sends,
        rows: &test.rows,
        scores: &test_pred,
        cutoff: test_snap.cutoff,
        catalogue: &inputs.catalogue,
        candidates: &eval_candidates,
        segment_of: &test_cluster_of,
        ks: &config.eval_ks,
    });
    step_done(&mut timings, "truth_free_evaluation", t);

    let mut metrics_json = json!({
        "data": {
            "customers": inputs.serving.len(),
            "offers": inputs.catalogue.len(),
            "interactions": sends.len(),
            "interactions_with_unknown_customer_or_offer": sends.unknown_offers,
            "interactions_outside_offer_validity": sends.outside_validity,
            "snapshots": snapshots.len(),
            "window_days": config.window_days,
            "first_send": format_epoch_days(first_send),
            "train_cutoffs": snapshots[..snapshots.len() - 2].iter().map(|s| format_epoch_days(s.cutoff)).collect::<Vec<_>>(),
            "validation_window": valid_snap.describe(),
            "test_window": test_snap.describe(),
            "train_rows": train_rows,
            "train_rows_fitted": fit_rows,
            "validation_rows": valid.rows.len(),
            "test_rows": test.rows.len(),
            "feature_count": feature_cols.len(),
            "data_quality": &data_quality,
        },
        "temporal": temporal,
        "evaluation": &truth_free,
    });
    let t = Instant::now();
    if let Some(truth) = &inputs.truth {
        let cand_idx = segments::candidate_indices(&eval_candidates, &inputs.catalogue.ids);
        let figures = ranking_figures(
            &inputs,
            truth,
            &test_table,
            &test_clusters,
            &cand_idx,
            &layout,
            &model,
            config,
        )?;
        if let (Some(obj), Value::Object(fig)) = (metrics_json.as_object_mut(), figures) {
            obj.extend(fig);
        }
    }
    step_done(&mut timings, "ranking_evaluation", t);
    drop(test_table);

    // What the old system would have claimed: a random split, once with
    // its leaky features (computed over all the data, including each
    // row's own outcome), once with our point-in-time features.
    let t = Instant::now();
    let all_rows = seeded_sample(sends.len(), config.random_split_rows, config.seed ^ 0x1ea4);
    let leaky_table = features_at(&inputs, inputs.last_event_day + 1, Some(&all_rows), &names)?;
    let leaky = build_examples(&layout, &leaky_table, sends, &all_rows, &inputs.catalogue)?;
    drop(leaky_table);
    tracing::info!(
        rows = all_rows.len(),
        seconds = seconds_since(t),
        "leaky features and rows"
    );
    let leaky_figures =
        random_split_figures(&leaky.matrix, &feature_cols, &config.ranker, config.seed)?;
    drop(leaky);
    drop((fit, valid));
    let honest_random =
        random_split_figures(&pool.matrix, &feature_cols, &config.ranker, config.seed)?;
    drop(pool);
    step_done(&mut timings, "random_split_baselines", t);
    if let Some(obj) = metrics_json.as_object_mut() {
        obj.insert(
            "random_split_leaky_features".into(),
            json!({
                "what": "the old system's claim: random 70/10/20 split of sends, features computed over all data including each row's own outcome",
                "figures": leaky_figures,
            }),
        );
        obj.insert(
            "random_split_point_in_time_features".into(),
            json!({
                "what": "random 70/10/20 split of the snapshot rows, point-in-time features",
                "figures": honest_random,
            }),
        );
    }

    // Serving segments and candidates, from everything known.
    let t = Instant::now();
    let serving_raw = inputs.serving.select(&seg_names);
    let serving_clusters = segments::assign(&segments_model, &serving_raw);
    drop(serving_raw);
    let serving_cluster_of = cluster_of(&inputs.serving, &serving_clusters);
    let all_sends = (0..sends.len()).filter_map(|i| {
        let c = *serving_cluster_of.get(&sends.customer_ids[sends.customer[i] as usize])?;
        Some((c, sends.offer[i] as usize, sends.redeemed[i] > 0.5))
    });
    let (serving_candidates, serving_stats) = segments::candidates(
        all_sends,
        config.clusters,
        &inputs.catalogue.ids,
        config.smoothing,
        config.candidates,
    );
    let mut segment_sizes = vec![0u64; config.clusters];
    for &c in &serving_clusters {
        segment_sizes[c as usize] += 1;
    }
    step_done(&mut timings, "serving_segments", t);
    if let Some(obj) = metrics_json.as_object_mut() {
        obj.insert(
            "segments".into(),
            segments_section(&segment_sizes, &eval_stats, &serving_stats),
        );
        obj.insert("timings_seconds".into(), json!(timings));
    }

    round_figures(&mut metrics_json);
    let gains = model.gain_importance()?;
    let (written, artifact_files) = write_artifacts(
        config,
        &ArtifactSet {
            model: &model,
            feature_cols: &feature_cols,
            vocabulary: &vocabulary,
            segments: &segments_model,
            candidates: &serving_candidates,
            metrics: &metrics_json,
            serving_ids: &inputs.serving.ids,
            serving_clusters: &serving_clusters,
            roc: (&fpr, &tpr),
            test_auc: metrics::auc(&test_pred, &test_labels).unwrap_or(f64::NAN),
            gains: &gains,
            data_cutoff: format_epoch_days(inputs.last_event_day),
        },
    )?;

    let flat = flatten_metrics(&metrics_json);
    record_run(
        &mut tracked,
        config,
        &metrics_json,
        &written,
        &artifact_files,
        &format_epoch_days(inputs.last_event_day),
        (&feature_cols, &test.matrix.x),
    )?;
    tracked
        .finish(tracking::RunStatus::Finished)
        .context("closing the tracked run")?;
    let summary = timer.finish(
        sends.len() as u64,
        inputs.serving.len() as u64,
        closing_line(&flat, &truth_free, &written),
    );
    Ok(TrainOutcome {
        summary,
        metrics: metrics_json,
        model_version: written,
    })
}

struct ArtifactSet<'a> {
    model: &'a Ranker,
    feature_cols: &'a [String],
    vocabulary: &'a Vocabulary,
    segments: &'a Segments,
    candidates: &'a ClusterCandidates,
    metrics: &'a Value,
    serving_ids: &'a [String],
    serving_clusters: &'a [u32],
    roc: (&'a [f64], &'a [f64]),
    test_auc: f64,
    gains: &'a [f64],
    data_cutoff: String,
}

/// Writes every artifact atomically, the manifest (with checksums) last;
/// returns the model version and the files written in the model directory.
fn write_artifacts(config: &Config, a: &ArtifactSet) -> anyhow::Result<(String, Vec<PathBuf>)> {
    let dir = &config.model_dir;
    let path = |f: &str| dir.join(f);
    let text = a.model.model_text()?;
    write_bytes_atomic(path(RANKER_FILE), text.as_bytes())?;
    write_json_atomic(path(FEATURE_COLS_FILE), a.feature_cols)?;
    a.vocabulary.write(&path(VOCABULARY_FILE))?;
    write_json_atomic(path(SEGMENTS_FILE), a.segments)?;
    write_json_atomic(path(CLUSTER_CANDIDATES_FILE), a.candidates)?;
    write_json_atomic(path(METRICS_FILE), a.metrics)?;
    let mut files = vec![
        RANKER_FILE,
        FEATURE_COLS_FILE,
        VOCABULARY_FILE,
        SEGMENTS_FILE,
        CLUSTER_CANDIDATES_FILE,
        METRICS_FILE,
    ];
    files.extend(charts_written(dir, a)?);

    let ids: Vec<&str> = a.serving_ids.iter().map(String::as_str).collect();
    let mut segments_df = DataFrame::new(
        ids.len(),
        vec![
            Column::new("customer_id".into(), ids),
            Column::new("cluster".into(), a.serving_clusters.to_vec()),
        ],
    )
    .map_err(error::polars_err("building customer_segments"))?;
    TableSink::new(&config.data_dir, config.csv)
        .write(&CUSTOMER_SEGMENTS, &mut segments_df)
        .context("writing customer_segments.parquet")?;

    let mut checksums = BTreeMap::new();
    for f in &files {
        checksums.insert((*f).to_owned(), sha256_file(&path(f))?);
    }
    let trained_at = chrono::Utc::now();
    let model_version = format!(
        "{}-{}",
        trained_at.format("%Y%m%dT%H%M%SZ"),
        checksums
            .get(RANKER_FILE)
            .map(|s| &s[..8])
            .unwrap_or("model")
    );
    let manifest = Manifest {
        model_version: model_version.clone(),
        trained_at: trained_at.to_rfc3339(),
        data_cutoff: a.data_cutoff.clone(),
        files: checksums,
    };
    write_json_atomic(path(MANIFEST_FILE), &manifest)?;
    files.push(MANIFEST_FILE);
    Ok((model_version, files.iter().map(|f| path(f)).collect()))
}

/// Every hyperparameter of the run, as tracking parameters.
fn config_params(config: &Config) -> Vec<(String, String)> {
    let r = &config.ranker;
    [
        ("seed", config.seed.to_string()),
        ("identity_map", config.identity_map.to_string()),
        ("window_days", config.window_days.to_string()),
        ("clusters", config.clusters.to_string()),
        ("candidates", config.candidates.to_string()),
        (
            "smoothing",
            config
                .smoothing
                .map_or_else(|| "empirical".to_owned(), |m| m.to_string()),
        ),
        ("kmeans_sample", config.kmeans_sample.to_string()),
        ("eval_customers", config.eval_customers.to_string()),
        (
            "eval_k",
            config
                .eval_ks
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("random_split_rows", config.random_split_rows.to_string()),
        ("max_train_rows", config.max_train_rows.to_string()),
        ("refit_max_rows", config.refit_max_rows.to_string()),
        ("learning_rate", r.learning_rate.to_string()),
        ("num_leaves", r.num_leaves.to_string()),
        ("min_data_in_leaf", r.min_data_in_leaf.to_string()),
        ("feature_fraction", r.feature_fraction.to_string()),
        ("lambda_l2", r.lambda_l2.to_string()),
        ("max_rounds", r.max_rounds.to_string()),
        ("early_stopping_rounds", r.early_stopping_rounds.to_string()),
        ("num_threads", r.num_threads.to_string()),
        ("objective", "binary".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Logs the data sizes and cut-offs, every figure of `metrics.json`, the
/// artifacts with the files that make them an MLflow model
/// ([`mlflow_model`], its input example the first of `example_rows`), and
/// registers the ranker as a new model version.
fn record_run(
    run: &mut tracking::Run,
    config: &Config,
    metrics: &Value,
    model_version: &str,
    files: &[PathBuf],
    data_cutoff: &str,
    (feature_cols, example_rows): (&[String], &[f64]),
) -> anyhow::Result<()> {
    let data = &metrics["data"];
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut params: Vec<(String, String)> = [
        "customers",
        "offers",
        "interactions",
        "snapshots",
        "train_rows",
        "train_rows_fitted",
        "validation_rows",
        "test_rows",
        "feature_count",
        "first_send",
        "train_cutoffs",
        "validation_window",
        "test_window",
    ]
    .iter()
    .map(|k| (format!("data.{k}"), text(&data[*k])))
    .collect();
    params.push(("data.data_cutoff".into(), data_cutoff.to_owned()));
    params.push((
        "data.data_dir".into(),
        config.data_dir.display().to_string(),
    ));
    run.log_params(&params)
        .context("logging the data parameters")?;
    let values: Vec<(String, f64)> = flatten_metrics(metrics).into_iter().collect();
    run.log_metrics(&values, 0).context("logging the metrics")?;
    // The MLflow model files are artifacts only: staged in a temporary
    // folder, never in the model directory (whose manifest lists its files).
    let staging = tempfile::tempdir().context("creating a folder for the MLflow model files")?;
    let mlflow_files = mlflow_model::write(
        staging.path(),
        feature_cols,
        example_rows,
        RANKER_FILE,
        run.run_id(),
    )?;
    for file in files.iter().chain(&mlflow_files) {
        run.log_artifact(file, "model")
            .with_context(|| format!("logging artifact {}", file.display()))?;
    }
    let version = run
        .register_model(REGISTERED_MODEL, "model")
        .context("registering the ranker")?;
    run.set_tags(&[
        ("model_version", model_version),
        ("registered_model", REGISTERED_MODEL),
        ("registered_version", version.version.as_str()),
    ])
    .context("tagging the run")?;
    tracing::info!(model = REGISTERED_MODEL, version = %version.version, "ranker registered");
    Ok(())
}

/// The ROC curve of the test window.
pub const ROC_CHART_FILE: &str = "roc_curve.png";
/// The ranker's features by total split gain.
pub const IMPORTANCE_CHART_FILE: &str = "feature_importance.png";

/// PNG charts written beside the model (atomically, by [`charts`]).
fn charts_written(dir: &Path, a: &ArtifactSet) -> anyhow::Result<Vec<&'static str>> {
    charts::roc_curve_png(&dir.join(ROC_CHART_FILE), a.roc.0, a.roc.1, a.test_auc)
        .context("drawing the ROC curve")?;
    charts::feature_importance_png(
        &dir.join(IMPORTANCE_CHART_FILE),
        a.feature_cols,
        a.gains,
        20,
    )
    .context("drawing the feature importance chart")?;
    Ok(vec![ROC_CHART_FILE, IMPORTANCE_CHART_FILE])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_of_each_window_are_the_sample_of_all_rows() {
        let windows = [vec![3, 5, 8], vec![], vec![10, 11, 12, 13], vec![20]];
        let all = windows.concat();
        for k in [0, 1, 4, 8, 20] {
            let picks = seeded_sample(all.len(), k, 9);
            let mut offset = 0;
            let mut got = Vec::new();
            for rows in &windows {
                got.extend(picked(rows, &picks, offset));
                offset += rows.len();
            }
            let want: Vec<usize> = picks.iter().map(|&p| all[p]).collect();
            assert_eq!(got, want);
            assert_eq!(got.len(), k.min(all.len()));
        }
    }

    #[test]
    fn rounded_metrics_read_back_exactly() {
        let mut v = json!({
            "auc": 0.7123456789,
            "calibration": [{ "rows": 10, "mean_predicted": 0.09307638736866557 }],
            "rows": 12345,
            "nan": null,
        });
        round_figures(&mut v);
        assert_eq!(v["calibration"][0]["mean_predicted"], json!(0.093076));
        assert_eq!(v["auc"], json!(0.712346));
        assert_eq!(v["rows"], json!(12345));
        let again: Value = serde_json::from_slice(&serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        assert_eq!(again, v);
        let mut once = v.clone();
        round_figures(&mut once);
        assert_eq!(once, v);
    }
}
