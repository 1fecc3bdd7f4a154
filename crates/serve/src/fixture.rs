//! A small, deterministic data and model directory for the service's tests
//! and benchmarks: the tables the customer store reads, an offer catalogue,
//! and a LightGBM ranker trained here on synthetic rows, with every JSON
//! artifact `train` writes.
//!
//! Not the pipeline: the data only has to exercise the service (aliases,
//! segments with and without candidates, null features) and the model only
//! has to be a real LightGBM model over the ranker layout's features.

use std::path::{Path, PathBuf};

use anyhow::Context;
use pipeline_core::artifacts::{self, ClusterCandidates, Manifest, Segments};
use pipeline_core::ranker_input::{OfferAttributes, RankerLayout, offer_feature_names};
use pipeline_core::schema::{CUSTOMER_FEATURES, CUSTOMER_SEGMENTS, ENTITY_MAP, OFFERS};
use pipeline_core::table_io::{TableSink, write_bytes_atomic, write_json_atomic};
use pipeline_core::vocabulary::{Terms, VOCABULARY_FILE, Vocabulary};
use polars::prelude::{Column, DataFrame};

mod lightgbm_train;

/// Clusters of the fixture; the last has no candidate list (it is scored
/// against every offer).
pub const CLUSTERS: u32 = 4;
/// Candidates per cluster that has a list.
pub const CANDIDATES_PER_CLUSTER: usize = 5;

/// What to generate.
#[derive(Debug, Clone)]
pub struct FixtureSpec {
    pub customers: usize,
    pub offers: usize,
    pub trees: usize,
    pub num_leaves: usize,
    pub seed: u64,
    pub model_version: String,
    /// Train with `zero_as_missing=true` (zero-type missing splits).
    pub zero_as_missing: bool,
    /// Declare `frequency` (small integers) categorical, with labels that
    /// depend on the category in a way no threshold captures, so that the
    /// trees split on category sets (`cat_threshold=` in the model).
    pub categorical_frequency: bool,
}

impl Default for FixtureSpec {
    fn default() -> Self {
        Self {
            customers: 400,
            offers: 8,
            trees: 60,
            num_leaves: 15,
            seed: 7,
            model_version: "fixture-v1".to_owned(),
            zero_as_missing: false,
            categorical_frequency: false,
        }
    }
}

/// The customers and offers written, for tests to ask about.
#[derive(Debug, Clone)]
pub struct FixtureData {
    pub data_dir: PathBuf,
    pub customer_feature_names: Vec<String>,
    pub customer_ids: Vec<String>,
    /// Row-major customer features (`NaN` where the table has a null).
    pub features: Vec<f64>,
    pub clusters: Vec<u32>,
    /// `(record_id, customer_id)` of every record.
    pub records: Vec<(String, String)>,
    pub offers: Vec<OfferAttributes>,
    pub offer_names: Vec<String>,
}

impl FixtureData {
    pub fn features_of(&self, customer: usize) -> &[f64] {
        let n = self.customer_feature_names.len();
        &self.features[customer * n..(customer + 1) * n]
    }

    /// A record id that differs from its customer's id, and that customer.
    pub fn alias_of(&self, customer: usize) -> Option<&str> {
        let id = &self.customer_ids[customer];
        self.records
            .iter()
            .find(|(_, c)| c == id)
            .map(|(r, _)| r.as_str())
    }
}

/// SplitMix64: a tiny deterministic generator, so fixtures do not depend
/// on a random crate's stream stability.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// How many categories and offer types the fixture's data has. Their names
/// are made up from the counts (`Category 1`, `Type 1`, ...), as
/// load-cache's synthetic customers do: the service knows only the
/// vocabulary of its model.
const CATEGORY_COUNT: usize = 4;
const OFFER_TYPE_COUNT: usize = 6;

fn made_up_names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix} {i}")).collect()
}

/// The vocabulary of the fixture's model: every category and type kept.
pub fn vocabulary() -> Vocabulary {
    let terms = |names: Vec<String>| {
        let n = names.len();
        let weights: Vec<(String, f64)> = names.into_iter().map(|n| (n, 1.0)).collect();
        Terms::from_weights(&weights, &[], n)
    };
    Vocabulary {
        categories: terms(made_up_names("Category", CATEGORY_COUNT)),
        offer_types: terms(made_up_names("Type", OFFER_TYPE_COUNT)),
        outcomes: vec!["received".to_owned(), "redeemed".to_owned()],
        measures: Vec::new(),
    }
}

/// The customer feature columns the fixture writes, in file order.
pub fn customer_feature_names() -> Vec<String> {
    let vocabulary = vocabulary();
    let mut names = vec![
        "recency_days".to_owned(),
        "frequency".to_owned(),
        "monetary".to_owned(),
    ];
    for prefix in ["spend_share_", "txn_share_"] {
        names.extend(
            vocabulary
                .categories
                .slugs()
                .map(|c| format!("{prefix}{c}")),
        );
    }
    for prefix in ["offers_received_", "offers_redeemed_"] {
        names.extend(
            vocabulary
                .offer_types
                .slugs()
                .map(|t| format!("{prefix}{t}")),
        );
    }
    names
}

/// The ranker's feature columns: customer features, then offer features.
pub fn feature_cols() -> Vec<String> {
    let mut cols = customer_feature_names();
    cols.extend(offer_feature_names(&vocabulary()));
    cols
}

fn customer_row(rng: &mut SplitMix) -> Vec<f64> {
    let mut row = Vec::with_capacity(23);
    let missing = |rng: &mut SplitMix, v: f64| if rng.unit() < 0.05 { f64::NAN } else { v };
    let recency = (rng.unit() * 400.0).floor();
    row.push(missing(rng, recency));
    row.push((rng.unit() * 30.0).floor());
    let monetary = (rng.unit() * 5000.0 * 100.0).round() / 100.0;
    row.push(missing(rng, monetary));
    for _ in 0..2 {
        let raw: Vec<f64> = (0..CATEGORY_COUNT).map(|_| rng.unit().powi(2)).collect();
        let total: f64 = raw.iter().sum::<f64>().max(1e-9);
        row.extend(
            raw.iter()
                .map(|v| if rng.unit() < 0.2 { 0.0 } else { v / total }),
        );
    }
    let received: Vec<f64> = (0..OFFER_TYPE_COUNT).map(|_| rng.below(6) as f64).collect();
    let redeemed: Vec<f64> = received.iter().map(|&r| (r * rng.unit()).floor()).collect();
    row.extend(received);
    row.extend(redeemed);
    row
}

/// Writes `customer_features`, `customer_segments`, `entity_map` and
/// `offers` into `data_dir`.
pub fn write_data(data_dir: &Path, spec: &FixtureSpec) -> anyhow::Result<FixtureData> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut rng = SplitMix::new(spec.seed);
    let names = customer_feature_names();
    let customer_ids: Vec<String> = (1..=spec.customers).map(|i| format!("C{i:07}")).collect();
    let mut features = Vec::with_capacity(spec.customers * names.len());
    let mut clusters = Vec::with_capacity(spec.customers);
    for _ in 0..spec.customers {
        features.extend(customer_row(&mut rng));
        clusters.push(u32::try_from(rng.below(CLUSTERS as usize)).unwrap_or(0));
    }
    let mut records = Vec::new();
    let mut next_record = 1;
    for (i, id) in customer_ids.iter().enumerate() {
        let n = if i % 3 == 0 { 2 } else { 1 };
        for _ in 0..n {
            records.push((format!("REC{next_record:07}"), id.clone()));
            next_record += 1;
        }
    }
    let (categories, types) = (
        made_up_names("Category", CATEGORY_COUNT),
        made_up_names("Type", OFFER_TYPE_COUNT),
    );
    let offers: Vec<OfferAttributes> = (0..spec.offers)
        .map(|i| OfferAttributes {
            offer_id: format!("OFF{:03}", i + 1),
            offer_type: types[i % OFFER_TYPE_COUNT].clone(),
            offer_value: [10.0, 15.0, 25.0, 50.0, 5.0][i % 5],
            category: (i % 4 != 3).then(|| categories[i % CATEGORY_COUNT].clone()),
        })
        .collect();
    let offer_names: Vec<String> = offers
        .iter()
        .map(|o| {
            format!(
                "{} {} on {}",
                o.offer_value,
                o.offer_type,
                o.category.as_deref().unwrap_or("anything")
            )
        })
        .collect();

    let sink = TableSink::new(data_dir, false);
    let n = names.len();
    let mut columns = vec![Column::new("customer_id".into(), customer_ids.clone())];
    for (j, name) in names.iter().enumerate() {
        let values: Vec<Option<f64>> = (0..spec.customers)
            .map(|i| Some(features[i * n + j]).filter(|v| !v.is_nan()))
            .collect();
        columns.push(Column::new(name.as_str().into(), values));
    }
    sink.write(
        &CUSTOMER_FEATURES,
        &mut DataFrame::new_infer_height(columns)?,
    )?;
    sink.write(
        &CUSTOMER_SEGMENTS,
        &mut DataFrame::new_infer_height(vec![
            Column::new("customer_id".into(), customer_ids.clone()),
            Column::new("cluster".into(), clusters.clone()),
        ])?,
    )?;
    let mut records_per_customer: std::collections::HashMap<&str, u32> =
        std::collections::HashMap::new();
    for (_, customer) in &records {
        *records_per_customer.entry(customer.as_str()).or_default() += 1;
    }
    let cluster_size: Vec<u32> = records
        .iter()
        .map(|(_, c)| records_per_customer.get(c.as_str()).copied().unwrap_or(1))
        .collect();
    sink.write(
        &ENTITY_MAP,
        &mut DataFrame::new_infer_height(vec![
            Column::new(
                "record_id".into(),
                records.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "customer_id".into(),
                records.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(),
            ),
            Column::new("cluster_size".into(), cluster_size),
        ])?,
    )?;
    sink.write(
        &OFFERS,
        &mut DataFrame::new_infer_height(vec![
            Column::new(
                "offer_id".into(),
                offers
                    .iter()
                    .map(|o| o.offer_id.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new("offer_name".into(), offer_names.clone()),
            Column::new(
                "offer_type".into(),
                offers
                    .iter()
                    .map(|o| o.offer_type.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "offer_value".into(),
                offers.iter().map(|o| o.offer_value).collect::<Vec<_>>(),
            ),
            Column::new(
                "category".into(),
                offers
                    .iter()
                    .map(|o| o.category.as_deref())
                    .collect::<Vec<_>>(),
            ),
        ])?,
    )?;
    Ok(FixtureData {
        data_dir: data_dir.to_path_buf(),
        customer_feature_names: names,
        customer_ids,
        features,
        clusters,
        records,
        offers,
        offer_names,
    })
}

/// The label effect of a `frequency` category when it is categorical: a
/// scattered set of categories (not a range) raises the response, so only a
/// category-set split separates them.
fn category_effect(frequency: f64) -> f64 {
    if frequency.is_nan() || frequency < 0.0 {
        return 0.0;
    }
    // Truncation as LightGBM's categorical decision does.
    let category = frequency as u64;
    if (category * 7) % 5 < 2 { 2.0 } else { -1.0 }
}

/// Trains a LightGBM ranker on synthetic (customer, offer) rows of `data`
/// and writes every artifact of a model directory, with a manifest.
pub fn write_model(model_dir: &Path, data: &FixtureData, spec: &FixtureSpec) -> anyhow::Result<()> {
    std::fs::create_dir_all(model_dir)
        .with_context(|| format!("creating {}", model_dir.display()))?;
    let cols = feature_cols();
    let vocabulary = vocabulary();
    let layout = RankerLayout::new(&cols, &data.customer_feature_names, &vocabulary)?;
    let width = layout.width();
    let mut rng = SplitMix::new(spec.seed ^ 0x5eed);
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut row = vec![0.0; width];
    let at = |name: &str| cols.iter().position(|c| c == name).unwrap_or(0);
    let (spend, rate, value, recency, frequency) = (
        at("x_category_spend_share"),
        at("x_type_redeem_rate"),
        at("offer_value"),
        at("recency_days"),
        at("frequency"),
    );
    for customer in 0..data.customer_ids.len() {
        for offer in &data.offers {
            layout.fill(data.features_of(customer), offer, &mut row);
            let recency_days = if row[recency].is_nan() {
                200.0
            } else {
                row[recency]
            };
            let mut logit = -1.5 + 3.0 * row[spend] + 2.0 * row[rate] + 0.02 * row[value]
                - recency_days / 200.0;
            if spec.categorical_frequency {
                logit += category_effect(row[frequency]);
            }
            let p = 1.0 / (1.0 + (-logit).exp());
            labels.push(if rng.unit() < p { 1.0_f32 } else { 0.0 });
            rows.extend_from_slice(&row);
        }
    }
    let mut params = serde_json::json!({
        "objective": "binary",
        "num_iterations": spec.trees,
        "num_leaves": spec.num_leaves,
        "learning_rate": 0.1,
        "min_data_in_leaf": 5,
        "seed": spec.seed,
        "deterministic": true,
        "force_row_wise": true,
        "num_threads": 1,
        "verbosity": -1,
        "zero_as_missing": spec.zero_as_missing,
    });
    if spec.categorical_frequency {
        // Small groups and little smoothing, so that the ~30 categories of
        // a few hundred customers can form category-set splits.
        params["categorical_feature"] = serde_json::json!(frequency.to_string());
        params["min_data_per_group"] = serde_json::json!(5);
        params["cat_smooth"] = serde_json::json!(1.0);
        params["cat_l2"] = serde_json::json!(1.0);
    }
    // Through the C API: lightgbm3 would drop the dataset parameters
    // (`categorical_feature`, `zero_as_missing`); see `lightgbm_train`.
    let model_text = lightgbm_train::train(&rows, &labels, width, &cols, &params, spec.trees)
        .context("training the fixture's ranker")?;

    let mut candidates = ClusterCandidates::new();
    for cluster in 0..CLUSTERS - 1 {
        let start = cluster as usize;
        let list = (0..CANDIDATES_PER_CLUSTER.min(data.offers.len()))
            .map(|k| {
                data.offers[(start + k) % data.offers.len()]
                    .offer_id
                    .clone()
            })
            .collect();
        candidates.insert(cluster, list);
    }
    let segments = Segments {
        feature_names: vec!["recency_days".into(), "frequency".into(), "monetary".into()],
        transforms: vec!["identity".into(), "log1p".into(), "log1p".into()],
        scaler_mean: vec![200.0, 2.5, 7.0],
        scaler_std: vec![115.0, 1.0, 1.5],
        centroids: (0..CLUSTERS).map(|c| vec![f64::from(c) - 1.5; 3]).collect(),
    };
    let path = |file| artifacts::artifact_path(model_dir, file);
    write_bytes_atomic(path(artifacts::RANKER_FILE), model_text.as_bytes())?;
    write_json_atomic(path(artifacts::FEATURE_COLS_FILE), &cols)?;
    write_json_atomic(path(artifacts::CLUSTER_CANDIDATES_FILE), &candidates)?;
    write_json_atomic(path(artifacts::SEGMENTS_FILE), &segments)?;
    vocabulary.write(&path(VOCABULARY_FILE))?;
    let mut files = std::collections::BTreeMap::new();
    for file in [
        VOCABULARY_FILE,
        artifacts::RANKER_FILE,
        artifacts::FEATURE_COLS_FILE,
        artifacts::CLUSTER_CANDIDATES_FILE,
        artifacts::SEGMENTS_FILE,
    ] {
        files.insert(file.to_owned(), artifacts::sha256_file(&path(file))?);
    }
    let manifest = Manifest {
        model_version: spec.model_version.clone(),
        trained_at: "2026-07-01T00:00:00Z".to_owned(),
        data_cutoff: "2026-06-30".to_owned(),
        files,
    };
    write_json_atomic(path(artifacts::MANIFEST_FILE), &manifest)?;
    Ok(())
}

/// Writes a complete fixture: data into `root/data`, model into
/// `root/models`.
pub fn write_fixture(root: &Path, spec: &FixtureSpec) -> anyhow::Result<FixtureData> {
    let data = write_data(&root.join("data"), spec)?;
    write_model(&root.join("models"), &data, spec)?;
    Ok(data)
}
