//! The loaded model and in-process scoring.
//!
//! A [`LoadedModel`] is everything one model version needs to answer: the
//! compiled trees, the ranker row layout, the offer catalogue and the
//! cluster candidates. It is immutable once built; a reload builds a new one
//! and swaps the `Arc` (see `state.rs`).
//!
//! Scoring a request: the candidates of the customer's segment (every offer
//! when the segment has none), one row per candidate in one thread-local
//! feature buffer, one evaluator call for all rows, then top-K. No
//! allocation on the hot path but the response itself.
//!
//! Architecture invariant: rows are built only through
//! [`RankerLayout::fill_with_slugs`], exactly as `train` builds them.

pub mod forest;
pub mod reference;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use feature_store::GenerationMeta;
use pipeline_core::artifacts::{self, ClusterCandidates, FeatureCols, Manifest, Segments};
use pipeline_core::calendar::EpochDays;
use pipeline_core::quality::{self, Screen};
use pipeline_core::ranker_input::{OfferAttributes, RankerLayout};
use pipeline_core::schema::OFFERS;
use pipeline_core::table_io::{read_table, table_path};
use pipeline_core::vocabulary::{Resolved, Terms, VOCABULARY_FILE, Vocabulary};
use polars::prelude::{DataFrame, DataType, IntoLazy};

use crate::error::ModelError;
use forest::{CompiledForest, ForestError};
use lightgbm_text::ModelText;

/// Gives every loaded model a process-unique id (thread-local LightGBM
/// boosters are keyed by it).
static NEXT_MODEL_ID: AtomicU64 = AtomicU64::new(1);

/// An offer as the service shows and scores it.
#[derive(Debug, Clone)]
pub struct Offer {
    pub attributes: OfferAttributes,
    pub name: String,
    /// `offers.valid_from` / `valid_to` (inclusive), when the table has them.
    pub validity: Validity,
    /// The vocabulary's slugs (`None`: no feature describes the value).
    type_slug: Option<String>,
    category_slug: Option<String>,
}

/// The days an offer may be recommended on; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validity {
    pub from: Option<EpochDays>,
    pub to: Option<EpochDays>,
}

impl Validity {
    pub fn contains(&self, day: EpochDays) -> bool {
        self.from.is_none_or(|from| from <= day) && self.to.is_none_or(|to| day <= to)
    }

    fn is_bounded(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }
}

/// Which evaluator scores the rows. The service uses [`Scorer::Compiled`];
/// the others exist for the benchmark and as the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scorer {
    /// The trees compiled into flat arrays ([`forest`]).
    Compiled,
    /// LightGBM, one `PredictForMat` call for all rows of a request.
    LightGbmBatched,
    /// LightGBM's single-row fast path, one call per row.
    LightGbmSingleRow,
}

/// Descriptive facts about a loaded model, for health and metrics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub model_version: String,
    pub trained_at: String,
    pub data_cutoff: String,
    pub trees: usize,
    pub features: usize,
    pub offers: usize,
    /// Kept out of every answer: a path says more than a client needs.
    #[serde(skip)]
    pub model_dir: PathBuf,
    /// Exported in `/metrics`, logged at load.
    #[serde(skip)]
    pub unseen: UnseenValues,
}

/// Offers of the catalogue whose type or category is not a kept term of
/// the model's vocabulary (the model never saw it by name): scored as
/// `other` when the vocabulary has it, else with no feature for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnseenValues {
    pub offer_types: usize,
    pub categories: usize,
}

/// A layout compiled for one store generation's feature names.
#[derive(Debug)]
struct BoundLayout {
    feature_names: Vec<String>,
    layout: Arc<RankerLayout>,
}

/// One scored recommendation: an index into the catalogue and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredOffer {
    pub offer: usize,
    pub score: f64,
}

/// The outcome of scoring one customer.
#[derive(Debug, Clone)]
pub struct Ranking {
    pub candidates_scored: usize,
    /// Candidates left out because they are not valid on the request date.
    pub candidates_not_valid: usize,
    pub top: Vec<ScoredOffer>,
}

/// A feature's share of one offer's raw score (LightGBM contributions).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureContribution {
    pub feature: String,
    pub value: f64,
    pub contribution: f64,
}

/// Everything one model version needs to answer requests.
#[derive(Debug)]
pub struct LoadedModel {
    id: u64,
    info: ModelInfo,
    feature_cols: Vec<String>,
    vocabulary: Vocabulary,
    forest: CompiledForest,
    model_text: Arc<ModelText>,
    offers: Vec<Offer>,
    /// cluster -> catalogue indexes, in the order of `cluster_candidates.json`.
    candidates: HashMap<u32, Vec<usize>>,
    all_offers: Vec<usize>,
    /// Whether any offer has a validity window (else nothing is filtered).
    any_validity: bool,
    bound: ArcSwapOption<BoundLayout>,
}

thread_local! {
    /// The per-request feature buffer and score buffer, reused by every
    /// request a worker thread serves.
    static BUFFERS: RefCell<(Vec<f64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    /// The candidates valid on the request date, reused likewise.
    static VALID: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

impl LoadedModel {
    /// Loads and checks the artifacts of `model_dir` and the offers of
    /// `data_dir`. Refuses (naming the file) anything missing, unparsable,
    /// not matching `manifest.json`'s checksums, inconsistent between files,
    /// or scored differently by the compiled trees and by LightGBM.
    pub fn load(model_dir: &Path, data_dir: &Path) -> Result<Self, ModelError> {
        let manifest_path = artifacts::artifact_path(model_dir, artifacts::MANIFEST_FILE);
        let manifest: Manifest = artifacts::read_json(&manifest_path)?;
        let verified = |file: &str| -> Result<PathBuf, ModelError> {
            let path = artifacts::artifact_path(model_dir, file);
            if let Some(expected) = manifest.files.get(file) {
                let found = artifacts::sha256_file(&path)?;
                if !found.eq_ignore_ascii_case(expected) {
                    return Err(ModelError::Checksum {
                        path,
                        expected: expected.clone(),
                        found,
                    });
                }
            }
            Ok(path)
        };

        let vocabulary_path = verified(VOCABULARY_FILE)?;
        if !vocabulary_path.is_file() {
            return Err(ModelError::Inconsistent {
                path: vocabulary_path,
                message: "file not found (a model trained before vocabularies came from the data: retrain it)".to_owned(),
            });
        }
        let vocabulary = Vocabulary::read(&vocabulary_path)?;
        let cols_path = verified(artifacts::FEATURE_COLS_FILE)?;
        let feature_cols: FeatureCols = artifacts::read_json(&cols_path)?;
        let candidates_path = verified(artifacts::CLUSTER_CANDIDATES_FILE)?;
        let cluster_candidates: ClusterCandidates = artifacts::read_json(&candidates_path)?;
        let segments_path = artifacts::artifact_path(model_dir, artifacts::SEGMENTS_FILE);
        if segments_path.exists() {
            let _: Segments = artifacts::read_json(&verified(artifacts::SEGMENTS_FILE)?)?;
        }
        let ranker_path = verified(artifacts::RANKER_FILE)?;
        let model_text = std::fs::read_to_string(&ranker_path)
            .map_err(|e| pipeline_core::CoreError::io(&ranker_path, e))?;
        // Checked whole before LightGBM sees a byte of it: LightGBM's own
        // loader reads out of bounds on a cut file or a lying header.
        let forest_error = |source: ForestError| ModelError::Forest {
            path: ranker_path.clone(),
            source,
        };
        let model_text =
            Arc::new(ModelText::parse(model_text).map_err(|e| forest_error(e.into()))?);
        let forest = CompiledForest::compile(&model_text).map_err(forest_error)?;
        if forest.feature_names() != feature_cols.as_slice() {
            return Err(ModelError::Inconsistent {
                path: cols_path,
                message: format!(
                    "the model's {} feature names differ from the {} names of feature_cols.json (first model names: {:?})",
                    forest.n_features(),
                    feature_cols.len(),
                    forest.feature_names().iter().take(3).collect::<Vec<_>>()
                ),
            });
        }

        let (offers, unseen, rejected) = read_offers(data_dir, &vocabulary)?;
        let by_id: HashMap<&str, usize> = offers
            .iter()
            .enumerate()
            .map(|(i, o)| (o.attributes.offer_id.as_str(), i))
            .collect();
        let mut candidates = HashMap::new();
        for (cluster, ids) in &cluster_candidates {
            let indexes = ids
                .iter()
                .map(|id| {
                    by_id
                        .get(id.as_str())
                        .copied()
                        .ok_or_else(|| ModelError::Inconsistent {
                            path: candidates_path.clone(),
                            message: match rejected.get(id.as_str()) {
                                Some(rule) => format!(
                                    "cluster {cluster} names offer `{id}`, which the data-quality rules of {} reject ({rule}; see docs/contract.md)",
                                    table_path(data_dir, &OFFERS).display()
                                ),
                                None => format!(
                                    "cluster {cluster} names offer `{id}`, which is not in {}",
                                    table_path(data_dir, &OFFERS).display()
                                ),
                            },
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            candidates.insert(*cluster, indexes);
        }

        let model = Self {
            id: NEXT_MODEL_ID.fetch_add(1, Ordering::Relaxed),
            info: ModelInfo {
                model_version: manifest.model_version,
                trained_at: manifest.trained_at,
                data_cutoff: manifest.data_cutoff,
                trees: forest.n_trees(),
                features: forest.n_features(),
                offers: offers.len(),
                model_dir: model_dir.to_path_buf(),
                unseen,
            },
            feature_cols,
            vocabulary,
            all_offers: (0..offers.len()).collect(),
            any_validity: offers.iter().any(|o| o.validity.is_bounded()),
            forest,
            model_text,
            offers,
            candidates,
            bound: ArcSwapOption::empty(),
        };
        model.check_against_lightgbm(&ranker_path)?;
        Ok(model)
    }

    /// Scores pseudo-random rows (with NaN and zeros) with both evaluators:
    /// a model the compiled trees would score differently is refused.
    fn check_against_lightgbm(&self, ranker_path: &Path) -> Result<(), ModelError> {
        let width = self.forest.n_features();
        let n_rows = 64;
        let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ self.forest.n_trees() as u64;
        let mut rows: Vec<f64> = (0..n_rows * width)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                match state >> 60 {
                    0 => f64::NAN,
                    1 => 0.0,
                    2 => 1.0,
                    _ => ((state >> 11) as f64 / (1u64 << 53) as f64) * 200.0 - 50.0,
                }
            })
            .collect();
        let reference = self
            .lightgbm_scores(&rows, Scorer::LightGbmBatched)
            .map_err(|message| ModelError::LightGbm {
                path: ranker_path.to_path_buf(),
                message,
            })?;
        let mut compiled = vec![0.0; n_rows];
        self.forest.predict(&mut rows, &mut compiled);
        let difference = reference
            .iter()
            .zip(&compiled)
            .map(|(a, b)| {
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => 0.0,
                    // f64::max would skip a NaN: count it as a disagreement.
                    (false, false) => (a - b).abs(),
                    _ => f64::INFINITY,
                }
            })
            .fold(0.0, f64::max);
        if difference > 1e-9 {
            return Err(ModelError::Disagreement { difference });
        }
        Ok(())
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn feature_cols(&self) -> &[String] {
        &self.feature_cols
    }

    pub fn forest(&self) -> &CompiledForest {
        &self.forest
    }

    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    /// Number of offers in the catalogue (the largest valid `top_k`).
    pub fn catalogue_size(&self) -> usize {
        self.offers.len()
    }

    /// The candidate offers of `cluster`: every offer when the cluster has
    /// no (or an empty) candidate list.
    pub fn candidates(&self, cluster: u32) -> &[usize] {
        match self.candidates.get(&cluster) {
            Some(list) if !list.is_empty() => list,
            _ => &self.all_offers,
        }
    }

    /// The row layout for a store generation, compiled once per generation
    /// (a generation switch may change the stored feature columns). Fails,
    /// naming the feature, when the generation cannot supply the model.
    pub fn layout_for(&self, generation: &GenerationMeta) -> Result<Arc<RankerLayout>, ModelError> {
        if let Some(bound) = self.bound.load().as_ref()
            && bound.feature_names == generation.feature_names
        {
            return Ok(Arc::clone(&bound.layout));
        }
        let layout = RankerLayout::new(
            &self.feature_cols,
            &generation.feature_names,
            &self.vocabulary,
        )
        .map_err(|source| ModelError::Features {
            generation: generation.generation,
            source,
        })?;
        let layout = Arc::new(layout);
        self.bound.store(Some(Arc::new(BoundLayout {
            feature_names: generation.feature_names.clone(),
            layout: Arc::clone(&layout),
        })));
        Ok(layout)
    }

    /// Scores the candidates of `cluster` that are valid on `as_of` for a
    /// customer with the compiled trees and keeps the `top_k` best (ties
    /// keep the candidate order). Offers outside their validity are left
    /// out before scoring.
    pub fn recommend(
        &self,
        layout: &RankerLayout,
        customer: &[f64],
        cluster: u32,
        top_k: usize,
        as_of: EpochDays,
    ) -> Ranking {
        let candidates = self.candidates(cluster);
        let score = |rows: &mut [f64], scores: &mut [f64]| {
            self.forest.predict(rows, scores);
            Ok::<(), std::convert::Infallible>(())
        };
        let ranked = if self.any_validity {
            VALID.with_borrow_mut(|valid| {
                valid.clear();
                valid.extend(
                    candidates
                        .iter()
                        .copied()
                        .filter(|&o| self.offers[o].validity.contains(as_of)),
                );
                self.rank(layout, customer, valid, top_k, score)
                    .map(|mut ranking| {
                        ranking.candidates_not_valid = candidates.len() - valid.len();
                        ranking
                    })
            })
        } else {
            self.rank(layout, customer, candidates, top_k, score)
        };
        match ranked {
            Ok(ranking) => ranking,
            Err(never) => match never {},
        }
    }

    /// [`LoadedModel::recommend`] with a chosen evaluator, over chosen
    /// candidates (indices into [`LoadedModel::offers`]; benchmarks).
    pub fn recommend_with(
        &self,
        scorer: Scorer,
        layout: &RankerLayout,
        customer: &[f64],
        candidates: &[usize],
        top_k: usize,
    ) -> Result<Ranking, String> {
        self.rank(layout, customer, candidates, top_k, |rows, scores| {
            match scorer {
                Scorer::Compiled => self.forest.predict(rows, scores),
                other => scores.copy_from_slice(&self.lightgbm_scores(rows, other)?),
            }
            Ok(())
        })
    }

    /// Fills one row per candidate into the thread's feature buffer, scores
    /// them all with `score`, and keeps the `top_k` best.
    fn rank<E>(
        &self,
        layout: &RankerLayout,
        customer: &[f64],
        candidates: &[usize],
        top_k: usize,
        score: impl FnOnce(&mut [f64], &mut [f64]) -> Result<(), E>,
    ) -> Result<Ranking, E> {
        let width = layout.width();
        BUFFERS.with_borrow_mut(|(rows, scores)| {
            rows.clear();
            rows.resize(candidates.len() * width, 0.0);
            scores.clear();
            scores.resize(candidates.len(), 0.0);
            for (&offer, row) in candidates.iter().zip(rows.chunks_exact_mut(width)) {
                let offer = &self.offers[offer];
                layout.fill_with_slugs(
                    customer,
                    &offer.attributes,
                    offer.type_slug.as_deref(),
                    offer.category_slug.as_deref(),
                    row,
                );
            }
            score(rows.as_mut_slice(), scores.as_mut_slice())?;
            let mut ranked: Vec<ScoredOffer> = candidates
                .iter()
                .zip(scores.iter())
                .map(|(&offer, &score)| ScoredOffer { offer, score })
                .collect();
            // Stable: equal scores keep the segment's candidate order.
            ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
            ranked.truncate(top_k);
            Ok(Ranking {
                candidates_scored: candidates.len(),
                candidates_not_valid: 0,
                top: ranked,
            })
        })
    }

    /// LightGBM's scores for `rows` (always with `num_threads=1`).
    pub fn lightgbm_scores(&self, rows: &[f64], scorer: Scorer) -> Result<Vec<f64>, String> {
        let width = self.forest.n_features();
        reference::with_booster(self.id, &self.model_text, |booster| match scorer {
            Scorer::LightGbmSingleRow => {
                let mut out = Vec::with_capacity(rows.len() / width.max(1));
                for row in rows.chunks_exact(width) {
                    out.extend(booster.predict_single_row_fast(row)?);
                }
                Ok(out)
            }
            _ => booster.predict_with_params(rows, width as i32, true, reference::PREDICT_PARAMS),
        })
    }

    /// The `top_n` features that moved the score of `offer` most for this
    /// customer, by LightGBM's SHAP contributions.
    pub fn explain(
        &self,
        layout: &RankerLayout,
        customer: &[f64],
        offer: usize,
        top_n: usize,
    ) -> Result<Vec<FeatureContribution>, String> {
        let offer = self.offers.get(offer).ok_or("offer index out of range")?;
        let mut row = vec![0.0; layout.width()];
        layout.fill_with_slugs(
            customer,
            &offer.attributes,
            offer.type_slug.as_deref(),
            offer.category_slug.as_deref(),
            &mut row,
        );
        let contributions = reference::with_booster(self.id, &self.model_text, |booster| {
            booster.predict_contrib(&row, row.len() as i32, true)
        })?;
        let mut named: Vec<FeatureContribution> = self
            .feature_cols
            .iter()
            .zip(&row)
            .zip(&contributions)
            .map(|((feature, &value), &contribution)| FeatureContribution {
                feature: feature.clone(),
                value,
                contribution,
            })
            .collect();
        named.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        named.truncate(top_n);
        Ok(named)
    }
}

/// The slug of `value` in `terms`, counting (and logging once per value)
/// a value that is not a kept term.
fn resolve_counted(
    terms: &Terms,
    value: &str,
    field: &str,
    unseen: &mut usize,
    logged: &mut std::collections::BTreeSet<String>,
) -> Option<String> {
    let resolved = terms.resolve(value);
    if !matches!(resolved, Resolved::Kept(_)) {
        *unseen += 1;
        if logged.insert(format!("{field}\u{0}{value}")) {
            tracing::warn!(
                field,
                value,
                scored_as = if resolved == Resolved::Other {
                    "other"
                } else {
                    "no feature"
                },
                "an offer has a value the model's vocabulary has never seen"
            );
        }
    }
    resolved.slug().map(str::to_owned)
}

/// Per offer id the data-quality rules rejected, the rule and column.
type RejectedOffers = HashMap<String, String>;

/// `offers.parquet` through the contract's data-quality rules, as `train`
/// read it: an offer train left out (a repeated id, an end before its
/// start) is not served either, and a NaN or negative value is unknown.
/// No threshold here: the stages before refused a table that bad.
/// Returns the kept rows and, per rejected offer id, the rule it broke.
fn screened_offers(
    data_dir: &Path,
    path: &Path,
) -> pipeline_core::Result<(DataFrame, RejectedOffers)> {
    let unreadable = |source| pipeline_core::CoreError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let raw = read_table(data_dir, &OFFERS)?;
    let screen = Screen {
        max_reject_share: 1.0,
        ..Screen::default()
    };
    let screened = quality::screen(path, &OFFERS, raw.lazy(), &[], &screen)?;
    let mut rejected = HashMap::new();
    if let Some(rejects) = &screened.report.rejects {
        let text = |name: &str| {
            rejects
                .column(name)
                .and_then(|c| c.str().cloned())
                .map_err(unreadable)
        };
        let (ids, rules, columns) = (
            text("offer_id")?,
            text(quality::REJECT_RULE)?,
            text(quality::REJECT_COLUMN)?,
        );
        for ((id, rule), column) in ids.iter().zip(rules.iter()).zip(columns.iter()) {
            if let (Some(id), Some(rule), Some(column)) = (id, rule, column) {
                rejected
                    .entry(id.to_owned())
                    .or_insert_with(|| format!("{rule} on {column}"));
            }
        }
    }
    Ok((screened.table.collect().map_err(unreadable)?, rejected))
}

/// Reads `offers.parquet` into the catalogue, in file order, with each
/// offer's vocabulary slugs; counts the offers whose values the vocabulary
/// has never seen.
fn read_offers(
    data_dir: &Path,
    vocabulary: &Vocabulary,
) -> Result<(Vec<Offer>, UnseenValues, RejectedOffers), ModelError> {
    let path = table_path(data_dir, &OFFERS);
    // On a thread of its own: the reader may run a lazy polars plan (a
    // datetime or integer column to convert), and polars panics when it
    // blocks inside the current-thread runtime that loads and reloads.
    let bad = |message: String| ModelError::Inconsistent {
        path: path.clone(),
        message,
    };
    let (df, rejected) = std::thread::scope(|scope| {
        scope
            .spawn(|| screened_offers(data_dir, &path))
            .join()
            .map_err(|_| bad("the offers reader panicked".to_owned()))
    })??;
    let strings = |name: &str| -> Result<Vec<Option<String>>, ModelError> {
        let column = df
            .column(name)
            .map_err(|e| bad(format!("column `{name}`: {e}")))?;
        let values = column
            .str()
            .map_err(|e| bad(format!("column `{name}`: {e}")))?;
        Ok(values.iter().map(|v| v.map(str::to_owned)).collect())
    };
    let ids = strings("offer_id")?;
    let names = strings("offer_name")?;
    let types = strings("offer_type")?;
    let categories = strings("category")?;
    let values: Vec<Option<f64>> = df
        .column("offer_value")
        .and_then(|c| c.f64().map(|v| v.iter().collect()))
        .map_err(|e| bad(format!("column `offer_value`: {e}")))?;
    // Optional: absent, or a date column with nulls for open ends.
    let dates = |name: &str| -> Result<Vec<Option<EpochDays>>, ModelError> {
        match df.column(name) {
            Err(_) => Ok(vec![None; df.height()]),
            Ok(column) => column
                .cast(&DataType::Date)
                .and_then(|c| c.date().map(|d| d.physical().iter().collect()))
                .map_err(|e| bad(format!("column `{name}`: expected dates: {e}"))),
        }
    };
    let valid_from = dates("valid_from")?;
    let valid_to = dates("valid_to")?;
    let mut offers = Vec::with_capacity(ids.len());
    let mut unseen = UnseenValues::default();
    let mut logged = std::collections::BTreeSet::new();
    for (row, ((((id, name), offer_type), category), value)) in ids
        .into_iter()
        .zip(names)
        .zip(types)
        .zip(categories)
        .zip(values)
        .enumerate()
    {
        let validity = Validity {
            from: valid_from[row],
            to: valid_to[row],
        };
        let (Some(offer_id), Some(offer_type)) = (id, offer_type) else {
            return Err(bad(format!(
                "row {row}: `offer_id` or `offer_type` is null"
            )));
        };
        let name = name.unwrap_or_else(|| offer_id.clone());
        // A repeated id and an end before the start were left out by the
        // screen (`screened_offers`).
        let offer_value = value.unwrap_or(f64::NAN);
        let type_slug = resolve_counted(
            &vocabulary.offer_types,
            &offer_type,
            "offer_type",
            &mut unseen.offer_types,
            &mut logged,
        );
        let category_slug = category.as_deref().and_then(|c| {
            resolve_counted(
                &vocabulary.categories,
                c,
                "category",
                &mut unseen.categories,
                &mut logged,
            )
        });
        offers.push(Offer {
            validity,
            type_slug,
            category_slug,
            name,
            attributes: OfferAttributes {
                offer_id,
                offer_type,
                offer_value,
                category,
            },
        });
    }
    Ok((offers, unseen, rejected))
}
