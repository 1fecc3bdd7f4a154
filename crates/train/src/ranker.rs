//! Stage 2: the LightGBM redemption classifier.
//!
//! Rows are built only through `pipeline_core::ranker_input::RankerLayout`
//! (see [`crate::examples`]), so serving builds identical rows. Training
//! stops early on a validation set cut by time and keeps the best
//! iteration: lightgbm3 rolls the trees after it back before returning.

use lightgbm3::{Booster, Dataset, ImportanceType};
use serde::Serialize;
use serde_json::json;

use crate::error::{Result, TrainError, lgbm_err};

/// Hyperparameters of the ranker, checked before any work.
#[derive(Debug, Clone, Serialize)]
pub struct RankerParams {
    pub learning_rate: f64,
    pub num_leaves: u32,
    pub min_data_in_leaf: u32,
    pub feature_fraction: f64,
    pub lambda_l2: f64,
    pub max_rounds: u32,
    pub early_stopping_rounds: u32,
    /// OpenMP threads. LightGBM's threads spin while they wait, so this is
    /// always set explicitly, never left to OpenMP's default.
    pub num_threads: usize,
    pub seed: u64,
}

impl RankerParams {
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(TrainError::Config(what.to_owned()));
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("--learning-rate must be in (0, 1]");
        }
        if self.num_leaves < 2 {
            return bad("--num-leaves must be at least 2");
        }
        if self.max_rounds == 0 {
            return bad("--max-rounds must be at least 1");
        }
        if !(self.feature_fraction > 0.0 && self.feature_fraction <= 1.0) {
            return bad("feature fraction must be in (0, 1]");
        }
        if self.num_threads == 0 {
            return bad("--threads must be at least 1");
        }
        Ok(())
    }

    fn lightgbm_json(&self, with_validation: bool) -> serde_json::Value {
        let mut p = json!({
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2,
            "num_iterations": self.max_rounds,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": true,
            "force_col_wise": true,
            "verbosity": -1,
        });
        if with_validation && let Some(obj) = p.as_object_mut() {
            obj.insert(
                "early_stopping_rounds".into(),
                json!(self.early_stopping_rounds),
            );
        }
        p
    }
}

/// A row-major feature matrix with its labels.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    pub x: Vec<f64>,
    pub labels: Vec<f32>,
    pub width: usize,
}

impl Matrix {
    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// Appends the rows of `other` (of the same width).
    pub fn extend_from(&mut self, other: &Matrix) {
        self.x.extend_from_slice(&other.x);
        self.labels.extend_from_slice(&other.labels);
    }
}

/// The fitted ranker.
pub struct Ranker {
    booster: Booster,
    pub feature_cols: Vec<String>,
    /// Trees kept: the best validation iteration.
    pub best_iteration: usize,
}

fn dataset(m: &Matrix, reference: Option<&Dataset>, what: &str) -> Result<Dataset> {
    if m.rows() == 0 {
        return Err(TrainError::NotEnoughData(format!(
            "the {what} set has no rows"
        )));
    }
    Dataset::from_slice_with_reference(&m.x, &m.labels, m.width as i32, true, reference)
        .map_err(lgbm_err(format!("building the {what} dataset")))
}

impl Ranker {
    /// Trains on `train`, early-stopping on `valid` when given.
    pub fn train(
        train: &Matrix,
        valid: Option<&Matrix>,
        feature_cols: &[String],
        params: &RankerParams,
    ) -> Result<Self> {
        params.validate()?;
        let started = std::time::Instant::now();
        let mut train_set = dataset(train, None, "training")?;
        train_set
            .set_feature_names(feature_cols)
            .map_err(lgbm_err("naming the features"))?;
        let valid_set = valid
            .map(|v| dataset(v, Some(&train_set), "validation"))
            .transpose()?;
        let binned = started.elapsed();
        let booster =
            Booster::train_with_valid(train_set, valid_set, &params.lightgbm_json(valid.is_some()))
                .map_err(lgbm_err("training"))?;
        let best_iteration = booster.num_iterations().max(0) as usize;
        tracing::info!(
            rows = train.rows(),
            valid_rows = valid.map_or(0, Matrix::rows),
            dataset_seconds = binned.as_secs_f64(),
            boosting_seconds = (started.elapsed() - binned).as_secs_f64(),
            best_iteration,
            "ranker fitted"
        );
        Ok(Self {
            booster,
            feature_cols: feature_cols.to_vec(),
            best_iteration,
        })
    }

    /// Loads a model saved by [`Ranker::model_text`], checked whole first
    /// (LightGBM's loader trusts its input).
    pub fn from_text(text: &str, feature_cols: &[String]) -> Result<Self> {
        let booster = lightgbm_text::ModelText::parse(text)?
            .booster()
            .map_err(lgbm_err("loading the model"))?;
        let best_iteration = booster.num_iterations().max(0) as usize;
        Ok(Self {
            booster,
            feature_cols: feature_cols.to_vec(),
            best_iteration,
        })
    }

    /// Redemption probabilities of the rows of `x` (row-major).
    pub fn predict(&self, x: &[f64], num_threads: usize) -> Result<Vec<f64>> {
        if x.is_empty() {
            return Ok(Vec::new());
        }
        self.booster
            .predict_with_params(
                x,
                self.feature_cols.len() as i32,
                true,
                &format!("num_threads={num_threads}"),
            )
            .map_err(lgbm_err("predicting"))
    }

    /// LightGBM's own text format, as `ranker.txt` stores it; checked as
    /// `serve` will check it, so no model is written that serve refuses.
    pub fn model_text(&self) -> Result<String> {
        let text = self
            .booster
            .save_string()
            .map_err(lgbm_err("saving the model"))?;
        Ok(lightgbm_text::ModelText::parse(text)?.into_string())
    }

    /// Total split gain per feature, in `feature_cols` order.
    pub fn gain_importance(&self) -> Result<Vec<f64>> {
        self.booster
            .feature_importance(ImportanceType::Gain)
            .map_err(lgbm_err("reading feature importance"))
    }
}
