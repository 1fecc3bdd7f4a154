//! The compiled evaluator against LightGBM on many random rows, for models
//! with NaN-missing, zero-missing and categorical splits.

use serve::fixture::{FixtureSpec, SplitMix};
use serve::scoring::forest::Walk;
use serve::scoring::{LoadedModel, Scorer};

use crate::helpers::TestFixture;

/// Rows drawn around the fixture's value ranges, with NaN, exact zeros,
/// values within LightGBM's zero threshold, negatives and large values.
fn random_rows(n_rows: usize, width: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix::new(seed);
    (0..n_rows * width)
        .map(|_| match rng.below(12) {
            0 => f64::NAN,
            1 => 0.0,
            2 => 1e-36 * (rng.unit() - 0.5),
            3 => -rng.unit() * 10.0,
            4 => (rng.unit() * 30.0).floor(),
            5 => rng.unit() * 5000.0,
            6 => 1.0,
            _ => rng.unit(),
        })
        .collect()
}

/// Every node's `decision_type` in a LightGBM model text.
fn decision_types(model_text: &str) -> Vec<u8> {
    model_text
        .lines()
        .filter_map(|line| line.strip_prefix("decision_type="))
        .flat_map(|values| values.split_whitespace().map(|v| v.parse::<u8>().unwrap()))
        .collect()
}

/// What a split must be for the model to exercise a decision rule.
#[derive(Debug, Clone, Copy)]
enum Split {
    /// Numerical, missing type NaN (`decision_type` bits 2-3 = 2).
    NanMissing,
    /// Numerical, missing type Zero (bits 2-3 = 1).
    ZeroMissing,
    /// Categorical (bit 0).
    Categorical,
    /// Any split.
    Any,
}

impl Split {
    fn matches(self, decision_type: u8) -> bool {
        let categorical = decision_type & 1 != 0;
        let missing_type = (decision_type >> 2) & 3;
        match self {
            Split::NanMissing => !categorical && missing_type == 2,
            Split::ZeroMissing => !categorical && missing_type == 1,
            Split::Categorical => categorical,
            Split::Any => true,
        }
    }
}

fn check_against_lightgbm(spec: FixtureSpec, expect_in_model: &str, expect_split: Split) {
    let fixture = TestFixture::new(&spec);
    let model = LoadedModel::load(&fixture.model_dir(), &fixture.data_dir()).unwrap();
    let text = std::fs::read_to_string(fixture.model_dir().join("ranker.txt")).unwrap();
    assert!(
        text.contains(expect_in_model),
        "the model exercises `{expect_in_model}`"
    );
    let splits = decision_types(&text);
    let exercised = splits.iter().filter(|&&d| expect_split.matches(d)).count();
    assert!(
        exercised > 0,
        "the model has {expect_split:?} splits (decision types {splits:?})"
    );
    let width = model.forest().n_features();
    let n_rows = 5_000;
    let rows = random_rows(n_rows, width, spec.seed);
    let reference = model
        .lightgbm_scores(&rows, Scorer::LightGbmBatched)
        .unwrap();
    let single = model
        .lightgbm_scores(&rows[..50 * width], Scorer::LightGbmSingleRow)
        .unwrap();
    let mut compiled = vec![0.0; n_rows];
    model.forest().predict(&mut rows.clone(), &mut compiled);
    for (i, (a, b)) in reference.iter().zip(&compiled).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9,
            "row {i}: LightGBM {a} vs compiled {b}"
        );
    }
    // Both walks, and every block size of the lock-step walk (requests of
    // 1 to 9 rows), give the same bits.
    let mut early = model.forest().clone();
    early.set_walk(Walk::EarlyExit);
    let mut early_scores = vec![0.0; n_rows];
    early.predict(&mut rows.clone(), &mut early_scores);
    for n in 1..=9 {
        let mut scores = vec![0.0; n];
        model
            .forest()
            .predict(&mut rows[..n * width].to_vec(), &mut scores);
        assert_eq!(scores, compiled[..n], "{n} rows in one call");
    }
    assert_eq!(early_scores, compiled, "early exit and lock-step agree");
    for (a, b) in single.iter().zip(&reference) {
        assert!(
            (a - b).abs() <= 1e-12,
            "single-row and batched LightGBM agree"
        );
    }
    // The customer rows the service really builds agree too.
    let data = &fixture.data;
    let generation = feature_store::EmbeddedStore::from_files(&fixture.data_dir())
        .unwrap()
        .generation();
    let layout = model.layout_for(&generation).unwrap();
    let mut row = vec![0.0; width];
    let mut rows = Vec::new();
    for customer in 0..data.customer_ids.len() {
        for offer in &data.offers {
            layout.fill(data.features_of(customer), offer, &mut row);
            rows.extend_from_slice(&row);
        }
    }
    let reference = model
        .lightgbm_scores(&rows, Scorer::LightGbmBatched)
        .unwrap();
    let mut compiled = vec![0.0; reference.len()];
    model.forest().predict(&mut rows, &mut compiled);
    let worst = reference
        .iter()
        .zip(&compiled)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-9, "worst difference {worst:e}");
}

#[test]
fn compiled_trees_match_lightgbm_with_nan_missing_splits() {
    // decision_type 10: missing type NaN, default left.
    check_against_lightgbm(FixtureSpec::default(), "decision_type=", Split::NanMissing);
}

#[test]
fn compiled_trees_match_lightgbm_with_zero_as_missing() {
    let spec = FixtureSpec {
        zero_as_missing: true,
        seed: 3,
        ..FixtureSpec::default()
    };
    check_against_lightgbm(spec, "zero_as_missing: 1", Split::ZeroMissing);
}

#[test]
fn compiled_trees_match_lightgbm_with_categorical_splits() {
    let spec = FixtureSpec {
        categorical_frequency: true,
        seed: 5,
        ..FixtureSpec::default()
    };
    check_against_lightgbm(spec, "cat_threshold=", Split::Categorical);
}

#[test]
fn compiled_trees_match_lightgbm_on_a_300_tree_model() {
    let spec = FixtureSpec {
        customers: 600,
        trees: 300,
        num_leaves: 31,
        seed: 9,
        ..FixtureSpec::default()
    };
    check_against_lightgbm(spec, "Tree=299", Split::Any);
}
